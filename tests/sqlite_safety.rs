//! A damaged or foreign backup is refused before the target is touched; a restore is all or
//! nothing; tables outside the set are never harmed.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use zsso::progress::Silent;

/// A backup of the fixture and a target database that already holds other data.
struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    src_db: PathBuf,
    bundle: PathBuf,
    target: PathBuf,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let src = source_server(&root);
    let bundle = root.join("bundle");
    back_up_server(&src, &bundle).await;
    let target = root.join("target.db");
    sqlite3(
        &target,
        "CREATE TABLE zato_sso_user (id INTEGER PRIMARY KEY, username TEXT UNIQUE);\
         INSERT INTO zato_sso_user VALUES (1, 'existing');\
         CREATE TABLE cluster (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO cluster VALUES (1, 'c1');",
    );
    Setup {
        _dir: dir,
        root,
        src_db: src.join("zato.db"),
        bundle,
        target,
    }
}

/// The message of a restore that failed and rolled back; any other error fails the test.
fn rolled_back(e: &zsso::Error) -> String {
    let msg = zsso::error::chain(e);
    assert!(
        matches!(e, zsso::Error::RolledBack { .. }),
        "not rolled back: {msg}"
    );
    assert!(
        msg.starts_with("restore failed and was rolled back"),
        "{msg}"
    );
    msg
}

/// Restores each plain dump of `cases` into the target: each must be refused with a message
/// holding one of `expect`, and leave the target exactly as it was.
async fn each_refused(s: &Setup, cases: &[&str], expect: &[&str]) {
    let before = state(&s.target);
    let plain = s.root.join("case.sql");
    for (i, sql) in cases.iter().enumerate() {
        std::fs::write(&plain, sql).unwrap();
        let e = restore(&plain, &s.target)
            .await
            .err()
            .unwrap_or_else(|| panic!("case {i} was accepted"));
        let msg = zsso::error::chain(&e);
        assert!(expect.iter().any(|x| msg.contains(x)), "case {i}: {msg}");
        assert_eq!(state(&s.target), before, "case {i}: the target changed");
    }
}

/// Rewrites a bundle's manifest.json through `f`.
fn edit_manifest(bundle: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = bundle.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut m);
    std::fs::write(&p, serde_json::to_vec(&m).unwrap()).unwrap();
}

/// The target's complete state: its whole dump and the file's bytes.
fn state(db: &Path) -> (String, Vec<u8>) {
    (whole_dump(db), std::fs::read(db).unwrap())
}

async fn restore(source: &Path, target: &Path) -> zsso::Result<zsso::restore::RestoreReport> {
    zsso::restore_url(source, &url(target), None, &Silent).await
}

fn copy_bundle(s: &Setup, name: &str) -> PathBuf {
    let b = s.root.join(name);
    copy_dir(&s.bundle, &b);
    b
}

#[tokio::test]
async fn damaged_bundles_are_refused_before_the_target_is_touched() {
    let s = setup().await;
    let before = state(&s.target);
    let dump = "zato-sso-backup.sql";
    type Damage = fn(&Path);
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "dump cut short",
            |b| {
                let p = b.join("zato-sso-backup.sql");
                let d = std::fs::read(&p).unwrap();
                std::fs::write(&p, &d[..d.len() / 2]).unwrap();
            },
            "cut short or altered",
        ),
        (
            "dump emptied",
            |b| std::fs::write(b.join("zato-sso-backup.sql"), b"").unwrap(),
            "has 0 bytes",
        ),
        (
            "one byte of the dump flipped",
            |b| {
                let p = b.join("zato-sso-backup.sql");
                let mut d = std::fs::read(&p).unwrap();
                let i = d.len() / 3;
                d[i] ^= 0x01;
                std::fs::write(&p, d).unwrap();
            },
            "sha256 differs",
        ),
        (
            "one byte of secrets.conf flipped",
            |b| {
                let p = b.join("secrets.conf");
                let mut d = std::fs::read(&p).unwrap();
                d[20] ^= 0x20;
                std::fs::write(&p, d).unwrap();
            },
            "secrets.conf: sha256 differs",
        ),
        (
            "dump missing",
            |b| std::fs::remove_file(b.join("zato-sso-backup.sql")).unwrap(),
            "zato-sso-backup.sql: is missing",
        ),
        (
            "secrets.conf missing",
            |b| std::fs::remove_file(b.join("secrets.conf")).unwrap(),
            "secrets.conf: is missing",
        ),
        (
            "manifest missing",
            |b| std::fs::remove_file(b.join("manifest.json")).unwrap(),
            "manifest is missing",
        ),
        (
            "manifest emptied",
            |b| std::fs::write(b.join("manifest.json"), b"").unwrap(),
            "manifest is empty",
        ),
        (
            "manifest cut short",
            |b| {
                let p = b.join("manifest.json");
                let d = std::fs::read(&p).unwrap();
                std::fs::write(&p, &d[..d.len() - 10]).unwrap();
            },
            "manifest is not valid",
        ),
        (
            "a row count in the manifest changed",
            |b| {
                edit_manifest(b, |m| m["tables"][1]["rows"] = serde_json::json!(13));
            },
            "manifest says 13",
        ),
        (
            "a digest in the manifest changed",
            |b| {
                edit_manifest(b, |m| {
                    m["tables"][0]["digest"] =
                        serde_json::json!(format!("sha256-sum:{}", "0".repeat(64)))
                });
            },
            "digest differs",
        ),
        (
            "an unknown major format version",
            |b| {
                edit_manifest(b, |m| m["format_version"] = serde_json::json!("2.0"));
            },
            "format version 2.0",
        ),
        (
            "a foreign format",
            |b| {
                edit_manifest(b, |m| m["format"] = serde_json::json!("other-tool"));
            },
            "format is `other-tool`",
        ),
        (
            "a file outside the bundle",
            |b| {
                edit_manifest(b, |m| {
                    m["files"][0]["name"] = serde_json::json!("../zato-sso-backup.sql")
                });
            },
            "not part of a zsso bundle",
        ),
        (
            "a table listed twice",
            |b| {
                edit_manifest(b, |m| {
                    let t = m["tables"][0].clone();
                    m["tables"].as_array_mut().unwrap().push(t);
                })
            },
            "lists table zato_sso_group twice",
        ),
        (
            "no key1 fingerprint for the secrets.conf",
            |b| {
                edit_manifest(b, |m| {
                    m.as_object_mut()
                        .unwrap()
                        .remove("secrets")
                        .map(drop)
                        .unwrap()
                })
            },
            "no key1 fingerprint",
        ),
        (
            "a dump replaced by a link",
            |b| {
                let p = b.join("zato-sso-backup.sql");
                let real = b.with_extension("real.sql");
                std::fs::rename(&p, &real).unwrap();
                std::os::unix::fs::symlink(&real, &p).unwrap();
            },
            "is not a regular file",
        ),
    ];
    for (i, (what, damage, expect)) in cases.into_iter().enumerate() {
        let b = copy_bundle(&s, &format!("damaged-{i}"));
        damage(&b);
        let e = restore(&b, &s.target)
            .await
            .err()
            .unwrap_or_else(|| panic!("{what}: accepted"));
        let msg = zsso::error::chain(&e);
        assert!(msg.contains(expect), "{what}: {msg}");
        assert_eq!(state(&s.target), before, "{what}: the target changed");
    }
    assert!(std::fs::metadata(s.bundle.join(dump)).is_ok());
}

