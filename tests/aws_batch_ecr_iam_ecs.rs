mod support;

// Reading many ECR, IAM and ECS resources at once against the moto
// emulator: a batch read returns exactly what reading each resource on its
// own returns, and a plan of a converged stack costs a bounded number of
// calls per kind (many names per Describe call, account-wide listings for
// IAM, no repeated reads).

use moor::model::{Kind, Spec, Stack};
use moor::plan::Action;
use moor::provider::aws::{AwsProvider, CallCounter};
use moor::provider::{Provider, Target};
use moor::resolve::Known;
use moor::state::State;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use support::{apply_clean, empty, load, make_plan};

const REPOS: usize = 25;
const POLICIES: usize = 10;
const ROLES: usize = 15;
const CLUSTERS: usize = 5;
const TASKS: usize = 12;
/// Services of the first cluster; one more runs in the second.
const SERVICES_C0: usize = 11;

/// The test provider, with its ECR, IAM and ECS clients counting calls.
async fn provider() -> (Arc<AwsProvider>, CallCounter) {
    let base = support::provider().await;
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    let calls = CallCounter::default();
    let p = AwsProvider {
        ecr: aws_sdk_ecr::Client::from_conf(
            aws_sdk_ecr::config::Builder::from(&conf).interceptor(calls.clone()).build(),
        ),
        iam: aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&conf).interceptor(calls.clone()).build(),
        ),
        ecs: aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::config::Builder::from(&conf).interceptor(calls.clone()).build(),
        ),
        ec2: base.ec2.clone(),
        elb: base.elb.clone(),
        logs: base.logs.clone(),
        acm: base.acm.clone(),
        route53: base.route53.clone(),
        ecr_public: base.ecr_public.clone(),
        ecr_public_alias: Default::default(),
        appautoscaling: base.appautoscaling.clone(),
        servicediscovery: base.servicediscovery.clone(),
        tagging: base.tagging.clone(),
        sts: base.sts.clone(),
        endpoint: base.endpoint.clone(),
        region: base.region.clone(),
        opts: base.opts.clone(),
        calls: base.calls.clone(),
        namespace_names: Default::default(),
        revision_images: Default::default(),
        images_found: Default::default(),
    };
    (Arc::new(p), calls)
}

