//! Variables: types, defaults, required values, and precedence
//! (default < MOOR_VAR_x < --var-file, later wins < --var, later wins).

use moor::load::{load_str, LoadOptions};
use moor::model::{Spec, Stack, Value, VarSource};
use std::path::PathBuf;

const SRC: &str = "stack: t
region: eu-west-1
variables:
  tag: { default: v1 }
  count: { type: integer, default: 1 }
  public: { type: boolean, default: false }
  subnets: { type: list, default: [subnet-a, subnet-b] }
resources:
  cluster:
    kind: ecs/cluster
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    containers:
      - name: web
        image: nginx:${var.tag}
        environment: { STACK: '${stack}', REGION: '${region}', LITERAL: 'a$${b}' }
  svc:
    kind: ecs/service
    cluster: ${cluster.arn}
    task_definition: ${task.arn}
    desired_count: ${var.count}
    network:
      subnets: ${var.subnets}
      assign_public_ip: ${var.public}
";

fn vars_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vars")
}

fn load(opts: LoadOptions) -> Stack {
    let l = load_str("t.yaml", SRC, &opts);
    let errors: Vec<_> = l.diags.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    l.stack.unwrap()
}

fn var<'a>(s: &'a Stack, name: &str) -> (&'a Value, &'a VarSource) {
    let v = s.variables.iter().find(|v| v.name == name).unwrap();
    (&v.value, &v.source)
}

fn service(s: &Stack) -> &moor::kinds::ecs::Service {
    match &s.resource("svc").unwrap().spec {
        Spec::EcsService(x) => x,
        _ => unreachable!(),
    }
}

fn image(s: &Stack) -> String {
    match &s.resource("task").unwrap().spec {
        Spec::EcsTaskDefinition(t) => t.containers[0].image.clone(),
        _ => unreachable!(),
    }
}

#[test]
fn defaults_fill_typed_fields() {
    let s = load(LoadOptions::default());
    let svc = service(&s);
    assert_eq!(svc.desired_count, Some(1));
    let net = svc.network.as_ref().unwrap();
    assert!(!net.assign_public_ip);
    assert_eq!(net.subnets.items().unwrap(), ["subnet-a", "subnet-b"]);
    assert_eq!(image(&s), "nginx:v1");
    assert_eq!(var(&s, "tag"), (&Value::String("v1".into()), &VarSource::Default));
}

#[test]
fn builtins_and_escapes() {
    let s = load(LoadOptions::default());
    let Spec::EcsTaskDefinition(t) = &s.resource("task").unwrap().spec else { unreachable!() };
    let env = &t.containers[0].environment;
    assert_eq!(env["STACK"], "t");
    assert_eq!(env["REGION"], "eu-west-1");
    // A literal `${` stays escaped in the template; apply renders it.
    assert_eq!(env["LITERAL"], "a$${b}");
}

#[test]
fn environment_beats_default() {
    let s = load(LoadOptions { env: vec![("MOOR_VAR_count".into(), "5".into())], ..Default::default() });
    assert_eq!(service(&s).desired_count, Some(5));
    assert_eq!(var(&s, "count").1, &VarSource::Environment("MOOR_VAR_count".into()));
}

#[test]
fn var_file_beats_environment_and_later_files_win() {
    let s = load(LoadOptions {
        env: vec![("MOOR_VAR_count".into(), "5".into()), ("MOOR_VAR_tag".into(), "env".into())],
        var_files: vec![vars_dir().join("a.yaml"), vars_dir().join("b.yaml")],
        ..Default::default()
    });
    assert_eq!(service(&s).desired_count, Some(3));
    assert_eq!(image(&s), "nginx:from-file-b");
}

#[test]
fn flag_beats_everything_and_later_flags_win() {
    let s = load(LoadOptions {
        env: vec![("MOOR_VAR_tag".into(), "env".into())],
        var_files: vec![vars_dir().join("a.yaml")],
        vars: vec![
            "tag=first".into(),
            "tag=v2-abc1234".into(),
            "count=7".into(),
            "public=true".into(),
            "subnets=s-1,s-2,s-3".into(),
        ],
        ..Default::default()
    });
    assert_eq!(image(&s), "nginx:v2-abc1234");
    let svc = service(&s);
    assert_eq!(svc.desired_count, Some(7));
    let net = svc.network.as_ref().unwrap();
    assert!(net.assign_public_ip);
    assert_eq!(net.subnets.items().unwrap(), ["s-1", "s-2", "s-3"]);
    assert_eq!(var(&s, "tag").1, &VarSource::Flag);
}

