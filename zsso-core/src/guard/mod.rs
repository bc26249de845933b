//! The statement guard: a dump is untrusted input.
//!
//! Every statement is classified before anything runs. Only what an SSO dump needs is let
//! through: transaction control, `PRAGMA foreign_keys`, `DROP TABLE` and `CREATE TABLE` of SSO
//! tables, `CREATE INDEX` and `CREATE TRIGGER` on SSO tables (a trigger body may only touch SSO
//! tables), and `INSERT INTO` an SSO table whose values are literals. Anything else (another
//! table, `ATTACH`, another `PRAGMA`, a sub-select, a parameter, a function outside a short list
//! of literal helpers) is refused with the line it starts on.

use crate::catalogue::is_sso_table;
use crate::error::{Error, Result};
use crate::sqlscan::{Statement, Syntax, Token};
use std::path::Path;

mod mysql;
mod postgres;

/// The names a PostgreSQL dump may call, or use before `(` as keywords and types: a function
/// of one of these names in the target schema could take the place of the built-in one (the
/// restorer refuses such a schema).
pub fn postgres_call_names() -> impl Iterator<Item = &'static str> {
    postgres::ALLOWED_FUNCTIONS
        .iter()
        .chain(postgres::NOT_CALLS)
        .copied()
}

pub use mysql::SQL_MODE as MYSQL_SQL_MODE;

/// What a statement that passed the guard does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `BEGIN [TRANSACTION]`: the restorer runs its own transaction instead.
    Begin,
    /// `COMMIT` or `END`: likewise.
    Commit,
    /// `PRAGMA foreign_keys = ...`: the restorer sets it itself.
    ForeignKeysPragma,
    /// `DROP TABLE [IF EXISTS]` of an SSO table: the restorer drops the tables itself.
    DropTable {
        /// The table.
        table: String,
    },
    /// `CREATE TABLE` of an SSO table.
    CreateTable {
        /// The table.
        table: String,
    },
    /// `CREATE [UNIQUE] INDEX` on an SSO table.
    CreateIndex {
        /// The index.
        name: String,
        /// Its table.
        table: String,
    },
    /// `CREATE TRIGGER` on an SSO table.
    CreateTrigger {
        /// The trigger.
        name: String,
        /// Its table.
        table: String,
    },
    /// `INSERT INTO` an SSO table, with literal values only.
    Insert {
        /// The table.
        table: String,
        /// How many rows it inserts.
        rows: u64,
    },
    /// A session setting (PostgreSQL's `SET`, `set_config`): the restorer pins its own.
    Setting,
    /// `DROP SEQUENCE [IF EXISTS]` of an SSO sequence: the restorer drops them itself.
    DropSequence {
        /// The sequence.
        name: String,
    },
    /// `CREATE SEQUENCE` of an SSO sequence.
    CreateSequence {
        /// The sequence.
        name: String,
    },
    /// `ALTER SEQUENCE ... OWNED BY table.column`.
    SequenceOwner {
        /// The sequence.
        name: String,
        /// The owning table.
        table: String,
    },
    /// `SELECT pg_catalog.setval('sequence', value, is_called)`.
    SetSequence {
        /// The sequence.
        name: String,
    },
    /// `COPY table (columns) FROM stdin`, whose data lines follow it.
    Copy {
        /// The table.
        table: String,
        /// How many columns each data line has.
        columns: usize,
        /// The columns, in order.
        names: Vec<String>,
    },
    /// `ALTER TABLE [ONLY] table ADD CONSTRAINT name ...`.
    AddConstraint {
        /// The table.
        table: String,
        /// The constraint.
        name: String,
        /// For a foreign key, the table it references.
        references: Option<String>,
    },
}

impl Kind {
    /// Returns true if and only if the restorer runs this statement (rather than doing the
    /// same thing itself).
    pub fn runs(&self) -> bool {
        matches!(
            self,
            Kind::CreateTable { .. }
                | Kind::CreateIndex { .. }
                | Kind::CreateTrigger { .. }
                | Kind::Insert { .. }
                | Kind::CreateSequence { .. }
                | Kind::SequenceOwner { .. }
                | Kind::SetSequence { .. }
                | Kind::Copy { .. }
                | Kind::AddConstraint { .. }
        )
    }
}

