//! The behaviour suite: each case is written once and runs on every backend it applies to,
//! SQLite always, PostgreSQL and MySQL on the servers named by `ZSSO_TEST_POSTGRES_URL` and
//! `ZSSO_TEST_MYSQL_URL` (required under `ZSSO_REQUIRE_SERVERS=1`).
//!
//! The cases run the `zsso` binary as a user does, built with the `fault-injection` feature:
//! `ZSSO_FAULT` stops it with SIGKILL, pauses it, or fails it at a named step (see
//! `zsso_core::fault`), and the test looks at the database, the bundle and secrets.conf
//! through the vendors' own clients and the file system.

#[path = "../../../tests/common/mod.rs"]
mod common;

/// One test per backend for a case `fn case(kind: Kind)`: on all three, or on those listed.
macro_rules! per_backend {
    ($case:ident) => {
        per_backend!($case: sqlite = Sqlite, postgres = Postgres, mysql = Mysql);
    };
    ($case:ident: $($name:ident = $kind:ident),+) => {
        mod $case {
            $(
                #[test]
                fn $name() {
                    super::$case(crate::backend::Kind::$kind)
                }
            )+
        }
    };
}

mod backend;
mod backup_faults;
mod load;
mod refusals;
mod restore_faults;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;

/// What a run of `zsso` did.
#[derive(Debug)]
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Whether SIGKILL ended it.
    pub fn killed(&self) -> bool {
        self.status.signal() == Some(libc_sigkill())
    }

    /// Its exit code; panics if a signal ended it.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("zsso ended by a signal: {self:?}"))
    }
}

fn libc_sigkill() -> i32 {
    9
}

fn command(args: &[&str], fault: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zsso"));
    c.args(args)
        .env_remove("ZSSO_FAULT")
        .env_remove("ZSSO_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(f) = fault {
        c.env("ZSSO_FAULT", f);
    }
    c
}

/// Runs `zsso` with `args`, with `ZSSO_FAULT` set to `fault` if given.
pub fn zsso(args: &[&str], fault: Option<&str>) -> Out {
    let o = command(args, fault).output().unwrap();
    Out {
        status: o.status,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Runs `zsso` and asserts that it succeeded.
pub fn zsso_ok(args: &[&str]) -> Out {
    let o = zsso(args, None);
    assert_eq!(o.status.code(), Some(0), "zsso {args:?}: {o:?}");
    o
}

/// Backs up the database at `url` with the fixture's secrets.conf into a new bundle `out`.
pub fn backup_ok(url: &str, out: &Path) -> Out {
    let secrets = fixture_secrets();
    zsso_ok(&[
        "backup",
        "--db",
        url,
        "--secrets",
        s(&secrets),
        "--out",
        s(out),
    ])
}

/// `zsso restore BUNDLE --db URL --secrets-to SECRETS`'s arguments.
pub fn restore_args<'a>(bundle: &'a Path, url: &'a str, secrets: &'a Path) -> [&'a str; 6] {
    [
        "restore",
        s(bundle),
        "--db",
        url,
        "--secrets-to",
        s(secrets),
    ]
}

/// A run of `zsso` paused at a fault point.
pub struct Paused {
    child: Child,
    resume: PathBuf,
    stderr: mpsc::Receiver<String>,
    seen: String,
}

/// Starts `zsso` with `args` and waits until it pauses at `point`.
pub fn zsso_paused(args: &[&str], point: &str, dir: &Path) -> Paused {
    zsso_paused_with(args, point, dir, &[])
}

/// [`zsso_paused`] with the variables `env` set.
pub fn zsso_paused_with(args: &[&str], point: &str, dir: &Path, env: &[(&str, &str)]) -> Paused {
    let resume = dir.join(format!("resume-{}", point.replace(['@', '.'], "-")));
    let _ = std::fs::remove_file(&resume);
    let mut c = command(args, Some(&format!("{point}=pause")));
    c.env("ZSSO_FAULT_RESUME", &resume);
    c.envs(env.iter().copied());
    let mut child = c.spawn().unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(l) = line else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let name = point.split('@').next().unwrap();
    let mut seen = String::new();
    loop {
        match rx.recv_timeout(std::time::Duration::from_secs(120)) {
            Ok(l) => {
                let done = l == format!("zsso-fault: paused at {name}");
                seen.push_str(&l);
                seen.push('\n');
                if done {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                let o = child.wait_with_output().unwrap();
                panic!(
                    "zsso {args:?} never paused at {point}: {seen}{}",
                    String::from_utf8_lossy(&o.stdout)
                );
            }
        }
    }
    Paused {
        child,
        resume,
        stderr: rx,
        seen,
    }
}

impl Paused {
    fn finish(mut self) -> Out {
        let mut stdout = String::new();
        use std::io::Read;
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let status = self.child.wait().unwrap();
        let mut stderr = self.seen;
        while let Ok(l) = self.stderr.recv() {
            stderr.push_str(&l);
            stderr.push('\n');
        }
        Out {
            status,
            stdout,
            stderr,
        }
    }

    /// Lets it go on and waits for its end.
    pub fn resume(self) -> Out {
        std::fs::write(&self.resume, b"").unwrap();
        self.finish()
    }

    /// Sends it SIGKILL and waits for its end.
    pub fn kill(mut self) -> Out {
        self.child.kill().unwrap();
        self.finish()
    }
}

/// A small file system of its own, mounted for the test and unmounted after it.
pub struct Mount(PathBuf);

impl Mount {
    pub fn tmpfs(at: &Path, options: &str) -> Option<Mount> {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs", s(at)])
            .status()
            .is_ok_and(|st| st.success());
        if !ok {
            assert!(
                std::env::var("ZSSO_REQUIRE_SERVERS").as_deref() != Ok("1"),
                "ZSSO_REQUIRE_SERVERS=1 and a tmpfs cannot be mounted (the disk-full cases need root)"
            );
            eprintln!("SKIPPED: a tmpfs cannot be mounted here (needs root)");
            return None;
        }
        Some(Mount(at.to_path_buf()))
    }

    /// Gives it another size.
    pub fn resize(&self, size: &str) {
        let st = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}"), s(&self.0)])
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// The names in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The fixture's secrets.conf.
pub fn fixture_secrets() -> PathBuf {
    common::fixture().join("server/config/repo/secrets.conf")
}

/// `p` as a `&str`.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
