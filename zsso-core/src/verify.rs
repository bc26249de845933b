//! Offline confirmation: a live database against a bundle, secrets.conf against the data,
//! and a user's password, as `zato sso login` checks it.

use crate::backend::{Dumper, Restorer, RowSink};
use crate::bundle::Bundle;
use crate::digest::TableDigest;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::schema::{Schema, Sequence, Table};
use crate::secrets::{Key1, SecretsConf};
use crate::value::Value;
use crate::zato;
use async_trait::async_trait;
use serde::Serialize;
use std::path::PathBuf;

/// Anything that can stream the rows of a table: a [`Dumper`] in its snapshot or a
/// [`Restorer`] in its transaction.
#[async_trait]
pub trait RowSource: Send {
    /// Streams every row of `table` into `sink`.
    async fn rows(&mut self, table: &Table, sink: &mut dyn RowSink) -> Result<()>;

    /// The dialect of the database the rows come from.
    fn dialect(&self) -> &'static dyn crate::dialect::Dialect;
}

/// A [`Dumper`] as a [`RowSource`].
pub struct DumperRows<'a>(pub &'a mut dyn Dumper);
/// A [`Restorer`] as a [`RowSource`].
pub struct RestorerRows<'a>(pub &'a mut dyn Restorer);

#[async_trait]
impl RowSource for DumperRows<'_> {
    async fn rows(&mut self, table: &Table, sink: &mut dyn RowSink) -> Result<()> {
        self.0.stream_rows(table, sink).await
    }

    fn dialect(&self) -> &'static dyn crate::dialect::Dialect {
        self.0.dialect()
    }
}

#[async_trait]
impl RowSource for RestorerRows<'_> {
    async fn rows(&mut self, table: &Table, sink: &mut dyn RowSink) -> Result<()> {
        self.0.stream_rows(table, sink).await
    }

    fn dialect(&self) -> &'static dyn crate::dialect::Dialect {
        self.0.dialect()
    }
}

/// Digests rows, taking them as COPY text where the dialect reads that straight into the
/// digest's encoding ([`crate::dialect::Dialect::copy_encoder`]).
struct DigestSink {
    digest: TableDigest,
    encoder: Option<crate::dialect::CopyEncoder>,
    encoded: Vec<u8>,
    table: String,
}

impl RowSink for DigestSink {
    fn row(&mut self, values: &[Value]) -> Result<()> {
        self.digest.add(values);
        Ok(())
    }

    fn takes_copy_lines(&self) -> bool {
        self.encoder.is_some() && self.digest.rows() == 0
    }

    fn copy_lines(&mut self, lines: Vec<u8>) -> Result<()> {
        let Some(enc) = self.encoder.as_mut() else {
            return Err(Error::Usage("this digest does not take COPY text".into()));
        };
        for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            self.encoded.clear();
            enc(line, &mut self.encoded).map_err(|e| Error::Mismatch {
                table: self.table.clone(),
                reason: format!("row {}: {e}", self.digest.rows() + 1),
            })?;
            self.digest.add_encoded(&self.encoded);
        }
        Ok(())
    }
}

/// Counts and digests a table.
pub async fn digest_table(src: &mut dyn RowSource, table: &Table) -> Result<TableDigest> {
    let mut sink = DigestSink {
        digest: TableDigest::new(),
        encoder: src.dialect().copy_encoder(table),
        encoded: Vec::new(),
        table: table.name.clone(),
    };
    src.rows(table, &mut sink).await?;
    Ok(sink.digest)
}

/// The result of decrypting every encrypted value with a key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EncryptedCheck {
    /// How many encrypted values decrypted.
    pub decrypted: u64,
    /// How many did not.
    pub failed: u64,
    /// Where the first failures are (table, column, row), never what they hold.
    pub failures: Vec<String>,
}

impl EncryptedCheck {
    /// The first failures, for a message: at most three, and how many more there are.
    pub fn summary(&self) -> String {
        let shown: Vec<&str> = self.failures.iter().take(3).map(String::as_str).collect();
        let more = self.failed.saturating_sub(shown.len() as u64);
        if more > 0 {
            format!("{} (and {more} more)", shown.join("; "))
        } else {
            shown.join("; ")
        }
    }

