//! The one list of reason codes: every API error, log line and metric label Writ emits takes
//! its code from [`ReasonCode`], so each code has one spelling, written once, here.
//!
//! The spellings are API (clients and dashboards match on them) and never change. Codes of
//! the ledger library are dotted (`proof.root_mismatch`); all others are snake case.
//!
//! An allowed call has one code, [`ReasonCode::PolicyPermit`], wherever it shows: the decision
//! record, the authorize answer, the control plane's decision lines and `writ_decisions_total`,
//! and the gates' call lines and `writ_gate_calls_total`. (Earlier builds had the gates log
//! `allowed` instead; there is no allowed call that is not allowed by a permit policy, so
//! that second code said nothing the first does not.) The codes a decision record may carry
//! are the subset [`crate::DecisionCode`], which takes its spelling from here.
//!
//! A test (`no_reason_code_literal_outside_this_file`) scans every crate's `src/` and fails
//! when a spelling of this list appears as a string literal anywhere else, or when any literal
//! is handed to an API error, a gateway denial or a `reason_code` JSON member.

use std::fmt;
use std::str::FromStr;

/// Every reason code Writ emits. [`ReasonCode::as_str`] gives the wire spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ReasonCode {
    /// `applied_not_recorded`: applied not recorded.
    AppliedNotRecorded,
    /// `asset_not_found`: asset not found.
    AssetNotFound,
    /// `attestation_bad_key`: attestation bad key.
    AttestationBadKey,
    /// `attestation_bad_signature`: attestation bad signature.
    AttestationBadSignature,
    /// `attestation_invalid`: attestation invalid.
    AttestationInvalid,
    /// `attestation_stale`: attestation stale.
    AttestationStale,
    /// `attestation_unknown_gate`: attestation unknown gate.
    AttestationUnknownGate,
    /// `attestation_zone_mismatch`: attestation zone mismatch.
    AttestationZoneMismatch,
    /// `batch_not_supported`: A JSON-RPC batch holding requests (batches are not part of MCP 2025-06-18).
    BatchNotSupported,
    /// `body_too_large`: body too large.
    BodyTooLarge,
    /// `body_unreadable`: body unreadable.
    BodyUnreadable,
    /// `bundle.bad_checkpoint`: bundle bad checkpoint.
    BundleBadCheckpoint,
    /// `bundle.bad_consistency`: bundle bad consistency.
    BundleBadConsistency,
    /// `bundle.bad_inclusion`: bundle bad inclusion.
    BundleBadInclusion,
    /// `bundle_digest_mismatch`: bundle digest mismatch.
    BundleDigestMismatch,
    /// `bundle_duplicate_policy_id`: bundle duplicate policy id.
    BundleDuplicatePolicyId,
    /// `bundle_entities_invalid`: bundle entities invalid.
    BundleEntitiesInvalid,
    /// `bundle_internal`: bundle internal.
    BundleInternal,
    /// `bundle_io`: bundle io.
    BundleIo,
    /// `bundle_key_untrusted`: bundle key untrusted.
    BundleKeyUntrusted,
    /// `bundle.leaf_hash_mismatch`: bundle leaf hash mismatch.
    BundleLeafHashMismatch,
    /// `bundle.malformed`: bundle malformed.
    BundleMalformed,
    /// `bundle_no_schema`: bundle no schema.
    BundleNoSchema,
    /// `bundle_no_trusted_key`: bundle no trusted key.
    BundleNoTrustedKey,
    /// `bundle_not_utf8`: bundle not utf8.
    BundleNotUtf8,
    /// `bundle_parse_error`: bundle parse error.
    BundleParseError,
    /// `bundle_schema_invalid`: bundle schema invalid.
    BundleSchemaInvalid,
    /// `bundle_signature_invalid`: bundle signature invalid.
    BundleSignatureInvalid,
    /// `bundle_signature_malformed`: bundle signature malformed.
    BundleSignatureMalformed,
    /// `bundle_template_unsupported`: bundle template unsupported.
    BundleTemplateUnsupported,
    /// `bundle_unencodable`: bundle unencodable.
    BundleUnencodable,
    /// `bundle_unsigned`: bundle unsigned.
    BundleUnsigned,
    /// `bundle.untrusted_key`: bundle untrusted key.
    BundleUntrustedKey,
    /// `bundle_validation_failed`: bundle validation failed.
    BundleValidationFailed,
    /// `checkpoint.malformed`: checkpoint malformed.
    CheckpointMalformed,
    /// `checkpoint.wrong_origin`: checkpoint wrong origin.
    CheckpointWrongOrigin,
    /// `command_invalid`: command invalid.
    CommandInvalid,
    /// `config_invalid`: config invalid.
    ConfigInvalid,
    /// `consistency_invalid`: consistency invalid.
    ConsistencyInvalid,
    /// `containment_unavailable`: containment unavailable.
    ContainmentUnavailable,
    /// `content_type_invalid`: content type invalid.
    ContentTypeInvalid,
    /// `control_plane_garbage`: control plane garbage.
    ControlPlaneGarbage,
    /// `control_plane_timeout`: control plane timeout.
    ControlPlaneTimeout,
    /// `control_plane_unreachable`: control plane unreachable.
    ControlPlaneUnreachable,
    /// `delegation_action_not_in_scope`: delegation action not in scope.
    DelegationActionNotInScope,
    /// `delegation_grant_invalid`: delegation grant invalid.
    DelegationGrantInvalid,
    /// `delegation_max_uses_exceeded`: delegation max uses exceeded.
    DelegationMaxUsesExceeded,
    /// `delegation_not_granted`: delegation not granted.
    DelegationNotGranted,
    /// `delegation_not_yours`: delegation not yours.
    DelegationNotYours,
    /// `delegation_outlives_parent`: delegation outlives parent.
    DelegationOutlivesParent,
    /// `delegation_parent_expired`: delegation parent expired.
    DelegationParentExpired,
    /// `delegation_resource_not_in_scope`: delegation resource not in scope.
    DelegationResourceNotInScope,
    /// `delegation_scope_not_subset`: delegation scope not subset.
    DelegationScopeNotSubset,
    /// `delegation_zone_not_in_scope`: delegation zone not in scope.
    DelegationZoneNotInScope,
    /// `disclosure.bad_salt`: disclosure bad salt.
    DisclosureBadSalt,
    /// `disclosure.mismatch`: disclosure mismatch.
    DisclosureMismatch,
    /// `disclosure.no_commitment`: disclosure no commitment.
    DisclosureNoCommitment,
    /// `disclosure.not_canonical`: disclosure not canonical.
    DisclosureNotCanonical,
    /// `disclosure.randomness`: disclosure randomness.
    DisclosureRandomness,
    /// `entry.bad_shape`: entry bad shape.
    EntryBadShape,
    /// `entry.commitment`: entry commitment.
    EntryCommitment,
    /// `entry.not_canonical`: entry not canonical.
    EntryNotCanonical,
    /// `entry_too_large`: entry too large.
    EntryTooLarge,
    /// `entry_unencodable`: entry unencodable.
    EntryUnencodable,
    /// `erase_target_invalid`: erase target invalid.
    EraseTargetInvalid,
    /// `event_feed_lost`: event feed lost.
    EventFeedLost,
    /// `evidence_erased`: evidence erased.
    EvidenceErased,
    /// `exec_failed`: exec failed.
    ExecFailed,
    /// `execution_invalid`: execution invalid.
    ExecutionInvalid,
    /// `execution_unknown`: execution unknown.
    ExecutionUnknown,
    /// `fs_scope_invalid`: fs scope invalid.
    FsScopeInvalid,
    /// `fs_scope_mismatch`: fs scope mismatch.
    FsScopeMismatch,
    /// `gate_exists`: gate exists.
    GateExists,
    /// `gate_key_invalid`: gate key invalid.
    GateKeyInvalid,
    /// `gate_signing_failed`: gate signing failed.
    GateSigningFailed,
    /// `gate_unknown`: gate unknown.
    GateUnknown,
    /// `governance_unsynced`: this node cannot vouch that it knows the fleet's governance (it
    /// lost its database).
    GovernanceUnsynced,
    /// `history_unavailable`: history unavailable.
    HistoryUnavailable,
    /// `index_unavailable`: index unavailable.
    IndexUnavailable,
    /// `intent_invalid`: intent invalid.
    IntentInvalid,
    /// `internal_state`: internal state.
    InternalState,
    /// `invalid_arguments`: An MCP call whose arguments have no canonical digest (the gateway cannot govern them).
    InvalidArguments,
    /// `invalid_call`: An MCP request the gateway cannot read as the governed call it names.
    InvalidCall,
    /// `invalid_request`: invalid request.
    InvalidRequest,
    /// `io_error`: io error.
    IoError,
    /// `io_failed`: io failed.
    IoFailed,
    /// `issue_bad_claim`: issue bad claim.
    IssueBadClaim,
    /// `issue_bad_lifetime`: issue bad lifetime.
    IssueBadLifetime,
    /// `issue_encode_failed`: issue encode failed.
    IssueEncodeFailed,
    /// `json_invalid`: json invalid.
    JsonInvalid,
    /// `json_not_canonical`: json not canonical.
    JsonNotCanonical,
    /// `json_schema_invalid`: json schema invalid.
    JsonSchemaInvalid,
    /// `json_unencodable`: json unencodable.
    JsonUnencodable,
    /// `jwk_invalid`: jwk invalid.
    JwkInvalid,
    /// `jwks_duplicate_kid`: jwks duplicate kid.
    JwksDuplicateKid,
    /// `jwks_invalid`: jwks invalid.
    JwksInvalid,
    /// `key_file_insecure`: key file insecure.
    KeyFileInsecure,
    /// `key_file_invalid`: key file invalid.
    KeyFileInvalid,
    /// `key_file_io`: key file io.
    KeyFileIo,
    /// `key_no_randomness`: key no randomness.
    KeyNoRandomness,
    /// `kill_switch`: kill switch.
    KillSwitch,
    /// `landlock_failed`: landlock failed.
    LandlockFailed,
    /// `landlock_unsupported`: landlock unsupported.
    LandlockUnsupported,
    /// `lease_denied`: lease denied.
    LeaseDenied,
    /// `lease_ended`: lease ended.
    LeaseEnded,
    /// `lease_expired`: A command's lease ran out before it was renewed; the control plane ended it.
    LeaseExpired,
    /// `lease_unknown`: lease unknown.
    LeaseUnknown,
    /// `ledger.already_initialized`: ledger already initialized.
    LedgerAlreadyInitialized,
    /// `ledger.commit_failed`: ledger commit failed.
    LedgerCommitFailed,
    /// `entry.too_large`: entry too large.
    LedgerEntryTooLarge,
    /// `ledger.io`: ledger io.
    LedgerIo,
    /// `ledger.key_permissions`: ledger key permissions.
    LedgerKeyPermissions,
    /// `ledger.no_checkpoint_at_size`: ledger no checkpoint at size.
    LedgerNoCheckpointAtSize,
    /// `ledger.not_initialized`: ledger not initialized.
    LedgerNotInitialized,
    /// `ledger_record_unreadable`: ledger record unreadable.
    LedgerRecordUnreadable,
    /// `ledger.size_too_large`: ledger size too large.
    LedgerSizeTooLarge,
    /// `ledger.storage`: ledger storage.
    LedgerStorage,
    /// `ledger.tampered`: ledger tampered.
    LedgerTampered,
    /// `ledger_unavailable`: ledger unavailable.
    LedgerUnavailable,
    /// `ledger.writer_stopped`: ledger writer stopped.
    LedgerWriterStopped,
    /// `no_active_bundle`: no active bundle.
    NoActiveBundle,
    /// `no_new_privs_failed`: no new privs failed.
    NoNewPrivsFailed,
    /// `no_permit`: no permit.
    NoPermit,
    /// `no_principal_token`: The gateway holds no principal token for this client.
    NoPrincipalToken,
    /// `note.bad_signature`: note bad signature.
    NoteBadSignature,
    /// `note.bad_skey`: note bad skey.
    NoteBadSkey,
    /// `note.bad_vkey`: note bad vkey.
    NoteBadVkey,
    /// `note.malformed`: note malformed.
    NoteMalformed,
    /// `note.no_signature`: note no signature.
    NoteNoSignature,
    /// `number_out_of_range`: number out of range.
    NumberOutOfRange,
    /// `origin_not_allowed`: An MCP HTTP request from a browser origin the gateway does not accept.
    OriginNotAllowed,
    /// `output_failed`: output failed.
    OutputFailed,
    /// `parent_unknown`: parent unknown.
    ParentUnknown,
    /// `parse_error`: An MCP message that is not JSON.
    ParseError,
    /// `pass_env_invalid_name`: pass env invalid name.
    PassEnvInvalidName,
    /// `pass_env_writ_variable`: pass env writ variable.
    PassEnvWritVariable,
    /// `pin_file_invalid`: pin file invalid.
    PinFileInvalid,
    /// `pin_file_outdated`: pin file outdated.
    PinFileOutdated,
    /// `pin_file_unreadable`: pin file unreadable.
    PinFileUnreadable,
    /// `pin_file_wrong_server`: pin file wrong server.
    PinFileWrongServer,
    /// `policy_error`: policy error.
    PolicyError,
    /// `policy_forbid`: policy forbid.
    PolicyForbid,
    /// `policy_permit`: allowed, because a permit policy was satisfied and no forbid. The one
    /// code of every allowed call: the control plane decides it (Cedar denies by default, so
    /// nothing else allows), and the gates log and count their allowed calls under it too.
    PolicyPermit,
    /// `policy_tests_invalid`: policy tests invalid.
    PolicyTestsInvalid,
    /// `principal_attrs_invalid`: principal attrs invalid.
    PrincipalAttrsInvalid,
    /// `principal_exists`: principal exists.
    PrincipalExists,
    /// `principal_invalid`: principal invalid.
    PrincipalInvalid,
    /// `principal_mismatch`: principal mismatch.
    PrincipalMismatch,
    /// `principal_or_zone_withdrawn`: principal or zone withdrawn.
    PrincipalOrZoneWithdrawn,
    /// `principal_quarantined`: principal quarantined.
    PrincipalQuarantined,
    /// `principal_registration_invalid`: principal registration invalid.
    PrincipalRegistrationInvalid,
    /// `principal_revoked`: principal revoked.
    PrincipalRevoked,
    /// `principal_unknown`: principal unknown.
    PrincipalUnknown,
    /// `prompt_definition_changed`: A prompt's definition changed since an operator pinned it.
    PromptDefinitionChanged,
    /// `prompt_not_pinned`: A prompt no operator has pinned.
    PromptNotPinned,
    /// `prompt_unknown`: A prompt the upstream MCP server does not list.
    PromptUnknown,
    /// `proof.bad_hash_length`: proof bad hash length.
    ProofBadHashLength,
    /// `proof.bad_sizes`: proof bad sizes.
    ProofBadSizes,
    /// `proof.index_out_of_range`: proof index out of range.
    ProofIndexOutOfRange,
    /// `proof.missing_node`: proof missing node.
    ProofMissingNode,
    /// `proof.root_mismatch`: proof root mismatch.
    ProofRootMismatch,
    /// `proof.wrong_size`: proof wrong size.
    ProofWrongSize,
    /// `query_invalid`: query invalid.
    QueryInvalid,
    /// `randomness_unavailable`: randomness unavailable.
    RandomnessUnavailable,
    /// `receipt_bad_signature`: receipt bad signature.
    ReceiptBadSignature,
    /// `receipt_invalid`: receipt invalid.
    ReceiptInvalid,
    /// `receipt_wrong_gate`: receipt wrong gate.
    ReceiptWrongGate,
    /// `request_id_in_flight`: A request whose id the same MCP client already has in flight.
    RequestIdInFlight,
    /// `resource_definition_changed`: A resource's definition changed since an operator pinned it.
    ResourceDefinitionChanged,
    /// `resource_not_pinned`: A resource neither pinned itself nor matching a pinned resource template.
    ResourceNotPinned,
    /// `resource_template_definition_changed`: A resource template's definition changed since an operator pinned it.
    ResourceTemplateDefinitionChanged,
    /// `resource_template_not_pinned`: A resource template no operator has pinned.
    ResourceTemplateNotPinned,
    /// `resource_template_unknown`: A resource template the upstream MCP server does not list.
    ResourceTemplateUnknown,
    /// `resource_unknown`: A resource the upstream MCP server does not list.
    ResourceUnknown,
    /// `role_not_for_principal`: role not for principal.
    RoleNotForPrincipal,
    /// `route_not_found`: route not found.
    RouteNotFound,
    /// `sandbox_mount_failed`: sandbox mount failed.
    SandboxMountFailed,
    /// `sandbox_setup_failed`: sandbox setup failed.
    SandboxSetupFailed,
    /// `sandbox_usage`: sandbox usage.
    SandboxUsage,
    /// `scope_insufficient`: scope insufficient.
    ScopeInsufficient,
    /// `scope_without_parent`: scope without parent.
    ScopeWithoutParent,
    /// `secret_key_given`: secret key given.
    SecretKeyGiven,
    /// `signing_key_invalid`: signing key invalid.
    SigningKeyInvalid,
    /// `spawn_failed`: spawn failed.
    SpawnFailed,
    /// `store_failed`: store failed.
    StoreFailed,
    /// `store.newer_schema`: store newer schema.
    StoreNewerSchema,
    /// `store.schema_unreadable`: store schema unreadable.
    StoreSchemaUnreadable,
    /// `target_invalid`: target invalid.
    TargetInvalid,
    /// `tile.bad_bundle`: tile bad bundle.
    TileBadBundle,
    /// `tile.bad_length`: tile bad length.
    TileBadLength,
    /// `tile.entry_too_large`: tile entry too large.
    TileEntryTooLarge,
    /// `tile_not_found`: tile not found.
    TileNotFound,
    /// `too_many_requests`: too many requests.
    TooManyRequests,
    /// `too_many_resources`: too many resources.
    TooManyResources,
    /// `tool_definition_changed`: tool definition changed.
    ToolDefinitionChanged,
    /// `tool_failed`: A tool call the upstream answered with an error result (a receipt's code).
    ToolFailed,
    /// `tool_not_pinned`: tool not pinned.
    ToolNotPinned,
    /// `tool_pinned`: tool pinned.
    ToolPinned,
    /// `tool_unknown`: A tool the upstream MCP server does not list (answered as a tool error, as the upstream would).
    ToolUnknown,
    /// `trust_key_exists`: trust key exists.
    TrustKeyExists,
    /// `trust_key_in_use`: trust key in use.
    TrustKeyInUse,
    /// `trust_key_unknown`: trust key unknown.
    TrustKeyUnknown,
    /// `unauthenticated`: unauthenticated.
    Unauthenticated,
    /// `unknown_action`: unknown action.
    UnknownAction,
    /// `unknown_resource`: unknown resource.
    UnknownResource,
    /// A code received from the control plane that this build does not know (spelled `unrecognized`).
    Unrecognized,
    /// `upstream_answer_unreadable`: The upstream MCP server answered something that is not JSON-RPC.
    UpstreamAnswerUnreadable,
    /// `upstream_ended`: upstream ended.
    UpstreamEnded,
    /// `upstream_failed`: upstream failed.
    UpstreamFailed,
    /// `upstream_spawn_failed`: upstream spawn failed.
    UpstreamSpawnFailed,
    /// `verifying_key_invalid`: verifying key invalid.
    VerifyingKeyInvalid,
    /// `writ_alg_none`: writ alg none.
    WritAlgNone,
    /// `writ_alg_not_allowed`: writ alg not allowed.
    WritAlgNotAllowed,
    /// `writ_bad_claim`: writ bad claim.
    WritBadClaim,
    /// `writ_bad_header`: writ bad header.
    WritBadHeader,
    /// `writ_bad_signature`: writ bad signature.
    WritBadSignature,
    /// `writ_bad_typ`: writ bad typ.
    WritBadTyp,
    /// `writ_expired`: writ expired.
    WritExpired,
    /// `writ_intent_mismatch`: writ intent mismatch.
    WritIntentMismatch,
    /// `writ_intent_unencodable`: writ intent unencodable.
    WritIntentUnencodable,
    /// `writ_issued_before_epoch`: writ issued before epoch.
    WritIssuedBeforeEpoch,
    /// `writ_issued_in_future`: writ issued in future.
    WritIssuedInFuture,
    /// `writ_kill_switch`: writ kill switch.
    WritKillSwitch,
    /// `writ_lifetime_too_long`: writ lifetime too long.
    WritLifetimeTooLong,
    /// `writ_malformed`: writ malformed.
    WritMalformed,
    /// `writ_missing_claim`: writ missing claim.
    WritMissingClaim,
    /// `writ_not_yet_valid`: writ not yet valid.
    WritNotYetValid,
    /// `writ_replay_cache_full`: writ replay cache full.
    WritReplayCacheFull,
    /// `writ_replayed`: writ replayed.
    WritReplayed,
    /// `writ_revoked`: writ revoked.
    WritRevoked,
    /// `writ_revoked_jti`: writ revoked jti.
    WritRevokedJti,
    /// `writ_revoked_principal`: writ revoked principal.
    WritRevokedPrincipal,
    /// `writ_revoked_zone`: writ revoked zone.
    WritRevokedZone,
    /// `writ_too_large`: writ too large.
    WritTooLarge,
    /// `writ_unknown_kid`: writ unknown kid.
    WritUnknownKid,
    /// `writ_wrong_audience`: writ wrong audience.
    WritWrongAudience,
    /// `writ_wrong_issuer`: writ wrong issuer.
    WritWrongIssuer,
    /// `writ_wrong_zone`: writ wrong zone.
    WritWrongZone,
    /// `zone_quarantined`: zone quarantined.
    ZoneQuarantined,
}

