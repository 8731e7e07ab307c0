//! Stack file → checked [`Stack`], with every mistake as a [`Diag`].
//!
//! The loader never stops at the first problem. Its steps, each reporting
//! all it finds:
//! 1. parse the YAML into a tree with spans (bounded: size, depth, aliases);
//! 2. read the header and the variable declarations, resolve each
//!    variable's value (default < `MOOR_VAR_x` < `--var-file` < `--var`);
//! 3. find every `${…}` in the original text (so spans are exact) and check
//!    what it names: variables, built-ins, resources and their attributes;
//! 4. substitute variables and built-ins in the tree, typed: an integer
//!    variable fills an integer field, a list variable fills a list;
//! 5. deserialize each resource on its own, by its `kind`;
//! 6. check each resource's own rules, then the rules between resources.
//!
//! The graph (and its cycle check) is built from the result by [`crate::graph`].

use crate::diag::{did_you_mean, Diag, SourceFile};
use crate::expr::{self, Piece, Target};
use crate::model::check::Checker;
use crate::model::common::{ref_resource, Tags};
use crate::model::{
    default_name, AttrType, Kind, Output, RefUse, Resource, Stack, Value, VarSource, VarType,
    Variable,
};
use crate::yaml::{
    self, DeContext, DeError, DeErrorKind, Limits, Node, NodeKind, ParseError, Span, Style,
};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where variable values and built-ins come from, besides the file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--var name=value`, in order (a later one wins).
    pub vars: Vec<String>,
    /// `--var-file`, in order (a later one wins).
    pub var_files: Vec<PathBuf>,
    /// Environment variables to read `MOOR_VAR_<name>` from.
    pub env: Vec<(String, String)>,
    /// `--region`, which beats the file's `region`.
    pub region: Option<String>,
    /// Directory whose git commit `${git.sha}` names; the current one when `None`.
    pub git_dir: Option<PathBuf>,
    pub limits: Option<Limits>,
}

impl LoadOptions {
    /// Options with the process environment's `MOOR_VAR_*` variables.
    pub fn from_env() -> LoadOptions {
        LoadOptions {
            env: std::env::vars()
                .filter(|(k, _)| k.starts_with("MOOR_VAR_"))
                .collect(),
            ..LoadOptions::default()
        }
    }
}

/// What loading a file produced: the stack when there was no error, and
/// every diagnostic (warnings may come with a stack).
#[derive(Debug)]
pub struct Loaded {
    pub stack: Option<Stack>,
    pub diags: Vec<Diag>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diag::is_error)
    }
}

// ---- the file's shape, for the header and the schema ----------------------

// `resources` is generic: the loader reads the header with `R` = `Skip` and
// dispatches each resource on its `kind` itself; the schema generator uses
// the typed resource union.
/// A moor stack: AWS resources for one application, and how they connect.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StackFile<R> {
    /// Stack name: letters, digits and hyphens. It prefixes default resource
    /// names and is recorded in the `moor:stack` tag.
    pub stack: String,
    /// AWS region, e.g. `us-east-1`. `--region` and `AWS_REGION` apply when not set.
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Inputs of the stack, by name; use as `${var.name}`.
    #[serde(default)]
    pub variables: BTreeMap<String, VariableDecl>,
    /// Tags on every taggable resource (added to each resource's own tags).
    #[serde(default)]
    pub tags: Tags,
    /// The resources, by logical name.
    #[serde(default)]
    pub resources: BTreeMap<String, R>,
    /// Values printed after apply, such as the load balancer's URL.
    #[serde(default)]
    pub outputs: BTreeMap<String, OutputDecl>,
}

/// Accepts anything; the loader handles that part of the file itself.
#[derive(Debug, Default)]
pub struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Skip)
    }
}

impl JsonSchema for Skip {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Skip".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!(true)
    }
}

/// A variable declaration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    /// `string`, `integer`, `boolean` or `list` (of strings). Taken from the
    /// default when not given, else `string`.
    #[serde(default, rename = "type")]
    pub ty: Option<VarType>,
    /// The value when none is given; without one the variable is required.
    #[serde(default)]
    pub default: Option<Skip>,
    #[serde(default)]
    pub description: Option<String>,
}

/// An output: a string with references, or one with a description.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OutputDecl {
    Value(String),
    Described {
        value: String,
        #[serde(default)]
        description: Option<String>,
    },
}

// ---- entry points -----------------------------------------------------------

pub fn load_file(path: &Path, opts: &LoadOptions) -> Loaded {
    let name = path.display().to_string();
    match read_limited(path, opts.limits.unwrap_or_default().max_bytes) {
        Ok(text) => load_str(&name, &text, opts),
        Err(msg) => Loaded {
            stack: None,
            diags: vec![Diag::error(
                "moor::read",
                format!("cannot read {name}: {msg}"),
            )],
        },
    }
}

fn read_limited(path: &Path, max: usize) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > max as u64 {
        return Err(format!(
            "the file is {} bytes; stack files are limited to {max} bytes",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the file is not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

pub fn load_str(name: &str, text: &str, opts: &LoadOptions) -> Loaded {
    let file = SourceFile::new(name, text);
    let mut l = Loader {
        file: file.clone(),
        opts,
        diags: Vec::new(),
        cx: DeContext::default(),
    };
    let stack = l.run();
    let mut diags = l.diags;
    // Errors first, then in file order.
    diags.sort_by_key(|d| {
        (
            !d.is_error(),
            d.labels.first().map_or(usize::MAX, |l| l.span.start),
        )
    });
    let has_errors = diags.iter().any(Diag::is_error);
    Loaded {
        stack: if has_errors { None } else { stack },
        diags,
    }
}

// ---- the loader -------------------------------------------------------------

struct Loader<'o> {
    file: Arc<SourceFile>,
    opts: &'o LoadOptions,
    diags: Vec<Diag>,
    cx: DeContext,
}

/// A `${…}` found in the file.
struct Found {
    target: Target,
    /// The `${…}` itself.
    span: Span,
    /// The scalar that holds it.
    node_span: Span,
    /// The scalar is exactly this one reference.
    whole: bool,
    /// `Some(resource)` inside a resource, `None` elsewhere.
    owner: Option<String>,
    /// Inside `outputs`.
    in_output: bool,
}

impl Loader<'_> {
    fn err(
        &mut self,
        code: &'static str,
        span: Span,
        msg: impl Into<String>,
        label: impl Into<String>,
    ) -> &mut Diag {
        self.diags.push(
            Diag::error(code, msg)
                .in_file(&self.file)
                .label(span, label),
        );
        self.diags.last_mut().expect("pushed")
    }

    fn run(&mut self) -> Option<Stack> {
        let limits = self.opts.limits.unwrap_or_default();
        let root = match yaml::parse(&self.file.text, limits) {
            Ok(n) => n,
            Err(e) => {
                self.parse_error(e);
                return None;
            }
        };
        let NodeKind::Map(_) = &root.kind else {
            self.err(
                "moor::shape",
                root.span,
                "a stack file is a mapping",
                format!("found {}", root.type_name()),
            )
            .help = Some("start with `stack: <name>` and `resources:`".into());
            return None;
        };
        self.flow_pitfalls(&root);
        self.duplicate_keys(&root);

        // Header: top-level keys, stack name, variable declarations.
        let header = match yaml::from_node::<StackFile<Skip>>(&root, &self.cx) {
            Ok(h) => Some(h),
            Err(e) => {
                self.de_error(e, None);
                None
            }
        };
        self.take_soft_errors(None);
        let header = header?;
        let stack_name = self.check_stack_name(&root, &header.stack);

        let variables = self.resolve_variables(&root, &header);
        let region = self
            .opts
            .region
            .clone()
            .or_else(|| header.region.clone().filter(|r| !r.contains("${")))
            .or_else(|| {
                self.opts
                    .env
                    .iter()
                    .find(|(k, _)| k == "AWS_REGION")
                    .map(|(_, v)| v.clone())
            });

        // Every `${…}`, checked against what exists.
        let resource_kinds = self.resource_kinds(&root);
        let found = self.find_refs(&root);
        let mut used_vars = HashSet::new();
        let mut git: Option<Result<String, String>> = None;
        let mut builtins: HashMap<Target, String> = HashMap::new();
        builtins.insert(Target::Stack, stack_name.clone());
        for f in &found {
            match &f.target {
                Target::Var(v) => {
                    used_vars.insert(v.clone());
                    if !variables.iter().any(|x| &x.name == v) {
                        let names: Vec<&str> = variables.iter().map(|x| x.name.as_str()).collect();
                        let help = format!(
                            "{}; declare it under `variables:`",
                            did_you_mean(v, &names, "variable")
                        );
                        self.err(
                            "moor::unknown-variable",
                            f.span,
                            format!("unknown variable `{v}`"),
                            "not declared",
                        )
                        .help = Some(help);
                    }
                }
                Target::Region => match &region {
                    Some(r) => {
                        builtins.insert(Target::Region, r.clone());
                    }
                    None => {
                        self.err(
                            "moor::region",
                            f.span,
                            "`${region}` is used but no region is set",
                            "region unknown",
                        )
                        .help = Some(
                            "set `region:` in the file, pass --region, or set AWS_REGION".into(),
                        );
                    }
                },
                Target::GitSha | Target::GitShortSha => {
                    let sha = git
                        .get_or_insert_with(|| git_sha(self.opts.git_dir.as_deref()))
                        .clone();
                    match sha {
                        Ok(sha) => {
                            builtins.insert(Target::GitSha, sha.clone());
                            builtins
                                .insert(Target::GitShortSha, sha[..7.min(sha.len())].to_string());
                        }
                        Err(why) => {
                            self.err("moor::git", f.span, format!("{} cannot be read: {why}", f.target), "no git commit")
                                .help = Some("run moor inside a git work tree with at least one commit, or use a variable instead".into());
                        }
                    }
                }
                Target::Stack => {}
                Target::Attr {
                    resource,
                    attribute,
                } => self.check_attr_ref(f, resource, attribute, &resource_kinds),
            }
        }
        for v in &variables {
            if !used_vars.contains(&v.name) {
                let span = root
                    .path(&["variables", &v.name])
                    .map(|_| key_span(&root, &["variables", &v.name]))
                    .unwrap_or_default();
                self.diags.push(
                    Diag::warning(
                        "moor::unused-variable",
                        format!("variable `{}` is declared but never used", v.name),
                    )
                    .in_file(&self.file)
                    .label(span, "unused")
                    .help("remove it, or use it as `${var.".to_string() + &v.name + "}`"),
                );
            }
        }

        // Substitute variables and built-ins, then type each resource.
        let values: HashMap<&str, &Value> = variables
            .iter()
            .map(|v| (v.name.as_str(), &v.value))
            .collect();
        let mut tree = root.clone();
        substitute(&mut tree, &values, &builtins, true);
        let region = region.or_else(|| {
            tree.get("region")
                .and_then(|n| n.as_str())
                .map(str::to_string)
        });

        let mut resources = Vec::new();
        let mut depends_on_spans = BTreeMap::new();
        if let Some(res_node) = tree.get("resources") {
            if let NodeKind::Map(entries) = &res_node.kind {
                for (k, v) in entries {
                    if let Some(r) =
                        self.resource(k, v, &resource_kinds, &mut depends_on_spans, &stack_name)
                    {
                        resources.push(r);
                    }
                }
            }
        }

        // List-typed references must fill list fields, and only those.
        let slots = self.cx.list_slots.borrow().clone();
        for f in &found {
            let Target::Attr {
                resource,
                attribute,
            } = &f.target
            else {
                continue;
            };
            let Some(kind) = resource_kinds.get(resource.as_str()).map(|(k, _)| *k) else {
                continue;
            };
            let Some(attr) = kind.attribute(attribute) else {
                continue;
            };
            let in_slot = slots.contains(&f.node_span);
            if attr.ty == AttrType::List && !(f.whole && in_slot) {
                let help = if f.whole {
                    "a list attribute fills a list field as a whole value, such as `subnets: ${net.subnet_ids}`".to_string()
                } else {
                    "a list cannot be put inside a string; use it as the whole value of a list field".to_string()
                };
                self.err(
                    "moor::reference-type",
                    f.span,
                    format!("`${{{resource}.{attribute}}}` is a list"),
                    "list used where a string is expected",
                )
                .help = Some(help);
            } else if attr.ty != AttrType::List && f.whole && in_slot {
                self.err("moor::reference-type", f.span, format!("`${{{resource}.{attribute}}}` is a single value, but this field takes a list"), "not a list")
                    .help = Some(format!("write it as a list: `[\"${{{resource}.{attribute}}}\"]`"));
            }
        }

        let outputs = header
            .outputs
            .into_iter()
            .map(|(name, o)| match o {
                OutputDecl::Value(value) => Output {
                    name,
                    value,
                    description: None,
                },
                OutputDecl::Described { value, description } => Output {
                    name,
                    value,
                    description,
                },
            })
            .map(|mut o| {
                if let Some(n) = tree.path(&["outputs", &o.name]) {
                    let n = n.get("value").unwrap_or(n);
                    if let Some(s) = n.as_str() {
                        o.value = s.to_string();
                    }
                }
                o
            })
            .collect();

        let refs = found
            .iter()
            .filter_map(|f| match &f.target {
                Target::Attr {
                    resource,
                    attribute,
                } => Some(RefUse {
                    from: f.owner.clone(),
                    resource: resource.clone(),
                    attribute: attribute.clone(),
                    span: f.span,
                }),
                _ => None,
            })
            .filter(|r| r.from.is_some() || found.iter().any(|f| f.in_output && f.span == r.span))
            .collect();

        let mut tags = header.tags;
        if let Some(n) = tree.get("tags") {
            if let Ok(t) = yaml::from_node::<Tags>(n, &self.cx) {
                tags = t;
            }
        }

        let stack = Stack {
            name: stack_name,
            region,
            description: header.description,
            tags,
            variables,
            resources,
            outputs,
            refs,
            file: self.file.clone(),
            depends_on_spans,
        };
        crate::validate::cross_checks(&stack, &tree, &mut self.diags);
        Some(stack)
    }

    // ---- parse errors and YAML pitfalls ---------------------------------------

    fn parse_error(&mut self, e: ParseError) {
        let text = self.file.text.clone();
        match e {
            ParseError::Syntax { message, mut at } => {
                at = at.min(text.len());
                let tab = message.contains("tab");
                if tab {
                    // The scanner reports where the token began; point at the tab.
                    if let Some(i) = text[at..].find('\t').filter(|i| *i < 256) {
                        at += i;
                    }
                }
                let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                let prev_start = text[..line_start.saturating_sub(1)]
                    .rfind('\n')
                    .map_or(0, |i| i + 1);
                let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
                let window = &text[prev_start..line_end];
                let help = if has_unquoted_ref_in_flow(window) {
                    PITFALL.to_string()
                } else if tab {
                    "YAML indents with spaces only; replace the tab with spaces".to_string()
                } else {
                    "check the indentation and the colon after each key; quote values that contain a colon followed by a space, or a #".to_string()
                };
                let len = usize::from(tab);
                self.err(
                    "moor::yaml",
                    Span::new(at, at + len),
                    format!("YAML syntax error: {message}"),
                    "here",
                )
                .help = Some(help);
            }
            ParseError::TooLarge { bytes, limit } => {
                self.diags.push(
                    Diag::error(
                        "moor::limits",
                        format!(
                            "the file is {bytes} bytes; stack files are limited to {limit} bytes"
                        ),
                    )
                    .in_file(&self.file),
                );
            }
            ParseError::TooDeep { at, limit } => {
                self.err(
                    "moor::limits",
                    Span::new(at, at + 1),
                    format!("the file nests deeper than {limit} levels"),
                    "too deep",
                )
                .help = Some(
                    "stack files are shallow; this looks like generated or hostile input".into(),
                );
            }
            ParseError::TooManyNodes { at, limit } => {
                self.err("moor::limits", Span::new(at, at + 1), format!("the file expands to more than {limit} values"), "expansion limit reached here")
                    .help = Some("aliases (`*name`) that repeat large anchors multiply the document; this looks like an alias bomb".into());
            }
            ParseError::UnknownAlias { at } => {
                self.err(
                    "moor::yaml",
                    Span::new(at, at + 1),
                    "alias to an unknown anchor",
                    "no `&anchor` of this name before here",
                );
            }
            ParseError::MultipleDocuments { at } => {
                self.err(
                    "moor::yaml",
                    Span::new(at, at + 3),
                    "a stack file holds one YAML document",
                    "second document starts here",
                )
                .help = Some("put each stack in its own file".into());
            }
            ParseError::Empty => {
                self.diags.push(
                    Diag::error("moor::shape", "the file is empty")
                        .in_file(&self.file)
                        .help("a stack file starts with `stack: <name>` and `resources:`"),
                );
            }
        }
    }

    /// `[${a.b}]` parses as the string `$` followed by a mapping: explain.
    fn flow_pitfalls(&mut self, root: &Node) {
        let mut hits = Vec::new();
        root.walk(&mut |n| {
            if let NodeKind::Seq(items) = &n.kind {
                for it in items {
                    if matches!(&it.kind, NodeKind::Scalar(s, Style::Plain) if s.ends_with('$'))
                        && it.flow
                    {
                        hits.push(it.span);
                    }
                }
            }
            if let NodeKind::Map(entries) = &n.kind {
                for (k, v) in entries {
                    for x in [k, v] {
                        if matches!(&x.kind, NodeKind::Scalar(s, Style::Plain) if s.ends_with('$'))
                            && x.flow
                        {
                            hits.push(x.span);
                        }
                        if matches!(x.kind, NodeKind::Map(_))
                            && x.flow
                            && self.file.text[..x.span.start].ends_with('$')
                        {
                            hits.push(Span::new(x.span.start - 1, x.span.start));
                        }
                    }
                }
            }
        });
        for span in hits {
            self.err(
                "moor::yaml-flow-reference",
                span,
                "unquoted `${…}` inside `[ ]` or `{ }`",
                "YAML reads `$` and a mapping here",
            )
            .help = Some(PITFALL.into());
        }
    }

    fn duplicate_keys(&mut self, root: &Node) {
        let mut dups = Vec::new();
        root.walk(&mut |n| {
            if let NodeKind::Map(entries) = &n.kind {
                let mut seen: HashMap<&str, Span> = HashMap::new();
                for (k, _) in entries {
                    if let Some(s) = k.as_str() {
                        if let Some(first) = seen.get(s) {
                            dups.push((s.to_string(), k.span, *first));
                        } else {
                            seen.insert(s, k.span);
                        }
                    }
                }
            }
        });
        for (name, span, first) in dups {
            let d = self.err(
                "moor::duplicate-key",
                span,
                format!("key `{name}` appears twice in one mapping"),
                "second time",
            );
            d.labels.push(crate::diag::Label {
                span: first,
                text: "first time".into(),
            });
            d.help = Some("YAML keeps only one of them; remove or rename the other".into());
        }
    }

    // ---- header --------------------------------------------------------------

    fn check_stack_name(&mut self, root: &Node, name: &str) -> String {
        let span = root.get("stack").map_or_else(Span::default, |n| n.span);
        let ok = name.len() <= 64
            && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !name.ends_with('-');
        if !ok {
            self.err("moor::stack-name", span, format!("stack name `{name}` is not valid"), "invalid stack name")
                .help = Some("a stack name is 1–64 letters, digits and hyphens, starting with a letter (it prefixes resource names)".into());
        }
        name.to_string()
    }

    fn resolve_variables(&mut self, root: &Node, header: &StackFile<Skip>) -> Vec<Variable> {
        let mut out = Vec::new();
        for (name, decl) in &header.variables {
            let path = ["variables", name.as_str()];
            let kspan = key_span(root, &path);
            if !is_var_name(name) {
                self.err(
                    "moor::variable-name",
                    kspan,
                    format!("variable name `{name}` is not valid"),
                    "invalid name",
                )
                .help = Some(
                    "variable names are letters, digits and `_`, starting with a letter".into(),
                );
            }
            let default_node = root.path(&["variables", name, "default"]);
            let ty = decl
                .ty
                .or_else(|| default_node.and_then(|n| infer_type(n)))
                .unwrap_or_default();
            let mut value: Option<(Value, VarSource)> = None;
            if let Some(n) = default_node {
                match value_from_node(n, ty) {
                    Ok(v) => value = Some((v, VarSource::Default)),
                    Err(msg) => {
                        self.err(
                            "moor::variable-type",
                            n.span,
                            format!("default of `{name}` {msg}"),
                            format!("not a {}", type_word(ty)),
                        );
                    }
                }
            }
            let env_key = format!("MOOR_VAR_{name}");
            if let Some((_, raw)) = self.opts.env.iter().rev().find(|(k, _)| *k == env_key) {
                match value_from_text(raw, ty) {
                    Ok(v) => value = Some((v, VarSource::Environment(env_key.clone()))),
                    Err(msg) => self.diags.push(
                        Diag::error("moor::variable-type", format!("{env_key} {msg}"))
                            .help(format!("`{name}` is a {}", type_word(ty))),
                    ),
                }
            }
            for vf in &self.opts.var_files {
                if let Some(v) = self.var_file_value(vf, name, ty) {
                    value = Some((v, VarSource::VarFile(vf.display().to_string())));
                }
            }
            for flag in &self.opts.vars {
                if let Some((k, raw)) = flag.split_once('=') {
                    if k.trim() == name {
                        match value_from_text(raw, ty) {
                            Ok(v) => value = Some((v, VarSource::Flag)),
                            Err(msg) => self.diags.push(
                                Diag::error("moor::variable-type", format!("--var {name}: {msg}"))
                                    .help(format!("`{name}` is a {}", type_word(ty))),
                            ),
                        }
                    }
                }
            }
            match value {
                Some((value, source)) => out.push(Variable {
                    name: name.clone(),
                    ty,
                    description: decl.description.clone(),
                    value,
                    source,
                }),
                None => {
                    self.err("moor::variable-required", kspan, format!("variable `{name}` has no value"), "required: no default")
                        .help = Some(format!("set it with `--var {name}=…`, in a `--var-file`, or with the environment variable MOOR_VAR_{name}"));
                }
            }
        }
        // Values given for variables that do not exist.
        let names: Vec<&str> = header.variables.keys().map(String::as_str).collect();
        for flag in &self.opts.vars {
            match flag.split_once('=') {
                None => self.diags.push(Diag::error(
                    "moor::variable-flag",
                    format!("--var `{flag}` is not name=value"),
                )),
                Some((k, _)) if !names.contains(&k.trim()) => {
                    self.diags.push(
                        Diag::error(
                            "moor::unknown-variable",
                            format!("--var sets `{k}`, which the stack does not declare"),
                        )
                        .help(did_you_mean(k, &names, "variable")),
                    );
                }
                Some(_) => {}
            }
        }
        for vf in &self.opts.var_files {
            self.var_file_unknowns(vf, &names);
        }
        out
    }

    fn var_file(&mut self, path: &Path) -> Option<(Arc<SourceFile>, Node)> {
        let text = match read_limited(path, 1024 * 1024) {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("cannot read var file {}: {e}", path.display());
                if !self.diags.iter().any(|d| d.message == msg) {
                    self.diags.push(Diag::error("moor::read", msg));
                }
                return None;
            }
        };
        let file = SourceFile::new(path.display().to_string(), text);
        match yaml::parse(&file.text, Limits::default()) {
            Ok(n) if n.as_map().is_some() => Some((file, n)),
            Ok(n) => {
                let msg = "a var file is a mapping of variable names to values";
                if !self.diags.iter().any(|d| d.message == msg) {
                    self.diags.push(
                        Diag::error("moor::var-file", msg)
                            .in_file(&file)
                            .label(n.span, format!("found {}", n.type_name())),
                    );
                }
                None
            }
            Err(_) => {
                let msg = format!("var file {} is not valid YAML", path.display());
                if !self.diags.iter().any(|d| d.message == msg) {
                    self.diags.push(Diag::error("moor::var-file", msg));
                }
                None
            }
        }
    }

    fn var_file_value(&mut self, path: &Path, name: &str, ty: VarType) -> Option<Value> {
        let (file, node) = self.var_file(path)?;
        let n = node.get(name)?;
        match value_from_node(n, ty) {
            Ok(v) => Some(v),
            Err(msg) => {
                self.diags.push(
                    Diag::error("moor::variable-type", format!("`{name}` {msg}"))
                        .in_file(&file)
                        .label(n.span, format!("not a {}", type_word(ty))),
                );
                None
            }
        }
    }

    fn var_file_unknowns(&mut self, path: &Path, names: &[&str]) {
        let Some((file, node)) = self.var_file(path) else {
            return;
        };
        for (k, _) in node.as_map().unwrap_or_default() {
            let key = k.as_str().unwrap_or("");
            if !names.contains(&key) {
                self.diags.push(
                    Diag::error(
                        "moor::unknown-variable",
                        format!("var file sets `{key}`, which the stack does not declare"),
                    )
                    .in_file(&file)
                    .label(k.span, "not a variable of this stack")
                    .help(did_you_mean(key, names, "variable")),
                );
            }
        }
    }

    // ---- references ----------------------------------------------------------

    /// Logical name → (kind, key span), for every resource whose kind is known.
    fn resource_kinds(&self, root: &Node) -> HashMap<String, (Kind, Span)> {
        let mut out = HashMap::new();
        if let Some(entries) = root.get("resources").and_then(Node::as_map) {
            for (k, v) in entries {
                if let (Some(name), Some(kind)) = (
                    k.as_str(),
                    v.get("kind").and_then(Node::as_str).and_then(Kind::parse),
                ) {
                    out.insert(name.to_string(), (kind, k.span));
                }
            }
        }
        out
    }

    fn find_refs(&mut self, root: &Node) -> Vec<Found> {
        let mut found = Vec::new();
        let text = self.file.text.clone();
        let entries = root.as_map().unwrap_or_default();
        for (k, v) in entries {
            let section = k.as_str().unwrap_or("");
            if section == "variables" {
                continue;
            }
            if section == "resources" {
                for (rk, rv) in rv_entries(v) {
                    let owner = rk.as_str().map(str::to_string);
                    self.refs_in(rv, &text, owner, false, &mut found);
                }
            } else {
                self.refs_in(v, &text, None, section == "outputs", &mut found);
            }
        }
        found
    }

    fn refs_in(
        &mut self,
        node: &Node,
        text: &str,
        owner: Option<String>,
        in_output: bool,
        found: &mut Vec<Found>,
    ) {
        let mut scalars = Vec::new();
        node.walk(&mut |n| {
            if let NodeKind::Scalar(s, _) = &n.kind {
                if expr::has_interpolation(s) {
                    scalars.push(n);
                }
            }
        });
        for n in scalars {
            let s = n.as_str().unwrap_or("");
            // Where the string's bytes start in the source, when they stand
            // there verbatim (plain, or quoted without escapes).
            let raw = &text[n.span.start..n.span.end.min(text.len())];
            let base = if raw == s {
                Some(n.span.start)
            } else if raw.len() == s.len() + 2 && &raw[1..raw.len() - 1] == s {
                Some(n.span.start + 1)
            } else {
                None
            };
            let at = |a: usize, b: usize| base.map_or(n.span, |o| Span::new(o + a, o + b));
            match expr::parse(s) {
                Err(e) => {
                    self.err(
                        "moor::reference-syntax",
                        at(e.start, e.end),
                        e.message,
                        "invalid reference",
                    )
                    .help = e.help;
                }
                Ok(pieces) => {
                    let whole = expr::whole_ref(&pieces).is_some();
                    for p in pieces {
                        if let Piece::Ref(r) = p {
                            found.push(Found {
                                target: r.target,
                                span: at(r.start, r.end),
                                node_span: n.span,
                                whole,
                                owner: owner.clone(),
                                in_output,
                            });
                        }
                    }
                }
            }
        }
    }

    fn check_attr_ref(
        &mut self,
        f: &Found,
        resource: &str,
        attribute: &str,
        kinds: &HashMap<String, (Kind, Span)>,
    ) {
        if f.owner.is_none() && !f.in_output {
            self.err("moor::reference-place", f.span, "resource attributes are not known here", "only inside resources and outputs")
                .help = Some("`stack`, `region` and `tags` can use `${var.…}` and built-ins, which are known before apply".into());
            return;
        }
        match kinds.get(resource) {
            None => {
                let names: Vec<&str> = kinds.keys().map(String::as_str).collect();
                let mut help = did_you_mean(resource, &names, "resource");
                if resource == "vars" || resource == "variables" {
                    help = "variables are written `${var.name}`".into();
                }
                self.err(
                    "moor::unknown-resource",
                    f.span,
                    format!("unknown resource `{resource}`"),
                    "no resource of this name",
                )
                .help = Some(help);
            }
            Some((kind, _)) => {
                if f.owner.as_deref() == Some(resource) {
                    self.err(
                        "moor::self-reference",
                        f.span,
                        format!("`{resource}` refers to itself"),
                        "self-reference",
                    );
                } else if kind.attribute(attribute).is_none() {
                    let attrs: Vec<&str> = kind.attributes().iter().map(|a| a.name).collect();
                    let help = format!(
                        "{} (attributes of {kind}: {})",
                        did_you_mean(attribute, &attrs, "attribute"),
                        attrs.join(", ")
                    );
                    self.err(
                        "moor::unknown-attribute",
                        f.span,
                        format!("{kind} has no attribute `{attribute}`"),
                        "unknown attribute",
                    )
                    .help = Some(help);
                }
            }
        }
    }

    // ---- resources -----------------------------------------------------------

    fn resource(
        &mut self,
        key: &Node,
        node: &Node,
        kinds: &HashMap<String, (Kind, Span)>,
        depends_on_spans: &mut BTreeMap<(String, String), Span>,
        stack: &str,
    ) -> Option<Resource> {
        let name = key.as_str().unwrap_or("").to_string();
        let name_ok = name.len() <= 64
            && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            self.err(
                "moor::resource-name",
                key.span,
                format!("resource name `{name}` is not valid"),
                "invalid logical name",
            )
            .help = Some(
                "logical names are 1–64 letters, digits, `_` and `-`, starting with a letter"
                    .into(),
            );
        }
        let NodeKind::Map(entries) = &node.kind else {
            self.err(
                "moor::shape",
                node.span,
                format!("resource `{name}` is not a mapping"),
                format!("found {}", node.type_name()),
            )
            .help = Some(
                "a resource is a mapping with a `kind`, such as `kind: ecr/repository`".into(),
            );
            return None;
        };
        let kind_names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        let kind = match node.get("kind") {
            None => {
                self.err(
                    "moor::missing-kind",
                    key.span,
                    format!("resource `{name}` has no `kind`"),
                    "no kind",
                )
                .help = Some(format!("kinds: {}", kind_names.join(", ")));
                return None;
            }
            Some(k) => match k.as_str().and_then(Kind::parse) {
                Some(kind) => kind,
                None => {
                    let given = k.as_str().unwrap_or("");
                    let help = match crate::diag::suggest(given, kind_names.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("kinds: {}", kind_names.join(", ")),
                    };
                    self.err(
                        "moor::unknown-kind",
                        k.span,
                        format!("unknown kind `{given}`"),
                        "not a resource kind",
                    )
                    .help = Some(help);
                    return None;
                }
            },
        };

        // depends_on: explicit edges, checked here.
        let mut depends_on = Vec::new();
        if let Some(d) = node.get("depends_on") {
            match &d.kind {
                NodeKind::Seq(items) => {
                    for it in items {
                        let target = it.as_str().unwrap_or("").to_string();
                        if !kinds.contains_key(&target) {
                            let names: Vec<&str> = kinds.keys().map(String::as_str).collect();
                            let help = did_you_mean(&target, &names, "resource");
                            self.err(
                                "moor::unknown-resource",
                                it.span,
                                format!("`depends_on` names unknown resource `{target}`"),
                                "no resource of this name",
                            )
                            .help = Some(help);
                        } else if target == name {
                            self.err(
                                "moor::self-reference",
                                it.span,
                                format!("`{name}` depends on itself"),
                                "self-dependency",
                            );
                        } else {
                            depends_on_spans.insert((name.clone(), target.clone()), it.span);
                            depends_on.push(target);
                        }
                    }
                }
                _ => {
                    self.err(
                        "moor::type",
                        d.span,
                        "`depends_on` is a list of resource names",
                        format!("found {}", d.type_name()),
                    );
                }
            }
        }

        let spec_node = Node {
            kind: NodeKind::Map(
                entries
                    .iter()
                    .filter(|(k, _)| !matches!(k.as_str(), Some("kind" | "depends_on")))
                    .cloned()
                    .collect(),
            ),
            span: node.span,
            flow: node.flow,
        };
        let spec = kind.spec_from(&spec_node, &self.cx);
        self.take_soft_errors(Some((&name, kind, node)));
        let spec = match spec {
            Ok(s) => s,
            Err(e) => {
                self.de_error(e, Some((&name, kind, node)));
                return None;
            }
        };
        let mut c = Checker {
            file: &self.file,
            node,
            key_span: key.span,
            logical: &name,
            diags: &mut self.diags,
        };
        spec.validate(&mut c);
        let physical_name = spec
            .given_name()
            .map(str::to_string)
            .or_else(|| kind.naming().map(|n| default_name(stack, &name, n)));
        Some(Resource {
            name,
            spec,
            physical_name,
            depends_on,
            key_span: key.span,
        })
    }

    fn take_soft_errors(&mut self, ctx: Option<(&str, Kind, &Node)>) {
        let soft: Vec<DeError> = self.cx.soft_errors.borrow_mut().drain(..).collect();
        for e in soft {
            self.de_error(e, ctx);
        }
    }

    fn de_error(&mut self, e: DeError, ctx: Option<(&str, Kind, &Node)>) {
        let span = e.span.unwrap_or_default();
        let text = self.file.text.clone();
        let here = text.get(span.start..span.end).unwrap_or("");
        let within = match ctx {
            Some((name, kind, _)) => format!(" in {kind} `{name}`"),
            None => String::new(),
        };
        let d = match e.kind {
            DeErrorKind::UnknownField { field, expected } => {
                let mut expected: Vec<&str> = expected.to_vec();
                // `kind` and `depends_on` are valid at a resource's top level.
                if ctx.is_some_and(|(_, _, n)| {
                    n.as_map()
                        .unwrap_or_default()
                        .iter()
                        .any(|(k, _)| k.span == span)
                }) {
                    expected.extend(["kind", "depends_on"]);
                }
                let mut help = did_you_mean(&field, &expected, "field");
                if ctx.is_none() && field == "resource" {
                    help = "did you mean `resources`?".into();
                }
                Diag::error(
                    "moor::unknown-field",
                    format!("unknown field `{field}`{within}"),
                )
                .in_file(&self.file)
                .label(span, "unknown field")
                .help(help)
            }
            DeErrorKind::MissingField(field) => Diag::error(
                "moor::missing-field",
                format!("missing field `{field}`{within}"),
            )
            .in_file(&self.file)
            .label(span, format!("`{field}` is required here")),
            DeErrorKind::UnknownVariant { variant, expected } => {
                let help = match crate::diag::suggest(&variant, expected.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "expected one of: {}",
                        expected
                            .iter()
                            .map(|e| format!("`{e}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                Diag::error(
                    "moor::unknown-value",
                    format!("unknown value `{variant}`{within}"),
                )
                .in_file(&self.file)
                .label(span, "not one of the allowed values")
                .help(help)
            }
            DeErrorKind::InvalidType | DeErrorKind::InvalidValue | DeErrorKind::Custom => {
                let message = friendly_message(&e.message);
                let help = if here.contains("${")
                    && (message.contains("number")
                        || message.contains("integer")
                        || message.contains("boolean"))
                {
                    Some("only `${var.…}` of an integer or boolean variable can fill this field; resource attributes are strings".to_string())
                } else if message.contains("a boolean") && !message.contains("YAML 1.2") {
                    Some("write true or false".to_string())
                } else {
                    None
                };
                Diag::error("moor::type", format!("{message}{within}"))
                    .in_file(&self.file)
                    .label(span, "wrong type")
                    .maybe_help(help)
            }
        };
        self.diags.push(d);
    }
}

const PITFALL: &str = "inside `[ ]` or `{ }`, YAML ends a plain value at `{`, so `[${a.b}]` is not a reference: quote it, as in `[\"${a.b}\"]`, or use a block list (`- ${a.b}`)";

fn has_unquoted_ref_in_flow(window: &str) -> bool {
    window.lines().any(|l| {
        let Some(i) = l.find("${") else { return false };
        let before = &l[..i];
        let quotes = before.matches('"').count() + before.matches('\'').count();
        quotes % 2 == 0 && (before.contains('[') || before.contains('{'))
    })
}

fn rv_entries(v: &Node) -> Vec<(&Node, &Node)> {
    v.as_map()
        .map(|m| m.iter().map(|(k, v)| (k, v)).collect())
        .unwrap_or_default()
}

fn friendly_message(m: &str) -> String {
    if m.contains("untagged enum Size") {
        return "expected a number or a size such as \"1 GB\" or \"0.5 vCPU\"".into();
    }
    if m.contains("untagged enum OneOrMany") {
        return "expected a string or a list of strings".into();
    }
    if m.contains("untagged enum OutputDecl") {
        return "an output is a string, or a mapping with `value` and `description`".into();
    }
    m.to_string()
}

fn key_span(root: &Node, path: &[&str]) -> Span {
    let (last, parent) = path.split_last().expect("non-empty path");
    root.path(parent)
        .and_then(|p| p.entry(last))
        .map_or_else(Span::default, |(k, _)| k.span)
}

fn is_var_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic())
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn type_word(t: VarType) -> &'static str {
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
        VarType::Integer => raw
            .trim()
            .parse()
            .map(Value::Integer)
            .map_err(|_| format!("`{raw}` is not an integer")),
        VarType::Boolean => match raw.trim() {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => Err(format!("`{raw}` is not true or false")),
        },
        VarType::List => {
            let t = raw.trim();
            if t.starts_with('[') {
                let n = yaml::parse(t, Limits::default())
                    .map_err(|_| format!("`{raw}` is not a list"))?;
                value_from_node(&n, VarType::List)
            } else if t.is_empty() {
                Ok(Value::List(Vec::new()))
            } else {
                Ok(Value::List(
                    t.split(',').map(|s| s.trim().to_string()).collect(),
                ))
            }
        }
    }
}

