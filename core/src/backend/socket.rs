//! `socket`: a Linux abstract unix socket, bound and listening, is the lock.
//!
//! Abstract addresses live in the network namespace, not the file system:
//! nothing to create, nothing to clean up, and the kernel frees the address
//! the moment the last descriptor closes, whatever ends the process.
//! Waiters queue on the lock socket itself, and the holder hands it over on
//! release (see `wake`).

use std::{
    io,
    os::fd::{AsRawFd, OwnedFd},
};

use nix::{
    errno::Errno,
    sys::socket::{
        bind, connect, getsockname, getsockopt, listen, socket, sockopt::PeerCredentials, AddressFamily, Backlog,
        SockFlag, SockType, UnixAddr,
    },
};

use super::{
    proc_scan,
    wake::{self, HeldSockets, SocketLock},
    Backend, Context, Holder, HolderValue, ResourceId,
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
    address: UnixAddr,
    held: Option<HeldSockets>,
}

impl Socket {
    pub(crate) fn new(context: Context, config: Config) -> Self {
        // A valid abstract address: at most 107 bytes, which `Config` guarantees.
        let address = UnixAddr::new_abstract(&config.address).expect("abstract addresses fit");
        Self { context, config, address, held: None }
    }

    fn holder_facts(&self, pid: Option<u32>) -> Holder {
        let address = format!("@{}", String::from_utf8_lossy(&self.config.address));
        Holder::local(pid, None, vec![("address", HolderValue::Str(address))])
    }

    /// Which process holds the socket with this inode. `SO_PEERCRED` names
    /// whoever called `listen()`, which is no longer the holder once the
    /// lock has been handed over, so the candidate is checked in /proc.
    fn holding_pid(&self, candidate: Option<u32>) -> Option<u32> {
        let inode = proc_scan::abstract_socket_inode(&self.config.address)?;
        if let Some(pid) = candidate.filter(|&pid| proc_scan::process_has_socket(pid, inode)) {
            return Some(pid);
        }
        proc_scan::sole_pid_with_socket(inode)
    }
}

impl SocketLock for Socket {
    /// One attempt: bind and listen. `EADDRINUSE` is contention.
    fn try_take(&mut self) -> Result<Option<HeldSockets>> {
        let socket = wake::unix_socket(&self.context)?;
        match bind(socket.as_raw_fd(), &self.address) {
            Ok(()) => {}
            Err(Errno::EADDRINUSE) => return Ok(None),
            Err(e) => return Err(self.context.os(format!("bind {}", self.config.describe()), e)),
        }
        listen(&socket, Backlog::MAXCONN)
            .map_err(|e| self.context.os(format!("listen on {}", self.config.describe()), e))?;
        Ok(Some(HeldSockets { channel: None, lock: ForkSafe::new(socket) }))
    }

    fn channel_address(&self) -> &UnixAddr {
        &self.address
    }

    fn adopt(&self, mut fds: Vec<OwnedFd>) -> Option<HeldSockets> {
        let [lock] = fds.as_mut_slice() else { return None };
        let bound_here = getsockname::<UnixAddr>(lock.as_raw_fd()).is_ok_and(|a| a == self.address);
        (bound_here && wake::is_listening(lock))
            .then(|| HeldSockets { channel: None, lock: ForkSafe::new(fds.remove(0)) })
    }

    fn context(&self) -> &Context {
        &self.context
    }
}

impl Backend for Socket {
    fn acquire(&mut self, deadline: &Deadline) -> Result<bool> {
        self.held = wake::acquire(self, deadline)?;
        Ok(self.held.is_some())
    }

    fn release(&mut self) -> Result<bool> {
        Ok(self.held.take().map(|held| held.release(true)).is_some())
    }

    fn holder(&mut self) -> Result<Option<Holder>> {
        let socket = wake::unix_socket(&self.context)?;
        let listening = match connect(socket.as_raw_fd(), &self.address) {
            // The credentials a listener had when it called listen().
            Ok(()) => Some(getsockopt(&socket, PeerCredentials).ok().and_then(|c| u32::try_from(c.pid()).ok())),
            Err(_) => None,
        };
        drop(socket);
        match listening {
            Some(candidate) => Ok(Some(self.holder_facts(self.holding_pid(candidate.filter(|&p| p > 0))))),
            // Not listening: free, unless another program bound the address
            // without listening. /proc/net/unix tells which.
            None => Ok(proc_scan::abstract_socket_inode(&self.config.address)
                .map(|_| self.holder_facts(self.holding_pid(None)))),
        }
    }

    fn resource(&mut self) -> Result<ResourceId> {
        Ok(ResourceId::Socket(self.config.address.clone()))
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