#[tokio::test]
async fn a_dump_with_a_foreign_statement_is_refused_with_its_line() {
    let s = setup().await;
    let before = state(&s.target);
    let plain = s.root.join("plain.sql");
    let mut dump = sqlite3(&s.src_db, ".dump zato_sso_%");
    dump.push_str("ATTACH DATABASE '/tmp/x.db' AS x;\n");
    let line = dump.lines().count();
    std::fs::write(&plain, &dump).unwrap();
    let e = restore(&plain, &s.target).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("plain.sql:{line}: statement refused: `ATTACH`")),
        "{msg}"
    );
    assert_eq!(state(&s.target), before);
    // A statement on another table in the middle is refused as well, before anything runs.
    let dump = sqlite3(&s.src_db, ".dump zato_sso_%").replacen(
        "CREATE TABLE zato_sso_user ",
        "DELETE FROM cluster;\nCREATE TABLE zato_sso_user ",
        1,
    );
    std::fs::write(&plain, &dump).unwrap();
    let msg = restore(&plain, &s.target).await.unwrap_err().to_string();
    assert!(
        msg.contains("statement refused: `DELETE` is not allowed"),
        "{msg}"
    );
    assert_eq!(state(&s.target), before);
}

#[tokio::test]
async fn a_plain_dump_cut_short_before_its_commit_is_refused_before_the_target_is_touched() {
    let s = setup().await;
    let before = state(&s.target);
    let plain = s.root.join("cut.sql");
    let dump = sqlite3(&s.src_db, ".dump zato_sso_%");
    let lines: Vec<&str> = dump.lines().collect();
    let begin = 1 + lines
        .iter()
        .position(|l| *l == "BEGIN TRANSACTION;")
        .unwrap();
    assert_eq!(lines.last(), Some(&"COMMIT;"));
    let session = lines
        .iter()
        .position(|l| l.starts_with("INSERT INTO zato_sso_session"))
        .unwrap();
    let index = lines
        .iter()
        .rposition(|l| l.starts_with("CREATE INDEX"))
        .unwrap();
    // Cut after a whole statement: without its COMMIT, in the middle of a table's rows, and
    // after its last index.
    for keep in [lines.len() - 1, session + 1, index + 1] {
        let cut = lines[..keep].join("\n") + "\n";
        std::fs::write(&plain, cut).unwrap();
        let e = restore(&plain, &s.target).await.unwrap_err();
        assert!(matches!(e, zsso::Error::Dump { .. }), "{keep}: {e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "{}:{begin}: begins a transaction that the dump never commits: it ends before its COMMIT, cut short",
                plain.display()
            )
        );
        assert_eq!(state(&s.target), before, "{keep} lines: the target changed");
    }
    // A second BEGIN inside the first.
    let nested = dump.replacen(
        "CREATE TABLE zato_sso_user ",
        "BEGIN TRANSACTION;\nCREATE TABLE zato_sso_user ",
        1,
    );
    std::fs::write(&plain, nested).unwrap();
    let msg = restore(&plain, &s.target).await.unwrap_err().to_string();
    assert!(
        msg.ends_with(&format!(
            "begins a transaction inside the one begun at line {begin}"
        )),
        "{msg}"
    );
    assert_eq!(state(&s.target), before);
    // The whole dump is restored.
    std::fs::write(&plain, &dump).unwrap();
    restore(&plain, &s.target).await.unwrap();
}

