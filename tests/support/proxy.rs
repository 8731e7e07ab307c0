//! `scripts/latency-proxy` in front of this test process's moto: counts the
//! requests per AWS operation and phase, and injects faults (throttling,
//! 500/503, connection resets, answers dropped after the change was made,
//! hung requests) per operation, as the script's own documentation says.
//!
//! Point a provider at it with [`super::provider_via`], the `moor` binary
//! with [`FaultProxy::moor`] (`AWS_ENDPOINT_URL` in the child's environment).

use serde_json::Value;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A running proxy; stopped on drop.
pub struct FaultProxy {
    child: Child,
    port: u16,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FaultProxy {
    /// A proxy without delay and without faults.
    pub fn start() -> FaultProxy {
        FaultProxy::start_with(["--delay-ms", "0"])
    }

    /// A proxy with these command-line arguments besides `--upstream`.
    pub fn start_with<I, S>(args: I) -> FaultProxy
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let moto = super::moto();
        let mut child = Command::new(root().join(".venv/bin/python"))
            .arg(root().join("scripts/latency-proxy"))
            .args(["--upstream", &moto.endpoint])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start scripts/latency-proxy");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line
            .strip_prefix("listening on ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the proxy printed {line:?}"));
        FaultProxy { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `moor` binary, with the proxy as its AWS endpoint.
    pub fn moor(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_moor"));
        c.env("AWS_ENDPOINT_URL", self.url()).env("NO_COLOR", "1");
        c
    }

    /// One request to the proxy's control endpoints: (status code, body).
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let code = answer.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (code, answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
    }

    /// [`FaultProxy::request`] that must succeed; the answer's body.
    pub fn control(&self, method: &str, path: &str, body: &str) -> String {
        let (code, answer) = self.request(method, path, body);
        assert_eq!(code, 200, "{method} {path}: {answer}");
        answer
    }

    /// The next `count` requests of `op` (`service:Operation` or `*`) get `action`.
    pub fn fault(&self, op: &str, action: &str, count: u64) {
        let spec = serde_json::json!({"op": op, "action": action, "count": count});
        self.control("POST", "/__proxy__/fault", &spec.to_string());
    }

    /// Each request of `op` gets `action` with probability `p`, until cleared.
    pub fn rate(&self, op: &str, action: &str, p: f64) {
        let spec = serde_json::json!({"op": op, "action": action, "rate": p});
        self.control("POST", "/__proxy__/fault", &spec.to_string());
    }

    /// Removes every fault (the fired counts stay).
    pub fn clear(&self) {
        self.control("POST", "/__proxy__/faults/clear", "");
    }

    /// How many times the fault `op action` fired (`op` as the fault named it).
    pub fn fired(&self, op: &str, action: &str) -> u64 {
        self.counts()["faults"][format!("{op} {action}")].as_u64().unwrap_or(0)
    }

    /// `{"phases": {phase: {op: n}}, "max_in_flight": n, "faults": {"OP ACTION": n}}`.
    pub fn counts(&self) -> Value {
        serde_json::from_str(&self.control("GET", "/__proxy__/counts", "")).unwrap()
    }

    /// `{operation: count}` of one phase.
    pub fn phase_counts(&self, phase: &str) -> serde_json::Map<String, Value> {
        self.counts()["phases"][phase].as_object().cloned().unwrap_or_default()
    }

    /// Later requests count under phase `name`.
    pub fn phase(&self, name: &str) {
        self.control("POST", &format!("/__proxy__/phase/{name}"), "");
    }

    /// Clears the counts and the fired counts.
    pub fn reset(&self) {
        self.control("POST", "/__proxy__/reset", "");
    }
}

/// The AWS behaviour model (`scripts/latency-proxy --aws-model`, figures in
/// `scripts/aws-timings`) in front of this test process's moto.
impl FaultProxy {
    /// A proxy playing AWS's timing at `scale` (0.05: one twentieth).
    pub fn aws_model(scale: f64) -> FaultProxy {
        FaultProxy::start_with(["--delay-ms", "0", "--aws-model", "--time-scale", &scale.to_string()])
    }

    /// `{"events": {what: n}, "waits": [{"what", "start", "end"}], "scale": x}`.
    pub fn model(&self) -> Value {
        serde_json::from_str(&self.control("GET", "/__proxy__/model", "")).unwrap()
    }

    /// How many times the model did `what` (an event name, e.g.
    /// `DependencyViolation ec2:DeleteSecurityGroup`).
    pub fn model_events(&self, what: &str) -> u64 {
        self.model()["events"][what].as_u64().unwrap_or(0)
    }

    /// Tasks of images containing `image` fail their health checks from now on.
    pub fn unhealthy(&self, image: &str) {
        self.control("POST", "/__proxy__/model/unhealthy", &serde_json::json!({"image": image}).to_string());
    }

    /// A token bucket for the operations `op` (a pattern) matches.
    pub fn bucket(&self, op: &str, capacity: f64, refill: f64) {
        let spec = serde_json::json!({"op": op, "capacity": capacity, "refill": refill});
        self.control("POST", "/__proxy__/model/bucket", &spec.to_string());
    }
}
