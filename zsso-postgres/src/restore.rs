//! Restoring into a PostgreSQL schema: one connection, one transaction, DDL included.

use crate::conn::PgLocation;
use crate::copybin;
use crate::dialect::POSTGRES;
use crate::dump::{CAPABILITIES, kinds_of, orphans, stream_rows};
use crate::error::db;
use crate::introspect::{self, PgTable};
use async_trait::async_trait;
use sqlx::{Connection, PgConnection, Row};
use zsso_core::backend::{Capabilities, CopyIn, CopySource, Dependent, Orphan, Restorer, RowSink};
use zsso_core::dialect::Dialect;
use zsso_core::schema::{ForeignKey, Sequence, Table};
use zsso_core::{Error, Result};

/// Writes the SSO tables into one schema of a PostgreSQL database.
pub struct PgRestorer {
    conn: PgConnection,
    location: PgLocation,
    /// Tables described inside the transaction, for reading their rows back.
    described: Vec<PgTable>,
    /// The dependents found, with the table's name as SQL (qualified when in another schema).
    dependents: Vec<(Dependent, String)>,
    /// The restore's transaction id, to learn its fate if the connection breaks during the
    /// commit.
    xid: Option<i64>,
    /// Whether the database's encoding is UTF-8, once asked.
    utf8: Option<bool>,
    /// The binary COPY data of a chunk, kept from one COPY to the next: one buffer for the
    /// whole restore, not one grown anew for every table.
    binary_out: Vec<u8>,
}

impl std::fmt::Debug for PgRestorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgRestorer")
            .field("location", &self.location)
            .finish()
    }
}

impl PgRestorer {
    /// Connects to the database; the schema must exist.
    pub async fn open(location: &PgLocation) -> Result<Self> {
        let mut conn = location.connect().await?;
        introspect::check_schema(&mut conn, location.schema()).await?;
        Ok(Self {
            conn,
            location: location.clone(),
            described: Vec::new(),
            dependents: Vec::new(),
            xid: None,
            utf8: None,
            binary_out: Vec::new(),
        })
    }

    async fn run(&mut self, sql: &str, what: &str) -> Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut self.conn)
            .await
            .map_err(|e| db(what.to_string(), e))?;
        Ok(())
    }

    /// How each of `columns` of `table` is sent in binary COPY, or `None` if one of them
    /// has a type zsso sends only as text.
    async fn binary_kinds(
        &mut self,
        table: &str,
        columns: &[String],
    ) -> Result<Option<Vec<copybin::BinKind>>> {
        // Binary text is read as the client's UTF-8; COPY text's escaped bytes as the
        // database's encoding: the two agree only on a UTF-8 database.
        if self.utf8.is_none() {
            let encoding: String = sqlx::query_scalar("SHOW server_encoding")
                .fetch_one(&mut self.conn)
                .await
                .map_err(|e| db("reading the database's encoding", e))?;
            self.utf8 = Some(encoding == "UTF8");
        }
        if self.utf8 == Some(false) {
            return Ok(None);
        }
        let types: Vec<(String, i64)> = sqlx::query_as(
            "SELECT a.attname::text, a.atttypid::int8 FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
        )
        .bind(self.location.schema())
        .bind(table)
        .fetch_all(&mut self.conn)
        .await
        .map_err(|e| db(format!("reading the column types of {table}"), e))?;
        Ok(columns
            .iter()
            .map(|c| {
                let (_, oid) = types.iter().find(|(n, _)| n == c)?;
                copybin::BinKind::of_type(u32::try_from(*oid).ok()?)
            })
            .collect())
    }

    fn sql_name_of(&self, d: &Dependent) -> Result<String> {
        self.dependents
            .iter()
            .find(|(k, _)| k == d)
            .map(|(_, n)| n.clone())
            .ok_or_else(|| Error::Usage(format!("{} was not found as a dependent", d.table)))
    }
}

#[async_trait]
impl Restorer for PgRestorer {
    fn dialect(&self) -> &'static dyn Dialect {
        &POSTGRES
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn describe(&self) -> String {
        self.location.describe()
    }

    async fn tables(&mut self) -> Result<Vec<String>> {
        introspect::table_names(&mut self.conn, self.location.schema()).await
    }

