//! The commands: validate, graph and schema, and those that talk to AWS:
//! plan, apply, destroy, import, outputs.
//!
//! Each AWS command is the pipeline of the design: load and check the file,
//! build the graph, take the stack's lock, read the state record, observe
//! live AWS, plan, then (for apply and destroy) confirm and apply.
//!
//! A command returns an [`Outcome`]; [`exit_code`] prints its failure, once,
//! and maps it to the exit code: 0 success (for `plan --detailed-exitcode`:
//! no changes), 1 error, 2 changes present (`plan --detailed-exitcode`
//! only), 128 + the signal's number when a signal stopped the run.

use crate::apply::{apply, ApplyOptions, Summary};
use crate::backend::{Backend, Held, Location, LockOptions};
use crate::diag::Diag;
use crate::graph::{self, Graph};
use crate::load::{self, LoadOptions, Loaded};
use crate::model::Stack;
use crate::observe::observe;
use crate::plan::{plan, Observed, Plan, PlanOptions};
use crate::provider::aws::AwsProvider;
use crate::provider::{Provider, ProviderOptions};
use crate::render::{self, Progress, Style};
use crate::state::{State, StateError};
use crate::text::plural;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Settings shared by the commands that reach AWS.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub load: LoadOptions,
    /// `--state` / `MOOR_STATE`: beats the stack file's `state:`; else `.moor`.
    pub state: Option<String>,
    pub lock: LockOptions,
    pub parallelism: usize,
    pub max_requests: usize,
    pub wait_timeout: Duration,
    pub force: bool,
    pub auto_approve: bool,
    pub color: bool,
    /// `--target`: plan and apply only these resources and what they
    /// depend on (what depends on them, for a destroy); empty: all.
    pub targets: Vec<String>,
}

pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;

/// How a command that did its work ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Success {
    Done,
    /// `plan --detailed-exitcode` found changes.
    Changes,
}

/// Why a command failed. It is printed once, by [`exit_code`], unless it
/// was shown where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Already on stderr: a file's diagnostics with their count, a plan's
    /// problems, an apply's failures and summary.
    Shown,
    /// Printed as `error: MESSAGE`.
    Error(String),
    /// Printed as it is: a hint, a cancellation, lines already styled.
    Message(String),
    /// A signal stopped the run; exits 128 + its number (1 when the
    /// signal's number is not known).
    Signal { code: u8, message: Option<String> },
}

impl Failure {
    /// Stopped by a signal before anything changed.
    fn stopped_unchanged() -> Failure {
        Failure::Signal {
            code: crate::interrupt::code().unwrap_or(EXIT_ERROR),
            message: Some("Interrupted; nothing was changed.".into()),
        }
    }

    pub fn code(&self) -> u8 {
        match self {
            Failure::Signal { code, .. } => *code,
            Failure::Shown | Failure::Error(_) | Failure::Message(_) => EXIT_ERROR,
        }
    }
}

pub type Outcome = Result<Success, Failure>;

/// Prints the failure of a command, once, and maps its outcome to the exit
/// code. The only place where a command's end becomes a code.
pub fn exit_code(outcome: Outcome, color: bool) -> u8 {
    match outcome {
        Ok(Success::Done) => EXIT_OK,
        Ok(Success::Changes) => EXIT_CHANGES,
        Err(failure) => {
            match &failure {
                Failure::Shown | Failure::Signal { message: None, .. } => {}
                Failure::Error(m) => eprintln!("{} {m}", Style { color }.red("error:")),
                Failure::Message(m) | Failure::Signal { message: Some(m), .. } => eprintln!("{m}"),
            }
            failure.code()
        }
    }
}

/// Writes the command's product to stdout. A reader that stops early (`| head`)
/// is not an error.
pub fn out(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Message(format!("moor: cannot write output: {e}"))),
    }
}

/// [`out`] for bytes (a completion script, a manual page).
pub fn out_bytes(bytes: &[u8]) -> Outcome {
    out(&String::from_utf8_lossy(bytes))?;
    Ok(Success::Done)
}

/// `value` as indented JSON and a newline.
pub(crate) fn json_text(value: &impl serde::Serialize) -> Result<String, Failure> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|e| Failure::Error(format!("cannot write JSON: {e}")))?;
    text.push('\n');
    Ok(text)
}

pub(crate) fn eprint_diags(diags: &[Diag], color: bool) {
    if !diags.is_empty() {
        let width = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(100);
        let _ = std::io::stderr().write_all(crate::diag::render(diags, color, width).as_bytes());
    }
}

pub(crate) fn style(o: &RunOptions) -> Style {
    Style { color: o.color }
}

/// Loads a stack and builds its graph; every diagnostic of both.
pub fn load_and_graph(file: &Path, opts: &LoadOptions) -> (Loaded, Option<Graph>) {
    let mut loaded = load::load_file(file, opts);
    let mut g = None;
    if let Some(stack) = &loaded.stack {
        let (graph, diags) = graph::build(stack);
        if diags.iter().any(Diag::is_error) {
            loaded.stack = None;
        } else {
            g = Some(graph);
        }
        loaded.diags.extend(diags);
    }
    (loaded, g)
}

fn count(diags: &[Diag]) -> (usize, usize) {
    let e = diags.iter().filter(|d| d.is_error()).count();
    (e, diags.len() - e)
}

/// The stack and its graph; the diagnostics are printed.
pub(crate) fn load(file: &Path, o: &RunOptions) -> Result<(Stack, Graph), Failure> {
    if crate::planfile::is_plan_file(file) {
        let f = file.display();
        return Err(Failure::Error(format!("{f} is a saved plan, not a stack file: `moor apply {f}` applies it")));
    }
    let (loaded, graph) = load_and_graph(file, &o.load);
    eprint_diags(&loaded.diags, o.color);
    match (loaded.stack, graph) {
        (Some(s), Some(g)) => Ok((s, g)),
        _ => {
            let (errors, _) = count(&loaded.diags);
            Err(Failure::Message(format!(
                "{}: {}; nothing was read from or sent to AWS",
                file.display(),
                plural(errors, "error")
            )))
        }
    }
}

/// `moor validate`: every mistake of every file; `json` prints them on stdout.
pub fn validate_cmd(files: &[PathBuf], opts: &LoadOptions, json: bool, color: bool) -> Outcome {
    let mut all_ok = true;
    let mut json_files = Vec::new();
    for f in files {
        let (loaded, _) = load_and_graph(f, opts);
        let (errors, warnings) = count(&loaded.diags);
        all_ok &= errors == 0;
        if json {
            json_files.push(serde_json::json!({
                "file": f.display().to_string(),
                "valid": errors == 0,
                "stack": loaded.stack.as_ref().map(|s| s.name.clone()),
                "resources": loaded.stack.as_ref().map(|s| s.resources.len()),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": loaded.diags.iter().map(Diag::to_json).collect::<Vec<_>>(),
            }));
            continue;
        }
        eprint_diags(&loaded.diags, color);
        let name = f.display();
        match &loaded.stack {
            Some(s) => {
                let w = if warnings > 0 { format!(", {}", plural(warnings, "warning")) } else { String::new() };
                eprintln!("{name}: valid, stack `{}` with {}{w}", s.name, plural(s.resources.len(), "resource"));
            }
            None => eprintln!("{name}: {}, {}", plural(errors, "error"), plural(warnings, "warning")),
        }
    }
    if json {
        out(&json_text(&serde_json::json!({ "valid": all_ok, "files": json_files }))?)?;
    }
    if all_ok {
        Ok(Success::Done)
    } else {
        Err(Failure::Shown)
    }
}

/// The forms of `moor graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    Dot,
    Mermaid,
    Json,
}

