//! SQLite's SQL: literals that read back as the same value with the same storage type.
//!
//! See <https://www.sqlite.org/lang_expr.html#literal_values_constants_> for literals and
//! <https://www.sqlite.org/datatype3.html> for storage classes.

use zsso_core::dialect::{Cursor, Dialect};
use zsso_core::sqlscan::LexerConfig;
use zsso_core::value::Value;

/// The SQLite dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteDialect;

/// The one instance.
pub static SQLITE: SqliteDialect = SqliteDialect;

/// 2^62, the largest power of two that is a positive SQLite integer literal with room to spare.
const POW2_62: u64 = 1 << 62;

/// `b` as a string if it is text that can be written between quotes as it is: valid UTF-8
/// without NUL and without control characters (C0, DEL, C1) other than tab.
fn plain_text(b: &[u8]) -> Option<&str> {
    // A fold without an early exit over each 64 bytes, which the compiler vectorizes; a C1
    // control is 0xC2 and a second byte, looked at only where there is a 0xC2.
    let c0 = |c: u8| (c < 0x20 && c != b'\t') | (c == 0x7f);
    let mut lead = false;
    for chunk in b.chunks(64) {
        let (control, c2) = chunk
            .iter()
            .fold((false, false), |(k, l), &c| (k | c0(c), l | (c == 0xc2)));
        if control {
            return None;
        }
        lead |= c2;
    }
    let s = std::str::from_utf8(b).ok()?;
    let c1 =
        lead && memchr::memchr_iter(0xc2, b).any(|i| matches!(b.get(i + 1), Some(0x80..=0x9f)));
    (!c1).then_some(s)
}

/// The byte-by-byte rule that [`plain_text`] implements with a fold.
#[cfg(test)]
fn plain_text_slowly(b: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(b).ok()?;
    let control = b.iter().enumerate().any(|(i, &c)| {
        (c < 0x20 && c != b'\t')
            || c == 0x7f
            || (c == 0xc2 && matches!(b.get(i + 1), Some(0x80..=0x9f)))
    });
    (!control).then_some(s)
}

fn write_hex(b: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(b.len() * 2);
    for &x in b {
        out.push(HEX[(x >> 4) as usize] as char);
        out.push(HEX[(x & 15) as usize] as char);
    }
}

/// Writes a real so that every SQLite version reads back exactly the same bits.
///
/// SQLite's text-to-float conversion was not correctly rounded before 3.43, so a shortest
/// decimal form could come back one unit off. Integral values below 2^53 are written as
/// `N.0` (exact everywhere); every other finite value as its odd integer mantissa times or
/// divided by powers of two, which is exact IEEE arithmetic; infinities as `9e999`.
pub fn write_real(v: f64, out: &mut String) {
    use std::fmt::Write;
    if v.is_nan() {
        // SQLite stores NaN as NULL; a NaN never comes out of it.
        out.push_str("NULL");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "9e999" } else { "-9e999" });
        return;
    }
    if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
        let sign = if v.is_sign_negative() { "-" } else { "" };
        let _ = write!(out, "{sign}{}.0", v.abs() as u64);
        return;
    }
    let bits = v.to_bits();
    let negative = bits >> 63 == 1;
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (mut mant, mut exp) = if exp_bits == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp_bits - 1075)
    };
    let tz = mant.trailing_zeros() as i32;
    mant >>= tz;
    exp += tz;
    let _ = write!(
        out,
        "(CAST({}{mant} AS REAL)",
        if negative { "-" } else { "" }
    );
    let (op, mut k) = if exp < 0 { ('/', -exp) } else { ('*', exp) };
    while k > 0 {
        let step = k.min(62);
        let _ = write!(
            out,
            "{op}{}",
            if step == 62 { POW2_62 } else { 1u64 << step }
        );
        k -= step;
    }
    out.push(')');
}

