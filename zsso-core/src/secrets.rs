//! Zato's `secrets.conf`: reading it, finding and proving `key1`, resolving
//! `zato+secret://` references, and installing a copy of it safely.
//!
//! `secrets.conf` (in `config/repo/` of a Zato server) is a ConfigObj file:
//!
//! ```text
//! [secret_keys]
//! key1=<Fernet key>
//! [zato]
//! well_known_data=<Fernet token> # Pi number
//! server_conf.odb.password=<Fernet token>
//! ```
//!
//! A restore copies the file byte for byte ([`SecretsConf::raw`], [`install`]): the database
//! it came with is unreadable without it. Nothing in this module puts a key, a token's
//! plaintext or a secret value into an error message or a `Debug` output.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The prefix of a server.conf value that points into secrets.conf.
pub const SECRET_URI_PREFIX: &str = "zato+secret://";

/// The prefix of a `key1` that Zato reads from standard input (not supported by zsso).
pub const STDIN_URI_PREFIX: &str = "zato+stdin://";

/// What `well_known_data` must decrypt to the beginning of.
const PI_MARKER: &[u8] = b"3.14159";

/// Urlsafe base64, with or without `=` padding, canonical trailing bits.
const URLSAFE_ANY_PAD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

// ---------------------------------------------------------------------------------------------
// The ConfigObj line reader, shared with server_conf.rs.
// ---------------------------------------------------------------------------------------------

/// One `key = value` line of a ConfigObj file.
pub(crate) struct ConfEntry {
    /// The key, unquoted.
    pub(crate) key: String,
    /// The value, unquoted and without its inline comment. Zeroised on drop: it may be a key.
    pub(crate) value: Zeroizing<String>,
    /// The 1-based line of the key.
    pub(crate) line: usize,
}

/// One `[section]` of a ConfigObj file, in file order.
pub(crate) struct ConfSection {
    /// The name; a nested `[[sub]]` section is named `parent/sub`.
    pub(crate) name: String,
    /// The 1-based line of the header.
    pub(crate) line: usize,
    /// The entries, in file order.
    pub(crate) entries: Vec<ConfEntry>,
}

/// A parsed ConfigObj file: sections of keys with their line numbers.
///
/// Understood: a UTF-8 byte order mark, blank lines, `#` comment lines, `[section]` headers
/// (and nested `[[sub]]` ones), `key = value` lines (the key ends at the first `=`, keys may
/// contain dots), inline `# comments`, values quoted with `'...'`, `"..."` or triple quotes
/// (which may span lines), CR-LF line ends. An unquoted value ends at its first `#`, as in
/// ConfigObj. Comma-separated list values are kept as their raw text. Keys before the first
/// section, duplicate keys or sections, and lines that are none of the above are errors.
pub(crate) struct ConfFile {
    pub(crate) sections: Vec<ConfSection>,
}

impl ConfFile {
    /// Parses `text`; errors name `origin` and the line, never the line's content.
    pub(crate) fn parse(text: &str, origin: &Path) -> Result<Self> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        let err = |line: usize, reason: &str| Error::config(origin, Some(line), reason);

        let mut sections: Vec<ConfSection> = Vec::new();
        // The names of the sections enclosing the current one, outermost first.
        let mut stack: Vec<String> = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let lineno = i + 1;
            let line = lines[i].trim();
            i += 1;
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('[') {
                let depth = line.bytes().take_while(|&b| b == b'[').count();
                let rest = &line[depth..];
                let close = "]".repeat(depth);
                let Some(end) = rest.find(&close) else {
                    return Err(err(lineno, "section header has no closing `]`"));
                };
                let name = rest[..end].trim();
                let after = rest[end + depth..].trim();
                if name.is_empty() || name.contains(['[', ']']) {
                    return Err(err(lineno, "malformed section header"));
                }
                if !(after.is_empty() || after.starts_with('#')) {
                    return Err(err(lineno, "unexpected text after the section header"));
                }
                if depth > stack.len() + 1 {
                    return Err(err(
                        lineno,
                        "section is nested more deeply than the section it is in",
                    ));
                }
                stack.truncate(depth - 1);
                stack.push(unquote_name(name).to_owned());
                let full = stack.join("/");
                if sections.iter().any(|s| s.name == full) {
                    return Err(err(
                        lineno,
                        &format!("duplicate section [{}]", printable_name(&full)),
                    ));
                }
                sections.push(ConfSection {
                    name: full,
                    line: lineno,
                    entries: Vec::new(),
                });
                continue;
            }
            let Some(eq) = line.find('=') else {
                return Err(err(
                    lineno,
                    "expected `[section]`, `key = value` or a `#` comment",
                ));
            };
            let key = unquote_name(line[..eq].trim());
            if key.is_empty() {
                return Err(err(lineno, "a line with `=` but no key"));
            }
            let Some(section) = sections.last_mut() else {
                return Err(err(
                    lineno,
                    "a key outside any [section] (key names are not shown: a broken line may hold a secret)",
                ));
            };
            if section.entries.iter().any(|e| e.key == key) {
                return Err(err(
                    lineno,
                    &format!(
                        "a key that already appeared in [{}]",
                        printable_name(&section.name)
                    ),
                ));
            }
            let raw_value = line[eq + 1..].trim();
            let value = parse_value(raw_value, &lines, &mut i)
                .map_err(|reason| err(lineno, &format!("the value: {reason}")))?;
            section.entries.push(ConfEntry {
                key: key.to_owned(),
                value,
                line: lineno,
            });
        }
        Ok(ConfFile { sections })
    }

    /// The section named `name`.
    pub(crate) fn section(&self, name: &str) -> Option<&ConfSection> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The entry `key` of section `section`.
    pub(crate) fn entry(&self, section: &str, key: &str) -> Option<&ConfEntry> {
        self.section(section)?.entries.iter().find(|e| e.key == key)
    }
}

