//! Application Auto Scaling of an ECS service, and fields another tool
//! owns, against the moto emulator: a scaling registers its target and
//! policies and plans clean; the scaler's task count is never planned
//! back; `min`, `max` and a policy's target change in place; destroy takes
//! the policies, the target and the service. A service whose
//! `ignore_changes` names its task definition keeps the revision a deploy
//! tool put there, even when moor changes another field of it.

mod support;

use moor::plan::{Action, Plan};
use moor::provider::aws::AwsProvider;
use moor::state::State;
use std::collections::BTreeSet;
use support::{apply_clean, converge, default_net, empty, make_plan, provider, Net};

use aws_sdk_applicationautoscaling::types::{
    ScalableDimension, ScalableTarget, ScalableTargetAction, ScalingPolicy, ScheduledAction, ServiceNamespace,
};

fn action(pl: &Plan, resource: &str) -> Action {
    pl.change(resource).unwrap_or_else(|| panic!("{resource} is in the plan: {:#?}", pl.changes)).action
}

fn changed(pl: &Plan, resource: &str) -> BTreeSet<String> {
    pl.change(resource).unwrap().diffs.iter().map(|d| d.field.clone()).collect()
}

fn load(text: &str, net: &Net) -> moor::model::Stack {
    let subnets = format!("subnets=[{}]", net.subnets.join(","));
    let sg = format!("sg={}", net.sg);
    support::load(text, &[&subnets, &sg])
}

/// A cluster, a task definition and a service; `service_extra` goes under
/// the service, `more` after it.
fn stack(name: &str, service_extra: &str, more: &str) -> String {
    format!(
        "stack: {name}
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
        port_mappings:
          - container_port: 80
  app:
    kind: ecs/service
    cluster: ${{cluster.arn}}
    task_definition: ${{task.arn}}
    desired_count: 1
    network:
      subnets: ${{var.subnets}}
      security_groups: ['${{var.sg}}']
{service_extra}{more}"
    )
}

fn scaling(max: u32, target: u32) -> String {
    format!(
        "  scaling:
    kind: appautoscaling/ecs_service_scaling
    service: ${{app.arn}}
    min: 1
    max: {max}
    target_tracking:
      - metric: cpu
        target: {target}
        scale_in_cooldown: 120
"
    )
}

async fn target(p: &AwsProvider, id: &str) -> Option<ScalableTarget> {
    let out = p
        .appautoscaling
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(id)
        .send()
        .await
        .expect("describe targets");
    out.scalable_targets().iter().find(|t| t.resource_id() == id).cloned()
}

async fn policies(p: &AwsProvider, id: &str) -> Vec<ScalingPolicy> {
    let out = p
        .appautoscaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(id)
        .send()
        .await
        .expect("describe policies");
    out.scaling_policies().iter().filter(|x| x.resource_id() == id).cloned().collect()
}

async fn service(p: &AwsProvider, state: &State) -> aws_sdk_ecs::types::Service {
    let arn = &state.resources["app"].id;
    let cluster = &state.resources["cluster"].id;
    let out = p.ecs.describe_services().cluster(cluster).services(arn).send().await.expect("describe service");
    out.services()[0].clone()
}

/// What UpdateService outside moor does: as the scaler, or a deploy tool.
async fn update_service(p: &AwsProvider, state: &State, count: Option<i32>, td: Option<&str>) {
    p.ecs
        .update_service()
        .cluster(&state.resources["cluster"].id)
        .service(&state.resources["app"].id)
        .set_desired_count(count)
        .set_task_definition(td.map(str::to_string))
        .send()
        .await
        .expect("update service");
}

