//! Zato's whole manual SSO backup and restore procedure, done with zsso, step by step.
//!
//! Zato's documentation backs up SSO with `sqlite3 .dump` plus a copy of `secrets.conf`, and
//! restores by dropping the tables, loading the dump and copying `secrets.conf` back. This
//! example does the same with the `zsso` library, on a copy of the Zato 3.2 server directory
//! kept in this repository (`tests/fixtures/zato-3.2-sqlite/server`), and prints every step
//! as a numbered line:
//!
//! 1. copy the fixture's server directory into a fresh temporary directory (the "old"
//!    installation);
//! 2. back it up into a new bundle with [`zsso::backup_url`];
//! 3. create a brand-new installation: the same `server.conf`, but its own `secrets.conf`
//!    with a freshly generated key1;
//! 4. restore the bundle into it with [`zsso::restore_url`], installing the old
//!    `secrets.conf` (without it every restored password would be unreadable);
//! 5. show that the new installation's own `secrets.conf` was kept as `secrets.conf.bak` and
//!    that the installed one is the old one, byte for byte, mode 0600;
//! 6. confirm with [`zsso::verify::verify`]: every table's rows equal the bundle's, and a user
//!    of the old installation logs in with their old password.
//!
//! Any failed step ends the program with exit code 1.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example quickstart
//! ```

use std::error::Error;
use std::fs;
use std::path::Path;
use zsso::bundle::Bundle;
use zsso::progress::Progress;
use zsso::secrets::SecretsConf;
use zsso::server_conf::ServerDir;

type BoxResult<T> = Result<T, Box<dyn Error>>;

/// The user who logs in at the end, one of those in the fixture's credentials.json.
const USER: &str = "admin.zato";

/// Prints what zsso is doing as indented lines under the current step. (Row counts are
/// printed from the reports instead, once per step.)
struct Indented;

impl Progress for Indented {
    fn step(&self, message: &str) {
        println!("     - {message}");
    }
    fn warning(&self, message: &str) {
        println!("     ! warning: {message}");
    }
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("quickstart: error: {}", zsso::error::chain(&*e));
        std::process::exit(1);
    }
}

