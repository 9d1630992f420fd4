//! Each request body's schema in the API document names exactly its type's fields (finding 13).
//! Here, under `api`, because it reads the handlers' types of every route family.

use serde_json::Value;

use crate::openapi::*;

/// The field names serde's derive reads for `T` (taken from the `deserialize_struct` call
/// the derive makes), so the hand-written body schemas can be held to the request types.
fn struct_fields<'de, T: serde::Deserialize<'de>>() -> &'static [&'static str] {
    struct Fields(Option<&'static [&'static str]>);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("stop")
        }
    }
    impl std::error::Error for Stop {}
    impl serde::de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Stop {
            Stop
        }
    }
    impl<'de> serde::Deserializer<'de> for &mut Fields {
        type Error = Stop;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = Some(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields = Fields(None);
    let _ = T::deserialize(&mut fields);
    fields.0.expect("a struct")
}

/// Finding 13 asked for request bodies that describe their real fields; written by hand,
/// they drifted at once (`role` of a new principal was missing, and `additionalProperties:
/// false` then documented it as refused). Each body schema names exactly its type's fields.
#[test]
fn body_schemas_name_exactly_their_types_fields() {
    use crate::admin::{
        BundleBody, KillSwitchBody, NewGate, NewPrincipal, QuarantineBody, RevocationBody,
        SimulateBody,
    };
    use crate::api::{AuthorizeBody, VisibleBody};
    use crate::gate_api::RenewBody;
    let names = |schema: Value| -> std::collections::BTreeSet<String> {
        schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    let receipt = receipt_body();
    let pairs: Vec<(&str, Value, &[&str])> = vec![
        (
            "authorize",
            authorize_body(),
            struct_fields::<AuthorizeBody>(),
        ),
        ("visible", visible_body(), struct_fields::<VisibleBody>()),
        ("renew", renew_body(), struct_fields::<RenewBody>()),
        (
            "receipt",
            receipt.clone(),
            struct_fields::<writ_model::Receipt>(),
        ),
        (
            "receipt body",
            receipt["properties"]["body"].clone(),
            struct_fields::<writ_model::receipt::ReceiptBody>(),
        ),
        ("intent", intent(), struct_fields::<writ_model::Intent>()),
        (
            "attestation",
            attestation(),
            struct_fields::<writ_model::EnvironmentAttestation>(),
        ),
        (
            "environment claims",
            environment_claims(),
            struct_fields::<writ_model::EnvironmentClaims>(),
        ),
        (
            "simulated request",
            simulate_body()["properties"]["requests"]["items"].clone(),
            struct_fields::<writ_model::request::AuthorizeRequest>(),
        ),
        ("bundle", bundle_body(), struct_fields::<BundleBody>()),
        ("simulate", simulate_body(), struct_fields::<SimulateBody>()),
        (
            "principal",
            new_principal_body(),
            struct_fields::<NewPrincipal>(),
        ),
        ("gate", new_gate_body(), struct_fields::<NewGate>()),
        (
            "revocation",
            revocation_body(),
            struct_fields::<RevocationBody>(),
        ),
        (
            "quarantine",
            quarantine_body(),
            struct_fields::<QuarantineBody>(),
        ),
        (
            "kill switch",
            kill_switch_body(),
            struct_fields::<KillSwitchBody>(),
        ),
    ];
    for (what, schema, fields) in pairs {
        let fields: std::collections::BTreeSet<String> =
            fields.iter().map(|f| (*f).to_owned()).collect();
        assert_eq!(names(schema), fields, "the {what} body schema");
    }
}
