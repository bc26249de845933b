//! Reading the SSO tables of one database: `SHOW CREATE TABLE` for the DDL exactly as the
//! server has it, `information_schema` for the neutral model, and the rows with their types.

use crate::dialect::MYSQL;
use crate::error::db;
use futures::TryStreamExt;
use sqlx::{MySqlConnection, Row};
use zsso_core::backend::RowSink;
use zsso_core::catalogue::is_sso_table;
use zsso_core::dialect::Dialect;
use zsso_core::schema::{Column, ForeignKey, Index, Table};
use zsso_core::value::Value;
use zsso_core::{Error, Result};

/// How a column is read into a neutral [`Value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Signed integers, `TINYINT(1)` booleans included (2 and -1 stay 2 and -1).
    Int,
    /// Unsigned integers; above `i64::MAX` as decimal text.
    Unsigned,
    /// `FLOAT`.
    F32,
    /// `DOUBLE`.
    F64,
    /// `DATETIME`, `TIMESTAMP`: text with six fractional digits (zero dates kept).
    Timestamp,
    /// `DECIMAL`, `DATE`, `TIME`, `YEAR`, `JSON`: the text the server prints.
    AsText,
    /// Character strings: their bytes in utf8mb4.
    Text,
    /// Binary strings and `BIT`: their bytes.
    Bytes,
}

fn kind_of(data_type: &str, column_type: &str) -> Option<Kind> {
    Some(match data_type {
        "tinyint" | "smallint" | "mediumint" | "int" | "bigint" => {
            if column_type.contains("unsigned") {
                Kind::Unsigned
            } else {
                Kind::Int
            }
        }
        "float" => Kind::F32,
        "double" | "real" => Kind::F64,
        "datetime" | "timestamp" => Kind::Timestamp,
        "decimal" | "date" | "time" | "year" | "json" => Kind::AsText,
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set" => {
            Kind::Text
        }
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" | "bit" => {
            Kind::Bytes
        }
        _ => return None,
    })
}

/// A table as read from the server, with what reading its rows needs.
#[derive(Debug, Clone)]
pub(crate) struct MyTable {
    pub table: Table,
    pub kinds: Vec<Kind>,
    /// Triggers on the table: not carried.
    pub triggers: Vec<String>,
}

