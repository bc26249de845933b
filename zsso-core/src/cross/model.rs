//! Zato 3.2's SSO tables as a neutral model, and the DDL each database gets for them.
//!
//! The statements are the ones Zato itself (SQLAlchemy) leaves in each database, as
//! `../shared/fixtures/zato-3.2/ddl-{sqlite,postgresql,mysql}.sql` record them: the same
//! tables, types, nullability, keys, UNIQUE constraints and indexes (with MySQL's prefix
//! lengths), CHECKs, foreign keys with their actions, and PostgreSQL's standalone sequences.

use crate::schema::{Column, Constraint, ForeignKey, Index, Sequence, Table};
use serde::Serialize;

/// A column's type, independent of the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ColType {
    /// Zato's `Integer`: 32 bits on PostgreSQL and MySQL, 64 on SQLite.
    Integer,
    /// A 64-bit integer.
    BigInt,
    /// A boolean, stored as 0 and 1 where the database has no boolean type.
    Boolean,
    /// Text of at most this many characters.
    Varchar(u32),
    /// Zato's `Text`: at most 65,535 bytes on MySQL.
    Text,
    /// Zato's `Text(191)`: `TEXT(191)` on SQLite, text elsewhere.
    Text191,
    /// Text without a practical limit (MySQL `LONGTEXT`): for columns Zato does not have.
    LongText,
    /// A date and time without time zone, to the microsecond (on MySQL, as Zato creates it,
    /// to the second).
    DateTime,
    /// A date and time to the microsecond everywhere (MySQL `datetime(6)`): for columns Zato
    /// does not have.
    DateTime6,
    /// A binary64 float.
    Real,
    /// Bytes.
    Blob,
}

impl ColType {
    /// Returns true if and only if values of the type are dates and times.
    pub fn is_datetime(self) -> bool {
        matches!(self, ColType::DateTime | ColType::DateTime6)
    }

    /// Returns true if and only if values of the type are text.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            ColType::Varchar(_) | ColType::Text | ColType::Text191 | ColType::LongText
        )
    }

    /// The closest faithful type for a column declared as `declared` in a `dialect` database.
    pub fn of_declared(dialect: &str, declared: &str) -> ColType {
        let t = declared.trim().to_ascii_lowercase();
        let base = t.split('(').next().unwrap_or("").trim();
        let len: Option<u32> = t
            .split_once('(')
            .and_then(|(_, r)| r.split(')').next())
            .and_then(|n| n.trim().parse().ok());
        if t.contains("with time zone") {
            // Its text carries the zone; no Zato column has one.
            return ColType::LongText;
        }
        match base {
            "boolean" | "bool" => ColType::Boolean,
            "int" | "integer" | "mediumint" if t.contains("unsigned") => ColType::BigInt,
            "tinyint" if len == Some(1) => ColType::Boolean,
            "integer" | "int" if dialect == "sqlite" => ColType::BigInt,
            "integer" | "int" | "int4" | "mediumint" | "smallint" | "int2" | "tinyint"
            | "serial" => ColType::Integer,
            "bigint" | "int8" | "bigserial" => ColType::BigInt,
            "varchar" | "character varying" | "nvarchar" | "char" | "character" | "nchar"
                if len.is_some() =>
            {
                ColType::Varchar(len.unwrap_or(0))
            }
            "text" if dialect == "sqlite" && len == Some(191) => ColType::Text191,
            "text" if dialect == "mysql" => ColType::Text,
            "datetime" | "timestamp" | "timestamp without time zone" => ColType::DateTime,
            "real" | "double" | "double precision" | "float" | "float8" | "float4" => ColType::Real,
            "bytea" | "blob" | "tinyblob" | "mediumblob" | "longblob" | "binary" | "varbinary"
            | "bit" | "" => ColType::Blob,
            _ => ColType::LongText,
        }
    }

    /// The type as `dialect` declares it.
    pub fn declared(self, dialect: &str) -> String {
        match (dialect, self) {
            ("sqlite", ColType::Integer | ColType::BigInt) => "INTEGER".into(),
            ("sqlite", ColType::Boolean) => "BOOLEAN".into(),
            ("sqlite", ColType::Varchar(n)) => format!("VARCHAR({n})"),
            ("sqlite", ColType::Text | ColType::LongText) => "TEXT".into(),
            ("sqlite", ColType::Text191) => "TEXT(191)".into(),
            ("sqlite", ColType::DateTime | ColType::DateTime6) => "DATETIME".into(),
            ("sqlite", ColType::Real) => "REAL".into(),
            ("sqlite", ColType::Blob) => "BLOB".into(),
            ("mysql", ColType::Integer) => "int(11)".into(),
            ("mysql", ColType::BigInt) => "bigint(20)".into(),
            ("mysql", ColType::Boolean) => "tinyint(1)".into(),
            // Longer ones do not fit a MySQL row; the length is still checked.
            ("mysql", ColType::Varchar(n)) if n > 16_383 => "longtext".into(),
            ("mysql", ColType::Varchar(n)) => format!("varchar({n})"),
            ("mysql", ColType::Text | ColType::Text191) => "text".into(),
            ("mysql", ColType::LongText) => "longtext".into(),
            ("mysql", ColType::DateTime) => "datetime".into(),
            ("mysql", ColType::DateTime6) => "datetime(6)".into(),
            ("mysql", ColType::Real) => "double".into(),
            ("mysql", ColType::Blob) => "longblob".into(),
            (_, ColType::Integer) => "integer".into(),
            (_, ColType::BigInt) => "bigint".into(),
            (_, ColType::Boolean) => "boolean".into(),
            (_, ColType::Varchar(n)) => format!("character varying({n})"),
            (_, ColType::Text | ColType::Text191 | ColType::LongText) => "text".into(),
            (_, ColType::DateTime | ColType::DateTime6) => "timestamp without time zone".into(),
            (_, ColType::Real) => "double precision".into(),
            (_, ColType::Blob) => "bytea".into(),
        }
    }
}

