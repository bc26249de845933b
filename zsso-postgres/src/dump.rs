//! Backing up a PostgreSQL schema: one `REPEATABLE READ READ ONLY` transaction on one
//! connection, rows streamed with `COPY ... TO STDOUT`.

use crate::conn::{PgLocation, search_path};
use crate::copytext::{self, Kind};
use crate::dialect::POSTGRES;
use crate::error::db;
use crate::introspect::{self, PgTable};
use async_trait::async_trait;
use futures::TryStreamExt;
use sqlx::{Connection, PgConnection};
use zsso_core::backend::{Capabilities, Dumper, Orphan, RowSink, SourceSnapshot};
use zsso_core::dialect::Dialect;
use zsso_core::schema::Table;
use zsso_core::value::Value;
use zsso_core::{Error, Result};

/// PostgreSQL's capabilities.
pub const CAPABILITIES: Capabilities = Capabilities {
    transactional_ddl: true,
    atomic_restore: true,
    sequences: true,
    enforces_foreign_keys: true,
    detach_dependents: true,
};

/// Reads the SSO tables of one schema of a PostgreSQL database.
pub struct PgDumper {
    conn: Option<PgConnection>,
    location: PgLocation,
    tables: Vec<PgTable>,
}

impl std::fmt::Debug for PgDumper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDumper")
            .field("location", &self.location)
            .finish()
    }
}

impl PgDumper {
    /// Connects to the database.
    pub async fn open(location: &PgLocation) -> Result<Self> {
        let conn = location.connect().await?;
        Ok(Self {
            conn: Some(conn),
            location: location.clone(),
            tables: Vec::new(),
        })
    }

    fn conn(&mut self) -> Result<&mut PgConnection> {
        self.conn
            .as_mut()
            .ok_or_else(|| Error::Usage("the PostgreSQL connection is closed".into()))
    }
}

/// The kinds of `table`'s columns, from the tables read at `begin`.
pub(crate) fn kinds_of<'a>(tables: &'a [PgTable], table: &Table) -> Result<&'a [Kind]> {
    tables
        .iter()
        .find(|t| t.table.name == table.name)
        .map(|t| t.kinds.as_slice())
        .ok_or_else(|| Error::Usage(format!("{} was not described first", table.name)))
}

/// The COPY text handed to a sink at a time, in whole lines.
const LINES_CHUNK: usize = 256 * 1024;

/// A buffer for the next chunk of COPY text, starting with `rest` (the part of a line the
/// last chunk left). Every one is allocated at the same size, room for the chunk and a row of
/// 64 KiB more, so that the allocator takes back each chunk for the next one; buffers grown a
/// message at a time had many sizes, and the backup's peak memory crept up with the table.
fn lines_chunk(rest: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity((LINES_CHUNK + 64 * 1024).max(rest.len()));
    buf.extend_from_slice(rest);
    buf
}

/// Streams the rows of `table` with `COPY ... TO STDOUT`, a line at a time into `sink`.
pub(crate) async fn stream_rows(
    conn: &mut PgConnection,
    table: &Table,
    kinds: &[Kind],
    sink: &mut dyn RowSink,
) -> Result<()> {
    let cols: Vec<String> = table
        .column_names()
        .map(|c| POSTGRES.quote_ident(c))
        .collect();
    let sql = format!(
        "COPY {} ({}) TO STDOUT",
        POSTGRES.quote_ident(&table.name),
        cols.join(", ")
    );
    let ctx = || format!("reading the rows of {}", table.name);
    let mut stream = conn.copy_out_raw(&sql).await.map_err(|e| db(ctx(), e))?;
    let mut pending = lines_chunk(&[]);
    // A sink that takes COPY text gets PostgreSQL's own lines, when the dump's reader reads
    // every column as this reader does (it knows the types by name, not by OID).
    let raw = sink.takes_copy_lines()
        && table
            .columns
            .iter()
            .zip(kinds)
            .all(|(c, k)| Kind::of_name(&c.data_type) == *k);
    if raw {
        let mut sink_result = Ok(());
        while let Some(chunk) = stream.try_next().await.map_err(|e| db(ctx(), e))? {
            if sink_result.is_err() {
                continue;
            }
            // PostgreSQL sends a message per row: they go on in chunks of 256 KiB.
            pending.extend_from_slice(&chunk);
            if pending.len() >= LINES_CHUNK
                && let Some(last) = pending.iter().rposition(|&b| b == b'\n')
            {
                let rest = lines_chunk(&pending[last + 1..]);
                pending.truncate(last + 1);
                sink_result = sink.copy_lines(std::mem::replace(&mut pending, rest));
            }
        }
        if sink_result.is_ok()
            && let Some(last) = pending.iter().rposition(|&b| b == b'\n')
        {
            let rest = pending.split_off(last + 1);
            sink_result = sink.copy_lines(std::mem::replace(&mut pending, rest));
        }
        sink_result?;
        if !pending.is_empty() {
            return Err(Error::Mismatch {
                table: table.name.clone(),
                reason: "the COPY stream ended inside a row".into(),
            });
        }
        return Ok(());
    }
    let mut values: Vec<Value> = Vec::with_capacity(kinds.len());
    let mut scratch = Vec::new();
    let mut row = 0u64;
    let mut sink_result = Ok(());
    while let Some(chunk) = stream.try_next().await.map_err(|e| db(ctx(), e))? {
        if sink_result.is_err() {
            // Read the stream to its end, so the connection stays usable for the rollback.
            continue;
        }
        pending.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(nl) = pending[start..].iter().position(|&b| b == b'\n') {
            let line = &pending[start..start + nl];
            row += 1;
            let parsed =
                copytext::parse_line(line, kinds, &mut values, &mut scratch).map_err(|e| {
                    Error::Mismatch {
                        table: table.name.clone(),
                        reason: format!("row {row}: {e}"),
                    }
                });
            if let Err(e) = parsed.and_then(|()| sink.row(&values)) {
                sink_result = Err(e);
                break;
            }
            start += nl + 1;
        }
        pending.drain(..start);
    }
    sink_result?;
    if !pending.is_empty() {
        return Err(Error::Mismatch {
            table: table.name.clone(),
            reason: "the COPY stream ended inside a row".into(),
        });
    }
    Ok(())
}

