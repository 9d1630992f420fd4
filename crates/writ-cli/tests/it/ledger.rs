//! Tests of the `writ` ledger commands.