/// Function names that may appear among the values of an `INSERT` (literal helpers that
/// `sqlite3 .dump` and zsso write), compared case-insensitively.
const VALUE_FUNCTIONS: &[&str] = &["cast", "char", "replace", "unistr"];

/// Bare words that may appear among the values of an `INSERT`.
const VALUE_WORDS: &[&str] = &[
    "null", "true", "false", "as", "text", "blob", "real", "integer", "numeric", "_utf8mb4",
    "_binary",
];

/// Functions refused everywhere, even inside a CHECK or a trigger body (a backend that can
/// also refuse them in the database itself uses this list).
pub const DENIED_FUNCTIONS: &[&str] = &[
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
    "zipfile",
    "fsdir",
];

/// Words refused wherever they stand unquoted, in every dialect: each names what a restore
/// must never do (attach or detach a database or a partition, run a program). Zato's SSO
/// tables hold none of them as a name; a database that prints one unquoted in a definition
/// (they are unreserved in PostgreSQL) has it refused at backup time, where the message says
/// to rename or quote it.
pub const DENIED_WORDS: &[&str] = &["attach", "detach", "program"];

struct Cursor<'a> {
    t: &'a [Token],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<&'a Token> {
        self.t.get(self.i)
    }
    fn next(&mut self) -> Option<&'a Token> {
        let t = self.t.get(self.i);
        self.i += 1;
        t
    }
    fn eat_word(&mut self, kw: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_word(kw)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn eat_words(&mut self, kws: &[&str]) -> bool {
        let save = self.i;
        for k in kws {
            if !self.eat_word(k) {
                self.i = save;
                return false;
            }
        }
        true
    }
    /// A possibly qualified name; the schema, if any, must be `main`.
    fn name(&mut self) -> std::result::Result<String, String> {
        let first = self
            .next()
            .and_then(Token::name)
            .ok_or("expected a name")?
            .to_string();
        if self.peek() == Some(&Token::Symbol(".")) {
            self.i += 1;
            let second = self
                .next()
                .and_then(Token::name)
                .ok_or("expected a name after `.`")?;
            if !first.eq_ignore_ascii_case("main") {
                return Err(format!("schema `{first}` is not allowed, only `main`"));
            }
            return Ok(second.to_string());
        }
        Ok(first)
    }
    fn rest(&self) -> &'a [Token] {
        &self.t[self.i.min(self.t.len())..]
    }
}

fn sso(table: String) -> std::result::Result<String, String> {
    if is_sso_table(&table) {
        Ok(table)
    } else {
        Err(format!("`{table}` is not an SSO table"))
    }
}

fn deny_everywhere(tokens: &[Token]) -> std::result::Result<(), String> {
    for (i, t) in tokens.iter().enumerate() {
        if let Token::Word(w) = t
            && DENIED_WORDS.iter().any(|d| d.eq_ignore_ascii_case(w))
        {
            return Err(format!("`{w}` is not allowed"));
        }
        if let Token::Word(w) | Token::Quoted(w) = t {
            let call = tokens.get(i + 1) == Some(&Token::Symbol("("));
            if call && DENIED_FUNCTIONS.iter().any(|d| d.eq_ignore_ascii_case(w)) {
                return Err(format!("function `{w}` is not allowed"));
            }
        }
        if *t == Token::Parameter {
            return Err("parameters are not allowed".into());
        }
    }
    Ok(())
}

fn no_select(tokens: &[Token]) -> std::result::Result<(), String> {
    if tokens.iter().any(|t| t.is_word("SELECT")) {
        return Err("a sub-select is not allowed here".into());
    }
    Ok(())
}

