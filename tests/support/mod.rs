//! Shared by the integration tests that run against the moto emulator.
//!
//! Each test binary starts one moto server on a free loopback port (moto is
//! installed into the project's `.venv` by `scripts/moto install`), and the
//! server stops when the test process exits. Tests share it and keep apart
//! by using their own stack names.

#![allow(dead_code)]

pub mod enforce;
pub mod proxy;

use moor::apply::{apply, ApplyOptions, MemoryStore, Quiet, Summary};
use moor::graph::build;
use moor::load::{load_str, LoadOptions};
use moor::model::Stack;
use moor::observe::observe;
use moor::plan::{plan, Plan, PlanOptions};
use moor::provider::aws::AwsProvider;
use moor::provider::{Provider, ProviderOptions};
use moor::state::State;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub struct Moto {
    pub endpoint: String,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The switch that skips the tests needing the emulator, for a quick local
/// run: `MOOR_SKIP_EMULATOR=1 cargo test` (or `scripts/test --quick`).
pub const SKIP_SWITCH: &str = "MOOR_SKIP_EMULATOR";

/// Whether `switch` (the value of [`SKIP_SWITCH`]) skips the emulator
/// tests: set and not `0` or empty, and never in CI (`CI=true`), so CI
/// always runs them all.
pub fn skipping(switch: Option<&str>, ci: Option<&str>) -> bool {
    let on = switch.is_some_and(|v| !v.trim().is_empty() && v.trim() != "0");
    let in_ci = ci.is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    on && !in_ci
}

fn skip_switch_on() -> bool {
    skipping(std::env::var(SKIP_SWITCH).ok().as_deref(), std::env::var("CI").ok().as_deref())
}

/// The first line of every test that needs the emulator:
/// `if support::skip_emulator() { return; }`. With the switch on, it says
/// on stderr which test is skipped (past the test harness's capture), and
/// adds its name to the file `MOOR_SKIP_LOG` names, from which
/// `scripts/test --quick` prints one count.
pub fn skip_emulator() -> bool {
    if !skip_switch_on() {
        return false;
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let exe = std::env::current_exe().ok();
    let binary = exe.as_ref().and_then(|p| p.file_stem()).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let binary = binary.split('-').next().unwrap_or_default().to_string();
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipped {binary}::{test}: needs the emulator ({SKIP_SWITCH} is set)");
    if let Some(log) = std::env::var_os("MOOR_SKIP_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(f, "{binary}::{test}");
        }
    }
    true
}

/// The moto server of this test process (see [`moto`]).
static MOTO: OnceLock<Moto> = OnceLock::new();

/// The moto server of this test process, started on first use.
pub fn moto() -> &'static Moto {
    MOTO.get_or_init(start_moto)
}

/// Starts moto on a free port and points the SDK at it, through
/// `scripts/moto-server`, which fixes moto's IAM enforcement (see
/// [`enforce`]) and keeps ECS's Service Connect configurations as AWS does
/// (docs/emulator.md).
fn start_moto() -> Moto {
    {
        assert!(
            !skip_switch_on(),
            "this test needs the emulator, but {SKIP_SWITCH} is set: its first line should be \
             `if support::skip_emulator() {{ return; }}`"
        );
        let st = Command::new("bash")
            .arg(root().join("scripts/moto"))
            .arg("install")
            .status()
            .expect("run scripts/moto install");
        assert!(st.success(), "scripts/moto install failed");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server =
            format!("{} {}", root().join(".venv/bin/python").display(), root().join("scripts/moto-server").display());
        // The shell stops moto when this test process is gone.
        let script = format!(
            "{server} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; while kill -0 {} 2>/dev/null; do sleep 0.5; done; kill $m",
            std::process::id()
        );
        // The shell outlives this call on purpose: it watches this process.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("MOTO_ECS_SERVICE_RUNNING", "100")
            // ACM issues a DNS-validated certificate this long after its
            // request (60 s by default), so waits for it are exercised.
            .env("MOTO_ACM_VALIDATION_WAIT", "2")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let endpoint = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "moto did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        // The SDK reads these like any AWS tool; nothing else is special.
        std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::remove_var("AWS_PROFILE");
        Moto { endpoint }
    }
}

pub async fn provider() -> Arc<AwsProvider> {
    moto();
    let opts = ProviderOptions {
        wait_timeout: Duration::from_secs(60),
        poll: Duration::from_millis(50),
        ..Default::default()
    };
    Arc::new(AwsProvider::connect(Some("us-east-1".into()), opts).await.expect("provider"))
}