/// Reads back one literal as [`SqliteDialect::write_literal`] writes it.
fn read_literal(c: &mut Cursor<'_>) -> Option<Value> {
    if c.eat("NULL") {
        return Some(Value::Null);
    }
    if c.eat("CAST(") {
        let b = c.hex_literal()?;
        return c.eat(" AS TEXT)").then_some(Value::Text(b));
    }
    if let Some(b) = c.hex_literal() {
        return Some(Value::Blob(b));
    }
    if c.eat("'") {
        let mut out = Vec::new();
        loop {
            out.extend_from_slice(c.until(b'\'')?);
            if !c.eat("'") {
                return Some(Value::Text(out));
            }
            out.push(b'\'');
        }
    }
    if c.eat("(CAST(") {
        // An odd mantissa times or divided by powers of two: the same exact steps as SQLite.
        let neg = c.eat("-");
        let mant: u64 = std::str::from_utf8(c.take_while(|b| b.is_ascii_digit()))
            .ok()?
            .parse()
            .ok()?;
        if mant >= 1 << 53 || !c.eat(" AS REAL)") {
            return None;
        }
        let mut v = mant as f64;
        if neg {
            v = -v;
        }
        loop {
            let mul = if c.eat("*") {
                true
            } else if c.eat("/") {
                false
            } else {
                break;
            };
            let p: u64 = std::str::from_utf8(c.take_while(|b| b.is_ascii_digit()))
                .ok()?
                .parse()
                .ok()?;
            if !p.is_power_of_two() || p > POW2_62 {
                return None;
            }
            v = if mul { v * p as f64 } else { v / p as f64 };
        }
        return c.eat(")").then_some(Value::Real(v));
    }
    if c.eat("9e999") {
        return Some(Value::Real(f64::INFINITY));
    }
    if c.eat("-9e999") {
        return Some(Value::Real(f64::NEG_INFINITY));
    }
    let neg = c.eat("-");
    let int = c.take_while(|b| b.is_ascii_digit());
    if int.is_empty() {
        return None;
    }
    let int = std::str::from_utf8(int).ok()?;
    if c.eat(".0") {
        // `N.0`: integral, below 2^53, so exact.
        let v: u64 = int.parse().ok()?;
        if v >= 1 << 53 {
            return None;
        }
        let v = v as f64;
        return Some(Value::Real(if neg { -v } else { v }));
    }
    let text = if neg {
        format!("-{int}")
    } else {
        int.to_string()
    };
    text.parse().ok().map(Value::Integer)
}

impl Dialect for SqliteDialect {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn lexer(&self) -> LexerConfig {
        LexerConfig::SQLITE
    }

    fn write_literal(&self, value: &Value, out: &mut String) {
        match value {
            Value::Null => out.push_str("NULL"),
            Value::Integer(i) => out.push_str(itoa::Buffer::new().format(*i)),
            Value::Real(r) => write_real(*r, out),
            Value::Text(t) if let Some(text) = plain_text(t) => {
                out.push('\'');
                let mut start = 0;
                for q in memchr::memchr_iter(b'\'', t) {
                    // Split at an ASCII byte: both sides are whole characters.
                    out.push_str(&text[start..=q]);
                    out.push('\'');
                    start = q + 1;
                }
                out.push_str(&text[start..]);
                out.push('\'');
            }
            Value::Text(t) => {
                // NUL, control characters, invalid UTF-8: the exact bytes, as text.
                out.push_str("CAST(X'");
                write_hex(t, out);
                out.push_str("' AS TEXT)");
            }
            Value::Blob(b) => {
                out.push_str("X'");
                write_hex(b, out);
                out.push('\'');
            }
            _ => out.push_str("NULL"),
        }
    }

    fn read_literal(&self, c: &mut Cursor<'_>) -> Option<Value> {
        read_literal(c)
    }

    fn dump_prologue(&self) -> String {
        "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n".into()
    }

