//! Elastic Load Balancing v2: application load balancers, target groups and
//! listeners.
//!
//! Reads report what the file can say, in the file's form: AWS's defaults
//! that the file leaves alone (health check settings it does not set, the
//! `#{host}` placeholders of a redirect) are left out, and values AWS
//! returns as text (ports, status codes) become numbers again.

use super::kinds::{ArnType, AwsKind, AwsManaged, Typed};
use super::permissions::{known, Grant, Phase, Scope};
use super::{found, sdk_err, tag_map, unresolved, wait, AwsProvider};
use crate::kinds::elbv2::{
    Action as FileAction, Conditions, Forward, HealthCheck, Listener as ListenerSpec, ListenerRule as RuleSpec,
    LoadBalancer as LbSpec, ProtocolVersion, Scheme, TargetGroup as TgSpec, WeightedTarget,
};
use crate::model::common::Tags;
use crate::provider::{Attrs, Deletion, ErrorKind, Fields, Live, ProviderError, Target};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, ForwardActionConfig, HostHeaderConditionConfig,
    HttpHeaderConditionConfig, HttpRequestMethodConditionConfig, IpAddressType, Listener, LoadBalancer,
    LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerStateEnum, LoadBalancerTypeEnum, Matcher,
    PathPatternConditionConfig, ProtocolEnum, QueryStringConditionConfig, QueryStringKeyValuePair,
    RedirectActionConfig, RedirectActionStatusCodeEnum, Rule, RuleCondition, RulePriorityPair, SourceIpConditionConfig,
    Tag, TargetGroup, TargetGroupAttribute, TargetGroupStickinessConfig, TargetGroupTuple, TargetTypeEnum,
};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

const IDLE_TIMEOUT: &str = "idle_timeout.timeout_seconds";
const DELETION_PROTECTION: &str = "deletion_protection.enabled";
const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";
const STICKINESS: &str = "stickiness.enabled";
const STICKINESS_TYPE: &str = "stickiness.type";
const LB_COOKIE_DURATION: &str = "stickiness.lb_cookie.duration_seconds";
const APP_COOKIE_DURATION: &str = "stickiness.app_cookie.duration_seconds";
const APP_COOKIE_NAME: &str = "stickiness.app_cookie.cookie_name";
const ACCESS_LOGS: &str = "access_logs.s3.enabled";
const ACCESS_LOGS_BUCKET: &str = "access_logs.s3.bucket";
const ACCESS_LOGS_PREFIX: &str = "access_logs.s3.prefix";
const HTTP2: &str = "routing.http2.enabled";
const DROP_INVALID_HEADERS: &str = "routing.http.drop_invalid_header_fields.enabled";

/// A file enum as the file writes it (`HTTP`, `ip`, `internet_facing`).
fn file_str<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn missing(op: &str, what: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Rejected, op, format!("AWS returned no {what}"))
}

fn unresolved_err(op: &str, field: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Rejected, op, format!("`{field}` still holds a reference that is not known"))
}

/// The ARN suffix CloudWatch uses: `app/name/id` for a load balancer,
/// `targetgroup/name/id` for a target group.
fn lb_arn_suffix(arn: &str) -> String {
    arn.find(":loadbalancer/").map(|i| arn[i + ":loadbalancer/".len()..].to_string()).unwrap_or_default()
}

fn tg_arn_suffix(arn: &str) -> String {
    arn.find("targetgroup/").map(|i| arn[i..].to_string()).unwrap_or_default()
}

// ---- tags ------------------------------------------------------------------------

fn elb_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

async fn read_tags(p: &AwsProvider, arn: &str) -> Result<Tags, ProviderError> {
    let arns = [arn.to_string()];
    tags_of(p, &arns, false).await.remove(arn).unwrap_or_else(|| Ok(Tags::new()))
}

/// The tags of many resources, `PER_CALL` ARNs in each call, all calls at
/// once. One resource that is gone fails its whole call: with
/// `one_by_one`, such a call is asked again one ARN at a time (the gone one
/// then has a `NotFound` error); without, each ARN of it has that error.
async fn tags_of(p: &AwsProvider, arns: &[String], one_by_one: bool) -> HashMap<String, Result<Tags, ProviderError>> {
    let call = |chunk: Vec<String>| async move {
        let out = p
            .elb
            .describe_tags()
            .set_resource_arns(Some(chunk.clone()))
            .send()
            .await
            .map_err(|e| sdk_err("elbv2:DescribeTags", e))?;
        let mut tags: HashMap<String, Tags> = chunk.iter().map(|a| (a.clone(), Tags::new())).collect();
        for d in out.tag_descriptions() {
            // An answer that does not say whose tags these are can only be of a lone ARN.
            let arn = match d.resource_arn() {
                Some(a) => a,
                None if chunk.len() == 1 => chunk[0].as_str(),
                None => continue,
            };
            if let Some(t) = tags.get_mut(arn) {
                t.extend(tag_map(d.tags().iter().map(|t| (t.key(), t.value()))));
            }
        }
        Ok::<_, ProviderError>(tags)
    };
    let chunks: Vec<Vec<String>> = arns.chunks(PER_CALL).map(<[String]>::to_vec).collect();
    let first = futures::future::join_all(chunks.iter().cloned().map(call)).await;
    let mut out = HashMap::new();
    let mut singles = Vec::new();
    for (chunk, r) in chunks.into_iter().zip(first) {
        match r {
            Ok(tags) => out.extend(tags.into_iter().map(|(a, t)| (a, Ok(t)))),
            Err(e) if one_by_one && e.kind == ErrorKind::NotFound && chunk.len() > 1 => singles.extend(chunk),
            Err(e) => out.extend(chunk.into_iter().map(|a| (a, Err(e.clone())))),
        }
    }
    let again = futures::future::join_all(singles.iter().map(|a| call(vec![a.clone()]))).await;
    for (arn, r) in singles.into_iter().zip(again) {
        let r = r.map(|mut t| t.remove(&arn).unwrap_or_default());
        out.insert(arn, r);
    }
    out
}

/// Makes the resource's tags those of the target.
async fn sync_tags(p: &AwsProvider, arn: &str, live: &Tags, want: &Tags) -> Result<(), ProviderError> {
    super::retag(
        want,
        live,
        |stale| async move {
            let r = p.elb.remove_tags().resource_arns(arn).set_tag_keys(Some(stale)).send().await;
            r.map(|_| ()).map_err(|e| sdk_err("elbv2:RemoveTags", e))
        },
        |new| async move {
            let r = p.elb.add_tags().resource_arns(arn).set_tags(Some(elb_tags(&new))).send().await;
            r.map(|_| ()).map_err(|e| sdk_err("elbv2:AddTags", e))
        },
    )
    .await
}

// ---- the providers ------------------------------------------------------------

/// What ELBv2's batched read ([`read_many`]) takes for one target.
pub(super) type Read<'a> = Want<'a>;

/// Reads many targets with as few calls as ELBv2 allows: load balancers,
/// target groups and listeners `PER_CALL` names or ARNs per Describe call,
/// listeners found by port one call per load balancer, the tags of all of
/// them `PER_CALL` ARNs per call, and the attributes (which have no batch
/// form) one call per load balancer or group, all at the same time.
/// Results are in the order of `wants`.
pub(super) async fn read_many(p: &AwsProvider, wants: &[Want<'_>]) -> Vec<Result<Option<Live>, ProviderError>> {
    read_wants(p, wants).await
}

/// Reads a recorded resource: `want` of its (resolved) id.
async fn read_recorded<'a>(
    p: &AwsProvider,
    d: &'a Deletion,
    want: impl FnOnce(&'a str) -> Want<'a>,
) -> Result<Option<Live>, ProviderError> {
    let w = if unresolved(&d.id) { Want::Nothing } else { want(&d.id) };
    read_wants(p, &[w]).await.pop().expect("read_wants answers each want: one want, one result")
}

/// Adds this stack's tags to a resource (`moor import`).
async fn add_tags(p: &AwsProvider, t: &Target, live: &Live) -> Result<(), ProviderError> {
    p.elb
        .add_tags()
        .resource_arns(&live.id)
        .set_tags(Some(elb_tags(&t.tags)))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sdk_err("elbv2:AddTags", e))
}

#[async_trait]
impl AwsKind for LbSpec {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let lb = lb_arn(at, t.name.as_deref().or(t.spec.name.as_deref()).unwrap_or("*"));
        vec![
            describe(&[
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeLoadBalancerAttributes",
            ]),
            Grant::on(Phase::Create, &["elasticloadbalancing:CreateLoadBalancer"], [lb.clone()]),
            Grant::on(Phase::Create, &["elasticloadbalancing:AddTags"], [lb.clone()])
                .within(&["elasticloadbalancing:CreateLoadBalancer"]),
            Grant::on(
                Phase::Create,
                &["iam:CreateServiceLinkedRole"],
                [at.global("iam", "role/aws-service-role/elasticloadbalancing.amazonaws.com/*")],
            )
            .when("StringEquals", "iam:AWSServiceName", ["elasticloadbalancing.amazonaws.com".to_string()])
            .within(&["elasticloadbalancing:CreateLoadBalancer"]),
            Grant::on(
                Phase::Update,
                &[
                    "elasticloadbalancing:ModifyLoadBalancerAttributes",
                    "elasticloadbalancing:SetSecurityGroups",
                    "elasticloadbalancing:SetSubnets",
                    "elasticloadbalancing:SetIpAddressType",
                ],
                [lb.clone()],
            ),
            Grant::on(Phase::Tag, &["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"], [lb.clone()]),
            Grant::on(Phase::Delete, &["elasticloadbalancing:DeleteLoadBalancer"], [lb]),
        ]
    }

    fn arn_pattern(t: Typed<'_, Self>, at: &Scope) -> Option<String> {
        Some(lb_arn(at, t.name.as_deref().or(t.spec.name.as_deref())?))
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "elasticloadbalancing", resource: "loadbalancer" });

    /// `loadbalancer/app/<name>/<id>`: the name.
    fn name_of_arn(resource: &str) -> Option<String> {
        resource.split('/').nth(2).filter(|n| !n.is_empty()).map(str::to_string)
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        let Typed { target: t, spec } = t;
        super::kinds::Read::Elbv2(match (&t.id, t.name.as_deref().or(spec.name.as_deref())) {
            (Some(id), _) if unresolved(id) => Want::Nothing,
            (Some(id), _) => Want::LbArn(id),
            (None, Some(name)) if !unresolved(name) => Want::LbName(name),
            (None, _) => Want::Nothing,
        })
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        read_recorded(p, d, Want::LbArn).await
    }
}

#[async_trait]
impl AwsManaged for LbSpec {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        create_lb(p, t.target, t.spec).await
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        update_lb(p, t.target, t.spec, live, changed).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        if unresolved(&d.id) {
            return Ok(());
        }
        delete_lb(p, &d.id).await
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        add_tags(p, t.target, live).await?;
        lb_read_back(p, &live.id).await
    }

    async fn settle(p: &AwsProvider, _t: Typed<'_, Self>, live: &Live, _redeploy: bool) -> Result<Live, ProviderError> {
        settle(p, live).await
    }
}

#[async_trait]
impl AwsKind for TgSpec {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let tg = tg_arn(at, t.name.as_deref().or(t.spec.name.as_deref()).unwrap_or("*"));
        vec![
            describe(&[
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetGroupAttributes",
            ]),
            Grant::on(Phase::Create, &["elasticloadbalancing:CreateTargetGroup"], [tg.clone()]),
            Grant::on(Phase::Create, &["elasticloadbalancing:AddTags"], [tg.clone()])
                .within(&["elasticloadbalancing:CreateTargetGroup"]),
            Grant::on(
                Phase::Update,
                &["elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:ModifyTargetGroupAttributes"],
                [tg.clone()],
            ),
            Grant::on(Phase::Tag, &["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"], [tg.clone()]),
            Grant::on(Phase::Delete, &["elasticloadbalancing:DeleteTargetGroup"], [tg]),
        ]
    }

    fn arn_pattern(t: Typed<'_, Self>, at: &Scope) -> Option<String> {
        Some(tg_arn(at, t.name.as_deref().or(t.spec.name.as_deref())?))
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "elasticloadbalancing", resource: "targetgroup" });

    /// `targetgroup/<name>/<id>`: the name.
    fn name_of_arn(resource: &str) -> Option<String> {
        resource.split('/').nth(1).filter(|n| !n.is_empty()).map(str::to_string)
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        let Typed { target: t, spec } = t;
        super::kinds::Read::Elbv2(match (&t.id, t.name.as_deref().or(spec.name.as_deref())) {
            (Some(id), _) if unresolved(id) => Want::Nothing,
            (Some(id), _) => Want::TgArn(id, Some(spec)),
            (None, Some(name)) if !unresolved(name) => Want::TgName(name, Some(spec)),
            (None, _) => Want::Nothing,
        })
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        read_recorded(p, d, |id| Want::TgArn(id, None)).await
    }
}

