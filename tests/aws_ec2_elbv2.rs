//! Security groups, VPC lookups, load balancers, target groups and
//! listeners against the moto emulator: create, "apply then plan shows no
//! change" for every field, the in-place updates users make, a replacement
//! that moves a listener, and destroy that leaves nothing behind.

mod support;

use moor::model::Kind;
use moor::plan::{Action, ReplaceOrder};
use moor::provider::aws::AwsProvider;
use moor::provider::{Deletion, ErrorKind, Provider, ProviderOptions};
use moor::state::State;
use std::sync::Arc;
use std::time::Duration;
use support::{apply_clean, converge, empty, load, make_plan, provider};

/// A stack from a template: `@KEY@` placeholders are replaced in order.
fn stack_of(template: &str, subs: &[(&str, &str)]) -> moor::model::Stack {
    let mut text = template.to_string();
    for (k, v) in subs {
        text = text.replace(&format!("@{k}@"), v);
    }
    load(&text, &[])
}

/// Destroys the stack and checks that the run succeeded and left no record.
async fn destroy(p: &Arc<AwsProvider>, stack: &moor::model::Stack, state: State) {
    let (_, summary, state) = converge(p, stack, state, true).await;
    assert!(summary.ok(), "destroy failed: {summary:#?}");
    assert!(state.resources.is_empty(), "{:?}", state.resources.keys());
}

fn action_of(pl: &moor::plan::Plan, name: &str) -> Action {
    pl.change(name).unwrap_or_else(|| panic!("no change for {name}")).action
}

/// The resources a plan would change (not NoOp, not Read).
fn changing(pl: &moor::plan::Plan) -> Vec<(String, Action)> {
    pl.changes
        .iter()
        .filter(|c| !matches!(c.action, Action::NoOp | Action::Read))
        .map(|c| (c.resource.clone(), c.action))
        .collect()
}

async fn sg_exists(p: &AwsProvider, id: &str) -> bool {
    match p.ec2.describe_security_groups().group_ids(id).send().await {
        Ok(o) => !o.security_groups().is_empty(),
        Err(e) => {
            let code = aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&e).map(str::to_string);
            assert_eq!(code.as_deref(), Some("InvalidGroup.NotFound"), "{e:?}");
            false
        }
    }
}

async fn lb_exists(p: &AwsProvider, arn: &str) -> bool {
    p.elb.describe_load_balancers().load_balancer_arns(arn).send().await.is_ok_and(|o| !o.load_balancers().is_empty())
}

async fn tg_exists(p: &AwsProvider, arn: &str) -> bool {
    p.elb.describe_target_groups().target_group_arns(arn).send().await.is_ok_and(|o| !o.target_groups().is_empty())
}

async fn listener_exists(p: &AwsProvider, arn: &str) -> bool {
    p.elb.describe_listeners().listener_arns(arn).send().await.is_ok_and(|o| !o.listeners().is_empty())
}

// ---- VPC lookups ------------------------------------------------------------------

#[tokio::test]
async fn the_default_vpc_lookup_finds_its_default_subnets() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load("stack: lookup-default\nresources:\n  net:\n    kind: ec2/default_vpc\n", &[]);
    let pl = make_plan(p.as_ref(), &stack, &empty(&stack), false, false).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    assert_eq!(action_of(&pl, "net"), Action::Read);
    let attrs = &pl.known["net"];
    assert!(attrs["vpc_id"].as_str().unwrap().starts_with("vpc-"));
    assert!(attrs["cidr_block"].as_str().unwrap().contains('/'));
    let subnets: Vec<&str> = attrs["subnet_ids"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert!(subnets.len() >= 2, "{subnets:?}");
    let mut sorted = subnets.clone();
    sorted.sort();
    assert_eq!(subnets, sorted, "subnet ids are sorted");
    // The attributes are exactly those of the kind.
    let names: Vec<&str> = Kind::Ec2DefaultVpc.attributes().iter().map(|a| a.name).collect();
    assert_eq!(attrs.keys().map(String::as_str).collect::<Vec<_>>().len(), names.len());
    assert!(names.iter().all(|n| attrs.contains_key(*n)));

    // A lookup is never created, changed or deleted.
    let (t, _) = moor::plan::target(&stack, "net", &pl.known, &empty(&stack));
    let e = p.create(&t).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Rejected);
    let d = Deletion {
        logical: "net".into(),
        kind: Kind::Ec2DefaultVpc,
        id: attrs["vpc_id"].as_str().unwrap().into(),
        name: None,
        attrs: attrs.clone(),
        force: false,
    };
    assert_eq!(p.delete(&d).await.unwrap_err().kind, ErrorKind::Rejected);
    // Read by its id, as a recorded resource.
    let live = p.read_recorded(&d).await.unwrap().expect("default vpc by id");
    assert_eq!(live.id, d.id);
}

