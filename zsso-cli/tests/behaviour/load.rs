//! A backup taken while writers insert, update and delete users, sessions and attributes is
//! one point in time, and the writers' latency during it is measured.
//!
//! Each writer's transaction adds a user with two sessions and one attribute, renames the
//! user it added before, and every third time deletes the user it added three times before
//! with its sessions and attribute. At every commit, then, the writers' users number half
//! their sessions and as many as their attributes, and nothing of theirs is an orphan: a
//! backup that read the tables at different moments would break that.

use crate::backend::{Db, Kind};
use crate::{backup_ok, s, zsso_ok};
use sqlx::Connection;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const WRITERS: u32 = 3;

/// The statements of writer `w`'s `k`-th transaction.
struct Shapes {
    user_cols: Vec<String>,
    session_cols: Vec<String>,
    attr_cols: Vec<String>,
    user_template: String,
    session_template: String,
    attr_template: String,
}

fn id(w: u32, k: u32) -> u32 {
    1_000_000 + w * 100_000 + k
}

/// `INSERT INTO table (cols) SELECT <cols with some replaced> FROM table WHERE id = template`.
fn copy_of(table: &str, cols: &[String], template: &str, set: &[(&str, String)]) -> String {
    let values: Vec<String> = cols
        .iter()
        .map(|c| {
            set.iter()
                .find(|(n, _)| n == c)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| c.clone())
        })
        .collect();
    format!(
        "INSERT INTO {table} ({}) SELECT {} FROM {table} WHERE id = {template}",
        cols.join(", "),
        values.join(", ")
    )
}

impl Shapes {
    fn of(db: &Db) -> Shapes {
        let min = |t: &str| {
            db.sql(&format!("SELECT MIN(id) FROM {t}"))
                .trim()
                .to_string()
        };
        Shapes {
            user_cols: db.columns("zato_sso_user"),
            session_cols: db.columns("zato_sso_session"),
            attr_cols: db.columns("zato_sso_attr"),
            user_template: min("zato_sso_user"),
            session_template: min("zato_sso_session"),
            attr_template: min("zato_sso_attr"),
        }
    }

    fn transaction(&self, w: u32, k: u32) -> Vec<String> {
        let uid = id(w, k);
        let name = format!("'load-{w}-{k}'");
        let mut out = vec![copy_of(
            "zato_sso_user",
            &self.user_cols,
            &self.user_template,
            &[
                ("id", uid.to_string()),
                ("user_id", name.clone()),
                ("username", name.clone()),
                ("sign_up_confirm_token", format!("'load-token-{w}-{k}'")),
            ],
        )];
        for j in 0..2 {
            out.push(copy_of(
                "zato_sso_session",
                &self.session_cols,
                &self.session_template,
                &[
                    ("id", (uid * 2 + j).to_string()),
                    ("ust", format!("'load-ust-{w}-{k}-{j}'")),
                    ("user_id", uid.to_string()),
                ],
            ));
        }
        out.push(copy_of(
            "zato_sso_attr",
            &self.attr_cols,
            &self.attr_template,
            &[
                ("id", uid.to_string()),
                ("user_id", name),
                ("ust", "NULL".into()),
                ("name", "'load-attr'".into()),
            ],
        ));
        if k >= 1 {
            out.push(format!(
                "UPDATE zato_sso_user SET display_name = 'renamed by {k}' WHERE id = {}",
                id(w, k - 1)
            ));
        }
        if k >= 3 && k.is_multiple_of(3) {
            let old = id(w, k - 3);
            out.push(format!(
                "DELETE FROM zato_sso_attr WHERE user_id = 'load-{w}-{}'",
                k - 3
            ));
            out.push(format!(
                "DELETE FROM zato_sso_session WHERE user_id = {old}"
            ));
            out.push(format!("DELETE FROM zato_sso_user WHERE id = {old}"));
        }
        out
    }
}

/// When each transaction of a writer started and how long it took.
type Timings = Vec<(Instant, Duration)>;

async fn writer(
    kind: Kind,
    url: String,
    w: u32,
    shapes: Arc<Shapes>,
    stop: Arc<AtomicBool>,
) -> Timings {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let begin = if kind == Kind::Sqlite {
        sqlx::raw_sql("PRAGMA busy_timeout = 120000")
            .execute(&mut conn)
            .await
            .unwrap();
        "BEGIN IMMEDIATE"
    } else {
        "BEGIN"
    };
    let mut out = Vec::new();
    for k in 0..100_000 {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let started = Instant::now();
        sqlx::raw_sql(begin).execute(&mut conn).await.unwrap();
        for sql in shapes.transaction(w, k) {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("writer {w}, transaction {k}: {sql}: {e}"));
        }
        sqlx::raw_sql("COMMIT").execute(&mut conn).await.unwrap();
        out.push((started, started.elapsed()));
    }
    out
}