    async fn dependents(&mut self, set: &[String]) -> Result<Vec<Dependent>> {
        let rows = sqlx::query(
            "SELECT cl.relname::text, rf.relname::text, c.conname::text, pg_catalog.pg_get_constraintdef(c.oid), \
                    cn.nspname::text, \
                    pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(cl.relname) \
             FROM pg_catalog.pg_constraint c \
             JOIN pg_catalog.pg_class cl ON cl.oid = c.conrelid JOIN pg_catalog.pg_namespace cn ON cn.oid = cl.relnamespace \
             JOIN pg_catalog.pg_class rf ON rf.oid = c.confrelid JOIN pg_catalog.pg_namespace rn ON rn.oid = rf.relnamespace \
             WHERE c.contype = 'f' AND rn.nspname = $1 AND rf.relname = ANY($2) \
               AND NOT (cn.nspname = $1 AND cl.relname = ANY($2)) \
             ORDER BY 1, 3",
        )
        .bind(self.location.schema())
        .bind(set)
        .fetch_all(&mut self.conn)
        .await
        .map_err(|e| db("looking for tables that depend on the SSO tables", e))?;
        let schema = self.location.schema().to_string();
        self.dependents = rows
            .iter()
            .map(|r| {
                let nsp: String = r.get(4);
                let table: String = r.get(0);
                let shown = if nsp == schema {
                    table
                } else {
                    format!("{nsp}.{table}")
                };
                (
                    Dependent {
                        table: shown,
                        references: r.get(1),
                        constraint: Some(r.get(2)),
                        definition: Some(r.get(3)),
                    },
                    r.get::<String, _>(5),
                )
            })
            .collect();
        Ok(self.dependents.iter().map(|(d, _)| d.clone()).collect())
    }

