//! PostgreSQL's SQL: quoting, literals, and the statements of a dump.
//!
//! Rows are written as `COPY ... FROM stdin` blocks in PostgreSQL's text format: they go
//! through the server's own input functions, exactly as `pg_dump` writes them, and load
//! several times faster than INSERTs (figures in the README).

use crate::copytext::{Kind, parse_line};
use zsso_core::Result;
use zsso_core::dialect::{Dialect, RowsStyle};
use zsso_core::sqlscan::LexerConfig;
use zsso_core::value::Value;

/// The PostgreSQL dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresDialect;

/// The one instance of [`PostgresDialect`].
pub static POSTGRES: PostgresDialect = PostgresDialect;

/// The session settings a zsso connection and a zsso dump pin: the meaning of a dump's text
/// and of the values PostgreSQL prints does not depend on the server's defaults.
pub const SESSION_SETTINGS: &[(&str, &str)] = &[
    ("client_encoding", "'UTF8'"),
    ("standard_conforming_strings", "on"),
    ("DateStyle", "'ISO, YMD'"),
    ("IntervalStyle", "'postgres'"),
    ("TimeZone", "'UTC'"),
    ("extra_float_digits", "3"),
    ("bytea_output", "'hex'"),
    ("client_min_messages", "warning"),
];

impl Dialect for PostgresDialect {
    fn name(&self) -> &'static str {
        "postgresql"
    }

    fn lexer(&self) -> LexerConfig {
        LexerConfig::POSTGRES
    }

    fn write_literal(&self, value: &Value, out: &mut String) {
        match value {
            Value::Null => out.push_str("NULL"),
            Value::Integer(i) => out.push_str(&i.to_string()),
            Value::Real(r) if r.is_nan() => out.push_str("'NaN'::double precision"),
            Value::Real(r) if r.is_infinite() => out.push_str(if *r > 0.0 {
                "'Infinity'::double precision"
            } else {
                "'-Infinity'::double precision"
            }),
            Value::Real(r) => out.push_str(&format!("'{r:e}'::double precision")),
            Value::Text(b) => match std::str::from_utf8(b) {
                Ok(t) => {
                    out.push('\'');
                    out.push_str(&t.replace('\'', "''"));
                    out.push('\'');
                }
                // PostgreSQL refuses such text when it loads it: nothing is changed silently.
                Err(_) => out.push_str(&format!(
                    "convert_from('\\x{}'::bytea, 'UTF8')",
                    hex::encode(b)
                )),
            },
            Value::Blob(b) => {
                out.push_str("'\\x");
                out.push_str(&hex::encode(b));
                out.push_str("'::bytea");
            }
            // Not valid SQL: a value kind PostgreSQL has no literal for fails the load.
            other => out.push_str(&format!("<no {} literal>", other.type_name())),
        }
    }

    fn dump_prologue(&self) -> String {
        // No BEGIN/COMMIT: `psql -1` makes the file one transaction, and zsso's restorer runs
        // its own.
        let mut s = String::new();
        for (k, v) in SESSION_SETTINGS {
            s.push_str(&format!("SET {k} = {v};\n"));
        }
        s
    }

    fn dump_epilogue(&self) -> String {
        String::new()
    }

    fn rows_style(&self) -> RowsStyle {
        RowsStyle::Copy
    }

    fn copy_encoder(
        &self,
        table: &zsso_core::schema::Table,
    ) -> Option<zsso_core::dialect::CopyEncoder> {
        let kinds: Vec<Kind> = table
            .columns
            .iter()
            .map(|c| Kind::of_name(&c.data_type))
            .collect();
        let mut scratch = Vec::new();
        Some(Box::new(move |line, out| {
            crate::copytext::encode_line(line, &kinds, out, &mut scratch)
        }))
    }

    fn decode_copy_line(
        &self,
        line: &[u8],
        table: &zsso_core::schema::Table,
        values: &mut Vec<Value>,
    ) -> Result<()> {
        let kinds: Vec<Kind> = table
            .columns
            .iter()
            .map(|c| Kind::of_name(&c.data_type))
            .collect();
        let mut scratch = Vec::new();
        parse_line(line, &kinds, values, &mut scratch)
    }

    fn write_copy_row(&self, values: &[Value], out: &mut String) -> Result<()> {
        crate::copytext::write_row(values, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_always_quoted() {
        assert_eq!(POSTGRES.quote_ident("Order"), "\"Order\"");
        assert_eq!(POSTGRES.quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
