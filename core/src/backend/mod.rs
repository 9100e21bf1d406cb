//! One trait, one module per backend. This module only chooses: which
//! backends exist and work here, which options each accepts, and which one
//! `auto` means.

use std::{
    fmt, io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::OnceLock,
};

use crate::{
    deadline::Deadline,
    error::{Cause, Error, Result},
    options::{OptionValue, Options},
    LockName, Settings,
};

mod dir_watch;
mod flock;
mod list;
#[cfg(feature = "mysql")]
mod mysql;
mod proc_scan;
mod semaphore;
mod slotted;
mod socket;
mod tcp;
mod wake;

pub use list::{list, Listed};
pub use semaphore::{give_back_before_exec, take_back_after_failed_exec};

/// The mechanisms a lock can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    Socket,
    Tcp,
    Semaphore,
    Flock,
    Mysql,
}

impl BackendKind {
    pub const ALL: [Self; 5] = [Self::Socket, Self::Tcp, Self::Semaphore, Self::Flock, Self::Mysql];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Socket => "socket",
            Self::Tcp => "tcp",
            Self::Semaphore => "semaphore",
            Self::Flock => "flock",
            Self::Mysql => "mysql",
        }
    }

    /// The option keys this backend accepts.
    #[must_use]
    pub fn option_keys(self) -> &'static [&'static str] {
        match self {
            Self::Socket => &[],
            Self::Tcp => &["port", "host"],
            Self::Semaphore => &["key"],
            Self::Flock => &["dir", "path"],
            Self::Mysql => &["dsn", "dsn_file", "connect_timeout"],
        }
    }

    /// Whether the lock lives on this machine (everything but a database).
    #[must_use]
    pub fn is_local(self) -> bool {
        self != Self::Mysql
    }

    /// Whether the backend can hold a lock shared (many readers or one
    /// writer) with every guarantee of an exclusive one. `socket`, `tcp` and
    /// `mysql` cannot: an address, a port or a `GET_LOCK` name has one
    /// holder, and counting readers in them would lose crash release.
    #[must_use]
    pub fn has_shared_mode(self) -> bool {
        matches!(self, Self::Semaphore | Self::Flock)
    }
}

/// Option keys every backend accepts.
pub const COMMON_OPTION_KEYS: [&str; 1] = ["slots"];

/// The most holders one name can have at once (`slots`).
pub const MAX_SLOTS: u16 = 1024;

/// How a lock is held: alone, or together with other shared holders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Exclusive,
    Shared,
}

impl Mode {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exclusive => "exclusive",
            Self::Shared => "shared",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the caller asked for: a backend, or the best one here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    Auto,
    Kind(BackendKind),
}

impl BackendChoice {
    /// Reads a backend name as PHP users write it (`Lock::AUTO`, `Lock::FLOCK`...).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming `argument` for an unknown name.
    pub fn parse(name: &[u8], argument: &str) -> Result<Self> {
        if name == b"auto" {
            return Ok(Self::Auto);
        }
        BackendKind::ALL.into_iter().find(|kind| kind.as_str().as_bytes() == name).map(Self::Kind).ok_or_else(|| {
            Error::invalid_argument(
                argument,
                format!(
                    "must be one of \"auto\", \"socket\", \"tcp\", \"semaphore\", \"flock\" or \"mysql\", \"{}\" given",
                    String::from_utf8_lossy(name).escape_debug()
                ),
            )
        })
    }

    /// The concrete backend: `auto` means the configured default backend,
    /// else the best local backend usable here.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] when no local backend works on this system.
    pub fn resolve(self, settings: &Settings) -> Result<BackendKind> {
        match self {
            Self::Kind(kind) => Ok(kind),
            Self::Auto => match settings.default_backend {
                Some(kind) => Ok(kind),
                None => usable_local_backends()
                    .first()
                    .copied()
                    .ok_or_else(|| Error::unavailable(BackendKind::Socket, "no local backend works on this system")),
            },
        }
    }
}

/// What is known of a lock's current holder.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Holder {
    pub pid: Option<u32>,
    pub host: Option<String>,
    /// When the holder took the lock, in seconds since the Unix epoch.
    pub since: Option<f64>,
    /// Backend-specific facts, in a stable order.
    pub extra: Vec<(&'static str, HolderValue)>,
    pub mode: Mode,
    /// The slot held, for a lock with `slots` > 1.
    pub slot: Option<u16>,
}