#[tokio::test]
async fn an_existing_vpc_is_found_by_name_or_id_with_tagged_subnets() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
    let tags = |rt: ResourceType, pairs: &[(&str, &str)]| {
        let mut b = TagSpecification::builder().resource_type(rt);
        for (k, v) in pairs {
            b = b.tags(Tag::builder().key(*k).value(*v).build());
        }
        b.build()
    };
    let vpc = p
        .ec2
        .create_vpc()
        .cidr_block("10.77.0.0/16")
        .tag_specifications(tags(ResourceType::Vpc, &[("Name", "lookup-existing-vpc")]))
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    // A subnet with these tags; its id.
    let subnet = async |vpc: &str, cidr: &str, az: Option<&str>, pairs: &[(&str, &str)]| -> String {
        let s = p
            .ec2
            .create_subnet()
            .vpc_id(vpc)
            .cidr_block(cidr)
            .set_availability_zone(az.map(str::to_string))
            .tag_specifications(tags(ResourceType::Subnet, pairs))
            .send()
            .await
            .unwrap();
        s.subnet().unwrap().subnet_id().unwrap().to_string()
    };
    let mut public = Vec::new();
    for (i, (cidr, az, tier)) in [
        ("10.77.1.0/24", "us-east-1a", "public"),
        ("10.77.2.0/24", "us-east-1b", "public"),
        ("10.77.3.0/24", "us-east-1a", "private"),
    ]
    .iter()
    .enumerate()
    {
        let id = subnet(&vpc_id, cidr, Some(az), &[("tier", tier), ("n", &i.to_string())]).await;
        if *tier == "public" {
            public.push(id);
        }
    }
    public.sort();
    // A subnet of the same tier in another VPC: not this VPC's.
    let other = p.ec2.create_vpc().cidr_block("10.78.0.0/16").send().await.unwrap();
    subnet(other.vpc().unwrap().vpc_id().unwrap(), "10.78.1.0/24", None, &[("tier", "public")]).await;

    let by_name = load(
        "stack: lookup-existing\nresources:\n  net:\n    kind: ec2/existing_vpc\n    name: lookup-existing-vpc\n    subnet_tags:\n      tier: public\n",
        &[],
    );
    let pl = make_plan(p.as_ref(), &by_name, &empty(&by_name), false, false).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    assert_eq!(pl.known["net"]["vpc_id"], serde_json::json!(vpc_id));
    assert_eq!(pl.known["net"]["cidr_block"], serde_json::json!("10.77.0.0/16"));
    assert_eq!(pl.known["net"]["subnet_ids"], serde_json::json!(public));

    let by_id = load(
        &format!("stack: lookup-existing\nresources:\n  net:\n    kind: ec2/existing_vpc\n    id: {vpc_id}\n"),
        &[],
    );
    let pl = make_plan(p.as_ref(), &by_id, &empty(&by_id), false, false).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    assert_eq!(pl.known["net"]["subnet_ids"].as_array().unwrap().len(), 3);

    // A tag asked for with an empty value: the subnets that carry it empty.
    let flagged = subnet(&vpc_id, "10.77.4.0/24", None, &[("flag", "")]).await;
    let by_empty = load(
        "stack: lookup-existing\nresources:\n  net:\n    kind: ec2/existing_vpc\n    name: lookup-existing-vpc\n    subnet_tags:\n      flag: \"\"\n",
        &[],
    );
    let pl = make_plan(p.as_ref(), &by_empty, &empty(&by_empty), false, false).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    assert_eq!(pl.known["net"]["subnet_ids"], serde_json::json!([flagged]));

    // Not found: the plan says so.
    let missing = load(
        "stack: lookup-existing\nresources:\n  net:\n    kind: ec2/existing_vpc\n    name: no-such-vpc-anywhere\n",
        &[],
    );
    let pl = make_plan(p.as_ref(), &missing, &empty(&missing), false, false).await;
    assert_eq!(pl.problems.len(), 1);
    assert!(pl.problems[0].message.contains("not found"), "{}", pl.problems[0].message);
}

// ---- security groups --------------------------------------------------------------

const SG_STACK: &str = r#"
stack: rules-sg
tags:
  project: moor-tests
