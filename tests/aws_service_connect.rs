//! Cloud Map HTTP namespaces (for ECS Service Connect) against the moto
//! emulator: a namespace applies with no drift afterwards, its description
//! and tags change in place, a rename replaces it, destroy deletes it, a
//! namesake someone else made is refused until `moor import` adopts it,
//! and one whose record is lost is found again by its name and tags.
//!
//! moto finishes Cloud Map's operations at once and deletes a namespace
//! that still has services; the pending operations and `ResourceInUse` of
//! AWS are tested with scripted answers in the provider's own tests.
//!
//! Services join a namespace with `service_connect`, and a cluster names
//! its default one with `service_connect_defaults`: they apply, plan clean,
//! change in place (a client alias, the cluster's default), and go again
//! when removed. moto keeps a service's Service Connect configuration only
//! through `scripts/moto-server` (docs/emulator.md), on the PRIMARY
//! deployment, where AWS answers it and moor reads it.

mod support;

use moor::plan::{Action, Plan};
use moor::provider::aws::AwsProvider;
use moor::provider::Provider;
use std::collections::{BTreeMap, BTreeSet};
use support::{apply_clean, converge, default_net, empty, load, make_plan, provider};

type Namespace = aws_sdk_servicediscovery::types::Namespace;

/// The HTTP namespace of this name, if any.
async fn namespace(p: &AwsProvider, name: &str) -> Option<Namespace> {
    let out = p.servicediscovery.list_namespaces().send().await.expect("list");
    let id = out.namespaces().iter().find(|n| n.name() == Some(name))?.id()?.to_string();
    let got = p.servicediscovery.get_namespace().id(id).send().await.expect("get");
    got.namespace().cloned()
}

async fn tags(p: &AwsProvider, n: &Namespace) -> BTreeMap<String, String> {
    let out = p.servicediscovery.list_tags_for_resource().resource_arn(n.arn().unwrap()).send().await.expect("tags");
    out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

fn action(pl: &Plan, resource: &str) -> Action {
    pl.change(resource).unwrap_or_else(|| panic!("{resource} is in the plan: {:#?}", pl.changes)).action
}

fn changed(pl: &Plan, resource: &str) -> BTreeSet<String> {
    pl.change(resource).unwrap().diffs.iter().map(|d| d.field.clone()).collect()
}

fn stack(name: &str, settings: &str) -> String {
    format!(
        "stack: {name}\ntags:\n  team: web\nresources:\n  ns:\n    kind: servicediscovery/http_namespace\n{settings}"
    )
}

#[tokio::test]
async fn a_namespace_applies_clean_changes_in_place_and_is_replaced_by_a_rename() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let name = "t-sc-life-ns";
    let v1 = load(&stack("t-sc-life", "    description: shop services\n    tags: { app: shop }\n"), &[]);
    let state = apply_clean(&p, &v1, empty(&v1)).await;

    // The default name; the id, ARN and name as attributes; the tags.
    let n = namespace(&p, name).await.expect("created");
    assert_eq!(n.description(), Some("shop services"));
    let e = &state.resources["ns"];
    assert_eq!(e.id, n.id().unwrap());
    assert!(e.id.starts_with("ns-"), "{}", e.id);
    assert_eq!(e.attrs["arn"], n.arn().unwrap());
    assert_eq!(e.attrs["name"], name);
    let t = tags(&p, &n).await;
    for (k, v) in [("moor:stack", "t-sc-life"), ("moor:resource", "ns"), ("team", "web"), ("app", "shop")] {
        assert_eq!(t.get(k).map(String::as_str), Some(v), "{k} in {t:?}");
    }

    // The description and tags change in place, field by field.
    let v2 = load(&stack("t-sc-life", "    description: the shop\n    tags: { app: store }\n"), &[]);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(action(&pl, "ns"), Action::Update);
    assert_eq!(changed(&pl, "ns"), BTreeSet::from(["description".to_string(), "tags".to_string()]));
    let state = apply_clean(&p, &v2, state).await;
    let n2 = namespace(&p, name).await.expect("still there");
    assert_eq!((n2.id(), n2.description()), (n.id(), Some("the shop")), "updated in place");
    assert_eq!(tags(&p, &n2).await.get("app").map(String::as_str), Some("store"));

    // Left out, the description goes.
    let v3 = load(&stack("t-sc-life", "    tags: { app: store }\n"), &[]);
    let pl = make_plan(p.as_ref(), &v3, &state, false, false).await;
    assert_eq!(changed(&pl, "ns"), BTreeSet::from(["description".to_string()]));
    let state = apply_clean(&p, &v3, state).await;
    assert_eq!(namespace(&p, name).await.unwrap().description().filter(|d| !d.is_empty()), None);

    // A new name is a new namespace; the old one is deleted.
    let v4 = load(&stack("t-sc-life", "    name: t-sc-life.local\n    tags: { app: store }\n"), &[]);
    let pl = make_plan(p.as_ref(), &v4, &state, false, false).await;
    let ch = pl.change("ns").unwrap();
    assert_eq!(ch.action, Action::Replace);
    assert_eq!(ch.reasons, ["forces replacement: name"]);
    let state = apply_clean(&p, &v4, state).await;
    assert!(namespace(&p, name).await.is_none(), "the old namespace is deleted");
    assert!(namespace(&p, "t-sc-life.local").await.is_some());

    // Destroy deletes it and leaves nothing.
    let (pl, summary, state) = converge(&p, &v4, state, true).await;
    assert_eq!(action(&pl, "ns"), Action::Delete);
    assert!(summary.ok(), "{summary:#?}");
    assert!(namespace(&p, "t-sc-life.local").await.is_none());
    assert!(state.resources.is_empty());
}

