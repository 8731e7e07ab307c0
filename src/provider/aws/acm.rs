//! `acm/certificate` and `acm/existing_certificate`: ACM certificates.
//!
//! A certificate is requested with DNS validation; ACM then gives a `CNAME`
//! record for each name (a few seconds later on AWS), which moor writes in
//! the file's hosted zone ([`super::route53::upsert_cnames`]), and the
//! certificate is issued once ACM sees them (minutes on AWS). Its create
//! waits for that, with progress, so whatever uses its ARN (a listener) is
//! made only after it is issued; a wait cut short records the certificate
//! as not settled, and the next apply waits again ([`AwsManaged::settle`]).
//!
//! A listener that uses a certificate keeps it from being deleted
//! (`ResourceInUseException`, which ACM still answers for a while after the
//! listener is gone): the delete is retried while that lasts. Its
//! validation records go with it, unless another certificate of the account
//! has a name they validate (ACM gives the same record to every certificate
//! of a name).

use super::kinds::{ArnType, AwsKind, AwsLookup, AwsManaged, Typed};
use super::permissions::{Grant, Phase, Scope};
use super::{build_failed, found, sdk_err, tag_map, AwsProvider};
use crate::kinds::acm::{Certificate, ExistingCertificate};
use crate::kinds::route53::normal_domain;
use crate::model::common::Tags;
use crate::provider::{Attrs, Deletion, ErrorKind, Fields, Live, ProviderError, Target};
use async_trait::async_trait;
use aws_sdk_acm::types::{CertificateDetail, CertificateStatus, Filters, KeyAlgorithm, Tag, ValidationMethod};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One target, as ACM's read takes it.
pub(super) enum Read<'a> {
    Existing(Typed<'a, ExistingCertificate>),
    Certificate(Typed<'a, Certificate>),
}

/// Reads each target with its own calls, at the same time.
pub(super) async fn read_many(p: &AwsProvider, rs: &[Read<'_>]) -> Vec<Result<Option<Live>, ProviderError>> {
    futures::future::join_all(rs.iter().map(|r| async move {
        match r {
            Read::Existing(t) => {
                if super::unresolved(&t.spec.domain) {
                    return Ok(None);
                }
                newest_issued(p, &t.spec.domain).await
            }
            Read::Certificate(t) => match t.id.as_deref() {
                Some(arn) => read_arn(p, arn, Some(t.target)).await,
                // Never requested (one whose answer was lost is found by its tags).
                None => Ok(None),
            },
        }
    }))
    .await
}

async fn describe(p: &AwsProvider, arn: &str) -> Result<Option<CertificateDetail>, ProviderError> {
    let out = found(
        p.acm
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_err("acm:DescribeCertificate", e)),
    )?;
    Ok(out.and_then(|o| o.certificate().cloned()))
}

async fn tags_of(p: &AwsProvider, arn: &str) -> Result<Option<Tags>, ProviderError> {
    let out = found(
        p.acm
            .list_tags_for_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_err("acm:ListTagsForCertificate", e)),
    )?;
    Ok(out.map(|o| tag_map(o.tags().iter().map(|t| (Some(t.key()), t.value())))))
}

/// The names a certificate covers besides its domain name (ACM lists the
/// domain name among them).
fn other_names(c: &CertificateDetail) -> Vec<String> {
    let domain = c.domain_name().unwrap_or_default();
    c.subject_alternative_names().iter().filter(|n| *n != domain).cloned().collect()
}

/// Why a certificate can no longer serve, if it cannot: ACM will not issue
/// or renew it (failed, validation timed out), or it expired or was
/// revoked. A new one must be requested.
fn unusable(c: &CertificateDetail) -> Option<String> {
    let status = c.status()?;
    let dead = matches!(
        status,
        CertificateStatus::Failed
            | CertificateStatus::Expired
            | CertificateStatus::Revoked
            | CertificateStatus::ValidationTimedOut
            | CertificateStatus::Inactive
    );
    let why = c
        .failure_reason()
        .map(|r| r.as_str().to_string())
        .or_else(|| c.revocation_reason().map(|r| r.as_str().to_string()));
    dead.then(|| match why {
        Some(why) => format!("the certificate is {} ({why})", status.as_str()),
        None => format!("the certificate is {}", status.as_str()),
    })
}

