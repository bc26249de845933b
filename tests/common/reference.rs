//! Zato's reference SSO schema on each database, made from the DDL Zato 3.2 itself creates,
//! and a comparison of another schema with it, object by object, ignoring only ordering.
//!
//! The DDL files are copies of what Zato 3.2 made on an empty database of each kind, kept in
//! `tests/fixtures/zato-3.2-reference/` so that a clean clone has them.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use zsso::schema::{ForeignKey, Index, Schema, Sequence, Table};

/// The directory of the reference DDL files.
pub fn reference_dir() -> PathBuf {
    super::shared::root().join("tests/fixtures/zato-3.2-reference")
}

/// The reference DDL file of one database kind: `sqlite`, `postgresql` or `mysql`.
pub fn ddl_file(kind: &str) -> PathBuf {
    reference_dir().join(format!("ddl-{kind}.sql"))
}

/// The tag of a test's reference database: `zsso_t_ref_<test>_ref`.
fn reference_tag(test: &str) -> String {
    format!("ref_{test}_ref")
}

/// The schema of the database at `url`, as zsso's own dumper reads it.
pub async fn schema_at(url: &str) -> Schema {
    let mut d = zsso::open_dumper(url)
        .await
        .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    let snapshot = d.begin().await.unwrap();
    d.finish().await.unwrap();
    snapshot.schema
}

/// A fresh SQLite database `reference.db` in `dir` made by the `sqlite3` client from Zato's
/// DDL, and its schema.
pub async fn reference_sqlite(dir: &Path) -> Schema {
    let db = dir.join("reference.db");
    if db.exists() {
        std::fs::remove_file(&db).unwrap();
    }
    super::sqlite3(&db, &std::fs::read_to_string(ddl_file("sqlite")).unwrap());
    schema_at(&super::url(&db)).await
}

/// A fresh PostgreSQL database `zsso_t_ref_<test>_ref` loaded by `psql` with Zato's DDL, and
/// its schema; `None` without a server. The caller drops the database.
pub async fn reference_postgres(test: &str) -> Option<(super::pg::PgDb, Schema)> {
    let db = super::pg::PgDb::create(test, &reference_tag(test))?;
    db.load(&ddl_file("postgresql"))
        .unwrap_or_else(|e| panic!("psql could not load the reference DDL: {e}"));
    let schema = schema_at(&db.url).await;
    Some((db, schema))
}

/// A fresh MySQL or MariaDB database `zsso_t_ref_<test>_ref` loaded by the `mysql` client
/// with Zato's DDL, and its schema; `None` without a server. The caller drops the database.
///
/// The DDL is a MariaDB mysqldump, which begins with the sandbox line
/// `/*M!999999\- enable the sandbox mode */`; a client that refuses it (MySQL's) gets the
/// file without that line.
pub async fn reference_mysql(test: &str) -> Option<(super::my::MyDb, Schema)> {
    let db = super::my::MyDb::create(test, &reference_tag(test))?;
    let file = ddl_file("mysql");
    if let Err(e) = db.load(&file) {
        let text = std::fs::read_to_string(&file).unwrap();
        let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
        assert!(
            first.starts_with("/*M!999999") && e.contains("line 1"),
            "the mysql client could not load the reference DDL: {e}"
        );
        // Refused at line 1: nothing ran, and the DDL drops its tables before creating them.
        let tmp = tempfile::tempdir().unwrap();
        let copy = tmp.path().join("ddl-mysql-without-sandbox.sql");
        std::fs::write(&copy, rest).unwrap();
        db.load(&copy).unwrap_or_else(|e| {
            panic!(
                "the mysql client could not load the reference DDL without its sandbox line: {e}"
            )
        });
    }
    let schema = schema_at(&db.url).await;
    Some((db, schema))
}

