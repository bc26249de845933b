//! The restore algorithm: check everything, then load in one transaction, re-digest, commit.

use crate::backend::{CopyIn, CopySource, Dependent, Orphan, Restorer};
use crate::bundle::Bundle;
use crate::catalogue::is_sso_table;
use crate::dialect::Dialect;
use crate::error::{Error, Result};
use crate::guard::{self, Kind};
use crate::progress::{Progress, Warnings};
use crate::schema::{Schema, Sequence, Table};
use crate::secrets::{self, InstallReport, SecretsConf};
use crate::sqlscan::{HashingReader, Statement, StatementReader};
use crate::verify::{self, EncryptedCheck, RestorerRows};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// What to restore from.
#[derive(Debug, Clone)]
pub enum RestoreSource {
    /// A zsso bundle, checked by [`Bundle::open`], or by [`Bundle::open_deferring_dump_hash`]
    /// (then [`RestoreSource::check`] checks the dump's SHA-256 as it reads every statement,
    /// before the target is touched).
    Bundle(Box<Bundle>),
    /// A plain `.sql` dump (such as `sqlite3 zato.db ".dump zato_sso_%"`), which has no
    /// manifest and so no integrity proof.
    PlainSql(PathBuf),
}

impl RestoreSource {
    /// A directory is opened (and checked, the dump's SHA-256 when [`RestoreSource::check`]
    /// reads it) as a bundle, a file as a plain dump.
    pub fn open(path: &Path) -> Result<Self> {
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            // A database URL given in the bundle's place is not echoed with its password.
            Err(_) if path.to_string_lossy().contains("://") => {
                return Err(Error::Usage(format!(
                    "{} is not a bundle directory or a .sql file but looks like a database URL: the target goes after --db",
                    crate::error::mask_url(&path.to_string_lossy())
                )));
            }
            Err(e) => return Err(Error::io("cannot open", path, e)),
        };
        if meta.is_dir() {
            Ok(RestoreSource::Bundle(Box::new(
                Bundle::open_deferring_dump_hash(path)?,
            )))
        } else if meta.len() == 0 {
            Err(Error::bundle(path, "is empty"))
        } else {
            Ok(RestoreSource::PlainSql(path.to_path_buf()))
        }
    }

    /// The dump file.
    pub fn dump_path(&self) -> PathBuf {
        match self {
            RestoreSource::Bundle(b) => b.dump_path(),
            RestoreSource::PlainSql(p) => p.clone(),
        }
    }
}

/// Choices a restore leaves to the user; the default refuses whatever it cannot restore
/// without touching something outside the SSO tables.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Keep tables outside the restored set whose foreign keys reference it: their foreign
    /// keys are dropped and recreated around the restore (never their rows), and the restore
    /// fails if a row of theirs loses its parent.
    pub keep_dependents: bool,
    /// Foreign keys of the dump to tables outside the set (such as Zato's
    /// `fk_sso_linked_base_id` to `sec_base`) that are left out of the restore, by name.
    pub leave_out_fks: Vec<String>,
    /// The losses allowed when the bundle is of another dialect than the target.
    pub cross: crate::cross::CrossOptions,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The target database.
    pub database: String,
    /// Whether the source was a bundle (with integrity proof) or a plain dump (without).
    pub verified_against_manifest: bool,
    /// The restored tables with their row counts, in the dump's order.
    pub tables: Vec<(String, u64)>,
    /// How many statements of the dump ran.
    pub statements: u64,
    /// Rows that reference missing parents after the restore (all recorded in the source's
    /// manifest for a bundle).
    pub orphans: Vec<Orphan>,
    /// What decrypting every encrypted value with the bundle's key1 found.
    pub encrypted: Option<EncryptedCheck>,
    /// Where the bundle's secrets.conf was installed.
    pub secrets: Option<InstalledSecrets>,
    /// Things the user should know.
    pub warnings: Vec<String>,
    /// For a bundle of another dialect: what its conversion for the target did.
    pub conversion: Option<crate::cross::CrossPlan>,
}

/// Where a secrets.conf was installed.
#[derive(Debug, Clone, Serialize)]
pub struct InstalledSecrets {
    /// The installed file.
    pub path: PathBuf,
    /// Where the file it replaced was saved.
    pub backup: Option<PathBuf>,
}

impl From<InstallReport> for InstalledSecrets {
    fn from(r: InstallReport) -> Self {
        Self {
            path: r.path,
            backup: r.backup,
        }
    }
}

/// What the first pass over a dump found.
#[derive(Debug, Default)]
struct Plan {
    /// Tables created, in the dump's order, with the rows it inserts into each.
    tables: Vec<(String, u64)>,
    /// Sequences created, in the dump's order.
    sequences: Vec<String>,
    /// Foreign keys to tables outside the set: (table, constraint, referenced table).
    external_fks: Vec<(String, String, String)>,
    /// Sequences whose state the dump sets.
    set_sequences: Vec<String>,
    statements: u64,
    sha256: String,
    bytes: u64,
}

impl Plan {
    fn rows_of(&self, table: &str) -> Option<u64> {
        self.tables
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(table))
            .map(|(_, r)| *r)
    }

    fn rows_mut(&mut self, table: &str) -> Option<&mut u64> {
        self.tables
            .iter_mut()
            .find(|(t, _)| t.eq_ignore_ascii_case(table))
            .map(|(_, r)| r)
    }
}

/// The COPY data read from the dump at a time, in whole lines (1 MiB and the end of a line).
const COPY_CHUNK: usize = 1 << 20;

fn open_dump(path: &Path) -> Result<HashingReader> {
    let f = File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    HashingReader::new(f).map_err(|e| Error::io("cannot start a thread to read", path, e))
}