/// A certificate in the file's form. ACM does not know the zone of its
/// validation records: `zone` is the one moor recorded writing them to.
fn cert_live(c: &CertificateDetail, tags: Tags, zone: Option<&str>) -> Live {
    let arn = c.certificate_arn().unwrap_or_default().to_string();
    let domain = c.domain_name().unwrap_or_default();
    let mut f = Fields::new();
    f.insert("domain".into(), json!(domain));
    f.insert("subject_alternative_names".into(), json!(other_names(c)));
    let dns = c.domain_validation_options().iter().all(|v| v.validation_method() != Some(&ValidationMethod::Email));
    f.insert("validation".into(), json!(if dns { "dns" } else { "email" }));
    // None when moor has not written them (an imported certificate): the
    // plan then shows the file's zone to write them to.
    f.insert("zone".into(), json!(zone));
    if let Some(why) = unusable(c) {
        f.insert(crate::provider::UNUSABLE.into(), json!(why));
    }
    let mut attrs: Attrs = BTreeMap::from([("arn".to_string(), json!(arn)), ("domain".to_string(), json!(domain))]);
    if let Some(z) = zone {
        attrs.insert("zone_id".into(), json!(z));
    }
    Live { id: arn, fields: f, attrs, tags, uid: None }
}

/// A certificate by its ARN, with its tags; the zone is the recorded one.
async fn read_arn(p: &AwsProvider, arn: &str, t: Option<&Target>) -> Result<Option<Live>, ProviderError> {
    let (c, tags) = futures::join!(describe(p, arn), tags_of(p, arn));
    let (Some(c), Some(tags)) = (c?, tags?) else { return Ok(None) };
    let zone = t.and_then(|t| t.recorded.get("zone_id")).and_then(Value::as_str);
    Ok(Some(cert_live(&c, tags, zone)))
}

// ---- the lookup -----------------------------------------------------------------------

fn lookup_live(arn: &str, domain: &str) -> Live {
    let attrs: Attrs = BTreeMap::from([("arn".to_string(), json!(arn)), ("domain".to_string(), json!(domain))]);
    let mut fields = Fields::new();
    fields.insert("domain".into(), json!(domain));
    Live { id: arn.to_string(), fields, attrs, tags: Tags::new(), uid: None }
}

/// The most recently issued `ISSUED` certificate whose domain name is
/// `domain`, of every key type (ListCertificates lists only RSA 2048 keys
/// unless asked for the others).
async fn newest_issued(p: &AwsProvider, domain: &str) -> Result<Option<Live>, ProviderError> {
    let key_types: Vec<KeyAlgorithm> = KeyAlgorithm::values().iter().map(|k| KeyAlgorithm::from(*k)).collect();
    let all = p
        .acm
        .list_certificates()
        .certificate_statuses(CertificateStatus::Issued)
        .includes(Filters::builder().set_key_types(Some(key_types)).build())
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| sdk_err("acm:ListCertificates", e))?;
    let want = normal_domain(domain);
    let newest = all
        .iter()
        .filter(|c| c.domain_name().is_some_and(|d| normal_domain(d) == want))
        .filter(|c| c.status().is_none_or(|s| *s == CertificateStatus::Issued))
        .max_by_key(|c| {
            let at = c.issued_at().or(c.not_before()).or(c.created_at());
            at.map(|t| (t.secs(), t.subsec_nanos()))
        });
    Ok(newest.and_then(|c| Some(lookup_live(c.certificate_arn()?, domain))))
}

#[async_trait]
impl AwsKind for ExistingCertificate {
    fn permissions(_t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        vec![
            Grant::any(Phase::Read, &["acm:ListCertificates"], "ACM lists certificates without a resource"),
            Grant::on(
                Phase::Read,
                &["acm:DescribeCertificate", "acm:ListTagsForCertificate"],
                [at.arn("acm", "certificate/*")],
            )
            .because("a certificate's ARN holds an id ACM makes"),
        ]
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        super::kinds::Read::Acm(Read::Existing(t))
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        Ok(describe(p, &d.id).await?.map(|c| lookup_live(&d.id, c.domain_name().unwrap_or_default())))
    }
}

