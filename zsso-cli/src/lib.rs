#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

use clap::{Args, Parser, Subcommand};
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use zsso::bundle::Bundle;
use zsso::progress::Progress;
use zsso::secrets::SecretsConf;
use zsso::server_conf::ServerDir;
use zsso::{Error, Result};

/// Back up, restore and check the Single Sign-On data of a Zato server.
#[derive(Debug, Parser)]
#[command(name = "zsso", version, about, long_about = None)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Returns true if and only if the command was given `--json`.
    pub fn json(&self) -> bool {
        match &self.command {
            Command::Backup(a) => a.json,
            Command::Restore(a) => a.json,
            Command::Verify(a) => a.json,
            Command::Inspect(a) => a.json,
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Back up the SSO tables and secrets.conf into a new bundle directory.
    Backup(BackupArgs),
    /// Restore a bundle (or a plain .sql dump) into a database, all or nothing.
    Restore(RestoreArgs),
    /// Compare a live database with a bundle; prove secrets.conf and a user's password.
    Verify(VerifyArgs),
    /// Check a bundle and show what it holds, without touching any database.
    Inspect(InspectArgs),
}

/// Where the database is. Its `Debug` shows the URL with its password masked.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// A Zato server directory: the database from config/repo/server.conf, secrets from
    /// config/repo/secrets.conf.
    #[arg(long, value_name = "DIR")]
    pub server_dir: Option<PathBuf>,
    /// A database URL, such as sqlite://zato.db or
    /// postgres://user@host:5432/zato?schema=public.
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("server_dir", &self.server_dir)
            .field("db", &self.db.as_deref().map(zsso::error::mask_url))
            .finish()
    }
}

