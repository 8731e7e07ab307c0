//! A serde `Deserializer` over [`Node`] that keeps source locations.
//!
//! Every error leaves with the span of the node it is about: a type error
//! points at the value, an unknown field at its key, a missing field at the
//! key that holds the incomplete mapping. Unknown fields do not stop
//! deserialization: `deserialize_struct` knows the struct's field names, so
//! it reports every unknown key of a mapping (with the nearest valid name),
//! skips them, and goes on. Those reports collect in [`DeContext`].
//!
//! Serde's internally tagged and flattened representations buffer values
//! and lose locations, so moor's types avoid them: the resource `kind` is
//! dispatched by the loader, not by serde.

use super::node::{Node, NodeKind, Resolved, Span, Style};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

/// Name of the newtype through which [`crate::model::StrList`] announces
/// itself, so the loader knows which nodes may hold a list-valued reference.
pub const LIST_SLOT: &str = "__moor_list_slot";

#[derive(Debug, Clone, PartialEq)]
pub enum DeErrorKind {
    UnknownField { field: String, expected: Vec<&'static str> },
    MissingField(&'static str),
    InvalidType,
    InvalidValue,
    UnknownVariant { variant: String, expected: Vec<&'static str> },
    Custom,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    pub kind: DeErrorKind,
    pub message: String,
    pub span: Option<Span>,
    pub help: Option<String>,
}

impl DeError {
    fn at(mut self, span: Span) -> Self {
        if self.span.is_none() {
            self.span = Some(span);
        }
        self
    }

    /// Like [`DeError::at`], but leaves a missing field for the enclosing
    /// mapping to place at the key that holds the incomplete one.
    fn within(self, span: Span) -> Self {
        if matches!(self.kind, DeErrorKind::MissingField(_)) {
            self
        } else {
            self.at(span)
        }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError { kind: DeErrorKind::Custom, message: msg.to_string(), span: None, help: None }
    }
    fn invalid_type(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        DeError {
            kind: DeErrorKind::InvalidType,
            message: format!("expected {exp}, found {}", unexpected(&unexp)),
            span: None,
            help: None,
        }
    }
    fn invalid_value(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        DeError {
            kind: DeErrorKind::InvalidValue,
            message: format!("invalid value {}, expected {exp}", unexpected(&unexp)),
            span: None,
            help: None,
        }
    }
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError {
            kind: DeErrorKind::UnknownField { field: field.to_string(), expected: expected.to_vec() },
            message: format!("unknown field `{field}`"),
            span: None,
            help: None,
        }
    }
    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DeError {
            kind: DeErrorKind::UnknownVariant { variant: variant.to_string(), expected: expected.to_vec() },
            message: format!("unknown value `{variant}`"),
            span: None,
            help: None,
        }
    }
    fn missing_field(field: &'static str) -> Self {
        DeError {
            kind: DeErrorKind::MissingField(field),
            message: format!("missing field `{field}`"),
            span: None,
            help: None,
        }
    }
}

fn unexpected(u: &de::Unexpected) -> String {
    match u {
        de::Unexpected::Str(s) => format!("string \"{s}\""),
        de::Unexpected::Signed(i) => format!("integer {i}"),
        de::Unexpected::Unsigned(i) => format!("integer {i}"),
        de::Unexpected::Float(f) => format!("number {f}"),
        de::Unexpected::Bool(b) => format!("boolean {b}"),
        de::Unexpected::Map => "a mapping".into(),
        de::Unexpected::Seq => "a list".into(),
        de::Unexpected::Unit => "null".into(),
        other => other.to_string(),
    }
}

/// Shared by all deserializers of one load: errors that did not stop
/// deserialization, and the nodes that are list slots.
#[derive(Default)]
pub struct DeContext {
    pub soft_errors: RefCell<Vec<DeError>>,
    pub list_slots: RefCell<HashSet<Span>>,
}

/// Deserializes `T` from `node`. On success, soft errors (unknown fields)
/// may still have been recorded in `cx`.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &'de Node, cx: &'de DeContext) -> Result<T, DeError> {
    T::deserialize(NodeDe { node, cx }).map_err(|e| e.at(Span::new(node.span.start, node.span.start)))
}

pub struct NodeDe<'a> {
    pub node: &'a Node,
    pub cx: &'a DeContext,
}

impl<'a> NodeDe<'a> {
    fn invalid(&self, exp: &dyn de::Expected) -> DeError {
        let msg = format!("expected {exp}, found {}", self.node.type_name());
        let mut e = DeError { kind: DeErrorKind::InvalidType, message: msg, span: Some(self.node.span), help: None };
        if let NodeKind::Scalar(s, _) = &self.node.kind {
            if matches!(self.node.kind, NodeKind::Scalar(..)) && self.node.type_name() == "a string" {
                e.message = format!("expected {exp}, found string \"{s}\"");
            }
        }
        e
    }

    fn int(&self, exp: &dyn de::Expected) -> Result<i128, DeError> {
        match self.node.resolve() {
            Some(Resolved::Int(i)) => Ok(i128::from(i)),
            _ => Err(self.invalid(exp)),
        }
    }
}

