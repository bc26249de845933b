#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod dialect;
mod dump;
mod error;
mod introspect;
mod raw;
mod restore;

pub use dialect::{SQLITE, SqliteDialect};
pub use dump::SqliteDumper;
pub use restore::SqliteRestorer;