/// The base tables of `database`.
pub(crate) async fn table_names(conn: &mut MySqlConnection, database: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
    )
    .bind(database)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db(format!("listing the tables of {database}"), e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

fn action(rule: &str) -> String {
    rule.to_string()
}

/// Describes one table of `database`; `live`, when the table sits in a restore's own
/// database, is the database whose name a foreign key to a table outside the set carries and
/// that the description leaves out, as it will once the table is swapped in.
pub(crate) async fn describe(
    conn: &mut MySqlConnection,
    database: &str,
    name: &str,
    live: Option<&str>,
) -> Result<MyTable> {
    let ctx = |what: &str| format!("reading the {what} of {database}.{name}");
    let q = |s: &str| MYSQL.quote_ident(s);
    let show = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SHOW CREATE TABLE {}.{}",
        q(database),
        q(name)
    )))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| db(ctx("definition"), e))?;
    let mut create_sql: String = String::from_utf8(
        show.try_get_unchecked::<Vec<u8>, _>(1)
            .map_err(|e| db(ctx("definition"), e))?,
    )
    .map_err(|_| Error::Usage(format!("the definition of {name} is not UTF-8")))?;
    if let Some(live) = live {
        create_sql = create_sql.replace(&format!("REFERENCES {}.", q(live)), "REFERENCES ");
    }
    let cols = sqlx::query(
        "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR), CAST(IS_NULLABLE AS CHAR), \
                CAST(COLUMN_DEFAULT AS CHAR), CAST(DATA_TYPE AS CHAR), CAST(EXTRA AS CHAR) \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    )
    .bind(database)
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db(ctx("columns"), e))?;
    let mut columns = Vec::new();
    let mut kinds = Vec::new();
    for r in &cols {
        let col_name: String = r.get(0);
        let column_type: String = r.get(1);
        let data_type: String = r.get(4);
        let extra: String = r.get::<Option<String>, _>(5).unwrap_or_default();
        if extra.to_ascii_uppercase().contains("GENERATED") {
            return Err(Error::Refused {
                reason: format!(
                    "{name}.{col_name} is a generated column: zsso does not back those up yet"
                ),
            });
        }
        let kind = kind_of(
            &data_type.to_ascii_lowercase(),
            &column_type.to_ascii_lowercase(),
        )
        .ok_or_else(|| Error::Refused {
            reason: format!(
                "{name}.{col_name} is of type {column_type}, which zsso does not back up yet"
            ),
        })?;
        kinds.push(kind);
        columns.push(Column {
            name: col_name,
            data_type: column_type,
            nullable: r.get::<String, _>(2) == "YES",
            default: r.get(3),
        });
    }
    let stats = sqlx::query(
        "SELECT CAST(INDEX_NAME AS CHAR), NON_UNIQUE, CAST(COLUMN_NAME AS CHAR), SUB_PART \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX",
    )
    .bind(database)
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db(ctx("indexes"), e))?;
    let mut indexes: Vec<Index> = Vec::new();
    let mut primary_key = Vec::new();
    for r in &stats {
        let iname: String = r.get(0);
        let non_unique: i64 = r.try_get_unchecked::<i64, _>(1).unwrap_or(1);
        let col: String = r.get::<Option<String>, _>(2).unwrap_or_default();
        let sub: Option<i64> = r.try_get_unchecked::<Option<i64>, _>(3).unwrap_or(None);
        let col = match sub {
            Some(n) => format!("{col}({n})"),
            None => col,
        };
        if iname == "PRIMARY" {
            primary_key.push(col.clone());
        }
        match indexes.iter_mut().find(|i| i.name == iname) {
            Some(i) => i.columns.push(col),
            None => indexes.push(Index {
                origin: if iname == "PRIMARY" {
                    "primary_key"
                } else if non_unique == 0 {
                    "unique"
                } else {
                    "index"
                }
                .into(),
                unique: non_unique == 0,
                name: iname,
                columns: vec![col],
                create_sql: None,
            }),
        }
    }
    let fks = sqlx::query(
        "SELECT CAST(k.CONSTRAINT_NAME AS CHAR), CAST(k.COLUMN_NAME AS CHAR), CAST(k.REFERENCED_TABLE_NAME AS CHAR), \
                CAST(k.REFERENCED_COLUMN_NAME AS CHAR), CAST(r.DELETE_RULE AS CHAR), CAST(r.UPDATE_RULE AS CHAR) \
         FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
           ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME \
         WHERE k.TABLE_SCHEMA = ? AND k.TABLE_NAME = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL \
         ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
    )
    .bind(database)
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db(ctx("foreign keys"), e))?;
    let mut foreign_keys: Vec<ForeignKey> = Vec::new();
    for r in &fks {
        let cname: String = r.get(0);
        let col: String = r.get(1);
        let rcol: String = r.get(3);
        match foreign_keys
            .iter_mut()
            .find(|f| f.name.as_deref() == Some(&cname))
        {
            Some(f) => {
                f.columns.push(col);
                f.ref_columns.push(rcol);
            }
            None => foreign_keys.push(ForeignKey {
                name: Some(cname),
                columns: vec![col],
                ref_table: r.get(2),
                ref_columns: vec![rcol],
                on_delete: action(&r.get::<String, _>(4)),
                on_update: action(&r.get::<String, _>(5)),
            }),
        }
    }
    let triggers = sqlx::query(
        "SELECT CAST(TRIGGER_NAME AS CHAR) FROM information_schema.TRIGGERS \
         WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ? ORDER BY TRIGGER_NAME",
    )
    .bind(database)
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| db(ctx("triggers"), e))?
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect();
    Ok(MyTable {
        table: Table {
            name: name.to_string(),
            columns,
            primary_key,
            foreign_keys,
            indexes,
            triggers: Vec::new(),
            constraints: Vec::new(),
            create_sql,
        },
        kinds,
        triggers,
    })
}

