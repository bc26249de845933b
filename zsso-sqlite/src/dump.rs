//! Backing up a SQLite database: one read transaction on one connection.

use crate::dialect::SQLITE;
use crate::error::db;
use crate::introspect;
use crate::raw;
use async_trait::async_trait;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};
use std::path::{Path, PathBuf};
use std::time::Duration;
use zsso_core::backend::{Capabilities, Dumper, Orphan, RowSink, SourceSnapshot};
use zsso_core::dialect::Dialect;
use zsso_core::schema::Table;
use zsso_core::{Error, Result};

/// SQLite's capabilities: DDL is transactional, there are no standalone sequences.
pub const CAPABILITIES: Capabilities = Capabilities {
    transactional_ddl: true,
    atomic_restore: true,
    sequences: false,
    enforces_foreign_keys: false,
    detach_dependents: false,
};

/// Reads the SSO tables of a SQLite database file.
pub struct SqliteDumper {
    conn: SqliteConnection,
    path: PathBuf,
    /// The database is in WAL mode (found by [`Dumper::begin`]).
    wal: bool,
    /// The foreign-key check running beside the rows, once planned.
    check: Option<SideCheck>,
    /// The device and inode of the file when the connection opened it.
    file_id: Option<(u64, u64)>,
}

/// The device and inode of the file at `path`.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Says why the foreign keys are checked on the dump's connection, after the rows.
const AFTER_THE_ROWS: &str = "the foreign keys are checked after the rows";

/// SQLite's foreign-key check on a thread of its own, with a second connection that reads
/// what the dump reads.
///
/// Outside WAL mode a writer commits only when no connection holds a shared lock. The dump's
/// connection holds one from its first read to its end, so a second connection that takes
/// its own while that one is held sees the very same database.
struct SideCheck {
    tables: Vec<String>,
    thread: Option<std::thread::JoinHandle<Result<Vec<Orphan>>>>,
    interrupt: rusqlite::InterruptHandle,
}

impl SideCheck {
    /// Opens the second connection and takes its shared lock before returning, then checks
    /// `tables` on the thread. Refused if the file at `path` is not the one whose device and
    /// inode are `file_id_then` (it was replaced since the dump's connection opened it).
    fn start(path: &Path, file_id_then: Option<(u64, u64)>, tables: &[Table]) -> Result<Self> {
        let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (file, owned) = (path.to_path_buf(), names.clone());
        let thread = std::thread::Builder::new()
            .name("zsso-fk-check".into())
            .spawn(move || {
                let c = match open_beside(&file) {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(c.get_interrupt_handle()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return Ok(Vec::new());
                    }
                };
                zsso_core::fault::point("backup.foreign_keys")?;
                let mut out = Vec::new();
                for t in &owned {
                    foreign_key_check(&c, t, &mut out)
                        .map_err(|e| raw::rs(format!("checking the foreign keys of {t}"), e))?;
                }
                Ok(out)
            })
            .map_err(|e| Error::io("cannot start a thread to check foreign keys", path, e))?;
        match ready_rx.recv() {
            Ok(Ok(interrupt)) => {
                let check = Self {
                    tables: names,
                    thread: Some(thread),
                    interrupt,
                };
                // Looked at once the second connection holds its lock: the file it opened, or
                // one put there later, either way not the dump's if it differs.
                if file_id_then.is_none() || file_id(path) != file_id_then {
                    return Err(Error::Usage(format!(
                        "{} is not the file the backup opened (replaced since)",
                        path.display()
                    )));
                }
                Ok(check)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Usage(
                "the foreign-key check's thread ended before it opened".into(),
            )),
        }
    }

    /// The check's answer.
    fn join(mut self) -> Result<Vec<Orphan>> {
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(r)) => r,
            _ => Err(Error::Usage(
                "the foreign-key check's thread panicked".into(),
            )),
        }
    }
}

impl Drop for SideCheck {
    /// A check not asked for (the backup failed, or ended otherwise) is interrupted: its
    /// shared lock does not outlive the backup.
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.interrupt.interrupt();
            let _ = t.join();
        }
    }
}

