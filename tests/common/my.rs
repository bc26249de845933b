//! A fresh MySQL or MariaDB database per test, and an independent view of it through the
//! `mysql` client.

use std::path::Path;
use std::process::Command;

/// The server named by `ZSSO_TEST_MYSQL_URL`; without one the test says loudly that it is
/// skipped, or fails when `ZSSO_REQUIRE_SERVERS=1`.
pub fn server(test: &str) -> Option<String> {
    match std::env::var("ZSSO_TEST_MYSQL_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("ZSSO_REQUIRE_SERVERS").as_deref() != Ok("1"),
                "{test}: ZSSO_REQUIRE_SERVERS=1 and ZSSO_TEST_MYSQL_URL is not set"
            );
            eprintln!(
                "SKIPPED {test}: set ZSSO_TEST_MYSQL_URL to run it on a MySQL or MariaDB server"
            );
            None
        }
    }
}

/// A database of its own (a leftover of a failed test is dropped by the next run).
pub struct MyDb {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
    /// The client's connection arguments.
    args: Vec<String>,
}

/// The `mysql` client's arguments for a `mysql://user[:password]@host[:port]/db` URL.
fn client_args(url: &str) -> Vec<String> {
    let rest = url.split_once("://").expect("a URL").1;
    let (auth, hostpart) = rest.rsplit_once('@').unwrap_or(("root", rest));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let host = hostpart.split('/').next().unwrap();
    let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
    let mut a = vec![
        format!("-u{user}"),
        format!("-h{host}"),
        format!("-P{port}"),
        "--protocol=tcp".into(),
        "--default-character-set=utf8mb4".into(),
    ];
    if !password.is_empty() {
        a.push(format!("-p{password}"));
    }
    a
}

impl MyDb {
    /// Creates `zsso_t_<tag>` on the server, or `None` when there is no server.
    pub fn create(test: &str, tag: &str) -> Option<MyDb> {
        let admin = server(test)?;
        let name = format!("zsso_t_{tag}").to_ascii_lowercase();
        let (base, _) = admin.rsplit_once('/').unwrap();
        let me = MyDb {
            url: format!("{base}/{name}"),
            args: client_args(&admin),
            name,
        };
        me.run(None, &format!(
            "DROP DATABASE IF EXISTS `{0}`; DROP DATABASE IF EXISTS `zsso_new_{0}`; DROP DATABASE IF EXISTS `zsso_old_{0}`; \
             CREATE DATABASE `{0}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
            me.name
        ))
        .unwrap();
        Some(me)
    }

    fn run(&self, db: Option<&str>, sql: &str) -> Result<String, String> {
        let mut cmd = Command::new("mysql");
        // The helper's own statements read the same whatever the server's global sql_mode.
        cmd.args(&self.args)
            .args(["--batch", "--raw", "--skip-column-names"])
            .arg("--init-command=SET SESSION sql_mode = 'STRICT_ALL_TABLES'");
        if let Some(d) = db {
            cmd.arg(d);
        }
        super::run_with_input(cmd, sql)
    }

    /// Runs `sql` in the database and returns what the client prints.
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|e| panic!("{}: {e}", sql.chars().take(200).collect::<String>()))
    }

    /// Runs `sql` in the database, or returns the client's error.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        self.run(Some(&self.name), sql)
    }

    /// Loads a file with the `mysql` client, as a user would (`mysql db < file`), without the
    /// helper's own session settings.
    pub fn load(&self, file: &Path) -> Result<String, String> {
        let mut cmd = Command::new("mysql");
        cmd.args(&self.args).arg(&self.name);
        super::run_with_input(cmd, &std::fs::read_to_string(file).unwrap())
    }

    /// Loads the fixture's mysqldump of a Zato 3.2 SSO database.
    pub fn load_fixture(&self) {
        self.load(&fixture_dir().join("zato-sso.sql")).unwrap();
    }

    /// Runs `sql` as an administrator, outside the database.
    pub fn admin(&self, sql: &str) -> String {
        self.run(None, sql).unwrap()
    }

    /// The databases on the server whose names start with `prefix`.
    pub fn databases_like(&self, prefix: &str) -> Vec<String> {
        self.admin(&format!("SHOW DATABASES LIKE '{prefix}%'"))
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Everything about the tables: `SHOW CREATE TABLE` (AUTO_INCREMENT included) and every
    /// row, each value in hex, in primary-key order.
    pub fn state(&self) -> String {
        self.state_of("%")
    }

    /// [`MyDb::state`] of the SSO tables only.
    pub fn sso_state(&self) -> String {
        self.state_of("zato\\_sso\\_%")
    }

    fn state_of(&self, like: &str) -> String {
        let tables = self.sql(&format!(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME LIKE '{like}' ORDER BY TABLE_NAME",
            self.name
        ));
        let mut out = String::new();
        for t in tables.lines() {
            out.push_str(&self.sql(&format!("SHOW CREATE TABLE `{t}`")));
            // Numbers as the server prints them (HEX would make a double an integer), the
            // rest in hex.
            let cols = self.sql(&format!(
                "SET SESSION group_concat_max_len = 1000000; \
                 SELECT GROUP_CONCAT(IF(DATA_TYPE IN ('float', 'double', 'decimal', 'tinyint', 'smallint', 'mediumint', 'int', 'bigint'), \
                     CONCAT('COALESCE(CAST(`', COLUMN_NAME, '` AS CHAR), ''NULL'')'), \
                     CONCAT('COALESCE(HEX(`', COLUMN_NAME, '`), ''NULL'')')) ORDER BY ORDINAL_POSITION SEPARATOR ', '','', ') \
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = '{t}'",
                self.name
            ));
            out.push_str(&self.sql(&format!(
                "SELECT CONCAT({}) AS r FROM `{t}` ORDER BY 1",
                cols.trim()
            )));
        }
        out
    }

    /// Drops the database.
    pub fn drop_now(self) {
        self.admin(&format!("DROP DATABASE IF EXISTS `{}`", self.name));
    }
}

/// The fixture directory of the MySQL data.
pub fn fixture_dir() -> std::path::PathBuf {
    super::shared::root().join("tests/fixtures/zato-3.2-mysql")
}
