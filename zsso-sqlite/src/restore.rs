//! Restoring into a SQLite database: one connection, foreign keys off, one transaction.

use crate::dialect::SQLITE;
use crate::dump::{CAPABILITIES, describe_path, orphans, stream_rows};
use crate::error::db;
use crate::introspect;
use async_trait::async_trait;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Row, SqliteConnection};
use std::path::{Path, PathBuf};
use std::time::Duration;
use zsso_core::Result;
use zsso_core::backend::{Capabilities, Dependent, Orphan, Restorer, RowSink};
use zsso_core::dialect::Dialect;
use zsso_core::schema::Table;

/// Writes the SSO tables into a SQLite database file (created if missing).
pub struct SqliteRestorer {
    conn: SqliteConnection,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteRestorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteRestorer")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteRestorer {
    /// Opens (or creates) the database file. Foreign-key enforcement is switched off on this
    /// connection before any transaction, as SQLite ignores the pragma inside one.
    pub async fn open(path: &Path) -> Result<Self> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .foreign_keys(false)
            .busy_timeout(Duration::from_secs(10));
        let mut conn = SqliteConnection::connect_with(&opts)
            .await
            .map_err(|e| db(format!("opening {}", path.display()), e))?;
        introspect::check_encoding(&mut conn).await?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    async fn run(&mut self, sql: &str, what: &str) -> Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut self.conn)
            .await
            .map_err(|e| db(what.to_string(), e))?;
        Ok(())
    }
}

#[async_trait]
impl Restorer for SqliteRestorer {
    fn dialect(&self) -> &'static dyn Dialect {
        &SQLITE
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn describe(&self) -> String {
        describe_path(&self.path)
    }

    async fn tables(&mut self) -> Result<Vec<String>> {
        introspect::table_names(&mut self.conn).await
    }

    async fn dependents(&mut self, set: &[String]) -> Result<Vec<Dependent>> {
        let in_set = |t: &str| set.iter().any(|s| s.eq_ignore_ascii_case(t));
        let mut out = Vec::new();
        for t in introspect::table_names(&mut self.conn).await? {
            if in_set(&t) {
                continue;
            }
            let refs = sqlx::query("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)")
                .bind(&t)
                .fetch_all(&mut self.conn)
                .await
                .map_err(|e| db(format!("reading the foreign keys of {t}"), e))?;
            for r in refs {
                let target: String = r.get(0);
                if in_set(&target) {
                    out.push(Dependent {
                        table: t.clone(),
                        references: target,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn begin(&mut self) -> Result<()> {
        // Enforcement is off for the connection (set at open, outside any transaction).
        self.run("PRAGMA foreign_keys=OFF", "switching foreign keys off")
            .await?;
        self.run("BEGIN IMMEDIATE", "starting the transaction")
            .await
    }

    async fn drop_table(&mut self, table: &str) -> Result<()> {
        let sql = format!("DROP TABLE {}", SQLITE.quote_ident(table));
        self.run(&sql, &format!("dropping {table}")).await
    }

    async fn execute(&mut self, sql: &str) -> Result<()> {
        self.run(sql, "running a statement of the dump").await
    }

    async fn describe_table(&mut self, table: &str) -> Result<Table> {
        introspect::describe(&mut self.conn, table).await
    }

    async fn stream_rows(&mut self, table: &Table, sink: &mut dyn RowSink) -> Result<()> {
        stream_rows(&mut self.conn, table, sink).await
    }

    async fn orphans(&mut self, tables: &[Table]) -> Result<Vec<Orphan>> {
        orphans(&mut self.conn, tables).await
    }

    async fn commit(&mut self) -> Result<()> {
        self.run("COMMIT", "committing").await
    }

    async fn rollback(&mut self) -> Result<()> {
        self.run("ROLLBACK", "rolling back").await
    }
}
