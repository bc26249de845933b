//! MySQL's and MariaDB's SQL: backtick quoting, literals whose meaning does not depend on
//! `sql_mode`, and the statements of a dump.

use zsso_core::dialect::{Cursor, Dialect};
use zsso_core::guard::MYSQL_SQL_MODE;
use zsso_core::sqlscan::LexerConfig;
use zsso_core::value::Value;

/// The MySQL dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct MysqlDialect;

/// The one instance of [`MysqlDialect`].
pub static MYSQL: MysqlDialect = MysqlDialect;

/// The statements that pin a session (dump and restore alike).
pub fn session_sql() -> String {
    format!("SET NAMES utf8mb4;\nSET time_zone = '+00:00';\nSET sql_mode = '{MYSQL_SQL_MODE}';\n")
}

/// Returns true if and only if `b` can stand between single quotes and mean itself under
/// any `sql_mode`: valid UTF-8 without quotes, backslashes or control characters.
fn plain(b: &[u8]) -> bool {
    plain_text(b).is_some()
}

/// `b` as text, if it is [`plain`].
fn plain_text(b: &[u8]) -> Option<&str> {
    // A fold without an early exit over each 64 bytes, which the compiler vectorizes.
    let special = |c: u8| (c == b'\'') | (c == b'\\') | (c < 0x20) | (c == 0x7f);
    if b.chunks(64)
        .any(|chunk| chunk.iter().fold(false, |acc, &c| acc | special(c)))
    {
        return None;
    }
    std::str::from_utf8(b).ok()
}

/// Reads back one literal as [`MysqlDialect::write_literal`] writes it.
fn read_literal(c: &mut Cursor<'_>) -> Option<Value> {
    if c.eat("NULL") {
        return Some(Value::Null);
    }
    if c.eat("_utf8mb4 ") {
        return c.hex_literal().map(Value::Text);
    }
    if let Some(b) = c.hex_literal() {
        return Some(Value::Blob(b));
    }
    if c.eat("'") {
        let b = c.until(b'\'')?;
        return plain(b).then(|| Value::Text(b.to_vec()));
    }
    let num = c.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.'));
    let num = std::str::from_utf8(num).ok()?;
    if num.contains('e') {
        // Rust's shortest round-trip form: parsing it gives back the same bits.
        num.parse().ok().map(Value::Real)
    } else {
        num.parse().ok().map(Value::Integer)
    }
}

impl Dialect for MysqlDialect {
    fn name(&self) -> &'static str {
        "mysql"
    }

    fn lexer(&self) -> LexerConfig {
        LexerConfig::MYSQL
    }

    fn quote_ident(&self, ident: &str) -> String {
        format!("`{}`", ident.replace('`', "``"))
    }

    fn write_literal(&self, value: &Value, out: &mut String) {
        match value {
            Value::Null => out.push_str("NULL"),
            Value::Integer(i) => out.push_str(itoa::Buffer::new().format(*i)),
            // Rust prints the shortest text that reads back as the same double; MySQL has no
            // NaN or infinity, so none is ever read.
            Value::Real(r) => out.push_str(&format!("{r:e}")),
            Value::Text(b) if let Some(t) = plain_text(b) => {
                out.push('\'');
                out.push_str(t);
                out.push('\'');
            }
            // Hex means the same bytes whatever NO_BACKSLASH_ESCAPES, ANSI_QUOTES or the
            // connection's character set say; the introducer makes it utf8mb4 text.
            Value::Text(b) => {
                out.push_str("_utf8mb4 X'");
                zsso_core::dialect::push_hex(b, out);
                out.push('\'');
            }
            Value::Blob(b) => {
                out.push_str("X'");
                zsso_core::dialect::push_hex(b, out);
                out.push('\'');
            }
            // Not valid SQL: a value kind MySQL has no literal for fails the load.
            other => out.push_str(&format!("<no {} literal>", other.type_name())),
        }
    }

    fn read_literal(&self, c: &mut Cursor<'_>) -> Option<Value> {
        read_literal(c)
    }

    fn strip_foreign_key(&self, create_sql: &str, name: &str) -> String {
        // `SHOW CREATE TABLE` puts each constraint on a line of its own; the line before the
        // closing one loses its comma when the removed line was the last.
        let prefix = format!("CONSTRAINT {} FOREIGN KEY ", self.quote_ident(name));
        let mut lines: Vec<&str> = create_sql.lines().collect();
        let Some(at) = lines
            .iter()
            .position(|l| l.trim_start().starts_with(&prefix))
        else {
            return create_sql.to_string();
        };
        lines.remove(at);
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        if at > 0
            && out.get(at).is_some_and(|l| l.starts_with(')'))
            && let Some(prev) = out.get_mut(at - 1)
            && let Some(p) = prev.strip_suffix(',')
        {
            *prev = p.to_string();
        }
        out.join("\n")
    }

    fn dump_prologue(&self) -> String {
        format!("{}SET foreign_key_checks = 0;\n", session_sql())
    }

    fn dump_epilogue(&self) -> String {
        "SET foreign_key_checks = 1;\n".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(v: Value) -> String {
        let mut s = String::new();
        MYSQL.write_literal(&v, &mut s);
        s
    }

    #[test]
    fn every_literal_reads_back_as_the_same_value() {
        let values = [
            Value::Null,
            Value::Integer(i64::MIN),
            Value::Integer(i64::MAX),
            Value::Real(5.0),
            Value::Real(-0.0),
            Value::Real(0.1),
            Value::Real(5e-324),
            Value::Real(-1.7976931348623157e308),
            Value::Text(b"plain text".to_vec()),
            Value::Text(b"it's \\ not plain\n".to_vec()),
            Value::Text(Vec::new()),
            Value::Blob(vec![0, 0xff]),
        ];
        for v in values {
            let text = lit(v.clone());
            let mut c = Cursor::new(&text);
            let back = read_literal(&mut c).unwrap_or_else(|| panic!("{text} not read"));
            assert!(back.same_as(&v), "{text}: {back:?} is not {v:?}");
            assert_eq!(c.pos(), text.len(), "{text} not read to its end");
        }
    }

    #[test]
    fn literals_do_not_depend_on_sql_mode() {
        assert_eq!(lit(Value::Text(b"plain text".to_vec())), "'plain text'");
        assert_eq!(
            lit(Value::Text(b"a'b\\c".to_vec())),
            "_utf8mb4 X'6127625c63'"
        );
        assert_eq!(
            lit(Value::Text("\u{1F984}".as_bytes().to_vec())),
            "'\u{1F984}'"
        );
        assert_eq!(lit(Value::Text(b"\r\n".to_vec())), "_utf8mb4 X'0d0a'");
        assert_eq!(lit(Value::Blob(vec![0, 255])), "X'00ff'");
        assert_eq!(lit(Value::Real(0.1)), "1e-1");
        assert_eq!(lit(Value::Integer(i64::MIN)), "-9223372036854775808");
        assert_eq!(MYSQL.quote_ident("a`b"), "`a``b`");
        let t = "CREATE TABLE `t` (\n  `a` int,\n  KEY `f` (`a`),\n  CONSTRAINT `f` FOREIGN KEY (`a`) REFERENCES `sec_base` (`id`)\n) ENGINE=InnoDB";
        assert_eq!(
            MYSQL.strip_foreign_key(t, "f"),
            "CREATE TABLE `t` (\n  `a` int,\n  KEY `f` (`a`)\n) ENGINE=InnoDB"
        );
        assert_eq!(MYSQL.strip_foreign_key(t, "g"), t);
    }
}
