//! Command line: raw arguments → validated options → one command → exit code.
//!
//! Exit codes: 0 success; 1 errors (including a stack file with mistakes);
//! 2 is reserved for "changes present" (`plan --detailed-exitcode`), so a
//! pipeline never mistakes a broken file for a pending change.
//! Diagnostics and progress go to stderr; stdout carries only the command's
//! product (a graph, a schema, JSON), so it can be piped.

use crate::diag::{self, Diag};
use crate::graph;
use crate::load::{self, LoadOptions, Loaded};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "moor", version, about = "Provision AWS container stacks (ECR, IAM, ELBv2, ECS) from one YAML file")]
pub struct Cli {
    /// When to colour output: auto (a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check stack files and report every mistake, with file, line and column.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        vars: VarArgs,
        /// `human` (stderr) or `json` (stdout).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Print the dependency graph of a stack.
    Graph {
        file: PathBuf,
        #[command(flatten)]
        vars: VarArgs,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// Show what apply would change: per resource, field by field.
    Plan {
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Print the plan as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Exit 0 when there are no changes, 2 when there are, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Plan the destruction of the stack instead.
        #[arg(long)]
        destroy: bool,
    },
    /// Create, change and delete resources so that AWS matches the file.
    Apply {
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Do not ask for confirmation (pipelines).
        #[arg(long)]
        auto_approve: bool,
    },
    /// Delete every resource of the stack, dependents first.
    Destroy {
        /// The stack file; without it, `--stack` names a stack whose file is gone.
        file: Option<PathBuf>,
        /// Destroy the stack of this name from its state record alone.
        #[arg(long, conflicts_with = "file")]
        stack: Option<String>,
        #[command(flatten)]
        run: RunArgs,
        #[arg(long)]
        auto_approve: bool,
    },
    /// Adopt an existing resource as LOGICAL of the stack: tag it and record it.
    Import {
        logical: String,
        /// Its physical id (an ARN, or a security group id).
        id: String,
        /// The stack file.
        #[arg(short, long)]
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Print the outputs recorded by the last apply.
    Outputs {
        file: Option<PathBuf>,
        #[arg(long, conflicts_with = "file")]
        stack: Option<String>,
        /// Only this output, as plain text.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = ".moor")]
        state_dir: PathBuf,
    },
    /// Print the JSON Schema of stack files.
    Schema,
}

/// Options of the commands that reach AWS.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub vars: VarArgs,
    /// Where the state record lives.
    #[arg(long, default_value = ".moor")]
    pub state_dir: PathBuf,
    /// How many resources are worked on at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,
    /// Most AWS requests in flight at once, reads and writes of every
    /// service together (the SDK backs off and retries when AWS throttles).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_requests: u16,
    /// Longest wait for one resource to settle: `600`, `90s`, `10m`, `1h`.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub wait_timeout: std::time::Duration,
    /// Allow what loses data: replacing or deleting an ECR repository that holds images.
    #[arg(long)]
    pub force: bool,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s.find(|c: char| !c.is_ascii_digit()).map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a duration like 90s, 10m or 1h"))?;
    let secs = match unit {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("`{s}` is not a duration like 90s, 10m or 1h")),
    };
    Ok(std::time::Duration::from_secs(secs))
}

impl RunArgs {
    fn options(&self, color: bool, auto_approve: bool) -> crate::run::RunOptions {
        crate::run::RunOptions {
            load: self.vars.options(),
            state_dir: self.state_dir.clone(),
            parallelism: self.parallelism.into(),
            max_requests: self.max_requests.into(),
            wait_timeout: self.wait_timeout,
            force: self.force,
            auto_approve,
            color,
        }
    }
}

#[derive(Args, Debug, Default)]
pub struct VarArgs {
    /// Set a variable: `--var name=value` (repeatable; beats --var-file and MOOR_VAR_name).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read variables from a YAML file of `name: value` (repeatable; a later file wins).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
    /// AWS region; beats the file's `region`.
    #[arg(long)]
    pub region: Option<String>,
}

