//! Where the state record and its lock live: a local directory (the
//! default, `.moor`) or an S3 bucket, for runners that keep no files and
//! may run at the same moment (see docs/state.md).
//!
//! Guarantees of the S3 backend:
//! - The lock is an object made with a conditional write (`If-None-Match:
//!   *`): of runs that try at once, exactly one makes it. Its holder
//!   refreshes it (a write with `If-Match` on its own ETag) while it runs;
//!   a lock not refreshed for longer than the staleness is taken over with
//!   a warning naming the old holder, by a write with `If-Match` on the
//!   stale lock's ETag, so of two runs taking over at once only one wins.
//!   A holder whose refresh is refused learns that its lock was taken and
//!   starts nothing new.
//! - The record is written with `If-Match` on the ETag this run last read
//!   or wrote (`If-None-Match: *` when there was none): two writers never
//!   silently overwrite each other. A write of an unchanged record is not
//!   sent.
//! - The record's content is never printed in an error.

use crate::state::{LocalBackend, State, StateError};
use aws_sdk_s3::primitives::ByteStream;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the record is, as the user gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3 { bucket: String, key: KeyRule, region: Option<String> },
}

/// How the record's key is made from the stack's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRule {
    /// `<prefix>/<stack>.state.json` (`s3://bucket/prefix`).
    Prefix(String),
    /// This key, whatever the stack (the stack file's `state: {s3: {key}}`).
    Fixed(String),
}

