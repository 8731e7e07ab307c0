//! ECR Public repositories against moto (for everything else) and the local
//! ECR Public stand-in (`scripts/ecr-public-standin`; moto does not serve
//! ECR Public): catalog data, policy and tags apply with no drift, change in
//! place, the URI carries the registry alias (read once per run), a task
//! definition runs `${repo.uri}:tag` by its tag, destroy stops at a
//! repository that holds images unless emptying is allowed, and a namesake
//! someone else made is never adopted.

mod support;

use moor::plan::{Action, Plan};
use moor::provider::aws::AwsProvider;
use moor::provider::{ErrorKind, Provider};
use std::collections::{BTreeMap, BTreeSet};
use support::{apply_clean, converge, converge_with, empty, load, make_plan, provider, PUBLIC_ALIAS};

fn action(pl: &Plan, resource: &str) -> Action {
    pl.change(resource).unwrap_or_else(|| panic!("{resource} is in the plan: {:#?}", pl.changes)).action
}

fn changed(pl: &Plan, resource: &str) -> BTreeSet<String> {
    pl.change(resource).unwrap().diffs.iter().map(|d| d.field.clone()).collect()
}

async fn exists(p: &AwsProvider, name: &str) -> bool {
    match p.ecr_public.describe_repositories().repository_names(name).send().await {
        Ok(o) => !o.repositories().is_empty(),
        Err(e) => {
            let code = aws_sdk_ecrpublic::error::ProvideErrorMetadata::code(&e).map(str::to_string);
            assert_eq!(code.as_deref(), Some("RepositoryNotFoundException"), "{e:?}");
            false
        }
    }
}

async fn policy_text(p: &AwsProvider, name: &str) -> Option<serde_json::Value> {
    match p.ecr_public.get_repository_policy().repository_name(name).send().await {
        Ok(o) => Some(serde_json::from_str(o.policy_text().unwrap()).unwrap()),
        Err(e) => {
            let code = aws_sdk_ecrpublic::error::ProvideErrorMetadata::code(&e).map(str::to_string);
            assert_eq!(code.as_deref(), Some("RepositoryPolicyNotFoundException"), "{e:?}");
            None
        }
    }
}

async fn tags(p: &AwsProvider, arn: &str) -> BTreeMap<String, String> {
    let out = p.ecr_public.list_tags_for_resource().resource_arn(arn).send().await.expect("tags");
    out.tags().iter().map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string())).collect()
}

fn stack(name: &str, description: &str, push_account: Option<&str>, extra: &str) -> String {
    let policy = match push_account {
        Some(a) => format!(
            "    policy:\n      statements:\n        - sid: Push\n          actions: [ecr-public:PutImage, ecr-public:InitiateLayerUpload]\n          principals: {{ aws: [\"arn:aws:iam::{a}:root\"] }}\n"
        ),
        None => String::new(),
    };
    format!(
        "stack: {name}\ntags:\n  team: web\nresources:\n  pub:\n    kind: ecr-public/repository\n    catalog:\n      description: {description}\n      about: \"# Widget\"\n      architectures: [ARM 64, x86-64]\n      operating_systems: [Linux]\n{policy}    tags: {{ visibility: public }}\n{extra}"
    )
}

const TASK: &str = "  task:\n    kind: ecs/task_definition\n    cpu: 256\n    memory: 512\n    execution_role: arn:aws:iam::123456789012:role/t-pub-exec\n    containers:\n      - name: web\n        image: ${pub.uri}:v1\n";