#[tokio::test]
async fn a_namesake_someone_else_made_is_refused_until_imported() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let name = "t-sc-theirs-ns";
    let tag = aws_sdk_servicediscovery::types::Tag::builder().key("owner").value("someone").build().unwrap();
    p.servicediscovery.create_http_namespace().name(name).tags(tag).send().await.expect("made by hand");
    let s = load(&stack("t-sc-theirs", "    description: ours\n"), &[]);
    let pl = make_plan(p.as_ref(), &s, &empty(&s), false, false).await;
    assert_eq!(action(&pl, "ns"), Action::NoOp);
    let problem = pl.problems.iter().find(|x| x.resource == "ns").expect("refused");
    assert!(problem.message.contains("belongs to nothing moor manages"), "{}", problem.message);
    assert!(problem.help.contains("moor import ns"), "{}", problem.help);

    // Destroy leaves it alone.
    let pl = make_plan(p.as_ref(), &s, &empty(&s), true, false).await;
    assert!(!pl.changes.iter().any(|c| c.resource == "ns" && c.action == Action::Delete), "{:#?}", pl.changes);
    let n = namespace(&p, name).await.expect("still there");
    assert_eq!(tags(&p, &n).await.get("moor:stack"), None, "untouched");

    // `moor import` tags it (it keeps its own tags); then it is managed,
    // and its description is planned in place.
    let state = empty(&s);
    let t = moor::plan::target(&s, "ns", &Default::default(), &state).0;
    let live = p.read(&t).await.expect("read").expect("found");
    let adopted = p.adopt(&t, &live).await.expect("adopted");
    assert_eq!(adopted.id, n.id().unwrap());
    let t = tags(&p, &n).await;
    assert_eq!(
        (t.get("moor:stack").map(String::as_str), t.get("owner").map(String::as_str)),
        (Some("t-sc-theirs"), Some("someone"))
    );
    let pl = make_plan(p.as_ref(), &s, &state, false, false).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    // Its own tags are not the file's: they are planned away, as any kind's.
    assert_eq!(changed(&pl, "ns"), BTreeSet::from(["description".to_string(), "tags".to_string()]));
    let state = apply_clean(&p, &s, state).await;
    let (_, summary, _) = converge(&p, &s, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(namespace(&p, name).await.is_none());
}

#[tokio::test]
async fn a_namespace_whose_record_is_lost_is_found_by_its_name_and_tags() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let s = load(&stack("t-sc-lost", ""), &[]);
    apply_clean(&p, &s, empty(&s)).await;
    let n = namespace(&p, "t-sc-lost-ns").await.expect("created");

    // No record: the namespace carrying the stack's tags is the stack's,
    // not made a second time.
    let pl = make_plan(p.as_ref(), &s, &empty(&s), false, false).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    assert!(!pl.changes.iter().any(|c| c.resource == "ns" && c.action == Action::Create), "{:#?}", pl.changes);

    // Destroy without a record deletes it.
    let (pl, summary, _) = converge(&p, &s, empty(&s), true).await;
    assert_eq!(action(&pl, "ns"), Action::Delete);
    assert!(summary.ok(), "{summary:#?}");
    assert!(namespace(&p, "t-sc-lost-ns").await.is_none(), "{n:?} is deleted");
}

