//! Showing plans and apply results to people (text) and machines (JSON).
//! Rendering never decides anything: it only shows what plan and apply
//! produced.

use crate::apply::{Reporter, Step, Summary};
use crate::difftree::{Mark, UNKNOWN};
use crate::model::Kind;
use crate::plan::{Action, Change, Plan, ReplaceOrder};
use crate::provider::ProviderError;
use serde_json::Value;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Colours, or nothing: whether there are any is decided once, in
/// [`crate::cli::color_choice`].
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, style: anstyle::Style, s: &str) -> String {
        if self.color {
            format!("{}{s}{}", style.render(), style.render_reset())
        } else {
            s.to_string()
        }
    }
    fn fg(&self, c: anstyle::AnsiColor, s: &str) -> String {
        self.paint(anstyle::Style::new().fg_color(Some(c.into())), s)
    }
    pub fn green(&self, s: &str) -> String {
        self.fg(anstyle::AnsiColor::Green, s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.fg(anstyle::AnsiColor::Yellow, s)
    }
    pub fn red(&self, s: &str) -> String {
        self.fg(anstyle::AnsiColor::Red, s)
    }
    pub fn magenta(&self, s: &str) -> String {
        self.fg(anstyle::AnsiColor::Magenta, s)
    }
    pub fn cyan(&self, s: &str) -> String {
        self.fg(anstyle::AnsiColor::Cyan, s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint(anstyle::Style::new().dimmed(), s)
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint(anstyle::Style::new().bold(), s)
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
    if let Some(p) = &plan.partial {
        let _ = writeln!(out, "{}", style.yellow(&crate::targets::header(p, plan.destroy)));
    }
    let _ = writeln!(out);
    let width = plan.changes.iter().map(|c| c.resource.len()).max().unwrap_or(0).max(4);
    let kwidth = plan.changes.iter().map(|c| c.kind.as_str().len()).max().unwrap_or(0);
    for c in &plan.changes {
        if c.action == Action::NoOp && !verbose && c.reasons.is_empty() {
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
        if c.status.is_some() || matches!(c.action, Action::Wait | Action::Update | Action::NoOp | Action::Create) {
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
            for line in diff_lines(c, false) {
                let mark = match line.mark {
                    Mark::Add => style.green("+"),
                    Mark::Remove => style.red("-"),
                    Mark::Change => style.yellow("~"),
                    Mark::Same => " ".into(),
                };
                let text = match line.mark {
                    Mark::Same if line.sensitive => style.yellow(&line.text),
                    Mark::Same => style.dim(&line.text),
                    _ => line.text.replace(UNKNOWN, &style.dim(UNKNOWN)),
                };
                let force = if line.forces { style.magenta("  # forces replacement") } else { String::new() };
                let _ = writeln!(out, "        {mark} {}{text}{force}", "    ".repeat(line.depth));
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
    if !plan.pins.is_empty() {
        let _ = writeln!(out, "\nImages by digest:");
        for i in &plan.pins {
            let _ = writeln!(
                out,
                "  {} → {}  {}",
                crate::images::short_name(&i.image),
                crate::images::short_digest(&i.digest),
                style.dim(&format!("({})", i.resource))
            );
        }
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

/// One line of the changes of a resource's fields, as both the text and
/// the Markdown plan show them.
pub struct DiffLine {
    pub mark: Mark,
    pub depth: usize,
    pub text: String,
    /// The first line of a field AWS cannot change in place.
    pub forces: bool,
    /// A sensitive value changes (shown only as masked).
    pub sensitive: bool,
}

/// The changes of a resource's fields, each field a tree of what changes
/// inside it ([`crate::difftree`]), then the sensitive values that change.
/// `split`: a changed value is an old and a new line (a `diff` block).
pub fn diff_lines(c: &Change, split: bool) -> Vec<DiffLine> {
    let ordered = |k: &str| c.kind.facts().ordered_lists.contains(&k);
    let mut out = Vec::new();
    for d in &c.diffs {
        let lines = crate::difftree::field_lines(d, &ordered, split);
        // The note goes on the field's new value (its old one, if gone).
        let at = lines.iter().position(|l| l.mark != Mark::Remove).unwrap_or(0);
        for (i, l) in lines.into_iter().enumerate() {
            let forces = i == at && d.forces_replacement;
            out.push(DiffLine { mark: l.mark, depth: l.depth, text: l.text, forces, sensitive: false });
        }
        for path in &d.sensitive_changed {
            out.push(DiffLine {
                mark: Mark::Same,
                depth: 0,
                text: format!("{path} changes {}", crate::secret::MASK),
                forces: false,
                sensitive: true,
            });
        }
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

/// How often a resource that is still in progress is reported without a
/// terminal (CI logs): a plain line each time.
pub const HEARTBEAT: Duration = Duration::from_secs(20);

/// Progress on stderr. On a terminal, one live line per step in progress
/// (what it waits for, for how long); without one, a plain line every
/// [`HEARTBEAT`] per step still waiting for AWS. Everywhere a line when a step
/// ends or fails (what is skipped is in the summary), and each service
/// event the provider passes on, once.
pub struct Progress {
    pub style: Style,
    pub terminal: bool,
    /// `-q`: only the steps that failed.
    quiet: bool,
    out: Mutex<Out>,
}

struct Out {
    sink: Box<dyn std::io::Write + Send>,
    /// The live lines, on a terminal.
    bars: Option<indicatif::MultiProgress>,
    running: Vec<Running>,
}

/// A step in progress.
struct Running {
    resource: String,
    kind: Kind,
    step: Step,
    started: tokio::time::Instant,
    /// What its provider said it waits for, last.
    status: Option<String>,
    /// When it was last reported without a terminal.
    beat: tokio::time::Instant,
    bar: Option<indicatif::ProgressBar>,
}

impl Running {
    fn text(&self) -> String {
        let what = self.status.clone().unwrap_or_else(|| doing(self.step).to_string());
        format!("{} ({}): {what}", self.resource, self.kind)
    }
}

impl Out {
    /// A whole line, above the live lines when there are any.
    fn line(&mut self, s: &str) {
        let sink = &mut self.sink;
        let mut write = || {
            let _ = writeln!(sink, "{s}").and_then(|_| sink.flush());
        };
        match &self.bars {
            Some(bars) => bars.suspend(write),
            None => write(),
        }
    }

    fn take(&mut self, resource: &str, step: Step) -> Option<Running> {
        let i = self.running.iter().position(|r| r.resource == resource && r.step == step)?;
        Some(self.running.remove(i))
    }
}

impl Progress {
    /// Progress on stderr, live when `terminal`.
    pub fn new(style: Style, terminal: bool) -> Progress {
        // `-q`: a step's failure only, plainly.
        let terminal = terminal && !crate::trace::quiet();
        let bars =
            terminal.then(|| indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr()));
        crate::progress::set_live(bars.clone());
        Progress {
            style,
            terminal,
            quiet: crate::trace::quiet(),
            out: Mutex::new(Out { sink: Box::new(std::io::stderr()), bars, running: Vec::new() }),
        }
    }

    /// Progress without a terminal, written to `sink`.
    pub fn plain(style: Style, sink: Box<dyn std::io::Write + Send>) -> Progress {
        Progress {
            style,
            terminal: false,
            quiet: false,
            out: Mutex::new(Out { sink, bars: None, running: Vec::new() }),
        }
    }

    fn out(&self) -> std::sync::MutexGuard<'_, Out> {
        // A poisoned lock still holds whole lines and the steps in progress.
        self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bar(&self, bars: &indicatif::MultiProgress, text: String) -> indicatif::ProgressBar {
        let template = if self.style.color { "  {spinner:.dim} {msg}, {t}" } else { "  {spinner} {msg}, {t}" };
        let style = indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
            .with_key("t", |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&crate::progress::human(s.elapsed()));
            });
        let bar = bars.add(indicatif::ProgressBar::new_spinner().with_style(style).with_message(text));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// The step's line goes; `line` takes its place.
    fn ended(&self, resource: &str, step: Step, line: &str) {
        let mut out = self.out();
        if let Some(bar) = out.take(resource, step).and_then(|r| r.bar) {
            bar.finish_and_clear();
            if let Some(bars) = &out.bars {
                bars.remove(&bar);
            }
        }
        out.line(line);
    }
}

fn doing(step: Step) -> &'static str {
    match step {
        Step::Keep | Step::Read => "reading",
        Step::Create => "creating",
        Step::Update => "updating",
        Step::CreateReplacement => "creating the replacement",
        Step::DeleteOld => "deleting the old one",
        Step::Delete => "deleting",
        Step::Wait => "waiting",
    }
}

impl Reporter for Progress {
    fn started(&self, resource: &str, kind: Kind, step: Step) {
        if !step.writes() {
            return;
        }
        let now = tokio::time::Instant::now();
        let mut r =
            Running { resource: resource.to_string(), kind, step, started: now, status: None, beat: now, bar: None };
        let mut out = self.out();
        if let Some(bars) = &out.bars {
            r.bar = Some(self.bar(bars, r.text()));
        }
        out.running.push(r);
    }

    fn waiting(&self, resource: &str, _kind: Kind, step: Step, status: &str) {
        let mut out = self.out();
        if let Some(r) = out.running.iter_mut().find(|r| r.resource == resource && r.step == step) {
            r.status = Some(crate::progress::one_line(status));
            if let Some(bar) = &r.bar {
                bar.set_message(r.text());
            }
        }
    }

    fn event(&self, resource: &str, kind: Kind, _step: Step, line: &str) {
        if self.quiet {
            return;
        }
        let text = self.style.dim(&format!("{resource} ({kind}): {}", crate::progress::one_line(line)));
        self.out().line(&format!("    {text}"));
    }

    fn tick(&self) {
        if self.terminal || self.quiet {
            return;
        }
        let now = tokio::time::Instant::now();
        let mut out = self.out();
        let mut lines = Vec::new();
        // Only waits: a call AWS is slow to answer is named on its own.
        for r in out.running.iter_mut().filter(|r| r.status.is_some() && now - r.beat >= HEARTBEAT) {
            r.beat = now;
            lines.push(format!("  {} {}, {}", self.style.dim("…"), r.text(), crate::progress::human(now - r.started)));
        }
        for l in lines {
            out.line(&l);
        }
    }

    fn finished(&self, resource: &str, kind: Kind, step: Step, elapsed: Duration) {
        if self.quiet {
            self.out().take(resource, step);
        } else if step.writes() {
            self.ended(
                resource,
                step,
                &format!(
                    "  {} {} {resource} ({kind}) in {:.1}s",
                    self.style.green("✓"),
                    step.verb(),
                    elapsed.as_secs_f64()
                ),
            );
        }
    }

    fn failed(&self, resource: &str, kind: Kind, step: Step, error: &ProviderError) {
        self.ended(resource, step, &format!("  {}", error_line(self.style, resource, kind, error)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ErrorKind;

    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buf {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    const PLAIN: Style = Style { color: false };

    /// Colours are the ANSI codes terminals know, and nothing without them.
    #[test]
    fn styles_are_ansi_codes_or_nothing() {
        let c = Style { color: true };
        assert_eq!(c.green("+"), "\x1b[32m+\x1b[0m");
        assert_eq!(c.yellow("~"), "\x1b[33m~\x1b[0m");
        assert_eq!(c.red("-"), "\x1b[31m-\x1b[0m");
        assert_eq!(c.magenta("-/+"), "\x1b[35m-/+\x1b[0m");
        assert_eq!(c.cyan("<="), "\x1b[36m<=\x1b[0m");
        assert_eq!(c.dim("…"), "\x1b[2m…\x1b[0m");
        assert_eq!(c.bold("Outputs:"), "\x1b[1mOutputs:\x1b[0m");
        assert_eq!(PLAIN.green("+"), "+");
    }

    /// Without a terminal: nothing when a step starts, a line every 20 s
    /// per step still waiting with its last status (none for one that
    /// said nothing), none after it ended; AWS's text never brings control
    /// characters.
    #[tokio::test(start_paused = true)]
    async fn without_a_terminal_each_waiting_step_beats_every_20_seconds() {
        let out = Buf::default();
        let p = Progress::plain(PLAIN, Box::new(out.clone()));
        p.started("lb", Kind::Elbv2LoadBalancer, Step::Create);
        p.started("role", Kind::IamRole, Step::Create);
        p.started("repo", Kind::EcrRepository, Step::Read);
        p.started("cluster", Kind::EcsCluster, Step::Create);
        p.waiting("lb", Kind::Elbv2LoadBalancer, Step::Create, "load balancer provisioning");
        for second in 1..=80 {
            tokio::time::advance(Duration::from_secs(1)).await;
            p.tick();
            match second {
                10 => p.waiting("role", Kind::IamRole, Step::Create, "role not yet \x1b[31massumable\n, retrying"),
                30 => p.finished("role", Kind::IamRole, Step::Create, Duration::from_secs(30)),
                45 => p.event("lb", Kind::Elbv2LoadBalancer, Step::Create, "a line\rfrom AWS"),
                _ => {}
            }
        }
        let e = ProviderError::new(ErrorKind::Wait, "elbv2:DescribeLoadBalancers", "gave up after 1m20s");
        p.failed("lb", Kind::Elbv2LoadBalancer, Step::Create, &e);
        p.tick();
        let text = out.text();
        assert_eq!(
            text,
            "  … lb (elbv2/load_balancer): load balancer provisioning, 20s
  … role (iam/role): role not yet  [31massumable , retrying, 20s
  ✓ created role (iam/role) in 30.0s
  … lb (elbv2/load_balancer): load balancer provisioning, 40s
    lb (elbv2/load_balancer): a line from AWS
  … lb (elbv2/load_balancer): load balancer provisioning, 1m00s
  … lb (elbv2/load_balancer): load balancer provisioning, 1m20s
  ✗ lb (elbv2/load_balancer): elbv2:DescribeLoadBalancers failed: gave up after 1m20s
"
        );
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
    }

    /// On a terminal: a live line per step in progress saying what it
    /// waits for, replaced by the usual line when the step ends; no
    /// heartbeats.
    #[tokio::test(start_paused = true)]
    async fn on_a_terminal_a_live_line_per_step_becomes_its_result_line() {
        let out = Buf::default();
        let bars = indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
        let p = Progress {
            style: PLAIN,
            terminal: true,
            quiet: false,
            out: Mutex::new(Out { sink: Box::new(out.clone()), bars: Some(bars), running: Vec::new() }),
        };
        let live = |p: &Progress| {
            p.out().running.iter().map(|r| r.bar.as_ref().expect("a live line").message()).collect::<Vec<_>>()
        };
        p.started("lb", Kind::Elbv2LoadBalancer, Step::Create);
        p.started("app", Kind::EcsService, Step::Wait);
        assert_eq!(live(&p), ["lb (elbv2/load_balancer): creating", "app (ecs/service): waiting"]);
        p.waiting("lb", Kind::Elbv2LoadBalancer, Step::Create, "load balancer provisioning");
        p.waiting("app", Kind::EcsService, Step::Wait, "deployment 1/2 tasks running, 0 failed");
        assert_eq!(
            live(&p),
            [
                "lb (elbv2/load_balancer): load balancer provisioning",
                "app (ecs/service): deployment 1/2 tasks running, 0 failed"
            ]
        );
        tokio::time::advance(Duration::from_secs(60)).await;
        p.tick();
        p.finished("lb", Kind::Elbv2LoadBalancer, Step::Create, Duration::from_secs(60));
        assert_eq!(live(&p), ["app (ecs/service): deployment 1/2 tasks running, 0 failed"]);
        p.finished("app", Kind::EcsService, Step::Wait, Duration::from_secs(61));
        assert!(live(&p).is_empty());
        assert_eq!(
            out.text(),
            "  ✓ created lb (elbv2/load_balancer) in 60.0s\n  ✓ waited for app (ecs/service) in 61.0s\n"
        );
    }
}
