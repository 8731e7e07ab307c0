//! ECR repositories and IAM roles and policies against the moto emulator:
//! every setting applies with no drift afterwards, the updates users make
//! stay in place, replacements and destroys do what the plan says.

mod support;

use moor::apply::Summary;
use moor::model::{Kind, Stack};
use moor::plan::{Action, Plan};
use moor::provider::aws::AwsProvider;
use moor::provider::{Deletion, ErrorKind, Provider};
use moor::resolve::Known;
use moor::state::State;
use std::collections::BTreeSet;
use std::sync::Arc;
use support::{apply_clean, converge, empty, load, make_plan, provider};

/// Plans (with `force` as given) and applies, without asserting success.
async fn plan_apply(
    p: &Arc<AwsProvider>,
    stack: &Stack,
    state: State,
    destroy: bool,
    force: bool,
) -> (Plan, Summary, State) {
    support::converge_with(p, stack, state, destroy, force).await
}

/// Destroys the stack and checks that it worked.
async fn destroy(p: &Arc<AwsProvider>, stack: &Stack, state: State) -> State {
    let (_, summary, state) = converge(p, stack, state, true).await;
    assert!(summary.ok(), "destroy failed: {summary:#?}");
    state
}

fn action(pl: &Plan, resource: &str) -> Action {
    pl.change(resource).unwrap_or_else(|| panic!("{resource} is in the plan")).action
}

