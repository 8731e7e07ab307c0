//! The event stream of `moor apply --json` and `moor destroy --json`: one
//! JSON object per line on stdout, documented in docs/json-plan.md.
//!
//! First a `plan` event (the JSON plan of [`crate::jsonplan`]), then one
//! event per step of the engine as it happens (`started` or `waiting`, then
//! `done` or `failed`; `skipped` for what a failure stopped), and last a
//! `summary`. The events come from the engine's [`Reporter`]: [`JsonEvents`]
//! writes them and passes each call on to the human progress on stderr.
//!
//! Like the JSON plan, the format is stable: a field or an event type may
//! be added, but none is renamed, removed or given another meaning without
//! raising [`EVENTS_VERSION`].

use crate::apply::{Reporter, Step, Summary};
use crate::jsonplan::JsonPlan;
use crate::model::Kind;
use crate::provider::ProviderError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Raised when the event stream stops being compatible with what it was.
pub const EVENTS_VERSION: u32 = 1;

/// One line of the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The first event: what apply is about to do.
    Plan { events_version: u32, plan: JsonPlan },
    /// A step began.
    Started(StepEvent),
    /// A step began that only waits for a resource to settle (a service's
    /// deployment), or a running step says what it waits for now (`message`:
    /// "load balancer provisioning"), once each time that changes.
    Waiting(StepEvent),
    /// A step succeeded.
    Done(StepEvent),
    /// A step failed; `error` says which call and what AWS answered.
    Failed(StepEvent),
    /// A step that did not run because one it depends on failed.
    Skipped(StepEvent),
    /// A line AWS wrote about the resource while a step ran (a service
    /// event of the deployment moor started), each once, as it arrived.
    ServiceEvent(ServiceEvent),
    /// The last event, when apply ran.
    Summary(SummaryEvent),
}

/// A step of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepEvent {
    /// The logical name in the file (or in the state record).
    pub resource: String,
    /// The kind, as the file writes it: `ecr/repository`.
    pub kind: String,
    /// `keep`, `read`, `create`, `update`, `create_replacement`,
    /// `delete_old`, `delete` or `wait`.
    pub step: String,
    /// Milliseconds since the step started (0 for `started`, `skipped`
    /// and the `waiting` a wait step begins with).
    pub elapsed_ms: u64,
    /// A line for people: what was done, or why the step was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `failed` only: the call that failed and AWS's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
}

/// A line AWS wrote about a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceEvent {
    /// The logical name in the file (or in the state record).
    pub resource: String,
    /// The kind, as the file writes it: `ecs/service`.
    pub kind: String,
    /// The step that was running: `create`, `update`, `wait`, ….
    pub step: String,
    /// When moor received the line, UTC: `2026-01-31T12:00:00Z`.
    pub at: String,
    /// Milliseconds since the step started.
    pub elapsed_ms: u64,
    /// AWS's text, on one line: `(service web) has started 2 tasks: (task 1f2e…).`
    pub message: String,
}

/// What failed: the AWS operation, AWS's error code, its message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepError {
    /// The AWS operation, like `ecs:CreateService` (or `moor:…` for moor's own checks).
    pub operation: String,
    /// AWS's error code, like `ClusterNotFoundException`, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub message: String,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryEvent {
    /// Everything succeeded: nothing failed, was skipped or interrupted.
    pub ok: bool,
    /// A signal stopped the run; what was not started is in `skipped`.
    pub interrupted: bool,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub replaced: Vec<String>,
    pub deleted: Vec<String>,
    pub failed: Vec<FailedStep>,
    pub skipped: Vec<SkippedStep>,
    /// The state record could not be written (the run stopped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_error: Option<String>,
    /// The stack's outputs as recorded (empty for a destroy).
    pub outputs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedStep {
    pub resource: String,
    pub kind: String,
    pub step: String,
    pub error: StepError,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedStep {
    pub resource: String,
    pub reason: String,
}

fn step_name(step: Step) -> String {
    match serde_json::to_value(step) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{step:?}"),
    }
}

fn step_error(e: &ProviderError) -> StepError {
    StepError { operation: e.operation.clone(), code: e.code.clone(), message: e.message.clone() }
}

impl SummaryEvent {
    pub fn new(s: &Summary, outputs: BTreeMap<String, String>) -> SummaryEvent {
        SummaryEvent {
            ok: s.ok(),
            interrupted: s.interrupted,
            created: s.created.clone(),
            updated: s.updated.clone(),
            replaced: s.replaced.clone(),
            deleted: s.deleted.clone(),
            failed: s
                .failed
                .iter()
                .map(|f| FailedStep {
                    resource: f.resource.clone(),
                    kind: f.kind.as_str().to_string(),
                    step: step_name(f.step),
                    error: step_error(&f.error),
                })
                .collect(),
            skipped: s
                .skipped
                .iter()
                .map(|(r, why)| SkippedStep { resource: r.clone(), reason: why.clone() })
                .collect(),
            state_error: s.state_error.clone(),
            outputs,
        }
    }
}

