#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub use zsso_core::*;
#[cfg(feature = "mysql")]
pub use zsso_mysql as mysql;
#[cfg(feature = "postgres")]
pub use zsso_postgres as postgres;
#[cfg(feature = "sqlite")]
pub use zsso_sqlite as sqlite;

use std::path::{Path, PathBuf};
use zsso_core::backend::{Dumper, Restorer};
use zsso_core::server_conf::{Engine, ServerDir};

/// Where a database is, as parsed from a URL or read from a server directory.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Location {
    /// A SQLite database file (`sqlite://PATH`).
    Sqlite(PathBuf),
    /// A schema of a PostgreSQL database (`postgres://...`); its `Debug` never shows the
    /// password.
    #[cfg(feature = "postgres")]
    Postgres(Box<zsso_postgres::PgLocation>),
    /// A MySQL or MariaDB database (`mysql://...`, `mariadb://...`); its `Debug` never shows
    /// the password.
    #[cfg(feature = "mysql")]
    Mysql(Box<zsso_mysql::MysqlLocation>),
}

impl Location {
    /// A description for messages, without any password.
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(p) => format!("sqlite database {}", p.display()),
            #[cfg(feature = "postgres")]
            Location::Postgres(l) => l.describe(),
            #[cfg(feature = "mysql")]
            Location::Mysql(l) => l.describe(),
        }
    }
}

/// The URL schemes this build handles.
pub fn supported_schemes() -> &'static [&'static str] {
    &[
        #[cfg(feature = "sqlite")]
        "sqlite",
        #[cfg(feature = "postgres")]
        "postgres",
        #[cfg(feature = "postgres")]
        "postgresql",
        #[cfg(feature = "mysql")]
        "mysql",
        #[cfg(feature = "mysql")]
        "mariadb",
    ]
}

/// Parses a database URL: `sqlite://PATH` (also `sqlite:PATH`; a relative PATH is relative
/// to the current directory, `sqlite:///abs/path` is absolute), or
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?schema=SCHEMA]` (also `postgresql://`; the
/// schema defaults to `public`), or `mysql://USER[:PASSWORD]@HOST[:PORT]/DB` (also
/// `mariadb://`).
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
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => Ok(Location::Postgres(Box::new(
            zsso_postgres::PgLocation::parse(url)?,
        ))),
        #[cfg(feature = "mysql")]
        "mysql" | "mariadb" => Ok(Location::Mysql(Box::new(zsso_mysql::MysqlLocation::parse(
            url,
        )?))),
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

