//! Restores across databases: every direction between SQLite, PostgreSQL and MySQL, from each
//! fixture that Zato itself wrote, a chain through all three, and the values a target cannot
//! hold.
//!
//! The servers come from `ZSSO_TEST_POSTGRES_URL` and `ZSSO_TEST_MYSQL_URL`; a test that needs
//! a missing server says that it is skipped, or fails under `ZSSO_REQUIRE_SERVERS=1`.

mod common;

use common::my::MyDb;
use common::pg::PgDb;
use common::reference;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zsso::bundle::Bundle;
use zsso::cross::CrossOptions;
use zsso::progress::Silent;
use zsso::restore::RestoreOptions;
use zsso::schema::Table;
use zsso::secrets::SecretsConf;
use zsso::value::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
    Mysql,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgresql",
            Kind::Mysql => "mysql",
        }
    }

    fn fixture_dir(self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/fixtures/zato-3.2-{}", self.name()))
    }

    fn secrets(self) -> PathBuf {
        match self {
            Kind::Sqlite => self.fixture_dir().join("server/config/repo/secrets.conf"),
            _ => self.fixture_dir().join("secrets.conf"),
        }
    }

    fn credentials(self) -> serde_json::Value {
        common::credentials_in(&self.fixture_dir())
    }
}

enum Handle {
    File(PathBuf),
    Pg(PgDb),
    My(MyDb),
}

/// A database of one kind, of the test's own.
struct Db {
    kind: Kind,
    url: String,
    handle: Handle,
}

impl Db {
    /// An empty database, or `None` when its server is not there.
    fn empty(kind: Kind, test: &str, tag: &str, dir: &Path) -> Option<Db> {
        Some(match kind {
            Kind::Sqlite => {
                let p = dir.join(format!("{tag}.db"));
                Db {
                    kind,
                    url: common::url(&p),
                    handle: Handle::File(p),
                }
            }
            Kind::Postgres => {
                let d = PgDb::create(test, tag)?;
                Db {
                    kind,
                    url: d.url.clone(),
                    handle: Handle::Pg(d),
                }
            }
            Kind::Mysql => {
                let d = MyDb::create(test, tag)?;
                Db {
                    kind,
                    url: d.url.clone(),
                    handle: Handle::My(d),
                }
            }
        })
    }

    /// A database holding the fixture of its kind.
    fn fixture(kind: Kind, test: &str, tag: &str, dir: &Path) -> Option<Db> {
        let db = Db::empty(kind, test, tag, dir)?;
        match &db.handle {
            Handle::File(p) => copy_sqlite_fixture(p),
            Handle::Pg(d) => d.load_fixture(),
            Handle::My(d) => d.load_fixture(),
        }
        Some(db)
    }

    fn sql(&self, sql: &str) -> String {
        match &self.handle {
            Handle::File(p) => common::sqlite3(p, sql),
            Handle::Pg(d) => d.sql(sql),
            Handle::My(d) => d.sql(sql),
        }
    }

    /// Everything about the SSO tables, as the database's own client prints it.
    fn state(&self) -> String {
        match &self.handle {
            Handle::File(p) => common::whole_dump(p),
            Handle::Pg(d) => d.state(),
            Handle::My(d) => d.state(),
        }
    }

    fn drop_now(self) {
        match self.handle {
            Handle::File(_) => {}
            Handle::Pg(d) => d.drop_now(),
            Handle::My(d) => d.drop_now(),
        }
    }
}

async fn backup(db: &Db, out: &Path) {
    zsso::backup_url(&db.url, Some(&db.kind.secrets()), out, &Silent)
        .await
        .unwrap();
}

fn options(drop_microseconds: bool) -> RestoreOptions {
    RestoreOptions {
        cross: CrossOptions { drop_microseconds },
        ..RestoreOptions::default()
    }
}

async fn restore(
    bundle: &Path,
    db: &Db,
    drop_microseconds: bool,
) -> zsso::Result<zsso::restore::RestoreReport> {
    zsso::restore_url_with(bundle, &db.url, None, &options(drop_microseconds), &Silent).await
}

/// `zsso verify` of `db` against `bundle` in neutral form, with the fixture's secrets.conf.
async fn verify_neutral(
    bundle: &Path,
    db: &Db,
    secrets: &Path,
    drop_microseconds: bool,
) -> zsso::verify::VerifyReport {
    let b = Bundle::open(bundle).unwrap();
    let mut d = zsso::open_dumper(&db.url).await.unwrap();
    let neutral = zsso::neutral_digests_for(&b, d.dialect(), true, drop_microseconds, &Silent)
        .unwrap()
        .expect("neutral digests");
    let s = SecretsConf::read(secrets).unwrap();
    zsso::verify::verify_with(&b, d.as_mut(), Some(&s), None, Some(&neutral), &Silent)
        .await
        .unwrap()
}