impl VarArgs {
    fn options(&self) -> LoadOptions {
        let mut o = LoadOptions::from_env();
        o.vars = self.vars.clone();
        o.var_files = self.var_files.clone();
        o.region = self.region.clone();
        if let Ok(r) = std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")) {
            o.env.push(("AWS_REGION".into(), r));
        }
        o
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum GraphFormat {
    Dot,
    Mermaid,
    Json,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let code = match cli.command {
        Command::Validate { files, vars, format } => u8::from(!validate(&files, &vars, format, color)),
        Command::Graph { file, vars, format } => u8::from(!graph_cmd(&file, &vars, format, color)),
        Command::Schema => u8::from(!out(&crate::schema::stack_schema_json())),
        Command::Plan { file, run, json, detailed_exitcode, destroy } => {
            crate::run::plan_cmd(&file, destroy, json, detailed_exitcode, &run.options(color, false))
        }
        Command::Apply { file, run, auto_approve } => {
            crate::run::apply_cmd(Some(&file), None, false, &run.options(color, auto_approve))
        }
        Command::Destroy { file, stack, run, auto_approve } => {
            crate::run::apply_cmd(file.as_deref(), stack.as_deref(), true, &run.options(color, auto_approve))
        }
        Command::Import { logical, id, file, run } => {
            crate::run::import_cmd(&file, &logical, &id, &run.options(color, false))
        }
        Command::Outputs { file, stack, name, json, state_dir } => {
            let run = RunArgs {
                vars: VarArgs::default(),
                state_dir,
                parallelism: 1,
                max_requests: 64,
                wait_timeout: std::time::Duration::ZERO,
                force: false,
            };
            crate::run::outputs_cmd(
                file.as_deref(),
                stack.as_deref(),
                json,
                name.as_deref(),
                &run.options(color, false),
            )
        }
    };
    ExitCode::from(code)
}

/// Writes the command's product to stdout. A reader that stops early (`| head`)
/// is not an error.
pub(crate) fn out(text: &str) -> bool {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush()) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => true,
        Err(e) => {
            eprintln!("moor: cannot write output: {e}");
            false
        }
    }
}

fn width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(100)
}

fn eprint_diags(diags: &[Diag], color: bool) {
    if !diags.is_empty() {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(diag::render(diags, color, width()).as_bytes());
    }
}

/// Loads a stack and builds its graph; every diagnostic of both.
pub fn load_and_graph(file: &std::path::Path, opts: &LoadOptions) -> (Loaded, Option<graph::Graph>) {
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

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn validate(files: &[PathBuf], vars: &VarArgs, format: Format, color: bool) -> bool {
    let opts = vars.options();
    let mut all_ok = true;
    let mut json_files = Vec::new();
    for f in files {
        let (loaded, _) = load_and_graph(f, &opts);
        let (errors, warnings) = count(&loaded.diags);
        all_ok &= errors == 0;
        match format {
            Format::Human => {
                eprint_diags(&loaded.diags, color);
                let name = f.display();
                match &loaded.stack {
                    Some(s) => {
                        let w = if warnings > 0 { format!(", {}", plural(warnings, "warning")) } else { String::new() };
                        eprintln!(
                            "{name}: valid, stack `{}` with {}{w}",
                            s.name,
                            plural(s.resources.len(), "resource")
                        );
                    }
                    None => eprintln!("{name}: {}, {}", plural(errors, "error"), plural(warnings, "warning")),
                }
            }
            Format::Json => {
                json_files.push(serde_json::json!({
                    "file": f.display().to_string(),
                    "valid": errors == 0,
                    "stack": loaded.stack.as_ref().map(|s| s.name.clone()),
                    "resources": loaded.stack.as_ref().map(|s| s.resources.len()),
                    "errors": errors,
                    "warnings": warnings,
                    "diagnostics": loaded.diags.iter().map(Diag::to_json).collect::<Vec<_>>(),
                }));
            }
        }
    }
    if format == Format::Json {
        let out = serde_json::json!({ "valid": all_ok, "files": json_files });
        let mut text = serde_json::to_string_pretty(&out).expect("json");
        text.push('\n');
        all_ok &= self::out(&text);
    }
    all_ok
}

fn graph_cmd(file: &std::path::Path, vars: &VarArgs, format: GraphFormat, color: bool) -> bool {
    let (loaded, g) = load_and_graph(file, &vars.options());
    eprint_diags(&loaded.diags, color);
    let (Some(stack), Some(g)) = (&loaded.stack, g) else {
        let (errors, _) = count(&loaded.diags);
        eprintln!("{}: {}", file.display(), plural(errors, "error"));
        return false;
    };
    let out = match format {
        GraphFormat::Dot => g.to_dot(&stack.name),
        GraphFormat::Mermaid => g.to_mermaid(),
        GraphFormat::Json => {
            let order = g.topo_order().unwrap_or_default();
            let nodes: Vec<_> = order
                .iter()
                .map(|n| {
                    let r = stack.resource(n).expect("node is a resource");
                    serde_json::json!({ "name": n, "kind": r.kind(), "physical_name": r.physical_name, "depends_on": g.dependencies(n) })
                })
                .collect();
            let mut s = serde_json::to_string_pretty(
                &serde_json::json!({ "stack": stack.name, "order": order, "resources": nodes }),
            )
            .expect("json");
            s.push('\n');
            s
        }
    };
    self::out(&out)
}
