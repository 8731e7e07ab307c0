//! What changes inside one field of a plan, as a tree a person can read:
//! each added, removed or changed leaf or element on its own line, with its
//! path, and what stays the same folded into a count.
//!
//! Maps are matched by key; lists of objects by their identity where their
//! elements have one (containers by `name`, port mappings by
//! `container_port`, statements by `sid`), else by position; lists of
//! values in order where the kind orders them
//! ([`crate::kinds::KindSpec::ORDERED_LISTS`]), else as sets. Text of
//! several lines is compared line by line. Only the leaves that depend on
//! something not created yet are "known after apply".
//!
//! [`field_lines`] is the one renderer: the text plan and the Markdown plan
//! only paint its lines.

use crate::plan::{is_set, FieldDiff};
use serde_json::Value;

/// The keys that name an element of a list of objects, tried in order.
const IDENTITY: &[&str] = &["name", "container_port", "sid"];

/// Lines of unchanged text shown around a changed line.
const CONTEXT: usize = 2;

/// What is shown for a value not known before apply.
pub const UNKNOWN: &str = "(known after apply)";

/// One step down into a value: an object key or a list index.
pub type Path = Vec<String>;

/// What changed in a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Set where nothing was.
    Added(Value),
    /// Set before, gone after.
    Removed(Value),
    /// A value replaced by another.
    Changed(Value, Value),
    /// The new value is known only after apply (before: what is there now).
    Unknown(Option<Value>),
    /// Text compared line by line.
    Text(Vec<TextLine>),
    /// An object or list: its changed members, and how many stayed the same.
    Nested { mark: Mark, children: Vec<(String, Node)>, hidden: usize },
}

/// One line of a [`Node::Text`].
#[derive(Debug, Clone, PartialEq)]
pub enum TextLine {
    Line(Mark, String),
    Hidden(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Add,
    Remove,
    Change,
    /// Unchanged context, or a count of what is hidden.
    Same,
}

/// One line of a rendered diff: its mark, how deep it is, and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub mark: Mark,
    pub depth: usize,
    pub text: String,
}

/// What is being compared besides the two values.
struct Ctx<'a> {
    ordered: &'a dyn Fn(&str) -> bool,
    unknown: &'a [Path],
}

impl Ctx<'_> {
    fn is_unknown(&self, at: &[String]) -> bool {
        self.unknown.iter().any(|u| u.as_slice() == at)
    }
}

/// The tree of what changes from `before` to `after` of the field `key`;
/// `unknown` holds the paths in `after` of the leaves known only after
/// apply. None when nothing differs.
pub fn diff(
    key: &str,
    before: &Value,
    after: &Value,
    ordered: &dyn Fn(&str) -> bool,
    unknown: &[Path],
) -> Option<Node> {
    let cx = Ctx { ordered, unknown };
    node(&cx, key, before, after, &mut Vec::new())
}

/// The tree of a value that is all new (or all gone, `mark` Remove).
pub fn whole(mark: Mark, v: &Value, ordered: &dyn Fn(&str) -> bool, unknown: &[Path]) -> Node {
    let cx = Ctx { ordered, unknown };
    expand(&cx, mark, v, &mut Vec::new())
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

fn multiline(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.contains('\n'))
}

/// Numbers and the text of them compare equal, as the planner compares.
fn same_scalar(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => n.to_string() == *s,
        (Value::Bool(x), Value::String(s)) | (Value::String(s), Value::Bool(x)) => x.to_string() == *s,
        (a, b) => a == b,
    }
}

