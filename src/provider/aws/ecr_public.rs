//! `ecr-public/repository`: ECR Public, whose API exists only in us-east-1
//! (its client always goes there, whatever the stack's region).
//!
//! A repository is described by name, and its tags, catalog data and
//! repository policy are read at the same time. Its URI is
//! `public.ecr.aws/<registry alias>/<name>`; the registry alias comes from
//! `DescribeRegistries`, read once per run (the first read asks, the others
//! wait for that answer). The ARN is built from the name
//! (`arn:aws:ecr-public::<account>:repository/<name>`), so the creation time
//! is the unique id ([`Live::uid`]).

use super::kinds::{ArnType, AwsKind, AwsManaged, Typed};
use super::permissions::{Grant, Phase, Scope};
use super::policy::{document_json, parse_document, project_document};
use super::{found, ok_if_gone, retry_for, sdk_err, tag_map, unresolved, AwsProvider};
use crate::kinds::ecr_public::{Catalog, PublicRepository};
use crate::model::common::{PolicyDocument, Tags};
use crate::provider::{Attrs, Deletion, ErrorKind, Fields, Live, ProviderError, Target};
use async_trait::async_trait;
use aws_sdk_ecrpublic::types::{RepositoryCatalogData, RepositoryCatalogDataInput, Tag};
use serde_json::{json, Value};
use std::time::Duration;

type SdkRepository = aws_sdk_ecrpublic::types::Repository;

/// A public repository as the service's batched read takes it.
pub(super) type Read<'a> = Typed<'a, PublicRepository>;

/// The host of every public image.
pub const PUBLIC_HOST: &str = "public.ecr.aws";

/// The repository name of `arn:aws:ecr-public::<account>:repository/<name>`.
fn name_of_arn(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "ecr-public" {
        return None;
    }
    parts[5].strip_prefix("repository/").filter(|n| !n.is_empty())
}

/// The name a target reads: the one in its recorded ARN, else its physical name.
fn wanted(t: &Target) -> Option<&str> {
    t.id.as_deref().and_then(name_of_arn).or(t.name.as_deref()).filter(|n| !unresolved(n))
}

/// The registry alias of the caller's public registry (its primary alias,
/// else its default one, else the first), read once per run.
async fn alias(p: &AwsProvider) -> Result<Option<String>, ProviderError> {
    p.ecr_public_alias
        .get_or_try_init(|| async {
            let out = p
                .ecr_public
                .describe_registries()
                .send()
                .await
                .map_err(|e| sdk_err("ecr-public:DescribeRegistries", e))?;
            let aliases: Vec<_> = out.registries().iter().flat_map(|r| r.aliases()).collect();
            let pick = aliases
                .iter()
                .find(|a| a.primary_registry_alias())
                .or_else(|| aliases.iter().find(|a| a.default_registry_alias()))
                .or_else(|| aliases.first());
            Ok(pick.map(|a| a.name().to_string()))
        })
        .await
        .cloned()
}

/// `public.ecr.aws/<alias>/<name>`; AWS's own `repositoryUri` when the
/// registry has no alias yet.
fn uri(alias: Option<&str>, r: &SdkRepository) -> String {
    match (alias, r.repository_name()) {
        (Some(a), Some(n)) => format!("{PUBLIC_HOST}/{a}/{n}"),
        _ => r.repository_uri().unwrap_or_default().to_string(),
    }
}

async fn describe(p: &AwsProvider, name: &str) -> Result<Option<SdkRepository>, ProviderError> {
    let out = found(
        p.ecr_public
            .describe_repositories()
            .repository_names(name)
            .send()
            .await
            .map_err(|e| sdk_err("ecr-public:DescribeRepositories", e)),
    )?;
    Ok(out.and_then(|o| o.repositories().iter().find(|r| r.repository_name() == Some(name)).cloned()))
}

async fn tags_of(p: &AwsProvider, arn: &str) -> Result<Option<Tags>, ProviderError> {
    let out = found(
        p.ecr_public
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_err("ecr-public:ListTagsForResource", e)),
    )?;
    Ok(out.map(|o| tag_map(o.tags().iter().map(|t| (t.key(), t.value())))))
}

/// Text as the file writes it: empty is unset.
fn text(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_string)
}

/// Catalog data in the file's form; `None` when it holds nothing.
fn catalog_of(c: Option<&RepositoryCatalogData>) -> Option<Catalog> {
    let c = c?;
    let cat = Catalog {
        description: text(c.description()),
        about: text(c.about_text()),
        usage: text(c.usage_text()),
        architectures: c.architectures().to_vec(),
        operating_systems: c.operating_systems().to_vec(),
    };
    (cat != Catalog::default()).then_some(cat)
}