impl ReasonCode {
    /// Every code, in spelling order (for tests and documentation).
    pub const ALL: &'static [ReasonCode] = &[
        ReasonCode::AppliedNotRecorded,
        ReasonCode::AssetNotFound,
        ReasonCode::AttestationBadKey,
        ReasonCode::AttestationBadSignature,
        ReasonCode::AttestationInvalid,
        ReasonCode::AttestationStale,
        ReasonCode::AttestationUnknownGate,
        ReasonCode::AttestationZoneMismatch,
        ReasonCode::BatchNotSupported,
        ReasonCode::BodyTooLarge,
        ReasonCode::BodyUnreadable,
        ReasonCode::BundleBadCheckpoint,
        ReasonCode::BundleBadConsistency,
        ReasonCode::BundleBadInclusion,
        ReasonCode::BundleLeafHashMismatch,
        ReasonCode::BundleMalformed,
        ReasonCode::BundleUntrustedKey,
        ReasonCode::BundleDigestMismatch,
        ReasonCode::BundleDuplicatePolicyId,
        ReasonCode::BundleEntitiesInvalid,
        ReasonCode::BundleInternal,
        ReasonCode::BundleIo,
        ReasonCode::BundleKeyUntrusted,
        ReasonCode::BundleNoSchema,
        ReasonCode::BundleNoTrustedKey,
        ReasonCode::BundleNotUtf8,
        ReasonCode::BundleParseError,
        ReasonCode::BundleSchemaInvalid,
        ReasonCode::BundleSignatureInvalid,
        ReasonCode::BundleSignatureMalformed,
        ReasonCode::BundleTemplateUnsupported,
        ReasonCode::BundleUnencodable,
        ReasonCode::BundleUnsigned,
        ReasonCode::BundleValidationFailed,
        ReasonCode::CheckpointMalformed,
        ReasonCode::CheckpointWrongOrigin,
        ReasonCode::CommandInvalid,
        ReasonCode::ConfigInvalid,
        ReasonCode::ConsistencyInvalid,
        ReasonCode::ContainmentUnavailable,
        ReasonCode::ContentTypeInvalid,
        ReasonCode::ControlPlaneGarbage,
        ReasonCode::ControlPlaneTimeout,
        ReasonCode::ControlPlaneUnreachable,
        ReasonCode::DelegationActionNotInScope,
        ReasonCode::DelegationGrantInvalid,
        ReasonCode::DelegationMaxUsesExceeded,
        ReasonCode::DelegationNotGranted,
        ReasonCode::DelegationNotYours,
        ReasonCode::DelegationOutlivesParent,
        ReasonCode::DelegationParentExpired,
        ReasonCode::DelegationResourceNotInScope,
        ReasonCode::DelegationScopeNotSubset,
        ReasonCode::DelegationZoneNotInScope,
        ReasonCode::DisclosureBadSalt,
        ReasonCode::DisclosureMismatch,
        ReasonCode::DisclosureNoCommitment,
        ReasonCode::DisclosureNotCanonical,
        ReasonCode::DisclosureRandomness,
        ReasonCode::EntryBadShape,
        ReasonCode::EntryCommitment,
        ReasonCode::EntryNotCanonical,
        ReasonCode::LedgerEntryTooLarge,
        ReasonCode::EntryTooLarge,
        ReasonCode::EntryUnencodable,
        ReasonCode::EraseTargetInvalid,
        ReasonCode::EventFeedLost,
        ReasonCode::EvidenceErased,
        ReasonCode::ExecFailed,
        ReasonCode::ExecutionInvalid,
        ReasonCode::ExecutionUnknown,
        ReasonCode::FsScopeInvalid,
        ReasonCode::FsScopeMismatch,
        ReasonCode::GateExists,
        ReasonCode::GateKeyInvalid,
        ReasonCode::GateSigningFailed,
        ReasonCode::GateUnknown,
        ReasonCode::GovernanceUnsynced,
        ReasonCode::HistoryUnavailable,
        ReasonCode::IndexUnavailable,
        ReasonCode::IntentInvalid,
        ReasonCode::InternalState,
        ReasonCode::InvalidArguments,
        ReasonCode::InvalidCall,
        ReasonCode::InvalidRequest,
        ReasonCode::IoError,
        ReasonCode::IoFailed,
        ReasonCode::IssueBadClaim,
        ReasonCode::IssueBadLifetime,
        ReasonCode::IssueEncodeFailed,
        ReasonCode::JsonInvalid,
        ReasonCode::JsonNotCanonical,
        ReasonCode::JsonSchemaInvalid,
        ReasonCode::JsonUnencodable,
        ReasonCode::JwkInvalid,
        ReasonCode::JwksDuplicateKid,
        ReasonCode::JwksInvalid,
        ReasonCode::KeyFileInsecure,
        ReasonCode::KeyFileInvalid,
        ReasonCode::KeyFileIo,
        ReasonCode::KeyNoRandomness,
        ReasonCode::KillSwitch,
        ReasonCode::LandlockFailed,
        ReasonCode::LandlockUnsupported,
        ReasonCode::LeaseDenied,
        ReasonCode::LeaseEnded,
        ReasonCode::LeaseExpired,
        ReasonCode::LeaseUnknown,
        ReasonCode::LedgerAlreadyInitialized,
        ReasonCode::LedgerCommitFailed,
        ReasonCode::LedgerIo,
        ReasonCode::LedgerKeyPermissions,
        ReasonCode::LedgerNoCheckpointAtSize,
        ReasonCode::LedgerNotInitialized,
        ReasonCode::LedgerSizeTooLarge,
        ReasonCode::LedgerStorage,
        ReasonCode::LedgerTampered,
        ReasonCode::LedgerWriterStopped,
        ReasonCode::LedgerRecordUnreadable,
        ReasonCode::LedgerUnavailable,
        ReasonCode::NoActiveBundle,
        ReasonCode::NoNewPrivsFailed,
        ReasonCode::NoPermit,
        ReasonCode::NoPrincipalToken,
        ReasonCode::NoteBadSignature,
        ReasonCode::NoteBadSkey,
        ReasonCode::NoteBadVkey,
        ReasonCode::NoteMalformed,
        ReasonCode::NoteNoSignature,
        ReasonCode::NumberOutOfRange,
        ReasonCode::OriginNotAllowed,
        ReasonCode::OutputFailed,
        ReasonCode::ParentUnknown,
        ReasonCode::ParseError,
        ReasonCode::PassEnvInvalidName,
        ReasonCode::PassEnvWritVariable,
        ReasonCode::PinFileInvalid,
        ReasonCode::PinFileOutdated,
        ReasonCode::PinFileUnreadable,
        ReasonCode::PinFileWrongServer,
        ReasonCode::PolicyError,
        ReasonCode::PolicyForbid,
        ReasonCode::PolicyPermit,
        ReasonCode::PolicyTestsInvalid,
        ReasonCode::PrincipalAttrsInvalid,
        ReasonCode::PrincipalExists,
        ReasonCode::PrincipalInvalid,
        ReasonCode::PrincipalMismatch,
        ReasonCode::PrincipalOrZoneWithdrawn,
        ReasonCode::PrincipalQuarantined,
        ReasonCode::PrincipalRegistrationInvalid,
        ReasonCode::PrincipalRevoked,
        ReasonCode::PrincipalUnknown,
        ReasonCode::PromptDefinitionChanged,
        ReasonCode::PromptNotPinned,
        ReasonCode::PromptUnknown,
        ReasonCode::ProofBadHashLength,
        ReasonCode::ProofBadSizes,
        ReasonCode::ProofIndexOutOfRange,
        ReasonCode::ProofMissingNode,
        ReasonCode::ProofRootMismatch,
        ReasonCode::ProofWrongSize,
        ReasonCode::QueryInvalid,
        ReasonCode::RandomnessUnavailable,
        ReasonCode::ReceiptBadSignature,
        ReasonCode::ReceiptInvalid,
        ReasonCode::ReceiptWrongGate,
        ReasonCode::RequestIdInFlight,
        ReasonCode::ResourceDefinitionChanged,
        ReasonCode::ResourceNotPinned,
        ReasonCode::ResourceTemplateDefinitionChanged,
        ReasonCode::ResourceTemplateNotPinned,
        ReasonCode::ResourceTemplateUnknown,
        ReasonCode::ResourceUnknown,
        ReasonCode::RoleNotForPrincipal,
        ReasonCode::RouteNotFound,
        ReasonCode::SandboxMountFailed,
        ReasonCode::SandboxSetupFailed,
        ReasonCode::SandboxUsage,
        ReasonCode::ScopeInsufficient,
        ReasonCode::ScopeWithoutParent,
        ReasonCode::SecretKeyGiven,
        ReasonCode::SigningKeyInvalid,
        ReasonCode::SpawnFailed,
        ReasonCode::StoreNewerSchema,
        ReasonCode::StoreSchemaUnreadable,
        ReasonCode::StoreFailed,
        ReasonCode::TargetInvalid,
        ReasonCode::TileBadBundle,
        ReasonCode::TileBadLength,
        ReasonCode::TileEntryTooLarge,
        ReasonCode::TileNotFound,
        ReasonCode::TooManyRequests,
        ReasonCode::TooManyResources,
        ReasonCode::ToolDefinitionChanged,
        ReasonCode::ToolFailed,
        ReasonCode::ToolNotPinned,
        ReasonCode::ToolPinned,
        ReasonCode::ToolUnknown,
        ReasonCode::TrustKeyExists,
        ReasonCode::TrustKeyInUse,
        ReasonCode::TrustKeyUnknown,
        ReasonCode::Unauthenticated,
        ReasonCode::UnknownAction,
        ReasonCode::UnknownResource,
        ReasonCode::Unrecognized,
        ReasonCode::UpstreamAnswerUnreadable,
        ReasonCode::UpstreamEnded,
        ReasonCode::UpstreamFailed,
        ReasonCode::UpstreamSpawnFailed,
        ReasonCode::VerifyingKeyInvalid,
        ReasonCode::WritAlgNone,
        ReasonCode::WritAlgNotAllowed,
        ReasonCode::WritBadClaim,
        ReasonCode::WritBadHeader,
        ReasonCode::WritBadSignature,
        ReasonCode::WritBadTyp,
        ReasonCode::WritExpired,
        ReasonCode::WritIntentMismatch,
        ReasonCode::WritIntentUnencodable,
        ReasonCode::WritIssuedBeforeEpoch,
        ReasonCode::WritIssuedInFuture,
        ReasonCode::WritKillSwitch,
        ReasonCode::WritLifetimeTooLong,
        ReasonCode::WritMalformed,
        ReasonCode::WritMissingClaim,
        ReasonCode::WritNotYetValid,
        ReasonCode::WritReplayCacheFull,
        ReasonCode::WritReplayed,
        ReasonCode::WritRevoked,
        ReasonCode::WritRevokedJti,
        ReasonCode::WritRevokedPrincipal,
        ReasonCode::WritRevokedZone,
        ReasonCode::WritTooLarge,
        ReasonCode::WritUnknownKid,
        ReasonCode::WritWrongAudience,
        ReasonCode::WritWrongIssuer,
        ReasonCode::WritWrongZone,
        ReasonCode::ZoneQuarantined,
    ];

    /// The code's one wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReasonCode::AppliedNotRecorded => "applied_not_recorded",
            ReasonCode::AssetNotFound => "asset_not_found",
            ReasonCode::AttestationBadKey => "attestation_bad_key",
            ReasonCode::AttestationBadSignature => "attestation_bad_signature",
            ReasonCode::AttestationInvalid => "attestation_invalid",
            ReasonCode::AttestationStale => "attestation_stale",
            ReasonCode::AttestationUnknownGate => "attestation_unknown_gate",
            ReasonCode::AttestationZoneMismatch => "attestation_zone_mismatch",
            ReasonCode::BatchNotSupported => "batch_not_supported",
            ReasonCode::BodyTooLarge => "body_too_large",
            ReasonCode::BodyUnreadable => "body_unreadable",
            ReasonCode::BundleBadCheckpoint => "bundle.bad_checkpoint",
            ReasonCode::BundleBadConsistency => "bundle.bad_consistency",
            ReasonCode::BundleBadInclusion => "bundle.bad_inclusion",
            ReasonCode::BundleDigestMismatch => "bundle_digest_mismatch",
            ReasonCode::BundleDuplicatePolicyId => "bundle_duplicate_policy_id",
            ReasonCode::BundleEntitiesInvalid => "bundle_entities_invalid",
            ReasonCode::BundleInternal => "bundle_internal",
            ReasonCode::BundleIo => "bundle_io",
            ReasonCode::BundleKeyUntrusted => "bundle_key_untrusted",
            ReasonCode::BundleLeafHashMismatch => "bundle.leaf_hash_mismatch",
            ReasonCode::BundleMalformed => "bundle.malformed",
            ReasonCode::BundleNoSchema => "bundle_no_schema",
            ReasonCode::BundleNoTrustedKey => "bundle_no_trusted_key",
            ReasonCode::BundleNotUtf8 => "bundle_not_utf8",
            ReasonCode::BundleParseError => "bundle_parse_error",
            ReasonCode::BundleSchemaInvalid => "bundle_schema_invalid",
            ReasonCode::BundleSignatureInvalid => "bundle_signature_invalid",
            ReasonCode::BundleSignatureMalformed => "bundle_signature_malformed",
            ReasonCode::BundleTemplateUnsupported => "bundle_template_unsupported",
            ReasonCode::BundleUnencodable => "bundle_unencodable",
            ReasonCode::BundleUnsigned => "bundle_unsigned",
            ReasonCode::BundleUntrustedKey => "bundle.untrusted_key",
            ReasonCode::BundleValidationFailed => "bundle_validation_failed",
            ReasonCode::CheckpointMalformed => "checkpoint.malformed",
            ReasonCode::CheckpointWrongOrigin => "checkpoint.wrong_origin",
            ReasonCode::CommandInvalid => "command_invalid",
            ReasonCode::ConfigInvalid => "config_invalid",
            ReasonCode::ConsistencyInvalid => "consistency_invalid",
            ReasonCode::ContainmentUnavailable => "containment_unavailable",
            ReasonCode::ContentTypeInvalid => "content_type_invalid",
            ReasonCode::ControlPlaneGarbage => "control_plane_garbage",
            ReasonCode::ControlPlaneTimeout => "control_plane_timeout",
            ReasonCode::ControlPlaneUnreachable => "control_plane_unreachable",
            ReasonCode::DelegationActionNotInScope => "delegation_action_not_in_scope",
            ReasonCode::DelegationGrantInvalid => "delegation_grant_invalid",
            ReasonCode::DelegationMaxUsesExceeded => "delegation_max_uses_exceeded",
            ReasonCode::DelegationNotGranted => "delegation_not_granted",
            ReasonCode::DelegationNotYours => "delegation_not_yours",
            ReasonCode::DelegationOutlivesParent => "delegation_outlives_parent",
            ReasonCode::DelegationParentExpired => "delegation_parent_expired",
            ReasonCode::DelegationResourceNotInScope => "delegation_resource_not_in_scope",
            ReasonCode::DelegationScopeNotSubset => "delegation_scope_not_subset",
            ReasonCode::DelegationZoneNotInScope => "delegation_zone_not_in_scope",
            ReasonCode::DisclosureBadSalt => "disclosure.bad_salt",
            ReasonCode::DisclosureMismatch => "disclosure.mismatch",
            ReasonCode::DisclosureNoCommitment => "disclosure.no_commitment",
            ReasonCode::DisclosureNotCanonical => "disclosure.not_canonical",
            ReasonCode::DisclosureRandomness => "disclosure.randomness",
            ReasonCode::EntryBadShape => "entry.bad_shape",
            ReasonCode::EntryCommitment => "entry.commitment",
            ReasonCode::EntryNotCanonical => "entry.not_canonical",
            ReasonCode::EntryTooLarge => "entry_too_large",
            ReasonCode::EntryUnencodable => "entry_unencodable",
            ReasonCode::EraseTargetInvalid => "erase_target_invalid",
            ReasonCode::EventFeedLost => "event_feed_lost",
            ReasonCode::EvidenceErased => "evidence_erased",
            ReasonCode::ExecFailed => "exec_failed",
            ReasonCode::ExecutionInvalid => "execution_invalid",
            ReasonCode::ExecutionUnknown => "execution_unknown",
            ReasonCode::FsScopeInvalid => "fs_scope_invalid",
            ReasonCode::FsScopeMismatch => "fs_scope_mismatch",
            ReasonCode::GateExists => "gate_exists",
            ReasonCode::GateKeyInvalid => "gate_key_invalid",
            ReasonCode::GateSigningFailed => "gate_signing_failed",
            ReasonCode::GateUnknown => "gate_unknown",
            ReasonCode::GovernanceUnsynced => "governance_unsynced",
            ReasonCode::HistoryUnavailable => "history_unavailable",
            ReasonCode::IndexUnavailable => "index_unavailable",
            ReasonCode::IntentInvalid => "intent_invalid",
            ReasonCode::InternalState => "internal_state",
            ReasonCode::InvalidArguments => "invalid_arguments",
            ReasonCode::InvalidCall => "invalid_call",
            ReasonCode::InvalidRequest => "invalid_request",
            ReasonCode::IoError => "io_error",
            ReasonCode::IoFailed => "io_failed",
            ReasonCode::IssueBadClaim => "issue_bad_claim",
            ReasonCode::IssueBadLifetime => "issue_bad_lifetime",
            ReasonCode::IssueEncodeFailed => "issue_encode_failed",
            ReasonCode::JsonInvalid => "json_invalid",
            ReasonCode::JsonNotCanonical => "json_not_canonical",
            ReasonCode::JsonSchemaInvalid => "json_schema_invalid",
            ReasonCode::JsonUnencodable => "json_unencodable",
            ReasonCode::JwkInvalid => "jwk_invalid",
            ReasonCode::JwksDuplicateKid => "jwks_duplicate_kid",
            ReasonCode::JwksInvalid => "jwks_invalid",
            ReasonCode::KeyFileInsecure => "key_file_insecure",
            ReasonCode::KeyFileInvalid => "key_file_invalid",
            ReasonCode::KeyFileIo => "key_file_io",
            ReasonCode::KeyNoRandomness => "key_no_randomness",
            ReasonCode::KillSwitch => "kill_switch",
            ReasonCode::LandlockFailed => "landlock_failed",
            ReasonCode::LandlockUnsupported => "landlock_unsupported",
            ReasonCode::LeaseDenied => "lease_denied",
            ReasonCode::LeaseEnded => "lease_ended",
            ReasonCode::LeaseExpired => "lease_expired",
            ReasonCode::LeaseUnknown => "lease_unknown",
            ReasonCode::LedgerAlreadyInitialized => "ledger.already_initialized",
            ReasonCode::LedgerCommitFailed => "ledger.commit_failed",
            ReasonCode::LedgerEntryTooLarge => "entry.too_large",
            ReasonCode::LedgerIo => "ledger.io",
            ReasonCode::LedgerKeyPermissions => "ledger.key_permissions",
            ReasonCode::LedgerNoCheckpointAtSize => "ledger.no_checkpoint_at_size",
            ReasonCode::LedgerNotInitialized => "ledger.not_initialized",
            ReasonCode::LedgerRecordUnreadable => "ledger_record_unreadable",
            ReasonCode::LedgerSizeTooLarge => "ledger.size_too_large",
            ReasonCode::LedgerStorage => "ledger.storage",
            ReasonCode::LedgerTampered => "ledger.tampered",
            ReasonCode::LedgerUnavailable => "ledger_unavailable",
            ReasonCode::LedgerWriterStopped => "ledger.writer_stopped",
            ReasonCode::NoActiveBundle => "no_active_bundle",
            ReasonCode::NoNewPrivsFailed => "no_new_privs_failed",
            ReasonCode::NoPermit => "no_permit",
            ReasonCode::NoPrincipalToken => "no_principal_token",
            ReasonCode::NoteBadSignature => "note.bad_signature",
            ReasonCode::NoteBadSkey => "note.bad_skey",
            ReasonCode::NoteBadVkey => "note.bad_vkey",
            ReasonCode::NoteMalformed => "note.malformed",
            ReasonCode::NoteNoSignature => "note.no_signature",
            ReasonCode::NumberOutOfRange => "number_out_of_range",
            ReasonCode::OriginNotAllowed => "origin_not_allowed",
            ReasonCode::OutputFailed => "output_failed",
            ReasonCode::ParentUnknown => "parent_unknown",
            ReasonCode::ParseError => "parse_error",
            ReasonCode::PassEnvInvalidName => "pass_env_invalid_name",
            ReasonCode::PassEnvWritVariable => "pass_env_writ_variable",
            ReasonCode::PinFileInvalid => "pin_file_invalid",
            ReasonCode::PinFileOutdated => "pin_file_outdated",
            ReasonCode::PinFileUnreadable => "pin_file_unreadable",
            ReasonCode::PinFileWrongServer => "pin_file_wrong_server",
            ReasonCode::PolicyError => "policy_error",
            ReasonCode::PolicyForbid => "policy_forbid",
            ReasonCode::PolicyPermit => "policy_permit",
            ReasonCode::PolicyTestsInvalid => "policy_tests_invalid",
            ReasonCode::PrincipalAttrsInvalid => "principal_attrs_invalid",
            ReasonCode::PrincipalExists => "principal_exists",
            ReasonCode::PrincipalInvalid => "principal_invalid",
            ReasonCode::PrincipalMismatch => "principal_mismatch",
            ReasonCode::PrincipalOrZoneWithdrawn => "principal_or_zone_withdrawn",
            ReasonCode::PrincipalQuarantined => "principal_quarantined",
            ReasonCode::PrincipalRegistrationInvalid => "principal_registration_invalid",
            ReasonCode::PrincipalRevoked => "principal_revoked",
            ReasonCode::PrincipalUnknown => "principal_unknown",
            ReasonCode::PromptDefinitionChanged => "prompt_definition_changed",
            ReasonCode::PromptNotPinned => "prompt_not_pinned",
            ReasonCode::PromptUnknown => "prompt_unknown",
            ReasonCode::ProofBadHashLength => "proof.bad_hash_length",
            ReasonCode::ProofBadSizes => "proof.bad_sizes",
            ReasonCode::ProofIndexOutOfRange => "proof.index_out_of_range",
            ReasonCode::ProofMissingNode => "proof.missing_node",
            ReasonCode::ProofRootMismatch => "proof.root_mismatch",
            ReasonCode::ProofWrongSize => "proof.wrong_size",
            ReasonCode::QueryInvalid => "query_invalid",
            ReasonCode::RandomnessUnavailable => "randomness_unavailable",
            ReasonCode::ReceiptBadSignature => "receipt_bad_signature",
            ReasonCode::ReceiptInvalid => "receipt_invalid",
            ReasonCode::ReceiptWrongGate => "receipt_wrong_gate",
            ReasonCode::RequestIdInFlight => "request_id_in_flight",
            ReasonCode::ResourceDefinitionChanged => "resource_definition_changed",
            ReasonCode::ResourceNotPinned => "resource_not_pinned",
            ReasonCode::ResourceTemplateDefinitionChanged => "resource_template_definition_changed",
            ReasonCode::ResourceTemplateNotPinned => "resource_template_not_pinned",
            ReasonCode::ResourceTemplateUnknown => "resource_template_unknown",
            ReasonCode::ResourceUnknown => "resource_unknown",
            ReasonCode::RoleNotForPrincipal => "role_not_for_principal",
            ReasonCode::RouteNotFound => "route_not_found",
            ReasonCode::SandboxMountFailed => "sandbox_mount_failed",
            ReasonCode::SandboxSetupFailed => "sandbox_setup_failed",
            ReasonCode::SandboxUsage => "sandbox_usage",
            ReasonCode::ScopeInsufficient => "scope_insufficient",
            ReasonCode::ScopeWithoutParent => "scope_without_parent",
            ReasonCode::SecretKeyGiven => "secret_key_given",
            ReasonCode::SigningKeyInvalid => "signing_key_invalid",
            ReasonCode::SpawnFailed => "spawn_failed",
            ReasonCode::StoreFailed => "store_failed",
            ReasonCode::StoreNewerSchema => "store.newer_schema",
            ReasonCode::StoreSchemaUnreadable => "store.schema_unreadable",
            ReasonCode::TargetInvalid => "target_invalid",
            ReasonCode::TileBadBundle => "tile.bad_bundle",
            ReasonCode::TileBadLength => "tile.bad_length",
            ReasonCode::TileEntryTooLarge => "tile.entry_too_large",
            ReasonCode::TileNotFound => "tile_not_found",
            ReasonCode::TooManyRequests => "too_many_requests",
            ReasonCode::TooManyResources => "too_many_resources",
            ReasonCode::ToolDefinitionChanged => "tool_definition_changed",
            ReasonCode::ToolFailed => "tool_failed",
            ReasonCode::ToolNotPinned => "tool_not_pinned",
            ReasonCode::ToolPinned => "tool_pinned",
            ReasonCode::ToolUnknown => "tool_unknown",
            ReasonCode::TrustKeyExists => "trust_key_exists",
            ReasonCode::TrustKeyInUse => "trust_key_in_use",
            ReasonCode::TrustKeyUnknown => "trust_key_unknown",
            ReasonCode::Unauthenticated => "unauthenticated",
            ReasonCode::UnknownAction => "unknown_action",
            ReasonCode::UnknownResource => "unknown_resource",
            ReasonCode::Unrecognized => "unrecognized",
            ReasonCode::UpstreamAnswerUnreadable => "upstream_answer_unreadable",
            ReasonCode::UpstreamEnded => "upstream_ended",
            ReasonCode::UpstreamFailed => "upstream_failed",
            ReasonCode::UpstreamSpawnFailed => "upstream_spawn_failed",
            ReasonCode::VerifyingKeyInvalid => "verifying_key_invalid",
            ReasonCode::WritAlgNone => "writ_alg_none",
            ReasonCode::WritAlgNotAllowed => "writ_alg_not_allowed",
            ReasonCode::WritBadClaim => "writ_bad_claim",
            ReasonCode::WritBadHeader => "writ_bad_header",
            ReasonCode::WritBadSignature => "writ_bad_signature",
            ReasonCode::WritBadTyp => "writ_bad_typ",
            ReasonCode::WritExpired => "writ_expired",
            ReasonCode::WritIntentMismatch => "writ_intent_mismatch",
            ReasonCode::WritIntentUnencodable => "writ_intent_unencodable",
            ReasonCode::WritIssuedBeforeEpoch => "writ_issued_before_epoch",
            ReasonCode::WritIssuedInFuture => "writ_issued_in_future",
            ReasonCode::WritKillSwitch => "writ_kill_switch",
            ReasonCode::WritLifetimeTooLong => "writ_lifetime_too_long",
            ReasonCode::WritMalformed => "writ_malformed",
            ReasonCode::WritMissingClaim => "writ_missing_claim",
            ReasonCode::WritNotYetValid => "writ_not_yet_valid",
            ReasonCode::WritReplayCacheFull => "writ_replay_cache_full",
            ReasonCode::WritReplayed => "writ_replayed",
            ReasonCode::WritRevoked => "writ_revoked",
            ReasonCode::WritRevokedJti => "writ_revoked_jti",
            ReasonCode::WritRevokedPrincipal => "writ_revoked_principal",
            ReasonCode::WritRevokedZone => "writ_revoked_zone",
            ReasonCode::WritTooLarge => "writ_too_large",
            ReasonCode::WritUnknownKid => "writ_unknown_kid",
            ReasonCode::WritWrongAudience => "writ_wrong_audience",
            ReasonCode::WritWrongIssuer => "writ_wrong_issuer",
            ReasonCode::WritWrongZone => "writ_wrong_zone",
            ReasonCode::ZoneQuarantined => "zone_quarantined",
        }
    }

    /// Reads a code received from elsewhere (the control plane's answer to a gate): a code
    /// this build does not know becomes [`ReasonCode::Unrecognized`], so the caller still
    /// denies and logs a code from this list.
    pub fn parse_lossy(s: &str) -> ReasonCode {
        s.parse().unwrap_or(ReasonCode::Unrecognized)
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with a spelling, so a test can hold a code to its wire text.
impl PartialEq<&str> for ReasonCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for ReasonCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<ReasonCode> for &str {
    fn eq(&self, other: &ReasonCode) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<ReasonCode> for String {
    fn eq(&self, other: &ReasonCode) -> bool {
        self.as_str() == other.as_str()
    }
}

/// A string that is not the spelling of any [`ReasonCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reason code {0:?}")]
pub struct UnknownReasonCode(pub String);

impl FromStr for ReasonCode {
    type Err = UnknownReasonCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReasonCode::ALL
            .binary_search_by(|c| c.as_str().cmp(s))
            .ok()
            .and_then(|i| ReasonCode::ALL.get(i).copied())
            .ok_or_else(|| UnknownReasonCode(s.to_owned()))
    }
}

impl serde::Serialize for ReasonCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ReasonCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn spellings_are_unique_sorted_well_shaped_and_round_trip() {
        let mut seen = BTreeSet::new();
        let mut prev = "";
        for &code in ReasonCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate spelling {s}");
            assert!(
                prev < s,
                "ALL must be in spelling order for FromStr: {prev} then {s}"
            );
            prev = s;
            let segment_ok = |p: &str| {
                !p.is_empty()
                    && p.as_bytes()[0].is_ascii_lowercase()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    && !p.ends_with('_')
                    && !p.contains("__")
            };
            let parts: Vec<&str> = s.split('.').collect();
            assert!(
                parts.len() <= 2 && parts.iter().all(|p| segment_ok(p)),
                "bad shape {s}"
            );
            assert_eq!(s.parse::<ReasonCode>().unwrap(), code);
            assert_eq!(code.to_string(), s);
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<ReasonCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn unknown_codes_are_refused_or_mapped_to_unrecognized() {
        assert!("no_such_code".parse::<ReasonCode>().is_err());
        assert!(serde_json::from_str::<ReasonCode>("\"Writ_Expired\"").is_err());
        assert_eq!(
            ReasonCode::parse_lossy("no_such_code"),
            ReasonCode::Unrecognized
        );
        assert_eq!(
            ReasonCode::parse_lossy("writ_expired"),
            ReasonCode::WritExpired
        );
        assert_eq!(ReasonCode::Unrecognized.as_str(), "unrecognized");
    }

    /// Every `.rs` file under `crates/*/src`, with its path.
    fn sources() -> Vec<(std::path::PathBuf, String)> {
        fn walk(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    out.push((path, text));
                }
            }
        }
        let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut out = Vec::new();
        for krate in std::fs::read_dir(crates).unwrap() {
            let src = krate.unwrap().path().join("src");
            if src.is_dir() {
                walk(&src, &mut out);
            }
        }
        out
    }

    /// Spellings that are also the names of other things, each with why it may be written.
    const NOT_REASONS: &[(&str, &str)] = &[
        (
            "kill_switch",
            "the kill switch's JSON member, event kind, setting key and ledger entry type",
        ),
        (
            "writ_kill_switch",
            "the Prometheus family of the kill switch gauge",
        ),
    ];

    /// Codes no build knows, written on purpose, each with why.
    const UNKNOWN_ON_PURPOSE: &[(&str, &str)] = &[(
        "from_a_newer_server",
        "writ-api's test that a code this build does not know reads as unrecognized",
    )];

    /// The string literals of Rust source `text`, each with its byte offset (of the opening
    /// quote): comments, char literals and lifetimes are skipped, raw strings are read.
    fn literals(text: &str) -> Vec<(usize, String)> {
        let b = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'/' if b.get(i + 1) == Some(&b'/') => {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                }
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    i = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                }
                b'\'' => {
                    // A char literal ('x', '\n', '"'), else a lifetime or label.
                    if b.get(i + 1) == Some(&b'\\') {
                        i = text[i + 2..].find('\'').map_or(b.len(), |e| i + 2 + e + 1);
                    } else if let Some(c) = text[i + 1..].chars().next()
                        && text[i + 1 + c.len_utf8()..].starts_with('\'')
                    {
                        i += 1 + c.len_utf8() + 1;
                    } else {
                        i += 1;
                    }
                }
                b'r' if (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
                    && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
                {
                    let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                    let open = i + 1 + hashes;
                    if b.get(open) != Some(&b'"') {
                        i += 1;
                        continue;
                    }
                    let close = format!("\"{}", "#".repeat(hashes));
                    let end = text[open + 1..]
                        .find(&close)
                        .map_or(b.len(), |e| open + 1 + e);
                    out.push((open, text[open + 1..end].to_owned()));
                    i = end + close.len();
                }
                b'"' => {
                    let start = i;
                    let mut value = String::new();
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        if b[i] == b'\\' {
                            value.push('\\');
                            i += 1;
                        }
                        if let Some(c) = text[i..].chars().next() {
                            value.push(c);
                            i += c.len_utf8();
                        }
                    }
                    out.push((start, value));
                    i += 1;
                }
                _ => i += 1,
            }
        }
        out
    }

    #[test]
    fn the_literal_reader_reads_strings_and_skips_the_rest() {
        let src = r##"let a = "x\"y"; // "no"
/* "nor" */ let c = '"'; fn f<'a>() {} let r = r#"raw "q""#; let e = "e";"##;
        let got: Vec<String> = literals(src).into_iter().map(|(_, s)| s).collect();
        assert_eq!(got, ["x\\\"y", "raw \"q\"", "e"]);
    }

    /// Every reason code comes from [`ReasonCode`]: no spelling of it is written as a string
    /// literal in any crate's `src/` (tests in `src/` included: they compare with the enum);
    /// no literal at all is handed to an API error or a gateway denial or written as the value
    /// of a `reason_code` JSON member (which would also catch a code missing from the list);
    /// and no `reason_code()` returns a string.
    fn scan(path: &std::path::Path, text: &str, found: &mut Vec<String>) {
        let spellings: BTreeSet<&str> = ReasonCode::ALL.iter().map(|c| c.as_str()).collect();
        let line_of = |at: usize| text[..at].matches('\n').count() + 1;
        let lits = literals(text);
        for (k, (at, value)) in lits.iter().enumerate() {
            let here = format!("{}:{}", path.display(), line_of(*at));
            if spellings.contains(value.as_str()) && !NOT_REASONS.iter().any(|(s, _)| s == value) {
                found.push(format!("{here}: {value:?} written as a literal"));
            }
            // `"reason_code": "…"` (json!) and `reason_code: "…"` (a struct field).
            let before = text[..*at].trim_end();
            let member = before.strip_suffix(':').map(str::trim_end);
            let after_member = member.is_some_and(|m| {
                m.ends_with("reason_code")
                    || (m.ends_with('"')
                        && k > 0
                        && lits.get(k - 1).is_some_and(|(_, v)| v == "reason_code"))
            });
            let after_call = before.ends_with("Denial::new(");
            let on_purpose = UNKNOWN_ON_PURPOSE.iter().any(|(c, _)| c == value);
            if (after_member || after_call) && !on_purpose {
                found.push(format!("{here}: reason code {value:?} written by hand"));
            }
        }
        for (n, line) in text.lines().enumerate() {
            if line.contains("fn reason_code(") && line.contains("-> &") {
                found.push(format!(
                    "{}:{}: reason_code returns a string",
                    path.display(),
                    n + 1
                ));
            }
        }
        for ctor in [
            "bad_request(",
            "forbidden(",
            "not_found(",
            "conflict(",
            "unavailable(",
        ] {
            let needle = format!("ApiError::{ctor}");
            for (i, _) in text.match_indices(&needle) {
                let rest = text.get(i + needle.len()..).unwrap_or("").trim_start();
                if rest.starts_with('"') {
                    found.push(format!(
                        "{}:{}: ApiError::{ctor} given a literal",
                        path.display(),
                        line_of(i)
                    ));
                }
            }
        }
        for (i, _) in text.match_indices("ApiError::new(") {
            let rest = text.get(i + "ApiError::new(".len()..).unwrap_or("");
            let second = rest
                .split_once(',')
                .map(|(_, r)| r.trim_start())
                .unwrap_or("");
            if second.starts_with('"') {
                found.push(format!(
                    "{}:{}: ApiError::new given a literal",
                    path.display(),
                    line_of(i)
                ));
            }
        }
    }

    #[test]
    fn no_reason_code_literal_outside_this_file() {
        let mut found = Vec::new();
        let files = sources();
        assert!(files.len() > 50, "the source walk found the tree");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (path, text) in &files {
            if path.ends_with("writ-model/src/reason.rs") {
                continue;
            }
            scan(path.strip_prefix(&root).unwrap_or(path), text, &mut found);
        }
        assert!(
            found.is_empty(),
            "reason codes written outside reason.rs: {found:#?}"
        );
    }

    /// The scan finds each thing it looks for (it would pass on any tree otherwise).
    #[test]
    fn the_scan_finds_each_kind_of_hand_written_code() {
        let path = std::path::Path::new("x.rs");
        for (planted, expect) in [
            (r#"let c = "no_permit";"#, "written as a literal"),
            (r#"Denial::new("made_up_code", m)"#, "written by hand"),
            (
                r#"json!({"reason_code": "made_up_code"})"#,
                "written by hand",
            ),
            (
                r#"Termination { reason_code: "made_up", killed }"#,
                "written by hand",
            ),
            (r#"ApiError::forbidden("made_up", m)"#, "given a literal"),
            (r#"ApiError::new(s, "made_up", m)"#, "given a literal"),
            ("pub fn reason_code(&self) -> &str {", "returns a string"),
        ] {
            let mut found = Vec::new();
            scan(path, planted, &mut found);
            assert!(
                found.iter().any(|f| f.contains(expect)),
                "{planted}: {found:?}"
            );
        }
        // Names that share a code's spelling, a code in a comment, and the enum are fine.
        let mut found = Vec::new();
        let fine = r#"json!({"kill_switch": on}); // "no_permit"
            Denial::new(ReasonCode::NoPermit, "why"); let m = "the policy_permit rule";"#;
        scan(path, fine, &mut found);
        assert!(found.is_empty(), "{found:?}");
    }
}
