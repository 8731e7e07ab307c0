mod support;

// Against the local emulator: moor makes no call it does not need. A
// created resource is recorded from the create call's answer and what was
// written, not read back; a recorded policy is read with its default version
// in one round; a role or policy is deleted after one round of listings.
// Each check is by the provider's call counter, by operation.

use moor::apply::{apply, ApplyOptions, MemoryStore, Quiet, Summary};
use moor::graph::build;
use moor::model::Stack;
use moor::plan::Action;
use moor::provider::aws::AwsProvider;
use moor::state::State;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use support::*;

fn calls(snap: &BTreeMap<String, usize>, op: &str) -> usize {
    snap.get(op).copied().unwrap_or(0)
}

/// Plans, then applies with the call counter reset in between: the counter
/// then holds the apply's calls only.
async fn apply_counted(p: &Arc<AwsProvider>, stack: &Stack, state: State, destroy: bool) -> (Summary, State) {
    let (graph, _) = build(stack);
    let pl = make_plan(p.as_ref(), stack, &state, destroy, false).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    p.calls.reset();
    let opts = ApplyOptions::default();
    let stop = Arc::new(AtomicBool::new(false));
    apply(p.clone(), stack, &graph, &pl, state, &MemoryStore::default(), &opts, &Quiet, stop).await
}