resources:
  net:
    kind: ec2/default_vpc
  peer:
    kind: ec2/security_group
    vpc: ${net.vpc_id}
  sg:
    kind: ec2/security_group
    name: rules-sg-main
    description: every rule shape
    vpc: ${net.vpc_id}
    ingress:
@INGRESS@
    egress:
      - port: 443
        cidr: 0.0.0.0/0
      - protocol: udp
        port: 53
        cidrs: [0.0.0.0/0]
    tags:
      team: @TEAM@
"#;

const SG_INGRESS_V1: &str = r#"
      - port: 80
        cidr: 0.0.0.0/0
        description: web
      - port: 443
        cidrs: [10.0.0.0/8, 192.168.0.0/16]
      - ports: { from: 8000, to: 8100 }
        cidr: 172.16.0.0/12
      - port: 5432
        source_group: ${peer.id}
        description: from peer
      - port: 80
        ipv6_cidrs: ["::/0"]
      - protocol: udp
        port: 53
        cidr: 10.0.0.0/8
      - protocol: icmp
        cidr: 10.0.0.0/8
      - protocol: all
        cidr: 10.1.0.0/16
"#;

// 80 gets a new description, 443 loses a CIDR, udp 53 goes, ssh comes.
const SG_INGRESS_V2: &str = r#"
      - port: 80
        cidr: 0.0.0.0/0
        description: http
      - port: 443
        cidrs: [10.0.0.0/8]
      - ports: { from: 8000, to: 8100 }
        cidr: 172.16.0.0/12
      - port: 5432
        source_group: ${peer.id}
        description: from peer
      - port: 80
        ipv6_cidrs: ["::/0"]
      - protocol: icmp
        cidr: 10.0.0.0/8
      - protocol: all
        cidr: 10.1.0.0/16
      - port: 22
        cidr: 10.0.0.0/8
"#;

/// (protocol, from, to, peer) of each ingress or egress atom of a group.
async fn rules_of(p: &AwsProvider, id: &str, egress: bool) -> Vec<(String, i32, i32, String, String)> {
    let out = p.ec2.describe_security_groups().group_ids(id).send().await.unwrap();
    let sg = &out.security_groups()[0];
    let perms = if egress { sg.ip_permissions_egress() } else { sg.ip_permissions() };
    let mut v = Vec::new();
    for perm in perms {
        let proto = perm.ip_protocol().unwrap_or_default().to_string();
        let (from, to) = (perm.from_port().unwrap_or(-1), perm.to_port().unwrap_or(-1));
        for r in perm.ip_ranges() {
            v.push((
                proto.clone(),
                from,
                to,
                r.cidr_ip().unwrap().to_string(),
                r.description().unwrap_or_default().into(),
            ));
        }
        for r in perm.ipv6_ranges() {
            v.push((
                proto.clone(),
                from,
                to,
                r.cidr_ipv6().unwrap().to_string(),
                r.description().unwrap_or_default().into(),
            ));
        }
        for g in perm.user_id_group_pairs() {
            v.push((
                proto.clone(),
                from,
                to,
                g.group_id().unwrap().to_string(),
                g.description().unwrap_or_default().into(),
            ));
        }
    }
    v.sort();
    v
}

