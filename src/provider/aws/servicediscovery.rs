//! `servicediscovery/http_namespace`: Cloud Map HTTP namespaces.
//!
//! Cloud Map changes namespaces asynchronously: CreateHttpNamespace,
//! UpdateHttpNamespace and DeleteNamespace each answer an operation id,
//! and the change is done once GetOperation says `SUCCESS` (seconds to
//! minutes on AWS). Each waits for its operation, with progress, for at
//! most the apply's wait timeout, and fails with AWS's own reason when the
//! operation fails. A new namespace's id is in its operation's targets.
//!
//! A namespace cannot be deleted while services are registered in it
//! (`ResourceInUse`): ECS deletes the Cloud Map services Service Connect
//! made only some time after the ECS service is gone, so the delete is
//! tried again until the wait timeout, then names the services left.
//!
//! A recorded namespace is read by its id; one not recorded (never made,
//! or its record lost) by its name, in one listing of the account's HTTP
//! namespaces; tags are read for each namespace found, at the same time.

use super::kinds::{ArnType, AwsKind, AwsManaged, Typed};
use super::permissions::{Grant, Phase, Scope};
use super::{found, sdk_err, tag_map, AwsProvider};
use crate::kinds::servicediscovery::HttpNamespace;
use crate::model::common::Tags;
use crate::provider::{Attrs, Deletion, ErrorKind, Fields, Live, ProviderError, Target};
use async_trait::async_trait;
use aws_sdk_servicediscovery::types::{
    HttpNamespaceChange, NamespaceFilter, NamespaceFilterName, NamespaceType, Operation, OperationStatus,
    OperationTargetType, ServiceFilter, ServiceFilterName, Tag,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// A namespace as the service's batched read takes it.
pub(super) type Read<'a> = Typed<'a, HttpNamespace>;

/// What moor knows of a namespace from either of Cloud Map's answers
/// (GetNamespace's namespace, ListNamespaces' summary).
#[derive(Debug, Clone, PartialEq)]
struct Ns {
    id: String,
    arn: String,
    name: String,
    description: Option<String>,
}

impl Ns {
    fn of_namespace(n: &aws_sdk_servicediscovery::types::Namespace) -> Ns {
        Ns {
            id: n.id().unwrap_or_default().to_string(),
            arn: n.arn().unwrap_or_default().to_string(),
            name: n.name().unwrap_or_default().to_string(),
            description: n.description().map(str::to_string),
        }
    }

    fn of_summary(n: &aws_sdk_servicediscovery::types::NamespaceSummary) -> Ns {
        Ns {
            id: n.id().unwrap_or_default().to_string(),
            arn: n.arn().unwrap_or_default().to_string(),
            name: n.name().unwrap_or_default().to_string(),
            description: n.description().map(str::to_string),
        }
    }
}

/// A namespace in the file's form. No description is `null` whether AWS
/// leaves it out or answers it empty (an update that removes it sends an
/// empty one, as Cloud Map requires a description in every update).
fn live_of(n: &Ns, tags: Tags) -> Live {
    let mut f = Fields::new();
    f.insert("name".into(), json!(n.name));
    f.insert("description".into(), json!(n.description.as_deref().filter(|d| !d.is_empty())));
    let attrs: Attrs = BTreeMap::from([
        ("id".to_string(), json!(n.id)),
        ("arn".to_string(), json!(n.arn)),
        ("name".to_string(), json!(n.name)),
    ]);
    Live { id: n.id.clone(), fields: f, attrs, tags, uid: None }
}

#[async_trait]
impl AwsKind for HttpNamespace {
    fn permissions(_t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        // Namespace ids are Cloud Map's (`ns-…`), not the file's name.
        let ns = at.arn("servicediscovery", "namespace/*");
        vec![
            Grant::any(
                Phase::Read,
                &["servicediscovery:ListNamespaces", "servicediscovery:GetOperation", "servicediscovery:ListServices"],
                "Cloud Map lists namespaces and services, and reports operations, without a resource",
            ),
            Grant::on(
                Phase::Read,
                &["servicediscovery:GetNamespace", "servicediscovery:ListTagsForResource"],
                [ns.clone()],
            ),
            Grant::any(
                Phase::Create,
                &["servicediscovery:CreateHttpNamespace"],
                "a namespace's ARN is known only once Cloud Map has made it",
            ),
            Grant::on(Phase::Create, &["servicediscovery:TagResource"], [ns.clone()])
                .within(&["servicediscovery:CreateHttpNamespace"]),
            Grant::on(Phase::Update, &["servicediscovery:UpdateHttpNamespace"], [ns.clone()]),
            Grant::on(Phase::Tag, &["servicediscovery:TagResource", "servicediscovery:UntagResource"], [ns.clone()]),
            Grant::on(Phase::Delete, &["servicediscovery:DeleteNamespace"], [ns]),
        ]
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "servicediscovery", resource: "namespace" });

    /// `arn:aws:servicediscovery:<region>:<account>:namespace/ns-…`: the id
    /// is the `ns-…`.
    fn id_of_arn(_arn: &str, resource: &str) -> Option<String> {
        resource.strip_prefix("namespace/").filter(|id| !id.is_empty()).map(str::to_string)
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        super::kinds::Read::ServiceDiscovery(t)
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        read_id(p, &d.id).await
    }
}

