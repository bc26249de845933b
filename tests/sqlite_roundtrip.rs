//! The SQLite backup and restore, end to end, on the real Zato fixture.

mod common;

use common::*;
use std::path::Path;
use zsso::progress::Silent;
use zsso::secrets::{Key1, SecretsConf};
use zsso::server_conf::ServerDir;

async fn backup_server(server: &Path, out: &Path) -> zsso::backup::BackupReport {
    let sd = ServerDir::open(server).unwrap();
    let loc = zsso::server_dir_location(&sd).unwrap();
    zsso::backup_at(&loc, Some(&sd.secrets_path()), out, &Silent)
        .await
        .unwrap()
}

async fn restore_server(
    bundle: &Path,
    server: &Path,
) -> zsso::Result<zsso::restore::RestoreReport> {
    let sd = ServerDir::open(server).unwrap();
    let loc = zsso::server_dir_location(&sd).unwrap();
    let options = zsso::restore::RestoreOptions::default();
    zsso::restore_at(bundle, &loc, Some(&sd.secrets_path()), &options, &Silent).await
}

/// Reads a column of the row whose `key_col` equals `key`, with the sqlite3 client, as bytes.
fn stored_value(db: &Path, table: &str, key_col: &str, key: &str, col: &str) -> Vec<u8> {
    let hex = sqlite3(
        db,
        &format!(
            "SELECT hex({col}) FROM {table} WHERE {key_col} = '{}';",
            key.replace('\'', "''")
        ),
    );
    let hex = hex.trim();
    assert!(!hex.is_empty(), "no {table}.{col} for {key}");
    hex::decode(hex).unwrap()
}

#[tokio::test]
async fn fixture_server_is_backed_up_and_restored_into_a_new_server() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_server(dir.path());
    let bundle = dir.path().join("bundle");
    let report = backup_server(&src, &bundle).await;
    let creds = credentials();
    // The manifest's counts are the fixture's own.
    for (table, n) in creds["row_counts"].as_object().unwrap() {
        assert_eq!(
            report.manifest.table(table).unwrap().rows,
            n.as_u64().unwrap(),
            "{table}"
        );
    }
    assert_eq!(report.manifest.tables.len(), 7);
    assert_eq!(mode(&bundle.join("secrets.conf")), 0o600);

    let dst = new_server(dir.path(), "new-server");
    let old_secrets = std::fs::read(dst.join("config/repo/secrets.conf")).unwrap();
    let r = restore_server(&bundle, &dst).await.unwrap();
    assert!(r.verified_against_manifest);
    assert_eq!(r.tables.iter().map(|t| t.1).sum::<u64>(), 54);
    // secrets.conf: the old one kept as .bak, the new one byte-identical with mode 0600.
    let installed = dst.join("config/repo/secrets.conf");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(src.join("config/repo/secrets.conf")).unwrap()
    );
    assert_eq!(mode(&installed), 0o600);
    assert_eq!(
        std::fs::read(dst.join("config/repo/secrets.conf.bak")).unwrap(),
        old_secrets
    );

    // Same digests: a backup of the restored server equals the original's, table by table.
    let again = backup_server(&dst, &dir.path().join("bundle-again")).await;
    assert_eq!(again.manifest.tables, report.manifest.tables);
    // And the schema objects (tables, every index) are the same.
    assert_eq!(
        sso_objects(&dst.join("zato.db")),
        sso_objects(&src.join("zato.db"))
    );

    // Every user logs in; every encrypted value decrypts to its plaintext.
    let secrets = SecretsConf::read(&installed).unwrap();
    let key: Key1 = secrets.key1().unwrap();
    let db = dst.join("zato.db");
    for c in creds["credentials"].as_array().unwrap() {
        let user = c["username"].as_str().unwrap();
        let stored = stored_value(&db, "zato_sso_user", "username", user, "password");
        assert!(
            zsso::zato::check_password(&key, &stored, c["password"].as_str().unwrap()).unwrap(),
            "{user} must log in"
        );
        if user == "admin.zato" {
            assert!(!zsso::zato::check_password(&key, &stored, "not-the-password").unwrap());
        }
    }
    let secrets_list = creds["expected_secrets"].as_array().unwrap();
    assert_eq!(secrets_list.len(), 43);
    for s in secrets_list {
        let (table, col, k) = (
            s["table"].as_str().unwrap(),
            s["column"].as_str().unwrap(),
            s["key"].as_str().unwrap(),
        );
        let plain = if table == "zato_sso_user" {
            let v = stored_value(&db, table, "username", k, col);
            zsso::zato::decrypt_stored(&key, &v).unwrap()
        } else {
            let parts: Vec<&str> = k.splitn(3, '|').collect();
            let where_ust = if parts[1].is_empty() {
                "ust IS NULL".to_string()
            } else {
                format!("ust = '{}'", parts[1])
            };
            let hex = sqlite3(
                &db,
                &format!(
                    "SELECT hex(value) FROM zato_sso_attr WHERE user_id = '{}' AND {where_ust} AND name = '{}';",
                    parts[0],
                    parts[2].replace('\'', "''")
                ),
            );
            let v = hex::decode(hex.trim()).unwrap();
            zsso::zato::decrypt_attr_value(&key, &v).unwrap()
        };
        assert_eq!(
            String::from_utf8(plain.to_vec()).unwrap(),
            s["plaintext"].as_str().unwrap(),
            "{table}.{col} of {k}"
        );
    }
    // verify agrees, with a login.
    let b = zsso::bundle::Bundle::open(&bundle).unwrap();
    let mut d = zsso::open_dumper(&url(&db)).await.unwrap();
    let v = zsso::verify::verify(
        &b,
        d.as_mut(),
        Some(&secrets),
        Some(("zażółć.gęślą.jaźń", "Pässwörd-ąę-🦄-2024!")),
        &Silent,
    )
    .await
    .unwrap();
    assert!(v.ok(), "{:?}", v.problems);
    assert_eq!(v.secrets.unwrap().encrypted.failed, 0);
}

