//! The fixtures made by Zato 3.2 have Zato's own SSO schema, as the reference DDL makes it on
//! each database, and the comparison tells a changed schema apart.
//!
//! The PostgreSQL and MySQL tests need the servers of `ZSSO_TEST_POSTGRES_URL` and
//! `ZSSO_TEST_MYSQL_URL`; without them they say that they are skipped, and with
//! `ZSSO_REQUIRE_SERVERS=1` (as in CI) they fail instead.

mod common;

use common::my::MyDb;
use common::pg::PgDb;
use common::reference::{
    reference_mysql, reference_postgres, reference_sqlite, schema_at, schema_differences,
};

/// Shows the differences, one a line, to make a failure readable.
fn shown(d: &[String]) -> String {
    d.iter().map(|l| format!("\n  {l}")).collect()
}

#[tokio::test]
async fn sqlite_fixture_has_zatos_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = reference_sqlite(tmp.path()).await;
    let server = common::source_server(tmp.path());
    let fixture = schema_at(&common::url(&server.join("zato.db"))).await;
    assert!(!reference.tables.is_empty());
    let d = schema_differences(&reference, &fixture);
    assert!(d.is_empty(), "differences:{}", shown(&d));
}

#[tokio::test]
async fn postgres_fixture_has_zatos_schema() {
    const TEST: &str = "postgres_fixture_has_zatos_schema";
    let Some((ref_db, reference)) = reference_postgres(TEST).await else {
        return;
    };
    let db = PgDb::create(TEST, &format!("ref_{TEST}_fixture")).unwrap();
    db.load_fixture();
    let fixture = schema_at(&db.url).await;
    assert!(!reference.tables.is_empty());
    // The fixture's sequences have given out values; the comparison ignores that state.
    let d = schema_differences(&reference, &fixture);
    assert!(d.is_empty(), "differences:{}", shown(&d));
    db.drop_now();
    ref_db.drop_now();
}

#[tokio::test]
async fn mysql_fixture_has_zatos_schema() {
    const TEST: &str = "mysql_fixture_has_zatos_schema";
    let Some((ref_db, reference)) = reference_mysql(TEST).await else {
        return;
    };
    let db = MyDb::create(TEST, &format!("ref_{TEST}_fixture")).unwrap();
    db.load_fixture();
    let fixture = schema_at(&db.url).await;
    assert!(!reference.tables.is_empty());
    let d = schema_differences(&reference, &fixture);
    assert!(d.is_empty(), "differences:{}", shown(&d));
    db.drop_now();
    ref_db.drop_now();
}

#[tokio::test]
async fn a_changed_schema_is_told_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = reference_sqlite(tmp.path()).await;
    let mut changed = reference.clone();
    // Reordering changes nothing.
    changed.tables.reverse();
    for t in &mut changed.tables {
        t.indexes.reverse();
        t.foreign_keys.reverse();
    }
    assert_eq!(
        schema_differences(&reference, &changed),
        Vec::<String>::new()
    );

    let user = changed
        .tables
        .iter_mut()
        .find(|t| t.name == "zato_sso_user")
        .unwrap();
    let email = user.columns.iter_mut().find(|c| c.name == "email").unwrap();
    email.data_type = "VARCHAR(191)".into();
    let n = user.indexes.len();
    user.indexes.retain(|i| i.name != "zato_u_email_idx");
    assert_eq!(user.indexes.len(), n - 1);
    let session = changed
        .tables
        .iter_mut()
        .find(|t| t.name == "zato_sso_session")
        .unwrap();
    assert_eq!(session.foreign_keys.len(), 1);
    session.foreign_keys[0].name = Some("zato_sso_session_user_fk".into());

    assert_eq!(
        schema_differences(&reference, &changed),
        [
            r#"table zato_sso_session: foreign key (user_id) -> zato_sso_user (id): name None in the reference, Some("zato_sso_session_user_fk") restored"#,
            r#"table zato_sso_user: column email: data_type "TEXT" in the reference, "VARCHAR(191)" restored"#,
            "table zato_sso_user: index zato_u_email_idx: in the reference, not restored (index on (email))",
        ]
    );
}

#[tokio::test]
async fn only_the_auto_increment_table_option_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = reference_sqlite(tmp.path()).await;
    let with = |suffix: &str| {
        let mut s = reference.clone();
        s.tables[0].create_sql.push_str(suffix);
        s
    };
    let name = &reference.tables[0].name;
    assert_eq!(
        schema_differences(&with(" AUTO_INCREMENT=1"), &with(" AUTO_INCREMENT=15")),
        Vec::<String>::new()
    );
    let d = schema_differences(&with(" AUTO_INCREMENT=1"), &with(" AUTO_INCREMENT=1 X"));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].starts_with(&format!("table {name}: create_sql differs at character ")),
        "{d:?}"
    );
}