#[async_trait]
impl AwsManaged for TgSpec {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        create_tg(p, t.target, t.spec).await
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        update_tg(p, t.target, t.spec, live, changed).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        if unresolved(&d.id) {
            return Ok(());
        }
        delete_tg(p, &d.id).await
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        add_tags(p, t.target, live).await?;
        tg_read_back(p, &live.id, t.spec).await
    }
}

#[async_trait]
impl AwsKind for ListenerSpec {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let lb = match known(&t.spec.load_balancer) {
            "*" => lb_arn(at, "*"),
            arn => arn.to_string(),
        };
        let listener = listener_arn(&lb);
        vec![
            describe(&["elasticloadbalancing:DescribeListeners"]),
            Grant::on(Phase::Create, &["elasticloadbalancing:CreateListener"], [lb, listener.clone()]),
            Grant::on(Phase::Create, &["elasticloadbalancing:AddTags"], [listener.clone()])
                .within(&["elasticloadbalancing:CreateListener"]),
            Grant::on(Phase::Update, &["elasticloadbalancing:ModifyListener"], [listener.clone()]),
            Grant::on(
                Phase::Tag,
                &["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
                [listener.clone()],
            ),
            Grant::on(Phase::Delete, &["elasticloadbalancing:DeleteListener"], [listener]),
        ]
    }

    fn arn_pattern(t: Typed<'_, Self>, _at: &Scope) -> Option<String> {
        match known(&t.spec.load_balancer) {
            "*" => None,
            lb => Some(listener_arn(lb)),
        }
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "elasticloadbalancing", resource: "listener" });

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        let Typed { target: t, spec } = t;
        super::kinds::Read::Elbv2(match &t.id {
            Some(id) if unresolved(id) => Want::Nothing,
            Some(id) => Want::ListenerArn(id, Some(spec)),
            None if unresolved(&spec.load_balancer) => Want::Nothing,
            None => Want::ListenerPort(&spec.load_balancer, spec.port as i32, Some(spec)),
        })
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        read_recorded(p, d, |id| Want::ListenerArn(id, None)).await
    }
}

#[async_trait]
impl AwsManaged for ListenerSpec {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        create_listener(p, t.target, t.spec).await
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        update_listener(p, t.target, t.spec, live, changed).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        if unresolved(&d.id) {
            return Ok(());
        }
        let r =
            p.elb.delete_listener().listener_arn(&d.id).send().await.map_err(|e| sdk_err("elbv2:DeleteListener", e));
        found(r).map(|_| ())
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        add_tags(p, t.target, live).await?;
        listener_read_back(p, &live.id, t.spec).await
    }
}

#[async_trait]
impl AwsKind for RuleSpec {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let listener = match known(&t.spec.listener) {
            "*" => listener_arn(&lb_arn(at, "*")),
            arn => arn.to_string(),
        };
        let rule = match listener.split_once(":listener/") {
            Some((head, tail)) => format!("{head}:listener-rule/{tail}/*"),
            None => listener.clone(),
        };
        vec![
            describe(&["elasticloadbalancing:DescribeRules"]),
            Grant::on(Phase::Create, &["elasticloadbalancing:CreateRule"], [listener, rule.clone()]),
            Grant::on(Phase::Create, &["elasticloadbalancing:AddTags"], [rule.clone()])
                .within(&["elasticloadbalancing:CreateRule"]),
            Grant::on(
                Phase::Update,
                &["elasticloadbalancing:ModifyRule", "elasticloadbalancing:SetRulePriorities"],
                [rule.clone()],
            ),
            Grant::on(Phase::Tag, &["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"], [rule.clone()]),
            Grant::on(Phase::Delete, &["elasticloadbalancing:DeleteRule"], [rule]),
        ]
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "elasticloadbalancing", resource: "listener-rule" });

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        let Typed { target: t, spec } = t;
        super::kinds::Read::Elbv2(match &t.id {
            Some(id) if unresolved(id) => Want::Nothing,
            Some(id) => Want::RuleArn(id, Some(spec)),
            None if unresolved(&spec.listener) => Want::Nothing,
            None => Want::RulePriority(&spec.listener, spec.priority, Some(spec), (&t.stack, &t.logical)),
        })
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        read_recorded(p, d, |id| Want::RuleArn(id, None)).await
    }
}

#[async_trait]
impl AwsManaged for RuleSpec {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        create_rule(p, t.target, t.spec).await
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        update_rule(p, t.target, t.spec, live, changed).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        if unresolved(&d.id) {
            return Ok(());
        }
        let r = p.elb.delete_rule().rule_arn(&d.id).send().await.map_err(|e| sdk_err("elbv2:DeleteRule", e));
        found(r).map(|_| ())
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        add_tags(p, t.target, live).await?;
        rule_read_back(p, &live.id, t.spec).await
    }
}

// ---- load balancers ----------------------------------------------------------------

async fn describe_lb(p: &AwsProvider, arn: &str) -> Result<Option<LoadBalancer>, ProviderError> {
    let out = found(
        p.elb
            .describe_load_balancers()
            .load_balancer_arns(arn)
            .send()
            .await
            .map_err(|e| sdk_err("elbv2:DescribeLoadBalancers", e)),
    )?;
    Ok(out.and_then(|o| o.load_balancers().iter().find(|lb| lb.load_balancer_arn() == Some(arn)).cloned()))
}

async fn lb_attributes(p: &AwsProvider, arn: &str) -> Result<Vec<(String, String)>, ProviderError> {
    let out = p
        .elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(arn)
        .send()
        .await
        .map_err(|e| sdk_err("elbv2:DescribeLoadBalancerAttributes", e))?;
    Ok(out
        .attributes()
        .iter()
        .filter_map(|a| Some((a.key()?.to_string(), a.value().unwrap_or_default().to_string())))
        .collect())
}

async fn lb_live(p: &AwsProvider, lb: &LoadBalancer) -> Result<Live, ProviderError> {
    let arn = lb.load_balancer_arn().unwrap_or_default();
    let (attrs, tags) = futures::join!(lb_attributes(p, arn), read_tags(p, arn));
    Ok(lb_live_of(lb, &attrs?, tags?))
}

/// A load balancer as read, with its attributes and tags.
fn lb_live_of(lb: &LoadBalancer, attrs_now: &[(String, String)], tags: Tags) -> Live {
    let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
    let name = lb.load_balancer_name().unwrap_or_default();
    let attr = |k: &str| attrs_now.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let mut subnets: Vec<&str> = lb.availability_zones().iter().filter_map(|z| z.subnet_id()).collect();
    subnets.sort();
    let mut fields = Fields::new();
    fields.insert("name".into(), json!(name));
    // No scheme at all means AWS's default.
    let scheme = match lb.scheme() {
        Some(LoadBalancerSchemeEnum::Internal) => Scheme::Internal,
        _ => Scheme::InternetFacing,
    };
    fields.insert("scheme".into(), json!(scheme));
    fields.insert("subnets".into(), json!(subnets));
    fields.insert("security_groups".into(), json!(lb.security_groups()));
    // AWS's default idle timeout is 60 s.
    let idle = attr(IDLE_TIMEOUT).and_then(|v| v.parse::<u64>().ok()).unwrap_or(60);
    fields.insert("idle_timeout".into(), json!(idle));
    fields.insert("deletion_protection".into(), json!(attr(DELETION_PROTECTION) == Some("true")));
    // Logs that are off have no settings the file could give.
    if attr(ACCESS_LOGS) == Some("true") {
        let mut logs = serde_json::Map::new();
        logs.insert("bucket".into(), json!(attr(ACCESS_LOGS_BUCKET).unwrap_or_default()));
        if let Some(prefix) = attr(ACCESS_LOGS_PREFIX).filter(|p| !p.is_empty()) {
            logs.insert("prefix".into(), json!(prefix));
        }
        fields.insert("access_logs".into(), Value::Object(logs));
    }
    // AWS's defaults: HTTP/2 on, invalid headers kept.
    fields.insert("http2".into(), json!(attr(HTTP2) != Some("false")));
    fields.insert("drop_invalid_header_fields".into(), json!(attr(DROP_INVALID_HEADERS) == Some("true")));
    let ip = lb.ip_address_type().map(|t| t.as_str().to_string()).unwrap_or_else(|| "ipv4".into());
    fields.insert("ip_address_type".into(), json!(ip));
    let mut attrs = Attrs::new();
    attrs.insert("arn".into(), json!(arn));
    attrs.insert("name".into(), json!(name));
    attrs.insert("dns_name".into(), json!(lb.dns_name().unwrap_or_default()));
    attrs.insert("zone_id".into(), json!(lb.canonical_hosted_zone_id().unwrap_or_default()));
    attrs.insert("arn_suffix".into(), json!(lb_arn_suffix(&arn)));
    Live { id: arn, fields, attrs, tags, uid: None }
}

/// Waits until the load balancer is active, then reads it.
async fn lb_read_back(p: &AwsProvider, arn: &str) -> Result<Live, ProviderError> {
    let lb = wait_active(p, arn).await?;
    lb_live(p, &lb).await
}

/// Waits until the load balancer is active; its last description.
async fn wait_active(p: &AwsProvider, arn: &str) -> Result<LoadBalancer, ProviderError> {
    wait(&p.opts, p.opts.wait_timeout, "elbv2:DescribeLoadBalancers", "the load balancer to be active", || async {
        let Some(lb) = describe_lb(p, arn).await? else {
            return Ok(None);
        };
        match lb.state().and_then(|s| s.code()) {
            // No state at all: nothing says it is still coming up.
            Some(LoadBalancerStateEnum::Active | LoadBalancerStateEnum::ActiveImpaired) | None => Ok(Some(lb)),
            Some(LoadBalancerStateEnum::Failed) => Err(ProviderError::new(
                ErrorKind::Rejected,
                "elbv2:CreateLoadBalancer",
                format!(
                    "the load balancer failed to come up: {}",
                    lb.state().and_then(|s| s.reason()).unwrap_or("AWS gave no reason")
                ),
            )),
            Some(_) => {
                crate::progress::status("load balancer provisioning");
                Ok(None)
            }
        }
    })
    .await
}

fn subnet_list(spec: &LbSpec, op: &str) -> Result<Vec<String>, ProviderError> {
    let items = spec.subnets.items().ok_or_else(|| unresolved_err(op, "subnets"))?;
    if items.iter().any(|s| unresolved(s)) {
        return Err(unresolved_err(op, "subnets"));
    }
    Ok(items.to_vec())
}

fn sg_list(spec: &LbSpec, op: &str) -> Result<Vec<String>, ProviderError> {
    let items = spec.security_groups.items().ok_or_else(|| unresolved_err(op, "security_groups"))?;
    if items.iter().any(|s| unresolved(s)) {
        return Err(unresolved_err(op, "security_groups"));
    }
    Ok(items.to_vec())
}

fn ip_type(spec: &LbSpec) -> Option<IpAddressType> {
    spec.ip_address_type.map(|t| IpAddressType::from(file_str(&t).as_str()))
}

