//! `tcp`: a listening TCP socket on a port is the lock.
//!
//! The seed article's lock binds with PHP's `stream_socket_server()`, which
//! sets `SO_REUSEADDR`, and Linux lets any number of non-listening sockets
//! with that option share an address: such a lock excludes nobody. Here the
//! socket never sets `SO_REUSEADDR` and always listens, so its bind fails
//! while any other socket holds the port (listening or not, with the option
//! or without), and no other socket can bind or listen while it does: it
//! excludes PHP's `stream_socket_server()` on the same port both ways.
//!
//! Waiters queue and the lock is handed over on release (see `wake`). A
//! holder that took the port at its first try binds nothing else (the
//! cheapest cycle); its waiters queue on the port itself, as connections in
//! its accept queue, and it hands the port over by connecting to the unix
//! listener each waiter names after its source address. A holder that
//! waited, or was handed the lock, also listens on a companion unix socket
//! named after the address, where the next waiters queue in one `connect`:
//! a TCP handshake is not one step, and a holder in a tight loop would
//! release before a waiter's connection reached its queue. A holder that is
//! not this extension (a plain `stream_socket_server()`) hands nothing
//! over; its waiters wake when the kernel resets their connections as its
//! listener closes. Every socket here is `SOCK_CLOEXEC`, so an `exec()`ed
//! daemon never inherits the port.
//!
//! A holder listens with a backlog of [`LISTEN_BACKLOG`], which `sock_diag`
//! reports for a listener: `exakat_lock_list()` tells our locks from other
//! servers by it.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    os::fd::{AsFd, AsRawFd, OwnedFd},
    time::Duration,
};

use nix::{
    errno::Errno,
    poll::{poll, PollFd, PollFlags, PollTimeout},
    sys::socket::{
        bind, connect, getsockname, getsockopt, listen, setsockopt, socket,
        sockopt::{KeepAlive, Linger, SocketError, TcpKeepCount, TcpKeepIdle, TcpKeepInterval},
        AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, UnixAddr,
    },
};

use super::{
    option_error, proc_scan, socket,
    wake::{self, HeldSockets, SocketLock, Watch},
    Backend, Context, Holder, HolderValue, ResourceId,
};
use crate::{
    deadline::Deadline,
    error::Result,
    fork::ForkSafe,
    options::{Options, PortRange},
    LockName, Settings,
};

/// How long a waiter gives a loopback connect to complete before it falls
/// back to re-checking: a full accept queue drops SYNs, which TCP would only
/// retry after a second.
const CONNECT_GRACE: Duration = Duration::from_millis(1);

/// How many source ports a waiter tries before it waits from one it would
/// rather not use (see [`Tcp::bind_source`]).
const SOURCE_PORT_TRIES: u32 = 4;

/// The backlog a holder listens with: room for thousands of waiters, and an
/// odd number (never a power of two, `SOMAXCONN`, or a framework's default)
/// that marks the listener as one of our locks. The kernel caps it at
/// `net.core.somaxconn` (4096 by default); below 4093 the mark is lost and
/// listing misses tcp locks, which still exclude and queue as before.
pub(crate) const LISTEN_BACKLOG: i32 = 4093;

#[derive(Clone, Debug)]
pub(crate) struct Config {
    address: SocketAddr,
    /// Where ports derived from names fall: a waiter's own source port is
    /// never one of them, or its wait would hold another lock.
    derived_ports: PortRange,
    /// Whether `address`'s port was derived from the name, so that slot
    /// ports wrap round inside `derived_ports`.
    derived: bool,
}