/// An extra user row whose `username` and `sign_up_confirm_token` are given as SQL literals.
fn extra_user(username: &str, token: &str) -> String {
    format!(
        "INSERT INTO zato_sso_user(id,user_id,is_active,is_internal,is_super_user,is_locked,creation_ctx,approval_status,approval_status_mod_time,approval_status_mod_by,username,password,password_is_set,password_must_change,password_last_set,password_expiry,sign_up_status,sign_up_time,sign_up_confirm_token) VALUES(99,'zusr-dup',1,0,0,0,'{{}}','approved','2024-01-01 00:00:00.000000','x',{username},'x',1,0,'2024-01-01 00:00:00.000000','2024-01-01 00:00:00.000000','final','2024-01-01 00:00:00.000000',{token});\n"
    )
}

#[tokio::test]
async fn a_restore_that_fails_half_way_leaves_the_target_as_it_was() {
    let s = setup().await;
    let before = state(&s.target);
    // A plain dump whose second admin.zato breaks the UNIQUE constraint in the middle.
    let dump = sqlite3(&s.src_db, ".dump zato_sso_%");
    let dup = dump.replacen(
        "INSERT INTO zato_sso_password_reset",
        &format!(
            "{}INSERT INTO zato_sso_password_reset",
            extra_user("'admin.zato'", "'t'")
        ),
        1,
    );
    assert_ne!(dup, dump);
    let plain = s.root.join("dup.sql");
    std::fs::write(&plain, dup).unwrap();
    let e = restore(&plain, &s.target).await.unwrap_err();
    let msg = rolled_back(&e);
    assert!(
        msg.contains("UNIQUE constraint failed: zato_sso_user.username"),
        "{msg}"
    );
    assert_eq!(state(&s.target), before);

    // A bundle (manifest updated to match) whose rows break a unique index that is built
    // after the data: the failure comes at the very end, and still nothing remains.
    let b = copy_bundle(&s, "dup-bundle");
    let dpath = b.join("zato-sso-backup.sql");
    let text = std::fs::read_to_string(&dpath).unwrap();
    let token = sqlite3(
        &s.src_db,
        "SELECT quote(sign_up_confirm_token) FROM zato_sso_user WHERE id = 2;",
    );
    let edited = text.replacen(
        "CREATE INDEX zato_u_appr_stat_idx",
        &format!(
            "{}CREATE INDEX zato_u_appr_stat_idx",
            extra_user("'dup.user'", token.trim())
        ),
        1,
    );
    std::fs::write(&dpath, &edited).unwrap();
    let sha = zsso::bundle::sha256_file(&dpath).unwrap();
    edit_manifest(&b, |m| {
        m["files"][0]["size"] = serde_json::json!(edited.len());
        m["files"][0]["sha256"] = serde_json::json!(sha);
        m["tables"][1]["rows"] = serde_json::json!(15);
    });
    let e = restore(&b, &s.target).await.unwrap_err();
    let msg = rolled_back(&e);
    assert!(
        msg.contains("UNIQUE constraint failed: zato_sso_user.sign_up_confirm_token"),
        "{msg}"
    );
    assert_eq!(state(&s.target), before);
}

#[tokio::test]
async fn a_dependent_table_outside_the_set_blocks_the_restore_and_keeps_its_rows() {
    let s = setup().await;
    sqlite3(
        &s.target,
        "CREATE TABLE my_audit (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES zato_sso_user (id) ON DELETE CASCADE);\
         INSERT INTO my_audit VALUES (1, 1), (2, 1);",
    );
    let before = state(&s.target);
    let e = restore(&s.bundle, &s.target).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("my_audit references zato_sso_user"), "{msg}");
    assert!(msg.contains("nothing was changed"), "{msg}");
    assert_eq!(state(&s.target), before);
    assert_eq!(sqlite3(&s.target, "SELECT count(*) FROM my_audit;"), "2\n");
}

