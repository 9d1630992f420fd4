//! Schema versions: every store records one; a store written by a newer release is refused
//! with a message naming both versions; an unversioned store of an older release is migrated.

use std::path::Path;
use std::sync::Arc;

use writ_model::SystemClock;
use writ_server::{AppState, ServerConfig, init_data_dir};

fn version(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

fn set_version(db: &Path, v: i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.pragma_update(None, "user_version", v).unwrap();
}

/// A data directory that has been opened once (so every store exists).
fn opened_data_dir() -> (tempfile::TempDir, ServerConfig) {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        data_dir: dir.path().join("data"),
        ..ServerConfig::default()
    };
    init_data_dir(&config, &[]).unwrap();
    drop(AppState::open(config.clone(), Arc::new(SystemClock)).unwrap());
    (dir, config)
}

const STORES: [(&str, i64); 3] = [
    ("ledger/ledger.db", writ_ledger::store::SCHEMA_VERSION),
    ("control.db", writ_server::store::SCHEMA_VERSION),
    ("index.db", writ_server::exec::SCHEMA_VERSION),
];

#[test]
fn every_store_records_its_schema_version() {
    let (_dir, config) = opened_data_dir();
    for (file, want) in STORES {
        assert_eq!(version(&config.data_dir.join(file)), want, "{file}");
        assert!(want >= 1);
    }
}

#[test]
fn a_store_at_a_newer_schema_version_is_refused_naming_both_versions() {
    for (file, supported) in STORES {
        let (_dir, config) = opened_data_dir();
        let db = config.data_dir.join(file);
        set_version(&db, supported + 1);
        let Err(err) = AppState::open(config.clone(), Arc::new(SystemClock)) else {
            panic!("{file} at version {} was opened", supported + 1);
        };
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("is at schema version {}", supported + 1))
                && msg.contains(&format!("up to schema version {supported}"))
                && msg.contains(file.rsplit('/').next().unwrap())
                && msg.contains("writ restore"),
            "{file}: {msg}"
        );
        // Refusing writes nothing: the store keeps the newer version.
        assert_eq!(version(&db), supported + 1, "{file}");
    }
}

#[test]
fn an_unversioned_store_of_an_older_release_is_migrated_on_start() {
    let (_dir, config) = opened_data_dir();
    for (file, _) in STORES {
        set_version(&config.data_dir.join(file), 0);
    }
    drop(AppState::open(config.clone(), Arc::new(SystemClock)).unwrap());
    for (file, want) in STORES {
        assert_eq!(version(&config.data_dir.join(file)), want, "{file}");
    }
}
