//! Variables: declared types, values by precedence, typed substitution.
//!
//! Precedence, lowest first: the default, `MOOR_VAR_<name>`, each
//! `--var-file` in order, each `--var` in order. A value that does not fit
//! the declared type is an error at its source; the variable then counts as
//! having no value, and the places that use it are not reported again.

use super::{key_span, read_limited, Loader, Skip, StackFile};
use crate::diag::{did_you_mean, Diag, SourceFile};
use crate::expr::{self, Piece, Target};
use crate::model::{Value, VarSource, VarType, Variable};
use crate::text::article;
use crate::yaml::{self, Limits, Node, NodeKind, Span, Style};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

pub(super) struct Vars {
    /// Every declared name, in file order.
    pub declared: Vec<String>,
    /// The variables that have a valid value.
    pub values: Vec<Variable>,
    /// Declared variables without a valid value (reported already).
    pub failed: HashSet<String>,
    /// Built-ins used inside variable values, with where the value is.
    pub builtin_uses: Vec<(Target, Span)>,
}

pub(super) fn resolve(l: &mut Loader, root: &Node, header: &StackFile<Skip, Skip>) -> Vars {
    let mut out = Vars { declared: Vec::new(), values: Vec::new(), failed: HashSet::new(), builtin_uses: Vec::new() };
    // File order (the header's map is sorted).
    let order: Vec<String> = root
        .get("variables")
        .and_then(Node::as_map)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, _)| k.as_str().map(str::to_string))
        .filter(|k| header.variables.contains_key(k))
        .collect();
    let var_files: Vec<(Arc<SourceFile>, Node)> =
        l.opts.var_files.clone().iter().filter_map(|p| var_file(l, p)).collect();

    for name in &order {
        let decl = &header.variables[name];
        out.declared.push(name.clone());
        let kspan = key_span(root, &["variables", name]);
        if !is_var_name(name) {
            l.err("moor::variable-name", kspan, format!("variable name `{name}` is not valid"), "invalid name").help =
                Some("variable names are letters, digits and `_`, starting with a letter".into());
        }
        let default_node = root.path(&["variables", name, "default"]);
        let ty = decl.ty.or_else(|| default_node.and_then(infer_type)).unwrap_or_default();
        let tw = type_word(ty);
        let mut value: Option<(Value, VarSource)> = None;
        let mut invalid = false;
        if let Some(n) = default_node {
            match value_from_node(n, ty) {
                Ok(v) => value = Some((v, VarSource::Default)),
                Err(msg) => {
                    invalid = true;
                    l.err(
                        "moor::variable-type",
                        n.span,
                        format!("the default of `{name}` {msg}"),
                        format!("not {} {tw}", article(tw)),
                    )
                    .help = Some(format!("`{name}` is declared `type: {tw}`"));
                }
            }
        }
        let env_key = format!("MOOR_VAR_{name}");
        if let Some((_, raw)) = l.opts.env.iter().rev().find(|(k, _)| *k == env_key) {
            match value_from_text(raw, ty) {
                Ok(v) => value = Some((v, VarSource::Environment(env_key.clone()))),
                Err(msg) => {
                    invalid = true;
                    l.err(
                        "moor::variable-type",
                        kspan,
                        format!("{env_key} {msg}"),
                        format!("declared as {} {tw}", article(tw)),
                    );
                }
            }
        }
        for (file, node) in &var_files {
            let Some(n) = node.get(name) else { continue };
            match value_from_node(n, ty) {
                Ok(v) => value = Some((v, VarSource::VarFile(file.name.clone()))),
                Err(msg) => {
                    invalid = true;
                    l.diags.push(
                        Diag::error("moor::variable-type", format!("`{name}` {msg}"))
                            .in_file(file)
                            .label(n.span, format!("not {} {tw}", article(tw)))
                            .help(format!("`{name}` is declared as {} {tw} in {}", article(tw), l.file.name)),
                    );
                }
            }
        }
        for flag in &l.opts.vars {
            let Some((k, raw)) = flag.split_once('=') else { continue };
            if k.trim() != name {
                continue;
            }
            match value_from_text(raw, ty) {
                Ok(v) => value = Some((v, VarSource::Flag)),
                Err(msg) => {
                    invalid = true;
                    l.err(
                        "moor::variable-type",
                        kspan,
                        format!("--var {name}: {msg}"),
                        format!("declared as {} {tw}", article(tw)),
                    );
                }
            }
        }
        // A value may use built-ins, but not variables or resources.
        if let Some((v, source)) = &value {
            let span = match source {
                VarSource::Default => default_node.map_or(kspan, |n| n.span),
                _ => kspan,
            };
            for text in value_texts(v) {
                let Ok(pieces) = expr::parse(text) else { continue };
                for p in pieces {
                    let Piece::Ref(r) = p else { continue };
                    match r.target {
                        Target::Region
                        | Target::Partition
                        | Target::AccountId
                        | Target::GitSha
                        | Target::GitShortSha
                        | Target::Stack => out.builtin_uses.push((r.target, span)),
                        Target::Var(_) | Target::VarItem { .. } | Target::Attr { .. } => {
                            invalid = true;
                            l.err("moor::variable-reference", span, format!("the value of `{name}` refers to {}", r.target), "not allowed in a variable")
                                .help = Some("a variable's value may use `${stack}`, `${region}`, `${partition}`, `${account_id}`, `${git.sha}` and `${git.short_sha}`; use the reference in the resource instead".into());
                        }
                    }
                }
            }
        }
        match value {
            Some((value, source)) if !invalid => out.values.push(Variable {
                name: name.clone(),
                ty,
                description: decl.description.clone(),
                value,
                source,
            }),
            Some(_) => {
                out.failed.insert(name.clone());
            }
            None => {
                out.failed.insert(name.clone());
                if !invalid {
                    l.err("moor::variable-required", kspan, format!("variable `{name}` has no value"), "required: no default")
                        .help = Some(format!("set it with `--var {name}=…`, in a `--var-file`, or with the environment variable MOOR_VAR_{name}"));
                }
            }
        }
    }

    // Values given for variables that do not exist.
    let names: Vec<&str> = order.iter().map(String::as_str).collect();
    for flag in l.opts.vars.clone() {
        match flag.split_once('=') {
            None => l.diags.push(Diag::error("moor::variable-flag", format!("--var `{flag}` is not name=value"))),
            Some((k, _)) if !names.contains(&k.trim()) => {
                l.diags.push(
                    Diag::error(
                        "moor::unknown-variable",
                        format!("--var sets `{k}`, which {} does not declare", l.file.name),
                    )
                    .help(did_you_mean(k, &names, "variable")),
                );
            }
            Some(_) => {}
        }
    }
    for (file, node) in &var_files {
        for (k, _) in node.as_map().unwrap_or_default() {
            let key = k.as_str().unwrap_or("");
            if !names.contains(&key) {
                l.diags.push(
                    Diag::error(
                        "moor::unknown-variable",
                        format!("the var file sets `{key}`, which {} does not declare", l.file.name),
                    )
                    .in_file(file)
                    .label(k.span, "not a variable of this stack")
                    .help(did_you_mean(key, &names, "variable")),
                );
            }
        }
    }
    out
}