/// Every table of `db` with its rows, as zsso reads them.
async fn tables_of(db: &Db) -> Vec<(Table, Vec<Vec<Value>>)> {
    let mut d = zsso::open_dumper(&db.url).await.unwrap();
    let snap = d.begin().await.unwrap();
    let mut out = Vec::new();
    for t in &snap.schema.tables {
        let mut rows = Vec::new();
        let mut sink = |r: &[Value]| {
            rows.push(r.to_vec());
            Ok(())
        };
        d.stream_rows(t, &mut sink).await.unwrap();
        out.push((t.clone(), rows));
    }
    d.finish().await.unwrap();
    out
}

fn text(v: &Value) -> Option<&str> {
    match v {
        Value::Text(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

/// Every user of the source fixture logs in, and every encrypted value decrypts to what Zato
/// wrote, read from `db` as zsso reads it.
async fn logins_and_secrets(db: &Db, from: Kind) {
    let creds = from.credentials();
    let key = SecretsConf::read(from.secrets()).unwrap().key1().unwrap();
    let mut d = zsso::open_dumper(&db.url).await.unwrap();
    let snap = d.begin().await.unwrap();
    for c in creds["credentials"].as_array().unwrap() {
        let user = c["username"].as_str().unwrap();
        zsso::verify::check_login(
            &mut zsso::verify::DumperRows(d.as_mut()),
            &snap.schema,
            &key,
            user,
            c["password"].as_str().unwrap(),
        )
        .await
        .unwrap_or_else(|e| panic!("{user} does not log in: {e}"));
    }
    d.finish().await.unwrap();
    let tables = tables_of(db).await;
    let find = |name: &str| tables.iter().find(|(t, _)| t.name == name).unwrap();
    let col = |t: &Table, c: &str| t.columns.iter().position(|k| k.name == c).unwrap();
    let secrets = creds["expected_secrets"].as_array().unwrap();
    assert!(!secrets.is_empty());
    for s in secrets {
        let (table, column, k) = (
            s["table"].as_str().unwrap(),
            s["column"].as_str().unwrap(),
            s["key"].as_str().unwrap(),
        );
        let plain = if table == "zato_sso_user" {
            let (t, rows) = find("zato_sso_user");
            let row = rows
                .iter()
                .find(|r| text(&r[col(t, "username")]) == Some(k))
                .unwrap_or_else(|| panic!("no user {k}"));
            zsso::zato::decrypt_stored(&key, row[col(t, column)].as_bytes().unwrap()).unwrap()
        } else {
            let p: Vec<&str> = k.splitn(3, '|').collect();
            let (t, rows) = find("zato_sso_attr");
            let ust = (!p[1].is_empty()).then_some(p[1]);
            let row = rows
                .iter()
                .find(|r| {
                    text(&r[col(t, "user_id")]) == Some(p[0])
                        && text(&r[col(t, "ust")]) == ust
                        && text(&r[col(t, "name")]) == Some(p[2])
                })
                .unwrap_or_else(|| panic!("no attribute {k}"));
            zsso::zato::decrypt_attr_value(&key, row[col(t, "value")].as_bytes().unwrap()).unwrap()
        };
        assert_eq!(
            std::str::from_utf8(&plain).unwrap(),
            s["plaintext"].as_str().unwrap(),
            "{table}.{column} of {k}"
        );
    }
}

/// The next id each table of the source fixture hands out, asked of its own database.
fn next_ids(src: &Db) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for (t, seq) in [
        ("zato_sso_group", "zato_sso_group_id_seq"),
        ("zato_sso_user", "zato_sso_user_id_seq"),
        ("zato_sso_user_group", "zato_sso_ug_seq"),
        ("zato_sso_session", "zato_sso_sid_seq"),
        ("zato_sso_attr", "zato_sso_attr_seq"),
        ("zato_sso_linked_auth", "zato_sso_linked_auth_seq"),
        ("zato_sso_password_reset", "zato_sso_flow_prt_seq"),
    ] {
        let q = match src.kind {
            Kind::Sqlite => format!("SELECT max(id) + 1 FROM {t}"),
            Kind::Postgres => format!("SELECT last_value + 1 FROM {seq}"),
            Kind::Mysql => format!(
                "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{t}'"
            ),
        };
        out.insert(t.to_string(), src.sql(&q).trim().parse().unwrap());
    }
    out
}

/// Zato's next insert into every table works, and takes the id the source would have given
/// (on SQLite, whose ids are rowids, the one after the largest).
fn insert_into_every_table(db: &Db, expected: &BTreeMap<String, i64>) {
    let pg = db.kind == Kind::Postgres;
    let id = |seq: &str| {
        if pg {
            format!("nextval('{seq}'), ")
        } else {
            String::new()
        }
    };
    let idc = if pg { "id, " } else { "" };
    let now = "'2026-12-03 10:00:00'";
    let uid = "(SELECT id FROM zato_sso_user WHERE username = 'new.user')";
    let gid = "(SELECT id FROM zato_sso_group WHERE group_id = 'g-new')";
    let before: BTreeMap<&String, i64> = expected
        .keys()
        .map(|t| {
            (
                t,
                db.sql(&format!("SELECT max(id) FROM {t}"))
                    .trim()
                    .parse()
                    .unwrap(),
            )
        })
        .collect();
    db.sql(&format!(
        "INSERT INTO zato_sso_group ({idc}is_active, is_internal, group_id, name, source, opaque1) VALUES ({}true, false, 'g-new', 'New', 'zato', 'null');
         INSERT INTO zato_sso_user ({idc}user_id, is_active, is_internal, is_super_user, is_locked, creation_ctx, approval_status,
             approval_status_mod_time, approval_status_mod_by, username, password, password_is_set, password_must_change,
             password_last_set, password_expiry, sign_up_status, sign_up_time, sign_up_confirm_token, is_totp_enabled)
           VALUES ({}'zusr-new', true, false, false, false, 'null', 'approved', {now}, 'x', 'new.user', 'p', true, false, {now}, {now}, 'final', {now}, 'tok-new', false);
         INSERT INTO zato_sso_user_group ({idc}opaque1, user_id, group_id) VALUES ({}'null', {uid}, {gid});
         INSERT INTO zato_sso_session ({idc}ust, creation_time, expiration_time, remote_addr, user_agent, auth_type, auth_principal, opaque1, user_id)
           VALUES ({}'ust-new', {now}, {now}, '::1', 'ua', 'basic', 'p', 'null', {uid});
         INSERT INTO zato_sso_attr ({idc}creation_time, is_session_attr, is_encrypted, serial_method, name, value, _ust_string, opaque1, user_id, ust)
           VALUES ({}{now}, true, false, 'json', 'a-new', '1', 'ust-new', 'null', 'zusr-new', 'ust-new');
         INSERT INTO zato_sso_linked_auth ({idc}is_active, is_internal, creation_time, has_ext_principal, auth_type, auth_id, auth_principal, auth_source, opaque1, user_id)
           VALUES ({}true, false, {now}, false, 'basic', 1, 'p-new', 'x', 'null', 'zusr-new');
         INSERT INTO zato_sso_password_reset ({idc}creation_time, expiration_time, creation_ctx, token, type_, reset_key, reset_key_exp_time,
             has_been_accessed, is_password_reset, opaque1, user_id)
           VALUES ({}{now}, {now}, '{{}}', 't-new', 'pr', 'k', {now}, false, false, 'null', 'zusr-new');",
        id("zato_sso_group_id_seq"),
        id("zato_sso_user_id_seq"),
        id("zato_sso_ug_seq"),
        id("zato_sso_sid_seq"),
        id("zato_sso_attr_seq"),
        id("zato_sso_linked_auth_seq"),
        id("zato_sso_flow_prt_seq"),
    ));
    for (t, next) in expected {
        let got: i64 = db
            .sql(&format!("SELECT max(id) FROM {t}"))
            .trim()
            .parse()
            .unwrap();
        let want = if db.kind == Kind::Sqlite {
            before[t] + 1
        } else {
            *next
        };
        assert_eq!(got, want, "the id of the new row of {t}");
    }
}

/// The restored schema is the one Zato creates on the target, object by object.
async fn schema_is_zatos(db: &Db, test: &str, dir: &Path) {
    let live = reference::schema_at(&db.url).await;
    let zato = match db.kind {
        Kind::Sqlite => reference::reference_sqlite(dir).await,
        Kind::Postgres => {
            let (r, s) = reference::reference_postgres(test).await.unwrap();
            r.drop_now();
            s
        }
        Kind::Mysql => {
            let (r, s) = reference::reference_mysql(test).await.unwrap();
            r.drop_now();
            s
        }
    };
    let diffs = reference::schema_differences(&zato, &live);
    assert!(diffs.is_empty(), "{diffs:#?}");
}

/// How many values of the source fixture Zato stored as bytes in text columns: SQLite BLOBs,
/// PostgreSQL `\x` hex texts (none on MySQL), asked of the source's own database.
fn bytes_in_text(src: &Db) -> u64 {
    let cols = [
        "password",
        "email",
        "totp_key",
        "totp_label",
        "sign_up_confirm_token",
    ];
    let cond = |c: &str| match src.kind {
        Kind::Sqlite => format!("typeof({c}) = 'blob'"),
        _ => format!("{c} LIKE '\\\\x%'"),
    };
    if src.kind == Kind::Mysql {
        return 0;
    }
    cols.iter()
        .map(|c| {
            src.sql(&format!(
                "SELECT count(*) FROM zato_sso_user WHERE {}",
                cond(c)
            ))
            .trim()
            .parse::<u64>()
            .unwrap()
        })
        .sum()
}

async fn direction(from: Kind, to: Kind, test: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let Some(src) = Db::fixture(from, test, &format!("{test}_s"), tmp.path()) else {
        return;
    };
    let Some(dst) = Db::empty(to, test, &format!("{test}_d"), tmp.path()) else {
        return;
    };
    let bundle = tmp.path().join("bundle");
    backup(&src, &bundle).await;
    let lossy = to == Kind::Mysql;
    let report = restore(&bundle, &dst, lossy).await.unwrap();
    assert_eq!(report.tables.len(), 7);
    let plan = report.conversion.as_ref().expect("a converted restore");
    assert_eq!(
        (plan.source.as_str(), plan.target.as_str()),
        (from.name(), to.name())
    );
    let converted = plan.conversions.blobs_to_text + plan.conversions.hex_to_text;
    assert_eq!(converted, bytes_in_text(&src), "bytes become text");
    assert!(from == Kind::Mysql || converted > 0);
    assert!(plan.problems.is_empty());
    // The digests in neutral form are the source bundle's; every encrypted value decrypts.
    let v = verify_neutral(&bundle, &dst, &from.secrets(), lossy).await;
    assert!(v.ok(), "{:?}", v.problems);
    assert_eq!(v.tables.len(), 7);
    let enc = &v.secrets.as_ref().unwrap().encrypted;
    let source_enc = Bundle::open(&bundle).unwrap().manifest.encrypted.unwrap();
    assert_eq!((enc.decrypted, enc.failed), (source_enc.decrypted, 0));
    let neutral = v.neutral.as_ref().unwrap();
    if lossy {
        assert_eq!(
            neutral.microseconds_dropped,
            Some(plan.conversions.microseconds_dropped)
        );
    } else {
        assert_eq!(neutral.microseconds_dropped, None);
        assert_eq!(plan.conversions.microseconds_dropped, 0);
    }
    logins_and_secrets(&dst, from).await;
    schema_is_zatos(&dst, test, tmp.path()).await;
    insert_into_every_table(&dst, &next_ids(&src));
    src.drop_now();
    dst.drop_now();
}

#[tokio::test]
async fn sqlite_to_postgres() {
    direction(Kind::Sqlite, Kind::Postgres, "x_sq_pg").await;
}

#[tokio::test]
async fn sqlite_to_mysql() {
    direction(Kind::Sqlite, Kind::Mysql, "x_sq_my").await;
}

#[tokio::test]
async fn postgres_to_sqlite() {
    direction(Kind::Postgres, Kind::Sqlite, "x_pg_sq").await;
}

#[tokio::test]
async fn postgres_to_mysql() {
    direction(Kind::Postgres, Kind::Mysql, "x_pg_my").await;
}

#[tokio::test]
async fn mysql_to_sqlite() {
    direction(Kind::Mysql, Kind::Sqlite, "x_my_sq").await;
}

#[tokio::test]
async fn mysql_to_postgres() {
    direction(Kind::Mysql, Kind::Postgres, "x_my_pg").await;
}

#[tokio::test]
async fn a_chain_through_all_three_ends_with_the_original_digests() {
    let test = "x_chain";
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let Some(sq) = Db::fixture(Kind::Sqlite, test, "x_chain_sq", t) else {
        return;
    };
    let Some(pg) = Db::empty(Kind::Postgres, test, "x_chain_pg", t) else {
        return;
    };
    let Some(my) = Db::empty(Kind::Mysql, test, "x_chain_my", t) else {
        return;
    };
    let end = Db::empty(Kind::Sqlite, test, "x_chain_end", t).unwrap();
    let (a, b, c) = (t.join("a"), t.join("b"), t.join("c"));
    backup(&sq, &a).await;
    restore(&a, &pg, false).await.unwrap();
    zsso::backup_url(&pg.url, Some(&Kind::Sqlite.secrets()), &b, &Silent)
        .await
        .unwrap();
    let r = restore(&b, &my, true).await.unwrap();
    let dropped = r.conversion.unwrap().conversions.microseconds_dropped;
    assert!(dropped > 0);
    zsso::backup_url(&my.url, Some(&Kind::Sqlite.secrets()), &c, &Silent)
        .await
        .unwrap();
    restore(&c, &end, false).await.unwrap();
    // Against the very first bundle: equal, microseconds aside, and the loss is named.
    let v = verify_neutral(&a, &end, &Kind::Sqlite.secrets(), true).await;
    assert!(v.ok(), "{:?}", v.problems);
    assert_eq!(
        v.neutral.as_ref().unwrap().microseconds_dropped,
        Some(dropped)
    );
    // With microseconds compared, exactly the tables whose datetimes had them differ.
    let v = verify_neutral(&a, &end, &Kind::Sqlite.secrets(), false).await;
    let differ: Vec<&str> = v
        .tables
        .iter()
        .filter(|t| !t.ok)
        .map(|t| t.name.as_str())
        .collect();
    // The tables with a DATETIME column holding a fraction of a second, asked of sqlite3.
    let manifest = Bundle::open(&a).unwrap().manifest;
    let with_fractions: Vec<&str> = manifest
        .tables
        .iter()
        .map(|s| manifest.schema.table(&s.name).unwrap())
        .filter(|t| {
            t.columns
                .iter()
                .filter(|c| c.data_type == "DATETIME")
                .any(|c| {
                    sq.sql(&format!(
                        "SELECT count(*) FROM {} WHERE substr({}, 21) <> '000000'",
                        t.name, c.name
                    ))
                    .trim()
                        != "0"
                })
        })
        .map(|t| t.name.as_str())
        .collect();
    assert!(!with_fractions.is_empty());
    assert_eq!(differ, with_fractions);
    logins_and_secrets(&end, Kind::Sqlite).await;
    pg.drop_now();
    my.drop_now();
}

/// A writable copy of the SQLite fixture's zato.db at `to`.
fn copy_sqlite_fixture(to: &Path) {
    std::fs::copy(Kind::Sqlite.fixture_dir().join("server/zato.db"), to).unwrap();
    let mut perm = std::fs::metadata(to).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(to, perm).unwrap();
}

/// A copy of the SQLite fixture with `sql` applied, backed up into `dir/name`.
async fn sqlite_bundle_with(dir: &Path, name: &str, sql: &str) -> PathBuf {
    let db = dir.join(format!("{name}.db"));
    copy_sqlite_fixture(&db);
    common::sqlite3(&db, sql);
    let out = dir.join(name);
    zsso::backup_url(
        &common::url(&db),
        Some(&Kind::Sqlite.secrets()),
        &out,
        &Silent,
    )
    .await
    .unwrap();
    out
}

fn refusal(e: zsso::Error) -> String {
    match e {
        zsso::Error::Refused { reason } => reason,
        other => panic!("not a refusal: {other}"),
    }
}

#[tokio::test]
async fn values_a_target_cannot_hold_are_refused_with_the_target_unchanged() {
    let test = "x_refuse";
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let Some(pg) = Db::fixture(Kind::Postgres, test, "x_refuse_pg", t) else {
        return;
    };
    let Some(my) = Db::fixture(Kind::Mysql, test, "x_refuse_my", t) else {
        return;
    };
    let bundle = sqlite_bundle_with(
        t,
        "bad",
        &format!(
            "UPDATE zato_sso_user SET display_name = CAST(X'610062' AS TEXT) WHERE id = 2;
             UPDATE zato_sso_user SET username = '{}' WHERE id = 3;
             UPDATE zato_sso_user SET email = X'FF00' WHERE id = 4;
             UPDATE zato_sso_session SET user_agent = '{}' WHERE id = (SELECT min(id) FROM zato_sso_session);
             UPDATE zato_sso_user_group SET id = 2147483648 WHERE id = (SELECT max(id) FROM zato_sso_user_group);",
            "é".repeat(192),
            "u".repeat(70_000)
        ),
    )
    .await;
    let session: String =
        common::sqlite3(&t.join("bad.db"), "SELECT min(id) FROM zato_sso_session")
            .trim()
            .to_string();
    let (pg_before, my_before) = (pg.state(), my.state());
    let e = refusal(restore(&bundle, &pg, false).await.unwrap_err());
    let lines: Vec<&str> = e.lines().skip(1).map(str::trim).collect();
    assert_eq!(
        lines,
        [
            "zato_sso_user id=2 column display_name: text with a NUL character, which PostgreSQL text cannot hold",
            "zato_sso_user id=3 column username: text of 192 characters in a column of at most 191",
            "zato_sso_user id=4 column email: text that is not valid UTF-8, which postgresql text cannot hold",
            "zato_sso_user_group id=2147483648 column id: the integer 2147483648 does not fit the 32-bit integer column",
        ],
        "{e}"
    );
    assert!(e.contains("4 values or names of the sqlite bundle"), "{e}");
    let e = refusal(restore(&bundle, &my, true).await.unwrap_err());
    let lines: Vec<&str> = e.lines().skip(1).map(str::trim).collect();
    assert_eq!(
        lines,
        [
            "zato_sso_user id=3 column username: text of 192 characters in a column of at most 191",
            "zato_sso_user id=4 column email: text that is not valid UTF-8, which mysql text cannot hold",
            "zato_sso_user_group id=2147483648 column id: the integer 2147483648 does not fit the 32-bit integer column",
            &format!(
                "zato_sso_session id={session} column user_agent: text of 70000 bytes, over the 65,535 bytes of a MySQL TEXT column"
            ),
        ],
        "{e}"
    );
    // Without the option, every datetime with microseconds is refused too.
    let e = refusal(restore(&bundle, &my, false).await.unwrap_err());
    assert!(
        e.contains("column creation_time: microseconds, which MySQL DATETIME"),
        "{e}"
    );
    // Keys that only MySQL's collation makes equal: found before anything changes.
    let keys = sqlite_bundle_with(
        t,
        "keys",
        "UPDATE zato_sso_user SET username = 'straße' WHERE id = 2;
         UPDATE zato_sso_user SET username = 'strasse' WHERE id = 3;
         UPDATE zato_sso_user SET username = 'Admin' WHERE id = 4;
         UPDATE zato_sso_user SET username = 'admin ' WHERE id = 5;",
    )
    .await;
    let e = refusal(restore(&keys, &my, true).await.unwrap_err());
    let lines: Vec<&str> = e.lines().skip(1).map(str::trim).collect();
    assert_eq!(
        lines,
        [
            "zato_sso_user rows id=2, id=3: column username is distinct in the bundle, equal under utf8mb4_unicode_ci in unique index zato_u_usrn_uq",
            "zato_sso_user rows id=4, id=5: column username is distinct in the bundle, equal under utf8mb4_unicode_ci in unique index zato_u_usrn_uq",
        ],
        "{e}"
    );
    same_text(&pg_before, &pg.state());
    same_text(&my_before, &my.state());
    // PostgreSQL compares keys by their bytes: it holds them.
    restore(&keys, &pg, false).await.unwrap();
    pg.drop_now();
    my.drop_now();
}

fn same_text(a: &str, b: &str) {
    common::same_text(a, b);
}

#[tokio::test]
async fn columns_and_tables_zato_does_not_have_are_carried_over_and_listed() {
    let test = "x_extra";
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let Some(pg) = Db::empty(Kind::Postgres, test, "x_extra_pg", t) else {
        return;
    };
    let Some(my) = Db::empty(Kind::Mysql, test, "x_extra_my", t) else {
        return;
    };
    let bundle = sqlite_bundle_with(
        t,
        "extra",
        "ALTER TABLE zato_sso_user ADD COLUMN nickname VARCHAR(50);
         UPDATE zato_sso_user SET nickname = 'nick-' || id WHERE id % 2 = 0;
         CREATE TABLE zato_sso_extra (id INTEGER NOT NULL PRIMARY KEY, user_id VARCHAR(191) NOT NULL REFERENCES zato_sso_user (user_id),
             score REAL, data BLOB, note TEXT, seen DATETIME);
         CREATE UNIQUE INDEX zato_extra_note ON zato_sso_extra (note);
         INSERT INTO zato_sso_extra SELECT id, user_id, id / 4.0, X'00FF10', 'note ' || id, '2026-01-02 03:04:05.123456' FROM zato_sso_user;",
    )
    .await;
    for db in [&pg, &my] {
        let r = restore(&bundle, db, true).await.unwrap();
        assert_eq!(r.tables.len(), 8);
        assert!(
            r.warnings.iter().any(|w| w
                == &format!(
                    "column zato_sso_user.nickname (VARCHAR(50)) is not in Zato's schema: it is carried over as {}",
                    zsso::cross::model::ColType::Varchar(50).declared(db.kind.name())
                )),
            "{:?}",
            r.warnings
        );
        assert!(
            r.warnings
                .iter()
                .any(|w| w.starts_with("table zato_sso_extra is not in Zato's schema")),
            "{:?}",
            r.warnings
        );
        let v = verify_neutral(&bundle, db, &Kind::Sqlite.secrets(), true).await;
        assert!(v.ok(), "{:?}", v.problems);
    }
    assert_eq!(
        pg.sql(
            "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute \
             WHERE attrelid = 'zato_sso_extra'::regclass AND attnum > 0"
        )
        .trim(),
        "id bigint, user_id character varying(191), score double precision, data bytea, note text, seen timestamp without time zone"
    );
    assert_eq!(
        pg.sql("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'zato_sso_user'::regclass AND attname = 'nickname'").trim(),
        "character varying(50)"
    );
    assert_eq!(
        pg.sql("SELECT indexdef FROM pg_indexes WHERE indexname = 'zato_extra_note'")
            .trim(),
        "CREATE UNIQUE INDEX zato_extra_note ON public.zato_sso_extra USING btree (note)"
    );
    assert_eq!(
        pg.sql("SELECT encode(data, 'hex'), score FROM zato_sso_extra WHERE id = 2")
            .trim(),
        "00ff10|0.5"
    );
    assert_eq!(
        my.sql("SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'zato_sso_extra' ORDER BY ORDINAL_POSITION"),
        "id\tbigint(20)\nuser_id\tvarchar(191)\nscore\tdouble\ndata\tlongblob\nnote\tlongtext\nseen\tdatetime(6)\n"
    );
    // A datetime column Zato does not have keeps its microseconds on MySQL too.
    assert_eq!(
        my.sql("SELECT seen FROM zato_sso_extra WHERE id = 2"),
        "2026-01-02 03:04:05.123456\n"
    );
    pg.drop_now();
    my.drop_now();
}

#[tokio::test]
async fn what_only_a_load_would_have_found_is_refused_first_and_listed() {
    let test = "x_first";
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let Some(pg) = Db::fixture(Kind::Postgres, test, "x_first_pg", t) else {
        return;
    };
    let before = pg.state();
    // Rows without their parent (SQLite does not enforce foreign keys), a day that does not
    // exist, a BLOB and a text that are equal once the BLOB is text, and text that PostgreSQL
    // would read back as hex bytes.
    let bundle = sqlite_bundle_with(
        t,
        "first",
        "DELETE FROM zato_sso_user WHERE id = (SELECT user_id FROM zato_sso_session ORDER BY id LIMIT 1);
         UPDATE zato_sso_user SET locked_time = '2024-02-30 00:00:00.000000' WHERE id = 6;
         UPDATE zato_sso_user SET sign_up_confirm_token = CAST('tokX' AS BLOB) WHERE id = 2;
         UPDATE zato_sso_user SET sign_up_confirm_token = 'tokX' WHERE id = 3;
         UPDATE zato_sso_user SET totp_label = '\\x41424344' WHERE id = 4;",
    )
    .await;
    let db = t.join("first.db");
    // The orphans, as sqlite3 finds them.
    let orphans: Vec<String> = common::sqlite3(
        &db,
        "SELECT 'zato_sso_' || t || ' id=' || id || ' column user_id' FROM (
           SELECT 'user_group' t, id FROM zato_sso_user_group WHERE user_id NOT IN (SELECT id FROM zato_sso_user)
           UNION ALL SELECT 'session', id FROM zato_sso_session WHERE user_id NOT IN (SELECT id FROM zato_sso_user)
           UNION ALL SELECT 'attr', id FROM zato_sso_attr WHERE user_id NOT IN (SELECT user_id FROM zato_sso_user)
           UNION ALL SELECT 'linked_auth', id FROM zato_sso_linked_auth WHERE user_id NOT IN (SELECT user_id FROM zato_sso_user)
           UNION ALL SELECT 'password_reset', id FROM zato_sso_password_reset WHERE user_id NOT IN (SELECT user_id FROM zato_sso_user))",
    )
    .lines()
    .map(str::to_string)
    .collect();
    assert!(!orphans.is_empty());
    let e = refusal(restore(&bundle, &pg, false).await.unwrap_err());
    let lines: Vec<&str> = e.lines().skip(1).map(str::trim).collect();
    assert!(
        lines.contains(&"zato_sso_user id=6 column locked_time: a date and time not in the form YYYY-MM-DD HH:MM:SS.ffffff that Zato writes"),
        "{e}"
    );
    assert!(
        lines.contains(&"zato_sso_user id=4 column totp_label: text in the form of PostgreSQL's hex text of bytes (\\x...), which a restore from PostgreSQL would read as those bytes"),
        "{e}"
    );
    assert!(
        lines.contains(&"zato_sso_user rows id=2, id=3 column sign_up_confirm_token: distinct in the bundle, equal once bytes became the text they encode, in unique key zato_u_sigctok_idx"),
        "{e}"
    );
    for o in &orphans {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{o}: references a row of zato_sso_user"))),
            "{o} in {e}"
        );
    }
    assert_eq!(lines.len(), 3 + orphans.len(), "{e}");
    same_text(&before, &pg.state());
    // A PostgreSQL column that differs from a Zato column by case alone is its own column,
    // which SQLite and MySQL cannot tell from Zato's.
    let src = Db::fixture(Kind::Postgres, test, "x_first_src", t).unwrap();
    src.sql("ALTER TABLE zato_sso_user ADD COLUMN \"Username\" text; UPDATE zato_sso_user SET \"Username\" = 'shadow';");
    let cased = t.join("cased");
    backup(&src, &cased).await;
    let target = Db::empty(Kind::Sqlite, test, "x_first_sq", t).unwrap();
    let e = refusal(restore(&cased, &target, false).await.unwrap_err());
    assert!(
        e.ends_with("zato_sso_user column Username: a column name that sqlite cannot tell from another one by case alone"),
        "{e}"
    );
    src.drop_now();
    pg.drop_now();
}