fn changed(pl: &Plan, resource: &str) -> BTreeSet<String> {
    pl.change(resource).unwrap().diffs.iter().map(|d| d.field.clone()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn repo_exists(p: &AwsProvider, name: &str) -> bool {
    match p.ecr.describe_repositories().repository_names(name).send().await {
        Ok(out) => !out.repositories().is_empty(),
        Err(e) => {
            let code = aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&e).map(str::to_string);
            assert_eq!(code.as_deref(), Some("RepositoryNotFoundException"), "{e:?}");
            false
        }
    }
}

async fn role_exists(p: &AwsProvider, name: &str) -> bool {
    p.iam.get_role().role_name(name).send().await.is_ok()
}

async fn policy_exists(p: &AwsProvider, arn: &str) -> bool {
    p.iam.get_policy().policy_arn(arn).send().await.is_ok()
}

fn attr(state: &State, resource: &str, name: &str) -> String {
    state.resources[resource].attrs[name].as_str().unwrap_or_else(|| panic!("{resource}.{name}")).to_string()
}

async fn lifecycle_text(p: &AwsProvider, repo: &str) -> serde_json::Value {
    let out = p.ecr.get_lifecycle_policy().repository_name(repo).send().await.expect("lifecycle policy");
    serde_json::from_str(out.lifecycle_policy_text().unwrap()).unwrap()
}

async fn attached(p: &AwsProvider, role: &str) -> BTreeSet<String> {
    let out = p.iam.list_attached_role_policies().role_name(role).send().await.unwrap();
    out.attached_policies().iter().filter_map(|a| a.policy_arn().map(str::to_string)).collect()
}

async fn inline_names(p: &AwsProvider, role: &str) -> BTreeSet<String> {
    p.iam.list_role_policies().role_name(role).send().await.unwrap().policy_names().iter().cloned().collect()
}

const FULL_REPO: &str = r#"
stack: t-ecr-full
tags:
  team: widgets
resources:
  puller:
    kind: iam/role
    assumed_by:
      services: [codebuild.amazonaws.com]
  repo:
    kind: ecr/repository
    name: t-ecr-full/widget-server
    tag_mutability: immutable
    scan_on_push: true
    encryption:
      kms: alias/widgets-ecr
    lifecycle:
      keep_last: 50
      expire_untagged_after_days: 3
      rules:
        - priority: 1
          description: Pull request builds live two weeks
          tag_status: tagged
          tag_prefixes: [pr-]
          days_since_pushed: 14
        - priority: 2
          tag_status: tagged
          tag_prefixes: [rc-, release-]
          count_more_than: 5
    pull_access:
      accounts: ["210987654321", "111122223333"]
      principals: ["${puller.arn}"]
      services: [codebuild.amazonaws.com]
    policy:
      statements:
        - sid: CiPush
          actions: [ecr:PutImage, ecr:InitiateLayerUpload, ecr:UploadLayerPart, ecr:CompleteLayerUpload]
          principals:
            aws: ["123456789012"]
          conditions:
            StringEquals:
              aws:PrincipalTag/team: widgets
        - effect: deny
          actions: [ecr:DeleteRepository]
          principals:
            aws: ["*"]
    empty_on_delete: false
    tags:
      service: widget-server
outputs:
  uri: ${repo.uri}
"#;

#[tokio::test]
async fn a_repository_with_every_setting_applies_clean_and_destroys() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(FULL_REPO, &[]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let name = "t-ecr-full/widget-server";

    assert_eq!(attr(&state, "repo", "name"), name);
    let uri = attr(&state, "repo", "uri");
    assert!(uri.ends_with(&format!(".dkr.ecr.us-east-1.amazonaws.com/{name}")), "{uri}");
    assert_eq!(state.outputs["uri"], uri);
    let registry = attr(&state, "repo", "registry_id");
    assert!(uri.starts_with(&registry) && registry.len() == 12, "{registry}");
    assert!(attr(&state, "repo", "arn").ends_with(&format!(":repository/{name}")));

    // The shorthands come after the file's rules; the rule for any image last.
    let l = lifecycle_text(&p, name).await;
    let rules = l["rules"].as_array().unwrap();
    let prios: Vec<u64> = rules.iter().map(|r| r["rulePriority"].as_u64().unwrap()).collect();
    assert_eq!(prios, [1, 2, 3, 4]);
    assert_eq!(rules[2]["selection"]["tagStatus"], "untagged");
    assert_eq!(rules[2]["selection"]["countNumber"], 3);
    assert_eq!(rules[3]["selection"]["tagStatus"], "any");
    assert_eq!(rules[3]["selection"]["countNumber"], 50);

    // pull_access is one recognisable statement, accounts as their root ARNs.
    let policy = p.ecr.get_repository_policy().repository_name(name).send().await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(policy.policy_text().unwrap()).unwrap();
    let pull =
        doc["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "MoorPullAccess").expect("pull statement");
    let aws: Vec<&str> = pull["Principal"]["AWS"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(aws.contains(&"arn:aws:iam::210987654321:root"), "{aws:?}");
    assert!(aws.contains(&attr(&state, "puller", "arn").as_str()), "{aws:?}");

    let repo = p.ecr.describe_repositories().repository_names(name).send().await.unwrap().repositories()[0].clone();
    assert_eq!(repo.image_tag_mutability().unwrap().as_str(), "IMMUTABLE");
    assert!(repo.image_scanning_configuration().unwrap().scan_on_push());
    assert_eq!(repo.encryption_configuration().unwrap().encryption_type().as_str(), "KMS");
    let tags = p.ecr.list_tags_for_resource().resource_arn(repo.repository_arn().unwrap()).send().await.unwrap();
    let tags: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    for want in
        [("moor:stack", "t-ecr-full"), ("moor:resource", "repo"), ("team", "widgets"), ("service", "widget-server")]
    {
        assert!(tags.contains(&want), "{want:?} in {tags:?}");
    }

    destroy(&p, &stack, state).await;
    assert!(!repo_exists(&p, name).await);
    assert!(!role_exists(&p, "t-ecr-full-puller").await);
}

#[tokio::test]
async fn the_example_ecr_and_iam_stacks_apply_clean_and_destroy() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    for file in ["ecr-repository.yaml", "iam-role-policy.yaml"] {
        let text = std::fs::read_to_string(format!("{}/stacks/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let stack = load(&text, &[]);
        let state = apply_clean(&p, &stack, empty(&stack)).await;
        let ids: Vec<(String, Kind, String)> =
            state.resources.iter().map(|(k, e)| (k.clone(), e.kind, e.id.clone())).collect();
        assert!(!ids.is_empty());
        destroy(&p, &stack, state).await;
        for (logical, kind, id) in ids {
            let gone = match kind {
                Kind::EcrRepository => !repo_exists(&p, id.split("repository/").nth(1).unwrap()).await,
                Kind::IamRole => !role_exists(&p, id.rsplit('/').next().unwrap()).await,
                Kind::IamPolicy => !policy_exists(&p, &id).await,
                other => panic!("unexpected {other}"),
            };
            assert!(gone, "{logical} of {file} is gone");
        }
    }
}

const FIRST_REPO: &str = r#"
stack: t-ecr-update
resources:
  repo:
    kind: ecr/repository
    tag_mutability: mutable
    scan_on_push: false
    lifecycle:
      keep_last: 10
    pull_access:
      accounts: ["210987654321"]
    tags: { a: "1", gone: "x" }
"#;

#[tokio::test]
async fn repository_settings_change_in_place() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let v1 = load(FIRST_REPO, &[]);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let arn = attr(&state, "repo", "arn");

    let v2 = load(
        r#"
stack: t-ecr-update
resources:
  repo:
    kind: ecr/repository
    tag_mutability: immutable
    scan_on_push: true
    lifecycle:
      keep_last: 20
      expire_untagged_after_days: 7
      rules:
        - priority: 5
          tag_status: tagged
          tag_prefixes: [pr-]
          days_since_pushed: 14
    pull_access:
      accounts: ["210987654321", "111122223333"]
      services: [codebuild.amazonaws.com]
    policy:
      statements:
        - sid: Ci
          actions: [ecr:PutImage]
          principals: { aws: ["123456789012"] }
    tags: { a: "2", b: "3" }
"#,
        &[],
    );
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(action(&pl, "repo"), Action::Update, "{:#?}", pl.change("repo"));
    assert_eq!(
        changed(&pl, "repo"),
        set(&["tag_mutability", "scan_on_push", "lifecycle", "pull_access", "policy", "tags"])
    );
    let state = apply_clean(&p, &v2, state).await;
    assert_eq!(attr(&state, "repo", "arn"), arn, "updated in place");
    let l = lifecycle_text(&p, "t-ecr-update/repo").await;
    let prios: Vec<u64> = l["rules"].as_array().unwrap().iter().map(|r| r["rulePriority"].as_u64().unwrap()).collect();
    assert_eq!(prios, [5, 6, 7]);
    let tags = p.ecr.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    let keys: BTreeSet<String> = tags.tags().iter().map(|t| t.key().to_string()).collect();
    assert_eq!(keys, set(&["a", "b", "moor:resource", "moor:stack"]));

    // Only the policy statement changes.
    let v3 = load(
        r#"
stack: t-ecr-update
resources:
  repo:
    kind: ecr/repository
    tag_mutability: immutable
    scan_on_push: true
    lifecycle:
      keep_last: 20
      expire_untagged_after_days: 7
      rules:
        - priority: 5
          tag_status: tagged
          tag_prefixes: [pr-]
          days_since_pushed: 14
    pull_access:
      accounts: ["210987654321", "111122223333"]
      services: [codebuild.amazonaws.com]
    policy:
      statements:
        - sid: Ci
          actions: [ecr:PutImage, ecr:UploadLayerPart]
          principals: { aws: ["123456789012"] }
    tags: { a: "2", b: "3" }
"#,
        &[],
    );
    let pl = make_plan(p.as_ref(), &v3, &state, false, false).await;
    assert_eq!(action(&pl, "repo"), Action::Update);
    assert_eq!(changed(&pl, "repo"), set(&["policy"]));
    let state = apply_clean(&p, &v3, state).await;

    // Back to the first settings, but for scan_on_push: the SDK leaves
    // `scanOnPush: false` out of PutImageScanningConfiguration (false is the
    // model's default, and AWS reads `{}` as false), and moto then keeps
    // the old value.
    let back = load(&FIRST_REPO.replace("scan_on_push: false", "scan_on_push: true"), &[]);
    let pl = make_plan(p.as_ref(), &back, &state, false, false).await;
    assert_eq!(action(&pl, "repo"), Action::Update);
    assert_eq!(changed(&pl, "repo"), set(&["tag_mutability", "lifecycle", "pull_access", "policy", "tags"]));
    let state = apply_clean(&p, &back, state).await;
    destroy(&p, &back, state).await;
    assert!(!repo_exists(&p, "t-ecr-update/repo").await);
}

#[tokio::test]
async fn changing_encryption_replaces_the_repository_only_with_force() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let v1 = load("stack: t-ecr-replace\nresources:\n  repo:\n    kind: ecr/repository\n    encryption: aes256\n", &[]);
    let state = apply_clean(&p, &v1, empty(&v1)).await;

    let v2 = load("stack: t-ecr-replace\nresources:\n  repo:\n    kind: ecr/repository\n    encryption:\n      kms: alias/t-ecr-replace\n", &[]);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    let ch = pl.change("repo").unwrap();
    assert_eq!(ch.action, Action::Replace);
    assert_eq!(ch.reasons, vec!["forces replacement: encryption".to_string()]);
    assert_eq!(pl.problems.len(), 1, "{:?}", pl.problems);
    assert!(pl.problems[0].message.contains("deletes every image"), "{:?}", pl.problems);
    assert!(pl.problems[0].help.contains("--force"));

    let (pl, summary, state) = plan_apply(&p, &v2, state, false, true).await;
    assert_eq!(action(&pl, "repo"), Action::Replace);
    assert!(summary.ok(), "{summary:#?}");
    assert_eq!(summary.replaced, vec!["repo".to_string()]);
    let again = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert!(!again.has_changes(), "{:#?}", again.changes);
    let repo =
        p.ecr.describe_repositories().repository_names("t-ecr-replace/repo").send().await.unwrap().repositories()[0]
            .clone();
    assert_eq!(repo.encryption_configuration().unwrap().encryption_type().as_str(), "KMS");
    destroy(&p, &v2, state).await;
    assert!(!repo_exists(&p, "t-ecr-replace/repo").await);
}

#[tokio::test]
async fn a_repository_holding_images_is_only_deleted_when_emptying_is_allowed() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let kept =
        load("stack: t-ecr-images\nresources:\n  repo:\n    kind: ecr/repository\n    empty_on_delete: false\n", &[]);
    let state = apply_clean(&p, &kept, empty(&kept)).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        },
        "layers": []
    });
    p.ecr
        .put_image()
        .repository_name("t-ecr-images/repo")
        .image_manifest(manifest.to_string())
        .image_tag("v1")
        .send()
        .await
        .expect("push an image");

    // Destroy stops at the repository and says what to do.
    let (pl, summary, state) = converge(&p, &kept, state, true).await;
    assert_eq!(action(&pl, "repo"), Action::Delete);
    assert!(!pl.change("repo").unwrap().force_delete);
    assert_eq!(summary.failed.len(), 1, "{summary:#?}");
    let err = &summary.failed[0].error;
    assert_eq!(err.operation, "ecr:DeleteRepository");
    assert_eq!(err.code.as_deref(), Some("RepositoryNotEmptyException"));
    assert_eq!(err.kind, ErrorKind::InUse);
    assert!(err.message.contains("empty_on_delete: true") && err.message.contains("--force"), "{}", err.message);
    assert!(repo_exists(&p, "t-ecr-images/repo").await);

    // --force would empty it; so does empty_on_delete, which is not a change.
    let forced = make_plan(p.as_ref(), &kept, &state, true, true).await;
    assert!(forced.change("repo").unwrap().force_delete);
    let emptied =
        load("stack: t-ecr-images\nresources:\n  repo:\n    kind: ecr/repository\n    empty_on_delete: true\n", &[]);
    let pl = make_plan(p.as_ref(), &emptied, &state, false, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes);
    let state = apply_clean(&p, &emptied, state).await;
    let (pl, summary, _) = converge(&p, &emptied, state, true).await;
    assert!(pl.change("repo").unwrap().force_delete);
    assert!(summary.ok(), "{summary:#?}");
    assert!(!repo_exists(&p, "t-ecr-images/repo").await);
}

