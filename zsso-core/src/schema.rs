//! The neutral schema model: what a backup saw of the SSO tables.
//!
//! It is written into the manifest, so that `zsso inspect` can show it and a restore can
//! check it, and it carries each object's original DDL in the source's dialect.

use serde::{Deserialize, Serialize};

/// The SSO tables of one database.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// The tables, in foreign-key order (parents first).
    pub tables: Vec<Table>,
    /// The sequences that belong to the SSO set (PostgreSQL), by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sequences: Vec<Sequence>,
}

impl Schema {
    /// The table of that name, compared case-insensitively (ASCII).
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// The sequence of that name, compared case-insensitively (ASCII).
    pub fn sequence(&self, name: &str) -> Option<&Sequence> {
        self.sequences
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }
}

/// One table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// The table's name.
    pub name: String,
    /// The columns, in their order in the table.
    pub columns: Vec<Column>,
    /// The primary key's columns, empty if the table has none.
    pub primary_key: Vec<String>,
    /// Foreign keys, including references to tables outside the SSO set.
    pub foreign_keys: Vec<ForeignKey>,
    /// Indexes, including the ones behind UNIQUE constraints.
    pub indexes: Vec<Index>,
    /// Triggers of the table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Trigger>,
    /// Constraints made after the data (PostgreSQL): primary keys, UNIQUE, CHECK, foreign keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
    /// The `CREATE TABLE` statement exactly as the source holds it.
    pub create_sql: String,
}

impl Table {
    /// The names of the columns, in order.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// The `AUTO_INCREMENT=N` table option of a MySQL `CREATE TABLE`: the next id the table
    /// hands out, if the statement says.
    pub fn auto_increment(&self) -> Option<i64> {
        self.create_sql.rsplit_once(')').and_then(|(_, opts)| {
            opts.split_whitespace()
                .find_map(|o| o.strip_prefix("AUTO_INCREMENT="))
                .and_then(|n| n.parse().ok())
        })
    }

    /// The tables this one references, without itself, without duplicates.
    pub fn referenced_tables(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for fk in &self.foreign_keys {
            if !fk.ref_table.eq_ignore_ascii_case(&self.name)
                && !out.iter().any(|t| t.eq_ignore_ascii_case(&fk.ref_table))
            {
                out.push(&fk.ref_table);
            }
        }
        out
    }
}

/// One column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// The declared type, as written in the DDL (may be empty in SQLite).
    pub data_type: String,
    /// Returns true if and only if the column accepts NULL.
    pub nullable: bool,
    /// The default expression as written in the DDL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// One foreign key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ForeignKey {
    /// The constraint's name where the database keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The referencing columns.
    pub columns: Vec<String>,
    /// The referenced table.
    pub ref_table: String,
    /// The referenced columns.
    pub ref_columns: Vec<String>,
    /// The `ON DELETE` action, such as `CASCADE`.
    pub on_delete: String,
    /// The `ON UPDATE` action.
    pub on_update: String,
}

/// One index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// The index's name.
    pub name: String,
    /// Returns true if and only if the index is unique.
    pub unique: bool,
    /// Where it comes from: `index` (CREATE INDEX), `unique` (a UNIQUE constraint) or
    /// `primary_key`.
    pub origin: String,
    /// The indexed columns (or expressions), in order.
    pub columns: Vec<String>,
    /// The `CREATE INDEX` statement, for indexes made by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_sql: Option<String>,
}

/// One trigger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// The trigger's name.
    pub name: String,
    /// The `CREATE TRIGGER` statement.
    pub create_sql: String,
}

/// A constraint that a dump adds after the data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    /// The constraint's name.
    pub name: String,
    /// Its kind: `primary_key`, `unique`, `check`, `foreign_key` or `exclude`.
    pub kind: String,
    /// Its definition as the database prints it, such as `UNIQUE (username)`.
    pub definition: String,
    /// The statement that adds it to its table.
    pub create_sql: String,
}

impl Constraint {
    /// Returns true if and only if this is a foreign key.
    pub fn is_foreign_key(&self) -> bool {
        self.kind == "foreign_key"
    }
}

/// A sequence and its state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    /// The sequence's name.
    pub name: String,
    /// Its type, such as `bigint`.
    pub data_type: String,
    /// `START WITH`.
    pub start: i64,
    /// `INCREMENT BY`.
    pub increment: i64,
    /// `MINVALUE`.
    pub min: i64,
    /// `MAXVALUE`.
    pub max: i64,
    /// `CACHE`.
    pub cache: i64,
    /// Returns true if and only if it wraps around at its limit.
    pub cycle: bool,
    /// The last value it gave out (or its start, if it never has).
    pub last_value: i64,
    /// Returns true if and only if `last_value` was given out (the next value is the one after).
    pub is_called: bool,
    /// The column that owns it (a `serial` or identity column), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_by: Option<OwnedBy>,
    /// Returns true if and only if it belongs to an identity column, which creates it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identity: bool,
    /// The statement that creates it (empty for an identity sequence).
    pub create_sql: String,
}

/// The column that owns a sequence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OwnedBy {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
}
