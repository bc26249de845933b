//! Where a MySQL or MariaDB database is, and the session every zsso connection opens.

use crate::dialect::session_sql;
use crate::error::db;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection, MySqlConnection};
use std::str::FromStr;
use zsso_core::{Error, Result};

/// The URL parameters the driver understands (an unknown one would be ignored silently, so
/// it is refused). The character set, collation and time zone are zsso's own.
const DRIVER_PARAMETERS: &[&str] = &[
    "ssl-mode", "sslmode", "ssl-ca", "sslca", "ssl-cert", "sslcert", "ssl-key", "sslkey", "socket",
];

/// A MySQL or MariaDB database.
#[derive(Clone)]
pub struct MysqlLocation {
    options: MySqlConnectOptions,
    database: String,
}

impl std::fmt::Debug for MysqlLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl MysqlLocation {
    /// Parses a `mysql://` or `mariadb://` URL, which must name a database.
    pub fn parse(url: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: zsso_core::error::mask_url(url),
            reason: reason.into(),
        };
        let driver_url = url
            .strip_prefix("mariadb://")
            .map(|r| format!("mysql://{r}"))
            .unwrap_or_else(|| url.to_string());
        if let Some((_, query)) = driver_url.split_once('?') {
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let k = pair.split_once('=').map(|(k, _)| k).unwrap_or(pair);
                if !DRIVER_PARAMETERS.contains(&k) {
                    return Err(invalid(&format!(
                        "unknown parameter `{k}` (zsso takes {})",
                        DRIVER_PARAMETERS.join(", ")
                    )));
                }
            }
        }
        let options =
            MySqlConnectOptions::from_str(&driver_url).map_err(|e| invalid(&e.to_string()))?;
        let database = options
            .get_database()
            .filter(|d| !d.is_empty())
            .ok_or_else(|| invalid("no database after the host (mysql://user@host/DATABASE)"))?
            .to_string();
        Ok(Self::from_options(options, database))
    }

    fn from_options(options: MySqlConnectOptions, database: String) -> Self {
        let options = options
            .charset("utf8mb4")
            .pipes_as_concat(false)
            .no_engine_substitution(true)
            .timezone(Some("+00:00".to_string()))
            .disable_statement_logging();
        Self { options, database }
    }

    /// Builds a location from its parts, as `server.conf` gives them.
    pub fn from_parts(
        host: &str,
        port: Option<u16>,
        database: &str,
        username: &str,
        password: Option<&str>,
    ) -> Self {
        let mut options = MySqlConnectOptions::new()
            .host(host)
            .database(database)
            .username(username);
        if let Some(p) = port {
            options = options.port(p);
        }
        if let Some(p) = password {
            options = options.password(p);
        }
        Self::from_options(options, database.to_string())
    }

    /// The database that holds the SSO tables.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// `mysql://user@host:port/db`, without any password.
    pub fn describe(&self) -> String {
        let o = &self.options;
        format!(
            "mysql://{}@{}:{}/{}",
            o.get_username(),
            o.get_host(),
            o.get_port(),
            self.database
        )
    }

    /// Connects and pins the session: utf8mb4, UTC, zsso's `sql_mode`.
    pub(crate) async fn connect(&self) -> Result<MySqlConnection> {
        let mut conn = MySqlConnection::connect_with(&self.options)
            .await
            .map_err(|e| db(format!("connecting to {}", self.describe()), e).never_connected())?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(session_sql()))
            .execute(&mut conn)
            .await
            .map_err(|e| db("setting up the session", e))?;
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_database_and_never_show_the_password() {
        let l = MysqlLocation::parse("mysql://zato:s3cret@db.example:3307/zato").unwrap();
        assert_eq!(l.describe(), "mysql://zato@db.example:3307/zato");
        assert!(!format!("{l:?}").contains("s3cret"));
        let l = MysqlLocation::parse("mariadb://root@127.0.0.1/test").unwrap();
        assert_eq!(l.database(), "test");
        let e = MysqlLocation::parse("mysql://u:pw@h/d?x=1").unwrap_err();
        assert!(e.to_string().contains("unknown parameter `x`"), "{e}");
        assert!(MysqlLocation::parse("mysql://u@h/d?ssl-mode=required").is_ok());
        let e = MysqlLocation::parse("mysql://u:pw@h").unwrap_err();
        assert!(e.to_string().contains("no database"), "{e}");
        assert!(!e.to_string().contains("pw@"), "{e}");
    }
}
