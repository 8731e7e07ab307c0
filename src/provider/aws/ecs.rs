//! ECS: `ecs/cluster`, `ecs/task_definition` and `ecs/service`.
//!
//! - A cluster is found by ARN or name; an INACTIVE one is gone. Creating
//!   one waits until it is ACTIVE and its capacity providers are attached.
//! - A task definition is found by the ARN of a revision, or by family (its
//!   latest ACTIVE revision). Every change registers a new revision (the
//!   engine then retires the old one through [`delete`]); a change of tags
//!   alone re-tags the current revision.
//! - A service is found by ARN, or by cluster and name; INACTIVE (and, for
//!   the file's own resources, DRAINING) means gone. Create and update wait
//!   until the deployment moor started is the PRIMARY one, COMPLETED, with
//!   every task running; a rollback or a deployment whose tasks keep
//!   stopping fails the apply, with the tasks' stop reasons. Delete deletes
//!   with force (its tasks stop with it) and waits until the service is
//!   INACTIVE.
//!
//! ECS needs the service-linked role `AWSServiceRoleForECS`; the first
//! cluster or service of a fresh account fails without it, so [`with_slr`]
//! creates the role and retries.
//!
//! Live fields are projected onto the file's representation where they
//! mean the same (`"0.5 vCPU"` for AWS's `"512"`, a map for AWS's
//! environment list, `true` for `ENABLED`), and AWS's defaults fill what a
//! response leaves out, so "apply, then plan" shows no change.
//!
//! Reads describe many clusters, and many services of a cluster, per call
//! ([`read_many`]).

use super::kinds::{ArnType, AwsKind, AwsLookup, AwsManaged, Typed};
use super::permissions::{known, Grant, Phase, Scope};
use super::{eventually, found, iam_not_ready, opt_str, sdk_err, tag_map, wait, wait_paced, AwsProvider, Progress};
use crate::kinds::ecs::{
    Cluster, Container, Deployment, ExistingCluster, LaunchType, Logs, Network, PropagateTags, Rebalancing, Service,
    ServiceConnect, Strategy, TaskDefinition,
};
use crate::model::common::{Size, StrList, Tags};
use crate::provider::{Attrs, Deletion, ErrorKind, Fields, Live, ProviderError, Target};
use async_trait::async_trait;
use aws_sdk_ecs::types as et;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// What ECS's batched read ([`read_many`]) takes for one target.
pub(super) type Read<'a> = Ask<'a>;

// ---- the providers ------------------------------------------------------------

#[async_trait]
impl AwsKind for Cluster {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let cluster = cluster_arn(at, t.name.as_deref().unwrap_or("*"));
        let mut g = vec![
            Grant::any(Phase::Read, &["ecs:ListClusters"], "ECS lists clusters without a resource"),
            Grant::on(Phase::Read, &["ecs:DescribeClusters"], [cluster.clone()]),
            Grant::on(Phase::Create, &["ecs:CreateCluster"], [cluster.clone()]),
            Grant::on(Phase::Create, &["ecs:TagResource"], [cluster.clone()]).within(&["ecs:CreateCluster"]),
            service_linked_role(at),
            Grant::on(Phase::Update, &["ecs:UpdateCluster", "ecs:PutClusterCapacityProviders"], [cluster.clone()]),
            Grant::on(Phase::Tag, &["ecs:TagResource", "ecs:UntagResource"], [cluster.clone()]),
            Grant::on(Phase::Delete, &["ecs:DeleteCluster"], [cluster]),
        ];
        // A cluster holding its default namespace by name where the file
        // has the ARN is compared by the namespace's name.
        if t.spec.service_connect_defaults.is_some() {
            g.push(Grant::on(
                Phase::Read,
                &["servicediscovery:GetNamespace"],
                [at.arn("servicediscovery", "namespace/*")],
            ));
        }
        g
    }

    fn arn_pattern(t: Typed<'_, Self>, at: &Scope) -> Option<String> {
        Some(cluster_arn(at, t.name.as_deref()?))
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "ecs", resource: "cluster" });

    fn name_of_arn(resource: &str) -> Option<String> {
        resource.strip_prefix("cluster/").filter(|n| !n.is_empty()).map(str::to_string)
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        super::kinds::Read::Ecs(match ident(t.target.id.as_deref().or(t.target.name.as_deref())) {
            Some(key) => Ask::Cluster(key, Some(t.spec)),
            None => Ask::Done(Ok(None)),
        })
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        read_cluster(p, &d.id).await
    }
}

#[async_trait]
impl AwsManaged for Cluster {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        create_cluster(p, t.target, t.spec).await
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        update_cluster(p, t.target, t.spec, live, changed).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        delete_cluster(p, d).await
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        add_tags(p, t.target, live).await?;
        read_cluster(p, &live.id).await?.ok_or_else(adopted_gone)
    }
}

/// A cluster looked up by name: ACTIVE (or provisioning), read in the same
/// DescribeClusters batch as the file's own clusters.
#[async_trait]
impl AwsKind for ExistingCluster {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        vec![Grant::on(Phase::Read, &["ecs:DescribeClusters"], [existing_cluster_arn(t, at)])]
    }

    fn arn_pattern(t: Typed<'_, Self>, at: &Scope) -> Option<String> {
        Some(existing_cluster_arn(t, at))
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        super::kinds::Read::Ecs(match ident(Some(&t.spec.name)) {
            Some(key) => Ask::Cluster(key, None),
            None => Ask::Done(Ok(None)),
        })
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        read_cluster(p, &d.id).await
    }
}

impl AwsLookup for ExistingCluster {}

/// The looked-up cluster's ARN: the file's, or the one its name makes.
fn existing_cluster_arn(t: Typed<'_, ExistingCluster>, at: &Scope) -> String {
    if t.spec.name.starts_with("arn:") {
        t.spec.name.clone()
    } else {
        cluster_arn(at, &t.spec.name)
    }
}

#[async_trait]
impl AwsKind for TaskDefinition {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let family = at.arn("ecs", &format!("task-definition/{}:*", known(t.name.as_deref().unwrap_or("*"))));
        let why = "ECS registers, describes and deregisters task definitions without a resource";
        let mut g = vec![
            Grant::any(
                Phase::Read,
                &["ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions"],
                "ECS describes and lists task definitions without a resource",
            ),
            Grant::any(Phase::Create, &["ecs:RegisterTaskDefinition"], why),
            Grant::on(Phase::Create, &["ecs:TagResource"], [family.clone()]).within(&["ecs:RegisterTaskDefinition"]),
            Grant::on(Phase::Tag, &["ecs:TagResource", "ecs:UntagResource"], [family.clone()]),
            Grant::any(Phase::Delete, &["ecs:DeregisterTaskDefinition"], why),
            Grant::on(Phase::Delete, &["ecs:DeleteTaskDefinitions"], [family]),
        ];
        let roles: Vec<String> = [&t.spec.execution_role, &t.spec.task_role]
            .into_iter()
            .flatten()
            .map(|r| known(r).to_string())
            .map(|r| if r == "*" { at.global("iam", "role/*") } else { r })
            .collect();
        if !roles.is_empty() {
            g.push(
                Grant::on(Phase::Create, &["iam:PassRole"], roles)
                    .when("StringEquals", "iam:PassedToService", ["ecs-tasks.amazonaws.com".to_string()])
                    .within(&["ecs:RegisterTaskDefinition"]),
            );
        }
        let repos: Vec<String> = t.spec.containers.iter().filter_map(|c| image_repository_arn(&c.image, at)).collect();
        if !repos.is_empty() {
            g.push(Grant::on(Phase::Read, &["ecr:DescribeImages"], repos));
        }
        g
    }

    fn arn_pattern(t: Typed<'_, Self>, at: &Scope) -> Option<String> {
        Some(at.arn("ecs", &format!("task-definition/{}:*", known(t.name.as_deref()?))))
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "ecs", resource: "task-definition" });

    /// `task-definition/<family>:<revision>`: the family.
    fn name_of_arn(resource: &str) -> Option<String> {
        let family = resource.strip_prefix("task-definition/")?.split(':').next()?;
        (!family.is_empty()).then(|| family.to_string())
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        super::kinds::Read::Ecs(match ident(t.target.id.as_deref().or(t.target.name.as_deref())) {
            Some(key) => Ask::TaskDefinition(key, t.spec),
            None => Ask::Done(Ok(None)),
        })
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        let Some((td, tags)) = describe_td(p, &d.id).await? else { return Ok(None) };
        Ok(is_active(&td).then(|| td_live(&td, &tags, None)))
    }
}

#[async_trait]
impl AwsManaged for TaskDefinition {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        register(p, t.target, t.spec).await
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        if changed.iter().all(|f| f == "tags") {
            // Tags alone need no new revision.
            sync_tags(p, &live.id, &live.tags, &t.tags).await?;
            let back = read_task_definition(p, &live.id, Some(t.spec)).await?;
            return back.ok_or_else(|| gone_after("ecs:DescribeTaskDefinition", "the task definition revision"));
        }
        register(p, t.target, t.spec).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        delete_task_definition(p, d).await
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        add_tags(p, t.target, live).await?;
        read_task_definition(p, &live.id, Some(t.spec)).await?.ok_or_else(adopted_gone)
    }

    async fn unrecorded(
        p: &AwsProvider,
        d: &Deletion,
        stack: &str,
        known: &[String],
    ) -> Result<Vec<Live>, ProviderError> {
        unrecorded(p, d, stack, known).await
    }
}

#[async_trait]
impl AwsKind for Service {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let cluster = known(&t.spec.cluster);
        let cluster_name = cluster.rsplit('/').next().unwrap_or("*");
        let service = at.arn("ecs", &format!("service/{cluster_name}/{}", known(t.name.as_deref().unwrap_or("*"))));
        let mut g = vec![
            Grant::on(Phase::Read, &["ecs:DescribeServices"], [service.clone()]),
            Grant::any(
                Phase::Read,
                &["ecs:ListServices", "ecs:ListTasks"],
                "ECS lists a cluster's services and tasks without a resource",
            ),
            Grant::on(Phase::Create, &["ecs:CreateService"], [service.clone()]),
            Grant::on(Phase::Create, &["ecs:TagResource"], [service.clone()]).within(&["ecs:CreateService"]),
            service_linked_role(at),
            Grant::on(Phase::Update, &["ecs:UpdateService"], [service.clone()]),
            Grant::on(Phase::Tag, &["ecs:TagResource", "ecs:UntagResource"], [service.clone()]),
            Grant::on(Phase::Delete, &["ecs:DeleteService"], [service]),
            Grant::on(Phase::Wait, &["ecs:DescribeTasks"], [at.arn("ecs", &format!("task/{cluster_name}/*"))])
                .because("a deployment's tasks get their ids when ECS starts them"),
            Grant::any(
                Phase::Wait,
                &["elasticloadbalancing:DescribeTargetHealth"],
                "Elastic Load Balancing describes without a resource",
            ),
        ];
        // A service holding its namespace by name where the file has the
        // ARN (or the reverse) is compared by the namespace's name.
        if t.spec.service_connect.as_ref().is_some_and(|sc| sc.namespace.is_some()) {
            g.push(Grant::on(
                Phase::Read,
                &["servicediscovery:GetNamespace"],
                [at.arn("servicediscovery", "namespace/*")],
            ));
        }
        g
    }

    fn arn_pattern(t: Typed<'_, Self>, at: &Scope) -> Option<String> {
        let cluster = known(&t.spec.cluster);
        let cluster_name = cluster.rsplit('/').next().unwrap_or("*");
        Some(at.arn("ecs", &format!("service/{cluster_name}/{}", known(t.name.as_deref()?))))
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "ecs", resource: "service" });

    /// `service/<cluster>/<name>`, or the old `service/<name>`: the name.
    fn name_of_arn(resource: &str) -> Option<String> {
        resource.rsplit('/').next().filter(|n| !n.is_empty()).map(str::to_string)
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        let Typed { target: t, spec: s } = t;
        let which = match t.id.as_deref() {
            Some(id) => ident(Some(id)).and_then(|id| {
                let cluster = cluster_of_service_arn(id).or_else(|| ident(Some(&s.cluster)))?;
                Some((cluster.to_string(), id))
            }),
            None => match (ident(Some(&s.cluster)), ident(t.name.as_deref())) {
                (Some(cluster), Some(name)) => Some((cluster.to_string(), name)),
                _ => None,
            },
        };
        super::kinds::Read::Ecs(match which {
            Some((cluster, key)) => Ask::Service(cluster, key, s),
            None => Ask::Done(Ok(None)),
        })
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        let Some(cluster) = service_cluster(p, &d.id).await? else { return Ok(None) };
        let svc = describe_service(p, &cluster, &d.id).await?;
        Ok(svc.filter(|s| s.status() != Some("INACTIVE")).map(|s| service_live(&s, None)))
    }
}

#[async_trait]
impl AwsManaged for Service {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        create_service(p, t.target, t.spec).await
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        update_service(p, t.target, t.spec, live, changed).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        delete_service(p, d).await
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        add_tags(p, t.target, live).await?;
        let Some(cluster) = service_cluster(p, &live.id).await? else {
            return Err(gone_after("ecs:DescribeServices", "the service"));
        };
        let back = describe_service(p, &cluster, &live.id).await?.map(|svc| service_live(&svc, Some(t.spec)));
        back.ok_or_else(adopted_gone)
    }

    async fn settle(p: &AwsProvider, t: Typed<'_, Self>, live: &Live, redeploy: bool) -> Result<Live, ProviderError> {
        settle(p, t.target, t.spec, live, redeploy).await
    }
}

/// Adds this stack's tags to a resource's own (`moor import`).
async fn add_tags(p: &AwsProvider, t: &Target, live: &Live) -> Result<(), ProviderError> {
    let mut want = live.tags.clone();
    want.extend(t.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    sync_tags(p, &live.id, &live.tags, &want).await
}

fn adopted_gone() -> ProviderError {
    gone_after("ecs:TagResource", "the resource")
}

// ---- shared -------------------------------------------------------------------

/// An identifying value, unless it still waits for a reference.
fn ident(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty() && !s.contains("${"))
}

fn gone_after(op: &str, what: &str) -> ProviderError {
    ProviderError::new(ErrorKind::NotFound, op, format!("{what} was not found right after the call"))
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::Rejected, "moor:ecs", message)
}

fn build_err(e: aws_smithy_types::error::operation::BuildError) -> ProviderError {
    invalid(format!("could not build the request: {e}"))
}

/// The snake_case name serde gives an enum value (`fargate`, `enabled`, …).
fn serde_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn ecs_tags(tags: &Tags) -> Option<Vec<et::Tag>> {
    (!tags.is_empty()).then(|| tags.iter().map(|(k, v)| et::Tag::builder().key(k).value(v).build()).collect())
}

fn live_tags(tags: &[et::Tag]) -> Tags {
    tag_map(tags.iter().map(|t| (t.key(), t.value())))
}

/// Puts `want` on `arn`: removes what is no longer wanted, sets the rest.
async fn sync_tags(p: &AwsProvider, arn: &str, have: &Tags, want: &Tags) -> Result<(), ProviderError> {
    super::retag(
        want,
        have,
        |remove| async move {
            let r = p.ecs.untag_resource().resource_arn(arn).set_tag_keys(Some(remove)).send().await;
            r.map(|_| ()).map_err(|e| sdk_err("ecs:UntagResource", e))
        },
        |add| async move {
            let r = p.ecs.tag_resource().resource_arn(arn).set_tags(ecs_tags(&add)).send().await;
            r.map(|_| ()).map_err(|e| sdk_err("ecs:TagResource", e))
        },
    )
    .await
}

/// Whether ECS refused because its service-linked role does not exist yet.
fn slr_missing(e: &ProviderError) -> bool {
    let m = e.message.to_ascii_lowercase();
    m.contains("service linked role") || m.contains("service-linked role") || m.contains("awsservicerolefor")
}

/// Creates `AWSServiceRoleForECS`; one that exists already is fine.
async fn ensure_slr(p: &AwsProvider) -> Result<(), ProviderError> {
    match p.iam.create_service_linked_role().aws_service_name("ecs.amazonaws.com").send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = sdk_err("iam:CreateServiceLinkedRole", e);
            let taken = e.message.to_ascii_lowercase().contains("has been taken");
            match e.code.as_deref() {
                Some("EntityAlreadyExists") => Ok(()),
                Some("InvalidInput") if taken => Ok(()),
                _ => Err(e),
            }
        }
    }
}

/// Runs `call`, creating the ECS service-linked role when the call fails
/// for the want of it, and retrying while IAM catches up (and while `also`
/// says so).
async fn with_slr<T, F, Fut>(
    p: &AwsProvider,
    mut call: F,
    also: impl Fn(&ProviderError) -> bool,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let created = AtomicBool::new(false);
    let created = &created;
    eventually(
        || {
            let fut = call();
            async move {
                match fut.await {
                    Err(e) if slr_missing(&e) => {
                        if !created.swap(true, Ordering::SeqCst) {
                            ensure_slr(p).await?;
                        }
                        Err(e)
                    }
                    other => other,
                }
            }
        },
        |e| slr_missing(e) || iam_not_ready(e) || also(e),
    )
    .await
}