#[tokio::test]
async fn plain_sqlite3_dumps_are_accepted_with_or_without_the_articles_drop_lines() {
    let s = setup().await;
    let want = typed_hex_rows(&s.src_db);
    let dump = sqlite3(&s.src_db, ".dump zato_sso_%");
    // As sqlite3 writes it, into a target that already has a zato_sso_user table.
    let plain = s.root.join("plain.sql");
    std::fs::write(&plain, &dump).unwrap();
    let r = restore(&plain, &s.target).await.unwrap();
    assert!(!r.verified_against_manifest);
    assert!(r.warnings.iter().any(|w| w.contains("no integrity proof")));
    assert_eq!(typed_hex_rows(&s.target), want);
    assert_eq!(sqlite3(&s.target, "SELECT name FROM cluster;"), "c1\n");
    // With the DROP lines the article tells people to add (parents first, six tables).
    let drops = "DROP TABLE IF EXISTS zato_sso_group;\nDROP TABLE IF EXISTS zato_sso_user;\nDROP TABLE IF EXISTS zato_sso_user_group;\nDROP TABLE IF EXISTS zato_sso_session;\nDROP TABLE IF EXISTS zato_sso_attr;\nDROP TABLE IF EXISTS zato_sso_linked_auth;\n";
    let edited = dump.replacen(
        "BEGIN TRANSACTION;\n",
        &format!("BEGIN TRANSACTION;\n{drops}"),
        1,
    );
    std::fs::write(&plain, &edited).unwrap();
    restore(&plain, &s.target).await.unwrap();
    assert_eq!(typed_hex_rows(&s.target), want);
    // Indexes that sqlite3 .dump 'zato_sso_%' loses are lost in such a dump: zsso can only
    // restore what the file has. A zsso bundle has them all.
    restore(&s.bundle, &s.target).await.unwrap();
    assert_eq!(sso_objects(&s.target), sso_objects(&s.src_db));
    // Restoring the plain dump over that says which of the target's indexes go away.
    let r = restore(&plain, &s.target).await.unwrap();
    let lost: Vec<&String> = r
        .warnings
        .iter()
        .filter(|w| w.contains("it is gone"))
        .collect();
    // 15 indexes made by CREATE INDEX; `.dump zato_sso_%` keeps the two named zato_sso_*.
    assert_eq!(lost.len(), 13, "{lost:?}");
    assert!(
        r.warnings.contains(
            &"index zato_u_sigctok_idx of zato_sso_user was in the target and the dump does not recreate it: it is gone"
                .to_string()
        ),
        "{lost:?}"
    );
}

#[tokio::test]
async fn orphans_the_source_had_are_kept_and_reported_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_server(dir.path()).join("zato.db");
    // A session whose user does not exist: SQLite does not enforce foreign keys by default.
    sqlite3(
        &src,
        "INSERT INTO zato_sso_session (id, ust, creation_time, expiration_time, remote_addr, user_agent, auth_type, auth_principal, user_id) \
         VALUES (500, 'zust-orphan', '2024-01-01 00:00:00.000000', '2024-01-02 00:00:00.000000', '127.0.0.1', 'ua', 'basic', 'p', 9999);",
    );
    let bundle = dir.path().join("b");
    let r = zsso::backup_url(&url(&src), None, &bundle, &Silent)
        .await
        .unwrap();
    assert_eq!(r.manifest.orphans.len(), 1);
    assert_eq!(r.manifest.orphans[0].table, "zato_sso_session");
    assert_eq!(r.manifest.orphans[0].row, Some(500));
    let dst = dir.path().join("dst.db");
    let rr = restore(&bundle, &dst).await.unwrap();
    assert_eq!(rr.orphans, r.manifest.orphans);
    assert!(
        rr.warnings
            .iter()
            .any(|w| w.contains("as they did in the source"))
    );
    // A manifest that says the source had no orphans makes the same restore fail.
    edit_manifest(&bundle, |m| m["orphans"] = serde_json::json!([]));
    let dst2 = dir.path().join("dst2.db");
    let e = restore(&bundle, &dst2).await.unwrap_err();
    assert!(
        zsso::error::chain(&e).contains(
            "table zato_sso_session: 1 rows reference missing zato_sso_user rows, the source had 0"
        ),
        "{e}"
    );
}

