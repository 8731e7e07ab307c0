//! `moor policy` covers every call moor makes, and no statement of it is
//! dead weight.
//!
//! Each example stack under `stacks/` goes through its lifecycle with the
//! `moor` binary behind `scripts/latency-proxy --record`: plan, apply
//! (without tasks, then with them once the images are pushed), an update
//! of every resource that takes tags (a changed tag of the stack's), of
//! the image and of the desired count where the stack has those variables,
//! a plan, and destroy. Each recorded request becomes the IAM requests AWS
//! authorizes for it: its action, the resource ARN of IAM's Service
//! Authorization Reference derived from the request's parameters (account
//! 123456789012, moto's), and the condition keys the policy tests
//! (`aws:RequestTag/…` and `aws:TagKeys` from the request's tags,
//! `aws:ResourceTag/moor:stack` from the live tags of the resource,
//! `iam:PassedToService`, `iam:PolicyARN`, …), plus the actions AWS checks
//! within a call (`iam:PassRole` within `ecs:RegisterTaskDefinition`,
//! tagging on create). The stack's `moor policy` must allow each of them,
//! `--mode plan`'s every request of the plans and none of the writes, and
//! each statement must be the only one allowing some request.
//!
//! So that the calls moor makes only for what others hold are recorded
//! too, the account has a policy named under each stack's prefix (read by
//! discovery), and before destroy a user holds each policy the stack made
//! and an instance profile each role (destroy takes them out). ECR
//! Public's calls go to its stand-in through a second recording proxy.

mod support;

#[path = "support/iam_eval.rs"]
mod iam_eval;

use iam_eval::{evaluate, Decision, Request};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use support::proxy::FaultProxy;
use support::*;

const ACCOUNT: &str = "123456789012";

// ---- the lifecycles --------------------------------------------------------------------------

/// The phases of the record that are plans (their requests are what
/// `--mode plan` must allow).
const PLAN_PHASES: [&str; 3] = ["plan", "plan-update", "replan"];

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

/// Whether the stack declares variable `name` (a key under `variables:`).
fn declares(text: &str, name: &str) -> bool {
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("variables:") {
            inside = true;
        } else if inside && !line.is_empty() && !line.starts_with(' ') && !line.starts_with('#') {
            inside = false;
        } else if inside && line.strip_prefix("  ").is_some_and(|r| r.starts_with(&format!("{name}:"))) {
            return true;
        }
    }
    false
}

/// The stack with one more tag of its own (`coverage: changed`): every
/// resource that takes tags has a change of tags.
fn retagged(text: &str) -> String {
    let mut out = String::new();
    let mut done = false;
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line == "tags:" && !done {
            out.push_str("  coverage: changed\n");
            done = true;
        }
    }
    if !done {
        out.push_str("\ntags:\n  coverage: changed\n");
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// The recording proxies: one in front of moto, one in front of the ECR
/// Public stand-in (moto does not serve ECR Public), each with its record.
struct Proxies {
    aws: FaultProxy,
    public: FaultProxy,
    records: [PathBuf; 2],
}

impl Proxies {
    fn start() -> Proxies {
        let records = ["aws", "public"]
            .map(|n| std::env::temp_dir().join(format!("moor-coverage-{n}-{}.jsonl", std::process::id())));
        for r in &records {
            let _ = std::fs::remove_file(r);
        }
        let aws = FaultProxy::start_with(["--delay-ms", "0", "--record", records[0].to_str().unwrap()]);
        // The last --upstream is the one the proxy uses.
        let standin = ecr_public().to_string();
        let public = FaultProxy::start_with([
            "--delay-ms",
            "0",
            "--upstream",
            &standin,
            "--record",
            records[1].to_str().unwrap(),
        ]);
        Proxies { aws, public, records }
    }

    fn phase(&self, name: &str) {
        self.aws.phase(name);
        self.public.phase(name);
    }

    /// The `moor` binary with both proxies as its endpoints.
    fn moor(&self) -> std::process::Command {
        let mut c = self.aws.moor();
        c.env("AWS_ENDPOINT_URL_ECR_PUBLIC", self.public.url());
        c
    }

    /// How many requests each record holds.
    fn marks(&self) -> [usize; 2] {
        self.records.clone().map(|r| std::fs::read_to_string(r).map(|t| t.lines().count()).unwrap_or(0))
    }

    /// The requests recorded since `marks`.
    fn since(&self, marks: [usize; 2]) -> Vec<Call> {
        let mut out = Vec::new();
        for (r, m) in self.records.iter().zip(marks) {
            out.extend(std::fs::read_to_string(r).unwrap_or_default().lines().skip(m).map(Call::parse));
        }
        out
    }

    fn remove(&self) {
        for r in &self.records {
            let _ = std::fs::remove_file(r);
        }
    }
}

fn run(proxy: &Proxies, dir: &Path, args: &[&str]) -> Output {
    proxy.moor().args(args).arg("--state-dir").arg(dir.join("state")).current_dir(dir).output().expect("moor runs")
}

fn run_ok(proxy: &Proxies, dir: &Path, args: &[&str]) {
    let out = run(proxy, dir, args);
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

/// The tags of everything in the account whose tags the policy's
/// `aws:ResourceTag` conditions read (EC2's resources, ACM's
/// certificates), by id and by ARN, added to `into`. Taken before and
/// after each command, so a resource's tags are known for the calls of
/// the command that changes or deletes it.
async fn live_tags(p: &moor::provider::aws::AwsProvider, into: &mut BTreeMap<String, BTreeMap<String, String>>) {
    let mut pages = p.ec2.describe_tags().into_paginator().send();
    while let Some(page) = pages.next().await {
        for t in page.expect("ec2:DescribeTags").tags() {
            if let (Some(id), Some(k), Some(v)) = (t.resource_id(), t.key(), t.value()) {
                into.entry(id.to_string()).or_default().insert(k.to_string(), v.to_string());
            }
        }
    }
    let certs = p.acm.list_certificates().send().await.expect("acm:ListCertificates");
    for c in certs.certificate_summary_list() {
        let Some(arn) = c.certificate_arn() else { continue };
        let tags = p.acm.list_tags_for_certificate().certificate_arn(arn).send().await.expect("acm:ListTags");
        for t in tags.tags() {
            into.entry(arn.to_string()).or_default().insert(t.key().to_string(), t.value().unwrap_or("").to_string());
        }
    }
}

/// What one stack's lifecycle leaves for the checks.
struct Lifecycle {
    name: String,
    /// `moor policy` of the stack, apply and plan mode.
    apply_policy: Value,
    plan_policy: Value,
    /// The recorded requests, in order.
    calls: Vec<Call>,
}

/// The stack's name as the file gives it (`${var.env}` at its default, `dev`).
fn stack_name(text: &str) -> String {
    let line = text.lines().find_map(|l| l.strip_prefix("stack:")).expect("a stack name");
    line.split('#').next().unwrap().trim().replace("${var.env}", "dev")
}

/// What another team may have beside the stack, so the calls moor makes
/// only for them are in the record too: a policy named under the stack's
/// prefix, whose tags discovery reads with `iam:GetPolicy`.
async fn foreign_policy(p: &moor::provider::aws::AwsProvider, stack: &str) -> String {
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]});
    let out = p
        .iam
        .create_policy()
        .policy_name(format!("{stack}-coverage-foreign"))
        .policy_document(doc.to_string())
        .send()
        .await
        .expect("iam:CreatePolicy");
    out.policy().and_then(|p| p.arn()).unwrap().to_string()
}

