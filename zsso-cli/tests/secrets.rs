//! Secrets (issue 6, item 6): no key, password or decrypted value appears in any output of
//! any command, succeeding or failing, with and without `--json`, at `ZSSO_LOG=trace`, on
//! SQLite and on the PostgreSQL and MySQL servers (`ZSSO_TEST_POSTGRES_URL`,
//! `ZSSO_TEST_MYSQL_URL`; skipped loudly without them, failed with `ZSSO_REQUIRE_SERVERS=1`);
//! every file that holds secrets is 0600; URLs are printed with their password left out or
//! masked.
//!
//! On the servers zsso connects as an account of the test's own that has a password
//! (`zh_pw_zsso_cli_secrets`), dropped at the end; a Zato server directory names the same
//! database with that password stored as Zato stores it, encrypted in secrets.conf.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const TEST: &str = "every_command_keeps_secrets_out_of_its_output";
/// The account the server tests connect as.
const ACCOUNT: &str = "zh_pw_zsso_cli_secrets";
/// Its password.
const DB_PASSWORD: &str = "Zh-Db-Pw-7c41-Secret";
/// The password a user mistypes: not to be shown either.
const WRONG_PASSWORD: &str = "Wrong-Adm1n-Pw-5e2";

/// A database to run every command on.
struct Backend {
    name: &'static str,
    /// Its URL, with the password.
    url: String,
    /// The installation's secrets.conf.
    secrets: PathBuf,
    /// A Zato server directory whose server.conf names the same database.
    server_dir: PathBuf,
    /// Another kind of database, for `inspect --target`.
    other_kind: &'static str,
    /// What no output may show.
    secret: Vec<(String, String)>,
    /// The URL with a port nothing listens on, and how a message must name it.
    dead: (String, String),
    /// URLs with a parameter no driver knows, and how a message must name each.
    invalid: Vec<(String, String)>,
    /// The URL with a wrong password, where the server checks passwords.
    wrong_password: Option<String>,
    /// How the output names the database.
    shown: String,
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// A secrets.conf of another installation: its own key1 and well_known_data.
fn other_secrets(dir: &Path) -> PathBuf {
    other_server(dir).join("config/repo/secrets.conf")
}

/// `secrets.conf` of `conf` with `server_conf.odb.password` set to `password`, encrypted with
/// its key1 as Zato does.
fn with_odb_password(conf: &str, password: &str) -> String {
    let key1 = conf
        .lines()
        .find_map(|l| l.strip_prefix("key1="))
        .unwrap()
        .trim();
    let token = fernet::Fernet::new(key1)
        .unwrap()
        .encrypt(password.as_bytes());
    conf.lines()
        .map(|l| {
            if l.starts_with("server_conf.odb.password=") {
                format!("server_conf.odb.password={token}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// A Zato server directory for a server database: the fixture's server.conf with `[odb]`
/// naming it (the password as a `zato+secret://` reference) and `secrets` holding the password.
fn server_dir_for(
    dir: &Path,
    engine: &str,
    host: &str,
    port: &str,
    db: &str,
    secrets: &Path,
) -> PathBuf {
    let sd = dir.join(format!("server-{engine}"));
    std::fs::create_dir_all(sd.join("config/repo")).unwrap();
    let conf = std::fs::read_to_string(fixture().join("server/config/repo/server.conf")).unwrap();
    let mut out = Vec::new();
    let mut in_odb = false;
    for l in conf.lines() {
        if l.starts_with('[') {
            in_odb = l == "[odb]";
        }
        let key = l.split_once('=').map(|(k, _)| k);
        out.push(match (in_odb, key) {
            (true, Some("engine")) => format!("engine={engine}"),
            (true, Some("db_name")) => format!("db_name={db}"),
            (true, Some("host")) => format!("host={host}"),
            (true, Some("port")) => format!("port={port}"),
            (true, Some("username")) => format!("username={ACCOUNT}"),
            _ => l.to_string(),
        });
    }
    std::fs::write(sd.join("config/repo/server.conf"), out.join("\n") + "\n").unwrap();
    let s = std::fs::read_to_string(secrets).unwrap();
    std::fs::write(
        sd.join("config/repo/secrets.conf"),
        with_odb_password(&s, DB_PASSWORD),
    )
    .unwrap();
    sd
}

/// `scheme://ACCOUNT:PASSWORD@host:port/db` for the host of `url` (any user in it).
fn as_account(url: &str, password: &str, port: Option<&str>) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let hostpart = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    let (host, db) = hostpart.split_once('/').unwrap();
    let host = match port {
        Some(p) => format!("{}:{p}", host.split(':').next().unwrap()),
        None => host.to_string(),
    };
    format!("{scheme}://{ACCOUNT}:{password}@{host}/{db}")
}

fn host_and_port(url: &str, default: &str) -> (String, String) {
    let rest = url.split_once("://").unwrap().1;
    let hostpart = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    let host = hostpart.split('/').next().unwrap();
    let (h, p) = host.split_once(':').unwrap_or((host, default));
    (h.to_string(), p.to_string())
}

/// Runs one invocation, with and without `--json`: nothing secret in its output, and the
/// exit code one of `codes`.
fn run(
    b: &Backend,
    what: &str,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
    codes: &[i32],
) -> [Run; 2] {
    [false, true].map(|json| {
        let mut a: Vec<&str> = args.to_vec();
        if json {
            a.push("--json");
        }
        let r = zsso(&a, env, stdin);
        let what = format!("{}: {what}{}", b.name, if json { " --json" } else { "" });
        assert_none_of(&r, &what, &b.secret);
        assert!(
            codes.contains(&r.code),
            "{what}: exit {}, expected {codes:?}:\n{}\n{}",
            r.code,
            r.stdout,
            r.stderr
        );
        if json {
            r.json();
        }
        r
    })
}

/// A copy of `bundle` whose `file` went through `f`, the manifest made to vouch for it (size
/// and SHA-256), as someone who controls the bundle would do.
fn forged(bundle: &Path, to: &Path, file: &str, f: impl Fn(Vec<u8>) -> Vec<u8>) -> PathBuf {
    copy_dir(bundle, to);
    let p = to.join(file);
    let bytes = f(std::fs::read(&p).unwrap());
    std::fs::write(&p, &bytes).unwrap();
    let m = to.join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
    let sha = {
        let out = std::process::Command::new("sha256sum")
            .arg(&p)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()[..64].to_string()
    };
    for e in v["files"].as_array_mut().unwrap() {
        if e["name"] == file {
            e["size"] = serde_json::json!(bytes.len());
            e["sha256"] = serde_json::json!(sha);
        }
    }
    std::fs::write(&m, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    to.to_path_buf()
}

/// Every command on `b`, succeeding and failing; then the modes of the files it wrote.
fn every_command(b: &Backend, dir: &Path) -> usize {
    let n = std::cell::Cell::new(0);
    let go =
        |what: &str, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>, codes: &[i32]| {
            n.set(n.get() + 2);
            run(b, what, args, env, stdin, codes)
        };
    let url = b.url.as_str();
    let secrets = s(&b.secrets);
    let other = other_secrets(&dir.join("other"));
    let other = s(&other);
    let bundle = dir.join("bundle");
    let bundle_s = s(&bundle);
    let out = |name: &str| dir.join(name).display().to_string();

    // backup: twice (the second run is --json into a bundle of its own), then refusals.
    for (k, json) in [(0, false), (1, true)] {
        let o = if k == 0 {
            bundle.clone()
        } else {
            dir.join("bundle-json")
        };
        let mut a = vec!["backup", "--db", url, "--secrets", secrets, "--out", s(&o)];
        if json {
            a.push("--json");
        }
        let r = zsso(&a, &[], None);
        assert_none_of(&r, &format!("{}: backup", b.name), &b.secret);
        assert_eq!(r.code, 0, "{}: backup: {}", b.name, r.stderr);
        if json {
            assert_eq!(
                r.json()["source"]["database"],
                b.shown.as_str(),
                "{}",
                b.name
            );
        }
        n.set(n.get() + 1);
    }
    let r = go(
        "backup over a bundle",
        &[
            "backup",
            "--db",
            url,
            "--secrets",
            secrets,
            "--out",
            bundle_s,
        ],
        &[],
        None,
        &[2],
    );
    assert!(r[0].stderr.contains("already exists"), "{}", r[0].stderr);
    go(
        "backup with another installation's secrets.conf",
        &[
            "backup",
            "--db",
            url,
            "--secrets",
            other,
            "--out",
            &out("refused"),
        ],
        &[],
        None,
        &[1],
    );
    let r = go(
        "backup of a server that is not there",
        &[
            "backup",
            "--db",
            &b.dead.0,
            "--secrets",
            secrets,
            "--out",
            &out("dead"),
        ],
        &[],
        None,
        &[1],
    );
    for r in &r {
        assert!(
            r.stderr.contains(&b.dead.1),
            "{}: `{}` not in {}",
            b.name,
            b.dead.1,
            r.stderr
        );
    }
    assert!(r[1].json()["error"].as_str().unwrap().contains(&b.dead.1));
    for (invalid, shown) in &b.invalid {
        let r = go(
            "backup of a URL with an unknown parameter",
            &["backup", "--db", invalid, "--out", &out("invalid")],
            &[],
            None,
            &[2],
        );
        for r in &r {
            assert!(
                r.stderr.contains(shown.as_str()),
                "{}: `{shown}` not in {}",
                b.name,
                r.stderr
            );
        }
        assert!(
            r[1].json()["error"]
                .as_str()
                .unwrap()
                .contains(shown.as_str())
        );
    }
    if let Some(w) = &b.wrong_password {
        go(
            "backup with a wrong database password",
            &[
                "backup",
                "--db",
                w,
                "--secrets",
                secrets,
                "--out",
                &out("wrongpw"),
            ],
            &[],
            None,
            &[1],
        );
    }

    // inspect
    go("inspect", &["inspect", bundle_s], &[], None, &[0]);
    go(
        "inspect --target",
        &["inspect", bundle_s, "--target", b.other_kind],
        &[],
        None,
        &[0, 1],
    );

    // verify: as it is, logins right and wrong (from the environment and standard input),
    // another installation's secrets.conf, a server that is not there.
    let v = ["verify", bundle_s, "--db", url, "--secrets", secrets];
    go("verify", &v, &[], None, &[0]);
    let login = [&v[..], &["--login", "admin.zato"]].concat();
    go(
        "verify --login",
        &login,
        &[("ZSSO_PASSWORD", "Adm1n-Zato-ć-2024!")],
        None,
        &[0],
    );
    go(
        "verify --login with a wrong password",
        &login,
        &[("ZSSO_PASSWORD", WRONG_PASSWORD)],
        None,
        &[1],
    );
    let ops = [&v[..], &["--login", "ops.cli"]].concat();
    go(
        "verify --login from stdin",
        &ops,
        &[],
        Some("Ops-Cli-User-2024\n"),
        &[0],
    );
    go(
        "verify --login from stdin, wrong",
        &ops,
        &[],
        Some(&format!("{WRONG_PASSWORD}\n")),
        &[1],
    );
    go(
        "verify with another installation's secrets.conf",
        &["verify", bundle_s, "--db", url, "--secrets", other],
        &[],
        None,
        &[1],
    );
    go(
        "verify of a server that is not there",
        &["verify", bundle_s, "--db", &b.dead.0, "--secrets", secrets],
        &[],
        None,
        &[1],
    );

    // restore: installing secrets.conf twice (so that a .bak is made), then refusals.
    let installed = dir.join("installed/secrets.conf");
    std::fs::create_dir_all(installed.parent().unwrap()).unwrap();
    // What was there before: another installation's file, kept as the .bak.
    std::fs::copy(other, &installed).unwrap();
    go(
        "restore",
        &[
            "restore",
            bundle_s,
            "--db",
            url,
            "--secrets-to",
            s(&installed),
        ],
        &[],
        None,
        &[0],
    );
    let damaged = dir.join("damaged");
    copy_dir(&bundle, &damaged);
    let dump = damaged.join("zato-sso-backup.sql");
    let mut d = std::fs::read(&dump).unwrap();
    let mid = d.len() / 2;
    d[mid] ^= 1;
    std::fs::write(&dump, d).unwrap();
    go(
        "restore of a damaged bundle",
        &["restore", s(&damaged), "--db", url],
        &[],
        None,
        &[1],
    );
    // A bundle whose secrets.conf has a key1 that is not a Fernet key, or another
    // installation's, each with a manifest that vouches for its bytes.
    let bad_key = forged(&bundle, &dir.join("bad-key"), "secrets.conf", |b| {
        let t = String::from_utf8(b).unwrap();
        let k = t.find("key1=").unwrap() + 10;
        let mut t = t.into_bytes();
        t[k] = b'!';
        t
    });
    let r = go(
        "restore with a key1 that is not a key",
        &["restore", s(&bad_key), "--db", url],
        &[],
        None,
        &[1],
    );
    assert!(r[0].stderr.contains("key1"), "{}", r[0].stderr);
    let other_key = forged(&bundle, &dir.join("other-key"), "secrets.conf", |_| {
        std::fs::read(other).unwrap()
    });
    let r = go(
        "restore with another installation's key1",
        &["restore", s(&other_key), "--db", url],
        &[],
        None,
        &[1],
    );
    assert!(r[0].stderr.contains("key1 differs"), "{}", r[0].stderr);
    go(
        "restore into a server that is not there",
        &["restore", bundle_s, "--db", &b.dead.0],
        &[],
        None,
        &[1],
    );
    for (invalid, _) in &b.invalid {
        go(
            "restore into a URL with an unknown parameter",
            &["restore", bundle_s, "--db", invalid],
            &[],
            None,
            &[2],
        );
    }

    // The same through a Zato server directory: its database password decrypted from
    // secrets.conf, restored secrets.conf installed there with a .bak.
    let sd = s(&b.server_dir);
    let sd_bundle = dir.join("sd-bundle");
    let r = zsso(
        &["backup", "--server-dir", sd, "--out", s(&sd_bundle)],
        &[],
        None,
    );
    assert_none_of(&r, &format!("{}: backup --server-dir", b.name), &b.secret);
    assert_eq!(r.code, 0, "{}: {}", b.name, r.stderr);
    assert!(r.stdout.contains(&b.shown), "{}: {}", b.name, r.stdout);
    n.set(n.get() + 1);
    let sdb = s(&sd_bundle);
    go(
        "verify --server-dir",
        &["verify", sdb, "--server-dir", sd, "--login", "admin.zato"],
        &[("ZSSO_PASSWORD", "Adm1n-Zato-ć-2024!")],
        None,
        &[0],
    );
    // The server directory's secrets.conf, edited by hand since: kept as the .bak.
    let in_use = b.server_dir.join("config/repo/secrets.conf");
    let mut edited = std::fs::read(&in_use).unwrap();
    edited.extend_from_slice(b"# edited by hand\n");
    std::fs::write(&in_use, &edited).unwrap();
    go(
        "restore --server-dir",
        &["restore", sdb, "--server-dir", sd],
        &[],
        None,
        &[0],
    );
    go(
        "inspect of the server directory's bundle",
        &["inspect", sdb],
        &[],
        None,
        &[0],
    );

    // Every file that holds secrets is 0600, every bundle directory 0700.
    for bd in [&bundle, &dir.join("bundle-json"), &sd_bundle] {
        assert_eq!(mode(bd), 0o700, "{}", bd.display());
        for f in ["zato-sso-backup.sql", "secrets.conf", "manifest.json"] {
            assert_eq!(
                mode(&bd.join(f)),
                0o600,
                "{}: {}",
                b.name,
                bd.join(f).display()
            );
        }
    }
    let repo = b.server_dir.join("config/repo");
    for f in [
        installed.clone(),
        installed.with_file_name("secrets.conf.bak"),
        repo.join("secrets.conf"),
        repo.join("secrets.conf.bak"),
    ] {
        assert_eq!(mode(&f), 0o600, "{}: {}", b.name, f.display());
    }
    // The installed files are the bundle's, and the .bak what was there before.
    let read = |p: &Path| std::fs::read(p).unwrap();
    assert_eq!(read(&installed), read(&bundle.join("secrets.conf")));
    assert_eq!(
        read(&installed.with_file_name("secrets.conf.bak")),
        read(Path::new(other))
    );
    assert_eq!(read(&in_use), read(&sd_bundle.join("secrets.conf")));
    assert_eq!(read(&repo.join("secrets.conf.bak")), edited);
    n.get()
}

/// The session tokens and stored passwords a database holds, read with its own client.
fn stored_secrets(lines: &str, what: &str) -> Vec<(String, String)> {
    let v: Vec<(String, String)> = lines
        .lines()
        .filter(|l| l.len() >= 10)
        .map(|l| (format!("a stored {what}"), l.to_string()))
        .collect();
    assert!(v.len() >= 5, "{what}: {}", v.len());
    v
}

fn fixture_secrets(fixture_dir: &Path, secrets: &Path) -> Vec<(String, String)> {
    let conf = std::fs::read_to_string(secrets).unwrap();
    let key1 = conf
        .lines()
        .find_map(|l| l.strip_prefix("key1="))
        .unwrap()
        .trim()
        .to_string();
    let mut v = vec![
        ("key1".to_string(), key1),
        ("the database password".to_string(), DB_PASSWORD.to_string()),
        (
            "a mistyped password".to_string(),
            WRONG_PASSWORD.to_string(),
        ),
        (
            "well_known_data decrypted".to_string(),
            "3.141592".to_string(),
        ),
    ];
    v.extend(secrets_in_credentials(
        &fixture_dir.join("credentials.json"),
    ));
    v
}

#[test]
fn every_command_keeps_secrets_out_of_its_output() {
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut counts = Vec::new();

    // SQLite: the fixture server, by URL and as a server directory.
    {
        let d = dir.path().join("sqlite");
        let src = d.join("src");
        copy_dir(&fixture().join("server"), &src);
        let db = src.join("zato.db");
        let mut secret = labelled_secrets_of_fixture();
        secret.push(("a mistyped password".into(), WRONG_PASSWORD.into()));
        let b = Backend {
            name: "sqlite",
            url: format!("sqlite://{}", db.display()),
            secrets: src.join("config/repo/secrets.conf"),
            server_dir: src.clone(),
            other_kind: "postgresql",
            secret,
            dead: (
                "sqlite:///nonexistent/zato.db".into(),
                "/nonexistent/zato.db".into(),
            ),
            invalid: vec![(
                format!("sqlite://{}?mode=ro", db.display()),
                "query parameters are not supported".into(),
            )],
            wrong_password: None,
            shown: format!("sqlite database {}", db.display()),
        };
        counts.push(("sqlite", every_command(&b, &d)));
        // A restore into a new database file: it holds the session tokens and the encrypted
        // passwords, so it is the owner's only, as the bundle's dump is.
        let fresh = d.join("fresh.db");
        let r = zsso(
            &[
                "restore",
                s(&d.join("bundle")),
                "--db",
                &format!("sqlite://{}", fresh.display()),
            ],
            &[],
            None,
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(
            mode(&fresh),
            0o600,
            "a new SQLite database made by a restore"
        );
    }

    // PostgreSQL, as an account with a password.
    if let Some(pg) = pg::PgDb::create(TEST, "cli_secrets") {
        let d = dir.path().join("postgresql");
        std::fs::create_dir_all(&d).unwrap();
        pg.sql(&format!(
            "DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ACCOUNT}') THEN \
               EXECUTE 'DROP OWNED BY {ACCOUNT}'; EXECUTE 'DROP ROLE {ACCOUNT}'; END IF; END $$;\
             CREATE ROLE {ACCOUNT} LOGIN PASSWORD '{DB_PASSWORD}';\
             GRANT ALL ON SCHEMA public TO {ACCOUNT};"
        ));
        let url = as_account(&pg.url, DB_PASSWORD, None);
        // The fixture loaded as the account, so that its tables are the account's.
        let fx = server_fixture("zato-3.2-postgresql");
        let out = std::process::Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-d", &url, "-f"])
            .arg(fx.join("zato-sso.sql"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (host, port) = host_and_port(&pg.url, "5432");
        let secrets = fx.join("secrets.conf");
        let mut secret = fixture_secrets(&fx, &secrets);
        secret.extend(stored_secrets(
            &pg.sql("SELECT ust FROM zato_sso_session"),
            "session token",
        ));
        secret.extend(stored_secrets(
            &pg.sql("SELECT password FROM zato_sso_user"),
            "password",
        ));
        let dead = as_account(&pg.url, DB_PASSWORD, Some("1"));
        let b = Backend {
            name: "postgresql",
            server_dir: server_dir_for(&d, "postgresql+pg8000", &host, &port, &pg.name, &secrets),
            secrets,
            other_kind: "mysql",
            secret,
            dead: (
                dead.clone(),
                format!(
                    "connecting to postgresql://{ACCOUNT}@{host}:1/{} (schema public): ",
                    pg.name
                ),
            ),
            invalid: vec![
                (
                    format!("{url}?sslmod=require"),
                    format!(
                        "invalid database url postgres://{ACCOUNT}:***@{host}:{port}/{}?sslmod=require: unknown parameter `sslmod`",
                        pg.name
                    ),
                ),
                // The driver also takes the password as a parameter.
                (
                    format!(
                        "postgres://{ACCOUNT}@{host}:{port}/{}?password={DB_PASSWORD}&sslmod=require",
                        pg.name
                    ),
                    format!(
                        "invalid database url postgres://{ACCOUNT}@{host}:{port}/{}?password=***&sslmod=require: unknown parameter `sslmod`",
                        pg.name
                    ),
                ),
            ],
            wrong_password: None,
            shown: format!(
                "postgresql://{ACCOUNT}@{host}:{port}/{} (schema public)",
                pg.name
            ),
            url,
        };
        counts.push(("postgresql", every_command(&b, &d)));
        pg.sql(&format!("DROP OWNED BY {ACCOUNT}; DROP ROLE {ACCOUNT};"));
        pg.drop_now();
    }

    // MySQL, as an account with a password (which the server checks).
    if let Some(my) = my::MyDb::create(TEST, "cli_secrets") {
        let d = dir.path().join("mysql");
        std::fs::create_dir_all(&d).unwrap();
        let accounts = format!("'{ACCOUNT}'@'%', '{ACCOUNT}'@'localhost'");
        my.admin(&format!("DROP USER IF EXISTS {accounts}"));
        for host in ["%", "localhost"] {
            my.admin(&format!(
                "CREATE USER '{ACCOUNT}'@'{host}' IDENTIFIED BY '{DB_PASSWORD}';\
                 GRANT ALL ON `{0}`.* TO '{ACCOUNT}'@'{host}';\
                 GRANT ALL ON `zsso\\_new\\_{0}`.* TO '{ACCOUNT}'@'{host}';\
                 GRANT ALL ON `zsso\\_old\\_{0}`.* TO '{ACCOUNT}'@'{host}';",
                my.name.replace('_', "\\_")
            ));
        }
        let fx = server_fixture("zato-3.2-mysql");
        my.load(&fx.join("zato-sso.sql")).unwrap();
        let url = as_account(&my.url, DB_PASSWORD, None);
        let (host, port) = host_and_port(&my.url, "3306");
        let secrets = fx.join("secrets.conf");
        let mut secret = fixture_secrets(&fx, &secrets);
        secret.extend(stored_secrets(
            &my.sql("SELECT ust FROM zato_sso_session"),
            "session token",
        ));
        secret.extend(stored_secrets(
            &my.sql("SELECT password FROM zato_sso_user"),
            "password",
        ));
        let b = Backend {
            name: "mysql",
            server_dir: server_dir_for(&d, "mysql+pymysql", &host, &port, &my.name, &secrets),
            secrets,
            other_kind: "sqlite",
            secret,
            dead: (
                as_account(&my.url, DB_PASSWORD, Some("1")),
                format!("connecting to mysql://{ACCOUNT}@{host}:1/{}: ", my.name),
            ),
            invalid: vec![(
                format!("{url}?sslmod=require"),
                format!(
                    "invalid database url mysql://{ACCOUNT}:***@{host}:{port}/{}?sslmod=require: unknown parameter `sslmod`",
                    my.name
                ),
            )],
            wrong_password: Some(as_account(&my.url, "Wrong-Db-Pw-3b9", None)),
            shown: format!("mysql://{ACCOUNT}@{host}:{port}/{}", my.name),
            url,
        };
        counts.push(("mysql", every_command(&b, &d)));
        my.admin(&format!("DROP USER IF EXISTS {accounts}"));
        my.drop_now();
    }
    eprintln!(
        "runs without a secret in their output: {counts:?}, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
