//! Backing up a MySQL or MariaDB database: one `REPEATABLE READ` transaction started `WITH
//! CONSISTENT SNAPSHOT`, rows streamed.
//!
//! MySQL cannot hand a snapshot to another connection, but two connections that start their
//! snapshots while a third holds `LOCK TABLES ... READ` on the SSO tables see the same SSO
//! rows: no write to them can commit in between. Where MariaDB grants that lock at once
//! (`NOWAIT`, [`LOCK_TRIES`] tries), the foreign-key check runs on the second connection while
//! the first one dumps; otherwise it runs on the dump's own connection after the rows. The
//! check is no task of its own: its future is polled beside the row stream's, so that it
//! needs nothing of the caller's runtime and ends with the dumper, connection and all.

use crate::conn::MysqlLocation;
use crate::dialect::MYSQL;
use crate::error::db;
use crate::introspect::{self, MyTable};
use async_trait::async_trait;
use sqlx::{Connection, MySqlConnection};
use zsso_core::backend::{Capabilities, Dumper, Orphan, RowSink, SourceSnapshot};
use zsso_core::catalogue::is_sso_table;
use zsso_core::dialect::Dialect;
use zsso_core::schema::{ForeignKey, Schema, Table};
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

/// How many times a backup asks for its brief read lock on the SSO tables, 20 ms apart,
/// before it checks the foreign keys on the dump's own connection instead. Each try is
/// `NOWAIT`: a lock that waited while holding some tables could close a cycle with a writer
/// that holds another, and the server would end the writer's transaction as a deadlock.
pub const LOCK_TRIES: u32 = 5;

/// Why the check for rows without a parent runs after the rows: logged at debug level.
const AFTER_THE_ROWS: &str = "the foreign keys are checked after the rows";

/// Reads the SSO tables of one MySQL or MariaDB database.
pub struct MysqlDumper {
    conn: Option<MySqlConnection>,
    location: MysqlLocation,
    tables: Vec<MyTable>,
    /// A second connection in the dump's snapshot, until a check takes it.
    second: Option<MySqlConnection>,
    /// Returns true if and only if the server is MariaDB, whose optimizer joins by hash.
    mariadb: bool,
    check: Option<ForeignKeyCheck>,
}

/// The foreign-key check of a backup, in the dump's snapshot on a connection of its own.
struct ForeignKeyCheck {
    /// The tables it checks.
    tables: Vec<String>,
    state: CheckState,
}

type CheckFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<Orphan>>> + Send>>;

