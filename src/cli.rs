//! Command line: raw arguments → validated options → one command of
//! [`crate::run`] → exit code. This module only parses arguments.
//!
//! Exit codes: 0 success; 1 errors (including a stack file with mistakes);
//! 2 is reserved for "changes present" (`plan --detailed-exitcode`, and
//! `drift`), so a pipeline never mistakes a broken file for a pending change.
//! Diagnostics and progress go to stderr; stdout carries only the command's
//! product (a graph, a schema, JSON), so it can be piped.
//!
//! Every option can also be set by an environment variable (`MOOR_…`,
//! shown in `--help`); the command line beats the environment. Switches
//! take `true`/`false`, `1`/`0`, `yes`/`no` or `on`/`off` from it.

use crate::load::LoadOptions;
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "moor", version = env!("MOOR_VERSION"), about = "Provision AWS container stacks (ECR, IAM, ELBv2, ECS) from one YAML file")]
pub struct Cli {
    /// When to colour output: auto (a terminal, unless NO_COLOR is set;
    /// CLICOLOR_FORCE forces it), always, never.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto, env = "MOOR_COLOR")]
    pub color: Color,
    /// Say only errors, warnings and what the command prints (the plan):
    /// no progress, no notices.
    #[arg(short, long, global = true, env = "MOOR_QUIET", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub quiet: bool,
    /// Say more: `-v` each read, `-vv` each AWS call (as --debug), `-vvv` each attempt.
    #[arg(short, long, global = true, env = "MOOR_VERBOSE", action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Trace every AWS call on stderr: operation, resource, answer, duration, retries.
    #[arg(long, global = true, env = "MOOR_DEBUG", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub debug: bool,
    /// What to log: a level (`debug`: each AWS call; `trace`: each attempt
    /// too) or `aws=LEVEL`.
    #[arg(long, global = true, env = "MOOR_LOG", value_name = "FILTER", value_parser = parse_log)]
    pub log: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// Which calls `moor policy` covers.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum PolicyMode {
    Apply,
    Plan,
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
        #[arg(long, value_enum, default_value_t = Format::Human, env = "MOOR_VALIDATE_FORMAT")]
        format: Format,
    },
    /// Print the dependency graph of a stack.
    Graph {
        file: PathBuf,
        #[command(flatten)]
        vars: VarArgs,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot, env = "MOOR_GRAPH_FORMAT")]
        format: GraphFormat,
    },
    /// Show what apply would change: per resource, field by field.
    Plan {
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// How to show the plan: `human` (stderr), `json` or `markdown`
        /// (stdout; markdown is fit for a pull-request comment).
        #[arg(long, value_enum, env = "MOOR_PLAN_FORMAT")]
        format: Option<PlanFormat>,
        /// Print the plan as JSON on stdout: `--format json`.
        #[arg(long, env = "MOOR_JSON", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
        json: bool,
        /// Exit 0 when there are no changes, 2 when there are, 1 on error.
        #[arg(long, env = "MOOR_DETAILED_EXITCODE", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
        detailed_exitcode: bool,
        /// Plan the destruction of the stack instead.
        #[arg(long, env = "MOOR_PLAN_DESTROY", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
        destroy: bool,
        /// Also save the plan to this file, for `moor apply PLANFILE` (no secret values in it).
        #[arg(short = 'o', long = "out", env = "MOOR_OUT", value_name = "PLANFILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        target: TargetArg,
        /// Show the monthly cost line (before → after) even when the plan
        /// changes nothing billable; `--no-cost` never shows it.
        #[arg(long, env = "MOOR_COST", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), overrides_with = "no_cost")]
        cost: bool,
        /// Leave the cost line out (it is shown by default when the plan
        /// creates, changes or deletes something billed).
        #[arg(long, env = "MOOR_NO_COST", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), overrides_with = "cost")]
        no_cost: bool,
        #[command(flatten)]
        assume: AssumeArgs,
    },
    /// Estimate the stack's monthly cost: per resource and in total, with
    /// every assumption stated; no AWS call.
    Cost {
        file: PathBuf,
        #[command(flatten)]
        vars: VarArgs,
        /// Also price the same stack in these regions, side by side
        /// (`--compare-regions us-east-2,sa-east-1`).
        #[arg(long, env = "MOOR_COMPARE_REGIONS", value_name = "REGIONS", value_delimiter = ',')]
        compare_regions: Vec<String>,
        /// The estimate as JSON on stdout (one object, or an array with --compare-regions).
        #[arg(long, env = "MOOR_JSON", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
        json: bool,
        #[command(flatten)]
        assume: AssumeArgs,
    },
    /// Compare live AWS with the file: exit 0 when they match, 2 when they
    /// differ (what differs is shown as a plan), 1 on error.
    Drift {
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// How to show what differs: `human` (stderr), `json` or `markdown` (stdout).
        #[arg(long, value_enum, default_value_t = PlanFormat::Human, env = "MOOR_DRIFT_FORMAT")]
        format: PlanFormat,
    },
    /// Create, change and delete resources so that AWS matches the file.
    Apply {
        /// The stack file, or a plan saved by `moor plan -o` (applied as
        /// reviewed, without asking, if nothing changed since).
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Do not ask for confirmation (pipelines).
        #[arg(long, env = "MOOR_AUTO_APPROVE", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
        auto_approve: bool,
        /// Stream one JSON event per line on stdout: the plan, each step, the summary.
        #[arg(long, env = "MOOR_JSON", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
        json: bool,
        #[command(flatten)]
        target: TargetArg,
    },
    /// Delete every resource of the stack, dependents first.
    Destroy {
        /// The stack file; without it, `--stack` names a stack whose file is gone.
        file: Option<PathBuf>,
        /// Destroy the stack of this name from its state record alone
        /// (MOOR_STACK is used only when no file is given).
        #[arg(long, env = "MOOR_STACK")]
        stack: Option<String>,
        #[command(flatten)]
        run: RunArgs,
        /// Do not ask for confirmation (pipelines).
        #[arg(long, env = "MOOR_AUTO_APPROVE", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
        auto_approve: bool,
        /// Stream one JSON event per line on stdout: the plan, each step, the summary.
        #[arg(long, env = "MOOR_JSON", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
        json: bool,
        #[command(flatten)]
        target: TargetArg,
    },
    /// Adopt an existing resource as LOGICAL of the stack: tag it and record it.
    Import {
        logical: String,
        /// Its physical id (an ARN, or a security group id).
        id: String,
        /// The stack file.
        #[arg(short, long, env = "MOOR_FILE")]
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Print the outputs recorded by the last apply.
    Outputs {
        file: Option<PathBuf>,
        /// The stack of this name, without its file (MOOR_STACK is used only
        /// when no file is given).
        #[arg(long, env = "MOOR_STACK")]
        stack: Option<String>,
        /// Only this output, as plain text.
        #[arg(long, env = "MOOR_OUTPUT_NAME")]
        name: Option<String>,
        /// All outputs as one JSON object.
        #[arg(long, env = "MOOR_JSON", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
        json: bool,
        #[command(flatten)]
        state: StateArg,
    },
    /// Print the IAM policy that lets an identity plan, apply and destroy
    /// this stack: each action scoped to the stack's resources where AWS
    /// allows.
    Policy {
        file: PathBuf,
        /// `apply` (plan, apply and destroy) or `plan` (the reads of a
        /// plan only, for a pull-request job).
        #[arg(long, value_enum, default_value_t = PolicyMode::Apply, env = "MOOR_POLICY_MODE")]
        mode: PolicyMode,
        /// Say what each statement is for and why a resource is `*`,
        /// instead of the document.
        #[arg(long, env = "MOOR_POLICY_EXPLAIN", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
        explain: bool,
        /// The account the stack is in (its ARNs name it); `*` when not given.
        #[arg(long, env = "MOOR_POLICY_ACCOUNT", value_name = "ID")]
        account: Option<String>,
        /// The partition of the ARNs: `aws`, `aws-cn`, `aws-us-gov`.
        #[arg(long, env = "MOOR_POLICY_PARTITION", default_value = "aws", value_name = "NAME")]
        partition: String,
        #[command(flatten)]
        vars: VarArgs,
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
    /// Log Docker in to the stack's ECR registries; Docker's credential helper.
    Ecr {
        #[command(subcommand)]
        command: EcrCommand,
    },
    /// Tag a local image with a repository's URI and push it (with Docker or
    /// Podman), logged in first; prints `URI:TAG` on stdout.
    Push {
        /// The stack file.
        file: PathBuf,
        /// The repository: its logical name in the file (not needed when
        /// the file has only one).
        #[arg(long, env = "MOOR_PUSH_RESOURCE", value_name = "LOGICAL")]
        resource: Option<String>,
        /// The local image to push (default: the repository's name, as in
        /// `docker build -t NAME .`).
        #[arg(long, env = "MOOR_PUSH_IMAGE", value_name = "LOCAL")]
        image: Option<String>,
        /// The tag to push (default: the one the stack's task definitions
        /// use, else `latest`); may use `${git.short_sha}`, `${git.sha}`,
        /// `${stack}`, `${region}`, `${var.NAME}` (quote it for the shell).
        #[arg(long, env = "MOOR_PUSH_TAG")]
        tag: Option<String>,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Print the completion script of a shell (see README: "Shell completions").
    Completions {
        /// bash, zsh, fish, powershell or elvish.
        shell: clap_complete::Shell,
    },
    /// Print the manual page, or with --out write one page per command.
    Man {
        /// Write `moor.1`, `moor-apply.1`, … into this directory instead.
        #[arg(long, env = "MOOR_MAN_OUT", value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum EcrCommand {
    /// Write Docker logins for the registries of the stack's repositories
    /// (without FILE: your account's registry in the region), as
    /// `aws ecr get-login-password | docker login` does.
    Login {
        file: Option<PathBuf>,
        /// Make Docker ask moor for a fresh token at each pull and push
        /// (`credHelpers` → `docker-credential-moor`) instead of storing one.
        #[arg(long, env = "MOOR_ECR_HELPER", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
        helper: bool,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Docker's credential helper protocol: `get` reads a registry URL on
    /// stdin and prints its login as JSON (what `docker-credential-moor` runs).
    CredentialHelper {
        #[arg(value_enum)]
        action: crate::ecr_login::HelperAction,
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
        /// The stack of this name (MOOR_STACK is used only when no file is given).
        #[arg(long, env = "MOOR_STACK")]
        stack: Option<String>,
        #[command(flatten)]
        state: StateArg,
        /// AWS region of the state bucket.
        #[arg(long, env = "MOOR_REGION")]
        region: Option<String>,
    },
    /// Copy a stack's record from one backend to another, under both locks.
    Migrate {
        /// Where the record is now: a directory or s3://bucket/prefix.
        #[arg(long, env = "MOOR_MIGRATE_FROM")]
        from: String,
        /// Where it goes: a directory or s3://bucket/prefix.
        #[arg(long, env = "MOOR_MIGRATE_TO")]
        to: String,
        /// The stack file; or --stack NAME.
        file: Option<PathBuf>,
        /// The stack of this name (MOOR_STACK is used only when no file is given).
        #[arg(long, env = "MOOR_STACK")]
        stack: Option<String>,
        /// Replace a different record at the destination.
        #[arg(long, env = "MOOR_FORCE", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
        force: bool,
        /// Delete the source record once the copy reads back the same.
        #[arg(long, env = "MOOR_REMOVE_SOURCE", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
        remove_source: bool,
        #[command(flatten)]
        lock: LockArgs,
        /// AWS region of the state bucket(s).
        #[arg(long, env = "MOOR_REGION")]
        region: Option<String>,
    },
    /// List the resources a stack's record holds: logical name, kind, physical id.
    List {
        file: Option<PathBuf>,
        /// The stack of this name (MOOR_STACK is used only when no file is given).
        #[arg(long, env = "MOOR_STACK")]
        stack: Option<String>,
        /// One JSON object per resource, as an array on stdout.
        #[arg(long, env = "MOOR_JSON", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
        json: bool,
        #[command(flatten)]
        state: StateArg,
        /// AWS region of the state bucket.
        #[arg(long, env = "MOOR_REGION")]
        region: Option<String>,
    },
    /// Forget resources: drop them from the record, under the stack's lock,
    /// without any call to AWS.
    Rm {
        /// The logical names to forget.
        #[arg(required = true, value_name = "LOGICAL")]
        logical: Vec<String>,
        /// The stack file; or --stack NAME.
        #[arg(short, long, env = "MOOR_FILE")]
        file: Option<PathBuf>,
        /// The stack of this name (MOOR_STACK is used only when no file is given).
        #[arg(long, env = "MOOR_STACK")]
        stack: Option<String>,
        /// Do not ask for confirmation (pipelines).
        #[arg(long, env = "MOOR_AUTO_APPROVE", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
        auto_approve: bool,
        #[command(flatten)]
        state: StateArg,
        #[command(flatten)]
        lock: LockArgs,
        /// AWS region of the state bucket.
        #[arg(long, env = "MOOR_REGION")]
        region: Option<String>,
    },
    /// Print a stack's state record as JSON.
    Show {
        file: Option<PathBuf>,
        /// The stack of this name (MOOR_STACK is used only when no file is given).
        #[arg(long, env = "MOOR_STACK")]
        stack: Option<String>,
        #[command(flatten)]
        state: StateArg,
        /// AWS region of the state bucket.
        #[arg(long, env = "MOOR_REGION")]
        region: Option<String>,
    },
}

/// `--target RESOURCE`: some resources only.
#[derive(Args, Debug, Default)]
pub struct TargetArg {
    /// Only this resource and what it depends on (for destroy: what depends
    /// on it); repeatable. MOOR_TARGET takes names separated by commas.
    #[arg(long = "target", env = "MOOR_TARGET", value_name = "RESOURCE", value_delimiter = ',')]
    pub targets: Vec<String>,
}

/// What a cost estimate assumes where the file cannot say.
#[derive(Args, Debug)]
pub struct AssumeArgs {
    /// Load balancer capacity units in use on average, per load balancer.
    #[arg(long, env = "MOOR_COST_LCU", default_value_t = 1.0, value_parser = parse_amount)]
    pub lcu: f64,
    /// GB of logs each task writes per month.
    #[arg(long, env = "MOOR_COST_LOG_GB_PER_TASK", default_value_t = 1.0, value_parser = parse_amount)]
    pub log_gb_per_task: f64,
    /// GB of images each repository stores (a plan reads what existing repositories hold instead).
    #[arg(long, env = "MOOR_COST_ECR_GB", default_value_t = 1.0, value_parser = parse_amount)]
    pub ecr_gb: f64,
    /// GB each NAT gateway processes per month.
    #[arg(long, env = "MOOR_COST_NAT_GB", default_value_t = 10.0, value_parser = parse_amount)]
    pub nat_gb: f64,
    /// Zones of a load balancer whose subnets are known only once applied.
    #[arg(long, env = "MOOR_COST_LB_ZONES", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub lb_zones: u32,
}

impl AssumeArgs {
    fn assumptions(&self) -> crate::cost::Assumptions {
        crate::cost::Assumptions {
            lcu: self.lcu,
            log_gb_per_task: self.log_gb_per_task,
            ecr_gb: self.ecr_gb,
            nat_gb: self.nat_gb,
            lb_zones: self.lb_zones,
        }
    }
}

/// A quantity: a finite number, zero or more.
fn parse_amount(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a number zero or more")),
    }
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
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256), env = "MOOR_PARALLELISM")]
    pub parallelism: u16,
    /// Most AWS requests in flight at once, reads and writes of every
    /// service together (the SDK backs off and retries when AWS throttles).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024), env = "MOOR_MAX_REQUESTS")]
    pub max_requests: u16,
    /// Longest wait for one resource to settle: `600`, `90s`, `10m`, `1h`.
    #[arg(long, default_value = "10m", value_parser = parse_duration, env = "MOOR_WAIT_TIMEOUT")]
    pub wait_timeout: std::time::Duration,
    /// Allow what loses data: replacing or deleting an ECR repository that holds images.
    #[arg(long, env = "MOOR_FORCE", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub force: bool,
}