/// The Flask example under its own names.
fn flask(stack: &str) -> String {
    let text = std::fs::read_to_string(format!("{}/stacks/flask-app.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    text.replace("stack: flask-demo", &format!("stack: {stack}")).replace("course/", &format!("{stack}/"))
}

#[tokio::test]
async fn creates_are_recorded_from_their_answers() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(&flask("rounds-create"), &["desired_count=0"]);
    let (summary, state) = apply_counted(&p, &stack, empty(&stack), false).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(summary.created.len() >= 10, "{summary:#?}");
    let snap = p.calls.snapshot();
    // Reads that would read a created resource back.
    for op in [
        "ecr:GetLifecyclePolicy",
        "ecr:ListTagsForResource",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        "iam:GetRole",
        "iam:ListAttachedRolePolicies",
        "ecs:DescribeTaskDefinition",
        "ecs:DescribeClusters",
        "elastic load balancing v2:DescribeTargetGroups",
        "elastic load balancing v2:DescribeTargetGroupAttributes",
        "elastic load balancing v2:DescribeListeners",
        "elastic load balancing v2:DescribeTags",
    ] {
        assert_eq!(calls(&snap, op), 0, "{op}: {snap:#?}");
    }
    // The load balancer is described until active (the last description is
    // the answer), and the service once, by its stability wait.
    assert_eq!(calls(&snap, "elastic load balancing v2:DescribeLoadBalancers"), 1, "{snap:#?}");
    assert_eq!(calls(&snap, "ecs:DescribeServices"), 1, "{snap:#?}");

    // What was recorded matches AWS: the next plan has nothing to do, and
    // references to the created resources resolved to the real values.
    let again = make_plan(p.as_ref(), &stack, &state, false, false).await;
    let changed: Vec<_> = again.changes.iter().filter(|c| !matches!(c.action, Action::NoOp | Action::Read)).collect();
    assert!(changed.is_empty(), "{changed:#?}");
    let repo = &state.resources["repo"];
    assert!(repo.attrs["uri"].as_str().unwrap().ends_with("/rounds-create/flask-app"), "{:?}", repo.attrs);
    assert!(state.resources["exec_role"].attrs["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(state.resources["lb"].attrs["dns_name"].as_str().is_some_and(|d| !d.is_empty()));

    // Destroy: roles and policies are listed once, side by side, then
    // emptied and deleted; the service is deleted without a describe first.
    let (summary, _) = apply_counted(&p, &stack, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    let snap = p.calls.snapshot();
    assert_eq!(calls(&snap, "iam:ListAttachedRolePolicies"), 1, "{snap:#?}");
    assert_eq!(calls(&snap, "iam:ListEntitiesForPolicy"), 1, "{snap:#?}");
    assert_eq!(calls(&snap, "ecs:UpdateService"), 0, "{snap:#?}");
}

const POLICY: &str = r#"
stack: rounds-policy
resources:
  pull:
    kind: iam/policy
    document:
      statements:
        - actions: [ecr:BatchGetImage]
          resources: ["*"]
"#;

#[tokio::test]
async fn a_recorded_policy_is_read_with_its_version() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(POLICY, &[]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let arn = state.resources["pull"].id.clone();
    assert_eq!(state.resources["pull"].attrs["default_version"], "v1");

    // A converged policy: the policy and its recorded version, one call each.
    p.calls.reset();
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes);
    let snap = p.calls.snapshot();
    assert_eq!(calls(&snap, "iam:GetPolicy"), 1, "{snap:#?}");
    assert_eq!(calls(&snap, "iam:GetPolicyVersion"), 1, "{snap:#?}");

    // Another default version made outside moor: the recorded one is only a
    // hint, the new document is read and the drift is planned.
    p.iam
        .create_policy_version()
        .policy_arn(&arn)
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}"#)
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    p.calls.reset();
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    let c = pl.change("pull").unwrap();
    assert_eq!(c.action, Action::Update, "{c:#?}");
    assert!(c.diffs.iter().any(|d| d.field.starts_with("document")), "{:#?}", c.diffs);
    assert_eq!(calls(&p.calls.snapshot(), "iam:GetPolicyVersion"), 2, "{:#?}", p.calls.snapshot());

    let state = apply_clean(&p, &stack, state).await;
    assert_eq!(state.resources["pull"].attrs["default_version"], "v3");
    let (_, summary, _) = converge(&p, &stack, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
}

/// Looking for what carries the stack's tags costs a converged plan four
/// calls, in the same round as its reads: one page of the tagging API, one
/// of IAM's account listing, one of ECR's repositories and one of EC2's
/// addresses (the tagging API does not list Elastic IPs). What the record
/// and the file know is never read again for it.
#[tokio::test]
async fn a_converged_plan_looks_for_the_stacks_tags_in_four_calls() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(&flask("rounds-found"), &["desired_count=0"]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    p.calls.reset();
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes);
    let snap = p.calls.snapshot();
    assert_eq!(calls(&snap, "resource groups tagging api:GetResources"), 1, "{snap:#?}");
    assert_eq!(calls(&snap, "iam:GetAccountAuthorizationDetails"), 1, "{snap:#?}");
    assert_eq!(calls(&snap, "ec2:DescribeAddresses"), 1, "{snap:#?}");
    // The repository's read and the listing.
    assert_eq!(calls(&snap, "ecr:DescribeRepositories"), 2, "{snap:#?}");
    // Only the reads of the file's repository and policy ask for these.
    assert_eq!(calls(&snap, "ecr:ListTagsForResource"), 1, "{snap:#?}");
    assert_eq!(calls(&snap, "iam:GetPolicy"), 1, "{snap:#?}");
    let (_, summary, _) = converge(&p, &stack, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
}

/// A new image: the plan's reads are all the service update needs before
/// it deploys (the service is not read again, the revision just registered
/// is not described for its images, and a registration answered at once
/// looks for no lost revision), and the deployment's last poll is the
/// service as recorded (no read after the wait).
#[tokio::test]
async fn an_image_update_reads_nothing_again_before_it_deploys_or_after_its_wait() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let text = flask("rounds-image");
    let stack = load(&text, &["desired_count=0"]);
    let (_, summary, state) = converge(&p, &stack, empty(&stack), false).await;
    assert!(summary.ok(), "{summary:#?}");
    support::push_image(&p, "rounds-image/flask-app", "latest", 'd').await;
    support::push_image(&p, "rounds-image/flask-app", "v2", 'e').await;
    let stack = load(&text, &["desired_count=2"]);
    let (_, summary, state) = converge(&p, &stack, state, false).await;
    assert!(summary.ok(), "{summary:#?}");

    let stack = load(&text, &["desired_count=2", "image_tag=v2"]);
    let (summary, state) = apply_counted(&p, &stack, state, false).await;
    assert!(summary.ok(), "{summary:#?}");
    assert_eq!(summary.updated.len(), 2, "{summary:#?}");
    let snap = p.calls.snapshot();
    assert_eq!(calls(&snap, "ecs:RegisterTaskDefinition"), 1, "{snap:#?}");
    assert_eq!(calls(&snap, "ecs:ListTaskDefinitions"), 0, "{snap:#?}");
    assert_eq!(calls(&snap, "ecs:DescribeTaskDefinition"), 0, "{snap:#?}");
    // The image check before the deployment.
    assert_eq!(calls(&snap, "ecr:DescribeImages"), 1, "{snap:#?}");
    assert_eq!(calls(&snap, "ecs:UpdateService"), 1, "{snap:#?}");
    // The emulator's deployment is complete at once: the wait's one poll.
    assert_eq!(calls(&snap, "ecs:DescribeServices"), 1, "{snap:#?}");
    assert_eq!(calls(&snap, "ecs:DeregisterTaskDefinition"), 1, "{snap:#?}");

    // What was recorded is what AWS has.
    let again = make_plan(p.as_ref(), &stack, &state, false, false).await;
    assert!(!again.has_changes(), "{:#?}", again.changes);
    let (_, summary, _) = converge(&p, &stack, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
}
