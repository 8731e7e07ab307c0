//! `appautoscaling/ecs_service_scaling`: Application Auto Scaling of an
//! ECS service's desired count.
//!
//! The resource is a scalable target (`ecs:service:DesiredCount` of
//! `service/<cluster>/<service>`), moor's target-tracking policies on it
//! (named `moor-<metric>`) and moor's scheduled actions (`moor-<name>`);
//! other policies and actions on the target are left alone.
//! Its id is the scalable target's ARN, which AWS gives each registration
//! anew; the resource id, built from the service's ARN, is its
//! `resource_id` attribute, so a lost record still finds it by reading
//! that. The target carries moor's tags where AWS keeps them (sent on
//! register, listed by the tagging API, so a destroy without a record finds
//! it), but reads do not ask for them: the record's ARN proves it is moor's,
//! and one found by the file's service without a record is left alone until
//! `moor import` takes it over.
//!
//! Reads describe the targets of many services in one call, then each
//! found target's policies and scheduled actions.

use super::kinds::{ArnType, AwsKind, AwsManaged, Typed};
use super::permissions::{Grant, Phase, Scope};
use super::{sdk_err, AwsProvider};
use crate::kinds::appautoscaling::{
    resource_id_of, EcsServiceScaling, Metric, Schedule, TargetTracking, POLICY_PREFIX,
};
use crate::model::common::Tags;
use crate::provider::{Attrs, Deletion, ErrorKind, Fields, Live, ProviderError, Target};
use async_trait::async_trait;
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ScalableTarget, ScalableTargetAction,
    ScalingPolicy, ScheduledAction, ServiceNamespace, TargetTrackingScalingPolicyConfiguration,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// A scaling as the service's batched read takes it.
pub(super) type Read<'a> = Typed<'a, EcsServiceScaling>;

/// The most resource ids one `DescribeScalableTargets` takes.
const IDS_PER_CALL: usize = 50;

/// How long a service just made may be unknown to Application Auto
/// Scaling (AWS's reads lag behind ECS's create).
const SERVICE_LAG: std::time::Duration = std::time::Duration::from_secs(30);

fn dimension() -> ScalableDimension {
    ScalableDimension::EcsServiceDesiredCount
}

#[async_trait]
impl AwsKind for EcsServiceScaling {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let targets = [at.arn("application-autoscaling", "scalable-target/*")];
        let why = "a scalable target's ARN holds an id AWS makes: changed only when tagged as the stack's";
        // `service/<cluster>/<name>` of the ECS service, as far as it is known.
        let service = super::permissions::known(&t.spec.service);
        let service = service.split_once(":service/").map_or("*/*".to_string(), |(_, s)| s.to_string());
        let alarms = [at.arn("cloudwatch", &format!("alarm:TargetTracking-service/{service}-*"))];
        let ecs = [at.arn("ecs", &format!("service/{service}"))];
        vec![
            Grant::any(
                Phase::Read,
                &[
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                    "application-autoscaling:DescribeScheduledActions",
                ],
                "Application Auto Scaling's Describe calls take no resource",
            ),
            Grant::any(
                Phase::Read,
                &["elasticloadbalancing:DescribeTargetGroups"],
                "Elastic Load Balancing's Describe calls take no resource",
            ),
            Grant::any(
                Phase::Create,
                &["application-autoscaling:RegisterScalableTarget"],
                "AWS makes the scalable target's ARN in this call",
            )
            .tagged_on_create(&at.stack),
            Grant::on(Phase::Create, &["application-autoscaling:TagResource"], targets.clone())
                .within(&["application-autoscaling:RegisterScalableTarget"]),
            Grant::on(Phase::Create, &["ecs:DescribeServices", "ecs:UpdateService"], ecs)
                .within(&["application-autoscaling:RegisterScalableTarget"]),
            Grant::on(
                Phase::Create,
                &["iam:CreateServiceLinkedRole"],
                [at.global("iam", "role/aws-service-role/ecs.application-autoscaling.amazonaws.com/*")],
            )
            .when("StringEquals", "iam:AWSServiceName", ["ecs.application-autoscaling.amazonaws.com".to_string()])
            .within(&["application-autoscaling:RegisterScalableTarget"]),
            Grant::on(
                Phase::Update,
                &[
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:PutScheduledAction",
                    "application-autoscaling:DeleteScheduledAction",
                ],
                targets.clone(),
            )
            .owned(&at.stack)
            .because(why),
            Grant::on(
                Phase::Update,
                &["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
                alarms,
            )
            .within(&["application-autoscaling:PutScalingPolicy", "application-autoscaling:DeleteScalingPolicy"]),
            Grant::on(
                Phase::Delete,
                &[
                    "application-autoscaling:DeleteScalingPolicy",
                    "application-autoscaling:DeleteScheduledAction",
                    "application-autoscaling:DeregisterScalableTarget",
                ],
                targets,
            )
            .owned(&at.stack)
            .because(why),
        ]
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "application-autoscaling", resource: "scalable-target" });

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        super::kinds::Read::AppAutoScaling(t)
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        match recorded_resource_id(p, d).await? {
            Some(id) => read_id(p, &id).await,
            None => Ok(None),
        }
    }
}