/// Before destroy: a user someone else made holds each policy the stack
/// made, and an instance profile each role, as in an account in use;
/// destroy takes them out before deleting.
async fn foreign_holders(p: &moor::provider::aws::AwsProvider, stack: &str, calls: &[Call]) {
    let user = format!("{stack}-coverage-user");
    let mut made_user = false;
    for c in calls.iter().filter(|c| c.action() == "iam:CreatePolicy") {
        if !made_user {
            p.iam.create_user().user_name(&user).send().await.expect("iam:CreateUser");
            made_user = true;
        }
        let path = c.s("Path").unwrap_or("/".into());
        let arn = format!("arn:aws:iam::{ACCOUNT}:policy{path}{}", c.s("PolicyName").unwrap());
        p.iam.attach_user_policy().user_name(&user).policy_arn(&arn).send().await.expect("iam:AttachUserPolicy");
    }
    for (i, c) in calls.iter().filter(|c| c.action() == "iam:CreateRole").enumerate() {
        let profile = format!("{stack}-coverage-{i}");
        p.iam
            .create_instance_profile()
            .instance_profile_name(&profile)
            .send()
            .await
            .expect("iam:CreateInstanceProfile");
        p.iam
            .add_role_to_instance_profile()
            .instance_profile_name(&profile)
            .role_name(c.s("RoleName").unwrap())
            .send()
            .await
            .expect("iam:AddRoleToInstanceProfile");
    }
}

/// The user and instance profiles of [`foreign_holders`], once destroy has
/// taken the stack's policies and roles out of them.
async fn remove_foreign_holders(p: &moor::provider::aws::AwsProvider, stack: &str) {
    let _ = p.iam.delete_user().user_name(format!("{stack}-coverage-user")).send().await;
    let profiles = p.iam.list_instance_profiles().send().await.expect("iam:ListInstanceProfiles");
    for ip in profiles.instance_profiles() {
        let name = ip.instance_profile_name();
        if name.starts_with(&format!("{stack}-coverage-")) {
            assert!(ip.roles().is_empty(), "{name} still holds {:?} after destroy", ip.roles());
            p.iam
                .delete_instance_profile()
                .instance_profile_name(name)
                .send()
                .await
                .expect("iam:DeleteInstanceProfile");
        }
    }
}

