//! Finding a stack's resources by their tags alone, whatever the state
//! record says.
//!
//! The regional kinds come from the Resource Groups Tagging API: one
//! `GetResources` call (a page of up to 100) lists every resource in the
//! region that carries `moor:stack = <stack>`, with its tags, for ECR,
//! EC2, Elastic Load Balancing and ECS alike (task definitions included).
//! IAM is global and not in that API: roles come with their tags in
//! `GetAccountAuthorizationDetails`; a customer managed policy's tags need
//! `GetPolicy`, asked only for policies the caller does not know that a
//! role of the stack uses or that are named after the stack. ECR's own
//! listing is read too, for repositories named after the stack, and ECR
//! Public's (in us-east-1, outside the region's tagging API). The Elastic
//! IPs tagged with the stack that no NAT gateway uses (a gateway's address
//! left behind) come from EC2's own listing.
//!
//! The tagging API also lists task definition revisions that are no longer
//! ACTIVE; revisions the caller does not know are checked against one
//! `ListTaskDefinitions(ACTIVE)` per family, after the listing (a second
//! round, only when there are such revisions: right after moor retired one,
//! or when revisions were deregistered and not deleted).
//!
//! The tagging API is eventually consistent (a resource deleted a moment
//! ago may still be listed), so the caller reads what it finds by id before
//! planning anything for it.

use super::kinds::arn_kinds;
use super::{sdk_err, AwsProvider};
use crate::model::common::Tags;
use crate::model::Kind;
use crate::provider::{Found, ProviderError, TAG_RESOURCE, TAG_STACK};
use aws_sdk_iam::types::EntityType;
use std::collections::HashSet;

/// The largest page of IAM's listings.
const LIST_PAGE: i32 = 1000;

/// The ARN's service and resource part (after the fifth colon).
fn arn_parts(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    (parts.len() == 6 && parts[0] == "arn").then(|| (parts[2], parts[5]))
}

/// The kind and the id moor uses for a resource of the tagging API's
/// answer, from its ARN; `None` for what moor does not make (a listener
/// rule, a task set). Each kind's provider says how its ARNs look
/// ([`super::kinds::AwsKind::ARN_TYPE`]).
pub(super) fn kind_of_arn(arn: &str) -> Option<(Kind, String)> {
    let (service, resource) = arn_parts(arn)?;
    // `type/...`, or `type:...` (as CloudWatch Logs writes its ARNs).
    let rtype = resource.split(['/', ':']).next().unwrap_or(resource);
    let k = arn_kinds().find(|k| k.arn_type.service == service && k.arn_type.resource == rtype)?;
    let id = (k.id)(arn, resource)?;
    (!id.is_empty()).then_some((k.kind, id))
}

/// The physical name in an ARN, for the kinds that have one.
fn name_of(kind: Kind, arn: &str) -> Option<String> {
    let (_, resource) = arn_parts(arn)?;
    (arn_kinds().find(|k| k.kind == kind)?.name)(resource)
}

/// A found resource, when it carries the stack's tag and a logical name.
fn found(stack: &str, kind: Kind, id: String, name: Option<String>, tags: Tags) -> Option<Found> {
    let logical = tags.get(TAG_RESOURCE).filter(|l| !l.is_empty())?.clone();
    let f = Found { kind, logical, id, name, tags };
    f.of_stack(stack).then_some(f)
}

/// The regional resources tagged with the stack.
pub(super) async fn tagged(p: &AwsProvider, stack: &str) -> Result<Vec<Found>, ProviderError> {
    let filter = aws_sdk_resourcegroupstagging::types::TagFilter::builder().key(TAG_STACK).values(stack).build();
    let mut pages = p.tagging.get_resources().tag_filters(filter).resources_per_page(100).into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_err("tag:GetResources", e))?;
        for m in page.resource_tag_mapping_list() {
            let Some(arn) = m.resource_arn() else { continue };
            let Some((kind, id)) = kind_of_arn(arn) else { continue };
            let tags: Tags = m.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
            out.extend(found(stack, kind, id, name_of(kind, arn), tags));
        }
    }
    Ok(out)
}

