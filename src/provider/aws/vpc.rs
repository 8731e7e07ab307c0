//! A VPC of the stack's own: `ec2/vpc`, `ec2/subnet`,
//! `ec2/internet_gateway` and `ec2/route_table`.
//!
//! Each is known by the id EC2 gives it (`vpc-…`, `subnet-…`, `igw-…`,
//! `rtb-…`), never used twice. Reads are batched: one describe per kind
//! for every id asked (an id filter, which leaves out what no longer
//! exists instead of failing the call), the VPCs' DNS attributes only where
//! the file sets them, and the VPCs' default security groups, all at the
//! same time. The `Name` tag is the resource's `name` field, not one of
//! its tags.
//!
//! Deletes are made for AWS, where network interfaces of load balancers,
//! tasks and NAT gateways linger for minutes after their owner is gone: a
//! subnet or VPC delete and an internet gateway's detach that AWS answers
//! with DependencyViolation are tried again until the wait timeout, and
//! the error then names what still blocks them. A route table gives up its
//! subnets before it is deleted; a gateway is detached before it is deleted.
//!
//! A VPC and a NAT gateway have no name EC2 keeps unique, so a create whose
//! answer was lost (the request reached AWS, the answer did not come back)
//! and was sent again would make a second one. Their creates are sent
//! without the SDK's retries; when no answer comes back, the one the
//! attempt made is looked for by the tags the create carried, and the
//! create is sent again only when there is none ([`create_unnamed`]). A NAT
//! gateway's create also carries a client token, the same for every
//! attempt of one create, which makes AWS answer a repeat with the gateway
//! the first attempt made.

use super::ec2::{ec2_describe, ec2_owned};
use super::kinds::{ArnType, AwsKind, AwsManaged, Typed};
use super::permissions::{Grant, Scope};
use super::{found, partition, retry_for, sdk_err, tag_map, unresolved, wait, AwsProvider};
use crate::kinds::ec2::{
    Connectivity, InternetGateway as IgwSpec, NatGateway as NatSpec, RouteTable as RtSpec, Subnet as SubnetSpec,
    Vpc as VpcSpec,
};
use crate::model::common::{StrList, Tags};
use crate::provider::{Attrs, Deletion, ErrorKind, Fields, Live, ProviderError, Target};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, ConnectivityType, DomainType, Filter, InternetGateway, NatGateway, ResourceType, RouteTable,
    Subnet, Tag, TagSpecification, Vpc, VpcAttributeName,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// At most this many filter values in one call (EC2's limit).
const FILTER_VALUES: usize = 200;

/// How long calls on a resource just made may answer NotFound (EC2's
/// reads and writes lag behind its creates by seconds).
const CREATE_LAG: Duration = Duration::from_secs(30);

const NAME_TAG: &str = "Name";

fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder().name(name).set_values(Some(values.iter().map(|v| v.to_string()).collect())).build()
}

fn ec2_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// Tags as moor compares them (the `Name` tag is the `name` field), and
/// the `Name` tag.
fn split_tags(tags: &[Tag]) -> (Tags, Option<String>) {
    let mut all = tag_map(tags.iter().map(|t| (t.key(), t.value())));
    let name = all.remove(NAME_TAG);
    (all, name)
}

/// The `Name` tag a resource gets: its `name`, or `<stack>-<logical>`.
fn name_tag(t: &Target, name: Option<&str>) -> String {
    name.map_or_else(|| format!("{}-{}", t.stack, t.logical), str::to_string)
}

/// Every tag it must carry, `Name` included.
fn all_tags(t: &Target, name: Option<&str>) -> Tags {
    let mut tags = t.tags.clone();
    tags.insert(NAME_TAG.into(), name_tag(t, name));
    tags
}

fn tag_spec(rt: ResourceType, tags: &Tags) -> TagSpecification {
    TagSpecification::builder().resource_type(rt).set_tags(Some(ec2_tags(tags))).build()
}

fn arn(p: &AwsProvider, owner: Option<&str>, rtype: &str, id: &str) -> String {
    format!("arn:{}:ec2:{}:{}:{rtype}/{id}", partition(&p.region), p.region, owner.unwrap_or_default())
}

fn no_id(op: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Rejected, op, "AWS returned no id")
}

fn not_found(e: &ProviderError) -> bool {
    e.kind == ErrorKind::NotFound
}

/// Whether a create's error may hide an object made all the same: no
/// answer came back (the connection dropped or timed out after the request
/// was sent, or an answer that is not AWS's), or AWS failed inside.
/// Throttling is a refusal: nothing was made.
fn answer_lost(e: &ProviderError) -> bool {
    match e.kind {
        ErrorKind::Setup | ErrorKind::Rejected => e.code.is_none(),
        ErrorKind::Transient => {
            !e.code.as_deref().is_some_and(|c| c.contains("Throttl") || c.ends_with("LimitExceeded"))
        }
        _ => false,
    }
}

/// How long a VPC or NAT gateway made by a create whose answer was lost
/// may take to show in its describe (EC2's reads lag behind its creates).
const LOST_LOOKUP: Duration = Duration::from_secs(10);

/// How many times a create whose answer was lost, and whose object is not
/// found, is sent again.
const LOST_RESENDS: usize = 2;

/// What a create of [`create_unnamed`] ended with: AWS's answer, or the
/// object an attempt whose answer was lost made.
enum Made<A, F> {
    Answered(A),
    Found(F),
}

/// Sends `create` (which must turn off the SDK's retries), and when no
/// answer comes back looks for what the attempt made with `find` (by the
/// tags the create carried, for up to [`LOST_LOOKUP`]) before sending it
/// again, at most [`LOST_RESENDS`] times.
async fn create_unnamed<A, F, C, CF, L, LF>(create: C, find: L) -> Result<Made<A, F>, ProviderError>
where
    C: Fn() -> CF,
    CF: std::future::Future<Output = Result<A, ProviderError>>,
    L: Fn() -> LF,
    LF: std::future::Future<Output = Result<Option<F>, ProviderError>>,
{
    let mut resends = 0;
    loop {
        let e = match create().await {
            Ok(out) => return Ok(Made::Answered(out)),
            Err(e) if answer_lost(&e) && resends < LOST_RESENDS => e,
            Err(e) => return Err(e),
        };
        crate::progress::status(format!("{} had no answer; looking for what it made", e.operation));
        let missing = || ProviderError::new(ErrorKind::NotFound, e.operation.clone(), "nothing made");
        let found = retry_for(LOST_LOOKUP, || async { find().await?.ok_or_else(missing) }, not_found).await;
        match found {
            Ok(f) => return Ok(Made::Found(f)),
            Err(f) if not_found(&f) => {}
            Err(f) => return Err(f),
        }
        if crate::interrupt::is_set() {
            return Err(e);
        }
        resends += 1;
    }
}

/// Filters for what carries the ownership tags of `t`'s resource.
fn owned_filters(t: &Target) -> Vec<Filter> {
    [crate::provider::TAG_STACK, crate::provider::TAG_RESOURCE]
        .into_iter()
        .filter_map(|k| Some(filter(&format!("tag:{k}"), &[t.tags.get(k)?.as_str()])))
        .collect()
}

/// Whether EC2 tags `tags` carry the ownership tags of `t`'s resource.
fn owned(t: &Target, tags: &[Tag]) -> bool {
    let (tags, _) = split_tags(tags);
    [crate::provider::TAG_STACK, crate::provider::TAG_RESOURCE].iter().all(|k| tags.get(*k) == t.tags.get(*k))
}

/// A NAT gateway's client token: the same for every attempt of one create
/// (so AWS answers a repeat with the gateway the first made), another for
/// each run and resource. At most 64 ASCII characters.
fn nat_client_token(t: &Target) -> String {
    use std::hash::{Hash, Hasher};
    static RUN: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    let run = RUN.get_or_init(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        nanos ^ u128::from(std::process::id())
    });
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&t.stack, &t.logical, t.id.as_deref()).hash(&mut h);
    format!("moor-{run:x}-{:016x}", h.finish())
}

/// A call's configuration without the SDK's retries: for creates that a
/// retry after a lost answer would repeat ([`create_unnamed`]).
fn no_retries() -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::config::Builder::default().retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
}

fn unresolved_err(op: &str, field: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Rejected, op, format!("`{field}` still holds a reference that is not known"))
}

/// Brings the tags of `id` (with `Name`) from `have` to `want`.
async fn retag(p: &AwsProvider, id: &str, want: &Tags, have: &Tags) -> Result<(), ProviderError> {
    super::retag(
        want,
        have,
        |stale| async move {
            let stale: Vec<Tag> = stale.iter().map(|k| Tag::builder().key(k).build()).collect();
            let r = p.ec2.delete_tags().resources(id).set_tags(Some(stale)).send().await;
            r.map(|_| ()).map_err(|e| sdk_err("ec2:DeleteTags", e))
        },
        |new| async move {
            let r = p.ec2.create_tags().resources(id).set_tags(Some(ec2_tags(&new))).send().await;
            r.map(|_| ()).map_err(|e| sdk_err("ec2:CreateTags", e))
        },
    )
    .await
}

