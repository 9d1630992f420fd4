//! `writ proof viewer`: the Governance Proof Viewer as one self-contained HTML file that
//! verifies a dropped or pasted bundle with no network at all.
//!
//! Built at run time from the console assets embedded in the binary
//! (`writ_server::ui::assets()`), so it is the same code as `/ui/proof`. The ES modules reachable
//! from `lib/proof-standalone.js` are joined by a tiny loader: each module becomes a function
//! scope, run once in dependency order, whose `export`ed names are returned in an object;
//! each `import { a, b as c } from "./x.js"` becomes `const { a, b: c } = modules["x.js"]`.
//! Only the forms the console uses are accepted (named imports, `import * as`, side-effect
//! imports, `export function|async function|class|const|let NAME`); anything else is an error,
//! so a new form is noticed rather than mistranslated. The page's policy is a
//! `<meta http-equiv="Content-Security-Policy">` with `default-src 'none'` and the SHA-256 of
//! the inline script and style, so the file runs under a policy as strict as the console's.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// The module the standalone file starts from.
pub const ENTRY: &str = "lib/proof-standalone.js";

/// The embedded asset `path` (under `ui/`) as text.
fn asset(path: &str) -> anyhow::Result<&'static str> {
    let a = writ_server::ui::assets()
        .iter()
        .find(|a| a.path == path)
        .with_context(|| format!("no console asset {path} in this build"))?;
    std::str::from_utf8(a.body).with_context(|| format!("{path} is not UTF-8"))
}

/// `spec` (relative, like `./x.js` or `../verify/y.js`) resolved against the module `from`.
fn resolve(from: &str, spec: &str) -> anyhow::Result<String> {
    if !(spec.starts_with("./") || spec.starts_with("../")) {
        bail!("{from}: only relative imports can be inlined, not {spec:?}");
    }
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for seg in spec.split('/') {
        match seg {
            "." | "" => {}
            ".." => {
                if parts.pop().is_none() {
                    bail!("{from}: {spec:?} leaves ui/");
                }
            }
            s => parts.push(s),
        }
    }
    Ok(parts.join("/"))
}

/// One import statement of a module.
enum Import {
    /// `import "x"`: run for its effect.
    Effect(String),
    /// `import { a, b as c } from "x"`: the `a` and `b: c` bindings.
    Named(String, Vec<(String, String)>),
    /// `import * as ns from "x"`.
    Namespace(String, String),
}

fn ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// The quoted module specifier at the end of `s` (`"x";` or `'x';`).
fn specifier(s: &str) -> Option<String> {
    let s = s.trim().strip_suffix(';')?.trim();
    let q = s.chars().last()?;
    if q != '"' && q != '\'' {
        return None;
    }
    let inner = s.get(..s.len() - 1)?;
    let start = inner.rfind(q)?;
    inner.get(start + 1..).map(str::to_owned)
}

fn parse_import(module: &str, stmt: &str) -> anyhow::Result<Import> {
    let flat = stmt.split_whitespace().collect::<Vec<_>>().join(" ");
    let bad = || anyhow::anyhow!("{module}: cannot inline {flat:?}");
    let rest = flat.strip_prefix("import ").ok_or_else(bad)?;
    let spec = specifier(rest).ok_or_else(bad)?;
    if rest.starts_with('"') || rest.starts_with('\'') {
        return Ok(Import::Effect(spec));
    }
    let (what, _) = rest.rsplit_once(" from ").ok_or_else(bad)?;
    if let Some(ns) = what.strip_prefix("* as ") {
        let ns = ns.trim();
        return if ident(ns) {
            Ok(Import::Namespace(spec, ns.to_owned()))
        } else {
            Err(bad())
        };
    }
    let inner = what
        .trim()
        .strip_prefix('{')
        .and_then(|w| w.strip_suffix('}'))
        .ok_or_else(bad)?;
    let mut names = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (from, to) = match part.split_once(" as ") {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        if !ident(from) || !ident(to) {
            return Err(bad());
        }
        names.push((from.to_owned(), to.to_owned()));
    }
    Ok(Import::Named(spec, names))
}

