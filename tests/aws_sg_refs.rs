//! Security groups whose rules name their own group, or each other's,
//! against the moto emulator: the file validates (no cycle), applies (each
//! group made first, the rules naming a group not yet made authorised once
//! it is), plans clean, changes a rule's port in place, and destroys to
//! nothing. Deleting a group first revokes the rules of the stack's other
//! groups that name it: AWS refuses to delete a group another group's rule
//! names (DependencyViolation; moto does not check it, so the test looks at
//! the rules left).

mod support;

use moor::plan::Action;
use moor::provider::{Deletion, Provider};
use support::{apply_clean, converge, empty, load, make_plan, provider};

fn stack(name: &str, port: u16) -> String {
    format!(
        r#"stack: {name}
region: us-east-1
resources:
  net:
    kind: ec2/default_vpc
  web_sg:
    kind: ec2/security_group
    vpc: ${{net.vpc_id}}
    ingress:
      - port: 8080
        source_group: ${{web_sg.id}}
        description: from its own members
      - port: 443
        cidr: 0.0.0.0/0
  sg_a:
    kind: ec2/security_group
    vpc: ${{net.vpc_id}}
    ingress:
      - port: {port}
        source_group: ${{sg_b.id}}
  sg_b:
    kind: ec2/security_group
    vpc: ${{net.vpc_id}}
    ingress:
      - port: 5432
        source_group: ${{sg_a.id}}
    egress:
      - port: 443
        source_group: ${{sg_a.id}}
"#
    )
}

/// (direction, from port, peer group) of a group's rules that name a group.
async fn group_rules(p: &moor::provider::aws::AwsProvider, id: &str) -> Vec<(&'static str, i32, String)> {
    let out = p.ec2.describe_security_groups().group_ids(id).send().await.unwrap();
    let g = &out.security_groups()[0];
    let mut v = Vec::new();
    for (dir, perms) in [("in", g.ip_permissions()), ("out", g.ip_permissions_egress())] {
        for perm in perms {
            for pair in perm.user_id_group_pairs() {
                v.push((dir, perm.from_port().unwrap_or(-1), pair.group_id().unwrap().to_string()));
            }
        }
    }
    v.sort();
    v
}

async fn exists(p: &moor::provider::aws::AwsProvider, id: &str) -> bool {
    p.ec2.describe_security_groups().group_ids(id).send().await.is_ok_and(|o| !o.security_groups().is_empty())
}

#[test]
fn groups_that_name_themselves_or_each_other_validate_without_a_cycle() {
    let l = moor::load::load_str("stack.yaml", &stack("t-sgrefs-v", 6379), &Default::default());
    let diags: Vec<_> = l.diags.iter().map(|d| d.message.clone()).collect();
    assert!(diags.is_empty(), "{diags:?}");
    let s = l.stack.unwrap();
    let (g, cycles) = moor::graph::build(&s);
    assert!(cycles.is_empty(), "{:?}", cycles.iter().map(|d| &d.message).collect::<Vec<_>>());
    // One of the two references orders the pair; the other, and the
    // group's reference to itself, are late.
    assert_eq!(g.dependencies("sg_a"), ["net", "sg_b"]);
    assert_eq!(g.dependencies("sg_b"), ["net"]);
    assert_eq!(g.late, [("web_sg".to_string(), "web_sg".to_string()), ("sg_b".into(), "sg_a".into())]);
    // Elsewhere a resource still may not use its own attributes.
    let bad = stack("t-sgrefs-v", 6379).replace(
        "    vpc: ${net.vpc_id}\n    ingress:\n      - port: 8080",
        "    vpc: ${web_sg.vpc_id}\n    ingress:\n      - port: 8080",
    );
    let l = moor::load::load_str("stack.yaml", &bad, &Default::default());
    let errors: Vec<_> = l.diags.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
    assert_eq!(errors, ["`web_sg` refers to itself"]);
}

