//! The AWS call trace (`--debug`, `MOOR_LOG=debug`, `-vv`): an interceptor
//! on every client that writes one line per call, and one per retry, on
//! stderr. See [`crate::trace`] for the levels.
//!
//! An interceptor rather than the SDK's own `tracing` events: its hooks run
//! in the task that made the call, so the call is attributed to the
//! resource [`crate::trace::about`] names; the SDK's operation metadata
//! names the call exactly (`ecs:CreateService`); and every attempt's
//! answer, the wait before a retry and the call's end are seen whatever the
//! SDK's log messages say. It reads only the operation's name, the answer's
//! status, and AWS's error code from an error answer: never a request's
//! headers or body, so no credentials, signatures, tokens or secret values.

use crate::trace::Level;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The interceptor; does nothing unless the trace is on.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallTrace;

/// One call in progress.
#[derive(Debug)]
struct Call {
    /// `ecs:CreateService [app]`.
    what: String,
    start: Instant,
    /// The last attempt's answer, and when it came.
    last: Option<(String, Instant)>,
    attempts: u32,
    done: bool,
}

impl Drop for Call {
    fn drop(&mut self) {
        // The caller stopped waiting (another call failed first, a signal).
        if !self.done {
            crate::trace::trace_line(&format!(
                "aws {} → abandoned after {}",
                self.what,
                duration(self.start.elapsed())
            ));
        }
    }
}

#[derive(Debug, Clone)]
struct Traced(Arc<Mutex<Call>>);

impl Storable for Traced {
    type Storer = StoreReplace<Self>;
}

impl Traced {
    fn with<T>(cfg: &ConfigBag, f: impl FnOnce(&mut Call) -> T) -> Option<T> {
        cfg.load::<Traced>().map(|t| f(&mut t.0.lock().unwrap_or_else(PoisonError::into_inner)))
    }
}

/// A duration in the trace: `12ms`, `1.52s`.
pub(crate) fn duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

/// AWS's error code in an error answer: the `x-amzn-errortype` or
/// `x-amzn-query-error` header, else `__type`/`code` in a JSON body, else
/// the first `<Code>` of an XML body. Only characters an error code has.
fn error_code(r: &HttpResponse) -> Option<String> {
    let header = ["x-amzn-errortype", "x-amzn-query-error"]
        .iter()
        .find_map(|h| r.headers().get(*h))
        .map(|v| v.split([':', ';']).next().unwrap_or_default().to_string());
    let body = || {
        let text = std::str::from_utf8(r.body().bytes()?).ok()?;
        if let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(text) {
            let t = ["__type", "code", "Code"].iter().find_map(|k| o.get(*k)?.as_str())?;
            return Some(t.rsplit('#').next().unwrap_or(t).to_string());
        }
        let start = text.find("<Code>")? + "<Code>".len();
        let len = text[start..].find("</Code>")?;
        Some(text[start..start + len].to_string())
    };
    let code = header.filter(|h| !h.is_empty()).or_else(body)?;
    let clean: String =
        code.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')).take(80).collect();
    (!clean.is_empty()).then_some(clean)
}

/// The innermost cause of an error, on one short line.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut e = e;
    while let Some(inner) = e.source() {
        e = inner;
    }
    let s = crate::progress::one_line(&e.to_string());
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(119).collect::<String>())
    } else {
        s
    }
}

/// What an attempt got: `200`, `400 ThrottlingException`, `no answer (…)`.
fn answer(ctx: &FinalizerInterceptorContextRef<'_>) -> String {
    if let Some(r) = ctx.response() {
        let status = r.status().as_u16();
        return match error_code(r).filter(|_| status >= 300) {
            Some(code) => format!("{status} {code}"),
            None => status.to_string(),
        };
    }
    match ctx.output_or_error() {
        Some(Err(e)) if e.is_timeout_error() => "no answer (timed out)".to_string(),
        Some(Err(e)) => match e.as_connector_error() {
            Some(c) if c.is_timeout() => "no answer (timed out)".to_string(),
            Some(c) => format!("no answer ({})", root_cause(c)),
            None => format!("failed ({})", root_cause(e)),
        },
        _ => "no answer".to_string(),
    }
}