impl Holder {
    /// A holder on this machine, known by pid when `pid` is given; its host
    /// is ours when it shares our UTS namespace.
    pub(crate) fn local(pid: Option<u32>, since: Option<f64>, extra: Vec<(&'static str, HolderValue)>) -> Self {
        Self { pid, host: pid.and_then(proc_scan::host_of), since, extra, mode: Mode::Exclusive, slot: None }
    }

    #[must_use]
    pub(crate) fn shared(mut self) -> Self {
        self.mode = Mode::Shared;
        self
    }

    #[must_use]
    pub(crate) fn in_slot(mut self, slot: u16) -> Self {
        self.slot = Some(slot);
        self
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum HolderValue {
    Int(i64),
    Str(String),
}

/// What a lock really is underneath its spelling: `dir => "/d"` and
/// `dir => "/d/."` name one file, tcp hosts `127.0.0.1` and `0.0.0.0` on one
/// port exclude each other. Two objects of one process contend when their
/// resources conflict, whatever their options said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourceId {
    /// An abstract unix socket address, by its hash: asked at every
    /// acquire, so it does not allocate.
    Socket(u64),
    Tcp {
        ip: IpAddr,
        port: u16,
    },
    Semaphore(i32),
    /// A lock file, by device and inode.
    File {
        dev: u64,
        ino: u64,
    },
    /// A server lock: the server's own identity and the lock's name there.
    Server {
        server: String,
        name: String,
    },
    /// Slot `slot` (1 or more) of the group whose slot 0, the plain lock on
    /// the name, is the resource given.
    Slot(Box<ResourceId>, u16),
}

impl ResourceId {
    /// The group's: slot 0's resource, the plain lock's.
    #[must_use]
    pub fn group(&self) -> &Self {
        match self {
            Self::Slot(group, _) => group,
            other => other,
        }
    }

    /// Whether holding one makes taking the other impossible.
    #[must_use]
    pub fn conflicts_with(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Slot(a, k), Self::Slot(b, j)) => k == j && a.conflicts_with(b),
            (Self::Slot(..), _) | (_, Self::Slot(..)) => false,
            (Self::Tcp { ip: a, port: p }, Self::Tcp { ip: b, port: q }) => {
                // As the kernel's bind table sees it: `0.0.0.0` takes the
                // port on every IPv4 address (not on `::1`: both can be
                // bound at once), Linux's IPv6 wildcard (without
                // IPV6_V6ONLY, which we never set) on every address.
                let (a, b) = (canonical_ip(*a), canonical_ip(*b));
                let v4_wildcard_over =
                    |w: IpAddr, other: IpAddr| w == IpAddr::V4(Ipv4Addr::UNSPECIFIED) && other.is_ipv4();
                p == q
                    && (a == b
                        || a == IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                        || b == IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                        || v4_wildcard_over(a, b)
                        || v4_wildcard_over(b, a))
            }
            _ => self == other,
        }
    }
}

/// `::ffff:127.0.0.1` is `127.0.0.1` to the kernel's bind table.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A lock mechanism bound to one lock name.
///
/// Implementations own their OS resources through [`crate::fork::ForkSafe`],
/// so dropping one in a forked child is always safe. The process-level rules
/// (holding twice, forked children, deadlock detection) live in
/// [`crate::Lock`], not here.
pub trait Backend: Send {
    /// Takes the lock (with `slots` > 1: any free slot), waiting until
    /// `deadline` if it allows waiting. `Ok(false)` means the time ran out;
    /// errors are never contention.
    fn acquire(&mut self, deadline: &Deadline) -> Result<bool>;

    /// Takes the lock shared. Only called on backends that
    /// [have a shared mode](BackendKind::has_shared_mode), with one slot.
    /// `beside_our_reader`: another object of this thread holds it shared,
    /// so no writer holds it, and one that waits (and that new readers
    /// otherwise let go first) waits for that reader: this one must not
    /// queue behind it.
    fn acquire_shared(&mut self, deadline: &Deadline, beside_our_reader: bool) -> Result<bool> {
        let _ = (deadline, beside_our_reader);
        unreachable!("the core checks has_shared_mode() first")
    }

    /// The slot this object holds, for a lock with `slots` > 1.
    fn slot(&self) -> Option<u16> {
        None
    }

    /// Gives the lock up; only called while this object holds it.
    /// `Ok(false)` when it turned out to be lost already.
    fn release(&mut self) -> Result<bool>;

    /// Whether a lock this object took is still held. Local backends cannot
    /// lose a lock behind their owner's back; a server connection can.
    fn still_held(&mut self) -> Result<bool> {
        Ok(true)
    }

