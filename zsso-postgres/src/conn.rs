//! Where a PostgreSQL database is, and the session every zsso connection opens.

use crate::dialect::{POSTGRES, SESSION_SETTINGS};
use crate::error::db;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::str::FromStr;
use zsso_core::dialect::Dialect;
use zsso_core::{Error, Result};

/// The URL parameters the driver understands (an unknown one would be ignored silently, so
/// it is refused: `sslmode=requir` must not connect without TLS).
const DRIVER_PARAMETERS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
    "options",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
];

/// A PostgreSQL database and the schema that holds the SSO tables.
#[derive(Clone)]
pub struct PgLocation {
    options: PgConnectOptions,
    schema: String,
}

impl std::fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl PgLocation {
    /// Parses a `postgres://` or `postgresql://` URL; a `schema` query parameter names the
    /// schema (default `public`), the others are the driver's.
    pub fn parse(url: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: zsso_core::error::mask_url(url),
            reason: reason.into(),
        };
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        };
        let mut schema = "public".to_string();
        let mut rest = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("schema", v)) => {
                    schema = percent_decode(v)
                        .ok_or_else(|| invalid("the schema is not valid percent-encoded UTF-8"))?;
                    if schema.is_empty() {
                        return Err(invalid("the schema is empty"));
                    }
                }
                _ if pair.is_empty() => {}
                Some((k, _)) if DRIVER_PARAMETERS.contains(&k) => rest.push(pair),
                _ => {
                    let k = pair.split_once('=').map(|(k, _)| k).unwrap_or(pair);
                    return Err(invalid(&format!(
                        "unknown parameter `{k}` (zsso takes schema and {})",
                        DRIVER_PARAMETERS.join(", ")
                    )));
                }
            }
        }
        let driver_url = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let mut options = PgConnectOptions::from_str(&driver_url)
            .map_err(|e| invalid(&e.to_string()))?
            .disable_statement_logging();
        // The URL's own application_name is kept; without one, the server's views say zsso.
        if !rest.iter().any(|p| p.starts_with("application_name=")) {
            options = options.application_name("zsso");
        }
        Ok(Self { options, schema })
    }

    /// Builds a location from its parts, as `server.conf` gives them.
    pub fn from_parts(
        host: &str,
        port: Option<u16>,
        database: &str,
        username: &str,
        password: Option<&str>,
        schema: &str,
    ) -> Self {
        let mut options = PgConnectOptions::new_without_pgpass()
            .host(host)
            .database(database)
            .username(username)
            .application_name("zsso")
            .disable_statement_logging();
        if let Some(p) = port {
            options = options.port(p);
        }
        if let Some(p) = password {
            options = options.password(p);
        }
        Self {
            options,
            schema: schema.to_string(),
        }
    }

    /// The schema that holds the SSO tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// `postgresql://user@host:port/db (schema s)`, without any password.
    pub fn describe(&self) -> String {
        let o = &self.options;
        format!(
            "postgresql://{}@{}:{}/{} (schema {})",
            o.get_username(),
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or(""),
            self.schema
        )
    }

    /// Connects and pins the session: encoding, string and date styles, time zone, float
    /// digits, and `search_path` set to the schema alone.
    pub(crate) async fn connect(&self) -> Result<PgConnection> {
        let mut conn = PgConnection::connect_with(&self.options)
            .await
            .map_err(|e| db(format!("connecting to {}", self.describe()), e).never_connected())?;
        let mut sql = String::new();
        for (k, v) in SESSION_SETTINGS {
            sql.push_str(&format!("SET {k} = {v}; "));
        }
        sql.push_str(&search_path(&self.schema));
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .map_err(|e| db("setting up the session", e))?;
        Ok(conn)
    }
}

/// `SET search_path = "schema";` (with `pg_catalog` searched first, as always).
pub fn search_path(schema: &str) -> String {
    format!("SET search_path = {};\n", POSTGRES.quote_ident(schema))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_schema_and_never_show_the_password() {
        let l = PgLocation::parse("postgres://zato:s3cret@db.example:6543/zato?schema=sso%20x")
            .unwrap();
        assert_eq!(l.schema(), "sso x");
        assert_eq!(
            l.describe(),
            "postgresql://zato@db.example:6543/zato (schema sso x)"
        );
        assert!(!format!("{l:?}").contains("s3cret"));
        let l = PgLocation::parse("postgresql://postgres@127.0.0.1/test").unwrap();
        assert_eq!(l.schema(), "public");
        assert_eq!(l.options.get_application_name(), Some("zsso"));
        let l = PgLocation::parse("postgresql://postgres@127.0.0.1/test?application_name=nightly")
            .unwrap();
        assert_eq!(l.options.get_application_name(), Some("nightly"));
        assert_eq!(
            zsso_core::error::mask_url("postgres://u:pw@h/d"),
            "postgres://u:***@h/d"
        );
        assert!(PgLocation::parse("postgres://u@h/d?schema=s&sslmode=require").is_ok());
        let e = PgLocation::parse("postgres://u:pw@h/d?sslmod=require").unwrap_err();
        assert!(e.to_string().contains("unknown parameter `sslmod`"), "{e}");
        let e = PgLocation::parse("postgres://u:pw@h/d?schema=").unwrap_err();
        assert!(!e.to_string().contains("pw@"), "{e}");
    }
}
