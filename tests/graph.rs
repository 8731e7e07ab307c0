//! The dependency graph: edges from references, `depends_on` and the
//! implicit rules; topological order; cycles.

use moor::graph::{build, Why};
use moor::load::{load_str, LoadOptions};
use moor::model::Stack;

fn stack(src: &str) -> Stack {
    let l = load_str("test.yaml", src, &LoadOptions::default());
    let errors: Vec<_> = l.diags.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
    assert!(errors.is_empty(), "unexpected errors: {errors:?}");
    l.stack.expect("valid stack")
}

fn flask() -> Stack {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/flask-app.yaml")).unwrap();
    stack(&text)
}

#[test]
fn service_waits_for_the_listener_of_its_target_group() {
    let s = flask();
    let (g, diags) = build(&s);
    assert!(diags.is_empty());
    assert!(g.dependencies("app").contains(&"http"), "{:?}", g.dependencies("app"));
    assert!(matches!(g.why("app", "http")[..], [Why::Implicit { .. }]));
}

#[test]
fn users_of_a_role_wait_for_its_policies() {
    let s = flask();
    let (g, _) = build(&s);
    // task uses exec_role, which attaches pull.
    assert!(g.dependencies("task").contains(&"pull"), "{:?}", g.dependencies("task"));
    assert!(matches!(g.why("task", "pull")[..], [Why::Implicit { .. }]));
    assert!(matches!(g.why("exec_role", "pull")[..], [Why::Reference { .. }]));
}

#[test]
fn topological_order_puts_dependencies_first() {
    let s = flask();
    let (g, _) = build(&s);
    let order = g.topo_order().expect("acyclic");
    let pos = |n: &str| order.iter().position(|x| *x == n).unwrap();
    for r in &s.resources {
        for d in g.dependencies(&r.name) {
            assert!(pos(d) < pos(&r.name), "{d} must come before {}", r.name);
        }
    }
    assert_eq!(order.len(), s.resources.len());
    // Deterministic: file order among independent resources.
    assert_eq!(order[0], "repo");
}

#[test]
fn depends_on_adds_an_edge() {
    let s =
        stack("stack: t\nresources:\n  a:\n    kind: ecs/cluster\n  b:\n    kind: ecs/cluster\n    depends_on: [a]\n");
    let (g, _) = build(&s);
    assert_eq!(g.dependencies("b"), vec!["a"]);
    assert!(matches!(g.why("b", "a")[..], [Why::DependsOn { .. }]));
}

#[test]
fn a_cycle_names_every_resource_on_it_and_each_edge() {
    let src = "stack: t
resources:
  a:
    kind: ecs/cluster
    name: ${c.name}
  b:
    kind: ecs/cluster
    name: ${a.name}
  c:
    kind: ecs/cluster
    depends_on: [b]
";
    let s = stack(src);
    let (g, diags) = build(&s);
    assert!(g.topo_order().is_none());
    assert_eq!(diags.len(), 1);
    let d = &diags[0];
    assert_eq!(d.code, "moor::cycle");
    assert_eq!(d.message, "dependency cycle: a → c → b → a");
    assert_eq!(d.labels.len(), 3, "one label per edge");
    let texts: Vec<&str> = d.labels.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["`a` uses `c.name`", "`c` depends on `b`", "`b` uses `a.name`"]);
}

#[test]
fn graph_renders_as_dot_and_mermaid() {
    let s = flask();
    let (g, _) = build(&s);
    let dot = g.to_dot(&s.name);
    assert!(dot.starts_with("digraph \"flask-demo\""));
    assert!(dot.contains("\"app\" -> \"http\" [style=dashed, label=\"implicit\"];"));
    let mm = g.to_mermaid();
    assert!(mm.starts_with("flowchart LR"));
    assert!(mm.contains("-.->|implicit|"));
}
