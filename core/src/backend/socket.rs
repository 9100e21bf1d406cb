//! `socket`: a Linux abstract unix socket, bound and listening, is the lock.
//!
//! Abstract addresses live in the network namespace, not the file system:
//! nothing to create, nothing to clean up, and the kernel frees the address
//! the moment the last descriptor closes, whatever ends the process.
//! Waiters connect to the holder to be woken (see `wake`), and the holder's
//! pid comes from `SO_PEERCRED` on such a connection.

use std::{
    io,
    os::fd::{AsRawFd, OwnedFd},
};

use nix::{
    errno::Errno,
    sys::socket::{
        bind, connect, getsockopt, listen, socket, sockopt::PeerCredentials, AddressFamily, Backlog, SockFlag,
        SockType, UnixAddr,
    },
};

use super::{
    proc_scan,
    wake::{self, Watch, Watchable},
    Backend, Context, Holder, HolderValue,
};
use crate::{deadline::Deadline, error::Result, fork::ForkSafe, LockName};

const ADDRESS_PREFIX: &[u8] = b"exakat_lock/";

#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// The abstract address, without its leading NUL.
    address: Vec<u8>,
}

impl Config {
    pub(crate) fn new(name: &LockName) -> Self {
        let mut address = ADDRESS_PREFIX.to_vec();
        address.extend_from_slice(name.slug().as_bytes());
        Self { address }
    }

    pub(crate) fn describe(&self) -> String {
        format!("abstract socket @{}", String::from_utf8_lossy(&self.address))
    }
}

pub(crate) struct Socket {
    context: Context,
    config: Config,
    listener: Option<ForkSafe<OwnedFd>>,
}

impl Socket {
    pub(crate) fn new(context: Context, config: Config) -> Self {
        Self { context, config, listener: None }
    }

    fn address(&self) -> Result<UnixAddr> {
        UnixAddr::new_abstract(&self.config.address).map_err(|e| self.context.os("build the socket address", e))
    }

    fn new_socket(&self) -> Result<OwnedFd> {
        socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)
            .map_err(|e| self.context.os("create a unix socket", e))
    }

    fn holder_facts(&self, pid: Option<u32>) -> Holder {
        Holder {
            pid,
            host: proc_scan::hostname(),
            since: None,
            extra: vec![("address", HolderValue::Str(format!("@{}", String::from_utf8_lossy(&self.config.address))))],
        }
    }
}

impl Watchable for Socket {
    /// One attempt: bind and listen. `EADDRINUSE` is contention.
    fn try_take(&mut self) -> Result<bool> {
        let socket = self.new_socket()?;
        let address = self.address()?;
        match bind(socket.as_raw_fd(), &address) {
            Ok(()) => {}
            Err(Errno::EADDRINUSE) => return Ok(false),
            Err(e) => return Err(self.context.os(format!("bind {}", self.config.describe()), e)),
        }
        listen(&socket, Backlog::MAXCONN)
            .map_err(|e| self.context.os(format!("listen on {}", self.config.describe()), e))?;
        self.listener = Some(ForkSafe::new(socket));
        Ok(true)
    }

    fn watch(&self) -> Result<Watch> {
        let socket = self.new_socket()?;
        match connect(socket.as_raw_fd(), &self.address()?) {
            Ok(()) => Ok(Watch::Connected(socket)),
            Err(e) if wake::is_unwatchable(&io::Error::from(e)) => Ok(Watch::Unwatchable),
            Err(e) => Err(self.context.os(format!("connect to {}", self.config.describe()), e)),
        }
    }
}

impl Backend for Socket {
    fn acquire(&mut self, deadline: &Deadline) -> Result<bool> {
        wake::wait_until_taken(self, deadline)
    }

    fn release(&mut self) -> Result<bool> {
        Ok(self.listener.take().is_some())
    }

    fn holder(&mut self) -> Result<Option<Holder>> {
        let socket = self.new_socket()?;
        match connect(socket.as_raw_fd(), &self.address()?) {
            Ok(()) => {
                // The credentials a listener had when it called listen(): the holder's.
                let pid = getsockopt(&socket, PeerCredentials)
                    .ok()
                    .and_then(|c| u32::try_from(c.pid()).ok())
                    .filter(|&p| p > 0);
                Ok(Some(self.holder_facts(pid)))
            }
            // Not listening: free, unless another program bound the address
            // without listening. /proc/net/unix tells which.
            Err(_) => Ok(proc_scan::abstract_socket_inode(&self.config.address).map(|inode| {
                let pids = proc_scan::pids_with_socket(inode);
                self.holder_facts(if pids.len() == 1 { Some(pids[0]) } else { None })
            })),
        }
    }

    fn resource(&self) -> String {
        self.config.describe()
    }
}

pub(crate) fn probe() -> io::Result<()> {
    let socket = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    drop(socket);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_fit_the_abstract_namespace_for_every_name() {
        for name in [&b"x"[..], &[b'a'; 64][..], &[b'a'; 65][..], &[0xff; 255][..]] {
            let config = Config::new(&LockName::new(name).unwrap());
            assert!(config.address.len() <= 107, "{}", config.address.len());
            assert!(config.address.starts_with(ADDRESS_PREFIX));
        }
        assert_eq!(Config::new(&LockName::new(b"job").unwrap()).describe(), "abstract socket @exakat_lock/job");
    }
}
