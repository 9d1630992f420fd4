//! Policy bundles: schema + policies + static entities, compiled and strictly validated, with a
//! canonical digest that does not depend on file layout or policy order.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::sync::OnceLock;

use cedar_policy::{
    ActionConstraint, Authorizer, Effect, Entities, EntityUid, PolicyId, PolicySet, Schema,
    SchemaFragment, ValidationMode, Validator,
};
use miette::Diagnostic;
use serde::Serialize;
use writ_model::canonical::to_canonical_vec;
use writ_model::digest::sha256_hex;

use crate::error::{BundleDiagnostic, BundleError};
use crate::index::ScopeIndex;
use crate::mapping::CedarNames;
use crate::principal::{PrincipalShape, PrincipalShapes, RegisteredEntities};

/// The file that holds a bundle's detached signature.
pub const SIGNATURE_FILE: &str = "bundle.sig";
/// The file that holds a bundle's static entities.
pub const ENTITIES_FILE: &str = "entities.json";
/// The file that holds a bundle's policy tests (not part of the digest).
pub const TESTS_FILE: &str = "tests.json";

/// The Writ Cedar schema for agent actions, shipped as the default.
pub const DEFAULT_SCHEMA: &str = include_str!("writ.cedarschema");

/// The engine version string recorded with every decision: the Writ request mapping and the
/// Cedar SDK and language versions. Part of the bundle digest.
pub fn engine_version() -> &'static str {
    static ENGINE: OnceLock<String> = OnceLock::new();
    ENGINE.get_or_init(|| {
        format!(
            "writ-authorize/{} cedar-policy/{} cedar-lang/{}",
            env!("CARGO_PKG_VERSION"),
            cedar_policy::get_sdk_version(),
            cedar_policy::get_lang_version()
        )
    })
}

/// The text files of a bundle, by file name, as read from a directory or an upload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleSource {
    /// `*.cedarschema` files.
    pub schemas: BTreeMap<String, String>,
    /// `*.cedar` files.
    pub policies: BTreeMap<String, String>,
    /// `entities.json`, if any.
    pub entities: Option<String>,
    /// `bundle.sig`, if any.
    pub signature: Option<String>,
}

impl BundleSource {
    /// Sorts named files into a bundle source by their names; other files are ignored.
    pub fn from_files(
        files: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> Result<Self, BundleError> {
        let mut src = Self::default();
        for (name, bytes) in files {
            let wanted = name.ends_with(".cedarschema")
                || name.ends_with(".cedar")
                || name == ENTITIES_FILE
                || name == SIGNATURE_FILE;
            if !wanted {
                continue;
            }
            let text = String::from_utf8(bytes)
                .map_err(|_| BundleError::NotUtf8 { file: name.clone() })?;
            let text = normalize(&text);
            if name.ends_with(".cedarschema") {
                src.schemas.insert(name, text);
            } else if name.ends_with(".cedar") {
                src.policies.insert(name, text);
            } else if name == ENTITIES_FILE {
                src.entities = Some(text);
            } else {
                src.signature = Some(text);
            }
        }
        Ok(src)
    }
}

/// Text as hashed and parsed: no byte-order mark, `\n` line ends.
fn normalize(text: &str) -> String {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .replace("\r\n", "\n")
}

/// What decide() needs to know about one policy beyond Cedar's view of it.
#[derive(Debug, Clone)]
pub(crate) struct PolicyMeta {
    pub(crate) effect: Effect,
    pub(crate) reason: Option<String>,
}

/// A compiled, strictly validated bundle. Only [`compile`] makes one; code holding a
/// `Bundle` never re-checks it.
#[derive(Debug)]
pub struct Bundle {
    digest: String,
    schema: Schema,
    policies: PolicySet,
    entities: Entities,
    meta: HashMap<PolicyId, PolicyMeta>,
    policy_files: BTreeMap<String, String>,
    index: ScopeIndex,
    names: CedarNames,
    principal_shapes: PrincipalShapes,
    registered_entities: RegisteredEntities,
    authorizer: Authorizer,
    warnings: Vec<BundleDiagnostic>,
}

impl Bundle {
    /// Lowercase hex canonical SHA-256 of the bundle (engine version included).
    pub fn digest(&self) -> &str {
        &self.digest
    }
    /// The engine version string (see [`engine_version`]).
    pub fn engine(&self) -> &'static str {
        engine_version()
    }
    /// Number of policies.
    pub fn len(&self) -> usize {
        self.meta.len()
    }
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }
    /// Sorted policy ids.
    pub fn policy_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.meta.keys().map(|id| id.to_string()).collect();
        ids.sort();
        ids
    }
    /// The file a policy came from.
    pub fn policy_file(&self, id: &str) -> Option<&str> {
        self.policy_files.get(id).map(String::as_str)
    }
    /// `permit` or `forbid`, for a policy id of this bundle.
    pub fn policy_effect(&self, id: &str) -> Option<&'static str> {
        self.meta
            .get(&PolicyId::new(id))
            .map(|m| crate::decide::effect_name(m.effect))
    }
    /// Validator warnings (the bundle loaded; they are advice).
    pub fn warnings(&self) -> &[BundleDiagnostic] {
        &self.warnings
    }
    /// The whole policy set, for comparison with plain Cedar.
    pub fn cedar_policies(&self) -> &PolicySet {
        &self.policies
    }
    /// Static entities plus the schema's action entities.
    pub fn cedar_entities(&self) -> &Entities {
        &self.entities
    }
    pub fn cedar_schema(&self) -> &Schema {
        &self.schema
    }
    pub(crate) fn index(&self) -> &ScopeIndex {
        &self.index
    }
    pub(crate) fn authorizer(&self) -> &Authorizer {
        &self.authorizer
    }
    pub(crate) fn names(&self) -> &CedarNames {
        &self.names
    }
    pub(crate) fn meta(&self, id: &PolicyId) -> Option<&PolicyMeta> {
        self.meta.get(id)
    }
    /// What the schema declares for a principal entity type (`Agent`, `Human`, `Service`).
    pub(crate) fn principal_shape(&self, ty: &str) -> Option<&PrincipalShape> {
        self.principal_shapes.get(ty)
    }
    /// The entity stores completed with principals' registrations, kept for this bundle.
    pub(crate) fn registered_entities(&self) -> &RegisteredEntities {
        &self.registered_entities
    }
}