/// Reads the whole dump once, guarding every statement, before anything runs.
fn plan(path: &Path, dialect: &dyn Dialect) -> Result<Plan> {
    let mut r = StatementReader::new(open_dump(path)?, path, dialect.lexer());
    let mut plan = Plan::default();
    // The line of a `BEGIN` not yet committed: a dump that opens a transaction and ends
    // before its `COMMIT` was cut short (`sqlite3` would roll it all back).
    let mut open: Option<usize> = None;
    while let Some(stmt) = r.next_statement()? {
        let kind = guard::classify(&stmt, path, dialect.lexer().syntax)?;
        let refuse = |reason: String| Error::Dump {
            path: path.to_path_buf(),
            line: stmt.line,
            reason,
        };
        match &kind {
            Kind::Begin => {
                if let Some(at) = open {
                    return Err(refuse(format!(
                        "begins a transaction inside the one begun at line {at}"
                    )));
                }
                open = Some(stmt.line);
            }
            Kind::Commit => open = None,
            Kind::CreateTable { table } => {
                if plan.rows_mut(table).is_some() {
                    return Err(refuse(format!("creates {table} a second time")));
                }
                plan.tables.push((table.clone(), 0));
                for (name, parent) in guard::inline_foreign_keys(&stmt.tokens) {
                    if !is_sso_table(&parent) {
                        plan.external_fks.push((table.clone(), name, parent));
                    }
                }
            }
            Kind::Insert { table, rows } => match plan.rows_mut(table) {
                Some(r) => *r += rows,
                None => {
                    return Err(refuse(format!(
                        "inserts into {table} before (or without) creating it"
                    )));
                }
            },
            Kind::CreateIndex { table, .. }
            | Kind::CreateTrigger { table, .. }
            | Kind::AddConstraint { table, .. }
            | Kind::SequenceOwner { table, .. }
                if plan.rows_mut(table).is_none() =>
            {
                return Err(refuse(format!(
                    "changes {table}, which the dump does not create (or not before this)"
                )));
            }
            Kind::SetSequence { name } => plan.set_sequences.push(name.clone()),
            Kind::CreateSequence { name } => {
                if plan.sequences.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                    return Err(refuse(format!("creates sequence {name} a second time")));
                }
                plan.sequences.push(name.clone());
            }
            Kind::Copy { table, columns, .. } => {
                if plan.rows_mut(table).is_none() {
                    return Err(refuse(format!(
                        "copies into {table} before (or without) creating it"
                    )));
                }
                let mut scratch = Vec::new();
                while r.read_copy_data(*columns, &mut scratch, COPY_CHUNK)? {
                    scratch.clear();
                }
                let rows = r.copy_rows();
                *plan.rows_mut(table).expect("checked above") += rows;
            }
            _ => {}
        }
        if let Kind::AddConstraint {
            table,
            name,
            references: Some(parent),
        } = &kind
        {
            plan.external_fks
                .push((table.clone(), name.clone(), parent.clone()));
        }
        plan.statements += 1;
    }
    if let Some(at) = open {
        return Err(Error::Dump {
            path: path.to_path_buf(),
            line: at,
            reason: "begins a transaction that the dump never commits: it ends before its COMMIT, cut short".into(),
        });
    }
    let inner = r.into_inner();
    plan.sha256 = inner.sha256_hex().unwrap_or_default();
    plan.bytes = inner.bytes_read();
    if plan.tables.is_empty() {
        return Err(Error::Dump {
            path: path.to_path_buf(),
            line: 1,
            reason: "the dump creates no SSO table".into(),
        });
    }
    Ok(plan)
}

impl RestoreSource {
    /// Checks the source whole for a target of `dialect`, before any database is opened: the
    /// result is what [`restore_checked`] restores.
    ///
    /// # Behavior
    /// - A bundle must be of `dialect`, and its secrets.conf must be the one its manifest
    ///   vouches for and prove its key1 against its own `well_known_data`.
    /// - Every statement of the dump passes [`guard::classify`], and its tables and row counts
    ///   must be those of the manifest.
    /// - The dump's SHA-256 is checked here if [`Bundle::open_deferring_dump_hash`] left it;
    ///   damage is named as damage, also where it made a statement fail first.
    /// - Nothing outside the source is read or written; warnings (such as that a plain dump
    ///   carries no integrity proof) go to `progress` and into the restore's report.
    pub fn check(
        &self,
        dialect: &'static dyn Dialect,
        progress: &dyn Progress,
    ) -> Result<CheckedSource<'_>> {
        let dump = self.dump_path();
        let mut warnings = Warnings::new(progress);
        let bundle = match self {
            RestoreSource::Bundle(b) => Some(b.as_ref()),
            RestoreSource::PlainSql(_) if dialect.name() != "sqlite" => {
                return Err(Error::Usage(format!(
                    "{} is a plain SQL file: zsso restores plain dumps into SQLite only; restore a zsso bundle into a {} database",
                    dump.display(),
                    dialect.name()
                )));
            }
            RestoreSource::PlainSql(_) => {
                warnings.add(
                    format!(
                        "{} is a plain SQL dump: it has no manifest, so there is no integrity proof; it is checked against its own row counts only",
                        dump.display()
                    ),
                );
                None
            }
        };
        if let Some(b) = bundle
            && b.manifest.source.dialect != dialect.name()
        {
            return Err(Error::Usage(format!(
                "the bundle holds a {} dump and the target is {}: convert it first (zsso::cross; `zsso restore` does it)",
                b.manifest.source.dialect,
                dialect.name()
            )));
        }
        // The bundle's secrets.conf must prove itself before anything changes.
        let mut bundle_secrets: Option<SecretsConf> = None;
        if let Some(p) = bundle.and_then(Bundle::secrets_path) {
            progress.step("checking the bundle's secrets.conf");
            let s = SecretsConf::read(&p)?;
            // The bytes installed later are these: they must be the ones the manifest vouches for.
            let entry = bundle.and_then(|b| b.manifest.file(crate::bundle::SECRETS_FILE));
            if entry.is_some_and(|e| e.sha256 != sha256_hex(s.raw())) {
                return Err(Error::bundle(&p, "changed while it was being read"));
            }
            let key = s.key1()?;
            s.prove_well_known(&key)?;
            if let Some(info) = bundle.and_then(|b| b.manifest.secrets.as_ref())
                && info.key1_fingerprint != key.fingerprint()
            {
                return Err(Error::bundle(
                    &p,
                    "key1 differs from the one the manifest records",
                ));
            }
            bundle_secrets = Some(s);
        }
        progress.step(&format!("checking every statement of {}", dump.display()));
        let plan = match (plan(&dump, dialect), bundle) {
            // A dump whose hash was left to this pass: damage is named as damage, even where it
            // made a statement fail first.
            (Err(e), Some(b)) if !b.dump_hash_checked() => {
                b.check_dump_sha256(&crate::bundle::sha256_file(&dump)?)?;
                return Err(e);
            }
            (plan, _) => plan?,
        };
        if let Some(b) = bundle {
            if !b.dump_hash_checked() {
                b.check_dump_sha256(&plan.sha256)?;
            }
            let entry = b.manifest.file(crate::bundle::DUMP_FILE);
            if entry.is_some_and(|e| e.sha256 != plan.sha256 || e.size != plan.bytes) {
                return Err(Error::bundle(&dump, "changed while it was being read"));
            }
            for (t, rows) in &plan.tables {
                match b.manifest.table(t) {
                    Some(s) if s.rows == *rows => {}
                    Some(s) => {
                        return Err(Error::bundle(
                            &dump,
                            format!("inserts {rows} rows into {t}, the manifest says {}", s.rows),
                        ));
                    }
                    None => {
                        return Err(Error::bundle(
                            &dump,
                            format!("creates {t}, which the manifest does not list"),
                        ));
                    }
                }
            }
            for s in &b.manifest.tables {
                if !plan
                    .tables
                    .iter()
                    .any(|(t, _)| t.eq_ignore_ascii_case(&s.name))
                {
                    return Err(Error::bundle(
                        &dump,
                        format!("does not create {}, which the manifest lists", s.name),
                    ));
                }
            }
        }
        Ok(CheckedSource {
            source: self,
            dialect,
            plan,
            secrets: bundle_secrets,
            warnings: warnings.into_vec(),
        })
    }
}

