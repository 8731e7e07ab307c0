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
//! 5. deserialize each resource on its own, by its `kind`; a value of the
//!    wrong type is reported, taken out, and deserialization tried again, so
//!    one resource's mistakes are all reported;
//! 6. check each resource's own rules, then (when every resource loaded)
//!    the rules between resources.
//!
//! One mistake is reported once: what follows from it (a reference to a
//! resource that failed to load, a variable without a valid value) is not
//! reported again. The graph and its cycle check are built from the result
//! by [`crate::graph`].

mod syntax;
mod vars;

use crate::diag::{did_you_mean, Diag, Label, SourceFile};
use crate::expr::{self, Piece, Target};
use crate::model::check::Checker;
use crate::model::common::Tags;
use crate::model::{AttrType, Kind, Output, RefUse, Resource, Stack, VarType};
use crate::text::{abbreviate, article, capital};
use crate::yaml::{self, DeContext, DeError, DeErrorKind, Limits, Node, NodeKind, Span};
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
    /// Environment variables to read `MOOR_VAR_<name>` (and `AWS_REGION`) from.
    pub env: Vec<(String, String)>,
    /// `--region`, which beats the file's `region`.
    pub region: Option<String>,
    /// `--stack-name`, which beats the file's `stack`.
    pub stack_name: Option<String>,
    /// Directory whose git commit `${git.sha}` names; the current one when `None`.
    pub git_dir: Option<PathBuf>,
    /// The commit `${git.sha}` names, instead of asking git (a saved plan's).
    pub git_sha: Option<String>,
    pub limits: Option<Limits>,
}

