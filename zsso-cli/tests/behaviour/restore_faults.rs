//! Faults during a restore: SIGKILL at every step, the connection killed before, during and
//! after the load, an injected failure. Each time the target is afterwards exactly as before
//! or exactly the bundle's content, secrets.conf is the old file or the new one, and the next
//! run cleans up and succeeds.

use crate::backend::{Db, Kind};
use crate::common;
use crate::{
    Mount, Out, backup_ok, fixture_secrets, names_in, restore_args, s, zsso, zsso_ok, zsso_paused,
};
use std::path::{Path, PathBuf};

/// A target holding Zato's fixture, and two bundles of the same installation taken at two
/// moments (B has every user's display name changed).
struct Setup {
    dir: tempfile::TempDir,
    target: Db,
    a: PathBuf,
    b: PathBuf,
    /// The target's state with each bundle restored.
    state_a: String,
    state_b: String,
    secrets: PathBuf,
}

fn setup(kind: Kind, test: &str) -> Option<Setup> {
    let dir = tempfile::tempdir().unwrap();
    let src = Db::create(kind, test, &format!("{test}_src"), dir.path())?;
    let target = Db::create(kind, test, &format!("{test}_tgt"), dir.path())?;
    src.load_fixture();
    target.load_fixture();
    let a = dir.path().join("bundle-a");
    let b = dir.path().join("bundle-b");
    backup_ok(&src.url, &a);
    src.sql("UPDATE zato_sso_user SET display_name = 'changed between the backups'");
    backup_ok(&src.url, &b);
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    let secrets = conf.join("secrets.conf");
    std::fs::write(&secrets, common::new_secrets_conf()).unwrap();
    let mut me = Setup {
        dir,
        target,
        a,
        b,
        state_a: String::new(),
        state_b: String::new(),
        secrets,
    };
    me.restore_ok(&me.a.clone());
    me.state_a = me.target.state();
    me.restore_ok(&me.b.clone());
    me.state_b = me.target.state();
    assert_ne!(me.state_a, me.state_b);
    Some(me)
}

impl Setup {
    fn args<'a>(&'a self, bundle: &'a Path) -> [&'a str; 6] {
        restore_args(bundle, &self.target.url, &self.secrets)
    }

    fn restore_ok(&self, bundle: &Path) -> Out {
        zsso_ok(&self.args(bundle))
    }

    /// A new installation's secrets.conf at the destination, no backups beside it: what the
    /// next restore replaces.
    fn fresh_secrets(&self) -> String {
        let dir = self.secrets.parent().unwrap();
        for n in names_in(dir) {
            std::fs::remove_file(dir.join(n)).unwrap();
        }
        let text = common::new_secrets_conf();
        std::fs::write(&self.secrets, &text).unwrap();
        text
    }

    fn secrets_now(&self) -> String {
        std::fs::read_to_string(&self.secrets)
            .unwrap_or_else(|e| panic!("secrets.conf is missing after the fault: {e}"))
    }

    /// The next run succeeds, and leaves the bundle's content, its secrets.conf, the old one
    /// as .bak, and nothing else.
    fn next_run_cleans_up(&self, bundle: &Path, state: &str, old_secrets: &str, what: &str) {
        self.restore_ok(bundle);
        assert_eq!(self.target.state(), state, "{what}: the next run");
        assert_eq!(
            self.secrets_now(),
            std::fs::read_to_string(fixture_secrets()).unwrap(),
            "{what}: the next run"
        );
        let dir = self.secrets.parent().unwrap();
        assert_eq!(
            names_in(dir),
            ["secrets.conf", "secrets.conf.bak"],
            "{what}: the next run"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("secrets.conf.bak")).unwrap(),
            old_secrets,
            "{what}: the next run"
        );
        assert_eq!(self.target.leftovers(), Vec::<String>::new(), "{what}");
    }
}

/// A dump changed after every statement of it was checked, and before the load read it
/// (here into something the guard would let through), is caught by its SHA-256 at the end of
/// the load and rolled back: what was checked is what is restored, or nothing is.
fn dump_changed_after_the_check(kind: Kind) {
    let Some(su) = setup(kind, "rchg") else {
        return;
    };
    su.restore_ok(&su.a);
    let dump = su.b.join("zato-sso-backup.sql");
    let text = std::fs::read(&dump).unwrap();
    let from = b"changed between the backups";
    let at = text
        .windows(from.len())
        .position(|w| w == from)
        .expect("bundle B holds the changed display names");
    let old = su.fresh_secrets();
    let p = zsso_paused(&su.args(&su.b), "restore.checked", su.dir.path());
    let mut changed = text.clone();
    changed.splice(
        at..at + from.len(),
        b"changed behind the check".iter().copied(),
    );
    std::fs::write(&dump, &changed).unwrap();
    let o = p.resume();
    assert_eq!(o.code(), 1, "{kind:?}: {o:?}");
    assert!(
        o.stderr.contains("changed between the check and the load"),
        "{kind:?}: {}",
        o.stderr
    );
    assert_eq!(su.target.state(), su.state_a, "{kind:?}");
    assert_eq!(su.secrets_now(), old, "{kind:?}");
    assert_eq!(su.target.leftovers(), Vec::<String>::new(), "{kind:?}");
}