    /// Who holds the lock now, as far as the system can tell: `None` when
    /// a single try would succeed, else one holder.
    fn holder(&mut self) -> Result<Option<Holder>>;

    /// Every current holder, with its mode and slot.
    fn holders(&mut self) -> Result<Vec<Holder>> {
        Ok(self.holder()?.into_iter().collect())
    }

    /// The resource this object locks, by its real identity. It may open
    /// the resource (a lock file, a server session) to find out; it is
    /// asked before an unbounded wait and after each acquisition.
    fn resource(&mut self) -> Result<ResourceId>;

    /// Waits for this lock as the gate that orders the waiters of another
    /// (a turnstile, the gate of a slot group), until `deadline`.
    fn wait_as_gate(&mut self, deadline: &Deadline) -> Result<AtGate> {
        Ok(if self.acquire(deadline)? { AtGate::Passed } else { AtGate::TimedOut })
    }
}

/// How a wait at a gate ended.
#[derive(Debug, PartialEq, Eq)]
pub enum AtGate {
    /// The gate is held: the waiter is at the head of the line.
    Passed,
    TimedOut,
    /// Every holder of the gate is stopped (Ctrl-Z, a debugger, a frozen
    /// container): the line does not move, and the waiter goes past it to
    /// the lock itself.
    PastStopped,
}

/// Names a lock and its backend in every error a backend reports.
#[derive(Clone, Debug)]
pub struct Context {
    pub lock: String,
    pub backend: BackendKind,
}

impl Context {
    pub fn failed(&self, operation: impl Into<String>, cause: Cause) -> Error {
        Error::Failed { lock: self.lock.clone(), backend: self.backend, operation: operation.into(), cause }
    }

    pub fn os(&self, operation: impl Into<String>, error: impl Into<io::Error>) -> Error {
        self.failed(operation, Cause::Os(error.into()))
    }
}

/// A backend chosen and configured for one name: everything a process needs
/// to open (and, after a fork, reopen) the same lock.
#[derive(Clone, Debug)]
pub struct LockSpec {
    pub name: LockName,
    pub kind: BackendKind,
    /// At most this many holders at once (`slots`, 1 to [`MAX_SLOTS`]).
    pub slots: u16,
    config: Config,
}

#[derive(Clone, Debug)]
enum Config {
    Socket(socket::Config),
    Tcp(tcp::Config),
    Semaphore(semaphore::Config),
    Flock(flock::Config),
    #[cfg(feature = "mysql")]
    Mysql(mysql::Config),
}

impl LockSpec {
    /// Validates the options for the backend and works out every derived
    /// value (file path, port, key, server lock name). Does no waiting.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidArgument`] / [`Error::InvalidType`] for bad options,
    ///   unknown keys included;
    /// - [`Error::Unavailable`] when the backend cannot work here.
    pub fn new(name: LockName, choice: BackendChoice, options: &Options, settings: &Settings) -> Result<Self> {
        match Self::configure(&name, choice, options, settings) {
            Ok((kind, slots, config)) => Ok(Self { name, kind, slots, config }),
            Err(e) => Err(e.for_lock(&name.to_string())),
        }
    }

    fn configure(
        name: &LockName,
        choice: BackendChoice,
        options: &Options,
        settings: &Settings,
    ) -> Result<(BackendKind, u16, Config)> {
        let kind = choice.resolve(settings)?;
        options.check_keys(kind)?;
        let slots = slots_option(options)?;
        if kind.is_local() && !usable_local_backends().contains(&kind) {
            return Err(Error::unavailable(kind, unusable_reason(kind)));
        }
        let config = match kind {
            BackendKind::Socket => Config::Socket(socket::Config::new(name)),
            BackendKind::Tcp => Config::Tcp(tcp::Config::new(name, options, settings, slots)?),
            BackendKind::Semaphore => Config::Semaphore(semaphore::Config::new(name, options, slots)?),
            BackendKind::Flock => Config::Flock(flock::Config::new(name, options, settings)?),
            #[cfg(feature = "mysql")]
            BackendKind::Mysql => Config::Mysql(mysql::Config::new(name, options, settings, slots)?),
            #[cfg(not(feature = "mysql"))]
            BackendKind::Mysql => {
                return Err(Error::unavailable(kind, "this build of exakat_lock was compiled without MySQL support"))
            }
        };
        Ok((kind, slots, config))
    }

    #[must_use]
    pub fn context(&self) -> Context {
        Context { lock: self.name.to_string(), backend: self.kind }
    }