impl Location {
    /// `s3://bucket/prefix` (the prefix may be empty), or a directory.
    pub fn parse(text: &str) -> Result<Location, String> {
        let Some(rest) = text.strip_prefix("s3://") else {
            if text.trim().is_empty() {
                return Err("the state location is empty: give a directory or s3://bucket/prefix".into());
            }
            return Ok(Location::Local(PathBuf::from(text)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if !bucket_name_is_valid(bucket) {
            return Err(format!(
                "`{}` is not an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens): give s3://bucket/prefix",
                crate::text::abbreviate(bucket)
            ));
        }
        Ok(Location::S3 {
            bucket: bucket.to_string(),
            key: KeyRule::Prefix(prefix.trim_matches('/').to_string()),
            region: None,
        })
    }

    /// The record's place for `stack`, to show.
    pub fn record(&self, stack: &str) -> String {
        match self {
            Location::Local(dir) => dir.join(format!("{stack}.state.json")).display().to_string(),
            Location::S3 { bucket, key, .. } => format!("s3://{bucket}/{}", record_key(key, stack)),
        }
    }
}

pub fn bucket_name_is_valid(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

pub(crate) fn record_key(rule: &KeyRule, stack: &str) -> String {
    match rule {
        KeyRule::Prefix(p) if p.is_empty() => format!("{stack}.state.json"),
        KeyRule::Prefix(p) => format!("{p}/{stack}.state.json"),
        KeyRule::Fixed(k) => k.clone(),
    }
}

/// How a run takes a lock.
#[derive(Debug, Clone, Copy)]
pub struct LockOptions {
    /// How long to wait for a lock another run holds (0: fail at once).
    pub timeout: Duration,
    /// A remote lock not refreshed for longer than this is taken over.
    pub stale_after: Duration,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions { timeout: Duration::ZERO, stale_after: Duration::from_secs(15 * 60) }
    }
}

/// A state backend.
pub enum Backend {
    Local(LocalBackend),
    S3(S3Backend),
}

impl Backend {
    /// The backend of `location`. `region` is used for S3 when the location
    /// names none; else the environment's.
    pub async fn open(location: &Location, region: Option<&str>) -> Result<Backend, StateError> {
        match location {
            Location::Local(dir) => Ok(Backend::Local(LocalBackend::new(dir))),
            Location::S3 { bucket, key, region: own } => {
                let region = own.clone().or_else(|| region.map(str::to_string));
                Ok(Backend::S3(S3Backend::connect(bucket, key.clone(), region).await?))
            }
        }
    }

    /// The record's place for `stack`, to show.
    pub fn record(&self, stack: &str) -> String {
        match self {
            Backend::Local(b) => b.path(stack).display().to_string(),
            Backend::S3(b) => b.url(&b.record_key(stack)),
        }
    }

    pub async fn load(&self, stack: &str) -> Result<Option<State>, StateError> {
        match self {
            Backend::Local(b) => b.load(stack),
            Backend::S3(b) => crate::trace::about("state", b.load(stack)).await,
        }
    }

    pub async fn save(&self, state: &State) -> Result<(), StateError> {
        match self {
            Backend::Local(b) => b.save(state),
            Backend::S3(b) => crate::trace::about("state", b.save(state)).await,
        }
    }

    /// Sets an unreadable record aside; where it went.
    pub async fn quarantine(&self, stack: &str) -> Option<String> {
        match self {
            Backend::Local(b) => b.quarantine(stack).map(|p| p.display().to_string()),
            Backend::S3(b) => crate::trace::about("state", b.quarantine(stack)).await,
        }
    }

    /// Deletes the record (`state migrate --remove-source`).
    pub async fn remove(&self, stack: &str) -> Result<(), StateError> {
        match self {
            Backend::Local(b) => {
                let path = b.path(stack);
                std::fs::remove_file(&path).map_err(|source| StateError::Io { path, source })
            }
            Backend::S3(b) => crate::trace::about("state", b.remove(stack)).await,
        }
    }

    /// Takes the stack's lock, waiting up to `opts.timeout` for another
    /// run's. `warn` is told of a takeover before it happens. Also says
    /// whether the lock was free at the first try (then a record read at
    /// the same moment is the latest).
    pub async fn lock(
        &self,
        stack: &str,
        opts: LockOptions,
        warn: &(dyn Fn(String) + Sync),
    ) -> Result<(Held, bool), StateError> {
        let deadline = tokio::time::Instant::now() + opts.timeout;
        let mut backoff = Duration::from_millis(200);
        let mut first = true;
        loop {
            let refused = match self {
                Backend::Local(b) => match b.lock(stack) {
                    Ok((lock, warning)) => {
                        let at_once = first && warning.is_none();
                        if let Some(w) = warning {
                            warn(w);
                        }
                        return Ok((Held::Local(lock), at_once));
                    }
                    Err(e @ StateError::Locked { .. }) => e,
                    Err(e) => return Err(e),
                },
                Backend::S3(b) => match crate::trace::about("state lock", b.try_lock(stack, opts, warn)).await? {
                    Ok((lock, at_once)) => return Ok((Held::S3(lock), first && at_once)),
                    Err(refused) => refused,
                },
            };
            first = false;
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(refused);
            }
            let nap = backoff.min(deadline - now);
            tokio::select! {
                () = tokio::time::sleep(nap) => {}
                () = crate::interrupt::signalled() => return Err(StateError::Interrupted { stack: stack.to_string() }),
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Removes the stack's lock when its id is `id`; who held it.
    pub async fn unlock(&self, stack: &str, id: &str) -> Result<String, StateError> {
        match self {
            Backend::Local(b) => b.unlock(stack, id),
            Backend::S3(b) => crate::trace::about("state lock", b.unlock(stack, id)).await,
        }
    }
}

#[async_trait::async_trait]
impl crate::apply::StateStore for Backend {
    async fn save(&self, state: &State) -> Result<(), StateError> {
        Backend::save(self, state).await
    }
}

/// A lock held by this run.
pub enum Held {
    Local(crate::state::Lock),
    S3(S3Lock),
}

impl Held {
    /// Releases the lock (an S3 lock is deleted only while it is still this
    /// run's).
    pub async fn release(self) {
        match self {
            Held::Local(l) => drop(l),
            Held::S3(l) => crate::trace::about("state lock", l.release()).await,
        }
    }

    /// Resolves when the lock was taken from this run (never for a local
    /// lock: the OS keeps it).
    pub async fn lost(&self) {
        match self {
            Held::Local(_) => std::future::pending().await,
            Held::S3(l) => {
                let lost = l.lost.clone();
                while !lost.0.load(Ordering::SeqCst) {
                    lost.1.notified().await;
                }
            }
        }
    }

    pub fn id(&self) -> Option<&str> {
        match self {
            Held::Local(_) => None,
            Held::S3(l) => Some(&l.id),
        }
    }
}

/// What a remote lock object holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LockInfo {
    pub id: String,
    /// `user@host`.
    pub who: String,
    pub pid: u32,
    /// When it was taken (RFC 3339).
    pub since: String,
    pub command: String,
    /// How many times its holder refreshed it: every refresh writes a new
    /// body, so its ETag changes, and a takeover based on what was read
    /// before a refresh is refused.
    #[serde(default)]
    pub refreshes: u64,
}

impl LockInfo {
    fn new() -> LockInfo {
        let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
        LockInfo {
            id: crate::state::lock_id(),
            who: format!("{user}@{}", crate::state::hostname()),
            pid: std::process::id(),
            since: rfc3339(crate::state::unix_now()),
            command: crate::state::command_line(),
            refreshes: 0,
        }
    }

    fn holder(&self) -> String {
        format!("{} (pid {}) since {}: {}", self.who, self.pid, self.since, self.command)
    }
}

fn rfc3339(secs: u64) -> String {
    aws_smithy_types::DateTime::from_secs(secs as i64)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// `3m12s`, `2h5m`, `40s`.
pub fn age_text(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The record as this run last read or wrote it.
#[derive(Clone)]
struct Seen {
    etag: Option<String>,
    state: Option<State>,
}

/// The S3 backend: one bucket, the record's key made by a [`KeyRule`].
pub struct S3Backend {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: KeyRule,
    seen: Mutex<HashMap<String, Seen>>,
}

/// How a conditional write ended.
enum Put {
    Done(Option<String>),
    /// 412: the condition did not hold.
    Refused,
    /// 404 for `If-Match` (the object is gone) or 409 (a concurrent
    /// conditional write won): try again from the start.
    Again,
}

impl S3Backend {
    /// A client for `bucket`, with moor's retries and timeouts; path-style
    /// addressing with a custom endpoint (`AWS_ENDPOINT_URL`, an emulator).
    pub async fn connect(bucket: &str, key: KeyRule, region: Option<String>) -> Result<S3Backend, StateError> {
        let config = crate::provider::aws::AwsProvider::config_loader(region).load().await;
        if config.region().is_none() {
            return Err(StateError::Remote {
                location: format!("s3://{bucket}"),
                call: "connect",
                message: "no AWS region for the state bucket: set `region` under `state: {s3: …}`, pass --region, or set AWS_REGION".into(),
            });
        }
        let mut b = aws_sdk_s3::config::Builder::from(&config).interceptor(crate::provider::aws::CallTrace);
        if config.endpoint_url().is_some() {
            b = b.force_path_style(true);
        }
        Ok(S3Backend::from_client(aws_sdk_s3::Client::from_conf(b.build()), bucket, key))
    }

    pub fn from_client(client: aws_sdk_s3::Client, bucket: &str, key: KeyRule) -> S3Backend {
        S3Backend { client, bucket: bucket.to_string(), key, seen: Mutex::new(HashMap::new()) }
    }

    pub fn record_key(&self, stack: &str) -> String {
        record_key(&self.key, stack)
    }

    fn lock_key(&self, stack: &str) -> String {
        format!("{}.lock", self.record_key(stack))
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn remote(&self, key: &str, call: &'static str, e: impl std::error::Error) -> StateError {
        StateError::Remote {
            location: self.url(key),
            call,
            message: aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
        }
    }

    /// A failed S3 call, as AWS's code and message.
    fn failed<E>(
        &self,
        key: &str,
        call: &'static str,
        e: aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
    ) -> StateError
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        StateError::Remote { location: self.url(key), call, message: sdk_text(e) }
    }

    fn seen(&self, stack: &str) -> Seen {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(stack)
            .cloned()
            .unwrap_or(Seen { etag: None, state: None })
    }

    fn set_seen(&self, stack: &str, seen: Seen) {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(stack.to_string(), seen);
    }

    /// The object's bytes, ETag and last-modified time; `None` when absent.
    async fn get(
        &self,
        key: &str,
    ) -> Result<Option<(Vec<u8>, Option<String>, Option<aws_smithy_types::DateTime>)>, StateError> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(o) => {
                let etag = o.e_tag().map(str::to_string);
                let modified = o.last_modified().copied();
                let body = o.body.collect().await.map_err(|e| self.remote(key, "GetObject", e))?;
                Ok(Some((body.into_bytes().to_vec(), etag, modified)))
            }
            Err(e) if status(&e) == Some(404) && !no_bucket(&e) => Ok(None),
            Err(e) => Err(self.failed(key, "GetObject", e)),
        }
    }

    /// A write of `body` to `key` if its ETag is `if_match`, or if there is
    /// none (`None`).
    async fn put(&self, key: &str, body: Vec<u8>, if_match: Option<&str>) -> Result<Put, StateError> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        req = match if_match {
            Some(etag) => req.if_match(etag),
            None => req.if_none_match("*"),
        };
        match req.send().await {
            Ok(o) => Ok(Put::Done(o.e_tag().map(str::to_string))),
            Err(e) if no_bucket(&e) => Err(self.failed(key, "PutObject", e)),
            Err(e) => match status(&e) {
                Some(412) => Ok(Put::Refused),
                Some(404 | 409) => Ok(Put::Again),
                _ => Err(self.failed(key, "PutObject", e)),
            },
        }
    }

    /// A delete of `key` if its ETag is `etag`; whether it was.
    async fn delete_if(&self, key: &str, etag: &str) -> Result<bool, StateError> {
        match self.client.delete_object().bucket(&self.bucket).key(key).if_match(etag).send().await {
            Ok(_) => Ok(true),
            Err(e) if matches!(status(&e), Some(412 | 404 | 409)) && !no_bucket(&e) => Ok(false),
            Err(e) => Err(self.failed(key, "DeleteObject", e)),
        }
    }

    pub async fn load(&self, stack: &str) -> Result<Option<State>, StateError> {
        let key = self.record_key(stack);
        let Some((bytes, etag, _)) = self.get(&key).await? else {
            self.set_seen(stack, Seen { etag: None, state: None });
            return Ok(None);
        };
        let path = PathBuf::from(self.url(&key));
        // The ETag is kept even for a record that cannot be read, so that
        // setting it aside and writing its replacement stay conditional.
        self.set_seen(stack, Seen { etag: etag.clone(), state: None });
        let state = crate::state::parse_record(&bytes, stack, &path)?;
        self.set_seen(stack, Seen { etag, state: Some(state.clone()) });
        Ok(Some(state))
    }

    pub async fn save(&self, state: &State) -> Result<(), StateError> {
        let stack = &state.stack;
        let seen = self.seen(stack);
        // The engine counts every save in `serial`; a record that differs
        // only there is not written again.
        if let Some(old) = &seen.state {
            if (State { serial: old.serial, ..state.clone() }) == *old {
                return Ok(());
            }
        }
        let key = self.record_key(stack);
        let mut body = serde_json::to_vec_pretty(state).map_err(|e| self.remote(&key, "PutObject", e))?;
        body.push(b'\n');
        match self.put(&key, body, seen.etag.as_deref()).await? {
            Put::Done(etag) => {
                self.set_seen(stack, Seen { etag, state: Some(state.clone()) });
                Ok(())
            }
            Put::Refused | Put::Again => Err(StateError::Conflict { stack: stack.clone(), location: self.url(&key) }),
        }
    }

    pub async fn quarantine(&self, stack: &str) -> Option<String> {
        let key = self.record_key(stack);
        let seen = self.seen(stack);
        let aside = format!("{key}.corrupt-{}", crate::state::unix_now());
        let source = format!("{}/{}", self.bucket, key);
        self.client.copy_object().bucket(&self.bucket).key(&aside).copy_source(source).send().await.ok()?;
        let etag = seen.etag?;
        if !self.delete_if(&key, &etag).await.ok()? {
            return None;
        }
        self.set_seen(stack, Seen { etag: None, state: None });
        Some(self.url(&aside))
    }

    pub async fn remove(&self, stack: &str) -> Result<(), StateError> {
        let key = self.record_key(stack);
        let Some(etag) = self.seen(stack).etag else {
            return Err(StateError::Conflict { stack: stack.to_string(), location: self.url(&key) });
        };
        if !self.delete_if(&key, &etag).await? {
            return Err(StateError::Conflict { stack: stack.to_string(), location: self.url(&key) });
        }
        self.set_seen(stack, Seen { etag: None, state: None });
        Ok(())
    }

    /// The lock object as it is: its content (when readable), ETag and age.
    pub async fn lock_info(&self, stack: &str) -> Result<Option<(Option<LockInfo>, String, Duration)>, StateError> {
        let key = self.lock_key(stack);
        let Some((bytes, etag, modified)) = self.get(&key).await? else { return Ok(None) };
        let info = serde_json::from_slice::<LockInfo>(&bytes).ok();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let age = modified.map_or(0, |m| now.saturating_sub(m.secs().max(0) as u64));
        Ok(Some((info, etag.unwrap_or_default(), Duration::from_secs(age))))
    }

    /// One attempt at the lock: `Ok(Err(Locked))` when another run holds a
    /// lock that is not stale.
    async fn try_lock(
        &self,
        stack: &str,
        opts: LockOptions,
        warn: &(dyn Fn(String) + Sync),
    ) -> Result<Result<(S3Lock, bool), StateError>, StateError> {
        let key = self.lock_key(stack);
        let mine = LockInfo::new();
        let body = serde_json::to_vec(&mine).map_err(|e| self.remote(&key, "PutObject", e))?;
        // A few turns: each means the lock changed hands between two calls.
        for _ in 0..8 {
            match self.put(&key, body.clone(), None).await? {
                Put::Done(etag) => return Ok(Ok((self.held(stack, mine, etag, opts), true))),
                Put::Refused | Put::Again => {}
            }
            let Some((info, etag, age)) = self.lock_info(stack).await? else { continue };
            let holder = info.as_ref().map_or_else(|| "an unreadable lock object".to_string(), LockInfo::holder);
            if age <= opts.stale_after {
                return Ok(Err(StateError::Locked {
                    stack: stack.to_string(),
                    holder: format!("{holder}, last refreshed {} ago", age_text(age)),
                    id: info.map(|i| i.id),
                    path: PathBuf::from(self.url(&key)),
                }));
            }
            warn(format!(
                "the lock of stack `{stack}` (id {}) held by {holder} was last refreshed {} ago, longer than the staleness of {}: taking it over",
                info.as_ref().map_or("unknown", |i| i.id.as_str()),
                age_text(age),
                age_text(opts.stale_after),
            ));
            match self.put(&key, body.clone(), Some(&etag)).await? {
                Put::Done(etag) => return Ok(Ok((self.held(stack, mine, etag, opts), false))),
                // Another run took it over, or its holder refreshed it.
                Put::Refused | Put::Again => {}
            }
        }
        Ok(Err(StateError::Locked {
            stack: stack.to_string(),
            holder: "other runs (the lock changed hands while this run tried to take it)".into(),
            id: None,
            path: PathBuf::from(self.url(&key)),
        }))
    }

    fn held(&self, stack: &str, info: LockInfo, etag: Option<String>, opts: LockOptions) -> S3Lock {
        let key = self.lock_key(stack);
        let etag = Arc::new(tokio::sync::Mutex::new(etag));
        let lost = Arc::new((AtomicBool::new(false), tokio::sync::Notify::new()));
        let mut info_now = info.clone();
        // Refreshed well within the staleness, and at least every 30 s.
        let every = (opts.stale_after / 3).clamp(Duration::from_millis(200), Duration::from_secs(30));
        let refresher = {
            let (client, bucket, key, etag, lost) =
                (self.client.clone(), self.bucket.clone(), key.clone(), etag.clone(), lost.clone());
            let stack = stack.to_string();
            tokio::spawn(crate::trace::about("state lock", async move {
                let mut complained = false;
                loop {
                    tokio::time::sleep(every).await;
                    let mut held = etag.lock().await;
                    let Some(tag) = held.clone() else { return };
                    info_now.refreshes += 1;
                    let body = serde_json::to_vec(&info_now).unwrap_or_default();
                    let sent = client
                        .put_object()
                        .bucket(&bucket)
                        .key(&key)
                        .content_type("application/json")
                        .if_match(tag)
                        .body(ByteStream::from(body))
                        .send()
                        .await;
                    match sent {
                        Ok(o) => {
                            *held = o.e_tag().map(str::to_string);
                            complained = false;
                        }
                        Err(e) if matches!(status(&e), Some(412 | 404)) => {
                            *held = None;
                            eprintln!(
                                "error: the lock of stack `{stack}` (s3://{bucket}/{key}) was taken from this run \
                                 (its refresh was refused: another run took it over or removed it); starting nothing new"
                            );
                            lost.0.store(true, Ordering::SeqCst);
                            lost.1.notify_waiters();
                            lost.1.notify_one();
                            return;
                        }
                        Err(e) => {
                            if !complained {
                                eprintln!(
                                    "warning: could not refresh the lock of stack `{stack}` (s3://{bucket}/{key}): {}; trying again",
                                    sdk_text(e)
                                );
                                complained = true;
                            }
                        }
                    }
                }
            }))
        };
        S3Lock {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key,
            id: info.id,
            etag,
            lost,
            refresher: Some(refresher),
        }
    }

    pub async fn unlock(&self, stack: &str, id: &str) -> Result<String, StateError> {
        let key = self.lock_key(stack);
        let refuse = |message: String| StateError::Remote { location: self.url(&key), call: "unlock", message };
        let Some((info, etag, age)) = self.lock_info(stack).await? else {
            return Err(refuse(format!("stack `{stack}` is not locked")));
        };
        let found = info.as_ref().map(|i| i.id.as_str());
        if found != Some(id) {
            return Err(refuse(format!(
                "the lock of stack `{stack}` has id {}, not {id}; it was left as it is",
                found.unwrap_or("(unreadable)")
            )));
        }
        if !self.delete_if(&key, &etag).await? {
            return Err(refuse(format!(
                "the lock of stack `{stack}` changed while it was being removed (its holder refreshed it); it was left as it is"
            )));
        }
        let holder = info.map_or_else(String::new, |i| i.holder());
        Ok(format!("{holder}, last refreshed {} ago", age_text(age)))
    }
}

/// A lock object this run holds.
pub struct S3Lock {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    pub id: String,
    /// The lock object's ETag as this run last wrote it; `None` once it
    /// was released or lost.
    etag: Arc<tokio::sync::Mutex<Option<String>>>,
    lost: Arc<(AtomicBool, tokio::sync::Notify)>,
    refresher: Option<tokio::task::JoinHandle<()>>,
}

impl S3Lock {
    /// Deletes the lock object if it is still the one this run wrote.
    pub async fn release(mut self) {
        // A refresh in flight ends first (it holds the ETag).
        let etag = self.etag.lock().await.take();
        if let Some(r) = self.refresher.take() {
            r.abort();
        }
        let Some(etag) = etag else { return };
        let deleted = self.client.delete_object().bucket(&self.bucket).key(&self.key).if_match(&etag).send().await;
        if let Err(e) = deleted {
            if !matches!(status(&e), Some(412 | 404)) {
                eprintln!(
                    "warning: could not remove the lock s3://{}/{} (id {}): {}; remove it with `moor state unlock {}`",
                    self.bucket,
                    self.key,
                    self.id,
                    sdk_text(e),
                    self.id
                );
            }
        }
    }
}

impl Drop for S3Lock {
    fn drop(&mut self) {
        if let Some(r) = self.refresher.take() {
            r.abort();
        }
    }
}

/// A 404 for the bucket rather than the key: a mistyped bucket is an
/// error, never "no record".
fn no_bucket<E: aws_sdk_s3::error::ProvideErrorMetadata>(
    e: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("NoSuchBucket")
}

/// AWS's code and message of a failed call (never the request).
fn sdk_text<E>(e: aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
    let status = e.raw_response().map(|r| r.status().as_u16());
    let http = status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
    let text = match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}{http}"),
        (Some(c), None) => format!("{c}{http}"),
        _ => match &e {
            SdkError::TimeoutError(_) => "no answer from S3 in time, retries included".to_string(),
            // Not the SDK's nested debug dump: what failed at the bottom
            // ("Connection refused", "dns error: …").
            SdkError::DispatchFailure(_) => format!("could not reach S3: {}", root_cause(&e)),
            SdkError::ServiceError(_) | SdkError::ResponseError(_) if status.is_some() => {
                format!("the endpoint answered{http} without an S3 error")
            }
            _ => aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
        },
    };
    crate::secret::redact(&text)
}

/// The innermost error of a chain: what really went wrong.
fn root_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> &'a (dyn std::error::Error + 'static) {
    let mut cause = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause
}