#[async_trait]
impl AwsManaged for HttpNamespace {
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

async fn get(p: &AwsProvider, id: &str) -> Result<Option<Ns>, ProviderError> {
    let out = found(
        p.servicediscovery.get_namespace().id(id).send().await.map_err(|e| sdk_err("servicediscovery:GetNamespace", e)),
    )?;
    let n = out.and_then(|o| o.namespace().map(Ns::of_namespace));
    remember(p, n.iter());
    Ok(n)
}

/// Keeps the names of namespaces read, by ARN, for [`namespace_name`].
fn remember<'a>(p: &AwsProvider, ns: impl Iterator<Item = &'a Ns>) {
    let mut names = p.namespace_names.lock().unwrap_or_else(PoisonError::into_inner);
    for n in ns.filter(|n| !n.arn.is_empty() && !n.name.is_empty()) {
        names.insert(n.arn.clone(), n.name.clone());
    }
}

/// The name of the namespace (of any type) with this ARN: known from a read
/// of this run (the stack's namespaces are read with the plan), else asked
/// of Cloud Map (GetNamespace). `None` when there is no such namespace.
pub(super) async fn namespace_name(p: &AwsProvider, arn: &str) -> Result<Option<String>, ProviderError> {
    if let Some(name) = p.namespace_names.lock().unwrap_or_else(PoisonError::into_inner).get(arn) {
        return Ok(Some(name.clone()));
    }
    let Some(id) = arn.split_once(":namespace/").map(|(_, id)| id).filter(|id| !id.is_empty()) else {
        return Ok(None);
    };
    Ok(get(p, id).await?.filter(|n| n.arn == arn).map(|n| n.name))
}

async fn tags_of(p: &AwsProvider, arn: &str) -> Result<Option<Tags>, ProviderError> {
    let out = found(
        p.servicediscovery
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_err("servicediscovery:ListTagsForResource", e)),
    )?;
    Ok(out.map(|o| tag_map(o.tags().iter().map(|t| (Some(t.key()), Some(t.value()))))))
}

/// A namespace by its id, with its tags. Only HTTP namespaces: an id of
/// another type is not this kind's.
async fn read_id(p: &AwsProvider, id: &str) -> Result<Option<Live>, ProviderError> {
    let Some(n) = get(p, id).await? else { return Ok(None) };
    with_tags(p, &n).await
}

async fn with_tags(p: &AwsProvider, n: &Ns) -> Result<Option<Live>, ProviderError> {
    Ok(tags_of(p, &n.arn).await?.map(|tags| live_of(n, tags)))
}

/// The account's HTTP namespaces in the region. The type filter is asked
/// for, and checked again (an endpoint may ignore it).
async fn list(p: &AwsProvider) -> Result<Vec<Ns>, ProviderError> {
    let filter = NamespaceFilter::builder()
        .name(NamespaceFilterName::Type)
        .values(NamespaceType::Http.as_str())
        .build()
        .map_err(|e| super::build_failed("servicediscovery:ListNamespaces", e))?;
    let pages: Vec<_> = p
        .servicediscovery
        .list_namespaces()
        .filters(filter)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| sdk_err("servicediscovery:ListNamespaces", e))?;
    let all: Vec<Ns> = pages
        .iter()
        .flat_map(|page| page.namespaces())
        .filter(|n| n.r#type().is_none_or(|t| *t == NamespaceType::Http))
        .map(Ns::of_summary)
        .collect();
    remember(p, all.iter());
    Ok(all)
}

