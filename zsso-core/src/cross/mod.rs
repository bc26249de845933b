//! Restoring a bundle into another kind of database.
//!
//! A bundle of one dialect is turned into a bundle of the target's dialect, and that one is
//! restored as any bundle is, all or nothing. The conversion:
//! - gives the target the schema Zato itself creates there ([`model`]), not a translation of
//!   the source's DDL; columns and tables that Zato's schema does not have are carried over
//!   in the closest faithful type, and listed;
//! - reads every row of the source dump back exactly (its digest must equal the manifest's),
//!   converts each value by the rules of [`convert`], and before anything is written finds
//!   every value the target cannot hold, naming table, row and column;
//! - moves PostgreSQL's sequences and MySQL's `AUTO_INCREMENT` past the restored ids (and
//!   past the source's own counters).

pub mod convert;
pub mod model;

use crate::backend::{Capabilities, Dumper, Orphan, RowSink, SourceSnapshot};
use crate::backup::{self, BackupReport};
use crate::bundle::Bundle;
use crate::catalogue::is_sso_table;
use crate::dialect::Dialect;
use crate::digest::TableDigest;
use crate::error::{Error, Result};
use crate::guard::{self, Kind};
use crate::progress::Progress;
use crate::schema::{Schema, Table};
use crate::secrets::SecretsConf;
use crate::sqlscan::StatementReader;
use crate::value::Value;
use async_trait::async_trait;
use convert::{Change, Fit};
use model::{ColType, ColumnDef, ForeignKeyDef, IndexDef, TableDef};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// The losses a user allows a conversion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossOptions {
    /// Drop the microseconds of datetimes that MySQL's `DATETIME` (as Zato creates it) cannot
    /// hold, instead of refusing them.
    pub drop_microseconds: bool,
}

/// A value the target cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The table.
    pub table: String,
    /// The row, by its primary key (`id=5`); empty for a problem of the schema.
    pub row: String,
    /// The column.
    pub column: String,
    /// Why the target cannot hold it.
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.row.is_empty() {
            write!(f, "{} column {}: {}", self.table, self.column, self.reason)
        } else {
            write!(
                f,
                "{} {} column {}: {}",
                self.table, self.row, self.column, self.reason
            )
        }
    }
}

/// What the conversion changed, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversions {
    /// Bytes SQLite held as BLOBs in text columns, now text.
    pub blobs_to_text: u64,
    /// PostgreSQL `\x...` hex texts of bytes, now the text they encode.
    pub hex_to_text: u64,
    /// Datetimes whose microseconds were dropped, as allowed.
    pub microseconds_dropped: u64,
}

/// What a converted bundle's manifest records about its conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionInfo {
    /// The dialect of the bundle it was converted from.
    pub from_dialect: String,
    /// The losses that were allowed.
    pub options: CrossOptions,
    /// What was changed.
    pub conversions: Conversions,
}

/// One table as the target gets it.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedTable {
    /// The name.
    pub name: String,
    /// The rows.
    pub rows: u64,
    /// The next id the target hands out after the restore (for tables with an id).
    pub next_id: i64,
    /// The statements that create it on the target.
    pub statements: Vec<String>,
    #[serde(skip)]
    def: TableDef,
    #[serde(skip)]
    source: Table,
    /// For each target column, the source column it comes from.
    #[serde(skip)]
    from: Vec<Option<usize>>,
}

/// What a conversion of a bundle into another dialect does, found without touching a
/// database.
#[derive(Debug, Clone, Serialize)]
pub struct CrossPlan {
    /// The bundle's dialect.
    pub source: String,
    /// The target's dialect.
    pub target: String,
    /// The tables, in the bundle's order.
    pub tables: Vec<PlannedTable>,
    /// PostgreSQL sequences the target gets: name and next value.
    pub sequences: Vec<(String, i64)>,
    /// Columns and tables that Zato's schema does not have, and how they are carried over.
    pub extras: Vec<String>,
    /// Columns of Zato's schema that the bundle does not have, and what they are filled with.
    pub filled: Vec<String>,
    /// What the conversion changes.
    pub conversions: Conversions,
    /// Every value the target cannot hold (the first [`MAX_PROBLEMS`]).
    pub problems: Vec<Problem>,
    /// How many problems there were in all.
    pub problem_count: u64,
    /// The allowed losses.
    pub options: CrossOptions,
}

/// The most problems a plan lists one by one.
pub const MAX_PROBLEMS: usize = 1000;

impl CrossPlan {
    /// The refusal to convert, listing every problem, or `Ok` if there is none.
    pub fn refusal(&self) -> Result<()> {
        if self.problem_count == 0 {
            return Ok(());
        }
        let mut lines: Vec<String> = self.problems.iter().map(|p| format!("  {p}")).collect();
        if self.problem_count > self.problems.len() as u64 {
            lines.push(format!(
                "  and {} more",
                self.problem_count - self.problems.len() as u64
            ));
        }
        Err(Error::Refused {
            reason: format!(
                "restore refused, nothing was changed: {} values or names of the {} bundle cannot be held by {} exactly:\n{}",
                self.problem_count,
                self.source,
                self.target,
                lines.join("\n")
            ),
        })
    }
}

fn strip_prefix_len(col: &str) -> &str {
    match col.split_once('(') {
        Some((c, rest))
            if rest.ends_with(')')
                && rest[..rest.len() - 1].bytes().all(|b| b.is_ascii_digit()) =>
        {
            c
        }
        _ => col,
    }
}

/// What planning the tables found: columns and tables Zato's schema does not have, columns
/// it has that the bundle does not, and problems.
#[derive(Default)]
struct Notes {
    extras: Vec<String>,
    filled: Vec<String>,
    problems: Vec<Problem>,
}