struct Exp(&'static str);
impl de::Expected for Exp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

macro_rules! de_int {
    ($name:ident, $visit:ident, $ty:ty, $what:expr) => {
        fn $name<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
            let i = self.int(&Exp($what))?;
            match <$ty>::try_from(i) {
                Ok(x) => v.$visit(x).map_err(|e: DeError| e.at(self.node.span)),
                Err(_) => Err(DeError {
                    kind: DeErrorKind::InvalidValue,
                    message: format!("{i} is out of range for {}", $what),
                    span: Some(self.node.span),
                    help: None,
                }),
            }
        }
    };
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let span = self.node.span;
        let r: Result<V::Value, DeError> = match &self.node.kind {
            NodeKind::Map(_) => return self.deserialize_map(v),
            NodeKind::Seq(_) => return self.deserialize_seq(v),
            // Cannot fail: `resolve` answers for every scalar.
            NodeKind::Scalar(..) => match self.node.resolve().expect("scalar") {
                Resolved::Null => v.visit_unit(),
                Resolved::Bool(b) => v.visit_bool(b),
                Resolved::Int(i) => v.visit_i64(i),
                Resolved::Float(f) => v.visit_f64(f),
                Resolved::Str(s) => v.visit_str(s),
            },
        };
        r.map_err(|e: DeError| e.at(span))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.node.resolve() {
            Some(Resolved::Bool(b)) => v.visit_bool(b),
            _ => {
                let mut e = self.invalid(&Exp("a boolean (true or false)"));
                if let Some(s) = self.node.as_str() {
                    if matches!(s, "yes" | "no" | "on" | "off" | "Yes" | "No" | "y" | "n" | "Y" | "N") {
                        e.help = Some("stack files are YAML 1.2, where only true and false are booleans".into());
                    }
                }
                Err(e)
            }
        }
    }

    de_int!(deserialize_i8, visit_i8, i8, "an integer");
    de_int!(deserialize_i16, visit_i16, i16, "an integer");
    de_int!(deserialize_i32, visit_i32, i32, "an integer");
    de_int!(deserialize_i64, visit_i64, i64, "an integer");
    de_int!(deserialize_u8, visit_u8, u8, "a whole number up to 255");
    de_int!(deserialize_u16, visit_u16, u16, "a whole number up to 65535");
    de_int!(deserialize_u32, visit_u32, u32, "a whole number");
    de_int!(deserialize_u64, visit_u64, u64, "a whole number");

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(v)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.node.resolve() {
            Some(Resolved::Float(f)) => v.visit_f64(f),
            Some(Resolved::Int(i)) => v.visit_f64(i as f64),
            _ => Err(self.invalid(&Exp("a number"))),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    /// A string field takes any scalar but null: `name: 123` is the string
    /// "123", as most YAML tools read it.
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Scalar(s, style) => {
                if *style == Style::Plain && self.node.is_null() {
                    return Err(self.invalid(&Exp("a string")));
                }
                v.visit_str(s).map_err(|e: DeError| e.at(self.node.span))
            }
            _ => Err(self.invalid(&Exp("a string"))),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            v.visit_unit()
        } else {
            Err(self.invalid(&Exp("null")))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, DeError> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, v: V) -> Result<V::Value, DeError> {
        if name == LIST_SLOT {
            self.cx.list_slots.borrow_mut().insert(self.node.span);
        }
        let span = self.node.span;
        v.visit_newtype_struct(self).map_err(|e| e.at(span))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Seq(items) => {
                let span = self.node.span;
                v.visit_seq(SeqAccess { items: items.iter(), cx: self.cx }).map_err(|e| e.at(span))
            }
            _ => Err(self.invalid(&Exp("a list"))),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(self, _: &'static str, _: usize, v: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Map(entries) => v
                .visit_map(MapAccess {
                    entries: entries.iter().collect::<Vec<_>>().into_iter(),
                    value: None,
                    key_span: None,
                    cx: self.cx,
                })
                .map_err(|e: DeError| e.within(self.node.span)),
            _ => Err(self.invalid(&Exp("a mapping"))),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        let NodeKind::Map(entries) = &self.node.kind else {
            return Err(self.invalid(&Exp("a mapping")));
        };
        let mut keep = Vec::with_capacity(entries.len());
        let mut seen: Vec<&str> = Vec::new();
        for entry in entries {
            let key = entry.0.as_str().unwrap_or("");
            if !fields.contains(&key) {
                self.cx.soft_errors.borrow_mut().push(DeError {
                    kind: DeErrorKind::UnknownField { field: key.to_string(), expected: fields.to_vec() },
                    message: format!("unknown field `{key}`"),
                    span: Some(entry.0.span),
                    help: None,
                });
                continue;
            }
            if seen.contains(&key) {
                // Reported by the loader's duplicate-key check.
                continue;
            }
            seen.push(key);
            keep.push(entry);
        }
        v.visit_map(MapAccess { entries: keep.into_iter(), value: None, key_span: None, cx: self.cx })
            .map_err(|e: DeError| e.within(self.node.span))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Scalar(s, _) => {
                let span = self.node.span;
                v.visit_enum(s.as_str().into_deserializer()).map_err(|e: DeError| e.at(span))
            }
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (k, val) = (&entries[0].0, &entries[0].1);
                v.visit_enum(EnumAccess { key: k, value: val, cx: self.cx })
                    .map_err(|e: DeError| e.within(self.node.span))
            }
            _ => Err(self.invalid(&Exp("a name, or a mapping with exactly one key"))),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_unit()
    }
}