/// The database of a Zato server directory, from `[odb]` of its server.conf.
///
/// # Behavior
/// - For a server database (`engine=postgresql`, with or without a `+driver` suffix) the
///   password is resolved as Zato does: a `zato+secret://` reference decrypted with key1 of
///   the directory's secrets.conf, a `$NAME` variable, or as written.
pub fn server_dir_location(dir: &ServerDir) -> Result<Location> {
    let odb = dir.odb()?;
    match odb.engine {
        Engine::Sqlite => Ok(Location::Sqlite(dir.sqlite_path()?)),
        #[cfg(feature = "postgres")]
        Engine::Postgresql => {
            let password = odb_password(dir, &odb)?;
            Ok(Location::Postgres(Box::new(
                zsso_postgres::PgLocation::from_parts(
                    odb_host(&odb),
                    odb.port,
                    &odb.db_name,
                    &odb.username,
                    password.as_deref().map(|p| p.as_str()),
                    "public",
                ),
            )))
        }
        #[cfg(feature = "mysql")]
        Engine::Mysql => {
            let password = odb_password(dir, &odb)?;
            Ok(Location::Mysql(Box::new(
                zsso_mysql::MysqlLocation::from_parts(
                    odb_host(&odb),
                    odb.port,
                    &odb.db_name,
                    &odb.username,
                    password.as_deref().map(|p| p.as_str()),
                ),
            )))
        }
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

/// The host of `[odb]`, `localhost` if unset.
#[allow(dead_code)]
fn odb_host(odb: &zsso_core::server_conf::OdbConfig) -> &str {
    if odb.host.is_empty() {
        "localhost"
    } else {
        &odb.host
    }
}

/// The password of `[odb]`, resolved through the directory's secrets.conf (none if unset).
#[allow(dead_code)]
fn odb_password(
    dir: &ServerDir,
    odb: &zsso_core::server_conf::OdbConfig,
) -> Result<Option<zeroize::Zeroizing<String>>> {
    if odb.password_raw.is_empty() {
        return Ok(None);
    }
    let secrets = dir.read_secrets()?;
    let key = secrets.key1()?;
    Ok(Some(dir.database_password(&secrets, &key)?))
}

#[allow(dead_code)]
fn not_compiled(loc: &Location) -> Error {
    Error::UnsupportedScheme {
        scheme: loc.describe(),
        reason: "this build has no backend for it".into(),
    }
}

/// Opens a [`Dumper`] for the database at `url`, the backend chosen by the scheme.
pub async fn open_dumper(url: &str) -> Result<Box<dyn Dumper>> {
    open_dumper_at(&parse_url(url)?).await
}

/// Opens a [`Dumper`] for the database at `location`.
pub async fn open_dumper_at(location: &Location) -> Result<Box<dyn Dumper>> {
    match location {
        #[cfg(feature = "sqlite")]
        Location::Sqlite(p) => Ok(Box::new(zsso_sqlite::SqliteDumper::open(p).await?)),
        #[cfg(feature = "postgres")]
        Location::Postgres(l) => Ok(Box::new(zsso_postgres::PgDumper::open(l).await?)),
        #[cfg(feature = "mysql")]
        Location::Mysql(l) => Ok(Box::new(zsso_mysql::MysqlDumper::open(l).await?)),
        #[allow(unreachable_patterns)]
        other => Err(not_compiled(other)),
    }
}

/// Opens a [`Restorer`] for the database at `url`, the backend chosen by the scheme.
pub async fn open_restorer(url: &str) -> Result<Box<dyn Restorer>> {
    open_restorer_at(&parse_url(url)?).await
}

/// Opens a [`Restorer`] for the database at `location`.
pub async fn open_restorer_at(location: &Location) -> Result<Box<dyn Restorer>> {
    match location {
        #[cfg(feature = "sqlite")]
        Location::Sqlite(p) => Ok(Box::new(zsso_sqlite::SqliteRestorer::open(p).await?)),
        #[cfg(feature = "postgres")]
        Location::Postgres(l) => Ok(Box::new(zsso_postgres::PgRestorer::open(l).await?)),
        #[cfg(feature = "mysql")]
        Location::Mysql(l) => Ok(Box::new(zsso_mysql::MysqlRestorer::open(l).await?)),
        #[allow(unreachable_patterns)]
        other => Err(not_compiled(other)),
    }
}

/// The dialect of the database at `location`, known without opening it.
pub fn dialect_at(location: &Location) -> Result<&'static dyn dialect::Dialect> {
    match location {
        #[cfg(feature = "sqlite")]
        Location::Sqlite(_) => Ok(&zsso_sqlite::dialect::SQLITE),
        #[cfg(feature = "postgres")]
        Location::Postgres(_) => Ok(&zsso_postgres::dialect::POSTGRES),
        #[cfg(feature = "mysql")]
        Location::Mysql(_) => Ok(&zsso_mysql::dialect::MYSQL),
        #[allow(unreachable_patterns)]
        other => Err(not_compiled(other)),
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
    backup_at(&parse_url(url)?, secrets, out, progress).await
}

/// [`backup_url`] for a [`Location`].
pub async fn backup_at(
    location: &Location,
    secrets: Option<&Path>,
    out: &Path,
    progress: &dyn progress::Progress,
) -> Result<backup::BackupReport> {
    let secrets = secrets.map(secrets::SecretsConf::read).transpose()?;
    let mut dumper = open_dumper_at(location).await?;
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
    restore_at(source, &parse_url(url)?, secrets_to, options, progress).await
}

/// [`restore_url_with`] for a [`Location`].
///
/// The source is checked whole before the target is opened (and, for a bundle of another
/// dialect, converted and the conversion checked): a damaged or foreign source is refused
/// with the target unread, and an unreachable target is only found after the check.
pub async fn restore_at(
    source: &Path,
    location: &Location,
    secrets_to: Option<&Path>,
    options: &restore::RestoreOptions,
    progress: &dyn progress::Progress,
) -> Result<restore::RestoreReport> {
    let mut source = restore::RestoreSource::open(source)?;
    let target = dialect_at(location)?;
    if let restore::RestoreSource::Bundle(b) = &mut source
        && b.manifest.source.dialect != target.name()
    {
        // The conversion reads the dump by its own path: its hash is checked first.
        b.check_dump_hash()?;
        // Another dialect: converted into a bundle for the target first, in a private
        // directory that goes away afterwards, then restored as any bundle is.
        let from = dialect_named(&b.manifest.source.dialect).ok_or_else(|| {
            Error::Usage(format!(
                "the bundle holds a {} dump, which this build cannot read",
                b.manifest.source.dialect
            ))
        })?;
        let cross = cross::Cross::new(b, from, target, options.cross)?;
        let tmp = tempfile::Builder::new()
            .prefix("zsso-convert-")
            .tempdir()
            .map_err(|e| {
                Error::io(
                    "cannot create a directory for the conversion",
                    std::env::temp_dir(),
                    e,
                )
            })?;
        // A stop by SIGINT or SIGTERM ends the process without destructors.
        let _removed = zsso_core::interrupt::remove_on_stop(tmp.path());
        let out = tmp.path().join("bundle");
        let (plan, converted) = cross::convert_bundle(&cross, &out, progress).await?;
        let source = restore::RestoreSource::open(&converted.bundle)?;
        let checked = source.check(target, progress)?;
        let mut restorer = open_restorer_at(location).await?;
        let mut report =
            restore::restore_checked(&checked, restorer.as_mut(), secrets_to, options, progress)
                .await?;
        let mut warnings: Vec<String> = plan.extras.clone();
        warnings.extend(plan.filled.iter().cloned());
        warnings.extend(
            converted
                .warnings
                .iter()
                .filter(|w| !w.starts_with("no secrets.conf given"))
                .cloned(),
        );
        warnings.append(&mut report.warnings);
        report.warnings = warnings;
        report.conversion = Some(plan);
        return Ok(report);
    }
    let checked = source.check(target, progress)?;
    let mut restorer = open_restorer_at(location).await?;
    restore::restore_checked(&checked, restorer.as_mut(), secrets_to, options, progress).await
}

/// The bundle's digests in neutral form for a comparison with a `live` database, when one is
/// asked for (`neutral`) or needed (the bundle is of another dialect); `None` otherwise.
/// See [`cross::neutral_digests`].
pub fn neutral_digests_for(
    bundle: &bundle::Bundle,
    live: &'static dyn dialect::Dialect,
    neutral: bool,
    drop_microseconds: bool,
    progress: &dyn progress::Progress,
) -> Result<Option<cross::NeutralDigests>> {
    if drop_microseconds && !neutral && bundle.manifest.source.dialect == live.name() {
        return Err(Error::Usage(
            "leaving out microseconds needs a comparison in neutral form (--neutral)".into(),
        ));
    }
    if !neutral && bundle.manifest.source.dialect == live.name() {
        return Ok(None);
    }
    let from = dialect_named(&bundle.manifest.source.dialect).ok_or_else(|| {
        Error::Usage(format!(
            "the bundle holds a {} dump, which this build cannot read",
            bundle.manifest.source.dialect
        ))
    })?;
    cross::neutral_digests(bundle, from, drop_microseconds, progress).map(Some)
}

/// The dialect of that name (as a manifest records it), if this build has its backend.
pub fn dialect_named(name: &str) -> Option<&'static dyn dialect::Dialect> {
    match name {
        #[cfg(feature = "sqlite")]
        "sqlite" => Some(&zsso_sqlite::dialect::SQLITE),
        #[cfg(feature = "postgres")]
        "postgresql" => Some(&zsso_postgres::dialect::POSTGRES),
        #[cfg(feature = "mysql")]
        "mysql" => Some(&zsso_mysql::dialect::MYSQL),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_by_scheme() {
        let path = |u: &str| match parse_url(u).unwrap() {
            Location::Sqlite(p) => p,
            #[allow(unreachable_patterns)]
            other => panic!("{other:?}"),
        };
        assert_eq!(path("sqlite:///var/zato.db"), PathBuf::from("/var/zato.db"));
        assert_eq!(path("sqlite://rel/zato.db"), PathBuf::from("rel/zato.db"));
        assert_eq!(path("sqlite:z.db"), PathBuf::from("z.db"));
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

    #[test]
    fn locations_never_show_a_password_in_their_debug_form() {
        #[allow(unused_mut)]
        let mut urls = vec!["sqlite:///srv/zato.db"];
        #[cfg(feature = "postgres")]
        urls.push("postgres://zato:s3cret-Pw@db:5432/zato?schema=sso");
        #[cfg(feature = "mysql")]
        urls.push("mysql://zato:s3cret-Pw@db:3306/zato");
        for u in urls {
            let l = parse_url(u).unwrap();
            let dbg = format!("{l:?}");
            assert!(!dbg.contains("s3cret"), "{dbg}");
            if !u.starts_with("sqlite") {
                assert!(dbg.contains(&l.describe()), "{dbg}");
            }
        }
    }
}
