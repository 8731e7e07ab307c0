//! `iam/role`, `iam/policy` and the `iam/existing_role` lookup. Their
//! documents are read and written by [`super::policy`].
//!
//! Many roles and policies are read from the account's listings at once
//! ([`read_many`]); one role's calls go out at the same time.

use super::kinds::{ArnType, AwsKind, AwsLookup, AwsManaged, Typed};
use super::permissions::{Grant, Phase, Scope};
use super::policy::{document_json, is_account, parse_document, project_document, push_unique, split_principals};
use super::{
    build_failed, eventually, found, iam_not_ready, ok_if_gone, opt_str, partition, retry_for, sdk_err, tag_map,
    unresolved, AwsProvider,
};
use crate::kinds::iam::{ExistingRole, Policy, Role, Trust};
use crate::model::common::{Effect, OneOrMany, PolicyDocument, Principals, Statement, Tags};
use crate::provider::{Attrs, Deletion, ErrorKind, Fields, Live, ProviderError, Target};
use async_trait::async_trait;
use aws_sdk_iam::types::{EntityType, ManagedPolicyDetail, PolicyScopeType, RoleDetail, Tag};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

/// IAM rejects a principal it has not propagated yet as invalid.
fn principal_not_ready(e: &ProviderError) -> bool {
    iam_not_ready(e)
        || (e.code.as_deref() == Some("MalformedPolicyDocument")
            && e.message.to_ascii_lowercase().contains("invalid principal"))
}

/// A freshly created role or policy is not visible to every IAM endpoint yet.
fn not_visible(e: &ProviderError) -> bool {
    e.kind == ErrorKind::NotFound || iam_not_ready(e)
}

/// The tags of a request to `operation`.
fn iam_tags(operation: &str, tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| build_failed(operation, e))).collect()
}

/// The name in an IAM ARN (`arn:aws:iam::123:role/path/name` → `name`).
fn name_of_arn<'a>(arn: &'a str, kind: &str) -> Option<&'a str> {
    let rest = arn.split(':').nth(5)?;
    let rest = rest.strip_prefix(kind)?.strip_prefix('/')?;
    rest.rsplit('/').next().filter(|n| !n.is_empty())
}

// ---- trust policy -----------------------------------------------------------------

const ASSUME_ROLE: &str = "sts:AssumeRole";

/// The trust policy of `assumed_by`: services in one statement, accounts and
/// principals in another that carries the conditions (external id, MFA);
/// without accounts or principals the services' statement carries them.
fn trust_document(t: &Trust, partition: &str) -> PolicyDocument {
    let mut conditions: BTreeMap<String, BTreeMap<String, OneOrMany>> = BTreeMap::new();
    if let Some(x) = &t.external_id {
        conditions.entry("StringEquals".into()).or_default().insert("sts:ExternalId".into(), OneOrMany::One(x.clone()));
    }
    if t.require_mfa {
        conditions
            .entry("Bool".into())
            .or_default()
            .insert("aws:MultiFactorAuthPresent".into(), OneOrMany::One("true".into()));
    }
    // The file's own conditions hold for every principal: both statements.
    let mut shared = BTreeMap::new();
    for (op, keys) in &t.conditions {
        let entry: &mut BTreeMap<String, OneOrMany> = shared.entry(op.clone()).or_default();
        entry.extend(keys.iter().map(|(k, v)| (k.clone(), v.clone())));
        let entry: &mut BTreeMap<String, OneOrMany> = conditions.entry(op.clone()).or_default();
        entry.extend(keys.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let aws: Vec<String> = t
        .accounts
        .iter()
        .map(|a| if is_account(a) { format!("arn:{partition}:iam::{a}:root") } else { a.clone() })
        .chain(t.principals.iter().cloned())
        .collect();
    let statement = |principals: Principals, conditions| Statement {
        sid: None,
        effect: Effect::Allow,
        actions: vec![ASSUME_ROLE.into()],
        not_actions: Vec::new(),
        resources: Vec::new(),
        principals: Some(principals),
        conditions,
    };
    let mut statements = Vec::new();
    if !t.services.is_empty() {
        let c = if aws.is_empty() { conditions.clone() } else { shared };
        statements.push(statement(Principals { aws: Vec::new(), services: t.services.clone() }, c));
    }
    if !aws.is_empty() {
        statements.push(statement(Principals { aws, services: Vec::new() }, conditions));
    }
    PolicyDocument { version: Some("2012-10-17".into()), statements }
}

/// `assumed_by` read back from a trust policy, in the file's terms.
fn parse_trust(doc: &PolicyDocument, file: Option<&Trust>) -> Trust {
    let mut t = Trust::default();
    let (fa, fp) = file.map_or((&[][..], &[][..]), |f| (&f.accounts[..], &f.principals[..]));
    for s in doc.statements.iter().filter(|s| s.effect == Effect::Allow) {
        if let Some(p) = &s.principals {
            for svc in &p.services {
                push_unique(&mut t.services, svc);
            }
            let (accounts, principals) = split_principals(&p.aws, fa, fp);
            for a in &accounts {
                push_unique(&mut t.accounts, a);
            }
            for a in &principals {
                push_unique(&mut t.principals, a);
            }
        }
        for (op, keys) in &s.conditions {
            for (key, val) in keys {
                let vals = val.to_vec();
                if op.eq_ignore_ascii_case("StringEquals") && key.eq_ignore_ascii_case("sts:ExternalId") {
                    t.external_id = vals.first().map(|v| v.to_string());
                }
                let mfa = op.eq_ignore_ascii_case("Bool") && key.eq_ignore_ascii_case("aws:MultiFactorAuthPresent");
                if mfa && vals.iter().any(|v| v.eq_ignore_ascii_case("true")) {
                    t.require_mfa = true;
                }
                let external = op.eq_ignore_ascii_case("StringEquals") && key.eq_ignore_ascii_case("sts:ExternalId");
                if mfa || external {
                    continue;
                }
                // Values in the file's form: AWS answers a single value as
                // a string, several as a list; a list of one in the file
                // stays a list.
                let listed = file
                    .and_then(|f| f.conditions.get(op))
                    .and_then(|k| k.get(key))
                    .is_some_and(|v| matches!(v, OneOrMany::Many(_)));
                let entry = t.conditions.entry(op.clone()).or_default();
                let mut all: Vec<String> =
                    entry.get(key).map(|v| v.to_vec()).unwrap_or_default().into_iter().map(str::to_string).collect();
                for v in vals {
                    if !all.iter().any(|a| a == v) {
                        all.push(v.to_string());
                    }
                }
                let value =
                    if all.len() == 1 && !listed { OneOrMany::One(all.remove(0)) } else { OneOrMany::Many(all) };
                entry.insert(key.clone(), value);
            }
        }
    }
    t
}

// ---- roles --------------------------------------------------------------------------

async fn get_role(p: &AwsProvider, name: &str) -> Result<Option<aws_sdk_iam::types::Role>, ProviderError> {
    let out = found(p.iam.get_role().role_name(name).send().await.map_err(|e| sdk_err("iam:GetRole", e)))?;
    Ok(out.and_then(|o| o.role().cloned()))
}

/// The role of a recorded ARN (exactly that one), else the role of that name.
async fn find_role(
    p: &AwsProvider,
    id: Option<&str>,
    name: Option<&str>,
) -> Result<Option<aws_sdk_iam::types::Role>, ProviderError> {
    find_role_by(id, name, |n| async move { get_role(p, &n).await }).await
}

/// The name [`find_role`] asks for first: the recorded ARN's, else the name.
fn first_role_name<'a>(id: Option<&'a str>, name: Option<&'a str>) -> Option<&'a str> {
    match id {
        Some(id) if unresolved(id) => None,
        Some(id) => name_of_arn(id, "role").or(name.filter(|n| !unresolved(n))),
        None => name.filter(|n| !unresolved(n)),
    }
}

/// [`find_role`] with `get` telling what role a name has.
async fn find_role_by<F, Fut>(
    id: Option<&str>,
    name: Option<&str>,
    get: F,
) -> Result<Option<aws_sdk_iam::types::Role>, ProviderError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<aws_sdk_iam::types::Role>, ProviderError>>,
{
    if let Some(id) = id {
        if unresolved(id) {
            return Ok(None);
        }
        if let Some(n) = name_of_arn(id, "role") {
            if let Some(r) = get(n.to_string()).await? {
                if r.arn() == id || Some(n) == name {
                    return Ok(Some(r));
                }
            } else if Some(n) == name {
                return Ok(None);
            }
        }
    }
    match name {
        Some(n) if !unresolved(n) => get(n.to_string()).await,
        _ => Ok(None),
    }
}

async fn role_policy_names(p: &AwsProvider, role: &str) -> Result<Vec<String>, ProviderError> {
    p.iam
        .list_role_policies()
        .role_name(role)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_err("iam:ListRolePolicies", e))
}

async fn attached_policies(p: &AwsProvider, role: &str) -> Result<Vec<String>, ProviderError> {
    let items = p
        .iam
        .list_attached_role_policies()
        .role_name(role)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_err("iam:ListAttachedRolePolicies", e))?;
    Ok(items.iter().filter_map(|a| a.policy_arn().map(str::to_string)).collect())
}

