//! A streaming SQL scanner: splits a dump into statements and tokens without ever holding
//! more than one statement in memory.
//!
//! It follows the lexical rules of the dump's dialect ([`LexerConfig`]) closely enough to find
//! statement ends correctly inside strings, quoted identifiers, comments and trigger bodies.
//! The tokens feed the statement guard ([`crate::guard`]); the statement text is what runs.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// Which database's SQL a dump is written in: it decides the guard's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
}

/// The lexical rules of one dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LexerConfig {
    /// The dialect whose rules these are.
    pub syntax: Syntax,
    /// `[name]` is a quoted identifier (SQLite); otherwise `[` and `]` are symbols.
    pub bracket_identifiers: bool,
    /// `` `name` `` is a quoted identifier (SQLite, MySQL).
    pub backtick_identifiers: bool,
    /// `X'..'` is a blob literal (SQLite). Otherwise a letter before a quote (PostgreSQL's
    /// `E'..'` with backslash escapes, `B'..'`, `U&'..'`) is refused: its end is found by other
    /// rules than a plain string's.
    pub blob_literals: bool,
    /// `::` (a cast) is a symbol (PostgreSQL).
    pub double_colon: bool,
    /// `/* */` comments nest (PostgreSQL): a nested one is refused rather than misread.
    pub nested_comments: bool,
    /// `COPY ... FROM stdin;` is followed by data lines up to `\.` (PostgreSQL).
    pub copy_data: bool,
    /// The content of short strings is kept in [`Token::Str`] (for the guard's checks of
    /// names and settings that statements pass as strings).
    pub keep_strings: bool,
    /// MySQL's rules: a backslash in a string, a `"` string, `/*!` executable comments and a
    /// `--` not followed by a space mean something else there, so each is refused.
    pub mysql: bool,
}

impl LexerConfig {
    /// SQLite's rules.
    pub const SQLITE: LexerConfig = LexerConfig {
        syntax: Syntax::Sqlite,
        bracket_identifiers: true,
        backtick_identifiers: true,
        blob_literals: true,
        double_colon: false,
        nested_comments: false,
        copy_data: false,
        keep_strings: false,
        mysql: false,
    };

    /// MySQL's and MariaDB's rules, for the dumps zsso writes (which never need what is
    /// refused).
    pub const MYSQL: LexerConfig = LexerConfig {
        syntax: Syntax::Mysql,
        bracket_identifiers: false,
        backtick_identifiers: true,
        blob_literals: true,
        double_colon: false,
        nested_comments: false,
        copy_data: false,
        keep_strings: true,
        mysql: true,
    };

    /// PostgreSQL's rules, with `standard_conforming_strings` on.
    pub const POSTGRES: LexerConfig = LexerConfig {
        syntax: Syntax::Postgres,
        bracket_identifiers: false,
        backtick_identifiers: false,
        blob_literals: false,
        double_colon: true,
        nested_comments: true,
        copy_data: true,
        keep_strings: true,
        mysql: false,
    };
}

/// The longest string whose content [`LexerConfig::keep_strings`] keeps.
pub const KEPT_STRING_BYTES: usize = 1024;

/// The longest line of `COPY` data a dump may hold.
pub const MAX_COPY_LINE: usize = 256 << 20;

/// One token. String and blob contents are not kept: the guard needs only their kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// A bare word: a keyword or an unquoted identifier.
    Word(String),
    /// A quoted identifier, unquoted.
    Quoted(String),
    /// A string literal (`'...'`), with its content when [`LexerConfig::keep_strings`] is
    /// set and it is short and valid UTF-8.
    Str(Option<String>),
    /// A blob literal (`X'...'`).
    Blob,
    /// A numeric literal.
    Number,
    /// A parameter (`?`, `:name`, `@name`, `$name`): never allowed in a dump.
    Parameter,
    /// Punctuation or an operator, such as `(`, `,`, `||`.
    Symbol(&'static str),
}

impl Token {
    /// Returns true if and only if this is the bare word `kw` (ASCII case ignored).
    pub fn is_word(&self, kw: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    /// The identifier this token names, quoted or not.
    pub fn name(&self) -> Option<&str> {
        match self {
            Token::Word(w) | Token::Quoted(w) => Some(w),
            _ => None,
        }
    }
}

/// One statement of a dump.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The 1-based line on which the statement starts.
    pub line: usize,
    /// The statement's text, up to and including its `;`.
    pub text: String,
    /// Its tokens, without comments and without the final `;`.
    pub tokens: Vec<Token>,
}

/// The most tokens one statement may have (zsso writes at most a few tens of thousands per
/// INSERT), so that a hostile dump cannot make the scanner hold gigabytes.
pub const MAX_TOKENS: usize = 4_000_000;

/// Returns true if and only if the tokens begin with `CREATE [TEMP|TEMPORARY] TRIGGER`.
pub fn is_create_trigger(tokens: &[Token]) -> bool {
    let at = |i: usize, w: &str| tokens.get(i).is_some_and(|t| t.is_word(w));
    at(0, "CREATE")
        && (at(1, "TRIGGER") || ((at(1, "TEMP") || at(1, "TEMPORARY")) && at(2, "TRIGGER")))
}