/// Removes one pair of matching quotes around a key or section name.
fn unquote_name(s: &str) -> &str {
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

/// Whether `rest`, the text after a value, is nothing or an inline comment.
fn only_comment(rest: &str) -> bool {
    let rest = rest.trim();
    rest.is_empty() || rest.starts_with('#')
}

/// Parses the text after `=`; a triple-quoted value may go on over the next lines, which are
/// then consumed (`next` is the index of the next line to read). The reason never contains
/// the value.
fn parse_value(
    raw: &str,
    lines: &[&str],
    next: &mut usize,
) -> std::result::Result<Zeroizing<String>, String> {
    for triple in ["'''", "\"\"\""] {
        if let Some(body) = raw.strip_prefix(triple) {
            if let Some(end) = body.find(triple) {
                if !only_comment(&body[end + 3..]) {
                    return Err("unexpected text after the closing quotes".into());
                }
                return Ok(Zeroizing::new(body[..end].to_owned()));
            }
            let mut value = Zeroizing::new(body.to_owned());
            while *next < lines.len() {
                let line = lines[*next];
                *next += 1;
                value.push('\n');
                if let Some(end) = line.find(triple) {
                    if !only_comment(&line[end + 3..]) {
                        return Err("unexpected text after the closing quotes".into());
                    }
                    value.push_str(&line[..end]);
                    return Ok(value);
                }
                value.push_str(line);
            }
            return Err("triple-quoted value is never closed".into());
        }
    }
    for q in ['"', '\''] {
        if let Some(body) = raw.strip_prefix(q) {
            let Some(end) = body.find(q) else {
                return Err("quoted value has no closing quote".into());
            };
            if only_comment(&body[end + 1..]) {
                return Ok(Zeroizing::new(body[..end].to_owned()));
            }
            // A list of quoted values, `"a", "b"`: kept as its raw text, comment removed.
            return Ok(Zeroizing::new(strip_list_comment(raw).to_owned()));
        }
    }
    let end = raw.find('#').unwrap_or(raw.len());
    Ok(Zeroizing::new(raw[..end].trim_end().to_owned()))
}

/// Removes an inline comment from a list value, skipping `#` inside quotes.
fn strip_list_comment(raw: &str) -> &str {
    let mut quote: Option<char> = None;
    for (i, c) in raw.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') => return raw[..i].trim_end(),
            _ => {}
        }
    }
    raw
}

/// Looks up an environment variable; the indirection lets tests avoid the real environment.
type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

fn real_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// Whether `name` may be an environment variable name as Zato's `$NAME` values use them.
fn valid_env_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

// ---------------------------------------------------------------------------------------------
// Key1
// ---------------------------------------------------------------------------------------------

/// The Fernet key `key1` of a Zato installation, which encrypts everything secret in its
/// database and secrets.conf.
///
/// Its `Debug` prints `Key1(<redacted>)`; [`Key1::fingerprint`] names it without revealing it.
#[derive(Clone)]
pub struct Key1 {
    fernet: fernet::Fernet,
    fingerprint: String,
}

impl fmt::Debug for Key1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key1(<redacted>)")
    }
}

impl Key1 {
    /// Makes a key from its text form, urlsafe base64 of exactly 32 bytes (as in secrets.conf).
    ///
    /// A [`Error::Crypto`] if it is not; the error never contains the text.
    pub fn from_text(text: &str) -> Result<Self> {
        Self::from_text_inner(text).map_err(|reason| Error::crypto("key1", reason))
    }

    /// Like [`Key1::from_text`], the reason of a failure as plain text.
    fn from_text_inner(text: &str) -> std::result::Result<Self, String> {
        let text = text.trim();
        let bytes = Zeroizing::new(
            URLSAFE_ANY_PAD
                .decode(text)
                .map_err(|_| "is not urlsafe base64 (a Fernet key)".to_string())?,
        );
        if bytes.len() != 32 {
            return Err(format!(
                "is not a Fernet key: it decodes to {} bytes, not 32",
                bytes.len()
            ));
        }
        let fernet = fernet::Fernet::new(text)
            .ok_or_else(|| "is not a Fernet key (urlsafe base64 of 32 bytes)".to_string())?;
        let mut hasher = Sha256::new();
        hasher.update(b"zsso-key1-fingerprint");
        hasher.update(&bytes[..]);
        let digest = hasher.finalize();
        Ok(Key1 {
            fernet,
            fingerprint: hex::encode(&digest[..8]),
        })
    }

    /// A short identifier of this key (16 hex digits of a salted SHA-256 of it), safe to
    /// print: it tells keys apart without revealing them.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Decrypts a Fernet token made with this key. The token's age is not checked (Zato's
    /// tokens are years old). Surrounding ASCII whitespace is ignored.
    ///
    /// A [`Error::Crypto`] if the token is malformed or was made with another key.
    pub fn decrypt(&self, token: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let what = "fernet token";
        let token = std::str::from_utf8(token.trim_ascii())
            .map_err(|_| Error::crypto(what, "is not ASCII text"))?;
        match self.fernet.decrypt(token) {
            Ok(plain) => Ok(Zeroizing::new(plain)),
            Err(_) => Err(Error::crypto(what, diagnose_token(token))),
        }
    }
}

/// Says why a token that did not decrypt failed, as well as can be told without the key.
fn diagnose_token(token: &str) -> String {
    let Ok(bytes) = URLSAFE_ANY_PAD.decode(token) else {
        return "is not urlsafe base64, so not a Fernet token".into();
    };
    // version (1) + timestamp (8) + iv (16) + at least one block (16) + hmac (32)
    if bytes.len() < 73 || bytes[0] != 0x80 || (bytes.len() - 57) % 16 != 0 {
        return "is not a well-formed Fernet token".into();
    }
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&bytes[1..9]);
    let ts = u64::from_be_bytes(ts);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if ts > now.saturating_add(60) {
        return "is dated in the future (a clock set ahead when it was made?), \
                which the Fernet library refuses"
            .into();
    }
    "does not decrypt with key1 (made with another key, or damaged)".into()
}

