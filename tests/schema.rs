//! The JSON Schema of the stack file: committed, current, and agreeing with
//! the loader on every example stack.

use moor::yaml::{from_node, parse, DeContext, Limits};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_schema_is_current() {
    let committed =
        std::fs::read_to_string(root().join("schemas/stack.schema.json")).expect("schemas/stack.schema.json exists");
    let generated = moor::schema::stack_schema_json();
    assert!(
        committed == generated,
        "schemas/stack.schema.json is stale: run `cargo run -- schema > schemas/stack.schema.json`"
    );
}

fn yaml_to_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("readable");
    let node = parse(&text, Limits::default()).expect("parses");
    let cx = DeContext::default();
    from_node::<serde_json::Value>(&node, &cx).expect("converts to JSON")
}

#[test]
fn every_example_stack_validates_against_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(&moor::schema::stack_schema_json()).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("stacks")).expect("stacks/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let doc = yaml_to_json(&path);
        let errors: Vec<String> =
            validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{} does not match the schema:\n{}", path.display(), errors.join("\n"));
        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/stack.schema.json"),
            "{} must start with the schema modeline",
            path.display()
        );
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn schema_rejects_what_the_loader_rejects() {
    let schema: serde_json::Value = serde_json::from_str(&moor::schema::stack_schema_json()).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let bad = serde_json::json!({
        "stack": "x",
        "resources": { "repo": { "kind": "ecr/repository", "scan_on_psh": true } }
    });
    assert!(!validator.is_valid(&bad), "unknown field must fail the schema");
    let bad_kind = serde_json::json!({ "stack": "x", "resources": { "r": { "kind": "ecr/repo" } } });
    assert!(!validator.is_valid(&bad_kind), "unknown kind must fail the schema");
    let var_in_int = serde_json::json!({
        "stack": "x",
        "resources": { "tg": { "kind": "elbv2/target_group", "port": "${var.port}", "vpc": "vpc-1" } }
    });
    assert!(validator.is_valid(&var_in_int), "an integer field accepts ${{var.x}}");
}
