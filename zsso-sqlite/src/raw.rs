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
use zsso_core::guard::DENIED_FUNCTIONS;
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

/// What SQLite's authorizer lets a statement of the dump touch, and what it refused.
///
/// The statement guard reads the dump's text; this makes SQLite itself enforce the same
/// promise on what it actually compiles, trigger bodies included: a statement may read and
/// write the tables being restored and nothing else, call any function but the denied ones,
/// and never change a pragma, attach a file, open or end a transaction, or create anything
/// temporary, virtual or a view. See <https://www.sqlite.org/c3ref/set_authorizer.html>.
pub(crate) struct Scope {
    tables: Vec<String>,
    refused: Option<String>,
}

impl Scope {
    /// A scope of these tables (compared ASCII case-insensitively, as SQLite does).
    pub(crate) fn new(tables: &[String]) -> Self {
        Self {
            tables: tables.iter().map(|t| t.to_ascii_lowercase()).collect(),
            refused: None,
        }
    }

    fn allows_table(&self, t: &str) -> bool {
        let t = t.to_ascii_lowercase();
        self.tables.contains(&t)
    }
}

unsafe extern "C" fn authorize(
    data: *mut std::ffi::c_void,
    action: std::ffi::c_int,
    a3: *const std::ffi::c_char,
    a4: *const std::ffi::c_char,
    _db: *const std::ffi::c_char,
    accessor: *const std::ffi::c_char,
) -> std::ffi::c_int {
    use rusqlite::ffi::*;
    // SAFETY: `data` is the `Scope` that `Authorized` registered and outlives the callback;
    // the strings are NUL-terminated or null, as SQLite documents.
    let scope = unsafe { &mut *(data as *mut Scope) };
    let text = |p: *const std::ffi::c_char| {
        (!p.is_null()).then(|| {
            unsafe { std::ffi::CStr::from_ptr(p) }
                .to_string_lossy()
                .into_owned()
        })
    };
    let table = match action {
        SQLITE_READ | SQLITE_UPDATE | SQLITE_INSERT | SQLITE_DELETE | SQLITE_CREATE_TABLE => {
            text(a3)
        }
        SQLITE_CREATE_INDEX | SQLITE_CREATE_TRIGGER => text(a4),
        // Filling a new index asks for REINDEX (it names the index, not its table); a REINDEX
        // statement is refused by the guard, and rebuilding an index changes no data.
        SQLITE_SELECT | SQLITE_RECURSIVE | SQLITE_REINDEX => return SQLITE_OK,
        SQLITE_FUNCTION => {
            let f = text(a4).unwrap_or_default();
            if !DENIED_FUNCTIONS.iter().any(|d| d.eq_ignore_ascii_case(&f)) {
                return SQLITE_OK;
            }
            scope.refused.get_or_insert(format!("calls {f}()"));
            return SQLITE_DENY;
        }
        _ => {
            scope.refused.get_or_insert(format!(
                "does something a dump may not do (SQLite authorizer action {action} on {} {})",
                text(a3).unwrap_or_default(),
                text(a4).unwrap_or_default()
            ));
            return SQLITE_DENY;
        }
    };
    match table {
        Some(t) if scope.allows_table(&t) => SQLITE_OK,
        // SQLite's own bookkeeping of a CREATE (the schema table, the AUTOINCREMENT counters).
        Some(t)
            if matches!(
                t.as_str(),
                "sqlite_master" | "sqlite_schema" | "sqlite_sequence"
            ) && accessor.is_null() =>
        {
            SQLITE_OK
        }
        other => {
            let by = text(accessor)
                .map(|a| format!(" (in {a})"))
                .unwrap_or_default();
            scope.refused.get_or_insert(format!(
                "touches {}{by}, which is not one of the restored tables",
                other.unwrap_or_else(|| "an unnamed table".into())
            ));
            SQLITE_DENY
        }
    }
}

/// The authorizer, registered for as long as this lives.
struct Authorized<'a> {
    db: *mut rusqlite::ffi::sqlite3,
    _scope: std::marker::PhantomData<&'a mut Scope>,
}