struct SeqAccess<'a, I> {
    items: I,
    cx: &'a DeContext,
}

impl<'de, I: Iterator<Item = &'de Node>> de::SeqAccess<'de> for SeqAccess<'de, I> {
    type Error = DeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            None => Ok(None),
            Some(node) => seed.deserialize(NodeDe { node, cx: self.cx }).map(Some).map_err(|e| e.at(node.span)),
        }
    }
}

struct MapAccess<'a, I> {
    entries: I,
    value: Option<&'a Node>,
    key_span: Option<Span>,
    cx: &'a DeContext,
}

impl<'de, I: Iterator<Item = &'de (Node, Node)>> de::MapAccess<'de> for MapAccess<'de, I> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            None => Ok(None),
            Some((k, v)) => {
                self.value = Some(v);
                self.key_span = Some(k.span);
                seed.deserialize(NodeDe { node: k, cx: self.cx }).map(Some).map_err(|e| e.at(k.span))
            }
        }
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, DeError> {
        // serde asks for a value only after its key (`next_key_seed` set both).
        let node = self.value.take().expect("value after key");
        let key_span = self.key_span.expect("key before value");
        seed.deserialize(NodeDe { node, cx: self.cx }).map_err(|e| {
            // A mapping that lacks a field is best shown by the key that
            // names the mapping.
            if matches!(e.kind, DeErrorKind::MissingField(_)) && e.span.is_none() {
                e.at(key_span)
            } else {
                e.at(node.span)
            }
        })
    }
}

struct EnumAccess<'a> {
    key: &'a Node,
    value: &'a Node,
    cx: &'a DeContext,
}

impl<'de> de::EnumAccess<'de> for EnumAccess<'de> {
    type Error = DeError;
    type Variant = VariantAccess<'de>;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self::Variant), DeError> {
        let v = seed.deserialize(NodeDe { node: self.key, cx: self.cx }).map_err(|e| e.at(self.key.span))?;
        Ok((v, VariantAccess { value: self.value, key: self.key, cx: self.cx }))
    }
}

struct VariantAccess<'a> {
    value: &'a Node,
    key: &'a Node,
    cx: &'a DeContext,
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'de> {
    type Error = DeError;
    fn unit_variant(self) -> Result<(), DeError> {
        if self.value.is_null() {
            Ok(())
        } else {
            Err(DeError {
                kind: DeErrorKind::InvalidType,
                message: format!("`{}` takes no value", self.key.as_str().unwrap_or("")),
                span: Some(self.value.span),
                help: None,
            })
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        let key_span = self.key.span;
        seed.deserialize(NodeDe { node: self.value, cx: self.cx }).map_err(|e| {
            if matches!(e.kind, DeErrorKind::MissingField(_)) && e.span.is_none() {
                e.at(key_span)
            } else {
                e.at(self.value.span)
            }
        })
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(NodeDe { node: self.value, cx: self.cx }, v)
    }
    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], v: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_struct(NodeDe { node: self.value, cx: self.cx }, "", fields, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::node::{parse, Limits};
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        port: u16,
        path: Option<String>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    fn span_text<'a>(src: &'a str, e: &DeError) -> &'a str {
        let s = e.span.unwrap();
        &src[s.start..s.end]
    }

    #[test]
    fn type_error_points_at_value() {
        let src = "name: x\ninner:\n  port: eighty\n";
        let n = parse(src, Limits::default()).unwrap();
        let cx = DeContext::default();
        let e = from_node::<Outer>(&n, &cx).unwrap_err();
        assert_eq!(span_text(src, &e), "eighty");
        assert!(e.message.contains("expected a whole number"), "{}", e.message);
    }

    #[test]
    fn every_unknown_field_is_recorded_and_skipped() {
        let src = "name: x\nnmae: y\ninner:\n  port: 80\n  pth: /x\n";
        let n = parse(src, Limits::default()).unwrap();
        let cx = DeContext::default();
        let o = from_node::<Outer>(&n, &cx).unwrap();
        assert_eq!(o.inner.port, 80);
        let soft = cx.soft_errors.borrow();
        let spans: Vec<_> = soft.iter().map(|e| span_text(src, e)).collect();
        assert_eq!(spans, ["nmae", "pth"]);
    }

    #[test]
    fn missing_field_points_at_owning_key() {
        let src = "name: x\ninner:\n  path: /x\n";
        let n = parse(src, Limits::default()).unwrap();
        let cx = DeContext::default();
        let e = from_node::<Outer>(&n, &cx).unwrap_err();
        assert_eq!(e.kind, DeErrorKind::MissingField("port"));
        assert_eq!(span_text(src, &e), "inner");
    }
}
