//! One database of each kind for a case of the suite, seen through the vendor's own client:
//! what it holds, and the faults a test can inject into it from outside.

use crate::common::{self, my::MyDb, pg::PgDb};
use std::path::{Path, PathBuf};

/// The kinds of database the suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    Mysql,
}

impl Kind {
    pub fn tag(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "pg",
            Kind::Mysql => "my",
        }
    }
}

/// A fresh database of one kind, removed on drop.
pub struct Db {
    pub kind: Kind,
    pub url: String,
    pg: Option<PgDb>,
    my: Option<MyDb>,
    file: Option<PathBuf>,
}

impl Db {
    /// A new empty database `tag` for `test`, or `None` (said loudly, or a failure under
    /// `ZSSO_REQUIRE_SERVERS=1`) when the kind's server is not configured. SQLite databases
    /// are files under `dir` (not created until something writes them).
    pub fn create(kind: Kind, test: &str, tag: &str, dir: &Path) -> Option<Db> {
        let tag = format!("b_{tag}_{}", kind.tag());
        let mut db = Db {
            kind,
            url: String::new(),
            pg: None,
            my: None,
            file: None,
        };
        match kind {
            Kind::Sqlite => {
                let f = dir.join(format!("{tag}.db"));
                db.url = format!("sqlite://{}", f.display());
                db.file = Some(f);
            }
            Kind::Postgres => {
                let p = PgDb::create(test, &tag)?;
                db.url = p.url.clone();
                db.pg = Some(p);
            }
            Kind::Mysql => {
                let m = MyDb::create(test, &tag)?;
                db.url = m.url.clone();
                db.my = Some(m);
            }
        }
        Some(db)
    }

    /// The SQLite file.
    pub fn file(&self) -> &Path {
        self.file.as_deref().expect("a SQLite database")
    }

    /// Loads the Zato 3.2 fixture of this kind, as Zato itself wrote it.
    pub fn load_fixture(&self) {
        match self.kind {
            Kind::Sqlite => {
                std::fs::copy(common::fixture().join("server/zato.db"), self.file()).unwrap();
            }
            Kind::Postgres => self.pg.as_ref().unwrap().load_fixture(),
            Kind::Mysql => self.my.as_ref().unwrap().load_fixture(),
        }
    }

    /// Runs SQL through the vendor's client and returns what it prints.
    pub fn sql(&self, sql: &str) -> String {
        match self.kind {
            Kind::Sqlite => common::sqlite3(self.file(), sql),
            Kind::Postgres => self.pg.as_ref().unwrap().sql(sql),
            Kind::Mysql => self.my.as_ref().unwrap().sql(sql),
        }
    }

    /// Everything the database holds, as its own client prints it: every table's
    /// definition and rows, indexes, sequences and counters. "absent" for a SQLite file that
    /// does not exist.
    pub fn state(&self) -> String {
        match self.kind {
            Kind::Sqlite => {
                if !self.file().exists() {
                    return "absent".into();
                }
                let out = std::process::Command::new("sqlite3")
                    .arg(self.file())
                    .arg(".dump")
                    .output()
                    .unwrap();
                assert!(out.status.success());
                String::from_utf8(out.stdout).unwrap()
            }
            Kind::Postgres => self.pg.as_ref().unwrap().state(),
            Kind::Mysql => self.my.as_ref().unwrap().state(),
        }
    }

    /// Adds `n` groups (ids from 1001) with 200 characters of opaque1 each: enough rows for
    /// the first table of a backup to take several batches.
    pub fn add_groups(&self, n: u32) {
        let (t, f) = if self.kind == Kind::Postgres {
            ("true", "false")
        } else {
            ("1", "0")
        };
        let cols = "id, is_active, is_internal, group_id, name, source, opaque1";
        let values = format!(
            "1000 + i, {t}, {f}, CONCAT('zgrp-suite-', i), CONCAT('suite group ', i), 'zato', REPEAT('x', 200)"
        );
        let sql = match self.kind {
            Kind::Sqlite => format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
                 INSERT INTO zato_sso_group ({cols}) SELECT 1000 + i, 1, 0, 'zgrp-suite-' || i, \
                 'suite group ' || i, 'zato', printf('%.200c', 'x') FROM n;"
            ),
            Kind::Postgres => format!(
                "INSERT INTO zato_sso_group ({cols}) SELECT {values} FROM generate_series(1, {n}) i;"
            ),
            Kind::Mysql => format!(
                "SET SESSION max_recursive_iterations = {n}; INSERT INTO zato_sso_group ({cols}) WITH RECURSIVE n(i) AS \
                 (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) SELECT {values} FROM n;"
            ),
        };
        self.sql(&sql);
        assert_eq!(self.count("zato_sso_group"), 5 + u64::from(n));
    }

    /// The columns of `table`, in their order.
    pub fn columns(&self, table: &str) -> Vec<String> {
        let sql = match self.kind {
            Kind::Sqlite => format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
            Kind::Postgres => format!(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' \
                 AND table_name = '{table}' ORDER BY ordinal_position"
            ),
            Kind::Mysql => format!(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                 AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION"
            ),
        };
        self.sql(&sql).lines().map(str::to_string).collect()
    }

    /// The number of rows of `table`.
    pub fn count(&self, table: &str) -> u64 {
        self.sql(&format!("SELECT COUNT(*) FROM {table}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// Kills every other connection to this database (and to the restore's own databases on
    /// MySQL), as an administrator or a network failure would; returns how many.
    pub fn kill_connections(&self) -> usize {
        match self.kind {
            Kind::Sqlite => 0,
            Kind::Postgres => {
                let p = self.pg.as_ref().unwrap();
                p.sql(&format!(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = '{}' AND pid <> pg_backend_pid()",
                    p.name
                ))
                .trim()
                .parse()
                .unwrap()
            }
            Kind::Mysql => {
                let m = self.my.as_ref().unwrap();
                let ids = m.admin(&format!(
                    "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
                     AND DB IN ('{0}', 'zsso_new_{0}', 'zsso_old_{0}')",
                    m.name
                ));
                let ids: Vec<&str> = ids.lines().collect();
                for id in &ids {
                    // A connection that ended meanwhile is no error.
                    let _ = m.try_sql(&format!("KILL CONNECTION {id}"));
                }
                ids.len()
            }
        }
    }

    /// What an interrupted run may have left inside the database server: MySQL's
    /// `zsso_new_`/`zsso_old_` databases; SQLite's temporary files next to the database.
    pub fn leftovers(&self) -> Vec<String> {
        match self.kind {
            Kind::Sqlite => {
                let dir = self.file().parent().unwrap();
                let name = self
                    .file()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let mut out: Vec<String> = std::fs::read_dir(dir)
                    .unwrap()
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n != &name && n.contains(&name))
                    .collect();
                out.sort();
                out
            }
            Kind::Postgres => Vec::new(),
            Kind::Mysql => {
                let m = self.my.as_ref().unwrap();
                let mut out = m.databases_like(&format!("zsso\\_new\\_{}", m.name));
                out.extend(m.databases_like(&format!("zsso\\_old\\_{}", m.name)));
                out
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Kept for a look; the next run of the same test drops it first.
            return;
        }
        if let Some(p) = self.pg.take() {
            p.drop_now();
        }
        if let Some(m) = self.my.take() {
            m.drop_now();
        }
    }
}
