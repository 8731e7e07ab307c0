//! The Flask stack through `scripts/latency-proxy`, the proxy the benchmarks
//! use: every request pays the proxy's delay, and the proxy's counts and
//! trace show what moor sent in each phase. This checks moor's round trips
//! as a user pays them (a no-change plan is one round of reads; a no-change
//! apply writes nothing), and checks the proxy itself (delay, counts, phases,
//! trace, and a record that keeps no credential and can be sent again).

mod support;

use support::text;

use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::proxy::FaultProxy;

const DELAY_MS: u64 = 200;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `scripts/latency-proxy` in front of this test's moto, with the delay, a
/// trace and a record of the plan phase.
fn start_proxy(trace: &Path, record: &Path) -> FaultProxy {
    let (trace, record) = (trace.as_os_str(), record.as_os_str());
    FaultProxy::start_with([
        OsStr::new("--delay-ms"),
        OsStr::new(&DELAY_MS.to_string()),
        OsStr::new("--trace"),
        trace,
        OsStr::new("--record"),
        record,
        OsStr::new("--record-phases=^plan$"),
    ])
}

fn moor(dir: &Path, proxy: &FaultProxy, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--var", "desired_count=0"]);
    moor_file(dir, proxy, &root().join("stacks/flask-app.yaml"), &all)
}

fn moor_file(dir: &Path, proxy: &FaultProxy, file: &Path, args: &[&str]) -> Output {
    proxy
        .moor()
        .args(args)
        .arg(file)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .current_dir(dir)
        .output()
        .expect("moor runs")
}

const WRITES: &[&str] = &[
    "Create",
    "Put",
    "Delete",
    "Update",
    "Modify",
    "Register",
    "Deregister",
    "Attach",
    "Detach",
    "Set",
    "Authorize",
    "Revoke",
    "Add",
    "Remove",
    "Tag",
    "Untag",
];

fn writes(counts: &serde_json::Map<String, Value>) -> Vec<String> {
    counts
        .keys()
        .filter(|op| WRITES.iter().any(|w| op.split(':').nth(1).unwrap_or("").starts_with(w)))
        .cloned()
        .collect()
}

fn total(counts: &serde_json::Map<String, Value>) -> u64 {
    counts.values().map(|v| v.as_u64().unwrap()).sum()
}

/// The trace's lines of one phase (each written just after its answer).
fn traced(trace: &Path, phase: &str) -> Vec<Value> {
    std::fs::read_to_string(trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["phase"] == phase)
        .collect()
}

/// Sends each request of a --record file to the emulator; prints each status.
const RESEND: &str = r#"
import base64, http.client, json, sys, urllib.parse
up = urllib.parse.urlparse(sys.argv[2])
for line in open(sys.argv[1]):
    r = json.loads(line)
    c = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
    c.request(r["method"], r["target"], body=base64.b64decode(r["body"]), headers=dict(r["fields"]))
    a = c.getresponse()
    a.read()
    print(a.status)
"#;

