//! The backup bundle: a directory with the dump, a byte-exact secrets.conf and a manifest.
//!
//! ```text
//! BUNDLE/
//!   zato-sso-backup.sql   the dump, loadable by the database's own client
//!   secrets.conf          the installation's secrets.conf, byte for byte (mode 0600)
//!   manifest.json         versions, schema, per-table row count and digest, file checksums
//! ```
//! A bundle is written under a temporary name next to its final one and renamed into place
//! only when complete, so a failed backup never leaves anything under the final name.

use crate::backend::Orphan;
use crate::error::{Error, Result};
use crate::schema::Schema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

/// The value of the manifest's `format` field.
pub const FORMAT: &str = "zsso-bundle";
/// The manifest format version this build writes: `MAJOR.MINOR`.
pub const FORMAT_VERSION: &str = "1.0";
/// The major format version this build reads.
pub const FORMAT_MAJOR: u32 = 1;
/// The dump's file name.
pub const DUMP_FILE: &str = "zato-sso-backup.sql";
/// The secrets file's name.
pub const SECRETS_FILE: &str = "secrets.conf";
/// The manifest's file name.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The largest manifest this build reads.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// The manifest of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// `MAJOR.MINOR`; readers refuse a major they do not know.
    pub format_version: String,
    /// The tool that wrote the bundle.
    pub tool: ToolInfo,
    /// Where the data comes from.
    pub source: SourceInfo,
    /// When the snapshot was taken, RFC 3339 in UTC.
    pub created_at: String,
    /// Per table: row count and digest, in foreign-key order.
    pub tables: Vec<TableSummary>,
    /// Rows that referenced missing parents in the source, as its foreign-key check found them.
    #[serde(default)]
    pub orphans: Vec<Orphan>,
    /// The files of the bundle with their size and SHA-256.
    pub files: Vec<FileEntry>,
    /// What is known of the secrets.conf, if the bundle has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<SecretsInfo>,
    /// What decrypting every encrypted value of the source with its key1 found, if the bundle
    /// has a secrets.conf. Values that did not decrypt in the source are listed here, so a
    /// restore can tell them from values that a foreign key1 cannot decrypt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<crate::verify::EncryptedCheck>,
    /// The SSO tables as the source's catalogue describes them.
    pub schema: Schema,
    /// For a bundle converted from another dialect: from which, and what changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion: Option<crate::cross::ConversionInfo>,
}

/// The tool that wrote a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// `zsso`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// Where a bundle's data comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// `sqlite`, `postgresql` or `mysql`.
    pub dialect: String,
    /// The server's version.
    pub server_version: String,
    /// The database, without any password.
    pub database: String,
}

/// One table's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSummary {
    /// The table.
    pub name: String,
    /// Its row count.
    pub rows: u64,
    /// Its digest (see [`crate::digest`]).
    pub digest: String,
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The file's name inside the bundle directory.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
}

/// What is known of a bundle's secrets.conf without revealing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretsInfo {
    /// A fingerprint of key1 that reveals nothing of it.
    pub key1_fingerprint: String,
}

impl Manifest {
    /// The file entry of that name.
    pub fn file(&self, name: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.name == name)
    }

    /// The summary of that table.
    pub fn table(&self, name: &str) -> Option<&TableSummary> {
        self.tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }
}

