//! A YAML document as a tree in which every node keeps its source span.
//!
//! Why not deserialize straight from the YAML text: moor must point at the
//! exact line and column of every mistake (and of every `${…}` reference),
//! and must report every mistake of a file in one run. A tree with spans lets
//! the loader deserialize each resource on its own, look up the location of
//! any field after the fact, and rewrite variables before typing.
//!
//! Hostile input is bounded here, before anything else sees it: the file
//! size, the nesting depth and the number of nodes after alias expansion
//! (which is what an alias bomb inflates) all have hard limits.

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};
use std::collections::HashMap;

/// Byte range in the source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> Self {
        (s.start, s.len()).into()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Scalar(String, Style),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
    /// True when the node was written inside `[ ]` or `{ }`.
    pub flow: bool,
}

/// What a plain scalar means under the YAML 1.2 core schema.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Node {
    pub fn scalar(value: impl Into<String>, style: Style, span: Span) -> Node {
        Node { kind: NodeKind::Scalar(value.into(), style), span, flow: false }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.resolve(), Some(Resolved::Null))
    }

    /// The value of a mapping key, by name.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value node of a mapping entry, by name.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.as_map()?.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(k, v)| (k, v))
    }

    /// Follows a path of mapping keys and sequence indexes ("0", "1", ...).
    pub fn path(&self, path: &[&str]) -> Option<&Node> {
        let mut n = self;
        for p in path {
            n = match &n.kind {
                NodeKind::Map(_) => n.get(p)?,
                NodeKind::Seq(items) => items.get(p.parse::<usize>().ok()?)?,
                NodeKind::Scalar(..) => return None,
            };
        }
        Some(n)
    }

    /// Resolves a scalar by the YAML 1.2 core schema. Quoted and block
    /// scalars are always strings.
    pub fn resolve(&self) -> Option<Resolved<'_>> {
        let NodeKind::Scalar(s, style) = &self.kind else {
            return None;
        };
        if *style != Style::Plain {
            return Some(Resolved::Str(s));
        }
        Some(resolve_plain(s))
    }

    /// A short word for the node's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Map(_) => "a mapping",
            NodeKind::Seq(_) => "a list",
            NodeKind::Scalar(..) => match self.resolve() {
                Some(Resolved::Null) => "null",
                Some(Resolved::Bool(_)) => "a boolean",
                Some(Resolved::Int(_)) => "an integer",
                Some(Resolved::Float(_)) => "a number",
                _ => "a string",
            },
        }
    }

    /// Calls `f` on every node of the tree, parents first.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Node)) {
        f(self);
        match &self.kind {
            NodeKind::Scalar(..) => {}
            NodeKind::Seq(items) => items.iter().for_each(|n| n.walk(f)),
            NodeKind::Map(entries) => entries.iter().for_each(|(_, v)| v.walk(f)),
        }
    }

    fn count(&self) -> usize {
        match &self.kind {
            NodeKind::Scalar(..) => 1,
            NodeKind::Seq(items) => 1 + items.iter().map(Node::count).sum::<usize>(),
            NodeKind::Map(entries) => 1 + entries.iter().map(|(k, v)| k.count() + v.count()).sum::<usize>(),
        }
    }
}

pub fn resolve_plain(s: &str) -> Resolved<'_> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        _ => {}
    }
    let b = s.as_bytes();
    let digits_start = usize::from(b[0] == b'-' || b[0] == b'+');
    if b.len() > digits_start && b[digits_start..].iter().all(u8::is_ascii_digit) {
        if let Ok(i) = s.parse::<i64>() {
            return Resolved::Int(i);
        }
    }
    if let Some(hex) = s.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Resolved::Int(i);
        }
    }
    if let Some(oct) = s.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Resolved::Int(i);
        }
    }
    let looks_numeric = b.iter().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+' | b'e' | b'E'))
        && b.iter().any(u8::is_ascii_digit);
    if looks_numeric {
        if let Ok(f) = s.parse::<f64>() {
            return Resolved::Float(f);
        }
    }
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" => Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Resolved::Float(f64::NAN),
        _ => Resolved::Str(s),
    }
}