    fn fail(&mut self, msg: String) {
        self.failed += 1;
        if self.failures.len() < 20 {
            self.failures.push(msg);
        }
    }
}

/// The columns of `zato_sso_user` that Zato encrypts; `password` always, the others when
/// they hold a token.
const USER_ENCRYPTED: &[(&str, bool)] = &[
    ("password", true),
    ("email", false),
    ("totp_key", false),
    ("totp_label", false),
];

fn col(table: &Table, name: &str) -> Option<usize> {
    table
        .columns
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case(name))
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Integer(i) => *i != 0,
        Value::Text(t) => t == b"1" || t.eq_ignore_ascii_case(b"true"),
        _ => false,
    }
}

fn row_name(v: Option<&Value>) -> String {
    match v {
        Some(Value::Text(t)) => format!("`{}`", String::from_utf8_lossy(t)),
        Some(Value::Integer(i)) => format!("id {i}"),
        _ => "(unnamed)".into(),
    }
}

/// Proves that `key` is the key of this data: every value Zato encrypts (user passwords,
/// e-mails, TOTP keys and labels where they hold a token, encrypted attributes) must decrypt.
pub async fn check_encrypted(
    src: &mut dyn RowSource,
    schema: &Schema,
    key: &Key1,
) -> Result<EncryptedCheck> {
    let mut check = EncryptedCheck::default();
    if let Some(users) = schema.table("zato_sso_user") {
        let cols: Vec<(usize, &str, bool)> = USER_ENCRYPTED
            .iter()
            .filter_map(|(n, must)| col(users, n).map(|i| (i, *n, *must)))
            .collect();
        let name = col(users, "username");
        let c = &mut check;
        let mut sink = |v: &[Value]| {
            for &(i, cname, must) in &cols {
                let Some(bytes) = v[i].as_bytes() else {
                    if must {
                        c.fail(format!(
                            "zato_sso_user.{cname} of user {} is not text",
                            row_name(name.map(|n| &v[n]))
                        ));
                    }
                    continue;
                };
                if !zato::looks_encrypted(bytes) {
                    if must {
                        c.fail(format!(
                            "zato_sso_user.{cname} of user {} is not encrypted",
                            row_name(name.map(|n| &v[n]))
                        ));
                    }
                    continue;
                }
                match zato::decrypt_stored(key, bytes) {
                    Ok(_) => c.decrypted += 1,
                    Err(_) => c.fail(format!(
                        "zato_sso_user.{cname} of user {} does not decrypt with key1",
                        row_name(name.map(|n| &v[n]))
                    )),
                }
            }
            Ok(())
        };
        src.rows(users, &mut sink).await?;
    }
    if let Some(attrs) = schema.table("zato_sso_attr")
        && let (Some(enc), Some(val)) = (col(attrs, "is_encrypted"), col(attrs, "value"))
    {
        let id = col(attrs, "id");
        let c = &mut check;
        let mut sink = |v: &[Value]| {
            if truthy(&v[enc]) {
                let ok = v[val]
                    .as_bytes()
                    .is_some_and(|b| zato::decrypt_attr_value(key, b).is_ok());
                if ok {
                    c.decrypted += 1;
                } else {
                    c.fail(format!(
                        "zato_sso_attr.value of attribute {} does not decrypt with key1",
                        row_name(id.map(|i| &v[i]))
                    ));
                }
            }
            Ok(())
        };
        src.rows(attrs, &mut sink).await?;
    }
    Ok(check)
}

/// Checks `password` for the user `username` as `zato sso login` does: finds the user, strips
/// `zato.secf.`, decrypts with key1 and verifies the PBKDF2-SHA512 hash.
///
/// `Ok(())` if the password matches; [`Error::Login`] if the user is missing or the password
/// does not match.
pub async fn check_login(
    src: &mut dyn RowSource,
    schema: &Schema,
    key: &Key1,
    username: &str,
    password: &str,
) -> Result<()> {
    let users = schema.table("zato_sso_user").ok_or_else(|| Error::Login {
        username: username.into(),
        reason: "the database has no zato_sso_user table".into(),
    })?;
    let (Some(ucol), Some(pcol)) = (col(users, "username"), col(users, "password")) else {
        return Err(Error::Login {
            username: username.into(),
            reason: "zato_sso_user has no username or password column".into(),
        });
    };
    let mut stored: Option<Vec<u8>> = None;
    let mut sink = |v: &[Value]| {
        if v[ucol].as_bytes() == Some(username.as_bytes()) {
            stored = v[pcol].as_bytes().map(<[u8]>::to_vec);
        }
        Ok(())
    };
    src.rows(users, &mut sink).await?;
    let stored = stored.ok_or_else(|| Error::Login {
        username: username.into(),
        reason: "no such user".into(),
    })?;
    let ok = zato::check_password(key, &stored, password).map_err(|e| Error::Login {
        username: username.into(),
        reason: crate::error::chain(&e),
    })?;
    if ok {
        Ok(())
    } else {
        Err(Error::Login {
            username: username.into(),
            reason: "wrong password".into(),
        })
    }
}