fn strategy_items(list: &[Strategy]) -> Result<Vec<et::CapacityProviderStrategyItem>, ProviderError> {
    list.iter()
        .map(|s| {
            et::CapacityProviderStrategyItem::builder()
                .capacity_provider(&s.provider)
                .set_weight(s.weight.map(|w| w as i32))
                .set_base(s.base.map(|b| b as i32))
                .build()
                .map_err(build_err)
        })
        .collect()
}

fn strategy_fields(list: &[et::CapacityProviderStrategyItem]) -> Value {
    Value::Array(
        list.iter()
            .map(|s| json!({"provider": s.capacity_provider(), "weight": s.weight(), "base": s.base()}))
            .collect(),
    )
}

/// A secret's live `valueFrom` in the file's form when both name the same
/// SSM parameter, one by name (in the task's region) and one by ARN.
fn same_parameter<'a>(given: Option<&'a str>, live: &'a str) -> &'a str {
    let Some(given) = given else { return live };
    let name_of = |arn: &str| -> Option<String> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [_, _, "ssm", _, _, resource] = parts[..] else { return None };
        resource.strip_prefix("parameter").filter(|r| r.starts_with('/')).map(str::to_string)
    };
    let plain = |name: &str| format!("/{}", name.trim_start_matches('/'));
    let same = match (name_of(given), name_of(live)) {
        (None, Some(l)) => crate::kinds::ecs::ssm_parameter_name(given) && plain(given) == l,
        (Some(g), None) => crate::kinds::ecs::ssm_parameter_name(live) && plain(live) == g,
        _ => false,
    };
    if same {
        given
    } else {
        live
    }
}

/// Secret ARNs (Secrets Manager, SSM parameters) in a message, replaced.
fn redact_secret_arns(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("arn:") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail.find(|c: char| c.is_whitespace() || "\"'`,;()[]{}<>".contains(c)).unwrap_or(tail.len());
        let token = &tail[..end];
        if token.contains(":secretsmanager:") || token.contains(":ssm:") {
            out.push_str("<secret ARN>");
        } else {
            out.push_str(token);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// An error without the given values (environment values, secret ARNs).
fn scrub(mut e: ProviderError, values: &[&str]) -> ProviderError {
    for v in values {
        if v.len() >= 4 {
            e.message = e.message.replace(v, "***");
        }
    }
    e.message = redact_secret_arns(&e.message);
    e
}

// ---- ecs/cluster ---------------------------------------------------------------

async fn describe_cluster(p: &AwsProvider, key: &str) -> Result<Option<et::Cluster>, ProviderError> {
    let out = p
        .ecs
        .describe_clusters()
        .clusters(key)
        .include(et::ClusterField::Tags)
        .include(et::ClusterField::Settings)
        .send()
        .await
        .map_err(|e| sdk_err("ecs:DescribeClusters", e));
    let Some(out) = found(out)? else { return Ok(None) };
    Ok(out.clusters.unwrap_or_default().into_iter().find(|c| c.status() != Some("INACTIVE")))
}

async fn read_cluster(p: &AwsProvider, key: &str) -> Result<Option<Live>, ProviderError> {
    Ok(describe_cluster(p, key).await?.map(|c| cluster_live(&c)))
}

fn cluster_live(c: &et::Cluster) -> Live {
    let arn = c.cluster_arn().unwrap_or_default().to_string();
    let name = c.cluster_name().unwrap_or_default().to_string();
    let insights = c
        .settings()
        .iter()
        .find(|s| s.name() == Some(&et::ClusterSettingName::ContainerInsights))
        .and_then(|s| s.value())
        .unwrap_or("disabled")
        .to_ascii_lowercase();
    let mut fields = Fields::new();
    fields.insert("name".into(), json!(name));
    fields.insert("container_insights".into(), json!(insights));
    // A cluster without capacity providers may leave both lists out.
    fields.insert("capacity_providers".into(), json!(c.capacity_providers()));
    fields.insert("default_strategy".into(), strategy_fields(c.default_capacity_provider_strategy()));
    // An empty namespace is how a removed default may read back.
    let defaults = c.service_connect_defaults().and_then(|d| d.namespace()).filter(|n| !n.is_empty());
    fields.insert("service_connect_defaults".into(), defaults.map_or(Value::Null, |n| json!({ "namespace": n })));
    let mut attrs = Attrs::new();
    attrs.insert("arn".into(), json!(arn));
    attrs.insert("name".into(), json!(name));
    Live { id: arn, fields, attrs, tags: live_tags(c.tags()), uid: None }
}

fn connect_defaults(namespace: &str) -> Result<et::ClusterServiceConnectDefaultsRequest, ProviderError> {
    et::ClusterServiceConnectDefaultsRequest::builder().namespace(namespace).build().map_err(build_err)
}

fn insights_setting(v: &crate::kinds::ecs::ContainerInsights) -> et::ClusterSetting {
    et::ClusterSetting::builder().name(et::ClusterSettingName::ContainerInsights).value(serde_name(v)).build()
}

async fn create_cluster(p: &AwsProvider, t: &Target, c: &Cluster) -> Result<Live, ProviderError> {
    let name = t.name.as_deref().ok_or_else(|| invalid("a cluster needs a name"))?;
    let mut req = p.ecs.create_cluster().cluster_name(name).set_tags(ecs_tags(&t.tags));
    if let Some(ci) = &c.container_insights {
        req = req.settings(insights_setting(ci));
    }
    if !c.capacity_providers.is_empty() {
        req = req.set_capacity_providers(Some(c.capacity_providers.clone()));
    }
    if !c.default_strategy.is_empty() {
        req = req.set_default_capacity_provider_strategy(Some(strategy_items(&c.default_strategy)?));
    }
    if let Some(d) = &c.service_connect_defaults {
        req = req.service_connect_defaults(connect_defaults(&d.namespace)?);
    }
    let out = with_slr(
        p,
        || {
            let r = req.clone();
            async move { r.send().await.map_err(|e| sdk_err("ecs:CreateCluster", e)) }
        },
        |_| false,
    )
    .await?;
    // A cluster CreateCluster answers as ACTIVE, with no capacity providers
    // still being attached, is ready as answered.
    if let Some(c) = out.cluster() {
        let attaching = matches!(c.attachments_status(), Some("UPDATE_IN_PROGRESS" | "UPDATE_FAILED"));
        if c.status() == Some("ACTIVE") && !attaching && c.cluster_arn().is_some() {
            let mut live = cluster_live(c);
            live.tags = t.tags.clone();
            return Ok(live);
        }
    }
    let arn = out.cluster().and_then(|c| c.cluster_arn()).unwrap_or(name).to_string();
    settle_cluster(p, &arn).await
}

/// Waits until the cluster is ACTIVE with its capacity providers attached.
async fn settle_cluster(p: &AwsProvider, arn: &str) -> Result<Live, ProviderError> {
    wait(&p.opts, p.opts.wait_timeout, "ecs:DescribeClusters", "the cluster to become ACTIVE", || async {
        let Some(c) = describe_cluster(p, arn).await? else { return Ok(None) };
        if c.status() == Some("FAILED") || c.attachments_status() == Some("UPDATE_FAILED") {
            return Err(ProviderError::new(
                ErrorKind::Rejected,
                "ecs:DescribeClusters",
                "the cluster's capacity providers could not be attached (status FAILED)",
            ));
        }
        let busy = c.status() != Some("ACTIVE") || c.attachments_status() == Some("UPDATE_IN_PROGRESS");
        Ok((!busy).then(|| cluster_live(&c)))
    })
    .await
}

async fn update_cluster(
    p: &AwsProvider,
    t: &Target,
    c: &Cluster,
    live: &Live,
    changed: &[String],
) -> Result<Live, ProviderError> {
    let has = |f: &str| changed.iter().any(|c| c == f);
    let arn = live.id.as_str();
    if has("container_insights") {
        if let Some(ci) = &c.container_insights {
            // UpdateCluster takes the same settings as UpdateClusterSettings
            // (which some endpoints do not implement).
            p.ecs
                .update_cluster()
                .cluster(arn)
                .settings(insights_setting(ci))
                .send()
                .await
                .map_err(|e| sdk_err("ecs:UpdateCluster", e))?;
        }
    }
    if has("service_connect_defaults") {
        // An empty namespace removes the default (the namespace stays).
        let ns = c.service_connect_defaults.as_ref().map_or("", |d| d.namespace.as_str());
        p.ecs
            .update_cluster()
            .cluster(arn)
            .service_connect_defaults(connect_defaults(ns)?)
            .send()
            .await
            .map_err(|e| sdk_err("ecs:UpdateCluster", e))?;
    }
    if has("capacity_providers") || has("default_strategy") {
        let req = p
            .ecs
            .put_cluster_capacity_providers()
            .cluster(arn)
            .set_capacity_providers(Some(c.capacity_providers.clone()))
            .set_default_capacity_provider_strategy(Some(strategy_items(&c.default_strategy)?));
        eventually(
            || {
                let r = req.clone();
                async move { r.send().await.map_err(|e| sdk_err("ecs:PutClusterCapacityProviders", e)) }
            },
            |e| e.code.as_deref() == Some("UpdateInProgressException"),
        )
        .await?;
    }
    if has("tags") {
        sync_tags(p, arn, &live.tags, &t.tags).await?;
    }
    settle_cluster(p, arn).await
}

async fn delete_cluster(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
    let arn = d.id.as_str();
    wait(&p.opts, p.opts.wait_timeout, "ecs:DeleteCluster", "the cluster's services and tasks to stop", || async {
        match p.ecs.delete_cluster().cluster(arn).send().await {
            Ok(_) => Ok(Some(())),
            Err(e) => {
                let e = sdk_err("ecs:DeleteCluster", e);
                match e.code.as_deref() {
                    _ if e.kind == ErrorKind::NotFound => Ok(Some(())),
                    Some("ClusterContainsTasksException" | "UpdateInProgressException") => Ok(None),
                    Some("ClusterContainsServicesException") => {
                        // Draining services leave by themselves; active ones
                        // belong to someone else.
                        let active = active_services(p, arn).await?;
                        if active.is_empty() {
                            Ok(None)
                        } else {
                            Err(ProviderError {
                                message: format!("the cluster still runs services: {}", active.join(", ")),
                                ..e
                            })
                        }
                    }
                    _ => Err(e),
                }
            }
        }
    })
    .await?;
    wait(&p.opts, p.opts.wait_timeout, "ecs:DescribeClusters", "the cluster to become INACTIVE", || async {
        Ok(describe_cluster(p, arn).await?.is_none().then_some(()))
    })
    .await
}

/// Names of the ACTIVE services of a cluster.
async fn active_services(p: &AwsProvider, cluster: &str) -> Result<Vec<String>, ProviderError> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let out = p
            .ecs
            .list_services()
            .cluster(cluster)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| sdk_err("ecs:ListServices", e))?;
        arns.extend(out.service_arns.unwrap_or_default());
        token = out.next_token;
        if token.is_none() {
            break;
        }
    }
    let mut active = Vec::new();
    for chunk in arns.chunks(10) {
        let out = p
            .ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_err("ecs:DescribeServices", e))?;
        for s in out.services() {
            if s.status() == Some("ACTIVE") {
                active.push(s.service_name().unwrap_or_default().to_string());
            }
        }
    }
    Ok(active)
}

// ---- ecs/task_definition -------------------------------------------------------

fn td_missing(e: &ProviderError) -> bool {
    let m = e.message.to_ascii_lowercase();
    e.kind == ErrorKind::NotFound
        || (e.code.as_deref() == Some("ClientException")
            && (m.contains("unable to describe") || m.contains("does not exist") || m.contains("revision is missing")))
}

fn is_active(td: &et::TaskDefinition) -> bool {
    td.status() == Some(&et::TaskDefinitionStatus::Active)
}

/// Notes a revision's container images ([`AwsProvider::revision_images`]).
fn note_images(p: &AwsProvider, td: &et::TaskDefinition) {
    let Some(arn) = td.task_definition_arn() else { return };
    let images = td.container_definitions().iter().filter_map(|c| c.image()).map(str::to_string).collect();
    p.revision_images.lock().unwrap_or_else(PoisonError::into_inner).insert(arn.to_string(), images);
}