#[async_trait]
impl AwsManaged for EcsServiceScaling {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        create(p, t.target, t.spec).await
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        update(p, t.spec, live, changed).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        match recorded_resource_id(p, d).await? {
            Some(id) => delete(p, &id).await,
            None => Ok(()),
        }
    }

    /// A scalable target has no tags moor reads: taking it over is
    /// recording it.
    async fn adopt(_p: &AwsProvider, _t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        Ok(live.clone())
    }
}

/// The resource id a target reads: the recorded one (a scaling moved to
/// another service is read as it is, and the plan sees `service` change),
/// else the one its service's ARN gives.
fn wanted(t: &Read<'_>) -> Option<String> {
    match t.recorded.get("resource_id").and_then(Value::as_str) {
        Some(id) => Some(id.to_string()),
        None => {
            t.id.as_deref()
                .filter(|id| id.starts_with("service/"))
                .map(str::to_string)
                .or_else(|| resource_id_of(&t.spec.service).filter(|_| !super::unresolved(&t.spec.service)))
        }
    }
}

/// Whether `live` is the scaling a target asks for: an id given without a
/// record (`moor import <logical> <ARN>`) must be the ARN found.
fn asked(t: &Read<'_>, live: &Live) -> bool {
    match t.id.as_deref() {
        Some(id) if id.starts_with("arn:") && !t.recorded.contains_key("resource_id") => live.id == id,
        _ => true,
    }
}

/// The resource id of a recorded or found scaling: its `resource_id`
/// attribute, else (found by its tags alone) the ECS scalable target that
/// has its ARN, from the listing of them all. `None` when none has.
async fn recorded_resource_id(p: &AwsProvider, d: &Deletion) -> Result<Option<String>, ProviderError> {
    if let Some(id) = d.attrs.get("resource_id").and_then(Value::as_str) {
        return Ok(Some(id.to_string()));
    }
    if d.id.starts_with("service/") {
        return Ok(Some(d.id.clone()));
    }
    let all = all_targets(p).await?;
    Ok(all.iter().find(|t| t.scalable_target_arn() == Some(d.id.as_str())).map(|t| t.resource_id().to_string()))
}

/// The ECS scalable targets of the account and region, all of them.
async fn all_targets(p: &AwsProvider) -> Result<Vec<ScalableTarget>, ProviderError> {
    p.appautoscaling
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(dimension())
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| sdk_err("application-autoscaling:DescribeScalableTargets", e))
}

/// The scalable target ARN a read is given without a record (`moor import`).
fn given_arn<'a>(t: &'a Read<'_>) -> Option<&'a str> {
    t.id.as_deref().filter(|id| id.starts_with("arn:") && !t.recorded.contains_key("resource_id"))
}

/// `arn:<partition>:<service>:<region>:<account>:` of an ARN.
fn arn_prefix(arn: &str, service: &str) -> Option<String> {
    let p: Vec<&str> = arn.splitn(6, ':').collect();
    (p.len() == 6 && p[0] == "arn").then(|| format!("arn:{}:{service}:{}:{}:", p[1], p[3], p[4]))
}

/// The target group ARN of a request count's resource label
/// (`app/<lb>/<id>/targetgroup/<tg>/<id>`), in the region and account of
/// the scalable target.
fn target_group_of_label(label: &str, target_arn: Option<&str>) -> Option<String> {
    let at = label.find("targetgroup/")?;
    Some(format!("{}{}", arn_prefix(target_arn?, "elasticloadbalancing")?, &label[at..]))
}