fn parse_log(s: &str) -> Result<String, String> {
    crate::trace::parse_filter(s).map(|_| s.to_string())
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
            targets: Vec::new(),
        }
    }
}

#[derive(Args, Debug, Default)]
pub struct VarArgs {
    /// Set a variable: `--var name=value` (repeatable; beats --var-file and
    /// MOOR_VAR_name, the environment's form of this option).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read variables from a YAML file of `name: value` (repeatable; a later file wins).
    #[arg(long = "var-file", value_name = "FILE", env = "MOOR_VAR_FILE")]
    pub var_files: Vec<PathBuf>,
    /// AWS region; beats the file's `region` (AWS_REGION does not).
    #[arg(long, env = "MOOR_REGION")]
    pub region: Option<String>,
    /// Stack name; beats the file's `stack` (one file, several environments).
    #[arg(long, env = "MOOR_STACK_NAME", value_name = "NAME")]
    pub stack_name: Option<String>,
}

impl VarArgs {
    fn options(&self) -> LoadOptions {
        let mut o = LoadOptions::from_env();
        o.vars = self.vars.clone();
        o.var_files = self.var_files.clone();
        o.region = self.region.clone();
        o.stack_name = self.stack_name.clone();
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

/// The forms of a plan.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum PlanFormat {
    /// Text on stderr.
    Human,
    /// The JSON plan (docs/json-plan.md) on stdout.
    Json,
    /// Markdown on stdout, for a pull-request comment.
    Markdown,
}

impl From<PlanFormat> for crate::run::PlanFormat {
    fn from(f: PlanFormat) -> Self {
        match f {
            PlanFormat::Human => crate::run::PlanFormat::Human,
            PlanFormat::Json => crate::run::PlanFormat::Json,
            PlanFormat::Markdown => crate::run::PlanFormat::Markdown,
        }
    }
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
    if let Some(code) = as_credential_helper() {
        return code;
    }
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Some(e) = stack_and_file(&matches) {
        e.exit();
    }
    let color = color_choice(cli.color);
    if let Err(e) = crate::trace::configure(cli.quiet, cli.verbose, cli.debug, cli.log.as_deref()) {
        Cli::command().error(clap::error::ErrorKind::ValueValidation, e).exit();
    }
    let result = dispatch(cli.command, color);
    ExitCode::from(crate::run::exit_code(result, color))
}

/// Whether stderr gets colours, decided in one place for everything moor
/// writes (miette's diagnostics included): `--color`, then NO_COLOR,
/// CLICOLOR_FORCE, CLICOLOR, and whether stderr is a terminal.
pub fn color_choice(color: Color) -> bool {
    let choice = match color {
        Color::Always => anstream::ColorChoice::Always,
        Color::Never => anstream::ColorChoice::Never,
        Color::Auto => anstream::ColorChoice::Auto,
    };
    choice.write_global();
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

/// Run as `docker-credential-moor ACTION` (a link to moor), moor is
/// Docker's credential helper: `moor ecr credential-helper ACTION`.
fn as_credential_helper() -> Option<ExitCode> {
    let mut args = std::env::args_os();
    let me = PathBuf::from(args.next()?);
    if me.file_name()? != "docker-credential-moor" {
        return None;
    }
    let action = args.next().and_then(|a| a.to_str().and_then(crate::ecr_login::HelperAction::parse));
    let result = match action {
        Some(action) => crate::ecr_login::credential_helper_cmd(action),
        None => Err(crate::run::Failure::Message(
            "usage: docker-credential-moor get|store|erase|list (Docker's credential helper protocol)".into(),
        )),
    };
    Some(ExitCode::from(crate::run::exit_code(result, false)))
}

/// A file and `--stack` on the command line name the stack twice; a file
/// and `MOOR_STACK` is the file (the variable serves runs without one).
fn stack_and_file(matches: &clap::ArgMatches) -> Option<clap::Error> {
    let (mut name, mut sub) = matches.subcommand()?;
    if name == "state" {
        (name, sub) = sub.subcommand()?;
    }
    let both = matches!(name, "destroy" | "outputs" | "unlock" | "migrate" | "show" | "list" | "rm")
        && sub.get_one::<PathBuf>("file").is_some()
        && sub.value_source("stack") == Some(clap::parser::ValueSource::CommandLine);
    both.then(|| {
        Cli::command().error(clap::error::ErrorKind::ArgumentConflict, "give the stack file or --stack NAME, not both")
    })
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
        Command::Policy { file, mode, explain, account, partition, vars, state } => {
            let p = crate::policy_cmd::Options {
                plan_only: mode == PolicyMode::Plan,
                explain,
                account,
                partition,
                state: state.state,
            };
            crate::policy_cmd::policy_cmd(&file, &vars.options(), &p, color)
        }
        Command::Plan { file, run, format, json, detailed_exitcode, destroy, out, target, cost, no_cost, assume } => {
            // `--format` (or its variable) beats `--json`.
            let format = format.unwrap_or(if json { PlanFormat::Json } else { PlanFormat::Human });
            let o = crate::run::RunOptions { targets: target.targets, ..run.options(color, false) };
            let cost = match (cost, no_cost) {
                (_, true) => crate::run::CostLine::Never,
                (true, false) => crate::run::CostLine::Always(assume.assumptions()),
                (false, false) => crate::run::CostLine::WhenBillable(assume.assumptions()),
            };
            crate::run::plan_cmd(&file, destroy, format.into(), detailed_exitcode, out.as_deref(), cost, &o)
        }
        Command::Cost { file, vars, compare_regions, json, assume } => {
            crate::run::cost_cmd(&file, &vars.options(), &compare_regions, json, &assume.assumptions(), color)
        }
        Command::Apply { file, run, auto_approve, json, target } if crate::planfile::is_plan_file(&file) => {
            let o = crate::run::RunOptions { targets: target.targets, ..run.options(color, auto_approve) };
            crate::run::apply_saved_cmd(&file, json, &o)
        }
        Command::Drift { file, run, format } => crate::run::drift_cmd(&file, format.into(), &run.options(color, false)),
        Command::Apply { file, run, auto_approve, json, target } => {
            let o = crate::run::RunOptions { targets: target.targets, ..run.options(color, auto_approve) };
            crate::run::apply_cmd(Some(&file), None, false, json, &o)
        }
        Command::Destroy { file, stack, run, auto_approve, json, target } => {
            let o = crate::run::RunOptions { targets: target.targets, ..run.options(color, auto_approve) };
            crate::run::apply_cmd(file.as_deref(), stack.as_deref(), true, json, &o)
        }
        Command::Import { logical, id, file, run } => {
            crate::run::import_cmd(&file, &logical, &id, &run.options(color, false))
        }
        Command::State { command } => state_command(command, color),
        Command::Ecr { command: EcrCommand::Login { file, helper, vars } } => {
            crate::ecr_login::login_cmd(file.as_deref(), helper, &vars_options(vars, color))
        }
        Command::Ecr { command: EcrCommand::CredentialHelper { action } } => {
            crate::ecr_login::credential_helper_cmd(action)
        }
        Command::Push { file, resource, image, tag, vars } => {
            let push = crate::ecr_login::Push {
                file: &file,
                resource: resource.as_deref(),
                image: image.as_deref(),
                tag: tag.as_deref(),
            };
            crate::ecr_login::push_cmd(&push, &vars_options(vars, color))
        }
        Command::Completions { shell } => crate::run::out_bytes(&crate::manpages::completions(shell)),
        Command::Man { out: None } => {
            crate::run::out_bytes(&crate::manpages::main_page().map_err(crate::run::Failure::Error)?)
        }
        Command::Man { out: Some(dir) } => {
            let written = crate::manpages::write_pages(&dir).map_err(crate::run::Failure::Error)?;
            crate::trace::notice(&format!("Wrote {} manual pages to {}", written.len(), dir.display()));
            Ok(crate::run::Success::Done)
        }
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
            // The file beats MOOR_STACK (`stack_and_file` refused both on the command line).
            let stack = stack.filter(|_| file.is_none());
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

/// The options of a command that takes only the file's variables.
fn vars_options(vars: VarArgs, color: bool) -> crate::run::RunOptions {
    let run = RunArgs {
        vars,
        state: StateArg::default(),
        lock: LockArgs::default(),
        parallelism: 1,
        max_requests: 64,
        wait_timeout: std::time::Duration::ZERO,
        force: false,
    };
    run.options(color, false)
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
    // The file beats MOOR_STACK (`stack_and_file` refused both on the command line).
    let command = match command {
        StateCommand::Unlock { id, file, stack, state, region } => {
            StateCommand::Unlock { stack: stack.filter(|_| file.is_none()), id, file, state, region }
        }
        StateCommand::Show { file, stack, state, region } => {
            StateCommand::Show { stack: stack.filter(|_| file.is_none()), file, state, region }
        }
        StateCommand::List { file, stack, json, state, region } => {
            StateCommand::List { stack: stack.filter(|_| file.is_none()), file, json, state, region }
        }
        StateCommand::Rm { logical, file, stack, auto_approve, state, lock, region } => StateCommand::Rm {
            stack: stack.filter(|_| file.is_none()),
            logical,
            file,
            auto_approve,
            state,
            lock,
            region,
        },
        StateCommand::Migrate { from, to, file, stack, force, remove_source, lock, region } => StateCommand::Migrate {
            stack: stack.filter(|_| file.is_none()),
            from,
            to,
            file,
            force,
            remove_source,
            lock,
            region,
        },
    };
    match command {
        StateCommand::Unlock { id, file, stack, state, region } => {
            let o = state_options(state.state, region, LockArgs::default(), color);
            crate::run::state_unlock_cmd(&id, file.as_deref(), stack.as_deref(), &o)
        }
        StateCommand::Show { file, stack, state, region } => {
            let o = state_options(state.state, region, LockArgs::default(), color);
            crate::run::state_show_cmd(file.as_deref(), stack.as_deref(), &o)
        }
        StateCommand::List { file, stack, json, state, region } => {
            let o = state_options(state.state, region, LockArgs::default(), color);
            crate::state_cmd::list_cmd(file.as_deref(), stack.as_deref(), json, &o)
        }
        StateCommand::Rm { logical, file, stack, auto_approve, state, lock, region } => {
            let o = crate::run::RunOptions { auto_approve, ..state_options(state.state, region, lock, color) };
            crate::state_cmd::rm_cmd(&logical, file.as_deref(), stack.as_deref(), &o)
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

/// Every environment variable of the command line: (variable, option,
/// commands that take it), in the order of the variable's name.
pub fn environment_variables() -> Vec<(String, String, Vec<String>)> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut found: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
    for (name, sub) in commands(&cmd) {
        for arg in sub.get_arguments() {
            if let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) {
                let key = (env.to_string_lossy().to_string(), format!("--{long}"));
                found.entry(key).or_default().push(name.clone());
            }
        }
    }
    found.into_iter().map(|((env, long), cmds)| (env, long, cmds)).collect()
}

/// Every command that runs (`apply`, `state unlock`), by its name; not the
/// groups of commands (`state`).
fn commands(cmd: &clap::Command) -> Vec<(String, &clap::Command)> {
    let mut out = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        if sub.has_subcommands() {
            for inner in sub.get_subcommands().filter(|s| s.get_name() != "help") {
                out.push((format!("{} {}", sub.get_name(), inner.get_name()), inner));
            }
        } else {
            out.push((sub.get_name().to_string(), sub));
        }
    }
    out
}

/// The table of [`environment_variables`] in README.md, between
/// `<!-- env:begin -->` and `<!-- env:end -->`.
pub fn environment_table() -> String {
    let mut cmd = Cli::command();
    cmd.build();
    let mut all: Vec<String> = commands(&cmd).into_iter().map(|(name, _)| name).collect();
    all.sort();
    let mut out = String::from("| Variable | Option | Commands |\n|---|---|---|\n");
    for (env, long, mut cmds) in environment_variables() {
        cmds.sort();
        let which = if cmds == all { "all".to_string() } else { cmds.join(", ") };
        out.push_str(&format!("| `{env}` | `{long}` | {which} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Options whose environment form is not one variable: `--var` is set
    /// by `MOOR_VAR_<name>`, one variable per stack variable.
    const NO_VARIABLE: &[&str] = &["var"];

    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            let long = arg.get_long().unwrap_or(id);
            if arg.is_positional() || matches!(id, "help" | "version") || NO_VARIABLE.contains(&long) {
                continue;
            }
            match arg.get_env() {
                None => missing.push(format!("{path} --{}", arg.get_long().unwrap_or(id))),
                Some(env) => {
                    let env = env.to_string_lossy();
                    assert!(env.starts_with("MOOR_"), "{path} --{id}: {env} is not a MOOR_ variable");
                }
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }

    #[test]
    fn every_option_of_every_command_has_an_environment_variable() {
        // Help shows a variable's value when it is set: no other test may set one meanwhile.
        let _guard = ENV_LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut cmd = Cli::command();
        cmd.build();
        let mut missing = Vec::new();
        walk(&cmd, "moor", &mut missing);
        assert!(missing.is_empty(), "options without a MOOR_ variable (`env = \"MOOR_…\"`): {missing:#?}");
        // The variables are shown in --help.
        let help = cmd.find_subcommand_mut("apply").unwrap().render_long_help().to_string();
        assert!(help.contains("[env: MOOR_AUTO_APPROVE"), "{help}");
    }

    /// Parses `args` with `vars` and no other of moor's variables set in
    /// the environment; the environment is put back afterwards (no other
    /// test reads these variables).
    fn parse_with(vars: &[(&str, &str)], args: &[&str]) -> Result<Cli, clap::Error> {
        let _guard = ENV_LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let ours: Vec<String> = environment_variables().into_iter().map(|(v, ..)| v).collect();
        let saved: Vec<(String, std::ffi::OsString)> =
            ours.iter().filter_map(|k| std::env::var_os(k).map(|v| (k.clone(), v))).collect();
        for k in &ours {
            std::env::remove_var(k);
        }
        for (k, v) in vars {
            std::env::set_var(k, v);
        }
        let parsed = Cli::try_parse_from(args);
        for (k, _) in vars {
            std::env::remove_var(k);
        }
        for (k, v) in saved {
            std::env::set_var(k, v);
        }
        parsed
    }

    static ENV_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn environment_variables_set_their_options() {
        let apply = |vars: &[(&str, &str)]| match parse_with(vars, &["moor", "apply", "s.yaml"]) {
            Ok(Cli { command: Command::Apply { run, auto_approve, json, .. }, color, .. }) => {
                (run, auto_approve, json, color)
            }
            other => panic!("{other:?}"),
        };
        let (run, auto, json, color) = apply(&[]);
        assert!(!auto && !json && !run.force && color == Color::Auto);
        assert_eq!((run.parallelism, run.max_requests, run.vars.region.clone()), (10, 64, None));
        let (run, auto, json, color) = apply(&[
            ("MOOR_AUTO_APPROVE", "true"),
            ("MOOR_JSON", "1"),
            ("MOOR_FORCE", "yes"),
            ("MOOR_PARALLELISM", "3"),
            ("MOOR_MAX_REQUESTS", "7"),
            ("MOOR_WAIT_TIMEOUT", "2m"),
            ("MOOR_REGION", "eu-west-3"),
            ("MOOR_COLOR", "never"),
            ("MOOR_STATE", "/tmp/st"),
        ]);
        assert!(auto && json && run.force && color == Color::Never);
        assert_eq!((run.parallelism, run.max_requests), (3, 7));
        assert_eq!(run.wait_timeout, std::time::Duration::from_secs(120));
        assert_eq!(run.vars.region.as_deref(), Some("eu-west-3"));
        assert_eq!(run.state.state.as_deref(), Some("/tmp/st"));
        // Switches read false from the environment too.
        for no in ["false", "0", "no", "off"] {
            let (run, auto, ..) = apply(&[("MOOR_AUTO_APPROVE", no), ("MOOR_FORCE", no)]);
            assert!(!auto && !run.force, "{no}");
        }
        // A value that is no boolean is refused, naming the option.
        let e = parse_with(&[("MOOR_FORCE", "maybe")], &["moor", "apply", "s.yaml"]).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        // The command line beats the environment.
        let (run, ..) =
            match parse_with(&[("MOOR_PARALLELISM", "3")], &["moor", "apply", "s.yaml", "--parallelism", "5"]) {
                Ok(Cli { command: Command::Apply { run, auto_approve, json, .. }, color, .. }) => {
                    (run, auto_approve, json, color)
                }
                other => panic!("{other:?}"),
            };
        assert_eq!(run.parallelism, 5);
    }

    #[test]
    fn plan_format_from_the_command_line_and_the_environment() {
        let format = |vars: &[(&str, &str)], args: &[&str]| match parse_with(vars, args) {
            Ok(Cli { command: Command::Plan { format, json, detailed_exitcode, .. }, .. }) => {
                (format.unwrap_or(if json { PlanFormat::Json } else { PlanFormat::Human }), detailed_exitcode)
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(format(&[], &["moor", "plan", "s.yaml"]), (PlanFormat::Human, false));
        assert_eq!(format(&[], &["moor", "plan", "s.yaml", "--json"]).0, PlanFormat::Json);
        assert_eq!(format(&[], &["moor", "plan", "s.yaml", "--format", "markdown"]).0, PlanFormat::Markdown);
        assert_eq!(format(&[("MOOR_PLAN_FORMAT", "markdown")], &["moor", "plan", "s.yaml"]).0, PlanFormat::Markdown);
        assert!(format(&[("MOOR_DETAILED_EXITCODE", "true")], &["moor", "plan", "s.yaml"]).1);
    }

    #[test]
    fn the_readme_lists_every_environment_variable() {
        let readme = include_str!("../README.md");
        let table = environment_table();
        let shown = readme
            .split_once("<!-- env:begin -->\n")
            .and_then(|(_, rest)| rest.split_once("<!-- env:end -->"))
            .map(|(t, _)| t);
        assert_eq!(
            shown,
            Some(table.as_str()),
            "README.md's table of MOOR_ variables (between <!-- env:begin --> and <!-- env:end -->) should be:\n{table}"
        );
    }
}