/// The trace's lines of one phase, once all `n` are written (a line is
/// written just after its answer is sent).
fn traced_all(trace: &Path, phase: &str, n: u64) -> Vec<Value> {
    let mut lines = traced(trace, phase);
    for _ in 0..50 {
        if lines.len() as u64 >= n {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        lines = traced(trace, phase);
    }
    lines
}

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("moor-proxy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn the_flask_stack_through_the_latency_proxy() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("flask");
    let (trace, record) = (d.join("trace.jsonl"), d.join("record.jsonl"));
    let proxy = start_proxy(&trace, &record);

    proxy.phase("apply");
    let o = moor(&d, &proxy, &["apply", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("Apply complete: 12 created"), "{}", text(&o));
    let apply = proxy.phase_counts("apply");
    for op in ["ecr:CreateRepository", "iam:CreateRole", "elasticloadbalancing:CreateLoadBalancer", "ecs:CreateService"]
    {
        assert_eq!(apply.get(op).and_then(Value::as_u64), Some(1), "{op} once in {apply:?}");
    }

    proxy.phase("plan");
    let o = moor(&d, &proxy, &["plan", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let plan = proxy.phase_counts("plan");
    assert!(writes(&plan).is_empty(), "a plan only reads: {plan:?}");
    let n = total(&plan);
    assert!(n > 0, "{plan:?}");

    proxy.phase("noop");
    let o = moor(&d, &proxy, &["apply", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let noop = proxy.phase_counts("noop");
    assert!(writes(&noop).is_empty(), "a no-change apply writes nothing: {noop:?}");

    // The plan's reads, sent again to the emulator straight from the record,
    // are answered as the first time: the credential scope is all it needs.
    let o = Command::new(root().join(".venv/bin/python"))
        .args(["-c", RESEND])
        .arg(&record)
        .arg(&support::moto().endpoint)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let statuses: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    assert_eq!(statuses.len() as u64, n, "{statuses:?}");
    // The image is not pushed: ECR answers DescribeImages with
    // ImageNotFoundException, as it did the first time.
    let ops: Vec<String> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["op"].as_str().unwrap_or_default().to_string())
        .collect();
    let answered: Vec<(&str, &str)> = ops.iter().map(String::as_str).zip(statuses.iter().copied()).collect();
    assert!(
        answered.iter().all(|(op, s)| *s == if *op == "ecr:DescribeImages" { "400" } else { "200" }),
        "{answered:?}"
    );

    proxy.phase("destroy");
    let o = moor(&d, &proxy, &["destroy", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("12 deleted"), "{}", text(&o));
    proxy.phase("idle");

    // The trace: every request paid the delay, and the no-change plan's reads
    // were one round, every one sent before the first answer came back.
    let lines = traced_all(&trace, "plan", n);
    assert_eq!(lines.len() as u64, n, "one trace line per counted request");
    let delay = DELAY_MS as f64 / 1000.0;
    for r in &lines {
        let took = r["end"].as_f64().unwrap() - r["start"].as_f64().unwrap();
        assert!(took >= delay, "{r} took {took:.3} s, less than the delay");
    }
    let last_start = lines.iter().map(|r| r["start"].as_f64().unwrap()).fold(f64::MIN, f64::max);
    let first_end = lines.iter().map(|r| r["end"].as_f64().unwrap()).fold(f64::MAX, f64::min);
    assert!(
        last_start < first_end,
        "the plan's reads are one round: the last started {:.3} s after the first answer",
        last_start - first_end
    );

    // The destroy: nothing is written to the role before it has been read
    // again and found to be the recorded one (the plan's read can be
    // minutes old by then), with what is attached to it listed beside;
    // then its policy is detached, then the role goes.
    let destroy = traced_all(&trace, "destroy", total(&proxy.phase_counts("destroy")));
    let one = |op: &str| span(&destroy, op);
    let (_, listed_end) = one("iam:ListInstanceProfilesForRole");
    let (detach_start, detach_end) = one("iam:DetachRolePolicy");
    let (delete_start, _) = one("iam:DeleteRole");
    assert!(detach_start >= listed_end, "the role is read before anything is detached from it");
    assert!(delete_start >= detach_end, "the role goes after");

    // The record: only the phase asked for, and no credential.
    let recorded = std::fs::read_to_string(&record).unwrap();
    assert_eq!(recorded.lines().count() as u64, n, "one record line per request of the plan");
    for line in recorded.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        assert_eq!(r["phase"], "plan");
        assert!(!line.contains("testing"), "no access key or secret in the record: {line}");
        assert!(line.contains("Credential=recorded/"), "{line}");
    }
}

/// The most requests in a row, each starting after the one before it ended:
/// the rounds spent one after another.
fn chain(lines: &[Value]) -> usize {
    let mut spans: Vec<(f64, f64)> =
        lines.iter().map(|r| (r["start"].as_f64().unwrap(), r["end"].as_f64().unwrap())).collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut longest = vec![1; spans.len()];
    for i in 0..spans.len() {
        for j in 0..i {
            if spans[j].1 <= spans[i].0 {
                longest[i] = longest[i].max(longest[j] + 1);
            }
        }
    }
    longest.into_iter().max().unwrap_or(0)
}

/// `(start, end)` of the one request of `op` among `lines`.
fn span(lines: &[Value], op: &str) -> (f64, f64) {
    let found: Vec<&Value> = lines.iter().filter(|r| r["op"] == op).collect();
    assert_eq!(found.len(), 1, "one {op} in {lines:#?}");
    (found[0]["start"].as_f64().unwrap(), found[0]["end"].as_f64().unwrap())
}

#[tokio::test]
async fn a_vpc_found_by_name_comes_with_its_tagged_subnets_in_one_round() {
    if support::skip_emulator() {
        return;
    }
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
    let p = support::provider().await;
    let tagged = |rt: ResourceType, k: &str, v: &str| {
        TagSpecification::builder().resource_type(rt).tags(Tag::builder().key(k).value(v).build()).build()
    };
    let vpc = p
        .ec2
        .create_vpc()
        .cidr_block("10.91.0.0/16")
        .tag_specifications(tagged(ResourceType::Vpc, "Name", "proxy-legacy"))
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    p.ec2
        .create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block("10.91.1.0/24")
        .tag_specifications(tagged(ResourceType::Subnet, "tier", "private"))
        .send()
        .await
        .unwrap();

    let d = workdir("lookup");
    let file = d.join("stack.yaml");
    // Target groups by names that do not exist take two rounds to read (the
    // names, refused, then the whole list); the group in the looked-up VPC
    // must not wait for them.
    std::fs::write(
        &file,
        format!(
            "stack: proxy-lookup\nregion: us-east-1\nresources:\n  net:\n    kind: ec2/existing_vpc\n    name: proxy-legacy\n    subnet_tags:\n      tier: private\n  sg:\n    kind: ec2/security_group\n    description: in the looked-up VPC\n    vpc: ${{net.vpc_id}}\n  tg:\n    kind: elbv2/target_group\n    name: proxy-lookup-tg\n    port: 80\n    target_type: ip\n    vpc: {vpc_id}\n  tg2:\n    kind: elbv2/target_group\n    name: proxy-lookup-tg2\n    port: 81\n    target_type: ip\n    vpc: {vpc_id}\n"
        ),
    )
    .unwrap();
    let (trace, record) = (d.join("trace.jsonl"), d.join("record.jsonl"));
    let proxy = start_proxy(&trace, &record);
    proxy.phase("lookup");
    let o = moor_file(&d, &proxy, &file, &["plan", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    proxy.phase("idle");
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan["summary"]["add"], 3, "{plan:#}");

    // The VPC and the subnets with the tags are read side by side; the group
    // by its name in that VPC once the VPC is known.
    let n = total(&proxy.phase_counts("lookup"));
    let lines = traced_all(&trace, "lookup", n);
    let vpcs = span(&lines, "ec2:DescribeVpcs");
    let subnets = span(&lines, "ec2:DescribeSubnets");
    let groups = span(&lines, "ec2:DescribeSecurityGroups");
    assert!(subnets.0 < vpcs.1 && vpcs.0 < subnets.1, "the subnets are read beside the VPC");
    assert!(groups.0 >= vpcs.1, "the group is looked for in the VPC found");
    // The target groups' own two rounds run beside these; a chain over all
    // the lines would link them to the group by timing alone (a slow first
    // round that ends just before the group's read ends), so each is
    // counted on its own.
    let (elb, rest): (Vec<Value>, Vec<Value>) =
        lines.iter().cloned().partition(|r| r["op"].as_str().is_some_and(|o| o.starts_with("elasticloadbalancing:")));
    assert_eq!(chain(&rest), 2, "two rounds: the lookup, then the group: {lines:#?}");
    assert!(chain(&elb) <= 2, "the target groups: their names, then the list: {lines:#?}");
    let tg_first = elb.iter().map(|r| r["start"].as_f64().unwrap()).fold(f64::INFINITY, f64::min);
    assert!(tg_first < vpcs.1, "the target groups are read beside the lookup, not after it: {lines:#?}");
}

/// A new revision's images are looked for in ECR beside its registration,
/// not after it: the deployment of the revision then starts without
/// asking again (one round less before a service deploys a new image).
#[tokio::test]
async fn a_new_revisions_images_are_looked_for_beside_its_registration() {
    if support::skip_emulator() {
        return;
    }
    let p = support::provider().await;
    let repo = "proxy-revision/web";
    let _ = p.ecr.delete_repository().repository_name(repo).force(true).send().await;
    p.ecr.create_repository().repository_name(repo).send().await.unwrap();
    support::push_image(&p, repo, "v1", 'd').await;
    support::push_image(&p, repo, "v2", 'e').await;

    let d = workdir("revision");
    let file = d.join("stack.yaml");
    std::fs::write(
        &file,
        format!(
            "stack: proxy-revision\nregion: us-east-1\nvariables:\n  tag:\n    default: v1\nresources:\n  exec:\n    kind: iam/role\n    assumed_by:\n      services: [ecs-tasks.amazonaws.com]\n  task:\n    kind: ecs/task_definition\n    cpu: 256\n    memory: 512\n    execution_role: ${{exec.arn}}\n    containers:\n      - name: web\n        image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/{repo}:${{var.tag}}\n"
        ),
    )
    .unwrap();
    let (trace, record) = (d.join("trace.jsonl"), d.join("record.jsonl"));
    let proxy = start_proxy(&trace, &record);
    let o = moor_file(&d, &proxy, &file, &["apply", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    proxy.phase("update");
    let o = moor_file(&d, &proxy, &file, &["apply", "--auto-approve", "--var", "tag=v2"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    proxy.phase("idle");

    let n = total(&proxy.phase_counts("update"));
    let lines = traced_all(&trace, "update", n);
    let registered = span(&lines, "ecs:RegisterTaskDefinition");
    let beside: Vec<&Value> = lines
        .iter()
        .filter(|r| {
            r["op"] == "ecr:DescribeImages"
                && r["start"].as_f64().unwrap() < registered.1
                && r["end"].as_f64().unwrap() > registered.0
        })
        .collect();
    assert_eq!(beside.len(), 1, "one DescribeImages beside the registration: {lines:#?}");

    let o = moor_file(&d, &proxy, &file, &["destroy", "--auto-approve", "--var", "tag=v2"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    p.ecr.delete_repository().repository_name(repo).force(true).send().await.unwrap();
}
