//! A MySQL server whose global `sql_mode` changes how literals are read restores the same
//! bytes. A test binary of its own: the global mode it sets (and resets) would reach the
//! connections of tests running beside it.

mod common;

use common::my::{MyDb, fixture_dir};
use zsso::progress::Silent;

/// Puts the server's global sql_mode back when dropped, even if the test fails.
struct GlobalMode<'a> {
    db: &'a MyDb,
    old: String,
}

impl Drop for GlobalMode<'_> {
    fn drop(&mut self) {
        self.db
            .admin(&format!("SET GLOBAL sql_mode = '{}'", self.old));
    }
}

#[tokio::test]
async fn a_hostile_global_sql_mode_restores_the_same_bytes() {
    let test = "a_hostile_global_sql_mode_restores_the_same_bytes";
    let Some(src) = MyDb::create(test, "my_mode_src") else {
        return;
    };
    let Some(dst) = MyDb::create(test, "my_mode_dst") else {
        return;
    };
    let Some(cli) = MyDb::create(test, "my_mode_cli") else {
        return;
    };
    src.load_fixture();
    // Values whose literals a wrong mode would read differently: backslashes, quotes, `||`.
    src.sql(
        "INSERT INTO zato_sso_group (is_active, is_internal, group_id, name, source, opaque1)
         VALUES (1, 0, CONCAT('back', CHAR(92), 'slash'), CONCAT('q', CHAR(39), CHAR(34), 'q'), 'a||b', CONCAT(CHAR(92), 'N'))",
    );
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    zsso::backup_url(
        &src.url,
        Some(&fixture_dir().join("secrets.conf")),
        &bundle,
        &Silent,
    )
    .await
    .unwrap();
    let old = src.admin("SELECT @@GLOBAL.sql_mode").trim().to_string();
    {
        let _reset = GlobalMode { db: &src, old };
        src.admin("SET GLOBAL sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES,PIPES_AS_CONCAT'");
        assert_eq!(
            src.admin("SELECT @@GLOBAL.sql_mode").trim(),
            "PIPES_AS_CONCAT,ANSI_QUOTES,NO_BACKSLASH_ESCAPES"
        );
        zsso::restore_url(&bundle, &dst.url, None, &Silent)
            .await
            .unwrap();
        cli.load(&bundle.join("zato-sso-backup.sql")).unwrap();
    }
    let want = src.sso_state();
    assert!(
        want.contains(&hex::encode_upper("back\\slash")),
        "the test row is there"
    );
    assert_eq!(want, dst.sso_state(), "zsso's restore");
    assert_eq!(want, cli.sso_state(), "the mysql client's load");
    src.drop_now();
    dst.drop_now();
    cli.drop_now();
}
