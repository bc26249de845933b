//! PostgreSQL's binary `COPY` format, written from the lines of COPY text a dump holds.
//!
//! The server parses binary input for far less work than text: a timestamp is eight bytes
//! instead of a string to read by `timestamp_in`. zsso sends binary only where the restore
//! later reads every table back as PostgreSQL prints it and compares it with the manifest's
//! digests (see [`zsso_core::backend::CopyIn::verified`]), and only for the few types whose
//! text it reads here completely: anything else goes as text, unchanged.

use crate::copytext::unescape;

/// The 19 bytes a binary COPY starts with: its signature, no flags, no header extension.
pub(crate) const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// The two bytes it ends with: a tuple of -1 fields.
pub(crate) const TRAILER: &[u8] = &[0xff, 0xff];

/// Microseconds from 4714-11-24 BC to 2000-01-01, PostgreSQL's lowest timestamp.
const MIN_TIMESTAMP: i64 = -211_813_488_000_000_000;

/// Microseconds from 2000-01-01 to 294277-01-01, the first timestamp past PostgreSQL's range.
const END_TIMESTAMP: i64 = 9_223_371_331_200_000_000;

/// The Julian day of 2000-01-01, PostgreSQL's epoch.
const EPOCH_JDATE: i64 = 2_451_545;

/// How one column's text is sent in binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinKind {
    /// `boolean`: one byte.
    Bool,
    /// `smallint`: two bytes, big-endian.
    Int2,
    /// `integer`: four bytes.
    Int4,
    /// `bigint`: eight bytes.
    Int8,
    /// `text`, `character varying`: the bytes of the text, which the server checks as UTF-8
    /// and against the column's length, as text input does (binary is used only on a database
    /// whose encoding is UTF-8, where escaped bytes and plain ones are read alike).
    Text,
    /// `timestamp without time zone`: microseconds since 2000-01-01, eight bytes.
    Timestamp,
}

impl BinKind {
    /// The binary form of a column of the type with this OID, if zsso writes it (not for a
    /// domain, an array or any other type).
    pub(crate) fn of_type(oid: u32) -> Option<BinKind> {
        Some(match oid {
            16 => BinKind::Bool,
            21 => BinKind::Int2,
            23 => BinKind::Int4,
            20 => BinKind::Int8,
            25 | 1043 => BinKind::Text,
            1114 => BinKind::Timestamp,
            _ => return None,
        })
    }
}

/// Why one field could not be written: its row (counted from 1 within the COPY), its column
/// (counted from 0) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadField {
    /// The row, from 1.
    pub row: u64,
    /// The column's index.
    pub column: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Turns lines of COPY text into binary tuples, for one COPY's columns.
pub(crate) struct Encoder {
    kinds: Vec<BinKind>,
    scratch: Vec<u8>,
    ends: Vec<usize>,
    rows: u64,
}

impl Encoder {
    /// An encoder for rows whose fields are of `kinds`, in order.
    pub(crate) fn new(kinds: Vec<BinKind>) -> Self {
        Self {
            kinds,
            scratch: Vec::new(),
            ends: Vec::new(),
            rows: 0,
        }
    }