/// Returns true if and only if `sql` holds `word` (upper case) as a word of its own, in any
/// case; text in quotes may give a false yes, which only makes a listing longer.
fn has_word(sql: &str, word: &str) -> bool {
    sql.to_ascii_uppercase()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| w == word)
}

/// Returns true if and only if the source database tells names apart by case alone
/// (PostgreSQL; SQLite and MySQL column names are case-insensitive).
fn case_sensitive(dialect: &str) -> bool {
    dialect == "postgresql"
}

/// The indexes of a source table on plain columns, as the model keeps them; the others are
/// listed in `extras` as not carried over.
fn source_indexes(
    source: &Table,
    is_col: &dyn Fn(&str) -> bool,
    skip: &dyn Fn(&crate::schema::Index) -> bool,
    extras: &mut Vec<String>,
) -> Vec<IndexDef> {
    let mut out = Vec::new();
    for (n, i) in source
        .indexes
        .iter()
        .filter(|i| i.origin != "primary_key")
        .enumerate()
    {
        if skip(i) {
            continue;
        }
        let partial = i
            .create_sql
            .as_deref()
            .is_some_and(|s| has_word(s, "WHERE"));
        if partial || !matches!(i.origin.as_str(), "index" | "unique") {
            extras.push(format!(
                "index {} of {} is {}: it is not carried over",
                i.name,
                source.name,
                if partial {
                    "partial (it has a WHERE)"
                } else {
                    "not a plain index"
                }
            ));
            continue;
        }
        let cols: Vec<(String, Option<u32>)> = i
            .columns
            .iter()
            .map(|c| {
                let bare = strip_prefix_len(c);
                let prefix = (bare != c.as_str())
                    .then(|| c[bare.len() + 1..c.len() - 1].parse().ok())
                    .flatten();
                (bare.to_string(), prefix)
            })
            .collect();
        if !cols.iter().all(|(c, _)| is_col(c)) {
            extras.push(format!(
                "index {} of {} is on expressions: it is not carried over",
                i.name, source.name
            ));
            continue;
        }
        let name = if i.name.starts_with("sqlite_autoindex_") {
            format!("{}_uq{}", source.name, n + 1)
        } else {
            i.name.clone()
        };
        extras.push(format!(
            "{}index {name} of {} is not in Zato's schema: it is carried over",
            if i.unique { "unique " } else { "" },
            source.name
        ));
        out.push(IndexDef {
            name,
            unique: i.unique,
            constraint: false,
            columns: cols,
        });
    }
    out
}

