//! The backup algorithm: one snapshot, one dump, one manifest, published atomically.

use crate::backend::{Dumper, RowSink};
use crate::bundle::{
    self, DUMP_FILE, FORMAT, FORMAT_VERSION, FileEntry, HashingWriter, MANIFEST_FILE, Manifest,
    SECRETS_FILE, SecretsInfo, SourceInfo, StagedBundle, TableSummary, ToolInfo,
};
use crate::catalogue::{self, fk_order};
use crate::dialect::{Dialect, RowsStyle};
use crate::digest::TableDigest;
use crate::error::{Error, Result};
use crate::progress::{Progress, ROWS_PER_REPORT, Warnings};
use crate::schema::{Sequence, Table};
use crate::secrets::SecretsConf;
use crate::sqlscan::{definition_statement, definition_statements};
use crate::value::Value;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The version of zsso that writes bundles.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a backup did.
#[derive(Debug, Clone)]
pub struct BackupReport {
    /// Where the bundle is.
    pub bundle: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Things the user should know, such as a missing secrets.conf.
    pub warnings: Vec<String>,
}

/// A thread fed through a bounded channel and joined for its result: the dump's writer and
/// a table's digester.
struct Feeder<M, R> {
    tx: Option<std::sync::mpsc::SyncSender<M>>,
    handle: Option<std::thread::JoinHandle<R>>,
}

impl<M: Send + 'static, R: Send + 'static> Feeder<M, R> {
    /// Starts `body` on a thread of its own, with at most `waiting` messages queued for it.
    fn start(
        waiting: usize,
        body: impl FnOnce(std::sync::mpsc::Receiver<M>) -> R + Send + 'static,
    ) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<M>(waiting);
        Self {
            tx: Some(tx),
            handle: Some(std::thread::spawn(move || body(rx))),
        }
    }

    /// Sends `m`; false once the thread has stopped (its result says why).
    fn send(&mut self, m: M) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(m).is_ok())
    }

    /// Closes the channel and waits for the thread: its result, or why there is none.
    fn join(&mut self) -> std::result::Result<R, &'static str> {
        self.tx = None;
        match self.handle.take().map(std::thread::JoinHandle::join) {
            Some(Ok(r)) => Ok(r),
            Some(Err(_)) => Err("panicked"),
            None => Err("has already ended"),
        }
    }
}

/// The bytes the rendering thread gathers before it hands them to the writing thread.
const WRITE_CHUNK: usize = 256 * 1024;

/// The dump file, hashed and written on a thread of its own while the rows are read and
/// rendered. A chunk is sent once it holds [`WRITE_CHUNK`] bytes, so it is at most that plus
/// one write (a batch of rows); at most 2 wait and 2 written ones are kept to be filled again,
/// so memory does not grow with the table.
struct DumpWriter {
    buf: Vec<u8>,
    writer: Feeder<Vec<u8>, WriteResult>,
    /// Chunks the writing thread has written, to fill again.
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
}

type WriteResult = std::io::Result<(BufWriter<File>, u64, String)>;

impl DumpWriter {
    fn new(file: BufWriter<File>) -> Self {
        let (spare_tx, spare) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let writer = Feeder::start(2, move |rx: std::sync::mpsc::Receiver<Vec<u8>>| {
            let mut w = HashingWriter::new(file);
            for mut chunk in rx {
                w.write_all(&chunk)?;
                chunk.clear();
                let _ = spare_tx.try_send(chunk);
            }
            Ok(w.finish())
        });
        Self {
            buf: Vec::with_capacity(WRITE_CHUNK),
            writer,
            spare,
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        let fresh = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(WRITE_CHUNK));
        let full = std::mem::replace(&mut self.buf, fresh);
        if self.writer.send(full) {
            Ok(())
        } else {
            self.join().map(drop)
        }
    }

    /// Waits for the writing thread: the file, its size and its SHA-256, or the error that
    /// stopped the thread.
    fn join(&mut self) -> WriteResult {
        self.writer
            .join()
            .unwrap_or_else(|why| Err(std::io::Error::other(format!("the writing thread {why}"))))
    }

