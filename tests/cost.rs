//! `moor cost` and the plan's cost line: the arithmetic against figures
//! computed by hand, the region comparison, prices the table lacks (reported,
//! never counted as zero), the line a plan prints (before → after), and
//! `scripts/prices` reading AWS's price list format, and what a plan reads
//! of the images its ECR repositories hold (against the emulator).

#[path = "support/fake.rs"]
mod fake;
mod support;

use fake::FakeProvider;
use moor::apply::{apply, ApplyOptions, MemoryStore, Quiet};
use moor::cost::{estimate, plan_delta, plan_delta_with, Assumptions, Estimate, PriceTable, Stored};
use moor::graph::build;
use moor::load::{load_str, LoadOptions};
use moor::model::{Kind, Stack};
use moor::observe::observe;
use moor::plan::{plan, Plan, PlanOptions};
use moor::state::State;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn stack_from(text: &str, vars: &[&str]) -> Stack {
    let opts = LoadOptions { vars: vars.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    let l = load_str("stack.yaml", text, &opts);
    assert!(!l.has_errors(), "{:?}", l.diags.iter().map(|d| &d.message).collect::<Vec<_>>());
    l.stack.unwrap()
}

fn example(name: &str, vars: &[&str]) -> Stack {
    let text = std::fs::read_to_string(root().join("stacks").join(name)).unwrap();
    stack_from(&text, vars)
}

/// The monthly figure of one line of `resource`, found by its price key.
fn line(e: &Estimate, resource: &str, key: &str) -> Option<f64> {
    let l = e
        .lines
        .iter()
        .find(|l| l.resource == resource && l.price_key == key)
        .unwrap_or_else(|| panic!("no {key} line for {resource} in {:#?}", e.lines));
    l.monthly
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn the_flask_stack_costs_what_the_hand_computation_says() {
    // The Flask example in us-east-1, default assumptions, 730 hours:
    //   app (ecs/service): 2 tasks of 256 CPU units / 512 MiB, x86, assign_public_ip
    //     vCPU:  2 × 0.25 vCPU × 730 h = 365 vCPU-h × $0.04048  = $14.7752
    //     GB:    2 × 0.5 GB × 730 h    = 730 GB-h   × $0.004445 = $3.24485
    //     IPv4:  2 addresses × 730 h   = 1460 IP-h  × $0.005    = $7.30
    //   lb (elbv2/load_balancer), internet-facing, subnets ${net.subnet_ids}
    //     hours: 730 h × $0.0225                                = $16.425
    //     LCU:   1 LCU × 730 h = 730 LCU-h × $0.008             = $5.84
    //     IPv4:  2 zones (assumed) × 730 h = 1460 IP-h × $0.005 = $7.30
    //   repo (ecr/repository): 1 GB (assumed) × $0.10           = $0.10
    //   logs (logs/log_group), 14 days, written by app's 2 tasks
    //     ingestion: 2 tasks × 1 GB = 2 GB × $0.50              = $1.00
    //     storage:   2 GB × 14/30 = 0.93333 GB-mo × $0.03       = $0.028
    //   total = 14.7752 + 3.24485 + 7.30 + 16.425 + 5.84 + 7.30 + 0.10 + 1.00 + 0.028
    //         = $56.01305
    let stack = example("flask-app.yaml", &[]);
    let e = estimate(&stack, "us-east-1", &PriceTable::shipped(), &Assumptions::default());
    assert!(close(line(&e, "app", "fargate_vcpu_hour_x86").unwrap(), 14.7752));
    assert!(close(line(&e, "app", "fargate_gb_hour_x86").unwrap(), 3.24485));
    assert!(close(line(&e, "app", "public_ipv4_hour").unwrap(), 7.30));
    assert!(close(line(&e, "lb", "alb_hour").unwrap(), 16.425));
    assert!(close(line(&e, "lb", "alb_lcu_hour").unwrap(), 5.84));
    assert!(close(line(&e, "lb", "public_ipv4_hour").unwrap(), 7.30));
    assert!(close(line(&e, "repo", "ecr_gb_month").unwrap(), 0.10));
    assert!(close(line(&e, "logs", "logs_ingest_gb").unwrap(), 1.00));
    assert!(close(line(&e, "logs", "logs_storage_gb_month").unwrap(), 0.028));
    assert!(close(e.total, 56.01305), "{}", e.total);
    assert!(e.complete && e.missing.is_empty());
    assert_eq!(e.lines.len(), 9, "nothing else of the stack is billed: {:#?}", e.lines);
    // Every assumption used is said, with its flag.
    for flag in ["--lcu", "--lb-zones", "--ecr-gb", "--log-gb-per-task"] {
        assert!(e.assumptions.iter().any(|a| a.contains(flag)), "{flag} in {:?}", e.assumptions);
    }
}

#[test]
fn assumptions_and_the_task_count_change_the_figures() {
    // Three tasks, 3 LCU, 5 GB of logs per task:
    //   vCPU 3 × 0.25 × 730 × 0.04048 = 22.1628; LCU 3 × 730 × 0.008 = 17.52;
    //   logs ingestion 3 × 5 = 15 GB × 0.50 = 7.50.
    let stack = example("flask-app.yaml", &["desired_count=3"]);
    let a = Assumptions { lcu: 3.0, log_gb_per_task: 5.0, ..Assumptions::default() };
    let e = estimate(&stack, "us-east-1", &PriceTable::shipped(), &a);
    assert!(close(line(&e, "app", "fargate_vcpu_hour_x86").unwrap(), 22.1628));
    assert!(close(line(&e, "lb", "alb_lcu_hour").unwrap(), 17.52));
    assert!(close(line(&e, "logs", "logs_ingest_gb").unwrap(), 7.50));
}

const ARM_SCALED: &str = r#"
stack: arm
region: us-east-1
resources:
  cluster:
    kind: ecs/cluster
  task:
    kind: ecs/task_definition
    cpu: 1024
    memory: 2048
    runtime_platform:
      cpu_architecture: ARM64
    containers:
      - name: app
        image: public.ecr.aws/nginx/nginx:latest
  app:
    kind: ecs/service
    cluster: ${cluster.arn}
    task_definition: ${task.arn}
    desired_count: 5
    network:
      subnets: [subnet-1, subnet-2]
      security_groups: [sg-1]
  scale:
    kind: appautoscaling/ecs_service_scaling
    service: ${app.arn}
    min: 2
    max: 10
    target_tracking:
      - metric: cpu
        target: 60
    schedules:
      - { name: night, schedule: 'cron(0 20 * * ? *)', min: 1 }
      - { name: day, schedule: 'cron(0 7 * * ? *)', min: 2 }
"#;

#[test]
fn arm_tasks_are_priced_at_arm_prices_and_a_scaler_keeps_its_minimum() {
    // 2 tasks (the scaler's min, not desired_count 5) of 1 vCPU / 2 GB on ARM:
    //   vCPU 2 × 1 × 730 = 1460 × $0.03238 = $47.2748
    //   GB   2 × 2 × 730 = 2920 × $0.00356 = $10.3952
    // No public IP (assign_public_ip is off).
    let stack = stack_from(ARM_SCALED, &[]);
    let e = estimate(&stack, "us-east-1", &PriceTable::shipped(), &Assumptions::default());
    assert!(close(line(&e, "app", "fargate_vcpu_hour_arm").unwrap(), 47.2748));
    assert!(close(line(&e, "app", "fargate_gb_hour_arm").unwrap(), 10.3952));
    assert!(!e.lines.iter().any(|l| l.price_key == "public_ipv4_hour"));
    assert!(close(e.total, 57.67), "{}", e.total);
    assert!(
        e.assumptions.iter().any(|a| a.contains("minimum of its scaler `scale`")
            && a.ends_with("its schedules lower that minimum to 1 at times)")),
        "{:?}",
        e.assumptions
    );
}

#[test]
fn a_nat_gateway_is_priced_by_the_hour_the_gb_and_its_elastic_ip() {
    // production.yaml's one NAT gateway, 10 GB assumed:
    //   730 h × $0.045 = $32.85; 10 GB × $0.045 = $0.45; EIP 730 × $0.005 = $3.65
    let stack = example("production.yaml", &["domain=example.org"]);
    let e = estimate(&stack, "us-east-1", &PriceTable::shipped(), &Assumptions::default());
    let nat = stack.resources.iter().find(|r| r.kind() == Kind::Ec2NatGateway).unwrap();
    assert!(close(line(&e, &nat.name, "nat_hour").unwrap(), 32.85));
    assert!(close(line(&e, &nat.name, "nat_gb").unwrap(), 0.45));
    assert!(close(line(&e, &nat.name, "public_ipv4_hour").unwrap(), 3.65));
    assert!(e.assumptions.iter().any(|a| a.contains("--nat-gb")));
}

const PARTIAL_TABLE: &str = r#"{
  "date": "2026-01-01", "currency": "USD", "source": "test",
  "regions": {
    "xx-test-1": {
      "fargate_vcpu_hour_x86": {"price": 0.05, "from": "test"},
      "fargate_gb_hour_x86": {"price": null, "from": "not published for this region"},
      "alb_hour": {"price": 0.03, "from": "test"}
    }
  }
}"#;

#[test]
fn a_missing_price_is_reported_and_left_out_of_the_total_never_counted_as_zero() {
    let table = PriceTable::parse(PARTIAL_TABLE).unwrap();
    let stack = example("flask-app.yaml", &[]);
    let e = estimate(&stack, "xx-test-1", &table, &Assumptions::default());
    assert_eq!(line(&e, "app", "fargate_gb_hour_x86"), None, "no price, no figure");
    let gb = e.lines.iter().find(|l| l.price_key == "fargate_gb_hour_x86").unwrap();
    assert_eq!(gb.unit_price, None);
    assert!(!e.complete);
    assert!(
        e.missing.iter().any(|m| m.contains("Fargate x86 GB-hour") && m.contains("not published")),
        "{:?}",
        e.missing
    );
    // The priced lines only: 365 vCPU-h × 0.05 + 730 h × 0.03.
    assert!(close(e.total, 18.25 + 21.9), "{}", e.total);
    let text = moor::cost::render(&e, &stack.name);
    assert!(text.contains("price missing"), "{text}");
    assert!(text.contains("some prices missing"), "{text}");
    assert!(text.contains("Missing prices (left out of the total, not counted as zero)"), "{text}");
}

fn moor(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_moor"))
        .args(args)
        .current_dir(root())
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_ACCESS_KEY_ID", "none")
        .env("AWS_SECRET_ACCESS_KEY", "none")
        // Nothing may be called: an endpoint that answers nothing.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn the_shipped_table_prices_its_five_regions_fully_and_names_each_source() {
    // Every figure of these regions has a price, and says where it was read:
    // a public repository file (github:owner/name path) or a page address.
    let t = PriceTable::shipped();
    use moor::cost::Price;
    for region in ["us-east-1", "us-east-2", "sa-east-1", "eu-west-1", "ap-southeast-1"] {
        for p in Price::ALL {
            let v = t.price(region, p).unwrap_or_else(|e| panic!("{e}"));
            assert!(v > 0.0, "{region} {}: {v}", p.key());
            let from = &t.regions[region][p.key()].from;
            assert!(from.starts_with("github:") || from.starts_with("https://"), "{region} {}: {from}", p.key());
        }
    }
}

// With --compare-regions, the same stack in each region, side by side.
#[test]
fn cost_compares_regions_side_by_side_without_calling_aws() {
    let o = moor(&["cost", "stacks/flask-app.yaml", "--compare-regions", "us-east-2,eu-west-1"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&o.stderr));
    insta::assert_snapshot!(stdout);
}

#[test]
fn cost_itemizes_the_estimate_and_its_json_adds_up() {
    let o = moor(&["cost", "stacks/flask-app.yaml"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    insta::assert_snapshot!(stdout);
    let o = moor(&["cost", "stacks/flask-app.yaml", "--json", "--lcu", "2", "--region", "us-east-1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // 56.01305 with one LCU more: + 730 × 0.008 = 5.84.
    assert!(close(v["total"].as_f64().unwrap(), 61.85305), "{v}");
    assert_eq!(v["region"], "us-east-1");
    assert!(v["assumptions"].as_array().unwrap().iter().any(|a| a.as_str().unwrap().contains("2 LCU")));
}

#[test]
fn cost_refuses_a_bad_assumption() {
    let o = moor(&["cost", "stacks/flask-app.yaml", "--lcu=-1"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a number zero or more"));
}

async fn make_plan(p: &FakeProvider, stack: &Stack, state: &State) -> Plan {
    let (graph, _) = build(stack);
    let observed = observe(p, stack, &graph, state).await.map_err(|e| format!("{e:?}")).unwrap();
    plan(stack, &graph, state, &observed, false, PlanOptions::default())
}

#[tokio::test]
async fn the_plan_line_shows_the_cost_before_and_after() {
    let p = Arc::new(FakeProvider::new());
    p.seed("net", Kind::Ec2DefaultVpc, None, &[]);
    // Applied with no tasks (its new repository holds no image to run).
    let a = example("flask-app.yaml", &["desired_count=0"]);
    let state = State::new(&a.name, a.region.as_deref());
    let first = make_plan(&p, &a, &state).await;
    let table = PriceTable::shipped();
    let d = plan_delta(&a, &first, "us-east-1", &table, &Assumptions::default());
    assert_eq!(d.before.total, 0.0, "nothing exists yet");
    assert!(d.billable_change());
    let (graph, _) = build(&a);
    let store = MemoryStore::default();
    let (_, state) = apply(
        p.clone(),
        &a,
        &graph,
        &first,
        state,
        &store,
        &ApplyOptions { parallelism: 4 },
        &Quiet,
        Arc::new(AtomicBool::new(false)),
    )
    .await;
    // Nothing changes: the same figure before and after, and nothing billable.
    let same = make_plan(&p, &a, &state).await;
    let d = plan_delta(&a, &same, "us-east-1", &table, &Assumptions::default());
    assert!(!d.billable_change(), "{:#?}", d);
    assert!(close(d.before.total, d.after.total));
    // Three tasks: the difference is three tasks' Fargate time, their
    // addresses and their logs:
    //   3 × (0.25 × 730 × 0.04048 + 0.5 × 730 × 0.004445 + 730 × 0.005)
    //     + 3 GB × 0.50 + 3 × 14/30 GB × 0.03
    //   = 3 × (7.3876 + 1.622425 + 3.65) + 1.50 + 0.042 = 39.522075
    let b = example("flask-app.yaml", &["desired_count=3"]);
    let more = make_plan(&p, &b, &state).await;
    let d = plan_delta(&b, &more, "us-east-1", &table, &Assumptions::default());
    assert!(d.billable_change());
    assert!(close(d.after.total - d.before.total, 39.522075), "{} → {}", d.before.total, d.after.total);
    insta::assert_snapshot!(d.line());
}

const GIB: u64 = 1 << 30;

const REGISTRY: &str = r#"
stack: cost-ecr
region: us-east-1
resources:
  kept:
    kind: ecr/repository
    empty_on_delete: true
  exec:
    kind: iam/role
    assumed_by:
      services: [ecs-tasks.amazonaws.com]
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    execution_role: ${exec.arn}
    containers:
      - name: app
        image: ${kept.uri}:v2
"#;

#[tokio::test]
async fn what_a_repository_holds_replaces_the_assumption_and_is_priced_by_the_gb() {
    // Applied, so `kept` exists; what ECR says it holds is given.
    let p = Arc::new(FakeProvider::new());
    let stack = stack_from(REGISTRY, &[]);
    let state = State::new(&stack.name, stack.region.as_deref());
    let first = make_plan(&p, &stack, &state).await;
    // Before the first apply, the repository does not exist: assumed, and said why.
    let d = plan_delta(&stack, &first, "us-east-1", &PriceTable::shipped(), &Assumptions::default());
    assert!(
        d.line().contains("kept: 1 GB of images stored (--ecr-gb), as its repository does not exist yet"),
        "{}",
        d.line()
    );
    let (graph, _) = build(&stack);
    let (summary, state) = apply(
        p.clone(),
        &stack,
        &graph,
        &first,
        state,
        &MemoryStore::default(),
        &ApplyOptions { parallelism: 4 },
        &Quiet,
        Arc::new(AtomicBool::new(false)),
    )
    .await;
    assert!(summary.ok(), "{summary:#?}");
    let again = make_plan(&p, &stack, &state).await;
    // 2.5 GB (2 GiB + 0.5 GiB) × $0.10 per GB-month = $0.25, before and after.
    let held = Stored { repository: "cost-ecr/kept".into(), bytes: 2 * GIB + GIB / 2, images: 2 };
    let read = BTreeMap::from([("kept".to_string(), Ok(held))]);
    let d = plan_delta_with(&stack, &again, "us-east-1", &PriceTable::shipped(), &Assumptions::default(), &read);
    for e in [&d.before, &d.after] {
        let l = e.lines.iter().find(|l| l.resource == "kept").unwrap();
        assert_eq!(l.item, "2.5 GB stored in cost-ecr/kept (2 images, as ECR reports)");
        assert!(close(l.quantity, 2.5) && close(l.monthly.unwrap(), 0.25), "{l:?}");
        assert!(!e.assumptions.iter().any(|a| a.contains("--ecr-gb")), "{:?}", e.assumptions);
    }
    assert!(d.line().contains("$0.25 → $0.25"), "{}", d.line());
    // A listing ECR refused: the assumption stays, with the call and AWS's answer.
    let why = "ECR did not list its images (ecr:DescribeImages failed: AccessDeniedException: not allowed)";
    let read = BTreeMap::from([("kept".to_string(), Err(why.to_string()))]);
    let d = plan_delta_with(&stack, &again, "us-east-1", &PriceTable::shipped(), &Assumptions::default(), &read);
    assert!(d.line().contains(&format!("kept: 1 GB of images stored (--ecr-gb), as {why}")), "{}", d.line());
}

#[tokio::test]
async fn the_plan_prices_ecr_storage_from_the_images_the_repositories_hold() {
    if support::skip_emulator() {
        return;
    }
    let dir = support::workdir("cost-ecr", REGISTRY);
    let o = support::moor_in(&dir, &["apply", "stack.yaml", "--auto-approve"]);
    assert!(o.status.success(), "{}", support::text(&o));
    // Two images, one the file does not name: 2 GiB and 0.5 GiB as ECR
    // reports them.
    let p = support::provider().await;
    support::push_image_sized(&p, "cost-ecr/kept", "v1", 'a', 2 * GIB, 2 * GIB).await;
    support::push_image_sized(&p, "cost-ecr/kept", "v2", 'b', GIB / 2, GIB / 2).await;
    // And a second repository, which the plan creates.
    std::fs::write(dir.join("stack.yaml"), format!("{REGISTRY}  fresh:\n    kind: ecr/repository\n")).unwrap();
    // Through the counting proxy: the plan's own DescribeImages (the tag
    // `v2` the task definition names), and one listing of `kept` for the
    // cost line; `fresh` does not exist, so it is not asked for.
    let proxy = support::proxy::FaultProxy::start();
    let plan = |phase: &str, flag: &str| {
        proxy.phase(phase);
        let o = proxy
            .moor()
            .args(["plan", "stack.yaml", flag, "--state-dir"])
            .arg(dir.join("state"))
            .current_dir(&dir)
            .output()
            .unwrap();
        let describes = proxy.phase_counts(phase).get("ecr:DescribeImages").and_then(|n| n.as_u64()).unwrap_or(0);
        (o, describes)
    };
    let (o, describes) = plan("cost", "--cost");
    let out = support::text(&o);
    assert!(o.status.success(), "{out}");
    assert_eq!(describes, 2, "{out}");
    // Before: 2.5 GB × $0.10 = $0.25. After: the same, and `fresh` at the
    // assumed 1 GB × $0.10 = $0.10.
    assert!(out.contains("Cost: $0.25 → $0.35 per month (+$0.10) in us-east-1"), "{out}");
    assert!(out.contains("; 2.5 GB stored in cost-ecr/kept (2 images, as ECR reports);"), "{out}");
    assert!(out.contains("fresh: 1 GB of images stored (--ecr-gb), as its repository does not exist yet"), "{out}");
    assert!(!out.contains("kept: 1 GB"), "{out}");
    // --no-cost: no cost line, and no listing.
    let (o, describes) = plan("no-cost", "--no-cost");
    assert!(o.status.success() && !support::text(&o).contains("Cost:"), "{}", support::text(&o));
    assert_eq!(describes, 1);
}

#[test]
fn scripts_prices_reads_the_price_list_format() {
    let fixture = root().join("tests/fixtures/prices");
    let o = Command::new("python3")
        .arg(root().join("scripts/prices"))
        .arg(&fixture)
        .args(["--regions", "us-east-1,us-east-2"])
        .output()
        .expect("python3 runs scripts/prices");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = PriceTable::parse(&String::from_utf8_lossy(&o.stdout)).unwrap();
    use moor::cost::Price;
    // The on-demand price of the usage type, not Spot's.
    assert_eq!(t.price("us-east-1", Price::FargateVcpuX86), Ok(0.04048));
    assert_eq!(t.price("us-east-1", Price::FargateGbX86), Ok(0.004445));
    // The first tier of a tiered price, from the VPC offer of another region.
    assert_eq!(t.price("us-east-2", Price::NatGb), Ok(0.045));
    assert_eq!(t.price("us-east-2", Price::PublicIpv4Hour), Ok(0.005));
    // What the files do not hold is null with the reason, never zero.
    let e = t.price("us-east-2", Price::FargateVcpuX86).unwrap_err();
    assert!(e.contains("not found"), "{e}");
    let figure = &t.regions["us-east-1"]["fargate_vcpu_hour_x86"];
    assert!(figure.from.contains("TESTSKUVCPUX86A") && figure.from.contains("AmazonECS"), "{}", figure.from);
    assert_eq!(t.date, "2025-10-15");
    assert!(String::from_utf8_lossy(&o.stderr).contains("no alb_hour price for us-east-1"));
}

#[test]
fn scripts_prices_refuses_a_file_that_is_not_a_price_list() {
    let dir = std::env::temp_dir().join(format!("moor-prices-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.json"), "{\"hello\": 1}").unwrap();
    let o = Command::new("python3").arg(root().join("scripts/prices")).arg(&dir).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an AWS price list offer file"));
}
