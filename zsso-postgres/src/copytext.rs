//! PostgreSQL's `COPY` text format: one line per row, fields separated by tabs, `\N` for
//! NULL, backslash escapes for backslash, tab, newline and carriage return.
//!
//! Rows are read in this format (`COPY ... TO STDOUT`) and written in it into a dump (`COPY
//! ... FROM stdin`), so that every value a backup takes goes through PostgreSQL's own text
//! output, exact for every built-in type, and a restore reads it back the same way before the
//! commit. (A restore may send the rows to the server in binary: see the crate's docs.)

use zsso_core::value::Value;
use zsso_core::{Error, Result};

/// How the text of one column becomes a neutral [`Value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `boolean`: the integer 1 or 0, as SQLite and MySQL store booleans.
    Bool,
    /// `smallint`, `integer`, `bigint`, `oid`.
    Integer,
    /// `real`, `double precision`.
    Real,
    /// `bytea`.
    Bytes,
    /// `timestamp`, `timestamptz`: the text with exactly six fractional digits.
    Timestamp,
    /// Everything else: the text PostgreSQL prints.
    Text,
}

impl Kind {
    /// The kind of a column whose type `format_type` prints as `name` (a domain or an
    /// array is read as text).
    pub fn of_name(name: &str) -> Kind {
        match name {
            "boolean" => Kind::Bool,
            "smallint" | "integer" | "bigint" | "oid" => Kind::Integer,
            "real" | "double precision" => Kind::Real,
            "bytea" => Kind::Bytes,
            _ if !name.ends_with("[]")
                && (name.starts_with("timestamp(")
                    || name.starts_with("timestamp ")
                    || name == "timestamp") =>
            {
                Kind::Timestamp
            }
            _ => Kind::Text,
        }
    }

    /// The kind of a column of the type with this OID (the base type, for a domain).
    pub fn of_type(oid: u32) -> Kind {
        match oid {
            16 => Kind::Bool,
            20 | 21 | 23 | 26 => Kind::Integer,
            700 | 701 => Kind::Real,
            17 => Kind::Bytes,
            1114 | 1184 => Kind::Timestamp,
            _ => Kind::Text,
        }
    }
}

/// Undoes the escapes of one field (not `\N`, which is NULL): `\b \f \n \r \t \v`, up to
/// three octal digits, `\x` and up to two hex digits, and a backslash before any other byte.
pub(crate) fn unescape(field: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    // The runs between backslashes are copied whole; most fields have none.
    while let Some(p) = memchr::memchr(b'\\', &field[i..]) {
        out.extend_from_slice(&field[i..i + p]);
        i += p;
        if i + 1 == field.len() {
            break;
        }
        let n = field[i + 1];
        i += 2;
        match n {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(n - b'0');
                let mut k = 0;
                while k < 2 && i < field.len() && (b'0'..=b'7').contains(&field[i]) {
                    v = v * 8 + u32::from(field[i] - b'0');
                    i += 1;
                    k += 1;
                }
                out.push(v as u8);
            }
            b'x' if i < field.len() && field[i].is_ascii_hexdigit() => {
                let mut v = 0u32;
                let mut k = 0;
                while k < 2 && i < field.len() && field[i].is_ascii_hexdigit() {
                    v = v * 16 + (field[i] as char).to_digit(16).unwrap_or(0);
                    i += 1;
                    k += 1;
                }
                out.push(v as u8);
            }
            other => out.push(other),
        }
    }
    out.extend_from_slice(&field[i..]);
}

/// The fields of one COPY line, split at its tabs.
fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\t', line).chain(std::iter::once(line.len()));
    std::iter::from_fn(move || {
        let end = ends.next()?;
        let field = &line[start..end];
        start = end + 1;
        Some(field)
    })
}

fn bad(what: &str, field: &[u8]) -> Error {
    Error::Usage(format!(
        "PostgreSQL printed a {what} that zsso cannot read ({} bytes)",
        field.len()
    ))
}

/// Parses one field of COPY text into a value of `kind`; `scratch` is reused.
pub fn parse_field(field: &[u8], kind: Kind, scratch: &mut Vec<u8>) -> Result<Value> {
    if field == b"\\N" {
        return Ok(Value::Null);
    }
    unescape(field, scratch);
    let text = || std::str::from_utf8(scratch).map_err(|_| bad("number", field));
    Ok(match kind {
        Kind::Bool => match scratch.as_slice() {
            // PostgreSQL prints `t` and `f`; zsso's dumps write the 1 and 0 it reads them as.
            b"t" | b"1" => Value::Integer(1),
            b"f" | b"0" => Value::Integer(0),
            _ => return Err(bad("boolean", field)),
        },
        Kind::Integer => Value::Integer(text()?.parse().map_err(|_| bad("integer", field))?),
        Kind::Real => Value::Real(match text()? {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            t => t.parse().map_err(|_| bad("float", field))?,
        }),
        Kind::Bytes => {
            let hex_text = scratch
                .strip_prefix(b"\\x")
                .ok_or_else(|| bad("bytea (not in hex form)", field))?;
            Value::Blob(hex::decode(hex_text).map_err(|_| bad("bytea", field))?)
        }
        Kind::Timestamp => Value::Text(zsso_core::value::six_digits(scratch)),
        Kind::Text => Value::Text(scratch.clone()),
    })
}

