//! `ecr/repository` and the `ecr/existing_repository` lookup.
//!
//! moor's lifecycle shorthands become rules of one lifecycle policy, after
//! the file's own rules (ECR wants a rule for `any` image last); they carry
//! a description that marks them, so reading the policy back gives the
//! shorthands again. `pull_access` becomes a statement of the repository
//! policy with its own `Sid`, followed by the statements of `policy`.
//!
//! Reads describe many repositories per call ([`read_many`]); what only
//! per-repository calls tell (tags, lifecycle and repository policies) is
//! read at the same time, and for a recorded repository at the same time as
//! it is described.

use super::kinds::{ArnType, AwsKind, AwsLookup, AwsManaged, Typed};
use super::permissions::{Grant, Phase, Scope};
use super::policy::{document_json, is_account, parse_document, project_document, split_principals};
use super::{build_failed, found, ok_if_gone, partition, retry_for, sdk_err, tag_map, unresolved, AwsProvider};
use crate::kinds::ecr::{
    Encryption, ExistingRepository, Lifecycle, LifecycleRule, PullAccess, Repository, TagMutability, TagStatus,
};
use crate::model::common::{Effect, PolicyDocument, Principals, Statement, Tags};
use crate::provider::{Attrs, Deletion, ErrorKind, Fields, Live, ProviderError, Target};
use async_trait::async_trait;
use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability, Tag,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

type SdkRepository = aws_sdk_ecr::types::Repository;

/// What ECR's batched read ([`read_many`]) takes for one target.
pub(super) type Read<'a> = Ask<'a>;

// ---- lifecycle policy -------------------------------------------------------------

const EXPIRE_MARK: &str = "(moor: expire_untagged_after_days)";
const KEEP_MARK: &str = "(moor: keep_last)";

fn rule_json(priority: u32, description: Option<&str>, status: &str, prefixes: &[String], count: (&str, u32)) -> Value {
    let mut selection = serde_json::Map::new();
    selection.insert("tagStatus".into(), json!(status));
    if !prefixes.is_empty() {
        selection.insert("tagPrefixList".into(), json!(prefixes));
    }
    selection.insert("countType".into(), json!(count.0));
    if count.0 == "sinceImagePushed" {
        selection.insert("countUnit".into(), json!("days"));
    }
    selection.insert("countNumber".into(), json!(count.1));
    let mut rule = serde_json::Map::new();
    rule.insert("rulePriority".into(), json!(priority));
    if let Some(d) = description {
        rule.insert("description".into(), json!(d));
    }
    rule.insert("selection".into(), Value::Object(selection));
    rule.insert("action".into(), json!({ "type": "expire" }));
    Value::Object(rule)
}

/// The file's rules keep their priorities; `expire_untagged_after_days`
/// gets the next one, `keep_last` (a rule for any image) the one after.
fn lifecycle_json(l: &Lifecycle) -> Option<String> {
    let mut rules = Vec::new();
    for r in &l.rules {
        let status = match r.tag_status {
            TagStatus::Tagged => "tagged",
            TagStatus::Untagged => "untagged",
            TagStatus::Any => "any",
        };
        let count = match (r.count_more_than, r.days_since_pushed) {
            (Some(n), _) => ("imageCountMoreThan", n),
            (None, Some(d)) => ("sinceImagePushed", d),
            (None, None) => ("imageCountMoreThan", 0),
        };
        rules.push(rule_json(r.priority, r.description.as_deref(), status, &r.tag_prefixes, count));
    }
    let mut next = l.rules.iter().map(|r| r.priority).max().unwrap_or(0) + 1;
    if let Some(days) = l.expire_untagged_after_days {
        let d = format!("Expire untagged images {days} days after push {EXPIRE_MARK}");
        rules.push(rule_json(next, Some(&d), "untagged", &[], ("sinceImagePushed", days)));
        next += 1;
    }
    if let Some(n) = l.keep_last {
        let d = format!("Keep the {n} newest images {KEEP_MARK}");
        rules.push(rule_json(next, Some(&d), "any", &[], ("imageCountMoreThan", n)));
    }
    (!rules.is_empty()).then(|| json!({ "rules": rules }).to_string())
}

/// One rule of a lifecycle policy as read.
struct ReadRule {
    rule: LifecycleRule,
    count_type: String,
    count: u32,
}

fn read_rule(v: &Value) -> Option<ReadRule> {
    let sel = v.get("selection")?;
    let status = sel.get("tagStatus").and_then(Value::as_str)?.to_ascii_lowercase();
    let tag_status: TagStatus = serde_json::from_value(json!(status)).ok()?;
    let count_type = sel.get("countType").and_then(Value::as_str).unwrap_or_default().to_string();
    let count = sel.get("countNumber").and_then(Value::as_u64).unwrap_or(0) as u32;
    let rule = LifecycleRule {
        priority: v.get("rulePriority").and_then(Value::as_u64).unwrap_or(0) as u32,
        description: v.get("description").and_then(Value::as_str).filter(|d| !d.is_empty()).map(str::to_string),
        tag_status,
        tag_prefixes: sel
            .get("tagPrefixList")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        count_more_than: (count_type == "imageCountMoreThan").then_some(count),
        days_since_pushed: (count_type == "sinceImagePushed").then_some(count),
    };
    Some(ReadRule { rule, count_type, count })
}