impl Config {
    /// With `slots` > 1, slot k binds the port k after slot 0's: from the
    /// given port onwards, or round the range from the name's own port, so
    /// that slot 0 is the port of the plain lock on the name whatever the
    /// number of slots (API.md: objects that disagree on N share their
    /// first slots).
    pub(crate) fn new(name: &LockName, options: &Options, settings: &Settings, slots: u16) -> Result<Self> {
        let last = slots - 1;
        let range = settings.tcp_port_range;
        let given_port = options.int("port")?;
        let port = match given_port {
            None => {
                if u32::from(last) > u32::from(range.high - range.low) {
                    return Err(option_error(
                        "slots",
                        format!("needs {slots} ports, and exakat_lock.tcp_port_range {range} has fewer"),
                    ));
                }
                range.pick(name.hash64())
            }
            Some(port) => {
                u16::try_from(port).ok().filter(|&p| p != 0 && p.checked_add(last).is_some()).ok_or_else(|| {
                    let high = 65535 - last;
                    let why = if slots > 1 { format!(" (with {slots} slots, one port each)") } else { String::new() };
                    option_error("port", format!("must be between 1 and {high}{why}, {port} given"))
                })?
            }
        };
        let host = match options.bytes("host")? {
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(b"localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(text) => std::str::from_utf8(text).ok().and_then(|t| t.parse().ok()).ok_or_else(|| {
                option_error(
                    "host",
                    format!(
                        "must be an IPv4 or IPv6 address such as \"127.0.0.1\" or \"::1\", \"{}\" given",
                        String::from_utf8_lossy(text).escape_debug()
                    ),
                )
            })?,
        };
        Ok(Self { address: SocketAddr::new(host, port), derived_ports: range, derived: given_port.is_none() })
    }

    pub(crate) fn describe(&self) -> String {
        format!("tcp port {}", self.address)
    }

    /// The gate of this port's slot group: an abstract socket, which lives
    /// in the same network namespace as the ports.
    pub(crate) fn gate(&self) -> socket::Config {
        socket::Config::at(format!("exakat_lock/tcp-gate/{}", self.address).into_bytes())
    }

    pub(crate) fn bell(&self) -> Vec<u8> {
        format!("exakat_lock/tcp-bell/{}", self.address).into_bytes()
    }

    pub(crate) fn slot(&self, slot: u16) -> Self {
        let port =
            if self.derived { self.derived_ports.after(self.address.port(), slot) } else { self.address.port() + slot };
        Self { address: SocketAddr::new(self.address.ip(), port), ..self.clone() }
    }

    /// Where waiters connect: a wildcard bind is reached over loopback.
    fn watch_address(&self) -> SocketAddr {
        let ip = match self.address.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.address.port())
    }
}

pub(crate) struct Tcp {
    context: Context,
    config: Config,
    /// Where a holder that waited listens for waiters.
    companion: UnixAddr,
    held: Option<HeldSockets>,
}

impl Tcp {
    pub(crate) fn new(context: Context, config: Config) -> Self {
        let name = format!("exakat_lock/tcp/{}", config.address);
        // At most 16 + 47 bytes ("[ipv6]:port"): always a valid abstract address.
        let companion = UnixAddr::new_abstract(name.as_bytes()).expect("abstract addresses fit");
        Self { context, config, companion, held: None }
    }

    /// The companion queue, bound by a holder that waited; `None` if its
    /// name is taken (by another program: waiters then queue on the port).
    fn open_companion(&self) -> Option<OwnedFd> {
        let companion = wake::unix_socket(&self.context).ok()?;
        let bound =
            bind(companion.as_raw_fd(), &self.companion).is_ok() && listen(&companion, Backlog::MAXCONN).is_ok();
        bound.then_some(companion)
    }