/// The writers' users, sessions and attributes in `db`, and their orphans.
fn load_rows(db: &Db) -> (u64, u64, u64, u64) {
    let n = |sql: &str| -> u64 { db.sql(sql).trim().parse().unwrap() };
    (
        n("SELECT COUNT(*) FROM zato_sso_user WHERE username LIKE 'load-%'"),
        n("SELECT COUNT(*) FROM zato_sso_session WHERE ust LIKE 'load-ust-%'"),
        n("SELECT COUNT(*) FROM zato_sso_attr WHERE name = 'load-attr'"),
        n(
            "SELECT COUNT(*) FROM zato_sso_session s LEFT JOIN zato_sso_user u ON u.id = s.user_id WHERE u.id IS NULL",
        ) + n(
            "SELECT COUNT(*) FROM zato_sso_attr a LEFT JOIN zato_sso_user u ON u.user_id = a.user_id WHERE u.id IS NULL",
        ),
    )
}

fn backup_under_load(kind: Kind) {
    under_load(kind, false);
}

/// SQLite in WAL mode, where readers and writers do not wait for each other.
fn backup_under_load_in_wal_mode(kind: Kind) {
    under_load(kind, true);
}

fn under_load(kind: Kind, wal: bool) {
    let dir = tempfile::tempdir().unwrap();
    let tag = if wal { "loadwal" } else { "load" };
    let Some(src) = Db::create(kind, tag, &format!("{tag}_src"), dir.path()) else {
        return;
    };
    let Some(check) = Db::create(kind, tag, &format!("{tag}_check"), dir.path()) else {
        return;
    };
    src.load_fixture();
    check.load_fixture();
    if wal {
        assert_eq!(src.sql("PRAGMA journal_mode = WAL").trim(), "wal");
    }
    // Enough rows ahead of the writers' tables for the backup to take a while.
    src.add_groups(60_000);
    let shapes = Arc::new(Shapes::of(&src));
    let stop = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            rt.spawn(writer(
                kind,
                src.url.clone(),
                w,
                shapes.clone(),
                stop.clone(),
            ))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let before = load_rows(&src).0;
    let bundle = dir.path().join("bundle");
    let t0 = Instant::now();
    backup_ok(&src.url, &bundle);
    let t1 = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let timings: Vec<Timings> = writers
        .into_iter()
        .map(|h| rt.block_on(h).unwrap())
        .collect();
    let after = load_rows(&src).0;

    // The bundle, restored, holds the writers' rows as of one commit.
    zsso_ok(&[
        "restore",
        s(&bundle),
        "--db",
        &check.url,
        "--secrets-to",
        s(&dir.path().join("secrets.conf")),
    ]);
    let (users, sessions, attrs, orphans) = load_rows(&check);
    assert_eq!(orphans, 0, "{kind:?}: orphans in the bundle");
    assert_eq!(sessions, 2 * users, "{kind:?}: sessions against users");
    assert_eq!(attrs, users, "{kind:?}: attributes against users");
    assert!(
        before <= users && users <= after,
        "{kind:?}: {users} users, not between {before} and {after}"
    );

    let all: Vec<&(Instant, Duration)> = timings.iter().flatten().collect();
    let during: Vec<&&(Instant, Duration)> = all
        .iter()
        .filter(|(start, lat)| *start < t1 && *start + *lat > t0)
        .collect();
    let inside = all
        .iter()
        .filter(|(start, lat)| *start >= t0 && *start + *lat <= t1)
        .count();
    // The median and the worst latency.
    let spread = |v: &mut dyn Iterator<Item = Duration>| {
        let mut v: Vec<Duration> = v.collect();
        v.sort();
        let ms = |d: Option<&Duration>| d.copied().unwrap_or_default().as_secs_f64() * 1000.0;
        format!(
            "median {:.1} ms, worst {:.1} ms",
            ms(v.get(v.len() / 2)),
            ms(v.last())
        )
    };
    let before_spread = spread(&mut all.iter().filter(|(s, l)| *s + *l <= t0).map(|(_, l)| *l));
    let during_spread = spread(&mut during.iter().map(|(_, l)| *l));
    let took = t1 - t0;
    eprintln!(
        "LOAD {kind:?}{}: backup {:.2} s; {WRITERS} writers, {} transactions in all, {inside} begun and committed during the backup; latency during the backup {during_spread}, before it {before_spread}; {users} writer users in the bundle (between {before} and {after})",
        if wal { " (WAL)" } else { "" },
        took.as_secs_f64(),
        all.len(),
    );
    assert!(
        after > before,
        "{kind:?}: the writers made no progress during the backup"
    );
    // On the servers and in WAL mode, writers go on while the backup reads its snapshot; in
    // SQLite's rollback-journal mode (Zato's default) a commit waits for every reader.
    if kind != Kind::Sqlite || wal {
        assert!(
            inside > 0,
            "{kind:?}: no writer's transaction began and ended during the backup's {took:?}"
        );
    }
}

per_backend!(backup_under_load);
per_backend!(backup_under_load_in_wal_mode: sqlite = Sqlite);