fn node(cx: &Ctx, key: &str, b: &Value, a: &Value, at: &mut Path) -> Option<Node> {
    if cx.is_unknown(at) {
        return Some(Node::Unknown(Some(b.clone())));
    }
    match (b, a) {
        (Value::Object(bm), Value::Object(am)) => {
            let mut children = Vec::new();
            let mut hidden = 0;
            for (k, av) in am {
                at.push(k.clone());
                match bm.get(k) {
                    Some(bv) => match node(cx, k, bv, av, at) {
                        Some(n) => children.push((k.clone(), n)),
                        None => hidden += 1,
                    },
                    // Unset in the file and not there: nothing changes.
                    None if !is_set(av) && !cx.unknown.iter().any(|u| u.starts_with(at)) => {}
                    None => children.push((k.clone(), expand(cx, Mark::Add, av, at))),
                }
                at.pop();
            }
            for (k, bv) in bm.iter().filter(|(k, _)| !am.contains_key(*k)) {
                if is_set(bv) {
                    children.push((k.clone(), gone(cx, bv)));
                }
            }
            nested(children, hidden)
        }
        (Value::Array(bl), Value::Array(al)) => list(cx, key, bl, al, at),
        (Value::String(bs), Value::String(as_)) if bs != as_ && (multiline(b) || multiline(a)) => {
            Some(Node::Text(text_lines(bs, as_)))
        }
        _ if is_scalar(b) && is_scalar(a) && same_scalar(b, a) => None,
        _ if b.is_null() => Some(expand(cx, Mark::Add, a, at)),
        _ => Some(Node::Changed(b.clone(), a.clone())),
    }
}

fn nested(children: Vec<(String, Node)>, hidden: usize) -> Option<Node> {
    (!children.is_empty()).then_some(Node::Nested { mark: Mark::Change, children, hidden })
}

/// The key that names each object of both lists, if one does: every
/// element is an object that has it, as a value, and no two share it.
pub(crate) fn identity(bl: &[Value], al: &[Value]) -> Option<&'static str> {
    IDENTITY.iter().copied().find(|k| {
        [bl, al].iter().all(|side| {
            let ids: Vec<&Value> =
                side.iter().filter_map(|v| v.get(*k).filter(|i| is_scalar(i) && !i.is_null())).collect();
            ids.len() == side.len() && (1..ids.len()).all(|i| !ids[..i].contains(&ids[i]))
        })
    })
}

