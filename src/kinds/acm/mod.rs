//! `acm/certificate` and `acm/existing_certificate`.

mod certificate;
mod existing_certificate;

pub use certificate::*;
pub use existing_certificate::*;