#[test]
fn list_flags_accept_yaml_flow_lists() {
    let s = load(LoadOptions { vars: vec!["subnets=[x, y]".into()], ..Default::default() });
    assert_eq!(service(&s).network.as_ref().unwrap().subnets.items().unwrap(), ["x", "y"]);
}

#[test]
fn a_required_variable_without_value_is_an_error() {
    let src = "stack: t\nvariables:\n  tag: { description: needed }\nresources:\n  c:\n    kind: ecs/cluster\n    name: c-${var.tag}\n";
    let l = load_str("t.yaml", src, &LoadOptions::default());
    assert!(l.stack.is_none());
    assert_eq!(l.diags[0].code, "moor::variable-required");
    let l = load_str("t.yaml", src, &LoadOptions { vars: vec!["tag=x".into()], ..Default::default() });
    assert!(l.stack.is_some(), "{:?}", l.diags);
}

#[test]
fn a_flag_of_the_wrong_type_is_an_error() {
    let l = load_str("t.yaml", SRC, &LoadOptions { vars: vec!["count=many".into()], ..Default::default() });
    assert!(l.stack.is_none());
    assert!(l.diags.iter().any(|d| d.message == "--var count: `many` is not an integer"), "{:?}", l.diags);
}

#[test]
fn a_flag_for_an_undeclared_variable_is_an_error() {
    let l = load_str("t.yaml", SRC, &LoadOptions { vars: vec!["cuont=2".into()], ..Default::default() });
    assert!(l.stack.is_none());
    let d = l.diags.iter().find(|d| d.code == "moor::unknown-variable").unwrap();
    assert_eq!(d.help.as_deref(), Some("did you mean `count`?"));
}