/// A lifecycle policy in moor's shape: the marked rules become the
/// shorthands again when they sit where moor puts them.
fn parse_lifecycle(text: &str) -> Lifecycle {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let rules: Vec<ReadRule> =
        v.get("rules").and_then(Value::as_array).map(|a| a.iter().filter_map(read_rule).collect()).unwrap_or_default();
    let marked = |r: &ReadRule, mark: &str| r.rule.description.as_deref().is_some_and(|d| d.ends_with(mark));
    let is_expire = |r: &ReadRule| {
        marked(r, EXPIRE_MARK) && r.rule.tag_status == TagStatus::Untagged && r.count_type == "sinceImagePushed"
    };
    let is_keep = |r: &ReadRule| {
        marked(r, KEEP_MARK) && r.rule.tag_status == TagStatus::Any && r.count_type == "imageCountMoreThan"
    };
    let max_raw = rules.iter().filter(|r| !is_expire(r) && !is_keep(r)).map(|r| r.rule.priority).max().unwrap_or(0);
    let mut out = Lifecycle::default();
    let mut next = max_raw + 1;
    if let Some(r) = rules.iter().find(|r| is_expire(r) && r.rule.priority == next) {
        out.expire_untagged_after_days = Some(r.count);
        next += 1;
    }
    if let Some(r) = rules.iter().find(|r| is_keep(r) && r.rule.priority == next) {
        out.keep_last = Some(r.count);
    }
    for r in rules {
        let expire = out.expire_untagged_after_days.is_some() && is_expire(&r) && r.rule.priority == max_raw + 1;
        let keep = out.keep_last.is_some() && is_keep(&r) && r.rule.priority == next;
        if !expire && !keep {
            out.rules.push(r.rule);
        }
    }
    out
}

// ---- repository policy ----------------------------------------------------------------

const PULL_SID: &str = "MoorPullAccess";
const PULL_ACTIONS: [&str; 3] = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"];

fn pull_statement(pa: &PullAccess, partition: &str) -> Option<Statement> {
    let aws: Vec<String> = pa
        .accounts
        .iter()
        .map(|a| if is_account(a) { format!("arn:{partition}:iam::{a}:root") } else { a.clone() })
        .chain(pa.principals.iter().cloned())
        .collect();
    if aws.is_empty() && pa.services.is_empty() {
        return None;
    }
    Some(Statement {
        sid: Some(PULL_SID.into()),
        effect: Effect::Allow,
        actions: PULL_ACTIONS.iter().map(|a| a.to_string()).collect(),
        not_actions: Vec::new(),
        resources: Vec::new(),
        principals: Some(Principals { aws, services: pa.services.clone() }),
        conditions: Default::default(),
    })
}

/// The repository policy: `pull_access`, then the statements of `policy`.
fn repository_policy(spec: &Repository, partition: &str) -> Option<PolicyDocument> {
    let mut statements: Vec<Statement> =
        spec.pull_access.as_ref().and_then(|pa| pull_statement(pa, partition)).into_iter().collect();
    if let Some(doc) = &spec.policy {
        statements.extend(doc.statements.iter().cloned());
    }
    let version = spec.policy.as_ref().and_then(|d| d.version.clone()).unwrap_or_else(|| "2012-10-17".into());
    (!statements.is_empty()).then_some(PolicyDocument { version: Some(version), statements })
}

fn is_pull(s: &Statement) -> bool {
    let mut actions: Vec<&str> = s.actions.iter().map(String::as_str).collect();
    actions.sort_unstable();
    actions.dedup();
    let mut want = PULL_ACTIONS.to_vec();
    want.sort_unstable();
    s.sid.as_deref() == Some(PULL_SID)
        && s.effect == Effect::Allow
        && actions == want
        && s.not_actions.is_empty()
        && s.resources.is_empty()
        && s.conditions.is_empty()
}

/// A repository policy split back into `pull_access` and `policy`.
fn split_policy(doc: Option<PolicyDocument>, spec: &Repository) -> (PullAccess, PolicyDocument) {
    let mut pa = PullAccess::default();
    let Some(doc) = doc else {
        return (pa, PolicyDocument { version: None, statements: Vec::new() });
    };
    let mut rest = Vec::new();
    for s in doc.statements {
        if !is_pull(&s) {
            rest.push(s);
            continue;
        }
        let p = s.principals.unwrap_or_default();
        let file = spec.pull_access.clone().unwrap_or_default();
        let (accounts, principals) = split_principals(&p.aws, &file.accounts, &file.principals);
        pa.accounts.extend(accounts);
        pa.principals.extend(principals);
        pa.services.extend(p.services);
    }
    let policy = project_document(PolicyDocument { version: doc.version, statements: rest }, spec.policy.as_ref());
    (pa, policy)
}

// ---- reading ---------------------------------------------------------------------------

/// Registry id and repository name of `arn:aws:ecr:<region>:<registry>:repository/<name>`.
fn arn_parts(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "ecr" {
        return None;
    }
    Some((parts[4], parts[5].strip_prefix("repository/")?))
}