fn label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn list(cx: &Ctx, key: &str, bl: &[Value], al: &[Value], at: &mut Path) -> Option<Node> {
    let mut children = Vec::new();
    let mut hidden = 0;
    let objects = bl.iter().chain(al).any(|v| !is_scalar(v));
    if objects {
        if let Some(id) = identity(bl, al) {
            for (i, av) in al.iter().enumerate() {
                at.push(i.to_string());
                let name = format!("[{}]", label(&av[id]));
                match bl.iter().find(|bv| same_scalar(&bv[id], &av[id])) {
                    Some(bv) => match node(cx, key, bv, av, at) {
                        Some(n) => children.push((name, n)),
                        None => hidden += 1,
                    },
                    None => children.push((name, expand(cx, Mark::Add, av, at))),
                }
                at.pop();
            }
            for bv in bl.iter().filter(|bv| !al.iter().any(|av| same_scalar(&bv[id], &av[id]))) {
                let name = format!("[{}]", label(&bv[id]));
                children.push((name, gone(cx, bv)));
            }
        } else {
            for i in 0..bl.len().max(al.len()) {
                at.push(i.to_string());
                let name = format!("[{i}]");
                match (bl.get(i), al.get(i)) {
                    (Some(bv), Some(av)) => match node(cx, key, bv, av, at) {
                        Some(n) => children.push((name, n)),
                        None => hidden += 1,
                    },
                    (None, Some(av)) => children.push((name, expand(cx, Mark::Add, av, at))),
                    (Some(bv), None) => children.push((name, gone(cx, bv))),
                    (None, None) => {}
                }
                at.pop();
            }
        }
        return nested(children, hidden);
    }
    let element = |cx: &Ctx, mark: Mark, v: &Value, at: &mut Path, i: usize| {
        at.push(i.to_string());
        let n = expand(cx, mark, v, at);
        at.pop();
        (String::new(), n)
    };
    let unknown_at = |at: &mut Path, i: usize| {
        at.push(i.to_string());
        let u = cx.is_unknown(at);
        at.pop();
        u
    };
    if (cx.ordered)(key) {
        let shown = |l: &[Value]| l.iter().map(crate::render::value).collect::<Vec<_>>();
        let (bs, as_) = (shown(bl), shown(al));
        for op in similar::capture_diff_slices(similar::Algorithm::Myers, &bs, &as_) {
            match op {
                similar::DiffOp::Equal { new_index, len, .. } => {
                    // An unknown value is never the same as what is there.
                    for (i, v) in al.iter().enumerate().skip(new_index).take(len) {
                        if unknown_at(at, i) {
                            children.push(element(cx, Mark::Add, v, at, i));
                        } else {
                            hidden += 1;
                        }
                    }
                }
                similar::DiffOp::Delete { old_index, old_len, .. } => {
                    for v in &bl[old_index..old_index + old_len] {
                        children.push((String::new(), Node::Removed(v.clone())));
                    }
                }
                similar::DiffOp::Insert { new_index, new_len, .. } => {
                    for (i, v) in al.iter().enumerate().skip(new_index).take(new_len) {
                        children.push(element(cx, Mark::Add, v, at, i));
                    }
                }
                similar::DiffOp::Replace { old_index, old_len, new_index, new_len } => {
                    for v in &bl[old_index..old_index + old_len] {
                        children.push((String::new(), Node::Removed(v.clone())));
                    }
                    for (i, v) in al.iter().enumerate().skip(new_index).take(new_len) {
                        children.push(element(cx, Mark::Add, v, at, i));
                    }
                }
            }
        }
    } else {
        // A set: what is new, then what is gone.
        let mut used = vec![false; bl.len()];
        for (i, av) in al.iter().enumerate() {
            let found = (!unknown_at(at, i))
                .then(|| bl.iter().enumerate().position(|(j, bv)| !used[j] && same_scalar(bv, av)))
                .flatten();
            match found {
                Some(j) => {
                    used[j] = true;
                    hidden += 1;
                }
                None => children.push(element(cx, Mark::Add, av, at, i)),
            }
        }
        for (_, bv) in bl.iter().enumerate().filter(|(j, _)| !used[*j]) {
            children.push((String::new(), Node::Removed(bv.clone())));
        }
    }
    nested(children, hidden)
}

/// An old value that is all gone, down to its leaves.
fn gone(cx: &Ctx, v: &Value) -> Node {
    expand(&Ctx { unknown: &[], ..*cx }, Mark::Remove, v, &mut Vec::new())
}

/// A value that is all new or all gone, down to its leaves.
fn expand(cx: &Ctx, mark: Mark, v: &Value, at: &mut Path) -> Node {
    if mark == Mark::Add && cx.is_unknown(at) {
        return Node::Unknown(None);
    }
    let leaf = |v: &Value| if mark == Mark::Add { Node::Added(v.clone()) } else { Node::Removed(v.clone()) };
    match v {
        Value::Object(m) if !m.is_empty() => {
            let mut children = Vec::new();
            for (k, x) in m {
                at.push(k.clone());
                children.push((k.clone(), expand(cx, mark, x, at)));
                at.pop();
            }
            Node::Nested { mark, children, hidden: 0 }
        }
        Value::Array(l) if !l.is_empty() => {
            let id = identity(l, l).filter(|_| l.iter().all(|x| !is_scalar(x)));
            let mut children = Vec::new();
            for (i, x) in l.iter().enumerate() {
                at.push(i.to_string());
                let name = match id {
                    Some(id) => format!("[{}]", label(&x[id])),
                    None if is_scalar(x) => String::new(),
                    None => format!("[{i}]"),
                };
                children.push((name, expand(cx, mark, x, at)));
                at.pop();
            }
            Node::Nested { mark, children, hidden: 0 }
        }
        Value::String(s) if s.contains('\n') => {
            Node::Text(s.lines().map(|l| TextLine::Line(mark, l.to_string())).collect())
        }
        _ => leaf(v),
    }
}

