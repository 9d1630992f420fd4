//! The default policy bundle (`examples/policy/default`), shipped inside the binary so the demo
//! and the self-hosted benchmark need no files.

use serde_json::{Map, Value};
use writ_authorize::BundleSigningKey;

/// File name → text.
pub const FILES: [(&str, &str); 3] = [
    (
        "writ.cedarschema",
        include_str!("../../../examples/policy/default/writ.cedarschema"),
    ),
    (
        "policies.cedar",
        include_str!("../../../examples/policy/default/policies.cedar"),
    ),
    (
        "entities.json",
        include_str!("../../../examples/policy/default/entities.json"),
    ),
];

/// The bundle as the activate call takes it (`{"files": …}`'s value), signed with `key`.
pub fn signed_upload(key: &BundleSigningKey) -> anyhow::Result<Map<String, Value>> {
    signed_files(key, &FILES, "the built-in bundle")
}

/// `files` (name → text) as the activate call takes them, with the `bundle.sig` of their
/// compiled digest signed with `key`; `what` names the bundle in an error.
pub fn signed_files(
    key: &BundleSigningKey,
    files: &[(&str, &str)],
    what: &str,
) -> anyhow::Result<Map<String, Value>> {
    let source = writ_authorize::BundleSource::from_files(
        files
            .iter()
            .map(|(n, t)| ((*n).to_owned(), t.as_bytes().to_vec())),
    )
    .map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    let compiled = writ_authorize::compile(&source).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    let mut upload: Map<String, Value> = files
        .iter()
        .map(|(n, t)| ((*n).to_owned(), Value::String((*t).to_owned())))
        .collect();
    upload.insert(
        "bundle.sig".into(),
        Value::String(key.sign(compiled.digest()).to_json()),
    );
    Ok(upload)
}