/// A module's imports, its body with `import` lines removed and `export` keywords stripped,
/// and its exported names.
struct Parsed {
    imports: Vec<Import>,
    body: String,
    exports: Vec<String>,
}

fn parse_module(path: &str, text: &str) -> anyhow::Result<Parsed> {
    let mut imports = Vec::new();
    let mut body = String::with_capacity(text.len());
    let mut exports = Vec::new();
    let mut stmt: Option<String> = None;
    for line in text.lines() {
        if let Some(s) = stmt.as_mut() {
            s.push(' ');
            s.push_str(line);
            if line.trim_end().ends_with(';') {
                imports.push(parse_import(path, s)?);
                stmt = None;
            }
            body.push('\n');
            continue;
        }
        if line.starts_with("import ") || line == "import" {
            if line.trim_end().ends_with(';') {
                imports.push(parse_import(path, line)?);
            } else {
                stmt = Some(line.to_owned());
            }
            body.push('\n');
            continue;
        }
        if let Some(rest) = line.strip_prefix("export ") {
            let decl = ["async function ", "function ", "class ", "const ", "let "]
                .iter()
                .find_map(|k| rest.strip_prefix(k))
                .with_context(|| format!("{path}: cannot inline {line:?}"))?;
            let name: String = decl
                .trim_start_matches('*')
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '$')
                .collect();
            if !ident(&name) {
                bail!("{path}: cannot inline {line:?}");
            }
            exports.push(name);
            body.push_str(rest);
            body.push('\n');
            continue;
        }
        body.push_str(line);
        body.push('\n');
    }
    if stmt.is_some() {
        bail!("{path}: an import statement does not end");
    }
    Ok(Parsed {
        imports,
        body,
        exports,
    })
}

/// Emits `path` after every module it imports (depth first; `seen` stops cycles and repeats).
fn emit(
    path: &str,
    seen: &mut BTreeSet<String>,
    active: &mut Vec<String>,
    out: &mut String,
) -> anyhow::Result<()> {
    if active.iter().any(|a| a == path) {
        bail!("an import cycle through {path}");
    }
    if !seen.insert(path.to_owned()) {
        return Ok(());
    }
    active.push(path.to_owned());
    let parsed = parse_module(path, asset(path)?)?;
    let mut prelude = String::new();
    for imp in &parsed.imports {
        let (spec, bind) = match imp {
            Import::Effect(spec) => (spec, None),
            Import::Named(spec, names) => {
                let list: Vec<String> = names
                    .iter()
                    .map(|(a, b)| {
                        if a == b {
                            a.clone()
                        } else {
                            format!("{a}: {b}")
                        }
                    })
                    .collect();
                (spec, Some(format!("{{ {} }}", list.join(", "))))
            }
            Import::Namespace(spec, ns) => (spec, Some(ns.clone())),
        };
        let dep = resolve(path, spec)?;
        emit(&dep, seen, active, out)?;
        if let Some(bind) = bind {
            let _ = writeln!(prelude, "const {bind} = __writ_modules[{dep:?}];");
        }
    }
    active.pop();
    let _ = writeln!(out, "// ---- {path}");
    let _ = writeln!(out, "__writ_modules[{path:?}] = (() => {{");
    out.push_str(&prelude);
    out.push_str(&parsed.body);
    let _ = writeln!(
        out,
        "return Object.freeze({{ {} }});\n}})();",
        parsed.exports.join(", ")
    );
    Ok(())
}

/// The script of the standalone file: every module reachable from `entry`, joined.
pub fn script(entry: &str) -> anyhow::Result<String> {
    let mut out = String::from(
        "// The Writ proof viewer, from the console's ES modules joined by `writ proof viewer`.\n\
         const __writ_modules = Object.create(null);\n",
    );
    emit(entry, &mut BTreeSet::new(), &mut Vec::new(), &mut out)?;
    Ok(out)
}

