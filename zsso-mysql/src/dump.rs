//! Backing up a MySQL or MariaDB database: one `REPEATABLE READ` transaction started `WITH
//! CONSISTENT SNAPSHOT`, rows streamed.
//!
//! MySQL cannot hand a snapshot to another connection, but two connections that start their
//! snapshots while a third holds `LOCK TABLES ... READ` on the SSO tables see the same SSO
//! rows: no write to them can commit in between. Where the account may take that lock (for
//! at most [`LOCK_WAIT_SECONDS`]), the foreign-key check runs on the second connection while
//! the first one dumps; otherwise it runs on the dump's own connection after the rows.

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

/// How long a backup waits for its brief read lock on the SSO tables before it checks the
/// foreign keys on the dump's own connection instead (writers wait behind a pending lock).
pub const LOCK_WAIT_SECONDS: u32 = 1;

/// Reads the SSO tables of one MySQL or MariaDB database.
pub struct MysqlDumper {
    conn: Option<MySqlConnection>,
    location: MysqlLocation,
    tables: Vec<MyTable>,
    check: Option<ForeignKeyCheck>,
}

/// The foreign-key check of a backup, running in the dump's snapshot on a connection of its
/// own; dropped, it stops.
struct ForeignKeyCheck {
    /// The tables it checks.
    tables: Vec<String>,
    task: tokio::task::JoinHandle<Result<Vec<Orphan>>>,
}

impl Drop for ForeignKeyCheck {
    fn drop(&mut self) {
        self.task.abort();
    }
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
            check: None,
        })
    }

    /// Starts the snapshot on the dump's connection and, where the account may hold a read
    /// lock on `names` for a moment, the same snapshot on a second connection, which it
    /// returns; `None` when it could not (the reason is logged at debug level).
    async fn start_snapshots(&mut self, names: &[String]) -> Result<Option<MySqlConnection>> {
        let mut lock = None;
        let mut second = None;
        if !names.is_empty() {
            match self.lock(names).await {
                Ok((l, c)) => {
                    lock = Some(l);
                    second = Some(c);
                }
                Err(e) => tracing::debug!("the foreign keys are checked after the rows: {e}"),
            }
        }
        start_snapshot(self.conn()?).await?;
        if let Some(c) = second.as_mut()
            && let Err(e) = start_snapshot(c).await
        {
            tracing::debug!("the foreign keys are checked after the rows: {e}");
            second = None;
        }
        if let Some(l) = lock {
            // Closing the connection releases the lock, whatever UNLOCK TABLES said.
            let _ = l.close().await;
        }
        Ok(second)
    }

    /// A connection holding `LOCK TABLES ... READ` on `names`, and a second one to check
    /// the foreign keys on.
    async fn lock(&self, names: &[String]) -> Result<(MySqlConnection, MySqlConnection)> {
        let q = |s: &str| MYSQL.quote_ident(s);
        let database = q(self.location.database());
        let second = self.location.connect().await?;
        let mut lock = self.location.connect().await?;
        let tables: Vec<String> = names
            .iter()
            .map(|n| format!("{database}.{} READ", q(n)))
            .collect();
        let sql = format!(
            "SET SESSION lock_wait_timeout = {LOCK_WAIT_SECONDS}; LOCK TABLES {}",
            tables.join(", ")
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut lock)
            .await
            .map_err(|e| db("locking the SSO tables for a moment", e))?;
        Ok((lock, second))
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

async fn start_snapshot(conn: &mut MySqlConnection) -> Result<()> {
    sqlx::raw_sql(
        "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ; START TRANSACTION WITH CONSISTENT SNAPSHOT",
    )
    .execute(conn)
    .await
    .map_err(|e| db("starting the consistent snapshot", e))?;
    Ok(())
}

/// Checks the foreign keys of `tables` on `conn`, whose snapshot is the dump's, while the
/// dump goes on.
fn spawn_check(mut conn: MySqlConnection, database: String, tables: &[MyTable]) -> ForeignKeyCheck {
    let tables: Vec<Table> = tables.iter().map(|t| t.table.clone()).collect();
    let names = tables.iter().map(|t| t.name.clone()).collect();
    let task = tokio::spawn(async move {
        zsso_core::fault::point("backup.foreign_keys")?;
        let same = database.clone();
        let found = orphans(&mut conn, &database, &tables, &move |_| same.clone()).await?;
        sqlx::raw_sql("COMMIT")
            .execute(&mut conn)
            .await
            .map_err(|e| db("ending the foreign-key check's snapshot", e))?;
        conn.close().await.map_err(|e| db("closing", e))?;
        Ok(found)
    });
    ForeignKeyCheck {
        tables: names,
        task,
    }
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
        let names: Vec<String> = introspect::table_names(self.conn()?, &database)
            .await?
            .into_iter()
            .filter(|n| is_sso_table(n))
            .collect();
        let second = self.start_snapshots(&names).await?;
        let conn = self.conn()?;
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
        let described: Vec<String> = tables.iter().map(|t| t.table.name.clone()).collect();
        // A table created between the list and the lock was not locked: its rows may differ
        // between the two snapshots, so the check stays on the dump's connection.
        if let Some(c) = second.filter(|_| described == names) {
            self.check = Some(spawn_check(c, database, &tables));
        }
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
        if let Some(mut check) = self.check.take()
            && tables.iter().map(|t| &t.name).eq(check.tables.iter())
        {
            return (&mut check.task)
                .await
                .map_err(|e| Error::Usage(format!("the foreign-key check stopped: {e}")))?;
        }
        zsso_core::fault::point("backup.foreign_keys")?;
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
