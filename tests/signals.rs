//! SIGTERM (CI cancellation, `docker stop`, Kubernetes) stops `moor apply`
//! like a first Ctrl-C: nothing new starts, a wait ends at once, what was
//! done is recorded and the lock is released. Runs the real binary; every
//! run is killed after a generous bound, so a hang fails the test.

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const GUARD: Duration = Duration::from_secs(90);

fn workdir(name: &str, stack: &str) -> PathBuf {
    support::workdir(&format!("signals-{name}"), stack)
}

fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moor"));
    cmd.args(args).args(["--state-dir", "state"]);
    if args[0] != "plan" {
        cmd.arg("--auto-approve");
    }
    cmd.current_dir(dir).env("NO_COLOR", "1").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("moor runs")
}

fn sigterm(child: &Child) {
    let st = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(st.success());
}

/// The exit code (None: killed by a signal) and stderr; kills after [`GUARD`].
fn finish(mut child: Child) -> (Option<i32>, String) {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return (st.code(), err);
        }
        if start.elapsed() > GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!("moor still ran {GUARD:?} after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn until(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < GUARD, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM while the first read has no answer yet: nothing was changed,
/// the run ends with 143 and its lock is gone.
#[test]
fn sigterm_before_anything_changed_leaves_no_lock() {
    // An endpoint that takes connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let d = workdir("early", "stack: sig-early\nregion: us-east-1\nresources:\n  repo:\n    kind: ecr/repository\n");
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_CONFIG_FILE", "/dev/null"),
    ];
    let child = start(&d, &["apply", "stack.yaml"], &env);
    let (conn, _) = silent.accept().expect("moor reads the stack");
    let lock = d.join("state/sig-early.lock");
    assert!(lock.exists(), "moor holds the lock while it reads");
    sigterm(&child);
    let (code, err) = finish(child);
    drop(conn);
    assert_eq!(code, Some(143), "{err}");
    assert!(err.contains("SIGTERM") && err.contains("nothing was changed"), "{err}");
    assert!(!lock.exists(), "the lock is released: {err}");
}

/// SIGTERM while a service waits for a deployment that never completes
/// (the emulator runs 100 tasks; the service wants 150): the wait ends at
/// once, the run exits 143 without its lock, and the record holds what was
/// created before.
#[test]
fn sigterm_during_a_wait_ends_it_and_records_what_was_done() {
    if support::skip_emulator() {
        return;
    }
    support::moto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (p, net) = rt.block_on(async {
        let p = support::provider().await;
        let net = support::default_net(&p).await;
        (p, net)
    });
    let stack = format!(
        "stack: sig-wait
region: us-east-1
resources:
  cluster:
    kind: ecs/cluster
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    containers:
      - name: web
        image: nginx:1.27
  app:
    kind: ecs/service
    cluster: ${{cluster.arn}}
    task_definition: ${{task.arn}}
    desired_count: 150
    network:
      subnets: [{}]
      security_groups: ['{}']
",
        net.subnets.join(", "),
        net.sg
    );
    let d = workdir("wait", &stack);
    let child = start(&d, &["apply", "stack.yaml"], &[]);
    let record = d.join("state/sig-wait.state.json");
    let read = || -> serde_json::Value {
        std::fs::read(&record).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    };
    until("the cluster and task definition are recorded", || {
        let r = read();
        r["resources"]["cluster"]["id"].is_string() && r["resources"]["task"]["id"].is_string()
    });
    let cluster = read()["resources"]["cluster"]["id"].as_str().unwrap().to_string();
    until("the service is created", || {
        rt.block_on(async { p.ecs.list_services().cluster(&cluster).send().await.unwrap().service_arns().len() == 1 })
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(d.join("state/sig-wait.lock").exists());
    sigterm(&child);
    let (code, err) = finish(child);
    assert_eq!(code, Some(143), "{err}");
    assert!(err.contains("interrupted while waiting for service"), "{err}");
    assert!(!d.join("state/sig-wait.lock").exists(), "the lock is released: {err}");
    let r = read();
    assert!(r["resources"]["cluster"]["id"].is_string() && r["resources"]["task"]["id"].is_string(), "{r}");
    // The service was created: it is recorded, as not settled.
    let app = &r["resources"]["app"];
    assert!(app["id"].as_str().is_some_and(|id| id.contains("service/")), "{r}");
    assert_eq!(app["unsettled"], true, "{r}");

    // The next run waits for it again (and gives up, as it never settles).
    let (code, err) = finish(start(&d, &["plan", "stack.yaml", "--detailed-exitcode"], &[]));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("settled"), "{err}");
    let (code, err) = finish(start(&d, &["apply", "stack.yaml", "--wait-timeout", "1s"], &[]));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("waiting for service") && err.contains("gave up"), "{err}");
    assert_eq!(read()["resources"]["app"]["unsettled"], true, "still not settled");
}

/// A service and a load balancer recorded as not settled are waited for by
/// the next apply, and recorded as settled once they are.
#[test]
fn unsettled_resources_are_waited_for_then_recorded_as_settled() {
    if support::skip_emulator() {
        return;
    }
    support::moto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let net = rt.block_on(async { support::default_net(support::provider().await.as_ref()).await });
    let stack = format!(
        "stack: sig-settle
region: us-east-1
resources:
  cluster:
    kind: ecs/cluster
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    containers:
      - name: web
        image: nginx:1.27
  app:
    kind: ecs/service
    cluster: ${{cluster.arn}}
    task_definition: ${{task.arn}}
    desired_count: 1
    network:
      subnets: [{subnets}]
      security_groups: ['{sg}']
  lb:
    kind: elbv2/load_balancer
    subnets: [{subnets}]
    security_groups: ['{sg}']
",
        subnets = net.subnets.join(", "),
        sg = net.sg
    );
    let d = workdir("settle", &stack);
    let (code, err) = finish(start(&d, &["apply", "stack.yaml"], &[]));
    assert_eq!(code, Some(0), "{err}");
    let record = d.join("state/sig-settle.state.json");
    let mut r: serde_json::Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert!(r["resources"]["app"].get("unsettled").is_none(), "{r}");
    r["resources"]["app"]["unsettled"] = true.into();
    r["resources"]["lb"]["unsettled"] = true.into();
    std::fs::write(&record, serde_json::to_vec_pretty(&r).unwrap()).unwrap();

    let (code, err) = finish(start(&d, &["apply", "stack.yaml"], &[]));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("settled") && err.contains("2 to change"), "the plan says it waits: {err}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert!(r["resources"]["app"].get("unsettled").is_none(), "{r}");
    assert!(r["resources"]["lb"].get("unsettled").is_none(), "{r}");
    assert!(r["resources"]["lb"]["attrs"]["dns_name"].is_string(), "{r}");
    let (code, err) = finish(start(&d, &["plan", "stack.yaml", "--detailed-exitcode"], &[]));
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = finish(start(&d, &["destroy", "stack.yaml"], &[]));
    assert_eq!(code, Some(0), "{err}");
}
