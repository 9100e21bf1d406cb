//! `mysql`: MySQL/MariaDB `GET_LOCK()`, on a connection kept for as long as
//! the lock object lives.
//!
//! The server frees a named lock when the session that took it ends, for
//! whatever reason: so a process that dies releases its locks with its
//! connection. Each lock object has its own connection, because `GET_LOCK`
//! is re-entrant within one session: two objects sharing a session would
//! both "get" the same lock. Waiting happens on the server
//! (`GET_LOCK(name, timeout)`), which answers the moment the holder
//! releases.
//!
//! A forked child must never speak on, or close with `COM_QUIT`, a
//! connection it inherited: that would end the parent's session and free
//! its lock. The connection is a `ForkSafe`, so the child's copy of the
//! socket is closed at fork and its `Conn` is leaked, never dropped.

use std::{
    collections::HashMap,
    ffi::OsStr,
    io::Read,
    net::SocketAddr,
    os::{
        fd::{AsRawFd, RawFd},
        unix::{ffi::OsStrExt, fs::OpenOptionsExt},
    },
    path::Path,
    sync::{
        atomic::{AtomicU64, AtomicU8, Ordering},
        Arc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use mysql::{prelude::Queryable, Conn, DriverError, OptsBuilder, Row, SslOpts, Value};
use mysql_common::proto::codec::error::PacketCodecError;

use super::{option_error, proc_scan, Backend, Context, Holder, HolderValue, Listed, ResourceId};
use crate::{
    deadline::Deadline,
    dsn::{Dsn, SslMode},
    error::{Cause, Error, Result},
    fork::{self, ForkSafe},
    options::{DsnSource, Options},
    BackendKind, LockName, Settings,
};

/// MySQL's limit on lock names, in characters.
const MAX_SERVER_NAME_CHARS: usize = 64;
/// MariaDB's, in bytes (64 three-byte characters): 49 emoji are too long.
const MAX_SERVER_NAME_BYTES: usize = 192;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A "forever" wait is a series of waits this long: MariaDB refuses negative
/// timeouts (it returns NULL at once), so no server is asked for infinity.
const FOREVER_SLICE_SECS: f64 = 86_400.0;
/// Extra time a bounded wait gives the server to answer before the socket
/// read gives up and the server counts as gone.
const ANSWER_GRACE: Duration = Duration::from_secs(5);

/// The longest `connect_timeout`: the server's own maximum for its
/// `connect_timeout`. A limit that never ends (`INF`) is no limit for a
/// connection attempt to a host that does not answer.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(31_536_000);
/// The largest `wait_timeout` MariaDB and MySQL accept (365 days): the
/// server ends a session idle longer than its `wait_timeout` (8 hours by
/// default, often lowered), and a held lock goes with it.
const IDLE_TIMEOUT_SECS: u32 = 31_536_000;

/// The name the server sees: the lock name itself when it is UTF-8, at most
/// 64 characters and 192 bytes, without `#` and not shaped like a mapped
/// name, so any SQL client can `IS_USED_LOCK('that name')`; otherwise its
/// first 40 characters (160 bytes at most), `~` and 16 hex digits of its
/// hash, the same in every process. One name per lock, and a lock per
/// name: a plain name could spell a long name's mapped form, or a slot's
/// (`job#1`, `job#gate`: see [`Config::new`]), and shared its lock (false
/// contention, and a `holder()` naming the other lock's holder).
#[must_use]
pub fn server_lock_name(name: &LockName) -> String {
    let bytes = name.as_bytes();
    if let Ok(text) = std::str::from_utf8(bytes) {
        if fits_the_server(text, 0) && !text.contains('#') && !looks_mapped(text) {
            return text.to_owned();
        }
    }
    mapped_name(bytes)
}

/// Whether `text` and `extra` more characters (ASCII) are a name the
/// server takes: 64 characters, and 192 bytes for MariaDB.
fn fits_the_server(text: &str, extra: usize) -> bool {
    text.len() + extra <= MAX_SERVER_NAME_BYTES && text.chars().count() + extra <= MAX_SERVER_NAME_CHARS
}

/// Whether `text` ends as [`mapped_name`]'s do: `~` and 16 hex digits.
fn looks_mapped(text: &str) -> bool {
    text.len() > 17
        && text.as_bytes()[text.len() - 17] == b'~'
        && text.as_bytes()[text.len() - 16..].iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn mapped_name(bytes: &[u8]) -> String {
    let readable: String = String::from_utf8_lossy(bytes).chars().take(40).collect();
    format!("{readable}~{:016x}", crate::name::fnv1a64(bytes))
}

#[derive(Clone, Debug)]
pub(crate) struct Config {
    dsn: Dsn,
    connect_timeout: Duration,
    /// The lock's name on the server; with `slots` > 1, slot 0's.
    server_name: String,
    /// With `slots` > 1: the other slots' names, then the gate's (see
    /// `slotted`, whose protocol this follows on one connection).
    group_names: Vec<String>,
}

impl Config {
    pub(crate) fn new(name: &LockName, options: &Options, settings: &Settings, slots: u16) -> Result<Self> {
        let dsn =
            match (options.bytes("dsn")?, options.bytes("dsn_file")?) {
                (Some(_), Some(_)) => {
                    return Err(Error::invalid_argument(
                        "options",
                        "must not give both \"dsn\" and \"dsn_file\": \"dsn_file\" names a file holding the DSN",
                    ))
                }
                (Some(text), None) => {
                    let text = std::str::from_utf8(text).map_err(|_| option_error("dsn", "must be UTF-8"))?;
                    Dsn::parse(text).map_err(|problem| option_error("dsn", problem))?
                }
                (None, Some(path)) => {
                    if path.is_empty() || path.contains(&0) {
                        return Err(option_error("dsn_file", "must be a path: not empty, without null bytes"));
                    }
                    read_dsn_file(name, Path::new(OsStr::from_bytes(path)), "the \"dsn_file\" option")?
                }
                (None, None) => match &settings.mysql_dsn {
                    Some(DsnSource::Text { dsn, origin }) => Dsn::parse(dsn).map_err(|problem| {
                        Error::unavailable(BackendKind::Mysql, format!("the DSN set in {origin} {problem}"))
                    })?,
                    Some(DsnSource::File { path, origin }) => read_dsn_file(name, path, origin)?,
                    None => return Err(Error::unavailable(
                        BackendKind::Mysql,
                        "no server configured: give the \"dsn\" or \"dsn_file\" option, or set exakat_lock.mysql_dsn, \
                         exakat_lock.mysql_dsn_file, EXAKAT_LOCK_MYSQL_DSN or EXAKAT_LOCK_MYSQL_DSN_FILE",
                    )),
                },
            };
        let connect_timeout = match options.seconds("connect_timeout")? {
            None => DEFAULT_CONNECT_TIMEOUT,
            Some(seconds) => Duration::try_from_secs_f64(seconds)
                .ok()
                .filter(|d| !d.is_zero() && *d <= MAX_CONNECT_TIMEOUT)
                .ok_or_else(|| {
                    option_error(
                        "connect_timeout",
                        format!(
                            "must be more than 0 and at most {} seconds (a year, the server's own limit), {} given",
                            MAX_CONNECT_TIMEOUT.as_secs(),
                            match seconds {
                                s if s.is_nan() => "NAN".to_owned(),
                                s if s.is_infinite() => if s > 0.0 { "INF" } else { "-INF" }.to_owned(),
                                // Not all 301 digits of 1e300.
                                s if s.abs() >= 1e15 => format!("{s:E}"),
                                s => s.to_string(),
                            }
                        ),
                    )
                })?,
        };
        // Slot 0 is the name itself, so that a plain lock and slot 0 exclude
        // each other; the others, and the gate, are `#` suffixes of it, which
        // no plain name has (their `#` sends them to the mapped form). A name
        // with no room left for the longest suffix (`#gate`, `#1023`) takes
        // them after its mapped form.
        let server_name = server_lock_name(name);
        let base = if fits_the_server(&server_name, "#1023".len()) {
            server_name.clone()
        } else {
            mapped_name(name.as_bytes())
        };
        let group_names = match slots {
            1 => Vec::new(),
            _ => (1..slots).map(|k| format!("{base}#{k}")).chain([format!("{base}#gate")]).collect(),
        };
        Ok(Self { dsn, connect_timeout, server_name, group_names })
    }

    fn slots(&self) -> u16 {
        u16::try_from(self.group_names.len()).map_or(1, |n| n.max(1))
    }

    /// The server's name for slot `slot` (for one slot: the lock).
    fn slot_name(&self, slot: u16) -> &str {
        match slot {
            0 => &self.server_name,
            k => &self.group_names[usize::from(k) - 1],
        }
    }

    fn gate_name(&self) -> &str {
        self.group_names.last().map_or(&self.server_name, String::as_str)
    }

    pub(crate) fn describe(&self) -> String {
        format!("MySQL lock '{}' on {}", self.server_name, self.dsn.server())
    }

    fn opts(&self) -> OptsBuilder {
        let attributes: HashMap<&str, String> =
            proc_scan::hostname().map(|host| ("exakat_lock_host", host)).into_iter().collect();
        let builder = OptsBuilder::new()
            .user(Some(&self.dsn.user).filter(|u| !u.is_empty()))
            .pass(self.dsn.password())
            .db_name(self.dsn.database.as_deref())
            // prefer_socket would silently move a TCP connection to 127.0.0.1
            // onto a local socket: connect exactly where the DSN says.
            .prefer_socket(false)
            .tcp_connect_timeout(Some(self.connect_timeout))
            .read_timeout(Some(self.connect_timeout))
            .write_timeout(Some(self.connect_timeout))
            // A peer that vanishes without a reset (a partition) is noticed
            // after about 15 + 3 × 5 seconds of silence.
            .tcp_keepalive_time_ms(Some(15_000))
            .tcp_keepalive_probe_interval_secs(Some(5))
            .tcp_keepalive_probe_count(Some(3))
            .stmt_cache_size(8)
            .connect_attrs(Some(attributes));
        match &self.dsn.socket {
            // The client library never secures a unix socket (the DSN
            // refuses modes that need TLS there): asking would only send
            // the server a request for a TLS handshake that never follows.
            Some(socket) => builder.socket(Some(socket.to_string_lossy())),
            None => builder.ip_or_hostname(Some(&self.dsn.host)).tcp_port(self.dsn.port).ssl_opts(self.ssl_opts()),
        }
    }

    /// TLS as the mysql client's `--ssl-mode` means it. The CA file is added
    /// to the CAs rustls trusts anyway (Mozilla's, compiled in).
    fn ssl_opts(&self) -> Option<SslOpts> {
        let opts = match &self.dsn.ssl_ca {
            Some(ca) => SslOpts::default().with_root_cert_path(Some(ca.clone())),
            None => SslOpts::default(),
        };
        match self.dsn.ssl_mode {
            SslMode::Disabled => None,
            SslMode::Preferred | SslMode::Required => {
                Some(opts.with_danger_accept_invalid_certs(true).with_danger_skip_domain_validation(true))
            }
            SslMode::VerifyCa => Some(opts.with_danger_skip_domain_validation(true)),
            SslMode::VerifyIdentity => Some(opts),
        }
    }

    /// Connects, and readies the session for locks; under `PREFERRED`, to a
    /// server without TLS in plaintext, as the mysql client does (the
    /// client library itself only knows "TLS or nothing").
    ///
    /// The whole of it gets `connect_timeout`, on a thread of its own: the
    /// client library bounds each step, never the sum. Over a unix socket
    /// its `connect(2)` blocks while the server's accept queue is full (a
    /// frozen or swamped server), for ever; over TCP the name look-up has
    /// no limit of its own (a resolver that never answers), and each read
    /// gets the whole timeout, so a peer that sends a byte at a time (a
    /// tarpit at the DSN's port) kept it going for as long as it liked: in
    /// the handshake (KB22), then in the session's set-up statements, once
    /// the handshake alone ran on the thread (KB28). Given up on, that
    /// thread runs its remaining steps, then drops the connection it may
    /// then have.
    fn open_session(&self) -> std::result::Result<Ready, (&'static str, mysql::Error)> {
        let opts = self.opts();
        let preferred = self.dsn.ssl_mode == SslMode::Preferred;
        let fallback_identity = self.dsn.server();
        let open = move || {
            let conn = match Conn::new(opts.clone()) {
                Err(mysql::Error::DriverError(DriverError::TlsNotSupported)) if preferred => {
                    Conn::new(opts.ssl_opts(None))
                }
                other => other,
            };
            Ready::new(conn.map_err(|e| ("connect to", e))?, fallback_identity)
        };
        match within(&self.dsn.server(), self.connect_timeout, open) {
            Ok(Some(opened)) => opened,
            Ok(None) => Err(("connect to", mysql::Error::IoError(std::io::ErrorKind::TimedOut.into()))),
            Err(e) => Err(("connect to", mysql::Error::IoError(e))),
        }
    }
}

/// At most this many connects given up on, and still running, to one
/// server: one that never answers would otherwise gather a thread and a
/// descriptor per attempt of a process that retries. Connects that are
/// not given up on are never counted: the threads of a ZTS process may
/// connect to one healthy server at once, any number of them.
const MAX_ABANDONED: u64 = 8;

/// The connects given up on and still running, for up to 16 servers: one
/// word each, the server's hash above the count (in the low byte). Atomic
/// words rather than a locked list: a `fork()` by one PHP thread while
/// another looks here must not leave the child a lock held for ever; and
/// the connect threads themselves only decrement. A 17th server's connects
/// go uncounted.
static ABANDONED: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];
/// The fork generation [`ABANDONED`] counts for: a forked child has none
/// of its parent's threads, so it starts from zero.
static ABANDONED_GENERATION: AtomicU64 = AtomicU64::new(0);

/// A connect's thread is running, has ended, or was given up on (then
/// counted in slot `state - GIVEN_UP` of [`ABANDONED`], or uncounted).
const RUNNING: u8 = 0;
const ENDED: u8 = 1;
const GIVEN_UP_UNCOUNTED: u8 = 2;
const GIVEN_UP: u8 = 3;

/// The server's tag in an [`ABANDONED`] word: never 0 (a free word).
fn server_tag(server: &str) -> u64 {
    (crate::name::fnv1a64(server.as_bytes()) >> 8) | (1 << 55)
}

fn abandoned_for(tag: u64) -> u64 {
    let generation = fork::generation();
    if ABANDONED_GENERATION.swap(generation, Ordering::AcqRel) != generation {
        ABANDONED.iter().for_each(|word| word.store(0, Ordering::Release));
    }
    ABANDONED
        .iter()
        .map(|word| word.load(Ordering::Acquire))
        .find(|word| word >> 8 == tag)
        .map_or(0, |word| word & 0xff)
}

/// Counts one more connect given up on; the state its thread will find.
fn count_abandoned(tag: u64) -> u8 {
    let word_of = |wanted: &dyn Fn(u64) -> bool| ABANDONED.iter().position(|word| wanted(word.load(Ordering::Acquire)));
    for _ in 0..100 {
        let Some(at) = word_of(&|word| word >> 8 == tag).or_else(|| word_of(&|word| word & 0xff == 0)) else {
            return GIVEN_UP_UNCOUNTED;
        };
        let word = ABANDONED[at].load(Ordering::Acquire);
        let next = match word {
            // A count that would reach the tag's bits: ZTS threads racing
            // past the check at their start, hundreds of them.
            _ if word >> 8 == tag && word & 0xff == 0xff => return GIVEN_UP_UNCOUNTED,
            _ if word >> 8 == tag => word + 1,
            _ if word & 0xff == 0 => (tag << 8) | 1,
            _ => continue, // taken by another server meanwhile
        };
        if ABANDONED[at].compare_exchange(word, next, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return GIVEN_UP + u8::try_from(at).expect("16 words");
        }
    }
    GIVEN_UP_UNCOUNTED
}

/// Takes one off the count [`count_abandoned`] made.
fn uncount_abandoned(state: u8) {
    if state >= GIVEN_UP {
        ABANDONED[usize::from(state - GIVEN_UP)].fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connect's thread ending: marks its state, and takes back the count of
/// a connect given up on.
struct Ended(Arc<AtomicU8>);

impl Drop for Ended {
    fn drop(&mut self) {
        uncount_abandoned(self.0.swap(ENDED, Ordering::AcqRel));
    }
}

/// Runs `work` (a connect to `server`) on a new thread and waits for it at
/// most `limit` (`None` then). The thread blocks every signal: PHP's
/// handlers (pcntl's queue, its time limit) expect PHP's own threads.
fn within<T: Send + 'static>(
    server: &str,
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<Option<T>> {
    let tag = server_tag(server);
    if abandoned_for(tag) >= MAX_ABANDONED {
        return Err(std::io::Error::other(format!(
            "{MAX_ABANDONED} earlier connects to it, given up on, still wait for the server"
        )));
    }
    let state = Arc::new(AtomicU8::new(RUNNING));
    let thread_state = Arc::clone(&state);
    let (done, result) = std::sync::mpsc::sync_channel(1);
    let mut all = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    let mut previous = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: fills a signal set, then swaps this thread's mask for it; the
    // new thread inherits it, and ours is put back below.
    unsafe {
        libc::sigfillset(all.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), previous.as_mut_ptr());
    }
    let spawned = std::thread::Builder::new().name("exakat-lock-connect".into()).spawn(move || {
        // Also when `work` panics (the client library indexes what a
        // server sends): a count never taken back would refuse every later
        // connect to that server for the process's life.
        let _ended = Ended(thread_state);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        let _ = done.send(outcome.map_err(|payload| crate::error::panic_message(payload.as_ref())));
    });
    // SAFETY: the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, previous.as_ptr(), std::ptr::null_mut()) };
    // Detached: a connect given up on runs its remaining steps (each with
    // `connect_timeout`), then drops its connection.
    spawned.map_err(|e| std::io::Error::other(format!("no thread to connect on: {e}")))?;
    match result.recv_timeout(limit) {
        Ok(Ok(value)) => Ok(Some(value)),
        Ok(Err(panic)) => Err(std::io::Error::other(format!(
            "the connect ended without an answer: the client library panicked ({panic})"
        ))),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            Err(std::io::Error::other("the connect ended without an answer"))
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            let counted = count_abandoned(tag);
            if state.compare_exchange(RUNNING, counted, Ordering::AcqRel, Ordering::Acquire).is_err() {
                uncount_abandoned(counted); // it ended meanwhile
            }
            // An answer that came just now is taken (its thread, counted,
            // uncounts itself as it ends).
            Ok(result.try_recv().ok().and_then(std::result::Result::ok))
        }
    }
}

/// A CA file larger than this is not one: Mozilla's whole bundle is 0.2 MiB.
const MAX_CA_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Opens `path` to read a setting from it: `O_NONBLOCK`, so that a FIFO
/// planted there cannot hang us, and only a regular file of at most
/// `max_bytes` (then not `what`).
fn open_setting_file(path: &Path, max_bytes: u64, what: &str) -> std::result::Result<std::fs::File, Cause> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(Cause::Os)?;
    let metadata = file.metadata().map_err(Cause::Os)?;
    if !metadata.is_file() {
        return Err(Cause::Refused("it is not a regular file".into()));
    }
    if metadata.len() > max_bytes {
        return Err(Cause::Refused(format!("it is larger than {max_bytes} bytes: not {what}")));
    }
    Ok(file)
}

/// A DSN file is read whole, at most this long: it holds one line.
const MAX_DSN_FILE_BYTES: u64 = 64 * 1024;

/// Reads the DSN from a file (Docker secrets: one line, perhaps with a
/// trailing newline). Errors name the file and the OS error, never any of
/// its content, which holds a password.
fn read_dsn_file(name: &LockName, path: &Path, origin: &str) -> Result<Dsn> {
    let failed = |cause| Error::Failed {
        lock: name.to_string(),
        backend: BackendKind::Mysql,
        operation: format!("read the DSN file {} ({origin})", path.display()),
        cause,
    };
    let file = open_setting_file(path, MAX_DSN_FILE_BYTES, "a DSN").map_err(failed)?;
    let mut content = Vec::new();
    file.take(MAX_DSN_FILE_BYTES + 1).read_to_end(&mut content).map_err(|e| failed(Cause::Os(e)))?;
    if content.len() as u64 > MAX_DSN_FILE_BYTES {
        return Err(failed(Cause::Refused(format!("it is larger than {MAX_DSN_FILE_BYTES} bytes: not a DSN"))));
    }
    let text = std::str::from_utf8(&content).map_err(|_| failed(Cause::Refused("it is not UTF-8 text".into())))?;
    Dsn::parse(text.trim()).map_err(|problem| failed(Cause::Refused(format!("the DSN in it {problem}"))))
}

pub(crate) struct Mysql {
    context: Context,
    config: Config,
    session: Option<Session>,
    /// Whether the lock was taken on the current session. It lives and dies
    /// with that session: once the session is dropped this stays false, so a
    /// new session never passes for the one that held the lock.
    holding: bool,
    /// The slot taken, when `holding`.
    slot: u16,
    /// When this object last took the lock, for `holder()`.
    since: Option<f64>,
}

/// Why a statement failed.
enum Failure {
    /// The session was already dead when it was reused (ended by the
    /// server's idle timeout, a restart, `KILL`): a new one may be tried.
    Gone(Error),
    Other(Error),
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Gone(e) | Failure::Other(e) => e,
        }
    }
}