#[tokio::test]
async fn groups_naming_themselves_and_each_other_apply_plan_clean_update_and_destroy() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let v1 = load(&stack("t-sgrefs", 6379), &[]);

    // The plan shows every rule, the group ids not known yet.
    let pl = make_plan(p.as_ref(), &v1, &empty(&v1), false, false).await;
    for g in ["web_sg", "sg_a", "sg_b"] {
        let ch = pl.change(g).unwrap();
        assert_eq!(ch.action, Action::Create);
        let ingress = ch.diffs.iter().find(|d| d.field == "ingress").expect("ingress planned");
        assert!(ingress.after.as_ref().is_some_and(|v| v.is_array()), "{ingress:?}");
        assert!(!ingress.unknown_leaves.is_empty(), "{g}: the group id is known after apply: {ingress:?}");
    }

    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let (web, a, b) =
        (state.resources["web_sg"].id.clone(), state.resources["sg_a"].id.clone(), state.resources["sg_b"].id.clone());
    assert_eq!(group_rules(&p, &web).await, [("in", 8080, web.clone())]);
    assert_eq!(group_rules(&p, &a).await, [("in", 6379, b.clone())]);
    assert_eq!(group_rules(&p, &b).await, [("in", 5432, a.clone()), ("out", 443, a.clone())]);

    // A rule's port changes in place.
    let v2 = load(&stack("t-sgrefs", 6380), &[]);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    let changing: Vec<(&str, Action)> = pl
        .changes
        .iter()
        .filter(|c| !matches!(c.action, Action::NoOp | Action::Read))
        .map(|c| (c.resource.as_str(), c.action))
        .collect();
    assert_eq!(changing, [("sg_a", Action::Update)]);
    assert_eq!(pl.change("sg_a").unwrap().diffs.iter().map(|d| d.field.as_str()).collect::<Vec<_>>(), ["ingress"]);
    let state = apply_clean(&p, &v2, state).await;
    assert_eq!(state.resources["sg_a"].id, a, "updated, not replaced");
    assert_eq!(group_rules(&p, &a).await, [("in", 6380, b.clone())]);

    // Destroy leaves nothing.
    let (pl, summary, state) = converge(&p, &v2, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(pl.changes.iter().all(|c| matches!(c.action, Action::Delete | Action::Read)));
    assert!(state.resources.is_empty(), "{:?}", state.resources.keys());
    for id in [&web, &a, &b] {
        assert!(!exists(&p, id).await, "{id} deleted");
    }
}

#[tokio::test]
async fn deleting_a_group_first_revokes_the_stacks_rules_that_name_it() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let v1 = load(&stack("t-sgrefs-del", 6379), &[]);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let (a, b) = (state.resources["sg_a"].id.clone(), state.resources["sg_b"].id.clone());
    assert_eq!(group_rules(&p, &b).await, [("in", 5432, a.clone()), ("out", 443, a.clone())]);

    // A group outside the stack that names sg_a keeps its rule.
    let vpc = state.resources["sg_a"].attrs["vpc_id"].as_str().unwrap().to_string();
    let other = p
        .ec2
        .create_security_group()
        .group_name("t-sgrefs-del-other")
        .description("x")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap();
    let other = other.group_id().unwrap().to_string();
    let pair = aws_sdk_ec2::types::UserIdGroupPair::builder().group_id(&a).build();
    let perm = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .user_id_group_pairs(pair)
        .build();
    p.ec2.authorize_security_group_ingress().group_id(&other).ip_permissions(perm).send().await.unwrap();

    let e = &state.resources["sg_a"];
    let d = Deletion {
        logical: "sg_a".into(),
        kind: e.kind,
        id: a.clone(),
        name: None,
        attrs: e.attrs.clone(),
        force: false,
    };
    p.delete(&d).await.unwrap();
    assert!(!exists(&p, &a).await);
    assert_eq!(group_rules(&p, &b).await, [], "the stack's rules naming the deleted group went first");
    assert_eq!(group_rules(&p, &other).await, [("in", 22, a.clone())], "another owner's rule is left alone");

    p.ec2.delete_security_group().group_id(&other).send().await.unwrap();
    let (_, summary, state) = converge(&p, &v1, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
}
