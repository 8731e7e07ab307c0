//! EC2: security groups, and the VPC lookups (`ec2/default_vpc`,
//! `ec2/existing_vpc`).
//!
//! A security group's rules are compared as "atoms" — one protocol, one
//! port range, one peer — because AWS stores them that way whatever shape
//! the file uses (`cidrs: [a, b]` or two rules). A read projects the live
//! atoms back onto the file's rules: a rule of the file whose atoms all
//! exist is reported as the file writes it, and every live atom no rule of
//! the file claims is reported as a rule of its own (so it shows as a
//! difference). Updates revoke and authorize atoms.

use super::kinds::{ArnType, AwsKind, AwsLookup, AwsManaged, Typed};
use super::permissions::{Grant, Phase, Scope};
use super::{eventually, found, partition, sdk_err, tag_map, unresolved, wait, AwsProvider};
use crate::kinds::ec2::{DefaultVpc, ExistingVpc, Protocol, Rule, SecurityGroup as SgSpec};
use crate::model::common::Tags;
use crate::provider::{Attrs, Deletion, ErrorKind, Fields, Live, ProviderError, Target};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, SecurityGroup, Subnet, Tag, TagSpecification,
    UserIdGroupPair, Vpc,
};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

/// The description of a group whose file sets none.
const DEFAULT_DESCRIPTION: &str = "Managed by moor";

fn filter(name: &str, value: impl Into<String>) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn ec2_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

fn live_tags(tags: &[Tag]) -> Tags {
    tag_map(tags.iter().map(|t| (t.key(), t.value())))
}

// ---- the providers ------------------------------------------------------------

/// What EC2's batched read ([`read_many`]) takes for one target.
pub(super) type Read<'a> = Want<'a>;

/// Reads many targets with as few calls as EC2 allows: one
/// DescribeSecurityGroups for the groups known by id, one for those found
/// by name, and for the VPC lookups one DescribeVpcs and one
/// DescribeSubnets at the same time. Results are in the order of `wants`.
pub(super) async fn read_many(p: &AwsProvider, wants: &[Want<'_>]) -> Vec<Result<Option<Live>, ProviderError>> {
    read_wants(p, wants).await
}

async fn read_one(p: &AwsProvider, w: Want<'_>) -> Result<Option<Live>, ProviderError> {
    read_wants(p, &[w]).await.pop().expect("read_wants answers each want: one want, one result")
}

#[async_trait]
impl AwsKind for SgSpec {
    fn permissions(_t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let mut g = vec![ec2_describe(&["ec2:DescribeSecurityGroups", "ec2:DescribeNetworkInterfaces"])];
        g.extend(ec2_owned(
            at,
            "security-group",
            &["vpc"],
            &[],
            &["ec2:CreateSecurityGroup"],
            &[
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:AuthorizeSecurityGroupEgress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupEgress",
                "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
                "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
            ],
            &["ec2:DeleteSecurityGroup"],
        ));
        g
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "ec2", resource: "security-group" });

    /// A security group is known by its group id, not its ARN.
    fn id_of_arn(_arn: &str, resource: &str) -> Option<String> {
        resource.strip_prefix("security-group/").filter(|id| !id.is_empty()).map(str::to_string)
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        let Typed { target: t, spec } = t;
        super::kinds::Read::Ec2(match &t.id {
            Some(id) if unresolved(id) => Want::Nothing,
            Some(id) => Want::SgId(id, Some(spec)),
            None => match t.name.as_deref().or(spec.name.as_deref()) {
                Some(name) if !unresolved(name) && !unresolved(&spec.vpc) => {
                    Want::SgName { name, vpc: &spec.vpc, spec }
                }
                _ => Want::Nothing,
            },
        })
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        read_one(p, if unresolved(&d.id) { Want::Nothing } else { Want::SgId(&d.id, None) }).await
    }
}

#[async_trait]
impl AwsManaged for SgSpec {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        create_sg(p, t.target, t.spec).await
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        update_sg(p, t.target, t.spec, live, changed).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        delete_sg(p, &d.id).await
    }

    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        p.ec2
            .create_tags()
            .resources(&live.id)
            .set_tags(Some(ec2_tags(&t.tags)))
            .send()
            .await
            .map_err(|e| sdk_err("ec2:CreateTags", e))?;
        read_back(p, &live.id, t.spec).await
    }
}

/// A VPC lookup's read of a recorded VPC id.
async fn read_recorded_vpc(p: &AwsProvider, d: &Deletion, default_only: bool) -> Result<Option<Live>, ProviderError> {
    let w = if unresolved(&d.id) {
        Want::Nothing
    } else {
        Want::Vpc(VpcWant { by: VpcBy::Id(&d.id), subnet_tags: &NO_TAGS, default_only })
    };
    read_one(p, w).await
}

#[async_trait]
impl AwsKind for DefaultVpc {
    fn permissions(_t: Typed<'_, Self>, _at: &Scope) -> Vec<Grant> {
        vec![ec2_describe(&["ec2:DescribeVpcs", "ec2:DescribeSubnets"])]
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        let by = match &t.target.id {
            Some(id) if unresolved(id) => return super::kinds::Read::Ec2(Want::Nothing),
            Some(id) => VpcBy::Id(id),
            None => VpcBy::Default,
        };
        super::kinds::Read::Ec2(Want::Vpc(VpcWant { by, subnet_tags: &NO_TAGS, default_only: true }))
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        read_recorded_vpc(p, d, true).await
    }
}

impl AwsLookup for DefaultVpc {}

#[async_trait]
impl AwsKind for ExistingVpc {
    fn permissions(_t: Typed<'_, Self>, _at: &Scope) -> Vec<Grant> {
        vec![ec2_describe(&["ec2:DescribeVpcs", "ec2:DescribeSubnets"])]
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        let Typed { target: t, spec } = t;
        let by = match (&t.id, spec) {
            (Some(id), _) | (None, ExistingVpc { id: Some(id), .. }) if unresolved(id) => None,
            (Some(id), _) | (None, ExistingVpc { id: Some(id), .. }) => Some(VpcBy::Id(id)),
            (None, ExistingVpc { name: Some(name), .. }) if unresolved(name) => None,
            (None, ExistingVpc { name: Some(name), .. }) => Some(VpcBy::Name(name)),
            (None, _) => None,
        };
        super::kinds::Read::Ec2(match by {
            Some(by) => Want::Vpc(VpcWant { by, subnet_tags: &spec.subnet_tags, default_only: false }),
            None => Want::Nothing,
        })
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        read_recorded_vpc(p, d, false).await
    }
}

impl AwsLookup for ExistingVpc {}

// ---- reading ---------------------------------------------------------------------

/// At most this many filter values in one call (EC2's limit, over all filters).
const FILTER_VALUES: usize = 200;

static NO_TAGS: Tags = Tags::new();

