//! The JSON Schema of the stack file, generated from the Rust types.
//!
//! `schemas/stack.schema.json` is this function's output; a test fails when
//! the committed file is stale. Regenerate it with
//! `moor schema > schemas/stack.schema.json`.

use crate::load::StackFile;
use crate::model::Kind;
use schemars::{generate::SchemaSettings, JsonSchema, Schema};
use serde_json::{json, Map, Value};

/// One resource: `kind` picks the fields.
pub struct ResourceSchema;

impl JsonSchema for ResourceSchema {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Resource".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> Schema {
        let mut variants = Vec::new();
        for kind in Kind::ALL {
            let mut s = kind.schema(g).to_value();
            // The schemas below are fixed by the types, not by input, and the
            // generated schema is checked whole by tests/schema.rs: a spec is
            // a struct (an object schema, with `properties` and `required`).
            let obj = s.as_object_mut().expect("kind schemas are objects");
            let props = obj.entry("properties").or_insert_with(|| json!({}));
            let props = props.as_object_mut().expect("properties is an object");
            let mut with_kind = Map::new();
            with_kind.insert("kind".into(), json!({ "const": kind.as_str(), "description": "The resource kind." }));
            with_kind.insert(
                "depends_on".into(),
                json!({
                    "description": "Resources to create before this one, beyond those it references.",
                    "type": "array",
                    "items": { "type": "string" }
                }),
            );
            with_kind.insert(
                "ignore_changes".into(),
                json!({
                    "description": "Fields of this resource, or paths into them (`containers.web.image`, `containers.*.image` for every container, `tags.CostCenter`), that are set at create and then left to another tool: differences there are neither planned nor applied.",
                    "type": "array",
                    "items": { "type": "string" }
                }),
            );
            with_kind.extend(std::mem::take(props));
            *props = with_kind;
            let req = obj.entry("required").or_insert_with(|| json!([]));
            req.as_array_mut().expect("required is a list").insert(0, json!("kind"));
            obj.insert("title".into(), json!(kind.as_str()));
            obj.insert("additionalProperties".into(), json!(false));
            variants.push(s);
        }
        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        // `if`/`then` per kind gives editors one clear set of fields to
        // complete and check, where `oneOf` would report every variant.
        let branches: Vec<Value> = variants
            .into_iter()
            .zip(&kinds)
            .map(
                |(v, k)| json!({ "if": { "properties": { "kind": { "const": k } }, "required": ["kind"] }, "then": v }),
            )
            .collect();
        // Cannot fail: the value is an object.
        Schema::try_from(json!({
            "type": "object",
            "required": ["kind"],
            "properties": { "kind": { "enum": kinds } },
            "allOf": branches
        }))
        .expect("object schema")
    }
}

const VAR_PATTERN: &str = r"^\$\{\s*var\.[A-Za-z][A-Za-z0-9_]*\s*\}$";

/// The stack file schema as pretty JSON, ending in a newline.
pub fn stack_schema_json() -> String {
    let g = SchemaSettings::draft07().into_generator();
    let schema = g.into_root_schema_for::<StackFile<ResourceSchema>>();
    let mut v = schema.to_value();
    allow_variables(&mut v);
    // Cannot fail: a root schema of a struct is an object, and a JSON value
    // always serializes.
    let obj = v.as_object_mut().expect("root is an object");
    obj.insert("$id".into(), json!("https://moor.dev/schemas/stack.schema.json"));
    obj.insert("title".into(), json!("moor stack file"));
    let mut s = serde_json::to_string_pretty(&v).expect("serializable");
    s.push('\n');
    s
}

/// Numbers, booleans, lists and named values (enums) may also be written
/// as one `${var.name}`, which the loader replaces with the variable's typed
/// value. A string field also takes a number or boolean (`matcher: 200`),
/// which the loader reads as its text.
fn allow_variables(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (_, child) in map.iter_mut() {
                allow_variables(child);
            }
            let is = |t: &str| match map.get("type") {
                Some(Value::String(s)) => s == t,
                Some(Value::Array(ts)) => ts.iter().any(|x| x == t),
                _ => false,
            };
            let typed = ["integer", "boolean", "number", "array"].iter().any(|t| is(t)) || map.contains_key("enum");
            let plain_string = is("string") && !map.contains_key("pattern") && !map.contains_key("enum");
            if plain_string {
                let mut types = vec![json!("string"), json!("number"), json!("boolean")];
                if is("null") {
                    types.push(json!("null"));
                }
                map.insert("type".into(), Value::Array(types));
            } else if typed {
                let description = map.remove("description");
                let inner = Value::Object(std::mem::take(map));
                map.insert("anyOf".into(), json!([inner, { "type": "string", "pattern": VAR_PATTERN }]));
                if let Some(d) = description {
                    map.insert("description".into(), d);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(allow_variables),
        _ => {}
    }
}
