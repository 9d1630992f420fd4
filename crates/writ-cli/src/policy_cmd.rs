//! `writ policy …` and `writ replay`. Owned by the authorize work.

use crate::cli_output::{Exit, invalid_input};

#[derive(Debug, clap::Args)]
pub struct PolicyArgs {}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {}

pub fn run(_args: PolicyArgs) -> anyhow::Result<Exit> {
    Err(invalid_input("writ policy is not built yet"))
}

pub fn replay(_args: ReplayArgs) -> anyhow::Result<Exit> {
    Err(invalid_input("writ replay is not built yet"))
}