/// A policy as the file says it; `None` for one moor did not make (another
/// name, or a metric moor does not set).
fn policy_of(p: &ScalingPolicy, target_arn: Option<&str>) -> Option<Value> {
    p.policy_name().strip_prefix(POLICY_PREFIX)?;
    let c = p.target_tracking_scaling_policy_configuration()?;
    let spec = c.predefined_metric_specification()?;
    let metric = Metric::of_aws(spec.predefined_metric_type().as_str())?;
    if p.policy_name() != metric.policy_name() {
        return None;
    }
    let mut v = json!({
        "metric": metric.as_str(),
        "target": c.target_value(),
        "disable_scale_in": c.disable_scale_in().unwrap_or(false),
    });
    let o = v.as_object_mut().expect("an object");
    if let Some(s) = c.scale_in_cooldown() {
        o.insert("scale_in_cooldown".into(), json!(s));
    }
    if let Some(s) = c.scale_out_cooldown() {
        o.insert("scale_out_cooldown".into(), json!(s));
    }
    if let Some(tg) = spec.resource_label().and_then(|l| target_group_of_label(l, target_arn)) {
        o.insert("target_group".into(), json!(tg));
    }
    Some(v)
}

/// A scheduled action as the file says it; `None` for one moor did not
/// make (another name).
fn schedule_of(a: &ScheduledAction) -> Option<Value> {
    let name = a.scheduled_action_name().strip_prefix(POLICY_PREFIX)?;
    let mut v = json!({"name": name, "schedule": a.schedule()});
    let o = v.as_object_mut().expect("an object");
    // As AWS has it, `UTC` included: a file that gives none compares only
    // what it sets, and one that says `UTC` finds it.
    if let Some(tz) = a.timezone().filter(|tz| !tz.is_empty()) {
        o.insert("timezone".into(), json!(tz));
    }
    if let Some(r) = a.scalable_target_action() {
        if let Some(min) = r.min_capacity() {
            o.insert("min".into(), json!(min));
        }
        if let Some(max) = r.max_capacity() {
            o.insert("max".into(), json!(max));
        }
    }
    Some(v)
}

/// The scaling as moor reports it: the fields a file sets, in its form.
fn live_of(t: &ScalableTarget, policies: &[ScalingPolicy], actions: &[ScheduledAction]) -> Live {
    let arn = t.scalable_target_arn().filter(|a| !a.is_empty());
    let id = t.resource_id().to_string();
    let mut f = Fields::new();
    if let Some(service) = arn.and_then(|a| arn_prefix(a, "ecs")) {
        f.insert("service".into(), json!(format!("{service}{id}")));
    }
    f.insert("min".into(), json!(t.min_capacity()));
    f.insert("max".into(), json!(t.max_capacity()));
    let tracking: Vec<Value> =
        policies.iter().filter(|p| p.resource_id() == id).filter_map(|p| policy_of(p, arn)).collect();
    f.insert("target_tracking".into(), Value::Array(tracking));
    let schedules: Vec<Value> = actions.iter().filter(|a| a.resource_id() == id).filter_map(schedule_of).collect();
    f.insert("schedules".into(), Value::Array(schedules));
    let attrs: Attrs = BTreeMap::from([("resource_id".to_string(), json!(id))]);
    // The ARN where the endpoint gives one (AWS has since 2023).
    Live { id: arn.map_or(id, str::to_string), fields: f, attrs, tags: Tags::new(), uid: None }
}

/// The scalable targets of `ids`, by resource id.
async fn describe(p: &AwsProvider, ids: &[String]) -> Result<HashMap<String, ScalableTarget>, ProviderError> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(IDS_PER_CALL) {
        let targets: Vec<ScalableTarget> = p
            .appautoscaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(dimension())
            .set_resource_ids(Some(chunk.to_vec()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_err("application-autoscaling:DescribeScalableTargets", e))?;
        out.extend(targets.into_iter().map(|t| (t.resource_id().to_string(), t)));
    }
    Ok(out)
}

/// The scaling policies of one scalable target.
async fn policies(p: &AwsProvider, id: &str) -> Result<Vec<ScalingPolicy>, ProviderError> {
    let all: Vec<ScalingPolicy> = p
        .appautoscaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(dimension())
        .resource_id(id)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| sdk_err("application-autoscaling:DescribeScalingPolicies", e))?;
    Ok(all.into_iter().filter(|x| x.resource_id() == id).collect())
}

/// The scheduled actions of one scalable target.
async fn actions(p: &AwsProvider, id: &str) -> Result<Vec<ScheduledAction>, ProviderError> {
    let all: Vec<ScheduledAction> = p
        .appautoscaling
        .describe_scheduled_actions()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(dimension())
        .resource_id(id)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| sdk_err("application-autoscaling:DescribeScheduledActions", e))?;
    Ok(all.into_iter().filter(|x| x.resource_id() == id).collect())
}

/// A scalable target's policies and scheduled actions.
type Rules = (Vec<ScalingPolicy>, Vec<ScheduledAction>);

/// The policies and scheduled actions of one scalable target, together.
async fn rules(p: &AwsProvider, id: &str) -> Result<Rules, ProviderError> {
    let (ps, acts) = futures::join!(policies(p, id), actions(p, id));
    Ok((ps?, acts?))
}

