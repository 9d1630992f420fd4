//! Running a synchronous PostgreSQL call from anywhere. The `postgres` crate's client drives
//! its connection with a runtime of its own and panics when called on a thread that is already
//! driving an async runtime (a request handler of `writ serve`). Every call into a PostgreSQL
//! store therefore goes through [`off_runtime`], which runs it on a short-lived thread of its
//! own: a few tens of microseconds beside a database round trip, and no panic whoever calls.

use std::io;

/// Runs `f` on a new scoped thread and returns what it returned. `Err` when no thread could be
/// started (the caller fails closed with it); a panic inside `f` is resumed here.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("writ-pg-call".into())
            .spawn_scoped(scope, f)?;
        match handle.join() {
            Ok(v) => Ok(v),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_another_thread_and_returns_its_value() {
        let here = std::thread::current().id();
        let mut borrowed = vec![1, 2];
        let (there, sum) = off_runtime(|| {
            borrowed.push(3);
            (std::thread::current().id(), borrowed.iter().sum::<i32>())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(here, there);
        assert_eq!(sum, 6);
        assert_eq!(borrowed, [1, 2, 3]);
    }
}