async fn inline_policy(
    p: &AwsProvider,
    role: &str,
    name: &str,
    spec: Option<&PolicyDocument>,
) -> Result<PolicyDocument, ProviderError> {
    let out = p
        .iam
        .get_role_policy()
        .role_name(role)
        .policy_name(name)
        .send()
        .await
        .map_err(|e| sdk_err("iam:GetRolePolicy", e))?;
    let doc = parse_document(out.policy_document()).unwrap_or(PolicyDocument { version: None, statements: Vec::new() });
    Ok(project_document(doc, spec))
}

async fn inline_policies(
    p: &AwsProvider,
    role: &str,
    spec: &BTreeMap<String, PolicyDocument>,
) -> Result<BTreeMap<String, PolicyDocument>, ProviderError> {
    // The file's inline policies are got while the role's are listed: one
    // round trip when they are the same ones.
    let (names, guessed) = futures::join!(
        role_policy_names(p, role),
        futures::future::join_all(spec.iter().map(|(n, d)| inline_policy(p, role, n, Some(d))))
    );
    // A name listed twice (a listing paged while it changed) is read once.
    let names: BTreeSet<String> = names?.into_iter().collect();
    let mut guessed: HashMap<String, Result<PolicyDocument, ProviderError>> =
        spec.keys().cloned().zip(guessed).collect();
    let others: Vec<String> = names.iter().filter(|n| !guessed.contains_key(*n)).cloned().collect();
    let more = futures::future::join_all(others.iter().map(|n| inline_policy(p, role, n, None))).await;
    guessed.extend(others.into_iter().zip(more));
    // Each name is one of the file's (got with the listing) or one of `others`.
    names.into_iter().map(|n| guessed.remove(&n).expect("every listed name was got").map(|d| (n, d))).collect()
}

fn role_attrs(r: &aws_sdk_iam::types::Role) -> Attrs {
    Attrs::from([
        ("name".to_string(), json!(r.role_name())),
        ("arn".to_string(), json!(r.arn())),
        ("id".to_string(), json!(r.role_id())),
    ])
}

/// What only per-role calls tell: the attached policies' ARNs and the
/// inline policies, each when the file sets them.
type RoleExtras = (Option<Vec<String>>, Option<BTreeMap<String, PolicyDocument>>);

/// Reads a role's [`RoleExtras`], the calls at the same time.
async fn role_extras(p: &AwsProvider, name: &str, spec: Option<&Role>) -> Result<RoleExtras, ProviderError> {
    let (attached, inline) = futures::join!(
        async {
            match spec {
                Some(s) if !s.policies.is_empty() => attached_policies(p, name).await.map(Some),
                _ => Ok(None),
            }
        },
        async {
            match spec {
                Some(s) if !s.inline_policies.is_empty() => {
                    inline_policies(p, name, &s.inline_policies).await.map(Some)
                }
                _ => Ok(None),
            }
        }
    );
    Ok((attached?, inline?))
}

/// A role as moor reports it; with the file's settings, the policies and
/// inline policies the file names are read too, in the file's notation.
fn role_fields(r: &aws_sdk_iam::types::Role, spec: Option<&Role>, extras: RoleExtras) -> Live {
    let mut f = Fields::new();
    f.insert("name".into(), json!(r.role_name()));
    f.insert("path".into(), json!(r.path()));
    f.insert("description".into(), opt_str(r.description().filter(|d| !d.is_empty())));
    let trust = r
        .assume_role_policy_document()
        .and_then(parse_document)
        .map(|d| parse_trust(&d, spec.map(|s| &s.assumed_by)))
        .unwrap_or_default();
    f.insert("assumed_by".into(), serde_json::to_value(&trust).expect("plain data, string keys: infallible"));
    f.insert("max_session_duration".into(), json!(r.max_session_duration().unwrap_or(3600)));
    f.insert(
        "permissions_boundary".into(),
        opt_str(r.permissions_boundary().and_then(|b| b.permissions_boundary_arn())),
    );
    let (attached, inline) = extras;
    if let Some(a) = attached {
        f.insert("policies".into(), json!(a));
    }
    if let Some(docs) = inline {
        f.insert("inline_policies".into(), serde_json::to_value(docs).expect("plain data, string keys: infallible"));
    }
    Live {
        id: r.arn().to_string(),
        fields: f,
        attrs: role_attrs(r),
        tags: tag_map(r.tags().iter().map(|t| (Some(t.key()), Some(t.value())))),
        uid: Some(r.role_id().to_string()),
    }
}

async fn role_live(p: &AwsProvider, r: &aws_sdk_iam::types::Role, spec: Option<&Role>) -> Result<Live, ProviderError> {
    let extras = role_extras(p, r.role_name(), spec).await?;
    Ok(role_fields(r, spec, extras))
}

/// Reads a role of the file. A role recorded as created is read in one
/// round trip: its policies are listed while the role is got.
async fn read_role(p: &AwsProvider, t: &Target, spec: &Role) -> Result<Option<Live>, ProviderError> {
    let (id, name) = (t.id.as_deref(), t.name.as_deref());
    let Some(guess) = first_role_name(id, name).filter(|_| id.is_some()) else {
        let Some(r) = find_role(p, id, name).await? else { return Ok(None) };
        return found(role_live(p, &r, Some(spec)).await);
    };
    let (first, extras) = futures::join!(get_role(p, guess), role_extras(p, guess, Some(spec)));
    let first = first?;
    let r = find_role_by(id, name, |n| {
        let first = first.clone();
        async move {
            match n == guess {
                true => Ok(first),
                false => get_role(p, &n).await,
            }
        }
    })
    .await?;
    let Some(r) = r else { return Ok(None) };
    let extras = match r.role_name() == guess {
        true => extras,
        false => role_extras(p, r.role_name(), Some(spec)).await,
    };
    found(extras.map(|e| role_fields(&r, Some(spec), e)))
}

