//! Every kind of value that dump tools are known to lose and SQLite can hold, in tables of the SSO set,
//! survives with the same bytes and the same storage type.

mod common;

use common::*;
use zsso::progress::Silent;

/// Values as SQL expressions, with what they test.
const VALUES: &[(&str, &str)] = &[
    ("NUL inside text", "CAST(X'610062' AS TEXT)"),
    ("only NUL", "CAST(X'00' AS TEXT)"),
    ("CR", "CAST(X'610D62' AS TEXT)"),
    ("LF", "'a' || char(10) || 'b'"),
    ("CR-LF", "'a' || char(13, 10) || 'b'"),
    ("tab", "'a' || char(9) || 'b'"),
    (
        "every control character",
        "CAST(X'000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F7F' AS TEXT)",
    ),
    (
        "quotes and backslashes",
        "'it''s \"quoted\" \\ back\\\\slash'",
    ),
    ("semicolons and SQL", "'x''); DROP TABLE zato_sso_user; --'"),
    ("comment markers", "'/* not a comment */ -- nor this'"),
    ("emoji", "'🦄🌈 4-byte UTF-8'"),
    ("invalid UTF-8", "CAST(X'C328FFFE' AS TEXT)"),
    ("lone surrogate bytes", "CAST(X'EDA080' AS TEXT)"),
    ("very long text", "printf('%.*c', 200000, 'x')"),
    ("empty string", "''"),
    ("SQL NULL", "NULL"),
    ("the text null", "'null'"),
    ("i64 max", "9223372036854775807"),
    ("i64 min", "-9223372036854775808"),
    ("zero", "0"),
    ("real 5.0", "5.0"),
    ("real 0.1", "0.1"),
    ("real 1/3", "1.0/3"),
    ("smallest subnormal", "4.9406564584124654e-324"),
    ("largest finite", "1.7976931348623157e308"),
    ("+Inf", "9e999"),
    ("-Inf", "-9e999"),
    ("negative zero", "-0.0"),
    ("real 2^53 + 2", "9007199254740994.0"),
    ("real 1e300", "1e300"),
    ("datetime text", "'2024-03-15 16:17:57.342857'"),
    ("blob", "X'00FF10'"),
    ("empty blob", "X''"),
    ("blob that is UTF-8", "X'7A61746F'"),
    ("text of a number", "'5'"),
    ("boolean 2", "2"),
    ("boolean -1", "-1"),
];

#[tokio::test]
async fn every_value_kind_round_trips_with_its_bytes_and_storage_type() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.db");
    // A table of the set with no declared column type keeps every storage class as inserted;
    // names in mixed case, keywords and with quotes in them must survive quoting.
    let mut sql = String::from(
        "CREATE TABLE \"zato_sso_Pitfalls\" (id INTEGER PRIMARY KEY, what TEXT, \"select\", \"Mixed Case\" TEXT, \"quo\"\"te\" BLOB, flag BOOLEAN, ts DATETIME);\n",
    );
    for (i, (what, expr)) in VALUES.iter().enumerate() {
        sql.push_str(&format!(
            "INSERT INTO \"zato_sso_Pitfalls\" VALUES ({i}, '{what}', {expr}, {expr}, {expr}, {expr}, {expr});\n"
        ));
    }
    sqlite3(&src, &sql);
    let before = typed_hex_rows(&src);
    // The test means something only if the storage types are really mixed.
    for t in ["null:", "integer:", "real:", "text:", "blob:"] {
        assert!(before.contains(t), "source holds {t}");
    }
    assert!(before.contains("real:") && before.contains("text:610062"));

    let bundle = dir.path().join("b");
    zsso::backup_url(&url(&src), None, &bundle, &Silent)
        .await
        .unwrap();

    // Through zsso's restore.
    let dst = dir.path().join("dst.db");
    zsso::restore_url(&bundle, &url(&dst), None, &Silent)
        .await
        .unwrap();
    assert_eq!(typed_hex_rows(&dst), before);
    // hex() shows a real through its text form; the digests compare the exact bits.
    let digests = |b: &std::path::Path| zsso::bundle::Bundle::open(b).unwrap().manifest.tables;
    let again = dir.path().join("again");
    zsso::backup_url(&url(&dst), None, &again, &Silent)
        .await
        .unwrap();
    assert_eq!(digests(&again), digests(&bundle));

    // Through the sqlite3 client (an older SQLite than the bundled one).
    let via_client = dir.path().join("client.db");
    sqlite3(
        &via_client,
        &std::fs::read_to_string(bundle.join("zato-sso-backup.sql")).unwrap(),
    );
    assert_eq!(typed_hex_rows(&via_client), before);
    let again = dir.path().join("again-client");
    zsso::backup_url(&url(&via_client), None, &again, &Silent)
        .await
        .unwrap();
    assert_eq!(digests(&again), digests(&bundle));
}

/// The exact bits of every real in `zato_sso_reals`, read through sqlx (not through text).
async fn real_bits(db: &std::path::Path) -> Vec<(i64, u64)> {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&url(db)).await.unwrap();
    let rows: Vec<(i64, f64)> = sqlx::query_as("SELECT id, v FROM zato_sso_reals ORDER BY id")
        .fetch_all(&mut c)
        .await
        .unwrap();
    rows.into_iter().map(|(i, v)| (i, v.to_bits())).collect()
}

#[tokio::test]
async fn reals_keep_their_exact_bits_through_both_loaders() {
    // Random bit patterns: every finite double must come back with the same bits, even
    // through a sqlite3 client whose text-to-float conversion is not correctly rounded.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.db");
    let mut sql = String::from("CREATE TABLE zato_sso_reals (id INTEGER PRIMARY KEY, v REAL);\n");
    let mut expected = Vec::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for special in [
        0.1,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        1.0 / 3.0,
        6.2578431e-07,
    ] {
        expected.push(special);
    }
    while expected.len() < 2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = f64::from_bits(x);
        if v.is_finite() {
            expected.push(v);
        }
    }
    for (i, v) in expected.iter().enumerate() {
        let mut lit = String::new();
        zsso::sqlite::dialect::write_real(*v, &mut lit);
        sql.push_str(&format!(
            "INSERT INTO zato_sso_reals VALUES ({i}, {lit});\n"
        ));
    }
    let want: Vec<(i64, u64)> = expected
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64, v.to_bits()))
        .collect();
    // zsso's real literals are exact even in the (older) sqlite3 client.
    sqlite3(&src, &sql);
    assert_eq!(real_bits(&src).await, want);
    let bundle = dir.path().join("b");
    zsso::backup_url(&url(&src), None, &bundle, &Silent)
        .await
        .unwrap();
    let dst = dir.path().join("dst.db");
    zsso::restore_url(&bundle, &url(&dst), None, &Silent)
        .await
        .unwrap();
    assert_eq!(real_bits(&dst).await, want);
    let client = dir.path().join("client.db");
    sqlite3(
        &client,
        &std::fs::read_to_string(bundle.join("zato-sso-backup.sql")).unwrap(),
    );
    assert_eq!(real_bits(&client).await, want);
}