/// One column of the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnDef {
    /// The name.
    pub name: String,
    /// The type.
    pub ty: ColType,
    /// Returns true if and only if it accepts NULL.
    pub nullable: bool,
    /// Returns true if and only if it defaults to false (Zato's `is_totp_enabled`).
    pub default_false: bool,
    /// Returns true if and only if Zato's schema does not have it.
    pub extra: bool,
}

/// One index or UNIQUE constraint of the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexDef {
    /// The name.
    pub name: String,
    /// Returns true if and only if it is unique.
    pub unique: bool,
    /// Returns true if and only if it is a UNIQUE constraint (not a `CREATE INDEX`).
    pub constraint: bool,
    /// The columns, each with the prefix length MySQL indexes it by, if any.
    pub columns: Vec<(String, Option<u32>)>,
}

/// One foreign key of the model (`ON DELETE CASCADE`, as all of Zato's are).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForeignKeyDef {
    /// The referencing column.
    pub column: String,
    /// The referenced table.
    pub ref_table: String,
    /// The referenced column.
    pub ref_column: String,
    /// The `ON DELETE` action.
    pub on_delete: String,
}

/// One table of the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableDef {
    /// The name.
    pub name: String,
    /// The columns, in order.
    pub columns: Vec<ColumnDef>,
    /// The primary key's columns.
    pub primary_key: Vec<String>,
    /// UNIQUE constraints and indexes, in the order Zato creates them.
    pub indexes: Vec<IndexDef>,
    /// Foreign keys, in order.
    pub foreign_keys: Vec<ForeignKeyDef>,
    /// The standalone PostgreSQL sequence Zato takes the ids from.
    pub sequence: Option<String>,
    /// The order of the keys in MySQL's `SHOW CREATE TABLE`, by name (`PRIMARY` first).
    pub mysql_key_order: Vec<String>,
    /// Returns true if and only if Zato's schema does not have the table.
    pub extra: bool,
}

impl TableDef {
    /// The column of that name (ASCII case ignored).
    pub fn column(&self, name: &str) -> Option<&ColumnDef> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
}

fn col(spec: &str) -> ColumnDef {
    // `name TYPE [null] [false]`
    let mut parts = spec.split_whitespace();
    let name = parts.next().unwrap_or_default().to_string();
    let ty = match parts.next().unwrap_or_default() {
        "I" => ColType::Integer,
        "B" => ColType::Boolean,
        "T" => ColType::Text,
        "T191" => ColType::Text191,
        "D" => ColType::DateTime,
        v => ColType::Varchar(v.trim_start_matches('V').parse().unwrap_or(191)),
    };
    let rest: Vec<&str> = parts.collect();
    ColumnDef {
        name,
        ty,
        nullable: rest.contains(&"null"),
        default_false: rest.contains(&"false"),
        extra: false,
    }
}