#[tokio::test]
async fn a_public_repository_applies_clean_changes_in_place_and_is_destroyed() {
    if support::skip_emulator() {
        return;
    }
    support::ecr_public();
    let p = provider().await;
    let name = "t-pub-life/pub";
    let v1 = load(&stack("t-pub-life", "first", Some("111122223333"), ""), &[]);
    let state = apply_clean(&p, &v1, empty(&v1)).await;

    // Attributes: the URI carries the registry alias.
    let e = &state.resources["pub"];
    assert_eq!(e.attrs["name"], name);
    assert_eq!(e.attrs["arn"], format!("arn:aws:ecr-public::123456789012:repository/{name}"));
    assert_eq!(e.attrs["uri"], format!("public.ecr.aws/{PUBLIC_ALIAS}/{name}"));
    assert_eq!(e.attrs["registry_id"], "123456789012");
    let cat = p.ecr_public.get_repository_catalog_data().repository_name(name).send().await.unwrap();
    let cat = cat.catalog_data().unwrap();
    assert_eq!(cat.description(), Some("first"));
    assert_eq!(cat.about_text(), Some("# Widget"));
    assert_eq!(cat.architectures(), ["ARM 64", "x86-64"]);
    assert_eq!(cat.operating_systems(), ["Linux"]);
    let policy = policy_text(&p, name).await.expect("a policy");
    assert_eq!(policy["Statement"][0]["Principal"]["AWS"][0], "arn:aws:iam::111122223333:root", "{policy}");
    let t = tags(&p, &e.id).await;
    for (k, v) in [("moor:stack", "t-pub-life"), ("moor:resource", "pub"), ("team", "web"), ("visibility", "public")] {
        assert_eq!(t.get(k).map(String::as_str), Some(v), "{k} in {t:?}");
    }

    // The description and the policy change in place; a task definition
    // runs the public image by its tag, even where an image of that tag is
    // there to pin (ECR Public is not resolved to digests).
    support::push_public_image(name, "v1");
    let v2 = load(&stack("t-pub-life", "second", Some("444455556666"), TASK), &[]);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(action(&pl, "pub"), Action::Update);
    assert_eq!(changed(&pl, "pub"), BTreeSet::from(["catalog".to_string(), "policy".to_string()]));
    let uid = state.resources["pub"].uid.clone();
    let state = apply_clean(&p, &v2, state).await;
    assert_eq!(state.resources["pub"].uid, uid, "changed in place");
    let cat = p.ecr_public.get_repository_catalog_data().repository_name(name).send().await.unwrap();
    assert_eq!(cat.catalog_data().unwrap().description(), Some("second"));
    let policy = policy_text(&p, name).await.expect("a policy");
    assert_eq!(policy["Statement"][0]["Principal"]["AWS"][0], "arn:aws:iam::444455556666:root", "{policy}");
    let td = p
        .ecs
        .describe_task_definition()
        .task_definition(&state.resources["task"].id)
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    assert_eq!(
        td.container_definitions()[0].image(),
        Some(format!("public.ecr.aws/{PUBLIC_ALIAS}/{name}:v1").as_str())
    );

    // The policy left out of the file is deleted, in place.
    let v3 = load(&stack("t-pub-life", "second", None, TASK), &[]);
    let pl = make_plan(p.as_ref(), &v3, &state, false, false).await;
    assert_eq!(changed(&pl, "pub"), BTreeSet::from(["policy".to_string()]));
    let state = apply_clean(&p, &v3, state).await;
    assert_eq!(policy_text(&p, name).await, None);

    // Destroy stops at the repository that holds an image and says what to do.
    let (pl, summary, state) = converge(&p, &v3, state, true).await;
    assert_eq!(action(&pl, "pub"), Action::Delete);
    assert_eq!(summary.failed.len(), 1, "{summary:#?}");
    let err = &summary.failed[0].error;
    assert_eq!(err.operation, "ecr-public:DeleteRepository");
    assert_eq!(err.code.as_deref(), Some("RepositoryNotEmptyException"));
    assert_eq!(err.kind, ErrorKind::InUse);
    assert!(err.message.contains("empty_on_delete: true") && err.message.contains("--force"), "{}", err.message);
    assert!(exists(&p, name).await);

    // --force empties it: nothing is left.
    let (_, summary, state) = converge_with(&p, &v3, state, true, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(!exists(&p, name).await);
    assert!(state.resources.is_empty(), "{:?}", state.resources.keys());
    let pl = make_plan(p.as_ref(), &v3, &state, false, false).await;
    assert_eq!(action(&pl, "pub"), Action::Create);
}

#[tokio::test]
async fn empty_on_delete_deletes_the_images_with_it() {
    if support::skip_emulator() {
        return;
    }
    support::ecr_public();
    let p = provider().await;
    let text = "stack: t-pub-empty\nresources:\n  pub:\n    kind: ecr-public/repository\n    empty_on_delete: true\n";
    let s = load(text, &[]);
    let state = apply_clean(&p, &s, empty(&s)).await;
    support::push_public_image("t-pub-empty/pub", "latest");
    let (pl, summary, _) = converge(&p, &s, state, true).await;
    assert!(pl.change("pub").unwrap().force_delete);
    assert!(summary.ok(), "{summary:#?}");
    assert!(!exists(&p, "t-pub-empty/pub").await);
}

#[tokio::test]
async fn the_client_goes_to_us_east_1_and_the_alias_is_read_once_per_run() {
    if support::skip_emulator() {
        return;
    }
    support::ecr_public();
    support::moto();
    let opts = moor::provider::ProviderOptions::default();
    let p = std::sync::Arc::new(AwsProvider::connect(Some("eu-west-1".into()), opts).await.expect("provider"));
    assert_eq!(p.region, "eu-west-1");
    assert_eq!(p.ecr_public.config().region().map(|r| r.as_ref()), Some("us-east-1"));

    let text = "stack: t-pub-alias\nregion: eu-west-1\nresources:\n  a:\n    kind: ecr-public/repository\n  b:\n    kind: ecr-public/repository\n";
    let s = load(text, &[]);
    p.ecr_public.create_repository().repository_name("t-pub-alias/a").send().await.unwrap();
    p.ecr_public.create_repository().repository_name("t-pub-alias/b").send().await.unwrap();
    p.calls.reset();
    let pl = make_plan(p.as_ref(), &s, &empty(&s), false, false).await;
    assert_eq!(pl.problems.len(), 2, "both are someone else's: {:?}", pl.problems);
    let calls = p.calls.snapshot();
    let registries: usize = calls.iter().filter(|(k, _)| k.ends_with(":DescribeRegistries")).map(|(_, n)| n).sum();
    assert_eq!(registries, 1, "{calls:?}");
    let again = make_plan(p.as_ref(), &s, &empty(&s), false, false).await;
    assert_eq!(again.problems.len(), 2);
    let calls = p.calls.snapshot();
    let registries: usize = calls.iter().filter(|(k, _)| k.ends_with(":DescribeRegistries")).map(|(_, n)| n).sum();
    assert_eq!(registries, 1, "still once: {calls:?}");
    for n in ["t-pub-alias/a", "t-pub-alias/b"] {
        p.ecr_public.delete_repository().repository_name(n).send().await.unwrap();
    }
}

#[tokio::test]
async fn a_namesake_someone_else_made_is_refused_until_imported() {
    if support::skip_emulator() {
        return;
    }
    support::ecr_public();
    let p = provider().await;
    let name = "t-pub-theirs/pub";
    let made = p.ecr_public.create_repository().repository_name(name).send().await.expect("made by hand");
    let arn = made.repository().unwrap().repository_arn().unwrap().to_string();
    p.ecr_public
        .tag_resource()
        .resource_arn(&arn)
        .tags(aws_sdk_ecrpublic::types::Tag::builder().key("owner").value("someone").build())
        .send()
        .await
        .unwrap();
    let s = load("stack: t-pub-theirs\nresources:\n  pub:\n    kind: ecr-public/repository\n", &[]);
    let pl = make_plan(p.as_ref(), &s, &empty(&s), false, false).await;
    assert_eq!(action(&pl, "pub"), Action::NoOp);
    let problem = pl.problems.iter().find(|x| x.resource == "pub").expect("refused");
    assert!(problem.message.contains("nothing moor manages"), "{}", problem.message);
    assert!(problem.help.contains("moor import pub"), "{}", problem.help);
    // Destroy leaves it alone.
    let pl = make_plan(p.as_ref(), &s, &empty(&s), true, true).await;
    assert!(pl.changes.is_empty(), "{:#?}", pl.changes);
    assert!(exists(&p, name).await);

    // `moor import` tags it (it keeps its own tags); then it is managed.
    let state = empty(&s);
    let t = moor::plan::target(&s, "pub", &Default::default(), &state).0;
    let live = p.read(&t).await.expect("read").expect("found");
    p.adopt(&t, &live).await.expect("adopted");
    let t = tags(&p, &arn).await;
    assert_eq!(
        (t.get("moor:stack").map(String::as_str), t.get("owner").map(String::as_str)),
        (Some("t-pub-theirs"), Some("someone"))
    );
    let pl = make_plan(p.as_ref(), &s, &state, false, false).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    p.ecr_public.delete_repository().repository_name(name).send().await.unwrap();
}

/// `moor import` with the repository's ARN: it is tagged as the stack's,
/// plans no change, and destroy deletes it.
#[tokio::test]
async fn moor_import_adopts_a_repository_by_its_arn_and_it_plans_clean() {
    if support::skip_emulator() {
        return;
    }
    support::ecr_public();
    let p = provider().await;
    let name = "t-pub-import/pub";
    let made = p.ecr_public.create_repository().repository_name(name).send().await.expect("made by hand");
    let arn = made.repository().unwrap().repository_arn().unwrap().to_string();
    let d =
        support::workdir("pub-import", "stack: t-pub-import\nresources:\n  pub:\n    kind: ecr-public/repository\n");
    let o = support::moor_in(&d, &["import", "pub", &arn, "-f", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    assert_eq!(tags(&p, &arn).await.get("moor:resource").map(String::as_str), Some("pub"));
    let o = support::moor_in(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let o = support::moor_in(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    assert!(!exists(&p, name).await, "deleted");
}