/// The attributes the file sets, as ModifyLoadBalancerAttributes takes
/// them: all of them (`changed` None), or those of the changed fields.
fn lb_attributes_of(spec: &LbSpec, changed: Option<&[String]>) -> Vec<(&'static str, String)> {
    let has = |f: &str| changed.is_none_or(|c| c.iter().any(|x| x == f));
    let mut attrs = Vec::new();
    if let (true, Some(idle)) = (has("idle_timeout"), spec.idle_timeout) {
        attrs.push((IDLE_TIMEOUT, idle.to_string()));
    }
    // On create, only when on: off is AWS's default.
    if has("deletion_protection") && (changed.is_some() || spec.deletion_protection) {
        attrs.push((DELETION_PROTECTION, spec.deletion_protection.to_string()));
    }
    match (has("access_logs"), &spec.access_logs) {
        (true, Some(logs)) => {
            attrs.push((ACCESS_LOGS, "true".to_string()));
            attrs.push((ACCESS_LOGS_BUCKET, logs.bucket.clone()));
            attrs.push((ACCESS_LOGS_PREFIX, logs.prefix.clone().unwrap_or_default()));
        }
        // Removed from the file since the last apply: turned off. On
        // create there is nothing to turn off.
        (true, None) if changed.is_some() => attrs.push((ACCESS_LOGS, "false".to_string())),
        _ => {}
    }
    if let (true, Some(on)) = (has("http2"), spec.http2) {
        attrs.push((HTTP2, on.to_string()));
    }
    if let (true, Some(on)) = (has("drop_invalid_header_fields"), spec.drop_invalid_header_fields) {
        attrs.push((DROP_INVALID_HEADERS, on.to_string()));
    }
    attrs
}

async fn set_lb_attributes(p: &AwsProvider, arn: &str, attrs: Vec<(&str, String)>) -> Result<(), ProviderError> {
    if attrs.is_empty() {
        return Ok(());
    }
    let attrs: Vec<LoadBalancerAttribute> =
        attrs.into_iter().map(|(k, v)| LoadBalancerAttribute::builder().key(k).value(v).build()).collect();
    p.elb
        .modify_load_balancer_attributes()
        .load_balancer_arn(arn)
        .set_attributes(Some(attrs))
        .send()
        .await
        .map_err(|e| sdk_err("elbv2:ModifyLoadBalancerAttributes", e))?;
    Ok(())
}

async fn create_lb(p: &AwsProvider, t: &Target, spec: &LbSpec) -> Result<Live, ProviderError> {
    const OP: &str = "elbv2:CreateLoadBalancer";
    let name = t.name.as_deref().or(spec.name.as_deref()).unwrap_or(&t.logical);
    let sgs = sg_list(spec, OP)?;
    let scheme = match spec.scheme {
        Scheme::InternetFacing => LoadBalancerSchemeEnum::InternetFacing,
        Scheme::Internal => LoadBalancerSchemeEnum::Internal,
    };
    let out = p
        .elb
        .create_load_balancer()
        .name(name)
        .r#type(LoadBalancerTypeEnum::Application)
        // Always sent: an emulator leaves it empty otherwise.
        .scheme(scheme)
        .set_subnets(Some(subnet_list(spec, OP)?))
        .set_security_groups((!sgs.is_empty()).then_some(sgs))
        .set_ip_address_type(ip_type(spec))
        .set_tags(Some(elb_tags(&t.tags)))
        .send()
        .await
        .map_err(|e| sdk_err(OP, e))?;
    let arn = out
        .load_balancers()
        .first()
        .and_then(|lb| lb.load_balancer_arn())
        .ok_or_else(|| missing(OP, "load balancer ARN"))?
        .to_string();
    if spec.access_logs.as_ref().is_some_and(|l| unresolved(&l.bucket)) {
        return Err(unresolved_err(OP, "access_logs.bucket"));
    }
    let attrs = lb_attributes_of(spec, None);
    let written: Vec<(String, String)> = attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    // AWS's answer describes it (its ARN, DNS name and zone): its users may
    // be made while it provisions, so the wait until it is active is the
    // apply's, beside them ([`crate::kinds::KindSpec::SETTLES_AFTER_USERS_START`],
    // then [`settle`]). The attributes are set while it comes up.
    let Some(created) = out.load_balancers().first() else {
        return Err(missing(OP, "load balancer"));
    };
    set_lb_attributes(p, &arn, attrs).await.map_err(|e| {
        if e.is_interrupted() {
            // It exists: recorded, as not settled.
            e.with_made(lb_live_of(created, &written, t.tags.clone()))
        } else if e.operation == "elbv2:ModifyLoadBalancerAttributes" {
            // It exists without the attributes AWS refused (an access log
            // bucket it may not write to): recorded, so the next apply
            // sets them on this one rather than make another.
            e.with_made(lb_live_of(created, &[], t.tags.clone()))
        } else {
            e
        }
    })?;
    Ok(lb_live_of(created, &written, t.tags.clone()))
}

/// A load balancer not yet seen active: after its create (its users
/// started meanwhile), or after a run that was interrupted while it waited.
///
/// The wait only adds AWS's description (its state, names and subnets):
/// the attributes and tags are what moor wrote when it made it, or what
/// the plan read, so they are not read back.
pub(super) async fn settle(p: &AwsProvider, live: &Live) -> Result<Live, ProviderError> {
    let lb =
        wait_active(p, &live.id).await.map_err(|e| if e.is_interrupted() { e.with_made(live.clone()) } else { e })?;
    let mut settled = lb_live_of(&lb, &[], live.tags.clone());
    for field in ATTRIBUTE_FIELDS {
        match live.fields.get(*field) {
            Some(v) => settled.fields.insert((*field).to_string(), v.clone()),
            None => settled.fields.remove(*field),
        };
    }
    settled.uid = live.uid.clone();
    Ok(settled)
}

/// The fields of a load balancer that come from its attributes, not from
/// its description.
const ATTRIBUTE_FIELDS: &[&str] =
    &["idle_timeout", "deletion_protection", "access_logs", "http2", "drop_invalid_header_fields"];

async fn update_lb(
    p: &AwsProvider,
    t: &Target,
    spec: &LbSpec,
    live: &Live,
    changed: &[String],
) -> Result<Live, ProviderError> {
    let arn = live.id.as_str();
    let has = |f: &str| changed.iter().any(|c| c == f);
    if has("subnets") {
        p.elb
            .set_subnets()
            .load_balancer_arn(arn)
            .set_subnets(Some(subnet_list(spec, "elbv2:SetSubnets")?))
            .send()
            .await
            .map_err(|e| sdk_err("elbv2:SetSubnets", e))?;
    }
    if has("security_groups") {
        p.elb
            .set_security_groups()
            .load_balancer_arn(arn)
            .set_security_groups(Some(sg_list(spec, "elbv2:SetSecurityGroups")?))
            .send()
            .await
            .map_err(|e| sdk_err("elbv2:SetSecurityGroups", e))?;
    }
    if let (true, Some(ip)) = (has("ip_address_type"), ip_type(spec)) {
        p.elb
            .set_ip_address_type()
            .load_balancer_arn(arn)
            .ip_address_type(ip)
            .send()
            .await
            .map_err(|e| sdk_err("elbv2:SetIpAddressType", e))?;
    }
    if spec.access_logs.as_ref().is_some_and(|l| unresolved(&l.bucket)) {
        return Err(unresolved_err("elbv2:ModifyLoadBalancerAttributes", "access_logs.bucket"));
    }
    set_lb_attributes(p, arn, lb_attributes_of(spec, Some(changed))).await?;
    if has("tags") {
        sync_tags(p, arn, &live.tags, &t.tags).await?;
    }
    lb_read_back(p, arn).await
}

async fn delete_lb(p: &AwsProvider, arn: &str) -> Result<(), ProviderError> {
    const OP: &str = "elbv2:DeleteLoadBalancer";
    if describe_lb(p, arn).await?.is_none() {
        return Ok(());
    }
    let protected = match found(lb_attributes(p, arn).await)? {
        Some(attrs) => attrs.iter().any(|(k, v)| k == DELETION_PROTECTION && v == "true"),
        None => return Ok(()),
    };
    if protected {
        return Err(ProviderError::new(
            ErrorKind::Rejected,
            OP,
            "deletion protection is on: set `deletion_protection: false` in the file and apply, then delete",
        )
        .with_code("OperationNotPermitted"));
    }
    found(p.elb.delete_load_balancer().load_balancer_arn(arn).send().await.map_err(|e| sdk_err(OP, e)))?;
    wait(&p.opts, p.opts.wait_timeout, "elbv2:DescribeLoadBalancers", "the load balancer to be deleted", || async {
        let gone = describe_lb(p, arn).await?.is_none();
        if !gone {
            crate::progress::status("load balancer deleting");
        }
        Ok(gone.then_some(()))
    })
    .await
}

// ---- target groups -------------------------------------------------------------------

async fn describe_tg(p: &AwsProvider, arn: &str) -> Result<Option<TargetGroup>, ProviderError> {
    let out = found(
        p.elb
            .describe_target_groups()
            .target_group_arns(arn)
            .send()
            .await
            .map_err(|e| sdk_err("elbv2:DescribeTargetGroups", e)),
    )?;
    Ok(out.and_then(|o| o.target_groups().iter().find(|tg| tg.target_group_arn() == Some(arn)).cloned()))
}

/// A number AWS sends as text stays text when it is not a number
/// (`traffic-port`).
fn num_or_text(s: &str) -> Value {
    s.parse::<u64>().map(Value::from).unwrap_or_else(|_| json!(s))
}

fn is_grpc(tg: &TargetGroup) -> bool {
    tg.protocol_version().is_some_and(|v| v.eq_ignore_ascii_case("GRPC"))
}

/// The health check as the file says it: only the settings `want` sets
/// (all of them without `want`).
fn health_check_value(tg: &TargetGroup, want: Option<&HealthCheck>) -> Value {
    let all = HealthCheck {
        path: Some(String::new()),
        port: Some(0),
        protocol: Some(Default::default()),
        interval: Some(0),
        timeout: Some(0),
        healthy_threshold: Some(0),
        unhealthy_threshold: Some(0),
        matcher: Some(String::new()),
    };
    let want = want.unwrap_or(&all);
    let mut m = serde_json::Map::new();
    let mut put = |key: &str, wanted: bool, v: Option<Value>| {
        if let (true, Some(v)) = (wanted, v) {
            m.insert(key.into(), v);
        }
    };
    put("path", want.path.is_some(), tg.health_check_path().map(|v| json!(v)));
    put("port", want.port.is_some(), tg.health_check_port().map(num_or_text));
    put("protocol", want.protocol.is_some(), tg.health_check_protocol().map(|v| json!(v.as_str())));
    put("interval", want.interval.is_some(), tg.health_check_interval_seconds().map(|v| json!(v)));
    put("timeout", want.timeout.is_some(), tg.health_check_timeout_seconds().map(|v| json!(v)));
    put("healthy_threshold", want.healthy_threshold.is_some(), tg.healthy_threshold_count().map(|v| json!(v)));
    put("unhealthy_threshold", want.unhealthy_threshold.is_some(), tg.unhealthy_threshold_count().map(|v| json!(v)));
    let matcher = tg.matcher().and_then(|m| if is_grpc(tg) { m.grpc_code() } else { m.http_code() });
    put("matcher", want.matcher.is_some(), matcher.map(|v| json!(v)));
    Value::Object(m)
}

async fn tg_attributes(p: &AwsProvider, arn: &str) -> Result<Vec<(String, String)>, ProviderError> {
    let out = p
        .elb
        .describe_target_group_attributes()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| sdk_err("elbv2:DescribeTargetGroupAttributes", e))?;
    Ok(out
        .attributes()
        .iter()
        .filter_map(|a| Some((a.key()?.to_string(), a.value().unwrap_or_default().to_string())))
        .collect())
}

async fn tg_live(p: &AwsProvider, tg: &TargetGroup, spec: Option<&TgSpec>) -> Result<Live, ProviderError> {
    let arn = tg.target_group_arn().unwrap_or_default();
    let (attrs, tags) = futures::join!(tg_attributes(p, arn), read_tags(p, arn));
    Ok(tg_live_of(tg, spec, &attrs?, tags?))
}

