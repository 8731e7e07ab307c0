//! `logs/log_group`: CloudWatch Logs log groups.
//!
//! A group's id is its ARN without the `:*` that `DescribeLogGroups` adds to
//! `arn` (the form the tagging calls take); its name is in the ARN, so the
//! id is built from the name and the creation time (milliseconds) is its
//! unique id ([`Live::uid`]). Reads list groups by name prefix, many names
//! per listing ([`read_many`]), then the tags of each group found, at the
//! same time; a recorded group's tags are asked by its recorded ARN at the
//! same time as the listing.

use super::{found, sdk_err, tag_map, AwsProvider};
use crate::kinds::logs::LogGroup;
use crate::model::common::Tags;
use crate::model::Spec;
use crate::provider::{Attrs, Deletion, ErrorKind, Fields, Live, ProviderError, Target};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

type SdkGroup = aws_sdk_cloudwatchlogs::types::LogGroup;

/// The largest page of `DescribeLogGroups`.
const PAGE: i32 = 50;

/// The spec of a log group target.
pub(super) fn spec(t: &Target) -> Result<&LogGroup, ProviderError> {
    match &t.spec {
        Spec::LogsLogGroup(s) => Ok(s),
        _ => Err(ProviderError::new(ErrorKind::Rejected, "logs", format!("{} is not a log group", t.kind))),
    }
}

/// A group's name from its ARN (`arn:aws:logs:<region>:<account>:log-group:<name>`,
/// with or without `:*`).
pub(super) fn name_of_arn(arn: &str) -> Option<&str> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let name = resource.strip_prefix("log-group:")?;
    let name = name.strip_suffix(":*").unwrap_or(name);
    (!name.is_empty()).then_some(name)
}

/// The group's ARN without `:*`: `logGroupArn`, or `arn` without its
/// suffix where an endpoint answers only that.
fn group_arn(g: &SdkGroup) -> String {
    match (g.log_group_arn(), g.arn()) {
        (Some(a), _) if !a.is_empty() => a.to_string(),
        (_, Some(a)) => a.strip_suffix(":*").unwrap_or(a).to_string(),
        _ => String::new(),
    }
}

/// A group as moor reports it: the fields a file sets, in the file's form
/// (no retention is "never expire": the field is left out, as the file
/// leaves it out).
fn live_of(g: &SdkGroup, tags: Tags) -> Live {
    let name = g.log_group_name().unwrap_or_default();
    let arn = group_arn(g);
    let mut f = Fields::new();
    f.insert("name".into(), json!(name));
    if let Some(days) = g.retention_in_days() {
        f.insert("retention_days".into(), json!(days));
    }
    if let Some(key) = g.kms_key_id().filter(|k| !k.is_empty()) {
        f.insert("kms_key".into(), json!(key));
    }
    let attrs: Attrs = BTreeMap::from([("name".to_string(), json!(name)), ("arn".to_string(), json!(arn))]);
    Live { id: arn, fields: f, attrs, tags, uid: g.creation_time().map(|ms| ms.to_string()) }
}

/// Every group whose name starts with `prefix`, by name.
async fn list(p: &AwsProvider, prefix: &str) -> Result<HashMap<String, SdkGroup>, ProviderError> {
    let groups: Vec<SdkGroup> = p
        .logs
        .describe_log_groups()
        .log_group_name_prefix(prefix)
        .limit(PAGE)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| sdk_err("logs:DescribeLogGroups", e))?;
    Ok(groups.into_iter().filter_map(|g| Some((g.log_group_name()?.to_string(), g))).collect())
}

async fn tags_of(p: &AwsProvider, arn: &str) -> Result<Option<Tags>, ProviderError> {
    let out = found(
        p.logs
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_err("logs:ListTagsForResource", e)),
    )?;
    Ok(out.map(|o| tag_map(o.tags().into_iter().flatten().map(|(k, v)| (Some(k.as_str()), Some(v.as_str()))))))
}

/// The listings that read `names`: the names of one directory (`/ecs/s/`)
/// in one listing of that prefix when there are several, any other name in
/// a listing of its own (the prefix is the whole name).
fn prefixes(names: &BTreeSet<&str>) -> BTreeSet<String> {
    let mut dirs: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for n in names {
        let dir = n.rfind('/').map(|i| &n[..=i]).filter(|d| d.len() > 1).unwrap_or(n);
        dirs.entry(dir).or_default().push(n);
    }
    dirs.into_iter()
        .flat_map(
            |(dir, ns)| if ns.len() > 1 { vec![dir.to_string()] } else { ns.iter().map(|n| n.to_string()).collect() },
        )
        .collect()
}

/// The name a target reads: the one in its recorded ARN (a renamed group
/// is read as it is, and the plan sees the name change), else its
/// physical name.
fn wanted(t: &Target) -> Option<&str> {
    t.id.as_deref().and_then(name_of_arn).or(t.name.as_deref()).filter(|n| !n.contains("${"))
}

