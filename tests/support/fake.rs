//! An in-memory provider for the engine tests (test support only, never
//! part of the library): it stores what it is asked to
//! create, reports it back exactly (so "apply, then plan" is a no-op), counts
//! its calls, records how many ran at once, and can fail a chosen call or
//! stop working after a chosen number of writes (a process killed half way).

#![allow(dead_code)]

use async_trait::async_trait;
use moor::model::{AttrType, Kind, Spec};
use moor::provider::{
    desired_fields, Attrs, Deletion, ErrorKind, Found, Live, Provider, ProviderError, Target, TAG_RESOURCE, TAG_STACK,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The data behind `m`, also when a thread panicked holding it: each change
/// under these locks is a single insert, push or removal, never half made.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub logical: String,
    pub kind: Kind,
    pub live: Live,
}

#[derive(Default)]
pub struct FakeProvider {
    /// id → resource.
    pub store: Mutex<BTreeMap<String, Stored>>,
    /// Calls by operation name (`read`, `create`, `update`, `delete`,
    /// `adopt`, `discover`).
    pub calls: Mutex<HashMap<&'static str, usize>>,
    /// Write calls (create, update, delete) in order, as `op logical`.
    pub writes: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    /// Fail these `(operation, logical)` calls.
    pub fail: Mutex<Vec<(&'static str, String)>>,
    /// After this many writes, every write fails (a killed process).
    pub crash_after: Mutex<Option<usize>>,
    /// With `crash_after`: the last write takes effect in AWS before the
    /// process dies (so it is not recorded).
    pub crash_after_effect: std::sync::atomic::AtomicBool,
    /// How long each call takes.
    pub delay: Duration,
    next_id: AtomicUsize,
}

impl FakeProvider {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_delay(delay: Duration) -> Self {
        FakeProvider { delay, ..Self::default() }
    }

    /// Adds a resource that exists outside moor (a lookup's target, or an
    /// unowned resource with a colliding name).
    pub fn seed(&self, logical: &str, kind: Kind, name: Option<&str>, tags: &[(&str, &str)]) -> String {
        let id = match kind {
            Kind::Ec2DefaultVpc => "vpc-default".to_string(),
            _ => format!("arn:fake:{}:{}", kind.as_str(), name.unwrap_or(logical)),
        };
        let mut fields = serde_json::Map::new();
        if let Some(n) = name {
            fields.insert("name".into(), json!(n));
        }
        let attrs = attrs_for(kind, &id, name.unwrap_or(logical), &fields);
        let live = Live {
            id: id.clone(),
            fields,
            attrs,
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            uid: None,
        };
        lock(&self.store).insert(id.clone(), Stored { logical: logical.into(), kind, live });
        id
    }

    pub fn count(&self, op: &'static str) -> usize {
        lock(&self.calls).get(op).copied().unwrap_or(0)
    }

    pub fn write_count(&self) -> usize {
        lock(&self.writes).len()
    }

    /// The stored resources of one kind.
    pub fn of_kind(&self, kind: Kind) -> Vec<Stored> {
        lock(&self.store).values().filter(|s| s.kind == kind).cloned().collect()
    }

    async fn enter(&self, op: &'static str, logical: &str, write: bool) -> Result<Guard<'_>, ProviderError> {
        *lock(&self.calls).entry(op).or_default() += 1;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let mut guard = Guard(self, false);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let writes = lock(&self.writes).len();
        if write && lock(&self.crash_after).is_some_and(|n| writes >= n) {
            return Err(ProviderError::new(ErrorKind::Setup, format!("fake:{op}"), "the process was killed"));
        }
        let effect_then_die = write
            && self.crash_after_effect.load(Ordering::SeqCst)
            && lock(&self.crash_after).is_some_and(|n| writes + 1 == n);
        if lock(&self.fail).iter().any(|(o, l)| *o == op && l == logical) {
            return Err(ProviderError::new(
                ErrorKind::Rejected,
                format!("fake:{op}"),
                format!("injected failure of {logical}"),
            )
            .with_code("InjectedFailure"));
        }
        if write {
            lock(&self.writes).push(format!("{op} {logical}"));
        }
        guard.1 = effect_then_die;
        Ok(guard)
    }

    /// How a resource is found without an id.
    fn find(&self, t: &Target) -> Option<Stored> {
        let store = lock(&self.store);
        if let Some(id) = &t.id {
            return store.get(id).cloned();
        }
        store
            .values()
            .find(|s| {
                s.kind == t.kind
                    && match (t.kind, &t.spec) {
                        (Kind::Ec2DefaultVpc, _) => true,
                        (Kind::Elbv2Listener, Spec::Elbv2Listener(l)) => {
                            s.live.fields.get("load_balancer") == Some(&json!(l.load_balancer))
                                && s.live.fields.get("port") == Some(&json!(l.port))
                        }
                        _ => {
                            t.name.is_some()
                                && s.live.fields.get(name_key(t.kind)) == t.name.as_ref().map(|n| json!(n)).as_ref()
                        }
                    }
            })
            .cloned()
    }
}

/// Counts a call in flight; `.1`: the call's effect happens, then it fails.
struct Guard<'a>(&'a FakeProvider, bool);

impl Guard<'_> {
    /// The result of a write, or the crash that hides it.
    fn finish<T>(&self, op: &str, r: Result<T, ProviderError>) -> Result<T, ProviderError> {
        if self.1 && r.is_ok() {
            return Err(ProviderError::new(
                ErrorKind::Setup,
                format!("fake:{op}"),
                "the process was killed after the call",
            ));
        }
        r
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn name_key(kind: Kind) -> &'static str {
    if kind == Kind::EcsTaskDefinition {
        "family"
    } else {
        "name"
    }
}

/// Made-up attribute values of the right types.
fn attrs_for(kind: Kind, id: &str, name: &str, fields: &serde_json::Map<String, Value>) -> Attrs {
    kind.attributes()
        .iter()
        .map(|a| {
            let v = match (a.name, a.ty) {
                ("arn", _) => json!(id),
                ("name" | "family", _) => json!(name),
                ("id", _) if kind == Kind::Ec2SecurityGroup => {
                    json!(format!("sg-{}", &id[id.len().saturating_sub(6)..]))
                }
                ("vpc_id", _) => json!("vpc-default"),
                (_, AttrType::List) => json!(["subnet-a", "subnet-b"]),
                (n, AttrType::Integer) => fields.get(n).cloned().unwrap_or(json!(1)),
                (n, AttrType::String) => json!(format!("{n}-of-{name}")),
            };
            (a.name.to_string(), v)
        })
        .collect()
}

#[async_trait]
impl Provider for FakeProvider {
    async fn read(&self, t: &Target) -> Result<Option<Live>, ProviderError> {
        let _g = self.enter("read", &t.logical, false).await?;
        Ok(self.find(t).map(|s| s.live))
    }