/// `'sha256-…'` of an inline script or style, for the page's policy.
fn csp_hash(text: &str) -> String {
    format!(
        "'sha256-{}'",
        B64.encode(writ_model::digest::sha256(text.as_bytes()))
    )
}

/// The standalone viewer page.
pub fn html() -> anyhow::Result<String> {
    let js = format!("\n{}", script(ENTRY)?);
    let css = format!("\n{}", asset("style.css")?);
    if js.to_ascii_lowercase().contains("</script") || css.to_ascii_lowercase().contains("</style")
    {
        bail!("an inlined asset contains a closing tag");
    }
    let csp = format!(
        "default-src 'none'; script-src {}; style-src {}; img-src data:; base-uri 'none'; form-action 'none'",
        csp_hash(&js),
        csp_hash(&css)
    );
    Ok(format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Writ proof viewer</title>\n<link rel=\"icon\" href=\"data:,\">\n\
         <style>{css}</style>\n</head>\n<body>\n\
         <header class=\"top\"><span class=\"brand\">Writ</span> <span>Proof viewer · standalone, offline</span></header>\n\
         <main id=\"main\" tabindex=\"-1\"><p>Loading…</p></main>\n\
         <noscript>The proof viewer needs JavaScript; <code>writ proof verify FILE</code> checks a bundle too.</noscript>\n\
         <script type=\"module\">{js}</script>\n</body>\n</html>\n"
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn imports_resolve_and_parse() {
        assert_eq!(
            resolve("lib/proofview.js", "../verify/bundle.js").unwrap(),
            "verify/bundle.js"
        );
        assert_eq!(resolve("lib/a.js", "./dom.js").unwrap(), "lib/dom.js");
        assert!(resolve("lib/a.js", "../../x.js").is_err());
        assert!(resolve("lib/a.js", "x").is_err());
        let Import::Named(spec, names) =
            parse_import("m", "import { a, b as c } from \"./x.js\";").unwrap()
        else {
            panic!("not named")
        };
        assert_eq!(spec, "./x.js");
        assert_eq!(
            names,
            vec![("a".into(), "a".into()), ("b".into(), "c".into())]
        );
        assert!(matches!(
            parse_import("m", "import './chart.js';").unwrap(),
            Import::Effect(s) if s == "./chart.js"
        ));
        assert!(parse_import("m", "import def from './x.js';").is_err());
        assert!(parse_module("m", "export default 1;\n").is_err());
        assert!(parse_module("m", "export { a };\n").is_err());
        let p = parse_module(
            "m",
            "import {\n  a,\n  b,\n} from \"./y.js\";\nexport async function f() {}\nexport const X = 1;\n",
        )
        .unwrap();
        assert_eq!(p.exports, vec!["f", "X"]);
        assert_eq!(p.imports.len(), 1);
        assert!(p.body.contains("async function f()") && !p.body.contains("export"));
    }

    #[test]
    fn the_page_inlines_the_viewer_under_its_own_policy() {
        let page = html().unwrap();
        assert!(page.contains("default-src 'none'"));
        assert!(page.contains("__writ_modules[\"verify/bundle.js\"]"));
        assert!(page.contains("__writ_modules[\"lib/proofview.js\"]"));
        // No module is left with an import or export statement.
        assert!(
            !page
                .lines()
                .any(|l| l.starts_with("import ") || l.starts_with("export "))
        );
        // The policy names the hashes of exactly the inline script and style.
        let js_start = page.find("<script type=\"module\">").unwrap() + 22;
        let js_end = page.find("</script>").unwrap();
        assert!(page.contains(&csp_hash(&page[js_start..js_end])));
        let css_start = page.find("<style>").unwrap() + 7;
        let css_end = page.find("</style>").unwrap();
        assert!(page.contains(&csp_hash(&page[css_start..css_end])));
    }
}