/// One table compared.
#[derive(Debug, Clone, Serialize)]
pub struct TableCheck {
    /// The table.
    pub name: String,
    /// Rows in the bundle.
    pub expected_rows: u64,
    /// Rows in the database, `None` if the table is missing.
    pub rows: Option<u64>,
    /// Returns true if and only if count and digest are equal.
    pub ok: bool,
}

/// What the secrets.conf in use proved.
#[derive(Debug, Clone, Serialize)]
pub struct SecretsCheck {
    /// The file.
    pub path: PathBuf,
    /// Its key1's fingerprint.
    pub key1_fingerprint: String,
    /// Returns true if and only if key1 decrypts well_known_data to the pi marker.
    pub well_known: bool,
    /// Whether it is the same key as the bundle's, if the bundle records one.
    pub same_key_as_bundle: Option<bool>,
    /// Every encrypted value in the database, decrypted.
    pub encrypted: EncryptedCheck,
}

/// A password checked as `zato sso login` checks it.
#[derive(Debug, Clone, Serialize)]
pub struct LoginCheck {
    /// The user.
    pub username: String,
    /// Returns true if and only if the password matched.
    pub ok: bool,
}

/// How a comparison in neutral form was made.
#[derive(Debug, Clone, Serialize)]
pub struct NeutralSummary {
    /// The bundle's dialect.
    pub from_dialect: String,
    /// With microseconds left out of the comparison: how many of the bundle's datetimes had
    /// them.
    pub microseconds_dropped: Option<u64>,
}

/// The result of [`verify`].
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The database checked.
    pub database: String,
    /// Set when the rows were compared in neutral form.
    pub neutral: Option<NeutralSummary>,
    /// Each table of the bundle.
    pub tables: Vec<TableCheck>,
    /// SSO tables in the database that the bundle does not have.
    pub extra_tables: Vec<String>,
    /// What the secrets.conf proved, if one was given.
    pub secrets: Option<SecretsCheck>,
    /// The password check, if one was asked for.
    pub login: Option<LoginCheck>,
    /// Everything that does not match; empty if and only if the check passed.
    pub problems: Vec<String>,
    /// What the user should know that is not a difference, such as columns left out of a
    /// comparison in neutral form.
    pub notes: Vec<String>,
}