/// Reads the scalings of many targets: their scalable targets together,
/// then the policies and scheduled actions of each one found.
pub(super) async fn read_many(p: &AwsProvider, ts: &[Read<'_>]) -> Vec<Result<Option<Live>, ProviderError>> {
    let mut ids: Vec<Option<String>> = ts.iter().map(wanted).collect();
    // An ARN given without a record, whose service is not known yet
    // (`moor import <logical> <ARN>`): its resource id is the one of the
    // ECS scalable target with that ARN.
    if ids.iter().zip(ts).any(|(id, t)| id.is_none() && given_arn(t).is_some()) {
        let all = match all_targets(p).await {
            Ok(all) => all,
            Err(e) => return ts.iter().map(|_| Err(e.clone())).collect(),
        };
        for (id, t) in ids.iter_mut().zip(ts) {
            if let (None, Some(arn)) = (id.as_ref(), given_arn(t)) {
                *id = all.iter().find(|x| x.scalable_target_arn() == Some(arn)).map(|x| x.resource_id().to_string());
            }
        }
    }
    let mut unique: Vec<String> = ids.iter().flatten().cloned().collect();
    unique.sort();
    unique.dedup();
    if unique.is_empty() {
        return ts.iter().map(|_| Ok(None)).collect();
    }
    let targets = match describe(p, &unique).await {
        Ok(t) => t,
        Err(e) => return ts.iter().map(|_| Err(e.clone())).collect(),
    };
    let found: Vec<&String> = unique.iter().filter(|id| targets.contains_key(*id)).collect();
    let got = futures::future::join_all(found.iter().map(|id| rules(p, id))).await;
    let pols: HashMap<&str, Result<Rules, ProviderError>> = found.iter().map(|id| id.as_str()).zip(got).collect();
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            let Some(id) = id else { return Ok(None) };
            let Some(t) = targets.get(id) else { return Ok(None) };
            let live = match pols.get(id.as_str()) {
                Some(Ok((ps, acts))) => live_of(t, ps, acts),
                Some(Err(e)) => return Err(e.clone()),
                None => live_of(t, &[], &[]),
            };
            Ok(asked(&ts[i], &live).then_some(live))
        })
        .collect()
}

/// Reads one scaling by resource id (`service/<cluster>/<service>`).
async fn read_id(p: &AwsProvider, id: &str) -> Result<Option<Live>, ProviderError> {
    let Some(t) = describe(p, &[id.to_string()]).await?.remove(id) else { return Ok(None) };
    let (ps, acts) = rules(p, id).await?;
    Ok(Some(live_of(&t, &ps, &acts)))
}

fn rejected(op: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::Rejected, op, message)
}

/// Whether AWS does not know the service yet (it was just made):
/// `ValidationException: ECS service doesn't exist`.
fn service_not_known_yet(e: &ProviderError) -> bool {
    e.code.as_deref() == Some("ValidationException") && e.message.contains("doesn't exist")
}

/// Whether AWS says the scalable target or policy is not there: AWS's
/// `ObjectNotFoundException`, or the `ValidationException` ("No scalable
/// target found", "No scaling policy found") some endpoints answer.
fn gone(e: &ProviderError) -> bool {
    e.kind == ErrorKind::NotFound
        || (e.code.as_deref() == Some("ValidationException") && e.message.starts_with("No scal"))
}

/// A delete's answer: what AWS says is gone is deleted.
fn deleted(r: Result<(), ProviderError>) -> Result<(), ProviderError> {
    match r {
        Err(e) if gone(&e) => Ok(()),
        r => r,
    }
}

async fn register(
    p: &AwsProvider,
    id: &str,
    spec: &EcsServiceScaling,
    tags: Option<&Tags>,
) -> Result<Option<String>, ProviderError> {
    let tags: Option<HashMap<String, String>> = tags.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    let out = super::retry_for(
        SERVICE_LAG,
        || {
            let req = p
                .appautoscaling
                .register_scalable_target()
                .service_namespace(ServiceNamespace::Ecs)
                .scalable_dimension(dimension())
                .resource_id(id)
                .min_capacity(spec.min as i32)
                .max_capacity(spec.max as i32)
                .set_tags(tags.clone());
            async move { req.send().await.map_err(|e| sdk_err("application-autoscaling:RegisterScalableTarget", e)) }
        },
        service_not_known_yet,
    )
    .await?;
    Ok(out.scalable_target_arn().filter(|a| !a.is_empty()).map(str::to_string))
}