/// `moor graph`: the dependency graph on stdout.
pub fn graph_cmd(file: &Path, opts: &LoadOptions, format: GraphFormat, color: bool) -> Outcome {
    let (loaded, g) = load_and_graph(file, opts);
    eprint_diags(&loaded.diags, color);
    let (Some(stack), Some(g)) = (&loaded.stack, g) else {
        let (errors, _) = count(&loaded.diags);
        return Err(Failure::Message(format!("{}: {}", file.display(), plural(errors, "error"))));
    };
    let text = match format {
        GraphFormat::Dot => g.to_dot(&stack.name),
        GraphFormat::Mermaid => g.to_mermaid(),
        GraphFormat::Json => {
            let order = g.topo_order().unwrap_or_default();
            // The graph's nodes are the stack's resources.
            let nodes: Vec<_> = order
                .iter()
                .filter_map(|n| stack.resource(n).map(|r| (n, r)))
                .map(|(n, r)| {
                    serde_json::json!({ "name": n, "kind": r.kind(), "physical_name": r.physical_name, "depends_on": g.dependencies(n) })
                })
                .collect();
            json_text(&serde_json::json!({ "stack": stack.name, "order": order, "resources": nodes }))?
        }
    };
    out(&text)?;
    Ok(Success::Done)
}

/// `moor schema`: the JSON Schema of stack files on stdout.
pub fn schema_cmd() -> Outcome {
    out(&crate::schema::stack_schema_json())?;
    Ok(Success::Done)
}

fn provider_options(o: &RunOptions) -> ProviderOptions {
    ProviderOptions { wait_timeout: o.wait_timeout, max_requests: o.max_requests, ..Default::default() }
}

/// The first check of the credentials ([`crate::preflight`]), running
/// beside the connection's other work.
type Check = tokio::task::JoinHandle<crate::preflight::Verdict>;

/// A connection started before the stack file is parsed.
type Early = Option<tokio::task::JoinHandle<Result<(Arc<AwsProvider>, Check), crate::provider::ProviderError>>>;

/// A provider, and its check started at once.
async fn connect_checked(
    region: Option<String>,
    o: ProviderOptions,
) -> Result<(Arc<AwsProvider>, Check), crate::provider::ProviderError> {
    let p = Arc::new(AwsProvider::connect(region, o).await?);
    let q = p.clone();
    Ok((p, tokio::spawn(async move { crate::preflight::check(&q).await })))
}

/// Setting up the SDK takes milliseconds (its configuration, the system's
/// TLS roots), so it starts while the file is parsed, in the region known
/// so far: `--region`, else the environment's, and asks STS who the
/// credentials are. Without either it waits for the file (guessing would
/// mean asking the instance metadata service).
fn connect_early(rt: &tokio::runtime::Runtime, o: &RunOptions) -> Early {
    let env = || ["AWS_REGION", "AWS_DEFAULT_REGION"].iter().find_map(|k| std::env::var(k).ok());
    let region = o.load.region.clone().or_else(env).filter(|r| !r.is_empty())?;
    Some(rt.spawn(connect_checked(Some(region), provider_options(o))))
}

/// The provider for the stack's region: the early one when it is in that
/// region, else a new one; with its check of the credentials under way.
async fn connect(stack: &Stack, o: &RunOptions, early: Early) -> Result<(Arc<AwsProvider>, Check), Failure> {
    let first = match early {
        Some(handle) => handle.await.ok().and_then(Result::ok),
        None => None,
    };
    let ready = first.filter(|(p, _)| stack.region.as_ref().is_none_or(|want| *want == p.region));
    let made = match ready {
        Some(x) => Ok(x),
        None => connect_checked(stack.region.clone(), provider_options(o)).await,
    };
    made.map_err(|e| Failure::Error(e.to_string()))
}

/// A stack that uses `${account_id}` needs the account before its reads:
/// this waits for the check, fills the account in, and hands the check's
/// answer on. Any other stack goes on at once, beside the check.
async fn with_account(stack: &mut Stack, check: Check) -> Result<Check, Failure> {
    use crate::preflight::Verdict;
    if !crate::resolve::uses_account(stack) {
        return Ok(check);
    }
    let verdict = check.await.unwrap_or(Verdict::Unknown(None));
    match &verdict {
        Verdict::Account(a) => crate::resolve::fill_account(stack, a),
        Verdict::Unknown(why) => {
            let mut m = "the stack uses `${account_id}`, but sts:GetCallerIdentity did not answer the credentials' \
                         account; nothing was read or changed"
                .to_string();
            if let Some(w) = why {
                m.push_str(&format!("\n  {}", w.trim_end_matches("; going on")));
            }
            return Err(Failure::Error(m));
        }
        Verdict::Fatal(_) => {}
    }
    Ok(tokio::spawn(async move { verdict }))
}

/// The check's outcome: where the plan goes, or the setup failure in one
/// or two lines (nothing else is printed after it). A check that could not
/// tell says so on stderr, at most once, and the run goes on.
async fn settle(p: &AwsProvider, check: Check, o: &RunOptions) -> Result<crate::preflight::Target, Failure> {
    use crate::preflight::{Target, Verdict};
    let account = match check.await.unwrap_or(Verdict::Unknown(None)) {
        Verdict::Account(a) => Some(a),
        Verdict::Unknown(warning) => {
            if let Some(w) = warning {
                eprintln!("{} {w}", style(o).yellow("warning:"));
            }
            None
        }
        Verdict::Fatal(m) => return Err(Failure::Error(m)),
    };
    Ok(Target::new(account, p.region.clone(), p.endpoint.clone()))
}

/// `work` (reads only: it is dropped when the check fails first) beside
/// the check: a setup failure replaces whatever the reads made of it.
async fn checked<T>(
    p: &AwsProvider,
    check: Check,
    work: impl std::future::Future<Output = Result<T, Failure>>,
    o: &RunOptions,
) -> Result<(T, crate::preflight::Target), Failure> {
    let mut check = std::pin::pin!(settle(p, check, o));
    let mut work = std::pin::pin!(work);
    tokio::select! {
        biased;
        target = &mut check => {
            let target = target?;
            Ok((work.await?, target))
        }
        done = &mut work => {
            let target = check.await?;
            Ok((done?, target))
        }
    }
}

/// Where the record is: `--state` (or `MOOR_STATE`), else the stack
/// file's `state:`, else `.moor`.
pub fn location(o: &RunOptions, file: Option<&Location>) -> Result<Location, Failure> {
    match (&o.state, file) {
        (Some(given), _) => Location::parse(given).map_err(Failure::Error),
        (None, Some(l)) => Ok(l.clone()),
        (None, None) => Ok(Location::Local(PathBuf::from(".moor"))),
    }
}

/// The backend of the stack's record; `region` is the stack's, for S3.
pub(crate) async fn open_backend(
    o: &RunOptions,
    file: Option<&Location>,
    region: Option<&str>,
) -> Result<Backend, Failure> {
    let at = location(o, file)?;
    let region = o.load.region.as_deref().or(region);
    Backend::open(&at, region).await.map_err(|e| Failure::Error(e.to_string()))
}

/// The state record; a corrupt one is set aside and rebuilt from the
/// resources' tags (reads by name find what carries this stack's tags).
async fn read_state(backend: &Backend, stack: &Stack, o: &RunOptions) -> Result<State, Failure> {
    state_of(backend.load(&stack.name).await, backend, stack, o).await
}

/// [`read_state`] of a record already read.
async fn state_of(
    loaded: Result<Option<State>, StateError>,
    backend: &Backend,
    stack: &Stack,
    o: &RunOptions,
) -> Result<State, Failure> {
    match loaded {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Ok(State::new(&stack.name, stack.region.as_deref())),
        Err(StateError::Corrupt { path, reason }) => {
            let aside = backend.quarantine(&stack.name).await;
            eprintln!(
                "{} the state record {} is corrupt ({reason}); it was moved to {} and is rebuilt from the moor:stack tags of the resources in the file",
                style(o).yellow("warning:"),
                path.display(),
                aside.unwrap_or_else(|| "(could not move it)".to_string())
            );
            Ok(State::new(&stack.name, stack.region.as_deref()))
        }
        Err(e) => Err(Failure::Error(e.to_string())),
    }
}

async fn make_plan<P: Provider + ?Sized>(
    p: &P,
    stack: &Stack,
    graph: &Graph,
    state: &State,
    destroy: bool,
    o: &RunOptions,
) -> Result<Plan, Failure> {
    observe_and_plan(p, stack, graph, state, destroy, o).await.map(|(pl, _)| pl)
}