#[tokio::test]
async fn a_backup_never_overwrites_and_never_leaves_a_partial_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_server(dir.path());
    let db = url(&src.join("zato.db"));
    let out = dir.path().join("b");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep"), b"mine").unwrap();
    let e = zsso::backup_url(&db, None, &out, &Silent)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    assert_eq!(std::fs::read(out.join("keep")).unwrap(), b"mine");
    // A secrets.conf whose key does not decrypt its well_known_data: nothing is written.
    let bad = dir.path().join("bad-secrets.conf");
    let good = std::fs::read_to_string(src.join("config/repo/secrets.conf")).unwrap();
    let other = new_secrets_conf();
    let other_key = other.lines().find(|l| l.starts_with("key1=")).unwrap();
    let mixed: String = good
        .lines()
        .map(|l| if l.starts_with("key1=") { other_key } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&bad, mixed).unwrap();
    let out2 = dir.path().join("b2");
    let e = zsso::backup_url(&db, Some(&bad), &out2, &Silent)
        .await
        .unwrap_err();
    assert!(zsso::error::chain(&e).contains("well_known_data"), "{e}");
    assert!(!out2.exists());
    // A database that is not there: nothing is left either, not even a partial directory.
    let e = zsso::backup_url(&url(&dir.path().join("nope.db")), None, &out2, &Silent)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nope.db"), "{e}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("b2"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_failed_restore_into_a_new_file_leaves_no_file() {
    let s = setup().await;
    let fresh = s.root.join("fresh.db");
    // Refused before it began.
    let plain = s.root.join("foreign.sql");
    std::fs::write(&plain, "PRAGMA foreign_keys=OFF;\nATTACH 'x.db' AS x;\n").unwrap();
    assert!(restore(&plain, &fresh).await.is_err());
    assert!(!fresh.exists());
    // Failed half-way: a row that breaks the table's own UNIQUE constraint.
    let dump = sqlite3(&s.src_db, ".dump zato_sso_%");
    let dup = dump.replacen(
        "INSERT INTO zato_sso_password_reset",
        &format!(
            "{}INSERT INTO zato_sso_password_reset",
            extra_user("'admin.zato'", "'t'")
        ),
        1,
    );
    std::fs::write(&plain, dup).unwrap();
    let e = restore(&plain, &fresh).await.unwrap_err();
    assert!(
        e.to_string()
            .starts_with("restore failed and was rolled back"),
        "{e}"
    );
    assert!(!fresh.exists());
    assert!(!s.root.join("fresh.db-journal").exists());
}

#[tokio::test]
async fn statements_smuggled_inside_a_trigger_or_index_are_refused() {
    let s = setup().await;
    sqlite3(
        &s.target,
        "CREATE TABLE keep (x); INSERT INTO keep VALUES (1);",
    );
    let cases = [
        // An index named `trigger` once made the scanner swallow the statements after it.
        "CREATE TABLE zato_sso_a (id);\nCREATE INDEX trigger ON zato_sso_a(id);\nDROP TABLE keep;\nCREATE TRIGGER zato_sso_t AFTER INSERT ON zato_sso_a BEGIN DELETE FROM zato_sso_a; END;\n",
        // `begin` as a name inside a trigger, then a COMMIT that would end the restore's transaction.
        "CREATE TABLE zato_sso_a (id, \"begin\");\nCREATE TRIGGER zato_sso_t AFTER INSERT ON zato_sso_a BEGIN SELECT 1 AS begin; END; COMMIT; SELECT 1 AS end;\n",
        // A trigger whose WHEN clause reads another table.
        "CREATE TABLE zato_sso_a (id);\nCREATE TRIGGER zato_sso_t AFTER INSERT ON zato_sso_a WHEN (SELECT count(*) FROM keep) BEGIN DELETE FROM zato_sso_a; END;\n",
        // A trigger body that plants a trigger elsewhere.
        "CREATE TABLE zato_sso_a (id);\nCREATE TRIGGER zato_sso_t AFTER INSERT ON zato_sso_a BEGIN CREATE TRIGGER x AFTER INSERT ON keep BEGIN SELECT 1; END; END;\n",
    ];
    each_refused(&s, &cases, &["statement refused"]).await;
}

#[tokio::test]
async fn triggers_and_every_index_of_the_sso_tables_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_server(dir.path()).join("zato.db");
    sqlite3(
        &src,
        "CREATE TRIGGER zato_sso_user_audit AFTER UPDATE OF username ON zato_sso_user FOR EACH ROW WHEN new.username <> old.username \
         BEGIN UPDATE zato_sso_attr SET last_modified = CASE WHEN 1 THEN '2024-01-01 00:00:00.000000' END WHERE user_id = new.user_id; \
         DELETE FROM zato_sso_session WHERE user_id = new.id AND ust IN (SELECT ust FROM zato_sso_session s, zato_sso_user AS u WHERE u.id = s.user_id); END;\
         CREATE INDEX zato_sso_partial_idx ON zato_sso_session (user_id) WHERE ext_session_id IS NOT NULL;\
         CREATE INDEX \"odd name\" ON zato_sso_user (lower(username));",
    );
    let bundle = dir.path().join("b");
    let r = zsso::backup_url(&url(&src), None, &bundle, &Silent)
        .await
        .unwrap();
    let users = r.manifest.schema.table("zato_sso_user").unwrap();
    assert_eq!(users.triggers.len(), 1);
    assert_eq!(users.triggers[0].name, "zato_sso_user_audit");
    let dst = dir.path().join("dst.db");
    restore(&bundle, &dst).await.unwrap();
    assert_eq!(sso_objects(&dst), sso_objects(&src));
    assert!(sso_objects(&dst).contains("trigger|zato_sso_user_audit|zato_sso_user|"));
    // The trigger works after the restore.
    sqlite3(
        &dst,
        "UPDATE zato_sso_user SET username = 'renamed' WHERE id = 2;",
    );
    assert_eq!(
        sqlite3(
            &dst,
            "SELECT count(*) FROM zato_sso_session WHERE user_id = 2;"
        ),
        "0\n"
    );
}