impl LoadOptions {
    /// Options with the process environment's `MOOR_VAR_*` variables.
    pub fn from_env() -> LoadOptions {
        LoadOptions {
            env: std::env::vars().filter(|(k, _)| k.starts_with("MOOR_VAR_")).collect(),
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
pub struct StackFile<R, O = OutputDecl> {
    /// Stack name: letters, digits and hyphens. It prefixes default resource
    /// names and is recorded in the `moor:stack` tag. It may use variables
    /// and `${region}` (`shop-${var.env}`: one file, several environments);
    /// `--stack-name` replaces it.
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
    pub outputs: BTreeMap<String, O>,
    /// Where the state record and its lock are kept: the local `.moor`
    /// directory when not set. `--state` and `MOOR_STATE` beat it.
    #[serde(default)]
    pub state: Option<StateDecl>,
}

/// A state backend (see docs/state.md).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateDecl {
    /// An S3 bucket: the record, its lock beside it (`KEY.lock`).
    pub s3: S3StateDecl,
}

/// The S3 state backend. Values are taken as written, except `${stack}`
/// in `key`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3StateDecl {
    /// The bucket's name.
    pub bucket: String,
    /// The record's key; `moor/<stack>.state.json` when not set. `${stack}`
    /// in it is the stack's name (needed when the name uses variables).
    #[serde(default)]
    pub key: Option<String>,
    /// The bucket's region; the stack's when not set.
    #[serde(default)]
    pub region: Option<String>,
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
    Described(DescribedOutput),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DescribedOutput {
    /// The value, usually with references such as `http://${lb.dns_name}`.
    pub value: String,
    #[serde(default)]
    pub description: Option<String>,
}

// ---- entry points -----------------------------------------------------------

pub fn load_file(path: &Path, opts: &LoadOptions) -> Loaded {
    let name = path.display().to_string();
    match read_limited(path, opts.limits.unwrap_or_default().max_bytes) {
        Ok(text) => load_str(&name, &text, opts),
        Err(msg) => {
            Loaded { stack: None, diags: vec![Diag::error("moor::read", format!("cannot read {name}: {msg}"))] }
        }
    }
}

/// The text of a file of at most `max` bytes. Only a regular file is read:
/// a FIFO, a device or a directory is refused. It is opened without
/// blocking (opening a FIFO for reading waits for a writer), the kind is
/// checked on the opened file, and at most `max + 1` bytes are read.
pub(crate) fn read_limited(path: &Path, max: usize) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    let t = meta.file_type();
    if !t.is_file() {
        let what = match () {
            _ if t.is_dir() => "a directory",
            _ if t.is_fifo() => "a FIFO (named pipe)",
            _ if t.is_socket() => "a socket",
            _ if t.is_char_device() || t.is_block_device() => "a device",
            _ => "not a file",
        };
        return Err(format!("it is {what}, not a regular file"));
    }
    if meta.len() > max as u64 {
        return Err(format!("the file is {} bytes; the limit is {max} bytes", meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max as u64 + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() > max {
        return Err(format!("the file is over {max} bytes, the limit"));
    }
    String::from_utf8(bytes)
        .map_err(|e| format!("the file is not UTF-8 (invalid byte at offset {})", e.utf8_error().valid_up_to()))
}

pub fn load_str(name: &str, text: &str, opts: &LoadOptions) -> Loaded {
    let file = SourceFile::new(name, text);
    let mut l = Loader {
        file: file.clone(),
        opts,
        diags: Vec::new(),
        cx: DeContext::default(),
        silenced: Vec::new(),
        root: None,
    };
    let stack = l.run();
    let mut diags = l.diags;
    for d in &mut diags {
        tidy_labels(d);
    }
    // Errors first, then in file order; the sort is stable.
    diags.sort_by_key(|d| (!d.is_error(), d.labels.first().map_or(usize::MAX, |l| l.span.start)));
    let has_errors = diags.iter().any(Diag::is_error);
    let mut stack = if has_errors { None } else { stack };
    // Diagnostics show the lines around what they point at: they show the
    // file with its secret values masked.
    let tree = l.root.take().or_else(|| yaml::parse(text, opts.limits.unwrap_or_default()).ok());
    if let Some((masked, hidden)) = crate::secret::mask_source(text, tree.as_ref()) {
        let masked = SourceFile::new(name, masked);
        for d in &mut diags {
            if d.source.as_ref().is_some_and(|s| Arc::ptr_eq(s, &file)) {
                d.source = Some(masked.clone());
            }
            // A type error quotes the value it found.
            d.message = crate::secret::scrub_text(&d.message, &hidden);
            for l in &mut d.labels {
                l.text = crate::secret::scrub_text(&l.text, &hidden);
            }
            d.help = d.help.as_deref().map(|h| crate::secret::scrub_text(h, &hidden));
        }
        if let Some(s) = &mut stack {
            s.file = masked;
        }
    }
    Loaded { stack, diags }
}

/// A label over several lines is drawn as a box around the whole block;
/// the first line says where it is just as well.
fn tidy_labels(d: &mut Diag) {
    let Some(file) = &d.source else { return };
    for l in &mut d.labels {
        let end = l.span.end.min(file.text.len());
        let start = l.span.start.min(end);
        if let Some(nl) = file.text[start..end].find('\n') {
            let first = file.text[start..start + nl].trim_end();
            l.span = Span::new(start, start + first.len().max(1).min(nl.max(1)));
        }
    }
}

// ---- the loader -------------------------------------------------------------

struct Loader<'o> {
    file: Arc<SourceFile>,
    opts: &'o LoadOptions,
    diags: Vec<Diag>,
    cx: DeContext,
    /// `${var.x}` texts whose variable has no valid value: type errors on
    /// them follow from an error reported already.
    silenced: Vec<String>,
    /// The parsed file, kept when loading got to the end (secret values in
    /// it are masked in the diagnostics).
    root: Option<Node>,
}

/// A `${…}` found in the file.
#[derive(Clone)]
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

/// Where an error was found, for the message.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    /// Logical name and kind, inside a resource.
    resource: Option<(&'a str, Kind)>,
    /// The mapping the error's path is relative to.
    node: &'a Node,
}

/// Logical names of the file's resources, in file order, with their kind
/// when it is known.
struct Names {
    order: Vec<String>,
    kinds: HashMap<String, Option<Kind>>,
}

impl Names {
    fn kind(&self, name: &str) -> Option<Option<Kind>> {
        self.kinds.get(name).copied()
    }
    fn list(&self) -> Vec<&str> {
        self.order.iter().map(String::as_str).collect()
    }
}

impl Loader<'_> {
    /// Tag keys that start with `moor:` are moor's own: they say who owns a
    /// resource and whether destroy keeps it, so a file cannot set them.
    fn reserved_tags(&mut self, tags: Option<&Node>) {
        for (k, _) in tags.and_then(Node::as_map).unwrap_or_default() {
            let Some(key) = k.as_str().filter(|key| key.starts_with("moor:")) else { continue };
            self.err("moor::reserved-tag", k.span, format!("tag key `{key}` is reserved"), "moor's own tag").help =
                Some("moor sets the `moor:` tags itself (ownership, `retain: true`); give the tag another key".into());
        }
    }

    fn err(&mut self, code: &'static str, span: Span, msg: impl Into<String>, label: impl Into<String>) -> &mut Diag {
        self.diags.push(Diag::error(code, msg).in_file(&self.file).label(span, label));
        // Pushed on the line above.
        self.diags.last_mut().expect("pushed")
    }

    fn run(&mut self) -> Option<Stack> {
        let limits = self.opts.limits.unwrap_or_default();
        let root = match yaml::parse(&self.file.text, limits) {
            Ok(n) => n,
            Err(e) => {
                let file = self.file.clone();
                self.diags.push(syntax::explain(e, &file));
                return None;
            }
        };
        let NodeKind::Map(_) = &root.kind else {
            self.err("moor::shape", root.span, "a stack file is a mapping", format!("found {}", root.type_name()))
                .help = Some("start with `stack: <name>` and `resources:`".into());
            return None;
        };
        self.flow_pitfalls(&root);
        self.duplicate_keys(&root);

        // Header: top-level keys, stack name, variable declarations.
        let mut header_node = root.clone();
        if root.get("stack").is_none() {
            self.err(
                "moor::missing-field",
                Span::new(0, 0),
                "the file has no `stack:` name",
                "expected `stack: <name>` here",
            )
            .help = Some("start the file with `stack: <name>`; the name prefixes resource names and tags".into());
            insert_placeholder(&mut header_node, "stack", "stack");
        }
        let (header, errors, soft) = resilient::<StackFile<Skip, Skip>>(&header_node, &self.cx);
        let ctx = Ctx { resource: None, node: &root };
        for e in soft.into_iter().chain(errors) {
            self.de_error(e, ctx);
        }
        let header = header?;

        let vars = vars::resolve(self, &root, &header);
        self.silenced = vars.failed.iter().map(|v| format!("${{var.{v}}}")).collect();
        let region = self
            .opts
            .region
            .clone()
            .or_else(|| header.region.clone().filter(|r| !r.contains("${")))
            .or_else(|| self.opts.env.iter().find(|(k, _)| k == "AWS_REGION").map(|(_, v)| v.clone()));

        // Every `${…}`, checked against what exists.
        let names = resource_names(&root);
        let found = self.find_refs(&root);
        let mut used_vars = HashSet::new();
        let mut git: Option<Result<String, String>> = None;
        let mut builtins: HashMap<Target, String> = HashMap::new();
        // References of a resource to itself: allowed only where its kind
        // takes them late, which is known once it loaded.
        let mut self_refs = Vec::new();
        for (i, f) in found.iter().enumerate() {
            match &f.target {
                Target::Attr { resource, .. }
                    if f.owner.as_deref() == Some(resource.as_str())
                        && matches!(names.kind(resource), Some(Some(_))) =>
                {
                    self_refs.push(i)
                }
                Target::Var(v) | Target::VarItem { name: v, .. } => {
                    used_vars.insert(v.clone());
                    if let (Target::VarItem { index, .. }, Some(var)) =
                        (&f.target, vars.values.iter().find(|x| &x.name == v))
                    {
                        let t = &f.target;
                        let e = match var.value.item(*index) {
                            Ok(_) => None,
                            Err(_) if !matches!(var.value, crate::model::Value::List(_)) => Some((
                                format!(
                                    "`{t}` indexes variable `{v}`, which is {} {}",
                                    article(vars::type_word(var.ty)),
                                    vars::type_word(var.ty)
                                ),
                                "not a list",
                                format!("only a list variable (`type: list`) can be indexed; write `${{var.{v}}}`"),
                            )),
                            Err(why) => Some((
                                format!("`{t}`: {why}"),
                                "out of range",
                                match &var.value {
                                    crate::model::Value::List(items) => {
                                        format!("`{v}` is [{}] here", abbreviate(&items.join(", ")))
                                    }
                                    _ => String::new(),
                                },
                            )),
                        };
                        if let Some((message, label, help)) = e {
                            self.err("moor::reference-index", f.span, message, label).help = Some(help);
                            // What follows from it is not reported again.
                            self.silenced.push(t.to_string());
                        }
                    }
                    if !vars.declared.contains(v) {
                        let declared: Vec<&str> = vars.declared.iter().map(String::as_str).collect();
                        let help = match crate::diag::suggest(v, declared.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`? Otherwise declare `{v}` under `variables:`"),
                            None => format!("declare `{v}` under `variables:`"),
                        };
                        self.err("moor::unknown-variable", f.span, format!("unknown variable `{v}`"), "not declared")
                            .help = Some(help);
                    }
                }
                t @ (Target::Region | Target::Partition | Target::GitSha | Target::GitShortSha) => {
                    self.builtin(t, f.span, region.as_deref(), &mut git, &mut builtins)
                }
                // Filled in when the run reaches AWS; `validate` keeps it.
                Target::Stack | Target::AccountId => {}
                Target::Attr { resource, attribute, .. } => self.check_attr_ref(f, resource, attribute, &names),
            }
        }
        // Built-ins inside variable values (`default: v1-${git.short_sha}`).
        let mut vars = vars;
        for (t, span) in std::mem::take(&mut vars.builtin_uses) {
            self.builtin(&t, span, region.as_deref(), &mut git, &mut builtins);
        }
        // The name may use what is known before the resources: variables
        // and built-ins other than itself.
        let stack_name = self.stack_name(&root, &header.stack, &vars, &builtins, &found);
        let state = header.state.as_ref().and_then(|d| self.state_location(&root, d, &stack_name));
        builtins.insert(Target::Stack, stack_name.clone());
        for v in &mut vars.values {
            vars::expand_builtins(&mut v.value, &builtins);
        }
        for name in &vars.declared {
            if !used_vars.contains(name) {
                let span = key_span(&root, &["variables", name]);
                self.diags.push(
                    Diag::warning("moor::unused-variable", format!("variable `{name}` is declared but never used"))
                        .in_file(&self.file)
                        .label(span, "unused")
                        .help(format!("remove it, or use it as `${{var.{name}}}`")),
                );
            }
        }

        // Substitute variables and built-ins, then type each resource.
        let values: HashMap<&str, &crate::model::Value> =
            vars.values.iter().map(|v| (v.name.as_str(), &v.value)).collect();
        let mut tree = root.clone();
        vars::substitute(&mut tree, &values, &builtins, true);
        let region = region.or_else(|| tree.get("region").and_then(|n| n.as_str()).map(str::to_string));
        match &self.opts.region {
            Some(r) => {
                if let Err(why) = crate::region::check(r) {
                    self.diags.push(Diag::error("moor::region", format!("--region: {why}")));
                }
            }
            None => {
                if let Some(node) = tree.get("region").filter(|n| n.as_str().is_some()) {
                    if let Err(why) = crate::region::check(node.as_str().unwrap_or_default()) {
                        self.err("moor::region", node.span, why, "not a region").help = Some(
                            "AWS regions are listed at https://docs.aws.amazon.com/general/latest/gr/rande.html".into(),
                        );
                    }
                }
            }
        }

        let mut resources = Vec::new();
        let mut failed: HashSet<String> = HashSet::new();
        let mut depends_on_spans = BTreeMap::new();
        if let Some(res_node) = tree.get("resources") {
            if let NodeKind::Map(entries) = &res_node.kind {
                let mut seen = HashSet::new();
                for (k, v) in entries {
                    // A second resource of one name is reported as a duplicate key.
                    if !seen.insert(k.as_str().unwrap_or("")) {
                        continue;
                    }
                    match self.resource(k, v, &names, &mut depends_on_spans, &stack_name) {
                        Some(r) => resources.push(r),
                        None => {
                            failed.insert(k.as_str().unwrap_or("").to_string());
                        }
                    }
                }
            } else if !res_node.is_null() {
                self.err(
                    "moor::shape",
                    res_node.span,
                    "`resources` is a mapping of logical names to resources",
                    format!("found {}", res_node.type_name()),
                );
            }
        }

        for i in self_refs {
            let f = &found[i];
            let Target::Attr { resource, attribute, index } = &f.target else { continue };
            let late =
                resources.iter().find(|r| &r.name == resource).is_some_and(|r| {
                    index.is_none()
                        && r.spec.as_dyn().late_refs().iter().any(|l| {
                            crate::model::common::ref_parts(l) == Some((resource.as_str(), attribute.as_str()))
                        })
                });
            if late {
                // Its attribute is still checked, as any other reference's.
                let outside = Found { owner: None, in_output: true, ..f.clone() };
                self.check_attr_ref(&outside, resource, attribute, &names);
            } else {
                self.check_attr_ref(f, resource, attribute, &names);
            }
        }

        // List-typed references must fill list fields, and only those. A
        // resource that failed to load has no list slots to compare with.
        let slots = self.cx.list_slots.borrow().clone();
        for f in &found {
            let Target::Attr { resource, attribute, index } = &f.target else { continue };
            if f.owner.as_ref().is_some_and(|o| failed.contains(o)) {
                continue;
            }
            let Some(Some(kind)) = names.kind(resource) else { continue };
            let Some(attr) = kind.attribute(attribute) else { continue };
            let in_slot = slots.contains(&f.node_span);
            let shown = &f.target;
            // An item of a list is a single value; a slice is a list.
            let is_list = match index {
                None => attr.ty == AttrType::List,
                Some(_) if attr.ty != AttrType::List => {
                    self.err(
                        "moor::reference-index",
                        f.span,
                        format!("`{shown}` indexes `{attribute}`, which is not a list"),
                        "not a list",
                    )
                    .help = Some(format!(
                        "{} {kind}'s `{attribute}` is a single value; write `${{{resource}.{attribute}}}`",
                        capital(article(kind.as_str()))
                    ));
                    continue;
                }
                Some(i) => i.is_slice(),
            };
            if is_list && !(f.whole && in_slot) {
                let help = if f.whole {
                    "a list attribute fills a list field as a whole value, such as `subnets: ${net.subnet_ids}`"
                        .to_string()
                } else {
                    "a list cannot be put inside a string; use it as the whole value of a list field".to_string()
                };
                self.err(
                    "moor::reference-type",
                    f.span,
                    format!("`{shown}` is a list"),
                    "list used where a single value is expected",
                )
                .help = Some(help);
            } else if !is_list && f.whole && in_slot {
                self.err(
                    "moor::reference-type",
                    f.span,
                    format!("`{shown}` is a single value, but this field takes a list"),
                    "not a list",
                )
                .help = Some(format!("write it as a list: `[\"{shown}\"]`"));
            }
        }

        let outputs = self.outputs(&tree, &root);

        let refs = found
            .iter()
            .filter_map(|f| match &f.target {
                Target::Attr { resource, attribute, index } if f.owner.is_some() || f.in_output => Some(RefUse {
                    from: f.owner.clone(),
                    resource: resource.clone(),
                    attribute: attribute.clone(),
                    index: *index,
                    span: f.span,
                }),
                _ => None,
            })
            .collect();

        self.reserved_tags(tree.get("tags"));
        let tags = tree.get("tags").and_then(|n| yaml::from_node::<Tags>(n, &self.cx).ok()).unwrap_or(header.tags);

        let mut stack = Stack {
            name: stack_name,
            region,
            description: header.description,
            tags,
            variables: vars.values,
            resources,
            outputs,
            refs,
            state,
            file: self.file.clone(),
            depends_on_spans,
            index: HashMap::new(),
        };
        stack.reindex();
        // Rules between resources need all of them; with one missing they
        // would report what follows from its error.
        if failed.is_empty() {
            crate::validate::cross_checks(&stack, &tree, &mut self.diags);
        }
        self.root = Some(root);
        Some(stack)
    }

    /// Computes a built-in's value once, or reports why it has none.
    fn builtin(
        &mut self,
        t: &Target,
        span: Span,
        region: Option<&str>,
        git: &mut Option<Result<String, String>>,
        builtins: &mut HashMap<Target, String>,
    ) {
        match t {
            Target::Region => match region {
                Some(r) => {
                    builtins.insert(Target::Region, r.to_string());
                }
                None => {
                    self.err("moor::region", span, "`${region}` is used but no region is set", "region unknown").help =
                        Some("set `region:` in the file, pass --region, or set AWS_REGION".into());
                }
            },
            Target::Partition => match region {
                Some(r) => {
                    builtins.insert(Target::Partition, crate::expr::partition(r).to_string());
                }
                None => {
                    self.err("moor::region", span, "`${partition}` is used but no region is set", "region unknown")
                        .help = Some("set `region:` in the file, pass --region, or set AWS_REGION".into());
                }
            },
            Target::GitSha | Target::GitShortSha => {
                let sha = git.get_or_insert_with(|| head_commit(self.opts)).clone();
                match sha {
                    Ok(sha) => {
                        builtins.insert(Target::GitSha, sha.clone());
                        builtins.insert(Target::GitShortSha, sha[..7.min(sha.len())].to_string());
                    }
                    Err(why) => {
                        self.err("moor::git", span, format!("{t} cannot be read: {why}"), "no git commit").help = Some(
                            "run moor inside a git work tree with at least one commit, or use a variable instead"
                                .into(),
                        );
                    }
                }
            }
            Target::Stack | Target::AccountId | Target::Var(_) | Target::VarItem { .. } | Target::Attr { .. } => {}
        }
    }

    /// Outputs: a string, or `{ value, description }` (read here, not by
    /// the untagged enum, so a typo gets a suggestion).
    fn outputs(&mut self, tree: &Node, root: &Node) -> Vec<Output> {
        let mut out = Vec::new();
        let Some(entries) = tree.get("outputs").and_then(Node::as_map) else {
            if let Some(n) = tree.get("outputs").filter(|n| !n.is_null()) {
                self.err(
                    "moor::shape",
                    n.span,
                    "`outputs` is a mapping of names to values",
                    format!("found {}", n.type_name()),
                );
            }
            return out;
        };
        for (k, v) in entries {
            let name = k.as_str().unwrap_or("").to_string();
            let ctx = Ctx { resource: None, node: root };
            match &v.kind {
                NodeKind::Map(_) => {
                    let (o, errors, soft) = resilient::<DescribedOutput>(v, &self.cx);
                    for e in soft.into_iter().chain(errors) {
                        self.de_error(e, ctx);
                    }
                    if let Some(o) = o {
                        out.push(Output { name, value: o.value, description: o.description });
                    }
                }
                NodeKind::Scalar(s, _) if !v.is_null() => {
                    out.push(Output { name, value: s.clone(), description: None })
                }
                _ => {
                    self.err("moor::type", v.span, format!("output `{name}` is {}", v.type_name()), "not a string")
                        .help = Some("an output is a string, or a mapping with `value` and `description`".into());
                }
            }
        }
        out
    }

    // ---- YAML pitfalls ---------------------------------------------------------

    /// `[${a.b}]` parses as the string `$` followed by a mapping: explain.
    fn flow_pitfalls(&mut self, root: &Node) {
        let mut hits = Vec::new();
        let text = self.file.text.clone();
        root.walk(&mut |n| {
            let children: Vec<&Node> = match &n.kind {
                NodeKind::Seq(items) => items.iter().collect(),
                NodeKind::Map(entries) => entries.iter().flat_map(|(k, v)| [k, v]).collect(),
                NodeKind::Scalar(..) => Vec::new(),
            };
            for x in children {
                if matches!(&x.kind, NodeKind::Scalar(s, yaml::Style::Plain) if s.ends_with('$')) && x.flow {
                    hits.push(Span::new(x.span.end - 1, x.span.end));
                }
                if matches!(x.kind, NodeKind::Map(_)) && x.flow && text[..x.span.start].ends_with('$') {
                    hits.push(Span::new(x.span.start - 1, x.span.start));
                }
            }
        });
        hits.sort();
        hits.dedup();
        for span in hits {
            self.err(
                "moor::yaml-flow-reference",
                span,
                "unquoted `${…}` inside `[ ]` or `{ }`",
                "YAML reads a `$` and a mapping here",
            )
            .help = Some(syntax::PITFALL.into());
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
            d.labels.push(Label { span: first, text: "first time".into() });
            d.help = Some("remove or rename one of them; moor reads only the first".into());
        }
    }

    // ---- header --------------------------------------------------------------

    /// The file's `state: {s3: …}` as a location; each mistake at its field.
    fn state_location(&mut self, root: &Node, d: &StateDecl, stack: &str) -> Option<crate::backend::Location> {
        let at = |field: &str| {
            root.path(&["state", "s3"])
                .and_then(|n| n.get(field))
                .map_or_else(|| key_span(root, &["state"]), |n| n.span)
        };
        let mut ok = true;
        if !crate::backend::bucket_name_is_valid(&d.s3.bucket) {
            self.err("moor::state", at("bucket"), "not an S3 bucket name", "bucket").help = Some(
                "3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit; \
                 values under `state:` are taken as written"
                    .into(),
            );
            ok = false;
        }
        // `${stack}` in the key is the stack's name, so that the
        // environments of one file (`stack: shop-${var.env}`) keep their
        // records apart; nothing else is substituted here.
        let key = d.s3.key.as_ref().map(|k| k.replace("${stack}", stack));
        let name_varies = root.get("stack").and_then(|n| n.as_str()).is_some_and(crate::expr::has_interpolation);
        if let (Some(written), Some(k)) = (&d.s3.key, &key) {
            if k.contains("${") {
                self.err("moor::state", at("key"), "only `${stack}` may be used in the record's key", "key").help =
                    Some("values under `state:` are taken as written, except `${stack}` in `key`".into());
                ok = false;
            } else if name_varies && !written.contains("${stack}") {
                self.err(
                    "moor::state",
                    at("key"),
                    "each stack name of this file would share this one record",
                    "the same key whatever the stack's name",
                )
                .help = Some(
                    "the stack's name uses variables: put `${stack}` in the key (`moor/${stack}.state.json`), \
                     or leave `key` out"
                        .into(),
                );
                ok = false;
            }
        }
        if let Some(k) = &key {
            if k.is_empty() || k.starts_with('/') || k.ends_with('/') || k.len() > 1000 {
                self.err("moor::state", at("key"), "not an S3 object key for the record", "key").help =
                    Some("a key such as `moor/web.state.json`: not empty, no leading or trailing `/`".into());
                ok = false;
            }
        }
        if let Some(r) = &d.s3.region {
            if let Err(why) = crate::region::check(r) {
                self.err("moor::state", at("region"), why, "not a region");
                ok = false;
            }
        }
        ok.then(|| crate::backend::Location::S3 {
            bucket: d.s3.bucket.clone(),
            key: crate::backend::KeyRule::Fixed(key.unwrap_or_else(|| format!("moor/{stack}.state.json"))),
            region: d.s3.region.clone(),
        })
    }

    /// The stack's name: the file's `stack:` with its variables and
    /// built-ins substituted, or `--stack-name`; either is checked against
    /// [`STACK_NAME_RULE`], the file's at its `stack:` line.
    fn stack_name(
        &mut self,
        root: &Node,
        name: &str,
        vars: &vars::Vars,
        builtins: &HashMap<Target, String>,
        found: &[Found],
    ) -> String {
        let Some(node) = root.get("stack") else {
            return name.to_string();
        };
        let mut resolved = name.to_string();
        let mut reported = false;
        if node.as_str().is_some_and(crate::expr::has_interpolation) {
            let refs: Vec<&Found> = found.iter().filter(|f| f.node_span == node.span).collect();
            for f in refs.iter().filter(|f| matches!(f.target, Target::Stack | Target::AccountId | Target::Attr { .. }))
            {
                reported = true;
                self.err(
                    "moor::stack-name",
                    f.span,
                    format!("`stack:` cannot use {}", f.target),
                    "not known before the stack's name",
                )
                .help =
                    Some("the stack name may use variables, `${region}`, `${partition}`, `${git.sha}` and `${git.short_sha}`".into());
            }
            // A variable without a valid value was reported already.
            reported |= refs.iter().any(
                |f| matches!(&f.target, Target::Var(v) | Target::VarItem { name: v, .. } if vars.failed.contains(v)),
            );
            let mut values = vars.values.clone();
            for v in &mut values {
                vars::expand_builtins(&mut v.value, builtins);
            }
            let values: HashMap<&str, &crate::model::Value> =
                values.iter().map(|v| (v.name.as_str(), &v.value)).collect();
            let mut n = node.clone();
            vars::substitute(&mut n, &values, builtins, false);
            resolved = n.as_str().unwrap_or(name).to_string();
        }
        if let Some(given) = &self.opts.stack_name {
            if !stack_name_is_valid(given) {
                self.diags.push(
                    Diag::error(
                        "moor::stack-name",
                        format!("--stack-name: stack name `{}` is not valid", abbreviate(given)),
                    )
                    .help(STACK_NAME_RULE),
                );
            }
            return given.clone();
        }
        if !reported && !stack_name_is_valid(&resolved) && node.as_str().is_some() {
            let message = if resolved == name {
                format!("stack name `{}` is not valid", abbreviate(name))
            } else {
                format!("stack name `{}` (from `{}`) is not valid", abbreviate(&resolved), abbreviate(name))
            };
            self.err("moor::stack-name", node.span, message, "invalid stack name").help = Some(STACK_NAME_RULE.into());
        }
        resolved
    }

    // ---- references ----------------------------------------------------------

    fn find_refs(&mut self, root: &Node) -> Vec<Found> {
        let mut found = Vec::new();
        let text = self.file.text.clone();
        for (k, v) in root.as_map().unwrap_or_default() {
            let section = k.as_str().unwrap_or("");
            match section {
                "variables" => {}
                "resources" => {
                    for (rk, rv) in v.as_map().unwrap_or_default() {
                        let owner = rk.as_str().map(str::to_string);
                        self.refs_in(rv, &text, owner, false, &mut found);
                    }
                }
                _ => self.refs_in(v, &text, None, section == "outputs", &mut found),
            }
        }
        found
    }

    fn refs_in(&mut self, node: &Node, text: &str, owner: Option<String>, in_output: bool, found: &mut Vec<Found>) {
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
                    self.err("moor::reference-syntax", at(e.start, e.end), e.message, "invalid reference").help =
                        e.help;
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

    fn check_attr_ref(&mut self, f: &Found, resource: &str, attribute: &str, names: &Names) {
        if f.owner.is_none() && !f.in_output {
            self.err(
                "moor::reference-place",
                f.span,
                "resource attributes are not known here",
                "only inside resources and outputs",
            )
            .help = Some(
                "`stack`, `region` and `tags` can use `${var.…}` and built-ins, which are known before apply".into(),
            );
            return;
        }
        match names.kind(resource) {
            None => {
                let mut help = did_you_mean(resource, &names.list(), "resource");
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
            // Its kind is unknown: reported at the kind.
            Some(None) => {}
            Some(Some(kind)) => {
                if f.owner.as_deref() == Some(resource) {
                    self.err(
                        "moor::self-reference",
                        f.span,
                        format!("`{resource}` refers to itself"),
                        "self-reference",
                    )
                    .help =
                        Some("a resource cannot use its own attributes; they exist only after it is created".into());
                } else if kind.attribute(attribute).is_none() {
                    let attrs: Vec<&str> = kind.attributes().iter().map(|a| a.name).collect();
                    let help = match crate::diag::suggest(attribute, attrs.iter().copied()) {
                        Some(s) => {
                            format!("did you mean `{s}`? ({} {kind} has {})", article(kind.as_str()), attrs.join(", "))
                        }
                        None => format!("{} {kind} has {}", capital(article(kind.as_str())), attrs.join(", ")),
                    };
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
        names: &Names,
        depends_on_spans: &mut BTreeMap<(String, String), Span>,
        stack: &str,
    ) -> Option<Resource> {
        let name = key.as_str().unwrap_or("").to_string();
        let name_ok = name.len() <= 64
            && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            self.err(
                "moor::resource-name",
                key.span,
                format!("resource name `{}` is not valid", abbreviate(&name)),
                "invalid logical name",
            )
            .help = Some("logical names are 1–64 letters, digits, `_` and `-`, starting with a letter".into());
        }
        let NodeKind::Map(entries) = &node.kind else {
            self.err(
                "moor::shape",
                node.span,
                format!("resource `{name}` is not a mapping"),
                format!("found {}", node.type_name()),
            )
            .help = Some(format!("a resource is a mapping with a `kind`, such as `kind: {}`", Kind::ALL[0]));
            return None;
        };
        let kind_names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        let kind = match node.get("kind") {
            None => {
                self.err("moor::missing-kind", key.span, format!("resource `{name}` has no `kind`"), "no kind").help =
                    Some(format!("kinds: {}", kind_names.join(", ")));
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
                    self.err("moor::unknown-kind", k.span, format!("unknown kind `{given}`"), "not a resource kind")
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
                        if names.kind(&target).is_none() {
                            let help = did_you_mean(&target, &names.list(), "resource");
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
                    )
                    .help = Some("write `depends_on: [other]`".into());
                }
            }
        }

        // ignore_changes: paths into the kind's fields, checked here.
        let mut ignore_changes = Vec::new();
        if let Some(d) = node.get("ignore_changes") {
            match &d.kind {
                NodeKind::Seq(items) => {
                    for it in items {
                        let text = it.as_str().unwrap_or("");
                        match ignore_path(kind, node, text) {
                            Ok(path) => ignore_changes.push(crate::fieldpath::show(&path)),
                            Err(e) => {
                                let span = segment_span(&self.file.text, it.span, text, e.segment);
                                let (message, label) = if e.top {
                                    (
                                        format!(
                                            "`ignore_changes` names `{}`, which is not a field of {kind}",
                                            abbreviate(text)
                                        ),
                                        "not a field of this kind".to_string(),
                                    )
                                } else {
                                    (format!("`ignore_changes` names `{}`: {}", abbreviate(text), e.message), e.label)
                                };
                                self.err("moor::ignore-changes", span, message, label).help = Some(e.help);
                            }
                        }
                    }
                }
                _ => {
                    self.err(
                        "moor::type",
                        d.span,
                        "`ignore_changes` is a list of field names",
                        format!("found {}", d.type_name()),
                    )
                    .help = Some("write `ignore_changes: [field]`".into());
                }
            }
        }

        // Required fields, all at once (serde would name only the first).
        let mut missing = Vec::new();
        for field in required_fields(kind) {
            if node.get(field).is_none() {
                missing.push(*field);
            }
        }
        if !missing.is_empty() {
            let list = missing.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
            let what = if missing.len() == 1 { "field" } else { "fields" };
            self.err(
                "moor::missing-field",
                key.span,
                format!("{kind} `{name}` is missing required {what} {list}"),
                format!("needs {list}"),
            )
            .help = Some(format!("see the {kind} section of docs/stack-reference.md"));
        }

        let spec_node = Node {
            kind: NodeKind::Map(
                entries
                    .iter()
                    .filter(|(k, _)| !matches!(k.as_str(), Some("kind" | "depends_on" | "ignore_changes")))
                    .cloned()
                    .collect(),
            ),
            span: node.span,
            flow: node.flow,
        };
        let (spec, errors, soft) = resilient_spec(kind, &spec_node, &self.cx, &missing);
        let ctx = Ctx { resource: Some((&name, kind)), node };
        let clean = errors.is_empty() && missing.is_empty();
        for e in soft.into_iter().chain(errors) {
            self.de_error(e, ctx);
        }
        self.reserved_tags(node.get("tags"));
        let spec = spec?;
        // Rules of the kind run on what did load, so the file's other
        // mistakes show in this same run.
        let mut c = Checker { file: &self.file, node, key_span: key.span, logical: &name, diags: &mut self.diags };
        spec.validate(&mut c);
        if !clean {
            return None;
        }
        let physical_name = spec.given_name().map(str::to_string).or_else(|| spec.default_name(stack, &name));
        Some(Resource { name, spec, physical_name, depends_on, ignore_changes, key_span: key.span })
    }

    fn de_error(&mut self, e: DeError, ctx: Ctx) {
        let span = e.span.unwrap_or_default();
        let text = self.file.text.clone();
        let here = text.get(span.start..span.end).unwrap_or("");
        if self.silenced.iter().any(|s| here.contains(s.as_str())) {
            return;
        }
        let within = match ctx.resource {
            Some((name, kind)) => format!(" in {kind} `{name}`"),
            None => String::new(),
        };
        let d = match e.kind {
            DeErrorKind::UnknownField { field, expected } => {
                let mut expected: Vec<&str> = expected.to_vec();
                let top = ctx.node.as_map().unwrap_or_default().iter().any(|(k, _)| k.span == span);
                if ctx.resource.is_some() && top {
                    expected.extend(["kind", "depends_on", "ignore_changes"]);
                }
                let parent = if top { None } else { field_path(ctx.node, span, true) };
                let place = match (&parent, ctx.resource) {
                    (Some(p), Some(_)) => format!(" in `{p}` of{}", within.trim_start_matches(" in")),
                    (Some(p), None) => format!(" in `{p}`"),
                    (None, _) if ctx.resource.is_none() && top => " at the top of the file".to_string(),
                    (None, _) => within.clone(),
                };
                let mut help = did_you_mean(&field, &expected, "field");
                if ctx.resource.is_none() && top && field == "resource" {
                    help = "did you mean `resources`?".into();
                }
                Diag::error("moor::unknown-field", format!("unknown field `{field}`{place}"))
                    .in_file(&self.file)
                    .label(span, "unknown field")
                    .help(help)
            }
            DeErrorKind::MissingField(field) => {
                let parent = field_path(ctx.node, span, false);
                let place = match &parent {
                    Some(p) => format!(" in `{p}`{within}"),
                    None => within.clone(),
                };
                Diag::error("moor::missing-field", format!("missing field `{field}`{place}"))
                    .in_file(&self.file)
                    .label(span, format!("`{field}` is required here"))
            }
            DeErrorKind::UnknownVariant { variant, expected } => {
                let help = match crate::diag::suggest(&variant, expected.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "expected one of: {}",
                        expected.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
                    ),
                };
                let path = field_path(ctx.node, span, false).map(|p| format!(" for `{p}`")).unwrap_or_default();
                Diag::error("moor::unknown-value", format!("unknown value `{variant}`{path}{within}"))
                    .in_file(&self.file)
                    .label(span, "not one of the allowed values")
                    .help(help)
            }
            DeErrorKind::InvalidType | DeErrorKind::InvalidValue | DeErrorKind::Custom => {
                let message = friendly_message(&e.message);
                let help = e.help.clone().or_else(|| {
                    if here.contains("${") && (message.contains("number") || message.contains("integer") || message.contains("boolean")) {
                        Some("only `${var.…}` of an integer or boolean variable can fill this field; resource attributes are strings".to_string())
                    } else if message.starts_with("expected a boolean") {
                        Some("write true or false".to_string())
                    } else {
                        None
                    }
                });
                let path = field_path(ctx.node, span, false).map(|p| format!("`{p}`: ")).unwrap_or_default();
                Diag::error("moor::type", format!("{path}{message}{within}"))
                    .in_file(&self.file)
                    .label(span, "wrong type")
                    .maybe_help(help)
            }
        };
        self.diags.push(d);
    }
}

/// Deserializes `T`, and on an error takes the offending value out and
/// tries again, so every type error of the node is found. Returns the value
/// when there was no error left to take out, the errors, and the unknown
/// fields (from the first attempt only).
fn resilient<T: for<'de> Deserialize<'de>>(node: &Node, cx: &DeContext) -> (Option<T>, Vec<DeError>, Vec<DeError>) {
    resilient_with(node, cx, &[], |n, cx| yaml::from_node::<T>(n, cx))
}

fn resilient_spec(
    kind: Kind,
    node: &Node,
    cx: &DeContext,
    reported_missing: &[&str],
) -> (Option<crate::model::Spec>, Vec<DeError>, Vec<DeError>) {
    resilient_with(node, cx, reported_missing, |n, cx| kind.spec_from(n, cx))
}

fn resilient_with<T>(
    node: &Node,
    cx: &DeContext,
    reported_missing: &[&str],
    de: impl Fn(&Node, &DeContext) -> Result<T, DeError>,
) -> (Option<T>, Vec<DeError>, Vec<DeError>) {
    let mut work = node.clone();
    let mut errors: Vec<DeError> = Vec::new();
    let mut soft = Vec::new();
    for attempt in 0..64 {
        let r = de(&work, cx);
        let new_soft: Vec<DeError> = cx.soft_errors.borrow_mut().drain(..).collect();
        if attempt == 0 {
            soft = new_soft;
        }
        match r {
            Ok(v) => return (Some(v), errors, soft),
            Err(e) => {
                if let DeErrorKind::MissingField(f) = e.kind {
                    if reported_missing.contains(&f)
                        || e.span.is_some_and(|s| s.start == node.span.start && s.is_empty())
                    {
                        // Reported already, or at the top where nothing can
                        // be taken out.
                        return (None, errors, soft);
                    }
                }
                let Some(span) = e.span else {
                    errors.push(e);
                    return (None, errors, soft);
                };
                if errors.iter().any(|x| x.span == Some(span)) || !remove_at(&mut work, span) {
                    errors.push(e);
                    return (None, errors, soft);
                }
                errors.push(e);
            }
        }
    }
    (None, errors, soft)
}

/// Takes out the innermost mapping entry or list item that holds `span`.
fn remove_at(node: &mut Node, span: Span) -> bool {
    match &mut node.kind {
        NodeKind::Scalar(..) => false,
        NodeKind::Seq(items) => {
            for i in 0..items.len() {
                let it = &mut items[i];
                if it.span.start <= span.start && span.end <= it.span.end.max(span.end) && contains(it.span, span) {
                    if remove_at(it, span) {
                        return true;
                    }
                    items.remove(i);
                    return true;
                }
            }
            false
        }
        NodeKind::Map(entries) => {
            for i in 0..entries.len() {
                let (k, v) = &mut entries[i];
                if k.span == span {
                    entries.remove(i);
                    return true;
                }
                if contains(v.span, span) {
                    if v.span != span && remove_at(v, span) {
                        return true;
                    }
                    entries.remove(i);
                    return true;
                }
            }
            false
        }
    }
}

fn contains(outer: Span, inner: Span) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

/// The dotted path (`health_check.interval`, `containers[0].image`) from
/// `node` to the node at `span`. With `parent_only`, the path of the
/// mapping that holds the key at `span`.
fn field_path(node: &Node, span: Span, parent_only: bool) -> Option<String> {
    fn walk(n: &Node, span: Span, parent_only: bool, path: &mut Vec<String>) -> bool {
        match &n.kind {
            NodeKind::Scalar(..) => false,
            NodeKind::Seq(items) => {
                for (i, it) in items.iter().enumerate() {
                    if contains(it.span, span) {
                        path.push(format!("[{i}]"));
                        if it.span == span || walk(it, span, parent_only, path) {
                            return true;
                        }
                        return !parent_only || it.span == span;
                    }
                }
                false
            }
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    if k.span == span {
                        if !parent_only {
                            path.push(k.as_str().unwrap_or("").to_string());
                        }
                        return true;
                    }
                    if contains(v.span, span) && v.span.len() >= span.len() {
                        path.push(k.as_str().unwrap_or("").to_string());
                        if v.span == span || walk(v, span, parent_only, path) {
                            return true;
                        }
                        return true;
                    }
                }
                false
            }
        }
    }
    let mut path = Vec::new();
    walk(node, span, parent_only, &mut path);
    if path.is_empty() {
        return None;
    }
    let mut s = String::new();
    for p in path {
        if !s.is_empty() && !p.starts_with('[') {
            s.push('.');
        }
        s.push_str(&p);
    }
    Some(s)
}

/// Logical names in file order, with their kinds.
fn resource_names(root: &Node) -> Names {
    let mut names = Names { order: Vec::new(), kinds: HashMap::new() };
    for (k, v) in root.get("resources").and_then(Node::as_map).unwrap_or_default() {
        if let Some(name) = k.as_str() {
            let kind = v.get("kind").and_then(Node::as_str).and_then(Kind::parse);
            if names.kinds.insert(name.to_string(), kind).is_none() {
                names.order.push(name.to_string());
            }
        }
    }
    names
}

/// Each kind's schema, and the definitions its `$ref`s name.
fn kind_schemas() -> &'static (HashMap<Kind, serde_json::Value>, serde_json::Map<String, serde_json::Value>) {
    use std::sync::OnceLock;
    static SCHEMAS: OnceLock<(HashMap<Kind, serde_json::Value>, serde_json::Map<String, serde_json::Value>)> =
        OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let mut g = schemars::generate::SchemaSettings::draft07().into_generator();
        let roots = Kind::ALL.iter().map(|k| (*k, k.schema(&mut g).to_value())).collect();
        (roots, g.definitions().clone())
    })
}

/// The alternatives a schema allows, with `$ref`s followed and `anyOf`,
/// `oneOf` and `allOf` flattened.
fn schema_branches<'a>(
    s: &'a serde_json::Value,
    defs: &'a serde_json::Map<String, serde_json::Value>,
    out: &mut Vec<&'a serde_json::Value>,
) {
    if let Some(r) = s.get("$ref").and_then(|r| r.as_str()) {
        if let Some(d) = r.rsplit('/').next().and_then(|n| defs.get(n)) {
            schema_branches(d, defs, out);
        }
        return;
    }
    let mut nested = false;
    for key in ["anyOf", "oneOf", "allOf"] {
        for b in s.get(key).and_then(|b| b.as_array()).into_iter().flatten() {
            nested = true;
            schema_branches(b, defs, out);
        }
    }
    if !nested || s.get("properties").is_some() {
        out.push(s);
    }
}