async fn describe_td(p: &AwsProvider, key: &str) -> Result<Option<(et::TaskDefinition, Vec<et::Tag>)>, ProviderError> {
    match p.ecs.describe_task_definition().task_definition(key).include(et::TaskDefinitionField::Tags).send().await {
        Ok(o) => {
            if let Some(td) = &o.task_definition {
                note_images(p, td);
            }
            Ok(o.task_definition.map(|td| (td, o.tags.unwrap_or_default())))
        }
        Err(e) => {
            let e = sdk_err("ecs:DescribeTaskDefinition", e);
            if td_missing(&e) {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Family and revision of `family:rev` or a task definition ARN.
fn family_revision(key: &str) -> (&str, Option<u32>) {
    let short = key.rsplit_once("task-definition/").map_or(key, |(_, s)| s);
    match short.rsplit_once(':') {
        Some((f, r)) => (f, r.parse().ok()),
        None => (short, None),
    }
}

/// By revision (ARN or `family:rev`), or the family's latest ACTIVE revision.
async fn read_task_definition(
    p: &AwsProvider,
    key: &str,
    spec: Option<&TaskDefinition>,
) -> Result<Option<Live>, ProviderError> {
    let Some((td, tags)) = describe_td(p, key).await? else { return Ok(None) };
    if is_active(&td) {
        return Ok(Some(td_live(&td, &tags, spec)));
    }
    let (family, revision) = family_revision(key);
    if revision.is_some() {
        return Ok(None);
    }
    // Asked by family, the answer must be an ACTIVE revision.
    let best = active_revisions(p, family)
        .await?
        .into_iter()
        .filter_map(|arn| family_revision(&arn).1.map(|r| (r, arn.clone())))
        .max_by_key(|(r, _)| *r);
    let Some((_, arn)) = best else { return Ok(None) };
    let Some((td, tags)) = describe_td(p, &arn).await? else { return Ok(None) };
    Ok(is_active(&td).then(|| td_live(&td, &tags, spec)))
}

/// A live size in the file's form when both mean the same amount.
fn size_value(spec: Option<&Size>, live: Option<&str>, units: fn(&Size) -> Option<u32>) -> Value {
    let Some(l) = live else { return Value::Null };
    let lu = units(&Size::Text(l.to_string()));
    if let Some(s) = spec {
        if lu.is_some() && units(s) == lu {
            return serde_json::to_value(s).unwrap_or(Value::Null);
        }
    }
    lu.map_or_else(|| json!(l), |n| json!(n))
}

fn td_live(td: &et::TaskDefinition, tags: &[et::Tag], spec: Option<&TaskDefinition>) -> Live {
    let arn = td.task_definition_arn().unwrap_or_default().to_string();
    let family = td.family().unwrap_or_default().to_string();
    let compat: Vec<String> = td.requires_compatibilities().iter().map(|c| c.as_str().to_ascii_lowercase()).collect();
    let wanted = spec.map(|s| serde_name(&s.launch_type));
    let launch_type = match wanted {
        Some(w) if compat.contains(&w) => w,
        _ if compat.iter().any(|c| c == "fargate") => "fargate".into(),
        _ => compat.first().cloned().unwrap_or_else(|| "ec2".into()),
    };
    let mut fields = Fields::new();
    fields.insert("family".into(), json!(family));
    fields.insert("cpu".into(), size_value(spec.and_then(|s| s.cpu.as_ref()), td.cpu(), Size::cpu_units));
    fields.insert("memory".into(), size_value(spec.and_then(|s| s.memory.as_ref()), td.memory(), Size::memory_mib));
    fields.insert("launch_type".into(), json!(launch_type));
    fields.insert(
        "network_mode".into(),
        json!(td.network_mode().map_or("bridge".to_string(), |m| m.as_str().to_ascii_lowercase())),
    );
    fields.insert(
        "cpu_architecture".into(),
        json!(td
            .runtime_platform()
            .and_then(|r| r.cpu_architecture())
            .map_or("x86_64".to_string(), |a| a.as_str().to_ascii_lowercase())),
    );
    // AWS leaves `runtimePlatform` out of a revision registered without
    // one: Linux on x86_64.
    let platform = td.runtime_platform();
    fields.insert(
        "runtime_platform".into(),
        json!({
            "operating_system_family": platform
                .and_then(|r| r.operating_system_family())
                .map_or("LINUX", |f| f.as_str()),
            "cpu_architecture": platform
                .and_then(|r| r.cpu_architecture())
                .map_or("x86_64".to_string(), |a| a.as_str().to_ascii_lowercase()),
        }),
    );
    if let Some(e) = td.ephemeral_storage() {
        fields.insert("ephemeral_storage".into(), json!(e.size_in_gib()));
    }
    fields.insert("execution_role".into(), opt_str(td.execution_role_arn()));
    fields.insert("task_role".into(), opt_str(td.task_role_arn()));
    if !td.volumes().is_empty() {
        fields.insert("volumes".into(), Value::Array(td.volumes().iter().map(|v| volume_fields(v, spec)).collect()));
    }
    let containers: Vec<Value> = td
        .container_definitions()
        .iter()
        .map(|c| {
            let s = spec.and_then(|s| s.containers.iter().find(|x| Some(x.name.as_str()) == c.name()));
            container_fields(c, s)
        })
        .collect();
    fields.insert("containers".into(), Value::Array(containers));
    let mut attrs = Attrs::new();
    attrs.insert("arn".into(), json!(arn));
    attrs.insert("family".into(), json!(family));
    attrs.insert("revision".into(), json!(td.revision()));
    Live { id: arn, fields, attrs, tags: live_tags(tags), uid: None }
}

/// A volume in the file's form, AWS's defaults left out so that a file
/// that omits them reads the same: a host without a source path (what AWS
/// answers for a scratch volume), an EFS root directory of `/` (moto fills
/// it in), transit encryption and IAM `DISABLED`; each kept where the file
/// writes it out.
fn volume_fields(v: &et::Volume, spec: Option<&TaskDefinition>) -> Value {
    let given =
        spec.and_then(|s| s.volumes.iter().find(|x| Some(x.name.as_str()) == v.name())).and_then(|x| x.efs.as_ref());
    let mut o = Fields::new();
    o.insert("name".into(), opt_str(v.name()));
    if let Some(path) = v.host().and_then(|h| h.source_path()) {
        o.insert("host".into(), json!({ "source_path": path }));
    }
    if let Some(efs) = v.efs_volume_configuration() {
        let mut e = Fields::new();
        e.insert("file_system_id".into(), json!(efs.file_system_id()));
        let root = efs.root_directory().filter(|r| !r.is_empty()).unwrap_or("/");
        if root != "/" || given.is_some_and(|g| g.root_directory.is_some()) {
            e.insert("root_directory".into(), json!(root));
        }
        let toggle = |on: bool| json!(if on { "ENABLED" } else { "DISABLED" });
        let encrypted = efs.transit_encryption() == Some(&et::EfsTransitEncryption::Enabled);
        if encrypted || given.is_some_and(|g| g.transit_encryption.is_some()) {
            e.insert("transit_encryption".into(), toggle(encrypted));
        }
        if let Some(port) = efs.transit_encryption_port() {
            e.insert("transit_encryption_port".into(), json!(port));
        }
        if let Some(a) = efs.authorization_config() {
            let mut ao = Fields::new();
            if let Some(ap) = a.access_point_id() {
                ao.insert("access_point_id".into(), json!(ap));
            }
            let iam = a.iam() == Some(&et::EfsAuthorizationConfigIam::Enabled);
            if iam || given.and_then(|g| g.authorization_config.as_ref()).is_some_and(|g| g.iam.is_some()) {
                ao.insert("iam".into(), toggle(iam));
            }
            if !ao.is_empty() {
                e.insert("authorization_config".into(), Value::Object(ao));
            }
        }
        o.insert("efs".into(), Value::Object(e));
    }
    Value::Object(o)
}

/// Linux parameters in the file's form, without what is empty or AWS's
/// default (no init process, empty lists); `None` when nothing is left.
fn linux_fields(lp: &et::LinuxParameters) -> Option<Value> {
    let mut o = Fields::new();
    if lp.init_process_enabled() == Some(true) {
        o.insert("init_process_enabled".into(), json!(true));
    }
    if let Some(caps) = lp.capabilities() {
        let mut co = Fields::new();
        for (k, v) in [("add", caps.add()), ("drop", caps.drop())] {
            if !v.is_empty() {
                co.insert(k.into(), json!(v));
            }
        }
        if !co.is_empty() {
            o.insert("capabilities".into(), Value::Object(co));
        }
    }
    for (k, v) in
        [("shared_memory_size", lp.shared_memory_size()), ("max_swap", lp.max_swap()), ("swappiness", lp.swappiness())]
    {
        if let Some(v) = v {
            o.insert(k.into(), json!(v));
        }
    }
    if !lp.tmpfs().is_empty() {
        let tmpfs: Vec<Value> = lp
            .tmpfs()
            .iter()
            .map(|t| {
                let mut m = Fields::new();
                m.insert("container_path".into(), json!(t.container_path()));
                m.insert("size".into(), json!(t.size()));
                if !t.mount_options().is_empty() {
                    m.insert("mount_options".into(), json!(t.mount_options()));
                }
                Value::Object(m)
            })
            .collect();
        o.insert("tmpfs".into(), Value::Array(tmpfs));
    }
    if !lp.devices().is_empty() {
        let devices: Vec<Value> = lp
            .devices()
            .iter()
            .map(|d| {
                let mut m = Fields::new();
                m.insert("host_path".into(), json!(d.host_path()));
                if let Some(p) = d.container_path() {
                    m.insert("container_path".into(), json!(p));
                }
                if !d.permissions().is_empty() {
                    let perms: Vec<&str> = d.permissions().iter().map(|p| p.as_str()).collect();
                    m.insert("permissions".into(), json!(perms));
                }
                Value::Object(m)
            })
            .collect();
        o.insert("devices".into(), Value::Array(devices));
    }
    (!o.is_empty()).then_some(Value::Object(o))
}

fn container_fields(c: &et::ContainerDefinition, spec: Option<&Container>) -> Value {
    let mut m = Fields::new();
    m.insert("name".into(), opt_str(c.name()));
    m.insert("image".into(), opt_str(c.image()));
    // AWS's defaults (essential, cpu 0) only where the file says something.
    let essential = c.essential().unwrap_or(true);
    if spec.is_some_and(|s| s.essential.is_some()) || !essential {
        m.insert("essential".into(), json!(essential));
    }
    if spec.is_some_and(|s| s.cpu.is_some()) || c.cpu() != 0 {
        m.insert("cpu".into(), json!(c.cpu()));
    }
    if let Some(v) = c.memory() {
        m.insert("memory".into(), json!(v));
    }
    if let Some(v) = c.memory_reservation() {
        m.insert("memory_reservation".into(), json!(v));
    }
    if !c.port_mappings().is_empty() {
        let ports: Vec<Value> = c
            .port_mappings()
            .iter()
            .map(|pm| {
                let mut o = Fields::new();
                if let Some(v) = pm.container_port() {
                    o.insert("container_port".into(), json!(v));
                }
                if let Some(v) = pm.host_port() {
                    o.insert("host_port".into(), json!(v));
                }
                o.insert(
                    "protocol".into(),
                    json!(pm.protocol().map_or("tcp".to_string(), |x| x.as_str().to_ascii_lowercase())),
                );
                if let Some(v) = pm.name() {
                    o.insert("name".into(), json!(v));
                }
                if let Some(v) = pm.app_protocol() {
                    o.insert("app_protocol".into(), json!(v.as_str().to_ascii_lowercase()));
                }
                Value::Object(o)
            })
            .collect();
        m.insert("port_mappings".into(), Value::Array(ports));
    }
    if !c.environment().is_empty() {
        let env: BTreeMap<&str, &str> =
            c.environment().iter().filter_map(|kv| Some((kv.name()?, kv.value().unwrap_or("")))).collect();
        m.insert("environment".into(), json!(env));
    }
    if !c.secrets().is_empty() {
        let secrets: BTreeMap<&str, &str> = c
            .secrets()
            .iter()
            .map(|s| {
                let given = spec.and_then(|x| x.secrets.get(s.name())).map(String::as_str);
                (s.name(), same_parameter(given, s.value_from()))
            })
            .collect();
        m.insert("secrets".into(), json!(secrets));
    }
    if !c.command().is_empty() {
        m.insert("command".into(), json!(c.command()));
    }
    if !c.entry_point().is_empty() {
        m.insert("entry_point".into(), json!(c.entry_point()));
    }
    if let Some(v) = c.working_directory() {
        m.insert("working_directory".into(), json!(v));
    }
    if let Some(h) = c.health_check() {
        let mut o = Fields::new();
        o.insert("command".into(), json!(h.command()));
        for (k, v) in [
            ("interval", h.interval()),
            ("timeout", h.timeout()),
            ("retries", h.retries()),
            ("start_period", h.start_period()),
        ] {
            if let Some(v) = v {
                o.insert(k.into(), json!(v));
            }
        }
        m.insert("health_check".into(), Value::Object(o));
    }
    if let Some(v) = c.user() {
        m.insert("user".into(), json!(v));
    }
    if !c.depends_on().is_empty() {
        let deps: Vec<Value> = c
            .depends_on()
            .iter()
            .map(|d| json!({ "container": d.container_name(), "condition": d.condition().as_str().to_ascii_lowercase() }))
            .collect();
        m.insert("depends_on".into(), Value::Array(deps));
    }
    // AWS's default (false) only where the file says something.
    let readonly = c.readonly_root_filesystem().unwrap_or(false);
    if spec.is_some_and(|s| s.readonly_root_filesystem.is_some()) || readonly {
        m.insert("readonly_root_filesystem".into(), json!(readonly));
    }
    if !c.ulimits().is_empty() {
        let ulimits: Vec<Value> = c
            .ulimits()
            .iter()
            .map(|u| json!({ "name": u.name().as_str(), "soft": u.soft_limit(), "hard": u.hard_limit() }))
            .collect();
        m.insert("ulimits".into(), Value::Array(ulimits));
    }
    // `read_only: false` is AWS's default, left out; moto answers empty
    // lists for containers that have none.
    if !c.mount_points().is_empty() {
        let mounts: Vec<Value> = c
            .mount_points()
            .iter()
            .map(|mp| {
                let mut o = Fields::new();
                o.insert("source_volume".into(), opt_str(mp.source_volume()));
                o.insert("container_path".into(), opt_str(mp.container_path()));
                if mp.read_only() == Some(true) {
                    o.insert("read_only".into(), json!(true));
                }
                Value::Object(o)
            })
            .collect();
        m.insert("mount_points".into(), Value::Array(mounts));
    }
    if !c.volumes_from().is_empty() {
        let from: Vec<Value> = c
            .volumes_from()
            .iter()
            .map(|vf| {
                let mut o = Fields::new();
                o.insert("source_container".into(), opt_str(vf.source_container()));
                if vf.read_only() == Some(true) {
                    o.insert("read_only".into(), json!(true));
                }
                Value::Object(o)
            })
            .collect();
        m.insert("volumes_from".into(), Value::Array(from));
    }
    if let Some(lp) = c.linux_parameters().and_then(linux_fields) {
        m.insert("linux_parameters".into(), lp);
    }
    if let Some(logs) = c.log_configuration().and_then(awslogs_fields) {
        m.insert("logs".into(), logs);
    }
    Value::Object(m)
}

/// An awslogs log configuration in the file's form (a container's `logs`);
/// `None` for another driver.
fn awslogs_fields(lc: &et::LogConfiguration) -> Option<Value> {
    if lc.log_driver() != &et::LogDriver::Awslogs {
        return None;
    }
    let opts = lc.options();
    let opt = |k: &str| opts.and_then(|o| o.get(k)).map(String::as_str);
    let mut o = Fields::new();
    for (field, key) in [
        ("group", "awslogs-group"),
        ("stream_prefix", "awslogs-stream-prefix"),
        ("region", "awslogs-region"),
        ("mode", "mode"),
        ("max_buffer_size", "max-buffer-size"),
        ("datetime_format", "awslogs-datetime-format"),
        ("multiline_pattern", "awslogs-multiline-pattern"),
    ] {
        if let Some(v) = opt(key) {
            o.insert(field.into(), json!(v));
        }
    }
    o.insert("create_group".into(), json!(opt("awslogs-create-group").is_some_and(|v| v.eq_ignore_ascii_case("true"))));
    Some(Value::Object(o))
}

fn container_definition(p: &AwsProvider, c: &Container) -> Result<et::ContainerDefinition, ProviderError> {
    let n = |v: u32| v as i32;
    let mut b = et::ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .set_essential(c.essential)
        .set_memory(c.memory.map(n))
        .set_memory_reservation(c.memory_reservation.map(n))
        .set_working_directory(c.working_directory.clone());
    if let Some(cpu) = c.cpu {
        b = b.cpu(n(cpu));
    }
    if !c.port_mappings.is_empty() {
        let ports = c
            .port_mappings
            .iter()
            .map(|pm| {
                et::PortMapping::builder()
                    .container_port(n(pm.container_port))
                    .set_host_port(pm.host_port.map(n))
                    .set_protocol(pm.protocol.map(|x| et::TransportProtocol::from(serde_name(&x).as_str())))
                    .set_name(pm.name.clone())
                    .set_app_protocol(pm.app_protocol.map(|x| et::ApplicationProtocol::from(serde_name(&x).as_str())))
                    .build()
            })
            .collect();
        b = b.set_port_mappings(Some(ports));
    }
    if !c.environment.is_empty() {
        // Sorted by name (a BTreeMap), so the same file registers the same definition.
        let env = c.environment.iter().map(|(k, v)| et::KeyValuePair::builder().name(k).value(v).build()).collect();
        b = b.set_environment(Some(env));
    }
    if !c.secrets.is_empty() {
        let secrets = c
            .secrets
            .iter()
            .map(|(k, v)| et::Secret::builder().name(k).value_from(v).build().map_err(build_err))
            .collect::<Result<Vec<_>, _>>()?;
        b = b.set_secrets(Some(secrets));
    }
    if !c.command.is_empty() {
        b = b.set_command(Some(c.command.clone()));
    }
    if !c.entry_point.is_empty() {
        b = b.set_entry_point(Some(c.entry_point.clone()));
    }
    if let Some(h) = &c.health_check {
        let hc = et::HealthCheck::builder()
            .set_command(Some(h.command.clone()))
            .set_interval(h.interval.map(n))
            .set_timeout(h.timeout.map(n))
            .set_retries(h.retries.map(n))
            .set_start_period(h.start_period.map(n))
            .build()
            .map_err(build_err)?;
        b = b.health_check(hc);
    }
    b = b.set_user(c.user.clone()).set_readonly_root_filesystem(c.readonly_root_filesystem);
    for u in &c.ulimits {
        b = b.ulimits(
            et::Ulimit::builder()
                .name(et::UlimitName::from(serde_name(&u.name).as_str()))
                .soft_limit(u.soft.min(i32::MAX as u32) as i32)
                .hard_limit(u.hard.min(i32::MAX as u32) as i32)
                .build()
                .map_err(build_err)?,
        );
    }
    for mp in &c.mount_points {
        b = b.mount_points(
            et::MountPoint::builder()
                .source_volume(&mp.source_volume)
                .container_path(&mp.container_path)
                .set_read_only(mp.read_only)
                .build(),
        );
    }
    for vf in &c.volumes_from {
        b = b.volumes_from(
            et::VolumeFrom::builder().source_container(&vf.source_container).set_read_only(vf.read_only).build(),
        );
    }
    if let Some(lp) = &c.linux_parameters {
        b = b.linux_parameters(linux_parameters(lp)?);
    }
    for d in &c.depends_on {
        let condition = et::ContainerCondition::from(serde_name(&d.condition).to_ascii_uppercase().as_str());
        b = b.depends_on(
            et::ContainerDependency::builder()
                .container_name(&d.container)
                .condition(condition)
                .build()
                .map_err(build_err)?,
        );
    }
    if let Some(l) = &c.logs {
        b = b.log_configuration(awslogs(p, l)?);
    }
    Ok(b.build())
}

/// The awslogs log configuration of a container's `logs` (or of a Service
/// Connect proxy's): the stack's region unless the file names one.
fn awslogs(p: &AwsProvider, l: &Logs) -> Result<et::LogConfiguration, ProviderError> {
    let mut lc = et::LogConfiguration::builder()
        .log_driver(et::LogDriver::Awslogs)
        .options("awslogs-group", &l.group)
        .options("awslogs-region", l.region.as_deref().unwrap_or(&p.region));
    if let Some(prefix) = &l.stream_prefix {
        lc = lc.options("awslogs-stream-prefix", prefix);
    }
    if l.create_group {
        lc = lc.options("awslogs-create-group", "true");
    }
    if let Some(mode) = &l.mode {
        lc = lc.options("mode", serde_name(mode));
    }
    for (key, v) in [
        ("max-buffer-size", &l.max_buffer_size),
        ("awslogs-datetime-format", &l.datetime_format),
        ("awslogs-multiline-pattern", &l.multiline_pattern),
    ] {
        if let Some(v) = v {
            lc = lc.options(key, v);
        }
    }
    lc.build().map_err(build_err)
}

fn linux_parameters(lp: &crate::kinds::ecs::LinuxParameters) -> Result<et::LinuxParameters, ProviderError> {
    let n = |v: u32| v.min(i32::MAX as u32) as i32;
    let mut b = et::LinuxParameters::builder()
        .set_init_process_enabled(lp.init_process_enabled)
        .set_shared_memory_size(lp.shared_memory_size.map(n))
        .set_max_swap(lp.max_swap.map(n))
        .set_swappiness(lp.swappiness.map(n));
    if let Some(caps) = &lp.capabilities {
        let mut k = et::KernelCapabilities::builder();
        if !caps.add.is_empty() {
            k = k.set_add(Some(caps.add.clone()));
        }
        if !caps.drop.is_empty() {
            k = k.set_drop(Some(caps.drop.clone()));
        }
        b = b.capabilities(k.build());
    }
    for t in &lp.tmpfs {
        let mut tb = et::Tmpfs::builder().container_path(&t.container_path).size(n(t.size));
        if !t.mount_options.is_empty() {
            tb = tb.set_mount_options(Some(t.mount_options.clone()));
        }
        b = b.tmpfs(tb.build().map_err(build_err)?);
    }
    for d in &lp.devices {
        let mut db = et::Device::builder().host_path(&d.host_path).set_container_path(d.container_path.clone());
        for p in &d.permissions {
            db = db.permissions(et::DeviceCgroupPermission::from(serde_name(p).as_str()));
        }
        b = b.devices(db.build().map_err(build_err)?);
    }
    Ok(b.build())
}

fn volume(v: &crate::kinds::ecs::Volume) -> Result<et::Volume, ProviderError> {
    let mut b = et::Volume::builder().name(&v.name);
    if let Some(h) = &v.host {
        b = b.host(et::HostVolumeProperties::builder().source_path(&h.source_path).build());
    }
    if let Some(efs) = &v.efs {
        let toggle = |t: crate::kinds::ecs::Toggle| serde_name(&t);
        let auth = efs.authorization_config.as_ref().map(|a| {
            et::EfsAuthorizationConfig::builder()
                .set_access_point_id(a.access_point_id.clone())
                .set_iam(a.iam.map(|t| et::EfsAuthorizationConfigIam::from(toggle(t).as_str())))
                .build()
        });
        let cfg = et::EfsVolumeConfiguration::builder()
            .file_system_id(&efs.file_system_id)
            .set_root_directory(efs.root_directory.clone())
            .set_transit_encryption(efs.transit_encryption.map(|t| et::EfsTransitEncryption::from(toggle(t).as_str())))
            .set_transit_encryption_port(efs.transit_encryption_port.map(|p| p as i32))
            .set_authorization_config(auth)
            .build()
            .map_err(build_err)?;
        b = b.efs_volume_configuration(cfg);
    }
    Ok(b.build())
}

/// Registers a revision of the family with the file's settings.
async fn register(p: &AwsProvider, t: &Target, td: &TaskDefinition) -> Result<Live, ProviderError> {
    let family = t.name.as_deref().ok_or_else(|| invalid("a task definition needs a family"))?;
    // Either may be left out on EC2; one given must be a size.
    let (cpu, memory) = td.sizes();
    if (td.cpu.is_some() && cpu.is_none()) || (td.memory.is_some() && memory.is_none()) {
        return Err(invalid("the task's cpu and memory must be sizes like 256 or \"0.5 vCPU\", 512 or \"1 GB\""));
    }
    let compat = match td.launch_type {
        LaunchType::Fargate => et::Compatibility::Fargate,
        LaunchType::Ec2 => et::Compatibility::Ec2,
    };
    let mut req = p
        .ecs
        .register_task_definition()
        .family(family)
        .set_cpu(cpu.map(|v| v.to_string()))
        .set_memory(memory.map(|v| v.to_string()))
        .network_mode(et::NetworkMode::from(serde_name(&td.network_mode).as_str()))
        .requires_compatibilities(compat)
        .set_execution_role_arn(td.execution_role.clone())
        .set_task_role_arn(td.task_role.clone())
        .set_tags(ecs_tags(&t.tags));
    // Linux unless the file names another family.
    if td.architecture().is_some() || td.os_family().is_some() {
        let arch = td.architecture().map(|a| et::CpuArchitecture::from(serde_name(&a).to_ascii_uppercase().as_str()));
        let os = td.os_family().map_or(et::OsFamily::Linux, |f| et::OsFamily::from(serde_name(&f).as_str()));
        req = req.runtime_platform(
            et::RuntimePlatform::builder().set_cpu_architecture(arch).operating_system_family(os).build(),
        );
    }
    if let Some(gib) = td.ephemeral_storage {
        req = req.ephemeral_storage(et::EphemeralStorage::builder().size_in_gib(gib as i32).build());
    }
    for v in &td.volumes {
        req = req.volumes(volume(v)?);
    }
    for c in &td.containers {
        req = req.container_definitions(container_definition(p, c)?);
    }
    // Nothing of the environment or the secrets' ARNs goes into an error.
    let mut hidden: Vec<&str> = td
        .containers
        .iter()
        .flat_map(|c| c.environment.values().chain(c.secrets.values()))
        .map(String::as_str)
        .collect();
    // A URL's password may be quoted alone.
    let passwords: Vec<&str> =
        hidden.iter().flat_map(|v| crate::secret::url_passwords(v).into_iter().map(move |(a, b)| &v[a..b])).collect();
    hidden.extend(passwords);
    // Every request sent, over the tries of `eventually` too: one whose
    // answer was lost may have registered a revision all the same.
    let sent = super::Sent::default();
    let registered = eventually(
        || {
            let r = req.clone().customize().interceptor(sent.clone());
            async move { r.send().await.map_err(|e| sdk_err("ecs:RegisterTaskDefinition", e)) }
        },
        iam_not_ready,
    );
    let (out, ()) = futures::join!(registered, look_for_images(p, td));
    let out = out.map_err(|e| scrub(e, &hidden))?;
    // The revision as registered: RegisterTaskDefinition answers with all of
    // it, so it is not read back (one round less per create or update).
    let new = out
        .task_definition()
        .filter(|x| x.task_definition_arn().is_some())
        .ok_or_else(|| gone_after("ecs:RegisterTaskDefinition", "the new revision"))?;
    note_images(p, new);
    let mut live = td_live(new, out.tags(), Some(td));
    live.tags = t.tags.clone();
    // One request, answered: nothing else was registered (no round more
    // before the service can deploy the revision).
    if sent.count() > 1 {
        retire_lost_registrations(p, t, family, new.revision()).await;
    }
    Ok(live)
}

/// Revisions an earlier attempt of this registration left: the SDK retries
/// a RegisterTaskDefinition whose answer was lost, and ECS, without an
/// idempotency token, registers again. Looked for only when the
/// registration sent more than one request. They are the family's ACTIVE
/// revisions numbered after the recorded one and before `new`, with this
/// resource's tags; they are deregistered now (one ListTaskDefinitions; a
/// describe only of revisions in that range, usually none). Best effort:
/// what this misses (AWS's listing lags), the next plan finds.
async fn retire_lost_registrations(p: &AwsProvider, t: &Target, family: &str, new: i32) {
    let after = t.id.as_deref().and_then(|id| family_revision(id).1).unwrap_or(0);
    let Ok(new) = u32::try_from(new) else { return };
    let Ok(out) = p
        .ecs
        .list_task_definitions()
        .family_prefix(family)
        .status(et::TaskDefinitionStatus::Active)
        .sort(et::SortOrder::Desc)
        .send()
        .await
    else {
        return;
    };
    let between: Vec<String> = out
        .task_definition_arns()
        .iter()
        .filter(|a| matches!(family_revision(a), (f, Some(r)) if f == family && r > after && r < new))
        .cloned()
        .collect();
    for arn in between {
        let Ok(Some((td, tags))) = describe_td(p, &arn).await else { continue };
        let live = td_live(&td, &tags, None);
        if is_active(&td) && live.owned_by(&t.stack, &t.logical) {
            let d = Deletion {
                logical: t.logical.clone(),
                kind: t.kind,
                id: arn,
                name: Some(family.to_string()),
                attrs: live.attrs,
                force: false,
            };
            let _ = delete_task_definition(p, &d).await;
        }
    }
}

/// The ARNs of a family's ACTIVE revisions (of that family exactly: the
/// listing matches by prefix), every page of them.
pub(super) async fn active_revisions(p: &AwsProvider, family: &str) -> Result<Vec<String>, ProviderError> {
    let mut pages = p
        .ecs
        .list_task_definitions()
        .family_prefix(family)
        .status(et::TaskDefinitionStatus::Active)
        .into_paginator()
        .send();
    let mut arns = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_err("ecs:ListTaskDefinitions", e))?;
        arns.extend(page.task_definition_arns().iter().filter(|a| family_revision(a).0 == family).cloned());
    }
    Ok(arns)
}

/// The family's ACTIVE revisions that carry the tags moor gives every
/// revision it registers for this stack's logical resource (`d.logical`),
/// other than those in `known`: one ListTaskDefinitions (paginated), then a
/// DescribeTaskDefinition with tags for each revision not known, all at the
/// same time. Revisions without these tags are never returned.
async fn unrecorded(p: &AwsProvider, d: &Deletion, stack: &str, known: &[String]) -> Result<Vec<Live>, ProviderError> {
    let Some(family) = d.name.as_deref().filter(|f| !f.is_empty()) else { return Ok(Vec::new()) };
    let mut arns = active_revisions(p, family).await?;
    arns.retain(|arn| !known.iter().any(|k| k == arn));
    let reads = futures::future::join_all(arns.iter().map(|a| describe_td(p, a))).await;
    let mut out = Vec::new();
    for read in reads {
        let Some((td, tags)) = read? else { continue };
        let live = td_live(&td, &tags, None);
        if is_active(&td) && live.owned_by(stack, &d.logical) {
            out.push(live);
        }
    }
    Ok(out)
}

async fn delete_task_definition(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
    match p.ecs.deregister_task_definition().task_definition(&d.id).send().await {
        Ok(_) => {}
        Err(e) => {
            let e = sdk_err("ecs:DeregisterTaskDefinition", e);
            if td_missing(&e) {
                return Ok(());
            }
            if !e.message.to_ascii_lowercase().contains("inactive") {
                return Err(e);
            }
        }
    }
    // Deleting the INACTIVE revision is optional cleanup: an endpoint or a
    // policy without DeleteTaskDefinitions leaves it INACTIVE, which is gone
    // as far as moor is concerned.
    let _ = p.ecs.delete_task_definitions().task_definitions(&d.id).send().await;
    Ok(())
}

// ---- ecs/service ----------------------------------------------------------------

/// The cluster name in a service ARN of the long form
/// (`arn:aws:ecs:<region>:<account>:service/<cluster>/<name>`).
fn cluster_of_service_arn(arn: &str) -> Option<&str> {
    let (_, rest) = arn.split_once(":service/")?;
    let (cluster, _) = rest.split_once('/')?;
    Some(cluster)
}

/// The cluster of a recorded service: from its ARN, or by looking.
async fn service_cluster(p: &AwsProvider, arn: &str) -> Result<Option<String>, ProviderError> {
    if let Some(c) = cluster_of_service_arn(arn) {
        return Ok(Some(c.to_string()));
    }
    if !arn.starts_with("arn:") {
        return Ok(None);
    }
    // A short-form ARN does not name its cluster.
    let mut token = None;
    loop {
        let out =
            p.ecs.list_clusters().set_next_token(token).send().await.map_err(|e| sdk_err("ecs:ListClusters", e))?;
        for c in out.cluster_arns() {
            if describe_service(p, c, arn).await?.is_some() {
                return Ok(Some(c.clone()));
            }
        }
        token = out.next_token;
        if token.is_none() {
            return Ok(None);
        }
    }
}

async fn describe_service(p: &AwsProvider, cluster: &str, key: &str) -> Result<Option<et::Service>, ProviderError> {
    let out = p
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(key)
        .include(et::ServiceField::Tags)
        .send()
        .await
        .map_err(|e| sdk_err("ecs:DescribeServices", e));
    let Some(out) = found(out)? else { return Ok(None) };
    Ok(out.services.unwrap_or_default().into_iter().next())
}

/// The file's cluster reference when it names the live cluster.
fn cluster_value(spec: Option<&str>, live: &str) -> Value {
    if let Some(s) = spec {
        let same = if s.starts_with("arn:") { s == live } else { live.rsplit('/').next() == Some(s) };
        if same {
            return json!(s);
        }
    }
    json!(live)
}

/// The file's task definition reference when it names the live revision
/// (an ARN, `family:revision`, or a family for its latest revision).
fn task_definition_value(spec: Option<&str>, live: &str) -> Value {
    if let Some(s) = spec {
        let (sf, sr) = family_revision(s);
        let (lf, lr) = family_revision(live);
        if s == live || (sf == lf && (sr.is_none() || sr == lr)) {
            return json!(s);
        }
    }
    json!(live)
}

/// Whether the live revision `live` is what the file's `spec` names (an ARN,
/// `family:revision`, or a family for its latest revision).
fn same_task_definition(live: Option<&str>, spec: &str) -> bool {
    let (sf, sr) = family_revision(spec);
    live.is_some_and(|l| {
        let (lf, lr) = family_revision(l);
        l == spec || (lf == sf && (sr.is_none() || sr == lr))
    })
}

fn service_live(s: &et::Service, spec: Option<&Service>) -> Live {
    let arn = s.service_arn().unwrap_or_default().to_string();
    let name = s.service_name().unwrap_or_default().to_string();
    let mut fields = Fields::new();
    fields.insert("name".into(), json!(name));
    fields
        .insert("cluster".into(), cluster_value(spec.map(|x| x.cluster.as_str()), s.cluster_arn().unwrap_or_default()));
    fields.insert(
        "task_definition".into(),
        task_definition_value(spec.map(|x| x.task_definition.as_str()), s.task_definition().unwrap_or_default()),
    );
    fields.insert("desired_count".into(), json!(s.desired_count()));
    fields
        .insert("launch_type".into(), s.launch_type().map_or(Value::Null, |l| json!(l.as_str().to_ascii_lowercase())));
    fields.insert("capacity_provider_strategy".into(), strategy_fields(s.capacity_provider_strategy()));
    fields.insert("platform_version".into(), opt_str(s.platform_version()));
    let network = s.network_configuration().and_then(|n| n.awsvpc_configuration()).map_or(Value::Null, |v| {
        json!({
            "subnets": v.subnets(),
            "security_groups": v.security_groups(),
            "assign_public_ip": v.assign_public_ip() == Some(&et::AssignPublicIp::Enabled),
        })
    });
    fields.insert("network".into(), network);
    let lbs: Vec<Value> = s
        .load_balancers()
        .iter()
        .map(|lb| {
            json!({
                "target_group": lb.target_group_arn().unwrap_or_default(),
                "container": lb.container_name().unwrap_or_default(),
                "port": lb.container_port().unwrap_or_default(),
            })
        })
        .collect();
    fields.insert("load_balancers".into(), Value::Array(lbs));
    fields.insert("health_check_grace_period".into(), json!(s.health_check_grace_period_seconds().unwrap_or(0)));
    // AWS's defaults where the response leaves the configuration out.
    let dc = s.deployment_configuration();
    let cb = dc.and_then(|d| d.deployment_circuit_breaker());
    fields.insert(
        "deployment".into(),
        json!({
            "circuit_breaker": {"enable": cb.is_some_and(|c| c.enable()), "rollback": cb.is_some_and(|c| c.rollback())},
            "min_healthy_percent": dc.and_then(|d| d.minimum_healthy_percent()).unwrap_or(100),
            "max_percent": dc.and_then(|d| d.maximum_percent()).unwrap_or(200),
        }),
    );
    fields.insert("enable_execute_command".into(), json!(s.enable_execute_command()));
    fields.insert("enable_ecs_managed_tags".into(), json!(s.enable_ecs_managed_tags()));
    // AWS leaves out propagateTags when it is NONE.
    fields.insert("propagate_tags".into(), json!(s.propagate_tags().map_or("NONE", |t| t.as_str())));
    // A service that never had a setting is not rebalanced (AWS's answer
    // for an update without one); a service created since it exists has
    // one, ENABLED by default.
    fields.insert(
        "availability_zone_rebalancing".into(),
        json!(s.availability_zone_rebalancing().map_or("DISABLED", |r| r.as_str())),
    );
    fields.insert(
        "service_connect".into(),
        connect_fields(
            primary(s).and_then(|d| d.service_connect_configuration()),
            spec.and_then(|x| x.service_connect.as_ref()),
        ),
    );
    // How moor waits is not an AWS setting: it is whatever the file says.
    if let Some(w) = spec.and_then(|x| x.wait.as_ref()) {
        fields.insert("wait".into(), serde_json::to_value(w).unwrap_or(Value::Null));
    }
    fields.insert(crate::provider::DEPLOYMENT_STATE.into(), deployment_state(s));
    let mut attrs = Attrs::new();
    attrs.insert("arn".into(), json!(arn));
    attrs.insert("name".into(), json!(name));
    let uid = s.created_at().and_then(|t| t.to_millis().ok()).map(|ms| ms.to_string());
    Live { id: arn, fields, attrs, tags: live_tags(s.tags()), uid }
}

/// Whether a service read as `live` had settled (see [`deployment_state`]).
fn settled(live: &Live) -> bool {
    live.fields
        .get(crate::provider::DEPLOYMENT_STATE)
        .and_then(|d| d.get("settled"))
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// Where the service's deployment stands, judged as [`wait_stable`] judges
/// it (the PRIMARY deployment, of the revision the service runs), with the
/// counts and the newest events of the DescribeServices answer.
fn deployment_state(s: &et::Service) -> Value {
    let (verdict, _) = deployment_verdict(s, None, s.task_definition().unwrap_or_default());
    let d = primary(s);
    let events: Vec<String> = s.events().iter().take(3).filter_map(|e| e.message()).map(redact_secret_arns).collect();
    json!({
        "settled": verdict == Verdict::Done,
        "failed": match verdict { Verdict::Failed(why) => Value::String(why), _ => Value::Null },
        "running": s.running_count(),
        "desired": s.desired_count(),
        "pending": s.pending_count(),
        "failed_tasks": d.map_or(0, |d| d.failed_tasks()),
        "rollout": d.and_then(|d| d.rollout_state()).map(|r| r.as_str().to_string()),
        "rollout_reason": d.and_then(|d| d.rollout_state_reason()).map(redact_secret_arns),
        "deployments": s.deployments().len(),
        "events": events,
    })
}

fn network_configuration(n: &Network) -> Result<et::NetworkConfiguration, ProviderError> {
    let list = |l: &StrList, what: &str| {
        l.items()
            .map(<[String]>::to_vec)
            .ok_or_else(|| invalid(format!("the service's {what} are not resolved to a list")))
    };
    let subnets = list(&n.subnets, "subnets")?;
    let groups = list(&n.security_groups, "security groups")?;
    let vpc = et::AwsVpcConfiguration::builder()
        .set_subnets(Some(subnets))
        .set_security_groups((!groups.is_empty()).then_some(groups))
        .assign_public_ip(if n.assign_public_ip { et::AssignPublicIp::Enabled } else { et::AssignPublicIp::Disabled })
        .build()
        .map_err(build_err)?;
    Ok(et::NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
}

fn load_balancers(s: &Service) -> Vec<et::LoadBalancer> {
    s.load_balancers
        .iter()
        .map(|lb| {
            et::LoadBalancer::builder()
                .target_group_arn(&lb.target_group)
                .container_name(&lb.container)
                .container_port(lb.port as i32)
                .build()
        })
        .collect()
}

fn deployment_configuration(d: &Deployment) -> et::DeploymentConfiguration {
    let mut b = et::DeploymentConfiguration::builder()
        .set_maximum_percent(d.max_percent.map(|v| v as i32))
        .set_minimum_healthy_percent(d.min_healthy_percent.map(|v| v as i32));
    if let Some(cb) = &d.circuit_breaker {
        b = b.deployment_circuit_breaker(
            et::DeploymentCircuitBreaker::builder().enable(cb.enable).rollback(cb.rollback).build(),
        );
    }
    b.build()
}

/// A service's Service Connect configuration in the file's form, from its
/// PRIMARY deployment (where DescribeServices puts it: the service itself
/// has none). None, or one turned off, is `{enabled: false}`. A discovery
/// name or client alias AWS reports as its default (the port name; the
/// discovery name in the namespace) reads as the file's when the file
/// leaves it out.
fn connect_fields(c: Option<&et::ServiceConnectConfiguration>, spec: Option<&ServiceConnect>) -> Value {
    let Some(c) = c.filter(|c| c.enabled()) else { return json!({"enabled": false}) };
    let services: Vec<Value> = c
        .services()
        .iter()
        .map(|s| {
            let given = spec.and_then(|sc| sc.services.iter().find(|x| x.port_name == s.port_name()));
            let discovery = s
                .discovery_name()
                .filter(|d| !(given.is_some_and(|g| g.discovery_name.is_none()) && *d == s.port_name()));
            let aliases: Vec<Value> = s
                .client_aliases()
                .iter()
                .map(|a| json!({"port": a.port(), "dns_name": a.dns_name()}))
                .collect();
            let mut o = serde_json::Map::new();
            o.insert("port_name".into(), json!(s.port_name()));
            o.insert("discovery_name".into(), json!(discovery));
            o.insert("client_aliases".into(), Value::Array(aliases));
            o.insert("ingress_port_override".into(), json!(s.ingress_port_override()));
            o.insert(
                "timeout".into(),
                s.timeout().map_or(Value::Null, |t| {
                    json!({"idle_seconds": t.idle_timeout_seconds(), "per_request_seconds": t.per_request_timeout_seconds()})
                }),
            );
            Value::Object(o)
        })
        .collect();
    json!({
        "enabled": true,
        "namespace": c.namespace(),
        "services": services,
        "log_configuration": c.log_configuration().and_then(awslogs_fields),
    })
}

/// The file's Service Connect configuration as ECS takes it; none is
/// `enabled: false` (how UpdateService turns it off).
fn connect_configuration(
    p: &AwsProvider,
    sc: Option<&ServiceConnect>,
) -> Result<et::ServiceConnectConfiguration, ProviderError> {
    let Some(sc) = sc else {
        return Ok(et::ServiceConnectConfiguration::builder().enabled(false).build());
    };
    let mut b = et::ServiceConnectConfiguration::builder().enabled(sc.enabled).set_namespace(sc.namespace.clone());
    for s in &sc.services {
        let mut sb = et::ServiceConnectService::builder()
            .port_name(&s.port_name)
            .set_discovery_name(s.discovery_name.clone())
            .set_ingress_port_override(s.ingress_port_override.map(|p| p as i32));
        for a in &s.client_aliases {
            sb = sb.client_aliases(
                et::ServiceConnectClientAlias::builder()
                    .port(a.port as i32)
                    .set_dns_name(a.dns_name.clone())
                    .build()
                    .map_err(build_err)?,
            );
        }
        if let Some(t) = &s.timeout {
            sb = sb.timeout(
                et::TimeoutConfiguration::builder()
                    .set_idle_timeout_seconds(t.idle_seconds.map(|v| v.min(i32::MAX as u32) as i32))
                    .set_per_request_timeout_seconds(t.per_request_seconds.map(|v| v.min(i32::MAX as u32) as i32))
                    .build(),
            );
        }
        b = b.services(sb.build().map_err(build_err)?);
    }
    if let Some(l) = &sc.log_configuration {
        b = b.log_configuration(awslogs(p, l)?);
    }
    Ok(b.build())
}

fn propagate_tags(t: PropagateTags) -> et::PropagateTags {
    et::PropagateTags::from(serde_name(&t).as_str())
}

fn rebalancing(r: Rebalancing) -> et::AvailabilityZoneRebalancing {
    et::AvailabilityZoneRebalancing::from(serde_name(&r).as_str())
}

fn launch_type(l: LaunchType) -> et::LaunchType {
    match l {
        LaunchType::Fargate => et::LaunchType::Fargate,
        LaunchType::Ec2 => et::LaunchType::Ec2,
    }
}

/// CreateService can fail while a new listener's target group is not yet
/// known to be attached to its load balancer.
fn lb_not_ready(e: &ProviderError) -> bool {
    e.message.to_ascii_lowercase().contains("does not have an associated load balancer")
}

fn waits(s: &Service) -> bool {
    s.wait.as_ref().and_then(|w| w.stable).unwrap_or(true)
}

fn wait_budget(p: &AwsProvider, s: &Service) -> Duration {
    s.wait.as_ref().and_then(|w| w.timeout).map_or(p.opts.wait_timeout, |t| Duration::from_secs(t.into()))
}

fn primary(s: &et::Service) -> Option<&et::Deployment> {
    s.deployments().iter().find(|d| d.status() == Some("PRIMARY"))
}

/// A parsed ECR image reference.
#[derive(Debug, PartialEq)]
struct EcrImage<'a> {
    registry: &'a str,
    repository: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// `<account>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag|@digest]` in `region`.
fn ecr_image<'a>(image: &'a str, region: &str) -> Option<EcrImage<'a>> {
    let (host, rest) = image.split_once('/')?;
    let (account, domain) = host.split_once('.')?;
    let domain_ok =
        domain == format!("dkr.ecr.{region}.amazonaws.com") || domain == format!("dkr.ecr.{region}.amazonaws.com.cn");
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) || !domain_ok {
        return None;
    }
    let (repository, tag, digest) = if let Some((r, d)) = rest.split_once('@') {
        (r, None, Some(d))
    } else {
        let last = rest.rfind('/').map_or(0, |i| i + 1);
        match rest[last..].rfind(':') {
            Some(i) => (&rest[..last + i], Some(&rest[last + i + 1..]), None),
            None => (rest, Some("latest"), None),
        }
    };
    (!repository.is_empty()).then_some(EcrImage { registry: account, repository, tag, digest })
}

/// Fails early when an image of the task definition is missing from its
/// ECR repository (the service could never become stable). Other answers
/// (no permission to look, another account) leave it to ECS. An image
/// found in its repository earlier in this run (as the revision was
/// registered, [`look_for_images`]) is not asked about again.
async fn preflight_images(p: &AwsProvider, task_definition: &str) -> Result<(), ProviderError> {
    // A revision registered or read in this run is not described again.
    let known = p.revision_images.lock().unwrap_or_else(PoisonError::into_inner).get(task_definition).cloned();
    let images = match known {
        Some(images) => images,
        None => {
            let Some((td, _)) = describe_td(p, task_definition).await? else { return Ok(()) };
            td.container_definitions().iter().filter_map(|c| c.image()).map(str::to_string).collect()
        }
    };
    for image in &images {
        if p.images_found.lock().unwrap_or_else(PoisonError::into_inner).contains(image) {
            continue;
        }
        check_image(p, image).await?;
    }
    Ok(())
}

/// Asks ECR for `image` when it is an ECR image of this region: an error
/// when ECR says it or its repository is missing; noted in
/// [`AwsProvider::images_found`] when ECR shows it.
async fn check_image(p: &AwsProvider, image: &str) -> Result<(), ProviderError> {
    let Some(r) = ecr_image(image, &p.region) else { return Ok(()) };
    let id = et_ecr_image_id(&r);
    let res = p.ecr.describe_images().registry_id(r.registry).repository_name(r.repository).image_ids(id).send().await;
    let e = match res {
        Ok(out) => {
            if !out.image_details().is_empty() {
                p.images_found.lock().unwrap_or_else(PoisonError::into_inner).insert(image.to_string());
            }
            return Ok(());
        }
        Err(e) => sdk_err("ecr:DescribeImages", e),
    };
    let message = match e.code.as_deref() {
        Some("ImageNotFoundException") => format!(
            "image `{image}` is not in ECR repository `{}`: push it first, or the service's tasks can never start",
            r.repository
        ),
        Some("RepositoryNotFoundException") => format!(
            "image `{image}`: ECR repository `{}` does not exist, so the service's tasks can never start",
            r.repository
        ),
        _ => return Ok(()),
    };
    Err(ProviderError { kind: ErrorKind::Rejected, message, ..e })
}

/// Looks for a task definition's ECR images beside its registration, so
/// that the deployment of the new revision need not ask before it starts
/// (one round less). Only what ECR shows is noted; a missing image is
/// asked about again, and reported, before a service deploys it.
async fn look_for_images(p: &AwsProvider, td: &TaskDefinition) {
    futures::future::join_all(td.containers.iter().map(|c| check_image(p, &c.image))).await;
}

/// What ECR says of each image in `images` that is an ECR image of this
/// region: the digest its tag points at, or why it is missing. One
/// DescribeImages per repository (up to 100 images a call), all at once;
/// when some image of a call is missing (ECR then answers for none of
/// them), each image of that call is asked on its own. Images given by
/// digest, of other registries, or that ECR will not show (another
/// account's, no permission) are left out: ECS pulls them as written.
/// So are ECR Public's (`public.ecr.aws/…`, see [`crate::images`]).
pub(super) async fn image_digests(p: &AwsProvider, images: &[String]) -> Result<crate::images::Images, ProviderError> {
    use crate::images::Resolved;
    let mut by_repo: BTreeMap<(&str, &str), Vec<(&str, &str)>> = BTreeMap::new();
    for image in images {
        let Some(r) = ecr_image(image, &p.region) else { continue };
        let Some(tag) = r.tag else { continue };
        by_repo.entry((r.registry, r.repository)).or_default().push((image.as_str(), tag));
    }
    let describe = |registry: &str, repository: &str, tags: Vec<&str>| {
        let ids = tags
            .iter()
            .map(|t| aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(*t).build())
            .collect::<Vec<_>>();
        let req = p.ecr.describe_images().registry_id(registry).repository_name(repository).set_image_ids(Some(ids));
        async move {
            match req.send().await {
                Ok(o) => Ok(Some(o.image_details.unwrap_or_default())),
                Err(e) => {
                    let e = sdk_err("ecr:DescribeImages", e);
                    match e.code.as_deref() {
                        Some("ImageNotFoundException") => Ok(None),
                        Some("RepositoryNotFoundException") => Err(Some(e)),
                        _ if matches!(e.kind, ErrorKind::Transient | ErrorKind::Setup) => Err(Some(e)),
                        // Not ours to look at: left to ECS.
                        _ => Err(None),
                    }
                }
            }
        }
    };
    let digest_of = |details: &[aws_sdk_ecr::types::ImageDetail], tag: &str| {
        details
            .iter()
            .find(|d| d.image_tags().iter().any(|t| t == tag))
            .and_then(|d| d.image_digest().map(str::to_string))
    };
    let asks = by_repo.iter().map(|((registry, repository), wanted)| async move {
        let mut out: Vec<(String, Resolved)> = Vec::new();
        let missing =
            |tag: &str| Resolved::Missing(format!("ECR repository `{repository}` has no image tagged `{tag}`"));
        for chunk in wanted.chunks(100) {
            match describe(registry, repository, chunk.iter().map(|(_, t)| *t).collect()).await {
                Ok(Some(details)) => {
                    for (image, tag) in chunk {
                        out.push((
                            image.to_string(),
                            digest_of(&details, tag).map_or_else(|| missing(tag), Resolved::Digest),
                        ));
                    }
                }
                // The one image asked for is missing.
                Ok(None) if chunk.len() == 1 => out.push((chunk[0].0.to_string(), missing(chunk[0].1))),
                // Some image of the chunk is missing: each on its own.
                Ok(None) => {
                    let one = chunk.iter().map(|(image, tag)| async move {
                        (*image, *tag, describe(registry, repository, vec![*tag]).await)
                    });
                    for (image, tag, r) in futures::future::join_all(one).await {
                        match r {
                            Ok(Some(details)) => out.push((
                                image.to_string(),
                                digest_of(&details, tag).map_or_else(|| missing(tag), Resolved::Digest),
                            )),
                            Ok(None) => out.push((image.to_string(), missing(tag))),
                            Err(Some(e)) => return Err(e),
                            Err(None) => {}
                        }
                    }
                }
                Err(Some(e)) if e.code.as_deref() == Some("RepositoryNotFoundException") => {
                    for (image, _) in chunk {
                        let why = format!("ECR repository `{repository}` does not exist");
                        out.push((image.to_string(), Resolved::Missing(why)));
                    }
                }
                Err(Some(e)) => return Err(e),
                Err(None) => {}
            }
        }
        Ok(out)
    });
    let mut all = crate::images::Images::new();
    for r in futures::future::join_all(asks).await {
        all.extend(r?);
    }
    Ok(all)
}

fn et_ecr_image_id(r: &EcrImage) -> aws_sdk_ecr::types::ImageIdentifier {
    aws_sdk_ecr::types::ImageIdentifier::builder()
        .set_image_tag(r.tag.map(str::to_string))
        .set_image_digest(r.digest.map(str::to_string))
        .build()
}

/// Waits while a service of this name is still DRAINING (a new one with
/// the same name cannot be created until it is INACTIVE). Whether there was
/// one to wait for.
async fn wait_not_draining(p: &AwsProvider, cluster: &str, name: &str) -> Result<bool, ProviderError> {
    let draining = |s: &Option<et::Service>| s.as_ref().is_some_and(|s| s.status() == Some("DRAINING"));
    if !draining(&describe_service(p, cluster, name).await?) {
        return Ok(false);
    }
    wait(
        &p.opts,
        p.opts.wait_timeout,
        "ecs:DescribeServices",
        &format!("the old service `{name}` to finish draining"),
        || async {
            let s = describe_service(p, cluster, name).await?;
            if let Some(s) = s.as_ref().filter(|_| draining(&s)) {
                crate::progress::status(format!("old service: {}", draining_status(p, s).await));
            }
            Ok((!draining(&s)).then_some(()))
        },
    )
    .await?;
    Ok(true)
}

/// Where a service on its way out stands: "draining 2 targets, 2 tasks
/// running" while its load balancers' target groups still drain targets
/// (they do for the groups' deregistration delay), else "service draining,
/// 2 tasks running".
async fn draining_status(p: &AwsProvider, s: &et::Service) -> String {
    let running = s.running_count();
    match draining_targets(p, s).await {
        Some(n) if n > 0 => format!("draining {n} target{}, {running} tasks running", if n == 1 { "" } else { "s" }),
        _ => format!("service draining, {running} tasks running"),
    }
}

/// How many targets the service's target groups are draining
/// (elbv2:DescribeTargetHealth, state `draining`); `None` without a target
/// group or when a group cannot be read (the count is only for the
/// progress shown: the wait goes on without it).
async fn draining_targets(p: &AwsProvider, s: &et::Service) -> Option<usize> {
    let mut groups: Vec<&str> = s.load_balancers().iter().filter_map(|lb| lb.target_group_arn()).collect();
    groups.sort_unstable();
    groups.dedup();
    if groups.is_empty() {
        return None;
    }
    let reads = groups.iter().map(|g| p.elb.describe_target_health().target_group_arn(*g).send());
    let mut n = 0;
    for answer in futures::future::join_all(reads).await {
        let out = answer.ok()?;
        n += out
            .target_health_descriptions()
            .iter()
            .filter(|d| {
                d.target_health().and_then(|h| h.state())
                    == Some(&aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum::Draining)
            })
            .count();
    }
    Some(n)
}

/// A CreateService idempotency token (at most 36 characters), new for
/// each call.
pub(super) fn client_token() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("moor{:x}-{:x}-{n:x}", nanos as u64, std::process::id() & 0xff_ffff)
}

