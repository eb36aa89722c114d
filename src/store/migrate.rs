//! Numbered SQL migrations applied by `PRAGMA user_version`.
//!
//! All pending scripts run in one transaction, so a crash mid-upgrade leaves the previous
//! version intact. A database newer than the binary is refused rather than guessed at.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// Migration scripts in order; script `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_watch.sql"),
    include_str!("../../migrations/0003_gone.sql"),
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(super) fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
    let current = user_version(&tx)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: current,
            known: SCHEMA_VERSION,
        });
    }
    for (index, script) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(script)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Db;
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        drop(Db::open(&path).unwrap());
        let db = Db::open(&path).unwrap();
        assert_eq!(user_version(db.connection()).unwrap(), SCHEMA_VERSION);
        let tables: i64 = db
            .connection()
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 5);
    }

    #[test]
    fn a_database_from_a_newer_release_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        let err = Db::open(&path).err().expect("must refuse");
        assert!(err.to_string().contains("newer gphotosd"), "{err}");
        assert!(matches!(err, StoreError::TooNew { .. }));
    }

    #[test]
    fn a_reader_asks_for_an_upgrade_instead_of_failing_on_a_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            for script in &MIGRATIONS[..2] {
                tx.execute_batch(script).unwrap();
            }
            tx.pragma_update(None, "user_version", 2).unwrap();
            tx.commit().unwrap();
        }
        let err = Db::open_read_only(&path).err().expect("an older schema");
        assert!(matches!(err, StoreError::TooOld { found: 2, .. }), "{err}");
        assert!(err.to_string().contains("restart gphotosd"), "{err}");
        // The daemon (a writer) upgrades it; then it reads.
        drop(Db::open(&path).unwrap());
        Db::open_read_only(&path).unwrap();

        let fresh = dir.path().join("new");
        drop(Connection::open(&fresh).unwrap());
        let err = Db::open_read_only(&fresh).err().expect("not created yet");
        assert!(err.to_string().contains("being created"), "{err}");
    }
}