#[tokio::test]
async fn a_secrets_conf_that_cannot_be_installed_rolls_the_database_back() {
    let s = setup().await;
    let server = new_server(&s.root, "server");
    let db = server.join("zato.db");
    sqlite3(
        &db,
        "CREATE TABLE cluster (id INTEGER PRIMARY KEY); INSERT INTO cluster VALUES (1);",
    );
    let before = state(&db);
    let secrets = server.join("config/repo/secrets.conf");
    let old_secrets = std::fs::read(&secrets).unwrap();
    // The place for the old secrets.conf is taken by a directory: installing must fail, and
    // it must fail before the database commits.
    std::fs::create_dir(server.join("config/repo/secrets.conf.bak")).unwrap();
    let e = zsso::restore_url(&s.bundle, &url(&db), Some(&secrets), &Silent)
        .await
        .unwrap_err();
    let msg = rolled_back(&e);
    assert!(msg.contains("secrets.conf.bak"), "{msg}");
    assert_eq!(state(&db), before);
    assert_eq!(std::fs::read(&secrets).unwrap(), old_secrets);
    let left: Vec<String> = std::fs::read_dir(server.join("config/repo"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 3, "no temporary files left: {left:?}");
}

#[tokio::test]
async fn a_backup_refuses_another_installations_secrets_and_records_values_that_never_decrypted() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_server(dir.path());
    let db = src.join("zato.db");
    // Another installation's secrets.conf decrypts its own well_known_data but none of the data.
    let other = dir.path().join("other-secrets.conf");
    std::fs::write(&other, new_secrets_conf()).unwrap();
    let out = dir.path().join("b1");
    let e = zsso::backup_url(&url(&db), Some(&other), &out, &Silent)
        .await
        .unwrap_err();
    assert!(
        zsso::error::chain(&e).contains("belongs to another installation"),
        "{e}"
    );
    assert!(!out.exists());
    // One attribute written under a key that is gone: the backup says so and records it, and
    // the restore accepts exactly that, no more.
    let foreign = fernet::Fernet::new(&fernet::Fernet::generate_key()).unwrap();
    let token = foreign.encrypt(b"lost");
    sqlite3(
        &db,
        &format!("UPDATE zato_sso_attr SET value = '\"zato.secf.{token}\"' WHERE id = 3;"),
    );
    let secrets = src.join("config/repo/secrets.conf");
    let r = zsso::backup_url(&url(&db), Some(&secrets), &out, &Silent)
        .await
        .unwrap();
    let enc = r.manifest.encrypted.clone().unwrap();
    assert_eq!(enc.failed, 1);
    assert_eq!(enc.decrypted, 56);
    assert_eq!(
        enc.failures,
        vec!["zato_sso_attr.value of attribute id 3 does not decrypt with key1".to_string()]
    );
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("1 of 57 encrypted values"))
    );
    let dst = dir.path().join("dst.db");
    let rr = restore(&out, &dst).await.unwrap();
    assert_eq!(rr.encrypted.unwrap(), enc);
    assert!(
        rr.warnings
            .iter()
            .any(|w| w.contains("as they did not in the source"))
    );
    // A bundle whose secrets.conf was swapped for another installation's, with a manifest
    // rewritten to match it: the restore decrypts the data and rolls back.
    let swapped = dir.path().join("swapped");
    copy_dir(&out, &swapped);
    std::fs::copy(&other, swapped.join("secrets.conf")).unwrap();
    let fp = zsso::secrets::SecretsConf::read(&other)
        .unwrap()
        .key1()
        .unwrap()
        .fingerprint()
        .to_string();
    let sha = zsso::bundle::sha256_file(&other).unwrap();
    let size = std::fs::metadata(&other).unwrap().len();
    edit_manifest(&swapped, |m| {
        m["files"][1]["sha256"] = serde_json::json!(sha);
        m["files"][1]["size"] = serde_json::json!(size);
        m["secrets"]["key1_fingerprint"] = serde_json::json!(fp);
    });
    let dst2 = dir.path().join("dst2.db");
    let e = restore(&swapped, &dst2).await.unwrap_err();
    let msg = rolled_back(&e);
    assert!(
        msg.contains("57 of 57 encrypted values do not decrypt with it"),
        "{msg}"
    );
    assert!(!dst2.exists());
}

#[tokio::test]
async fn orphans_are_matched_by_count_and_parents_outside_the_set_only_warn() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_server(dir.path()).join("zato.db");
    // A table without an integer primary key, with a gap in its rowids and an orphan after
    // it (its rowid changes on restore); and a reference to sec_base, outside the SSO set.
    sqlite3(
        &src,
        "CREATE TABLE sec_base (id INTEGER PRIMARY KEY); INSERT INTO sec_base VALUES (1);\
         CREATE TABLE zato_sso_ext (name TEXT, user_id VARCHAR(191) REFERENCES zato_sso_user (user_id), auth_id INTEGER REFERENCES sec_base (id));\
         INSERT INTO zato_sso_ext VALUES ('a', 'zusr7f7xpz054d9nz8md48hmwpsasv', 1), ('gap', 'zusr7f7xpz054d9nz8md48hmwpsasv', 1), ('orphan', 'zusr-missing', 1);\
         DELETE FROM zato_sso_ext WHERE name = 'gap';",
    );
    let bundle = dir.path().join("b");
    let r = zsso::backup_url(&url(&src), None, &bundle, &Silent)
        .await
        .unwrap();
    assert_eq!(r.manifest.orphans.len(), 1);
    assert_eq!(r.manifest.orphans[0].row, Some(3));
    let dst = dir.path().join("dst.db");
    let rr = restore(&bundle, &dst).await.unwrap();
    // The orphan is now row 2, and every row's auth_id points at a sec_base the target lacks.
    assert_eq!(rr.orphans.len(), 3);
    assert!(
        rr.warnings
            .iter()
            .any(|w| w.contains("1 rows reference missing parents, as they did in the source")),
        "{:?}",
        rr.warnings
    );
    assert!(
        rr.warnings
            .iter()
            .any(|w| w.contains("2 rows reference rows of sec_base that the target does not have")),
        "{:?}",
        rr.warnings
    );
}