struct Session {
    conn: ForkSafe<Conn>,
    /// MariaDB waits fractions of a second; MySQL only whole seconds.
    fractional_waits: bool,
    /// Who the server says it is (host name, port, socket, server id).
    identity: String,
}

/// A connection made ready for locks by the connect's thread; made a
/// [`Session`] on the PHP thread (`ForkSafe` registers its descriptor in a
/// list that only PHP's threads may lock, or a fork could find it locked).
struct Ready {
    conn: Conn,
    mariadb: bool,
    identity: String,
}

impl Ready {
    /// Readies a new connection for locks; on error, which step failed.
    fn new(mut conn: Conn, fallback_identity: String) -> std::result::Result<Self, (&'static str, mysql::Error)> {
        // The server's own identity: one server reached over TCP and over
        // its socket (or by two host names) is one lock space.
        let row = conn
            .query_first::<Row, _>("SELECT VERSION(), CONCAT_WS(' ', @@hostname, @@port, @@socket, @@server_id)")
            .map_err(|e| ("query the version of", e))?;
        let version = row.as_ref().and_then(text);
        let identity = row.as_ref().and_then(|row| text_at(row, 1)).unwrap_or(fallback_identity);
        let mariadb = version.is_some_and(|v| v.contains("MariaDB"));
        // A held lock must survive any idle time: the session may not be
        // ended for idling, only by its client's death (the keepalive
        // notices a vanished client) or an administrator. Nor may a
        // statement time limit end a wait early: MariaDB's
        // max_statement_time cuts GET_LOCK short, "forever" included
        // (MySQL's max_execution_time limits SELECTs alike). Servers older
        // than those settings refuse them: then without.
        let idle = format!("SET SESSION wait_timeout = {IDLE_TIMEOUT_SECS}, interactive_timeout = {IDLE_TIMEOUT_SECS}");
        let no_time_limit = if mariadb { "max_statement_time = 0" } else { "max_execution_time = 0" };
        if conn.query_drop(format!("{idle}, {no_time_limit}")).is_err() {
            conn.query_drop(idle).map_err(|e| ("set the session's idle timeout on", e))?;
        }
        Ok(Self { conn, mariadb, identity })
    }
}

