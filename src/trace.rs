//! How much moor says on stderr, and the trace of its AWS calls.
//!
//! One scheme for every command (set once, by [`configure`], from `-q`,
//! `-v`, `--debug` and `MOOR_LOG`):
//!
//! - `-q`: errors, warnings and the command's product only (a plan is a
//!   product, wherever it is printed); no progress, notices or summaries
//!   of what was saved.
//! - default: the plan, a line per change applied, notices.
//! - `-v`: also a line per resource a plan reads (found or not).
//! - `-vv`, `--debug`, `MOOR_LOG=debug`: also a line per AWS call.
//! - `-vvv`, `MOOR_LOG=trace`: also a line per attempt of each call.
//!
//! The call trace names the call (`service:Operation`), the resource moor
//! was working on (set by [`about`] around each provider operation), the
//! answer (HTTP status and AWS's error code, or why there was none), the
//! duration, and each retry with the reason. It never shows a request's
//! headers or body: no credentials, signatures, tokens or secret values.

use std::future::Future;
use std::sync::atomic::{AtomicI8, AtomicU8, Ordering};

/// How much detail: -1 quiet, 0 default, 1 and more for each `-v`.
static VERBOSITY: AtomicI8 = AtomicI8::new(0);
/// The level of the AWS call trace.
static AWS: AtomicU8 = AtomicU8::new(Level::Off as u8);

/// Levels of `MOOR_LOG`, as other tools name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Off = 0,
    Error = 1,
    Warn = 2,
    Info = 3,
    /// A line per AWS call.
    Debug = 4,
    /// Also a line per attempt.
    Trace = 5,
}

impl Level {
    fn parse(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "off" | "none" => Level::Off,
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return None,
        })
    }

    fn of(n: u8) -> Level {
        [Level::Off, Level::Error, Level::Warn, Level::Info, Level::Debug, Level::Trace][usize::from(n.min(5))]
    }
}

/// The level of the AWS call trace a `MOOR_LOG` filter asks for: a level
/// (`debug`), or comma-separated `target=level` and levels (`aws=debug`);
/// the only target is `aws`, and the last directive wins.
pub fn parse_filter(filter: &str) -> Result<Level, String> {
    let mut level = Level::Off;
    for d in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let (target, l) = d.split_once('=').map_or((None, d), |(t, l)| (Some(t.trim()), l));
        if let Some(t) = target.filter(|t| !t.eq_ignore_ascii_case("aws")) {
            return Err(format!("`{t}` in `{filter}` is not a target of moor's log: the only one is `aws`"));
        }
        level = Level::parse(l).ok_or_else(|| {
            format!("`{}` in `{filter}` is not a level: off, error, warn, info, debug or trace", l.trim())
        })?;
    }
    Ok(level)
}

/// Sets what moor says for the rest of the run: `verbose` counts `-v`;
/// `debug` is `--debug`; `log` is `MOOR_LOG`'s filter. The most detailed
/// of `-v`, `--debug` and the filter sets the call trace; `-q` does not
/// silence a trace asked for.
pub fn configure(quiet: bool, verbose: u8, debug: bool, log: Option<&str>) -> Result<(), String> {
    let from_log = log.map(parse_filter).transpose()?.unwrap_or(Level::Off);
    let from_v = match verbose {
        0 | 1 => Level::Off,
        2 => Level::Debug,
        _ => Level::Trace,
    };
    let from_debug = if debug { Level::Debug } else { Level::Off };
    let level = from_log.max(from_v).max(from_debug);
    let v = if quiet { -1 } else { i8::try_from(verbose).unwrap_or(i8::MAX) };
    VERBOSITY.store(v, Ordering::Relaxed);
    AWS.store(level as u8, Ordering::Relaxed);
    Ok(())
}

/// `-q`: only errors, warnings and the command's product.
pub fn quiet() -> bool {
    VERBOSITY.load(Ordering::Relaxed) < 0
}

/// How many `-v` (0 with `-q`).
pub fn verbose() -> u8 {
    u8::try_from(VERBOSITY.load(Ordering::Relaxed)).unwrap_or(0)
}

/// The level of the AWS call trace.
pub fn aws_level() -> Level {
    Level::of(AWS.load(Ordering::Relaxed))
}

/// Writes a notice (a line that is not an error, a warning or the
/// command's product) on stderr, unless `-q`.
pub fn notice(s: &str) {
    if !quiet() {
        crate::progress::eprint_line(s);
    }
}

/// Writes a detail line on stderr with `-v`.
pub fn detail(s: &str) {
    if verbose() >= 1 {
        crate::progress::eprint_line(s);
    }
}

/// Writes a line of the AWS call trace on stderr.
pub(crate) fn trace_line(s: &str) {
    crate::progress::eprint_line(s);
}

tokio::task_local! {
    static ABOUT: String;
}

/// Runs `fut` with the AWS calls it makes attributed to `what` (a
/// resource's logical name, the resources of a batched read).
pub async fn about<F: Future>(what: impl Into<String>, fut: F) -> F::Output {
    ABOUT.scope(what.into(), fut).await
}

/// What the current task's calls are for, if anything was said.
pub fn resource() -> Option<String> {
    ABOUT.try_with(Clone::clone).ok()
}

/// A list of names as a short label: `a, b, c +2`.
pub fn names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    const SHOWN: usize = 3;
    let all: Vec<&str> = names.into_iter().collect();
    let mut s = all.iter().take(SHOWN).copied().collect::<Vec<_>>().join(", ");
    if all.len() > SHOWN {
        s.push_str(&format!(" +{}", all.len() - SHOWN));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filters_read_as_levels_and_refuse_what_they_do_not_know() {
        assert_eq!(parse_filter("debug"), Ok(Level::Debug));
        assert_eq!(parse_filter("aws=trace"), Ok(Level::Trace));
        assert_eq!(parse_filter(" AWS = Debug "), Ok(Level::Debug));
        assert_eq!(parse_filter("info,aws=debug"), Ok(Level::Debug));
        assert_eq!(parse_filter("aws=debug,off"), Ok(Level::Off));
        assert_eq!(parse_filter(""), Ok(Level::Off));
        let e = parse_filter("hyper=debug").unwrap_err();
        assert!(e.contains("`hyper`") && e.contains("`aws`"), "{e}");
        let e = parse_filter("aws=loud").unwrap_err();
        assert!(e.contains("`loud`") && e.contains("trace"), "{e}");
    }

    #[test]
    fn labels_of_many_names_stay_short() {
        assert_eq!(names(["a"]), "a");
        assert_eq!(names(["a", "b", "c"]), "a, b, c");
        assert_eq!(names(["a", "b", "c", "d", "e"]), "a, b, c +2");
    }

    #[tokio::test]
    async fn calls_are_attributed_to_the_innermost_resource_of_their_task() {
        assert_eq!(resource(), None);
        about("app", async {
            assert_eq!(resource().as_deref(), Some("app"));
            about("repo", async { assert_eq!(resource().as_deref(), Some("repo")) }).await;
            assert_eq!(resource().as_deref(), Some("app"));
        })
        .await;
    }
}
