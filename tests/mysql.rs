//! Backup and restore on a real MySQL or MariaDB server, each test in databases of its own.
//!
//! The server comes from `ZSSO_TEST_MYSQL_URL`; without it every test says that it is
//! skipped, and with `ZSSO_REQUIRE_SERVERS=1` (as in CI) it fails instead.

mod common;

use common::my::{MyDb, fixture_dir};
use common::{forge_dump, same_text};
use std::path::{Path, PathBuf};
use zsso::progress::Silent;
use zsso::secrets::SecretsConf;

fn secrets_path() -> PathBuf {
    fixture_dir().join("secrets.conf")
}

async fn backup(db: &MyDb, out: &Path) -> zsso::backup::BackupReport {
    zsso::backup_url(&db.url, Some(&secrets_path()), out, &Silent)
        .await
        .unwrap()
}

async fn restore(bundle: &Path, db: &MyDb) -> zsso::Result<zsso::restore::RestoreReport> {
    zsso::restore_url(bundle, &db.url, None, &Silent).await
}

async fn verify(
    bundle: &Path,
    db: &MyDb,
    login: Option<(&str, &str)>,
) -> zsso::verify::VerifyReport {
    common::verify_url(bundle, &db.url, &secrets_path(), login).await
}

fn same_state(a: &MyDb, b: &MyDb) {
    same_text(&a.sso_state(), &b.sso_state());
}

fn credentials() -> serde_json::Value {
    common::credentials_in(&fixture_dir())
}

