//! examples/github-actions: the workflow and the IAM trust policy parse,
//! and hold what the recipe promises: plan on pull requests and apply the
//! saved plan on merge to main, OIDC credentials and no AWS keys anywhere,
//! state in S3, `moor` command lines that moor's own parser accepts, and a
//! trust policy limited to one repository's main branch and pull requests.

use clap::{CommandFactory, Parser};
use moor::cli::Cli;
use moor::yaml::{parse, Limits, Node, NodeKind};
use serde_json::Value;
use std::path::Path;

/// Options of the agreed surface that are built on another branch at the
/// same time as this example (`MOOR_STATE` names the state's location).
/// Used only while moor does not have them.
const ELSEWHERE_OPTIONS: &[&str] = &[];
const ELSEWHERE_VARIABLES: &[&str] = &["MOOR_STATE"];

fn dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/github-actions"))
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap()
}

fn workflow() -> Node {
    parse(&read("moor.yml"), Limits::default()).expect("moor.yml is YAML")
}

fn str_at<'a>(n: &'a Node, path: &[&str]) -> Option<&'a str> {
    n.path(path).and_then(Node::as_str)
}

fn seq(n: &Node) -> Vec<&Node> {
    match &n.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => Vec::new(),
    }
}

fn jobs(w: &Node) -> Vec<(&str, &Node)> {
    w.get("jobs").and_then(Node::as_map).unwrap().iter().map(|(k, v)| (k.as_str().unwrap(), v)).collect()
}

fn job<'a>(w: &'a Node, name: &str) -> &'a Node {
    w.path(&["jobs", name]).unwrap_or_else(|| panic!("job `{name}`"))
}

/// The `run` scripts of a job's steps.
fn scripts(job: &Node) -> Vec<&str> {
    seq(job.get("steps").unwrap()).into_iter().filter_map(|s| str_at(s, &["run"])).collect()
}

/// Each `moor …` command line of `script`, as words (up to a pipe or a
/// redirection), shell variables given example values.
fn moor_lines(script: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in script.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(start) = words.iter().position(|w| *w == "moor") else { continue };
        if start > 0 && !matches!(words[start - 1], "&&" | "||" | ";" | "then" | "do") {
            continue;
        }
        let args: Vec<String> = words[start..]
            .iter()
            .take_while(|w| !matches!(**w, "|" | ">" | ">>" | "&&" | "||" | ";" | "2>&1"))
            .map(|w| w.trim_matches('"').replace("$STACK_FILE", "stacks/app.yaml"))
            .collect();
        out.push(args);
    }
    out
}

/// Parses a moor command line with moor's own parser. An option built
/// elsewhere that moor does not have yet is set aside (with its value).
fn check_moor_line(words: &[String]) -> Cli {
    let mut words = words.to_vec();
    let cmd = Cli::command();
    let name = words.get(1).cloned().unwrap_or_default();
    let sub = cmd.find_subcommand(&name).unwrap_or_else(|| panic!("`moor {name}` is no command"));
    let known = |flag: &str| {
        sub.get_arguments().any(|a| {
            Some(flag) == a.get_long().map(|l| format!("--{l}")).as_deref()
                || Some(flag) == a.get_short().map(|s| format!("-{s}")).as_deref()
        })
    };
    while let Some(i) = words.iter().position(|w| ELSEWHERE_OPTIONS.contains(&w.as_str()) && !known(w)) {
        words.drain(i..(i + 2).min(words.len()));
    }
    Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("`{}` is not a moor command line: {e}", words.join(" ")))
}

#[test]
fn the_workflow_plans_pull_requests_and_applies_the_saved_plan_on_merge() {
    let w = workflow();
    let on = w.get("on").expect("triggers");
    assert!(on.get("pull_request").is_some(), "plans on pull requests");
    let push_branches: Vec<&str> =
        seq(on.path(&["push", "branches"]).expect("push to branches")).into_iter().filter_map(Node::as_str).collect();
    assert_eq!(push_branches, ["main"], "applies on merge to main");
    assert!(on.get("schedule").is_some(), "a scheduled drift check");

    let plan = job(&w, "plan");
    assert!(str_at(plan, &["if"]).unwrap().contains("pull_request"));
    let apply = job(&w, "apply");
    let cond = str_at(apply, &["if"]).unwrap();
    assert!(cond.contains("push") && cond.contains("refs/heads/main"), "{cond}");

    // The plan job saves the plan, comments its Markdown, and keeps the file.
    let plan_lines: Vec<Vec<String>> = scripts(plan).iter().flat_map(|s| moor_lines(s)).collect();
    let planned = plan_lines.iter().find(|l| l[1] == "plan").expect("moor plan on pull requests");
    for must in ["-o", "plan.bin", "--format", "markdown"] {
        assert!(planned.iter().any(|w| w == must), "{planned:?} lacks {must}");
    }
    assert!(scripts(plan).iter().any(|s| s.contains("gh pr comment") && s.contains("plan.md")), "the comment");
    let upload = seq(plan.get("steps").unwrap())
        .into_iter()
        .find(|s| str_at(s, &["uses"]).is_some_and(|u| u.starts_with("actions/upload-artifact@")))
        .expect("the saved plan is uploaded");
    assert!(str_at(upload, &["with", "path"]).unwrap().contains("plan.bin"));

    // The apply job applies that file.
    let applied: Vec<Vec<String>> = scripts(apply).iter().flat_map(|s| moor_lines(s)).collect();
    assert!(applied.iter().any(|l| l[1] == "apply" && l[2] == "plan.bin"), "{applied:?}");
    assert!(scripts(apply).iter().any(|s| s.contains("gh run download") && s.contains("moor-plan")));
    let drift = job(&w, "drift");
    assert!(scripts(drift).iter().flat_map(|s| moor_lines(s)).any(|l| l[1] == "drift"));
}