    fn new_socket(&self) -> Result<OwnedFd> {
        let family = if self.config.address.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
        socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)
            .map_err(|e| self.context.os("create a tcp socket", e))
    }

    /// Binds without listening; `Ok(None)` when the port is taken.
    fn bind_probe(&self) -> Result<Option<OwnedFd>> {
        let socket = self.new_socket()?;
        match bind(socket.as_raw_fd(), &SockaddrStorage::from(self.config.address)) {
            Ok(()) => Ok(Some(socket)),
            Err(Errno::EADDRINUSE) => Ok(None),
            Err(e) => Err(self.context.os(format!("bind {}", self.config.address), e)),
        }
    }

    fn facts(&self, pid: Option<u32>) -> Holder {
        Holder::local(
            pid,
            None,
            vec![
                ("address", HolderValue::Str(self.config.address.ip().to_string())),
                ("port", HolderValue::Int(i64::from(self.config.address.port()))),
            ],
        )
    }

    /// A socket bound to a port to wait from, and the listener named after
    /// it (`None` if another process has taken that name). A source port
    /// among the derived lock ports (`ip_local_port_range` can be widened
    /// into them) or whose name is taken is traded for another, a few times.
    fn bind_source(&self) -> Result<(OwnedFd, Option<OwnedFd>)> {
        let mut tries = 0;
        loop {
            tries += 1;
            let connection = self.new_socket()?;
            let source = SockaddrStorage::from(SocketAddr::new(self.config.watch_address().ip(), 0));
            bind(connection.as_raw_fd(), &source).map_err(|e| self.context.os("bind a port to wait from", e))?;
            let from = getsockname::<SockaddrStorage>(connection.as_raw_fd())
                .map_err(|e| self.context.os("bind a port to wait from", e))?;
            let port = from.as_sockaddr_in().map(|a| a.port()).or_else(|| from.as_sockaddr_in6().map(|a| a.port()));
            let range = self.config.derived_ports;
            if port.is_some_and(|p| (range.low..=range.high).contains(&p)) && tries < SOURCE_PORT_TRIES {
                continue;
            }
            let hand_over = wake::listen_for_hand_over(&self.context, &from)?;
            if hand_over.is_some() || tries >= SOURCE_PORT_TRIES {
                // A reset instead of a FIN when this waiter gives up, so no
                // connection state outlives the wait on either side.
                let _ = setsockopt(&connection, Linger, &libc::linger { l_onoff: 1, l_linger: 0 });
                // A connection whose far end vanished without a reset is
                // found by keepalive probes in ~3 s.
                let _ = setsockopt(&connection, KeepAlive, &true);
                let _ = setsockopt(&connection, TcpKeepIdle, &1);
                let _ = setsockopt(&connection, TcpKeepInterval, &1);
                let _ = setsockopt(&connection, TcpKeepCount, &2);
                return Ok((connection, hand_over));
            }
        }
    }

    /// Connects to the port without blocking for more than
    /// [`CONNECT_GRACE`]; `Ok(false)` when nothing listens or the queue is
    /// full.
    fn connect_to_port(&self, connection: &OwnedFd) -> Result<bool> {
        let port = self.config.watch_address();
        match connect(connection.as_raw_fd(), &SockaddrStorage::from(port)) {
            Ok(()) => return Ok(true),
            Err(Errno::EINPROGRESS) => {}
            Err(e) if wake::is_unwatchable(&io::Error::from(e)) => return Ok(false),
            Err(e) => return Err(self.context.os(format!("connect to {port}"), e)),
        }
        let mut fds = [PollFd::new(connection.as_fd(), PollFlags::POLLOUT)];
        let ready = poll(&mut fds, PollTimeout::try_from(CONNECT_GRACE).unwrap_or(PollTimeout::ZERO)).unwrap_or(0);
        Ok(ready > 0 && getsockopt(connection, SocketError).is_ok_and(|error| error == 0))
    }
}

impl SocketLock for Tcp {
    fn try_take(&mut self) -> Result<Option<HeldSockets>> {
        let Some(socket) = self.bind_probe()? else { return Ok(None) };
        match listen(&socket, Backlog::new(LISTEN_BACKLOG).unwrap_or(Backlog::MAXCONN)) {
            Ok(()) => {}
            Err(Errno::EADDRINUSE) => return Ok(None),
            Err(e) => return Err(self.context.os(format!("listen on {}", self.config.address), e)),
        }
        Ok(Some(HeldSockets::new(ForkSafe::new(socket), None)))
    }

