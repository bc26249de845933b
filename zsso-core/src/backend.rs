//! The traits a database backend implements: [`Dumper`] and [`Restorer`].
//!
//! A backend owns only what differs per database: how to read its catalogue, how to stream
//! rows, how to run its SQL. The algorithms are in [`crate::backup`], [`crate::restore`] and
//! [`crate::verify`].

use crate::dialect::Dialect;
use crate::error::Result;
use crate::schema::{ForeignKey, Schema, Sequence, Table};
use crate::value::Value;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Receives the rows of a table, one at a time.
pub trait RowSink: Send {
    /// Takes one row, its values in the table's column order.
    fn row(&mut self, values: &[Value]) -> Result<()>;

    /// Returns true if and only if the sink also takes rows as lines of COPY text
    /// ([`RowSink::copy_lines`]). Default: false.
    fn takes_copy_lines(&self) -> bool {
        false
    }

    /// Takes rows as whole lines of COPY text, each ending with a newline, exactly as the
    /// database printed them for the table's columns; called only when
    /// [`RowSink::takes_copy_lines`] says so.
    fn copy_lines(&mut self, lines: Vec<u8>) -> Result<()> {
        let _ = lines;
        Err(crate::Error::Usage(
            "this sink does not take COPY text".into(),
        ))
    }
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
    /// Returns true if and only if a restore is all or nothing: by one transaction, or by
    /// loading into tables of its own and swapping them in with one atomic rename.
    pub atomic_restore: bool,
    /// Returns true if and only if the database has standalone sequences.
    pub sequences: bool,
    /// Returns true if and only if the database keeps foreign keys as constraints that its
    /// rows must satisfy (not SQLite, whose keys are declarations a restore may leave broken).
    pub enforces_foreign_keys: bool,
    /// Returns true if and only if a dependent's foreign key can be dropped and recreated
    /// around a restore ([`Restorer::detach_dependent`]).
    pub detach_dependents: bool,
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
    /// The foreign key's name, where the database names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    /// The foreign key's definition, as the database prints it, to recreate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
}

/// Batches of the rows of one table, read on demand.
pub trait RowBatches: Send {
    /// The next batch into `out` (emptied first); false once there are no more rows.
    fn next_batch(&mut self, out: &mut Vec<Vec<Value>>) -> Result<bool>;
}

/// One `COPY ... FROM stdin` statement of the dump, as the guard read it.
#[derive(Debug, Clone, Copy)]
pub struct CopyIn<'a> {
    /// The statement to run, `COPY "table" ("column", ...) FROM stdin`, built from what the
    /// guard read.
    pub sql: &'a str,
    /// The table the rows go into.
    pub table: &'a str,
    /// Its columns, in the order of each line's fields.
    pub columns: &'a [String],
    /// True when the rows, once loaded, are compared before the commit with the manifest's
    /// digests of the rows that were backed up: a backend may then send them to the database
    /// in a form of its own (PostgreSQL's binary COPY), since a value that came out different
    /// fails that comparison and rolls the restore back.
    pub verified: bool,
}

/// The data of one `COPY ... FROM stdin` statement, read from the dump a chunk at a time.
pub trait CopySource: Send {
    /// The next chunk of whole lines, or `None` after the last one.
    fn next_chunk(&mut self) -> Result<Option<&[u8]>>;
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
    /// Statements the dump starts with after the dialect's prologue, such as PostgreSQL's
    /// `SET search_path`, each ending with `;` and a newline.
    pub prologue: String,
    /// For a snapshot of a bundle converted from another dialect: from which, and what
    /// changed.
    pub conversion: Option<crate::cross::ConversionInfo>,
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

    /// Says that [`Dumper::orphans`] will be asked for `tables` after the rows, so that a
    /// backend may start looking now, beside the rows, in the same snapshot. The default
    /// does nothing.
    fn plan_orphans(&mut self, tables: &[Table]) {
        let _ = tables;
    }

    /// How many rows `table` has, exactly or as the database estimates it, for progress
    /// reports; `None` when that is not known cheaply. The default knows nothing.
    async fn estimated_rows(&mut self, table: &Table) -> Option<u64> {
        let _ = table;
        None
    }

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