impl Mysql {
    pub(crate) fn new(context: Context, config: Config) -> Self {
        Self { context, config, session: None, holding: false, slot: 0, since: None }
    }

    /// `operation` reads "connect to" or "wait for the lock on": the DSN
    /// (password masked) follows it.
    fn server_error(&self, operation: &str, error: &mysql::Error) -> Error {
        let silent =
            |e: &std::io::Error| matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut);
        let password = self.config.dsn.password().unwrap_or("");
        let mode = self.config.dsn.ssl_mode.as_str();
        let io = match error {
            mysql::Error::IoError(e) | mysql::Error::CodecError(PacketCodecError::Io(e)) => Some(e),
            _ => None,
        };
        let message = match (error, io) {
            (_, Some(e)) if silent(e) => "the server did not answer in time".to_owned(),
            (_, Some(e)) => match refused_by_tls(e) {
                Some(tls) => format!("TLS failed (ssl-mode {mode}): {tls}"),
                None => format!("the connection failed: {e}"),
            },
            (mysql::Error::MySqlError(e), _) => {
                format!("ERROR {} ({}): {}", e.code, e.state, server_text(e.code, &e.message, password))
            }
            (mysql::Error::DriverError(DriverError::TlsNotSupported), _) => {
                format!("the server does not offer TLS, which ssl-mode {mode} requires")
            }
            (mysql::Error::DriverError(e), _) => e.to_string(),
            (mysql::Error::TlsError(e), _) => format!("TLS failed (ssl-mode {mode}): {e}"),
            (mysql::Error::CodecError(e), _) => format!("the connection failed: {e}"),
            (other, _) => other.to_string(),
        };
        self.context.failed(format!("{operation} {}", self.config.dsn), Cause::Server(mask_echoes(message, password)))
    }

    fn session(&mut self) -> Result<&mut Session> {
        if self.session.is_none() {
            if let Some(ca) = self.config.dsn.ssl_ca.as_deref().filter(|_| self.config.dsn.socket.is_none()) {
                // Said here, with the path: the client library's error would
                // not name it, and it reads the file whole, blocking: a FIFO
                // would hang it, `/dev/zero` would take all memory.
                open_setting_file(ca, MAX_CA_FILE_BYTES, "a certificate").map_err(|cause| {
                    self.context.failed(
                        format!("read the CA certificate {} (ssl-ca) for {}", ca.display(), self.config.dsn),
                        cause,
                    )
                })?;
            }
            let ready = self.config.open_session().map_err(|(operation, e)| self.server_error(operation, &e))?;
            self.session = Some(Session {
                conn: ForkSafe::new(ready.conn),
                fractional_waits: ready.mariadb,
                identity: ready.identity,
            });
        }
        Ok(self.session.as_mut().expect("connected above"))
    }

    /// Forgets the session, and with it the lock if it held one: the server
    /// frees a session's locks when it ends.
    fn drop_session(&mut self) {
        self.session = None;
        self.holding = false;
    }

    /// Runs `SELECT f(name[, arg])` and returns its nullable integer.
    fn call(&mut self, operation: &str, sql: &str, name: &str, arg: Option<f64>) -> Result<Option<i64>, Failure> {
        let reused = self.session.is_some();
        let name = name.to_owned();
        let session = self.session().map_err(Failure::Other)?;
        let answer = match arg {
            Some(arg) => session.conn.exec_first::<Row, _, _>(sql, (name, arg)),
            None => session.conn.exec_first::<Row, _, _>(sql, (name,)),
        };
        match answer {
            Ok(row) => Ok(row.and_then(|row| integer(&row))),
            Err(e) => {
                // The session is unusable (or gone, and with it any lock).
                self.drop_session();
                let error = self.server_error(operation, &e);
                Err(if reused && session_ended(&e) { Failure::Gone(error) } else { Failure::Other(error) })
            }
        }
    }

    /// One `GET_LOCK(name, seconds)`; `Ok(false)` when it timed out.
    fn get_lock(&mut self, name: &str, seconds: f64) -> Result<bool, Failure> {
        if let Some(session) = &self.session {
            // The read must outlast the server's own wait, but not forever.
            let limit = Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX).saturating_add(ANSWER_GRACE);
            set_receive_timeout(session.conn.as_raw_fd(), limit);
        }
        let answer = self.call("wait for the lock on", "SELECT GET_LOCK(?, ?)", name, Some(seconds));
        if let Some(session) = &self.session {
            set_receive_timeout(session.conn.as_raw_fd(), self.config.connect_timeout);
        }
        match answer? {
            Some(1) => Ok(true),
            Some(_) => Ok(false),
            None => Err(Failure::Other(self.context.failed(
                format!("wait for {}", self.config.describe()),
                Cause::Server("GET_LOCK() returned NULL: the wait was killed or failed on the server".into()),
            ))),
        }
    }
}

