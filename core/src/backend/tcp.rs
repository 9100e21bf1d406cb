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
//! A holder also listens on a companion unix socket in the abstract
//! namespace, named after the address; waiters queue there and the lock is
//! handed over on release (see `wake`). A holder that is not this extension
//! (a plain `stream_socket_server()`) has no companion: waiters then connect
//! to the port itself and wake when the kernel resets the connection as the
//! listener closes. Every socket here is `SOCK_CLOEXEC`, so an `exec()`ed
//! daemon never inherits the port.

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
const CONNECT_GRACE: Duration = Duration::from_millis(50);

#[derive(Clone, Debug)]
pub(crate) struct Config {
    address: SocketAddr,
}

impl Config {
    /// With `slots` > 1, slot k binds the port after slot k-1's: the
    /// group's ports all fit the given port onwards, or the range.
    pub(crate) fn new(name: &LockName, options: &Options, settings: &Settings, slots: u16) -> Result<Self> {
        let last = slots - 1;
        let port = match options.int("port")? {
            None => {
                let range = settings.tcp_port_range;
                let shortened = range.high.checked_sub(last).filter(|&high| high >= range.low).ok_or_else(|| {
                    option_error(
                        "slots",
                        format!("needs {slots} ports, and exakat_lock.tcp_port_range {range} has fewer"),
                    )
                })?;
                PortRange { high: shortened, ..range }.pick(name.hash64())
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
        Ok(Self { address: SocketAddr::new(host, port) })
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
        Self { address: SocketAddr::new(self.address.ip(), self.address.port() + slot) }
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
    /// The companion unix listener's address, where waiters queue.
    channel: UnixAddr,
    held: Option<HeldSockets>,
}

impl Tcp {
    pub(crate) fn new(context: Context, config: Config) -> Self {
        let name = format!("exakat_lock/tcp/{}", config.address);
        // At most 16 + 47 bytes ("[ipv6]:port"): always a valid abstract address.
        let channel = UnixAddr::new_abstract(name.as_bytes()).expect("abstract addresses fit");
        Self { context, config, channel, held: None }
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

    /// The companion listener waiters queue on; `None` if its name is taken
    /// (by the current holder, or by another program): the lock is still the
    /// port, and waiters of a holder without a companion watch the port.
    fn open_channel(&self) -> Result<Option<OwnedFd>> {
        let channel = wake::unix_socket(&self.context)?;
        if bind(channel.as_raw_fd(), &self.channel).is_err() || listen(&channel, Backlog::MAXCONN).is_err() {
            return Ok(None);
        }
        Ok(Some(channel))
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
}

impl SocketLock for Tcp {
    /// The companion comes first, so that whenever one of ours holds the
    /// port its waiters find the queue ready (none is refused between the
    /// two binds), and so that its descriptor has the lower number: a dying
    /// holder's descriptors close in that order, the queue before the port,
    /// and the next holder finds the companion's name free.
    fn try_take(&mut self) -> Result<Option<HeldSockets>> {
        let channel = self.open_channel()?;
        let Some(socket) = self.bind_probe()? else { return Ok(None) };
        match listen(&socket, Backlog::MAXCONN) {
            Ok(()) => {}
            Err(Errno::EADDRINUSE) => return Ok(None),
            Err(e) => return Err(self.context.os(format!("listen on {}", self.config.address), e)),
        }
        Ok(Some(HeldSockets::new(channel.map(ForkSafe::new), ForkSafe::new(socket))))
    }

    fn channel_address(&self) -> &UnixAddr {
        &self.channel
    }

    fn queue_is_the_lock(&self) -> bool {
        false
    }

    /// A holder without a companion (another program, or one of ours that
    /// is closing): connect to the port, and wake when the connection resets.
    fn watch_without_queue(&self) -> Result<Watch> {
        let socket = self.new_socket()?;
        // A reset instead of a FIN when this waiter gives up, so no
        // connection state outlives the wait on either side.
        let _ = setsockopt(&socket, Linger, &libc::linger { l_onoff: 1, l_linger: 0 });
        // A connection whose far end vanished without a reset (seen under
        // heavy churn on loopback) is found by keepalive probes in ~3 s.
        let _ = setsockopt(&socket, KeepAlive, &true);
        let _ = setsockopt(&socket, TcpKeepIdle, &1);
        let _ = setsockopt(&socket, TcpKeepInterval, &1);
        let _ = setsockopt(&socket, TcpKeepCount, &2);
        match connect(socket.as_raw_fd(), &SockaddrStorage::from(self.config.watch_address())) {
            Ok(()) => return Ok(Watch::Port(socket)),
            Err(Errno::EINPROGRESS) => {}
            Err(e) if wake::is_unwatchable(&io::Error::from(e)) => return Ok(Watch::Unwatchable),
            Err(e) => return Err(self.context.os(format!("connect to {}", self.config.watch_address()), e)),
        }
        let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLOUT)];
        let ready = poll(&mut fds, PollTimeout::try_from(CONNECT_GRACE).unwrap_or(PollTimeout::ZERO)).unwrap_or(0);
        let connected = ready > 0 && getsockopt(&socket, SocketError).is_ok_and(|error| error == 0);
        Ok(if connected { Watch::Port(socket) } else { Watch::Unwatchable })
    }

    fn adopt(&self, mut fds: Vec<OwnedFd>) -> Option<HeldSockets> {
        let [lock, channel] = fds.as_mut_slice() else { return None };
        let port_is_ours = getsockname::<SockaddrStorage>(lock.as_raw_fd())
            .is_ok_and(|a| a == SockaddrStorage::from(self.config.address));
        let channel_is_ours = getsockname::<UnixAddr>(channel.as_raw_fd()).is_ok_and(|a| a == self.channel);
        if !(port_is_ours && channel_is_ours && wake::is_listening(lock) && wake::is_listening(channel)) {
            return None;
        }
        let channel = fds.pop().map(ForkSafe::new);
        Some(HeldSockets::new(channel, ForkSafe::new(fds.pop()?)))
    }

    fn context(&self) -> &Context {
        &self.context
    }
}

impl Backend for Tcp {
    fn acquire(&mut self, deadline: &Deadline) -> Result<bool> {
        self.held = wake::acquire(self, deadline)?;
        Ok(self.held.is_some())
    }

    fn release(&mut self) -> Result<bool> {
        Ok(self.held.take().map(|held| held.release(false)).is_some())
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

    #[test]
    fn waiters_reach_wildcard_binds_over_loopback() {
        let c = config(Options::new().with("host", OptionValue::Str(b"0.0.0.0".to_vec()))).unwrap();
        assert_eq!(c.watch_address().ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
}