/// Reads many namespaces: the recorded ones by id, the others by name in
/// one listing, all at the same time; then the tags of those found by name.
pub(super) async fn read_many(p: &AwsProvider, ts: &[Read<'_>]) -> Vec<Result<Option<Live>, ProviderError>> {
    let by_name = |t: &Read<'_>| t.id.is_none() && t.name.as_deref().is_some_and(|n| !super::unresolved(n));
    let need_list = ts.iter().any(by_name);
    let (listed, recorded) = futures::join!(
        async {
            match need_list {
                true => list(p).await.map(Some),
                false => Ok(None),
            }
        },
        futures::future::join_all(ts.iter().map(|t| async move {
            match t.id.as_deref() {
                Some(id) => Some(read_id(p, id).await),
                None => None,
            }
        }))
    );
    let named = futures::future::join_all(ts.iter().map(|t| {
        let listed = &listed;
        async move {
            if !by_name(t) {
                return Ok(None);
            }
            let listed = match listed {
                Ok(l) => l.as_deref().unwrap_or_default(),
                Err(e) => return Err(e.clone()),
            };
            // Names are unique per account and region.
            match listed.iter().find(|n| Some(n.name.as_str()) == t.name.as_deref()) {
                Some(n) => with_tags(p, n).await,
                None => Ok(None),
            }
        }
    }))
    .await;
    recorded.into_iter().zip(named).map(|(r, n)| r.unwrap_or(n)).collect()
}

/// How long GetOperation may not know an operation just started (AWS's
/// reads lag behind its writes).
const OPERATION_LAG: Duration = Duration::from_secs(15);

/// The namespace an operation is about, from its targets.
fn namespace_of(o: &Operation) -> Option<&str> {
    o.targets().and_then(|t| t.get(&OperationTargetType::Namespace)).map(String::as_str).filter(|id| !id.is_empty())
}

/// Waits for an operation to succeed, with progress, for at most the wait
/// timeout; a failed operation is an error of `call` with AWS's reason.
async fn finished(p: &AwsProvider, call: &str, operation: &str, what: &str) -> Result<Operation, ProviderError> {
    let start = tokio::time::Instant::now();
    super::wait(&p.opts, p.opts.wait_timeout, "servicediscovery:GetOperation", what, || async {
        let r = p
            .servicediscovery
            .get_operation()
            .operation_id(operation)
            .send()
            .await
            .map_err(|e| sdk_err("servicediscovery:GetOperation", e));
        let o = match r {
            Ok(o) => o,
            Err(e) if e.kind == ErrorKind::NotFound && start.elapsed() < OPERATION_LAG => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(o) = o.operation() else { return Ok(None) };
        match o.status() {
            Some(OperationStatus::Success) => Ok(Some(o.clone())),
            Some(OperationStatus::Fail) => {
                let mut e = ProviderError::new(
                    ErrorKind::Rejected,
                    call,
                    format!(
                        "operation {operation} failed: {}",
                        o.error_message().filter(|m| !m.is_empty()).unwrap_or("AWS gave no reason")
                    ),
                );
                if let Some(code) = o.error_code() {
                    e = e.with_code(code);
                }
                Err(e)
            }
            _ => Ok(None),
        }
    })
    .await
}

fn not_named(op: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Rejected, op, "the namespace has no name")
}

fn gone(op: &str) -> ProviderError {
    ProviderError::new(ErrorKind::NotFound, op, "the namespace is gone")
}

/// Creates the namespace with its tags, waits for the operation, and reads
/// the namespace it made.
async fn create(p: &AwsProvider, t: &Target, spec: &HttpNamespace) -> Result<Live, ProviderError> {
    const OP: &str = "servicediscovery:CreateHttpNamespace";
    let name = t.name.as_deref().ok_or_else(|| not_named(OP))?;
    let tags: Vec<Tag> = t
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| super::build_failed(OP, e)))
        .collect::<Result<_, _>>()?;
    let out = p
        .servicediscovery
        .create_http_namespace()
        .name(name)
        .set_description(spec.description.clone())
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| sdk_err(OP, e))?;
    let op = out.operation_id().unwrap_or_default().to_string();
    let o = finished(p, OP, &op, &format!("namespace `{name}` to be created")).await?;
    let id = namespace_of(&o).ok_or_else(|| {
        ProviderError::new(ErrorKind::Rejected, OP, format!("operation {op} succeeded without naming its namespace"))
    })?;
    read_back(p, id).await
}

