//! The state record: which physical resource each logical name is, and
//! what was last applied to it.
//!
//! Live AWS stays the source of truth for settings; the record exists so
//! that moor can find what it made when the file no longer says (a resource
//! removed from the file, a stack destroyed after its file changed), and so
//! that a run that died half way is finished by the next one. It is written
//! after every step that changed AWS, not at the end of a run.
//!
//! Guarantees:
//! - A write replaces the file atomically (write to a temporary file, then
//!   rename), so a crash leaves the old record or the new one, never half.
//! - One apply or destroy of a stack runs at a time: the lock is an OS lock
//!   on a lock file that names its holder; the lock of a process that died
//!   is released by the OS and taken over, with a warning, by exactly one
//!   run.
//! - A record that cannot be read is never silently ignored: the caller is
//!   told, and rebuilds it from the resources' `moor:*` tags.
//! - The record, its temporary file, the lock and a set-aside copy are
//!   readable by their owner only (0600).

use crate::model::Kind;
use crate::provider::Attrs;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub stack: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Incremented by every write.
    pub serial: u64,
    pub resources: BTreeMap<String, Entry>,
    /// The outputs as of the last apply.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
}

impl State {
    pub fn new(stack: &str, region: Option<&str>) -> State {
        State {
            version: VERSION,
            stack: stack.to_string(),
            region: region.map(str::to_string),
            serial: 0,
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
        }
    }
}

/// One logical resource as moor made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(serialize_with = "ser_kind", deserialize_with = "de_kind")]
    pub kind: Kind,
    pub id: String,
    /// The unique id AWS gave the object ([`crate::provider::Live::uid`]),
    /// so that a namesake made after it was deleted is not taken for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub attrs: Attrs,
    /// Logical names it depended on when applied (destroy order without the file).
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Delete contents with it (ECR `empty_on_delete`), as last applied.
    #[serde(default)]
    pub force_delete: bool,
    /// The fields as last applied (what the file said when AWS matched it),
    /// so that a setting removed from the file shows as a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<crate::provider::Fields>,
    /// Earlier physical resources of this logical name, replaced but not yet
    /// deleted (create-before-delete interrupted, or older task definition
    /// revisions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deposed: Vec<Deposed>,
    /// Made or changed, but the wait for it to be usable was interrupted:
    /// the next apply waits for it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsettled: bool,
    /// A service deployment that has not settled: set before moor waits for
    /// it, kept when the wait fails or never ends (timeout, failed tasks,
    /// a rollback, moor killed), cleared only once the service is at its
    /// desired state. The next plan shows it as a wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

/// Why a service's last deployment is not known to have settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub reason: String,
    /// The deployment was rolled back: waiting cannot settle it, so the next
    /// apply deploys again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redeploy: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deposed {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub attrs: Attrs,
}

impl Entry {
    /// What the record says the object is, for [`crate::provider::Live::owner`].
    pub fn recorded(&self) -> (&str, Option<&str>) {
        (&self.id, self.uid.as_deref())
    }

    /// The ids of every object recorded under this entry: the current one
    /// and the replaced ones not yet deleted.
    pub fn ids(&self) -> Vec<String> {
        std::iter::once(self.id.clone()).chain(self.deposed.iter().map(|d| d.id.clone())).collect()
    }

    /// The deletion of the recorded object itself (contents kept), for the
    /// resource recorded as `logical`.
    pub fn deletion(&self, logical: &str) -> crate::provider::Deletion {
        crate::provider::Deletion {
            logical: logical.to_string(),
            kind: self.kind,
            id: self.id.clone(),
            name: self.name.clone(),
            attrs: self.attrs.clone(),
            force: false,
        }
    }
}

impl Deposed {
    pub fn recorded(&self) -> (&str, Option<&str>) {
        (&self.id, self.uid.as_deref())
    }
}

fn ser_kind<S: Serializer>(k: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.as_str())
}