/// Two services in one cluster and one namespace: `api` offers its `http`
/// port as `alias`, `web` calls it. `connect` is api's `service_connect`
/// block and `defaults` the cluster's `service_connect_defaults` (YAML,
/// or empty for none).
fn connect_stack(connect: &str, defaults: &str) -> String {
    let web = service("web", "    service_connect:\n      namespace: ${ns.arn}\n");
    format!("{}{}{web}", base_stack("t-sc-svc", defaults), service("api", connect))
}

/// A stack `stack` with the network as variables, namespace `ns`, cluster
/// `cluster` (with `defaults`, YAML lines or empty) and task `task`, whose
/// container `app` offers port 8080 as `http`; services follow.
fn base_stack(stack: &str, defaults: &str) -> String {
    format!(
        "stack: {stack}
variables:
  subnets: {{ type: list }}
  sg: {{}}
resources:
  ns:
    kind: servicediscovery/http_namespace
  cluster:
    kind: ecs/cluster
{defaults}  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    containers:
      - name: app
        image: nginx:1.27
        port_mappings:
          - {{ container_port: 8080, name: http, app_protocol: http }}
"
    )
}

/// Service `name` of `task` in `cluster`, in the network of the variables,
/// with `more` (YAML lines, or empty).
fn service(name: &str, more: &str) -> String {
    format!(
        "  {name}:
    kind: ecs/service
    cluster: ${{cluster.arn}}
    task_definition: ${{task.arn}}
    network:
      subnets: ${{var.subnets}}
      security_groups: ['${{var.sg}}']
{more}"
    )
}

fn api_connect(alias: &str) -> String {
    format!(
        "    service_connect:
      namespace: ${{ns.arn}}
      services:
        - port_name: http
          discovery_name: api
          client_aliases: [{{ port: 80, dns_name: {alias} }}]
          timeout: {{ idle_seconds: 120, per_request_seconds: 30 }}
      log_configuration: {{ group: /ecs/t-sc-svc, stream_prefix: connect }}
"
    )
}

const DEFAULTS: &str = "    service_connect_defaults: { namespace: \"${ns.arn}\" }\n";

/// The service's Service Connect configuration, as DescribeServices
/// answers it: on its PRIMARY deployment.
async fn connect_of(p: &AwsProvider, arn: &str) -> Option<aws_sdk_ecs::types::ServiceConnectConfiguration> {
    let cluster = arn.split('/').nth(1).unwrap();
    let out = p.ecs.describe_services().cluster(cluster).services(arn).send().await.expect("describe");
    let svc = &out.services()[0];
    let primary = svc.deployments().iter().find(|d| d.status() == Some("PRIMARY")).expect("a PRIMARY deployment");
    primary.service_connect_configuration().cloned()
}

async fn cluster_default(p: &AwsProvider, arn: &str) -> Option<String> {
    let out = p.ecs.describe_clusters().clusters(arn).send().await.expect("describe");
    out.clusters()[0].service_connect_defaults().and_then(|d| d.namespace()).map(str::to_string)
}