#[test]
fn git_builtins_name_the_commit_of_the_work_tree() {
    let dir = std::env::temp_dir().join(format!("moor-git-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["commit", "-q", "--allow-empty", "-m", "x"]);
    let sha = String::from_utf8(
        std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&dir).output().unwrap().stdout,
    )
    .unwrap();
    let src = "stack: t\nresources:\n  c:\n    kind: ecs/cluster\n    name: c-${git.short_sha}\n    tags: { commit: '${git.sha}' }\n";
    let l = load_str("t.yaml", src, &LoadOptions { git_dir: Some(dir.clone()), ..Default::default() });
    let s = l.stack.expect("valid");
    let r = s.resource("c").unwrap();
    assert_eq!(r.physical_name.as_deref(), Some(format!("c-{}", &sha.trim()[..7]).as_str()));
    std::fs::remove_dir_all(&dir).ok();
}

const ENVS: &str = "stack: shop-${var.env}-${region}
region: eu-west-1
variables:
  env: { default: dev }
resources:
  repo:
    kind: ecr/repository
";

fn load_envs(text: &str, opts: LoadOptions) -> moor::load::Loaded {
    load_str("envs.yaml", text, &opts)
}

#[test]
fn the_stack_name_may_use_variables_and_builtins() {
    let dev = load_envs(ENVS, LoadOptions::default()).stack.expect("loads");
    assert_eq!(dev.name, "shop-dev-eu-west-1");
    let repo = dev.resource("repo").unwrap();
    assert_eq!(repo.physical_name.as_deref(), Some("shop-dev-eu-west-1/repo"), "names follow the stack's");
    let prod = load_envs(ENVS, LoadOptions { vars: vec!["env=prod".into()], ..Default::default() }).stack.unwrap();
    assert_eq!(prod.name, "shop-prod-eu-west-1");
    // The example: one file, a --var-file per environment.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shop = std::fs::read_to_string(root.join("stacks/shop.yaml")).unwrap();
    for env in ["dev", "prod"] {
        let opts = LoadOptions { var_files: vec![root.join(format!("stacks/envs/{env}.yaml"))], ..Default::default() };
        let l = load_envs(&shop, opts);
        assert!(l.diags.is_empty(), "{:?}", l.diags);
        let s = l.stack.unwrap();
        assert_eq!(s.name, format!("shop-{env}"));
        assert_eq!(s.tags.get("environment").map(String::as_str), Some(env));
    }
}

#[test]
fn a_stack_name_that_breaks_the_rule_after_substitution_points_at_the_stack_line() {
    let l = load_envs(ENVS, LoadOptions { vars: vec!["env=Bad_Env".into()], ..Default::default() });
    assert!(l.stack.is_none());
    let d = l.diags.iter().find(|d| d.code == "moor::stack-name").expect("a stack-name diagnostic");
    assert!(d.message.contains("shop-Bad_Env-eu-west-1") && d.message.contains("${var.env}"), "{}", d.message);
    assert_eq!(d.labels[0].span.start, ENVS.find("shop-").unwrap(), "points at the `stack:` value");
    // A resource attribute is not known before the stack's name.
    let l = load_envs("stack: x-${repo.arn}\nresources:\n  repo:\n    kind: ecr/repository\n", LoadOptions::default());
    let d = l.diags.iter().find(|d| d.code == "moor::stack-name").expect("a stack-name diagnostic");
    assert!(d.message.contains("cannot use"), "{}", d.message);
}

#[test]
fn stack_name_flag_beats_the_file_and_is_checked() {
    let l = load_envs(ENVS, LoadOptions { stack_name: Some("shop-preview-42".into()), ..Default::default() });
    assert_eq!(l.stack.expect("loads").name, "shop-preview-42");
    let l = load_envs(ENVS, LoadOptions { stack_name: Some("no spaces".into()), ..Default::default() });
    assert!(l.stack.is_none());
    assert!(
        l.diags.iter().any(|d| d.code == "moor::stack-name" && d.message.contains("--stack-name")),
        "{:?}",
        l.diags
    );
}

#[test]
fn list_variables_are_indexed_and_sliced() {
    let src = "stack: t
region: eu-west-1
variables:
  subnets: { type: list, default: [subnet-a, subnet-b, subnet-c] }
resources:
  cluster:
    kind: ecs/cluster
    tags: { first: '${var.subnets[0]}', last: 'is-${var.subnets[-1]}' }
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    containers:
      - name: web
        image: nginx:1.27
  svc:
    kind: ecs/service
    cluster: ${cluster.arn}
    task_definition: ${task.arn}
    network:
      subnets: ${var.subnets[1:]}
";
    let l = load_str("t.yaml", src, &LoadOptions::default());
    let diags: Vec<_> = l.diags.iter().map(|d| d.message.clone()).collect();
    assert!(diags.is_empty(), "{diags:?}");
    let s = l.stack.unwrap();
    assert_eq!(service(&s).network.as_ref().unwrap().subnets.items().unwrap(), ["subnet-b", "subnet-c"]);
    let tags = s.resource("cluster").unwrap().spec.tags().unwrap().clone();
    assert_eq!(tags.get("first").map(String::as_str), Some("subnet-a"));
    assert_eq!(tags.get("last").map(String::as_str), Some("is-subnet-c"));
    // A flag's value is indexed the same way, and out of range is an error.
    let l = load_str("t.yaml", src, &LoadOptions { vars: vec!["subnets=[x]".into()], ..Default::default() });
    let s = l.stack.unwrap();
    assert_eq!(service(&s).network.as_ref().unwrap().subnets.items().unwrap(), Vec::<String>::new());
    let l = load_str("t.yaml", src, &LoadOptions { vars: vec!["subnets=[]".into()], ..Default::default() });
    let errors: Vec<_> = l.diags.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
    assert_eq!(
        errors,
        [
            "`${var.subnets[0]}`: index 0 is out of range: the list has 0 items",
            "`${var.subnets[-1]}`: index -1 is out of range: the list has 0 items",
            "`${var.subnets[1:]}`: slice bound 1 is out of range: the list has 0 items",
        ]
    );
}

#[test]
fn list_attributes_are_indexed_and_sliced_where_they_fit() {
    let src = "stack: t
region: eu-west-1
resources:
  net:
    kind: ec2/default_vpc
  lb:
    kind: elbv2/load_balancer
    subnets: ['${net.subnet_ids[0]}', '${net.subnet_ids[-1]}']
  cluster:
    kind: ecs/cluster
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    containers:
      - name: web
        image: nginx:1.27
        environment: { FIRST: 'subnet ${net.subnet_ids[0]}' }
  svc:
    kind: ecs/service
    cluster: ${cluster.arn}
    task_definition: ${task.arn}
    network:
      subnets: ${net.subnet_ids[0:2]}
";
    let l = load_str("t.yaml", src, &LoadOptions::default());
    let diags: Vec<_> = l.diags.iter().map(|d| d.message.clone()).collect();
    assert!(diags.is_empty(), "{diags:?}");
    let s = l.stack.unwrap();
    let indexed: Vec<String> =
        s.refs.iter().filter_map(|u| Some(format!("{}:{}{}", u.from.as_deref()?, u.attribute, u.index?))).collect();
    assert_eq!(indexed, ["lb:subnet_ids[0]", "lb:subnet_ids[-1]", "task:subnet_ids[0]", "svc:subnet_ids[0:2]"]);
    // Indexed references order the graph like whole ones.
    let (g, cycles) = moor::graph::build(&s);
    assert!(cycles.is_empty());
    assert_eq!(g.dependencies("lb"), ["net"]);
    assert_eq!(g.dependencies("svc"), ["cluster", "net", "task"]);
}
