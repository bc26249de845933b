//! Backing up a MySQL or MariaDB database: one `REPEATABLE READ` transaction started `WITH
//! CONSISTENT SNAPSHOT` on one connection, rows streamed.

use crate::conn::MysqlLocation;
use crate::dialect::MYSQL;
use crate::error::db;
use crate::introspect::{self, MyTable};
use async_trait::async_trait;
use sqlx::{Connection, MySqlConnection};
use zsso_core::backend::{Capabilities, Dumper, Orphan, RowSink, SourceSnapshot};
use zsso_core::catalogue::is_sso_table;
use zsso_core::dialect::Dialect;
use zsso_core::schema::{Schema, Table};
use zsso_core::{Error, Result};

/// MySQL's capabilities: DDL commits implicitly, so a restore loads into a database of its
/// own and swaps the tables in with one atomic `RENAME TABLE`.
pub const CAPABILITIES: Capabilities = Capabilities {
    transactional_ddl: false,
    atomic_restore: true,
    sequences: false,
    enforces_foreign_keys: true,
    detach_dependents: true,
};

/// Reads the SSO tables of one MySQL or MariaDB database.
pub struct MysqlDumper {
    conn: Option<MySqlConnection>,
    location: MysqlLocation,
    tables: Vec<MyTable>,
}

impl std::fmt::Debug for MysqlDumper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlDumper")
            .field("location", &self.location)
            .finish()
    }
}

impl MysqlDumper {
    /// Connects to the database.
    pub async fn open(location: &MysqlLocation) -> Result<Self> {
        Ok(Self {
            conn: Some(location.connect().await?),
            location: location.clone(),
            tables: Vec::new(),
        })
    }

    fn conn(&mut self) -> Result<&mut MySqlConnection> {
        self.conn
            .as_mut()
            .ok_or_else(|| Error::Usage("the MySQL connection is closed".into()))
    }
}

/// The kinds of `table`'s columns, from the tables described first.
pub(crate) fn kinds_of<'a>(tables: &'a [MyTable], table: &Table) -> Result<&'a [introspect::Kind]> {
    tables
        .iter()
        .find(|t| t.table.name == table.name)
        .map(|t| t.kinds.as_slice())
        .ok_or_else(|| Error::Usage(format!("{} was not described first", table.name)))
}

/// Rows of `tables` (in `database`) whose foreign key has no parent; `parent_db` says where
/// a referenced table is (MySQL does not check keys loaded with `foreign_key_checks = 0`).
pub(crate) async fn orphans(
    conn: &mut MySqlConnection,
    database: &str,
    tables: &[Table],
    parent_db: &(dyn Fn(&str) -> String + Sync),
) -> Result<Vec<Orphan>> {
    let q = |s: &str| MYSQL.quote_ident(s);
    let mut out = Vec::new();
    for t in tables {
        for fk in &t.foreign_keys {
            let id = if t.primary_key.len() == 1 {
                format!("CAST(c.{} AS CHAR)", q(&t.primary_key[0]))
            } else {
                "NULL".into()
            };
            let parent = format!("{}.{}", q(&parent_db(&fk.ref_table)), q(&fk.ref_table));
            let qualified = format!("{}.{}", q(database), q(&t.name));
            let sql = MYSQL.select_without_parent(&id, &qualified, fk, &parent);
            let rows: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .persistent(false)
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| db(format!("checking the foreign keys of {}", t.name), e))?;
            out.extend(rows.into_iter().map(|r| Orphan {
                table: t.name.clone(),
                row: r.and_then(|v| v.parse().ok()),
                parent: fk.ref_table.clone(),
            }));
        }
    }
    Ok(out)
}

#[async_trait]
impl Dumper for MysqlDumper {
    fn dialect(&self) -> &'static dyn Dialect {
        &MYSQL
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn describe(&self) -> String {
        self.location.describe()
    }

    async fn begin(&mut self) -> Result<SourceSnapshot> {
        let database = self.location.database().to_string();
        let conn = self.conn()?;
        sqlx::raw_sql(
            "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ; START TRANSACTION WITH CONSISTENT SNAPSHOT",
        )
        .execute(&mut *conn)
        .await
        .map_err(|e| db("starting the consistent snapshot", e))?;
        let server_version: String = sqlx::query_scalar("SELECT CAST(VERSION() AS CHAR)")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| db("reading the server version", e))?;
        let tables = introspect::sso_tables(conn, &database).await?;
        let mut warnings = Vec::new();
        for t in &tables {
            for tr in &t.triggers {
                warnings.push(format!(
                    "trigger {tr} on {} is not carried by the bundle",
                    t.table.name
                ));
            }
            for fk in &t.table.foreign_keys {
                if !is_sso_table(&fk.ref_table) {
                    warnings.push(format!(
                        "{} references {} outside the SSO tables: a restore keeps that foreign key, and the target must have the table",
                        t.table.name, fk.ref_table
                    ));
                }
            }
        }
        let schema = Schema {
            tables: tables.iter().map(|t| t.table.clone()).collect(),
            sequences: Vec::new(),
        };
        self.tables = tables;
        Ok(SourceSnapshot {
            server_version,
            schema,
            warnings,
            prologue: String::new(),
            conversion: None,
        })
    }

    async fn stream_rows(&mut self, table: &Table, sink: &mut dyn RowSink) -> Result<()> {
        let kinds = kinds_of(&self.tables, table)?.to_vec();
        let database = self.location.database().to_string();
        introspect::stream_rows(self.conn()?, &database, table, &kinds, sink).await
    }

    async fn orphans(&mut self, tables: &[Table]) -> Result<Vec<Orphan>> {
        let database = self.location.database().to_string();
        let same = database.clone();
        orphans(self.conn()?, &database, tables, &move |_| same.clone()).await
    }

    async fn estimated_rows(&mut self, table: &Table) -> Option<u64> {
        // InnoDB's estimate.
        let database = self.location.database().to_string();
        let n: Option<u64> = sqlx::query_scalar(
            "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
        )
        .bind(database)
        .bind(&table.name)
        .fetch_optional(self.conn().ok()?)
        .await
        .ok()?;
        n.filter(|n| *n > 0)
    }

    async fn finish(&mut self) -> Result<()> {
        if let Some(mut c) = self.conn.take() {
            sqlx::raw_sql("COMMIT")
                .execute(&mut c)
                .await
                .map_err(|e| db("ending the snapshot", e))?;
            c.close().await.map_err(|e| db("closing", e))?;
        }
        Ok(())
    }
}