/// A source that [`RestoreSource::check`] found whole, for one target dialect.
pub struct CheckedSource<'a> {
    source: &'a RestoreSource,
    dialect: &'static dyn Dialect,
    plan: Plan,
    secrets: Option<SecretsConf>,
    warnings: Vec<String>,
}

impl std::fmt::Debug for CheckedSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedSource")
            .field("dump", &self.source.dump_path())
            .field("dialect", &self.dialect.name())
            .field("tables", &self.plan.tables)
            .field("secrets", &self.secrets)
            .finish()
    }
}

impl CheckedSource<'_> {
    /// The tables the dump creates, in its order, with the rows it inserts into each.
    pub fn tables(&self) -> &[(String, u64)] {
        &self.plan.tables
    }
}

/// Restores a bundle or a plain dump into the database behind `restorer`; with `secrets_to`,
/// installs the bundle's secrets.conf there afterwards.
///
/// # Behavior
/// - A bundle is checked completely first: manifest, format version, every file's size and
///   SHA-256, the dialect, and its secrets.conf's key1 against its `well_known_data`.
/// - The dump is untrusted: every statement passes [`guard::classify`] before anything runs.
/// - A table outside the restored set that references one of its tables refuses the restore
///   before anything changes.
/// - Everything runs in one transaction (on a database whose DDL is not transactional, in
///   tables of the restore's own that one atomic rename swaps in: see
///   [`Capabilities::atomic_restore`](crate::backend::Capabilities)). Before commit every table is recounted and
///   re-digested (against the manifest, or against the dump's own row counts for a plain
///   dump), the foreign keys are checked, and with a key every encrypted value is decrypted.
///   Any failure rolls back: the target is as it was.
/// - The source is checked by [`RestoreSource::check`] first, with `restorer` already open;
///   calling that check and then [`restore_checked`], opening the restorer in between (as the
///   `zsso` facade's `restore_at` does), leaves a target unread by a source that is refused.
pub async fn restore(
    source: &RestoreSource,
    restorer: &mut dyn Restorer,
    secrets_to: Option<&Path>,
    options: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    refuse_unless_atomic(restorer)?;
    let checked = source.check(restorer.dialect(), progress)?;
    restore_checked(&checked, restorer, secrets_to, options, progress).await
}

