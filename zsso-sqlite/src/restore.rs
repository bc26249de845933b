//! Restoring into a SQLite database: one connection, foreign keys off, one transaction.

use crate::dialect::SQLITE;
use crate::dump::{CAPABILITIES, connect_options, describe_path, orphans, stream_rows};
use crate::error::db;
use crate::introspect;
use crate::raw;
use async_trait::async_trait;
use sqlx::{Connection, Row, SqliteConnection};
use std::path::{Path, PathBuf};
use zsso_core::Result;
use zsso_core::backend::{Capabilities, Dependent, Orphan, Restorer, RowSink};
use zsso_core::dialect::Dialect;
use zsso_core::schema::Table;

/// Writes the SSO tables into a SQLite database file (created if missing).
pub struct SqliteRestorer {
    /// `None` until [`Restorer::begin`] when the file did not exist: a restore refused before
    /// it began must not leave a new empty database behind.
    conn: Option<SqliteConnection>,
    path: PathBuf,
    /// Where the restore writes: `path`, or for a new database a file of its own next to it
    /// (`.NAME.zsso-partial-PID-...`) that the commit moves into place, so that a run killed
    /// half-way never leaves a database under the final name.
    work: PathBuf,
    /// Returns true if and only if this restorer created the file.
    created: bool,
    /// The tables being restored: all that the dump's statements may touch.
    set: Vec<String>,
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
    ///
    /// A file that does not exist yet is created only when the restore begins, with mode
    /// 0600, under a temporary name that the commit renames. Such temporary files left by
    /// runs that were killed are removed here.
    pub async fn open(path: &Path) -> Result<Self> {
        let mut me = Self {
            conn: None,
            path: path.to_path_buf(),
            work: path.to_path_buf(),
            created: false,
            set: Vec::new(),
        };
        if let (Some(name), Some(dir)) = (path.file_name(), path.parent()) {
            let prefix = format!(".{}.zsso-partial-", name.to_string_lossy());
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            zsso_core::bundle::remove_dead_leftovers(
                dir,
                "a partly restored database",
                false,
                |n| n.strip_prefix(&prefix),
            );
        }
        if path.exists() {
            me.connect(false).await?;
        }
        Ok(me)
    }

    async fn connect(&mut self, create: bool) -> Result<()> {
        let opts = connect_options(&self.work)
            .create_if_missing(create)
            .foreign_keys(false);
        let mut conn = SqliteConnection::connect_with(&opts)
            .await
            .map_err(|e| db(format!("opening {}", self.work.display()), e))?;
        introspect::check_encoding(&mut conn, &self.work).await?;
        self.conn = Some(conn);
        Ok(())
    }