/// Every difference between `reference` and `restored`, one readable line each, naming the
/// table and the object; empty if and only if they are the same schema, whatever the order
/// of their tables, foreign keys, indexes, constraints, triggers and sequences.
///
/// # Behavior
/// - Tables and sequences are matched by name, ASCII case-insensitively (as
///   [`Schema::table`] does); everything else by exact name.
/// - Columns are compared in order (name, data_type, nullable, default).
/// - Foreign keys form a set of (name, columns, ref_table, ref_columns, on_delete,
///   on_update); one that differs only in its name or actions is told as that difference.
/// - Indexes, constraints and triggers form sets keyed by name. SQLite's automatic index
///   names (`sqlite_autoindex_<table>_<n>`) are compared as they are: they follow the order
///   of the UNIQUE and PRIMARY KEY clauses in the `CREATE TABLE`, which is compared anyway.
/// - A table's `create_sql` is compared exactly, except MySQL's ` AUTO_INCREMENT=<digits>`
///   table option, which carries row state, not schema.
/// - Sequences compare their definition (data_type, start, increment, min, max, cache,
///   cycle, owned_by, identity, create_sql), never their state (last_value, is_called).
pub fn schema_differences(reference: &Schema, restored: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for (name, a, b) in pair_by_key(&reference.tables, &restored.tables, |t| {
        t.name.to_ascii_lowercase()
    }) {
        match (a, b) {
            (Some(a), Some(b)) => table_differences(a, b, &mut out),
            (Some(_), None) => out.push(format!("table {name}: in the reference, not restored")),
            (None, Some(_)) => out.push(format!("table {name}: restored, not in the reference")),
            (None, None) => unreachable!(),
        }
    }
    for (name, a, b) in pair_by_key(&reference.sequences, &restored.sequences, |s| {
        s.name.to_ascii_lowercase()
    }) {
        let what = format!("sequence {name}");
        match (a, b) {
            (Some(a), Some(b)) => sequence_differences(&what, a, b, &mut out),
            (Some(_), None) => out.push(format!("{what}: in the reference, not restored")),
            (None, Some(_)) => out.push(format!("{what}: restored, not in the reference")),
            (None, None) => unreachable!(),
        }
    }
    out
}

