//! The guard's rules for PostgreSQL dumps.
//!
//! A PostgreSQL dump may hold session settings, `DROP`/`CREATE SEQUENCE` and `setval` of SSO
//! sequences, `DROP`/`CREATE TABLE` and `COPY ... FROM stdin` of SSO tables, `ALTER TABLE ADD
//! CONSTRAINT` and `CREATE INDEX` on them, and nothing else. Names must be unqualified (the
//! restorer decides the schema), except `pg_catalog.` before a function. A function may be
//! called only from a short list of built-in ones, as column defaults, CHECKs and index
//! expressions run with the restorer's privileges.

use super::{Cursor, Kind, deny_everywhere, describe, no_select};
use crate::catalogue::is_sso_table;
use crate::sqlscan::Token;

type Verdict<T> = std::result::Result<T, String>;

/// Functions a definition may call.
pub const ALLOWED_FUNCTIONS: &[&str] = &[
    "nextval",
    "lower",
    "upper",
    "now",
    "length",
    "char_length",
    "octet_length",
    "btrim",
    "ltrim",
    "rtrim",
    "coalesce",
    "nullif",
    "greatest",
    "least",
    "abs",
    "cast",
    "substring",
    "substr",
    "position",
    "strpos",
    "left",
    "right",
    "date_trunc",
    "statement_timestamp",
    "transaction_timestamp",
    "clock_timestamp",
    "timezone",
    "gen_random_uuid",
];

/// Words that a `(` may follow without being a function call: keywords, type names that take
/// modifiers, and index access methods.
pub const NOT_CALLS: &[&str] = &[
    "check",
    "key",
    "unique",
    "include",
    "with",
    "any",
    "all",
    "in",
    "not",
    "and",
    "or",
    "when",
    "then",
    "else",
    "as",
    "identity",
    "where",
    "default",
    "exclude",
    "varying",
    "varchar",
    "character",
    "char",
    "bpchar",
    "numeric",
    "decimal",
    "timestamp",
    "timestamptz",
    "time",
    "timetz",
    "bit",
    "varbit",
    "interval",
    "float",
    "btree",
    "hash",
    "gist",
    "gin",
    "spgist",
    "brin",
];

/// Settings a dump may make, and the value each must have (`None`: any value). The ones with
/// a value change how the dump's text is read; the restorer pins the same ones itself.
const SETTINGS: &[(&str, Option<&str>)] = &[
    ("client_encoding", Some("utf8")),
    ("standard_conforming_strings", Some("on")),
    ("datestyle", Some("iso, ymd")),
    ("intervalstyle", Some("postgres")),
    ("timezone", Some("utc")),
    ("bytea_output", Some("hex")),
    ("search_path", None),
    ("extra_float_digits", None),
    ("check_function_bodies", None),
    ("client_min_messages", None),
    ("statement_timeout", None),
    ("lock_timeout", None),
    ("idle_in_transaction_session_timeout", None),
    ("xmloption", None),
    ("row_security", None),
    ("default_tablespace", None),
    ("default_table_access_method", None),
];

/// Words a `CREATE TABLE` may not hold: they would read or attach another object.
const TABLE_DENIED: &[&str] = &[
    "inherits",
    "partition",
    "like",
    "tablespace",
    "server",
    "references",
];

/// PostgreSQL folds an unquoted name to lower case.
fn ident(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) => Some(w.to_ascii_lowercase()),
        Token::Quoted(q) => Some(q.clone()),
        _ => None,
    }
}

impl Cursor<'_> {
    /// An unqualified name.
    fn pg_name(&mut self) -> Verdict<String> {
        let n = self
            .next()
            .and_then(ident)
            .ok_or("expected a name".to_string())?;
        if self.peek() == Some(&Token::Symbol(".")) {
            return Err(format!(
                "the qualified name `{n}.` is not allowed: the restorer decides the schema"
            ));
        }
        Ok(n)
    }

    fn pg_sso(&mut self, what: &str) -> Verdict<String> {
        let n = self.pg_name()?;
        if is_sso_table(&n) {
            Ok(n)
        } else {
            Err(format!("`{n}` is not an SSO {what}"))
        }
    }

    fn end(&self) -> Verdict<()> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(format!("unexpected {} at the end", describe(t))),
        }
    }
}

