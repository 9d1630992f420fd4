//! Bundle digest, strict validation with located diagnostics, signatures and activation.

use writ_authorize::{
    ActiveBundleSlot, BundleError, BundleSigningKey, BundleSource, activate, compile,
};

use crate::support::{TEST_ENTITIES, TEST_SCHEMA, source};

const P1: &str = r#"@id("a") permit(principal, action == Action::"exec", resource);"#;
const P2: &str = r#"@id("b") forbid(principal == Agent::"a1", action, resource);"#;

fn good() -> BundleSource {
    source(
        TEST_SCHEMA,
        &[("p.cedar", &format!("{P1}\n{P2}"))],
        Some(TEST_ENTITIES),
    )
}

fn key(n: u8) -> BundleSigningKey {
    BundleSigningKey::from_seed([n; 32])
}

fn signed(src: &BundleSource, k: &BundleSigningKey) -> BundleSource {
    let digest = compile(src).unwrap().digest().to_owned();
    let mut s = src.clone();
    s.signature = Some(k.sign(&digest).to_json());
    s
}

#[test]
fn digest_ignores_layout_and_whitespace_but_not_content() {
    let a = compile(&good()).unwrap();
    let split = source(
        TEST_SCHEMA,
        &[("x.cedar", P2), ("y.cedar", &format!("\n\n  {P1}  \n"))],
        Some(TEST_ENTITIES),
    );
    assert_eq!(compile(&split).unwrap().digest(), a.digest());
    let changed = source(
        TEST_SCHEMA,
        &[("p.cedar", &format!("{P1}\n{}", P2.replace("a1", "a2")))],
        Some(TEST_ENTITIES),
    );
    assert_ne!(compile(&changed).unwrap().digest(), a.digest());
    let other_entities = source(TEST_SCHEMA, &[("p.cedar", P1)], Some("[]"));
    let same_policy = source(TEST_SCHEMA, &[("p.cedar", P1)], Some(TEST_ENTITIES));
    assert_ne!(
        compile(&other_entities).unwrap().digest(),
        compile(&same_policy).unwrap().digest()
    );
    assert_eq!(a.digest().len(), 64);
    assert!(a.engine().contains("cedar-policy/4.14"));
}

#[test]
fn validation_errors_name_file_line_and_fix() {
    let bad = source(
        TEST_SCHEMA,
        &[
            ("ok.cedar", P1),
            (
                "bad.cedar",
                "\n\n@id(\"c\") permit(principal, action == Action::\"exec\", resource)\nwhen { context.args.n > 1 };",
            ),
        ],
        None,
    );
    let err = compile(&bad).unwrap_err();
    assert_eq!(err.reason_code(), "bundle_validation_failed");
    let d = &err.diagnostics()[0];
    assert_eq!(d.file.as_deref(), Some("bad.cedar"));
    assert_eq!(d.line, Some(4));
    assert_eq!(d.policy.as_deref(), Some("c"));
    assert!(d.help.as_deref().unwrap_or("").contains("has n"), "{d:?}");
    assert!(err.to_string().contains("bad.cedar:4:"), "{err}");
}

#[test]
fn parse_and_schema_errors_are_located() {
    let err = compile(&source(
        TEST_SCHEMA,
        &[(
            "p.cedar",
            "permit(principal, action, resource)\nwhen { 1 + };",
        )],
        None,
    ))
    .unwrap_err();
    assert_eq!(err.reason_code(), "bundle_parse_error");
    assert_eq!(err.diagnostics()[0].file.as_deref(), Some("p.cedar"));
    assert_eq!(err.diagnostics()[0].line, Some(2));
    let err = compile(&source("entity A;\nentity B in [;", &[], None)).unwrap_err();
    assert_eq!(err.reason_code(), "bundle_schema_invalid");
    assert_eq!(err.diagnostics()[0].line, Some(2));
    assert_eq!(
        compile(&BundleSource::default()).unwrap_err(),
        BundleError::NoSchema
    );
}