/// The target's definition of a source table, and where each column comes from.
fn plan_table(
    source: &Table,
    source_dialect: &str,
    target: &str,
    set: &[String],
    zato: &[TableDef],
    notes: &mut Notes,
) -> (TableDef, Vec<Option<usize>>) {
    let Notes {
        extras,
        filled,
        problems,
    } = notes;
    let same = |a: &str, b: &str| {
        if case_sensitive(source_dialect) {
            a == b
        } else {
            a.eq_ignore_ascii_case(b)
        }
    };
    let find = |name: &str| source.columns.iter().position(|c| same(&c.name, name));
    let extra_col = |c: &crate::schema::Column| ColumnDef {
        name: c.name.clone(),
        ty: match ColType::of_declared(source_dialect, &c.data_type) {
            // A column Zato does not have keeps its microseconds, on MySQL too.
            ColType::DateTime => ColType::DateTime6,
            t => t,
        },
        nullable: c.nullable
            && !source
                .primary_key
                .iter()
                .any(|k| strip_prefix_len(k) == c.name),
        default_false: false,
        extra: true,
    };
    let mut def = match zato.iter().find(|t| same(&t.name, &source.name)) {
        Some(t) => t.clone(),
        None => {
            let columns: Vec<ColumnDef> = source.columns.iter().map(extra_col).collect();
            let is_col = |c: &str| columns.iter().any(|k| k.name == c);
            extras.push(format!(
                "table {} is not in Zato's schema: it is carried over with its {} columns and its primary key",
                source.name,
                columns.len()
            ));
            // The index a MySQL source made for a foreign key of its own is made again there.
            let fk_index = |i: &crate::schema::Index| {
                !i.unique
                    && i.columns.len() == 1
                    && source.foreign_keys.iter().any(|f| {
                        f.columns == i.columns
                            && (i.name == f.columns[0] || f.name.as_deref() == Some(&i.name))
                    })
            };
            let indexes = source_indexes(source, &is_col, &fk_index, extras);
            TableDef {
                name: source.name.clone(),
                columns,
                primary_key: source
                    .primary_key
                    .iter()
                    .map(|c| strip_prefix_len(c).to_string())
                    .collect(),
                indexes,
                foreign_keys: Vec::new(),
                sequence: None,
                mysql_key_order: Vec::new(),
                extra: true,
            }
        }
    };
    if !def.extra {
        for c in &source.columns {
            if !def.columns.iter().any(|k| same(&k.name, &c.name)) {
                let e = extra_col(c);
                extras.push(format!(
                    "column {}.{} ({}) is not in Zato's schema: it is carried over as {}",
                    source.name,
                    c.name,
                    c.data_type,
                    e.ty.declared(target)
                ));
                def.columns.push(e);
            }
        }
        // Indexes someone added to a Zato table; Zato's own, and what a database makes for
        // them (SQLite's autoindexes, MySQL's keys of foreign keys), are the model's.
        let zato_cols = |i: &crate::schema::Index| {
            let cols: Vec<&str> = i.columns.iter().map(|c| strip_prefix_len(c)).collect();
            def.indexes.iter().any(|z| {
                z.name == i.name
                    || z.columns
                        .iter()
                        .map(|c| c.0.as_str())
                        .eq(cols.iter().copied())
            }) || def
                .foreign_keys
                .iter()
                .any(|f| cols == [f.column.as_str()] && i.name == f.column)
        };
        let is_col = |c: &str| def.columns.iter().any(|k| k.name == c);
        let added = source_indexes(source, &is_col, &zato_cols, extras);
        def.indexes.extend(added);
    }
    // Foreign keys: Zato's are the model's; a table's other ones to SSO tables are carried when
    // they have one column, and every other one is listed.
    for f in &source.foreign_keys {
        let known = def.foreign_keys.iter().any(|k| {
            f.columns == [k.column.as_str()]
                && f.ref_table.eq_ignore_ascii_case(&k.ref_table)
                && f.ref_columns == [k.ref_column.as_str()]
        });
        if known {
            continue;
        }
        let action = |a: &str| {
            matches!(
                a.to_ascii_uppercase().as_str(),
                "CASCADE" | "SET NULL" | "RESTRICT" | "NO ACTION" | ""
            )
        };
        if !matches!(
            f.on_update.to_ascii_uppercase().as_str(),
            "NO ACTION" | "RESTRICT" | ""
        ) {
            extras.push(format!(
                "the ON UPDATE {} of the foreign key of {} ({}) is not carried over",
                f.on_update,
                source.name,
                f.columns.join(", ")
            ));
        }
        if def.extra
            && f.columns.len() == 1
            && action(&f.on_delete)
            && set.iter().any(|s| s.eq_ignore_ascii_case(&f.ref_table))
        {
            def.foreign_keys.push(ForeignKeyDef {
                column: f.columns[0].clone(),
                ref_table: f.ref_table.clone(),
                ref_column: f.ref_columns[0].clone(),
                on_delete: f.on_delete.clone(),
            });
            extras.push(format!(
                "foreign key of {} ({}) to {} is carried over (ON DELETE {})",
                source.name, f.columns[0], f.ref_table, f.on_delete
            ));
        } else {
            extras.push(format!(
                "foreign key of {} ({}) to {} is not in Zato's schema: it is not carried over",
                source.name,
                f.columns.join(", "),
                f.ref_table
            ));
        }
    }
    for tr in &source.triggers {
        extras.push(format!(
            "trigger {} of {} is not carried over (a trigger is written in its database's own language)",
            tr.name, source.name
        ));
    }
    let checks = source
        .constraints
        .iter()
        .filter(|c| matches!(c.kind.as_str(), "check" | "exclude"))
        .count();
    let inline_checks = source.constraints.is_empty() && has_word(&source.create_sql, "CHECK");
    if def.extra && (checks > 0 || inline_checks) {
        extras.push(format!(
            "the CHECK and EXCLUDE constraints of {} are not carried over (they are written in their database's own language)",
            source.name
        ));
    }
    for c in source.columns.iter().filter(|c| {
        c.default
            .as_deref()
            .is_some_and(|d| !d.eq_ignore_ascii_case("NULL"))
    }) {
        if def.column(&c.name).is_some_and(|k| k.extra) {
            extras.push(format!(
                "the default of {}.{} is not carried over (defaults are written in their database's own language)",
                source.name, c.name
            ));
        }
    }
    let mut from = Vec::new();
    for c in &def.columns {
        let at = find(&c.name);
        if at.is_none() {
            if c.default_false {
                filled.push(format!(
                    "{}.{} is not in the bundle: filled with false, its default",
                    def.name, c.name
                ));
            } else if c.nullable {
                filled.push(format!(
                    "{}.{} is not in the bundle: filled with NULL",
                    def.name, c.name
                ));
            } else {
                problems.push(Problem {
                    table: def.name.clone(),
                    row: "every row".into(),
                    column: c.name.clone(),
                    reason: "the bundle has no such column, and Zato's schema has it NOT NULL without a default".into(),
                });
            }
        }
        from.push(at);
    }
    name_problems(&def, target, problems);
    (def, from)
}

/// Names that must be unique in the whole target schema and are not: index names (and, on
/// PostgreSQL, constraint names, which share their namespace) of all the tables together.
fn schema_name_problems(tables: &[PlannedTable], target: &str, problems: &mut Vec<Problem>) {
    if target == "mysql" {
        return;
    }
    let key = |n: &str| {
        if target == "postgresql" {
            n.to_string()
        } else {
            n.to_ascii_lowercase()
        }
    };
    let mut seen: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    for t in tables {
        let mut names: Vec<String> = t.def.indexes.iter().map(|i| i.name.clone()).collect();
        if target == "postgresql" {
            names.push(format!("{}_pkey", t.def.name));
            names.extend(
                t.def
                    .foreign_keys
                    .iter()
                    .map(|f| format!("{}_{}_fkey", t.def.name, f.column)),
            );
        }
        for n in names {
            if let Some(other) = seen.insert(key(&n), &t.def.name) {
                problems.push(Problem {
                    table: t.def.name.clone(),
                    row: String::new(),
                    column: n.clone(),
                    reason: format!(
                        "an index or constraint name that {other} uses too, which {target} cannot tell apart"
                    ),
                });
            }
        }
    }
}

