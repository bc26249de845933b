//! The database-neutral core of zsso.
//!
//! See the README of the workspace for the whole picture.
#![deny(missing_docs)]

pub mod error;
pub mod secrets;
pub mod server_conf;
pub mod zato;

pub use error::{Error, Result};
pub mod catalogue;
pub mod digest;
pub mod guard;
pub mod schema;
pub mod sqlscan;
pub mod value;
pub mod backend;
pub mod bundle;
pub mod dialect;