    /// Writes what is left and returns the file, its size and its SHA-256.
    fn finish(mut self) -> WriteResult {
        if !self.buf.is_empty() {
            self.send()?;
        }
        self.join()
    }
}

impl Write for DumpWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        if self.buf.len() >= WRITE_CHUNK {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for DumpWriter {
    fn drop(&mut self) {
        // No thread outlives the backup, even one that failed.
        let _ = self.join();
    }
}

/// Renders the rows of one table into batched INSERTs or a COPY block while digesting them.
struct RowWriter<'a> {
    out: &'a mut DumpWriter,
    path: &'a Path,
    dialect: &'static dyn Dialect,
    style: RowsStyle,
    prefix: String,
    batch: String,
    in_batch: usize,
    digest: TableDigest,
    /// Rows taken so far.
    rows: u64,
    /// Encoded rows not yet sent to the digest thread.
    encoded: Vec<u8>,
    table: &'a str,
    progress: &'a dyn Progress,
    /// Bytes of the dump written for the table.
    bytes: u64,
    total_rows: Option<u64>,
    /// The table's rows as the dump holds them, read back and digested on a thread of their
    /// own when the rows come as COPY text (see [`DigestWorker`]).
    worker: Option<DigestWorker>,
    table_model: &'a Table,
}

/// Digests a table's rows on a second core while the first one writes them.
///
/// Lines of COPY text are read back with the dialect's own reader, exactly as a restore's
/// re-digest reads the loaded table, so the digest is the one the row path computes. Rows
/// that came as values arrive encoded ([`crate::digest::encode_row`]), each after its length
/// as 8 bytes little-endian.
struct DigestWorker(Feeder<Chunk, Result<TableDigest>>);

/// What the digest thread reads.
enum Chunk {
    /// Whole lines of COPY text.
    Lines(Vec<u8>),
    /// Encoded rows, each after its length.
    Encoded(Vec<u8>),
}

/// The bytes of encoded rows gathered before they go to the digest thread.
const ENCODED_CHUNK: usize = 256 * 1024;

/// A buffer for [`ENCODED_CHUNK`] bytes of encoded rows and the row that goes past them.
/// Every one is allocated at this size, so that the allocator takes back each chunk for the
/// next; a row longer than the room left grows it.
fn encoded_chunk() -> Vec<u8> {
    Vec::with_capacity(ENCODED_CHUNK + 64 * 1024)
}

impl DigestWorker {
    fn start(dialect: &'static dyn Dialect, table: Table) -> Self {
        // A few chunks in flight at most: memory does not grow with the table. COPY text
        // comes from a socket, whose reading should not stall on a busy core: 8 chunks; rows
        // rendered in this process wait in 3.
        let waiting = if dialect.rows_style() == RowsStyle::Copy {
            8
        } else {
            3
        };
        Self(Feeder::start(
            waiting,
            move |rx: std::sync::mpsc::Receiver<Chunk>| {
                let mut digest = TableDigest::new();
                let mut values = Vec::with_capacity(table.columns.len());
                let mut encoded = Vec::new();
                let mut encoder = dialect.copy_encoder(&table);
                while let Ok(chunk) = rx.recv() {
                    let chunk = match chunk {
                        Chunk::Lines(lines) => lines,
                        Chunk::Encoded(rows) => {
                            let mut rest = rows.as_slice();
                            while let Some((len, tail)) = rest.split_first_chunk::<8>() {
                                let (row, tail) = tail.split_at(u64::from_le_bytes(*len) as usize);
                                digest.add_encoded(row);
                                rest = tail;
                            }
                            continue;
                        }
                    };
                    let mut start = 0;
                    for end in memchr::memchr_iter(b'\n', &chunk) {
                        let line = &chunk[start..end];
                        start = end + 1;
                        let bad = |e: Error| Error::Mismatch {
                            table: table.name.clone(),
                            reason: format!("row {}: {e}", digest.rows() + 1),
                        };
                        match encoder.as_mut() {
                            Some(enc) => {
                                encoded.clear();
                                enc(line, &mut encoded).map_err(bad)?;
                                digest.add_encoded(&encoded);
                            }
                            None => {
                                dialect
                                    .decode_copy_line(line, &table, &mut values)
                                    .map_err(bad)?;
                                digest.add(&values);
                            }
                        }
                    }
                    if start != chunk.len() {
                        return Err(Error::Mismatch {
                            table: table.name.clone(),
                            reason: format!("row {}: the line has no end", digest.rows() + 1),
                        });
                    }
                }
                Ok(digest)
            },
        ))
    }