#[tokio::test]
async fn an_unowned_repository_of_the_same_name_is_refused() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    p.ecr.create_repository().repository_name("t-ecr-unowned/repo").send().await.unwrap();
    let stack =
        load("stack: t-ecr-unowned\nresources:\n  repo:\n    kind: ecr/repository\n    scan_on_push: true\n", &[]);
    let pl = make_plan(p.as_ref(), &stack, &empty(&stack), false, false).await;
    assert_eq!(action(&pl, "repo"), Action::NoOp);
    assert_eq!(pl.problems.len(), 1, "{:?}", pl.problems);
    assert!(pl.problems[0].message.contains("nothing moor manages"), "{:?}", pl.problems);
    assert!(pl.problems[0].help.contains("moor import repo"), "{:?}", pl.problems);
    // Destroy leaves it alone too.
    let pl = make_plan(p.as_ref(), &stack, &empty(&stack), true, true).await;
    assert!(pl.changes.is_empty(), "{:#?}", pl.changes);
    p.ecr.delete_repository().repository_name("t-ecr-unowned/repo").send().await.unwrap();
}

#[tokio::test]
async fn lookups_are_read_and_never_changed() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    p.ecr.create_repository().repository_name("t-lookup/base").send().await.unwrap();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    p.iam.create_role().role_name("t-lookup-ops").assume_role_policy_document(trust).send().await.unwrap();
    let stack = load(
        r#"
stack: t-lookup
resources:
  base:
    kind: ecr/existing_repository
    name: t-lookup/base
  ops:
    kind: iam/existing_role
    name: t-lookup-ops
  pull:
    kind: iam/policy
    document:
      statements:
        - actions: [ecr:BatchGetImage]
          resources: ["${base.arn}"]
        - actions: [iam:PassRole]
          resources: ["${ops.arn}"]
outputs:
  image: ${base.uri}:v1
  role_id: ${ops.id}
"#,
        &[],
    );
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    assert_eq!(action(&pl, "base"), Action::Read);
    assert_eq!(action(&pl, "ops"), Action::Read);
    assert!(state.outputs["image"].ends_with(".amazonaws.com/t-lookup/base:v1"), "{:?}", state.outputs);
    assert!(!state.outputs["role_id"].is_empty());

    // The provider refuses to write a lookup.
    let (t, _) = moor::plan::target(&stack, "base", &Known::new(), &state);
    let live = p.read(&t).await.unwrap().expect("the repository is found");
    assert_eq!(live.attrs.keys().map(String::as_str).collect::<Vec<_>>(), ["arn", "name", "registry_id", "uri"]);
    assert_eq!(p.create(&t).await.unwrap_err().kind, ErrorKind::Rejected);
    assert_eq!(p.update(&t, &live, &["name".to_string()]).await.unwrap_err().kind, ErrorKind::Rejected);
    assert_eq!(p.adopt(&t, &live).await.unwrap_err().kind, ErrorKind::Rejected);
    let d = Deletion {
        logical: "base".into(),
        kind: Kind::EcrExistingRepository,
        id: live.id.clone(),
        name: Some("t-lookup/base".into()),
        attrs: live.attrs.clone(),
        force: true,
    };
    assert_eq!(p.delete(&d).await.unwrap_err().kind, ErrorKind::Rejected);
    let (t, _) = moor::plan::target(&stack, "ops", &Known::new(), &state);
    let live = p.read(&t).await.unwrap().expect("the role is found");
    assert_eq!(live.attrs.keys().map(String::as_str).collect::<Vec<_>>(), ["arn", "id", "name"]);
    assert_eq!(p.create(&t).await.unwrap_err().kind, ErrorKind::Rejected);

    // A name that still holds a reference is not looked up.
    let mut t = t.clone();
    t.spec = moor::model::Spec::IamExistingRole(moor::kinds::iam::ExistingRole { name: "${x.name}".into() });
    assert!(p.read(&t).await.unwrap().is_none());

    destroy(&p, &stack, state).await;
    assert!(repo_exists(&p, "t-lookup/base").await);
    assert!(role_exists(&p, "t-lookup-ops").await);
    p.ecr.delete_repository().repository_name("t-lookup/base").send().await.unwrap();
    p.iam.delete_role().role_name("t-lookup-ops").send().await.unwrap();
}

