//! Hostile input (issue 6, item 5): property-based fuzzing of the dump readers, the statement
//! guard, the manifest and the secrets.conf parser; every single-byte change of a small bundle;
//! manifests that name files outside the bundle; another installation's secrets.conf caught by
//! verify on each database.
//!
//! The generators start from real dumps (zsso's own of the Zato fixture for each dialect, made
//! without a server by the cross conversion, and the pg_dump, mysqldump and `sqlite3 .dump`
//! files of the fixtures) and mutate them: flipped bytes, deleted runs, copied runs, hostile
//! tokens and whole hostile statements put in at statement boundaries. The number of cases is
//! bounded (`ZSSO_FUZZ_CASES` scales it; proptest prints the failing input and its seed).

mod common;

use common::*;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use zsso::bundle::{Bundle, DUMP_FILE, MANIFEST_FILE, SECRETS_FILE};
use zsso::catalogue::is_sso_table;
use zsso::dialect::Dialect;
use zsso::guard::{self, Kind};
use zsso::progress::Silent;
use zsso::schema::Table;
use zsso::secrets::SecretsConf;
use zsso::sqlscan::{Statement, StatementReader, Syntax, Token};

// ---------------------------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------------------------

/// A zsso bundle of one dialect, held in memory.
struct SeedBundle {
    dialect: &'static dyn Dialect,
    dump: Vec<u8>,
    manifest: Vec<u8>,
    secrets: Vec<u8>,
    tables: Vec<Table>,
}