/// The differences of two tables of the same name.
fn table_differences(a: &Table, b: &Table, out: &mut Vec<String>) {
    let t = format!("table {}", a.name);

    // Columns, in order.
    let names_a: Vec<&str> = a.column_names().collect();
    let names_b: Vec<&str> = b.column_names().collect();
    for (name, ca, cb) in pair_by_key(&a.columns, &b.columns, |c| c.name.clone()) {
        let what = format!("{t}: column {name}");
        match (ca, cb) {
            (Some(x), Some(y)) => {
                field(out, &what, "data_type", &x.data_type, &y.data_type);
                field(out, &what, "nullable", &x.nullable, &y.nullable);
                field(out, &what, "default", &x.default, &y.default);
            }
            (Some(_), None) => out.push(format!("{what}: in the reference, not restored")),
            (None, Some(_)) => out.push(format!("{what}: restored, not in the reference")),
            (None, None) => unreachable!(),
        }
    }
    // The order of the columns both have (a missing or extra one is told above).
    let common_a: Vec<&str> = names_a
        .iter()
        .copied()
        .filter(|n| names_b.contains(n))
        .collect();
    let common_b: Vec<&str> = names_b
        .iter()
        .copied()
        .filter(|n| names_a.contains(n))
        .collect();
    if common_a != common_b {
        out.push(format!(
            "{t}: column order [{}] in the reference, [{}] restored",
            names_a.join(", "),
            names_b.join(", ")
        ));
    }

    field(
        out,
        &t,
        "primary key",
        &a.primary_key.join(", "),
        &b.primary_key.join(", "),
    );

    // Foreign keys: a set. Equal ones match first; the rest pair by what they link.
    let mut fa: Vec<&ForeignKey> = a.foreign_keys.iter().collect();
    let mut fb: Vec<&ForeignKey> = b.foreign_keys.iter().collect();
    fa.retain(|x| match fb.iter().position(|y| y == x) {
        Some(i) => {
            fb.remove(i);
            false
        }
        None => true,
    });
    let fa: Vec<ForeignKey> = fa.into_iter().cloned().collect();
    let fb: Vec<ForeignKey> = fb.into_iter().cloned().collect();
    for (_, x, y) in pair_by_key(&fa, &fb, |f| {
        (
            f.columns.clone(),
            f.ref_table.clone(),
            f.ref_columns.clone(),
        )
    }) {
        match (x, y) {
            (Some(x), Some(y)) => {
                let what = format!("{t}: {}", fk_link(x));
                field(out, &what, "name", &x.name, &y.name);
                field(out, &what, "on_delete", &x.on_delete, &y.on_delete);
                field(out, &what, "on_update", &x.on_update, &y.on_update);
            }
            (Some(x), None) => out.push(format!(
                "{t}: {}: in the reference, not restored",
                fk_full(x)
            )),
            (None, Some(y)) => out.push(format!(
                "{t}: {}: restored, not in the reference",
                fk_full(y)
            )),
            (None, None) => unreachable!(),
        }
    }

    for (name, x, y) in pair_by_key(&a.indexes, &b.indexes, |i| i.name.clone()) {
        let what = format!("{t}: index {name}");
        match (x, y) {
            (Some(x), Some(y)) => index_differences(&what, x, y, out),
            (Some(x), None) => out.push(format!(
                "{what}: in the reference, not restored ({})",
                index_summary(x)
            )),
            (None, Some(y)) => out.push(format!(
                "{what}: restored, not in the reference ({})",
                index_summary(y)
            )),
            (None, None) => unreachable!(),
        }
    }

    for (name, x, y) in pair_by_key(&a.constraints, &b.constraints, |c| c.name.clone()) {
        let what = format!("{t}: constraint {name}");
        match (x, y) {
            (Some(x), Some(y)) => {
                field(out, &what, "kind", &x.kind, &y.kind);
                text_field(out, &what, "definition", &x.definition, &y.definition);
                text_field(out, &what, "create_sql", &x.create_sql, &y.create_sql);
            }
            (Some(x), None) => out.push(format!(
                "{what}: in the reference, not restored ({})",
                x.definition
            )),
            (None, Some(y)) => out.push(format!(
                "{what}: restored, not in the reference ({})",
                y.definition
            )),
            (None, None) => unreachable!(),
        }
    }

    for (name, x, y) in pair_by_key(&a.triggers, &b.triggers, |g| g.name.clone()) {
        let what = format!("{t}: trigger {name}");
        match (x, y) {
            (Some(x), Some(y)) => {
                text_field(out, &what, "create_sql", &x.create_sql, &y.create_sql)
            }
            (Some(_), None) => out.push(format!("{what}: in the reference, not restored")),
            (None, Some(_)) => out.push(format!("{what}: restored, not in the reference")),
            (None, None) => unreachable!(),
        }
    }

    text_field(
        out,
        &t,
        "create_sql",
        &without_auto_increment(&a.create_sql),
        &without_auto_increment(&b.create_sql),
    );
}

fn index_differences(what: &str, x: &Index, y: &Index, out: &mut Vec<String>) {
    field(out, what, "unique", &x.unique, &y.unique);
    field(out, what, "origin", &x.origin, &y.origin);
    field(
        out,
        what,
        "columns",
        &x.columns.join(", "),
        &y.columns.join(", "),
    );
    match (&x.create_sql, &y.create_sql) {
        (Some(p), Some(q)) => text_field(out, what, "create_sql", p, q),
        (p, q) => field(out, what, "create_sql", p, q),
    }
}

fn index_summary(i: &Index) -> String {
    format!(
        "{}{} on ({})",
        if i.unique { "unique " } else { "" },
        i.origin,
        i.columns.join(", ")
    )
}

fn sequence_differences(what: &str, a: &Sequence, b: &Sequence, out: &mut Vec<String>) {
    field(out, what, "data_type", &a.data_type, &b.data_type);
    field(out, what, "start", &a.start, &b.start);
    field(out, what, "increment", &a.increment, &b.increment);
    field(out, what, "min", &a.min, &b.min);
    field(out, what, "max", &a.max, &b.max);
    field(out, what, "cache", &a.cache, &b.cache);
    field(out, what, "cycle", &a.cycle, &b.cycle);
    let owner = |s: &Sequence| {
        s.owned_by
            .as_ref()
            .map(|o| format!("{}.{}", o.table, o.column))
    };
    field(out, what, "owned_by", &owner(a), &owner(b));
    field(out, what, "identity", &a.identity, &b.identity);
    text_field(out, what, "create_sql", &a.create_sql, &b.create_sql);
}

