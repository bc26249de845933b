//! The guard's rules for MySQL and MariaDB dumps.
//!
//! A MySQL dump may hold the session settings zsso pins (with exactly zsso's values),
//! `DROP TABLE IF EXISTS` and `CREATE TABLE` of SSO tables, and `INSERT INTO` them with literal
//! values, and nothing else. Names are unqualified (the restorer decides the database); a
//! table's engine is InnoDB, MyISAM or Aria; a definition calls only a short list of built-in
//! functions. The lexer has already refused what MySQL reads differently from standard SQL
//! (backslashes in strings, `"` strings, executable comments).

use super::{Cursor, Kind, deny_everywhere, describe, insert_values, no_select};
use crate::catalogue::is_sso_table;
use crate::sqlscan::Token;

type Verdict<T> = std::result::Result<T, String>;

/// The `sql_mode` zsso's dumps and restores run under: strict, so that nothing is truncated
/// silently; zero dates allowed, as a source may hold them; none of the modes that change
/// how a literal is read.
pub const SQL_MODE: &str = "STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION";

/// Functions a definition may call.
const ALLOWED_FUNCTIONS: &[&str] = &[
    "current_timestamp",
    "now",
    "utc_timestamp",
    "curdate",
    "curtime",
    "json_valid",
    "coalesce",
    "lower",
    "upper",
    "length",
    "char_length",
    "octet_length",
    "uuid",
];

/// Words that a `(` may follow without being a function call: keywords and types.
const NOT_CALLS: &[&str] = &[
    "key",
    "index",
    "check",
    "unique",
    "in",
    "not",
    "and",
    "or",
    "as",
    "primary",
    "foreign",
    "default",
    "fulltext",
    "spatial",
    "int",
    "integer",
    "tinyint",
    "smallint",
    "mediumint",
    "bigint",
    "varchar",
    "char",
    "character",
    "binary",
    "varbinary",
    "decimal",
    "numeric",
    "dec",
    "fixed",
    "float",
    "double",
    "real",
    "datetime",
    "timestamp",
    "time",
    "year",
    "bit",
    "enum",
    "set",
    "text",
    "blob",
    "varying",
];

/// Engines a restored table may use: the others reach outside the database (FEDERATED,
/// CONNECT) or merge other tables (MERGE).
const ENGINES: &[&str] = &["innodb", "myisam", "aria"];

/// Words a `CREATE TABLE` may not hold.
const TABLE_DENIED: &[&str] = &[
    "directory",
    "connection",
    "union",
    "insert_method",
    "tablespace",
    "like",
    "select",
    "ignore",
    "replace",
    "table",
    "values",
];

/// Settings a dump may make, each with the one value zsso writes.
const SETTINGS: &[(&str, &str)] = &[
    ("time_zone", "+00:00"),
    ("sql_mode", SQL_MODE),
    ("foreign_key_checks", "0|1"),
    ("unique_checks", "0|1"),
];

fn name_of(t: &Token) -> Option<&str> {
    t.name()
}

/// For each token, whether it sits directly inside the column list of a key
/// (`KEY `n` (...)`, `PRIMARY KEY (...)`, `UNIQUE KEY `n` (...)`), where `name`(191) is a
/// prefix length rather than a call.
fn in_key_list(tokens: &[Token]) -> Vec<bool> {
    let mut out = vec![false; tokens.len()];
    let mut stack: Vec<bool> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::Symbol("(") => {
                let before = |k: usize| i.checked_sub(k).and_then(|p| tokens.get(p));
                let key_word =
                    |t: Option<&Token>| t.is_some_and(|t| t.is_word("KEY") || t.is_word("INDEX"));
                let key = key_word(before(1))
                    || (matches!(before(1), Some(Token::Quoted(_))) && key_word(before(2)));
                stack.push(key);
            }
            Token::Symbol(")") => {
                stack.pop();
            }
            _ => out[i] = stack.last().copied().unwrap_or(false),
        }
    }
    out
}