/// What one read asks for: the batched read's request.
pub(super) enum Want<'a> {
    /// Nothing to read: what identifies it is a reference not known yet.
    Nothing,
    SgId(&'a str, Option<&'a SgSpec>),
    SgName {
        name: &'a str,
        vpc: &'a str,
        spec: &'a SgSpec,
    },
    Vpc(VpcWant<'a>),
}

#[derive(Clone, Copy)]
pub(super) struct VpcWant<'a> {
    by: VpcBy<'a>,
    /// Only subnets with these tags.
    subnet_tags: &'a Tags,
    /// Only the default-for-AZ subnets (the default VPC's).
    default_only: bool,
}

#[derive(Clone, Copy)]
pub(super) enum VpcBy<'a> {
    Id(&'a str),
    Default,
    /// The `Name` tag (EC2's filter wildcards apply).
    Name(&'a str),
}

fn filter_of(name: &str, values: &[&str]) -> Filter {
    Filter::builder().name(name).set_values(Some(values.iter().map(|v| v.to_string()).collect())).build()
}

/// Whether `text` matches an EC2 filter value (`*` any run of characters,
/// `?` one character, `\` escapes the next).
fn filter_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| go(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some('\\') if p.len() > 1 => t.first() == Some(&p[1]) && go(&p[2..], &t[1..]),
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

/// Reads what `wants` ask for, every independent call at once.
async fn read_wants(p: &AwsProvider, wants: &[Want<'_>]) -> Vec<Result<Option<Live>, ProviderError>> {
    let mut ids = BTreeSet::new();
    let mut names = BTreeSet::new();
    let mut vpcs = Vec::new();
    for w in wants {
        match w {
            Want::SgId(id, _) => {
                ids.insert(*id);
            }
            Want::SgName { name, vpc, .. } => {
                names.insert((*vpc, *name));
            }
            Want::Vpc(v) => vpcs.push(*v),
            Want::Nothing => {}
        }
    }
    let (ids, names): (Vec<&str>, Vec<(&str, &str)>) = (ids.into_iter().collect(), names.into_iter().collect());
    let (by_id, by_name, vpc_lives) =
        futures::join!(groups_by_id(p, &ids), groups_by_name(p, &names), read_vpcs(p, &vpcs));
    let mut vpc_lives = vpc_lives.into_iter();
    wants
        .iter()
        .map(|w| match w {
            Want::Nothing => Ok(None),
            Want::SgId(id, spec) => match &by_id {
                Ok(groups) => Ok(groups.iter().find(|g| g.group_id() == Some(id)).map(|g| sg_live(p, g, *spec))),
                Err(e) => Err(e.clone()),
            },
            Want::SgName { name, vpc, spec } => match &by_name {
                Ok(groups) => Ok(groups
                    .iter()
                    .find(|g| g.group_name() == Some(name) && g.vpc_id() == Some(vpc))
                    .map(|g| sg_live(p, g, Some(spec)))),
                Err(e) => Err(e.clone()),
            },
            Want::Vpc(_) => vpc_lives.next().expect("read_vpcs answers each of `vpcs`, one per Want::Vpc"),
        })
        .collect()
}

/// Security groups by filters, all pages.
async fn describe_groups(p: &AwsProvider, filters: Vec<Filter>) -> Result<Vec<SecurityGroup>, ProviderError> {
    let pages = p
        .ec2
        .describe_security_groups()
        .set_filters(Some(filters))
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_err("ec2:DescribeSecurityGroups", e))?;
    Ok(pages.into_iter().flat_map(|o| o.security_groups.unwrap_or_default()).collect())
}

/// Groups by id: with `GroupIds` (the API's own lookup, cheaper than a
/// filter); when one of them no longer exists that fails the whole call, and
/// the chunk is read again with the `group-id` filter, which leaves out what
/// is gone.
async fn groups_by_id(p: &AwsProvider, ids: &[&str]) -> Result<Vec<SecurityGroup>, ProviderError> {
    let calls = ids.chunks(FILTER_VALUES).map(|c| async move {
        let asked = c.iter().map(|id| id.to_string()).collect();
        let r = p.ec2.describe_security_groups().set_group_ids(Some(asked)).send().await;
        match r.map_err(|e| sdk_err("ec2:DescribeSecurityGroups", e)) {
            Ok(out) => Ok(out.security_groups.unwrap_or_default()),
            Err(e)
                if e.kind == ErrorKind::NotFound
                    || e.code.as_deref().is_some_and(|c| c.starts_with("InvalidGroup")) =>
            {
                describe_groups(p, vec![filter_of("group-id", c)]).await
            }
            Err(e) => Err(e),
        }
    });
    let found = futures::future::try_join_all(calls).await?;
    Ok(found.into_iter().flatten().collect())
}

/// Groups by name and VPC: every name with every VPC in one call (a group
/// is then picked by both), as many calls as the filter-value limit needs.
async fn groups_by_name(p: &AwsProvider, wanted: &[(&str, &str)]) -> Result<Vec<SecurityGroup>, ProviderError> {
    let vpcs: Vec<&str> = wanted.iter().map(|(v, _)| *v).collect::<BTreeSet<_>>().into_iter().collect();
    let mut calls = Vec::new();
    for vpc_chunk in vpcs.chunks(FILTER_VALUES / 2) {
        let names: Vec<&str> = wanted
            .iter()
            .filter(|(v, _)| vpc_chunk.contains(v))
            .map(|(_, n)| *n)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for name_chunk in names.chunks(FILTER_VALUES - vpc_chunk.len()) {
            calls.push(describe_groups(p, vec![filter_of("group-name", name_chunk), filter_of("vpc-id", vpc_chunk)]));
        }
    }
    let found = futures::future::try_join_all(calls).await?;
    Ok(found.into_iter().flatten().collect())
}

async fn describe_vpc(p: &AwsProvider, id: &str) -> Result<Option<Vpc>, ProviderError> {
    let out = found(p.ec2.describe_vpcs().vpc_ids(id).send().await.map_err(|e| sdk_err("ec2:DescribeVpcs", e)))?;
    Ok(out.and_then(|o| o.vpcs().first().cloned()))
}

/// VPCs by filters, all pages.
async fn describe_vpcs(p: &AwsProvider, filters: Vec<Filter>) -> Result<Vec<Vpc>, ProviderError> {
    let pages = p
        .ec2
        .describe_vpcs()
        .set_filters(Some(filters))
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_err("ec2:DescribeVpcs", e))?;
    Ok(pages.into_iter().flat_map(|o| o.vpcs.unwrap_or_default()).collect())
}

/// VPCs by id, each `Ok(None)` when it does not exist. One call for all;
/// if that fails (one id that does not exist fails it all), each on its
/// own.
async fn vpcs_by_id(p: &AwsProvider, ids: &[&str]) -> Vec<Result<Option<Vpc>, ProviderError>> {
    if ids.is_empty() {
        return Vec::new();
    }
    let all = p
        .ec2
        .describe_vpcs()
        .set_vpc_ids(Some(ids.iter().map(|s| s.to_string()).collect()))
        .send()
        .await
        .map_err(|e| sdk_err("ec2:DescribeVpcs", e));
    match all {
        Ok(out) => ids.iter().map(|id| Ok(out.vpcs().iter().find(|v| v.vpc_id() == Some(id)).cloned())).collect(),
        Err(e) if ids.len() == 1 => vec![found(Err(e)).map(Option::flatten)],
        Err(_) => futures::future::join_all(ids.iter().map(|id| describe_vpc(p, id))).await,
    }
}

/// Subnets by filters, all pages.
async fn describe_subnets(p: &AwsProvider, filters: Vec<Filter>) -> Result<Vec<Subnet>, ProviderError> {
    let pages = p
        .ec2
        .describe_subnets()
        .set_filters(Some(filters))
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_err("ec2:DescribeSubnets", e))?;
    Ok(pages.into_iter().flat_map(|o| o.subnets.unwrap_or_default()).collect())
}