impl<'a> Authorized<'a> {
    fn new(c: &rusqlite::Connection, scope: &'a mut Scope) -> Self {
        // SAFETY: the handle is valid while `c` is; `scope` outlives the registration, which
        // `drop` removes.
        let db = unsafe { c.handle() };
        unsafe {
            rusqlite::ffi::sqlite3_set_authorizer(
                db,
                Some(authorize),
                scope as *mut Scope as *mut _,
            );
        }
        Self {
            db,
            _scope: std::marker::PhantomData,
        }
    }
}

impl Drop for Authorized<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `new`; removing the authorizer is always allowed.
        unsafe {
            rusqlite::ffi::sqlite3_set_authorizer(self.db, None, std::ptr::null_mut());
        }
    }
}

/// Runs exactly one statement of a dump, which SQLite compiles under `scope`.
pub(crate) fn execute_in_scope(
    c: &rusqlite::Connection,
    sql: &str,
    scope: &mut Scope,
) -> Result<()> {
    let out = {
        let _auth = Authorized::new(c, scope);
        execute_one(c, sql, "running a statement of the dump")
    };
    match (out, scope.refused.take()) {
        (_, Some(why)) => Err(Error::Refused {
            reason: format!("SQLite refused a statement of the dump: it {why}"),
        }),
        (out, None) => out,
    }
}

/// Compiles, without running, a statement that fires each kind of trigger on `table`, under
/// `scope`: a trigger body that touches a table outside it is found, whether it would fire now
/// or long after the restore.
pub(crate) fn check_triggers(
    c: &rusqlite::Connection,
    table: &zsso_core::schema::Table,
    scope: &mut Scope,
) -> Result<()> {
    use zsso_core::dialect::Dialect;
    if table.triggers.is_empty() {
        return Ok(());
    }
    let d = &crate::dialect::SQLITE;
    let t = d.quote_ident(&table.name);
    let sets: Vec<String> = table
        .column_names()
        .map(|col| {
            let q = d.quote_ident(col);
            format!("{q} = {q}")
        })
        .collect();
    let mut sets = sets;
    // An `UPDATE OF` trigger is compiled only when one of its columns is set: every one of
    // them must be a column the probe sets (a name that is none, such as a column a later
    // migration adds, would hide the trigger's body from the check).
    let mut rowid = false;
    for tr in &table.triggers {
        for col in update_of_columns(&tr.create_sql)? {
            if ["rowid", "oid", "_rowid_"]
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&col))
            {
                rowid = true;
            } else if !table.column_names().any(|c| c.eq_ignore_ascii_case(&col)) {
                return Err(Error::Refused {
                    reason: format!(
                        "trigger {} of {} fires on UPDATE OF {col}, which is not a column of the table",
                        tr.name, table.name
                    ),
                });
            }
        }
    }
    if rowid {
        sets.push("rowid = rowid".into());
    }
    let mut probes = vec![
        format!("INSERT INTO {t} DEFAULT VALUES"),
        format!("DELETE FROM {t}"),
    ];
    if !sets.is_empty() {
        probes.push(format!("UPDATE {t} SET {}", sets.join(", ")));
    }
    for probe in probes {
        let prepared = {
            let _auth = Authorized::new(c, scope);
            c.prepare(&probe).map(drop)
        };
        if let Some(why) = scope.refused.take() {
            return Err(Error::Refused {
                reason: format!("a trigger of {} {why}", table.name),
            });
        }
        prepared.map_err(|e| rs(format!("checking the triggers of {}", table.name), e))?;
    }
    Ok(())
}

/// The columns of a trigger's `UPDATE OF` event (none for other events).
fn update_of_columns(create_sql: &str) -> Result<Vec<String>> {
    use zsso_core::dialect::Dialect;
    let stmts = zsso_core::sqlscan::definition_statements(
        create_sql,
        "trigger",
        crate::dialect::SQLITE.lexer(),
    )?;
    Ok(stmts
        .first()
        .and_then(|s| zsso_core::guard::trigger_update_of(&s.tokens))
        .unwrap_or_default())
}
