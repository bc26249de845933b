//! Reading the SSO tables and sequences of one schema from PostgreSQL's catalogs.
//!
//! Definitions are printed by the server itself (`format_type`, `pg_get_expr`,
//! `pg_get_constraintdef`, `pg_get_indexdef`) with `search_path` set to the schema, so they
//! name its objects unqualified and restore into any schema.

use crate::copytext::Kind;
use crate::dialect::POSTGRES;
use crate::error::db;
use sqlx::{PgConnection, Row};
use zsso_core::catalogue::is_sso_table;
use zsso_core::dialect::Dialect;
use zsso_core::schema::{Column, Constraint, ForeignKey, Index, OwnedBy, Schema, Sequence, Table};
use zsso_core::{Error, Result};

/// A table as read from the catalogs, with what reading its rows needs.
#[derive(Debug, Clone)]
pub(crate) struct PgTable {
    pub table: Table,
    pub kinds: Vec<Kind>,
    /// Non-internal triggers, rules and row-level security policies: not carried.
    pub uncarried: Vec<String>,
}

/// The names of the ordinary tables of `schema`.
pub(crate) async fn table_names(conn: &mut PgConnection, schema: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT c.relname::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db(format!("listing the tables of schema {schema}"), e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Refuses a schema that does not exist.
pub(crate) async fn check_schema(conn: &mut PgConnection, schema: &str) -> Result<()> {
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1")
            .bind(schema)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| db("looking up the schema", e))?;
    if n == 0 {
        return Err(Error::Refused {
            reason: format!("the database has no schema {schema}"),
        });
    }
    Ok(())
}

fn action(c: &str) -> String {
    match c {
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        _ => "NO ACTION",
    }
    .to_string()
}

/// Describes one table of `schema`.
pub(crate) async fn describe(conn: &mut PgConnection, schema: &str, name: &str) -> Result<PgTable> {
    let ctx = |what: &str| format!("reading the {what} of {schema}.{name}");
    let oid: Option<i64> = sqlx::query_scalar(
        "SELECT c.oid::int8 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
    )
    .bind(schema)
    .bind(name)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| db(ctx("catalog entry"), e))?;
    let oid = oid.ok_or_else(|| Error::Refused {
        reason: format!("{schema}.{name} is not a table"),
    })?;
    let cols = sqlx::query(
        "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text, \
                (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END)::int8, \
                CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 \
                     THEN (SELECT pg_catalog.quote_ident(collname) FROM pg_catalog.pg_collation WHERE oid = a.attcollation) END, \
                (SELECT pg_catalog.format('SEQUENCE NAME %I START WITH %s INCREMENT BY %s MINVALUE %s MAXVALUE %s CACHE %s %s', \
                        sc.relname, sq.seqstart, sq.seqincrement, sq.seqmin, sq.seqmax, sq.seqcache, \
                        CASE WHEN sq.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END) \
                 FROM pg_catalog.pg_depend dp JOIN pg_catalog.pg_class sc ON sc.oid = dp.objid \
                 JOIN pg_catalog.pg_sequence sq ON sq.seqrelid = sc.oid \
                 WHERE dp.classid = 'pg_catalog.pg_class'::regclass AND dp.refobjid = a.attrelid \
                   AND dp.refobjsubid = a.attnum AND dp.deptype = 'i' LIMIT 1) \
         FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE a.attrelid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    )
    .bind(oid)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db(ctx("columns"), e))?;
    let mut columns = Vec::new();
    let mut kinds = Vec::new();
    let mut lines = Vec::new();
    for r in &cols {
        let col = Column {
            name: r.get(0),
            data_type: r.get(1),
            nullable: !r.get::<bool, _>(2),
            default: r.get(3),
        };
        let identity: String = r.get(4);
        let generated: String = r.get(5);
        if !generated.is_empty() {
            return Err(Error::Refused {
                reason: format!(
                    "{schema}.{name}.{} is a generated column: zsso does not back those up yet",
                    col.name
                ),
            });
        }
        let identity_options: Option<String> = r.get(8);
        let base: i64 = r.get(6);
        kinds.push(Kind::of_type(base as u32));
        let collation: Option<String> = r.get(7);
        let mut line = format!("    {} {}", POSTGRES.quote_ident(&col.name), col.data_type);
        if let Some(c) = &collation {
            line.push_str(&format!(" COLLATE {c}"));
        }
        if let Some(d) = &col.default {
            line.push_str(&format!(" DEFAULT {d}"));
        }
        if !identity.is_empty() {
            // The identity's sequence is created with the table, with its own options.
            let when = if identity == "a" {
                "ALWAYS"
            } else {
                "BY DEFAULT"
            };
            let options = identity_options.ok_or_else(|| Error::Refused {
                reason: format!(
                    "{schema}.{name}.{}: its identity sequence was not found",
                    col.name
                ),
            })?;
            line.push_str(&format!(" GENERATED {when} AS IDENTITY ({options})"));
        }
        if !col.nullable {
            line.push_str(" NOT NULL");
        }
        lines.push(line);
        columns.push(col);
    }
    let create_sql = format!(
        "CREATE TABLE {} (\n{}\n)",
        POSTGRES.quote_ident(name),
        lines.join(",\n")
    );
    let cons = sqlx::query(
        "SELECT c.conname::text, c.contype::text, pg_catalog.pg_get_constraintdef(c.oid), \
                ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o) \
                      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o), \
                rf.relname::text, \
                ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o) \
                      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o), \
                c.confdeltype::text, c.confupdtype::text \
         FROM pg_catalog.pg_constraint c LEFT JOIN pg_catalog.pg_class rf ON rf.oid = c.confrelid \
         WHERE c.conrelid = $1::int8::oid AND c.contype IN ('p', 'u', 'c', 'f', 'x') \
         ORDER BY CASE c.contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'c' THEN 2 WHEN 'x' THEN 3 ELSE 4 END, c.conname",
    )
    .bind(oid)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db(ctx("constraints"), e))?;
    let mut constraints = Vec::new();
    let mut primary_key = Vec::new();
    let mut foreign_keys = Vec::new();
    for r in &cons {
        let cname: String = r.get(0);
        let kind: String = r.get(1);
        let definition: String = r.get(2);
        let keycols: Vec<String> = r.get(3);
        let kind = match kind.as_str() {
            "p" => {
                primary_key = keycols.clone();
                "primary_key"
            }
            "u" => "unique",
            "c" => "check",
            "x" => "exclude",
            _ => {
                foreign_keys.push(ForeignKey {
                    name: Some(cname.clone()),
                    columns: keycols,
                    ref_table: r.get::<Option<String>, _>(4).unwrap_or_default(),
                    ref_columns: r.get(5),
                    on_delete: action(&r.get::<String, _>(6)),
                    on_update: action(&r.get::<String, _>(7)),
                });
                "foreign_key"
            }
        };
        constraints.push(Constraint {
            create_sql: format!(
                "ALTER TABLE ONLY {} ADD CONSTRAINT {} {definition}",
                POSTGRES.quote_ident(name),
                POSTGRES.quote_ident(&cname)
            ),
            name: cname,
            kind: kind.into(),
            definition,
        });
    }
    let idx = sqlx::query(
        "SELECT i.relname::text, ix.indisunique, pg_catalog.pg_get_indexdef(ix.indexrelid), \
                ARRAY(SELECT pg_catalog.pg_get_indexdef(ix.indexrelid, k, true) FROM generate_series(1, ix.indnatts) k ORDER BY k), \
                (SELECT con.contype::text FROM pg_catalog.pg_constraint con \
                 WHERE con.conindid = ix.indexrelid AND con.conrelid = ix.indrelid AND con.contype IN ('p', 'u', 'x')), \
                pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.relname), pg_catalog.quote_ident(t.relname) \
         FROM pg_catalog.pg_index ix JOIN pg_catalog.pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_catalog.pg_class t ON t.oid = ix.indrelid JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace \
         WHERE ix.indrelid = $1::int8::oid ORDER BY i.relname",
    )
    .bind(oid)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db(ctx("indexes"), e))?;
    let indexes = idx
        .iter()
        .map(|r| {
            let backs: Option<String> = r.get(4);
            let origin = match backs.as_deref() {
                Some("p") => "primary_key",
                Some("u") => "unique",
                Some(_) => "constraint",
                None => "index",
            };
            // pg_get_indexdef always qualifies the table: the dump names it unqualified.
            let def: String = r.get(2);
            let qualified: String = r.get(5);
            let bare: String = r.get(6);
            let def = def
                .replacen(&format!(" ON {qualified} "), &format!(" ON {bare} "), 1)
                .replacen(
                    &format!(" ON ONLY {qualified} "),
                    &format!(" ON ONLY {bare} "),
                    1,
                );
            Index {
                name: r.get(0),
                unique: r.get(1),
                origin: origin.into(),
                columns: r.get(3),
                create_sql: backs.is_none().then_some(def),
            }
        })
        .collect();
    let other = sqlx::query(
        "SELECT 'trigger ' || tgname::text FROM pg_catalog.pg_trigger WHERE tgrelid = $1::int8::oid AND NOT tgisinternal \
         UNION ALL SELECT 'rule ' || rulename::text FROM pg_catalog.pg_rewrite WHERE ev_class = $1::int8::oid AND rulename <> '_RETURN' \
         UNION ALL SELECT 'policy ' || polname::text FROM pg_catalog.pg_policy WHERE polrelid = $1::int8::oid ORDER BY 1",
    )
    .bind(oid)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db(ctx("triggers, rules and policies"), e))?;
    Ok(PgTable {
        table: Table {
            name: name.to_string(),
            columns,
            primary_key,
            foreign_keys,
            indexes,
            triggers: Vec::new(),
            constraints,
            create_sql,
        },
        kinds,
        uncarried: other.iter().map(|r| r.get(0)).collect(),
    })
}

