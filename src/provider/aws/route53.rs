//! `route53/existing_zone` and `route53/record`: Route 53 hosted zones and
//! record sets, and the validation records of ACM certificates.
//!
//! A record set has no id and no tags: moor's id is `<zone>/<name>/<type>`,
//! and only the state record says it is moor's ([`crate::kinds::route53::Record`]).
//! Every change is one `ChangeResourceRecordSets` batch, which Route 53
//! applies whole or not at all: a rename deletes the old set and creates the
//! new one in the same batch. A `DELETE` must repeat the set exactly as it
//! is, so deletes read it first.
//!
//! A change is `PENDING` until every Route 53 server has it (`INSYNC`,
//! usually within a minute on AWS): a record's create and update wait for
//! that ([`await_insync`]), so that what depends on the record, and the end
//! of the apply, see it served.

use super::kinds::{AwsKind, AwsLookup, AwsManaged, Typed};
use super::permissions::{Grant, Phase, Scope};
use super::{build_failed, found, sdk_err, AwsProvider};
use crate::kinds::route53::{normal_domain, ExistingZone, Record, RecordType, DEFAULT_TTL};
use crate::model::common::Tags;
use crate::provider::{Attrs, Deletion, ErrorKind, Fields, Live, ProviderError, Target};
use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// One target, as Route 53's read takes it.
pub(super) enum Read<'a> {
    Zone(Typed<'a, ExistingZone>),
    Record(Typed<'a, Record>),
}

/// Reads each target with its own calls, at the same time: Route 53 has no
/// batched read of record sets by name.
pub(super) async fn read_many(p: &AwsProvider, rs: &[Read<'_>]) -> Vec<Result<Option<Live>, ProviderError>> {
    futures::future::join_all(rs.iter().map(|r| async move {
        match r {
            Read::Zone(t) => {
                if super::unresolved(&t.spec.name) {
                    return Ok(None);
                }
                find_zone(p, &t.spec.name, t.spec.private).await
            }
            Read::Record(t) => read_record(p, t.target, t.spec).await,
        }
    }))
    .await
}

// ---- hosted zones ---------------------------------------------------------------------

/// A zone id without the `/hostedzone/` that Route 53 puts before it.
fn zone_id(id: &str) -> &str {
    id.strip_prefix("/hostedzone/").unwrap_or(id)
}

fn zone_live(id: &str, name: &str, private: bool) -> Live {
    let id = zone_id(id).to_string();
    let name = normal_domain(name);
    let mut fields = Fields::new();
    fields.insert("name".into(), json!(name));
    fields.insert("private".into(), json!(private));
    let attrs: Attrs = BTreeMap::from([("id".to_string(), json!(id)), ("name".to_string(), json!(name))]);
    Live { id, fields, attrs, tags: Tags::new(), uid: None }
}

/// The zone named `name` (public, or private with `private`): the listing by
/// name starts at that name, so the listing stops at the first other name.
/// Two zones of that name and visibility are an error naming both.
async fn find_zone(p: &AwsProvider, name: &str, private: bool) -> Result<Option<Live>, ProviderError> {
    let want = normal_domain(name);
    let mut next: Option<(String, Option<String>)> = Some((format!("{want}."), None));
    let mut matches = Vec::new();
    'pages: while let Some((dns, id)) = next.take() {
        let out = p
            .route53
            .list_hosted_zones_by_name()
            .dns_name(dns)
            .set_hosted_zone_id(id)
            .max_items(100)
            .send()
            .await
            .map_err(|e| sdk_err("route53:ListHostedZonesByName", e))?;
        for z in out.hosted_zones() {
            if normal_domain(z.name()) != want {
                break 'pages;
            }
            if z.config().is_some_and(|c| c.private_zone()) == private {
                matches.push(zone_live(z.id(), z.name(), private));
            }
        }
        if out.is_truncated() {
            next = out.next_dns_name().map(|d| (d.to_string(), out.next_hosted_zone_id().map(str::to_string)));
        }
    }
    match matches.len() {
        0 | 1 => Ok(matches.pop()),
        _ => Err(ProviderError::new(
            ErrorKind::Rejected,
            "route53:ListHostedZonesByName",
            format!(
                "{} {} hosted zones are named `{want}` ({}): moor cannot tell which one is meant",
                matches.len(),
                if private { "private" } else { "public" },
                matches.iter().map(|z| z.id.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

#[async_trait]
impl AwsKind for ExistingZone {
    fn permissions(_t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        vec![
            Grant::any(Phase::Read, &["route53:ListHostedZonesByName"], "Route 53 lists zones without a resource"),
            Grant::on(Phase::Read, &["route53:GetHostedZone"], [at.bare("route53", "hostedzone/*")])
                .because("the zone is found by its name: its id is known once it is read"),
        ]
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        super::kinds::Read::Route53(Read::Zone(t))
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        let out = found(
            p.route53
                .get_hosted_zone()
                .id(zone_id(&d.id))
                .send()
                .await
                .map_err(|e| sdk_err("route53:GetHostedZone", e)),
        )?;
        Ok(out.and_then(|o| {
            let z = o.hosted_zone()?;
            Some(zone_live(z.id(), z.name(), z.config().is_some_and(|c| c.private_zone())))
        }))
    }
}

impl AwsLookup for ExistingZone {}

// ---- record sets ----------------------------------------------------------------------

/// Where a record set is: zone, name (the file's form) and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Place {
    pub zone: String,
    pub name: String,
    pub rtype: String,
}

impl Place {
    fn id(&self) -> String {
        format!("{}/{}/{}", self.zone, self.name, self.rtype)
    }

    /// The place an id names (`<zone>/<name>/<type>`).
    fn of_id(id: &str) -> Option<Place> {
        let (zone, rest) = id.split_once('/')?;
        let (name, rtype) = rest.rsplit_once('/')?;
        (!zone.is_empty() && !name.is_empty() && !rtype.is_empty()).then(|| Place {
            zone: zone.to_string(),
            name: name.to_string(),
            rtype: rtype.to_string(),
        })
    }

    fn of_spec(spec: &Record) -> Place {
        Place {
            zone: zone_id(&spec.zone).to_string(),
            name: spec.name.clone(),
            rtype: spec.record_type.as_str().into(),
        }
    }
}

/// The record set at `at`, as Route 53 has it; `None` when there is none
/// (or its zone is gone). Sets of a routing policy (with a set identifier)
/// are not moor's and are not read.
pub(super) async fn find_set(p: &AwsProvider, at: &Place) -> Result<Option<ResourceRecordSet>, ProviderError> {
    let out = found(
        p.route53
            .list_resource_record_sets()
            .hosted_zone_id(&at.zone)
            .start_record_name(&at.name)
            .start_record_type(RrType::from(at.rtype.as_str()))
            .max_items(1)
            .send()
            .await
            .map_err(|e| sdk_err("route53:ListResourceRecordSets", e)),
    )?;
    Ok(out.and_then(|o| {
        o.resource_record_sets()
            .iter()
            .find(|s| {
                normal_domain(s.name()) == normal_domain(&at.name)
                    && s.r#type().as_str() == at.rtype
                    && s.set_identifier().is_none()
            })
            .cloned()
    }))
}

/// A TXT value as Route 53 takes it: quoted, with `"` and `\` escaped.
fn quote_txt(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A TXT value as the file writes it: the quoted strings Route 53 answers,
/// joined and unescaped.
fn unquote_txt(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' => out.extend(chars.next()),
            ' ' if !quoted => {}
            c => out.push(c),
        }
    }
    out
}

/// A record set in the file's form. The alias target keeps the file's
/// spelling where it is the same name (Route 53 answers it in lowercase,
/// with a final dot).
fn record_live(at: &Place, s: &ResourceRecordSet, spec: Option<&Record>) -> Live {
    let mut f = Fields::new();
    f.insert("zone".into(), json!(at.zone));
    f.insert("name".into(), json!(normal_domain(s.name())));
    f.insert("type".into(), json!(s.r#type().as_str()));
    match s.alias_target() {
        Some(a) => {
            let mut name = a.dns_name().trim_end_matches('.').to_string();
            if let Some(want) = spec.and_then(|s| s.alias.as_ref()) {
                if want.name.trim_end_matches('.').eq_ignore_ascii_case(&name) {
                    name = want.name.clone();
                }
            }
            let mut alias = json!({"name": name, "zone_id": a.hosted_zone_id()});
            if a.evaluate_target_health() {
                alias["evaluate_target_health"] = json!(true);
            }
            f.insert("alias".into(), alias);
            f.insert("values".into(), json!([]));
            f.insert("ttl".into(), Value::Null);
        }
        None => {
            let txt = s.r#type() == &RrType::Txt;
            let cname = s.r#type() == &RrType::Cname;
            let values: Vec<String> = s
                .resource_records()
                .iter()
                .map(|r| match () {
                    _ if txt => unquote_txt(r.value()),
                    _ if cname => normal_domain(r.value()),
                    _ => r.value().to_string(),
                })
                .collect();
            f.insert("values".into(), json!(values));
            f.insert("ttl".into(), json!(s.ttl()));
            f.insert("alias".into(), Value::Null);
        }
    }
    let name = normal_domain(s.name());
    let attrs: Attrs = BTreeMap::from([("name".to_string(), json!(name)), ("fqdn".to_string(), json!(name))]);
    let placed = Place { name, ..at.clone() };
    Live { id: placed.id(), fields: f, attrs, tags: Tags::new(), uid: None }
}

/// Reads a target's record set: the one its record names (so a rename shows
/// as a change of `name`), else the one the file names.
async fn read_record(p: &AwsProvider, t: &Target, spec: &Record) -> Result<Option<Live>, ProviderError> {
    let at = match t.id.as_deref().and_then(Place::of_id) {
        Some(at) => at,
        None if super::unresolved(&spec.zone) || super::unresolved(&spec.name) => return Ok(None),
        None => Place::of_spec(spec),
    };
    Ok(find_set(p, &at).await?.map(|s| record_live(&at, &s, Some(spec))))
}

/// The record set the file asks for.
fn wanted_set(spec: &Record) -> Result<ResourceRecordSet, ProviderError> {
    let op = "route53:ChangeResourceRecordSets";
    let mut b = ResourceRecordSet::builder().name(&spec.name).r#type(RrType::from(spec.record_type.as_str()));
    match &spec.alias {
        Some(a) => {
            let target = AliasTarget::builder()
                .dns_name(&a.name)
                .hosted_zone_id(&a.zone_id)
                .evaluate_target_health(a.evaluate_target_health)
                .build()
                .map_err(|e| build_failed(op, e))?;
            b = b.alias_target(target);
        }
        None => {
            b = b.ttl(spec.ttl.unwrap_or(DEFAULT_TTL).into());
            for v in &spec.values {
                let v = if spec.record_type == RecordType::Txt { quote_txt(v) } else { v.clone() };
                b = b.resource_records(ResourceRecord::builder().value(v).build().map_err(|e| build_failed(op, e))?);
            }
        }
    }
    b.build().map_err(|e| build_failed(op, e))
}

/// Sends one batch of changes to a zone: the id of the change, which
/// Route 53 answers `PENDING` until all its servers have it.
pub(super) async fn change(
    p: &AwsProvider,
    zone: &str,
    changes: Vec<(ChangeAction, ResourceRecordSet)>,
) -> Result<String, ProviderError> {
    let op = "route53:ChangeResourceRecordSets";
    let mut batch = ChangeBatch::builder().comment("moor");
    for (action, set) in changes {
        batch = batch.changes(
            Change::builder().action(action).resource_record_set(set).build().map_err(|e| build_failed(op, e))?,
        );
    }
    p.route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch.build().map_err(|e| build_failed(op, e))?)
        .send()
        .await
        .map(|o| o.change_info().map(|c| change_id(c.id()).to_string()).unwrap_or_default())
        .map_err(|e| sdk_err(op, e))
}

/// A change's id without the `/change/` that Route 53 puts before it.
fn change_id(id: &str) -> &str {
    id.strip_prefix("/change/").unwrap_or(id)
}

/// Waits, at most `--wait-timeout`, until Route 53 serves the change `id`
/// of the set at `at` from all its servers (`INSYNC`). A change without an
/// id (an answer that gave none) has nothing to wait for.
pub(super) async fn await_insync(p: &AwsProvider, at: &Place, id: &str) -> Result<(), ProviderError> {
    const OP: &str = "route53:GetChange";
    if id.is_empty() {
        return Ok(());
    }
    let what = format!("Route 53 to serve the record set {} {} in zone {} (change {id})", at.name, at.rtype, at.zone);
    super::wait(&p.opts, p.opts.wait_timeout, OP, &what, || async {
        let out = p.route53.get_change().id(id).send().await.map_err(|e| sdk_err(OP, e))?;
        Ok(matches!(out.change_info().map(|c| c.status()), Some(ChangeStatus::Insync)).then_some(()))
    })
    .await
}

/// Sends the changes of the set at `at` and waits until they are served;
/// once sent, an error (a wait cut short) carries the set as `made`, since
/// it is written: it is recorded, as not settled.
async fn write_set(
    p: &AwsProvider,
    at: &Place,
    spec: &Record,
    changes: Vec<(ChangeAction, ResourceRecordSet)>,
) -> Result<Live, ProviderError> {
    let wanted = changes.last().map(|(_, s)| s.clone());
    let id = change(p, &at.zone, changes).await?;
    if let Err(e) = await_insync(p, at, &id).await {
        return Err(match wanted {
            Some(set) => e.with_made(record_live(at, &set, Some(spec))),
            None => e,
        });
    }
    read_back(p, at, spec).await
}

/// How long a set just changed may take to show in the listing.
const CHANGE_LAG: Duration = Duration::from_secs(15);

fn gone(at: &Place) -> ProviderError {
    ProviderError::new(
        ErrorKind::NotFound,
        "route53:ListResourceRecordSets",
        format!("the record set {} {} is not in zone {}", at.name, at.rtype, at.zone),
    )
}

/// Reads back a set that was just written.
async fn read_back(p: &AwsProvider, at: &Place, spec: &Record) -> Result<Live, ProviderError> {
    super::retry_for(
        CHANGE_LAG,
        || async { find_set(p, at).await?.map(|s| record_live(at, &s, Some(spec))).ok_or_else(|| gone(at)) },
        |e| e.kind == ErrorKind::NotFound,
    )
    .await
}

/// Whether a DELETE failed because the set is not there (any more).
fn delete_missed(e: &ProviderError) -> bool {
    e.code.as_deref() == Some("InvalidChangeBatch") && e.message.contains("not found")
}

/// Deletes the set at `at` as it is now; one that is gone is deleted. A set
/// changed between the read and the delete is read again.
pub(super) async fn delete_set(p: &AwsProvider, at: &Place) -> Result<(), ProviderError> {
    let mut tries = 0;
    loop {
        let Some(set) = find_set(p, at).await? else { return Ok(()) };
        match change(p, &at.zone, vec![(ChangeAction::Delete, set)]).await {
            Ok(_) => return Ok(()),
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            Err(e) if delete_missed(&e) && tries < 2 => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

#[async_trait]
impl AwsKind for Record {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let zone = match super::permissions::known(&t.spec.zone) {
            "*" => at.bare("route53", "hostedzone/*"),
            id => at.bare("route53", &format!("hostedzone/{}", id.trim_start_matches("/hostedzone/"))),
        };
        let name = super::permissions::known(&t.spec.name).trim_end_matches('.').to_ascii_lowercase();
        let kind = serde_json::to_value(t.spec.record_type)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "*".to_string());
        let why = "the zone's id is known once it is read: only this record's name and type";
        vec![
            Grant::on(Phase::Read, &["route53:ListResourceRecordSets"], [zone.clone()]).because(why),
            Grant::on(Phase::Create, &["route53:ChangeResourceRecordSets"], [zone])
                .when("ForAllValues:StringLike", "route53:ChangeResourceRecordSetsNormalizedRecordNames", [name])
                .when("ForAllValues:StringLike", "route53:ChangeResourceRecordSetsRecordTypes", [kind])
                .because(why),
            Grant::on(Phase::Wait, &["route53:GetChange"], [at.bare("route53", "change/*")])
                .because("a change's id is known only once it is made"),
        ]
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        super::kinds::Read::Route53(Read::Record(t))
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        let Some(at) = Place::of_id(&d.id) else { return Ok(None) };
        Ok(find_set(p, &at).await?.map(|s| record_live(&at, &s, None)))
    }
}

#[async_trait]
impl AwsManaged for Record {
    /// `UPSERT`: the plan creates only where no set of that name and type
    /// exists (one that exists is refused unless imported).
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        let at = Place::of_spec(t.spec);
        write_set(p, &at, t.spec, vec![(ChangeAction::Upsert, wanted_set(t.spec)?)]).await
    }

    /// One batch: the set as the file says it, and, for a new name or type,
    /// the delete of the set as it is now.
    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        _changed: &[String],
    ) -> Result<Live, ProviderError> {
        let at = Place::of_spec(t.spec);
        let mut changes = Vec::new();
        if let Some(old) = Place::of_id(&live.id).filter(|old| *old != at) {
            if let Some(set) = find_set(p, &old).await? {
                changes.push((ChangeAction::Delete, set));
            }
        }
        changes.push((ChangeAction::Upsert, wanted_set(t.spec)?));
        write_set(p, &at, t.spec, changes).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        match Place::of_id(&d.id) {
            Some(at) => delete_set(p, &at).await,
            None => Ok(()),
        }
    }

    /// A record set carries no tags: importing it only records it.
    async fn adopt(_p: &AwsProvider, _t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        Ok(live.clone())
    }
}

// ---- certificate validation records --------------------------------------------------

/// Writes (`UPSERT`) the `CNAME` validation records `(name, value)` in `zone`.
/// This does not wait for the change to be `INSYNC`: the certificate's wait
/// for `ISSUED` that follows covers it, since ACM issues only once it sees
/// the records served, and a certificate a run did not see issued waits
/// again on the next apply.
pub(super) async fn upsert_cnames(
    p: &AwsProvider,
    zone: &str,
    records: &[(String, String)],
) -> Result<(), ProviderError> {
    if records.is_empty() {
        return Ok(());
    }
    let op = "route53:ChangeResourceRecordSets";
    let mut changes = Vec::new();
    for (name, value) in records {
        let set = ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::Cname)
            .ttl(60)
            .resource_records(ResourceRecord::builder().value(value).build().map_err(|e| build_failed(op, e))?)
            .build()
            .map_err(|e| build_failed(op, e))?;
        changes.push((ChangeAction::Upsert, set));
    }
    change(p, zone_id(zone), changes).await.map(|_| ())
}

/// Deletes the `CNAME` validation records `(name, value)` from `zone`, each
/// only while it still holds that value (otherwise it is someone else's
/// now).
pub(super) async fn delete_cnames(
    p: &AwsProvider,
    zone: &str,
    records: &[(String, String)],
) -> Result<(), ProviderError> {
    for (name, value) in records {
        let at = Place { zone: zone_id(zone).to_string(), name: normal_domain(name), rtype: "CNAME".into() };
        let Some(set) = find_set(p, &at).await? else { continue };
        let ours = set.resource_records().iter().all(|r| normal_domain(r.value()) == normal_domain(value));
        if ours {
            match change(p, &at.zone, vec![(ChangeAction::Delete, set)]).await {
                Err(e) if !(delete_missed(&e) || e.kind == ErrorKind::NotFound) => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_zone_name_and_type() {
        let at = Place { zone: "Z1".into(), name: "*.example.com".into(), rtype: "A".into() };
        assert_eq!(at.id(), "Z1/*.example.com/A");
        assert_eq!(Place::of_id(&at.id()), Some(at));
        assert_eq!(Place::of_id("Z1/A"), None);
        assert_eq!(Place::of_id("nonsense"), None);
    }

    #[test]
    fn txt_values_are_quoted_and_read_back_as_written() {
        for v in ["v=spf1 -all", "say \"hi\"", "back\\slash"] {
            assert_eq!(unquote_txt(&quote_txt(v)), v);
        }
        // Route 53 answers a long value as several quoted strings.
        assert_eq!(unquote_txt("\"abc\" \"def\""), "abcdef");
    }

    #[test]
    fn an_alias_reads_as_the_file_writes_it() {
        let set = ResourceRecordSet::builder()
            .name("app.example.com.")
            .r#type(RrType::A)
            .alias_target(
                AliasTarget::builder()
                    .dns_name("my-lb-1.us-east-1.elb.amazonaws.com.")
                    .hosted_zone_id("Z35SXDOTRQ7X7K")
                    .evaluate_target_health(false)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let at = Place { zone: "Z1".into(), name: "app.example.com".into(), rtype: "A".into() };
        let spec: Record = serde_json::from_value(json!({"zone": "Z1", "name": "app.example.com", "type": "A",
            "alias": {"name": "My-LB-1.us-east-1.elb.amazonaws.com", "zone_id": "Z35SXDOTRQ7X7K"}}))
        .unwrap();
        let live = record_live(&at, &set, Some(&spec));
        assert_eq!(live.id, "Z1/app.example.com/A");
        assert_eq!(
            live.fields["alias"],
            json!({"name": "My-LB-1.us-east-1.elb.amazonaws.com", "zone_id": "Z35SXDOTRQ7X7K"})
        );
        assert_eq!(live.fields["ttl"], Value::Null);
    }

    use super::super::tests::{test_config, Scripted as Script};

    fn scripted(script: &Script, timeout: Duration) -> AwsProvider {
        let opts = crate::provider::ProviderOptions {
            poll: Duration::from_millis(10),
            wait_timeout: timeout,
            ..Default::default()
        };
        AwsProvider::from_config(&test_config(script.clone()), "us-east-1".into(), opts)
    }

    const NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

    fn change_info(root: &str, status: &str) -> String {
        format!(
            "<{root} xmlns=\"{NS}\"><ChangeInfo><Id>/change/C0ABC123</Id><Status>{status}</Status>\
             <SubmittedAt>2024-05-01T12:00:00Z</SubmittedAt></ChangeInfo></{root}>"
        )
    }

    fn spec() -> Record {
        serde_json::from_value(json!({"zone": "Z1", "name": "app.example.com", "type": "A",
            "values": ["192.0.2.10"], "ttl": 300}))
        .unwrap()
    }

    fn upsert() -> Vec<(ChangeAction, ResourceRecordSet)> {
        vec![(ChangeAction::Upsert, wanted_set(&spec()).unwrap())]
    }

    /// Route 53 answers a change PENDING until all its servers have it: the
    /// write waits for INSYNC before it reads the set back.
    #[tokio::test]
    async fn a_written_record_is_awaited_until_route53_serves_it() {
        let script = Script::default();
        script
            .answer_raw("ChangeResourceRecordSets", 200, &change_info("ChangeResourceRecordSetsResponse", "PENDING"))
            .answer_raw("GetChange", 200, &change_info("GetChangeResponse", "PENDING"))
            .answer_raw("GetChange", 200, &change_info("GetChangeResponse", "PENDING"))
            .answer_raw("GetChange", 200, &change_info("GetChangeResponse", "INSYNC"))
            .answer_raw(
                "ListResourceRecordSets",
                200,
                &format!(
                    "<ListResourceRecordSetsResponse xmlns=\"{NS}\"><ResourceRecordSets><ResourceRecordSet>\
                     <Name>app.example.com.</Name><Type>A</Type><TTL>300</TTL><ResourceRecords><ResourceRecord>\
                     <Value>192.0.2.10</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>\
                     </ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems>\
                     </ListResourceRecordSetsResponse>"
                ),
            );
        let p = scripted(&script, Duration::from_secs(5));
        let at = Place::of_spec(&spec());
        let live = write_set(&p, &at, &spec(), upsert()).await.expect("written");
        assert_eq!(live.id, "Z1/app.example.com/A");
        assert_eq!(
            script.ops(),
            ["ChangeResourceRecordSets", "GetChange", "GetChange", "GetChange", "ListResourceRecordSets"]
        );
    }

    /// A change that stays PENDING past `--wait-timeout` ends the wait with
    /// an error naming the record and the change; the set is written all
    /// the same, so the error carries it to be recorded.
    #[tokio::test]
    async fn a_change_that_stays_pending_names_the_record_and_the_change() {
        let script = Script::default();
        script
            .answer_raw("ChangeResourceRecordSets", 200, &change_info("ChangeResourceRecordSetsResponse", "PENDING"))
            .answer_raw("GetChange", 200, &change_info("GetChangeResponse", "PENDING"));
        let p = scripted(&script, Duration::from_millis(200));
        let at = Place::of_spec(&spec());
        let e = write_set(&p, &at, &spec(), upsert()).await.expect_err("timed out");
        assert_eq!(e.kind, ErrorKind::Wait);
        assert_eq!(e.operation, "route53:GetChange");
        assert!(e.message.contains("gave up"), "{}", e.message);
        assert!(e.message.contains("app.example.com A in zone Z1"), "{}", e.message);
        assert!(e.message.contains("change C0ABC123"), "{}", e.message);
        assert_eq!(e.made.as_ref().map(|m| m.id.as_str()), Some("Z1/app.example.com/A"));
        assert!(!script.ops().contains(&"ListResourceRecordSets".to_string()));
    }
}
