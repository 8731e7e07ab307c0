//! What moor says on stderr: the AWS call trace (`--debug`, `MOOR_LOG`,
//! `-vv`), `-q` and `-v`, and colours (`--color`, NO_COLOR, CLICOLOR_FORCE,
//! a terminal or not).

mod support;

use std::path::Path;
use std::process::{Command, Output};
use support::proxy::FaultProxy;

const STACK: &str = "stack: STACK
region: us-east-1
resources:
  repo:
    kind: ecr/repository
    name: STACK-repo
  logs:
    kind: logs/log_group
    name: /ecs/STACK
";

/// Credentials no answer and no trace may show.
const ACCESS_KEY: &str = "AKIAMOORTRACEKEY7777";
const SECRET_KEY: &str = "moorTraceSecretKey/DoNotPrint+9999";
const SESSION_TOKEN: &str = "moorTraceSessionToken0123456789DoNotPrint";

fn stack(name: &str) -> String {
    STACK.replace("STACK", name)
}

/// `moor ARGS` in `dir` against `endpoint`, with distinctive credentials,
/// without a terminal and without NO_COLOR unless `env` sets it.
fn moor(dir: &Path, endpoint: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_moor"));
    c.args(args);
    if args.first() != Some(&"validate") && !args.contains(&"--state") {
        c.arg("--state-dir").arg(dir.join("state"));
    }
    c.current_dir(dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .env("AWS_REGION", "us-east-1")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR")
        .env_remove("MOOR_LOG")
        .env_remove("MOOR_DEBUG")
        .env_remove("MOOR_QUIET")
        .env_remove("MOOR_VERBOSE")
        .env_remove("MOOR_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("moor runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The lines of the AWS call trace.
fn trace(o: &Output) -> Vec<String> {
    stderr(o).lines().filter(|l| l.starts_with("aws ")).map(str::to_string).collect()
}

/// A trace line with its durations as `<t>`: `12ms`, `1.52s`.
fn masked(line: &str) -> String {
    line.split(' ')
        .map(|w| {
            let (word, tail) = w.strip_suffix(',').map_or((w, ""), |x| (x, ","));
            let number = word.strip_suffix("ms").or_else(|| word.strip_suffix('s'));
            match number {
                Some(n) if !n.is_empty() && n.parse::<f64>().is_ok() => format!("<t>{tail}"),
                _ => w.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn assert_no_credentials(o: &Output) {
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o));
    for secret in [ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, "Signature=", "Credential=", "X-Amz-Security-Token"] {
        assert!(!all.contains(secret), "the output shows {secret}:\n{all}");
    }
}

/// `--debug`: one line per AWS call with its operation, the resource it
/// was for, the answer and a duration; never the credentials.
#[test]
fn the_debug_trace_of_a_plan_names_each_call_its_resource_and_duration() {
    if support::skip_emulator() {
        return;
    }
    let endpoint = support::moto().endpoint.clone();
    let dir = support::workdir("trace-plan", &stack("trace-plan"));
    let o = moor(&dir, &endpoint, &["plan", "stack.yaml", "--debug"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("+ repo"), "the plan is still shown:\n{}", stderr(&o));
    let lines = trace(&o);
    let has = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
    assert!(has("aws ecr:DescribeRepositories [repo] → 400 RepositoryNotFoundException in "), "{lines:#?}");
    assert!(has("aws logs:DescribeLogGroups [logs] → 200 in "), "{lines:#?}");
    assert!(has("aws sts:GetCallerIdentity → 200 in "), "{lines:#?}");
    for l in &lines {
        assert!(l.contains(" → ") && masked(l).contains(" in <t>"), "a call without an answer or a duration: {l}");
    }
    assert_no_credentials(&o);
    let mut shown: Vec<String> = lines.iter().map(|l| masked(l)).collect();
    // Calls run concurrently: their order is not part of the format.
    shown.sort();
    insta::assert_snapshot!(shown.join("\n"));

    // The same from MOOR_LOG, and from -vv.
    for (args, env) in [
        (&["plan", "stack.yaml"][..], &[("MOOR_LOG", "aws=debug")][..]),
        (&["plan", "stack.yaml", "-vv"][..], &[][..]),
        (&["plan", "stack.yaml"][..], &[("MOOR_DEBUG", "1")][..]),
    ] {
        let o = moor(&dir, &endpoint, args, env);
        assert!(trace(&o).iter().any(|l| l.starts_with("aws ecr:DescribeRepositories [repo] → ")), "{args:?} {env:?}");
    }
    // Without any of them: no trace.
    let o = moor(&dir, &endpoint, &["plan", "stack.yaml"], &[]);
    assert!(trace(&o).is_empty(), "{}", stderr(&o));
}

/// The calls of a state record in S3 are the state's, and its lock's.
#[tokio::test]
async fn the_calls_of_a_remote_state_are_named_as_such() {
    if support::skip_emulator() {
        return;
    }
    let endpoint = support::moto().endpoint.clone();
    let config = moor::provider::aws::AwsProvider::config_loader(Some("us-east-1".into())).load().await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());
    let _ = s3.create_bucket().bucket("moor-trace-state").send().await;
    let dir = support::workdir("trace-state", &stack("trace-state"));
    let args = ["apply", "stack.yaml", "--auto-approve", "--debug", "--state", "s3://moor-trace-state/p"];
    let o = moor(&dir, &endpoint, &args, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = trace(&o);
    let has = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
    assert!(has("aws s3:GetObject [state] → "), "{lines:#?}");
    assert!(has("aws s3:PutObject [state] → 200 in "), "{lines:#?}");
    assert!(has("aws s3:PutObject [state lock] → 200 in "), "{lines:#?}");
    assert!(has("aws s3:DeleteObject [state lock] → 204 in "), "{lines:#?}");
    assert!(has("aws ecr:CreateRepository [repo] → 200 in "), "{lines:#?}");
    assert_no_credentials(&o);
    let args = ["destroy", "stack.yaml", "--auto-approve", "-q", "--state", "s3://moor-trace-state/p"];
    let o = moor(&dir, &endpoint, &args, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// `MOOR_LOG=trace` adds a line per attempt: method, host and path, the
/// body's size; still no credentials, no signature, no body.
#[test]
fn the_attempt_trace_shows_no_credentials_or_bodies() {
    if support::skip_emulator() {
        return;
    }
    let endpoint = support::moto().endpoint.clone();
    let dir = support::workdir("trace-attempts", &stack("trace-attempts"));
    let o = moor(&dir, &endpoint, &["plan", "stack.yaml"], &[("MOOR_LOG", "trace")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = trace(&o);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("aws ecr:DescribeRepositories [repo] attempt 1: POST ") && l.ends_with(" bytes")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains("trace-attempts-repo")), "a request body is not shown: {lines:#?}");
    assert_no_credentials(&o);
}

/// A retried call shows each retry, its attempt number and why, then the
/// call's end with the number of attempts.
#[test]
fn a_retry_shows_up_in_the_trace() {
    if support::skip_emulator() {
        return;
    }
    let proxy = FaultProxy::start();
    let dir = support::workdir("trace-retry", &stack("trace-retry"));
    proxy.fault("logs:DescribeLogGroups", "500", 1);
    proxy.fault("ecr:DescribeRepositories", "throttle", 1);
    proxy.fault("tagging:GetResources", "reset", 1);
    let o = moor(&dir, &proxy.url(), &["plan", "stack.yaml", "--debug"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<String> = trace(&o).iter().map(|l| masked(l)).collect();
    let has = |l: &str| lines.iter().any(|x| x == l);
    assert!(has("aws logs:DescribeLogGroups [logs] ↻ attempt 2 after 500 InternalFailure, waited <t>"), "{lines:#?}");
    assert!(has("aws logs:DescribeLogGroups [logs] → 200 in <t>, 2 attempts"), "{lines:#?}");
    // The repository's read and the search of the stack's repositories
    // both call DescribeRepositories: either is throttled first.
    let throttled = lines.iter().find(|l| {
        l.starts_with("aws ecr:DescribeRepositories [")
            && l.ends_with("] ↻ attempt 2 after 400 ThrottlingException, waited <t>")
    });
    assert!(throttled.is_some(), "{lines:#?}");
    // A connection reset: no answer, and why.
    let reset =
        lines.iter().find(|l| l.contains("tagging:GetResources") && l.contains("↻ attempt 2 after no answer ("));
    assert!(reset.is_some(), "{lines:#?}");
    assert_eq!(proxy.fired("logs:DescribeLogGroups", "500"), 1);
    assert_eq!(proxy.fired("tagging:GetResources", "reset"), 1);
    assert_no_credentials(&o);
}

/// `-q`: the plan and errors, no notices and no progress; `-v`: a line
/// per resource read.
#[test]
fn quiet_keeps_the_plan_and_drops_progress_and_notices() {
    if support::skip_emulator() {
        return;
    }
    let endpoint = support::moto().endpoint.clone();
    let dir = support::workdir("quiet", &stack("quiet"));
    // Plan: the plan is what the command prints; saving it is a notice.
    let o = moor(&dir, &endpoint, &["plan", "stack.yaml", "-o", "plan.moor"], &[]);
    assert!(stderr(&o).contains("Saved the plan to"), "{}", stderr(&o));
    let o = moor(&dir, &endpoint, &["plan", "stack.yaml", "-q", "-o", "plan.moor"], &[]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("+ repo") && err.contains("Plan: 2 to add"), "the plan stays:\n{err}");
    assert!(!err.contains("Saved the plan"), "{err}");
    // JSON on stdout stays too.
    let o = moor(&dir, &endpoint, &["plan", "stack.yaml", "-q", "--json"], &[("MOOR_QUIET", "1")]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"repo\""), "{}", stderr(&o));

    // Apply: no progress lines, the summary stays.
    let o = moor(&dir, &endpoint, &["apply", "stack.yaml", "--auto-approve", "-q"], &[]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("✓ created"), "{err}");
    assert!(err.contains("+ repo"), "{err}");
    // -v: each read, found or not.
    let o = moor(&dir, &endpoint, &["plan", "stack.yaml", "-v"], &[]);
    let err = stderr(&o);
    assert!(err.contains("  read repo (ecr/repository): found arn:aws:ecr:"), "{err}");
    assert!(err.contains("  read logs (logs/log_group): found "), "{err}");
    assert!(trace(&o).is_empty(), "-v alone is not the call trace:\n{err}");
    let o = moor(&dir, &endpoint, &["plan", "stack.yaml"], &[]);
    assert!(!stderr(&o).contains("  read repo"), "{}", stderr(&o));
    // -q and -v contradict each other.
    let o = moor(&dir, &endpoint, &["plan", "stack.yaml", "-q", "-v"], &[]);
    assert!(!o.status.success() && stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
    let o = moor(&dir, &endpoint, &["destroy", "stack.yaml", "--auto-approve", "-q"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A file with a mistake: its diagnostics are drawn by miette.
const BROKEN: &str = "stack: colours\nresources:\n  repo:\n    kind: ecr/repository\n    name: Not_Valid\n";

/// Colours: never without a terminal, never with NO_COLOR, with
/// `--color always` or CLICOLOR_FORCE; the same choice for miette's
/// diagnostics and moor's own lines.
#[test]
fn colours_follow_the_flag_the_environment_and_the_terminal() {
    let dir = support::workdir("colours", BROKEN);
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let o = moor(&dir, "http://127.0.0.1:9", args, env);
        assert!(!o.status.success(), "the file has a mistake");
        stderr(&o)
    };
    let validate = ["validate", "stack.yaml"];
    let esc = |s: &str| s.contains('\u{1b}');
    assert!(!esc(&run(&validate, &[])), "not a terminal: no colours");
    assert!(!esc(&run(&validate, &[("NO_COLOR", "1")])));
    assert!(!esc(&run(&validate, &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")])), "NO_COLOR wins");
    assert!(!esc(&run(&["validate", "stack.yaml", "--color", "never"], &[("CLICOLOR_FORCE", "1")])));
    let always = run(&["validate", "stack.yaml", "--color", "always"], &[("NO_COLOR", "1")]);
    assert!(esc(&always), "--color always: {always:?}");
    assert!(esc(&run(&validate, &[("CLICOLOR_FORCE", "1")])), "CLICOLOR_FORCE colours without a terminal");
    assert!(esc(&run(&validate, &[("MOOR_COLOR", "always")])));
    // The text is the same once the colours are taken out.
    let plain = run(&validate, &[]);
    assert_eq!(strip(&always), plain);
}

/// `s` without its ANSI colour codes.
fn strip(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A filter moor does not know is refused before anything runs.
#[test]
fn a_log_filter_moor_does_not_know_is_refused() {
    let dir = support::workdir("bad-filter", BROKEN);
    let o = moor(&dir, "http://127.0.0.1:9", &["validate", "stack.yaml"], &[("MOOR_LOG", "hyper=debug")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("`hyper`"), "{}", stderr(&o));
}

/// `-q` on a command without AWS: `state migrate` says what it copied,
/// unless quiet; its errors stay.
#[test]
fn quiet_drops_the_notices_of_a_migration() {
    let dir = support::workdir("quiet-migrate", BROKEN);
    let state = moor::state::State::new("quiet-migrate", Some("us-east-1"));
    moor::state::LocalBackend::new(dir.join("from")).save(&state).unwrap();
    let migrate = |to: &str, quiet: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_moor"));
        c.args(["state", "migrate", "--stack", "quiet-migrate", "--from", "from", "--to", to]).current_dir(&dir);
        c.env_remove("MOOR_QUIET").env_remove("MOOR_VERBOSE");
        if quiet {
            c.arg("--quiet");
        }
        c.output().expect("moor runs")
    };
    let o = migrate("to-loud", false);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("Copied:") && stderr(&o).contains("was kept"), "{}", stderr(&o));
    let o = migrate("to-quiet", true);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "nothing but errors and warnings");
    assert!(dir.join("to-quiet").exists(), "the record was still copied");
    let o = migrate("", true);
    assert!(!o.status.success() && stderr(&o).contains("error"), "errors stay: {}", stderr(&o));
}