/// Reads a role just written, waiting out IAM's propagation.
async fn read_back_role(p: &AwsProvider, name: &str, spec: &Role) -> Result<Live, ProviderError> {
    eventually(
        || async {
            match get_role(p, name).await? {
                Some(r) => role_live(p, &r, Some(spec)).await,
                None => Err(ProviderError::new(ErrorKind::NotFound, "iam:GetRole", "the role is not visible yet")),
            }
        },
        not_visible,
    )
    .await
}

async fn put_inline(p: &AwsProvider, role: &str, name: &str, doc: &PolicyDocument) -> Result<(), ProviderError> {
    let req = p.iam.put_role_policy().role_name(role).policy_name(name).policy_document(document_json(doc));
    eventually(
        || async { req.clone().send().await.map(|_| ()).map_err(|e| sdk_err("iam:PutRolePolicy", e)) },
        not_visible,
    )
    .await
}

async fn attach(p: &AwsProvider, role: &str, arn: &str) -> Result<(), ProviderError> {
    let req = p.iam.attach_role_policy().role_name(role).policy_arn(arn);
    // An AWS managed policy that is not found will not appear later.
    let aws_managed = arn.contains(":iam::aws:policy/");
    let retry =
        |e: &ProviderError| not_visible(e) && !(aws_managed && e.message.to_ascii_lowercase().contains("policy"));
    eventually(|| async { req.clone().send().await.map(|_| ()).map_err(|e| sdk_err("iam:AttachRolePolicy", e)) }, retry)
        .await
}

async fn detach(p: &AwsProvider, role: &str, arn: &str) -> Result<(), ProviderError> {
    ok_if_gone(
        p.iam
            .detach_role_policy()
            .role_name(role)
            .policy_arn(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_err("iam:DetachRolePolicy", e)),
    )
}

async fn create_role(p: &AwsProvider, t: &Target, spec: &Role) -> Result<Live, ProviderError> {
    let name = t
        .name
        .as_deref()
        .ok_or_else(|| ProviderError::new(ErrorKind::Rejected, "iam:CreateRole", "the role has no name"))?;
    let trust = document_json(&trust_document(&spec.assumed_by, partition(&p.region)));
    let req = p
        .iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .set_path(spec.path.clone())
        .set_description(spec.description.clone())
        .set_max_session_duration(spec.max_session_duration.map(|d| d as i32))
        .set_permissions_boundary(spec.permissions_boundary.clone())
        .set_tags(Some(iam_tags("iam:CreateRole", &t.tags)?));
    let role = retry_for(
        Duration::from_secs(30),
        || async { req.clone().send().await.map_err(|e| sdk_err("iam:CreateRole", e)) },
        principal_not_ready,
    )
    .await?
    .role
    .ok_or_else(|| ProviderError::new(ErrorKind::Rejected, "iam:CreateRole", "the answer has no role"))?;
    // One after another: IAM answers ConcurrentModification to writes to
    // one role at the same time.
    for (pname, doc) in &spec.inline_policies {
        put_inline(p, name, pname, doc).await?;
    }
    for arn in &spec.policies {
        attach(p, name, arn).await?;
    }
    // The role as created: CreateRole's answer and what was just written,
    // without reading it back (one round less per create).
    let extras = (
        (!spec.policies.is_empty()).then(|| spec.policies.clone()),
        (!spec.inline_policies.is_empty()).then(|| spec.inline_policies.clone()),
    );
    let mut live = role_fields(&role, Some(spec), extras);
    live.tags = t.tags.clone();
    Ok(live)
}

async fn update_role(
    p: &AwsProvider,
    t: &Target,
    spec: &Role,
    live: &Live,
    changed: &[String],
) -> Result<Live, ProviderError> {
    let name = live
        .attrs
        .get("name")
        .and_then(Value::as_str)
        .or(t.name.as_deref())
        .ok_or_else(|| ProviderError::new(ErrorKind::Rejected, "iam:UpdateRole", "the role has no name"))?
        .to_string();
    let name = name.as_str();
    let has = |f: &str| changed.iter().any(|c| c == f);
    if has("assumed_by") {
        let trust = document_json(&trust_document(&spec.assumed_by, partition(&p.region)));
        let req = p.iam.update_assume_role_policy().role_name(name).policy_document(trust);
        retry_for(
            Duration::from_secs(30),
            || async { req.clone().send().await.map(|_| ()).map_err(|e| sdk_err("iam:UpdateAssumeRolePolicy", e)) },
            principal_not_ready,
        )
        .await?;
    }
    if has("description") || has("max_session_duration") {
        // UpdateRole sets both; keep the one the file leaves alone.
        let description = spec
            .description
            .clone()
            .or_else(|| live.fields.get("description").and_then(Value::as_str).map(str::to_string));
        let max = spec
            .max_session_duration
            .map(|d| d as i32)
            .or_else(|| live.fields.get("max_session_duration").and_then(Value::as_i64).map(|d| d as i32));
        p.iam
            .update_role()
            .role_name(name)
            .set_description(description)
            .set_max_session_duration(max)
            .send()
            .await
            .map_err(|e| sdk_err("iam:UpdateRole", e))?;
    }
    if has("permissions_boundary") {
        match &spec.permissions_boundary {
            Some(b) => {
                let req = p.iam.put_role_permissions_boundary().role_name(name).permissions_boundary(b);
                eventually(
                    || async {
                        req.clone().send().await.map(|_| ()).map_err(|e| sdk_err("iam:PutRolePermissionsBoundary", e))
                    },
                    not_visible,
                )
                .await?;
            }
            None => ok_if_gone(
                p.iam
                    .delete_role_permissions_boundary()
                    .role_name(name)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| sdk_err("iam:DeleteRolePermissionsBoundary", e)),
            )?,
        }
    }
    if has("policies") {
        let attached = attached_policies(p, name).await?;
        for a in attached.iter().filter(|a| !spec.policies.contains(a)) {
            detach(p, name, a).await?;
        }
        for want in spec.policies.iter().filter(|w| !attached.contains(w)) {
            attach(p, name, want).await?;
        }
    }
    if has("inline_policies") {
        for n in role_policy_names(p, name).await? {
            if !spec.inline_policies.contains_key(&n) {
                ok_if_gone(
                    p.iam
                        .delete_role_policy()
                        .role_name(name)
                        .policy_name(&n)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| sdk_err("iam:DeleteRolePolicy", e)),
                )?;
            }
        }
        for (pname, doc) in &spec.inline_policies {
            put_inline(p, name, pname, doc).await?;
        }
    }
    if has("tags") {
        super::retag(
            &t.tags,
            &live.tags,
            |remove| async move {
                let r = p.iam.untag_role().role_name(name).set_tag_keys(Some(remove)).send().await;
                r.map(|_| ()).map_err(|e| sdk_err("iam:UntagRole", e))
            },
            |set| async move {
                let r = p.iam.tag_role().role_name(name).set_tags(Some(iam_tags("iam:TagRole", &set)?)).send().await;
                r.map(|_| ()).map_err(|e| sdk_err("iam:TagRole", e))
            },
        )
        .await?;
    }
    read_back_role(p, name, spec).await
}