    /// A fresh backend object for this lock. Opening does no I/O that could
    /// block; resources are created on first use.
    #[must_use]
    pub fn open(&self) -> Box<dyn Backend> {
        let context = self.context();
        let slots = self.slots;
        match &self.config {
            Config::Socket(c) if slots > 1 => Box::new(slotted::Slotted::new(
                Box::new(socket::Socket::new(context.clone(), c.gate())),
                (0..slots).map(|slot| Box::new(socket::Socket::new(context.clone(), c.slot(slot))) as _).collect(),
                &c.bell(),
                context,
            )),
            Config::Socket(c) => Box::new(socket::Socket::new(context, c.clone())),
            Config::Tcp(c) if slots > 1 => Box::new(slotted::Slotted::new(
                Box::new(socket::Socket::new(context.clone(), c.gate())),
                (0..slots).map(|slot| Box::new(tcp::Tcp::new(context.clone(), c.slot(slot))) as _).collect(),
                &c.bell(),
                context,
            )),
            Config::Tcp(c) => Box::new(tcp::Tcp::new(context, c.clone())),
            Config::Semaphore(c) => Box::new(semaphore::Semaphore::new(context, c.clone())),
            Config::Flock(c) if slots > 1 => Box::new(slotted::Slotted::new(
                Box::new(flock::Flock::new(context.clone(), c.gate())),
                (0..slots).map(|slot| Box::new(flock::Flock::new(context.clone(), c.slot(slot))) as _).collect(),
                &c.bell(),
                context,
            )),
            Config::Flock(c) => Box::new(flock::Flock::new(context, c.clone())),
            #[cfg(feature = "mysql")]
            Config::Mysql(c) => Box::new(mysql::Mysql::new(context, c.clone())),
        }
    }

    /// The OS or server resource behind the lock, without secrets: for
    /// messages, `var_dump()`, and recognising two objects of one process
    /// that contend for the same lock.
    #[must_use]
    pub fn describe(&self) -> String {
        match &self.config {
            Config::Socket(c) => c.describe(),
            Config::Tcp(c) => c.describe(),
            Config::Semaphore(c) => c.describe(),
            Config::Flock(c) => c.describe(),
            #[cfg(feature = "mysql")]
            Config::Mysql(c) => c.describe(),
        }
    }
}

/// `slots`: 1 to [`MAX_SLOTS`], 1 when not given.
fn slots_option(options: &Options) -> Result<u16> {
    match options.int("slots")? {
        None => Ok(1),
        Some(n) => u16::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_SLOTS).contains(n))
            .ok_or_else(|| option_error("slots", format!("must be between 1 and {MAX_SLOTS}, {n} given"))),
    }
}

/// The local backends that work on this system, best first; probed once per
/// process. `socket` leads: it leaves nothing behind after a crash, needs no
/// writable directory and no SysV IPC, and names its holder exactly.
#[must_use]
pub fn usable_local_backends() -> &'static [BackendKind] {
    static USABLE: OnceLock<Vec<BackendKind>> = OnceLock::new();
    USABLE.get_or_init(|| {
        [BackendKind::Socket, BackendKind::Semaphore, BackendKind::Flock, BackendKind::Tcp]
            .into_iter()
            .filter(|&kind| probe(kind).is_ok())
            .collect()
    })
}

/// Every backend usable with the current settings, best first: the local
/// ones, then `mysql` when it is compiled in and a DSN is configured. A
/// configured default backend comes first when it is usable, so `auto` is
/// the first (an unusable default makes `auto` fail instead; see DESIGN §5).
#[must_use]
pub fn usable_backends(settings: &Settings) -> Vec<BackendKind> {
    let mut all = usable_local_backends().to_vec();
    if cfg!(feature = "mysql") && settings.mysql_dsn.is_some() {
        all.push(BackendKind::Mysql);
    }
    if let Some(at) = settings.default_backend.and_then(|default| all.iter().position(|&k| k == default)) {
        let default = all.remove(at);
        all.insert(0, default);
    }
    all
}

fn unusable_reason(kind: BackendKind) -> String {
    match probe(kind) {
        Ok(()) => "it failed its start-up probe".into(),
        Err(e) => e.to_string(),
    }
}

/// Checks the kernel offers what a local backend needs.
fn probe(kind: BackendKind) -> io::Result<()> {
    match kind {
        BackendKind::Socket => socket::probe(),
        BackendKind::Tcp => tcp::probe(),
        BackendKind::Semaphore => semaphore::probe(),
        BackendKind::Flock | BackendKind::Mysql => Ok(()),
    }
}