/// Appends to `out` the digest encoding of one COPY line's values, exactly as
/// [`zsso_core::digest::encode_row`] encodes what [`parse_line`] reads, without building
/// text values (the bulk of a row).
pub fn encode_line(
    line: &[u8],
    kinds: &[Kind],
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Result<()> {
    let mut n = 0;
    for field in fields(line) {
        let kind = kinds
            .get(n)
            .copied()
            .ok_or_else(|| bad("row with more fields than columns", line))?;
        n += 1;
        if kind == Kind::Text && field != b"\\N" {
            out.push(3);
            if memchr::memchr(b'\\', field).is_none() {
                out.extend_from_slice(&(field.len() as u64).to_be_bytes());
                out.extend_from_slice(field);
            } else {
                unescape(field, scratch);
                out.extend_from_slice(&(scratch.len() as u64).to_be_bytes());
                out.extend_from_slice(scratch);
            }
        } else {
            let v = parse_field(field, kind, scratch)?;
            zsso_core::digest::encode_row(std::slice::from_ref(&v), out);
        }
    }
    if n != kinds.len() {
        return Err(bad("row with fewer fields than columns", line));
    }
    Ok(())
}

/// Splits one COPY line (without its newline) into values, one per kind.
pub fn parse_line(
    line: &[u8],
    kinds: &[Kind],
    values: &mut Vec<Value>,
    scratch: &mut Vec<u8>,
) -> Result<()> {
    values.clear();
    for field in fields(line) {
        let kind = kinds
            .get(values.len())
            .copied()
            .ok_or_else(|| bad("row with more fields than columns", line))?;
        values.push(parse_field(field, kind, scratch)?);
    }
    if values.len() != kinds.len() {
        return Err(bad("row with fewer fields than columns", line));
    }
    Ok(())
}

/// Appends `bytes` escaped for COPY text.
fn escape(bytes: &[u8], out: &mut String) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = match b {
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\n' => "\\n",
            b'\r' => "\\r",
            _ => continue,
        };
        // The bytes are valid UTF-8 and the split is at an ASCII byte.
        out.push_str(std::str::from_utf8(&bytes[start..i]).unwrap_or_default());
        out.push_str(esc);
        start = i + 1;
    }
    out.push_str(std::str::from_utf8(&bytes[start..]).unwrap_or_default());
}

/// Appends one value as a COPY text field that PostgreSQL reads back as the same value.
pub fn write_field(value: &Value, out: &mut String) -> Result<()> {
    use std::fmt::Write;
    match value {
        Value::Null => out.push_str("\\N"),
        Value::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Real(r) if r.is_nan() => out.push_str("NaN"),
        Value::Real(r) if r.is_infinite() => {
            out.push_str(if *r > 0.0 { "Infinity" } else { "-Infinity" })
        }
        // Rust prints the shortest text that reads back as the same bits.
        Value::Real(r) => {
            let _ = write!(out, "{r:e}");
        }
        Value::Text(b) => {
            if std::str::from_utf8(b).is_err() {
                return Err(Error::Usage(format!(
                    "{}: PostgreSQL holds UTF-8 text only",
                    value.describe()
                )));
            }
            if b.contains(&0) {
                return Err(Error::Usage(format!(
                    "{} holds a NUL byte, which PostgreSQL text cannot hold",
                    value.describe()
                )));
            }
            escape(b, out);
        }
        Value::Blob(b) => {
            out.push_str("\\\\x");
            out.push_str(&hex::encode(b));
        }
        other => {
            return Err(Error::Usage(format!(
                "a {} value cannot be written to PostgreSQL",
                other.type_name()
            )));
        }
    }
    Ok(())
}

