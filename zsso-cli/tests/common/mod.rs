//! Helpers shared by the tests of the `zsso` binary: the fixture, running the command, and
//! the secrets no output may show.
#![allow(dead_code)]

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

// The server helpers of the workspace's own tests: a database per test, named as they name it.
#[path = "../../../tests/common/my.rs"]
pub mod my;
#[path = "../../../tests/common/pg.rs"]
pub mod pg;
#[path = "../../../tests/common/shared.rs"]
pub mod shared;

pub use shared::{copy_dir, run_with_input};

/// The repo's copy of the Zato 3.2 SQLite fixture.
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/zato-3.2-sqlite")
}

/// A second installation: the fixture's server.conf, a secrets.conf with another key.
pub fn other_server(dir: &Path) -> PathBuf {
    let s = dir.join("other");
    std::fs::create_dir_all(s.join("config/repo")).unwrap();
    std::fs::copy(
        fixture().join("server/config/repo/server.conf"),
        s.join("config/repo/server.conf"),
    )
    .unwrap();
    let key = fernet::Fernet::generate_key();
    let token = fernet::Fernet::new(&key).unwrap().encrypt(b"3.141592...");
    std::fs::write(
        s.join("config/repo/secrets.conf"),
        format!("[secret_keys]\nkey1={key}\n[zato]\nwell_known_data={token}\n"),
    )
    .unwrap();
    s
}

/// What a run of the command did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// Runs `zsso` with `args`, `ZSSO_LOG=trace`, `env` and `stdin`.
pub fn zsso(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zsso"));
    c.args(args)
        .env_remove("ZSSO_PASSWORD")
        .env("ZSSO_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

/// A temporary directory with a copy of the fixture server (`src`) and a bundle of it.
pub fn backed_up() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    copy_dir(&fixture().join("server"), &src);
    let bundle = dir.path().join("bundle");
    let r = zsso(
        &["backup", "--server-dir", s(&src), "--out", s(&bundle)],
        &[],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    (dir, src, bundle)
}

/// A path as text.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The fixture directory of another database's data (`zato-3.2-postgresql`, `zato-3.2-mysql`).
pub fn server_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

/// The secrets of a credentials.json, each with a label that names it without showing it:
/// the users' passwords, every encrypted value's plaintext, the decrypted secrets.conf values.
pub fn secrets_in_credentials(path: &Path) -> Vec<(String, String)> {
    let creds: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for c in creds["credentials"].as_array().unwrap() {
        out.push((
            format!("the password of {}", c["username"]),
            c["password"].as_str().unwrap().to_string(),
        ));
    }
    for (i, e) in creds["expected_secrets"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let v = e["plaintext"].as_str().unwrap();
        if v.chars().count() >= 6 {
            out.push((
                format!("decrypted value {i} ({}.{})", e["table"], e["column"]),
                v.to_string(),
            ));
        }
    }
    for (k, v) in creds["secrets_plaintext"].as_object().unwrap() {
        let v = v.as_str().unwrap();
        if v.len() > 4 && v != "3.141592..." {
            out.push((format!("decrypted secrets.conf value {k}"), v.to_string()));
        }
    }
    out
}

/// The secret things of the fixture that no output may contain, each with a label.
pub fn labelled_secrets_of_fixture() -> Vec<(String, String)> {
    let conf = std::fs::read_to_string(fixture().join("server/config/repo/secrets.conf")).unwrap();
    let key1 = conf
        .lines()
        .find_map(|l| l.strip_prefix("key1="))
        .unwrap()
        .to_string();
    let mut out = vec![
        ("key1".to_string(), key1),
        (
            "well_known_data decrypted".to_string(),
            "3.141592".to_string(),
        ),
    ];
    out.extend(secrets_in_credentials(&fixture().join("credentials.json")));
    // Session tokens and stored (encrypted) passwords must not be logged either.
    for q in [
        "SELECT ust FROM zato_sso_session",
        "SELECT password FROM zato_sso_user WHERE typeof(password) = 'text'",
    ] {
        let o = Command::new("sqlite3")
            .arg(fixture().join("server/zato.db"))
            .arg(q)
            .output()
            .unwrap();
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(text.lines().count() >= 5, "{q}");
        out.extend(
            text.lines()
                .map(|l| (format!("a value of `{q}`"), l.to_string())),
        );
    }
    out
}

/// The secret things of the fixture that no output may contain.
pub fn secrets_of_fixture() -> Vec<String> {
    labelled_secrets_of_fixture()
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

/// Asserts that neither stdout nor stderr of `r` holds any of `secrets`, naming the one found
/// by its label only.
pub fn assert_none_of(r: &Run, what: &str, secrets: &[(String, String)]) {
    for (label, sec) in secrets {
        assert!(
            !r.stdout.contains(sec.as_str()) && !r.stderr.contains(sec.as_str()),
            "{what} printed a secret: {label}"
        );
    }
}

/// Asserts that no output of `r` holds a secret of the fixture.
pub fn assert_no_secrets(r: &Run, what: &str) {
    assert_none_of(r, what, &labelled_secrets_of_fixture());
}

/// Runs `sqlite3` on `db` and returns what it prints.
pub fn sqlite3(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
