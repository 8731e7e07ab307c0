//! A VPC of the stack's own against the moto emulator: a VPC, two public
//! subnets in two zones, an internet gateway and a public route table, with
//! a security group and a load balancer in them, apply with no drift
//! afterwards, change in place (a route, a subnet association, a tag,
//! `map_public_ip_on_launch`, DNS hostnames), and destroy leaves none of
//! them; a VPC made by hand is adopted with `moor import`. Subnet zones
//! written as `${region}a`, from a list variable or from another subnet
//! apply clean, and one a reference makes wrong is a located plan problem.

mod support;

use moor::plan::{Action, Plan};
use moor::provider::aws::AwsProvider;
use std::collections::{BTreeMap, BTreeSet};
use support::{apply_clean, converge, empty, load, make_plan, provider};

const STACK: &str = r#"
stack: @STACK@
tags:
  team: web
resources:
  net:
    kind: ec2/vpc
    cidr: 10.20.0.0/16
    enable_dns_hostnames: true
    tags: { tier: @TIER@ }
  public_a:
    kind: ec2/subnet
    vpc: ${net.id}
    cidr: 10.20.1.0/24
    availability_zone: us-east-1a
    map_public_ip_on_launch: @PUBLIC_IP@
  public_b:
    kind: ec2/subnet
    vpc: ${net.id}
    cidr: 10.20.2.0/24
    availability_zone: us-east-1b
    name: public-b
  igw:
    kind: ec2/internet_gateway
    vpc: ${net.id}
  public:
    kind: ec2/route_table
    vpc: ${net.id}
    routes:
      - { cidr: 0.0.0.0/0, gateway: "${igw.id}" }
@ROUTES@    subnets: [@SUBNETS@]
  lb_sg:
    kind: ec2/security_group
    vpc: ${net.vpc_id}
    ingress:
      - { port: 80, cidr: 0.0.0.0/0 }
  lb:
    kind: elbv2/load_balancer
    subnets: ["${public_a.id}", "${public_b.id}"]
    security_groups: ["${lb_sg.id}"]
"#;

fn stack(name: &str, subs: &[(&str, &str)]) -> moor::model::Stack {
    let mut text = STACK.replace("@STACK@", name);
    for (k, v) in [
        ("TIER", "edge"),
        ("PUBLIC_IP", "false"),
        ("ROUTES", ""),
        ("SUBNETS", "\"${public_a.id}\", \"${public_b.id}\""),
    ] {
        let v = subs.iter().find(|(s, _)| *s == k).map_or(v, |(_, v)| *v);
        text = text.replace(&format!("@{k}@"), v);
    }
    load(&text, &[])
}

fn changed(pl: &Plan, resource: &str) -> BTreeSet<String> {
    pl.change(resource)
        .unwrap_or_else(|| panic!("{resource} in {:#?}", pl.changes))
        .diffs
        .iter()
        .map(|d| d.field.clone())
        .collect()
}

fn set(fields: &[&str]) -> BTreeSet<String> {
    fields.iter().map(|s| s.to_string()).collect()
}

fn tags_of(tags: &[aws_sdk_ec2::types::Tag]) -> BTreeMap<String, String> {
    tags.iter().map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())).collect()
}

async fn vpc(p: &AwsProvider, id: &str) -> Option<aws_sdk_ec2::types::Vpc> {
    let f = aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(id).build();
    p.ec2.describe_vpcs().filters(f).send().await.expect("describe").vpcs().first().cloned()
}

async fn subnet(p: &AwsProvider, id: &str) -> Option<aws_sdk_ec2::types::Subnet> {
    let f = aws_sdk_ec2::types::Filter::builder().name("subnet-id").values(id).build();
    p.ec2.describe_subnets().filters(f).send().await.expect("describe").subnets().first().cloned()
}

async fn gateway(p: &AwsProvider, id: &str) -> Option<aws_sdk_ec2::types::InternetGateway> {
    let f = aws_sdk_ec2::types::Filter::builder().name("internet-gateway-id").values(id).build();
    p.ec2.describe_internet_gateways().filters(f).send().await.expect("describe").internet_gateways().first().cloned()
}

async fn table(p: &AwsProvider, id: &str) -> Option<aws_sdk_ec2::types::RouteTable> {
    let f = aws_sdk_ec2::types::Filter::builder().name("route-table-id").values(id).build();
    p.ec2.describe_route_tables().filters(f).send().await.expect("describe").route_tables().first().cloned()
}

