//! A fresh PostgreSQL database per test, and an independent view of it through `psql`.

use std::path::Path;
use std::process::Command;

/// The server named by `ZSSO_TEST_POSTGRES_URL`; without one the test says loudly that it is
/// skipped, or fails when `ZSSO_REQUIRE_SERVERS=1`.
pub fn server(test: &str) -> Option<String> {
    match std::env::var("ZSSO_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("ZSSO_REQUIRE_SERVERS").as_deref() != Ok("1"),
                "{test}: ZSSO_REQUIRE_SERVERS=1 and ZSSO_TEST_POSTGRES_URL is not set"
            );
            eprintln!(
                "SKIPPED {test}: set ZSSO_TEST_POSTGRES_URL to run it on a PostgreSQL server"
            );
            None
        }
    }
}

/// A database of its own, dropped by [`PgDb::drop_now`] (a leftover of a failed test is
/// dropped by the next run of the same test name).
pub struct PgDb {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
    admin: String,
}

fn with_db(url: &str, db: &str) -> String {
    let (base, rest) = url.rsplit_once('/').expect("a URL with a database");
    let query = rest
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{base}/{db}{query}")
}

impl PgDb {
    /// Creates `zsso_t_<tag>_<n>` on the server, or `None` when there is no server.
    pub fn create(test: &str, tag: &str) -> Option<PgDb> {
        let admin = server(test)?;
        let name = format!("zsso_t_{tag}").to_ascii_lowercase();
        assert!(name.len() < 60, "{name} is too long for PostgreSQL");
        let me = PgDb {
            url: with_db(&admin, &name),
            name,
            admin,
        };
        me.admin_sql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", me.name));
        me.admin_sql(&format!(
            "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'",
            me.name
        ));
        Some(me)
    }

    fn admin_sql(&self, sql: &str) {
        run_psql(&self.admin, &["-c", sql]).unwrap();
    }

    /// Runs `sql` and returns what psql prints (unaligned, tuples only).
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|e| panic!("{}: {e}", sql.chars().take(200).collect::<String>()))
    }

    /// Runs `sql` (given on standard input) and returns psql's error, if any.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        let mut cmd = Command::new("psql");
        cmd.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &self.url,
        ]);
        super::run_with_input(cmd, sql)
    }

    /// Loads a file with `psql -1 -v ON_ERROR_STOP=1 -f`.
    pub fn load(&self, file: &Path) -> Result<String, String> {
        run_psql(&self.url, &["-1", "-f", &file.display().to_string()])
    }

    /// Loads the fixture's pg_dump of a Zato 3.2 SSO database.
    pub fn load_fixture(&self) {
        self.load(&fixture_dir().join("zato-sso.sql")).unwrap();
    }

    /// Everything about the SSO tables and sequences, as PostgreSQL prints it: each table's
    /// rows in order, its columns, constraints and indexes, and each sequence's state.
    pub fn state(&self) -> String {
        let tables = self.sql(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE nspname = 'public' AND relkind = 'r' ORDER BY relname",
        );
        let mut out = String::new();
        for t in tables.lines() {
            out.push_str(&format!("== {t}\n"));
            out.push_str(&self.sql(&format!(
                "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (SELECT zsso_row::text AS x FROM \"{t}\" zsso_row) s"
            )));
            out.push_str(&self.sql(&format!(
                "SELECT attname || ' ' || format_type(atttypid, atttypmod) || ' ' || attnotnull \
                 FROM pg_attribute WHERE attrelid = '\"{t}\"'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            )));
            out.push_str(&self.sql(&format!(
                "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
                 WHERE conrelid = '\"{t}\"'::regclass ORDER BY conname"
            )));
            out.push_str(&self.sql(&format!(
                "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = '\"{t}\"'::regclass ORDER BY 1"
            )));
        }
        for s in self.sequence_names() {
            out.push_str(&self.sql(&format!(
                "SELECT '{s} ' || last_value || ' ' || is_called FROM \"{s}\""
            )));
        }
        out
    }

    /// The sequences of schema public.
    pub fn sequence_names(&self) -> Vec<String> {
        self.sql(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE nspname = 'public' AND relkind = 'S' ORDER BY relname",
        )
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// Drops the database.
    pub fn drop_now(self) {
        self.admin_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// The fixture directory of the PostgreSQL data.
pub fn fixture_dir() -> std::path::PathBuf {
    super::shared::root().join("tests/fixtures/zato-3.2-postgresql")
}

fn run_psql(url: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url])
        .args(args)
        .output()
        .expect("the psql client is installed");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