/// The subnets of these VPCs.
async fn subnets_of(p: &AwsProvider, vpcs: &[&str]) -> Result<Vec<Subnet>, ProviderError> {
    let calls = vpcs.chunks(FILTER_VALUES).map(|c| describe_subnets(p, vec![filter_of("vpc-id", c)]));
    Ok(futures::future::try_join_all(calls).await?.into_iter().flatten().collect())
}

/// Runs `f` when `needed`, else gives the default at once.
async fn when<T: Default, F: std::future::Future<Output = T>>(needed: bool, f: F) -> T {
    if needed {
        f.await
    } else {
        T::default()
    }
}

/// The VPC lookups, in order. The VPCs and their subnets are read at the
/// same time: by id (a recorded or given id), the VPC and the subnets of
/// that VPC; the default VPC and the default-for-AZ subnets (only the
/// default VPC has those); a VPC found by its `Name` tag with
/// `subnet_tags`, and the subnets carrying those tags in any VPC (the
/// VPC's are picked once it is known). Only a VPC found by name without
/// `subnet_tags` needs its subnets read after. Each VPC and each set of
/// subnets is read once however many lookups ask for it.
async fn read_vpcs(p: &AwsProvider, wants: &[VpcWant<'_>]) -> Vec<Result<Option<Live>, ProviderError>> {
    if wants.is_empty() {
        return Vec::new();
    }
    let mut ids = BTreeSet::new();
    let mut names = BTreeSet::new();
    let mut default = false;
    for w in wants {
        match w.by {
            VpcBy::Id(id) => {
                ids.insert(id);
            }
            VpcBy::Name(n) => {
                names.insert(n);
            }
            VpcBy::Default => default = true,
        }
    }
    let ids: Vec<&str> = ids.into_iter().collect();
    let names: Vec<&str> = names.into_iter().collect();
    let tag_sets: Vec<&Tags> = wants
        .iter()
        .filter(|w| matches!(w.by, VpcBy::Name(_)) && !w.subnet_tags.is_empty())
        .map(|w| w.subnet_tags)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let tagged = async {
        // A tag asked for with an empty value is matched by its key here,
        // and by its value in vpc_live.
        let calls = tag_sets.iter().map(|tags| {
            let filters = tags
                .iter()
                .map(|(k, v)| match v.is_empty() {
                    true => filter("tag-key", k.as_str()),
                    false => filter(&format!("tag:{k}"), v.as_str()),
                })
                .collect();
            describe_subnets(p, filters)
        });
        let found = futures::future::try_join_all(calls).await;
        found.map(|v| v.into_iter().flatten().collect::<Vec<_>>())
    };
    let (by_id, the_default, named, id_subnets, default_subnets, tagged_subnets) = futures::join!(
        vpcs_by_id(p, &ids),
        when(default, async {
            Some(describe_vpcs(p, vec![filter("isDefault", "true")]).await.map(|v| v.into_iter().next()))
        }),
        when(!names.is_empty(), async {
            let calls = names.chunks(FILTER_VALUES).map(|c| describe_vpcs(p, vec![filter_of("tag:Name", c)]));
            Some(futures::future::try_join_all(calls).await.map(|v| v.into_iter().flatten().collect::<Vec<_>>()))
        }),
        when(!ids.is_empty(), async { Some(subnets_of(p, &ids).await) }),
        when(default, async { Some(describe_subnets(p, vec![filter("default-for-az", "true")]).await) }),
        when(!tag_sets.is_empty(), async { Some(tagged.await) }),
    );
    // A VPC found by name: exactly one may carry the name.
    let by_name = |name: &str| -> Result<Option<Vpc>, ProviderError> {
        let all = match &named {
            Some(Ok(all)) => all,
            Some(Err(e)) => return Err(e.clone()),
            None => return Ok(None),
        };
        let many: Vec<&Vpc> = all
            .iter()
            .filter(|v| {
                v.tags().iter().any(|t| t.key() == Some("Name") && filter_matches(name, t.value().unwrap_or("")))
            })
            .collect();
        match many.as_slice() {
            [] => Ok(None),
            [v] => Ok(Some((*v).clone())),
            many => {
                let ids: Vec<&str> = many.iter().filter_map(|v| v.vpc_id()).collect();
                Err(ProviderError::new(
                    ErrorKind::Rejected,
                    "ec2:DescribeVpcs",
                    format!(
                        "{} VPCs carry this Name tag ({}); find the VPC by `id` instead",
                        many.len(),
                        ids.join(", ")
                    ),
                ))
            }
        }
    };
    // Subnets still to read: those of the VPCs found by name without subnet tags.
    let untagged: BTreeSet<&str> = wants
        .iter()
        .filter(|w| w.subnet_tags.is_empty())
        .filter_map(|w| match w.by {
            VpcBy::Name(n) => Some(n),
            _ => None,
        })
        .collect();
    let named_ids: Vec<String> = untagged
        .iter()
        .filter_map(|n| by_name(n).ok().flatten())
        .filter_map(|v| v.vpc_id().map(str::to_string))
        .filter(|id| !ids.contains(&id.as_str()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let named_subnets = when(!named_ids.is_empty(), async {
        Some(subnets_of(p, &named_ids.iter().map(String::as_str).collect::<Vec<_>>()).await)
    })
    .await;
    let subnets_for = |w: &VpcWant, vpc_id: &str| -> Result<Vec<Subnet>, ProviderError> {
        let from = match w.by {
            VpcBy::Default => &default_subnets,
            _ if ids.contains(&vpc_id) => &id_subnets,
            VpcBy::Name(_) if !w.subnet_tags.is_empty() => &tagged_subnets,
            _ => &named_subnets,
        };
        match from {
            Some(Ok(s)) => Ok(s.iter().filter(|s| s.vpc_id() == Some(vpc_id)).cloned().collect()),
            Some(Err(e)) => Err(e.clone()),
            None => Ok(Vec::new()),
        }
    };
    wants
        .iter()
        .map(|w| {
            let vpc = match w.by {
                // `ids` holds every VpcBy::Id of `wants`, and vpcs_by_id answers each.
                VpcBy::Id(id) => by_id[ids.iter().position(|i| *i == id).expect("every Id is in `ids`")].clone()?,
                VpcBy::Default => the_default.clone().expect("a VpcBy::Default sets `default`, so it was read")?,
                VpcBy::Name(name) => by_name(name)?,
            };
            let Some(vpc) = vpc else { return Ok(None) };
            let subnets = subnets_for(w, vpc.vpc_id().unwrap_or_default())?;
            Ok(Some(vpc_live(&vpc, &subnets, w.subnet_tags, w.default_only)))
        })
        .collect()
}

/// A VPC with its subnets: the default-for-AZ ones of the default VPC, or
/// those carrying `subnet_tags` (`subnets` are the VPC's, maybe more).
fn vpc_live(vpc: &Vpc, subnets: &[Subnet], subnet_tags: &Tags, default_only: bool) -> Live {
    let vpc_id = vpc.vpc_id().unwrap_or_default().to_string();
    let mut subnets: Vec<String> = subnets
        .iter()
        .filter(|s| s.vpc_id() == Some(vpc_id.as_str()))
        // The filter of the request; it also keeps an emulator that ignores it honest.
        .filter(|s| !default_only || s.default_for_az().unwrap_or(true))
        .filter(|s| {
            subnet_tags.iter().all(|(k, v)| {
                s.tags().iter().any(|t| t.key() == Some(k.as_str()) && filter_matches(v, t.value().unwrap_or("")))
            })
        })
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    subnets.sort();
    subnets.dedup();
    let mut attrs = Attrs::new();
    attrs.insert("vpc_id".into(), json!(vpc_id));
    attrs.insert("cidr_block".into(), json!(vpc.cidr_block().unwrap_or_default()));
    attrs.insert("subnet_ids".into(), json!(subnets));
    let mut fields = Fields::new();
    if !default_only {
        fields.insert("id".into(), json!(vpc_id));
        if let Some(name) = vpc.tags().iter().find(|t| t.key() == Some("Name")).and_then(|t| t.value()) {
            fields.insert("name".into(), json!(name));
        }
    }
    Live { id: vpc_id, fields, attrs, tags: live_tags(vpc.tags()), uid: None }
}

// ---- security group rules --------------------------------------------------------

/// What a rule lets through, apart from its description.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key {
    /// `tcp`, `udp`, `icmp`, `-1` (all), or another protocol as AWS says it.
    proto: String,
    /// Port range (ICMP: type and code); `None` for all protocols.
    ports: Option<(i32, i32)>,
    peer: Peer,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Peer {
    V4(String),
    V6(String),
    Group(String),
    PrefixList(String),
}

#[derive(Debug, Clone, PartialEq)]
struct Atom {
    /// What it lets through, CIDR blocks normalized, for comparing.
    key: Key,
    /// The peer as written (file) or as stored (AWS), for calls.
    peer: Peer,
    description: Option<String>,
}

impl Atom {
    fn new(proto: &str, ports: Option<(i32, i32)>, peer: Peer, description: Option<String>) -> Atom {
        let norm = match &peer {
            Peer::V4(c) => Peer::V4(norm_cidr(c)),
            Peer::V6(c) => Peer::V6(norm_cidr(c)),
            other => other.clone(),
        };
        Atom { key: Key { proto: proto.into(), ports, peer: norm }, peer, description }
    }
}

/// A CIDR block in one spelling (`::0/0` is `::/0`, host bits cleared), so
/// AWS's rewriting of what the file says is no difference.
fn norm_cidr(c: &str) -> String {
    let Some((addr, len)) = c.trim().split_once('/') else {
        return c.to_string();
    };
    let Ok(len) = len.parse::<u32>() else {
        return c.to_string();
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) if len <= 32 => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            format!("{}/{len}", std::net::Ipv4Addr::from(u32::from(a) & mask))
        }
        Ok(std::net::IpAddr::V6(a)) if len <= 128 => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
            format!("{}/{len}", std::net::Ipv6Addr::from(u128::from(a) & mask))
        }
        _ => c.to_string(),
    }
}

