//! A lost state record never hides a stack: `destroy --stack` with no
//! record, `destroy FILE` with an empty state directory, and an apply of a
//! file a resource left while the record was lost each find the stack's
//! resources by their tags, against the local emulator, through the `moor`
//! command. What another stack owns, or what lacks the stack's tags, is
//! never touched.

mod support;

use support::text;

use moor::provider::Provider;
use std::path::{Path, PathBuf};
use std::process::Output;

fn moor(dir: &Path, args: &[&str]) -> Output {
    support::moor_in(dir, args)
}

/// The Flask example as stack `name`, whole or without its service.
fn flask(name: &str, with_service: bool) -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/flask-app.yaml")).unwrap();
    let text = text.replace("stack: flask-demo", &format!("stack: {name}")).replace("course/", &format!("{name}/"));
    if with_service {
        return text;
    }
    let cut = text.find("  # The service keeps").unwrap();
    let end = text.find("outputs:").unwrap();
    format!("{}{}", &text[..cut], &text[end..])
}

fn workdir(name: &str, file: &str) -> PathBuf {
    support::workdir(&format!("lost-{name}"), file)
}

fn apply(dir: &Path) {
    let o = moor(dir, &["apply", "stack.yaml", "--var", "desired_count=0", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// What carries the stack's tags and still exists (the listing also has
/// INACTIVE clusters and services for a while), by logical name.
async fn tagged(stack: &str) -> Vec<String> {
    let p = support::provider().await;
    let s = support::load(&format!("stack: {stack}\n"), &[]);
    let found = p.discover(stack, &[]).await.unwrap();
    let live = moor::discover::unaccounted(p.as_ref(), &s, &support::empty(&s), &Default::default(), found).await;
    let mut names: Vec<String> = live.unwrap().into_iter().map(|(f, _)| f.logical).collect();
    names.sort();
    names
}

async fn repository_exists(name: &str) -> bool {
    let p = support::provider().await;
    p.ecr.describe_repositories().repository_names(name).send().await.is_ok()
}

#[tokio::test]
async fn destroy_without_a_record_finds_the_stack_by_its_tags_and_nothing_else() {
    if support::skip_emulator() {
        return;
    }
    let ours = workdir("stack", &flask("lost-a", true));
    let theirs = workdir("other", &flask("lost-ab", true));
    apply(&ours);
    apply(&theirs);
    let everything = tagged("lost-a").await;
    assert!(everything.len() >= 10, "{everything:?}");
    let other = tagged("lost-ab").await;
    assert_eq!(other, everything, "the same logical names in another stack");
    // Under the stack's names, without its tags: one untagged, one with the
    // stack's tag but no logical name.
    let p = support::provider().await;
    p.ecr.create_repository().repository_name("lost-a/untagged").send().await.unwrap();
    let half = aws_sdk_ecr::types::Tag::builder().key("moor:stack").value("lost-a").build().unwrap();
    p.ecr.create_repository().repository_name("lost-a/half").tags(half).send().await.unwrap();

    // A fresh runner: no state record, no file.
    std::fs::remove_dir_all(ours.join("state")).unwrap();
    std::fs::remove_file(ours.join("stack.yaml")).unwrap();
    let o = moor(&ours, &["destroy", "--stack", "lost-a", "--region", "us-east-1", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("No changes"), "{}", text(&o));
    assert!(text(&o).contains("found by its moor:stack tag"), "{}", text(&o));
    assert_eq!(tagged("lost-a").await, Vec::<String>::new(), "{}", text(&o));
    // Untouched: the other stack, and what lacks the stack's tags.
    assert_eq!(tagged("lost-ab").await, other);
    assert!(repository_exists("lost-a/untagged").await);
    assert!(repository_exists("lost-a/half").await);
    // Nothing more to do.
    let o = moor(&ours, &["destroy", "--stack", "lost-a", "--region", "us-east-1", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("No changes"), "{}", text(&o));

    let o = moor(&theirs, &["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for name in ["lost-a/untagged", "lost-a/half"] {
        p.ecr.delete_repository().repository_name(name).send().await.unwrap();
    }
}

#[tokio::test]
async fn destroy_of_a_file_with_an_empty_state_dir_finds_what_left_the_file() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("empty-dir", &flask("lost-e", true));
    apply(&d);
    // The service left the file, and the record is lost.
    std::fs::write(d.join("stack.yaml"), flask("lost-e", false)).unwrap();
    std::fs::remove_dir_all(d.join("state")).unwrap();
    let o = moor(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(tagged("lost-e").await, Vec::<String>::new(), "{}", text(&o));
}

#[tokio::test]
async fn apply_deletes_what_left_the_file_while_the_record_was_lost() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("left", &flask("lost-l", true));
    apply(&d);
    let others = workdir("left-other", &flask("lost-lx", true));
    apply(&others);
    std::fs::write(d.join("stack.yaml"), flask("lost-l", false)).unwrap();
    std::fs::remove_dir_all(d.join("state")).unwrap();
    let o = moor(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("removed from the file (found by its moor:stack tag"), "{}", text(&o));
    apply(&d);
    assert!(!tagged("lost-l").await.contains(&"app".to_string()));
    let o = moor(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // The other stack's service of the same logical name is still there.
    assert!(tagged("lost-lx").await.contains(&"app".to_string()));

    for dir in [&d, &others] {
        let o = moor(dir, &["destroy", "stack.yaml", "--auto-approve"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
}

/// A task definition revision left ACTIVE is found; one deregistered (the
/// tagging API lists it for good) is not, without a read of its own.
#[tokio::test]
async fn only_active_task_definition_revisions_are_found() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("revisions", &flask("lost-r", true));
    apply(&d);
    let p = support::provider().await;
    let tags = [("moor:stack", "lost-r"), ("moor:resource", "task")]
        .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build());
    let container = aws_sdk_ecs::types::ContainerDefinition::builder().name("web").image("nginx").memory(128).build();
    let mut revisions = Vec::new();
    for _ in 0..2 {
        let out = p
            .ecs
            .register_task_definition()
            .family("lost-r-task")
            .container_definitions(container.clone())
            .set_tags(Some(tags.to_vec()))
            .send()
            .await
            .unwrap();
        revisions.push(out.task_definition.unwrap().task_definition_arn.unwrap());
    }
    p.ecs.deregister_task_definition().task_definition(&revisions[0]).send().await.unwrap();
    let state: moor::state::State =
        serde_json::from_str(&std::fs::read_to_string(d.join("state/lost-r.state.json")).unwrap()).unwrap();
    let known: Vec<String> = state.resources.values().map(|e| e.id.clone()).collect();
    p.calls.reset();
    let found = p.discover("lost-r", &known).await.unwrap();
    let ids: Vec<&str> = found.iter().filter(|f| f.logical == "task").map(|f| f.id.as_str()).collect();
    assert!(ids.contains(&state.resources["task"].id.as_str()), "{ids:?}");
    assert!(ids.contains(&revisions[1].as_str()), "{ids:?}");
    assert!(!ids.contains(&revisions[0].as_str()), "{ids:?}");
    assert_eq!(p.calls.snapshot().get("ecs:ListTaskDefinitions"), Some(&1), "{:?}", p.calls.snapshot());
    // The plan deletes the revision left ACTIVE, after the file's is up.
    let o = moor(&d, &["plan", "stack.yaml", "--var", "desired_count=0", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // Planned once, as the family's unrecorded revision.
    assert!(text(&o).contains("unrecorded revision"), "{}", text(&o));
    assert_eq!(text(&o).matches("lost-r-task").count(), 1, "{}", text(&o));
    apply(&d);
    let o = moor(&d, &["plan", "stack.yaml", "--var", "desired_count=0", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = moor(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// A public repository (ECR Public, in us-east-1 and outside the region's
/// tagging API) and the Elastic IPs moor allocates for NAT gateways are
/// found by their tags too: a destroy without a record deletes the
/// repository, a gateway with its address, and the address of a gateway
/// that is gone.
#[tokio::test]
async fn destroy_without_a_record_finds_public_repositories_and_nat_addresses() {
    if support::skip_emulator() {
        return;
    }
    support::ecr_public();
    let p = support::provider().await;
    let name = "lost-nat";
    let text = format!(
        r#"stack: {name}
resources:
  pub:
    kind: ecr-public/repository
  net:
    kind: ec2/vpc
    cidr: 10.30.0.0/16
  public_a:
    kind: ec2/subnet
    vpc: ${{net.id}}
    cidr: 10.30.1.0/24
    availability_zone: us-east-1a
  public_b:
    kind: ec2/subnet
    vpc: ${{net.id}}
    cidr: 10.30.2.0/24
    availability_zone: us-east-1b
  nat_a:
    kind: ec2/nat_gateway
    subnet: ${{public_a.id}}
  nat_b:
    kind: ec2/nat_gateway
    subnet: ${{public_b.id}}
"#
    );
    let s = support::load(&text, &[]);
    let state = support::apply_clean(&p, &s, support::empty(&s)).await;
    let addresses = || async {
        let f = aws_sdk_ec2::types::Filter::builder().name("tag:moor:stack").values(name).build();
        let out = support::provider().await.ec2.describe_addresses().filters(f).send().await.unwrap();
        out.addresses().iter().filter_map(|a| a.allocation_id().map(str::to_string)).collect::<Vec<_>>()
    };
    assert_eq!(addresses().await.len(), 2);
    // One gateway is gone and its address left behind (a run stopped
    // between them, or a release that failed).
    let gone = state.resources["nat_b"].id.clone();
    p.ec2.delete_nat_gateway().nat_gateway_id(&gone).send().await.unwrap();

    // No record, no file.
    let bare = support::load(&format!("stack: {name}\n"), &[]);
    let (pl, summary, state) = support::converge(&p, &bare, support::empty(&bare), true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
    for r in ["pub", "net", "nat_a", "nat_b"] {
        assert!(pl.change(r).is_some(), "{r} is found: {:#?}", pl.changes);
    }
    assert_eq!(addresses().await, Vec::<String>::new(), "every address is released");
    let repo = p.ecr_public.describe_repositories().repository_names(format!("{name}/pub")).send().await;
    assert!(repo.is_err(), "the public repository is deleted: {repo:?}");
    assert_eq!(tagged(name).await, Vec::<String>::new());
}