async fn delete_role(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
    let Some(name) = name_of_arn(&d.id, "role").or(d.name.as_deref()) else {
        return Ok(());
    };
    // The role and what is attached to it, read side by side.
    let profiles = async {
        let r: Result<Vec<aws_sdk_iam::types::InstanceProfile>, ProviderError> = p
            .iam
            .list_instance_profiles_for_role()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_err("iam:ListInstanceProfilesForRole", e));
        r
    };
    let (r, inline, attached, profiles) =
        futures::join!(get_role(p, name), role_policy_names(p, name), attached_policies(p, name), profiles);
    let Some(r) = r? else { return Ok(()) };
    if d.id.starts_with("arn:") && r.arn() != d.id {
        // Another role of the same name: the recorded one is gone.
        return Ok(());
    }
    let (inline, attached, profiles) = (found(inline)?, found(attached)?, found(profiles)?);
    let (Some(inline), Some(attached), Some(profiles)) = (inline, attached, profiles) else { return Ok(()) };
    // Everything attached is taken off, one write at a time (IAM answers
    // ConcurrentModification to writes to one role at the same time), then
    // the role goes.
    for n in &inline {
        ok_if_gone(
            p.iam
                .delete_role_policy()
                .role_name(name)
                .policy_name(n)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_err("iam:DeleteRolePolicy", e)),
        )?;
    }
    for a in &attached {
        detach(p, name, a).await?;
    }
    for ip in &profiles {
        ok_if_gone(
            p.iam
                .remove_role_from_instance_profile()
                .instance_profile_name(ip.instance_profile_name())
                .role_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_err("iam:RemoveRoleFromInstanceProfile", e)),
        )?;
    }
    ok_if_gone(p.iam.delete_role().role_name(name).send().await.map(|_| ()).map_err(|e| sdk_err("iam:DeleteRole", e)))
}

// ---- customer managed policies ---------------------------------------------------------

async fn get_policy(p: &AwsProvider, arn: &str) -> Result<Option<aws_sdk_iam::types::Policy>, ProviderError> {
    let out = found(p.iam.get_policy().policy_arn(arn).send().await.map_err(|e| sdk_err("iam:GetPolicy", e)))?;
    Ok(out.and_then(|o| o.policy().cloned()))
}

/// The ARN of the account's own policy of that name (any path).
async fn policy_arn_by_name(p: &AwsProvider, name: &str) -> Result<Option<String>, ProviderError> {
    let mut pages = p.iam.list_policies().scope(PolicyScopeType::Local).into_paginator().items().send();
    while let Some(item) = pages.next().await {
        let pol = item.map_err(|e| sdk_err("iam:ListPolicies", e))?;
        if pol.policy_name() == Some(name) {
            return Ok(pol.arn().map(str::to_string));
        }
    }
    Ok(None)
}

async fn find_policy(
    p: &AwsProvider,
    id: Option<&str>,
    name: Option<&str>,
) -> Result<Option<aws_sdk_iam::types::Policy>, ProviderError> {
    if let Some(id) = id {
        if unresolved(id) {
            return Ok(None);
        }
        if id.starts_with("arn:") {
            if let Some(pol) = get_policy(p, id).await? {
                return Ok(Some(pol));
            }
        }
    }
    let Some(name) = name.filter(|n| !unresolved(n)) else { return Ok(None) };
    match policy_arn_by_name(p, name).await? {
        Some(arn) => get_policy(p, &arn).await,
        None => Ok(None),
    }
}

/// The document of one version of a policy.
async fn version_document(p: &AwsProvider, arn: &str, version: &str) -> Result<Option<String>, ProviderError> {
    let out = p
        .iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .map_err(|e| sdk_err("iam:GetPolicyVersion", e))?;
    Ok(out.policy_version.and_then(|v| v.document))
}

async fn policy_live(
    p: &AwsProvider,
    pol: &aws_sdk_iam::types::Policy,
    spec: Option<&Policy>,
) -> Result<Live, ProviderError> {
    let text = match pol.default_version_id() {
        Some(version) => version_document(p, pol.arn().unwrap_or_default(), version).await?,
        None => None,
    };
    Ok(policy_fields(pol, spec, text.as_deref()))
}

/// A policy recorded with its ARN and default version, read in one round:
/// the policy and that version side by side. `None` when there is no such
/// record or the policy is not found by it (then the caller reads it as
/// usual); when the default version is another one, that one is read.
async fn read_recorded_policy(
    p: &AwsProvider,
    t: &Target,
    spec: &Policy,
) -> Result<Option<Option<Live>>, ProviderError> {
    let arn = t.id.as_deref().filter(|id| id.starts_with("arn:") && !unresolved(id));
    let version = t.recorded.get("default_version").and_then(Value::as_str).filter(|v| !v.is_empty());
    let (Some(arn), Some(version)) = (arn, version) else { return Ok(None) };
    let (pol, doc) = futures::join!(get_policy(p, arn), version_document(p, arn, version));
    let Some(pol) = pol? else { return Ok(None) };
    if pol.default_version_id() != Some(version) {
        return found(policy_live(p, &pol, Some(spec)).await).map(Some);
    }
    let Some(text) = found(doc)?.flatten() else { return Ok(None) };
    Ok(Some(Some(policy_fields(&pol, Some(spec), Some(&text)))))
}

/// A policy as moor reports it, with the text of its default version.
fn policy_fields(pol: &aws_sdk_iam::types::Policy, spec: Option<&Policy>, document: Option<&str>) -> Live {
    let arn = pol.arn().unwrap_or_default();
    let name = pol.policy_name().unwrap_or_default();
    let mut f = Fields::new();
    f.insert("name".into(), json!(name));
    f.insert("path".into(), json!(pol.path().unwrap_or("/")));
    f.insert("description".into(), opt_str(pol.description().filter(|d| !d.is_empty())));
    if let Some(doc) = document.and_then(parse_document) {
        let doc = project_document(doc, spec.map(|s| &s.document));
        f.insert("document".into(), serde_json::to_value(doc).expect("plain data, string keys: infallible"));
    }
    Live {
        id: arn.to_string(),
        fields: f,
        attrs: Attrs::from([
            ("name".to_string(), json!(name)),
            ("arn".to_string(), json!(arn)),
            ("default_version".to_string(), json!(pol.default_version_id().unwrap_or_default())),
        ]),
        tags: tag_map(pol.tags().iter().map(|t| (Some(t.key()), Some(t.value())))),
        uid: pol.policy_id().map(str::to_string),
    }
}

async fn read_back_policy(p: &AwsProvider, arn: &str, spec: &Policy) -> Result<Live, ProviderError> {
    eventually(
        || async {
            match get_policy(p, arn).await? {
                Some(pol) => policy_live(p, &pol, Some(spec)).await,
                None => Err(ProviderError::new(ErrorKind::NotFound, "iam:GetPolicy", "the policy is not visible yet")),
            }
        },
        not_visible,
    )
    .await
}

async fn create_policy(p: &AwsProvider, t: &Target, spec: &Policy) -> Result<Live, ProviderError> {
    let name = t
        .name
        .as_deref()
        .ok_or_else(|| ProviderError::new(ErrorKind::Rejected, "iam:CreatePolicy", "the policy has no name"))?;
    let out = p
        .iam
        .create_policy()
        .policy_name(name)
        .set_path(spec.path.clone())
        .set_description(spec.description.clone())
        .policy_document(document_json(&spec.document))
        .set_tags(Some(iam_tags("iam:CreatePolicy", &t.tags)?))
        .send()
        .await
        .map_err(|e| sdk_err("iam:CreatePolicy", e))?;
    let pol = out
        .policy()
        .filter(|p| p.arn().is_some())
        .ok_or_else(|| ProviderError::new(ErrorKind::Rejected, "iam:CreatePolicy", "AWS returned no policy ARN"))?;
    // The policy as created: CreatePolicy's answer and the document just
    // sent, without reading it back (one round less per create).
    let mut live = policy_fields(pol, Some(spec), Some(&document_json(&spec.document)));
    live.tags = t.tags.clone();
    Ok(live)
}