fn norm_proto(p: &str) -> String {
    match p.to_ascii_lowercase().as_str() {
        "6" | "tcp" => "tcp".into(),
        "17" | "udp" => "udp".into(),
        "1" | "icmp" => "icmp".into(),
        "-1" | "all" => "-1".into(),
        other => other.to_string(),
    }
}

/// The atoms of a rule of the file.
fn rule_atoms(r: &Rule) -> Vec<Atom> {
    let (proto, ports) = match r.protocol {
        Protocol::All => ("-1", None),
        Protocol::Icmp => (
            "icmp",
            Some(match (r.port, &r.ports) {
                (Some(t), _) => (t as i32, -1),
                (None, Some(range)) => (range.from as i32, range.to as i32),
                (None, None) => (-1, -1),
            }),
        ),
        Protocol::Tcp | Protocol::Udp => (
            if r.protocol == Protocol::Tcp { "tcp" } else { "udp" },
            Some(match (r.port, &r.ports) {
                (Some(p), _) => (p as i32, p as i32),
                (None, Some(range)) => (range.from as i32, range.to as i32),
                (None, None) => (0, 65535),
            }),
        ),
    };
    let peers = r
        .cidr
        .iter()
        .chain(&r.cidrs)
        .map(|c| Peer::V4(c.clone()))
        .chain(r.ipv6_cidrs.iter().map(|c| Peer::V6(c.clone())))
        .chain(r.source_group.iter().map(|g| Peer::Group(g.clone())));
    let mut seen = BTreeSet::new();
    peers.filter(|p| seen.insert(p.clone())).map(|peer| Atom::new(proto, ports, peer, r.description.clone())).collect()
}

/// The atoms of the file's rules, each once.
fn want_atoms(rules: &[Rule]) -> Vec<Atom> {
    let mut want: Vec<Atom> = Vec::new();
    for a in rules.iter().flat_map(rule_atoms) {
        if !want.iter().any(|w| w.key == a.key) {
            want.push(a);
        }
    }
    want
}