    /// The new database, committed under its temporary name, takes its final name; refused
    /// if a file of that name appeared meanwhile.
    async fn publish(&mut self) -> Result<()> {
        if let Some(c) = self.conn.take() {
            c.close()
                .await
                .map_err(|e| db(format!("closing {}", self.work.display()), e))?;
        }
        // A hard link never replaces a file that is there; the temporary name goes after.
        if let Err(e) = std::fs::hard_link(&self.work, &self.path) {
            let _ = std::fs::remove_file(&self.work);
            return Err(zsso_core::Error::io(
                "cannot move the restored database into place at",
                &self.path,
                e,
            ));
        }
        let _ = std::fs::remove_file(&self.work);
        self.work = self.path.clone();
        self.created = false;
        // The database is in place: what fails now fails after the commit.
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            zsso_core::bundle::sync_dir(dir).map_err(|e| zsso_core::Error::AfterCommit {
                what: format!(
                    "{} is in place, but its directory could not be synced (a crash now could lose the new name)",
                    self.path.display()
                ),
                source: Box::new(e),
            })?;
        }
        Ok(())
    }

    fn conn(&mut self) -> Result<&mut SqliteConnection> {
        self.conn.as_mut().ok_or_else(|| {
            zsso_core::Error::Usage(format!(
                "{} is not open: the restore has not begun",
                self.path.display()
            ))
        })
    }

    async fn run(&mut self, sql: &str, what: &str) -> Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(self.conn()?)
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
        match self.conn.as_mut() {
            Some(c) => introspect::table_names(c).await,
            None => Ok(Vec::new()),
        }
    }

    async fn dependents(&mut self, set: &[String]) -> Result<Vec<Dependent>> {
        let in_set = |t: &str| set.iter().any(|s| s.eq_ignore_ascii_case(t));
        let mut out = Vec::new();
        let Some(conn) = self.conn.as_mut() else {
            return Ok(out);
        };
        for t in introspect::table_names(conn).await? {
            if in_set(&t) {
                continue;
            }
            let refs = sqlx::query("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)")
                .bind(&t)
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| db(format!("reading the foreign keys of {t}"), e))?;
            for r in refs {
                let target: String = r.get(0);
                if in_set(&target) {
                    out.push(Dependent {
                        table: t.clone(),
                        references: target,
                        constraint: None,
                        definition: None,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn begin(&mut self, set: &[String]) -> Result<()> {
        self.set = set.to_vec();
        if self.conn.is_none() {
            let name = self.path.file_name().map(|n| n.to_string_lossy());
            let name = name.ok_or_else(|| {
                zsso_core::Error::Usage(format!(
                    "{} is not a usable database file name",
                    self.path.display()
                ))
            })?;
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            self.work = self.path.with_file_name(format!(
                ".{name}.zsso-partial-{}-{nanos:x}",
                std::process::id()
            ));
            // A new database holds session tokens and encrypted passwords, as the bundle's
            // dump does: it is created for its owner only (SQLite gives its journal the same
            // mode).
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&self.work)
                .map_err(|e| zsso_core::Error::io("cannot create", &self.work, e))?;
            if let Err(e) = self.connect(true).await {
                let _ = std::fs::remove_file(&self.work);
                return Err(e);
            }
            self.created = true;
        }
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
        // Prepared on its own (SQLite refuses a text that would run more than one statement)
        // and under an authorizer that lets it touch the restored tables only.
        let mut scope = raw::Scope::new(&self.set);
        raw::with_handle(self.conn()?, |c| raw::execute_in_scope(c, sql, &mut scope)).await
    }

    async fn check_triggers(&mut self, tables: &[Table]) -> Result<()> {
        let mut scope = raw::Scope::new(&self.set);
        raw::with_handle(self.conn()?, |c| {
            tables
                .iter()
                .try_for_each(|t| raw::check_triggers(c, t, &mut scope))
        })
        .await
    }

    async fn describe_table(&mut self, table: &str) -> Result<Table> {
        introspect::describe(self.conn()?, table).await
    }

    async fn stream_rows(&mut self, table: &Table, sink: &mut dyn RowSink) -> Result<()> {
        stream_rows(self.conn()?, table, sink).await
    }

    async fn orphans(&mut self, tables: &[Table]) -> Result<Vec<Orphan>> {
        orphans(self.conn()?, tables).await
    }

    async fn commit(&mut self) -> Result<()> {
        self.run("COMMIT", "committing").await?;
        if self.created {
            zsso_core::fault::point("restore.sqlite_new_file")?;
            self.publish().await?;
        }
        Ok(())
    }

    async fn rollback(&mut self) -> Result<()> {
        // SQLite may have rolled the transaction back itself (an ON CONFLICT ROLLBACK clause,
        // RAISE(ROLLBACK) in a trigger): then there is nothing left to roll back.
        // No connection: the commit closed it and moving the new file into place failed, and
        // that file is removed already.
        let open = match self.conn.as_mut() {
            Some(c) => raw::with_handle(c, |c| Ok(!c.is_autocommit())).await?,
            None => false,
        };
        if open {
            self.run("ROLLBACK", "rolling back").await?;
        }
        if self.created {
            // The target did not exist before: as it was means not there at all.
            if let Some(c) = self.conn.take() {
                c.close().await.map_err(|e| db("closing", e))?;
            }
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let p = PathBuf::from(format!("{}{suffix}", self.work.display()));
                if p.exists() {
                    std::fs::remove_file(&p)
                        .map_err(|e| zsso_core::Error::io("cannot remove", &p, e))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn execute_refuses_a_text_that_holds_two_statements() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = SqliteRestorer::open(&dir.path().join("t.db"))
            .await
            .unwrap();
        r.begin(&["zato_sso_a".to_string()]).await.unwrap();
        r.execute("CREATE TABLE zato_sso_a (x)").await.unwrap();
        // Even if the scanner were fooled, SQLite would not run a second statement...
        let e = r
            .execute("INSERT INTO zato_sso_a VALUES (1); INSERT INTO zato_sso_a VALUES (2)")
            .await
            .unwrap_err();
        assert!(
            zsso_core::error::chain(&e).contains("Multiple statements"),
            "{e}"
        );
        // ...nor anything outside the restored tables, nor a pragma.
        r.execute("CREATE TABLE zato_sso_b (x)").await.unwrap_err();
        let e = r.execute("PRAGMA user_version = 5").await.unwrap_err();
        assert!(
            e.to_string().contains("does something a dump may not do"),
            "{e}"
        );
        assert_eq!(r.tables().await.unwrap(), vec!["zato_sso_a".to_string()]);
        // A trailing comment is not a statement.
        r.execute("INSERT INTO zato_sso_a VALUES (2); -- done")
            .await
            .unwrap();
        r.rollback().await.unwrap();
        assert!(!dir.path().join("t.db").exists());
    }
}
