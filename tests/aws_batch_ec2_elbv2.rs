//! Reading many security groups, load balancers, target groups and
//! listeners at once against the moto emulator: a plan of a large stack
//! costs a few batched Describe calls per kind, not a few calls per
//! resource, and reports exactly what one-at-a-time reads report.

mod support;

use moor::plan::{Action, Plan};
use moor::provider::Provider;
use std::collections::BTreeMap;
use support::{apply_clean, empty, load, make_plan, provider};

const GROUPS: usize = 30;
const BALANCERS: usize = 3;
const TARGET_GROUPS: usize = 25;

/// One stack: the default VPC, `GROUPS` security groups (with rules naming
/// other groups), `BALANCERS` load balancers, and
/// `TARGET_GROUPS` target groups each with a listener on one of the load
/// balancers.
fn big_stack(name: &str) -> String {
    let mut s = format!("stack: {name}\ntags:\n  project: moor-tests\nresources:\n  net:\n    kind: ec2/default_vpc\n");
    for i in 0..GROUPS {
        s += &format!("  sg{i}:\n    kind: ec2/security_group\n    vpc: ${{net.vpc_id}}\n    ingress:\n");
        s += &format!("      - port: {}\n        cidr: 10.0.0.0/8\n", 1000 + i);
        // Rules that name other groups: every group lets in the first, and
        // every fourth the second too.
        if i > 0 {
            s += "      - port: 5432\n        source_group: ${sg0.id}\n        description: from sg0\n";
        }
        if i > 1 && i % 4 == 0 {
            s += "      - port: 6379\n        source_group: ${sg1.id}\n";
        }
        if i % 3 == 0 {
            s += "    egress:\n      - port: 443\n        cidr: 0.0.0.0/0\n";
        }
    }
    for i in 0..BALANCERS {
        s += &format!(
            "  lb{i}:\n    kind: elbv2/load_balancer\n    subnets: ${{net.subnet_ids}}\n    security_groups: [\"${{sg{i}.id}}\"]\n    idle_timeout: {}\n",
            60 + 30 * i
        );
    }
    for i in 0..TARGET_GROUPS {
        s += &format!(
            "  tg{i}:\n    kind: elbv2/target_group\n    port: {}\n    target_type: ip\n    vpc: ${{net.vpc_id}}\n    deregistration_delay: {}\n",
            8000 + i,
            5 + i
        );
        if i % 2 == 0 {
            s += "    health_check:\n      path: /healthz\n      matcher: \"200-299\"\n";
        }
        s += &format!(
            "  l{i}:\n    kind: elbv2/listener\n    load_balancer: ${{lb{}.arn}}\n    port: {}\n    default_action:\n      forward: ${{tg{i}.arn}}\n",
            i % BALANCERS,
            8000 + i
        );
        if i % 5 == 0 {
            s += &format!("    tags:\n      n: \"{i}\"\n");
        }
    }
    s
}

const RESOURCES: usize = 1 + GROUPS + BALANCERS + 2 * TARGET_GROUPS;

/// The resources a plan would change (not NoOp, not Read).
fn changing(pl: &Plan) -> Vec<(String, Action)> {
    pl.changes
        .iter()
        .filter(|c| !matches!(c.action, Action::NoOp | Action::Read))
        .map(|c| (c.resource.clone(), c.action))
        .collect()
}

fn calls(op: &str, snap: &BTreeMap<String, usize>) -> usize {
    snap.get(op).copied().unwrap_or(0)
}