    /// Appends to `out` one binary tuple per line of `chunk` (whole lines, each ending with a
    /// newline; a last line without one is taken whole).
    pub(crate) fn lines(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), BadField> {
        let mut rest = chunk;
        while !rest.is_empty() {
            let (line, next) = match memchr::memchr(b'\n', rest) {
                Some(p) => (&rest[..p], &rest[p + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = next;
            self.rows += 1;
            self.line(line, out)?;
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Result<(), BadField> {
        let row = self.rows;
        let bad = |column: usize, reason: String| BadField {
            row,
            column,
            reason,
        };
        self.ends.clear();
        field_ends(line, &mut self.ends);
        let fields = self.ends.len();
        if fields != self.kinds.len() {
            return Err(bad(
                // The first column without a field, or the last one for a field too many.
                fields.min(self.kinds.len().saturating_sub(1)),
                format!(
                    "the line has {fields} fields and the COPY names {} columns",
                    self.kinds.len()
                ),
            ));
        }
        if memchr::memchr(b'\r', line).is_some() {
            return Err(bad(
                0,
                "a carriage return that is not escaped, which COPY text does not allow".into(),
            ));
        }
        out.extend_from_slice(&(self.kinds.len() as i16).to_be_bytes());
        let mut start = 0;
        for column in 0..fields {
            let end = self.ends[column];
            let field = &line[start..end];
            start = end + 1;
            if field == b"\\N" {
                out.extend_from_slice(&(-1i32).to_be_bytes());
                continue;
            }
            let kind = self.kinds[column];
            let text: &[u8] = if memchr::memchr(b'\\', field).is_none() {
                field
            } else {
                unescape(field, &mut self.scratch);
                &self.scratch
            };
            match kind {
                BinKind::Text => {
                    let len = i32::try_from(text.len())
                        .map_err(|_| bad(column, "a text over 2 GiB".into()))?;
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(text);
                }
                BinKind::Bool => {
                    let v = match text {
                        b"t" | b"1" => 1u8,
                        b"f" | b"0" => 0,
                        _ => return Err(bad(column, not_read("a boolean", text))),
                    };
                    out.extend_from_slice(&1i32.to_be_bytes());
                    out.push(v);
                }
                BinKind::Int2 => {
                    let v = integer(text)
                        .and_then(|v| i16::try_from(v).ok())
                        .ok_or_else(|| bad(column, not_read("a smallint", text)))?;
                    out.extend_from_slice(&2i32.to_be_bytes());
                    out.extend_from_slice(&v.to_be_bytes());
                }
                BinKind::Int4 => {
                    let v = integer(text)
                        .and_then(|v| i32::try_from(v).ok())
                        .ok_or_else(|| bad(column, not_read("an integer", text)))?;
                    out.extend_from_slice(&4i32.to_be_bytes());
                    out.extend_from_slice(&v.to_be_bytes());
                }
                BinKind::Int8 => {
                    let v = integer(text).ok_or_else(|| bad(column, not_read("a bigint", text)))?;
                    out.extend_from_slice(&8i32.to_be_bytes());
                    out.extend_from_slice(&v.to_be_bytes());
                }
                BinKind::Timestamp => {
                    let v = timestamp(text)
                        .ok_or_else(|| bad(column, not_read("a timestamp", text)))?;
                    out.extend_from_slice(&8i32.to_be_bytes());
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
        }
        Ok(())
    }
}

/// Pushes to `ends` where each field of a COPY line ends: at each tab that is not escaped
/// (a backslash takes the byte after it, a tab too, as PostgreSQL and zsso's guard read it),
/// and at the line's end.
fn field_ends(line: &[u8], ends: &mut Vec<usize>) {
    let mut i = 0;
    while let Some(p) = memchr::memchr2(b'\t', b'\\', &line[i..]) {
        let at = i + p;
        if line[at] == b'\t' {
            ends.push(at);
            i = at + 1;
        } else {
            i = (at + 2).min(line.len());
        }
    }
    ends.push(line.len());
}

/// What a field that zsso cannot read as `what` is, without its text (which may be secret).
fn not_read(what: &str, text: &[u8]) -> String {
    format!(
        "a value of {} bytes that is not {what} as PostgreSQL prints one",
        text.len()
    )
}

/// An integer as PostgreSQL prints one: an optional `-`, then digits, nothing else.
fn integer(t: &[u8]) -> Option<i64> {
    let (neg, digits) = match t.split_first() {
        Some((b'-', d)) => (true, d),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Negative all the way, so that i64::MIN is read too.
    let mut v: i64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if neg { Some(v) } else { v.checked_neg() }
}

/// The Julian day of a date of the proleptic Gregorian calendar, `year` counted
/// astronomically (1 BC is 0), as PostgreSQL's `date2j` computes it.
fn julian_day(year: i64, month: i64, day: i64) -> i64 {
    let (y, m) = if month > 2 {
        (year + 4800, month + 1)
    } else {
        (year + 4799, month + 13)
    };
    let century = y / 100;
    y * 365 - 32167 + y / 4 - century + century / 4 + 7834 * m / 256 + day
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// A `timestamp without time zone` as PostgreSQL prints one with `DateStyle` ISO:
/// `YYYY-MM-DD HH:MM:SS`, then up to six fractional digits, then ` BC` for a year before 1;
/// or `infinity`, `-infinity`. Its microseconds since 2000-01-01, within PostgreSQL's range.
fn timestamp(t: &[u8]) -> Option<i64> {
    match t {
        b"infinity" => return Some(i64::MAX),
        b"-infinity" => return Some(i64::MIN),
        _ => {}
    }
    let (t, bc) = match t.strip_suffix(b" BC") {
        Some(t) => (t, true),
        None => (t, false),
    };
    let dash = t.iter().position(|&b| b == b'-')?;
    if !(4..=6).contains(&dash) {
        return None;
    }
    let rest = &t[dash..];
    if rest.len() < 15 {
        return None;
    }
    let num = |s: &[u8]| -> Option<i64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(s.iter().fold(0i64, |v, &d| v * 10 + i64::from(d - b'0')))
    };
    let shape = [(0, b'-'), (3, b'-'), (6, b' '), (9, b':'), (12, b':')];
    if shape.iter().any(|&(i, c)| rest[i] != c) {
        return None;
    }
    let year = num(&t[..dash])?;
    let month = num(&rest[1..3])?;
    let day = num(&rest[4..6])?;
    let hour = num(&rest[7..9])?;
    let minute = num(&rest[10..12])?;
    let second = num(&rest[13..15])?;
    let micros = match &rest[15..] {
        [] => 0,
        [b'.', f @ ..] if (1..=6).contains(&f.len()) => num(f)? * 10i64.pow(6 - f.len() as u32),
        _ => return None,
    };
    if year == 0 || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let year = if bc { 1 - year } else { year };
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month {
        return None;
    }
    let days = julian_day(year, month, day) - EPOCH_JDATE;
    // Six digits of year reach past i64's microseconds: checked, not wrapped.
    let v = (days * 86_400 + hour * 3_600 + minute * 60 + second)
        .checked_mul(1_000_000)?
        .checked_add(micros)?;
    (MIN_TIMESTAMP..END_TIMESTAMP).contains(&v).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(kinds: &[BinKind], chunk: &[u8]) -> Result<Vec<u8>, BadField> {
        let mut out = Vec::new();
        Encoder::new(kinds.to_vec()).lines(chunk, &mut out)?;
        Ok(out)
    }

    #[test]
    fn timestamps_are_microseconds_since_2000_as_postgresql_counts_them() {
        let cases: &[(&str, i64)] = &[
            ("2000-01-01 00:00:00", 0),
            ("2000-01-01 00:00:00.000001", 1),
            ("1999-12-31 23:59:59.999999", -1),
            ("2000-01-02 00:00:00.5", 86_400_500_000),
            ("2000-03-01 00:00:00", 60 * 86_400_000_000),
            ("1970-01-01 00:00:00", -946_684_800_000_000),
            ("2024-02-29 23:59:59.999999", 762_566_399_999_999),
            ("2038-01-19 03:14:07.12", 1_200_798_847_120_000),
            ("0001-01-01 00:00:00", -63_082_281_600_000_000),
            ("0001-12-31 00:00:00 BC", -63_082_368_000_000_000),
            ("0001-02-29 00:00:00 BC", -63_108_806_400_000_000),
            ("4714-11-24 00:00:00 BC", MIN_TIMESTAMP),
            ("294276-12-31 23:59:59.999999", END_TIMESTAMP - 1),
            ("10000-01-01 00:00:00", 252_455_616_000_000_000),
            ("infinity", i64::MAX),
            ("-infinity", i64::MIN),
        ];
        for (text, micros) in cases {
            assert_eq!(timestamp(text.as_bytes()), Some(*micros), "{text}");
        }
        for text in [
            "",
            "2024-02-30 00:00:00",
            "2023-02-29 00:00:00",
            "1900-02-29 00:00:00",
            "2024-13-01 00:00:00",
            "2024-00-01 00:00:00",
            "2024-01-00 00:00:00",
            "0000-01-01 00:00:00",
            "2024-01-01 24:00:00",
            "2024-01-01 23:60:00",
            "2024-01-01 23:59:60",
            "2024-01-01 00:00:00.",
            "2024-01-01 00:00:00.1234567",
            "2024-01-01 00:00:00+00",
            "2024-01-01T00:00:00",
            "2024-01-01",
            "224-01-01 00:00:00",
            "2024-1-01 00:00:00",
            " 2024-01-01 00:00:00",
            "+2024-01-01 00:00:00",
            "4714-11-23 23:59:59.999999 BC",
            "294277-01-01 00:00:00",
            "294277-01-10 00:00:00",
            "300000-01-01 00:00:00",
            "600000-01-01 00:00:00",
            "999999-12-31 23:59:59.999999",
            "999999-12-31 23:59:59.999999 BC",
            "1234567-01-01 00:00:00",
            "Infinity",
            "epoch",
        ] {
            assert_eq!(timestamp(text.as_bytes()), None, "{text:?}");
        }
    }

    #[test]
    fn integers_are_read_strictly_and_across_their_whole_range() {
        assert_eq!(integer(b"0"), Some(0));
        assert_eq!(integer(b"-0"), Some(0));
        assert_eq!(integer(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(integer(b"-9223372036854775808"), Some(i64::MIN));
        for t in [
            "",
            "-",
            "9223372036854775808",
            "+1",
            " 1",
            "1 ",
            "1e3",
            "0x1",
            "١",
        ] {
            assert_eq!(integer(t.as_bytes()), None, "{t:?}");
        }
    }

    #[test]
    fn lines_become_tuples_in_postgresql_binary_layout() {
        let kinds = [
            BinKind::Int4,
            BinKind::Bool,
            BinKind::Text,
            BinKind::Timestamp,
            BinKind::Int2,
            BinKind::Int8,
        ];
        let out = encode(
            &kinds,
            b"7\tt\ta\\tb\\\\c\\101\\x42\t2000-01-01 00:00:01\t-2\t\\N\n-1\tf\t\\N\t\\N\t32767\t1\n",
        )
        .unwrap();
        let mut want = Vec::new();
        want.extend_from_slice(&6i16.to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 7]);
        want.extend_from_slice(&[0, 0, 0, 1, 1]);
        want.extend_from_slice(&[0, 0, 0, 7]);
        want.extend_from_slice(b"a\tb\\cAB");
        want.extend_from_slice(&[0, 0, 0, 8]);
        want.extend_from_slice(&1_000_000i64.to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 2, 0xff, 0xfe]);
        want.extend_from_slice(&[0xff; 4]);
        want.extend_from_slice(&6i16.to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]);
        want.extend_from_slice(&[0, 0, 0, 1, 0]);
        want.extend_from_slice(&[0xff; 8]);
        want.extend_from_slice(&[0, 0, 0, 2, 0x7f, 0xff]);
        want.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(out, want);
        // A backslash before a tab makes it part of the field, not a separator.
        let out = encode(&[BinKind::Text, BinKind::Text], b"a\\\tb\tc\\\\\n").unwrap();
        assert_eq!(
            out,
            [&[0, 2, 0, 0, 0, 3][..], b"a\tb", &[0, 0, 0, 2], b"c\\"].concat()
        );
        // An empty text is a field of length 0, not NULL; an escaped `\N` is text.
        let out = encode(&[BinKind::Text, BinKind::Text], b"\t\\\\N\n").unwrap();
        assert_eq!(out, [0, 2, 0, 0, 0, 0, 0, 0, 0, 2, b'\\', b'N']);
        assert_eq!(HEADER.len(), 19);
    }

    #[test]
    fn a_field_zsso_cannot_read_is_named_by_row_and_column_without_its_text() {
        let kinds = [BinKind::Int4, BinKind::Timestamp];
        let e = encode(&kinds, b"1\t2024-01-01 00:00:00\n2\tnow\n").unwrap_err();
        assert_eq!((e.row, e.column), (2, 1));
        assert_eq!(
            e.reason,
            "a value of 3 bytes that is not a timestamp as PostgreSQL prints one"
        );
        let e = encode(&kinds, b"2147483648\t\\N\n").unwrap_err();
        assert_eq!((e.row, e.column), (1, 0));
        assert_eq!(
            e.reason,
            "a value of 10 bytes that is not an integer as PostgreSQL prints one"
        );
        let e = encode(&kinds, b"1\n").unwrap_err();
        assert_eq!(e.row, 1);
        assert!(e.reason.contains("1 fields"), "{}", e.reason);
        assert_eq!(e.column, 1);
        let e = encode(&kinds, b"1\t\\N\t3\n").unwrap_err();
        assert!(e.reason.contains("3 fields"), "{}", e.reason);
        assert_eq!(e.column, 1);
        let e = encode(&[BinKind::Text], b"a\rb\n").unwrap_err();
        assert!(e.reason.contains("carriage return"), "{}", e.reason);
        assert_eq!(
            encode(&[BinKind::Bool], b"true\n").unwrap_err().reason,
            "a value of 4 bytes that is not a boolean as PostgreSQL prints one"
        );
        assert_eq!(encode(&[BinKind::Int2], b"32768\n").unwrap_err().column, 0);
    }
}