/// Leaves out task definition revisions the caller does not know that are
/// no longer ACTIVE: the tagging API lists INACTIVE revisions (deregistered,
/// not deleted) for good, and reading each on every plan would cost a call
/// per revision. One ACTIVE listing per family of such revisions instead.
async fn active_revisions(
    p: &AwsProvider,
    found: Vec<Found>,
    known: &HashSet<&str>,
) -> Result<Vec<Found>, ProviderError> {
    let unknown = |f: &Found| f.kind == Kind::EcsTaskDefinition && !known.contains(f.id.as_str());
    let mut families: Vec<String> = found.iter().filter(|f| unknown(f)).filter_map(|f| f.name.clone()).collect();
    families.sort();
    families.dedup();
    let lists = futures::future::join_all(families.iter().map(|family| super::ecs::active_revisions(p, family))).await;
    let mut active: HashSet<String> = HashSet::new();
    for l in lists {
        active.extend(l?);
    }
    Ok(found.into_iter().filter(|f| !unknown(f) || active.contains(&f.id)).collect())
}

/// Repositories named under the stack's prefix that the caller does not
/// know, with their tags: what the tagging API already covers on AWS, read
/// from ECR's own listing too because that listing is never behind a
/// create (and the emulator's tagging API has no ECR).
async fn repositories(p: &AwsProvider, stack: &str, known: &HashSet<&str>) -> Result<Vec<Found>, ProviderError> {
    let prefix = format!("{stack}/");
    let mut pages = p.ecr.describe_repositories().max_results(LIST_PAGE).into_paginator().send();
    let mut asked = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_err("ecr:DescribeRepositories", e))?;
        for r in page.repositories() {
            let (Some(arn), Some(name)) = (r.repository_arn(), r.repository_name()) else { continue };
            if name.starts_with(&prefix) && !known.contains(arn) && !known.contains(name) {
                asked.push((arn.to_string(), name.to_string()));
            }
        }
    }
    let got =
        futures::future::join_all(asked.iter().map(|(arn, _)| p.ecr.list_tags_for_resource().resource_arn(arn).send()))
            .await;
    let mut out = Vec::new();
    for ((arn, name), r) in asked.into_iter().zip(got) {
        let tags = match r {
            Ok(out) => out.tags.unwrap_or_default(),
            Err(e) => {
                let e = sdk_err("ecr:ListTagsForResource", e);
                if e.kind == crate::provider::ErrorKind::NotFound {
                    continue;
                }
                return Err(e);
            }
        };
        let tags: Tags = tags.iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        out.extend(found(stack, Kind::EcrRepository, arn, Some(name), tags));
    }
    Ok(out)
}

/// Elastic IPs moor allocated for the stack's NAT gateways that no gateway
/// uses any more (the tagging API lists only some of them): each as its
/// gateway's leftover, by allocation id, which deleting releases.
async fn nat_addresses(p: &AwsProvider, stack: &str, known: &HashSet<&str>) -> Result<Vec<Found>, ProviderError> {
    let spare = super::vpc::spare_addresses(p, stack).await?;
    Ok(spare
        .into_iter()
        .filter(|(a, _)| !known.contains(a.as_str()))
        .filter_map(|(a, tags)| found(stack, Kind::Ec2NatGateway, a, None, tags))
        .collect())
}

/// Whether ECR Public answers where this provider sends its calls: AWS's
/// own endpoints, or a custom endpoint given for ECR Public itself
/// (`AWS_ENDPOINT_URL_ECR_PUBLIC`); an endpoint for every service (an
/// emulator) does not serve it.
fn public_registry_served(p: &AwsProvider) -> bool {
    p.endpoint.is_none() || std::env::var_os("AWS_ENDPOINT_URL_ECR_PUBLIC").is_some_and(|v| !v.is_empty())
}

