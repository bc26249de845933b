//! Progress reports of long operations.
//!
//! The library never prints; it tells a [`Progress`] what it is doing, and the CLI prints
//! that on stderr.

/// How far the rows of one table are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TableProgress<'a> {
    /// The table.
    pub table: &'a str,
    /// Rows done so far.
    pub rows: u64,
    /// Bytes of the dump written (backup) or read (restore) for the table so far.
    pub bytes: u64,
    /// All the rows the table has, exactly or as the database estimates it, if known.
    pub total_rows: Option<u64>,
}

/// Receives progress events. Every method has an empty default.
pub trait Progress: Send + Sync {
    /// A step of the operation begins, such as "checking the bundle".
    fn step(&self, _message: &str) {}
    /// Rows of a table were processed. The default tells [`Progress::rows`].
    fn advance(&self, p: &TableProgress<'_>) {
        self.rows(p.table, p.rows)
    }
    /// Rows of a table were processed: `rows` so far.
    fn rows(&self, _table: &str, _rows: u64) {}
    /// A table is done, with its row count.
    fn table_done(&self, _table: &str, _rows: u64) {}
    /// Something the user should know that does not stop the operation.
    fn warning(&self, _message: &str) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {}

/// How many rows pass between two [`Progress::rows`] calls.
pub const ROWS_PER_REPORT: u64 = 5_000;

/// The warnings of one operation: each is told to the [`Progress`] as it happens and kept for
/// the operation's report.
pub struct Warnings<'a> {
    progress: &'a dyn Progress,
    list: Vec<String>,
}

impl<'a> Warnings<'a> {
    /// No warnings yet; new ones go to `progress`.
    pub fn new(progress: &'a dyn Progress) -> Self {
        Self {
            progress,
            list: Vec::new(),
        }
    }

    /// Tells and keeps one warning.
    pub fn add(&mut self, warning: impl Into<String>) {
        let w = warning.into();
        self.progress.warning(&w);
        self.list.push(w);
    }

    /// Keeps warnings that were told to the [`Progress`] already, without telling them again.
    pub fn keep_told(&mut self, told: impl IntoIterator<Item = String>) {
        self.list.extend(told);
    }

    /// The warnings, in the order they came.
    pub fn into_vec(self) -> Vec<String> {
        self.list
    }
}