/// Limits on what one stack file may contain.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bytes: 8 * 1024 * 1024, max_depth: 64, max_nodes: 2_000_000 }
    }
}

/// Why a document could not be turned into a tree.
#[derive(Debug, Clone, PartialEq)]
pub enum ParseError {
    Syntax { message: String, at: usize },
    TooLarge { bytes: usize, limit: usize },
    TooDeep { at: usize, limit: usize },
    TooManyNodes { at: usize, limit: usize },
    UnknownAlias { at: usize },
    MultipleDocuments { at: usize },
    Empty,
}

/// Converts saphyr's character-based markers to byte offsets.
struct Offsets<'a> {
    src: &'a str,
    ascii: bool,
    line_starts: Vec<usize>,
}

impl<'a> Offsets<'a> {
    fn new(src: &'a str) -> Self {
        let ascii = src.is_ascii();
        let line_starts = if ascii {
            Vec::new()
        } else {
            std::iter::once(0).chain(src.match_indices('\n').map(|(i, _)| i + 1)).collect()
        };
        Offsets { src, ascii, line_starts }
    }

    fn byte(&self, m: &saphyr_parser::Marker) -> usize {
        if self.ascii {
            return m.index().min(self.src.len());
        }
        let Some(&start) = self.line_starts.get(m.line().saturating_sub(1)) else {
            return self.src.len();
        };
        let line = &self.src[start..];
        start + line.char_indices().nth(m.col()).map(|(i, _)| i).unwrap_or(line.len())
    }
}

enum Frame {
    Seq { anchor: usize, start: usize, flow: bool, items: Vec<Node> },
    Map { anchor: usize, start: usize, flow: bool, entries: Vec<(Node, Node)>, key: Option<Node> },
}

/// Parses one YAML document into a tree, within `limits`.
pub fn parse(src: &str, limits: Limits) -> Result<Node, ParseError> {
    if src.len() > limits.max_bytes {
        return Err(ParseError::TooLarge { bytes: src.len(), limit: limits.max_bytes });
    }
    let offsets = Offsets::new(src);
    let mut parser = Parser::new_from_str(src);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut nodes = 0usize;
    let mut root: Option<Node> = None;
    let mut documents = 0;

    let syntax = |e: ScanError, offsets: &Offsets| {
        let at = offsets.byte(e.marker());
        if e.info().contains("recursion limit") {
            // The scanner's own guard against deep flow nesting.
            ParseError::TooDeep { at, limit: limits.max_depth }
        } else {
            ParseError::Syntax { message: e.info().to_string(), at }
        }
    };

    while let Some(ev) = parser.next_event() {
        let (event, span) = ev.map_err(|e| syntax(e, &offsets))?;
        let start = offsets.byte(&span.start);
        let end = offsets.byte(&span.end);
        let done: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(ParseError::MultipleDocuments { at: start });
                }
                None
            }
            Event::Scalar(value, style, anchor, _tag) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Style::Quoted,
                    ScalarStyle::Literal | ScalarStyle::Folded => Style::Block,
                };
                nodes += 1;
                let flow = stack.last().is_some_and(|f| match f {
                    Frame::Seq { flow, .. } | Frame::Map { flow, .. } => *flow,
                });
                let mut n = Node::scalar(value.into_owned(), style, Span::new(start, end));
                n.flow = flow;
                Some((n, anchor))
            }
            Event::Alias(id) => {
                let (node, size) = anchors.get(&id).ok_or(ParseError::UnknownAlias { at: start })?;
                nodes += size;
                if nodes > limits.max_nodes {
                    return Err(ParseError::TooManyNodes { at: start, limit: limits.max_nodes });
                }
                Some((node.clone(), 0))
            }
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= limits.max_depth {
                    return Err(ParseError::TooDeep { at: start, limit: limits.max_depth });
                }
                let flow = src.as_bytes().get(start) == Some(&b'[');
                stack.push(Frame::Seq { anchor, start, flow, items: Vec::new() });
                nodes += 1;
                None
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= limits.max_depth {
                    return Err(ParseError::TooDeep { at: start, limit: limits.max_depth });
                }
                let flow = src.as_bytes().get(start) == Some(&b'{');
                stack.push(Frame::Map { anchor, start, flow, entries: Vec::new(), key: None });
                nodes += 1;
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq { anchor, start, flow, items }) => {
                    let end = items.last().map_or(end.max(start), |n| n.span.end.max(end));
                    Some((Node { kind: NodeKind::Seq(items), span: Span::new(start, end), flow }, anchor))
                }
                _ => None,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map { anchor, start, flow, entries, .. }) => {
                    let end = entries.last().map_or(end.max(start), |(_, v)| v.span.end.max(end));
                    Some((Node { kind: NodeKind::Map(merge_keys(entries)), span: Span::new(start, end), flow }, anchor))
                }
                _ => None,
            },
        };
        if nodes > limits.max_nodes {
            return Err(ParseError::TooManyNodes { at: start, limit: limits.max_nodes });
        }
        let Some((node, anchor)) = done else {
            continue;
        };
        if anchor != 0 {
            let size = node.count();
            anchors.insert(anchor, (node.clone(), size));
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
    match root {
        Some(n) if !(n.is_null() && n.span.is_empty()) => Ok(n),
        _ => Err(ParseError::Empty),
    }
}