/// What each repository of `arns` holds, as ECR reports it: the sum of
/// its images' `imageSizeInBytes` (their layers as pushed, compressed) and
/// how many images there are. One DescribeImages listing per repository
/// (pages of 1000 images), all at once.
pub(super) async fn repository_storage(
    p: &AwsProvider,
    arns: &[String],
) -> BTreeMap<String, Result<crate::cost::Stored, ProviderError>> {
    let one = |arn: &str| {
        let arn = arn.to_string();
        async move {
            let Some((registry, name)) = arn_parts(&arn) else {
                let e = ProviderError::new(
                    ErrorKind::Rejected,
                    "ecr:DescribeImages",
                    format!("`{arn}` is not an ECR repository ARN"),
                );
                return (arn.clone(), Err(e));
            };
            let mut stored = crate::cost::Stored { repository: name.to_string(), bytes: 0, images: 0 };
            let mut pages = p
                .ecr
                .describe_images()
                .registry_id(registry)
                .repository_name(name)
                .max_results(1000)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = match page {
                    Ok(page) => page,
                    Err(e) => {
                        let mut e = sdk_err("ecr:DescribeImages", e);
                        e.message = format!("repository `{name}`: {}", e.message);
                        return (arn.clone(), Err(e));
                    }
                };
                for d in page.image_details() {
                    stored.images += 1;
                    stored.bytes += d.image_size_in_bytes().map_or(0, |b| b.max(0) as u64);
                }
            }
            (arn.clone(), Ok(stored))
        }
    };
    futures::future::join_all(arns.iter().map(|a| one(a))).await.into_iter().collect()
}

async fn describe(p: &AwsProvider, name: &str, registry: Option<&str>) -> Result<Option<SdkRepository>, ProviderError> {
    let out = found(
        p.ecr
            .describe_repositories()
            .repository_names(name)
            .set_registry_id(registry.map(str::to_string))
            .send()
            .await
            .map_err(|e| sdk_err("ecr:DescribeRepositories", e)),
    )?;
    Ok(out.and_then(|o| o.repositories().iter().find(|r| r.repository_name() == Some(name)).cloned()))
}

/// The repository of a recorded ARN (exactly that one), else the one of that name.
async fn find_repo(
    p: &AwsProvider,
    id: Option<&str>,
    name: Option<&str>,
) -> Result<Option<SdkRepository>, ProviderError> {
    if let Some(id) = id {
        if unresolved(id) {
            return Ok(None);
        }
        if let Some((registry, n)) = arn_parts(id) {
            if let Some(r) = describe(p, n, Some(registry)).await? {
                if r.repository_arn() == Some(id) {
                    return Ok(Some(r));
                }
            }
        }
    }
    match name {
        Some(n) if !unresolved(n) => describe(p, n, None).await,
        _ => Ok(None),
    }
}

fn repo_attrs(r: &SdkRepository) -> Attrs {
    Attrs::from([
        ("name".to_string(), json!(r.repository_name().unwrap_or_default())),
        ("arn".to_string(), json!(r.repository_arn().unwrap_or_default())),
        ("uri".to_string(), json!(r.repository_uri().unwrap_or_default())),
        ("registry_id".to_string(), json!(r.registry_id().unwrap_or_default())),
    ])
}

/// Whether a KMS key as ECR reports it (a key ARN) is the one the file
/// names (the same ARN, the key id, or an alias, which only KMS resolves).
fn same_kms_key(live: &str, file: &str) -> bool {
    live == file || live.ends_with(&format!(":key/{file}")) || file.starts_with("alias/") || file.contains(":alias/")
}

fn encryption_value(r: &SdkRepository, spec: Option<&Encryption>) -> Value {
    let Some(c) = r.encryption_configuration() else {
        return json!(Encryption::Aes256);
    };
    match c.encryption_type() {
        EncryptionType::Aes256 => json!(Encryption::Aes256),
        EncryptionType::Kms => {
            let key = c.kms_key().unwrap_or_default();
            match spec {
                Some(Encryption::Kms(f)) if same_kms_key(key, f) => json!(Encryption::Kms(f.clone())),
                _ => json!(Encryption::Kms(key.to_string())),
            }
        }
        other => json!({ other.as_str().to_ascii_lowercase(): c.kms_key().unwrap_or_default() }),
    }
}

fn mutability_value(r: &SdkRepository) -> Value {
    match r.image_tag_mutability() {
        None | Some(ImageTagMutability::Mutable) => json!(TagMutability::Mutable),
        Some(ImageTagMutability::Immutable) => json!(TagMutability::Immutable),
        Some(other) => json!(other.as_str().to_ascii_lowercase()),
    }
}

async fn lifecycle_of(p: &AwsProvider, name: &str, registry: Option<&str>) -> Result<Lifecycle, ProviderError> {
    let out = found(
        p.ecr
            .get_lifecycle_policy()
            .repository_name(name)
            .set_registry_id(registry.map(str::to_string))
            .send()
            .await
            .map_err(|e| sdk_err("ecr:GetLifecyclePolicy", e)),
    )?;
    Ok(out.and_then(|o| o.lifecycle_policy_text().map(parse_lifecycle)).unwrap_or_default())
}

async fn policy_of(
    p: &AwsProvider,
    name: &str,
    registry: Option<&str>,
) -> Result<Option<PolicyDocument>, ProviderError> {
    let out = found(
        p.ecr
            .get_repository_policy()
            .repository_name(name)
            .set_registry_id(registry.map(str::to_string))
            .send()
            .await
            .map_err(|e| sdk_err("ecr:GetRepositoryPolicy", e)),
    )?;
    Ok(out.and_then(|o| o.policy_text().and_then(parse_document)))
}

async fn tags_of(p: &AwsProvider, arn: &str) -> Result<Tags, ProviderError> {
    let out = p
        .ecr
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| sdk_err("ecr:ListTagsForResource", e))?;
    Ok(tag_map(out.tags().iter().map(|t| (Some(t.key()), Some(t.value())))))
}

/// What only per-repository calls tell: its tags, and with the file's
/// settings its lifecycle and repository policies when the file sets them.
struct Details {
    tags: Tags,
    lifecycle: Option<Lifecycle>,
    policy: Option<Option<PolicyDocument>>,
}