/// Owners whose files, sets and sockets may stand for our locks: ourselves,
/// and root, who could break any lock anyway. Anything another user made is
/// refused or not trusted: its owner could reset, swap or duplicate it.
pub(crate) fn is_trusted_owner(uid: libc::uid_t) -> bool {
    // SAFETY: geteuid cannot fail.
    uid == 0 || uid == unsafe { libc::geteuid() }
}

/// Reads the common "wrong option" cases once for all backends.
pub(crate) fn option_error(key: &str, problem: impl Into<String>) -> Error {
    Error::invalid_argument(format!("option \"{key}\""), problem)
}

pub(crate) fn expect_option_type(key: &str, expected: &'static str, value: &OptionValue) -> Error {
    Error::InvalidType { argument: format!("option \"{key}\""), expected, given: value.type_name().to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_backend_names() {
        assert_eq!(BackendChoice::parse(b"auto", "backend").unwrap(), BackendChoice::Auto);
        for kind in BackendKind::ALL {
            assert_eq!(BackendChoice::parse(kind.as_str().as_bytes(), "backend").unwrap(), BackendChoice::Kind(kind));
        }
        let e = BackendChoice::parse(b"Flock", "backend").unwrap_err().to_string();
        assert!(e.starts_with("Argument $backend must be one of") && e.ends_with("\"Flock\" given"), "{e}");
    }

    #[test]
    fn auto_prefers_the_configured_default_then_the_best_usable_backend() {
        let mut settings = Settings::default();
        assert_eq!(BackendChoice::Auto.resolve(&settings).unwrap(), usable_local_backends()[0]);
        settings.default_backend = Some(BackendKind::Flock);
        assert_eq!(BackendChoice::Auto.resolve(&settings).unwrap(), BackendKind::Flock);
        assert_eq!(BackendChoice::Kind(BackendKind::Tcp).resolve(&settings).unwrap(), BackendKind::Tcp);
    }

    #[test]
    fn tcp_resources_conflict_as_the_kernel_binds_them() {
        let tcp = |ip: &str, port| ResourceId::Tcp { ip: ip.parse().unwrap(), port };
        assert!(tcp("127.0.0.1", 80).conflicts_with(&tcp("0.0.0.0", 80)));
        assert!(tcp("0.0.0.0", 80).conflicts_with(&tcp("127.0.0.2", 80)));
        assert!(tcp("::", 80).conflicts_with(&tcp("127.0.0.1", 80)), "the IPv6 wildcard takes IPv4 too");
        assert!(tcp("::ffff:127.0.0.1", 80).conflicts_with(&tcp("127.0.0.1", 80)));
        assert!(!tcp("127.0.0.1", 80).conflicts_with(&tcp("127.0.0.2", 80)));
        assert!(!tcp("127.0.0.1", 80).conflicts_with(&tcp("127.0.0.1", 81)));
        assert!(!tcp("::1", 80).conflicts_with(&tcp("127.0.0.1", 80)));
        assert!(!tcp("0.0.0.0", 80).conflicts_with(&tcp("::1", 80)), "the IPv4 wildcard leaves IPv6 alone");
        assert!(!tcp("::1", 80).conflicts_with(&tcp("0.0.0.0", 80)));
        assert!(tcp("::", 80).conflicts_with(&tcp("::1", 80)));
        assert!(tcp("0.0.0.0", 80).conflicts_with(&tcp("::", 80)));
        assert!(tcp("::ffff:0.0.0.0", 80).conflicts_with(&tcp("127.0.0.1", 80)));
        assert!(!ResourceId::Semaphore(5).conflicts_with(&ResourceId::File { dev: 0, ino: 5 }));
    }

    #[test]
    fn linux_offers_every_local_backend() {
        assert_eq!(
            usable_local_backends(),
            [BackendKind::Socket, BackendKind::Semaphore, BackendKind::Flock, BackendKind::Tcp]
        );
        let mut settings = Settings::default();
        assert!(!usable_backends(&settings).contains(&BackendKind::Mysql));
        settings.mysql_dsn = crate::DsnSource::text("mysql://u@localhost/db", "test");
        assert_eq!(usable_backends(&settings).contains(&BackendKind::Mysql), cfg!(feature = "mysql"));
        settings.default_backend = Some(BackendKind::Flock);
        assert_eq!(usable_backends(&settings)[0], BackendKind::Flock);
        assert_eq!(BackendChoice::Auto.resolve(&settings).unwrap(), usable_backends(&settings)[0]);
    }
}