/// Checks that the values of an INSERT are literals, and counts the rows.
fn insert_values(tokens: &[Token]) -> std::result::Result<u64, String> {
    let mut depth = 0usize;
    let mut rows = 0u64;
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::Symbol("(") => {
                if depth == 0 {
                    rows += 1;
                }
                depth += 1;
            }
            Token::Symbol(")") => {
                depth = depth
                    .checked_sub(1)
                    .ok_or("unbalanced `)` among the values")?;
            }
            Token::Symbol(",") if depth > 0 => {}
            Token::Symbol(",") => {
                if tokens.get(i + 1) != Some(&Token::Symbol("(")) {
                    return Err("expected `(` after `,` among the rows".into());
                }
            }
            Token::Symbol("-" | "+" | "*" | "/" | "||") if depth > 0 => {}
            Token::Str(_) | Token::Blob | Token::Number if depth > 0 => {}
            Token::Word(w) if depth > 0 => {
                let call = tokens.get(i + 1) == Some(&Token::Symbol("("));
                let ok = if call {
                    VALUE_FUNCTIONS.iter().any(|f| f.eq_ignore_ascii_case(w))
                } else {
                    VALUE_WORDS.iter().any(|f| f.eq_ignore_ascii_case(w))
                };
                if !ok {
                    return Err(format!("`{w}` is not a literal value"));
                }
            }
            other => {
                return Err(format!(
                    "{} is not allowed among the values",
                    describe(other)
                ));
            }
        }
    }
    if depth != 0 {
        return Err("unbalanced `(` among the values".into());
    }
    if rows == 0 {
        return Err("an INSERT without rows".into());
    }
    Ok(rows)
}

fn describe(t: &Token) -> String {
    match t {
        Token::Word(w) => format!("`{w}`"),
        Token::Quoted(q) => format!("the quoted name `{q}`"),
        Token::Str(_) => "a string".into(),
        Token::Blob => "a blob".into(),
        Token::Number => "a number".into(),
        Token::Parameter => "a parameter".into(),
        Token::Symbol(s) => format!("`{s}`"),
    }
}

/// Checks a trigger body (the tokens after BEGIN): statements that start with UPDATE, INSERT,
/// DELETE, REPLACE, SELECT or WITH, each ended by `;`, then END.
fn trigger_body(body: &[Token]) -> std::result::Result<(), String> {
    let Some((end, stmts)) = body.split_last() else {
        return Err("an empty trigger body".into());
    };
    if !end.is_word("END") || stmts.last() != Some(&Token::Symbol(";")) {
        return Err("a trigger body must end with `; END`".into());
    }
    for stmt in stmts.split(|t| *t == Token::Symbol(";")) {
        let Some(first) = stmt.first() else { continue };
        let ok = ["UPDATE", "INSERT", "DELETE", "REPLACE", "SELECT", "WITH"]
            .iter()
            .any(|k| first.is_word(k));
        if !ok {
            return Err(format!(
                "{} is not allowed in a trigger body",
                describe(first)
            ));
        }
    }
    Ok(())
}

/// The name at `j` (possibly `main.`-qualified) and the index after it.
fn qualified_at(tokens: &[Token], j: usize) -> std::result::Result<Option<(&str, usize)>, String> {
    let Some(name) = tokens.get(j).and_then(Token::name) else {
        return Ok(None);
    };
    if tokens.get(j + 1) == Some(&Token::Symbol(".")) {
        if !name.eq_ignore_ascii_case("main") {
            return Err(format!("schema `{name}` is not allowed, only `main`"));
        }
        return Ok(tokens.get(j + 2).and_then(Token::name).map(|n| (n, j + 3)));
    }
    Ok(Some((name, j + 1)))
}