/// Reads a repository's [`Details`], the calls at the same time.
async fn details(
    p: &AwsProvider,
    name: &str,
    registry: Option<&str>,
    arn: &str,
    spec: Option<&Repository>,
) -> Result<Details, ProviderError> {
    let lifecycle = spec.is_some_and(|s| s.lifecycle.is_some());
    let policy = spec.is_some_and(|s| s.pull_access.is_some() || s.policy.is_some());
    let (tags, l, pol) = futures::join!(
        tags_of(p, arn),
        async {
            match lifecycle {
                true => lifecycle_of(p, name, registry).await.map(Some),
                false => Ok(None),
            }
        },
        async {
            match policy {
                true => policy_of(p, name, registry).await.map(Some),
                false => Ok(None),
            }
        }
    );
    Ok(Details { lifecycle: l?, policy: pol?, tags: tags? })
}

/// A repository as moor reports it, from its description and [`Details`].
fn assemble(r: &SdkRepository, spec: Option<&Repository>, d: Details) -> Live {
    let mut f = Fields::new();
    f.insert("name".into(), json!(r.repository_name().unwrap_or_default()));
    f.insert("tag_mutability".into(), mutability_value(r));
    f.insert("scan_on_push".into(), json!(r.image_scanning_configuration().is_some_and(|c| c.scan_on_push())));
    f.insert("encryption".into(), encryption_value(r, spec.and_then(|s| s.encryption.as_ref())));
    if let Some(s) = spec {
        if let Some(l) = d.lifecycle {
            f.insert("lifecycle".into(), serde_json::to_value(l).expect("plain data, string keys: infallible"));
        }
        if let Some(policy) = d.policy {
            let (pa, policy) = split_policy(policy, s);
            f.insert("pull_access".into(), serde_json::to_value(pa).expect("plain data, string keys: infallible"));
            f.insert("policy".into(), serde_json::to_value(policy).expect("plain data, string keys: infallible"));
        }
    }
    Live {
        id: r.repository_arn().unwrap_or_default().to_string(),
        fields: f,
        attrs: repo_attrs(r),
        tags: d.tags,
        // The creation time to the millisecond: a namesake made after a
        // delete, even within the same second, has another.
        uid: r.created_at().and_then(|t| t.to_millis().ok()).map(|ms| ms.to_string()),
    }
}

/// A repository as moor reports it; with the file's settings, the lifecycle
/// and repository policies are read too when the file sets them.
async fn repo_live(p: &AwsProvider, r: &SdkRepository, spec: Option<&Repository>) -> Result<Live, ProviderError> {
    let name = r.repository_name().unwrap_or_default();
    let arn = r.repository_arn().unwrap_or_default();
    let d = details(p, name, r.registry_id(), arn, spec).await?;
    Ok(assemble(r, spec, d))
}

fn lookup_live(r: &SdkRepository) -> Live {
    Live {
        id: r.repository_arn().unwrap_or_default().to_string(),
        fields: Fields::from_iter([("name".to_string(), json!(r.repository_name().unwrap_or_default()))]),
        attrs: repo_attrs(r),
        tags: Tags::new(),
        uid: None,
    }
}

// ---- writing ------------------------------------------------------------------------------

/// The tags of a request to `operation`.
fn ecr_tags(operation: &str, tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| build_failed(operation, e))).collect()
}

fn mutability(m: Option<TagMutability>) -> ImageTagMutability {
    match m {
        Some(TagMutability::Immutable) => ImageTagMutability::Immutable,
        Some(TagMutability::Mutable) | None => ImageTagMutability::Mutable,
    }
}

/// ECR refuses a policy naming a principal IAM has not propagated yet.
fn policy_not_ready(e: &ProviderError) -> bool {
    e.code.as_deref() == Some("InvalidParameterException") && e.message.contains("Invalid repository policy")
}

async fn put_lifecycle(
    p: &AwsProvider,
    name: &str,
    registry: Option<&str>,
    l: Option<&Lifecycle>,
) -> Result<(), ProviderError> {
    match l.and_then(lifecycle_json) {
        Some(text) => p
            .ecr
            .put_lifecycle_policy()
            .repository_name(name)
            .set_registry_id(registry.map(str::to_string))
            .lifecycle_policy_text(text)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_err("ecr:PutLifecyclePolicy", e)),
        None => ok_if_gone(
            p.ecr
                .delete_lifecycle_policy()
                .repository_name(name)
                .set_registry_id(registry.map(str::to_string))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_err("ecr:DeleteLifecyclePolicy", e)),
        ),
    }
}

async fn set_policy(
    p: &AwsProvider,
    name: &str,
    registry: Option<&str>,
    spec: &Repository,
) -> Result<(), ProviderError> {
    match repository_policy(spec, partition(&p.region)) {
        Some(doc) => {
            let req = p
                .ecr
                .set_repository_policy()
                .repository_name(name)
                .set_registry_id(registry.map(str::to_string))
                .policy_text(document_json(&doc));
            retry_for(
                // IAM takes seconds, at times a minute, to make a new role
                // known to other services.
                Duration::from_secs(60),
                || async { req.clone().send().await.map(|_| ()).map_err(|e| sdk_err("ecr:SetRepositoryPolicy", e)) },
                policy_not_ready,
            )
            .await
        }
        None => ok_if_gone(
            p.ecr
                .delete_repository_policy()
                .repository_name(name)
                .set_registry_id(registry.map(str::to_string))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_err("ecr:DeleteRepositoryPolicy", e)),
        ),
    }
}