/// Replaces `${var.…}` and built-ins in every scalar below `node` (except
/// the `variables` section and mapping keys). Resource references stay.
fn substitute(
    node: &mut Node,
    vars: &HashMap<&str, &Value>,
    builtins: &HashMap<Target, String>,
    top: bool,
) {
    match &mut node.kind {
        NodeKind::Scalar(s, _) => {
            if !expr::has_interpolation(s) {
                return;
            }
            let Ok(pieces) = expr::parse(s) else { return };
            if !pieces
                .iter()
                .any(|p| matches!(p, Piece::Ref(r) if r.target.is_builtin_or_var()))
            {
                return;
            }
            if let Some(r) = expr::whole_ref(&pieces) {
                if let Target::Var(v) = &r.target {
                    if let Some(val) = vars.get(v.as_str()) {
                        *node = typed_node(val, node.span);
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
                            Target::Attr {
                                resource,
                                attribute,
                            } => Some(format!("${{{resource}.{attribute}}}")),
                            other => builtins.get(other).cloned(),
                        };
                        // Unknown names were reported already; keep the text.
                        out.push_str(&text.unwrap_or_else(|| r.target.to_string()));
                    }
                }
            }
            node.kind = NodeKind::Scalar(out, Style::Quoted);
        }
        NodeKind::Seq(items) => items
            .iter_mut()
            .for_each(|n| substitute(n, vars, builtins, false)),
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
                items
                    .iter()
                    .map(|s| Node::scalar(s.replace("${", "$${"), Style::Quoted, span))
                    .collect(),
            ),
            span,
            flow: false,
        },
    }
}

/// The commit of the work tree, by `git rev-parse HEAD`.
fn git_sha(dir: Option<&Path>) -> Result<String, String> {
    let mut cmd = std::process::Command::new("git");
    cmd.args(["rev-parse", "--verify", "HEAD"]);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().map_err(|e| format!("git did not run ({e})"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or("not a git repository").trim();
        return Err(first.trim_start_matches("fatal: ").to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The logical resource a whole `${res.attr}` value names, with its kind.
pub fn referenced<'s>(stack: &'s Stack, value: &str) -> Option<&'s Resource> {
    stack.resource(ref_resource(value)?)
}
