//! Every example stack under `stacks/`, as a user runs it with the `moor`
//! binary against the emulator: validate, apply (without tasks while the new
//! repositories hold no image), push the images, apply, then a plan that
//! shows no changes, destroy, and a plan that would create everything again,
//! so nothing of the stack is left under its names or its tags.
//!
//! The list of stacks is read from the directory: an example added there is
//! taken through the same cycle without a line here. The account is set up
//! as a team's would be before its first apply: the public hosted zone
//! `example.com` exists (the production example's certificate and name).

mod support;

use std::path::{Path, PathBuf};
use support::*;

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

/// The variables the stack declares, by name (the keys under `variables:`).
fn declared_variables(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("variables:") {
            inside = true;
            continue;
        }
        if inside {
            if !line.is_empty() && !line.starts_with(' ') && !line.starts_with('#') {
                break;
            }
            if let Some(rest) = line.strip_prefix("  ") {
                if !rest.starts_with(' ') && !rest.starts_with('#') {
                    if let Some((name, _)) = rest.split_once(':') {
                        out.push(name.trim().to_string());
                    }
                }
            }
        }
    }
    out
}

fn plan_json(dir: &Path, file: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["plan", file, "--format", "json"];
    args.extend_from_slice(extra);
    let out = moor_in(dir, &args);
    assert!(out.status.success(), "plan of {file} failed:\n{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("plan of {file} is not JSON ({e}):\n{}", text(&out)))
}

fn run_ok(dir: &Path, args: &[&str]) {
    let out = moor_in(dir, args);
    assert!(out.status.success(), "`moor {}` failed:\n{}", args.join(" "), text(&out));
}

async fn repositories(p: &moor::provider::aws::AwsProvider) -> Vec<String> {
    let mut names = Vec::new();
    let mut pages = p.ecr.describe_repositories().into_paginator().send();
    while let Some(page) = pages.next().await {
        names.extend(page.unwrap().repositories().iter().filter_map(|r| r.repository_name().map(str::to_string)));
    }
    names
}

async fn whole_cycle(p: &moor::provider::aws::AwsProvider, path: &Path) {
    let name = path.file_stem().unwrap().to_string_lossy().to_string();
    let source = std::fs::read_to_string(path).unwrap();
    let dir = workdir(&format!("example-{name}"), &source);
    // Relative paths in the file (variable files, policies) resolve beside it.
    let file = path.to_str().unwrap();
    let scale_down: Vec<&str> = if declared_variables(&source).iter().any(|v| v == "desired_count") {
        vec!["--var", "desired_count=0"]
    } else {
        vec![]
    };

    let valid = std::process::Command::new(env!("CARGO_BIN_EXE_moor"))
        .args(["validate", file])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(valid.status.success(), "{name} is not valid:\n{}", text(&valid));
    let first = plan_json(&dir, file, &scale_down);
    assert!(first["problems"].as_array().unwrap().is_empty(), "{name}: {}", first["problems"]);
    let creates = first["summary"]["add"].as_u64().unwrap();
    assert!(creates > 0, "{name}: the first plan creates nothing");

    // Apply without tasks, then give each new repository its image.
    let before = repositories(p).await;
    let mut args = vec!["apply", file, "--auto-approve"];
    args.extend_from_slice(&scale_down);
    run_ok(&dir, &args);
    for repo in repositories(p).await.into_iter().filter(|r| !before.contains(r)) {
        support::push_image(p, &repo, "latest", 'd').await;
    }
    run_ok(&dir, &["apply", file, "--auto-approve"]);

    // Applied as written: the next plan has nothing to do.
    let again = moor_in(&dir, &["plan", file, "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{name}: the plan after apply is not empty:\n{}", text(&again));
    let clean = plan_json(&dir, file, &[]);
    assert_eq!(clean["has_changes"], false, "{name}: {}", clean["changes"]);

    // Destroy, then the same plan as on an empty account.
    run_ok(&dir, &["destroy", file, "--auto-approve", "--force"]);
    let after = plan_json(&dir, file, &scale_down);
    assert!(after["problems"].as_array().unwrap().is_empty(), "{name}: left behind: {}", after["problems"]);
    assert_eq!(
        after["summary"], first["summary"],
        "{name}: after destroy the plan is not the first one again: {}",
        after["changes"]
    );
    assert!(after["forget"].as_array().unwrap().is_empty(), "{name}: {}", after["forget"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_example_stack_applies_plans_clean_and_destroys() {
    if skip_emulator() {
        return;
    }
    let p = provider().await;
    p.route53
        .create_hosted_zone()
        .name("example.com")
        .caller_reference(format!("examples-{}", std::process::id()))
        .send()
        .await
        .expect("the hosted zone of example.com");
    let files = examples();
    assert!(files.len() >= 7, "{files:?}");
    for f in &files {
        whole_cycle(&p, f).await;
    }
}

#[test]
fn the_variables_of_a_stack_are_read_from_its_variables_block() {
    let text = "stack: s\nvariables:\n  image_tag:\n    default: x\n  # note\n  desired_count:\n    type: integer\n\nresources:\n  a:\n    kind: x\n";
    assert_eq!(declared_variables(text), ["image_tag", "desired_count"]);
}