async fn policy_versions(p: &AwsProvider, arn: &str) -> Result<Vec<aws_sdk_iam::types::PolicyVersion>, ProviderError> {
    p.iam
        .list_policy_versions()
        .policy_arn(arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_err("iam:ListPolicyVersions", e))
}

/// Deletes one version of a policy; one already gone is not an error.
async fn delete_version(p: &AwsProvider, arn: &str, id: &str) -> Result<(), ProviderError> {
    ok_if_gone(
        p.iam
            .delete_policy_version()
            .policy_arn(arn)
            .version_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_err("iam:DeletePolicyVersion", e)),
    )
}

/// IAM keeps at most five versions of a policy.
const MAX_POLICY_VERSIONS: usize = 5;

/// Makes `doc` the policy's default version, deleting the oldest
/// non-default version first when the policy has as many as IAM allows.
async fn new_policy_version(p: &AwsProvider, arn: &str, doc: &PolicyDocument) -> Result<(), ProviderError> {
    let versions = policy_versions(p, arn).await?;
    if versions.len() >= MAX_POLICY_VERSIONS {
        let number = |v: &aws_sdk_iam::types::PolicyVersion| {
            v.version_id().and_then(|id| id.trim_start_matches('v').parse::<u64>().ok()).unwrap_or(u64::MAX)
        };
        let oldest = versions
            .iter()
            .filter(|v| !v.is_default_version())
            .min_by_key(|v| (v.create_date().map(|d| (d.secs(), d.subsec_nanos())), number(v)));
        if let Some(id) = oldest.and_then(|v| v.version_id()) {
            delete_version(p, arn, id).await?;
        }
    }
    p.iam
        .create_policy_version()
        .policy_arn(arn)
        .policy_document(document_json(doc))
        .set_as_default(true)
        .send()
        .await
        .map_err(|e| sdk_err("iam:CreatePolicyVersion", e))?;
    Ok(())
}

async fn update_policy(
    p: &AwsProvider,
    t: &Target,
    spec: &Policy,
    live: &Live,
    changed: &[String],
) -> Result<Live, ProviderError> {
    let arn = live.id.as_str();
    let has = |f: &str| changed.iter().any(|c| c == f);
    if has("document") {
        new_policy_version(p, arn, &spec.document).await?;
    }
    if has("tags") {
        super::retag(
            &t.tags,
            &live.tags,
            |remove| async move {
                let r = p.iam.untag_policy().policy_arn(arn).set_tag_keys(Some(remove)).send().await;
                r.map(|_| ()).map_err(|e| sdk_err("iam:UntagPolicy", e))
            },
            |set| async move {
                let r =
                    p.iam.tag_policy().policy_arn(arn).set_tags(Some(iam_tags("iam:TagPolicy", &set)?)).send().await;
                r.map(|_| ()).map_err(|e| sdk_err("iam:TagPolicy", e))
            },
        )
        .await?;
    }
    read_back_policy(p, arn, spec).await
}

/// The roles, users and groups a policy is attached to.
async fn policy_entities(p: &AwsProvider, arn: &str) -> Result<[Vec<String>; 3], ProviderError> {
    let mut found: [Vec<String>; 3] = Default::default();
    let mut marker: Option<String> = None;
    loop {
        let out = p
            .iam
            .list_entities_for_policy()
            .policy_arn(arn)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| sdk_err("iam:ListEntitiesForPolicy", e))?;
        found[0].extend(out.policy_roles().iter().filter_map(|r| r.role_name()).map(str::to_string));
        found[1].extend(out.policy_users().iter().filter_map(|u| u.user_name()).map(str::to_string));
        found[2].extend(out.policy_groups().iter().filter_map(|g| g.group_name()).map(str::to_string));
        match out.marker() {
            Some(m) if out.is_truncated() => marker = Some(m.to_string()),
            _ => return Ok(found),
        }
    }
}

async fn delete_policy(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
    let arn = d.id.as_str();
    if !arn.starts_with("arn:") || unresolved(arn) {
        return Ok(());
    }
    // The policy, where it is attached and its versions, read side by side.
    let (pol, entities, versions) =
        futures::join!(get_policy(p, arn), policy_entities(p, arn), policy_versions(p, arn));
    if pol?.is_none() {
        return Ok(());
    }
    let (Some([roles, users, groups]), Some(versions)) = (found(entities)?, found(versions)?) else { return Ok(()) };
    // Detached everywhere, then its old versions deleted.
    let roles = roles.iter().map(|r| detach(p, r, arn));
    let users = users.iter().map(|u| async move {
        ok_if_gone(
            p.iam
                .detach_user_policy()
                .user_name(u)
                .policy_arn(arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_err("iam:DetachUserPolicy", e)),
        )
    });
    let groups = groups.iter().map(|g| async move {
        ok_if_gone(
            p.iam
                .detach_group_policy()
                .group_name(g)
                .policy_arn(arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_err("iam:DetachGroupPolicy", e)),
        )
    });
    // The detaches go to different roles, users and groups: side by side.
    // The versions are all of this policy: one at a time (IAM answers
    // ConcurrentModification otherwise).
    let (a, b, c) = futures::join!(
        futures::future::join_all(roles),
        futures::future::join_all(users),
        futures::future::join_all(groups)
    );
    a.into_iter().chain(b).chain(c).collect::<Result<Vec<()>, _>>()?;
    for id in versions.iter().filter(|v| !v.is_default_version()).filter_map(|v| v.version_id()) {
        delete_version(p, arn, id).await?;
    }
    ok_if_gone(
        p.iam.delete_policy().policy_arn(arn).send().await.map(|_| ()).map_err(|e| sdk_err("iam:DeletePolicy", e)),
    )
}

// ---- the existing role lookup -----------------------------------------------------------

/// A role that exists already: its name, and who may assume it (what the
/// checks before an apply ask of a task definition's roles).
fn lookup_live(r: &aws_sdk_iam::types::Role) -> Live {
    let assume = |a: &String| ["sts:assumerole", "sts:*", "*"].contains(&a.to_ascii_lowercase().as_str());
    let trust = r.assume_role_policy_document().and_then(parse_document).map(|mut d| {
        d.statements.retain(|s| s.actions.iter().any(assume));
        parse_trust(&d, None)
    });
    let mut fields = Fields::from_iter([("name".to_string(), json!(r.role_name()))]);
    if let Some(t) = trust {
        fields.insert("assumed_by".into(), serde_json::to_value(&t).expect("plain data, string keys: infallible"));
    }
    Live {
        id: r.arn().to_string(),
        fields,
        attrs: role_attrs(r),
        tags: tag_map(r.tags().iter().map(|t| (Some(t.key()), Some(t.value())))),
        uid: Some(r.role_id().to_string()),
    }
}

// ---- the providers ------------------------------------------------------------------------