/// The shortest password masked where a message contains it: a string
/// this long is very unlikely to occur in a message by chance.
const MIN_MASKED_PASSWORD_CHARS: usize = 8;

fn password_is_maskable(password: &str) -> bool {
    password.chars().count() >= MIN_MASKED_PASSWORD_CHARS
}

/// Belt and braces: no message may show the password, and masking must not
/// reveal it either. Replacing a short password wherever it occurs would
/// ("1" masked in "127.0.0.1" gives "****27.0.0.****", naming the password
/// and mangling the message), so only a long one is replaced. The driver's
/// and the OS's messages never see the password; a server's could echo what
/// the client sent, so with a short password `server_text` withholds them.
fn mask_echoes(message: String, password: &str) -> String {
    if password_is_maskable(password) && message.contains(password) {
        message.replace(password, "****")
    } else {
        message
    }
}

/// A server's message, or, with a short password, our own words for it.
/// It is withheld whatever it contains: withholding only the messages that
/// contain the password would tell that the password is a piece of them.
fn server_text(code: u16, message: &str, password: &str) -> String {
    if password.is_empty() || password_is_maskable(password) {
        return message.to_owned();
    }
    let what = match code {
        1044 | 1045 | 1698 => "Access denied",
        1049 => "Unknown database",
        _ => "the server refused",
    };
    format!(
        "{what} (the server's message is not shown: it could echo a password shorter than \
         {MIN_MASKED_PASSWORD_CHARS} characters, which cannot be masked in it safely)"
    )
}