/// A target group as read, with its attributes and tags.
fn tg_live_of(tg: &TargetGroup, spec: Option<&TgSpec>, attrs_now: &[(String, String)], tags: Tags) -> Live {
    let arn = tg.target_group_arn().unwrap_or_default().to_string();
    let name = tg.target_group_name().unwrap_or_default();
    let delay = attrs_now
        .iter()
        .find(|(k, _)| k == DEREGISTRATION_DELAY)
        .and_then(|(_, v)| v.parse::<u64>().ok())
        // AWS's default.
        .unwrap_or(300);
    let protocol = tg.protocol().map(|p| p.as_str()).unwrap_or("HTTP");
    let mut fields = Fields::new();
    fields.insert("name".into(), json!(name));
    fields.insert("port".into(), json!(tg.port().unwrap_or_default()));
    fields.insert("protocol".into(), json!(protocol));
    match tg.protocol_version() {
        Some(v) => fields.insert("protocol_version".into(), json!(v.to_ascii_uppercase())),
        // AWS's default for HTTP and HTTPS groups.
        None if protocol == "HTTP" || protocol == "HTTPS" => fields.insert("protocol_version".into(), json!("HTTP1")),
        None => None,
    };
    fields.insert("target_type".into(), json!(tg.target_type().map(|t| t.as_str()).unwrap_or("instance")));
    fields.insert("vpc".into(), json!(tg.vpc_id().unwrap_or_default()));
    match spec {
        Some(TgSpec { health_check: Some(want), .. }) => {
            fields.insert("health_check".into(), health_check_value(tg, Some(want)));
        }
        Some(_) => {}
        None => {
            fields.insert("health_check".into(), health_check_value(tg, None));
        }
    }
    fields.insert("deregistration_delay".into(), json!(delay));
    fields.insert("stickiness".into(), stickiness_value(attrs_now));
    let mut attrs = Attrs::new();
    attrs.insert("arn".into(), json!(arn));
    attrs.insert("name".into(), json!(name));
    attrs.insert("arn_suffix".into(), json!(tg_arn_suffix(&arn)));
    attrs.insert("port".into(), json!(tg.port().unwrap_or_default()));
    Live { id: arn, fields, attrs, tags, uid: None }
}

async fn tg_read_back(p: &AwsProvider, arn: &str, spec: &TgSpec) -> Result<Live, ProviderError> {
    let tg = wait(
        &p.opts,
        p.opts.wait_timeout.min(Duration::from_secs(60)),
        "elbv2:DescribeTargetGroups",
        "the target group to be visible",
        || describe_tg(p, arn),
    )
    .await?;
    tg_live(p, &tg, Some(spec)).await
}

fn matcher(spec: &TgSpec, m: &str) -> Matcher {
    if spec.protocol_version == Some(ProtocolVersion::Grpc) {
        Matcher::builder().grpc_code(m).build()
    } else {
        Matcher::builder().http_code(m).build()
    }
}

/// Stickiness as the file says it; AWS's defaults (off, a load balancer
/// cookie for a day) where it says nothing.
fn stickiness_value(attrs: &[(String, String)]) -> Value {
    let attr = |k: &str| attrs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let app = attr(STICKINESS_TYPE) == Some("app_cookie");
    let duration = attr(if app { APP_COOKIE_DURATION } else { LB_COOKIE_DURATION })
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(86_400);
    let mut m = serde_json::Map::new();
    m.insert("enabled".into(), json!(attr(STICKINESS) == Some("true")));
    m.insert("duration".into(), json!(duration));
    if let Some(name) = attr(APP_COOKIE_NAME).filter(|n| app && !n.is_empty()) {
        m.insert("cookie_name".into(), json!(name));
    }
    Value::Object(m)
}

/// The attributes the file sets, as ModifyTargetGroupAttributes takes
/// them: all of them (`changed` None), or those of the changed fields.
fn tg_attributes_of(spec: &TgSpec, changed: Option<&[String]>) -> Vec<(&'static str, String)> {
    let has = |f: &str| changed.is_none_or(|c| c.iter().any(|x| x == f));
    let mut attrs = Vec::new();
    if let (true, Some(delay)) = (has("deregistration_delay"), spec.deregistration_delay) {
        attrs.push((DEREGISTRATION_DELAY, delay.to_string()));
    }
    if let (true, Some(st)) = (has("stickiness"), &spec.stickiness) {
        attrs.push((STICKINESS, st.enabled.to_string()));
        match &st.cookie_name {
            Some(name) => {
                attrs.push((STICKINESS_TYPE, "app_cookie".to_string()));
                attrs.push((APP_COOKIE_NAME, name.clone()));
                attrs.push((APP_COOKIE_DURATION, st.duration.to_string()));
            }
            None => {
                attrs.push((STICKINESS_TYPE, "lb_cookie".to_string()));
                attrs.push((LB_COOKIE_DURATION, st.duration.to_string()));
            }
        }
    }
    attrs
}

async fn set_tg_attributes(p: &AwsProvider, arn: &str, attrs: &[(&str, String)]) -> Result<(), ProviderError> {
    if attrs.is_empty() {
        return Ok(());
    }
    let attrs = attrs.iter().map(|(k, v)| TargetGroupAttribute::builder().key(*k).value(v).build()).collect();
    p.elb
        .modify_target_group_attributes()
        .target_group_arn(arn)
        .set_attributes(Some(attrs))
        .send()
        .await
        .map_err(|e| sdk_err("elbv2:ModifyTargetGroupAttributes", e))?;
    Ok(())
}

async fn create_tg(p: &AwsProvider, t: &Target, spec: &TgSpec) -> Result<Live, ProviderError> {
    const OP: &str = "elbv2:CreateTargetGroup";
    if unresolved(&spec.vpc) {
        return Err(unresolved_err(OP, "vpc"));
    }
    let name = t.name.as_deref().or(spec.name.as_deref()).unwrap_or(&t.logical);
    let mut req = p
        .elb
        .create_target_group()
        .name(name)
        .protocol(ProtocolEnum::from(file_str(&spec.protocol).as_str()))
        .set_protocol_version(spec.protocol_version.map(|v| file_str(&v)))
        .port(spec.port as i32)
        .vpc_id(&spec.vpc)
        .target_type(TargetTypeEnum::from(file_str(&spec.target_type).as_str()))
        .set_tags(Some(elb_tags(&t.tags)));
    if let Some(h) = &spec.health_check {
        req = req
            .health_check_enabled(true)
            .set_health_check_path(h.path.clone())
            .set_health_check_port(h.port.map(|p| p.to_string()))
            .set_health_check_protocol(h.protocol.map(|p| ProtocolEnum::from(file_str(&p).as_str())))
            .set_health_check_interval_seconds(h.interval.map(|v| v as i32))
            .set_health_check_timeout_seconds(h.timeout.map(|v| v as i32))
            .set_healthy_threshold_count(h.healthy_threshold.map(|v| v as i32))
            .set_unhealthy_threshold_count(h.unhealthy_threshold.map(|v| v as i32))
            .set_matcher(h.matcher.as_deref().map(|m| matcher(spec, m)));
    }
    let out = req.send().await.map_err(|e| sdk_err(OP, e))?;
    let tg = out
        .target_groups()
        .first()
        .filter(|tg| tg.target_group_arn().is_some())
        .ok_or_else(|| missing(OP, "target group ARN"))?;
    let arn = tg.target_group_arn().unwrap_or_default();
    let attrs = tg_attributes_of(spec, None);
    set_tg_attributes(p, arn, &attrs).await?;
    let written: Vec<(String, String)> = attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    // The group as created: CreateTargetGroup answers with all of it.
    Ok(tg_live_of(tg, Some(spec), &written, t.tags.clone()))
}

async fn update_tg(
    p: &AwsProvider,
    t: &Target,
    spec: &TgSpec,
    live: &Live,
    changed: &[String],
) -> Result<Live, ProviderError> {
    let arn = live.id.as_str();
    let has = |f: &str| changed.iter().any(|c| c == f);
    if let (true, Some(h)) = (has("health_check"), &spec.health_check) {
        p.elb
            .modify_target_group()
            .target_group_arn(arn)
            .health_check_enabled(true)
            .set_health_check_path(h.path.clone())
            .set_health_check_port(h.port.map(|p| p.to_string()))
            .set_health_check_protocol(h.protocol.map(|p| ProtocolEnum::from(file_str(&p).as_str())))
            .set_health_check_interval_seconds(h.interval.map(|v| v as i32))
            .set_health_check_timeout_seconds(h.timeout.map(|v| v as i32))
            .set_healthy_threshold_count(h.healthy_threshold.map(|v| v as i32))
            .set_unhealthy_threshold_count(h.unhealthy_threshold.map(|v| v as i32))
            .set_matcher(h.matcher.as_deref().map(|m| matcher(spec, m)))
            .send()
            .await
            .map_err(|e| sdk_err("elbv2:ModifyTargetGroup", e))?;
    }
    set_tg_attributes(p, arn, &tg_attributes_of(spec, Some(changed))).await?;
    if has("tags") {
        sync_tags(p, arn, &live.tags, &t.tags).await?;
    }
    tg_read_back(p, arn, spec).await
}