/// The atoms of live permissions.
fn perm_atoms(perms: &[IpPermission]) -> Vec<Atom> {
    let mut out = Vec::new();
    for perm in perms {
        let proto = norm_proto(perm.ip_protocol().unwrap_or("-1"));
        let ports =
            if proto == "-1" { None } else { Some((perm.from_port().unwrap_or(-1), perm.to_port().unwrap_or(-1))) };
        let atom =
            |peer, d: Option<&str>| Atom::new(&proto, ports, peer, d.filter(|d| !d.is_empty()).map(str::to_string));
        for r in perm.ip_ranges() {
            if let Some(c) = r.cidr_ip() {
                out.push(atom(Peer::V4(c.into()), r.description()));
            }
        }
        for r in perm.ipv6_ranges() {
            if let Some(c) = r.cidr_ipv6() {
                out.push(atom(Peer::V6(c.into()), r.description()));
            }
        }
        for g in perm.user_id_group_pairs() {
            if let Some(id) = g.group_id() {
                out.push(atom(Peer::Group(id.into()), g.description()));
            }
        }
        for pl in perm.prefix_list_ids() {
            if let Some(id) = pl.prefix_list_id() {
                out.push(atom(Peer::PrefixList(id.into()), pl.description()));
            }
        }
    }
    out
}

/// One live atom as a rule of the file would say it.
fn canonical_rule(a: &Atom) -> Value {
    let mut m = serde_json::Map::new();
    let proto = match a.key.proto.as_str() {
        "-1" => "all",
        p => p,
    };
    m.insert("protocol".into(), json!(proto));
    if let Some((from, to)) = a.key.ports {
        let icmp = a.key.proto == "icmp";
        if icmp && from == -1 {
            // every type
        } else if (icmp && to == -1) || (!icmp && from == to) {
            m.insert("port".into(), json!(from));
        } else {
            m.insert("ports".into(), json!({ "from": from, "to": to }));
        }
    }
    match &a.peer {
        Peer::V4(c) => m.insert("cidr".into(), json!(c)),
        Peer::V6(c) => m.insert("ipv6_cidrs".into(), json!([c])),
        Peer::Group(g) => m.insert("source_group".into(), json!(g)),
        Peer::PrefixList(pl) => m.insert("prefix_list".into(), json!(pl)),
    };
    if let Some(d) = &a.description {
        m.insert("description".into(), json!(d));
    }
    Value::Object(m)
}

/// Live atoms in the shape of the file's rules (see the module comment).
fn project(desired: &[Rule], live: Vec<Atom>) -> Vec<Value> {
    let mut left: Vec<Option<Atom>> = live.into_iter().map(Some).collect();
    let mut out = Vec::new();
    for r in desired {
        let atoms = rule_atoms(r);
        if atoms.is_empty() {
            continue;
        }
        let idx: Option<Vec<usize>> =
            atoms.iter().map(|a| left.iter().position(|l| l.as_ref().is_some_and(|l| l.key == a.key))).collect();
        let Some(idx) = idx else { continue };
        let mut v = serde_json::to_value(r).expect("plain data, string keys: infallible");
        if let (Some(want), Value::Object(m)) = (&r.description, &mut v) {
            let other = idx
                .iter()
                .filter_map(|i| left[*i].as_ref())
                .map(|a| a.description.clone())
                .find(|d| d.as_ref() != Some(want));
            match other {
                Some(Some(d)) => {
                    m.insert("description".into(), json!(d));
                }
                Some(None) => {
                    m.remove("description");
                }
                None => {}
            }
        }
        for i in idx {
            left[i] = None;
        }
        out.push(v);
    }
    out.extend(left.iter().flatten().map(canonical_rule));
    out
}

fn permission(a: &Atom) -> IpPermission {
    let mut b = IpPermission::builder().ip_protocol(&a.key.proto);
    if let Some((from, to)) = a.key.ports {
        b = b.from_port(from).to_port(to);
    }
    let d = a.description.clone();
    match &a.peer {
        Peer::V4(c) => b.ip_ranges(IpRange::builder().cidr_ip(c).set_description(d).build()),
        Peer::V6(c) => b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).set_description(d).build()),
        Peer::Group(g) => b.user_id_group_pairs(UserIdGroupPair::builder().group_id(g).set_description(d).build()),
        Peer::PrefixList(pl) => {
            b.prefix_list_ids(PrefixListId::builder().prefix_list_id(pl).set_description(d).build())
        }
    }
    .build()
}

#[derive(Clone, Copy, PartialEq)]
enum Dir {
    Ingress,
    Egress,
}

async fn authorize(p: &AwsProvider, group: &str, dir: Dir, atoms: &[Atom]) -> Result<(), ProviderError> {
    if atoms.is_empty() {
        return Ok(());
    }
    let call = |perms: Vec<IpPermission>| async move {
        match dir {
            Dir::Ingress => p
                .ec2
                .authorize_security_group_ingress()
                .group_id(group)
                .set_ip_permissions(Some(perms))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_err("ec2:AuthorizeSecurityGroupIngress", e)),
            Dir::Egress => p
                .ec2
                .authorize_security_group_egress()
                .group_id(group)
                .set_ip_permissions(Some(perms))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_err("ec2:AuthorizeSecurityGroupEgress", e)),
        }
    };
    // A group created a moment ago may not be visible yet.
    let all: Vec<IpPermission> = atoms.iter().map(permission).collect();
    match eventually(|| call(all.clone()), |e| e.kind == ErrorKind::NotFound).await {
        Err(e) if e.code.as_deref() == Some("InvalidPermission.Duplicate") => {
            // Some exist already: add the others one by one.
            for a in atoms {
                match call(vec![permission(a)]).await {
                    Err(e) if e.code.as_deref() == Some("InvalidPermission.Duplicate") => {}
                    other => other?,
                }
            }
            Ok(())
        }
        other => other,
    }
}

async fn revoke(p: &AwsProvider, group: &str, dir: Dir, atoms: &[Atom]) -> Result<(), ProviderError> {
    if atoms.is_empty() {
        return Ok(());
    }
    let perms: Vec<IpPermission> = atoms.iter().map(permission).collect();
    let r = match dir {
        Dir::Ingress => p
            .ec2
            .revoke_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(perms))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_err("ec2:RevokeSecurityGroupIngress", e)),
        Dir::Egress => p
            .ec2
            .revoke_security_group_egress()
            .group_id(group)
            .set_ip_permissions(Some(perms))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_err("ec2:RevokeSecurityGroupEgress", e)),
    };
    // Already revoked is what was wanted.
    found(r).map(|_| ())
}

async fn update_descriptions(p: &AwsProvider, group: &str, dir: Dir, atoms: &[Atom]) -> Result<(), ProviderError> {
    if atoms.is_empty() {
        return Ok(());
    }
    let perms: Vec<IpPermission> = atoms.iter().map(permission).collect();
    match dir {
        Dir::Ingress => p
            .ec2
            .update_security_group_rule_descriptions_ingress()
            .group_id(group)
            .set_ip_permissions(Some(perms))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_err("ec2:UpdateSecurityGroupRuleDescriptionsIngress", e)),
        Dir::Egress => p
            .ec2
            .update_security_group_rule_descriptions_egress()
            .group_id(group)
            .set_ip_permissions(Some(perms))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_err("ec2:UpdateSecurityGroupRuleDescriptionsEgress", e)),
    }
}