/// The plan, and what was observed for it.
async fn observe_and_plan<P: Provider + ?Sized>(
    p: &P,
    stack: &Stack,
    graph: &Graph,
    state: &State,
    destroy: bool,
    o: &RunOptions,
) -> Result<(Plan, Observed), Failure> {
    let only = match o.targets.is_empty() {
        true => None,
        false => Some(crate::targets::select(stack, graph, state, &o.targets, destroy).map_err(Failure::Error)?),
    };
    // The checks' few reads go with the plan's, not after them.
    let (observed, reads) = tokio::join!(observe(p, stack, graph, state), crate::checks::read(p, stack, destroy));
    match observed {
        Ok(observed) => {
            let mut pl = plan(stack, graph, state, &observed, destroy, PlanOptions { force: o.force });
            crate::checks::check(stack, &mut pl, &observed, &reads);
            if let Some(set) = &only {
                crate::targets::restrict(&mut pl, stack, state, set, &o.targets);
            }
            Ok((pl, observed))
        }
        Err(errors) => {
            let mut text = String::new();
            for e in errors {
                let kind = stack
                    .resource(&e.resource)
                    .map(|r| r.kind().to_string())
                    .or_else(|| state.resources.get(&e.resource).map(|x| x.kind.to_string()));
                let kind = kind.map(|k| format!(" ({k})")).unwrap_or_default();
                text.push_str(&format!("{} reading {}{kind}: {}\n", style(o).red("✗"), e.resource, e.error));
            }
            text.push_str("could not read the live state of the stack; nothing was changed");
            Err(Failure::Message(text))
        }
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Error(format!("cannot start the async runtime: {e}")))
}

/// The forms of a plan: text on stderr, JSON or markdown on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanFormat {
    Human,
    Json,
    Markdown,
}

/// `moor plan`; with `save`, the plan is saved there too ([`crate::planfile`]).
pub fn plan_cmd(
    file: &Path,
    destroy: bool,
    format: PlanFormat,
    detailed: bool,
    save: Option<&Path>,
    cost: CostLine,
    o: &RunOptions,
) -> Outcome {
    let rt = runtime()?;
    let early = connect_early(&rt, o);
    let (mut stack, graph) = load(file, o)?;
    if let Some(path) = save {
        let same = |a: &Path, b: &Path| {
            std::fs::canonicalize(a).ok().is_some_and(|a| Some(a) == std::fs::canonicalize(b).ok())
        };
        if same(path, file) {
            return Err(Failure::Error(format!(
                "-o {} would overwrite the stack file; save the plan elsewhere",
                path.display()
            )));
        }
    }
    rt.block_on(async {
        let (conn, backend) =
            tokio::join!(connect(&stack, o, early), open_backend(o, stack.state.as_ref(), stack.region.as_deref()));
        let ((p, check), backend) = (conn?, backend?);
        let check = with_account(&mut stack, check).await?;
        let state = read_state(&backend, &stack, o).await?;
        let planned = observe_and_plan(p.as_ref(), &stack, &graph, &state, destroy, o);
        let ((mut pl, observed), target) = checked(&p, check, planned, o).await?;
        pl.target = Some(target);
        match format {
            PlanFormat::Json => out(&json_text(&render::plan_json(&pl))?)?,
            PlanFormat::Markdown => out(&crate::mdplan::plan_markdown(&pl))?,
            PlanFormat::Human => eprint!("{}", render::plan_text(&pl, style(o), false)),
        }
        if let Some(line) = cost_line(p.as_ref(), &stack, &pl, cost).await {
            eprintln!("\n{line}");
        }
        if save.is_some() && !pl.problems.is_empty() {
            eprintln!("\nThe plan has problems, so it was not saved.");
        }
        if let (Some(path), true) = (save, pl.problems.is_empty()) {
            let account = account_of(p.as_ref(), &pl, &observed).await;
            let saved = saved_plan(file, path, &stack, &state, &observed, &pl, account, destroy, o)?;
            let secrets = crate::planfile::secret_values(&stack, &stack_text(file)?, &secret_vars(file, &stack)?);
            crate::planfile::write(path, &saved, &secrets).map_err(Failure::Error)?;
            crate::trace::notice(&format!(
                "\nSaved the plan to {}; `moor apply {}` applies exactly it.",
                path.display(),
                path.display()
            ));
        }
        if !pl.problems.is_empty() {
            Err(Failure::Shown)
        } else if detailed && pl.has_changes() {
            Ok(Success::Changes)
        } else {
            Ok(Success::Done)
        }
    })
}

/// Whether `moor plan` shows the monthly cost line, and what it assumes.
#[derive(Debug, Clone, Copy)]
pub enum CostLine {
    Never,
    /// When the plan creates, changes or deletes something billed.
    WhenBillable(crate::cost::Assumptions),
    Always(crate::cost::Assumptions),
}

/// The plan's cost line (before → after), when it is wanted. Only then
/// are the stack's existing ECR repositories listed, for what they hold.
async fn cost_line<P: Provider + ?Sized>(
    p: &P,
    stack: &Stack,
    pl: &crate::plan::Plan,
    cost: CostLine,
) -> Option<String> {
    let (a, always) = match cost {
        CostLine::Never => return None,
        CostLine::WhenBillable(a) => (a, false),
        CostLine::Always(a) => (a, true),
    };
    let region = pl.region.as_deref().or(stack.region.as_deref())?;
    let table = crate::cost::PriceTable::shipped();
    let delta = crate::cost::plan_delta(stack, pl, region, &table, &a);
    if !(always || delta.billable_change()) {
        return None;
    }
    Some(crate::cost::plan_delta_reading(p, stack, pl, region, &table, &a).await.line())
}

/// The region a cost estimate is for: `--region`, the file's, then AWS_REGION.
fn cost_region(stack: &Stack, lo: &LoadOptions) -> Result<String, Failure> {
    stack
        .region
        .clone()
        .or_else(|| lo.env.iter().find(|(k, _)| k == "AWS_REGION").map(|(_, v)| v.clone()))
        .ok_or_else(|| Failure::Message("no region to price: give --region, or `region:` in the file".into()))
}

/// `moor cost`: the stack's monthly estimate from the file alone (no AWS
/// call), in its region and in each of `compare`.
pub fn cost_cmd(
    file: &Path,
    lo: &LoadOptions,
    compare: &[String],
    json: bool,
    a: &crate::cost::Assumptions,
    color: bool,
) -> Outcome {
    let (loaded, _graph) = load_and_graph(file, lo);
    eprint_diags(&loaded.diags, color);
    let Some(stack) = loaded.stack else {
        let (errors, _) = count(&loaded.diags);
        return Err(Failure::Message(format!("{}: {}", file.display(), plural(errors, "error"))));
    };
    let region = cost_region(&stack, lo)?;
    let table = crate::cost::PriceTable::shipped();
    let mut regions = vec![region];
    for r in compare {
        let r = r.trim().to_string();
        if let Err(why) = crate::region::check(&r) {
            return Err(Failure::Message(format!("--compare-regions: {why}")));
        }
        if !regions.contains(&r) {
            regions.push(r);
        }
    }
    let estimates: Vec<_> = regions.iter().map(|r| crate::cost::estimate(&stack, r, &table, a)).collect();
    if json {
        let v = if compare.is_empty() { serde_json::to_value(&estimates[0]) } else { serde_json::to_value(&estimates) };
        out(&json_text(&v.map_err(|e| Failure::Error(e.to_string()))?)?)?;
    } else if estimates.len() == 1 {
        out(&crate::cost::render(&estimates[0], &stack.name))?;
    } else {
        out(&crate::cost::render_compare(&estimates, &stack.name))?;
    }
    Ok(Success::Done)
}

