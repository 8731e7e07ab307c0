//! The live progress on a terminal: `moor apply` under a pseudo-terminal
//! (`script`), against the emulator behind a proxy that makes every call
//! slow enough for the live lines to be drawn (and one that hangs).

mod support;

use std::process::Command;

const STACK: &str = "\
stack: live
region: us-east-1
resources:
  repo:
    kind: ecr/repository
  cluster:
    kind: ecs/cluster
    depends_on: [repo]
";

#[test]
fn on_a_terminal_steps_in_progress_are_live_lines_that_end_as_result_lines() {
    if support::skip_emulator() || Command::new("script").arg("--version").output().is_err() {
        return;
    }
    let d = support::workdir("live", STACK);
    let proxy = support::proxy::FaultProxy::start_with(["--delay-ms", "400"]);
    // One call without an answer: named after 5 s, then retried by the SDK.
    proxy.fault("ecs:CreateCluster", "hang", 1);
    let moor = format!(
        "{} apply stack.yaml --auto-approve --state-dir {}",
        env!("CARGO_BIN_EXE_moor"),
        d.join("state").display()
    );
    // `script` gives moor a terminal for its standard streams; what it drew
    // comes back on script's standard output.
    let o = Command::new("script")
        .args(["-qec", &moor, "/dev/null"])
        .current_dir(&d)
        .env("AWS_ENDPOINT_URL", proxy.url())
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .output()
        .expect("script runs");
    let drawn = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{drawn}");
    // A live line while the step runs, then its result line.
    assert!(drawn.contains("repo (ecr/repository): creating, "), "{drawn:?}");
    assert!(drawn.contains("cluster (ecs/cluster): creating, "), "{drawn:?}");
    let done = drawn.find("✓ created repo (ecr/repository)").expect("the result line");
    assert!(drawn.find("repo (ecr/repository): creating").unwrap() < done, "{drawn:?}");
    assert!(drawn.contains("✓ created cluster (ecs/cluster)"), "{drawn:?}");
    // Lines are redrawn in place (the cursor moves back over them) and
    // none is left behind: the last thing written is the summary.
    assert!(drawn.contains("\x1b["), "{drawn:?}");
    // A line from outside the progress is written above the live lines,
    // not across one.
    let notice = "moor: still waiting for AWS: ecs:CreateCluster has had no answer for 5 s\r\n";
    let at = drawn.find(notice).unwrap_or_else(|| panic!("the notice on a line of its own: {drawn:?}"));
    let before = &drawn[..at];
    assert!(before.ends_with("\x1b[2K") || before.ends_with('\n') || before.ends_with('\r'), "{drawn:?}");
    let tail = drawn.trim_end();
    assert!(tail.ends_with("Apply complete: 2 created, 0 changed, 0 replaced, 0 deleted."), "{drawn:?}");
    let _ = moor_destroy(&d, &proxy);
}

fn moor_destroy(d: &std::path::Path, proxy: &support::proxy::FaultProxy) -> std::process::Output {
    proxy
        .moor()
        .args(["destroy", "stack.yaml", "--auto-approve", "--state-dir"])
        .arg(d.join("state"))
        .current_dir(d)
        .output()
        .expect("moor runs")
}