/// Makes the group's rules of one direction exactly the file's: adds the
/// missing ones first (so traffic the file allows never stops), then
/// revokes the others, then fixes descriptions the file sets.
async fn sync_rules(
    p: &AwsProvider,
    group: &str,
    dir: Dir,
    desired: &[Rule],
    live: &[IpPermission],
) -> Result<(), ProviderError> {
    let want = want_atoms(desired);
    let have = perm_atoms(live);
    let add: Vec<Atom> = want.iter().filter(|w| !have.iter().any(|h| h.key == w.key)).cloned().collect();
    let drop: Vec<Atom> = have.iter().filter(|h| !want.iter().any(|w| w.key == h.key)).cloned().collect();
    // The rule as AWS stores it, with the file's description.
    let describe: Vec<Atom> = want
        .iter()
        .filter(|w| w.description.is_some())
        .filter_map(|w| {
            let h = have.iter().find(|h| h.key == w.key && h.description != w.description)?;
            Some(Atom { description: w.description.clone(), ..h.clone() })
        })
        .collect();
    authorize(p, group, dir, &add).await?;
    revoke(p, group, dir, &drop).await?;
    update_descriptions(p, group, dir, &describe).await
}

// ---- security groups ---------------------------------------------------------------

async fn describe_sg(p: &AwsProvider, id: &str) -> Result<Option<SecurityGroup>, ProviderError> {
    let out = found(
        p.ec2
            .describe_security_groups()
            .group_ids(id)
            .send()
            .await
            .map_err(|e| sdk_err("ec2:DescribeSecurityGroups", e)),
    )?;
    Ok(out.and_then(|o| o.security_groups().iter().find(|g| g.group_id() == Some(id)).cloned()))
}

fn sg_live(p: &AwsProvider, sg: &SecurityGroup, spec: Option<&SgSpec>) -> Live {
    let id = sg.group_id().unwrap_or_default().to_string();
    let name = sg.group_name().unwrap_or_default();
    let vpc = sg.vpc_id().unwrap_or_default();
    let arn = match sg.security_group_arn() {
        Some(a) => a.to_string(),
        None => format!(
            "arn:{}:ec2:{}:{}:security-group/{id}",
            partition(&p.region),
            p.region,
            sg.owner_id().unwrap_or_default()
        ),
    };
    let no_rules: &[Rule] = &[];
    let ingress = project(spec.map_or(no_rules, |s| &s.ingress), perm_atoms(sg.ip_permissions()));
    let egress =
        project(spec.and_then(|s| s.egress.as_deref()).unwrap_or(no_rules), perm_atoms(sg.ip_permissions_egress()));
    let mut fields = Fields::new();
    fields.insert("name".into(), json!(name));
    fields.insert("description".into(), json!(sg.description().unwrap_or_default()));
    fields.insert("vpc".into(), json!(vpc));
    fields.insert("ingress".into(), Value::Array(ingress));
    fields.insert("egress".into(), Value::Array(egress));
    let attrs = sg_attrs(&id, name, &arn, vpc);
    Live { id, fields, attrs, tags: live_tags(sg.tags()), uid: None }
}

/// A security group's exported attributes.
fn sg_attrs(id: &str, name: &str, arn: &str, vpc: &str) -> Attrs {
    Attrs::from([
        ("id".to_string(), json!(id)),
        ("name".to_string(), json!(name)),
        ("arn".to_string(), json!(arn)),
        ("vpc_id".to_string(), json!(vpc)),
    ])
}

/// Reads a group moor just wrote, waiting out EC2's eventual consistency.
async fn read_back(p: &AwsProvider, id: &str, spec: &SgSpec) -> Result<Live, ProviderError> {
    let sg = wait(
        &p.opts,
        p.opts.wait_timeout.min(std::time::Duration::from_secs(60)),
        "ec2:DescribeSecurityGroups",
        "the new security group to be visible",
        || describe_sg(p, id),
    )
    .await?;
    Ok(sg_live(p, &sg, Some(spec)))
}

async fn create_sg(p: &AwsProvider, t: &Target, spec: &SgSpec) -> Result<Live, ProviderError> {
    let name = t.name.as_deref().or(spec.name.as_deref()).unwrap_or(&t.logical);
    let out = p
        .ec2
        .create_security_group()
        .group_name(name)
        .description(spec.description.as_deref().unwrap_or(DEFAULT_DESCRIPTION))
        .vpc_id(&spec.vpc)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .set_tags(Some(ec2_tags(&t.tags)))
                .build(),
        )
        .send()
        .await
        .map_err(|e| sdk_err("ec2:CreateSecurityGroup", e))?;
    let Some(id) = out.group_id().map(str::to_string) else {
        return Err(ProviderError::new(ErrorKind::Rejected, "ec2:CreateSecurityGroup", "AWS returned no group id"));
    };
    let ingress = want_atoms(&spec.ingress);
    // Ingress and egress side by side: neither needs the other.
    let (i, e) = futures::join!(authorize(p, &id, Dir::Ingress, &ingress), async {
        match &spec.egress {
            // Replace AWS's default allow-all with the file's rules.
            Some(egress) => {
                let sg = read_group(p, &id).await?;
                sync_rules(p, &id, Dir::Egress, egress, sg.ip_permissions_egress()).await
            }
            None => Ok(()),
        }
    });
    i?;
    e?;
    // A call on the group has shown it exists, and CreateSecurityGroup gave
    // its ARN: the group is what was just written, not read back.
    match out.security_group_arn() {
        Some(arn) if !ingress.is_empty() || spec.egress.is_some() => {
            let attrs = sg_attrs(&id, name, arn, &spec.vpc);
            let fields = crate::provider::desired_fields(&t.spec, Some(name));
            Ok(Live { id, fields, attrs, tags: t.tags.clone(), uid: None })
        }
        _ => read_back(p, &id, spec).await,
    }
}

/// The group as it is now, waiting for a new one to be visible.
async fn read_group(p: &AwsProvider, id: &str) -> Result<SecurityGroup, ProviderError> {
    wait(
        &p.opts,
        p.opts.wait_timeout.min(std::time::Duration::from_secs(60)),
        "ec2:DescribeSecurityGroups",
        "the security group to be visible",
        || describe_sg(p, id),
    )
    .await
}