const FULL_ROLE: &str = r#"
stack: t-iam-full
tags: { team: widgets }
resources:
  boundary:
    kind: iam/policy
    document:
      statements:
        - actions: ["ecr:*", "logs:*", "ecs:*", "iam:PassRole"]
          resources: ["*"]
  push:
    kind: iam/policy
    path: /t-iam-full/
    description: Push images to the team's repositories
    document:
      version: "2012-10-17"
      statements:
        - sid: Login
          actions: [ecr:GetAuthorizationToken]
          resources: ["*"]
        - sid: Push
          actions: [ecr:PutImage, ecr:BatchCheckLayerAvailability, ecr:InitiateLayerUpload]
          resources: ["arn:aws:ecr:us-east-1:123456789012:repository/team/*"]
        - effect: deny
          not_actions: ["ecr:*", "logs:*"]
          resources: ["*"]
    tags: { kind: push }
  release:
    kind: iam/role
    path: /release/
    description: Assumed by the release engineer
    assumed_by:
      accounts: ["123456789012"]
      principals: [arn:aws:iam::123456789012:user/alice]
      external_id: release-2024
      require_mfa: true
    policies: ["${push.arn}"]
    permissions_boundary: ${boundary.arn}
    inline_policies:
      deploy:
        statements:
          - sid: Roll
            actions: [ecs:DescribeServices, ecs:UpdateService]
            resources: ["arn:aws:ecs:us-east-1:123456789012:service/widgets/*"]
          - actions: [iam:PassRole]
            resources: ["arn:aws:iam::123456789012:role/widgets-*"]
            conditions:
              StringEquals:
                iam:PassedToService: ecs-tasks.amazonaws.com
              StringLike:
                aws:RequestTag/team: [widgets, platform]
      logs:
        statements:
          - actions: [logs:PutLogEvents, logs:CreateLogStream]
            resources: ["*"]
    max_session_duration: 7200
    tags: { purpose: release }
  task:
    kind: iam/role
    assumed_by:
      services: [ecs-tasks.amazonaws.com, ecs.amazonaws.com]
      principals: ["arn:aws:iam::210987654321:root", "${release.arn}"]
    policies: ["${push.arn}", "${boundary.arn}"]
