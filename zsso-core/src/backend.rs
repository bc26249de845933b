//! The traits a database backend implements: [`Dumper`] and [`Restorer`].
//!
//! A backend owns only what differs per database: how to read its catalogue, how to stream
//! rows, how to run its SQL. The algorithms are in [`crate::backup`], [`crate::restore`] and
//! [`crate::verify`].

use crate::dialect::Dialect;
use crate::error::Result;
use crate::schema::{Schema, Table};
use crate::value::Value;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Receives the rows of a table, one at a time.
pub trait RowSink: Send {
    /// Takes one row, its values in the table's column order.
    fn row(&mut self, values: &[Value]) -> Result<()>;
}

impl<F: FnMut(&[Value]) -> Result<()> + Send> RowSink for F {
    fn row(&mut self, values: &[Value]) -> Result<()> {
        self(values)
    }
}

/// What a backend can do, declared rather than discovered by failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Returns true if and only if DDL runs inside a transaction and rolls back with it.
    pub transactional_ddl: bool,
    /// Returns true if and only if the database has standalone sequences.
    pub sequences: bool,
}

/// A row that references a missing parent, as the database's foreign-key check reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orphan {
    /// The table holding the row.
    pub table: String,
    /// The row's rowid or primary key, where the database reports it.
    pub row: Option<i64>,
    /// The referenced table.
    pub parent: String,
}

/// A table outside the SSO set whose foreign key references an SSO table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependent {
    /// The referencing table.
    pub table: String,
    /// The SSO table it references.
    pub references: String,
}

/// What a read snapshot of the source holds.
#[derive(Debug, Clone)]
pub struct SourceSnapshot {
    /// The server's version, such as `3.51.3`.
    pub server_version: String,
    /// The SSO tables as the catalogue describes them.
    pub schema: Schema,
    /// What the backend found that the user should know, such as state it cannot carry.
    pub warnings: Vec<String>,
}

/// Reads the SSO tables of one database inside one read snapshot on one connection.
#[async_trait]
pub trait Dumper: Send {
    /// The dialect of the database.
    fn dialect(&self) -> &'static dyn Dialect;

    /// What the backend can do.
    fn capabilities(&self) -> Capabilities;

    /// A description of the database for messages and the manifest, without any password.
    fn describe(&self) -> String;

    /// Opens the read snapshot and describes the SSO tables in it.
    ///
    /// # Behavior
    /// - Selects tables by [`crate::catalogue::is_sso_table`], never by SQL `LIKE`.
    /// - Returns every index and trigger that belongs to a selected table, whatever its name.
    /// - Every later call reads the same snapshot until [`Dumper::finish`].
    async fn begin(&mut self) -> Result<SourceSnapshot>;

    /// Streams every row of `table` into `sink`, in the table's column order.
    ///
    /// # Behavior
    /// - Values keep their storage type and bytes.
    /// - Memory does not grow with the number of rows.
    async fn stream_rows(&mut self, table: &Table, sink: &mut dyn RowSink) -> Result<()>;

    /// The rows of `tables` that reference missing parents.
    ///
    /// # Behavior
    /// - Reports every row whose foreign key has no parent, also where the database does not
    ///   enforce foreign keys (SQLite by default), and a parent table that does not exist.
    async fn orphans(&mut self, tables: &[Table]) -> Result<Vec<Orphan>>;

    /// Ends the snapshot. It changes nothing in the database.
    async fn finish(&mut self) -> Result<()>;
}

/// Writes the SSO tables into one database, inside one transaction on one connection.
#[async_trait]
pub trait Restorer: Send {
    /// The dialect of the database.
    fn dialect(&self) -> &'static dyn Dialect;

    /// What the backend can do.
    fn capabilities(&self) -> Capabilities;

    /// A description of the database for messages, without any password.
    fn describe(&self) -> String;

    /// The names of all tables in the target (none if the target does not exist yet).
    async fn tables(&mut self) -> Result<Vec<String>>;

    /// The tables outside `set` whose foreign keys reference a table of `set`.
    ///
    /// # Behavior
    /// - Names are compared case-insensitively; a table of `set` referencing another is not a
    ///   dependent.
    async fn dependents(&mut self, set: &[String]) -> Result<Vec<Dependent>>;

    /// Starts the transaction, with foreign-key enforcement off for its duration; `set` is the
    /// tables being restored.
    ///
    /// # Behavior
    /// - Nothing changes in the target before this call (a target that does not exist is
    ///   created here, and removed again by [`Restorer::rollback`]).
    /// - Every statement [`Restorer::execute`] runs afterwards may read and write the tables
    ///   of `set` only, whatever its text says: the database itself enforces it where it can.
    async fn begin(&mut self, set: &[String]) -> Result<()>;

    /// Drops a table inside the transaction; with enforcement off, nothing cascades.
    async fn drop_table(&mut self, table: &str) -> Result<()>;

    /// Runs one statement of the dump, which the guard let through.
    async fn execute(&mut self, sql: &str) -> Result<()>;

    /// Describes a table as it now is inside the transaction.
    async fn describe_table(&mut self, table: &str) -> Result<Table>;

    /// Streams every row of `table` inside the transaction.
    async fn stream_rows(&mut self, table: &Table, sink: &mut dyn RowSink) -> Result<()>;

    /// Proves that the triggers of `tables` touch only the tables being restored, whether
    /// they would fire during the restore or long after it.
    async fn check_triggers(&mut self, tables: &[Table]) -> Result<()>;

    /// The rows of `tables` that reference missing parents, inside the transaction.
    async fn orphans(&mut self, tables: &[Table]) -> Result<Vec<Orphan>>;

    /// Commits the transaction.
    async fn commit(&mut self) -> Result<()>;

    /// Rolls the transaction back.
    ///
    /// # Behavior
    /// - Afterwards the target is exactly as it was before [`Restorer::begin`].
    async fn rollback(&mut self) -> Result<()>;
}