async fn lifecycle(
    p: &moor::provider::aws::AwsProvider,
    proxy: &Proxies,
    path: &Path,
    tags: &mut BTreeMap<String, BTreeMap<String, String>>,
) -> Lifecycle {
    let name = path.file_stem().unwrap().to_string_lossy().to_string();
    let source = std::fs::read_to_string(path).unwrap();
    let dir = std::env::temp_dir().join(format!("moor-coverage-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The stacks directory as a whole: relative paths in a file (variable
    // files, policies) resolve beside it.
    copy_dir(path.parent().unwrap(), &dir.join("stacks"));
    let file = format!("stacks/{name}.yaml");
    let changed = format!("stacks/{name}.changed.yaml");
    std::fs::write(dir.join(&changed), retagged(&source)).unwrap();
    let mut scale_down: Vec<&str> = vec![];
    let mut update: Vec<&str> = vec![];
    if declares(&source, "desired_count") {
        scale_down.extend(["--var", "desired_count=0"]);
        update.extend(["--var", "desired_count=1"]);
    }
    if declares(&source, "image_tag") {
        update.extend(["--var", "image_tag=coverage"]);
    }
    let policy = |mode: &str| -> Value {
        let out = proxy
            .moor()
            .args(["policy", &file, "--account", ACCOUNT, "--mode", mode])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "moor policy {file}: {}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (apply_policy, plan_policy) = (policy("apply"), policy("plan"));
    let stack = stack_name(&source);
    let foreign = foreign_policy(p, &stack).await;
    let start = proxy.marks();

    live_tags(p, tags).await;
    proxy.phase("plan");
    let mut args = vec!["plan", &file];
    args.extend_from_slice(&scale_down);
    run_ok(proxy, &dir, &args);

    proxy.phase("apply");
    let before = repositories(p).await;
    let mut args = vec!["apply", &file, "--auto-approve"];
    args.extend_from_slice(&scale_down);
    run_ok(proxy, &dir, &args);
    live_tags(p, tags).await;
    for repo in repositories(p).await.into_iter().filter(|r| !before.contains(r)) {
        support::push_image(p, &repo, "latest", 'd').await;
        support::push_image(p, &repo, "coverage", 'd').await;
    }
    run_ok(proxy, &dir, &["apply", &file, "--auto-approve"]);
    live_tags(p, tags).await;

    // The update as a pull request's job plans it: every resource that
    // takes tags changes, and the service's image and task count.
    proxy.phase("plan-update");
    let mut args = vec!["plan", &changed, "--format", "json"];
    args.extend_from_slice(&update);
    let out = run(proxy, &dir, &args);
    assert!(out.status.success(), "{name}: plan of the update:\n{}", text(&out));
    let planned: Value = serde_json::from_slice(&out.stdout).expect("a JSON plan");
    let changes = &planned["summary"];
    assert!(
        changes["change"].as_u64().unwrap() + changes["replace"].as_u64().unwrap() > 0,
        "{name}: the update changes nothing: {changes}"
    );

    proxy.phase("update");
    let mut args = vec!["apply", &changed, "--auto-approve"];
    args.extend_from_slice(&update);
    run_ok(proxy, &dir, &args);
    live_tags(p, tags).await;

    proxy.phase("replan");
    let mut args = vec!["plan", &changed, "--detailed-exitcode"];
    args.extend_from_slice(&update);
    let again = run(proxy, &dir, &args);
    assert_eq!(again.status.code(), Some(0), "{name}: the plan after the update is not empty:\n{}", text(&again));

    foreign_holders(p, &stack, &proxy.since(start)).await;
    proxy.phase("destroy");
    let mut args = vec!["destroy", &changed, "--auto-approve", "--force"];
    args.extend_from_slice(&update);
    run_ok(proxy, &dir, &args);
    proxy.phase("idle");

    let calls = proxy.since(start);
    p.iam.delete_policy().policy_arn(&foreign).send().await.expect("iam:DeletePolicy");
    remove_foreign_holders(p, &stack).await;
    let _ = std::fs::remove_dir_all(&dir);
    Lifecycle { name, apply_policy, plan_policy, calls }
}

// ---- the record ------------------------------------------------------------------------------

/// One recorded request.
#[derive(Debug, Clone)]
struct Call {
    phase: String,
    /// The signing name of its credential scope (`ecr`, `elasticloadbalancing`, `tagging`, …).
    service: String,
    region: String,
    /// The operation, as the API names it.
    op: String,
    method: String,
    path: String,
    /// A query-protocol request's form (`Tags.member.1.Key` → value).
    form: BTreeMap<String, String>,
    /// A JSON-protocol request's body.
    json: Value,
    /// The body as text (Route 53's XML).
    body: String,
}

/// A form's value: `+` is a space, `%XX` a byte.
fn url_decode(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Call {
    fn parse(line: &str) -> Call {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("a record line ({e}): {line}"));
        let body = aws_smithy_types::base64::decode(v["body"].as_str().unwrap_or("")).expect("base64 body");
        let body = String::from_utf8_lossy(&body).into_owned();
        let fields: Vec<(String, String)> = v["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f[0].as_str().unwrap().to_ascii_lowercase(), f[1].as_str().unwrap().to_string()))
            .collect();
        let header = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap_or_default();
        // Credential=recorded/<date>/<region>/<service>/aws4_request
        let auth = header("authorization");
        let scope: Vec<&str> =
            auth.split("Credential=").nth(1).unwrap_or("").split(',').next().unwrap_or("").split('/').collect();
        let (region, service) = (scope.get(2).unwrap_or(&"").to_string(), scope.get(3).unwrap_or(&"").to_string());
        let mut form = BTreeMap::new();
        let mut json = Value::Null;
        let target = header("x-amz-target");
        let op;
        if !target.is_empty() {
            op = target.rsplit('.').next().unwrap().to_string();
            json = serde_json::from_str(&body).unwrap_or(Value::Null);
        } else if body.contains("Action=") {
            for pair in body.split('&') {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                form.insert(url_decode(k), url_decode(v));
            }
            op = form.get("Action").cloned().unwrap_or_default();
        } else {
            op = String::new();
        }
        let path = v["target"].as_str().unwrap_or("").to_string();
        let method = v["method"].as_str().unwrap_or("").to_string();
        let mut c = Call {
            phase: v["phase"].as_str().unwrap().to_string(),
            service,
            region,
            op,
            method,
            path,
            form,
            json,
            body,
        };
        if c.op.is_empty() {
            c.op = rest_operation(&c);
        }
        c
    }

    /// `service:Operation`, as IAM names the action.
    fn action(&self) -> String {
        let prefix = match self.service.as_str() {
            // The Resource Groups Tagging API signs as `tagging`; IAM's prefix is `tag`.
            "tagging" => "tag",
            s => s,
        };
        format!("{prefix}:{}", self.op)
    }

    fn s(&self, key: &str) -> Option<String> {
        if let Some(v) = self.form.get(key) {
            return Some(v.clone());
        }
        self.json.get(key).and_then(Value::as_str).map(str::to_string)
    }

    /// The values of a query list (`Prefix.1`, `Prefix.2`, … or `Prefix.member.1`, …).
    fn list(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.form {
            let Some(rest) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else { continue };
            let rest = rest.strip_prefix("member.").unwrap_or(rest);
            if rest.chars().all(|c| c.is_ascii_digit()) {
                out.push(v.clone());
            }
        }
        if let Some(Value::Array(a)) = self.json.get(prefix) {
            out.extend(a.iter().filter_map(|x| x.as_str().map(str::to_string)));
        }
        out
    }
}

/// The operation of a REST request (Route 53's), from its method and path.
fn rest_operation(c: &Call) -> String {
    let path = c.path.split('?').next().unwrap_or("");
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let op = match (c.service.as_str(), c.method.as_str(), &parts[1..]) {
        ("route53", "GET", ["hostedzone"]) => "ListHostedZones",
        ("route53", "GET", ["hostedzonesbyname"]) => "ListHostedZonesByName",
        ("route53", "POST", ["hostedzone"]) => "CreateHostedZone",
        ("route53", "GET", ["hostedzone", _]) => "GetHostedZone",
        ("route53", "DELETE", ["hostedzone", _]) => "DeleteHostedZone",
        ("route53", "GET", ["hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        ("route53", "POST", ["hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        ("route53", "GET", ["change", _]) => "GetChange",
        ("route53", "GET", ["tags", "hostedzone", _]) => "ListTagsForResource",
        ("route53", "POST", ["tags", "hostedzone", _]) => "ChangeTagsForResource",
        _ => panic!("a REST request this test does not know: {} {} {}", c.service, c.method, c.path),
    };
    op.to_string()
}

// ---- from a request to what IAM authorizes ----------------------------------------------------

/// One authorization IAM makes for a call: its request, whether its
/// resource is the ARN IAM uses (`false`: only the action is checked, the
/// ARN or a condition key not derivable from the request), and the call
/// it is part of.
#[derive(Debug, Clone)]
struct Need {
    req: Request,
    scoped: bool,
    call: String,
    phase: String,
}

/// What the record knows beyond one request: the live tags of resources
/// (by EC2 id or ARN) and the IAM paths of roles and policies by name.
struct Known<'a> {
    tags: &'a BTreeMap<String, BTreeMap<String, String>>,
    iam_paths: BTreeMap<String, String>,
}

/// The tags a request gives (`aws:RequestTag/…`, `aws:TagKeys`): EC2's
/// `TagSpecification.N.Tag.M`, IAM's and ELB's `Tags.member.N`, EC2's
/// `Tag.N`, and the JSON protocols' `tags`/`Tags` (lists of key and value,
/// or maps).
fn request_tags(c: &Call) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in &c.form {
        if let Some(stem) = k.strip_suffix(".Key") {
            if stem.contains("Tag") {
                let value = c.form.get(&format!("{stem}.Value")).cloned().unwrap_or_default();
                out.insert(v.clone(), value);
            }
        }
    }
    for key in ["tags", "Tags"] {
        match c.json.get(key) {
            Some(Value::Array(a)) => {
                for t in a {
                    let k = t.get("key").or(t.get("Key")).and_then(Value::as_str);
                    let v = t.get("value").or(t.get("Value")).and_then(Value::as_str).unwrap_or("");
                    if let Some(k) = k {
                        out.insert(k.to_string(), v.to_string());
                    }
                }
            }
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    out.insert(k.clone(), v.as_str().unwrap_or("").to_string());
                }
            }
            _ => {}
        }
    }
    out
}

fn with_request_tags(mut r: Request, tags: &BTreeMap<String, String>) -> Request {
    if tags.is_empty() {
        return r;
    }
    for (k, v) in tags {
        r = r.with(&format!("aws:RequestTag/{k}"), &[v]);
    }
    let keys: Vec<&str> = tags.keys().map(String::as_str).collect();
    r.with("aws:TagKeys", &keys)
}

fn with_resource_tags(mut r: Request, known: &Known) -> Request {
    let id = r.resource.rsplit('/').next().unwrap_or("").to_string();
    let tags = known.tags.get(&r.resource).or_else(|| known.tags.get(&id));
    for (k, v) in tags.into_iter().flatten() {
        r = r.with(&format!("aws:ResourceTag/{k}"), &[v]);
    }
    r
}

/// EC2's resource type of an id, as its ARNs name it.
fn ec2_type(id: &str) -> Option<&'static str> {
    let prefix = id.split('-').next()?;
    Some(match prefix {
        "sg" => "security-group",
        "vpc" => "vpc",
        "subnet" => "subnet",
        "igw" => "internet-gateway",
        "rtb" => "route-table",
        "nat" => "natgateway",
        "eipalloc" => "elastic-ip",
        "eni" => "network-interface",
        _ => return None,
    })
}

/// `action` on `resource`, or by action only where IAM's ARN is not
/// derivable from the request (`None`).
fn on(out: &mut Vec<(Request, bool)>, action: &str, resource: Option<String>) {
    out.push((Request::new(action, resource.as_deref().unwrap_or("*")), resource.is_some()));
}

/// Id of a resource AWS has not made yet: IAM authorizes its ARN with the
/// new id, which no pattern of moor's names (they end in `*`).
const NEW: &str = "0123456789abcdef";

fn route53_changes(body: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut names, mut types, mut actions) = (Vec::new(), Vec::new(), Vec::new());
    for change in body.split("<Change>").skip(1) {
        let tag = |t: &str| {
            change.split(&format!("<{t}>")).nth(1).and_then(|r| r.split(&format!("</{t}>")).next()).map(str::to_string)
        };
        if let Some(n) = tag("Name") {
            names.push(n.trim_end_matches('.').to_ascii_lowercase());
        }
        if let Some(t) = tag("Type") {
            types.push(t);
        }
        if let Some(a) = tag("Action") {
            actions.push(a);
        }
    }
    (names, types, actions)
}

