//! `logs/log_group`.

mod log_group;

pub use log_group::*;