/// The TLS library's reason when it ended the handshake (a certificate
/// refused, no common protocol): rustls reports it as an I/O error.
fn refused_by_tls(error: &std::io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

/// Whether an error says the session itself has ended (rather than a
/// statement failing on a live one, or a server too slow to answer).
fn session_ended(error: &mysql::Error) -> bool {
    /// MariaDB's ER_CONNECTION_KILLED, MySQL's ER_CLIENT_INTERACTION_TIMEOUT
    /// (sent when wait_timeout ends a session), ER_SERVER_SHUTDOWN.
    const ENDED: [u16; 3] = [1927, 4031, 1053];
    let timed_out =
        |e: &std::io::Error| matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut);
    match error {
        mysql::Error::IoError(e) | mysql::Error::CodecError(PacketCodecError::Io(e)) => !timed_out(e),
        mysql::Error::CodecError(_) => true,
        mysql::Error::MySqlError(e) => ENDED.contains(&e.code),
        _ => false,
    }
}

impl Mysql {
    /// Takes the server lock `name`, waiting until `deadline` if it allows.
    fn get_lock_until(&mut self, name: &str, deadline: &Deadline) -> Result<bool> {
        // Only a session that holds nothing is reused here, so one that died
        // while idle lost nothing: connect again, once, and wait for the
        // time that is left.
        let mut may_reconnect = true;
        loop {
            let fractional = self.session()?.fractional_waits;
            let seconds = match deadline.remaining() {
                None => FOREVER_SLICE_SECS,
                Some(left) if fractional => left.as_secs_f64().min(FOREVER_SLICE_SECS),
                // MySQL rounds a timeout to whole seconds: wait the whole
                // seconds on the server, and the last fraction in short tries.
                Some(left) if left >= Duration::from_secs(1) => left.as_secs().min(FOREVER_SLICE_SECS as u64) as f64,
                Some(_) => 0.0,
            };
            match self.get_lock(name, seconds) {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(Failure::Gone(_)) if std::mem::take(&mut may_reconnect) => continue,
                Err(failure) => return Err(failure.into()),
            }
            match deadline.remaining() {
                None => {}
                Some(left) if left.is_zero() || !deadline.may_wait() => return Ok(false),
                Some(left) if !fractional && left < Duration::from_secs(1) => {
                    std::thread::sleep(left.min(Duration::from_millis(20)));
                }
                Some(_) => {}
            }
        }
    }

    fn took(&mut self, slot: u16) -> bool {
        self.holding = true;
        self.slot = slot;
        self.since = SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs_f64());
        true
    }

    /// Takes a free slot, the gate being held: tries each, then sleeps on
    /// one for a nap that grows, as `slotted` does.
    fn take_any_slot(&mut self, deadline: &Deadline) -> Result<bool> {
        let slots = self.config.slots();
        let start = u16::try_from(fork::pid() % u32::from(slots)).unwrap_or(0);
        let (mut watched, mut nap) = (start, SLOT_NAP_START);
        loop {
            for k in (start..slots).chain(0..start) {
                let name = self.config.slot_name(k).to_owned();
                if self.get_lock(&name, 0.0).map_err(Error::from)? {
                    return Ok(self.took(k));
                }
            }
            if !deadline.may_wait() || deadline.expired() {
                return Ok(false);
            }
            let name = self.config.slot_name(watched).to_owned();
            if self.get_lock_until(&name, &deadline.within(nap))? {
                return Ok(self.took(watched));
            }
            watched = (watched + 1) % slots;
            nap = (nap * 2).min(SLOT_NAP_CAP);
        }
    }
}

/// How long the waiter at the head of a slots group sleeps on one slot
/// before trying them all again: growing, and capped (see `slotted`).
const SLOT_NAP_START: Duration = Duration::from_millis(2);
const SLOT_NAP_CAP: Duration = Duration::from_millis(50);

impl Backend for Mysql {
    fn acquire(&mut self, deadline: &Deadline) -> Result<bool> {
        if self.config.slots() == 1 {
            let name = self.config.server_name.clone();
            return Ok(self.get_lock_until(&name, deadline)? && self.took(0));
        }
        // A single try need not pass the gate (see `slotted`): a head
        // waiter that cannot run would otherwise fail it with slots free.
        if !deadline.may_wait() {
            return self.take_any_slot(deadline);
        }
        let gate = self.config.gate_name().to_owned();
        if !self.get_lock_until(&gate, deadline)? {
            return Ok(false);
        }
        let taken = self.take_any_slot(deadline);
        let opened = self.call("open the gate on", "SELECT RELEASE_LOCK(?)", &gate, None);
        match (taken, opened) {
            // The session failed and is gone: the server freed the slot
            // with the gate, and another process may take it now.
            (Ok(true), Err(failure)) => Err(failure.into()),
            (taken, _) => taken,
        }
    }

    fn release(&mut self) -> Result<bool> {
        self.since = None;
        if !std::mem::take(&mut self.holding) {
            return Ok(false); // lost with its session
        }
        // A session that errors is gone, and the server freed the lock with it.
        let name = self.config.slot_name(self.slot).to_owned();
        Ok(self.call("release the lock on", "SELECT RELEASE_LOCK(?)", &name, None).ok().flatten() == Some(1))
    }

    fn still_held(&mut self) -> Result<bool> {
        if !self.holding {
            return Ok(false);
        }
        let name = self.config.slot_name(self.slot).to_owned();
        let ours = self.call("ask who holds the lock on", "SELECT IS_USED_LOCK(?) = CONNECTION_ID()", &name, None);
        Ok(ours.ok().flatten() == Some(1))
    }

    fn slot(&self) -> Option<u16> {
        (self.holding && self.config.slots() > 1).then_some(self.slot)
    }

    /// `None` as soon as one slot is free.
    fn holder(&mut self) -> Result<Option<Holder>> {
        let mut first = None;
        for slot in 0..self.config.slots() {
            match self.holder_of(slot)? {
                None => return Ok(None),
                Some(holder) => first = first.or(Some(holder)),
            }
        }
        Ok(first)
    }

    fn holders(&mut self) -> Result<Vec<Holder>> {
        let mut holders = Vec::new();
        for slot in 0..self.config.slots() {
            holders.extend(self.holder_of(slot)?);
        }
        Ok(holders)
    }