async fn run() -> BoxResult<()> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zato-3.2-sqlite");
    let tmp = tempfile::tempdir()?;
    let progress = Indented;

    // 1. The old installation: a copy, so that the repository's fixture is never changed.
    let old_root = tmp.path().join("old-server");
    copy_dir(&fixture.join("server"), &old_root)?;
    let old = ServerDir::open(&old_root)?;
    println!(
        "1. copied the Zato server directory {} to {}",
        fixture.join("server").display(),
        old.root().display()
    );

    // 2. Back up: the database URL comes from [odb] of server.conf, the key from secrets.conf.
    let old_db = zsso::server_dir_location(&old)?;
    let bundle_dir = tmp.path().join("zato-sso-backup");
    println!(
        "2. backing up {} into the bundle {}",
        old_db.describe(),
        bundle_dir.display()
    );
    let backup =
        zsso::backup_at(&old_db, Some(&old.secrets_path()), &bundle_dir, &progress).await?;
    let rows: u64 = backup.manifest.tables.iter().map(|t| t.rows).sum();
    println!(
        "   backed up {} tables, {rows} rows, and secrets.conf",
        backup.manifest.tables.len()
    );

    // 3. A brand-new installation: same server.conf, its own key1, no database yet.
    let new_root = tmp.path().join("new-server");
    fs::create_dir_all(new_root.join("config/repo"))?;
    fs::copy(
        old.server_conf_path(),
        new_root.join("config/repo/server.conf"),
    )?;
    let new_secrets = new_installation_secrets();
    zsso::secrets::write_private_atomic(
        &new_root.join("config/repo/secrets.conf"),
        new_secrets.as_bytes(),
    )?;
    let new = ServerDir::open(&new_root)?;
    let new_db = zsso::server_dir_location(&new)?;
    let new_key = fingerprint(&new.read_secrets()?)?;
    let old_key = fingerprint(&old.read_secrets()?)?;
    println!(
        "3. created the new server directory {}",
        new.root().display()
    );
    println!("   its own key1 has fingerprint {new_key}; the old installation's is {old_key}");

    // 4. Restore, installing the bundle's secrets.conf over the new installation's.
    println!("4. restoring the bundle into {}", new_db.describe());
    let restored = zsso::restore_at(
        &backup.bundle,
        &new_db,
        Some(&new.secrets_path()),
        &zsso::restore::RestoreOptions::default(),
        &progress,
    )
    .await?;
    for (table, rows) in &restored.tables {
        println!("   restored {table:<24} {rows:>4} rows");
    }

    // 5. The new installation's own secrets.conf is kept; the installed one is the old one.
    let installed = restored
        .secrets
        .as_ref()
        .ok_or("the restore installed no secrets.conf")?;
    let bak = installed
        .backup
        .as_ref()
        .ok_or("the restore kept no secrets.conf.bak")?;
    ensure(
        fs::read(bak)? == new_secrets.as_bytes(),
        "secrets.conf.bak does not hold the new installation's own secrets.conf",
    )?;
    ensure(
        fs::read(&installed.path)? == fs::read(old.secrets_path())?,
        "the installed secrets.conf differs from the old installation's",
    )?;
    let mode = mode_of(&installed.path)?;
    ensure(
        mode.is_none_or(|m| m == 0o600),
        "the installed secrets.conf is not mode 0600",
    )?;
    println!(
        "5. {} holds the new installation's own secrets.conf",
        bak.display()
    );
    println!(
        "   {} is the old installation's, byte for byte, mode {}",
        installed.path.display(),
        mode.map_or("(not unix)".to_string(), |m| format!("{m:04o}"))
    );

    // 6. Confirm offline, as `zsso verify --server-dir NEW --login admin.zato BUNDLE` does.
    println!(
        "6. verifying {} against the bundle and logging in as {USER}",
        new_db.describe()
    );
    let credentials: serde_json::Value =
        serde_json::from_slice(&fs::read(fixture.join("credentials.json"))?)?;
    let password = credentials["credentials"]
        .as_array()
        .and_then(|users| users.iter().find(|u| u["username"] == USER))
        .and_then(|u| u["password"].as_str())
        .ok_or("credentials.json has no password for admin.zato")?;
    let bundle = Bundle::open(&backup.bundle)?;
    let secrets = new.read_secrets()?;
    let mut dumper = zsso::open_dumper_at(&new_db).await?;
    let report = zsso::verify::verify(
        &bundle,
        dumper.as_mut(),
        Some(&secrets),
        Some((USER, password)),
        &progress,
    )
    .await?;
    if !report.ok() {
        return Err(format!("verification failed: {}", report.problems.join("; ")).into());
    }
    let decrypted = report.secrets.as_ref().map_or(0, |s| s.encrypted.decrypted);
    println!(
        "   {} tables: row counts and digests equal the bundle's; key1 decrypts all {decrypted} encrypted values",
        report.tables.len()
    );
    println!("   logged in as {USER}");
    println!("7. done: start the Zato servers of the new installation");
    Ok(())
}

/// The secrets.conf of a fresh Zato installation: a new Fernet key1, and `well_known_data`
/// (the text of pi encrypted with it) which proves that the key belongs to this file.
fn new_installation_secrets() -> String {
    let key1 = fernet::Fernet::generate_key();
    let fernet = fernet::Fernet::new(&key1).expect("generate_key makes a valid key");
    let well_known_data = fernet.encrypt(b"3.14159265358979323846264338327950288419716939937510");
    format!("[secret_keys]\nkey1={key1}\n\n[zato]\nwell_known_data={well_known_data} # Pi number\n")
}

/// The fingerprint of the key1 of `secrets`, once it is proven to decrypt its own
/// `well_known_data`.
fn fingerprint(secrets: &SecretsConf) -> zsso::Result<String> {
    let key1 = secrets.key1()?;
    secrets.prove_well_known(&key1)?;
    Ok(key1.fingerprint().to_string())
}

/// Copies the directory tree `from` to `to`.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

/// The permission bits of a file, where the platform has them.
fn mode_of(path: &Path) -> std::io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Ok(Some(fs::metadata(path)?.permissions().mode() & 0o777))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
}

fn ensure(condition: bool, failure: &str) -> BoxResult<()> {
    if condition {
        Ok(())
    } else {
        Err(failure.into())
    }
}