#[tokio::test]
async fn services_connect_through_a_namespace_and_change_in_place() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    let subnets = format!("subnets=[{}]", net.subnets.join(", "));
    let sg = format!("sg={}", net.sg);
    let vars = [subnets.as_str(), sg.as_str()];

    // Applied, then a plan without changes.
    let v1 = load(&connect_stack(&api_connect("api"), DEFAULTS), &vars);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let ns_arn = state.resources["ns"].attrs["arn"].as_str().unwrap().to_string();
    let api = state.resources["api"].id.clone();
    let sc = connect_of(&p, &api).await.expect("api has Service Connect");
    assert!(sc.enabled());
    assert_eq!(sc.namespace(), Some(ns_arn.as_str()));
    let s = &sc.services()[0];
    assert_eq!((s.port_name(), s.discovery_name()), ("http", Some("api")));
    assert_eq!(s.client_aliases()[0].dns_name(), Some("api"));
    assert_eq!(s.client_aliases()[0].port(), 80);
    assert_eq!(s.timeout().and_then(|t| t.per_request_timeout_seconds()), Some(30));
    let logs = sc.log_configuration().expect("proxy logs");
    assert_eq!(logs.options().unwrap()["awslogs-group"], "/ecs/t-sc-svc");
    let web = connect_of(&p, &state.resources["web"].id).await.expect("web has Service Connect");
    assert!(web.services().is_empty(), "web only calls");
    let cluster = state.resources["cluster"].id.clone();
    assert_eq!(cluster_default(&p, &cluster).await.as_deref(), Some(ns_arn.as_str()));

    // A new client alias: the same service, updated in place, field by field.
    let v2 = load(&connect_stack(&api_connect("api-v2"), DEFAULTS), &vars);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(action(&pl, "api"), Action::Update);
    assert_eq!(changed(&pl, "api"), BTreeSet::from(["service_connect".to_string()]));
    for other in ["web", "cluster", "ns", "task"] {
        assert_eq!(action(&pl, other), Action::NoOp, "{other}");
    }
    let state = apply_clean(&p, &v2, state).await;
    assert_eq!(state.resources["api"].id, api, "not replaced");
    let sc = connect_of(&p, &api).await.unwrap();
    assert_eq!(sc.services()[0].client_aliases()[0].dns_name(), Some("api-v2"));

    // Removed from the file: api leaves Service Connect, the cluster loses
    // its default; both in place.
    let v3 = load(&connect_stack("", ""), &vars);
    let pl = make_plan(p.as_ref(), &v3, &state, false, false).await;
    assert_eq!(action(&pl, "api"), Action::Update);
    assert_eq!(changed(&pl, "api"), BTreeSet::from(["service_connect".to_string()]));
    assert_eq!(action(&pl, "cluster"), Action::Update);
    assert_eq!(changed(&pl, "cluster"), BTreeSet::from(["service_connect_defaults".to_string()]));
    let state = apply_clean(&p, &v3, state).await;
    assert!(!connect_of(&p, &api).await.is_some_and(|c| c.enabled()), "api left Service Connect");
    assert_eq!(cluster_default(&p, &cluster).await, None);

    // Destroy takes it all, the namespace last.
    let (pl, summary, state) = converge(&p, &v3, state, true).await;
    assert_eq!(action(&pl, "ns"), Action::Delete);
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
    assert!(namespace(&p, "t-sc-svc-ns").await.is_none());
}

/// A cluster, a task and a namespace, and (given `app`'s namespace)
/// service `app`, with the namespace the cluster's default too.
fn adopt_stack(app: Option<&str>) -> String {
    let defaults = if app.is_some() { DEFAULTS } else { "" };
    let app = app.map_or(String::new(), |ns| service("app", &format!("    service_connect:\n      namespace: {ns}\n")));
    format!("{}{app}", base_stack("t-sc-adopt", defaults))
}

/// Points the cluster's default Service Connect namespace at `namespace`
/// (a name or an ARN), as another tool would.
async fn default_to(p: &AwsProvider, cluster: &str, namespace: &str) {
    let d = aws_sdk_ecs::types::ClusterServiceConnectDefaultsRequest::builder().namespace(namespace).build().unwrap();
    p.ecs.update_cluster().cluster(cluster).service_connect_defaults(d).send().await.expect("update");
}

/// Points the service's Service Connect at `namespace` (a name or an ARN),
/// as another tool would.
async fn connect_to(p: &AwsProvider, cluster: &str, service: &str, namespace: &str) {
    let sc = aws_sdk_ecs::types::ServiceConnectConfiguration::builder().enabled(true).namespace(namespace).build();
    p.ecs
        .update_service()
        .cluster(cluster)
        .service(service)
        .service_connect_configuration(sc)
        .send()
        .await
        .expect("update");
}