    fn send(&mut self, chunk: Chunk) -> Result<()> {
        if self.0.send(chunk) {
            Ok(())
        } else {
            self.finish().map(drop)
        }
    }

    /// The digest of every line sent, or the error that stopped the thread.
    fn finish(&mut self) -> Result<TableDigest> {
        self.0
            .join()
            .unwrap_or_else(|why| Err(Error::Usage(format!("the digest thread {why}"))))
    }
}

impl RowWriter<'_> {
    fn write_batch(&mut self) -> Result<()> {
        self.out
            .write_all(self.batch.as_bytes())
            .map_err(|e| Error::io("cannot write", self.path, e))?;
        self.bytes += self.batch.len() as u64;
        self.batch.clear();
        crate::fault::point("backup.rows")
    }

    fn flush_batch(&mut self) -> Result<()> {
        if self.in_batch == 0 {
            return Ok(());
        }
        if self.style == RowsStyle::Insert {
            self.batch.push_str(";\n");
            self.in_batch = 0;
        }
        self.write_batch()
    }

    /// Ends the table's rows: the last batch, and a COPY block's end marker.
    fn finish(&mut self) -> Result<()> {
        if !self.encoded.is_empty() {
            let rows = std::mem::take(&mut self.encoded);
            self.digest_worker().send(Chunk::Encoded(rows))?;
        }
        if let Some(mut w) = self.worker.take() {
            self.digest = w.finish()?;
        }
        self.flush_batch()?;
        if self.style == RowsStyle::Copy && self.in_batch > 0 {
            self.batch.push_str("\\.\n");
            self.write_batch()?;
        }
        Ok(())
    }
}

impl RowWriter<'_> {
    /// The digest thread, started by the table's first rows.
    fn digest_worker(&mut self) -> &mut DigestWorker {
        let (dialect, table) = (self.dialect, self.table_model);
        self.worker
            .get_or_insert_with(|| DigestWorker::start(dialect, table.clone()))
    }
}

impl RowSink for RowWriter<'_> {
    fn takes_copy_lines(&self) -> bool {
        self.style == RowsStyle::Copy && self.rows == 0
    }

    fn copy_lines(&mut self, lines: Vec<u8>) -> Result<()> {
        if self.in_batch == 0 {
            self.batch.push_str(&self.prefix);
        }
        let before = self.in_batch as u64;
        let n = memchr::memchr_iter(b'\n', &lines).count();
        self.in_batch += n;
        // The lines go into the dump as the database printed them: PostgreSQL reads its own
        // COPY text back as the same values.
        self.write_batch()?;
        self.out
            .write_all(&lines)
            .map_err(|e| Error::io("cannot write", self.path, e))?;
        self.bytes += lines.len() as u64;
        self.digest_worker().send(Chunk::Lines(lines))?;
        let rows = before + n as u64;
        if rows / ROWS_PER_REPORT != before / ROWS_PER_REPORT {
            self.progress.advance(&crate::progress::TableProgress {
                table: self.table,
                rows,
                bytes: self.bytes,
                total_rows: self.total_rows,
            });
        }
        Ok(())
    }

    fn row(&mut self, values: &[Value]) -> Result<()> {
        self.rows += 1;
        let at = self.encoded.len();
        self.encoded.extend_from_slice(&[0; 8]);
        crate::digest::encode_row(values, &mut self.encoded);
        let len = (self.encoded.len() - at - 8) as u64;
        self.encoded[at..at + 8].copy_from_slice(&len.to_le_bytes());
        if self.encoded.len() >= ENCODED_CHUNK {
            let rows = std::mem::replace(&mut self.encoded, encoded_chunk());
            self.digest_worker().send(Chunk::Encoded(rows))?;
        }
        match self.style {
            RowsStyle::Insert => {
                if self.in_batch == 0 {
                    self.batch.push_str(&self.prefix);
                    self.batch.push('\n');
                } else {
                    self.batch.push_str(",\n");
                }
                self.batch.push('(');
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        self.batch.push(',');
                    }
                    self.dialect.write_literal(v, &mut self.batch);
                }
                self.batch.push(')');
                self.in_batch += 1;
                if self.in_batch >= self.dialect.batch_rows()
                    || self.batch.len() >= self.dialect.batch_bytes()
                {
                    self.flush_batch()?;
                }
            }
            RowsStyle::Copy => {
                if self.in_batch == 0 {
                    self.batch.push_str(&self.prefix);
                }
                self.in_batch += 1;
                self.dialect.write_copy_row(values, &mut self.batch)?;
                if self.batch.len() >= self.dialect.batch_bytes() {
                    self.write_batch()?;
                }
            }
        }
        if self.rows.is_multiple_of(ROWS_PER_REPORT) {
            self.progress.advance(&crate::progress::TableProgress {
                table: self.table,
                rows: self.rows,
                bytes: self.bytes + self.batch.len() as u64,
                total_rows: self.total_rows,
            });
        }
        Ok(())
    }
}

