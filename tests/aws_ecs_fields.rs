//! The smaller ECS fields against the moto emulator: a task's runtime
//! platform, the awslogs driver's options, and a service's tag and zone
//! settings. Each test applies, checks what ECS holds, plans again (no
//! change), changes one field (a new revision, or an update in place) and
//! destroys. Each test has its own stack name.

mod support;

use aws_sdk_ecs::types as et;
use moor::plan::Action;
use moor::provider::aws::AwsProvider;
use support::{
    action, active_revisions, apply_clean, changed_fields, default_net, describe_td, destroy_all, empty, id, load,
    make_plan, provider,
};

// ---- runtime_platform ------------------------------------------------------------

fn td_platform(platform: &str) -> String {
    format!(
        "stack: ecs-fields-platform
region: us-east-1
resources:
  task:
    kind: ecs/task_definition
    cpu: 1024
    memory: 2048
    runtime_platform:
{platform}    containers:
      - name: web
        image: mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022
"
    )
}

#[tokio::test]
async fn runtime_platform_is_registered_read_back_and_a_change_is_a_new_revision() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let windows = load(&td_platform("      operating_system_family: WINDOWS_SERVER_2022_CORE\n"), &[]);
    let state = apply_clean(&p, &windows, empty(&windows)).await;
    let td = describe_td(&p, &id(&state, "task")).await;
    let rp = td.runtime_platform().expect("a runtime platform");
    assert_eq!(rp.operating_system_family(), Some(&et::OsFamily::WindowsServer2022Core));
    assert_eq!(rp.cpu_architecture(), None, "no architecture was given, so none is sent");

    // Linux on Graviton, in AWS's spelling: a new revision.
    let arm = load(&td_platform("      operating_system_family: LINUX\n      cpu_architecture: ARM64\n"), &[]);
    let pl = make_plan(p.as_ref(), &arm, &state, false, false).await;
    assert_eq!(action(&pl, "task"), Action::Update);
    assert_eq!(changed_fields(&pl, "task"), ["runtime_platform"]);
    let state = apply_clean(&p, &arm, state).await;
    let new = id(&state, "task");
    assert!(new.ends_with("ecs-fields-platform-task:2"), "{new}");
    assert_eq!(active_revisions(&p, "ecs-fields-platform-task").await, [new.as_str()]);
    let rp = describe_td(&p, &new).await.runtime_platform().cloned().unwrap();
    assert_eq!(rp.operating_system_family(), Some(&et::OsFamily::Linux));
    assert_eq!(rp.cpu_architecture(), Some(&et::CpuArchitecture::Arm64));

    // The architecture alone, the OS left to its default: Linux is sent.
    let x86 = load(&td_platform("      cpu_architecture: x86_64\n"), &[]);
    let pl = make_plan(p.as_ref(), &x86, &state, false, false).await;
    assert_eq!(changed_fields(&pl, "task"), ["runtime_platform"]);
    let state = apply_clean(&p, &x86, state).await;
    let rp = describe_td(&p, &id(&state, "task")).await.runtime_platform().cloned().unwrap();
    assert_eq!(rp.operating_system_family(), Some(&et::OsFamily::Linux));
    assert_eq!(rp.cpu_architecture(), Some(&et::CpuArchitecture::X8664));

    destroy_all(&p, &x86, state).await;
    assert!(active_revisions(&p, "ecs-fields-platform-task").await.is_empty());
}

// ---- awslogs options --------------------------------------------------------------

fn td_logs(options: &str) -> String {
    format!(
        "stack: ecs-fields-logs
region: us-east-1
resources:
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    execution_role: arn:aws:iam::123456789012:role/exec
    containers:
      - name: web
        image: nginx:1.27
        logs:
          group: /ecs/web
          stream_prefix: web
{options}"
    )
}

async fn log_options(p: &AwsProvider, arn: &str) -> std::collections::BTreeMap<String, String> {
    let td = describe_td(p, arn).await;
    let lc = td.container_definitions()[0].log_configuration().cloned().unwrap();
    lc.options().cloned().unwrap_or_default().into_iter().collect()
}

