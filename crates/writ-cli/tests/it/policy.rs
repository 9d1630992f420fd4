//! Tests of the `writ` policy commands.
