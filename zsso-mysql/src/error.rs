//! Maps sqlx errors into [`zsso_core::Error`].

use zsso_core::Error;

/// Whether `e` is a broken connection rather than something the server refused.
pub(crate) fn is_lost(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::Protocol(_))
}

/// Wraps a sqlx error with what was being done.
pub(crate) fn db(context: impl Into<String>, e: sqlx::Error) -> Error {
    let source: Box<dyn std::error::Error + Send + Sync> = if is_lost(&e) {
        Box::new(zsso_core::error::ConnectionLost(Box::new(e)))
    } else {
        Box::new(e)
    };
    Error::Database {
        backend: "mysql",
        context: context.into(),
        source,
    }
}