/// Every `name(` among the tokens is an allowed function, a keyword or a type modifier;
/// names are unqualified except functions qualified by `pg_catalog`.
fn calls(tokens: &[Token]) -> Verdict<()> {
    for (i, t) in tokens.iter().enumerate() {
        if tokens.get(i + 1) == Some(&Token::Symbol(".")) {
            let qualifier = ident(t).unwrap_or_default();
            let is_call = tokens.get(i + 3) == Some(&Token::Symbol("("));
            if qualifier != "pg_catalog" || !is_call {
                return Err(format!(
                    "the qualified name `{qualifier}.` is not allowed: the restorer decides the schema"
                ));
            }
            continue;
        }
        if tokens.get(i + 1) != Some(&Token::Symbol("(")) {
            continue;
        }
        let Some(name) = ident(t) else { continue };
        let prev = i.checked_sub(1).and_then(|p| tokens.get(p));
        let qualified = prev == Some(&Token::Symbol("."));
        // A table's name before its column list.
        let names_table = prev.is_some_and(|p| {
            ["table", "on", "only", "references"]
                .iter()
                .any(|k| p.is_word(k))
        });
        let keyword = matches!(t, Token::Word(_)) && NOT_CALLS.contains(&name.as_str());
        if names_table || (keyword && !qualified) {
            continue;
        }
        if !ALLOWED_FUNCTIONS.contains(&name.as_str()) {
            return Err(format!("function `{name}` is not allowed in a definition"));
        }
        if name == "nextval" {
            // Only an SSO sequence: another would move on with every row.
            let arg = match tokens.get(i + 2) {
                Some(Token::Str(Some(s))) => Some(sequence_name(s)?),
                _ => None,
            };
            let closed = match tokens.get(i + 3) {
                Some(Token::Symbol(")")) => true,
                Some(Token::Symbol("::")) => {
                    tokens.get(i + 4).is_some_and(|t| t.is_word("regclass"))
                        && tokens.get(i + 5) == Some(&Token::Symbol(")"))
                }
                _ => false,
            };
            if arg.is_none() || !closed {
                return Err("`nextval` must name an SSO sequence as a string".into());
            }
        }
    }
    Ok(())
}

fn setting_value(tokens: &[Token]) -> Verdict<String> {
    let mut parts = Vec::new();
    for t in tokens {
        match t {
            Token::Word(w) | Token::Quoted(w) => parts.push(w.to_ascii_lowercase()),
            Token::Str(Some(s)) => parts.push(s.to_ascii_lowercase()),
            Token::Number => parts.push("<number>".into()),
            Token::Symbol(",") => parts.push(",".into()),
            Token::Symbol("-") => {}
            other => return Err(format!("{} is not a setting's value", describe(other))),
        }
    }
    Ok(parts.join(" ").replace(" ,", ","))
}

fn check_setting(name: &str, value: &str) -> Verdict<Kind> {
    let Some((_, want)) = SETTINGS.iter().find(|(n, _)| *n == name) else {
        return Err(format!("setting `{name}` is not allowed in an SSO dump"));
    };
    if let Some(w) = want
        && value != *w
    {
        return Err(format!(
            "`{name}` must be `{w}`: the restore reads the dump that way"
        ));
    }
    Ok(Kind::Setting)
}