/// Applies YAML merge keys (`<<: *base`): entries of the merged mappings are
/// added unless the mapping sets them itself.
fn merge_keys(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    let is_merge = |k: &Node| matches!(&k.kind, NodeKind::Scalar(s, Style::Plain) if s == "<<");
    if !entries.iter().any(|(k, _)| is_merge(k)) {
        return entries;
    }
    let mut own: Vec<(Node, Node)> = Vec::new();
    let mut merged: Vec<(Node, Node)> = Vec::new();
    for (k, v) in entries {
        if !is_merge(&k) {
            own.push((k, v));
            continue;
        }
        let sources = match v.kind {
            NodeKind::Map(m) => vec![m],
            NodeKind::Seq(items) => items
                .into_iter()
                .filter_map(|n| match n.kind {
                    NodeKind::Map(m) => Some(m),
                    _ => None,
                })
                .collect(),
            NodeKind::Scalar(..) => Vec::new(),
        };
        for m in sources {
            merged.extend(m);
        }
    }
    for (k, v) in merged {
        let name = k.as_str().map(str::to_string);
        if !own.iter().any(|(ok, _)| ok.as_str().map(str::to_string) == name) {
            own.push((k, v));
        }
    }
    own
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_point_at_values_in_bytes() {
        let src = "a: héllo\nb: [1, \"x\"]\n";
        let n = parse(src, Limits::default()).unwrap();
        let b = n.get("b").unwrap();
        let NodeKind::Seq(items) = &b.kind else { panic!() };
        assert_eq!(&src[items[0].span.start..items[0].span.end], "1");
        assert!(b.flow && items[1].flow);
        let a = n.get("a").unwrap();
        assert_eq!(&src[a.span.start..a.span.end], "héllo");
    }

    #[test]
    fn plain_scalars_resolve_by_core_schema() {
        assert_eq!(resolve_plain("42"), Resolved::Int(42));
        assert_eq!(resolve_plain("true"), Resolved::Bool(true));
        assert_eq!(resolve_plain("yes"), Resolved::Str("yes"));
        assert_eq!(resolve_plain("~"), Resolved::Null);
        assert_eq!(resolve_plain("1.5"), Resolved::Float(1.5));
        assert_eq!(resolve_plain("v1.2.3"), Resolved::Str("v1.2.3"));
    }

    #[test]
    fn alias_bomb_is_stopped_by_node_budget() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            src.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = parse(&src, Limits::default()).unwrap_err();
        assert!(matches!(e, ParseError::TooManyNodes { .. }), "{e:?}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let src = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = parse(&src, Limits::default()).unwrap_err();
        assert!(matches!(e, ParseError::TooDeep { .. }), "{e:?}");
    }

    #[test]
    fn merge_keys_fill_in_missing_entries() {
        let src = "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n";
        let n = parse(src, Limits::default()).unwrap();
        let m = n.get("m").unwrap();
        assert_eq!(m.get("x").unwrap().as_str(), Some("1"));
        assert_eq!(m.get("y").unwrap().as_str(), Some("3"));
    }
}
