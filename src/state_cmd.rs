//! `moor state list` and `moor state rm`: what a stack's record holds, and
//! forgetting entries of it without any call to AWS.
//!
//! Forgetting is not letting go: moor finds its resources by their
//! `moor:stack` and `moor:resource` tags too ([`crate::discover`]), so an
//! object that still carries them is found again by the next plan. What
//! that plan does with it is said, per resource, when it is forgotten
//! ([`next_plan`]).

use crate::backend::Held;
use crate::model::Stack;
use crate::run::{Failure, Outcome, RunOptions, Success};
use crate::state::{Entry, State, StateError};
use serde::Serialize;
use std::path::Path;

/// One resource of the record, as `state list` shows it.
#[derive(Debug, Serialize, PartialEq)]
pub struct Listed {
    pub logical: String,
    pub kind: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `retain: true` in the stack file; absent when no file was given (the
    /// record does not keep it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retained: Option<bool>,
    /// Recorded by `moor import` and not applied since (the record holds no
    /// fields as applied).
    pub imported: bool,
    /// Whether the stack file still declares it; absent without a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_file: Option<bool>,
    /// Replaced objects of it not deleted yet.
    pub deposed: usize,
    /// Its last wait, or deployment, did not settle.
    pub unsettled: bool,
}

/// The record's resources, in the order of their logical names.
pub fn listed(state: &State, stack: Option<&Stack>) -> Vec<Listed> {
    state
        .resources
        .iter()
        .map(|(logical, e)| {
            let r = stack.and_then(|s| s.resource(logical));
            Listed {
                logical: logical.clone(),
                kind: e.kind.to_string(),
                id: e.id.clone(),
                name: e.name.clone(),
                retained: stack.map(|_| r.is_some_and(|r| r.spec.retain())),
                imported: e.applied.is_none(),
                in_file: stack.map(|_| r.is_some()),
                deposed: e.deposed.len(),
                unsettled: e.unsettled || e.pending.is_some(),
            }
        })
        .collect()
}

/// The lines of `state list`: one per resource, columns aligned.
pub fn list_text(items: &[Listed]) -> String {
    let w = items.iter().map(|i| i.logical.len()).max().unwrap_or(0);
    let k = items.iter().map(|i| i.kind.len()).max().unwrap_or(0);
    let mut out = String::new();
    for i in items {
        let mut notes = Vec::new();
        if i.retained == Some(true) {
            notes.push("retained".to_string());
        }
        if i.imported {
            notes.push("imported".to_string());
        }
        if i.in_file == Some(false) {
            notes.push("not in the file".to_string());
        }
        if i.deposed > 0 {
            notes.push(format!("{} replaced object(s) to delete", i.deposed));
        }
        if i.unsettled {
            notes.push("not settled".to_string());
        }
        let notes = if notes.is_empty() { String::new() } else { format!("  ({})", notes.join(", ")) };
        out.push_str(&format!("{:w$}  {:k$}  {}{notes}\n", i.logical, i.kind, i.id));
    }
    out
}

/// A stack's name, its file's state location and region, and the stack
/// when its file was given.
type Which = (String, Option<crate::backend::Location>, Option<String>, Option<Stack>);

/// The stack a state command works on: its name, the state location and
/// region its file gives, and the stack itself when a file was given.
fn stack_for(file: Option<&Path>, stack_name: Option<&str>, o: &RunOptions) -> Result<Which, Failure> {
    match (file, stack_name) {
        (Some(f), None) => {
            let (stack, _) = crate::run::load(f, o)?;
            Ok((stack.name.clone(), stack.state.clone(), stack.region.clone(), Some(stack)))
        }
        _ => {
            let (name, at, region) = crate::run::stack_of(file, stack_name, o)?;
            Ok((name, at, region, None))
        }
    }
}

/// `moor state list`: the record's resources, one line each (or JSON).
pub fn list_cmd(file: Option<&Path>, stack_name: Option<&str>, json: bool, o: &RunOptions) -> Outcome {
    let (name, at, region, stack) = stack_for(file, stack_name, o)?;
    let rt = crate::run::runtime()?;
    rt.block_on(async {
        let backend = crate::run::open_backend(o, at.as_ref(), region.as_deref()).await?;
        let state = match backend.load(&name).await {
            Ok(Some(st)) => st,
            Ok(None) => {
                return Err(Failure::Message(format!(
                    "stack `{name}` has no state record at {}",
                    backend.record(&name)
                )))
            }
            Err(e) => return Err(Failure::Error(e.to_string())),
        };
        let items = listed(&state, stack.as_ref());
        if json {
            crate::run::out(&crate::run::json_text(&items)?)?;
        } else if items.is_empty() {
            eprintln!("The record of stack `{name}` at {} holds no resources.", backend.record(&name));
        } else {
            crate::run::out(&list_text(&items))?;
        }
        Ok(Success::Done)
    })
}

/// What the next plan does with a forgotten resource whose object still
/// carries the stack's tags, as [`crate::observe`], [`crate::discover`] and
/// the ownership rules ([`crate::provider::Live::owner`]) decide it.
pub fn next_plan(logical: &str, e: &Entry, stack: Option<&Stack>) -> String {
    let kind = e.kind;
    let untag = "remove its moor:stack and moor:resource tags in AWS first";
    match stack.map(|s| s.resource(logical)) {
        Some(Some(r)) if r.physical_name.is_some() => {
            let n = r.physical_name.as_deref().unwrap_or_default();
            format!(
                "`{logical}` is in the file: the next plan finds {kind} `{n}` by its name, and as it still carries this stack's tags, takes it back as `{logical}` and records it again (nothing is created). \
                 To have moor create a new one, {untag}: then `{n}` belongs to nothing moor manages, and the plan refuses to touch it until it is renamed in the file or imported"
            )
        }
        Some(Some(_)) => format!(
            "`{logical}` is in the file: the next plan creates a new {kind}, and deletes {} (found by its moor tags) as replaced; to keep that object, {untag}",
            e.id
        ),
        Some(None) => format!(
            "`{logical}` is not in the file: the next plan finds {} by its moor:stack tag and deletes it as removed from the file; to keep it, {untag}",
            e.id
        ),
        None => format!(
            "{} still carries this stack's tags: if the file declares `{logical}` by the same name, the next plan takes it back; if not, it deletes it as removed from the file. To let go of it, {untag}",
            e.id
        ),
    }
}

/// `moor state rm LOGICAL…`: drops the entries from the record under the
/// stack's lock, after confirmation; AWS is not called.
pub fn rm_cmd(logical: &[String], file: Option<&Path>, stack_name: Option<&str>, o: &RunOptions) -> Outcome {
    let (name, at, region, stack) = stack_for(file, stack_name, o)?;
    let rt = crate::run::runtime()?;
    let s = crate::run::style(o);
    let outcome = rt.block_on(async {
        let backend = crate::run::open_backend(o, at.as_ref(), region.as_deref()).await?;
        let warn = |w: String| eprintln!("{} {w}", s.yellow("warning:"));
        let (held, _) = backend.lock(&name, o.lock, &warn).await.map_err(|e| Failure::Error(e.to_string()))?;
        let outcome = rm_locked(&backend, &held, &name, logical, stack.as_ref(), o).await;
        held.release().await;
        outcome
    });
    // A confirmation still reading the terminal is not waited for.
    rt.shutdown_background();
    outcome
}

async fn rm_locked(
    backend: &crate::backend::Backend,
    held: &Held,
    name: &str,
    logical: &[String],
    stack: Option<&Stack>,
    o: &RunOptions,
) -> Outcome {
    let s = crate::run::style(o);
    let error = |e: StateError| Failure::Error(e.to_string());
    let Some(mut state) = backend.load(name).await.map_err(error)? else {
        return Err(Failure::Message(format!(
            "stack `{name}` has no state record at {}; nothing was changed",
            backend.record(name)
        )));
    };
    let known: Vec<&str> = state.resources.keys().map(String::as_str).collect();
    let mut unknown = Vec::new();
    for l in logical {
        if !state.resources.contains_key(l) {
            unknown.push(format!("`{l}` is not in the record; {}", crate::diag::did_you_mean(l, &known, "resource")));
        }
    }
    if !unknown.is_empty() {
        return Err(Failure::Error(format!("{}; nothing was changed", unknown.join("; "))));
    }
    let mut names: Vec<&String> = logical.iter().collect();
    names.sort();
    names.dedup();
    let mut text = format!(
        "Forget {} of stack `{name}` (the record at {}); AWS is not called:\n",
        crate::text::plural(names.len(), "resource"),
        backend.record(name)
    );
    for l in &names {
        let e = &state.resources[*l];
        text.push_str(&format!("  {} {l} ({}) {}\n", s.yellow("-"), e.kind, e.id));
    }
    eprint!("{text}");
    let question = format!("\nForget {}?", if names.len() == 1 { "it" } else { "them" });
    let asked = {
        let o = o.clone();
        tokio::task::spawn_blocking(move || crate::run::confirm(&question, &o)).await
    };
    match asked.unwrap_or_else(|e| Err(e.to_string())) {
        Ok(true) => {}
        Ok(false) => return Err(Failure::Message("Cancelled; nothing was changed.".into())),
        Err(e) => return Err(Failure::Error(e)),
    }
    let forgotten: Vec<(String, Entry)> =
        names.iter().filter_map(|l| state.resources.remove(*l).map(|e| (l.to_string(), e))).collect();
    state.serial += 1;
    // A lock taken from this run (an S3 lock not refreshed in time) no longer covers a write.
    if futures::FutureExt::now_or_never(held.lost()).is_some() {
        return Err(Failure::Error(format!("the lock of stack `{name}` was taken from this run; nothing was changed")));
    }
    backend.save(&state).await.map_err(error)?;
    for (l, e) in &forgotten {
        eprintln!("{} {l} ({}) {}", s.green("Forgotten:"), e.kind, e.id);
        eprintln!("  {}", next_plan(l, e, stack));
    }
    Ok(Success::Done)
}