/// Names the target cannot hold: longer than its limit, or equal to another ignoring case
/// where the target ignores it.
fn name_problems(def: &TableDef, target: &str, problems: &mut Vec<Problem>) {
    let limit = match target {
        "postgresql" => Some((63, "bytes")),
        "mysql" => Some((64, "characters")),
        _ => None,
    };
    let mut names: Vec<(&str, &str)> = vec![("table", def.name.as_str())];
    names.extend(def.columns.iter().map(|c| ("column", c.name.as_str())));
    names.extend(def.indexes.iter().map(|i| ("index", i.name.as_str())));
    let mut problem = |column: &str, reason: String| {
        problems.push(Problem {
            table: def.name.clone(),
            row: String::new(),
            column: column.to_string(),
            reason,
        })
    };
    // The names the target makes for keys.
    let made: Vec<String> = match target {
        "postgresql" => std::iter::once(format!("{}_pkey", def.name))
            .chain(
                def.foreign_keys
                    .iter()
                    .map(|f| format!("{}_{}_fkey", def.name, f.column)),
            )
            .collect(),
        "mysql" => (1..=def.foreign_keys.len())
            .map(|i| format!("{}_ibfk_{i}", def.name))
            .collect(),
        _ => Vec::new(),
    };
    names.extend(made.iter().map(|n| ("constraint", n.as_str())));
    if target == "mysql"
        && def.primary_key.iter().any(|k| {
            def.column(k).is_some_and(|c| {
                matches!(
                    c.ty,
                    ColType::Text | ColType::Text191 | ColType::LongText | ColType::Blob
                )
            })
        })
    {
        problem(
            &def.primary_key.join(", "),
            "a primary key on a text or bytes column, which MySQL keys only by a prefix".into(),
        );
    }
    for (what, n) in &names {
        if let Some((max, unit)) = limit {
            let len = if unit == "bytes" {
                n.len()
            } else {
                n.chars().count()
            };
            if len > max {
                problem(
                    n,
                    format!("a {what} name of {len} {unit}, longer than {target} takes ({max})"),
                );
            }
        }
    }
    if target != "postgresql" {
        for (k, c) in def.columns.iter().enumerate() {
            if def.columns[..k]
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&c.name))
            {
                problem(
                    &c.name,
                    format!(
                        "a column name that {target} cannot tell from another one by case alone"
                    ),
                );
            }
        }
    }
}

/// Reads back the rows of a dump, with the dialect that wrote it, a statement (or a chunk
/// of COPY data) at a time: memory does not grow with the tables.
pub struct RowReader<'a> {
    r: StatementReader<BufReader<File>>,
    path: PathBuf,
    dialect: &'static dyn Dialect,
    tables: &'a [Table],
    /// Inside COPY data: the table (if it is one of `tables`) and its column count.
    copy: Option<(usize, usize)>,
    buf: Vec<u8>,
}

impl<'a> RowReader<'a> {
    /// A reader of the dump at `path`, written by `dialect`, for the tables described by
    /// `tables` (as its manifest has them).
    pub fn open(path: &Path, dialect: &'static dyn Dialect, tables: &'a [Table]) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
        Ok(Self {
            r: StatementReader::new(
                BufReader::with_capacity(1 << 20, file),
                path,
                dialect.lexer(),
            ),
            path: path.to_path_buf(),
            dialect,
            tables,
            copy: None,
            buf: Vec::new(),
        })
    }

    fn index(&self, name: &str) -> Result<usize> {
        self.tables
            .iter()
            .position(|t| t.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::bundle(
                    &self.path,
                    format!("holds rows of {name}, which its manifest does not describe"),
                )
            })
    }

    /// The rows of the next statement or chunk, into `out` (emptied first), with their
    /// table's index; `None` at the end of the dump.
    pub fn next_rows(&mut self, out: &mut Vec<Vec<Value>>) -> Result<Option<usize>> {
        out.clear();
        loop {
            if let Some((i, columns)) = self.copy {
                self.buf.clear();
                let line = self.r.line();
                let more = self.r.read_copy_data(columns, &mut self.buf, 1 << 20)?;
                if !more {
                    self.copy = None;
                }
                for l in self.buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    let mut values = Vec::with_capacity(columns);
                    self.dialect
                        .decode_copy_line(l, &self.tables[i], &mut values)
                        .map_err(|e| Error::Dump {
                            path: self.path.clone(),
                            line,
                            reason: crate::error::chain(&e),
                        })?;
                    out.push(values);
                }
                if !out.is_empty() {
                    return Ok(Some(i));
                }
                continue;
            }
            let Some(stmt) = self.r.next_statement()? else {
                return Ok(None);
            };
            let at_line = |e: Error| Error::Dump {
                path: self.path.clone(),
                line: stmt.line,
                reason: crate::error::chain(&e),
            };
            match guard::classify(&stmt, &self.path, self.dialect.lexer().syntax)? {
                Kind::Insert { table, .. } => {
                    let i = self.index(&table).map_err(at_line)?;
                    let mut sink = |row: &[Value]| {
                        out.push(row.to_vec());
                        Ok(())
                    };
                    self.dialect
                        .decode_insert(&stmt.text, &self.tables[i], &mut sink)
                        .map_err(at_line)?;
                    return Ok(Some(i));
                }
                Kind::Copy { table, columns, .. } => {
                    let i = self.index(&table).map_err(at_line)?;
                    self.copy = Some((i, columns));
                }
                _ => {}
            }
        }
    }
}

/// The rows of one table of a dump, in batches.
pub struct TableBatches<'a> {
    reader: RowReader<'a>,
    table: usize,
}

impl<'a> TableBatches<'a> {
    /// The rows of `tables[table]` in the dump `reader` reads.
    pub fn new(reader: RowReader<'a>, table: usize) -> Self {
        Self { reader, table }
    }
}

impl crate::backend::RowBatches for TableBatches<'_> {
    fn next_batch(&mut self, out: &mut Vec<Vec<Value>>) -> Result<bool> {
        loop {
            match self.reader.next_rows(out)? {
                None => return Ok(false),
                Some(i) if i == self.table => return Ok(true),
                Some(_) => {}
            }
        }
    }
}

