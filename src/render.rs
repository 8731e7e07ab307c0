//! Showing plans and apply results to people (text) and machines (JSON).
//! Rendering never decides anything: it only shows what plan and apply
//! produced.

use crate::apply::{Reporter, Step, Summary};
use crate::model::Kind;
use crate::plan::{Action, Change, Plan, ReplaceOrder};
use crate::provider::ProviderError;
use serde_json::Value;
use std::fmt::Write;
use std::io::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// ANSI colours, or nothing.
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn magenta(&self, s: &str) -> String {
        self.paint("35", s)
    }
    pub fn cyan(&self, s: &str) -> String {
        self.paint("36", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

fn symbol(style: Style, c: &Change) -> String {
    match c.action {
        Action::Create => style.green("  +"),
        Action::Update => style.yellow("  ~"),
        Action::Replace => style.magenta("-/+"),
        Action::Delete => style.red("  -"),
        Action::Read => style.cyan(" <="),
        Action::Wait => style.yellow("  …"),
        Action::NoOp => "   ".to_string(),
    }
}

/// A value as the file would write it.
pub fn value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn shorten(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        s
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

/// A problem or notice of the plan: `label resource: message`, then its help.
fn problem_text(out: &mut String, label: &str, p: &crate::plan::Problem, style: Style) {
    let _ = writeln!(out, "\n{label} {}: {}\n  {} {}", p.resource, p.message, style.cyan("help:"), p.help);
}

/// The plan as text.
pub fn plan_text(plan: &Plan, style: Style, verbose: bool) -> String {
    let mut out = String::new();
    let region = plan.region.as_deref().unwrap_or("the default region");
    let what = if plan.destroy { "destroy plan" } else { "plan" };
    match &plan.target {
        Some(t) => {
            let _ = writeln!(
                out,
                "{} for stack {} · {}",
                style.bold(&format!("moor {what}")),
                style.bold(&plan.stack),
                t.describe()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "{} for stack {} in {region}",
                style.bold(&format!("moor {what}")),
                style.bold(&plan.stack)
            );
        }
    }
    let _ = writeln!(out);
    let width = plan.changes.iter().map(|c| c.resource.len()).max().unwrap_or(0).max(4);
    let kwidth = plan.changes.iter().map(|c| c.kind.as_str().len()).max().unwrap_or(0);
    for c in &plan.changes {
        if c.action == Action::NoOp && !verbose {
            continue;
        }
        let name = c.name.clone().unwrap_or_default();
        let mut note = String::new();
        match (c.action, c.replace) {
            (Action::Replace, Some(ReplaceOrder::CreateBeforeDelete)) => {
                note.push_str("create the new one, then delete the old")
            }
            (Action::Replace, Some(ReplaceOrder::DeleteBeforeCreate)) => {
                note.push_str("delete the old one, then create (same name)")
            }
            (Action::Delete, _) => {
                note.push_str(&c.reasons.join(", "));
                // What the delete takes with it, or fails on.
                match c.kind.facts().contents {
                    Some(x) if c.force_delete => note.push_str(&format!(", with its {}", x.many)),
                    Some(x) => {
                        note.push_str(&format!("; fails if it holds {} (set {} or use --force)", x.many, x.empty_field))
                    }
                    None => {}
                }
            }
            (Action::Read, _) => note.push_str("read only"),
            (Action::Wait, _) => note.push_str(if c.redeploy { "deploy again and wait" } else { "wait" }),
            (Action::NoOp, _) => note.push_str("no change"),
            _ => {}
        }
        let _ = write!(
            out,
            "{} {:width$}  {}  {}",
            symbol(style, c),
            c.resource,
            style.dim(&format!("{:kwidth$}", c.kind.as_str())),
            name
        );
        if !note.is_empty() {
            let _ = write!(out, "  {}", style.dim(&format!("({note})")));
        }
        let _ = writeln!(out);
        if c.status.is_some() || c.action == Action::Wait {
            for r in &c.reasons {
                let _ = writeln!(out, "        {}", shorten(r.clone(), 400));
            }
            if let Some(st) = &c.status {
                let n = |k: &str| st.get(k).and_then(Value::as_i64).unwrap_or(0);
                let _ = writeln!(
                    out,
                    "        {} of {} tasks running, {} pending, {} failed tasks, rollout {}{}",
                    n("running"),
                    n("desired"),
                    n("pending"),
                    n("failed_tasks"),
                    st.get("rollout").and_then(Value::as_str).unwrap_or("unknown"),
                    st.get("rollout_reason").and_then(Value::as_str).map(|r| format!(" ({r})")).unwrap_or_default()
                );
                for e in st.get("events").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                    let _ = writeln!(out, "        {}", style.dim(&shorten(format!("event: {e}"), 200)));
                }
            }
        }
        if matches!(c.action, Action::Create | Action::Update | Action::Replace) {
            let fw = c.diffs.iter().map(|d| d.field.len()).max().unwrap_or(0);
            for d in &c.diffs {
                let after = if d.after_unknown {
                    style.dim("(known after apply)")
                } else {
                    d.after.as_ref().map(value).map(|s| shorten(s, 120)).unwrap_or_default()
                };
                let line = match (&d.before, c.action) {
                    (Some(b), Action::Update | Action::Replace) => format!("{} → {after}", shorten(value(b), 80)),
                    _ => after,
                };
                let force = if d.forces_replacement { style.magenta("  # forces replacement") } else { String::new() };
                let _ = writeln!(out, "        {:fw$}  {line}{force}", d.field);
                for path in &d.sensitive_changed {
                    let _ = writeln!(
                        out,
                        "        {:fw$}  {}",
                        "",
                        style.yellow(&format!("{path} changes {}", crate::secret::MASK))
                    );
                }
            }
        }
    }
    let gone: Vec<&str> =
        plan.forget.iter().filter(|f| !plan.notices.iter().any(|n| &n.resource == *f)).map(String::as_str).collect();
    if !gone.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            style.dim(&format!("Already gone, dropped from the state record: {}", gone.join(", ")))
        );
    }
    for n in &plan.notices {
        problem_text(&mut out, &style.yellow("warning:"), n, style);
    }
    let c = plan.counts();
    let _ = writeln!(out);
    if !plan.has_changes() && plan.problems.is_empty() {
        let _ = writeln!(out, "{} Live AWS matches the stack file.", style.bold("No changes."));
    } else if plan.has_changes() {
        let _ = writeln!(
            out,
            "{} {} to add, {} to change, {} to replace, {} to destroy{}.",
            style.bold("Plan:"),
            style.green(&c.add.to_string()),
            style.yellow(&c.change.to_string()),
            style.magenta(&c.replace.to_string()),
            style.red(&c.destroy.to_string()),
            match plan.changes.iter().filter(|c| c.action == Action::Wait).count() {
                0 => String::new(),
                n => format!(", {} to wait for", style.yellow(&n.to_string())),
            }
        );
    }
    for p in &plan.problems {
        problem_text(&mut out, &style.red("error:"), p, style);
    }
    out
}

