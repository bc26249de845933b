//! Damaged and foreign bundles are refused, naming the file (and line), before the target is
//! touched, on every database.

use crate::backend::{Db, Kind};
use crate::common;
use crate::{backup_ok, restore_args, zsso};
use std::path::Path;

type Damage = fn(&Path);

fn flip_middle(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x01;
    std::fs::write(p, b).unwrap();
}

const DUMP: &str = "zato-sso-backup.sql";

fn damaged_bundles_leave_the_target_untouched(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(src) = Db::create(kind, "refuse", "refuse_src", dir.path()) else {
        return;
    };
    let Some(target) = Db::create(kind, "refuse", "refuse_tgt", dir.path()) else {
        return;
    };
    src.load_fixture();
    target.load_fixture();
    // A table of the target's own, which no restore may touch.
    target.sql("CREATE TABLE keep_me (id INTEGER PRIMARY KEY, v VARCHAR(20))");
    target.sql("INSERT INTO keep_me VALUES (1, 'keep me')");
    let good = dir.path().join("good");
    backup_ok(&src.url, &good);
    let before = target.state();
    let secrets = dir.path().join("secrets.conf");
    let old = common::new_secrets_conf();
    std::fs::write(&secrets, &old).unwrap();
    let cases: &[(&str, Damage, &[&str])] = &[
        (
            "a flipped byte in the dump",
            |b| flip_middle(&b.join(DUMP)),
            &[DUMP, "sha256"],
        ),
        (
            "the dump cut short",
            |b| {
                let p = b.join(DUMP);
                let len = std::fs::metadata(&p).unwrap().len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap();
            },
            &[DUMP, "cut short"],
        ),
        (
            "a flipped byte in secrets.conf",
            |b| flip_middle(&b.join("secrets.conf")),
            &["secrets.conf", "sha256"],
        ),
        (
            "secrets.conf missing",
            |b| std::fs::remove_file(b.join("secrets.conf")).unwrap(),
            &["secrets.conf", "missing"],
        ),
        (
            "the manifest cut short",
            |b| {
                let p = b.join("manifest.json");
                let t = std::fs::read(&p).unwrap();
                std::fs::write(&p, &t[..t.len() / 2]).unwrap();
            },
            &["manifest.json"],
        ),
        (
            "a statement on another table, vouched for by a forged manifest",
            |b| common::forge_dump(b, |d| d.replacen('\n', "\nDROP TABLE keep_me;\n", 1)),
            &[DUMP, ":2", "keep_me"],
        ),
    ];
    for (i, (what, damage, expected)) in cases.iter().enumerate() {
        let b = dir.path().join(format!("case{i}"));
        common::copy_dir(&good, &b);
        damage(&b);
        let o = zsso(&restore_args(&b, &target.url, &secrets), None);
        assert_eq!(o.code(), 1, "{kind:?}, {what}: {o:?}");
        for e in *expected {
            assert!(o.stderr.contains(e), "{kind:?}, {what}: {}", o.stderr);
        }
        assert!(
            target.state() == before,
            "{kind:?}, {what}: the target changed"
        );
        assert_eq!(std::fs::read_to_string(&secrets).unwrap(), old, "{what}");
    }
}

per_backend!(damaged_bundles_leave_the_target_untouched);