#[tokio::test]
async fn a_bundle_whose_dump_lost_an_index_is_refused_even_with_matching_checksums() {
    let s = setup().await;
    let before = state(&s.target);
    let b = copy_bundle(&s, "no-index");
    let dpath = b.join("zato-sso-backup.sql");
    let text = std::fs::read_to_string(&dpath).unwrap();
    let line = "CREATE UNIQUE INDEX zato_u_sigctok_idx ON zato_sso_user (sign_up_confirm_token);\n";
    assert!(text.contains(line));
    let edited = text.replacen(line, "", 1);
    std::fs::write(&dpath, &edited).unwrap();
    let sha = zsso::bundle::sha256_file(&dpath).unwrap();
    edit_manifest(&b, |m| {
        m["files"][0]["size"] = serde_json::json!(edited.len());
        m["files"][0]["sha256"] = serde_json::json!(sha);
    });
    let e = restore(&b, &s.target).await.unwrap_err();
    let msg = zsso::error::chain(&e);
    assert!(
        msg.contains(
            "table zato_sso_user: after loading, its indexes differ from the manifest's schema"
        ),
        "{msg}"
    );
    assert_eq!(state(&s.target), before);
}

#[tokio::test]
async fn a_backup_that_could_not_be_restored_is_refused_at_backup_time() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_server(dir.path()).join("zato.db");
    // SQLite accepts a trigger body that uses `begin` as a name; the restore's guard would not.
    sqlite3(
        &src,
        "CREATE TRIGGER zato_sso_odd AFTER INSERT ON zato_sso_group BEGIN SELECT 1 AS begin; END;",
    );
    let out = dir.path().join("b");
    let e = zsso::backup_url(&url(&src), None, &out, &Silent)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("cannot back up trigger zato_sso_odd of zato_sso_group: a restore would refuse its definition"),
        "{msg}"
    );
    assert!(!out.exists());
}

#[tokio::test]
async fn sqlite_itself_refuses_what_a_trigger_would_touch_outside_the_restored_tables() {
    let s = setup().await;
    sqlite3(
        &s.target,
        "CREATE TABLE keep (k TEXT); INSERT INTO keep VALUES ('precious');\
         CREATE TABLE sec_base (id INTEGER PRIMARY KEY, password TEXT); INSERT INTO sec_base VALUES (1, 'hunter2');",
    );
    let cases = [
        // A table named by a string literal, which SQLite accepts; fired by the INSERT.
        "CREATE TABLE zato_sso_a (id INTEGER PRIMARY KEY, x);\nCREATE TRIGGER zato_sso_tr AFTER INSERT ON zato_sso_a BEGIN UPDATE 'keep' SET k = 'overwritten'; DELETE FROM 'sec_base'; END;\nINSERT INTO zato_sso_a VALUES (1, 'a');\n",
        // The same, never fired during the restore: it would fire after it.
        "CREATE TABLE zato_sso_a (id INTEGER PRIMARY KEY, x);\nCREATE TRIGGER zato_sso_tr AFTER DELETE ON zato_sso_a BEGIN INSERT INTO 'keep' VALUES (old.x); END;\n",
        // Reading another table through `IN table` and `NOT INDEXED`.
        "CREATE TABLE zato_sso_a (id INTEGER PRIMARY KEY, x);\nCREATE TRIGGER zato_sso_tr AFTER INSERT ON zato_sso_a WHEN 'precious' IN main.keep BEGIN UPDATE zato_sso_a SET x = (SELECT group_concat(password) FROM zato_sso_a NOT INDEXED, sec_base) WHERE id = new.id; END;\nINSERT INTO zato_sso_a VALUES (1, 'a');\n",
        // An UPDATE OF trigger on a column that does not exist (yet): it would never be
        // compiled by the probe, so it is refused outright.
        "CREATE TABLE zato_sso_a (id INTEGER PRIMARY KEY, x);\nCREATE TRIGGER zato_sso_tr AFTER UPDATE OF future_col ON zato_sso_a BEGIN DELETE FROM zato_sso_user; END;\n",
        // An UPDATE OF rowid trigger whose body reads sec_base behind INDEXED BY.
        "CREATE TABLE zato_sso_a (id INTEGER PRIMARY KEY, x);\nCREATE INDEX zato_sso_ix ON zato_sso_a (x);\nCREATE TRIGGER zato_sso_tr AFTER UPDATE OF rowid ON zato_sso_a BEGIN UPDATE zato_sso_a SET x = (SELECT password FROM zato_sso_a INDEXED BY zato_sso_ix, sec_base WHERE sec_base.id = 1) WHERE id = new.id; END;\n",
        // Writing to an SSO table that the dump does not restore.
        "CREATE TABLE zato_sso_extra (id INTEGER PRIMARY KEY);\nCREATE TRIGGER zato_sso_extra_tr AFTER INSERT ON zato_sso_extra BEGIN DELETE FROM zato_sso_user; END;\nINSERT INTO zato_sso_extra VALUES (1);\n",
    ];
    each_refused(
        &s,
        &cases,
        &[
            "statement refused",
            "not one of the restored tables",
            "which is not a column of the table",
        ],
    )
    .await;
    // And a backup of a source with such a trigger is refused too.
    let dir = tempfile::tempdir().unwrap();
    let src = source_server(dir.path()).join("zato.db");
    sqlite3(
        &src,
        "CREATE TABLE keep (k TEXT);\
         CREATE TRIGGER zato_sso_sess_audit AFTER INSERT ON zato_sso_session BEGIN INSERT INTO 'keep' VALUES (new.ust); END;",
    );
    let out = dir.path().join("b");
    let e = zsso::backup_url(&url(&src), None, &out, &Silent)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("cannot back up"), "{msg}");
    assert!(
        msg.contains("touches keep (in zato_sso_sess_audit)"),
        "{msg}"
    );
    assert!(!out.exists());
}