#[tokio::test]
async fn security_group_rules_of_every_shape_apply_clean_update_in_place_and_destroy() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let v1 = stack_of(SG_STACK, &[("INGRESS", SG_INGRESS_V1.trim_start_matches('\n')), ("TEAM", "net")]);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let sg = state.resources["sg"].clone();
    let peer = state.resources["peer"].clone();
    assert!(sg.id.starts_with("sg-"));
    assert_eq!(sg.attrs["name"], serde_json::json!("rules-sg-main"));
    assert_eq!(sg.attrs["id"], serde_json::json!(sg.id));
    assert!(sg.attrs["arn"].as_str().unwrap().ends_with(&format!("security-group/{}", sg.id)));
    assert!(sg.attrs["vpc_id"].as_str().unwrap().starts_with("vpc-"));
    assert_eq!(peer.name.as_deref(), Some("rules-sg-peer"));

    let ingress = rules_of(&p, &sg.id, false).await;
    assert!(ingress.contains(&("tcp".into(), 80, 80, "0.0.0.0/0".into(), "web".into())), "{ingress:?}");
    assert!(ingress.contains(&("tcp".into(), 443, 443, "192.168.0.0/16".into(), "".into())), "{ingress:?}");
    assert!(ingress.contains(&("tcp".into(), 8000, 8100, "172.16.0.0/12".into(), "".into())), "{ingress:?}");
    assert!(ingress.contains(&("tcp".into(), 5432, 5432, peer.id.clone(), "from peer".into())), "{ingress:?}");
    assert!(ingress.contains(&("tcp".into(), 80, 80, "::/0".into(), "".into())), "{ingress:?}");
    assert!(ingress.contains(&("udp".into(), 53, 53, "10.0.0.0/8".into(), "".into())), "{ingress:?}");
    assert_eq!(ingress.len(), 9, "{ingress:?}");
    // The file's egress replaced AWS's allow-all.
    let egress = rules_of(&p, &sg.id, true).await;
    assert_eq!(egress.len(), 2, "{egress:?}");
    assert!(egress.iter().all(|r| r.0 != "-1"), "{egress:?}");
    // A group whose file has no egress keeps AWS's default.
    let peer_egress = rules_of(&p, &peer.id, true).await;
    assert_eq!(peer_egress.len(), 1, "{peer_egress:?}");
    assert_eq!(peer_egress[0].0, "-1");

    // Rules added, removed and re-described, and a tag changed: in place.
    let v2 = stack_of(SG_STACK, &[("INGRESS", SG_INGRESS_V2.trim_start_matches('\n')), ("TEAM", "network")]);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(changing(&pl), vec![("sg".to_string(), Action::Update)]);
    let fields: Vec<&str> = pl.change("sg").unwrap().diffs.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(fields, ["ingress", "tags"]);
    let state = apply_clean(&p, &v2, state).await;
    assert_eq!(state.resources["sg"].id, sg.id, "updated, not replaced");
    let ingress = rules_of(&p, &sg.id, false).await;
    assert!(ingress.contains(&("tcp".into(), 80, 80, "0.0.0.0/0".into(), "http".into())), "{ingress:?}");
    assert!(ingress.contains(&("tcp".into(), 22, 22, "10.0.0.0/8".into(), "".into())), "{ingress:?}");
    assert!(!ingress.iter().any(|r| r.3 == "192.168.0.0/16"), "{ingress:?}");
    assert!(!ingress.iter().any(|r| r.0 == "udp"), "{ingress:?}");
    assert_eq!(ingress.len(), 8, "{ingress:?}");

    // Destroy leaves no group.
    destroy(&p, &v2, state).await;
    assert!(!sg_exists(&p, &sg.id).await);
    assert!(!sg_exists(&p, &peer.id).await);
}

#[tokio::test]
async fn a_rule_changed_outside_moor_shows_as_drift_and_is_put_back() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let text = r#"
stack: sg-drift
resources:
  net:
    kind: ec2/default_vpc
  sg:
    kind: ec2/security_group
    vpc: ${net.vpc_id}
    ingress:
      - port: 80
        cidrs: [10.0.0.0/8, 10.1.0.0/16]
