//! Ownership under a stale record, against the moto emulator: a resource
//! moor made, deleted out of band and made again under the same name by
//! someone else, is that someone's. Its id (built from the name) matches the
//! record, but moor never retags, rewrites or deletes it.

mod support;

use aws_sdk_iam::types::Tag as IamTag;
use moor::model::Stack;
use moor::plan::{Action, Plan};
use moor::provider::aws::AwsProvider;
use moor::provider::{Deletion, Provider, TAG_RESOURCE, TAG_STACK};
use moor::state::State;
use std::collections::BTreeMap;
use support::{apply_clean, converge, empty, load, make_plan, provider};

const STACK: &str = r#"
stack: STACK
resources:
  repo:
    kind: ecr/repository
  pol:
    kind: iam/policy
    document:
      statements:
        - actions: [ecr:BatchGetImage]
          resources: ["*"]
  role:
    kind: iam/role
    assumed_by: { services: [ecs-tasks.amazonaws.com] }
    policies: ["${pol.arn}"]
  cluster:
    kind: ecs/cluster
"#;

fn stack(name: &str) -> Stack {
    load(&STACK.replace("STACK", name), &[])
}

fn name(state: &State, resource: &str) -> String {
    state.resources[resource].attrs["name"].as_str().unwrap().to_string()
}

fn deletion(state: &State, resource: &str) -> Deletion {
    let e = &state.resources[resource];
    Deletion {
        logical: resource.into(),
        kind: e.kind,
        id: e.id.clone(),
        name: e.name.clone(),
        attrs: e.attrs.clone(),
        force: true,
    }
}

/// Deletes the stack's four resources behind moor's back and makes
/// namesakes of them: the repository, the policy and the cluster untagged,
/// the role tagged for `other` stack.
async fn recreate_as_someone_elses(p: &AwsProvider, state: &State, other: &str) {
    for r in ["role", "pol", "repo", "cluster"] {
        p.delete(&deletion(state, r)).await.unwrap();
    }
    p.ecr.create_repository().repository_name(name(state, "repo")).send().await.unwrap();
    p.iam
        .create_policy()
        .policy_name(name(state, "pol"))
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    p.iam
        .create_role()
        .role_name(name(state, "role"))
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
        .tags(IamTag::builder().key(TAG_STACK).value(other).build().unwrap())
        .tags(IamTag::builder().key(TAG_RESOURCE).value("role").build().unwrap())
        .send()
        .await
        .unwrap();
    p.ecs.create_cluster().cluster_name(name(state, "cluster")).send().await.unwrap();
}

fn problems(pl: &Plan) -> BTreeMap<String, String> {
    pl.problems.iter().map(|p| (p.resource.clone(), p.message.clone())).collect()
}

/// What the namesakes look like, to check that nothing changed them.
async fn snapshot(p: &AwsProvider, state: &State) -> Vec<String> {
    let repo = p.ecr.describe_repositories().repository_names(name(state, "repo")).send().await.unwrap();
    let repo_arn = repo.repositories()[0].repository_arn().unwrap().to_string();
    let repo_tags = p.ecr.list_tags_for_resource().resource_arn(&repo_arn).send().await.unwrap();
    let role = p.iam.get_role().role_name(name(state, "role")).send().await.unwrap();
    let role = role.role().unwrap();
    let attached = p.iam.list_attached_role_policies().role_name(name(state, "role")).send().await.unwrap();
    let pol = p.iam.get_policy().policy_arn(&state.resources["pol"].id).send().await.unwrap();
    let pol = pol.policy().unwrap();
    let cluster = p
        .ecs
        .describe_clusters()
        .clusters(name(state, "cluster"))
        .include(aws_sdk_ecs::types::ClusterField::Tags)
        .send()
        .await
        .unwrap();
    let cluster = &cluster.clusters()[0];
    vec![
        format!("repo tags {:?}", repo_tags.tags()),
        format!("role {} trust {:?} tags {:?}", role.role_id(), role.assume_role_policy_document(), role.tags()),
        format!("role attached {:?}", attached.attached_policies()),
        format!("policy {:?} version {:?} tags {:?}", pol.policy_id(), pol.default_version_id(), pol.tags()),
        format!("cluster {:?} {:?}", cluster.status(), cluster.tags()),
    ]
}