/// What IAM's batched read ([`read_many`]) takes for one target.
pub(super) enum Read<'a> {
    Role(Typed<'a, Role>),
    Policy(Typed<'a, Policy>),
    Existing(Typed<'a, ExistingRole>),
}

impl<'a> Read<'a> {
    fn target(&self) -> &'a Target {
        match self {
            Read::Role(t) => t.target,
            Read::Policy(t) => t.target,
            Read::Existing(t) => t.target,
        }
    }
}

/// Reads one target on its own.
async fn read(p: &AwsProvider, r: &Read<'_>) -> Result<Option<Live>, ProviderError> {
    match r {
        Read::Role(t) => read_role(p, t.target, t.spec).await,
        Read::Policy(t) => {
            if let Some(live) = read_recorded_policy(p, t.target, t.spec).await? {
                return Ok(live);
            }
            let Some(pol) = find_policy(p, t.id.as_deref(), t.name.as_deref()).await? else { return Ok(None) };
            found(policy_live(p, &pol, Some(t.spec)).await)
        }
        Read::Existing(t) => {
            if unresolved(&t.spec.name) {
                return Ok(None);
            }
            Ok(get_role(p, &t.spec.name).await?.map(|r| lookup_live(&r)))
        }
    }
}

/// The target with this stack's tags added to those the resource has
/// (`moor import` only adds tags: the resource keeps any it has).
fn with_added_tags(t: &Target, live: &Live) -> Target {
    let mut want = live.tags.clone();
    want.extend(t.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    Target { tags: want, ..t.clone() }
}

#[async_trait]
impl AwsKind for Role {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let role = role_arn(at, t.spec.path.as_deref(), t.name.as_deref().unwrap_or("*"));
        let mut attach = Grant::on(Phase::Update, &["iam:AttachRolePolicy"], [role.clone()]);
        // Only the policies the file names, when every one is known.
        let policies: Vec<String> = t.spec.policies.iter().map(|p| super::permissions::known(p).to_string()).collect();
        if !policies.is_empty() && policies.iter().all(|p| p != "*") {
            attach = attach.when("ArnLike", "iam:PolicyARN", policies);
        }
        // Before the role exists IAM knows no path for its name: the read
        // that finds it missing is authorized on the ARN without one.
        let unmade = role_arn(at, None, t.name.as_deref().unwrap_or("*"));
        let mut read = Grant::on(
            Phase::Read,
            &["iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:GetRolePolicy"],
            [role.clone()],
        );
        if unmade != role {
            read.resources.push(unmade);
        }
        vec![
            read,
            Grant::on(Phase::Create, &["iam:CreateRole"], [role.clone()]),
            Grant::on(Phase::Create, &["iam:TagRole"], [role.clone()]).within(&["iam:CreateRole"]),
            attach,
            Grant::on(
                Phase::Update,
                &[
                    "iam:UpdateRole",
                    "iam:UpdateAssumeRolePolicy",
                    "iam:DetachRolePolicy",
                    "iam:PutRolePolicy",
                    "iam:DeleteRolePolicy",
                    "iam:PutRolePermissionsBoundary",
                    "iam:DeleteRolePermissionsBoundary",
                ],
                [role.clone()],
            ),
            Grant::on(Phase::Tag, &["iam:TagRole", "iam:UntagRole"], [role.clone()]),
            Grant::on(Phase::Delete, &["iam:DeleteRole", "iam:ListInstanceProfilesForRole"], [role.clone()]),
            Grant::on(Phase::Delete, &["iam:RemoveRoleFromInstanceProfile"], [at.global("iam", "instance-profile/*")])
                .because("an instance profile someone else made may hold the role: moor takes the role out of it"),
        ]
    }

    fn arn_pattern(t: Typed<'_, Self>, at: &Scope) -> Option<String> {
        Some(role_arn(at, t.spec.path.as_deref(), t.name.as_deref()?))
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "iam", resource: "role" });

    /// `role/<path>/<name>`: the name.
    fn name_of_arn(resource: &str) -> Option<String> {
        resource.rsplit('/').next().filter(|n| !n.is_empty()).map(str::to_string)
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        super::kinds::Read::Iam(Read::Role(t))
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        let by_name = if d.id.starts_with("arn:") { None } else { d.name.as_deref() };
        let Some(r) = find_role(p, Some(&d.id), by_name).await? else { return Ok(None) };
        if d.id.starts_with("arn:") && r.arn() != d.id {
            return Ok(None);
        }
        found(role_live(p, &r, None).await)
    }
}

#[async_trait]
impl AwsManaged for Role {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        create_role(p, t.target, t.spec).await
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        update_role(p, t.target, t.spec, live, changed).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        delete_role(p, d).await
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        update_role(p, &with_added_tags(t.target, live), t.spec, live, &["tags".to_string()]).await
    }
}

#[async_trait]
impl AwsKind for Policy {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let policy = policy_arn(at, t.spec.path.as_deref(), t.name.as_deref().unwrap_or("*"));
        let why = "moor detaches the policy from whatever holds it before deleting it, only this policy";
        vec![
            Grant::on(
                Phase::Read,
                &["iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions", "iam:ListEntitiesForPolicy"],
                [policy.clone()],
            ),
            Grant::on(Phase::Create, &["iam:CreatePolicy"], [policy.clone()]),
            Grant::on(Phase::Create, &["iam:TagPolicy"], [policy.clone()]).within(&["iam:CreatePolicy"]),
            Grant::on(Phase::Update, &["iam:CreatePolicyVersion", "iam:DeletePolicyVersion"], [policy.clone()]),
            Grant::on(Phase::Tag, &["iam:TagPolicy", "iam:UntagPolicy"], [policy.clone()]),
            Grant::on(Phase::Delete, &["iam:DeletePolicy"], [policy.clone()]),
            Grant::on(
                Phase::Delete,
                &["iam:DetachRolePolicy", "iam:DetachUserPolicy", "iam:DetachGroupPolicy"],
                ["role/*", "user/*", "group/*"].map(|r| at.global("iam", r)),
            )
            .when("ArnLike", "iam:PolicyARN", [policy])
            .because(why),
        ]
    }

    fn arn_pattern(t: Typed<'_, Self>, at: &Scope) -> Option<String> {
        Some(policy_arn(at, t.spec.path.as_deref(), t.name.as_deref()?))
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "iam", resource: "policy" });

    /// `policy/<path>/<name>`: the name.
    fn name_of_arn(resource: &str) -> Option<String> {
        resource.rsplit('/').next().filter(|n| !n.is_empty()).map(str::to_string)
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        super::kinds::Read::Iam(Read::Policy(t))
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        let Some(pol) = find_policy(p, Some(&d.id), None).await? else { return Ok(None) };
        found(policy_live(p, &pol, None).await)
    }
}

#[async_trait]
impl AwsManaged for Policy {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        create_policy(p, t.target, t.spec).await
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        update_policy(p, t.target, t.spec, live, changed).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        delete_policy(p, d).await
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        update_policy(p, &with_added_tags(t.target, live), t.spec, live, &["tags".to_string()]).await
    }
}

#[async_trait]
impl AwsKind for ExistingRole {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let role = if t.spec.name.starts_with("arn:") {
            t.spec.name.clone()
        } else {
            at.global("iam", &format!("role/*{}", super::permissions::known(&t.spec.name)))
        };
        vec![Grant::on(Phase::Read, &["iam:GetRole"], [role])]
    }

    fn arn_pattern(t: Typed<'_, Self>, at: &Scope) -> Option<String> {
        Some(if t.spec.name.starts_with("arn:") {
            t.spec.name.clone()
        } else {
            at.global("iam", &format!("role/*{}", super::permissions::known(&t.spec.name)))
        })
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        super::kinds::Read::Iam(Read::Existing(t))
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        let Some(name) = name_of_arn(&d.id, "role").or(d.name.as_deref()) else { return Ok(None) };
        Ok(get_role(p, name).await?.map(|r| lookup_live(&r)))
    }
}

impl AwsLookup for ExistingRole {}

// ---- reading many ------------------------------------------------------------------------