fn de_kind<'de, D: Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
    let s = String::deserialize(d)?;
    Kind::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown kind `{s}`")))
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read the state record {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the state record {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("the state record {path} is for stack `{found}`, not `{expected}`")]
    WrongStack { path: PathBuf, found: String, expected: String },
    #[error("{}", locked_text(.stack, .holder, .id.as_deref(), .path))]
    Locked { stack: String, holder: String, id: Option<String>, path: PathBuf },
    /// A conditional write of the record was refused: it changed since
    /// this run read or wrote it.
    #[error(
        "the state record of stack `{stack}` at {location} was changed by another run since this one read it, \
         so it was not overwritten (the lock was taken from this run, or another run wrote without it). \
         Nothing is lost: run `moor plan` again to see the stack as it now is, then apply again"
    )]
    Conflict { stack: String, location: String },
    /// A call to the remote backend failed.
    #[error("{call} of {location} failed: {message}")]
    Remote { location: String, call: &'static str, message: String },
    /// The run was stopped (Ctrl-C, SIGTERM) while it waited for the lock.
    #[error("interrupted while waiting for the lock of stack `{stack}`; nothing was changed")]
    Interrupted { stack: String },
}

fn locked_text(stack: &str, holder: &str, id: Option<&str>, path: &Path) -> String {
    match id {
        Some(id) => format!(
            "stack `{stack}` is locked by {holder} (lock id {id}); another apply or destroy is running. \
             If it is not, remove the lock with `moor state unlock {id}` (with the same --state), \
             or wait for it with --lock-timeout"
        ),
        None => format!(
            "stack `{stack}` is locked by {holder}; another apply or destroy is running. If it is not, remove {}",
            path.display()
        ),
    }
}

/// The record of `stack` from its bytes, read from `path`.
pub fn parse_record(bytes: &[u8], stack: &str, path: &Path) -> Result<State, StateError> {
    let path = path.to_path_buf();
    // Bytes that are not text are as corrupt as text that is not JSON.
    let text = std::str::from_utf8(bytes).map_err(|e| StateError::Corrupt {
        path: path.clone(),
        reason: format!("not UTF-8 text (invalid byte at offset {})", e.valid_up_to()),
    })?;
    let state: State =
        serde_json::from_str(text).map_err(|e| StateError::Corrupt { path: path.clone(), reason: e.to_string() })?;
    if state.version != VERSION {
        return Err(StateError::Corrupt { path, reason: format!("unknown version {}", state.version) });
    }
    if state.stack != stack {
        return Err(StateError::WrongStack { path, found: state.stack, expected: stack.to_string() });
    }
    Ok(state)
}

/// A state record in a local directory (`.moor/` by default).
#[derive(Debug, Clone)]
pub struct LocalBackend {
    pub dir: PathBuf,
}