/// The tags it has, `Name` included, from what a read reported.
fn live_all_tags(live: &Live) -> Tags {
    let mut have = live.tags.clone();
    if let Some(n) = live.fields.get("name").and_then(Value::as_str) {
        have.insert(NAME_TAG.into(), n.to_string());
    }
    have
}

/// Tags an existing resource as the stack's (it keeps its own tags, and its
/// `Name` unless the file gives one).
async fn adopt_tags(p: &AwsProvider, t: &Target, live: &Live, name: Option<&str>) -> Result<(), ProviderError> {
    let have = live_all_tags(live);
    let mut want = have.clone();
    want.extend(t.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(n) = name {
        want.insert(NAME_TAG.into(), n.to_string());
    }
    retag(p, &live.id, &want, &have).await
}

// ---- reading -----------------------------------------------------------------

/// What this module's batched read takes for one target.
pub(super) enum Read<'a> {
    /// Not made yet, or known only by a reference not resolved yet.
    Nothing,
    Vpc(&'a str, Option<&'a VpcSpec>),
    Subnet(&'a str),
    Igw(&'a str),
    RouteTable(&'a str),
    Nat(&'a str),
}

fn read_of<'a>(t: &'a Target, make: impl FnOnce(&'a str) -> Read<'a>) -> super::kinds::Read<'a> {
    super::kinds::Read::Vpc(match t.id.as_deref() {
        Some(id) if !unresolved(id) => make(id),
        _ => Read::Nothing,
    })
}

async fn read_one(p: &AwsProvider, r: Read<'_>) -> Result<Option<Live>, ProviderError> {
    read_many(p, &[r]).await.pop().unwrap_or(Ok(None))
}

/// All pages of one describe, by ids in chunks of the filter limit.
macro_rules! describe_by {
    ($p:expr, $ids:expr, $call:ident, $filter:literal, $items:ident, $op:literal) => {{
        let calls = $ids.chunks(FILTER_VALUES).map(|c| async move {
            let pages = $p
                .ec2
                .$call()
                .filters(filter($filter, c))
                .into_paginator()
                .send()
                .try_collect()
                .await
                .map_err(|e| sdk_err($op, e))?;
            Ok::<_, ProviderError>(pages.into_iter().flat_map(|o| o.$items.unwrap_or_default()).collect::<Vec<_>>())
        });
        async move {
            if $ids.is_empty() {
                return Ok(Vec::new());
            }
            Ok(futures::future::try_join_all(calls).await?.into_iter().flatten().collect::<Vec<_>>())
        }
    }};
}

async fn vpcs(p: &AwsProvider, ids: &[&str]) -> Result<Vec<Vpc>, ProviderError> {
    describe_by!(p, ids, describe_vpcs, "vpc-id", vpcs, "ec2:DescribeVpcs").await
}

async fn subnets(p: &AwsProvider, ids: &[&str]) -> Result<Vec<Subnet>, ProviderError> {
    describe_by!(p, ids, describe_subnets, "subnet-id", subnets, "ec2:DescribeSubnets").await
}

async fn gateways(p: &AwsProvider, ids: &[&str]) -> Result<Vec<InternetGateway>, ProviderError> {
    describe_by!(
        p,
        ids,
        describe_internet_gateways,
        "internet-gateway-id",
        internet_gateways,
        "ec2:DescribeInternetGateways"
    )
    .await
}

/// NAT gateways by id (DescribeNatGateways names its filter `Filter`).
async fn nat_gateways(p: &AwsProvider, ids: &[&str]) -> Result<Vec<NatGateway>, ProviderError> {
    let calls = ids.chunks(FILTER_VALUES).map(|c| async move {
        let pages = p
            .ec2
            .describe_nat_gateways()
            .filter(filter("nat-gateway-id", c))
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_err("ec2:DescribeNatGateways", e))?;
        Ok::<_, ProviderError>(pages.into_iter().flat_map(|o| o.nat_gateways.unwrap_or_default()).collect::<Vec<_>>())
    });
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(futures::future::try_join_all(calls).await?.into_iter().flatten().collect())
}

async fn route_tables(p: &AwsProvider, ids: &[&str]) -> Result<Vec<RouteTable>, ProviderError> {
    describe_by!(p, ids, describe_route_tables, "route-table-id", route_tables, "ec2:DescribeRouteTables").await
}

/// The default security group of each VPC, by VPC id.
async fn default_groups(p: &AwsProvider, vpcs: &[&str]) -> Result<BTreeMap<String, String>, ProviderError> {
    let mut out = BTreeMap::new();
    for c in vpcs.chunks(FILTER_VALUES - 1) {
        let pages = p
            .ec2
            .describe_security_groups()
            .filters(filter("vpc-id", c))
            .filters(filter("group-name", &["default"]))
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_err("ec2:DescribeSecurityGroups", e))?;
        for g in pages.iter().flat_map(|o| o.security_groups()) {
            if let (Some(v), Some(id)) = (g.vpc_id(), g.group_id()) {
                out.insert(v.to_string(), id.to_string());
            }
        }
    }
    Ok(out)
}

/// A VPC's DNS settings, `(support, hostnames)`, as AWS answers them.
type Dns = (Option<bool>, Option<bool>);

/// The VPC's DNS settings.
async fn dns_of(p: &AwsProvider, id: &str) -> Result<Dns, ProviderError> {
    let ask = |a: VpcAttributeName| async move {
        p.ec2
            .describe_vpc_attribute()
            .vpc_id(id)
            .attribute(a)
            .send()
            .await
            .map_err(|e| sdk_err("ec2:DescribeVpcAttribute", e))
    };
    let (s, h) = futures::join!(ask(VpcAttributeName::EnableDnsSupport), ask(VpcAttributeName::EnableDnsHostnames));
    Ok((s?.enable_dns_support().and_then(|v| v.value()), h?.enable_dns_hostnames().and_then(|v| v.value())))
}

/// Reads every target at once: one describe per kind, the DNS attributes
/// of the VPCs whose file sets them, and the VPCs' default groups.
pub(super) async fn read_many(p: &AwsProvider, reads: &[Read<'_>]) -> Vec<Result<Option<Live>, ProviderError>> {
    let mut ids: [BTreeSet<&str>; 5] = Default::default();
    let mut dns: BTreeSet<&str> = BTreeSet::new();
    for r in reads {
        match r {
            Read::Nothing => {}
            Read::Vpc(id, spec) => {
                ids[0].insert(id);
                if spec.is_some_and(|s| s.enable_dns_hostnames.is_some() || s.enable_dns_support.is_some()) {
                    dns.insert(id);
                }
            }
            Read::Subnet(id) => {
                ids[1].insert(id);
            }
            Read::Igw(id) => {
                ids[2].insert(id);
            }
            Read::RouteTable(id) => {
                ids[3].insert(id);
            }
            Read::Nat(id) => {
                ids[4].insert(id);
            }
        }
    }
    let [v, s, g, r, n]: [Vec<&str>; 5] = ids.map(|set| set.into_iter().collect());
    let dns: Vec<&str> = dns.into_iter().collect();
    let (vs, ss, gs, rs, ns, groups, dns_got) = futures::join!(
        vpcs(p, &v),
        subnets(p, &s),
        gateways(p, &g),
        route_tables(p, &r),
        nat_gateways(p, &n),
        async {
            if v.is_empty() {
                Ok(BTreeMap::new())
            } else {
                default_groups(p, &v).await
            }
        },
        futures::future::join_all(dns.iter().map(|id| dns_of(p, id)))
    );
    let dns: BTreeMap<&str, Result<Dns, ProviderError>> = dns.into_iter().zip(dns_got).collect();
    reads
        .iter()
        .map(|rd| match rd {
            Read::Nothing => Ok(None),
            Read::Vpc(id, _) => {
                let all = vs.as_ref().map_err(Clone::clone)?;
                let Some(vpc) = all.iter().find(|x| x.vpc_id() == Some(id)) else { return Ok(None) };
                let sg = groups.as_ref().map_err(Clone::clone)?.get(*id).cloned();
                let dns = match dns.get(id) {
                    Some(Ok(d)) => Some(*d),
                    Some(Err(e)) => return Err(e.clone()),
                    None => None,
                };
                Ok(Some(vpc_live(p, vpc, sg, dns)))
            }
            Read::Subnet(id) => {
                let all = ss.as_ref().map_err(Clone::clone)?;
                Ok(all.iter().find(|x| x.subnet_id() == Some(id)).map(|x| subnet_live(p, x)))
            }
            Read::Igw(id) => {
                let all = gs.as_ref().map_err(Clone::clone)?;
                Ok(all.iter().find(|x| x.internet_gateway_id() == Some(id)).map(|x| igw_live(p, x)))
            }
            Read::RouteTable(id) => {
                let all = rs.as_ref().map_err(Clone::clone)?;
                Ok(all.iter().find(|x| x.route_table_id() == Some(id)).map(|x| rt_live(p, x)))
            }
            Read::Nat(id) => {
                let all = ns.as_ref().map_err(Clone::clone)?;
                Ok(all.iter().find(|x| x.nat_gateway_id() == Some(id)).filter(|x| !nat_gone(x)).map(nat_live))
            }
        })
        .collect()
}

// ---- ec2/vpc -------------------------------------------------------------------

fn vpc_live(p: &AwsProvider, v: &Vpc, default_sg: Option<String>, dns: Option<Dns>) -> Live {
    let id = v.vpc_id().unwrap_or_default().to_string();
    let cidr = v.cidr_block().unwrap_or_default();
    let (tags, name) = split_tags(v.tags());
    let mut f = Fields::new();
    f.insert("cidr".into(), json!(cidr));
    f.insert("name".into(), json!(name));
    if let Some((support, hostnames)) = dns {
        // AWS's defaults where an endpoint leaves one out.
        f.insert("enable_dns_support".into(), json!(support.unwrap_or(true)));
        f.insert("enable_dns_hostnames".into(), json!(hostnames.unwrap_or(false)));
    }
    let mut attrs = Attrs::from([
        ("id".to_string(), json!(id)),
        ("vpc_id".to_string(), json!(id)),
        ("cidr".to_string(), json!(cidr)),
        ("cidr_block".to_string(), json!(cidr)),
        ("arn".to_string(), json!(arn(p, v.owner_id(), "vpc", &id))),
    ]);
    if let Some(sg) = default_sg {
        attrs.insert("default_security_group_id".into(), json!(sg));
    }
    Live { id, fields: f, attrs, tags, uid: None }
}

#[async_trait]
impl AwsKind for VpcSpec {
    fn permissions(_t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let mut g = vec![ec2_describe(&[
            "ec2:DescribeVpcs",
            "ec2:DescribeVpcAttribute",
            "ec2:DescribeSubnets",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeNetworkInterfaces",
        ])];
        g.extend(ec2_owned(at, "vpc", &[], &[], &["ec2:CreateVpc"], &["ec2:ModifyVpcAttribute"], &["ec2:DeleteVpc"]));
        g
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "ec2", resource: "vpc" });

    fn id_of_arn(_arn: &str, resource: &str) -> Option<String> {
        resource.strip_prefix("vpc/").map(str::to_string)
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        let spec = t.spec;
        read_of(t.target, |id| Read::Vpc(id, Some(spec)))
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        read_one(p, if unresolved(&d.id) { Read::Nothing } else { Read::Vpc(&d.id, None) }).await
    }
}

async fn set_dns(
    p: &AwsProvider,
    id: &str,
    support: Option<bool>,
    hostnames: Option<bool>,
) -> Result<(), ProviderError> {
    let b = |v: bool| AttributeBooleanValue::builder().value(v).build();
    // One attribute per call; support before hostnames, which needs it
    // (and hostnames off before support off).
    let calls: Vec<(bool, bool)> = match (support, hostnames) {
        (Some(false), Some(h)) => vec![(false, h), (true, false)],
        _ => support.map(|s| (true, s)).into_iter().chain(hostnames.map(|h| (false, h))).collect(),
    };
    for (is_support, v) in calls {
        let call = || async {
            let c = p.ec2.modify_vpc_attribute().vpc_id(id);
            let c = if is_support { c.enable_dns_support(b(v)) } else { c.enable_dns_hostnames(b(v)) };
            c.send().await.map(|_| ()).map_err(|e| sdk_err("ec2:ModifyVpcAttribute", e))
        };
        retry_for(CREATE_LAG, call, not_found).await?;
    }
    Ok(())
}

/// Reads a VPC that must exist (just made or changed), waiting for it to
/// be visible and available.
async fn vpc_back(p: &AwsProvider, id: &str, spec: &VpcSpec) -> Result<Live, ProviderError> {
    let dns = spec.enable_dns_hostnames.is_some() || spec.enable_dns_support.is_some();
    let vpc = wait(&p.opts, p.opts.wait_timeout, "ec2:DescribeVpcs", "the VPC to be available", || async {
        let v = vpcs(p, &[id]).await?.into_iter().next();
        Ok(v.filter(|v| v.state().is_none_or(|s| s.as_str() == "available")))
    })
    .await?;
    let ids = [id];
    let (sg, dns) = futures::join!(default_groups(p, &ids), async {
        if dns {
            dns_of(p, id).await.map(Some)
        } else {
            Ok(None)
        }
    });
    Ok(vpc_live(p, &vpc, sg?.remove(id), dns?))
}

#[async_trait]
impl AwsManaged for VpcSpec {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        let spec = t.spec;
        let tags = all_tags(&t, spec.name.as_deref());
        let create = || async {
            p.ec2
                .create_vpc()
                .cidr_block(&spec.cidr)
                .tag_specifications(tag_spec(ResourceType::Vpc, &tags))
                .customize()
                .config_override(no_retries())
                .send()
                .await
                .map_err(|e| sdk_err("ec2:CreateVpc", e))
        };
        // The one an attempt made: this resource's tags and CIDR, not the
        // one a replacement replaces.
        let find = || async {
            let out = p
                .ec2
                .describe_vpcs()
                .set_filters(Some(owned_filters(&t)))
                .send()
                .await
                .map_err(|e| sdk_err("ec2:DescribeVpcs", e))?;
            Ok(out
                .vpcs()
                .iter()
                .find(|v| {
                    owned(&t, v.tags())
                        && v.cidr_block() == Some(spec.cidr.as_str())
                        && v.vpc_id() != t.id.as_deref()
                        && v.state().is_none_or(|s| s.as_str() != "deleted")
                })
                .cloned())
        };
        let vpc = match create_unnamed(create, find).await? {
            Made::Answered(out) => out.vpc().cloned(),
            Made::Found(v) => Some(v),
        };
        let id = vpc.as_ref().and_then(|v| v.vpc_id()).ok_or_else(|| no_id("ec2:CreateVpc"))?.to_string();
        let made = |e: ProviderError| {
            let v = vpc.clone().unwrap_or_else(|| Vpc::builder().vpc_id(&id).build());
            e.with_made(vpc_live(p, &v, None, None))
        };
        set_dns(p, &id, spec.enable_dns_support, spec.enable_dns_hostnames).await.map_err(made)?;
        vpc_back(p, &id, spec).await.map_err(made)
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        let spec = t.spec;
        let has = |f: &str| changed.iter().any(|c| c == f);
        let dns = |f: &str, v: Option<bool>| if has(f) { v } else { None };
        set_dns(
            p,
            &live.id,
            dns("enable_dns_support", spec.enable_dns_support),
            dns("enable_dns_hostnames", spec.enable_dns_hostnames),
        )
        .await?;
        if has("tags") || has("name") {
            retag(p, &live.id, &all_tags(&t, spec.name.as_deref()), &live_all_tags(live)).await?;
        }
        vpc_back(p, &live.id, spec).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        let id = d.id.as_str();
        if unresolved(id) {
            return Ok(());
        }
        delete_in_use(
            p,
            "ec2:DeleteVpc",
            "the VPC",
            || async {
                p.ec2.delete_vpc().vpc_id(id).send().await.map(|_| ()).map_err(|e| sdk_err("ec2:DeleteVpc", e))
            },
            || in_vpc(p, id),
        )
        .await
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        adopt_tags(p, &t, live, t.spec.name.as_deref()).await?;
        vpc_back(p, &live.id, t.spec).await
    }
}

