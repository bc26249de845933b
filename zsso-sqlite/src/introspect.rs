//! Reading SQLite's catalogue: tables by the SSO pattern, and every column, key, index and
//! trigger that belongs to them, whatever their names.
//!
//! See <https://www.sqlite.org/pragma.html#pragfunc> for the table-valued pragma functions.

use crate::error::db;
use sqlx::{Row, SqliteConnection};
use zsso_core::Result;
use zsso_core::catalogue::is_sso_table;
use zsso_core::schema::{Column, ForeignKey, Index, Schema, Table, Trigger};

/// Refuses databases whose text encoding is not UTF-8: zsso's literals assume it.
///
/// It is the first read of every connection, so its error says which file failed (locked,
/// not a database, unreadable).
pub(crate) async fn check_encoding(
    conn: &mut SqliteConnection,
    path: &std::path::Path,
) -> Result<()> {
    let enc: String = sqlx::query_scalar("PRAGMA encoding")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| db(format!("reading {}", path.display()), e))?;
    if enc != "UTF-8" {
        return Err(zsso_core::Error::Refused {
            reason: format!(
                "the text encoding of {} is {enc}; zsso supports UTF-8 databases only",
                path.display()
            ),
        });
    }
    Ok(())
}

/// The names of every table in the database.
pub(crate) async fn table_names(conn: &mut SqliteConnection) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db("listing tables", e))
}

/// Describes one table.
pub(crate) async fn describe(conn: &mut SqliteConnection, name: &str) -> Result<Table> {
    let ctx = |what: &str| format!("reading the {what} of table {name}");
    let create_sql: Option<String> =
        sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| db(ctx("definition"), e))?
            .flatten();
    let create_sql = create_sql.ok_or_else(|| zsso_core::Error::Refused {
        reason: format!("table {name} does not exist"),
    })?;
    let cols = sqlx::query(
        "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1) ORDER BY cid",
    )
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db(ctx("columns"), e))?;
    let mut columns = Vec::new();
    let mut pk: Vec<(i64, String)> = Vec::new();
    for c in &cols {
        let cname: String = c.get(0);
        let hidden: i64 = c.get(5);
        let pk_pos: i64 = c.get(4);
        if pk_pos > 0 {
            pk.push((pk_pos, cname.clone()));
        }
        if hidden != 0 {
            // Generated and hidden columns cannot be inserted: their values follow from the DDL.
            continue;
        }
        columns.push(Column {
            name: cname,
            data_type: c.get(1),
            nullable: c.get::<i64, _>(2) == 0,
            default: c.get(3),
        });
    }
    pk.sort();
    let fk_rows = sqlx::query(
        "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
    )
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db(ctx("foreign keys"), e))?;
    let mut foreign_keys: Vec<ForeignKey> = Vec::new();
    let mut last_id = -1i64;
    for r in &fk_rows {
        let id: i64 = r.get(0);
        if id != last_id {
            foreign_keys.push(ForeignKey {
                name: None,
                columns: Vec::new(),
                ref_table: r.get(1),
                ref_columns: Vec::new(),
                on_update: r.get(4),
                on_delete: r.get(5),
            });
            last_id = id;
        }
        let fk = foreign_keys.last_mut().expect("pushed above");
        fk.columns.push(r.get(2));
        fk.ref_columns
            .push(r.get::<Option<String>, _>(3).unwrap_or_default());
    }
    let idx_rows = sqlx::query(
        "SELECT l.name, l.\"unique\", l.origin, m.sql FROM pragma_index_list(?1) AS l \
         LEFT JOIN sqlite_master AS m ON m.type = 'index' AND m.name = l.name ORDER BY l.seq DESC",
    )
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db(ctx("indexes"), e))?;
    let mut indexes = Vec::new();
    for r in &idx_rows {
        let iname: String = r.get(0);
        let icols: Vec<Option<String>> =
            sqlx::query_scalar("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
                .bind(&iname)
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| db(format!("reading the columns of index {iname}"), e))?;
        let origin: String = r.get(2);
        indexes.push(Index {
            name: iname,
            unique: r.get::<i64, _>(1) != 0,
            origin: match origin.as_str() {
                "u" => "unique",
                "pk" => "primary_key",
                _ => "index",
            }
            .into(),
            columns: icols
                .into_iter()
                .map(|c| c.unwrap_or_else(|| "<expression>".into()))
                .collect(),
            create_sql: r.get(3),
        });
    }
    let trig = sqlx::query(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1 ORDER BY rowid",
    )
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db(ctx("triggers"), e))?;
    let triggers = trig
        .iter()
        .map(|r| Trigger {
            name: r.get(0),
            create_sql: r.get(1),
        })
        .collect();
    Ok(Table {
        name: name.to_string(),
        columns,
        primary_key: pk.into_iter().map(|(_, c)| c).collect(),
        foreign_keys,
        indexes,
        triggers,
        constraints: Vec::new(),
        create_sql,
    })
}

/// Describes every SSO table, in the database's order.
pub(crate) async fn sso_schema(conn: &mut SqliteConnection) -> Result<Schema> {
    let mut tables = Vec::new();
    for name in table_names(conn).await? {
        if is_sso_table(&name) {
            tables.push(describe(conn, &name).await?);
        }
    }
    Ok(Schema {
        tables,
        sequences: Vec::new(),
    })
}
