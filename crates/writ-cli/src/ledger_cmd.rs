//! `writ ledger …`, `writ bench ledger` and (for now) `writ demo`. Owned by the ledger work.

use crate::cli_output::{Exit, invalid_input};

#[derive(Debug, clap::Args)]
pub struct LedgerArgs {}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

#[derive(Debug, clap::Args)]
pub struct BenchLedgerArgs {}

pub fn run(_args: LedgerArgs) -> anyhow::Result<Exit> {
    Err(invalid_input("writ ledger is not built yet"))
}

pub fn demo(_args: DemoArgs) -> anyhow::Result<Exit> {
    Err(invalid_input("writ demo is not built yet"))
}

pub fn bench(_args: BenchLedgerArgs) -> anyhow::Result<Exit> {
    Err(invalid_input("writ bench ledger is not built yet"))
}
