//! writ-ledger (work in progress)