/// Why an `ignore_changes` path names nothing of its kind.
struct PathError {
    /// Its first segment is not a field of the kind.
    top: bool,
    /// The segment that is wrong, if one is, by its index.
    segment: Option<usize>,
    message: String,
    label: String,
    help: String,
}

/// The segments of an `ignore_changes` entry of a resource of `kind`
/// (`node`), checked against the kind's schema: each segment is a field of
/// the object before it, the name of an element of a list of named
/// elements the file has, or a key of a map (which the file need not have:
/// another tool may add it); `*` is every element or key.
fn ignore_path(kind: Kind, node: &Node, text: &str) -> Result<Vec<String>, PathError> {
    let path = crate::fieldpath::parse(text).map_err(|why| PathError {
        top: false,
        segment: None,
        message: "not a path".into(),
        label: why,
        help: "write a field, and the fields, element names or keys under it, joined by dots: `health_check.interval`, `tags.CostCenter`".into(),
    })?;
    let (roots, defs) = kind_schemas();
    let Some(root) = roots.get(&kind) else { return Ok(path) };
    let mut schema = root;
    let mut here: Option<&Node> = Some(node);
    let mut parent: Option<String> = None;
    for (i, seg) in path.iter().enumerate() {
        let mut alts = Vec::new();
        schema_branches(schema, defs, &mut alts);
        let fields: Vec<&str> = alts
            .iter()
            .filter_map(|a| a.get("properties").and_then(|p| p.as_object()))
            .flat_map(|p| p.keys().map(String::as_str))
            .collect();
        if let Some(next) = alts.iter().find_map(|a| a.get("properties").and_then(|p| p.get(seg))) {
            schema = next;
            here = here.and_then(|n| n.get(seg));
        } else if let Some(items) = alts.iter().find_map(|a| {
            let items = a.get("items")?;
            let mut named = Vec::new();
            schema_branches(items, defs, &mut named);
            named
                .iter()
                .any(|x| x.get("properties").and_then(|p| p.get(crate::fieldpath::ELEMENT_NAME)).is_some())
                .then_some(items)
        }) {
            let list = parent.clone().unwrap_or_default();
            match here.map(|n| &n.kind) {
                // Every element, as a last segment: the whole list, which
                // keeps elements only AWS has too.
                _ if seg == crate::fieldpath::EVERY && i + 1 == path.len() => {
                    return Err(PathError {
                        top: false,
                        segment: Some(i),
                        message: format!("`{list}.*` names every element of `{list}`: that is `{list}`"),
                        label: "the whole list".into(),
                        help: format!("write `{list}`, or a field of each element: `{list}.*.<field>`"),
                    })
                }
                // Every element: what follows is checked against the schema only.
                _ if seg == crate::fieldpath::EVERY => here = None,
                // A list the file sets by a variable: its names are not known here.
                Some(NodeKind::Scalar(..)) => here = None,
                other => {
                    let elements: &[Node] = match other {
                        Some(NodeKind::Seq(items)) => items,
                        _ => &[],
                    };
                    let names: Vec<&str> =
                        elements.iter().filter_map(|e| e.get(crate::fieldpath::ELEMENT_NAME)?.as_str()).collect();
                    match elements
                        .iter()
                        .find(|e| e.get(crate::fieldpath::ELEMENT_NAME).and_then(Node::as_str) == Some(seg))
                    {
                        Some(e) => here = Some(e),
                        None if names.iter().any(|n| n.contains("${")) => here = None,
                        None => {
                            return Err(PathError {
                                top: false,
                                segment: Some(i),
                                message: format!("no element of `{list}` is named `{}`", abbreviate(seg)),
                                label: format!("no such element of `{list}`"),
                                help: if names.is_empty() {
                                    format!("the file gives `{list}` no elements")
                                } else {
                                    did_you_mean(seg, &names, "name")
                                },
                            })
                        }
                    }
                }
            }
            schema = items;
        } else if let Some(values) = alts.iter().find_map(|a| a.get("additionalProperties").filter(|v| v.is_object())) {
            // A key of a map: the file need not have it.
            schema = values;
            here = here.and_then(|n| n.get(seg));
        } else if i == 0 {
            return Err(PathError {
                top: true,
                segment: Some(i),
                message: String::new(),
                label: String::new(),
                help: did_you_mean(seg, &fields, "field"),
            });
        } else {
            let before = parent.clone().unwrap_or_default();
            let (message, label, help) = if !fields.is_empty() {
                (
                    format!("`{}` is not a field of `{before}`", abbreviate(seg)),
                    format!("not a field of `{before}`"),
                    did_you_mean(seg, &fields, "field"),
                )
            } else if alts.iter().any(|a| a.get("items").is_some()) {
                (
                    format!("the elements of `{before}` have no names"),
                    "a list is ignored whole".to_string(),
                    format!("write `{before}` to ignore the whole list"),
                )
            } else {
                (
                    format!("`{before}` is a single value, with nothing under it"),
                    "nothing under a single value".to_string(),
                    format!("write `{before}` to ignore it"),
                )
            };
            return Err(PathError { top: false, segment: Some(i), message, label, help });
        }
        parent = Some(crate::fieldpath::show(&path[..=i]));
    }
    Ok(path)
}