/// Restores a source that [`RestoreSource::check`] found whole into the database behind
/// `restorer`, which must be of the dialect it was checked for; with `secrets_to`, installs the
/// bundle's secrets.conf there afterwards, as [`restore`] describes.
pub async fn restore_checked(
    checked: &CheckedSource<'_>,
    restorer: &mut dyn Restorer,
    secrets_to: Option<&Path>,
    options: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    refuse_unless_atomic(restorer)?;
    if checked.dialect.name() != restorer.dialect().name() {
        return Err(Error::Usage(format!(
            "the source was checked for a {} target and {} is {}",
            checked.dialect.name(),
            restorer.describe(),
            restorer.dialect().name()
        )));
    }
    let dump = checked.source.dump_path();
    let bundle = match checked.source {
        RestoreSource::Bundle(b) => Some(b.as_ref()),
        RestoreSource::PlainSql(_) => None,
    };
    let plan = &checked.plan;
    let bundle_secrets = checked.secrets.as_ref();
    let mut warnings = Warnings::new(progress);
    warnings.keep_told(checked.warnings.iter().cloned());
    if secrets_to.is_none() && bundle_secrets.is_some() {
        warnings.add(
            "the bundle's secrets.conf is not installed anywhere (no destination given): the restored passwords and encrypted values need its key1",
        );
    }
    if let Some(dest) = secrets_to
        && bundle_secrets.is_none()
    {
        warnings.add(
            format!(
                "the source carries no secrets.conf: {} is left as it is, and the restored passwords only work with the source's key1",
                dest.display()
            ),
        );
    }
    let set: Vec<String> = plan.tables.iter().map(|(t, _)| t.clone()).collect();
    progress.step(&format!("checking {}", restorer.describe()));
    let existing = restorer.tables().await?;
    let dependents = restorer.dependents(&set).await?;
    if !dependents.is_empty() {
        let list: Vec<String> = dependents
            .iter()
            .map(|d| format!("{} references {}", d.table, d.references))
            .collect();
        if !options.keep_dependents {
            let hint = if restorer.capabilities().detach_dependents {
                "Restore with --keep-dependents to drop and recreate their foreign keys around the restore (their rows stay), or drop"
            } else {
                "Drop"
            };
            return Err(Error::Refused {
                reason: format!(
                    "restore refused, nothing was changed: tables outside the restored set depend on it ({}); replacing the SSO tables would break or delete their rows. {hint} those foreign keys, or back up and move those tables first",
                    list.join(", ")
                ),
            });
        }
        if !restorer.capabilities().detach_dependents {
            return Err(Error::Usage(format!(
                "{} cannot keep dependent tables around a restore ({})",
                restorer.describe(),
                list.join(", ")
            )));
        }
        warnings.add(format!(
            "kept tables outside the set: their foreign keys are dropped and recreated around the restore ({})",
            list.join(", ")
        ));
    }
    for name in &options.leave_out_fks {
        if !plan.external_fks.iter().any(|(_, n, _)| n == name) {
            return Err(Error::Usage(format!(
                "--leave-out-fk {name}: the dump has no foreign key of that name to a table outside the set"
            )));
        }
    }
    for (table, name, parent) in &plan.external_fks {
        if options.leave_out_fks.contains(name) {
            warnings.add(format!(
                "foreign key {name} of {table} to {parent} is left out, as asked"
            ));
        } else if !existing.iter().any(|e| e == parent) {
            return Err(Error::Refused {
                reason: format!(
                    "restore refused, nothing was changed: the dump recreates foreign key {name} of {table} to {parent}, and {} has no table {parent}; restore with --leave-out-fk {name} to restore without that key",
                    restorer.describe()
                ),
            });
        }
    }
    for q in &plan.set_sequences {
        let created = plan.sequences.iter().any(|c| c == q);
        let identity = bundle
            .and_then(|b| b.manifest.schema.sequence(q))
            .is_some_and(|s| {
                s.identity && s.owned_by.as_ref().is_some_and(|o| set.contains(&o.table))
            });
        if !created && !identity {
            return Err(Error::bundle(
                &dump,
                format!("sets sequence {q}, which it does not create"),
            ));
        }
    }
    for t in &existing {
        if is_sso_table(t) && !set.iter().any(|s| s.eq_ignore_ascii_case(t)) {
            warnings.add(format!(
                "{t} is in the target but not in the dump: it is left as it is"
            ));
        }
    }
    if let Some(b) = bundle.filter(|b| b.manifest.conversion.is_some()) {
        // Keys that were distinct in the source database may be equal under the target's
        // collation: every such group is found before anything changes.
        progress.step("checking unique keys under the target's collation");
        let tables = &b.manifest.schema.tables;
        let mut groups = Vec::new();
        for (i, t) in tables.iter().enumerate() {
            let reader = crate::cross::RowReader::open(&dump, restorer.dialect(), tables)?;
            let mut rows = crate::cross::TableBatches::new(reader, i);
            groups.extend(restorer.collation_duplicates(t, &mut rows).await?);
        }
        if !groups.is_empty() {
            return Err(Error::Refused {
                reason: format!(
                    "restore refused, nothing was changed: rows that are distinct in the bundle would be equal in unique indexes of {}:\n  {}",
                    restorer.describe(),
                    groups.join("\n  ")
                ),
            });
        }
    }
    let key = bundle_secrets.map(SecretsConf::key1).transpose()?;
    restorer.leave_out_foreign_keys(&options.leave_out_fks);
    crate::fault::point("restore.checked")?;
    restorer.begin(&set).await?;
    let mut ran = 0u64;
    let result = async {
        crate::fault::point("restore.begun")?;
        // Once more inside the transaction, which holds the write lock: nothing can have been
        // added since the check above.
        let late = restorer.dependents(&set).await?;
        if let Some(d) = late
            .iter()
            .find(|d| !options.keep_dependents || !dependents.contains(d))
        {
            return Err(Error::Refused {
                reason: format!(
                    "{} references {}: it appeared while the restore was being checked",
                    d.table, d.references
                ),
            });
        }
        if options.keep_dependents {
            for d in &late {
                restorer.detach_dependent(d).await?;
            }
        }
        let checked = load_and_check(
            restorer,
            &dump,
            plan,
            &existing,
            options,
            &late,
            bundle,
            key.as_ref(),
            progress,
            &mut ran,
            &mut warnings,
        )
        .await?;
        crate::fault::point("restore.checked_load")?;
        // Everything about the new secrets.conf that can fail happens before the commit.
        let prepared = match (secrets_to, bundle_secrets) {
            (Some(dest), Some(s)) => Some(secrets::prepare_install(dest, s.raw())?),
            _ => None,
        };
        crate::fault::point("restore.prepared")?;
        Ok::<_, Error>((checked, prepared))
    }
    .await;
    let ((orphans, encrypted), prepared) = match result {
        Ok(v) => v,
        Err(e) => return Err(roll_back(restorer, ran, e).await),
    };
    // From the commit until secrets.conf is in place, a stop is held off.
    let _held = crate::interrupt::hold();
    progress.step("committing");
    if let Err(e) = restorer.commit().await {
        if matches!(e, Error::AfterCommit { .. } | Error::CommitUnknown { .. }) {
            return Err(e);
        }
        // Not committed: whatever the commit left open is rolled back.
        return Err(roll_back(restorer, ran, e).await);
    }
    crate::fault::point("restore.committed")?;
    let mut installed = None;
    if let Some(p) = prepared {
        let dest = secrets_to.expect("prepared only with a destination");
        progress.step(&format!("installing secrets.conf at {}", dest.display()));
        let report = p.commit().map_err(|e| Error::AfterCommit {
            what: format!(
                "secrets.conf could not be put in place at {}: copy the bundle's secrets.conf there by hand",
                dest.display()
            ),
            source: Box::new(e),
        })?;
        installed = Some(report.into());
        crate::fault::point("restore.installed")?;
    }
    Ok(RestoreReport {
        database: restorer.describe(),
        verified_against_manifest: bundle.is_some(),
        tables: plan.tables.clone(),
        statements: ran,
        orphans,
        encrypted,
        secrets: installed,
        warnings: warnings.into_vec(),
        conversion: None,
    })
}