async fn read_back(
    p: &AwsProvider,
    name: &str,
    registry: Option<&str>,
    spec: &Repository,
) -> Result<Live, ProviderError> {
    match describe(p, name, registry).await? {
        Some(r) => repo_live(p, &r, Some(spec)).await,
        None => Err(ProviderError::new(ErrorKind::NotFound, "ecr:DescribeRepositories", "the repository is gone")),
    }
}

async fn create_repo(p: &AwsProvider, t: &Target, spec: &Repository) -> Result<Live, ProviderError> {
    let name = t
        .name
        .as_deref()
        .ok_or_else(|| ProviderError::new(ErrorKind::Rejected, "ecr:CreateRepository", "the repository has no name"))?;
    let mut req =
        p.ecr.create_repository().repository_name(name).set_tags(Some(ecr_tags("ecr:CreateRepository", &t.tags)?));
    if let Some(m) = spec.tag_mutability {
        req = req.image_tag_mutability(mutability(Some(m)));
    }
    if let Some(s) = spec.scan_on_push {
        req = req.image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(s).build());
    }
    if let Some(e) = &spec.encryption {
        let c = match e {
            Encryption::Aes256 => EncryptionConfiguration::builder().encryption_type(EncryptionType::Aes256).build(),
            Encryption::Kms(key) => {
                EncryptionConfiguration::builder().encryption_type(EncryptionType::Kms).kms_key(key).build()
            }
        }
        .map_err(|e| ProviderError::new(ErrorKind::Rejected, "ecr:CreateRepository", e.to_string()))?;
        req = req.encryption_configuration(c);
    }
    let out = req.send().await.map_err(|e| sdk_err("ecr:CreateRepository", e))?;
    let repo = out.repository().ok_or_else(|| {
        ProviderError::new(ErrorKind::Rejected, "ecr:CreateRepository", "the answer has no repository")
    })?;
    let registry = repo.registry_id();
    let policy = repository_policy(spec, partition(&p.region));
    // The two policies side by side: neither needs the other.
    let (l, pol) = futures::join!(
        async {
            match spec.lifecycle.as_ref().and_then(lifecycle_json) {
                Some(_) => put_lifecycle(p, name, registry, spec.lifecycle.as_ref()).await,
                None => Ok(()),
            }
        },
        async {
            match &policy {
                Some(_) => set_policy(p, name, registry, spec).await,
                None => Ok(()),
            }
        }
    );
    l?;
    pol?;
    // The repository as created: CreateRepository's answer and what was
    // just written, without reading it all back (one round less per create).
    let written = Details {
        tags: t.tags.clone(),
        lifecycle: spec.lifecycle.as_ref().map(|_| spec.lifecycle.clone().unwrap_or_default()),
        policy: (spec.pull_access.is_some() || spec.policy.is_some()).then_some(policy),
    };
    Ok(assemble(repo, Some(spec), written))
}

async fn update_repo(
    p: &AwsProvider,
    t: &Target,
    spec: &Repository,
    live: &Live,
    changed: &[String],
) -> Result<Live, ProviderError> {
    let name = live
        .attrs
        .get("name")
        .and_then(Value::as_str)
        .or(t.name.as_deref())
        .ok_or_else(|| ProviderError::new(ErrorKind::Rejected, "ecr:update", "the repository has no name"))?
        .to_string();
    let name = name.as_str();
    let registry = live.attrs.get("registry_id").and_then(Value::as_str).filter(|r| !r.is_empty());
    let has = |f: &str| changed.iter().any(|c| c == f);
    if has("tag_mutability") {
        p.ecr
            .put_image_tag_mutability()
            .repository_name(name)
            .set_registry_id(registry.map(str::to_string))
            .image_tag_mutability(mutability(spec.tag_mutability))
            .send()
            .await
            .map_err(|e| sdk_err("ecr:PutImageTagMutability", e))?;
    }
    if has("scan_on_push") {
        p.ecr
            .put_image_scanning_configuration()
            .repository_name(name)
            .set_registry_id(registry.map(str::to_string))
            .image_scanning_configuration(
                ImageScanningConfiguration::builder().scan_on_push(spec.scan_on_push.unwrap_or(false)).build(),
            )
            .send()
            .await
            .map_err(|e| sdk_err("ecr:PutImageScanningConfiguration", e))?;
    }
    if has("lifecycle") {
        put_lifecycle(p, name, registry, spec.lifecycle.as_ref()).await?;
    }
    if has("pull_access") || has("policy") {
        set_policy(p, name, registry, spec).await?;
    }
    if has("tags") {
        tag(p, &live.id, &t.tags, &live.tags).await?;
    }
    read_back(p, name, registry, spec).await
}

async fn tag(p: &AwsProvider, arn: &str, want: &Tags, have: &Tags) -> Result<(), ProviderError> {
    super::retag(
        want,
        have,
        |remove| async move {
            let r = p.ecr.untag_resource().resource_arn(arn).set_tag_keys(Some(remove)).send().await;
            r.map(|_| ()).map_err(|e| sdk_err("ecr:UntagResource", e))
        },
        |set| async move {
            const OP: &str = "ecr:TagResource";
            let r = p.ecr.tag_resource().resource_arn(arn).set_tags(Some(ecr_tags(OP, &set)?)).send().await;
            r.map(|_| ()).map_err(|e| sdk_err(OP, e))
        },
    )
    .await
}

