//! SQL rendering: quoting, literals, and the statements of a dump.
//!
//! The trait has the standard SQL defaults; each backend overrides what differs in its
//! `dialect` file.

use crate::error::Result;
use crate::schema::{ForeignKey, Sequence, Table};
use crate::sqlscan::LexerConfig;
use crate::value::Value;

/// How a dialect writes the rows of a table into a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowsStyle {
    /// Multi-row `INSERT` statements of literals.
    Insert,
    /// A `COPY ... FROM stdin;` statement followed by one line of text per row and `\.`.
    Copy,
}

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

    /// How rows are written. Default: [`RowsStyle::Insert`].
    fn rows_style(&self) -> RowsStyle {
        RowsStyle::Insert
    }

    /// The statement that opens a `COPY` block for `table`, with its newline.
    fn copy_start(&self, table: &Table) -> String {
        let cols: Vec<String> = table.column_names().map(|c| self.quote_ident(c)).collect();
        format!(
            "COPY {} ({}) FROM stdin;\n",
            self.quote_ident(&table.name),
            cols.join(", ")
        )
    }

    /// Appends one row as a line of `COPY` text, with its newline. Only a dialect whose
    /// [`Dialect::rows_style`] is [`RowsStyle::Copy`] is asked.
    fn write_copy_row(&self, values: &[Value], out: &mut String) -> Result<()> {
        let _ = (values, out);
        Err(crate::Error::Usage(format!(
            "the {} dialect does not write COPY data",
            self.name()
        )))
    }

    /// The statement that drops a sequence if it exists.
    fn drop_sequence(&self, name: &str) -> String {
        format!("DROP SEQUENCE IF EXISTS {};\n", self.quote_ident(name))
    }

    /// The statement that ties a sequence to the column that owns it, if it has one.
    fn own_sequence(&self, seq: &Sequence) -> Option<String> {
        seq.owned_by.as_ref().map(|o| {
            format!(
                "ALTER SEQUENCE {} OWNED BY {}.{};\n",
                self.quote_ident(&seq.name),
                self.quote_ident(&o.table),
                self.quote_ident(&o.column)
            )
        })
    }

    /// The statement that puts a sequence back in its state.
    fn set_sequence(&self, seq: &Sequence) -> String {
        format!(
            "SELECT pg_catalog.setval('{}', {}, {});\n",
            self.quote_ident(&seq.name).replace('\'', "''"),
            seq.last_value,
            seq.is_called
        )
    }

    /// `SELECT what FROM table c` for the rows of `table` whose non-null key in `fk` has no
    /// parent row in `parent`; both tables are given as SQL (quoted, qualified where needed).
    fn select_without_parent(
        &self,
        what: &str,
        table: &str,
        fk: &ForeignKey,
        parent: &str,
    ) -> String {
        let q = |s: &str| self.quote_ident(s);
        let not_null: Vec<String> = fk
            .columns
            .iter()
            .map(|k| format!("c.{} IS NOT NULL", q(k)))
            .collect();
        let joined: Vec<String> = fk
            .columns
            .iter()
            .zip(&fk.ref_columns)
            .map(|(k, r)| format!("p.{} = c.{}", q(r), q(k)))
            .collect();
        format!(
            "SELECT {what} FROM {table} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {})",
            not_null.join(" AND "),
            joined.join(" AND ")
        )
    }

    /// `create_sql` without the foreign key `name` it declares inline (for a restore that
    /// leaves it out). Default: unchanged, for dialects that add foreign keys separately.
    fn strip_foreign_key(&self, create_sql: &str, name: &str) -> String {
        let _ = name;
        create_sql.to_string()
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
