//! Checks before any change, against the moto emulator: what the plan and
//! a few reads can tell is found before the first write. `moor apply` of a
//! stack that can never apply stops at its plan, writes nothing (no AWS
//! object, no state record), and names the file, line, column and field.

mod support;

#[path = "support/fake.rs"]
mod fake;

use aws_sdk_ec2::types::{IpPermission, UserIdGroupPair};
use std::path::Path;
use support::{default_net, moor_in, provider, text, workdir};

/// The state records in a run's state directory.
fn records(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("state")) else { return Vec::new() };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".state.json"))
        .collect()
}

/// The `error:` blocks of a run's output (each error and its help line).
fn errors(out: &str) -> String {
    let mut keep = Vec::new();
    let mut lines = out.lines();
    while let Some(l) = lines.next() {
        if l.starts_with("error:") {
            keep.push(l.to_string());
            if let Some(help) = lines.next() {
                keep.push(help.to_string());
            }
        }
    }
    keep.join("\n")
}

async fn repository_exists(p: &moor::provider::aws::AwsProvider, name: &str) -> bool {
    p.ecr.describe_repositories().repository_names(name).send().await.is_ok()
}

const TRUST_LAMBDA: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const TRUST_ECS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

#[tokio::test(flavor = "multi_thread")]
async fn roles_ecs_tasks_may_not_assume_stop_the_apply_before_any_write() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    // ECS tasks are named, but may only tag a session, not assume the role.
    let tag_only = TRUST_ECS.replace("sts:AssumeRole", "sts:TagSession");
    for (name, trust) in
        [("checks-lambda-role", TRUST_LAMBDA), ("checks-ecs-role", TRUST_ECS), ("checks-tag-only-role", &tag_only)]
    {
        p.iam.create_role().role_name(name).assume_role_policy_document(trust).send().await.unwrap();
    }
    let stack = r#"stack: checks-roles
resources:
  repo:
    kind: ecr/repository
  lambda_role:
    kind: iam/existing_role
    name: checks-lambda-role
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    execution_role: ${lambda_role.arn}
    task_role: arn:aws:iam::123456789012:role/checks-lambda-role
    containers:
      - name: web
        image: nginx:1.27
  fine:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    execution_role: arn:aws:iam::123456789012:role/checks-ecs-role
    task_role: arn:aws:iam::123456789012:role/checks-no-such-role
    containers:
      - name: web
        image: nginx:1.27
  tag_only:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    execution_role: arn:aws:iam::123456789012:role/checks-tag-only-role
    containers:
      - name: web
        image: nginx:1.27