/// A section or key name of a ConfigObj file as messages and `Debug` show it: as it is when
/// it is made of what Zato's names are made of (lowercase ASCII letters, digits, `_`, `.`,
/// `-`, `/`, at most 64 of them), otherwise as `<N characters>`. A damaged file can have a
/// key, or a fragment of one, where a name belongs (a value moved to a line of its own);
/// Fernet keys and tokens are urlsafe base64 with uppercase letters, which no such name has.
pub fn printable_name(name: &str) -> String {
    let plain = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-/".contains(&b));
    if plain {
        name.to_string()
    } else {
        format!("<{} characters>", name.chars().count())
    }
}

// ---------------------------------------------------------------------------------------------
// SecretsConf
// ---------------------------------------------------------------------------------------------

/// A `secrets.conf`: its exact bytes and its parsed sections.
///
/// Its `Debug` shows the path and the section and key names, never a value; a name that
/// could be a value put on a line of its own (see [`printable_name`]) by its length only.
pub struct SecretsConf {
    path: PathBuf,
    raw: Zeroizing<Vec<u8>>,
    conf: ConfFile,
}

impl fmt::Debug for SecretsConf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Keys<'a>(&'a ConfSection);
        impl fmt::Debug for Keys<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list()
                    .entries(self.0.entries.iter().map(|e| printable_name(&e.key)))
                    .finish()
            }
        }
        struct Sections<'a>(&'a ConfFile);
        impl fmt::Debug for Sections<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(
                        self.0
                            .sections
                            .iter()
                            .map(|s| (printable_name(&s.name), Keys(s))),
                    )
                    .finish()
            }
        }
        f.debug_struct("SecretsConf")
            .field("path", &self.path)
            .field("bytes", &self.raw.len())
            .field("sections", &Sections(&self.conf))
            .finish()
    }
}

impl SecretsConf {
    /// Reads and parses the file at `path`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
        Self::parse(bytes, path)
    }

    /// Parses the bytes of a secrets.conf; `origin` is the path that errors name.
    ///
    /// A [`Error::Config`] naming the line if the bytes are not UTF-8 or a line is
    /// malformed.
    pub fn parse(bytes: Vec<u8>, origin: &Path) -> Result<Self> {
        let raw = Zeroizing::new(bytes);
        let text = match std::str::from_utf8(&raw) {
            Ok(t) => t,
            Err(e) => {
                let line = raw[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1;
                return Err(Error::config(origin, Some(line), "is not valid UTF-8"));
            }
        };
        let conf = ConfFile::parse(text, origin)?;
        Ok(SecretsConf {
            path: origin.to_path_buf(),
            raw,
            conf,
        })
    }

    /// The path it was read from (or the origin given to [`SecretsConf::parse`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The exact bytes of the file: a restore writes these back byte for byte.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The value of `key` in `[section]`, unquoted and without its inline comment.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.conf.entry(section, key).map(|e| e.value.as_str())
    }

    /// The 1-based line on which `key` of `[section]` is.
    pub fn line(&self, section: &str, key: &str) -> Option<usize> {
        self.conf.entry(section, key).map(|e| e.line)
    }

    /// The section names, in file order.
    pub fn sections(&self) -> impl Iterator<Item = &str> {
        self.conf.sections.iter().map(|s| s.name.as_str())
    }

    /// The key names of `[section]`, in file order (empty if there is no such section).
    pub fn keys(&self, section: &str) -> impl Iterator<Item = &str> {
        self.conf
            .section(section)
            .into_iter()
            .flat_map(|s| s.entries.iter().map(|e| e.key.as_str()))
    }

    /// The installation's `key1`, from `[secret_keys]`, or from the environment variable it
    /// names as `$NAME`.
    ///
    /// A [`Error::Config`] naming the file and line if it is missing, names an unset variable,
    /// is `zato+stdin:///` (not supported: pass the key through an environment variable), or
    /// is not urlsafe base64 of 32 bytes. The error never contains the value.
    pub fn key1(&self) -> Result<Key1> {
        self.key1_with_env(&real_env)
    }

    fn key1_with_env(&self, env: EnvLookup<'_>) -> Result<Key1> {
        let Some(section) = self.conf.section("secret_keys") else {
            return Err(Error::config(
                &self.path,
                None,
                "has no [secret_keys] section, so no key1",
            ));
        };
        let Some(entry) = section.entries.iter().find(|e| e.key == "key1") else {
            return Err(Error::config(
                &self.path,
                Some(section.line),
                "[secret_keys] has no key1",
            ));
        };
        let line = Some(entry.line);
        let value = entry.value.trim();
        if value.starts_with(STDIN_URI_PREFIX) {
            return Err(Error::config(
                &self.path,
                line,
                "key1 is to be read from standard input (zato+stdin:///), which zsso does not \
                 support: put the key in an environment variable and set key1=$VARIABLE_NAME \
                 instead",
            ));
        }
        if let Some(name) = value.strip_prefix('$') {
            if !valid_env_name(name) {
                return Err(Error::config(
                    &self.path,
                    line,
                    "key1 starts with `$` but what follows is not an environment variable name",
                ));
            }
            let Some(os) = env(name) else {
                return Err(Error::config(
                    &self.path,
                    line,
                    format!("key1 is taken from environment variable ${name}, which is not set"),
                ));
            };
            let Some(text) = os.to_str() else {
                return Err(Error::config(
                    &self.path,
                    line,
                    format!("key1 from environment variable ${name} is not valid UTF-8"),
                ));
            };
            let text = Zeroizing::new(text.to_owned());
            return Key1::from_text_inner(&text).map_err(|reason| {
                Error::config(
                    &self.path,
                    line,
                    format!("key1 from environment variable ${name} {reason}"),
                )
            });
        }
        Key1::from_text_inner(value)
            .map_err(|reason| Error::config(&self.path, line, format!("key1 {reason}")))
    }

    /// Proves that `key` belongs to this installation: `well_known_data` of `[zato]` must
    /// decrypt with it to the text of pi (`3.14159...`).
    ///
    /// A [`Error::Config`] if there is no `well_known_data`, a [`Error::Crypto`] if it does
    /// not decrypt or decrypts to anything else. Never includes the plaintext.
    pub fn prove_well_known(&self, key: &Key1) -> Result<()> {
        let Some(entry) = self.conf.entry("zato", "well_known_data") else {
            return Err(Error::config(
                &self.path,
                None,
                "[zato] has no well_known_data, so key1 cannot be proven to belong here",
            ));
        };
        let what = format!(
            "well_known_data in {} (line {})",
            self.path.display(),
            entry.line
        );
        let plain = key.decrypt(entry.value.as_bytes()).map_err(|e| match e {
            Error::Crypto { reason, .. } => Error::crypto(&what, reason),
            other => other,
        })?;
        if plain.starts_with(PI_MARKER) {
            Ok(())
        } else {
            Err(Error::crypto(
                what,
                "decrypts with key1, but to something other than the pi marker",
            ))
        }
    }

    /// Resolves a server.conf value: `zato+secret://GROUP.KEY` is `KEY` of `[GROUP]` in this
    /// file decrypted with `key`, `$NAME` is environment variable `NAME`, and anything else
    /// is returned as it is.
    ///
    /// Errors about the value itself name this file; see [`SecretsConf::resolve_from`] to
    /// name the file the value came from.
    pub fn resolve(&self, uri_or_value: &str, key: &Key1) -> Result<Zeroizing<String>> {
        self.resolve_with_env(uri_or_value, key, &self.path, None, &real_env)
    }

    /// Like [`SecretsConf::resolve`], errors about the value (a malformed reference, an
    /// unset variable) naming `origin` and `line`, where the value was read.
    pub fn resolve_from(
        &self,
        uri_or_value: &str,
        key: &Key1,
        origin: &Path,
        line: Option<usize>,
    ) -> Result<Zeroizing<String>> {
        self.resolve_with_env(uri_or_value, key, origin, line, &real_env)
    }

    fn resolve_with_env(
        &self,
        value: &str,
        key: &Key1,
        origin: &Path,
        line: Option<usize>,
        env: EnvLookup<'_>,
    ) -> Result<Zeroizing<String>> {
        if let Some(reference) = value.strip_prefix(SECRET_URI_PREFIX) {
            let reference = reference.trim();
            let Some((group, name)) = reference
                .split_once('.')
                .filter(|(g, k)| !g.is_empty() && !k.is_empty())
            else {
                return Err(Error::config(
                    origin,
                    line,
                    format!(
                        "`{SECRET_URI_PREFIX}{reference}` is not of the form \
                         {SECRET_URI_PREFIX}GROUP.KEY"
                    ),
                ));
            };
            let Some(entry) = self.conf.entry(group, name) else {
                return Err(Error::config(
                    &self.path,
                    None,
                    format!(
                        "has no `{name}` in [{group}], which `{SECRET_URI_PREFIX}{reference}` \
                         points to"
                    ),
                ));
            };
            let stored = entry.value.trim();
            if stored.is_empty() {
                return Ok(Zeroizing::new(String::new()));
            }
            let what = format!(
                "`{}` of [{}] in {} (line {})",
                printable_name(name),
                printable_name(group),
                self.path.display(),
                entry.line
            );
            let plain = key.decrypt(stored.as_bytes()).map_err(|e| match e {
                Error::Crypto { reason, .. } => Error::crypto(&what, reason),
                other => other,
            })?;
            return zeroizing_utf8(plain)
                .ok_or_else(|| Error::crypto(what, "decrypts with key1, but not to UTF-8 text"));
        }
        if let Some(name) = value.strip_prefix('$') {
            if !valid_env_name(name) {
                return Err(Error::config(
                    origin,
                    line,
                    "value starts with `$` but what follows is not an environment variable name",
                ));
            }
            let Some(os) = env(name) else {
                return Err(Error::config(
                    origin,
                    line,
                    format!("environment variable ${name} is not set"),
                ));
            };
            return os.into_string().map(Zeroizing::new).map_err(|_| {
                Error::config(
                    origin,
                    line,
                    format!("environment variable ${name} is not valid UTF-8"),
                )
            });
        }
        Ok(Zeroizing::new(value.to_owned()))
    }
}