impl AwsLookup for ExistingCertificate {}

// ---- the certificate ------------------------------------------------------------------

/// How long ACM may take to give the validation records of a new
/// certificate.
const RECORDS_WAIT: Duration = Duration::from_secs(300);

/// The validation records ACM gives: `(domain, record name, record value)`,
/// once it gives one for every name; `None` before.
fn validation_records(c: &CertificateDetail) -> Option<Vec<(String, String, String)>> {
    let names: BTreeSet<&str> =
        c.domain_name().into_iter().chain(c.subject_alternative_names().iter().map(String::as_str)).collect();
    let opts = c.domain_validation_options();
    let given: Vec<(String, String, String)> = opts
        .iter()
        .filter_map(|v| {
            let r = v.resource_record()?;
            Some((v.domain_name().to_string(), r.name().to_string(), r.value().to_string()))
        })
        .collect();
    let covered: BTreeSet<&str> = given.iter().map(|(d, _, _)| d.as_str()).collect();
    names.iter().all(|n| covered.contains(n)).then_some(given)
}

/// The records to write: one per record name (a name and its wildcard
/// share theirs).
fn distinct(records: &[(String, String, String)]) -> Vec<(String, String)> {
    let mut seen = BTreeMap::new();
    for (_, name, value) in records {
        seen.entry(normal_domain(name)).or_insert_with(|| value.clone());
    }
    seen.into_iter().collect()
}

fn gone(arn: &str) -> ProviderError {
    ProviderError::new(ErrorKind::NotFound, "acm:DescribeCertificate", format!("certificate {arn} is gone"))
}

/// Waits until ACM gives the validation records of every name.
async fn await_records(
    p: &AwsProvider,
    arn: &str,
    domain: &str,
) -> Result<Vec<(String, String, String)>, ProviderError> {
    super::wait(
        &p.opts,
        RECORDS_WAIT,
        "acm:DescribeCertificate",
        &format!("ACM's validation records for {domain}"),
        || async {
            let c = describe(p, arn).await?.ok_or_else(|| gone(arn))?;
            Ok(validation_records(&c))
        },
    )
    .await
}

/// Waits until the certificate is issued; one that failed, or whose
/// validation timed out, is an error saying why.
async fn await_issued(p: &AwsProvider, arn: &str, domain: &str) -> Result<CertificateDetail, ProviderError> {
    let what = format!("certificate for {domain} to be issued (ACM checks its DNS validation records; minutes on AWS)");
    super::wait(&p.opts, p.opts.wait_timeout, "acm:DescribeCertificate", &what, || async {
        let c = describe(p, arn).await?.ok_or_else(|| gone(arn))?;
        match c.status() {
            Some(CertificateStatus::Issued) => Ok(Some(c)),
            Some(CertificateStatus::PendingValidation) | None => Ok(None),
            Some(other) => {
                let why = c.failure_reason().map(|r| format!(" ({})", r.as_str())).unwrap_or_default();
                Err(ProviderError::new(
                    ErrorKind::Wait,
                    "acm:DescribeCertificate",
                    format!("certificate {arn} for {domain} is {}{why}, and will not be issued", other.as_str()),
                ))
            }
        }
    })
    .await
}

/// Writes the validation records in `zone` and waits until the certificate
/// is issued.
async fn validate(p: &AwsProvider, arn: &str, domain: &str, zone: &str) -> Result<CertificateDetail, ProviderError> {
    let records = await_records(p, arn, domain).await?;
    super::route53::upsert_cnames(p, zone, &distinct(&records)).await?;
    await_issued(p, arn, domain).await
}

fn zone_of(spec: &Certificate) -> String {
    spec.zone.strip_prefix("/hostedzone/").unwrap_or(&spec.zone).to_string()
}

