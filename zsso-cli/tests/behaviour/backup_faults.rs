//! Faults during a backup: SIGKILL at every step, the connection killed mid-table, the
//! SQLite file locked or removed, the output directory full or read-only. Each time: a
//! non-zero exit with a clear message (or, where the backup can still be whole, a whole
//! bundle), nothing under the final bundle name, no temporary directory after the next run,
//! and the source untouched.

use crate::backend::{Db, Kind};
use crate::{Mount, fixture_secrets, names_in, s, zsso, zsso_ok, zsso_paused, zsso_paused_with};
use std::path::Path;

struct Setup {
    dir: tempfile::TempDir,
    src: Db,
    /// The source's state before any backup.
    state: String,
    secrets: String,
}

/// A source holding Zato's fixture and 20,000 more groups, so that its first table takes
/// several batches.
fn setup(kind: Kind, test: &str) -> Option<Setup> {
    let dir = tempfile::tempdir().unwrap();
    let src = Db::create(kind, test, test, dir.path())?;
    src.load_fixture();
    src.add_groups(20_000);
    let state = src.state();
    let secrets = s(&fixture_secrets()).to_string();
    Some(Setup {
        dir,
        src,
        state,
        secrets,
    })
}

impl Setup {
    fn args<'a>(&'a self, out: &'a Path) -> Vec<&'a str> {
        vec![
            "backup",
            "--db",
            &self.src.url,
            "--secrets",
            &self.secrets,
            "--out",
            s(out),
        ]
    }

    /// The bundle verifies against the source, which is as it was.
    fn verified(&self, out: &Path, what: &str) {
        zsso_ok(&[
            "verify",
            s(out),
            "--db",
            &self.src.url,
            "--secrets",
            s(&fixture_secrets()),
        ]);
        assert!(self.src.state() == self.state, "{what}: the source changed");
    }
}

/// The backup's temporary directories in `dir`.
fn partials(dir: &Path) -> Vec<String> {
    names_in(dir)
        .into_iter()
        .filter(|n| n.contains(".zsso-partial-"))
        .collect()
}

fn sigkill_at_every_step(kind: Kind) {
    let Some(su) = setup(kind, "bkill") else {
        return;
    };
    let out_dir = su.dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("bundle");
    for point in [
        "backup.staged",
        "backup.snapshot",
        "backup.rows@1",
        "backup.rows@3",
        "backup.dumped",
        "backup.manifest",
        "backup.published",
    ] {
        let what = format!("{kind:?}, SIGKILL at {point}");
        let o = zsso(&su.args(&out), Some(&format!("{point}=kill")));
        assert!(o.killed(), "{what}: {o:?}");
        assert!(su.src.state() == su.state, "{what}: the source changed");
        if point == "backup.published" {
            // Killed after the rename: the bundle is whole.
            su.verified(&out, &what);
            std::fs::remove_dir_all(&out).unwrap();
            continue;
        }
        assert!(!out.exists(), "{what}: something is under the final name");
        assert_eq!(partials(&out_dir).len(), 1, "{what}");
        // The next run removes what the killed one left and succeeds.
        zsso_ok(&su.args(&out));
        assert_eq!(names_in(&out_dir), ["bundle"], "{what}: the next run");
        su.verified(&out, &what);
        std::fs::remove_dir_all(&out).unwrap();
    }
}

/// The server ends the backup's connection in the middle of the first table.
fn connection_killed_mid_table(kind: Kind) {
    let Some(su) = setup(kind, "bconn") else {
        return;
    };
    let out = su.dir.path().join("bundle");
    let p = zsso_paused(&su.args(&out), "backup.rows@2", su.dir.path());
    assert!(su.src.kill_connections() >= 1);
    let o = p.resume();
    assert_eq!(o.code(), 1, "{o:?}");
    assert!(
        o.stderr.contains("reading the rows of zato_sso_")
            && o.stderr.contains("the connection to the server was lost"),
        "{kind:?}: {}",
        o.stderr
    );
    assert!(!out.exists());
    assert_eq!(partials(su.dir.path()), Vec::<String>::new());
    assert!(su.src.state() == su.state);
    zsso_ok(&su.args(&out));
    su.verified(&out, "after the killed connection");
}

