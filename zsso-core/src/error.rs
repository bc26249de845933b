//! The one error type of zsso.
//!
//! Every variant says where the problem is (backend, table, row, file, line) and keeps its
//! cause as a [`std::error::Error::source`], so that a caller can print the whole chain.
//! Messages are lowercase and never contain a key, a password or a decrypted value.

use std::path::PathBuf;

/// A boxed error from a lower layer (a database driver, a parser).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of zsso.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in zsso.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done, such as "cannot read".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A database operation failed.
    #[error("{backend}: {context}")]
    Database {
        /// The backend, such as "sqlite".
        backend: &'static str,
        /// What was being done, with the table and row where known.
        context: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },

    /// A database URL could not be understood.
    #[error("invalid database url {url}: {reason}")]
    InvalidUrl {
        /// The URL, with any password masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// No backend handles this URL scheme (or it was not compiled in).
    #[error("unsupported database url scheme `{scheme}`: {reason}")]
    UnsupportedScheme {
        /// The scheme, such as `postgres`.
        scheme: String,
        /// Which schemes this build supports.
        reason: String,
    },

    /// A config file (secrets.conf, server.conf) is malformed or lacks what is needed.
    #[error("{path}{}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Config {
        /// The file.
        path: PathBuf,
        /// The 1-based line, where known.
        line: Option<usize>,
        /// What is wrong, never containing a secret value.
        reason: String,
    },

    /// A cryptographic check failed: a key that is not a Fernet key, a token that does not
    /// decrypt, a password hash that cannot be parsed.
    #[error("{what}: {reason}")]
    Crypto {
        /// What was being decrypted or checked, such as "well_known_data in secrets.conf".
        what: String,
        /// Why it failed, never containing a secret value.
        reason: String,
    },

    /// A backup bundle is damaged, incomplete, foreign, or of an unknown format.
    #[error("bundle {path}: {reason}")]
    Bundle {
        /// The bundle directory or the file inside it.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A statement of a dump file is malformed or touches something outside the SSO tables.
    #[error("{path}:{line}: {reason}")]
    Dump {
        /// The dump file.
        path: PathBuf,
        /// The 1-based line on which the statement starts.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// A table's rows are not what the bundle promises: as read back before the commit, or as
    /// the dump hands them to the database.
    #[error("table {table}: {reason}")]
    Mismatch {
        /// The table.
        table: String,
        /// What differs: the row count, the digest, a value of a row.
        reason: String,
    },

    /// The target database has something that makes the restore unsafe, such as a table
    /// outside the SSO set that references an SSO table.
    #[error("{reason}")]
    Refused {
        /// Why the restore was refused, naming the objects involved.
        reason: String,
    },

    /// A restore failed after it began; the target was rolled back to what it was.
    #[error(
        "restore failed and was rolled back, the target is as it was (had run {statements} statements)"
    )]
    RolledBack {
        /// How many statements of the dump had run before the failure.
        statements: u64,
        /// The failure.
        #[source]
        source: Box<Error>,
    },

    /// A restore failed, and so did the rollback: the target may be partly restored.
    #[error(
        "restore failed after {statements} statements and the rollback failed too ({rollback}): the target may be partly restored"
    )]
    RollbackFailed {
        /// How many statements of the dump had run.
        statements: u64,
        /// Why the rollback failed.
        rollback: String,
        /// Why the restore failed.
        #[source]
        source: Box<Error>,
    },

    /// The connection broke while the commit was under way, and it could not be found out
    /// whether the database carried the commit out.
    #[error(
        "the connection to {database} broke during the commit, and whether the restore was committed could not be found out: the database holds either the bundle's content or what it held before (check with `zsso verify`), and secrets.conf was not replaced"
    )]
    CommitUnknown {
        /// The database.
        database: String,
        /// The failure.
        #[source]
        source: Box<Error>,
    },

    /// The database was restored and committed, but a step after the commit failed.
    #[error("the database was restored and committed, but {what}")]
    AfterCommit {
        /// What is left to do by hand.
        what: String,
        /// The failure.
        #[source]
        source: Box<Error>,
    },

    /// A user was not found or the password did not match.
    #[error("login of user `{username}` failed: {reason}")]
    Login {
        /// The username.
        username: String,
        /// Why, never containing the password.
        reason: String,
    },

    /// The caller asked for something that cannot be done as asked.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Builds an [`Error::Bundle`].
    pub fn bundle(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Bundle {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::Crypto`].
    pub fn crypto(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Crypto {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::Config`].
    pub fn config(
        path: impl Into<PathBuf>,
        line: Option<usize>,
        reason: impl Into<String>,
    ) -> Self {
        Error::Config {
            path: path.into(),
            line,
            reason: reason.into(),
        }
    }

    /// Whether this is a database connection that broke ([`ConnectionLost`]) rather than
    /// something the server refused.
    pub fn connection_lost(&self) -> bool {
        matches!(self, Error::Database { source, .. } if source.is::<ConnectionLost>())
    }

    /// The same error as a connection that could not be made, not one that broke: for a
    /// failure to connect, whose driver error (such as `Connection refused`) says the rest.
    pub fn never_connected(self) -> Self {
        match self {
            Error::Database {
                backend,
                context,
                source,
            } => Error::Database {
                backend,
                context,
                source: source
                    .downcast::<ConnectionLost>()
                    .map_or_else(|other| other, |lost| lost.0),
            },
            other => other,
        }
    }
}