/// The span of one segment of an `ignore_changes` entry, where the file
/// writes the entry as is; else the whole entry's.
fn segment_span(text: &str, span: Span, entry: &str, segment: Option<usize>) -> Span {
    let (Some(index), Some(written)) = (segment, text.get(span.start..span.end)) else { return span };
    let Some(path) = crate::fieldpath::parse(entry).ok().filter(|_| written == entry) else { return span };
    // The segments come in order: each is found after those before it.
    let mut from = 0;
    for (i, s) in path.iter().enumerate() {
        let Some(at) = entry[from..].find(s.as_str()) else { return span };
        if i == index {
            return Span::new(span.start + from + at, span.start + from + at + s.len());
        }
        from += at + s.len();
    }
    span
}

/// The top-level fields each kind requires, from its schema.
fn required_fields(kind: Kind) -> &'static [&'static str] {
    use std::sync::OnceLock;
    static REQUIRED: OnceLock<HashMap<Kind, Vec<&'static str>>> = OnceLock::new();
    REQUIRED
        .get_or_init(|| {
            let mut g = schemars::generate::SchemaSettings::draft07().into_generator();
            Kind::ALL
                .iter()
                .map(|k| {
                    let schema = k.schema(&mut g).to_value();
                    let req = schema
                        .get("required")
                        .and_then(|r| r.as_array())
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str())
                                .map(|s| &*Box::leak(s.to_string().into_boxed_str()))
                                .collect()
                        })
                        .unwrap_or_default();
                    (*k, req)
                })
                .collect()
        })
        .get(&kind)
        .map_or(&[], Vec::as_slice)
}

