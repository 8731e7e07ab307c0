//! `docs/stack-reference.md`, the reference of the stack file, is generated
//! here from the same types that read the file: the JSON Schema
//! (`moor::schema`, built by schemars from the Rust types and their doc
//! comments, one branch per `Kind::ALL`) and each kind's exported
//! attributes (`Kind::attributes`).
//!
//! The test fails when the committed page is stale. Regenerate it with
//!
//! ```sh
//! UPDATE_REFERENCE=1 cargo test --test reference
//! ```

use moor::model::{AttrType, Kind};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;

const OUTPUT: &str = "docs/stack-reference.md";
const REGENERATE: &str = "UPDATE_REFERENCE=1 cargo test --test reference";

/// The start of the `${var.name}` alternative that every number, boolean
/// and list field accepts besides its own type.
const VAR_PATTERN_PREFIX: &str = r"^\$\{\s*var\.";
/// The pattern of a field that takes a whole `${resource.attribute}` list.
const LIST_REFERENCE_PATTERN: &str = r"^\$\{[^}]+\}$";

/// Definitions that have a section of their own: name → (link text, section key).
fn section_of(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "VariableDecl" => Some(("variable", "variables")),
        "OutputDecl" => Some(("output", "outputs")),
        "Resource" => Some(("resource", "resources")),
        _ => None,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}

/// A value as JSON with a space after `,` and `:`, as the page writes it.
fn json_text(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(json_text).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", json_text(&Value::String(k.clone())), json_text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::String(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    c if (c as u32) < 0x20 || (c as u32) > 0x7f => {
                        let mut buf = [0u16; 2];
                        for u in c.encode_utf16(&mut buf) {
                            out.push_str(&format!("\\u{:04x}", u));
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        other => other.to_string(),
    }
}

fn code(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        other => format!("`{}`", json_text(other)),
    }
}

/// GitHub's heading anchors: lower case, punctuation dropped, spaces to
/// hyphens, `-1`, `-2`… for repeats.
#[derive(Default)]
struct Slugs {
    seen: HashMap<String, usize>,
}

impl Slugs {
    fn make(&mut self, heading: &str) -> String {
        // HTML tags go, then backticks.
        let mut text = String::new();
        let mut rest = heading;
        while let Some(i) = rest.find('<') {
            match rest[i + 1..].find('>') {
                Some(j) if j > 0 => {
                    text.push_str(&rest[..i]);
                    rest = &rest[i + j + 2..];
                }
                _ => {
                    text.push_str(&rest[..=i]);
                    rest = &rest[i + 1..];
                }
            }
        }
        text.push_str(rest);
        let text = text.replace('`', "");
        let slug: String = text
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '_' || *c == '-' || *c == ' ')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = self.seen.entry(slug.clone()).or_default();
        *n += 1;
        if *n == 1 {
            slug
        } else {
            format!("{slug}-{}", *n - 1)
        }
    }
}

struct Reference<'a> {
    schema: &'a Value,
    defs: &'a Map<String, Value>,
    out: Vec<String>,
    /// Heading texts, in page order.
    headings: Vec<String>,
    /// Section key → index in `headings`.
    keys: HashMap<String, usize>,
}

fn get<'v>(s: &'v Value, key: &str) -> Option<&'v Value> {
    s.as_object().and_then(|o| o.get(key))
}

fn str_of<'v>(s: &'v Value, key: &str) -> Option<&'v str> {
    get(s, key).and_then(Value::as_str)
}

fn empty_list() -> &'static Vec<Value> {
    static EMPTY: Vec<Value> = Vec::new();
    &EMPTY
}

fn list_of<'v>(s: &'v Value, key: &str) -> &'v Vec<Value> {
    get(s, key).and_then(Value::as_array).unwrap_or(empty_list())
}

fn is_var_alternative(s: &Value) -> bool {
    str_of(s, "type") == Some("string") && str_of(s, "pattern").is_some_and(|p| p.starts_with(VAR_PATTERN_PREFIX))
}

