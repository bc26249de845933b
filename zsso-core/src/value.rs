//! Neutral, exact values.
//!
//! A [`Value`] keeps what the database stored, bit for bit: text stays bytes (SQLite can hold
//! text that is not valid UTF-8), reals keep their exact bits, and the storage type is kept
//! (`5.0` is a [`Value::Real`], `5` a [`Value::Integer`], `'5'` a [`Value::Text`]).

/// One stored value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// SQL NULL (not the empty string, not the text `null`).
    Null,
    /// A 64-bit signed integer.
    Integer(i64),
    /// A binary64 float; compared and digested by its bits.
    Real(f64),
    /// Text, as the bytes the database holds (normally UTF-8, but not always).
    Text(Vec<u8>),
    /// A byte string.
    Blob(Vec<u8>),
}

impl Value {
    /// A short name of the storage type, as SQLite's `typeof()` prints it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Integer(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }

    /// The bytes of a text or blob value, `None` for the other kinds.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Text(b) | Value::Blob(b) => Some(b),
            _ => None,
        }
    }

    /// The integer, `None` for the other kinds.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// Returns true if and only if both values have the same kind and the same bits.
    ///
    /// Unlike `==`, reals are compared by their bits, so `-0.0` differs from `0.0` and a NaN
    /// equals itself.
    pub fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Real(a), Value::Real(b)) => a.to_bits() == b.to_bits(),
            _ => self == other,
        }
    }

    /// A short description for messages that never shows the content of text or blobs.
    pub fn describe(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Integer(i) => i.to_string(),
            Value::Real(r) => format!("{r:?}"),
            Value::Text(b) => format!("text of {} bytes", b.len()),
            Value::Blob(b) => format!("blob of {} bytes", b.len()),
        }
    }
}

/// A timestamp's text with exactly six fractional digits, as Zato writes them on SQLite;
/// `infinity` and anything else unexpected is kept as it is.
pub fn six_digits(text: &[u8]) -> Vec<u8> {
    // `YYYY-MM-DD HH:MM:SS[.f{1,6}][rest]`, the year possibly longer than four digits.
    let Some(space) = text.iter().position(|&b| b == b' ') else {
        return text.to_vec();
    };
    let secs_end = space + 9;
    if text.len() < secs_end || text[space + 3] != b':' || text[space + 6] != b':' {
        return text.to_vec();
    }
    let mut out = text[..secs_end].to_vec();
    let mut i = secs_end;
    let mut digits = 0;
    out.push(b'.');
    if text.get(i) == Some(&b'.') {
        i += 1;
        while i < text.len() && text[i].is_ascii_digit() {
            out.push(text[i]);
            i += 1;
            digits += 1;
        }
    }
    if digits > 6 {
        return text.to_vec();
    }
    out.extend(std::iter::repeat_n(b'0', 6 - digits));
    out.extend_from_slice(&text[i..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_get_six_digits() {
        let s = |t: &str| String::from_utf8(six_digits(t.as_bytes())).unwrap();
        assert_eq!(s("2024-03-15 15:10:25.41"), "2024-03-15 15:10:25.410000");
        assert_eq!(s("2024-03-15 15:10:25"), "2024-03-15 15:10:25.000000");
        assert_eq!(
            s("2024-03-15 15:10:25.123456"),
            "2024-03-15 15:10:25.123456"
        );
        assert_eq!(
            s("2024-03-15 15:10:25.5+00"),
            "2024-03-15 15:10:25.500000+00"
        );
        assert_eq!(s("0044-03-15 12:00:00 BC"), "0044-03-15 12:00:00.000000 BC");
        assert_eq!(s("12345-01-01 00:00:00"), "12345-01-01 00:00:00.000000");
        assert_eq!(s("infinity"), "infinity");
    }

    #[test]
    fn same_as_compares_reals_by_bits() {
        assert!(Value::Real(0.0).same_as(&Value::Real(0.0)));
        assert!(!Value::Real(0.0).same_as(&Value::Real(-0.0)));
        assert!(!Value::Integer(5).same_as(&Value::Real(5.0)));
        assert!(!Value::Text(b"5".to_vec()).same_as(&Value::Blob(b"5".to_vec())));
    }

    #[test]
    fn describe_hides_content() {
        assert_eq!(
            Value::Text(b"secret".to_vec()).describe(),
            "text of 6 bytes"
        );
    }
}