#[tokio::test]
async fn a_converged_plan_of_many_groups_balancers_target_groups_and_listeners_batches_its_reads() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(&big_stack("batch-big"), &[]);
    assert_eq!(stack.resources.len(), RESOURCES);
    let state = apply_clean(&p, &stack, empty(&stack)).await;

    p.calls.reset();
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    let snap = p.calls.snapshot();
    eprintln!("converged plan of {RESOURCES} resources: {snap:#?}");
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    assert_eq!(changing(&pl), vec![], "a converged stack plans no change");

    let arns = BALANCERS + 2 * TARGET_GROUPS;
    assert!(calls("ec2:DescribeSecurityGroups", &snap) <= 2, "{snap:?}");
    assert!(calls("elastic load balancing v2:DescribeLoadBalancers", &snap) <= 1, "{snap:?}");
    assert!(calls("elastic load balancing v2:DescribeTargetGroups", &snap) <= 2, "{snap:?}");
    assert!(calls("elastic load balancing v2:DescribeListeners", &snap) <= 2, "{snap:?}");
    assert!(calls("elastic load balancing v2:DescribeTags", &snap) <= arns.div_ceil(20) + 1, "{snap:?}");
    // Attributes have no batch API: one call per load balancer and group, never more.
    assert_eq!(calls("elastic load balancing v2:DescribeLoadBalancerAttributes", &snap), BALANCERS, "{snap:?}");
    assert_eq!(calls("elastic load balancing v2:DescribeTargetGroupAttributes", &snap), TARGET_GROUPS, "{snap:?}");
    assert!(calls("ec2:DescribeVpcs", &snap) <= 1, "{snap:?}");
    assert!(calls("ec2:DescribeSubnets", &snap) <= 1, "{snap:?}");
    assert!(p.calls.total() <= 2 * RESOURCES, "{} calls for {RESOURCES} resources: {snap:?}", p.calls.total());

    // Without the record, everything is found again by name (groups by
    // name and VPC, listeners by load balancer and port), still batched.
    p.calls.reset();
    let lost = make_plan(p.as_ref(), &stack, &empty(&stack), false, false).await;
    let snap = p.calls.snapshot();
    eprintln!("plan without a record: {snap:#?}");
    assert!(lost.problems.is_empty(), "{:?}", lost.problems);
    assert_eq!(changing(&lost), vec![], "everything is found by name and is this stack's");
    for name in state.resources.keys() {
        let c = lost.change(name).unwrap();
        assert_eq!(c.id.as_deref(), Some(state.resources[name].id.as_str()), "{name}");
    }
    // A group waits for the groups its rules name: three rounds here.
    assert!(calls("ec2:DescribeSecurityGroups", &snap) <= 3, "{snap:?}");
    assert!(calls("elastic load balancing v2:DescribeLoadBalancers", &snap) <= 1, "{snap:?}");
    assert!(calls("elastic load balancing v2:DescribeTargetGroups", &snap) <= 2, "{snap:?}");
    // One per load balancer.
    assert!(calls("elastic load balancing v2:DescribeListeners", &snap) <= BALANCERS, "{snap:?}");
    assert!(calls("elastic load balancing v2:DescribeTags", &snap) <= arns.div_ceil(20) + 2, "{snap:?}");
    assert!(p.calls.total() <= 2 * RESOURCES, "{} calls for {RESOURCES} resources: {snap:?}", p.calls.total());

    // Batched reads give what single reads give, target by target, and a
    // target asked for twice is read once.
    let targets: Vec<_> =
        stack.resources.iter().map(|r| moor::plan::target(&stack, &r.name, &pl.known, &state).0).collect();
    let mut twice = targets.clone();
    twice.extend(targets.iter().cloned());
    p.calls.reset();
    let many = p.read_many(&twice).await;
    let snap = p.calls.snapshot();
    assert_eq!(calls("elastic load balancing v2:DescribeTargetGroupAttributes", &snap), TARGET_GROUPS, "{snap:?}");
    assert_eq!(calls("elastic load balancing v2:DescribeLoadBalancerAttributes", &snap), BALANCERS, "{snap:?}");
    for (i, t) in targets.iter().enumerate() {
        let one = p.read(t).await.unwrap_or_else(|e| panic!("{}: {e}", t.logical));
        let a = many[i].as_ref().unwrap_or_else(|e| panic!("{}: {e}", t.logical));
        let b = many[i + targets.len()].as_ref().unwrap();
        assert_eq!(a, &one, "{}", t.logical);
        assert_eq!(b, &one, "{}", t.logical);
        assert!(one.is_some(), "{}", t.logical);
    }
}