"#;
    let stack = load(text, &[]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let id = state.resources["sg"].id.clone();
    // Someone adds a rule by hand.
    p.ec2
        .authorize_security_group_ingress()
        .group_id(&id)
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ip("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    assert_eq!(changing(&pl), vec![("sg".to_string(), Action::Update)]);
    let d = &pl.change("sg").unwrap().diffs[0];
    assert_eq!(d.field, "ingress");
    assert!(d.before.as_ref().unwrap().to_string().contains("\"port\":22"), "{:?}", d.before);
    let state = apply_clean(&p, &stack, state).await;
    assert!(!rules_of(&p, &id, false).await.iter().any(|r| r.1 == 22));
    destroy(&p, &stack, state).await;
}

#[tokio::test]
async fn a_security_group_with_a_rule_referencing_another_destroys_cleanly() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let text = r#"
stack: sg-refs
resources:
  net:
    kind: ec2/default_vpc
  lb_sg:
    kind: ec2/security_group
    description: HTTP from the internet to the load balancer
    vpc: ${net.vpc_id}
    ingress:
      - port: 80
        cidr: 0.0.0.0/0
    egress:
      - port: 5000
        cidr: 172.31.0.0/16
  app_sg:
    kind: ec2/security_group
    description: Flask port from the load balancer only
    vpc: ${net.vpc_id}
    ingress:
      - port: 5000
        source_group: ${lb_sg.id}
    egress:
      - protocol: all
        source_group: ${lb_sg.id}
"#;
    let stack = load(text, &[]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let lb_sg = state.resources["lb_sg"].id.clone();
    let app_sg = state.resources["app_sg"].id.clone();
    destroy(&p, &stack, state).await;
    assert!(!sg_exists(&p, &lb_sg).await);
    assert!(!sg_exists(&p, &app_sg).await);
}

#[tokio::test]
async fn a_security_group_still_used_by_a_network_interface_names_it() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let text = r#"
stack: sg-eni
resources:
  net:
    kind: ec2/default_vpc
  sg:
    kind: ec2/security_group
    vpc: ${net.vpc_id}
"#;
    let stack = load(text, &[]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let id = state.resources["sg"].id.clone();
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    let subnet = pl.known["net"]["subnet_ids"][0].as_str().unwrap().to_string();
    let eni = p
        .ec2
        .create_network_interface()
        .subnet_id(&subnet)
        .groups(&id)
        .description("ELB app/left-behind/0123")
        .send()
        .await
        .unwrap();
    let eni_id = eni.network_interface().unwrap().network_interface_id().unwrap().to_string();

    // A short budget, so the test does not wait long.
    let quick = AwsProvider::connect(
        Some("us-east-1".into()),
        ProviderOptions { wait_timeout: Duration::from_secs(1), poll: Duration::from_millis(50), ..Default::default() },
    )
    .await
    .unwrap();
    let d = Deletion {
        logical: "sg".into(),
        kind: Kind::Ec2SecurityGroup,
        id: id.clone(),
        name: None,
        attrs: state.resources["sg"].attrs.clone(),
        force: false,
    };
    let e = quick.delete(&d).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InUse, "{e}");
    assert_eq!(e.operation, "ec2:DeleteSecurityGroup");
    assert!(e.message.contains(&eni_id), "{e}");
    assert!(e.message.contains("ELB app/left-behind/0123"), "{e}");
    assert!(sg_exists(&p, &id).await);

    // Once the interface is gone, the group goes.
    p.ec2.delete_network_interface().network_interface_id(&eni_id).send().await.unwrap();
    quick.delete(&d).await.unwrap();
    assert!(!sg_exists(&p, &id).await);
    // Deleting what is gone is fine.
    quick.delete(&d).await.unwrap();
}

// ---- load balancer, target groups, listeners -----------------------------------------

const WEB_STACK: &str = r#"
stack: elb-web
tags:
  project: moor-tests
resources:
  net:
    kind: ec2/default_vpc
  lb_sg:
    kind: ec2/security_group
    description: HTTP from the internet
    vpc: ${net.vpc_id}
    ingress:
      - port: 80
        cidr: 0.0.0.0/0
      - ports: { from: 8080, to: 8090 }
        cidr: 0.0.0.0/0
  extra_sg:
    kind: ec2/security_group
    vpc: ${net.vpc_id}
  lb:
    kind: elbv2/load_balancer
    scheme: internet_facing
    subnets: ${net.subnet_ids}
    security_groups: @LB_SGS@
    idle_timeout: @IDLE@
    deletion_protection: false
    ip_address_type: ipv4
    tags:
      team: @TEAM@
  web:
    kind: elbv2/target_group
    port: 8000
    protocol: HTTP
    protocol_version: HTTP1
    target_type: ip
    vpc: ${net.vpc_id}
    deregistration_delay: @DELAY@
    health_check:
      path: @HC_PATH@
      port: 8000
      protocol: HTTP
      interval: 15
      timeout: 5
      healthy_threshold: 2
      unhealthy_threshold: 3
      matcher: "200-299"
  grpc:
    kind: elbv2/target_group
    port: 50051
    protocol_version: GRPC
    vpc: ${net.vpc_id}
    health_check:
      matcher: "0-99"
  http:
    kind: elbv2/listener
    load_balancer: ${lb.arn}
    port: 80
    default_action:
      forward: ${web.arn}
    tags:
      role: main
  to_https:
    kind: elbv2/listener
    load_balancer: ${lb.arn}
    port: 8080
    default_action:
      redirect:
        protocol: HTTPS
        port: 443
        status_code: 301
  maint:
    kind: elbv2/listener
    load_balancer: ${lb.arn}
    port: @MAINT_PORT@
    default_action:
@MAINT_ACTION@
"#;

const FIXED: &str = r#"      fixed_response:
        status_code: 503
        content_type: text/plain
        message_body: down for maintenance"#;

const FORWARD: &str = "      forward: ${web.arn}";

struct Web<'a> {
    lb_sgs: &'a str,
    idle: &'a str,
    team: &'a str,
    delay: &'a str,
    hc_path: &'a str,
    maint_port: &'a str,
    maint_action: &'a str,
}