    async fn begin(&mut self, set: &[String]) -> Result<()> {
        // Defaults, CHECKs and index expressions of the dump call built-in functions by their
        // bare names; a function or operator of the target schema could be chosen instead
        // (CVE-2018-1058) and run with the restorer's privileges.
        let names: Vec<String> = zsso_core::guard::postgres_call_names()
            .map(str::to_string)
            .collect();
        let shadowing: Vec<String> = sqlx::query_scalar(
            "SELECT p.proname::text FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = $1 AND p.proname = ANY($2) \
             UNION SELECT 'operator ' || o.oprname FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace \
             WHERE n.nspname = $1 ORDER BY 1",
        )
        .bind(self.location.schema())
        .bind(&names)
        .fetch_all(&mut self.conn)
        .await
        .map_err(|e| db("looking for functions that could stand in for built-in ones", e))?;
        if !shadowing.is_empty() {
            return Err(Error::Refused {
                reason: format!(
                    "schema {} defines {}, which the dump's definitions would call in place of PostgreSQL's own: restore into a schema without them",
                    self.location.schema(),
                    shadowing.join(", ")
                ),
            });
        }
        self.run("BEGIN", "starting the transaction").await?;
        let xid: i64 = sqlx::query_scalar("SELECT txid_current()")
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| db("reading the transaction's id", e))?;
        self.xid = Some(xid);
        // The tables being replaced are locked for the whole restore: nobody reads a
        // half-restored table, and nothing changes them in between.
        let existing = self.tables().await?;
        let locked: Vec<String> = set
            .iter()
            .filter(|t| existing.contains(t))
            .map(|t| POSTGRES.quote_ident(t))
            .collect();
        if !locked.is_empty() {
            self.run(
                &format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", locked.join(", ")),
                "locking the SSO tables",
            )
            .await?;
        }
        Ok(())
    }

    async fn drop_table(&mut self, table: &str) -> Result<()> {
        let sql = format!("DROP TABLE {}", POSTGRES.quote_ident(table));
        self.run(&sql, &format!("dropping {table}")).await
    }

    async fn drop_sequence(&mut self, name: &str) -> Result<()> {
        let sql = format!("DROP SEQUENCE {}", POSTGRES.quote_ident(name));
        self.run(&sql, &format!("dropping sequence {name}")).await
    }

    async fn execute(&mut self, sql: &str) -> Result<()> {
        // The extended protocol runs one statement only, whatever the text holds.
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .persistent(false)
            .execute(&mut self.conn)
            .await
            .map_err(|e| db("running a statement of the dump", e))?;
        Ok(())
    }

    async fn copy_in(&mut self, copy: &CopyIn<'_>, data: &mut dyn CopySource) -> Result<u64> {
        let binary = if copy.verified {
            self.binary_kinds(copy.table, copy.columns).await?
        } else {
            None
        };
        let sql = match binary {
            Some(_) => format!("{} (FORMAT binary)", copy.sql),
            None => copy.sql.to_string(),
        };
        tracing::debug!(
            table = copy.table,
            binary = binary.is_some(),
            "COPY into the table"
        );
        let mut pg = self
            .conn
            .copy_in_raw(&sql)
            .await
            .map_err(|e| db("starting COPY", e))?;
        let mut encoder = binary.map(copybin::Encoder::new);
        let out = &mut self.binary_out;
        out.clear();
        if encoder.is_some() {
            // Before any data: a COPY without rows is still a binary stream.
            pg.send(copybin::HEADER)
                .await
                .map_err(|e| db("sending COPY data", e))?;
        }
        loop {
            let chunk = match data.next_chunk() {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    // The dump is refused: the server must not take what was sent so far.
                    let _ = pg.abort("the dump was refused").await;
                    return Err(e);
                }
            };
            let chunk = match encoder.as_mut() {
                None => chunk,
                Some(enc) => {
                    if let Err(bad) = enc.lines(chunk, out) {
                        // A row the server refused earlier is the first cause.
                        if let Err(e @ sqlx::Error::Database(_)) =
                            pg.abort("a value could not be sent").await
                        {
                            return Err(db("loading COPY data", e));
                        }
                        let column = copy.columns.get(bad.column).map_or("?", String::as_str);
                        return Err(Error::Mismatch {
                            table: copy.table.to_string(),
                            reason: format!(
                                "row {} of its COPY data, column {column}: {}",
                                bad.row, bad.reason
                            ),
                        });
                    }
                    &out[..]
                }
            };
            pg.send(chunk)
                .await
                .map_err(|e| db("sending COPY data", e))?;
            out.clear();
        }
        if encoder.is_some() {
            pg.send(copybin::TRAILER)
                .await
                .map_err(|e| db("sending COPY data", e))?;
        }
        pg.finish().await.map_err(|e| db("ending COPY", e))
    }

    async fn describe_table(&mut self, table: &str) -> Result<Table> {
        let t = introspect::describe(&mut self.conn, self.location.schema(), table).await?;
        let out = t.table.clone();
        self.described.retain(|d| d.table.name != table);
        self.described.push(t);
        Ok(out)
    }

    async fn stream_rows(&mut self, table: &Table, sink: &mut dyn RowSink) -> Result<()> {
        let kinds = kinds_of(&self.described, table)?.to_vec();
        stream_rows(&mut self.conn, table, &kinds, sink).await
    }

    async fn check_triggers(&mut self, _tables: &[Table]) -> Result<()> {
        // A PostgreSQL dump cannot create triggers (the guard refuses them).
        Ok(())
    }

    async fn orphans(&mut self, tables: &[Table]) -> Result<Vec<Orphan>> {
        orphans(&mut self.conn, tables).await
    }

    async fn sequences(&mut self) -> Result<Vec<Sequence>> {
        let schema = self.location.schema().to_string();
        let tables: Vec<String> = self
            .tables()
            .await?
            .into_iter()
            .filter(|t| zsso_core::catalogue::is_sso_table(t))
            .collect();
        introspect::sequences(&mut self.conn, &schema, &tables).await
    }

    async fn missing_references(&mut self, table: &str, fk: &ForeignKey) -> Result<u64> {
        let parent = POSTGRES.quote_ident(&fk.ref_table);
        let sql =
            POSTGRES.select_without_parent("count(*)", &POSTGRES.quote_ident(table), fk, &parent);
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| {
                db(
                    format!("checking the references of {table} to {}", fk.ref_table),
                    e,
                )
            })?;
        Ok(n as u64)
    }

    async fn detach_dependent(&mut self, d: &Dependent) -> Result<()> {
        let name = self.sql_name_of(d)?;
        let constraint = d.constraint.as_deref().unwrap_or_default();
        let sql = format!(
            "ALTER TABLE {name} DROP CONSTRAINT {}",
            POSTGRES.quote_ident(constraint)
        );
        self.run(
            &sql,
            &format!("dropping foreign key {constraint} of {}", d.table),
        )
        .await
    }

    async fn reattach_dependent(&mut self, d: &Dependent) -> Result<()> {
        let name = self.sql_name_of(d)?;
        let constraint = d.constraint.as_deref().unwrap_or_default();
        let sql = format!(
            "ALTER TABLE {name} ADD CONSTRAINT {} {}",
            POSTGRES.quote_ident(constraint),
            d.definition.as_deref().unwrap_or_default()
        );
        self.run(
            &sql,
            &format!(
                "recreating foreign key {constraint} of {} (a row of it has lost its parent in the restored data?)",
                d.table
            ),
        )
        .await
    }

    async fn commit(&mut self) -> Result<()> {
        let Err(e) = self.run("COMMIT", "committing").await else {
            return Ok(());
        };
        let Some(xid) = self.xid.filter(|_| e.connection_lost()) else {
            return Err(e);
        };
        // The COMMIT may or may not have reached the server: a new connection asks it.
        let fate = async {
            let mut conn = self.location.connect().await?;
            let fate: Option<String> = sqlx::query_scalar("SELECT txid_status($1)")
                .bind(xid)
                .fetch_one(&mut conn)
                .await
                .map_err(|e| db("asking what became of the restore's transaction", e))?;
            self.conn = conn;
            Ok::<_, zsso_core::Error>(fate)
        }
        .await;
        match fate {
            Ok(Some(f)) if f == "committed" => {
                tracing::warn!(
                    "the connection broke during the commit, which the server carried out"
                );
                Ok(())
            }
            Ok(Some(f)) if f == "aborted" => Err(e),
            _ => Err(zsso_core::Error::CommitUnknown {
                database: self.location.describe(),
                source: Box::new(e),
            }),
        }
    }

    async fn rollback(&mut self) -> Result<()> {
        match self.run("ROLLBACK", "rolling back").await {
            // The commit was never sent, and PostgreSQL aborts the open transaction of a
            // session whose connection broke: nothing of the restore remains.
            Err(e) if e.connection_lost() => {
                tracing::warn!(
                    "the connection was lost before the commit: PostgreSQL has rolled the restore back"
                );
                return Ok(());
            }
            r => r?,
        }
        let _ = self.conn.ping().await;
        Ok(())
    }
}