/// The fewest roles and policies in a batch for which the account's
/// listings are read rather than each resource on its own.
const BULK_MIN: usize = 4;
/// The largest page of IAM's listings.
const LIST_PAGE: i32 = 1000;

/// What the account-wide listings tell.
#[derive(Default)]
struct Account {
    /// Roles by lower-case name (IAM names ignore case): the role as
    /// GetRole would return it, and its attached and inline policies.
    roles: HashMap<String, (aws_sdk_iam::types::Role, RoleDetail)>,
    /// Lower-case names of roles the two listings disagree on (created or
    /// deleted between them): those are read on their own.
    unsure: HashSet<String>,
    /// The account's own policies by name, and their ARNs.
    policy_arns: HashMap<String, String>,
    /// The account's own policies by ARN, with every version's document.
    policies: HashMap<String, ManagedPolicyDetail>,
}

impl Account {
    fn role(&self, name: &str) -> Option<&(aws_sdk_iam::types::Role, RoleDetail)> {
        self.roles.get(&name.to_ascii_lowercase())
    }

    /// Whether the listings can say what role a name has.
    fn sure(&self, name: &str) -> bool {
        !self.unsure.contains(&name.to_ascii_lowercase())
    }

    /// The document of a policy's version, when the listing has it.
    fn document(&self, arn: &str, version: &str) -> Option<&str> {
        self.policies
            .get(arn)?
            .policy_version_list()
            .iter()
            .find(|v| v.version_id() == Some(version))
            .and_then(|v| v.document())
    }
}

/// Reads the account's roles and its own policies with the listings that
/// return many at once: GetAccountAuthorizationDetails (each role's trust
/// policy, tags, permissions boundary, attached policies and inline
/// policies with their documents; each policy with its versions'
/// documents) and, for what it leaves out of roles (description, longest
/// session), ListRoles. Both are paged a thousand entries a page and read
/// at the same time.
async fn account(p: &AwsProvider, roles: bool, policies: bool) -> Result<Account, ProviderError> {
    let details = async {
        let mut req = p.iam.get_account_authorization_details().max_items(LIST_PAGE);
        if roles {
            req = req.filter(EntityType::Role);
        }
        if policies {
            req = req.filter(EntityType::LocalManagedPolicy);
        }
        let mut pages = req.into_paginator().send();
        let (mut role_details, mut policy_details) = (Vec::new(), Vec::new());
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_err("iam:GetAccountAuthorizationDetails", e))?;
            role_details.extend(page.role_detail_list.unwrap_or_default());
            policy_details.extend(page.policies.unwrap_or_default());
        }
        Ok::<_, ProviderError>((role_details, policy_details))
    };
    let listed = async {
        if !roles {
            return Ok(Vec::new());
        }
        p.iam
            .list_roles()
            .max_items(LIST_PAGE)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_err("iam:ListRoles", e))
    };
    let (details, listed) = futures::join!(details, listed);
    let ((role_details, policy_details), listed) = (details?, listed?);
    let mut by_name: HashMap<String, RoleDetail> =
        role_details.into_iter().filter_map(|d| Some((d.role_name()?.to_ascii_lowercase(), d))).collect();
    let mut a = Account::default();
    for mut r in listed {
        let key = r.role_name().to_ascii_lowercase();
        // A role in one listing and not the other was created or deleted
        // between them: it is read on its own.
        let Some(d) = by_name.remove(&key).filter(|d| d.arn() == Some(r.arn())) else {
            a.unsure.insert(key);
            continue;
        };
        r.tags = Some(d.tags().to_vec());
        r.permissions_boundary = d.permissions_boundary().cloned();
        if r.assume_role_policy_document.is_none() {
            r.assume_role_policy_document = d.assume_role_policy_document().map(str::to_string);
        }
        a.roles.insert(key, (r, d));
    }
    a.unsure.extend(by_name.into_keys());
    for pol in policy_details {
        let Some(arn) = pol.arn() else { continue };
        // The name is the ARN's last part (moto leaves PolicyName out).
        if let Some(name) = pol.policy_name().or_else(|| name_of_arn(arn, "policy")) {
            a.policy_arns.insert(name.to_string(), arn.to_string());
        }
        a.policies.insert(arn.to_string(), pol);
    }
    Ok(a)
}

/// A role of the listings as [`role_fields`] wants it.
fn role_from(a: &(aws_sdk_iam::types::Role, RoleDetail), spec: &Role) -> Live {
    let (r, d) = a;
    let attached = (!spec.policies.is_empty())
        .then(|| d.attached_managed_policies().iter().filter_map(|p| p.policy_arn().map(str::to_string)).collect());
    let inline = (!spec.inline_policies.is_empty()).then(|| {
        d.role_policy_list()
            .iter()
            .filter_map(|pd| {
                let name = pd.policy_name()?.to_string();
                let doc = pd
                    .policy_document()
                    .and_then(parse_document)
                    .unwrap_or(PolicyDocument { version: None, statements: Vec::new() });
                let doc = project_document(doc, spec.inline_policies.get(&name));
                Some((name, doc))
            })
            .collect()
    });
    role_fields(r, Some(spec), (attached, inline))
}

/// Whether a target needs calls to be read (its identity is known).
fn needs_calls(r: &Read) -> bool {
    let t = r.target();
    match r {
        Read::Role(_) => first_role_name(t.id.as_deref(), t.name.as_deref()).is_some(),
        Read::Policy(_) => match t.id.as_deref() {
            Some(id) => !unresolved(id),
            None => t.name.as_deref().is_some_and(|n| !unresolved(n)),
        },
        Read::Existing(t) => !unresolved(&t.spec.name),
    }
}