/// The authorizations of one call. Actions AWS checks within it (tagging
/// on create, `iam:PassRole`, the service-linked role of a first use,
/// what Application Auto Scaling does on the caller's behalf) are added
/// as AWS's Service Authorization Reference lists them under "dependent
/// actions".
fn needs(c: &Call, known: &mut Known) -> Vec<Need> {
    let r = c.region.clone();
    let arn = |svc: &str, res: &str| format!("arn:aws:{svc}:{r}:{ACCOUNT}:{res}");
    let global = |svc: &str, res: &str| format!("arn:aws:{svc}::{ACCOUNT}:{res}");
    let action = c.action();
    let tags = request_tags(c);
    let mut out: Vec<(Request, bool)> = Vec::new();
    let op = c.op.as_str();
    match c.service.as_str() {
        "sts" => {} // GetCallerIdentity: no permission needed (see NEEDS_NONE).
        "tagging" => on(&mut out, &action, Some("*".into())),
        "ec2" => {
            if op.starts_with("Describe") {
                on(&mut out, &action, Some("*".into()));
            } else {
                let ty = match op {
                    "CreateSecurityGroup" => Some("security-group"),
                    "CreateVpc" => Some("vpc"),
                    "CreateSubnet" => Some("subnet"),
                    "CreateInternetGateway" => Some("internet-gateway"),
                    "CreateRouteTable" => Some("route-table"),
                    "CreateNatGateway" => Some("natgateway"),
                    "AllocateAddress" => Some("elastic-ip"),
                    _ => None,
                };
                let mut ids: Vec<String> = Vec::new();
                // A route's target (gateway, NAT gateway) is no resource of
                // the route calls: IAM authorizes them on the route table.
                let keys: &[&str] = if op.ends_with("Route") {
                    &["RouteTableId"]
                } else {
                    &[
                        "GroupId",
                        "VpcId",
                        "SubnetId",
                        "InternetGatewayId",
                        "RouteTableId",
                        "NatGatewayId",
                        "AllocationId",
                    ]
                };
                for key in keys.iter().copied() {
                    ids.extend(c.s(key));
                }
                ids.extend(c.list("ResourceId"));
                if let Some(ty) = ty {
                    on(&mut out, &action, Some(arn("ec2", &format!("{ty}/{NEW}"))));
                    if !tags.is_empty() {
                        // Tags on create: ec2:CreateTags on the new resource, ec2:CreateAction set.
                        let new = arn("ec2", &format!("{ty}/{}", NEW));
                        let t = with_request_tags(Request::new("ec2:CreateTags", &new), &tags)
                            .with("ec2:CreateAction", &[op]);
                        out.push((t, true));
                    }
                }
                if op == "DisassociateRouteTable" || op == "ReplaceRouteTableAssociation" {
                    // Only the association's id: the route table and subnet IAM checks are not in the request.
                    on(&mut out, &action, None);
                }
                for id in ids {
                    match ec2_type(&id) {
                        Some(t) => on(&mut out, &action, Some(arn("ec2", &format!("{t}/{id}")))),
                        None => on(&mut out, &action, None),
                    }
                }
                if out.is_empty() {
                    on(&mut out, &action, None);
                }
            }
        }
        "ecr" => match op {
            "DescribeRegistry" | "GetAuthorizationToken" => on(&mut out, &action, Some("*".into())),
            _ => {
                if let Some(a) = c.s("resourceArn") {
                    on(&mut out, &action, Some(a));
                } else if let Some(n) = c.s("repositoryName") {
                    on(&mut out, &action, Some(arn("ecr", &format!("repository/{n}"))));
                } else {
                    let names = c.list("repositoryNames");
                    if names.is_empty() {
                        on(&mut out, &action, Some(arn("ecr", "repository/*")));
                    }
                    for n in names {
                        on(&mut out, &action, Some(arn("ecr", &format!("repository/{n}"))));
                    }
                }
                if op == "CreateRepository" && !tags.is_empty() {
                    let n = c.s("repositoryName").unwrap_or_default();
                    out.push((
                        with_request_tags(
                            Request::new("ecr:TagResource", &arn("ecr", &format!("repository/{n}"))),
                            &tags,
                        ),
                        true,
                    ));
                }
            }
        },
        "ecr-public" => {
            if let Some(a) = c.s("resourceArn") {
                on(&mut out, &action, Some(a));
            } else if let Some(n) = c.s("repositoryName") {
                on(&mut out, &action, Some(global("ecr-public", &format!("repository/{n}"))));
            } else {
                let names = c.list("repositoryNames");
                if names.is_empty() {
                    on(&mut out, &action, Some(global("ecr-public", "repository/*")));
                }
                for n in names {
                    on(&mut out, &action, Some(global("ecr-public", &format!("repository/{n}"))));
                }
            }
        }
        "iam" => {
            let role = |name: &str, known: &Known| {
                let path = known.iam_paths.get(&format!("role/{name}")).cloned().unwrap_or("/".into());
                global("iam", &format!("role{path}{name}"))
            };
            match op {
                "ListRoles" | "ListPolicies" | "GetAccountAuthorizationDetails" => {
                    on(&mut out, &action, Some("*".into()))
                }
                "CreateRole" => {
                    let name = c.s("RoleName").unwrap_or_default();
                    let path = c.s("Path").unwrap_or("/".into());
                    known.iam_paths.insert(format!("role/{name}"), path);
                    let a = role(&name, known);
                    on(&mut out, &action, Some(a.clone()));
                    if !tags.is_empty() {
                        out.push((with_request_tags(Request::new("iam:TagRole", &a), &tags), true));
                    }
                }
                "CreatePolicy" => {
                    let name = c.s("PolicyName").unwrap_or_default();
                    let path = c.s("Path").unwrap_or("/".into());
                    let a = global("iam", &format!("policy{path}{name}"));
                    on(&mut out, &action, Some(a.clone()));
                    if !tags.is_empty() {
                        out.push((with_request_tags(Request::new("iam:TagPolicy", &a), &tags), true));
                    }
                }
                _ => {
                    // The resource is the instance profile, user or group a
                    // call names, else its role; an attached policy is the
                    // condition key iam:PolicyARN.
                    let holder = if let Some(n) = c.s("InstanceProfileName") {
                        Some(global("iam", &format!("instance-profile/{n}")))
                    } else if let Some(n) = c.s("UserName") {
                        Some(global("iam", &format!("user/{n}")))
                    } else if let Some(n) = c.s("GroupName") {
                        Some(global("iam", &format!("group/{n}")))
                    } else {
                        c.s("RoleName").map(|n| role(&n, known))
                    };
                    if let Some(a) = holder {
                        let mut req = Request::new(&action, &a);
                        if let Some(p) = c.s("PolicyArn") {
                            // Attach and detach: the policy is a condition key, the role the resource.
                            req = req.with("iam:PolicyARN", &[&p]);
                        }
                        out.push((req, true));
                    } else if let Some(p) = c.s("PolicyArn") {
                        on(&mut out, &action, Some(p));
                    } else {
                        on(&mut out, &action, None);
                    }
                }
            }
        }
        "elasticloadbalancing" => {
            let lb_name = |a: &str| a.split("loadbalancer/").nth(1).unwrap_or("").to_string();
            match op {
                o if o.starts_with("Describe") => on(&mut out, &action, Some("*".into())),
                "CreateLoadBalancer" => {
                    let n = c.s("Name").unwrap_or_default();
                    let a = arn("elasticloadbalancing", &format!("loadbalancer/app/{n}/{NEW}"));
                    on(&mut out, &action, Some(a.clone()));
                    if !tags.is_empty() {
                        out.push((with_request_tags(Request::new("elasticloadbalancing:AddTags", &a), &tags), true));
                    }
                    let slr = global("iam", "role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing");
                    out.push((
                        Request::new("iam:CreateServiceLinkedRole", &slr)
                            .with("iam:AWSServiceName", &["elasticloadbalancing.amazonaws.com"]),
                        true,
                    ));
                }
                "CreateTargetGroup" => {
                    let n = c.s("Name").unwrap_or_default();
                    let a = arn("elasticloadbalancing", &format!("targetgroup/{n}/{NEW}"));
                    on(&mut out, &action, Some(a.clone()));
                    if !tags.is_empty() {
                        out.push((with_request_tags(Request::new("elasticloadbalancing:AddTags", &a), &tags), true));
                    }
                }
                "CreateListener" => {
                    let lb = c.s("LoadBalancerArn").unwrap_or_default();
                    on(&mut out, &action, Some(lb.clone()));
                    let listener = arn("elasticloadbalancing", &format!("listener/{}/{NEW}", lb_name(&lb)));
                    if !tags.is_empty() {
                        let t = with_request_tags(Request::new("elasticloadbalancing:AddTags", &listener), &tags);
                        out.push((t, true));
                    }
                }
                "CreateRule" => {
                    let l = c.s("ListenerArn").unwrap_or_default();
                    on(&mut out, &action, Some(l.clone()));
                    let rule = format!("{}/{NEW}", l.replace(":listener/", ":listener-rule/"));
                    if !tags.is_empty() {
                        let t = with_request_tags(Request::new("elasticloadbalancing:AddTags", &rule), &tags);
                        out.push((t, true));
                    }
                }
                _ => {
                    let mut arns: Vec<String> = Vec::new();
                    for k in ["LoadBalancerArn", "TargetGroupArn", "ListenerArn", "RuleArn"] {
                        arns.extend(c.s(k));
                    }
                    arns.extend(c.list("ResourceArns"));
                    for (k, v) in &c.form {
                        if k.starts_with("RulePriorities.") && k.ends_with(".RuleArn") {
                            arns.push(v.clone());
                        }
                    }
                    if arns.is_empty() {
                        on(&mut out, &action, None);
                    }
                    for a in arns {
                        on(&mut out, &action, Some(a));
                    }
                }
            }
        }
        "ecs" => {
            let cluster_of = |v: &str| v.rsplit('/').next().unwrap_or(v).to_string();
            let cluster = c.s("cluster").map(|v| cluster_of(&v)).unwrap_or("default".into());
            match op {
                "ListClusters"
                | "ListServices"
                | "ListTaskDefinitions"
                | "ListTaskDefinitionFamilies"
                | "ListTasks"
                | "DescribeTaskDefinition"
                | "DeregisterTaskDefinition" => on(&mut out, &action, Some("*".into())),
                "RegisterTaskDefinition" => {
                    on(&mut out, &action, Some("*".into()));
                    let family = c.s("family").unwrap_or_default();
                    if !tags.is_empty() {
                        let a = arn("ecs", &format!("task-definition/{family}:1"));
                        out.push((with_request_tags(Request::new("ecs:TagResource", &a), &tags), true));
                    }
                    for key in ["taskRoleArn", "executionRoleArn"] {
                        if let Some(role) = c.s(key) {
                            let pass = Request::new("iam:PassRole", &role)
                                .with("iam:PassedToService", &["ecs-tasks.amazonaws.com"]);
                            out.push((pass, true));
                        }
                    }
                }
                "CreateCluster" => {
                    let a = arn("ecs", &format!("cluster/{}", c.s("clusterName").unwrap_or_default()));
                    on(&mut out, &action, Some(a.clone()));
                    if !tags.is_empty() {
                        out.push((with_request_tags(Request::new("ecs:TagResource", &a), &tags), true));
                    }
                    let slr = global("iam", "role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS");
                    out.push((
                        Request::new("iam:CreateServiceLinkedRole", &slr)
                            .with("iam:AWSServiceName", &["ecs.amazonaws.com"]),
                        true,
                    ));
                }
                "DescribeClusters" => {
                    for n in c.list("clusters") {
                        on(&mut out, &action, Some(arn("ecs", &format!("cluster/{}", cluster_of(&n)))));
                    }
                }
                "CreateService" => {
                    let name = c.s("serviceName").unwrap_or_default();
                    let a = arn("ecs", &format!("service/{cluster}/{name}"));
                    on(&mut out, &action, Some(a.clone()));
                    if !tags.is_empty() {
                        out.push((with_request_tags(Request::new("ecs:TagResource", &a), &tags), true));
                    }
                }
                "DescribeServices" => {
                    for s in c.list("services") {
                        on(&mut out, &action, Some(arn("ecs", &format!("service/{cluster}/{}", cluster_of(&s)))));
                    }
                }
                "UpdateService" | "DeleteService" => {
                    let s = c.s("service").unwrap_or_default();
                    on(&mut out, &action, Some(arn("ecs", &format!("service/{cluster}/{}", cluster_of(&s)))));
                }
                "DescribeTasks" => {
                    for t in c.list("tasks") {
                        on(&mut out, &action, Some(arn("ecs", &format!("task/{cluster}/{}", cluster_of(&t)))));
                    }
                }
                "DeleteTaskDefinitions" => {
                    for t in c.list("taskDefinitions") {
                        let fam_rev = t.rsplit('/').next().unwrap_or(&t).to_string();
                        on(&mut out, &action, Some(arn("ecs", &format!("task-definition/{fam_rev}"))));
                    }
                }
                "TagResource" | "UntagResource" | "ListTagsForResource" => on(&mut out, &action, c.s("resourceArn")),
                _ => {
                    if c.s("cluster").is_some() || c.s("clusterName").is_some() {
                        on(&mut out, &action, Some(arn("ecs", &format!("cluster/{cluster}"))));
                    } else {
                        on(&mut out, &action, None);
                    }
                }
            }
        }
        "logs" => {
            if let Some(a) = c.s("resourceArn") {
                on(&mut out, &action, Some(a));
            } else if let Some(n) = c.s("logGroupName") {
                on(&mut out, &action, Some(arn("logs", &format!("log-group:{n}:*"))));
                if op == "CreateLogGroup" && !tags.is_empty() {
                    let a = arn("logs", &format!("log-group:{n}:*"));
                    out.push((with_request_tags(Request::new("logs:TagResource", &a), &tags), true));
                }
            } else if op == "DescribeLogGroups" {
                on(&mut out, &action, Some(arn("logs", "log-group:*")));
            } else {
                on(&mut out, &action, None);
            }
        }
        "acm" => match op {
            "ListCertificates" => on(&mut out, &action, Some("*".into())),
            "RequestCertificate" => {
                let a = arn("acm", &format!("certificate/{NEW}"));
                out.push((with_request_tags(Request::new(&action, &a), &tags), true));
                if !tags.is_empty() {
                    out.push((with_request_tags(Request::new("acm:AddTagsToCertificate", &a), &tags), true));
                }
            }
            _ => on(&mut out, &action, c.s("CertificateArn")),
        },
        "route53" => {
            let parts: Vec<&str> = c.path.split('?').next().unwrap_or("").trim_matches('/').split('/').collect();
            match op {
                "ListHostedZones" | "ListHostedZonesByName" => on(&mut out, &action, Some("*".into())),
                "GetChange" => on(&mut out, &action, Some(format!("arn:aws:route53:::change/{}", parts[2]))),
                "ChangeResourceRecordSets" => {
                    let (names, types, actions) = route53_changes(&c.body);
                    let n: Vec<&str> = names.iter().map(String::as_str).collect();
                    let t: Vec<&str> = types.iter().map(String::as_str).collect();
                    let a: Vec<&str> = actions.iter().map(String::as_str).collect();
                    let req = Request::new(&action, &format!("arn:aws:route53:::hostedzone/{}", parts[2]))
                        .with("route53:ChangeResourceRecordSetsNormalizedRecordNames", &n)
                        .with("route53:ChangeResourceRecordSetsRecordTypes", &t)
                        .with("route53:ChangeResourceRecordSetsActions", &a);
                    out.push((req, true));
                }
                _ => {
                    let id = parts.last().copied().unwrap_or("");
                    on(&mut out, &action, Some(format!("arn:aws:route53:::hostedzone/{id}")))
                }
            }
        }
        "application-autoscaling" => match op {
            o if o.starts_with("Describe") => on(&mut out, &action, Some("*".into())),
            "TagResource" | "UntagResource" | "ListTagsForResource" => on(&mut out, &action, c.s("ResourceARN")),
            _ => {
                // The scalable target's ARN holds an id AWS assigns, which
                // the request (namespace, resource id, dimension) does not give.
                out.push((with_request_tags(Request::new(&action, "*"), &tags), false));
                let service = c.s("ResourceId").unwrap_or_default();
                let svc = service.strip_prefix("service/").unwrap_or(&service).to_string();
                let ecs = arn("ecs", &format!("service/{svc}"));
                match op {
                    "RegisterScalableTarget" => {
                        for a in ["ecs:DescribeServices", "ecs:UpdateService"] {
                            out.push((Request::new(a, &ecs), true));
                        }
                        let slr = global("iam", "role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService");
                        out.push((
                            Request::new("iam:CreateServiceLinkedRole", &slr)
                                .with("iam:AWSServiceName", &["ecs.application-autoscaling.amazonaws.com"]),
                            true,
                        ));
                        if !tags.is_empty() {
                            out.push((
                                with_request_tags(Request::new("application-autoscaling:TagResource", "*"), &tags),
                                false,
                            ));
                        }
                    }
                    "PutScalingPolicy" | "DeleteScalingPolicy" => {
                        // Target tracking makes and removes CloudWatch alarms named after the service.
                        let alarm = arn("cloudwatch", &format!("alarm:TargetTracking-service/{svc}-AlarmHigh-{NEW}"));
                        let mine: &[&str] = if op == "PutScalingPolicy" {
                            &["cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"]
                        } else {
                            &["cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"]
                        };
                        for a in mine {
                            out.push((Request::new(a, &alarm), true));
                        }
                    }
                    _ => {}
                }
            }
        },
        "servicediscovery" => match op {
            "ListNamespaces" | "ListServices" | "GetOperation" | "CreateHttpNamespace" => {
                on(&mut out, &action, Some("*".into()))
            }
            _ => on(&mut out, &action, c.s("ResourceARN")),
        },
        other => panic!("a request of a service this test does not know: {other} {op}"),
    }
    let call = format!("{} {}", c.action(), c.phase);
    out.into_iter()
        .map(|(req, scoped)| {
            let req = with_resource_tags(req, known);
            // Tagging calls and creates carry the request's tags.
            let req = if req.action == action { with_request_tags(req, &tags) } else { req };
            Need { req, scoped, call: call.clone(), phase: c.phase.clone() }
        })
        .collect()
}