const WEB_V1: Web = Web {
    lb_sgs: r#"["${lb_sg.id}"]"#,
    idle: "120",
    team: "web",
    delay: "10",
    hc_path: "/healthz/",
    maint_port: "8081",
    maint_action: FIXED,
};

fn web(w: &Web) -> moor::model::Stack {
    stack_of(
        WEB_STACK,
        &[
            ("LB_SGS", w.lb_sgs),
            ("IDLE", w.idle),
            ("TEAM", w.team),
            ("DELAY", w.delay),
            ("HC_PATH", w.hc_path),
            ("MAINT_PORT", w.maint_port),
            ("MAINT_ACTION", w.maint_action),
        ],
    )
}

/// Plans `stack`, checks that exactly `expected` change (all in place),
/// then applies and checks that the plan after is empty.
async fn update_in_place(p: &Arc<AwsProvider>, stack: &moor::model::Stack, state: State, expected: &[&str]) -> State {
    let pl = make_plan(p.as_ref(), stack, &state, false, false).await;
    let mut got = changing(&pl);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let want: Vec<(String, Action)> = expected.iter().map(|r| (r.to_string(), Action::Update)).collect();
    assert_eq!(got, want, "{:#?}", pl.changes.iter().filter(|c| c.action != Action::NoOp).collect::<Vec<_>>());
    let before: Vec<(String, String)> = state.resources.iter().map(|(k, e)| (k.clone(), e.id.clone())).collect();
    let state = apply_clean(p, stack, state).await;
    let after: Vec<(String, String)> = state.resources.iter().map(|(k, e)| (k.clone(), e.id.clone())).collect();
    assert_eq!(before, after, "in place: the same ids");
    state
}

#[tokio::test]
async fn load_balancer_target_groups_and_listeners_apply_clean_update_in_place_and_destroy() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let v1 = web(&WEB_V1);
    let state = apply_clean(&p, &v1, empty(&v1)).await;

    // Attributes, exactly those of each kind.
    for (name, kind) in [
        ("lb", Kind::Elbv2LoadBalancer),
        ("web", Kind::Elbv2TargetGroup),
        ("http", Kind::Elbv2Listener),
        ("lb_sg", Kind::Ec2SecurityGroup),
    ] {
        let attrs = &state.resources[name].attrs;
        let want: Vec<&str> = kind.attributes().iter().map(|a| a.name).collect();
        let got: Vec<&str> = attrs.keys().map(String::as_str).collect();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        assert_eq!(got, want_sorted, "{name}");
    }
    let lb = state.resources["lb"].clone();
    assert!(lb.id.contains(":loadbalancer/app/elb-web-lb/"), "{}", lb.id);
    assert_eq!(lb.attrs["name"], serde_json::json!("elb-web-lb"));
    assert!(lb.attrs["arn_suffix"].as_str().unwrap().starts_with("app/elb-web-lb/"));
    assert!(!lb.attrs["dns_name"].as_str().unwrap().is_empty());
    assert!(!lb.attrs["zone_id"].as_str().unwrap().is_empty());
    let web_tg = state.resources["web"].clone();
    assert!(web_tg.attrs["arn_suffix"].as_str().unwrap().starts_with("targetgroup/elb-web-web-"));
    assert_eq!(web_tg.attrs["port"], serde_json::json!(8000));
    assert_eq!(state.resources["maint"].attrs["port"], serde_json::json!(8081));

    // What AWS holds.
    let lb_live = p.elb.describe_load_balancers().load_balancer_arns(&lb.id).send().await.unwrap();
    let lb_live = &lb_live.load_balancers()[0];
    assert_eq!(lb_live.scheme().map(|s| s.as_str()), Some("internet-facing"));
    let attrs = p.elb.describe_load_balancer_attributes().load_balancer_arn(&lb.id).send().await.unwrap();
    let attr =
        |k: &str| attrs.attributes().iter().find(|a| a.key() == Some(k)).and_then(|a| a.value()).map(str::to_string);
    assert_eq!(attr("idle_timeout.timeout_seconds").as_deref(), Some("120"));
    assert_eq!(attr("deletion_protection.enabled").as_deref(), Some("false"));
    let tgs = p.elb.describe_target_groups().target_group_arns(&web_tg.id).send().await.unwrap();
    let tg = &tgs.target_groups()[0];
    assert_eq!(tg.health_check_path(), Some("/healthz/"));
    assert_eq!(tg.matcher().and_then(|m| m.http_code()), Some("200-299"));
    assert_eq!(tg.health_check_interval_seconds(), Some(15));
    let tags = p.elb.describe_tags().resource_arns(&state.resources["http"].id).send().await.unwrap();
    let tags = tags.tag_descriptions()[0].tags();
    assert!(tags.iter().any(|t| t.key() == Some("moor:resource") && t.value() == Some("http")));
    assert!(tags.iter().any(|t| t.key() == Some("role") && t.value() == Some("main")));

    // Health check path and deregistration delay.
    let state = update_in_place(&p, &web(&Web { hc_path: "/ready", delay: "30", ..WEB_V1 }), state, &["web"]).await;
    let tgs = p.elb.describe_target_groups().target_group_arns(&web_tg.id).send().await.unwrap();
    assert_eq!(tgs.target_groups()[0].health_check_path(), Some("/ready"));
    // Load balancer security groups and idle timeout.
    let v3 =
        Web { hc_path: "/ready", delay: "30", lb_sgs: r#"["${lb_sg.id}", "${extra_sg.id}"]"#, idle: "300", ..WEB_V1 };
    let state = update_in_place(&p, &web(&v3), state, &["lb"]).await;
    let lb_live = p.elb.describe_load_balancers().load_balancer_arns(&lb.id).send().await.unwrap();
    assert_eq!(lb_live.load_balancers()[0].security_groups().len(), 2);
    // Listener port and default action.
    let v4 = Web { maint_port: "8082", maint_action: FORWARD, ..v3 };
    let state = update_in_place(&p, &web(&v4), state, &["maint"]).await;
    let maint = p.elb.describe_listeners().listener_arns(&state.resources["maint"].id).send().await.unwrap();
    let maint = &maint.listeners()[0];
    assert_eq!(maint.port(), Some(8082));
    assert_eq!(maint.default_actions()[0].target_group_arn(), Some(web_tg.id.as_str()));
    // Tags.
    let v5 = Web { team: "platform", ..v4 };
    let state = update_in_place(&p, &web(&v5), state, &["lb"]).await;
    let tags = p.elb.describe_tags().resource_arns(&lb.id).send().await.unwrap();
    assert!(tags.tag_descriptions()[0].tags().iter().any(|t| t.key() == Some("team") && t.value() == Some("platform")));

    // Destroy leaves nothing.
    let ids: Vec<(String, Kind, String)> =
        state.resources.iter().map(|(k, e)| (k.clone(), e.kind, e.id.clone())).collect();
    destroy(&p, &web(&v5), state).await;
    for (name, kind, id) in ids {
        let exists = match kind {
            Kind::Ec2SecurityGroup => sg_exists(&p, &id).await,
            Kind::Elbv2LoadBalancer => lb_exists(&p, &id).await,
            Kind::Elbv2TargetGroup => tg_exists(&p, &id).await,
            Kind::Elbv2Listener => listener_exists(&p, &id).await,
            other => panic!("unexpected {other}"),
        };
        assert!(!exists, "{name} ({kind}) is gone");
    }
}

