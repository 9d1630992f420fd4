//! writ-artifact (work in progress)
