//! Maps sqlx errors into [`zsso_core::Error`].

use zsso_core::Error;

/// Wraps a sqlx error with what was being done.
pub(crate) fn db(context: impl Into<String>, e: sqlx::Error) -> Error {
    Error::Database {
        backend: "mysql",
        context: context.into(),
        source: Box::new(e),
    }
}