async fn create_service(p: &AwsProvider, t: &Target, s: &Service) -> Result<Live, ProviderError> {
    let name = t.name.as_deref().ok_or_else(|| invalid("a service needs a name"))?;
    let cluster = s.cluster.as_str();
    // A service of no tasks needs no image yet (the usual first apply: the
    // repository is new and empty).
    if s.desired_count.unwrap_or(1) > 0 {
        preflight_images(p, &s.task_definition).await?;
    }
    let mut req = p
        .ecs
        .create_service()
        .cluster(cluster)
        .service_name(name)
        .task_definition(&s.task_definition)
        .desired_count(s.desired_count.unwrap_or(1) as i32)
        .enable_execute_command(s.enable_execute_command)
        .set_platform_version(s.platform_version.clone())
        .set_health_check_grace_period_seconds(s.health_check_grace_period.map(|g| g as i32))
        .set_enable_ecs_managed_tags(s.enable_ecs_managed_tags)
        .set_propagate_tags(s.propagate_tags.map(propagate_tags))
        .set_availability_zone_rebalancing(s.availability_zone_rebalancing.map(rebalancing))
        .set_tags(ecs_tags(&t.tags));
    if s.capacity_provider_strategy.is_empty() {
        req = req.launch_type(launch_type(s.launch_type.unwrap_or_default()));
    } else {
        req = req.set_capacity_provider_strategy(Some(strategy_items(&s.capacity_provider_strategy)?));
    }
    if let Some(n) = &s.network {
        req = req.network_configuration(network_configuration(n)?);
    }
    if !s.load_balancers.is_empty() {
        req = req.set_load_balancers(Some(load_balancers(s)));
    }
    if let Some(d) = &s.deployment {
        req = req.deployment_configuration(deployment_configuration(d));
    }
    if s.service_connect.is_some() {
        req = req.service_connect_configuration(connect_configuration(p, s.service_connect.as_ref())?);
    }
    let send = || {
        with_slr(
            p,
            || {
                // The SDK sends this token again with each retry of this
                // call, so a retry after a lost answer gets the service the
                // first attempt made instead of "not idempotent". A call
                // moor makes again after a refusal gets a new token.
                let r = req.clone().client_token(client_token());
                async move { r.send().await.map_err(|e| sdk_err("ecs:CreateService", e)) }
            },
            lb_not_ready,
        )
    };
    // The plan has just found no active service of this name, so create at
    // once; only when that is refused, see whether an old service of the
    // name is still DRAINING (it blocks the name until INACTIVE), wait it
    // out and try again.
    let out = match send().await {
        Ok(out) => out,
        Err(e) if matches!(e.kind, ErrorKind::Rejected | ErrorKind::InUse) => {
            if !wait_not_draining(p, cluster, name).await? {
                return Err(e);
            }
            send().await?
        }
        Err(e) => return Err(e),
    };
    let mut svc = out.service.ok_or_else(|| gone_after("ecs:CreateService", "the new service"))?;
    let arn = svc.service_arn().unwrap_or(name).to_string();
    // Settings the answer lacks are set again while the stability wait
    // runs: such an update starts no deployment of its own, and the wait
    // follows whichever deployment is PRIMARY.
    let ours = primary(&svc).and_then(|d| d.id()).map(str::to_string);
    let made = |e: ProviderError| match e.is_interrupted() {
        // The service exists: recorded, as not settled.
        true => {
            let mut live = service_live(&svc, Some(s));
            live.tags = t.tags.clone();
            e.with_made(live)
        }
        false => e,
    };
    let (again, stable) = futures::try_join!(settings_not_taken(p, cluster, &arn, s, &svc), async {
        match waits(s) {
            true => wait_stable(p, cluster, &arn, name, &s.task_definition, ours.as_deref(), wait_budget(p, s))
                .await
                .map(Some),
            false => Ok(None),
        }
    })
    .map_err(made)?;
    if let Some(again) = again {
        svc = again;
    }
    if let Some(stable) = stable {
        svc = stable;
    }
    // The service as created (or as its wait last described it): not read
    // back again.
    let mut live = service_live(&svc, Some(s));
    live.tags = t.tags.clone();
    Ok(live)
}