fn status<E>(e: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(Location::parse(".moor").unwrap(), Location::Local(".moor".into()));
        let s3 = Location::parse("s3://my-bucket/team/web/").unwrap();
        assert_eq!(
            s3,
            Location::S3 { bucket: "my-bucket".into(), key: KeyRule::Prefix("team/web".into()), region: None }
        );
        assert_eq!(s3.record("app"), "s3://my-bucket/team/web/app.state.json");
        assert_eq!(Location::parse("s3://my-bucket").unwrap().record("app"), "s3://my-bucket/app.state.json");
        for bad in ["s3://", "s3://Bad_Bucket/x", "s3://ab", "s3://-x-/p", ""] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
        let fixed = Location::S3 { bucket: "b-1".into(), key: KeyRule::Fixed("moor/x.json".into()), region: None };
        assert_eq!(fixed.record("whatever"), "s3://b-1/moor/x.json");
    }

    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_types::body::SdkBody;

    /// Answers S3 calls from a script, in order, as AWS does what the
    /// emulator does not (409 to a conditional write that raced another);
    /// notes each call as `METHOD key [If-None-Match|If-Match]`.
    #[derive(Debug, Clone, Default)]
    struct Script {
        answers: Arc<Mutex<Vec<(u16, &'static str)>>>,
        calls: Arc<Mutex<Vec<String>>>,
    }

    impl HttpConnector for Script {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let cond = match (request.headers().get("if-none-match"), request.headers().get("if-match")) {
                (Some(v), _) => format!(" If-None-Match:{v}"),
                (_, Some(v)) => format!(" If-Match:{v}"),
                _ => String::new(),
            };
            let path = request.uri().split('?').next().unwrap_or_default().rsplit("/b/").next().unwrap_or_default();
            self.calls.lock().unwrap().push(format!("{} {path}{cond}", request.method()));
            let (status, body) = self.answers.lock().unwrap().remove(0);
            let mut response = HttpResponse::new(status.try_into().unwrap(), SdkBody::from(body));
            response.headers_mut().insert("etag", "\"e1\"");
            response.headers_mut().insert("content-type", "application/xml");
            HttpConnectorFuture::ready(Ok(response))
        }
    }

    impl HttpClient for Script {
        fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
            SharedHttpConnector::new(self.clone())
        }
    }

    fn scripted(answers: Vec<(u16, &'static str)>) -> (Backend, Script) {
        let script = Script { answers: Arc::new(Mutex::new(answers)), ..Script::default() };
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::for_tests())
            .endpoint_url("http://s3.test")
            .force_path_style(true)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .http_client(script.clone())
            .build();
        let client = aws_sdk_s3::Client::from_conf(config);
        (Backend::S3(S3Backend::from_client(client, "b", KeyRule::Prefix("p".into()))), script)
    }

    const CONFLICT: &str =
        "<Error><Code>ConditionalRequestConflict</Code><Message>A conflicting operation is in progress</Message></Error>";
    const NO_KEY: &str = "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>";

    /// AWS answers 409 to a conditional write that raced another one for
    /// the key: taking the lock looks again and tries again; writing the
    /// record is a conflict, never a silent success.
    #[tokio::test]
    async fn a_conflicting_conditional_write_on_aws_is_tried_again_or_refused() {
        let (b, script) = scripted(vec![(409, CONFLICT), (404, NO_KEY), (200, ""), (204, "")]);
        let (held, at_once) = b.lock("s", LockOptions::default(), &|_| {}).await.expect("taken at the second try");
        assert!(at_once, "no other holder was found");
        held.release().await;
        assert_eq!(
            *script.calls.lock().unwrap(),
            [
                "PUT p/s.state.json.lock If-None-Match:*",
                "GET p/s.state.json.lock",
                "PUT p/s.state.json.lock If-None-Match:*",
                "DELETE p/s.state.json.lock If-Match:\"e1\"",
            ]
        );

        let (b, script) = scripted(vec![(409, CONFLICT)]);
        let err = b.save(&State::new("s", None)).await.unwrap_err();
        assert!(matches!(err, StateError::Conflict { .. }), "{err}");
        assert_eq!(*script.calls.lock().unwrap(), ["PUT p/s.state.json If-None-Match:*"]);
    }

    /// An endpoint nobody listens on: one short line that says so, not the
    /// SDK's nested debug text.
    #[tokio::test]
    async fn an_unreachable_endpoint_is_one_short_line() {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::for_tests())
            .endpoint_url("http://127.0.0.1:1")
            .force_path_style(true)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build();
        let b = Backend::S3(S3Backend::from_client(
            aws_sdk_s3::Client::from_conf(config),
            "b",
            KeyRule::Prefix("p".into()),
        ));
        let text = b.load("s").await.unwrap_err().to_string();
        assert!(text.contains("could not reach S3") && text.to_lowercase().contains("refused"), "{text}");
        assert!(!text.contains('\n') && text.len() < 200 && !text.contains("DispatchFailure"), "{text}");
    }

    #[test]
    fn ages_read_well() {
        assert_eq!(age_text(Duration::from_secs(42)), "42s");
        assert_eq!(age_text(Duration::from_secs(192)), "3m12s");
        assert_eq!(age_text(Duration::from_secs(7500)), "2h05m");
    }
}