/// `moor drift`: the plan of the file, exit 2 when live AWS differs from
/// it (a scheduled job's signal), 0 when it matches, 1 on error.
pub fn drift_cmd(file: &Path, format: PlanFormat, o: &RunOptions) -> Outcome {
    let outcome = plan_cmd(file, false, format, true, None, CostLine::Never, o);
    match outcome {
        Ok(Success::Changes) => eprintln!("{} live AWS differs from {}.", style(o).yellow("Drift:"), file.display()),
        Ok(Success::Done) => eprintln!("No drift: live AWS matches {}.", file.display()),
        Err(_) => {}
    }
    outcome
}

pub(crate) fn confirm(question: &str, o: &RunOptions) -> Result<bool, String> {
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

/// Apply's and destroy's question, naming the account and region.
fn question(destroy: bool, stack: &str, to: &crate::preflight::Target) -> String {
    if destroy {
        format!("\nDestroy stack {stack} in {}?", to.short())
    } else {
        format!("\nApply these changes to {}?", to.short())
    }
}

/// Installs the Ctrl-C and SIGTERM handlers (see [`crate::interrupt`])
/// before anything reaches AWS.
fn on_interrupt(rt: &tokio::runtime::Runtime, color: bool) {
    crate::interrupt::install(rt, move |name| {
        let s = Style { color };
        crate::progress::eprint_line(&format!(
            "\n{} ({name}) finishing the calls in flight and recording them; send it again to quit at once",
            s.yellow("interrupted:")
        ));
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

/// The end of a run that a signal stopped, after it may have changed AWS.
fn check_signal() -> Result<(), Failure> {
    match crate::interrupt::code() {
        Some(code) => Err(Failure::Signal { code, message: None }),
        None => Ok(()),
    }
}

/// Applies the plan; starts nothing new once the run is interrupted or its
/// lock was taken from it. The summary, the record, and whether the lock
/// was lost.
#[allow(clippy::too_many_arguments)]
async fn execute<P: Provider + 'static>(
    p: Arc<P>,
    stack: &Stack,
    graph: &Graph,
    pl: &Plan,
    state: State,
    backend: &Backend,
    held: &Held,
    json: bool,
    o: &RunOptions,
) -> (Summary, State, bool) {
    let cancel = Arc::new(AtomicBool::new(crate::interrupt::is_set()));
    let flag = cancel.clone();
    let watcher = tokio::spawn(async move {
        crate::interrupt::signalled().await;
        flag.store(true, Ordering::SeqCst);
    });
    let progress = Progress::new(style(o), std::io::stderr().is_terminal());
    let events = crate::events::JsonEvents::new(&progress);
    let reporter: &dyn crate::apply::Reporter = if json { &events } else { &progress };
    let options = ApplyOptions { parallelism: o.parallelism };
    let applying = apply(p, stack, graph, pl, state, backend, &options, reporter, cancel.clone());
    tokio::pin!(applying);
    let mut lost = false;
    let (summary, state) = loop {
        tokio::select! {
            done = &mut applying => break done,
            () = held.lost(), if !lost => {
                lost = true;
                cancel.store(true, Ordering::SeqCst);
            }
        }
    };
    watcher.abort();
    (summary, state, lost)
}

/// The failure of a run whose lock was taken from it.
fn lock_lost(stack: &Stack) -> Failure {
    Failure::Error(format!(
        "the lock of stack `{}` was taken from this run, so it stopped starting new work; \
         what it did is recorded. Run `moor plan` to see where the stack stands",
        stack.name
    ))
}

/// `moor apply` and `moor destroy`; `json` streams their events on stdout
/// ([`crate::events`]).
pub fn apply_cmd(file: Option<&Path>, stack_name: Option<&str>, destroy: bool, json: bool, o: &RunOptions) -> Outcome {
    let rt = runtime()?;
    on_interrupt(&rt, o.color);
    let outcome = apply_on(&rt, file, stack_name, destroy, json, o);
    // A confirmation still reading the terminal is not waited for.
    rt.shutdown_background();
    outcome
}

/// The stack of a destroy without its file: its name, no resources (the
/// state record knows what to delete), the region of `--region` or the
/// environment (else the record's).
fn recorded_stack(name: &str, o: &RunOptions) -> Result<(Stack, Graph), Failure> {
    if !load::stack_name_is_valid(name) {
        return Err(Failure::Error(format!(
            "stack name `{}` is not valid: {}",
            crate::text::abbreviate(name),
            load::STACK_NAME_RULE
        )));
    }
    let mut stack = Stack {
        name: name.to_string(),
        region: o.load.region.clone().or_else(|| std::env::var("AWS_REGION").ok()),
        description: None,
        tags: Default::default(),
        variables: Vec::new(),
        resources: Vec::new(),
        outputs: Vec::new(),
        refs: Vec::new(),
        state: None,
        file: crate::diag::SourceFile::new("(no file)", ""),
        depends_on_spans: Default::default(),
        index: Default::default(),
    };
    stack.reindex();
    let (g, _) = graph::build(&stack);
    Ok((stack, g))
}

fn apply_on(
    rt: &tokio::runtime::Runtime,
    file: Option<&Path>,
    stack_name: Option<&str>,
    destroy: bool,
    json: bool,
    o: &RunOptions,
) -> Outcome {
    let early = connect_early(rt, o);
    let (stack, graph) = match (file, stack_name) {
        (Some(f), _) => load(f, o)?,
        // Destroy without the file: the state record knows what to delete.
        (None, Some(name)) => recorded_stack(name, o)?,
        (None, None) => {
            return Err(Failure::Message(
                "give the stack file, or --stack NAME to destroy a stack whose file is gone".into(),
            ))
        }
    };
    let s = style(o);
    rt.block_on(async {
        let backend = open_backend(o, stack.state.as_ref(), stack.region.as_deref()).await?;
        let warn = |w: String| eprintln!("{} {w}", s.yellow("warning:"));
        // The lock is taken and the record read in one round; when the lock
        // was not free at once, the record is read again under it.
        let (held, loaded) = tokio::join!(backend.lock(&stack.name, o.lock, &warn), backend.load(&stack.name));
        let (held, at_once) = held.map_err(|e| Failure::Error(e.to_string()))?;
        let loaded = if at_once { loaded } else { backend.load(&stack.name).await };
        let outcome = apply_locked(&backend, &held, loaded, stack, graph, destroy, json, early, o).await;
        held.release().await;
        outcome
    })
}

/// [`apply_on`] under the stack's lock.
#[allow(clippy::too_many_arguments)]
async fn apply_locked(
    backend: &Backend,
    held: &Held,
    loaded: Result<Option<State>, StateError>,
    stack: Stack,
    graph: Graph,
    destroy: bool,
    json: bool,
    early: Early,
    o: &RunOptions,
) -> Outcome {
    let s = style(o);
    {
        let mut state = state_of(loaded, backend, &stack, o).await?;
        if state.region.is_none() {
            state.region = stack.region.clone();
        }
        let mut stack = stack;
        if stack.region.is_none() {
            stack.region = state.region.clone();
        }
        let (p, check) = connect(&stack, o, early).await?;
        let check = with_account(&mut stack, check).await?;
        let planning = checked(&p, check, make_plan(p.as_ref(), &stack, &graph, &state, destroy, o), o);
        let Some(planned) = unless_interrupted(planning).await else {
            return Err(Failure::stopped_unchanged());
        };
        let (mut pl, target) = planned?;
        let to = target.clone();
        pl.target = Some(target);
        show_plan(&pl, s, json)?;
        if !pl.has_changes() {
            // No call that changes AWS, but the record is refreshed (and
            // rebuilt, when it was lost, from what carries the stack's tags).
            let (summary, st, lost) = execute(p, &stack, &graph, &pl, state, backend, held, json, o).await;
            if json {
                emit_summary(&summary, destroy, &st);
            }
            check_signal()?;
            if !summary.ok() {
                eprint!("{}", render::summary_text(&summary, destroy, s));
                return Err(if lost { lock_lost(&stack) } else { Failure::Shown });
            }
            if !destroy && !json {
                print_outputs(&st, o)?;
            }
            return Ok(Success::Done);
        }
        let question = question(destroy, &stack.name, &to);
        let asked = {
            let o = o.clone();
            unless_interrupted(tokio::task::spawn_blocking(move || confirm(&question, &o))).await
        };
        let Some(answer) = asked else { return Err(Failure::stopped_unchanged()) };
        match answer.unwrap_or_else(|e| Err(e.to_string())) {
            Ok(true) if crate::interrupt::is_set() => return Err(Failure::stopped_unchanged()),
            Ok(true) => {}
            Ok(false) => return Err(Failure::Message("Cancelled; nothing was changed.".into())),
            Err(e) => return Err(Failure::Error(e)),
        }
        eprintln!();
        let (summary, st, lost) = execute(p, &stack, &graph, &pl, state, backend, held, json, o).await;
        eprint!("{}", render::summary_text(&summary, destroy, s));
        if json {
            emit_summary(&summary, destroy, &st);
        }
        check_signal()?;
        if lost {
            return Err(lock_lost(&stack));
        }
        if !summary.ok() {
            return Err(Failure::Shown);
        }
        if !destroy && !json {
            print_outputs(&st, o)?;
        }
        Ok(Success::Done)
    }
}

/// The last event of `apply --json`: the summary, with the outputs recorded.
fn emit_summary(summary: &Summary, destroy: bool, st: &State) {
    let outputs = if destroy { Default::default() } else { st.outputs.clone().into_iter().collect() };
    crate::events::emit(&crate::events::Event::Summary(crate::events::SummaryEvent::new(summary, outputs)));
}

/// Shows the plan an apply is about to carry out (and streams it under
/// `--json`); a plan with problems stops here.
fn show_plan(pl: &Plan, s: Style, json: bool) -> Result<(), Failure> {
    eprint!("{}", render::plan_text(pl, s, false));
    if json {
        let plan = crate::jsonplan::JsonPlan::from(pl);
        crate::events::emit(&crate::events::Event::Plan { events_version: crate::events::EVENTS_VERSION, plan });
    }
    if !pl.problems.is_empty() {
        return Err(Failure::Message("\nNothing was changed.".into()));
    }
    Ok(())
}

fn print_outputs(state: &State, o: &RunOptions) -> Result<(), Failure> {
    if state.outputs.is_empty() {
        return Ok(());
    }
    eprintln!("\n{}", style(o).bold("Outputs:"));
    let mut text = String::new();
    let w = state.outputs.keys().map(String::len).max().unwrap_or(0);
    for (k, v) in &state.outputs {
        text.push_str(&format!("{k:w$} = {v}\n"));
    }
    out(&text)
}

/// The name a stack file's record is kept under. Reading outputs needs
/// neither the variables nor the resources: a plain `stack:` name (or
/// `--stack-name`) is read from the file as it is; a name made of
/// variables needs the whole file, and its variables.
fn recorded_name(file: &Path, o: &RunOptions) -> Result<String, Failure> {
    if let Some(n) = o.load.stack_name.as_ref().filter(|n| load::stack_name_is_valid(n)) {
        return Ok(n.clone());
    }
    if !crate::planfile::is_plan_file(file) {
        let max = o.load.limits.unwrap_or_default();
        let text = load::read_limited(file, max.max_bytes).unwrap_or_default();
        let root = crate::yaml::parse(&text, max).ok();
        let name = root.as_ref().and_then(|r| r.get("stack")).and_then(|n| n.as_str());
        if let Some(n) = name.filter(|n| !crate::expr::has_interpolation(n) && load::stack_name_is_valid(n)) {
            return Ok(n.to_string());
        }
    }
    Ok(load(file, o)?.0.name)
}

/// `moor outputs`: the outputs recorded by the last apply, no AWS call.
pub fn outputs_cmd(
    file: Option<&Path>,
    stack_name: Option<&str>,
    json: bool,
    name: Option<&str>,
    o: &RunOptions,
) -> Outcome {
    let (stack, file_location, region) = match (file, stack_name) {
        (Some(f), None) => {
            // The outputs need no variables: a file that loads without them
            // gives its state setting; otherwise its `stack:` name is enough.
            let loaded = if crate::planfile::is_plan_file(f) { None } else { load::load_file(f, &o.load).stack };
            match loaded {
                Some(st) => (st.name, st.state, st.region),
                None => (recorded_name(f, o)?, None, None),
            }
        }
        _ => stack_of(file, stack_name, o)?,
    };
    let rt = runtime()?;
    let state = rt.block_on(async {
        let backend = open_backend(o, file_location.as_ref(), region.as_deref()).await?;
        match backend.load(&stack).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(Failure::Message(format!(
                "stack `{stack}` has no state record at {}: apply it first",
                backend.record(&stack)
            ))),
            Err(e) => Err(Failure::Error(e.to_string())),
        }
    })?;
    if let Some(n) = name {
        let Some(v) = state.outputs.get(n) else {
            let names: Vec<&str> = state.outputs.keys().map(String::as_str).collect();
            return Err(Failure::Message(format!(
                "no output `{n}`; {}",
                crate::diag::did_you_mean(n, &names, "output")
            )));
        };
        out(&format!("{v}\n"))?;
        return Ok(Success::Done);
    }
    if json {
        out(&json_text(&state.outputs)?)?;
    } else {
        let w = state.outputs.keys().map(String::len).max().unwrap_or(0);
        let text: String = state.outputs.iter().map(|(k, v)| format!("{k:w$} = {v}\n")).collect();
        out(&text)?;
    }
    Ok(Success::Done)
}

/// The stack's name, the state location its file gives, and its region:
/// from FILE, or from `--stack NAME` alone.
pub(crate) fn stack_of(
    file: Option<&Path>,
    stack_name: Option<&str>,
    o: &RunOptions,
) -> Result<(String, Option<Location>, Option<String>), Failure> {
    match (file, stack_name) {
        (_, Some(n)) => {
            if !load::stack_name_is_valid(n) {
                return Err(Failure::Error(format!(
                    "stack name `{}` is not valid: {}",
                    crate::text::abbreviate(n),
                    load::STACK_NAME_RULE
                )));
            }
            Ok((n.to_string(), None, None))
        }
        (Some(f), None) => {
            let stack = load(f, o)?.0;
            Ok((stack.name, stack.state, stack.region))
        }
        (None, None) => Err(Failure::Message("give the stack file or --stack NAME".into())),
    }
}

/// `moor state unlock ID`: removes the stack's lock when its id is ID.
pub fn state_unlock_cmd(id: &str, file: Option<&Path>, stack_name: Option<&str>, o: &RunOptions) -> Outcome {
    let (stack, file_location, region) = stack_of(file, stack_name, o)?;
    let rt = runtime()?;
    rt.block_on(async {
        let backend = open_backend(o, file_location.as_ref(), region.as_deref()).await?;
        let holder = backend.unlock(&stack, id).await.map_err(|e| Failure::Error(e.to_string()))?;
        crate::trace::notice(&format!(
            "{} the lock {id} of stack `{stack}` (held by {holder}) was removed",
            style(o).green("Unlocked:")
        ));
        Ok(Success::Done)
    })
}

/// `moor state show`: the record, as JSON on stdout.
pub fn state_show_cmd(file: Option<&Path>, stack_name: Option<&str>, o: &RunOptions) -> Outcome {
    let (stack, file_location, region) = stack_of(file, stack_name, o)?;
    let rt = runtime()?;
    rt.block_on(async {
        let backend = open_backend(o, file_location.as_ref(), region.as_deref()).await?;
        match backend.load(&stack).await {
            Ok(Some(st)) => out(&json_text(&st)?),
            Ok(None) => {
                Err(Failure::Message(format!("stack `{stack}` has no state record at {}", backend.record(&stack))))
            }
            Err(e) => Err(Failure::Error(e.to_string())),
        }?;
        Ok(Success::Done)
    })
}

/// What `moor state migrate` is told.
pub struct Migrate<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub file: Option<&'a Path>,
    pub stack: Option<&'a str>,
    /// Replace a different record at the destination.
    pub force: bool,
    /// Delete the source record once the copy is verified.
    pub remove_source: bool,
}

/// `moor state migrate`: copies a stack's record from one backend to
/// another under both locks (source first, then destination), verifies the
/// copy by reading it back, and removes the source only when asked.
pub fn state_migrate_cmd(m: &Migrate, o: &RunOptions) -> Outcome {
    let (stack, _, region) = stack_of(m.file, m.stack, o)?;
    let from = Location::parse(m.from).map_err(Failure::Error)?;
    let to = Location::parse(m.to).map_err(Failure::Error)?;
    if from.record(&stack) == to.record(&stack) {
        return Err(Failure::Error(format!("--from and --to are the same record, {}", from.record(&stack))));
    }
    let rt = runtime()?;
    on_interrupt(&rt, o.color);
    let s = style(o);
    rt.block_on(async {
        let region = o.load.region.as_deref().or(region.as_deref());
        let open = |l: &Location| {
            let l = l.clone();
            async move { Backend::open(&l, region).await.map_err(|e| Failure::Error(e.to_string())) }
        };
        let (source, dest) = tokio::join!(open(&from), open(&to));
        let (source, dest) = (source?, dest?);
        let warn = |w: String| eprintln!("{} {w}", s.yellow("warning:"));
        let error = |e: StateError| Failure::Error(e.to_string());
        let (src_lock, _) = source.lock(&stack, o.lock, &warn).await.map_err(error)?;
        let dst_lock = match dest.lock(&stack, o.lock, &warn).await {
            Ok((l, _)) => l,
            Err(e) => {
                src_lock.release().await;
                return Err(error(e));
            }
        };
        let outcome = migrate_locked(&source, &dest, &stack, m, o).await;
        dst_lock.release().await;
        src_lock.release().await;
        outcome
    })
}

async fn migrate_locked(source: &Backend, dest: &Backend, stack: &str, m: &Migrate<'_>, o: &RunOptions) -> Outcome {
    let s = style(o);
    let error = |e: StateError| Failure::Error(e.to_string());
    let (from, to) = (source.record(stack), dest.record(stack));
    let Some(mut record) = source.load(stack).await.map_err(error)? else {
        return Err(Failure::Error(format!("stack `{stack}` has no state record at {from}; nothing was copied")));
    };
    let existing = match dest.load(stack).await {
        Ok(e) => e,
        Err(StateError::Corrupt { reason, .. }) if m.force => {
            eprintln!("{} the record at {to} is corrupt ({reason}); --force replaces it", s.yellow("warning:"));
            None
        }
        Err(e) => return Err(error(e)),
    };
    let same = |a: &State, b: &State| State { serial: b.serial, ..a.clone() } == *b;
    match &existing {
        Some(there) if same(&record, there) => {
            crate::trace::notice(&format!("{to} already holds the same record as {from}; nothing was copied"));
        }
        Some(there) if !m.force => {
            return Err(Failure::Error(format!(
                "{to} already holds a different record of stack `{stack}` ({} resources, serial {}); \
                 nothing was copied. Pass --force to replace it with the record of {from} ({} resources, serial {})",
                there.resources.len(),
                there.serial,
                record.resources.len(),
                record.serial
            )));
        }
        _ => {
            // The serial only grows at the destination.
            if let Some(there) = &existing {
                record.serial = record.serial.max(there.serial + 1);
            }
            dest.save(&record).await.map_err(error)?;
            match dest.load(stack).await.map_err(error)? {
                Some(back) if same(&record, &back) => {}
                _ => {
                    return Err(Failure::Error(format!(
                        "the copy at {to} does not read back as written; {from} was left as it is"
                    )))
                }
            }
            crate::trace::notice(&format!(
                "{} the record of stack `{stack}` ({} resources) from {from} to {to}",
                s.green("Copied:"),
                record.resources.len()
            ));
        }
    }
    if m.remove_source {
        source.remove(stack).await.map_err(error)?;
        crate::trace::notice(&format!("{} {from}", s.green("Removed:")));
    } else {
        crate::trace::notice(&format!(
            "{from} was kept; pass --remove-source to remove it, or remove it yourself once the new backend is in use"
        ));
    }
    Ok(Success::Done)
}

/// `moor import`: adopt an existing resource as a logical resource of the
/// stack: tag it as the stack's and record it.
pub fn import_cmd(file: &Path, logical: &str, id: &str, o: &RunOptions) -> Outcome {
    let (stack, graph) = load(file, o)?;
    let s = style(o);
    let Some(r) = stack.resource(logical) else {
        let names: Vec<&str> = stack.resources.iter().map(|r| r.name.as_str()).collect();
        return Err(Failure::Error(format!(
            "the stack has no resource `{logical}`; {}",
            crate::diag::did_you_mean(logical, &names, "resource")
        )));
    };
    if r.kind().is_lookup() {
        return Err(Failure::Error(format!(
            "`{logical}` is a lookup ({}); lookups read resources without owning them, so there is nothing to import",
            r.kind()
        )));
    }
    let rt = runtime()?;
    on_interrupt(&rt, o.color);
    let outcome = rt.block_on(async {
        let backend = open_backend(o, stack.state.as_ref(), stack.region.as_deref()).await?;
        let warn = |w: String| eprintln!("{} {w}", s.yellow("warning:"));
        let (held, _) = backend.lock(&stack.name, o.lock, &warn).await.map_err(|e| Failure::Error(e.to_string()))?;
        let outcome = import_locked(&backend, &stack, &graph, r, logical, id, o).await;
        held.release().await;
        outcome
    });
    under_signal(outcome, s)
}

/// [`import_cmd`] under the stack's lock.
async fn import_locked(
    backend: &Backend,
    stack: &Stack,
    graph: &Graph,
    r: &crate::model::Resource,
    logical: &str,
    id: &str,
    o: &RunOptions,
) -> Outcome {
    let s = style(o);
    {
        let mut state = read_state(backend, stack, o).await?;
        let (p, check) = connect(stack, o, None).await?;
        let mut filled = stack.clone();
        let check = with_account(&mut filled, check).await?;
        let stack = &filled;
        settle(&p, check, o).await?;
        // What the record and the lookups know of what it references, as a
        // plan does: the read and the record see the file's values.
        let known = crate::observe::known_for(p.as_ref(), stack, graph, &state, logical).await.map_err(|e| {
            let kind = stack.resource(&e.resource).map_or(r.kind(), |d| d.kind());
            Failure::Message(render::error_line(s, &e.resource, kind, &e.error))
        })?;
        let (mut t, _) = crate::plan::target(stack, logical, &known, &state);
        t.id = Some(id.to_string());
        let read = p.read(&t).await;
        let missing: Vec<&str> =
            r.spec.as_dyn().identified_by().into_iter().filter(|d| !known.contains_key(*d)).collect();
        let live = match read {
            Ok(Some(l)) => l,
            _ if !missing.is_empty() => {
                eprint_diags(&[unresolved_identity(stack, r, id, &missing)], o.color);
                return Err(Failure::Shown);
            }
            Ok(None) => {
                return Err(Failure::Error(format!(
                    "no {} with id `{id}` exists in {}",
                    r.kind(),
                    stack.region.as_deref().unwrap_or("this region")
                )))
            }
            Err(e) => return Err(Failure::Message(render::error_line(s, logical, r.kind(), &e))),
        };
        if let (Some(other), Some(res)) =
            (live.tags.get(crate::provider::TAG_STACK), live.tags.get(crate::provider::TAG_RESOURCE))
        {
            if other != &stack.name || res != logical {
                return Err(Failure::Error(format!(
                    "`{id}` is resource `{res}` of stack `{other}`; remove it from that stack first"
                )));
            }
        }
        let live =
            p.adopt(&t, &live).await.map_err(|e| Failure::Message(render::error_line(s, logical, r.kind(), &e)))?;
        // What apply would record, without the fields as applied: AWS has
        // not been made to match the file (the next plan shows how it differs).
        state.resources.insert(logical.to_string(), crate::apply::entry_of(stack, graph, logical, r.kind(), &live));
        state.serial += 1;
        backend.save(&state).await.map_err(|e| Failure::Error(e.to_string()))?;
        crate::trace::notice(&format!("{} {logical} ({}) is now {id}, tagged as part of stack {}. Run `moor plan` to see how it differs from the file.", s.green("Imported:"), r.kind(), stack.name));
        Ok(Success::Done)
    }
}

/// Why `moor import` found nothing by `id`: the resource is found through
/// resources (`missing`) that the record does not hold and no lookup found,
/// so their references in the file stay as written.
fn unresolved_identity(stack: &Stack, r: &crate::model::Resource, id: &str, missing: &[&str]) -> Diag {
    let uses: Vec<&crate::model::RefUse> = stack
        .refs
        .iter()
        .filter(|u| u.from.as_deref() == Some(r.name.as_str()) && missing.contains(&u.resource.as_str()))
        .collect();
    let names = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
    let mut d = Diag::error(
        "moor::import-unresolved",
        format!(
            "cannot import `{}` ({}) as `{id}`: it is found through {names}, which neither the state record holds nor a lookup found",
            r.name,
            r.kind()
        ),
    )
    .in_file(&stack.file);
    for u in uses {
        d = d.label(u.span, format!("`${{{}.{}}}` is not known", u.resource, u.attribute));
    }
    d.help(format!(
        "apply or import {names} first, or pass an id that names {} by itself (see the kind's reference)",
        if missing.len() == 1 { "it" } else { "them" }
    ))
}

/// The outcome of a run that a signal may have stopped after it changed
/// AWS: the signal's exit code, and its failure's message, if any.
fn under_signal(outcome: Outcome, s: Style) -> Outcome {
    let Some(code) = crate::interrupt::code() else { return outcome };
    let message = match outcome {
        Ok(_) | Err(Failure::Shown) => None,
        Err(Failure::Error(m)) => Some(format!("{} {m}", s.red("error:"))),
        Err(Failure::Message(m)) => Some(m),
        Err(Failure::Signal { message, .. }) => message,
    };
    Err(Failure::Signal { code, message })
}

/// The text of a stack file that loaded.
fn stack_text(file: &Path) -> Result<String, Failure> {
    let max = crate::yaml::Limits::default().max_bytes;
    load::read_limited(file, max).map_err(|e| Failure::Error(format!("cannot read {}: {e}", file.display())))
}

fn secret_vars(file: &Path, stack: &Stack) -> Result<std::collections::BTreeSet<String>, Failure> {
    Ok(crate::planfile::secret_variables(stack, &stack_text(file)?))
}

/// The account of the credentials (STS's answer, else ECR's registry id),
/// else the one in the ARNs of what was observed.
async fn account_of(p: &AwsProvider, pl: &Plan, observed: &Observed) -> Option<String> {
    if let Some(a) = pl.target.as_ref().and_then(|t| t.account.clone()) {
        return Some(a);
    }
    let registry = p.ecr.describe_registry().send().await.ok().and_then(|r| r.registry_id().map(str::to_string));
    registry.or_else(|| crate::planfile::account_in(observed))
}

/// What `moor plan -o` saves.
#[allow(clippy::too_many_arguments)]
fn saved_plan(
    file: &Path,
    path: &Path,
    stack: &Stack,
    state: &State,
    observed: &Observed,
    pl: &Plan,
    account: Option<String>,
    destroy: bool,
    o: &RunOptions,
) -> Result<crate::planfile::PlanFile, Failure> {
    use crate::planfile as pf;
    let text = stack_text(file)?;
    let secret = pf::secret_variables(stack, &text);
    Ok(pf::PlanFile {
        moor_plan: pf::FORMAT,
        moor_version: pf::VERSION.into(),
        created_at: pf::now_utc(),
        created_on: pf::host_name(),
        file: pf::StackFileRef { path: pf::relative_to(file, &pf::dir_of(path)), sha256: pf::sha256(text.as_bytes()) },
        stack: stack.name.clone(),
        region: stack.region.clone(),
        account,
        destroy,
        force: o.force,
        git_sha: text.contains("${git.").then(|| load::head_commit(&o.load).ok()).flatten(),
        variables: pf::saved_variables(stack, &secret),
        resources: pf::saved_resources(stack),
        state: pf::state_fingerprints(state),
        live: pf::live_fingerprints(stack, state, observed),
        plan: render::plan_json(pl),
        plan_text: render::plan_text(pl, Style { color: false }, false),
        targets: o.targets.clone(),
    })
}

/// Whether the user gives variable `name` (`--var`, `MOOR_VAR_name`, a `--var-file`).
fn var_given(load: &LoadOptions, name: &str) -> bool {
    let flag = load.vars.iter().any(|f| f.split_once('=').is_some_and(|(k, _)| k.trim() == name));
    let env = load.env.iter().any(|(k, _)| *k == format!("MOOR_VAR_{name}"));
    let file = load.var_files.iter().any(|f| {
        let text = load::read_limited(f, crate::yaml::Limits::default().max_bytes).unwrap_or_default();
        crate::yaml::parse(&text, Default::default()).is_ok_and(|n| n.get(name).is_some())
    });
    flag || env || file
}

/// `moor apply PLANFILE`: applies a saved plan, as it was reviewed, or
/// refuses when what it was made from has changed ([`crate::planfile`]).
/// `json` streams its events on stdout, as `apply --json` does.
pub fn apply_saved_cmd(path: &Path, json: bool, o: &RunOptions) -> Outcome {
    let saved = crate::planfile::read(path).map_err(Failure::Error)?;
    let rt = runtime()?;
    on_interrupt(&rt, o.color);
    let outcome = apply_saved(&rt, path, &saved, json, o);
    rt.shutdown_background();
    outcome
}

fn apply_saved(
    rt: &tokio::runtime::Runtime,
    path: &Path,
    saved: &crate::planfile::PlanFile,
    json: bool,
    o: &RunOptions,
) -> Outcome {
    use crate::planfile as pf;
    let s = style(o);
    let name = path.display();
    if let Some(r) = o.load.region.as_ref().filter(|r| Some(*r) != saved.region.as_ref()) {
        let planned = saved.region.as_deref().unwrap_or("the default region");
        return Err(Failure::Error(format!(
            "{name} is a plan for {planned}, not for --region {r}; nothing was changed"
        )));
    }
    if let Some(n) = o.load.stack_name.as_ref().filter(|n| **n != saved.stack) {
        return Err(Failure::Error(format!(
            "{name} is a plan for stack `{}`, not for --stack-name {n}; nothing was changed",
            saved.stack
        )));
    }
    let file = pf::stack_path(saved, path);
    let text = load::read_limited(&file, o.load.limits.unwrap_or_default().max_bytes).map_err(|e| {
        Failure::Error(format!("cannot read {}, the stack file the plan {name} was made from: {e}", file.display()))
    })?;
    let missing: Vec<&str> = saved
        .variables
        .iter()
        .filter(|(k, v)| v.sha256.is_some() && !v.default && !var_given(&o.load, k))
        .map(|(k, _)| k.as_str())
        .collect();
    if !missing.is_empty() {
        let names = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
        let (what, them) = if missing.len() == 1 {
            (format!("variable {names} holds a secret"), "it")
        } else {
            (format!("variables {names} hold secrets"), "them")
        };
        return Err(Failure::Error(format!(
            "the plan's {what}, so {name} keeps only a hash: give {them} again (--var NAME=VALUE, --var-file or MOOR_VAR_NAME); nothing was changed"
        )));
    }
    // The plan's values, below any the user gives again (environment,
    // --var-file, --var), which must match them.
    let mut load_opts = o.load.clone();
    let mut env: Vec<(String, String)> = saved
        .variables
        .iter()
        .filter_map(|(k, v)| v.value.as_ref().and_then(json_var).map(|x| (format!("MOOR_VAR_{k}"), pf::var_text(&x))))
        .collect();
    env.extend(o.load.env.iter().cloned());
    load_opts.env = env;
    load_opts.region = saved.region.clone();
    load_opts.stack_name = Some(saved.stack.clone());
    load_opts.git_sha = saved.git_sha.clone().or(load_opts.git_sha);
    if !o.targets.is_empty() && o.targets != saved.targets {
        let planned = match saved.targets.is_empty() {
            true => "the whole stack".to_string(),
            false => saved.targets.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "),
        };
        return Err(Failure::Error(format!(
            "{name} is a plan of {planned}; --target cannot change what a saved plan covers; nothing was changed"
        )));
    }
    let lo = RunOptions {
        load: load_opts,
        force: saved.force,
        auto_approve: true,
        targets: saved.targets.clone(),
        ..o.clone()
    };
    let file_changed = pf::sha256(text.as_bytes()) != saved.file.sha256;
    let (mut stack, graph) = match load(&file, &lo) {
        Ok(x) => x,
        Err(_) if file_changed => {
            return Err(Failure::Error(format!(
                "{} changed since the plan {name} was made, and no longer loads; nothing was changed",
                file.display()
            )))
        }
        Err(e) => return Err(e),
    };
    let mut diffs = Vec::new();
    for (k, v) in &saved.variables {
        let now = stack.variables.iter().find(|x| x.name == *k);
        let how = match (now, &v.sha256, &v.value) {
            (None, _, _) => Some("no longer declared".to_string()),
            (Some(x), Some(h), _) if pf::var_hash(&stack.name, k, &x.value) != *h => {
                Some("not the value the plan was made with (a secret: the value is not shown)".to_string())
            }
            (Some(x), None, Some(planned)) if pf::var_json(&x.value) != *planned => {
                Some(format!("was {planned} when the plan was made, now {}", pf::var_json(&x.value)))
            }
            _ => None,
        };
        if let Some(how) = how {
            diffs.push(pf::Difference { what: format!("variable `{k}`"), how });
        }
    }
    // The plan was made with the account filled in: compare like with like.
    if let Some(a) = &saved.account {
        crate::resolve::fill_account(&mut stack, a);
    }
    let resources = pf::saved_resources(&stack);
    rt.block_on(async {
        let backend = open_backend(&lo, stack.state.as_ref(), stack.region.as_deref()).await?;
        let warn = |w: String| eprintln!("{} {w}", s.yellow("warning:"));
        let (held, loaded) = tokio::join!(backend.lock(&stack.name, lo.lock, &warn), backend.load(&stack.name));
        let (held, at_once) = held.map_err(|e| Failure::Error(e.to_string()))?;
        let loaded = if at_once { loaded } else { backend.load(&stack.name).await };
        let outcome = async {
        let mut state = state_of(loaded, &backend, &stack, &lo).await?;
        if state.region.is_none() {
            state.region = stack.region.clone();
        }
        let (p, check) = connect(&stack, &lo, None).await?;
        let check = with_account(&mut stack, check).await?;
        let planning = checked(&p, check, observe_and_plan(p.as_ref(), &stack, &graph, &state, saved.destroy, &lo), &lo);
        let Some(planned) = unless_interrupted(planning).await else {
            return Err(Failure::stopped_unchanged());
        };
        let ((mut pl, observed), target) = planned?;
        pl.target = Some(target);
        let account = account_of(p.as_ref(), &pl, &observed).await;
        if let (Some(a), Some(b)) = (&saved.account, &account) {
            if a != b {
                return Err(Failure::Error(format!(
                    "{name} is a plan for AWS account {a}, but these credentials are for account {b}; nothing was changed"
                )));
            }
        }
        let live = pf::live_fingerprints(&stack, &state, &observed);
        diffs.extend(pf::differences(saved, &resources, &pf::state_fingerprints(&state), &live));
        if file_changed && !diffs.iter().any(|d| d.how.contains("file")) {
            diffs.push(pf::Difference { what: file.display().to_string(), how: "changed in the file".into() });
        }
        if diffs.is_empty() && pf::comparable_plan(&render::plan_json(&pl)) != pf::comparable_plan(&saved.plan) {
            diffs.push(pf::Difference { what: "the plan".into(), how: "would now differ from the saved one".into() });
        }
        if !diffs.is_empty() {
            let mut text = format!(
                "{} {name} no longer matches what it was made from; nothing was changed:\n",
                s.red("error:")
            );
            for d in &diffs {
                text.push_str(&format!("  {}: {}\n", d.what, d.how));
            }
            text.push_str("Make a new plan with `moor plan -o`, review it, and apply that.");
            return Err(Failure::Message(text));
        }
        show_plan(&pl, s, json)?;
        if pl.has_changes() {
            crate::trace::notice(&format!(
                "\nApplying the saved plan {name} (made {} on {}), as it was reviewed.\n",
                saved.created_at, saved.created_on
            ));
        }
        let (summary, st, lost) = execute(p, &stack, &graph, &pl, state, &backend, &held, json, &lo).await;
        if pl.has_changes() || !summary.ok() {
            eprint!("{}", render::summary_text(&summary, saved.destroy, s));
        }
        if json {
            emit_summary(&summary, saved.destroy, &st);
        }
        check_signal()?;
        if lost {
            return Err(lock_lost(&stack));
        }
        if !summary.ok() {
            return Err(Failure::Shown);
        }
        if !saved.destroy && !json {
            print_outputs(&st, &lo)?;
        }
        Ok(Success::Done)
        }
        .await;
        held.release().await;
        outcome
    })
}

/// A saved variable's value back as the loader's.
fn json_var(v: &serde_json::Value) -> Option<crate::model::Value> {
    use crate::model::Value as V;
    match v {
        serde_json::Value::String(s) => Some(V::String(s.clone())),
        serde_json::Value::Bool(b) => Some(V::Boolean(*b)),
        serde_json::Value::Number(n) => n.as_i64().map(V::Integer),
        serde_json::Value::Array(items) => {
            items.iter().map(|i| i.as_str().map(str::to_string)).collect::<Option<Vec<_>>>().map(V::List)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_has_its_exit_code() {
        assert_eq!(exit_code(Ok(Success::Done), false), EXIT_OK);
        assert_eq!(exit_code(Ok(Success::Changes), false), EXIT_CHANGES);
        assert_eq!(exit_code(Err(Failure::Shown), false), EXIT_ERROR);
        assert_eq!(exit_code(Err(Failure::Error("e".into())), false), EXIT_ERROR);
        assert_eq!(exit_code(Err(Failure::Message("m".into())), false), EXIT_ERROR);
        assert_eq!(exit_code(Err(Failure::Signal { code: 143, message: None }), false), 143);
    }

    #[test]
    fn the_question_names_the_account_and_region() {
        use crate::preflight::Target;
        let to = Target::new(Some("123456789012".into()), "us-east-1".into(), Some("http://127.0.0.1:5000".into()));
        assert_eq!(
            question(false, "web", &to),
            "\nApply these changes to account 123456789012 in us-east-1 (local emulator)?"
        );
        let to = Target::new(Some("210987654321".into()), "eu-west-1".into(), None);
        assert_eq!(question(true, "web", &to), "\nDestroy stack web in account 210987654321 in eu-west-1?");
    }

    #[test]
    fn a_stack_from_the_record_alone_has_its_name_and_nothing_else() {
        let o = RunOptions {
            load: LoadOptions { region: Some("eu-west-1".into()), ..Default::default() },
            state: None,
            lock: LockOptions::default(),
            parallelism: 1,
            max_requests: 1,
            wait_timeout: Duration::ZERO,
            force: false,
            auto_approve: false,
            color: false,
            targets: Vec::new(),
        };
        let (stack, graph) = recorded_stack("web-prod", &o).unwrap();
        assert_eq!(stack.name, "web-prod");
        assert_eq!(stack.region.as_deref(), Some("eu-west-1"));
        assert!(stack.resources.is_empty() && stack.outputs.is_empty() && stack.tags.is_empty());
        assert_eq!(graph.topo_order().unwrap_or_default().len(), 0);
        for bad in ["web # prod", "web\nregion: x", "../web", "", "web-"] {
            assert!(matches!(recorded_stack(bad, &o), Err(Failure::Error(m)) if m.contains("is not valid")), "{bad:?}");
        }
    }
}
