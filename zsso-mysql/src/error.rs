//! Maps sqlx errors into [`zsso_core::Error`].

use zsso_core::Error;

/// A connection that broke (closed by the server, killed, or cut by the network) while zsso
/// used it.
#[derive(Debug)]
pub(crate) struct Lost(pub(crate) sqlx::Error);

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the connection to the server was lost ({})", self.0)
    }
}

impl std::error::Error for Lost {}

/// Whether `e` is a broken connection rather than something the server refused.
pub(crate) fn is_lost(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::Protocol(_))
}

/// Whether a wrapped error is a broken connection ([`Lost`]).
pub(crate) fn was_lost(e: &Error) -> bool {
    matches!(e, Error::Database { source, .. } if source.is::<Lost>())
}

/// Wraps a sqlx error with what was being done.
pub(crate) fn db(context: impl Into<String>, e: sqlx::Error) -> Error {
    let source: Box<dyn std::error::Error + Send + Sync> = if is_lost(&e) {
        Box::new(Lost(e))
    } else {
        Box::new(e)
    };
    Error::Database {
        backend: "mysql",
        context: context.into(),
        source,
    }
}
