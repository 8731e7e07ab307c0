//! `ecr/repository` and the `ecr/existing_repository` lookup.

mod existing_repository;
mod repository;

pub use existing_repository::*;
pub use repository::*;

/// What a repository exports, made or looked up.
pub(crate) const REPOSITORY_ATTRIBUTES: &[crate::kinds::Attr] = &[
    crate::kinds::Attr::string("name", "repository name"),
    crate::kinds::Attr::string("arn", "repository ARN"),
    crate::kinds::Attr::string(
        "uri",
        "registry URI to push and pull, `<account>.dkr.ecr.<region>.amazonaws.com/<name>`",
    ),
    crate::kinds::Attr::string("registry_id", "AWS account id of the registry"),
];
