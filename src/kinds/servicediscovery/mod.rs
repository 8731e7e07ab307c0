//! `servicediscovery/http_namespace`.

mod http_namespace;

pub use http_namespace::*;