#[tokio::test]
async fn awslogs_mode_buffer_and_multiline_options_are_registered_and_a_change_is_a_new_revision() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let first = "          mode: non-blocking\n          max_buffer_size: 25m\n          datetime_format: \"%Y-%m-%d %H:%M:%S\"\n";
    let stack = load(&td_logs(first), &[]);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let opts = log_options(&p, &id(&state, "task")).await;
    assert_eq!(opts.get("mode").map(String::as_str), Some("non-blocking"));
    assert_eq!(opts.get("max-buffer-size").map(String::as_str), Some("25m"));
    assert_eq!(opts.get("awslogs-datetime-format").map(String::as_str), Some("%Y-%m-%d %H:%M:%S"));
    assert!(!opts.contains_key("awslogs-multiline-pattern"), "{opts:?}");

    // A multi-line pattern instead of the date format, in blocking mode.
    let second = "          mode: blocking\n          multiline_pattern: \"^\\\\[\"\n";
    let changed = load(&td_logs(second), &[]);
    let pl = make_plan(p.as_ref(), &changed, &state, false, false).await;
    assert_eq!(action(&pl, "task"), Action::Update);
    assert_eq!(changed_fields(&pl, "task"), ["containers"]);
    let state = apply_clean(&p, &changed, state).await;
    let new = id(&state, "task");
    assert!(new.ends_with("ecs-fields-logs-task:2"), "{new}");
    let opts = log_options(&p, &new).await;
    assert_eq!(opts.get("mode").map(String::as_str), Some("blocking"));
    assert_eq!(opts.get("awslogs-multiline-pattern").map(String::as_str), Some("^\\["));
    assert!(!opts.contains_key("awslogs-datetime-format") && !opts.contains_key("max-buffer-size"), "{opts:?}");

    // Removing the options from the file is a change too, applied as
    // planned: a new revision without them.
    let plain = load(&td_logs(""), &[]);
    let pl = make_plan(p.as_ref(), &plain, &state, false, false).await;
    assert_eq!(changed_fields(&pl, "task"), ["containers"]);
    let state = apply_clean(&p, &plain, state).await;
    let opts = log_options(&p, &id(&state, "task")).await;
    assert!(!opts.contains_key("mode") && !opts.contains_key("awslogs-multiline-pattern"), "{opts:?}");

    destroy_all(&p, &plain, state).await;
    assert!(active_revisions(&p, "ecs-fields-logs-task").await.is_empty());
}

// ---- service tags and zone rebalancing ----------------------------------------------

fn service_stack(extra: &str) -> String {
    format!(
        "stack: ecs-fields-svc
region: us-east-1
variables:
  subnets: {{ type: list }}
  sg: {{}}
resources:
  cluster:
    kind: ecs/cluster
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    containers:
      - name: web
        image: nginx:1.27
  app:
    kind: ecs/service
    cluster: ${{cluster.arn}}
    task_definition: ${{task.arn}}
    desired_count: 1
    network:
      subnets: ${{var.subnets}}
      security_groups: ['${{var.sg}}']
{extra}"
    )
}

async fn describe_service(p: &AwsProvider, arn: &str) -> et::Service {
    let cluster = arn.split('/').nth(1).unwrap();
    let out = p.ecs.describe_services().cluster(cluster).services(arn).send().await.unwrap();
    out.services()[0].clone()
}

#[tokio::test]
async fn managed_and_propagated_tags_and_zone_rebalancing_apply_and_update_in_place() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    let subnets = format!("subnets=[{}]", net.subnets.join(", "));
    let sg = format!("sg={}", net.sg);
    let vars = [subnets.as_str(), sg.as_str()];
    let first =
        "    enable_ecs_managed_tags: true\n    propagate_tags: SERVICE\n    availability_zone_rebalancing: ENABLED\n";
    let stack = load(&service_stack(first), &vars);
    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let arn = id(&state, "app");
    let svc = describe_service(&p, &arn).await;
    assert!(svc.enable_ecs_managed_tags());
    assert_eq!(svc.propagate_tags(), Some(&et::PropagateTags::Service));
    assert_eq!(svc.availability_zone_rebalancing(), Some(&et::AvailabilityZoneRebalancing::Enabled));

    // All three changed: the same service, updated in place.
    let second = "    enable_ecs_managed_tags: false\n    propagate_tags: task_definition\n    availability_zone_rebalancing: DISABLED\n";
    let changed = load(&service_stack(second), &vars);
    let pl = make_plan(p.as_ref(), &changed, &state, false, false).await;
    assert_eq!(action(&pl, "app"), Action::Update);
    assert_eq!(action(&pl, "task"), Action::NoOp);
    assert_eq!(
        changed_fields(&pl, "app"),
        ["availability_zone_rebalancing", "enable_ecs_managed_tags", "propagate_tags"]
    );
    let state = apply_clean(&p, &changed, state).await;
    assert_eq!(id(&state, "app"), arn, "not replaced");
    let svc = describe_service(&p, &arn).await;
    assert!(!svc.enable_ecs_managed_tags());
    assert_eq!(svc.propagate_tags(), Some(&et::PropagateTags::TaskDefinition));
    assert_eq!(svc.availability_zone_rebalancing(), Some(&et::AvailabilityZoneRebalancing::Disabled));

    destroy_all(&p, &changed, state).await;
}