/// `event` as one line of JSON.
pub fn line(event: &Event) -> String {
    // Cannot fail: every member is a string, a number, a map of strings or a JSON value.
    let mut line = serde_json::to_string(event).expect("an event is serializable");
    line.push('\n');
    line
}

/// Writes an event, one line, to stdout. A reader that went away (`| head`)
/// stops nothing.
pub fn emit(event: &Event) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line(event).as_bytes()).and_then(|_| out.flush());
}

/// Where [`JsonEvents`] writes its lines.
pub type Sink = Box<dyn Write + Send>;

/// The engine's reporter that streams [`Event`]s and passes every call on
/// to `inner` (the progress on stderr).
pub struct JsonEvents<'a> {
    pub inner: &'a dyn Reporter,
    started: Mutex<HashMap<(String, String), Instant>>,
    /// The status each running step said last.
    said: Mutex<HashMap<(String, String), String>>,
    /// The lines go here whole, one at a time, flushed each.
    sink: Mutex<Sink>,
}

impl<'a> JsonEvents<'a> {
    /// Events on stdout.
    pub fn new(inner: &'a dyn Reporter) -> Self {
        Self::to(inner, Box::new(std::io::stdout()))
    }

    /// Events written to `sink`.
    pub fn to(inner: &'a dyn Reporter, sink: Sink) -> Self {
        JsonEvents {
            inner,
            started: Mutex::new(HashMap::new()),
            said: Mutex::new(HashMap::new()),
            sink: Mutex::new(sink),
        }
    }

    fn emit(&self, event: &Event) {
        let mut sink = self.sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // A reader that went away stops nothing.
        let _ = sink.write_all(line(event).as_bytes()).and_then(|_| sink.flush());
    }

    fn since(&self, resource: &str, step: Step) -> u64 {
        let started = self.started.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        started.get(&(resource.to_string(), step_name(step))).map_or(0, |t| t.elapsed().as_millis() as u64)
    }
}

fn step_event(resource: &str, kind: Kind, step: Step, elapsed_ms: u64) -> StepEvent {
    StepEvent {
        resource: resource.to_string(),
        kind: kind.as_str().to_string(),
        step: step_name(step),
        elapsed_ms,
        message: None,
        error: None,
    }
}

impl Reporter for JsonEvents<'_> {
    fn started(&self, resource: &str, kind: Kind, step: Step) {
        self.started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((resource.to_string(), step_name(step)), Instant::now());
        let e = step_event(resource, kind, step, 0);
        self.emit(&if step == Step::Wait { Event::Waiting(e) } else { Event::Started(e) });
        self.inner.started(resource, kind, step);
    }

    fn finished(&self, resource: &str, kind: Kind, step: Step, elapsed: Duration) {
        let mut e = step_event(resource, kind, step, elapsed.as_millis() as u64);
        e.message = Some(format!("{} {resource}", step.verb()));
        self.emit(&Event::Done(e));
        self.inner.finished(resource, kind, step, elapsed);
    }

    fn failed(&self, resource: &str, kind: Kind, step: Step, error: &ProviderError) {
        let mut e = step_event(resource, kind, step, self.since(resource, step));
        e.message = Some(error.to_string());
        e.error = Some(step_error(error));
        self.emit(&Event::Failed(e));
        self.inner.failed(resource, kind, step, error);
    }

    fn skipped_step(&self, resource: &str, kind: Kind, step: Step, because: &str) {
        let mut e = step_event(resource, kind, step, 0);
        e.message = Some(because.to_string());
        self.emit(&Event::Skipped(e));
        self.inner.skipped_step(resource, kind, step, because);
    }

    fn skipped(&self, resource: &str, because: &str) {
        self.inner.skipped(resource, because);
    }

    fn waiting(&self, resource: &str, kind: Kind, step: Step, status: &str) {
        let key = (resource.to_string(), step_name(step));
        let status = crate::progress::one_line(status);
        let changed = {
            let mut said = self.said.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            said.insert(key, status.clone()).as_deref() != Some(status.as_str())
        };
        if changed {
            let mut e = step_event(resource, kind, step, self.since(resource, step));
            e.message = Some(status.clone());
            self.emit(&Event::Waiting(e));
        }
        self.inner.waiting(resource, kind, step, &status);
    }

    fn event(&self, resource: &str, kind: Kind, step: Step, line: &str) {
        self.emit(&Event::ServiceEvent(ServiceEvent {
            resource: resource.to_string(),
            kind: kind.as_str().to_string(),
            step: step_name(step),
            at: crate::planfile::now_utc(),
            elapsed_ms: self.since(resource, step),
            message: crate::progress::one_line(line),
        }));
        self.inner.event(resource, kind, step, line);
    }

    fn tick(&self) {
        self.inner.tick();
    }
}