const REPLACE_STACK: &str = r#"
stack: elb-move
resources:
  net:
    kind: ec2/default_vpc
  lb:
    kind: elbv2/load_balancer
    subnets: ${net.subnet_ids}
  web:
    kind: elbv2/target_group
    port: @PORT@
    vpc: ${net.vpc_id}
    deregistration_delay: 5
    health_check:
      path: /
      matcher: "200"
  http:
    kind: elbv2/listener
    load_balancer: ${lb.arn}
    port: 80
    default_action:
      forward: ${web.arn}
"#;

#[tokio::test]
async fn a_target_group_port_change_creates_the_new_group_moves_the_listener_then_deletes_the_old() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let a = stack_of(REPLACE_STACK, &[("PORT", "5000")]);
    let state = apply_clean(&p, &a, empty(&a)).await;
    let old = state.resources["web"].id.clone();
    let listener = state.resources["http"].id.clone();

    let b = stack_of(REPLACE_STACK, &[("PORT", "8000")]);
    let pl = make_plan(p.as_ref(), &b, &state, false, false).await;
    let web = pl.change("web").unwrap();
    assert_eq!(web.action, Action::Replace);
    assert_eq!(web.replace, Some(ReplaceOrder::CreateBeforeDelete));
    assert!(web.reasons.contains(&"forces replacement: port".to_string()), "{:?}", web.reasons);
    assert_eq!(action_of(&pl, "http"), Action::Update);
    assert_eq!(action_of(&pl, "lb"), Action::NoOp);

    // moto, like AWS, refuses to delete a group a listener uses: success
    // means the listener moved before the old group was deleted.
    let state = apply_clean(&p, &b, state).await;
    let new = state.resources["web"].id.clone();
    assert_ne!(new, old);
    assert!(state.resources["web"].deposed.is_empty());
    assert!(!tg_exists(&p, &old).await, "the old group is deleted");
    assert_eq!(state.resources["http"].id, listener, "the listener is updated, not replaced");
    let l = p.elb.describe_listeners().listener_arns(&listener).send().await.unwrap();
    assert_eq!(l.listeners()[0].default_actions()[0].target_group_arn(), Some(new.as_str()));
    destroy(&p, &b, state).await;
    assert!(!tg_exists(&p, &new).await);
}

