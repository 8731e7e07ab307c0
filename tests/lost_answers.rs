//! Creates whose answers are lost, through the fault proxy in front of the
//! moto emulator: the proxy forwards each create and drops its answer, so
//! the object is made and moor never hears of it. Whether the SDK then
//! retries (and meets "already exists") or gives up (a connection error),
//! the apply finishes with one object of each, recorded, and converged.

mod support;

use moor::model::Stack;
use moor::plan::Action;
use moor::provider::aws::AwsProvider;
use support::proxy::FaultProxy;
use support::{converge, empty, load, make_plan, provider_via};

const CREATES: &[&str] = &[
    "ecr:CreateRepository",
    "iam:CreateRole",
    "iam:CreatePolicy",
    "ec2:CreateSecurityGroup",
    "elasticloadbalancing:CreateTargetGroup",
];

fn stack() -> Stack {
    load(
        r#"
stack: t-lost
resources:
  repo:
    kind: ecr/repository
    lifecycle: { keep_last: 3 }
  pol:
    kind: iam/policy
    document:
      statements:
        - actions: [ecr:BatchGetImage]
          resources: ["${repo.arn}"]
  role:
    kind: iam/role
    assumed_by: { services: [ecs-tasks.amazonaws.com] }
    policies: ["${pol.arn}"]
    inline_policies:
      logs:
        statements:
          - actions: [logs:PutLogEvents]
            resources: ["*"]
  net:
    kind: ec2/default_vpc
  sg:
    kind: ec2/security_group
    vpc: ${net.vpc_id}
    description: web
    ingress: [{ port: 80, cidr: 0.0.0.0/0 }]
  tg:
    kind: elbv2/target_group
    vpc: ${net.vpc_id}
    port: 8000
    target_type: ip
"#,
        &[],
    )
}