fn routes(t: &aws_sdk_ec2::types::RouteTable) -> BTreeSet<(String, String)> {
    t.routes()
        .iter()
        .filter(|r| r.gateway_id() != Some("local"))
        .map(|r| {
            let target = r.gateway_id().or(r.nat_gateway_id()).unwrap_or_default();
            (r.destination_cidr_block().unwrap_or_default().to_string(), target.to_string())
        })
        .collect()
}

fn associated(t: &aws_sdk_ec2::types::RouteTable) -> BTreeSet<String> {
    t.associations()
        .iter()
        .filter(|a| a.main() != Some(true))
        .filter_map(|a| a.subnet_id())
        .map(str::to_string)
        .collect()
}

async fn dns_hostnames(p: &AwsProvider, id: &str) -> Option<bool> {
    let out = p
        .ec2
        .describe_vpc_attribute()
        .vpc_id(id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .expect("attribute");
    out.enable_dns_hostnames().and_then(|v| v.value())
}

#[tokio::test]
async fn a_vpc_with_public_subnets_applies_clean_changes_in_place_and_destroys_to_nothing() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let v1 = stack("t-vpc-life", &[]);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let id = |r: &str| state.resources[r].id.clone();
    let (net, a, b, igw, rt) = (id("net"), id("public_a"), id("public_b"), id("igw"), id("public"));

    // The VPC, tagged as the stack's, with its Name and DNS hostnames.
    assert!(net.starts_with("vpc-"), "{net}");
    let v = vpc(&p, &net).await.expect("made");
    assert_eq!(v.cidr_block(), Some("10.20.0.0/16"));
    let t = tags_of(v.tags());
    for (k, want) in [
        ("moor:stack", "t-vpc-life"),
        ("moor:resource", "net"),
        ("team", "web"),
        ("tier", "edge"),
        ("Name", "t-vpc-life-net"),
    ] {
        assert_eq!(t.get(k).map(String::as_str), Some(want), "{k} in {t:?}");
    }
    assert_eq!(dns_hostnames(&p, &net).await, Some(true));
    let attrs = &state.resources["net"].attrs;
    assert_eq!(
        (&attrs["id"], &attrs["vpc_id"], &attrs["cidr"]),
        (&net.clone().into(), &net.clone().into(), &"10.20.0.0/16".into())
    );
    assert!(attrs["default_security_group_id"].as_str().is_some_and(|s| s.starts_with("sg-")), "{attrs:?}");

    // Two subnets in two zones, the second with the Name the file gives.
    let sa = subnet(&p, &a).await.expect("made");
    let sb = subnet(&p, &b).await.expect("made");
    assert_eq!(
        (sa.vpc_id(), sa.availability_zone(), sa.cidr_block()),
        (Some(net.as_str()), Some("us-east-1a"), Some("10.20.1.0/24"))
    );
    assert_eq!((sb.vpc_id(), sb.availability_zone()), (Some(net.as_str()), Some("us-east-1b")));
    assert_eq!(tags_of(sb.tags()).get("Name").map(String::as_str), Some("public-b"));
    assert_eq!(state.resources["public_a"].attrs["availability_zone"], "us-east-1a");

    // The gateway is attached; the table routes to it and holds both subnets.
    let g = gateway(&p, &igw).await.expect("made");
    assert_eq!(g.attachments().first().and_then(|x| x.vpc_id()), Some(net.as_str()));
    let t = table(&p, &rt).await.expect("made");
    assert_eq!(routes(&t), BTreeSet::from([("0.0.0.0/0".to_string(), igw.clone())]));
    assert_eq!(associated(&t), BTreeSet::from([a.clone(), b.clone()]));

    // The security group and the load balancer are in the new VPC.
    let lb = &state.resources["lb"].id;
    let out = p.elb.describe_load_balancers().load_balancer_arns(lb).send().await.expect("lb");
    assert_eq!(out.load_balancers()[0].vpc_id(), Some(net.as_str()));
    assert_eq!(state.resources["lb_sg"].attrs["vpc_id"], net.as_str());

    // In place: a second route, one subnet let go, a public IP on launch,
    // a tag.
    let v2 = stack(
        "t-vpc-life",
        &[
            ("TIER", "front"),
            ("PUBLIC_IP", "true"),
            ("ROUTES", "      - { cidr: 192.168.0.0/16, gateway: \"${igw.id}\" }\n"),
            ("SUBNETS", "\"${public_a.id}\""),
        ],
    );
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    let updates: BTreeSet<&str> =
        pl.changes.iter().filter(|c| c.action != Action::NoOp).map(|c| c.resource.as_str()).collect();
    assert_eq!(updates, BTreeSet::from(["net", "public", "public_a"]), "{:#?}", pl.changes);
    assert!(["net", "public", "public_a"].iter().all(|r| pl.change(r).unwrap().action == Action::Update));
    assert_eq!(changed(&pl, "net"), set(&["tags"]));
    assert_eq!(changed(&pl, "public_a"), set(&["map_public_ip_on_launch"]));
    assert_eq!(changed(&pl, "public"), set(&["routes", "subnets"]));
    let state = apply_clean(&p, &v2, state).await;
    assert_eq!(state.resources["net"].id, net, "changed in place");
    assert_eq!(subnet(&p, &a).await.unwrap().map_public_ip_on_launch(), Some(true));
    assert_eq!(tags_of(vpc(&p, &net).await.unwrap().tags()).get("tier").map(String::as_str), Some("front"));
    let t = table(&p, &rt).await.unwrap();
    assert_eq!(
        routes(&t),
        BTreeSet::from([("0.0.0.0/0".to_string(), igw.clone()), ("192.168.0.0/16".to_string(), igw.clone())])
    );
    assert_eq!(associated(&t), BTreeSet::from([a.clone()]));

    // And back: the route deleted, the subnet associated again.
    let state = apply_clean(&p, &v1, state).await;
    let t = table(&p, &rt).await.unwrap();
    assert_eq!(routes(&t).len(), 1);
    assert_eq!(associated(&t), BTreeSet::from([a.clone(), b.clone()]));

    // Destroy leaves no VPC, subnet, gateway or table.
    let (pl, summary, state) = converge(&p, &v1, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(pl.changes.iter().filter(|c| c.action != Action::NoOp).all(|c| c.action == Action::Delete));
    assert!(state.resources.is_empty(), "{:?}", state.resources.keys());
    assert!(vpc(&p, &net).await.is_none());
    assert!(subnet(&p, &a).await.is_none() && subnet(&p, &b).await.is_none());
    assert!(gateway(&p, &igw).await.is_none());
    assert!(table(&p, &rt).await.is_none());
}

#[tokio::test]
async fn a_cidr_change_replaces_the_vpc() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let text = |cidr: &str| format!("stack: t-vpc-cidr\nresources:\n  net:\n    kind: ec2/vpc\n    cidr: {cidr}\n");
    let v1 = load(&text("10.30.0.0/16"), &[]);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let old = state.resources["net"].id.clone();
    let v2 = load(&text("10.31.0.0/16"), &[]);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    let ch = pl.change("net").unwrap();
    assert_eq!(ch.action, Action::Replace);
    assert_eq!(ch.reasons, ["forces replacement: cidr"]);
    let state = apply_clean(&p, &v2, state).await;
    assert_ne!(state.resources["net"].id, old);
    assert!(vpc(&p, &old).await.is_none(), "the old VPC is deleted");
    let (_, summary, _) = converge(&p, &v2, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
}

#[tokio::test]
async fn a_vpc_made_by_hand_is_adopted_by_moor_import() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let out = p.ec2.create_vpc().cidr_block("10.40.0.0/16").send().await.expect("made by hand");
    let id = out.vpc().and_then(|v| v.vpc_id()).unwrap().to_string();
    p.ec2
        .create_tags()
        .resources(&id)
        .tags(aws_sdk_ec2::types::Tag::builder().key("owner").value("ops").build())
        .send()
        .await
        .expect("tag");
    let text = "stack: t-vpc-import\nresources:\n  net:\n    kind: ec2/vpc\n    cidr: 10.40.0.0/16\n    name: shared\n";
    let d = support::workdir("vpc-import", text);
    let o = support::moor_in(&d, &["import", "net", &id, "-f", "stack.yaml"]);
    assert!(o.status.success(), "{}", support::text(&o));
    let t = tags_of(vpc(&p, &id).await.expect("still there").tags());
    for (k, want) in [("moor:stack", "t-vpc-import"), ("moor:resource", "net"), ("owner", "ops"), ("Name", "shared")] {
        assert_eq!(t.get(k).map(String::as_str), Some(want), "{k} in {t:?}");
    }
    // Now the stack's: the plan would only drop the tag the file does not
    // give, and destroy deletes it.
    let o = support::moor_in(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    let shown = support::text(&o);
    assert_eq!(o.status.code(), Some(2), "{shown}");
    assert!(shown.contains("~ net") && shown.contains("~ tags") && shown.contains("owner"), "{shown}");
    assert!(shown.contains("0 to add, 1 to change, 0 to replace, 0 to destroy"), "{shown}");
    let o = support::moor_in(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert!(o.status.success(), "{}", support::text(&o));
    assert!(vpc(&p, &id).await.is_none(), "deleted");
}

#[tokio::test]
async fn a_lost_record_finds_the_network_by_its_tags() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let v1 = stack("t-vpc-lost", &[]);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let ids: Vec<String> =
        ["net", "public_a", "public_b", "igw", "public"].iter().map(|r| state.resources[*r].id.clone()).collect();
    // Destroy without the record: everything is found by its tags and
    // deleted in order of kind.
    let (pl, summary, _) = converge(&p, &v1, empty(&v1), true).await;
    for r in ["net", "public_a", "public_b", "igw", "public"] {
        let found = pl.changes.iter().any(|c| c.resource == r && c.action == Action::Delete);
        assert!(found, "{r}: {:#?}", pl.changes);
    }
    assert!(summary.ok(), "{summary:#?}");
    assert!(vpc(&p, &ids[0]).await.is_none());
    assert!(subnet(&p, &ids[1]).await.is_none() && subnet(&p, &ids[2]).await.is_none());
    assert!(gateway(&p, &ids[3]).await.is_none());
    assert!(table(&p, &ids[4]).await.is_none());
}

#[tokio::test]
async fn the_own_vpc_example_applies_plans_clean_and_destroys() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/own-vpc.yaml")).unwrap();
    let s = load(&text, &[]);
    let state = apply_clean(&p, &s, empty(&s)).await;
    assert_eq!(state.resources.len(), 5);
    let net = state.resources["net"].id.clone();
    let (_, summary, state) = converge(&p, &s, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
    assert!(vpc(&p, &net).await.is_none());
}

/// No reference says so, but subnets wait for their VPC's internet gateway
/// (and so does what is put in them), and are deleted before it detaches;
/// the route table goes before both.
#[test]
fn subnets_and_what_uses_them_come_after_the_internet_gateway() {
    let s = stack("t-vpc-graph", &[]);
    let (g, diags) = moor::graph::build(&s);
    assert!(diags.is_empty(), "{diags:?}");
    for (user, used) in
        [("public_a", "igw"), ("public_b", "igw"), ("public", "igw"), ("public", "public_a"), ("igw", "net")]
    {
        assert!(g.dependencies(user).contains(&used), "{user} depends on {used}: {:?}", g.dependencies(user));
    }
    // The load balancer, through its subnets.
    assert!(g.dependencies("lb").contains(&"public_a"), "{:?}", g.dependencies("lb"));
}

const PRIVATE: &str = r#"
stack: t-vpc-nat
resources:
  net:
    kind: ec2/vpc
    cidr: 10.50.0.0/16
  public_a:
    kind: ec2/subnet
    vpc: ${net.id}
    cidr: 10.50.0.0/24
    availability_zone: us-east-1a
  private_a:
    kind: ec2/subnet
    vpc: ${net.id}
    cidr: 10.50.10.0/24
    availability_zone: us-east-1a
  igw:
    kind: ec2/internet_gateway
    vpc: ${net.id}
  public:
    kind: ec2/route_table
    vpc: ${net.id}
    routes: [{ cidr: 0.0.0.0/0, gateway: "${igw.id}" }]
    subnets: ["${public_a.id}"]
  nat:
    kind: ec2/nat_gateway
    subnet: ${public_a.id}
@TAGS@
  private:
    kind: ec2/route_table
    vpc: ${net.id}
    routes: [{ cidr: 0.0.0.0/0, nat_gateway: "${nat.id}" }]
    subnets: ["${private_a.id}"]
"#;

async fn nat(p: &AwsProvider, id: &str) -> Option<aws_sdk_ec2::types::NatGateway> {
    let f = aws_sdk_ec2::types::Filter::builder().name("nat-gateway-id").values(id).build();
    let out = p.ec2.describe_nat_gateways().filter(f).send().await.expect("describe");
    out.nat_gateways().first().filter(|n| n.state().is_none_or(|s| s.as_str() != "deleted")).cloned()
}

async fn address(p: &AwsProvider, allocation: &str) -> bool {
    let f = aws_sdk_ec2::types::Filter::builder().name("allocation-id").values(allocation).build();
    !p.ec2.describe_addresses().filters(f).send().await.expect("describe").addresses().is_empty()
}

#[tokio::test]
async fn a_private_subnet_reaches_out_through_a_nat_gateway_whose_address_is_released() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let v1 = load(&PRIVATE.replace("@TAGS@", ""), &[]);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let id = state.resources["nat"].id.clone();
    let n = nat(&p, &id).await.expect("made");
    assert_eq!(n.state().map(|s| s.as_str()), Some("available"));
    assert_eq!(n.subnet_id(), Some(state.resources["public_a"].id.as_str()));
    let allocation = state.resources["nat"].attrs["allocation_id"].as_str().unwrap().to_string();
    assert!(allocation.starts_with("eipalloc-"), "{allocation}");
    assert!(address(&p, &allocation).await, "allocated");
    assert!(state.resources["nat"].attrs["public_ip"].as_str().is_some_and(|ip| !ip.is_empty()));
    let t = table(&p, &state.resources["private"].id).await.unwrap();
    let to_nat = t
        .routes()
        .iter()
        .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0") && r.nat_gateway_id() == Some(id.as_str()));
    assert!(to_nat, "{:?}", t.routes());

    // A tag changes in place.
    let v2 = load(&PRIVATE.replace("@TAGS@", "    tags: { tier: egress }"), &[]);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(pl.change("nat").unwrap().action, Action::Update);
    assert_eq!(changed(&pl, "nat"), set(&["tags"]));
    let state = apply_clean(&p, &v2, state).await;
    assert_eq!(state.resources["nat"].id, id);

    // Destroy deletes the gateway and releases its address.
    let (_, summary, state) = converge(&p, &v2, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
    assert!(nat(&p, &id).await.is_none(), "deleted");
    assert!(!address(&p, &allocation).await, "released");
}

/// Subnets whose zones are written as `${region}a`, taken from a list
/// variable, and from another subnet; `extra` is one more subnet's zone.
fn zones_stack(extra: Option<&str>) -> moor::model::Stack {
    let extra = extra.map_or(String::new(), |az| {
        format!(
            "  d:\n    kind: ec2/subnet\n    vpc: ${{net.id}}\n    cidr: 10.30.4.0/24\n    availability_zone: {az}\n"
        )
    });
    let text = format!(
        "stack: t-vpc-zones
region: us-east-1
variables:
  azs: {{ type: list, default: [us-east-1a, us-east-1b] }}
resources:
  net:
    kind: ec2/vpc
    cidr: 10.30.0.0/16
  a:
    kind: ec2/subnet
    vpc: ${{net.id}}
    cidr: 10.30.1.0/24
    availability_zone: ${{region}}c
  b:
    kind: ec2/subnet
    vpc: ${{net.id}}
    cidr: 10.30.2.0/24
    availability_zone: ${{var.azs[1]}}
  c:
    kind: ec2/subnet
    vpc: ${{net.id}}
    cidr: 10.30.3.0/24
    availability_zone: ${{a.availability_zone}}
{extra}"
    );
    load(&text, &[])
}

#[tokio::test]
async fn zones_from_the_region_a_list_variable_and_another_subnet_apply_clean_and_are_checked_once_known() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let s = zones_stack(None);
    let state = apply_clean(&p, &s, empty(&s)).await;
    for (name, zone) in [("a", "us-east-1c"), ("b", "us-east-1b"), ("c", "us-east-1c")] {
        let sn = subnet(&p, &state.resources[name].id).await.expect("created");
        assert_eq!(sn.availability_zone(), Some(zone), "{name}");
    }

    // A reference that gives something else than a zone (a subnet's id):
    // a located problem once the plan knows it.
    let wrong = zones_stack(Some("${a.id}"));
    let (graph, _) = moor::graph::build(&wrong);
    let observed = moor::observe::observe(p.as_ref(), &wrong, &graph, &state).await.expect("read");
    let mut pl = moor::plan::plan(&wrong, &graph, &state, &observed, false, Default::default());
    let reads = moor::checks::read(p.as_ref(), &wrong, false).await;
    moor::checks::check(&wrong, &mut pl, &observed, &reads);
    let problem = pl.problems.iter().find(|x| x.resource == "d").expect("a problem of d");
    assert!(problem.message.starts_with("stack.yaml:"), "{}", problem.message);
    assert!(problem.message.contains("resources.d.availability_zone"), "{}", problem.message);
    assert!(problem.message.contains("is not an availability zone name"), "{}", problem.message);

    let (_, summary, state) = converge(&p, &s, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
}

const HAND_MADE: &str = r#"stack: t-net-import
resources:
  net:
    kind: ec2/vpc
    cidr: 10.41.0.0/16
  public_a:
    kind: ec2/subnet
    vpc: ${net.id}
    cidr: 10.41.1.0/24
    availability_zone: us-east-1a
  igw:
    kind: ec2/internet_gateway
    vpc: ${net.id}
  nat:
    kind: ec2/nat_gateway
    subnet: ${public_a.id}
  public:
    kind: ec2/route_table
    vpc: ${net.id}
    routes:
      - { cidr: 0.0.0.0/0, gateway: "${igw.id}" }
    subnets: ["${public_a.id}"]
"#;

/// A network made by hand, a piece at a time: each piece is adopted with
/// `moor import`, after which the plan shows no change; destroy deletes
/// them all but the Elastic IP that was allocated by hand.
#[tokio::test]
async fn a_network_made_by_hand_is_adopted_piece_by_piece_and_plans_clean() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let out = p.ec2.create_vpc().cidr_block("10.41.0.0/16").send().await.expect("vpc");
    let vpc_id = out.vpc().and_then(|v| v.vpc_id()).unwrap().to_string();
    let out = p
        .ec2
        .create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block("10.41.1.0/24")
        .availability_zone("us-east-1a")
        .send()
        .await
        .expect("subnet");
    let subnet_id = out.subnet().and_then(|s| s.subnet_id()).unwrap().to_string();
    let out = p.ec2.create_internet_gateway().send().await.expect("gateway");
    let igw_id = out.internet_gateway().and_then(|g| g.internet_gateway_id()).unwrap().to_string();
    p.ec2.attach_internet_gateway().internet_gateway_id(&igw_id).vpc_id(&vpc_id).send().await.expect("attach");
    let out = p.ec2.allocate_address().domain(aws_sdk_ec2::types::DomainType::Vpc).send().await.expect("address");
    let allocation = out.allocation_id().unwrap().to_string();
    let out =
        p.ec2.create_nat_gateway().subnet_id(&subnet_id).allocation_id(&allocation).send().await.expect("nat gateway");
    let nat_id = out.nat_gateway().and_then(|n| n.nat_gateway_id()).unwrap().to_string();
    let out = p.ec2.create_route_table().vpc_id(&vpc_id).send().await.expect("route table");
    let table_id = out.route_table().and_then(|t| t.route_table_id()).unwrap().to_string();
    p.ec2
        .create_route()
        .route_table_id(&table_id)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&igw_id)
        .send()
        .await
        .expect("route");
    p.ec2.associate_route_table().route_table_id(&table_id).subnet_id(&subnet_id).send().await.expect("associate");

    let d = support::workdir("net-import", HAND_MADE);
    for (logical, id) in
        [("net", &vpc_id), ("public_a", &subnet_id), ("igw", &igw_id), ("nat", &nat_id), ("public", &table_id)]
    {
        let o = support::moor_in(&d, &["import", logical, id, "-f", "stack.yaml"]);
        assert!(o.status.success(), "import {logical}: {}", support::text(&o));
    }
    let t = tags_of(subnet(&p, &subnet_id).await.expect("still there").tags());
    assert_eq!(t.get("moor:resource").map(String::as_str), Some("public_a"), "{t:?}");
    let t = tags_of(nat(&p, &nat_id).await.expect("still there").tags());
    assert_eq!(t.get("moor:resource").map(String::as_str), Some("nat"), "{t:?}");
    let o = support::moor_in(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));

    let o = support::moor_in(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert!(o.status.success(), "{}", support::text(&o));
    assert!(vpc(&p, &vpc_id).await.is_none() && subnet(&p, &subnet_id).await.is_none());
    assert!(gateway(&p, &igw_id).await.is_none() && table(&p, &table_id).await.is_none());
    assert!(nat(&p, &nat_id).await.is_none());
    assert!(address(&p, &allocation).await, "an address allocated by hand is left");
    p.ec2.release_address().allocation_id(&allocation).send().await.expect("release");
}