async fn catalog_read(p: &AwsProvider, name: &str) -> Result<Option<Option<Catalog>>, ProviderError> {
    let out = found(
        p.ecr_public
            .get_repository_catalog_data()
            .repository_name(name)
            .send()
            .await
            .map_err(|e| sdk_err("ecr-public:GetRepositoryCatalogData", e)),
    )?;
    Ok(out.map(|o| catalog_of(o.catalog_data())))
}

/// The repository policy; `None` when it has none (or is gone).
async fn policy_read(p: &AwsProvider, name: &str) -> Result<Option<PolicyDocument>, ProviderError> {
    let out = found(
        p.ecr_public
            .get_repository_policy()
            .repository_name(name)
            .send()
            .await
            .map_err(|e| sdk_err("ecr-public:GetRepositoryPolicy", e)),
    )?;
    Ok(out.and_then(|o| o.policy_text().and_then(parse_document)))
}

/// What a repository's own calls tell: tags, catalog data, policy.
struct Details {
    tags: Tags,
    catalog: Option<Catalog>,
    policy: Option<PolicyDocument>,
}

/// The policy in the file's form: no policy is one without statements.
fn policy_value(policy: Option<PolicyDocument>, spec: Option<&PolicyDocument>) -> Value {
    let doc = match policy {
        Some(doc) => project_document(doc, spec),
        None => PolicyDocument { version: None, statements: Vec::new() },
    };
    serde_json::to_value(doc).expect("plain data, string keys: infallible")
}

/// A repository as moor reports it. The catalog and the policy are always
/// there (`null` and a policy without statements when it has none), so a
/// file that no longer sets one sees it go.
fn live_of(r: &SdkRepository, alias: Option<&str>, spec: Option<&PublicRepository>, d: Details) -> Live {
    let name = r.repository_name().unwrap_or_default();
    let arn = r.repository_arn().unwrap_or_default();
    let mut f = Fields::new();
    f.insert("name".into(), json!(name));
    f.insert("catalog".into(), serde_json::to_value(&d.catalog).expect("plain data, string keys: infallible"));
    f.insert("policy".into(), policy_value(d.policy, spec.and_then(|s| s.policy.as_ref())));
    let attrs = Attrs::from([
        ("name".to_string(), json!(name)),
        ("arn".to_string(), json!(arn)),
        ("uri".to_string(), json!(uri(alias, r))),
        ("registry_id".to_string(), json!(r.registry_id().unwrap_or_default())),
    ]);
    Live {
        id: arn.to_string(),
        fields: f,
        attrs,
        tags: d.tags,
        uid: r.created_at().and_then(|t| t.to_millis().ok()).map(|ms| ms.to_string()),
    }
}

/// Reads one repository by name: its description, the alias, tags, catalog
/// data and policy at the same time. `None` when it does not exist (or
/// went while it was read).
async fn read_named(
    p: &AwsProvider,
    name: &str,
    arn_hint: Option<&str>,
    spec: Option<&PublicRepository>,
) -> Result<Option<Live>, ProviderError> {
    // With a recorded ARN the tags are asked for at once; otherwise after
    // the description gives the ARN.
    let (described, alias, catalog, policy, early_tags) =
        futures::join!(describe(p, name), alias(p), catalog_read(p, name), policy_read(p, name), async {
            match arn_hint {
                Some(arn) => Some(tags_of(p, arn).await),
                None => None,
            }
        });
    let Some(r) = described? else { return Ok(None) };
    let arn = r.repository_arn().unwrap_or_default();
    let tags = match early_tags {
        Some(t) if arn_hint == Some(arn) => t?,
        _ => tags_of(p, arn).await?,
    };
    let (Some(tags), Some(catalog)) = (tags, catalog?) else { return Ok(None) };
    let d = Details { tags, catalog, policy: policy? };
    Ok(Some(live_of(&r, alias?.as_deref(), spec, d)))
}

/// Reads the repositories of many targets, each on its own (ECR Public's
/// DescribeRepositories fails as a whole when one name is missing), all at
/// the same time.
pub(super) async fn read_many(p: &AwsProvider, ts: &[Read<'_>]) -> Vec<Result<Option<Live>, ProviderError>> {
    futures::future::join_all(ts.iter().map(|t| async move {
        match wanted(t) {
            Some(name) => {
                read_named(p, name, t.id.as_deref().filter(|id| name_of_arn(id).is_some()), Some(t.spec)).await
            }
            None => Ok(None),
        }
    }))
    .await
}

fn gone(op: &str) -> ProviderError {
    ProviderError::new(ErrorKind::NotFound, op, "the public repository is gone")
}

fn not_named(op: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Rejected, op, "the public repository has no name")
}