fn calls(tokens: &[Token]) -> Verdict<()> {
    let key_list = in_key_list(tokens);
    for (i, t) in tokens.iter().enumerate() {
        if tokens.get(i + 1) == Some(&Token::Symbol(".")) && t.name().is_some() {
            return Err(format!(
                "the qualified name `{}.` is not allowed: the restorer decides the database",
                t.name().unwrap_or_default()
            ));
        }
        if tokens.get(i + 1) != Some(&Token::Symbol("(")) {
            continue;
        }
        let prev = i.checked_sub(1).and_then(|p| tokens.get(p));
        let names_object = prev.is_some_and(|p| {
            ["table", "key", "index", "references", "constraint"]
                .iter()
                .any(|k| p.is_word(k))
        });
        match t {
            Token::Quoted(_) => {
                // A prefix length, `name`(191), or the name before a column list.
                let prefix = key_list[i]
                    && tokens.get(i + 2) == Some(&Token::Number)
                    && tokens.get(i + 3) == Some(&Token::Symbol(")"));
                if !(prefix || names_object) {
                    return Err(format!(
                        "`{}`(...) calls a function that is not allowed in a definition",
                        t.name().unwrap_or_default()
                    ));
                }
            }
            Token::Word(w) => {
                let w = w.to_ascii_lowercase();
                if !(names_object
                    || NOT_CALLS.contains(&w.as_str())
                    || ALLOWED_FUNCTIONS.contains(&w.as_str()))
                {
                    return Err(format!("function `{w}` is not allowed in a definition"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn sso_name(c: &mut Cursor) -> Verdict<String> {
    let n = c
        .next()
        .and_then(name_of)
        .ok_or("expected a name")?
        .to_string();
    if c.peek() == Some(&Token::Symbol(".")) {
        return Err(format!(
            "the qualified name `{n}.` is not allowed: the restorer decides the database"
        ));
    }
    if is_sso_table(&n) {
        Ok(n)
    } else {
        Err(format!("`{n}` is not an SSO table"))
    }
}

fn table_options(rest: &[Token]) -> Verdict<()> {
    if let Some(w) = rest
        .iter()
        .find(|t| TABLE_DENIED.iter().any(|d| t.is_word(d)))
    {
        return Err(format!("{} is not allowed in CREATE TABLE", describe(w)));
    }
    for (i, t) in rest.iter().enumerate() {
        if t.is_word("ENGINE") {
            let engine = match (rest.get(i + 1), rest.get(i + 2)) {
                (Some(Token::Symbol("=")), Some(e)) => e.name(),
                (Some(e), _) => e.name(),
                _ => None,
            }
            .unwrap_or_default()
            .to_ascii_lowercase();
            if !ENGINES.contains(&engine.as_str()) {
                return Err(format!(
                    "ENGINE={engine} is not allowed (only {})",
                    ENGINES.join(", ")
                ));
            }
        }
    }
    Ok(())
}

fn setting(c: &mut Cursor) -> Verdict<Kind> {
    c.eat_word("SESSION");
    if c.eat_word("NAMES") {
        let ok = c.next().is_some_and(|t| t.is_word("utf8mb4"));
        if !ok || c.peek().is_some() {
            return Err("only `SET NAMES utf8mb4` is allowed".into());
        }
        return Ok(Kind::Setting);
    }
    let name = c
        .next()
        .and_then(name_of)
        .ok_or("expected a setting")?
        .to_ascii_lowercase();
    let Some((_, want)) = SETTINGS.iter().find(|(n, _)| *n == name) else {
        return Err(format!("setting `{name}` is not allowed in an SSO dump"));
    };
    if c.next() != Some(&Token::Symbol("=")) {
        return Err("expected `=` in SET".into());
    }
    let ok = match (c.next(), want.contains('|')) {
        (Some(Token::Str(Some(v))), false) => v == want,
        (Some(Token::Number), true) => true,
        _ => false,
    };
    if !ok || c.peek().is_some() {
        return Err(format!(
            "`{name}` must be `{want}`: the restore reads the dump that way"
        ));
    }
    Ok(Kind::Setting)
}

/// Classifies one statement of a MySQL dump.
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
        "set" => setting(&mut c),
        "drop" => {
            if !c.eat_word("TABLE") {
                return Err("only `DROP TABLE` is allowed".into());
            }
            c.eat_words(&["IF", "EXISTS"]);
            let table = sso_name(&mut c)?;
            if let Some(t) = c.peek() {
                return Err(format!("unexpected {} at the end", describe(t)));
            }
            Ok(Kind::DropTable { table })
        }
        "create" => {
            if !c.eat_word("TABLE") {
                return Err("only CREATE TABLE is allowed".into());
            }
            c.eat_words(&["IF", "NOT", "EXISTS"]);
            let table = sso_name(&mut c)?;
            if c.peek() != Some(&Token::Symbol("(")) {
                return Err("`CREATE TABLE ... AS`, `LIKE` and `SELECT` are not allowed".into());
            }
            no_select(c.rest())?;
            table_options(c.rest())?;
            calls(t)?;
            Ok(Kind::CreateTable { table })
        }
        "insert" => {
            if !c.eat_word("INTO") {
                return Err("only a plain `INSERT INTO` is allowed".into());
            }
            let table = sso_name(&mut c)?;
            if c.next() != Some(&Token::Symbol("(")) {
                return Err("INSERT must list its columns".into());
            }
            loop {
                if c.next().and_then(name_of).is_none() {
                    return Err("malformed column list".into());
                }
                match c.next() {
                    Some(Token::Symbol(",")) => continue,
                    Some(Token::Symbol(")")) => break,
                    _ => return Err("malformed column list".into()),
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

#[cfg(test)]
mod tests {
    use super::SQL_MODE;
    use crate::error::Result;
    use crate::guard::{Kind, classify};
    use crate::sqlscan::{LexerConfig, StatementReader, Syntax};
    use std::path::Path;

    fn kinds(sql: &str) -> Result<Vec<Kind>> {
        let p = Path::new("d.sql");
        let mut r = StatementReader::new(sql.as_bytes(), p, LexerConfig::MYSQL);
        let mut out = Vec::new();
        while let Some(s) = r.next_statement()? {
            out.push(classify(&s, p, Syntax::Mysql)?);
        }
        Ok(out)
    }

    fn refused(sql: &str) -> String {
        kinds(sql).unwrap_err().to_string()
    }

    #[test]
    fn lets_a_zsso_mysql_dump_through() {
        let k = kinds(&format!(
            "SET NAMES utf8mb4;\nSET time_zone = '+00:00';\nSET sql_mode = '{SQL_MODE}';\nSET foreign_key_checks = 0;\n\
             DROP TABLE IF EXISTS `zato_sso_user`;\n\
             CREATE TABLE `zato_sso_user` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `email` text DEFAULT NULL,\n  `t` datetime(6) DEFAULT current_timestamp(6),\n  `j` longtext CHECK (json_valid(`j`)),\n  PRIMARY KEY (`id`),\n  KEY `e` (`email`(767)),\n  CONSTRAINT `f` FOREIGN KEY (`id`) REFERENCES `sec_base` (`id`) ON DELETE CASCADE,\n  CONSTRAINT `CONSTRAINT_1` CHECK (`id` in (0,1))\n) ENGINE=InnoDB AUTO_INCREMENT=15 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci ROW_FORMAT=DYNAMIC;\n\
             INSERT INTO `zato_sso_user` (`id`,`email`) VALUES (1,'a'),(2,_utf8mb4 X'5c27'),(-3,NULL),(4,X''),(5,1e-1);\n"
        ))
        .unwrap();
        assert_eq!(
            k[..4],
            [Kind::Setting, Kind::Setting, Kind::Setting, Kind::Setting]
        );
        assert_eq!(
            k[4],
            Kind::DropTable {
                table: "zato_sso_user".into()
            }
        );
        assert_eq!(
            k[5],
            Kind::CreateTable {
                table: "zato_sso_user".into()
            }
        );
        assert_eq!(
            k[6],
            Kind::Insert {
                table: "zato_sso_user".into(),
                rows: 5
            }
        );
    }

    #[test]
    fn refuses_what_reads_differently_or_reaches_outside() {
        let cases: &[(&str, &str)] = &[
            (
                "CREATE TABLE `zato_sso_group` (`source` varchar(191) DETACH NOT NULL);",
                "`DETACH` is not allowed",
            ),
            (
                "INSERT INTO `zato_sso_u` (`a`) VALUES ('a\\'b');",
                "backslash in a string",
            ),
            (
                "INSERT INTO `zato_sso_u` (`a`) VALUES (\"a\");",
                "ANSI_QUOTES",
            ),
            ("/*!50000 DROP TABLE sec_base */;", "executable comment"),
            (
                "/*M!999999\\- enable the sandbox mode */ SET NAMES utf8mb4;",
                "executable comment",
            ),
            (
                "SET NAMES utf8mb4;\n--x\nSET NAMES utf8mb4;",
                "`--` not followed by a space",
            ),
            ("# comment\nSET NAMES utf8mb4;", "unexpected character 0x23"),
            ("SET NAMES latin1;", "SET NAMES utf8mb4"),
            (
                "SET NAMES utf8mb4 COLLATE utf8mb4_bin;",
                "SET NAMES utf8mb4",
            ),
            ("SET sql_mode = 'ANSI_QUOTES';", "must be"),
            ("SET time_zone = 'SYSTEM';", "must be"),
            ("SET GLOBAL sql_mode = '';", "setting `global`"),
            ("SET @x = 1;", "parameters"),
            ("DROP TABLE `sec_base`;", "not an SSO table"),
            ("DROP TABLE `db`.`zato_sso_u`;", "qualified name `db.`"),
            (
                "CREATE TABLE `zato_sso_u` (`a` int) ENGINE=FEDERATED CONNECTION='mysql://x';",
                "`CONNECTION`",
            ),
            (
                "CREATE TABLE `zato_sso_u` (`a` int) ENGINE=CONNECT;",
                "ENGINE=connect",
            ),
            (
                "CREATE TABLE `zato_sso_u` (`a` int) DATA DIRECTORY='/tmp';",
                "`DIRECTORY`",
            ),
            (
                "CREATE TABLE `zato_sso_u` (`a` int DEFAULT (sys_exec('x')));",
                "function `sys_exec`",
            ),
            (
                "CREATE TABLE `zato_sso_u` (`a` int CHECK (`evil`(`a`)));",
                "`evil`(...)",
            ),
            (
                "CREATE TABLE `zato_sso_u` SELECT * FROM `sec_base`;",
                "not allowed",
            ),
            (
                "CREATE TABLE `zato_sso_u` (`a` int REFERENCES `other`.`t` (`id`));",
                "qualified name `other.`",
            ),
            ("INSERT INTO `zato_sso_u` (`a`) SELECT 1;", "VALUES"),
            (
                "INSERT INTO `zato_sso_u` (`a`) VALUES ((SELECT 1));",
                "SELECT",
            ),
            (
                "INSERT INTO `zato_sso_u` (`a`) VALUES (load_file('/etc/passwd'));",
                "`load_file`",
            ),
            ("LOCK TABLES `zato_sso_u` WRITE;", "`lock` is not allowed"),
            (
                "LOAD DATA INFILE '/etc/passwd' INTO TABLE `zato_sso_u`;",
                "`load` is not allowed",
            ),
            (
                "CREATE TRIGGER t BEFORE INSERT ON `zato_sso_u` FOR EACH ROW DELETE FROM `sec_base`;",
                "only CREATE TABLE",
            ),
            ("DELIMITER //", "statement has no final"),
        ];
        for (sql, want) in cases {
            let e = refused(sql);
            assert!(e.contains(want), "{sql}: {e}");
        }
    }
}
