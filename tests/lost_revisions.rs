//! A task definition registration whose answer is lost, through the fault
//! proxy in front of the moto emulator: the proxy forwards the first
//! RegisterTaskDefinition and drops its answer, so the revision is made and
//! moor never hears of it. ECS has no idempotency token, so the SDK's retry
//! registers a second revision; neither the apply nor the destroy may leave
//! the first one ACTIVE.

mod support;

use aws_sdk_ecs::types as et;
use moor::provider::aws::AwsProvider;
use support::proxy::FaultProxy;
use support::{converge, empty, load, make_plan, provider_via};

const FAMILY: &str = "t-lost-td-task";

async fn active(p: &AwsProvider) -> Vec<String> {
    let out = p
        .ecs
        .list_task_definitions()
        .family_prefix(FAMILY)
        .status(et::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    out.task_definition_arns().to_vec()
}

#[tokio::test]
async fn a_registration_whose_answer_is_lost_leaves_no_extra_revision() {
    if support::skip_emulator() {
        return;
    }
    let proxy = FaultProxy::start();
    let p = provider_via(&proxy.url()).await;
    let text = |tag: &str| {
        format!(
            "stack: t-lost-td
resources:
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    containers:
      - name: web
        image: nginx:{tag}
"
        )
    };

    // A create, then an update (a new revision): the first registration
    // of each loses its answer.
    let mut state = None;
    for (i, tag) in ["1.26", "1.27"].into_iter().enumerate() {
        let stack = load(&text(tag), &[]);
        proxy.fault("ecs:RegisterTaskDefinition", "drop", 1);
        let (_, summary, after) = converge(&p, &stack, state.take().unwrap_or_else(|| empty(&stack)), false).await;
        assert_eq!(proxy.fired("ecs:RegisterTaskDefinition", "drop"), (i + 1) as u64, "{}", proxy.counts());
        // Whether the SDK retried or the apply failed on the lost answer,
        // the stack ends with one ACTIVE revision, the recorded one.
        let after = if summary.ok() {
            after
        } else {
            let (_, summary, after) = converge(&p, &stack, after, false).await;
            assert!(summary.ok(), "{summary:#?}");
            after
        };
        let recorded = after.resources["task"].id.clone();
        assert_eq!(active(&p).await, [recorded], "after apply {i}: {}", proxy.counts());
        let pl = make_plan(p.as_ref(), &stack, &after, false, false).await;
        assert!(!pl.has_changes(), "{:#?}", pl.changes);
        state = Some(after);
    }

    let stack = load(&text("1.27"), &[]);
    let (_, summary, _) = converge(&p, &stack, state.unwrap(), true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(active(&p).await.is_empty());
}