#[test]
fn duplicate_ids_templates_and_bad_entities_are_refused() {
    let dup = source(TEST_SCHEMA, &[("a.cedar", P1), ("b.cedar", P1)], None);
    assert_eq!(
        compile(&dup).unwrap_err().reason_code(),
        "bundle_duplicate_policy_id"
    );
    let tpl = source(
        TEST_SCHEMA,
        &[(
            "t.cedar",
            "permit(principal == ?principal, action, resource);",
        )],
        None,
    );
    assert_eq!(
        compile(&tpl).unwrap_err().reason_code(),
        "bundle_template_unsupported"
    );
    let ents = source(
        TEST_SCHEMA,
        &[("p.cedar", P1)],
        Some(r#"[{"uid":{"type":"Agent","id":"x"},"attrs":{"owner":7},"parents":[]}]"#),
    );
    assert_eq!(
        compile(&ents).unwrap_err().reason_code(),
        "bundle_entities_invalid"
    );
}

#[test]
fn activation_requires_a_valid_signature_by_a_trusted_key() {
    let k = key(1);
    let trusted = [k.verifying_key()];
    let ok = activate(&signed(&good(), &k), &trusted).unwrap();
    assert_eq!(ok.signed_by(), k.verifying_key().kid());
    assert_eq!(ok.digest(), compile(&good()).unwrap().digest());

    assert_eq!(
        activate(&good(), &trusted).unwrap_err(),
        BundleError::Unsigned
    );
    assert_eq!(
        activate(&signed(&good(), &key(2)), &trusted)
            .unwrap_err()
            .reason_code(),
        "bundle_key_untrusted"
    );
    // Policies changed after signing.
    let mut tampered = signed(&good(), &k);
    tampered.policies.insert(
        "extra.cedar".into(),
        r#"@id("z") permit(principal, action, resource);"#.into(),
    );
    assert_eq!(
        activate(&tampered, &trusted).unwrap_err().reason_code(),
        "bundle_digest_mismatch"
    );
    // The signature bytes changed.
    let mut bad_sig = signed(&good(), &k);
    let text = bad_sig.signature.clone().unwrap();
    let mut sig: serde_json::Value = serde_json::from_str(&text).unwrap();
    let s = sig["sig"].as_str().unwrap().to_owned();
    let first = if s.starts_with('0') { '1' } else { '0' };
    let flipped = format!("{first}{}", &s[1..]);
    sig["sig"] = flipped.into();
    bad_sig.signature = Some(sig.to_string());
    assert_eq!(
        activate(&bad_sig, &trusted).unwrap_err().reason_code(),
        "bundle_signature_invalid"
    );
    let mut garbage = good();
    garbage.signature = Some("not json".into());
    assert_eq!(
        activate(&garbage, &trusted).unwrap_err().reason_code(),
        "bundle_signature_malformed"
    );
}

#[test]
fn a_refused_bundle_leaves_the_previous_one_active() {
    let k = key(3);
    let trusted = [k.verifying_key()];
    let slot = ActiveBundleSlot::new();
    assert!(slot.current().is_none());
    let first = slot.load(&signed(&good(), &k), &trusted).unwrap();
    let broken = source(
        TEST_SCHEMA,
        &[(
            "p.cedar",
            "permit(principal, action == Action::\"nope\", resource);",
        )],
        None,
    );
    let mut broken_signed = broken.clone();
    broken_signed.signature = Some(k.sign(&"0".repeat(64)).to_json());
    assert!(slot.load(&broken_signed, &trusted).is_err());
    assert!(
        slot.load(&good(), &trusted).is_err(),
        "unsigned must be refused"
    );
    assert_eq!(slot.current().unwrap().digest(), first.digest());
    // A valid new bundle replaces it.
    let next = source(TEST_SCHEMA, &[("p.cedar", P1)], None);
    let second = slot.load(&signed(&next, &k), &trusted).unwrap();
    assert_ne!(second.digest(), first.digest());
    assert_eq!(slot.current().unwrap().digest(), second.digest());
}

#[test]
fn keys_round_trip_through_hex() {
    let k = key(9);
    let again = BundleSigningKey::from_hex(&k.to_hex()).unwrap();
    assert_eq!(again.verifying_key(), k.verifying_key());
    let v = writ_authorize::BundleVerifyingKey::from_hex(&k.verifying_key().to_hex()).unwrap();
    assert_eq!(v.kid().len(), 16);
    assert!(BundleSigningKey::from_hex("abc").is_err());
    assert!(writ_authorize::BundleVerifyingKey::from_hex("zz").is_err());
}

#[test]
fn from_files_sorts_by_name_and_refuses_non_utf8() {
    let src = BundleSource::from_files([
        ("a.cedarschema".to_owned(), TEST_SCHEMA.as_bytes().to_vec()),
        (
            "p.cedar".to_owned(),
            b"\xef\xbb\xbfpermit(principal, action, resource);\r\n".to_vec(),
        ),
        ("entities.json".to_owned(), b"[]".to_vec()),
        ("notes.txt".to_owned(), b"\xff".to_vec()),
        ("tests.json".to_owned(), b"{}".to_vec()),
    ])
    .unwrap();
    assert_eq!(src.schemas.len(), 1);
    assert_eq!(
        src.policies["p.cedar"],
        "permit(principal, action, resource);\n"
    );
    assert_eq!(src.entities.as_deref(), Some("[]"));
    assert!(src.signature.is_none());
    let err = BundleSource::from_files([("p.cedar".to_owned(), b"\xff".to_vec())]).unwrap_err();
    assert_eq!(err.reason_code(), "bundle_not_utf8");
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 64, ..Default::default() })]
    /// Untrusted bundle text never panics: it compiles or is refused with an error.
    #[test]
    fn arbitrary_bundle_text_never_panics(
        schema in "(entity|action|type|appliesTo|[{}();:,\\[\\]<>\"A-Za-z ])*",
        policy in "(permit|forbid|when|unless|principal|action|resource|context|==|in|is|has|like|[{}();:,\\[\\]<>\"@A-Za-z0-9 .&|!])*",
        entities in "(\\[|\\]|\\{|\\}|\"uid\"|\"type\"|\"id\"|\"attrs\"|\"parents\"|:|,|\"A\"|1)*",
    ) {
        let _ = compile(&source(&schema, &[("p.cedar", &policy)], Some(&entities)));
        let _ = compile(&source(TEST_SCHEMA, &[("p.cedar", &policy)], Some(&entities)));
    }
}