/// Where the restore is killed, whether the database has the bundle's content then, and
/// whether secrets.conf is the new one.
const KILL_POINTS: &[(&str, bool, bool)] = &[
    ("restore.checked", false, false),
    ("restore.begun", false, false),
    ("restore.dropped", false, false),
    ("restore.statement@1", false, false),
    ("restore.statement@4", false, false),
    ("restore.statement@10", false, false),
    ("restore.loaded", false, false),
    ("restore.checked_load", false, false),
    ("restore.prepared", false, false),
    ("restore.committed", true, false),
    ("restore.bak", true, false),
    ("restore.installed", true, true),
];

fn sigkill_at_every_step(kind: Kind) {
    let Some(su) = setup(kind, "rkill") else {
        return;
    };
    // The target holds B; each run restores the other bundle.
    let (mut from, mut to) = ((&su.b, &su.state_b), (&su.a, &su.state_a));
    let swap = ("restore.swap", false, false);
    let points = KILL_POINTS
        .iter()
        .take(9)
        .chain((kind == Kind::Mysql).then_some(&swap))
        .chain(KILL_POINTS.iter().skip(9));
    for &(point, db_new, secrets_new) in points {
        let what = format!("{kind:?}, SIGKILL at {point}");
        let old = su.fresh_secrets();
        let o = zsso(&su.args(to.0), Some(&format!("{point}=kill")));
        assert!(o.killed(), "{what}: not killed: {o:?}");
        let expected = if db_new { to.1 } else { from.1 };
        assert!(
            su.target.state() == *expected,
            "{what}: the database is {}",
            if su.target.state() == *to.1 {
                "the bundle's, too early"
            } else if su.target.state() == *from.1 {
                "as before, too late"
            } else {
                "between the two"
            }
        );
        if secrets_new {
            assert_eq!(
                su.secrets_now(),
                std::fs::read_to_string(fixture_secrets()).unwrap(),
                "{what}"
            );
        } else {
            assert_eq!(su.secrets_now(), old, "{what}");
        }
        su.next_run_cleans_up(to.0, to.1, &old, &what);
        std::mem::swap(&mut from, &mut to);
    }
}

/// The connection killed from outside at a step: before the load, during it, after it (before
/// the commit), each refused with the database as before; after the commit, the restore is
/// done and the run succeeds.
fn connection_killed(kind: Kind) {
    let Some(su) = setup(kind, "rconn") else {
        return;
    };
    let (mut from, mut to) = ((&su.b, &su.state_b), (&su.a, &su.state_a));
    let mut points = vec![
        "restore.begun",
        "restore.statement@3",
        "restore.checked_load",
    ];
    if kind == Kind::Mysql {
        points.push("restore.swap");
    }
    points.push("restore.committed");
    for point in points {
        let what = format!("{kind:?}, connection killed at {point}");
        let old = su.fresh_secrets();
        let p = zsso_paused(&su.args(to.0), point, su.dir.path());
        let killed = su.target.kill_connections();
        assert!(killed >= 1, "{what}: no connection to kill");
        let o = p.resume();
        let committed = point == "restore.committed";
        if committed {
            assert_eq!(o.code(), 0, "{what}: {o:?}");
            assert_eq!(su.target.state(), *to.1, "{what}");
        } else {
            assert_eq!(o.code(), 1, "{what}: {o:?}");
            assert!(
                o.stderr.contains("rolled back") || o.stderr.contains("nothing was changed"),
                "{what}: {}",
                o.stderr
            );
            assert_eq!(su.target.state(), *from.1, "{what}");
            assert_eq!(su.secrets_now(), old, "{what}");
            assert_eq!(names_in(su.secrets.parent().unwrap()), ["secrets.conf"]);
        }
        su.next_run_cleans_up(to.0, to.1, &old, &what);
        std::mem::swap(&mut from, &mut to);
    }
}

