//! A Zato server directory and the database settings in its `config/repo/server.conf`.
//!
//! ```text
//! [odb]
//! db_name=zato.db
//! engine=sqlite
//! host=
//! port=
//! username=
//! password=zato+secret://zato.server_conf.odb.password
//! ```

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secrets::{ConfFile, Key1, SECRET_URI_PREFIX, SecretsConf};

/// The database engine named by `[odb] engine` of server.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// `sqlite`.
    Sqlite,
    /// `postgresql` (or `postgres`).
    Postgresql,
    /// `mysql` (or `mariadb`).
    Mysql,
    /// Anything else, as written (without its `+driver` suffix).
    Other(String),
}

impl Engine {
    /// Parses an `engine` value such as `sqlite` or `postgresql+pg8000`; the `+driver`
    /// suffix is ignored, case too.
    pub fn parse(value: &str) -> Self {
        let name = value.split('+').next().unwrap_or("").trim();
        match name.to_ascii_lowercase().as_str() {
            "sqlite" => Engine::Sqlite,
            "postgresql" | "postgres" => Engine::Postgresql,
            "mysql" | "mariadb" => Engine::Mysql,
            _ => Engine::Other(name.to_owned()),
        }
    }

    /// The engine's name: `sqlite`, `postgresql`, `mysql` or the other name.
    pub fn name(&self) -> &str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgresql => "postgresql",
            Engine::Mysql => "mysql",
            Engine::Other(name) => name,
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `[odb]` section of server.conf: where Zato's database is.
///
/// Its `Debug` masks `password_raw` unless it is a reference (`zato+secret://...`, `$NAME`).
#[derive(Clone, PartialEq, Eq)]
pub struct OdbConfig {
    /// The engine, from `engine`.
    pub engine: Engine,
    /// The `+driver` suffix of `engine`, such as `pg8000`, if any.
    pub driver: Option<String>,
    /// `db_name`: the database name, or for SQLite the file (relative to the server
    /// directory unless absolute).
    pub db_name: String,
    /// `host` (empty if unset).
    pub host: String,
    /// `port`, if set.
    pub port: Option<u16>,
    /// `username` (empty if unset).
    pub username: String,
    /// `password` as written: a `zato+secret://` reference, a `$NAME` variable, or the
    /// password itself. See [`ServerDir::database_password`].
    pub password_raw: String,
    /// The 1-based line of `password`, if present.
    pub password_line: Option<usize>,
    /// The 1-based line of `engine`.
    pub engine_line: usize,
}

impl fmt::Debug for OdbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.password_raw.as_str();
        let password: &str =
            if p.is_empty() || p.starts_with(SECRET_URI_PREFIX) || p.starts_with('$') {
                p
            } else {
                "<redacted>"
            };
        f.debug_struct("OdbConfig")
            .field("engine", &self.engine)
            .field("driver", &self.driver)
            .field("db_name", &self.db_name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password_raw", &password)
            .field("password_line", &self.password_line)
            .field("engine_line", &self.engine_line)
            .finish()
    }
}

impl OdbConfig {
    /// Reads the `[odb]` section from the text of a server.conf; `origin` is the path that
    /// errors name.
    ///
    /// A [`Error::Config`] if the file is malformed, has no `[odb]` or no `engine`, or its
    /// `port` is not a port number.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let conf = ConfFile::parse(text, origin)?;
        let Some(section) = conf.section("odb") else {
            return Err(Error::config(
                origin,
                None,
                "has no [odb] section, so no database settings",
            ));
        };
        let get = |key: &str| section.entries.iter().find(|e| e.key == key);
        let text_of = |key: &str| {
            get(key)
                .map(|e| e.value.trim().to_owned())
                .unwrap_or_default()
        };

        let Some(engine_entry) = get("engine") else {
            return Err(Error::config(
                origin,
                Some(section.line),
                "[odb] has no engine",
            ));
        };
        let engine_text = engine_entry.value.trim();
        if engine_text.is_empty() {
            return Err(Error::config(
                origin,
                Some(engine_entry.line),
                "[odb] engine is empty",
            ));
        }
        let driver = engine_text
            .split_once('+')
            .map(|(_, d)| d.trim().to_owned())
            .filter(|d| !d.is_empty());

        let port = match get("port") {
            Some(e) if !e.value.trim().is_empty() => {
                let v = e.value.trim();
                Some(v.parse::<u16>().map_err(|_| {
                    Error::config(
                        origin,
                        Some(e.line),
                        format!("[odb] port `{v}` is not a port number"),
                    )
                })?)
            }
            _ => None,
        };