fn text_lines(before: &str, after: &str) -> Vec<TextLine> {
    let diff = similar::TextDiff::from_lines(before, after);
    let mut out = Vec::new();
    let groups = diff.grouped_ops(CONTEXT);
    let mut seen_old = 0;
    for group in &groups {
        let first = group.first().map(|op| op.old_range().start).unwrap_or(0);
        if first > seen_old {
            out.push(TextLine::Hidden(first - seen_old));
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let mark = match change.tag() {
                    similar::ChangeTag::Equal => Mark::Same,
                    similar::ChangeTag::Delete => Mark::Remove,
                    similar::ChangeTag::Insert => Mark::Add,
                };
                out.push(TextLine::Line(mark, change.value().trim_end_matches(['\n', '\r']).to_string()));
            }
            seen_old = op.old_range().end;
        }
    }
    let old_lines = before.lines().count();
    if old_lines > seen_old {
        out.push(TextLine::Hidden(old_lines - seen_old));
    }
    out
}

/// A value as the file would write it; an unknown one as [`UNKNOWN`].
fn shown(v: &Value) -> String {
    crate::render::value(v)
}

fn hidden_note(n: usize) -> String {
    if n == 1 {
        "1 unchanged element hidden".into()
    } else {
        format!("{n} unchanged elements hidden")
    }
}

/// The lines of a node under `key` at `depth`. `split`: a changed value
/// is two lines, the old one removed and the new one added (for a diff
/// block), rather than one `old → new`.
pub fn lines(key: &str, n: &Node, depth: usize, split: bool, out: &mut Vec<Line>) {
    let named = |v: String| if key.is_empty() { v } else { format!("{key}: {v}") };
    let mut push = |mark, text| out.push(Line { mark, depth, text });
    match n {
        Node::Added(v) => push(Mark::Add, named(shown(v))),
        Node::Removed(v) => push(Mark::Remove, named(shown(v))),
        Node::Changed(b, a) if split => {
            push(Mark::Remove, named(shown(b)));
            push(Mark::Add, named(shown(a)));
        }
        Node::Changed(b, a) => push(Mark::Change, named(format!("{} → {}", shown(b), shown(a)))),
        Node::Unknown(None) => push(Mark::Add, named(UNKNOWN.into())),
        Node::Unknown(Some(b)) if split => {
            push(Mark::Remove, named(shown(b)));
            push(Mark::Add, named(UNKNOWN.into()));
        }
        Node::Unknown(Some(b)) => push(Mark::Change, named(format!("{} → {UNKNOWN}", shown(b)))),
        Node::Text(text) => {
            let mark = if text.iter().all(|l| matches!(l, TextLine::Line(Mark::Add, _))) {
                Mark::Add
            } else if text.iter().all(|l| matches!(l, TextLine::Line(Mark::Remove, _))) {
                Mark::Remove
            } else {
                Mark::Change
            };
            push(mark, if key.is_empty() { "(text)".into() } else { key.to_string() });
            for l in text {
                let (mark, text) = match l {
                    TextLine::Line(m, s) => (*m, s.clone()),
                    TextLine::Hidden(n) => {
                        (Mark::Same, format!("{n} unchanged {} hidden", if *n == 1 { "line" } else { "lines" }))
                    }
                };
                out.push(Line { mark, depth: depth + 1, text });
            }
        }
        Node::Nested { mark, children, hidden } => {
            push(*mark, if key.is_empty() { "(element)".into() } else { key.to_string() });
            for (k, c) in children {
                lines(k, c, depth + 1, split, out);
            }
            if *hidden > 0 {
                out.push(Line { mark: Mark::Same, depth: depth + 1, text: hidden_note(*hidden) });
            }
        }
    }
}

