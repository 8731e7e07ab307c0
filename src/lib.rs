//! moor: provision AWS container stacks from one declarative YAML file.
//!
//! The pipeline, one module per stage:
//! [`yaml`] (text → tree with spans) → [`load`] (tree → typed, checked
//! [`model::Stack`], every mistake as a [`diag::Diag`]) → [`graph`]
//! (dependency DAG) → [`cli`].

// `yaml::DeError` carries a span, a help line and the names a typo is
// matched against; it is built only on the error path, so its size is not
// worth a box on every `Result`.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod backend;
pub mod checks;
pub mod cli;
pub mod cost;
pub mod diag;
pub mod difftree;
pub mod discover;
pub mod ecr_login;
pub mod events;
pub mod expr;
pub mod fieldpath;
pub mod graph;
pub mod images;
pub mod interrupt;
pub mod jsonplan;
pub mod kinds;
pub mod load;
pub mod manpages;
pub mod mdplan;
pub mod model;
pub mod observe;
pub mod plan;
pub mod planfile;
pub mod policy_cmd;
pub mod preflight;
pub mod progress;
pub mod provider;
pub mod region;
pub mod render;
pub mod resolve;
pub mod run;
pub mod schema;
pub mod secret;
pub mod state;
pub mod state_cmd;
pub mod targets;
pub mod text;
pub mod trace;
pub mod validate;
pub mod yaml;