/// `foreign key (c) -> t (r)`.
fn fk_link(f: &ForeignKey) -> String {
    format!(
        "foreign key ({}) -> {} ({})",
        f.columns.join(", "),
        f.ref_table,
        f.ref_columns.join(", ")
    )
}

/// `foreign key [name] (c) -> t (r) ON DELETE x ON UPDATE y`.
fn fk_full(f: &ForeignKey) -> String {
    let name = f.name.as_ref().map(|n| format!("{n} ")).unwrap_or_default();
    format!(
        "foreign key {name}({}) -> {} ({}) ON DELETE {} ON UPDATE {}",
        f.columns.join(", "),
        f.ref_table,
        f.ref_columns.join(", "),
        f.on_delete,
        f.on_update
    )
}

/// Items of `a` and `b` paired by key, keys in order; items that share a key pair in the
/// order of their `Debug` text, so that the order of the inputs never matters.
fn pair_by_key<'x, T: Debug, K: Ord + Clone + Debug>(
    a: &'x [T],
    b: &'x [T],
    key: impl Fn(&T) -> K,
) -> Vec<(String, Option<&'x T>, Option<&'x T>)> {
    type Sides<'y, T> = (Vec<&'y T>, Vec<&'y T>);
    let mut groups: BTreeMap<K, Sides<'x, T>> = BTreeMap::new();
    for x in a {
        groups.entry(key(x)).or_default().0.push(x);
    }
    for y in b {
        groups.entry(key(y)).or_default().1.push(y);
    }
    let mut out = Vec::new();
    for (k, (mut xs, mut ys)) in groups {
        xs.sort_by_cached_key(|x| format!("{x:?}"));
        ys.sort_by_cached_key(|y| format!("{y:?}"));
        let label = key_label(&k);
        for i in 0..xs.len().max(ys.len()) {
            out.push((label.clone(), xs.get(i).copied(), ys.get(i).copied()));
        }
    }
    out
}

/// A key as a name: a string as it is, anything else as `Debug` prints it.
fn key_label<K: Debug>(k: &K) -> String {
    let s = format!("{k:?}");
    match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) if !inner.contains(['"', '\\']) => inner.to_string(),
        _ => s,
    }
}

/// `<what>: <name> <a> in the reference, <b> restored`, if they differ.
fn field<V: PartialEq + Debug + ?Sized>(
    out: &mut Vec<String>,
    what: &str,
    name: &str,
    a: &V,
    b: &V,
) {
    if a != b {
        out.push(format!(
            "{what}: {name} {a:?} in the reference, {b:?} restored"
        ));
    }
}

/// Like [`field`] for long texts: where they first differ, with some context.
fn text_field(out: &mut Vec<String>, what: &str, name: &str, a: &str, b: &str) {
    if a == b {
        return;
    }
    if a.chars().count() <= 80 && b.chars().count() <= 80 {
        return field(out, what, name, a, b);
    }
    let ca: Vec<char> = a.chars().collect();
    let cb: Vec<char> = b.chars().collect();
    let at = ca.iter().zip(&cb).take_while(|(x, y)| x == y).count();
    let from = at.saturating_sub(30);
    let cut = |c: &[char]| -> String {
        c[from.min(c.len())..(at + 50).min(c.len())]
            .iter()
            .collect()
    };
    out.push(format!(
        "{what}: {name} differs at character {at}: ...{:?} in the reference, ...{:?} restored",
        cut(&ca),
        cut(&cb)
    ));
}

/// `sql` without MySQL's ` AUTO_INCREMENT=<digits>` table option.
fn without_auto_increment(sql: &str) -> String {
    const OPT: &str = " AUTO_INCREMENT=";
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(i) = rest.find(OPT) {
        let after = &rest[i + OPT.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            out.push_str(&rest[..i + OPT.len()]);
            rest = after;
        } else {
            out.push_str(&rest[..i]);
            rest = &after[digits..];
        }
    }
    out.push_str(rest);
    out
}
