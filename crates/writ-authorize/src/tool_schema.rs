//! Typed per-tool actions: a Cedar schema fragment generated from pinned MCP tool definitions.
//!
//! Each tool `NAME` of upstream `SERVER` (resource `Tool::"SERVER/NAME"`) gets the action
//! `Action::"call_tool:SERVER/NAME"`, a member of `Action::"call_tool"`, whose `context.args`
//! is a record typed from the tool's JSON `inputSchema`. A bundle whose schema declares such an
//! action has every call of that tool decided under it (see [`crate::mapping`]); policies
//! written `action in Action::"call_tool"` keep applying to it through the action hierarchy.
//!
//! | JSON Schema | Cedar |
//! | --- | --- |
//! | `"string"` (also with `enum`, `format`, `pattern`) | `String` |
//! | `"integer"` | `Long` |
//! | `"boolean"` | `Bool` |
//! | `"object"` with `properties` | a record; members named in `required` are required, the rest optional (`?`) |
//! | `"array"` with `items` of a supported type | `Set<T>` (arrays become sets) |
//! | `[T, "null"]` | `T`, optional (`null` is left out of the context) |
//! | `"number"` | not declared: a JSON number is a `Long`, a `decimal` or a `String` in Cedar depending on its value (see [`crate::mapping`]), so no one type holds every call |
//! | anything else (`anyOf`, `$ref`, objects without `properties`, mixed types, nesting deeper than [`MAX_DEPTH`]) | not declared, with a comment saying why |
//!
//! An argument left undeclared is still passed to Cedar; strict validation lets no policy read
//! it, so a policy on it is refused at load instead of failing at call time. Declare it by hand
//! in another schema file if a policy must read it.

use std::fmt::Write as _;

use serde_json::Value;

/// The prefix of a per-tool action id: `call_tool:` followed by the tool resource's name.
pub const TOOL_ACTION_PREFIX: &str = "call_tool:";

/// How deep object and array types are followed; deeper members are left undeclared.
pub const MAX_DEPTH: usize = 8;

/// The per-tool action id of tool resource `SERVER/NAME` (`call_tool:SERVER/NAME`).
pub fn tool_action_id(tool: &str) -> String {
    format!("{TOOL_ACTION_PREFIX}{tool}")
}

/// A Cedar string literal of `s`, quoted and escaped so any text (quotes, backslashes, control
/// characters, any Unicode) reads back as itself.
pub fn cedar_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || !c.is_ascii() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A comment's text on one line: no line breaks survive into the schema.
fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The Cedar type of a JSON Schema, or why there is none. `Ok((type, nullable))`.
fn cedar_type(schema: &Value, depth: usize, indent: usize) -> Result<(String, bool), String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested deeper than {MAX_DEPTH} levels"));
    }
    let Some(obj) = schema.as_object() else {
        return Err("its schema is not an object".into());
    };
    for unsupported in ["anyOf", "oneOf", "allOf", "not", "$ref", "if"] {
        if obj.contains_key(unsupported) {
            return Err(format!("`{unsupported}` has no Cedar type"));
        }
    }
    let (ty, nullable) = match obj.get("type") {
        Some(Value::String(t)) => (t.as_str(), false),
        Some(Value::Array(ts)) => {
            let named: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
            let non_null: Vec<&str> = named.iter().copied().filter(|t| *t != "null").collect();
            match non_null.as_slice() {
                [one] if named.len() == ts.len() => (*one, non_null.len() < named.len()),
                _ => return Err("a value of several types has no one Cedar type".into()),
            }
        }
        Some(_) => return Err("`type` is neither a name nor a list of names".into()),
        None => return Err("no `type`".into()),
    };
    let cedar = match ty {
        "string" => "String".to_owned(),
        "integer" => "Long".to_owned(),
        "boolean" => "Bool".to_owned(),
        "number" => {
            return Err(
                "a JSON number is a Long, a decimal or a String in Cedar depending on its value"
                    .into(),
            );
        }
        "array" => {
            let items = obj.get("items").ok_or("an array without `items`")?;
            let (inner, _) =
                cedar_type(items, depth + 1, indent).map_err(|why| format!("its items: {why}"))?;
            format!("Set<{inner}>")
        }
        "object" => {
            let Some(Value::Object(props)) = obj.get("properties") else {
                return Err("an object without `properties` (free-form keys)".into());
            };
            let required: Vec<&str> = obj
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            record_type(props, &required, depth, indent)
        }
        other => return Err(format!("JSON type {other:?} has no Cedar type")),
    };
    Ok((cedar, nullable))
}