/// Turns decrypted bytes into a zeroised string without leaving an unzeroised copy.
pub(crate) fn zeroizing_utf8(mut bytes: Zeroizing<Vec<u8>>) -> Option<Zeroizing<String>> {
    std::str::from_utf8(&bytes).ok()?;
    let vec = std::mem::take(&mut *bytes);
    // Cannot fail: checked above. The Vec's buffer moves into the String, no copy is made.
    String::from_utf8(vec).ok().map(Zeroizing::new)
}

// ---------------------------------------------------------------------------------------------
// Writing secrets.conf
// ---------------------------------------------------------------------------------------------

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallReport {
    /// The installed file.
    pub path: PathBuf,
    /// Where the file it replaced was saved, if there was one and it differed.
    pub backup: Option<PathBuf>,
    /// Whether a file was there already with exactly the installed bytes (then no backup
    /// is made).
    pub replaced_identical: bool,
}

/// Makes temporary names unique within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically, readable by the owner only (mode 0600): a temporary
/// file in the same directory is written, synced, renamed over `path`, and the directory is
/// synced. If anything up to the rename fails, the temporary file is removed and `path` is
/// as it was; only a failure to sync the directory afterwards leaves the new file in place.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_owned(path, bytes, None)
}

/// The owner (uid, gid) of a file, where the platform has one.
type Owner = (u32, u32);

#[cfg(unix)]
fn owner_of(meta: &fs::Metadata) -> Option<Owner> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.uid(), meta.gid()))
}

#[cfg(not(unix))]
fn owner_of(_meta: &fs::Metadata) -> Option<Owner> {
    None
}

/// [`write_private_atomic`], the new file given `owner` (if any) before the rename.
fn write_atomic_owned(path: &Path, bytes: &[u8], owner: Option<Owner>) -> Result<()> {
    stage(path, bytes, owner)?.commit()
}

/// A file written and synced under a temporary name next to its destination, waiting for
/// the rename that puts it in place; dropped uncommitted, it is removed.
struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    done: bool,
}