fn insert_placeholder(node: &mut Node, key: &str, value: &str) {
    if let NodeKind::Map(entries) = &mut node.kind {
        let at = Span::new(node.span.start, node.span.start);
        entries.push((Node::scalar(key, yaml::Style::Plain, at), Node::scalar(value, yaml::Style::Plain, at)));
    }
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

/// What a stack name may be, as the help of a mistake says it.
pub const STACK_NAME_RULE: &str =
    "a stack name is 1–64 letters, digits and hyphens, starting with a letter (it prefixes resource names)";

/// Whether `name` follows [`STACK_NAME_RULE`].
pub fn stack_name_is_valid(name: &str) -> bool {
    name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.ends_with('-')
}

pub(crate) fn key_span(root: &Node, path: &[&str]) -> Span {
    // Callers name a key: the path is never empty.
    let (last, parent) = path.split_last().expect("non-empty path");
    root.path(parent).and_then(|p| p.entry(last)).map_or_else(Span::default, |(k, _)| k.span)
}

/// The commit of the work tree, by `git rev-parse HEAD`.
/// The commit `${git.sha}` names with these options.
pub fn head_commit(opts: &LoadOptions) -> Result<String, String> {
    match &opts.git_sha {
        Some(sha) => Ok(sha.clone()),
        None => git_sha(opts.git_dir.as_deref()),
    }
}

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