/// The live value as far as the file manages it: the object keys that
/// neither the file (`desired`) nor what it said at the last apply
/// (`applied`) sets are left out, so what AWS fills in by itself (a port
/// mapping's `protocol`, a log configuration's `region`) is not shown as
/// removed. A key the file set at the last apply and no longer does stays:
/// that one is removed. Lists of objects are matched as [`diff`] matches
/// them (by identity, else by position).
pub fn managed(live: &Value, desired: &Value, applied: Option<&Value>) -> Value {
    match (live, desired) {
        (Value::Object(lm), Value::Object(dm)) => Value::Object(
            lm.iter()
                .filter_map(|(k, lv)| match dm.get(k) {
                    Some(dv) => Some((k.clone(), managed(lv, dv, applied.and_then(|a| a.get(k))))),
                    None => applied.and_then(|a| a.get(k)).filter(|a| is_set(a)).map(|_| (k.clone(), lv.clone())),
                })
                .collect(),
        ),
        (Value::Array(ll), Value::Array(dl)) if ll.iter().chain(dl).any(|v| !is_scalar(v)) => {
            let al = applied.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            match identity(ll, dl) {
                Some(id) => Value::Array(
                    ll.iter()
                        .map(|lv| match dl.iter().find(|dv| same_scalar(&dv[id], &lv[id])) {
                            Some(dv) => managed(
                                lv,
                                dv,
                                al.iter().find(|av| av.get(id).is_some_and(|x| same_scalar(x, &lv[id]))),
                            ),
                            None => lv.clone(),
                        })
                        .collect(),
                ),
                None => Value::Array(
                    ll.iter()
                        .enumerate()
                        .map(|(i, lv)| match dl.get(i) {
                            Some(dv) => managed(lv, dv, al.get(i)),
                            None => lv.clone(),
                        })
                        .collect(),
                ),
            }
        }
        _ => live.clone(),
    }
}

/// The tree of one field's change, if anything shows (a field whose only
/// change is a sensitive value shows as its `sensitive_changed` lines).
pub fn field_node(d: &FieldDiff, ordered: &dyn Fn(&str) -> bool) -> Option<Node> {
    let unknown: &[Path] = if d.after_unknown { &d.unknown_leaves } else { &[] };
    match (&d.before, &d.after) {
        // The whole value is a reference to what is not created yet.
        _ if d.after_unknown && (d.after.is_none() || unknown.iter().any(Vec::is_empty)) => {
            Some(Node::Unknown(d.before.clone()))
        }
        (None, Some(a)) => Some(whole(Mark::Add, a, ordered, unknown)),
        (Some(b), None) => Some(whole(Mark::Remove, b, ordered, &[])),
        (Some(b), Some(a)) => diff(&d.field, b, a, ordered, unknown),
        (None, None) => None,
    }
}