/// A writer that hashes and counts what passes through it.
pub struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps a writer.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Returns the inner writer, the size and the SHA-256 in hex.
    pub fn finish(self) -> (W, u64, String) {
        (self.inner, self.bytes, hex::encode(self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A bundle being written under a temporary name; [`StagedBundle::publish`] moves it into
/// place, and dropping it unpublished removes it.
pub struct StagedBundle {
    tmp: PathBuf,
    dest: PathBuf,
    published: bool,
}

impl StagedBundle {
    /// Starts a bundle that will be published at `dest`.
    ///
    /// Refuses if `dest` exists. Leftovers of earlier failed runs next to `dest` are removed.
    pub fn create(dest: &Path) -> Result<Self> {
        if fs::symlink_metadata(dest).is_ok() {
            return Err(Error::Usage(format!(
                "{} already exists: zsso never overwrites a bundle, choose a new --out",
                dest.display()
            )));
        }
        let name = dest
            .file_name()
            .ok_or_else(|| Error::Usage(format!("{} is not a usable bundle name", dest.display())))?
            .to_string_lossy()
            .into_owned();
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(Error::Usage(format!(
                "the directory {} of --out does not exist",
                parent.display()
            )));
        }
        remove_leftovers(&parent, &name);
        let tmp = parent.join(format!(
            ".{name}.zsso-partial-{}-{}",
            std::process::id(),
            unique_suffix()
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .map_err(|e| Error::io("cannot create", &tmp, e))?;
        Ok(Self {
            tmp,
            dest: dest.to_path_buf(),
            published: false,
        })
    }

    /// The path of a file inside the staged bundle.
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.join(name)
    }

    /// Creates a file inside the staged bundle with the given mode.
    pub fn create_file(&self, name: &str, mode: u32) -> Result<BufWriter<File>> {
        let p = self.path(name);
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&p)
            .map_err(|e| Error::io("cannot create", &p, e))?;
        Ok(BufWriter::with_capacity(1 << 20, f))
    }

    /// Writes a whole file and returns its entry.
    pub fn write_file(&self, name: &str, bytes: &[u8], mode: u32) -> Result<FileEntry> {
        let mut w = HashingWriter::new(self.create_file(name, mode)?);
        w.write_all(bytes)
            .map_err(|e| Error::io("cannot write", self.path(name), e))?;
        let (inner, size, sha256) = w.finish();
        finish_file(inner, &self.path(name))?;
        Ok(FileEntry {
            name: name.into(),
            size,
            sha256,
        })
    }

    /// Syncs the directory and renames it to its final name.
    pub fn publish(mut self) -> Result<PathBuf> {
        sync_dir(&self.tmp)?;
        if fs::symlink_metadata(&self.dest).is_ok() {
            return Err(Error::Usage(format!(
                "{} appeared while the backup ran: not overwritten",
                self.dest.display()
            )));
        }
        fs::rename(&self.tmp, &self.dest)
            .map_err(|e| Error::io("cannot rename into", &self.dest, e))?;
        self.published = true;
        if let Some(parent) = self.dest.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            sync_dir(parent)?;
        }
        Ok(self.dest.clone())
    }
}

impl Drop for StagedBundle {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

fn unique_suffix() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{t:x}")
}

/// Removes `.NAME.zsso-partial-*` directories left by runs that were killed.
fn remove_leftovers(parent: &Path, name: &str) {
    let prefix = format!(".{name}.zsso-partial-");
    remove_dead_leftovers(parent, "a partial bundle", true, |n| {
        n.strip_prefix(&prefix)
    });
}

/// The process id in the tail of a name that zsso gave a temporary file or directory:
/// `PID-HEX`, `PID-N-HEX`, either followed by `-journal`, `-wal` or `-shm` (SQLite's files
/// beside a database); `None` for any other shape.
fn leftover_pid(rest: &str) -> Option<u32> {
    let mut parts = rest.split('-');
    let pid = parts.next()?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest: Vec<&str> = parts.collect();
    let hex = match rest.last() {
        Some(&("journal" | "wal" | "shm")) => &rest[..rest.len() - 1],
        _ => &rest[..],
    };
    let hexes = !hex.is_empty()
        && hex.len() <= 2
        && hex
            .iter()
            .all(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if hexes { pid.parse().ok() } else { None }
}

/// Removes the entries of `dir` that a run of zsso killed before it could remove them itself:
/// those for which `rest` gives the tail of the name, in zsso's own shape (`PID-HEX`,
/// `PID-N-HEX`, either followed by `-journal`, `-wal` or `-shm`), when no process of that id
/// is alive. Only directories are removed when
/// `dirs`, only regular files otherwise; a name of any other shape is left alone.
pub fn remove_dead_leftovers(
    dir: &Path,
    what: &str,
    dirs: bool,
    rest: impl for<'a> Fn(&'a str) -> Option<&'a str>,
) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file_name = e.file_name();
        let Some(pid) = rest(&file_name.to_string_lossy()).and_then(leftover_pid) else {
            continue;
        };
        // A run that is still alive is not a leftover.
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(e.path()) else {
            continue;
        };
        let removed = if dirs && meta.is_dir() {
            fs::remove_dir_all(e.path())
        } else if !dirs && meta.is_file() {
            fs::remove_file(e.path())
        } else {
            continue;
        };
        tracing::info!(path = %e.path().display(), "removed {what} left by an earlier run");
        if let Err(err) = removed {
            tracing::warn!(path = %e.path().display(), error = %err, "cannot remove {what} left by an earlier run");
        }
    }
}