    /// As `slotted`'s: a member holding slot k > 0 is known by that slot.
    fn resource(&mut self) -> Result<ResourceId> {
        let server = self.session()?.identity.clone();
        let group = ResourceId::Server { server, name: self.config.server_name.clone() };
        Ok(match self.slot {
            slot if self.holding && slot > 0 => ResourceId::Slot(Box::new(group), slot),
            _ => group,
        })
    }
}

/// The user locks the server lists, each with its holder: MySQL in
/// `performance_schema.metadata_locks`, MariaDB in
/// `information_schema.METADATA_LOCK_INFO` (the `metadata_lock_info`
/// plugin). Slots are shown under their lock; gates are not locks.
pub(crate) fn list(options: &Options, settings: &Settings) -> Result<Vec<Listed>> {
    let any = LockName::new(b"list").expect("a valid name");
    let config = Config::new(&any, options, settings, 1)?;
    let server = config.dsn.server();
    let context = Context { lock: format!("(every lock on {server})"), backend: BackendKind::Mysql };
    let mut lister = Mysql::new(context, config.clone());
    let session = lister.session()?;
    const MYSQL: &str = "SELECT m.OBJECT_NAME FROM performance_schema.metadata_locks m \
        WHERE m.OBJECT_TYPE = 'USER LEVEL LOCK' AND m.LOCK_STATUS = 'GRANTED'";
    const MARIADB: &str =
        "SELECT TABLE_SCHEMA FROM information_schema.METADATA_LOCK_INFO WHERE LOCK_TYPE = 'User lock'";
    // Each server its own table: MariaDB keeps an empty performance_schema
    // when it is off, which would read as "no locks".
    let rows = if session.fractional_waits {
        session.conn.query::<Row, _>(MARIADB).ok()
    } else {
        let enabled = session.conn.query_first::<Row, _>("SELECT @@performance_schema").ok().flatten();
        enabled.as_ref().and_then(integer).filter(|&on| on == 1).and_then(|_| session.conn.query::<Row, _>(MYSQL).ok())
    };
    let rows = rows.ok_or_else(|| {
        lister.context.failed(
            format!("list the locks on {server}"),
            Cause::Refused(
                "the server does not tell: it needs performance_schema, readable by this user (MySQL), or the metadata_lock_info plugin (MariaDB)"
                    .into(),
            ),
        )
    })?;
    let mut found: Vec<Listed> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for server_name in rows.iter().filter_map(text) {
        // MariaDB shows each 4-byte character as `?`: two such locks came
        // as two rows of one name, which named its holder twice.
        if !seen.insert(server_name.clone()) {
            continue;
        }
        let (base, slot) = match server_name.rsplit_once('#') {
            Some((_, "gate")) => continue,
            // Only slot numbers as we spell them: `deploy#03` is a lock of
            // its own. (`deploy#3` taken by hand, in SQL, reads as a slot:
            // the server's names are one space, shared with every client.)
            Some((base, k)) => match super::list::slot_number(k.as_bytes()) {
                Some(slot) => (base.to_owned(), Some(slot)),
                None => (server_name.clone(), None),
            },
            None => (server_name.clone(), None),
        };
        // On the lister's session: a session per name made the listing of a
        // thousand locks a thousand connects, a number any client sets.
        let Some(mut holder) = lister.holder_named(server_name.clone(), 0)? else { continue }; // released meanwhile
        holder.slot = Some(slot.unwrap_or(0));
        let resource = format!("MySQL lock '{base}' on {server}");
        // A mapped name (over 64 characters, not UTF-8, with a `#`...) ends
        // in `~` and 16 hex digits.
        let hashed = looks_mapped(&base);
        match found.iter_mut().find(|l| l.resource == resource) {
            Some(listed) => listed.holders.push(holder),
            None => found.push(Listed {
                name: if hashed { None } else { LockName::new(base.as_bytes()).ok() },
                backend: BackendKind::Mysql,
                resource,
                holders: vec![holder],
            }),
        }
    }
    Ok(found)
}

impl Mysql {
    /// Who holds slot `slot` (for one slot: the lock).
    fn holder_of(&mut self, slot: u16) -> Result<Option<Holder>> {
        self.holder_named(self.config.slot_name(slot).to_owned(), slot)
    }

    /// Who holds the server's lock `name`, slot `slot` of this object's lock.
    fn holder_named(&mut self, name: String, slot: u16) -> Result<Option<Holder>> {
        const SQL: &str = "SELECT IS_USED_LOCK(?)";
        // A dead session is replaced: if it held the lock, that loss is
        // already recorded (`holding` is false), never hidden.
        let answer = match self.call("ask who holds the lock on", SQL, &name, None) {
            Err(Failure::Gone(_)) => self.call("ask who holds the lock on", SQL, &name, None),
            other => other,
        };
        let Some(connection) = answer? else {
            return Ok(None);
        };
        let session = self.session()?;
        let mine = i64::from(session.conn.connection_id()) == connection;
        // The client host as the server saw it ("10.0.0.5:41234"); needs the
        // PROCESS privilege for other users' sessions.
        let host = session
            .conn
            .exec_first::<Row, _, _>("SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = ?", (connection,))
            .ok()
            .flatten()
            .and_then(|row| text(&row));
        // The pid the holder's client sent about itself, as a connection
        // attribute; readable only where performance_schema is on (MySQL's
        // default, not MariaDB's). Any client sends what it likes.
        let claimed_pid = session
            .conn
            .exec_first::<Row, _, _>(
                "SELECT ATTR_VALUE FROM performance_schema.session_connect_attrs \
                 WHERE PROCESSLIST_ID = ? AND ATTR_NAME = '_pid'",
                (connection,),
            )
            .ok()
            .flatten()
            .and_then(|row| text(&row))
            .and_then(|pid| pid.parse::<i64>().ok());
        // `pid` only as this process or /proc knows it: a client claiming
        // another's pid (a review's forged `_pid` of 1) named that process
        // the holder. The claim is `claimed_pid`, for a reader to weigh.
        let pid = match mine {
            true => Some(std::process::id()),
            false => host.as_deref().and_then(|h| self.local_client_pid(h)),
        };
        let mut extra = vec![
            ("connection_id", HolderValue::Int(connection)),
            ("server", HolderValue::Str(self.config.dsn.server())),
            ("lock_name", HolderValue::Str(name)),
        ];
        extra.extend(claimed_pid.map(|claimed| ("claimed_pid", HolderValue::Int(claimed))));
        let holder = Holder {
            pid,
            host: if mine { proc_scan::hostname() } else { host.map(|h| strip_port(&h)) },
            since: if mine { self.since } else { None },
            extra,
            ..Holder::default()
        };
        Ok(Some(if self.config.slots() > 1 { holder.in_slot(slot) } else { holder }))
    }

    /// Without performance_schema, a holder on this host is still found: the
    /// server's view of its client ("127.0.0.1:41234") is one end of a TCP
    /// connection in /proc, and /proc names the process holding it.
    fn local_client_pid(&self, client: &str) -> Option<u32> {
        if self.config.dsn.socket.is_some() {
            return None;
        }
        let (ip, port) = client.rsplit_once(':')?;
        let address = SocketAddr::new(ip.trim_matches(|c| c == '[' || c == ']').parse().ok()?, port.parse().ok()?);
        let inode = proc_scan::tcp_connection_inode(address, self.config.dsn.port)?;
        proc_scan::sole_pid_with_socket(inode)
    }
}

// Rows are read as raw values: mysql_common's typed conversions pull in a
// regex engine (for date parsing) that would be a fifth of the .so.

