//! `logs/log_group`: CloudWatch Logs log groups.
//!
//! A group's id is its ARN without the `:*` that `DescribeLogGroups` adds to
//! `arn` (the form the tagging calls take); its name is in the ARN, so the
//! id is built from the name and the creation time (milliseconds) is its
//! unique id ([`Live::uid`]). Reads list groups by name prefix, many names
//! per listing ([`read_many`]), then the tags of each group found, at the
//! same time; a recorded group's tags are asked by its recorded ARN at the
//! same time as the listing.

use super::kinds::{ArnType, AwsKind, AwsManaged, Typed};
use super::permissions::{Grant, Phase, Scope};
use super::{found, sdk_err, tag_map, AwsProvider};
use crate::kinds::logs::LogGroup;
use crate::model::common::Tags;
use crate::provider::{Attrs, Deletion, ErrorKind, Fields, Live, ProviderError, Target};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

type SdkGroup = aws_sdk_cloudwatchlogs::types::LogGroup;

/// The largest page of `DescribeLogGroups`.
const PAGE: i32 = 50;

/// A log group as the service's batched read takes it.
pub(super) type Read<'a> = Typed<'a, LogGroup>;

#[async_trait]
impl AwsKind for LogGroup {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let name = super::permissions::known(t.name.as_deref().unwrap_or("*"));
        // The group's ARN as IAM checks it: with and without `:*`.
        let group = [format!("log-group:{name}"), format!("log-group:{name}:*")].map(|r| at.arn("logs", &r));
        vec![
            Grant::on(Phase::Read, &["logs:DescribeLogGroups"], [at.arn("logs", "log-group:*")])
                .because("CloudWatch Logs checks DescribeLogGroups against every group of the region"),
            Grant::on(Phase::Read, &["logs:ListTagsForResource"], group.clone()),
            Grant::on(Phase::Create, &["logs:CreateLogGroup"], group.clone()),
            Grant::on(Phase::Create, &["logs:TagResource", "logs:TagLogGroup"], group.clone())
                .within(&["logs:CreateLogGroup"]),
            Grant::on(
                Phase::Update,
                &[
                    "logs:PutRetentionPolicy",
                    "logs:DeleteRetentionPolicy",
                    "logs:AssociateKmsKey",
                    "logs:DisassociateKmsKey",
                ],
                group.clone(),
            ),
            Grant::on(Phase::Tag, &["logs:TagResource", "logs:UntagResource"], group.clone()),
            Grant::on(Phase::Delete, &["logs:DeleteLogGroup"], group),
        ]
    }

    fn arn_pattern(t: Typed<'_, Self>, at: &Scope) -> Option<String> {
        Some(at.arn("logs", &format!("log-group:{}", super::permissions::known(t.name.as_deref()?))))
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "logs", resource: "log-group" });

    fn id_of_arn(arn: &str, _resource: &str) -> Option<String> {
        Some(arn.strip_suffix(":*").unwrap_or(arn).to_string())
    }

    fn name_of_arn(resource: &str) -> Option<String> {
        group_name(resource).map(str::to_string)
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        super::kinds::Read::Logs(t)
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        match name_of_arn(&d.id).or(d.name.as_deref()) {
            Some(name) => read_named(p, name).await,
            None => Ok(None),
        }
    }
}

#[async_trait]
impl AwsManaged for LogGroup {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        create(p, t.target, t.spec).await
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        update(p, t.target, t.spec, live, changed).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        delete(p, d).await
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        adopt(p, t.target, live).await
    }
}

/// A group's name from its ARN (`arn:aws:logs:<region>:<account>:log-group:<name>`,
/// with or without `:*`).
fn name_of_arn(arn: &str) -> Option<&str> {
    group_name(arn.splitn(6, ':').nth(5)?)
}