/// Network interfaces matching `filters`, as `eni-… (description)`.
async fn interfaces(p: &AwsProvider, filters: Vec<Filter>) -> Result<Vec<String>, ProviderError> {
    let pages = p
        .ec2
        .describe_network_interfaces()
        .set_filters(Some(filters))
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_err("ec2:DescribeNetworkInterfaces", e))?;
    Ok(pages
        .iter()
        .flat_map(|o| o.network_interfaces())
        .filter_map(|n| {
            let eni = n.network_interface_id()?;
            Some(match n.description().filter(|d| !d.is_empty()) {
                Some(d) => format!("network interface {eni} ({d})"),
                None => format!("network interface {eni}"),
            })
        })
        .collect())
}

/// What is still in a VPC and keeps it from being deleted.
async fn in_vpc(p: &AwsProvider, id: &str) -> Result<Vec<String>, ProviderError> {
    let by_vpc = |name: &str| vec![filter(name, &[id])];
    let (subnets, gateways, groups, enis) = futures::join!(
        async {
            let out = p
                .ec2
                .describe_subnets()
                .set_filters(Some(by_vpc("vpc-id")))
                .send()
                .await
                .map_err(|e| sdk_err("ec2:DescribeSubnets", e))?;
            Ok::<_, ProviderError>(
                out.subnets().iter().filter_map(|s| s.subnet_id()).map(|s| format!("subnet {s}")).collect::<Vec<_>>(),
            )
        },
        async {
            let out = p
                .ec2
                .describe_internet_gateways()
                .set_filters(Some(by_vpc("attachment.vpc-id")))
                .send()
                .await
                .map_err(|e| sdk_err("ec2:DescribeInternetGateways", e))?;
            Ok::<_, ProviderError>(
                out.internet_gateways()
                    .iter()
                    .filter_map(|g| g.internet_gateway_id())
                    .map(|g| format!("internet gateway {g} (attached)"))
                    .collect::<Vec<_>>(),
            )
        },
        async {
            let out = p
                .ec2
                .describe_security_groups()
                .set_filters(Some(by_vpc("vpc-id")))
                .send()
                .await
                .map_err(|e| sdk_err("ec2:DescribeSecurityGroups", e))?;
            Ok::<_, ProviderError>(
                out.security_groups()
                    .iter()
                    .filter(|g| g.group_name() != Some("default"))
                    .filter_map(|g| g.group_id())
                    .map(|g| format!("security group {g}"))
                    .collect::<Vec<_>>(),
            )
        },
        interfaces(p, by_vpc("vpc-id")),
    );
    Ok([subnets?, gateways?, groups?, enis?].concat())
}