fn value_texts(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::List(items) => items.iter().map(String::as_str).collect(),
        Value::Integer(_) | Value::Boolean(_) => Vec::new(),
    }
}

/// Replaces built-ins in a variable's value; `$${` becomes a literal `${`.
pub(super) fn expand_builtins(v: &mut Value, builtins: &HashMap<Target, String>) {
    let expand = |s: &mut String| {
        if !expr::has_interpolation(s) {
            return;
        }
        let Ok(pieces) = expr::parse(s) else { return };
        let mut out = String::new();
        for p in pieces {
            match p {
                Piece::Lit(l) => out.push_str(&l),
                Piece::Ref(r) => out.push_str(builtins.get(&r.target).map_or(&r.target.to_string(), |v| v)),
            }
        }
        *s = out;
    };
    match v {
        Value::String(s) => expand(s),
        Value::List(items) => items.iter_mut().for_each(expand),
        Value::Integer(_) | Value::Boolean(_) => {}
    }
}

fn var_file(l: &mut Loader, path: &Path) -> Option<(Arc<SourceFile>, Node)> {
    let text = match read_limited(path, 1024 * 1024) {
        Ok(t) => t,
        Err(e) => {
            l.diags.push(Diag::error("moor::read", format!("cannot read var file {}: {e}", path.display())));
            return None;
        }
    };
    let file = SourceFile::new(path.display().to_string(), text);
    match yaml::parse(&file.text, Limits::default()) {
        Ok(n) if n.as_map().is_some() => Some((file, n)),
        Ok(n) => {
            l.diags.push(
                Diag::error("moor::var-file", "a var file is a mapping of variable names to values")
                    .in_file(&file)
                    .label(n.span, format!("found {}", n.type_name())),
            );
            None
        }
        Err(e) => {
            let d = super::syntax::explain(e, &file);
            l.diags.push(d);
            None
        }
    }
}

fn is_var_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic()) && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

pub(super) fn type_word(t: VarType) -> &'static str {
    match t {
        VarType::String => "string",
        VarType::Integer => "integer",
        VarType::Boolean => "boolean",
        VarType::List => "list",
    }
}

fn infer_type(n: &Node) -> Option<VarType> {
    match &n.kind {
        NodeKind::Seq(_) => Some(VarType::List),
        NodeKind::Map(_) => None,
        NodeKind::Scalar(..) => match n.resolve()? {
            yaml::Resolved::Int(_) => Some(VarType::Integer),
            yaml::Resolved::Bool(_) => Some(VarType::Boolean),
            _ => Some(VarType::String),
        },
    }
}