// ---- the checks ------------------------------------------------------------------------------

/// Whether some statement allows `action` at all (for the action-only checks).
fn allows_action(policy: &Value, action: &str) -> bool {
    policy["Statement"].as_array().unwrap().iter().any(|s| {
        let any = Request::new(action, "*");
        let actions: Vec<&str> = match &s["Action"] {
            Value::String(a) => vec![a.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        s["Effect"] == "Allow"
            && actions.iter().any(|a| iam_eval::wildcard(&a.to_ascii_lowercase(), &any.action.to_ascii_lowercase()))
    })
}

fn allowed(policy: &Value, n: &Need) -> bool {
    if n.scoped {
        evaluate(policy, &n.req) == Decision::Allow
    } else {
        allows_action(policy, &n.req.action)
    }
}

/// A read: what a plan may call.
fn is_read(action: &str) -> bool {
    let op = action.split(':').nth(1).unwrap_or(action);
    ["Describe", "List", "Get"].iter().any(|p| op.starts_with(p))
}

/// Statements no recorded call needs, kept for the reason given: matched
/// by one action of theirs.
const KEPT: &[(&str, &str)] = &[(
    "ecs:DescribeTasks",
    "read only when a deployment fails, to say why its tasks stopped: no example's lifecycle fails one, \
     `a_failed_deployment_reads_why_its_tasks_stopped_as_its_policy_allows` does (under the AWS model)",
)];

fn kept(statement: &Value) -> Option<&'static str> {
    let actions: Vec<&str> = match &statement["Action"] {
        Value::String(a) => vec![a.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    KEPT.iter().find(|(a, _)| actions.contains(a)).map(|(_, why)| *why)
}

/// The needs of a lifecycle's calls, in order.
fn lifecycle_needs(l: &Lifecycle, tags: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Need> {
    let mut known = Known { tags, iam_paths: BTreeMap::new() };
    l.calls.iter().flat_map(|c| needs(c, &mut known)).collect()
}

/// The failures of one lifecycle against its policies: every need allowed
/// in apply mode, the plans' needs in plan mode, no write in plan mode.
fn failures(l: &Lifecycle, needs: &[Need]) -> Vec<String> {
    let mut out = Vec::new();
    for n in needs {
        if !allowed(&l.apply_policy, n) {
            out.push(format!(
                "{}: apply policy denies {} on {} {:?} (in {})",
                l.name, n.req.action, n.req.resource, n.req.context, n.call
            ));
        }
        if PLAN_PHASES.contains(&n.phase.as_str()) && !allowed(&l.plan_policy, n) {
            out.push(format!("{}: plan policy denies {} on {} (in {})", l.name, n.req.action, n.req.resource, n.call));
        }
        if !is_read(&n.req.action) && allowed(&l.plan_policy, n) {
            out.push(format!(
                "{}: plan policy allows the write {} on {} (in {})",
                l.name, n.req.action, n.req.resource, n.call
            ));
        }
    }
    out
}

/// The statements of the apply policy whose removal denies no need.
fn dead(l: &Lifecycle, needs: &[Need]) -> Vec<String> {
    let st = l.apply_policy["Statement"].as_array().unwrap();
    let mut out = Vec::new();
    for (i, statement) in st.iter().enumerate() {
        let mut without = l.apply_policy.clone();
        without["Statement"].as_array_mut().unwrap().remove(i);
        let needed = needs.iter().any(|n| allowed(&l.apply_policy, n) && !allowed(&without, n));
        if !needed && kept(statement).is_none() {
            out.push(format!("{}: {statement}", l.name));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_policy_of_every_example_allows_each_call_of_its_lifecycle_and_no_statement_is_dead() {
    if skip_emulator() {
        return;
    }
    let p = provider().await;
    p.route53
        .create_hosted_zone()
        .name("example.com")
        .caller_reference(format!("coverage-{}", std::process::id()))
        .send()
        .await
        .expect("the hosted zone of example.com");
    let proxy = Proxies::start();
    proxy.phase("idle");
    let files = examples();
    assert!(files.len() >= 7, "{files:?}");
    let mut tags = BTreeMap::new();
    let mut lifecycles = Vec::new();
    for f in &files {
        lifecycles.push(lifecycle(&p, &proxy, f, &mut tags).await);
    }
    let (mut problems, mut dead_weight) = (Vec::new(), Vec::new());
    let (mut scoped, mut action_only) = (0, 0);
    let mut only_action: BTreeSet<String> = BTreeSet::new();
    for l in &lifecycles {
        let needs = lifecycle_needs(l, &tags);
        assert!(needs.len() > 10, "{}: {} calls recorded", l.name, l.calls.len());
        for n in &needs {
            if n.scoped {
                scoped += 1;
            } else {
                action_only += 1;
                only_action.insert(n.req.action.clone());
            }
        }
        problems.extend(failures(l, &needs));
        dead_weight.extend(dead(l, &needs));
    }
    eprintln!(
        "{} calls recorded; {scoped} authorizations checked with their ARN and conditions, {action_only} by action only ({})",
        lifecycles.iter().map(|l| l.calls.len()).sum::<usize>(),
        only_action.iter().cloned().collect::<Vec<_>>().join(", ")
    );
    proxy.remove();
    assert!(
        problems.is_empty() && dead_weight.is_empty(),
        "{} calls the policy does not cover as it should:\n{}\n\n{} statements no recorded call needs:\n{}",
        problems.len(),
        problems.join("\n"),
        dead_weight.len(),
        dead_weight.join("\n")
    );
    assert!(
        action_only * 10 < scoped,
        "too many calls checked by action only: {action_only} of {}",
        scoped + action_only
    );
}

/// A stack whose service's deployment the AWS model fails: `image`s
/// containing `broken` fail their health checks, and the circuit breaker
/// rolls the deployment back.
const FAILING: &str = "stack: coverage-failing
region: us-east-1
variables:
  image:
    default: public.ecr.aws/docker/library/nginx:v1
resources:
  net:
    kind: ec2/default_vpc
  app_sg:
    kind: ec2/security_group
    description: the tasks
    vpc: ${net.vpc_id}
  exec_role:
    kind: iam/role
    assumed_by:
      services: [ecs-tasks.amazonaws.com]
  cluster:
    kind: ecs/cluster
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    execution_role: ${exec_role.arn}
    containers:
      - name: web
        image: ${var.image}
  app:
    kind: ecs/service
    cluster: ${cluster.arn}
    task_definition: ${task.arn}
    desired_count: 1
    network:
      subnets: ${net.subnet_ids}
      security_groups: [\"${app_sg.id}\"]
    deployment:
      circuit_breaker: { enable: true, rollback: true }
";

/// The one call no example's lifecycle makes: a failed deployment's
/// `ecs:DescribeTasks` of the stopped tasks, to say why they stopped. Under
/// the AWS model (an image it marks unhealthy) behind the recording proxy,
/// with a stopped task in the cluster (the emulator's services start none;
/// its ListTasks does not filter by service), the failed apply makes it,
/// and the stack's policy allows it and every other call, the
/// DescribeTasks statement being the one that allows it.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_deployment_reads_why_its_tasks_stopped_as_its_policy_allows() {
    if skip_emulator() {
        return;
    }
    let record = std::env::temp_dir().join(format!("moor-coverage-failing-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&record);
    let proxy = FaultProxy::start_with([
        "--delay-ms",
        "0",
        "--aws-model",
        "--time-scale",
        "0.05",
        "--record",
        record.to_str().unwrap(),
    ]);
    let p = provider().await;
    let dir = workdir("coverage-failing", FAILING);
    let moor = |args: &[&str]| {
        let mut c = proxy.moor();
        c.args(args).arg("--state-dir").arg(dir.join("state")).current_dir(&dir);
        c.output().unwrap()
    };
    let policy = |mode: &str| -> Value {
        let out = proxy
            .moor()
            .args(["policy", "stack.yaml", "--account", ACCOUNT, "--mode", mode])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "moor policy: {}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (apply_policy, plan_policy) = (policy("apply"), policy("plan"));
    let mut tags = BTreeMap::new();
    proxy.phase("apply");
    let out = moor(&["apply", "stack.yaml", "--auto-approve"]);
    assert!(out.status.success(), "{}", text(&out));
    live_tags(&p, &mut tags).await;

    // A task of the cluster that stopped, as a failed deployment's do (of
    // its own task definition: the emulator runs only tasks whose
    // containers set their memory).
    let container = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name("web")
        .image("public.ecr.aws/docker/library/nginx:broken")
        .memory(512)
        .build();
    p.ecs
        .register_task_definition()
        .family("coverage-failing-stopped")
        .container_definitions(container)
        .send()
        .await
        .expect("ecs:RegisterTaskDefinition");
    let run = p
        .ecs
        .run_task()
        .cluster("coverage-failing-cluster")
        .task_definition("coverage-failing-stopped")
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .send()
        .await
        .expect("ecs:RunTask");
    let task = run.tasks()[0].task_arn().unwrap().to_string();
    p.ecs
        .stop_task()
        .cluster("coverage-failing-cluster")
        .task(&task)
        .reason("Task failed ELB health checks")
        .send()
        .await
        .expect("ecs:StopTask");

    proxy.unhealthy("nginx:broken");
    proxy.phase("failing");
    let out =
        moor(&["apply", "stack.yaml", "--auto-approve", "--var", "image=public.ecr.aws/docker/library/nginx:broken"]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("rolled back") && said.contains("Task failed ELB health checks"), "{said}");
    live_tags(&p, &mut tags).await;

    proxy.phase("destroy");
    let out = moor(&["destroy", "stack.yaml", "--auto-approve", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    proxy.phase("idle");
    p.ecs.deregister_task_definition().task_definition("coverage-failing-stopped:1").send().await.ok();

    let calls: Vec<Call> = std::fs::read_to_string(&record).unwrap().lines().map(Call::parse).collect();
    let _ = std::fs::remove_file(&record);
    let _ = std::fs::remove_dir_all(&dir);
    let l = Lifecycle { name: "coverage-failing".into(), apply_policy, plan_policy, calls };
    let needs = lifecycle_needs(&l, &tags);
    let problems = failures(&l, &needs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let describe: Vec<&Need> = needs.iter().filter(|n| n.req.action == "ecs:DescribeTasks").collect();
    assert!(!describe.is_empty(), "no ecs:DescribeTasks recorded");
    assert!(
        describe.iter().all(|n| n.phase == "failing" && n.scoped),
        "{:?}",
        describe.iter().map(|n| &n.call).collect::<Vec<_>>()
    );
    // The statement that allows it is needed: without it, the call is denied.
    let st = l.apply_policy["Statement"].as_array().unwrap();
    let i = st.iter().position(|s| kept(s).is_some()).expect("the DescribeTasks statement");
    let mut without = l.apply_policy.clone();
    without["Statement"].as_array_mut().unwrap().remove(i);
    assert!(describe.iter().all(|n| !allowed(&without, n)), "{}", st[i]);
}

// ---- the parsing, on hand-made records -------------------------------------------------------

fn line(service: &str, method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut fields = vec![json!([
        "Authorization",
        format!("AWS4-HMAC-SHA256 Credential=recorded/20250101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0")
    ])];
    fields.extend(headers.iter().map(|(k, v)| json!([k, v])));
    json!({"phase": "apply", "op": "?", "method": method, "target": target, "fields": fields,
           "body": aws_smithy_types::base64::encode(body)})
    .to_string()
}

fn needs_of(line: &str) -> Vec<Need> {
    let tags = BTreeMap::new();
    let mut known = Known { tags: &tags, iam_paths: BTreeMap::new() };
    needs(&Call::parse(line), &mut known)
}

#[test]
fn an_ec2_create_with_tags_needs_the_create_on_each_resource_and_createtags_with_its_action() {
    let body = "Action=CreateSecurityGroup&GroupName=web&GroupDescription=a+b&VpcId=vpc-1\
                &TagSpecification.1.ResourceType=security-group&TagSpecification.1.Tag.1.Key=moor%3Astack\
                &TagSpecification.1.Tag.1.Value=s";
    let n = needs_of(&line("ec2", "POST", "/", &[], body));
    let got: Vec<(&str, &str)> = n.iter().map(|n| (n.req.action.as_str(), n.req.resource.as_str())).collect();
    assert_eq!(
        got,
        [
            ("ec2:CreateSecurityGroup", "arn:aws:ec2:us-east-1:123456789012:security-group/0123456789abcdef"),
            ("ec2:CreateTags", "arn:aws:ec2:us-east-1:123456789012:security-group/0123456789abcdef"),
            ("ec2:CreateSecurityGroup", "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1"),
        ]
    );
    assert!(n.iter().all(|n| n.scoped));
    assert_eq!(n[0].req.context["aws:requesttag/moor:stack"], ["s"]);
    assert_eq!(n[1].req.context["ec2:createaction"], ["CreateSecurityGroup"]);
}

#[test]
fn a_task_definition_passes_its_roles_to_ecs_tasks() {
    let body = json!({"family": "f", "executionRoleArn": "arn:aws:iam::123456789012:role/x",
                      "tags": [{"key": "moor:stack", "value": "s"}]})
    .to_string();
    let headers = [("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition")];
    let n = needs_of(&line("ecs", "POST", "/", &headers, &body));
    let pass = n.iter().find(|n| n.req.action == "iam:PassRole").expect("PassRole");
    assert_eq!(pass.req.resource, "arn:aws:iam::123456789012:role/x");
    assert_eq!(pass.req.context["iam:passedtoservice"], ["ecs-tasks.amazonaws.com"]);
    let tag = n.iter().find(|n| n.req.action == "ecs:TagResource").expect("tagging on create");
    assert_eq!(tag.req.resource, "arn:aws:ecs:us-east-1:123456789012:task-definition/f:1");
    assert_eq!(n[0].req.action, "ecs:RegisterTaskDefinition");
    assert_eq!(n[0].req.resource, "*");
}

#[test]
fn route53_changes_carry_their_normalized_names_and_types() {
    let body = "<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>UPSERT</Action>\
                <ResourceRecordSet><Name>App.Example.com.</Name><Type>A</Type></ResourceRecordSet></Change>\
                </Changes></ChangeBatch></ChangeResourceRecordSetsRequest>";
    let n = needs_of(&line("route53", "POST", "/2013-04-01/hostedzone/Z1/rrset/", &[], body));
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].req.action, "route53:ChangeResourceRecordSets");
    assert_eq!(n[0].req.resource, "arn:aws:route53:::hostedzone/Z1");
    assert_eq!(n[0].req.context["route53:changeresourcerecordsetsnormalizedrecordnames"], ["app.example.com"]);
    assert_eq!(n[0].req.context["route53:changeresourcerecordsetsrecordtypes"], ["A"]);
    // The tagging API signs as `tagging`; IAM's prefix is `tag`.
    let headers = [("X-Amz-Target", "ResourceGroupsTaggingAPI_20170126.GetResources")];
    let n = needs_of(&line("tagging", "POST", "/", &headers, "{}"));
    assert_eq!((n[0].req.action.as_str(), n[0].req.resource.as_str()), ("tag:GetResources", "*"));
}

#[test]
fn a_detach_is_authorized_on_the_holder_with_the_policy_as_condition() {
    let body = "Action=DetachUserPolicy&UserName=u&PolicyArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Apolicy%2Fp";
    let n = needs_of(&line("iam", "POST", "/", &[], body));
    assert_eq!(n[0].req.resource, "arn:aws:iam::123456789012:user/u");
    assert_eq!(n[0].req.context["iam:policyarn"], ["arn:aws:iam::123456789012:policy/p"]);
}