/// The resource label of a request count: the load balancer's ARN after
/// `loadbalancer/`, then the target group's after its last `:`. The load
/// balancer is the one the target group is attached to.
async fn resource_label(p: &AwsProvider, tg: &str) -> Result<String, ProviderError> {
    let op = "elbv2:DescribeTargetGroups";
    let out = p.elb.describe_target_groups().target_group_arns(tg).send().await.map_err(|e| sdk_err(op, e))?;
    let g = out.target_groups().first().ok_or_else(|| rejected(op, format!("target group `{tg}` was not found")))?;
    let lb = g.load_balancer_arns().first().ok_or_else(|| {
        rejected(op, format!("target group `{tg}` is attached to no load balancer, so it counts no requests"))
    })?;
    let lb_part = lb.split_once(":loadbalancer/").map(|(_, r)| r);
    let tg_part = tg.rsplit_once(':').map(|(_, r)| r).filter(|r| r.starts_with("targetgroup/"));
    match (lb_part, tg_part) {
        (Some(l), Some(t)) => Ok(format!("{l}/{t}")),
        _ => Err(rejected(op, format!("cannot make a resource label of `{lb}` and `{tg}`"))),
    }
}

async fn put_policy(p: &AwsProvider, id: &str, t: &TargetTracking) -> Result<(), ProviderError> {
    let op = "application-autoscaling:PutScalingPolicy";
    let label = match &t.target_group {
        Some(tg) if t.metric == Metric::RequestCountPerTarget => Some(resource_label(p, tg).await?),
        _ => None,
    };
    let metric = PredefinedMetricSpecification::builder()
        .predefined_metric_type(MetricType::from(t.metric.aws()))
        .set_resource_label(label)
        .build()
        .map_err(|e| super::build_failed(op, e))?;
    let config = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(t.target)
        .predefined_metric_specification(metric)
        .set_scale_in_cooldown(t.scale_in_cooldown.map(|c| c as i32))
        .set_scale_out_cooldown(t.scale_out_cooldown.map(|c| c as i32))
        .disable_scale_in(t.disable_scale_in)
        .build()
        .map_err(|e| super::build_failed(op, e))?;
    p.appautoscaling
        .put_scaling_policy()
        .policy_name(t.metric.policy_name())
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(dimension())
        .resource_id(id)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(config)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sdk_err(op, e))
}

async fn delete_policy(p: &AwsProvider, id: &str, name: &str) -> Result<(), ProviderError> {
    let r = p
        .appautoscaling
        .delete_scaling_policy()
        .policy_name(name)
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(dimension())
        .resource_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sdk_err("application-autoscaling:DeleteScalingPolicy", e));
    deleted(r)
}

/// Puts every policy of the file, one after another (AWS refuses
/// concurrent changes of one scalable target), and deletes moor's policies
/// the file no longer has.
async fn sync_policies(
    p: &AwsProvider,
    id: &str,
    spec: &EcsServiceScaling,
    live: &[String],
) -> Result<(), ProviderError> {
    for t in &spec.target_tracking {
        put_policy(p, id, t).await?;
    }
    let keep: Vec<String> = spec.target_tracking.iter().map(|t| t.metric.policy_name()).collect();
    for name in stale(live.iter().map(String::as_str), &keep) {
        delete_policy(p, id, name).await?;
    }
    Ok(())
}

/// moor's names (`moor-…`) among `names` that `keep` does not list: what a
/// sync or a delete removes. Another tool's policies and actions are never
/// among them.
fn stale<'a>(names: impl IntoIterator<Item = &'a str>, keep: &[String]) -> Vec<&'a str> {
    names.into_iter().filter(|n| n.starts_with(POLICY_PREFIX) && !keep.iter().any(|k| k == n)).collect()
}

async fn put_action(p: &AwsProvider, id: &str, s: &Schedule) -> Result<(), ProviderError> {
    let range = ScalableTargetAction::builder()
        .set_min_capacity(s.min.map(|n| n as i32))
        .set_max_capacity(s.max.map(|n| n as i32))
        .build();
    p.appautoscaling
        .put_scheduled_action()
        .scheduled_action_name(s.action_name())
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(dimension())
        .resource_id(id)
        .schedule(&s.schedule)
        // Sent always: a timezone the file no longer gives goes back to UTC.
        .timezone(s.timezone.as_deref().unwrap_or("UTC"))
        .scalable_target_action(range)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sdk_err("application-autoscaling:PutScheduledAction", e))
}

async fn delete_action(p: &AwsProvider, id: &str, name: &str) -> Result<(), ProviderError> {
    let r = p
        .appautoscaling
        .delete_scheduled_action()
        .scheduled_action_name(name)
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(dimension())
        .resource_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sdk_err("application-autoscaling:DeleteScheduledAction", e));
    deleted(r)
}