#[tokio::test]
async fn indexes_triggers_and_counters_are_carried_or_listed_and_verified() {
    let test = "x_listed";
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let Some(pg) = Db::empty(Kind::Postgres, test, "x_listed_pg", t) else {
        return;
    };
    let bundle = sqlite_bundle_with(
        t,
        "listed",
        "CREATE UNIQUE INDEX my_uq_first ON zato_sso_user (first_name);
         CREATE TRIGGER trg_u AFTER UPDATE ON zato_sso_user BEGIN SELECT 1; END;",
    )
    .await;
    let r = restore(&bundle, &pg, false).await.unwrap();
    assert!(
        r.warnings.iter().any(|w| w == "unique index my_uq_first of zato_sso_user is not in Zato's schema: it is carried over"),
        "{:?}",
        r.warnings
    );
    assert!(
        r.warnings
            .iter()
            .any(|w| w.starts_with("trigger trg_u of zato_sso_user is not carried over")),
        "{:?}",
        r.warnings
    );
    assert_eq!(
        pg.sql("SELECT indexdef FROM pg_indexes WHERE indexname = 'my_uq_first'")
            .trim(),
        "CREATE UNIQUE INDEX my_uq_first ON public.zato_sso_user USING btree (first_name)"
    );
    let v = verify_neutral(&bundle, &pg, &Kind::Sqlite.secrets(), false).await;
    assert!(v.ok(), "{:?}", v.problems);
    // A sequence set back behind the restored ids is caught across databases too.
    pg.sql("SELECT setval('zato_sso_user_id_seq', 1, false)");
    let max: i64 = pg
        .sql("SELECT max(id) FROM zato_sso_user")
        .trim()
        .parse()
        .unwrap();
    let v = verify_neutral(&bundle, &pg, &Kind::Sqlite.secrets(), false).await;
    assert_eq!(
        v.problems,
        [format!(
            "sequence zato_sso_user_id_seq would next give 1, and zato_sso_user already holds id {max}"
        )]
    );
    pg.drop_now();
}

