//! The plan as Markdown, for a pull-request comment (`moor plan --format
//! markdown`): a title with the stack and region, the counts, what is
//! replaced or deleted (and what data goes with it) at the top, then one
//! collapsed `<details>` per changed resource with its field changes in a
//! fenced `diff` block.
//!
//! It shows the same plan as [`crate::render::plan_text`], without colour
//! and with sensitive values masked the same way (the plan holds them
//! masked). It stays under [`LIMIT`] characters, GitHub's limit for a
//! comment: what does not fit is left out, with a note saying how much.

use crate::difftree::Mark;
use crate::plan::{Action, Change, Plan, Problem, ReplaceOrder};
use serde_json::Value;
use std::fmt::Write;

/// The most characters of a GitHub comment.
pub const LIMIT: usize = 65_536;

/// What the plan is kept under: the limit, less room for the note that
/// says what was left out.
const BUDGET: usize = LIMIT - 1_000;

/// Text for HTML (a `<summary>`) and Markdown: what could open a tag,
/// an entity or code span is escaped.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' => out.push_str("&#96;"),
            '|' => out.push_str("&#124;"),
            '*' | '_' | '[' | ']' | '\\' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `s` as inline code: HTML `<code>`, escaped (safe in a `<summary>` and in a list).
fn code(s: &str) -> String {
    let mut out = String::from("<code>");
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push_str("</code>");
    out
}

fn shorten(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        s
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

fn sign(a: Action) -> &'static str {
    match a {
        Action::Create => "+",
        Action::Update => "~",
        Action::Replace => "-/+",
        Action::Delete => "-",
        Action::Read => "<=",
        Action::Wait => "…",
        Action::NoOp => "",
    }
}

fn verb(c: &Change) -> &'static str {
    match c.action {
        Action::Create => "create",
        Action::Update => "update in place",
        Action::Replace => "replace",
        Action::Delete if c.deposed => "delete the old object",
        Action::Delete => "delete",
        Action::Wait if c.redeploy => "deploy again and wait",
        Action::Wait => "wait",
        Action::Read => "read",
        Action::NoOp => "no change",
    }
}

/// What a replacement or deletion takes with it, or fails on.
fn data_loss(c: &Change) -> Option<String> {
    let contents = c.kind.facts().contents?;
    match c.action {
        Action::Delete if c.force_delete => Some(format!("**its {} are deleted with it**", contents.many)),
        Action::Delete => {
            Some(format!("fails if it holds {} (set `{}` or use `--force`)", contents.many, contents.empty_field))
        }
        Action::Replace => Some(format!("**every {} in the old one is deleted**", contents.one)),
        _ => None,
    }
}

/// One line of the list of replacements and deletions.
fn caution_line(c: &Change) -> String {
    let mut why: Vec<String> = c.reasons.iter().map(|r| esc(r)).collect();
    match c.replace {
        Some(ReplaceOrder::CreateBeforeDelete) => why.push("the new one is created, then the old one deleted".into()),
        Some(ReplaceOrder::DeleteBeforeCreate) => {
            why.push("the old one is deleted first, then created again (same name)".into())
        }
        None => {}
    }
    why.extend(data_loss(c));
    let name = c.name.as_deref().map(|n| format!(" {}", code(n))).unwrap_or_default();
    let what = if c.action == Action::Replace { "replace" } else { verb(c) };
    let mut line = format!("- **{what}** {} ({}){name}", code(&c.resource), c.kind.as_str());
    if !why.is_empty() {
        let _ = write!(line, ": {}", why.join("; "));
    }
    line.push('\n');
    line
}

/// The field changes of `c` in a `diff` block: the text plan's lines
/// ([`crate::render::diff_lines`]), a changed value as an old and a new line.
fn diff_lines(out: &mut String, c: &Change) {
    for l in crate::render::diff_lines(c, true) {
        let mark = match l.mark {
            Mark::Add => '+',
            Mark::Remove => '-',
            Mark::Change => '~',
            Mark::Same if l.sensitive => '!',
            Mark::Same => ' ',
        };
        let force = if l.forces { "  # forces replacement" } else { "" };
        let _ = writeln!(out, "{mark} {}{}{force}", "    ".repeat(l.depth), l.text);
    }
}