/// Appends one row as a COPY text line with its newline.
pub fn write_row(values: &[Value], out: &mut String) -> Result<()> {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        write_field(v, out)?;
    }
    out.push('\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_a_line_is_encoding_its_values() {
        use Kind::*;
        let kinds = [Integer, Bool, Real, Bytes, Timestamp, Text, Text];
        for line in [
            &b"1\tt\t0.5\t\\\\x00ff\t2024-01-02 03:04:05.5\ttab\\there\t\\N"[..],
            b"-9223372036854775808\tf\tNaN\t\\\\x\t2024-01-02 03:04:05\t\\\\ \\n \\r \\001\t",
            b"\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tlast",
            b"0\tf\t1\t\\\\x\t2024-01-02 03:04:05\t\t",
        ] {
            let (mut values, mut scratch) = (Vec::new(), Vec::new());
            parse_line(line, &kinds, &mut values, &mut scratch).unwrap();
            let mut want = Vec::new();
            zsso_core::digest::encode_row(&values, &mut want);
            let mut got = Vec::new();
            encode_line(line, &kinds, &mut got, &mut scratch).unwrap();
            assert_eq!(got, want, "{}", String::from_utf8_lossy(line));
        }
        let mut out = Vec::new();
        assert!(encode_line(b"1\tt", &kinds, &mut out, &mut Vec::new()).is_err());
    }

    fn round_trip(v: Value, kind: Kind) -> Value {
        let mut s = String::new();
        write_field(&v, &mut s).unwrap();
        parse_field(s.as_bytes(), kind, &mut Vec::new()).unwrap()
    }

    #[test]
    fn fields_round_trip_exactly() {
        for v in [
            Value::Null,
            Value::Integer(i64::MIN),
            Value::Integer(i64::MAX),
            Value::Text(b"".to_vec()),
            Value::Text(b"null".to_vec()),
            Value::Text(b"\\N".to_vec()),
            Value::Text("a\tb\nc\r\nd\\e \u{1F984} \\x41 \\.".as_bytes().to_vec()),
            Value::Blob(vec![0, 1, 0xff, b'\\']),
        ] {
            let kind = match v {
                Value::Integer(_) => Kind::Integer,
                Value::Blob(_) => Kind::Bytes,
                _ => Kind::Text,
            };
            assert!(round_trip(v.clone(), kind).same_as(&v), "{v:?}");
        }
        for r in [
            0.1,
            -0.0,
            5e-324,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.0,
        ] {
            let got = round_trip(Value::Real(r), Kind::Real);
            assert!(got.same_as(&Value::Real(r)), "{r:e} became {got:?}");
        }
        assert!(
            matches!(round_trip(Value::Real(f64::NAN), Kind::Real), Value::Real(x) if x.is_nan())
        );
    }

    #[test]
    fn text_that_postgresql_cannot_hold_is_refused() {
        let mut s = String::new();
        assert!(write_field(&Value::Text(vec![0xff]), &mut s).is_err());
        assert!(write_field(&Value::Text(b"a\0b".to_vec()), &mut s).is_err());
    }

    /// The escapes undone one byte at a time, as [`unescape`] did before it copied runs.
    fn unescape_bytewise(field: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < field.len() {
            if field[i] != b'\\' || i + 1 == field.len() {
                out.push(field[i]);
                i += 1;
                continue;
            }
            let n = field[i + 1];
            i += 2;
            let digits = |radix: u32, i: &mut usize, mut v: u32, max: usize| {
                let mut k = 0;
                while k < max && *i < field.len() && (field[*i] as char).is_digit(radix) {
                    v = v * radix + (field[*i] as char).to_digit(radix).unwrap();
                    *i += 1;
                    k += 1;
                }
                v as u8
            };
            out.push(match n {
                b'b' => 8,
                b'f' => 12,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'v' => 11,
                b'0'..=b'7' => digits(8, &mut i, u32::from(n - b'0'), 2),
                b'x' if i < field.len() && field[i].is_ascii_hexdigit() => digits(16, &mut i, 0, 2),
                other => other,
            });
        }
        out
    }

    #[test]
    fn runs_between_escapes_are_copied_as_a_byte_loop_would() {
        // Every string of up to 4 bytes over an alphabet of escape starts, escape letters,
        // digits and plain bytes.
        let alphabet = b"\\nx7A9z\t";
        let mut out = Vec::new();
        let mut field = Vec::new();
        for len in 0..=4u32 {
            for n in 0..alphabet.len().pow(len) {
                field.clear();
                let mut k = n;
                for _ in 0..len {
                    field.push(alphabet[k % alphabet.len()]);
                    k /= alphabet.len();
                }
                unescape(&field, &mut out);
                assert_eq!(out, unescape_bytewise(&field), "{field:?}");
            }
        }
        let long = [&b"x".repeat(100)[..], b"\\101", &b"y".repeat(100), b"\\"].concat();
        unescape(&long, &mut out);
        let want = [&b"x".repeat(100)[..], b"A", &b"y".repeat(100), b"\\"].concat();
        assert_eq!(out, want);
    }

    #[test]
    fn escapes_postgresql_prints_are_read() {
        let mut out = Vec::new();
        unescape(b"a\\\\b\\tc\\nd\\re\\101\\x42\\q", &mut out);
        assert_eq!(out, b"a\\b\tc\nd\reABq");
    }

    #[test]
    fn booleans_are_integers() {
        let mut sc = Vec::new();
        assert_eq!(
            parse_field(b"t", Kind::Bool, &mut sc).unwrap(),
            Value::Integer(1)
        );
        assert_eq!(
            parse_field(b"f", Kind::Bool, &mut sc).unwrap(),
            Value::Integer(0)
        );
        assert_eq!(
            parse_field(b"\\N", Kind::Bool, &mut sc).unwrap(),
            Value::Null
        );
        assert!(parse_field(b"x", Kind::Bool, &mut sc).is_err());
    }
}