/// Reads many targets. Small batches read each target on its own (its
/// calls at the same time). From [`BULK_MIN`] roles and policies on, the
/// account's listings ([`account`]) tell everything about roles and
/// lookups, and the policies' documents; a policy's tags still need one
/// GetPolicy, made at the same time as the listings for a recorded ARN. So
/// a converged stack is read in one round trip, and its roles cost no call
/// of their own. Each target gets exactly what [`read`] would say: what
/// the listings cannot vouch for (a recorded role they do not show, a
/// version they lack) is read on its own, and when they fail (no
/// permission for them, say) every target is.
pub(super) async fn read_many(p: &AwsProvider, ts: &[Read<'_>]) -> Vec<Result<Option<Live>, ProviderError>> {
    if ts.iter().filter(|r| needs_calls(r)).count() < BULK_MIN {
        return futures::future::join_all(ts.iter().map(|r| read(p, r))).await;
    }
    let roles = ts.iter().any(|r| needs_calls(r) && matches!(r, Read::Role(_) | Read::Existing(_)));
    let policies = ts.iter().any(|r| needs_calls(r) && matches!(r, Read::Policy(_)));
    // The policies of recorded ARNs are got while the account is listed.
    let early = futures::future::join_all(ts.iter().map(|r| async move {
        match (r, r.target().id.as_deref()) {
            (Read::Policy(_), Some(id)) if !unresolved(id) && id.starts_with("arn:") => Some(get_policy(p, id).await),
            _ => None,
        }
    }));
    let (account, early) = futures::join!(account(p, roles, policies), early);
    let account = account.ok();
    let account = account.as_ref();
    let reads = ts.iter().zip(early).map(|(r, early)| async move {
        if !needs_calls(r) {
            return read(p, r).await;
        }
        let t = r.target();
        match r {
            Read::Role(Typed { spec, .. }) => {
                let (id, name) = (t.id.as_deref(), t.name.as_deref());
                let asked = [id.and_then(|id| name_of_arn(id, "role")), name];
                let Some(a) = account.filter(|a| asked.iter().flatten().all(|n| a.sure(n))) else {
                    return read(p, r).await;
                };
                let listed = find_role_by(id, name, |n| async move { Ok(a.role(&n).map(|(r, _)| r.clone())) }).await;
                match listed {
                    // The listed roles are keyed by their own names: this one is there.
                    Ok(Some(role)) => Ok(Some(role_from(a.role(role.role_name()).expect("keyed by its name"), spec))),
                    // Not yet listed, or really gone: only GetRole can tell.
                    _ if id.is_some() => read(p, r).await,
                    _ => Ok(None),
                }
            }
            Read::Existing(Typed { spec, .. }) => {
                match account.filter(|a| a.sure(&spec.name)).map(|a| a.role(&spec.name)) {
                    Some(Some((r, _))) => Ok(Some(lookup_live(r))),
                    Some(None) if t.id.is_none() => Ok(None),
                    _ => read(p, r).await,
                }
            }
            Read::Policy(Typed { spec, .. }) => {
                let pol = match early {
                    Some(Ok(Some(pol))) => Some(pol),
                    Some(Err(e)) => return Err(e),
                    // Not found by its ARN (or none recorded): by name.
                    _ => match (account, t.name.as_deref().filter(|n| !unresolved(n))) {
                        (_, None) => None,
                        (Some(a), Some(n)) => match a.policy_arns.get(n) {
                            Some(arn) => get_policy(p, arn).await?,
                            None => None,
                        },
                        (None, Some(n)) => match policy_arn_by_name(p, n).await? {
                            Some(arn) => get_policy(p, &arn).await?,
                            None => None,
                        },
                    },
                };
                let Some(pol) = pol else { return Ok(None) };
                let listed = match (account, pol.arn(), pol.default_version_id()) {
                    (Some(a), Some(arn), Some(v)) => a.document(arn, v),
                    _ => None,
                };
                match listed {
                    Some(text) => Ok(Some(policy_fields(&pol, Some(spec), Some(text)))),
                    None => found(policy_live(p, &pol, Some(spec)).await),
                }
            }
        }
    });
    futures::future::join_all(reads).await
}

/// `/path/` of a role or policy: `/` when not given.
fn arn_path(path: Option<&str>) -> String {
    match path.map(super::permissions::known) {
        None | Some("") => "/".to_string(),
        Some("*") => "/*".to_string(),
        Some(p) => format!("/{}/", p.trim_matches('/')).replace("//", "/"),
    }
}

/// A role's ARN by its path and name.
fn role_arn(at: &Scope, path: Option<&str>, name: &str) -> String {
    at.global("iam", &format!("role{}{}", arn_path(path), super::permissions::known(name)))
}

/// A policy's ARN by its path and name.
fn policy_arn(at: &Scope, path: Option<&str>, name: &str) -> String {
    at.global("iam", &format!("policy{}{}", arn_path(path), super::permissions::known(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_round_trips() {
        let t = Trust {
            services: vec!["ecs-tasks.amazonaws.com".into()],
            accounts: vec!["123456789012".into()],
            principals: vec!["arn:aws:iam::123456789012:user/alice".into()],
            external_id: Some("x-1".into()),
            require_mfa: true,
            conditions: [
                (
                    "StringEquals".to_string(),
                    [("aws:SourceAccount".to_string(), OneOrMany::One("123456789012".into()))].into(),
                ),
                (
                    "ArnLike".to_string(),
                    [(
                        "aws:SourceArn".to_string(),
                        OneOrMany::Many(vec![
                            "arn:aws:ecs:eu-west-1:123456789012:*".into(),
                            "arn:aws:ecs:eu-west-2:123456789012:*".into(),
                        ]),
                    )]
                    .into(),
                ),
            ]
            .into(),
        };
        let doc = parse_document(&document_json(&trust_document(&t, "aws"))).unwrap();
        assert_eq!(parse_trust(&doc, None), t);
        // A `:root` ARN the file lists as a principal stays one.
        let file = Trust { principals: vec!["arn:aws:iam::210987654321:root".into()], ..Trust::default() };
        let doc = parse_document(&document_json(&trust_document(&file, "aws"))).unwrap();
        assert_eq!(parse_trust(&doc, Some(&file)), file);
    }

    #[test]
    fn trust_conditions_read_back_in_the_files_form() {
        let one = |v: &str| OneOrMany::One(v.into());
        let listed = Trust {
            services: vec!["ecs-tasks.amazonaws.com".into()],
            conditions: [(
                "ArnLike".to_string(),
                [("aws:SourceArn".to_string(), OneOrMany::Many(vec!["arn:aws:ecs:us-east-1:123456789012:*".into()]))]
                    .into(),
            )]
            .into(),
            ..Trust::default()
        };
        // AWS answers a single value as a string.
        let answer = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole", "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:ecs:us-east-1:123456789012:*"}}}]});
        let doc = parse_document(&urlencode(&answer.to_string())).unwrap();
        assert_eq!(parse_trust(&doc, Some(&listed)), listed, "a list of one in the file stays a list");
        let single = parse_trust(&doc, None);
        assert_eq!(single.conditions["ArnLike"]["aws:SourceArn"], one("arn:aws:ecs:us-east-1:123456789012:*"));
        // With accounts beside the services, both statements carry the
        // file's conditions, and they read back once.
        let both = Trust { accounts: vec!["123456789012".into()], external_id: Some("x".into()), ..listed.clone() };
        let d = trust_document(&both, "aws");
        assert_eq!(d.statements.len(), 2);
        assert!(d.statements.iter().all(|s| s.conditions.contains_key("ArnLike")));
        assert!(!d.statements[0].conditions.contains_key("StringEquals"), "the external id is for people");
        let doc = parse_document(&document_json(&d)).unwrap();
        assert_eq!(parse_trust(&doc, Some(&both)), both);
    }

    fn urlencode(s: &str) -> String {
        s.bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect()
    }

    #[test]
    fn projection_keeps_the_files_order_and_notation() {
        let spec: PolicyDocument = serde_json::from_value(json!({
            "statements": [
                { "actions": ["a:B"], "resources": ["*"] },
                { "sid": "S", "actions": ["c:D"], "resources": ["*"], "conditions": { "StringEquals": { "k": "v" } } }
            ]
        }))
        .unwrap();
        let live = parse_document(
            r#"{"Version":"2012-10-17","Statement":[
                {"Sid":"S","Effect":"Allow","Action":"c:D","Resource":"*","Condition":{"StringEquals":{"k":["v"]}}},
                {"Effect":"allow","Action":["a:B"],"Resource":["*"]}]}"#,
        )
        .unwrap();
        let got = project_document(live, Some(&spec));
        let want = serde_json::to_value(&spec).unwrap();
        assert!(crate::plan::matches(&want, &serde_json::to_value(&got).unwrap(), "document"));
    }

    #[test]
    fn a_role_is_first_asked_for_by_its_recorded_arn() {
        let arn = "arn:aws:iam::123456789012:role/app/old-name";
        assert_eq!(first_role_name(Some(arn), Some("new-name")), Some("old-name"));
        assert_eq!(first_role_name(None, Some("new-name")), Some("new-name"));
        assert_eq!(first_role_name(Some("not-an-arn"), Some("new-name")), Some("new-name"));
        assert_eq!(first_role_name(Some("${r.arn}"), Some("new-name")), None);
        assert_eq!(first_role_name(None, Some("${var.name}")), None);
    }
}
