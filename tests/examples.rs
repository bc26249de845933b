//! Runs each example of `examples/` as a process, as a reader would, and checks what it
//! prints.
//!
//! The examples are run with `cargo run` in this package's directory, in the same profile as
//! the tests.

use std::process::Command;

/// Runs `cargo run --example name` and returns its stdout; fails if it does not exit 0.
///
/// With `ZSSO_EXAMPLES_PREBUILT=1` (as CI sets it), runs the example's binary that the same
/// `cargo test --workspace` built beside this test instead: `cargo run` alone resolves the
/// workspace's features differently and would build the crates a second time.
fn run_example(name: &str) -> String {
    let mut cargo = if std::env::var("ZSSO_EXAMPLES_PREBUILT").as_deref() == Ok("1") {
        let exe = std::env::current_exe().expect("the test knows its own path");
        let built = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("the test runs from target/PROFILE/deps")
            .join("examples")
            .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(format!("{name}.rs"));
        assert!(
            built.is_file() && modified(&built) >= modified(&source),
            "ZSSO_EXAMPLES_PREBUILT=1 and {} is missing or older than its source: run the whole `cargo test --workspace`",
            built.display()
        );
        Command::new(built)
    } else {
        let mut c = Command::new(env!("CARGO"));
        c.args(["run", "--quiet", "--example", name]);
        if !cfg!(debug_assertions) {
            c.arg("--release");
        }
        c
    };
    let out = cargo
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo can be started");
    let stdout = String::from_utf8(out.stdout).expect("the example prints UTF-8");
    assert!(
        out.status.success(),
        "example {name} failed with {}\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Returns true if and only if some line of `out`, split into words, equals `words`.
fn has_line(out: &str, words: &[&str]) -> bool {
    out.lines()
        .any(|l| l.split_whitespace().eq(words.iter().copied()))
}

#[track_caller]
fn assert_line(out: &str, words: &[&str]) {
    assert!(
        has_line(out, words),
        "no line `{}` in the output:\n{out}",
        words.join(" ")
    );
}

#[test]
fn quickstart_example_restores_and_logs_in() {
    let out = run_example("quickstart");
    let steps: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_once(". ").map(|(n, _)| n))
        .filter(|n| n.parse::<u32>().is_ok())
        .collect();
    assert_eq!(steps, ["1", "2", "3", "4", "5", "6", "7"], "{out}");
    assert_line(
        &out,
        &[
            "backed",
            "up",
            "7",
            "tables,",
            "54",
            "rows,",
            "and",
            "secrets.conf",
        ],
    );
    assert_line(&out, &["restored", "zato_sso_user", "14", "rows"]);
    assert_line(&out, &["restored", "zato_sso_password_reset", "3", "rows"]);
    assert!(
        out.lines()
            .any(|l| l.contains("secrets.conf.bak holds the new installation's own")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.ends_with("is the old installation's, byte for byte, mode 0600")),
        "{out}"
    );
    assert!(
        out.contains("row counts and digests equal the bundle's; key1 decrypts all"),
        "{out}"
    );
    assert_line(&out, &["logged", "in", "as", "admin.zato"]);
}

#[test]
fn embed_example_restores_every_table_of_the_fixture() {
    let out = run_example("embed");
    for (table, rows) in [
        ("zato_sso_group", "5"),
        ("zato_sso_user", "14"),
        ("zato_sso_user_group", "7"),
        ("zato_sso_session", "8"),
        ("zato_sso_attr", "13"),
        ("zato_sso_linked_auth", "4"),
        ("zato_sso_password_reset", "3"),
    ] {
        assert_line(&out, &[table, rows, "rows"]);
    }
}
