//! The switch for a quick local run: `MOOR_SKIP_EMULATOR=1` makes every
//! test that needs the emulator return at once and say so, and CI can never
//! use it.

mod support;

use std::path::Path;
use std::process::Command;

/// Run only by the test below, as a child process of this test binary.
#[test]
#[ignore = "run by the_switch_skips_a_test_that_needs_the_emulator_and_names_it"]
fn needs_the_emulator() {
    if support::skip_emulator() {
        return;
    }
    support::moto();
}

#[test]
fn the_switch_skips_a_test_that_needs_the_emulator_and_names_it() {
    let log = std::env::temp_dir().join(format!("moor-skip-log-{}", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--include-ignored", "--exact", "needs_the_emulator"])
        .env(support::SKIP_SWITCH, "1")
        .env("MOOR_SKIP_LOG", &log)
        .env_remove("CI")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(
        stderr.contains("skipped quick_switch::needs_the_emulator: needs the emulator (MOOR_SKIP_EMULATOR is set)"),
        "{stderr}"
    );
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    assert_eq!(logged, "quick_switch::needs_the_emulator\n");
}

#[test]
fn the_switch_is_on_when_set_and_never_in_ci() {
    assert!(support::skipping(Some("1"), None));
    assert!(support::skipping(Some("yes"), Some("false")));
    assert!(!support::skipping(None, None));
    assert!(!support::skipping(Some("0"), None));
    assert!(!support::skipping(Some(""), None));
    assert!(!support::skipping(Some("1"), Some("true")));
    assert!(!support::skipping(Some("1"), Some("TRUE")));
}

/// Runs scripts/test with a `cargo` first on the PATH that only says it
/// was run and fails, so a refusal that does not happen cannot start a
/// nested test run.
fn scripts_test(env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = std::env::temp_dir().join(format!("moor-fake-cargo-{}", std::process::id()));
    std::fs::create_dir_all(&bin).unwrap();
    let cargo = bin.join("cargo");
    std::fs::write(&cargo, "#!/bin/sh\necho \"fake cargo run: $*\" >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("scripts/test")).args(args).env_remove(support::SKIP_SWITCH).env_remove("CI").env("PATH", path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn scripts_test_refuses_to_skip_in_ci() {
    let (code, err) = scripts_test(&[("CI", "true"), (support::SKIP_SWITCH, "1")], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("CI runs every test"), "{err}");
    assert!(!err.contains("fake cargo run"), "refused before any step: {err}");

    let (code, err) = scripts_test(&[("CI", "true")], &["--quick"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("CI runs every test"), "{err}");
}

#[test]
fn scripts_test_rejects_an_unknown_argument() {
    let (code, err) = scripts_test(&[], &["--quik"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--quik"), "{err}");
}