// ---- ignore_changes of a path ------------------------------------------------------

fn td_ignoring(cpu: u32, web_image: &str) -> String {
    td_ignoring_in("ecs-fields-ignore", cpu, web_image, "[containers.web.image, tags.CostCenter]")
}

fn td_ignoring_in(stack: &str, cpu: u32, web_image: &str, ignore: &str) -> String {
    format!(
        "stack: {stack}
region: us-east-1
resources:
  task:
    kind: ecs/task_definition
    cpu: {cpu}
    memory: 2048
    containers:
      - name: web
        image: {web_image}
        environment: {{ MODE: prod }}
      - name: worker
        image: busybox:1.36
    tags: {{ team: web }}
    ignore_changes: {ignore}
"
    )
}

fn image_of(td: &et::TaskDefinition, container: &str) -> String {
    let c = td.container_definitions().iter().find(|c| c.name() == Some(container)).expect("container");
    c.image().unwrap_or_default().to_string()
}

/// A deploy tool owns the web container's image and a tagging tool the
/// `CostCenter` tag: they register a revision of their own. The plan shows
/// no change for them, and a change of the file's `cpu` registers a
/// revision that keeps their image and tag, and changes only the cpu.
#[tokio::test]
async fn an_ignored_container_image_keeps_what_another_tool_registered_when_moor_registers_a_revision() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let family = "ecs-fields-ignore-task";
    let v1 = load(&td_ignoring(512, "nginx:1.27"), &[]);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let first = id(&state, "task");
    assert_eq!(image_of(&describe_td(&p, &first).await, "web"), "nginx:1.27", "the file's image at create");

    // Another tool registers a revision with its own image and tag.
    let theirs = register_image(&p, family, &first, "nginx:1.28").await;

    let pl = make_plan(p.as_ref(), &v1, &state, false, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes);
    let reasons = &pl.change("task").unwrap().reasons;
    assert!(
        reasons.iter().any(|r| r
            == "ignored: `containers.web.image` is \"nginx:1.28\" in AWS, \"nginx:1.27\" in the file; the file says `ignore_changes`"),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.starts_with("ignored: `tags.CostCenter` is \"42\" in AWS")), "{reasons:?}");

    // The file's cpu changes: a new revision, with the other tool's image and tag.
    let v2 = load(&td_ignoring(1024, "nginx:1.27"), &[]);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(action(&pl, "task"), Action::Update);
    assert_eq!(changed_fields(&pl, "task"), ["cpu"]);
    let state = apply_clean(&p, &v2, state).await;
    let new = id(&state, "task");
    assert_ne!(new, theirs);
    let td = describe_td(&p, &new).await;
    assert_eq!(td.cpu(), Some("1024"));
    assert_eq!(image_of(&td, "web"), "nginx:1.28", "the other tool's image is kept");
    assert_eq!(image_of(&td, "worker"), "busybox:1.36");
    let tags = p.ecs.list_tags_for_resource().resource_arn(&new).send().await.unwrap();
    let tags: std::collections::BTreeMap<_, _> =
        tags.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())).collect();
    assert_eq!((tags.get("CostCenter"), tags.get("team")), (Some(&"42"), Some(&"web")), "{tags:?}");

    // Converged: the file's other image is still not planned.
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes);
    let v3 = load(&td_ignoring(1024, "nginx:1.29"), &[]);
    let pl = make_plan(p.as_ref(), &v3, &state, false, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes);

    // The other tool registers another image and retires moor's revision:
    // the revision moor makes anew has that image too.
    let (ours, later) = (id(&state, "task"), register_image(&p, family, &id(&state, "task"), "nginx:1.30").await);
    p.ecs.deregister_task_definition().task_definition(&ours).send().await.expect("deregister");
    let pl = make_plan(p.as_ref(), &v3, &state, false, false).await;
    assert_eq!(action(&pl, "task"), Action::Create);
    let reasons = &pl.change("task").unwrap().reasons;
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("ignored: `containers.web.image` is \"nginx:1.30\" in AWS, \"nginx:1.29\"")),
        "{reasons:?}"
    );
    let shown = moor::render::plan_text(&pl, moor::render::Style { color: false }, false);
    assert!(shown.contains("ignored: `containers.web.image` is \"nginx:1.30\""), "{shown}");
    let state = apply_clean(&p, &v3, state).await;
    let td = describe_td(&p, &id(&state, "task")).await;
    assert_eq!((image_of(&td, "web").as_str(), td.cpu()), ("nginx:1.30", Some("1024")));
    let pl = make_plan(p.as_ref(), &v3, &state, false, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes);

    destroy_all(&p, &v3, state).await;
    for arn in [&theirs, &later] {
        let _ = p.ecs.deregister_task_definition().task_definition(arn).send().await;
    }
    assert!(active_revisions(&p, family).await.is_empty());
}