/// `zsso backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The database to back up.
    #[command(flatten)]
    pub target: Target,
    /// With --db: the secrets.conf to put into the bundle.
    #[arg(long, value_name = "FILE", conflicts_with = "server_dir")]
    pub secrets: Option<PathBuf>,
    /// The bundle directory to create; it must not exist.
    #[arg(long, value_name = "BUNDLE")]
    pub out: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `zsso restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A bundle directory, or (for SQLite) a plain .sql file made by
    /// `sqlite3 zato.db ".dump zato_sso_%"`.
    pub source: PathBuf,
    /// The database to restore into.
    #[command(flatten)]
    pub target: Target,
    /// With --db: where to install the bundle's secrets.conf (the old file is kept as .bak).
    #[arg(long, value_name = "FILE", conflicts_with = "server_dir")]
    pub secrets_to: Option<PathBuf>,
    /// Keep tables outside the SSO set whose foreign keys reference it: drop those foreign
    /// keys before the restore and recreate them after (their rows are never touched; the
    /// restore fails if one loses its parent). Without it such tables refuse the restore.
    #[arg(long)]
    pub keep_dependents: bool,
    /// Leave out this foreign key of the dump to a table outside the set, such as Zato's
    /// fk_sso_linked_base_id to sec_base, when the target lacks that table or its rows.
    #[arg(long, value_name = "NAME")]
    pub leave_out_fk: Vec<String>,
    /// For a bundle of another database restored into MySQL: drop the microseconds of
    /// datetimes (MySQL's DATETIME, as Zato creates it, has none) instead of refusing them.
    #[arg(long)]
    pub allow_lost_microseconds: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `zsso verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle to compare with.
    pub bundle: PathBuf,
    /// The live database.
    #[command(flatten)]
    pub target: Target,
    /// With --db: the secrets.conf in use.
    #[arg(long, value_name = "FILE", conflicts_with = "server_dir")]
    pub secrets: Option<PathBuf>,
    /// Check this user's password as `zato sso login` does; the password comes from
    /// $ZSSO_PASSWORD or one line on standard input.
    #[arg(long, value_name = "USERNAME")]
    pub login: Option<String>,
    /// Compare the rows in neutral form, as a restore into another database keeps them
    /// (bytes as the text they encode, datetimes with six digits, columns by name). Implied
    /// when the bundle is of another database than the one checked.
    #[arg(long)]
    pub neutral: bool,
    /// In neutral form, leave the microseconds of datetimes out of the comparison (for data
    /// that went through MySQL); the output says how many of the bundle's had them.
    #[arg(long)]
    pub allow_lost_microseconds: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `zsso inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The bundle directory.
    pub bundle: PathBuf,
    /// Show what restoring the bundle into this kind of database would create, convert and
    /// refuse, without touching any database: sqlite, postgresql (postgres) or mysql
    /// (mariadb).
    #[arg(long, value_name = "DATABASE")]
    pub target: Option<String>,
    /// With --target mysql: drop microseconds of datetimes instead of refusing them.
    #[arg(long, requires = "target")]
    pub allow_lost_microseconds: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

static STDOUT_FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes one line of results on stdout; a failure (a closed pipe, a full disk) is recorded
/// for [`stdout_failed`] instead of panicking.
pub fn emit(line: &str) {
    let mut o = std::io::stdout().lock();
    if writeln!(o, "{line}").and_then(|_| o.flush()).is_err() {
        STDOUT_FAILED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Returns true if and only if writing a result on stdout failed.
pub fn stdout_failed() -> bool {
    STDOUT_FAILED.load(std::sync::atomic::Ordering::Relaxed)
}

macro_rules! outln {
    ($($t:tt)*) => {
        emit(&format!($($t)*))
    };
}

/// Progress on stderr: a bar per table on a terminal, a line every two seconds otherwise,
/// and with `--json` one JSON object per line (`event`: `step`, `progress`, `table_done`,
/// `warning`), so that stdout holds only the result.
pub struct StderrProgress {
    tty: bool,
    json: bool,
    state: std::sync::Mutex<TableState>,
}

/// The table whose rows are being counted.
#[derive(Default)]
struct TableState {
    table: String,
    started: Option<std::time::Instant>,
    last: Option<std::time::Instant>,
    bar: Option<indicatif::ProgressBar>,
}

impl StderrProgress {
    /// Progress for this process's stderr; `json` for machine-readable lines.
    pub fn new(json: bool) -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            json,
            state: std::sync::Mutex::new(TableState::default()),
        }
    }

    fn event(&self, v: serde_json::Value) {
        eprintln!("{v}");
    }

    fn state(&self) -> std::sync::MutexGuard<'_, TableState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the current bar, if there is one.
    fn clear_bar(&self) {
        if let Some(b) = self.state().bar.take() {
            b.finish_and_clear();
        }
    }
}

impl Default for StderrProgress {
    fn default() -> Self {
        Self::new(false)
    }
}

/// `n` bytes in MiB, with one decimal.
fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
}

impl Progress for StderrProgress {
    fn step(&self, message: &str) {
        if self.json {
            self.event(json!({"event": "step", "message": message}));
        } else {
            self.clear_bar();
            eprintln!("zsso: {message}");
        }
    }
    fn advance(&self, p: &zsso::progress::TableProgress<'_>) {
        let now = std::time::Instant::now();
        let mut s = self.state();
        if s.table != p.table || s.started.is_none() {
            if let Some(b) = s.bar.take() {
                b.finish_and_clear();
            }
            *s = TableState {
                table: p.table.to_string(),
                started: Some(now),
                last: None,
                bar: None,
            };
        }
        if p.rows == 0 {
            // The table starts: the clock is set, nothing to show yet.
            return;
        }
        let secs = now.duration_since(s.started.unwrap_or(now)).as_secs_f64();
        let rate = if secs > 0.0 {
            p.rows as f64 / secs
        } else {
            0.0
        };
        // An estimate that the rows have passed (PostgreSQL's and MySQL's statistics lag
        // behind) is no total any more.
        let total_rows = p.total_rows.filter(|t| *t >= p.rows);
        let left = total_rows
            .filter(|_| rate > 0.0)
            .map(|t| (t - p.rows) as f64 / rate);
        if self.tty && !self.json {
            let bar = s.bar.get_or_insert_with(|| {
                let b = match p.total_rows {
                    Some(t) => indicatif::ProgressBar::new(t),
                    None => indicatif::ProgressBar::new_spinner(),
                };
                let template = if p.total_rows.is_some() {
                    "zsso: {prefix} [{bar:30}] {pos}/{len} rows, {msg}, {per_sec}, {eta} left"
                } else {
                    "zsso: {prefix} {spinner} {pos} rows, {msg}, {per_sec}"
                };
                if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                    b.set_style(style.progress_chars("=> "));
                }
                b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                b.set_prefix(p.table.to_string());
                b
            });
            bar.set_position(p.rows);
            bar.set_message(mib(p.bytes));
            return;
        }
        // Lines: at most one every two seconds (every second with --json).
        let every = if self.json { 1.0 } else { 2.0 };
        if s.last
            .is_some_and(|l| now.duration_since(l).as_secs_f64() < every)
        {
            return;
        }
        s.last = Some(now);
        if self.json {
            self.event(json!({
                "event": "progress",
                "table": p.table,
                "rows": p.rows,
                "bytes": p.bytes,
                "total_rows": total_rows,
                "rows_per_second": rate.round(),
                "seconds_left": left.map(|l| (l * 10.0).round() / 10.0),
            }));
        } else {
            let total = total_rows.map(|t| format!("/{t}")).unwrap_or_default();
            let left = left.map(|l| format!(", {l:.0} s left")).unwrap_or_default();
            eprintln!(
                "zsso: {}: {}{total} rows, {}, {:.0} rows/s{left}",
                p.table,
                p.rows,
                mib(p.bytes),
                rate
            );
        }
    }
    fn table_done(&self, table: &str, rows: u64) {
        let secs = {
            let mut s = self.state();
            if s.table != table {
                // Another table has started already (a dump's rows of one table end when
                // the next one's begin).
                None
            } else {
                if let Some(b) = s.bar.take() {
                    b.finish_and_clear();
                }
                let secs = s.started.map(|t| t.elapsed().as_secs_f64());
                *s = TableState::default();
                secs
            }
        };
        if self.json {
            self.event(
                json!({"event": "table_done", "table": table, "rows": rows, "seconds": secs}),
            );
        } else {
            eprintln!("zsso: {table}: {rows} rows");
        }
    }
    fn warning(&self, message: &str) {
        if self.json {
            self.event(json!({"event": "warning", "message": message}));
        } else {
            self.clear_bar();
            eprintln!("zsso: warning: {message}");
        }
    }
}

/// A resolved `--server-dir`/`--db` pair.
struct Resolved {
    location: zsso::Location,
    /// The server directory's secrets.conf, when --server-dir was given.
    server_secrets: Option<PathBuf>,
}

fn resolve(t: &Target) -> Result<Resolved> {
    match (&t.server_dir, &t.db) {
        (Some(dir), None) => {
            let sd = ServerDir::open(dir)?;
            Ok(Resolved {
                location: zsso::server_dir_location(&sd)?,
                server_secrets: Some(sd.secrets_path()),
            })
        }
        (None, Some(url)) => Ok(Resolved {
            location: zsso::parse_url(url)?,
            server_secrets: None,
        }),
        _ => Err(Error::Usage(
            "give exactly one of --server-dir and --db".into(),
        )),
    }
}

fn print_json(v: &serde_json::Value) {
    outln!(
        "{}",
        serde_json::to_string_pretty(v).expect("JSON values always encode")
    );
}

/// What a command's outcome means for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything is as it should be.
    Ok,
    /// The command ran but found differences (verify).
    Differs,
}

/// Runs one command, printing its result on stdout.
pub async fn run(cli: Cli) -> Result<Outcome> {
    let progress = StderrProgress::new(cli.json());
    match cli.command {
        Command::Backup(a) => backup(a, &progress).await,
        Command::Restore(a) => restore(a, &progress).await,
        Command::Verify(a) => verify(a, &progress).await,
        Command::Inspect(a) => inspect(a),
    }
}

async fn backup(a: BackupArgs, progress: &StderrProgress) -> Result<Outcome> {
    let r = resolve(&a.target)?;
    let secrets = a.secrets.or(r.server_secrets);
    let report = zsso::backup_at(&r.location, secrets.as_deref(), &a.out, progress).await?;
    let m = &report.manifest;
    if a.json {
        print_json(&json!({
            "bundle": report.bundle,
            "source": m.source,
            "created_at": m.created_at,
            "tables": m.tables,
            "files": m.files,
            "secrets": m.secrets.is_some(),
            "orphans": m.orphans,
            "warnings": report.warnings,
        }));
    } else {
        let rows: u64 = m.tables.iter().map(|t| t.rows).sum();
        outln!(
            "backed up {} tables ({rows} rows) of {} to {}",
            m.tables.len(),
            m.source.database,
            report.bundle.display()
        );
        for t in &m.tables {
            outln!("  {:<26} {:>9} rows", t.name, t.rows);
        }
        outln!(
            "  secrets.conf: {}",
            if m.secrets.is_some() {
                "included (mode 0600)"
            } else {
                "not included"
            }
        );
    }
    Ok(Outcome::Ok)
}

async fn restore(a: RestoreArgs, progress: &StderrProgress) -> Result<Outcome> {
    let r = resolve(&a.target)?;
    let secrets_to = a.secrets_to.or(r.server_secrets);
    let options = zsso::restore::RestoreOptions {
        keep_dependents: a.keep_dependents,
        leave_out_fks: a.leave_out_fk.clone(),
        cross: zsso::cross::CrossOptions {
            drop_microseconds: a.allow_lost_microseconds,
        },
    };
    let report = zsso::restore_at(
        &a.source,
        &r.location,
        secrets_to.as_deref(),
        &options,
        progress,
    )
    .await?;
    if a.json {
        print_json(&serde_json::to_value(&report).expect("reports encode"));
    } else {
        let rows: u64 = report.tables.iter().map(|t| t.1).sum();
        outln!(
            "restored {} tables ({rows} rows) into {}",
            report.tables.len(),
            report.database
        );
        for (t, n) in &report.tables {
            outln!("  {t:<26} {n:>9} rows");
        }
        outln!(
            "  checked: {}",
            if report.verified_against_manifest {
                "row counts and digests equal the manifest's"
            } else {
                "row counts equal the dump's (no manifest, no integrity proof)"
            }
        );
        if let Some(c) = &report.conversion {
            let n = &c.conversions;
            outln!(
                "  converted from the {} bundle into Zato's own {} schema: {} BLOBs and {} \\x hex texts of bytes became the text they encode",
                c.source,
                c.target,
                n.blobs_to_text,
                n.hex_to_text
            );
            if c.options.drop_microseconds {
                outln!(
                    "  {} datetimes lost their microseconds, as allowed",
                    n.microseconds_dropped
                );
            }
            for e in c.extras.iter().chain(&c.filled) {
                outln!("  {e}");
            }
        }
        if let Some(e) = &report.encrypted {
            outln!("  key1 decrypts all {} encrypted values", e.decrypted);
        }
        if let Some(s) = &report.secrets {
            outln!("  secrets.conf installed at {}", s.path.display());
            if let Some(b) = &s.backup {
                outln!("  the previous secrets.conf is at {}", b.display());
            }
        }
    }
    Ok(Outcome::Ok)
}

fn read_password() -> Result<String> {
    if let Ok(p) = std::env::var("ZSSO_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::io("cannot read the password from", "standard input", e))?;
    if line.is_empty() {
        return Err(Error::Usage(
            "--login needs the password in $ZSSO_PASSWORD or as a line on standard input".into(),
        ));
    }
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    Ok(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_string())
}

async fn verify(a: VerifyArgs, progress: &StderrProgress) -> Result<Outcome> {
    let r = resolve(&a.target)?;
    let bundle = Bundle::open(&a.bundle)?;
    let secrets_path = a.secrets.or(r.server_secrets);
    let secrets = secrets_path.as_deref().map(SecretsConf::read).transpose()?;
    let password = match &a.login {
        Some(_) => Some(read_password()?),
        None => None,
    };
    let login = a.login.as_deref().zip(password.as_deref());
    let mut dumper = zsso::open_dumper_at(&r.location).await?;
    let neutral = zsso::neutral_digests_for(
        &bundle,
        dumper.dialect(),
        a.neutral,
        a.allow_lost_microseconds,
        progress,
    )?;
    let report = zsso::verify::verify_with(
        &bundle,
        dumper.as_mut(),
        secrets.as_ref(),
        login,
        neutral.as_ref(),
        progress,
    )
    .await?;
    if a.json {
        let mut v = serde_json::to_value(&report).expect("reports encode");
        v["ok"] = json!(report.ok());
        print_json(&v);
    } else {
        for t in &report.tables {
            let state = match t.rows {
                None => "missing".to_string(),
                Some(n) if t.ok => format!("{n} rows, digest equal"),
                Some(n) => format!("{n} rows (bundle: {}), DIFFERS", t.expected_rows),
            };
            outln!("  {:<26} {state}", t.name);
        }
        if let Some(s) = &report.secrets {
            outln!(
                "  secrets.conf {}: key1 {} well_known_data; {} encrypted values decrypt, {} do not",
                s.path.display(),
                if s.well_known {
                    "decrypts"
                } else {
                    "does NOT decrypt"
                },
                s.encrypted.decrypted,
                s.encrypted.failed
            );
        }
        if report.secrets.is_none() {
            outln!("  secrets.conf: not checked (give --server-dir or --secrets)");
        }
        if let Some(l) = &report.login {
            let state = if l.ok { "password matches" } else { "FAILED" };
            outln!("  login of {}: {state}", l.username);
        }
        for n in &report.notes {
            outln!("  {n}");
        }
        if let Some(n) = &report.neutral {
            outln!(
                "  compared in neutral form with the {} bundle (bytes as text, datetimes with six digits, columns by name)",
                n.from_dialect
            );
            if let Some(k) = n.microseconds_dropped {
                outln!(
                    "  microseconds left out of the comparison, as allowed: {k} datetimes of the bundle had them"
                );
            }
        }
        if report.ok() {
            outln!(
                "verified: {} matches {}",
                report.database,
                bundle.dir.display()
            );
        } else {
            outln!("NOT verified: {} problems", report.problems.len());
            for p in &report.problems {
                outln!("  - {p}");
            }
        }
    }
    Ok(if report.ok() {
        Outcome::Ok
    } else {
        Outcome::Differs
    })
}

fn inspect(a: InspectArgs) -> Result<Outcome> {
    let b = Bundle::open(&a.bundle)?;
    if let Some(target) = &a.target {
        return inspect_target(&b, target, a.allow_lost_microseconds, a.json);
    }
    let m = &b.manifest;
    if a.json {
        let mut v = serde_json::to_value(m).expect("manifests encode");
        v["checked"] = json!(true);
        print_json(&v);
        return Ok(Outcome::Ok);
    }
    outln!(
        "bundle {} (format {} {}), checked: every file's size and sha256 match",
        b.dir.display(),
        m.format,
        m.format_version
    );
    outln!(
        "  written by {} {} at {}",
        m.tool.name,
        m.tool.version,
        m.created_at
    );
    outln!(
        "  source: {} {} ({})",
        m.source.dialect,
        m.source.server_version,
        m.source.database
    );
    for t in &m.tables {
        let st = m.schema.table(&t.name);
        let (idx, trg) = st
            .map(|s| (s.indexes.len(), s.triggers.len()))
            .unwrap_or((0, 0));
        outln!(
            "  {:<26} {:>9} rows  {idx} indexes  {trg} triggers  {}",
            t.name,
            t.rows,
            t.digest
        );
    }
    for f in &m.files {
        outln!(
            "  file {:<22} {:>10} bytes  sha256 {}",
            f.name,
            f.size,
            f.sha256
        );
    }
    match &m.secrets {
        Some(s) => outln!(
            "  secrets.conf: included, key1 fingerprint {}",
            s.key1_fingerprint
        ),
        None => outln!("  secrets.conf: not included"),
    }
    if !m.orphans.is_empty() {
        outln!(
            "  {} rows in the source referenced missing parents",
            m.orphans.len()
        );
    }
    Ok(Outcome::Ok)
}

/// Prints an error with its whole chain on stderr (and, with `--json`, as JSON on stdout).
pub fn report_error(e: &Error, json: bool) {
    let msg = zsso::error::chain(e);
    eprintln!("zsso: error: {msg}");
    if json {
        print_json(&json!({ "ok": false, "error": msg }));
    }
}

/// The exit code for an error: 2 for wrong arguments, 1 for everything else.
pub fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Usage(_) | Error::InvalidUrl { .. } | Error::UnsupportedScheme { .. } => 2,
        _ => 1,
    }
}

/// `zsso inspect --target`: the plan of a restore into another kind of database.
fn inspect_target(
    b: &Bundle,
    target: &str,
    drop_microseconds: bool,
    json: bool,
) -> Result<Outcome> {
    let name = match target.to_ascii_lowercase().as_str() {
        "sqlite" => "sqlite",
        "postgres" | "postgresql" => "postgresql",
        "mysql" | "mariadb" => "mysql",
        _ => {
            return Err(Error::Usage(format!(
                "--target {target}: give sqlite, postgresql or mysql"
            )));
        }
    };
    let unknown = |d: &str| Error::Usage(format!("this build has no {d} backend"));
    let from = zsso::dialect_named(&b.manifest.source.dialect)
        .ok_or_else(|| unknown(&b.manifest.source.dialect))?;
    let to = zsso::dialect_named(name).ok_or_else(|| unknown(name))?;
    if from.name() == to.name() {
        return Err(Error::Usage(format!(
            "the bundle is already a {name} bundle: it restores into {name} as it is"
        )));
    }
    let cross =
        zsso::cross::Cross::new(b, from, to, zsso::cross::CrossOptions { drop_microseconds })?;
    let plan = cross.plan(&zsso::progress::Silent)?;
    let refused = plan.problem_count > 0;
    if json {
        let mut v = serde_json::to_value(&plan).expect("plans encode");
        v["refused"] = json!(refused);
        print_json(&v);
    } else {
        outln!(
            "restoring the {} bundle {} into {name} (nothing was touched to find this out):",
            from.name(),
            b.dir.display()
        );
        outln!("creates Zato's own {name} schema:");
        for t in &plan.tables {
            outln!("  {} ({} rows, next id {})", t.name, t.rows, t.next_id);
            for s in &t.statements {
                for line in s.lines() {
                    outln!("    {line}");
                }
            }
        }
        for (q, next) in &plan.sequences {
            outln!("  sequence {q}, next value {next}");
        }
        for e in plan.extras.iter().chain(&plan.filled) {
            outln!("  {e}");
        }
        let c = &plan.conversions;
        outln!("converts:");
        outln!(
            "  {} bytes held as BLOBs in text columns become the text they encode",
            c.blobs_to_text
        );
        outln!(
            "  {} PostgreSQL \\x... hex texts of bytes become the text they encode",
            c.hex_to_text
        );
        if name == "mysql" {
            outln!(
                "  {} datetimes lose their microseconds{}",
                c.microseconds_dropped,
                if drop_microseconds { " (allowed)" } else { "" }
            );
            outln!(
                "  unique keys equal under utf8mb4_unicode_ci are found at restore time, by the server's own collation"
            );
        }
        if refused {
            outln!(
                "refuses: {} values the target cannot hold exactly:",
                plan.problem_count
            );
            for p in &plan.problems {
                outln!("  {p}");
            }
        } else {
            outln!("refuses: nothing");
        }
    }
    Ok(if refused {
        Outcome::Differs
    } else {
        Outcome::Ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_form_of_the_arguments_masks_the_database_password() {
        for args in [
            &[
                "zsso",
                "backup",
                "--db",
                "postgres://zato:s3cret-Pw@db/zato",
                "--out",
                "b",
            ][..],
            &[
                "zsso",
                "verify",
                "b",
                "--db",
                "mysql://zato:s3cret-Pw@db/zato",
            ][..],
            &[
                "zsso",
                "restore",
                "b",
                "--db",
                "postgres://zato@db/zato?password=s3cret-Pw",
            ][..],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            let dbg = format!("{cli:?}");
            assert!(!dbg.contains("s3cret"), "{dbg}");
            assert!(dbg.contains("zato"), "{dbg}");
        }
    }
}