/// Settings CreateService answered without (some endpoints ignore them
/// there), set again with UpdateService. On AWS the answer always has them
/// and nothing is called.
async fn settings_not_taken(
    p: &AwsProvider,
    cluster: &str,
    arn: &str,
    s: &Service,
    svc: &et::Service,
) -> Result<Option<et::Service>, ProviderError> {
    let mut req = p.ecs.update_service().cluster(cluster).service(arn);
    let mut needed = false;
    if svc.enable_execute_command() != s.enable_execute_command {
        req = req.enable_execute_command(s.enable_execute_command);
        needed = true;
    }
    if let Some(g) = s.health_check_grace_period {
        if svc.health_check_grace_period_seconds().is_none() {
            req = req.health_check_grace_period_seconds(g as i32);
            needed = true;
        }
    }
    if let Some(d) = &s.deployment {
        if svc.deployment_configuration().is_none() {
            req = req.deployment_configuration(deployment_configuration(d));
            needed = true;
        }
    }
    if !s.capacity_provider_strategy.is_empty() && svc.capacity_provider_strategy().is_empty() {
        req = req.set_capacity_provider_strategy(Some(strategy_items(&s.capacity_provider_strategy)?));
        needed = true;
    }
    if let Some(m) = s.enable_ecs_managed_tags.filter(|m| *m != svc.enable_ecs_managed_tags()) {
        req = req.enable_ecs_managed_tags(m);
        needed = true;
    }
    if let Some(t) = s.propagate_tags.filter(|t| *t != PropagateTags::None && svc.propagate_tags().is_none()) {
        req = req.propagate_tags(propagate_tags(t));
        needed = true;
    }
    if let Some(r) = s.availability_zone_rebalancing.filter(|_| svc.availability_zone_rebalancing().is_none()) {
        req = req.availability_zone_rebalancing(rebalancing(r));
        needed = true;
    }
    if !needed {
        return Ok(None);
    }
    let out = req.send().await.map_err(|e| sdk_err("ecs:UpdateService", e))?;
    Ok(out.service)
}

