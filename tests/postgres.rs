//! Backup and restore on a real PostgreSQL server, each test in databases of its own.
//!
//! The server comes from `ZSSO_TEST_POSTGRES_URL`; without it every test says that it is
//! skipped, and with `ZSSO_REQUIRE_SERVERS=1` (as in CI) it fails instead.

mod common;

use common::pg::{PgDb, fixture_dir};
use common::{copy_dir, forge_dump, same_text};
use std::path::{Path, PathBuf};
use zsso::progress::Silent;
use zsso::restore::RestoreOptions;
use zsso::secrets::SecretsConf;

fn secrets_path() -> PathBuf {
    fixture_dir().join("secrets.conf")
}

async fn backup(db: &PgDb, out: &Path) -> zsso::backup::BackupReport {
    zsso::backup_url(&db.url, Some(&secrets_path()), out, &Silent)
        .await
        .unwrap()
}

async fn restore(bundle: &Path, db: &PgDb) -> zsso::Result<zsso::restore::RestoreReport> {
    restore_with(bundle, db, RestoreOptions::default()).await
}

async fn restore_with(
    bundle: &Path,
    db: &PgDb,
    options: RestoreOptions,
) -> zsso::Result<zsso::restore::RestoreReport> {
    zsso::restore_url_with(bundle, &db.url, None, &options, &Silent).await
}

async fn verify(
    bundle: &Path,
    db: &PgDb,
    login: Option<(&str, &str)>,
) -> zsso::verify::VerifyReport {
    common::verify_url(bundle, &db.url, &secrets_path(), login).await
}

/// The two databases hold the same SSO state; on a difference, shows the first differing line.
fn same_state(a: &PgDb, b: &PgDb) {
    same_text(&a.state(), &b.state());
}

fn credentials() -> serde_json::Value {
    common::credentials_in(&fixture_dir())
}

