//! moor under AWS as it really behaves: the behaviour model of
//! `scripts/latency-proxy --aws-model` (figures in `scripts/aws-timings`),
//! at one twentieth of AWS's time, in front of moto.
//!
//! Each behaviour has its test: the model shows it (through the proxy, as
//! AWS would), and moor's apply and destroy come through it with nothing
//! left. The Flask and Django example stacks live their whole life under
//! it: apply, a new image, a replaced target group, destroy (at AWS's own
//! time with `MOOR_MODEL_SCALE=1`, see docs/benchmarks.md).

mod support;

use moor::provider::aws::AwsProvider;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use support::proxy::FaultProxy;
use support::{default_net, provider_via, text};

/// One twentieth of AWS's time.
const SCALE: f64 = 0.05;

/// The example stacks' time scale: `MOOR_MODEL_SCALE` (1 for AWS's own
/// time, about 20 minutes for both stacks side by side), else [`SCALE`].
fn example_scale() -> f64 {
    match std::env::var("MOOR_MODEL_SCALE") {
        Ok(v) => match v.parse::<f64>() {
            Ok(s) if s > 0.0 && s.is_finite() => s,
            _ => panic!("MOOR_MODEL_SCALE={v:?}: expected a positive number, such as 1 or 0.05"),
        },
        Err(_) => SCALE,
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn workdir(name: &str, stack: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("moor-model-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("stack.yaml"), stack).unwrap();
    d
}

/// `moor ARGS` in `dir` (its record in `dir/state`) through the proxy.
fn moor(proxy: &FaultProxy, dir: &Path, args: &[&str]) -> Output {
    proxy.moor().args(args).arg("--state-dir").arg(dir.join("state")).current_dir(dir).output().expect("moor runs")
}

fn ok(proxy: &FaultProxy, dir: &Path, args: &[&str]) -> String {
    let t = std::time::Instant::now();
    let out = moor(proxy, dir, args);
    eprintln!("{:?} {:?} {:.1}s", dir.file_name().unwrap(), args, t.elapsed().as_secs_f64());
    assert!(out.status.success(), "`moor {}` failed:\n{}", args.join(" "), text(&out));
    text(&out)
}

fn plan_json(proxy: &FaultProxy, dir: &Path, file: &str, vars: &[&str]) -> Value {
    let mut args = vec!["plan", file, "--format", "json"];
    args.extend_from_slice(vars);
    let out = moor(proxy, dir, &args);
    assert!(out.status.success(), "plan failed:\n{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The parts of a test stack.
#[derive(Clone, Copy, Default)]
struct Parts {
    /// A load balancer, a target group (deregistration delay `delay`) and
    /// a listener; the service registers with the target group.
    lb: Option<u32>,
    /// A cluster, a task definition and a service.
    service: bool,
    /// The task definition's execution role, made by the stack.
    role: bool,
    /// The tasks' own security group (else the VPC's default group; with
    /// a load balancer, always).
    own_sg: bool,
}

/// A stack of `parts`; variables `image`, `count` and `sg` (the default
/// group, which moor never deletes).
fn stack(name: &str, parts: Parts) -> String {
    let mut s = format!(
        "stack: {name}\nregion: us-east-1\nvariables:\n  image:\n    default: public.ecr.aws/docker/library/nginx:v1\n  count:\n    type: integer\n    default: 2\n  sg:\n    default: none\nresources:\n  net:\n    kind: ec2/default_vpc\n"
    );
    // Behind a load balancer, the tasks' group lets it in (moor checks that).
    let own_sg = parts.own_sg || parts.lb.is_some();
    if own_sg {
        s += "  app_sg:\n    kind: ec2/security_group\n    description: the tasks\n    vpc: ${net.vpc_id}\n";
        if parts.lb.is_some() {
            s += "    ingress:\n      - port: 80\n        source_group: ${var.sg}\n";
        }
    }
    if let Some(delay) = parts.lb {
        s += &format!(
            "  lb:\n    kind: elbv2/load_balancer\n    subnets: ${{net.subnet_ids}}\n    security_groups: [\"${{var.sg}}\"]\n  web:\n    kind: elbv2/target_group\n    port: 80\n    target_type: ip\n    vpc: ${{net.vpc_id}}\n    deregistration_delay: {delay}\n  http:\n    kind: elbv2/listener\n    load_balancer: ${{lb.arn}}\n    port: 80\n    default_action:\n      forward: ${{web.arn}}\n"
        );
    }
    if parts.service {
        if parts.role {
            s += "  exec_role:\n    kind: iam/role\n    assumed_by:\n      services: [ecs-tasks.amazonaws.com]\n";
        }
        s += "  cluster:\n    kind: ecs/cluster\n  task:\n    kind: ecs/task_definition\n    cpu: 256\n    memory: 512\n";
        if parts.role {
            s += "    execution_role: ${exec_role.arn}\n";
        }
        s += "    containers:\n      - name: web\n        image: ${var.image}\n        port_mappings:\n          - container_port: 80\n";
        let sg = if own_sg { "${app_sg.id}" } else { "${var.sg}" };
        s += &format!(
            "  app:\n    kind: ecs/service\n    cluster: ${{cluster.arn}}\n    task_definition: ${{task.arn}}\n    desired_count: ${{var.count}}\n    network:\n      subnets: ${{net.subnet_ids}}\n      security_groups: [\"{sg}\"]\n"
        );
        if parts.lb.is_some() {
            s += "    load_balancers:\n      - target_group: ${web.arn}\n        container: web\n        port: 80\n";
        }
        s += "    deployment:\n      circuit_breaker: { enable: true, rollback: true }\n";
    }
    s
}

/// A test stack under the model: its proxy, directory, a provider through
/// the proxy, and the `--var sg=…` every command takes.
struct Case {
    proxy: FaultProxy,
    dir: PathBuf,
    p: Arc<AwsProvider>,
    sg: String,
    first: Value,
}

impl Case {
    async fn new(name: &str, parts: Parts) -> Case {
        let proxy = FaultProxy::aws_model(SCALE);
        let p = provider_via(&proxy.url()).await;
        let sg = format!("sg={}", default_net(&p).await.sg);
        let dir = workdir(name, &stack(name, parts));
        let first = plan_json(&proxy, &dir, "stack.yaml", &["--var", &sg]);
        assert!(first["summary"]["add"].as_u64().unwrap() > 0);
        Case { proxy, dir, p, sg, first }
    }

    fn apply(&self, vars: &[&str]) -> String {
        let mut args = vec!["apply", "stack.yaml", "--auto-approve", "--var", &self.sg];
        for v in vars {
            args.extend(["--var", v]);
        }
        ok(&self.proxy, &self.dir, &args)
    }

    /// Destroys, then checks that nothing is left: the plan is the first
    /// one again.
    fn destroy(&self) -> String {
        let out =
            ok(&self.proxy, &self.dir, &["destroy", "stack.yaml", "--auto-approve", "--force", "--var", &self.sg]);
        let after = plan_json(&self.proxy, &self.dir, "stack.yaml", &["--var", &self.sg]);
        assert_eq!(after["summary"], self.first["summary"], "left behind: {}", after["changes"]);
        assert!(after["forget"].as_array().unwrap().is_empty(), "{}", after["forget"]);
        out
    }

    /// The service `app` of cluster `cluster` as AWS (the model) describes it.
    async fn service(&self, name: &str) -> aws_sdk_ecs::types::Service {
        let out =
            self.p.ecs.describe_services().cluster(format!("{name}-cluster")).services(format!("{name}-app")).send();
        let out = out.await.unwrap();
        out.services().first().cloned().unwrap_or_else(|| panic!("no service {name}-app: {out:?}"))
    }

    fn waits(&self, what: &str) -> usize {
        self.proxy.model()["waits"].as_array().unwrap().iter().filter(|w| w["what"] == what).count()
    }
}

fn lb_state(lb: &aws_sdk_elasticloadbalancingv2::types::LoadBalancer) -> String {
    lb.state().and_then(|s| s.code()).map(|c| c.as_str().to_string()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_load_balancer_provisions_for_minutes_and_apply_waits_it_out() {
    if support::skip_emulator() {
        return;
    }
    let c = Case::new("model-lb", Parts { lb: Some(0), ..Default::default() }).await;
    // Through the model, a load balancer made a moment ago is provisioning.
    let net = default_net(&c.p).await;
    let made = c.p.elb.create_load_balancer().name("model-lb-raw").set_subnets(Some(net.subnets.clone())).send();
    let arn = made.await.unwrap().load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let seen = c.p.elb.describe_load_balancers().load_balancer_arns(&arn).send().await.unwrap();
    assert_eq!(lb_state(&seen.load_balancers()[0]), "provisioning");

    c.apply(&[]);
    // moor's own load balancer is active once apply is done (it waited).
    let all = c.p.elb.describe_load_balancers().names("model-lb-lb").send().await.unwrap();
    assert_eq!(lb_state(&all.load_balancers()[0]), "active");
    assert_eq!(c.waits("load balancer provisioning"), 2);
    // And the first one too, now that its time is up.
    let seen = c.p.elb.describe_load_balancers().load_balancer_arns(&arn).send().await.unwrap();
    assert_eq!(lb_state(&seen.load_balancers()[0]), "active");
    c.p.elb.delete_load_balancer().load_balancer_arn(&arn).send().await.unwrap();
    c.destroy();
}

/// The listener is made while the load balancer provisions; stopped by
/// SIGTERM during that wait, apply records both, the load balancer as
/// unsettled, and the next apply waits for it until it is active.
#[tokio::test(flavor = "multi_thread")]
async fn stopped_while_its_load_balancer_provisions_apply_records_it_and_the_next_waits_again() {
    if support::skip_emulator() {
        return;
    }
    let c = Case::new("model-lbstop", Parts { lb: Some(0), ..Default::default() }).await;
    let record = c.dir.join("state/model-lbstop.state.json");
    let read =
        || -> Value { std::fs::read(&record).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default() };
    let child = c
        .proxy
        .moor()
        .args(["apply", "stack.yaml", "--auto-approve", "--var", &c.sg, "--state-dir"])
        .arg(c.dir.join("state"))
        .current_dir(&c.dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("moor runs");
    let t = std::time::Instant::now();
    // The listener is recorded while the load balancer still provisions (9 s).
    while !read()["resources"]["http"]["id"].is_string() {
        assert!(t.elapsed() < std::time::Duration::from_secs(8), "no listener before the load balancer was up");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let lb = c.p.elb.describe_load_balancers().names("model-lbstop-lb").send().await.unwrap();
    assert_eq!(lb_state(&lb.load_balancers()[0]), "provisioning");
    assert_eq!(read()["resources"]["lb"]["unsettled"], Value::Bool(true), "{}", read());
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", text(&out));
    let r = read();
    assert!(r["resources"]["lb"]["id"].is_string() && r["resources"]["http"]["id"].is_string(), "{r}");
    assert_eq!(r["resources"]["lb"]["unsettled"], Value::Bool(true), "{r}");

    // The next apply waits for it, and then it is settled.
    c.apply(&[]);
    let lb = c.p.elb.describe_load_balancers().names("model-lbstop-lb").send().await.unwrap();
    assert_eq!(lb_state(&lb.load_balancers()[0]), "active");
    assert!(read()["resources"]["lb"].get("unsettled").is_none(), "{}", read());
    assert_eq!(c.waits("load balancer provisioning"), 1);
    c.destroy();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_starts_its_tasks_over_minutes_and_apply_waits_for_it_to_complete() {
    if support::skip_emulator() {
        return;
    }
    let c = Case::new("model-deploy", Parts { service: true, ..Default::default() }).await;
    c.apply(&[]);
    // Right after apply: every task running, the rollout COMPLETED.
    let s = c.service("model-deploy").await;
    assert_eq!(s.running_count(), 2, "{s:?}");
    assert_eq!(s.deployments().len(), 1, "{s:?}");
    assert_eq!(s.deployments()[0].rollout_state().map(|r| r.as_str()), Some("COMPLETED"));

    // A new image: a new deployment, which apply waits out as well.
    c.apply(&["image=public.ecr.aws/docker/library/nginx:v2"]);
    let s = c.service("model-deploy").await;
    assert_eq!(s.deployments().len(), 1, "the old deployment is still there: {s:?}");
    let d = &s.deployments()[0];
    assert_eq!(d.rollout_state().map(|r| r.as_str()), Some("COMPLETED"), "{s:?}");
    assert_eq!(d.running_count(), 2);
    assert!(d.task_definition().unwrap().ends_with(":2"), "{d:?}");
    assert_eq!(c.waits("service deployment"), 2);
    c.destroy();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_whose_tasks_fail_health_checks_is_rolled_back_and_apply_says_so() {
    if support::skip_emulator() {
        return;
    }
    let c = Case::new("model-rollback", Parts { service: true, ..Default::default() }).await;
    c.apply(&[]);
    c.proxy.unhealthy("nginx:broken");
    let out = moor(
        &c.proxy,
        &c.dir,
        &[
            "apply",
            "stack.yaml",
            "--auto-approve",
            "--var",
            &c.sg,
            "--var",
            "image=public.ecr.aws/docker/library/nginx:broken",
        ],
    );
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("rolled back") && said.contains("circuit breaker"), "{said}");
    assert_eq!(c.proxy.model_events("circuit breaker rollback"), 1);
    // The service runs the revision it ran before.
    let s = c.service("model-rollback").await;
    assert!(s.task_definition().unwrap().ends_with(":1"), "{s:?}");
    assert_eq!(s.running_count(), 2, "{s:?}");
    c.destroy();
}

#[tokio::test(flavor = "multi_thread")]
async fn targets_drain_for_the_deregistration_delay_after_a_scale_down_and_a_delete() {
    if support::skip_emulator() {
        return;
    }
    let c = Case::new("model-drain", Parts { lb: Some(120), service: true, ..Default::default() }).await;
    c.apply(&[]);
    let all = c.p.elb.describe_target_groups().send().await.unwrap();
    let tg = all.target_groups().iter().find(|t| t.target_group_name().unwrap().starts_with("model-drain-web"));
    let tg = tg.expect("the target group").target_group_arn().unwrap().to_string();
    let health = || async {
        let out = c.p.elb.describe_target_health().target_group_arn(&tg).send().await.unwrap();
        let mut states: Vec<String> = out
            .target_health_descriptions()
            .iter()
            .filter_map(|d| d.target_health().and_then(|h| h.state()).map(|s| s.as_str().to_string()))
            .collect();
        states.sort();
        states
    };
    assert_eq!(health().await, ["healthy", "healthy"]);

    // One task fewer: its target drains for the delay (120 s, 6 s here).
    c.apply(&["count=1"]);
    assert_eq!(health().await, ["draining", "healthy"]);
    assert_eq!(c.waits("targets draining"), 1);

    // The service's delete drains the last one; the service is DRAINING
    // meanwhile, and destroy waits for it: the listener, the target group
    // and the load balancer go only after its targets were deregistered.
    c.destroy();
    assert_eq!(c.waits("targets draining"), 2);
    for op in ["DeleteListener", "DeleteTargetGroup", "DeleteLoadBalancer"] {
        let what = format!("elasticloadbalancing:{op} while targets drain");
        assert_eq!(c.proxy.model_events(&what), 0, "{}", c.proxy.model());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_interfaces_of_deleted_tasks_hold_their_security_group_and_destroy_waits_them_out() {
    if support::skip_emulator() {
        return;
    }
    let c = Case::new("model-eni", Parts { service: true, own_sg: true, ..Default::default() }).await;
    c.apply(&[]);
    c.destroy();
    // DeleteSecurityGroup was refused while the interfaces lingered.
    assert!(c.proxy.model_events("DependencyViolation ec2:DeleteSecurityGroup") >= 1, "{}", c.proxy.model());
    assert_eq!(c.waits("task network interfaces lingering"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_role_is_not_assumable_at_first_and_apply_retries_until_it_is() {
    if support::skip_emulator() {
        return;
    }
    let c = Case::new("model-role", Parts { service: true, role: true, ..Default::default() }).await;
    c.apply(&[]);
    let events = c.proxy.model()["events"].clone();
    let refused = ["ecs:RegisterTaskDefinition", "ecs:CreateService"]
        .iter()
        .map(|op| events[format!("unable to assume role {op}")].as_u64().unwrap_or(0))
        .sum::<u64>();
    assert!(refused >= 1, "the new role was never refused: {events}");
    assert_eq!(c.service("model-role").await.running_count(), 2);
    c.destroy();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apply_faster_than_the_token_buckets_is_throttled_and_completes() {
    if support::skip_emulator() {
        return;
    }
    let c = Case::new("model-throttle", Parts { service: true, ..Default::default() }).await;
    // A small bucket: one request at once, then one a second (the waits'
    // first polls come four a second).
    c.proxy.bucket("ecs:*", 1.0, 1.0);
    c.apply(&[]);
    let events = c.proxy.model()["events"].clone();
    let throttled: u64 = events
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("throttled ecs:"))
        .map(|(_, v)| v.as_u64().unwrap())
        .sum();
    assert!(throttled >= 1, "nothing was throttled: {events}");
    c.destroy();
}

// ---- the example stacks ----------------------------------------------------

/// Apply (without tasks while the repository is empty, then with them), a
/// new image, a replaced target group, destroy: each with no failure, and
/// nothing left.
async fn example_life(file: &str, repo: &str, port: u16) {
    let proxy = FaultProxy::aws_model(example_scale());
    let p = provider_via(&proxy.url()).await;
    let name = Path::new(file).file_stem().unwrap().to_string_lossy().to_string();
    let source = std::fs::read_to_string(root().join(file)).unwrap();
    let dir = workdir(&name, &source);
    let none = ["--var", "desired_count=0"];
    let first = plan_json(&proxy, &dir, "stack.yaml", &none);

    ok(&proxy, &dir, &["apply", "stack.yaml", "--auto-approve", "--var", "desired_count=0"]);
    support::push_image(&p, repo, "latest", 'd').await;
    support::push_image(&p, repo, "v2", 'e').await;
    ok(&proxy, &dir, &["apply", "stack.yaml", "--auto-approve"]);
    ok(&proxy, &dir, &["apply", "stack.yaml", "--auto-approve", "--var", "image_tag=v2"]);

    // The target group on another port: AWS cannot change it in place.
    let from = format!("    port: {port}\n    target_type: ip");
    assert!(source.contains(&from), "{file} changed: no `{from}`");
    std::fs::write(
        dir.join("stack.yaml"),
        source.replace(&from, &format!("    port: {}\n    target_type: ip", port + 1)),
    )
    .unwrap();
    let replaced = ok(&proxy, &dir, &["apply", "stack.yaml", "--auto-approve", "--var", "image_tag=v2"]);
    assert!(replaced.contains("replace"), "{replaced}");
    // The service moved to the new group with a deployment of its own.
    let deployments =
        proxy.model()["waits"].as_array().unwrap().iter().filter(|w| w["what"] == "service deployment").count();
    assert!(deployments >= 4, "{name}: {deployments} deployments: {}", proxy.model());
    let clean = moor(&proxy, &dir, &["plan", "stack.yaml", "--detailed-exitcode", "--var", "image_tag=v2"]);
    assert_eq!(clean.status.code(), Some(0), "{name}: the plan after apply is not empty:\n{}", text(&clean));

    ok(&proxy, &dir, &["destroy", "stack.yaml", "--auto-approve", "--force"]);
    let after = plan_json(&proxy, &dir, "stack.yaml", &none);
    assert_eq!(after["summary"], first["summary"], "{name}: left behind: {}", after["changes"]);
    assert!(after["forget"].as_array().unwrap().is_empty(), "{name}: {}", after["forget"]);
    // The model's waits all happened.
    let model = proxy.model();
    for what in ["load balancer provisioning", "service deployment", "task network interfaces lingering"] {
        assert!(model["waits"].as_array().unwrap().iter().any(|w| w["what"] == what), "{name}: no {what}: {model}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_flask_and_django_stacks_apply_update_replace_and_destroy_under_the_model() {
    if support::skip_emulator() {
        return;
    }
    // Side by side, each on its own thread (a run of `moor` blocks its thread).
    let life = |file: &'static str, repo: &'static str, port: u16| {
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
            rt.block_on(example_life(file, repo, port));
        })
    };
    let flask = life("stacks/flask-app.yaml", "course/flask-app", 5000);
    let django = life("stacks/django-app.yaml", "course/django-app", 8000);
    let (flask, django) = (flask.join(), django.join());
    flask.expect("the Flask stack's life");
    django.expect("the Django stack's life");
}