/// Reads back the rows of a bundle's dump, with the bundle's own dialect.
struct DumpRows<'a> {
    path: PathBuf,
    dialect: &'static dyn Dialect,
    tables: &'a [Table],
}

impl DumpRows<'_> {
    /// Gives every row of the tables `wanted` says yes to, with the table's index.
    fn scan(
        &self,
        wanted: &dyn Fn(usize) -> bool,
        f: &mut (dyn FnMut(usize, &[Value]) -> Result<()> + Send),
    ) -> Result<()> {
        let mut reader = RowReader::open(&self.path, self.dialect, self.tables)?;
        let mut rows = Vec::new();
        while let Some(i) = reader.next_rows(&mut rows)? {
            if wanted(i) {
                for row in &rows {
                    f(i, row)?;
                }
            }
        }
        Ok(())
    }
}

/// The key of a row for messages: `id=5`, or its primary key's values.
fn row_key(table: &Table, row: &[Value]) -> String {
    let parts: Vec<String> = table
        .primary_key
        .iter()
        .filter_map(|k| {
            let i = table
                .columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(strip_prefix_len(k)))?;
            Some(format!(
                "{k}={}",
                row.get(i).map(Value::describe).unwrap_or_default()
            ))
        })
        .collect();
    if parts.is_empty() {
        "a row without a primary key".into()
    } else {
        parts.join(",")
    }
}

/// The next id the source hands out for `table`, from its sequence or `AUTO_INCREMENT`.
fn source_next_id(bundle: &Bundle, source: &Table, def: &TableDef) -> i64 {
    if let Some(q) = def
        .sequence
        .as_deref()
        .and_then(|s| bundle.manifest.schema.sequence(s))
    {
        return if q.is_called {
            q.last_value.saturating_add(1)
        } else {
            q.last_value
        };
    }
    source.auto_increment().unwrap_or(1)
}

/// The source dialect's reader and the target dialect's writer for one conversion.
pub struct Cross<'a> {
    bundle: &'a Bundle,
    source: &'static dyn Dialect,
    target: &'static dyn Dialect,
    options: CrossOptions,
}

impl<'a> Cross<'a> {
    /// A conversion of `bundle` (written by `source`) for a `target` database.
    pub fn new(
        bundle: &'a Bundle,
        source: &'static dyn Dialect,
        target: &'static dyn Dialect,
        options: CrossOptions,
    ) -> Result<Self> {
        unchecked_dump(bundle)?;
        if bundle.manifest.source.dialect != source.name() {
            return Err(Error::Usage(format!(
                "the bundle holds a {} dump, not {}",
                bundle.manifest.source.dialect,
                source.name()
            )));
        }
        Ok(Self {
            bundle,
            source,
            target,
            options,
        })
    }

    fn info(&self, plan: &CrossPlan) -> ConversionInfo {
        ConversionInfo {
            from_dialect: self.source.name().into(),
            options: self.options,
            conversions: plan.conversions,
        }
    }