outputs:
  role: ${release.arn}
"#;

#[tokio::test]
async fn roles_and_policies_with_every_setting_apply_clean_and_destroy() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(FULL_ROLE, &[]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;

    let arn = attr(&state, "release", "arn");
    assert!(arn.ends_with(":role/release/t-iam-full-release"), "{arn}");
    assert_eq!(state.outputs["role"], arn);
    assert!(!attr(&state, "release", "id").is_empty());
    let push = attr(&state, "push", "arn");
    assert!(push.ends_with(":policy/t-iam-full/t-iam-full-push"), "{push}");
    assert_eq!(attached(&p, "t-iam-full-release").await, set(&[&push]));
    assert_eq!(attached(&p, "t-iam-full-task").await, set(&[&push, &attr(&state, "boundary", "arn")]));
    assert_eq!(inline_names(&p, "t-iam-full-release").await, set(&["deploy", "logs"]));

    // The trust policy says what assumed_by means.
    let role = p.iam.get_role().role_name("t-iam-full-release").send().await.unwrap();
    let role = role.role().unwrap();
    assert_eq!(role.max_session_duration(), Some(7200));
    assert_eq!(
        role.permissions_boundary().and_then(|b| b.permissions_boundary_arn()),
        Some(attr(&state, "boundary", "arn").as_str())
    );
    let doc = role.assume_role_policy_document().unwrap();
    let doc = if doc.starts_with('{') {
        doc.to_string()
    } else {
        doc.replace("%22", "\"").replace("%3A", ":").replace("%2F", "/")
    };
    for want in ["arn:aws:iam::123456789012:root", "sts:ExternalId", "release-2024", "aws:MultiFactorAuthPresent"] {
        assert!(doc.contains(want), "{want} in {doc}");
    }

    // A role in an instance profile is taken out of it before it goes.
    p.iam.create_instance_profile().instance_profile_name("t-iam-full-ip").send().await.unwrap();
    p.iam
        .add_role_to_instance_profile()
        .instance_profile_name("t-iam-full-ip")
        .role_name("t-iam-full-task")
        .send()
        .await
        .unwrap();

    let state = destroy(&p, &stack, state).await;
    assert!(state.resources.is_empty(), "{:?}", state.resources.keys());
    let ip = p.iam.get_instance_profile().instance_profile_name("t-iam-full-ip").send().await.unwrap();
    assert!(ip.instance_profile().unwrap().roles().is_empty());
    p.iam.delete_instance_profile().instance_profile_name("t-iam-full-ip").send().await.unwrap();
    assert!(!role_exists(&p, "t-iam-full-release").await);
    assert!(!role_exists(&p, "t-iam-full-task").await);
    assert!(!policy_exists(&p, &push).await);
}

fn role_stack(trust: &str, policies: &str, inline: &str, extra: &str) -> Stack {
    let text = format!(
        r#"
stack: t-iam-update
resources:
  one:
    kind: iam/policy
    document:
      statements:
        - actions: [s3:GetObject]
          resources: ["*"]
  two:
    kind: iam/policy
    document:
      statements:
        - actions: [s3:PutObject]
          resources: ["*"]
  role:
    kind: iam/role
    assumed_by:
{trust}
    policies: {policies}
    inline_policies:
{inline}
{extra}
"#
    );
    load(&text, &[])
}