/// `SELECT pg_catalog.set_config('search_path', ..., false)` or
/// `SELECT pg_catalog.setval('seq', n, true|false)`.
fn select(c: &mut Cursor) -> Verdict<Kind> {
    let is = |c: &Cursor, k: usize, w: &str| c.t.get(c.i + k).is_some_and(|t| t.is_word(w));
    if !(is(c, 0, "pg_catalog") && c.t.get(c.i + 1) == Some(&Token::Symbol("."))) {
        return Err(
            "only `SELECT pg_catalog.setval(...)` and `pg_catalog.set_config(...)` are allowed"
                .into(),
        );
    }
    c.i += 2;
    let func = c.next().and_then(ident).ok_or("expected a function name")?;
    let args = c.rest();
    let text = |k: usize| match args.get(k) {
        Some(Token::Str(Some(s))) => Some(s.as_str()),
        _ => None,
    };
    match func.as_str() {
        "set_config" => {
            let ok = args.len() == 7
                && args[0] == Token::Symbol("(")
                && text(1) == Some("search_path")
                && args[2] == Token::Symbol(",")
                && text(3).is_some_and(|v| !v.contains(','))
                && args[4] == Token::Symbol(",")
                && args[5].is_word("false")
                && args[6] == Token::Symbol(")");
            if !ok {
                return Err("only `set_config('search_path', '...', false)` is allowed".into());
            }
            Ok(Kind::Setting)
        }
        "setval" => {
            let mut k = 3;
            if args.get(k) == Some(&Token::Symbol("-")) {
                k += 1;
            }
            let ok = args.len() == k + 4
                && args[0] == Token::Symbol("(")
                && args[2] == Token::Symbol(",")
                && args[k] == Token::Number
                && args[k + 1] == Token::Symbol(",")
                && (args[k + 2].is_word("true") || args[k + 2].is_word("false"))
                && args[k + 3] == Token::Symbol(")");
            let name = text(1).map(sequence_name).transpose()?;
            match name {
                Some(name) if ok => Ok(Kind::SetSequence { name }),
                _ => Err(
                    "only `setval('sequence', value, true|false)` with literal values is allowed"
                        .into(),
                ),
            }
        }
        other => Err(format!("function `{other}` is not allowed here")),
    }
}

/// The sequence that a `setval` string names: `name` or `"name"`, unqualified.
fn sequence_name(s: &str) -> Verdict<String> {
    // An SSO name has no quote in it, so a quoted one is just the name in quotes.
    let name = match s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(q) => q.to_string(),
        None if s.contains('.') || s.contains('"') => {
            return Err(format!(
                "`{s}`: a qualified sequence name is not allowed, the restorer decides the schema"
            ));
        }
        None => s.to_ascii_lowercase(),
    };
    if is_sso_table(&name) {
        Ok(name)
    } else {
        Err(format!("`{name}` is not an SSO sequence"))
    }
}

/// The options of `CREATE SEQUENCE`: words from a short list and numbers.
fn sequence_options(rest: &[Token]) -> Verdict<()> {
    const WORDS: &[&str] = &[
        "as",
        "smallint",
        "integer",
        "bigint",
        "start",
        "with",
        "increment",
        "by",
        "minvalue",
        "maxvalue",
        "no",
        "cache",
        "cycle",
    ];
    for t in rest {
        match t {
            Token::Number | Token::Symbol("-") => {}
            Token::Word(w) if WORDS.iter().any(|k| k.eq_ignore_ascii_case(w)) => {}
            other => {
                return Err(format!(
                    "{} is not allowed in CREATE SEQUENCE",
                    describe(other)
                ));
            }
        }
    }
    Ok(())
}