enum CheckState {
    Running(CheckFuture),
    Done(Result<Vec<Orphan>>),
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
            second: None,
            mariadb: false,
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
            match Self::lock(&self.location, names, self.mariadb).await {
                Ok((l, c)) => {
                    lock = Some(l);
                    second = Some(c);
                }
                Err(e) => tracing::debug!("{AFTER_THE_ROWS}: {e}"),
            }
        }
        start_snapshot(self.conn()?).await?;
        if let Some(c) = second.as_mut()
            && let Err(e) = start_snapshot(c).await
        {
            tracing::debug!("{AFTER_THE_ROWS}: {e}");
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
    async fn lock(
        location: &MysqlLocation,
        names: &[String],
        mariadb: bool,
    ) -> Result<(MySqlConnection, MySqlConnection)> {
        if !mariadb {
            return Err(Error::Usage(
                "MySQL has no LOCK TABLES ... NOWAIT, and a lock that waits could deadlock a writer".into(),
            ));
        }
        let q = |s: &str| MYSQL.quote_ident(s);
        let database = q(location.database());
        let mut lock = location.connect().await?;
        // On a Galera node, writes replicated from another node do not wait for table locks.
        let galera: Option<(String, String)> = sqlx::query_as("SHOW VARIABLES LIKE 'wsrep_on'")
            .persistent(false)
            .fetch_optional(&mut lock)
            .await
            .map_err(|e| db("reading wsrep_on", e))?;
        if galera.is_some_and(|(_, on)| on.eq_ignore_ascii_case("ON")) {
            return Err(Error::Usage(
                "a Galera node: replicated writes do not wait for table locks".into(),
            ));
        }
        let second = location.connect().await?;
        let tables: Vec<String> = names
            .iter()
            .map(|n| format!("{database}.{} READ", q(n)))
            .collect();
        let sql = format!("LOCK TABLES {} NOWAIT", tables.join(", "));
        let mut tries = 0;
        loop {
            tries += 1;
            match sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&mut lock)
                .await
            {
                Ok(_) => return Ok((lock, second)),
                Err(e) if tries >= LOCK_TRIES => {
                    return Err(db(
                        format!("locking the SSO tables for a moment ({tries} tries)"),
                        e,
                    ));
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
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
///
/// With `mariadb`, a key of integer columns whose parent is one of `tables` is checked by
/// one hash join over a scan of the parent, not by a lookup in the parent's index for every
/// row (at 1,000,000 users, 2.4 s instead of 6.3 s for the sessions); every other key is
/// looked up in the parent's index by a `LEFT JOIN`, which compares text in the column's
/// collation as `NOT EXISTS` does, at a lower cost per row (the 2,000,000 attributes' text
/// key, 1.9 s of the server's CPU instead of 3.5 to 3.7 s). The lookups run before the
/// session allows hash joins:
/// hashed, a text key's wide images fill the join buffer a few thousand rows at a time (12 s
/// for the same attributes). Elsewhere every key is checked by `NOT EXISTS`. The index names
/// must be the ones the database has, as a backup's own snapshot describes them. The orphans
/// come in the order of `tables` and of their keys, whichever check ran first.
pub(crate) async fn orphans(
    conn: &mut MySqlConnection,
    database: &str,
    tables: &[Table],
    parent_db: &(dyn Fn(&str) -> String + Sync),
    mariadb: bool,
) -> Result<Vec<Orphan>> {
    let q = |s: &str| MYSQL.quote_ident(s);
    // Each check: its table, its key, its query and whether it joins by hash.
    let mut checks = Vec::new();
    for t in tables {
        for fk in &t.foreign_keys {
            let id = if t.primary_key.len() == 1 {
                format!("CAST(c.{} AS CHAR)", q(&t.primary_key[0]))
            } else {
                "NULL".into()
            };
            let parent = format!("{}.{}", q(&parent_db(&fk.ref_table)), q(&fk.ref_table));
            let qualified = format!("{}.{}", q(database), q(&t.name));
            let hashed = mariadb
                .then(|| hash_join_check(&id, &qualified, t, fk, &parent, tables))
                .flatten();
            let (sql, hash) = match hashed {
                Some(sql) => (sql, true),
                None if mariadb && !fk.ref_columns.is_empty() => {
                    (left_join_check(&id, &qualified, fk, &parent, ""), false)
                }
                None => (
                    MYSQL.select_without_parent(&id, &qualified, fk, &parent),
                    false,
                ),
            };
            checks.push((t, fk, sql, hash));
        }
    }
    let mut found: Vec<Vec<Orphan>> = vec![Vec::new(); checks.len()];
    // The lookups first (a stable sort keeps each group in order).
    let mut order: Vec<usize> = (0..checks.len()).collect();
    order.sort_by_key(|&i| checks[i].3);
    let mut hash_session = false;
    for i in order {
        let (t, fk, sql, hash) = &checks[i];
        if *hash && !hash_session {
            sqlx::raw_sql(HASH_JOIN_SESSION)
                .execute(&mut *conn)
                .await
                .map_err(|e| db("allowing hash joins", e))?;
            hash_session = true;
        }
        let rows: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str()))
            .persistent(false)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| db(format!("checking the foreign keys of {}", t.name), e))?;
        found[i] = rows
            .into_iter()
            .map(|r| Orphan {
                table: t.name.clone(),
                row: r.and_then(|v| v.parse().ok()),
                parent: fk.ref_table.clone(),
            })
            .collect();
    }
    Ok(found.into_iter().flatten().collect())
}

/// Lets MariaDB's optimizer join by hash (`join_cache_level` 4, hashed and outer-join
/// buffers on), with a join buffer of 64 MiB that holds the keys of about 2,000,000 rows;
/// more rows take another scan of the parent each.
const HASH_JOIN_SESSION: &str = "SET SESSION join_cache_level = 4, join_buffer_size = 67108864, \
     join_buffer_space_limit = 134217728, \
     optimizer_switch = 'join_cache_hashed=on,outer_join_with_cache=on'";

/// The rows of `child` whose key `fk` finds no row in `parent`: a `LEFT JOIN` that keeps
/// the children without a match (`hint` follows the parent's alias).
fn left_join_check(id: &str, child: &str, fk: &ForeignKey, parent: &str, hint: &str) -> String {
    let (not_null, on) = MYSQL.key_conditions(fk);
    format!(
        "SELECT {id} FROM {child} c LEFT JOIN {parent} p{hint} ON {on} WHERE {not_null} AND p.{} IS NULL",
        MYSQL.quote_ident(&fk.ref_columns[0])
    )
}

/// True for MySQL's integer column types (`int(11)`, `bigint unsigned`...).
fn is_integer_type(column_type: &str) -> bool {
    let t = column_type.to_ascii_lowercase();
    ["tinyint", "smallint", "mediumint", "int", "bigint"]
        .iter()
        .any(|k| t == *k || t.starts_with(&format!("{k}(")) || t.starts_with(&format!("{k} ")))
}

/// The check of `fk` as a hash join: the parent is read without any index that starts with
/// a referenced column, so that the only way to join is to hash the child's keys; `None`
/// unless every column on both sides is an integer and the parent is one of `tables`.
fn hash_join_check(
    id: &str,
    child: &str,
    table: &Table,
    fk: &ForeignKey,
    parent: &str,
    tables: &[Table],
) -> Option<String> {
    let q = |s: &str| MYSQL.quote_ident(s);
    let parent_table = tables.iter().find(|p| p.name == fk.ref_table)?;
    let integer = |t: &Table, c: &String| {
        t.columns
            .iter()
            .find(|col| &col.name == c)
            .is_some_and(|col| is_integer_type(&col.data_type))
    };
    if fk.columns.is_empty()
        || !fk.columns.iter().all(|c| integer(table, c))
        || !fk.ref_columns.iter().all(|c| integer(parent_table, c))
    {
        return None;
    }
    let ignored: Vec<String> = parent_table
        .indexes
        .iter()
        .filter(|i| {
            i.columns
                .first()
                .is_some_and(|c| fk.ref_columns.contains(c))
        })
        .map(|i| q(&i.name))
        .collect();
    let hint = if ignored.is_empty() {
        String::new()
    } else {
        format!(" IGNORE INDEX ({})", ignored.join(", "))
    };
    Some(left_join_check(id, child, fk, parent, &hint))
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

/// Checks the foreign keys of `tables` on `conn`, whose snapshot is the dump's, then ends
/// its snapshot and closes it.
async fn check(
    mut conn: MySqlConnection,
    database: String,
    tables: Vec<Table>,
    hash_joins: bool,
) -> Result<Vec<Orphan>> {
    zsso_core::fault::point("backup.foreign_keys")?;
    let same = database.clone();
    let found = orphans(
        &mut conn,
        &database,
        &tables,
        &move |_| same.clone(),
        hash_joins,
    )
    .await?;
    // The answer is in hand: the connection only read, and closing it ends its snapshot.
    let _ = conn.close().await;
    Ok(found)
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
        let server_version: String = sqlx::query_scalar("SELECT CAST(VERSION() AS CHAR)")
            .fetch_one(self.conn()?)
            .await
            .map_err(|e| db("reading the server version", e))?;
        self.mariadb = server_version.to_ascii_lowercase().contains("mariadb");
        let names: Vec<String> = introspect::table_names(self.conn()?, &database)
            .await?
            .into_iter()
            .filter(|n| is_sso_table(n))
            .collect();
        let second = self.start_snapshots(&names).await?;
        let conn = self.conn()?;
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
        if second.is_some() && described != names {
            tracing::debug!("{AFTER_THE_ROWS}: the SSO tables changed while they were locked");
        }
        self.second = second.filter(|_| described == names);
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
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| Error::Usage("the MySQL connection is closed".into()))?;
        let rows = introspect::stream_rows(conn, &database, table, &kinds, sink);
        let Some(ForeignKeyCheck {
            state: CheckState::Running(check),
            ..
        }) = self.check.as_mut()
        else {
            return rows.await;
        };
        // The check goes on whenever the rows wait; if it ends first, the rows go on alone.
        tokio::pin!(rows);
        tokio::select! {
            biased;
            r = &mut rows => r,
            found = check => {
                if let Some(c) = self.check.as_mut() {
                    c.state = CheckState::Done(found);
                }
                rows.await
            }
        }
    }

    fn plan_orphans(&mut self, tables: &[Table]) {
        if let Some(conn) = self.second.take() {
            tracing::debug!(
                "the foreign keys are checked beside the rows, on a second connection in the same snapshot"
            );
            let database = self.location.database().to_string();
            self.check = Some(ForeignKeyCheck {
                tables: tables.iter().map(|t| t.name.clone()).collect(),
                state: CheckState::Running(Box::pin(check(
                    conn,
                    database,
                    tables.to_vec(),
                    self.mariadb,
                ))),
            });
        }
    }

    async fn orphans(&mut self, tables: &[Table]) -> Result<Vec<Orphan>> {
        if let Some(check) = self.check.take() {
            if tables.iter().map(|t| &t.name).eq(check.tables.iter()) {
                return match check.state {
                    CheckState::Running(f) => f.await,
                    CheckState::Done(r) => r,
                };
            }
            tracing::debug!("{AFTER_THE_ROWS}: other tables were asked for than planned");
        }
        zsso_core::fault::point("backup.foreign_keys")?;
        let database = self.location.database().to_string();
        let same = database.clone();
        let hash_joins = self.mariadb;
        orphans(
            self.conn()?,
            &database,
            tables,
            &move |_| same.clone(),
            hash_joins,
        )
        .await
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
        // A check not waited for stops here; its connection only read.
        self.check = None;
        if let Some(c) = self.second.take() {
            c.close().await.map_err(|e| db("closing", e))?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use zsso_core::schema::{Column, Index};

    fn column(name: &str, data_type: &str) -> Column {
        Column {
            name: name.into(),
            data_type: data_type.into(),
            ..Default::default()
        }
    }

    fn index(name: &str, columns: &[&str]) -> Index {
        Index {
            name: name.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        }
    }

    fn key(columns: &str, parent: &str, ref_columns: &str) -> ForeignKey {
        ForeignKey {
            columns: vec![columns.into()],
            ref_table: parent.into(),
            ref_columns: vec![ref_columns.into()],
            ..Default::default()
        }
    }

    #[test]
    fn integer_keys_are_checked_by_a_hash_join_and_text_keys_by_lookups() {
        let user = Table {
            name: "zato_sso_user".into(),
            columns: vec![column("id", "int(11)"), column("user_id", "varchar(191)")],
            primary_key: vec!["id".into()],
            indexes: vec![
                index("PRIMARY", &["id"]),
                index("zato_user_id_uq", &["user_id"]),
                index("both", &["id", "user_id"]),
                index("other", &["user_id", "id"]),
            ],
            ..Default::default()
        };
        let session = Table {
            name: "zato_sso_session".into(),
            columns: vec![column("id", "int(11)"), column("user_id", "INT UNSIGNED")],
            primary_key: vec!["id".into()],
            foreign_keys: vec![key("user_id", "zato_sso_user", "id")],
            ..Default::default()
        };
        let attr = Table {
            name: "zato_sso_attr".into(),
            columns: vec![column("id", "bigint"), column("user_id", "varchar(191)")],
            foreign_keys: vec![key("user_id", "zato_sso_user", "user_id")],
            ..Default::default()
        };
        let tables = [user.clone(), session.clone(), attr.clone()];
        let check = |t: &Table, within: &[Table]| {
            hash_join_check(
                "c.`id`",
                "`d`.`child`",
                t,
                &t.foreign_keys[0],
                "`d`.`p`",
                within,
            )
        };
        assert_eq!(
            check(&session, &tables).as_deref(),
            Some(
                "SELECT c.`id` FROM `d`.`child` c LEFT JOIN `d`.`p` p IGNORE INDEX (`PRIMARY`, `both`) \
                 ON p.`id` = c.`user_id` WHERE c.`user_id` IS NOT NULL AND p.`id` IS NULL"
            )
        );
        assert_eq!(check(&attr, &tables), None, "a text key");
        assert_eq!(
            left_join_check(
                "c.`id`",
                "`d`.`child`",
                &attr.foreign_keys[0],
                "`d`.`p`",
                ""
            ),
            "SELECT c.`id` FROM `d`.`child` c LEFT JOIN `d`.`p` p \
             ON p.`user_id` = c.`user_id` WHERE c.`user_id` IS NOT NULL AND p.`user_id` IS NULL"
        );
        assert_eq!(
            check(&session, &tables[1..]),
            None,
            "a parent outside the set"
        );
        for (t, integer) in [
            ("int", true),
            ("int(11)", true),
            ("bigint(20) unsigned", true),
            ("TINYINT(1)", true),
            ("integer", false),
            ("interval", false),
            ("point", false),
            ("decimal(10,0)", false),
        ] {
            assert_eq!(is_integer_type(t), integer, "{t}");
        }
    }
}
