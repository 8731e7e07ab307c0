//! The dependency graph of a stack.
//!
//! An edge `a → b` means "a depends on b": b is created first and deleted
//! last. Edges come from `${b.attr}` references, from `depends_on`, and from
//! rules a user should not have to write down, which the kinds state
//! (see [`crate::kinds::KindSpec::needs_attached`] and
//! [`crate::kinds::KindSpec::users_need`]):
//!
//! - a service depends on the listener that forwards to its target group:
//!   CreateService fails while the group has no load balancer, and no
//!   attribute reference says so;
//! - whatever uses a role also depends on the managed policies attached to
//!   that role, so the policies exist before the role is used and are kept
//!   until its users are gone.
//!
//! Destroy walks the same graph reversed.
//!
//! A "late" reference ([`crate::kinds::KindSpec::late_refs`], a security
//! group's rule naming a group) is an edge only when it closes no cycle:
//! AWS takes it after the resource exists, so it may name the resource
//! itself or one that names it back. Such a reference is kept in
//! [`Graph::late`]; apply makes the resource without it and fills it in
//! with an update once what it names is up.

use crate::diag::{Diag, Label};
use crate::model::{Kind, Stack};
use crate::yaml::Span;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Why {
    /// `${target.attribute}` in the dependent.
    Reference {
        attribute: String,
        #[serde(skip)]
        span: Span,
    },
    DependsOn {
        #[serde(skip)]
        span: Span,
    },
    Implicit {
        reason: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub name: String,
    pub kind: Kind,
}

pub struct Graph {
    pub dag: DiGraph<Node, Why>,
    index: HashMap<String, NodeIndex>,
    /// Late references that make no edge, as (resource, what it names):
    /// itself, or one that depends on it.
    pub late: Vec<(String, String)>,
}

impl Graph {
    pub fn node(&self, name: &str) -> Option<NodeIndex> {
        self.index.get(name).copied()
    }

    /// Names of the resources `name` depends on directly.
    pub fn dependencies(&self, name: &str) -> Vec<&str> {
        let Some(i) = self.node(name) else {
            return Vec::new();
        };
        let mut v: Vec<&str> =
            self.dag.neighbors_directed(i, Direction::Outgoing).map(|n| self.dag[n].name.as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The edge reasons between two resources.
    pub fn why(&self, from: &str, to: &str) -> Vec<&Why> {
        let (Some(a), Some(b)) = (self.node(from), self.node(to)) else {
            return Vec::new();
        };
        self.dag.edges_connecting(a, b).map(|e| e.weight()).collect()
    }

    /// Dependencies first; among resources that are ready together, file
    /// order. `None` when there is a cycle.
    pub fn topo_order(&self) -> Option<Vec<&str>> {
        let n = self.dag.node_count();
        let mut pending: Vec<usize> = (0..n).map(|i| self.dependencies_idx(NodeIndex::new(i)).len()).collect();
        let mut ready: BTreeSet<usize> = (0..n).filter(|i| pending[*i] == 0).collect();
        let mut out = Vec::with_capacity(n);
        while let Some(i) = ready.pop_first() {
            out.push(self.dag[NodeIndex::new(i)].name.as_str());
            let mut dependents: Vec<NodeIndex> =
                self.dag.neighbors_directed(NodeIndex::new(i), Direction::Incoming).collect();
            dependents.sort_unstable();
            dependents.dedup();
            for d in dependents {
                pending[d.index()] -= 1;
                if pending[d.index()] == 0 {
                    ready.insert(d.index());
                }
            }
        }
        (out.len() == n).then_some(out)
    }

    fn dependencies_idx(&self, i: NodeIndex) -> Vec<NodeIndex> {
        let mut v: Vec<NodeIndex> = self.dag.neighbors_directed(i, Direction::Outgoing).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    pub fn to_dot(&self, stack: &str) -> String {
        let mut s =
            format!("digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n", esc(stack));
        for n in self.dag.node_weights() {
            let _ = writeln!(s, "  \"{}\" [label=\"{}\\n{}\"];", esc(&n.name), esc(&n.name), n.kind);
        }
        for e in self.unique_edges() {
            let (a, b, why) = e;
            let attrs = match why {
                Why::Reference { attribute, .. } => format!("label=\"{}\"", esc(attribute)),
                Why::DependsOn { .. } => "label=\"depends_on\"".to_string(),
                Why::Implicit { .. } => "style=dashed, label=\"implicit\"".to_string(),
            };
            let _ = writeln!(s, "  \"{}\" -> \"{}\" [{attrs}];", esc(a), esc(b));
        }
        s.push_str("}\n");
        s
    }

    pub fn to_mermaid(&self) -> String {
        let mut s = String::from("flowchart LR\n");
        for (i, n) in self.dag.node_weights().enumerate() {
            let _ = writeln!(s, "  n{i}[\"{}<br/><small>{}</small>\"]", n.name.replace('"', "#quot;"), n.kind);
        }
        for (a, b, why) in self.unique_edges() {
            let (ia, ib) = (self.index[a].index(), self.index[b].index());
            let _ = match why {
                Why::Reference { attribute, .. } => writeln!(s, "  n{ia} -->|{attribute}| n{ib}"),
                Why::DependsOn { .. } => writeln!(s, "  n{ia} -->|depends_on| n{ib}"),
                Why::Implicit { .. } => writeln!(s, "  n{ia} -.->|implicit| n{ib}"),
            };
        }
        s
    }

    /// One edge per pair (the first reason), in a stable order.
    fn unique_edges(&self) -> Vec<(&str, &str, &Why)> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for e in self.dag.raw_edges() {
            if seen.insert((e.source(), e.target())) {
                out.push((self.dag[e.source()].name.as_str(), self.dag[e.target()].name.as_str(), &e.weight));
            }
        }
        out
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Builds the graph; a cycle is reported as a diagnostic naming the whole
/// path, each edge with its place in the file.
pub fn build(stack: &Stack) -> (Graph, Vec<Diag>) {
    let mut dag = DiGraph::new();
    let mut index = HashMap::new();
    for r in &stack.resources {
        let i = dag.add_node(Node { name: r.name.clone(), kind: r.kind() });
        index.insert(r.name.clone(), i);
    }
    // References, in file order; those that are all late make no edge.
    let late = late_counts(stack);
    let mut all: HashMap<(&str, &str, &str), usize> = HashMap::new();
    for u in &stack.refs {
        if let Some(from) = &u.from {
            *all.entry((from, &u.resource, &u.attribute)).or_default() += 1;
        }
    }
    let mut deferred = Vec::new();
    for u in &stack.refs {
        let Some(from) = &u.from else { continue };
        let key = (from.as_str(), u.resource.as_str(), u.attribute.as_str());
        if u.index.is_none() && late.get(&key).is_some_and(|n| *n >= all[&key]) {
            deferred.push(u);
            continue;
        }
        if let (Some(&a), Some(&b)) = (index.get(from), index.get(&u.resource)) {
            if a != b && dag.find_edge(a, b).is_none() {
                dag.add_edge(a, b, Why::Reference { attribute: u.attribute.clone(), span: u.span });
            }
        }
    }
    for r in &stack.resources {
        for d in &r.depends_on {
            if let (Some(&a), Some(&b)) = (index.get(&r.name), index.get(d)) {
                let span = stack.depends_on_spans.get(&(r.name.clone(), d.clone())).copied().unwrap_or_default();
                dag.add_edge(a, b, Why::DependsOn { span });
            }
        }
    }
    for (a, b, reason) in implicit_edges(stack) {
        if let (Some(&ia), Some(&ib)) = (index.get(&a), index.get(&b)) {
            if ia != ib && dag.find_edge(ia, ib).is_none() {
                dag.add_edge(ia, ib, Why::Implicit { reason });
            }
        }
    }
    // Late references last: an edge unless it would close a cycle.
    let mut late_refs: Vec<(String, String)> = Vec::new();
    for u in deferred {
        let Some(from) = &u.from else { continue };
        let (Some(&a), Some(&b)) = (index.get(from), index.get(&u.resource)) else { continue };
        if a == b || petgraph::algo::has_path_connecting(&dag, b, a, None) {
            if !late_refs.iter().any(|(x, y)| x == from && y == &u.resource) {
                late_refs.push((from.clone(), u.resource.clone()));
            }
        } else if dag.find_edge(a, b).is_none() {
            dag.add_edge(a, b, Why::Reference { attribute: u.attribute.clone(), span: u.span });
        }
    }
    let graph = Graph { dag, index, late: late_refs };
    let diags = cycles(&graph, stack);
    (graph, diags)
}

/// How many of each resource's references to `resource.attribute` are late.
fn late_counts(stack: &Stack) -> HashMap<(&str, &str, &str), usize> {
    let mut out = HashMap::new();
    for r in &stack.resources {
        for l in r.spec.as_dyn().late_refs() {
            if let Some((res, attr)) = crate::model::common::ref_parts(l) {
                *out.entry((r.name.as_str(), res, attr)).or_default() += 1;
            }
        }
    }
    out
}

/// The edges no reference states, from the kinds' hooks: what needs a
/// resource attached depends on what attaches it
/// ([`crate::kinds::KindSpec::needs_attached`]), and whatever uses a
/// resource depends on what its users need
/// ([`crate::kinds::KindSpec::users_need`]).
fn implicit_edges(stack: &Stack) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    // Attachers by what they attach.
    let mut attachers: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in &stack.resources {
        for a in r.spec.as_dyn().attaches() {
            attachers.entry(a).or_default().push(&r.name);
        }
    }
    for r in &stack.resources {
        let spec = r.spec.as_dyn();
        for needed in spec.needs_attached() {
            for a in attachers.get(needed).into_iter().flatten() {
                out.push((r.name.clone(), a.to_string(), spec.needs_attached_why(a, needed)));
            }
        }
    }
    // Users of a resource depend on what its users need.
    for u in &stack.refs {
        let Some(from) = &u.from else { continue };
        let Some(used) = stack.resource(&u.resource) else { continue };
        let spec = used.spec.as_dyn();
        for needed in spec.users_need() {
            out.push((from.clone(), needed.to_string(), spec.users_need_why(from, &u.resource, needed)));
        }
    }
    out
}

fn cycles(g: &Graph, stack: &Stack) -> Vec<Diag> {
    let mut diags = Vec::new();
    for scc in petgraph::algo::tarjan_scc(&g.dag) {
        let is_cycle = scc.len() > 1 || g.dag.find_edge(scc[0], scc[0]).is_some();
        if !is_cycle {
            continue;
        }
        // Start at the resource that comes first in the file.
        // A cycle has at least one node.
        let start = *scc.iter().min().expect("non-empty");
        let path = cycle_path(g, start, &scc);
        let names: Vec<&str> = path.iter().map(|i| g.dag[*i].name.as_str()).collect();
        let mut d = Diag::error("moor::cycle", format!("dependency cycle: {}", names.join(" → "))).in_file(&stack.file);
        let mut implicit = Vec::new();
        for w in path.windows(2) {
            let (a, b) = (&g.dag[w[0]].name, &g.dag[w[1]].name);
            let why = g.dag.edges_connecting(w[0], w[1]).next().map(|e| e.weight().clone());
            match why {
                Some(Why::Reference { attribute, span }) => {
                    d.labels.push(Label { span, text: format!("`{a}` uses `{b}.{attribute}`") })
                }
                Some(Why::DependsOn { span }) => d.labels.push(Label { span, text: format!("`{a}` depends on `{b}`") }),
                Some(Why::Implicit { reason }) => implicit.push(format!("`{a}` → `{b}`: {reason}")),
                None => {}
            }
        }
        let mut help =
            "moor creates a resource after everything it uses; break the cycle by removing one of these references"
                .to_string();
        if !implicit.is_empty() {
            help.push_str(&format!(" (implicit: {})", implicit.join("; ")));
        }
        diags.push(d.help(help));
    }
    diags
}

/// A shortest path from `start` back to itself inside one strongly
/// connected component.
fn cycle_path(g: &Graph, start: NodeIndex, scc: &[NodeIndex]) -> Vec<NodeIndex> {
    let inside: std::collections::HashSet<NodeIndex> = scc.iter().copied().collect();
    let mut prev: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        let mut next: Vec<NodeIndex> =
            g.dag.neighbors_directed(n, Direction::Outgoing).filter(|x| inside.contains(x)).collect();
        next.sort_unstable();
        for m in next {
            if m == start {
                // start … n, then back to start.
                let mut path = vec![n];
                let mut cur = n;
                while cur != start {
                    cur = prev[&cur];
                    path.push(cur);
                }
                path.reverse();
                path.push(start);
                return path;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(m) {
                e.insert(n);
                queue.push_back(m);
            }
        }
    }
    vec![start, start]
}