/// A namespace that must exist (just made or changed), while GetNamespace
/// has not caught up.
async fn read_back(p: &AwsProvider, id: &str) -> Result<Live, ProviderError> {
    super::retry_for(
        OPERATION_LAG,
        || async { read_id(p, id).await?.ok_or_else(|| gone("servicediscovery:GetNamespace")) },
        |e| e.kind == ErrorKind::NotFound,
    )
    .await
}

async fn tag(p: &AwsProvider, arn: &str, want: &Tags, have: &Tags) -> Result<(), ProviderError> {
    super::retag(
        want,
        have,
        |remove| async move {
            let r = p.servicediscovery.untag_resource().resource_arn(arn).set_tag_keys(Some(remove)).send().await;
            r.map(|_| ()).map_err(|e| sdk_err("servicediscovery:UntagResource", e))
        },
        |set| async move {
            const OP: &str = "servicediscovery:TagResource";
            let tags: Vec<Tag> = set
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| super::build_failed(OP, e)))
                .collect::<Result<_, _>>()?;
            let r = p.servicediscovery.tag_resource().resource_arn(arn).set_tags(Some(tags)).send().await;
            r.map(|_| ()).map_err(|e| sdk_err(OP, e))
        },
    )
    .await
}

fn arn_of(live: &Live) -> &str {
    live.attrs.get("arn").and_then(|a| a.as_str()).unwrap_or_default()
}

/// Changes the description (an operation, awaited) and the tags in place,
/// and reads the namespace back.
async fn update(
    p: &AwsProvider,
    t: &Target,
    spec: &HttpNamespace,
    live: &Live,
    changed: &[String],
) -> Result<Live, ProviderError> {
    const OP: &str = "servicediscovery:UpdateHttpNamespace";
    let has = |f: &str| changed.iter().any(|c| c == f);
    if has("description") {
        // Cloud Map takes a description in every update: none is empty.
        let change = HttpNamespaceChange::builder()
            .description(spec.description.clone().unwrap_or_default())
            .build()
            .map_err(|e| super::build_failed(OP, e))?;
        let out = p
            .servicediscovery
            .update_http_namespace()
            .id(&live.id)
            .namespace(change)
            .send()
            .await
            .map_err(|e| sdk_err(OP, e))?;
        let name = t.name.as_deref().unwrap_or(&t.logical);
        let what = format!("namespace `{name}` to be updated");
        match out.operation_id().filter(|o| !o.is_empty()) {
            Some(op) => {
                finished(p, OP, op, &what).await?;
            }
            // An answer without its operation (moto spells it
            // `operationId`): the change is done once the namespace shows it.
            None => {
                let want = spec.description.as_deref().filter(|d| !d.is_empty());
                super::wait(&p.opts, p.opts.wait_timeout, "servicediscovery:GetNamespace", &what, || async {
                    let n = get(p, &live.id).await?.ok_or_else(|| gone("servicediscovery:GetNamespace"))?;
                    Ok((n.description.as_deref().filter(|d| !d.is_empty()) == want).then_some(()))
                })
                .await?;
            }
        }
    }
    if has("tags") {
        tag(p, arn_of(live), &t.tags, &live.tags).await?;
    }
    let mut back = read_back(p, &live.id).await?;
    // What was set is what the namespace has, however soon it shows.
    if has("description") {
        back.fields.insert("description".into(), json!(spec.description.as_deref().filter(|d| !d.is_empty())));
    }
    Ok(back)
}

/// The services registered in a namespace, by name: what keeps it from
/// being deleted.
async fn services_in(p: &AwsProvider, id: &str) -> Result<Vec<String>, ProviderError> {
    const OP: &str = "servicediscovery:ListServices";
    let filter = ServiceFilter::builder()
        .name(ServiceFilterName::NamespaceId)
        .values(id)
        .build()
        .map_err(|e| super::build_failed(OP, e))?;
    let pages: Vec<_> = p
        .servicediscovery
        .list_services()
        .filters(filter)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| sdk_err(OP, e))?;
    Ok(pages.iter().flat_map(|page| page.services()).filter_map(|s| s.name().map(str::to_string)).collect())
}