/// Flushes a buffered file and syncs it to disk.
pub fn finish_file(w: BufWriter<File>, path: &Path) -> Result<()> {
    let f = w
        .into_inner()
        .map_err(|e| Error::io("cannot write", path, e.into_error()))?;
    f.sync_all().map_err(|e| Error::io("cannot sync", path, e))
}

/// Syncs a directory, so that renames inside it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    crate::secrets::sync_dir(dir)
}

/// A bundle on disk whose manifest was read and whose files were checked.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// False when [`Bundle::open_deferring_dump_hash`] left the dump's SHA-256 to its reader.
    dump_hash_checked: bool,
}

impl Bundle {
    /// Opens a bundle and checks it completely before anything else happens.
    ///
    /// # Behavior
    /// - Refuses a missing, empty, unreadable or malformed manifest, a foreign `format`, and a
    ///   major version this build does not know.
    /// - Refuses file entries that are not plain names of the bundle's own files.
    /// - Refuses a listed file that is missing, is not a regular file, or whose size or
    ///   SHA-256 differs; and a secrets.conf present but not listed.
    pub fn open(dir: &Path) -> Result<Bundle> {
        let mut bundle = Self::open_deferring_dump_hash(dir)?;
        bundle.check_dump_hash()?;
        Ok(bundle)
    }

