//! `ecr-public/repository`: ECR Public, whose API exists only in us-east-1.

mod repository;

pub use repository::*;