#[tokio::test]
async fn the_fixture_round_trips_with_logins_and_auto_increment() {
    let test = "the_fixture_round_trips_with_logins_and_auto_increment";
    let Some(src) = MyDb::create(test, "my_rt_src") else {
        return;
    };
    let Some(dst) = MyDb::create(test, "my_rt_dst") else {
        return;
    };
    src.load_fixture();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    let report = backup(&src, &bundle).await;
    let creds = credentials();
    for (t, n) in creds["row_counts"].as_object().unwrap() {
        assert_eq!(
            report.manifest.table(t).unwrap().rows,
            n.as_u64().unwrap(),
            "{t}"
        );
    }
    restore(&bundle, &dst).await.unwrap();
    // SHOW CREATE TABLE (AUTO_INCREMENT included) and every value are the source's.
    same_state(&src, &dst);
    assert!(
        dst.sql("SHOW CREATE TABLE zato_sso_user")
            .contains("AUTO_INCREMENT=16")
    );
    assert!(
        dst.databases_like(&format!("zsso_new_{}", dst.name))
            .is_empty()
    );
    assert!(
        dst.databases_like(&format!("zsso_old_{}", dst.name))
            .is_empty()
    );
    for c in creds["credentials"].as_array().unwrap() {
        let user = c["username"].as_str().unwrap();
        let v = verify(&bundle, &dst, Some((user, c["password"].as_str().unwrap()))).await;
        assert!(v.ok(), "{user}: {:?}", v.problems);
        assert_eq!(v.login.as_ref().map(|l| l.ok), Some(true), "{user}");
    }
    let key = SecretsConf::read(secrets_path()).unwrap().key1().unwrap();
    for s in creds["expected_secrets"].as_array().unwrap() {
        let (table, col, k) = (
            s["table"].as_str().unwrap(),
            s["column"].as_str().unwrap(),
            s["key"].as_str().unwrap(),
        );
        let hex_of = |sql: String| hex::decode(dst.sql(&sql).trim()).unwrap();
        let plain = if table == "zato_sso_user" {
            let v = hex_of(format!(
                "SELECT HEX({col}) FROM zato_sso_user WHERE username = X'{}'",
                hex::encode(k)
            ));
            zsso::zato::decrypt_stored(&key, &v).unwrap()
        } else {
            let p: Vec<&str> = k.splitn(3, '|').collect();
            let ust = if p[1].is_empty() {
                "ust IS NULL".to_string()
            } else {
                format!("ust = '{}'", p[1])
            };
            let v = hex_of(format!(
                "SELECT HEX(value) FROM zato_sso_attr WHERE user_id = '{}' AND {ust} AND name = X'{}'",
                p[0],
                hex::encode(p[2])
            ));
            zsso::zato::decrypt_attr_value(&key, &v).unwrap()
        };
        assert_eq!(
            std::str::from_utf8(&plain).unwrap(),
            s["plaintext"].as_str().unwrap(),
            "{table}.{col} of {k}"
        );
    }
    // An insert without an id gets the next one in every table, as in the source.
    let inserts = "INSERT INTO zato_sso_group (is_active, is_internal, group_id, name, source, opaque1) VALUES (1, 0, 'g-new', 'New', 'zato', 'null');
         INSERT INTO zato_sso_user (user_id, is_active, is_internal, is_super_user, is_locked, creation_ctx, approval_status,
             approval_status_mod_time, approval_status_mod_by, username, password, password_is_set, password_must_change,
             password_last_set, password_expiry, sign_up_status, sign_up_time, sign_up_confirm_token, is_totp_enabled)
           VALUES ('zusr-new', 1, 0, 0, 0, 'null', 'approved', NOW(), 'x', 'new.user', 'p', 1, 0, NOW(), NOW(), 'final', NOW(), 'tok-new', 0);
         INSERT INTO zato_sso_user_group (opaque1, user_id, group_id) VALUES ('null', LAST_INSERT_ID(), 1);
         INSERT INTO zato_sso_session (ust, creation_time, expiration_time, remote_addr, user_agent, auth_type, auth_principal, opaque1, user_id)
           VALUES ('ust-new', NOW(), NOW(), '::1', 'ua', 'basic', 'p', 'null', 1);
         INSERT INTO zato_sso_attr (creation_time, is_session_attr, is_encrypted, serial_method, name, value, _ust_string, opaque1, user_id)
           VALUES (NOW(), 0, 0, 'json', 'a-new', '1', '', 'null', 'zusr-new');
         INSERT INTO zato_sso_linked_auth (is_active, is_internal, creation_time, has_ext_principal, auth_type, auth_id, auth_principal, auth_source, opaque1, user_id)
           VALUES (1, 0, NOW(), 0, 'basic', 1, 'p-new', 'x', 'null', 'zusr-new');
         INSERT INTO zato_sso_password_reset (creation_time, expiration_time, creation_ctx, token, type_, reset_key, reset_key_exp_time,
             has_been_accessed, is_password_reset, opaque1, user_id)
           VALUES (NOW(), NOW(), '{}', 't-new', 'pr', 'k', NOW(), 0, 0, 'null', 'zusr-new');";
    src.sql(inserts);
    dst.sql(inserts);
    let max_ids = "SELECT (SELECT MAX(id) FROM zato_sso_group), (SELECT MAX(id) FROM zato_sso_user), (SELECT MAX(id) FROM zato_sso_user_group), \
                   (SELECT MAX(id) FROM zato_sso_session), (SELECT MAX(id) FROM zato_sso_attr), (SELECT MAX(id) FROM zato_sso_linked_auth), \
                   (SELECT MAX(id) FROM zato_sso_password_reset)";
    assert_eq!(src.sql(max_ids), dst.sql(max_ids));
    assert_eq!(dst.sql(max_ids).trim(), "7\t16\t8\t10\t15\t5\t4");
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn a_restore_replaces_another_zato_schema_and_repeats() {
    let test = "mysql_a_restore_replaces_another_zato_schema";
    let Some(src) = MyDb::create(test, "my_rep_src") else {
        return;
    };
    let Some(dst) = MyDb::create(test, "my_rep_dst") else {
        return;
    };
    src.load_fixture();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    backup(&src, &bundle).await;
    dst.load_fixture();
    dst.sql(
        "SET foreign_key_checks = 0; DELETE FROM zato_sso_user WHERE username <> 'admin.zato';
         ALTER TABLE zato_sso_user DROP COLUMN totp_label, AUTO_INCREMENT = 900;
         CREATE INDEX zato_extra_idx ON zato_sso_session (remote_addr(20));",
    );
    assert_ne!(src.state(), dst.state());
    restore(&bundle, &dst).await.unwrap();
    same_state(&src, &dst);
    restore(&bundle, &dst).await.unwrap();
    same_state(&src, &dst);
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn the_mysql_client_loads_the_dump_with_the_same_digests() {
    let test = "the_mysql_client_loads_the_dump";
    let Some(src) = MyDb::create(test, "my_cli_src") else {
        return;
    };
    let Some(dst) = MyDb::create(test, "my_cli_dst") else {
        return;
    };
    src.load_fixture();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    backup(&src, &bundle).await;
    dst.load(&bundle.join("zato-sso-backup.sql")).unwrap();
    let v = verify(&bundle, &dst, None).await;
    assert!(v.ok(), "{:?}", v.problems);
    same_state(&src, &dst);
    // Over an existing schema too.
    dst.load(&bundle.join("zato-sso-backup.sql")).unwrap();
    same_state(&src, &dst);
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn every_kind_of_value_mysql_holds_round_trips() {
    let test = "every_kind_of_value_mysql_holds";
    let Some(src) = MyDb::create(test, "my_kinds_src") else {
        return;
    };
    let Some(dst) = MyDb::create(test, "my_kinds_dst") else {
        return;
    };
    let long = "x\u{e9}\u{1F984}".repeat(5_000);
    src.sql(&format!(
        "SET SESSION sql_mode = ''; SET time_zone = '+05:30';
         CREATE TABLE zato_sso_kinds (
            `Id` bigint NOT NULL PRIMARY KEY, `select` text, t text, emoji varchar(50) CHARACTER SET utf8mb4,
            d double, f float, n decimal(30,10), b tinyint(1), u bigint unsigned, bits bit(12),
            dt datetime, dt6 datetime(6), ts timestamp(6) NULL DEFAULT NULL, da date, ti time(3), yr year,
            bin binary(4), vb varbinary(10), bl blob, j longtext, e enum('a','b c'), s set('x','y'), lat varchar(20) CHARACTER SET latin1
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
         INSERT INTO zato_sso_kinds VALUES
          (-9223372036854775808, 'Upper', CONCAT('tab', CHAR(9), 'LF', CHAR(10), 'CRLF', CHAR(13, 10), 'back', CHAR(92), 'quote', CHAR(39), 'dq', CHAR(34), ';DROP TABLE x; -- ', CHAR(1), CHAR(127)),
           X'F09FA684', 0.1, 0.1, 12345678901234567890.0123456789, 2, 18446744073709551615, b'101010101010',
           '2024-03-15 15:10:25', '2024-03-15 15:10:25.000001', '2024-03-15 15:10:25.500000', '0044-03-15', '-838:59:59.999', 1901,
           X'00010000', X'5c27', X'00ff', '{{\"a\": [1, 2.50]}}', 'b c', 'x,y', 'caf\u{e9}'),
          (9223372036854775807, NULL, '', '', 5e-324, -0.0, 0, -1, 0, b'0', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000', NULL, '0000-00-00', '00:00:00', 2155, '', '', '', 'null', 'a', '', ''),
          (0, 'null', 'null', NULL, 1.7976931348623157e308, 3.4028235e38, -0.0000000001, 127, 1, NULL, '9999-12-31 23:59:59', '1000-01-01 00:00:00.999999', '1970-01-01 00:00:01', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
          (1, '{long}', '{long}', NULL, -1.5e-300, 1.17549435e-38, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
          (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2024-00-15 10:00:00', '0000-00-00 00:00:00.000001', '2038-01-19 08:44:07.999999', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);"
    ));
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    zsso::backup_url(&src.url, None, &bundle, &Silent)
        .await
        .unwrap();
    // Each DATETIME and TIMESTAMP is in the dump as the server prints it in UTC, with six
    // fractional digits: the text that the digests of bundles of earlier versions cover.
    let printed = src.sql(
        "SET time_zone = '+00:00'; SELECT CAST(dt AS CHAR), CAST(dt6 AS CHAR), CAST(ts AS CHAR) FROM zato_sso_kinds ORDER BY Id",
    );
    let mut expected = std::collections::BTreeMap::<String, usize>::new();
    for v in printed
        .split(['\t', '\n'])
        .filter(|v| !v.is_empty() && *v != "NULL")
    {
        let six = String::from_utf8(zsso::value::six_digits(v.as_bytes())).unwrap();
        *expected.entry(format!("'{six}'")).or_default() += 1;
    }
    assert_eq!(expected.values().sum::<usize>(), 11, "{printed}");
    assert!(expected.contains_key("'0000-00-00 00:00:00.000001'"));
    let dump = std::fs::read_to_string(bundle.join("zato-sso-backup.sql")).unwrap();
    for (literal, n) in &expected {
        assert_eq!(dump.matches(literal.as_str()).count(), *n, "{literal}");
    }
    restore(&bundle, &dst).await.unwrap();
    same_state(&src, &dst);
    // TIMESTAMP is the same instant in any session time zone; doubles keep their bits.
    let show = "SET time_zone = '-08:00'; SELECT CAST(ts AS CHAR), CAST(d AS CHAR), HEX(CAST(d AS BINARY)), CAST(f AS CHAR) FROM zato_sso_kinds ORDER BY Id";
    assert_eq!(src.sql(show), dst.sql(show));
    assert!(
        src.sql("SELECT HEX(emoji) FROM zato_sso_kinds WHERE Id < 0")
            .contains("F09FA684")
    );
    // The mysql client loads the same dump to the same values.
    let Some(via) = MyDb::create(test, "my_kinds_cli") else {
        return;
    };
    via.load(&bundle.join("zato-sso-backup.sql")).unwrap();
    same_state(&src, &via);
    src.drop_now();
    dst.drop_now();
    via.drop_now();
}

#[tokio::test]
async fn failures_at_each_step_leave_the_live_tables_as_they_were() {
    let test = "mysql_failures_at_each_step";
    let Some(src) = MyDb::create(test, "my_fail_src") else {
        return;
    };
    let Some(dst) = MyDb::create(test, "my_fail_dst") else {
        return;
    };
    src.load_fixture();
    dst.load_fixture();
    dst.sql("SET foreign_key_checks = 0; DELETE FROM zato_sso_session WHERE id > 3; ALTER TABLE zato_sso_session AUTO_INCREMENT = 77;");
    dst.sql("CREATE TABLE sec_base (id int PRIMARY KEY, secret text); INSERT INTO sec_base VALUES (1, 'keep me');");
    let before = dst.state();
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    backup(&src, &good).await;
    let copy = |name: &str| {
        let b = tmp.path().join(name);
        common::copy_dir(&good, &b);
        b
    };
    // A flipped byte: refused by the checksums.
    let flipped = copy("flipped");
    let p = flipped.join("zato-sso-backup.sql");
    let mut bytes = std::fs::read(&p).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    restore(&flipped, &dst).await.unwrap_err();
    same_text(&before, &dst.state());
    // Foreign statements under a manifest that vouches for them.
    let cases: &[(&str, &str)] = &[
        ("DROP TABLE `sec_base`;\n", "`sec_base` is not an SSO table"),
        ("/*!50000 DROP TABLE `sec_base` */;\n", "executable comment"),
        ("SET GLOBAL sql_mode = 'ANSI_QUOTES';\n", "setting `global`"),
        (
            "INSERT INTO `zato_sso_user` (`id`) VALUES ('a\\'b');\n",
            "backslash in a string",
        ),
        (
            "CREATE TABLE `zato_sso_x` (`a` int) ENGINE=FEDERATED CONNECTION='mysql://h/d/t';\n",
            "CONNECTION",
        ),
        (
            "SELECT LOAD_FILE('/etc/passwd');\n",
            "`select` is not allowed",
        ),
    ];
    for (i, (stmt, want)) in cases.iter().enumerate() {
        let b = copy(&format!("foreign{i}"));
        forge_dump(&b, |d| {
            d.replacen(
                "DROP TABLE IF EXISTS",
                &format!("{stmt}DROP TABLE IF EXISTS"),
                1,
            )
        });
        let e = restore(&b, &dst).await.unwrap_err().to_string();
        assert!(
            e.contains(want) && e.contains("zato-sso-backup.sql:"),
            "{stmt}: {e}"
        );
        same_text(&before, &dst.state());
    }
    // A value changed in the dump (the file's checksum made to match, the row digests not):
    // the load succeeds and the check before the swap refuses it.
    let changed = copy("changed");
    forge_dump(&changed, |d| d.replacen("'approved'", "'approvex'", 1));
    let e = restore(&changed, &dst).await.unwrap_err();
    assert!(zsso::error::chain(&e).contains("digest differs"), "{e}");
    same_text(&before, &dst.state());
    // A bad row half-way through the load (a duplicate primary key): the load into the
    // restore's own database fails, and the live tables never changed.
    let dup = copy("duplicate");
    forge_dump(&dup, |d| {
        let at = d.find("INSERT INTO `zato_sso_session`").unwrap();
        let end = at + d[at..].find(";\n").unwrap();
        let first_row = d[at..end]
            .split("\n(")
            .nth(1)
            .unwrap()
            .trim_end_matches(',')
            .to_string();
        format!("{},\n({first_row}{}", &d[..end], &d[end..])
    });
    let m = dup.join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
    v["tables"][3]["rows"] = serde_json::json!(9);
    std::fs::write(&m, serde_json::to_vec(&v).unwrap()).unwrap();
    let e = restore(&dup, &dst).await.unwrap_err();
    assert!(zsso::error::chain(&e).contains("Duplicate entry"), "{e}");
    same_text(&before, &dst.state());
    assert!(
        dst.databases_like(&format!("zsso_new_{}", dst.name))
            .is_empty()
    );
    // (The connection killed or the process killed at every step, the swap included, is in
    // the behaviour suite, zsso-cli/tests/behaviour.)
    restore(&good, &dst).await.unwrap();
    same_state(&src, &dst);
    assert!(
        dst.databases_like(&format!("zsso_new_{}", dst.name))
            .is_empty()
    );
    assert!(
        dst.databases_like(&format!("zsso_old_{}", dst.name))
            .is_empty()
    );
    assert_eq!(dst.sql("SELECT secret FROM sec_base"), "keep me\n");
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn a_dependent_table_is_refused_or_kept_with_its_rows_and_key() {
    let test = "mysql_a_dependent_table";
    let Some(src) = MyDb::create(test, "my_dep_src") else {
        return;
    };
    let Some(dst) = MyDb::create(test, "my_dep_dst") else {
        return;
    };
    src.load_fixture();
    dst.load_fixture();
    dst.sql(
        "CREATE TABLE app_audit (id int PRIMARY KEY, user_id int, CONSTRAINT app_audit_user_fk FOREIGN KEY (user_id) REFERENCES zato_sso_user (id) ON DELETE CASCADE) ENGINE=InnoDB;
         INSERT INTO app_audit VALUES (1, 1), (2, 2);",
    );
    let before = dst.state();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    backup(&src, &bundle).await;
    let e = restore(&bundle, &dst).await.unwrap_err().to_string();
    assert!(e.contains("app_audit references zato_sso_user"), "{e}");
    same_text(&before, &dst.state());
    let keep = zsso::restore::RestoreOptions {
        keep_dependents: true,
        ..Default::default()
    };
    zsso::restore_url_with(&bundle, &dst.url, None, &keep, &Silent)
        .await
        .unwrap();
    same_state(&src, &dst);
    assert_eq!(
        dst.sql("SELECT id, user_id FROM app_audit ORDER BY id"),
        "1\t1\n2\t2\n"
    );
    let fk = "CONSTRAINT `app_audit_user_fk` FOREIGN KEY (`user_id`) REFERENCES `zato_sso_user` (`id`) ON DELETE CASCADE";
    assert!(dst.sql("SHOW CREATE TABLE app_audit").contains(fk));
    // The key works on the restored table: deleting a user cascades into app_audit.
    dst.sql("DELETE FROM zato_sso_user WHERE id = 2");
    assert_eq!(dst.sql("SELECT id FROM app_audit ORDER BY id"), "1\n");
    assert!(
        dst.databases_like(&format!("zsso_old_{}", dst.name))
            .is_empty()
    );
    // A dependent row whose parent the bundle does not have: refused, nothing live changed.
    dst.sql("SET foreign_key_checks = 0; INSERT INTO app_audit VALUES (3, 999)");
    let before = dst.state();
    let e = zsso::restore_url_with(&bundle, &dst.url, None, &keep, &Silent)
        .await
        .unwrap_err();
    assert!(
        zsso::error::chain(&e).contains(
            "1 rows of app_audit reference zato_sso_user rows that the restored data does not have"
        ),
        "{e}"
    );
    same_text(&before, &dst.state());
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn a_kept_key_left_on_the_replaced_tables_by_an_interrupted_restore_is_named_with_its_fix() {
    let test = "mysql_a_kept_key_left_on_the_replaced_tables";
    let Some(src) = MyDb::create(test, "my_left_src") else {
        return;
    };
    let Some(dst) = MyDb::create(test, "my_left_dst") else {
        return;
    };
    src.load_fixture();
    dst.load_fixture();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    backup(&src, &bundle).await;
    // What a restore with a kept dependent leaves when it stops right after its swap: the
    // replaced tables in zsso_old_<db>, and the dependent's key on them (beside a unique key
    // of the same name, which information_schema lists under that name too).
    let old = format!("zsso_old_{}", dst.name);
    dst.sql(&format!(
        "CREATE TABLE app_audit (id int PRIMARY KEY, user_id int, UNIQUE KEY app_audit_user_fk (user_id, id)) ENGINE=InnoDB;
         INSERT INTO app_audit VALUES (1, 1), (2, 999);
         CREATE DATABASE `{old}`;
         CREATE TABLE `{old}`.zato_sso_user LIKE zato_sso_user;
         INSERT INTO `{old}`.zato_sso_user SELECT * FROM zato_sso_user;
         SET foreign_key_checks = 0;
         ALTER TABLE app_audit ADD CONSTRAINT app_audit_user_fk FOREIGN KEY (user_id) REFERENCES `{old}`.zato_sso_user (id) ON DELETE CASCADE;"
    ));
    let before = dst.state();
    let keep = zsso::restore::RestoreOptions {
        keep_dependents: true,
        ..Default::default()
    };
    let fix = format!(
        "SET foreign_key_checks = 0; ALTER TABLE `{db}`.`app_audit` DROP FOREIGN KEY `app_audit_user_fk`; \
         ALTER TABLE `{db}`.`app_audit` ADD CONSTRAINT `app_audit_user_fk` FOREIGN KEY (`user_id`) REFERENCES `{db}`.`zato_sso_user` (`id`) ON DELETE CASCADE ON UPDATE RESTRICT; \
         SET foreign_key_checks = 1",
        db = dst.name
    );
    let e = zsso::restore_url_with(&bundle, &dst.url, None, &keep, &Silent)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "restore refused, nothing was changed: an earlier restore that kept dependent tables stopped after its swap and before it pointed their foreign keys at the restored tables, and {old} cannot be removed until they are:\n  \
             foreign key app_audit_user_fk of {db}.app_audit points at the replaced {old}.zato_sso_user; point it at the restored {db}.zato_sso_user \
             (1 of its rows have no parent there: give them one or delete them first): `{fix}`\nthen restore again",
            db = dst.name
        )
    );
    same_text(&before, &dst.state());
    assert_eq!(dst.databases_like(&old), std::slice::from_ref(&old));
    // Done as the message says, the next restore goes through and keeps the key.
    dst.sql(&format!("DELETE FROM app_audit WHERE id = 2; {fix}"));
    zsso::restore_url_with(&bundle, &dst.url, None, &keep, &Silent)
        .await
        .unwrap();
    same_state(&src, &dst);
    assert!(dst.databases_like(&old).is_empty());
    let fk = "CONSTRAINT `app_audit_user_fk` FOREIGN KEY (`user_id`) REFERENCES `zato_sso_user` (`id`) ON DELETE CASCADE";
    assert!(dst.sql("SHOW CREATE TABLE app_audit").contains(fk));
    assert_eq!(dst.sql("SELECT id, user_id FROM app_audit"), "1\t1\n");
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn rows_loaded_without_key_checks_are_recorded_as_orphans_exactly() {
    let test = "mysql_rows_loaded_without_key_checks_are_recorded_as_orphans";
    let Some(src) = MyDb::create(test, "my_orph_src") else {
        return;
    };
    let Some(dst) = MyDb::create(test, "my_orph_dst") else {
        return;
    };
    src.load_fixture();
    // Orphans of a text key and of an integer key, and two rows whose keys differ from their
    // parent's only in what the collation ignores (case, trailing spaces): no orphans.
    src.sql(
        "SET foreign_key_checks = 0;
         SET @admin = (SELECT user_id FROM zato_sso_user WHERE username = 'admin.zato');
         INSERT INTO zato_sso_attr (id, creation_time, is_session_attr, is_encrypted, serial_method, name, value, _ust_string, user_id) VALUES
           (9001, NOW(), 0, 0, 'json', 'orphan', 'null', '', 'zusr-nobody'),
           (9002, NOW(), 0, 0, 'json', 'upper', 'null', '', UPPER(@admin)),
           (9003, NOW(), 0, 0, 'json', 'spaces', 'null', '', CONCAT(@admin, '  '));
         INSERT INTO zato_sso_session (id, ust, creation_time, expiration_time, remote_addr, user_agent, auth_type, auth_principal, opaque1, user_id)
           VALUES (9101, 'ust-orphan', NOW(), NOW(), '::1', 'ua', 'basic', 'p', 'null', 99999);
         INSERT INTO zato_sso_user_group (id, user_id, group_id) VALUES (9201, 99998, 1), (9202, 1, 99997);
         SET foreign_key_checks = 1;",
    );
    // What the server itself finds, row by row.
    let server = src.sql(
        "SELECT CONCAT('zato_sso_attr ', c.id, ' zato_sso_user') FROM zato_sso_attr c WHERE NOT EXISTS (SELECT 1 FROM zato_sso_user p WHERE p.user_id = c.user_id)
         UNION ALL SELECT CONCAT('zato_sso_session ', c.id, ' zato_sso_user') FROM zato_sso_session c WHERE NOT EXISTS (SELECT 1 FROM zato_sso_user p WHERE p.id = c.user_id)
         UNION ALL SELECT CONCAT('zato_sso_user_group ', c.id, ' zato_sso_user') FROM zato_sso_user_group c WHERE NOT EXISTS (SELECT 1 FROM zato_sso_user p WHERE p.id = c.user_id)
         UNION ALL SELECT CONCAT('zato_sso_user_group ', c.id, ' zato_sso_group') FROM zato_sso_user_group c WHERE NOT EXISTS (SELECT 1 FROM zato_sso_group p WHERE p.id = c.group_id)",
    );
    let mut expected: Vec<&str> = server.lines().collect();
    expected.sort();
    assert_eq!(
        expected,
        [
            "zato_sso_attr 9001 zato_sso_user",
            "zato_sso_session 9101 zato_sso_user",
            "zato_sso_user_group 9201 zato_sso_user",
            "zato_sso_user_group 9202 zato_sso_group",
        ]
    );
    let listed = |orphans: &[zsso::backend::Orphan]| {
        let mut l: Vec<String> = orphans
            .iter()
            .map(|o| format!("{} {} {}", o.table, o.row.unwrap(), o.parent))
            .collect();
        l.sort();
        l
    };
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    let report = backup(&src, &bundle).await;
    assert_eq!(listed(&report.manifest.orphans), expected);
    // The restore brings them back as they were, and says so.
    let r = restore(&bundle, &dst).await.unwrap();
    assert_eq!(listed(&r.orphans), expected);
    assert!(
        r.warnings
            .iter()
            .any(|w| w == "4 rows reference missing parents, as they did in the source"),
        "{:?}",
        r.warnings
    );
    same_state(&src, &dst);
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn a_backup_under_concurrent_inserts_is_one_point_in_time() {
    let test = "mysql_a_backup_under_concurrent_inserts";
    let Some(src) = MyDb::create(test, "my_conc_src") else {
        return;
    };
    let Some(dst) = MyDb::create(test, "my_conc_dst") else {
        return;
    };
    src.load_fixture();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let url = src.url.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            use sqlx::Connection;
            let mut c = sqlx::MySqlConnection::connect(&url).await.unwrap();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "START TRANSACTION;
                     INSERT INTO zato_sso_user (user_id, is_active, is_internal, is_super_user, is_locked, creation_ctx, approval_status,
                       approval_status_mod_time, approval_status_mod_by, username, password, password_is_set, password_must_change,
                       password_last_set, password_expiry, sign_up_status, sign_up_time, sign_up_confirm_token, is_totp_enabled)
                     VALUES ('zusr-c{n}', 1, 0, 0, 0, 'null', 'approved', NOW(), 'x', 'conc{n}', 'p', 1, 0, NOW(), NOW(), 'final', NOW(), 'tok-c{n}', 0);
                     INSERT INTO zato_sso_session (ust, creation_time, expiration_time, remote_addr, user_agent, auth_type, auth_principal, opaque1, user_id)
                     VALUES ('ust-c{n}', NOW(), NOW(), '::1', 'ua', 'basic', 'p', 'null', LAST_INSERT_ID());
                     COMMIT;"
                )))
                .execute(&mut c)
                .await
                .unwrap();
                n += 1;
            }
            n
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut bundles = Vec::new();
    for i in 0..3 {
        let b = tmp.path().join(format!("b{i}"));
        let r = backup(&src, &b).await;
        assert!(r.manifest.orphans.is_empty(), "{:?}", r.manifest.orphans);
        bundles.push(b);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.await.unwrap() > 0);
    for b in &bundles {
        let m = zsso::bundle::Bundle::open(b).unwrap().manifest;
        let users = m.table("zato_sso_user").unwrap().rows;
        let sessions = m.table("zato_sso_session").unwrap().rows;
        assert_eq!(users - 14, sessions - 8, "{}", b.display());
        let r = restore(b, &dst).await.unwrap();
        assert!(r.orphans.is_empty());
        // AUTO_INCREMENT is past every restored id.
        let behind = dst.sql(
            "SELECT (SELECT MAX(id) FROM zato_sso_user) >= (SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'zato_sso_user')",
        );
        assert_eq!(behind.trim(), "0");
    }
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn a_server_directory_with_a_mysql_engine_is_backed_up() {
    let test = "a_server_directory_with_a_mysql_engine";
    let Some(src) = MyDb::create(test, "my_sdir_src") else {
        return;
    };
    src.load_fixture();
    let admin = common::my::server(test).unwrap();
    let host_port = admin.split('@').nth(1).unwrap().split('/').next().unwrap();
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "3306"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("server");
    std::fs::create_dir_all(dir.join("config/repo")).unwrap();
    std::fs::copy(secrets_path(), dir.join("config/repo/secrets.conf")).unwrap();
    // The root account here has an empty password: the server.conf names none.
    std::fs::write(
        dir.join("config/repo/server.conf"),
        format!("[odb]\ndb_name={}\nengine=mysql+pymysql\nhost={host}\nport={port}\nusername=root\npassword=\n", src.name),
    )
    .unwrap();
    let sd = zsso::server_conf::ServerDir::open(&dir).unwrap();
    let loc = zsso::server_dir_location(&sd).unwrap();
    assert_eq!(
        loc.describe(),
        format!("mysql://root@{host}:{port}/{}", src.name)
    );
    let out = tmp.path().join("b");
    let r = zsso::backup_at(&loc, Some(&sd.secrets_path()), &out, &Silent)
        .await
        .unwrap();
    assert_eq!(r.manifest.table("zato_sso_user").unwrap().rows, 14);
    src.drop_now();
}

#[tokio::test]
async fn zatos_foreign_key_to_sec_base_needs_the_table_and_its_rows() {
    let test = "mysql_zatos_foreign_key_to_sec_base";
    let Some(src) = MyDb::create(test, "my_sec_src") else {
        return;
    };
    let Some(dst) = MyDb::create(test, "my_sec_dst") else {
        return;
    };
    src.load_fixture();
    let ids = src.sql("SELECT GROUP_CONCAT(DISTINCT auth_id ORDER BY auth_id) FROM zato_sso_linked_auth WHERE auth_id IS NOT NULL");
    let ids: Vec<String> = ids.trim().split(',').map(str::to_string).collect();
    assert!(ids.len() > 1, "{ids:?}");
    let sec_base = |db: &MyDb, ids: &[String]| {
        db.sql("CREATE TABLE sec_base (id int PRIMARY KEY, name text) ENGINE=InnoDB");
        for i in ids {
            db.sql(&format!("INSERT INTO sec_base VALUES ({i}, 'sec {i}')"));
        }
    };
    sec_base(&src, &ids);
    src.sql("ALTER TABLE zato_sso_linked_auth ADD CONSTRAINT fk_sso_linked_base_id FOREIGN KEY (auth_id) REFERENCES sec_base (id) ON DELETE CASCADE");
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    let r = backup(&src, &bundle).await;
    assert!(
        r.warnings.iter().any(|w| w.contains("references sec_base")),
        "{:?}",
        r.warnings
    );
    // No sec_base in the target: refused, nothing live changed.
    let e = restore(&bundle, &dst).await.unwrap_err();
    assert!(
        zsso::error::chain(&e).contains("has no table sec_base"),
        "{e}"
    );
    assert_eq!(dst.sql("SHOW TABLES"), "");
    assert!(
        zsso::error::chain(&e).contains("--leave-out-fk fk_sso_linked_base_id"),
        "{e}"
    );
    // Told to leave that key out: restored without it, everything else as in the source.
    let leave = zsso::restore::RestoreOptions {
        leave_out_fks: vec!["fk_sso_linked_base_id".into()],
        ..Default::default()
    };
    let r = zsso::restore_url_with(&bundle, &dst.url, None, &leave, &Silent)
        .await
        .unwrap();
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("fk_sso_linked_base_id")),
        "{:?}",
        r.warnings
    );
    let create = dst.sql("SHOW CREATE TABLE zato_sso_linked_auth");
    assert!(
        !create.contains("fk_sso_linked_base_id` FOREIGN KEY"),
        "{create}"
    );
    assert!(
        create.contains("KEY `fk_sso_linked_base_id` (`auth_id`)"),
        "the index stays: {create}"
    );
    assert_eq!(
        dst.sql("SELECT COUNT(*) FROM zato_sso_linked_auth"),
        src.sql("SELECT COUNT(*) FROM zato_sso_linked_auth")
    );
    dst.sql("SET foreign_key_checks = 0; DROP TABLE zato_sso_group, zato_sso_user, zato_sso_user_group, zato_sso_session, zato_sso_attr, zato_sso_linked_auth, zato_sso_password_reset");
    // sec_base without one of the ids: refused before the swap.
    sec_base(&dst, &ids[1..]);
    let before = dst.state();
    let e = restore(&bundle, &dst).await.unwrap_err();
    assert!(
        zsso::error::chain(&e).contains("reference sec_base rows that the target does not have"),
        "{e}"
    );
    same_text(&before, &dst.state());
    // With every id: restored, the key pointing at the live sec_base.
    dst.sql(&format!(
        "INSERT INTO sec_base VALUES ({0}, 'sec {0}')",
        ids[0]
    ));
    restore(&bundle, &dst).await.unwrap();
    same_state(&src, &dst);
    assert!(dst.sql("SHOW CREATE TABLE zato_sso_linked_auth").contains("CONSTRAINT `fk_sso_linked_base_id` FOREIGN KEY (`auth_id`) REFERENCES `sec_base` (`id`) ON DELETE CASCADE"));
    src.drop_now();
    dst.drop_now();
}