impl LocalBackend {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalBackend { dir: dir.into() }
    }

    pub fn path(&self, stack: &str) -> PathBuf {
        self.dir.join(format!("{stack}.state.json"))
    }

    fn lock_path(&self, stack: &str) -> PathBuf {
        self.dir.join(format!("{stack}.lock"))
    }

    /// The record, `None` when there is none.
    pub fn load(&self, stack: &str) -> Result<Option<State>, StateError> {
        let path = self.path(stack);
        let bytes = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Io { path, source }),
        };
        parse_record(&bytes, stack, &path).map(Some)
    }

    /// Writes the record atomically.
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let path = self.path(&state.stack);
        let io = |source| StateError::Io { path: path.clone(), source };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let mut text = serde_json::to_vec_pretty(state).map_err(|e| io(std::io::Error::other(e)))?;
        text.push(b'\n');
        let tmp = self.dir.join(format!(".{}.state.json.tmp", state.stack));
        // The temporary file is private before anything is written to it
        // (an older one may have been left with other permissions).
        let _ = std::fs::remove_file(&tmp);
        let mut f = private(std::fs::OpenOptions::new().write(true).create_new(true)).open(&tmp).map_err(io)?;
        f.write_all(&text).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(())
    }

    /// Moves an unreadable record aside, so it is kept for inspection while
    /// a rebuilt one takes its place.
    pub fn quarantine(&self, stack: &str) -> Option<PathBuf> {
        let path = self.path(stack);
        let aside = self.dir.join(format!("{stack}.state.json.corrupt-{}", unix_now()));
        std::fs::rename(&path, &aside).ok()?;
        let _ = set_private(&aside);
        Some(aside)
    }

    /// Takes the stack's lock until the returned guard is dropped.
    ///
    /// The lock is an OS lock (`flock`) on the lock file, so the kernel
    /// releases it when its holder dies, and taking over a dead holder's
    /// lock is the same single atomic step as taking a free one: of two
    /// runs that try at once, exactly one gets it. The file says who holds
    /// it (pid, host, since when, command) for the one who is refused.
    pub fn lock(&self, stack: &str) -> Result<(Lock, Option<String>), StateError> {
        use std::io::{Read, Seek};
        use std::os::unix::fs::MetadataExt;
        let path = self.lock_path(stack);
        let io = |source| StateError::Io { path: path.clone(), source };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        // A holder that releases removes the file, so the file opened here
        // may be one no one else will see; then open the new one. Each turn
        // means another run took and released the lock in between.
        for _ in 0..64 {
            let mut file = private(&mut std::fs::OpenOptions::new())
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io)?;
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    let mut text = String::new();
                    let _ = (&file).take(4096).read_to_string(&mut text);
                    let (holder, id) = holder_and_id(&text);
                    let holder = match holder {
                        "" => "another process".to_string(),
                        h => h.to_string(),
                    };
                    return Err(StateError::Locked { stack: stack.to_string(), holder, id, path });
                }
                Err(e) => return Err(io(e.into())),
            }
            let opened = file.metadata().map_err(io)?;
            match std::fs::metadata(&path) {
                Ok(now) if now.dev() == opened.dev() && now.ino() == opened.ino() => {}
                _ => continue,
            }
            let mut previous = String::new();
            let _ = (&file).take(4096).read_to_string(&mut previous);
            // A holder that took no OS lock (an older moor, which only made
            // the file) and still runs on this machine still holds it.
            if old_holder_alive(&previous) {
                let _ = rustix::fs::flock(&file, rustix::fs::FlockOperation::Unlock);
                let (holder, id) = holder_and_id(&previous);
                return Err(StateError::Locked { stack: stack.to_string(), holder: holder.to_string(), id, path });
            }
            let warning = match holder_and_id(&previous).0 {
                "" => None,
                h => Some(format!("took over the lock of stack `{stack}` left by {h}, which no longer runs")),
            };
            file.set_len(0).map_err(io)?;
            file.rewind().map_err(io)?;
            writeln!(file, "{}\nlock {}", holder_line(), lock_id()).map_err(io)?;
            return Ok((Lock { path, _file: file }, warning));
        }
        Err(StateError::Locked { stack: stack.to_string(), holder: "another process".into(), id: None, path })
    }

    /// Removes the stack's lock file when its lock id is `id`: for a lock
    /// left by a run that can no longer release it. Returns who held it.
    pub fn unlock(&self, stack: &str, id: &str) -> Result<String, StateError> {
        let path = self.lock_path(stack);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::Remote {
                    location: path.display().to_string(),
                    call: "unlock",
                    message: format!("stack `{stack}` is not locked"),
                })
            }
            Err(source) => return Err(StateError::Io { path, source }),
        };
        let (holder, found) = holder_and_id(&text);
        if found.as_deref() != Some(id) {
            return Err(StateError::Remote {
                location: path.display().to_string(),
                call: "unlock",
                message: format!(
                    "the lock of stack `{stack}` has id {}, not {id}; it was left as it is",
                    found.as_deref().unwrap_or("(none)")
                ),
            });
        }
        std::fs::remove_file(&path).map_err(|source| StateError::Io { path: path.clone(), source })?;
        Ok(holder.to_string())
    }

    /// The stack's lock as its file says (holder, id), when there is one.
    pub fn lock_holder(&self, stack: &str) -> Option<(String, Option<String>)> {
        let text = std::fs::read_to_string(self.lock_path(stack)).ok()?;
        let (holder, id) = holder_and_id(&text);
        Some((holder.to_string(), id))
    }
}

/// A lock file's holder line and its lock id (`lock ID`, on a line of its own).
fn holder_and_id(text: &str) -> (&str, Option<String>) {
    let holder = text.lines().next().unwrap_or("").trim();
    let id = text.lines().find_map(|l| l.trim().strip_prefix("lock ")).map(|i| i.trim().to_string());
    (holder, id.filter(|i| !i.is_empty()))
}