/// Rows whose foreign key has no parent, for the foreign keys that PostgreSQL has not
/// validated (`NOT VALID`): a validated one cannot have any.
pub(crate) async fn orphans(conn: &mut PgConnection, tables: &[Table]) -> Result<Vec<Orphan>> {
    let q = |s: &str| POSTGRES.quote_ident(s);
    let mut out = Vec::new();
    for t in tables {
        for c in t
            .constraints
            .iter()
            .filter(|c| c.is_foreign_key() && c.definition.ends_with("NOT VALID"))
        {
            let Some(fk) = t
                .foreign_keys
                .iter()
                .find(|f| f.name.as_deref() == Some(&c.name))
            else {
                continue;
            };
            let id = if t.primary_key.len() == 1 && t.column_names().any(|n| n == t.primary_key[0])
            {
                format!("c.{}::text", q(&t.primary_key[0]))
            } else {
                "NULL::text".into()
            };
            let sql = POSTGRES.select_without_parent(&id, &q(&t.name), fk, &q(&fk.ref_table));
            let rows: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| db(format!("checking foreign key {} of {}", c.name, t.name), e))?;
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
impl Dumper for PgDumper {
    fn dialect(&self) -> &'static dyn Dialect {
        &POSTGRES
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn describe(&self) -> String {
        self.location.describe()
    }

    async fn begin(&mut self) -> Result<SourceSnapshot> {
        let schema = self.location.schema().to_string();
        let conn = self.conn()?;
        sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *conn)
            .await
            .map_err(|e| db("starting the read transaction", e))?;
        introspect::check_schema(conn, &schema).await?;
        let server_version: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| db("reading the server version", e))?;
        // No DDL may change the tables while they are read.
        let names: Vec<String> = introspect::table_names(conn, &schema)
            .await?
            .into_iter()
            .filter(|n| zsso_core::catalogue::is_sso_table(n))
            .collect();
        if !names.is_empty() {
            let list: Vec<String> = names.iter().map(|n| POSTGRES.quote_ident(n)).collect();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "LOCK TABLE {} IN ACCESS SHARE MODE",
                list.join(", ")
            )))
            .execute(&mut *conn)
            .await
            .map_err(|e| {
                db(
                    "locking the SSO tables against changes of their definitions",
                    e,
                )
            })?;
        }
        let (schema_model, tables) = introspect::sso_schema(conn, &schema).await?;
        let mut warnings = Vec::new();
        for t in &tables {
            for what in &t.uncarried {
                warnings.push(format!(
                    "{what} on {} is not carried by the bundle (it belongs to code outside the SSO tables)",
                    t.table.name
                ));
            }
        }
        self.tables = tables;
        Ok(SourceSnapshot {
            server_version,
            schema: schema_model,
            warnings,
            prologue: search_path(&schema),
            conversion: None,
        })
    }

    async fn stream_rows(&mut self, table: &Table, sink: &mut dyn RowSink) -> Result<()> {
        let kinds = kinds_of(&self.tables, table)?.to_vec();
        stream_rows(self.conn()?, table, &kinds, sink).await
    }

    async fn orphans(&mut self, tables: &[Table]) -> Result<Vec<Orphan>> {
        orphans(self.conn()?, tables).await
    }

    async fn estimated_rows(&mut self, table: &Table) -> Option<u64> {
        // The planner's estimate, from the last ANALYZE (none before the first one).
        let name = crate::dialect::POSTGRES.quote_ident(&table.name);
        let n: Option<f32> =
            sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)")
                .bind(name)
                .fetch_optional(self.conn().ok()?)
                .await
                .ok()?;
        n.filter(|n| *n > 0.0).map(|n| n as u64)
    }

    async fn finish(&mut self) -> Result<()> {
        if let Some(mut c) = self.conn.take() {
            sqlx::raw_sql("COMMIT")
                .execute(&mut c)
                .await
                .map_err(|e| db("ending the read transaction", e))?;
            c.close().await.map_err(|e| db("closing", e))?;
        }
        Ok(())
    }
}