async fn request(p: &AwsProvider, t: &Target, spec: &Certificate) -> Result<String, ProviderError> {
    let op = "acm:RequestCertificate";
    let tags = t
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| build_failed(op, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let out = p
        .acm
        .request_certificate()
        .domain_name(&spec.domain)
        .set_subject_alternative_names(
            (!spec.subject_alternative_names.is_empty()).then(|| spec.subject_alternative_names.clone()),
        )
        .validation_method(ValidationMethod::Dns)
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .map_err(|e| sdk_err(op, e))?;
    out.certificate_arn()
        .map(str::to_string)
        .ok_or_else(|| ProviderError::new(ErrorKind::Rejected, op, "ACM answered without the certificate's ARN"))
}

/// Requests the certificate, writes its validation records and waits until
/// it is issued. Once requested it exists: an error after that carries it,
/// so it is recorded (as not settled when the wait did not end).
async fn create(p: &AwsProvider, t: &Target, spec: &Certificate) -> Result<Live, ProviderError> {
    let arn = request(p, t, spec).await?;
    let zone = zone_of(spec);
    let made = || {
        let mut l =
            Live { id: arn.clone(), fields: Fields::new(), attrs: Attrs::new(), tags: t.tags.clone(), uid: None };
        l.fields.insert("domain".into(), json!(spec.domain));
        l.fields.insert("zone".into(), json!(zone));
        l.attrs.insert("arn".into(), json!(arn));
        l.attrs.insert("domain".into(), json!(spec.domain));
        l.attrs.insert("zone_id".into(), json!(zone));
        l
    };
    match validate(p, &arn, &spec.domain, &zone).await {
        Ok(c) => Ok(cert_live(&c, t.tags.clone(), Some(&zone))),
        Err(e) => Err(e.with_made(made())),
    }
}

async fn tag(p: &AwsProvider, arn: &str, want: &Tags, have: &Tags) -> Result<(), ProviderError> {
    super::retag(
        want,
        have,
        |remove| async move {
            let tags = remove
                .iter()
                .map(|k| Tag::builder().key(k).build().map_err(|e| build_failed("acm:RemoveTagsFromCertificate", e)))
                .collect::<Result<Vec<_>, _>>()?;
            let r = p.acm.remove_tags_from_certificate().certificate_arn(arn).set_tags(Some(tags)).send().await;
            r.map(|_| ()).map_err(|e| sdk_err("acm:RemoveTagsFromCertificate", e))
        },
        |set| async move {
            let tags = set
                .iter()
                .map(|(k, v)| {
                    Tag::builder().key(k).value(v).build().map_err(|e| build_failed("acm:AddTagsToCertificate", e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let r = p.acm.add_tags_to_certificate().certificate_arn(arn).set_tags(Some(tags)).send().await;
            r.map(|_| ()).map_err(|e| sdk_err("acm:AddTagsToCertificate", e))
        },
    )
    .await
}

/// Tags in place; a new zone gets the validation records, and the old
/// zone's are removed once they are in the new one.
async fn update(
    p: &AwsProvider,
    t: &Target,
    spec: &Certificate,
    live: &Live,
    changed: &[String],
) -> Result<Live, ProviderError> {
    let arn = live.id.as_str();
    if changed.iter().any(|c| c == "tags") {
        tag(p, arn, &t.tags, &live.tags).await?;
    }
    let zone = zone_of(spec);
    if changed.iter().any(|c| c == "zone") {
        let c = describe(p, arn).await?.ok_or_else(|| gone(arn))?;
        let records = distinct(&validation_records(&c).unwrap_or_default());
        super::route53::upsert_cnames(p, &zone, &records).await?;
        if let Some(old) = live.attrs.get("zone_id").and_then(Value::as_str).filter(|old| *old != zone) {
            super::route53::delete_cnames(p, old, &records).await?;
        }
    }
    let c = describe(p, arn).await?.ok_or_else(|| gone(arn))?;
    let tags = tags_of(p, arn).await?.ok_or_else(|| gone(arn))?;
    Ok(cert_live(&c, tags, Some(&zone)))
}

/// How long a delete is retried while ACM says a load balancer uses the
/// certificate: ACM learns late that a listener let go of it.
const IN_USE_WAIT: Duration = Duration::from_secs(300);

/// The names of the account's other certificates, whose validation records
/// must stay.
async fn names_in_use(p: &AwsProvider, except: &str) -> Result<BTreeSet<String>, ProviderError> {
    let key_types: Vec<KeyAlgorithm> = KeyAlgorithm::values().iter().map(|k| KeyAlgorithm::from(*k)).collect();
    let all = p
        .acm
        .list_certificates()
        .includes(Filters::builder().set_key_types(Some(key_types)).build())
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| sdk_err("acm:ListCertificates", e))?;
    Ok(all
        .iter()
        .filter(|c| c.certificate_arn() != Some(except))
        .flat_map(|c| {
            c.domain_name().into_iter().chain(c.subject_alternative_name_summaries().iter().map(String::as_str))
        })
        .map(normal_domain)
        .collect())
}

/// Deletes the certificate (retried while it is in use), then its
/// validation records that no other certificate needs.
async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
    let Some(c) = describe(p, &d.id).await? else { return Ok(()) };
    let records = validation_records(&c).unwrap_or_default();
    let r = super::retry_for(
        IN_USE_WAIT,
        || async {
            let r = p.acm.delete_certificate().certificate_arn(&d.id).send().await;
            r.map(|_| ()).map_err(|e| sdk_err("acm:DeleteCertificate", e))
        },
        |e| e.kind == ErrorKind::InUse,
    )
    .await;
    super::ok_if_gone(r).map_err(|e| match e.kind {
        ErrorKind::InUse => {
            ProviderError { message: format!("{} (still in use by {})", e.message, c.in_use_by().join(", ")), ..e }
        }
        _ => e,
    })?;
    let Some(zone) = d.attrs.get("zone_id").and_then(Value::as_str) else { return Ok(()) };
    let others = names_in_use(p, &d.id).await?;
    let free: Vec<(String, String, String)> =
        records.into_iter().filter(|(domain, _, _)| !others.contains(&normal_domain(domain))).collect();
    // A record shared by a name still in use stays.
    let kept: BTreeSet<String> = validation_records(&c)
        .unwrap_or_default()
        .iter()
        .filter(|(domain, _, _)| others.contains(&normal_domain(domain)))
        .map(|(_, name, _)| normal_domain(name))
        .collect();
    let free: Vec<(String, String)> = distinct(&free).into_iter().filter(|(name, _)| !kept.contains(name)).collect();
    super::route53::delete_cnames(p, zone, &free).await
}

#[async_trait]
impl AwsKind for Certificate {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let certs = [at.arn("acm", "certificate/*")];
        let why = "a certificate's ARN holds an id ACM makes: changed only when tagged as the stack's";
        // The validation records: CNAMEs under the certificate's names.
        let names: Vec<String> = std::iter::once(&t.spec.domain)
            .chain(&t.spec.subject_alternative_names)
            .map(|d| format!("*.{}", d.trim_start_matches("*.").trim_end_matches('.').to_ascii_lowercase()))
            .collect();
        vec![
            Grant::any(Phase::Read, &["acm:ListCertificates"], "ACM lists certificates without a resource"),
            Grant::on(Phase::Read, &["acm:DescribeCertificate", "acm:ListTagsForCertificate"], certs.clone())
                .because("a certificate's ARN holds an id ACM makes"),
            Grant::any(Phase::Create, &["acm:RequestCertificate"], "ACM makes the certificate's ARN in this call")
                .tagged_on_create(&at.stack),
            Grant::on(Phase::Create, &["acm:AddTagsToCertificate"], certs.clone()).within(&["acm:RequestCertificate"]),
            Grant::on(Phase::Tag, &["acm:AddTagsToCertificate", "acm:RemoveTagsFromCertificate"], certs.clone())
                .owned(&at.stack)
                .because(why),
            Grant::on(Phase::Delete, &["acm:DeleteCertificate"], certs).owned(&at.stack).because(why),
            Grant::on(Phase::Create, &["route53:ListResourceRecordSets"], [at.bare("route53", "hostedzone/*")])
                .because("the zone's id is known once it is read"),
            Grant::on(Phase::Create, &["route53:ChangeResourceRecordSets"], [at.bare("route53", "hostedzone/*")])
                .when("ForAllValues:StringLike", "route53:ChangeResourceRecordSetsNormalizedRecordNames", names)
                .when("ForAllValues:StringEquals", "route53:ChangeResourceRecordSetsRecordTypes", ["CNAME".to_string()])
                .because(
                    "the zone's id is known once it is read: only the validation records of the certificate's names",
                ),
        ]
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "acm", resource: "certificate" });

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        super::kinds::Read::Acm(Read::Certificate(t))
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        let (c, tags) = futures::join!(describe(p, &d.id), tags_of(p, &d.id));
        let (Some(c), Some(tags)) = (c?, tags?) else { return Ok(None) };
        Ok(Some(cert_live(&c, tags, d.attrs.get("zone_id").and_then(Value::as_str))))
    }
}

