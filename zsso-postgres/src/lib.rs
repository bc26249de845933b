#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod conn;
mod copybin;
pub mod copytext;
pub mod dialect;
mod dump;
mod error;
mod introspect;
mod restore;

pub use conn::PgLocation;
pub use dialect::{POSTGRES, PostgresDialect};
pub use dump::PgDumper;
pub use restore::PgRestorer;