async fn update_sg(
    p: &AwsProvider,
    t: &Target,
    spec: &SgSpec,
    live: &Live,
    changed: &[String],
) -> Result<Live, ProviderError> {
    let id = live.id.as_str();
    let has = |f: &str| changed.iter().any(|c| c == f);
    if has("ingress") || has("egress") {
        let sg = read_group(p, id).await?;
        if has("ingress") {
            sync_rules(p, id, Dir::Ingress, &spec.ingress, sg.ip_permissions()).await?;
        }
        if let (true, Some(egress)) = (has("egress"), &spec.egress) {
            sync_rules(p, id, Dir::Egress, egress, sg.ip_permissions_egress()).await?;
        }
    }
    if has("tags") {
        super::retag(
            &t.tags,
            &live.tags,
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
        .await?;
    }
    read_back(p, id, spec).await
}

/// Network interfaces that use the group, as `eni-… (description)`.
async fn interfaces_using(p: &AwsProvider, id: &str) -> Result<Vec<String>, ProviderError> {
    let pages = p
        .ec2
        .describe_network_interfaces()
        .filters(filter("group-id", id))
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_err("ec2:DescribeNetworkInterfaces", e))?;
    Ok(pages
        .iter()
        .flat_map(|o| o.network_interfaces())
        .filter(|n| n.groups().iter().any(|g| g.group_id() == Some(id)))
        .filter_map(|n| {
            let eni = n.network_interface_id()?;
            Some(match n.description().filter(|d| !d.is_empty()) {
                Some(d) => format!("{eni} ({d})"),
                None => eni.to_string(),
            })
        })
        .collect())
}