/// Refuses a backend that cannot restore all or nothing.
fn refuse_unless_atomic(restorer: &dyn Restorer) -> Result<()> {
    if restorer.capabilities().atomic_restore {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{}: this backend cannot restore all or nothing, and zsso does not restore otherwise",
        restorer.describe()
    )))
}

/// Rolls the restore back after `e`, which happened after `ran` statements: the error that
/// says so, or that the rollback failed too.
async fn roll_back(restorer: &mut dyn Restorer, ran: u64, e: Error) -> Error {
    match restorer.rollback().await {
        Ok(()) => Error::RolledBack {
            statements: ran,
            source: Box::new(e),
        },
        Err(rb) => Error::RollbackFailed {
            statements: ran,
            rollback: crate::error::chain(&rb),
            source: Box::new(e),
        },
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Which part of a restored table differs from what the manifest describes, if any.
fn schema_difference(expected: &Table, live: &Table) -> Option<&'static str> {
    if expected.columns != live.columns {
        Some("columns")
    } else if expected.primary_key != live.primary_key {
        Some("primary key columns")
    } else if expected.foreign_keys != live.foreign_keys {
        Some("foreign keys")
    } else if expected.indexes != live.indexes {
        Some("indexes")
    } else if expected.triggers != live.triggers {
        Some("triggers")
    } else if expected.constraints != live.constraints {
        Some("constraints")
    } else if expected.create_sql != live.create_sql {
        Some("CREATE TABLE statement")
    } else {
        None
    }
}

/// What the reading thread hands the load, in the dump's order.
enum Read {
    /// A statement the guard let through, with what it is (its tokens dropped).
    Statement(Statement, Kind),
    /// COPY data, checked, with the rows read so far.
    CopyData(Vec<u8>, u64),
    /// The end of a COPY's data, with its rows.
    CopyEnd(u64),
    /// The end of the dump, with the SHA-256 of all of it.
    End(String),
}

/// The dump read, checked and digested on a thread of its own, a few statements ahead of
/// the load: the guard works while the database does.
struct ReadAhead {
    rx: std::sync::mpsc::Receiver<Result<Read>>,
    sha256: Option<String>,
    path: PathBuf,
}

impl ReadAhead {
    fn start(path: &Path, lexer: crate::sqlscan::LexerConfig) -> Result<Self> {
        let file = open_dump(path)?;
        let dump = path.to_path_buf();
        let path = dump.clone();
        // Two items waiting, so that memory does not grow with the dump: a COPY chunk is
        // 1 MiB and the end of its last line, a statement is one of the dump's (the reader
        // bounds both).
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        std::thread::Builder::new()
            .name("zsso-read".into())
            .spawn(move || {
                let mut r = StatementReader::new(file, &path, lexer);
                // Ok(Some(true)): go on; Ok(Some(false)): the load stopped listening;
                // Ok(None): the end of the dump.
                let mut read = || -> Result<Option<bool>> {
                    let Some(mut stmt) = r.next_statement()? else {
                        return Ok(None);
                    };
                    let kind = guard::classify(&stmt, &path, lexer.syntax)?;
                    stmt.tokens = Vec::new();
                    let copy = match &kind {
                        Kind::Copy { columns, .. } => Some(*columns),
                        _ => None,
                    };
                    if tx.send(Ok(Read::Statement(stmt, kind))).is_err() {
                        return Ok(Some(false));
                    }
                    if let Some(columns) = copy {
                        loop {
                            // One size for every chunk, so that the allocator takes back
                            // each one for the next: room for the chunk and a last line of up
                            // to 64 KiB (a longer one grows it).
                            let mut buf = Vec::with_capacity(COPY_CHUNK + 64 * 1024);
                            let more = r.read_copy_data(columns, &mut buf, COPY_CHUNK)?;
                            if !buf.is_empty()
                                && tx.send(Ok(Read::CopyData(buf, r.copy_rows()))).is_err()
                            {
                                return Ok(Some(false));
                            }
                            if !more {
                                break;
                            }
                        }
                        if tx.send(Ok(Read::CopyEnd(r.copy_rows()))).is_err() {
                            return Ok(Some(false));
                        }
                    }
                    Ok(Some(true))
                };
                let end = loop {
                    match read() {
                        Ok(Some(true)) => {}
                        Ok(Some(false)) => break false,
                        Ok(None) => break true,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            break false;
                        }
                    }
                };
                if end {
                    let sha = r.into_inner().sha256_hex().unwrap_or_default();
                    let _ = tx.send(Ok(Read::End(sha)));
                }
            })
            .map_err(|e| Error::io("cannot start a thread to read", &dump, e))?;
        Ok(Self {
            rx,
            sha256: None,
            path: dump,
        })
    }

    fn recv(&mut self) -> Result<Read> {
        self.rx
            .recv()
            .map_err(|_| Error::bundle(&self.path, "the thread reading it stopped"))?
    }

    /// The next statement, or `None` at the end of the dump.
    fn next_statement(&mut self) -> Result<Option<(Statement, Kind)>> {
        if self.sha256.is_some() {
            return Ok(None);
        }
        match self.recv()? {
            Read::Statement(s, k) => Ok(Some((s, k))),
            Read::End(sha) => {
                self.sha256 = Some(sha);
                Ok(None)
            }
            Read::CopyData(..) | Read::CopyEnd(_) => Err(Error::Usage(
                "COPY data came where a statement was expected".into(),
            )),
        }
    }

    /// The dump's SHA-256, once it has been read to the end.
    fn sha256(&mut self) -> Result<String> {
        while self.next_statement()?.is_some() {}
        Ok(self.sha256.clone().unwrap_or_default())
    }
}