/// Deletes with `call`, trying again while AWS answers that something still
/// uses it, until the wait timeout; `blockers` then says what.
async fn delete_in_use<C, CF, B, BF>(
    p: &AwsProvider,
    op: &str,
    what: &str,
    call: C,
    blockers: B,
) -> Result<(), ProviderError>
where
    C: Fn() -> CF,
    CF: std::future::Future<Output = Result<(), ProviderError>>,
    B: Fn() -> BF,
    BF: std::future::Future<Output = Result<Vec<String>, ProviderError>>,
{
    let last: Mutex<Option<ProviderError>> = Mutex::new(None);
    let r = wait(&p.opts, p.opts.wait_timeout, op, &format!("{what} to be free"), || async {
        match call().await {
            Ok(()) => Ok(Some(())),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(Some(())),
            Err(e) if e.kind == ErrorKind::InUse => {
                *last.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    })
    .await;
    match r {
        Err(e) if e.kind == ErrorKind::Wait => {
            let Some(last) = last.into_inner().unwrap_or_else(PoisonError::into_inner) else { return Err(e) };
            let secs = p.opts.wait_timeout.as_secs();
            let message = match blockers().await {
                Ok(b) if !b.is_empty() => {
                    format!("{what} is still in use after {secs}s, by {}: {}", b.join(", "), last.message)
                }
                _ => format!("{what} is still in use after {secs}s: {}", last.message),
            };
            Err(ProviderError::new(ErrorKind::InUse, op, message)
                .with_code(last.code.as_deref().unwrap_or("DependencyViolation")))
        }
        other => other,
    }
}

// ---- ec2/subnet ----------------------------------------------------------------

fn subnet_live(p: &AwsProvider, s: &Subnet) -> Live {
    let id = s.subnet_id().unwrap_or_default().to_string();
    let (tags, name) = split_tags(s.tags());
    let (vpc, cidr, az) =
        (s.vpc_id().unwrap_or_default(), s.cidr_block().unwrap_or_default(), s.availability_zone().unwrap_or_default());
    let mut f = Fields::new();
    f.insert("vpc".into(), json!(vpc));
    f.insert("cidr".into(), json!(cidr));
    f.insert("availability_zone".into(), json!(az));
    f.insert("map_public_ip_on_launch".into(), json!(s.map_public_ip_on_launch().unwrap_or(false)));
    f.insert("name".into(), json!(name));
    let arn = s.subnet_arn().map_or_else(|| arn(p, s.owner_id(), "subnet", &id), str::to_string);
    let attrs = Attrs::from([
        ("id".to_string(), json!(id)),
        ("availability_zone".to_string(), json!(az)),
        ("cidr".to_string(), json!(cidr)),
        ("vpc_id".to_string(), json!(vpc)),
        ("arn".to_string(), json!(arn)),
    ]);
    Live { id, fields: f, attrs, tags, uid: None }
}

#[async_trait]
impl AwsKind for SubnetSpec {
    fn permissions(_t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let mut g = vec![ec2_describe(&["ec2:DescribeSubnets"])];
        g.extend(ec2_owned(
            at,
            "subnet",
            &["vpc"],
            &[],
            &["ec2:CreateSubnet"],
            &["ec2:ModifySubnetAttribute"],
            &["ec2:DeleteSubnet"],
        ));
        g
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "ec2", resource: "subnet" });

    fn id_of_arn(_arn: &str, resource: &str) -> Option<String> {
        resource.strip_prefix("subnet/").map(str::to_string)
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        read_of(t.target, Read::Subnet)
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        read_one(p, if unresolved(&d.id) { Read::Nothing } else { Read::Subnet(&d.id) }).await
    }
}

async fn subnet_back(p: &AwsProvider, id: &str) -> Result<Live, ProviderError> {
    let s = wait(&p.opts, p.opts.wait_timeout, "ec2:DescribeSubnets", "the subnet to be available", || async {
        let s = subnets(p, &[id]).await?.into_iter().next();
        Ok(s.filter(|s| s.state().is_none_or(|st| st.as_str() == "available")))
    })
    .await?;
    Ok(subnet_live(p, &s))
}

async fn set_public_ip(p: &AwsProvider, id: &str, on: bool) -> Result<(), ProviderError> {
    let call = || async {
        p.ec2
            .modify_subnet_attribute()
            .subnet_id(id)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(on).build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_err("ec2:ModifySubnetAttribute", e))
    };
    retry_for(CREATE_LAG, call, not_found).await
}

#[async_trait]
impl AwsManaged for SubnetSpec {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        let spec = t.spec;
        if unresolved(&spec.vpc) {
            return Err(unresolved_err("ec2:CreateSubnet", "vpc"));
        }
        let create = || async {
            p.ec2
                .create_subnet()
                .vpc_id(&spec.vpc)
                .cidr_block(&spec.cidr)
                .availability_zone(&spec.availability_zone)
                .tag_specifications(tag_spec(ResourceType::Subnet, &all_tags(&t, spec.name.as_deref())))
                .send()
                .await
                .map_err(|e| sdk_err("ec2:CreateSubnet", e))
        };
        // A VPC made a moment ago may not be known to CreateSubnet yet.
        let out = retry_for(CREATE_LAG, create, not_found).await?;
        let s = out.subnet().ok_or_else(|| no_id("ec2:CreateSubnet"))?;
        let id = s.subnet_id().ok_or_else(|| no_id("ec2:CreateSubnet"))?.to_string();
        let made = |e: ProviderError| e.with_made(subnet_live(p, s));
        if spec.map_public_ip_on_launch == Some(true) {
            set_public_ip(p, &id, true).await.map_err(made)?;
        }
        subnet_back(p, &id).await.map_err(made)
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        let spec = t.spec;
        let has = |f: &str| changed.iter().any(|c| c == f);
        if has("map_public_ip_on_launch") {
            set_public_ip(p, &live.id, spec.map_public_ip_on_launch.unwrap_or(false)).await?;
        }
        if has("tags") || has("name") {
            retag(p, &live.id, &all_tags(&t, spec.name.as_deref()), &live_all_tags(live)).await?;
        }
        subnet_back(p, &live.id).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        let id = d.id.as_str();
        if unresolved(id) {
            return Ok(());
        }
        delete_in_use(
            p,
            "ec2:DeleteSubnet",
            "the subnet",
            || async {
                p.ec2.delete_subnet().subnet_id(id).send().await.map(|_| ()).map_err(|e| sdk_err("ec2:DeleteSubnet", e))
            },
            || interfaces(p, vec![filter("subnet-id", &[id])]),
        )
        .await
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        adopt_tags(p, &t, live, t.spec.name.as_deref()).await?;
        subnet_back(p, &live.id).await
    }
}

// ---- ec2/internet_gateway --------------------------------------------------------

/// The VPC the gateway is attached to (or being attached to), if any.
fn attached_vpc(g: &InternetGateway) -> Option<&str> {
    g.attachments()
        .iter()
        .filter(|a| a.state().is_none_or(|s| !matches!(s.as_str(), "detaching" | "detached")))
        .find_map(|a| a.vpc_id())
}

fn igw_live(p: &AwsProvider, g: &InternetGateway) -> Live {
    let id = g.internet_gateway_id().unwrap_or_default().to_string();
    let (tags, name) = split_tags(g.tags());
    let vpc = attached_vpc(g);
    let mut f = Fields::new();
    // Detached: `null`, which no file's VPC matches.
    f.insert("vpc".into(), json!(vpc));
    f.insert("name".into(), json!(name));
    let attrs = Attrs::from([
        ("id".to_string(), json!(id)),
        ("vpc_id".to_string(), json!(vpc.unwrap_or_default())),
        ("arn".to_string(), json!(arn(p, g.owner_id(), "internet-gateway", &id))),
    ]);
    Live { id, fields: f, attrs, tags, uid: None }
}

#[async_trait]
impl AwsKind for IgwSpec {
    fn permissions(_t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let mut g = vec![ec2_describe(&["ec2:DescribeInternetGateways"])];
        g.extend(ec2_owned(
            at,
            "internet-gateway",
            &["vpc"],
            &["ec2:AttachInternetGateway", "ec2:DetachInternetGateway"],
            &["ec2:CreateInternetGateway"],
            &["ec2:AttachInternetGateway", "ec2:DetachInternetGateway"],
            &["ec2:DetachInternetGateway", "ec2:DeleteInternetGateway"],
        ));
        g
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "ec2", resource: "internet-gateway" });

    fn id_of_arn(_arn: &str, resource: &str) -> Option<String> {
        resource.strip_prefix("internet-gateway/").map(str::to_string)
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        read_of(t.target, Read::Igw)
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        read_one(p, if unresolved(&d.id) { Read::Nothing } else { Read::Igw(&d.id) }).await
    }
}