async fn update_service(
    p: &AwsProvider,
    t: &Target,
    s: &Service,
    live: &Live,
    changed: &[String],
) -> Result<Live, ProviderError> {
    let has = |f: &str| changed.iter().any(|c| c == f);
    let cluster = match cluster_of_service_arn(&live.id) {
        Some(c) => c.to_string(),
        None => s.cluster.clone(),
    };
    let name = live.fields.get("name").and_then(Value::as_str).or(t.name.as_deref()).unwrap_or(&live.id).to_string();
    let mut req = p.ecs.update_service().cluster(&cluster).service(&live.id);
    let mut call = false;
    let mut force = false;
    if (has("task_definition") || has("desired_count")) && s.desired_count.unwrap_or(1) > 0 {
        preflight_images(p, &s.task_definition).await?;
    }
    if has("task_definition") {
        req = req.task_definition(&s.task_definition);
        call = true;
    }
    if has("desired_count") {
        req = req.desired_count(s.desired_count.unwrap_or(1) as i32);
        call = true;
    }
    if has("network") {
        if let Some(n) = &s.network {
            req = req.network_configuration(network_configuration(n)?);
            call = true;
        }
    }
    if has("load_balancers") {
        req = req.set_load_balancers(Some(load_balancers(s)));
        call = true;
    }
    if has("capacity_provider_strategy") {
        req = req.set_capacity_provider_strategy(Some(strategy_items(&s.capacity_provider_strategy)?));
        // Moving between launch type and capacity providers needs new tasks.
        force = true;
        call = true;
    }
    if has("platform_version") {
        req = req.set_platform_version(s.platform_version.clone());
        call = true;
    }
    if has("health_check_grace_period") {
        req = req.set_health_check_grace_period_seconds(s.health_check_grace_period.map(|g| g as i32));
        call = true;
    }
    if has("deployment") {
        req = req.deployment_configuration(deployment_configuration(
            s.deployment.as_ref().unwrap_or(&Deployment::default()),
        ));
        call = true;
    }
    if has("enable_execute_command") {
        // Running tasks keep their old setting; new ones get the agent.
        req = req.enable_execute_command(s.enable_execute_command);
        force = true;
        call = true;
    }
    if has("enable_ecs_managed_tags") || has("propagate_tags") {
        // Only tasks started after the change get the tags: start them.
        req = req
            .enable_ecs_managed_tags(s.enable_ecs_managed_tags.unwrap_or(false))
            .propagate_tags(propagate_tags(s.propagate_tags.unwrap_or(PropagateTags::None)));
        force = true;
        call = true;
    }
    if has("availability_zone_rebalancing") {
        req = req.availability_zone_rebalancing(rebalancing(
            s.availability_zone_rebalancing.unwrap_or(Rebalancing::Enabled),
        ));
        call = true;
    }
    if has("service_connect") {
        // ECS starts a new deployment with it (its tasks get the proxy).
        req = req.service_connect_configuration(connect_configuration(p, s.service_connect.as_ref())?);
        call = true;
    }
    // The service as the wait's last read found it, if the update waited.
    let mut stable = None;
    if call {
        if force && !has("task_definition") {
            req = req.force_new_deployment(true);
        }
        let out = eventually(
            || {
                let r = req.clone();
                async move { r.send().await.map_err(|e| sdk_err("ecs:UpdateService", e)) }
            },
            |e| iam_not_ready(e) || lb_not_ready(e),
        )
        .await?;
        if waits(s) {
            let ours = out.service().and_then(primary).and_then(|d| d.id()).map(str::to_string);
            let svc = wait_stable(p, &cluster, &live.id, &name, &s.task_definition, ours.as_deref(), wait_budget(p, s))
                .await
                .map_err(|e| match (e.is_interrupted(), out.service()) {
                    // The change was made: recorded, as not settled.
                    (true, Some(svc)) => {
                        let mut changed = service_live(svc, Some(s));
                        changed.tags = live.tags.clone();
                        e.with_made(changed)
                    }
                    _ => e,
                })?;
            stable = Some(svc);
        }
    } else if waits(s) && !settled(live) {
        // Nothing deploys (a change of tags alone), but the service is not
        // at its desired state: the update waits for it as a plan's wait would.
        let svc = wait_stable(p, &cluster, &live.id, &name, &s.task_definition, None, wait_budget(p, s)).await?;
        stable = Some(svc);
    }
    if has("tags") {
        sync_tags(p, &live.id, &live.tags, &t.tags).await?;
    }
    // A wait's last read, at the end of the deployment, is the service as
    // it is now: it is not read again (one round less after every
    // deployment). Its tags are the ones just written, or the plan's.
    if let Some(svc) = stable {
        let mut back = service_live(&svc, Some(s));
        back.tags = if has("tags") { t.tags.clone() } else { live.tags.clone() };
        return Ok(back);
    }
    let back = describe_service(p, &cluster, &live.id).await?;
    back.filter(|x| x.status() == Some("ACTIVE"))
        .map(|svc| service_live(&svc, Some(s)))
        .ok_or_else(|| gone_after("ecs:DescribeServices", "the service"))
}

/// Waits for a service that is not at its desired state (the plan found
/// its deployment unsettled, or the record says the last wait failed), and
/// fails as the wait of its create or update would. With `redeploy` (the
/// last deployment was rolled back), deploys the file's revision again
/// first and waits for that deployment.
async fn settle(p: &AwsProvider, t: &Target, s: &Service, live: &Live, redeploy: bool) -> Result<Live, ProviderError> {
    if !redeploy && !waits(s) {
        return Ok(live.clone());
    }
    let cluster = match cluster_of_service_arn(&live.id) {
        Some(c) => c.to_string(),
        None => s.cluster.clone(),
    };
    let name = live.fields.get("name").and_then(Value::as_str).or(t.name.as_deref()).unwrap_or(&live.id).to_string();
    let mut ours = None;
    if redeploy {
        if s.desired_count.unwrap_or(1) > 0 {
            preflight_images(p, &s.task_definition).await?;
        }
        let req = p
            .ecs
            .update_service()
            .cluster(&cluster)
            .service(&live.id)
            .task_definition(&s.task_definition)
            .force_new_deployment(true);
        let out = req.send().await.map_err(|e| sdk_err("ecs:UpdateService", e))?;
        ours = out.service().and_then(primary).and_then(|d| d.id()).map(str::to_string);
    }
    // Interrupted, it stays recorded as it is, and unsettled.
    let svc = wait_stable(p, &cluster, &live.id, &name, &s.task_definition, ours.as_deref(), wait_budget(p, s))
        .await
        .map_err(|e| if e.is_interrupted() { e.with_made(live.clone()) } else { e })?;
    let mut back = service_live(&svc, Some(s));
    back.tags = live.tags.clone();
    Ok(back)
}

/// Failed tasks after which a deployment counts as failing: the deployment
/// circuit breaker's threshold (half the desired count, at least 3, at most 200).
fn failure_threshold(desired: i32) -> i32 {
    ((desired + 1) / 2).clamp(3, 200)
}

#[derive(Debug, PartialEq)]
enum Verdict {
    Done,
    Waiting,
    Failed(String),
}

/// Where the deployment moor started (`ours`, the id of the PRIMARY
/// deployment in the create or update answer, deploying `task_definition`)
/// stands, and a line saying so.
fn deployment_verdict(svc: &et::Service, ours: Option<&str>, task_definition: &str) -> (Verdict, String) {
    let Some(d) = primary(svc) else { return (Verdict::Waiting, "no PRIMARY deployment yet".into()) };
    let desired = svc.desired_count();
    let rollout = d.rollout_state().map_or("unknown", |s| s.as_str());
    let status = format!(
        "{} of {desired} tasks running, rollout {rollout}, {} failed tasks",
        d.running_count(),
        d.failed_tasks()
    );
    // Rolled back: another deployment, of another revision, took over; the
    // service itself moved off the revision; or moor's deployment is marked
    // FAILED (a rollback to the same revision).
    let other = ours.is_some_and(|id| d.id() != Some(id));
    let mine_failed = ours.is_some_and(|id| {
        svc.deployments().iter().any(|x| {
            x.id() == Some(id)
                && x.status() != Some("PRIMARY")
                && x.rollout_state() == Some(&et::DeploymentRolloutState::Failed)
        })
    });
    if (other && !same_task_definition(d.task_definition(), task_definition))
        || !same_task_definition(svc.task_definition(), task_definition)
        || mine_failed
    {
        let why = d.rollout_state_reason().unwrap_or("another deployment replaced it");
        return (Verdict::Failed(format!("{ROLLED_BACK_TEXT}: {why}")), status);
    }
    let running = d.running_count() >= d.desired_count() && svc.running_count() >= desired;
    let verdict = match d.rollout_state() {
        Some(et::DeploymentRolloutState::Failed) => {
            let why = d.rollout_state_reason().unwrap_or("rollout FAILED");
            Verdict::Failed(format!("the deployment failed: {why}"))
        }
        Some(et::DeploymentRolloutState::Completed) if running => Verdict::Done,
        None if running && svc.deployments().len() == 1 => Verdict::Done,
        _ if d.failed_tasks() >= failure_threshold(desired) => Verdict::Failed(format!(
            "{} tasks failed to start ({} of {desired} running)",
            d.failed_tasks(),
            d.running_count()
        )),
        _ => Verdict::Waiting,
    };
    (verdict, status)
}