/// Checks that every table a trigger body reads or writes is an SSO table.
fn trigger_body_tables(tokens: &[Token]) -> std::result::Result<(), String> {
    for (i, t) in tokens.iter().enumerate() {
        let from = t.is_word("FROM") || t.is_word("JOIN");
        let refers = from
            || ["INTO", "UPDATE", "TABLE", "IN"]
                .iter()
                .any(|k| t.is_word(k));
        if !refers {
            continue;
        }
        let mut j = i + 1;
        if tokens.get(j).is_some_and(|n| n.is_word("OR")) {
            j += 2; // UPDATE OR REPLACE, INSERT OR IGNORE
        }
        if matches!(tokens.get(j), Some(Token::Str(_))) {
            return Err("a string used as a table name is not allowed in a trigger".into());
        }
        if from && tokens.get(j) == Some(&Token::Symbol("(")) {
            return Err("a sub-query or parenthesised FROM in a trigger is not allowed".into());
        }
        while let Some((name, after)) = qualified_at(tokens, j)? {
            if !is_sso_table(name) {
                return Err(format!(
                    "its body touches `{name}`, which is not an SSO table"
                ));
            }
            j = after;
            if !from {
                break;
            }
            // A FROM list: `a [AS] x, b ...`.
            if tokens.get(j).is_some_and(|n| n.is_word("AS")) {
                j += 1;
            }
            match tokens.get(j) {
                Some(Token::Word(w)) if !is_clause_word(w) => j += 1,
                Some(Token::Quoted(_) | Token::Str(_)) => j += 1,
                _ => {}
            }
            // `INDEXED BY name` and `NOT INDEXED` may follow an entry of the list.
            let at = |k: usize, w: &str| tokens.get(k).is_some_and(|t| t.is_word(w));
            if at(j, "INDEXED") && at(j + 1, "BY") {
                j += 3;
            } else if at(j, "NOT") && at(j + 1, "INDEXED") {
                j += 2;
            }
            if tokens.get(j) == Some(&Token::Symbol(",")) {
                j += 1;
                if tokens.get(j) == Some(&Token::Symbol("(")) {
                    return Err(
                        "a sub-query or parenthesised FROM in a trigger is not allowed".into(),
                    );
                }
            } else {
                break;
            }
        }
    }
    // ATTACH and DETACH are refused everywhere (DENIED_WORDS).
    for w in ["PRAGMA", "VACUUM"] {
        if tokens.iter().any(|t| t.is_word(w)) {
            return Err(format!("`{w}` is not allowed in a trigger body"));
        }
    }
    Ok(())
}

fn is_clause_word(w: &str) -> bool {
    [
        "WHERE",
        "INDEXED",
        "NOT",
        "JOIN",
        "LEFT",
        "INNER",
        "CROSS",
        "NATURAL",
        "ON",
        "USING",
        "GROUP",
        "ORDER",
        "LIMIT",
        "SET",
        "VALUES",
        "SELECT",
        "END",
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "WINDOW",
        "HAVING",
        "RETURNING",
        "DEFAULT",
    ]
    .iter()
    .any(|k| k.eq_ignore_ascii_case(w))
}

