//! SQL rendering: quoting, literals, and the statements of a dump.
//!
//! The trait has the standard SQL defaults; each backend overrides what differs in its
//! `dialect` file.

use crate::schema::Table;
use crate::sqlscan::LexerConfig;
use crate::value::Value;

/// How one database writes and reads SQL.
pub trait Dialect: Send + Sync {
    /// The dialect's name as it appears in a manifest: `sqlite`, `postgresql`, `mysql`.
    fn name(&self) -> &'static str;

    /// The lexical rules for reading a dump of this dialect.
    fn lexer(&self) -> LexerConfig;

    /// Quotes an identifier. The default is standard SQL: `"` around, `"` doubled.
    fn quote_ident(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    /// Appends `value` as a literal that this dialect reads back as the same value with the
    /// same storage type.
    fn write_literal(&self, value: &Value, out: &mut String);

    /// The statements that open a dump, each ending with `;` and a newline.
    fn dump_prologue(&self) -> String;

    /// The statements that close a dump.
    fn dump_epilogue(&self) -> String;

    /// The statement that drops a table if it exists.
    fn drop_table(&self, table: &str) -> String {
        format!("DROP TABLE IF EXISTS {};\n", self.quote_ident(table))
    }

    /// The start of a multi-row INSERT into `table`, up to and including `VALUES`.
    fn insert_prefix(&self, table: &Table) -> String {
        let cols: Vec<String> = table.column_names().map(|c| self.quote_ident(c)).collect();
        format!(
            "INSERT INTO {} ({}) VALUES",
            self.quote_ident(&table.name),
            cols.join(",")
        )
    }

    /// The most rows one INSERT holds. Default: 500.
    fn batch_rows(&self) -> usize {
        500
    }

    /// The size in bytes after which an INSERT is closed even if it has fewer rows than
    /// [`Dialect::batch_rows`]. Default: 1 MiB.
    fn batch_bytes(&self) -> usize {
        1 << 20
    }
}