/// The source of an [`Error::Database`] whose connection broke (closed by the server, killed,
/// or cut by the network) while zsso used it; the driver's own error inside.
#[derive(Debug)]
pub struct ConnectionLost(pub BoxError);

impl std::fmt::Display for ConnectionLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the connection to the server was lost ({})", self.0)
    }
}

impl std::error::Error for ConnectionLost {}

/// Formats an error and all its sources as `error: cause: cause`.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.ends_with(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

/// The URL with its password replaced by `***`: the one before `@` and a `password`
/// parameter (which the PostgreSQL driver takes as well).
pub fn mask_url(url: &str) -> String {
    let masked = url
        .split_once("://")
        .and_then(|(scheme, rest)| {
            let (auth, host) = rest.rsplit_once('@')?;
            let (user, _) = auth.split_once(':')?;
            Some(format!("{scheme}://{user}:***@{host}"))
        })
        .unwrap_or_else(|| url.to_string());
    match masked.split_once('?') {
        Some((base, query)) => {
            let pairs: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            format!("{base}?{}", pairs.join("&"))
        }
        None => masked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_to_connect_is_not_named_a_lost_connection() {
        let io = || -> BoxError {
            Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
        };
        let lost = Error::Database {
            backend: "mysql",
            context: "connecting to mysql://u@h:1/x".into(),
            source: Box::new(ConnectionLost(io())),
        };
        assert!(lost.connection_lost());
        assert_eq!(
            chain(&lost),
            "mysql: connecting to mysql://u@h:1/x: the connection to the server was lost (connection refused)"
        );
        let never = lost.never_connected();
        assert!(!never.connection_lost());
        assert_eq!(
            chain(&never),
            "mysql: connecting to mysql://u@h:1/x: connection refused"
        );
        // Any other error is left as it is.
        let refused = Error::Database {
            backend: "mysql",
            context: "reading".into(),
            source: io(),
        };
        assert_eq!(
            chain(&refused.never_connected()),
            "mysql: reading: connection refused"
        );
    }

    #[test]
    fn urls_are_masked_before_the_at_and_in_a_password_parameter() {
        assert_eq!(mask_url("postgres://u:pw@h/d"), "postgres://u:***@h/d");
        assert_eq!(mask_url("mysql://u:p@ss:w?rd@h:1/d"), "mysql://u:***@h:1/d");
        assert_eq!(
            mask_url("postgres://u@h/d?sslmode=require&password=pw&x=1"),
            "postgres://u@h/d?sslmode=require&password=***&x=1"
        );
        assert_eq!(
            mask_url("postgres://u:pw@h/d?PASSWORD=pw"),
            "postgres://u:***@h/d?PASSWORD=***"
        );
        assert_eq!(mask_url("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(mask_url("sqlite://zato.db"), "sqlite://zato.db");
    }
}
