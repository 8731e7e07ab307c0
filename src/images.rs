//! Container images by digest.
//!
//! A kind names the images it runs ([`crate::kinds::KindSpec::images`]).
//! While observing, the provider resolves those in a registry it reads (ECR
//! of the account and region) to the digest their tag points at now
//! ([`crate::provider::Provider::image_digests`]); the others are left as
//! written. The plan then registers a pinned image as `<repository>@<digest>`:
//! a tag that moved since the last apply is a change of what runs, shown in
//! the plan, and a saved plan applies exactly the digest it showed. An image
//! missing from its repository, or in a repository this plan creates (it
//! holds nothing yet), is a problem of the plan when a resource that starts
//! it wants tasks ([`crate::kinds::KindSpec::runs_images`]).
//!
//! Images of ECR Public (`public.ecr.aws/<alias>/<name>:<tag>`, as an
//! `ecr-public/repository`'s `${repo.uri}:<tag>` makes them) are left as
//! written, by tag: anyone pulls them without credentials, most belong to
//! other publishers, whose images ECR Public's DescribeImages does not show
//! (it reads only the caller's own registry), and its API exists only in
//! us-east-1, so resolving even the caller's own would add calls to another
//! region to every plan for a tag its publisher moves on purpose.

use crate::model::Stack;
use crate::provider::Target;
use crate::resolve::{resolve_value, Known};
use serde_json::Value;
use std::collections::BTreeMap;

/// An image a resource's spec names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUse {
    /// Where the spec sets it: `["containers", "0", "image"]`.
    pub at: Vec<String>,
    /// As the spec says it (references resolved when it is resolved).
    pub image: String,
    /// Registered by digest (rather than by tag as written).
    pub pin: bool,
    /// What uses it, in words: "container `web`".
    pub what: String,
}

/// What the registry says of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// The digest (`sha256:…`) its tag points at.
    Digest(String),
    /// Not there: why, in words ("no image tagged `v2` in repository `app`").
    Missing(String),
}

/// An image the plan registers by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The resource that names it.
    pub resource: String,
    /// As the resolved spec names it (by tag).
    pub image: String,
    /// The digest its tag points at.
    pub digest: String,
}

/// Image (as the resolved spec names it) → what its registry says. Images
/// no provider reads are not in it.
pub type Images = BTreeMap<String, Resolved>;

/// The images of the stack's resources, their references resolved with
/// `known`; those still holding an unknown reference are left out.
pub fn wanted(stack: &Stack, known: &Known) -> Vec<String> {
    let mut out: Vec<String> = stack
        .resources
        .iter()
        .flat_map(|r| r.spec.as_dyn().images())
        .filter_map(|u| match resolve_value(&Value::String(u.image), known) {
            (Value::String(s), false) if !s.is_empty() => Some(s),
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `image` without its tag (or digest): `<registry>/<repository>`.
pub fn repository(image: &str) -> &str {
    if let Some((r, _)) = image.split_once('@') {
        return r;
    }
    let last = image.rfind('/').map_or(0, |i| i + 1);
    match image[last..].rfind(':') {
        Some(i) => &image[..last + i],
        None => image,
    }
}

/// The image pinned to `digest`: `<registry>/<repository>@<digest>`.
pub fn pinned(image: &str, digest: &str) -> String {
    format!("{}@{digest}", repository(image))
}

/// The tag an image names (`latest` when it names none), or `None` for
/// one given by digest.
pub fn tag(image: &str) -> Option<&str> {
    if image.contains('@') {
        return None;
    }
    let repo = repository(image);
    Some(image.get(repo.len() + 1..).filter(|t| !t.is_empty()).unwrap_or("latest"))
}

/// The image as a plan names it: the repository without its registry
/// host, and the tag (`course/flask-app:latest`).
pub fn short_name(image: &str) -> String {
    let repo = repository(image);
    let path = match repo.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') => rest,
        _ => repo,
    };
    match tag(image) {
        Some(t) => format!("{path}:{t}"),
        None => path.to_string(),
    }
}

/// A digest as a text plan shows it: `sha256:` and 12 hex digits.
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => format!("{alg}:{}…", &hex[..12]),
        _ => digest.to_string(),
    }
}