/// The data of one COPY statement, read from the dump as the database takes it.
struct DumpCopy<'a> {
    r: &'a mut ReadAhead,
    buf: Vec<u8>,
    rows: u64,
    done: bool,
    table: &'a str,
    total_rows: Option<u64>,
    bytes: u64,
    progress: &'a dyn Progress,
}

impl CopySource for DumpCopy<'_> {
    fn next_chunk(&mut self) -> Result<Option<&[u8]>> {
        if self.done {
            return Ok(None);
        }
        match self.r.recv()? {
            Read::CopyData(buf, rows) => {
                self.buf = buf;
                self.rows = rows;
            }
            Read::CopyEnd(rows) => {
                self.rows = rows;
                self.done = true;
                return Ok(None);
            }
            Read::Statement(..) | Read::End(_) => {
                return Err(Error::Usage(
                    "a statement came where COPY data was expected".into(),
                ));
            }
        }
        self.bytes += self.buf.len() as u64;
        self.progress.advance(&crate::progress::TableProgress {
            table: self.table,
            rows: self.rows,
            bytes: self.bytes,
            total_rows: self.total_rows,
        });
        Ok(Some(&self.buf))
    }
}

/// `table` as the manifest describes it, less the foreign keys left out by name.
fn without_fks(table: &Table, left_out: &[String], dialect: &dyn crate::dialect::Dialect) -> Table {
    let mut t = table.clone();
    let out = |n: &str| left_out.iter().any(|l| l == n);
    for name in left_out {
        t.create_sql = dialect.strip_foreign_key(&t.create_sql, name);
    }
    t.constraints
        .retain(|c| !(c.is_foreign_key() && out(&c.name)));
    t.foreign_keys
        .retain(|f| !f.name.as_deref().is_some_and(out));
    t
}