/// A read-only connection to `path` holding a shared lock in an open read transaction. A
/// writer about to commit keeps new shared locks out: that is waited for 100 ms, then given up.
fn open_beside(path: &Path) -> Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let what = || format!("opening {} a second time", path.display());
    let c = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| raw::rs(what(), e))?;
    c.busy_timeout(Duration::from_millis(100))
        .map_err(|e| raw::rs(what(), e))?;
    // It reads each table once, in order, and looks its parents up in their indexes: a small
    // page cache does.
    raw::execute_one(
        &c,
        "PRAGMA cache_size = -256",
        "sizing the second connection's cache",
    )?;
    raw::execute_one(&c, "BEGIN", "starting the second read transaction")?;
    c.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| raw::rs("taking the second connection's shared lock", e))?;
    Ok(c)
}

/// Appends the rows of `table` that SQLite's foreign-key check reports.
fn foreign_key_check(
    c: &rusqlite::Connection,
    table: &str,
    out: &mut Vec<Orphan>,
) -> rusqlite::Result<()> {
    let mut stmt =
        c.prepare("SELECT \"table\", rowid, parent FROM pragma_foreign_key_check(?1)")?;
    let mut rows = stmt.query([table])?;
    while let Some(r) = rows.next()? {
        out.push(Orphan {
            table: r.get(0)?,
            row: r.get(1)?,
            parent: r.get(2)?,
        });
    }
    Ok(())
}

impl std::fmt::Debug for SqliteDumper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDumper")
            .field("path", &self.path)
            .finish()
    }
}

/// The connection options of every zsso connection: statements are never logged (they hold
/// the rows, and rows hold tokens and hashes), and a lock is waited out for 10 seconds.
pub(crate) fn connect_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(10))
        .disable_statement_logging()
}

pub(crate) fn describe_path(p: &Path) -> String {
    format!("sqlite database {}", p.display())
}

impl SqliteDumper {
    /// Opens an existing database file read-only.
    pub async fn open(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::io(
                "cannot open the database",
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            ));
        }
        let opts = connect_options(path).read_only(true);
        let conn = SqliteConnection::connect_with(&opts)
            .await
            .map_err(|e| db(format!("opening {}", path.display()), e))?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            wal: false,
            check: None,
            file_id: file_id(path),
        })
    }
}

/// Streams every row of `table` on `conn`, reading them in place on the connection's handle
/// (see [`crate::raw`]).
pub(crate) async fn stream_rows(
    conn: &mut SqliteConnection,
    table: &Table,
    sink: &mut dyn RowSink,
) -> Result<()> {
    let d = &SQLITE;
    let cols: Vec<String> = table.column_names().map(|c| d.quote_ident(c)).collect();
    let sql = format!(
        "SELECT {} FROM {}",
        cols.join(", "),
        d.quote_ident(&table.name)
    );
    let name = &table.name;
    raw::with_handle(conn, |c| {
        let mut stmt = c
            .prepare(&sql)
            .map_err(|e| raw::rs(format!("reading {name}"), e))?;
        let mut rows = stmt.raw_query();
        let mut values = Vec::with_capacity(cols.len());
        let mut n = 0u64;
        while let Some(row) = rows
            .next()
            .map_err(|e| raw::rs(format!("reading row {} of {name}", n + 1), e))?
        {
            values.clear();
            for i in 0..cols.len() {
                let v = row
                    .get_ref(i)
                    .map_err(|e| raw::rs(format!("reading row {} of {name}", n + 1), e))?;
                values.push(raw::value(v));
            }
            sink.row(&values)?;
            n += 1;
        }
        Ok(())
    })
    .await
}

/// Runs SQLite's foreign-key check on each table.
pub(crate) async fn orphans(conn: &mut SqliteConnection, tables: &[Table]) -> Result<Vec<Orphan>> {
    let mut out = Vec::new();
    for t in tables {
        let rows = sqlx::query("SELECT \"table\", rowid, parent FROM pragma_foreign_key_check(?1)")
            .bind(&t.name)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| db(format!("checking the foreign keys of {}", t.name), e))?;
        for r in rows {
            out.push(Orphan {
                table: r.get(0),
                row: r.get(1),
                parent: r.get(2),
            });
        }
    }
    Ok(out)
}

#[async_trait]
impl Dumper for SqliteDumper {
    fn dialect(&self) -> &'static dyn Dialect {
        &SQLITE
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn describe(&self) -> String {
        describe_path(&self.path)
    }