async fn delete_repo(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
    let (registry, name) = match arn_parts(&d.id) {
        Some((r, n)) => (Some(r), n),
        None => match d.name.as_deref() {
            Some(n) => (None, n),
            None => return Ok(()),
        },
    };
    let r = p
        .ecr
        .delete_repository()
        .repository_name(name)
        .set_registry_id(registry.map(str::to_string))
        .force(d.force)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sdk_err("ecr:DeleteRepository", e));
    match r {
        Err(e) if e.code.as_deref() == Some("RepositoryNotEmptyException") => Err(ProviderError {
            message: "the repository still holds images; set `empty_on_delete: true` on it to delete them with it, \
                      or run with --force"
                .into(),
            ..e
        }),
        other => ok_if_gone(other),
    }
}

// ---- the providers ------------------------------------------------------------------------

#[async_trait]
impl AwsKind for Repository {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let repo = repository_arn(at, t.name.as_deref().unwrap_or("*"));
        vec![
            Grant::on(
                Phase::Read,
                &[
                    "ecr:DescribeRepositories",
                    "ecr:ListTagsForResource",
                    "ecr:GetLifecyclePolicy",
                    "ecr:GetRepositoryPolicy",
                    "ecr:DescribeImages",
                ],
                [repo.clone()],
            ),
            Grant::on(Phase::Create, &["ecr:CreateRepository"], [repo.clone()]),
            Grant::on(
                Phase::Update,
                &[
                    "ecr:PutImageScanningConfiguration",
                    "ecr:PutImageTagMutability",
                    "ecr:PutLifecyclePolicy",
                    "ecr:DeleteLifecyclePolicy",
                    "ecr:SetRepositoryPolicy",
                    "ecr:DeleteRepositoryPolicy",
                ],
                [repo.clone()],
            ),
            Grant::on(Phase::Tag, &["ecr:TagResource", "ecr:UntagResource"], [repo.clone()]),
            Grant::on(Phase::Delete, &["ecr:DeleteRepository"], [repo]),
        ]
    }

    fn arn_pattern(t: Typed<'_, Self>, at: &Scope) -> Option<String> {
        Some(repository_arn(at, t.name.as_deref()?))
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "ecr", resource: "repository" });

    fn name_of_arn(resource: &str) -> Option<String> {
        resource.strip_prefix("repository/").filter(|n| !n.is_empty()).map(str::to_string)
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        let Typed { target: t, spec } = t;
        let id = t.id.as_deref();
        let by_arn = id.and_then(|id| arn_parts(id).map(|(r, n)| (r, n, id)));
        let by_name = t.name.as_deref().filter(|n| !unresolved(n));
        let ask = if id.is_some_and(unresolved) || (by_arn.is_none() && by_name.is_none()) {
            Ask::Done(Ok(None))
        } else {
            Ask::Repo { spec, by_arn, by_name, recorded: id.is_some() }
        };
        super::kinds::Read::Ecr(ask)
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        let Some(r) = find_recorded(p, d).await? else { return Ok(None) };
        found(repo_live(p, &r, None).await)
    }
}

#[async_trait]
impl AwsManaged for Repository {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        create_repo(p, t.target, t.spec).await
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        update_repo(p, t.target, t.spec, live, changed).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        delete_repo(p, d).await
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        // Only add tags: the repository keeps any it has.
        let mut want = live.tags.clone();
        want.extend(t.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        tag(p, &live.id, &want, &live.tags).await?;
        let registry = live.attrs.get("registry_id").and_then(Value::as_str).filter(|r| !r.is_empty());
        let name = live.attrs.get("name").and_then(Value::as_str).or(t.name.as_deref()).unwrap_or_default();
        read_back(p, name, registry, t.spec).await
    }
}

#[async_trait]
impl AwsKind for ExistingRepository {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let repo = repository_arn(at, &t.spec.name);
        vec![Grant::on(Phase::Read, &["ecr:DescribeRepositories", "ecr:DescribeImages"], [repo])]
    }

    fn arn_pattern(t: Typed<'_, Self>, at: &Scope) -> Option<String> {
        Some(repository_arn(at, &t.spec.name))
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        let name = &t.spec.name;
        super::kinds::Read::Ecr(if unresolved(name) { Ask::Done(Ok(None)) } else { Ask::Lookup(name) })
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        Ok(find_recorded(p, d).await?.map(|r| lookup_live(&r)))
    }
}

impl AwsLookup for ExistingRepository {}

/// A recorded repository, by its ARN (or by name when the record has no ARN).
async fn find_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<SdkRepository>, ProviderError> {
    let by_name = if arn_parts(&d.id).is_some() { None } else { d.name.as_deref() };
    find_repo(p, Some(&d.id), by_name).await
}

// ---- reading many ------------------------------------------------------------------------

/// The most names one DescribeRepositories call takes.
const NAMES_PER_CALL: usize = 100;
/// The largest page when describing a whole registry.
const REGISTRY_PAGE: i32 = 1000;

/// Every repository of a registry (`None`: the caller's), by name.
async fn list_registry(
    p: &AwsProvider,
    registry: Option<&str>,
) -> Result<HashMap<String, SdkRepository>, ProviderError> {
    let all: Vec<SdkRepository> = p
        .ecr
        .describe_repositories()
        .set_registry_id(registry.map(str::to_string))
        .max_results(REGISTRY_PAGE)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_err("ecr:DescribeRepositories", e))?;
    Ok(all.into_iter().filter_map(|r| Some((r.repository_name()?.to_string(), r))).collect())
}

/// What is known of one registry's repositories.
#[derive(Default)]
struct Registry {
    /// By name: the repository, or `None` when there is none of that name.
    repos: HashMap<String, Option<SdkRepository>>,
    /// Whether the registry was described whole: a name not in `repos`
    /// has no repository either.
    complete: bool,
}