/// A provider like [`provider`] whose every client goes to `url` (a
/// [`proxy::FaultProxy`] in front of this process's moto), with the retries
/// and timeouts `moor` itself uses.
pub async fn provider_via(url: &str) -> Arc<AwsProvider> {
    moto();
    let config = AwsProvider::config_loader(Some("us-east-1".into())).endpoint_url(url).load().await;
    let opts = ProviderOptions {
        wait_timeout: Duration::from_secs(60),
        poll: Duration::from_millis(50),
        ..Default::default()
    };
    Arc::new(AwsProvider::from_config(&config, "us-east-1".into(), opts))
}

pub fn load(text: &str, vars: &[&str]) -> Stack {
    let opts = LoadOptions { vars: vars.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    let l = load_str("stack.yaml", text, &opts);
    assert!(!l.has_errors(), "{:?}", l.diags.iter().map(|d| &d.message).collect::<Vec<_>>());
    let mut stack = l.stack.unwrap();
    // What a run does once STS has answered: the emulator's account.
    moor::resolve::fill_account(&mut stack, moor::preflight::EMULATOR_ACCOUNT);
    stack
}

pub fn empty(stack: &Stack) -> State {
    State::new(&stack.name, stack.region.as_deref())
}

pub async fn make_plan<P: Provider + ?Sized>(p: &P, stack: &Stack, state: &State, destroy: bool, force: bool) -> Plan {
    let (graph, _) = build(stack);
    let observed = observe(p, stack, &graph, state).await.map_err(|e| format!("{e:?}")).unwrap();
    plan(stack, &graph, state, &observed, destroy, PlanOptions { force })
}

/// Plans and applies; panics on plan problems.
pub async fn converge<P: Provider + 'static>(
    p: &Arc<P>,
    stack: &Stack,
    state: State,
    destroy: bool,
) -> (Plan, Summary, State) {
    converge_with(p, stack, state, destroy, false).await
}

/// [`converge`] with `--force` as given.
pub async fn converge_with<P: Provider + 'static>(
    p: &Arc<P>,
    stack: &Stack,
    state: State,
    destroy: bool,
    force: bool,
) -> (Plan, Summary, State) {
    let (graph, _) = build(stack);
    let pl = make_plan(p.as_ref(), stack, &state, destroy, force).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    let store = MemoryStore::default();
    let (summary, state) = apply(
        p.clone(),
        stack,
        &graph,
        &pl,
        state,
        &store,
        &ApplyOptions::default(),
        &Quiet,
        Arc::new(AtomicBool::new(false)),
    )
    .await;
    (pl, summary, state)
}

/// Applies, checks success, and checks that a plan right after shows no
/// change (no drift noise from AWS defaults). Returns the state.
pub async fn apply_clean<P: Provider + 'static>(p: &Arc<P>, stack: &Stack, state: State) -> State {
    let (_, summary, state) = converge(p, stack, state, false).await;
    assert!(summary.ok(), "apply failed: {:#?}", summary);
    let again = make_plan(p.as_ref(), stack, &state, false, false).await;
    let noisy: Vec<_> = again
        .changes
        .iter()
        .filter(|c| !matches!(c.action, moor::plan::Action::NoOp | moor::plan::Action::Read))
        .collect();
    assert!(noisy.is_empty(), "plan after apply is not empty: {noisy:#?}");
    state
}

/// Two default subnets in different zones and the default VPC's default group.
pub struct Net {
    pub vpc: String,
    pub subnets: Vec<String>,
    pub sg: String,
}

pub async fn default_net(p: &AwsProvider) -> Net {
    let out = p
        .ec2
        .describe_subnets()
        .filters(aws_sdk_ec2::types::Filter::builder().name("default-for-az").values("true").build())
        .send()
        .await
        .unwrap();
    let mut zones = std::collections::BTreeSet::new();
    let mut subnets = Vec::new();
    let mut vpc = String::new();
    for s in out.subnets() {
        if zones.insert(s.availability_zone().unwrap_or_default().to_string()) {
            subnets.push(s.subnet_id().unwrap().to_string());
            vpc = s.vpc_id().unwrap().to_string();
        }
        if subnets.len() == 2 {
            break;
        }
    }
    assert_eq!(subnets.len(), 2, "two default subnets");
    let groups = p
        .ec2
        .describe_security_groups()
        .filters(aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(&vpc).build())
        .filters(aws_sdk_ec2::types::Filter::builder().name("group-name").values("default").build())
        .send()
        .await
        .unwrap();
    let sg = groups.security_groups()[0].group_id().unwrap().to_string();
    Net { vpc, subnets, sg }
}