    async fn begin(&mut self) -> Result<SourceSnapshot> {
        sqlx::raw_sql("BEGIN")
            .execute(&mut self.conn)
            .await
            .map_err(|e| db("starting the read transaction", e))?;
        // The first read takes the snapshot; everything after reads the same one.
        introspect::check_encoding(&mut self.conn, &self.path).await?;
        let server_version: String = sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| db("reading the version", e))?;
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| db("reading the journal mode", e))?;
        self.wal = mode.eq_ignore_ascii_case("wal");
        let schema = introspect::sso_schema(&mut self.conn).await?;
        // A trigger that touches anything but the SSO tables would be refused by the restore:
        // refuse it now, while it can still be fixed at the source.
        let names: Vec<String> = schema.tables.iter().map(|t| t.name.clone()).collect();
        let mut scope = raw::Scope::new(&names);
        raw::with_handle(&mut self.conn, |c| {
            schema
                .tables
                .iter()
                .try_for_each(|t| raw::check_triggers(c, t, &mut scope))
        })
        .await
        .map_err(|e| zsso_core::Error::Refused {
            reason: format!("cannot back up: {e}"),
        })?;
        let warnings = schema
            .tables
            .iter()
            .filter(|t| t.create_sql.to_ascii_uppercase().contains("AUTOINCREMENT"))
            .map(|t| {
                format!(
                    "{} is declared AUTOINCREMENT: its rows are carried, its sqlite_sequence counter is not (new ids continue after the largest restored one)",
                    t.name
                )
            })
            .collect();
        Ok(SourceSnapshot {
            server_version,
            schema,
            warnings,
            prologue: String::new(),
            conversion: None,
        })
    }

    async fn stream_rows(&mut self, table: &Table, sink: &mut dyn RowSink) -> Result<()> {
        stream_rows(&mut self.conn, table, sink).await
    }

    fn plan_orphans(&mut self, tables: &[Table]) {
        if self.wal {
            tracing::debug!(
                "{AFTER_THE_ROWS}: in WAL mode a writer may commit between two connections' snapshots"
            );
            return;
        }
        match SideCheck::start(&self.path, self.file_id, tables) {
            Ok(check) => {
                tracing::debug!(
                    "the foreign keys are checked beside the rows, on a second connection under the dump's shared lock"
                );
                self.check = Some(check);
            }
            Err(e) => tracing::debug!("{AFTER_THE_ROWS}: {e}"),
        }
    }

    async fn orphans(&mut self, tables: &[Table]) -> Result<Vec<Orphan>> {
        if let Some(check) = self.check.take() {
            if tables.iter().map(|t| &t.name).eq(check.tables.iter()) {
                return check.join();
            }
            tracing::debug!("{AFTER_THE_ROWS}: other tables were asked for than planned");
            drop(check);
        }
        zsso_core::fault::point("backup.foreign_keys")?;
        orphans(&mut self.conn, tables).await
    }

    async fn estimated_rows(&mut self, table: &Table) -> Option<u64> {
        // Exact, in the same read transaction, and quick: SQLite counts from its smallest index.
        let sql = format!(
            "SELECT count(*) FROM {}",
            crate::dialect::SQLITE.quote_ident(&table.name)
        );
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut self.conn)
            .await
            .ok()?;
        u64::try_from(n).ok()
    }

    async fn finish(&mut self) -> Result<()> {
        // Asked for or not, the second connection ends before the dump's does.
        drop(self.check.take());
        sqlx::raw_sql("COMMIT")
            .execute(&mut self.conn)
            .await
            .map_err(|e| db("ending the read transaction", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_side_check_reads_only_the_file_the_dump_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(
                "PRAGMA foreign_keys = OFF; CREATE TABLE p (id INTEGER PRIMARY KEY);
                 CREATE TABLE t (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p (id));
                 INSERT INTO p VALUES (1); INSERT INTO t VALUES (7, 1), (8, 99);",
            )
            .unwrap();
        let then = file_id(&path);
        assert!(then.is_some());
        // The same file: the check runs, and finds the row whose parent is missing.
        let table = Table {
            name: "t".into(),
            ..Table::default()
        };
        let same = SideCheck::start(&path, then, std::slice::from_ref(&table)).unwrap();
        let want = Orphan {
            table: "t".into(),
            row: Some(8),
            parent: "p".into(),
        };
        assert_eq!(same.join().unwrap(), vec![want]);
        // Another file renamed over the name since: refused, so the check runs after the rows.
        let other = dir.path().join("other.db");
        std::fs::copy(&path, &other).unwrap();
        std::fs::rename(&other, &path).unwrap();
        let e = SideCheck::start(&path, then, &[])
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("is not the file the backup opened"), "{e}");
        assert!(SideCheck::start(&path, None, &[]).is_err());
    }
}