    /// Foreign keys that the dump's `CREATE TABLE` statements declare and the restore leaves
    /// out, by name (called before [`Restorer::begin`]; only a backend whose dumps declare
    /// foreign keys inside `CREATE TABLE` needs it).
    fn leave_out_foreign_keys(&mut self, names: &[String]) {
        let _ = names;
    }

    /// Drops a table inside the transaction; with enforcement off, nothing cascades.
    async fn drop_table(&mut self, table: &str) -> Result<()>;

    /// Runs one statement of the dump, which the guard let through.
    async fn execute(&mut self, sql: &str) -> Result<()>;

    /// Called once after the dump's last statement ran, before anything is read back: a
    /// backend that put work off until the rows are in (such as building indexes) does it
    /// here, naming each step on `progress`.
    async fn end_load(&mut self, progress: &dyn crate::progress::Progress) -> Result<()> {
        let _ = progress;
        Ok(())
    }

    /// Runs a `COPY ... FROM stdin` statement of the dump, which the guard let through,
    /// feeding it `data`; returns the rows the database took.
    async fn copy_in(&mut self, copy: &CopyIn<'_>, data: &mut dyn CopySource) -> Result<u64> {
        let _ = (copy, data);
        Err(crate::Error::Usage(format!(
            "{} does not take COPY data",
            self.describe()
        )))
    }

    /// The SSO sequences of the target, with their state (none where there are none).
    async fn sequences(&mut self) -> Result<Vec<Sequence>> {
        Ok(Vec::new())
    }

    /// Drops a sequence inside the transaction.
    async fn drop_sequence(&mut self, name: &str) -> Result<()> {
        Err(crate::Error::Usage(format!(
            "{} has no sequences to drop ({name})",
            self.describe()
        )))
    }

    /// How many rows of `table` have a non-null key in `fk` that `fk.ref_table` does not
    /// hold, inside the transaction.
    async fn missing_references(&mut self, table: &str, fk: &ForeignKey) -> Result<u64> {
        let _ = fk;
        Err(crate::Error::Usage(format!(
            "{} cannot check the references of {table}",
            self.describe()
        )))
    }

    /// Drops the foreign key of a dependent table inside the transaction, leaving its rows.
    async fn detach_dependent(&mut self, dependent: &Dependent) -> Result<()> {
        Err(crate::Error::Usage(format!(
            "{} cannot drop the foreign key of {} around a restore",
            self.describe(),
            dependent.table
        )))
    }

    /// Recreates the foreign key [`Restorer::detach_dependent`] dropped; it fails if a row of
    /// the dependent table no longer has its parent.
    async fn reattach_dependent(&mut self, dependent: &Dependent) -> Result<()> {
        Err(crate::Error::Usage(format!(
            "{} cannot recreate the foreign key of {}",
            self.describe(),
            dependent.table
        )))
    }

    /// Groups of rows of `table` whose keys in one of its unique indexes are distinct as bytes
    /// but equal under the target's collation, so that loading them would fail: one line per
    /// group, naming the index, the rows and the columns. Called before [`Restorer::begin`]
    /// with the rows to be loaded; changes nothing in the target.
    ///
    /// The default finds none: a database that compares text by its bytes (as SQLite and
    /// PostgreSQL do with their default collations) holds every set of distinct keys.
    async fn collation_duplicates(
        &mut self,
        table: &Table,
        rows: &mut dyn RowBatches,
    ) -> Result<Vec<String>> {
        let _ = (table, rows);
        Ok(Vec::new())
    }

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
    ///
    /// An error means that nothing was committed (the caller rolls back), except
    /// [`crate::Error::AfterCommit`] (committed, a later step failed) and
    /// [`crate::Error::CommitUnknown`] (the connection broke during the commit and the
    /// outcome could not be learnt).
    async fn commit(&mut self) -> Result<()>;

    /// Rolls the transaction back.
    ///
    /// # Behavior
    /// - Afterwards the target is exactly as it was before [`Restorer::begin`].
    async fn rollback(&mut self) -> Result<()>;
}