impl Staged {
    /// Renames the staged file over its destination and syncs the directory.
    fn commit(mut self) -> Result<()> {
        fs::rename(&self.tmp, &self.path)
            .map_err(|e| Error::io("cannot rename into place", self.path.clone(), e))?;
        self.done = true;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        sync_dir(dir)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` (mode 0600, given `owner`) to a synced temporary file next to `path`.
fn stage(path: &Path, bytes: &[u8], owner: Option<Owner>) -> Result<Staged> {
    let Some(name) = path.file_name() else {
        return Err(Error::io(
            "cannot write",
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"),
        ));
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let (tmp, mut file) = create_temp(dir, name)?;
    let staged = Staged {
        tmp,
        path: path.to_path_buf(),
        done: false,
    };
    let written = (|| -> std::result::Result<(), (&'static str, io::Error)> {
        file.write_all(bytes).map_err(|e| ("cannot write", e))?;
        set_private(&file).map_err(|e| ("cannot restrict the mode of", e))?;
        if let Some(owner) = owner {
            set_owner(&file, owner).map_err(|e| ("cannot give the replaced file's owner to", e))?;
        }
        file.sync_all().map_err(|e| ("cannot sync", e))
    })();
    if let Err((action, e)) = written {
        return Err(Error::io(action, staged.tmp.clone(), e));
    }
    Ok(staged)
}

/// Gives an open file an owner and group, if it does not have them already (changing them
/// needs privileges; keeping one's own does not).
fn set_owner(file: &fs::File, (uid, gid): Owner) -> io::Result<()> {
    #[cfg(unix)]
    {
        let meta = file.metadata()?;
        if owner_of(&meta) != Some((uid, gid)) {
            std::os::unix::fs::fchown(file, Some(uid), Some(gid))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (file, uid, gid);
    Ok(())
}

/// Creates a new, empty, private temporary file next to the target.
fn create_temp(dir: &Path, name: &std::ffi::OsStr) -> Result<(PathBuf, fs::File)> {
    let pid = std::process::id();
    let mut last_err = None;
    for _ in 0..64 {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut tmp_name = OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{pid}-{n}-{nanos:08x}"));
        let tmp = dir.join(tmp_name);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some((tmp, e)),
            Err(e) => return Err(Error::io("cannot create", tmp, e)),
        }
    }
    let (tmp, e) = last_err.expect("the loop ran");
    Err(Error::io("cannot create", tmp, e))
}

/// Removes `.NAME.tmp-PID-*` and `.NAME.bak[.N].tmp-PID-*` files next to `dest` that runs
/// killed before their rename left behind (see [`create_temp`]).
fn remove_stale_temps(dest: &Path) {
    let (Some(dir), Some(name)) = (dest.parent(), dest.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let own = format!(".{}.", name.to_string_lossy());
    crate::bundle::remove_dead_leftovers(dir, "a temporary secrets file", false, |n| {
        let rest = n.strip_prefix(&own)?;
        let (kind, rest) = rest.split_once("tmp-")?;
        let is_bak = kind.is_empty()
            || kind == "bak."
            || kind
                .strip_prefix("bak.")
                .and_then(|k| k.strip_suffix('.'))
                .is_some_and(|k| k.bytes().all(|b| b.is_ascii_digit()));
        is_bak.then_some(rest)
    });
}

/// Makes an open file readable and writable by its owner only (the umask may have left it
/// at less, never more, but be explicit).
fn set_private(file: &fs::File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Syncs a directory so that a rename in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = fs::File::open(dir).map_err(|e| Error::io("cannot open directory", dir, e))?;
        d.sync_all()
            .map_err(|e| Error::io("cannot sync directory", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Installs `bytes` as the secrets.conf at `dest`, mode 0600.
///
/// If a different file is there, its bytes are first saved (mode 0600, atomically) as
/// `dest.bak`; if `dest.bak` already holds some other content, the first free of
/// `dest.bak.1`, `dest.bak.2`, ... is used instead, so that no earlier backup (maybe the only
/// copy of a key) is ever overwritten. `dest` itself is replaced atomically by a rename: it
/// exists at every moment. If `dest` already holds exactly `bytes`, no backup is made and
/// the file is rewritten only to ensure its mode.
///
/// A file that replaces another (and its backup) keeps the owner and group of the one it
/// replaces, so that a restore run as root leaves a file the Zato server's user can still
/// read; if that cannot be done, `dest` is not replaced and an [`Error::Io`] says so.
pub fn install(dest: &Path, bytes: &[u8]) -> Result<InstallReport> {
    prepare_install(dest, bytes)?.commit()
}

/// An [`install`] whose files are all written and synced, waiting only for its renames, so
/// that a caller can do every step that may fail (a full disk, a directory it cannot write)
/// before a point of no return, such as a database commit. Dropped uncommitted, it leaves
/// nothing behind.
pub struct PreparedInstall {
    dest: PathBuf,
    backup: Option<Staged>,
    new: Staged,
    replaced_identical: bool,
}

impl fmt::Debug for PreparedInstall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedInstall")
            .field("dest", &self.dest)
            .field("backup", &self.backup.as_ref().map(|b| &b.path))
            .finish()
    }
}

impl PreparedInstall {
    /// Renames the backup and then the new file into place. Only renames and directory syncs
    /// remain to fail here.
    pub fn commit(self) -> Result<InstallReport> {
        let backup = match self.backup {
            Some(b) => {
                let p = b.path.clone();
                b.commit()?;
                Some(p)
            }
            None => None,
        };
        crate::fault::point("restore.bak")?;
        self.new.commit()?;
        Ok(InstallReport {
            path: self.dest,
            backup,
            replaced_identical: self.replaced_identical,
        })
    }
}

/// Does everything [`install`] does but the final renames; see [`PreparedInstall`].
///
/// Temporary files that an earlier run, killed half-way, left next to `dest` (or its
/// backups) are removed first.
pub fn prepare_install(dest: &Path, bytes: &[u8]) -> Result<PreparedInstall> {
    remove_stale_temps(dest);
    let owner = match fs::metadata(dest) {
        Ok(meta) => owner_of(&meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("cannot read", dest, e)),
    };
    let old = match fs::read(dest) {
        Ok(b) => Some(Zeroizing::new(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("cannot read", dest, e)),
    };
    let replaced_identical = old.as_deref().is_some_and(|o| o[..] == *bytes);
    let mut backup = None;
    if let Some(old) = old.as_deref().filter(|_| !replaced_identical) {
        let bak = free_backup_path(dest, old)?;
        backup = Some(stage(&bak, old, owner)?);
    }
    let new = stage(dest, bytes, owner)?;
    Ok(PreparedInstall {
        dest: dest.to_path_buf(),
        backup,
        new,
        replaced_identical,
    })
}

/// The backup path for `dest`: `dest.bak` unless it exists with other bytes than `old`,
/// then `dest.bak.N`, the first that is free or already holds `old`.
fn free_backup_path(dest: &Path, old: &[u8]) -> Result<PathBuf> {
    for n in 0u32..1000 {
        let candidate = if n == 0 {
            with_suffix(dest, ".bak")
        } else {
            with_suffix(dest, &format!(".bak.{n}"))
        };
        match fs::read(&candidate) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(candidate),
            Err(e) => return Err(Error::io("cannot read", candidate, e)),
            Ok(existing) => {
                let existing = Zeroizing::new(existing);
                if existing[..] == *old {
                    return Ok(candidate);
                }
            }
        }
    }
    Err(Error::io(
        "cannot find a free backup name for",
        dest,
        io::Error::new(io::ErrorKind::AlreadyExists, "1000 backups exist"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE_KEY: &str = "Sli3kd9q8dgwPmHNxLuGw9HEJxA8NExBiesvHnvV1H4=";

    fn fixture_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/zato-3.2-sqlite/server/config/repo/secrets.conf")
    }

    fn fixture() -> SecretsConf {
        SecretsConf::read(fixture_path()).expect("fixture parses")
    }

    fn parse(text: &str) -> Result<SecretsConf> {
        SecretsConf::parse(text.as_bytes().to_vec(), Path::new("/x/secrets.conf"))
    }

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    #[test]
    fn parses_fixture_byte_for_byte() {
        let conf = fixture();
        assert_eq!(conf.raw(), fs::read(fixture_path()).unwrap());
        assert_eq!(conf.get("secret_keys", "key1"), Some(FIXTURE_KEY));
        assert_eq!(conf.line("secret_keys", "key1"), Some(3));
        let wkd = conf.get("zato", "well_known_data").unwrap();
        assert!(wkd.starts_with("gAAAAA"));
        assert!(
            !wkd.contains('#') && !wkd.contains(' '),
            "inline comment kept"
        );
        assert!(conf.get("zato", "server_conf.odb.password").is_some());
        assert_eq!(conf.sections().collect::<Vec<_>>(), ["secret_keys", "zato"]);
        assert_eq!(conf.keys("zato").count(), 5);
        assert_eq!(conf.path(), fixture_path());
    }

    #[test]
    fn fixture_key_proves_and_resolves() {
        let conf = fixture();
        let key = conf.key1().unwrap();
        conf.prove_well_known(&key).unwrap();
        let token = conf
            .resolve("zato+secret://zato.server_conf.main.token", &key)
            .unwrap();
        assert_eq!(token.as_str(), "446fcec2a3d84173a110e5781bcccea6");
        let jwt = conf
            .resolve("zato+secret://zato.server_conf.misc.jwt_secret", &key)
            .unwrap();
        assert_eq!(jwt.as_str(), "lnYuYRbG6cktmb81jC4HGIIs5Hyox0EH5myw5LKz9NU=");
        let odb = conf
            .resolve("zato+secret://zato.server_conf.odb.password", &key)
            .unwrap();
        assert_eq!(odb.as_str(), "");
        assert_eq!(
            conf.resolve("plain-value", &key).unwrap().as_str(),
            "plain-value"
        );
        assert_eq!(key.fingerprint().len(), 16);
        assert!(!FIXTURE_KEY.contains(key.fingerprint()));
    }

    #[test]
    fn resolve_errors() {
        let conf = fixture();
        let key = conf.key1().unwrap();
        let e = conf
            .resolve("zato+secret://zato.no.such.key", &key)
            .unwrap_err();
        assert!(e.to_string().contains("no.such.key"), "{e}");
        let e = conf.resolve("zato+secret://nodot", &key).unwrap_err();
        assert!(matches!(e, Error::Config { .. }), "{e}");
        let e = conf
            .resolve_with_env(
                "$ZSSO_TEST_SURELY_UNSET",
                &key,
                Path::new("/s/server.conf"),
                Some(7),
                &no_env,
            )
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/s/server.conf:7: environment variable $ZSSO_TEST_SURELY_UNSET is not set"
        );
        let env = |n: &str| (n == "ZSSO_DB_PW").then(|| OsString::from("s3cret"));
        let v = conf
            .resolve_with_env("$ZSSO_DB_PW", &key, Path::new("x"), None, &env)
            .unwrap();
        assert_eq!(v.as_str(), "s3cret");
    }

    #[test]
    fn leading_blank_line_comments_and_quotes() {
        let text = "\n# a comment\n[secret_keys]\n  key1 = 'Sli3kd9q8dgwPmHNxLuGw9HEJxA8NExBiesvHnvV1H4='   # the key\r\n\
                    [zato]\nwell_known_data = \"abc\" # x\nempty=\nother=a=b # c\nmulti='''one\ntwo''' # end\nafter=z\n";
        let conf = parse(text).unwrap();
        assert_eq!(conf.get("secret_keys", "key1"), Some(FIXTURE_KEY));
        assert_eq!(conf.line("secret_keys", "key1"), Some(4));
        assert_eq!(conf.get("zato", "well_known_data"), Some("abc"));
        assert_eq!(conf.get("zato", "empty"), Some(""));
        assert_eq!(conf.get("zato", "other"), Some("a=b"));
        assert_eq!(conf.get("zato", "multi"), Some("one\ntwo"));
        assert_eq!(conf.get("zato", "after"), Some("z"));
        assert_eq!(conf.line("zato", "after"), Some(11));
        conf.key1().unwrap();
    }

    #[test]
    fn malformed_lines_are_errors_naming_the_line() {
        let e = parse("\nkey1=abc\n[s]\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/x/secrets.conf:2: a key outside any [section] (key names are not shown: a broken line may hold a secret)"
        );
        // A key line whose `key1=` was lost: the key text is the secret and must not be shown.
        let e = parse(
            "[s]
Sli3kd9q8dgwPmHNxLuGw9HEJxA8NExBiesvHnvV1H4=
[t]
Sli3kd9q8dgwPmHNxLuGw9HEJxA8NExBiesvHnvV1H4=
Sli3kd9q8dgwPmHNxLuGw9HEJxA8NExBiesvHnvV1H4=
",
        )
        .unwrap_err();
        assert!(!e.to_string().contains("Sli3kd9q8"), "{e}");
        let e = parse("[s]\na=1\nthis is not valid secretvalue\n").unwrap_err();
        assert!(e.to_string().starts_with("/x/secrets.conf:3: "), "{e}");
        assert!(!e.to_string().contains("secretvalue"), "{e}");
        let e = parse("[s]\na=1\na=2\n").unwrap_err();
        assert!(e.to_string().contains(":3:"), "{e}");
        let e = parse("[s\n").unwrap_err();
        assert!(e.to_string().contains(":1:"), "{e}");
        let e = parse("[s]\na='unterminated\n").unwrap_err();
        assert!(e.to_string().contains(":2:"), "{e}");
        let e =
            SecretsConf::parse(b"[s]\na=1\nb=\xff\n".to_vec(), Path::new("/x/s.conf")).unwrap_err();
        assert_eq!(e.to_string(), "/x/s.conf:3: is not valid UTF-8");
    }

    #[test]
    fn env_key1() {
        let text = "[secret_keys]\nkey1=$ZSSO_TEST_KEY1_ENV_4F2A\n";
        let conf = parse(text).unwrap();
        let env = |n: &str| (n == "ZSSO_TEST_KEY1_ENV_4F2A").then(|| OsString::from(FIXTURE_KEY));
        let key = conf.key1_with_env(&env).unwrap();
        assert_eq!(
            key.fingerprint(),
            Key1::from_text(FIXTURE_KEY).unwrap().fingerprint()
        );
        let e = conf.key1_with_env(&no_env).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/x/secrets.conf:2: key1 is taken from environment variable \
             $ZSSO_TEST_KEY1_ENV_4F2A, which is not set"
        );
        let bad = |_: &str| Some(OsString::from("c2hvcnQ="));
        let e = conf.key1_with_env(&bad).unwrap_err();
        assert!(e.to_string().contains(":2:"), "{e}");
        assert!(!e.to_string().contains("c2hvcnQ"), "{e}");
    }

    #[test]
    fn env_key1_from_the_real_environment() {
        let name = "ZSSO_TEST_KEY1_REAL_ENV_9C31";
        // SAFETY: the name is unique to this test, and std serialises its own environment
        // accesses; nothing in these tests reads the environment through libc directly.
        unsafe { std::env::set_var(name, FIXTURE_KEY) };
        let conf = parse(&format!("\n[secret_keys]\nkey1=${name}\n")).unwrap();
        let key = conf.key1();
        // SAFETY: as above.
        unsafe { std::env::remove_var(name) };
        fixture().prove_well_known(&key.unwrap()).unwrap();
    }

    #[test]
    fn bad_keys_are_errors_without_the_value() {
        // 31 bytes
        let short = URLSAFE_ANY_PAD.encode([7u8; 31]);
        for (value, needle) in [
            (short.as_str(), "31 bytes"),
            ("not*base64!!value", "not urlsafe base64"),
        ] {
            let conf = parse(&format!("[secret_keys]\n\nkey1={value}\n")).unwrap();
            let e = conf.key1().unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with("/x/secrets.conf:3: "), "{msg}");
            assert!(msg.contains(needle), "{msg}");
            assert!(!msg.contains(value), "{msg}");
        }
        let e = parse("[zato]\n").unwrap().key1().unwrap_err();
        assert!(e.to_string().contains("[secret_keys]"), "{e}");
        let e = parse("[secret_keys]\nkey2=x\n")
            .unwrap()
            .key1()
            .unwrap_err();
        assert!(e.to_string().contains("no key1"), "{e}");
    }

    #[test]
    fn stdin_key_is_refused() {
        let conf = parse("[secret_keys]\nkey1=zato+stdin:///\n").unwrap();
        let e = conf.key1().unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("/x/secrets.conf:2: "), "{msg}");
        assert!(msg.contains("environment variable"), "{msg}");
    }

    #[test]
    fn wrong_key_does_not_prove() {
        let conf = fixture();
        let other = Key1::from_text(&URLSAFE_ANY_PAD.encode([1u8; 32])).unwrap();
        let e = conf.prove_well_known(&other).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::Crypto { .. }));
        assert!(msg.contains("well_known_data in"), "{msg}");
        assert!(msg.contains("does not decrypt with key1"), "{msg}");
        assert_ne!(other.fingerprint(), conf.key1().unwrap().fingerprint());

        // A token of the right key that is not pi.
        let key = conf.key1().unwrap();
        let f = fernet::Fernet::new(FIXTURE_KEY).unwrap();
        let token = f.encrypt(b"2.71828");
        let text = format!("[zato]\nwell_known_data={token}\n");
        let e = parse(&text).unwrap().prove_well_known(&key).unwrap_err();
        assert!(e.to_string().contains("other than the pi marker"), "{e}");
        assert!(!e.to_string().contains("2.71828"), "{e}");
        let e = parse("[zato]\n")
            .unwrap()
            .prove_well_known(&key)
            .unwrap_err();
        assert!(matches!(e, Error::Config { .. }));
    }

    #[test]
    fn decrypt_reports_bad_tokens() {
        let key = Key1::from_text(FIXTURE_KEY).unwrap();
        let e = key.decrypt(b"gAAAAA!!").unwrap_err();
        assert!(e.to_string().contains("not urlsafe base64"), "{e}");
        let e = key.decrypt(b"gAAAAAAA").unwrap_err();
        assert!(e.to_string().contains("well-formed"), "{e}");
        let e = key.decrypt(b"\xff\xfe").unwrap_err();
        assert!(e.to_string().contains("not ASCII"), "{e}");
        let plain = key
            .decrypt(
                fernet::Fernet::new(FIXTURE_KEY)
                    .unwrap()
                    .encrypt(b"hi")
                    .as_bytes(),
            )
            .unwrap();
        assert_eq!(&plain[..], b"hi");
    }

    #[test]
    fn debug_does_not_show_secrets() {
        let conf = fixture();
        let key = conf.key1().unwrap();
        assert_eq!(format!("{key:?}"), "Key1(<redacted>)");
        let dbg = format!("{conf:?}");
        assert!(!dbg.contains("Sli3kd9q8dgw"), "{dbg}");
        assert!(!dbg.contains("gAAAA"), "{dbg}");
        assert!(dbg.contains("secret_keys") && dbg.contains("key1"), "{dbg}");
        // A damaged file whose key or token ended up where a name belongs.
        let damaged = parse(
            "[secret_keys]\nkey1=x\nSli3kd9q8dgwPmHNxLuGw9HEJxA8NExBiesvHnvV1H4=\n[gAAAAABl9GSm]\n",
        )
        .unwrap();
        let dbg = format!("{damaged:?}");
        assert!(
            !dbg.contains("Sli3kd9q8dgw") && !dbg.contains("gAAAA"),
            "{dbg}"
        );
        assert!(
            dbg.contains("<43 characters>") && dbg.contains("key1"),
            "{dbg}"
        );
        let e = parse("[gAAAAABl9GSm]\n[gAAAAABl9GSm]\n")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("gAAAA") && e.contains("<12 characters>"), "{e}");
        // An install being prepared holds the new file's bytes: its Debug shows paths only.
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("secrets.conf");
        fs::write(&dest, b"[secret_keys]\nkey1=old-key-bytes-not-shown\n").unwrap();
        let prepared = prepare_install(&dest, conf.raw()).unwrap();
        let dbg = format!("{prepared:?}");
        assert!(
            !dbg.contains("Sli3kd9q8dgw") && !dbg.contains("gAAAA"),
            "{dbg}"
        );
        assert!(!dbg.contains("old-key-bytes"), "{dbg}");
        assert!(dbg.contains("secrets.conf"), "{dbg}");
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn install_backs_up_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("secrets.conf");
        let old = b"\n[secret_keys]\nkey1=old\n".to_vec();
        fs::write(&dest, &old).unwrap();
        let new = fs::read(fixture_path()).unwrap();

        let report = install(&dest, &new).unwrap();
        let bak = dir.path().join("secrets.conf.bak");
        assert_eq!(report.path, dest);
        assert_eq!(report.backup.as_deref(), Some(bak.as_path()));
        assert!(!report.replaced_identical);
        assert_eq!(fs::read(&bak).unwrap(), old);
        assert_eq!(fs::read(&dest).unwrap(), new);
        #[cfg(unix)]
        {
            assert_eq!(mode(&dest), 0o600);
            assert_eq!(mode(&bak), 0o600);
        }
        assert!(leftovers(dir.path()).is_empty());

        // The same bytes again: nothing to back up.
        let again = install(&dest, &new).unwrap();
        assert!(again.replaced_identical);
        assert_eq!(again.backup, None);
        assert_eq!(fs::read(&bak).unwrap(), old);

        // Other bytes: the earlier backup is kept, the new one goes beside it.
        let third = b"[zato]\n".to_vec();
        let r = install(&dest, &third).unwrap();
        let bak1 = dir.path().join("secrets.conf.bak.1");
        assert_eq!(r.backup.as_deref(), Some(bak1.as_path()));
        assert_eq!(fs::read(&bak).unwrap(), old);
        assert_eq!(fs::read(&bak1).unwrap(), new);
        assert_eq!(fs::read(&dest).unwrap(), third);
        assert!(leftovers(dir.path()).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn install_keeps_the_owner_of_the_replaced_file() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("secrets.conf");
        fs::write(&dest, b"old").unwrap();
        let me = fs::metadata(&dest).unwrap();
        // Only root can give a file away; others check that their own ownership is kept.
        let owner = if me.uid() == 0 {
            std::os::unix::fs::chown(&dest, Some(54321), Some(54322)).unwrap();
            (54321, 54322)
        } else {
            (me.uid(), me.gid())
        };
        let report = install(&dest, b"new").unwrap();
        for p in [dest.clone(), report.backup.unwrap()] {
            let m = fs::metadata(&p).unwrap();
            assert_eq!((m.uid(), m.gid()), owner, "{}", p.display());
            assert_eq!(mode(&p), 0o600);
        }
        assert_eq!(fs::read(&dest).unwrap(), b"new");
    }

    #[test]
    fn install_over_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("secrets.conf");
        let report = install(&dest, b"[zato]\n").unwrap();
        assert_eq!(report.backup, None);
        assert!(!report.replaced_identical);
        assert_eq!(fs::read(&dest).unwrap(), b"[zato]\n");
        #[cfg(unix)]
        assert_eq!(mode(&dest), 0o600);
        assert!(leftovers(dir.path()).is_empty());
        assert!(!dir.path().join("secrets.conf.bak").exists());
    }

    #[test]
    fn write_private_atomic_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("secrets.conf");
        assert!(matches!(
            write_private_atomic(&missing, b"x"),
            Err(Error::Io { .. })
        ));
        // Renaming over a non-empty directory fails: the temporary file must go.
        let target = dir.path().join("occupied");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("f"), b"x").unwrap();
        assert!(write_private_atomic(&target, b"x").is_err());
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn a_prepared_install_changes_nothing_until_it_commits() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("secrets.conf");
        fs::write(&dest, b"old").unwrap();
        let p = prepare_install(&dest, b"new").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"old");
        drop(p);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("secrets.conf")]);
        let r = prepare_install(&dest, b"new").unwrap().commit().unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"new");
        assert_eq!(fs::read(r.backup.unwrap()).unwrap(), b"old");
    }
}
