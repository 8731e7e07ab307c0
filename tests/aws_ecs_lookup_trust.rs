//! An existing ECS cluster looked up by name, and a role's trust-policy
//! conditions, against the moto emulator: apply, plan again (no change),
//! change, destroy (the looked-up cluster stays). Each test has its own
//! stack name.

mod support;

use moor::plan::Action;
use moor::state::State;
use support::{apply_clean, converge, default_net, empty, load, make_plan, provider};

fn id(state: &State, resource: &str) -> String {
    state.resources[resource].id.clone()
}

fn lookup_stack(cluster: &str) -> String {
    format!(
        "stack: ecs-lookup
region: us-east-1
variables:
  subnets: {{ type: list }}
  sg: {{}}
resources:
  c:
    kind: ecs/existing_cluster
    name: {cluster}
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    containers:
      - name: web
        image: nginx:1.27
        environment:
          CLUSTER: ${{c.name}}
  app:
    kind: ecs/service
    cluster: ${{c.arn}}
    task_definition: ${{task.arn}}
    desired_count: 1
    network:
      subnets: ${{var.subnets}}
      security_groups: ['${{var.sg}}']
"
    )
}

#[tokio::test]
async fn a_service_runs_in_a_cluster_looked_up_by_name_which_destroy_leaves() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    // It carries the stack's own tags, as a cluster the stack once made and
    // now only looks up does: still never deleted.
    let tag = |k: &str, v: &str| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build();
    let made = p
        .ecs
        .create_cluster()
        .cluster_name("made-elsewhere")
        .tags(tag("moor:stack", "ecs-lookup"))
        .tags(tag("moor:resource", "c"))
        .send()
        .await
        .unwrap();
    let cluster_arn = made.cluster().and_then(|c| c.cluster_arn()).unwrap().to_string();
    let net = default_net(&p).await;
    let subnets = format!("subnets=[{}]", net.subnets.join(", "));
    let sg = format!("sg={}", net.sg);
    let vars = [subnets.as_str(), sg.as_str()];

    // Not there: a plan problem at the lookup's place in the file.
    let missing = load(&lookup_stack("no-such-cluster"), &vars);
    let pl = make_plan(p.as_ref(), &missing, &empty(&missing), false, false).await;
    let problem = pl.problems.iter().find(|x| x.resource == "c").expect("not found");
    assert!(problem.message.contains("stack.yaml:"), "{}", problem.message);
    assert!(problem.message.contains("ecs/existing_cluster `no-such-cluster` was not found"), "{}", problem.message);

    let stack = load(&lookup_stack("made-elsewhere"), &vars);
    let pl = make_plan(p.as_ref(), &stack, &empty(&stack), false, false).await;
    assert_eq!(pl.change("c").unwrap().action, Action::Read);
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let svc = id(&state, "app");
    assert!(svc.contains(":service/made-elsewhere/"), "{svc}");
    let td = p.ecs.describe_task_definition().task_definition(id(&state, "task")).send().await.unwrap();
    let env = td.task_definition().unwrap().container_definitions()[0].environment().to_vec();
    assert_eq!(env[0].value(), Some("made-elsewhere"));

    let (_, summary, state) = converge(&p, &stack, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.values().all(|r| r.kind == moor::kinds::Kind::EcsExistingCluster), "{:?}", state.resources);
    let left = p.ecs.describe_clusters().clusters(&cluster_arn).send().await.unwrap();
    assert_eq!(left.clusters()[0].status(), Some("ACTIVE"), "a lookup is never deleted");
    p.ecs.delete_cluster().cluster(&cluster_arn).send().await.unwrap();
}

fn role_stack(conditions: &str) -> String {
    format!(
        "stack: iam-trust-conditions
region: us-east-1
resources:
  exec:
    kind: iam/role
    assumed_by:
      services: [ecs-tasks.amazonaws.com]
{conditions}"
    )
}

async fn trust(p: &moor::provider::aws::AwsProvider, name: &str) -> serde_json::Value {
    let out = p.iam.get_role().role_name(name).send().await.unwrap();
    let doc = out.role().and_then(|r| r.assume_role_policy_document()).unwrap().to_string();
    let doc = urlencoding_decode(&doc);
    serde_json::from_str(&doc).unwrap()
}

/// IAM answers the document URL-encoded.
fn urlencoding_decode(s: &str) -> String {
    if s.trim_start().starts_with('{') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn trust_conditions_apply_plan_clean_and_change_in_place() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let guard = "      conditions:
        StringEquals:
          aws:SourceAccount: \"123456789012\"
        ArnLike:
          aws:SourceArn: [\"arn:aws:ecs:us-east-1:123456789012:*\"]
";
    let stack = load(&role_stack(guard), &[]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let role_arn = id(&state, "exec");
    let name = role_arn.rsplit('/').next().unwrap().to_string();
    let doc = trust(&p, &name).await;
    let cond = &doc["Statement"][0]["Condition"];
    assert_eq!(cond["StringEquals"]["aws:SourceAccount"], "123456789012", "{doc}");
    let like = &cond["ArnLike"]["aws:SourceArn"];
    assert!(
        like == "arn:aws:ecs:us-east-1:123456789012:*" || like[0] == "arn:aws:ecs:us-east-1:123456789012:*",
        "{doc}"
    );

    // Another account and two source ARNs: an update in place.
    let changed = "      conditions:
        StringEquals:
          aws:SourceAccount: \"210987654321\"
        ArnLike:
          aws:SourceArn:
            - arn:aws:ecs:us-east-1:210987654321:*
            - arn:aws:ecs:eu-west-1:210987654321:*
";
    let stack = load(&role_stack(changed), &[]);
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    let ch = pl.change("exec").unwrap();
    assert_eq!(ch.action, Action::Update);
    assert_eq!(ch.diffs.iter().map(|d| d.field.as_str()).collect::<Vec<_>>(), ["assumed_by"]);
    let state = apply_clean(&p, &stack, state).await;
    assert_eq!(id(&state, "exec"), role_arn, "not replaced");
    let doc = trust(&p, &name).await;
    assert_eq!(doc["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"], "210987654321", "{doc}");
    assert_eq!(doc["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"].as_array().map(Vec::len), Some(2));

    // Removed from the file: the trust loses them.
    let plain = load(&role_stack(""), &[]);
    let pl = make_plan(p.as_ref(), &plain, &state, false, false).await;
    assert_eq!(pl.change("exec").unwrap().action, Action::Update);
    let state = apply_clean(&p, &plain, state).await;
    let doc = trust(&p, &name).await;
    assert!(doc["Statement"][0].get("Condition").is_none(), "{doc}");

    let (_, summary, state) = converge(&p, &plain, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
    assert!(p.iam.get_role().role_name(&name).send().await.is_err(), "the role is gone");
}