#[tokio::test]
async fn role_settings_change_in_place() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let inline_a =
        "      a:\n        statements:\n          - actions: [sqs:SendMessage]\n            resources: [\"*\"]";
    let v1 = role_stack(
        "      services: [ecs-tasks.amazonaws.com]",
        r#"["${one.arn}"]"#,
        inline_a,
        "    description: first\n    tags: { a: \"1\", gone: x }",
    );
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let arn = attr(&state, "role", "arn");
    let one = attr(&state, "one", "arn");
    let two = attr(&state, "two", "arn");

    // Trust, managed policies (one out, two in), inline policies, description,
    // session length and tags, all in place.
    let inline_ab = "      a:\n        statements:\n          - actions: [sqs:SendMessage, sqs:ReceiveMessage]\n            resources: [\"*\"]\n      b:\n        statements:\n          - actions: [sns:Publish]\n            resources: [\"*\"]";
    let v2 = role_stack(
        "      services: [ecs-tasks.amazonaws.com]\n      accounts: [\"123456789012\"]\n      external_id: abc",
        r#"["${two.arn}"]"#,
        inline_ab,
        "    description: second\n    max_session_duration: 7200\n    tags: { a: \"2\", b: \"3\" }",
    );
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(action(&pl, "role"), Action::Update, "{:#?}", pl.change("role"));
    assert_eq!(
        changed(&pl, "role"),
        set(&["assumed_by", "policies", "inline_policies", "description", "max_session_duration", "tags"])
    );
    let state = apply_clean(&p, &v2, state).await;
    assert_eq!(attr(&state, "role", "arn"), arn, "updated in place");
    assert_eq!(attached(&p, "t-iam-update-role").await, set(&[&two]));
    assert_eq!(inline_names(&p, "t-iam-update-role").await, set(&["a", "b"]));

    // Both managed policies, MFA, and an inline policy under a new name: the
    // old ones go.
    let inline_c = "      c:\n        statements:\n          - actions: [sns:Publish]\n            resources: [\"*\"]";
    let v3 = role_stack(
        "      services: [ecs-tasks.amazonaws.com]\n      accounts: [\"123456789012\"]\n      external_id: abc\n      require_mfa: true",
        r#"["${one.arn}", "${two.arn}"]"#,
        inline_c,
        "    description: second\n    max_session_duration: 7200\n    tags: { a: \"2\", b: \"3\" }",
    );
    let pl = make_plan(p.as_ref(), &v3, &state, false, false).await;
    assert_eq!(action(&pl, "role"), Action::Update);
    assert_eq!(changed(&pl, "role"), set(&["assumed_by", "policies", "inline_policies"]));
    let state = apply_clean(&p, &v3, state).await;
    assert_eq!(attached(&p, "t-iam-update-role").await, set(&[&one, &two]));
    assert_eq!(inline_names(&p, "t-iam-update-role").await, set(&["c"]));
    let role = p.iam.get_role().role_name("t-iam-update-role").send().await.unwrap();
    let tags: BTreeSet<String> =
        role.role().unwrap().tags().iter().map(|t| format!("{}={}", t.key(), t.value())).collect();
    assert_eq!(tags, set(&["a=2", "b=3", "moor:resource=role", "moor:stack=t-iam-update"]));

    // Detach one again.
    let v4 = role_stack(
        "      services: [ecs-tasks.amazonaws.com]\n      accounts: [\"123456789012\"]\n      external_id: abc\n      require_mfa: true",
        r#"["${two.arn}"]"#,
        inline_c,
        "    description: second\n    max_session_duration: 7200\n    tags: { a: \"2\", b: \"3\" }",
    );
    let pl = make_plan(p.as_ref(), &v4, &state, false, false).await;
    assert_eq!(changed(&pl, "role"), set(&["policies"]));
    let state = apply_clean(&p, &v4, state).await;
    assert_eq!(attached(&p, "t-iam-update-role").await, set(&[&two]));

    destroy(&p, &v4, state).await;
    assert!(!role_exists(&p, "t-iam-update-role").await);
    assert!(!policy_exists(&p, &one).await && !policy_exists(&p, &two).await);
}