fn classify_tokens(t: &[Token]) -> std::result::Result<Kind, String> {
    deny_everywhere(t)?;
    // One statement at a time: only a trigger body holds `;` (the scanner ends every other
    // statement at its first one).
    if t.contains(&Token::Symbol(";")) && !crate::sqlscan::is_create_trigger(t) {
        return Err("more than one statement in one".into());
    }
    let mut c = Cursor { t, i: 0 };
    let first = c.next().ok_or("an empty statement")?;
    let kw = match first {
        Token::Word(w) => w.to_ascii_uppercase(),
        other => return Err(format!("a statement cannot start with {}", describe(other))),
    };
    let end = |c: &Cursor| -> std::result::Result<(), String> {
        match c.peek() {
            None => Ok(()),
            Some(t) => Err(format!("unexpected {} at the end", describe(t))),
        }
    };
    match kw.as_str() {
        "BEGIN" => {
            let _ = c.eat_word("DEFERRED") || c.eat_word("IMMEDIATE") || c.eat_word("EXCLUSIVE");
            c.eat_word("TRANSACTION");
            end(&c)?;
            Ok(Kind::Begin)
        }
        "COMMIT" | "END" => {
            c.eat_word("TRANSACTION");
            end(&c)?;
            Ok(Kind::Commit)
        }
        "PRAGMA" => {
            let name = c.name()?;
            if !name.eq_ignore_ascii_case("foreign_keys") {
                return Err(format!(
                    "`PRAGMA {name}` is not allowed, only `PRAGMA foreign_keys`"
                ));
            }
            if c.peek() == Some(&Token::Symbol("=")) {
                c.next();
                match c.next() {
                    Some(Token::Word(_)) | Some(Token::Number) => {}
                    _ => return Err("`PRAGMA foreign_keys` needs ON or OFF".into()),
                }
            }
            end(&c)?;
            Ok(Kind::ForeignKeysPragma)
        }
        "DROP" => {
            if !c.eat_word("TABLE") {
                return Err("only `DROP TABLE` is allowed".into());
            }
            c.eat_words(&["IF", "EXISTS"]);
            let table = sso(c.name()?)?;
            end(&c)?;
            Ok(Kind::DropTable { table })
        }
        "CREATE" => {
            if c.eat_word("TEMP") || c.eat_word("TEMPORARY") || c.eat_word("VIRTUAL") {
                return Err("temporary and virtual tables and triggers are not allowed".into());
            }
            if c.eat_word("TABLE") {
                c.eat_words(&["IF", "NOT", "EXISTS"]);
                let table = sso(c.name()?)?;
                if c.peek() != Some(&Token::Symbol("(")) {
                    return Err("`CREATE TABLE ... AS` is not allowed".into());
                }
                no_select(c.rest())?;
                return Ok(Kind::CreateTable { table });
            }
            let _unique = c.eat_word("UNIQUE");
            if c.eat_word("INDEX") {
                c.eat_words(&["IF", "NOT", "EXISTS"]);
                let name = c.name()?;
                if !c.eat_word("ON") {
                    return Err("expected ON after the index name".into());
                }
                let table = sso(c.name()?)?;
                no_select(c.rest())?;
                return Ok(Kind::CreateIndex { name, table });
            }
            if c.eat_word("TRIGGER") {
                c.eat_words(&["IF", "NOT", "EXISTS"]);
                let name = c.name()?;
                let rest = c.rest();
                // BEGIN, CASE and END must be keywords here: one BEGIN, and one END for it
                // and for each CASE (a name spelled like them must be quoted).
                let count = |w: &str| rest.iter().filter(|t| t.is_word(w)).count();
                if count("BEGIN") != 1 || count("END") != count("CASE") + 1 {
                    return Err("a trigger whose BEGIN, CASE and END do not pair up (quote names spelled like keywords)".into());
                }
                let begin = rest
                    .iter()
                    .position(|t| t.is_word("BEGIN"))
                    .ok_or("a trigger without BEGIN")?;
                let on = rest[..begin]
                    .iter()
                    .position(|t| t.is_word("ON"))
                    .ok_or("a trigger without ON")?;
                let mut tc = Cursor {
                    t: &rest[on + 1..begin],
                    i: 0,
                };
                let table = sso(tc.name().map_err(|e| format!("trigger table: {e}"))?)?;
                trigger_body(&rest[begin + 1..])?;
                // Everything after `ON table`, the WHEN clause included, may touch SSO tables only.
                trigger_body_tables(&rest[on + 1 + tc.i..])?;
                return Ok(Kind::CreateTrigger { name, table });
            }
            Err("only CREATE TABLE, CREATE INDEX and CREATE TRIGGER are allowed".into())
        }
        "INSERT" => {
            if !c.eat_word("INTO") {
                return Err("only a plain `INSERT INTO` is allowed".into());
            }
            let table = sso(c.name()?)?;
            if c.peek() == Some(&Token::Symbol("(")) {
                c.next();
                loop {
                    match c.next() {
                        Some(t) if t.name().is_some() => {}
                        other => {
                            return Err(format!(
                                "expected a column name, found {}",
                                other.map(describe).unwrap_or_else(|| "the end".into())
                            ));
                        }
                    }
                    match c.next() {
                        Some(Token::Symbol(",")) => continue,
                        Some(Token::Symbol(")")) => break,
                        _ => return Err("malformed column list".into()),
                    }
                }
            }
            if !c.eat_word("VALUES") {
                return Err("only `INSERT ... VALUES` with literal values is allowed".into());
            }
            let rows = insert_values(c.rest())?;
            Ok(Kind::Insert { table, rows })
        }
        other => Err(format!("`{other}` is not allowed in an SSO dump")),
    }
}