/// A step that fails (here, just before the commit, where a full disk would stop the new
/// secrets.conf) rolls back at once and leaves no temporary file.
fn failure_before_commit(kind: Kind) {
    let Some(su) = setup(kind, "rfail") else {
        return;
    };
    let old = su.fresh_secrets();
    let o = zsso(&su.args(&su.a), Some("restore.prepared=error"));
    assert_eq!(o.code(), 1, "{o:?}");
    assert!(
        o.stderr
            .contains("a fault was injected at restore.prepared (ZSSO_FAULT)"),
        "{}",
        o.stderr
    );
    assert_eq!(su.target.state(), su.state_b);
    assert_eq!(su.secrets_now(), old);
    assert_eq!(names_in(su.secrets.parent().unwrap()), ["secrets.conf"]);
    assert_eq!(su.target.leftovers(), Vec::<String>::new());
}

/// The disk under the target fills during the load: SQLite's file on a small file system,
/// PostgreSQL's tables in a tablespace on one. The restore is rolled back with the system's
/// message, and succeeds once there is room. (MySQL is left out: its restore creates a
/// database of its own under the server's data directory, which a test cannot place on a
/// small file system without reconfiguring the server.)
fn disk_fills(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(src) = Db::create(kind, "rdisk", "rdisk_src", dir.path()) else {
        return;
    };
    src.load_fixture();
    // Several MiB of rows, more than the small file system holds.
    src.add_groups(20_000);
    let bundle = dir.path().join("bundle");
    backup_ok(&src.url, &bundle);
    let secrets = dir.path().join("secrets.conf");
    let old = common::new_secrets_conf();
    std::fs::write(&secrets, &old).unwrap();
    // Under /tmp itself: the PostgreSQL server's user must reach the mount point.
    let at = PathBuf::from(format!(
        "/tmp/zsso-rdisk-{}-{}",
        kind.tag(),
        std::process::id()
    ));
    let Some(mount) = Mount::tmpfs(&at, "size=2m,mode=0777") else {
        return;
    };
    let (target, url, cleanup): (Option<Db>, String, Option<String>) = match kind {
        Kind::Sqlite => {
            let f = at.join("zato.db");
            std::fs::copy(common::fixture().join("server/zato.db"), &f).unwrap();
            (None, format!("sqlite://{}", f.display()), None)
        }
        _ => {
            let t = Db::create(kind, "rdisk", "rdisk_tgt", dir.path()).unwrap();
            t.load_fixture();
            let ts = format!("zsso_t_rdisk_{}", std::process::id());
            let pg = |sql: &str| {
                let st = std::process::Command::new("psql")
                    .args([
                        "-X",
                        "-q",
                        "-v",
                        "ON_ERROR_STOP=1",
                        "-d",
                        &src.url,
                        "-c",
                        sql,
                    ])
                    .status()
                    .unwrap();
                assert!(st.success(), "{sql}");
            };
            std::fs::create_dir(at.join("ts")).unwrap();
            let chown = std::process::Command::new("chown")
                .args(["postgres:postgres", s(&at.join("ts"))])
                .status()
                .unwrap();
            assert!(chown.success());
            pg(&format!(
                "CREATE TABLESPACE {ts} LOCATION '{}'",
                at.join("ts").display()
            ));
            let db_name = t.url.rsplit('/').next().unwrap().to_string();
            pg(&format!(
                "ALTER DATABASE {db_name} SET default_tablespace = {ts}"
            ));
            let url = t.url.clone();
            (Some(t), url, Some(ts))
        }
    };
    let state = |url: &str| -> String {
        match &target {
            Some(t) => t.state(),
            None => common::sqlite3(
                std::path::Path::new(url.strip_prefix("sqlite://").unwrap()),
                ".dump",
            ),
        }
    };
    let before = state(&url);
    let args = restore_args(&bundle, &url, &secrets);
    let o = zsso(&args, None);
    assert_eq!(o.code(), 1, "{kind:?}: {o:?}");
    let message = match kind {
        Kind::Sqlite => "database or disk is full",
        _ => "No space left on device",
    };
    assert!(
        o.stderr.contains(message) && o.stderr.contains("rolled back"),
        "{kind:?}: {}",
        o.stderr
    );
    assert!(state(&url) == before, "{kind:?}: the target changed");
    assert_eq!(std::fs::read_to_string(&secrets).unwrap(), old);
    // With room, the next run succeeds.
    mount.resize("256m");
    zsso_ok(&args);
    zsso_ok(&["verify", s(&bundle), "--db", &url, "--secrets", s(&secrets)]);
    if let (Some(t), Some(ts)) = (target, cleanup) {
        drop(t);
        let _ = std::process::Command::new("psql")
            .args([
                "-X",
                "-q",
                "-d",
                &src.url,
                "-c",
                &format!("DROP TABLESPACE {ts}"),
            ])
            .status();
    }
}