/// Describes every SSO table of `database`.
pub(crate) async fn sso_tables(conn: &mut MySqlConnection, database: &str) -> Result<Vec<MyTable>> {
    let mut out = Vec::new();
    for name in table_names(conn, database).await? {
        if is_sso_table(&name) {
            out.push(describe(conn, database, &name, None).await?);
        }
    }
    Ok(out)
}

/// Writes a `DATETIME` or `TIMESTAMP` as the binary protocol sends it into `out` (emptied
/// first) as `YYYY-MM-DD HH:MM:SS.ffffff`: the text `CAST(... AS CHAR)` prints, with six
/// fractional digits, as [`zsso_core::value::six_digits`] pads it. False, with `out` left
/// empty, for any other shape. The value is a length byte (0, 4, 7 or 11), then as far as the
/// length goes the year (2 bytes, little-endian), month, day, hour, minute, second and
/// microseconds (4 bytes, little-endian); what is left out is zero (a zero date has none).
/// The fields are the server's own, unchecked: a month or day of zero and a day past the
/// month's end, which InnoDB holds under some `sql_mode`s, come as they are.
fn binary_datetime(b: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let Some((&len, v)) = b.split_first() else {
        return false;
    };
    if v.len() != usize::from(len) || !matches!(len, 0 | 4 | 7 | 11) {
        return false;
    }
    let at = |i: usize| v.get(i).copied().map_or(0, u32::from);
    let year = at(0) | (at(1) << 8);
    let micros = at(7) | (at(8) << 8) | (at(9) << 16) | (at(10) << 24);
    if year > 9999 || micros > 999_999 {
        return false;
    }
    let mut text = *b"0000-00-00 00:00:00.000000";
    // Each field's last digits, right to left (a divisor the compiler knows is cheap: a
    // backup formats millions of these).
    for (mut n, at) in [
        (year, 0..4),
        (at(2), 5..7),
        (at(3), 8..10),
        (at(4), 11..13),
        (at(5), 14..16),
        (at(6), 17..19),
        (micros, 20..26),
    ] {
        for digit in text[at].iter_mut().rev() {
            *digit = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
    out.extend_from_slice(&text);
    true
}

/// Puts `bytes` into `slot` as text or a blob, in the buffer the slot already has when it
/// holds one of that kind.
fn refill(slot: &mut Value, bytes: &[u8], text: bool) {
    match slot {
        Value::Text(buf) if text => {
            buf.clear();
            buf.extend_from_slice(bytes);
        }
        Value::Blob(buf) if !text => {
            buf.clear();
            buf.extend_from_slice(bytes);
        }
        _ if text => *slot = Value::Text(bytes.to_vec()),
        _ => *slot = Value::Blob(bytes.to_vec()),
    }
}

/// Streams every row of `database`.`table` into `sink`, each value read by its column's kind.
pub(crate) async fn stream_rows(
    conn: &mut MySqlConnection,
    database: &str,
    table: &Table,
    kinds: &[Kind],
    sink: &mut dyn RowSink,
) -> Result<()> {
    let q = |s: &str| MYSQL.quote_ident(s);
    let exprs: Vec<String> = table
        .column_names()
        .zip(kinds)
        .map(|(c, k)| match k {
            Kind::AsText => format!("CAST({} AS CHAR)", q(c)),
            _ => q(c),
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM {}.{}",
        exprs.join(", "),
        q(database),
        q(&table.name)
    );
    let ctx = || format!("reading the rows of {}", table.name);
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .persistent(false)
        .fetch(&mut *conn);
    // One row's values, their buffers kept from row to row.
    let mut values: Vec<Value> = vec![Value::Null; kinds.len()];
    while let Some(row) = rows.try_next().await.map_err(|e| db(ctx(), e))? {
        for (i, (k, slot)) in kinds.iter().zip(values.iter_mut()).enumerate() {
            let bytes = || row.try_get_unchecked::<Option<&[u8]>, _>(i);
            let set = match k {
                Kind::Int => row
                    .try_get_unchecked::<Option<i64>, _>(i)
                    .map(|v| *slot = v.map_or(Value::Null, Value::Integer)),
                Kind::Unsigned => row.try_get_unchecked::<Option<u64>, _>(i).map(|v| {
                    *slot = v.map_or(Value::Null, |u| match i64::try_from(u) {
                        Ok(s) => Value::Integer(s),
                        Err(_) => Value::Text(u.to_string().into_bytes()),
                    })
                }),
                Kind::F32 => row
                    .try_get_unchecked::<Option<f32>, _>(i)
                    .map(|v| *slot = v.map_or(Value::Null, |f| Value::Real(f64::from(f)))),
                Kind::F64 => row
                    .try_get_unchecked::<Option<f64>, _>(i)
                    .map(|v| *slot = v.map_or(Value::Null, Value::Real)),
                Kind::Timestamp => row.try_get_raw(i).and_then(|raw| {
                    // Decoded as bytes, not as an `Option`: sqlx takes a zero date for NULL
                    // there, and only a NULL has no bytes.
                    match <&[u8] as sqlx::Decode<'_, sqlx::MySql>>::decode(raw) {
                        // Into the text buffer the slot holds from the row before, if any.
                        Ok(b) => {
                            if !matches!(slot, Value::Text(_)) {
                                *slot = Value::Text(Vec::with_capacity(26));
                            }
                            if let Value::Text(buf) = slot
                                && !binary_datetime(b, buf)
                            {
                                return Err(sqlx::Error::Decode(
                                    format!("{} bytes that are not a binary DATETIME", b.len())
                                        .into(),
                                ));
                            }
                        }
                        Err(e) if e.is::<sqlx::error::UnexpectedNullError>() => *slot = Value::Null,
                        Err(e) => return Err(sqlx::Error::Decode(e)),
                    }
                    Ok(())
                }),
                Kind::AsText | Kind::Text => bytes().map(|v| match v {
                    Some(b) => refill(slot, b, true),
                    None => *slot = Value::Null,
                }),
                Kind::Bytes => bytes().map(|v| match v {
                    Some(b) => refill(slot, b, false),
                    None => *slot = Value::Null,
                }),
            };
            set.map_err(|e| db(format!("{}: column {}", ctx(), table.columns[i].name), e))?;
        }
        sink.row(&values)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::binary_datetime;

    #[test]
    fn binary_datetimes_read_as_the_server_prints_them_with_six_digits() {
        let text = |b: &[u8]| {
            // A buffer that held a longer value before: it is emptied first.
            let mut out = b"left from the row before, longer than a datetime".to_vec();
            let ok = binary_datetime(b, &mut out);
            assert_eq!(ok, !out.is_empty(), "{b:?}");
            ok.then(|| String::from_utf8(out).unwrap())
        };
        let t = text(&[11, 0xe8, 0x07, 3, 15, 15, 10, 25, 0x40, 0xe2, 0x01, 0]);
        assert_eq!(t.as_deref(), Some("2024-03-15 15:10:25.123456"));
        let t = text(&[7, 0xe8, 0x07, 12, 31, 23, 59, 59]);
        assert_eq!(t.as_deref(), Some("2024-12-31 23:59:59.000000"));
        let t = text(&[4, 0xe7, 0x03, 1, 2]);
        assert_eq!(t.as_deref(), Some("0999-01-02 00:00:00.000000"));
        assert_eq!(text(&[0]).as_deref(), Some("0000-00-00 00:00:00.000000"));
        let t = text(&[11, 0x0f, 0x27, 12, 31, 23, 59, 59, 0x3f, 0x42, 0x0f, 0]);
        assert_eq!(t.as_deref(), Some("9999-12-31 23:59:59.999999"));
        // Lengths the protocol does not have, a length that is not the value's, microseconds
        // past a second.
        assert_eq!(text(&[]), None);
        assert_eq!(text(&[5, 0xe8, 0x07, 3, 15, 1]), None);
        assert_eq!(text(&[7, 0xe8, 0x07, 3, 15, 15, 10]), None);
        assert_eq!(
            text(&[11, 0xe8, 0x07, 3, 15, 15, 10, 25, 0x40, 0x42, 0x0f, 0]),
            None
        );
    }
}