/// The catalog data to send: every field, empty where the file sets none,
/// so a field the file no longer sets is cleared.
fn catalog_input(c: Option<&Catalog>) -> RepositoryCatalogDataInput {
    let c = c.cloned().unwrap_or_default();
    RepositoryCatalogDataInput::builder()
        .description(c.description.unwrap_or_default())
        .about_text(c.about.unwrap_or_default())
        .usage_text(c.usage.unwrap_or_default())
        .set_architectures(Some(c.architectures))
        .set_operating_systems(Some(c.operating_systems))
        .build()
}

async fn put_catalog(p: &AwsProvider, name: &str, c: Option<&Catalog>) -> Result<(), ProviderError> {
    p.ecr_public
        .put_repository_catalog_data()
        .repository_name(name)
        .catalog_data(catalog_input(c))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sdk_err("ecr-public:PutRepositoryCatalogData", e))
}

/// ECR refuses a policy naming a principal IAM has not propagated yet.
fn policy_not_ready(e: &ProviderError) -> bool {
    e.code.as_deref() == Some("InvalidParameterException") && e.message.contains("Invalid repository policy")
}

/// Sets the file's policy, or deletes the repository's when the file's has
/// no statements (or there is none).
async fn set_policy(p: &AwsProvider, name: &str, policy: Option<&PolicyDocument>) -> Result<(), ProviderError> {
    match policy.filter(|d| !d.statements.is_empty()) {
        Some(doc) => {
            let mut doc = doc.clone();
            doc.version.get_or_insert_with(|| "2012-10-17".into());
            let req = p.ecr_public.set_repository_policy().repository_name(name).policy_text(document_json(&doc));
            retry_for(
                // IAM takes seconds, at times a minute, to make a new role
                // known to other services.
                Duration::from_secs(60),
                || async {
                    req.clone().send().await.map(|_| ()).map_err(|e| sdk_err("ecr-public:SetRepositoryPolicy", e))
                },
                policy_not_ready,
            )
            .await
        }
        None => ok_if_gone(
            p.ecr_public
                .delete_repository_policy()
                .repository_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_err("ecr-public:DeleteRepositoryPolicy", e)),
        ),
    }
}

fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

async fn tag(p: &AwsProvider, arn: &str, want: &Tags, have: &Tags) -> Result<(), ProviderError> {
    super::retag(
        want,
        have,
        |remove| async move {
            let r = p.ecr_public.untag_resource().resource_arn(arn).set_tag_keys(Some(remove)).send().await;
            r.map(|_| ()).map_err(|e| sdk_err("ecr-public:UntagResource", e))
        },
        |set| async move {
            let r = p.ecr_public.tag_resource().resource_arn(arn).set_tags(Some(sdk_tags(&set))).send().await;
            r.map(|_| ()).map_err(|e| sdk_err("ecr-public:TagResource", e))
        },
    )
    .await
}

async fn read_back(p: &AwsProvider, name: &str, spec: &PublicRepository) -> Result<Live, ProviderError> {
    read_named(p, name, None, Some(spec)).await?.ok_or_else(|| gone("ecr-public:DescribeRepositories"))
}

/// Creates the repository with its catalog data and tags, then sets its
/// policy; the repository is as created and written, without reading it
/// all back.
async fn create(p: &AwsProvider, t: &Target, spec: &PublicRepository) -> Result<Live, ProviderError> {
    const OP: &str = "ecr-public:CreateRepository";
    let name = t.name.as_deref().ok_or_else(|| not_named(OP))?;
    let mut req = p.ecr_public.create_repository().repository_name(name).set_tags(Some(sdk_tags(&t.tags)));
    if spec.catalog.is_some() {
        req = req.catalog_data(catalog_input(spec.catalog.as_ref()));
    }
    let (out, alias) = futures::join!(req.send(), alias(p));
    let out = out.map_err(|e| sdk_err(OP, e))?;
    let repo =
        out.repository().ok_or_else(|| ProviderError::new(ErrorKind::Rejected, OP, "the answer has no repository"))?;
    if spec.policy.as_ref().is_some_and(|d| !d.statements.is_empty()) {
        set_policy(p, name, spec.policy.as_ref()).await?;
    }
    let d = Details {
        tags: t.tags.clone(),
        catalog: spec.catalog.clone().filter(|c| *c != Catalog::default()),
        policy: spec.policy.clone().filter(|d| !d.statements.is_empty()),
    };
    Ok(live_of(repo, alias?.as_deref(), Some(spec), d))
}

fn live_name<'a>(t: &'a Target, live: &'a Live) -> Option<&'a str> {
    live.attrs.get("name").and_then(Value::as_str).or(t.name.as_deref())
}