/// Classifies one statement of a PostgreSQL dump.
pub(super) fn classify(t: &[Token]) -> Verdict<Kind> {
    deny_everywhere(t)?;
    if t.contains(&Token::Symbol(";")) {
        return Err("more than one statement in one".into());
    }
    let mut c = Cursor { t, i: 0 };
    let first = c.next().ok_or("an empty statement")?;
    let kw = match first {
        Token::Word(w) => w.to_ascii_lowercase(),
        other => return Err(format!("a statement cannot start with {}", describe(other))),
    };
    match kw.as_str() {
        "set" => {
            if c.eat_word("LOCAL") {
                return Err("`SET LOCAL` is not allowed".into());
            }
            c.eat_word("SESSION");
            let name = c.pg_name()?;
            if !(c.eat_word("TO") || c.peek() == Some(&Token::Symbol("="))) {
                return Err("expected `=` or TO in SET".into());
            }
            if c.peek() == Some(&Token::Symbol("=")) {
                c.next();
            }
            if name == "search_path" {
                // One schema, as zsso writes it (a list could put other schemas first).
                let one = matches!(c.rest(), [Token::Word(_) | Token::Quoted(_)]);
                if !one {
                    return Err("`search_path` must name one schema".into());
                }
                return Ok(Kind::Setting);
            }
            let value = setting_value(c.rest())?;
            check_setting(&name, &value)
        }
        "select" => select(&mut c),
        "drop" => {
            let what = if c.eat_word("TABLE") {
                "table"
            } else if c.eat_word("SEQUENCE") {
                "sequence"
            } else {
                return Err("only `DROP TABLE` and `DROP SEQUENCE` are allowed".into());
            };
            c.eat_words(&["IF", "EXISTS"]);
            let name = c.pg_sso(what)?;
            c.eat_word("RESTRICT");
            c.end()?;
            Ok(if what == "table" {
                Kind::DropTable { table: name }
            } else {
                Kind::DropSequence { name }
            })
        }
        "create" => {
            if c.eat_word("SEQUENCE") {
                c.eat_words(&["IF", "NOT", "EXISTS"]);
                let name = c.pg_sso("sequence")?;
                sequence_options(c.rest())?;
                return Ok(Kind::CreateSequence { name });
            }
            if c.eat_word("TABLE") {
                c.eat_words(&["IF", "NOT", "EXISTS"]);
                let table = c.pg_sso("table")?;
                if c.peek() != Some(&Token::Symbol("(")) {
                    return Err("`CREATE TABLE ... AS` and typed tables are not allowed".into());
                }
                if let Some(w) = c
                    .rest()
                    .iter()
                    .find(|t| TABLE_DENIED.iter().any(|d| t.is_word(d)))
                {
                    return Err(format!("{} is not allowed in CREATE TABLE", describe(w)));
                }
                no_select(c.rest())?;
                calls(t)?;
                return Ok(Kind::CreateTable { table });
            }
            c.eat_word("UNIQUE");
            if c.eat_word("INDEX") {
                if c.eat_word("CONCURRENTLY") {
                    return Err("`CREATE INDEX CONCURRENTLY` cannot run in a transaction".into());
                }
                c.eat_words(&["IF", "NOT", "EXISTS"]);
                let name = c.pg_name()?;
                if !c.eat_word("ON") {
                    return Err("expected ON after the index name".into());
                }
                c.eat_word("ONLY");
                let table = c.pg_sso("table")?;
                if c.rest().iter().any(|t| t.is_word("TABLESPACE")) {
                    return Err("TABLESPACE is not allowed".into());
                }
                no_select(c.rest())?;
                calls(t)?;
                return Ok(Kind::CreateIndex { name, table });
            }
            Err("only CREATE TABLE, CREATE SEQUENCE and CREATE INDEX are allowed".into())
        }
        "alter" => {
            if c.eat_word("SEQUENCE") {
                let name = c.pg_sso("sequence")?;
                if !c.eat_words(&["OWNED", "BY"]) {
                    return Err("only `ALTER SEQUENCE ... OWNED BY` is allowed".into());
                }
                let table = c.next().and_then(ident).ok_or("expected table.column")?;
                let ok = c.next() == Some(&Token::Symbol("."))
                    && c.next().and_then(ident).is_some();
                if !ok || !is_sso_table(&table) {
                    return Err("OWNED BY must name a column of an SSO table".into());
                }
                c.end()?;
                return Ok(Kind::SequenceOwner { name, table });
            }
            if !c.eat_word("TABLE") {
                return Err("only `ALTER TABLE ... ADD CONSTRAINT` is allowed".into());
            }
            c.eat_word("ONLY");
            let table = c.pg_sso("table")?;
            if !c.eat_words(&["ADD", "CONSTRAINT"]) {
                return Err("only `ALTER TABLE ... ADD CONSTRAINT` is allowed".into());
            }
            let name = c.pg_name()?;
            let rest = c.rest();
            let kinds = [
                &["PRIMARY", "KEY"][..],
                &["UNIQUE"],
                &["CHECK"],
                &["FOREIGN", "KEY"],
                &["EXCLUDE"],
            ];
            if !kinds.iter().any(|k| c.eat_words(k)) {
                return Err("a constraint must be PRIMARY KEY, UNIQUE, CHECK, FOREIGN KEY or EXCLUDE".into());
            }
            // One action: ALTER TABLE would run a comma-separated list of them (INHERIT,
            // OWNER TO, DISABLE TRIGGER...).
            let mut depth = 0usize;
            for t in rest {
                match t {
                    Token::Symbol("(") => depth += 1,
                    Token::Symbol(")") => depth = depth.saturating_sub(1),
                    Token::Symbol(",") if depth == 0 => {
                        return Err("one constraint per ALTER TABLE (a `,` would add other actions)".into());
                    }
                    _ => {}
                }
            }
            let mut references = None;
            if let Some(r) = rest.iter().position(|t| t.is_word("REFERENCES")) {
                let mut rc = Cursor {
                    t: &rest[r + 1..],
                    i: 0,
                };
                let parent = rc.pg_name()?;
                if !is_sso_table(&parent) {
                    references = Some(parent);
                }
                if rest[r + 1..].iter().filter(|t| t.is_word("REFERENCES")).count() > 0 {
                    return Err("one REFERENCES per constraint".into());
                }
            }
            no_select(rest)?;
            calls(t)?;
            Ok(Kind::AddConstraint {
                table,
                name,
                references,
            })
        }
        "copy" => {
            let table = c.pg_sso("table")?;
            if c.next() != Some(&Token::Symbol("(")) {
                return Err("COPY must list its columns".into());
            }
            let mut names = Vec::new();
            loop {
                let Some(n) = c.next().and_then(ident) else {
                    return Err("malformed column list in COPY".into());
                };
                names.push(n);
                match c.next() {
                    Some(Token::Symbol(",")) => continue,
                    Some(Token::Symbol(")")) => break,
                    _ => return Err("malformed column list in COPY".into()),
                }
            }
            if !c.eat_words(&["FROM", "STDIN"]) {
                return Err("only `COPY ... FROM stdin` is allowed".into());
            }
            c.end()
                .map_err(|e| format!("{e}: COPY options are not allowed (text format only)"))?;
            Ok(Kind::Copy {
                table,
                columns: names.len(),
                names,
            })
        }
        "begin" | "start" | "commit" | "end" | "rollback" | "savepoint" | "release" => Err(
            "transaction control is not allowed: the restore runs as one transaction (and `psql -1` would end early)"
                .into(),
        ),
        other => Err(format!("`{other}` is not allowed in an SSO dump")),
    }
}

