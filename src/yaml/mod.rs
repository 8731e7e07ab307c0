//! YAML with locations: a span-keeping tree and a serde deserializer over it.

mod de;
mod node;

pub use de::{from_node, DeContext, DeError, DeErrorKind, NodeDe, LIST_SLOT};
pub use node::{parse, resolve_plain, Limits, Node, NodeKind, ParseError, Resolved, Span, Style};