#[tokio::test]
async fn the_dump_loads_with_the_sqlite3_client_to_the_same_values_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_server(dir.path());
    let bundle = dir.path().join("bundle");
    backup_server(&src, &bundle).await;
    let loaded = dir.path().join("loaded.db");
    let dump = std::fs::read_to_string(bundle.join("zato-sso-backup.sql")).unwrap();
    sqlite3(&loaded, &dump);
    let before = typed_hex_rows(&src.join("zato.db"));
    assert!(before.contains("blob:"), "the fixture has BLOB values");
    assert_eq!(typed_hex_rows(&loaded), before);
    assert_eq!(sso_objects(&loaded), sso_objects(&src.join("zato.db")));
    // Loaded twice over itself (the DROP lines make it repeatable).
    sqlite3(&loaded, &dump);
    assert_eq!(typed_hex_rows(&loaded), before);
}

#[tokio::test]
async fn a_restore_over_an_existing_zato_database_replaces_the_sso_tables_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_server(dir.path());
    let bundle = dir.path().join("bundle");
    backup_server(&src, &bundle).await;
    // The target already has different SSO data and an unrelated table.
    let dst = new_server(dir.path(), "dst");
    let db = dst.join("zato.db");
    sqlite3(
        &db,
        "CREATE TABLE zato_sso_user (id INTEGER PRIMARY KEY, username TEXT);\
         INSERT INTO zato_sso_user VALUES (1, 'someone else');\
         CREATE TABLE server (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO server VALUES (7, 'kept');",
    );
    restore_server(&bundle, &dst).await.unwrap();
    assert_eq!(typed_hex_rows(&db), typed_hex_rows(&src.join("zato.db")));
    assert_eq!(sqlite3(&db, "SELECT id, name FROM server;"), "7|kept\n");
    // Twice in a row gives the same result.
    restore_server(&bundle, &dst).await.unwrap();
    assert_eq!(typed_hex_rows(&db), typed_hex_rows(&src.join("zato.db")));
}

#[tokio::test]
async fn a_backup_reads_one_snapshot_while_another_connection_writes() {
    use zsso::backend::Dumper;
    let dir = tempfile::tempdir().unwrap();
    let db = source_server(dir.path()).join("zato.db");
    // In WAL mode a writer can commit while the backup's read transaction is open.
    assert_eq!(sqlite3(&db, "PRAGMA journal_mode=WAL;"), "wal\n");
    let mut d = zsso::sqlite::SqliteDumper::open(&db).await.unwrap();
    let snap = d.begin().await.unwrap();
    sqlite3(
        &db,
        "INSERT INTO zato_sso_session (id, ust, creation_time, expiration_time, remote_addr, user_agent, auth_type, auth_principal, user_id) \
         VALUES (900, 'zust-new', '2024-01-01 00:00:00.000000', '2024-01-02 00:00:00.000000', '127.0.0.1', 'ua', 'basic', 'p', 1);\
         DELETE FROM zato_sso_attr;",
    );
    let sessions = snap.schema.table("zato_sso_session").unwrap().clone();
    let attrs = snap.schema.table("zato_sso_attr").unwrap().clone();
    let mut n_sessions = 0u64;
    d.stream_rows(&sessions, &mut |_: &[zsso::value::Value]| {
        n_sessions += 1;
        Ok(())
    })
    .await
    .unwrap();
    let mut n_attrs = 0u64;
    d.stream_rows(&attrs, &mut |_: &[zsso::value::Value]| {
        n_attrs += 1;
        Ok(())
    })
    .await
    .unwrap();
    d.finish().await.unwrap();
    // The snapshot as it was when the backup began: 8 sessions, 13 attributes.
    assert_eq!((n_sessions, n_attrs), (8, 13));
    assert_eq!(
        sqlite3(&db, "SELECT count(*) FROM zato_sso_session;"),
        "9\n"
    );
    assert_eq!(sqlite3(&db, "SELECT count(*) FROM zato_sso_attr;"), "0\n");
}