/// A new random lock id: 16 hex digits.
pub fn lock_id() -> String {
    use std::io::Read;
    let mut b = [0u8; 8];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if random.is_err() {
        use sha2::Digest;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let h = sha2::Sha256::digest(format!("{nanos} {} {}", std::process::id(), hostname()));
        b.copy_from_slice(&h[..8]);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Held while a run may write the record.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    /// Holds the OS lock; closed after the file is removed, so that no one
    /// can take the lock of a file that is about to go.
    _file: std::fs::File,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Files of the record are readable by their owner only: they name the
/// account's resources, and hash what is sensitive.
fn private(o: &mut std::fs::OpenOptions) -> &mut std::fs::OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

fn set_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "this machine".into())
}

/// Who holds a lock: `pid 4242 on build-7 since 2026-01-02T03:04:05Z: moor apply stack.yaml`.
/// Values given as `NAME=VALUE` (`--var`) are left out: they may be secret.
/// Whether a lock file's text names a process of this machine, other than
/// this one, that still runs (`pid N on HOST …`).
fn old_holder_alive(text: &str) -> bool {
    let mut words = text.split_whitespace();
    let (Some("pid"), Some(pid), Some("on"), Some(host)) = (words.next(), words.next(), words.next(), words.next())
    else {
        return false;
    };
    host == hostname()
        && pid.parse::<u32>().is_ok_and(|p| p != std::process::id() && Path::new(&format!("/proc/{p}")).exists())
}

fn holder_line() -> String {
    let since = aws_smithy_types::DateTime::from_secs(unix_now() as i64)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    format!("pid {} on {} since {since}: {}", std::process::id(), hostname(), command_line())
}