/// The foreign keys that a `CREATE TABLE` declares with `CONSTRAINT name FOREIGN KEY ...
/// REFERENCES parent`, as (name, parent).
pub fn inline_foreign_keys(tokens: &[Token]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if !t.is_word("CONSTRAINT") {
            continue;
        }
        let (Some(name), true, true) = (
            tokens.get(i + 1).and_then(Token::name),
            tokens.get(i + 2).is_some_and(|t| t.is_word("FOREIGN")),
            tokens.get(i + 3).is_some_and(|t| t.is_word("KEY")),
        ) else {
            continue;
        };
        let parent = tokens[i + 4..]
            .iter()
            .position(|t| t.is_word("REFERENCES"))
            .and_then(|r| tokens.get(i + 5 + r))
            .and_then(Token::name);
        if let Some(p) = parent {
            out.push((name.to_string(), p.to_string()));
        }
    }
    out
}

/// The columns of a trigger's `UPDATE OF a, b` event, if it has one, from its tokens.
pub fn trigger_update_of(tokens: &[Token]) -> Option<Vec<String>> {
    let on = tokens.iter().position(|t| t.is_word("ON"))?;
    let of = tokens[..on]
        .windows(2)
        .position(|w| w[0].is_word("UPDATE") && w[1].is_word("OF"))?;
    Some(
        tokens[of + 2..on]
            .iter()
            .filter_map(Token::name)
            .map(str::to_string)
            .collect(),
    )
}

