//! moor: provision AWS container stacks from one declarative YAML file.
//!
//! The pipeline, one module per stage:
//! [`yaml`] (text → tree with spans) → [`load`] (tree → typed, checked
//! [`model::Stack`], every mistake as a [`diag::Diag`]) → [`graph`]
//! (dependency DAG) → [`cli`].

pub mod cli;
pub mod diag;
pub mod expr;
pub mod graph;
pub mod load;
pub mod model;
pub mod schema;
pub mod validate;
pub mod yaml;