    fn rows(&self) -> DumpRows<'_> {
        DumpRows {
            path: self.bundle.dump_path(),
            dialect: self.source,
            tables: &self.bundle.manifest.schema.tables,
        }
    }

    /// Reads the whole bundle once and finds what the target gets and what it cannot hold.
    ///
    /// # Behavior
    /// - Every row is read back and its table's digest compared with the manifest's: a dump
    ///   that does not read back exactly is refused.
    /// - Touches no database.
    pub fn plan(&self, progress: &dyn Progress) -> Result<CrossPlan> {
        let m = &self.bundle.manifest;
        let set: Vec<String> = m.schema.tables.iter().map(|t| t.name.clone()).collect();
        let zato = model::zato_tables();
        let mut notes = Notes::default();
        let mut tables: Vec<PlannedTable> = Vec::new();
        for t in &m.schema.tables {
            if !is_sso_table(&t.name) {
                return Err(Error::bundle(
                    self.bundle.dump_path(),
                    format!("{} is not an SSO table", t.name),
                ));
            }
            let (def, from) = plan_table(
                t,
                self.source.name(),
                self.target.name(),
                &set,
                &zato,
                &mut notes,
            );
            tables.push(PlannedTable {
                name: t.name.clone(),
                rows: 0,
                next_id: 1,
                statements: Vec::new(),
                def,
                source: t.clone(),
                from,
            });
        }
        // A column Zato does not have that references a key takes the key's type (InnoDB
        // and PostgreSQL want the two alike).
        for i in 0..tables.len() {
            for f in tables[i].def.foreign_keys.clone() {
                let ty = tables
                    .iter()
                    .find(|t| t.name.eq_ignore_ascii_case(&f.ref_table))
                    .and_then(|t| t.def.column(&f.ref_column))
                    .map(|c| c.ty);
                if let (Some(ty), Some(c)) = (
                    ty,
                    tables[i]
                        .def
                        .columns
                        .iter_mut()
                        .find(|c| c.name == f.column && c.extra),
                ) {
                    c.ty = ty;
                }
            }
        }
        schema_name_problems(&tables, self.target.name(), &mut notes.problems);
        let Notes {
            extras,
            filled,
            mut problems,
        } = notes;
        let mut problem_count = problems.len() as u64;
        let mut conversions = Conversions::default();
        let mut digests: Vec<TableDigest> = vec![TableDigest::new(); tables.len()];
        let mut max_ids: Vec<i64> = vec![0; tables.len()];
        progress.step(&format!(
            "reading every row of {} for {}",
            self.bundle.dump_path().display(),
            self.target.name()
        ));
        let mut converted = Vec::new();
        let mut changed = Vec::new();
        // Keys of unique indexes that the conversion changed (bytes that became text): on a
        // target that compares keys by their bytes only these can newly equal another row's.
        let keys: Vec<Vec<(String, Vec<usize>)>> =
            tables.iter().map(|t| unique_keys(&t.def)).collect();
        let byte_compare = self.target.name() != "mysql";
        let mut watched: std::collections::HashMap<
            (usize, usize),
            std::collections::HashSet<Vec<u8>>,
        > = std::collections::HashMap::new();
        self.rows().scan(&|_| true, &mut |i, row| {
            digests[i].add(row);
            let p = &tables[i];
            let mut report = |column: &str, reason: String| {
                problem_count += 1;
                if problems.len() < MAX_PROBLEMS {
                    problems.push(Problem {
                        table: p.name.clone(),
                        row: row_key(&p.source, row),
                        column: column.to_string(),
                        reason,
                    });
                }
            };
            self.convert_row(
                p,
                row,
                &mut converted,
                &mut changed,
                &mut conversions,
                &mut report,
            );
            if let Some(Value::Integer(id)) = id_column(&p.def).and_then(|k| converted.get(k)) {
                max_ids[i] = max_ids[i].max(*id);
            }
            if byte_compare {
                for (k, (_, cols)) in keys[i].iter().enumerate() {
                    if cols.iter().any(|&c| changed[c])
                        && let Some(key) = key_bytes(&converted, cols)
                    {
                        watched.entry((i, k)).or_default().insert(key);
                    }
                }
            }
            Ok(())
        })?;
        if self.target.name() == "postgresql" {
            // PostgreSQL keeps Zato's foreign keys as constraints: the rows that the source
            // held without their parents (SQLite does not enforce its keys) cannot go in.
            let carried = |o: &Orphan| {
                tables.iter().any(|t| {
                    t.name.eq_ignore_ascii_case(&o.table)
                        && t.def
                            .foreign_keys
                            .iter()
                            .any(|f| f.ref_table.eq_ignore_ascii_case(&o.parent))
                })
            };
            for o in m.orphans.iter().filter(|o| carried(o)) {
                problem_count += 1;
                let t = tables
                    .iter()
                    .find(|t| t.name.eq_ignore_ascii_case(&o.table));
                let column = t
                    .and_then(|t| {
                        t.def
                            .foreign_keys
                            .iter()
                            .find(|f| f.ref_table.eq_ignore_ascii_case(&o.parent))
                    })
                    .map_or_else(
                        || format!("(a foreign key to {})", o.parent),
                        |f| f.column.clone(),
                    );
                // SQLite reports the rowid, which is Zato's integer id.
                let by_id = t.is_some_and(|t| id_column(&t.def).is_some());
                if problems.len() < MAX_PROBLEMS {
                    problems.push(Problem {
                        table: o.table.clone(),
                        row: match o.row {
                            Some(r) if by_id => format!("id={r}"),
                            Some(r) => format!("row {r}"),
                            None => "a row".into(),
                        },
                        column,
                        reason: format!(
                            "references a row of {} that the bundle does not have, and PostgreSQL enforces Zato's foreign keys",
                            o.parent
                        ),
                    });
                }
            }
        }
        if !watched.is_empty() {
            let mut rows_of: std::collections::HashMap<(usize, usize, Vec<u8>), Vec<String>> =
                std::collections::HashMap::new();
            let mut ignore = |_: &str, _: String| {};
            let mut scratch = Conversions::default();
            self.rows()
                .scan(&|i| watched.keys().any(|w| w.0 == i), &mut |i, row| {
                    let p = &tables[i];
                    self.convert_row(
                        p,
                        row,
                        &mut converted,
                        &mut changed,
                        &mut scratch,
                        &mut ignore,
                    );
                    for (k, (_, cols)) in keys[i].iter().enumerate() {
                        if let Some(key) = key_bytes(&converted, cols)
                            && watched.get(&(i, k)).is_some_and(|w| w.contains(&key))
                        {
                            rows_of
                                .entry((i, k, key))
                                .or_default()
                                .push(row_key(&p.source, row));
                        }
                    }
                    Ok(())
                })?;
            let mut groups: Vec<_> = rows_of.into_iter().filter(|(_, r)| r.len() > 1).collect();
            groups.sort();
            for ((i, k, _), rows) in groups {
                let (name, cols) = &keys[i][k];
                let names: Vec<&str> = cols
                    .iter()
                    .map(|&c| tables[i].def.columns[c].name.as_str())
                    .collect();
                problem_count += 1;
                problems.push(Problem {
                    table: tables[i].name.clone(),
                    row: format!("rows {}", rows.join(", ")),
                    column: names.join(", "),
                    reason: format!(
                        "distinct in the bundle, equal once bytes became the text they encode, in unique key {name}"
                    ),
                });
            }
        }
        for (i, t) in tables.iter_mut().enumerate() {
            let s = m.table(&t.name).ok_or_else(|| {
                Error::bundle(
                    self.bundle.dump_path(),
                    format!("{} is not in the manifest", t.name),
                )
            })?;
            if digests[i].rows() != s.rows || digests[i].digest() != s.digest {
                return Err(Error::bundle(
                    self.bundle.dump_path(),
                    format!(
                        "the rows of {} do not read back as the manifest records them ({} rows read, {} recorded, or a digest that differs)",
                        t.name,
                        digests[i].rows(),
                        s.rows
                    ),
                ));
            }
            t.rows = s.rows;
            t.next_id =
                max_ids[i]
                    .saturating_add(1)
                    .max(source_next_id(self.bundle, &t.source, &t.def));
        }
        let mut sequences = Vec::new();
        for t in &mut tables {
            let rendered = model::render_table(&t.def, self.target.name(), t.next_id);
            t.statements = statements(&rendered);
            if self.target.name() == "postgresql"
                && let Some(q) = &t.def.sequence
            {
                sequences.push((q.clone(), t.next_id));
            }
        }
        Ok(CrossPlan {
            source: self.source.name().into(),
            target: self.target.name().into(),
            tables,
            sequences,
            extras,
            filled,
            conversions,
            problems,
            problem_count,
            options: self.options,
        })
    }

    /// Converts one source row into `out`, in the target's column order, reporting what
    /// the target cannot hold.
    fn convert_row(
        &self,
        p: &PlannedTable,
        row: &[Value],
        out: &mut Vec<Value>,
        changed: &mut Vec<bool>,
        conversions: &mut Conversions,
        report: &mut dyn FnMut(&str, String),
    ) {
        out.clear();
        changed.clear();
        for (c, from) in p.def.columns.iter().zip(&p.from) {
            let v = match from {
                Some(k) => {
                    let (v, change) = convert::neutral(
                        row[*k].clone(),
                        self.source.name(),
                        &p.name,
                        &c.name,
                        c.ty,
                    );
                    match change {
                        Change::BlobToText => conversions.blobs_to_text += 1,
                        Change::HexToText => conversions.hex_to_text += 1,
                        Change::None => {}
                    }
                    // A datetime that gained digits may now equal another row's.
                    changed.push(
                        change != Change::None
                            || (c.ty.is_datetime() && v.as_bytes() != row[*k].as_bytes()),
                    );
                    v
                }
                None if c.default_false => {
                    changed.push(false);
                    Value::Integer(0)
                }
                None => {
                    changed.push(false);
                    Value::Null
                }
            };
            if self.target.name() == "postgresql"
                && model::is_bytes_column(&p.name, &c.name)
                && let Value::Text(t) = &v
                && convert::looks_like_pg_hex(t)
            {
                report(
                    &c.name,
                    "text in the form of PostgreSQL's hex text of bytes (\\x...), which a restore from PostgreSQL would read as those bytes".into(),
                );
                out.push(Value::Null);
                continue;
            }
            match convert::fit(
                v,
                self.target.name(),
                c.ty,
                c.nullable || from.is_none(),
                self.options.drop_microseconds,
            ) {
                Ok(Fit::Exact(v)) => out.push(v),
                Ok(Fit::MicrosecondsDropped(v)) => {
                    conversions.microseconds_dropped += 1;
                    out.push(v);
                }
                Err(reason) => {
                    report(&c.name, reason);
                    out.push(Value::Null);
                }
            }
        }
    }
}

