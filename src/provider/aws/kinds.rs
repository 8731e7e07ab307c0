//! Each kind's AWS provider behind typed traits, and the dispatch to them.
//!
//! A kind's provider is its spec type implementing [`AwsKind`] (how it is
//! read, by which service's batched read, how its ARNs look) and either
//! [`AwsManaged`] (create, update, delete, adopt, and settle and
//! unrecorded versions where the kind has them) or [`AwsLookup`] (reads
//! only). Every method takes the kind's own [`Typed`] target, so the spec
//! of one kind cannot reach another kind's provider: there is nothing to
//! check, and no "wrong kind" error, at run time.
//!
//! `impl Provider for AwsProvider` is generated from the kinds registry
//! ([`crate::for_each_kind!`]), each `match` exhaustive: a kind without its
//! provider is a compile error that names its spec type ("the trait bound
//! `LogGroup: AwsManaged` is not satisfied"). A lookup's create, update,
//! delete and adopt are never called on its provider; the dispatch answers
//! them with an error saying the kind is a lookup.
//!
//! Reads are batched by service, not by kind (ELBv2's tags and IAM's
//! account listings span kinds, ECS describes the services of a cluster
//! together): [`services!`] is the one list of services, and each kind's
//! [`AwsKind::read_as`] says which service reads it and how.

use super::permissions::{Grant, Scope};
use super::{
    acm, appautoscaling, discover, ec2, ecr, ecr_public, ecs, elbv2, iam, logs, route53, servicediscovery, vpc,
    AwsProvider,
};
use crate::kinds::KindSpec;
use crate::model::{Kind, Spec};
use crate::provider::{Deletion, ErrorKind, Found, Live, Provider, ProviderError, Target};
use async_trait::async_trait;

/// A target of one kind: the [`Target`], and its spec as the kind's own type.
pub(crate) struct Typed<'a, S> {
    pub target: &'a Target,
    pub spec: &'a S,
}

impl<S> Clone for Typed<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Typed<'_, S> {}

impl<S> std::ops::Deref for Typed<'_, S> {
    type Target = Target;
    fn deref(&self) -> &Target {
        self.target
    }
}

/// How a kind's resources look in an ARN, for finding them by their tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ArnType {
    /// The ARN's service (`ecs`, `elasticloadbalancing`).
    pub service: &'static str,
    /// The resource type the ARN's resource part starts with
    /// (`service` in `service/<cluster>/<name>`).
    pub resource: &'static str,
}

/// What every kind's AWS provider does: read.
#[async_trait]
pub(crate) trait AwsKind: KindSpec {
    /// How this kind's ARNs look; `None` for kinds never found by their
    /// tags (lookups).
    const ARN_TYPE: Option<ArnType> = None;

    /// The id moor uses for a resource of this kind found by its ARN
    /// (`resource` is the ARN's part after its fifth colon): the ARN itself,
    /// unless the kind's id is something else (a security group's `sg-…`).
    fn id_of_arn(arn: &str, _resource: &str) -> Option<String> {
        Some(arn.to_string())
    }

    /// The physical name in an ARN's resource part, for kinds with one.
    fn name_of_arn(_resource: &str) -> Option<String> {
        None
    }

    /// The target as its service's batched read takes it.
    fn read_as(t: Typed<'_, Self>) -> Read<'_>;

    /// Reads a recorded resource by its id. `Ok(None)` when it is gone.
    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError>;

    /// The IAM permissions moor needs for this resource, per phase, scoped
    /// as tightly as AWS allows (see [`super::permissions`]).
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant>;

    /// The resource's ARN (a pattern where AWS adds an id), where it is
    /// known before the apply: references to it resolve to it in
    /// `moor policy`.
    fn arn_pattern(_t: Typed<'_, Self>, _at: &Scope) -> Option<String> {
        None
    }
}

/// A kind moor creates and manages. See [`Provider`] for each call's contract.
#[async_trait]
pub(crate) trait AwsManaged: AwsKind {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError>;
    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError>;
    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError>;
    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError>;

    async fn settle(
        _p: &AwsProvider,
        _t: Typed<'_, Self>,
        live: &Live,
        _redeploy: bool,
    ) -> Result<Live, ProviderError> {
        Ok(live.clone())
    }

    async fn unrecorded(
        _p: &AwsProvider,
        _d: &Deletion,
        _stack: &str,
        _known: &[String],
    ) -> Result<Vec<Live>, ProviderError> {
        Ok(Vec::new())
    }
}

/// A read-only lookup: found, read, never changed.
pub(crate) trait AwsLookup: AwsKind {}

/// What a target's read gives when its service's batched read gave no
/// result for it: an error naming the target, never a panic.
fn answered(t: &Target, r: Option<Result<Option<Live>, ProviderError>>) -> Result<Option<Live>, ProviderError> {
    r.unwrap_or_else(|| {
        let what = t.name.as_deref().unwrap_or(&t.logical);
        Err(ProviderError::new(
            ErrorKind::Rejected,
            "moor:read",
            format!("{} `{what}`: the batched read gave no result for it", t.kind),
        ))
    })
}

/// The error of a change asked of a lookup (the engine never asks one).
pub(crate) fn lookup_only(kind: Kind, op: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::Rejected,
        format!("moor:{op}"),
        format!("{kind} is a lookup: moor reads it and never creates, changes or deletes it"),
    )
}