async fn count_named(p: &AwsProvider, state: &moor::state::State) -> Vec<usize> {
    let sg_name = state.resources["sg"].attrs["name"].as_str().unwrap().to_string();
    let sgs = p
        .ec2
        .describe_security_groups()
        .filters(aws_sdk_ec2::types::Filter::builder().name("group-name").values(&sg_name).build())
        .send()
        .await
        .unwrap();
    let tg_name = state.resources["tg"].attrs["name"].as_str().unwrap().to_string();
    let tgs = p.elb.describe_target_groups().names(&tg_name).send().await.unwrap();
    vec![sgs.security_groups().len(), tgs.target_groups().len()]
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_is_adopted_not_repeated_or_failed() {
    if support::skip_emulator() {
        return;
    }
    let proxy = FaultProxy::start();
    let p = provider_via(&proxy.url()).await;
    let stack = stack();
    for op in CREATES {
        proxy.fault(op, "drop", 1);
    }
    let (_, summary, state) = converge(&p, &stack, empty(&stack), false).await;
    for op in CREATES {
        assert_eq!(proxy.fired(op, "drop"), 1, "{op}: {}", proxy.counts());
    }
    assert!(summary.ok(), "{summary:#?}");
    for r in ["repo", "pol", "role", "sg", "tg"] {
        assert!(state.resources.contains_key(r), "{r} is recorded");
    }
    // One of each, and what the creates would have done next was done: the
    // plan right after shows no change.
    assert_eq!(count_named(&p, &state).await, [1, 1]);
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    let changes: Vec<_> = pl.changes.iter().filter(|c| !matches!(c.action, Action::NoOp | Action::Read)).collect();
    assert!(changes.is_empty(), "{changes:#?}");
    let (_, summary, state) = converge(&p, &stack, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
}

#[tokio::test]
async fn a_namesake_met_by_a_create_is_not_adopted() {
    if support::skip_emulator() {
        return;
    }
    // Someone else's group of the same name appears between the plan and
    // the create: the create fails, saying whose it is, and it is left alone.
    let proxy = FaultProxy::start();
    let p = provider_via(&proxy.url()).await;
    let stack =
        load("stack: t-lost-other\nresources:\n  repo:\n    kind: ecr/repository\n    scan_on_push: true\n", &[]);
    let pl = make_plan(p.as_ref(), &stack, &empty(&stack), false, false).await;
    assert_eq!(pl.change("repo").unwrap().action, Action::Create);
    p.ecr.create_repository().repository_name("t-lost-other/repo").send().await.unwrap();
    let (graph, _) = moor::graph::build(&stack);
    let store = moor::apply::MemoryStore::default();
    let (summary, _) = moor::apply::apply(
        p.clone(),
        &stack,
        &graph,
        &pl,
        empty(&stack),
        &store,
        &Default::default(),
        &moor::apply::Quiet,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .await;
    assert!(!summary.ok());
    let msg = format!("{:?}", summary.failed);
    assert!(msg.contains("nothing moor manages"), "{msg}");
    let repo = p.ecr.describe_repositories().repository_names("t-lost-other/repo").send().await.unwrap();
    assert!(!repo.repositories()[0].image_scanning_configuration().is_some_and(|c| c.scan_on_push()));
    p.ecr.delete_repository().repository_name("t-lost-other/repo").send().await.unwrap();
}

/// A VPC and a NAT gateway have no name EC2 keeps unique: a create whose
/// answer is lost must not make a second one when it is sent again. The
/// one made is found by its tags, recorded, and the plan after is clean.
#[tokio::test]
async fn a_vpc_and_a_nat_gateway_whose_answers_are_lost_are_found_by_their_tags_not_made_twice() {
    if support::skip_emulator() {
        return;
    }
    let proxy = FaultProxy::start();
    let p = provider_via(&proxy.url()).await;
    let stack = load(
        r#"
stack: t-lost-vpc
resources:
  net:
    kind: ec2/vpc
    cidr: 10.61.0.0/16
  public_a:
    kind: ec2/subnet
    vpc: ${net.id}
    cidr: 10.61.0.0/24
    availability_zone: us-east-1a
  nat:
    kind: ec2/nat_gateway
    subnet: ${public_a.id}
"#,
        &[],
    );
    for op in ["ec2:CreateVpc", "ec2:CreateNatGateway"] {
        proxy.fault(op, "drop", 1);
    }
    let (_, summary, state) = converge(&p, &stack, empty(&stack), false).await;
    for op in ["ec2:CreateVpc", "ec2:CreateNatGateway"] {
        assert_eq!(proxy.fired(op, "drop"), 1, "{op}: {}", proxy.counts());
    }
    assert!(summary.ok(), "{summary:#?}");
    let tagged = |logical: &'static str| {
        vec![
            aws_sdk_ec2::types::Filter::builder().name("tag:moor:stack").values("t-lost-vpc").build(),
            aws_sdk_ec2::types::Filter::builder().name("tag:moor:resource").values(logical).build(),
        ]
    };
    let vpcs = p.ec2.describe_vpcs().set_filters(Some(tagged("net"))).send().await.unwrap();
    assert_eq!(vpcs.vpcs().len(), 1, "one VPC: {:?}", vpcs.vpcs());
    assert_eq!(vpcs.vpcs()[0].vpc_id(), Some(state.resources["net"].id.as_str()));
    // The emulator filters NAT gateways by subnet, not by tag.
    let subnet = state.resources["public_a"].id.clone();
    let f = aws_sdk_ec2::types::Filter::builder().name("subnet-id").values(&subnet).build();
    let nats = p.ec2.describe_nat_gateways().filter(f).send().await.unwrap();
    let live: Vec<_> =
        nats.nat_gateways().iter().filter(|n| n.state().is_none_or(|s| s.as_str() != "deleted")).collect();
    assert_eq!(live.len(), 1, "one NAT gateway: {live:?}");
    assert_eq!(live[0].nat_gateway_id(), Some(state.resources["nat"].id.as_str()));
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    let changes: Vec<_> = pl.changes.iter().filter(|c| !matches!(c.action, Action::NoOp | Action::Read)).collect();
    assert!(changes.is_empty(), "{changes:#?}");
    let (_, summary, state) = converge(&p, &stack, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
}