async fn delete_tg(p: &AwsProvider, arn: &str) -> Result<(), ProviderError> {
    const OP: &str = "elbv2:DeleteTargetGroup";
    // A listener deleted or moved a moment ago may still hold the group
    // for a few seconds; anything longer is a real user and is reported.
    let last: Mutex<Option<ProviderError>> = Mutex::new(None);
    let last_ref = &last;
    let r = wait(
        &p.opts,
        p.opts.wait_timeout.min(Duration::from_secs(30)),
        OP,
        "the target group to be free",
        move || async move {
            match p.elb.delete_target_group().target_group_arn(arn).send().await.map_err(|e| sdk_err(OP, e)) {
                Ok(_) => Ok(Some(())),
                Err(e) if e.kind == ErrorKind::NotFound => Ok(Some(())),
                Err(e) if e.kind == ErrorKind::InUse => {
                    *last_ref.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        },
    )
    .await;
    match r {
        Err(e) if e.kind == ErrorKind::Wait => {
            Err(last.into_inner().unwrap_or_else(PoisonError::into_inner).unwrap_or(e))
        }
        other => other,
    }
}

// ---- listeners ---------------------------------------------------------------------------

async fn describe_listener(p: &AwsProvider, arn: &str) -> Result<Option<Listener>, ProviderError> {
    let out = found(
        p.elb.describe_listeners().listener_arns(arn).send().await.map_err(|e| sdk_err("elbv2:DescribeListeners", e)),
    )?;
    Ok(out.and_then(|o| o.listeners().iter().find(|l| l.listener_arn() == Some(arn)).cloned()))
}

/// The action that answers requests (authentication actions come before it).
fn final_action(actions: &[Action]) -> Option<&Action> {
    actions
        .iter()
        .filter(|a| {
            matches!(
                a.r#type(),
                Some(ActionTypeEnum::Forward | ActionTypeEnum::Redirect | ActionTypeEnum::FixedResponse)
            )
        })
        .max_by_key(|a| a.order().unwrap_or(i32::MAX))
}

/// A redirect's settings that AWS fills with `#{…}` when not given.
const REDIRECT_DEFAULTS: [(&str, &str); 5] = [
    ("protocol", "#{protocol}"),
    ("port", "#{port}"),
    ("host", "#{host}"),
    ("path", "/#{path}"),
    ("query", "#{query}"),
];

fn action_value(actions: &[Action], want: Option<&FileAction>) -> Value {
    let Some(a) = final_action(actions) else {
        return Value::Null;
    };
    match a.r#type() {
        Some(ActionTypeEnum::Forward) => json!({ "forward": forward_value(a, want) }),
        Some(ActionTypeEnum::Redirect) => {
            let want = match want {
                Some(FileAction::Redirect(r)) => Some(r),
                _ => None,
            };
            let cfg = a.redirect_config();
            let mut m = serde_json::Map::new();
            for (key, default) in REDIRECT_DEFAULTS {
                let live = cfg.and_then(|c| match key {
                    "protocol" => c.protocol(),
                    "port" => c.port(),
                    "host" => c.host(),
                    "path" => c.path(),
                    _ => c.query(),
                });
                let set = want.is_some_and(|r| match key {
                    "protocol" => r.protocol.is_some(),
                    "port" => r.port.is_some(),
                    "host" => r.host.is_some(),
                    "path" => r.path.is_some(),
                    _ => r.query.is_some(),
                });
                if let Some(v) = live {
                    if set || v != default {
                        m.insert(key.into(), if key == "port" { num_or_text(v) } else { json!(v) });
                    }
                }
            }
            let code = cfg.and_then(|c| c.status_code()).map(|s| s.as_str().trim_start_matches("HTTP_").to_string());
            m.insert("status_code".into(), code.as_deref().map(num_or_text).unwrap_or(json!(301)));
            json!({ "redirect": m })
        }
        Some(ActionTypeEnum::FixedResponse) => {
            let cfg = a.fixed_response_config();
            let mut m = serde_json::Map::new();
            if let Some(code) = cfg.and_then(|c| c.status_code()) {
                m.insert("status_code".into(), num_or_text(code));
            }
            if let Some(ct) = cfg.and_then(|c| c.content_type()) {
                m.insert("content_type".into(), json!(ct));
            }
            if let Some(body) = cfg.and_then(|c| c.message_body()) {
                m.insert("message_body".into(), json!(body));
            }
            json!({ "fixed_response": m })
        }
        _ => Value::Null,
    }
}

/// A forward as the file says it: one target group's ARN; the groups and
/// their weights (a list where the file writes one, or several); with
/// `stickiness` when it is on.
fn forward_value(a: &Action, want: Option<&FileAction>) -> Value {
    let tuples: Vec<(&str, i32)> = match a.forward_config() {
        Some(f) if !f.target_groups().is_empty() => {
            f.target_groups().iter().filter_map(|t| Some((t.target_group_arn()?, t.weight().unwrap_or(1)))).collect()
        }
        _ => a.target_group_arn().map(|arn| (arn, 1)).into_iter().collect(),
    };
    let sticky = a
        .forward_config()
        .and_then(|f| f.target_group_stickiness_config())
        .filter(|s| s.enabled() == Some(true))
        .map(|s| s.duration_seconds().unwrap_or_default());
    let weighted =
        || -> Value { Value::Array(tuples.iter().map(|(tg, w)| json!({ "target_group": tg, "weight": w })).collect()) };
    let one_wanted = !matches!(want, Some(FileAction::Forward(Forward::Weighted(_) | Forward::Sticky(_))));
    match (sticky, tuples.as_slice()) {
        (Some(d), _) => json!({ "target_groups": weighted(), "stickiness": d }),
        (None, [(one, _)]) if one_wanted => json!(one),
        _ => weighted(),
    }
}

fn sdk_forward(f: &Forward) -> Action {
    let b = Action::builder().r#type(ActionTypeEnum::Forward).order(1);
    let (list, stickiness): (&[WeightedTarget], Option<u32>) = match f {
        Forward::One(arn) => return b.target_group_arn(arn).build(),
        Forward::Weighted(list) => (list, None),
        Forward::Sticky(s) => (&s.target_groups, Some(s.stickiness)),
    };
    let tuples = list
        .iter()
        .map(|w| TargetGroupTuple::builder().target_group_arn(&w.target_group).weight(w.weight as i32).build())
        .collect();
    // Off is said, so that turning it off in the file turns it off.
    let sticky = TargetGroupStickinessConfig::builder()
        .enabled(stickiness.is_some())
        .set_duration_seconds(stickiness.map(|s| s as i32))
        .build();
    b.forward_config(
        ForwardActionConfig::builder().set_target_groups(Some(tuples)).target_group_stickiness_config(sticky).build(),
    )
    .build()
}

fn sdk_action(a: &FileAction) -> Action {
    match a {
        FileAction::Forward(f) => sdk_forward(f),
        FileAction::Redirect(r) => Action::builder()
            .r#type(ActionTypeEnum::Redirect)
            .order(1)
            .redirect_config(
                RedirectActionConfig::builder()
                    .set_protocol(r.protocol.map(|p| file_str(&p)))
                    .set_port(r.port.map(|p| p.to_string()))
                    .set_host(r.host.clone())
                    .set_path(r.path.clone())
                    .set_query(r.query.clone())
                    .status_code(if r.status_code == 302 {
                        RedirectActionStatusCodeEnum::Http302
                    } else {
                        RedirectActionStatusCodeEnum::Http301
                    })
                    .build(),
            )
            .build(),
        FileAction::FixedResponse(f) => Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .order(1)
            .fixed_response_config(
                FixedResponseActionConfig::builder()
                    .status_code(f.status_code.to_string())
                    .set_content_type(f.content_type.clone())
                    .set_message_body(f.message_body.clone())
                    .build(),
            )
            .build(),
    }
}

/// Every target group it forwards to is known; `at` is the action's field.
fn check_action(a: &FileAction, op: &str, at: &str) -> Result<(), ProviderError> {
    match a.target_groups().into_iter().find(|(_, tg)| unresolved(tg)) {
        Some((path, _)) => Err(unresolved_err(op, &format!("{at}.{}", path.join(".")))),
        None => Ok(()),
    }
}

async fn listener_live(p: &AwsProvider, l: &Listener, spec: Option<&ListenerSpec>) -> Result<Live, ProviderError> {
    let tags = read_tags(p, l.listener_arn().unwrap_or_default()).await?;
    Ok(listener_live_of(l, spec, tags))
}

/// A listener as read, with its tags.
fn listener_live_of(l: &Listener, spec: Option<&ListenerSpec>, tags: Tags) -> Live {
    let arn = l.listener_arn().unwrap_or_default().to_string();
    let port = l.port().unwrap_or_default();
    let mut fields = Fields::new();
    fields.insert("load_balancer".into(), json!(l.load_balancer_arn().unwrap_or_default()));
    fields.insert("port".into(), json!(port));
    fields.insert("protocol".into(), json!(l.protocol().map(|p| p.as_str()).unwrap_or("HTTP")));
    let cert = l
        .certificates()
        .iter()
        .find(|c| c.is_default() == Some(true))
        .or_else(|| l.certificates().first())
        .and_then(|c| c.certificate_arn());
    if let Some(c) = cert {
        fields.insert("certificate".into(), json!(c));
    }
    if let Some(policy) = l.ssl_policy() {
        fields.insert("ssl_policy".into(), json!(policy));
    }
    fields.insert("default_action".into(), action_value(l.default_actions(), spec.map(|s| &s.default_action)));
    let mut attrs = Attrs::new();
    attrs.insert("arn".into(), json!(arn));
    attrs.insert("port".into(), json!(port));
    Live { id: arn, fields, attrs, tags, uid: None }
}

async fn listener_read_back(p: &AwsProvider, arn: &str, spec: &ListenerSpec) -> Result<Live, ProviderError> {
    let l = wait(
        &p.opts,
        p.opts.wait_timeout.min(Duration::from_secs(60)),
        "elbv2:DescribeListeners",
        "the listener to be visible",
        || describe_listener(p, arn),
    )
    .await?;
    listener_live(p, &l, Some(spec)).await
}

async fn create_listener(p: &AwsProvider, t: &Target, spec: &ListenerSpec) -> Result<Live, ProviderError> {
    const OP: &str = "elbv2:CreateListener";
    if unresolved(&spec.load_balancer) {
        return Err(unresolved_err(OP, "load_balancer"));
    }
    check_action(&spec.default_action, OP, "default_action")?;
    let req = p
        .elb
        .create_listener()
        .load_balancer_arn(&spec.load_balancer)
        .port(spec.port as i32)
        .protocol(ProtocolEnum::from(file_str(&spec.protocol).as_str()))
        .set_certificates(spec.certificate.as_ref().map(|c| vec![Certificate::builder().certificate_arn(c).build()]))
        .set_ssl_policy(spec.ssl_policy.clone())
        .default_actions(sdk_action(&spec.default_action))
        .set_tags(Some(elb_tags(&t.tags)));
    // A target group created a moment ago may not be visible to the
    // listener yet (it is no longer read back after its create).
    let out = super::retry_for(
        Duration::from_secs(30),
        || async { req.clone().send().await.map_err(|e| sdk_err(OP, e)) },
        |e| e.code.as_deref() == Some("TargetGroupNotFound"),
    )
    .await?;
    let l =
        out.listeners().first().filter(|l| l.listener_arn().is_some()).ok_or_else(|| missing(OP, "listener ARN"))?;
    // The listener as created: CreateListener answers with all of it.
    Ok(listener_live_of(l, Some(spec), t.tags.clone()))
}

async fn update_listener(
    p: &AwsProvider,
    t: &Target,
    spec: &ListenerSpec,
    live: &Live,
    changed: &[String],
) -> Result<Live, ProviderError> {
    const OP: &str = "elbv2:ModifyListener";
    let arn = live.id.as_str();
    if changed.iter().any(|c| c != "tags") {
        check_action(&spec.default_action, OP, "default_action")?;
        p.elb
            .modify_listener()
            .listener_arn(arn)
            .port(spec.port as i32)
            .protocol(ProtocolEnum::from(file_str(&spec.protocol).as_str()))
            .set_certificates(
                spec.certificate.as_ref().map(|c| vec![Certificate::builder().certificate_arn(c).build()]),
            )
            .set_ssl_policy(spec.ssl_policy.clone())
            .default_actions(sdk_action(&spec.default_action))
            .send()
            .await
            .map_err(|e| sdk_err(OP, e))?;
    }
    if changed.iter().any(|c| c == "tags") {
        sync_tags(p, arn, &live.tags, &t.tags).await?;
    }
    listener_read_back(p, arn, spec).await
}

// ---- listener rules ------------------------------------------------------------------------

/// The listener a rule ARN names:
/// `…:listener-rule/app/NAME/LB-ID/LISTENER-ID/RULE-ID` is on `…:listener/app/NAME/LB-ID/LISTENER-ID`.
fn rule_listener(arn: &str) -> Option<String> {
    let (head, tail) = arn.split_once(":listener-rule/")?;
    let (listener, _) = tail.rsplit_once('/')?;
    Some(format!("{head}:listener/{listener}"))
}

/// The conditions as the file says them: only the kinds of condition the
/// rule has; the values of all `query-string` conditions in one list.
fn conditions_value(conditions: &[RuleCondition]) -> Value {
    let mut m = serde_json::Map::new();
    let mut list = |key: &str, values: Vec<Value>| {
        if values.is_empty() {
            return;
        }
        match m.get_mut(key) {
            Some(Value::Array(v)) => v.extend(values),
            _ => {
                m.insert(key.into(), Value::Array(values));
            }
        }
    };
    let strs = |v: &[String]| v.iter().map(|s| json!(s)).collect::<Vec<_>>();
    for c in conditions {
        // The old form: `Values` beside `Field`, for paths and hosts.
        let plain = strs(c.values());
        match c.field().unwrap_or_default() {
            "path-pattern" => {
                let v = c.path_pattern_config().map(|x| strs(x.values())).filter(|v| !v.is_empty());
                list("path_patterns", v.unwrap_or(plain));
            }
            "host-header" => {
                let v = c.host_header_config().map(|x| strs(x.values())).filter(|v| !v.is_empty());
                list("host_headers", v.unwrap_or(plain));
            }
            "http-request-method" => {
                list("http_methods", c.http_request_method_config().map(|x| strs(x.values())).unwrap_or_default());
            }
            "source-ip" => list("source_ips", c.source_ip_config().map(|x| strs(x.values())).unwrap_or_default()),
            "http-header" => {
                if let Some(h) = c.http_header_config() {
                    let one = json!({ "name": h.http_header_name().unwrap_or_default(), "values": strs(h.values()) });
                    list("http_headers", vec![one]);
                }
            }
            "query-string" => {
                let pairs = c.query_string_config().map(|q| q.values()).unwrap_or_default();
                let v = pairs
                    .iter()
                    .map(|kv| {
                        let mut o = serde_json::Map::new();
                        if let Some(k) = kv.key() {
                            o.insert("key".into(), json!(k));
                        }
                        o.insert("value".into(), json!(kv.value().unwrap_or_default()));
                        Value::Object(o)
                    })
                    .collect();
                list("query_strings", v);
            }
            _ => {}
        }
    }
    Value::Object(m)
}

/// The file's conditions as AWS takes them: one condition per kind, one
/// per header, and one for all query string pairs.
fn sdk_conditions(c: &Conditions) -> Vec<RuleCondition> {
    let mut out = Vec::new();
    let field = |f: &str| RuleCondition::builder().field(f);
    if !c.path_patterns.is_empty() {
        let cfg = PathPatternConditionConfig::builder().set_values(Some(c.path_patterns.clone())).build();
        out.push(field("path-pattern").path_pattern_config(cfg).build());
    }
    if !c.host_headers.is_empty() {
        let cfg = HostHeaderConditionConfig::builder().set_values(Some(c.host_headers.clone())).build();
        out.push(field("host-header").host_header_config(cfg).build());
    }
    if !c.http_methods.is_empty() {
        let cfg = HttpRequestMethodConditionConfig::builder().set_values(Some(c.http_methods.clone())).build();
        out.push(field("http-request-method").http_request_method_config(cfg).build());
    }
    if !c.source_ips.is_empty() {
        let cfg = SourceIpConditionConfig::builder().set_values(Some(c.source_ips.clone())).build();
        out.push(field("source-ip").source_ip_config(cfg).build());
    }
    for h in &c.http_headers {
        let cfg =
            HttpHeaderConditionConfig::builder().http_header_name(&h.name).set_values(Some(h.values.clone())).build();
        out.push(field("http-header").http_header_config(cfg).build());
    }
    if !c.query_strings.is_empty() {
        let pairs = c
            .query_strings
            .iter()
            .map(|q| QueryStringKeyValuePair::builder().set_key(q.key.clone()).value(&q.value).build())
            .collect();
        out.push(
            field("query-string")
                .query_string_config(QueryStringConditionConfig::builder().set_values(Some(pairs)).build())
                .build(),
        );
    }
    out
}

/// A rule as read, with its tags.
fn rule_live_of(r: &Rule, spec: Option<&RuleSpec>, tags: Tags) -> Live {
    let arn = r.rule_arn().unwrap_or_default().to_string();
    let mut fields = Fields::new();
    fields.insert("listener".into(), json!(rule_listener(&arn).unwrap_or_default()));
    fields.insert("priority".into(), r.priority().map(num_or_text).unwrap_or(Value::Null));
    fields.insert("conditions".into(), conditions_value(r.conditions()));
    fields.insert("action".into(), action_value(r.actions(), spec.map(|s| &s.action)));
    let mut attrs = Attrs::new();
    attrs.insert("arn".into(), json!(arn));
    Live { id: arn, fields, attrs, tags, uid: None }
}

async fn describe_rules(p: &AwsProvider, arns: Vec<String>) -> Result<Vec<Rule>, ProviderError> {
    let out =
        p.elb.describe_rules().set_rule_arns(Some(arns)).send().await.map_err(|e| sdk_err("elbv2:DescribeRules", e))?;
    Ok(out.rules.unwrap_or_default())
}

/// Every rule of a listener (its default rule too); `Ok(None)` when the
/// listener does not exist.
async fn rules_of(p: &AwsProvider, listener: &str) -> Result<Option<Vec<Rule>>, ProviderError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let r = p
            .elb
            .describe_rules()
            .listener_arn(listener)
            .set_marker(marker.clone())
            .page_size(PAGE)
            .send()
            .await
            .map_err(|e| sdk_err("elbv2:DescribeRules", e));
        let Some(page) = found(r)? else { return Ok(None) };
        out.extend(page.rules.unwrap_or_default());
        match page.next_marker {
            Some(m) if !m.is_empty() && Some(&m) != marker.as_ref() => marker = Some(m),
            _ => return Ok(Some(out)),
        }
    }
}