"#;
    let d = workdir("checks-roles", stack);
    let o = moor_in(&d, &["apply", "stack.yaml", "--auto-approve"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let found = errors(&out);
    assert!(
        found.contains(
            "stack.yaml:12:21 resources.task.execution_role: role `checks-lambda-role` cannot be assumed by ECS tasks"
        ),
        "{out}"
    );
    assert!(found.contains("stack.yaml:13:16 resources.task.task_role: role `checks-lambda-role`"), "{out}");
    assert!(
        found.contains("stack.yaml:22:16 resources.fine.task_role: role `checks-no-such-role` does not exist"),
        "{out}"
    );
    assert!(
        found.contains("stack.yaml:30:21 resources.tag_only.execution_role: role `checks-tag-only-role` cannot be assumed by ECS tasks: its trust policy allows sts:AssumeRole to no service"),
        "{out}"
    );
    assert!(!found.contains("checks-ecs-role"), "a role ECS tasks may assume is fine: {out}");
    assert!(out.contains("Nothing was changed."), "{out}");
    assert!(!repository_exists(&p, "checks-roles-repo").await, "nothing is created");
    assert!(records(&d).is_empty(), "no state record is written: {:?}", records(&d));
    insta::assert_snapshot!("role_not_assumable", found);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_security_group_given_by_id_that_keeps_the_balancer_out_stops_the_apply() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    // Open on port 80 to the VPC's default group only: not the balancer's
    // group, and not the container's port.
    let group = |name: &'static str| {
        let p = p.clone();
        let vpc = net.vpc.clone();
        async move {
            let g =
                p.ec2.create_security_group().group_name(name).description("test").vpc_id(vpc).send().await.unwrap();
            g.group_id().unwrap().to_string()
        }
    };
    let closed = group("checks-closed").await;
    let pair = UserIdGroupPair::builder().group_id(&net.sg).build();
    let perm = IpPermission::builder().ip_protocol("tcp").from_port(80).to_port(80).user_id_group_pairs(pair).build();
    p.ec2.authorize_security_group_ingress().group_id(&closed).ip_permissions(perm).send().await.unwrap();
    // Open on the container's port to the VPC's addresses: reachable.
    let open = group("checks-open").await;
    let perm = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(8080)
        .to_port(8080)
        .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("172.31.0.0/16").build())
        .build();
    p.ec2.authorize_security_group_ingress().group_id(&open).ip_permissions(perm).send().await.unwrap();

    let stack = |name: &str, groups: &str| {
        format!(
            r#"stack: {name}
resources:
  net:
    kind: ec2/default_vpc
  lb_sg:
    kind: ec2/security_group
    vpc: ${{net.vpc_id}}
    ingress:
      - {{ port: 80, cidr: 0.0.0.0/0 }}
  lb:
    kind: elbv2/load_balancer
    subnets: ${{net.subnet_ids}}
    security_groups: ["${{lb_sg.id}}"]
  web:
    kind: elbv2/target_group
    port: 8080
    vpc: ${{net.vpc_id}}
  http:
    kind: elbv2/listener
    load_balancer: ${{lb.arn}}
    port: 80
    default_action:
      forward: ${{web.arn}}
  cluster:
    kind: ecs/cluster
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    containers:
      - name: app
        image: nginx:1.27
        port_mappings:
          - container_port: 8080
  app:
    kind: ecs/service
    cluster: ${{cluster.arn}}
    task_definition: ${{task.arn}}
    network:
      subnets: ${{net.subnet_ids}}
      security_groups: [{groups}]
    load_balancers:
      - target_group: ${{web.arn}}
        container: app
        port: 8080
"#
        )
    };
    let d = workdir("checks-closed", &stack("checks-closed", &closed));
    let o = moor_in(&d, &["apply", "stack.yaml", "--auto-approve"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        errors(&out).contains("stack.yaml:41:7 resources.app.network.security_groups: load balancer `lb` cannot reach the tasks on port 8080"),
        "{out}"
    );
    assert!(records(&d).is_empty(), "no state record is written");
    let lbs = p.elb.describe_load_balancers().send().await.unwrap();
    assert!(lbs.load_balancers().is_empty(), "no load balancer is created");
    let groups = p.ec2.describe_security_groups().group_names("checks-closed-lb_sg").send().await;
    assert!(groups.map(|g| g.security_groups().is_empty()).unwrap_or(true), "no security group is created");
    let clusters = p.ecs.list_clusters().send().await.unwrap();
    assert!(clusters.cluster_arns().iter().all(|c| !c.contains("checks-closed")), "no cluster is created");

    // A group that admits the VPC on the port passes: no false alarm.
    let d = workdir("checks-open", &stack("checks-open", &open));
    let o = moor_in(&d, &["plan", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A group that does not exist is found before CreateService refuses it.
    let d = workdir("checks-missing", &stack("checks-missing", &format!("{open}, sg-0123456789abcdef0")));
    let o = moor_in(&d, &["plan", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        errors(&text(&o)).contains(
            "stack.yaml:41:47 resources.app.network.security_groups.1: security group `sg-0123456789abcdef0` does not exist"
        ),
        "{}",
        text(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_someone_else_holds_is_found_at_plan_time_and_located() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    p.ecr.create_repository().repository_name("checks-taken").send().await.unwrap();
    p.iam.create_role().role_name("checks-taken-role").assume_role_policy_document(TRUST_ECS).send().await.unwrap();
    p.logs.create_log_group().log_group_name("/checks/taken").send().await.unwrap();
    p.ecs.create_cluster().cluster_name("checks-taken-cluster").send().await.unwrap();
    let stack = r#"stack: checks-names
resources:
  logs:
    kind: logs/log_group
    name: /checks/names
  repo:
    kind: ecr/repository
    name: checks-taken
  role:
    kind: iam/role
    name: checks-taken-role
    assumed_by: { services: [ecs-tasks.amazonaws.com] }
  taken_logs:
    kind: logs/log_group
    name: /checks/taken
  cluster:
    kind: ecs/cluster
    name: checks-taken-cluster
"#;
    let d = workdir("checks-names", stack);
    let o = moor_in(&d, &["apply", "stack.yaml", "--auto-approve"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        errors(&out)
            .contains("stack.yaml:8:11 resources.repo.name: ecr/repository `checks-taken` exists but belongs to"),
        "{out}"
    );
    for (at, what) in [
        ("stack.yaml:11:11 resources.role.name", "iam/role `checks-taken-role`"),
        ("stack.yaml:15:11 resources.taken_logs.name", "logs/log_group `/checks/taken`"),
        ("stack.yaml:18:11 resources.cluster.name", "ecs/cluster `checks-taken-cluster`"),
    ] {
        assert!(errors(&out).contains(&format!("{at}: {what} exists but belongs to")), "{at}: {out}");
    }
    let groups = p.logs.describe_log_groups().log_group_name_prefix("/checks/names").send().await.unwrap();
    assert!(groups.log_groups().is_empty(), "nothing is created");
    assert!(records(&d).is_empty(), "no state record is written");
}

/// The checks' reads, on a provider that answers slowly: each literal id
/// once, all at once, beside the plan's reads.
const TWO_ROLES: &str = r#"stack: s
resources:
  a:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    execution_role: arn:aws:iam::123456789012:role/exec
    task_role: arn:aws:iam::123456789012:role/app
    containers: [{ name: web, image: nginx }]
  b:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    execution_role: arn:aws:iam::123456789012:role/exec
    containers: [{ name: web, image: nginx }]
"#;

async fn checked_plan(p: &fake::FakeProvider, stack: &moor::model::Stack) -> moor::plan::Plan {
    let state = support::empty(stack);
    let (graph, _) = moor::graph::build(stack);
    let (observed, reads) =
        tokio::join!(moor::observe::observe(p, stack, &graph, &state), moor::checks::read(p, stack, false));
    let observed = observed.map_err(|e| format!("{e:?}")).unwrap();
    let mut pl = moor::plan::plan(stack, &graph, &state, &observed, false, Default::default());
    moor::checks::check(stack, &mut pl, &observed, &reads);
    pl
}

#[tokio::test]
async fn the_checks_read_each_id_once_all_at_once() {
    let p = fake::FakeProvider::with_delay(std::time::Duration::from_millis(20));
    let stack = support::load(TWO_ROLES, &[]);
    let reads = moor::checks::read(&p, &stack, false).await;
    assert_eq!(reads.len(), 2, "two roles, one of them named twice");
    assert_eq!(p.count("read"), 2);
    assert_eq!(p.max_in_flight.load(std::sync::atomic::Ordering::SeqCst), 2, "both at once");
    // A destroy checks nothing, and reads nothing for it.
    assert!(moor::checks::read(&p, &stack, true).await.is_empty());
    assert_eq!(p.count("read"), 2);
}

#[tokio::test]
async fn a_check_whose_read_is_refused_is_a_warning_and_a_missing_role_a_problem() {
    let p = fake::FakeProvider::new();
    let stack = support::load(TWO_ROLES, &[]);
    // The checks' reads (and only theirs) fail, as without iam:GetRole.
    p.fail.lock().unwrap().push(("read", String::new()));
    let pl = checked_plan(&p, &stack).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    let warned: Vec<&str> = pl.notices.iter().map(|n| n.message.as_str()).collect();
    assert_eq!(warned.len(), 3, "{warned:?}");
    assert!(
        warned[0]
            .starts_with("stack.yaml:7:21 resources.a.execution_role: could not check who may assume role `exec`: ")
            && warned[0].contains("injected failure"),
        "{warned:?}"
    );
    // Read, the roles are not there: each use is a problem.
    p.fail.lock().unwrap().clear();
    let pl = checked_plan(&p, &stack).await;
    let problems: Vec<&str> = pl.problems.iter().map(|n| n.message.as_str()).collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems[1].starts_with("stack.yaml:8:16 resources.a.task_role: role `app` does not exist"),
        "{problems:?}"
    );
}
