//! Hostile input to the `moor` command: each gets a clear error naming the
//! file or setting, never a panic or a hang. Every run is killed after a
//! generous bound, so a hang fails the test instead of stalling the suite
//! (the bound is a guard, not a speed check).

mod support;

use support::text;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const GUARD: Duration = Duration::from_secs(60);

/// Runs moor in `dir` with `env`, killing it if it runs past [`GUARD`].
fn moor(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moor"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Only what the test gives (the emulator's settings are in this
    // process's environment once another test started it).
    for k in ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE"] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("moor runs");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!("moor {args:?} still ran after {GUARD:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("moor-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Exit 1 with a message, no panic.
fn refused(o: &Output) -> String {
    let t = text(o);
    assert_eq!(o.status.code(), Some(1), "{}", &t[..t.len().min(3000)]);
    assert!(!t.contains("panicked"), "{}", &t[..t.len().min(3000)]);
    t
}

/// No credentials or region of the machine running the tests leak in.
const NO_AWS: [(&str, &str); 3] =
    [("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_CONFIG_FILE", "/dev/null")];

#[test]
fn a_one_megabyte_key_is_a_diagnostic_with_its_place() {
    let d = workdir("key");
    let key = "k".repeat(1024 * 1024);
    std::fs::write(d.join("big.yaml"), format!("stack: t\nresources:\n  {key}:\n    kind: ecr/repository\n")).unwrap();
    for cmd in ["validate", "plan"] {
        let t = refused(&moor(&d, &[cmd, "big.yaml"], &NO_AWS));
        assert!(t.contains("big.yaml:3:3") && t.contains("YAML allows 1024"), "{cmd}: {}", &t[..t.len().min(3000)]);
        assert!(t.len() < 20_000, "{cmd}: the key is not shown whole ({} bytes)", t.len());
    }
    // A mistake far along a long line: its column is past what the
    // renderer can pad to.
    let long = "v".repeat(100_000);
    std::fs::write(
        d.join("wide.yaml"),
        format!("stack: t\nresources:\n  repo: {{kind: ecr/repository, tags: {{a: \"{long}\"}}, scan_on_psh: true}}\n"),
    )
    .unwrap();
    let t = refused(&moor(&d, &["validate", "wide.yaml"], &NO_AWS));
    assert!(t.contains("scan_on_psh") && t.contains("wide.yaml:3:100"), "{}", &t[..t.len().min(3000)]);
    assert!(t.len() < 20_000, "the line is not shown whole ({} bytes)", t.len());
}

#[test]
fn a_stack_file_that_is_not_a_regular_file_is_refused_unopened() {
    let d = workdir("fifo");
    let st = Command::new("mkfifo").arg(d.join("pipe.yaml")).status().expect("mkfifo");
    assert!(st.success());
    std::fs::create_dir_all(d.join("dir.yaml")).unwrap();
    for (file, what) in [("pipe.yaml", "FIFO"), ("dir.yaml", "directory"), ("/dev/zero", "device")] {
        for cmd in ["validate", "plan"] {
            let t = refused(&moor(&d, &[cmd, file], &NO_AWS));
            assert!(t.contains(file) && t.contains(what) && t.contains("not a regular file"), "{cmd} {file}: {t}");
        }
    }
    // A variable file too.
    std::fs::write(d.join("s.yaml"), "stack: t\n").unwrap();
    let t = refused(&moor(&d, &["validate", "s.yaml", "--var-file", "pipe.yaml"], &NO_AWS));
    assert!(t.contains("pipe.yaml") && t.contains("FIFO"), "{t}");
}

#[test]
fn a_region_of_the_wrong_form_is_refused_before_any_call() {
    let d = workdir("region");
    let stack = |region: &str| format!("stack: t\nregion: {region}\nresources:\n  repo:\n    kind: ecr/repository\n");
    // Nothing listens here: a call that is made fails differently, after retries.
    let env = [NO_AWS.as_slice(), &[("AWS_ENDPOINT_URL", "http://127.0.0.1:9")]].concat();
    for (region, says) in [
        ("xx-nowhere-9", "start with one of"),
        ("us-east-1x", "not an AWS region name"),
        ("US-EAST-1", "lower case (`us-east-1`)"),
        ("\"\"", "empty"),
    ] {
        std::fs::write(d.join("stack.yaml"), stack(region)).unwrap();
        let t = refused(&moor(&d, &["plan", "stack.yaml"], &env));
        assert!(t.contains(says) && t.contains("stack.yaml:2:9"), "{region}: {t}");
        assert!(t.contains("nothing was read from or sent to AWS"), "{region}: {t}");
    }
    std::fs::write(d.join("stack.yaml"), stack("us-east-1")).unwrap();
    for region in ["US-EAST-1", "", "xx-nowhere"] {
        let t = refused(&moor(&d, &["plan", "stack.yaml", "--region", region], &env));
        assert!(t.contains("--region: "), "{region:?}: {t}");
    }
    std::fs::write(d.join("stack.yaml"), "stack: t\nresources:\n  repo:\n    kind: ecr/repository\n").unwrap();
    for (var, region) in [("AWS_REGION", "US-EAST-1"), ("AWS_DEFAULT_REGION", "eu_west_1")] {
        let env = [env.as_slice(), &[(var, region)]].concat();
        let t = refused(&moor(&d, &["plan", "stack.yaml"], &env));
        assert!(t.contains(&format!("(from {var})")) && t.contains(region), "{var}: {t}");
        assert!(!t.contains("dispatch failure") && !t.contains("ecr:"), "{var}: {t}");
    }
}

/// A record of bytes that are not text is set aside and rebuilt, exactly
/// as a record of text that is not JSON.
#[test]
fn a_binary_garbage_state_record_is_set_aside_and_rebuilt() {
    if support::skip_emulator() {
        return;
    }
    let moto = support::moto();
    let d = workdir("state");
    std::fs::write(
        d.join("stack.yaml"),
        "stack: hostile-state\nregion: us-east-1\nresources:\n  repo:\n    kind: ecr/repository\n",
    )
    .unwrap();
    let env = [("AWS_ENDPOINT_URL", moto.endpoint.as_str()), ("AWS_REGION", "us-east-1")];
    let state = d.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let garbage: [&[u8]; 3] = [b"\xff\xfe\x00\x01\x80garbage", b"\0\0\0\0\0", b"{ not json"];
    for bytes in garbage {
        let record = state.join("hostile-state.state.json");
        std::fs::write(&record, bytes).unwrap();
        let o = moor(&d, &["plan", "stack.yaml", "--state-dir", "state"], &env);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(0), "{bytes:?}: {t}");
        assert!(t.contains("is corrupt") && t.contains("rebuilt"), "{bytes:?}: {t}");
        assert!(!record.exists(), "{bytes:?}: moved aside");
        let aside: Vec<_> = std::fs::read_dir(&state)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
            .collect();
        assert!(aside.iter().any(|e| std::fs::read(e.path()).unwrap() == bytes), "{bytes:?}: kept for inspection");
        for e in aside {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
}
