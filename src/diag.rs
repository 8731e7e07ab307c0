//! Diagnostics about stack files: a code, a message, labels that point
//! into a source file, and a help line.
//!
//! Only problems with a file carry spans. Rendering is miette's; the JSON
//! form (`moor validate --format json`) is built here from the same values.

use crate::yaml::Span;
use miette::{Diagnostic, LabeledSpan, NamedSource, Severity};
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// A source text with the name it is shown by.
#[derive(Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
    named: NamedSource<Arc<str>>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Arc<SourceFile> {
        let name = name.into();
        let text: Arc<str> = text.into();
        let named = NamedSource::new(name.clone(), text.clone()).with_language("yaml");
        Arc::new(SourceFile { name, text, named })
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }
}

#[derive(Debug, Clone)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Diag {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub source: Option<Arc<SourceFile>>,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diag {
    pub fn error(code: &'static str, message: impl Into<String>) -> Diag {
        Diag { code, severity: Severity::Error, message: message.into(), source: None, labels: Vec::new(), help: None }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Diag {
        Diag { severity: Severity::Warning, ..Diag::error(code, message) }
    }

    pub fn in_file(mut self, file: &Arc<SourceFile>) -> Diag {
        self.source = Some(file.clone());
        self
    }

    pub fn label(mut self, span: Span, text: impl Into<String>) -> Diag {
        self.labels.push(Label { span, text: text.into() });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diag {
        self.help = Some(help.into());
        self
    }

    pub fn maybe_help(mut self, help: Option<String>) -> Diag {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Where the first label points, as (file, line, column).
    pub fn location(&self) -> Option<(String, usize, usize)> {
        let file = self.source.as_ref()?;
        let span = self.labels.first()?.span;
        let (line, col) = file.line_col(span.start);
        Some((file.name.clone(), line, col))
    }

    pub fn to_json(&self) -> JsonDiag {
        let loc = self.location();
        JsonDiag {
            severity: if self.is_error() { "error" } else { "warning" },
            code: self.code,
            message: self.message.clone(),
            file: loc.as_ref().map(|l| l.0.clone()),
            line: loc.as_ref().map(|l| l.1),
            column: loc.as_ref().map(|l| l.2),
            labels: self.labels.iter().map(|l| l.text.clone()).collect(),
            help: self.help.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct JsonDiag {
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    pub labels: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diag {}

impl Diagnostic for Diag {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }
    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| &s.named as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.source.is_none() || self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().enumerate().map(|(i, l)| {
            let text = (!l.text.is_empty()).then(|| l.text.clone());
            if i == 0 {
                LabeledSpan::new_primary_with_span(text, l.span)
            } else {
                LabeledSpan::new_with_span(text, l.span)
            }
        })))
    }
}

/// Renders diagnostics as text: with colour when `color`, otherwise plain,
/// which is also the form golden tests compare.
pub fn render(diags: &[Diag], color: bool, width: usize) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(width).with_links(false);
    let mut out = String::new();
    for (i, d) in diags.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let (shown, places) = shown(d);
        let _ = handler.render_report(&mut out, &shown);
        for p in places {
            out.push_str(&format!("  at {p}\n"));
        }
    }
    out
}

/// The longest source line shown under a diagnostic, in characters. miette
/// pads to a label's column with a formatting width, which the standard
/// library caps at 65535 and panics past; a line this long is past any
/// screen anyway, so a diagnostic on one is shown with its place
/// (`file:line:column`) instead of its source line.
const MAX_SHOWN_LINE: usize = 1000;
/// The longest message, label or help shown, in characters (the JSON form
/// keeps them whole). A 1 MB key quoted in a message is not shown whole.
const MAX_SHOWN_TEXT: usize = 500;

/// The diagnostic as it is drawn, and the places to print below it when its
/// source lines are too long to draw.
fn shown(d: &Diag) -> (Diag, Vec<String>) {
    let mut shown = d.clone();
    shown.message = clip(&d.message);
    shown.help = d.help.as_deref().map(clip);
    for l in &mut shown.labels {
        l.text = clip(&l.text);
    }
    let Some(file) = &d.source else { return (shown, Vec::new()) };
    if d.labels.iter().all(|l| longest_line(&file.text, l.span) <= MAX_SHOWN_LINE) {
        return (shown, Vec::new());
    }
    let places = shown
        .labels
        .drain(..)
        .map(|l| {
            let (line, col) = file.line_col(l.span.start);
            let what = if l.text.is_empty() { String::new() } else { format!(": {}", l.text) };
            format!("{}:{line}:{col}{what} (the line is too long to show)", file.name)
        })
        .collect();
    shown.source = None;
    (shown, places)
}

/// The length in characters of the longest line a span touches.
fn longest_line(text: &str, span: Span) -> usize {
    let start = floor_boundary(text, span.start);
    let end = floor_boundary(text, span.end.max(span.start));
    let first = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let last = text[end..].find('\n').map_or(text.len(), |i| end + i);
    text[first..last].split('\n').map(|l| l.chars().count()).max().unwrap_or(0)
}

fn floor_boundary(text: &str, i: usize) -> usize {
    (0..=i.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0)
}

/// `text`, or its start and end around `…` when it is too long to show.
fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_SHOWN_TEXT {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX_SHOWN_TEXT - 100).collect();
    let tail: String = text.chars().rev().take(80).collect::<Vec<_>>().into_iter().rev().collect();
    format!("{head}…{tail}")
}

/// The closest candidate to `word`, if it is close enough to be a typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&word.to_lowercase(), &c.to_lowercase());
        let close = score >= 0.8 || strsim::damerau_levenshtein(word, c) <= 2.max(word.len() / 4);
        if close && best.is_none_or(|(_, s)| score > s) {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

/// "did you mean `x`?", or a list of the valid names when none is close.
pub fn did_you_mean(word: &str, candidates: &[&str], what: &str) -> String {
    match suggest(word, candidates.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None if candidates.is_empty() => format!("there are no {what}s here"),
        None => {
            let mut names: Vec<_> = candidates.iter().map(|c| format!("`{c}`")).collect();
            if names.len() > 12 {
                names.truncate(12);
                names.push("…".into());
            }
            format!("valid {what}s: {}", names.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_find_typos_only() {
        assert_eq!(suggest("scan_on_psh", ["scan_on_push", "name"]), Some("scan_on_push"));
        assert_eq!(suggest("zzzz", ["scan_on_push", "name"]), None);
    }

    /// A label past column 65535 made miette's renderer panic.
    #[test]
    fn a_label_on_a_huge_line_is_shown_by_its_place() {
        let key = "k".repeat(1_000_000);
        let text = format!("stack: t\nresources:\n  {key}:\n    kind: x\n  b{key}:\n    kind: y\n");
        let f = SourceFile::new("big.yaml", text.as_str());
        let start = text.find("  b").unwrap() + 2;
        let d = Diag::error("moor::test", format!("bad key `b{key}`"))
            .in_file(&f)
            .label(Span { start, end: start + key.len() + 1 }, "here");
        let out = render(&[d], false, 100);
        assert!(out.contains("big.yaml:5:3: here (the line is too long to show)"), "{}", &out[..out.len().min(2000)]);
        assert!(out.contains("× bad key") && out.contains("kkk…") && out.len() < 5000, "{out}");
    }

    #[test]
    fn line_col_counts_characters() {
        let f = SourceFile::new("f", "ab\nçd: x\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3 + "çd: ".len()), (2, 5));
    }
}