/// Puts every schedule of the file and deletes moor's actions the file no
/// longer has. PutScheduledAction keeps the `min` or `max` of an existing
/// action that a new put leaves out, so an action that loses one is
/// deleted first and put anew.
async fn sync_actions(
    p: &AwsProvider,
    id: &str,
    spec: &EcsServiceScaling,
    live: &[ScheduledAction],
) -> Result<(), ProviderError> {
    for s in &spec.schedules {
        let name = s.action_name();
        let before = live.iter().find(|a| a.scheduled_action_name() == name);
        let range = before.and_then(ScheduledAction::scalable_target_action);
        let drops = range.is_some_and(|r| {
            (s.min.is_none() && r.min_capacity().is_some()) || (s.max.is_none() && r.max_capacity().is_some())
        });
        if drops {
            delete_action(p, id, &name).await?;
        }
        put_action(p, id, s).await?;
    }
    let keep: Vec<String> = spec.schedules.iter().map(Schedule::action_name).collect();
    for name in stale(live.iter().map(ScheduledAction::scheduled_action_name), &keep) {
        delete_action(p, id, name).await?;
    }
    Ok(())
}

fn resource_id(spec: &EcsServiceScaling, op: &str) -> Result<String, ProviderError> {
    resource_id_of(&spec.service).ok_or_else(|| {
        rejected(op, format!("`{}` is not a service ARN of the form arn:…:service/<cluster>/<service>", spec.service))
    })
}

/// Registers the scalable target (with the stack's tags) and puts the
/// policies. The scaling is what was sent, with the ARN of the answer: a
/// describe right after may not show it yet.
async fn create(p: &AwsProvider, t: &Target, spec: &EcsServiceScaling) -> Result<Live, ProviderError> {
    let id = resource_id(spec, "application-autoscaling:RegisterScalableTarget")?;
    let arn = register(p, &id, spec, Some(&t.tags)).await?;
    sync_policies(p, &id, spec, &[]).await?;
    sync_actions(p, &id, spec, &[]).await?;
    let mut f = Fields::new();
    f.insert("service".into(), json!(spec.service));
    f.insert("min".into(), json!(spec.min));
    f.insert("max".into(), json!(spec.max));
    f.insert("target_tracking".into(), json!(spec.target_tracking));
    f.insert("schedules".into(), json!(spec.schedules));
    let attrs: Attrs = BTreeMap::from([("resource_id".to_string(), json!(id))]);
    Ok(Live { id: arn.unwrap_or_else(|| id.clone()), fields: f, attrs, tags: Tags::new(), uid: None })
}

/// Registers the target again for `min`/`max` (RegisterScalableTarget
/// changes a registered target in place) and puts or deletes policies.
async fn update(
    p: &AwsProvider,
    spec: &EcsServiceScaling,
    live: &Live,
    changed: &[String],
) -> Result<Live, ProviderError> {
    let has = |f: &str| changed.iter().any(|c| c == f);
    let id = match live.attrs.get("resource_id").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => resource_id(spec, "application-autoscaling:RegisterScalableTarget")?,
    };
    if has("min") || has("max") {
        register(p, &id, spec, None).await?;
    }
    if has("target_tracking") {
        let names: Vec<String> = policies(p, &id).await?.iter().map(|x| x.policy_name().to_string()).collect();
        sync_policies(p, &id, spec, &names).await?;
    }
    if has("schedules") {
        sync_actions(p, &id, spec, &actions(p, &id).await?).await?;
    }
    read_id(p, &id)
        .await?
        .ok_or_else(|| rejected("application-autoscaling:DescribeScalableTargets", format!("`{id}` is gone")))
}