#[tokio::test]
async fn a_scaled_service_keeps_the_scalers_count_and_its_scaling_changes_in_place() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    let name = "t-scale-life";
    let v1 = load(&stack(name, "", &scaling(4, 60)), &net);
    let state = apply_clean(&p, &v1, empty(&v1)).await;

    // The target of the service, with its range and moor's CPU policy.
    let id = format!("service/{name}-cluster/{name}-app");
    let e = &state.resources["scaling"];
    assert_eq!(e.attrs["resource_id"], id.as_str());
    let t = target(&p, &id).await.expect("registered");
    assert_eq!((t.min_capacity(), t.max_capacity()), (1, 4));
    assert_eq!(t.scalable_dimension(), &ScalableDimension::EcsServiceDesiredCount);
    assert_eq!(Some(e.id.as_str()), t.scalable_target_arn(), "the target's ARN is its id");
    let ps = policies(&p, &id).await;
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(ps[0].policy_name(), "moor-cpu");
    let c = ps[0].target_tracking_scaling_policy_configuration().expect("target tracking");
    assert_eq!(c.target_value(), 60.0);
    assert_eq!(c.scale_in_cooldown(), Some(120));
    assert_eq!(
        c.predefined_metric_specification().unwrap().predefined_metric_type().as_str(),
        "ECSServiceAverageCPUUtilization"
    );

    // The scaler sets the task count: the plan leaves it, and says why.
    update_service(&p, &state, Some(3), None).await;
    let pl = make_plan(p.as_ref(), &v1, &state, false, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes);
    let app = pl.change("app").unwrap();
    assert_eq!(app.action, Action::NoOp);
    assert!(app.diffs.is_empty(), "{:#?}", app.diffs);
    assert_eq!(app.reasons.len(), 1, "{:?}", app.reasons);
    assert!(
        app.reasons[0].starts_with("ignored: `desired_count` is 3 in AWS, 1 in the file; `scaling`"),
        "{}",
        app.reasons[0]
    );
    let shown = moor::render::plan_text(&pl, moor::render::Style { color: false }, false);
    assert!(shown.contains("ignored: `desired_count`") && shown.contains("No changes."), "{shown}");

    // A wider range and a new target change in place; the count stays.
    let v2 = load(&stack(name, "", &scaling(6, 75)), &net);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(action(&pl, "scaling"), Action::Update);
    assert_eq!(changed(&pl, "scaling"), BTreeSet::from(["max".to_string(), "target_tracking".to_string()]));
    assert_eq!(action(&pl, "app"), Action::NoOp);
    let state = apply_clean(&p, &v2, state).await;
    let t = target(&p, &id).await.expect("still registered");
    assert_eq!((t.min_capacity(), t.max_capacity()), (1, 6));
    assert_eq!(Some(state.resources["scaling"].id.as_str()), t.scalable_target_arn(), "changed, not made again");
    let ps = policies(&p, &id).await;
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(ps[0].target_tracking_scaling_policy_configuration().unwrap().target_value(), 75.0);
    assert_eq!(service(&p, &state).await.desired_count(), 3, "the scaler's count is left alone");

    // Another change of the service sends only that change.
    let v3 = load(&stack(name, "    enable_execute_command: true\n", &scaling(6, 75)), &net);
    let pl = make_plan(p.as_ref(), &v3, &state, false, false).await;
    assert_eq!(changed(&pl, "app"), BTreeSet::from(["enable_execute_command".to_string()]));
    let state = apply_clean(&p, &v3, state).await;
    assert_eq!(service(&p, &state).await.desired_count(), 3, "an update of the service keeps the scaler's count");

    // Destroy: the policies and the target, then the service.
    let (pl, summary, state) = converge(&p, &v3, state, true).await;
    assert_eq!(action(&pl, "scaling"), Action::Delete);
    assert!(summary.ok(), "{summary:#?}");
    assert!(target(&p, &id).await.is_none(), "deregistered");
    assert!(policies(&p, &id).await.is_empty(), "policies deleted");
    assert!(state.resources.is_empty(), "{:?}", state.resources);
}

/// A scaling with `night` and `morning` schedules; `night_extra` goes
/// under the night's `min: 0`, `morning` (if any) after it.
fn scheduled(night_extra: &str, morning: bool) -> String {
    let morning = if morning {
        "      - name: morning\n        schedule: cron(0 7 ? * MON-FRI *)\n        timezone: UTC\n        min: 1\n        max: 4\n"
    } else {
        ""
    };
    format!(
        "  scaling:
    kind: appautoscaling/ecs_service_scaling
    service: ${{app.arn}}
    min: 1
    max: 4
    schedules:
      - name: night
        schedule: cron(0 20 ? * MON-FRI *)
        min: 0
{night_extra}{morning}"
    )
}

