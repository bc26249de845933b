//! Maps sqlx errors into [`zsso_core::Error`].

use sqlx::postgres::PgDatabaseError;
use zsso_core::Error;

/// The server's own message and SQLSTATE, without the line of the server's source that
/// sqlx appends (a user would look for it in the dump) and without the detail (it may show
/// the values of a key, such as a token).
#[derive(Debug)]
struct ServerError(String);

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServerError {}

/// Whether `e` is a broken connection rather than something the server refused: the socket
/// closed or garbled, or the server ending the session (SQLSTATE class 08, or 57P01-57P03:
/// terminated by an administrator, shut down, cannot connect now).
pub(crate) fn is_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// Wraps a sqlx error with what was being done.
pub(crate) fn db(context: impl Into<String>, e: sqlx::Error) -> Error {
    let lost = is_lost(&e);
    let source: Box<dyn std::error::Error + Send + Sync> = match &e {
        sqlx::Error::Database(d) => match d.try_downcast_ref::<PgDatabaseError>() {
            Some(pg) => Box::new(ServerError(format!(
                "{} (SQLSTATE {})",
                pg.message(),
                pg.code()
            ))),
            None => Box::new(e),
        },
        _ => Box::new(e),
    };
    let source: Box<dyn std::error::Error + Send + Sync> = if lost {
        Box::new(zsso_core::error::ConnectionLost(source))
    } else {
        source
    };
    Error::Database {
        backend: "postgresql",
        context: context.into(),
        source,
    }
}