async fn igw_back(p: &AwsProvider, id: &str) -> Result<Live, ProviderError> {
    let g = wait(
        &p.opts,
        p.opts.wait_timeout,
        "ec2:DescribeInternetGateways",
        "the internet gateway to be visible",
        || async { Ok(gateways(p, &[id]).await?.into_iter().next()) },
    )
    .await?;
    Ok(igw_live(p, &g))
}

/// Network interfaces of a VPC with a public address: what keeps its
/// internet gateway attached.
async fn public_interfaces(p: &AwsProvider, vpc: &str) -> Result<Vec<String>, ProviderError> {
    let mut out = interfaces(p, vec![filter("vpc-id", &[vpc]), filter("association.public-ip", &["*"])]).await?;
    out.iter_mut().for_each(|s| s.push_str(" with a public address"));
    Ok(out)
}

#[async_trait]
impl AwsManaged for IgwSpec {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        let spec = t.spec;
        if unresolved(&spec.vpc) {
            return Err(unresolved_err("ec2:AttachInternetGateway", "vpc"));
        }
        let out = p
            .ec2
            .create_internet_gateway()
            .tag_specifications(tag_spec(ResourceType::InternetGateway, &all_tags(&t, spec.name.as_deref())))
            .send()
            .await
            .map_err(|e| sdk_err("ec2:CreateInternetGateway", e))?;
        let g = out.internet_gateway().ok_or_else(|| no_id("ec2:CreateInternetGateway"))?;
        let id = g.internet_gateway_id().ok_or_else(|| no_id("ec2:CreateInternetGateway"))?.to_string();
        // Made but not attached: recorded, so the next plan attaches it anew
        // or deletes it.
        let made = |e: ProviderError| e.with_made(igw_live(p, g));
        let attach = || async {
            p.ec2
                .attach_internet_gateway()
                .internet_gateway_id(&id)
                .vpc_id(&spec.vpc)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_err("ec2:AttachInternetGateway", e))
        };
        retry_for(CREATE_LAG, attach, not_found).await.map_err(made)?;
        igw_back(p, &id).await.map_err(made)
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        if changed.iter().any(|c| c == "tags" || c == "name") {
            retag(p, &live.id, &all_tags(&t, t.spec.name.as_deref()), &live_all_tags(live)).await?;
        }
        igw_back(p, &live.id).await
    }

    /// Detaches it from its VPC (waiting while public addresses are still
    /// mapped in the VPC), then deletes it.
    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        let id = d.id.as_str();
        if unresolved(id) {
            return Ok(());
        }
        let Some(g) = gateways(p, &[id]).await?.into_iter().next() else { return Ok(()) };
        for a in g.attachments() {
            let Some(vpc) = a.vpc_id() else { continue };
            delete_in_use(
                p,
                "ec2:DetachInternetGateway",
                "the internet gateway",
                || async {
                    let r = p.ec2.detach_internet_gateway().internet_gateway_id(id).vpc_id(vpc).send().await;
                    match r.map_err(|e| sdk_err("ec2:DetachInternetGateway", e)) {
                        // Already detached.
                        Err(e) if e.code.as_deref() == Some("Gateway.NotAttached") => Ok(()),
                        other => other.map(|_| ()),
                    }
                },
                || public_interfaces(p, vpc),
            )
            .await?;
        }
        delete_in_use(
            p,
            "ec2:DeleteInternetGateway",
            "the internet gateway",
            || async {
                let r = p.ec2.delete_internet_gateway().internet_gateway_id(id).send().await;
                r.map(|_| ()).map_err(|e| sdk_err("ec2:DeleteInternetGateway", e))
            },
            || async { Ok(Vec::new()) },
        )
        .await
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        adopt_tags(p, &t, live, t.spec.name.as_deref()).await?;
        igw_back(p, &live.id).await
    }
}

// ---- ec2/route_table -------------------------------------------------------------

/// A route as the file writes it; `None` for the VPC's local route and
/// routes AWS propagates, which no file lists.
fn route_value(r: &aws_sdk_ec2::types::Route) -> Option<Value> {
    let cidr = r.destination_cidr_block()?;
    if let Some(origin) = r.origin() {
        if origin.as_str() != "CreateRoute" {
            return None;
        }
    }
    if r.gateway_id() == Some("local") {
        return None;
    }
    Some(match (r.gateway_id(), r.nat_gateway_id()) {
        (Some(g), _) => json!({"cidr": cidr, "gateway": g}),
        (None, Some(n)) => json!({"cidr": cidr, "nat_gateway": n}),
        // Another target (an instance, a peering): shown as it is, so it
        // differs from any route of the file.
        _ => {
            let other = r
                .transit_gateway_id()
                .or(r.vpc_peering_connection_id())
                .or(r.network_interface_id())
                .or(r.instance_id())
                .unwrap_or("?");
            json!({"cidr": cidr, "target": other})
        }
    })
}

/// The subnets explicitly associated with the table, with their
/// association ids.
fn associations(t: &RouteTable) -> Vec<(String, String)> {
    t.associations()
        .iter()
        .filter(|a| a.main() != Some(true))
        .filter(|a| {
            a.association_state()
                .and_then(|s| s.state())
                .is_none_or(|s| matches!(s.as_str(), "associated" | "associating"))
        })
        .filter_map(|a| Some((a.subnet_id()?.to_string(), a.route_table_association_id()?.to_string())))
        .collect()
}

fn rt_live(p: &AwsProvider, t: &RouteTable) -> Live {
    let id = t.route_table_id().unwrap_or_default().to_string();
    let (tags, name) = split_tags(t.tags());
    let vpc = t.vpc_id().unwrap_or_default();
    let routes: Vec<Value> = t.routes().iter().filter_map(route_value).collect();
    let subnets: Vec<String> = associations(t).into_iter().map(|(s, _)| s).collect();
    let mut f = Fields::new();
    f.insert("vpc".into(), json!(vpc));
    f.insert("routes".into(), Value::Array(routes));
    f.insert("subnets".into(), json!(subnets));
    f.insert("name".into(), json!(name));
    let attrs = Attrs::from([
        ("id".to_string(), json!(id)),
        ("vpc_id".to_string(), json!(vpc)),
        ("arn".to_string(), json!(arn(p, t.owner_id(), "route-table", &id))),
    ]);
    Live { id, fields: f, attrs, tags, uid: None }
}

#[async_trait]
impl AwsKind for RtSpec {
    fn permissions(_t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let associations =
            ["ec2:AssociateRouteTable", "ec2:DisassociateRouteTable", "ec2:ReplaceRouteTableAssociation"];
        let mut change = vec!["ec2:CreateRoute", "ec2:ReplaceRoute", "ec2:DeleteRoute"];
        change.extend(associations);
        let mut g = vec![ec2_describe(&["ec2:DescribeRouteTables"])];
        g.extend(ec2_owned(
            at,
            "route-table",
            &["vpc", "subnet"],
            &associations,
            &["ec2:CreateRouteTable"],
            &change,
            &["ec2:DisassociateRouteTable", "ec2:DeleteRouteTable"],
        ));
        g
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "ec2", resource: "route-table" });

    fn id_of_arn(_arn: &str, resource: &str) -> Option<String> {
        resource.strip_prefix("route-table/").map(str::to_string)
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        read_of(t.target, Read::RouteTable)
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        read_one(p, if unresolved(&d.id) { Read::Nothing } else { Read::RouteTable(&d.id) }).await
    }
}

async fn describe_rt(p: &AwsProvider, id: &str) -> Result<RouteTable, ProviderError> {
    wait(&p.opts, p.opts.wait_timeout, "ec2:DescribeRouteTables", "the route table to be visible", || async {
        Ok(route_tables(p, &[id]).await?.into_iter().next())
    })
    .await
}

fn subnet_ids(list: &StrList) -> Result<Vec<&str>, ProviderError> {
    let ids = list.strings();
    match ids.iter().find(|s| unresolved(s)) {
        Some(_) => Err(unresolved_err("ec2:AssociateRouteTable", "subnets")),
        None => Ok(ids),
    }
}

/// Brings the table's routes from `have` to the file's: routes to a new
/// destination are created, to a destination whose target changed
/// replaced, and routes to a destination the file no longer has deleted.
async fn sync_routes(p: &AwsProvider, id: &str, spec: &RtSpec, have: &[Value]) -> Result<(), ProviderError> {
    let have: BTreeMap<&str, &Value> = have.iter().filter_map(|r| Some((r.get("cidr")?.as_str()?, r))).collect();
    for r in &spec.routes {
        if unresolved(&r.cidr)
            || r.gateway.as_deref().is_some_and(unresolved)
            || r.nat_gateway.as_deref().is_some_and(unresolved)
        {
            return Err(unresolved_err("ec2:CreateRoute", "routes"));
        }
        let want = serde_json::to_value(r).unwrap_or(Value::Null);
        match have.get(r.cidr.as_str()) {
            Some(h) if **h == want => continue,
            Some(_) => {
                let call = || async {
                    p.ec2
                        .replace_route()
                        .route_table_id(id)
                        .destination_cidr_block(&r.cidr)
                        .set_gateway_id(r.gateway.clone())
                        .set_nat_gateway_id(r.nat_gateway.clone())
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| sdk_err("ec2:ReplaceRoute", e))
                };
                retry_for(CREATE_LAG, call, not_found).await?;
            }
            None => {
                let call = || async {
                    p.ec2
                        .create_route()
                        .route_table_id(id)
                        .destination_cidr_block(&r.cidr)
                        .set_gateway_id(r.gateway.clone())
                        .set_nat_gateway_id(r.nat_gateway.clone())
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| sdk_err("ec2:CreateRoute", e))
                };
                retry_for(CREATE_LAG, call, not_found).await?;
            }
        }
    }
    let wanted: BTreeSet<&str> = spec.routes.iter().map(|r| r.cidr.as_str()).collect();
    for cidr in have.keys().filter(|c| !wanted.contains(*c)) {
        let r = p.ec2.delete_route().route_table_id(id).destination_cidr_block(*cidr).send().await;
        super::ok_if_gone(r.map(|_| ()).map_err(|e| sdk_err("ec2:DeleteRoute", e)))?;
    }
    Ok(())
}

