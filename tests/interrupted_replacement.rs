//! A create-before-delete replacement cut short after the new object was
//! made and before it was recorded (the run killed, or the answer lost):
//! the next apply adopts the new object instead of failing on its name, and
//! finishes the replacement.

mod support;

use moor::plan::{Action, ReplaceOrder};
use moor::provider::aws::AwsProvider;
use moor::provider::Provider;
use support::{apply_clean, empty, load, make_plan, provider};

const STACK: &str = r#"
stack: t-cut-replace
resources:
  net:
    kind: ec2/default_vpc
  lb:
    kind: elbv2/load_balancer
    subnets: ${net.subnet_ids}
  web:
    kind: elbv2/target_group
    port: @PORT@
    vpc: ${net.vpc_id}
    deregistration_delay: 5
  http:
    kind: elbv2/listener
    load_balancer: ${lb.arn}
    port: 80
    default_action:
      forward: ${web.arn}
"#;

fn stack(port: &str) -> moor::model::Stack {
    load(&STACK.replace("@PORT@", port), &[])
}

async fn groups_of(p: &AwsProvider, vpc: &str) -> Vec<String> {
    let out = p.elb.describe_target_groups().send().await.unwrap();
    out.target_groups()
        .iter()
        .filter(|g| g.vpc_id() == Some(vpc) && g.target_group_name().is_some_and(|n| n.starts_with("t-cut-replace")))
        .map(|g| g.target_group_arn().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_replacement_cut_short_after_its_create_is_finished_by_the_next_apply() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let a = stack("5000");
    let state = apply_clean(&p, &a, empty(&a)).await;
    let old = state.resources["web"].id.clone();

    // The port changes: a new group is made before the old one goes. The
    // run makes it, and dies before recording it.
    let b = stack("8000");
    let pl = make_plan(p.as_ref(), &b, &state, false, false).await;
    let net = pl.change("net").unwrap().live.as_ref().unwrap();
    let vpc = net.attrs["vpc_id"].as_str().unwrap().to_string();
    let web = pl.change("web").unwrap();
    assert_eq!((web.action, web.replace), (Action::Replace, Some(ReplaceOrder::CreateBeforeDelete)));
    let (t, unknown) = moor::plan::target(&b, "web", &pl.known, &state);
    assert!(unknown.is_empty(), "{unknown:?}");
    let made = p.create(&t).await.unwrap();
    assert_eq!(groups_of(&p, &vpc).await.len(), 2);

    // The next apply, from the record that knows only the old group, adopts
    // the new one, moves the listener to it and deletes the old one.
    let state = apply_clean(&p, &b, state).await;
    assert_eq!(state.resources["web"].id, made.id);
    assert!(state.resources["web"].deposed.is_empty());
    assert_eq!(groups_of(&p, &vpc).await, std::slice::from_ref(&made.id));
    let l = p.elb.describe_listeners().listener_arns(&state.resources["http"].id).send().await.unwrap();
    assert_eq!(l.listeners()[0].default_actions()[0].target_group_arn(), Some(made.id.as_str()));
    assert_ne!(made.id, old);

    let (_, summary, state) = support::converge(&p, &b, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
    assert!(groups_of(&p, &vpc).await.is_empty());
}

#[tokio::test]
async fn a_replacement_cut_short_after_its_create_is_deleted_by_destroy_too() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let a = load(&STACK.replace("t-cut-replace", "t-cut-destroy").replace("@PORT@", "5000"), &[]);
    let state = apply_clean(&p, &a, empty(&a)).await;
    let b = load(&STACK.replace("t-cut-replace", "t-cut-destroy").replace("@PORT@", "8000"), &[]);
    let pl = make_plan(p.as_ref(), &b, &state, false, false).await;
    let (t, _) = moor::plan::target(&b, "web", &pl.known, &state);
    let made = p.create(&t).await.unwrap();

    // Destroy from the record that knows only the old group: the new one,
    // found by its tags, goes too.
    let (_, summary, state) = support::converge(&p, &b, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
    let left = p.elb.describe_target_groups().target_group_arns(&made.id).send().await;
    assert!(left.is_err() || left.unwrap().target_groups().is_empty(), "the group made before the cut is gone");
}