    async fn read_recorded(&self, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        let _g = self.enter("read", &d.logical, false).await?;
        Ok(lock(&self.store).get(&d.id).map(|s| s.live.clone()))
    }

    async fn create(&self, t: &Target) -> Result<Live, ProviderError> {
        let _g = self.enter("create", &t.logical, true).await?;
        if t.kind.is_lookup() {
            return Err(ProviderError::new(ErrorKind::Rejected, "fake:create", "lookups are never created"));
        }
        if t.kind != Kind::EcsTaskDefinition
            && t.kind != Kind::Elbv2Listener
            && self.find(&Target { id: None, ..t.clone() }).is_some()
        {
            return Err(ProviderError::new(
                ErrorKind::Rejected,
                "fake:create",
                format!("{} already exists", t.name.as_deref().unwrap_or(&t.logical)),
            )
            .with_code("AlreadyExists"));
        }
        let n = self.next_id.fetch_add(1, Ordering::SeqCst);
        let name = t.name.clone().unwrap_or_else(|| format!("{}-{n}", t.logical));
        let id = match t.kind {
            Kind::EcsTaskDefinition => format!("arn:fake:{}:{name}:{}", t.kind.as_str(), n + 1),
            _ => format!("arn:fake:{}:{name}:{n}", t.kind.as_str()),
        };
        let fields = desired_fields(&t.spec, t.name.as_deref());
        let attrs = attrs_for(t.kind, &id, &name, &fields);
        let live = Live { id: id.clone(), fields, attrs, tags: t.tags.clone(), uid: None };
        lock(&self.store).insert(id, Stored { logical: t.logical.clone(), kind: t.kind, live: live.clone() });
        _g.finish("create", Ok(live))
    }

    async fn update(&self, t: &Target, live: &Live, _changed: &[String]) -> Result<Live, ProviderError> {
        let _g = self.enter("update", &t.logical, true).await?;
        let mut store = lock(&self.store);
        let Some(old) = store.get(&live.id).cloned() else {
            return Err(ProviderError::new(ErrorKind::NotFound, "fake:update", format!("{} is gone", live.id)));
        };
        let fields = desired_fields(&t.spec, t.name.as_deref());
        let mut new = Live { fields, tags: t.tags.clone(), ..old.live.clone() };
        if t.kind == Kind::EcsTaskDefinition {
            // A new revision; the old one stays registered until deleted.
            let n = self.next_id.fetch_add(1, Ordering::SeqCst);
            let family = t.name.clone().unwrap_or_default();
            new.id = format!("arn:fake:{}:{family}:{}", t.kind.as_str(), n + 1);
            new.attrs.insert("arn".into(), json!(new.id));
            store.insert(new.id.clone(), Stored { live: new.clone(), ..old });
        } else {
            store.insert(live.id.clone(), Stored { live: new.clone(), ..old });
        }
        _g.finish("update", Ok(new))
    }

    async fn delete(&self, d: &Deletion) -> Result<(), ProviderError> {
        let _g = self.enter("delete", &d.logical, true).await?;
        lock(&self.store).remove(&d.id);
        _g.finish("delete", Ok(()))
    }

    async fn adopt(&self, t: &Target, live: &Live) -> Result<Live, ProviderError> {
        let _g = self.enter("adopt", &t.logical, true).await?;
        let mut store = lock(&self.store);
        let s = store.get_mut(&live.id).ok_or_else(|| ProviderError::new(ErrorKind::NotFound, "fake:adopt", "gone"))?;
        s.live.tags.extend(t.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        s.logical = t.logical.clone();
        Ok(s.live.clone())
    }

    async fn discover(&self, stack: &str, _known: &[String]) -> Result<Vec<Found>, ProviderError> {
        let _g = self.enter("discover", stack, false).await?;
        let store = lock(&self.store);
        Ok(store
            .values()
            .filter(|s| s.live.tags.get(TAG_STACK).map(String::as_str) == Some(stack))
            .filter_map(|s| {
                Some(Found {
                    kind: s.kind,
                    logical: s.live.tags.get(TAG_RESOURCE)?.clone(),
                    id: s.live.id.clone(),
                    name: s.live.fields.get(name_key(s.kind)).and_then(Value::as_str).map(str::to_string),
                    tags: s.live.tags.clone(),
                })
            })
            .collect())
    }
}