/// Reads the groups of many targets: one listing per prefix, at the same
/// time as the tags of the recorded groups; then the tags of the others.
pub(super) async fn read_many(p: &AwsProvider, ts: &[&Target]) -> Vec<Result<Option<Live>, ProviderError>> {
    let names: BTreeSet<&str> = ts.iter().filter_map(|t| wanted(t)).collect();
    let prefixes: Vec<String> = prefixes(&names).into_iter().collect();
    // A recorded group: its tags at once, by its ARN.
    let recorded: BTreeSet<&str> =
        ts.iter().filter_map(|t| t.id.as_deref().filter(|id| name_of_arn(id).is_some())).collect();
    let (listed, early) = futures::join!(
        futures::future::join_all(prefixes.iter().map(|pre| list(p, pre))),
        futures::future::join_all(recorded.iter().map(|arn| tags_of(p, arn)))
    );
    let mut groups: HashMap<String, SdkGroup> = HashMap::new();
    let mut failed: Option<ProviderError> = None;
    for l in listed {
        match l {
            Ok(gs) => groups.extend(gs),
            Err(e) => failed = Some(e),
        }
    }
    if let Some(e) = failed {
        return ts.iter().map(|_| Err(e.clone())).collect();
    }
    let mut tags: HashMap<String, Result<Option<Tags>, ProviderError>> =
        recorded.iter().map(|a| a.to_string()).zip(early).collect();
    let late: Vec<String> =
        names.iter().filter_map(|n| groups.get(*n)).map(group_arn).filter(|arn| !tags.contains_key(arn)).collect();
    let got = futures::future::join_all(late.iter().map(|arn| tags_of(p, arn))).await;
    tags.extend(late.into_iter().zip(got));
    ts.iter()
        .map(|t| {
            let Some(g) = wanted(t).and_then(|n| groups.get(n)) else { return Ok(None) };
            match tags.get(&group_arn(g)) {
                Some(Ok(Some(tags))) => Ok(Some(live_of(g, tags.clone()))),
                // Deleted between the listing and the tags.
                Some(Ok(None)) => Ok(None),
                Some(Err(e)) => Err(e.clone()),
                None => Ok(Some(live_of(g, Tags::new()))),
            }
        })
        .collect()
}

/// Reads one group by name.
async fn read_named(p: &AwsProvider, name: &str) -> Result<Option<Live>, ProviderError> {
    let Some(g) = list(p, name).await?.remove(name) else { return Ok(None) };
    Ok(tags_of(p, &group_arn(&g)).await?.map(|tags| live_of(&g, tags)))
}

pub(super) async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
    match name_of_arn(&d.id).or(d.name.as_deref()) {
        Some(name) => read_named(p, name).await,
        None => Ok(None),
    }
}

fn not_named(op: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Rejected, op, "the log group has no name")
}

async fn put_retention(p: &AwsProvider, name: &str, days: Option<u32>) -> Result<(), ProviderError> {
    match days {
        Some(d) => p
            .logs
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(d as i32)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_err("logs:PutRetentionPolicy", e)),
        None => p
            .logs
            .delete_retention_policy()
            .log_group_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_err("logs:DeleteRetentionPolicy", e)),
    }
}

async fn set_kms_key(p: &AwsProvider, name: &str, key: Option<&str>) -> Result<(), ProviderError> {
    match key {
        Some(k) => p
            .logs
            .associate_kms_key()
            .log_group_name(name)
            .kms_key_id(k)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_err("logs:AssociateKmsKey", e)),
        None => p
            .logs
            .disassociate_kms_key()
            .log_group_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_err("logs:DisassociateKmsKey", e)),
    }
}

fn gone(op: &str) -> ProviderError {
    ProviderError::new(ErrorKind::NotFound, op, "the log group is gone")
}

/// Creates the group with its tags and key, then sets its retention and
/// reads it (for its ARN and creation time) at the same time: the listing
/// may show the retention before or after the put, so the fields are what
/// was sent.
pub(super) async fn create(p: &AwsProvider, t: &Target, spec: &LogGroup) -> Result<Live, ProviderError> {
    let name = t.name.as_deref().ok_or_else(|| not_named("logs:CreateLogGroup"))?;
    let tags: HashMap<String, String> = t.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    p.logs
        .create_log_group()
        .log_group_name(name)
        .set_kms_key_id(spec.kms_key.clone())
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| sdk_err("logs:CreateLogGroup", e))?;
    let (retention, listed) = futures::join!(
        async {
            match spec.retention_days {
                Some(_) => put_retention(p, name, spec.retention_days).await,
                None => Ok(()),
            }
        },
        list(p, name)
    );
    let g = listed?.remove(name).ok_or_else(|| gone("logs:DescribeLogGroups"))?;
    let mut live = live_of(&g, t.tags.clone());
    retention?;
    live.fields.remove("retention_days");
    if let Some(d) = spec.retention_days {
        live.fields.insert("retention_days".into(), json!(d));
    }
    live.fields.remove("kms_key");
    if let Some(k) = &spec.kms_key {
        live.fields.insert("kms_key".into(), json!(k));
    }
    Ok(live)
}

fn live_name<'a>(t: &'a Target, live: &'a Live) -> Option<&'a str> {
    live.attrs.get("name").and_then(Value::as_str).or(t.name.as_deref())
}