/// A group's name from an ARN's resource part (`log-group:<name>`, with or
/// without `:*`).
fn group_name(resource: &str) -> Option<&str> {
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

/// A group as moor reports it: the fields a file sets, in the file's form.
/// No retention ("never expire") and no key are `null`, not left out: a
/// field left out is never compared, and a file that sets a retention must
/// see the group that has none differ.
fn live_of(g: &SdkGroup, tags: Tags) -> Live {
    let name = g.log_group_name().unwrap_or_default();
    let arn = group_arn(g);
    let mut f = Fields::new();
    f.insert("name".into(), json!(name));
    f.insert("retention_days".into(), json!(g.retention_in_days()));
    f.insert("kms_key".into(), json!(g.kms_key_id().filter(|k| !k.is_empty())));
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
    t.id.as_deref().and_then(name_of_arn).or(t.name.as_deref()).filter(|n| !super::unresolved(n))
}

/// Reads the groups of many targets: one listing per prefix, at the same
/// time as the tags of the recorded groups; then the tags of the others.
pub(super) async fn read_many(p: &AwsProvider, ts: &[Read<'_>]) -> Vec<Result<Option<Live>, ProviderError>> {
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

/// How long a group just made may stay out of the listing and unknown to
/// PutRetentionPolicy (AWS's reads may lag behind a create).
const CREATE_LAG: std::time::Duration = std::time::Duration::from_secs(15);

fn not_found(e: &ProviderError) -> bool {
    e.kind == ErrorKind::NotFound
}

/// Reads a group that must exist (just made or changed), while the reads
/// have not caught up.
async fn read_back(p: &AwsProvider, name: &str) -> Result<SdkGroup, ProviderError> {
    super::retry_for(
        CREATE_LAG,
        || async { list(p, name).await?.remove(name).ok_or_else(|| gone("logs:DescribeLogGroups")) },
        not_found,
    )
    .await
}

/// Creates the group with its tags and key, then sets its retention and
/// reads it (for its ARN and creation time) at the same time: the listing
/// may show the retention before or after the put, so the fields are what
/// was sent.
async fn create(p: &AwsProvider, t: &Target, spec: &LogGroup) -> Result<Live, ProviderError> {
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
                Some(_) => {
                    super::retry_for(CREATE_LAG, || put_retention(p, name, spec.retention_days), not_found).await
                }
                None => Ok(()),
            }
        },
        read_back(p, name)
    );
    let g = listed?;
    let mut live = live_of(&g, t.tags.clone());
    retention?;
    live.fields.insert("retention_days".into(), json!(spec.retention_days));
    live.fields.insert("kms_key".into(), json!(spec.kms_key));
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
async fn update(
    p: &AwsProvider,
    t: &Target,
    spec: &LogGroup,
    live: &Live,
    changed: &[String],
) -> Result<Live, ProviderError> {
    let name = live_name(t, live).ok_or_else(|| not_named("logs:update"))?;
    let has = |f: &str| changed.iter().any(|c| c == f);
    // One after another: AWS answers OperationAbortedException to
    // concurrent changes of one group.
    if has("retention_days") {
        put_retention(p, name, spec.retention_days).await?;
    }
    if has("kms_key") {
        set_kms_key(p, name, spec.kms_key.as_deref()).await?;
    }
    if has("tags") {
        tag(p, &live.id, &t.tags, &live.tags).await?;
    }
    let mut back = read_named(p, name).await?.ok_or_else(|| gone("logs:DescribeLogGroups"))?;
    // A key change takes up to five minutes to show in DescribeLogGroups:
    // what was set is what the group has.
    if has("kms_key") {
        back.fields.insert("kms_key".into(), json!(spec.kms_key));
    }
    Ok(back)
}

/// Deletes the group and its events; one already gone is deleted.
async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
    let Some(name) = name_of_arn(&d.id).or(d.name.as_deref()) else { return Ok(()) };
    let r = p.logs.delete_log_group().log_group_name(name).send().await.map_err(|e| sdk_err("logs:DeleteLogGroup", e));
    super::ok_if_gone(r.map(|_| ()))
}

