#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod error;
pub mod secrets;
pub mod server_conf;
pub mod zato;

pub use error::{Error, Result};
pub mod backend;
pub mod backup;
pub mod bundle;
pub mod catalogue;
pub mod cross;
pub mod dialect;
pub mod digest;
pub mod fault;
pub mod guard;
pub mod interrupt;
pub mod progress;
pub mod restore;
pub mod schema;
pub mod sqlscan;
pub mod value;
pub mod verify;