/// The unique keys of a table (its primary key and its unique indexes), each with its
/// columns' positions.
fn unique_keys(def: &TableDef) -> Vec<(String, Vec<usize>)> {
    let pos = |c: &str| def.columns.iter().position(|k| k.name == c);
    let mut out = Vec::new();
    if let Some(cols) = def
        .primary_key
        .iter()
        .map(|c| pos(c))
        .collect::<Option<Vec<_>>>()
        && !cols.is_empty()
    {
        out.push(("PRIMARY KEY".to_string(), cols));
    }
    for i in def.indexes.iter().filter(|i| i.unique) {
        if let Some(cols) = i
            .columns
            .iter()
            .map(|c| pos(&c.0))
            .collect::<Option<Vec<_>>>()
        {
            out.push((i.name.clone(), cols));
        }
    }
    out
}

/// The encoding of a key's values, or `None` if one is NULL (NULLs never collide).
fn key_bytes(row: &[Value], cols: &[usize]) -> Option<Vec<u8>> {
    let values: Vec<Value> = cols.iter().map(|&c| row[c].clone()).collect();
    if values.iter().any(|v| matches!(v, Value::Null)) {
        return None;
    }
    let mut out = Vec::new();
    crate::digest::encode_row(&values, &mut out);
    Some(out)
}

fn id_column(def: &TableDef) -> Option<usize> {
    match def.primary_key.as_slice() {
        [k] => def
            .columns
            .iter()
            .position(|c| c.name == *k && matches!(c.ty, ColType::Integer | ColType::BigInt)),
        _ => None,
    }
}

/// The statements that create a rendered table, in the order a dump runs them.
fn statements(t: &Table) -> Vec<String> {
    let mut out = vec![t.create_sql.clone()];
    out.extend(
        t.constraints
            .iter()
            .filter(|c| !c.is_foreign_key())
            .map(|c| c.create_sql.clone()),
    );
    out.extend(t.indexes.iter().filter_map(|i| i.create_sql.clone()));
    out.extend(
        t.constraints
            .iter()
            .filter(|c| c.is_foreign_key())
            .map(|c| c.create_sql.clone()),
    );
    out
}

/// A [`Dumper`] over a bundle of another dialect: what [`crate::backup::backup`] needs to
/// write the converted bundle.
struct CrossDumper<'a> {
    cross: &'a Cross<'a>,
    plan: &'a CrossPlan,
}

