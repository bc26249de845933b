//! Helpers shared by the integration tests: fixtures, fresh installations, and independent
//! views of a database through the `sqlite3` client.
#![allow(dead_code)]

pub mod my;
pub mod pg;
pub mod reference;
pub mod shared;

use std::path::{Path, PathBuf};
use std::process::Command;

pub use shared::{copy_dir, root, run_with_input};

/// The repo's copy of the Zato 3.2 SQLite fixture.
pub fn fixture() -> PathBuf {
    root().join("tests/fixtures/zato-3.2-sqlite")
}

/// The fixture's credentials.json.
pub fn credentials() -> serde_json::Value {
    let text = std::fs::read(fixture().join("credentials.json")).unwrap();
    serde_json::from_slice(&text).unwrap()
}

/// A copy of the fixture's server directory under `dir`.
pub fn source_server(dir: &Path) -> PathBuf {
    let s = dir.join("source-server");
    copy_dir(&fixture().join("server"), &s);
    s
}

/// The text of a secrets.conf of a brand-new installation: its own key1 and well_known_data.
pub fn new_secrets_conf() -> String {
    let key = fernet::Fernet::generate_key();
    let f = fernet::Fernet::new(&key).unwrap();
    let wkd = f.encrypt(b"3.141592...");
    format!("[secret_keys]\nkey1={key}\n\n[zato]\nwell_known_data={wkd} # Pi number\n")
}

/// A new, empty server directory: server.conf like the fixture's, its own secrets.conf, no
/// database yet.
pub fn new_server(dir: &Path, name: &str) -> PathBuf {
    let s = dir.join(name);
    std::fs::create_dir_all(s.join("config/repo")).unwrap();
    std::fs::copy(
        fixture().join("server/config/repo/server.conf"),
        s.join("config/repo/server.conf"),
    )
    .unwrap();
    std::fs::write(s.join("config/repo/secrets.conf"), new_secrets_conf()).unwrap();
    s
}

/// Runs the `sqlite3` client on `db` with `sql` on stdin and returns its stdout.
pub fn sqlite3(db: &Path, sql: &str) -> String {
    let mut cmd = Command::new("sqlite3");
    cmd.args(["-bail", "-cmd", ".timeout 60000"]).arg(db);
    run_with_input(cmd, sql).unwrap_or_else(|e| panic!("sqlite3 failed: {e}"))
}

/// Every value of every SSO table as `typeof:hex`, row by row sorted by content, read by the
/// `sqlite3` client: an independent, exact view of the data.
pub fn typed_hex_rows(db: &Path) -> String {
    let tables = sqlite3(
        db,
        "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'zato\\_sso\\_%' ESCAPE '\\' ORDER BY name;",
    );
    let mut out = String::new();
    for t in tables.lines() {
        let cols = sqlite3(
            db,
            &format!("SELECT name FROM pragma_table_info('{t}') ORDER BY cid;"),
        );
        let exprs: Vec<String> = cols
            .lines()
            .map(|c| {
                let q = format!("\"{}\"", c.replace('"', "\"\""));
                format!("typeof({q})||':'||hex({q})")
            })
            .collect();
        out.push_str(&format!("== {t}\n"));
        out.push_str(&sqlite3(
            db,
            // Sorted by content: tables WITHOUT ROWID have no rowid to sort by.
            &format!(
                "SELECT {0} FROM \"{t}\" ORDER BY {0};",
                exprs.join("||'|'||")
            ),
        ));
    }
    out
}

/// The schema objects of the SSO tables (type, name, table, sql), sorted.
pub fn sso_objects(db: &Path) -> String {
    sqlite3(
        db,
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name LIKE 'zato\\_sso\\_%' ESCAPE '\\' ORDER BY type, name;",
    )
}

/// The whole database as the `sqlite3` client dumps it: every table, not only SSO ones.
pub fn whole_dump(db: &Path) -> String {
    sqlite3(db, ".dump")
}

/// Backs up the Zato server at `src` (from [`source_server`]), its zato.db with its
/// secrets.conf, into the new bundle `bundle`.
pub async fn back_up_server(src: &Path, bundle: &Path) {
    zsso::backup_url(
        &url(&src.join("zato.db")),
        Some(&src.join("config/repo/secrets.conf")),
        bundle,
        &zsso::progress::Silent,
    )
    .await
    .unwrap();
}

/// The `sqlite://` URL of a path.
pub fn url(p: &Path) -> String {
    format!("sqlite://{}", p.display())
}

/// Mode bits of a file.
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Rewrites the dump of a bundle through `f` and makes the manifest vouch for the new bytes,
/// as an attacker who controls the whole bundle would.
pub fn forge_dump(bundle: &Path, f: impl FnOnce(String) -> String) {
    let p = bundle.join("zato-sso-backup.sql");
    let text = f(std::fs::read_to_string(&p).unwrap());
    std::fs::write(&p, &text).unwrap();
    let m = bundle.join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
    for e in v["files"].as_array_mut().unwrap() {
        if e["name"] == "zato-sso-backup.sql" {
            use sha2::Digest;
            e["size"] = serde_json::json!(text.len());
            e["sha256"] = serde_json::json!(hex::encode(sha2::Sha256::digest(text.as_bytes())));
        }
    }
    std::fs::write(&m, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// Asserts two texts are equal, showing the first line that differs (not the whole text).
pub fn same_text(a: &str, b: &str) {
    if a != b {
        let (i, (x, y)) = a
            .lines()
            .zip(b.lines())
            .enumerate()
            .find(|(_, (x, y))| x != y)
            .unwrap_or((0, ("<lengths differ>", "")));
        let cut = |s: &str| s.chars().take(300).collect::<String>();
        panic!("states differ at line {i}:\n  {}\n  {}", cut(x), cut(y));
    }
}

/// `zsso verify` of the database at `url` against `bundle`, with `secrets` and an optional
/// login, through the library.
pub async fn verify_url(
    bundle: &Path,
    url: &str,
    secrets: &Path,
    login: Option<(&str, &str)>,
) -> zsso::verify::VerifyReport {
    let b = zsso::bundle::Bundle::open(bundle).unwrap();
    let s = zsso::secrets::SecretsConf::read(secrets).unwrap();
    let mut d = zsso::open_dumper(url).await.unwrap();
    zsso::verify::verify(&b, d.as_mut(), Some(&s), login, &zsso::progress::Silent)
        .await
        .unwrap()
}

/// The credentials.json of a fixture directory.
pub fn credentials_in(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("credentials.json")).unwrap()).unwrap()
}
