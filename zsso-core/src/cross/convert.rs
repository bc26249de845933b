//! How a value moves from one database to another, and what a target cannot hold.
//!
//! Two steps, each a pure function:
//! - [`neutral`] undoes how the source database stores a value: a BLOB that SQLite holds in a
//!   text column becomes the text of its bytes, PostgreSQL's `\x...` hex text in a column
//!   Zato writes Python bytes into becomes the text it encodes, a datetime gets exactly six
//!   fractional digits. The result is the same whatever the source was, so row digests of
//!   neutral values compare across databases.
//! - [`fit`] checks that the target can hold a neutral value exactly, or says why not.

use super::model::{ColType, is_bytes_column};
use crate::value::{Value, six_digits};

/// How a source value was changed to become neutral, if it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Unchanged.
    None,
    /// Bytes stored as a BLOB in a text column, now the text of those bytes.
    BlobToText,
    /// PostgreSQL's `\x...` hex text of bytes, now the text those bytes encode.
    HexToText,
}

/// The neutral form of `value`, read from `table`.`column` of type `ty` in a `dialect`
/// database.
pub fn neutral(
    value: Value,
    dialect: &str,
    table: &str,
    column: &str,
    ty: ColType,
) -> (Value, Change) {
    match value {
        Value::Blob(b) if ty.is_text() => (Value::Text(b), Change::BlobToText),
        Value::Text(t)
            if dialect == "postgresql"
                && ty.is_text()
                && is_bytes_column(table, column)
                && looks_like_pg_hex(&t) =>
        {
            let bytes = hex::decode(&t[2..]).unwrap_or_default();
            (Value::Text(bytes), Change::HexToText)
        }
        Value::Text(t) if ty.is_datetime() => (Value::Text(six_digits(&t)), Change::None),
        v => (v, Change::None),
    }
}

/// Returns true if and only if `t` is `\\x` and lower-case hex digits in pairs: how PostgreSQL
/// shows the Python bytes Zato writes into a text column.
pub fn looks_like_pg_hex(t: &[u8]) -> bool {
    t.strip_prefix(b"\\x").is_some_and(|h| {
        h.len() % 2 == 0
            && h.iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    })
}

/// What [`fit`] did to a value the target holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Fit {
    /// The target holds it as it is.
    Exact(Value),
    /// Microseconds dropped, as the user allowed: the value the target holds.
    MicrosecondsDropped(Value),
}

/// Checks that a `target` database holds the neutral `value` in a column of type `ty`
/// exactly; `drop_microseconds` allows MySQL's `DATETIME` to lose the fraction of a second.
pub fn fit(
    value: Value,
    target: &str,
    ty: ColType,
    nullable: bool,
    drop_microseconds: bool,
) -> Result<Fit, String> {
    let server = target != "sqlite";
    match (&value, ty) {
        (Value::Null, _) if !nullable => {
            Err("NULL in a column that is NOT NULL in Zato's schema".into())
        }
        (Value::Null, _) => Ok(Fit::Exact(value)),
        (Value::Integer(i), ColType::Integer) if server && i32::try_from(*i).is_err() => Err(
            format!("the integer {i} does not fit the 32-bit integer column"),
        ),
        (Value::Integer(_), ColType::Integer | ColType::BigInt) => Ok(Fit::Exact(value)),
        (Value::Integer(0 | 1), ColType::Boolean) => Ok(Fit::Exact(value)),
        (Value::Integer(i), ColType::Boolean) => Err(format!(
            "{i} in a boolean column (only 0 and 1 are booleans)"
        )),
        (Value::Text(t), ColType::DateTime) => fit_datetime(t, target, drop_microseconds, false),
        // `datetime(6)` holds the microseconds: none is ever dropped.
        (Value::Text(t), ColType::DateTime6) => fit_datetime(t, target, false, true),
        (Value::Real(r), ColType::Real)
            if *r == 0.0 && r.is_sign_negative() && target != "postgresql" =>
        {
            Err(format!(
                "-0.0 in a float column, which {target} keeps as 0.0"
            ))
        }
        (Value::Text(t), ty) if ty.is_text() => fit_text(t, target, ty).map(|()| Fit::Exact(value)),
        (Value::Real(r), ColType::Real) if target == "mysql" && !r.is_finite() => Err(format!(
            "{r} in a float column: MySQL has no NaN or infinity"
        )),
        (Value::Real(r), ColType::Real) if target == "sqlite" && r.is_nan() => {
            Err("NaN in a float column: SQLite stores NaN as NULL".into())
        }
        (Value::Real(_), ColType::Real) | (Value::Blob(_), ColType::Blob) => Ok(Fit::Exact(value)),
        (v, ty) => Err(format!(
            "{} in a column of type {}",
            v.describe(),
            ty.declared(target)
        )),
    }
}