#[tokio::test]
async fn extra_keys_take_zatos_types_partial_indexes_are_listed_and_an_older_schema_verifies() {
    let test = "x_keys";
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let Some(my) = Db::empty(Kind::Mysql, test, "x_keys_my", t) else {
        return;
    };
    let Some(pg) = Db::empty(Kind::Postgres, test, "x_keys_pg", t) else {
        return;
    };
    let bundle = sqlite_bundle_with(
        t,
        "keys",
        "CREATE TABLE zato_sso_x (id INTEGER PRIMARY KEY, uid INTEGER REFERENCES zato_sso_user (id) ON DELETE CASCADE, live INTEGER);
         INSERT INTO zato_sso_x VALUES (1, 1, 1), (2, 1, 0);
         CREATE UNIQUE INDEX zx_live ON zato_sso_x (uid) WHERE live = 1;
         ALTER TABLE zato_sso_group DROP COLUMN opaque1;",
    )
    .await;
    for db in [&my, &pg] {
        let r = restore(&bundle, db, true).await.unwrap();
        assert!(
            r.warnings.iter().any(|w| w == "index zx_live of zato_sso_x is partial (it has a WHERE): it is not carried over"),
            "{:?}",
            r.warnings
        );
        assert!(
            r.warnings
                .iter()
                .any(|w| w == "zato_sso_group.opaque1 is not in the bundle: filled with NULL"),
            "{:?}",
            r.warnings
        );
        // The database holds Zato's column the bundle lacked; verify compares the others.
        let v = verify_neutral(&bundle, db, &Kind::Sqlite.secrets(), true).await;
        assert!(v.ok(), "{:?}", v.problems);
        assert_eq!(
            v.notes,
            [
                "column zato_sso_group.opaque1 is in the database but not in the bundle: not compared"
            ]
        );
    }
    // The key references Zato's 32-bit id, so it is a 32-bit integer too, and it cascades.
    assert_eq!(
        my.sql("SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'zato_sso_x' AND COLUMN_NAME = 'uid'"),
        "int(11)\n"
    );
    my.sql("DELETE FROM zato_sso_user WHERE id = 1");
    assert_eq!(my.sql("SELECT count(*) FROM zato_sso_x"), "0\n");
    assert_eq!(
        pg.sql("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'zato_sso_x'::regclass AND attname = 'uid'").trim(),
        "integer"
    );
    my.drop_now();
    pg.drop_now();
}
