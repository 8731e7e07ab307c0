//! The ECS kinds against the moto emulator: clusters, task definitions and
//! services created, changed in place and destroyed, with "apply, then plan
//! shows no change" after every apply. Each test has its own stack name.
//! Networking and load balancers come straight from the SDK, so these tests
//! depend on the ECS provider only.

mod support;

use aws_sdk_ecs::types as et;
use moor::model::Kind;
use moor::plan::{Action, Plan};
use moor::provider::aws::AwsProvider;
use moor::provider::{ErrorKind, Provider, ProviderOptions, Target};
use moor::state::State;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{apply_clean, converge, default_net, empty, load, make_plan, provider, Net};

const ACCOUNT: &str = "123456789012";

fn net_vars(n: &Net) -> Vec<String> {
    vec![format!("subnets=[{}]", n.subnets.join(", ")), format!("sg={}", n.sg)]
}

fn load_with(text: &str, vars: &[String]) -> moor::model::Stack {
    let v: Vec<&str> = vars.iter().map(String::as_str).collect();
    load(text, &v)
}

fn action(pl: &Plan, resource: &str) -> Action {
    pl.change(resource).unwrap_or_else(|| panic!("{resource} in plan")).action
}

fn changed_fields(pl: &Plan, resource: &str) -> Vec<String> {
    pl.change(resource).unwrap().diffs.iter().map(|d| d.field.clone()).collect()
}

fn id(state: &State, resource: &str) -> String {
    state.resources[resource].id.clone()
}

async fn describe_service(p: &AwsProvider, arn: &str) -> et::Service {
    let cluster = arn.split('/').nth(1).unwrap();
    let out =
        p.ecs.describe_services().cluster(cluster).services(arn).include(et::ServiceField::Tags).send().await.unwrap();
    out.services()[0].clone()
}

async fn describe_td(p: &AwsProvider, arn: &str) -> Option<et::TaskDefinition> {
    p.ecs.describe_task_definition().task_definition(arn).send().await.ok().and_then(|o| o.task_definition)
}