/// A restore into a SQLite file that does not exist yet, killed at each step up to the
/// move into place: never a file under the final name; the next run removes the temporary
/// one and succeeds.
fn sigkill_into_a_new_file(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(src) = Db::create(kind, "rnew", "rnew_src", dir.path()) else {
        return;
    };
    src.load_fixture();
    let bundle = dir.path().join("bundle");
    backup_ok(&src.url, &bundle);
    let target = dir.path().join("new");
    std::fs::create_dir(&target).unwrap();
    let url = format!("sqlite://{}", target.join("zato.db").display());
    let secrets = dir.path().join("secrets.conf");
    let args = restore_args(&bundle, &url, &secrets);
    for point in [
        "restore.begun",
        "restore.statement@5",
        "restore.prepared",
        "restore.sqlite_new_file",
    ] {
        let o = zsso(&args, Some(&format!("{point}=kill")));
        assert!(o.killed(), "{point}: {o:?}");
        // Only the killed run's temporary database (and its journal): the earlier run's
        // were removed when this one began.
        let left = names_in(&target);
        assert!(
            !left.is_empty()
                && left.len() <= 2
                && left.iter().all(|n| n.starts_with(".zato.db.zsso-partial-")),
            "{point}: {left:?}"
        );
        assert!(!secrets.exists(), "{point}");
    }
    zsso_ok(&args);
    assert_eq!(names_in(&target), ["zato.db"]);
    zsso_ok(&["verify", s(&bundle), "--db", &url, "--secrets", s(&secrets)]);
}

/// SIGINT or SIGTERM before the commit ends the run at once, as without a handler (130,
/// 143), with the target and secrets.conf as they were; from the commit until secrets.conf is
/// in place (MySQL: from the swap), the run goes on to its end and then exits with that code,
/// leaving the bundle's rows and its secrets.conf.
fn interrupted(kind: Kind) {
    let Some(su) = setup(kind, "rint") else {
        return;
    };
    let (mut from, mut to) = ((&su.b, &su.state_b), (&su.a, &su.state_a));
    let mut points = vec![("restore.checked_load", false)];
    if kind == Kind::Mysql {
        points.push(("restore.swap", true));
    }
    points.extend([("restore.committed", true), ("restore.bak", true)]);
    for (point, held) in points {
        for (signal, code) in [("INT", 130), ("TERM", 143)] {
            let what = format!("{kind:?}, SIG{signal} at {point}");
            let old = su.fresh_secrets();
            let p = zsso_paused(&su.args(to.0), point, su.dir.path());
            let pid = p.child.id().to_string();
            let sent = std::process::Command::new("kill")
                .args([&format!("-{signal}"), &pid])
                .status()
                .unwrap();
            assert!(sent.success(), "{what}");
            let o = if held {
                // The run waits for the held steps: it is still paused.
                std::thread::sleep(std::time::Duration::from_millis(300));
                p.resume()
            } else {
                p.finish()
            };
            assert_eq!(o.code(), code, "{what}: {o:?}");
            assert!(
                o.stderr.ends_with("zsso: interrupted\n"),
                "{what}: {}",
                o.stderr
            );
            let waited = o
                .stderr
                .contains("zsso: interrupted during the commit: finishing it");
            assert_eq!(waited, held, "{what}: {}", o.stderr);
            if held {
                assert!(o.stdout.starts_with("restored 7 tables"), "{what}: {o:?}");
                assert_eq!(su.target.state(), *to.1, "{what}");
                assert_eq!(
                    su.secrets_now(),
                    std::fs::read_to_string(fixture_secrets()).unwrap(),
                    "{what}"
                );
                std::mem::swap(&mut from, &mut to);
            } else {
                assert_eq!(su.target.state(), *from.1, "{what}");
                assert_eq!(su.secrets_now(), old, "{what}");
            }
            su.next_run_cleans_up(to.0, to.1, &old, &what);
            std::mem::swap(&mut from, &mut to);
        }
    }
}

per_backend!(sigkill_at_every_step);
per_backend!(sigkill_into_a_new_file: sqlite = Sqlite);
per_backend!(disk_fills: sqlite = Sqlite, postgres = Postgres);
per_backend!(connection_killed: postgres = Postgres, mysql = Mysql);
per_backend!(failure_before_commit);
per_backend!(dump_changed_after_the_check);
per_backend!(interrupted);