/// The big stack: repositories (some with a lifecycle, some with a
/// repository policy), policies on them, roles (some with policies
/// attached, some with inline policies), clusters, task definitions run by
/// the roles, services, and one lookup of each lookup kind of these services.
fn big_stack(stack: &str, lookup_repo: &str, lookup_role: &str) -> String {
    let mut s = format!(
        "stack: {stack}
region: us-east-1
tags:
  suite: batch
variables:
  subnets: {{ type: list }}
  sg: {{}}
resources:
  base:
    kind: ecr/existing_repository
    name: {lookup_repo}
  ops:
    kind: iam/existing_role
    name: {lookup_role}
"
    );
    for i in 0..REPOS {
        writeln!(s, "  r{i}:\n    kind: ecr/repository\n    scan_on_push: {}", i % 2 == 0).unwrap();
        if i % 4 == 1 {
            s.push_str("    tag_mutability: immutable\n");
        }
        if i % 3 == 0 {
            s.push_str("    lifecycle:\n      keep_last: 20\n      expire_untagged_after_days: 7\n");
        }
        if i % 5 == 0 {
            s.push_str(
                "    pull_access:\n      accounts: [\"210987654321\"]\n      services: [codebuild.amazonaws.com]\n",
            );
        }
        writeln!(s, "    tags:\n      unit: u{i}").unwrap();
    }
    for i in 0..POLICIES {
        writeln!(
            s,
            "  p{i}:
    kind: iam/policy
    description: Pull r{i}
    document:
      statements:
        - actions: [ecr:BatchGetImage, ecr:GetDownloadUrlForLayer]
          resources: [\"${{r{i}.arn}}\"]
        - actions: [iam:PassRole]
          resources: [\"${{ops.arn}}\"]"
        )
        .unwrap();
    }
    for i in 0..ROLES {
        writeln!(
            s,
            "  role{i}:
    kind: iam/role
    description: Execution role {i}
    assumed_by:
      services: [ecs-tasks.amazonaws.com]"
        )
        .unwrap();
        if i < POLICIES {
            writeln!(s, "    policies: [\"${{p{i}.arn}}\"]").unwrap();
        }
        if i % 3 == 0 {
            s.push_str(
                "    inline_policies:
      logs:
        statements:
          - actions: [logs:CreateLogStream, logs:PutLogEvents]
            resources: [\"*\"]
",
            );
        }
        if i % 4 == 2 {
            s.push_str("    max_session_duration: 7200\n");
        }
    }
    for i in 0..CLUSTERS {
        writeln!(s, "  c{i}:\n    kind: ecs/cluster").unwrap();
        if i == 0 {
            s.push_str("    container_insights: enabled\n");
        }
    }
    for i in 0..TASKS {
        writeln!(
            s,
            "  t{i}:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    execution_role: ${{role{i}.arn}}
    containers:
      - name: web
        image: nginx:1.27
        port_mappings:
          - container_port: 80
        environment:
          UNIT: u{i}"
        )
        .unwrap();
    }
    for i in 0..TASKS {
        let cluster = if i < SERVICES_C0 { "c0" } else { "c1" };
        writeln!(
            s,
            "  s{i}:
    kind: ecs/service
    cluster: ${{{cluster}.arn}}
    task_definition: ${{t{i}.arn}}
    desired_count: 1
    network:
      subnets: ${{var.subnets}}
      security_groups: ['${{var.sg}}']
      assign_public_ip: true"
        )
        .unwrap();
    }
    s
}

async fn load_big(p: &AwsProvider, stack: &str) -> Stack {
    let lookup_repo = format!("{stack}-lookup/base");
    let lookup_role = format!("{stack}-ops");
    p.ecr.create_repository().repository_name(&lookup_repo).send().await.unwrap();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    p.iam.create_role().role_name(&lookup_role).assume_role_policy_document(trust).send().await.unwrap();
    let support::Net { subnets, sg, .. } = support::default_net(p).await;
    let vars = [format!("subnets=[{}]", subnets.join(", ")), format!("sg={sg}")];
    let vars: Vec<&str> = vars.iter().map(String::as_str).collect();
    load(&big_stack(stack, &lookup_repo, &lookup_role), &vars)
}

/// Targets of every resource, with what the last apply recorded known.
fn targets(stack: &Stack, state: &State) -> Vec<Target> {
    let known: Known = state.resources.iter().map(|(n, e)| (n.clone(), e.attrs.clone())).collect();
    stack.resources.iter().map(|r| moor::plan::target(stack, &r.name, &known, state).0).collect()
}

fn count(calls: &BTreeMap<String, usize>, op: &str) -> usize {
    calls.get(op).copied().unwrap_or(0)
}

/// Calls of the reads of the three services, without EC2 and ELBv2's.
fn own_calls(calls: &BTreeMap<String, usize>) -> BTreeMap<String, usize> {
    calls
        .iter()
        .filter(|(k, _)| k.starts_with("ecr:") || k.starts_with("iam:") || k.starts_with("ecs:"))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

#[tokio::test]
async fn a_converged_stack_is_read_in_few_calls_and_exactly_as_one_by_one() {
    if support::skip_emulator() {
        return;
    }
    let (p, calls) = provider().await;
    let stack = load_big(&p, "t-batch").await;
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let resources = stack.resources.len();
    assert_eq!(resources, 2 + REPOS + POLICIES + ROLES + CLUSTERS + 2 * TASKS);

    // A plan of the converged stack.
    calls.reset();
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    let snap = calls.snapshot();
    eprintln!("plan of {resources} resources: {snap:#?}");
    let noisy: Vec<_> = pl.changes.iter().filter(|c| !matches!(c.action, Action::NoOp | Action::Read)).collect();
    assert!(noisy.is_empty(), "{noisy:#?}");

    let with_lifecycle = (0..REPOS).filter(|i| i % 3 == 0).count();
    let with_policy = (0..REPOS).filter(|i| i % 5 == 0).count();
    // One Describe call for the recorded repositories, one for the lookup
    // (another registry parameter), one listing for what carries the
    // stack's tags; then what only a per-repository call tells, each once.
    assert!(count(&snap, "ecr:DescribeRepositories") <= 3, "{snap:?}");
    assert_eq!(count(&snap, "ecr:ListTagsForResource"), REPOS, "{snap:?}");
    assert_eq!(count(&snap, "ecr:GetLifecyclePolicy"), with_lifecycle, "{snap:?}");
    assert_eq!(count(&snap, "ecr:GetRepositoryPolicy"), with_policy, "{snap:?}");
    // Roles, their policies and documents, and the policies' documents come
    // from the account-wide listings; only a policy's tags need GetPolicy.
    // The listing for what carries the stack's tags is one more.
    assert_eq!(count(&snap, "iam:GetAccountAuthorizationDetails"), 2, "{snap:?}");
    assert_eq!(count(&snap, "iam:ListRoles"), 1, "{snap:?}");
    assert_eq!(count(&snap, "iam:GetPolicy"), POLICIES, "{snap:?}");
    for op in ["GetRole", "ListAttachedRolePolicies", "ListRolePolicies", "GetRolePolicy", "GetPolicyVersion"] {
        assert_eq!(count(&snap, &format!("iam:{op}")), 0, "{op}: {snap:?}");
    }
    // Many clusters in one call; up to ten services of a cluster per call.
    assert_eq!(count(&snap, "ecs:DescribeClusters"), 1, "{snap:?}");
    let service_calls = SERVICES_C0.div_ceil(10) + (TASKS - SERVICES_C0).div_ceil(10);
    assert_eq!(count(&snap, "ecs:DescribeServices"), service_calls, "{snap:?}");
    assert_eq!(count(&snap, "ecs:DescribeTaskDefinition"), TASKS, "{snap:?}");
    // One listing of each family's ACTIVE revisions finds those registered
    // but never recorded; none is there, so nothing more is described.
    assert_eq!(count(&snap, "ecs:ListTaskDefinitions"), TASKS, "{snap:?}");
    let total: usize = own_calls(&snap).values().sum();
    // At most one call per resource on average, besides the three listings
    // of what carries the stack's tags, whatever the stack's size.
    assert!(total <= resources + 3, "at most one call per resource and 3 listings: {total} for {resources}");

    // The batch reads exactly what one-by-one reads do.
    let ts = targets(&stack, &state);
    let batch = p.read_many(&ts).await;
    for (t, b) in ts.iter().zip(batch) {
        let one = p.read(t).await.unwrap();
        let b = b.unwrap();
        assert!(one.is_some(), "{} is found", t.logical);
        assert_eq!(b, one, "{}", t.logical);
    }

    // Some resources go outside moor: those are to be created again, and
    // the rest read as before.
    let repo_gone = &state.resources["r1"];
    p.ecr.delete_repository().repository_name(repo_gone.name.as_deref().unwrap()).send().await.unwrap();
    p.iam.delete_role().role_name(state.resources["role14"].attrs["name"].as_str().unwrap()).send().await.unwrap();
    let svc = &state.resources["s11"].id;
    p.ecs.delete_service().cluster(state.resources["c1"].id.as_str()).service(svc).force(true).send().await.unwrap();
    p.ecs.delete_cluster().cluster(state.resources["c4"].id.as_str()).send().await.unwrap();
    calls.reset();
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    let snap = calls.snapshot();
    eprintln!("plan with four resources gone: {snap:#?}");
    for c in &pl.changes {
        let gone = ["r1", "role14", "s11", "c4"].contains(&c.resource.as_str());
        let want = match c.resource.as_str() {
            _ if gone => Action::Create,
            "base" | "ops" => Action::Read,
            // Its document names the new repository's ARN, known once created.
            "p1" => Action::Update,
            _ => Action::NoOp,
        };
        assert_eq!(c.action, want, "{}: {:?}", c.resource, c.diffs);
    }
    // The batch that failed for the missing name is answered by describing
    // the registry; the repository gone is looked for by name too (and the
    // registry listed once more for what carries the stack's tags).
    assert!(count(&snap, "ecr:DescribeRepositories") <= 5, "{snap:?}");
    // The listings do not show the role: GetRole says it is gone.
    assert_eq!(count(&snap, "iam:GetRole"), 1, "{snap:?}");
    assert_eq!(count(&snap, "ecs:DescribeClusters"), 1, "{snap:?}");
    assert_eq!(count(&snap, "ecs:DescribeServices"), service_calls, "{snap:?}");
    let batch = p.read_many(&ts).await;
    for (t, b) in ts.iter().zip(batch) {
        let one = p.read(t).await.unwrap();
        assert_eq!(one.is_none(), ["r1", "role14", "s11", "c4"].contains(&t.logical.as_str()), "{}", t.logical);
        assert_eq!(b.unwrap(), one, "{}", t.logical);
    }

    let (_, summary, state) = support::converge(&p, &stack, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
}

#[tokio::test]
async fn a_stack_never_applied_reads_only_what_could_exist() {
    if support::skip_emulator() {
        return;
    }
    let (p, calls) = provider().await;
    let stack = load_big(&p, "t-batch-new").await;
    let state = empty(&stack);
    calls.reset();
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    let snap = calls.snapshot();
    eprintln!("plan of a new stack: {snap:#?}");
    for c in &pl.changes {
        let want = if c.resource == "base" || c.resource == "ops" { Action::Read } else { Action::Create };
        assert_eq!(c.action, want, "{}", c.resource);
    }
    // Names never created: the registry is described whole at once (and
    // listed once more for what carries the stack's tags).
    assert_eq!(count(&snap, "ecr:DescribeRepositories"), 2, "{snap:?}");
    for op in ["ecr:ListTagsForResource", "ecr:GetLifecyclePolicy", "ecr:GetRepositoryPolicy"] {
        assert_eq!(count(&snap, op), 0, "{op}: {snap:?}");
    }
    assert_eq!(count(&snap, "iam:GetAccountAuthorizationDetails"), 2, "{snap:?}");
    assert_eq!(count(&snap, "iam:ListRoles"), 1, "{snap:?}");
    for op in ["iam:GetRole", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicies"] {
        assert_eq!(count(&snap, op), 0, "{op}: {snap:?}");
    }
    assert_eq!(count(&snap, "ecs:DescribeClusters"), 1, "{snap:?}");
    // Services are found through their clusters, which do not exist yet.
    assert_eq!(count(&snap, "ecs:DescribeServices"), 0, "{snap:?}");
    assert_eq!(count(&snap, "ecs:DescribeTaskDefinition"), TASKS, "{snap:?}");
}

#[tokio::test]
async fn identities_still_waiting_for_references_are_not_read() {
    if support::skip_emulator() {
        return;
    }
    let (p, calls) = provider().await;
    let stack = load_big(&p, "t-batch-refs").await;
    let state = empty(&stack);
    let mut ts = targets(&stack, &state);
    for t in ts.iter_mut() {
        t.name = Some("${var.later}".into());
        t.id = None;
        match &mut t.spec {
            Spec::EcrExistingRepository(s) => s.name = "${var.later}".into(),
            Spec::IamExistingRole(s) => s.name = "${var.later}".into(),
            _ => {}
        }
    }
    calls.reset();
    let got = p.read_many(&ts).await;
    for (t, r) in ts.iter().zip(got) {
        if matches!(t.kind, Kind::Ec2DefaultVpc | Kind::Ec2ExistingVpc | Kind::Ec2SecurityGroup) {
            continue;
        }
        assert_eq!(r.unwrap(), None, "{}", t.logical);
        assert_eq!(p.read(t).await.unwrap(), None, "{}", t.logical);
    }
    assert!(calls.snapshot().is_empty(), "{:?}", calls.snapshot());
    // Recorded ids that are references yet are not read either.
    for t in ts.iter_mut() {
        t.id = Some("${r0.arn}".into());
    }
    let got = p.read_many(&ts).await;
    assert!(got.into_iter().all(|r| r.unwrap().is_none()));
    assert!(calls.snapshot().is_empty(), "{:?}", calls.snapshot());
}

#[tokio::test]
async fn many_repositories_go_a_hundred_to_a_call_and_missing_ones_are_found_missing() {
    if support::skip_emulator() {
        return;
    }
    let (p, calls) = provider().await;
    let stack = load(
        "stack: t-many
resources:
  repo:
    kind: ecr/repository
    lifecycle:
      keep_last: 3
",
        &[],
    );
    let template = moor::plan::target(&stack, "repo", &Known::new(), &empty(&stack)).0;
    let created = futures::future::join_all((0..120).map(|i| {
        p.ecr
            .create_repository()
            .repository_name(format!("t-many/r{i}"))
            .tags(aws_sdk_ecr::types::Tag::builder().key("n").value(i.to_string()).build().unwrap())
            .send()
    }))
    .await;
    let mut ts = Vec::new();
    for (i, out) in created.into_iter().enumerate() {
        let arn = out.unwrap().repository().unwrap().repository_arn().unwrap().to_string();
        ts.push(Target { name: Some(format!("t-many/r{i}")), id: Some(arn), ..template.clone() });
    }
    let account_arn = ts[0].id.clone().unwrap();
    let (prefix, _) = account_arn.split_once(":repository/").unwrap();
    // Recorded, but gone; and never created.
    for i in 0..3 {
        let name = format!("t-many/gone{i}");
        ts.push(Target { id: Some(format!("{prefix}:repository/{name}")), name: Some(name), ..template.clone() });
    }
    for i in 0..3 {
        ts.push(Target { id: None, name: Some(format!("t-many/new{i}")), ..template.clone() });
    }
    calls.reset();
    let got = p.read_many(&ts).await;
    let snap = calls.snapshot();
    eprintln!("{} repositories: {snap:#?}", ts.len());
    // Two calls of names for the recorded ARNs (one fails: it has a missing
    // name), one description of the whole registry for it, and one for the
    // names never created, which also answers the names of the ARNs gone.
    assert_eq!(count(&snap, "ecr:DescribeRepositories"), 4, "{snap:?}");
    assert_eq!(count(&snap, "ecr:ListTagsForResource"), 123, "{snap:?}");
    assert_eq!(count(&snap, "ecr:GetLifecyclePolicy"), 123, "{snap:?}");
    for (i, (t, r)) in ts.iter().zip(got).enumerate() {
        let r = r.unwrap();
        assert_eq!(r.is_some(), i < 120, "{:?}", t.name);
        if let Some(live) = &r {
            assert_eq!(Some(&live.id), t.id.as_ref());
            assert_eq!(live.tags.get("n"), Some(&i.to_string()));
        }
        assert_eq!(p.read(t).await.unwrap(), r, "{:?}", t.name);
    }
    futures::future::join_all(
        (0..120).map(|i| p.ecr.delete_repository().repository_name(format!("t-many/r{i}")).send()),
    )
    .await;
}
