//! The commands that talk to AWS: plan, apply, destroy, import, outputs.
//!
//! Each is the pipeline of the design: load and check the file, build the
//! graph, take the stack's lock, read the state record, observe live AWS,
//! plan, then (for apply and destroy) confirm and apply. Exit codes: 0
//! success (for `plan --detailed-exitcode`: no changes), 1 error, 2 changes
//! present (`plan --detailed-exitcode` only).

use crate::apply::{apply, ApplyOptions, Summary};
use crate::diag::Diag;
use crate::graph::Graph;
use crate::load::{LoadOptions, Loaded};
use crate::model::Stack;
use crate::observe::observe;
use crate::plan::{plan, Plan, PlanOptions};
use crate::provider::aws::AwsProvider;
use crate::provider::{Provider, ProviderOptions};
use crate::render::{self, Progress, Style};
use crate::state::{LocalBackend, State, StateError};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Settings shared by the commands that reach AWS.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub load: LoadOptions,
    pub state_dir: PathBuf,
    pub parallelism: usize,
    pub max_requests: usize,
    pub wait_timeout: Duration,
    pub force: bool,
    pub auto_approve: bool,
    pub color: bool,
}

pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;

fn eprint_diags(diags: &[Diag], color: bool) {
    if !diags.is_empty() {
        let width = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(100);
        let _ = std::io::stderr().write_all(crate::diag::render(diags, color, width).as_bytes());
    }
}

fn style(o: &RunOptions) -> Style {
    Style { color: o.color }
}

/// The stack and its graph, or the diagnostics (printed) and `None`.
fn load(file: &Path, o: &RunOptions) -> Option<(Stack, Graph)> {
    let (loaded, graph): (Loaded, Option<Graph>) = crate::cli::load_and_graph(file, &o.load);
    eprint_diags(&loaded.diags, o.color);
    match (loaded.stack, graph) {
        (Some(s), Some(g)) => Some((s, g)),
        _ => {
            let errors = loaded.diags.iter().filter(|d| d.is_error()).count();
            eprintln!(
                "{}: {errors} error{}; nothing was read from or sent to AWS",
                file.display(),
                if errors == 1 { "" } else { "s" }
            );
            None
        }
    }
}

fn provider_options(o: &RunOptions) -> ProviderOptions {
    ProviderOptions { wait_timeout: o.wait_timeout, max_requests: o.max_requests, ..Default::default() }
}

/// A connection started before the stack file is parsed.
type Early = Option<tokio::task::JoinHandle<Result<AwsProvider, crate::provider::ProviderError>>>;

/// Setting up the SDK takes milliseconds (its configuration, the system's
/// TLS roots), so it starts while the file is parsed, in the region known
/// so far: `--region`, else the environment's. Without either it waits for
/// the file (guessing would mean asking the instance metadata service).
fn connect_early(rt: &tokio::runtime::Runtime, o: &RunOptions) -> Early {
    let env = || ["AWS_REGION", "AWS_DEFAULT_REGION"].iter().find_map(|k| std::env::var(k).ok());
    let region = o.load.region.clone().or_else(env).filter(|r| !r.is_empty())?;
    Some(rt.spawn(AwsProvider::connect(Some(region), provider_options(o))))
}

/// The provider for the stack's region: the early one when it is in that
/// region, else a new one.
async fn connect(stack: &Stack, o: &RunOptions, early: Early) -> Option<Arc<AwsProvider>> {
    let first = match early {
        Some(handle) => handle.await.ok().and_then(Result::ok),
        None => None,
    };
    let ready = first.filter(|p| stack.region.as_ref().is_none_or(|want| *want == p.region));
    let made = match ready {
        Some(p) => Ok(p),
        None => AwsProvider::connect(stack.region.clone(), provider_options(o)).await,
    };
    match made {
        Ok(p) => Some(Arc::new(p)),
        Err(e) => {
            eprintln!("{} {e}", style(o).red("error:"));
            None
        }
    }
}