#[async_trait]
impl AwsManaged for Certificate {
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
        let mut want = live.tags.clone();
        want.extend(t.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        tag(p, &live.id, &want, &live.tags).await?;
        // Import fills `${zone.id}` from the zone's lookup; a zone still
        // known only by its reference (the lookup found none) is not
        // recorded (a later update or delete would look for the validation
        // records in a zone named `${...}`): the next apply writes them in
        // the file's zone.
        let zone = Some(zone_of(t.spec)).filter(|z| !super::unresolved(z));
        let c = describe(p, &live.id).await?.ok_or_else(|| gone(&live.id))?;
        Ok(cert_live(&c, want, zone.as_deref()))
    }

    /// A certificate an earlier run did not see issued: its validation
    /// records are written again, and the wait goes on.
    async fn settle(p: &AwsProvider, t: Typed<'_, Self>, live: &Live, _redeploy: bool) -> Result<Live, ProviderError> {
        let zone = zone_of(t.spec);
        let c = validate(p, &live.id, &t.spec.domain, &zone).await.map_err(|e| e.with_made(live.clone()))?;
        Ok(cert_live(&c, live.tags.clone(), Some(&zone)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_acm::types::{DomainValidation, RecordType, ResourceRecord};

    fn validation(domain: &str, name: &str) -> DomainValidation {
        DomainValidation::builder()
            .domain_name(domain)
            .validation_method(ValidationMethod::Dns)
            .resource_record(
                ResourceRecord::builder()
                    .name(name)
                    .r#type(RecordType::Cname)
                    .value("_v.acm-validations.aws.")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    #[test]
    fn records_are_given_once_every_name_has_one() {
        let partial = CertificateDetail::builder()
            .domain_name("example.com")
            .subject_alternative_names("example.com")
            .subject_alternative_names("*.example.com")
            .domain_validation_options(validation("example.com", "_x.example.com."))
            .build();
        assert_eq!(validation_records(&partial), None, "ACM has not given the wildcard's record yet");
        let full = CertificateDetail::builder()
            .domain_name("example.com")
            .subject_alternative_names("example.com")
            .subject_alternative_names("*.example.com")
            .domain_validation_options(validation("example.com", "_x.example.com."))
            .domain_validation_options(validation("*.example.com", "_x.example.com."))
            .build();
        let records = validation_records(&full).expect("all given");
        assert_eq!(records.len(), 2);
        // A name and its wildcard share one record.
        assert_eq!(distinct(&records), [("_x.example.com".to_string(), "_v.acm-validations.aws.".to_string())]);
        assert_eq!(other_names(&full), ["*.example.com"]);
    }

    /// A certificate ACM will no longer serve reads as unusable, saying why;
    /// one issued or still being validated does not.
    #[test]
    fn a_certificate_that_expired_or_failed_reads_as_unusable() {
        let of = |status: &str, failure: Option<&str>, revocation: Option<&str>| {
            let c = CertificateDetail::builder()
                .certificate_arn(ARN)
                .domain_name("app.example.com")
                .status(CertificateStatus::from(status))
                .set_failure_reason(failure.map(aws_sdk_acm::types::FailureReason::from))
                .set_revocation_reason(revocation.map(aws_sdk_acm::types::RevocationReason::from))
                .build();
            cert_live(&c, Tags::new(), Some("Z1")).fields.get(crate::provider::UNUSABLE).cloned()
        };
        assert_eq!(of("ISSUED", None, None), None);
        assert_eq!(of("PENDING_VALIDATION", None, None), None);
        assert_eq!(of("EXPIRED", None, None), Some(json!("the certificate is EXPIRED")));
        assert_eq!(of("FAILED", Some("CAA_ERROR"), None), Some(json!("the certificate is FAILED (CAA_ERROR)")));
        assert_eq!(
            of("REVOKED", None, Some("KEY_COMPROMISE")),
            Some(json!("the certificate is REVOKED (KEY_COMPROMISE)"))
        );
        assert_eq!(of("VALIDATION_TIMED_OUT", None, None), Some(json!("the certificate is VALIDATION_TIMED_OUT")));
    }

    use super::super::tests::{test_config, Scripted as Script};

    fn scripted(script: &Script) -> AwsProvider {
        let opts = crate::provider::ProviderOptions {
            poll: Duration::from_millis(10),
            wait_timeout: Duration::from_secs(5),
            ..Default::default()
        };
        AwsProvider::from_config(&test_config(script.clone()), "us-east-1".into(), opts)
    }

    const ARN: &str = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c";

    fn described(status: &str, extra: Value) -> Value {
        let mut c = json!({"CertificateArn": ARN, "DomainName": "app.example.com",
            "SubjectAlternativeNames": ["app.example.com"], "Status": status, "InUseBy": [
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/lb/1"]});
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({"Certificate": c})
    }

    fn with_record() -> Value {
        json!({"DomainValidationOptions": [{"DomainName": "app.example.com", "ValidationMethod": "DNS",
            "ResourceRecord": {"Name": "_x.app.example.com.", "Type": "CNAME", "Value": "_y.acm-validations.aws."}}]})
    }

    fn deletion() -> Deletion {
        Deletion {
            logical: "cert".into(),
            kind: crate::model::Kind::AcmCertificate,
            id: ARN.into(),
            name: None,
            attrs: Attrs::new(),
            force: false,
        }
    }

    /// AWS answers ResourceInUseException for a while after the listener
    /// that used the certificate is deleted: the delete is tried again.
    #[tokio::test]
    async fn a_certificate_still_in_use_is_deleted_once_it_is_let_go() {
        let script = Script::default();
        let in_use = json!({"__type": "ResourceInUseException", "message": "Certificate is in use"});
        script
            .answer("DescribeCertificate", 200, described("ISSUED", with_record()))
            .answer("DeleteCertificate", 400, in_use.clone())
            .answer("DeleteCertificate", 400, in_use)
            .answer("DeleteCertificate", 200, json!({}));
        let p = scripted(&script);
        delete(&p, &deletion()).await.expect("deleted");
        let ops = script.ops();
        assert_eq!(ops.iter().filter(|o| *o == "DeleteCertificate").count(), 3, "{ops:?}");
    }

    /// ACM gives a new certificate's validation records a few seconds after
    /// the request: the wait polls until every name has its record.
    #[tokio::test]
    async fn the_validation_records_are_awaited() {
        let script = Script::default();
        script
            .answer("DescribeCertificate", 200, described("PENDING_VALIDATION", json!({})))
            .answer(
                "DescribeCertificate",
                200,
                described(
                    "PENDING_VALIDATION",
                    json!({"DomainValidationOptions": [{"DomainName": "app.example.com"}]}),
                ),
            )
            .answer("DescribeCertificate", 200, described("PENDING_VALIDATION", with_record()));
        let p = scripted(&script);
        let records = await_records(&p, ARN, "app.example.com").await.expect("given");
        assert_eq!(distinct(&records), [("_x.app.example.com".to_string(), "_y.acm-validations.aws.".to_string())]);
        assert_eq!(script.ops().len(), 3);
    }

    /// A certificate ACM will not issue ends the wait with its status and
    /// reason, not with a timeout.
    #[tokio::test]
    async fn a_certificate_that_failed_is_an_error_saying_why() {
        let script = Script::default();
        script.answer("DescribeCertificate", 200, described("PENDING_VALIDATION", with_record())).answer(
            "DescribeCertificate",
            200,
            described("FAILED", json!({"FailureReason": "CAA_ERROR"})),
        );
        let p = scripted(&script);
        let e = await_issued(&p, ARN, "app.example.com").await.expect_err("failed");
        assert_eq!(e.kind, ErrorKind::Wait);
        assert!(e.message.contains("is FAILED (CAA_ERROR)"), "{}", e.message);
        assert_eq!(script.ops().len(), 2);
    }
}