/// Waits until the deployment moor started (`ours`, the PRIMARY deployment
/// of the create or update answer) completed with every task running.
async fn wait_stable(
    p: &AwsProvider,
    cluster: &str,
    arn: &str,
    name: &str,
    task_definition: &str,
    ours: Option<&str>,
    timeout: Duration,
) -> Result<et::Service, ProviderError> {
    const OP: &str = "ecs:DescribeServices";
    let last = Mutex::new(String::from("no deployment seen yet"));
    let told = Mutex::new(std::collections::HashSet::new());
    let what = format!("service `{name}` to finish its deployment");
    // A change in what the deployment reports (a task came up, one
    // failed) is progress: the polls that follow are paced from it.
    let progress = Progress::default();
    let seen = Mutex::new(None::<String>);
    let r = wait_paced(&p.opts, timeout, OP, &what, &progress, || async {
        let Some(svc) = describe_service(p, cluster, arn).await? else {
            return Err(ProviderError::new(
                ErrorKind::Wait,
                OP,
                format!("service `{name}` disappeared during its deployment"),
            ));
        };
        if svc.status() != Some("ACTIVE") {
            let status = svc.status().unwrap_or("unknown");
            return Err(ProviderError::new(
                ErrorKind::Wait,
                OP,
                format!("service `{name}` became {status} during its deployment"),
            ));
        }
        let (verdict, status) = deployment_verdict(&svc, ours, task_definition);
        let before = seen.lock().unwrap_or_else(PoisonError::into_inner).replace(status.clone());
        if before.is_some_and(|b| b != status) {
            progress.saw();
        }
        *last.lock().unwrap_or_else(PoisonError::into_inner) = status;
        say_progress(&svc, ours, &mut told.lock().unwrap_or_else(PoisonError::into_inner));
        match verdict {
            Verdict::Done => Ok(Some(svc)),
            Verdict::Waiting => Ok(None),
            Verdict::Failed(why) => Err(deployment_failed(p, cluster, name, &why).await),
        }
    })
    .await;
    match r {
        Err(e) if e.kind == ErrorKind::Wait && e.message.starts_with("gave up") => {
            let state = last.lock().unwrap_or_else(PoisonError::into_inner).clone();
            let reasons = stopped_reasons(p, cluster, name).await;
            let mut message = format!("{} ({state})", e.message);
            if !reasons.is_empty() {
                message.push_str(&format!("; stopped tasks: {}", reasons.join("; ")));
            }
            Err(ProviderError { message: redact_secret_arns(&message), ..e })
        }
        other => other,
    }
}

/// Says where the deployment stands ([`crate::progress::status`]) and
/// each service event since the deployment moor waits for (`ours`, else
/// the PRIMARY one) started that is not in `told` yet, oldest first.
fn say_progress(svc: &et::Service, ours: Option<&str>, told: &mut std::collections::HashSet<String>) {
    let deployment = match ours {
        Some(id) => svc.deployments().iter().find(|d| d.id() == Some(id)),
        None => primary(svc),
    };
    let Some(d) = deployment.or_else(|| primary(svc)) else {
        crate::progress::status("deployment not started yet");
        return;
    };
    crate::progress::status(format!(
        "deployment {}/{} tasks running, {} failed",
        d.running_count(),
        d.desired_count(),
        d.failed_tasks()
    ));
    let since = d.created_at().map(|t| (t.secs(), t.subsec_nanos()));
    // AWS lists the newest first.
    for e in svc.events().iter().rev() {
        let at = e.created_at().map(|t| (t.secs(), t.subsec_nanos()));
        let newer = match (since, at) {
            (Some(since), Some(at)) => at >= since,
            // Without times, nothing tells an old event from a new one.
            _ => false,
        };
        let Some(message) = e.message().filter(|_| newer) else { continue };
        let key = e.id().map_or_else(|| format!("{at:?} {message}"), str::to_string);
        if told.insert(key) {
            crate::progress::event(redact_secret_arns(message));
        }
    }
}

/// How a verdict says that the deployment was rolled back.
const ROLLED_BACK_TEXT: &str = "the deployment was rolled back";

/// A failed deployment, with why its tasks stopped. A rollback carries the
/// code [`crate::provider::ROLLED_BACK`]: waiting again cannot settle it.
async fn deployment_failed(p: &AwsProvider, cluster: &str, name: &str, headline: &str) -> ProviderError {
    let reasons = stopped_reasons(p, cluster, name).await;
    let mut message = format!("service `{name}`: {headline}");
    if reasons.is_empty() {
        message.push_str("; no stopped task found to say why");
    } else {
        message.push_str(&format!("; stopped tasks: {}", reasons.join("; ")));
    }
    let e = ProviderError::new(ErrorKind::Wait, "ecs:DescribeServices", redact_secret_arns(&message));
    if headline.starts_with(ROLLED_BACK_TEXT) {
        e.with_code(crate::provider::ROLLED_BACK)
    } else {
        e
    }
}

/// The distinct reasons the service's recently stopped tasks give, most
/// frequent first (at most five). Empty when they cannot be read.
async fn stopped_reasons(p: &AwsProvider, cluster: &str, name: &str) -> Vec<String> {
    let Ok(list) = p
        .ecs
        .list_tasks()
        .cluster(cluster)
        .service_name(name)
        .desired_status(et::DesiredStatus::Stopped)
        .max_results(100)
        .send()
        .await
    else {
        return Vec::new();
    };
    let arns = list.task_arns().to_vec();
    if arns.is_empty() {
        return Vec::new();
    }
    let Ok(out) = p.ecs.describe_tasks().cluster(cluster).set_tasks(Some(arns)).send().await else {
        return Vec::new();
    };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for task in out.tasks() {
        let mut reason = task.stopped_reason().unwrap_or("").to_string();
        for c in task.containers() {
            if let Some(r) = c.reason() {
                let who = c.name().unwrap_or("container");
                reason = if reason.is_empty() { format!("{who}: {r}") } else { format!("{reason} ({who}: {r})") };
            }
        }
        if !reason.is_empty() {
            *counts.entry(reason).or_default() += 1;
        }
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    v.into_iter()
        .take(5)
        .map(|(r, n)| if n > 1 { format!("{r} ({n} tasks)") } else { r })
        .map(|r| redact_secret_arns(&r))
        .collect()
}

async fn delete_service(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
    let arn = d.id.as_str();
    let Some(cluster) = service_cluster(p, arn).await? else { return Ok(()) };
    // Deleted at once, with force: its tasks are stopped with it, so it need
    // not be scaled to 0 first, nor described before.
    let name = match p.ecs.delete_service().cluster(&cluster).service(arn).force(true).send().await {
        Ok(out) => out.service().and_then(|s| s.service_name()).map(str::to_string),
        Err(e) => {
            let e = sdk_err("ecs:DeleteService", e);
            match (e.kind, e.code.as_deref()) {
                (ErrorKind::NotFound, _) => return Ok(()),
                // Already being deleted: wait for it as for this delete.
                (_, Some("ServiceNotActiveException")) => None,
                _ => return Err(e),
            }
        }
    };
    // Draining lasts as long as the target groups' deregistration delay.
    let name = name.or_else(|| d.name.clone()).unwrap_or_else(|| arn.to_string());
    wait(
        &p.opts,
        p.opts.wait_timeout,
        "ecs:DescribeServices",
        &format!("service `{name}` to drain and become INACTIVE"),
        || async {
            let s = describe_service(p, &cluster, arn).await?;
            if let Some(s) = s.as_ref().filter(|s| s.status() != Some("INACTIVE")) {
                crate::progress::status(draining_status(p, s).await);
            }
            Ok(s.is_none_or(|s| s.status() == Some("INACTIVE")).then_some(()))
        },
    )
    .await
}

// ---- reading many ----------------------------------------------------------------

/// The most clusters one DescribeClusters call takes.
const CLUSTERS_PER_CALL: usize = 100;
/// The most services one DescribeServices call takes.
const SERVICES_PER_CALL: usize = 10;

/// Whether an answer of a Describe call is the one asked for by `key` (an
/// ARN or a name).
fn answers(key: &str, arn: Option<&str>, name: Option<&str>) -> bool {
    arn == Some(key) || name == Some(key) || (key.starts_with("arn:") && key.rsplit('/').next() == name)
}

/// Clusters by key (ARN or name), a hundred to a call, the calls at the
/// same time; an INACTIVE cluster is gone, as in [`describe_cluster`].
async fn describe_clusters(p: &AwsProvider, keys: &[&str]) -> Vec<Result<Option<et::Cluster>, ProviderError>> {
    let calls = keys.chunks(CLUSTERS_PER_CALL).map(|chunk| {
        p.ecs
            .describe_clusters()
            .set_clusters(Some(chunk.iter().map(|k| k.to_string()).collect()))
            .include(et::ClusterField::Tags)
            .include(et::ClusterField::Settings)
            .send()
    });
    let replies = futures::future::join_all(calls).await;
    let mut out = Vec::with_capacity(keys.len());
    for (chunk, answer) in keys.chunks(CLUSTERS_PER_CALL).zip(replies) {
        match found(answer.map_err(|e| sdk_err("ecs:DescribeClusters", e))) {
            Ok(Some(o)) => out.extend(chunk.iter().map(|k| {
                Ok(o.clusters()
                    .iter()
                    .find(|c| c.status() != Some("INACTIVE") && answers(k, c.cluster_arn(), c.cluster_name()))
                    .cloned())
            })),
            Ok(None) => out.extend(chunk.iter().map(|_| Ok(None))),
            Err(e) => out.extend(chunk.iter().map(|_| Err(e.clone()))),
        }
    }
    out
}

/// Services of one cluster by key (ARN or name), ten to a call, the calls
/// at the same time, with their tags.
async fn describe_services(
    p: &AwsProvider,
    cluster: &str,
    keys: &[&str],
) -> Vec<Result<Option<et::Service>, ProviderError>> {
    let calls = keys.chunks(SERVICES_PER_CALL).map(|chunk| {
        p.ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.iter().map(|k| k.to_string()).collect()))
            .include(et::ServiceField::Tags)
            .send()
    });
    let replies = futures::future::join_all(calls).await;
    let mut out = Vec::with_capacity(keys.len());
    for (chunk, answer) in keys.chunks(SERVICES_PER_CALL).zip(replies) {
        match found(answer.map_err(|e| sdk_err("ecs:DescribeServices", e))) {
            Ok(Some(o)) => out.extend(
                chunk
                    .iter()
                    .map(|k| Ok(o.services().iter().find(|s| answers(k, s.service_arn(), s.service_name())).cloned())),
            ),
            Ok(None) => out.extend(chunk.iter().map(|_| Ok(None))),
            Err(e) => out.extend(chunk.iter().map(|_| Err(e.clone()))),
        }
    }
    out
}

/// How one target is read: the batched read's request.
pub(super) enum Ask<'a> {
    /// Answered without a call.
    Done(Result<Option<Live>, ProviderError>),
    /// A cluster's key, and the file's cluster (none for a lookup).
    Cluster(&'a str, Option<&'a Cluster>),
    TaskDefinition(&'a str, &'a TaskDefinition),
    /// Cluster and key of a service.
    Service(String, &'a str, &'a Service),
}

/// Reads many targets with as few calls as ECS allows: every cluster in
/// DescribeClusters calls of a hundred, the services of each cluster in
/// DescribeServices calls of ten, and each task definition with its own
/// DescribeTaskDefinition (ECS has no call for many), all at the same
/// time. Each target gets exactly what reading it alone would say.
pub(super) async fn read_many(p: &AwsProvider, asks: &[Read<'_>]) -> Vec<Result<Option<Live>, ProviderError>> {
    let mut cluster_keys: Vec<&str> = asks
        .iter()
        .filter_map(|a| match a {
            Ask::Cluster(k, _) => Some(*k),
            _ => None,
        })
        .collect();
    cluster_keys.sort_unstable();
    cluster_keys.dedup();
    let mut service_keys: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for a in asks {
        if let Ask::Service(cluster, key, _) = a {
            service_keys.entry(cluster.as_str()).or_default().push(key);
        }
    }
    for keys in service_keys.values_mut() {
        keys.sort_unstable();
        keys.dedup();
    }
    let clusters = describe_clusters(p, &cluster_keys);
    let services = futures::future::join_all(
        service_keys.iter().map(|(cluster, keys)| async move { describe_services(p, cluster, keys).await }),
    );
    let task_definitions = futures::future::join_all(asks.iter().map(|a| async move {
        match a {
            Ask::TaskDefinition(key, td) => Some(read_task_definition(p, key, Some(td)).await),
            _ => None,
        }
    }));
    let (clusters, services, task_definitions) = futures::join!(clusters, services, task_definitions);
    let clusters: HashMap<&str, Result<Option<et::Cluster>, ProviderError>> =
        cluster_keys.into_iter().zip(clusters).collect();
    let services: HashMap<(&str, &str), Result<Option<et::Service>, ProviderError>> = service_keys
        .iter()
        .zip(services)
        .flat_map(|((cluster, keys), found)| keys.iter().map(move |k| (*cluster, *k)).zip(found))
        .collect();
    let mut out: Vec<_> = asks
        .iter()
        .zip(task_definitions)
        .map(|(a, td)| match a {
            Ask::Done(r) => r.clone(),
            Ask::Cluster(key, _) => clusters[key].clone().map(|c| c.map(|c| cluster_live(&c))),
            Ask::TaskDefinition(..) => td.expect("`task_definitions` reads each Ask::TaskDefinition"),
            // A service that is still draining is on its way out: to the
            // file it is gone (create waits until it is INACTIVE).
            Ask::Service(cluster, key, s) => services[&(cluster.as_str(), *key)]
                .clone()
                .map(|svc| svc.filter(|svc| svc.status() == Some("ACTIVE")).map(|svc| service_live(&svc, Some(s)))),
        })
        .collect();
    futures::future::join_all(asks.iter().zip(out.iter_mut()).map(|(a, r)| async move {
        let Ok(Some(live)) = r else { return };
        let (file, at) = match a {
            Ask::Service(.., s) => {
                (s.service_connect.as_ref().and_then(|sc| sc.namespace.as_deref()), "service_connect")
            }
            Ask::Cluster(_, Some(c)) => {
                (c.service_connect_defaults.as_ref().map(|d| d.namespace.as_str()), "service_connect_defaults")
            }
            _ => return,
        };
        if let Err(e) = same_namespace(p, file, at, live).await {
            *r = Err(e);
        }
    }))
    .await;
    out
}

/// The Service Connect namespace a service (or a cluster, as its default)
/// holds under field `at`, and the file's, when one is an ARN and the other
/// a name (ECS keeps what its caller sent: a service made by another tool
/// may hold the name where the file has `${ns.arn}`): the ARN, and the name
/// it must have to be the same namespace.
fn namespace_forms<'a>(file: Option<&'a str>, at: &str, live: &'a Live) -> Option<(&'a str, &'a str)> {
    let file = file.filter(|n| !super::unresolved(n))?;
    let held = live.fields.get(at)?.get("namespace")?.as_str()?;
    match (file.starts_with("arn:"), held.starts_with("arn:")) {
        (true, false) => Some((file, held)),
        (false, true) => Some((held, file)),
        _ => None,
    }
}

/// Reads the namespace under `at` as the file's when it is the same
/// namespace named the other way (its name for its ARN, or the reverse),
/// so that an adopted service or cluster plans clean. The name of an ARN is
/// what the plan read of the stack's namespace, or Cloud Map's answer (one
/// GetNamespace, only when the two differ in form).
async fn same_namespace(p: &AwsProvider, file: Option<&str>, at: &str, live: &mut Live) -> Result<(), ProviderError> {
    let Some((arn, name)) = namespace_forms(file, at, live) else { return Ok(()) };
    if super::servicediscovery::namespace_name(p, arn).await?.as_deref() != Some(name) {
        return Ok(());
    }
    if let Some(Value::Object(o)) = live.fields.get_mut(at) {
        o.insert("namespace".into(), json!(file));
    }
    Ok(())
}

/// A cluster's ARN by its name (or its ARN, as given).
fn cluster_arn(at: &Scope, name: &str) -> String {
    if name.starts_with("arn:") {
        return name.to_string();
    }
    at.arn("ecs", &format!("cluster/{}", known(name)))
}

/// ECS's service-linked role, made on the first cluster or service of an
/// account when it is missing.
fn service_linked_role(at: &Scope) -> Grant {
    Grant::on(
        Phase::Create,
        &["iam:CreateServiceLinkedRole"],
        [at.global("iam", "role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS")],
    )
    .when("StringEquals", "iam:AWSServiceName", ["ecs.amazonaws.com".to_string()])
}

