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
    sys::socket::{bind, getsockname, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr},
};

use super::{
    proc_scan,
    wake::{self, HeldSockets, SocketLock},
    AtGate, Backend, Context, Holder, HolderValue, ResourceId,
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

    /// A lock at a fixed abstract address (a slot group's gate).
    pub(crate) fn at(address: Vec<u8>) -> Self {
        Self { address }
    }

    /// The gate of this name's slot group (see `slotted`). `#` is in no
    /// slug, so no other name's address can take these forms.
    pub(crate) fn gate(&self) -> Self {
        Self::at([&self.address[..], b"#gate"].concat())
    }

    /// Where the head waiter of this name's slot group listens for releases.
    pub(crate) fn bell(&self) -> Vec<u8> {
        [&self.address[..], b"#bell"].concat()
    }

    /// Slot `slot` of this name's group: slot 0 is the name's own address,
    /// so a plain lock and slot 0 exclude each other.
    pub(crate) fn slot(&self, slot: u16) -> Self {
        match slot {
            0 => self.clone(),
            _ => Self::at([&self.address[..], format!("#{slot}").as_bytes()].concat()),
        }
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
    /// As a gate: the process that held it at the last look.
    last_gate_holder: Option<u32>,
}

impl Socket {
    pub(crate) fn new(context: Context, config: Config) -> Self {
        // A valid abstract address: at most 107 bytes, which `Config` guarantees.
        let address = UnixAddr::new_abstract(&config.address).expect("abstract addresses fit");
        Self { context, config, address, held: None, last_gate_holder: None }
    }

    fn holder_facts(&self, pid: Option<u32>) -> Holder {
        let address = format!("@{}", String::from_utf8_lossy(&self.config.address));
        Holder::local(pid, None, vec![("address", HolderValue::Str(address))])
    }
}

impl Socket {
    /// Binds the lock's address; `None` when it is taken.
    fn try_bind(&self) -> Result<Option<OwnedFd>> {
        let socket = wake::unix_socket(&self.context)?;
        match bind(socket.as_raw_fd(), &self.address) {
            Ok(()) => Ok(Some(socket)),
            Err(Errno::EADDRINUSE) => Ok(None),
            Err(e) => Err(self.context.os(format!("bind {}", self.config.describe()), e)),
        }
    }
}

impl SocketLock for Socket {
    /// Asked every second at most by each waiter at a slot group's gate:
    /// the holder's pid is looked for first in the process that held the
    /// gate at the last look (the listener moves only with a hand-over),
    /// then in every process, a walk of every descriptor of `/proc` (5 ms
    /// with 480 processes: 30 waiters asking every time used a fifth of a
    /// core, a review measured).
    fn holder_is_stopped(&mut self) -> bool {
        let Ok(Some(bound)) = proc_scan::abstract_socket(&self.config.address) else { return false };
        self.last_gate_holder = proc_scan::pid_with_socket_from(bound.inode, self.last_gate_holder);
        self.last_gate_holder.is_some_and(proc_scan::is_stopped)
    }

    /// One attempt: bind and listen. `EADDRINUSE` is contention.
    fn try_take(&mut self) -> Result<Option<HeldSockets>> {
        let Some(socket) = self.try_bind()? else { return Ok(None) };
        listen(&socket, Backlog::MAXCONN)
            .map_err(|e| self.context.os(format!("listen on {}", self.config.describe()), e))?;
        Ok(Some(HeldSockets::new(ForkSafe::new(socket), None)))
    }

    fn queue(&self, deadline: &Deadline, ticket: wake::Ticket) -> Result<Option<wake::Watch>> {
        wake::queue_on_unix(&self.context, &self.address, deadline, ticket, false)
    }

    fn adopt(&self, lock: OwnedFd, channel: Option<OwnedFd>) -> Option<HeldSockets> {
        let bound_here = getsockname::<UnixAddr>(lock.as_raw_fd()).is_ok_and(|a| a == self.address);
        (channel.is_none() && bound_here && wake::is_listening(&lock))
            .then(|| HeldSockets::new(ForkSafe::new(lock), None))
    }
}

impl Backend for Socket {
    fn acquire(&mut self, deadline: &Deadline) -> Result<bool> {
        self.held = wake::acquire(self, deadline)?;
        Ok(self.held.is_some())
    }

    fn wait_as_gate(&mut self, deadline: &Deadline) -> Result<AtGate> {
        let (held, at_gate) = wake::acquire_as_gate(self, deadline)?;
        self.held = held;
        Ok(at_gate)
    }

    fn release(&mut self) -> Result<bool> {
        Ok(self.held.take().map(|held| held.release(wake::Reach::ByItsConnection)).is_some())
    }

    /// Asks the kernel's socket table, never connects: a connection would
    /// wait in the holder's accept queue until its release, and enough of
    /// them fill it (see `wake`).
    fn holder(&mut self) -> Result<Option<Holder>> {
        match proc_scan::abstract_socket(&self.config.address) {
            Ok(None) => Ok(None),
            // Listening (one of ours, or a program that speaks the same), or
            // bound only, by another program: held either way. The process
            // holding the socket, when /proc lets us see it.
            Ok(Some(bound)) => Ok(Some(self.holder_facts(proc_scan::sole_pid_with_socket(bound.inode)))),
            // No sock_diag here: a bind that is undone at once tells whether
            // the address is taken, though not by whom.
            Err(_) => Ok(match self.try_bind()? {
                Some(_probe) => None,
                None => Some(self.holder_facts(None)),
            }),
        }
    }

    fn resource(&mut self) -> Result<ResourceId> {
        Ok(ResourceId::Socket(crate::name::fnv1a64(&self.config.address)))
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