    /// On the holder's companion if it has one (one step: see the module
    /// documentation), else on the port. There the source address is bound
    /// first, and the unix socket named after it listens before we connect:
    /// a holder that accepts us at once finds where to hand the lock. A
    /// full accept queue is re-checked, never waited in.
    fn queue(&self, deadline: &Deadline, ticket: wake::Ticket) -> Result<Option<Watch>> {
        if let Some(queued) = wake::queue_on_unix(&self.context, &self.companion, deadline, ticket, true)? {
            return Ok(Some(queued));
        }
        let (connection, hand_over) = self.bind_source()?;
        if !self.connect_to_port(&connection)? {
            return Ok(None);
        }
        wake::send_ticket(&connection, ticket);
        Ok(Some(Watch::OnPort { connection, hand_over }))
    }

    /// A holder that waited binds the companion, so that the next waiters
    /// queue in one step (see the module documentation).
    fn contended(&self, held: &mut HeldSockets) {
        if held.channel.is_none() {
            held.channel = self.open_companion().map(ForkSafe::new);
        }
    }

    /// A holder that was handed the lock keeps (or binds) the companion:
    /// the lock is contended, and waiters queue there in one step.
    fn adopt(&self, lock: OwnedFd, companion: Option<OwnedFd>) -> Option<HeldSockets> {
        let port_is_ours = getsockname::<SockaddrStorage>(lock.as_raw_fd())
            .is_ok_and(|a| a == SockaddrStorage::from(self.config.address));
        if !(port_is_ours && wake::is_listening(&lock)) {
            return None;
        }
        let companion = match companion {
            Some(passed) => {
                let ours = getsockname::<UnixAddr>(passed.as_raw_fd()).is_ok_and(|a| a == self.companion);
                if !(ours && wake::is_listening(&passed)) {
                    return None;
                }
                Some(passed)
            }
            None => self.open_companion(),
        };
        Some(HeldSockets::new(ForkSafe::new(lock), companion))
    }
}

impl Backend for Tcp {
    fn acquire(&mut self, deadline: &Deadline) -> Result<bool> {
        self.held = wake::acquire(self, deadline)?;
        Ok(self.held.is_some())
    }

    fn release(&mut self) -> Result<bool> {
        Ok(self.held.take().map(|held| held.release(wake::Reach::AtItsListener)).is_some())
    }

    fn holder(&mut self) -> Result<Option<Holder>> {
        if let Some(inode) = proc_scan::tcp_listener_inode(self.config.address) {
            return Ok(Some(self.facts(proc_scan::sole_pid_with_socket(inode))));
        }
        // Nobody listens; a bind-only socket (the seed article's lock) may
        // still hold the port. A bind that is undone at once tells.
        Ok(match self.bind_probe()? {
            Some(_probe) => None,
            None => Some(self.facts(None)),
        })
    }

    fn resource(&mut self) -> Result<ResourceId> {
        Ok(ResourceId::Tcp { ip: self.config.address.ip(), port: self.config.address.port() })
    }
}