#[tokio::test]
async fn a_policy_updated_six_times_keeps_within_five_versions() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack_of = |n: usize| {
        let actions: Vec<String> = (0..=n).map(|i| format!("s3:Action{i}")).collect();
        load(
            &format!(
                "stack: t-iam-versions\nresources:\n  pol:\n    kind: iam/policy\n    description: versioned\n    document:\n      statements:\n        - actions: [{}]\n          resources: [\"*\"]\n",
                actions.join(", ")
            ),
            &[],
        )
    };
    let first = stack_of(0);
    let mut state = apply_clean(&p, &first, empty(&first)).await;
    let arn = attr(&state, "pol", "arn");
    for n in 1..=6 {
        let stack = stack_of(n);
        let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
        assert_eq!(action(&pl, "pol"), Action::Update, "update {n}");
        assert_eq!(changed(&pl, "pol"), set(&["document"]));
        state = apply_clean(&p, &stack, state).await;
        assert_eq!(attr(&state, "pol", "arn"), arn);
    }
    let versions = p.iam.list_policy_versions().policy_arn(&arn).send().await.unwrap();
    assert!(versions.versions().len() <= 5, "{:?}", versions.versions());
    let default = versions.versions().iter().find(|v| v.is_default_version()).unwrap();
    let doc =
        p.iam.get_policy_version().policy_arn(&arn).version_id(default.version_id().unwrap()).send().await.unwrap();
    assert!(doc.policy_version().unwrap().document().unwrap().contains("Action6"));

    // The description is fixed at creation: a change replaces the policy.
    let text = "stack: t-iam-versions\nresources:\n  pol:\n    kind: iam/policy\n    description: renamed\n    document:\n      statements:\n        - actions: [s3:Action0]\n          resources: [\"*\"]\n";
    let changed_desc = load(text, &[]);
    let pl = make_plan(p.as_ref(), &changed_desc, &state, false, false).await;
    assert_eq!(action(&pl, "pol"), Action::Replace);
    assert!(pl.change("pol").unwrap().reasons.contains(&"forces replacement: description".to_string()));
    let state = apply_clean(&p, &changed_desc, state).await;

    destroy(&p, &changed_desc, state).await;
    assert!(!policy_exists(&p, &arn).await);
}

#[tokio::test]
async fn destroying_a_policy_detaches_it_from_roles_outside_the_stack() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(
        "stack: t-iam-shared\nresources:\n  pol:\n    kind: iam/policy\n    document:\n      statements:\n        - actions: [s3:GetObject]\n          resources: [\"*\"]\n",
        &[],
    );
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let arn = attr(&state, "pol", "arn");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    p.iam.create_role().role_name("t-iam-shared-outside").assume_role_policy_document(trust).send().await.unwrap();
    p.iam.attach_role_policy().role_name("t-iam-shared-outside").policy_arn(&arn).send().await.unwrap();
    // A second version, so there is a non-default one to delete.
    let v2 = load(
        "stack: t-iam-shared\nresources:\n  pol:\n    kind: iam/policy\n    document:\n      statements:\n        - actions: [s3:GetObject, s3:ListBucket]\n          resources: [\"*\"]\n",
        &[],
    );
    let state = apply_clean(&p, &v2, state).await;

    destroy(&p, &v2, state).await;
    assert!(!policy_exists(&p, &arn).await);
    assert!(attached(&p, "t-iam-shared-outside").await.is_empty());
    p.iam.delete_role().role_name("t-iam-shared-outside").send().await.unwrap();
}

#[tokio::test]
async fn resources_deleted_outside_moor_are_created_again() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(
        r#"
stack: t-drift
resources:
  repo:
    kind: ecr/repository
    lifecycle: { keep_last: 3 }
  role:
    kind: iam/role
    assumed_by: { services: [ecs-tasks.amazonaws.com] }
    inline_policies:
      pull:
        statements:
          - actions: [ecr:BatchGetImage]
            resources: ["${repo.arn}"]
"#,
        &[],
    );
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    // Someone deletes the lifecycle policy and the role's inline policy.
    p.ecr.delete_lifecycle_policy().repository_name("t-drift/repo").send().await.unwrap();
    p.iam.delete_role_policy().role_name("t-drift-role").policy_name("pull").send().await.unwrap();
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    assert_eq!(changed(&pl, "repo"), set(&["lifecycle"]));
    assert_eq!(changed(&pl, "role"), set(&["inline_policies"]));
    let state = apply_clean(&p, &stack, state).await;
    // Someone deletes the whole role.
    let d = Deletion {
        logical: "role".into(),
        kind: Kind::IamRole,
        id: attr(&state, "role", "arn"),
        name: None,
        attrs: Default::default(),
        force: false,
    };
    p.delete(&d).await.unwrap();
    p.delete(&d).await.expect("deleting what is gone is fine");
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    assert_eq!(action(&pl, "role"), Action::Create);
    let state = apply_clean(&p, &stack, state).await;
    destroy(&p, &stack, state).await;
    assert!(!repo_exists(&p, "t-drift/repo").await);
    assert!(!role_exists(&p, "t-drift-role").await);
}