fn fit_text(t: &[u8], target: &str, ty: ColType) -> Result<(), String> {
    if target == "sqlite" {
        return Ok(());
    }
    let Ok(s) = std::str::from_utf8(t) else {
        return Err(format!(
            "text that is not valid UTF-8, which {target} text cannot hold"
        ));
    };
    if target == "postgresql" && t.contains(&0) {
        return Err("text with a NUL character, which PostgreSQL text cannot hold".into());
    }
    if let ColType::Varchar(n) = ty {
        let chars = s.chars().count();
        if chars > n as usize {
            return Err(format!(
                "text of {chars} characters in a column of at most {n}"
            ));
        }
    }
    if target == "mysql" && matches!(ty, ColType::Text | ColType::Text191) && t.len() > 65_535 {
        return Err(format!(
            "text of {} bytes, over the 65,535 bytes of a MySQL TEXT column",
            t.len()
        ));
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS.ffffff`, as [`neutral`] leaves a datetime, split into its numbers.
fn datetime_parts(t: &[u8]) -> Option<[u32; 7]> {
    let s = std::str::from_utf8(t).ok()?;
    let b = s.as_bytes();
    if b.len() != 26
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let p = &s[r];
        p.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| p.parse().ok())?
    };
    let parts = [
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
        num(20..26)?,
    ];
    let [year, month, day, hour, minute, second, _] = parts;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (year >= 1
        && (1..=12).contains(&month)
        && (1..=days).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60)
        .then_some(parts)
}

fn fit_datetime(
    t: &[u8],
    target: &str,
    drop_microseconds: bool,
    holds_microseconds: bool,
) -> Result<Fit, String> {
    if target == "sqlite" {
        return Ok(Fit::Exact(Value::Text(t.to_vec())));
    }
    let Some(parts) = datetime_parts(t) else {
        return Err(
            "a date and time not in the form YYYY-MM-DD HH:MM:SS.ffffff that Zato writes".into(),
        );
    };
    if target == "mysql" {
        if parts[0] < 1000 {
            return Err("a year before 1000, which MySQL DATETIME cannot hold".into());
        }
        if parts[6] != 0 && !holds_microseconds {
            if !drop_microseconds {
                return Err("microseconds, which MySQL DATETIME (as Zato creates it) would drop; restore with --allow-lost-microseconds to drop them".into());
            }
            let mut v = t[..20].to_vec();
            v.extend_from_slice(b"000000");
            return Ok(Fit::MicrosecondsDropped(Value::Text(v)));
        }
    }
    Ok(Fit::Exact(Value::Text(t.to_vec())))
}

/// How the rows of one table become neutral for a digest that compares across databases:
/// each value by [`neutral`], the columns in the order of their names (so that a table whose
/// columns are in another order digests the same), and, where allowed, datetimes without
/// their microseconds.
#[derive(Debug, Clone)]
pub struct NeutralForm {
    dialect: String,
    table: String,
    order: Vec<usize>,
    types: Vec<ColType>,
    drop_microseconds: bool,
}

impl NeutralForm {
    /// The form for `table` as a `dialect` database holds it.
    pub fn new(dialect: &str, table: &crate::schema::Table, drop_microseconds: bool) -> Self {
        Self::of_columns(dialect, table, drop_microseconds, None)
    }

    /// The form for the columns of `table` that `only` also has (by name, ASCII case
    /// ignored), or all of them.
    pub fn of_columns(
        dialect: &str,
        table: &crate::schema::Table,
        drop_microseconds: bool,
        only: Option<&crate::schema::Table>,
    ) -> Self {
        let kept = |i: &usize| {
            only.is_none_or(|o| {
                o.columns
                    .iter()
                    .any(|c| c.name.eq_ignore_ascii_case(&table.columns[*i].name))
            })
        };
        let mut order: Vec<usize> = (0..table.columns.len()).filter(kept).collect();
        order.sort_by_key(|&i| table.columns[i].name.to_ascii_lowercase());
        Self {
            dialect: dialect.to_string(),
            table: table.name.clone(),
            order,
            types: table
                .columns
                .iter()
                .map(|c| ColType::of_declared(dialect, &c.data_type))
                .collect(),
            drop_microseconds,
        }
    }

    /// `row` in neutral form, into `out`; returns how many datetimes lost microseconds.
    pub fn apply(
        &self,
        columns: &[crate::schema::Column],
        row: &[Value],
        out: &mut Vec<Value>,
    ) -> u64 {
        out.clear();
        let mut dropped = 0;
        for &i in &self.order {
            let (mut v, _) = neutral(
                row[i].clone(),
                &self.dialect,
                &self.table,
                &columns[i].name,
                self.types[i],
            );
            if self.drop_microseconds
                && self.types[i].is_datetime()
                && let Value::Text(t) = &mut v
                && t.len() == 26
                && t[19] == b'.'
                && &t[20..] != b"000000"
            {
                t.truncate(20);
                t.extend_from_slice(b"000000");
                dropped += 1;
            }
            out.push(v);
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::Text(s.as_bytes().to_vec())
    }

    #[test]
    fn bytes_become_the_text_they_encode() {
        let (v, c) = neutral(
            Value::Blob(b"gAAAA".to_vec()),
            "sqlite",
            "zato_sso_user",
            "password",
            ColType::Text,
        );
        assert_eq!((v, c), (text("gAAAA"), Change::BlobToText));
        let (v, c) = neutral(
            text("\\x674141"),
            "postgresql",
            "zato_sso_user",
            "password",
            ColType::Text,
        );
        assert_eq!((v, c), (text("gAA"), Change::HexToText));
        let (v, c) = neutral(
            text("\\x"),
            "postgresql",
            "zato_sso_user",
            "email",
            ColType::Text,
        );
        assert_eq!((v, c), (text(""), Change::HexToText));
        // Elsewhere, and on other databases, such text is text.
        let (v, c) = neutral(
            text("\\x6741"),
            "postgresql",
            "zato_sso_user",
            "display_name",
            ColType::Varchar(191),
        );
        assert_eq!((v, c), (text("\\x6741"), Change::None));
        let (v, c) = neutral(
            text("\\x6741"),
            "mysql",
            "zato_sso_user",
            "password",
            ColType::Text,
        );
        assert_eq!((v, c), (text("\\x6741"), Change::None));
        let (v, _) = neutral(
            text("2024-01-02 03:04:05"),
            "mysql",
            "t",
            "c",
            ColType::DateTime,
        );
        assert_eq!(v, text("2024-01-02 03:04:05.000000"));
    }

    #[test]
    fn what_a_target_cannot_hold_is_named() {
        let f = |v: Value, target: &str, ty: ColType| fit(v, target, ty, true, false);
        assert!(
            f(text("a\0b"), "postgresql", ColType::Text)
                .unwrap_err()
                .contains("NUL")
        );
        assert_eq!(
            f(text("a\0b"), "mysql", ColType::Text),
            Ok(Fit::Exact(text("a\0b")))
        );
        assert!(
            f(Value::Text(vec![0xff]), "mysql", ColType::Text)
                .unwrap_err()
                .contains("UTF-8")
        );
        assert_eq!(
            f(Value::Text(vec![0xff]), "sqlite", ColType::Text),
            Ok(Fit::Exact(Value::Text(vec![0xff])))
        );
        let long = "é".repeat(192);
        assert!(
            f(text(&long), "postgresql", ColType::Varchar(191))
                .unwrap_err()
                .contains("192 characters")
        );
        assert!(f(text(&"é".repeat(191)), "mysql", ColType::Varchar(191)).is_ok());
        assert!(
            f(text(&"x".repeat(65_536)), "mysql", ColType::Text)
                .unwrap_err()
                .contains("text of 65536 bytes, over the 65,535 bytes")
        );
        assert!(f(text(&"x".repeat(65_536)), "mysql", ColType::LongText).is_ok());
        assert!(
            f(Value::Integer(1 << 31), "mysql", ColType::Integer)
                .unwrap_err()
                .contains("32-bit")
        );
        assert!(f(Value::Integer(1 << 31), "sqlite", ColType::Integer).is_ok());
        assert!(f(Value::Integer(2), "postgresql", ColType::Boolean).is_err());
        assert!(fit(Value::Null, "sqlite", ColType::Text, false, false).is_err());
    }

    #[test]
    fn microseconds_are_dropped_only_when_allowed() {
        let t = text("2024-03-15 15:10:25.123456");
        assert!(
            fit(t.clone(), "mysql", ColType::DateTime, false, false)
                .unwrap_err()
                .contains("--allow-lost-microseconds")
        );
        assert_eq!(
            fit(t.clone(), "mysql", ColType::DateTime, false, true),
            Ok(Fit::MicrosecondsDropped(text("2024-03-15 15:10:25.000000")))
        );
        assert_eq!(
            fit(t.clone(), "postgresql", ColType::DateTime, false, false),
            Ok(Fit::Exact(t))
        );
        let whole = text("2024-03-15 15:10:25.000000");
        assert_eq!(
            fit(whole.clone(), "mysql", ColType::DateTime, false, false),
            Ok(Fit::Exact(whole))
        );
        assert!(
            fit(
                text("2024-13-01 00:00:00.000000"),
                "postgresql",
                ColType::DateTime,
                false,
                false
            )
            .is_err()
        );
        assert!(
            fit(
                text("0999-01-01 00:00:00.000000"),
                "mysql",
                ColType::DateTime,
                false,
                false
            )
            .is_err()
        );
        assert!(
            fit(
                text("infinity"),
                "postgresql",
                ColType::DateTime,
                false,
                false
            )
            .is_err()
        );
        for bad in [
            "2024-02-30 00:00:00.000000",
            "2023-02-29 00:00:00.000000",
            "2024-04-31 00:00:00.000000",
            "0000-06-01 00:00:00.000000",
        ] {
            assert!(
                fit(text(bad), "postgresql", ColType::DateTime, false, false).is_err(),
                "{bad}"
            );
        }
        let leap = text("2024-02-29 23:59:59.999999");
        assert_eq!(
            fit(leap.clone(), "postgresql", ColType::DateTime, false, false),
            Ok(Fit::Exact(leap))
        );
        assert!(
            fit(Value::Real(-0.0), "mysql", ColType::Real, false, false)
                .unwrap_err()
                .contains("-0.0")
        );
        assert_eq!(
            fit(Value::Real(-0.0), "postgresql", ColType::Real, false, false),
            Ok(Fit::Exact(Value::Real(-0.0)))
        );
        assert!(looks_like_pg_hex(b"\\x6741"));
        assert!(!looks_like_pg_hex(b"\\x674"));
        assert!(!looks_like_pg_hex(b"\\x67AB"));
    }
}
