//! writ-authorize (work in progress)