#[tokio::test]
async fn existing_resources_are_adopted_keeping_their_tags() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let other = |k: &str, v: &str| aws_sdk_ecr::types::Tag::builder().key(k).value(v).build().unwrap();
    p.ecr.create_repository().repository_name("t-adopt/repo").tags(other("owner", "other")).send().await.unwrap();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let iam_tag = aws_sdk_iam::types::Tag::builder().key("owner").value("other").build().unwrap();
    p.iam
        .create_role()
        .role_name("t-adopt-role")
        .assume_role_policy_document(trust)
        .tags(iam_tag.clone())
        .send()
        .await
        .unwrap();
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    p.iam.create_policy().policy_name("t-adopt-pol").policy_document(doc).tags(iam_tag).send().await.unwrap();
    let stack = load(
        r#"
stack: t-adopt
resources:
  repo:
    kind: ecr/repository
    scan_on_push: true
  role:
    kind: iam/role
    assumed_by: { services: [ecs-tasks.amazonaws.com] }
  pol:
    kind: iam/policy
    document:
      statements:
        - actions: [s3:GetObject]
          resources: ["*"]
"#,
        &[],
    );
    let state = empty(&stack);
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    assert_eq!(pl.problems.len(), 3, "{:?}", pl.problems);
    for logical in ["repo", "role", "pol"] {
        let (t, _) = moor::plan::target(&stack, logical, &Known::new(), &state);
        let live = p.read(&t).await.unwrap().expect("it exists");
        let adopted = p.adopt(&t, &live).await.unwrap();
        assert!(adopted.owned_by("t-adopt", logical), "{adopted:?}");
        assert_eq!(adopted.tags.get("owner").map(String::as_str), Some("other"));
        assert_eq!(adopted.id, live.id);
    }
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    assert_eq!(action(&pl, "pol"), Action::Update, "the owner tag goes");
    assert_eq!(changed(&pl, "pol"), set(&["tags"]));
    assert_eq!(changed(&pl, "role"), set(&["tags"]));
    assert_eq!(changed(&pl, "repo"), set(&["scan_on_push", "tags"]));
    let state = apply_clean(&p, &stack, state).await;
    destroy(&p, &stack, state).await;
    assert!(!repo_exists(&p, "t-adopt/repo").await);
    assert!(!role_exists(&p, "t-adopt-role").await);
}

/// Replacing a policy (its description is fixed) deletes it first, which
/// detaches it from its roles; the new one has the same ARN, so the role's
/// `policies` read the same at apply time and its update is skipped.
#[tokio::test]
async fn replacing_an_attached_policy_attaches_the_new_one() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let text = |d: &str| {
        format!(
            "stack: t-iam-reattach\nresources:\n  pol:\n    kind: iam/policy\n    description: {d}\n    document:\n      statements:\n        - actions: [s3:GetObject]\n          resources: [\"*\"]\n  role:\n    kind: iam/role\n    assumed_by: {{ services: [ecs-tasks.amazonaws.com] }}\n    policies: [\"${{pol.arn}}\"]\n"
        )
    };
    let v1 = load(&text("one"), &[]);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let v2 = load(&text("two"), &[]);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(action(&pl, "pol"), Action::Replace);
    let state = apply_clean(&p, &v2, state).await;
    assert_eq!(attached(&p, "t-iam-reattach-role").await, set(&[&attr(&state, "pol", "arn")]));
    destroy(&p, &v2, state).await;
}

/// `${account_id}` and `${partition}` in ARNs: the run fills in the account
/// STS answers, so the policy AWS holds names it, and the next plan has
/// nothing to change.
#[tokio::test(flavor = "multi_thread")]
async fn account_id_in_arns_plans_clean_after_apply() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = r#"
stack: t-account-id
region: us-east-1
resources:
  roll:
    kind: iam/policy
    name: t-account-id-roll
    document:
      statements:
        - actions: [ecs:UpdateService]
          resources: ["arn:${partition}:ecs:${region}:${account_id}:service/t-account-id/*"]
  deployer:
    kind: iam/role
    assumed_by:
      principals: ["arn:${partition}:iam::${account_id}:root"]
    policies: ["${roll.arn}"]
outputs:
  account: "${account_id}"
"#;
    let d = support::workdir("account-id", stack);
    // Through a saved plan: the file's `${account_id}` is the plan's account.
    let o = support::moor_in(&d, &["plan", "stack.yaml", "-o", "plan.json"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let o = support::moor_in(&d, &["apply", "plan.json"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let o = support::moor_in(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "no changes after apply: {}", support::text(&o));
    let arn = "arn:aws:iam::123456789012:policy/t-account-id-roll";
    let policy = p.iam.get_policy().policy_arn(arn).send().await.expect("the policy exists");
    let version = policy.policy().and_then(|x| x.default_version_id()).unwrap().to_string();
    let doc = p.iam.get_policy_version().policy_arn(arn).version_id(version).send().await.unwrap();
    let text = urlencoding_decode(doc.policy_version().and_then(|v| v.document()).unwrap());
    assert!(text.contains("arn:aws:ecs:us-east-1:123456789012:service/t-account-id/*"), "{text}");
    assert!(!text.contains("account_id"), "{text}");
    let o = support::moor_in(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
}

/// IAM returns policy documents URL-encoded.
fn urlencoding_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let Some(x) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

const SESSION_TRUST: &str = r#"
stack: t-iam-session
region: us-east-1
resources:
  deployer:
    kind: iam/role
    assumed_by:
      principals: ["arn:aws:sts::123456789012:assumed-role/ci/run-42"]
"#;

#[tokio::test]
async fn a_role_trusting_an_sts_role_session_applies_clean_and_destroys() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(SESSION_TRUST, &[]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let role = p.iam.get_role().role_name("t-iam-session-deployer").send().await.unwrap();
    let doc = role.role().unwrap().assume_role_policy_document().unwrap_or_default().to_string();
    let doc = doc.replace("%3A", ":").replace("%2F", "/");
    assert!(doc.contains("arn:aws:sts::123456789012:assumed-role/ci/run-42"), "{doc}");
    destroy(&p, &stack, state).await;
    assert!(!role_exists(&p, "t-iam-session-deployer").await);
}