/// The longest run of `c` in `s`.
fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for x in s.chars() {
        run = if x == c { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// The collapsed section of one changed resource.
fn details(c: &Change) -> String {
    let mut out = String::new();
    let name = c.name.as_deref().map(|n| format!(" {}", code(n))).unwrap_or_default();
    let _ = writeln!(
        out,
        "<details><summary>{} {}{name}: {}</summary>\n",
        code(&format!("{} {}", sign(c.action), c.resource)),
        c.kind.as_str(),
        verb(c)
    );
    if matches!(c.action, Action::Delete | Action::Wait | Action::Update) {
        for r in &c.reasons {
            let _ = writeln!(out, "- {}", esc(&shorten(r.clone(), 400)));
        }
    }
    if let Some(st) = &c.status {
        let n = |k: &str| st.get(k).and_then(Value::as_i64).unwrap_or(0);
        let _ = writeln!(
            out,
            "- {} of {} tasks running, {} pending, {} failed tasks, rollout {}",
            n("running"),
            n("desired"),
            n("pending"),
            n("failed_tasks"),
            esc(st.get("rollout").and_then(Value::as_str).unwrap_or("unknown"))
        );
    }
    if let Some(loss) = data_loss(c) {
        let _ = writeln!(out, "- {loss}");
    }
    if !c.diffs.is_empty() && matches!(c.action, Action::Create | Action::Update | Action::Replace) {
        if !out.ends_with("\n\n") {
            out.push('\n');
        }
        // A fence longer than any run of backticks in the lines (text).
        let mut lines = String::new();
        diff_lines(&mut lines, c);
        let fence = "`".repeat(longest_run(&lines, '`').max(2) + 1);
        let _ = write!(out, "{fence}diff\n{lines}{fence}\n");
    }
    if !out.ends_with("\n\n") {
        out.push('\n');
    }
    out.push_str("</details>\n");
    out
}

/// A titled list of problems or notices, one part each.
fn problems(parts: &mut Vec<Part>, title: &str, list: &[Problem]) {
    if list.is_empty() {
        return;
    }
    parts.push(Part { text: format!("\n**{title}**\n\n"), counts: false });
    for p in list {
        let text = format!("- {}: {} (help: {})\n", code(&p.resource), esc(&p.message), esc(&p.help));
        parts.push(Part { text, counts: true });
    }
}

/// The plan as Markdown, under [`LIMIT`] characters.
pub fn plan_markdown(plan: &Plan) -> String {
    let region = plan.region.as_deref().unwrap_or("the default region");
    let what = if plan.destroy { "destroy plan" } else { "plan" };
    let title = match &plan.target {
        Some(t) => format!("moor {what} for stack {} · {}", code(&plan.stack), esc(&t.describe())),
        None => format!("moor {what} for stack {} in {}", code(&plan.stack), code(region)),
    };
    let title = match &plan.partial {
        Some(p) => format!("{title} ({})", esc(&crate::targets::header(p, plan.destroy))),
        None => title,
    };
    let mut head = String::new();
    let mut parts = Vec::new();
    if !plan.has_changes() && !plan.problems.is_empty() {
        let _ = writeln!(head, "**{title}:** the plan cannot be applied.");
        problems(&mut parts, "Errors (the plan cannot be applied):", &plan.problems);
        problems(&mut parts, "Warnings:", &plan.notices);
        return finish(head, parts);
    }
    if !plan.has_changes() {
        let _ = writeln!(head, "**{title}:** no changes, live AWS matches the stack file.");
        problems(&mut parts, "Errors (the plan cannot be applied):", &plan.problems);
        problems(&mut parts, "Warnings:", &plan.notices);
        return finish(head, parts);
    }
    let _ = writeln!(head, "### {title}\n");
    let c = plan.counts();
    let waits = plan.changes.iter().filter(|c| c.action == Action::Wait).count();
    let _ = write!(
        head,
        "**Plan: {} to add, {} to change, {} to replace, {} to destroy",
        c.add, c.change, c.replace, c.destroy
    );
    if waits > 0 {
        let _ = write!(head, ", {waits} to wait for");
    }
    head.push_str(".**\n");
    problems(&mut parts, "Errors (the plan cannot be applied):", &plan.problems);

    let risky: Vec<&Change> =
        plan.changes.iter().filter(|c| matches!(c.action, Action::Replace | Action::Delete)).collect();
    if !risky.is_empty() {
        parts.push(Part { text: "\n**Replaced or deleted:**\n\n".into(), counts: false });
        for c in risky {
            parts.push(Part { text: caution_line(c), counts: true });
        }
    }
    let gone: Vec<&str> =
        plan.forget.iter().filter(|f| !plan.notices.iter().any(|n| &n.resource == *f)).map(String::as_str).collect();
    if !gone.is_empty() {
        let names: Vec<String> = gone.iter().map(|g| code(g)).collect();
        parts.push(Part {
            text: format!("\nAlready gone, dropped from the state record: {}\n", names.join(", ")),
            counts: false,
        });
    }
    problems(&mut parts, "Warnings:", &plan.notices);
    if !plan.pins.is_empty() {
        let mut text = "\n**Images by digest:**\n\n".to_string();
        for i in &plan.pins {
            let name = crate::images::short_name(&i.image);
            let _ = writeln!(text, "- {} → {}", code(&name), code(&crate::images::short_digest(&i.digest)));
        }
        parts.push(Part { text, counts: false });
    }
    let changed: Vec<&Change> =
        plan.changes.iter().filter(|c| !matches!(c.action, Action::NoOp | Action::Read)).collect();
    if !changed.is_empty() {
        parts.push(Part { text: "\n**Changes:**\n\n".into(), counts: false });
        for c in changed {
            parts.push(Part { text: details(c), counts: true });
        }
    }
    finish(head, parts)
}

/// A piece of the comment; `counts`: one resource's line or section.
struct Part {
    text: String,
    counts: bool,
}

/// `head`, then the parts that fit in the budget, then a note of what did not.
fn finish(head: String, parts: Vec<Part>) -> String {
    let mut out = head;
    let mut used = out.chars().count();
    let (mut left, mut left_chars) = (0usize, 0usize);
    for p in parts {
        let n = p.text.chars().count();
        if left == 0 && used + n <= BUDGET {
            out.push_str(&p.text);
            used += n;
        } else {
            left_chars += n;
            left += usize::from(p.counts);
        }
    }
    if left_chars > 0 {
        let _ = writeln!(
            out,
            "\n**Truncated:** {left} more {} ({left_chars} characters) left out to stay under GitHub's {LIMIT}-character limit; run `moor plan` for the full plan.",
            if left == 1 { "entry" } else { "entries" }
        );
    }
    out
}
