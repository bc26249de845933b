//! SQL rendering: quoting, literals, and the statements of a dump.
//!
//! The trait has the standard SQL defaults; each backend overrides what differs in its
//! `dialect` file.

use crate::backend::RowSink;
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

/// Reads one line of COPY text into the digest encoding of its values, appended to a buffer
/// (see [`Dialect::copy_encoder`]).
pub type CopyEncoder = Box<dyn FnMut(&[u8], &mut Vec<u8>) -> Result<()> + Send>;

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

    /// The conditions of a foreign-key check between a child aliased `c` and a parent
    /// aliased `p`: that every key column of the child is not null, and that the parent's
    /// referenced columns equal them (each list joined by `AND`).
    fn key_conditions(&self, fk: &ForeignKey) -> (String, String) {
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
        (not_null.join(" AND "), joined.join(" AND "))
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
        let (not_null, joined) = self.key_conditions(fk);
        format!(
            "SELECT {what} FROM {table} c WHERE {not_null} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {joined})"
        )
    }

    /// `create_sql` without the foreign key `name` it declares inline (for a restore that
    /// leaves it out). Default: unchanged, for dialects that add foreign keys separately.
    fn strip_foreign_key(&self, create_sql: &str, name: &str) -> String {
        let _ = name;
        create_sql.to_string()
    }

    /// Reads back the rows of one `INSERT` statement that a dump of this dialect holds for
    /// `table` (as [`Dialect::insert_prefix`] and [`Dialect::write_literal`] wrote it), giving
    /// each row to `sink`; returns how many rows it held.
    ///
    /// # Behavior
    /// - Every value comes back with the storage type and bits it was written with.
    /// - Anything that is not exactly what this dialect writes is refused with a reason.
    fn decode_insert(&self, sql: &str, table: &Table, sink: &mut dyn RowSink) -> Result<u64> {
        let prefix = self.insert_prefix(table);
        let mut literal = |c: &mut Cursor<'_>| self.read_literal(c);
        read_insert_rows(sql, &prefix, table.columns.len(), &mut literal, sink)
    }

    /// Reads back one literal as [`Dialect::write_literal`] writes it, consuming it, or
    /// `None` if the text there is not one. Default: none is read (a dialect whose rows are
    /// not INSERTs).
    fn read_literal(&self, c: &mut Cursor<'_>) -> Option<Value> {
        let _ = c;
        None
    }

    /// Reads back one line of `COPY` data (without its newline) that a dump of this dialect
    /// holds for `table`, into `values`.
    fn decode_copy_line(&self, line: &[u8], table: &Table, values: &mut Vec<Value>) -> Result<()> {
        let _ = (line, table, values);
        Err(crate::Error::Usage(format!(
            "the {} dialect does not read COPY data back",
            self.name()
        )))
    }

    /// A reader of `table`'s lines of COPY text that appends each line's digest encoding (as
    /// [`crate::digest::encode_row`] encodes its values) to a buffer, for a digest computed
    /// on another thread. Default: none (the lines are read with
    /// [`Dialect::decode_copy_line`]).
    fn copy_encoder(&self, table: &Table) -> Option<CopyEncoder> {
        let _ = table;
        None
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

/// A cursor over the text of one statement, for reading back the literals a dialect wrote.
#[derive(Debug)]
pub struct Cursor<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Self {
            text: text.as_bytes(),
            pos: 0,
        }
    }

    /// The byte offset of the cursor.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The next byte, if any.
    pub fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    /// Returns true if and only if the text continues with `s`, which is then consumed.
    pub fn eat(&mut self, s: &str) -> bool {
        if self.text[self.pos..].starts_with(s.as_bytes()) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Consumes and returns the longest run of bytes for which `f` holds.
    pub fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.pos < self.text.len() && f(self.text[self.pos]) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// Consumes the bytes up to the next `end` byte and that byte; returns the bytes before
    /// it, or `None` (consuming nothing) if there is none.
    pub fn until(&mut self, end: u8) -> Option<&'a [u8]> {
        let at = self.text[self.pos..].iter().position(|&b| b == end)?;
        let out = &self.text[self.pos..self.pos + at];
        self.pos += at + 1;
        Some(out)
    }

    /// Consumes `X'<hex>'` (either case) and returns the bytes.
    pub fn hex_literal(&mut self) -> Option<Vec<u8>> {
        let start = self.pos;
        if !(self.eat("X'") || self.eat("x'")) {
            return None;
        }
        match self.until(b'\'').and_then(|h| hex::decode(h).ok()) {
            Some(b) => Some(b),
            None => {
                self.pos = start;
                None
            }
        }
    }
}

/// Reads the rows of an INSERT that [`Dialect::insert_prefix`] and a row writer made: the
/// prefix, a newline, then `(v,v,...)` rows separated by `,` and a newline, then `;`. Each
/// value is read by `literal`; returns the number of rows.
pub fn read_insert_rows(
    sql: &str,
    prefix: &str,
    columns: usize,
    literal: &mut dyn FnMut(&mut Cursor<'_>) -> Option<Value>,
    sink: &mut dyn RowSink,
) -> Result<u64> {
    let bad = |c: &Cursor<'_>, what: &str| {
        crate::Error::Usage(format!(
            "not an INSERT as zsso writes it: {what} at byte {} of the statement",
            c.pos() + 1
        ))
    };
    let mut c = Cursor::new(sql);
    if !c.eat(prefix) || !c.eat("\n") {
        return Err(bad(&c, "another table, column list or statement"));
    }
    let mut row: Vec<Value> = Vec::with_capacity(columns);
    let mut rows = 0u64;
    loop {
        if !c.eat("(") {
            return Err(bad(&c, "no '(' opening a row"));
        }
        row.clear();
        loop {
            match literal(&mut c) {
                Some(v) => row.push(v),
                None => return Err(bad(&c, "a value it does not write")),
            }
            if c.eat(",") {
                continue;
            }
            if c.eat(")") {
                break;
            }
            return Err(bad(&c, "no ',' or ')' after a value"));
        }
        if row.len() != columns {
            return Err(bad(
                &c,
                &format!("a row of {} values for {columns} columns", row.len()),
            ));
        }
        sink.row(&row)?;
        rows += 1;
        if c.eat(",\n") {
            continue;
        }
        if c.eat(";") && c.peek().is_none() {
            return Ok(rows);
        }
        return Err(bad(&c, "no ',' or ';' after a row"));
    }
}

/// Appends `bytes` as lower-case hex digits, without an allocation of its own.
pub fn push_hex(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    // A stack buffer at a time: one push per 256 bytes, not one per digit.
    let mut digits = [0u8; 512];
    for chunk in bytes.chunks(256) {
        for (pair, &b) in digits.chunks_exact_mut(2).zip(chunk) {
            pair[0] = HEX[(b >> 4) as usize];
            pair[1] = HEX[(b & 15) as usize];
        }
        let text = &digits[..chunk.len() * 2];
        out.push_str(std::str::from_utf8(text).expect("hex digits are ASCII"));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn push_hex_writes_every_byte_across_chunk_ends() {
        let bytes: Vec<u8> = (0..600u32).map(|i| (i * 7 % 256) as u8).collect();
        for len in [0, 1, 255, 256, 257, 512, 600] {
            let mut out = String::from("x");
            super::push_hex(&bytes[..len], &mut out);
            assert_eq!(
                out,
                format!("x{}", hex::encode(&bytes[..len])),
                "{len} bytes"
            );
        }
    }
}