/// The state record; a corrupt one is set aside and rebuilt from the
/// resources' tags (reads by name find what carries this stack's tags).
fn read_state(backend: &LocalBackend, stack: &Stack, o: &RunOptions) -> Option<State> {
    match backend.load(&stack.name) {
        Ok(Some(s)) => Some(s),
        Ok(None) => Some(State::new(&stack.name, stack.region.as_deref())),
        Err(StateError::Corrupt { path, reason }) => {
            let aside = backend.quarantine(&stack.name);
            eprintln!(
                "{} the state record {} is corrupt ({reason}); it was moved to {} and is rebuilt from the moor:stack tags of the resources in the file",
                style(o).yellow("warning:"),
                path.display(),
                aside.map_or("(could not move it)".to_string(), |p| p.display().to_string())
            );
            Some(State::new(&stack.name, stack.region.as_deref()))
        }
        Err(e) => {
            eprintln!("{} {e}", style(o).red("error:"));
            None
        }
    }
}

async fn make_plan<P: Provider + ?Sized>(
    p: &P,
    stack: &Stack,
    graph: &Graph,
    state: &State,
    destroy: bool,
    o: &RunOptions,
) -> Option<Plan> {
    match observe(p, stack, graph, state).await {
        Ok(observed) => Some(plan(stack, graph, state, &observed, destroy, PlanOptions { force: o.force })),
        Err(errors) => {
            for e in errors {
                let kind = stack
                    .resource(&e.resource)
                    .map(|r| r.kind().to_string())
                    .or_else(|| state.resources.get(&e.resource).map(|x| x.kind.to_string()));
                let kind = kind.map(|k| format!(" ({k})")).unwrap_or_default();
                eprintln!("{} reading {}{kind}: {}", style(o).red("✗"), e.resource, e.error);
            }
            eprintln!("could not read the live state of the stack; nothing was changed");
            None
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime")
}

/// `moor plan`.
pub fn plan_cmd(file: &Path, destroy: bool, json: bool, detailed: bool, o: &RunOptions) -> u8 {
    let rt = runtime();
    let early = connect_early(&rt, o);
    let Some((stack, graph)) = load(file, o) else { return EXIT_ERROR };
    rt.block_on(async {
        let Some(p) = connect(&stack, o, early).await else { return EXIT_ERROR };
        let backend = LocalBackend::new(&o.state_dir);
        let Some(state) = read_state(&backend, &stack, o) else { return EXIT_ERROR };
        let Some(pl) = make_plan(p.as_ref(), &stack, &graph, &state, destroy, o).await else { return EXIT_ERROR };
        if json {
            let mut text = serde_json::to_string_pretty(&render::plan_json(&pl)).expect("json");
            text.push('\n');
            crate::cli::out(&text);
        } else {
            eprint!("{}", render::plan_text(&pl, style(o), false));
        }
        if !pl.problems.is_empty() {
            EXIT_ERROR
        } else if detailed && pl.has_changes() {
            EXIT_CHANGES
        } else {
            EXIT_OK
        }
    })
}

fn confirm(question: &str, o: &RunOptions) -> Result<bool, String> {
    if o.auto_approve {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err("not on a terminal, so there is no one to confirm: pass --auto-approve".into());
    }
    eprint!("{question} Only 'yes' will be accepted: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| e.to_string())?;
    Ok(line.trim() == "yes")
}

/// Installs the Ctrl-C and SIGTERM handlers (see [`crate::interrupt`])
/// before anything reaches AWS.
fn on_interrupt(rt: &tokio::runtime::Runtime, color: bool) {
    crate::interrupt::install(rt, move |name| {
        let s = Style { color };
        eprintln!(
            "\n{} ({name}) finishing the calls in flight and recording them; send it again to quit at once",
            s.yellow("interrupted:")
        );
    });
}

/// `fut`, or `None` when the run is interrupted first (it is dropped: only
/// for what changes nothing in AWS).
async fn unless_interrupted<T>(fut: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::select! {
        v = fut => Some(v),
        () = crate::interrupt::signalled() => None,
    }
}

/// The exit code of a run stopped before it changed anything.
fn stopped_unchanged() -> u8 {
    eprintln!("Interrupted; nothing was changed.");
    crate::interrupt::code().unwrap_or(EXIT_ERROR)
}

async fn execute<P: Provider + 'static>(
    p: Arc<P>,
    stack: &Stack,
    graph: &Graph,
    pl: &Plan,
    state: State,
    backend: &LocalBackend,
    o: &RunOptions,
) -> Summary {
    let cancel = Arc::new(AtomicBool::new(crate::interrupt::is_set()));
    let flag = cancel.clone();
    let watcher = tokio::spawn(async move {
        crate::interrupt::signalled().await;
        flag.store(true, Ordering::SeqCst);
    });
    let reporter = Progress { style: style(o), terminal: std::io::stderr().is_terminal(), lock: Mutex::new(()) };
    let (summary, _state) =
        apply(p, stack, graph, pl, state, backend, &ApplyOptions { parallelism: o.parallelism }, &reporter, cancel)
            .await;
    watcher.abort();
    summary
}

/// `moor apply` and `moor destroy`.
pub fn apply_cmd(file: Option<&Path>, stack_name: Option<&str>, destroy: bool, o: &RunOptions) -> u8 {
    let rt = runtime();
    on_interrupt(&rt, o.color);
    let code = apply_on(&rt, file, stack_name, destroy, o);
    // A confirmation still reading the terminal is not waited for.
    rt.shutdown_background();
    code
}

fn apply_on(
    rt: &tokio::runtime::Runtime,
    file: Option<&Path>,
    stack_name: Option<&str>,
    destroy: bool,
    o: &RunOptions,
) -> u8 {
    let early = connect_early(rt, o);
    let (stack, graph) = match (file, stack_name) {
        (Some(f), _) => match load(f, o) {
            Some(x) => x,
            None => return EXIT_ERROR,
        },
        // Destroy without the file: the state record knows what to delete.
        (None, Some(name)) => {
            let text = format!("stack: {name}\n");
            let mut lo = o.load.clone();
            lo.vars.clear();
            let l = crate::load::load_str("(no file)", &text, &lo);
            let Some(mut s) = l.stack else {
                eprint_diags(&l.diags, o.color);
                return EXIT_ERROR;
            };
            s.region = o.load.region.clone().or_else(|| std::env::var("AWS_REGION").ok());
            let (g, _) = crate::graph::build(&s);
            (s, g)
        }
        (None, None) => {
            eprintln!("give the stack file, or --stack NAME to destroy a stack whose file is gone");
            return EXIT_ERROR;
        }
    };
    let s = style(o);
    rt.block_on(async {
        let backend = LocalBackend::new(&o.state_dir);
        let _lock = match backend.lock(&stack.name) {
            Ok((lock, warning)) => {
                if let Some(w) = warning {
                    eprintln!("{} {w}", s.yellow("warning:"));
                }
                lock
            }
            Err(e) => {
                eprintln!("{} {e}", s.red("error:"));
                return EXIT_ERROR;
            }
        };
        let Some(mut state) = read_state(&backend, &stack, o) else { return EXIT_ERROR };
        if state.region.is_none() {
            state.region = stack.region.clone();
        }
        let mut stack = stack;
        if stack.region.is_none() {
            stack.region = state.region.clone();
        }
        let Some(p) = connect(&stack, o, early).await else { return EXIT_ERROR };
        let Some(planned) = unless_interrupted(make_plan(p.as_ref(), &stack, &graph, &state, destroy, o)).await else {
            return stopped_unchanged();
        };
        let Some(pl) = planned else { return EXIT_ERROR };
        eprint!("{}", render::plan_text(&pl, s, false));
        if !pl.problems.is_empty() {
            eprintln!("\nNothing was changed.");
            return EXIT_ERROR;
        }
        if !pl.has_changes() {
            // No call that changes AWS, but the record is refreshed (and
            // rebuilt, when it was lost, from what carries the stack's tags).
            let summary = execute(p, &stack, &graph, &pl, state, &backend, o).await;
            if let Some(code) = crate::interrupt::code() {
                return code;
            }
            if !summary.ok() {
                eprint!("{}", render::summary_text(&summary, destroy, s));
                return EXIT_ERROR;
            }
            if !destroy {
                if let Ok(Some(st)) = backend.load(&stack.name) {
                    print_outputs(&st, o);
                }
            }
            return EXIT_OK;
        }
        let question =
            if destroy { format!("\nDestroy stack {}?", stack.name) } else { "\nApply these changes?".to_string() };
        let asked = {
            let o = o.clone();
            unless_interrupted(tokio::task::spawn_blocking(move || confirm(&question, &o))).await
        };
        let Some(answer) = asked else { return stopped_unchanged() };
        match answer.unwrap_or_else(|e| Err(e.to_string())) {
            Ok(true) if crate::interrupt::is_set() => return stopped_unchanged(),
            Ok(true) => {}
            Ok(false) => {
                eprintln!("Cancelled; nothing was changed.");
                return EXIT_ERROR;
            }
            Err(e) => {
                eprintln!("{} {e}", s.red("error:"));
                return EXIT_ERROR;
            }
        }
        eprintln!();
        let summary = execute(p, &stack, &graph, &pl, state, &backend, o).await;
        eprint!("{}", render::summary_text(&summary, destroy, s));
        if let Some(code) = crate::interrupt::code() {
            return code;
        }
        if summary.ok() && !destroy {
            if let Ok(Some(st)) = backend.load(&stack.name) {
                print_outputs(&st, o);
            }
        }
        if summary.ok() {
            EXIT_OK
        } else {
            EXIT_ERROR
        }
    })
}

fn print_outputs(state: &State, o: &RunOptions) {
    if state.outputs.is_empty() {
        return;
    }
    eprintln!("\n{}", style(o).bold("Outputs:"));
    let mut text = String::new();
    let w = state.outputs.keys().map(String::len).max().unwrap_or(0);
    for (k, v) in &state.outputs {
        text.push_str(&format!("{k:w$} = {v}\n"));
    }
    crate::cli::out(&text);
}

/// `moor outputs`: the outputs recorded by the last apply, no AWS call.
pub fn outputs_cmd(
    file: Option<&Path>,
    stack_name: Option<&str>,
    json: bool,
    name: Option<&str>,
    o: &RunOptions,
) -> u8 {
    let stack = match (file, stack_name) {
        (_, Some(n)) => n.to_string(),
        (Some(f), None) => match load(f, o) {
            Some((s, _)) => s.name,
            None => return EXIT_ERROR,
        },
        (None, None) => {
            eprintln!("give the stack file or --stack NAME");
            return EXIT_ERROR;
        }
    };
    let backend = LocalBackend::new(&o.state_dir);
    let state = match backend.load(&stack) {
        Ok(Some(s)) => s,
        Ok(None) => {
            eprintln!("stack `{stack}` has no state record in {}: apply it first", o.state_dir.display());
            return EXIT_ERROR;
        }
        Err(e) => {
            eprintln!("{} {e}", style(o).red("error:"));
            return EXIT_ERROR;
        }
    };
    if let Some(n) = name {
        return match state.outputs.get(n) {
            Some(v) => {
                crate::cli::out(&format!("{v}\n"));
                EXIT_OK
            }
            None => {
                let names: Vec<&str> = state.outputs.keys().map(String::as_str).collect();
                eprintln!("no output `{n}`; {}", crate::diag::did_you_mean(n, &names, "output"));
                EXIT_ERROR
            }
        };
    }
    if json {
        let mut text = serde_json::to_string_pretty(&state.outputs).expect("json");
        text.push('\n');
        crate::cli::out(&text);
    } else {
        let w = state.outputs.keys().map(String::len).max().unwrap_or(0);
        let text: String = state.outputs.iter().map(|(k, v)| format!("{k:w$} = {v}\n")).collect();
        crate::cli::out(&text);
    }
    EXIT_OK
}

/// `moor import`: adopt an existing resource as a logical resource of the
/// stack: tag it as the stack's and record it.
pub fn import_cmd(file: &Path, logical: &str, id: &str, o: &RunOptions) -> u8 {
    let Some((stack, _graph)) = load(file, o) else { return EXIT_ERROR };
    let s = style(o);
    let Some(r) = stack.resource(logical) else {
        let names: Vec<&str> = stack.resources.iter().map(|r| r.name.as_str()).collect();
        eprintln!(
            "{} the stack has no resource `{logical}`; {}",
            s.red("error:"),
            crate::diag::did_you_mean(logical, &names, "resource")
        );
        return EXIT_ERROR;
    };
    if r.kind().is_lookup() {
        eprintln!("{} `{logical}` is a lookup ({}); lookups read resources without owning them, so there is nothing to import", s.red("error:"), r.kind());
        return EXIT_ERROR;
    }
    let rt = runtime();
    on_interrupt(&rt, o.color);
    let code = rt.block_on(async {
        let backend = LocalBackend::new(&o.state_dir);
        let _lock = match backend.lock(&stack.name) {
            Ok((l, _)) => l,
            Err(e) => {
                eprintln!("{} {e}", s.red("error:"));
                return EXIT_ERROR;
            }
        };
        let Some(mut state) = read_state(&backend, &stack, o) else { return EXIT_ERROR };
        let Some(p) = connect(&stack, o, None).await else { return EXIT_ERROR };
        let (mut t, _) = crate::plan::target(&stack, logical, &Default::default(), &state);
        t.id = Some(id.to_string());
        let live = match p.read(&t).await {
            Ok(Some(l)) => l,
            Ok(None) => {
                eprintln!("{} no {} with id `{id}` exists in {}", s.red("error:"), r.kind(), stack.region.as_deref().unwrap_or("this region"));
                return EXIT_ERROR;
            }
            Err(e) => {
                eprintln!("{}", render::error_line(s, logical, r.kind(), &e));
                return EXIT_ERROR;
            }
        };
        if let (Some(other), Some(res)) = (live.tags.get(crate::provider::TAG_STACK), live.tags.get(crate::provider::TAG_RESOURCE)) {
            if other != &stack.name || res != logical {
                eprintln!("{} `{id}` is resource `{res}` of stack `{other}`; remove it from that stack first", s.red("error:"));
                return EXIT_ERROR;
            }
        }
        let live = match p.adopt(&t, &live).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{}", render::error_line(s, logical, r.kind(), &e));
                return EXIT_ERROR;
            }
        };
        let (graph, _) = crate::graph::build(&stack);
        state.resources.insert(
            logical.to_string(),
            crate::state::Entry {
                kind: r.kind(),
                id: live.id.clone(),
                uid: live.uid.clone(),
                name: r.physical_name.clone(),
                attrs: live.attrs.clone(),
                depends_on: graph.dependencies(logical).into_iter().map(str::to_string).collect(),
                force_delete: false,
                applied: None,
                deposed: Vec::new(),
                unsettled: false,
                pending: None,
            },
        );
        state.serial += 1;
        if let Err(e) = backend.save(&state) {
            eprintln!("{} {e}", s.red("error:"));
            return EXIT_ERROR;
        }
        eprintln!("{} {logical} ({}) is now {id}, tagged as part of stack {}. Run `moor plan` to see how it differs from the file.", s.green("Imported:"), r.kind(), stack.name);
        EXIT_OK
    });
    crate::interrupt::code().unwrap_or(code)
}