/// Classifies one statement of a dump in `syntax`, or refuses it with its file and line.
pub fn classify(stmt: &Statement, path: &Path, syntax: Syntax) -> Result<Kind> {
    let kind = match syntax {
        Syntax::Sqlite => classify_tokens(&stmt.tokens),
        Syntax::Postgres => postgres::classify(&stmt.tokens),
        Syntax::Mysql => mysql::classify(&stmt.tokens),
    };
    kind.map_err(|reason| Error::Dump {
        path: path.to_path_buf(),
        line: stmt.line,
        reason: format!("statement refused: {reason}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlscan::{LexerConfig, StatementReader};

    fn kinds(sql: &str) -> Result<Vec<Kind>> {
        let p = Path::new("d.sql");
        let mut r = StatementReader::new(sql.as_bytes(), p, LexerConfig::SQLITE);
        let mut out = Vec::new();
        while let Some(s) = r.next_statement()? {
            out.push(classify(&s, p, Syntax::Sqlite)?);
        }
        Ok(out)
    }

    fn refused(sql: &str) -> String {
        kinds(sql).unwrap_err().to_string()
    }

    #[test]
    fn lets_an_sso_dump_through() {
        let k = kinds(
            "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nDROP TABLE IF EXISTS zato_sso_user;\n\
             CREATE TABLE zato_sso_user (id INTEGER NOT NULL, x TEXT, PRIMARY KEY (id), CHECK (x IN ('a','b')));\n\
             INSERT INTO \"zato_sso_user\" (\"id\",\"x\") VALUES(1,'a'),(2,NULL),(-3,CAST(X'00' AS TEXT)),(4,replace('a\\nb','\\n',char(10)));\n\
             CREATE UNIQUE INDEX zato_u_x ON zato_sso_user (x);\n\
             CREATE INDEX main.i2 ON main.zato_sso_user (x) WHERE x IS NOT NULL;\n\
             CREATE TRIGGER t1 AFTER DELETE ON zato_sso_user BEGIN DELETE FROM zato_sso_attr WHERE user_id = old.id; END;\n\
             COMMIT;",
        )
        .unwrap();
        assert_eq!(k[0], Kind::ForeignKeysPragma);
        assert_eq!(k[1], Kind::Begin);
        assert_eq!(
            k[2],
            Kind::DropTable {
                table: "zato_sso_user".into()
            }
        );
        assert_eq!(
            k[3],
            Kind::CreateTable {
                table: "zato_sso_user".into()
            }
        );
        assert_eq!(
            k[4],
            Kind::Insert {
                table: "zato_sso_user".into(),
                rows: 4
            }
        );
        assert_eq!(
            k[5],
            Kind::CreateIndex {
                name: "zato_u_x".into(),
                table: "zato_sso_user".into()
            }
        );
        assert_eq!(
            k[6],
            Kind::CreateIndex {
                name: "i2".into(),
                table: "zato_sso_user".into()
            }
        );
        assert_eq!(
            k[7],
            Kind::CreateTrigger {
                name: "t1".into(),
                table: "zato_sso_user".into()
            }
        );
        assert_eq!(k[8], Kind::Commit);
    }

    #[test]
    fn refuses_foreign_statements_with_their_line() {
        let e = refused("COMMIT;\nATTACH DATABASE 'x.db' AS x;");
        assert!(e.starts_with("d.sql:2: statement refused: `ATTACH`"), "{e}");
        assert!(refused("PRAGMA writable_schema=ON;").contains("PRAGMA writable_schema"));
        // Unquoted, wherever it stands; quoted, it is only a name.
        assert!(
            refused("CREATE TABLE zato_sso_group (source VARCHAR attach (191));")
                .contains("`attach` is not allowed")
        );
        assert_eq!(
            kinds("CREATE TABLE zato_sso_group (\"program\" TEXT, [attach] TEXT);").unwrap(),
            [Kind::CreateTable {
                table: "zato_sso_group".into()
            }]
        );
        assert!(refused("DROP TABLE sec_base;").contains("`sec_base` is not an SSO table"));
        assert!(refused("INSERT INTO sec_base VALUES(1);").contains("not an SSO table"));
        assert!(refused("CREATE TABLE other (id);").contains("not an SSO table"));
        assert!(refused("CREATE INDEX i ON sec_base (id);").contains("not an SSO table"));
        assert!(
            refused("CREATE TRIGGER t AFTER INSERT ON sec_base BEGIN SELECT 1; END;")
                .contains("not an SSO table")
        );
        assert!(
            refused(
                "CREATE TRIGGER t AFTER INSERT ON zato_sso_user BEGIN DELETE FROM sec_base; END;"
            )
            .contains("touches `sec_base`")
        );
        assert!(refused("CREATE TRIGGER t AFTER INSERT ON zato_sso_user BEGIN SELECT 1 FROM zato_sso_user u, sec_base; END;").contains("touches `sec_base`"));
        assert!(refused("CREATE TRIGGER t AFTER INSERT ON zato_sso_user BEGIN UPDATE OR REPLACE sec_base SET a = 1; END;").contains("touches `sec_base`"));
        assert!(refused("CREATE TRIGGER t AFTER INSERT ON zato_sso_a WHEN (SELECT 1 FROM sec_base) BEGIN SELECT 1; END;").contains("touches `sec_base`"));
        assert!(refused("CREATE TRIGGER t AFTER INSERT ON zato_sso_a BEGIN SELECT 1 FROM zato_sso_a \"x\", sec_base; END;").contains("touches `sec_base`"));
        assert!(
            refused(
                "CREATE TRIGGER t AFTER INSERT ON zato_sso_a BEGIN SELECT 1 FROM (sec_base); END;"
            )
            .contains("parenthesised")
        );
        assert!(refused("CREATE TRIGGER t AFTER INSERT ON zato_sso_a BEGIN SELECT 1 FROM zato_sso_a JOIN (sec_base); END;").contains("parenthesised"));
        assert!(refused("CREATE TRIGGER t AFTER INSERT ON zato_sso_a BEGIN SELECT 1 FROM zato_sso_a, (SELECT 1); END;").contains("parenthesised"));
        assert!(refused("CREATE TRIGGER t AFTER INSERT ON zato_sso_a BEGIN SELECT 1 FROM json_each('[1]'); END;").contains("touches `json_each`"));
        assert!(
            refused("CREATE TRIGGER t AFTER INSERT ON zato_sso_a BEGIN SELECT 1; COMMIT; END;")
                .contains("`COMMIT` is not allowed in a trigger body")
        );
        assert!(
            refused("CREATE TRIGGER t AFTER INSERT ON zato_sso_a BEGIN SELECT 1 AS begin; END;")
                .contains("do not pair up")
        );
        assert!(
            refused("CREATE TRIGGER t AFTER INSERT ON zato_sso_a BEGIN SELECT 1 AS end; END;")
                .contains("do not pair up")
        );
        assert!(
            refused("CREATE INDEX trigger ON zato_sso_a(id);\nDROP TABLE keep;")
                .starts_with("d.sql:2: statement refused: `keep` is not an SSO table")
        );
        assert!(
            refused(
                "CREATE TRIGGER t AFTER INSERT ON zato_sso_a BEGIN UPDATE 'keep' SET k = 1; END;"
            )
            .contains("a string used as a table name")
        );
        assert!(refused("CREATE TRIGGER t AFTER INSERT ON zato_sso_a WHEN 1 IN main.keep BEGIN SELECT 1; END;").contains("touches `keep`"));
        assert!(
            refused("CREATE TABLE zato_sso_a (y DEFAULT (\"load_extension\"('x')));")
                .contains("load_extension")
        );
        assert!(refused("CREATE TRIGGER t AFTER INSERT ON zato_sso_a BEGIN SELECT 1 FROM zato_sso_a INDEXED BY i, sec_base; END;").contains("touches `sec_base`"));
        assert!(refused("CREATE TRIGGER t AFTER INSERT ON zato_sso_a BEGIN SELECT 1 FROM zato_sso_a NOT INDEXED, sec_base; END;").contains("touches `sec_base`"));
        assert!(refused("CREATE TABLE zato_sso_x AS SELECT * FROM sec_base;").contains("AS"));
        assert!(refused("INSERT INTO zato_sso_user SELECT * FROM sec_base;").contains("VALUES"));
        assert!(
            refused("INSERT INTO zato_sso_user VALUES((SELECT id FROM sec_base));")
                .contains("SELECT")
        );
        assert!(
            refused("INSERT INTO zato_sso_user VALUES(load_extension('x'));")
                .contains("load_extension")
        );
        assert!(refused("INSERT INTO zato_sso_user VALUES(?);").contains("parameters"));
        assert!(refused("INSERT INTO temp.zato_sso_user VALUES(1);").contains("schema `temp`"));
        assert!(refused("DELETE FROM zato_sso_user;").contains("`DELETE` is not allowed"));
        assert!(refused("UPDATE zato_sso_user SET id = 1;").contains("`UPDATE` is not allowed"));
        assert!(refused("CREATE TEMP TABLE zato_sso_x (a);").contains("temporary"));
        assert!(refused("CREATE VIEW zato_sso_v AS SELECT 1;").contains("only CREATE TABLE"));
        assert!(refused("DROP INDEX zato_u_x;").contains("only `DROP TABLE`"));
        assert!(refused("INSERT INTO zato_sso_user VALUES(1),2;").contains("expected `(`"));
        assert!(refused("INSERT INTO zato_sso_user VALUES(abs(1));").contains("`abs`"));
    }

    #[test]
    fn only_statements_that_build_data_run() {
        assert!(!Kind::Begin.runs());
        assert!(
            !Kind::DropTable {
                table: "zato_sso_user".into()
            }
            .runs()
        );
        assert!(
            Kind::Insert {
                table: "zato_sso_user".into(),
                rows: 1
            }
            .runs()
        );
    }
}