/// The services, each with its batched read (`read_many`, taking its own
/// `Read` requests), in the order their reads start: EC2 first, because
/// security groups and target groups wait for the VPC lookups, so their
/// calls go out (and are answered) first. A new service is one line here.
macro_rules! services {
    ($($module:ident => $variant:ident,)*) => {
        /// One target, as the service that reads it takes it.
        pub(crate) enum Read<'a> {
            $($variant($module::Read<'a>),)*
        }

        /// Reads one target: a batch of one. `None` only if its service's
        /// read broke its promise of one result per target.
        async fn read_one(p: &AwsProvider, r: Read<'_>) -> Option<Result<Option<Live>, ProviderError>> {
            match r {
                $(Read::$variant(r) => $module::read_many(p, &[r]).await.pop(),)*
            }
        }

        /// Groups the reads by service; each service reads its group with as
        /// few calls as its API allows, and the groups run at the same time.
        /// Results are in the order of `reads`, one for each (`None` where a
        /// service's read broke its promise of one result per target).
        /// `labels` name each read's resource, for the call trace.
        async fn read_by_service(p: &AwsProvider, reads: Vec<Read<'_>>, labels: &[&str]) -> Vec<Option<Result<Option<Live>, ProviderError>>> {
            #[derive(Default)]
            struct Groups<'a> {
                $($module: (Vec<usize>, Vec<$module::Read<'a>>),)*
            }
            let n = reads.len();
            let mut g = Groups::default();
            for (i, r) in reads.into_iter().enumerate() {
                match r {
                    $(Read::$variant(r) => {
                        g.$module.0.push(i);
                        g.$module.1.push(r);
                    })*
                }
            }
            let label = |ix: &[usize]| crate::trace::names(ix.iter().filter_map(|i| labels.get(*i).copied()));
            let ($($module,)*) = futures::join!($(crate::trace::about(label(&g.$module.0), $module::read_many(p, &g.$module.1)),)*);
            let mut out: Vec<Option<Result<Option<Live>, ProviderError>>> = (0..n).map(|_| None).collect();
            $(for (i, r) in g.$module.0.iter().zip($module) {
                out[*i] = Some(r);
            })*
            out
        }
    };
}

services! {
    ec2 => Ec2,
    ecr => Ecr,
    iam => Iam,
    elbv2 => Elbv2,
    ecs => Ecs,
    logs => Logs,
    ecr_public => EcrPublic,
    acm => Acm,
    route53 => Route53,
    vpc => Vpc,
    appautoscaling => AppAutoScaling,
    servicediscovery => ServiceDiscovery,
}

/// A change of a managed kind's provider; for a lookup, the error saying it
/// is one (and a compile-time check that the lookup has its provider).
macro_rules! change {
    (managed, $ty:ty, $kind:expr, $op:literal, $call:expr) => {
        $call
    };
    (lookup, $ty:ty, $kind:expr, $op:literal, $call:expr) => {{
        fn is_lookup<T: AwsLookup>() {}
        is_lookup::<$ty>();
        Err(lookup_only($kind, $op))
    }};
}

/// What a lookup answers where a managed kind's provider is asked
/// (settle, unrecorded).
macro_rules! managed_or {
    (managed, $call:expr, $otherwise:expr) => {
        $call
    };
    (lookup, $call:expr, $otherwise:expr) => {
        $otherwise
    };
}

/// How a kind's ARNs look, for [`discover`].
pub(crate) struct ArnKind {
    pub kind: Kind,
    pub arn_type: ArnType,
    pub id: fn(&str, &str) -> Option<String>,
    pub name: fn(&str) -> Option<String>,
}

macro_rules! aws_dispatch {
    ($($variant:ident => $ty:ty, $role:ident;)*) => {
        /// The target as its service's batched read takes it.
        fn read_as(t: &Target) -> Read<'_> {
            match &t.spec {
                $(Spec::$variant(spec) => <$ty as AwsKind>::read_as(Typed { target: t, spec }),)*
            }
        }

        /// The permissions of a target's kind for it.
        pub(crate) fn permissions_of(t: &Target, at: &Scope) -> Vec<Grant> {
            match &t.spec {
                $(Spec::$variant(spec) => <$ty as AwsKind>::permissions(Typed { target: t, spec }, at),)*
            }
        }

        /// A target's ARN (or pattern), where it is known before the apply.
        pub(crate) fn arn_of(t: &Target, at: &Scope) -> Option<String> {
            match &t.spec {
                $(Spec::$variant(spec) => <$ty as AwsKind>::arn_pattern(Typed { target: t, spec }, at),)*
            }
        }

        /// The kinds found by their tags, with how their ARNs look.
        pub(crate) fn arn_kinds() -> impl Iterator<Item = ArnKind> {
            [$(<$ty as AwsKind>::ARN_TYPE.map(|arn_type| ArnKind {
                kind: Kind::$variant,
                arn_type,
                id: <$ty as AwsKind>::id_of_arn,
                name: <$ty as AwsKind>::name_of_arn,
            }),)*]
            .into_iter()
            .flatten()
        }

        #[async_trait]
        impl Provider for AwsProvider {
            async fn read(&self, t: &Target) -> Result<Option<Live>, ProviderError> {
                answered(t, crate::trace::about(t.logical.as_str(), read_one(self, read_as(t))).await)
            }

            async fn read_many(&self, ts: &[Target]) -> Vec<Result<Option<Live>, ProviderError>> {
                let labels: Vec<&str> = ts.iter().map(|t| t.logical.as_str()).collect();
                let got = read_by_service(self, ts.iter().map(read_as).collect(), &labels).await;
                ts.iter().zip(got).map(|(t, r)| answered(t, r)).collect()
            }

            async fn image_digests(&self, images: &[String]) -> Result<crate::images::Images, ProviderError> {
                super::ecs::image_digests(self, images).await
            }

            async fn repository_storage(
                &self,
                arns: &[String],
            ) -> std::collections::BTreeMap<String, Result<crate::cost::Stored, ProviderError>> {
                super::ecr::repository_storage(self, arns).await
            }

            async fn read_recorded(&self, d: &Deletion) -> Result<Option<Live>, ProviderError> {
                crate::trace::about(d.logical.as_str(), async {
                    match d.kind {
                        $(Kind::$variant => <$ty as AwsKind>::read_recorded(self, d).await,)*
                    }
                }).await
            }

            async fn create(&self, t: &Target) -> Result<Live, ProviderError> {
                crate::trace::about(t.logical.as_str(), async { match &t.spec {
                    $(Spec::$variant(_spec) => change!($role, $ty, t.kind, "create",
                        <$ty as AwsManaged>::create(self, Typed { target: t, spec: _spec }).await),)*
                } }).await
            }

            async fn update(&self, t: &Target, live: &Live, changed: &[String]) -> Result<Live, ProviderError> {
                crate::trace::about(t.logical.as_str(), async { match &t.spec {
                    $(Spec::$variant(_spec) => change!($role, $ty, t.kind, "update",
                        <$ty as AwsManaged>::update(self, Typed { target: t, spec: _spec }, live, changed).await),)*
                } }).await
            }

            async fn delete(&self, d: &Deletion) -> Result<(), ProviderError> {
                crate::trace::about(d.logical.as_str(), async { match d.kind {
                    $(Kind::$variant => change!($role, $ty, d.kind, "delete",
                        <$ty as AwsManaged>::delete(self, d).await),)*
                } }).await
            }

            async fn settle(&self, t: &Target, live: &Live, _redeploy: bool) -> Result<Live, ProviderError> {
                crate::trace::about(t.logical.as_str(), async { match &t.spec {
                    $(Spec::$variant(_spec) => managed_or!($role,
                        <$ty as AwsManaged>::settle(self, Typed { target: t, spec: _spec }, live, _redeploy).await,
                        Ok(live.clone())),)*
                } }).await
            }

            async fn unrecorded(&self, d: &Deletion, _stack: &str, _known: &[String]) -> Result<Vec<Live>, ProviderError> {
                crate::trace::about(d.logical.as_str(), async { match d.kind {
                    $(Kind::$variant => managed_or!($role,
                        <$ty as AwsManaged>::unrecorded(self, d, _stack, _known).await,
                        Ok(Vec::new())),)*
                } }).await
            }

            async fn adopt(&self, t: &Target, live: &Live) -> Result<Live, ProviderError> {
                crate::trace::about(t.logical.as_str(), async { match &t.spec {
                    $(Spec::$variant(_spec) => change!($role, $ty, t.kind, "adopt",
                        <$ty as AwsManaged>::adopt(self, Typed { target: t, spec: _spec }, live).await),)*
                } }).await
            }

            async fn discover(&self, stack: &str, known: &[String]) -> Result<Vec<Found>, ProviderError> {
                crate::trace::about(format!("tagged moor:stack={stack}"), discover::discover(self, stack, known)).await
            }
        }
    };
}

crate::for_each_kind!(aws_dispatch);

#[cfg(test)]
mod tests {
    use super::*;

    /// A target its service's read gave no result for is an error that
    /// names it; a result is passed on as it is.
    #[test]
    fn a_target_left_unanswered_is_an_error_naming_it() {
        let text = "stack: s\nresources:\n  app:\n    kind: logs/log_group\n    name: /ecs/s/app\n";
        let loaded = crate::load::load_str("s.yaml", text, &Default::default());
        let stack = loaded.stack.expect("a stack");
        let state = crate::state::State::new("s", None);
        let t = crate::plan::target(&stack, "app", &Default::default(), &state).0;
        let e = answered(&t, None).expect_err("no result");
        assert_eq!((e.kind, e.operation.as_str()), (ErrorKind::Rejected, "moor:read"));
        assert!(e.message.starts_with("logs/log_group `/ecs/s/app`"), "{}", e.message);
        assert_eq!(answered(&t, Some(Ok(None))).expect("passed on"), None);
    }
}