/// `base` with `key` removed and the members of `with` put in.
fn merged(base: &Map<String, Value>, key: &str, with: &Value) -> Value {
    let mut m = base.clone();
    m.shift_remove(key);
    if let Some(w) = with.as_object() {
        for (k, v) in w {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}

fn required_of(s: &Value) -> Vec<String> {
    list_of(s, "required").iter().filter_map(Value::as_str).map(str::to_string).collect()
}

impl<'a> Reference<'a> {
    fn new(schema: &'a Value) -> Self {
        static NO_DEFS: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let defs = get(schema, "definitions")
            .or_else(|| get(schema, "$defs"))
            .and_then(Value::as_object)
            .unwrap_or_else(|| NO_DEFS.get_or_init(Map::new));
        Reference { schema, defs, out: Vec::new(), headings: Vec::new(), keys: HashMap::new() }
    }

    fn ref_name(&self, s: &Value) -> Option<String> {
        let r = str_of(s, "$ref").filter(|r| !r.is_empty())?;
        let name = r.rsplit('/').next().unwrap_or(r).to_string();
        assert!(self.defs.contains_key(&name), "unresolved $ref {r}");
        Some(name)
    }

    fn is_table_type(&self, name: &str) -> bool {
        let d = &self.defs[name];
        str_of(d, "type") == Some("object") && get(d, "properties").is_some()
    }

    /// Names of the definitions `s` uses, in order of first use (transitively).
    fn refs_in(&self, s: &Value, acc: &mut Vec<String>) {
        match s {
            Value::Object(o) => {
                if let Some(name) = self.ref_name(s) {
                    if !acc.contains(&name) {
                        acc.push(name.clone());
                        self.refs_in(&self.defs[&name], acc);
                    }
                }
                for (k, v) in o {
                    if k != "$ref" {
                        self.refs_in(v, acc);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| self.refs_in(v, acc)),
            _ => {}
        }
    }

    /// The field's own type: without `null` and the `${var.…}` alternative.
    fn strip(&self, s: &Value) -> Value {
        let Some(o) = s.as_object() else { return s.clone() };
        for key in ["anyOf", "oneOf"] {
            let alts = list_of(s, key);
            if !alts.is_empty() {
                let kept: Vec<&Value> =
                    alts.iter().filter(|a| !is_var_alternative(a) && str_of(a, "type") != Some("null")).collect();
                if kept.len() == 1 && kept.len() < alts.len() {
                    return self.strip(&merged(o, key, kept[0]));
                }
            }
        }
        let all = list_of(s, "allOf");
        if o.contains_key("allOf") && all.len() == 1 {
            return self.strip(&merged(o, "allOf", &all[0]));
        }
        if let Some(Value::Array(t)) = o.get("type") {
            let rest: Vec<Value> = t.iter().filter(|x| x.as_str() != Some("null")).cloned().collect();
            let mut o = o.clone();
            o.insert("type".into(), if rest.len() == 1 { rest[0].clone() } else { Value::Array(rest) });
            return Value::Object(o);
        }
        s.clone()
    }

    /// A short markdown type expression.
    fn type_of(&self, s: &Value) -> String {
        if *s == Value::Bool(true) || s.as_object().is_some_and(Map::is_empty) {
            return "any value".into();
        }
        let s = self.strip(s);
        if let Some(name) = self.ref_name(&s) {
            if let Some((text, key)) = section_of(&name) {
                return link(text, key);
            }
            if self.is_table_type(&name) {
                return link(&name, &format!("type:{name}"));
            }
            return self.type_of(&self.defs[&name]);
        }
        if let Some(c) = get(&s, "const") {
            return code(c);
        }
        if let Some(e) = get(&s, "enum") {
            return e.as_array().into_iter().flatten().map(code).collect::<Vec<_>>().join(" | ");
        }
        for key in ["anyOf", "oneOf"] {
            if get(&s, key).is_some() {
                let mut parts: Vec<String> = Vec::new();
                for a in list_of(&s, key).iter().filter(|a| !is_var_alternative(a)) {
                    let p = self.type_of(a);
                    if !parts.contains(&p) {
                        parts.push(p);
                    }
                }
                return parts.join(" or ");
            }
        }
        let t = get(&s, "type");
        match t.and_then(Value::as_str) {
            Some("array") => {
                return format!("list of {}", self.type_of(get(&s, "items").unwrap_or(&Value::Bool(true))))
            }
            Some("object") => {
                if let Some(props) = get(&s, "properties").and_then(Value::as_object).filter(|p| !p.is_empty()) {
                    let inner: Vec<String> = props.iter().map(|(k, v)| format!("`{k}:` {}", self.type_of(v))).collect();
                    return format!("{{ {} }}", inner.join(", "));
                }
                if let Some(ap) = get(&s, "additionalProperties").filter(|a| a.is_object()) {
                    return format!("map of name → {}", self.type_of(ap));
                }
                return "mapping".into();
            }
            Some("string") if str_of(&s, "pattern") == Some(LIST_REFERENCE_PATTERN) => {
                return "`${resource.attribute}` list reference".into();
            }
            _ => {}
        }
        match t {
            Some(Value::Array(ts)) => {
                ts.iter().map(|x| x.as_str().unwrap_or_default()).collect::<Vec<_>>().join(" or ")
            }
            Some(Value::String(t)) if !t.is_empty() => t.clone(),
            _ => panic!("cannot describe schema {}", s.to_string().chars().take(200).collect::<String>()),
        }
    }

    fn default_of(s: &Value) -> Option<Value> {
        let o = s.as_object()?;
        if let Some(d) = o.get("default") {
            return Some(d.clone()).filter(|d| !d.is_null());
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for a in list_of(s, key) {
                if let Some(d) = Self::default_of(a) {
                    return Some(d);
                }
            }
        }
        None
    }

    fn description_of(&self, s: &Value) -> String {
        let mut d = one_line(str_of(s, "description").unwrap_or_default());
        let shown = |v: &Value| match v {
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            Value::String(s) => !s.is_empty(),
            Value::Null => false,
            _ => true,
        };
        if let Some(default) = Self::default_of(s).filter(shown) {
            if !d.to_lowercase().contains("default") {
                if !d.is_empty() {
                    d.push(' ');
                }
                d.push_str(&format!("Default: {}.", code(&default)));
            }
        }
        d
    }

    // Links are written as placeholders, `(#@key@)`, and resolved once the
    // whole page exists, from the GitHub anchors of its headings in order.

    fn emit(&mut self, lines: &[&str]) {
        self.out.extend(lines.iter().map(|l| l.to_string()));
    }

    fn heading(&mut self, level: usize, text: &str, key: Option<&str>) {
        if let Some(key) = key {
            assert!(!self.keys.contains_key(key), "two headings for {key}");
            self.keys.insert(key.to_string(), self.headings.len());
        }
        self.headings.push(text.to_string());
        self.emit(&[&format!("{} {text}", "#".repeat(level)), ""]);
    }

    fn table(&mut self, props: &Map<String, Value>, required: &[String], skip: &[String]) {
        let rows: Vec<(&String, &Value)> = props.iter().filter(|(k, _)| !skip.contains(k)).collect();
        if rows.is_empty() {
            self.emit(&["No fields.", ""]);
            return;
        }
        let mut lines = vec!["| Field | Type | Required | Description |".to_string(), "|---|---|---|---|".to_string()];
        for (k, v) in rows {
            lines.push(format!(
                "| `{k}` | {} | {} | {} |",
                cell(&self.type_of(v)),
                if required.contains(k) { "yes" } else { "no" },
                cell(&self.description_of(v))
            ));
        }
        lines.push(String::new());
        self.out.extend(lines);
    }

    fn type_section(&mut self, name: &str, level: usize) {
        let d = self.defs[name].clone();
        self.heading(level, name, Some(&format!("type:{name}")));
        if let Some(desc) = str_of(&d, "description").filter(|s| !s.is_empty()) {
            self.emit(&[&one_line(desc), ""]);
        }
        let props = get(&d, "properties").and_then(Value::as_object).cloned().unwrap_or_default();
        self.table(&props, &required_of(&d), &[]);
    }

    fn generate(mut self) -> String {
        let s = self.schema;
        let resource = self.defs.get("Resource").expect("definitions.Resource");
        let branches = list_of(resource, "allOf");
        assert!(!branches.is_empty(), "definitions.Resource has no allOf of kinds");
        assert_eq!(branches.len(), Kind::ALL.len(), "one schema branch per kind");
        // The kinds in `Kind::ALL` order, each with its schema branch.
        let kinds: Vec<(Kind, Value)> = Kind::ALL
            .iter()
            .map(|&kind| {
                let then = branches
                    .iter()
                    .filter_map(|b| get(b, "then"))
                    .find(|t| {
                        get(t, "properties").and_then(|p| get(p, "kind")).and_then(|k| str_of(k, "const"))
                            == Some(kind.as_str())
                    })
                    .unwrap_or_else(|| panic!("no schema branch for {kind}"));
                (kind, then.clone())
            })
            .collect();
        let props_of = |then: &Value| get(then, "properties").and_then(Value::as_object).cloned().unwrap_or_default();

        // Fields every kind has, documented once.
        let first = props_of(&kinds[0].1);
        let common: Vec<String> = first
            .iter()
            .filter(|(k, v)| kinds.iter().all(|(_, then)| props_of(then).get(*k) == Some(*v)))
            .map(|(k, _)| k.clone())
            .collect();

        // Where each object type is documented: under the only kind that
        // uses it, under the top-level section that uses it, or with the
        // shared types.
        let mut users: HashMap<String, Vec<Kind>> = HashMap::new();
        let mut kind_types: HashMap<Kind, Vec<String>> = HashMap::new();
        for (kind, then) in &kinds {
            let mut acc = Vec::new();
            self.refs_in(then, &mut acc);
            let used: Vec<String> = acc.into_iter().filter(|n| self.is_table_type(n)).collect();
            for n in &used {
                users.entry(n.clone()).or_default().push(*kind);
            }
            kind_types.insert(*kind, used);
        }
        let mut header = get(s, "properties").and_then(Value::as_object).cloned().unwrap_or_default();
        header.shift_remove("resources");
        let mut acc = Vec::new();
        self.refs_in(&Value::Object(header), &mut acc);
        // The mapping form of an output is shown in the Outputs section.
        let output_form = self.defs.get("OutputDecl").and_then(|o| {
            list_of(o, "anyOf")
                .iter()
                .chain(list_of(o, "oneOf"))
                .find_map(|a| str_of(a, "$ref").and_then(|r| r.rsplit('/').next()).map(str::to_string))
        });
        let top_types: Vec<String> = acc
            .into_iter()
            .filter(|n| self.is_table_type(n) && section_of(n).is_none() && output_form.as_ref() != Some(n))
            .collect();
        let shared: Vec<String> = self
            .defs
            .keys()
            .filter(|n| self.is_table_type(n) && users.get(*n).map_or(0, Vec::len) > 1 && !top_types.contains(n))
            .cloned()
            .collect();
        let own = |kind: Kind| -> Vec<String> {
            kind_types[&kind].iter().filter(|n| users[*n].len() == 1 && !top_types.contains(n)).cloned().collect()
        };

        let title = str_of(s, "title").unwrap_or("Stack file");
        let mut title_chars = title.chars();
        let title = match title_chars.next() {
            Some(c) => c.to_uppercase().chain(title_chars).collect::<String>(),
            None => String::new(),
        };
        self.emit(&[
            "<!-- Generated by tests/reference.rs from the stack schema (moor::schema)",
            &format!("     and Kind::attributes. Do not edit; run `{REGENERATE}`. -->"),
            "",
        ]);
        self.heading(1, &format!("{title} reference"), None);
        let desc = one_line(str_of(s, "description").unwrap_or_default());
        let intro = format!(
            "{}This page lists every field of a stack file, kind by kind, and the attributes each kind exports to \
             `${{resource.attribute}}` references. Editors that read `schemas/stack.schema.json` check the same \
             fields as you type.",
            if desc.is_empty() { String::new() } else { format!("{desc} ") }
        );
        self.emit(&[
            &intro,
            "",
            "Conventions:",
            "",
            "- **Required** fields must be set; the others may be left out.",
            "- A number, boolean or list field may also be written as one whole `${var.name}`; the variable's value \
             must have the field's type.",
            "- A `${resource.attribute}` reference makes a dependency: the referenced resource is created first and \
             deleted last.",
            "- A list attribute or list variable may be indexed or sliced: `${net.subnet_ids[0]}` is one item \
             (`[-1]` the last), `${net.subnet_ids[0:2]}` a list of the first two.",
            "- Built-in values: `${stack}` (the stack name), `${region}`, `${partition}` (the region's ARN \
             partition: `aws`, `aws-cn`, `aws-us-gov`), `${account_id}` (the account of the credentials, as \
             `sts:GetCallerIdentity` answers it; not in the stack name or `--tag`), `${git.sha}` and \
             `${git.short_sha}` (the commit checked out where moor runs). An ARN needs no hard-coded account: \
             `arn:${partition}:iam::${account_id}:role/deploy-*`.",
            "",
            "Contents:",
            "",
            &format!("- {}", link("Top-level fields", "top")),
            &format!("- {}", link("Variables", "variables")),
            &format!("- {}", link("Outputs", "outputs")),
            &format!("- {}", link("Resources", "resources")),
        ]);
        for (kind, _) in &kinds {
            self.emit(&[&format!("  - {}", link(&format!("`{kind}`"), &format!("kind:{kind}")))]);
        }
        if !shared.is_empty() {
            self.emit(&[&format!("- {}", link("Shared types", "shared"))]);
        }
        self.emit(&[""]);

        self.heading(2, "Top-level fields", Some("top"));
        let top = get(s, "properties").and_then(Value::as_object).cloned().unwrap_or_default();
        self.table(&top, &required_of(s), &[]);

        self.heading(2, "Variables", Some("variables"));
        self.emit(&[
            "Each entry of `variables:` declares one input, used as `${var.name}`. A variable without `default` is \
             required: set it with `--var name=value`, `--var-file file.yaml` or the environment variable \
             `MOOR_VAR_name`.",
            "",
        ]);
        if let Some(vdecl) = self.defs.get("VariableDecl").cloned() {
            let props = get(&vdecl, "properties").and_then(Value::as_object).cloned().unwrap_or_default();
            self.table(&props, &required_of(&vdecl), &[]);
        }
        for n in &top_types {
            self.type_section(n, 3);
        }

        self.heading(2, "Outputs", Some("outputs"));
        self.emit(&[
            "Each entry of `outputs:` is a string, usually with references, or a mapping with these fields:",
            "",
        ]);
        let odecl = self.defs.get("OutputDecl").cloned().unwrap_or(Value::Null);
        let obj = list_of(&odecl, "anyOf").iter().chain(list_of(&odecl, "oneOf")).find_map(|a| {
            match str_of(a, "$ref").and_then(|r| r.rsplit('/').next()) {
                Some(name) => self.defs.get(name).cloned(),
                None => (str_of(a, "type") == Some("object")).then(|| a.clone()),
            }
        });
        if let Some(obj) = obj {
            let props = get(&obj, "properties").and_then(Value::as_object).cloned().unwrap_or_default();
            self.table(&props, &required_of(&obj), &[]);
        }

        self.heading(2, "Resources", Some("resources"));
        self.emit(&[
            "Each entry of `resources:` is one resource under its logical name; its `kind` decides its other fields.",
            "",
        ]);
        self.heading(3, "Fields of every resource", None);
        self.emit(&["Besides `kind` (required), which names one of the kinds below, every resource takes:", ""]);
        let common_props: Map<String, Value> = common.iter().map(|k| (k.clone(), first[k].clone())).collect();
        self.table(&common_props, &required_of(&kinds[0].1), &[]);

        for (kind, then) in &kinds {
            self.heading(3, &format!("`{kind}`"), Some(&format!("kind:{kind}")));
            if let Some(d) = str_of(then, "description").filter(|d| !d.is_empty()) {
                self.emit(&[&one_line(d), ""]);
            }
            self.table(&props_of(then), &required_of(then), &common);
            self.emit(&["Attributes, for `${name.attribute}` references:", ""]);
            let attrs = kind.attributes();
            if attrs.is_empty() {
                self.emit(&["None."]);
            } else {
                self.emit(&["| Attribute | Type | Description |", "|---|---|---|"]);
                for a in attrs {
                    let ty = match a.ty {
                        AttrType::String => "string",
                        AttrType::Integer => "integer",
                        AttrType::List => "list",
                    };
                    self.emit(&[&format!("| `{}` | {ty} | {} |", a.name, cell(a.doc))]);
                }
            }
            self.emit(&[""]);
            for n in own(*kind) {
                self.type_section(&n, 4);
            }
        }

        if !shared.is_empty() {
            self.heading(2, "Shared types", Some("shared"));
            self.emit(&["Types used by more than one kind.", ""]);
            for n in &shared {
                self.type_section(n, 3);
            }
        }

        let text = format!("{}\n", self.out.join("\n").trim_end_matches('\n'));
        let text = self.resolve(&text);
        check_links(&text);
        text
    }

    fn resolve(&self, text: &str) -> String {
        let mut slugs = Slugs::default();
        let anchors: Vec<String> = self.headings.iter().map(|h| slugs.make(h)).collect();
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("(#@") {
            let after = &rest[i + 3..];
            let j = after.find("@)").expect("a placeholder ends with @)");
            let key = &after[..j];
            let at = self.keys.get(key).unwrap_or_else(|| panic!("link to {key}, which has no section"));
            out.push_str(&rest[..i]);
            out.push_str(&format!("(#{})", anchors[*at]));
            rest = &after[j + 2..];
        }
        out.push_str(rest);
        out
    }
}

fn link(text: &str, key: &str) -> String {
    format!("[{text}](#@{key}@)")
}

/// Every `](#anchor)` points at a heading of the page.
fn check_links(text: &str) {
    let mut slugs = Slugs::default();
    let mut anchors = std::collections::BTreeSet::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if hashes > 0 && !in_code {
            if let Some(h) = line[hashes..].strip_prefix(' ') {
                anchors.insert(slugs.make(h));
            }
        }
    }
    let mut broken = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("](#") {
        let after = &rest[i + 3..];
        match after.find(')') {
            Some(j) if j > 0 => {
                let target = &after[..j];
                if !anchors.contains(target) {
                    broken.insert(target.to_string());
                }
                rest = &after[j..];
            }
            _ => rest = after,
        }
    }
    assert!(broken.is_empty(), "links to missing headings: {broken:?}");
}

/// The reference page, from the schema and the attributes.
fn generate() -> String {
    let schema: Value = serde_json::from_str(&moor::schema::stack_schema_json()).expect("the schema is JSON");
    Reference::new(&schema).generate()
}

#[test]
fn the_stack_reference_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(OUTPUT);
    let text = generate();
    if std::env::var_os("UPDATE_REFERENCE").is_some_and(|v| !v.is_empty() && v != "0") {
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, &text).expect("write the reference");
            eprintln!("wrote {OUTPUT}");
        }
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != text {
        let line = current
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(current.lines().count().min(text.lines().count()));
        panic!(
            "{OUTPUT} is stale (first difference at line {}:\n  committed: {:?}\n  generated: {:?});\nregenerate it with `{REGENERATE}`",
            line + 1,
            current.lines().nth(line).unwrap_or("(end of file)"),
            text.lines().nth(line).unwrap_or("(end of file)"),
        );
    }
}

#[test]
fn every_kind_and_every_attribute_is_in_the_reference() {
    let text = generate();
    for kind in Kind::ALL {
        assert!(text.contains(&format!("### `{kind}`")), "no section for {kind}");
        for a in kind.attributes() {
            assert!(text.contains(&format!("| `{}` |", a.name)), "{kind}: no row for attribute {}", a.name);
        }
    }
}

/// Every kind `moor import` can adopt (every kind but the lookups) says in
/// its section which id the command takes.
#[test]
fn every_importable_kind_names_the_id_moor_import_takes() {
    let text = generate();
    for kind in Kind::ALL.into_iter().filter(|k| !k.is_lookup()) {
        let start = text.find(&format!("### `{kind}`")).unwrap_or_else(|| panic!("no section for {kind}"));
        let rest = &text[start + 4..];
        let section = &rest[..rest.find("\n### ").or_else(|| rest.find("\n## ")).unwrap_or(rest.len())];
        assert!(
            section.contains("`moor import` takes"),
            "{kind}: its section does not say which id `moor import` takes"
        );
    }
}

/// Every built-in `${...}` value the loader knows is named in the
/// conventions.
#[test]
fn every_built_in_value_is_in_the_reference() {
    let text = generate();
    let conventions = text.split("Contents:").next().unwrap();
    for name in ["stack", "region", "partition", "account_id", "git.sha", "git.short_sha"] {
        let written = format!("`${{{name}}}`");
        assert!(conventions.contains(&written), "{written} is not in the reference's conventions");
    }
}

#[test]
fn anchors_follow_github() {
    let mut s = Slugs::default();
    assert_eq!(s.make("`ecr/repository`"), "ecrrepository");
    assert_eq!(s.make("Top-level fields"), "top-level-fields");
    assert_eq!(s.make("Top-level fields"), "top-level-fields-1");
    assert_eq!(s.make("<a>x</a> Y_z"), "x-y_z");
}

#[test]
fn values_are_written_as_json_with_spaces() {
    let v = serde_json::json!({ "keep": [1, "é\n"], "on": false });
    assert_eq!(json_text(&v), r#"{"keep": [1, "\u00e9\n"], "on": false}"#);
    assert_eq!(code(&serde_json::json!("allow")), "`allow`");
    assert_eq!(code(&serde_json::json!([])), "`[]`");
}

#[test]
fn each_section_shows_its_own_fields() {
    let page = generate();
    let section = |title: &str| {
        let start = page.find(&format!("\n## {title}\n")).unwrap_or_else(|| panic!("no section {title}"));
        let rest = &page[start + 1..];
        let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
        rest[..end].to_string()
    };
    let (variables, outputs) = (section("Variables"), section("Outputs"));
    assert!(outputs.contains("| `value` |"), "an output's mapping form is in Outputs:\n{outputs}");
    assert!(!variables.contains("| `value` |"), "and not in Variables:\n{variables}");
}