#[tokio::test]
async fn a_transaction_sqlite_rolled_back_itself_is_reported_as_rolled_back() {
    let s = setup().await;
    let before = state(&s.target);
    let plain = s.root.join("onconflict.sql");
    std::fs::write(
        &plain,
        "CREATE TABLE zato_sso_user (id INTEGER PRIMARY KEY, x UNIQUE ON CONFLICT ROLLBACK);\nINSERT INTO zato_sso_user VALUES (1, 'a'), (2, 'a');\n",
    )
    .unwrap();
    let e = restore(&plain, &s.target).await.unwrap_err();
    let msg = rolled_back(&e);
    assert!(msg.contains("UNIQUE constraint failed"), "{msg}");
    assert_eq!(state(&s.target), before);
    // Into a new file: nothing is left behind.
    let fresh = s.root.join("fresh-onconflict.db");
    let e = restore(&plain, &fresh).await.unwrap_err();
    rolled_back(&e);
    assert!(!fresh.exists());
}

#[tokio::test]
async fn a_definition_ending_in_a_comment_is_backed_up_and_restored() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_server(dir.path()).join("zato.db");
    sqlite3(
        &src,
        "CREATE TABLE zato_sso_c (k PRIMARY KEY, v) WITHOUT ROWID -- owner: ops\n;\
         INSERT INTO zato_sso_c VALUES ('a', 1);\
         CREATE INDEX zato_sso_c_v ON zato_sso_c (v) -- for lookups\n;",
    );
    assert!(sso_objects(&src).contains("-- owner: ops"));
    let bundle = dir.path().join("b");
    zsso::backup_url(&url(&src), None, &bundle, &Silent)
        .await
        .unwrap();
    let dst = dir.path().join("dst.db");
    restore(&bundle, &dst).await.unwrap();
    assert_eq!(sso_objects(&dst), sso_objects(&src));
    let client = dir.path().join("client.db");
    sqlite3(
        &client,
        &std::fs::read_to_string(bundle.join("zato-sso-backup.sql")).unwrap(),
    );
    assert_eq!(typed_hex_rows(&client), typed_hex_rows(&src));
}

#[tokio::test]
async fn the_probe_compiles_update_of_rowid_triggers_and_refuses_unknown_columns() {
    // Past the token guard (a trigger body the guard lets through), SQLite's authorizer must
    // still see an UPDATE OF rowid trigger's body: the probe sets rowid too.
    let dir = tempfile::tempdir().unwrap();
    let src = source_server(dir.path()).join("zato.db");
    sqlite3(
        &src,
        "CREATE TABLE keep (k);         CREATE TRIGGER zato_sso_rowid_tr AFTER UPDATE OF rowid ON zato_sso_group BEGIN UPDATE zato_sso_group SET name = (SELECT k FROM keep) WHERE id = new.id; END;",
    );
    let e = zsso::backup_url(&url(&src), None, &dir.path().join("b"), &Silent)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("touches keep (in zato_sso_rowid_tr)"),
        "{e}"
    );
    sqlite3(
        &src,
        "DROP TRIGGER zato_sso_rowid_tr;         CREATE TRIGGER zato_sso_later AFTER UPDATE OF not_yet ON zato_sso_group BEGIN SELECT 1; END;",
    );
    let e = zsso::backup_url(&url(&src), None, &dir.path().join("b"), &Silent)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("fires on UPDATE OF not_yet, which is not a column"),
        "{e}"
    );
}

#[tokio::test]
async fn an_index_the_dump_creates_must_exist_after_the_load() {
    let s = setup().await;
    // The target has an index on another table with the name the dump uses.
    sqlite3(
        &s.target,
        "CREATE TABLE keep (k); CREATE INDEX zato_sso_ix ON keep (k);",
    );
    let before = state(&s.target);
    let plain = s.root.join("ifnotexists.sql");
    std::fs::write(
        &plain,
        "CREATE TABLE zato_sso_a (id INTEGER PRIMARY KEY, x);\nCREATE INDEX IF NOT EXISTS zato_sso_ix ON zato_sso_a (x);\n",
    )
    .unwrap();
    let e = restore(&plain, &s.target).await.unwrap_err();
    let msg = rolled_back(&e);
    assert!(
        msg.contains("creates index zato_sso_ix on it, and after loading it is not there"),
        "{msg}"
    );
    assert_eq!(state(&s.target), before);
}