#[cfg(test)]
mod tests {
    use crate::error::Result;
    use crate::guard::{Kind, classify};
    use crate::sqlscan::{LexerConfig, StatementReader, Syntax};
    use std::path::Path;

    fn kinds(sql: &str) -> Result<Vec<Kind>> {
        let p = Path::new("d.sql");
        let mut r = StatementReader::new(sql.as_bytes(), p, LexerConfig::POSTGRES);
        let mut out = Vec::new();
        while let Some(s) = r.next_statement()? {
            let k = classify(&s, p, Syntax::Postgres)?;
            if let Kind::Copy { columns, .. } = &k {
                let mut data = Vec::new();
                while r.read_copy_data(*columns, &mut data, 1 << 20)? {}
            }
            out.push(k);
        }
        Ok(out)
    }

    fn refused(sql: &str) -> String {
        kinds(sql).unwrap_err().to_string()
    }

    #[test]
    fn lets_a_zsso_postgres_dump_through() {
        let k = kinds(
            "SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\
             SET search_path = \"public\";\nSET DateStyle = 'ISO, YMD';\n\
             SELECT pg_catalog.set_config('search_path', '', false);\n\
             DROP TABLE IF EXISTS \"zato_sso_user\";\nDROP SEQUENCE IF EXISTS zato_sso_user_id_seq;\n\
             CREATE SEQUENCE \"zato_sso_user_id_seq\" AS bigint START WITH 1 INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 CACHE 1 NO CYCLE;\n\
             CREATE TABLE \"zato_sso_user\" (\n  \"id\" integer DEFAULT nextval('zato_sso_user_id_seq'::regclass) NOT NULL,\n  \"name\" character varying(191),\n  \"tags\" text[] DEFAULT ARRAY['a'::text]\n);\n\
             ALTER SEQUENCE zato_sso_user_id_seq OWNED BY zato_sso_user.id;\n\
             COPY \"zato_sso_user\" (\"id\", \"name\", \"tags\") FROM stdin;\n1\ta\\tb\t{}\n2\t\\N\t{}\n\\.\n\
             SELECT pg_catalog.setval('\"zato_sso_user_id_seq\"', 15, true);\n\
             ALTER TABLE ONLY \"zato_sso_user\" ADD CONSTRAINT \"zato_sso_user_pkey\" PRIMARY KEY (id);\n\
             ALTER TABLE ONLY zato_sso_user ADD CONSTRAINT c1 CHECK ((lower((name)::text) <> ''::text));\n\
             CREATE UNIQUE INDEX auth_idx ON zato_sso_user USING btree (name, lower((name)::text)) WHERE (id > 0);\n\
             ALTER TABLE ONLY zato_sso_attr ADD CONSTRAINT fk1 FOREIGN KEY (user_id) REFERENCES zato_sso_user(user_id) ON DELETE CASCADE;\n\
             ALTER TABLE ONLY zato_sso_linked_auth ADD CONSTRAINT fk_sso_linked_base_id FOREIGN KEY (auth_id) REFERENCES sec_base(id) ON DELETE CASCADE;\n",
        )
        .unwrap();
        assert_eq!(
            k[..5],
            [
                Kind::Setting,
                Kind::Setting,
                Kind::Setting,
                Kind::Setting,
                Kind::Setting
            ]
        );
        assert_eq!(
            k[5],
            Kind::DropTable {
                table: "zato_sso_user".into()
            }
        );
        assert_eq!(
            k[6],
            Kind::DropSequence {
                name: "zato_sso_user_id_seq".into()
            }
        );
        assert_eq!(
            k[7],
            Kind::CreateSequence {
                name: "zato_sso_user_id_seq".into()
            }
        );
        assert_eq!(
            k[8],
            Kind::CreateTable {
                table: "zato_sso_user".into()
            }
        );
        assert_eq!(
            k[9],
            Kind::SequenceOwner {
                name: "zato_sso_user_id_seq".into(),
                table: "zato_sso_user".into()
            }
        );
        assert_eq!(
            k[10],
            Kind::Copy {
                table: "zato_sso_user".into(),
                columns: 3,
                names: vec!["id".into(), "name".into(), "tags".into()]
            }
        );
        assert_eq!(
            k[11],
            Kind::SetSequence {
                name: "zato_sso_user_id_seq".into()
            }
        );
        assert_eq!(
            k[12],
            Kind::AddConstraint {
                table: "zato_sso_user".into(),
                name: "zato_sso_user_pkey".into(),
                references: None
            }
        );
        assert!(matches!(k[13], Kind::AddConstraint { .. }));
        assert_eq!(
            k[14],
            Kind::CreateIndex {
                name: "auth_idx".into(),
                table: "zato_sso_user".into()
            }
        );
        assert_eq!(
            k[16],
            Kind::AddConstraint {
                table: "zato_sso_linked_auth".into(),
                name: "fk_sso_linked_base_id".into(),
                references: Some("sec_base".into())
            }
        );
    }

