//! Indexed and sliced references against the moto emulator: a service runs
//! in the first two subnets of the default VPC lookup
//! (`${vpc.subnet_ids[0:2]}`), its load balancer in the first and the last
//! (`${vpc.subnet_ids[0]}`, `${vpc.subnet_ids[-1]}`); the plan after apply
//! is clean; an index past the lookup's subnets is a plan problem at the
//! reference.

mod support;

use moor::graph::build;
use moor::observe::observe;
use moor::plan::{plan, Action, PlanOptions};
use moor::provider::aws::AwsProvider;
use support::{apply_clean, converge, empty, load, provider};

const STACK: &str = r#"stack: t-index
region: us-east-1
resources:
  vpc:
    kind: ec2/default_vpc
  lb_sg:
    kind: ec2/security_group
    vpc: ${vpc.vpc_id}
    ingress:
      - port: 80
        cidr: 0.0.0.0/0
  app_sg:
    kind: ec2/security_group
    vpc: ${vpc.vpc_id}
    ingress:
      - port: 80
        source_group: ${lb_sg.id}
  lb:
    kind: elbv2/load_balancer
    subnets: ["${vpc.subnet_ids[0]}", "${vpc.subnet_ids[LAST]}"]
    security_groups: ["${lb_sg.id}"]
  web:
    kind: elbv2/target_group
    port: 80
    target_type: ip
    vpc: ${vpc.vpc_id}
  http:
    kind: elbv2/listener
    load_balancer: ${lb.arn}
    port: 80
    default_action:
      forward: ${web.arn}
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
        environment:
          FIRST_SUBNET: "is ${vpc.subnet_ids[0]}"
  app:
    kind: ecs/service
    cluster: ${cluster.arn}
    task_definition: ${task.arn}
    desired_count: 1
    network:
      subnets: ${vpc.subnet_ids[0:2]}
      security_groups: ["${app_sg.id}"]
      assign_public_ip: true
    load_balancers:
      - target_group: ${web.arn}
        container: web
        port: 80
"#;

async fn subnets_of_lookup(p: &AwsProvider) -> Vec<String> {
    let s = load("stack: t-index-lookup\nregion: us-east-1\nresources:\n  vpc:\n    kind: ec2/default_vpc\n", &[]);
    let pl = support::make_plan(p, &s, &empty(&s), false, false).await;
    pl.known["vpc"]["subnet_ids"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_service_and_a_load_balancer_in_indexed_subnets_apply_clean_and_destroy() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let subnets = subnets_of_lookup(&p).await;
    assert!(subnets.len() >= 3, "the default VPC has a subnet per zone: {subnets:?}");
    let stack = load(&STACK.replace("LAST", "-1"), &[]);

    // The plan shows the items themselves, not "known after apply".
    let pl = support::make_plan(p.as_ref(), &stack, &empty(&stack), false, false).await;
    let lb = pl.change("lb").unwrap();
    let field = lb.diffs.iter().find(|d| d.field == "subnets").expect("subnets planned");
    assert_eq!(field.after, Some(serde_json::json!([subnets[0], subnets[subnets.len() - 1]])));
    assert!(!field.after_unknown);

    let state = apply_clean(&p, &stack, empty(&stack)).await;
    let arn = state.resources["app"].id.clone();
    let svc = p.ecs.describe_services().services(&arn).cluster("t-index-cluster").send().await.unwrap();
    let vpc = svc.services()[0].network_configuration().unwrap().awsvpc_configuration().unwrap();
    assert_eq!(vpc.subnets(), &subnets[0..2]);
    let lbs = p.elb.describe_load_balancers().names("t-index-lb").send().await.unwrap();
    let mut zones: Vec<&str> =
        lbs.load_balancers()[0].availability_zones().iter().filter_map(|z| z.subnet_id()).collect();
    zones.sort_unstable();
    let mut want = vec![subnets[0].as_str(), subnets[subnets.len() - 1].as_str()];
    want.sort_unstable();
    assert_eq!(zones, want);
    let td = p.ecs.describe_task_definition().task_definition(&state.resources["task"].id).send().await.unwrap();
    let env = td.task_definition().unwrap().container_definitions()[0].environment();
    assert_eq!(env[0].value(), Some(format!("is {}", subnets[0]).as_str()));

    let (pl, summary, state) = converge(&p, &stack, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
    assert!(pl.changes.iter().all(|c| matches!(c.action, Action::Delete | Action::Read)), "{:#?}", pl.changes);
    assert!(state.resources.is_empty(), "{:?}", state.resources.keys());
}

#[tokio::test]
async fn an_index_past_the_lookups_subnets_is_a_plan_problem_at_the_reference() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let n = subnets_of_lookup(&p).await.len();
    let stack = load(&STACK.replace("LAST", &n.to_string()), &[]);
    let (graph, _) = build(&stack);
    let state = empty(&stack);
    let observed = observe(p.as_ref(), &stack, &graph, &state).await.map_err(|e| format!("{e:?}")).unwrap();
    let mut pl = plan(&stack, &graph, &state, &observed, false, PlanOptions::default());
    let reads = moor::checks::read(p.as_ref(), &stack, false).await;
    moor::checks::check(&stack, &mut pl, &observed, &reads);
    let problems: Vec<&str> = pl.problems.iter().map(|x| x.message.as_str()).collect();
    let col = STACK.lines().find(|l| l.contains("LAST")).unwrap().find("${vpc.subnet_ids[LAST]}").unwrap() + 1;
    let line = STACK.lines().position(|l| l.contains("LAST")).unwrap() + 1;
    assert_eq!(
        problems,
        [format!(
            "stack.yaml:{line}:{col} resources.lb: `${{vpc.subnet_ids[{n}]}}`: index {n} is out of range: the list has {n} items"
        )]
    );
    assert_eq!(pl.problems[0].resource, "lb");
}