/// Rules by ARN when a call for several failed: the rules of their
/// listeners, one call each.
async fn rules_by_listener(p: &AwsProvider, arns: Vec<String>) -> Result<Vec<Rule>, ProviderError> {
    let listeners: BTreeSet<String> = arns.iter().filter_map(|a| rule_listener(a)).collect();
    let of = futures::future::try_join_all(listeners.iter().map(|l| rules_of(p, l))).await?;
    Ok(of.into_iter().flatten().flatten().collect())
}

async fn rule_read_back(p: &AwsProvider, arn: &str, spec: &RuleSpec) -> Result<Live, ProviderError> {
    let r = wait(
        &p.opts,
        p.opts.wait_timeout.min(Duration::from_secs(60)),
        "elbv2:DescribeRules",
        "the listener rule to be visible",
        || async { Ok(found(describe_rules(p, vec![arn.to_string()]).await)?.and_then(|r| r.into_iter().next())) },
    )
    .await?;
    let tags = read_tags(p, arn).await?;
    Ok(rule_live_of(&r, Some(spec), tags))
}

async fn create_rule(p: &AwsProvider, t: &Target, spec: &RuleSpec) -> Result<Live, ProviderError> {
    const OP: &str = "elbv2:CreateRule";
    if unresolved(&spec.listener) {
        return Err(unresolved_err(OP, "listener"));
    }
    check_action(&spec.action, OP, "action")?;
    let req = p
        .elb
        .create_rule()
        .listener_arn(&spec.listener)
        .priority(spec.priority as i32)
        .set_conditions(Some(sdk_conditions(&spec.conditions)))
        .actions(sdk_action(&spec.action))
        .set_tags(Some(elb_tags(&t.tags)));
    // A target group or listener created a moment ago may not be visible yet.
    let send = || {
        super::retry_for(
            Duration::from_secs(30),
            || async { req.clone().send().await.map_err(|e| sdk_err(OP, e)) },
            |e| matches!(e.code.as_deref(), Some("TargetGroupNotFound" | "ListenerNotFound")),
        )
    };
    let out = match send().await {
        Err(e) if in_use(&e) => {
            // Another of the stack's rules still holds the priority (its own
            // update moves it later in this apply): moved aside first.
            let _one = PRIORITIES.lock().await;
            let mut out = Err(e);
            for _ in 0..PRIORITY_TRIES {
                if let Some((holder, spare)) = holder_of(p, &t.stack, &spec.listener, spec.priority, None).await? {
                    match set_priorities(p, &[(&holder, spare)]).await {
                        Err(e) if in_use(&e) => continue,
                        r => r?,
                    }
                }
                out = send().await;
                if !matches!(&out, Err(e) if in_use(e)) {
                    break;
                }
            }
            out?
        }
        r => r?,
    };
    let r = out.rules().first().filter(|r| r.rule_arn().is_some()).ok_or_else(|| missing(OP, "rule ARN"))?;
    // The rule as created: CreateRule answers with all of it.
    Ok(rule_live_of(r, Some(spec), t.tags.clone()))
}

async fn update_rule(
    p: &AwsProvider,
    t: &Target,
    spec: &RuleSpec,
    live: &Live,
    changed: &[String],
) -> Result<Live, ProviderError> {
    let arn = live.id.as_str();
    let has = |f: &str| changed.iter().any(|c| c == f);
    if has("conditions") || has("action") {
        const OP: &str = "elbv2:ModifyRule";
        check_action(&spec.action, OP, "action")?;
        p.elb
            .modify_rule()
            .rule_arn(arn)
            .set_conditions(Some(sdk_conditions(&spec.conditions)))
            .actions(sdk_action(&spec.action))
            .send()
            .await
            .map_err(|e| sdk_err(OP, e))?;
    }
    if has("priority") {
        set_priority(p, &t.stack, &spec.listener, arn, spec.priority).await?;
    }
    if has("tags") {
        sync_tags(p, arn, &live.tags, &t.tags).await?;
    }
    rule_read_back(p, arn, spec).await
}

/// Priority changes of this run, one at a time: a change reads the
/// listener's rules and may move one of them aside, which a read made before
/// another change moved rules must not decide.
static PRIORITIES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// The highest priority a rule can have.
const MAX_PRIORITY: i32 = 50_000;
/// Attempts at a priority change that others' changes keep getting in the way of.
const PRIORITY_TRIES: usize = 5;

/// Whether `tags` are those of another resource of `stack` than `logical`.
fn another_of(tags: &Tags, stack: &str, logical: &str) -> bool {
    tags.get(crate::provider::TAG_STACK).map(String::as_str) == Some(stack)
        && tags.get(crate::provider::TAG_RESOURCE).is_some_and(|r| r != logical)
}

fn in_use(e: &ProviderError) -> bool {
    e.code.as_deref() == Some("PriorityInUse")
}

async fn set_priorities(p: &AwsProvider, pairs: &[(&str, i32)]) -> Result<(), ProviderError> {
    let pairs = pairs.iter().map(|(arn, n)| RulePriorityPair::builder().rule_arn(*arn).priority(*n).build()).collect();
    p.elb
        .set_rule_priorities()
        .set_rule_priorities(Some(pairs))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sdk_err("elbv2:SetRulePriorities", e))
}

/// The rule other than `except` that holds priority `want` on `listener`,
/// and the highest free priority to move it to; `None` when none holds it.
/// Only a rule of this stack is moved: its own update gives it the priority
/// the file wants. Any other holder is an error that names it.
async fn holder_of(
    p: &AwsProvider,
    stack: &str,
    listener: &str,
    want: u32,
    except: Option<&str>,
) -> Result<Option<(String, i32)>, ProviderError> {
    const OP: &str = "elbv2:SetRulePriorities";
    let rules = rules_of(p, listener).await?.ok_or_else(|| {
        ProviderError::new(ErrorKind::NotFound, "elbv2:DescribeRules", format!("listener {listener} does not exist"))
    })?;
    let want_s = want.to_string();
    let Some(holder) = rules.iter().find(|r| r.priority() == Some(want_s.as_str()) && r.rule_arn() != except) else {
        return Ok(None);
    };
    let holder = holder.rule_arn().unwrap_or_default().to_string();
    let tags = read_tags(p, &holder).await?;
    if tags.get(crate::provider::TAG_STACK).map(String::as_str) != Some(stack) {
        let whose = match (tags.get(crate::provider::TAG_STACK), tags.get(crate::provider::TAG_RESOURCE)) {
            (Some(s), Some(r)) => format!("resource `{r}` of stack `{s}`"),
            (Some(s), None) => format!("stack `{s}`"),
            _ => "a rule moor does not manage".to_string(),
        };
        return Err(ProviderError::new(
            ErrorKind::Rejected,
            OP,
            format!("priority {want} of listener {listener} is held by rule {holder} ({whose}); give this rule another `priority` or delete that rule"),
        )
        .with_code("PriorityInUse"));
    }
    let used: BTreeSet<i32> = rules.iter().filter_map(|r| r.priority()?.parse().ok()).collect();
    let spare = (1..=MAX_PRIORITY).rev().find(|n| !used.contains(n)).ok_or_else(|| {
        ProviderError::new(ErrorKind::Rejected, OP, format!("listener {listener} has no free priority left"))
    })?;
    Ok(Some((holder, spare)))
}

/// Gives rule `arn` of `listener` priority `want`. When another of the
/// stack's rules holds it (two rules swap priorities, or several rotate),
/// that rule goes to a free priority in the same call (AWS applies a call's
/// pairs together), and its own update then finds it there and sets the
/// priority the file wants.
async fn set_priority(p: &AwsProvider, stack: &str, listener: &str, arn: &str, want: u32) -> Result<(), ProviderError> {
    let _one = PRIORITIES.lock().await;
    let want_n = want as i32;
    let mut last = None;
    for _ in 0..PRIORITY_TRIES {
        match set_priorities(p, &[(arn, want_n)]).await {
            Err(e) if in_use(&e) => last = Some(e),
            r => return r,
        }
        let Some((holder, spare)) = holder_of(p, stack, listener, want, Some(arn)).await? else { continue };
        match set_priorities(p, &[(arn, want_n), (holder.as_str(), spare)]).await {
            // An implementation that checks each pair against the priorities
            // before the call (the emulator) refuses that: one at a time.
            Err(e) if in_use(&e) => match set_priorities(p, &[(holder.as_str(), spare)]).await {
                Err(e) if in_use(&e) => last = Some(e),
                r => {
                    r?;
                    match set_priorities(p, &[(arn, want_n)]).await {
                        Err(e) if in_use(&e) => last = Some(e),
                        r => return r,
                    }
                }
            },
            r => return r,
        }
    }
    Err(last.unwrap_or_else(|| {
        ProviderError::new(ErrorKind::Rejected, "elbv2:SetRulePriorities", format!("priority {want} stayed in use"))
    }))
}