    #[test]
    fn refuses_what_a_zsso_postgres_dump_never_holds() {
        let cases: &[(&str, &str)] = &[
            (
                "CREATE TABLE \"zato_sso_group\" (\"source\" character ATTACH varying(191) NOT NULL);",
                "`ATTACH` is not allowed",
            ),
            (
                "CREATE TABLE \"zato_sso_group\" (\"source\" text PROGRAM);",
                "`PROGRAM` is not allowed",
            ),
            ("DROP TABLE sec_base;", "`sec_base` is not an SSO table"),
            ("DROP TABLE zato_sso_user CASCADE;", "unexpected `CASCADE`"),
            ("DROP TABLE public.zato_sso_user;", "qualified name"),
            (
                "CREATE TABLE zato_sso_x (a int DEFAULT pg_read_file('/etc/passwd'));",
                "function `pg_read_file`",
            ),
            (
                "CREATE TABLE zato_sso_x (a int CHECK (public.f(a)));",
                "qualified name `public.`",
            ),
            (
                "CREATE TABLE zato_sso_x (a int REFERENCES sec_base(id));",
                "`REFERENCES` is not allowed",
            ),
            (
                "CREATE TABLE zato_sso_x (LIKE sec_base);",
                "`LIKE` is not allowed",
            ),
            ("CREATE TABLE zato_sso_x AS SELECT * FROM sec_base;", "AS"),
            (
                "CREATE TABLE zato_sso_x (a int DEFAULT (SELECT 1));",
                "sub-select",
            ),
            (
                "SET session_replication_role = replica;",
                "setting `session_replication_role`",
            ),
            ("SET standard_conforming_strings = off;", "must be `on`"),
            ("SET client_encoding = 'LATIN1';", "must be `utf8`"),
            ("SET LOCAL search_path = x;", "SET LOCAL"),
            ("SET search_path = pg_temp, public;", "one schema"),
            (
                "SELECT pg_catalog.set_config('search_path', 'evil, public', false);",
                "only `set_config",
            ),
            (
                "SELECT pg_catalog.setval('sec_seq', 1, true);",
                "not an SSO sequence",
            ),
            (
                "SELECT pg_catalog.setval('public.zato_sso_s', 1, true);",
                "qualified sequence name",
            ),
            (
                "SELECT pg_catalog.setval('zato_sso_s', (SELECT 1), true);",
                "literal values",
            ),
            ("SELECT pg_sleep(10);", "only `SELECT pg_catalog.setval"),
            ("SELECT pg_catalog.pg_sleep(10);", "function `pg_sleep`"),
            (
                "SELECT pg_catalog.set_config('role', 'postgres', false);",
                "search_path",
            ),
            ("COPY zato_sso_user (id) FROM '/etc/passwd';", "FROM stdin"),
            (
                "COPY zato_sso_user (id) TO PROGRAM 'rm';",
                "`PROGRAM` is not allowed",
            ),
            (
                "COPY zato_sso_user (id) FROM stdin WITH (FORMAT csv);\n\\.\n",
                "COPY options",
            ),
            ("COPY sec_base (id) FROM stdin;\n\\.\n", "not an SSO table"),
            (
                "COPY zato_sso_user (id) FROM PROGRAM 'x';",
                "`PROGRAM` is not allowed",
            ),
            ("BEGIN;", "transaction control"),
            ("COMMIT;", "transaction control"),
            (
                "INSERT INTO zato_sso_user VALUES (1);",
                "`insert` is not allowed",
            ),
            ("DO $$ BEGIN END $$;", "parameters"),
            ("SELECT E'\\'';", "prefix `E`"),
            (
                "CREATE INDEX i ON zato_sso_u (a) TABLESPACE t;",
                "TABLESPACE",
            ),
            (
                "CREATE INDEX CONCURRENTLY i ON zato_sso_u (a);",
                "CONCURRENTLY",
            ),
            (
                "ALTER TABLE zato_sso_u OWNER TO postgres;",
                "ADD CONSTRAINT",
            ),
            (
                "ALTER TABLE zato_sso_u ADD CONSTRAINT c CHECK (dblink_exec('x') = 1);",
                "function `dblink_exec`",
            ),
            (
                "ALTER SEQUENCE zato_sso_s OWNED BY sec_base.id;",
                "OWNED BY",
            ),
            (
                "CREATE SEQUENCE zato_sso_s START WITH (SELECT 1);",
                "not allowed in CREATE SEQUENCE",
            ),
            (
                "CREATE FUNCTION zato_sso_f() RETURNS int AS 'select 1' LANGUAGE sql;",
                "only CREATE TABLE",
            ),
            (
                "GRANT ALL ON zato_sso_user TO public;",
                "`grant` is not allowed",
            ),
            (
                "/* a /* b */ c */ SET search_path = x;",
                "comment inside a comment",
            ),
        ];
        for (sql, want) in cases {
            let e = refused(sql);
            assert!(e.contains(want), "{sql}: {e}");
            assert!(e.starts_with("d.sql:1:"), "{sql}: {e}");
        }
    }

    #[test]
    fn copy_data_is_checked_line_by_line() {
        let head = "COPY zato_sso_user (a, b) FROM stdin;\n";
        let e = refused(&format!("{head}1\t2\n3\n\\.\n"));
        assert!(
            e.starts_with("d.sql:3: COPY data: 1 fields where the table has 2"),
            "{e}"
        );
        let e = refused(&format!("{head}1\t2\r\n\\.\n"));
        assert!(e.contains("carriage return"), "{e}");
        let e = refused(&format!("{head}1\t2\n"));
        assert!(
            e.contains("d.sql:1: the data of this COPY has no end marker"),
            "{e}"
        );
        let e = refused(&format!("{head}1\\.\t2\n\\.\n"));
        assert!(e.contains("`\\.` inside a line"), "{e}");
        let e = refused("COPY zato_sso_user (a) FROM stdin; SET search_path = x;\n\\.\n");
        assert!(e.contains("must end its line"), "{e}");
        // An escaped tab is data, not a field separator; a statement may follow the data.
        let k = kinds(&format!(
            "{head}1\\\t\t2\n\\N\t\\\\.\n\\.\nSET search_path = x;\n"
        ))
        .unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(k[1], Kind::Setting);
    }
}