fn value_from_node(n: &Node, ty: VarType) -> Result<Value, String> {
    let found = || format!("is {}", n.type_name());
    match ty {
        VarType::String => match &n.kind {
            NodeKind::Scalar(s, _) if !n.is_null() => Ok(Value::String(s.clone())),
            _ => Err(found()),
        },
        VarType::Integer => match n.resolve() {
            Some(yaml::Resolved::Int(i)) => Ok(Value::Integer(i)),
            _ => Err(found()),
        },
        VarType::Boolean => match n.resolve() {
            Some(yaml::Resolved::Bool(b)) => Ok(Value::Boolean(b)),
            _ => Err(found()),
        },
        VarType::List => match &n.kind {
            NodeKind::Seq(items) => items
                .iter()
                .map(|i| match &i.kind {
                    NodeKind::Scalar(s, _) if !i.is_null() => Ok(s.clone()),
                    _ => Err(format!("has an item that is {}", i.type_name())),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List),
            _ => Err(found()),
        },
    }
}

/// A value given as text (`--var`, environment): integers and booleans are
/// parsed; a list is `a,b,c` or a YAML flow list `[a, b]`.
fn value_from_text(raw: &str, ty: VarType) -> Result<Value, String> {
    match ty {
        VarType::String => Ok(Value::String(raw.to_string())),
        VarType::Integer => raw.trim().parse().map(Value::Integer).map_err(|_| format!("`{raw}` is not an integer")),
        VarType::Boolean => match raw.trim() {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => Err(format!("`{raw}` is not true or false")),
        },
        VarType::List => {
            let t = raw.trim();
            if t.starts_with('[') {
                let n = yaml::parse(t, Limits::default()).map_err(|_| format!("`{raw}` is not a list"))?;
                value_from_node(&n, VarType::List)
            } else if t.is_empty() {
                Ok(Value::List(Vec::new()))
            } else {
                Ok(Value::List(t.split(',').map(|s| s.trim().to_string()).collect()))
            }
        }
    }
}

/// Replaces `${var.…}` and built-ins in every scalar below `node` (except
/// the `variables` section and mapping keys). Resource references stay, as
/// do references to variables without a value (reported already).
pub(super) fn substitute(node: &mut Node, vars: &HashMap<&str, &Value>, builtins: &HashMap<Target, String>, top: bool) {
    match &mut node.kind {
        NodeKind::Scalar(s, _) => {
            if !expr::has_interpolation(s) {
                return;
            }
            let Ok(pieces) = expr::parse(s) else { return };
            if !pieces.iter().any(|p| matches!(p, Piece::Ref(r) if r.target.is_builtin_or_var())) {
                return;
            }
            if let Some(r) = expr::whole_ref(&pieces) {
                if let Target::Var(v) = &r.target {
                    if let Some(val) = vars.get(v.as_str()) {
                        *node = typed_node(val, node.span);
                        return;
                    }
                }
                // An item is a string, a slice a list; out of range was reported.
                if let Target::VarItem { name, index } = &r.target {
                    if let Some(val) = vars.get(name.as_str()).and_then(|v| v.item(*index).ok()) {
                        *node = typed_node(&val, node.span);
                        return;
                    }
                }
            }
            let mut out = String::new();
            for p in &pieces {
                match p {
                    Piece::Lit(l) => out.push_str(&l.replace("${", "$${")),
                    Piece::Ref(r) => {
                        let text = match &r.target {
                            Target::Var(v) => vars.get(v.as_str()).and_then(|x| x.as_text()),
                            Target::VarItem { name, index } => {
                                vars.get(name.as_str()).and_then(|x| x.item(*index).ok()).and_then(|x| x.as_text())
                            }
                            Target::Attr { .. } => None,
                            other => builtins.get(other).cloned(),
                        };
                        out.push_str(&text.unwrap_or_else(|| r.target.to_string()));
                    }
                }
            }
            node.kind = NodeKind::Scalar(out, Style::Quoted);
        }
        NodeKind::Seq(items) => items.iter_mut().for_each(|n| substitute(n, vars, builtins, false)),
        NodeKind::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                if top && k.as_str() == Some("variables") {
                    continue;
                }
                substitute(v, vars, builtins, false);
            }
        }
    }
}

fn typed_node(v: &Value, span: Span) -> Node {
    match v {
        Value::String(s) => Node::scalar(s.replace("${", "$${"), Style::Quoted, span),
        Value::Integer(i) => Node::scalar(i.to_string(), Style::Plain, span),
        Value::Boolean(b) => Node::scalar(b.to_string(), Style::Plain, span),
        Value::List(items) => Node {
            kind: NodeKind::Seq(
                items.iter().map(|s| Node::scalar(s.replace("${", "$${"), Style::Quoted, span)).collect(),
            ),
            span,
            flow: false,
        },
    }
}