    /// [`Bundle::open`] without reading the dump: its size is checked, its SHA-256 is left to
    /// whoever reads it next, who must check it before acting on what it read.
    /// [`crate::restore::RestoreSource::check`] does that in the pass that checks every
    /// statement, so that a restore reads the dump once before the target is touched, not
    /// twice.
    pub fn open_deferring_dump_hash(dir: &Path) -> Result<Bundle> {
        let meta = fs::metadata(dir).map_err(|e| Error::io("cannot open bundle", dir, e))?;
        if !meta.is_dir() {
            return Err(Error::bundle(dir, "is not a bundle directory"));
        }
        let mpath = dir.join(MANIFEST_FILE);
        let mmeta = fs::symlink_metadata(&mpath).map_err(|_| {
            Error::bundle(
                &mpath,
                "manifest is missing: not a zsso bundle, or incomplete",
            )
        })?;
        if !mmeta.is_file() {
            return Err(Error::bundle(&mpath, "manifest is not a regular file"));
        }
        if mmeta.len() == 0 {
            return Err(Error::bundle(&mpath, "manifest is empty"));
        }
        if mmeta.len() > MAX_MANIFEST_BYTES {
            return Err(Error::bundle(
                &mpath,
                "manifest is larger than any zsso writes",
            ));
        }
        let text = fs::read(&mpath).map_err(|e| Error::io("cannot read", &mpath, e))?;
        let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| {
            Error::bundle(
                &mpath,
                format!(
                    "manifest is not valid (line {}, column {}): {e}",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        if manifest.format != FORMAT {
            return Err(Error::bundle(
                &mpath,
                format!("format is `{}`, not `{FORMAT}`", manifest.format),
            ));
        }
        let major: Option<u32> = manifest
            .format_version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok());
        if major != Some(FORMAT_MAJOR) {
            return Err(Error::bundle(
                &mpath,
                format!(
                    "format version {} is not one this zsso reads ({FORMAT_MAJOR}.x)",
                    manifest.format_version
                ),
            ));
        }
        for (i, t) in manifest.tables.iter().enumerate() {
            if manifest.tables[..i]
                .iter()
                .any(|u| u.name.eq_ignore_ascii_case(&t.name))
            {
                return Err(Error::bundle(
                    &mpath,
                    format!("lists table {} twice", t.name),
                ));
            }
            match manifest.schema.table(&t.name) {
                None => {
                    return Err(Error::bundle(
                        &mpath,
                        format!("has no schema for table {}", t.name),
                    ));
                }
                // Both come from the same catalogue: a name that differs, if only by case,
                // is a damaged manifest (and on PostgreSQL another table).
                Some(s) if s.name != t.name => {
                    return Err(Error::bundle(
                        &mpath,
                        format!("lists table {} whose schema names it {}", t.name, s.name),
                    ));
                }
                Some(_) => {}
            }
        }
        if manifest.schema.tables.len() != manifest.tables.len() {
            return Err(Error::bundle(
                &mpath,
                "its schema and its tables do not match",
            ));
        }
        if manifest.file(SECRETS_FILE).is_some() && manifest.secrets.is_none() {
            return Err(Error::bundle(
                &mpath,
                "lists a secrets.conf but no key1 fingerprint for it",
            ));
        }
        let bundle = Bundle {
            dir: dir.to_path_buf(),
            manifest,
            dump_hash_checked: false,
        };
        bundle.check_files()?;
        Ok(bundle)
    }

    /// Returns true if and only if the dump's SHA-256 was checked against the manifest.
    pub fn dump_hash_checked(&self) -> bool {
        self.dump_hash_checked
    }

    /// Checks the dump's SHA-256 against the manifest, unless that was done already.
    pub fn check_dump_hash(&mut self) -> Result<()> {
        if !self.dump_hash_checked {
            let entry = self.dump_entry()?;
            check_hash(&self.dump_path(), entry, &sha256_file(&self.dump_path())?)?;
            self.dump_hash_checked = true;
        }
        Ok(())
    }

    /// The manifest's entry for the dump.
    fn dump_entry(&self) -> Result<&FileEntry> {
        self.manifest.file(DUMP_FILE).ok_or_else(|| {
            Error::bundle(
                self.dir.join(MANIFEST_FILE),
                format!("does not list {DUMP_FILE}"),
            )
        })
    }

    /// Checks `sha256`, computed by reading the dump whole, against the manifest: the error
    /// of a damaged file if it differs.
    pub fn check_dump_sha256(&self, sha256: &str) -> Result<()> {
        check_hash(&self.dump_path(), self.dump_entry()?, sha256)
    }

    fn check_files(&self) -> Result<()> {
        let m = &self.manifest;
        let mut seen: Vec<&str> = Vec::new();
        for f in &m.files {
            let plain = Path::new(&f.name).components().count() == 1
                && matches!(
                    Path::new(&f.name).components().next(),
                    Some(Component::Normal(_))
                );
            if !plain || ![DUMP_FILE, SECRETS_FILE].contains(&f.name.as_str()) {
                return Err(Error::bundle(
                    self.dir.join(MANIFEST_FILE),
                    format!(
                        "lists a file `{}` that is not part of a zsso bundle",
                        f.name
                    ),
                ));
            }
            if seen.contains(&f.name.as_str()) {
                return Err(Error::bundle(
                    self.dir.join(MANIFEST_FILE),
                    format!("lists `{}` twice", f.name),
                ));
            }
            seen.push(&f.name);
            if f.name == DUMP_FILE {
                check_size(&self.dir.join(&f.name), f)?;
            } else {
                check_file(&self.dir.join(&f.name), f)?;
            }
        }
        if m.file(DUMP_FILE).is_none() {
            return Err(Error::bundle(
                self.dir.join(MANIFEST_FILE),
                format!("does not list {DUMP_FILE}"),
            ));
        }
        if m.file(SECRETS_FILE).is_none()
            && fs::symlink_metadata(self.dir.join(SECRETS_FILE)).is_ok()
        {
            return Err(Error::bundle(
                self.dir.join(SECRETS_FILE),
                "is in the bundle but not in its manifest",
            ));
        }
        Ok(())
    }

    /// The dump's path.
    pub fn dump_path(&self) -> PathBuf {
        self.dir.join(DUMP_FILE)
    }

    /// The secrets.conf's path, if the bundle has one.
    pub fn secrets_path(&self) -> Option<PathBuf> {
        self.manifest
            .file(SECRETS_FILE)
            .map(|_| self.dir.join(SECRETS_FILE))
    }
}

/// Checks one file against its entry: a regular file with that size and SHA-256.
pub fn check_file(path: &Path, entry: &FileEntry) -> Result<()> {
    check_size(path, entry)?;
    check_hash(path, entry, &sha256_file(path)?)
}

/// Checks that `path` is a regular file of the entry's size.
fn check_size(path: &Path, entry: &FileEntry) -> Result<()> {
    let meta = fs::symlink_metadata(path).map_err(|_| Error::bundle(path, "is missing"))?;
    if !meta.is_file() {
        return Err(Error::bundle(path, "is not a regular file"));
    }
    if meta.len() != entry.size {
        return Err(Error::bundle(
            path,
            format!(
                "has {} bytes, the manifest says {} (cut short or altered)",
                meta.len(),
                entry.size
            ),
        ));
    }
    Ok(())
}

/// Checks a file's SHA-256, `sha256`, against its entry.
fn check_hash(path: &Path, entry: &FileEntry, sha256: &str) -> Result<()> {
    if sha256 != entry.sha256 {
        return Err(Error::bundle(
            path,
            "sha256 differs from the manifest's: the file was altered or damaged",
        ));
    }
    Ok(())
}

/// The SHA-256 of a file, lowercase hex, read in a streaming way.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::io("cannot read", path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_bundle_that_is_dropped_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("b");
        {
            let s = StagedBundle::create(&dest).unwrap();
            s.write_file(DUMP_FILE, b"x", 0o600).unwrap();
        }
        assert!(!dest.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_staged_bundle_refuses_an_existing_destination() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("b");
        fs::create_dir(&dest).unwrap();
        let e = StagedBundle::create(&dest).err().unwrap();
        assert!(e.to_string().contains("already exists"));
    }

    #[test]
    fn only_names_in_zsso_s_own_shape_are_leftovers() {
        assert_eq!(leftover_pid("4194304-18f3a"), Some(4194304));
        assert_eq!(leftover_pid("77-3-0badcafe"), Some(77));
        assert_eq!(leftover_pid("77-18f3a-journal"), Some(77));
        for other in [
            "old",
            "2023-01-01x",
            "77",
            "77-",
            "77-xyz",
            "-1-ab",
            "77-ab-cd-ef",
            "77-ab-journal-x",
            "keep",
        ] {
            assert_eq!(leftover_pid(other), None, "{other}");
        }
    }

    #[test]
    fn leftovers_of_killed_runs_are_removed_and_running_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // No process has pid 4194304 or above (the kernel's limit).
        let left = dir.path().join(".b.zsso-partial-4194304-2");
        fs::create_dir(&left).unwrap();
        let running = StagedBundle::create(&dir.path().join("b")).unwrap();
        assert!(!left.exists());
        // A second backup to the same name leaves the first one's directory alone.
        let second = StagedBundle::create(&dir.path().join("b")).unwrap();
        assert!(running.tmp.exists());
        drop(second);
        drop(running);
    }

    #[test]
    fn check_file_tells_size_and_content_changes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, b"hello").unwrap();
        let good = FileEntry {
            name: "f".into(),
            size: 5,
            sha256: sha256_file(&p).unwrap(),
        };
        check_file(&p, &good).unwrap();
        fs::write(&p, b"hellO").unwrap();
        assert!(
            check_file(&p, &good)
                .unwrap_err()
                .to_string()
                .contains("altered")
        );
        fs::write(&p, b"hell").unwrap();
        assert!(
            check_file(&p, &good)
                .unwrap_err()
                .to_string()
                .contains("has 4 bytes")
        );
    }
}