/// The lines of one field's change: see [`field_node`] and [`lines`].
pub fn field_lines(d: &FieldDiff, ordered: &dyn Fn(&str) -> bool, split: bool) -> Vec<Line> {
    let mut out = Vec::new();
    if let Some(n) = field_node(d, ordered) {
        lines(&d.field, &n, 0, split, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(_: &str) -> bool {
        false
    }

    /// The lines as `mark depth text`, one per line.
    fn show(key: &str, n: &Node, split: bool) -> String {
        let mut out = Vec::new();
        lines(key, n, 0, split, &mut out);
        out.iter()
            .map(|l| {
                let m = match l.mark {
                    Mark::Add => '+',
                    Mark::Remove => '-',
                    Mark::Change => '~',
                    Mark::Same => ' ',
                };
                format!("{m} {}{}", "  ".repeat(l.depth), l.text)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn maps_show_each_changed_key_and_fold_the_rest() {
        let b = json!({"A": "1", "B": "2", "C": "3", "D": "4"});
        let a = json!({"A": "1", "B": "two", "C": "3", "E": "5"});
        let n = diff("environment", &b, &a, &set, &[]).unwrap();
        assert_eq!(
            show("environment", &n, false),
            "~ environment\n~   B: \"2\" → \"two\"\n+   E: \"5\"\n-   D: \"4\"\n    2 unchanged elements hidden"
        );
        assert_eq!(diff("environment", &b, &b, &set, &[]), None);
    }

    #[test]
    fn lists_of_objects_match_by_identity() {
        // The container moved to the end: matched by name, not by position.
        let b = json!([{"name": "web", "image": "a"}, {"name": "side", "image": "s"}]);
        let a = json!([{"name": "side", "image": "s"}, {"name": "web", "image": "b"}, {"name": "new", "image": "n"}]);
        let n = diff("containers", &b, &a, &set, &[]).unwrap();
        assert_eq!(
            show("containers", &n, false),
            "~ containers\n~   [web]\n~     image: \"a\" → \"b\"\n      1 unchanged element hidden\n+   [new]\n+     name: \"new\"\n+     image: \"n\"\n    1 unchanged element hidden"
        );
        let b = json!([{"container_port": 80}, {"container_port": 443}]);
        let a = json!([{"container_port": 443}, {"container_port": 8080}]);
        let n = diff("port_mappings", &b, &a, &set, &[]).unwrap();
        assert_eq!(
            show("port_mappings", &n, false),
            "~ port_mappings\n+   [8080]\n+     container_port: 8080\n-   [80]\n-     container_port: 80\n    1 unchanged element hidden"
        );
        // Statements by sid, and by position without one.
        let b = json!([{"sid": "Pull", "actions": ["ecr:A"]}]);
        let a = json!([{"sid": "Pull", "actions": ["ecr:A", "ecr:B"]}]);
        let n = diff("statements", &b, &a, &set, &[]).unwrap();
        assert_eq!(show("statements", &n, false), "~ statements\n~   [Pull]\n~     actions\n+       \"ecr:B\"\n        1 unchanged element hidden\n      1 unchanged element hidden");
        let b = json!([{"effect": "allow"}, {"effect": "deny"}]);
        let a = json!([{"effect": "allow"}]);
        let n = diff("statements", &b, &a, &set, &[]).unwrap();
        assert_eq!(
            show("statements", &n, false),
            "~ statements\n-   [1]\n-     effect: \"deny\"\n    1 unchanged element hidden"
        );
    }

    #[test]
    fn ordered_lists_keep_their_order_and_others_are_sets() {
        let b = json!(["python", "app.py"]);
        let a = json!(["app.py", "python"]);
        assert_eq!(diff("subnets", &b, &a, &set, &[]), None, "a set in another order is the same set");
        let ordered = |k: &str| k == "command";
        let n = diff("command", &b, &a, &ordered, &[]).unwrap();
        // Moved to the front: added there, removed from the end.
        assert_eq!(
            show("command", &n, false),
            "~ command\n+   \"app.py\"\n-   \"app.py\"\n    1 unchanged element hidden"
        );
        let n = diff("command", &json!(["a", "b", "c"]), &json!(["a", "x", "c"]), &ordered, &[]).unwrap();
        assert_eq!(show("command", &n, false), "~ command\n-   \"b\"\n+   \"x\"\n    2 unchanged elements hidden");
    }

    #[test]
    fn long_text_is_compared_by_line() {
        let b = (1..=20).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n");
        let a = b.replace("line 10", "line ten");
        let n = diff("script", &json!(b), &json!(a), &set, &[]).unwrap();
        let shown = show("script", &n, false);
        assert_eq!(
            shown,
            "~ script\n    7 unchanged lines hidden\n    line 8\n    line 9\n-   line 10\n+   line ten\n    line 11\n    line 12\n    8 unchanged lines hidden"
        );
        // Never cut: every changed line is whole.
        let long = "x".repeat(5000);
        let n = diff("script", &json!(format!("a\n{long}")), &json!(format!("b\n{long}y")), &set, &[]).unwrap();
        assert!(show("script", &n, false).contains(&format!("+   {long}y")));
    }

    #[test]
    fn only_unknown_leaves_are_known_after_apply() {
        let b = json!([{"name": "web", "image": "old", "environment": {"A": "1"}}]);
        let a = json!([{"name": "web", "image": "${repo.uri}:v2", "environment": {"A": "1"}}]);
        let unknown = vec![vec!["0".to_string(), "image".to_string()]];
        let n = diff("containers", &b, &a, &set, &unknown).unwrap();
        assert_eq!(
            show("containers", &n, false),
            "~ containers\n~   [web]\n~     image: \"old\" → (known after apply)\n      2 unchanged elements hidden"
        );
        assert_eq!(
            show("containers", &n, true),
            "~ containers\n~   [web]\n-     image: \"old\"\n+     image: (known after apply)\n      2 unchanged elements hidden"
        );
        // A new value with one unknown leaf shows all the rest.
        let n = whole(Mark::Add, &a, &set, &unknown);
        assert_eq!(
            show("containers", &n, false),
            "+ containers\n+   [web]\n+     name: \"web\"\n+     image: (known after apply)\n+     environment\n+       A: \"1\""
        );
        // An unknown element of a set is never taken for one that is there.
        let n = diff("policies", &json!(["${a.arn}"]), &json!(["${a.arn}"]), &set, &[vec!["0".into()]]).unwrap();
        assert_eq!(show("policies", &n, false), "~ policies\n+   (known after apply)\n-   \"${a.arn}\"");
        // A whole field that is one reference.
        let d = FieldDiff {
            field: "task_definition".into(),
            before: Some(json!("arn:td:1")),
            after: Some(json!("${task.arn}")),
            after_unknown: true,
            forces_replacement: false,
            sensitive_changed: Vec::new(),
            unknown_leaves: vec![Vec::new()],
        };
        let shown: Vec<String> = field_lines(&d, &set, false).into_iter().map(|l| l.text).collect();
        assert_eq!(shown, ["task_definition: \"arn:td:1\" → (known after apply)"]);
    }

    #[test]
    fn sensitive_leaves_stay_masked() {
        let d = FieldDiff {
            field: "containers".into(),
            before: Some(json!([{"name": "web", "environment": {"PW": crate::secret::MASK, "A": "1"}}])),
            after: Some(json!([{"name": "web", "environment": {"PW": crate::secret::MASK, "A": "2"}}])),
            after_unknown: false,
            forces_replacement: false,
            sensitive_changed: vec!["containers.web.environment.PW".into()],
            unknown_leaves: Vec::new(),
        };
        let shown: Vec<String> = field_lines(&d, &set, false).into_iter().map(|l| l.text).collect();
        assert_eq!(
            shown,
            [
                "containers",
                "[web]",
                "environment",
                "A: \"1\" → \"2\"",
                "1 unchanged element hidden",
                "1 unchanged element hidden"
            ]
        );
        // A new secret is shown only as masked.
        let n = whole(Mark::Add, &json!({"PW": crate::secret::MASK}), &set, &[]);
        assert_eq!(show("environment", &n, false), format!("+ environment\n+   PW: \"{}\"", crate::secret::MASK));
    }

    #[test]
    fn what_aws_fills_in_is_not_shown_as_removed() {
        let live = json!([{"name": "web", "image": "a", "port_mappings": [{"container_port": 80, "protocol": "tcp"}],
            "logs": {"group": "g", "region": "us-east-1"}, "environment": {"A": "1", "OLD": "x"}}]);
        let desired = json!([{"name": "web", "image": "b", "port_mappings": [{"container_port": 80}],
            "logs": {"group": "g"}, "environment": {"A": "1"}}]);
        let applied = json!([{"name": "web", "image": "a", "port_mappings": [{"container_port": 80}],
            "logs": {"group": "g"}, "environment": {"A": "1", "OLD": "x"}}]);
        let before = managed(&live, &desired, Some(&applied));
        let n = diff("containers", &before, &desired, &set, &[]).unwrap();
        assert_eq!(
            show("containers", &n, false),
            "~ containers\n~   [web]\n~     image: \"a\" → \"b\"\n~     environment\n-       OLD: \"x\"\n        1 unchanged element hidden\n      3 unchanged elements hidden"
        );
        // Without a record of the last apply, only what the file sets is compared.
        let before = managed(&live, &desired, None);
        assert_eq!(before[0].get("environment"), Some(&json!({"A": "1"})));
        assert!(before[0]["port_mappings"][0].get("protocol").is_none());
    }
}
