//! Tests of the `writ` writ commands.
