//! What a provider says while it waits: the status of the resource it works
//! on ("load balancer provisioning", "deployment 1/2 tasks running, 0
//! failed") and the service events of the deployment it started.
//!
//! The engine runs each operation inside [`scope`] with a sink that knows
//! which resource the operation is about; a provider's waits call
//! [`status`] and [`event`] without knowing who listens. Outside a scope
//! (plan, import, tests of one call) both do nothing.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// One thing a wait says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// What the resource waits for now; replaces the status before.
    Status(String),
    /// A line AWS wrote about the resource (a service event), said once.
    Event(String),
}

/// Where the notes of one operation go.
pub type Sink = Arc<dyn Fn(Note) + Send + Sync>;

struct Scope {
    sink: Sink,
    /// Statuses said so far in this scope.
    said: Cell<u64>,
}

tokio::task_local! {
    static SCOPE: Scope;
}

/// Runs `fut` with its notes going to `sink`.
pub async fn scope<F: Future>(sink: Sink, fut: F) -> F::Output {
    SCOPE.scope(Scope { sink, said: Cell::new(0) }, fut).await
}

/// Says what the resource waits for now.
pub fn status(s: impl Into<String>) {
    let _ = SCOPE.try_with(|sc| {
        sc.said.set(sc.said.get() + 1);
        (sc.sink)(Note::Status(s.into()));
    });
}

/// Says a line AWS wrote about the resource (each once: the caller keeps
/// track of what it said).
pub fn event(s: impl Into<String>) {
    let _ = SCOPE.try_with(|sc| (sc.sink)(Note::Event(s.into())));
}

/// How many statuses were said in this scope so far: a wait that says
/// nothing more specific while it polls says what it waits for.
pub fn said() -> u64 {
    SCOPE.try_with(|sc| sc.said.get()).unwrap_or(0)
}

/// The live lines on the terminal, while there are any: other lines on
/// stderr are written above them rather than across them.
static LIVE: std::sync::Mutex<Option<indicatif::MultiProgress>> = std::sync::Mutex::new(None);

/// Where [`eprint_line`] writes: above these live lines (`None`: plainly).
pub fn set_live(bars: Option<indicatif::MultiProgress>) {
    *LIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = bars;
}

/// A line on stderr from outside the progress (a call without an answer,
/// a signal), kept clear of the live lines.
pub fn eprint_line(s: &str) {
    let live = LIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    match live {
        Some(bars) => bars.suspend(|| eprintln!("{s}")),
        None => eprintln!("{s}"),
    }
}

/// `s` on one line without control characters (AWS's text is shown as
/// it came, but never moves the cursor or colours the terminal).
pub fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// A duration for people: `45s`, `1m20s`, `12m05s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn notes_go_to_the_sink_of_their_scope_and_nowhere_outside_one() {
        status("nobody listens");
        assert_eq!(said(), 0);
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        let sink: Sink = Arc::new(move |n| g.lock().unwrap().push(n));
        scope(sink, async {
            status("load balancer provisioning");
            event("(service s-app) has started 1 tasks");
            assert_eq!(said(), 1);
        })
        .await;
        assert_eq!(
            *got.lock().unwrap(),
            vec![
                Note::Status("load balancer provisioning".into()),
                Note::Event("(service s-app) has started 1 tasks".into())
            ]
        );
    }

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(human(Duration::from_millis(999)), "0s");
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_secs(80)), "1m20s");
        assert_eq!(human(Duration::from_secs(725)), "12m05s");
    }
}
