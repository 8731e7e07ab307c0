//! The S3 state backend against the emulator: the lock (one holder of two
//! racing clients, a holder named when refused, waiting, a killed holder's
//! lock unlocked by id, a stale lock taken over with a warning), runners
//! that share nothing but the bucket, conditional writes of the record, a
//! corrupt record set aside, and `moor state migrate`.

mod support;

use moor::backend::{Backend, KeyRule, LockOptions, S3Backend};
use moor::state::{State, StateError};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::proxy::FaultProxy;
use support::text;

const BUCKET: &str = "moor-state-tests";

/// A client of the emulator (or of `endpoint`), with the bucket made.
async fn client(endpoint: Option<&str>) -> aws_sdk_s3::Client {
    support::moto();
    let mut loader = moor::provider::aws::AwsProvider::config_loader(Some("us-east-1".into()));
    if let Some(e) = endpoint {
        loader = loader.endpoint_url(e);
    }
    let config = loader.load().await;
    let c = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());
    let _ = c.create_bucket().bucket(BUCKET).send().await;
    c
}

fn s3(prefix: &str) -> String {
    format!("s3://{BUCKET}/{prefix}")
}

async fn get(c: &aws_sdk_s3::Client, key: &str) -> Option<(String, String)> {
    let o = c.get_object().bucket(BUCKET).key(key).send().await.ok()?;
    let etag = o.e_tag().unwrap_or_default().to_string();
    let body = o.body.collect().await.unwrap().into_bytes();
    Some((String::from_utf8_lossy(&body).into_owned(), etag))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

/// `moor ARGS --state LOCATION` in `dir`, against `endpoint` (default: the emulator).
fn moor_cmd(dir: &Path, args: &[&str], endpoint: Option<&str>) -> Command {
    let moto = support::moto();
    let mut c = Command::new(env!("CARGO_BIN_EXE_moor"));
    c.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("AWS_ENDPOINT_URL", endpoint.unwrap_or(&moto.endpoint))
        .env_remove("MOOR_STATE")
        .stdin(Stdio::null());
    c
}

fn moor(dir: &Path, args: &[&str]) -> Output {
    moor_cmd(dir, args, None).output().expect("moor runs")
}

fn spawn(dir: &Path, args: &[&str], endpoint: Option<&str>) -> Child {
    moor_cmd(dir, args, endpoint).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("moor starts")
}

fn stack(name: &str, with_second: bool) -> String {
    let second = if with_second { "  second:\n    kind: ecr/repository\n    empty_on_delete: true\n" } else { "" };
    format!(
        "stack: {name}\nregion: us-east-1\nresources:\n  repo:\n    kind: ecr/repository\n    empty_on_delete: true\n{second}outputs:\n  uri: ${{repo.uri}}\n"
    )
}

/// Waits (up to a minute) until `key` exists; its body.
async fn appears(c: &aws_sdk_s3::Client, key: &str) -> String {
    let start = Instant::now();
    loop {
        if let Some((body, _)) = get(c, key).await {
            return body;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{key} never appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn lock_id(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body).unwrap()["id"].as_str().unwrap().to_string()
}

/// Two clients of their own try to take one lock at the same moment, 50
/// times: exactly one holds it each time. Through the proxy with a single
/// connection to the emulator, because moto checks `If-None-Match` and then
/// writes in two steps that concurrent requests interleave (see
/// docs/emulator.md); AWS makes the check and the write one step.
#[test]
fn two_clients_racing_for_the_lock_never_both_hold_it() {
    if support::skip_emulator() {
        return;
    }
    let proxy = FaultProxy::start_with(["--delay-ms", "0", "--upstream-connections", "1"]);
    rt().block_on(async {
        client(None).await;
        let a = Arc::new(Backend::S3(S3Backend::from_client(
            client(Some(&proxy.url())).await,
            BUCKET,
            KeyRule::Prefix("race".into()),
        )));
        let b = Arc::new(Backend::S3(S3Backend::from_client(
            client(Some(&proxy.url())).await,
            BUCKET,
            KeyRule::Prefix("race".into()),
        )));
        for round in 0..50 {
            let start = Arc::new(tokio::sync::Barrier::new(2));
            let racers: Vec<_> = [a.clone(), b.clone()]
                .into_iter()
                .map(|backend| {
                    let start = start.clone();
                    tokio::spawn(async move {
                        start.wait().await;
                        backend.lock("race", LockOptions::default(), &|_| {}).await
                    })
                })
                .collect();
            let mut held = Vec::new();
            let mut refused = Vec::new();
            for r in racers {
                match r.await.unwrap() {
                    Ok((h, _)) => held.push(h),
                    Err(e) => refused.push(e),
                }
            }
            assert_eq!(held.len(), 1, "round {round}: {} holders; refused: {refused:?}", held.len());
            assert!(matches!(refused[0], StateError::Locked { .. }), "round {round}: {}", refused[0]);
            for h in held {
                h.release().await;
            }
        }
    });
}

/// Two applies of one stack from two directories that share no file: one
/// proceeds, the other is refused naming the holder and its lock id; with
/// --lock-timeout the other waits and then proceeds.
#[test]
fn two_runners_of_one_stack_one_proceeds_the_other_is_refused_or_waits() {
    if support::skip_emulator() {
        return;
    }
    let slow = FaultProxy::start_with(["--delay-ms", "150"]);
    let name = "rs-two-runners";
    let state = s3("two");
    let (a, b, c) = (
        support::workdir("rs-two-a", &stack(name, false)),
        support::workdir("rs-two-b", &stack(name, false)),
        support::workdir("rs-two-c", &stack(name, false)),
    );
    rt().block_on(async {
        let s3c = client(None).await;
        let lock_key = format!("two/{name}.state.json.lock");
        let args = ["apply", "stack.yaml", "--auto-approve", "--state", &state];
        let first = spawn(&a, &args, Some(&slow.url()));
        let body = appears(&s3c, &lock_key).await;
        let refused = moor(&b, &args);
        let waiting = spawn(&c, &[&args[..], &["--lock-timeout", "5m"]].concat(), None);
        let first = first.wait_with_output().unwrap();
        assert_eq!(first.status.code(), Some(0), "{}", text(&first));
        assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
        let said = text(&refused);
        let id = lock_id(&body);
        assert!(said.contains(&format!("stack `{name}` is locked by")), "{said}");
        assert!(said.contains(&id) && said.contains(&format!("moor state unlock {id}")), "{said}");
        assert!(said.contains("since ") && said.contains("apply stack.yaml"), "names the holder: {said}");
        assert!(!said.contains("Apply complete"), "{said}");
        let waited = waiting.wait_with_output().unwrap();
        assert_eq!(waited.status.code(), Some(0), "{}", text(&waited));
        assert!(text(&waited).contains("No changes."), "{}", text(&waited));
        assert!(get(&s3c, &lock_key).await.is_none(), "each run released the lock");
        let o = moor(&a, &["destroy", "stack.yaml", "--auto-approve", "--state", &state]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    });
}

/// A run killed while it holds the lock leaves it; the next run names it,
/// `moor state unlock` with a wrong id refuses and with its id removes it.
/// A lock not refreshed for longer than the staleness is taken over, with
/// a warning naming its holder and age.
#[test]
fn a_killed_runs_lock_is_reported_unlocked_by_id_and_taken_over_when_stale() {
    if support::skip_emulator() {
        return;
    }
    let slow = FaultProxy::start_with(["--delay-ms", "150"]);
    let name = "rs-killed";
    let state = s3("killed");
    let d = support::workdir("rs-killed", &stack(name, false));
    rt().block_on(async {
        let s3c = client(None).await;
        let lock_key = format!("killed/{name}.state.json.lock");
        let apply = ["apply", "stack.yaml", "--auto-approve", "--state", &state];
        let mut victim = spawn(&d, &apply, Some(&slow.url()));
        let body = appears(&s3c, &lock_key).await;
        victim.kill().unwrap();
        victim.wait().unwrap();
        let id = lock_id(&body);

        let o = moor(&d, &apply);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains(&format!("lock id {id}")) && text(&o).contains("is locked by"), "{}", text(&o));

        let o = moor(&d, &["state", "unlock", "0000000000000000", "stack.yaml", "--state", &state]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains(&format!("has id {id}, not 0000000000000000")), "{}", text(&o));
        assert!(get(&s3c, &lock_key).await.is_some(), "a wrong id leaves the lock");

        let o = moor(&d, &["state", "unlock", &id, "--stack", name, "--state", &state]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(get(&s3c, &lock_key).await.is_none(), "unlocked");
        let o = moor(&d, &apply);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));

        // Killed again; this time the lock is left to go stale.
        let mut victim = spawn(&d, &apply, Some(&slow.url()));
        let body = appears(&s3c, &lock_key).await;
        victim.kill().unwrap();
        victim.wait().unwrap();
        let id = lock_id(&body);
        let o = moor(&d, &[&apply[..], &["--lock-stale-after", "1h"]].concat());
        assert_eq!(o.status.code(), Some(1), "not stale within the hour: {}", text(&o));
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let o = moor(&d, &[&apply[..], &["--lock-stale-after", "1s"]].concat());
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let said = text(&o);
        assert!(said.contains(&format!("the lock of stack `{name}` (id {id}) held by")), "{said}");
        assert!(said.contains("ago, longer than the staleness of 1s: taking it over"), "{said}");
        assert!(get(&s3c, &lock_key).await.is_none(), "released after the takeover");
        let o = moor(&d, &["destroy", "stack.yaml", "--auto-approve", "--state", &state]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    });
}

/// A runner with an empty working directory and the same backend sees
/// what another runner applied: no changes, and a resource removed from the
/// file is deleted (a local record in a fresh directory would not know it).
#[test]
fn a_fresh_runner_with_the_same_backend_plans_no_changes_and_deletes_what_left_the_file() {
    if support::skip_emulator() {
        return;
    }
    rt().block_on(client(None));
    let name = "rs-fresh";
    let state = s3("fresh");
    let a = support::workdir("rs-fresh-a", &stack(name, true));
    let b = support::workdir("rs-fresh-b", &stack(name, true));
    let c = support::workdir("rs-fresh-c", &stack(name, false));
    let o = moor(&a, &["apply", "stack.yaml", "--auto-approve", "--state", &state]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("Apply complete: 2 created"), "{}", text(&o));
    assert!(!a.join(".moor").exists(), "nothing kept on the runner");

    let o = moor(&b, &["plan", "stack.yaml", "--detailed-exitcode", "--state", &state]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = moor_cmd(&b, &["outputs", "--stack", name], None).env("MOOR_STATE", &state).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("uri = "), "{}", text(&o));

    let o = moor_cmd(&c, &["apply", "stack.yaml", "--auto-approve"], None).env("MOOR_STATE", &state).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("1 deleted"), "{}", text(&o));
    let o = moor(&c, &["destroy", "--stack", name, "--auto-approve", "--state", &state]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("1 deleted"), "{}", text(&o));
}

/// Two writers of one record: the second, whose ETag is stale, is refused;
/// nothing is silently overwritten. A record that changed only in its
/// serial is not written again.
#[test]
fn a_write_with_a_stale_etag_is_refused_and_an_unchanged_record_is_not_written() {
    if support::skip_emulator() {
        return;
    }
    rt().block_on(async {
        let c = client(None).await;
        let open = || async {
            Backend::S3(S3Backend::from_client(client(None).await, BUCKET, KeyRule::Prefix("writers".into())))
        };
        let (a, b) = (open().await, open().await);
        let key = "writers/w.state.json";
        let _ = c.delete_object().bucket(BUCKET).key(key).send().await;
        assert_eq!(a.load("w").await.unwrap(), None);
        assert_eq!(b.load("w").await.unwrap(), None);
        let mut first = State::new("w", Some("us-east-1"));
        first.outputs.insert("by".into(), "a".into());
        a.save(&first).await.unwrap();
        let mut second = State::new("w", Some("us-east-1"));
        second.outputs.insert("by".into(), "b".into());
        match b.save(&second).await {
            Err(StateError::Conflict { stack, location }) => {
                assert_eq!((stack.as_str(), location.as_str()), ("w", "s3://moor-state-tests/writers/w.state.json"))
            }
            other => panic!("a second writer with no ETag: {other:?}"),
        }
        // b reads it, a writes again: b's ETag is stale.
        assert_eq!(b.load("w").await.unwrap(), Some(first.clone()));
        first.outputs.insert("by".into(), "a again".into());
        a.save(&first).await.unwrap();
        let err = b.save(&second).await.unwrap_err();
        assert!(err.to_string().contains("was changed by another run since this one read it"), "{err}");
        assert_eq!(a.load("w").await.unwrap(), Some(first.clone()), "nothing overwritten");

        let (_, etag) = get(&c, key).await.unwrap();
        first.serial += 1;
        a.save(&first).await.unwrap();
        assert_eq!(get(&c, key).await.unwrap().1, etag, "not written again");
    });
}

/// A remote record that is not a record is set aside under a
/// `.corrupt-<time>` key and rebuilt; its content is never printed.
#[test]
fn a_corrupt_remote_record_is_set_aside_and_rebuilt_without_being_printed() {
    if support::skip_emulator() {
        return;
    }
    let name = "rs-corrupt";
    let state = s3("corrupt");
    let d = support::workdir("rs-corrupt", &stack(name, false));
    rt().block_on(async {
        let c = client(None).await;
        let key = format!("corrupt/{name}.state.json");
        let o = moor(&d, &["apply", "stack.yaml", "--auto-approve", "--state", &state]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let garbage = "{ \"password\": \"hunter2-SECRET\" ";
        c.put_object().bucket(BUCKET).key(&key).body(garbage.as_bytes().to_vec().into()).send().await.unwrap();
        let o = moor(&d, &["apply", "stack.yaml", "--auto-approve", "--state", &state]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let said = text(&o);
        assert!(said.contains("is corrupt") && said.contains(&format!("s3://{BUCKET}/{key}.corrupt-")), "{said}");
        assert!(!said.contains("hunter2"), "the record's content is not printed: {said}");
        let listed = c.list_objects_v2().bucket(BUCKET).prefix(format!("{key}.corrupt-")).send().await.unwrap();
        let aside = listed.contents()[0].key().unwrap().to_string();
        assert_eq!(get(&c, &aside).await.unwrap().0, garbage, "kept as it was");
        let rebuilt: State = serde_json::from_str(&get(&c, &key).await.unwrap().0).unwrap();
        assert!(rebuilt.resources.contains_key("repo"), "rebuilt from the tags");
        let o = moor(&d, &["destroy", "stack.yaml", "--auto-approve", "--state", &state]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    });
}

/// `moor state migrate` local → S3 → local: the record arrives the same,
/// a different record at the destination is kept unless --force, and the
/// source goes only with --remove-source.
#[test]
fn migrate_local_to_s3_and_back() {
    if support::skip_emulator() {
        return;
    }
    rt().block_on(client(None));
    let name = "rs-migrate";
    let d = support::workdir("rs-migrate", &stack(name, false));
    let state = s3("migrate");
    let o = moor(&d, &["apply", "stack.yaml", "--auto-approve", "--state", "here"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let original = std::fs::read_to_string(d.join(format!("here/{name}.state.json"))).unwrap();
    let original: State = serde_json::from_str(&original).unwrap();

    let o = moor(&d, &["state", "migrate", "--from", "here", "--to", &state, "stack.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(d.join(format!("here/{name}.state.json")).exists(), "the source is kept unless asked");
    let o = moor(&d, &["plan", "stack.yaml", "--detailed-exitcode", "--state", &state]);
    assert_eq!(o.status.code(), Some(0), "the S3 record knows the stack: {}", text(&o));

    // A different record at the destination is not replaced.
    let other = d.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let mut different = original.clone();
    different.resources.clear();
    std::fs::write(other.join(format!("{name}.state.json")), serde_json::to_string(&different).unwrap()).unwrap();
    let o = moor(&d, &["state", "migrate", "--from", &state, "--to", "other", "--stack", name]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("already holds a different record") && text(&o).contains("--force"), "{}", text(&o));
    let o = moor(
        &d,
        &["state", "migrate", "--from", &state, "--to", "other", "--stack", name, "--force", "--remove-source"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let back: State =
        serde_json::from_str(&std::fs::read_to_string(other.join(format!("{name}.state.json"))).unwrap()).unwrap();
    assert_eq!(back.resources, original.resources);
    assert_eq!(back.outputs, original.outputs);
    rt().block_on(async {
        let c = client(None).await;
        assert!(get(&c, &format!("migrate/{name}.state.json")).await.is_none(), "--remove-source removed it");
    });
    let o = moor(&d, &["state", "migrate", "--from", &state, "--to", "other", "--stack", name]);
    assert_eq!(o.status.code(), Some(1), "nothing left to copy: {}", text(&o));
    let o = moor(&d, &["destroy", "stack.yaml", "--auto-approve", "--state", "other"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// The holder refreshes its lock object while it runs (so a lock in use
/// never looks stale), learns when the lock was taken from it, and then
/// does not remove the new holder's lock when it releases.
#[test]
fn a_held_lock_is_refreshed_and_its_holder_learns_when_it_was_taken() {
    if support::skip_emulator() {
        return;
    }
    rt().block_on(async {
        let c = client(None).await;
        let key = "refresh/r.state.json.lock";
        let _ = c.delete_object().bucket(BUCKET).key(key).send().await;
        let backend =
            Backend::S3(S3Backend::from_client(client(None).await, BUCKET, KeyRule::Prefix("refresh".into())));
        // Refreshed every 200 ms at this staleness.
        let opts = LockOptions { timeout: Duration::ZERO, stale_after: Duration::from_millis(600) };
        let (held, _) = backend.lock("r", opts, &|_| {}).await.unwrap();
        let (_, first) = get(&c, key).await.unwrap();
        let start = Instant::now();
        let etag = loop {
            let (_, now) = get(&c, key).await.unwrap();
            if now != first {
                break now;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "the lock object was never refreshed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Another run takes it over (as after a takeover of a stale lock).
        c.put_object()
            .bucket(BUCKET)
            .key(key)
            .if_match(&etag)
            .body(b"{\"id\":\"other\",\"who\":\"x@y\",\"pid\":1,\"since\":\"-\",\"command\":\"moor\"}".to_vec().into())
            .send()
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(60), held.lost()).await.expect("the holder learns it lost the lock");
        held.release().await;
        let (body, _) = get(&c, key).await.expect("the new holder's lock stays");
        assert!(body.contains("\"other\""), "{body}");
    });
}

/// `--lock-timeout` on the local backend: without it a locked stack fails
/// at once; with it the run waits for the lock and then proceeds.
#[test]
fn lock_timeout_waits_for_a_local_lock() {
    if support::skip_emulator() {
        return;
    }
    let d = support::workdir("rs-local-wait", &stack("rs-local-wait", false));
    let local = moor::state::LocalBackend::new(d.join("here"));
    let (lock, _) = local.lock("rs-local-wait").unwrap();
    let apply = ["apply", "stack.yaml", "--auto-approve", "--state-dir", "here"];
    let o = moor(&d, &apply);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("is locked by") && text(&o).contains("moor state unlock"), "{}", text(&o));
    let mut waiting = moor_cmd(&d, &apply, None)
        .env("MOOR_LOCK_TIMEOUT", "5m")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    assert!(waiting.try_wait().unwrap().is_none(), "still waiting while the lock is held");
    drop(lock);
    let o = waiting.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = moor(&d, &["destroy", "stack.yaml", "--auto-approve", "--state", "here"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// `state: {s3: …}` in the stack file: its mistakes are diagnostics at
/// their field and line; a right one is the backend (key default
/// `moor/<stack>.state.json`) unless `--state` says otherwise.
#[test]
fn the_stack_files_state_setting_is_checked_and_used() {
    let load = |text: &str| moor::load::load_str("stack.yaml", text, &moor::load::LoadOptions::default());
    let bad = load(
        "stack: s\nregion: us-east-1\nstate:\n  s3:\n    bucket: Not_A_Bucket\n    key: /abs\n    region: mars-1\n    acl: public\nresources: {}\n",
    );
    let said: Vec<String> = bad.diags.iter().map(|d| format!("{} {:?}", d.message, d.labels)).collect();
    let all = said.join("\n");
    for (what, line) in [("not an S3 bucket name", 5), ("not an S3 object key", 6), ("acl", 8)] {
        let d = bad.diags.iter().find(|d| d.message.contains(what)).unwrap_or_else(|| panic!("{what}: {all}"));
        let (file, at, _) = d.location().unwrap_or_else(|| panic!("{what} has no place: {all}"));
        assert_eq!((file.as_str(), at), ("stack.yaml", line), "{what}: {all}");
    }
    assert!(
        bad.diags.iter().any(|d| d.message.contains("mars-1") || d.labels.iter().any(|l| l.text == "not a region")),
        "{all}"
    );
    assert!(bad.has_errors());

    let good =
        load("stack: s\nregion: us-east-1\nstate:\n  s3: { bucket: my-bucket, region: eu-west-1 }\nresources: {}\n");
    assert!(!good.has_errors(), "{:?}", good.diags);
    assert_eq!(good.stack.unwrap().state.unwrap().record("s"), "s3://my-bucket/moor/s.state.json",);

    // One file, several environments: `${stack}` in the key keeps their
    // records apart, and a fixed key they would share is refused.
    let env = |key: &str, env: &str| {
        let o = moor::load::LoadOptions { vars: vec![format!("env={env}")], ..Default::default() };
        let text = format!(
            "stack: shop-${{var.env}}\nregion: us-east-1\nvariables:\n  env: {{}}\nstate:\n  s3: {{ bucket: my-bucket, {key} }}\nresources: {{}}\n"
        );
        moor::load::load_str("stack.yaml", &text, &o)
    };
    for e in ["dev", "prod"] {
        let l = env("key: \"ci/${stack}.json\"", e);
        assert!(!l.has_errors(), "{:?}", l.diags);
        let st = l.stack.unwrap();
        assert_eq!(st.state.unwrap().record(&st.name), format!("s3://my-bucket/ci/shop-{e}.json"));
    }
    let shared = env("key: ci/shop.json", "dev");
    let d =
        shared.diags.iter().find(|d| d.message.contains("would share")).unwrap_or_else(|| panic!("{:?}", shared.diags));
    assert_eq!(d.location().unwrap().1, 6, "{:?}", d);
    let other = env("key: \"ci/${var.env}.json\"", "dev");
    assert!(other.diags.iter().any(|d| d.message.contains("only `${stack}`")), "{:?}", other.diags);

    if support::skip_emulator() {
        return;
    }
    let name = "rs-file-state";
    let d = support::workdir("rs-file-state", &format!("{}state:\n  s3:\n    bucket: {BUCKET}\n", stack(name, false)));
    rt().block_on(async {
        let c = client(None).await;
        let o = moor(&d, &["apply", "stack.yaml", "--auto-approve"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(get(&c, &format!("moor/{name}.state.json")).await.is_some(), "the record is where the file says");
        assert!(!d.join(".moor").exists());
        let o = moor(&d, &["state", "show", "stack.yaml"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let shown: State = serde_json::from_slice(&o.stdout).expect("the record as JSON");
        assert!(shown.resources.contains_key("repo"));
        let o = moor(&d, &["state", "show", "stack.yaml", "--state", "elsewhere"]);
        assert_eq!(o.status.code(), Some(1), "--state beats the file: {}", text(&o));
        assert!(text(&o).contains("no state record at elsewhere/rs-file-state.state.json"), "{}", text(&o));
        let o = moor(&d, &["destroy", "stack.yaml", "--auto-approve"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    });
}

/// Ctrl-C during an apply: the run records what it did and releases its
/// lock object before it exits.
#[test]
fn an_interrupted_apply_releases_its_s3_lock() {
    if support::skip_emulator() {
        return;
    }
    let slow = FaultProxy::start_with(["--delay-ms", "150"]);
    let name = "rs-interrupted";
    let state = s3("interrupted");
    let d = support::workdir("rs-interrupted", &stack(name, true));
    rt().block_on(async {
        let c = client(None).await;
        let lock_key = format!("interrupted/{name}.state.json.lock");
        let run = spawn(&d, &["apply", "stack.yaml", "--auto-approve", "--state", &state], Some(&slow.url()));
        appears(&c, &lock_key).await;
        let st = Command::new("kill").args(["-INT", &run.id().to_string()]).status().unwrap();
        assert!(st.success());
        let o = run.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(130), "{}", text(&o));
        assert!(get(&c, &lock_key).await.is_none(), "the lock was released: {}", text(&o));
        let o = moor(&d, &["destroy", "stack.yaml", "--auto-approve", "--state", &state]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    });
}

/// A run whose lock is taken from it while it works (its refresh is
/// refused) stops starting new work, says so, and leaves the new holder's
/// lock alone.
#[test]
fn a_run_whose_lock_was_taken_stops_and_says_so() {
    if support::skip_emulator() {
        return;
    }
    let slow = FaultProxy::start_with(["--delay-ms", "300"]);
    let name = "rs-taken";
    let state = s3("taken");
    let d = support::workdir("rs-taken", &stack(name, true));
    rt().block_on(async {
        let c = client(None).await;
        let lock_key = format!("taken/{name}.state.json.lock");
        // Refreshed every 333 ms at this staleness.
        let args = ["apply", "stack.yaml", "--auto-approve", "--parallelism", "1", "--lock-stale-after", "1s"];
        let run = spawn(&d, &[&args[..], &["--state", &state]].concat(), Some(&slow.url()));
        appears(&c, &lock_key).await;
        let other = b"{\"id\":\"other\",\"who\":\"x@y\",\"pid\":1,\"since\":\"-\",\"command\":\"moor\"}".to_vec();
        c.put_object().bucket(BUCKET).key(&lock_key).body(other.into()).send().await.unwrap();
        let o = run.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let said = text(&o);
        assert!(
            said.contains(&format!("the lock of stack `{name}` (s3://{BUCKET}/{lock_key}) was taken from this run")),
            "{said}"
        );
        assert!(said.contains("so it stopped starting new work"), "{said}");
        assert!(!said.contains("Apply complete"), "{said}");
        let (body, _) = get(&c, &lock_key).await.expect("the new holder's lock stays");
        assert!(body.contains("\"other\""), "{body}");
        c.delete_object().bucket(BUCKET).key(&lock_key).send().await.unwrap();
        let o = moor(&d, &["destroy", "stack.yaml", "--auto-approve", "--state", &state]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    });
}

/// A bucket that does not exist is an error that names it, never an empty
/// record (which would plan the stack as new) nor a lock that "changed
/// hands".
#[test]
fn a_missing_bucket_is_an_error_not_an_empty_record() {
    if support::skip_emulator() {
        return;
    }
    let d = support::workdir("rs-no-bucket", &stack("rs-no-bucket", false));
    for command in [&["plan", "stack.yaml"][..], &["apply", "stack.yaml", "--auto-approve"]] {
        let o = moor(&d, &[command, &["--state", "s3://moor-no-such-bucket/p"]].concat());
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let said = text(&o);
        assert!(
            said.contains("s3://moor-no-such-bucket/p/rs-no-bucket.state.json") && said.contains("NoSuchBucket"),
            "{said}"
        );
    }
}