#[test]
fn every_job_gets_aws_credentials_by_oidc_and_no_key_is_stored() {
    let w = workflow();
    for (name, j) in jobs(&w) {
        let creds: Vec<&Node> = seq(j.get("steps").unwrap())
            .into_iter()
            .filter(|s| str_at(s, &["uses"]).is_some_and(|u| u.starts_with("aws-actions/configure-aws-credentials@")))
            .collect();
        assert_eq!(creds.len(), 1, "job `{name}` assumes a role once");
        assert!(str_at(creds[0], &["with", "role-to-assume"]).is_some(), "job `{name}`: role-to-assume");
        assert_eq!(str_at(j, &["permissions", "id-token"]), Some("write"), "job `{name}` needs the OIDC token");
    }
    assert!(w.get("permissions").and_then(Node::as_map).is_some_and(<[_]>::is_empty), "no permission by default");
    for file in ["moor.yml", "trust-policy.json", "README.md"] {
        let text = read(file);
        for key in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "aws-access-key-id",
            "aws-secret-access-key",
            "secrets.",
        ] {
            assert!(!text.contains(key), "{file} mentions {key}");
        }
        // Nothing that looks like an access key id (AKIA…, ASIA…).
        let words = text.split(|c: char| !c.is_ascii_alphanumeric());
        for w in words {
            let key_like = w.len() == 20
                && (w.starts_with("AKIA") || w.starts_with("ASIA"))
                && w.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
            assert!(!key_like, "{file}: {w}");
        }
    }
}

#[test]
fn the_workflows_moor_commands_and_variables_are_moors() {
    let w = workflow();
    let mut lines = 0;
    for (_, j) in jobs(&w) {
        for s in scripts(j) {
            for l in moor_lines(s) {
                check_moor_line(&l);
                lines += 1;
            }
        }
    }
    assert!(lines >= 4, "validate, plan, apply, drift: {lines}");
    // Every MOOR_ variable the workflow sets is one of moor's.
    let known: Vec<String> = moor::cli::environment_variables().into_iter().map(|(v, ..)| v).collect();
    let mut set = Vec::new();
    w.walk(&mut |n| {
        for (k, _) in n.get("env").and_then(Node::as_map).unwrap_or_default() {
            if let Some(k) = k.as_str().filter(|k| k.starts_with("MOOR_")) {
                set.push(k.to_string());
            }
        }
    });
    assert!(set.iter().any(|v| v == "MOOR_STATE"), "the state in S3: {set:?}");
    assert!(set.iter().any(|v| v == "MOOR_AUTO_APPROVE"), "{set:?}");
    for v in set {
        assert!(known.contains(&v) || ELSEWHERE_VARIABLES.contains(&v.as_str()), "moor has no variable {v}");
    }
    let state = str_at(&w, &["env", "MOOR_STATE"]).unwrap();
    assert!(state.starts_with("s3://"), "{state}");
}

/// The checks above catch what they should.
#[test]
fn a_command_line_moor_does_not_have_is_refused() {
    let bad = moor_lines("moor plan stacks/app.yaml --formatt markdown");
    assert!(std::panic::catch_unwind(|| check_moor_line(&bad[0])).is_err());
    let bad = moor_lines("moor deploy stacks/app.yaml");
    assert!(std::panic::catch_unwind(|| check_moor_line(&bad[0])).is_err());
    let ok = moor_lines("x=1 && moor drift \"$STACK_FILE\" --format markdown | tee out");
    assert_eq!(ok[0], ["moor", "drift", "stacks/app.yaml", "--format", "markdown"]);
    check_moor_line(&ok[0]);
}

#[test]
fn the_trust_policy_admits_only_this_repositorys_main_branch_and_pull_requests() {
    let policy: Value = serde_json::from_str(&read("trust-policy.json")).expect("trust-policy.json is JSON");
    assert_eq!(policy["Version"], "2012-10-17");
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1);
    let s = &statements[0];
    assert_eq!(s["Effect"], "Allow");
    assert_eq!(s["Action"], "sts:AssumeRoleWithWebIdentity");
    let federated = s["Principal"]["Federated"].as_str().unwrap();
    assert!(federated.starts_with("arn:aws:iam::"), "{federated}");
    assert!(federated.ends_with(":oidc-provider/token.actions.githubusercontent.com"), "{federated}");
    let cond = s["Condition"].as_object().unwrap();
    assert_eq!(cond.keys().collect::<Vec<_>>(), ["StringEquals"], "exact matches only, no wildcards");
    let eq = &cond["StringEquals"];
    assert_eq!(eq["token.actions.githubusercontent.com:aud"], "sts.amazonaws.com");
    let subs: Vec<&str> =
        eq["token.actions.githubusercontent.com:sub"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(subs.len(), 2, "{subs:?}");
    let repo = subs[0].split(':').nth(1).unwrap();
    assert!(repo.contains('/') && !repo.contains('*'), "{repo}");
    let mut want = vec![format!("repo:{repo}:ref:refs/heads/main"), format!("repo:{repo}:pull_request")];
    let mut got: Vec<String> = subs.iter().map(|s| s.to_string()).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "one repository, its main branch and its pull requests");
}
