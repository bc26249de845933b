#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub use zsso_core::*;
#[cfg(feature = "sqlite")]
pub use zsso_sqlite as sqlite;

use std::path::{Path, PathBuf};
use zsso_core::backend::{Dumper, Restorer};
use zsso_core::server_conf::{Engine, ServerDir};

/// Where a database is, as parsed from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A SQLite database file (`sqlite://PATH`).
    Sqlite(PathBuf),
}

/// The URL schemes this build handles.
pub fn supported_schemes() -> &'static [&'static str] {
    &[
        #[cfg(feature = "sqlite")]
        "sqlite",
    ]
}

/// Parses a database URL: `sqlite://PATH` (also `sqlite:PATH`; a relative PATH is relative
/// to the current directory, `sqlite:///abs/path` is absolute).
pub fn parse_url(url: &str) -> Result<Location> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme {
        "sqlite" => {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or_default();
            if path.is_empty() {
                return Err(Error::InvalidUrl {
                    url: url.into(),
                    reason: "no file path after sqlite://".into(),
                });
            }
            if path == ":memory:" || path.starts_with("file:") {
                return Err(Error::InvalidUrl {
                    url: url.into(),
                    reason: "an in-memory or URI database is not a place to back up or restore"
                        .into(),
                });
            }
            if path.contains('?') {
                return Err(Error::InvalidUrl {
                    url: url.into(),
                    reason: "query parameters are not supported".into(),
                });
            }
            Ok(Location::Sqlite(PathBuf::from(path)))
        }
        "" => Err(Error::InvalidUrl {
            url: url.into(),
            reason: "expected a URL such as sqlite://zato.db".into(),
        }),
        other => Err(Error::UnsupportedScheme {
            scheme: other.into(),
            reason: format!("this zsso supports {}", supported_schemes().join(", ")),
        }),
    }
}

/// The database URL of a Zato server directory, from `[odb]` of its server.conf.
pub fn server_dir_url(dir: &ServerDir) -> Result<String> {
    let odb = dir.odb()?;
    match odb.engine {
        Engine::Sqlite => Ok(format!("sqlite://{}", dir.sqlite_path()?.display())),
        other => Err(Error::UnsupportedScheme {
            scheme: other.name().to_string(),
            reason: format!(
                "{} uses engine={}; this zsso supports {}",
                dir.server_conf_path().display(),
                other.name(),
                supported_schemes().join(", ")
            ),
        }),
    }
}

fn not_compiled(loc: &Location) -> Error {
    Error::UnsupportedScheme {
        scheme: format!("{loc:?}"),
        reason: "this build has no backend for it".into(),
    }
}

/// Opens a [`Dumper`] for the database at `url`, the backend chosen by the scheme.
pub async fn open_dumper(url: &str) -> Result<Box<dyn Dumper>> {
    match parse_url(url)? {
        #[cfg(feature = "sqlite")]
        Location::Sqlite(p) => Ok(Box::new(zsso_sqlite::SqliteDumper::open(&p).await?)),
        #[allow(unreachable_patterns)]
        other => Err(not_compiled(&other)),
    }
}

/// Opens a [`Restorer`] for the database at `url`, the backend chosen by the scheme.
pub async fn open_restorer(url: &str) -> Result<Box<dyn Restorer>> {
    match parse_url(url)? {
        #[cfg(feature = "sqlite")]
        Location::Sqlite(p) => Ok(Box::new(zsso_sqlite::SqliteRestorer::open(&p).await?)),
        #[allow(unreachable_patterns)]
        other => Err(not_compiled(&other)),
    }
}

/// Backs up the database at `url` with the secrets.conf at `secrets` (if any) into a new
/// bundle `out`. See [`backup::backup`].
pub async fn backup_url(
    url: &str,
    secrets: Option<&Path>,
    out: &Path,
    progress: &dyn progress::Progress,
) -> Result<backup::BackupReport> {
    let secrets = secrets.map(secrets::SecretsConf::read).transpose()?;
    let mut dumper = open_dumper(url).await?;
    backup::backup(dumper.as_mut(), secrets.as_ref(), out, progress).await
}

/// Restores a bundle directory or plain `.sql` file into the database at `url`; with
/// `secrets_to`, installs the bundle's secrets.conf there. See [`restore::restore`].
pub async fn restore_url(
    source: &Path,
    url: &str,
    secrets_to: Option<&Path>,
    progress: &dyn progress::Progress,
) -> Result<restore::RestoreReport> {
    restore_url_with(
        source,
        url,
        secrets_to,
        &restore::RestoreOptions::default(),
        progress,
    )
    .await
}

/// [`restore_url`] with [`restore::RestoreOptions`].
pub async fn restore_url_with(
    source: &Path,
    url: &str,
    secrets_to: Option<&Path>,
    options: &restore::RestoreOptions,
    progress: &dyn progress::Progress,
) -> Result<restore::RestoreReport> {
    let source = restore::RestoreSource::open(source)?;
    let mut restorer = open_restorer(url).await?;
    restore::restore(&source, restorer.as_mut(), secrets_to, options, progress).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_by_scheme() {
        assert_eq!(
            parse_url("sqlite:///var/zato.db").unwrap(),
            Location::Sqlite("/var/zato.db".into())
        );
        assert_eq!(
            parse_url("sqlite://rel/zato.db").unwrap(),
            Location::Sqlite("rel/zato.db".into())
        );
        assert_eq!(
            parse_url("sqlite:z.db").unwrap(),
            Location::Sqlite("z.db".into())
        );
        assert!(matches!(
            parse_url("sqlite://"),
            Err(Error::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse_url("zato.db"),
            Err(Error::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse_url("oracle://x"),
            Err(Error::UnsupportedScheme { .. })
        ));
    }
}