/// A deploy tool that sets the image of every container
/// (`containers.*.image`): a change of the file's `cpu` registers a
/// revision with both of its images, and neither is planned.
#[tokio::test]
async fn every_ignored_container_image_keeps_what_another_tool_registered() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let (stack, family) = ("ecs-fields-every", "ecs-fields-every-task");
    let file = |cpu| load(&td_ignoring_in(stack, cpu, "nginx:1.27", "['containers.*.image']"), &[]);
    let v1 = file(512);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let first = id(&state, "task");
    let theirs = register_images(&p, family, &first, &[("web", "nginx:1.28"), ("worker", "busybox:1.37")]).await;

    let pl = make_plan(p.as_ref(), &v1, &state, false, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes);
    let reasons = &pl.change("task").unwrap().reasons;
    for (path, image) in [("web", "nginx:1.28"), ("worker", "busybox:1.37")] {
        let line = format!("ignored: `containers.{path}.image` is \"{image}\" in AWS");
        assert!(reasons.iter().any(|r| r.starts_with(&line)), "{reasons:?}");
    }

    let v2 = file(1024);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(changed_fields(&pl, "task"), ["cpu"]);
    let state = apply_clean(&p, &v2, state).await;
    let td = describe_td(&p, &id(&state, "task")).await;
    assert_eq!(td.cpu(), Some("1024"));
    assert_eq!((image_of(&td, "web").as_str(), image_of(&td, "worker").as_str()), ("nginx:1.28", "busybox:1.37"));
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes);

    destroy_all(&p, &v2, state).await;
    let _ = p.ecs.deregister_task_definition().task_definition(&theirs).send().await;
    assert!(active_revisions(&p, family).await.is_empty());
}

/// Registers a revision of `family` like `from`, with the web container's
/// image set to `image`, as a deploy tool does.
async fn register_image(p: &AwsProvider, family: &str, from: &str, image: &str) -> String {
    register_images(p, family, from, &[("web", image)]).await
}

/// [`register_image`] for each (container, image) of `images`.
async fn register_images(p: &AwsProvider, family: &str, from: &str, images: &[(&str, &str)]) -> String {
    let td = describe_td(p, from).await;
    let mut containers = td.container_definitions().to_vec();
    for c in containers.iter_mut() {
        if let Some((_, image)) = images.iter().find(|(name, _)| c.name() == Some(*name)) {
            c.image = Some(image.to_string());
        }
    }
    p.ecs
        .register_task_definition()
        .family(family)
        .set_cpu(td.cpu().map(str::to_string))
        .set_memory(td.memory().map(str::to_string))
        .network_mode(et::NetworkMode::Awsvpc)
        .requires_compatibilities(et::Compatibility::Fargate)
        .set_container_definitions(Some(containers))
        .tags(et::Tag::builder().key("CostCenter").value("42").build())
        .send()
        .await
        .expect("register")
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap()
}
