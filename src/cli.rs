//! Command line: raw arguments → validated options → one command of
//! [`crate::run`] → exit code. This module only parses arguments.
//!
//! Exit codes: 0 success; 1 errors (including a stack file with mistakes);
//! 2 is reserved for "changes present" (`plan --detailed-exitcode`), so a
//! pipeline never mistakes a broken file for a pending change.
//! Diagnostics and progress go to stderr; stdout carries only the command's
//! product (a graph, a schema, JSON), so it can be piped.

use crate::load::LoadOptions;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
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
        #[command(flatten)]
        state: StateArg,
    },
    /// Print the JSON Schema of stack files.
    Schema,
    /// Work on state records and their locks: unlock, migrate, show.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum StateCommand {
    /// Remove a stack's lock left by a run that died, if its id is ID.
    Unlock {
        /// The lock id the refused run printed.
        id: String,
        /// The stack file; or --stack NAME.
        file: Option<PathBuf>,
        #[arg(long, conflicts_with = "file")]
        stack: Option<String>,
        #[command(flatten)]
        state: StateArg,
        /// AWS region of the state bucket.
        #[arg(long)]
        region: Option<String>,
    },
    /// Copy a stack's record from one backend to another, under both locks.
    Migrate {
        /// Where the record is now: a directory or s3://bucket/prefix.
        #[arg(long)]
        from: String,
        /// Where it goes: a directory or s3://bucket/prefix.
        #[arg(long)]
        to: String,
        /// The stack file; or --stack NAME.
        file: Option<PathBuf>,
        #[arg(long, conflicts_with = "file")]
        stack: Option<String>,
        /// Replace a different record at the destination.
        #[arg(long, env = "MOOR_FORCE")]
        force: bool,
        /// Delete the source record once the copy reads back the same.
        #[arg(long, env = "MOOR_REMOVE_SOURCE")]
        remove_source: bool,
        #[command(flatten)]
        lock: LockArgs,
        /// AWS region of the state bucket(s).
        #[arg(long)]
        region: Option<String>,
    },
    /// Print a stack's state record as JSON.
    Show {
        file: Option<PathBuf>,
        #[arg(long, conflicts_with = "file")]
        stack: Option<String>,
        #[command(flatten)]
        state: StateArg,
        #[arg(long)]
        region: Option<String>,
    },
}

/// Where the state record is.
#[derive(Args, Debug, Default)]
pub struct StateArg {
    /// Where the state record lives: a directory (default `.moor`) or
    /// `s3://bucket/prefix`; beats the stack file's `state:`.
    #[arg(long = "state", visible_alias = "state-dir", env = "MOOR_STATE", value_name = "LOCATION")]
    pub state: Option<String>,
}

/// How a run takes the stack's lock.
#[derive(Args, Debug)]
pub struct LockArgs {
    /// How long to wait for a lock another run holds: `0` (fail at once), `90s`, `10m`.
    #[arg(long, env = "MOOR_LOCK_TIMEOUT", default_value = "0", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
    /// An S3 lock not refreshed for longer than this is taken over, with a warning.
    #[arg(long, env = "MOOR_LOCK_STALE_AFTER", default_value = "15m", value_parser = parse_duration)]
    pub lock_stale_after: std::time::Duration,
}

impl LockArgs {
    fn options(&self) -> crate::backend::LockOptions {
        crate::backend::LockOptions { timeout: self.lock_timeout, stale_after: self.lock_stale_after }
    }
}

/// Options of the commands that reach AWS.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub state: StateArg,
    #[command(flatten)]
    pub lock: LockArgs,
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
            state: self.state.state.clone(),
            lock: self.lock.options(),
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

/// Parses the arguments, runs the command, and turns its result into the
/// exit code, in one place ([`crate::run::exit_code`]).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let result = dispatch(cli.command, color);
    ExitCode::from(crate::run::exit_code(result, color))
}

fn dispatch(command: Command, color: bool) -> crate::run::Outcome {
    match command {
        Command::Validate { files, vars, format } => {
            crate::run::validate_cmd(&files, &vars.options(), format == Format::Json, color)
        }
        Command::Graph { file, vars, format } => {
            let format = match format {
                GraphFormat::Dot => crate::run::GraphFormat::Dot,
                GraphFormat::Mermaid => crate::run::GraphFormat::Mermaid,
                GraphFormat::Json => crate::run::GraphFormat::Json,
            };
            crate::run::graph_cmd(&file, &vars.options(), format, color)
        }
        Command::Schema => crate::run::schema_cmd(),
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
        Command::State { command } => state_command(command, color),
        Command::Outputs { file, stack, name, json, state } => {
            let run = RunArgs {
                vars: VarArgs::default(),
                state,
                lock: LockArgs::default(),
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
    }
}

impl Default for LockArgs {
    fn default() -> Self {
        let d = crate::backend::LockOptions::default();
        LockArgs { lock_timeout: d.timeout, lock_stale_after: d.stale_after }
    }
}

/// The options of a `moor state` command.
fn state_options(state: Option<String>, region: Option<String>, lock: LockArgs, color: bool) -> crate::run::RunOptions {
    let run = RunArgs {
        vars: VarArgs { region, ..VarArgs::default() },
        state: StateArg { state },
        lock,
        parallelism: 1,
        max_requests: 64,
        wait_timeout: std::time::Duration::ZERO,
        force: false,
    };
    run.options(color, false)
}

fn state_command(command: StateCommand, color: bool) -> crate::run::Outcome {
    match command {
        StateCommand::Unlock { id, file, stack, state, region } => {
            let o = state_options(state.state, region, LockArgs::default(), color);
            crate::run::state_unlock_cmd(&id, file.as_deref(), stack.as_deref(), &o)
        }
        StateCommand::Show { file, stack, state, region } => {
            let o = state_options(state.state, region, LockArgs::default(), color);
            crate::run::state_show_cmd(file.as_deref(), stack.as_deref(), &o)
        }
        StateCommand::Migrate { from, to, file, stack, force, remove_source, lock, region } => {
            let o = state_options(None, region, lock, color);
            let m = crate::run::Migrate {
                from: &from,
                to: &to,
                file: file.as_deref(),
                stack: stack.as_deref(),
                force,
                remove_source,
            };
            crate::run::state_migrate_cmd(&m, &o)
        }
    }
}
