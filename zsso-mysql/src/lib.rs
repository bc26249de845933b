#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod conn;
pub mod dialect;
mod dump;
mod error;
mod introspect;
mod restore;

pub use conn::MysqlLocation;
pub use dialect::{MYSQL, MysqlDialect};
pub use dump::MysqlDumper;
#[doc(hidden)]
pub use restore::MysqlRestorer;
