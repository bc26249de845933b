//! The two hot paths, run straight on the connection's SQLite handle.
//!
//! sqlx runs SQLite on a worker thread and sends every row through a channel as duplicated
//! values; for a backup that streams millions of rows that costs more than the reading
//! itself. [`with_handle`] locks sqlx's handle (so its worker leaves it alone) and lends it to
//! rusqlite, built on the same `libsqlite3-sys`, for the duration of one synchronous call: rows
//! are read in place, and each statement of a dump is prepared on its own, so that SQLite
//! itself refuses a text that holds more than one statement.

use crate::error::db;
use sqlx::SqliteConnection;
use zsso_core::value::Value;
use zsso_core::{Error, Result};

/// Wraps a rusqlite error with what was being done.
pub(crate) fn rs(context: impl Into<String>, e: rusqlite::Error) -> Error {
    Error::Database {
        backend: "sqlite",
        context: context.into(),
        source: Box::new(e),
    }
}

/// Runs `f` with the connection's handle, inside whatever transaction the connection is in.
pub(crate) async fn with_handle<T>(
    conn: &mut SqliteConnection,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T>,
) -> Result<T> {
    let mut locked = conn
        .lock_handle()
        .await
        .map_err(|e| db("locking the connection", e))?;
    let raw = locked.as_raw_handle();
    // SAFETY: `locked` keeps sqlx's worker off the handle until it is dropped, which happens
    // after `c` is; `from_handle` neither closes the handle nor changes its settings.
    let c = unsafe { rusqlite::Connection::from_handle(raw.as_ptr()) }
        .map_err(|e| rs("borrowing the connection", e))?;
    let out = f(&c);
    drop(c);
    drop(locked);
    out
}

/// Converts one column of the current row, keeping its storage class and bytes.
pub(crate) fn value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(t.to_vec()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// Runs exactly one statement; SQLite refuses a text that holds more than one.
pub(crate) fn execute_one(c: &rusqlite::Connection, sql: &str, what: &str) -> Result<()> {
    let mut stmt = c.prepare(sql).map_err(|e| rs(what.to_string(), e))?;
    stmt.raw_execute().map_err(|e| rs(what.to_string(), e))?;
    Ok(())
}