#[tokio::test]
async fn the_fixture_round_trips_with_logins_sequences_and_new_rows() {
    let test = "the_fixture_round_trips";
    let Some(src) = PgDb::create(test, "rt_src") else {
        return;
    };
    let Some(dst) = PgDb::create(test, "rt_dst") else {
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
    assert_eq!(report.manifest.schema.sequences.len(), 7);
    let r = restore(&bundle, &dst).await.unwrap();
    assert_eq!(r.tables.len(), 7);
    same_state(&src, &dst);
    // Every user logs in; every encrypted value decrypts to what Zato wrote.
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
        let plain = if table == "zato_sso_user" {
            let v = dst.sql(&format!(
                "SELECT {col} FROM zato_sso_user WHERE username = '{}'",
                k.replace('\'', "''")
            ));
            zsso::zato::decrypt_stored(&key, v.trim_end_matches('\n').as_bytes()).unwrap()
        } else {
            let p: Vec<&str> = k.splitn(3, '|').collect();
            let ust = if p[1].is_empty() {
                "ust IS NULL".to_string()
            } else {
                format!("ust = '{}'", p[1])
            };
            let v = dst.sql(&format!(
                "SELECT value FROM zato_sso_attr WHERE user_id = '{}' AND {ust} AND name = '{}'",
                p[0],
                p[2].replace('\'', "''")
            ));
            zsso::zato::decrypt_attr_value(&key, v.trim_end_matches('\n').as_bytes()).unwrap()
        };
        assert_eq!(
            std::str::from_utf8(&plain).unwrap(),
            s["plaintext"].as_str().unwrap(),
            "{table}.{col} of {k}"
        );
    }
    // The next value of every sequence is the source's.
    let seqs = src.sequence_names();
    assert_eq!(seqs.len(), 7);
    for s in &seqs {
        let next = format!("SELECT nextval('{s}')");
        assert_eq!(src.sql(&next), dst.sql(&next), "{s}");
    }
    // Zato's next insert into every table succeeds, with ids from its sequences.
    dst.sql(
        "INSERT INTO zato_sso_group VALUES (nextval('zato_sso_group_id_seq'), true, false, 'g-new', 'New', 'zato', 'null', NULL);
         INSERT INTO zato_sso_user (id, user_id, is_active, is_internal, is_super_user, is_locked, creation_ctx, approval_status,
             approval_status_mod_time, approval_status_mod_by, username, password, password_is_set, password_must_change,
             password_last_set, password_expiry, sign_up_status, sign_up_time, sign_up_confirm_token)
           VALUES (nextval('zato_sso_user_id_seq'), 'zusr-new', true, false, false, false, 'null', 'approved', now(), 'x',
             'new.user', 'p', true, false, now(), now(), 'final', now(), 'tok-new');
         INSERT INTO zato_sso_user_group VALUES (nextval('zato_sso_ug_seq'), 'null', currval('zato_sso_user_id_seq'), currval('zato_sso_group_id_seq'));
         INSERT INTO zato_sso_session VALUES (nextval('zato_sso_sid_seq'), 'ust-new', now(), now(), '::1', 'ua', 'basic', 'p', NULL, 'null', currval('zato_sso_user_id_seq'));
         INSERT INTO zato_sso_attr VALUES (nextval('zato_sso_attr_seq'), now(), NULL, NULL, false, false, 'json', 'a', '1', '', 'null', 'zusr-new', NULL);
         INSERT INTO zato_sso_linked_auth VALUES (nextval('zato_sso_linked_auth_seq'), true, false, now(), NULL, false, 'basic', 1, 'p', 'x', 'null', 'zusr-new');
         INSERT INTO zato_sso_password_reset VALUES (nextval('zato_sso_flow_prt_seq'), now(), now(), '{}', 't-new', 'pr', 'k', now(), false, NULL, NULL, false, NULL, NULL, 'null', 'zusr-new');",
    );
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn a_restore_replaces_another_zato_schema_and_repeats() {
    let test = "a_restore_replaces_another_zato_schema";
    let Some(src) = PgDb::create(test, "rep_src") else {
        return;
    };
    let Some(dst) = PgDb::create(test, "rep_dst") else {
        return;
    };
    src.load_fixture();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    backup(&src, &bundle).await;
    // The target holds a different Zato SSO schema: other rows, a column less, an index
    // more, a sequence further on.
    dst.load_fixture();
    dst.sql(
        "DELETE FROM zato_sso_user WHERE username <> 'admin.zato';
         ALTER TABLE zato_sso_user DROP COLUMN totp_label;
         CREATE INDEX zato_extra_idx ON zato_sso_session (remote_addr);
         SELECT setval('zato_sso_user_id_seq', 500);",
    );
    assert_ne!(src.state(), dst.state(), "the target differs before");
    let r = restore(&bundle, &dst).await.unwrap();
    assert!(
        r.warnings.iter().any(|w| w.contains("zato_extra_idx")),
        "{:?}",
        r.warnings
    );
    same_state(&src, &dst);
    // And once more over itself.
    restore(&bundle, &dst).await.unwrap();
    same_state(&src, &dst);
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn psql_loads_the_dump_with_the_same_digests() {
    let test = "psql_loads_the_dump";
    let Some(src) = PgDb::create(test, "psql_src") else {
        return;
    };
    let Some(dst) = PgDb::create(test, "psql_dst") else {
        return;
    };
    src.load_fixture();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    backup(&src, &bundle).await;
    let dump = std::fs::read_to_string(bundle.join("zato-sso-backup.sql")).unwrap();
    for line in dump.lines().filter(|l| l.starts_with('\\')) {
        assert_eq!(line, "\\.", "no psql meta-command");
    }
    dst.load(&bundle.join("zato-sso-backup.sql")).unwrap();
    let v = verify(&bundle, &dst, None).await;
    assert!(v.ok(), "{:?}", v.problems);
    same_state(&src, &dst);
    // Over an existing schema too.
    dst.load(&bundle.join("zato-sso-backup.sql")).unwrap();
    same_state(&src, &dst);
    // A sequence moved back is what verify reports; one moved on is normal use.
    dst.sql("SELECT setval('zato_sso_user_id_seq', 3); SELECT setval('zato_sso_sid_seq', 500);");
    let v = verify(&bundle, &dst, None).await;
    assert_eq!(
        v.problems,
        [
            "sequence zato_sso_user_id_seq would next give 4, before the bundle's 16: new rows could take restored ids"
        ]
    );
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn every_kind_of_value_postgresql_holds_round_trips() {
    let test = "every_kind_of_value";
    let Some(src) = PgDb::create(test, "kinds_src") else {
        return;
    };
    let Some(dst) = PgDb::create(test, "kinds_dst") else {
        return;
    };
    let long = "x\u{e9}\u{1F984}".repeat(20_000);
    src.sql(&format!(
        r#"CREATE TABLE zato_sso_kinds (
            "Id" bigint PRIMARY KEY, "select" text, t text, f8 double precision, f4 real, n numeric(30, 10),
            b boolean, ts timestamp, ts0 timestamp(0), tz timestamptz, d date, j json, jb jsonb, by bytea,
            u uuid, arr text[], iv interval, vc varchar(5), ch char(3));
         SET TimeZone = 'America/New_York';
         INSERT INTO zato_sso_kinds VALUES
          (-9223372036854775808, 'Upper', E'tab\there\nLF\r\nCRLF\\back''quote;DROP TABLE x; -- \u0001\u007f', 0.1, 0.1, 12345678901234567890.0123456789,
           true, '2024-03-15 15:10:25.000001', '2024-03-15 15:10:25', '2024-03-15 15:10:25.5+05:30', '0044-03-15 BC',
           '{{"a": "\u00e9\\/", "b": [1, 2.50]}}', '{{"b": 1, "a": [true, null]}}', '\x00ff5c0a', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
           ARRAY['a,b', NULL, '"q"', ''], '1 year 2 mons 3 days 04:05:06.789', 'ab', 'a'),
          (9223372036854775807, NULL, '', 5e-324, 'Infinity', 'NaN', false, 'infinity', '-infinity', '2000-01-01 00:00:00+00',
           '9999-12-31', 'null', 'null', '', NULL, '{{}}', '-1 days', '', ''),
          (0, 'null', 'null', '-0'::float8, '-Infinity', -0.0, NULL, '1999-12-31 23:59:59.999999', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
          (1, '\N', '\x41\x42', 'NaN', '-0'::float4, 0, NULL, '2024-01-01 00:00:00.1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
          (2, '{long}', '{long}', 1.7976931348623157e308, 3.4028235e38, 1e-10, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);"#
    ));
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    zsso::backup_url(&src.url, None, &bundle, &Silent)
        .await
        .unwrap();
    restore(&bundle, &dst).await.unwrap();
    // PostgreSQL's own text of every value, in a session with another time zone, is equal.
    let show = "SET TimeZone = 'Asia/Tokyo'; SET extra_float_digits = 3; \
                SELECT string_agg(k::text, E'\\n' ORDER BY \"Id\") FROM zato_sso_kinds k";
    let before = src.sql(show);
    assert!(before.contains("-9223372036854775808"), "{before}");
    assert_eq!(before, dst.sql(show));
    same_state(&src, &dst);
    let bits = "SELECT string_agg(float8send(f8)::text || float4send(f4)::text, ',' ORDER BY \"Id\") FROM zato_sso_kinds";
    assert_eq!(
        src.sql("SELECT float8send(f8)::text FROM zato_sso_kinds WHERE \"Id\" = 0"),
        "\\x8000000000000000\n",
        "the source holds -0 as double precision"
    );
    assert_eq!(
        src.sql("SELECT float4send(f4)::text FROM zato_sso_kinds WHERE \"Id\" = 1"),
        "\\x80000000\n",
        "the source holds -0 as real"
    );
    assert_eq!(
        src.sql(bits),
        dst.sql(bits),
        "floats keep their bits, -0 and NaN included"
    );
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn values_sent_as_binary_copy_come_back_as_postgresql_prints_them() {
    let test = "binary_copy";
    let Some(src) = PgDb::create(test, "bin_src") else {
        return;
    };
    let Some(dst) = PgDb::create(test, "bin_dst") else {
        return;
    };
    // Only types that a bundle's restore sends in binary, at their limits.
    // Over 1 MiB as COPY text: the rows after it go in another chunk.
    let long = "\u{e9}\\\t\u{1F984}".repeat(120_000);
    src.sql(&format!(
        r#"CREATE TABLE zato_sso_bin (
            "Id" bigint PRIMARY KEY, i integer, s smallint, b boolean, t text, v varchar(8),
            ts timestamp, ts0 timestamp(0));
         INSERT INTO zato_sso_bin VALUES
          (-9223372036854775808, -2147483648, -32768, true, E'tab\there\nLF\r\nCR\\back\u0001\u00e9\U0001F984',
           'ab   ', '4714-11-24 00:00:00 BC', '0001-01-01 00:00:00 BC'),
          (9223372036854775807, 2147483647, 32767, false, '', '', '294276-12-31 23:59:59.999999',
           '10000-01-01 00:00:00'),
          (0, NULL, NULL, NULL, '\N', NULL, 'infinity', '-infinity'),
          (1, 0, 0, NULL, '{long}', 'x', '2024-02-29 23:59:59.999999', '1999-12-31 23:59:59'),
          (2, -1, -1, true, ' ', '\', '1970-01-01 00:00:00.5', '2000-01-01 00:00:00'),
          (3, 7, 7, false, 'a', 'b', '0044-03-15 12:00:00.000001 BC', '2000-02-29 12:00:00'),
          (4, NULL, NULL, NULL, NULL, NULL, '1999-12-31 23:59:59.999999', NULL),
          (5, NULL, NULL, NULL, NULL, NULL, '2000-01-01 00:00:00.000001', NULL);
         CREATE TABLE zato_sso_bin_empty (a integer);"#
    ));
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    zsso::backup_url(&src.url, None, &bundle, &Silent)
        .await
        .unwrap();
    restore(&bundle, &dst).await.unwrap();
    let show = "SELECT string_agg(k::text, E'\\n' ORDER BY \"Id\") FROM zato_sso_bin k";
    let before = src.sql(show);
    assert!(before.contains("294276-12-31 23:59:59.999999"), "{before}");
    assert_eq!(before, dst.sql(show));
    let micros =
        "SELECT string_agg(timestamp_send(ts)::text, ',' ORDER BY \"Id\") FROM zato_sso_bin";
    assert_eq!(src.sql(micros), dst.sql(micros));
    same_state(&src, &dst);

    // The binary path reads timestamps only as PostgreSQL prints them: a bundle whose dump
    // holds another spelling of a value (which PostgreSQL's text input would read) is
    // refused, naming the row and column, and the target keeps what it had.
    let forged = tmp.path().join("forged");
    copy_dir(&bundle, &forged);
    forge_dump(&forged, |d| {
        d.replacen(
            "2024-02-29 23:59:59.999999",
            "2024-02-29T23:59:59.999999",
            1,
        )
    });
    let e = zsso::error::chain(&restore(&forged, &dst).await.unwrap_err());
    assert!(
        e.contains("table zato_sso_bin: row 4 of its COPY data, column ts: a value of 26 bytes that is not a timestamp as PostgreSQL prints one"),
        "{e}"
    );
    assert_eq!(before, dst.sql(show));
    // A refusal by the server in one chunk is the error named, not the encoder's in a later
    // one: the first row's varchar is too long, the sixth row's timestamp unreadable.
    let both = tmp.path().join("both");
    copy_dir(&bundle, &both);
    forge_dump(&both, |d| {
        d.replacen("\tab   \t", "\tab   toolong\t", 1).replacen(
            "0044-03-15 12:00:00.000001 BC",
            "0044-03-15T12:00:00.000001 BC",
            1,
        )
    });
    let e = zsso::error::chain(&restore(&both, &dst).await.unwrap_err());
    assert!(
        e.contains("value too long for type character varying(8)")
            && !e.contains("not a timestamp"),
        "{e}"
    );
    assert_eq!(before, dst.sql(show));
    // A COPY without rows is a binary stream too (zsso writes none; a dump may hold one).
    let empty = tmp.path().join("empty");
    copy_dir(&bundle, &empty);
    forge_dump(&empty, |d| {
        let create = d.find("CREATE TABLE \"zato_sso_bin_empty\"").unwrap();
        let end = create + d[create..].find(";\n").unwrap() + 2;
        format!(
            "{}COPY \"zato_sso_bin_empty\" (\"a\") FROM stdin;\n\\.\n{}",
            &d[..end],
            &d[end..]
        )
    });
    restore(&empty, &dst).await.unwrap();
    assert_eq!(before, dst.sql(show));
    assert_eq!(dst.sql("SELECT count(*) FROM zato_sso_bin_empty"), "0\n");
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn bad_bundles_foreign_statements_and_failing_rows_leave_the_target_unchanged() {
    let test = "bad_bundles_leave_the_target_unchanged";
    let Some(src) = PgDb::create(test, "bad_src") else {
        return;
    };
    let Some(dst) = PgDb::create(test, "bad_dst") else {
        return;
    };
    src.load_fixture();
    dst.load_fixture();
    dst.sql("DELETE FROM zato_sso_session WHERE id > 3; SELECT setval('zato_sso_sid_seq', 77);");
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
    // One flipped byte: refused by the checksums.
    let flipped = copy("flipped");
    let p = flipped.join("zato-sso-backup.sql");
    let mut bytes = std::fs::read(&p).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    let e = restore(&flipped, &dst).await.unwrap_err().to_string();
    assert!(e.contains("zato-sso-backup.sql"), "{e}");
    same_text(&before, &dst.state());
    // Foreign statements, with a manifest that vouches for them: refused with their line.
    let cases: &[(&str, &str)] = &[
        ("DROP TABLE sec_base;\n", "`sec_base` is not an SSO table"),
        (
            "SELECT pg_catalog.set_config('role', 'x', false);\n",
            "search_path",
        ),
        (
            "COPY zato_sso_user (id) FROM PROGRAM 'touch /tmp/zsso-pwned';\n",
            "`PROGRAM` is not allowed",
        ),
        (
            "CREATE TABLE zato_sso_evil (a text DEFAULT pg_read_file('/etc/passwd'));\n",
            "pg_read_file",
        ),
        (
            "SET session_replication_role = replica;\n",
            "session_replication_role",
        ),
        ("COMMIT;\n", "transaction control"),
        (
            "COPY zato_sso_user (id) FROM stdin -- x\r; COMMIT; DROP TABLE sec_base; --\n;\n\\.\n",
            "carriage return",
        ),
        (
            "CREATE TABLE zato_sso_evil (a int -- \r DEFAULT pg_read_file('/etc/passwd')\n);\n",
            "carriage return",
        ),
        (
            "INSERT INTO zato_sso_user VALUES (1e+sleep(5));\n",
            "followed by a letter",
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
            e.contains(want) && e.contains("zato-sso-backup.sql:1"),
            "{stmt}: {e}"
        );
        same_text(&before, &dst.state());
    }
    // A value changed in the dump (the file's checksum made to match, the row digests not):
    // loaded, then refused by the re-digest before commit.
    let changed = copy("changed");
    forge_dump(&changed, |d| d.replacen("\tapproved\t", "\tapprovex\t", 1));
    let e = restore(&changed, &dst).await.unwrap_err();
    assert!(zsso::error::chain(&e).contains("digest differs"), "{e}");
    same_text(&before, &dst.state());
    // A row that fails half-way through the load (a value the column cannot take), and a
    // duplicate key that fails when the key is built after the data: rolled back.
    let bad_row = copy("bad-row");
    forge_dump(&bad_row, |d| {
        let at = d.find("COPY \"zato_sso_session\"").unwrap();
        let line = at + d[at..].find('\n').unwrap() + 1;
        format!(
            "{}not-a-number{}",
            &d[..line],
            &d[line + d[line..].find('\t').unwrap()..]
        )
    });
    let e = restore(&bad_row, &dst).await.unwrap_err();
    assert!(matches!(e, zsso::Error::RolledBack { .. }), "{e}");
    same_text(&before, &dst.state());
    let dup = copy("duplicate");
    forge_dump(&dup, |d| {
        let at = d.find("COPY \"zato_sso_group\"").unwrap();
        let first = at + d[at..].find('\n').unwrap() + 1;
        let end = first + d[first..].find('\n').unwrap() + 1;
        let row = d[first..end].to_string();
        format!("{}{row}{}", &d[..end], &d[end..])
    });
    let m = dup.join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
    v["tables"][0]["rows"] = serde_json::json!(6);
    std::fs::write(&m, serde_json::to_vec(&v).unwrap()).unwrap();
    let e = restore(&dup, &dst).await.unwrap_err();
    assert!(matches!(e, zsso::Error::RolledBack { .. }), "{e}");
    same_text(&before, &dst.state());
    assert_eq!(dst.sql("SELECT secret FROM sec_base"), "keep me\n");
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn a_dependent_table_is_refused_or_kept_with_its_rows_and_key() {
    let test = "a_dependent_table";
    let Some(src) = PgDb::create(test, "dep_src") else {
        return;
    };
    let Some(dst) = PgDb::create(test, "dep_dst") else {
        return;
    };
    src.load_fixture();
    dst.load_fixture();
    dst.sql(
        "CREATE TABLE app_audit (id int PRIMARY KEY, user_id int CONSTRAINT app_audit_user_fk REFERENCES zato_sso_user(id) ON DELETE CASCADE);
         INSERT INTO app_audit VALUES (1, 1), (2, 2);",
    );
    let before = dst.state();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    backup(&src, &bundle).await;
    let e = restore(&bundle, &dst).await.unwrap_err().to_string();
    assert!(
        e.contains("app_audit references zato_sso_user") && e.contains("--keep-dependents"),
        "{e}"
    );
    same_text(&before, &dst.state());
    let keep = RestoreOptions {
        keep_dependents: true,
        ..RestoreOptions::default()
    };
    restore_with(&bundle, &dst, keep.clone()).await.unwrap();
    assert_eq!(
        dst.sql("SELECT string_agg(id || ':' || user_id, ',' ORDER BY id) FROM app_audit"),
        "1:1,2:2\n"
    );
    assert_eq!(
        dst.sql("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'app_audit_user_fk'"),
        "FOREIGN KEY (user_id) REFERENCES zato_sso_user(id) ON DELETE CASCADE\n"
    );
    // A dependent row whose parent the bundle does not have fails the restore, rows intact.
    dst.sql(
        r#"INSERT INTO zato_sso_user SELECT (jsonb_populate_record(u, '{"id": 100, "user_id": "zusr-x", "username": "x", "sign_up_confirm_token": "tx"}')).*
           FROM zato_sso_user u WHERE id = 1;
           INSERT INTO app_audit VALUES (3, 100);"#,
    );
    let before = dst.state();
    let e = restore_with(&bundle, &dst, keep).await.unwrap_err();
    assert!(zsso::error::chain(&e).contains("app_audit_user_fk"), "{e}");
    same_text(&before, &dst.state());
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn zatos_foreign_key_to_sec_base_is_recreated_refused_or_left_out() {
    let test = "zatos_foreign_key_to_sec_base";
    let Some(src) = PgDb::create(test, "sec_src") else {
        return;
    };
    let Some(dst) = PgDb::create(test, "sec_dst") else {
        return;
    };
    src.load_fixture();
    let ids = src.sql("SELECT string_agg(DISTINCT auth_id::text, ',') FROM zato_sso_linked_auth WHERE auth_id IS NOT NULL");
    let ids: Vec<&str> = ids.trim().split(',').collect();
    assert!(!ids.is_empty());
    let sec_base = |db: &PgDb, ids: &[&str]| {
        db.sql("CREATE TABLE sec_base (id int PRIMARY KEY, name text)");
        for i in ids {
            db.sql(&format!("INSERT INTO sec_base VALUES ({i}, 'sec {i}')"));
        }
    };
    sec_base(&src, &ids);
    src.sql("ALTER TABLE zato_sso_linked_auth ADD CONSTRAINT fk_sso_linked_base_id FOREIGN KEY (auth_id) REFERENCES sec_base(id) ON DELETE CASCADE");
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    backup(&src, &bundle).await;
    // No sec_base in the target: refused before anything changes, naming the key.
    let e = restore(&bundle, &dst).await.unwrap_err().to_string();
    assert!(
        e.contains("fk_sso_linked_base_id")
            && e.contains("no table sec_base")
            && e.contains("--leave-out-fk"),
        "{e}"
    );
    assert_eq!(
        dst.sql("SELECT count(*) FROM pg_class WHERE relname LIKE 'zato_sso%'"),
        "0\n"
    );
    // sec_base without the referenced ids: refused and rolled back.
    sec_base(&dst, &ids[1..]);
    let e = restore(&bundle, &dst).await.unwrap_err();
    assert!(
        zsso::error::chain(&e).contains("reference sec_base rows that the target does not have"),
        "{e}"
    );
    assert_eq!(
        dst.sql("SELECT count(*) FROM pg_class WHERE relname LIKE 'zato_sso%'"),
        "0\n"
    );
    // Told to leave it out: restored without that key.
    let leave = RestoreOptions {
        leave_out_fks: vec!["fk_sso_linked_base_id".into()],
        ..RestoreOptions::default()
    };
    let r = restore_with(&bundle, &dst, leave).await.unwrap();
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("fk_sso_linked_base_id")),
        "{:?}",
        r.warnings
    );
    assert_eq!(
        dst.sql("SELECT count(*) FROM pg_constraint WHERE conname = 'fk_sso_linked_base_id'"),
        "0\n"
    );
    // With all the ids: recreated.
    dst.sql(&format!(
        "INSERT INTO sec_base VALUES ({0}, 'sec {0}')",
        ids[0]
    ));
    restore(&bundle, &dst).await.unwrap();
    assert_eq!(
        dst.sql("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'fk_sso_linked_base_id'"),
        "FOREIGN KEY (auth_id) REFERENCES sec_base(id) ON DELETE CASCADE\n"
    );
    same_state(&src, &dst);
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn a_backup_under_concurrent_inserts_is_one_point_in_time() {
    let test = "a_backup_under_concurrent_inserts";
    let Some(src) = PgDb::create(test, "conc_src") else {
        return;
    };
    let Some(dst) = PgDb::create(test, "conc_dst") else {
        return;
    };
    src.load_fixture();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let url = src.url.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Each user and its session in one transaction, as Zato writes them.
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "BEGIN;
                     INSERT INTO zato_sso_user (id, user_id, is_active, is_internal, is_super_user, is_locked, creation_ctx, approval_status,
                       approval_status_mod_time, approval_status_mod_by, username, password, password_is_set, password_must_change,
                       password_last_set, password_expiry, sign_up_status, sign_up_time, sign_up_confirm_token)
                     VALUES (nextval('zato_sso_user_id_seq'), 'zusr-c{n}', true, false, false, false, 'null', 'approved', now(), 'x',
                       'conc{n}', 'p', true, false, now(), now(), 'final', now(), 'tok-c{n}');
                     INSERT INTO zato_sso_session VALUES (nextval('zato_sso_sid_seq'), 'ust-c{n}', now(), now(), '::1', 'ua', 'basic', 'p', NULL, 'null', currval('zato_sso_user_id_seq'));
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
        backup(&src, &b).await;
        bundles.push(b);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let inserted = writer.await.unwrap();
    assert!(inserted > 0);
    for b in &bundles {
        let m = zsso::bundle::Bundle::open(b).unwrap().manifest;
        let users = m.table("zato_sso_user").unwrap().rows;
        let sessions = m.table("zato_sso_session").unwrap().rows;
        // The fixture has 14 users and 8 sessions; each insert adds one of each.
        assert_eq!(users - 14, sessions - 8, "{}", b.display());
        // The restore recreates every foreign key, which proves each session has its user,
        // and the sequences are not behind the ids.
        restore(b, &dst).await.unwrap();
        let behind = dst.sql(
            "SELECT (SELECT max(id) FROM zato_sso_user) > (SELECT last_value FROM zato_sso_user_id_seq)
                 OR (SELECT max(id) FROM zato_sso_session) > (SELECT last_value FROM zato_sso_sid_seq)",
        );
        assert_eq!(behind, "f\n");
    }
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn a_server_directory_with_a_postgresql_engine_is_backed_up() {
    let test = "a_server_directory_with_a_postgresql_engine";
    let Some(src) = PgDb::create(test, "sdir_src") else {
        return;
    };
    src.load_fixture();
    let admin = common::pg::server(test).unwrap();
    let host_port = admin.split('@').nth(1).unwrap().split('/').next().unwrap();
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "5432"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("server");
    std::fs::create_dir_all(dir.join("config/repo")).unwrap();
    // The database password comes from secrets.conf, encrypted with its key1.
    std::fs::copy(secrets_path(), dir.join("config/repo/secrets.conf")).unwrap();
    std::fs::write(
        dir.join("config/repo/server.conf"),
        format!(
            "[odb]\ndb_name={}\nengine=postgresql+pg8000\nhost={host}\nport={port}\nusername=postgres\npassword=zato+secret://zato.server_conf.odb.password\n",
            src.name
        ),
    )
    .unwrap();
    let s = SecretsConf::read(secrets_path()).unwrap();
    let key = s.key1().unwrap();
    let password = s
        .resolve("zato+secret://zato.server_conf.odb.password", &key)
        .unwrap();
    assert!(!password.is_empty());
    let sd = zsso::server_conf::ServerDir::open(&dir).unwrap();
    let loc = zsso::server_dir_location(&sd).unwrap();
    assert!(!format!("{loc:?}").contains(password.as_str()));
    assert!(!loc.describe().contains(password.as_str()));
    let out = tmp.path().join("b");
    let r = zsso::backup_at(&loc, Some(&sd.secrets_path()), &out, &Silent)
        .await
        .unwrap();
    assert_eq!(r.manifest.table("zato_sso_user").unwrap().rows, 14);
    src.drop_now();
}

#[tokio::test]
async fn identity_and_serial_columns_keep_their_sequences() {
    let test = "identity_and_serial_columns";
    let Some(src) = PgDb::create(test, "ident_src") else {
        return;
    };
    let Some(dst) = PgDb::create(test, "ident_dst") else {
        return;
    };
    src.sql(
        "CREATE TABLE zato_sso_ident (id integer GENERATED ALWAYS AS IDENTITY (START WITH 100 INCREMENT BY 5) PRIMARY KEY, v text);
         CREATE TABLE zato_sso_bydef (id bigint GENERATED BY DEFAULT AS IDENTITY, v text);
         CREATE TABLE zato_sso_serial (id serial PRIMARY KEY, v text);
         INSERT INTO zato_sso_ident (v) VALUES ('a'), ('b');
         INSERT INTO zato_sso_bydef (v) VALUES ('a'); INSERT INTO zato_sso_bydef VALUES (50, 'explicit');
         INSERT INTO zato_sso_serial (v) VALUES ('a'), ('b'), ('c');",
    );
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    let r = zsso::backup_url(&src.url, None, &bundle, &Silent)
        .await
        .unwrap();
    let idents: Vec<&str> = r
        .manifest
        .schema
        .sequences
        .iter()
        .filter(|s| s.identity)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(idents, ["zato_sso_bydef_id_seq", "zato_sso_ident_id_seq"]);
    restore(&bundle, &dst).await.unwrap();
    same_state(&src, &dst);
    for t in ["zato_sso_ident", "zato_sso_bydef", "zato_sso_serial"] {
        let next = format!("INSERT INTO {t} (v) VALUES ('next') RETURNING id");
        assert_eq!(src.sql(&next), dst.sql(&next), "{t}");
    }
    // And once more over itself, and through psql.
    restore(&bundle, &dst).await.unwrap();
    let Some(via) = PgDb::create(test, "ident_psql") else {
        return;
    };
    via.load(&bundle.join("zato-sso-backup.sql")).unwrap();
    let v = verify(&bundle, &via, None).await;
    assert!(v.ok(), "{:?}", v.problems);
    src.drop_now();
    dst.drop_now();
    via.drop_now();
}

#[tokio::test]
async fn a_schema_whose_functions_could_stand_in_for_built_ins_is_refused() {
    let test = "a_schema_whose_functions_could_stand_in";
    let Some(src) = PgDb::create(test, "shadowfn_src") else {
        return;
    };
    let Some(dst) = PgDb::create(test, "shadowfn_dst") else {
        return;
    };
    src.load_fixture();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    backup(&src, &bundle).await;
    // A lower(varchar) in the target schema would be chosen over pg_catalog.lower(text) for a
    // varchar argument, and run with the restorer's privileges.
    dst.sql("CREATE FUNCTION public.lower(character varying) RETURNS text LANGUAGE sql AS 'SELECT ''pwned''::text'");
    let before = dst.state();
    let e = restore(&bundle, &dst).await.unwrap_err().to_string();
    assert!(e.contains("schema public defines lower"), "{e}");
    same_text(&before, &dst.state());
    src.drop_now();
    dst.drop_now();
}