/// The sequences that belong to the SSO set of `schema`: every sequence with an SSO name,
/// and every sequence that a column default of `tables` uses or that one of them owns.
pub(crate) async fn sequences(
    conn: &mut PgConnection,
    schema: &str,
    tables: &[String],
) -> Result<Vec<Sequence>> {
    let rows = sqlx::query(
        "SELECT c.relname::text, n.nspname::text, pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, \
                s.seqmin, s.seqmax, s.seqcache, s.seqcycle, \
                (SELECT tc.relname::text FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class tc ON tc.oid = d.refobjid \
                 WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid \
                   AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1), \
                (SELECT ta.attname::text FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_attribute ta \
                   ON ta.attrelid = d.refobjid AND ta.attnum = d.refobjsubid \
                 WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid \
                   AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1), \
                u.used, \
                EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass \
                        AND d.objid = c.oid AND d.deptype = 'i') \
         FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN LATERAL (SELECT c.oid IN (SELECT d.refobjid FROM pg_catalog.pg_depend d \
                         JOIN pg_catalog.pg_attrdef ad ON d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.objid = ad.oid \
                         JOIN pg_catalog.pg_class t ON t.oid = ad.adrelid JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace \
                         WHERE tn.nspname = $1 AND t.relname = ANY($2)) AS used) u \
         WHERE n.nspname = $1 OR u.used \
         ORDER BY c.relname",
    )
    .bind(schema)
    .bind(tables)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db(format!("reading the sequences of schema {schema}"), e))?;
    let mut out = Vec::new();
    for r in rows {
        let name: String = r.get(0);
        let nsp: String = r.get(1);
        let owner: Option<String> = r.get(9);
        let owned_by = owner
            .zip(r.get::<Option<String>, _>(10))
            .map(|(table, column)| OwnedBy { table, column });
        let used: bool = r.get(11);
        let ours = is_sso_table(&name)
            || owned_by.as_ref().is_some_and(|o| tables.contains(&o.table))
            || used;
        if !ours {
            continue;
        }
        if nsp != schema {
            return Err(Error::Refused {
                reason: format!(
                    "a column default of the SSO tables uses sequence {nsp}.{name}, outside schema {schema}: zsso backs up one schema"
                ),
            });
        }
        let state = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT last_value, is_called FROM {}",
            POSTGRES.quote_ident(&name)
        )))
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| db(format!("reading the state of sequence {name}"), e))?;
        let mut seq = Sequence {
            name,
            data_type: r.get(2),
            start: r.get(3),
            increment: r.get(4),
            min: r.get(5),
            max: r.get(6),
            cache: r.get(7),
            cycle: r.get(8),
            last_value: state.get(0),
            is_called: state.get(1),
            owned_by,
            identity: r.get(12),
            create_sql: String::new(),
        };
        if !seq.identity {
            seq.create_sql = format!(
                "CREATE SEQUENCE {} AS {} START WITH {} INCREMENT BY {} MINVALUE {} MAXVALUE {} CACHE {}{}",
                POSTGRES.quote_ident(&seq.name),
                seq.data_type,
                seq.start,
                seq.increment,
                seq.min,
                seq.max,
                seq.cache,
                if seq.cycle { " CYCLE" } else { " NO CYCLE" }
            );
        }
        out.push(seq);
    }
    Ok(out)
}

/// Describes every SSO table of `schema`, and its sequences.
pub(crate) async fn sso_schema(
    conn: &mut PgConnection,
    schema: &str,
) -> Result<(Schema, Vec<PgTable>)> {
    let mut tables = Vec::new();
    for name in table_names(conn, schema).await? {
        if is_sso_table(&name) {
            tables.push(describe(conn, schema, &name).await?);
        }
    }
    let names: Vec<String> = tables.iter().map(|t| t.table.name.clone()).collect();
    let sequences = sequences(conn, schema, &names).await?;
    let schema = Schema {
        tables: tables.iter().map(|t| t.table.clone()).collect(),
        sequences,
    };
    Ok((schema, tables))
}