/// Deletes the namespace: tried again while services are registered in it,
/// until the wait timeout (then it says which), and waits for the delete's
/// operation. One already gone is deleted.
async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
    const OP: &str = "servicediscovery:DeleteNamespace";
    let what = format!("namespace `{}`", d.name.as_deref().unwrap_or(&d.id));
    let last: Mutex<Option<ProviderError>> = Mutex::new(None);
    let started = super::wait(&p.opts, p.opts.wait_timeout, OP, &format!("{what} to have no services"), || async {
        let r = p.servicediscovery.delete_namespace().id(&d.id).send().await.map_err(|e| sdk_err(OP, e));
        match r {
            Ok(out) => Ok(Some(out.operation_id().map(str::to_string))),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(Some(None)),
            Err(e) if e.kind == ErrorKind::InUse => {
                *last.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    })
    .await;
    let operation = match started {
        Ok(op) => op,
        Err(e) if e.kind == ErrorKind::Wait => {
            let Some(last) = last.into_inner().unwrap_or_else(PoisonError::into_inner) else { return Err(e) };
            let after = crate::progress::human(p.opts.wait_timeout);
            let message = match services_in(p, &d.id).await {
                Ok(s) if !s.is_empty() => format!(
                    "{what} still has services registered after {after}: {} (ECS deletes the services Service Connect registered some time after the ECS service; run destroy again later): {}",
                    s.join(", "),
                    last.message
                ),
                _ => format!("{what} is still in use after {after}: {}", last.message),
            };
            return Err(ProviderError::new(ErrorKind::InUse, OP, message)
                .with_code(last.code.as_deref().unwrap_or("ResourceInUse")));
        }
        Err(e) => return Err(e),
    };
    let Some(op) = operation.filter(|o| !o.is_empty()) else { return Ok(()) };
    finished(p, OP, &op, &format!("{what} to be deleted")).await.map(|_| ())
}

/// Adds this stack's tags to a namespace that exists (it keeps its own).
async fn adopt(p: &AwsProvider, t: &Target, live: &Live) -> Result<Live, ProviderError> {
    let mut want = live.tags.clone();
    want.extend(t.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    tag(p, arn_of(live), &want, &live.tags).await?;
    read_back(p, &live.id).await
}

#[cfg(test)]
mod tests {
    use super::super::tests::{test_config, Scripted as Script};
    use super::*;
    use serde_json::Value;

    const ARN: &str = "arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-abc";

    fn scripted(script: &Script, wait_timeout: Duration) -> AwsProvider {
        let opts =
            crate::provider::ProviderOptions { poll: Duration::from_millis(1), wait_timeout, ..Default::default() };
        AwsProvider::from_config(&test_config(script.clone()), "us-east-1".into(), opts)
    }

    fn target(settings: &str) -> Target {
        let text = format!("stack: s\nresources:\n  ns:\n    kind: servicediscovery/http_namespace\n{settings}");
        let stack = crate::load::load_str("s.yaml", &text, &Default::default()).stack.expect("a stack");
        let state = crate::state::State::new("s", None);
        crate::plan::target(&stack, "ns", &Default::default(), &state).0
    }

    fn spec(t: &Target) -> &HttpNamespace {
        match &t.spec {
            crate::model::Spec::ServicediscoveryHttpNamespace(s) => s,
            other => panic!("{} is not a namespace", other.kind()),
        }
    }

    fn operation(status: &str, extra: Value) -> Value {
        let mut o = json!({"Id": "op-1", "Status": status, "Type": "CREATE_NAMESPACE"});
        o.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({"Operation": o})
    }

    fn namespace(description: Option<&str>) -> Value {
        json!({"Namespace": {"Id": "ns-abc", "Arn": ARN, "Name": "s-ns", "Type": "HTTP", "Description": description}})
    }

    fn deletion() -> Deletion {
        Deletion {
            logical: "ns".into(),
            kind: crate::model::Kind::ServicediscoveryHttpNamespace,
            id: "ns-abc".into(),
            name: Some("s-ns".into()),
            attrs: Default::default(),
            force: false,
        }
    }

    /// AWS answers a create with an operation that is pending for a while
    /// (moto's succeed at once): the create waits for it, then reads the
    /// namespace the operation names.
    #[tokio::test]
    async fn a_create_waits_for_its_pending_operation_and_reads_what_it_made() {
        let script = Script::default();
        script
            .answer("CreateHttpNamespace", 200, json!({"OperationId": "op-1"}))
            .answer("GetOperation", 400, json!({"__type": "OperationNotFound", "message": ""}))
            .answer("GetOperation", 200, operation("SUBMITTED", json!({})))
            .answer("GetOperation", 200, operation("PENDING", json!({})))
            .answer("GetOperation", 200, operation("SUCCESS", json!({"Targets": {"NAMESPACE": "ns-abc"}})))
            .answer("GetNamespace", 200, namespace(Some("orders")))
            .answer("ListTagsForResource", 200, json!({"Tags": [{"Key": "moor:stack", "Value": "s"}]}));
        let p = scripted(&script, Duration::from_secs(60));
        let t = target("    description: orders\n    tags: { team: web }\n");
        let live = create(&p, &t, spec(&t)).await.expect("created");
        assert_eq!(live.id, "ns-abc");
        assert_eq!(live.attrs["arn"], json!(ARN));
        assert_eq!(Value::Object(live.fields), json!({"name": "s-ns", "description": "orders"}));
        let ops = script.ops();
        assert_eq!(ops.iter().filter(|o| *o == "GetOperation").count(), 4, "{ops:?}");
        let sent = &script.requests()[0].1;
        assert_eq!((sent["Name"].as_str(), sent["Description"].as_str()), (Some("s-ns"), Some("orders")));
        let tags: BTreeMap<&str, &str> = sent["Tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["Key"].as_str().unwrap(), t["Value"].as_str().unwrap()))
            .collect();
        assert_eq!(tags, BTreeMap::from([("moor:resource", "ns"), ("moor:stack", "s"), ("team", "web")]));
    }

    #[tokio::test]
    async fn a_failed_operation_is_an_error_with_aws_reason() {
        let script = Script::default();
        script.answer("CreateHttpNamespace", 200, json!({"OperationId": "op-1"})).answer(
            "GetOperation",
            200,
            operation(
                "FAIL",
                json!({"ErrorCode": "CANNOT_CREATE_HOSTED_ZONE", "ErrorMessage": "The namespace name is taken"}),
            ),
        );
        let p = scripted(&script, Duration::from_secs(60));
        let t = target("");
        let e = create(&p, &t, spec(&t)).await.expect_err("failed");
        assert_eq!(e.operation, "servicediscovery:CreateHttpNamespace");
        assert_eq!(e.code.as_deref(), Some("CANNOT_CREATE_HOSTED_ZONE"));
        assert!(e.message.contains("op-1") && e.message.contains("The namespace name is taken"), "{e}");
    }

    /// A pending operation that outlasts the wait timeout fails the create
    /// with a wait error, never hangs.
    #[tokio::test]
    async fn an_operation_pending_past_the_wait_timeout_gives_up() {
        let script = Script::default();
        script.answer("CreateHttpNamespace", 200, json!({"OperationId": "op-1"})).answer(
            "GetOperation",
            200,
            operation("PENDING", json!({})),
        );
        let p = scripted(&script, Duration::from_millis(50));
        let t = target("");
        let e = create(&p, &t, spec(&t)).await.expect_err("gave up");
        assert_eq!(e.kind, ErrorKind::Wait, "{e}");
        assert!(e.message.contains("namespace `s-ns` to be created"), "{e}");
    }

    /// AWS refuses to delete a namespace while Cloud Map services remain in
    /// it (ECS deletes Service Connect's some time after the ECS service):
    /// the delete is tried again, then waits for its operation.
    #[tokio::test]
    async fn a_delete_is_retried_while_services_remain_then_awaited() {
        let in_use = json!({"__type": "ResourceInUse", "Message": "Namespace has associated services"});
        let script = Script::default();
        script
            .answer("DeleteNamespace", 400, in_use.clone())
            .answer("DeleteNamespace", 400, in_use)
            .answer("DeleteNamespace", 200, json!({"OperationId": "op-2"}))
            .answer("GetOperation", 200, operation("PENDING", json!({})))
            .answer("GetOperation", 200, operation("SUCCESS", json!({})));
        let p = scripted(&script, Duration::from_secs(60));
        delete(&p, &deletion()).await.expect("deleted");
        let ops = script.ops();
        assert_eq!(ops, ["DeleteNamespace", "DeleteNamespace", "DeleteNamespace", "GetOperation", "GetOperation"]);
        assert_eq!(script.requests()[0].1, json!({"Id": "ns-abc"}));
    }

    #[tokio::test]
    async fn a_delete_still_blocked_at_the_wait_timeout_names_the_services() {
        let in_use = json!({"__type": "ResourceInUse", "Message": "Namespace has associated services"});
        let script = Script::default();
        script.answer("DeleteNamespace", 400, in_use).answer(
            "ListServices",
            200,
            json!({"Services": [{"Id": "srv-1", "Name": "api"}, {"Id": "srv-2", "Name": "web"}]}),
        );
        let p = scripted(&script, Duration::from_millis(50));
        let e = delete(&p, &deletion()).await.expect_err("blocked");
        assert_eq!((e.kind, e.operation.as_str()), (ErrorKind::InUse, "servicediscovery:DeleteNamespace"));
        assert_eq!(e.code.as_deref(), Some("ResourceInUse"));
        assert!(e.message.contains("namespace `s-ns`") && e.message.contains("api, web"), "{e}");
        assert!(e.message.contains("Namespace has associated services"), "{e}");
        let listed = script.requests().into_iter().find(|(op, _)| op == "ListServices").expect("listed").1;
        assert_eq!(listed["Filters"][0]["Name"], "NAMESPACE_ID");
        assert_eq!(listed["Filters"][0]["Values"], json!(["ns-abc"]));
    }

    #[tokio::test]
    async fn a_namespace_already_gone_is_deleted() {
        let script = Script::default();
        script.answer("DeleteNamespace", 400, json!({"__type": "NamespaceNotFound", "Message": "ns-abc"}));
        let p = scripted(&script, Duration::from_secs(60));
        delete(&p, &deletion()).await.expect("gone is deleted");
        assert_eq!(script.ops(), ["DeleteNamespace"]);
    }

    /// Cloud Map wants a description in every update: one left out of the
    /// file is sent empty, and reads as none.
    #[tokio::test]
    async fn a_description_removed_is_sent_empty_and_awaited() {
        let script = Script::default();
        script
            .answer("UpdateHttpNamespace", 200, json!({"OperationId": "op-3"}))
            .answer("GetOperation", 200, operation("SUCCESS", json!({})))
            .answer("GetNamespace", 200, namespace(Some("")))
            .answer("ListTagsForResource", 200, json!({"Tags": []}));
        let p = scripted(&script, Duration::from_secs(60));
        let t = target("");
        let before = live_of(
            &Ns { id: "ns-abc".into(), arn: ARN.into(), name: "s-ns".into(), description: Some("old".into()) },
            Tags::new(),
        );
        let live = update(&p, &t, spec(&t), &before, &["description".into()]).await.expect("updated");
        assert_eq!(live.fields["description"], Value::Null);
        let sent = &script.requests()[0].1;
        assert_eq!((&sent["Id"], &sent["Namespace"]), (&json!("ns-abc"), &json!({"Description": ""})));
    }

    /// moto answers UpdateHttpNamespace with `operationId`, which the SDK
    /// does not read: the update then waits for the namespace to show it.
    #[tokio::test]
    async fn an_update_answered_without_its_operation_waits_for_the_namespace() {
        let script = Script::default();
        script
            .answer("UpdateHttpNamespace", 200, json!({"operationId": "op-3"}))
            .answer("GetNamespace", 200, namespace(Some("old")))
            .answer("GetNamespace", 200, namespace(Some("new")))
            .answer("ListTagsForResource", 200, json!({"Tags": []}));
        let p = scripted(&script, Duration::from_secs(60));
        let t = target("    description: new\n");
        let before = live_of(
            &Ns { id: "ns-abc".into(), arn: ARN.into(), name: "s-ns".into(), description: Some("old".into()) },
            Tags::new(),
        );
        let live = update(&p, &t, spec(&t), &before, &["description".into()]).await.expect("updated");
        assert_eq!(live.fields["description"], json!("new"));
        let ops = script.ops();
        assert!(!ops.contains(&"GetOperation".to_string()), "{ops:?}");
        assert_eq!(ops.iter().filter(|o| *o == "GetNamespace").count(), 3, "{ops:?}");
    }

    #[test]
    fn a_namespace_arn_gives_its_id() {
        let (kind, id) = super::super::discover::kind_of_arn(ARN).expect("a namespace");
        assert_eq!((kind, id.as_str()), (crate::model::Kind::ServicediscoveryHttpNamespace, "ns-abc"));
        // A Cloud Map service's ARN is not a namespace.
        assert!(super::super::discover::kind_of_arn("arn:aws:servicediscovery:us-east-1:123456789012:service/srv-1")
            .is_none());
    }
}
