//! Row digests: the same on every backend, independent of row order.
//!
//! Each row is encoded as a sequence of tagged values (see [`encode_row`]) and hashed with
//! SHA-256; the table's digest is the sum of the row hashes modulo 2^256, so it does not depend
//! on the order a database returns rows in, and any accidental change of a row changes it. It
//! detects damage and loss, not forgery: a sum of hashes can be steered by someone who
//! chooses many rows, and the manifest is not signed. The row count is kept beside it.

use crate::value::Value;
use sha2::{Digest, Sha256};

/// The prefix of a digest's text form.
pub const DIGEST_PREFIX: &str = "sha256-sum:";

/// Appends the canonical encoding of one row to `out`.
///
/// Per value: a tag byte (`0` null, `1` integer, `2` real, `3` text, `4` blob), then for an
/// integer its 8 bytes big-endian, for a real its IEEE-754 bits big-endian, for text and blobs
/// the length as 8 bytes big-endian followed by the bytes.
pub fn encode_row(values: &[Value], out: &mut Vec<u8>) {
    for v in values {
        match v {
            Value::Null => out.push(0),
            Value::Integer(i) => {
                out.push(1);
                out.extend_from_slice(&i.to_be_bytes());
            }
            Value::Real(r) => {
                out.push(2);
                out.extend_from_slice(&r.to_bits().to_be_bytes());
            }
            Value::Text(b) | Value::Blob(b) => {
                out.push(if matches!(v, Value::Text(_)) { 3 } else { 4 });
                out.extend_from_slice(&(b.len() as u64).to_be_bytes());
                out.extend_from_slice(b);
            }
        }
    }
}

/// Accumulates the count and the digest of a table's rows.
#[derive(Clone, Default)]
pub struct TableDigest {
    rows: u64,
    sum: [u8; 32],
    scratch: Vec<u8>,
}

impl std::fmt::Debug for TableDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TableDigest({} rows, {})", self.rows, self.digest())
    }
}

impl TableDigest {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one row.
    pub fn add(&mut self, values: &[Value]) {
        self.scratch.clear();
        encode_row(values, &mut self.scratch);
        let h = Sha256::digest(&self.scratch);
        self.add_hash(&h);
    }

    /// Adds one row given by its encoding ([`encode_row`] of its values).
    pub fn add_encoded(&mut self, encoded: &[u8]) {
        let h = Sha256::digest(encoded);
        self.add_hash(&h);
    }

    fn add_hash(&mut self, h: &[u8]) {
        // Big-endian addition over 32 bytes, the last carry dropped: modulo 2^256.
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let s = self.sum[i] as u16 + h[i] as u16 + carry;
            self.sum[i] = s as u8;
            carry = s >> 8;
        }
        self.rows += 1;
    }

    /// The number of rows added.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The digest in its text form, `sha256-sum:` and 64 hex digits.
    pub fn digest(&self) -> String {
        format!("{DIGEST_PREFIX}{}", hex::encode(self.sum))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: i64, t: &str) -> Vec<Value> {
        vec![Value::Integer(i), Value::Text(t.as_bytes().to_vec())]
    }

    #[test]
    fn digest_does_not_depend_on_row_order() {
        let mut a = TableDigest::new();
        let mut b = TableDigest::new();
        for i in 0..50 {
            a.add(&row(i, "x"));
        }
        for i in (0..50).rev() {
            b.add(&row(i, "x"));
        }
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.rows(), 50);
    }

    #[test]
    fn digest_tells_storage_types_and_duplicates_apart() {
        let one = |v: Value| {
            let mut d = TableDigest::new();
            d.add(&[v]);
            d.digest()
        };
        assert_ne!(one(Value::Integer(5)), one(Value::Real(5.0)));
        assert_ne!(
            one(Value::Text(b"5".to_vec())),
            one(Value::Blob(b"5".to_vec()))
        );
        assert_ne!(one(Value::Null), one(Value::Text(Vec::new())));
        assert_ne!(one(Value::Text(b"null".to_vec())), one(Value::Null));
        assert_ne!(one(Value::Real(0.0)), one(Value::Real(-0.0)));
        let mut twice = TableDigest::new();
        twice.add(&row(1, "a"));
        twice.add(&row(1, "a"));
        let mut once = TableDigest::new();
        once.add(&row(1, "a"));
        assert_ne!(twice.digest(), once.digest());
    }

    #[test]
    fn adjacent_values_do_not_run_into_each_other() {
        let mut a = TableDigest::new();
        a.add(&[Value::Text(b"ab".to_vec()), Value::Text(b"c".to_vec())]);
        let mut b = TableDigest::new();
        b.add(&[Value::Text(b"a".to_vec()), Value::Text(b"bc".to_vec())]);
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn empty_table_digest_is_all_zero() {
        assert_eq!(
            TableDigest::new().digest(),
            format!("{DIGEST_PREFIX}{}", "0".repeat(64))
        );
    }
}