/// `service:Operation`, and the resource it is for when one was named.
fn what(m: &Metadata) -> String {
    let op = super::operation_name(m);
    match crate::trace::resource() {
        Some(r) => format!("{op} [{r}]"),
        None => op,
    }
}

impl Intercept for CallTrace {
    fn name(&self) -> &'static str {
        "moor-call-trace"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if crate::trace::aws_level() < Level::Debug {
            return Ok(());
        }
        if let Some(m) = cfg.load::<Metadata>() {
            let call = Call { what: what(m), start: Instant::now(), last: None, attempts: 0, done: false };
            cfg.interceptor_state().store_put(Traced(Arc::new(Mutex::new(call))));
        }
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let attempt = cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts());
        Traced::with(cfg, |c| {
            c.attempts = attempt;
            if let (true, Some((why, at))) = (attempt > 1, &c.last) {
                crate::trace::trace_line(&format!(
                    "aws {} ↻ attempt {attempt} after {why}, waited {}",
                    c.what,
                    duration(at.elapsed())
                ));
            }
        });
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if crate::trace::aws_level() < Level::Trace {
            return Ok(());
        }
        // The method, the host and the path only: no query (a presigned
        // URL's signature), no headers, no body (its length only).
        let r = context.request();
        let uri = r.uri();
        let (host, path) = match uri.split_once("://").map(|(_, rest)| rest) {
            Some(rest) => rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}"))),
            None => ("", uri.to_string()),
        };
        let path = path.split('?').next().unwrap_or_default().to_string();
        let len = r.body().bytes().map(<[u8]>::len);
        Traced::with(cfg, |c| {
            let size = len.map_or("a streamed body".to_string(), |n| format!("{n} bytes"));
            crate::trace::trace_line(&format!(
                "aws {} attempt {}: {} {host}{path}, {size}",
                c.what,
                c.attempts,
                r.method()
            ));
        });
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Traced>().is_some() {
            let got = answer(context);
            Traced::with(cfg, |c| c.last = Some((got, Instant::now())));
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Traced>().is_none() {
            return Ok(());
        }
        let fallback = answer(context);
        Traced::with(cfg, |c| {
            c.done = true;
            // The last attempt's answer; the call's own error when it
            // ended before any attempt was answered (its deadline).
            let got = match (&c.last, context.response()) {
                (Some((got, _)), Some(_)) => got.clone(),
                _ => fallback,
            };
            let attempts = if c.attempts > 1 { format!(", {} attempts", c.attempts) } else { String::new() };
            crate::trace::trace_line(&format!("aws {} → {got} in {}{attempts}", c.what, duration(c.start.elapsed())));
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::body::SdkBody;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        let mut r = HttpResponse::new(status.try_into().unwrap(), SdkBody::from(body.to_string()));
        for (k, v) in headers {
            r.headers_mut().insert(k.to_string(), v.to_string());
        }
        r
    }

    #[test]
    fn error_codes_are_read_from_each_protocols_answer() {
        let json = response(400, &[], r#"{"__type":"com.amazonaws.ecs#ClientException","message":"no"}"#);
        assert_eq!(error_code(&json).as_deref(), Some("ClientException"));
        let header = response(400, &[("x-amzn-errortype", "ThrottlingException:http://internal.amazon.com/")], "");
        assert_eq!(error_code(&header).as_deref(), Some("ThrottlingException"));
        let query = response(
            404,
            &[],
            "<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>x</Message></Error></ErrorResponse>",
        );
        assert_eq!(error_code(&query).as_deref(), Some("NoSuchEntity"));
        let ec2 = response(
            503,
            &[],
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code></Error></Errors></Response>",
        );
        assert_eq!(error_code(&ec2).as_deref(), Some("RequestLimitExceeded"));
        // Nothing but an error code's characters, whatever the answer holds.
        let odd = response(400, &[], "<Code>\u{1b}[31mBad Code\n</Code>");
        assert_eq!(error_code(&odd).as_deref(), Some("31mBadCode"));
        assert_eq!(error_code(&response(500, &[], "Internal Server Error")), None);
    }

    #[test]
    fn durations_read_in_milliseconds_below_a_second() {
        assert_eq!(duration(Duration::from_micros(12_345)), "12ms");
        assert_eq!(duration(Duration::from_millis(1520)), "1.52s");
    }
}