/// A SQLite file locked by another process's write transaction: the backup waits for it,
/// then gives up naming the file. A file removed while the backup reads it: the backup
/// still reads the snapshot it opened, whole.
fn sqlite_file_locked_or_removed(kind: Kind) {
    let Some(su) = setup(kind, "bfile") else {
        return;
    };
    let out = su.dir.path().join("bundle");
    let mut holder = std::process::Command::new("sqlite3")
        .arg(su.src.file())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::{BufRead, Write};
        let stdin = holder.stdin.as_mut().unwrap();
        stdin
            .write_all(b"BEGIN EXCLUSIVE;\nSELECT 'locked';\n")
            .unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(holder.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "locked\n");
    }
    let o = zsso(&su.args(&out), None);
    drop(holder.stdin.take());
    holder.wait().unwrap();
    assert_eq!(o.code(), 1, "{o:?}");
    assert!(
        o.stderr.contains("database is locked") && o.stderr.contains(s(su.src.file())),
        "{}",
        o.stderr
    );
    assert!(!out.exists());
    assert_eq!(partials(su.dir.path()), Vec::<String>::new());
    assert!(su.src.state() == su.state);

    // Removed half-way: the open snapshot is still read whole.
    let kept = su.dir.path().join("kept.db");
    std::fs::copy(su.src.file(), &kept).unwrap();
    let p = zsso_paused(&su.args(&out), "backup.rows@2", su.dir.path());
    std::fs::remove_file(su.src.file()).unwrap();
    let o = p.resume();
    assert_eq!(o.code(), 0, "{o:?}");
    std::fs::rename(&kept, su.src.file()).unwrap();
    su.verified(&out, "the file removed half-way");
}

/// The output directory fills up, or cannot be written at all.
fn output_full_or_read_only(kind: Kind) {
    let Some(su) = setup(kind, "bdisk") else {
        return;
    };
    let full = su.dir.path().join("full");
    let Some(_m) = Mount::tmpfs(&full, "size=256k") else {
        return;
    };
    let out = full.join("bundle");
    let o = zsso(&su.args(&out), None);
    assert_eq!(o.code(), 1, "{o:?}");
    assert!(
        o.stderr.contains("No space left on device") && o.stderr.contains(s(&full)),
        "{}",
        o.stderr
    );
    assert_eq!(names_in(&full), Vec::<String>::new(), "nothing is left");
    assert!(su.src.state() == su.state);

    let ro = su.dir.path().join("ro");
    let Some(_m) = Mount::tmpfs(&ro, "ro,size=1m") else {
        return;
    };
    let o = zsso(&su.args(&ro.join("bundle")), None);
    assert_eq!(o.code(), 1, "{o:?}");
    assert!(
        o.stderr.contains("Read-only file system") && o.stderr.contains(s(&ro)),
        "{}",
        o.stderr
    );
    assert!(su.src.state() == su.state);
}

/// The rows of the fixture that reference user `id` (`user_id` in the tables that key on
/// it), as `table row` lines, sorted: the orphans its removal leaves.
fn children_of(src: &Db, id: u32) -> Vec<String> {
    let by_id = |t: &str| format!("SELECT '{t}', id FROM {t} WHERE user_id = {id}");
    let by_text = |t: &str| {
        format!(
            "SELECT '{t}', id FROM {t} WHERE user_id = (SELECT user_id FROM zato_sso_user WHERE id = {id})"
        )
    };
    let sql = [
        by_id("zato_sso_session"),
        by_id("zato_sso_user_group"),
        by_text("zato_sso_attr"),
        by_text("zato_sso_linked_auth"),
        by_text("zato_sso_password_reset"),
    ]
    .join(" UNION ALL ");
    let mut rows: Vec<String> = src
        .sql(&sql)
        .lines()
        // psql and mysql separate columns with a tab, sqlite3 with a bar.
        .map(|l| l.replace(['\t', '|'], " "))
        .collect();
    rows.sort();
    rows
}

/// Asserts that the backup `o` into `out` succeeded, checked its foreign keys beside the
/// rows (`beside`) or after them as its debug log says, and read its snapshot: the manifest
/// lists exactly the orphans `before`, and `user` (deleted while it ran) is in the dump.
fn checked_in_the_snapshot(
    o: crate::Out,
    out: &Path,
    what: &str,
    beside: bool,
    before: &mut Vec<String>,
    user: &str,
) {
    assert_eq!(o.code(), 0, "{what}: {o:?}");
    for (said, on_this_path) in [
        ("the foreign keys are checked after the rows", !beside),
        ("the foreign keys are checked beside the rows", beside),
    ] {
        assert_eq!(
            o.stderr.contains(said),
            on_this_path,
            "{what}: {}",
            o.stderr
        );
    }
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let mut found: Vec<String> = m["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert_eq!(o["parent"], "zato_sso_user", "{what}: {o}");
            format!("{} {}", o["table"].as_str().unwrap(), o["row"])
        })
        .collect();
    found.sort();
    before.sort();
    assert_eq!(&found, before, "{what}");
    let dump = std::fs::read_to_string(out.join("zato-sso-backup.sql")).unwrap();
    assert!(
        dump.contains(user.trim()),
        "{what}: the user is in the dump"
    );
}

