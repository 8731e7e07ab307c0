//! The helper through which resource kinds report what is wrong with them.
//!
//! Kinds speak in paths inside their own mapping (`["health_check",
//! "path"]`); the checker turns a path into the span of that node, so a rule
//! never handles offsets itself.

use crate::diag::{Diag, SourceFile};
use crate::yaml::{Node, Span};
use std::sync::Arc;

pub struct Checker<'a> {
    pub file: &'a Arc<SourceFile>,
    /// The resource's mapping.
    pub node: &'a Node,
    /// The resource's key in `resources:`.
    pub key_span: Span,
    pub logical: &'a str,
    pub diags: &'a mut Vec<Diag>,
}

impl Checker<'_> {
    /// The span of the node at `path`, or of the nearest node above it.
    pub fn span(&self, path: &[&str]) -> Span {
        for len in (1..=path.len()).rev() {
            if let Some(n) = self.node.path(&path[..len]) {
                // Point at the key for a mapping or list value: the whole
                // block is too large to underline.
                if !matches!(n.kind, crate::yaml::NodeKind::Scalar(..)) {
                    if let Some(parent) = self.node.path(&path[..len - 1]) {
                        if let Some((k, _)) = parent.entry(path[len - 1]) {
                            return k.span;
                        }
                    }
                }
                return n.span;
            }
        }
        self.key_span
    }

    /// Whether the resource's mapping sets `path`.
    pub fn has(&self, path: &[&str]) -> bool {
        self.node.path(path).is_some()
    }

    pub fn error(
        &mut self,
        code: &'static str,
        path: &[&str],
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> &mut Diag {
        let span = self.span(path);
        self.diags.push(Diag::error(code, message).in_file(self.file).label(span, label));
        self.diags.last_mut().expect("just pushed")
    }

    pub fn warning(
        &mut self,
        code: &'static str,
        path: &[&str],
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> &mut Diag {
        let span = self.span(path);
        self.diags.push(Diag::warning(code, message).in_file(self.file).label(span, label));
        self.diags.last_mut().expect("just pushed")
    }

    /// Ports are 1–65535.
    pub fn port(&mut self, path: &[&str], port: u32) {
        if !(1..=65535).contains(&port) {
            self.error("moor::port", path, format!("port {port} is out of range"), "not a valid port").help =
                Some("ports are 1–65535".into());
        }
    }

    /// A number within an inclusive range.
    pub fn range(&mut self, path: &[&str], what: &str, value: u64, min: u64, max: u64) {
        if value < min || value > max {
            self.error(
                "moor::out-of-range",
                path,
                format!("{what} {value} is out of range"),
                format!("must be {min}–{max}"),
            );
        }
    }
}

/// Keeps the `name` field's checks in one place for every kind.
pub struct NameRule {
    pub what: &'static str,
    pub max: usize,
    pub charset: fn(char) -> bool,
    pub charset_text: &'static str,
    /// Extra rule on the whole name, returning a message when it fails.
    pub extra: Option<fn(&str) -> Option<&'static str>>,
}

impl NameRule {
    /// Checks a literal name (names with `${…}` are checked after apply
    /// resolves them).
    pub fn check(&self, c: &mut Checker, path: &[&str], name: &str) {
        if name.contains("${") {
            return;
        }
        let len = name.chars().count();
        let shown = crate::text::abbreviate(name);
        if len == 0 || len > self.max {
            c.error(
                "moor::name-length",
                path,
                format!("{} `{shown}` is {len} characters long", self.what),
                format!("at most {} characters", self.max),
            )
            .help = Some(format!("shorten it to {} characters or fewer", self.max));
        }
        if let Some(bad) = name.chars().find(|ch| !(self.charset)(*ch)) {
            let what = match bad {
                ' ' => "a space".to_string(),
                '\t' => "a tab".to_string(),
                c if c.is_control() => format!("the control character U+{:04X}", c as u32),
                c => format!("`{c}`"),
            };
            c.error(
                "moor::name-charset",
                path,
                format!("{} `{shown}` contains {what}", self.what),
                "character not allowed here",
            )
            .help = Some(format!("{}s may contain {}", self.what, self.charset_text));
        } else if let Some(msg) = self.extra.and_then(|f| f(name)) {
            c.error("moor::name-format", path, format!("{} `{shown}` {msg}", self.what), "invalid name");
        }
    }
}

pub fn iam_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

pub fn alnum_hyphen(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

pub fn alnum_hyphen_underscore(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// IAM paths: `/` or `/segments/`.
pub fn check_iam_path(c: &mut Checker, path: &[&str], p: &str) {
    let ok = p.starts_with('/')
        && p.ends_with('/')
        && p.len() <= 512
        && p.chars().all(|ch| ch == '/' || ch.is_ascii_alphanumeric() || "+=,.@_-".contains(ch));
    if !ok {
        c.error("moor::iam-path", path, format!("IAM path `{p}` is not valid"), "invalid path").help =
            Some("an IAM path starts and ends with `/`, like `/` or `/apps/web/`".into());
    }
}