/// Turns a byte offset into a 1-based (line, column).
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Converts one miette diagnostic (and its related ones) into located diagnostics.
fn located(
    d: &dyn Diagnostic,
    file: Option<&str>,
    text: Option<&str>,
    policy: Option<String>,
    out: &mut Vec<BundleDiagnostic>,
) {
    let offset = d.labels().and_then(|mut l| l.next()).map(|l| l.offset());
    let (line, column) = match (offset, text) {
        (Some(o), Some(t)) => {
            let (l, c) = line_col(t, o);
            (Some(l), Some(c))
        }
        _ => (None, None),
    };
    out.push(BundleDiagnostic {
        file: file.map(str::to_owned),
        line,
        column,
        policy: policy.clone(),
        message: d.to_string(),
        help: d.help().map(|h| h.to_string()),
    });
    if let Some(related) = d.related() {
        for r in related {
            located(r, file, text, policy.clone(), out);
        }
    }
}

fn diagnostic_of(
    d: &dyn Diagnostic,
    file: Option<&str>,
    text: Option<&str>,
    policy: Option<String>,
) -> Vec<BundleDiagnostic> {
    let mut out = Vec::new();
    located(d, file, text, policy, &mut out);
    out
}

/// Orders diagnostics by place, so output is stable.
fn sort_diagnostics(d: &mut [BundleDiagnostic]) {
    d.sort_by(|a, b| {
        (&a.file, a.line, a.column, &a.message).cmp(&(&b.file, b.line, b.column, &b.message))
    });
}

/// The canonical form that is hashed.
#[derive(Serialize)]
struct CanonicalBundle<'a> {
    format: &'static str,
    engine: &'static str,
    schema: Vec<&'a str>,
    policies: Vec<CanonicalPolicy>,
    entities: Vec<serde_json::Value>,
}

#[derive(Serialize)]
struct CanonicalPolicy {
    id: String,
    policy: serde_json::Value,
}

/// The policy id a policy gets: its `@id` annotation, else `FILE_STEM#N` by position.
fn policy_id_for(file: &str, position: usize, id_annotation: Option<&str>) -> String {
    match id_annotation {
        Some(id) => id.to_owned(),
        None => {
            let stem = file.strip_suffix(".cedar").unwrap_or(file);
            format!("{stem}#{position}")
        }
    }
}

