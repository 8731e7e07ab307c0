//! `ecr-public/repository`.

use crate::kinds::{Attr, Contents, KindSpec, Naming};
use crate::model::check::{Checker, NameRule};
use crate::model::common::{PolicyDocument, Tags};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only region that serves ECR Public's API: every public repository is
/// made there, whatever the stack's region.
pub const PUBLIC_REGION: &str = "us-east-1";

/// A public ECR repository (ECR Public, `public.ecr.aws/<alias>/<name>`),
/// which anyone may pull from. ECR Public's API exists only in us-east-1, so
/// the repository is made there whatever the stack's region.
///
/// `moor import` takes the repository's ARN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicRepository {
    /// Repository name, may be namespaced (`team/widget-server`); lower case,
    /// 2–205 characters. Defaults to `<stack>/<logical name>`. Changing it
    /// replaces the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the ECR Public Gallery shows about the repository; changed in
    /// place. Left out, moor leaves the catalog data as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<Catalog>,
    /// The repository policy (who may push, for example): statements in the
    /// form of `ecr/repository`'s `policy`. Changed in place; left out, moor
    /// leaves the policy as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyDocument>,
    /// Delete the images with the repository on destroy. Without it, destroy
    /// stops at a repository that still holds images.
    #[serde(default)]
    pub empty_on_delete: bool,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

/// A public repository's catalog data.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// A short description, up to 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The "About" section, in Markdown, up to 25600 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    /// The "Usage" section, in Markdown, up to 25600 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
    /// The architectures its images support, as AWS names them: `ARM`,
    /// `ARM 64`, `x86`, `x86-64`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    /// The operating systems its images support: `Linux`, `Windows`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operating_systems: Vec<String>,
}

/// The architectures ECR Public's catalog accepts.
pub const ARCHITECTURES: [&str; 4] = ["ARM", "ARM 64", "x86", "x86-64"];
/// The operating systems ECR Public's catalog accepts.
pub const OPERATING_SYSTEMS: [&str; 2] = ["Linux", "Windows"];
/// The longest description ECR Public accepts.
pub const DESCRIPTION_MAX: usize = 1024;
/// The longest about and usage texts ECR Public accepts.
pub const TEXT_MAX: usize = 25600;

pub const NAME: NameRule = NameRule {
    what: "ECR Public repository name",
    max: 205,
    charset: |c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c),
    charset_text: "lower-case letters, digits, `.`, `_`, `-` and `/` between path parts",
    extra: Some(crate::kinds::ecr::ecr_name_shape),
};

impl KindSpec for PublicRepository {
    const KIND: &'static str = "ecr-public/repository";
    const ATTRIBUTES: &'static [Attr] = &[
        Attr::string("name", "repository name"),
        Attr::string("arn", "repository ARN, `arn:aws:ecr-public::<account>:repository/<name>`"),
        Attr::string(
            "uri",
            "image URI to push and pull, `public.ecr.aws/<registry alias>/<name>`; a container's `image: ${repo.uri}:<tag>` runs it by tag",
        ),
        Attr::string("registry_id", "AWS account id of the registry"),
    ];
    const NAMING: Option<Naming> = Some(Naming { max: 205, separator: '/', lowercase: true, no_underscore: false });
    const REPLACE_ON: &'static [&'static str] = &["name"];
    const DELETE_RANK: u8 = 5;
    /// The statements of its repository policy, in the order the file gives them.
    const ORDERED_LISTS: &'static [&'static str] = &["statements"];
    const CONTENTS: Option<Contents> = Some(Contents { one: "image", many: "images", empty_field: "empty_on_delete" });

    fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn deletes_contents(&self) -> bool {
        self.empty_on_delete
    }

    fn validate(&self, c: &mut Checker) {
        if let Some(name) = &self.name {
            NAME.check(c, &["name"], name);
        }
        let Some(cat) = &self.catalog else { return };
        for (field, text, max) in [
            ("description", &cat.description, DESCRIPTION_MAX),
            ("about", &cat.about, TEXT_MAX),
            ("usage", &cat.usage, TEXT_MAX),
        ] {
            let Some(text) = text else { continue };
            let len = text.chars().count();
            if len > max && !text.contains("${") {
                c.error(
                    "moor::ecr-public-catalog",
                    &["catalog", field],
                    format!("the catalog's `{field}` is {len} characters long; ECR Public takes at most {max}"),
                    format!("at most {max} characters"),
                );
            }
        }
        for (field, values, allowed, what) in [
            ("architectures", &cat.architectures, &ARCHITECTURES[..], "architecture"),
            ("operating_systems", &cat.operating_systems, &OPERATING_SYSTEMS[..], "operating system"),
        ] {
            for (i, v) in values.iter().enumerate() {
                if allowed.contains(&v.as_str()) || v.contains("${") {
                    continue;
                }
                let idx = i.to_string();
                c.error(
                    "moor::ecr-public-catalog",
                    &["catalog", field, &idx],
                    format!("ECR Public's catalog knows no {what} `{}`", crate::text::abbreviate(v)),
                    crate::diag::did_you_mean(v, allowed, what),
                )
                .help = Some(format!(
                    "use {}, spelled as AWS lists them",
                    allowed.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }

    /// A stack in another region may declare one: it is made in us-east-1,
    /// which the warning says.
    fn cross_check(&self, r: &crate::model::Resource, x: &mut crate::validate::Cross<'_>) {
        let Some(region) = x.stack.region.clone().filter(|r| r != PUBLIC_REGION) else { return };
        let mut c = x.checker(r);
        c.warning(
            "moor::ecr-public-region",
            &[],
            format!("`{}` is made in {PUBLIC_REGION}, not in the stack's region {region}", r.name),
            "an ECR Public repository",
        )
        .help = Some(format!(
            "ECR Public's API exists only in {PUBLIC_REGION}; its images are pulled from `public.ecr.aws` in every region"
        ));
    }
}

#[cfg(test)]
mod tests {
    fn load(text: &str) -> crate::load::Loaded {
        crate::load::load_str("s.yaml", text, &Default::default())
    }

    #[test]
    fn a_stack_in_another_region_is_told_the_repository_is_made_in_us_east_1() {
        let text =
            |region: &str| format!("stack: s\nregion: {region}\nresources:\n  pub:\n    kind: ecr-public/repository\n");
        let l = load(&text("eu-west-1"));
        assert!(!l.has_errors());
        let w: Vec<_> = l.diags.iter().filter(|d| d.code == "moor::ecr-public-region").collect();
        assert_eq!(w.len(), 1, "{:?}", l.diags);
        assert!(w[0].message.contains("made in us-east-1, not in the stack's region eu-west-1"), "{}", w[0].message);
        let l = load(&text("us-east-1"));
        assert!(l.diags.iter().all(|d| d.code != "moor::ecr-public-region"), "{:?}", l.diags);
    }

    #[test]
    fn catalog_values_are_as_aws_lists_them() {
        let text = "stack: s\nresources:\n  pub:\n    kind: ecr-public/repository\n    catalog:\n      architectures: [ARM 64, x86-64]\n      operating_systems: [Linux]\n";
        let l = load(text);
        assert!(!l.has_errors(), "{:?}", l.diags);
    }
}