async fn scheduled_actions(p: &AwsProvider, id: &str) -> Vec<ScheduledAction> {
    let out = p
        .appautoscaling
        .describe_scheduled_actions()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(id)
        .send()
        .await
        .expect("describe scheduled actions");
    let mut all: Vec<ScheduledAction> =
        out.scheduled_actions().iter().filter(|x| x.resource_id() == id).cloned().collect();
    all.sort_by(|a, b| a.scheduled_action_name().cmp(b.scheduled_action_name()));
    all
}

async fn put_range(p: &AwsProvider, id: &str, min: i32, max: i32) {
    p.appautoscaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_id(id)
        .min_capacity(min)
        .max_capacity(max)
        .send()
        .await
        .expect("register");
}

/// Schedules are moor's scheduled actions (`moor-<name>`): put at create,
/// changed and deleted in place, another tool's left alone. Once they
/// exist they own the target's range: a schedule that fired is not
/// planned back. An action that loses its `max` is put anew without it,
/// since PutScheduledAction would keep the old one.
#[tokio::test]
async fn schedules_own_the_range_and_change_in_place() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    let name = "t-scale-sched";
    let v1 = load(&stack(name, "", &scheduled("        max: 0\n        timezone: Europe/Berlin\n", true)), &net);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let id = format!("service/{name}-cluster/{name}-app");
    let acts = scheduled_actions(&p, &id).await;
    let names: Vec<&str> = acts.iter().map(|a| a.scheduled_action_name()).collect();
    assert_eq!(names, ["moor-morning", "moor-night"]);
    let night = &acts[1];
    assert_eq!(night.schedule(), "cron(0 20 ? * MON-FRI *)");
    assert_eq!(night.timezone(), Some("Europe/Berlin"));
    let range = night.scalable_target_action().expect("a range");
    assert_eq!((range.min_capacity(), range.max_capacity()), (Some(0), Some(0)));

    // Another tool's action on the same target, and the night schedule
    // fired: the range is the schedule's, and nothing is planned.
    p.appautoscaling
        .put_scheduled_action()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_id(&id)
        .scheduled_action_name("theirs")
        .schedule("rate(1 day)")
        .scalable_target_action(ScalableTargetAction::builder().max_capacity(2).build())
        .send()
        .await
        .expect("their action");
    put_range(&p, &id, 0, 0).await;
    let pl = make_plan(p.as_ref(), &v1, &state, false, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes);
    let reasons = &pl.change("scaling").unwrap().reasons;
    assert!(
        reasons
            .iter()
            .any(|r| r == "ignored: `min` is 0 in AWS, 1 in the file; its `schedules` set it after the create"),
        "{reasons:?}"
    );

    // A key taken out of a schedule is a change (the last apply set it).
    let dropped = load(&stack(name, "", &scheduled("        timezone: Europe/Berlin\n", true)), &net);
    let pl = make_plan(p.as_ref(), &dropped, &state, false, false).await;
    assert_eq!(changed(&pl, "scaling"), BTreeSet::from(["schedules".to_string()]), "the night's max dropped");

    // The night keeps no max and goes back to UTC; the morning goes. No
    // schedule sets a max any more: the file's is planned back.
    let v2 = load(&stack(name, "", &scheduled("", false)), &net);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(action(&pl, "scaling"), Action::Update);
    assert_eq!(changed(&pl, "scaling"), BTreeSet::from(["max".to_string(), "schedules".to_string()]));
    let state = apply_clean(&p, &v2, state).await;
    let acts = scheduled_actions(&p, &id).await;
    let names: Vec<&str> = acts.iter().map(|a| a.scheduled_action_name()).collect();
    assert_eq!(names, ["moor-night", "theirs"], "the morning deleted, theirs kept");
    let range = acts[0].scalable_target_action().expect("a range");
    assert_eq!((range.min_capacity(), range.max_capacity()), (Some(0), None));
    assert_eq!(acts[0].timezone(), Some("UTC"));
    let t = target(&p, &id).await.expect("registered");
    assert_eq!((t.min_capacity(), t.max_capacity()), (0, 4), "the min the schedule set is left alone");
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes);

    // Without schedules, the file's min is planned back too.
    let v3 = load(&stack(name, "", &scaling(4, 60)), &net);
    let pl = make_plan(p.as_ref(), &v3, &state, false, false).await;
    assert_eq!(
        changed(&pl, "scaling"),
        BTreeSet::from(["min".to_string(), "schedules".to_string(), "target_tracking".to_string()])
    );

    let (_, summary, _) = converge(&p, &v2, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    let left: Vec<String> =
        scheduled_actions(&p, &id).await.iter().map(|a| a.scheduled_action_name().to_string()).collect();
    assert_eq!(left, ["theirs"], "moor's actions deleted");
    let _ = p
        .appautoscaling
        .delete_scheduled_action()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_id(&id)
        .scheduled_action_name("theirs")
        .send()
        .await;
}