#[tokio::test]
async fn a_service_and_cluster_holding_their_namespace_by_name_plan_no_namespace_change() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    let subnets = format!("subnets=[{}]", net.subnets.join(", "));
    let sg = format!("sg={}", net.sg);
    let vars = [subnets.as_str(), sg.as_str()];
    let base = load(&adopt_stack(None), &vars);
    let state = apply_clean(&p, &base, empty(&base)).await;
    let cluster = state.resources["cluster"].id.clone();
    let ns_arn = state.resources["ns"].attrs["arn"].as_str().unwrap().to_string();

    // Made by another tool, which named the namespace by its name.
    let awsvpc = aws_sdk_ecs::types::AwsVpcConfiguration::builder()
        .set_subnets(Some(net.subnets.clone()))
        .security_groups(&net.sg)
        .build()
        .unwrap();
    let made = p
        .ecs
        .create_service()
        .cluster(&cluster)
        .service_name("t-sc-adopt-app")
        .task_definition(&state.resources["task"].id)
        .desired_count(1)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .network_configuration(aws_sdk_ecs::types::NetworkConfiguration::builder().awsvpc_configuration(awsvpc).build())
        .send()
        .await
        .expect("made by hand");
    let arn = made.service().and_then(|s| s.service_arn()).unwrap().to_string();
    connect_to(&p, &cluster, &arn, "t-sc-adopt-ns").await;
    assert_eq!(
        connect_of(&p, &arn).await.and_then(|c| c.namespace().map(str::to_string)).as_deref(),
        Some("t-sc-adopt-ns")
    );
    default_to(&p, &cluster, "t-sc-adopt-ns").await;
    assert_eq!(cluster_default(&p, &cluster).await.as_deref(), Some("t-sc-adopt-ns"));

    // `moor import app`: tagged, then planned against `${ns.arn}`.
    let s = load(&adopt_stack(Some("${ns.arn}")), &vars);
    let known = state.resources.iter().map(|(n, e)| (n.clone(), e.attrs.clone())).collect();
    let t = moor::plan::target(&s, "app", &known, &state).0;
    let live = p.read(&t).await.expect("read").expect("found");
    p.adopt(&t, &live).await.expect("adopted");
    let pl = make_plan(p.as_ref(), &s, &state, false, false).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    assert_eq!(action(&pl, "app"), Action::NoOp, "{:#?}", pl.change("app"));
    assert_eq!(action(&pl, "cluster"), Action::NoOp, "{:#?}", pl.change("cluster"));

    // The file naming it by name, the service by ARN: the same.
    connect_to(&p, &cluster, &arn, &ns_arn).await;
    let by_name = load(&adopt_stack(Some("t-sc-adopt-ns")), &vars);
    let pl = make_plan(p.as_ref(), &by_name, &state, false, false).await;
    assert_eq!(action(&pl, "app"), Action::NoOp, "{:#?}", pl.change("app"));

    // Another namespace, by name: a change of the service's Service Connect.
    p.servicediscovery.create_http_namespace().name("t-sc-adopt-other").send().await.expect("another namespace");
    connect_to(&p, &cluster, &arn, "t-sc-adopt-other").await;
    default_to(&p, &cluster, "t-sc-adopt-other").await;
    let pl = make_plan(p.as_ref(), &s, &state, false, false).await;
    assert_eq!(action(&pl, "app"), Action::Update);
    assert_eq!(changed(&pl, "app"), BTreeSet::from(["service_connect".to_string()]));
    assert_eq!(action(&pl, "cluster"), Action::Update);
    assert_eq!(changed(&pl, "cluster"), BTreeSet::from(["service_connect_defaults".to_string()]));
    let state = apply_clean(&p, &s, state).await;
    assert_eq!(connect_of(&p, &arn).await.and_then(|c| c.namespace().map(str::to_string)), Some(ns_arn.clone()));
    assert_eq!(cluster_default(&p, &cluster).await, Some(ns_arn));

    let (_, summary, state) = converge(&p, &s, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
    let other = namespace(&p, "t-sc-adopt-other").await.expect("left alone");
    p.servicediscovery.delete_namespace().id(other.id().unwrap()).send().await.expect("cleaned up");
}

/// `moor import` with the namespace's id: it is tagged as the stack's, its
/// description plans no change, and destroy deletes it.
#[tokio::test]
async fn moor_import_adopts_a_namespace_by_its_id_and_it_plans_clean() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let name = "t-sc-import-ns";
    p.servicediscovery.create_http_namespace().name(name).description("ours").send().await.expect("made by hand");
    let n = namespace(&p, name).await.expect("made");
    let id = n.id().unwrap().to_string();
    let d = support::workdir("sc-import", &stack("t-sc-import", "    description: ours\n"));
    let o = support::moor_in(&d, &["import", "ns", &id, "-f", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    assert_eq!(tags(&p, &n).await.get("moor:resource").map(String::as_str), Some("ns"));
    let o = support::moor_in(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let o = support::moor_in(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    assert!(namespace(&p, name).await.is_none(), "deleted");
}