/// Associates the file's subnets with the table and lets go of the others.
/// A subnet associated with another table is moved to this one.
async fn sync_subnets(
    p: &AwsProvider,
    id: &str,
    want: &[&str],
    have: &[(String, String)],
) -> Result<(), ProviderError> {
    for (subnet, assoc) in have.iter().filter(|(s, _)| !want.contains(&s.as_str())) {
        let r = p.ec2.disassociate_route_table().association_id(assoc).send().await;
        super::ok_if_gone(r.map(|_| ()).map_err(|e| sdk_err("ec2:DisassociateRouteTable", e)))
            .map_err(|e| ProviderError { message: format!("subnet {subnet}: {}", e.message), ..e })?;
    }
    for subnet in want.iter().filter(|s| !have.iter().any(|(h, _)| h == *s)) {
        let call = || async {
            p.ec2
                .associate_route_table()
                .route_table_id(id)
                .subnet_id(*subnet)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_err("ec2:AssociateRouteTable", e))
        };
        match retry_for(CREATE_LAG, call, not_found).await {
            Err(e) if e.code.as_deref() == Some("Resource.AlreadyAssociated") => move_subnet(p, id, subnet).await?,
            other => other?,
        }
    }
    Ok(())
}

/// Moves a subnet's association from the table it has to `id`.
async fn move_subnet(p: &AwsProvider, id: &str, subnet: &str) -> Result<(), ProviderError> {
    let out = p
        .ec2
        .describe_route_tables()
        .filters(filter("association.subnet-id", &[subnet]))
        .send()
        .await
        .map_err(|e| sdk_err("ec2:DescribeRouteTables", e))?;
    let assoc = out
        .route_tables()
        .iter()
        .flat_map(|t| t.associations())
        .find(|a| a.subnet_id() == Some(subnet))
        .and_then(|a| a.route_table_association_id())
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Rejected,
                "ec2:AssociateRouteTable",
                format!("subnet {subnet} is associated with another route table, which could not be found"),
            )
        })?;
    p.ec2
        .replace_route_table_association()
        .association_id(assoc)
        .route_table_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sdk_err("ec2:ReplaceRouteTableAssociation", e))
}

#[async_trait]
impl AwsManaged for RtSpec {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        let spec = t.spec;
        if unresolved(&spec.vpc) {
            return Err(unresolved_err("ec2:CreateRouteTable", "vpc"));
        }
        let want_subnets = subnet_ids(&spec.subnets)?;
        let create = || async {
            p.ec2
                .create_route_table()
                .vpc_id(&spec.vpc)
                .tag_specifications(tag_spec(ResourceType::RouteTable, &all_tags(&t, spec.name.as_deref())))
                .send()
                .await
                .map_err(|e| sdk_err("ec2:CreateRouteTable", e))
        };
        let out = retry_for(CREATE_LAG, create, not_found).await?;
        let rt = out.route_table().ok_or_else(|| no_id("ec2:CreateRouteTable"))?;
        let id = rt.route_table_id().ok_or_else(|| no_id("ec2:CreateRouteTable"))?.to_string();
        let made = |e: ProviderError| e.with_made(rt_live(p, rt));
        sync_routes(p, &id, spec, &[]).await.map_err(made)?;
        sync_subnets(p, &id, &want_subnets, &[]).await.map_err(made)?;
        Ok(rt_live(p, &describe_rt(p, &id).await.map_err(made)?))
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        let spec = t.spec;
        let has = |f: &str| changed.iter().any(|c| c == f);
        let id = live.id.as_str();
        if has("routes") || has("subnets") {
            let now = describe_rt(p, id).await?;
            if has("routes") {
                let routes: Vec<Value> = now.routes().iter().filter_map(route_value).collect();
                sync_routes(p, id, spec, &routes).await?;
            }
            if has("subnets") {
                sync_subnets(p, id, &subnet_ids(&spec.subnets)?, &associations(&now)).await?;
            }
        }
        if has("tags") || has("name") {
            retag(p, id, &all_tags(&t, spec.name.as_deref()), &live_all_tags(live)).await?;
        }
        Ok(rt_live(p, &describe_rt(p, id).await?))
    }

    /// Lets go of its subnets, then deletes it (its routes go with it).
    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        let id = d.id.as_str();
        if unresolved(id) {
            return Ok(());
        }
        let Some(rt) = found(route_tables(p, &[id]).await)?.and_then(|v| v.into_iter().next()) else { return Ok(()) };
        sync_subnets(p, id, &[], &associations(&rt)).await?;
        delete_in_use(
            p,
            "ec2:DeleteRouteTable",
            "the route table",
            || async {
                let r = p.ec2.delete_route_table().route_table_id(id).send().await;
                r.map(|_| ()).map_err(|e| sdk_err("ec2:DeleteRouteTable", e))
            },
            || async {
                let rt = route_tables(p, &[id]).await?;
                Ok(rt.iter().flat_map(associations).map(|(s, _)| format!("subnet {s} (associated)")).collect())
            },
        )
        .await
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        adopt_tags(p, &t, live, t.spec.name.as_deref()).await?;
        Ok(rt_live(p, &describe_rt(p, &live.id).await?))
    }
}

// ---- ec2/nat_gateway -------------------------------------------------------------

fn nat_state(n: &NatGateway) -> &str {
    n.state().map_or("available", |s| s.as_str())
}

/// Deleted gateways stay listed for about an hour.
fn nat_gone(n: &NatGateway) -> bool {
    nat_state(n) == "deleted"
}

fn nat_live(n: &NatGateway) -> Live {
    let id = n.nat_gateway_id().unwrap_or_default().to_string();
    let (tags, name) = split_tags(n.tags());
    let subnet = n.subnet_id().unwrap_or_default();
    let connectivity = n.connectivity_type().map_or("public", |c| c.as_str()).to_ascii_lowercase();
    let mut f = Fields::new();
    f.insert("subnet".into(), json!(subnet));
    f.insert("connectivity".into(), json!(connectivity));
    f.insert("name".into(), json!(name));
    let address = n.nat_gateway_addresses().first();
    let attrs = Attrs::from([
        ("id".to_string(), json!(id)),
        ("subnet_id".to_string(), json!(subnet)),
        ("public_ip".to_string(), json!(address.and_then(|a| a.public_ip()).unwrap_or_default())),
        ("allocation_id".to_string(), json!(address.and_then(|a| a.allocation_id()).unwrap_or_default())),
    ]);
    Live { id, fields: f, attrs, tags, uid: None }
}

#[async_trait]
impl AwsKind for NatSpec {
    fn permissions(_t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let mut g = vec![ec2_describe(&["ec2:DescribeNatGateways", "ec2:DescribeAddresses"])];
        g.extend(ec2_owned(at, "elastic-ip", &[], &[], &["ec2:AllocateAddress"], &[], &["ec2:ReleaseAddress"]));
        g.extend(ec2_owned(
            at,
            "natgateway",
            &["subnet", "elastic-ip"],
            &[],
            &["ec2:CreateNatGateway"],
            &[],
            &["ec2:DeleteNatGateway"],
        ));
        g
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "ec2", resource: "natgateway" });

    fn id_of_arn(_arn: &str, resource: &str) -> Option<String> {
        resource.strip_prefix("natgateway/").map(str::to_string)
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        read_of(t.target, Read::Nat)
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        if is_allocation(&d.id) {
            return address_live(p, &d.id).await;
        }
        read_one(p, if unresolved(&d.id) { Read::Nothing } else { Read::Nat(&d.id) }).await
    }
}

/// Whether a gateway's id is the allocation id of its Elastic IP: what
/// discovery finds of a gateway that is gone while the address moor
/// allocated for it is not (a run stopped between the two, or a release
/// that failed). Deleting it releases the address.
fn is_allocation(id: &str) -> bool {
    id.starts_with("eipalloc-")
}