    fn dump_epilogue(&self) -> String {
        "COMMIT;\n".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_text_fold_agrees_with_the_byte_rule() {
        // Every string of up to 3 bytes over bytes at the rule's edges, and each of them at
        // every place in a long text (so across the 64-byte chunks).
        let edges = [
            b'a', b'\t', b'\n', 0x1f, b' ', b'\'', 0x7e, 0x7f, 0x80, 0x9f, 0xa0, 0xc2, 0xc3, 0xff,
        ];
        let mut text = Vec::new();
        for len in 0..=3u32 {
            for n in 0..edges.len().pow(len) {
                text.clear();
                let mut k = n;
                for _ in 0..len {
                    text.push(edges[k % edges.len()]);
                    k /= edges.len();
                }
                assert_eq!(plain_text(&text), plain_text_slowly(&text), "{text:?}");
            }
        }
        for at in 0..149 {
            for pair in [[0xc2, 0x85], [0xc2, 0xa0], [0x01, b'a'], [b'\'', b'\'']] {
                let mut long = b"x".repeat(150);
                long.splice(at..at + 2, pair);
                assert_eq!(
                    plain_text(&long),
                    plain_text_slowly(&long),
                    "{pair:?} at {at}"
                );
            }
        }
    }

    fn lit(v: Value) -> String {
        let mut s = String::new();
        SQLITE.write_literal(&v, &mut s);
        s
    }

    #[test]
    fn every_literal_reads_back_as_the_same_value() {
        let values = [
            Value::Null,
            Value::Integer(i64::MIN),
            Value::Integer(i64::MAX),
            Value::Integer(0),
            Value::Real(5.0),
            Value::Real(-0.0),
            Value::Real(0.1),
            Value::Real(-1e300),
            Value::Real(5e-324),
            Value::Real(f64::INFINITY),
            Value::Real(f64::NEG_INFINITY),
            Value::Real(9_007_199_254_740_993.0 * 4.0),
            Value::Text(b"it's ''quoted'' \t; DROP".to_vec()),
            Value::Text(b"nul\0cr\r\xff".to_vec()),
            Value::Text(Vec::new()),
            Value::Blob(vec![0, 1, 0xfe]),
            Value::Blob(Vec::new()),
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
    fn literals_keep_the_storage_type() {
        assert_eq!(lit(Value::Null), "NULL");
        assert_eq!(lit(Value::Integer(i64::MIN)), "-9223372036854775808");
        assert_eq!(lit(Value::Real(5.0)), "5.0");
        assert_eq!(lit(Value::Real(-0.0)), "-0.0");
        assert_eq!(lit(Value::Real(0.5)), "(CAST(1 AS REAL)/2)");
        assert_eq!(lit(Value::Real(f64::INFINITY)), "9e999");
        assert_eq!(lit(Value::Real(f64::NEG_INFINITY)), "-9e999");
        assert_eq!(lit(Value::Text(b"it's".to_vec())), "'it''s'");
        assert_eq!(lit(Value::Text(b"null".to_vec())), "'null'");
        assert_eq!(lit(Value::Text(Vec::new())), "''");
        assert_eq!(
            lit(Value::Text(b"a\0b".to_vec())),
            "CAST(X'610062' AS TEXT)"
        );
        assert_eq!(
            lit(Value::Text(b"a\r\nb".to_vec())),
            "CAST(X'610D0A62' AS TEXT)"
        );
        assert_eq!(lit(Value::Text(vec![0xff])), "CAST(X'FF' AS TEXT)");
        assert_eq!(
            lit(Value::Text("tab\tü🦄".as_bytes().to_vec())),
            "'tab\tü🦄'"
        );
        assert_eq!(lit(Value::Text(b"''x'".to_vec())), "'''''x'''");
        // C1 controls and DEL are control characters too; U+00A0 is not.
        assert_eq!(
            lit(Value::Text("a\u{85}".as_bytes().to_vec())),
            "CAST(X'61C285' AS TEXT)"
        );
        assert_eq!(lit(Value::Text(b"a\x7f".to_vec())), "CAST(X'617F' AS TEXT)");
        assert_eq!(lit(Value::Text("a\u{a0}".as_bytes().to_vec())), "'a\u{a0}'");
        assert_eq!(lit(Value::Blob(vec![0, 0xab])), "X'00AB'");
        assert_eq!(lit(Value::Blob(Vec::new())), "X''");
    }

    #[test]
    fn reals_are_written_as_exact_arithmetic() {
        // 0.1 = 3602879701896397 / 2^55
        assert_eq!(
            lit(Value::Real(0.1)),
            "(CAST(3602879701896397 AS REAL)/36028797018963968)"
        );
        // The smallest subnormal: 1 / 2^1074, in steps of at most 2^62.
        let s = lit(Value::Real(5e-324));
        assert!(
            s.starts_with("(CAST(1 AS REAL)/4611686018427387904/"),
            "{s}"
        );
        assert_eq!(s.matches('/').count(), 18);
        let big = lit(Value::Real(f64::MAX));
        assert!(big.starts_with("(CAST(9007199254740991 AS REAL)*"), "{big}");
        assert!(lit(Value::Real(-1.5)).starts_with("(CAST(-3 AS REAL)/2)"));
    }
}
