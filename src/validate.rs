//! Rules between resources: what AWS would refuse only after a long apply,
//! checked before any API call.
//!
//! - a reference field names a resource of the right kind (each kind lists
//!   its reference fields: [`crate::kinds::KindSpec::reference_rules`]);
//! - a kind's own rules between it and what it refers to
//!   ([`crate::kinds::KindSpec::cross_check`]): the service's container and
//!   port exist in its task definition, a Fargate/awsvpc service sends
//!   traffic to target groups of type `ip` and has a `network` block, a
//!   service's target group is forwarded to by a listener (CreateService
//!   fails without one), a target group serves one load balancer only, one
//!   listener per port of a load balancer;
//! - physical names are unique where AWS requires it.

use crate::diag::{Diag, Label};
use crate::kinds::{Ids, RefRule};
use crate::model::check::Checker;
use crate::model::common::ref_resource;
use crate::model::{Kind, Resource, Stack};
use crate::yaml::{Node, Span};
use std::collections::HashMap;

pub fn cross_checks(stack: &Stack, tree: &Node, diags: &mut Vec<Diag>) {
    let mut v = Cross { stack, tree, diags };
    for r in &stack.resources {
        v.kinds_of_refs(r);
        r.spec.as_dyn().cross_check(r, &mut v);
    }
    v.unique_names();
}

/// What a kind's [`crate::kinds::KindSpec::cross_check`] works with: the
/// stack, the file's tree, and where its findings go.
pub struct Cross<'a> {
    pub stack: &'a Stack,
    tree: &'a Node,
    diags: &'a mut Vec<Diag>,
}

impl<'a> Cross<'a> {
    /// Reports about `r`, at paths inside its mapping.
    pub fn checker(&mut self, r: &Resource) -> Checker<'_> {
        // The stack was loaded from this tree: each resource has its node.
        let node = self.tree.path(&["resources", &r.name]).expect("resource in tree");
        Checker { file: &self.stack.file, node, key_span: r.key_span, logical: "", diags: self.diags }
    }

    /// The resource a whole-value reference (`${res.attr}`) names.
    pub fn target(&self, value: &str) -> Option<&'a Resource> {
        self.stack.resource(ref_resource(value)?)
    }

    /// Where `path` of resource `logical` is in the file, for a second label.
    pub fn span_of(&self, logical: &str, path: &[&str]) -> Option<Span> {
        let mut full = vec!["resources", logical];
        full.extend_from_slice(path);
        self.tree.path(&full).map(|n| n.span)
    }

    fn kinds_of_refs(&mut self, r: &Resource) {
        for rule in r.spec.as_dyn().reference_rules() {
            match rule {
                RefRule::Kind { path, value, kinds, what } => {
                    let path: Vec<&str> = path.iter().map(String::as_str).collect();
                    self.expect_kind(r, &path, value, kinds, what);
                }
                RefRule::Ids { path, list, ids } => {
                    let path: Vec<&str> = path.iter().map(String::as_str).collect();
                    self.id_list(r, &path, list, ids);
                }
            }
        }
    }

    /// A field that takes the ARN (or id) of a resource names the right kind.
    fn expect_kind(&mut self, r: &Resource, path: &[&str], value: &str, kinds: &[Kind], what: &str) {
        let Some(t) = self.target(value) else { return };
        if kinds.contains(&t.kind()) {
            return;
        }
        let (tname, tkind) = (t.name.clone(), t.kind());
        let want = kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(" or ");
        let mut c = self.checker(r);
        c.error(
            "moor::reference-kind",
            path,
            format!("`{tname}` is {} {tkind}, but this field takes {what}", crate::text::article(tkind.as_str())),
            format!("expects {want}"),
        )
        .help = Some(format!("refer to {} {want} resource here", crate::text::article(&want)));
    }

    /// A list of ids (`security_groups` takes group ids and `subnets`
    /// subnet ids) refers to attributes that give such ids.
    fn id_list(&mut self, r: &Resource, path: &[&str], list: &crate::model::common::StrList, ids: Ids) {
        let want = ids.want;
        // Callers name a field: the path is never empty.
        let field = *path.last().expect("a field");
        let entries: Vec<(Vec<String>, &str)> = match list {
            crate::model::common::StrList::Ref(s) => vec![(path.iter().map(|p| p.to_string()).collect(), s.as_str())],
            crate::model::common::StrList::Items(items) => items
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let mut p: Vec<String> = path.iter().map(|p| p.to_string()).collect();
                    p.push(i.to_string());
                    (p, s.as_str())
                })
                .collect(),
        };
        for (p, value) in entries {
            let Some((res, attr)) = crate::model::common::ref_parts(value) else { continue };
            let Some(target) = self.stack.resource(res) else { continue };
            // A single value in place of the list is reported by the loader.
            let is_list = target.kind().attribute(attr).is_some_and(|a| a.ty == crate::model::AttrType::List);
            if matches!(list, crate::model::common::StrList::Ref(_)) && !is_list {
                continue;
            }
            let ok = (ids.kinds.is_empty() || ids.kinds.contains(&target.kind())) && attr == ids.attr
                || ids.also.contains(&(target.kind(), attr));
            if !ok {
                let p: Vec<&str> = p.iter().map(String::as_str).collect();
                let what = ids.example;
                self.checker(r)
                    .error(
                        "moor::reference-kind",
                        &p,
                        format!("`{field}` takes {want} ids, but `${{{res}.{attr}}}` is not one"),
                        format!("not {} {want} id", crate::text::article(want)),
                    )
                    .help = Some(format!("`{field}` takes {what}"));
            }
        }
    }

    /// Names that AWS requires to be unique: per kind (and per cluster for
    /// services). Names with `${…}` are only known at apply.
    fn unique_names(&mut self) {
        let mut seen: HashMap<(Kind, String, String), (String, Span)> = HashMap::new();
        for r in &self.stack.resources {
            // Every version of a versioned kind carries its name.
            if r.kind().is_lookup() || r.kind().facts().versioned {
                continue;
            }
            let Some(name) = &r.physical_name else {
                continue;
            };
            if name.contains("${") {
                continue;
            }
            let scope = r.spec.as_dyn().name_scope().to_string();
            let node = self.tree.path(&["resources", &r.name]);
            let span = node.and_then(|n| n.get(r.kind().facts().name_field)).map_or(r.key_span, |n| n.span);
            let key = (r.kind(), name.clone(), scope);
            if let Some((first, first_span)) = seen.get(&key) {
                let mut d = Diag::error(
                    "moor::duplicate-name",
                    format!("`{}` and `{first}` are both {} `{name}`", r.name, r.kind()),
                )
                .in_file(&self.stack.file)
                .label(span, "second use of the name")
                .help("AWS requires this name to be unique; give one of them another `name`");
                d.labels.push(Label { span: *first_span, text: "first use".into() });
                self.diags.push(d);
            } else {
                seen.insert(key, (r.name.clone(), span));
            }
        }
    }
}