        let password = get("password");
        Ok(OdbConfig {
            engine: Engine::parse(engine_text),
            driver,
            db_name: text_of("db_name"),
            host: text_of("host"),
            port,
            username: text_of("username"),
            password_raw: password.map(|e| e.value.to_string()).unwrap_or_default(),
            password_line: password.map(|e| e.line),
            engine_line: engine_entry.line,
        })
    }
}

/// A Zato server directory: the one holding `config/repo/server.conf` and
/// `config/repo/secrets.conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDir {
    root: PathBuf,
}

impl ServerDir {
    /// Opens the server directory `dir`, checking that `config/repo/server.conf` is there.
    ///
    /// A [`Error::Io`] if `dir` cannot be read, a [`Error::Config`] if it is not a server
    /// directory.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();
        let meta =
            fs::metadata(&root).map_err(|e| Error::io("cannot open server directory", &root, e))?;
        if !meta.is_dir() {
            return Err(Error::config(
                &root,
                None,
                "is not a directory, so not a Zato server directory",
            ));
        }
        let dir = ServerDir { root };
        let conf = dir.server_conf_path();
        match fs::metadata(&conf) {
            Ok(m) if m.is_file() => Ok(dir),
            Ok(_) => Err(Error::config(conf, None, "is not a file")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::config(
                &dir.root,
                None,
                "is not a Zato server directory: it has no config/repo/server.conf",
            )),
            Err(e) => Err(Error::io("cannot read", conf, e)),
        }
    }

    /// The server directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config/repo/server.conf` of the server directory.
    pub fn server_conf_path(&self) -> PathBuf {
        self.root.join("config").join("repo").join("server.conf")
    }

    /// `config/repo/secrets.conf` of the server directory.
    pub fn secrets_path(&self) -> PathBuf {
        self.root.join("config").join("repo").join("secrets.conf")
    }

    /// Reads `config/repo/secrets.conf`.
    pub fn read_secrets(&self) -> Result<SecretsConf> {
        SecretsConf::read(self.secrets_path())
    }

    /// Reads the `[odb]` section of server.conf.
    pub fn odb(&self) -> Result<OdbConfig> {
        let path = self.server_conf_path();
        let bytes = fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        let text = match String::from_utf8(bytes) {
            Ok(t) => Zeroizing::new(t),
            Err(e) => {
                let b = e.as_bytes();
                let line = b[..e.utf8_error().valid_up_to()]
                    .iter()
                    .filter(|&&c| c == b'\n')
                    .count()
                    + 1;
                return Err(Error::config(path, Some(line), "is not valid UTF-8"));
            }
        };
        OdbConfig::parse(&text, &path)
    }

    /// The SQLite database file: `db_name`, relative to the server directory unless absolute.
    ///
    /// A [`Error::Config`] naming server.conf if the engine is not SQLite or `db_name` is
    /// empty.
    pub fn sqlite_path(&self) -> Result<PathBuf> {
        let odb = self.odb()?;
        if odb.engine != Engine::Sqlite {
            return Err(Error::config(
                self.server_conf_path(),
                Some(odb.engine_line),
                format!(
                    "[odb] engine is `{}`, not sqlite: the database is not a file",
                    odb.engine
                ),
            ));
        }
        if odb.db_name.is_empty() {
            return Err(Error::config(
                self.server_conf_path(),
                None,
                "[odb] db_name is empty, so there is no SQLite file",
            ));
        }
        let db = Path::new(&odb.db_name);
        Ok(if db.is_absolute() {
            db.to_path_buf()
        } else {
            self.root.join(db)
        })
    }

    /// The database password: `[odb] password` resolved with [`SecretsConf::resolve_from`]
    /// (a `zato+secret://` reference decrypted with `key`, a `$NAME` variable, or as written).
    pub fn database_password(
        &self,
        secrets: &SecretsConf,
        key: &Key1,
    ) -> Result<Zeroizing<String>> {
        let odb = self.odb()?;
        secrets.resolve_from(
            &odb.password_raw,
            key,
            &self.server_conf_path(),
            odb.password_line,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/zato-3.2-sqlite/server")
    }

    fn server_dir_with(conf: &str) -> (tempfile::TempDir, ServerDir) {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("config/repo");
        fs::create_dir_all(&repo).unwrap();
        fs::write(repo.join("server.conf"), conf).unwrap();
        let dir = ServerDir::open(tmp.path()).unwrap();
        (tmp, dir)
    }

    #[test]
    fn fixture_is_sqlite() {
        let dir = ServerDir::open(fixture_dir()).unwrap();
        let odb = dir.odb().unwrap();
        assert_eq!(odb.engine, Engine::Sqlite);
        assert_eq!(odb.driver, None);
        assert_eq!(odb.db_name, "zato.db");
        assert_eq!(odb.port, None);
        assert_eq!(odb.host, "");
        assert_eq!(
            odb.password_raw,
            "zato+secret://zato.server_conf.odb.password"
        );
        let db = dir.sqlite_path().unwrap();
        assert!(db.ends_with("zato.db"));
        assert!(db.starts_with(dir.root()));
        assert!(db.is_file());
        assert!(dir.secrets_path().ends_with("config/repo/secrets.conf"));
        assert!(dir.server_conf_path().ends_with("config/repo/server.conf"));
    }

    #[test]
    fn fixture_database_password_resolves() {
        let dir = ServerDir::open(fixture_dir()).unwrap();
        let secrets = dir.read_secrets().unwrap();
        let key = secrets.key1().unwrap();
        secrets.prove_well_known(&key).unwrap();
        assert_eq!(dir.database_password(&secrets, &key).unwrap().as_str(), "");
    }

    #[test]
    fn postgresql_with_driver() {
        let (_tmp, dir) = server_dir_with(
            "\n[main]\ntoken=x\n\n[odb]\ndb_name = zato1\nengine=postgresql+pg8000\n\
             host=db.example.internal # the db\nport=5432\nusername='zato'\npassword=pl@in\n",
        );
        let odb = dir.odb().unwrap();
        assert_eq!(odb.engine, Engine::Postgresql);
        assert_eq!(odb.driver.as_deref(), Some("pg8000"));
        assert_eq!(odb.db_name, "zato1");
        assert_eq!(odb.host, "db.example.internal");
        assert_eq!(odb.port, Some(5432));
        assert_eq!(odb.username, "zato");
        assert_eq!(odb.password_line, Some(11));
        let dbg = format!("{odb:?}");
        assert!(!dbg.contains("pl@in"), "{dbg}");
        assert!(dbg.contains("<redacted>"), "{dbg}");

        let e = dir.sqlite_path().unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("server.conf:7:"), "{msg}");
        assert!(msg.contains("postgresql"), "{msg}");

        // A plain password is returned as written.
        let secrets = SecretsConf::read(fixture_dir().join("config/repo/secrets.conf")).unwrap();
        let key = secrets.key1().unwrap();
        assert_eq!(
            dir.database_password(&secrets, &key).unwrap().as_str(),
            "pl@in"
        );
    }

    #[test]
    fn engines() {
        assert_eq!(Engine::parse("mysql+pymysql"), Engine::Mysql);
        assert_eq!(Engine::parse("SQLite"), Engine::Sqlite);
        assert_eq!(Engine::parse("oracle"), Engine::Other("oracle".into()));
        assert_eq!(Engine::parse("postgresql").to_string(), "postgresql");
    }

    #[test]
    fn absolute_sqlite_path_and_env_password() {
        let (_tmp, dir) = server_dir_with(
            "[odb]\nengine=sqlite\ndb_name=/var/zato/zato.db\npassword=$ZSSO_TEST_SURELY_UNSET_77\n",
        );
        assert_eq!(
            dir.sqlite_path().unwrap(),
            PathBuf::from("/var/zato/zato.db")
        );
        let odb = dir.odb().unwrap();
        assert!(format!("{odb:?}").contains("$ZSSO_TEST_SURELY_UNSET_77"));
        let secrets = SecretsConf::read(fixture_dir().join("config/repo/secrets.conf")).unwrap();
        let key = secrets.key1().unwrap();
        let e = dir.database_password(&secrets, &key).unwrap_err();
        assert!(e.to_string().contains("server.conf:4:"), "{e}");
    }

    #[test]
    fn bad_server_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let e = ServerDir::open(tmp.path()).unwrap_err();
        assert!(matches!(e, Error::Config { .. }), "{e}");
        assert!(e.to_string().contains("config/repo/server.conf"), "{e}");
        let e = ServerDir::open(tmp.path().join("missing")).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");

        let (_t, dir) = server_dir_with("[main]\nx=1\n");
        assert!(dir.odb().unwrap_err().to_string().contains("[odb]"));
        let (_t, dir) = server_dir_with("[odb]\nengine=sqlite\nport=abc\n");
        assert!(dir.odb().unwrap_err().to_string().contains(":3:"));
        let (_t, dir) = server_dir_with("[odb]\ndb_name=x\n");
        assert!(dir.odb().unwrap_err().to_string().contains("no engine"));
        let (_t, dir) = server_dir_with("[odb]\nengine=sqlite\ndb_name=\n");
        assert!(dir.sqlite_path().is_err());
    }
}