fn write_str(out: &mut DumpWriter, path: &Path, s: &str) -> Result<()> {
    out.write_all(s.as_bytes())
        .map_err(|e| Error::io("cannot write", path, e))
}

/// Backs up the SSO tables that `dumper` reads, with `secrets` if given, into a new bundle
/// directory `out`.
///
/// # Behavior
/// - Refuses an `out` that exists; a failed backup leaves nothing under `out`.
/// - Refuses a secrets.conf whose key1 does not decrypt its own `well_known_data`.
/// - Reads everything in the dumper's one snapshot; streams rows, so memory does not grow
///   with table size.
/// - The dump drops the tables children first, creates them with their original DDL, inserts
///   the rows, then creates indexes and triggers.
pub async fn backup(
    dumper: &mut dyn Dumper,
    secrets: Option<&SecretsConf>,
    out: &Path,
    progress: &dyn Progress,
) -> Result<BackupReport> {
    let mut warnings = Warnings::new(progress);
    let mut key = None;
    let secrets_info = match secrets {
        Some(s) => {
            progress.step("checking secrets.conf");
            let k = s.key1()?;
            s.prove_well_known(&k)?;
            let info = SecretsInfo {
                key1_fingerprint: k.fingerprint().to_string(),
            };
            key = Some(k);
            Some(info)
        }
        None => {
            let w = "no secrets.conf given: the bundle holds no key1, and the passwords and encrypted values in it can only be used with the source's own secrets.conf".to_string();
            warnings.add(w);
            None
        }
    };
    let staged = StagedBundle::create(out)?;
    crate::fault::point("backup.staged")?;
    progress.step(&format!("reading {}", dumper.describe()));
    let snap = dumper.begin().await?;
    crate::fault::point("backup.snapshot")?;
    let (order, cycle) = fk_order(&snap.schema.tables);
    if snap.schema.tables.is_empty() {
        return Err(Error::Refused {
            reason: format!(
                "{} has no SSO tables (names matching {})",
                dumper.describe(),
                catalogue::TABLE_PATTERN
            ),
        });
    }
    for w in &snap.warnings {
        warnings.add(w.clone());
    }
    if cycle {
        warnings.add("the SSO tables reference each other in a cycle; the dump relies on foreign keys being off while it loads");
    }
    for known in catalogue::ZATO_SSO_TABLES {
        if snap.schema.table(known).is_none() {
            let w = format!("{known} is not in the source: the bundle does not have it");
            warnings.add(w);
        }
    }
    let tables: Vec<&Table> = order.iter().map(|&i| &snap.schema.tables[i]).collect();
    let dialect = dumper.dialect();
    for t in &tables {
        check_restorable(dialect, &t.create_sql, &format!("table {}", t.name))?;
        for i in t
            .indexes
            .iter()
            .filter_map(|i| i.create_sql.as_ref().map(|s| (&i.name, s)))
        {
            check_restorable(dialect, i.1, &format!("index {} of {}", i.0, t.name))?;
        }
        for tr in &t.triggers {
            check_restorable(
                dialect,
                &tr.create_sql,
                &format!("trigger {} of {}", tr.name, t.name),
            )?;
        }
        for c in &t.constraints {
            check_restorable(
                dialect,
                &c.create_sql,
                &format!("constraint {} of {}", c.name, t.name),
            )?;
        }
    }
    for q in snap.schema.sequences.iter().filter(|q| !q.identity) {
        check_restorable(dialect, &q.create_sql, &format!("sequence {}", q.name))?;
    }
    let dump_path = staged.path(DUMP_FILE);
    let mut out_w = DumpWriter::new(staged.create_file(DUMP_FILE, 0o600)?);
    let created_at = now_rfc3339();
    let header = format!(
        "-- Zato SSO backup written by zsso {TOOL_VERSION} at {created_at}\n-- source: {} {}, {} tables\n",
        dialect.name(),
        snap.server_version,
        tables.len()
    );
    write_str(&mut out_w, &dump_path, &header)?;
    write_str(&mut out_w, &dump_path, &dialect.dump_prologue())?;
    write_str(&mut out_w, &dump_path, &snap.prologue)?;
    let own_sequences: Vec<&Sequence> = snap
        .schema
        .sequences
        .iter()
        .filter(|q| !q.identity)
        .collect();
    let mut w = |s: &str| write_str(&mut out_w, &dump_path, s);
    for t in tables.iter().rev() {
        w(&dialect.drop_table(&t.name))?;
    }
    for q in &own_sequences {
        w(&dialect.drop_sequence(&q.name))?;
    }
    for q in &own_sequences {
        w(&definition_statement(&q.create_sql))?;
    }
    for t in &tables {
        w(&definition_statement(&t.create_sql))?;
    }
    for q in &own_sequences {
        if let Some(sql) = dialect.own_sequence(q) {
            w(&sql)?;
        }
    }
    dumper.plan_orphans(&snap.schema.tables);
    let mut summaries = Vec::new();
    for t in &tables {
        progress.step(&format!("dumping {}", t.name));
        let total_rows = dumper.estimated_rows(t).await;
        let style = dialect.rows_style();
        let mut rw = RowWriter {
            out: &mut out_w,
            path: &dump_path,
            dialect,
            style,
            prefix: match style {
                RowsStyle::Insert => dialect.insert_prefix(t),
                RowsStyle::Copy => dialect.copy_start(t),
            },
            batch: String::new(),
            in_batch: 0,
            digest: TableDigest::new(),
            rows: 0,
            encoded: encoded_chunk(),
            table: &t.name,
            progress,
            bytes: 0,
            total_rows,
            worker: None,
            table_model: t,
        };
        progress.advance(&crate::progress::TableProgress {
            table: &t.name,
            rows: 0,
            bytes: 0,
            total_rows,
        });
        dumper.stream_rows(t, &mut rw).await?;
        rw.finish()?;
        progress.table_done(&t.name, rw.digest.rows());
        summaries.push(TableSummary {
            name: t.name.clone(),
            rows: rw.digest.rows(),
            digest: rw.digest.digest(),
        });
    }
    let mut w = |s: &str| write_str(&mut out_w, &dump_path, s);
    for q in &snap.schema.sequences {
        w(&dialect.set_sequence(q))?;
    }
    // Keys and checks, then indexes and triggers, then foreign keys (which need the keys of
    // the tables they reference).
    for t in &tables {
        for c in t.constraints.iter().filter(|c| !c.is_foreign_key()) {
            w(&definition_statement(&c.create_sql))?;
        }
    }
    for t in &tables {
        for idx in &t.indexes {
            if let Some(sql) = &idx.create_sql {
                w(&definition_statement(sql))?;
            }
        }
        for tr in &t.triggers {
            w(&definition_statement(&tr.create_sql))?;
        }
    }
    for t in &tables {
        for c in t.constraints.iter().filter(|c| c.is_foreign_key()) {
            w(&definition_statement(&c.create_sql))?;
        }
    }
    write_str(&mut out_w, &dump_path, &dialect.dump_epilogue())?;
    let mut encrypted = None;
    if let (Some(k), Some(s)) = (&key, secrets) {
        progress.step("decrypting every encrypted value with key1");
        let check =
            crate::verify::check_encrypted(&mut crate::verify::DumperRows(dumper), &snap.schema, k)
                .await?;
        if check.failed > 0 && check.decrypted == 0 {
            return Err(Error::crypto(
                format!("key1 of {}", s.path().display()),
                format!(
                    "decrypts none of the {} encrypted values in the database: this secrets.conf belongs to another installation",
                    check.failed
                ),
            ));
        }
        if check.failed > 0 {
            let w = format!(
                "{} of {} encrypted values in the source do not decrypt with key1 (recorded in the manifest): {}",
                check.failed,
                check.failed + check.decrypted,
                check.summary()
            );
            warnings.add(w);
        }
        encrypted = Some(check);
    }
    let orphans = dumper.orphans(&snap.schema.tables).await?;
    if !orphans.is_empty() {
        let w = format!(
            "the source has {} rows that reference missing parents; they are kept as they are and recorded in the manifest",
            orphans.len()
        );
        warnings.add(w);
    }
    dumper.finish().await?;
    let (inner, size, sha256) = out_w
        .finish()
        .map_err(|e| Error::io("cannot write", &dump_path, e))?;
    bundle::finish_file(inner, &dump_path)?;
    crate::fault::point("backup.dumped")?;
    let mut files = vec![FileEntry {
        name: DUMP_FILE.into(),
        size,
        sha256,
    }];
    if let Some(s) = secrets {
        files.push(staged.write_file(SECRETS_FILE, s.raw(), 0o600)?);
    }
    let mut schema = snap.schema.clone();
    schema.tables = tables.into_iter().cloned().collect();
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION.into(),
        tool: ToolInfo {
            name: "zsso".into(),
            version: TOOL_VERSION.into(),
        },
        source: SourceInfo {
            dialect: dialect.name().into(),
            server_version: snap.server_version,
            database: dumper.describe(),
        },
        created_at,
        tables: summaries,
        orphans,
        files,
        secrets: secrets_info,
        encrypted,
        schema,
        conversion: snap.conversion.clone(),
    };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::Usage(format!("cannot encode the manifest: {e}")))?;
    staged.write_file(MANIFEST_FILE, &json, 0o600)?;
    crate::fault::point("backup.manifest")?;
    let bundle = staged.publish()?;
    crate::fault::point("backup.published")?;
    Ok(BackupReport {
        bundle,
        manifest,
        warnings: warnings.into_vec(),
    })
}

/// Refuses to back up an object whose DDL the restore's guard would refuse (or read as more
/// than one statement): a backup that cannot be restored must fail now, not at restore time.
fn check_restorable(dialect: &dyn Dialect, sql: &str, what: &str) -> Result<()> {
    let refuse = |reason: String| Error::Refused {
        reason: format!(
            "cannot back up {what}: a restore would refuse its definition ({reason}); rename or quote what the message names"
        ),
    };
    let stmts =
        definition_statements(sql, what, dialect.lexer()).map_err(|e| refuse(e.to_string()))?;
    match stmts.as_slice() {
        [] => Err(refuse("it is empty".into())),
        [one] => crate::guard::classify(one, Path::new(what), dialect.lexer().syntax)
            .map(drop)
            .map_err(|e| refuse(e.to_string())),
        _ => Err(refuse(
            "it would be read back as more than one statement".into(),
        )),
    }
}

/// The current time in RFC 3339, UTC, with microseconds.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}