// ---- reading many ---------------------------------------------------------------------

/// At most this many names or ARNs in one Describe call (AWS's limit).
const PER_CALL: usize = 20;
/// At most this many attribute reads at a time (they have no batch form).
const ATTRIBUTE_READS: usize = 32;

/// What one read asks for: the batched read's request.
pub(super) enum Want<'a> {
    /// Nothing to read: what identifies it is a reference not known yet.
    Nothing,
    LbArn(&'a str),
    LbName(&'a str),
    TgArn(&'a str, Option<&'a TgSpec>),
    TgName(&'a str, Option<&'a TgSpec>),
    ListenerArn(&'a str, Option<&'a ListenerSpec>),
    /// A listener by its load balancer's ARN and its port.
    ListenerPort(&'a str, i32, Option<&'a ListenerSpec>),
    RuleArn(&'a str, Option<&'a RuleSpec>),
    /// A rule by its listener's ARN and its priority.
    /// With the stack and logical name asking: a rule of another of the
    /// stack's resources there is not this one (its own update moves it).
    RulePriority(&'a str, u32, Option<&'a RuleSpec>, (&'a str, &'a str)),
}

/// What a set of Describe calls found, and the names or ARNs whose call
/// failed.
struct Found<T> {
    items: Vec<T>,
    failed: HashMap<String, ProviderError>,
}

impl<T> Found<T> {
    /// The item `key` names, picked by `is`; `Ok(None)` when AWS has none.
    fn get(&self, key: &str, is: impl Fn(&T) -> bool) -> Result<Option<&T>, ProviderError> {
        match self.failed.get(key) {
            Some(e) => Err(e.clone()),
            None => Ok(self.items.iter().find(|i| is(i))),
        }
    }
}

/// Describes `keys` (names or ARNs) `PER_CALL` at a time, all calls at
/// once. One that does not exist fails its whole call (LoadBalancerNotFound,
/// TargetGroupNotFound, ListenerNotFound), so the keys of such calls are
/// then looked for with `fallback`, once for all of them (one listing
/// rather than a call per key); what it does not find does not exist.
async fn describe_chunked<T, F, Fut, G, GFut>(keys: &[String], call: F, fallback: G) -> Found<T>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, ProviderError>>,
    G: FnOnce(Vec<String>) -> GFut,
    GFut: std::future::Future<Output = Result<Vec<T>, ProviderError>>,
{
    let chunks: Vec<Vec<String>> = keys.chunks(PER_CALL).map(<[String]>::to_vec).collect();
    let first = futures::future::join_all(chunks.iter().cloned().map(&call)).await;
    let mut found = Found { items: Vec::new(), failed: HashMap::new() };
    let mut missing = Vec::new();
    for (chunk, r) in chunks.into_iter().zip(first) {
        match r {
            Ok(items) => found.items.extend(items),
            // A lone key: it is the one that does not exist.
            Err(e) if e.kind == ErrorKind::NotFound && chunk.len() == 1 => {}
            Err(e) if e.kind == ErrorKind::NotFound => missing.extend(chunk),
            Err(e) => found.failed.extend(chunk.into_iter().map(|k| (k, e.clone()))),
        }
    }
    if !missing.is_empty() {
        match fallback(missing.clone()).await {
            Ok(items) => found.items.extend(items),
            Err(e) => found.failed.extend(missing.into_iter().map(|k| (k, e.clone()))),
        }
    }
    found
}

/// At most this many per page when listing everything (AWS's largest page).
const PAGE: i32 = 400;

/// Every load balancer of the region (a region holds few).
async fn all_lbs(p: &AwsProvider) -> Result<Vec<LoadBalancer>, ProviderError> {
    let pages = p
        .elb
        .describe_load_balancers()
        .page_size(PAGE)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_err("elbv2:DescribeLoadBalancers", e))?;
    Ok(pages.into_iter().flat_map(|o| o.load_balancers.unwrap_or_default()).collect())
}

/// Every target group of the region, `PAGE` per call.
async fn all_tgs(p: &AwsProvider) -> Result<Vec<TargetGroup>, ProviderError> {
    let pages = p
        .elb
        .describe_target_groups()
        .page_size(PAGE)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_err("elbv2:DescribeTargetGroups", e))?;
    Ok(pages.into_iter().flat_map(|o| o.target_groups.unwrap_or_default()).collect())
}

/// The load balancer a listener ARN names:
/// `…:listener/app/NAME/LB-ID/LISTENER-ID` is on `…:loadbalancer/app/NAME/LB-ID`.
fn listener_lb(arn: &str) -> Option<String> {
    let (head, tail) = arn.split_once(":listener/")?;
    let (lb, _) = tail.rsplit_once('/')?;
    Some(format!("{head}:loadbalancer/{lb}"))
}

/// Listeners by ARN when a call for several failed: the listeners of their
/// load balancers, one call each.
async fn listeners_by_lb(p: &AwsProvider, arns: Vec<String>) -> Result<Vec<Listener>, ProviderError> {
    let mut lbs = BTreeSet::new();
    let mut odd = Vec::new();
    for a in arns {
        match listener_lb(&a) {
            Some(lb) => {
                lbs.insert(lb);
            }
            None => odd.push(a),
        }
    }
    let (of_lbs, one_by_one) = futures::join!(
        futures::future::try_join_all(lbs.iter().map(|lb| listeners_of(p, lb))),
        futures::future::join_all(odd.into_iter().map(|a| describe_listeners(p, vec![a]))),
    );
    let mut out: Vec<Listener> = of_lbs?.into_iter().flatten().flatten().collect();
    for r in one_by_one {
        if let Some(ls) = found(r)? {
            out.extend(ls);
        }
    }
    Ok(out)
}

async fn describe_lbs(p: &AwsProvider, keys: Vec<String>, by_arn: bool) -> Result<Vec<LoadBalancer>, ProviderError> {
    let req = p.elb.describe_load_balancers();
    let req = if by_arn { req.set_load_balancer_arns(Some(keys)) } else { req.set_names(Some(keys)) };
    let out = req.send().await.map_err(|e| sdk_err("elbv2:DescribeLoadBalancers", e))?;
    Ok(out.load_balancers.unwrap_or_default())
}

async fn describe_tgs(p: &AwsProvider, keys: Vec<String>, by_arn: bool) -> Result<Vec<TargetGroup>, ProviderError> {
    let req = p.elb.describe_target_groups();
    let req = if by_arn { req.set_target_group_arns(Some(keys)) } else { req.set_names(Some(keys)) };
    let out = req.send().await.map_err(|e| sdk_err("elbv2:DescribeTargetGroups", e))?;
    Ok(out.target_groups.unwrap_or_default())
}

async fn describe_listeners(p: &AwsProvider, arns: Vec<String>) -> Result<Vec<Listener>, ProviderError> {
    let out = p
        .elb
        .describe_listeners()
        .set_listener_arns(Some(arns))
        .send()
        .await
        .map_err(|e| sdk_err("elbv2:DescribeListeners", e))?;
    Ok(out.listeners.unwrap_or_default())
}

/// Every listener of a load balancer; `Ok(None)` when it does not exist.
async fn listeners_of(p: &AwsProvider, lb: &str) -> Result<Option<Vec<Listener>>, ProviderError> {
    let pages = found(
        p.elb
            .describe_listeners()
            .load_balancer_arn(lb)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_err("elbv2:DescribeListeners", e)),
    )?;
    Ok(pages.map(|pages| pages.into_iter().flat_map(|o| o.listeners.unwrap_or_default()).collect()))
}

type Attributes = Result<Vec<(String, String)>, ProviderError>;

/// One attributes read per ARN, `ATTRIBUTE_READS` at a time.
async fn attributes_of<F, Fut>(arns: &[String], read: F) -> HashMap<String, Attributes>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Attributes>,
{
    futures::stream::iter(arns.iter().cloned())
        .map(|arn| {
            let r = read(arn.clone());
            async move { (arn, r.await) }
        })
        .buffer_unordered(ATTRIBUTE_READS)
        .collect()
        .await
}

/// A follow-up read (tags, attributes) of a resource found a moment ago:
/// `Ok(None)` when it says the resource is gone now.
fn part<T: Clone>(m: &HashMap<String, Result<T, ProviderError>>, arn: &str) -> Result<Option<T>, ProviderError> {
    match m.get(arn) {
        Some(Ok(v)) => Ok(Some(v.clone())),
        Some(Err(e)) if e.kind == ErrorKind::NotFound => Ok(None),
        Some(Err(e)) => Err(e.clone()),
        None => Err(ProviderError::new(ErrorKind::Rejected, "moor:read", format!("{arn} was found but not read"))),
    }
}

/// What one read found.
enum Hit<'a> {
    Lb(&'a LoadBalancer),
    Tg(&'a TargetGroup, Option<&'a TgSpec>),
    Listener(&'a Listener, Option<&'a ListenerSpec>),
    Rule(&'a Rule, Option<&'a RuleSpec>),
}

impl Hit<'_> {
    fn arn(&self) -> &str {
        match self {
            Hit::Lb(lb) => lb.load_balancer_arn(),
            Hit::Tg(tg, _) => tg.target_group_arn(),
            Hit::Listener(l, _) => l.listener_arn(),
            Hit::Rule(r, _) => r.rule_arn(),
        }
        .unwrap_or_default()
    }
}