/// The first column as an integer (NULL: `None`).
fn integer(row: &Row) -> Option<i64> {
    match row.as_ref(0)? {
        Value::Int(i) => Some(*i),
        Value::UInt(u) => i64::try_from(*u).ok(),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// The first column as text (NULL: `None`).
fn text(row: &Row) -> Option<String> {
    text_at(row, 0)
}

/// Column `at` as text (NULL: `None`).
fn text_at(row: &Row, at: usize) -> Option<String> {
    match row.as_ref(at)? {
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        _ => None,
    }
}

/// "10.0.0.5:41234" → "10.0.0.5"; "localhost" stays.
fn strip_port(host: &str) -> String {
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.is_empty() => h.to_owned(),
        _ => host.to_owned(),
    }
}

fn set_receive_timeout(fd: RawFd, limit: Duration) {
    let limit = libc::timeval {
        tv_sec: libc::time_t::try_from(limit.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_usec: libc::suseconds_t::from(limit.subsec_micros()),
    };
    // SAFETY: a valid timeval for SO_RCVTIMEO on a socket we own. Failure
    // only means the previous limit stays.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            std::ptr::from_ref(&limit).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::OptionValue;

    #[test]
    fn short_utf8_names_are_used_as_they_are() {
        let name = LockName::new("nightly-import été".as_bytes()).unwrap();
        assert_eq!(server_lock_name(&name), "nightly-import été");
        let sixty_four = "é".repeat(64);
        assert_eq!(server_lock_name(&LockName::new(sixty_four.as_bytes()).unwrap()), sixty_four);
        let forty_eight_emoji = "🔒".repeat(48);
        assert_eq!(server_lock_name(&LockName::new(forty_eight_emoji.as_bytes()).unwrap()), forty_eight_emoji);
    }

    /// MariaDB refuses names over 192 bytes (ERROR 1059) however few
    /// characters they have: such a name could never be locked there.
    #[test]
    fn names_over_192_bytes_are_shortened_too() {
        let name = LockName::new("🔒".repeat(49).as_bytes()).unwrap();
        let mapped = server_lock_name(&name);
        assert_eq!(mapped, format!("{}~{:016x}", "🔒".repeat(40), name.hash64()));
        assert!(mapped.len() <= MAX_SERVER_NAME_BYTES);
    }

    #[test]
    fn long_or_binary_names_map_to_the_same_short_name() {
        let long = LockName::new(&[b'x'; 200]).unwrap();
        let mapped = server_lock_name(&long);
        assert_eq!(mapped, format!("{}~{:016x}", "x".repeat(40), long.hash64()));
        assert!(mapped.chars().count() <= MAX_SERVER_NAME_CHARS);
        let binary = LockName::new(b"\xff\xfeabc").unwrap();
        assert!(server_lock_name(&binary).ends_with(&format!("~{:016x}", binary.hash64())));
        assert_ne!(
            server_lock_name(&LockName::new(&[b'x'; 65]).unwrap()),
            server_lock_name(&LockName::new(&[b'x'; 66]).unwrap())
        );
    }

    /// Every server name of every lock, slots and gates included: a plain
    /// name spelled a long name's mapped form, or a slot or gate of another
    /// lock, and shared its lock (a review's find).
    #[test]
    fn no_two_locks_share_a_server_name() {
        let options = Options::new().with("dsn", OptionValue::Str(b"mysql://u@db".to_vec()));
        let names_of = |name: &[u8], slots: u16| {
            let config = Config::new(&LockName::new(name).unwrap(), &options, &Settings::default(), slots).unwrap();
            let mut names = vec![config.server_name];
            names.extend(config.group_names);
            for name in &names {
                assert!(fits_the_server(name, 0), "{name}");
            }
            names
        };
        let long = vec![b'x'; 70];
        let spelled = format!("{}~{:016x}", "x".repeat(40), crate::name::fnv1a64(&long));
        let sixty_four = "é".repeat(64);
        let locks: Vec<(&[u8], u16)> = vec![
            (&long, 1),
            (spelled.as_bytes(), 1),
            (b"job", 3),
            (b"job#1", 1),
            (b"job#2", 1),
            (b"job#gate", 1),
            (b"job#1", 2),
            (sixty_four.as_bytes(), 4),
            (b"\xff", 2),
        ];
        let mut seen = std::collections::HashMap::new();
        for (name, slots) in locks {
            for server_name in names_of(name, slots) {
                // One name's lock with and without slots share slot 0.
                if let Some(other) = seen.insert(server_name.clone(), name) {
                    assert_eq!(other, name, "{server_name} names two locks");
                }
            }
        }
        // Readable still, where nothing could be confused.
        assert_eq!(names_of(b"job", 3), ["job", "job#1", "job#2", "job#gate"]);
    }

    #[test]
    fn the_dsn_comes_from_the_option_then_the_settings() {
        let name = LockName::new(b"job").unwrap();
        let mut settings = Settings { mysql_dsn: None, ..Settings::default() };
        let e = Config::new(&name, &Options::new(), &settings, 1).unwrap_err().to_string();
        assert!(e.contains("no server configured"), "{e}");
        settings.mysql_dsn = DsnSource::text("mysql://u:pw@db/x", "exakat_lock.mysql_dsn");
        assert_eq!(Config::new(&name, &Options::new(), &settings, 1).unwrap().dsn.host, "db");
        let options = Options::new().with("dsn", OptionValue::Str(b"mysql://u:secret@other:3307".to_vec()));
        let config = Config::new(&name, &options, &settings, 1).unwrap();
        assert_eq!(config.describe(), "MySQL lock 'job' on other:3307");
        let bad = Options::new().with("dsn", OptionValue::Str(b"mysql://u:secret@other:0".to_vec()));
        let e = Config::new(&name, &bad, &settings, 1).unwrap_err().to_string();
        assert!(e.starts_with("Option \"dsn\" has an invalid port") && !e.contains("secret"), "{e}");
    }

    /// A private file for one test, removed when dropped.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(tag: &str, content: &[u8]) -> Self {
            let path = std::env::temp_dir().join(format!("exakat_lock-dsn-{tag}-{}", std::process::id()));
            std::fs::write(&path, content).unwrap();
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn path_option(key: &str, path: &Path) -> Options {
        Options::new().with(key, OptionValue::Str(path.as_os_str().as_bytes().to_vec()))
    }

    #[test]
    fn dsn_files_are_read_and_trimmed_and_come_after_the_dsn_option() {
        let name = LockName::new(b"job").unwrap();
        let file = TempFile::new("trimmed", b"mysql://u:file-secret@from-file:3307/x\n");
        let settings = Settings { mysql_dsn: DsnSource::text("mysql://u@from-ini", "test"), ..Settings::default() };
        let config = Config::new(&name, &path_option("dsn_file", &file.0), &settings, 1).unwrap();
        assert_eq!((config.dsn.host.as_str(), config.dsn.password()), ("from-file", Some("file-secret")));
        let both = path_option("dsn_file", &file.0).with("dsn", OptionValue::Str(b"mysql://u@db".to_vec()));
        let e = Config::new(&name, &both, &settings, 1).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }) && e.to_string().contains("both"), "{e}");
        for bad in [&b""[..], b"a\0b"] {
            let e = Config::new(&name, &Options::new().with("dsn_file", OptionValue::Str(bad.to_vec())), &settings, 1);
            assert!(e.unwrap_err().to_string().starts_with("Option \"dsn_file\" must be a path"));
        }
        // From the settings: a file is used like a DSN given as text.
        let settings = Settings { mysql_dsn: DsnSource::file(&file.0, "exakat_lock.mysql_dsn_file"), ..settings };
        assert_eq!(Config::new(&name, &Options::new(), &settings, 1).unwrap().dsn.host, "from-file");
        let option = Options::new().with("dsn", OptionValue::Str(b"mysql://u@from-option".to_vec()));
        assert_eq!(Config::new(&name, &option, &settings, 1).unwrap().dsn.host, "from-option");
    }

    #[test]
    fn unreadable_or_malformed_dsn_files_are_named_never_shown() {
        let name = LockName::new(b"job").unwrap();
        let settings = Settings { mysql_dsn: None, ..Settings::default() };
        let missing = std::env::temp_dir().join("exakat_lock-no-such-dsn-file");
        let e = Config::new(&name, &path_option("dsn_file", &missing), &settings, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "Lock \"job\" (mysql backend): cannot read the DSN file {} (the \"dsn_file\" option): \
                 No such file or directory (os error 2)",
                missing.display()
            )
        );
        let malformed = TempFile::new("malformed", b"mysql://u:file-secret@db:0/x");
        let e = Config::new(&name, &path_option("dsn_file", &malformed.0), &settings, 1).unwrap_err().to_string();
        assert!(e.contains("invalid port") && e.contains(&*malformed.0.to_string_lossy()), "{e}");
        assert!(!e.contains("file-secret"), "{e}");
        let dir = Config::new(&name, &path_option("dsn_file", &std::env::temp_dir()), &settings, 1).unwrap_err();
        assert!(dir.to_string().ends_with("it is not a regular file"), "{dir}");
        // A FIFO with no writer would block a plain open(2).
        let fifo = std::env::temp_dir().join(format!("exakat_lock-dsn-fifo-{}", std::process::id()));
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = Config::new(&name, &path_option("dsn_file", &fifo), &settings, 1).unwrap_err();
        std::fs::remove_file(&fifo).unwrap();
        assert!(e.to_string().ends_with("it is not a regular file"), "{e}");
    }

    #[test]
    fn connect_timeouts_are_positive_seconds() {
        let name = LockName::new(b"job").unwrap();
        let settings = Settings { mysql_dsn: DsnSource::text("mysql://u@db", "test"), ..Settings::default() };
        let with = |v| Config::new(&name, &Options::new().with("connect_timeout", v), &settings, 1);
        assert_eq!(with(OptionValue::Float(0.5)).unwrap().connect_timeout, Duration::from_millis(500));
        assert_eq!(with(OptionValue::Int(2)).unwrap().connect_timeout, Duration::from_secs(2));
        assert_eq!(with(OptionValue::Int(31_536_000)).unwrap().connect_timeout, MAX_CONNECT_TIMEOUT);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300, 31_536_000.5] {
            let e = with(OptionValue::Float(bad)).unwrap_err().to_string();
            assert!(
                e.starts_with("Option \"connect_timeout\" must be more than 0 and at most 31536000 seconds"),
                "{e}"
            );
        }
        let e = with(OptionValue::Str(b"2".to_vec())).unwrap_err().to_string();
        assert_eq!(e, "Option \"connect_timeout\" must be of type int|float, string given");
    }

    #[test]
    fn masking_never_reveals_a_short_password_or_mangles_the_message() {
        let access = "Access denied for user 'exakat'@'127.0.0.1' (using password: YES)";
        // The old substring replacement gave "****27.0.0.****" here.
        let shown = format!("ERROR 1045 (28000): {}", server_text(1045, access, "1"));
        assert!(shown.starts_with("ERROR 1045 (28000): Access denied (the server's message is not shown"), "{shown}");
        assert!(!shown.contains("127.0.0.1") && !shown.contains("****"), "{shown}");
        assert_eq!(mask_echoes(shown.clone(), "1"), shown);
        // Withheld whether or not the message contains the short password.
        assert_eq!(server_text(1045, "no digits", "7"), server_text(1045, "7 digits", "7"));
        assert_eq!(server_text(1045, access, ""), access);
        // A long password is masked where it occurs, the rest is left as it was.
        let long = "correct-horse-1";
        assert_eq!(server_text(1105, &format!("echo {long}!"), long), format!("echo {long}!"));
        assert_eq!(mask_echoes(format!("ERROR 1105 (HY000): echo {long}!"), long), "ERROR 1105 (HY000): echo ****!");
        assert_eq!(mask_echoes("Connection refused (os error 111)".into(), "1"), "Connection refused (os error 111)");
    }

    /// The cipher of the session the backend opened, as the server reports it ("" for plaintext).
    fn server_side_cipher(dsn: &str) -> Result<String> {
        let name = LockName::new(b"tls-probe").unwrap();
        let options = Options::new().with("dsn", OptionValue::Str(dsn.as_bytes().to_vec()));
        let context = Context { lock: "tls-probe".into(), backend: BackendKind::Mysql };
        let mut backend = Mysql::new(context, Config::new(&name, &options, &Settings::default(), 1)?);
        let session = backend.session()?;
        let row = session.conn.query_first::<Row, _>("SHOW SESSION STATUS LIKE 'Ssl_cipher'").unwrap().unwrap();
        Ok(match row.as_ref(1) {
            Some(Value::Bytes(cipher)) => String::from_utf8_lossy(cipher).into_owned(),
            other => panic!("unexpected Ssl_cipher value {other:?}"),
        })
    }

    #[test]
    #[ignore = "needs a MySQL/MariaDB server with TLS: scripts/test.sh starts one and runs these"]
    fn the_server_sees_tls_in_every_mode_but_disabled() {
        let dsn = std::env::var("EXAKAT_LOCK_TEST_MYSQL_DSN").expect("EXAKAT_LOCK_TEST_MYSQL_DSN");
        let ca = std::env::var("EXAKAT_LOCK_TEST_MYSQL_CA").expect("EXAKAT_LOCK_TEST_MYSQL_CA (scripts/test.sh)");
        let with = |parameters: &str| format!("{}?{parameters}", dsn.trim_end_matches('/'));
        assert_eq!(server_side_cipher(&with("ssl-mode=DISABLED")).unwrap(), "");
        for parameters in [
            String::new(), // PREFERRED
            "ssl-mode=REQUIRED".into(),
            format!("ssl-ca={ca}"),
            format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
        ] {
            let cipher = server_side_cipher(&with(&parameters)).unwrap();
            assert!(cipher.starts_with("TLS_") || cipher.contains("-"), "{parameters}: cipher {cipher:?}");
        }
        let wrong_ca = std::path::Path::new(&ca).with_file_name("other-ca.pem");
        let e = server_side_cipher(&with(&format!("ssl-ca={}", wrong_ca.display()))).unwrap_err().to_string();
        assert!(
            e.contains("cannot connect to") && e.contains("TLS failed (ssl-mode VERIFY_CA): invalid peer certificate"),
            "{e}"
        );
    }

    #[test]
    fn client_hosts_lose_their_port() {
        assert_eq!(strip_port("10.0.0.5:41234"), "10.0.0.5");
        assert_eq!(strip_port("localhost"), "localhost");
    }
}
