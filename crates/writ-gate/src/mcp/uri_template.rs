//! RFC 6570 URI templates (levels 1 to 4) as anchored regular expressions: which URIs a pinned
//! resource template (`resources/templates/list`) can expand to, so `resources/read` of such a
//! URI is pin-checked against the template.
//!
//! A variable's value is matched by what its operator lets an expansion contain (RFC 6570 §3.2):
//! simple (`{x}`), label (`{.x}`), path (`{/x}`), parameter (`{;x}`) and query (`{?x}`, `{&x}`)
//! expansions hold only unreserved characters, percent-encoded octets and the operator's own
//! separators, so `{id}` never matches a `/` and a path segment never climbs out with `/../`
//! spelled as separators; reserved (`{+x}`) and fragment (`{#x}`) expansions may hold reserved
//! characters too. Any variable may be undefined (its expansion is then empty). A template that
//! is not valid RFC 6570 is an error, and then matches nothing (fail closed).

use regex::Regex;

/// Unreserved characters and percent-encoded octets (one character's worth).
const U: &str = r"(?:[A-Za-z0-9\-._~]|%[0-9A-Fa-f]{2})";
/// Unreserved, reserved and percent-encoded (one character's worth).
const R: &str = r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})";

/// Why a URI template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest template accepted (longer ones are refused, not compiled).
const MAX_TEMPLATE: usize = 4096;

fn is_varchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '%' || c == '.'
}

/// Checks one variable list (`name`, `name:3`, `name*`, comma separated).
fn check_varlist(list: &str) -> Result<(), TemplateError> {
    for spec in list.split(',') {
        let name = if let Some(n) = spec.strip_suffix('*') {
            n
        } else if let Some((n, len)) = spec.split_once(':') {
            let ok = !len.is_empty()
                && len.len() <= 4
                && len.chars().all(|c| c.is_ascii_digit())
                && !len.starts_with('0');
            if !ok {
                return Err(TemplateError(format!("bad prefix length in {spec:?}")));
            }
            n
        } else {
            spec
        };
        if name.is_empty() || !name.chars().all(is_varchar) || name.starts_with('.') {
            return Err(TemplateError(format!("bad variable name {name:?}")));
        }
    }
    Ok(())
}

/// The regular expression (without anchors) matching any expansion of one expression.
fn expression(body: &str) -> Result<String, TemplateError> {
    let mut chars = body.chars();
    let (op, list) = match chars.next() {
        Some(c @ ('+' | '#' | '.' | '/' | ';' | '?' | '&')) => (Some(c), chars.as_str()),
        Some('=' | ',' | '!' | '@' | '|') => {
            return Err(TemplateError(format!(
                "operator reserved for future extensions in {{{body}}}"
            )));
        }
        _ => (None, body),
    };
    check_varlist(list)?;
    // Values of list and associative-array variables are joined by `,` (or by the operator's
    // separator when exploded); `=` joins exploded names and values.
    Ok(match op {
        None => format!("(?:{U}|,|=)*"),
        Some('+') => format!("{R}*"),
        Some('#') => format!("(?:#{R}*)?"),
        Some('.') => format!(r"(?:\.(?:{U}|,|=)*)*"),
        Some('/') => format!("(?:/(?:{U}|,|=)*)*"),
        Some(';') => format!("(?:;(?:{U}|,|=)*)*"),
        Some('?') => format!(r"(?:\?(?:{U}|,|=)*(?:&(?:{U}|,|=)*)*)?"),
        _ => format!("(?:&(?:{U}|,|=)*)*"),
    })
}

/// The anchored regular expression matching exactly the URIs `template` can expand to.
pub fn to_regex(template: &str) -> Result<Regex, TemplateError> {
    if template.len() > MAX_TEMPLATE {
        return Err(TemplateError(format!(
            "a URI template of {} bytes (at most {MAX_TEMPLATE})",
            template.len()
        )));
    }
    let mut pattern = String::from("^");
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        let (literal, tail) = rest.split_at(i);
        pattern.push_str(&regex::escape(literal));
        let Some(after) = tail.strip_prefix('{') else {
            return Err(TemplateError(format!("unmatched '}}' in {template:?}")));
        };
        let Some((body, next)) = after.split_once('}').filter(|(b, _)| !b.contains('{')) else {
            return Err(TemplateError(format!("unclosed '{{' in {template:?}")));
        };
        pattern.push_str(&expression(body)?);
        rest = next;
    }
    pattern.push_str(&regex::escape(rest));
    pattern.push('$');
    Regex::new(&pattern).map_err(|e| TemplateError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(t: &str, uri: &str) -> bool {
        to_regex(t).unwrap().is_match(uri)
    }

    #[test]
    fn level_one_variables_stay_in_their_segment() {
        let t = "test://static/resource/{id}";
        assert!(matches(t, "test://static/resource/7"));
        assert!(matches(t, "test://static/resource/a%2Fb"));
        assert!(!matches(t, "test://static/resource/7/../../secret"));
        assert!(!matches(t, "test://static/resource/a/b"));
        assert!(!matches(t, "test://static/other/7"));
        assert!(!matches(t, "xtest://static/resource/7"));
        // Literal text is literal: `.` is not "any character".
        assert!(!matches("file:///a.txt", "file:///abtxt"));
    }

    #[test]
    fn operators_of_levels_two_to_four() {
        assert!(matches("file:///{+path}", "file:///etc/passwd"));
        assert!(!matches("file:///root/{path}", "file:///root/etc/passwd"));
        assert!(matches("http://x{/seg*}", "http://x/a/b/c"));
        assert!(matches("http://x{/seg*}", "http://x"));
        assert!(matches("http://x/y{?q,lang}", "http://x/y?q=1&lang=en"));
        assert!(matches("http://x/y{?q}{&r}", "http://x/y?q=1&r=2"));
        assert!(!matches("http://x/y{?q}", "http://x/y?q=1/../z"));
        assert!(matches("a{.ext}", "a.tar.gz"));
        assert!(matches("a{;p}", "a;p=1"));
        assert!(matches("a{#frag}", "a#x/y"));
        assert!(matches("repo://{owner}/{name:3}", "repo://me/abc"));
    }

    #[test]
    fn an_invalid_template_is_an_error() {
        for t in [
            "a{",
            "a}",
            "a{}",
            "a{=x}",
            "a{x:0}",
            "a{x:12345}",
            "a{x y}",
            "a{{x}}",
        ] {
            assert!(to_regex(t).is_err(), "{t}");
        }
        assert!(to_regex(&"a".repeat(MAX_TEMPLATE + 1)).is_err());
    }
}