/// Every sequence of the manifest is in the target with the same definition and state.
fn check_sequences(expected: &[Sequence], live: &[Sequence]) -> Result<()> {
    for e in expected {
        match live.iter().find(|l| l.name == e.name) {
            None => {
                return Err(Error::Mismatch {
                    table: e.name.clone(),
                    reason: "the sequence is not in the target after loading".into(),
                });
            }
            Some(l) if l != e => {
                let what = if (l.last_value, l.is_called) != (e.last_value, e.is_called) {
                    format!(
                        "its state is ({}, {}), the manifest says ({}, {})",
                        l.last_value, l.is_called, e.last_value, e.is_called
                    )
                } else {
                    "its definition differs from the manifest's".to_string()
                };
                return Err(Error::Mismatch {
                    table: e.name.clone(),
                    reason: format!("after loading the sequence, {what}"),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The indexes (made by CREATE INDEX) and triggers that `old` had and `new` has not.
fn lost_objects<'a>(old: &'a Table, new: &Table) -> Vec<(&'static str, &'a str)> {
    let mut out = Vec::new();
    for i in old.indexes.iter().filter(|i| i.create_sql.is_some()) {
        if !new
            .indexes
            .iter()
            .any(|n| n.name.eq_ignore_ascii_case(&i.name))
        {
            out.push(("index", i.name.as_str()));
        }
    }
    for tr in &old.triggers {
        if !new
            .triggers
            .iter()
            .any(|n| n.name.eq_ignore_ascii_case(&tr.name))
        {
            out.push(("trigger", tr.name.as_str()));
        }
    }
    out
}

/// How many orphans each (table, parent) pair has, for parents inside the restored set (or,
/// with `inside` false, outside it).
fn orphan_counts(
    orphans: &[Orphan],
    set: &[(String, u64)],
    inside: bool,
) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for o in orphans {
        if set.iter().any(|(t, _)| t.eq_ignore_ascii_case(&o.parent)) == inside {
            *out.entry((o.table.to_ascii_lowercase(), o.parent.to_ascii_lowercase()))
                .or_insert(0) += 1;
        }
    }
    out
}

/// Rows whose parent is missing after the load: within the restored tables there must be
/// exactly as many, per table and parent, as the source had (rows are compared by count, as
/// row ids need not survive). A parent outside the restored tables (such as `sec_base`) is
/// the target's business: reported, or, where the database enforces foreign keys (`enforced`)
/// and so keeps a constraint that the rows would break, refused beyond what the source had.
fn check_orphans(
    orphans: &[Orphan],
    plan: &Plan,
    bundle: Option<&Bundle>,
    enforced: bool,
    warnings: &mut Warnings<'_>,
) -> Result<()> {
    if enforced && let Some(b) = bundle {
        let source = orphan_counts(&b.manifest.orphans, &plan.tables, false);
        for ((table, parent), n) in orphan_counts(orphans, &plan.tables, false) {
            let had = source
                .get(&(table.clone(), parent.clone()))
                .copied()
                .unwrap_or(0);
            if n > had {
                return Err(Error::Refused {
                    reason: format!(
                        "{n} rows of {table} reference {parent} rows that the target does not have (the source had {had}): its foreign key to {parent} would not hold; add those rows to {parent} first"
                    ),
                });
            }
        }
    }
    let inside = orphan_counts(orphans, &plan.tables, true);
    match bundle {
        Some(b) => {
            let source = orphan_counts(&b.manifest.orphans, &plan.tables, true);
            for ((table, parent), n) in &inside {
                let had = source
                    .get(&(table.clone(), parent.clone()))
                    .copied()
                    .unwrap_or(0);
                if *n != had {
                    return Err(Error::Mismatch {
                        table: table.clone(),
                        reason: format!(
                            "{n} rows reference missing {parent} rows, the source had {had}"
                        ),
                    });
                }
            }
            let n: usize = inside.values().sum();
            if n > 0 {
                warnings.add(format!(
                    "{n} rows reference missing parents, as they did in the source"
                ));
            }
        }
        None => {
            let n: usize = inside.values().sum();
            if n > 0 {
                warnings.add(format!(
                    "{n} rows reference missing parents (the dump has no manifest to tell whether the source had them too)"
                ));
            }
        }
    }
    let outside = orphans.len() - inside.values().sum::<usize>();
    if outside > 0 {
        let parents: std::collections::BTreeSet<&str> = orphans
            .iter()
            .filter(|o| {
                !plan
                    .tables
                    .iter()
                    .any(|(t, _)| t.eq_ignore_ascii_case(&o.parent))
            })
            .map(|o| o.parent.as_str())
            .collect();
        warnings.add(format!(
            "{outside} rows reference rows of {} that the target does not have (outside the restored tables)",
            parents.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn load_and_check(
    restorer: &mut dyn Restorer,
    dump: &Path,
    plan: &Plan,
    existing: &[String],
    options: &RestoreOptions,
    dependents: &[Dependent],
    bundle: Option<&Bundle>,
    key: Option<&crate::secrets::Key1>,
    progress: &dyn Progress,
    ran: &mut u64,
    warnings: &mut Warnings<'_>,
) -> Result<(Vec<Orphan>, Option<EncryptedCheck>)> {
    // Drop what the dump recreates, children first, remembering what the target had.
    let mut replaced: Vec<Table> = Vec::new();
    for (t, _) in plan.tables.iter().rev() {
        if let Some(live) = existing.iter().find(|e| e.eq_ignore_ascii_case(t)) {
            replaced.push(restorer.describe_table(live).await?);
            restorer.drop_table(live).await?;
        }
    }
    // Then the sequences it recreates (a table's own went with it).
    let live_sequences = restorer.sequences().await?;
    for q in &plan.sequences {
        if live_sequences.iter().any(|l| l.name == *q) {
            restorer.drop_sequence(q).await?;
        }
    }
    crate::fault::point("restore.dropped")?;
    progress.step(&format!("loading {}", dump.display()));
    let mut ahead = ReadAhead::start(dump, restorer.dialect().lexer())?;
    let mut current: Option<String> = None;
    let mut rows_done = 0u64;
    let mut bytes_done = 0u64;
    // The indexes and triggers the dump creates: each must exist afterwards (an `IF NOT
    // EXISTS` meeting an object of that name elsewhere would skip it silently).
    let mut created: Vec<(&str, String, String)> = Vec::new();
    while let Some((stmt, kind)) = ahead.next_statement()? {
        let at_line = |e: Error| Error::Dump {
            path: dump.to_path_buf(),
            line: stmt.line,
            reason: crate::error::chain(&e),
        };
        let mut skip = false;
        if let Kind::AddConstraint {
            table,
            name,
            references: Some(parent),
        } = &kind
        {
            skip = options.leave_out_fks.contains(name);
            let fk = bundle
                .and_then(|b| b.manifest.schema.table(table))
                .and_then(|t| {
                    t.foreign_keys
                        .iter()
                        .find(|f| f.name.as_deref() == Some(name))
                });
            if let (false, Some(fk)) = (skip, fk) {
                let missing = restorer.missing_references(table, fk).await?;
                if missing > 0 {
                    return Err(Error::Refused {
                        reason: format!(
                            "{missing} rows of {table} reference {parent} rows that the target does not have, so foreign key {name} cannot be recreated; restore with --leave-out-fk {name} to restore without that key"
                        ),
                    });
                }
            }
        }
        if let Kind::Copy {
            table,
            columns: _,
            names,
        } = &kind
        {
            // The statement that runs is built from what the guard read, not taken from the
            // dump's text (COPY goes over the simple protocol, which runs every statement of
            // a text).
            let d = restorer.dialect();
            let cols: Vec<String> = names.iter().map(|n| d.quote_ident(n)).collect();
            let copy_sql = format!(
                "COPY {} ({}) FROM stdin",
                d.quote_ident(table),
                cols.join(", ")
            );
            let mut data = DumpCopy {
                r: &mut ahead,
                buf: Vec::new(),
                rows: 0,
                done: false,
                table,
                total_rows: plan.rows_of(table),
                bytes: 0,
                progress,
            };
            progress.advance(&crate::progress::TableProgress {
                table,
                rows: 0,
                bytes: 0,
                total_rows: data.total_rows,
            });
            // A bundle's every table is re-digested against its manifest before the commit
            // (the check refused one whose manifest leaves a table out); a plain dump's only
            // recounted.
            let copy = CopyIn {
                sql: &copy_sql,
                table,
                columns: names,
                verified: bundle.is_some(),
            };
            let took = restorer.copy_in(&copy, &mut data).await.map_err(at_line)?;
            let rows = data.rows;
            if took != rows {
                return Err(at_line(Error::Mismatch {
                    table: table.clone(),
                    reason: format!("the database took {took} rows of the {rows} COPY sent"),
                }));
            }
            *ran += 1;
            crate::fault::point("restore.statement")?;
            progress.table_done(table, rows);
        } else if kind.runs() && !skip {
            if let Kind::Insert { table, .. } = &kind
                && current.as_deref() != Some(table)
            {
                progress.advance(&crate::progress::TableProgress {
                    table,
                    rows: 0,
                    bytes: 0,
                    total_rows: None,
                });
            }
            restorer.execute(&stmt.text).await.map_err(at_line)?;
            *ran += 1;
            crate::fault::point("restore.statement")?;
        }
        if let Kind::CreateIndex { name, table } | Kind::CreateTrigger { name, table } = &kind {
            let what = if matches!(kind, Kind::CreateIndex { .. }) {
                "index"
            } else {
                "trigger"
            };
            created.push((what, name.clone(), table.clone()));
        }
        if let Kind::Insert { table, rows } = &kind {
            if current.as_deref() != Some(table) {
                if let Some(prev) = current.take() {
                    progress.table_done(&prev, rows_done);
                }
                current = Some(table.clone());
                rows_done = 0;
                bytes_done = 0;
            }
            rows_done += rows;
            bytes_done += stmt.text.len() as u64;
            progress.advance(&crate::progress::TableProgress {
                table,
                rows: rows_done,
                bytes: bytes_done,
                total_rows: plan.rows_of(table),
            });
        }
    }
    if let Some(prev) = current {
        progress.table_done(&prev, rows_done);
    }
    restorer.end_load(progress).await?;
    if options.keep_dependents {
        for d in dependents {
            restorer.reattach_dependent(d).await?;
        }
    }
    crate::fault::point("restore.loaded")?;
    if ahead.sha256()? != plan.sha256 {
        return Err(Error::bundle(
            dump,
            "changed between the check and the load",
        ));
    }
    progress.step("recounting and re-digesting every table");
    let mut tables: Vec<Table> = Vec::new();
    for (t, rows) in &plan.tables {
        let live = restorer.describe_table(t).await?;
        let d = verify::digest_table(&mut RestorerRows(restorer), &live).await?;
        match bundle.and_then(|b| b.manifest.table(t)) {
            Some(s) => {
                if d.rows() != s.rows {
                    return Err(Error::Mismatch {
                        table: t.clone(),
                        reason: format!(
                            "{} rows after loading, the manifest says {}",
                            d.rows(),
                            s.rows
                        ),
                    });
                }
                if d.digest() != s.digest {
                    return Err(Error::Mismatch {
                        table: t.clone(),
                        reason: "the rows loaded differ from the backed-up ones (digest differs)"
                            .into(),
                    });
                }
            }
            None => {
                if d.rows() != *rows {
                    return Err(Error::Mismatch {
                        table: t.clone(),
                        reason: format!("{} rows after loading, the dump inserts {rows}", d.rows()),
                    });
                }
            }
        }
        let converted = bundle.is_some_and(|b| b.manifest.conversion.is_some());
        if let Some(expected) = bundle.and_then(|b| b.manifest.schema.table(t))
            && converted
            && (!expected.column_names().eq(live.column_names())
                || expected.primary_key != live.primary_key)
        {
            // A converted bundle's schema is Zato's for the target as zsso renders it, not
            // as the target's catalogue prints it: its columns and key are what must hold.
            return Err(Error::Mismatch {
                table: t.clone(),
                reason:
                    "after loading, its columns or primary key differ from the converted bundle's"
                        .into(),
            });
        }
        if let Some(expected) = bundle.and_then(|b| b.manifest.schema.table(t))
            && !converted
            && let Some(what) = schema_difference(
                &without_fks(expected, &options.leave_out_fks, restorer.dialect()),
                &live,
            )
        {
            return Err(Error::Mismatch {
                table: t.clone(),
                reason: format!("after loading, its {what} differ from the manifest's schema"),
            });
        }
        for (what, name, _) in created.iter().filter(|c| c.2.eq_ignore_ascii_case(t)) {
            let there = match *what {
                "index" => live
                    .indexes
                    .iter()
                    .any(|i| i.name.eq_ignore_ascii_case(name)),
                _ => live
                    .triggers
                    .iter()
                    .any(|i| i.name.eq_ignore_ascii_case(name)),
            };
            if !there {
                return Err(Error::Mismatch {
                    table: t.clone(),
                    reason: format!(
                        "the dump creates {what} {name} on it, and after loading it is not there (an object of that name exists elsewhere)"
                    ),
                });
            }
        }
        if let Some(old) = replaced.iter().find(|o| o.name.eq_ignore_ascii_case(t)) {
            for (kind, name) in lost_objects(old, &live) {
                let w = format!(
                    "{kind} {name} of {t} was in the target and the dump does not recreate it: it is gone"
                );
                warnings.add(w);
            }
        }
        tables.push(live);
    }
    if let Some(b) = bundle {
        check_sequences(&b.manifest.schema.sequences, &restorer.sequences().await?)?;
    }
    progress.step("checking what the triggers touch");
    restorer.check_triggers(&tables).await?;
    progress.step("checking foreign keys");
    let orphans = restorer.orphans(&tables).await?;
    let enforced = restorer.capabilities().enforces_foreign_keys;
    check_orphans(&orphans, plan, bundle, enforced, warnings)?;
    let mut encrypted = None;
    if let Some(key) = key {
        progress.step("decrypting every encrypted value with the bundle's key1");
        let schema = Schema {
            tables,
            ..Schema::default()
        };
        let check = verify::check_encrypted(&mut RestorerRows(restorer), &schema, key).await?;
        let expected = bundle.and_then(|b| b.manifest.encrypted.as_ref());
        let same_as_source =
            expected.is_some_and(|e| e.failed == check.failed && e.failures == check.failures);
        if check.failed > 0 && !same_as_source {
            return Err(Error::crypto(
                "the bundle's key1",
                format!(
                    "{} of {} encrypted values do not decrypt with it, which the source's did: {}",
                    check.failed,
                    check.failed + check.decrypted,
                    check.summary()
                ),
            ));
        }
        if check.failed > 0 {
            let w = format!(
                "{} encrypted values do not decrypt, as they did not in the source",
                check.failed
            );
            warnings.add(w);
        }
        encrypted = Some(check);
    }
    Ok((orphans, encrypted))
}

#[cfg(test)]
mod tests {
    use super::RestoreSource;
    use std::path::Path;

    #[test]
    fn a_database_url_in_the_bundles_place_is_named_without_its_password() {
        let e = RestoreSource::open(Path::new("postgres://u:s3cret@h/d?password=s3cret"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "postgres://u:***@h/d?password=*** is not a bundle directory or a .sql file but looks like a database URL: the target goes after --db"
        );
    }
}