/// A stored definition (`CREATE ...` as a catalogue keeps it, without `;`) as the text of one
/// statement of a dump: its `;` goes on a line of its own when the definition's last line holds
/// a `--` comment, which would swallow it.
pub fn definition_statement(sql: &str) -> String {
    let last = sql.rsplit('\n').next().unwrap_or(sql);
    if last.contains("--") {
        format!("{sql}\n;\n")
    } else {
        format!("{sql};\n")
    }
}

/// The statements of a stored definition (see [`definition_statement`]); `what` names it in
/// errors.
pub fn definition_statements(sql: &str, what: &str, cfg: LexerConfig) -> Result<Vec<Statement>> {
    let text = definition_statement(sql);
    let mut r = StatementReader::new(text.as_bytes(), Path::new(what), cfg);
    let mut out = Vec::new();
    while let Some(s) = r.next_statement()? {
        out.push(s);
    }
    Ok(out)
}

/// The tokens of `sql`, which must be exactly one statement ending with `;`.
pub fn tokens_of(sql: &str, cfg: LexerConfig) -> Result<Vec<Token>> {
    let mut r = StatementReader::new(sql.as_bytes(), Path::new("statement"), cfg);
    let first = r.next_statement()?;
    match (first, r.next_statement()?) {
        (Some(s), None) => Ok(s.tokens),
        _ => Err(Error::Dump {
            path: "statement".into(),
            line: 1,
            reason: "expected exactly one statement".into(),
        }),
    }
}

/// A file read in blocks whose every byte is counted and hashed on a thread of its own:
/// the reader's work (the file's reads included) and the hashing run on two cores. Each
/// block is shared with the hashing thread, not copied, and at most two wait for
/// it, so memory does not grow with the file.
pub struct HashingReader {
    file: std::fs::File,
    /// The blocks for the hashing thread, until the end of the file closes the channel.
    hash: Option<std::sync::mpsc::SyncSender<std::sync::Arc<Vec<u8>>>>,
    /// The hashing thread's SHA-256, in hex, once the channel is closed.
    digest: std::sync::mpsc::Receiver<String>,
    block: std::sync::Arc<Vec<u8>>,
    at: usize,
    bytes: u64,
    sha256: Option<String>,
}

impl std::fmt::Debug for HashingReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashingReader")
            .field("bytes", &self.bytes)
            .field("ended", &self.sha256.is_some())
            .finish()
    }
}

/// The size of the blocks read.
const HASHED_BLOCK: usize = 1 << 20;

/// How many blocks wait for the hashing thread at most; the reader waits for it beyond.
const HASHED_AHEAD: usize = 2;

impl HashingReader {
    /// Starts reading `file`, with a thread to hash it.
    pub fn new(file: std::fs::File) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<std::sync::Arc<Vec<u8>>>(HASHED_AHEAD);
        let (digest_tx, digest) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("zsso-hash".into())
            .spawn(move || {
                let mut hasher = Sha256::new();
                for block in rx {
                    hasher.update(block.as_slice());
                }
                let _ = digest_tx.send(hex::encode(hasher.finalize()));
            })?;
        Ok(Self {
            file,
            hash: Some(tx),
            digest,
            block: std::sync::Arc::new(Vec::new()),
            at: 0,
            bytes: 0,
            sha256: None,
        })
    }

    /// The number of bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The SHA-256 of the whole file in hex, once it has been read to its end; before that,
    /// `None`.
    pub fn sha256_hex(&self) -> Option<String> {
        self.sha256.clone()
    }

    /// Reads the next block and hands it to the hashing thread; at the end of the file, waits
    /// for the hash.
    fn next_block(&mut self) -> std::io::Result<()> {
        let stopped = || std::io::Error::other("the thread hashing the file stopped");
        // Read into spare capacity: nothing is zeroed first.
        let mut block = Vec::with_capacity(HASHED_BLOCK);
        (&mut self.file)
            .take(HASHED_BLOCK as u64)
            .read_to_end(&mut block)?;
        if block.is_empty() {
            // Closing the channel ends the thread's loop.
            self.hash = None;
            self.sha256 = Some(self.digest.recv().map_err(|_| stopped())?);
            self.block = std::sync::Arc::new(Vec::new());
        } else {
            let block = std::sync::Arc::new(block);
            let tx = self.hash.as_ref().ok_or_else(stopped)?;
            tx.send(std::sync::Arc::clone(&block))
                .map_err(|_| stopped())?;
            self.block = block;
        }
        self.at = 0;
        Ok(())
    }
}

impl BufRead for HashingReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.at == self.block.len() && self.sha256.is_none() {
            self.next_block()?;
        }
        Ok(&self.block[self.at..])
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.block.len() - self.at);
        self.at += amt;
        self.bytes += amt as u64;
    }
}