impl Registry {
    /// What a name is, when known.
    fn get(&self, name: &str) -> Option<Option<&SdkRepository>> {
        match self.repos.get(name) {
            Some(r) => Some(r.as_ref()),
            None if self.complete => Some(None),
            None => None,
        }
    }
}

/// Describes the repositories of these names in one registry (`None`: the
/// caller's).
///
/// Names go a hundred to a DescribeRepositories call, the calls at the same
/// time. AWS fails such a call as a whole when one of its names does not
/// exist, without saying which others do; such a call is answered from one
/// description of the whole registry instead (a thousand repositories a
/// page), which costs fewer calls than retrying without each missing name
/// in turn, and a fixed number of round trips. When names are expected to
/// be missing (`expect_missing`: some are not recorded as created), the
/// registry is described whole straight away.
async fn describe_names(
    p: &AwsProvider,
    registry: Option<&str>,
    names: &BTreeSet<String>,
    expect_missing: bool,
) -> Result<Registry, ProviderError> {
    let names: Vec<&String> = names.iter().collect();
    let mut out = Registry::default();
    if names.len() == 1 {
        let r = describe(p, names[0], registry).await?;
        out.repos.insert(names[0].clone(), r);
        return Ok(out);
    }
    let mut whole = expect_missing;
    if !expect_missing {
        let calls = names.chunks(NAMES_PER_CALL).map(|chunk| {
            p.ecr
                .describe_repositories()
                .set_repository_names(Some(chunk.iter().map(|n| n.to_string()).collect()))
                .set_registry_id(registry.map(str::to_string))
                .send()
        });
        let answers = futures::future::join_all(calls).await;
        for (chunk, answer) in names.chunks(NAMES_PER_CALL).zip(answers) {
            match found(answer.map_err(|e| sdk_err("ecr:DescribeRepositories", e)))? {
                Some(o) => {
                    for n in chunk {
                        let r = o.repositories().iter().find(|r| r.repository_name() == Some(n.as_str())).cloned();
                        out.repos.insert(n.to_string(), r);
                    }
                }
                None => whole = true,
            }
        }
    }
    if whole {
        out.repos.extend(list_registry(p, registry).await?.into_iter().map(|(n, r)| (n, Some(r))));
        out.complete = true;
    }
    Ok(out)
}