fn index(name: &str, unique: bool, constraint: bool, columns: &[&str]) -> IndexDef {
    IndexDef {
        name: name.into(),
        unique,
        constraint,
        columns: columns
            .iter()
            .map(|c| match c.split_once('(') {
                Some((n, p)) => (n.to_string(), p.trim_end_matches(')').parse().ok()),
                None => (c.to_string(), None),
            })
            .collect(),
    }
}

fn fk(column: &str, ref_table: &str, ref_column: &str) -> ForeignKeyDef {
    ForeignKeyDef {
        column: column.into(),
        ref_table: ref_table.into(),
        ref_column: ref_column.into(),
        on_delete: "CASCADE".into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn table(
    name: &str,
    columns: &str,
    indexes: Vec<IndexDef>,
    foreign_keys: Vec<ForeignKeyDef>,
    sequence: &str,
    mysql_key_order: &str,
) -> TableDef {
    TableDef {
        name: name.into(),
        columns: columns
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(col)
            .collect(),
        primary_key: vec!["id".into()],
        indexes,
        foreign_keys,
        sequence: Some(sequence.into()),
        mysql_key_order: mysql_key_order
            .split_whitespace()
            .map(String::from)
            .collect(),
        extra: false,
    }
}

/// Zato 3.2's seven SSO tables, in the order Zato creates them.
pub fn zato_tables() -> Vec<TableDef> {
    vec![
        table(
            "zato_sso_group",
            "id I, is_active B, is_internal B, group_id V191, name V191, source V191, \
             opaque1 T null, parent_id I null",
            vec![
                index("zato_g_name_uq", true, true, &["name", "source"]),
                index("zato_g_gid_uq", true, true, &["group_id"]),
            ],
            vec![fk("parent_id", "zato_sso_group", "id")],
            "zato_sso_group_id_seq",
            "PRIMARY zato_g_name_uq zato_g_gid_uq parent_id",
        ),
        table(
            "zato_sso_user",
            "id I, user_id V191, is_active B, is_internal B, is_super_user B, is_locked B, \
             locked_time D null, creation_ctx T, locked_by V191 null, approval_status V191, \
             approval_status_mod_time D, approval_status_mod_by V191, username V191, password T, \
             password_is_set B, password_must_change B, password_last_set D, password_expiry D, \
             sign_up_status V191, sign_up_time D, sign_up_confirm_time D null, \
             sign_up_confirm_token V191, email T null, display_name V191 null, \
             first_name V191 null, middle_name V191 null, last_name V191 null, \
             display_name_upper V191 null, first_name_upper V191 null, \
             middle_name_upper V191 null, last_name_upper V191 null, \
             is_rate_limit_active B null, rate_limit_type V40 null, rate_limit_def T null, \
             rate_limit_check_parent_def B null, is_totp_enabled B false, totp_key T null, \
             totp_label T null, opaque1 T null",
            vec![
                index("zato_u_usrn_uq", true, true, &["username"]),
                index("zato_user_id_uq", true, true, &["user_id"]),
                index("zato_u_appr_stat_idx", false, false, &["approval_status"]),
                index("zato_u_sigst_idx", false, false, &["sign_up_status"]),
                index(
                    "zato_u_sigctok_idx",
                    true,
                    false,
                    &["sign_up_confirm_token"],
                ),
                index("zato_u_email_idx", false, false, &["email(767)"]),
                index(
                    "zato_u_alln_idx",
                    false,
                    false,
                    &["first_name_upper", "middle_name_upper", "last_name_upper"],
                ),
                index("zato_u_dspn_idx", false, false, &["display_name_upper"]),
                index("zato_u_lastn_idx", false, false, &["last_name_upper"]),
            ],
            vec![],
            "zato_sso_user_id_seq",
            "PRIMARY zato_u_usrn_uq zato_user_id_uq zato_u_sigctok_idx zato_u_email_idx \
             zato_u_sigst_idx zato_u_alln_idx zato_u_dspn_idx zato_u_lastn_idx zato_u_appr_stat_idx",
        ),
        table(
            "zato_sso_user_group",
            "id I, opaque1 T null, user_id I, group_id I",
            vec![index("zato_ug_id_uq", true, true, &["user_id", "group_id"])],
            vec![
                fk("user_id", "zato_sso_user", "id"),
                fk("group_id", "zato_sso_group", "id"),
            ],
            "zato_sso_ug_seq",
            "PRIMARY zato_ug_id_uq group_id",
        ),
        table(
            "zato_sso_session",
            "id I, ust V191, creation_time D, expiration_time D, remote_addr T, user_agent T, \
             auth_type T, auth_principal T, ext_session_id T null, opaque1 T null, user_id I",
            vec![
                index("zato_sso_extsi_idx", false, false, &["ext_session_id(767)"]),
                index("zato_sso_sust_idx", true, false, &["ust"]),
            ],
            vec![fk("user_id", "zato_sso_user", "id")],
            "zato_sso_sid_seq",
            "PRIMARY zato_sso_sust_idx user_id zato_sso_extsi_idx",
        ),
        table(
            "zato_sso_linked_auth",
            "id I, is_active B, is_internal B, creation_time D, last_modified D null, \
             has_ext_principal B, auth_type T191, auth_id I null, auth_principal T191 null, \
             auth_source T, opaque1 T null, user_id V191",
            vec![index(
                "auth_idx",
                true,
                false,
                &[
                    "auth_type(191)",
                    "user_id",
                    "auth_id",
                    "auth_principal(191)",
                ],
            )],
            vec![fk("user_id", "zato_sso_user", "user_id")],
            "zato_sso_linked_auth_seq",
            "PRIMARY auth_idx user_id",
        ),
        table(
            "zato_sso_password_reset",
            "id I, creation_time D, expiration_time D, creation_ctx T, token V191, type_ V191, \
             reset_key V191, reset_key_exp_time D, has_been_accessed B, access_time D null, \
             access_ctx T null, is_password_reset B, password_reset_time D null, \
             password_reset_ctx T null, opaque1 T null, user_id V191",
            vec![index(
                "zato_prt_value_type",
                true,
                false,
                &["token", "type_"],
            )],
            vec![fk("user_id", "zato_sso_user", "user_id")],
            "zato_sso_flow_prt_seq",
            "PRIMARY zato_prt_value_type user_id",
        ),
        table(
            "zato_sso_attr",
            "id I, creation_time D, last_modified D null, expiration_time D null, \
             is_session_attr B, is_encrypted B, serial_method V20, name V191, value T null, \
             _ust_string V191, opaque1 T null, user_id V191, ust V191 null",
            vec![
                index(
                    "zato_attr_name_uq",
                    true,
                    true,
                    &["name", "is_session_attr", "user_id", "_ust_string"],
                ),
                index("zato_attr_usr", false, false, &["user_id"]),
                index("zato_attr_usr_ust", false, false, &["user_id", "ust"]),
                index(
                    "zato_attr_usr_ust_name",
                    true,
                    false,
                    &["user_id", "ust", "name"],
                ),
                index("zato_attr_usr_name", false, false, &["user_id", "name"]),
            ],
            vec![
                fk("user_id", "zato_sso_user", "user_id"),
                fk("ust", "zato_sso_session", "ust"),
            ],
            "zato_sso_attr_seq",
            "PRIMARY zato_attr_name_uq zato_attr_usr_ust_name ust zato_attr_usr \
             zato_attr_usr_ust zato_attr_usr_name",
        ),
    ]
}

/// The columns of `zato_sso_user` into which Zato writes Python bytes (a BLOB on SQLite,
/// `\x...` hex text on PostgreSQL, plain text on MySQL).
pub const BYTES_COLUMNS: &[&str] = &[
    "password",
    "email",
    "totp_key",
    "totp_label",
    "sign_up_confirm_token",
];

/// Returns true if and only if Zato writes Python bytes into `table`.`column`.
pub fn is_bytes_column(table: &str, column: &str) -> bool {
    table.eq_ignore_ascii_case("zato_sso_user")
        && BYTES_COLUMNS.iter().any(|c| c.eq_ignore_ascii_case(column))
}

fn plain_ident(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

/// Words that are never left bare as names (a superset of what the three databases reserve
/// among names a table might plausibly use).
const RESERVED: &[&str] = &[
    "add",
    "all",
    "alter",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "between",
    "both",
    "by",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "commit",
    "constraint",
    "create",
    "cross",
    "current_date",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "delete",
    "desc",
    "distinct",
    "do",
    "drop",
    "else",
    "end",
    "escape",
    "except",
    "exists",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "in",
    "index",
    "inner",
    "insert",
    "intersect",
    "into",
    "is",
    "join",
    "key",
    "leading",
    "left",
    "like",
    "limit",
    "natural",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "set",
    "some",
    "table",
    "then",
    "to",
    "trailing",
    "transaction",
    "true",
    "union",
    "unique",
    "update",
    "user",
    "using",
    "values",
    "when",
    "where",
    "window",
    "with",
];

/// Returns true if and only if `s` is a name of Zato's schema (a table, column or index).
fn zato_name(s: &str) -> bool {
    static NAMES: std::sync::OnceLock<std::collections::HashSet<String>> =
        std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| {
            let mut n = std::collections::HashSet::new();
            for t in zato_tables() {
                n.insert(t.name.clone());
                n.extend(t.columns.iter().map(|c| c.name.clone()));
                n.extend(t.indexes.iter().map(|i| i.name.clone()));
            }
            n
        })
        .contains(s)
}

/// A SQLite name as SQLAlchemy writes Zato's: bare; any other name is quoted.
fn sqlite_ident(s: &str) -> String {
    if plain_ident(s) && !RESERVED.contains(&s) && zato_name(s) {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

fn pg_ident(s: &str) -> String {
    sqlite_ident(s)
}

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn bt(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// The table as `dialect` holds it, with its statements; `next_id` is the next id the
/// database hands out (MySQL's `AUTO_INCREMENT`).
pub fn render_table(t: &TableDef, dialect: &str, next_id: i64) -> Table {
    let columns: Vec<Column> = t
        .columns
        .iter()
        .map(|c| Column {
            name: c.name.clone(),
            data_type: c.ty.declared(dialect),
            nullable: c.nullable,
            default: c.default_false.then(|| {
                match dialect {
                    "sqlite" => "(0)",
                    "mysql" => "0",
                    _ => "false",
                }
                .to_string()
            }),
        })
        .collect();
    let foreign_keys: Vec<ForeignKey> = t
        .foreign_keys
        .iter()
        .enumerate()
        .map(|(i, f)| ForeignKey {
            name: match dialect {
                "sqlite" => None,
                "mysql" => Some(format!("{}_ibfk_{}", t.name, i + 1)),
                _ => Some(format!("{}_{}_fkey", t.name, f.column)),
            },
            columns: vec![f.column.clone()],
            ref_table: f.ref_table.clone(),
            ref_columns: vec![f.ref_column.clone()],
            on_delete: f.on_delete.clone(),
            on_update: "NO ACTION".into(),
        })
        .collect();
    let mut table = Table {
        name: t.name.clone(),
        columns,
        primary_key: t.primary_key.clone(),
        foreign_keys,
        ..Table::default()
    };
    match dialect {
        "sqlite" => render_sqlite(t, &mut table),
        "mysql" => render_mysql(t, &mut table, next_id),
        _ => render_postgres(t, &mut table),
    }
    table
}

fn bool_columns(t: &TableDef) -> impl Iterator<Item = &ColumnDef> {
    t.columns
        .iter()
        .filter(|c| c.ty == ColType::Boolean && !c.extra)
}

/// The column lines of a standard `CREATE TABLE` (SQLite's and PostgreSQL's): name, type,
/// the default of a boolean that defaults to false, `NOT NULL`.
fn column_lines(
    t: &TableDef,
    indent: &str,
    ident: fn(&str) -> String,
    dialect: &str,
    false_default: &str,
) -> Vec<String> {
    t.columns
        .iter()
        .map(|c| {
            let mut l = format!("{indent}{} {}", ident(&c.name), c.ty.declared(dialect));
            if c.default_false {
                l.push_str(" DEFAULT ");
                l.push_str(false_default);
            }
            if !c.nullable {
                l.push_str(" NOT NULL");
            }
            l
        })
        .collect()
}

/// The `CREATE INDEX` statements of the indexes that are not UNIQUE constraints; `using` is
/// what comes between the table and the column list.
fn create_indexes(t: &TableDef, table: &mut Table, ident: fn(&str) -> String, using: &str) {
    for i in t.indexes.iter().filter(|i| !i.constraint) {
        let cols: Vec<String> = i.columns.iter().map(|c| c.0.clone()).collect();
        let names: Vec<String> = cols.iter().map(|c| ident(c)).collect();
        table.indexes.push(Index {
            name: i.name.clone(),
            unique: i.unique,
            origin: "index".into(),
            create_sql: Some(format!(
                "CREATE {}INDEX {} ON {}{using} ({})",
                if i.unique { "UNIQUE " } else { "" },
                ident(&i.name),
                ident(&t.name),
                names.join(", ")
            )),
            columns: cols,
        });
    }
}

fn render_sqlite(t: &TableDef, table: &mut Table) {
    let mut lines = column_lines(t, "\t", sqlite_ident, "sqlite", "(0)");
    let names = |cols: &[String]| {
        cols.iter()
            .map(|c| sqlite_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !t.primary_key.is_empty() {
        lines.push(format!("\tPRIMARY KEY ({})", names(&t.primary_key)));
    }
    for i in t.indexes.iter().filter(|i| i.constraint) {
        let cols: Vec<String> = i.columns.iter().map(|c| c.0.clone()).collect();
        lines.push(format!(
            "\tCONSTRAINT {} UNIQUE ({})",
            sqlite_ident(&i.name),
            names(&cols)
        ));
    }
    for c in bool_columns(t) {
        lines.push(format!("\tCHECK ({} IN (0, 1))", sqlite_ident(&c.name)));
    }
    for f in &t.foreign_keys {
        lines.push(format!(
            "\tFOREIGN KEY({}) REFERENCES {} ({}) ON DELETE {}",
            sqlite_ident(&f.column),
            sqlite_ident(&f.ref_table),
            sqlite_ident(&f.ref_column),
            f.on_delete
        ));
    }
    table.create_sql = format!(
        "CREATE TABLE {} (\n{}\n)",
        sqlite_ident(&t.name),
        lines.join(", \n")
    );
    create_indexes(t, table, sqlite_ident, "");
}

fn render_postgres(t: &TableDef, table: &mut Table) {
    let lines = column_lines(t, "    ", q, "postgresql", "false");
    table.create_sql = format!("CREATE TABLE {} (\n{}\n)", q(&t.name), lines.join(",\n"));
    let names = |cols: &[String]| {
        cols.iter()
            .map(|c| pg_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut add = |name: String, kind: &str, definition: String| {
        table.constraints.push(Constraint {
            create_sql: format!(
                "ALTER TABLE ONLY {} ADD CONSTRAINT {} {definition}",
                q(&t.name),
                q(&name)
            ),
            name,
            kind: kind.into(),
            definition,
        });
    };
    if !t.primary_key.is_empty() {
        add(
            format!("{}_pkey", t.name),
            "primary_key",
            format!("PRIMARY KEY ({})", names(&t.primary_key)),
        );
    }
    for i in t.indexes.iter().filter(|i| i.constraint) {
        let cols: Vec<String> = i.columns.iter().map(|c| c.0.clone()).collect();
        add(
            i.name.clone(),
            "unique",
            format!("UNIQUE ({})", names(&cols)),
        );
    }
    for f in &t.foreign_keys {
        add(
            format!("{}_{}_fkey", t.name, f.column),
            "foreign_key",
            format!(
                "FOREIGN KEY ({}) REFERENCES {}({}) ON DELETE {}",
                pg_ident(&f.column),
                pg_ident(&f.ref_table),
                pg_ident(&f.ref_column),
                f.on_delete
            ),
        );
    }
    create_indexes(t, table, pg_ident, " USING btree");
}

fn render_mysql(t: &TableDef, table: &mut Table, next_id: i64) {
    let mut lines: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let mut l = format!("  {} {}", bt(&c.name), c.ty.declared("mysql"));
            if !c.nullable {
                l.push_str(" NOT NULL");
            }
            if c.default_false {
                l.push_str(" DEFAULT 0");
            } else if c.nullable {
                l.push_str(" DEFAULT NULL");
            }
            if t.primary_key.len() == 1
                && c.name == t.primary_key[0]
                && matches!(c.ty, ColType::Integer | ColType::BigInt)
                && t.sequence.is_some()
            {
                l.push_str(" AUTO_INCREMENT");
            }
            l
        })
        .collect();
    // MySQL indexes text and bytes only by a prefix: a column Zato does not have gets the
    // 191 characters Zato's own text keys use.
    let prefixed = |c: &str| {
        t.column(c).is_some_and(|k| {
            k.extra
                && matches!(
                    k.ty,
                    ColType::Text | ColType::Text191 | ColType::LongText | ColType::Blob
                )
        })
    };
    let key_cols = |cols: &[(String, Option<u32>)]| {
        cols.iter()
            .map(|(c, p)| match p.or(prefixed(c).then_some(191)) {
                Some(n) => format!("{}({n})", bt(c)),
                None => bt(c),
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    // Every key with its line: the primary key, the UNIQUE ones, the indexes, and one index
    // per foreign key column that no other key starts with (as InnoDB makes them).
    let mut keys: Vec<(String, String)> = Vec::new();
    if !t.primary_key.is_empty() {
        let cols: Vec<(String, Option<u32>)> =
            t.primary_key.iter().map(|c| (c.clone(), None)).collect();
        keys.push((
            "PRIMARY".into(),
            format!("  PRIMARY KEY ({})", key_cols(&cols)),
        ));
    }
    for i in &t.indexes {
        keys.push((
            i.name.clone(),
            format!(
                "  {}KEY {} ({})",
                if i.unique { "UNIQUE " } else { "" },
                bt(&i.name),
                key_cols(&i.columns)
            ),
        ));
    }
    for f in &t.foreign_keys {
        let covered = t.indexes.iter().any(|i| i.columns[0].0 == f.column)
            || t.primary_key.first() == Some(&f.column);
        if !covered && !keys.iter().any(|(n, _)| *n == f.column) {
            keys.push((
                f.column.clone(),
                format!("  KEY {} ({})", bt(&f.column), bt(&f.column)),
            ));
        }
    }
    let rank = |name: &str| {
        t.mysql_key_order
            .iter()
            .position(|n| n == name)
            .unwrap_or(usize::MAX)
    };
    keys.sort_by_key(|(n, _)| rank(n));
    for i in &t.indexes {
        table.indexes.push(Index {
            name: i.name.clone(),
            unique: i.unique,
            origin: if i.unique { "unique" } else { "index" }.into(),
            columns: i
                .columns
                .iter()
                .map(|(c, p)| match p.or(prefixed(c).then_some(191)) {
                    Some(n) => format!("{c}({n})"),
                    None => c.clone(),
                })
                .collect(),
            create_sql: None,
        });
    }
    lines.extend(keys.into_iter().map(|(_, l)| l));
    for (i, f) in t.foreign_keys.iter().enumerate() {
        lines.push(format!(
            "  CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {}",
            bt(&format!("{}_ibfk_{}", t.name, i + 1)),
            bt(&f.column),
            bt(&f.ref_table),
            bt(&f.ref_column),
            f.on_delete
        ));
    }
    for (i, c) in bool_columns(t).enumerate() {
        lines.push(format!(
            "  CONSTRAINT {} CHECK ({} in (0,1))",
            bt(&format!("CONSTRAINT_{}", i + 1)),
            bt(&c.name)
        ));
    }
    let auto = if next_id > 1 && t.sequence.is_some() {
        format!(" AUTO_INCREMENT={next_id}")
    } else {
        String::new()
    };
    table.create_sql = format!(
        "CREATE TABLE {} (\n{}\n) ENGINE=InnoDB{auto} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
        bt(&t.name),
        lines.join(",\n")
    );
}

/// A standalone PostgreSQL sequence as Zato creates it, in the state that hands out `next`.
pub fn render_sequence(name: &str, next: i64) -> Sequence {
    Sequence {
        name: name.into(),
        data_type: "bigint".into(),
        start: 1,
        increment: 1,
        min: 1,
        max: i64::MAX,
        cache: 1,
        cycle: false,
        last_value: if next > 1 { next - 1 } else { 1 },
        is_called: next > 1,
        owned_by: None,
        identity: false,
        create_sql: format!(
            "CREATE SEQUENCE {} AS bigint START WITH 1 INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 CACHE 1 NO CYCLE",
            q(name)
        ),
    }
}