/// Other groups whose rules name this one.
async fn groups_referencing(p: &AwsProvider, id: &str) -> Result<Vec<String>, ProviderError> {
    let mut out = BTreeSet::new();
    for f in ["ip-permission.group-id", "egress.ip-permission.group-id"] {
        let r = p
            .ec2
            .describe_security_groups()
            .filters(filter(f, id))
            .send()
            .await
            .map_err(|e| sdk_err("ec2:DescribeSecurityGroups", e))?;
        for g in r.security_groups() {
            if let Some(gid) = g.group_id().filter(|g| *g != id) {
                out.insert(format!("{gid} ({})", g.group_name().unwrap_or_default()));
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// Revokes the rules of the stack's other groups that name `sg`: AWS
/// refuses to delete a group that another group's rule names
/// (DependencyViolation), and groups of one stack may name each other
/// (late references). Groups of other stacks, or of none, are left alone:
/// the delete then waits and says which groups still name it.
async fn revoke_stack_rules_naming(p: &AwsProvider, sg: &SecurityGroup) -> Result<(), ProviderError> {
    let id = sg.group_id().unwrap_or_default();
    let stack = sg.tags().iter().find(|t| t.key() == Some(crate::provider::TAG_STACK)).and_then(|t| t.value());
    let Some(stack) = stack else { return Ok(()) };
    let others = describe_groups(p, vec![filter(&format!("tag:{}", crate::provider::TAG_STACK), stack)]).await?;
    let naming = |perms: &[IpPermission]| -> Vec<Atom> {
        perm_atoms(perms).into_iter().filter(|a| a.key.peer == Peer::Group(id.to_string())).collect()
    };
    for g in others.iter().filter(|g| g.group_id().is_some_and(|g| g != id)) {
        let gid = g.group_id().unwrap_or_default();
        let (ingress, egress) = (naming(g.ip_permissions()), naming(g.ip_permissions_egress()));
        let (i, e) = futures::join!(revoke(p, gid, Dir::Ingress, &ingress), revoke(p, gid, Dir::Egress, &egress));
        i?;
        e?;
    }
    Ok(())
}

async fn delete_sg(p: &AwsProvider, id: &str) -> Result<(), ProviderError> {
    if unresolved(id) {
        return Ok(());
    }
    // The group and the interfaces that use it, side by side.
    let (sg, enis) = futures::join!(describe_sg(p, id), interfaces_using(p, id));
    let Some(sg) = sg? else {
        return Ok(());
    };
    let enis = Mutex::new(Some(enis?));
    // Rules that name other groups would keep those from being deleted.
    let refs = |perms: &[IpPermission]| -> Vec<Atom> {
        perm_atoms(perms).into_iter().filter(|a| matches!(a.key.peer, Peer::Group(_))).collect()
    };
    let (ingress, egress) = (refs(sg.ip_permissions()), refs(sg.ip_permissions_egress()));
    let (i, e) = futures::join!(revoke(p, id, Dir::Ingress, &ingress), revoke(p, id, Dir::Egress, &egress));
    i?;
    e?;
    revoke_stack_rules_naming(p, &sg).await?;

    // Load balancers and tasks leave interfaces behind for minutes.
    let blockers: Mutex<(Vec<String>, Option<ProviderError>)> = Mutex::new((Vec::new(), None));
    let blockers_ref = &blockers;
    let enis_ref = &enis;
    let r = wait(
        &p.opts,
        p.opts.wait_timeout,
        "ec2:DeleteSecurityGroup",
        "the security group to be free",
        move || async move {
            // The first look was made with the describe above.
            let first = enis_ref.lock().unwrap_or_else(PoisonError::into_inner).take();
            let enis = match first {
                Some(enis) => enis,
                None => interfaces_using(p, id).await?,
            };
            if !enis.is_empty() {
                *blockers_ref.lock().unwrap_or_else(PoisonError::into_inner) = (enis, None);
                return Ok(None);
            }
            match p
                .ec2
                .delete_security_group()
                .group_id(id)
                .send()
                .await
                .map_err(|e| sdk_err("ec2:DeleteSecurityGroup", e))
            {
                Ok(_) => Ok(Some(())),
                Err(e) if e.kind == ErrorKind::NotFound => Ok(Some(())),
                Err(e) if e.kind == ErrorKind::InUse => {
                    let groups = groups_referencing(p, id).await.unwrap_or_default();
                    *blockers_ref.lock().unwrap_or_else(PoisonError::into_inner) = (groups, Some(e));
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        },
    )
    .await;
    match r {
        Err(e) if e.kind == ErrorKind::Wait => {
            let (names, last) = blockers.into_inner().unwrap_or_else(PoisonError::into_inner);
            let secs = p.opts.wait_timeout.as_secs();
            let message = match (&last, names.is_empty()) {
                (None, false) => format!(
                    "the group is still used by network interface(s) {} after {secs}s; they belong to load balancers or tasks that are still going away (or to something outside this stack)",
                    names.join(", ")
                ),
                (Some(_), false) => format!(
                    "the group is still referenced by the rules of security group(s) {} after {secs}s; remove those rules or delete those groups first",
                    names.join(", ")
                ),
                (Some(last), true) => format!("the group is still in use after {secs}s: {}", last.message),
                (None, true) => format!("the group is still in use after {secs}s"),
            };
            Err(ProviderError::new(ErrorKind::InUse, "ec2:DeleteSecurityGroup", message)
                .with_code("DependencyViolation"))
        }
        other => other,
    }
}

/// EC2's reads, which take no resource.
pub(super) fn ec2_describe(actions: &[&'static str]) -> Grant {
    Grant::any(Phase::Read, actions, "EC2's Describe calls take no resource")
}

/// The ARNs of EC2 resources of these types (`security-group`): their ids
/// are made by AWS.
pub(super) fn ec2_any(at: &Scope, types: &[&str]) -> Vec<String> {
    types.iter().map(|t| at.arn("ec2", &format!("{t}/*"))).collect()
}

/// The grants of an EC2 kind whose resources are of type `own` (ids AWS
/// makes, so scoped by the stack's tag): `create` on new resources only
/// when the request tags them as the stack's (and the tags sent with it),
/// on `parents` (the VPC a group is made in) as they are; `change` and
/// `delete` only on resources tagged as the stack's, and the parents they
/// also touch (`touch`: the changes and deletes AWS also checks against
/// the parents); tags set or removed only on the stack's.
#[allow(clippy::too_many_arguments)]
pub(super) fn ec2_owned(
    at: &Scope,
    own: &str,
    parents: &[&str],
    touch: &[&'static str],
    create: &[&'static str],
    change: &[&'static str],
    delete: &[&'static str],
) -> Vec<Grant> {
    let why = "EC2 gives new resources ids it makes: scoped to those tagged as the stack's";
    let mine = ec2_any(at, &[own]);
    let create_actions: Vec<String> = create.iter().map(|a| a.trim_start_matches("ec2:").to_string()).collect();
    let mut g = vec![
        Grant::on(Phase::Create, create, mine.clone()).tagged_on_create(&at.stack).because(why),
        Grant::on(Phase::Create, &["ec2:CreateTags"], mine.clone())
            .when("StringEquals", "ec2:CreateAction", create_actions)
            .within(create),
        Grant::on(Phase::Tag, &["ec2:CreateTags", "ec2:DeleteTags"], mine.clone()).owned(&at.stack).because(why),
    ];
    if !change.is_empty() {
        g.push(Grant::on(Phase::Update, change, mine.clone()).owned(&at.stack).because(why));
    }
    if !delete.is_empty() {
        g.push(Grant::on(Phase::Delete, delete, mine).owned(&at.stack).because(why));
    }
    if !parents.is_empty() {
        let all: Vec<&'static str> = create.iter().chain(touch).copied().collect();
        g.push(
            Grant::on(Phase::Create, &all, ec2_any(at, parents))
                .because("the resources it is made in or attached to may be the account's (a default VPC)"),
        );
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(v: Value) -> Rule {
        serde_json::from_value(v).unwrap()
    }

    fn atom(proto: &str, ports: Option<(i32, i32)>, peer: Peer) -> Atom {
        Atom::new(proto, ports, peer, None)
    }

    #[test]
    fn filter_values_match_as_ec2_matches_them() {
        assert!(filter_matches("prod", "prod"));
        assert!(!filter_matches("prod", "prod-2"));
        assert!(filter_matches("prod-*", "prod-2"));
        assert!(filter_matches("prod-*", "prod-"));
        assert!(filter_matches("p?od", "prod"));
        assert!(!filter_matches("p?od", "pod"));
        assert!(filter_matches(r"a\*", "a*"));
        assert!(!filter_matches(r"a\*", "ab"));
    }

    #[test]
    fn a_rule_with_two_cidrs_matches_two_live_atoms() {
        let r = rule(json!({"port": 80, "cidrs": ["10.0.0.0/8", "192.168.0.0/16"]}));
        let live = vec![
            atom("tcp", Some((80, 80)), Peer::V4("192.168.0.0/16".into())),
            atom("tcp", Some((80, 80)), Peer::V4("10.0.0.0/8".into())),
        ];
        let out = project(std::slice::from_ref(&r), live);
        assert_eq!(out, vec![serde_json::to_value(&r).unwrap()]);
    }

    #[test]
    fn missing_and_extra_atoms_show() {
        let r = rule(json!({"ports": {"from": 8000, "to": 8100}, "cidr": "10.0.0.0/8"}));
        assert_eq!(rule_atoms(&r)[0].key.ports, Some((8000, 8100)));
        let live = vec![atom("-1", None, Peer::V4("0.0.0.0/0".into()))];
        let out = project(&[r], live);
        assert_eq!(out, vec![json!({"protocol": "all", "cidr": "0.0.0.0/0"})]);
    }

    #[test]
    fn cidr_blocks_compare_in_one_spelling() {
        assert_eq!(norm_cidr("::0/0"), "::/0");
        assert_eq!(norm_cidr("2001:DB8:0::/32"), "2001:db8::/32");
        assert_eq!(norm_cidr("10.1.2.3/8"), "10.0.0.0/8");
        assert_eq!(norm_cidr("0.0.0.0/0"), "0.0.0.0/0");
        assert_eq!(norm_cidr("${x.y}"), "${x.y}");
        let r = rule(json!({"port": 443, "ipv6_cidrs": ["::0/0"]}));
        let out = project(std::slice::from_ref(&r), vec![atom("tcp", Some((443, 443)), Peer::V6("::/0".into()))]);
        assert_eq!(out, vec![serde_json::to_value(&r).unwrap()]);
    }

    #[test]
    fn descriptions_the_file_sets_are_compared() {
        let r = rule(json!({"port": 80, "cidr": "0.0.0.0/0", "description": "web"}));
        let mut live = atom("tcp", Some((80, 80)), Peer::V4("0.0.0.0/0".into()));
        live.description = Some("old".into());
        let out = project(std::slice::from_ref(&r), vec![live.clone()]);
        assert_eq!(out[0]["description"], json!("old"));
        // Without a description in the file, AWS's is no difference.
        let r = rule(json!({"port": 80, "cidr": "0.0.0.0/0"}));
        let out = project(std::slice::from_ref(&r), vec![live]);
        assert_eq!(out, vec![serde_json::to_value(&r).unwrap()]);
    }

    #[test]
    fn icmp_and_all_traffic_rules_round_trip() {
        for v in [
            json!({"protocol": "icmp", "cidr": "10.0.0.0/8"}),
            json!({"protocol": "icmp", "port": 8, "cidr": "10.0.0.0/8"}),
            json!({"protocol": "all", "source_group": "sg-1"}),
            json!({"protocol": "udp", "ports": {"from": 1000, "to": 2000}, "cidr": "10.0.0.0/8"}),
        ] {
            let r = rule(v.clone());
            let atoms = rule_atoms(&r);
            let out = project(&[], atoms.clone());
            assert_eq!(out.len(), 1);
            // The canonical form of the live atom is the rule itself.
            assert!(crate::plan::matches(&serde_json::to_value(&r).unwrap(), &out[0], "ingress"), "{v} vs {}", out[0]);
            assert_eq!(project(std::slice::from_ref(&r), atoms), vec![serde_json::to_value(&r).unwrap()]);
        }
    }
}
