//! Embedding zsso in a Rust tool: back up one database and restore it into another in a few
//! lines, the backend of each chosen from its URL's scheme (`sqlite://PATH`, ...).
//!
//! ```text
//! cargo run --example embed [SOURCE_URL [TARGET_URL [SECRETS_CONF]]]
//! ```
//!
//! Without arguments it backs up a temporary copy of the Zato 3.2 fixture's `zato.db` (with
//! the fixture's `secrets.conf`) and restores it into a new SQLite file beside it. The bundle
//! is written to a temporary directory, removed at the end; the restored row counts are
//! printed.

use std::path::{Path, PathBuf};
use zsso::progress::Silent;
use zsso::restore::RestoreSource;
use zsso::secrets::SecretsConf;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        // zsso's errors say where (file, line, table) and keep their cause: print the chain.
        eprintln!("embed: error: {}", zsso::error::chain(&*e));
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zato-3.2-sqlite/server");
    let tmp = tempfile::tempdir()?;
    let mut args = std::env::args().skip(1);
    let source_url = match args.next() {
        Some(url) => url,
        None => {
            let db = tmp.path().join("zato.db");
            std::fs::copy(fixture.join("zato.db"), &db)?;
            format!("sqlite://{}", db.display())
        }
    };
    let target_url = args
        .next()
        .unwrap_or_else(|| format!("sqlite://{}", tmp.path().join("restored.db").display()));
    let secrets_path = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| fixture.join("config/repo/secrets.conf"));

    // Back up: one read snapshot of the source, written as a bundle (dump, secrets.conf,
    // manifest). The secrets.conf must prove its key1 before anything is written.
    let secrets = SecretsConf::read(&secrets_path)?;
    let mut dumper = zsso::open_dumper(&source_url).await?;
    let bundle = tmp.path().join("bundle");
    let backup = zsso::backup::backup(dumper.as_mut(), Some(&secrets), &bundle, &Silent).await?;
    println!("backed up {source_url} to {}", backup.bundle.display());

    // Restore: the bundle is checked whole before the target is even opened (a damaged one
    // leaves it unread), then loaded in one transaction, re-digested against the manifest, and
    // only then committed. `None`: no secrets.conf is installed anywhere (pass a path to
    // install the bundle's there).
    let source = RestoreSource::open(&backup.bundle)?;
    let target = zsso::parse_url(&target_url)?;
    let checked = source.check(zsso::dialect_at(&target)?, &Silent)?;
    let mut restorer = zsso::open_restorer_at(&target).await?;
    let options = zsso::restore::RestoreOptions::default();
    let report =
        zsso::restore::restore_checked(&checked, restorer.as_mut(), None, &options, &Silent)
            .await?;
    println!("restored into {}:", report.database);
    for (table, rows) in &report.tables {
        println!("  {table:<24} {rows:>6} rows");
    }
    Ok(())
}