/// The pinned images of a resolved target, as `(as written, pinned)`.
pub fn pins(t: &Target, images: &Images) -> Vec<(String, String)> {
    t.spec
        .as_dyn()
        .images()
        .into_iter()
        .filter(|u| u.pin && tag(&u.image).is_some())
        .filter_map(|u| match images.get(&u.image) {
            Some(Resolved::Digest(d)) => {
                let p = pinned(&u.image, d);
                Some((u.image, p))
            }
            _ => None,
        })
        .collect()
}

/// Why a resource whose `pins` are registered changes, as live has them:
/// for each pinned image live does not run, "tag `latest` of
/// `course/flask-app` now points at sha256:…" (live runs another digest of
/// its repository), or "`course/flask-app:latest` is pinned to sha256:…"
/// (live runs it by tag, or something else).
pub fn moved(pins: &[(String, String)], live: &crate::provider::Live) -> Vec<String> {
    let text = serde_json::to_string(&live.fields).unwrap_or_default();
    pins.iter()
        .filter(|(_, pinned)| !text.contains(&format!("\"{pinned}\"")))
        .map(|(image, pinned)| {
            let digest = short_digest(pinned.rsplit_once('@').map_or("", |(_, d)| d));
            let repo = repository(image);
            let name = short_name(image);
            let (path, tag) = name.rsplit_once(':').unwrap_or((&name, "latest"));
            if text.contains(&format!("\"{repo}@")) {
                format!("tag `{tag}` of `{path}` now points at {digest}")
            } else {
                format!("`{name}` is pinned to {digest}")
            }
        })
        .collect()
}

/// Pins the target's images that are to be registered by digest to the
/// digest in `images`; the others stay as written.
pub fn pin(t: &mut Target, images: &Images) {
    let uses: Vec<ImageUse> = t.spec.as_dyn().images();
    let mut v = match serde_json::to_value(&t.spec) {
        Ok(v) => v,
        Err(_) => return,
    };
    let mut changed = false;
    for u in uses.iter().filter(|u| u.pin && tag(&u.image).is_some()) {
        let Some(Resolved::Digest(d)) = images.get(&u.image) else { continue };
        if let Some(slot) = at_mut(&mut v, &u.at) {
            *slot = Value::String(pinned(&u.image, d));
            changed = true;
        }
    }
    if changed {
        if let Ok(spec) = t.kind.spec_from_json(v) {
            t.spec = spec;
        }
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, k| match v {
        Value::Object(m) => m.get_mut(k),
        Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

/// `file:line:column` of the node at `at` in resource `logical` (of the
/// nearest node above it that the file has).
pub fn locate(stack: &Stack, logical: &str, at: &[String]) -> String {
    let file = &stack.file;
    let key = stack.resource(logical).map(|r| r.key_span.start).unwrap_or(0);
    let mut offset = key;
    if let Ok(root) = crate::yaml::parse(&file.text, crate::yaml::Limits::default()) {
        let mut path: Vec<&str> = vec!["resources", logical];
        path.extend(at.iter().map(String::as_str));
        for len in (2..=path.len()).rev() {
            if let Some(n) = root.path(&path[..len]) {
                offset = n.span.start;
                break;
            }
        }
    }
    let (line, col) = file.line_col(offset);
    format!("{}:{line}:{col}", file.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    #[test]
    fn images_split_into_repository_tag_and_pin() {
        let img = format!("{ECR}/course/flask-app:latest");
        assert_eq!(repository(&img), format!("{ECR}/course/flask-app"));
        assert_eq!(tag(&img), Some("latest"));
        assert_eq!(tag(&format!("{ECR}/app")), Some("latest"), "no tag is latest");
        assert_eq!(tag(&format!("{ECR}/app@sha256:ab")), None);
        assert_eq!(repository("localhost:5000/app:1"), "localhost:5000/app");
        assert_eq!(pinned(&img, "sha256:00ff"), format!("{ECR}/course/flask-app@sha256:00ff"));
        assert_eq!(short_name(&img), "course/flask-app:latest");
        assert_eq!(short_name("nginx:1.27"), "nginx:1.27");
        assert_eq!(short_digest(&format!("sha256:{}", "a".repeat(64))), "sha256:aaaaaaaaaaaa…");
    }
}
