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

    async fn orphans(&mut self, tables: &[Table]) -> Result<Vec<Orphan>> {
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
        sqlx::raw_sql("COMMIT")
            .execute(&mut self.conn)
            .await
            .map_err(|e| db("ending the read transaction", e))?;
        Ok(())
    }
}