impl VerifyReport {
    /// Returns true if and only if nothing differs.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What is wrong with the live sequences against the bundle's: one missing, defined
/// otherwise, or behind the bundle's state (its next value could be an id the bundle holds).
/// A sequence ahead of the bundle is normal once the application has run.
fn sequence_problems(
    expected: &[crate::schema::Sequence],
    live: &[crate::schema::Sequence],
) -> Vec<String> {
    let mut out = Vec::new();
    for e in expected {
        let Some(l) = live.iter().find(|l| l.name == e.name) else {
            out.push(format!("sequence {} is missing", e.name));
            continue;
        };
        let definition = |q: &crate::schema::Sequence| {
            let mut q = q.clone();
            q.last_value = 0;
            q.is_called = false;
            q
        };
        if definition(l) != definition(e) {
            out.push(format!(
                "sequence {} is defined otherwise than in the bundle",
                e.name
            ));
        }
        // The next value it gives, compared in the direction it counts.
        let next = |q: &crate::schema::Sequence| {
            i128::from(q.last_value)
                + if q.is_called {
                    i128::from(q.increment)
                } else {
                    0
                }
        };
        let behind = if e.increment >= 0 {
            next(l) < next(e)
        } else {
            next(l) > next(e)
        };
        if behind {
            out.push(format!(
                "sequence {} would next give {}, before the bundle's {}: new rows could take restored ids",
                e.name,
                next(l),
                next(e)
            ));
        }
    }
    out
}

/// Whether the counter that gives a Zato table its ids (PostgreSQL's sequence, MySQL's
/// `AUTO_INCREMENT`) is past `max_id`, its largest id: a problem if it is not.
fn counter_problem(live: &Table, max_id: i64, sequences: &[Sequence]) -> Option<String> {
    let def = crate::cross::model::zato_tables()
        .into_iter()
        .find(|t| t.name.eq_ignore_ascii_case(&live.name))?;
    if let Some(q) = def
        .sequence
        .as_deref()
        .and_then(|n| sequences.iter().find(|s| s.name == n))
    {
        let next = if q.is_called {
            q.last_value.saturating_add(1)
        } else {
            q.last_value
        };
        return (next <= max_id).then(|| {
            format!(
                "sequence {} would next give {next}, and {} already holds id {max_id}",
                q.name, live.name
            )
        });
    }
    match live.auto_increment() {
        Some(a) if a <= max_id => Some(format!(
            "{} would next give id {a} (AUTO_INCREMENT), and already holds id {max_id}",
            live.name
        )),
        _ => None,
    }
}

/// Compares a live database with a bundle: row counts and digests of every table; with a
/// secrets.conf, that its key1 decrypts well_known_data and every encrypted value; with a
/// login, the user's password.
///
/// # Behavior
/// - Reads the database in one snapshot and changes nothing.
/// - Differences are listed in [`VerifyReport::problems`]; only failures to read are errors.
pub async fn verify(
    bundle: &Bundle,
    dumper: &mut dyn Dumper,
    secrets: Option<&SecretsConf>,
    login: Option<(&str, &str)>,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    verify_with(bundle, dumper, secrets, login, None, progress).await
}

/// [`verify`], comparing the rows in neutral form when `neutral` gives the bundle's neutral
/// digests ([`crate::cross::neutral_digests`]): for a database of another dialect than the
/// bundle's, or one that a conversion went through.
///
/// # Behavior
/// - In neutral form, the database's rows are digested by the same rules as the bundle's,
///   and the allowed loss of microseconds is named in the report.
/// - Sequences are compared only within one dialect.
pub async fn verify_with(
    bundle: &Bundle,
    dumper: &mut dyn Dumper,
    secrets: Option<&SecretsConf>,
    login: Option<(&str, &str)>,
    neutral: Option<&crate::cross::NeutralDigests>,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    let database = dumper.describe();
    progress.step(&format!("reading {database}"));
    let snap = dumper.begin().await?;
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut tables = Vec::new();
    let m = &bundle.manifest;
    let dialect = dumper.dialect().name();
    if m.source.dialect != dialect && neutral.is_none() {
        problems.push(format!(
            "the bundle is from {}, the database is {}: digests are compared as stored (compare them in neutral form)",
            m.source.dialect, dialect
        ));
    }
    let expected = neutral.map_or(&m.tables, |n| &n.tables);
    let mut src = DumperRows(dumper);
    for t in expected {
        match snap.schema.table(&t.name) {
            None => {
                problems.push(format!("table {} is missing", t.name));
                tables.push(TableCheck {
                    name: t.name.clone(),
                    expected_rows: t.rows,
                    rows: None,
                    ok: false,
                });
            }
            Some(live) => {
                let d = match neutral {
                    None => digest_table(&mut src, live).await?,
                    Some(n) => {
                        // The columns the bundle has: one a restore added (Zato's, which the
                        // bundle's older schema lacked) is not part of the comparison.
                        let bundled = m.schema.table(&t.name);
                        let form = crate::cross::convert::NeutralForm::of_columns(
                            dialect,
                            live,
                            n.drop_microseconds,
                            bundled,
                        );
                        for c in live.columns.iter().filter(|c| {
                            bundled.is_some_and(|b| {
                                !b.columns
                                    .iter()
                                    .any(|k| k.name.eq_ignore_ascii_case(&c.name))
                            })
                        }) {
                            notes.push(format!(
                                "column {}.{} is in the database but not in the bundle: not compared",
                                t.name, c.name
                            ));
                        }
                        let id = live.columns.iter().position(|c| c.name == "id");
                        let mut d = TableDigest::new();
                        let mut out = Vec::new();
                        let mut max_id: Option<i64> = None;
                        let mut sink = |row: &[Value]| {
                            if let Some(Value::Integer(i)) = id.map(|k| &row[k]) {
                                max_id = Some(max_id.map_or(*i, |m| m.max(*i)));
                            }
                            form.apply(&live.columns, row, &mut out);
                            d.add(&out);
                            Ok(())
                        };
                        src.rows(live, &mut sink).await?;
                        if let Some(m) = max_id {
                            problems.extend(counter_problem(live, m, &snap.schema.sequences));
                        }
                        d
                    }
                };
                let ok = d.rows() == t.rows && d.digest() == t.digest;
                if d.rows() != t.rows {
                    problems.push(format!(
                        "table {}: {} rows, the bundle has {}",
                        t.name,
                        d.rows(),
                        t.rows
                    ));
                } else if d.digest() != t.digest {
                    let hint = if dialect == "mysql"
                        && neutral.is_some_and(|n| !n.drop_microseconds)
                    {
                        " (MySQL's DATETIME holds no microseconds: if the data came through MySQL, compare with --allow-lost-microseconds)"
                    } else {
                        ""
                    };
                    problems.push(format!(
                        "table {}: same row count ({}) but different content (digest differs){hint}",
                        t.name, t.rows
                    ));
                }
                progress.table_done(&t.name, d.rows());
                tables.push(TableCheck {
                    name: t.name.clone(),
                    expected_rows: t.rows,
                    rows: Some(d.rows()),
                    ok,
                });
            }
        }
    }
    let extra_tables: Vec<String> = snap
        .schema
        .tables
        .iter()
        .filter(|t| m.table(&t.name).is_none())
        .map(|t| t.name.clone())
        .collect();
    for t in &extra_tables {
        problems.push(format!(
            "table {t} is in the database but not in the bundle"
        ));
    }
    if m.source.dialect == dialect {
        problems.extend(sequence_problems(
            &m.schema.sequences,
            &snap.schema.sequences,
        ));
    }
    let mut secrets_check = None;
    let mut login_check = None;
    if let Some(s) = secrets {
        progress.step("checking secrets.conf against the data");
        let key = s.key1()?;
        let well_known = match s.prove_well_known(&key) {
            Ok(()) => true,
            Err(e) => {
                problems.push(crate::error::chain(&e));
                false
            }
        };
        let same = m
            .secrets
            .as_ref()
            .map(|b| b.key1_fingerprint == key.fingerprint());
        if same == Some(false) {
            problems.push(format!(
                "{} holds a different key1 than the bundle's secrets.conf: it belongs to another installation",
                s.path().display()
            ));
        }
        let encrypted = check_encrypted(&mut src, &snap.schema, &key).await?;
        if encrypted.failed > 0 {
            problems.push(format!(
                "{} of {} encrypted values do not decrypt with key1 of {}: {}",
                encrypted.failed,
                encrypted.failed + encrypted.decrypted,
                s.path().display(),
                encrypted.summary()
            ));
        }
        if let Some((user, password)) = login {
            progress.step(&format!("checking the password of {user}"));
            let result = check_login(&mut src, &snap.schema, &key, user, password).await;
            if let Err(e) = &result {
                problems.push(e.to_string());
            }
            login_check = Some(LoginCheck {
                username: user.to_string(),
                ok: result.is_ok(),
            });
        }
        secrets_check = Some(SecretsCheck {
            path: s.path().to_path_buf(),
            key1_fingerprint: key.fingerprint().to_string(),
            well_known,
            same_key_as_bundle: same,
            encrypted,
        });
    } else if login.is_some() {
        return Err(Error::Usage(
            "--login needs a secrets.conf (--server-dir or --secrets) to decrypt the password"
                .into(),
        ));
    }
    dumper.finish().await?;
    Ok(VerifyReport {
        database,
        neutral: neutral.map(|n| NeutralSummary {
            from_dialect: n.from_dialect.clone(),
            microseconds_dropped: n.drop_microseconds.then_some(n.microseconds_dropped),
        }),
        tables,
        extra_tables,
        secrets: secrets_check,
        login: login_check,
        problems,
        notes,
    })
}
