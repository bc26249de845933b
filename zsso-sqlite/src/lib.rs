#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod dialect;
mod dump;
mod error;
mod introspect;
mod restore;

pub use dialect::{SQLITE, SqliteDialect};
pub use dump::SqliteDumper;
pub use restore::SqliteRestorer;

/// Returns the file path of a `sqlite://PATH` or `sqlite:PATH` URL, `None` for other schemes.
pub fn path_from_url(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
}