const PROTECTED_STACK: &str = r#"
stack: elb-protect
resources:
  net:
    kind: ec2/default_vpc
  lb:
    kind: elbv2/load_balancer
    scheme: internal
    subnets: @SUBNETS@
    deletion_protection: @PROTECT@
"#;

#[tokio::test]
async fn a_protected_load_balancer_is_not_deleted_until_protection_is_turned_off() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let on = stack_of(PROTECTED_STACK, &[("PROTECT", "true"), ("SUBNETS", "${net.subnet_ids}")]);
    let state = apply_clean(&p, &on, empty(&on)).await;
    let arn = state.resources["lb"].id.clone();
    let lb = p.elb.describe_load_balancers().load_balancer_arns(&arn).send().await.unwrap();
    assert_eq!(lb.load_balancers()[0].scheme().map(|s| s.as_str()), Some("internal"));

    let (_, summary, state) = converge(&p, &on, state, true).await;
    assert_eq!(summary.failed.len(), 1, "{summary:#?}");
    let e = &summary.failed[0].error;
    assert_eq!(e.operation, "elbv2:DeleteLoadBalancer");
    assert!(e.message.contains("deletion_protection: false"), "{e}");
    assert!(lb_exists(&p, &arn).await);

    let off = stack_of(PROTECTED_STACK, &[("PROTECT", "false"), ("SUBNETS", "${net.subnet_ids}")]);
    let state = update_in_place(&p, &off, state, &["lb"]).await;

    // Fewer subnets, in place.
    let pl = make_plan(p.as_ref(), &off, &state, false, false).await;
    let all: Vec<String> =
        pl.known["net"]["subnet_ids"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
    assert!(all.len() > 2);
    let two = format!("[{}, {}]", all[1], all[0]);
    let fewer = stack_of(PROTECTED_STACK, &[("PROTECT", "false"), ("SUBNETS", &two)]);
    let state = update_in_place(&p, &fewer, state, &["lb"]).await;
    let lb = p.elb.describe_load_balancers().load_balancer_arns(&arn).send().await.unwrap();
    let mut zones: Vec<&str> =
        lb.load_balancers()[0].availability_zones().iter().filter_map(|z| z.subnet_id()).collect();
    zones.sort();
    assert_eq!(zones, [all[0].as_str(), all[1].as_str()]);
    destroy(&p, &fewer, state).await;
    assert!(!lb_exists(&p, &arn).await);
}

#[tokio::test]
async fn an_https_listener_with_a_certificate_and_tls_policy_applies_clean() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    // moto accepts an IAM server certificate without checking its contents;
    // on AWS this would be an ACM certificate.
    let cert = p
        .iam
        .upload_server_certificate()
        .server_certificate_name("elb-tls-test")
        .certificate_body("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        .private_key("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
        .send()
        .await
        .unwrap();
    let cert_arn = cert.server_certificate_metadata().unwrap().arn().to_string();
    let text = r#"
stack: elb-tls
resources:
  net:
    kind: ec2/default_vpc
  lb:
    kind: elbv2/load_balancer
    subnets: ${net.subnet_ids}
  web:
    kind: elbv2/target_group
    port: 443
    protocol: HTTPS
    vpc: ${net.vpc_id}
  https:
    kind: elbv2/listener
    load_balancer: ${lb.arn}
    port: 443
    protocol: HTTPS
    certificate: @CERT@
    ssl_policy: ELBSecurityPolicy-TLS13-1-2-2021-06
    default_action:
      forward: ${web.arn}
"#;
    let stack = stack_of(text, &[("CERT", &cert_arn)]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let l = p.elb.describe_listeners().listener_arns(&state.resources["https"].id).send().await.unwrap();
    let l = &l.listeners()[0];
    assert_eq!(l.protocol().map(|p| p.as_str()), Some("HTTPS"));
    assert_eq!(l.ssl_policy(), Some("ELBSecurityPolicy-TLS13-1-2-2021-06"));
    destroy(&p, &stack, state).await;
}
