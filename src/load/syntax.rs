//! Turning YAML parse failures into diagnostics a person can act on.
//!
//! The parser's own words ("mapping values are not allowed in this
//! context") describe its state, not the mistake. The common mistakes are
//! recognised from the text around the error and named instead: an
//! unquoted `${…}` inside `[ ]` or `{ }`, a key indented more than its
//! neighbours, a tab.

use crate::diag::{Diag, SourceFile};
use crate::yaml::{ParseError, Span};
use std::sync::Arc;

pub(super) const PITFALL: &str = "inside `[ ]` or `{ }`, YAML ends a plain value at `{`, so `[${a.b}]` is not a reference: quote it, as in `[\"${a.b}\"]`, or use a block list (`- ${a.b}`)";

pub(super) fn explain(e: ParseError, file: &Arc<SourceFile>) -> Diag {
    let text = file.text.clone();
    match e {
        ParseError::Syntax { message, at } => syntax(&message, at.min(text.len()), &text, file),
        ParseError::TooLarge { bytes, limit } => Diag::error(
            "moor::limits",
            format!("{} is {bytes} bytes; stack files are limited to {limit} bytes", file.name),
        ),
        ParseError::TooDeep { at, limit } => {
            Diag::error("moor::limits", format!("the file nests deeper than {limit} levels"))
                .in_file(file)
                .label(Span::new(at, (at + 1).min(text.len())), "too deep")
                .help("stack files are shallow; this looks like generated or hostile input")
        }
        ParseError::TooManyNodes { at, limit } => {
            Diag::error("moor::limits", format!("the file expands to more than {limit} values"))
                .in_file(file)
                .label(Span::new(at, (at + 1).min(text.len())), "expansion limit reached here")
                .help(
                    "aliases (`*name`) that repeat large anchors multiply the document; this looks like an alias bomb",
                )
        }
        ParseError::UnknownAlias { at } => Diag::error("moor::yaml", "alias to an unknown anchor")
            .in_file(file)
            .label(Span::new(at, (at + 1).min(text.len())), "no `&anchor` of this name before here"),
        ParseError::MultipleDocuments { at } => Diag::error("moor::yaml", "a stack file holds one YAML document")
            .in_file(file)
            .label(Span::new(at, (at + 3).min(text.len())), "second document starts here")
            .help("put each stack in its own file"),
        ParseError::Empty => Diag::error("moor::shape", format!("{} is empty", file.name))
            .help("a stack file starts with `stack: <name>` and `resources:`"),
    }
}

fn line_bounds(text: &str, at: usize) -> (usize, usize) {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    (start, end)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn syntax(message: &str, mut at: usize, text: &str, file: &Arc<SourceFile>) -> Diag {
    // An unquoted `${` in a flow collection on this line or the one before.
    let (line_start, line_end) = line_bounds(text, at);
    let prev_start = text[..line_start.saturating_sub(1)].rfind('\n').map_or(0, |i| i + 1);
    for (start, end) in [(prev_start, line_start.saturating_sub(1).max(prev_start)), (line_start, line_end)] {
        if let Some(i) = unquoted_ref_in_flow(&text[start..end]) {
            let pos = start + i;
            return Diag::error("moor::yaml-flow-reference", "unquoted `${…}` inside `[ ]` or `{ }`")
                .in_file(file)
                .label(Span::new(pos, pos + 2), "YAML ends a plain value at this `{`")
                .help(PITFALL);
        }
    }
    if message.contains("tab") {
        // The scanner reports where the token began; point at the tab.
        if let Some(i) = text[at..].find('\t').filter(|i| *i < 256) {
            at += i;
        }
        return Diag::error("moor::yaml", "a tab in the indentation")
            .in_file(file)
            .label(Span::new(at, at + 1), "tab")
            .help("YAML indents with spaces only; replace the tab with spaces");
    }
    if message.contains("mapping values are not allowed") {
        // Usually a key indented deeper than the key above it.
        let line = &text[line_start..line_end];
        // Or a key past YAML's limit of 1024 characters for a key on one line.
        let key_start = line_start + indent(line);
        if at > key_start && text[key_start..at].chars().count() > 1024 {
            return Diag::error(
                "moor::yaml",
                format!("this key is {} characters long; YAML allows 1024", text[key_start..at].chars().count()),
            )
            .in_file(file)
            .label(Span::new(key_start, key_start + 1), "the key starts here")
            .help("use a shorter name");
        }
        let prev_line = text[..line_start]
            .trim_end_matches('\n')
            .rsplit('\n')
            .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        if let Some(prev) = prev_line {
            let (ind, prev_ind) = (indent(line), indent(prev));
            if ind > prev_ind && !prev.trim_end().ends_with(':') {
                let key_end = line.find(':').unwrap_or(line.len());
                let prev_key = prev.trim().split(':').next().unwrap_or("").trim();
                return Diag::error("moor::yaml", "this key is indented more than the one above it")
                    .in_file(file)
                    .label(Span::new(line_start + ind, line_start + key_end), format!("indented {ind} spaces; `{prev_key}` above has {prev_ind}"))
                    .help("keys of one mapping line up in the same column; a deeper key needs a parent key ending in `:` above it");
            }
        }
        return Diag::error("moor::yaml", "a `key: value` where YAML does not expect one")
            .in_file(file)
            .label(Span::new(at, (at + 1).min(line_end.max(at + 1))), "here")
            .help("check the indentation; quote a value that contains `: ` (a colon and a space)");
    }
    Diag::error("moor::yaml", format!("YAML syntax error: {message}"))
        .in_file(file)
        .label(Span::new(at, at), "here")
        .help("check the indentation and the colon after each key; quote values that contain a colon followed by a space, or a #")
}

/// The offset of an unquoted `${` after a `[` or `{` on a line.
fn unquoted_ref_in_flow(line: &str) -> Option<usize> {
    let i = line.find("${")?;
    let before = &line[..i];
    let quotes = before.matches('"').count() + before.matches('\'').count();
    (quotes % 2 == 0 && (before.contains('[') || before.contains('{'))).then_some(i)
}