/// The ARN of an ECR image's repository
/// (`<account>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag]`); `None` for an
/// image of another registry or one still holding a reference.
fn image_repository_arn(image: &str, at: &Scope) -> Option<String> {
    if image.contains("${") {
        return None;
    }
    let (host, _) = image.split_once('/')?;
    let (account, rest) = host.split_once(".dkr.ecr.")?;
    let region = rest.split_once(".amazonaws.com")?.0;
    let repository = crate::images::repository(image).split_once('/')?.1;
    Some(format!("arn:{}:ecr:{region}:{account}:repository/{repository}", at.partition))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ssm_parameter_named_in_the_file_and_echoed_as_its_arn_is_the_same_secret() {
        let arn = "arn:aws:ssm:us-east-1:123456789012:parameter/app/db";
        assert_eq!(same_parameter(Some("/app/db"), arn), "/app/db");
        assert_eq!(same_parameter(Some(arn), "/app/db"), arn);
        assert_eq!(same_parameter(Some("app_db"), "arn:aws:ssm:us-east-1:123456789012:parameter/app_db"), "app_db");
        assert_eq!(same_parameter(Some("/app/db"), "/app/db"), "/app/db");
        for (given, live) in [
            (Some("/app/other"), arn),
            (Some("/app/db"), "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db"),
            (None, arn),
        ] {
            assert_eq!(same_parameter(given, live), live, "{given:?} is not {live}");
        }
    }
    use crate::images::Resolved;

    use super::super::tests::{test_config, Scripted};

    const REG: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    fn details(tags: &[(&str, &str)]) -> Value {
        let d: Vec<Value> = tags
            .iter()
            .map(|(t, d)| json!({"registryId": "123456789012", "repositoryName": "app", "imageDigest": d, "imageTags": [t]}))
            .collect();
        json!({ "imageDetails": d })
    }

    fn not_found(what: &str) -> Value {
        json!({"__type": what, "message": "The image with imageId {imageTag:'gone'} does not exist"})
    }

    /// One DescribeImages per repository for every tag in it; images of
    /// other registries, regions or given by digest are not asked for.
    #[tokio::test]
    async fn image_tags_are_resolved_with_one_call_per_repository() {
        let script = Scripted::default();
        script.answer("DescribeImages", 200, details(&[("v1", "sha256:01"), ("v2", "sha256:02")]));
        let p = AwsProvider::from_config(&test_config(script.clone()), "us-east-1".into(), Default::default());
        let images: Vec<String> = [
            format!("{REG}/app:v1"),
            format!("{REG}/app:v2"),
            format!("{REG}/app@sha256:99"),
            "nginx:1.27".into(),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1".into(),
        ]
        .into();
        let got = image_digests(&p, &images).await.expect("resolved");
        assert_eq!(
            got,
            [
                (format!("{REG}/app:v1"), Resolved::Digest("sha256:01".into())),
                (format!("{REG}/app:v2"), Resolved::Digest("sha256:02".into())),
            ]
            .into()
        );
        let calls = script.requests();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0].1["repositoryName"], "app");
        assert_eq!(calls[0].1["imageIds"], json!([{"imageTag": "v1"}, {"imageTag": "v2"}]));
    }

    /// ECR answers ImageNotFoundException for a whole call when one of its
    /// images is missing: then each is asked on its own (a lone image is
    /// missing at once); a missing repository makes its images missing;
    /// a refusal to look leaves the images to ECS.
    #[tokio::test]
    async fn a_missing_image_is_told_from_the_present_ones() {
        let script = Scripted::default();
        script
            .answer("DescribeImages", 400, not_found("ImageNotFoundException"))
            .answer("DescribeImages", 200, details(&[("v1", "sha256:01")]))
            .answer("DescribeImages", 400, not_found("ImageNotFoundException"));
        let p = AwsProvider::from_config(&test_config(script.clone()), "us-east-1".into(), Default::default());
        let images = [format!("{REG}/app:v1"), format!("{REG}/app:gone")];
        let got = image_digests(&p, &images).await.expect("resolved");
        assert_eq!(got[&images[0]], Resolved::Digest("sha256:01".into()));
        assert!(
            matches!(&got[&images[1]], Resolved::Missing(m) if m == "ECR repository `app` has no image tagged `gone`"),
            "{got:?}"
        );
        assert_eq!(script.ops().len(), 3);

        let script = Scripted::default();
        script.answer("DescribeImages", 400, not_found("ImageNotFoundException"));
        let p = AwsProvider::from_config(&test_config(script.clone()), "us-east-1".into(), Default::default());
        let got = image_digests(&p, &images[1..]).await.expect("resolved");
        assert!(matches!(&got[&images[1]], Resolved::Missing(_)), "{got:?}");
        assert_eq!(script.ops().len(), 1, "a lone image is not asked for twice");

        let script = Scripted::default();
        script.answer("DescribeImages", 400, not_found("RepositoryNotFoundException"));
        let p = AwsProvider::from_config(&test_config(script.clone()), "us-east-1".into(), Default::default());
        let got = image_digests(&p, &images).await.expect("resolved");
        assert!(matches!(&got[&images[0]], Resolved::Missing(m) if m.contains("does not exist")), "{got:?}");

        let script = Scripted::default();
        script.answer("DescribeImages", 400, not_found("AccessDeniedException"));
        let p = AwsProvider::from_config(&test_config(script.clone()), "us-east-1".into(), Default::default());
        assert!(image_digests(&p, &images).await.expect("left to ECS").is_empty());
    }

    #[test]
    fn ecr_images_are_recognised_in_this_region_only() {
        let img = "123456789012.dkr.ecr.us-east-1.amazonaws.com/course/flask-app:v2";
        assert_eq!(
            ecr_image(img, "us-east-1"),
            Some(EcrImage { registry: "123456789012", repository: "course/flask-app", tag: Some("v2"), digest: None })
        );
        assert_eq!(ecr_image(img, "eu-west-1"), None);
        let untagged = ecr_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/app", "us-east-1").unwrap();
        assert_eq!(untagged.tag, Some("latest"));
        let pinned = ecr_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:abc", "us-east-1").unwrap();
        assert_eq!((pinned.repository, pinned.digest, pinned.tag), ("app", Some("sha256:abc"), None));
        assert_eq!(ecr_image("nginx:1.27", "us-east-1"), None);
        assert_eq!(ecr_image("public.ecr.aws/nginx/nginx:1", "us-east-1"), None);
        assert_eq!(ecr_image("localhost:5000/app:1", "us-east-1"), None);
    }

    #[test]
    fn secret_arns_never_reach_messages() {
        let m = "invalid secret arn:aws:secretsmanager:us-east-1:123456789012:secret:db-url-AbCdEf, and \
                 arn:aws:ssm:us-east-1:123456789012:parameter/x but arn:aws:iam::123456789012:role/r stays";
        let r = redact_secret_arns(m);
        assert!(!r.contains("secretsmanager") && !r.contains("parameter/x"), "{r}");
        assert!(r.contains("<secret ARN>, and <secret ARN> but arn:aws:iam::123456789012:role/r stays"), "{r}");
        let e = ProviderError::new(ErrorKind::Rejected, "ecs:RegisterTaskDefinition", "bad value postgres://u:p@h/db");
        let e = scrub(e, &["postgres://u:p@h/db", "1"]);
        assert_eq!(e.message, "bad value ***");
    }

    #[test]
    fn sizes_keep_the_files_form() {
        let half = Size::Text("0.5 vCPU".into());
        assert_eq!(size_value(Some(&half), Some("512"), Size::cpu_units), json!("0.5 vCPU"));
        assert_eq!(size_value(Some(&half), Some("1024"), Size::cpu_units), json!(1024));
        assert_eq!(size_value(Some(&Size::Number(512)), Some("512"), Size::memory_mib), json!(512));
        assert_eq!(size_value(Some(&Size::Text("1 GB".into())), Some("1024"), Size::memory_mib), json!("1 GB"));
        assert_eq!(size_value(None, None, Size::cpu_units), Value::Null);
    }

    #[test]
    fn references_keep_the_files_form() {
        let arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7";
        assert_eq!(task_definition_value(Some("web:7"), arn), json!("web:7"));
        assert_eq!(task_definition_value(Some("web"), arn), json!("web"));
        assert_eq!(task_definition_value(Some("web:6"), arn), json!(arn));
        assert_eq!(task_definition_value(Some(arn), arn), json!(arn));
        assert!(same_task_definition(Some(arn), "web:7"));
        assert!(same_task_definition(Some(arn), "web"));
        assert!(same_task_definition(Some("web:7"), arn));
        assert!(!same_task_definition(Some(arn), "web:6"));
        assert!(!same_task_definition(Some(arn), "api"));
        let c = "arn:aws:ecs:us-east-1:123456789012:cluster/main";
        assert_eq!(cluster_value(Some("main"), c), json!("main"));
        assert_eq!(cluster_value(Some("other"), c), json!(c));
        assert_eq!(cluster_of_service_arn("arn:aws:ecs:us-east-1:1:service/main/web"), Some("main"));
        assert_eq!(cluster_of_service_arn("arn:aws:ecs:us-east-1:1:service/web"), None);
    }

    fn connect(alias: &str) -> et::ServiceConnectConfiguration {
        let a = et::ServiceConnectClientAlias::builder().port(80).dns_name(alias).build().unwrap();
        let s = et::ServiceConnectService::builder()
            .port_name("http")
            .discovery_name("http")
            .client_aliases(a)
            .build()
            .unwrap();
        et::ServiceConnectConfiguration::builder().enabled(true).namespace("shop").services(s).build()
    }

    /// DescribeServices answers Service Connect on each deployment, not on
    /// the service: during a rollout the PRIMARY one is what the service
    /// is now, the ACTIVE one what it was.
    #[test]
    fn service_connect_is_read_from_the_primary_deployment() {
        let old =
            et::Deployment::builder().id("d1").status("ACTIVE").service_connect_configuration(connect("old")).build();
        let new =
            et::Deployment::builder().id("d2").status("PRIMARY").service_connect_configuration(connect("new")).build();
        let svc = et::Service::builder()
            .service_arn("arn:aws:ecs:us-east-1:1:service/c/s")
            .deployments(old)
            .deployments(new)
            .build();
        let live = service_live(&svc, None);
        let sc = &live.fields["service_connect"];
        assert_eq!(sc["enabled"], json!(true));
        assert_eq!(sc["namespace"], json!("shop"));
        assert_eq!(sc["services"][0]["client_aliases"], json!([{"port": 80, "dns_name": "new"}]));
        // A discovery name AWS reports as its default (the port name) is
        // the file's own when the file leaves it out.
        assert_eq!(sc["services"][0]["discovery_name"], json!("http"));
        let spec: Service = serde_json::from_value(json!({
            "cluster": "c", "task_definition": "t",
            "service_connect": {"namespace": "shop", "services": [{"port_name": "http"}]}
        }))
        .unwrap();
        let live = service_live(&svc, Some(&spec));
        assert_eq!(live.fields["service_connect"]["services"][0]["discovery_name"], Value::Null);

        // Without a PRIMARY deployment's configuration, or one turned off,
        // the service is not in Service Connect.
        let off = et::ServiceConnectConfiguration::builder().enabled(false).build();
        let new = et::Deployment::builder().id("d3").status("PRIMARY").service_connect_configuration(off).build();
        let svc = et::Service::builder().deployments(new).build();
        assert_eq!(service_live(&svc, None).fields["service_connect"], json!({"enabled": false}));
        let bare = et::Service::builder().deployments(et::Deployment::builder().status("PRIMARY").build()).build();
        assert_eq!(service_live(&bare, None).fields["service_connect"], json!({"enabled": false}));
    }

    fn deployment(
        id: &str,
        status: &str,
        td: &str,
        rollout: Option<&str>,
        running: i32,
        desired: i32,
        failed: i32,
    ) -> et::Deployment {
        et::Deployment::builder()
            .id(id)
            .status(status)
            .task_definition(td)
            .set_rollout_state(rollout.map(et::DeploymentRolloutState::from))
            .rollout_state_reason("circuit breaker")
            .running_count(running)
            .desired_count(desired)
            .failed_tasks(failed)
            .build()
    }

    fn service(td: &str, desired: i32, running: i32, deployments: Vec<et::Deployment>) -> et::Service {
        et::Service::builder()
            .task_definition(td)
            .desired_count(desired)
            .running_count(running)
            .set_deployments(Some(deployments))
            .build()
    }

    #[test]
    fn deployments_are_judged_by_the_one_moor_started() {
        let (old, new) = ("arn:aws:ecs:r:1:task-definition/web:1", "arn:aws:ecs:r:1:task-definition/web:2");
        let verdict = |s: &et::Service| deployment_verdict(s, Some("d2"), new).0;
        // In progress, then done.
        let s = service(new, 2, 1, vec![deployment("d2", "PRIMARY", new, Some("IN_PROGRESS"), 1, 2, 0)]);
        assert_eq!(verdict(&s), Verdict::Waiting);
        let s = service(new, 2, 2, vec![deployment("d2", "PRIMARY", new, Some("COMPLETED"), 2, 2, 0)]);
        assert_eq!(verdict(&s), Verdict::Done);
        // COMPLETED is not enough while tasks are missing (scaling out).
        let s = service(new, 3, 2, vec![deployment("d2", "PRIMARY", new, Some("COMPLETED"), 2, 3, 0)]);
        assert_eq!(verdict(&s), Verdict::Waiting);
        // The circuit breaker rolled back to the old revision.
        let s = service(
            old,
            2,
            2,
            vec![
                deployment("d3", "PRIMARY", old, Some("IN_PROGRESS"), 0, 2, 0),
                deployment("d2", "ACTIVE", new, Some("FAILED"), 0, 2, 3),
            ],
        );
        assert!(matches!(verdict(&s), Verdict::Failed(m) if m.contains("rolled back")));
        // A rollback that already completed still is one.
        let s = service(old, 2, 2, vec![deployment("d3", "PRIMARY", old, Some("COMPLETED"), 2, 2, 0)]);
        assert!(matches!(verdict(&s), Verdict::Failed(m) if m.contains("rolled back")));
        // A rollback to the same revision (say, after a network change).
        let s = service(
            new,
            2,
            2,
            vec![
                deployment("d3", "PRIMARY", new, Some("IN_PROGRESS"), 2, 2, 0),
                deployment("d2", "ACTIVE", new, Some("FAILED"), 0, 2, 3),
            ],
        );
        assert!(matches!(verdict(&s), Verdict::Failed(m) if m.contains("rolled back")));
        // A breaker without rollback: FAILED.
        let s = service(new, 2, 0, vec![deployment("d2", "PRIMARY", new, Some("FAILED"), 0, 2, 3)]);
        assert!(matches!(verdict(&s), Verdict::Failed(m) if m.contains("failed: circuit breaker")));
        // Tasks that keep stopping, without a breaker: fail at its threshold.
        let s = service(new, 2, 0, vec![deployment("d2", "PRIMARY", new, Some("IN_PROGRESS"), 0, 2, 2)]);
        assert_eq!(verdict(&s), Verdict::Waiting);
        let s = service(new, 2, 0, vec![deployment("d2", "PRIMARY", new, Some("IN_PROGRESS"), 0, 2, 3)]);
        assert!(matches!(verdict(&s), Verdict::Failed(m) if m.contains("3 tasks failed to start")));
        // A newer deployment of the same revision (the answer did not list
        // moor's yet) is moor's.
        let s = service(new, 2, 2, vec![deployment("d9", "PRIMARY", new, Some("COMPLETED"), 2, 2, 0)]);
        assert_eq!(verdict(&s), Verdict::Done);
        // Without rollout states (older deployments): one deployment, all running.
        let s = service(new, 2, 2, vec![deployment("d2", "PRIMARY", new, None, 2, 2, 0)]);
        assert_eq!(verdict(&s), Verdict::Done);
        let (_, status) = deployment_verdict(&s, Some("d2"), new);
        assert_eq!(status, "2 of 2 tasks running, rollout unknown, 0 failed tasks");
    }

    #[test]
    fn the_failure_threshold_follows_the_circuit_breaker() {
        assert_eq!(failure_threshold(1), 3);
        assert_eq!(failure_threshold(10), 5);
        assert_eq!(failure_threshold(11), 6);
        assert_eq!(failure_threshold(1000), 200);
    }

    #[test]
    fn describe_answers_are_matched_to_names_and_arns() {
        let arn = "arn:aws:ecs:us-east-1:123456789012:service/c0/web";
        assert!(answers(arn, Some(arn), Some("web")));
        assert!(answers("web", Some(arn), Some("web")));
        // The short form of a service ARN names no cluster.
        assert!(answers("arn:aws:ecs:us-east-1:123456789012:service/web", Some(arn), Some("web")));
        assert!(!answers("api", Some(arn), Some("web")));
        assert!(!answers("arn:aws:ecs:us-east-1:123456789012:service/c0/api", Some(arn), Some("web")));
    }
}