/// The command line of this run, for a lock's holder. Values given as
/// `NAME=VALUE` (`--var`) are left out: they may be secret.
pub(crate) fn command_line() -> String {
    let mut command: String = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .enumerate()
        .map(|(i, a)| match i {
            0 => Path::new(&a).file_name().map_or(a.clone(), |n| n.to_string_lossy().into_owned()),
            _ => match a.split_once('=') {
                Some((name, _)) => format!("{name}=…"),
                None => a,
            },
        })
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if command.len() > 200 {
        let cut = (0..=200).rev().find(|&i| command.is_char_boundary(i)).unwrap_or(0);
        command.truncate(cut);
        command.push('…');
    }
    command
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        // Unique per call: the tests run at the same time.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let d = std::env::temp_dir().join(format!("moor-state-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn saves_and_loads() {
        let b = LocalBackend::new(dir());
        assert_eq!(b.load("s").unwrap(), None);
        let mut s = State::new("s", Some("us-east-1"));
        // One entry of every kind: each kind's name reads back as the kind.
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            s.resources.insert(
                format!("r{i}"),
                Entry {
                    kind,
                    id: format!("arn:{i}"),
                    uid: None,
                    name: Some(format!("r{i}")),
                    attrs: Attrs::new(),
                    depends_on: vec![],
                    force_delete: i == 0,
                    applied: None,
                    deposed: vec![],
                    unsettled: false,
                    pending: None,
                },
            );
        }
        b.save(&s).unwrap();
        assert_eq!(b.load("s").unwrap(), Some(s));
    }

    #[test]
    fn corrupt_record_is_an_error_not_nothing() {
        let b = LocalBackend::new(dir());
        std::fs::create_dir_all(&b.dir).unwrap();
        std::fs::write(b.path("s"), "{ not json").unwrap();
        assert!(matches!(b.load("s"), Err(StateError::Corrupt { .. })));
        let aside = b.quarantine("s").unwrap();
        assert!(aside.exists());
        assert_eq!(b.load("s").unwrap(), None);
    }

    /// Two runs that find the lock of a dead process at the same moment:
    /// exactly one of them takes it over, every time.
    #[test]
    fn a_dead_holders_lock_is_taken_over_by_exactly_one_of_two_racing_runs() {
        let b = LocalBackend::new(dir());
        std::fs::create_dir_all(&b.dir).unwrap();
        for round in 0..400 {
            std::fs::write(b.lock_path("s"), format!("pid 999999999 on {}\n", hostname())).unwrap();
            let start = std::sync::Arc::new(std::sync::Barrier::new(2));
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    let (b, start) = (b.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        b.lock("s")
                    })
                })
                .collect();
            let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
            let won = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(won, 1, "round {round}: {won} runs hold the lock: {results:?}");
            for r in &results {
                if let Err(e) = r {
                    assert!(matches!(e, StateError::Locked { .. }), "round {round}: {e}");
                }
            }
            drop(results);
            assert!(!b.lock_path("s").exists(), "round {round}: the lock is removed when released");
        }
    }

    #[test]
    fn binary_garbage_is_a_corrupt_record() {
        let b = LocalBackend::new(dir());
        std::fs::create_dir_all(&b.dir).unwrap();
        for garbage in [&b"\xff\xfe\x00\x01garbage\x80"[..], b"\0\0\0\0", b"{\"version\": 1\0}"] {
            std::fs::write(b.path("s"), garbage).unwrap();
            assert!(matches!(b.load("s"), Err(StateError::Corrupt { .. })), "{garbage:?}: {:?}", b.load("s"));
        }
    }

    #[cfg(unix)]
    #[test]
    fn every_file_of_the_record_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let b = LocalBackend::new(dir());
        std::fs::create_dir_all(&b.dir).unwrap();
        // A record and a temporary file left readable by an older version.
        let tmp = b.dir.join(".s.state.json.tmp");
        for p in [b.path("s"), tmp.clone()] {
            std::fs::write(&p, "{}").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let aside = b.quarantine("s").unwrap();
        assert_eq!(mode(&aside), 0o600, "set-aside copy");
        b.save(&State::new("s", None)).unwrap();
        assert_eq!(mode(&b.path("s")), 0o600, "record");
        let (_l, _) = b.lock("s").unwrap();
        assert_eq!(mode(&b.lock_path("s")), 0o600, "lock");
    }

    #[test]
    fn lock_is_exclusive_and_stale_locks_are_taken_over() {
        let b = LocalBackend::new(dir());
        let (l, w) = b.lock("s").unwrap();
        assert!(w.is_none());
        match b.lock("s") {
            Err(StateError::Locked { holder, .. }) => {
                let me = format!("pid {} on {} since ", std::process::id(), hostname());
                assert!(holder.starts_with(&me) && holder.contains("Z: "), "{holder}");
            }
            other => panic!("{other:?}"),
        }
        drop(l);
        std::fs::write(b.lock_path("s"), format!("pid 999999999 on {}\n", hostname())).unwrap();
        let (_l, w) = b.lock("s").unwrap();
        assert!(w.unwrap().contains("took over"));
    }

    /// A local lock names its id; `unlock` removes it only for that id, and
    /// the refusal of a locked run names the id and the command.
    #[test]
    fn a_local_lock_is_removed_only_by_its_id() {
        let b = LocalBackend::new(dir());
        let (l, _) = b.lock("s").unwrap();
        let (_, id) = b.lock_holder("s").unwrap();
        let id = id.expect("the lock file names its id");
        match b.lock("s") {
            Err(e @ StateError::Locked { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains(&format!("lock id {id}")) && text.contains(&format!("moor state unlock {id}")),
                    "{text}"
                );
            }
            other => panic!("{other:?}"),
        }
        std::mem::forget(l);
        let wrong = b.unlock("s", "0000000000000000").unwrap_err().to_string();
        assert!(wrong.contains(&format!("has id {id}, not 0000000000000000")), "{wrong}");
        assert!(b.lock_path("s").exists());
        let holder = b.unlock("s", &id).unwrap();
        assert!(holder.starts_with(&format!("pid {} on ", std::process::id())), "{holder}");
        assert!(!b.lock_path("s").exists());
    }

    /// An older moor made the lock file without an OS lock: while the
    /// process it names runs, the stack stays locked.
    #[test]
    fn a_lock_file_of_a_running_older_moor_is_respected() {
        let b = LocalBackend::new(dir());
        std::fs::create_dir_all(&b.dir).unwrap();
        std::fs::write(b.lock_path("s"), format!("pid 1 on {}\n", hostname())).unwrap();
        match b.lock("s") {
            Err(StateError::Locked { holder, .. }) => assert_eq!(holder, format!("pid 1 on {}", hostname())),
            other => panic!("{other:?}"),
        }
        assert!(b.lock_path("s").exists());
    }
}