/// Public repositories (ECR Public, in us-east-1 whatever the stack's
/// region, so not in the region's tagging API) named under the stack's
/// prefix that the caller does not know, with their tags. Credentials
/// that may not list ECR Public find none.
async fn public_repositories(p: &AwsProvider, stack: &str, known: &HashSet<&str>) -> Result<Vec<Found>, ProviderError> {
    if !public_registry_served(p) {
        return Ok(Vec::new());
    }
    let prefix = format!("{stack}/");
    let mut pages = p.ecr_public.describe_repositories().max_results(LIST_PAGE).into_paginator().send();
    let mut asked = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page.map_err(|e| sdk_err("ecr-public:DescribeRepositories", e)) {
            Ok(page) => page,
            Err(e) if e.code.as_deref() == Some("AccessDeniedException") => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        for r in page.repositories() {
            let (Some(arn), Some(name)) = (r.repository_arn(), r.repository_name()) else { continue };
            if name.starts_with(&prefix) && !known.contains(arn) && !known.contains(name) {
                asked.push((arn.to_string(), name.to_string()));
            }
        }
    }
    let got = futures::future::join_all(
        asked.iter().map(|(arn, _)| p.ecr_public.list_tags_for_resource().resource_arn(arn).send()),
    )
    .await;
    let mut out = Vec::new();
    for ((arn, name), r) in asked.into_iter().zip(got) {
        let tags = match r {
            Ok(out) => out.tags.unwrap_or_default(),
            Err(e) => {
                let e = sdk_err("ecr-public:ListTagsForResource", e);
                if e.kind == crate::provider::ErrorKind::NotFound {
                    continue;
                }
                return Err(e);
            }
        };
        let tags: Tags = super::tag_map(tags.iter().map(|t| (t.key(), t.value())));
        out.extend(found(stack, Kind::EcrPublicRepository, arn, Some(name), tags));
    }
    Ok(out)
}

/// The stack's roles, and its customer managed policies.
async fn iam(p: &AwsProvider, stack: &str, known: &HashSet<&str>) -> Result<Vec<Found>, ProviderError> {
    let mut pages = p
        .iam
        .get_account_authorization_details()
        .filter(EntityType::Role)
        .filter(EntityType::LocalManagedPolicy)
        .max_items(LIST_PAGE)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    let mut used: HashSet<String> = HashSet::new();
    let mut policies = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_err("iam:GetAccountAuthorizationDetails", e))?;
        for r in page.role_detail_list() {
            let Some(arn) = r.arn() else { continue };
            let tags: Tags = r.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
            let name = r.role_name().map(str::to_string).or_else(|| name_of(Kind::IamRole, arn));
            if let Some(f) = found(stack, Kind::IamRole, arn.to_string(), name, tags) {
                used.extend(r.attached_managed_policies().iter().filter_map(|a| a.policy_arn().map(str::to_string)));
                out.push(f);
            }
        }
        for pol in page.policies() {
            if let Some(arn) = pol.arn() {
                let name = pol.policy_name().map(str::to_string).or_else(|| name_of(Kind::IamPolicy, arn));
                policies.push((arn.to_string(), name));
            }
        }
    }
    // A policy's tags are not in the listing: GetPolicy for those that may
    // be the stack's and that the caller does not know already.
    let prefix = format!("{stack}-");
    let asked: Vec<_> = policies
        .into_iter()
        .filter(|(arn, name)| {
            !known.contains(arn.as_str())
                && !name.as_deref().is_some_and(|n| known.contains(n))
                && (used.contains(arn) || name.as_deref().is_some_and(|n| n.starts_with(&prefix)))
        })
        .collect();
    let got = futures::future::join_all(asked.iter().map(|(arn, _)| p.iam.get_policy().policy_arn(arn).send())).await;
    for ((arn, name), r) in asked.into_iter().zip(got) {
        let pol = match r {
            Ok(out) => out.policy,
            Err(e) => {
                let e = sdk_err("iam:GetPolicy", e);
                if e.kind == crate::provider::ErrorKind::NotFound {
                    continue;
                }
                return Err(e);
            }
        };
        let Some(pol) = pol else { continue };
        let tags: Tags = pol.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        out.extend(found(stack, Kind::IamPolicy, arn, name, tags));
    }
    Ok(out)
}