/// How one target is read: the batched read's request.
pub(super) enum Ask<'a> {
    /// Answered without a call.
    Done(Result<Option<Live>, ProviderError>),
    /// A repository: by its recorded ARN (registry, name, ARN), else by name.
    Repo {
        spec: &'a Repository,
        by_arn: Option<(&'a str, &'a str, &'a str)>,
        by_name: Option<&'a str>,
        /// Whether an id was recorded (without one, the name is expected to be new).
        recorded: bool,
    },
    /// An `ecr/existing_repository`, by name in the caller's registry.
    Lookup(&'a str),
}

/// What is known of each registry (`None`: the caller's).
type Described = HashMap<Option<String>, Result<Registry, ProviderError>>;

/// Describes the names of each registry, the registries at the same time.
async fn describe_all(p: &AwsProvider, wanted: BTreeMap<Option<String>, (BTreeSet<String>, bool)>) -> Described {
    let calls = wanted.iter().map(|(r, (names, missing))| describe_names(p, r.as_deref(), names, *missing));
    let answers = futures::future::join_all(calls).await;
    wanted.into_keys().zip(answers).collect()
}

/// The repository of a name, from what was described; `None` when there
/// is none (or the name was not described).
fn lookup_in(d: &Described, registry: Option<&str>, name: &str) -> Result<Option<SdkRepository>, ProviderError> {
    match d.get(&registry.map(str::to_string)) {
        Some(Ok(reg)) => Ok(reg.get(name).flatten().cloned()),
        Some(Err(e)) => Err(e.clone()),
        None => Ok(None),
    }
}

/// Reads many targets with as few calls as ECR allows: the names of a
/// registry a hundred to a DescribeRepositories call (see
/// [`describe_names`]), and what only per-repository calls tell (tags,
/// lifecycle and repository policies) at the same time as those for a
/// repository whose ARN was recorded, so that a converged stack is read in
/// one round trip. Each target gets exactly what reading it alone would say.
pub(super) async fn read_many(p: &AwsProvider, asks: &[Read<'_>]) -> Vec<Result<Option<Live>, ProviderError>> {
    // First the recorded ARNs, names never created, and lookups.
    let mut wanted: BTreeMap<Option<String>, (BTreeSet<String>, bool)> = BTreeMap::new();
    for a in asks {
        match a {
            Ask::Repo { by_arn: Some((registry, name, _)), .. } => {
                wanted.entry(Some(registry.to_string())).or_default().0.insert(name.to_string());
            }
            Ask::Repo { by_arn: None, by_name: Some(name), recorded, .. } => {
                let w = wanted.entry(None).or_default();
                w.0.insert(name.to_string());
                w.1 |= !recorded;
            }
            Ask::Lookup(name) => {
                wanted.entry(None).or_default().0.insert(name.to_string());
            }
            _ => {}
        }
    }
    // The details of a recorded repository are read while it is described.
    let early = futures::future::join_all(asks.iter().map(|a| async move {
        match a {
            Ask::Repo { spec, by_arn: Some((registry, name, arn)), .. } => {
                Some(details(p, name, Some(registry), arn, Some(spec)).await)
            }
            _ => None,
        }
    }));
    let (mut described, mut early) = futures::join!(describe_all(p, wanted), early);

    // A recorded ARN that is gone (or now names another repository) falls
    // back to the name, as `find_repo` does.
    let by_arn = |described: &Described, a: &Ask| match a {
        Ask::Repo { by_arn: Some((registry, name, arn)), .. } => match lookup_in(described, Some(registry), name) {
            Ok(Some(r)) if r.repository_arn() == Some(*arn) => Some(Ok(Some(r))),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        },
        _ => None,
    };
    let mut again: BTreeSet<String> = BTreeSet::new();
    for a in asks {
        if let Ask::Repo { by_arn: Some(_), by_name: Some(name), .. } = a {
            let known = matches!(described.get(&None), Some(Ok(reg)) if reg.get(name).is_some());
            if by_arn(&described, a).is_none() && !known {
                again.insert(name.to_string());
            }
        }
    }
    if !again.is_empty() {
        let more = describe_names(p, None, &again, true).await;
        match (described.entry(None).or_insert_with(|| Ok(Registry::default())), more) {
            (Ok(reg), Ok(more)) => {
                reg.repos.extend(more.repos);
                reg.complete |= more.complete;
            }
            (slot @ Ok(_), Err(e)) => *slot = Err(e),
            (Err(_), _) => {}
        }
    }

    // Each repository found, with its details when they were read early.
    let found_repos: Vec<Result<Option<(SdkRepository, bool)>, ProviderError>> = asks
        .iter()
        .map(|a| match a {
            Ask::Repo { by_name, .. } => match by_arn(&described, a) {
                Some(r) => r.map(|r| r.map(|r| (r, true))),
                None => match by_name {
                    Some(n) => lookup_in(&described, None, n).map(|r| r.map(|r| (r, false))),
                    None => Ok(None),
                },
            },
            Ask::Lookup(name) => lookup_in(&described, None, name).map(|r| r.map(|r| (r, false))),
            Ask::Done(_) => Ok(None),
        })
        .collect();
    let late = futures::future::join_all(asks.iter().zip(&found_repos).map(|(a, f)| async move {
        match (a, f) {
            (Ask::Repo { spec, .. }, Ok(Some((r, false)))) => Some(
                details(
                    p,
                    r.repository_name().unwrap_or_default(),
                    r.registry_id(),
                    r.repository_arn().unwrap_or_default(),
                    Some(spec),
                )
                .await,
            ),
            _ => None,
        }
    }))
    .await;

    asks.iter()
        .zip(found_repos)
        .zip(early.iter_mut().zip(late))
        .map(|((a, f), (early, late))| match a {
            Ask::Done(r) => r.clone(),
            Ask::Lookup(_) => f.map(|r| r.map(|(r, _)| lookup_live(&r))),
            Ask::Repo { spec, .. } => {
                let Some((r, recorded)) = f? else { return Ok(None) };
                // `early` read the details of each Repo with a recorded ARN
                // (found by it: `recorded`), `late` of each found by name.
                let d = if recorded { early.take() } else { late }.expect("found, so its details were read");
                found(d.map(|d| assemble(&r, Some(spec), d)))
            }
        })
        .collect()
}

/// A repository's ARN from its name (or its ARN, as given).
fn repository_arn(at: &Scope, name: &str) -> String {
    if name.starts_with("arn:") {
        return name.to_string();
    }
    at.arn("ecr", &format!("repository/{}", super::permissions::known(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifecycle(v: Value) -> Lifecycle {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn lifecycle_round_trips_with_shorthands_after_raw_rules() {
        let l = lifecycle(json!({
            "keep_last": 50,
            "expire_untagged_after_days": 3,
            "rules": [
                { "priority": 1, "description": "pr", "tag_status": "tagged", "tag_prefixes": ["pr-"], "days_since_pushed": 14 },
                { "priority": 4, "tag_status": "tagged", "tag_prefixes": ["rc-"], "count_more_than": 5 }
            ]
        }));
        let text = lifecycle_json(&l).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let prios: Vec<u64> =
            v["rules"].as_array().unwrap().iter().map(|r| r["rulePriority"].as_u64().unwrap()).collect();
        assert_eq!(prios, [1, 4, 5, 6]);
        assert_eq!(v["rules"][3]["selection"]["tagStatus"], "any");
        assert_eq!(parse_lifecycle(&text), l);
        let only_keep = lifecycle(json!({ "keep_last": 10 }));
        assert_eq!(parse_lifecycle(&lifecycle_json(&only_keep).unwrap()), only_keep);
    }

    #[test]
    fn a_moved_shorthand_rule_reads_as_a_raw_rule() {
        let text = r#"{"rules":[{"rulePriority":7,"description":"Keep the 3 newest images (moor: keep_last)",
            "selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}},
            {"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":2},"action":{"type":"expire"}}]}"#;
        let l = parse_lifecycle(text);
        assert_eq!(l.keep_last, None);
        assert_eq!(l.rules.len(), 2);
    }

    #[test]
    fn pull_access_splits_back_out_of_the_policy() {
        let spec: Repository = serde_json::from_value(json!({
            "pull_access": { "accounts": ["210987654321"], "services": ["codebuild.amazonaws.com"] },
            "policy": { "statements": [ { "sid": "Ci", "actions": ["ecr:PutImage"], "principals": { "aws": ["123456789012"] } } ] }
        }))
        .unwrap();
        let doc = repository_policy(&spec, "aws").unwrap();
        let (pa, policy) = split_policy(parse_document(&document_json(&doc)), &spec);
        assert_eq!(Some(&pa), spec.pull_access.as_ref());
        assert_eq!(policy.statements, spec.policy.unwrap().statements);
    }
}