/// A Cedar record type of JSON Schema `properties`, one member a line, at `indent`.
fn record_type(
    props: &serde_json::Map<String, Value>,
    required: &[&str],
    depth: usize,
    indent: usize,
) -> String {
    if props.is_empty() {
        return "{}".to_owned();
    }
    let pad = "  ".repeat(indent + 1);
    let mut out = String::from("{\n");
    let mut names: Vec<&String> = props.keys().collect();
    names.sort();
    for name in names {
        let Some(schema) = props.get(name) else {
            continue;
        };
        match cedar_type(schema, depth + 1, indent + 1) {
            Ok((ty, nullable)) => {
                let optional = nullable || !required.contains(&name.as_str());
                let mark = if optional { "?" } else { "" };
                let _ = writeln!(out, "{pad}{}{mark}: {ty},", cedar_string(name));
            }
            Err(why) => {
                let _ = writeln!(
                    out,
                    "{pad}// {}: not declared ({})",
                    comment_text(&cedar_string(name)),
                    comment_text(&why)
                );
            }
        }
    }
    let _ = write!(out, "{}}}", "  ".repeat(indent));
    out
}

/// The action declaration of one tool: its id under `server` and its typed context.
fn tool_action(server: &str, name: &str, definition: &Value) -> String {
    let id = tool_action_id(&format!("{server}/{name}"));
    let (args, note) = match definition.get("inputSchema").map(|s| cedar_type(s, 0, 2)) {
        Some(Ok((ty, _))) if ty.starts_with('{') => (ty, None),
        Some(Ok(_)) => (
            "{}".to_owned(),
            Some("inputSchema is not an object".to_owned()),
        ),
        Some(Err(why)) => ("{}".to_owned(), Some(format!("inputSchema: {why}"))),
        None => ("{}".to_owned(), Some("no inputSchema".to_owned())),
    };
    let note = note
        .map(|n| format!("\n    // no argument declared: {}", comment_text(&n)))
        .unwrap_or_default();
    format!(
        "// Tool {tool} of upstream {server_lit}.\n\
         action {id_lit} in [\"call_tool\"] appliesTo {{\n  \
           principal: [Agent, Human, Service],\n  \
           resource: [Tool],\n  \
           context: {{\n    \
             now: Long,\n    \
             env: Env,\n    \
             args: {args},{note}\n    \
             lineage?: Lineage,\n    \
             on_behalf_of: Set<String>,\n  \
           }},\n\
         }};\n",
        tool = comment_text(&cedar_string(name)),
        server_lit = comment_text(&cedar_string(server)),
        id_lit = cedar_string(&id),
    )
}

/// A Cedar schema fragment declaring one action per tool of upstream `server`, for a bundle
/// that also holds the default schema (it names `Agent`, `Tool`, `Env`, `Lineage` from there).
/// `tools` are (name, whole definition as pinned), in any order; the output is sorted by name.
pub fn tool_actions_fragment<'a>(
    server: &str,
    tools: impl IntoIterator<Item = (&'a str, &'a Value)>,
) -> String {
    let mut tools: Vec<(&str, &Value)> = tools.into_iter().collect();
    tools.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = format!(
        "// Per-tool actions of upstream {}, generated from its pinned tool definitions by\n\
         // `writ policy schema --from-pins`. Each action is a member of Action::\"call_tool\":\n\
         // policies written `action in Action::\"call_tool\"` apply to every tool call; a\n\
         // policy on one tool's action reads that tool's typed arguments (context.args).\n\
         // Load it beside the default schema (writ.cedarschema), which declares the types used.\n",
        comment_text(&cedar_string(server))
    );
    for (name, definition) in tools {
        out.push('\n');
        out.push_str(&tool_action(server, name, definition));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_are_quoted_so_they_read_back_as_themselves() {
        assert_eq!(cedar_string("fs/read"), r#""fs/read""#);
        assert_eq!(cedar_string("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(cedar_string("é\u{1}"), r#""\u{e9}\u{1}""#);
    }

    #[test]
    fn json_schema_types_map_to_cedar_types() {
        let t = |s: Value| cedar_type(&s, 0, 0);
        assert_eq!(t(json!({"type": "string"})), Ok(("String".into(), false)));
        assert_eq!(t(json!({"type": "integer"})), Ok(("Long".into(), false)));
        assert_eq!(t(json!({"type": "boolean"})), Ok(("Bool".into(), false)));
        assert_eq!(
            t(json!({"type": ["string", "null"]})),
            Ok(("String".into(), true))
        );
        assert_eq!(
            t(json!({"type": "array", "items": {"type": "string"}})),
            Ok(("Set<String>".into(), false))
        );
        for refused in [
            json!({"type": "number"}),
            json!({"type": ["string", "integer"]}),
            json!({"anyOf": [{"type": "string"}]}),
            json!({"type": "object"}),
            json!({"type": "array"}),
            json!({"type": "frob"}),
            json!({"type": 3}),
            json!("string"),
            json!({}),
        ] {
            assert!(t(refused.clone()).is_err(), "{refused}");
        }
    }

    #[test]
    fn deep_nesting_is_left_undeclared_not_followed() {
        let mut s = json!({"type": "string"});
        for _ in 0..(MAX_DEPTH + 4) {
            s = json!({"type": "array", "items": s});
        }
        assert!(cedar_type(&s, 0, 0).is_err());
    }
}