#[tokio::test]
async fn a_service_ignoring_its_task_definition_keeps_the_revision_a_deploy_put_there() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    let name = "t-scale-ignore";
    let v1 = load(&stack(name, "    ignore_changes: [task_definition]\n", ""), &net);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let first = state.resources["task"].id.clone();
    assert_eq!(service(&p, &state).await.task_definition(), Some(first.as_str()), "set at create");

    // A deploy tool registers a revision and moves the service to it.
    let c = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name("web")
        .image("nginx:1.28")
        .port_mappings(aws_sdk_ecs::types::PortMapping::builder().container_port(80).build())
        .build();
    let out = p
        .ecs
        .register_task_definition()
        .family(format!("{name}-task"))
        .cpu("256")
        .memory("512")
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .container_definitions(c)
        .send()
        .await
        .expect("register");
    let deployed = out.task_definition().unwrap().task_definition_arn().unwrap().to_string();
    update_service(&p, &state, None, Some(&deployed)).await;

    let pl = make_plan(p.as_ref(), &v1, &state, false, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes);
    let app = pl.change("app").unwrap();
    assert_eq!(app.action, Action::NoOp);
    assert!(
        app.reasons.iter().any(|r| r.starts_with("ignored: `task_definition`") && r.contains("`ignore_changes`")),
        "{:?}",
        app.reasons
    );

    // A change moor makes to the service leaves the deployed revision.
    let v2 = load(&stack(name, "    ignore_changes: [task_definition]\n    enable_execute_command: true\n", ""), &net);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(changed(&pl, "app"), BTreeSet::from(["enable_execute_command".to_string()]));
    let state = apply_clean(&p, &v2, state).await;
    let svc = service(&p, &state).await;
    assert_eq!(svc.task_definition(), Some(deployed.as_str()));
    assert!(svc.enable_execute_command());

    // Without the list, the file's revision is planned back.
    let v3 = load(&stack(name, "    enable_execute_command: true\n", ""), &net);
    let pl = make_plan(p.as_ref(), &v3, &state, false, false).await;
    assert_eq!(changed(&pl, "app"), BTreeSet::from(["task_definition".to_string()]));

    let (_, summary, _) = converge(&p, &v3, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    let _ = p.ecs.deregister_task_definition().task_definition(&deployed).send().await;
}

/// A scalable target has no tags moor reads: its recorded ARN is what
/// makes it moor's. Without the record, the target the file's service has
/// is left alone until it is imported; a target someone registered again
/// after moor's is not moor's, though its resource id is the same.
#[tokio::test]
async fn only_the_recorded_scalable_target_is_moors() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let net = default_net(&p).await;
    let name = "t-scale-own";
    let v1 = load(&stack(name, "", &scaling(4, 60)), &net);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let id = format!("service/{name}-cluster/{name}-app");
    let arn = state.resources["scaling"].id.clone();

    // The record lost: found by the service's resource id, not changed.
    let pl = make_plan(p.as_ref(), &v1, &empty(&v1), false, false).await;
    let problem = pl.problems.iter().find(|x| x.resource == "scaling").unwrap_or_else(|| panic!("{:#?}", pl.problems));
    assert!(problem.message.contains("belongs to nothing moor manages"), "{}", problem.message);
    assert!(problem.help.contains(&format!("moor import scaling {arn}")), "{}", problem.help);

    // Deregistered and registered again by someone else: another ARN.
    p.appautoscaling
        .deregister_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_id(&id)
        .send()
        .await
        .expect("deregister");
    p.appautoscaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_id(&id)
        .min_capacity(2)
        .max_capacity(2)
        .send()
        .await
        .expect("register");
    let pl = make_plan(p.as_ref(), &v1, &state, false, false).await;
    let problem = pl.problems.iter().find(|x| x.resource == "scaling").unwrap_or_else(|| panic!("{:#?}", pl.problems));
    assert!(problem.message.contains("belongs to nothing moor manages"), "{}", problem.message);
    assert_eq!(action(&pl, "scaling"), Action::NoOp, "not changed");
    let t = target(&p, &id).await.expect("theirs");
    assert_eq!((t.min_capacity(), t.max_capacity()), (2, 2));

    // Without the scaling, the rest is destroyed; the namesake is left.
    let mut state = state;
    state.resources.remove("scaling");
    let rest = load(&stack(name, "", ""), &net);
    let (_, summary, _) = converge(&p, &rest, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    p.appautoscaling
        .deregister_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_id(&id)
        .send()
        .await
        .expect("deregister theirs");
}