#[tokio::test]
async fn resources_gone_behind_moors_back_are_not_found_among_many_that_are() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(&big_stack("batch-gone"), &[]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let id = |n: &str| state.resources[n].id.clone();

    // A listener and its target group, a load balancer's listener, and a
    // security group nothing refers to... are deleted outside moor.
    let last = TARGET_GROUPS - 1;
    p.elb.delete_listener().listener_arn(id(&format!("l{last}"))).send().await.unwrap();
    p.elb.delete_target_group().target_group_arn(id(&format!("tg{last}"))).send().await.unwrap();
    let top = GROUPS - 1;
    p.ec2.delete_security_group().group_id(id(&format!("sg{top}"))).send().await.unwrap();

    // With the record: the recorded ids of the gone are not found.
    p.calls.reset();
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    let snap = p.calls.snapshot();
    eprintln!("plan with three gone: {snap:#?}");
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    let mut got = changing(&pl);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            (format!("l{last}"), Action::Create),
            (format!("sg{top}"), Action::Create),
            (format!("tg{last}"), Action::Create),
        ]
    );
    assert!(p.calls.total() <= 2 * RESOURCES, "{snap:?}");

    // Without the record: found by name, except the gone.
    let lost = make_plan(p.as_ref(), &stack, &empty(&stack), false, false).await;
    assert!(lost.problems.is_empty(), "{:?}", lost.problems);
    let mut got = changing(&lost);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            (format!("l{last}"), Action::Create),
            (format!("sg{top}"), Action::Create),
            (format!("tg{last}"), Action::Create),
        ]
    );

    // Single reads agree.
    for name in [format!("l{last}"), format!("tg{last}"), format!("sg{top}"), "l0".into(), "tg0".into(), "lb0".into()] {
        let (t, _) = moor::plan::target(&stack, &name, &pl.known, &state);
        let one = p.read(&t).await.unwrap();
        let many = p.read_many(std::slice::from_ref(&t)).await.pop().unwrap().unwrap();
        assert_eq!(one, many, "{name}");
        assert_eq!(one.is_some(), !name.ends_with(&last.to_string()) && name != format!("sg{top}"), "{name}");
    }

    // Listeners by ARN, all gone (one call fails for all): found by their
    // load balancer's listeners instead, not one call each.
    let (mut t, _) = moor::plan::target(&stack, "l0", &pl.known, &state);
    let lb = id("lb0");
    let gone: Vec<_> = ["0000000000000001", "0000000000000002", "0000000000000003"]
        .iter()
        .map(|n| {
            t.id = Some(format!("{}/{n}", lb.replace(":loadbalancer/", ":listener/")));
            t.clone()
        })
        .collect();
    p.calls.reset();
    let out = p.read_many(&gone).await;
    assert!(out.iter().all(|r| matches!(r, Ok(None))), "{out:?}");
    assert!(calls("elastic load balancing v2:DescribeListeners", &p.calls.snapshot()) <= 2, "{:?}", p.calls.snapshot());

    // Applying puts them back, and then the plan is empty again.
    apply_clean(&p, &stack, state).await;
}

#[tokio::test]
async fn a_plan_of_a_new_stack_reads_few_times() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(&big_stack("batch-new"), &[]);
    p.calls.reset();
    let pl = make_plan(p.as_ref(), &stack, &empty(&stack), false, false).await;
    let snap = p.calls.snapshot();
    eprintln!("plan of a new stack: {snap:#?}");
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    assert_eq!(changing(&pl).len(), RESOURCES - 1);
    // Names that do not exist fail their call; they are then looked for in
    // one listing, not one call each.
    assert!(calls("elastic load balancing v2:DescribeLoadBalancers", &snap) <= 2, "{snap:?}");
    assert!(
        calls("elastic load balancing v2:DescribeTargetGroups", &snap) <= TARGET_GROUPS.div_ceil(20) + 1,
        "{snap:?}"
    );
    assert!(p.calls.total() <= RESOURCES / 2, "{snap:?}");
}

#[tokio::test]
async fn unresolved_references_are_not_read() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let text = r#"
stack: batch-unresolved
resources:
  net:
    kind: ec2/default_vpc
  sg:
    kind: ec2/security_group
    vpc: ${net.vpc_id}
  tg:
    kind: elbv2/target_group
    port: 80
    vpc: ${net.vpc_id}
  lb:
    kind: elbv2/load_balancer
    subnets: ${net.subnet_ids}
  l:
    kind: elbv2/listener
    load_balancer: ${lb.arn}
    port: 80
    default_action:
      forward: ${tg.arn}
"#;
    let stack = load(text, &[]);
    let state = empty(&stack);
    let known = moor::resolve::Known::new();
    let ts: Vec<_> = ["sg", "l"].iter().map(|n| moor::plan::target(&stack, n, &known, &state).0).collect();
    p.calls.reset();
    let out = p.read_many(&ts).await;
    assert!(out.iter().all(|r| matches!(r, Ok(None))), "{out:?}");
    for t in &ts {
        assert!(p.read(t).await.unwrap().is_none());
    }
    assert_eq!(p.calls.total(), 0, "{:?}", p.calls.snapshot());
}