/// The per-tool actions (`call_tool:SERVER/NAME`) the schema declares. Each must be a member of
/// `Action::"call_tool"`: calls of that tool are decided under it, so one outside the hierarchy
/// would escape every policy written for `call_tool`.
fn tool_actions_of(schema: &Schema) -> Result<HashSet<String>, BundleError> {
    let call_tool = EntityUid::from_str(r#"Action::"call_tool""#)
        .map_err(|e| BundleError::Internal(e.to_string()))?;
    let hierarchy = schema
        .action_entities()
        .map_err(|e| BundleError::Internal(e.to_string()))?;
    let mut out = HashSet::new();
    let mut diags = Vec::new();
    for action in schema.actions() {
        let id: &str = action.id().as_ref();
        if !id.starts_with(crate::tool_schema::TOOL_ACTION_PREFIX) {
            continue;
        }
        if hierarchy.is_ancestor_of(&call_tool, action) {
            out.insert(id.to_owned());
        } else {
            diags.push(BundleDiagnostic {
                file: None,
                line: None,
                column: None,
                policy: None,
                message: format!("per-tool action {action} is not a member of Action::\"call_tool\""),
                help: Some(
                    "declare it `in [\"call_tool\"]` (as `writ policy schema --from-pins` writes it), so the policies written for call_tool apply to its calls"
                        .into(),
                ),
            });
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        sort_diagnostics(&mut diags);
        Err(BundleError::Schema(diags))
    }
}

/// Policies scoped `action == Action::"call_tool"` in a bundle that declares per-tool actions:
/// such a policy no longer meets calls of those tools (they are decided under their own
/// actions), so a forbid would silently stop applying; it is refused. A permit only stops
/// allowing (fail closed), so it is a warning.
fn call_tool_equality(
    policies: &PolicySet,
    files: &BTreeMap<String, String>,
    errors: &mut Vec<BundleDiagnostic>,
    warnings: &mut Vec<BundleDiagnostic>,
) -> Result<(), BundleError> {
    let call_tool = EntityUid::from_str(r#"Action::"call_tool""#)
        .map_err(|e| BundleError::Internal(e.to_string()))?;
    for p in policies.policies() {
        if p.action_constraint() != ActionConstraint::Eq(call_tool.clone()) {
            continue;
        }
        let id = p.id().to_string();
        let (target, message) = match p.effect() {
            Effect::Forbid => (
                &mut *errors,
                "this forbid is scoped `action == Action::\"call_tool\"`, which does not apply to calls decided under a tool's own action",
            ),
            Effect::Permit => (
                &mut *warnings,
                "this permit is scoped `action == Action::\"call_tool\"`, which does not allow calls decided under a tool's own action",
            ),
        };
        target.push(BundleDiagnostic {
            file: files.get(&id).cloned(),
            line: None,
            column: None,
            policy: Some(id),
            message: message.into(),
            help: Some(
                "the schema declares per-tool actions (call_tool:SERVER/NAME): write `action in Action::\"call_tool\"` to cover every tool call"
                    .into(),
            ),
        });
    }
    Ok(())
}

/// Parses, strictly validates and indexes a bundle. Any problem refuses the whole bundle with
/// Cedar's diagnostics (file, line, help).
pub fn compile(source: &BundleSource) -> Result<Bundle, BundleError> {
    if source.schemas.is_empty() {
        return Err(BundleError::NoSchema);
    }
    // Schema: one fragment per file, so errors point into the right file.
    let mut fragments = Vec::new();
    let mut diags = Vec::new();
    for (file, text) in &source.schemas {
        match SchemaFragment::from_cedarschema_str(text) {
            Ok((frag, _warnings)) => fragments.push(frag),
            Err(e) => diags.extend(diagnostic_of(&e, Some(file), Some(text), None)),
        }
    }
    if !diags.is_empty() {
        sort_diagnostics(&mut diags);
        return Err(BundleError::Schema(diags));
    }
    let principal_shapes = crate::principal::shapes(&fragments);
    let schema = Schema::from_schema_fragments(fragments)
        .map_err(|e| BundleError::Schema(diagnostic_of(&e, None, None, None)))?;

    // Policies: parse each file, rename by @id or position, refuse duplicates.
    let mut policies = PolicySet::new();
    let mut meta = HashMap::new();
    let mut policy_files: BTreeMap<String, String> = BTreeMap::new();
    let mut texts: HashMap<String, (&str, &str)> = HashMap::new();
    for (file, text) in &source.policies {
        let parsed = match PolicySet::from_str(text) {
            Ok(p) => p,
            Err(e) => {
                diags.extend(diagnostic_of(&e, Some(file), Some(text), None));
                continue;
            }
        };
        if parsed.templates().next().is_some() {
            return Err(BundleError::Template { file: file.clone() });
        }
        // Cedar names them policy0, policy1, ... in file order.
        let mut in_file: Vec<_> = parsed
            .policies()
            .map(|p| {
                let n = p
                    .id()
                    .to_string()
                    .strip_prefix("policy")
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(usize::MAX);
                (n, p)
            })
            .collect();
        in_file.sort_by_key(|(n, _)| *n);
        for (position, (_, p)) in in_file.into_iter().enumerate() {
            let id = policy_id_for(file, position, p.annotation("id"));
            if let Some(first) = policy_files.get(&id) {
                return Err(BundleError::DuplicatePolicyId {
                    id,
                    first: first.clone(),
                    second: file.clone(),
                });
            }
            let renamed = p.new_id(PolicyId::new(&id));
            meta.insert(
                PolicyId::new(&id),
                PolicyMeta {
                    effect: renamed.effect(),
                    reason: renamed.annotation("reason").map(str::to_owned),
                },
            );
            policy_files.insert(id.clone(), file.clone());
            texts.insert(id.clone(), (file.as_str(), text.as_str()));
            policies
                .add(renamed)
                .map_err(|e| BundleError::Internal(e.to_string()))?;
        }
    }
    if !diags.is_empty() {
        sort_diagnostics(&mut diags);
        return Err(BundleError::Parse(diags));
    }

    // Strict validation against the schema.
    let validator = Validator::new(schema.clone());
    let result = validator.validate(&policies, ValidationMode::Strict);
    let locate = |id: &PolicyId| {
        texts
            .get(&id.to_string())
            .map(|(f, t)| (Some(*f), Some(*t)))
            .unwrap_or((None, None))
    };
    let mut errors = Vec::new();
    for e in result.validation_errors() {
        let (f, t) = locate(e.policy_id());
        errors.extend(diagnostic_of(e, f, t, Some(e.policy_id().to_string())));
    }
    let mut warnings = Vec::new();
    for w in result.validation_warnings() {
        let (f, t) = locate(w.policy_id());
        warnings.extend(diagnostic_of(w, f, t, Some(w.policy_id().to_string())));
    }
    let tool_actions = tool_actions_of(&schema)?;
    if !tool_actions.is_empty() {
        call_tool_equality(&policies, &policy_files, &mut errors, &mut warnings)?;
    }
    sort_diagnostics(&mut errors);
    sort_diagnostics(&mut warnings);
    if !errors.is_empty() {
        return Err(BundleError::Validation(errors));
    }

    // Entities, checked against the schema; the schema's action entities come with them.
    let entities_text = source.entities.as_deref().unwrap_or("[]");
    let entities = Entities::from_json_str(entities_text, Some(&schema)).map_err(|e| {
        BundleError::Entities(diagnostic_of(
            &e,
            Some(ENTITIES_FILE),
            Some(entities_text),
            None,
        ))
    })?;
    let mut entity_values: Vec<serde_json::Value> = match serde_json::from_str(entities_text) {
        Ok(serde_json::Value::Array(v)) => v,
        _ => {
            return Err(BundleError::Entities(vec![BundleDiagnostic {
                file: Some(ENTITIES_FILE.into()),
                line: None,
                column: None,
                policy: None,
                message: "entities must be a JSON array".into(),
                help: Some("write `[]` when there are none".into()),
            }]));
        }
    };

    // Canonical digest: independent of file names, file order and policy order.
    let mut schema_texts: Vec<&str> = source.schemas.values().map(|s| s.trim()).collect();
    schema_texts.sort_unstable();
    let mut canonical_policies = Vec::with_capacity(meta.len());
    for p in policies.policies() {
        let json = p
            .to_json()
            .map_err(|e| BundleError::Internal(e.to_string()))?;
        canonical_policies.push(CanonicalPolicy {
            id: p.id().to_string(),
            policy: json,
        });
    }
    canonical_policies.sort_by(|a, b| a.id.cmp(&b.id));
    let mut keyed = Vec::with_capacity(entity_values.len());
    for v in entity_values.drain(..) {
        let bytes = to_canonical_vec(&v).map_err(|e| BundleError::Internal(e.to_string()))?;
        keyed.push((bytes, v));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical = CanonicalBundle {
        format: "writ.bundle/v1",
        engine: engine_version(),
        schema: schema_texts,
        policies: canonical_policies,
        entities: keyed.into_iter().map(|(_, v)| v).collect(),
    };
    let digest = sha256_hex(
        &to_canonical_vec(&canonical).map_err(|e| BundleError::Internal(e.to_string()))?,
    );

    let index = ScopeIndex::build(&policies, &schema)?;
    let names = CedarNames::new()?.with_tool_actions(tool_actions);
    Ok(Bundle {
        digest,
        schema,
        policies,
        entities,
        meta,
        policy_files,
        index,
        names,
        principal_shapes,
        registered_entities: RegisteredEntities::default(),
        authorizer: Authorizer::new(),
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab", 99), (1, 3));
    }

    #[test]
    fn normalize_strips_bom_and_crlf() {
        assert_eq!(normalize("\u{feff}a\r\nb"), "a\nb");
    }

    #[test]
    fn ids_come_from_annotation_or_position() {
        assert_eq!(policy_id_for("tools.cedar", 3, None), "tools#3");
        assert_eq!(policy_id_for("tools.cedar", 3, Some("x")), "x");
    }
}