/// MySQL checks for rows without a parent on a second connection that starts its snapshot
/// together with the dump's, under a brief read lock, while the dump goes on; an account that
/// may not lock checks on the dump's connection after the rows. Either way the check reads
/// the dump's snapshot: a parent deleted (foreign keys off) after the snapshot opened is in
/// the dump and its children are not reported, while the orphans the snapshot holds are,
/// every one.
fn foreign_key_check_reads_the_dumps_snapshot(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(src) = Db::create(kind, "bfkcheck", "bfkcheck", dir.path()) else {
        return;
    };
    src.load_fixture();
    let mut before = children_of(&src, 2);
    assert_eq!(before.len(), 11, "{before:?}");
    let during = children_of(&src, 3);
    assert_eq!(during.len(), 5, "{during:?}");
    src.sql("SET foreign_key_checks = 0; DELETE FROM zato_sso_user WHERE id = 2");
    let deleted_later = src.sql("SELECT user_id FROM zato_sso_user WHERE id = 3");
    let account = format!("zsso_nolock_{}", std::process::id());
    let db_name = src.url.rsplit('/').next().unwrap().to_string();
    src.sql(&format!(
        "DROP USER IF EXISTS '{account}'@'%'; CREATE USER '{account}'@'%'; \
         GRANT SELECT, SHOW VIEW ON `{db_name}`.* TO '{account}'@'%'"
    ));
    let (scheme, rest) = src.url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let no_lock_url = format!("{scheme}://{account}@{host}");
    src.sql("CREATE TABLE keep_user AS SELECT * FROM zato_sso_user WHERE id = 3");
    for (url, locks) in [(&src.url, true), (&no_lock_url, false)] {
        let what = format!("locks: {locks}");
        src.sql("INSERT IGNORE INTO zato_sso_user SELECT * FROM keep_user");
        let out = dir.path().join(format!("bundle-{locks}"));
        let args = ["backup", "--db", url, "--out", s(&out)];
        let p = zsso_paused_with(
            &args,
            "backup.foreign_keys",
            dir.path(),
            &[("ZSSO_LOG", "zsso_mysql=debug")],
        );
        src.sql("SET foreign_key_checks = 0; DELETE FROM zato_sso_user WHERE id = 3");
        checked_in_the_snapshot(p.resume(), &out, &what, locks, &mut before, &deleted_later);
    }
    src.sql(&format!("DROP USER '{account}'@'%'"));
}

/// SQLite checks for rows without a parent on a second connection beside the rows, under the
/// shared lock the dump holds, so that no writer can commit until the backup ends; in WAL
/// mode, where a writer can, on the dump's connection after the rows. Either way the check
/// reads the dump's snapshot: every orphan it holds is reported, and no other.
fn sqlite_foreign_key_check_reads_the_dumps_snapshot(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    for wal in [false, true] {
        let what = format!("WAL mode: {wal}");
        let tag = format!("bfkcheck{wal}");
        let Some(src) = Db::create(kind, "bfkcheck", &tag, dir.path()) else {
            return;
        };
        src.load_fixture();
        if wal {
            assert_eq!(src.sql("PRAGMA journal_mode = WAL;").trim(), "wal");
        }
        let mut before = children_of(&src, 2);
        let later = children_of(&src, 3);
        assert!(!before.is_empty() && !later.is_empty(), "{what}");
        src.sql("PRAGMA foreign_keys = OFF; DELETE FROM zato_sso_user WHERE id = 2;");
        let user_3 = src.sql("SELECT user_id FROM zato_sso_user WHERE id = 3;");
        let out = dir.path().join(format!("bundle-{wal}"));
        let args = ["backup", "--db", &src.url, "--out", s(&out)];
        let p = zsso_paused_with(
            &args,
            "backup.foreign_keys",
            dir.path(),
            &[("ZSSO_LOG", "zsso_sqlite=debug")],
        );
        let mut client = std::process::Command::new("sqlite3");
        client
            .args(["-bail", "-cmd", ".timeout 200"])
            .arg(src.file());
        let deleted = crate::common::run_with_input(
            client,
            "PRAGMA foreign_keys = OFF; DELETE FROM zato_sso_user WHERE id = 3;",
        );
        if wal {
            deleted.unwrap();
        } else {
            let e = deleted.unwrap_err();
            assert!(e.contains("database is locked"), "{what}: {e}");
        }
        checked_in_the_snapshot(p.resume(), &out, &what, !wal, &mut before, &user_3);
        let gone = src.sql("SELECT count(*) FROM zato_sso_user WHERE id = 3;");
        assert_eq!(gone.trim(), if wal { "0" } else { "1" }, "{what}");
    }
}

per_backend!(sigkill_at_every_step);
per_backend!(sqlite_foreign_key_check_reads_the_dumps_snapshot: sqlite = Sqlite);
per_backend!(foreign_key_check_reads_the_dumps_snapshot: mysql = Mysql);
per_backend!(connection_killed_mid_table: postgres = Postgres, mysql = Mysql);
per_backend!(sqlite_file_locked_or_removed: sqlite = Sqlite);
per_backend!(output_full_or_read_only);