struct Seeds {
    /// zsso's own bundles of the fixture: SQLite, PostgreSQL, MySQL.
    bundles: Vec<SeedBundle>,
    /// Dumps that other tools wrote, with the dialect whose rules read them.
    foreign: Vec<(&'static dyn Dialect, Vec<u8>)>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

static SEEDS: LazyLock<Seeds> = LazyLock::new(|| runtime().block_on(make_seeds()));

async fn make_seeds() -> Seeds {
    let dir = tempfile::tempdir().unwrap();
    let src = source_server(dir.path());
    let sq = dir.path().join("sqlite");
    back_up_server(&src, &sq).await;
    let b = Bundle::open(&sq).unwrap();
    let mut paths = vec![(&zsso::sqlite::SQLITE as &'static dyn Dialect, sq.clone())];
    for (target, drop_microseconds) in [
        (
            &zsso::postgres::dialect::POSTGRES as &'static dyn Dialect,
            false,
        ),
        (&zsso::mysql::dialect::MYSQL, true),
    ] {
        let cross = zsso::cross::Cross::new(
            &b,
            &zsso::sqlite::SQLITE,
            target,
            zsso::cross::CrossOptions { drop_microseconds },
        )
        .unwrap();
        let out = dir.path().join(target.name());
        let (_, report) = zsso::cross::convert_bundle(&cross, &out, &Silent)
            .await
            .unwrap();
        paths.push((target, report.bundle));
    }
    let bundles = paths
        .into_iter()
        .map(|(dialect, p)| {
            let manifest = std::fs::read(p.join(MANIFEST_FILE)).unwrap();
            SeedBundle {
                dialect,
                dump: std::fs::read(p.join(DUMP_FILE)).unwrap(),
                secrets: std::fs::read(p.join(SECRETS_FILE)).unwrap(),
                tables: Bundle::open(&p).unwrap().manifest.schema.tables,
                manifest,
            }
        })
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let plain = sqlite3(&src.join("zato.db"), ".dump zato_sso_%").into_bytes();
    let foreign = vec![
        (&zsso::sqlite::SQLITE as &'static dyn Dialect, plain),
        (
            &zsso::postgres::dialect::POSTGRES,
            std::fs::read(root.join("zato-3.2-postgresql/zato-sso.sql")).unwrap(),
        ),
        (
            &zsso::mysql::dialect::MYSQL,
            std::fs::read(root.join("zato-3.2-mysql/zato-sso.sql")).unwrap(),
        ),
    ];
    Seeds { bundles, foreign }
}

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

/// Short things that mean something to one of the lexers or guards.
const TOKENS: &[&str] = &[
    "sec_base",
    "cluster",
    "zato_sso_",
    "zato_ssox",
    ";",
    ";\n",
    "'",
    "''",
    "\"",
    "`",
    "--",
    "-- x\r",
    "--x",
    "/*",
    "*/",
    "/*!",
    "/*M!",
    "#",
    "\\",
    "\\.\n",
    "\n",
    "\r\n",
    "\r",
    "\0",
    "\t",
    "\t\\N",
    "\\N",
    "SELECT ",
    " FROM cluster",
    "(SELECT 1)",
    "load_extension('x')",
    "main.",
    "temp.",
    "public.",
    "pg_catalog.",
    "x.",
    "$1",
    "?",
    ":a",
    "@a",
    "$$",
    "$x$",
    "E'",
    "U&'",
    "X'00'",
    "x'0'",
    "1e+x",
    "1e999",
    "0x41",
    "9223372036854775808",
    "-9223372036854775809",
    "_binary ",
    "_utf8mb4 ",
    "END;",
    "BEGIN ",
    "CASCADE",
    ",",
    "(",
    ")",
    "ATTACH ",
    "DETACH ",
    "PROGRAM ",
    "stdin",
    "INTO ",
    "TABLE ",
    "ON ",
    "ONLY ",
    "IF NOT EXISTS ",
    "TRIGGER ",
    "REFERENCES cluster(id)",
    "é",
    "\u{feff}",
    "\u{2028}",
    "\u{ff07}",
    "\\x41",
];

/// Whole statements that must never reach a database, put in at statement boundaries.
const STATEMENTS: &[&str] = &[
    "ATTACH DATABASE '/tmp/zh_fuzz.db' AS x;\n",
    "DETACH DATABASE x;\n",
    "DROP TABLE cluster;\n",
    "DROP TABLE IF EXISTS main.cluster;\n",
    "DELETE FROM cluster;\n",
    "INSERT INTO cluster VALUES (2, 'x');\n",
    "INSERT INTO main.cluster VALUES (2, 'x');\n",
    "INSERT INTO zato_sso_group SELECT * FROM cluster;\n",
    "UPDATE zato_sso_user SET username = 'x';\n",
    "REPLACE INTO cluster VALUES (1, 'y');\n",
    "PRAGMA writable_schema = ON;\n",
    "PRAGMA foreign_keys = OFF; PRAGMA writable_schema = ON;\n",
    "CREATE TABLE zato_sso_x AS SELECT * FROM cluster;\n",
    "CREATE TABLE cluster2 (id INTEGER);\n",
    "CREATE TABLE zato_sso_x LIKE cluster;\n",
    "CREATE TABLE zato_sso_x (LIKE cluster INCLUDING ALL);\n",
    "CREATE TABLE zato_sso_x (id int) INHERITS (cluster);\n",
    "CREATE TABLE zato_sso_x PARTITION OF cluster FOR VALUES IN (1);\n",
    "CREATE TABLE zato_sso_x (a int) ENGINE=MERGE UNION=(cluster);\n",
    "CREATE TABLE zato_sso_x (a int) ENGINE=FEDERATED CONNECTION='mysql://u@h/d/cluster';\n",
    "CREATE TABLE zato_sso_x (a int) DATA DIRECTORY='/tmp';\n",
    "CREATE TEMP TABLE zato_sso_z (a);\n",
    "CREATE TABLE zato_sso_z (a DEFAULT (load_extension('x')));\n",
    "CREATE TRIGGER zato_sso_t AFTER INSERT ON zato_sso_user BEGIN DELETE FROM cluster; END;\n",
    "CREATE TRIGGER zato_sso_t AFTER INSERT ON cluster BEGIN SELECT 1; END;\n",
    "CREATE TRIGGER zato_sso_t AFTER INSERT ON zato_sso_user BEGIN UPDATE main.cluster SET name = 1; END;\n",
    "CREATE INDEX zato_sso_i ON cluster (id);\n",
    "CREATE VIEW zato_sso_v AS SELECT * FROM cluster;\n",
    "CREATE VIRTUAL TABLE zato_sso_f USING fts5(a);\n",
    "INSERT INTO zato_sso_group VALUES ((SELECT name FROM cluster));\n",
    "SELECT load_extension('x');\n",
    "VACUUM INTO '/tmp/zh_fuzz.db';\n",
    "COPY zato_sso_user (id) FROM PROGRAM 'id';\n",
    "COPY cluster (id) FROM stdin;\n1\n\\.\n",
    "COPY zato_sso_group (id) TO '/tmp/zh_fuzz';\n",
    "SET search_path = evil, public;\n",
    "SET ROLE postgres;\n",
    "SET SESSION AUTHORIZATION postgres;\n",
    "RESET ALL;\n",
    "ALTER TABLE cluster ADD CONSTRAINT c CHECK (false);\n",
    "ALTER TABLE zato_sso_user OWNER TO evil;\n",
    "ALTER TABLE zato_sso_user ADD CONSTRAINT c CHECK (pg_sleep(1) IS NULL);\n",
    "CREATE FUNCTION zato_sso_f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;\n",
    "DO $$ BEGIN PERFORM 1; END $$;\n",
    "SELECT pg_catalog.setval('cluster_id_seq', 1, true);\n",
    "SELECT pg_catalog.set_config('search_path', 'evil', false);\n",
    "SELECT pg_read_file('/etc/passwd');\n",
    "/*!50000 DROP TABLE cluster */;\n",
    "SET GLOBAL general_log = 1;\n",
    "SET @@session.sql_mode = '';\n",
    "SELECT * INTO OUTFILE '/tmp/zh_fuzz' FROM zato_sso_user;\n",
    "LOAD DATA INFILE '/etc/passwd' INTO TABLE zato_sso_user;\n",
    "GRANT ALL ON *.* TO evil;\n",
    "CALL p();\n",
    "HANDLER zato_sso_user OPEN;\n",
    "RENAME TABLE zato_sso_user TO cluster;\n",
    "DO SLEEP(1);\n",
    "\\! id\n",
    "\\copy zato_sso_user from '/etc/passwd'\n",
];

/// One change of a seed.
#[derive(Debug, Clone)]
enum Edit {
    /// XOR one byte.
    Xor(Index, u8),
    /// Remove up to that many bytes.
    Delete(Index, usize),
    /// Put a token in.
    Token(Index, &'static str),
    /// Put a statement in after the n-th newline that follows a `;`.
    Statement(Index, &'static str),
    /// Copy a run of the seed to another place (a row, a statement, a field repeated).
    Copy(Index, Index, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Edit::Xor(i, x)),
        1 => (any::<Index>(), 1usize..80).prop_map(|(i, n)| Edit::Delete(i, n)),
        3 => (any::<Index>(), prop::sample::select(TOKENS)).prop_map(|(i, t)| Edit::Token(i, t)),
        2 => (any::<Index>(), prop::sample::select(STATEMENTS))
            .prop_map(|(i, s)| Edit::Statement(i, s)),
        1 => (any::<Index>(), any::<Index>(), 1usize..600).prop_map(|(a, b, n)| Edit::Copy(a, b, n)),
    ]
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(edit(), 1..6)
}

/// Applies the edits in order.
fn mutate(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for e in edits {
        match e {
            Edit::Xor(i, x) if !b.is_empty() => {
                let i = i.index(b.len());
                b[i] ^= x;
            }
            Edit::Delete(i, n) if !b.is_empty() => {
                let i = i.index(b.len());
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Edit::Token(i, t) => {
                let i = i.index(b.len() + 1);
                b.splice(i..i, t.bytes());
            }
            Edit::Statement(i, s) => {
                let ends: Vec<usize> = b
                    .windows(2)
                    .enumerate()
                    .filter(|(_, w)| w == b";\n")
                    .map(|(k, _)| k + 2)
                    .collect();
                let at = if ends.is_empty() {
                    0
                } else {
                    ends[i.index(ends.len())]
                };
                b.splice(at..at, s.bytes());
            }
            Edit::Copy(from, to, n) if !b.is_empty() => {
                let f = from.index(b.len());
                let run = b[f..(f + n).min(b.len())].to_vec();
                let t = to.index(b.len() + 1);
                b.splice(t..t, run);
            }
            _ => {}
        }
    }
    b
}

/// A runner with `n` cases (times `ZSSO_FUZZ_CASES`/100 if set), no files of failures kept.
fn runner(n: u32) -> TestRunner {
    let scale: u32 = std::env::var("ZSSO_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    TestRunner::new(Config {
        cases: (n * scale / 100).max(1),
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    })
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

// ---------------------------------------------------------------------------------------------
// The guard's property: what it accepts is about the SSO tables only
// ---------------------------------------------------------------------------------------------

/// Words that no accepted statement may hold as a bare or quoted word, whatever its kind.
const NEVER: &[&str] = &[
    "attach",
    "detach",
    "load_extension",
    "writable_schema",
    "vacuum",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_sleep",
    "lo_import",
    "lo_export",
    "dblink",
    "load_file",
    "outfile",
    "dumpfile",
    "infile",
    "sleep",
    "benchmark",
    "program",
    "readfile",
    "writefile",
    "fts3_tokenizer",
    "grant",
    "owner",
    "role",
    "authorization",
    "global",
];

/// The words after which the next name is a table or sequence that a statement acts on or
/// reads the definition of, in any statement.
const RELATION_WORDS: &[&str] = &["table", "exists", "only", "sequence"];

/// The same on PostgreSQL and MySQL, whose `CREATE TABLE` can copy another table's definition
/// (SQLite has no such clause: there these words are a column name and its type, or an error).
const COPY_WORDS: &[&str] = &["like", "inherits"];

/// The same in the statements that read or write rows: trigger bodies and DML.
const ROW_WORDS: &[&str] = &["from", "join", "into", "update"];

/// Checks a statement the guard accepted, independently of the guard's own parsing: its kind
/// names SSO tables and sequences only; it starts with a word an SSO dump uses; no word that
/// reaches outside (files, extensions, other sessions, privileges) is in it; and no non-SSO
/// table of the target (`cluster`, `sec_base`) follows a word that introduces the table a
/// statement acts on (only a foreign key may name one, after `REFERENCES`).
fn check_accepted(kind: &Kind, stmt: &Statement, syntax: Syntax) -> Result<(), TestCaseError> {
    let sso = |what: &str, name: &str| {
        if is_sso_table(name) {
            Ok(())
        } else {
            Err(fail(format!(
                "accepted {kind:?}, whose {what} `{name}` is not an SSO name: {}",
                stmt.text
            )))
        }
    };
    match kind {
        Kind::DropTable { table }
        | Kind::CreateTable { table }
        | Kind::CreateIndex { table, .. }
        | Kind::CreateTrigger { table, .. }
        | Kind::Insert { table, .. }
        | Kind::Copy { table, .. }
        | Kind::AddConstraint { table, .. } => sso("table", table)?,
        Kind::SequenceOwner { name, table } => {
            sso("sequence", name)?;
            sso("table", table)?;
        }
        Kind::DropSequence { name }
        | Kind::CreateSequence { name }
        | Kind::SetSequence { name } => sso("sequence", name)?,
        Kind::Begin | Kind::Commit | Kind::ForeignKeysPragma | Kind::Setting => {}
    }
    let t = &stmt.tokens;
    let first = t
        .first()
        .and_then(Token::name)
        .unwrap_or("")
        .to_ascii_lowercase();
    let allowed_first = [
        "begin", "commit", "end", "pragma", "drop", "create", "insert", "set", "select", "copy",
        "alter",
    ];
    if !allowed_first.contains(&first.as_str()) {
        return Err(fail(format!(
            "accepted a statement starting with `{first}`: {}",
            stmt.text
        )));
    }
    if first == "pragma" && !t.get(1).is_some_and(|w| w.is_word("foreign_keys")) {
        return Err(fail(format!(
            "accepted a PRAGMA other than foreign_keys: {}",
            stmt.text
        )));
    }
    if first == "select" && !matches!(kind, Kind::SetSequence { .. } | Kind::Setting) {
        return Err(fail(format!(
            "accepted a SELECT as {kind:?}: {}",
            stmt.text
        )));
    }
    let is_trigger = matches!(kind, Kind::CreateTrigger { .. });
    for (i, tok) in t.iter().enumerate() {
        let Some(name) = tok.name() else { continue };
        let lower = name.to_ascii_lowercase();
        if NEVER.contains(&lower.as_str()) {
            return Err(fail(format!(
                "accepted a statement with `{name}`: {}",
                stmt.text
            )));
        }
        if lower == "select" && !is_trigger && first != "select" {
            return Err(fail(format!("accepted a sub-select: {}", stmt.text)));
        }
        if lower == "cluster" || lower == "sec_base" {
            // What precedes the name, skipping a qualifier such as `main.`.
            let mut j = i;
            if j >= 2 && t[j - 1] == Token::Symbol(".") {
                j -= 2;
            }
            let before = j.checked_sub(1).and_then(|k| t[k].name()).unwrap_or("");
            let acts = |words: &[&str]| words.iter().any(|w| before.eq_ignore_ascii_case(w));
            let creates =
                |what: &str| first == "create" && t.iter().take(4).any(|x| x.is_word(what));
            let dml = is_trigger || ["insert", "copy", "select"].contains(&first.as_str());
            if acts(RELATION_WORDS)
                || (acts(COPY_WORDS) && syntax != Syntax::Sqlite)
                || (acts(ROW_WORDS) && dml)
                || (acts(&["on"]) && (is_trigger || creates("index")))
                || (acts(&["of", "union"]) && creates("table"))
            {
                return Err(fail(format!(
                    "accepted a statement that acts on `{name}` (after `{before}`): {}",
                    stmt.text
                )));
            }
        }
    }
    Ok(())
}

/// Reads a dump as the restore's first pass does (statement by statement through the
/// guard, COPY data through the reader), but goes on after a refused statement so that the
/// guard sees every statement. Returns how many statements it accepted.
fn guard_pass(bytes: &[u8], dialect: &dyn Dialect) -> Result<usize, TestCaseError> {
    let path = Path::new("fuzz.sql");
    let lexer = dialect.lexer();
    let mut r = StatementReader::new(BufReader::new(bytes), path, lexer);
    let mut accepted = 0;
    let mut scratch = Vec::new();
    loop {
        let stmt = match r.next_statement() {
            Ok(Some(s)) => s,
            Ok(None) | Err(_) => return Ok(accepted),
        };
        match guard::classify(&stmt, path, lexer.syntax) {
            Ok(kind) => {
                check_accepted(&kind, &stmt, lexer.syntax)
                    .map_err(|e| fail(format!("{} guard: {e}", dialect.name())))?;
                accepted += 1;
                if let Kind::Copy { columns, .. } = kind {
                    loop {
                        scratch.clear();
                        match r.read_copy_data(columns, &mut scratch, 1 << 16) {
                            Ok(true) => {}
                            Ok(false) => break,
                            Err(_) => return Ok(accepted),
                        }
                    }
                }
            }
            // A refused COPY leaves its data unread: the restore would stop here as well.
            Err(_) if r.in_copy() => return Ok(accepted),
            Err(_) => {}
        }
    }
}

#[test]
fn the_guard_accepts_only_statements_about_the_sso_tables() {
    let seeds = &*SEEDS;
    // Unchanged, every seed of zsso's own passes whole, and nothing of it trips the check.
    for b in &seeds.bundles {
        let n = guard_pass(&b.dump, b.dialect).unwrap();
        assert!(n > 10, "{}: {n} statements accepted", b.dialect.name());
    }
    for (d, dump) in &seeds.foreign {
        guard_pass(dump, *d).unwrap();
    }
    // Every hostile statement alone, and after a real dump's first statements, in each
    // dialect.
    for b in &seeds.bundles {
        for st in STATEMENTS {
            for d in seeds.bundles.iter().map(|x| x.dialect) {
                guard_pass(st.as_bytes(), d).unwrap();
                let head = &b.dump[..b.dump.len().min(2000)];
                let cut = head
                    .windows(2)
                    .rposition(|w| w == b";\n")
                    .map_or(0, |k| k + 2);
                let mut with = head[..cut].to_vec();
                with.extend_from_slice(b"\n");
                with.extend_from_slice(st.as_bytes());
                guard_pass(&with, d).unwrap();
            }
        }
    }
    let all: Vec<(&'static dyn Dialect, &[u8])> = seeds
        .bundles
        .iter()
        .map(|b| (b.dialect, b.dump.as_slice()))
        .chain(seeds.foreign.iter().map(|(d, x)| (*d, x.as_slice())))
        .collect();
    let n = all.len();
    runner(400)
        .run(&(0..n, 0..3usize, edits()), |(seed, lexer, edits)| {
            // Mostly read with the seed's own dialect, sometimes with another's rules.
            let (d, bytes) = all[seed];
            let dialect = if lexer == 0 { all[(seed + 1) % n].0 } else { d };
            guard_pass(&mutate(bytes, &edits), dialect).map(drop)
        })
        .unwrap();
}

#[test]
fn arbitrary_bytes_never_make_the_guard_accept_a_foreign_statement() {
    let dialects: [&'static dyn Dialect; 3] = [
        &zsso::sqlite::SQLITE,
        &zsso::postgres::dialect::POSTGRES,
        &zsso::mysql::dialect::MYSQL,
    ];
    // Bytes, and words of SQL put together at random.
    let words = prop::collection::vec(
        prop_oneof![
            prop::sample::select(TOKENS).prop_map(str::to_string),
            prop::sample::select(STATEMENTS).prop_map(str::to_string),
            "[a-z_ ]{1,12}",
            Just("zato_sso_user ".to_string()),
            Just("CREATE TABLE ".to_string()),
            Just("INSERT INTO ".to_string()),
            Just(" VALUES (".to_string()),
        ],
        0..40,
    )
    .prop_map(|w| w.concat().into_bytes());
    let input = prop_oneof![prop::collection::vec(any::<u8>(), 0..2000), words];
    runner(300)
        .run(&(0..3usize, input), |(d, bytes)| {
            guard_pass(&bytes, dialects[d]).map(drop)
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// The dump readers (the cross conversion reads rows back with them)
// ---------------------------------------------------------------------------------------------

#[test]
fn the_dump_readers_never_panic_and_give_rows_of_the_right_width() {
    let seeds = &*SEEDS;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dump.sql");
    let n = seeds.bundles.len();
    runner(240)
        .run(&(0..n, edits()), |(k, edits)| {
            let b = &seeds.bundles[k];
            std::fs::write(&path, mutate(&b.dump, &edits)).unwrap();
            let mut reader = zsso::cross::RowReader::open(&path, b.dialect, &b.tables)
                .map_err(|e| fail(e.to_string()))?;
            let mut rows = Vec::new();
            for _ in 0..100_000 {
                match reader.next_rows(&mut rows) {
                    Ok(Some(i)) => {
                        let t = b.tables.get(i).ok_or_else(|| fail(format!("table {i}")))?;
                        for r in &rows {
                            prop_assert_eq!(r.len(), t.columns.len(), "a row of {}", t.name);
                        }
                    }
                    Ok(None) | Err(_) => return Ok(()),
                }
            }
            Err(fail("the reader did not end".into()))
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Mutated dumps restored for real into SQLite: nothing outside the SSO tables changes
// ---------------------------------------------------------------------------------------------

/// Everything of the target that is not an SSO table: its other objects and their rows.
fn outside_state(db: &Path) -> String {
    sqlite3(
        db,
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name NOT LIKE 'zato\\_sso\\_%' ESCAPE '\\' ORDER BY 1, 2;\
         SELECT * FROM cluster ORDER BY id;",
    )
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn mutated_plain_dumps_restored_into_sqlite_never_touch_anything_else() {
    let seeds = &*SEEDS;
    let plain = seeds.foreign[0].1.clone();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.db");
    let sql = dir.path().join("case.sql");
    sqlite3(
        &target,
        "CREATE TABLE cluster (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO cluster VALUES (1, 'c1');\
         CREATE TABLE sec_base (id INTEGER PRIMARY KEY); INSERT INTO sec_base VALUES (1);",
    );
    let outside = outside_state(&target);
    let files = {
        std::fs::write(&sql, b"").unwrap();
        files_in(dir.path())
    };
    let accepted = std::cell::Cell::new(0u32);
    runner(48)
        .run(&edits(), |edits| {
            std::fs::write(&sql, mutate(&plain, &edits)).unwrap();
            let r = rt.block_on(zsso::restore_url(&sql, &url(&target), None, &Silent));
            accepted.set(accepted.get() + u32::from(r.is_ok()));
            prop_assert_eq!(outside_state(&target), outside.clone());
            prop_assert_eq!(files_in(dir.path()), files.clone());
            prop_assert!(!Path::new("/tmp/zh_fuzz.db").exists());
            Ok(())
        })
        .unwrap();
    eprintln!(
        "mutated plain dumps: {} restored, the rest refused",
        accepted.get()
    );
}

// ---------------------------------------------------------------------------------------------
// The manifest parser
// ---------------------------------------------------------------------------------------------

const JSON_TOKENS: &[&str] = &[
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "null",
    "true",
    "0",
    "-1",
    "1e999",
    "18446744073709551616",
    "\"../x\"",
    "\"/etc/passwd\"",
    "\\u0000",
    "\\ud800",
    "\"secrets.conf\"",
    "\"zato-sso-backup.sql\"",
    "\"manifest.json\"",
    "\".\"",
    "\"\"",
    "\"a/b\"",
    "\"2.0\"",
    "\"1.9\"",
    "\u{feff}",
];

/// A change of the manifest as JSON: a value somewhere replaced, an object key removed, an
/// array element repeated.
#[derive(Debug, Clone)]
enum JsonEdit {
    Replace(Index, serde_json::Value),
    Remove(Index),
    Repeat(Index),
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        Just(json!(-0.5)),
        prop::sample::select(
            &[
                "../zato-sso-backup.sql",
                "/etc/passwd",
                ".",
                "",
                "a/b",
                "zato-sso-backup.sql",
                "secrets.conf",
                "manifest.json",
                "zato_sso_user",
                "sec_base",
                "sqlite",
                "postgresql",
                "mysql",
                "1.0",
                "2.0",
            ][..]
        )
        .prop_map(|s| json!(s)),
        "[ -~]{0,20}".prop_map(Value::String),
        Just(json!([])),
        Just(json!({})),
    ]
}

fn json_edit() -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        3 => (any::<Index>(), json_value()).prop_map(|(i, v)| JsonEdit::Replace(i, v)),
        1 => any::<Index>().prop_map(JsonEdit::Remove),
        1 => any::<Index>().prop_map(JsonEdit::Repeat),
    ]
}

/// Every path of a JSON document, as the JSON pointers of its values.
fn pointers(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn json_mutate(doc: &serde_json::Value, edits: &[JsonEdit]) -> serde_json::Value {
    let mut doc = doc.clone();
    for e in edits {
        let mut ps = Vec::new();
        pointers(&doc, String::new(), &mut ps);
        let pick = |i: &Index| ps[i.index(ps.len())].clone();
        match e {
            JsonEdit::Replace(i, v) => {
                if let Some(x) = doc.pointer_mut(&pick(i)) {
                    *x = v.clone();
                }
            }
            JsonEdit::Remove(i) | JsonEdit::Repeat(i) => {
                let p = pick(i);
                let Some((parent, last)) = p.rsplit_once('/') else {
                    continue;
                };
                match doc.pointer_mut(parent) {
                    Some(serde_json::Value::Object(m)) if matches!(e, JsonEdit::Remove(_)) => {
                        m.remove(&last.replace("~1", "/").replace("~0", "~"));
                    }
                    Some(serde_json::Value::Array(a)) => {
                        if let Ok(k) = last.parse::<usize>() {
                            if matches!(e, JsonEdit::Remove(_)) {
                                a.remove(k);
                            } else {
                                let x = a[k].clone();
                                a.push(x);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    doc
}

#[test]
fn the_manifest_parser_never_panics_and_accepts_only_the_bundles_own_files() {
    let seeds = &*SEEDS;
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::write(&outside, b"outside").unwrap();
    let mut dirs = Vec::new();
    for (k, b) in seeds.bundles.iter().enumerate() {
        let d = dir.path().join(format!("b{k}"));
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join(DUMP_FILE), &b.dump).unwrap();
        std::fs::write(d.join(SECRETS_FILE), &b.secrets).unwrap();
        std::fs::write(d.join(MANIFEST_FILE), &b.manifest).unwrap();
        assert!(Bundle::open(&d).is_ok());
        dirs.push(d);
    }
    let sha = |bytes: &[u8]| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(bytes))
    };
    let input = prop_oneof![
        2 => edits().prop_map(Ok),
        2 => prop::collection::vec(json_edit(), 1..4).prop_map(|e| Err(Ok(e))),
        1 => prop::collection::vec(any::<u8>(), 0..600).prop_map(|b| Err(Err(b))),
    ];
    let n = seeds.bundles.len();
    runner(400)
        .run(
            &(0..n, input, prop::sample::select(JSON_TOKENS)),
            |(k, input, tok)| {
                let b = &seeds.bundles[k];
                let d = &dirs[k];
                let bytes = match input {
                    Ok(mut e) => {
                        // JSON's own tokens as well as SQL's.
                        if let Some(Edit::Token(i, _)) = e.first().cloned() {
                            e[0] = Edit::Token(i, tok);
                        }
                        mutate(&b.manifest, &e)
                    }
                    Err(Ok(e)) => {
                        let doc: serde_json::Value = serde_json::from_slice(&b.manifest).unwrap();
                        serde_json::to_vec_pretty(&json_mutate(&doc, &e)).unwrap()
                    }
                    Err(Err(raw)) => raw,
                };
                std::fs::write(d.join(MANIFEST_FILE), &bytes).unwrap();
                if let Ok(opened) = Bundle::open(d) {
                    prop_assert_eq!(&opened.manifest.format, "zsso-bundle");
                    prop_assert!(opened.manifest.file(DUMP_FILE).is_some());
                    for f in &opened.manifest.files {
                        let real = match f.name.as_str() {
                            DUMP_FILE => &b.dump,
                            SECRETS_FILE => &b.secrets,
                            other => return Err(fail(format!("accepted a file entry `{other}`"))),
                        };
                        prop_assert_eq!(&f.sha256, &sha(real));
                        prop_assert_eq!(f.size, real.len() as u64);
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// The secrets.conf parser
// ---------------------------------------------------------------------------------------------

/// Every run of 12 characters of `secret`.
fn windows(secret: &str) -> Vec<String> {
    let c: Vec<char> = secret.chars().collect();
    c.windows(12.min(c.len()))
        .map(|w| w.iter().collect())
        .collect()
}

#[test]
fn the_secrets_parser_never_panics_nor_shows_a_secret() {
    let conf = std::fs::read(fixture().join("server/config/repo/secrets.conf")).unwrap();
    let text = String::from_utf8(conf.clone()).unwrap();
    let key1 = text
        .lines()
        .find_map(|l| l.strip_prefix("key1="))
        .unwrap()
        .trim()
        .to_string();
    // The key, every encrypted value of the file, and what they decrypt to.
    let mut secrets = windows(&key1);
    for l in text.lines().filter(|l| l.contains("=gAAAAA")) {
        let v = l.split_once('=').unwrap().1.trim();
        secrets.extend(windows(v.split_whitespace().next().unwrap()));
    }
    for (_, v) in credentials()["secrets_plaintext"].as_object().unwrap() {
        let v = v.as_str().unwrap();
        if v.len() >= 12 && !v.starts_with("3.14") {
            secrets.extend(windows(v));
        }
    }
    let path = Path::new("/nonexistent/secrets.conf");
    let conf_tokens: &[&str] = &[
        "[",
        "]",
        "=",
        ":",
        "\n",
        "\r\n",
        " ",
        "#",
        ";",
        "$",
        "key1",
        "[secret_keys]\n",
        "[zato]\n",
        "key1=",
        "key1=$ZH_NOPE\n",
        "zato+secret://",
        "well_known_data=",
        "gAAAAA",
        "==",
        "\u{feff}",
        "\0",
        "%(x)s",
        "\\",
    ];
    runner(600)
        .run(
            &(
                edits(),
                prop::sample::select(conf_tokens),
                prop::option::weighted(0.2, prop::collection::vec(any::<u8>(), 0..400)),
            ),
            |(mut e, tok, raw)| {
                if let Some(Edit::Token(i, _)) = e.first().cloned() {
                    e[0] = Edit::Token(i, tok);
                }
                // Mostly the fixture's file changed, sometimes bytes of any kind.
                let bytes = raw.unwrap_or_else(|| mutate(&conf, &e));
                let mut said = Vec::new();
                match SecretsConf::parse(bytes, path) {
                    Err(err) => said.push(zsso::error::chain(&err)),
                    Ok(s) => {
                        said.push(format!("{s:?}"));
                        match s.key1() {
                            Err(err) => said.push(zsso::error::chain(&err)),
                            Ok(key) => {
                                said.push(format!("{key:?}"));
                                if let Err(err) = s.prove_well_known(&key) {
                                    said.push(zsso::error::chain(&err));
                                }
                                for sec in s.sections().map(str::to_string).collect::<Vec<_>>() {
                                    for k in s.keys(&sec).map(str::to_string).collect::<Vec<_>>() {
                                        let uri = format!("zato+secret://{sec}.{k}");
                                        if let Err(err) = s.resolve(&uri, &key) {
                                            said.push(zsso::error::chain(&err));
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                for s in &said {
                    for w in &secrets {
                        prop_assert!(!s.contains(w.as_str()), "a secret shown: {}", s);
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Every single-byte change of a small bundle is detected
// ---------------------------------------------------------------------------------------------

/// A tiny copy of the fixture for the byte-by-byte test: two of Zato's tables with their own
/// DDL, one row in `zato_sso_group` and two in `zato_sso_attr`, one of them encrypted (so the
/// restore decrypts with the bundle's key1), the same key1. Each manifest change that still
/// parses costs a whole load, so the bundle is kept to about 12 KB.
async fn tiny_bundle(dir: &Path) -> (PathBuf, PathBuf) {
    let src = source_server(dir);
    let db = src.join("zato.db");
    sqlite3(
        &db,
        "DROP TABLE zato_sso_user_group; DROP TABLE zato_sso_session; DROP TABLE zato_sso_linked_auth;\
         DROP TABLE zato_sso_password_reset; DROP TABLE zato_sso_user;\
         DELETE FROM zato_sso_group WHERE id NOT IN (SELECT min(id) FROM zato_sso_group);\
         DELETE FROM zato_sso_attr WHERE id NOT IN (SELECT min(id) FROM zato_sso_attr GROUP BY is_encrypted);\
         VACUUM;",
    );
    assert_eq!(
        sqlite3(
            &db,
            "SELECT count(*), sum(is_encrypted) FROM zato_sso_attr;"
        ),
        "2|1\n"
    );
    let bundle = dir.join("tiny");
    zsso::backup_url(
        &url(&db),
        Some(&src.join("config/repo/secrets.conf")),
        &bundle,
        &Silent,
    )
    .await
    .unwrap();
    (bundle, db)
}

/// The JSON pointers at which two documents differ (a value changed, added or removed).
fn differences(a: &serde_json::Value, b: &serde_json::Value, at: String, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let p = format!("{at}/{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => differences(u, v, p, out),
                    _ => out.push(p),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                differences(u, v, format!("{at}/{i}"), out);
            }
        }
        _ if a != b => out.push(at),
        _ => {}
    }
}

/// The manifest fields whose change a restore accepts, and why each is harmless: none of them
/// is read by a restore to decide what it loads or how it checks it, and a restore that
/// accepted one is still checked to have loaded exactly the bundle's rows and schema.
const HARMLESS: &[(&str, &str)] = &[
    (
        "/created_at",
        "when the backup was taken: shown by inspect, never used by a restore",
    ),
    (
        "/tool/name",
        "the writing tool's name: shown by inspect, never used by a restore",
    ),
    (
        "/tool/version",
        "the writing tool's version: shown by inspect, never used by a restore",
    ),
    (
        "/source/server_version",
        "the source server's version: shown by inspect, never used by a restore",
    ),
    (
        "/source/database",
        "the description of the source database: shown by inspect, never used by a restore",
    ),
    (
        "/format_version",
        "only its major number is read, which a one-byte change of `1.0` that still reads as \
         a version can only change to `1.1` or `1.0` with another minor: minors are compatible \
         by definition",
    ),
];

/// Why a restore could accept a changed file: for each manifest field that differs, why that
/// change is harmless (see [`harmless`]); otherwise what is wrong.
fn accepted_because(
    name: &str,
    original: &serde_json::Value,
    changed: &[u8],
) -> Result<Vec<String>, String> {
    if name != MANIFEST_FILE {
        return Err(format!("a change of {name} was accepted"));
    }
    let doc: serde_json::Value = serde_json::from_slice(changed).map_err(|e| e.to_string())?;
    let mut diff = Vec::new();
    differences(original, &doc, String::new(), &mut diff);
    if diff.is_empty() {
        return Err("accepted, and the JSON is the same".into());
    }
    let mut reasons = Vec::new();
    for d in &diff {
        match harmless(original, &doc, d) {
            Some(r) => reasons.push(r.to_string()),
            None => return Err(format!("accepted a change of {d}")),
        }
    }
    if diff.iter().any(|d| d == "/format_version") {
        let v = doc["format_version"].as_str().unwrap_or("");
        if !v.starts_with("1.") {
            return Err(format!("accepted format version {v}"));
        }
    }
    reasons.dedup();
    Ok(reasons)
}

/// Why the change at `path` from `original` to `changed` is one a restore may accept, if it
/// is: a field of [`HARMLESS`]; a key the reader does not know (ignored); a record of values
/// that did not decrypt that is gone (the restore then requires every value to decrypt, which
/// is stricter) or whose counts changed while none failed; or the record of orphans whose
/// parent is outside the bundle's tables, old and new (a restore compares orphans by count for
/// parents inside the set and only reports the others).
fn harmless(
    original: &serde_json::Value,
    changed: &serde_json::Value,
    path: &str,
) -> Option<&'static str> {
    if let Some((h, _)) = HARMLESS.iter().find(|(h, _)| *h == path) {
        return Some(h);
    }
    if original.pointer(path).is_none() {
        return Some("a key the reader does not know");
    }
    if path == "/encrypted" && changed.get("encrypted").is_none() {
        return Some("/encrypted gone");
    }
    // The counts of the record: a restore decrypts every value itself and consults the
    // record only for values that fail (which must then be the same, value for value); in a
    // bundle where none failed, they are not read.
    if ["/encrypted/decrypted", "/encrypted/failed"].contains(&path)
        && original["encrypted"]["failed"] == 0
    {
        return Some("/encrypted counts, none failed");
    }
    let outside = |doc: &serde_json::Value| {
        let tables: Vec<String> = doc["tables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str())
            .map(str::to_ascii_lowercase)
            .collect();
        doc["orphans"].as_array().is_none_or(|o| {
            o.iter().all(|o| {
                o["parent"]
                    .as_str()
                    .is_some_and(|p| !tables.contains(&p.to_ascii_lowercase()))
            })
        })
    };
    (path.starts_with("/orphans") && outside(original) && outside(changed))
        .then_some("/orphans with parents outside the set")
}

/// Restores the bundle at `b` into the SQLite `target`, through the library.
async fn restore_sqlite(b: &Path, target: &Path) -> zsso::Result<zsso::restore::RestoreReport> {
    zsso::restore_url(b, &url(target), None, &Silent).await
}

/// A target that already holds data: an SSO table of its own and a table outside the set.
fn prepared_target(dir: &Path) -> (PathBuf, Vec<u8>) {
    std::fs::create_dir_all(dir).unwrap();
    let target = dir.join("target.db");
    sqlite3(
        &target,
        "CREATE TABLE zato_sso_user (id INTEGER PRIMARY KEY, username TEXT UNIQUE);\
         INSERT INTO zato_sso_user VALUES (1, 'existing');\
         CREATE TABLE cluster (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO cluster VALUES (1, 'c1');",
    );
    let bytes = std::fs::read(&target).unwrap();
    (target, bytes)
}

/// A scratch directory in memory where there is one (restores sync their files).
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

/// What the changes given to one worker found.
#[derive(Default)]
struct Flips {
    tried: u32,
    /// Seconds spent per file.
    seconds: std::collections::BTreeMap<String, f64>,
    harmless: std::collections::BTreeMap<String, u32>,
    unexplained: Vec<String>,
}

/// Tries the changes `jobs` (file, offset, XOR mask) on a copy of `bundle` of its own, each
/// restored into a new SQLite file `target`: refused with nothing left behind, or accepted for
/// a reason of [`HARMLESS`] with exactly the source's content.
fn try_flips(
    bundle: &Path,
    work: &Path,
    jobs: &[(&str, usize, u8)],
    expected: &(String, String),
) -> Flips {
    let rt = runtime();
    copy_dir(bundle, work);
    let tdir = work.with_extension("target");
    std::fs::create_dir(&tdir).unwrap();
    let target = tdir.join("target.db");
    let original: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join(MANIFEST_FILE)).unwrap()).unwrap();
    let files: std::collections::BTreeMap<&str, Vec<u8>> = [DUMP_FILE, SECRETS_FILE, MANIFEST_FILE]
        .into_iter()
        .map(|f| (f, std::fs::read(work.join(f)).unwrap()))
        .collect();
    let mut out = Flips::default();
    for &(name, i, x) in jobs {
        let p = work.join(name);
        let mut changed = files[name].clone();
        changed[i] ^= x;
        std::fs::write(&p, &changed).unwrap();
        out.tried += 1;
        let what = format!(
            "{name} byte {i} ({:?} to {:?})",
            files[name][i] as char, changed[i] as char
        );
        let t0 = std::time::Instant::now();
        let result = rt.block_on(restore_sqlite(work, &target));
        *out.seconds
            .entry(format!("{name} {x:#x} {}", result.is_ok()))
            .or_default() += t0.elapsed().as_secs_f64();
        match result {
            Err(_) => {
                let left = files_in(&tdir);
                assert!(left.is_empty(), "{what}: refused, but it left {left:?}");
            }
            Ok(_) => {
                match accepted_because(name, &original, &changed) {
                    Ok(paths) => {
                        for d in paths {
                            *out.harmless.entry(d).or_default() += 1;
                        }
                    }
                    Err(e) => out.unexplained.push(format!("{what}: {e}")),
                }
                assert_eq!(
                    &(typed_hex_rows(&target), sso_objects(&target)),
                    expected,
                    "{what}: accepted, and the target is not exactly the bundle's"
                );
                for f in files_in(&tdir) {
                    std::fs::remove_file(tdir.join(f)).unwrap();
                }
            }
        }
        std::fs::write(&p, &files[name]).unwrap();
    }
    out
}

#[test]
fn every_single_byte_change_of_a_small_bundle_is_detected() {
    let started = std::time::Instant::now();
    let dir = scratch();
    let (bundle, src_db) = runtime().block_on(tiny_bundle(dir.path()));
    let expected = (typed_hex_rows(&src_db), sso_objects(&src_db));
    // As it is, the bundle restores into a new file with exactly the source's content.
    let fresh = dir.path().join("fresh.db");
    runtime().block_on(restore_sqlite(&bundle, &fresh)).unwrap();
    assert_eq!((typed_hex_rows(&fresh), sso_objects(&fresh)), expected);
    // Every byte of every file, with its lowest bit flipped and with bit 5 flipped (the case
    // of a letter, a digit into a control character, a space into NUL).
    let mut jobs = Vec::new();
    let mut sizes = Vec::new();
    for name in [DUMP_FILE, SECRETS_FILE, MANIFEST_FILE] {
        let n = std::fs::metadata(bundle.join(name)).unwrap().len() as usize;
        sizes.push(format!("{name} {n} bytes"));
        for i in 0..n {
            jobs.push((name, i, 0x01u8));
            jobs.push((name, i, 0x20u8));
        }
    }
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let chunk = jobs.len().div_ceil(workers);
    let results: Vec<Flips> = std::thread::scope(|sc| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .enumerate()
            .map(|(k, part)| {
                let work = dir.path().join(format!("work{k}"));
                let (bundle, expected) = (&bundle, &expected);
                sc.spawn(move || try_flips(bundle, &work, part, expected))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let tried: u32 = results.iter().map(|r| r.tried).sum();
    let mut seconds: std::collections::BTreeMap<&str, f64> = Default::default();
    for r in &results {
        for (k, v) in &r.seconds {
            *seconds.entry(k).or_default() += v;
        }
    }
    eprintln!("seconds per file, mask and outcome: {seconds:?}");
    assert_eq!(tried as usize, jobs.len());
    let unexplained: Vec<&String> = results.iter().flat_map(|r| &r.unexplained).collect();
    let mut harmless: std::collections::BTreeMap<&str, u32> = Default::default();
    for r in &results {
        for (k, v) in &r.harmless {
            *harmless.entry(k).or_default() += v;
        }
    }
    assert!(
        unexplained.is_empty(),
        "{} changes accepted without a reason:\n{}",
        unexplained.len(),
        unexplained
            .iter()
            .take(40)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "{tried} single-byte changes of a bundle of {} in {:.1} s; accepted as harmless: {harmless:?}",
        sizes.join(", "),
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// A manifest that names files outside the bundle
// ---------------------------------------------------------------------------------------------

/// Edits the manifest of `b` as JSON.
fn edit_manifest(b: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = b.join(MANIFEST_FILE);
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut m);
    std::fs::write(&p, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// The index of the entry for `name` in the manifest's `files`.
fn entry(m: &serde_json::Value, name: &str) -> usize {
    m["files"]
        .as_array()
        .unwrap()
        .iter()
        .position(|f| f["name"] == name)
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn manifests_naming_files_outside_the_bundle_are_refused_naming_the_file() {
    // tests/sqlite_safety.rs covers `../zato-sso-backup.sql` and a dump that is a link to a
    // file outside the bundle; these are the other ways out.
    let dir = tempfile::tempdir().unwrap();
    let (bundle, src_db) = tiny_bundle(dir.path()).await;
    let (target, before) = prepared_target(&dir.path().join("t"));
    let abs_dump = bundle.join(DUMP_FILE).display().to_string();
    let mut names: Vec<String> = [
        "/etc/passwd",
        "./zato-sso-backup.sql",
        "sub/zato-sso-backup.sql",
        "zato-sso-backup.sql/",
        "zato-sso-backup.sql/.",
        "secrets.conf/../zato-sso-backup.sql",
        "..",
        ".",
        "",
        "manifest.json",
        "zato-sso-backup.sql\u{0}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.push(abs_dump.clone());
    let mut n = 0;
    let mut check = |b: &Path, expect: &[&str], what: &str| {
        let b = b.to_path_buf();
        let target = target.clone();
        let expect: Vec<String> = expect.iter().map(|s| s.to_string()).collect();
        let what = what.to_string();
        n += 1;
        async move {
            let e = restore_sqlite(&b, &target)
                .await
                .err()
                .unwrap_or_else(|| panic!("{what}: accepted"));
            let msg = zsso::error::chain(&e);
            for x in &expect {
                assert!(msg.contains(x.as_str()), "{what}: `{x}` not in: {msg}");
            }
            msg
        }
    };
    for (k, name) in names.iter().enumerate() {
        for listed in [DUMP_FILE, SECRETS_FILE] {
            let b = dir.path().join(format!("named-{k}-{listed}"));
            copy_dir(&bundle, &b);
            edit_manifest(&b, |m| {
                let i = entry(m, listed);
                m["files"][i]["name"] = serde_json::json!(name);
            });
            let shown = format!("lists a file `{name}` that is not part of a zsso bundle");
            check(&b, &[shown.as_str()], &format!("{listed} named {name:?}")).await;
            assert!(std::fs::read(&target).unwrap() == before, "{name}");
        }
    }
    // The same file listed twice.
    let b = dir.path().join("twice");
    copy_dir(&bundle, &b);
    edit_manifest(&b, |m| {
        let f = m["files"][0].clone();
        m["files"].as_array_mut().unwrap().push(f);
    });
    check(&b, &["lists `zato-sso-backup.sql` twice"], "listed twice").await;

    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    type Setup = Box<dyn Fn(&Path, &Path)>;
    let links: Vec<(&str, &str, Setup, &str)> = vec![
        (
            "the dump a link to a copy inside the bundle",
            DUMP_FILE,
            Box::new(|b, _| {
                std::fs::rename(b.join(DUMP_FILE), b.join("copy.sql")).unwrap();
                std::os::unix::fs::symlink("copy.sql", b.join(DUMP_FILE)).unwrap();
            }),
            "is not a regular file",
        ),
        (
            "secrets.conf a link to a file outside",
            SECRETS_FILE,
            Box::new(|b, o| {
                let real = o.join("secrets.conf");
                std::fs::rename(b.join(SECRETS_FILE), &real).unwrap();
                std::os::unix::fs::symlink(&real, b.join(SECRETS_FILE)).unwrap();
            }),
            "is not a regular file",
        ),
        (
            "secrets.conf a link to a copy inside the bundle",
            SECRETS_FILE,
            Box::new(|b, _| {
                std::fs::rename(b.join(SECRETS_FILE), b.join("copy.conf")).unwrap();
                std::os::unix::fs::symlink("copy.conf", b.join(SECRETS_FILE)).unwrap();
            }),
            "is not a regular file",
        ),
        (
            "the manifest a link to a copy outside",
            MANIFEST_FILE,
            Box::new(|b, o| {
                let real = o.join("manifest.json");
                std::fs::rename(b.join(MANIFEST_FILE), &real).unwrap();
                std::os::unix::fs::symlink(&real, b.join(MANIFEST_FILE)).unwrap();
            }),
            "manifest is not a regular file",
        ),
        (
            "the dump a directory",
            DUMP_FILE,
            Box::new(|b, _| {
                std::fs::remove_file(b.join(DUMP_FILE)).unwrap();
                std::fs::create_dir(b.join(DUMP_FILE)).unwrap();
            }),
            "is not a regular file",
        ),
        (
            "the dump a FIFO",
            DUMP_FILE,
            Box::new(|b, _| {
                std::fs::remove_file(b.join(DUMP_FILE)).unwrap();
                let ok = std::process::Command::new("mkfifo")
                    .arg(b.join(DUMP_FILE))
                    .status()
                    .unwrap()
                    .success();
                assert!(ok);
            }),
            "is not a regular file",
        ),
        (
            "the dump a hard link to a file outside that changed since",
            DUMP_FILE,
            Box::new(|b, o| {
                let real = o.join("dump.sql");
                std::fs::rename(b.join(DUMP_FILE), &real).unwrap();
                std::fs::hard_link(&real, b.join(DUMP_FILE)).unwrap();
                let mut d = std::fs::read(&real).unwrap();
                let at = d.len() / 2;
                d[at] ^= 1;
                std::fs::write(&real, d).unwrap();
            }),
            "sha256 differs",
        ),
        (
            "an unlisted secrets.conf that is a link",
            SECRETS_FILE,
            Box::new(|b, _| {
                edit_manifest(b, |m| {
                    let i = entry(m, SECRETS_FILE);
                    m["files"].as_array_mut().unwrap().remove(i);
                    m.as_object_mut().unwrap().remove("secrets");
                });
                std::fs::remove_file(b.join(SECRETS_FILE)).unwrap();
                std::os::unix::fs::symlink("/etc/passwd", b.join(SECRETS_FILE)).unwrap();
            }),
            "is in the bundle but not in its manifest",
        ),
    ];
    for (k, (what, file, setup, expect)) in links.iter().enumerate() {
        let b = dir.path().join(format!("link-{k}"));
        copy_dir(&bundle, &b);
        let o = outside.join(format!("{k}"));
        std::fs::create_dir(&o).unwrap();
        setup(&b, &o);
        let path = b.join(file).display().to_string();
        check(&b, &[*expect, path.as_str()], what).await;
        assert!(std::fs::read(&target).unwrap() == before, "{what}");
    }
    // A hard link whose file outside still has the bundle's bytes is the bundle's file: every
    // byte a restore reads is checked against the manifest's SHA-256, once when the dump is
    // checked and again as it is loaded, so what is restored is exactly the bundle.
    let b = dir.path().join("hard");
    copy_dir(&bundle, &b);
    let real = outside.join("hard.sql");
    std::fs::rename(b.join(DUMP_FILE), &real).unwrap();
    std::fs::hard_link(&real, b.join(DUMP_FILE)).unwrap();
    let fresh = dir.path().join("fresh.db");
    restore_sqlite(&b, &fresh).await.unwrap();
    assert_eq!(
        (typed_hex_rows(&fresh), sso_objects(&fresh)),
        (typed_hex_rows(&src_db), sso_objects(&src_db))
    );
    assert!(n > 20);
}

// ---------------------------------------------------------------------------------------------
// Another installation's secrets.conf is caught by verify, on each database
// ---------------------------------------------------------------------------------------------

/// Verifies `bundle` against the database at `db` with a brand-new installation's
/// secrets.conf: its own well_known_data decrypts, nothing of the data does.
async fn verify_with_another_installations_secrets(bundle: &Path, db: &str, dir: &Path) {
    let other = dir.join("other-secrets.conf");
    std::fs::write(&other, new_secrets_conf()).unwrap();
    let r = verify_url(bundle, db, &other, None).await;
    assert!(
        !r.ok(),
        "{db}: verify passed with another installation's key1"
    );
    let problems = r.problems.join("\n");
    assert!(
        problems.contains("different key1 than the bundle's"),
        "{db}: {problems}"
    );
    assert!(
        problems.contains("do not decrypt with key1"),
        "{db}: {problems}"
    );
    let s = r.secrets.as_ref().unwrap();
    assert!(s.well_known, "{db}");
    assert_eq!(s.same_key_as_bundle, Some(false), "{db}");
    assert_eq!(s.encrypted.decrypted, 0, "{db}");
    assert!(s.encrypted.failed > 10, "{db}: {}", s.encrypted.failed);
    // With the right one, the same verify passes.
    let right = dir.join("right-secrets.conf");
    std::fs::copy(bundle.join(SECRETS_FILE), &right).unwrap();
    let r = verify_url(bundle, db, &right, None).await;
    assert!(r.ok(), "{db}: {:?}", r.problems);
}

#[tokio::test]
async fn another_installations_secrets_are_caught_by_verify_on_each_database() {
    let test = "another_installations_secrets_are_caught_by_verify";
    let dir = tempfile::tempdir().unwrap();
    let src = source_server(dir.path());
    let bundle = dir.path().join("sqlite-bundle");
    let db = url(&src.join("zato.db"));
    zsso::backup_url(
        &db,
        Some(&src.join("config/repo/secrets.conf")),
        &bundle,
        &Silent,
    )
    .await
    .unwrap();
    verify_with_another_installations_secrets(&bundle, &db, dir.path()).await;
    if let Some(pg) = common::pg::PgDb::create(test, "hostile_verify") {
        pg.load_fixture();
        let b = dir.path().join("pg-bundle");
        let secrets = common::pg::fixture_dir().join("secrets.conf");
        zsso::backup_url(&pg.url, Some(&secrets), &b, &Silent)
            .await
            .unwrap();
        verify_with_another_installations_secrets(&b, &pg.url, dir.path()).await;
        pg.drop_now();
    }
    if let Some(my) = common::my::MyDb::create(test, "hostile_verify") {
        my.load_fixture();
        let b = dir.path().join("my-bundle");
        let secrets = common::my::fixture_dir().join("secrets.conf");
        zsso::backup_url(&my.url, Some(&secrets), &b, &Silent)
            .await
            .unwrap();
        verify_with_another_installations_secrets(&b, &my.url, dir.path()).await;
        my.drop_now();
    }
}

// ---------------------------------------------------------------------------------------------
// The source is checked before the target is opened
// ---------------------------------------------------------------------------------------------

/// A damaged bundle is refused before its target is opened: the error names the dump's
/// damage, not the target, which is neither read nor cleaned. The targets are a file that is
/// not a database, with a leftover of a killed restore beside it that opening the target would
/// remove, and servers that cannot be reached (through the conversion to their dialects). With
/// the bundle intact, each of them fails on the target instead.
#[tokio::test(flavor = "current_thread")]
async fn a_damaged_bundle_is_refused_before_the_target_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_server(dir.path());
    let bundle = dir.path().join("bundle");
    back_up_server(&src, &bundle).await;
    let damaged = dir.path().join("damaged");
    copy_dir(&bundle, &damaged);
    let mut dump = std::fs::read(damaged.join(DUMP_FILE)).unwrap();
    let at = dump.len() / 2;
    dump[at] ^= 0x20;
    std::fs::write(damaged.join(DUMP_FILE), dump).unwrap();

    let target = dir.path().join("target.db");
    std::fs::write(&target, b"this is not a database\n").unwrap();
    // A process id above Linux's largest: no process has it, so the file is a dead leftover.
    let leftover = dir.path().join(".target.db.zsso-partial-4194999-1f");
    std::fs::write(&leftover, b"left by a killed restore").unwrap();
    let targets = [
        (url(&target), "is not a database"),
        (
            "postgres://postgres@127.0.0.1:1/zsso_nowhere".to_string(),
            "127.0.0.1:1",
        ),
        (
            "mysql://root@127.0.0.1:1/zsso_nowhere".to_string(),
            "127.0.0.1:1",
        ),
    ];
    // MySQL's DATETIME would drop the fixture's microseconds: allowed, so that only the target
    // stops the intact bundle.
    let options = zsso::restore::RestoreOptions {
        cross: zsso::cross::CrossOptions {
            drop_microseconds: true,
        },
        ..Default::default()
    };
    for (to, _) in &targets {
        let e = zsso::restore_url_with(&damaged, to, None, &options, &Silent)
            .await
            .expect_err("a damaged bundle is refused");
        let shown = zsso::error::chain(&e);
        assert!(
            shown.contains(DUMP_FILE) && shown.contains("sha256 differs"),
            "{to}: {shown}"
        );
    }
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"this is not a database\n",
        "the target is unchanged"
    );
    assert!(leftover.exists(), "the target's directory was not cleaned");
    for (to, because) in &targets {
        let e = zsso::restore_url_with(&bundle, to, None, &options, &Silent)
            .await
            .expect_err("the target cannot be opened");
        let shown = zsso::error::chain(&e);
        assert!(
            shown.contains(because) && !shown.contains("sha256"),
            "{to}: {shown}"
        );
    }
    assert!(
        !leftover.exists(),
        "opening the SQLite target removed the dead leftover beside it"
    );
}