/// An Elastic IP by its allocation id, as a gateway's leftover.
async fn address_live(p: &AwsProvider, allocation: &str) -> Result<Option<Live>, ProviderError> {
    let out = p
        .ec2
        .describe_addresses()
        .filters(filter("allocation-id", &[allocation]))
        .send()
        .await
        .map_err(|e| sdk_err("ec2:DescribeAddresses", e))?;
    Ok(out.addresses().iter().find(|a| a.allocation_id() == Some(allocation)).map(|a| {
        let (tags, _) = split_tags(a.tags());
        let attrs = Attrs::from([
            ("allocation_id".to_string(), json!(allocation)),
            ("public_ip".to_string(), json!(a.public_ip().unwrap_or_default())),
        ]);
        Live { id: allocation.to_string(), fields: Fields::new(), attrs, tags, uid: None }
    }))
}

/// The Elastic IPs carrying `stack`'s tag that no NAT gateway uses: those
/// moor allocated for gateways that are gone, by allocation id, with their
/// tags. One call, and one more only when there are such addresses.
pub(super) async fn spare_addresses(p: &AwsProvider, stack: &str) -> Result<Vec<(String, Tags)>, ProviderError> {
    let key = format!("tag:{}", crate::provider::TAG_STACK);
    let out = p
        .ec2
        .describe_addresses()
        .filters(filter(&key, &[stack]))
        .send()
        .await
        .map_err(|e| sdk_err("ec2:DescribeAddresses", e))?;
    let spare: Vec<(String, Tags)> =
        out.addresses().iter().filter_map(|a| Some((a.allocation_id()?.to_string(), split_tags(a.tags()).0))).collect();
    if spare.is_empty() {
        return Ok(spare);
    }
    // An address a gateway that is not deleted has is that gateway's (its
    // delete releases it); the association is no guide (the emulator keeps
    // a deleted gateway's).
    let gateways: Vec<_> = p
        .ec2
        .describe_nat_gateways()
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_err("ec2:DescribeNatGateways", e))?;
    let used: BTreeSet<&str> = gateways
        .iter()
        .flat_map(|o| o.nat_gateways())
        .filter(|n| !nat_gone(n))
        .flat_map(|n| n.nat_gateway_addresses())
        .filter_map(|a| a.allocation_id())
        .collect();
    Ok(spare.into_iter().filter(|(a, _)| !used.contains(a.as_str())).collect())
}

/// Waits until the gateway is `available`; one that `failed` is an error
/// with AWS's reason.
async fn nat_available(p: &AwsProvider, id: &str) -> Result<Live, ProviderError> {
    let n =
        wait(&p.opts, p.opts.wait_timeout, "ec2:DescribeNatGateways", "the NAT gateway to be available", || async {
            let Some(n) = nat_gateways(p, &[id]).await?.into_iter().next() else { return Ok(None) };
            match nat_state(&n) {
                "available" => Ok(Some(n)),
                "failed" | "deleting" | "deleted" => Err(ProviderError::new(
                    ErrorKind::Rejected,
                    "ec2:CreateNatGateway",
                    format!(
                        "the NAT gateway {id} is {}: {} {}",
                        nat_state(&n),
                        n.failure_code().unwrap_or_default(),
                        n.failure_message().unwrap_or_default()
                    ),
                )),
                _ => Ok(None),
            }
        })
        .await?;
    Ok(nat_live(&n))
}

/// Releases an Elastic IP moor allocated (it carries the stack's tag);
/// AWS refuses for a moment after the gateway that used it is deleted.
async fn release(p: &AwsProvider, allocation: &str) -> Result<(), ProviderError> {
    let out = p
        .ec2
        .describe_addresses()
        .filters(filter("allocation-id", &[allocation]))
        .send()
        .await
        .map_err(|e| sdk_err("ec2:DescribeAddresses", e))?;
    let ours = out.addresses().iter().any(|a| a.tags().iter().any(|t| t.key() == Some(crate::provider::TAG_STACK)));
    if !ours {
        return Ok(());
    }
    let call = || async {
        let r = p.ec2.release_address().allocation_id(allocation).send().await;
        super::ok_if_gone(r.map(|_| ()).map_err(|e| sdk_err("ec2:ReleaseAddress", e)))
    };
    let in_use = |e: &ProviderError| {
        e.kind == ErrorKind::InUse
            || e.code.as_deref().is_some_and(|c| c == "InvalidIPAddress.InUse" || c == "AuthFailure")
    };
    retry_for(Duration::from_secs(120), call, in_use).await
}