/// A fresh directory for one test (`moor-NAME-PID` in the temporary
/// directory), holding `stack` as `stack.yaml`.
pub fn workdir(name: &str, stack: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("moor-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("stack.yaml"), stack).unwrap();
    d
}

/// The `moor` binary run in `dir`, its record under `dir/state`, against
/// this test process's emulator.
pub fn moor_in(dir: &Path, args: &[&str]) -> std::process::Output {
    moto();
    Command::new(env!("CARGO_BIN_EXE_moor"))
        .args(args)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("moor runs")
}

/// What a run printed: its standard output, then its standard error.
pub fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The local stand-in for ECR Public (`scripts/ecr-public-standin`; moto
/// does not serve ECR Public), started on a free loopback port on first
/// use, with the registry alias [`PUBLIC_ALIAS`]. The SDK reaches it
/// through ECR Public's own endpoint variable, `AWS_ENDPOINT_URL_ECR_PUBLIC`,
/// set here before any provider is made; every other service still goes to
/// moto. It stops when the test process exits.
pub fn ecr_public() -> &'static str {
    static STANDIN: OnceLock<String> = OnceLock::new();
    STANDIN.get_or_init(|| {
        moto();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let script = format!(
            "python3 {} --port {port} --alias {PUBLIC_ALIAS} >/dev/null 2>&1 & m=$!; while kill -0 {} 2>/dev/null; do sleep 0.5; done; kill $m",
            root().join("scripts/ecr-public-standin").display(),
            std::process::id()
        );
        // The shell outlives this call on purpose: it watches this process.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the ECR Public stand-in");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "the ECR Public stand-in did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let endpoint = format!("http://127.0.0.1:{port}");
        std::env::set_var("AWS_ENDPOINT_URL_ECR_PUBLIC", &endpoint);
        endpoint
    })
}

/// Puts an image tagged `tag` into private repository `repo`, as a
/// `docker push` would: a manifest whose one layer's digest is `layer`
/// repeated, so that a different `layer` makes a different image (moto's
/// image digest is the hash of the layers' digests). Returns the digest ECR
/// answers.
pub async fn push_image(p: &AwsProvider, repo: &str, tag: &str, layer: char) -> String {
    push_image_sized(p, repo, tag, layer, 7023, 32654).await
}

/// [`push_image`] with the sizes its manifest gives: the emulator reports
/// `config` bytes as the image's `imageSizeInBytes` (ECR reports the
/// layers' compressed size; a test gives both the same).
pub async fn push_image_sized(p: &AwsProvider, repo: &str, tag: &str, layer: char, config: u64, layers: u64) -> String {
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config, "digest": format!("sha256:{}", "c".repeat(64))},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": layers, "digest": format!("sha256:{}", layer.to_string().repeat(64))}],
    });
    let out = p
        .ecr
        .put_image()
        .repository_name(repo)
        .image_manifest(manifest.to_string())
        .image_tag(tag)
        .send()
        .await
        .unwrap_or_else(|e| panic!("pushing {repo}:{tag}: {e:?}"));
    out.image()
        .and_then(|i| i.image_id())
        .and_then(|i| i.image_digest())
        .expect("PutImage answers a digest")
        .to_string()
}

/// The registry alias of the ECR Public stand-in.
pub const PUBLIC_ALIAS: &str = "moor-test";

/// Puts an image tagged `tag` into public repository `repository` of the
/// stand-in (as a `docker push` would); returns its digest.
pub fn push_public_image(repository: &str, tag: &str) -> String {
    use std::io::{Read, Write};
    let endpoint = ecr_public();
    let addr = endpoint.trim_start_matches("http://");
    let body = serde_json::json!({ "repositoryName": repository, "imageTag": tag }).to_string();
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the stand-in");
    write!(
        s,
        "POST /_standin/image HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let json = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(json).expect("JSON answer");
    v["imageDigest"].as_str().expect("a digest").to_string()
}

/// Helpers of the ECS emulator tests: the plan's action and changed fields
/// for a resource, a recorded id, a task definition and the active
/// revisions of a family as ECS holds them, and a destroy that must leave
/// nothing.
pub fn action(pl: &moor::plan::Plan, resource: &str) -> moor::plan::Action {
    pl.change(resource).unwrap_or_else(|| panic!("{resource} in plan")).action
}

pub fn changed_fields(pl: &moor::plan::Plan, resource: &str) -> Vec<String> {
    let mut f: Vec<String> = pl.change(resource).unwrap().diffs.iter().map(|d| d.field.clone()).collect();
    f.sort();
    f
}

pub fn id(state: &moor::state::State, resource: &str) -> String {
    state.resources[resource].id.clone()
}

pub async fn describe_td(p: &AwsProvider, arn: &str) -> aws_sdk_ecs::types::TaskDefinition {
    p.ecs.describe_task_definition().task_definition(arn).send().await.unwrap().task_definition.unwrap()
}

pub async fn active_revisions(p: &AwsProvider, family: &str) -> Vec<String> {
    let out = p
        .ecs
        .list_task_definitions()
        .family_prefix(family)
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    out.task_definition_arns().to_vec()
}

pub async fn destroy_all(p: &Arc<AwsProvider>, stack: &moor::model::Stack, state: moor::state::State) {
    let (_, summary, state) = converge(p, stack, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty(), "{:?}", state.resources.keys().collect::<Vec<_>>());
}
