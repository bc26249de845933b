//! Named fault points, where a test stops, pauses or fails a run of zsso on purpose.
//!
//! Backup and restore call [`point`] at each step after which a crash would leave a
//! different state behind: after the bundle is staged, after each batch of rows, before and
//! after the commit, between the `.bak` and the rename of secrets.conf, and so on. Built
//! without the `fault-injection` feature (as every release build is), [`point`] does nothing
//! and costs nothing. With it, the environment variable `ZSSO_FAULT` picks one point:
//!
//! - `NAME=kill`: the process sends itself SIGKILL there (no destructor, no clean-up runs);
//! - `NAME=pause`: it prints `zsso-fault: paused at NAME` on stderr and waits until the file
//!   named by `ZSSO_FAULT_RESUME` exists, so that a test can act in between (kill the
//!   database connection, fill the disk, or send SIGKILL itself);
//! - `NAME=error`: the step fails with an error naming the point;
//! - `NAME@N=...`: the same at the point's N-th visit (1 is the first), for a point inside
//!   a loop.
//!
//! The points are listed in [`POINTS`].

/// Every fault point, in the order a run reaches them, with what has happened when it is
/// reached.
pub const POINTS: &[(&str, &str)] = &[
    (
        "backup.staged",
        "the bundle's temporary directory exists, nothing is read",
    ),
    (
        "backup.snapshot",
        "the source's snapshot is open, no row is read",
    ),
    (
        "backup.foreign_keys",
        "the snapshot is open, the check for rows without a parent is next (MySQL: on a connection of its own, beside the dump)",
    ),
    ("backup.rows", "a batch of rows is written to the dump"),
    ("backup.dumped", "the dump file is complete and synced"),
    (
        "backup.manifest",
        "the manifest is written, the bundle is not yet renamed into place",
    ),
    (
        "backup.published",
        "the bundle is in place under its final name",
    ),
    (
        "restore.checked",
        "the bundle is checked, the target is not yet touched",
    ),
    ("restore.begun", "the target's transaction is open"),
    (
        "restore.dropped",
        "the tables and sequences being replaced are dropped (inside the transaction)",
    ),
    (
        "restore.statement",
        "a statement (or a table's COPY) of the dump has run",
    ),
    ("restore.loaded", "every statement of the dump has run"),
    (
        "restore.checked_load",
        "the load is recounted, re-digested and decrypted",
    ),
    (
        "restore.prepared",
        "the new secrets.conf is written beside the old one, before the commit",
    ),
    (
        "restore.swap",
        "MySQL: the loaded tables are committed in the restore's own database, the one RENAME that swaps them in is next",
    ),
    (
        "restore.sqlite_new_file",
        "SQLite: a new database is committed under its temporary name, not yet moved into place",
    ),
    ("restore.committed", "the database has committed"),
    (
        "restore.bak",
        "the old secrets.conf is kept as .bak, the new one is not yet renamed over it",
    ),
    ("restore.installed", "the new secrets.conf is in place"),
];

/// Stops, pauses or fails here if `ZSSO_FAULT` names this point (see the module's
/// documentation); otherwise, and always without the `fault-injection` feature, returns
/// `Ok(())`.
#[inline]
pub fn point(name: &'static str) -> crate::Result<()> {
    #[cfg(feature = "fault-injection")]
    {
        imp::hit(name)
    }
    #[cfg(not(feature = "fault-injection"))]
    {
        let _ = name;
        Ok(())
    }
}

#[cfg(feature = "fault-injection")]
mod imp {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Spec {
        name: String,
        nth: u64,
        action: String,
        seen: AtomicU64,
    }

    fn spec() -> Option<&'static Spec> {
        static SPEC: OnceLock<Option<Spec>> = OnceLock::new();
        SPEC.get_or_init(|| {
            let v = std::env::var("ZSSO_FAULT").ok()?;
            let (at, action) = v.split_once('=')?;
            let (name, nth) = match at.split_once('@') {
                Some((n, k)) => (n, k.parse().ok()?),
                None => (at, 1),
            };
            assert!(
                super::POINTS.iter().any(|(p, _)| *p == name),
                "ZSSO_FAULT names {name}, which is not a fault point"
            );
            Some(Spec {
                name: name.to_string(),
                nth,
                action: action.to_string(),
                seen: AtomicU64::new(0),
            })
        })
        .as_ref()
    }

    pub(super) fn hit(name: &'static str) -> crate::Result<()> {
        let Some(s) = spec() else { return Ok(()) };
        if s.name != name || s.seen.fetch_add(1, Ordering::SeqCst) + 1 != s.nth {
            return Ok(());
        }
        match s.action.as_str() {
            "kill" => {
                // SAFETY: kill(2) on our own process id; it does not return.
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
                unreachable!("SIGKILL returned");
            }
            "pause" => {
                eprintln!("zsso-fault: paused at {name}");
                let resume = std::env::var_os("ZSSO_FAULT_RESUME")
                    .expect("ZSSO_FAULT=...=pause needs ZSSO_FAULT_RESUME");
                while !std::path::Path::new(&resume).exists() {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Ok(())
            }
            "error" => Err(crate::Error::Usage(format!(
                "a fault was injected at {name} (ZSSO_FAULT)"
            ))),
            other => panic!("ZSSO_FAULT: unknown action {other} (kill, pause or error)"),
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every listed point is called somewhere in the workspace, and every call is listed.
    #[test]
    fn the_list_of_points_is_the_set_of_calls() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut called = std::collections::BTreeSet::new();
        let mut dirs = vec![root.join("zsso-core/src"), root.join("zsso-sqlite/src")];
        dirs.extend([root.join("zsso-postgres/src"), root.join("zsso-mysql/src")]);
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("fault.rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    for part in text.split("fault::point(\"").skip(1) {
                        called.insert(part.split('"').next().unwrap().to_string());
                    }
                }
            }
        }
        let listed: std::collections::BTreeSet<String> =
            super::POINTS.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(called, listed);
    }
}
