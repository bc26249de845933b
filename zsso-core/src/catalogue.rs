//! The SSO table catalogue: which tables zsso backs up, and in which order.
//!
//! Zato 3.2 has seven SSO tables ([`ZATO_SSO_TABLES`]). zsso selects tables by the anchored
//! pattern [`TABLE_PATTERN`] rather than SQL `LIKE 'zato_sso_%'` (where `_` matches any
//! character), so a table that a newer or patched Zato adds is carried too, and nothing else is.

use crate::schema::Table;
use std::sync::LazyLock;

/// The seven SSO tables of Zato 3.2, in foreign-key order (parents first).
pub const ZATO_SSO_TABLES: [&str; 7] = [
    "zato_sso_group",
    "zato_sso_user",
    "zato_sso_user_group",
    "zato_sso_session",
    "zato_sso_attr",
    "zato_sso_linked_auth",
    "zato_sso_password_reset",
];

/// The pattern an SSO table's name matches, ASCII case ignored (as SQLite compares names:
/// `ſ` and the Kelvin sign are not `s` and `k`).
pub const TABLE_PATTERN: &str = r"(?i-u)^zato_sso_[a-z0-9_]+$";

static TABLE_RE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(TABLE_PATTERN).expect("valid table pattern"));

/// Returns true if and only if `name` is the name of an SSO table (matches [`TABLE_PATTERN`]).
pub fn is_sso_table(name: &str) -> bool {
    TABLE_RE.is_match(name)
}

/// Sorts tables so that every table comes after the tables it references.
///
/// References to itself and to tables outside `tables` are ignored. Ties are broken by
/// Zato's own order and then by name, so the result does not depend on the input order.
/// Tables in a reference cycle (which Zato never creates) are placed after the others, in
/// that same tie order; the returned flag is true if and only if there was such a cycle.
pub fn fk_order(tables: &[Table]) -> (Vec<usize>, bool) {
    let rank = |t: &Table| {
        let known = ZATO_SSO_TABLES
            .iter()
            .position(|k| k.eq_ignore_ascii_case(&t.name))
            .unwrap_or(usize::MAX);
        (known, t.name.to_ascii_lowercase())
    };
    let mut pending: Vec<usize> = (0..tables.len()).collect();
    pending.sort_by_key(|&i| rank(&tables[i]));
    let mut done: Vec<usize> = Vec::with_capacity(tables.len());
    loop {
        let ready = pending.iter().position(|&i| {
            tables[i].referenced_tables().iter().all(|r| {
                // Ready if every referenced table in the set is already placed.
                match tables.iter().position(|t| t.name.eq_ignore_ascii_case(r)) {
                    Some(j) => done.contains(&j),
                    None => true,
                }
            })
        });
        match ready {
            Some(p) => done.push(pending.remove(p)),
            None => break,
        }
    }
    let cycle = !pending.is_empty();
    done.extend(pending);
    (done, cycle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ForeignKey;

    fn table(name: &str, refs: &[&str]) -> Table {
        Table {
            name: name.into(),
            foreign_keys: refs
                .iter()
                .map(|r| ForeignKey {
                    ref_table: (*r).into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn pattern_is_anchored_and_underscore_is_literal() {
        assert!(is_sso_table("zato_sso_user"));
        assert!(is_sso_table("ZATO_SSO_USER"));
        assert!(is_sso_table("zato_sso_new_table_2"));
        assert!(!is_sso_table("zatoXssoXuser"));
        assert!(!is_sso_table("zato_ssoXuser"));
        assert!(!is_sso_table("my_zato_sso_user"));
        assert!(!is_sso_table("zato_sso_user; drop"));
        assert!(!is_sso_table("zato_sso_"));
        assert!(!is_sso_table("sec_base"));
        assert!(!is_sso_table("zato_\u{17f}so_keep"));
        assert!(!is_sso_table("zato_sso_\u{212a}eep"));
    }

    #[test]
    fn order_puts_parents_first_whatever_the_input_order() {
        let zato = vec![
            table("zato_sso_password_reset", &["zato_sso_user"]),
            table("zato_sso_attr", &["zato_sso_user", "zato_sso_session"]),
            table("zato_sso_linked_auth", &["zato_sso_user", "sec_base"]),
            table("zato_sso_session", &["zato_sso_user"]),
            table("zato_sso_user_group", &["zato_sso_user", "zato_sso_group"]),
            table("zato_sso_user", &[]),
            table("zato_sso_group", &["zato_sso_group"]),
        ];
        let (order, cycle) = fk_order(&zato);
        assert!(!cycle);
        let names: Vec<&str> = order.iter().map(|&i| zato[i].name.as_str()).collect();
        assert_eq!(names, ZATO_SSO_TABLES.to_vec());
    }

    #[test]
    fn order_follows_references_before_zato_rank() {
        // A new table referenced by zato_sso_group must come before it.
        let t = vec![
            table("zato_sso_group", &["zato_sso_aaa"]),
            table("zato_sso_aaa", &[]),
        ];
        let (order, cycle) = fk_order(&t);
        assert!(!cycle);
        assert_eq!(order, vec![1, 0]);
    }

    #[test]
    fn order_reports_a_cycle_and_keeps_every_table() {
        let t = vec![
            table("zato_sso_a", &["zato_sso_b"]),
            table("zato_sso_b", &["zato_sso_a"]),
            table("zato_sso_user", &[]),
        ];
        let (order, cycle) = fk_order(&t);
        assert!(cycle);
        assert_eq!(order, vec![2, 0, 1]);
    }
}