#[async_trait]
impl AwsManaged for NatSpec {
    /// Allocates its Elastic IP (public gateways), makes it and waits until
    /// it is available. An address whose gateway could not be made is
    /// released again.
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        let spec = t.spec;
        if unresolved(&spec.subnet) {
            return Err(unresolved_err("ec2:CreateNatGateway", "subnet"));
        }
        let tags = all_tags(&t, spec.name.as_deref());
        let allocation = match spec.connectivity {
            Connectivity::Private => None,
            Connectivity::Public => {
                let out = p
                    .ec2
                    .allocate_address()
                    .domain(DomainType::Vpc)
                    .tag_specifications(tag_spec(ResourceType::ElasticIp, &tags))
                    .send()
                    .await
                    .map_err(|e| sdk_err("ec2:AllocateAddress", e))?;
                Some(out.allocation_id().ok_or_else(|| no_id("ec2:AllocateAddress"))?.to_string())
            }
        };
        let kind = match spec.connectivity {
            Connectivity::Public => ConnectivityType::Public,
            Connectivity::Private => ConnectivityType::Private,
        };
        let token = nat_client_token(&t);
        let send = || async {
            p.ec2
                .create_nat_gateway()
                .subnet_id(&spec.subnet)
                .set_allocation_id(allocation.clone())
                .connectivity_type(kind.clone())
                .tag_specifications(tag_spec(ResourceType::Natgateway, &tags))
                .client_token(&token)
                .customize()
                .config_override(no_retries())
                .send()
                .await
                .map_err(|e| sdk_err("ec2:CreateNatGateway", e))
        };
        // The subnet just made may not be known yet: NotFound is retried.
        let create = || async { retry_for(CREATE_LAG, send, not_found).await };
        // The one an attempt made: this resource's tags in this subnet,
        // not the one a replacement replaces, nor one on its way out.
        let find = || async {
            let found = p
                .ec2
                .describe_nat_gateways()
                .filter(filter("subnet-id", &[spec.subnet.as_str()]))
                .send()
                .await
                .map_err(|e| sdk_err("ec2:DescribeNatGateways", e))?;
            Ok(found
                .nat_gateways()
                .iter()
                .find(|n| {
                    owned(&t, n.tags())
                        && n.nat_gateway_id() != t.id.as_deref()
                        && !matches!(nat_state(n), "failed" | "deleting" | "deleted")
                })
                .cloned())
        };
        let made = create_unnamed(create, find).await.map(|m| match m {
            Made::Answered(out) => out.nat_gateway().cloned(),
            Made::Found(n) => Some(n),
        });
        let gateway = match made {
            Ok(n) => n,
            Err(e) => {
                if let Some(a) = &allocation {
                    // Best effort: the error that matters is the create's.
                    let _ = release(p, a).await;
                }
                return Err(e);
            }
        };
        let n = gateway.as_ref().ok_or_else(|| no_id("ec2:CreateNatGateway"))?;
        let id = n.nat_gateway_id().ok_or_else(|| no_id("ec2:CreateNatGateway"))?.to_string();
        nat_available(p, &id).await.map_err(|e| e.with_made(nat_live(n)))
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        if changed.iter().any(|c| c == "tags" || c == "name") {
            retag(p, &live.id, &all_tags(&t, t.spec.name.as_deref()), &live_all_tags(live)).await?;
        }
        nat_available(p, &live.id).await
    }

    /// Deletes it, waits until it is `deleted` (its network interface goes
    /// with it), then releases the Elastic IP moor allocated for it.
    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        let id = d.id.as_str();
        if unresolved(id) {
            return Ok(());
        }
        if is_allocation(id) {
            return release(p, id).await;
        }
        let Some(n) = nat_gateways(p, &[id]).await?.into_iter().next() else { return Ok(()) };
        let allocations: Vec<String> =
            n.nat_gateway_addresses().iter().filter_map(|a| a.allocation_id()).map(str::to_string).collect();
        if !nat_gone(&n) {
            let r = p.ec2.delete_nat_gateway().nat_gateway_id(id).send().await;
            super::ok_if_gone(r.map(|_| ()).map_err(|e| sdk_err("ec2:DeleteNatGateway", e)))?;
            wait(&p.opts, p.opts.wait_timeout, "ec2:DescribeNatGateways", "the NAT gateway to be deleted", || async {
                let n = nat_gateways(p, &[id]).await?.into_iter().next();
                Ok(n.is_none_or(|n| nat_gone(&n)).then_some(()))
            })
            .await?;
        }
        for a in &allocations {
            release(p, a).await?;
        }
        Ok(())
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        adopt_tags(p, &t, live, t.spec.name.as_deref()).await?;
        nat_available(p, &live.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{test_config, Scripted};
    use super::*;
    use crate::model::Kind;
    use crate::provider::ProviderOptions;

    const NS: &str = "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"";

    fn provider(script: &Scripted, wait_timeout: Duration) -> AwsProvider {
        let opts = ProviderOptions { poll: Duration::from_millis(1), wait_timeout, ..ProviderOptions::default() };
        AwsProvider::from_config(&test_config(script.clone()), "us-east-1".into(), opts)
    }

    fn deletion(kind: Kind, id: &str) -> Deletion {
        Deletion { logical: "x".into(), kind, id: id.into(), name: None, attrs: Default::default(), force: false }
    }

    fn error(code: &str, message: &str) -> String {
        format!(
            "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>r</RequestID></Response>"
        )
    }

    fn ok(op: &str) -> String {
        format!("<{op}Response {NS}><requestId>r</requestId><return>true</return></{op}Response>")
    }

    const ENIS: &str = "<DescribeNetworkInterfacesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
        <requestId>r</requestId><networkInterfaceSet><item><networkInterfaceId>eni-1</networkInterfaceId>\
        <description>ELB app/web/1</description></item></networkInterfaceSet></DescribeNetworkInterfacesResponse>";

    /// AWS answers DependencyViolation while a load balancer's interfaces
    /// linger in the subnet: the delete is tried again until it goes.
    #[tokio::test]
    async fn a_subnet_delete_waits_out_lingering_interfaces() {
        let script = Scripted::default();
        let busy = error("DependencyViolation", "The subnet 'subnet-1' has dependencies and cannot be deleted.");
        script.answer_raw("DeleteSubnet", 400, &busy).answer_raw("DeleteSubnet", 400, &busy).answer_raw(
            "DeleteSubnet",
            200,
            &ok("DeleteSubnet"),
        );
        let p = provider(&script, Duration::from_secs(60));
        <SubnetSpec as AwsManaged>::delete(&p, &deletion(Kind::Ec2Subnet, "subnet-1")).await.expect("deleted");
        assert_eq!(script.ops(), ["DeleteSubnet", "DeleteSubnet", "DeleteSubnet"]);
    }

    /// When the interfaces outlast the wait, the error says which they are.
    #[tokio::test]
    async fn a_subnet_still_in_use_names_what_uses_it() {
        let script = Scripted::default();
        let busy = error("DependencyViolation", "The subnet 'subnet-1' has dependencies and cannot be deleted.");
        script.answer_raw("DeleteSubnet", 400, &busy).answer_raw("DescribeNetworkInterfaces", 200, ENIS);
        let p = provider(&script, Duration::from_millis(30));
        let e =
            <SubnetSpec as AwsManaged>::delete(&p, &deletion(Kind::Ec2Subnet, "subnet-1")).await.expect_err("in use");
        assert_eq!(
            (e.kind, e.operation.as_str(), e.code.as_deref()),
            (ErrorKind::InUse, "ec2:DeleteSubnet", Some("DependencyViolation"))
        );
        assert!(e.message.contains("network interface eni-1 (ELB app/web/1)"), "{}", e.message);
        assert!(e.message.contains("has dependencies"), "{}", e.message);
        assert!(script.ops().iter().filter(|o| *o == "DeleteSubnet").count() >= 2, "{:?}", script.ops());
    }

    /// A gateway is detached before it is deleted, and the detach waits
    /// while public addresses are still mapped in the VPC.
    #[tokio::test]
    async fn a_gateway_is_detached_when_the_public_addresses_are_gone_then_deleted() {
        let script = Scripted::default();
        let described = format!(
            "<DescribeInternetGatewaysResponse {NS}><requestId>r</requestId><internetGatewaySet><item>\
             <internetGatewayId>igw-1</internetGatewayId><attachmentSet><item><vpcId>vpc-1</vpcId>\
             <state>available</state></item></attachmentSet><tagSet/></item></internetGatewaySet>\
             </DescribeInternetGatewaysResponse>"
        );
        let mapped =
            error("DependencyViolation", "Network vpc-1 has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.");
        script
            .answer_raw("DescribeInternetGateways", 200, &described)
            .answer_raw("DetachInternetGateway", 400, &mapped)
            .answer_raw("DetachInternetGateway", 200, &ok("DetachInternetGateway"))
            .answer_raw("DeleteInternetGateway", 200, &ok("DeleteInternetGateway"));
        let p = provider(&script, Duration::from_secs(60));
        <IgwSpec as AwsManaged>::delete(&p, &deletion(Kind::Ec2InternetGateway, "igw-1")).await.expect("deleted");
        assert_eq!(
            script.ops(),
            ["DescribeInternetGateways", "DetachInternetGateway", "DetachInternetGateway", "DeleteInternetGateway"]
        );
    }

    fn nat_described(state: &str) -> String {
        format!(
            "<DescribeNatGatewaysResponse {NS}><requestId>r</requestId><natGatewaySet><item>\
             <natGatewayId>nat-1</natGatewayId><subnetId>subnet-1</subnetId><state>{state}</state>\
             <connectivityType>public</connectivityType><natGatewayAddressSet><item>\
             <allocationId>eipalloc-1</allocationId><publicIp>203.0.113.9</publicIp></item>\
             </natGatewayAddressSet><tagSet/></item></natGatewaySet></DescribeNatGatewaysResponse>"
        )
    }

    /// On AWS a NAT gateway is `deleting` for a minute or more, and its
    /// address cannot be released before it is `deleted`: the delete waits,
    /// then releases the address moor allocated (it carries the stack's tag).
    #[tokio::test]
    async fn a_nat_gateway_is_deleted_before_its_address_is_released() {
        let script = Scripted::default();
        let ours = format!(
            "<DescribeAddressesResponse {NS}><requestId>r</requestId><addressesSet><item>\
             <allocationId>eipalloc-1</allocationId><tagSet><item><key>moor:stack</key><value>s</value></item>\
             </tagSet></item></addressesSet></DescribeAddressesResponse>"
        );
        script
            .answer_raw("DescribeNatGateways", 200, &nat_described("available"))
            .answer_raw("DescribeNatGateways", 200, &nat_described("deleting"))
            .answer_raw("DescribeNatGateways", 200, &nat_described("deleting"))
            .answer_raw("DescribeNatGateways", 200, &nat_described("deleted"))
            .answer_raw(
                "DeleteNatGateway",
                200,
                &format!(
                    "<DeleteNatGatewayResponse {NS}><natGatewayId>nat-1</natGatewayId></DeleteNatGatewayResponse>"
                ),
            )
            .answer_raw("DescribeAddresses", 200, &ours)
            .answer_raw("ReleaseAddress", 200, &ok("ReleaseAddress"));
        let p = provider(&script, Duration::from_secs(60));
        <NatSpec as AwsManaged>::delete(&p, &deletion(Kind::Ec2NatGateway, "nat-1")).await.expect("deleted");
        assert_eq!(
            script.ops(),
            [
                "DescribeNatGateways",
                "DeleteNatGateway",
                "DescribeNatGateways",
                "DescribeNatGateways",
                "DescribeNatGateways",
                "DescribeAddresses",
                "ReleaseAddress"
            ]
        );
    }

    /// A gateway that ends `failed` is an error with AWS's reason, not a
    /// wait to the timeout.
    #[tokio::test]
    async fn a_nat_gateway_that_failed_says_why() {
        let script = Scripted::default();
        let failed = nat_described("failed").replace(
            "<tagSet/>",
            "<failureCode>Gateway.NotAttached</failureCode><failureMessage>Network vpc-1 has no Internet gateway attached</failureMessage><tagSet/>",
        );
        script.answer_raw("DescribeNatGateways", 200, &nat_described("pending")).answer_raw(
            "DescribeNatGateways",
            200,
            &failed,
        );
        let p = provider(&script, Duration::from_secs(60));
        let e = nat_available(&p, "nat-1").await.expect_err("failed");
        assert!(e.message.contains("is failed") && e.message.contains("no Internet gateway attached"), "{}", e.message);
    }

    /// A VPC that keeps something in it past the wait names it.
    #[tokio::test]
    async fn a_vpc_still_in_use_names_what_is_left_in_it() {
        let script = Scripted::default();
        let subnets = format!(
            "<DescribeSubnetsResponse {NS}><requestId>r</requestId><subnetSet><item><subnetId>subnet-9</subnetId>\
             </item></subnetSet></DescribeSubnetsResponse>"
        );
        script
            .answer_raw(
                "DeleteVpc",
                400,
                &error("DependencyViolation", "The vpc 'vpc-1' has dependencies and cannot be deleted."),
            )
            .answer_raw("DescribeSubnets", 200, &subnets)
            .answer_raw(
                "DescribeInternetGateways",
                200,
                &format!(
                    "<DescribeInternetGatewaysResponse {NS}><internetGatewaySet/></DescribeInternetGatewaysResponse>"
                ),
            )
            .answer_raw(
                "DescribeSecurityGroups",
                200,
                &format!("<DescribeSecurityGroupsResponse {NS}><securityGroupInfo/></DescribeSecurityGroupsResponse>"),
            )
            .answer_raw("DescribeNetworkInterfaces", 200, ENIS);
        let p = provider(&script, Duration::from_millis(30));
        let e = <VpcSpec as AwsManaged>::delete(&p, &deletion(Kind::Ec2Vpc, "vpc-1")).await.expect_err("in use");
        assert_eq!((e.kind, e.operation.as_str()), (ErrorKind::InUse, "ec2:DeleteVpc"));
        assert!(e.message.contains("subnet subnet-9") && e.message.contains("eni-1"), "{}", e.message);
    }
}