/// The stack `name` (its service without a scaler) applied by the `moor`
/// binary in the work directory `dir`, with the default network as its
/// variables, which every later command of the test is given too.
struct Applied {
    dir: std::path::PathBuf,
    vars: [String; 2],
}

impl Applied {
    async fn new(p: &AwsProvider, name: &str, dir: &str) -> Applied {
        let net = default_net(p).await;
        let vars = [format!("subnets=[{}]", net.subnets.join(", ")), format!("sg={}", net.sg)];
        let a = Applied { dir: support::workdir(dir, &stack(name, "", "")), vars };
        let o = a.run(&["apply", "stack.yaml", "--auto-approve"]);
        assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
        a
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = args.to_vec();
        for v in &self.vars {
            all.extend(["--var", v.as_str()]);
        }
        support::moor_in(&self.dir, &all)
    }
}

/// A scalable target someone registered for the stack's service is adopted
/// with `moor import <logical> <ARN>`: then the plan shows no change, and
/// destroy deregisters it with the rest.
#[tokio::test]
async fn a_scalable_target_registered_by_hand_is_adopted_by_moor_import() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let name = "t-scale-import";
    let d = Applied::new(&p, name, "scale-import").await;
    let id = format!("service/{name}-cluster/{name}-app");
    let out = p
        .appautoscaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_id(&id)
        .min_capacity(1)
        .max_capacity(3)
        .send()
        .await
        .expect("register");
    let arn = out.scalable_target_arn().map(str::to_string).unwrap_or_else(|| panic!("no ARN: {out:?}"));

    let scaling =
        "  scaling:\n    kind: appautoscaling/ecs_service_scaling\n    service: ${app.arn}\n    min: 1\n    max: 3\n";
    std::fs::write(d.dir.join("stack.yaml"), stack(name, "", scaling)).unwrap();
    let o = d.run(&["import", "scaling", &arn, "-f", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let o = d.run(&["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));

    let o = d.run(&["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    assert!(target(&p, &id).await.is_none(), "deregistered");
}

/// `moor import` fills the references of the file from the record, as a
/// plan does: a service the record lost is imported by its name alone, its
/// cluster read from `${cluster.arn}`, and the plan after shows no change.
/// Without the cluster in the record, the import says which reference it
/// cannot fill, where the file has it.
#[tokio::test]
async fn a_service_is_imported_by_name_through_its_recorded_cluster() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let name = "t-import-svc";
    let d = Applied::new(&p, name, "import-svc").await;
    let cluster = format!("{name}-cluster");
    let service = format!("{name}-app");
    for logical in ["app", "cluster"] {
        let o = support::moor_in(&d.dir, &["state", "rm", logical, "--stack", name, "--auto-approve"]);
        assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    }

    // The cluster unknown: the reference that finds the service is named.
    let o = d.run(&["import", "app", &service, "-f", "stack.yaml"]);
    let shown = support::text(&o);
    assert_eq!(o.status.code(), Some(1), "{shown}");
    assert!(shown.contains("cannot import `app` (ecs/service)") && shown.contains("`cluster`"), "{shown}");
    assert!(shown.contains("stack.yaml:") && shown.contains("`${cluster.arn}` is not known"), "{shown}");

    // The cluster recorded again: the service is found by its name.
    let o = d.run(&["import", "cluster", &cluster, "-f", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let o = d.run(&["import", "app", &service, "-f", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let o = d.run(&["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));

    let o = d.run(&["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
}