#[tokio::test]
async fn a_namesake_made_after_a_delete_is_never_taken_for_the_recorded_resource() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = stack("t-stale-own");
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    recreate_as_someone_elses(&p, &state, "someone-else").await;
    let before = snapshot(&p, &state).await;

    // The plan refuses each of them, as it does any unowned name, and says
    // that the one moor made is gone.
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    let refused = problems(&pl);
    assert_eq!(
        refused.keys().map(String::as_str).collect::<Vec<_>>(),
        ["cluster", "pol", "repo", "role"],
        "{refused:#?}"
    );
    assert!(refused["repo"].contains("nothing moor manages"), "{refused:#?}");
    assert!(refused["role"].contains("resource `role` of stack `someone-else`"), "{refused:#?}");
    assert!(refused["pol"].contains("the record names this id, but not this object"), "{refused:#?}");
    for c in &pl.changes {
        assert!(matches!(c.action, Action::NoOp | Action::Read | Action::Create), "{}: {:?}", c.resource, c.action);
    }

    // Destroy with the stale record deletes none of them, and drops them
    // from the record, saying why.
    let (pl, summary, state_after) = converge(&p, &stack, state.clone(), true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(pl.changes.iter().all(|c| c.action != Action::Delete), "{:#?}", pl.changes);
    assert_eq!(pl.notices.len(), 4, "{:#?}", pl.notices);
    // The cluster has no unique id to tell it from a namesake: it stays
    // recorded, left alone; the others are known namesakes and dropped.
    assert_eq!(state_after.resources.keys().map(String::as_str).collect::<Vec<_>>(), ["cluster"]);
    assert_eq!(snapshot(&p, &state).await, before, "a namesake was changed");

    // A resource removed from the file whose recorded name was taken again
    // is not deleted either.
    let only_cluster = load("stack: t-stale-own\nresources:\n  cluster:\n    kind: ecs/cluster\n", &[]);
    let pl = make_plan(p.as_ref(), &only_cluster, &state, false, false).await;
    assert!(pl.changes.iter().all(|c| c.action != Action::Delete), "{:#?}", pl.changes);
    assert!(pl.notices.iter().any(|n| n.resource == "repo"), "{:#?}", pl.notices);

    for r in ["role", "pol", "repo", "cluster"] {
        p.delete(&deletion(&state, r)).await.unwrap();
    }
}

#[tokio::test]
async fn a_recorded_resource_that_lost_its_tags_is_still_recognised_by_its_unique_id() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = stack("t-stale-uid");
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    // Someone strips moor's tags off the role and the repository; they are
    // still the objects moor made (same RoleId, same creation time).
    let role = name(&state, "role");
    p.iam.untag_role().role_name(&role).tag_keys(TAG_STACK).tag_keys(TAG_RESOURCE).send().await.unwrap();
    p.ecr
        .untag_resource()
        .resource_arn(&state.resources["repo"].id)
        .tag_keys(TAG_STACK)
        .tag_keys(TAG_RESOURCE)
        .send()
        .await
        .unwrap();
    assert!(state.resources["role"].uid.is_some() && state.resources["repo"].uid.is_some());
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    assert!(pl.problems.is_empty(), "{:#?}", pl.problems);
    assert_eq!(pl.change("role").unwrap().action, Action::Update);
    assert_eq!(pl.change("repo").unwrap().action, Action::Update);
    // Applying puts the tags back; destroying deletes what moor made.
    let state = apply_clean(&p, &stack, state).await;
    let (_, summary, state) = converge(&p, &stack, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
    assert!(p.iam.get_role().role_name(&role).send().await.is_err());
}

#[tokio::test]
async fn a_recorded_resource_without_tags_or_unique_id_is_left_alone_and_kept_in_the_record() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = stack("t-stale-unproven");
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    // A cluster has no unique id AWS reports, and a record from before
    // unique ids were kept has none for a role: without moor's tags, neither
    // can be told from a namesake.
    let mut state = state;
    state.resources.get_mut("role").unwrap().uid = None;
    let cluster = &state.resources["cluster"].id;
    p.ecs.untag_resource().resource_arn(cluster).tag_keys(TAG_STACK).tag_keys(TAG_RESOURCE).send().await.unwrap();
    p.iam.untag_role().role_name(name(&state, "role")).tag_keys(TAG_STACK).tag_keys(TAG_RESOURCE).send().await.unwrap();

    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    let refused = problems(&pl);
    assert_eq!(refused.keys().map(String::as_str).collect::<Vec<_>>(), ["cluster", "role"], "{refused:#?}");
    assert!(refused["cluster"].contains("nothing tells whether it is the one moor made"), "{refused:#?}");

    // Destroy deletes the rest, leaves those two, and keeps them recorded.
    let (pl, summary, after) = converge(&p, &stack, state.clone(), true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(
        pl.notices.iter().any(|n| n.resource == "cluster" && n.help.contains("moor import cluster")),
        "{:#?}",
        pl.notices
    );
    assert_eq!(after.resources.keys().map(String::as_str).collect::<Vec<_>>(), ["cluster", "role"]);
    assert!(p.iam.get_role().role_name(name(&state, "role")).send().await.is_ok());
    for r in ["role", "cluster"] {
        p.delete(&deletion(&state, r)).await.unwrap();
    }
}