impl Read for HashingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let have = self.fill_buf()?;
            let n = have.len().min(buf.len());
            buf[..n].copy_from_slice(&have[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

/// Splits a dump into [`Statement`]s, one at a time.
pub struct StatementReader<R> {
    src: R,
    path: PathBuf,
    cfg: LexerConfig,
    line: usize,
    ahead: std::collections::VecDeque<u8>,
    text: Vec<u8>,
    in_statement: bool,
    /// The line of a `COPY ... FROM stdin` statement whose data has not been read yet.
    pending_copy: Option<usize>,
    copy_rows: u64,
}

impl<R: BufRead> StatementReader<R> {
    /// Reads statements from `src`; `path` names it in errors.
    pub fn new(src: R, path: &Path, cfg: LexerConfig) -> Self {
        Self {
            src,
            path: path.to_path_buf(),
            cfg,
            line: 1,
            ahead: std::collections::VecDeque::new(),
            text: Vec::new(),
            in_statement: false,
            pending_copy: None,
            copy_rows: 0,
        }
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.src
    }

    fn err(&self, line: usize, reason: impl Into<String>) -> Error {
        Error::Dump {
            path: self.path.clone(),
            line,
            reason: reason.into(),
        }
    }

    fn fetch(&mut self) -> Result<Option<u8>> {
        let buf = self
            .src
            .fill_buf()
            .map_err(|e| Error::io("cannot read", self.path.clone(), e))?;
        if buf.is_empty() {
            return Ok(None);
        }
        let b = buf[0];
        self.src.consume(1);
        Ok(Some(b))
    }

    /// The next byte, kept in the statement text when inside a statement.
    fn next(&mut self) -> Result<Option<u8>> {
        let b = self.raw_next()?;
        if let Some(c) = b {
            if c == b'\n' {
                self.line += 1;
            }
            if self.in_statement {
                self.text.push(c);
            }
        }
        Ok(b)
    }

    fn raw_next(&mut self) -> Result<Option<u8>> {
        match self.ahead.pop_front() {
            Some(b) => Ok(Some(b)),
            None => self.fetch(),
        }
    }

    /// The byte `n` places ahead (0 is the next one), without consuming it.
    fn peek_at(&mut self, n: usize) -> Result<Option<u8>> {
        while self.ahead.len() <= n {
            match self.fetch()? {
                Some(b) => self.ahead.push_back(b),
                None => return Ok(None),
            }
        }
        Ok(Some(self.ahead[n]))
    }

    fn peek(&mut self) -> Result<Option<u8>> {
        self.peek_at(0)
    }

    /// Skips white space and comments; returns false at the end of the input.
    fn skip_space(&mut self) -> Result<bool> {
        loop {
            match self.peek()? {
                None => return Ok(false),
                Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0c) => {
                    self.next()?;
                }
                Some(b'-') => {
                    if self.peek_at(1)? != Some(b'-') {
                        return Ok(true);
                    }
                    if self.cfg.mysql
                        && !matches!(self.peek_at(2)?, None | Some(b' ' | b'\t' | b'\n' | b'\r'))
                    {
                        return Err(self.err(
                            self.line,
                            "`--` not followed by a space is not a comment in MySQL",
                        ));
                    }
                    while let Some(c) = self.next()? {
                        if c == b'\n' {
                            break;
                        }
                        if c == b'\r' && self.peek()? != Some(b'\n') {
                            // PostgreSQL ends the comment here, SQLite and MySQL do not: what
                            // follows would be read differently.
                            return Err(self.err(
                                self.line,
                                "a carriage return inside a `--` comment is not allowed",
                            ));
                        }
                        if c == 0 {
                            // SQLite stops reading at a NUL: what follows would not be what
                            // was checked.
                            return Err(self.err(self.line, "a NUL byte in a comment"));
                        }
                    }
                }
                Some(b'/') => {
                    if self.peek_at(1)? == Some(b'*') {
                        if self.cfg.mysql && matches!(self.peek_at(2)?, Some(b'!' | b'M' | b'+')) {
                            return Err(self.err(
                                self.line,
                                "an executable comment (`/*!`, `/*M!`, `/*+`) is not allowed",
                            ));
                        }
                        let start = self.line;
                        self.next()?;
                        self.next()?;
                        let mut prev = 0u8;
                        loop {
                            match self.next()? {
                                None => return Err(self.err(start, "comment is not closed")),
                                Some(0) => {
                                    return Err(self.err(self.line, "a NUL byte in a comment"));
                                }
                                Some(b'/') if prev == b'*' => break,
                                Some(b'*') if prev == b'/' && self.cfg.nested_comments => {
                                    return Err(self.err(
                                        self.line,
                                        "a comment inside a comment is not allowed",
                                    ));
                                }
                                Some(c) => prev = c,
                            }
                        }
                    } else {
                        return Ok(true);
                    }
                }
                Some(_) => return Ok(true),
            }
        }
    }

    /// Consumes everything up to and including the next `close`, a buffer at a time; the
    /// bytes before it go to `out` when given. Returns false at the end of the input.
    fn take_until(&mut self, close: u8, mut out: Option<&mut Vec<u8>>) -> Result<bool> {
        while let Some(b) = self.ahead.pop_front() {
            if b == b'\n' {
                self.line += 1;
            }
            if self.in_statement {
                self.text.push(b);
            }
            if b == close {
                return Ok(true);
            }
            if let Some(o) = out.as_deref_mut() {
                o.push(b);
            }
        }
        loop {
            let buf = self
                .src
                .fill_buf()
                .map_err(|e| Error::io("cannot read", self.path.clone(), e))?;
            if buf.is_empty() {
                return Ok(false);
            }
            let (end, found) = match buf.iter().position(|&c| c == close) {
                Some(i) => (i, true),
                None => (buf.len(), false),
            };
            self.line += buf[..end].iter().filter(|&&c| c == b'\n').count();
            if let Some(o) = out.as_deref_mut() {
                o.extend_from_slice(&buf[..end]);
            }
            let used = if found { end + 1 } else { end };
            if self.in_statement {
                self.text.extend_from_slice(&buf[..used]);
            }
            self.src.consume(used);
            if found {
                return Ok(true);
            }
        }
    }

    /// Reads a quoted string whose opening quote was consumed; `close` doubled stands for
    /// itself when `doubled`. The content is kept only when `keep`.
    fn quoted(&mut self, close: u8, doubled: bool, what: &str, keep: bool) -> Result<Vec<u8>> {
        let start = self.line;
        let mut out = Vec::new();
        loop {
            if !self.take_until(close, keep.then_some(&mut out))? {
                return Err(self.err(
                    start,
                    format!("{what} is not closed (is the file cut short?)"),
                ));
            }
            if doubled && self.peek()? == Some(close) {
                self.next()?;
                if keep {
                    out.push(close);
                }
            } else {
                return Ok(out);
            }
        }
    }

    fn word_tail(&mut self, first: u8) -> Result<String> {
        let mut w = vec![first];
        while let Some(c) = self.peek()? {
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 {
                self.next()?;
                w.push(c);
            } else {
                break;
            }
        }
        String::from_utf8(w).map_err(|_| self.err(self.line, "identifier is not valid UTF-8"))
    }

    fn digits(&mut self) -> Result<usize> {
        let mut n = 0;
        while let Some(c) = self.peek()?
            && c.is_ascii_digit()
        {
            self.next()?;
            n += 1;
        }
        Ok(n)
    }

    /// The rest of a number, strictly: `0x` hex digits, or digits, an optional fraction and
    /// an optional exponent. A name character right after it is refused: databases differ on
    /// what `1e`, `1abc` or `1e+x` mean (MySQL reads some as names), so the guard could not
    /// know.
    fn number_tail(&mut self, first: u8) -> Result<()> {
        let line = self.line;
        if first == b'0' && matches!(self.peek()?, Some(b'x' | b'X')) {
            self.next()?;
            while let Some(c) = self.peek()?
                && c.is_ascii_hexdigit()
            {
                self.next()?;
            }
        } else {
            if first != b'.' {
                self.digits()?;
                if self.peek()? == Some(b'.') {
                    self.next()?;
                    self.digits()?;
                }
            } else {
                self.digits()?;
            }
            if matches!(self.peek()?, Some(b'e' | b'E')) {
                let sign = matches!(self.peek_at(1)?, Some(b'+' | b'-'));
                let digit_at = if sign { 2 } else { 1 };
                if matches!(self.peek_at(digit_at)?, Some(b'0'..=b'9')) {
                    self.next()?;
                    if sign {
                        self.next()?;
                    }
                    self.digits()?;
                }
            }
        }
        if let Some(c) = self.peek()?
            && (c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80)
        {
            return Err(self.err(
                line,
                "a number directly followed by a letter is not allowed (databases read it differently)",
            ));
        }
        Ok(())
    }

    fn token(&mut self) -> Result<Token> {
        let line = self.line;
        let c = self.next()?.expect("token() is called after skip_space");
        let sym = |s: &'static str| Ok(Token::Symbol(s));
        match c {
            b'\'' => {
                let keep = self.cfg.keep_strings || self.cfg.mysql;
                let v = self.quoted(b'\'', true, "string", keep)?;
                if self.cfg.mysql && v.contains(&b'\\') {
                    return Err(self.err(
                        line,
                        "a backslash in a string is not allowed (its meaning depends on sql_mode; zsso writes such text in hex)",
                    ));
                }
                let kept = (keep && v.len() <= KEPT_STRING_BYTES)
                    .then(|| String::from_utf8(v).ok())
                    .flatten();
                Ok(Token::Str(kept))
            }
            b'"' if self.cfg.mysql => Err(self.err(
                line,
                "a `\"` string or name is not allowed (its meaning depends on ANSI_QUOTES)",
            )),
            b'"' => {
                let n = self.quoted(b'"', true, "quoted identifier", true)?;
                self.ident(n, line)
            }
            b'`' if self.cfg.backtick_identifiers => {
                let n = self.quoted(b'`', true, "quoted identifier", true)?;
                self.ident(n, line)
            }
            b'[' if self.cfg.bracket_identifiers => {
                let n = self.quoted(b']', false, "quoted identifier", true)?;
                self.ident(n, line)
            }
            c if !self.cfg.blob_literals
                && c.is_ascii_alphabetic()
                && (self.peek()? == Some(b'\'')
                    || (self.peek()? == Some(b'&') && self.peek_at(1)? == Some(b'\''))) =>
            {
                Err(self.err(
                    line,
                    format!(
                        "a string with the prefix `{}` is not allowed (zsso writes plain strings only)",
                        c as char
                    ),
                ))
            }
            b'x' | b'X' if self.peek()? == Some(b'\'') => {
                self.next()?;
                let hex = self.quoted(b'\'', false, "blob literal", true)?;
                if hex.len() % 2 != 0 || !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(self.err(line, "blob literal is not an even number of hex digits"));
                }
                Ok(Token::Blob)
            }
            b'0'..=b'9' => {
                self.number_tail(c)?;
                Ok(Token::Number)
            }
            // MySQL reads `name.123` as a qualified name: there a `.` is always a symbol.
            b'.' if !self.cfg.mysql && matches!(self.peek()?, Some(b'0'..=b'9')) => {
                self.number_tail(c)?;
                Ok(Token::Number)
            }
            b':' if self.cfg.double_colon && self.peek()? == Some(b':') => {
                self.next()?;
                sym("::")
            }
            b'[' if !self.cfg.bracket_identifiers => sym("["),
            b']' if !self.cfg.bracket_identifiers => sym("]"),
            b'?' | b':' | b'@' | b'$' => {
                while let Some(p) = self.peek()? {
                    if p.is_ascii_alphanumeric() || p == b'_' {
                        self.next()?;
                    } else {
                        break;
                    }
                }
                Ok(Token::Parameter)
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                Ok(Token::Word(self.word_tail(c)?))
            }
            b'(' => sym("("),
            b')' => sym(")"),
            b',' => sym(","),
            b';' => sym(";"),
            b'.' => sym("."),
            b'+' => sym("+"),
            b'-' => {
                if self.peek()? == Some(b'>') {
                    self.next()?;
                    if self.peek()? == Some(b'>') {
                        self.next()?;
                        return sym("->>");
                    }
                    return sym("->");
                }
                sym("-")
            }
            b'*' => sym("*"),
            b'/' => sym("/"),
            b'%' => sym("%"),
            b'~' => sym("~"),
            b'&' => sym("&"),
            b'|' => {
                if self.peek()? == Some(b'|') {
                    self.next()?;
                    return sym("||");
                }
                sym("|")
            }
            b'=' => {
                if self.peek()? == Some(b'=') {
                    self.next()?;
                }
                sym("=")
            }
            b'<' => match self.peek()? {
                Some(b'=') => {
                    self.next()?;
                    sym("<=")
                }
                Some(b'>') => {
                    self.next()?;
                    sym("<>")
                }
                Some(b'<') => {
                    self.next()?;
                    sym("<<")
                }
                _ => sym("<"),
            },
            b'>' => match self.peek()? {
                Some(b'=') => {
                    self.next()?;
                    sym(">=")
                }
                Some(b'>') => {
                    self.next()?;
                    sym(">>")
                }
                _ => sym(">"),
            },
            b'!' if self.peek()? == Some(b'=') => {
                self.next()?;
                sym("<>")
            }
            other => Err(self.err(
                line,
                format!("unexpected character 0x{other:02x} outside a string"),
            )),
        }
    }

    fn ident(&self, bytes: Vec<u8>, line: usize) -> Result<Token> {
        String::from_utf8(bytes)
            .map(Token::Quoted)
            .map_err(|_| self.err(line, "identifier is not valid UTF-8"))
    }

    /// The next statement, or `None` at the end of the input.
    ///
    /// A statement that the input ends inside of (no final `;`) is an error: it is the mark
    /// of a dump cut short.
    pub fn next_statement(&mut self) -> Result<Option<Statement>> {
        if let Some(line) = self.pending_copy {
            return Err(self.err(
                line,
                "the data of this COPY was not read (a caller must read it with read_copy_data)",
            ));
        }
        if !self.skip_space()? {
            return Ok(None);
        }
        let line = self.line;
        self.in_statement = true;
        self.text.clear();
        let mut tokens: Vec<Token> = Vec::new();
        loop {
            if !self.skip_space()? {
                self.in_statement = false;
                return Err(self.err(line, "statement has no final `;` (is the file cut short?)"));
            }
            let tok = self.token()?;
            if tok == Token::Symbol(";") {
                // As sqlite3_complete() decides: after CREATE [TEMP] TRIGGER, only the `;` of
                // `; END ;` ends the statement.
                let n = tokens.len();
                let ends = self.cfg.syntax != Syntax::Sqlite
                    || !is_create_trigger(&tokens)
                    || (n >= 2
                        && tokens[n - 1].is_word("END")
                        && tokens[n - 2] == Token::Symbol(";"));
                if ends {
                    break;
                }
            }
            if tokens.len() >= MAX_TOKENS {
                self.in_statement = false;
                return Err(self.err(
                    line,
                    format!(
                        "statement has more than {MAX_TOKENS} tokens: larger than any dump holds"
                    ),
                ));
            }
            tokens.push(tok);
        }
        self.in_statement = false;
        let text = String::from_utf8(std::mem::take(&mut self.text))
            .map_err(|_| self.err(line, "statement is not valid UTF-8"))?;
        if self.cfg.copy_data && is_copy_from_stdin(&tokens) {
            // As psql reads it: the data starts on the next line.
            if self.raw_next()? != Some(b'\n') {
                return Err(self.err(
                    line,
                    "a COPY ... FROM stdin statement must end its line: its data follows on the next",
                ));
            }
            self.line += 1;
            self.pending_copy = Some(line);
            self.copy_rows = 0;
        }
        Ok(Some(Statement { line, text, tokens }))
    }

    /// Returns true if and only if the last statement was a `COPY ... FROM stdin` whose data
    /// has not been read to its end yet.
    pub fn in_copy(&self) -> bool {
        self.pending_copy.is_some()
    }

    /// The 1-based line the reader is at.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Reads the data of the `COPY ... FROM stdin` statement just returned, whole lines only,
    /// appending them to `out` until it holds at least `max` bytes or the data ends. Returns
    /// false once the end marker `\.` has been read (it is not appended).
    ///
    /// # Behavior
    /// - Every line must have exactly `columns` fields in PostgreSQL's text format, and no raw
    ///   CR or NUL byte; a `\.` other than the end marker, a line longer than
    ///   [`MAX_COPY_LINE`] or data that the input ends inside of is refused with its line.
    pub fn read_copy_data(
        &mut self,
        columns: usize,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<bool> {
        let Some(start) = self.pending_copy else {
            return Err(self.err(self.line, "there is no COPY data to read here"));
        };
        while out.len() < max {
            let at = out.len();
            // Whatever was looked ahead at comes first, then the reader.
            let mut ended = false;
            while let Some(b) = self.ahead.pop_front() {
                out.push(b);
                if b == b'\n' {
                    ended = true;
                    break;
                }
            }
            if !ended {
                let limit = (MAX_COPY_LINE + 1).saturating_sub(out.len() - at) as u64;
                let mut limited = (&mut self.src).take(limit);
                limited
                    .read_until(b'\n', out)
                    .map_err(|e| Error::io("cannot read", self.path.clone(), e))?;
                ended = out.last() == Some(&b'\n') && out.len() > at;
            }
            let line = self.line;
            if !ended {
                if out.len() - at > MAX_COPY_LINE {
                    return Err(self.err(
                        line,
                        format!("a line of COPY data longer than {MAX_COPY_LINE} bytes"),
                    ));
                }
                return Err(self.err(
                    start,
                    "the data of this COPY has no end marker `\\.` (is the file cut short?)",
                ));
            }
            self.line += 1;
            if &out[at..] == b"\\.\n" {
                out.truncate(at);
                self.pending_copy = None;
                return Ok(false);
            }
            check_copy_line(&out[at..out.len() - 1], columns)
                .map_err(|reason| self.err(line, format!("COPY data: {reason}")))?;
            self.copy_rows += 1;
        }
        Ok(true)
    }

    /// The rows of COPY data read so far for the last `COPY` statement.
    pub fn copy_rows(&self) -> u64 {
        self.copy_rows
    }
}

/// Returns true if and only if the tokens are a `COPY ... FROM STDIN` statement.
pub fn is_copy_from_stdin(tokens: &[Token]) -> bool {
    tokens.first().is_some_and(|t| t.is_word("COPY"))
        && tokens
            .windows(2)
            .any(|w| w[0].is_word("FROM") && w[1].is_word("STDIN"))
}

/// Checks one line of COPY text data (without its newline): `columns` fields separated by
/// tabs, escapes that PostgreSQL reads as data, no raw CR or NUL.
fn check_copy_line(line: &[u8], columns: usize) -> std::result::Result<(), String> {
    // The same rules as a byte-by-byte scan, at memchr's speed: no raw CR or NUL anywhere
    // (a backslash before one is named as such), every backslash followed by a byte that is
    // neither `.` nor the end of the line, and as many fields as columns (a tab that a
    // backslash escapes separates none).
    if let Some(p) = memchr::memchr2(b'\r', 0, line) {
        let escaped = p > 0 && line[p - 1] == b'\\' && !escaped_at(line, p - 1);
        return Err(if escaped {
            "a backslash before CR or NUL".into()
        } else if line[p] == b'\r' {
            "a raw carriage return (it must be written \\r)".into()
        } else {
            "a NUL byte".into()
        });
    }
    let mut fields = 1 + memchr::memchr_iter(b'\t', line).count();
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'\\', &line[i..]) {
        let at = i + p;
        match line.get(at + 1) {
            None => return Err("a backslash at the end of a line".into()),
            Some(b'.') => return Err("`\\.` inside a line".into()),
            Some(b'\t') => fields -= 1,
            Some(_) => {}
        }
        i = at + 2;
    }
    if fields != columns {
        return Err(format!(
            "{fields} fields where the table has {columns} columns"
        ));
    }
    Ok(())
}