/// Reads what `wants` ask for. What is asked for by ARN (everything of a
/// stack that exists) is described, tagged and its attributes read all at
/// once; what is found by name or port has its tags and attributes read
/// right after, together.
async fn read_wants(p: &AwsProvider, wants: &[Want<'_>]) -> Vec<Result<Option<Live>, ProviderError>> {
    let mut lb_arns = BTreeSet::new();
    let mut lb_names = BTreeSet::new();
    let mut tg_arns = BTreeSet::new();
    let mut tg_names = BTreeSet::new();
    let mut l_arns = BTreeSet::new();
    let mut l_lbs = BTreeSet::new();
    let mut r_arns = BTreeSet::new();
    let mut r_ls = BTreeSet::new();
    for w in wants {
        match w {
            Want::LbArn(a) => lb_arns.insert(a.to_string()),
            Want::LbName(n) => lb_names.insert(n.to_string()),
            Want::TgArn(a, _) => tg_arns.insert(a.to_string()),
            Want::TgName(n, _) => tg_names.insert(n.to_string()),
            Want::ListenerArn(a, _) => l_arns.insert(a.to_string()),
            Want::ListenerPort(lb, _, _) => l_lbs.insert(lb.to_string()),
            Want::RuleArn(a, _) => r_arns.insert(a.to_string()),
            Want::RulePriority(l, ..) => r_ls.insert(l.to_string()),
            Want::Nothing => false,
        };
    }
    let (r_arns, r_ls): (Vec<String>, Vec<String>) = (r_arns.into_iter().collect(), r_ls.into_iter().collect());
    let v = |s: BTreeSet<String>| s.into_iter().collect::<Vec<_>>();
    let (lb_arns, lb_names, tg_arns, tg_names, l_arns, l_lbs) =
        (v(lb_arns), v(lb_names), v(tg_arns), v(tg_names), v(l_arns), v(l_lbs));
    let known: Vec<String> = lb_arns.iter().chain(&tg_arns).chain(&l_arns).chain(&r_arns).cloned().collect();
    let ((rs_a, rs_l), (lbs_a, lbs_n, tgs_a, tgs_n, ls_a, ls_lb, mut tags, mut lb_attrs, mut tg_attrs)) = futures::join!(
        async {
            futures::join!(
                describe_chunked(&r_arns, |c| describe_rules(p, c), |missing| rules_by_listener(p, missing)),
                futures::future::join_all(r_ls.iter().map(|l| rules_of(p, l))),
            )
        },
        async {
            futures::join!(
                describe_chunked(&lb_arns, |c| describe_lbs(p, c, true), |_| all_lbs(p)),
                describe_chunked(&lb_names, |c| describe_lbs(p, c, false), |_| all_lbs(p)),
                describe_chunked(&tg_arns, |c| describe_tgs(p, c, true), |_| all_tgs(p)),
                describe_chunked(&tg_names, |c| describe_tgs(p, c, false), |_| all_tgs(p)),
                describe_chunked(&l_arns, |c| describe_listeners(p, c), |missing| listeners_by_lb(p, missing)),
                futures::future::join_all(l_lbs.iter().map(|lb| listeners_of(p, lb))),
                tags_of(p, &known, false),
                attributes_of(&lb_arns, |a| async move { lb_attributes(p, &a).await }),
                attributes_of(&tg_arns, |a| async move { tg_attributes(p, &a).await }),
            )
        },
    );
    let rs_l: HashMap<&str, Result<Option<Vec<Rule>>, ProviderError>> =
        r_ls.iter().map(String::as_str).zip(rs_l).collect();
    let by_priority = |l: &str, priority: u32| -> Result<Option<&Rule>, ProviderError> {
        match rs_l.get(l) {
            Some(Ok(Some(rs))) => Ok(rs.iter().find(|r| r.priority() == Some(priority.to_string().as_str()))),
            Some(Ok(None)) | None => Ok(None),
            Some(Err(e)) => Err(e.clone()),
        }
    };
    let ls_lb: HashMap<&str, Result<Option<Vec<Listener>>, ProviderError>> =
        l_lbs.iter().map(String::as_str).zip(ls_lb).collect();
    let by_port = |lb: &str, port: i32| -> Result<Option<&Listener>, ProviderError> {
        match ls_lb.get(lb) {
            Some(Ok(Some(ls))) => Ok(ls.iter().find(|l| l.port() == Some(port))),
            Some(Ok(None)) | None => Ok(None),
            Some(Err(e)) => Err(e.clone()),
        }
    };

    // What each read found.
    let hits: Vec<Result<Option<Hit>, ProviderError>> = wants
        .iter()
        .map(|w| {
            Ok(match w {
                Want::Nothing => None,
                Want::LbArn(a) => lbs_a.get(a, |lb| lb.load_balancer_arn() == Some(a))?.map(Hit::Lb),
                Want::LbName(n) => lbs_n.get(n, |lb| lb.load_balancer_name() == Some(n))?.map(Hit::Lb),
                Want::TgArn(a, spec) => {
                    tgs_a.get(a, |tg| tg.target_group_arn() == Some(a))?.map(|tg| Hit::Tg(tg, *spec))
                }
                Want::TgName(n, spec) => {
                    tgs_n.get(n, |tg| tg.target_group_name() == Some(n))?.map(|tg| Hit::Tg(tg, *spec))
                }
                Want::ListenerArn(a, spec) => {
                    ls_a.get(a, |l| l.listener_arn() == Some(a))?.map(|l| Hit::Listener(l, *spec))
                }
                Want::ListenerPort(lb, port, spec) => by_port(lb, *port)?.map(|l| Hit::Listener(l, *spec)),
                Want::RuleArn(a, spec) => rs_a.get(a, |r| r.rule_arn() == Some(a))?.map(|r| Hit::Rule(r, *spec)),
                Want::RulePriority(l, priority, spec, _) => by_priority(l, *priority)?.map(|r| Hit::Rule(r, *spec)),
            })
        })
        .collect();

    // What was found by name or port: its tags and attributes, once each.
    // And tags asked for with a resource that turned out to be gone (which
    // fails its whole call): asked again without it.
    let mut more_tags = BTreeSet::new();
    let mut more_lbs = BTreeSet::new();
    let mut more_tgs = BTreeSet::new();
    for hit in hits.iter().flatten().flatten() {
        let arn = hit.arn().to_string();
        match hit {
            Hit::Lb(_) if !lb_attrs.contains_key(&arn) => more_lbs.insert(arn.clone()),
            Hit::Tg(..) if !tg_attrs.contains_key(&arn) => more_tgs.insert(arn.clone()),
            _ => false,
        };
        if matches!(tags.get(&arn), None | Some(Err(ProviderError { kind: ErrorKind::NotFound, .. }))) {
            more_tags.insert(arn);
        }
    }
    let v = |s: BTreeSet<String>| s.into_iter().collect::<Vec<_>>();
    let (more_tags, more_lbs, more_tgs) = (v(more_tags), v(more_lbs), v(more_tgs));
    let (t, la, ta) = futures::join!(
        tags_of(p, &more_tags, true),
        attributes_of(&more_lbs, |a| async move { lb_attributes(p, &a).await }),
        attributes_of(&more_tgs, |a| async move { tg_attributes(p, &a).await }),
    );
    tags.extend(t);
    lb_attrs.extend(la);
    tg_attrs.extend(ta);

    // A follow-up read that says the resource is gone now: not found.
    hits.into_iter()
        .zip(wants)
        .map(|(hit, want)| {
            let Some(hit) = hit? else { return Ok(None) };
            let arn = hit.arn();
            let Some(tags) = part(&tags, arn)? else { return Ok(None) };
            Ok(match hit {
                Hit::Lb(lb) => part(&lb_attrs, arn)?.map(|attrs| lb_live_of(lb, &attrs, tags)),
                Hit::Tg(tg, spec) => part(&tg_attrs, arn)?.map(|attrs| tg_live_of(tg, spec, &attrs, tags)),
                Hit::Listener(l, spec) => Some(listener_live_of(l, spec, tags)),
                Hit::Rule(r, spec) => match want {
                    Want::RulePriority(.., (stack, logical)) if another_of(&tags, stack, logical) => None,
                    _ => Some(rule_live_of(r, spec, tags)),
                },
            })
        })
        .collect()
}

/// Elastic Load Balancing's reads, which take no resource.
fn describe(actions: &[&'static str]) -> Grant {
    let mut actions = actions.to_vec();
    actions.push("elasticloadbalancing:DescribeTags");
    Grant::any(Phase::Read, &actions, "Elastic Load Balancing's Describe calls take no resource")
}

/// An application load balancer's ARN by its name: AWS adds an id.
fn lb_arn(at: &Scope, name: &str) -> String {
    if name.starts_with("arn:") {
        return name.to_string();
    }
    at.arn("elasticloadbalancing", &format!("loadbalancer/app/{}/*", known(name)))
}

/// A target group's ARN by its name: AWS adds an id.
fn tg_arn(at: &Scope, name: &str) -> String {
    if name.starts_with("arn:") {
        return name.to_string();
    }
    at.arn("elasticloadbalancing", &format!("targetgroup/{}/*", known(name)))
}

/// The ARN of the listeners of a load balancer (given by its ARN).
fn listener_arn(lb: &str) -> String {
    match lb.split_once(":loadbalancer/") {
        Some((head, tail)) => format!("{head}:listener/{tail}/*"),
        None => lb.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_suffixes() {
        assert_eq!(lb_arn_suffix("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/abc"), "app/web/abc");
        assert_eq!(
            tg_arn_suffix("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/abc"),
            "targetgroup/web/abc"
        );
    }

    #[test]
    fn a_listener_arn_names_its_load_balancer() {
        assert_eq!(
            listener_lb("arn:aws:elasticloadbalancing:us-east-1:1:listener/app/web/abc/def").as_deref(),
            Some("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/abc")
        );
        assert_eq!(listener_lb("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/abc"), None);
    }

    #[test]
    fn a_rule_arn_names_its_listener() {
        assert_eq!(
            rule_listener("arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/web/abc/def/123").as_deref(),
            Some("arn:aws:elasticloadbalancing:us-east-1:1:listener/app/web/abc/def")
        );
        assert_eq!(rule_listener("arn:aws:elasticloadbalancing:us-east-1:1:listener/app/web/abc/def"), None);
    }

    #[test]
    fn conditions_read_back_as_the_file_writes_them() {
        let c: Conditions = serde_json::from_value(json!({
            "path_patterns": ["/api/*"],
            "host_headers": ["api.example.com"],
            "http_methods": ["GET"],
            "source_ips": ["10.0.0.0/8"],
            "http_headers": [{"name": "X-Env", "values": ["beta"]}, {"name": "X-Team", "values": ["a"]}],
            "query_strings": [{"key": "v", "value": "2"}, {"value": "debug"}],
        }))
        .unwrap();
        let sent = sdk_conditions(&c);
        assert_eq!(sent.len(), 7, "one per kind, one per header, one for the query pairs");
        assert_eq!(conditions_value(&sent), serde_json::to_value(&c).unwrap());
        // The old form AWS still answers with for paths and hosts.
        let old = RuleCondition::builder().field("path-pattern").values("/old/*").build();
        assert_eq!(conditions_value(&[old]), json!({"path_patterns": ["/old/*"]}));
    }

    #[test]
    fn forwards_read_back_in_the_files_form() {
        let one: FileAction = serde_json::from_value(json!({"forward": "arn:tg/a"})).unwrap();
        let weighted: FileAction = serde_json::from_value(json!({"forward": [
            {"target_group": "arn:tg/a", "weight": 80}, {"target_group": "arn:tg/b", "weight": 20}
        ]}))
        .unwrap();
        let sticky: FileAction = serde_json::from_value(json!({"forward": {
            "target_groups": [{"target_group": "arn:tg/a", "weight": 1}], "stickiness": 300
        }}))
        .unwrap();
        for a in [&one, &weighted, &sticky] {
            assert_eq!(action_value(&[sdk_action(a)], Some(a)), serde_json::to_value(a).unwrap());
        }
        // A lone group AWS answers in a forward config is the file's one ARN,
        // unless the file writes a list.
        let lone = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .forward_config(
                ForwardActionConfig::builder()
                    .target_groups(TargetGroupTuple::builder().target_group_arn("arn:tg/a").weight(1).build())
                    .build(),
            )
            .build();
        assert_eq!(action_value(std::slice::from_ref(&lone), Some(&one)), json!({"forward": "arn:tg/a"}));
        let listed: FileAction =
            serde_json::from_value(json!({"forward": [{"target_group": "arn:tg/a", "weight": 1}]})).unwrap();
        assert_eq!(
            action_value(&[lone], Some(&listed)),
            json!({"forward": [{"target_group": "arn:tg/a", "weight": 1}]})
        );
    }

    #[test]
    fn only_the_attributes_the_file_sets_are_written() {
        let lb: LbSpec = serde_json::from_value(json!({
            "subnets": ["a", "b"], "access_logs": {"bucket": "logs"}, "http2": false
        }))
        .unwrap();
        let keys = |a: Vec<(&str, String)>| a.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>();
        assert_eq!(
            keys(lb_attributes_of(&lb, None)),
            [
                "access_logs.s3.enabled=true",
                "access_logs.s3.bucket=logs",
                "access_logs.s3.prefix=",
                "routing.http2.enabled=false"
            ]
        );
        assert_eq!(keys(lb_attributes_of(&lb, Some(&["http2".to_string()]))), ["routing.http2.enabled=false"]);
        // Removed from the file since the last apply: turned off.
        let off: LbSpec = serde_json::from_value(json!({"subnets": ["a", "b"]})).unwrap();
        assert_eq!(keys(lb_attributes_of(&off, Some(&["access_logs".to_string()]))), ["access_logs.s3.enabled=false"]);
        assert!(lb_attributes_of(&off, None).is_empty());
    }

    #[test]
    fn redirect_defaults_are_left_out() {
        let a = Action::builder()
            .r#type(ActionTypeEnum::Redirect)
            .redirect_config(
                RedirectActionConfig::builder()
                    .protocol("HTTPS")
                    .port("443")
                    .host("#{host}")
                    .path("/#{path}")
                    .query("#{query}")
                    .status_code(RedirectActionStatusCodeEnum::Http301)
                    .build(),
            )
            .build();
        assert_eq!(
            action_value(&[a], None),
            json!({"redirect": {"protocol": "HTTPS", "port": 443, "status_code": 301}})
        );
    }
}