/// Catalog data, policy and tags change in place, one call each.
async fn update(
    p: &AwsProvider,
    t: &Target,
    spec: &PublicRepository,
    live: &Live,
    changed: &[String],
) -> Result<Live, ProviderError> {
    let name = live_name(t, live).ok_or_else(|| not_named("ecr-public:update"))?;
    let has = |f: &str| changed.iter().any(|c| c == f);
    if has("catalog") {
        put_catalog(p, name, spec.catalog.as_ref()).await?;
    }
    if has("policy") {
        set_policy(p, name, spec.policy.as_ref()).await?;
    }
    if has("tags") {
        tag(p, &live.id, &t.tags, &live.tags).await?;
    }
    read_back(p, name, spec).await
}

/// Deletes the repository (with its images under `--force` or
/// `empty_on_delete`); one already gone is deleted.
async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
    let Some(name) = name_of_arn(&d.id).or(d.name.as_deref()) else { return Ok(()) };
    let r = p
        .ecr_public
        .delete_repository()
        .repository_name(name)
        .force(d.force)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sdk_err("ecr-public:DeleteRepository", e));
    match r {
        Err(e) if e.code.as_deref() == Some("RepositoryNotEmptyException") => Err(ProviderError {
            message: "the public repository still holds images; set `empty_on_delete: true` on it to delete them \
                      with it, or run with --force"
                .into(),
            ..e
        }),
        other => ok_if_gone(other),
    }
}

#[async_trait]
impl AwsKind for PublicRepository {
    fn permissions(t: Typed<'_, Self>, at: &Scope) -> Vec<Grant> {
        let name = super::permissions::known(t.name.as_deref().or(t.spec.name.as_deref()).unwrap_or("*"));
        let repo = [at.global("ecr-public", &format!("repository/{name}"))];
        vec![
            Grant::any(Phase::Read, &["ecr-public:DescribeRegistries"], "the public registry is the account's"),
            Grant::on(
                Phase::Read,
                &[
                    "ecr-public:DescribeRepositories",
                    "ecr-public:GetRepositoryCatalogData",
                    "ecr-public:GetRepositoryPolicy",
                    "ecr-public:ListTagsForResource",
                ],
                repo.clone(),
            ),
            Grant::on(Phase::Create, &["ecr-public:CreateRepository"], repo.clone()),
            Grant::on(Phase::Create, &["ecr-public:TagResource"], repo.clone())
                .within(&["ecr-public:CreateRepository"]),
            Grant::on(
                Phase::Update,
                &[
                    "ecr-public:PutRepositoryCatalogData",
                    "ecr-public:SetRepositoryPolicy",
                    "ecr-public:DeleteRepositoryPolicy",
                ],
                repo.clone(),
            ),
            Grant::on(Phase::Tag, &["ecr-public:TagResource", "ecr-public:UntagResource"], repo.clone()),
            Grant::on(Phase::Delete, &["ecr-public:DeleteRepository"], repo),
        ]
    }

    const ARN_TYPE: Option<ArnType> = Some(ArnType { service: "ecr-public", resource: "repository" });

    fn name_of_arn(resource: &str) -> Option<String> {
        resource.strip_prefix("repository/").filter(|n| !n.is_empty()).map(str::to_string)
    }

    fn read_as(t: Typed<'_, Self>) -> super::kinds::Read<'_> {
        super::kinds::Read::EcrPublic(t)
    }

    async fn read_recorded(p: &AwsProvider, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        match name_of_arn(&d.id).or(d.name.as_deref()) {
            Some(name) => read_named(p, name, name_of_arn(&d.id).map(|_| d.id.as_str()), None).await,
            None => Ok(None),
        }
    }
}

#[async_trait]
impl AwsManaged for PublicRepository {
    async fn create(p: &AwsProvider, t: Typed<'_, Self>) -> Result<Live, ProviderError> {
        create(p, t.target, t.spec).await
    }

    async fn update(
        p: &AwsProvider,
        t: Typed<'_, Self>,
        live: &Live,
        changed: &[String],
    ) -> Result<Live, ProviderError> {
        update(p, t.target, t.spec, live, changed).await
    }

    async fn delete(p: &AwsProvider, d: &Deletion) -> Result<(), ProviderError> {
        delete(p, d).await
    }

    /// Adds this stack's tags to a repository that exists (it keeps its own).
    async fn adopt(p: &AwsProvider, t: Typed<'_, Self>, live: &Live) -> Result<Live, ProviderError> {
        let mut want = live.tags.clone();
        want.extend(t.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        tag(p, &live.id, &want, &live.tags).await?;
        let name = live_name(t.target, live).ok_or_else(|| not_named("ecr-public:TagResource"))?;
        read_back(p, name, t.spec).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_public_arns_only() {
        assert_eq!(name_of_arn("arn:aws:ecr-public::123456789012:repository/team/app"), Some("team/app"));
        assert_eq!(name_of_arn("arn:aws:ecr:us-east-1:123456789012:repository/team/app"), None);
        assert_eq!(name_of_arn("arn:aws:ecr-public::123456789012:repository/"), None);
        assert_eq!(name_of_arn("nonsense"), None);
    }
}