async fn tag(p: &AwsProvider, arn: &str, want: &Tags, have: &Tags) -> Result<(), ProviderError> {
    super::retag(
        want,
        have,
        |remove| async move {
            let r = p.logs.untag_resource().resource_arn(arn).set_tag_keys(Some(remove)).send().await;
            r.map(|_| ()).map_err(|e| sdk_err("logs:UntagResource", e))
        },
        |set| async move {
            let set: HashMap<String, String> = set.into_iter().collect();
            let r = p.logs.tag_resource().resource_arn(arn).set_tags(Some(set)).send().await;
            r.map(|_| ()).map_err(|e| sdk_err("logs:TagResource", e))
        },
    )
    .await
}

/// Changes retention, key and tags in place, side by side (each is its own
/// call on its own setting), and reads the group back.
pub(super) async fn update(
    p: &AwsProvider,
    t: &Target,
    spec: &LogGroup,
    live: &Live,
    changed: &[String],
) -> Result<Live, ProviderError> {
    let name = live_name(t, live).ok_or_else(|| not_named("logs:update"))?;
    let has = |f: &str| changed.iter().any(|c| c == f);
    let (r, k, g) = futures::join!(
        async {
            match has("retention_days") {
                true => put_retention(p, name, spec.retention_days).await,
                false => Ok(()),
            }
        },
        async {
            match has("kms_key") {
                true => set_kms_key(p, name, spec.kms_key.as_deref()).await,
                false => Ok(()),
            }
        },
        async {
            match has("tags") {
                true => tag(p, &live.id, &t.tags, &live.tags).await,
                false => Ok(()),
            }
        }
    );
    r?;
    k?;
    g?;
    read_named(p, name).await?.ok_or_else(|| gone("logs:DescribeLogGroups"))
}

/// Deletes the group and its events; one already gone is deleted.
pub(super) async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
    let Some(name) = name_of_arn(&d.id).or(d.name.as_deref()) else { return Ok(()) };
    let r = p.logs.delete_log_group().log_group_name(name).send().await.map_err(|e| sdk_err("logs:DeleteLogGroup", e));
    match r {
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Adds this stack's tags to a group that exists (it keeps its own).
pub(super) async fn adopt(p: &AwsProvider, t: &Target, _spec: &LogGroup, live: &Live) -> Result<Live, ProviderError> {
    let mut want = live.tags.clone();
    want.extend(t.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    tag(p, &live.id, &want, &live.tags).await?;
    let name = live_name(t, live).ok_or_else(|| not_named("logs:TagResource"))?;
    read_named(p, name).await?.ok_or_else(|| gone("logs:DescribeLogGroups"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/s/app";

    #[test]
    fn a_group_reads_as_the_file_says_it() {
        let g = SdkGroup::builder()
            .log_group_name("/ecs/s/app")
            .arn(format!("{ARN}:*"))
            .creation_time(1_700_000_000_123)
            .retention_in_days(14)
            .build();
        let live = live_of(&g, Tags::new());
        assert_eq!(live.id, ARN, "the ARN without `:*`");
        assert_eq!(live.attrs["arn"], json!(ARN));
        assert_eq!(live.attrs["name"], json!("/ecs/s/app"));
        assert_eq!(live.uid.as_deref(), Some("1700000000123"));
        assert_eq!(Value::Object(live.fields), json!({"name": "/ecs/s/app", "retention_days": 14}));

        // Never expires, no key: neither field, as a file without them.
        let g = SdkGroup::builder().log_group_name("x").log_group_arn("arn:aws:logs:r:1:log-group:x").build();
        let live = live_of(&g, Tags::new());
        assert_eq!(Value::Object(live.fields), json!({"name": "x"}));
        assert_eq!(live.id, "arn:aws:logs:r:1:log-group:x");
        assert_eq!(live.uid, None);
    }

    #[test]
    fn names_come_out_of_arns() {
        assert_eq!(name_of_arn(ARN), Some("/ecs/s/app"));
        assert_eq!(name_of_arn(&format!("{ARN}:*")), Some("/ecs/s/app"));
        assert_eq!(name_of_arn("arn:aws:logs:r:1:log-group:a:b"), Some("a:b"));
        assert_eq!(name_of_arn("arn:aws:ecr:r:1:repository/x"), None);
        assert_eq!(name_of_arn("arn:aws:logs:r:1:log-group:"), None);
        assert_eq!(name_of_arn("/ecs/s/app"), None);
    }

    #[test]
    fn names_of_one_directory_share_a_listing() {
        let names = BTreeSet::from(["/ecs/s/a", "/ecs/s/b", "/other/x", "plain"]);
        let got: Vec<String> = prefixes(&names).into_iter().collect();
        assert_eq!(got, ["/ecs/s/", "/other/x", "plain"]);
        // Top-level names never list everything under `/`.
        let names = BTreeSet::from(["/a", "/b"]);
        let got: Vec<String> = prefixes(&names).into_iter().collect();
        assert_eq!(got, ["/a", "/b"]);
    }
}