/// The plan as JSON, for pipelines: [`crate::jsonplan`], whose shape is
/// stable (`format_version` changes when it does not stay compatible).
pub fn plan_json(plan: &Plan) -> Value {
    serde_json::to_value(crate::jsonplan::JsonPlan::from(plan)).expect("a JSON plan is serializable")
}

pub fn error_line(style: Style, resource: &str, kind: Kind, e: &ProviderError) -> String {
    format!("{} {resource} ({kind}): {e}", style.red("✗"))
}

/// The end of an apply or destroy, as text. Each failure was printed as it
/// happened ([`Progress`]), so here it is only counted; what was skipped is
/// listed here only (some of it, when the run is interrupted, is known only
/// at the end).
pub fn summary_text(s: &Summary, destroy: bool, style: Style) -> String {
    let mut out = String::new();
    for (r, why) in &s.skipped {
        let _ = writeln!(out, "{} {r}: {why}", style.yellow("skipped"));
    }
    if let Some(e) = &s.state_error {
        let _ = writeln!(out, "{} {e}", style.red("state record not written:"));
    }
    let counts = format!(
        "{} created, {} changed, {} replaced, {} deleted",
        s.created.len(),
        s.updated.len(),
        s.replaced.len(),
        s.deleted.len()
    );
    let what = if destroy { "Destroy" } else { "Apply" };
    if s.ok() {
        let _ = writeln!(out, "\n{} {counts}.", style.green(&format!("{what} complete:")));
    } else if s.interrupted {
        let _ = writeln!(
            out,
            "\n{} {counts}; the rest was not started. Run the same command again to finish.",
            style.yellow(&format!("{what} interrupted:"))
        );
    } else {
        let _ = writeln!(
            out,
            "\n{} {counts}; {} failed, {} skipped. Fix the cause and run again: what succeeded is recorded.",
            style.red(&format!("{what} failed:")),
            s.failed.len(),
            s.skipped.len()
        );
    }
    out
}

/// Progress on stderr: a line when a step starts on a terminal, a line when
/// it ends or fails everywhere (what is skipped is in the summary).
pub struct Progress {
    pub style: Style,
    pub terminal: bool,
    pub lock: Mutex<()>,
}

impl Progress {
    fn line(&self, s: String) {
        // The lock only keeps lines whole; it guards no data.
        let _g = self.lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = writeln!(std::io::stderr(), "{s}");
    }
}

fn doing(step: Step) -> &'static str {
    match step {
        Step::Keep | Step::Read => "reading",
        Step::Create => "creating",
        Step::Update => "updating",
        Step::CreateReplacement => "creating the replacement of",
        Step::DeleteOld => "deleting the old",
        Step::Delete => "deleting",
        Step::Wait => "waiting for",
    }
}

impl Reporter for Progress {
    fn started(&self, resource: &str, kind: Kind, step: Step) {
        if self.terminal && step.writes() {
            self.line(format!("  {} {resource} ({kind})…", self.style.dim(doing(step))));
        }
    }
    fn finished(&self, resource: &str, kind: Kind, step: Step, elapsed: Duration) {
        if step.writes() {
            self.line(format!(
                "  {} {} {resource} ({kind}) in {:.1}s",
                self.style.green("✓"),
                step.verb(),
                elapsed.as_secs_f64()
            ));
        }
    }
    fn failed(&self, resource: &str, kind: Kind, _step: Step, error: &ProviderError) {
        self.line(format!("  {}", error_line(self.style, resource, kind, error)));
    }
}