pub(crate) fn probe() -> io::Result<()> {
    drop(socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{OptionValue, PortRange};

    fn config(options: Options) -> Result<Config> {
        Config::new(&LockName::new(b"job").unwrap(), &options, &Settings::default(), 1)
    }

    #[test]
    fn derives_a_port_from_the_name_inside_the_configured_range() {
        let settings = Settings { tcp_port_range: PortRange { low: 50000, high: 50009 }, ..Settings::default() };
        let c = Config::new(&LockName::new(b"job").unwrap(), &Options::new(), &settings, 1).unwrap();
        assert_eq!(c.address.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(c.address.port(), 50000 + (crate::name::fnv1a64(b"job") % 10) as u16);
    }

    #[test]
    fn slot_0_of_any_group_is_the_plain_locks_port_and_slots_come_round_the_range() {
        let settings = Settings { tcp_port_range: PortRange { low: 50000, high: 50009 }, ..Settings::default() };
        let name = LockName::new(b"job").unwrap();
        let plain = Config::new(&name, &Options::new(), &settings, 1).unwrap();
        for slots in [2, 3, 10] {
            let group = Config::new(&name, &Options::new(), &settings, slots).unwrap();
            let ports: Vec<u16> = (0..slots).map(|k| group.slot(k).address.port()).collect();
            assert_eq!(ports[0], plain.address.port(), "{slots} slots");
            assert!(ports.iter().all(|p| (50000..=50009).contains(p)), "{ports:?}");
            let mut distinct = ports.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        }
        let e = Config::new(&name, &Options::new(), &settings, 11).unwrap_err().to_string();
        assert!(e.contains("needs 11 ports, and exakat_lock.tcp_port_range 50000-50009 has fewer"), "{e}");
        let given = Options::new().with("port", OptionValue::Int(65530));
        let group = Config::new(&name, &given, &settings, 3).unwrap();
        assert_eq!(group.slot(2).address.port(), 65532, "a given port's slots follow it, outside the range too");
    }

    #[test]
    fn validates_port_and_host() {
        let c =
            config(Options::new().with("port", OptionValue::Int(8080)).with("host", OptionValue::Str(b"::1".to_vec())));
        assert_eq!(c.unwrap().address, "[::1]:8080".parse().unwrap());
        for port in [0, -1, 65536, i64::MAX] {
            let e = config(Options::new().with("port", OptionValue::Int(port))).unwrap_err().to_string();
            assert_eq!(e, format!("Option \"port\" must be between 1 and 65535, {port} given"));
        }
        let e = config(Options::new().with("host", OptionValue::Str(b"example.com".to_vec()))).unwrap_err().to_string();
        assert!(e.starts_with("Option \"host\" must be an IPv4 or IPv6 address"), "{e}");
        let e = config(Options::new().with("port", OptionValue::Float(80.0))).unwrap_err().to_string();
        assert_eq!(e, "Option \"port\" must be of type int, float given");
    }

    fn tcp_lock(port: u16) -> Tcp {
        let options = Options::new().with("port", OptionValue::Int(i64::from(port)));
        let context = Context { lock: "tcp-test".into(), backend: crate::BackendKind::Tcp };
        Tcp::new(context, config(options).unwrap())
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    fn inode(fd: &OwnedFd) -> u64 {
        nix::sys::stat::fstat(fd.as_fd()).unwrap().st_ino
    }

    fn wait_for(lock: &mut Tcp, seconds: u64) -> Option<HeldSockets> {
        let deadline = Deadline::start(crate::deadline::Timeout::For(Duration::from_secs(seconds)));
        wake::acquire(lock, &deadline).unwrap()
    }

    #[test]
    fn release_hands_the_port_itself_to_waiters_in_the_order_they_began() {
        let port = free_port();
        let held = tcp_lock(port).try_take().unwrap().expect("a free port");
        let original = inode(&held.lock);
        let (sender, received) = std::sync::mpsc::channel();
        let waiters: Vec<_> = (0..3)
            .map(|index| {
                let sender = sender.clone();
                let waiter = std::thread::spawn(move || {
                    let held = wait_for(&mut tcp_lock(port), 10).expect("handed over");
                    assert!(held.channel.is_some(), "a holder that was handed the lock keeps a companion queue");
                    sender.send((index, inode(&held.lock))).unwrap();
                    std::thread::sleep(Duration::from_millis(20));
                    held.release(wake::Reach::AtItsListener);
                });
                std::thread::sleep(Duration::from_millis(50)); // queued in this order
                waiter
            })
            .collect();
        held.release(wake::Reach::AtItsListener);
        for waiter in waiters {
            waiter.join().unwrap();
        }
        let order: Vec<(i32, u64)> = received.try_iter().collect();
        assert_eq!(order, vec![(0, original), (1, original), (2, original)], "the very same socket, in FIFO order");
        assert!(tcp_lock(port).try_take().unwrap().is_some(), "free after the last release");
    }

    #[test]
    fn waiters_of_a_holder_that_was_handed_the_lock_queue_on_its_companion_in_turn() {
        let port = free_port();
        let first = tcp_lock(port).try_take().unwrap().expect("a free port");
        assert!(first.channel.is_none(), "an uncontended holder binds the port alone");
        let (sender, received) = std::sync::mpsc::channel();
        let spawn = |index: i32, sender: std::sync::mpsc::Sender<(i32, bool)>| {
            std::thread::spawn(move || {
                let held = wait_for(&mut tcp_lock(port), 10).expect("handed over");
                sender.send((index, held.channel.is_some())).unwrap();
                std::thread::sleep(Duration::from_millis(100));
                held.release(wake::Reach::AtItsListener);
            })
        };
        let on_port = spawn(0, sender.clone());
        std::thread::sleep(Duration::from_millis(50));
        first.release(wake::Reach::AtItsListener);
        assert_eq!(received.recv_timeout(Duration::from_secs(5)), Ok((0, true)));
        // Waiter 0 holds, with a companion: these two queue there, in order.
        let companion = tcp_lock(port).companion;
        let queued_on_companion = || proc_scan::abstract_socket(companion.as_abstract().unwrap()).unwrap().is_some();
        assert!(queued_on_companion());
        let later: Vec<_> = (1..3)
            .map(|index| {
                let waiter = spawn(index, sender.clone());
                std::thread::sleep(Duration::from_millis(20));
                waiter
            })
            .collect();
        let address = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let port_queue = proc_scan::tcp_listeners().unwrap().into_iter().find(|l| l.address == address);
        assert_eq!(port_queue.map(|l| l.queued), Some(0), "nobody queued on the port itself");
        on_port.join().unwrap();
        for waiter in later {
            waiter.join().unwrap();
        }
        assert_eq!(received.try_iter().collect::<Vec<_>>(), vec![(1, true), (2, true)]);
        assert!(!queued_on_companion(), "the last release closes the companion");
        assert!(tcp_lock(port).try_take().unwrap().is_some());
    }

    #[test]
    fn a_client_of_the_port_that_is_not_a_waiter_is_let_go() {
        use std::io::Read;
        let port = free_port();
        let held = tcp_lock(port).try_take().unwrap().expect("a free port");
        let mut stranger = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let waiter = std::thread::spawn(move || wait_for(&mut tcp_lock(port), 10).map(|held| inode(&held.lock)));
        std::thread::sleep(Duration::from_millis(50));
        let original = inode(&held.lock);
        held.release(wake::Reach::AtItsListener);
        assert_eq!(waiter.join().unwrap(), Some(original));
        stranger.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let read = stranger.read(&mut [0u8; 8]);
        // A timeout would mean it was kept (or passed on with the port).
        let reset = read.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset);
        assert!(reset || matches!(read, Ok(0)), "reset or closed, never kept or handed anything: {read:?}");
    }

    #[test]
    fn a_waiter_on_a_server_that_is_not_ours_wakes_when_it_closes() {
        let port = free_port();
        let server = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(server);
        });
        let started = std::time::Instant::now();
        assert!(wait_for(&mut tcp_lock(port), 10).is_some());
        closer.join().unwrap();
        let waited = started.elapsed();
        assert!(waited < Duration::from_millis(450), "woken by the reset, not a late re-check: {waited:?}");
    }

    #[test]
    fn listing_shows_held_ports_and_not_other_servers() {
        let listed = |port: u16| {
            let all = super::super::list::list(Some(crate::BackendKind::Tcp), &Options::new(), &Settings::default());
            all.unwrap().iter().any(|l| l.resource == format!("tcp port 127.0.0.1:{port}"))
        };
        let ours = free_port();
        let held = tcp_lock(ours).try_take().unwrap().expect("a free port");
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(listed(ours));
        assert!(!listed(server.local_addr().unwrap().port()), "a server is not a lock");
        held.release(wake::Reach::AtItsListener);
        assert!(!listed(ours));
    }

    #[test]
    fn waiters_reach_wildcard_binds_over_loopback() {
        let c = config(Options::new().with("host", OptionValue::Str(b"0.0.0.0".to_vec()))).unwrap();
        assert_eq!(c.watch_address().ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
}
