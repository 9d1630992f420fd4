//! `writ inspect` and `writ verify-writ`. Owned by the artifact work.

use crate::cli_output::{Exit, invalid_input};

#[derive(Debug, clap::Args)]
pub struct InspectArgs {}

#[derive(Debug, clap::Args)]
pub struct VerifyWritArgs {}

pub fn inspect(_args: InspectArgs) -> anyhow::Result<Exit> {
    Err(invalid_input("writ inspect is not built yet"))
}

pub fn verify_writ(_args: VerifyWritArgs) -> anyhow::Result<Exit> {
    Err(invalid_input("writ verify-writ is not built yet"))
}