#[async_trait]
impl Dumper for CrossDumper<'_> {
    fn dialect(&self) -> &'static dyn Dialect {
        self.cross.target
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            transactional_ddl: false,
            atomic_restore: false,
            sequences: false,
            enforces_foreign_keys: false,
            detach_dependents: false,
        }
    }

    fn describe(&self) -> String {
        format!(
            "the {} bundle {}, converted for {}",
            self.cross.source.name(),
            self.cross.bundle.dir.display(),
            self.cross.target.name()
        )
    }

    async fn begin(&mut self) -> Result<SourceSnapshot> {
        let target = self.cross.target.name();
        let tables = self
            .plan
            .tables
            .iter()
            .map(|t| model::render_table(&t.def, target, t.next_id))
            .collect();
        let sequences = self
            .plan
            .sequences
            .iter()
            .map(|(name, next)| model::render_sequence(name, *next))
            .collect();
        Ok(SourceSnapshot {
            server_version: self.cross.bundle.manifest.source.server_version.clone(),
            schema: Schema { tables, sequences },
            warnings: Vec::new(),
            prologue: String::new(),
            conversion: Some(self.cross.info(self.plan)),
        })
    }

    async fn stream_rows(&mut self, table: &Table, sink: &mut dyn RowSink) -> Result<()> {
        let Some(i) = self.plan.tables.iter().position(|t| t.name == table.name) else {
            return Err(Error::Usage(format!("{} is not in the bundle", table.name)));
        };
        let p = &self.plan.tables[i];
        let mut out = Vec::new();
        let mut changed = Vec::new();
        let mut conversions = Conversions::default();
        let mut failed: Option<String> = None;
        self.cross.rows().scan(&|k| k == i, &mut |_, row| {
            let mut report = |column: &str, reason: String| {
                failed.get_or_insert_with(|| {
                    format!(
                        "{} {} column {column}: {reason}",
                        p.name,
                        row_key(&p.source, row)
                    )
                });
            };
            self.cross.convert_row(
                p,
                row,
                &mut out,
                &mut changed,
                &mut conversions,
                &mut report,
            );
            if let Some(f) = failed.take() {
                return Err(Error::Refused { reason: f });
            }
            sink.row(&out)
        })
    }

    async fn orphans(&mut self, _tables: &[Table]) -> Result<Vec<Orphan>> {
        Ok(self.cross.bundle.manifest.orphans.clone())
    }

    async fn estimated_rows(&mut self, table: &Table) -> Option<u64> {
        self.plan
            .tables
            .iter()
            .find(|t| t.name == table.name)
            .map(|t| t.rows)
    }

    async fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Converts the bundle into a new bundle `out` in the target's dialect (with the bundle's
/// secrets.conf), refusing first if any value cannot be held exactly.
pub async fn convert_bundle(
    cross: &Cross<'_>,
    out: &Path,
    progress: &dyn Progress,
) -> Result<(CrossPlan, BackupReport)> {
    let plan = cross.plan(progress)?;
    plan.refusal()?;
    let secrets = cross
        .bundle
        .secrets_path()
        .map(|p| SecretsConf::read(&p))
        .transpose()?;
    let mut dumper = CrossDumper { cross, plan: &plan };
    let report = backup::backup(&mut dumper, secrets.as_ref(), out, progress).await?;
    Ok((plan, report))
}

/// A bundle's row digests in neutral form ([`convert::NeutralForm`]), to compare with a
/// database of another dialect, or with one that a conversion went through.
#[derive(Debug, Clone, Serialize)]
pub struct NeutralDigests {
    /// The bundle's dialect.
    pub from_dialect: String,
    /// Returns true if and only if microseconds of datetimes are left out of the comparison.
    pub drop_microseconds: bool,
    /// How many of the bundle's datetimes have microseconds that the comparison leaves out.
    pub microseconds_dropped: u64,
    /// Per table: rows and neutral digest.
    pub tables: Vec<crate::bundle::TableSummary>,
}

/// Refuses a bundle opened by [`Bundle::open_deferring_dump_hash`] whose dump's SHA-256 was
/// not checked since: a conversion reads the dump by its own path.
fn unchecked_dump(bundle: &Bundle) -> Result<()> {
    if bundle.dump_hash_checked() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{}: the dump's SHA-256 has not been checked (Bundle::check_dump_hash)",
        bundle.dir.display()
    )))
}

/// Reads every row of `bundle` (written by `dialect`) and digests it in neutral form.
///
/// # Behavior
/// - Refuses a bundle whose dump's SHA-256 was not checked (see
///   [`Bundle::open_deferring_dump_hash`]).
/// - The rows must read back exactly: each table's digest as stored must equal the
///   manifest's, or the bundle is refused.
pub fn neutral_digests(
    bundle: &Bundle,
    dialect: &'static dyn Dialect,
    drop_microseconds: bool,
    progress: &dyn Progress,
) -> Result<NeutralDigests> {
    unchecked_dump(bundle)?;
    let tables = &bundle.manifest.schema.tables;
    let forms: Vec<convert::NeutralForm> = tables
        .iter()
        .map(|t| convert::NeutralForm::new(dialect.name(), t, drop_microseconds))
        .collect();
    let mut raw = vec![TableDigest::new(); tables.len()];
    let mut neutral = vec![TableDigest::new(); tables.len()];
    let mut dropped = 0u64;
    let mut out = Vec::new();
    progress.step(&format!(
        "reading every row of {} in neutral form",
        bundle.dump_path().display()
    ));
    let rows = DumpRows {
        path: bundle.dump_path(),
        dialect,
        tables,
    };
    rows.scan(&|_| true, &mut |i, row| {
        raw[i].add(row);
        dropped += forms[i].apply(&tables[i].columns, row, &mut out);
        neutral[i].add(&out);
        Ok(())
    })?;
    let mut summaries = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let s = bundle.manifest.table(&t.name);
        if s.is_none_or(|s| s.digest != raw[i].digest() || s.rows != raw[i].rows()) {
            return Err(Error::bundle(
                bundle.dump_path(),
                format!(
                    "the rows of {} do not read back as the manifest records them",
                    t.name
                ),
            ));
        }
        summaries.push(crate::bundle::TableSummary {
            name: t.name.clone(),
            rows: neutral[i].rows(),
            digest: neutral[i].digest(),
        });
    }
    Ok(NeutralDigests {
        from_dialect: dialect.name().into(),
        drop_microseconds,
        microseconds_dropped: dropped,
        tables: summaries,
    })
}