/// Deletes moor's policies and scheduled actions, then deregisters the
/// target (AWS deletes the target's other actions with it); one already
/// gone is deleted.
async fn delete(p: &AwsProvider, id: &str) -> Result<(), ProviderError> {
    if !id.starts_with("service/") {
        return Ok(());
    }
    let (ps, acts) = match rules(p, id).await {
        Ok(r) => r,
        Err(e) if gone(&e) => (Vec::new(), Vec::new()),
        Err(e) => return Err(e),
    };
    for name in stale(ps.iter().map(ScalingPolicy::policy_name), &[]) {
        delete_policy(p, id, name).await?;
    }
    for name in stale(acts.iter().map(ScheduledAction::scheduled_action_name), &[]) {
        delete_action(p, id, name).await?;
    }
    let r = p
        .appautoscaling
        .deregister_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(dimension())
        .resource_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sdk_err("application-autoscaling:DeregisterScalableTarget", e));
    deleted(r)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{test_config, Scripted as Script};
    use super::*;

    fn scripted(script: &Script) -> AwsProvider {
        AwsProvider::from_config(&test_config(script.clone()), "us-east-1".into(), Default::default())
    }

    const SERVICE: &str = "arn:aws:ecs:us-east-1:123456789012:service/c/web";
    const ARN: &str = "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/0ec1";

    fn target(settings: &str) -> Target {
        let text = format!(
            "stack: s\nresources:\n  scaling:\n    kind: appautoscaling/ecs_service_scaling\n    service: {SERVICE}\n{settings}"
        );
        let stack = crate::load::load_str("s.yaml", &text, &Default::default()).stack.expect("a stack");
        let state = crate::state::State::new("s", None);
        crate::plan::target(&stack, "scaling", &Default::default(), &state).0
    }

    fn spec(t: &Target) -> &EcsServiceScaling {
        match &t.spec {
            crate::model::Spec::AppautoscalingEcsServiceScaling(s) => s,
            other => panic!("{} is not a scaling", other.kind()),
        }
    }

    /// AWS may not know a service ECS has just made: the register is
    /// tried again until it does, then the policies are put, and the
    /// scaling is what was sent, with the ARN of the answer.
    #[tokio::test]
    async fn a_register_waits_for_a_service_just_made() {
        let not_yet = json!({"__type": "ValidationException", "message": "ECS service doesn't exist: service/c/web"});
        let script = Script::default();
        script
            .answer("RegisterScalableTarget", 400, not_yet)
            .answer("RegisterScalableTarget", 200, json!({"ScalableTargetARN": ARN}))
            .answer("PutScalingPolicy", 200, json!({"PolicyARN": "arn:p", "Alarms": []}));
        let p = scripted(&script);
        let t = target("    min: 1\n    max: 4\n    target_tracking:\n      - { metric: cpu, target: 60 }\n");
        let live = create(&p, &t, spec(&t)).await.expect("registered");
        assert_eq!(live.id, ARN);
        assert_eq!(live.attrs["resource_id"], json!("service/c/web"));
        assert_eq!(script.ops(), ["RegisterScalableTarget", "RegisterScalableTarget", "PutScalingPolicy"]);
        let calls = script.requests();
        assert_eq!(calls[1].1["ResourceId"], "service/c/web");
        assert_eq!(calls[1].1["ScalableDimension"], "ecs:service:DesiredCount");
        assert_eq!(calls[1].1["Tags"]["moor:resource"], "scaling");
        let put = &calls[2].1;
        assert_eq!(put["PolicyName"], "moor-cpu");
        assert_eq!(put["TargetTrackingScalingPolicyConfiguration"]["TargetValue"], 60.0);
    }

    /// Any other refusal of the register is not waited on.
    #[tokio::test]
    async fn a_register_refused_for_another_reason_fails_at_once_naming_the_call() {
        let script = Script::default();
        script.answer(
            "RegisterScalableTarget",
            400,
            json!({"__type": "ValidationException", "message": "Maximum capacity cannot be less than minimum"}),
        );
        let p = scripted(&script);
        let t = target("    min: 1\n    max: 4\n");
        let e = create(&p, &t, spec(&t)).await.expect_err("refused");
        assert_eq!(script.ops(), ["RegisterScalableTarget"]);
        assert!(e.to_string().starts_with("application-autoscaling:RegisterScalableTarget failed"), "{e}");
    }

    /// A delete removes moor's policies only, then the target; what AWS
    /// says is gone (`ObjectNotFoundException`) is deleted.
    #[tokio::test]
    async fn a_delete_takes_moors_policies_and_the_target_and_gone_is_deleted() {
        let gone = json!({"__type": "ObjectNotFoundException", "message": "No scalable target registered"});
        let policy = |name: &str, id: &str| {
            json!({"PolicyARN": format!("arn:{name}"), "PolicyName": name, "ServiceNamespace": "ecs",
                "ResourceId": id, "ScalableDimension": "ecs:service:DesiredCount",
                "PolicyType": "TargetTrackingScaling", "CreationTime": 1.0})
        };
        let action = |name: &str, id: &str| {
            json!({"ScheduledActionName": name, "ScheduledActionARN": format!("arn:{name}"), "ServiceNamespace": "ecs",
                "Schedule": "cron(0 20 * * ? *)", "ResourceId": id, "ScalableDimension": "ecs:service:DesiredCount",
                "ScalableTargetAction": {"MinCapacity": 0, "MaxCapacity": 0}, "CreationTime": 1.0})
        };
        let script = Script::default();
        script
            .answer(
                "DescribeScalingPolicies",
                200,
                json!({"ScalingPolicies": [policy("moor-cpu", "service/c/web"), policy("theirs", "service/c/web"),
                    policy("moor-memory", "service/c/we")]}),
            )
            .answer(
                "DescribeScheduledActions",
                200,
                json!({"ScheduledActions": [action("moor-night", "service/c/web"), action("theirs", "service/c/web")]}),
            )
            .answer("DeleteScalingPolicy", 400, gone.clone())
            .answer("DeleteScheduledAction", 200, json!({}))
            .answer("DeregisterScalableTarget", 400, gone);
        let p = scripted(&script);
        let d = Deletion {
            logical: "scaling".into(),
            kind: crate::model::Kind::AppautoscalingEcsServiceScaling,
            id: ARN.into(),
            name: None,
            attrs: BTreeMap::from([("resource_id".to_string(), json!("service/c/web"))]),
            force: false,
        };
        <EcsServiceScaling as AwsManaged>::delete(&p, &d).await.expect("gone is deleted");
        let ops = script.ops();
        let mut reads = ops[..2].to_vec();
        reads.sort();
        assert_eq!(reads, ["DescribeScalingPolicies", "DescribeScheduledActions"]);
        assert_eq!(ops[2..], ["DeleteScalingPolicy", "DeleteScheduledAction", "DeregisterScalableTarget"]);
        let calls = script.requests();
        assert_eq!(calls[2].1["PolicyName"], "moor-cpu");
        assert_eq!(calls[3].1["ScheduledActionName"], "moor-night", "not the other tool's action");
    }

    /// AWS's PutScheduledAction keeps the `min` or `max` of an existing
    /// action that the put leaves out: an action that loses one is deleted
    /// first, then put without it. One that keeps both is put over itself,
    /// and moor's action the file dropped is deleted; another's is left.
    #[tokio::test]
    async fn a_schedule_that_drops_its_max_is_put_anew_without_it() {
        let action = |name: &str, min: Option<i32>, max: Option<i32>| {
            ScheduledAction::builder()
                .scheduled_action_name(name)
                .scheduled_action_arn(format!("arn:{name}"))
                .service_namespace(ServiceNamespace::Ecs)
                .schedule("cron(0 20 * * ? *)")
                .resource_id("service/c/web")
                .scalable_target_action(
                    ScalableTargetAction::builder().set_min_capacity(min).set_max_capacity(max).build(),
                )
                .creation_time(aws_smithy_types::DateTime::from_secs(1))
                .build()
                .expect("an action")
        };
        let live = [
            action("moor-night", Some(0), Some(0)),
            action("moor-morning", Some(1), Some(4)),
            action("moor-weekend", Some(0), None),
            action("theirs", None, Some(2)),
        ];
        let script = Script::default();
        for _ in 0..3 {
            script.answer("PutScheduledAction", 200, json!({}));
        }
        for _ in 0..2 {
            script.answer("DeleteScheduledAction", 200, json!({}));
        }
        let p = scripted(&script);
        let t = target(
            "    min: 1\n    max: 4\n    schedules:\n\
             \x20     - { name: night, schedule: 'cron(0 20 * * ? *)', min: 0 }\n\
             \x20     - { name: morning, schedule: 'cron(0 7 * * ? *)', min: 2, max: 4 }\n",
        );
        sync_actions(&p, "service/c/web", spec(&t), &live).await.expect("synced");
        let calls = script.requests();
        let seen: Vec<(String, String)> = calls
            .iter()
            .map(|(op, body)| (op.clone(), body["ScheduledActionName"].as_str().unwrap_or_default().to_string()))
            .collect();
        let want = [
            ("DeleteScheduledAction", "moor-night"),
            ("PutScheduledAction", "moor-night"),
            ("PutScheduledAction", "moor-morning"),
            ("DeleteScheduledAction", "moor-weekend"),
        ];
        assert_eq!(seen, want.map(|(a, b)| (a.to_string(), b.to_string())));
        assert_eq!(calls[1].1["ScalableTargetAction"], json!({"MinCapacity": 0}));
        assert_eq!(calls[1].1["Timezone"], "UTC");
    }

    #[test]
    fn a_request_counts_target_group_comes_back_from_its_label() {
        let label = "app/lb/50dc6c495c0c9188/targetgroup/tg/943f017f100becff";
        assert_eq!(
            target_group_of_label(label, Some(ARN)).as_deref(),
            Some("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/943f017f100becff")
        );
        assert_eq!(target_group_of_label("app/lb/1", Some(ARN)), None);
        assert_eq!(target_group_of_label(label, None), None);
    }
}