/// Everything tagged with the stack: the region's and IAM's, read at the
/// same time.
pub(super) async fn discover(p: &AwsProvider, stack: &str, known: &[String]) -> Result<Vec<Found>, ProviderError> {
    let known: HashSet<&str> = known.iter().map(String::as_str).collect();
    let (regional, repos, global, addresses, public) = futures::join!(
        tagged(p, stack),
        repositories(p, stack, &known),
        iam(p, stack, &known),
        nat_addresses(p, stack, &known),
        public_repositories(p, stack, &known)
    );
    let mut out = active_revisions(p, regional?, &known).await?;
    out.extend(repos?);
    out.extend(global?);
    out.extend(addresses?);
    out.extend(public?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_map_to_kinds_ids_and_names() {
        let cases = [
            ("arn:aws:ecr:us-east-1:123:repository/s/app", Kind::EcrRepository, None, Some("s/app")),
            ("arn:aws:ec2:us-east-1:123:security-group/sg-0abc", Kind::Ec2SecurityGroup, Some("sg-0abc"), None),
            (
                "arn:aws:elasticloadbalancing:us-east-1:123:loadbalancer/app/s-lb/50dc6c495c0c9188",
                Kind::Elbv2LoadBalancer,
                None,
                Some("s-lb"),
            ),
            (
                "arn:aws:elasticloadbalancing:us-east-1:123:targetgroup/s-tg/73e2d6bc24d8a067",
                Kind::Elbv2TargetGroup,
                None,
                Some("s-tg"),
            ),
            (
                "arn:aws:elasticloadbalancing:us-east-1:123:listener/app/s-lb/50dc6c495c0c9188/f2f7dc8efc522ab2",
                Kind::Elbv2Listener,
                None,
                None,
            ),
            (
                "arn:aws:elasticloadbalancing:us-east-1:123:listener-rule/app/s-lb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee",
                Kind::Elbv2ListenerRule,
                None,
                None,
            ),
            ("arn:aws:ecs:us-east-1:123:cluster/s-c", Kind::EcsCluster, None, Some("s-c")),
            ("arn:aws:ecs:us-east-1:123:service/s-c/s-web", Kind::EcsService, None, Some("s-web")),
            ("arn:aws:ecs:us-east-1:123:service/s-web", Kind::EcsService, None, Some("s-web")),
            ("arn:aws:ecs:us-east-1:123:task-definition/s-web:7", Kind::EcsTaskDefinition, None, Some("s-web")),
            ("arn:aws:iam::123:role/svc/s-exec", Kind::IamRole, None, Some("s-exec")),
            ("arn:aws:logs:us-east-1:123:log-group:/ecs/s/app", Kind::LogsLogGroup, None, Some("/ecs/s/app")),
        ];
        for (arn, kind, id, name) in cases {
            let (k, got) = kind_of_arn(arn).unwrap_or_else(|| panic!("{arn}"));
            assert_eq!(k, kind, "{arn}");
            assert_eq!(got, id.unwrap_or(arn), "{arn}");
            assert_eq!(name_of(k, arn).as_deref(), name, "{arn}");
        }
        for other in [
            "arn:aws:elasticloadbalancing:us-east-1:123:listener-certificate/app/s-lb/1/2",
            "arn:aws:ec2:us-east-1:123:instance/i-1",
            "arn:aws:ecs:us-east-1:123:task/s-c/abc",
            "not an arn",
            "arn:aws:ec2:us-east-1:123:security-group/",
        ] {
            assert!(kind_of_arn(other).is_none(), "{other}");
        }
    }

    #[test]
    fn only_the_stacks_tagged_resources_are_found() {
        let tags =
            |pairs: &[(&str, &str)]| -> Tags { pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
        let id = || "arn:aws:ecs:us-east-1:123:cluster/c".to_string();
        assert!(found("s", Kind::EcsCluster, id(), None, tags(&[(TAG_STACK, "s"), (TAG_RESOURCE, "c")])).is_some());
        assert!(found("s", Kind::EcsCluster, id(), None, tags(&[(TAG_STACK, "other"), (TAG_RESOURCE, "c")])).is_none());
        assert!(found("s", Kind::EcsCluster, id(), None, tags(&[(TAG_STACK, "s")])).is_none());
        assert!(found("s", Kind::EcsCluster, id(), None, tags(&[(TAG_STACK, "s"), (TAG_RESOURCE, "")])).is_none());
    }
}
