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
//! Waiters connect to the holder to be woken (see `wake`): when the holder's
//! socket closes, the kernel resets the queued connections. Every socket
//! here is `SOCK_CLOEXEC`, so an `exec()`ed daemon never inherits the port.

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
        bind, connect, getsockopt, listen, setsockopt, socket,
        sockopt::{Linger, SocketError},
        AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage,
    },
};

use super::{
    option_error, proc_scan,
    wake::{self, Watch, Watchable},
    Backend, Context, Holder, HolderValue,
};
use crate::{deadline::Deadline, error::Result, fork::ForkSafe, options::Options, LockName, Settings};

/// How long a waiter gives a loopback connect to complete before it falls
/// back to re-checking: a full accept queue drops SYNs, which TCP would only
/// retry after a second.
const CONNECT_GRACE: Duration = Duration::from_millis(50);

#[derive(Clone, Debug)]
pub(crate) struct Config {
    address: SocketAddr,
}

impl Config {
    pub(crate) fn new(name: &LockName, options: &Options, settings: &Settings) -> Result<Self> {
        let port = match options.int("port")? {
            None => settings.tcp_port_range.pick(name.hash64()),
            Some(port) => u16::try_from(port)
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| option_error("port", format!("must be between 1 and 65535, {port} given")))?,
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
    listener: Option<ForkSafe<OwnedFd>>,
}

impl Tcp {
    pub(crate) fn new(context: Context, config: Config) -> Self {
        Self { context, config, listener: None }
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
        Holder {
            pid,
            host: proc_scan::hostname(),
            since: None,
            extra: vec![
                ("address", HolderValue::Str(self.config.address.ip().to_string())),
                ("port", HolderValue::Int(i64::from(self.config.address.port()))),
            ],
        }
    }
}

impl Watchable for Tcp {
    fn try_take(&mut self) -> Result<bool> {
        let Some(socket) = self.bind_probe()? else { return Ok(false) };
        match listen(&socket, Backlog::MAXCONN) {
            Ok(()) => {
                self.listener = Some(ForkSafe::new(socket));
                Ok(true)
            }
            Err(Errno::EADDRINUSE) => Ok(false),
            Err(e) => Err(self.context.os(format!("listen on {}", self.config.address), e)),
        }
    }

    fn watch(&self) -> Result<Watch> {
        let socket = self.new_socket()?;
        // A reset instead of a FIN when this waiter gives up, so no
        // connection state outlives the wait on either side.
        let _ = setsockopt(&socket, Linger, &libc::linger { l_onoff: 1, l_linger: 0 });
        match connect(socket.as_raw_fd(), &SockaddrStorage::from(self.config.watch_address())) {
            Ok(()) => return Ok(Watch::Connected(socket)),
            Err(Errno::EINPROGRESS) => {}
            Err(e) if wake::is_unwatchable(&io::Error::from(e)) => return Ok(Watch::Unwatchable),
            Err(e) => return Err(self.context.os(format!("connect to {}", self.config.watch_address()), e)),
        }
        let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLOUT)];
        let ready = poll(&mut fds, PollTimeout::try_from(CONNECT_GRACE).unwrap_or(PollTimeout::ZERO)).unwrap_or(0);
        let connected = ready > 0 && getsockopt(&socket, SocketError).is_ok_and(|error| error == 0);
        Ok(if connected { Watch::Connected(socket) } else { Watch::Unwatchable })
    }
}

impl Backend for Tcp {
    fn acquire(&mut self, deadline: &Deadline) -> Result<bool> {
        wake::wait_until_taken(self, deadline)
    }

    fn release(&mut self) -> Result<bool> {
        Ok(self.listener.take().is_some())
    }

    fn holder(&mut self) -> Result<Option<Holder>> {
        if let Some(inode) = proc_scan::tcp_listener_inode(self.config.address) {
            let pids = proc_scan::pids_with_socket(inode);
            return Ok(Some(self.facts(if pids.len() == 1 { Some(pids[0]) } else { None })));
        }
        // Nobody listens; a bind-only socket (the seed article's lock) may
        // still hold the port. A bind that is undone at once tells.
        Ok(match self.bind_probe()? {
            Some(_probe) => None,
            None => Some(self.facts(None)),
        })
    }

    fn resource(&self) -> String {
        self.config.describe()
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
        Config::new(&LockName::new(b"job").unwrap(), &options, &Settings::default())
    }

    #[test]
    fn derives_a_port_from_the_name_inside_the_configured_range() {
        let settings = Settings { tcp_port_range: PortRange { low: 50000, high: 50009 }, ..Settings::default() };
        let c = Config::new(&LockName::new(b"job").unwrap(), &Options::new(), &settings).unwrap();
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