/// Returns true if and only if the backslash at `at` is itself escaped by the run of
/// backslashes before it (an odd number of them).
fn escaped_at(line: &[u8], at: usize) -> bool {
    line[..at].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hashing_reader_yields_every_byte_and_hashes_the_whole_file() {
        // Over two blocks and a part, read in pieces that do not line up with the blocks.
        let content: Vec<u8> = (0..HASHED_BLOCK * 2 + 12_345)
            .map(|i| (i * 7 + i / 251) as u8)
            .collect();
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, &content).unwrap();
        std::io::Seek::rewind(&mut f).unwrap();
        let mut r = HashingReader::new(f).unwrap();
        let mut got = Vec::new();
        let mut piece = vec![0; 100_003];
        loop {
            assert_eq!(r.sha256_hex(), None, "no hash before the end");
            let n = r.read(&mut piece).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&piece[..n]);
        }
        assert!(
            got == content,
            "{} bytes read of {}",
            got.len(),
            content.len()
        );
        assert_eq!(r.bytes_read(), content.len() as u64);
        assert_eq!(r.sha256_hex(), Some(hex::encode(Sha256::digest(&content))));
        assert_eq!(r.read(&mut piece).unwrap(), 0, "the end stays the end");
        let mut empty = HashingReader::new(tempfile::tempfile().unwrap()).unwrap();
        assert_eq!(empty.fill_buf().unwrap(), b"");
        assert_eq!(empty.sha256_hex(), Some(hex::encode(Sha256::digest(b""))));
    }

    /// The byte-by-byte rules that [`check_copy_line`] implements with memchr.
    fn check_copy_line_slowly(line: &[u8], columns: usize) -> std::result::Result<(), String> {
        let mut fields = 1usize;
        let mut i = 0;
        while i < line.len() {
            match line[i] {
                b'\t' => fields += 1,
                b'\r' => return Err("a raw carriage return (it must be written \\r)".into()),
                0 => return Err("a NUL byte".into()),
                b'\\' => {
                    i += 1;
                    match line.get(i) {
                        None => return Err("a backslash at the end of a line".into()),
                        Some(b'.') => return Err("`\\.` inside a line".into()),
                        Some(b'\r' | 0) => return Err("a backslash before CR or NUL".into()),
                        Some(_) => {}
                    }
                }
                _ => {}
            }
            i += 1;
        }
        if fields != columns {
            return Err(format!(
                "{fields} fields where the table has {columns} columns"
            ));
        }
        Ok(())
    }

    #[test]
    fn copy_lines_are_checked_as_byte_by_byte() {
        // Every line of up to 4 bytes over an alphabet of the bytes that matter.
        let alphabet = [b'a', b'\t', b'\\', b'\r', 0, b'.'];
        let mut lines: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..4 {
            let next: Vec<Vec<u8>> = lines
                .iter()
                .flat_map(|l| alphabet.iter().map(move |&b| [l.clone(), vec![b]].concat()))
                .collect();
            lines.extend(next);
        }
        lines.sort();
        lines.dedup();
        for line in &lines {
            for columns in 1..4 {
                let slow = check_copy_line_slowly(line, columns);
                let fast = check_copy_line(line, columns);
                // Both refuse the same lines; with one problem, for the same reason.
                assert_eq!(
                    slow.is_ok(),
                    fast.is_ok(),
                    "{line:?} {columns}: {slow:?} {fast:?}"
                );
                let problems = line.iter().filter(|&&b| b == b'\r' || b == 0).count();
                if problems <= 1 && !line.contains(&b'.') {
                    assert_eq!(slow, fast, "{line:?} {columns}");
                }
            }
        }
    }

    fn split(sql: &str) -> Result<Vec<Statement>> {
        let mut r = StatementReader::new(sql.as_bytes(), Path::new("t.sql"), LexerConfig::SQLITE);
        let mut out = Vec::new();
        while let Some(s) = r.next_statement()? {
            out.push(s);
        }
        Ok(out)
    }

    #[test]
    fn splits_on_semicolons_outside_strings_and_comments() {
        let s = split(
            "-- head\nPRAGMA foreign_keys=OFF;\nINSERT INTO t VALUES('a;b', 'it''s', \"x;y\");\n/* c; */ COMMIT;\n",
        )
        .unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].line, 2);
        assert_eq!(s[1].line, 3);
        assert_eq!(s[1].text, "INSERT INTO t VALUES('a;b', 'it''s', \"x;y\");");
        assert_eq!(s[2].line, 4);
        assert_eq!(s[2].text, "COMMIT;");
        assert!(s[1].tokens.contains(&Token::Quoted("x;y".into())));
    }

    #[test]
    fn counts_lines_inside_multi_line_strings() {
        let s = split("INSERT INTO t VALUES('a\nb\r\nc');\nCOMMIT;").unwrap();
        assert_eq!(s[1].line, 4);
        assert_eq!(s[0].text, "INSERT INTO t VALUES('a\nb\r\nc');");
    }

    #[test]
    fn a_trigger_body_is_one_statement() {
        let s = split(
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a = CASE WHEN 1 THEN 2 END; DELETE FROM t; END;\nCOMMIT;",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert!(s[0].text.ends_with("END;"));
    }

    #[test]
    fn only_create_trigger_starts_a_trigger_body() {
        // An index named `trigger` is not a trigger: the next `;` ends it.
        let s = split("CREATE INDEX trigger ON zato_sso_a(id);\nDROP TABLE keep;\n").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].text, "DROP TABLE keep;");
        // `begin`, `case` and `end` used as names do not hide a `;`.
        let s = split(
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT CASE WHEN 1 THEN 2 END AS begin; END;\nCOMMIT;\nSELECT 1 AS end;\n",
        )
        .unwrap();
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s[1].text, "COMMIT;");
        // As in SQLite, `; END ;` ends the trigger even if it is followed by more.
        let s = split(
            "CREATE TEMP TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END; DROP TABLE keep; END;",
        )
        .unwrap();
        assert_eq!(s[1].text, "DROP TABLE keep;");
    }

    #[test]
    fn refuses_a_statement_cut_short() {
        let e = split("COMMIT;\nINSERT INTO t VALUES('abc").unwrap_err();
        assert!(
            e.to_string().contains("t.sql:2: string is not closed"),
            "{e}"
        );
        let e = split("COMMIT;\nINSERT INTO t VALUES(1)").unwrap_err();
        assert!(
            e.to_string()
                .contains("t.sql:2: statement has no final `;`"),
            "{e}"
        );
    }

    #[test]
    fn tokens_distinguish_literals_and_names() {
        let s = split("INSERT INTO [a b] VALUES(X'00ff', -1.5e-3, ?1, `q`);").unwrap();
        let t = &s[0].tokens;
        assert_eq!(t[2], Token::Quoted("a b".into()));
        assert!(t.contains(&Token::Blob));
        assert!(t.contains(&Token::Number));
        assert!(t.contains(&Token::Parameter));
        assert!(t.contains(&Token::Quoted("q".into())));
        assert!(split("INSERT INTO t VALUES(X'0');").is_err());
    }

    #[test]
    fn buffer_boundaries_change_nothing() {
        let sql = "-- c\nINSERT INTO t VALUES('a''b\nc', X'00ff', \"q\"\"x\", [br]);\n/* x\ny */ CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT CASE WHEN 1 THEN 'e;' END; END;\nCOMMIT;\n";
        let whole = split(sql).unwrap();
        for cap in 1..8 {
            let src = std::io::BufReader::with_capacity(cap, sql.as_bytes());
            let mut r = StatementReader::new(src, Path::new("t.sql"), LexerConfig::SQLITE);
            let mut got = Vec::new();
            while let Some(st) = r.next_statement().unwrap() {
                got.push((st.line, st.text, st.tokens));
            }
            let want: Vec<_> = whole
                .iter()
                .map(|st| (st.line, st.text.clone(), st.tokens.clone()))
                .collect();
            assert_eq!(got, want, "buffer of {cap} bytes");
        }
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[1].line, 5);
        assert_eq!(whole[2].line, 6);
    }

    #[test]
    fn a_nul_byte_outside_strings_is_refused() {
        assert!(
            split("-- a\0b\nCOMMIT;")
                .unwrap_err()
                .to_string()
                .contains("NUL")
        );
        assert!(
            split("/* a\0 */ COMMIT;")
                .unwrap_err()
                .to_string()
                .contains("NUL")
        );
        assert!(split("COMMIT\0;").is_err());
        assert_eq!(split("INSERT INTO t VALUES('a\0b');").unwrap().len(), 1);
    }

    #[test]
    fn numbers_and_comments_that_databases_read_differently_are_refused() {
        for bad in [
            "INSERT INTO t VALUES(1e+sleep(5));",
            "INSERT INTO t VALUES(1db.f());",
            "SELECT 1abc;",
            "-- x\rDROP TABLE t;\nCOMMIT;",
        ] {
            assert!(split(bad).is_err(), "{bad}");
        }
        let ok = split("INSERT INTO t VALUES(1,-2.5,1e10,1.5e-3,.5,0x1F,3.,1e);").unwrap_err();
        assert!(
            ok.to_string().contains("followed by a letter"),
            "`1e` alone: {ok}"
        );
        let s =
            split("INSERT INTO t VALUES(1,-2.5,1e10,1.5E-3,.5,0x1F,3.);\n-- a comment\r\nCOMMIT;")
                .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0].tokens.iter().filter(|t| **t == Token::Number).count(),
            7
        );
    }

    #[test]
    fn empty_input_has_no_statements() {
        assert!(split("").unwrap().is_empty());
        assert!(split("  -- only a comment\n").unwrap().is_empty());
    }
}
