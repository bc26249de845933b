//! The `zsso` binary as a process: every command, `--json` output, exit codes, and what it
//! refuses.

mod common;

use common::*;
use serde_json::Value;
use std::process::{Command, Stdio};

#[test]
fn backup_inspect_restore_verify_as_a_user_runs_them() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    copy_dir(&fixture().join("server"), &src);
    let bundle = dir.path().join("bundle");

    let r = zsso(
        &[
            "backup",
            "--server-dir",
            s(&src),
            "--out",
            s(&bundle),
            "--json",
        ],
        &[],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_no_secrets(&r, "backup");
    let j = r.json();
    assert_eq!(j["tables"].as_array().unwrap().len(), 7);
    assert_eq!(j["tables"][1]["name"], "zato_sso_user");
    assert_eq!(j["tables"][1]["rows"], 14);
    assert_eq!(j["secrets"], true);
    assert_eq!(j["source"]["dialect"], "sqlite");

    // Never over an existing bundle: a wrong argument, exit 2, and with --json a JSON error.
    let r = zsso(
        &[
            "backup",
            "--server-dir",
            s(&src),
            "--out",
            s(&bundle),
            "--json",
        ],
        &[],
        None,
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert_eq!(r.json()["ok"], false);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );

    let r = zsso(&["inspect", s(&bundle), "--json"], &[], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_no_secrets(&r, "inspect");
    let j = r.json();
    assert_eq!(j["format"], "zsso-bundle");
    assert_eq!(j["checked"], true);
    assert_eq!(j["tables"][4]["name"], "zato_sso_attr");
    assert_eq!(j["tables"][4]["rows"], 13);
    let r = zsso(&["inspect", s(&bundle)], &[], None);
    assert!(
        r.stdout.contains("every file's size and sha256 match"),
        "{}",
        r.stdout
    );

    let dst = other_server(dir.path());
    let r = zsso(
        &["restore", s(&bundle), "--server-dir", s(&dst), "--json"],
        &[],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_no_secrets(&r, "restore");
    let j = r.json();
    assert_eq!(j["verified_against_manifest"], true);
    assert_eq!(j["tables"].as_array().unwrap().len(), 7);
    assert_eq!(j["encrypted"]["failed"], 0);
    assert!(
        j["secrets"]["backup"]
            .as_str()
            .unwrap()
            .ends_with("secrets.conf.bak")
    );

    // Log in with the password from the environment, then from standard input.
    let r = zsso(
        &[
            "verify",
            s(&bundle),
            "--server-dir",
            s(&dst),
            "--login",
            "admin.zato",
            "--json",
        ],
        &[("ZSSO_PASSWORD", "Adm1n-Zato-ć-2024!")],
        None,
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_no_secrets(&r, "verify");
    let j = r.json();
    assert_eq!(j["ok"], true);
    assert_eq!(j["login"]["username"], "admin.zato");
    assert_eq!(j["login"]["ok"], true);
    let r = zsso(
        &[
            "verify",
            s(&bundle),
            "--server-dir",
            s(&dst),
            "--login",
            "ops.cli",
        ],
        &[],
        Some("Ops-Cli-User-2024\n"),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("login of ops.cli: password matches"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("verified: "), "{}", r.stdout);
}

#[test]
fn verify_rejects_a_wrong_password_and_another_installations_secrets() {
    let (dir, src, bundle) = backed_up();

    let r = zsso(
        &[
            "verify",
            s(&bundle),
            "--server-dir",
            s(&src),
            "--login",
            "admin.zato",
            "--json",
        ],
        &[("ZSSO_PASSWORD", "wrong-password")],
        None,
    );
    assert_eq!(r.code, 1);
    let j = r.json();
    assert_eq!(j["ok"], false);
    assert_eq!(
        j["problems"][0],
        "login of user `admin.zato` failed: wrong password"
    );
    assert_eq!(j["login"]["ok"], false);
    assert!(!r.stdout.contains("wrong-password"));

    let r = zsso(
        &[
            "verify",
            s(&bundle),
            "--server-dir",
            s(&src),
            "--login",
            "nobody",
        ],
        &[("ZSSO_PASSWORD", "x")],
        None,
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("`nobody` failed: no such user"),
        "{}",
        r.stdout
    );

    // The data with a secrets.conf of another installation: its own well_known_data decrypts,
    // but nothing in the database does.
    let other = other_server(dir.path());
    let db = format!("sqlite://{}", src.join("zato.db").display());
    let other_secrets = other.join("config/repo/secrets.conf");
    let r = zsso(
        &[
            "verify",
            s(&bundle),
            "--db",
            &db,
            "--secrets",
            s(&other_secrets),
            "--json",
        ],
        &[],
        None,
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    let j = r.json();
    assert_eq!(j["ok"], false);
    let problems = j["problems"].to_string();
    assert!(
        problems.contains("different key1 than the bundle's"),
        "{problems}"
    );
    assert!(problems.contains("do not decrypt with key1"), "{problems}");
    assert_eq!(j["secrets"]["well_known"], true);
    assert_eq!(j["secrets"]["encrypted"]["decrypted"], 0);
}

#[test]
fn failures_exit_non_zero_with_a_message_naming_what_and_where() {
    let (dir, src, bundle) = backed_up();

    // A damaged bundle.
    let dump = bundle.join("zato-sso-backup.sql");
    let mut bytes = std::fs::read(&dump).unwrap();
    bytes.truncate(bytes.len() - 100);
    std::fs::write(&dump, bytes).unwrap();
    let target = dir.path().join("t.db");
    let r = zsso(
        &[
            "restore",
            s(&bundle),
            "--db",
            &format!("sqlite://{}", s(&target)),
        ],
        &[],
        None,
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("zsso: error: bundle "), "{}", r.stderr);
    assert!(
        r.stderr.contains("zato-sso-backup.sql: has "),
        "{}",
        r.stderr
    );
    assert!(
        !target.exists(),
        "a refused restore must not even create the target"
    );

    // A database that does not exist.
    let r = zsso(
        &[
            "backup",
            "--db",
            "sqlite:///nonexistent/zato.db",
            "--out",
            s(&dir.path().join("x")),
        ],
        &[],
        None,
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("/nonexistent/zato.db"), "{}", r.stderr);
    assert!(!dir.path().join("x").exists());

    // An unsupported URL and a missing option.
    let r = zsso(
        &[
            "backup",
            "--db",
            "oracle://x",
            "--out",
            s(&dir.path().join("y")),
        ],
        &[],
        None,
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("unsupported database url scheme `oracle`"),
        "{}",
        r.stderr
    );
    let r = zsso(&["backup", "--server-dir", s(&src)], &[], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--out"), "{}", r.stderr);

    // A plain dump: accepted, and the output says it has no integrity proof.
    let plain = dir.path().join("plain.sql");
    let out = Command::new("sqlite3")
        .arg(src.join("zato.db"))
        .arg(".dump zato_sso_%")
        .output()
        .unwrap();
    std::fs::write(&plain, out.stdout).unwrap();
    let r = zsso(
        &[
            "restore",
            s(&plain),
            "--db",
            &format!("sqlite://{}", s(&target)),
        ],
        &[],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("no manifest, no integrity proof"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("no integrity proof"), "{}", r.stderr);
}

#[test]
fn a_closed_stdout_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    copy_dir(&fixture().join("server"), &src);
    let bundle = dir.path().join("bundle");
    let out = Command::new(env!("CARGO_BIN_EXE_zsso"))
        .args(["backup", "--server-dir", s(&src), "--out", s(&bundle)])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("cannot write the result to standard output"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The work itself was done.
    assert!(bundle.join("manifest.json").exists());
}

#[test]
fn inspect_shows_what_a_restore_into_another_database_would_do() {
    let (_dir, src, bundle) = backed_up();
    let db = src.join("zato.db");
    // What the fixture holds, asked of sqlite3: bytes in text columns, and datetimes with a
    // fraction of a second.
    let blobs: u64 = [
        "password",
        "email",
        "totp_key",
        "totp_label",
        "sign_up_confirm_token",
    ]
    .iter()
    .map(|c| {
        sqlite3(
            &db,
            &format!("SELECT count(*) FROM zato_sso_user WHERE typeof({c}) = 'blob'"),
        )
        .trim()
        .parse::<u64>()
        .unwrap()
    })
    .sum();
    let mut fractions = 0u64;
    for t in sqlite3(
        &db,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'zato_sso_%'",
    )
    .lines()
    {
        for c in sqlite3(
            &db,
            &format!("SELECT name FROM pragma_table_info('{t}') WHERE type = 'DATETIME'"),
        )
        .lines()
        {
            fractions += sqlite3(
                &db,
                &format!("SELECT count(*) FROM {t} WHERE substr({c}, 21) <> '000000'"),
            )
            .trim()
            .parse::<u64>()
            .unwrap();
        }
    }
    assert!(blobs > 0 && fractions > 0);
    let files_before = std::fs::read_dir(&bundle).unwrap().count();
    let r = zsso(&["inspect", s(&bundle), "--target", "postgres"], &[], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("creates Zato's own postgresql schema:\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("    CREATE TABLE \"zato_sso_user\" (\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("  sequence zato_sso_user_id_seq, next value 16\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "  {blobs} bytes held as BLOBs in text columns become the text they encode\n"
        )),
        "{}",
        r.stdout
    );
    assert!(r.stdout.ends_with("refuses: nothing\n"), "{}", r.stdout);
    // MySQL drops microseconds: refused (exit 1) naming each value, unless allowed.
    let r = zsso(
        &["inspect", s(&bundle), "--target", "mariadb", "--json"],
        &[],
        None,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["refused"], true);
    assert_eq!(v["problem_count"], fractions);
    assert!(v["problems"].as_array().unwrap().iter().all(|p| {
        p["reason"]
            .as_str()
            .unwrap()
            .starts_with("microseconds, which MySQL DATETIME")
    }));
    let r = zsso(
        &[
            "inspect",
            s(&bundle),
            "--target",
            "mysql",
            "--allow-lost-microseconds",
        ],
        &[],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "  {fractions} datetimes lose their microseconds (allowed)\n"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("  UNIQUE KEY `zato_u_usrn_uq` (`username`),\n"),
        "{}",
        r.stdout
    );
    // Nothing was written, and a target that is the bundle's own kind or unknown is refused.
    assert_eq!(std::fs::read_dir(&bundle).unwrap().count(), files_before);
    let r = zsso(&["inspect", s(&bundle), "--target", "sqlite"], &[], None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("already a sqlite bundle"), "{}", r.stderr);
    let r = zsso(&["inspect", s(&bundle), "--target", "oracle"], &[], None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--target oracle: give sqlite, postgresql or mysql"),
        "{}",
        r.stderr
    );
}

#[test]
fn progress_tells_rows_bytes_rate_and_time_left_as_lines_or_json() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    copy_dir(&fixture().join("server"), &src);
    let db = src.join("zato.db");
    sqlite3(
        &db,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12000)
         INSERT INTO zato_sso_session (id, ust, creation_time, expiration_time, remote_addr, user_agent, auth_type, auth_principal, opaque1, user_id)
         SELECT 1000 + i, 'ust-gen-' || i, '2026-01-01 00:00:00.000000', '2026-01-02 00:00:00.000000', '::1', 'ua', 'basic', 'p', 'null', 1 FROM n",
    );
    let sessions: u64 = sqlite3(&db, "SELECT count(*) FROM zato_sso_session")
        .trim()
        .parse()
        .unwrap();
    let bundle = dir.path().join("b");
    let r = zsso(
        &[
            "backup",
            "--server-dir",
            s(&src),
            "--out",
            s(&bundle),
            "--json",
        ],
        // Debug logs are text for a person, asked for by ZSSO_LOG: this reads the events only.
        &[("ZSSO_LOG", "error")],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let result = r.json();
    let events: Vec<Value> = r
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let kinds: std::collections::BTreeSet<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["progress", "step", "table_done"].into_iter().collect()
    );
    let p = events.iter().find(|e| e["event"] == "progress").unwrap();
    assert_eq!(p["table"], "zato_sso_session");
    assert_eq!(p["rows"], 5000);
    assert_eq!(p["total_rows"], sessions);
    assert!(p["bytes"].as_u64().unwrap() > 5000 * 50, "{p}");
    assert!(p["rows_per_second"].as_f64().unwrap() > 0.0, "{p}");
    assert!(p["seconds_left"].as_f64().is_some(), "{p}");
    // Every table is done once, with the rows the manifest records.
    let done: Vec<(&str, u64)> = events
        .iter()
        .filter(|e| e["event"] == "table_done")
        .map(|e| (e["table"].as_str().unwrap(), e["rows"].as_u64().unwrap()))
        .collect();
    let recorded: Vec<(&str, u64)> = result["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["rows"].as_u64().unwrap()))
        .collect();
    assert_eq!(done, recorded);
    // Without --json, and not on a terminal: lines.
    let target = dir.path().join("t.db");
    let r = zsso(
        &[
            "restore",
            s(&bundle),
            "--db",
            &format!("sqlite://{}", s(&target)),
        ],
        &[],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("zsso: zato_sso_session: ") && l.contains(" rows/s"))
        .unwrap_or_else(|| panic!("{}", r.stderr));
    assert!(
        line.starts_with(&format!("zsso: zato_sso_session: 500/{sessions} rows, ")),
        "{line}"
    );
    assert!(line.ends_with(" s left"), "{line}");
    assert!(
        r.stderr
            .contains(&format!("zsso: zato_sso_session: {sessions} rows\n")),
        "{}",
        r.stderr
    );
}