async fn active_revisions(p: &AwsProvider, family: &str) -> Vec<String> {
    let out = p
        .ecs
        .list_task_definitions()
        .family_prefix(family)
        .status(et::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    out.task_definition_arns().to_vec()
}

/// Gone as moor means it: INACTIVE, being deleted, or not there at all.
fn td_gone(td: Option<et::TaskDefinition>) -> bool {
    td.is_none_or(|t| t.status() != Some(&et::TaskDefinitionStatus::Active))
}

/// A provider for another endpoint (a second emulator).
async fn provider_at(endpoint: &str) -> Arc<AwsProvider> {
    support::moto(); // credentials in the environment
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    let opts = ProviderOptions {
        wait_timeout: Duration::from_secs(60),
        poll: Duration::from_millis(50),
        ..Default::default()
    };
    Arc::new(AwsProvider::from_config(&conf, "us-east-1".into(), opts))
}

/// Starts another moto server with its own environment; it stops when this
/// test process exits. Returns its endpoint.
// The watching shell is meant to outlive this process's interest in it.
#[allow(clippy::zombie_processes)]
fn extra_moto(env: &[(&str, &str)]) -> String {
    support::moto(); // installed
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = format!(
        "{} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; while kill -0 {} 2>/dev/null; do sleep 0.5; done; kill $m",
        root.join(".venv/bin/moto_server").display(),
        std::process::id()
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start moto");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "moto did not start on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    format!("http://127.0.0.1:{port}")
}

// ---- ecs/cluster ---------------------------------------------------------------

#[tokio::test]
async fn cluster_with_insights_and_capacity_providers_applies_clean_updates_and_destroys() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let text = |insights: &str, providers: &str, strategy: &str, team: &str| {
        format!(
            "stack: ecs-cluster-settings
region: us-east-1
resources:
  cluster:
    kind: ecs/cluster
    container_insights: {insights}
    capacity_providers: {providers}
    default_strategy: {strategy}
    tags: {{ team: {team} }}
"
        )
    };
    let stack = load(
        &text(
            "enabled",
            "[FARGATE, FARGATE_SPOT]",
            "[{ provider: FARGATE, weight: 1, base: 1 }, { provider: FARGATE_SPOT, weight: 3 }]",
            "platform",
        ),
        &[],
    );
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let arn = id(&state, "cluster");
    let c = &p
        .ecs
        .describe_clusters()
        .clusters(&arn)
        .include(et::ClusterField::Settings)
        .include(et::ClusterField::Tags)
        .send()
        .await
        .unwrap()
        .clusters()[0]
        .clone();
    assert_eq!(c.cluster_name(), Some("ecs-cluster-settings-cluster"));
    assert_eq!(c.settings()[0].value(), Some("enabled"));
    assert_eq!(c.capacity_providers(), ["FARGATE", "FARGATE_SPOT"]);
    let strategy: Vec<_> = c
        .default_capacity_provider_strategy()
        .iter()
        .map(|s| (s.capacity_provider().to_string(), s.weight(), s.base()))
        .collect();
    assert_eq!(strategy, vec![("FARGATE".to_string(), 1, 1), ("FARGATE_SPOT".to_string(), 3, 0)]);
    let tags: Vec<_> = c.tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
    assert!(tags.contains(&("team", "platform")) && tags.contains(&("moor:stack", "ecs-cluster-settings")), "{tags:?}");

    // Settings, providers and tags change in place.
    let changed = load(&text("disabled", "[FARGATE]", "[{ provider: FARGATE, weight: 1 }]", "web"), &[]);
    let pl = make_plan(p.as_ref(), &changed, &state, false, false).await;
    assert_eq!(action(&pl, "cluster"), Action::Update);
    let mut fields = changed_fields(&pl, "cluster");
    fields.sort();
    assert_eq!(fields, ["capacity_providers", "container_insights", "default_strategy", "tags"]);
    let state = apply_clean(&p, &changed, state).await;
    assert_eq!(id(&state, "cluster"), arn, "same cluster");
    let c = &p
        .ecs
        .describe_clusters()
        .clusters(&arn)
        .include(et::ClusterField::Settings)
        .include(et::ClusterField::Tags)
        .send()
        .await
        .unwrap()
        .clusters()[0]
        .clone();
    assert_eq!(c.settings()[0].value(), Some("disabled"));
    assert_eq!(c.capacity_providers(), ["FARGATE"]);
    let tags: Vec<_> = c.tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
    assert!(tags.contains(&("team", "web")) && !tags.contains(&("team", "platform")), "{tags:?}");

    let (_, summary, state) = converge(&p, &changed, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty());
    let out = p.ecs.describe_clusters().clusters(&arn).send().await.unwrap();
    assert!(out.clusters().iter().all(|c| c.status() == Some("INACTIVE")), "{out:?}");
    let again = make_plan(p.as_ref(), &changed, &state, false, false).await;
    assert_eq!(action(&again, "cluster"), Action::Create, "an INACTIVE cluster is gone");
}

// ---- ecs/task_definition ---------------------------------------------------------

const TD_FIELDS: &str = r#"stack: ecs-td-fields
region: us-east-1
variables:
  team: { default: web }
tags:
  team: ${var.team}
resources:
  task:
    kind: ecs/task_definition
    cpu: "0.5 vCPU"
    memory: "1 GB"
    cpu_architecture: arm64
    execution_role: arn:aws:iam::123456789012:role/ecs-td-fields-exec
    task_role: arn:aws:iam::123456789012:role/ecs-td-fields-app
    containers:
      - name: web
        image: nginx:1.27
        essential: true
        cpu: 256
        memory_reservation: 512
        port_mappings:
          - container_port: 8000
          - container_port: 9000
            protocol: udp
            name: metrics
        environment:
          ZED: last
          ALPHA: first
          PYTHONUNBUFFERED: "1"
        secrets:
          DATABASE_URL: arn:aws:secretsmanager:us-east-1:123456789012:secret:ecs-td-fields/database-url
          SIGNING_KEY: arn:aws:ssm:us-east-1:123456789012:parameter/ecs-td-fields/signing-key
        command: [sh, -c, "exec gunicorn app:app --bind 0.0.0.0:8000"]
        entry_point: [/usr/bin/env]
        working_directory: /app
        health_check:
          command: [CMD-SHELL, "curl -f http://localhost:8000/ || exit 1"]
          interval: 15
          timeout: 5
          retries: 3
          start_period: 30
        logs:
          group: /ecs/ecs-td-fields
          stream_prefix: web
          create_group: true
      - name: sidecar
        image: busybox:1.36
        essential: false
        memory: 64
        command: [sleep, infinity]
        logs:
          group: /ecs/ecs-td-fields-sidecar
          stream_prefix: sidecar
          region: eu-west-1
"#;

#[tokio::test]
async fn task_definition_with_every_container_field_applies_clean() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(TD_FIELDS, &[]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let arn = id(&state, "task");
    assert!(arn.ends_with(":task-definition/ecs-td-fields-task:1"), "{arn}");
    assert_eq!(state.resources["task"].attrs["revision"], serde_json::json!(1));
    assert_eq!(state.resources["task"].attrs["family"], serde_json::json!("ecs-td-fields-task"));

    let td = describe_td(&p, &arn).await.unwrap();
    assert_eq!((td.cpu(), td.memory()), (Some("512"), Some("1024")));
    assert_eq!(td.network_mode(), Some(&et::NetworkMode::Awsvpc));
    assert_eq!(td.requires_compatibilities(), [et::Compatibility::Fargate]);
    assert_eq!(td.runtime_platform().unwrap().cpu_architecture(), Some(&et::CpuArchitecture::Arm64));
    assert_eq!(td.execution_role_arn(), Some("arn:aws:iam::123456789012:role/ecs-td-fields-exec"));
    assert_eq!(td.task_role_arn(), Some("arn:aws:iam::123456789012:role/ecs-td-fields-app"));
    let web = td.container_definitions().iter().find(|c| c.name() == Some("web")).unwrap();
    let env: Vec<_> = web.environment().iter().map(|kv| (kv.name().unwrap(), kv.value().unwrap())).collect();
    assert_eq!(env, [("ALPHA", "first"), ("PYTHONUNBUFFERED", "1"), ("ZED", "last")], "sorted by name");
    let secrets: Vec<_> = web.secrets().iter().map(|s| (s.name(), s.value_from())).collect();
    assert_eq!(
        secrets,
        [
            ("DATABASE_URL", "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecs-td-fields/database-url"),
            ("SIGNING_KEY", "arn:aws:ssm:us-east-1:123456789012:parameter/ecs-td-fields/signing-key"),
        ]
    );
    assert_eq!(web.command(), ["sh", "-c", "exec gunicorn app:app --bind 0.0.0.0:8000"]);
    assert_eq!(web.entry_point(), ["/usr/bin/env"]);
    assert_eq!(web.working_directory(), Some("/app"));
    assert_eq!((web.cpu(), web.memory_reservation(), web.essential()), (256, Some(512), Some(true)));
    let ports: Vec<_> =
        web.port_mappings().iter().map(|m| (m.container_port(), m.protocol().cloned(), m.name())).collect();
    assert_eq!(ports, [(Some(8000), None, None), (Some(9000), Some(et::TransportProtocol::Udp), Some("metrics"))]);
    let hc = web.health_check().unwrap();
    assert_eq!(hc.command(), ["CMD-SHELL", "curl -f http://localhost:8000/ || exit 1"]);
    assert_eq!((hc.interval(), hc.timeout(), hc.retries(), hc.start_period()), (Some(15), Some(5), Some(3), Some(30)));
    let logs = web.log_configuration().unwrap();
    assert_eq!(logs.log_driver(), &et::LogDriver::Awslogs);
    let o = logs.options().unwrap();
    assert_eq!(o["awslogs-group"], "/ecs/ecs-td-fields");
    assert_eq!(o["awslogs-region"], "us-east-1", "the stack's region by default");
    assert_eq!(o["awslogs-stream-prefix"], "web");
    assert_eq!(o["awslogs-create-group"], "true");
    let side = td.container_definitions().iter().find(|c| c.name() == Some("sidecar")).unwrap();
    assert_eq!((side.essential(), side.memory()), (Some(false), Some(64)));
    let o = side.log_configuration().unwrap().options().unwrap();
    assert_eq!(o["awslogs-region"], "eu-west-1");
    assert!(!o.contains_key("awslogs-create-group"));

    // New tags alone re-tag the revision: no new revision.
    let retagged = load(TD_FIELDS, &["team=payments"]);
    let pl = make_plan(p.as_ref(), &retagged, &state, false, false).await;
    assert_eq!(action(&pl, "task"), Action::Update);
    assert_eq!(changed_fields(&pl, "task"), ["tags"]);
    let state = apply_clean(&p, &retagged, state).await;
    assert_eq!(id(&state, "task"), arn, "no new revision for tags");
    assert_eq!(active_revisions(&p, "ecs-td-fields-task").await, [arn.as_str()]);
    let out = p.ecs.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    assert!(out.tags().iter().any(|t| t.key() == Some("team") && t.value() == Some("payments")));

    let (_, summary, _) = converge(&p, &retagged, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(td_gone(describe_td(&p, &arn).await));
    assert!(active_revisions(&p, "ecs-td-fields-task").await.is_empty());
}

/// Container start order, user, read-only root, ulimits, Service Connect protocol
/// and ephemeral storage; `{user}` is the web container's user.
fn td_startup(user: &str) -> String {
    format!(
        r#"stack: ecs-td-startup
region: us-east-1
resources:
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    ephemeral_storage: 40
    containers:
      - name: web
        image: nginx:1.27
        user: "{user}"
        readonly_root_filesystem: true
        ulimits:
          - {{ name: nofile, soft: 65536, hard: 65536 }}
          - {{ name: nproc, soft: 1024, hard: 2048 }}
        port_mappings:
          - container_port: 8080
            name: web
            app_protocol: http2
        depends_on:
          - container: migrate
            condition: success
          - container: proxy
            condition: HEALTHY
      - name: migrate
        image: busybox:1.36
        essential: false
        readonly_root_filesystem: false
        command: [./migrate]
      - name: proxy
        image: envoyproxy/envoy:v1.31
        health_check:
          command: [CMD-SHELL, "curl -f http://localhost:9901/ready || exit 1"]
"#
    )
}

#[tokio::test]
async fn start_order_user_readonly_root_ulimits_app_protocol_and_ephemeral_storage_apply_clean() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(&td_startup("1000:1000"), &[]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let arn = id(&state, "task");
    let td = describe_td(&p, &arn).await.unwrap();
    assert_eq!(td.ephemeral_storage().map(|e| e.size_in_gib()), Some(40));
    let web = td.container_definitions().iter().find(|c| c.name() == Some("web")).unwrap();
    assert_eq!(web.user(), Some("1000:1000"));
    assert_eq!(web.readonly_root_filesystem(), Some(true));
    let ulimits: Vec<_> = web.ulimits().iter().map(|u| (u.name().clone(), u.soft_limit(), u.hard_limit())).collect();
    assert_eq!(ulimits, [(et::UlimitName::Nofile, 65536, 65536), (et::UlimitName::Nproc, 1024, 2048)]);
    assert_eq!(web.port_mappings()[0].app_protocol(), Some(&et::ApplicationProtocol::Http2));
    let deps: Vec<_> = web.depends_on().iter().map(|d| (d.container_name(), d.condition().clone())).collect();
    assert_eq!(
        deps,
        [("migrate", et::ContainerCondition::Success), ("proxy", et::ContainerCondition::Healthy)],
        "in the file's order, conditions in AWS's spelling"
    );
    let migrate = td.container_definitions().iter().find(|c| c.name() == Some("migrate")).unwrap();
    assert_eq!(migrate.readonly_root_filesystem(), Some(false));

    // Another user: a new revision, the old one retired.
    let changed = load(&td_startup("app"), &[]);
    let pl = make_plan(p.as_ref(), &changed, &state, false, false).await;
    assert_eq!(action(&pl, "task"), Action::Update);
    assert_eq!(changed_fields(&pl, "task"), ["containers"]);
    let state = apply_clean(&p, &changed, state).await;
    let new = id(&state, "task");
    assert!(new.ends_with(":task-definition/ecs-td-startup-task:2"), "{new}");
    assert_eq!(active_revisions(&p, "ecs-td-startup-task").await, [new.as_str()]);
    let td = describe_td(&p, &new).await.unwrap();
    assert_eq!(td.container_definitions()[0].user(), Some("app"));

    // More ephemeral storage: a new revision too.
    let bigger = load(&td_startup("app").replace("ephemeral_storage: 40", "ephemeral_storage: 60"), &[]);
    let pl = make_plan(p.as_ref(), &bigger, &state, false, false).await;
    assert_eq!(changed_fields(&pl, "task"), ["ephemeral_storage"]);
    let state = apply_clean(&p, &bigger, state).await;
    assert!(id(&state, "task").ends_with("ecs-td-startup-task:3"), "{}", id(&state, "task"));

    let (_, summary, _) = converge(&p, &bigger, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(active_revisions(&p, "ecs-td-startup-task").await.is_empty());
}

// ---- ecs/service -------------------------------------------------------------------

/// Cluster, task definition and service; `extra` is appended to the service.
const TD_EC2: &str = r#"stack: ecs-td-ec2
region: us-east-1
resources:
  task:
    kind: ecs/task_definition
    launch_type: ec2
    network_mode: bridge
    execution_role: arn:aws:iam::123456789012:role/ecs-td-ec2-exec
    containers:
      - name: web
        image: nginx:1.27
        memory: 256
        port_mappings:
          - container_port: 80
            host_port: 0
        secrets:
          DB_PASSWORD: /ecs-td-ec2/db_password
          API_KEY: ecs_td_ec2_api_key
        logs:
          group: /ecs/ecs-td-ec2
"#;

#[tokio::test]
async fn an_ec2_task_definition_without_task_sizes_or_stream_prefix_and_with_parameter_names_applies_clean() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(TD_EC2, &[]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let arn = id(&state, "task");
    let td = describe_td(&p, &arn).await.unwrap();
    assert_eq!((td.cpu(), td.memory()), (None, None), "no task-level sizes registered");
    assert_eq!(td.requires_compatibilities(), [et::Compatibility::Ec2]);
    let web = &td.container_definitions()[0];
    let secrets: Vec<_> = web.secrets().iter().map(|s| (s.name(), s.value_from())).collect();
    assert_eq!(secrets, [("API_KEY", "ecs_td_ec2_api_key"), ("DB_PASSWORD", "/ecs-td-ec2/db_password")]);
    let o = web.log_configuration().unwrap().options().unwrap();
    assert!(!o.contains_key("awslogs-stream-prefix"), "{o:?}");
    assert_eq!(o["awslogs-group"], "/ecs/ecs-td-ec2");

    let (_, summary, _) = converge(&p, &stack, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(td_gone(describe_td(&p, &arn).await));
}

/// On EC2 the container instance's role pulls a public image and sends the
/// logs: a task definition with no execution role, no task sizes and no
/// stream prefix registers, plans clean and is retired.
#[tokio::test]
async fn an_ec2_task_definition_without_an_execution_role_applies_clean() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let text = "stack: ecs-td-ec2-norole\nregion: us-east-1\nresources:\n  task:\n    kind: ecs/task_definition\n    launch_type: ec2\n    network_mode: bridge\n    containers:\n      - name: web\n        image: nginx:1.27\n        memory: 256\n        logs:\n          group: /ecs/ecs-td-ec2-norole\n";
    let stack = load(text, &[]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let arn = id(&state, "task");
    let td = describe_td(&p, &arn).await.unwrap();
    assert_eq!(td.execution_role_arn(), None, "no execution role");
    assert_eq!((td.cpu(), td.memory()), (None, None), "no task-level sizes registered");
    let (_, summary, _) = converge(&p, &stack, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(td_gone(describe_td(&p, &arn).await));
}

fn app_stack(name: &str, env: &str, extra: &str) -> String {
    format!(
        "stack: {name}
region: us-east-1
variables:
  subnets: {{ type: list }}
  sg: {{}}
  tag: {{ default: '1.27' }}
  count: {{ type: integer, default: 1 }}
  mode: {{ default: blue }}
resources:
  cluster:
    kind: ecs/cluster
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    containers:
      - name: web
        image: nginx:${{var.tag}}
        port_mappings:
          - container_port: 80
        environment:
          APP_MODE: ${{var.mode}}
          STACK: {env}
  app:
    kind: ecs/service
    cluster: ${{cluster.arn}}
    task_definition: ${{task.arn}}
    desired_count: ${{var.count}}
    network:
      subnets: ${{var.subnets}}
      security_groups: ['${{var.sg}}']
      assign_public_ip: true
{extra}"
    )
}

#[tokio::test]
async fn a_new_image_tag_registers_one_revision_retires_the_old_and_updates_the_service() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    let text = app_stack("ecs-new-tag", "new-tag", "");
    let mut vars = net_vars(&net);
    vars.push("tag=1.26".into());
    let v1 = load_with(&text, &vars);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let (old_td, svc_arn) = (id(&state, "task"), id(&state, "app"));
    assert!(old_td.ends_with("ecs-new-tag-task:1"), "{old_td}");

    vars.pop();
    vars.push("tag=1.27".into());
    let v2 = load_with(&text, &vars);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(action(&pl, "cluster"), Action::NoOp);
    assert_eq!(action(&pl, "task"), Action::Update);
    assert_eq!(changed_fields(&pl, "task"), ["containers"]);
    assert_eq!(action(&pl, "app"), Action::Update);
    assert_eq!(changed_fields(&pl, "app"), ["task_definition"]);
    let state = apply_clean(&p, &v2, state).await;

    let new_td = id(&state, "task");
    assert!(new_td.ends_with("ecs-new-tag-task:2"), "exactly one new revision: {new_td}");
    assert_eq!(active_revisions(&p, "ecs-new-tag-task").await, [new_td.as_str()], "the old revision is retired");
    assert!(td_gone(describe_td(&p, &old_td).await), "revision 1 deregistered");
    assert!(state.resources["task"].deposed.is_empty());
    assert_eq!(id(&state, "app"), svc_arn, "the service was updated, not replaced");
    let svc = describe_service(&p, &svc_arn).await;
    assert_eq!(svc.task_definition(), Some(new_td.as_str()));
    assert_eq!(describe_td(&p, &new_td).await.unwrap().container_definitions()[0].image(), Some("nginx:1.27"));

    let (_, summary, _) = converge(&p, &v2, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
}

#[tokio::test]
async fn service_behind_a_load_balancer_applies_clean() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    // The load balancer, target group and listener, made directly.
    use aws_sdk_elasticloadbalancingv2::types as lbt;
    let lb = p
        .elb
        .create_load_balancer()
        .name("ecs-lb-svc")
        .set_subnets(Some(net.subnets.clone()))
        .security_groups(&net.sg)
        .scheme(lbt::LoadBalancerSchemeEnum::InternetFacing)
        .r#type(lbt::LoadBalancerTypeEnum::Application)
        .send()
        .await
        .unwrap();
    let lb_arn = lb.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let tg = p
        .elb
        .create_target_group()
        .name("ecs-lb-svc-web")
        .protocol(lbt::ProtocolEnum::Http)
        .port(80)
        .vpc_id(&net.vpc)
        .target_type(lbt::TargetTypeEnum::Ip)
        .send()
        .await
        .unwrap();
    let tg_arn = tg.target_groups()[0].target_group_arn().unwrap().to_string();
    p.elb
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(lbt::ProtocolEnum::Http)
        .port(80)
        .default_actions(lbt::Action::builder().r#type(lbt::ActionTypeEnum::Forward).target_group_arn(&tg_arn).build())
        .send()
        .await
        .unwrap();

    let extra = "    launch_type: fargate
    platform_version: LATEST
    load_balancers:
      - target_group: ${var.tg}
        container: web
        port: 80
    health_check_grace_period: 60
    deployment:
      circuit_breaker: { enable: true, rollback: true }
      min_healthy_percent: 50
      max_percent: 200
    tags:
      tier: frontend
";
    let text = app_stack("ecs-lb-svc", "lb", extra).replace("  mode:", "  tg: {}\n  mode:");
    let mut vars = net_vars(&net);
    vars.push(format!("tg={tg_arn}"));
    vars.push("count=2".into());
    let stack = load_with(&text, &vars);
    let state = apply_clean(&p, &stack, empty(&stack)).await;

    let arn = id(&state, "app");
    assert_eq!(arn, format!("arn:aws:ecs:us-east-1:{ACCOUNT}:service/ecs-lb-svc-cluster/ecs-lb-svc-app"));
    assert_eq!(state.resources["app"].attrs["name"], serde_json::json!("ecs-lb-svc-app"));
    let svc = describe_service(&p, &arn).await;
    assert_eq!(svc.status(), Some("ACTIVE"));
    assert_eq!(svc.desired_count(), 2);
    assert_eq!(svc.launch_type(), Some(&et::LaunchType::Fargate));
    let lbs: Vec<_> =
        svc.load_balancers().iter().map(|l| (l.target_group_arn(), l.container_name(), l.container_port())).collect();
    assert_eq!(lbs, [(Some(tg_arn.as_str()), Some("web"), Some(80))]);
    assert_eq!(svc.health_check_grace_period_seconds(), Some(60));
    let dc = svc.deployment_configuration().unwrap();
    let cb = dc.deployment_circuit_breaker().unwrap();
    assert!(cb.enable() && cb.rollback());
    assert_eq!((dc.minimum_healthy_percent(), dc.maximum_percent()), (Some(50), Some(200)));
    let vpc = svc.network_configuration().unwrap().awsvpc_configuration().unwrap();
    assert_eq!(vpc.subnets(), net.subnets.as_slice());
    assert_eq!(vpc.security_groups(), [net.sg.as_str()]);
    assert_eq!(vpc.assign_public_ip(), Some(&et::AssignPublicIp::Enabled));
    let tags: Vec<_> = svc.tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
    assert!(tags.contains(&("tier", "frontend")) && tags.contains(&("moor:resource", "app")), "{tags:?}");

    let (_, summary, _) = converge(&p, &stack, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert_eq!(describe_service(&p, &arn).await.status(), Some("INACTIVE"));
}

#[tokio::test]
async fn desired_count_environment_and_deployment_changes_update_in_place() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    let extra = |min: u32, exec: bool, tier: &str| {
        format!(
            "    enable_execute_command: {exec}
    deployment:
      circuit_breaker: {{ enable: true, rollback: true }}
      min_healthy_percent: {min}
    tags: {{ tier: {tier} }}
"
        )
    };
    let base = net_vars(&net);
    let with = |extra_vars: &[&str]| {
        let mut v = base.clone();
        v.extend(extra_vars.iter().map(|s| s.to_string()));
        v
    };
    let s1 =
        load_with(&app_stack("ecs-in-place", "in-place", &extra(50, false, "a")), &with(&["count=1", "mode=blue"]));
    let state = apply_clean(&p, &s1, empty(&s1)).await;
    let (svc_arn, td1) = (id(&state, "app"), id(&state, "task"));

    // Scale out and change the environment: a new revision, the same service.
    let s2 =
        load_with(&app_stack("ecs-in-place", "in-place", &extra(50, false, "a")), &with(&["count=3", "mode=green"]));
    let pl = make_plan(p.as_ref(), &s2, &state, false, false).await;
    assert_eq!(action(&pl, "task"), Action::Update);
    assert_eq!(action(&pl, "app"), Action::Update);
    let mut fields = changed_fields(&pl, "app");
    fields.sort();
    assert_eq!(fields, ["desired_count", "task_definition"]);
    let state = apply_clean(&p, &s2, state).await;
    assert_eq!(id(&state, "app"), svc_arn);
    let td2 = id(&state, "task");
    assert_ne!(td2, td1);
    let svc = describe_service(&p, &svc_arn).await;
    assert_eq!(svc.desired_count(), 3);
    assert_eq!(svc.task_definition(), Some(td2.as_str()));
    let env = describe_td(&p, &td2).await.unwrap().container_definitions()[0].environment().to_vec();
    assert!(env.iter().any(|kv| kv.name() == Some("APP_MODE") && kv.value() == Some("green")), "{env:?}");
    assert!(td_gone(describe_td(&p, &td1).await));

    // Deployment settings, execute-command and tags: the service alone.
    let s3 =
        load_with(&app_stack("ecs-in-place", "in-place", &extra(100, true, "b")), &with(&["count=3", "mode=green"]));
    let pl = make_plan(p.as_ref(), &s3, &state, false, false).await;
    assert_eq!(action(&pl, "task"), Action::NoOp);
    let mut fields = changed_fields(&pl, "app");
    fields.sort();
    assert_eq!(fields, ["deployment", "enable_execute_command", "tags"]);
    let state = apply_clean(&p, &s3, state).await;
    assert_eq!(id(&state, "app"), svc_arn);
    assert_eq!(id(&state, "task"), td2, "no new revision");
    let svc = describe_service(&p, &svc_arn).await;
    assert!(svc.enable_execute_command());
    assert_eq!(svc.deployment_configuration().unwrap().minimum_healthy_percent(), Some(100));
    assert!(svc.tags().iter().any(|t| t.key() == Some("tier") && t.value() == Some("b")));

    let (_, summary, _) = converge(&p, &s3, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
}

#[tokio::test]
async fn a_service_without_wait_settings_waits_for_its_deployment_to_complete() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    let stack = load_with(&app_stack("ecs-wait-default", "wait", ""), &net_vars(&net));
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let svc = describe_service(&p, &id(&state, "app")).await;
    let primary = svc.deployments().iter().find(|d| d.status() == Some("PRIMARY")).unwrap();
    assert_eq!(primary.rollout_state(), Some(&et::DeploymentRolloutState::Completed));
    assert!(primary.running_count() >= svc.desired_count());

    // A service whose last wait failed but that settled since is no
    // change again, and the next apply forgets that it was pending.
    let mut pending = state.clone();
    pending.resources.get_mut("app").unwrap().pending =
        Some(moor::state::Pending { reason: "gave up after 2s".into(), redeploy: false });
    let pl = make_plan(p.as_ref(), &stack, &pending, false, false).await;
    assert_eq!(action(&pl, "app"), Action::NoOp, "{:?}", pl.change("app"));
    let (_, summary, state) = converge(&p, &stack, pending, false).await;
    assert!(summary.ok(), "{summary:#?}");
    assert_eq!(state.resources["app"].pending, None);

    // `wait:` is moor's own setting: it never shows as a change.
    let waitless = load_with(
        &app_stack("ecs-wait-default", "wait", "    wait: { stable: false, timeout: 30 }\n"),
        &net_vars(&net),
    );
    let pl = make_plan(p.as_ref(), &waitless, &state, false, false).await;
    assert_eq!(action(&pl, "app"), Action::NoOp, "{:?}", pl.change("app"));
    let (_, summary, _) = converge(&p, &waitless, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
}

#[tokio::test]
async fn deployments_that_fail_or_never_finish_fail_the_apply() {
    if support::skip_emulator() {
        return;
    }
    // A second emulator whose services never run a task and report failed
    // ones, as a deployment whose tasks keep stopping does on AWS.
    let endpoint = extra_moto(&[("MOTO_ECS_SERVICE_RUNNING", "0"), ("MOTO_ECS_SERVICE_FAILED_TASKS", "5")]);
    let p = provider_at(&endpoint).await;
    let net = default_net(&p).await;

    // The cluster and the task definition first, and two tasks that stopped
    // the way tasks stop when the execution role may not read a secret.
    // (The emulator's RunTask needs a container memory limit.)
    let text = app_stack("ecs-failing", "failing", "")
        .replace("        port_mappings:", "        memory: 256\n        port_mappings:");
    let base = load(&without_service(&text), &[]);
    let state = apply_clean(&p, &base, empty(&base)).await;
    let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecs-failing/db-AbCdEf";
    let reason =
        format!("ResourceInitializationError: unable to pull secrets: retrieving {secret}: AccessDeniedException");
    let vpc = et::AwsVpcConfiguration::builder()
        .set_subnets(Some(net.subnets.clone()))
        .security_groups(&net.sg)
        .build()
        .unwrap();
    let run = p
        .ecs
        .run_task()
        .cluster(id(&state, "cluster"))
        .task_definition(id(&state, "task"))
        .launch_type(et::LaunchType::Fargate)
        .count(2)
        .group("service:ecs-failing-app")
        .network_configuration(et::NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
        .send()
        .await
        .unwrap();
    for t in run.tasks() {
        p.ecs
            .stop_task()
            .cluster(id(&state, "cluster"))
            .task(t.task_arn().unwrap())
            .reason(&reason)
            .send()
            .await
            .unwrap();
    }

    let stack = load_with(&text, &net_vars(&net));
    let start = Instant::now();
    let (_, summary, state) = converge(&p, &stack, state, false).await;
    assert_eq!(summary.failed.len(), 1, "{summary:#?}");
    let f = &summary.failed[0];
    assert_eq!((f.resource.as_str(), f.error.kind), ("app", ErrorKind::Wait));
    let m = &f.error.message;
    assert!(m.contains("ecs-failing-app") && m.contains("5 tasks failed to start"), "{m}");
    assert!(
        m.contains("stopped tasks: ResourceInitializationError: unable to pull secrets") && m.contains("(2 tasks)"),
        "{m}"
    );
    assert!(!m.contains("secretsmanager") && m.contains("<secret ARN>"), "no secret ARN in errors: {m}");
    assert!(start.elapsed() < Duration::from_secs(20), "failed fast, not at the timeout");

    // The failed deployment stays failed: the next plan shows a wait with
    // where the service stands, and the next apply fails the same way.
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    let ch = pl.change("app").unwrap();
    assert_eq!(ch.action, Action::Wait, "{ch:?}");
    assert!(pl.has_changes(), "plan --detailed-exitcode exits 2");
    let status = ch.status.as_ref().unwrap();
    assert_eq!((status["running"].as_i64(), status["failed_tasks"].as_i64()), (Some(0), Some(5)), "{status}");
    assert!(ch.reasons[0].contains("5 tasks failed to start"), "{:?}", ch.reasons);
    let json = moor::render::plan_json(&pl).to_string();
    assert!(json.contains(r#""action":"wait""#) && json.contains(r#""failed_tasks":5"#), "{json}");
    let (_, summary, state) = converge(&p, &stack, state, false).await;
    assert_eq!(summary.failed.len(), 1, "{summary:#?}");
    assert_eq!(summary.failed[0].step, moor::apply::Step::Wait);
    assert!(summary.failed[0].error.message.contains("5 tasks failed to start"), "{}", summary.failed[0].error);
    let pending = state.resources["app"].pending.as_ref().expect("recorded as pending");
    assert!(pending.reason.contains("5 tasks failed to start") && !pending.redeploy, "{pending:?}");

    // Failed tasks below the threshold: the deployment never completes and
    // the wait ends at the stack's timeout, saying where it stood.
    let slow = load_with(
        &app_stack("ecs-failing", "failing", "    wait: { timeout: 2 }\n"),
        &[net_vars(&net), vec!["count=20".into()]].concat(),
    );
    let (_, summary, state) = converge(&p, &slow, state, false).await;
    assert_eq!(summary.failed.len(), 1, "{summary:#?}");
    let e = &summary.failed[0].error;
    assert_eq!(e.kind, ErrorKind::Wait);
    assert!(e.message.contains("(limit 2s)") && e.message.contains("of 20 tasks running"), "{e}");
    assert!(e.message.contains("ResourceInitializationError") && !e.message.contains("secretsmanager"), "{e}");
    // A wait that ran out of time is not forgotten either.
    let pl = make_plan(p.as_ref(), &slow, &state, false, false).await;
    assert_eq!(action(&pl, "app"), Action::Wait, "{:?}", pl.change("app"));
    assert!(pl.has_changes());
    let (_, summary, state) = converge(&p, &slow, state, false).await;
    assert_eq!(summary.failed.len(), 1, "{summary:#?}");
    assert!(summary.failed[0].error.message.contains("(limit 2s)"), "{}", summary.failed[0].error);
    assert!(state.resources["app"].pending.as_ref().is_some_and(|p| p.reason.contains("gave up")));
    // A change of tags alone deploys nothing, and still waits.
    let tagged = load_with(
        &app_stack("ecs-failing", "failing", "    wait: { timeout: 2 }\n    tags: { team: web }\n"),
        &[net_vars(&net), vec!["count=20".into()]].concat(),
    );
    let pl = make_plan(p.as_ref(), &tagged, &state, false, false).await;
    assert_eq!(changed_fields(&pl, "app"), ["tags"]);
    assert!(pl.change("app").unwrap().status.is_some(), "the plan shows where the service stands");
    let (_, summary, state) = converge(&p, &tagged, state, false).await;
    assert_eq!(summary.failed.len(), 1, "{summary:#?}");
    assert!(summary.failed[0].error.message.contains("(limit 2s)"), "{}", summary.failed[0].error);

    // Without waiting, the same service is fine.
    let nowait = load_with(
        &app_stack("ecs-failing", "failing", "    wait: { stable: false }\n"),
        &[net_vars(&net), vec!["count=20".into()]].concat(),
    );
    let state = apply_clean(&p, &nowait, state).await;
    let (_, summary, _) = converge(&p, &nowait, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
}

/// The image each container of the service's task definition runs.
async fn running_images(p: &AwsProvider, state: &State) -> Vec<String> {
    let svc = describe_service(p, &id(state, "app")).await;
    let td = describe_td(p, svc.task_definition().unwrap()).await.unwrap();
    td.container_definitions().iter().map(|c| c.image().unwrap().to_string()).collect()
}

/// The app stack with its own ECR repository and the task's image from it.
fn ecr_stack(name: &str, pinning: &str) -> String {
    app_stack(name, "digest", "")
        .replace(
            "resources:\n",
            "resources:\n  repo:\n    kind: ecr/repository\n    name: ${stack}/app\n    empty_on_delete: true\n",
        )
        .replace("image: nginx:${var.tag}", &format!("image: ${{repo.uri}}:${{var.tag}}{pinning}"))
        .replace("tag: { default: '1.27' }", "tag: { default: latest }")
        .replace("    cpu: 256\n", "    cpu: 256\n    execution_role: arn:aws:iam::123456789012:role/exec\n")
}

#[tokio::test]
async fn a_tag_pushed_again_is_a_new_revision_pinned_to_its_digest_then_a_service_update() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    let text = ecr_stack("ecs-digest", "");
    let vars = |count: u32| [net_vars(&net), vec![format!("count={count}")]].concat();
    // The repository is new: no tasks, and the image by tag (nothing to pin).
    let none = load_with(&text, &vars(0));
    let state = apply_clean(&p, &none, empty(&none)).await;
    let uri = state.resources["repo"].attrs["uri"].as_str().unwrap().to_string();
    assert_eq!(running_images(&p, &state).await, [format!("{uri}:latest")]);

    let first = support::push_image(&p, "ecs-digest/app", "latest", 'a').await;
    let one = load_with(&text, &vars(1));
    let pl = make_plan(p.as_ref(), &one, &state, false, false).await;
    assert_eq!(changed_fields(&pl, "task"), ["containers"]);
    let pins: Vec<_> = pl.pins.iter().map(|i| (i.resource.as_str(), i.image.clone(), i.digest.clone())).collect();
    assert_eq!(pins, [("task", format!("{uri}:latest"), first.clone())]);
    let state = apply_clean(&p, &one, state).await;
    assert_eq!(running_images(&p, &state).await, [format!("{uri}@{first}")], "registered by digest");

    // `push latest, apply` deploys the new image.
    let second = support::push_image(&p, "ecs-digest/app", "latest", 'b').await;
    assert_ne!(first, second);
    let pl = make_plan(p.as_ref(), &one, &state, false, false).await;
    assert_eq!(action(&pl, "task"), Action::Update);
    let task = pl.change("task").unwrap();
    let short = &second["sha256:".len().."sha256:".len() + 12];
    assert_eq!(task.reasons, [format!("tag `latest` of `ecs-digest/app` now points at sha256:{short}…")]);
    let d = &task.diffs[0];
    assert_eq!(d.before.as_ref().unwrap()[0]["image"], format!("{uri}@{first}"));
    assert_eq!(d.after.as_ref().unwrap()[0]["image"], format!("{uri}@{second}"));
    assert_eq!(action(&pl, "app"), Action::Update);
    assert_eq!(changed_fields(&pl, "app"), ["task_definition"]);
    let text_plan = moor::render::plan_text(&pl, moor::render::Style { color: false }, false);
    assert!(text_plan.contains(&format!("ecs-digest/app:latest → sha256:{short}…  (task)")), "{text_plan}");
    let md = moor::mdplan::plan_markdown(&pl);
    assert!(md.contains(&format!("<code>ecs-digest/app:latest</code> → <code>sha256:{short}…</code>")), "{md}");
    assert!(md.contains(&format!("now points at sha256:{short}…")), "{md}");
    let json = serde_json::to_value(moor::jsonplan::JsonPlan::from(&pl)).unwrap();
    assert_eq!(json["images"][0]["digest"], second.as_str(), "the full digest: {json}");
    let old_td = id(&state, "task");
    let state = apply_clean(&p, &one, state).await;
    assert_ne!(id(&state, "task"), old_td, "a new revision");
    assert_eq!(running_images(&p, &state).await, [format!("{uri}@{second}")], "the service runs it");

    // Destroyed with its images.
    let (_, summary, _) = converge(&p, &one, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
}

#[tokio::test]
async fn with_image_pinning_tag_the_tag_is_registered_as_written() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    let text = ecr_stack("ecs-bytag", "\n        image_pinning: tag");
    let vars = |count: u32| [net_vars(&net), vec![format!("count={count}")]].concat();
    let none = load_with(&text, &vars(0));
    let state = apply_clean(&p, &none, empty(&none)).await;
    let uri = state.resources["repo"].attrs["uri"].as_str().unwrap().to_string();
    support::push_image(&p, "ecs-bytag/app", "latest", 'a').await;
    let one = load_with(&text, &vars(1));
    let pl = make_plan(p.as_ref(), &one, &state, false, false).await;
    assert_eq!(action(&pl, "task"), Action::NoOp, "{:?}", pl.change("task"));
    assert!(pl.pins.is_empty(), "{:?}", pl.pins);
    let state = apply_clean(&p, &one, state).await;
    support::push_image(&p, "ecs-bytag/app", "latest", 'b').await;
    let pl = make_plan(p.as_ref(), &one, &state, false, false).await;
    assert!(!pl.has_changes(), "a tag pushed again changes nothing: {:?}", pl.changes);
    assert_eq!(running_images(&p, &state).await, [format!("{uri}:latest")]);
    let (_, summary, _) = converge(&p, &one, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
}

#[tokio::test]
async fn a_missing_ecr_image_is_a_problem_of_the_plan_at_the_image_and_apply_writes_nothing() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    let repo = p.ecr.create_repository().repository_name("ecs-preflight/app").send().await.unwrap();
    let uri = repo.repository().unwrap().repository_uri().unwrap().to_string();
    support::push_image(&p, "ecs-preflight/app", "v1", 'a').await;
    let text = app_stack("ecs-preflight", "preflight", "")
        .replace("image: nginx:${var.tag}", &format!("image: {uri}:${{var.tag}}"))
        .replace(
            "    cpu: 256\n",
            "    cpu: 256\n    execution_role: arn:aws:iam::123456789012:role/ecs-preflight-exec\n",
        );

    let missing = load_with(&text, &[net_vars(&net), vec!["tag=v2".into()]].concat());
    let pl = make_plan(p.as_ref(), &missing, &empty(&missing), false, false).await;
    let problems: Vec<_> = pl.problems.iter().map(|x| (x.resource.as_str(), x.message.as_str())).collect();
    // The image's line and column in the file.
    let line = text.lines().position(|l| l.contains("image: ")).unwrap() + 1;
    let at = format!("stack.yaml:{line}:16: the image of container `web` of `task`, `{uri}:v2`, is not there (ECR repository `ecs-preflight/app` has no image tagged `v2`)");
    assert!(
        matches!(&problems[..], [("app", m)] if m.starts_with(&at) && m.contains("tasks of `app`")),
        "{problems:?}"
    );
    // With no tasks wanted, nothing is missing.
    let idle = load_with(&text, &[net_vars(&net), vec!["tag=v2".into(), "count=0".into()]].concat());
    assert!(make_plan(p.as_ref(), &idle, &empty(&idle), false, false).await.problems.is_empty());

    // `moor apply` refuses before any write.
    let vars: Vec<String> = [net_vars(&net), vec!["tag=v2".into()]].concat();
    let d = support::workdir("ecs-preflight", &text);
    let mut args = vec!["apply", "stack.yaml", "--auto-approve"];
    for v in &vars {
        args.extend(["--var", v.as_str()]);
    }
    let o = support::moor_in(&d, &args);
    assert_eq!(o.status.code(), Some(1), "{}", support::text(&o));
    assert!(support::text(&o).contains(&at), "{}", support::text(&o));
    let c = p.ecs.describe_clusters().clusters("ecs-preflight-cluster").send().await.unwrap();
    assert!(c.clusters().iter().all(|c| c.status() != Some("ACTIVE")), "no cluster was created: {c:?}");
    assert!(active_revisions(&p, "ecs-preflight-task").await.is_empty(), "no task definition was registered");

    let present = load_with(&text, &[net_vars(&net), vec!["tag=v1".into()]].concat());
    let state = apply_clean(&p, &present, empty(&present)).await;
    let (_, summary, _) = converge(&p, &present, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
}

#[tokio::test]
async fn destroy_leaves_nothing_behind() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    let stack = load_with(&app_stack("ecs-destroy", "destroy", ""), &[net_vars(&net), vec!["count=2".into()]].concat());
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let (cluster, td, svc) = (id(&state, "cluster"), id(&state, "task"), id(&state, "app"));
    for (logical, e) in &state.resources {
        let names: Vec<&str> = e.kind.attributes().iter().map(|a| a.name).collect();
        assert_eq!(e.attrs.keys().map(String::as_str).collect::<Vec<_>>(), names, "{logical}: attributes");
    }
    assert_eq!(state.resources["task"].attrs["revision"], serde_json::json!(1));

    // Without the state record, everything is found by name and is ours.
    let lost = make_plan(p.as_ref(), &stack, &empty(&stack), false, false).await;
    assert!(lost.problems.is_empty(), "{:?}", lost.problems);
    for r in ["cluster", "task", "app"] {
        assert_eq!(action(&lost, r), Action::NoOp, "{r}: {:?}", lost.change(r));
        assert_eq!(lost.change(r).unwrap().id.as_deref(), Some(id(&state, r).as_str()), "{r}");
    }

    let (pl, summary, state) = converge(&p, &stack, state, true).await;
    assert_eq!(pl.counts().destroy, 3);
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty(), "{:?}", state.resources);

    let s = p.ecs.describe_services().cluster(&cluster).services(&svc).send().await.unwrap();
    assert!(s.services().iter().all(|s| s.status() == Some("INACTIVE")), "{s:?}");
    let c = p.ecs.describe_clusters().clusters(&cluster).send().await.unwrap();
    assert!(c.clusters().iter().all(|c| c.status() == Some("INACTIVE")), "{c:?}");
    assert!(td_gone(describe_td(&p, &td).await));
    assert!(active_revisions(&p, "ecs-destroy-task").await.is_empty());

    // Nothing is left to destroy, and a plan would create everything again.
    let again = make_plan(p.as_ref(), &stack, &state, true, false).await;
    assert!(!again.has_changes(), "{:?}", again.changes);
    let fresh = make_plan(p.as_ref(), &stack, &state, false, false).await;
    assert_eq!(fresh.counts().add, 3);
}

/// The stack without its service (and the variables only it uses).
fn without_service(text: &str) -> String {
    text.split("  app:\n")
        .next()
        .unwrap()
        .replace("  subnets: { type: list }\n  sg: {}\n", "")
        .replace("  count: { type: integer, default: 1 }\n", "")
}

#[tokio::test]
async fn removing_a_service_from_the_file_deletes_it() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    let full = load_with(&app_stack("ecs-remove", "remove", ""), &net_vars(&net));
    let state = apply_clean(&p, &full, empty(&full)).await;
    let svc = id(&state, "app");
    let stack = load(&without_service(&app_stack("ecs-remove", "remove", "")), &[]);
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    assert_eq!(action(&pl, "app"), Action::Delete);
    let state = apply_clean(&p, &stack, state).await;
    assert!(!state.resources.contains_key("app"));
    assert_eq!(describe_service(&p, &svc).await.status(), Some("INACTIVE"));
    let (_, summary, _) = converge(&p, &stack, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
}

#[tokio::test]
async fn an_existing_cluster_is_adopted_with_the_stacks_tags() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    p.ecs
        .create_cluster()
        .cluster_name("ecs-adopt-cluster")
        .tags(et::Tag::builder().key("owner").value("ops").build())
        .send()
        .await
        .unwrap();
    let stack = load("stack: ecs-adopt\nregion: us-east-1\nresources:\n  cluster:\n    kind: ecs/cluster\n", &[]);
    let pl = make_plan(p.as_ref(), &stack, &empty(&stack), false, false).await;
    assert_eq!(pl.problems.len(), 1, "not ours: {:?}", pl.problems);
    let live = pl.change("cluster").unwrap().live.clone().unwrap();
    let (t, _) = moor::plan::target(&stack, "cluster", &Default::default(), &empty(&stack));
    let adopted = p.adopt(&t, &live).await.unwrap();
    assert_eq!(adopted.id, live.id);
    assert!(adopted.owned_by("ecs-adopt", "cluster"));
    assert_eq!(adopted.tags.get("owner").map(String::as_str), Some("ops"), "existing tags stay");
    let pl = make_plan(p.as_ref(), &stack, &empty(&stack), false, false).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    // The plan wants the file's tags only: the foreign one goes on the next apply.
    assert_eq!(action(&pl, "cluster"), Action::Update);
    assert_eq!(changed_fields(&pl, "cluster"), ["tags"]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let (_, summary, _) = converge(&p, &stack, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
}

#[tokio::test]
async fn unresolved_identities_are_not_looked_up() {
    if support::skip_emulator() {
        return;
    }
    // An endpoint where nothing listens: any call would fail.
    let p = provider_at("http://127.0.0.1:9").await;
    let stack = load(&app_stack("ecs-unresolved", "x", ""), &["subnets=[subnet-a, subnet-b]", "sg=sg-1"]);
    for (logical, name) in [("app", "ecs-unresolved-app"), ("task", "${var.nope}"), ("cluster", "a-${b.c}")] {
        let r = stack.resources.iter().find(|r| r.name == logical).unwrap();
        let t = Target {
            stack: stack.name.clone(),
            logical: logical.into(),
            kind: r.kind(),
            name: Some(name.into()),
            id: None,
            spec: r.spec.clone(),
            tags: Default::default(),
            recorded: Default::default(),
        };
        assert_eq!(p.read(&t).await.map_err(|e| e.to_string()), Ok(None), "{logical}");
        assert!(matches!(r.kind(), Kind::EcsService | Kind::EcsTaskDefinition | Kind::EcsCluster));
    }
}

/// Registers a revision of `family` outside moor, with the tags moor gives
/// the revisions of `stack`'s `task`, or without.
async fn register_out_of_band(p: &AwsProvider, family: &str, stack: Option<&str>) -> String {
    let container = et::ContainerDefinition::builder().name("web").image("nginx:1.25").memory(256).build();
    let mut req = p.ecs.register_task_definition().family(family).container_definitions(container);
    if let Some(stack) = stack {
        req = req
            .tags(et::Tag::builder().key("moor:stack").value(stack).build())
            .tags(et::Tag::builder().key("moor:resource").value("task").build());
    }
    let out = req.send().await.unwrap();
    out.task_definition().unwrap().task_definition_arn().unwrap().to_string()
}

#[tokio::test]
async fn revisions_registered_but_never_recorded_are_deregistered_and_others_left_alone() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let stack = load(&without_service(&app_stack("ecs-unrecorded", "unrecorded", "")), &[]);
    let family = "ecs-unrecorded-task";
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let current = id(&state, "task");

    // As if moor was killed right after RegisterTaskDefinition: a revision
    // with the stack's tags that the record does not know; and one that
    // someone registered outside moor.
    let stray = register_out_of_band(&p, family, Some("ecs-unrecorded")).await;
    let foreign = register_out_of_band(&p, family, None).await;
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    let deletions: Vec<_> = pl.changes.iter().filter(|c| c.action == Action::Delete).collect();
    assert_eq!(deletions.len(), 1, "{deletions:#?}");
    assert_eq!((deletions[0].resource.as_str(), deletions[0].id.as_deref()), ("task", Some(stray.as_str())));
    assert!(pl.has_changes());
    let text = moor::render::plan_text(&pl, moor::render::Style { color: false }, false);
    assert!(text.contains("unrecorded revision"), "{text}");

    let (_, summary, state) = converge(&p, &stack, state, false).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(td_gone(describe_td(&p, &stray).await), "the unrecorded revision is deregistered");
    assert!(!td_gone(describe_td(&p, &foreign).await), "a revision without the stack's tags is left alone");
    assert!(!td_gone(describe_td(&p, &current).await));
    let pl = make_plan(p.as_ref(), &stack, &state, false, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes);

    // Destroy finds them too.
    let stray = register_out_of_band(&p, family, Some("ecs-unrecorded")).await;
    let (pl, summary, _) = converge(&p, &stack, state, true).await;
    assert!(pl.changes.iter().any(|c| c.id.as_deref() == Some(stray.as_str())), "{:#?}", pl.changes);
    assert!(summary.ok(), "{summary:#?}");
    assert_eq!(active_revisions(&p, family).await, [foreign]);
}