/// Adds this stack's tags to a group that exists (it keeps its own).
async fn adopt(p: &AwsProvider, t: &Target, live: &Live) -> Result<Live, ProviderError> {
    let mut want = live.tags.clone();
    want.extend(t.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    tag(p, &live.id, &want, &live.tags).await?;
    let name = live_name(t, live).ok_or_else(|| not_named("logs:TagResource"))?;
    read_named(p, name).await?.ok_or_else(|| gone("logs:DescribeLogGroups"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The log group spec of a test's target.
    fn spec(t: &Target) -> Result<&LogGroup, String> {
        match &t.spec {
            crate::model::Spec::LogsLogGroup(s) => Ok(s),
            other => Err(format!("{} is not a log group", other.kind())),
        }
    }

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
        assert_eq!(Value::Object(live.fields), json!({"name": "/ecs/s/app", "retention_days": 14, "kms_key": null}));

        // Never expires, no key: both null, so a file that sets them differs.
        let g = SdkGroup::builder().log_group_name("x").log_group_arn("arn:aws:logs:r:1:log-group:x").build();
        let live = live_of(&g, Tags::new());
        assert_eq!(Value::Object(live.fields), json!({"name": "x", "retention_days": null, "kms_key": null}));
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

    use super::super::tests::{test_config, Scripted as Script};

    fn scripted(script: &Script) -> AwsProvider {
        AwsProvider::from_config(&test_config(script.clone()), "us-east-1".into(), Default::default())
    }

    const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn target(settings: &str) -> Target {
        let text = format!("stack: s\nresources:\n  app:\n    kind: logs/log_group\n{settings}");
        let stack = crate::load::load_str("s.yaml", &text, &Default::default()).stack.expect("a stack");
        let state = crate::state::State::new("s", None);
        crate::plan::target(&stack, "app", &Default::default(), &state).0
    }

    fn described(extra: Value) -> Value {
        let mut g = json!({"logGroupName": "/ecs/s/app", "arn": format!("{ARN}:*"), "logGroupArn": ARN,
            "creationTime": 1_700_000_000_123_i64});
        g.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({"logGroups": [g]})
    }

    #[tokio::test]
    async fn a_key_is_associated_and_disassociated_in_place() {
        let script = Script::default();
        script
            .answer("AssociateKmsKey", 200, json!({}))
            .answer("DisassociateKmsKey", 200, json!({}))
            .answer("DescribeLogGroups", 200, described(json!({"kmsKeyId": KEY})))
            .answer("DescribeLogGroups", 200, described(json!({})))
            .answer("ListTagsForResource", 200, json!({"tags": {"moor:stack": "s", "moor:resource": "app"}}));
        let p = scripted(&script);
        let t = target(&format!("    kms_key: {KEY}\n"));
        let before = live_of(&SdkGroup::builder().log_group_name("/ecs/s/app").log_group_arn(ARN).build(), Tags::new());
        let live = update(&p, &t, spec(&t).unwrap(), &before, &["kms_key".into()]).await.expect("associated");
        assert_eq!(live.fields["kms_key"], json!(KEY));
        let calls = script.requests();
        assert_eq!(calls[0].0, "AssociateKmsKey");
        assert_eq!(calls[0].1, json!({"logGroupName": "/ecs/s/app", "kmsKeyId": KEY}));

        // Left out of the file: the key goes, the group stays.
        let t = target("");
        let live = update(&p, &t, spec(&t).unwrap(), &live, &["kms_key".into()]).await.expect("disassociated");
        assert_eq!(live.fields["kms_key"], Value::Null);
        let ops = script.ops();
        assert_eq!(ops.iter().filter(|o| *o == "DisassociateKmsKey").count(), 1, "{ops:?}");
        assert!(!ops.iter().any(|o| o.contains("Delete") || o.contains("Create")), "{ops:?}");
    }

    /// AWS takes up to five minutes to show a new key in DescribeLogGroups:
    /// the group has the key that was set, so the next plan has nothing to do.
    #[tokio::test]
    async fn a_key_that_the_listing_does_not_show_yet_is_the_key_that_was_set() {
        let script = Script::default();
        script.answer("AssociateKmsKey", 200, json!({})).answer("DescribeLogGroups", 200, described(json!({}))).answer(
            "ListTagsForResource",
            200,
            json!({"tags": {"moor:stack": "s", "moor:resource": "app"}}),
        );
        let p = scripted(&script);
        let t = target(&format!("    kms_key: {KEY}\n"));
        let before = live_of(&SdkGroup::builder().log_group_name("/ecs/s/app").log_group_arn(ARN).build(), Tags::new());
        let live = update(&p, &t, spec(&t).unwrap(), &before, &["kms_key".into()]).await.expect("associated");
        assert_eq!(live.fields["kms_key"], json!(KEY));
    }

    #[tokio::test]
    async fn a_create_sends_tags_and_key_then_sets_retention() {
        let script = Script::default();
        script.answer("CreateLogGroup", 200, json!({})).answer("PutRetentionPolicy", 200, json!({})).answer(
            "DescribeLogGroups",
            200,
            described(json!({})),
        );
        let p = scripted(&script);
        let t = target(&format!("    retention_days: 30\n    kms_key: {KEY}\n    tags: {{ app: web }}\n"));
        let live = create(&p, &t, spec(&t).unwrap()).await.expect("created");
        let calls = script.requests();
        let create_body = &calls.iter().find(|(op, _)| op == "CreateLogGroup").unwrap().1;
        assert_eq!(create_body["logGroupName"], "/ecs/s/app");
        assert_eq!(create_body["kmsKeyId"], KEY);
        assert_eq!(create_body["tags"], json!({"app": "web", "moor:stack": "s", "moor:resource": "app"}));
        let put = &calls.iter().find(|(op, _)| op == "PutRetentionPolicy").unwrap().1;
        assert_eq!(put, &json!({"logGroupName": "/ecs/s/app", "retentionInDays": 30}));
        // What was sent, with the listing's ARN and creation time.
        assert_eq!(live.fields["retention_days"], json!(30));
        assert_eq!(live.fields["kms_key"], json!(KEY));
        assert_eq!((live.id.as_str(), live.uid.as_deref()), (ARN, Some("1700000000123")));
    }

    #[tokio::test]
    async fn aws_errors_map_to_what_moor_does_with_them() {
        let script = Script::default();
        script
            .answer(
                "CreateLogGroup",
                400,
                json!({"__type": "ResourceAlreadyExistsException", "message": "The specified log group already exists"}),
            )
            .answer(
                "DeleteLogGroup",
                400,
                json!({"__type": "ResourceNotFoundException", "message": "The specified log group does not exist."}),
            );
        let p = scripted(&script);
        let t = target("");
        let e = create(&p, &t, spec(&t).unwrap()).await.expect_err("taken");
        assert_eq!(e.kind, ErrorKind::AlreadyExists, "{e}");
        assert!(e.to_string().contains("logs:CreateLogGroup") && e.to_string().contains("already exists"), "{e}");
        let d = Deletion {
            logical: "app".into(),
            kind: crate::model::Kind::LogsLogGroup,
            id: ARN.into(),
            name: None,
            attrs: Default::default(),
            force: false,
        };
        delete(&p, &d).await.expect("gone is deleted");
        assert_eq!(script.requests().last().unwrap().1, json!({"logGroupName": "/ecs/s/app"}));
    }

    #[tokio::test]
    async fn a_create_waits_for_reads_that_lag_behind_it() {
        let not_yet =
            json!({"__type": "ResourceNotFoundException", "message": "The specified log group does not exist."});
        let script = Script::default();
        script
            .answer("CreateLogGroup", 200, json!({}))
            .answer("PutRetentionPolicy", 400, not_yet)
            .answer("PutRetentionPolicy", 200, json!({}))
            .answer("DescribeLogGroups", 200, json!({"logGroups": []}))
            .answer("DescribeLogGroups", 200, described(json!({})));
        let p = scripted(&script);
        let t = target("    retention_days: 7\n");
        let live = create(&p, &t, spec(&t).unwrap()).await.expect("created");
        assert_eq!(live.id, ARN);
        let ops = script.ops();
        assert_eq!(ops.iter().filter(|o| *o == "PutRetentionPolicy").count(), 2, "{ops:?}");
        assert_eq!(ops.iter().filter(|o| *o == "DescribeLogGroups").count(), 2, "{ops:?}");
        assert_eq!(ops.iter().filter(|o| *o == "CreateLogGroup").count(), 1, "{ops:?}");
    }
}
