//! Slots (at most N holders) for the backends whose lock has one holder:
//! `socket`, `tcp` and `flock`. (`semaphore` counts natively; `mysql` does
//! the same as this on one connection, without the bell.)
//!
//! The group is N ordinary locks, one per slot, and a gate. Holding slot k
//! is holding lock k, so "at most N" is exactly as strong as each lock:
//! released on any death, never inherited. The gate only orders the
//! waiters: every acquirer that may wait takes the gate first (with the
//! backend's own fair wait: the FIFO hand-over of `wake`, the kernel's
//! `flock` queue), then, holding it, takes any free slot and gives the gate
//! back. So newcomers cannot wait their way past a waiter, and only the
//! waiter at the head, the gate holder, watches the slots. A single try
//! (`acquire(0)`) takes a free slot without the gate, as `semaphore`'s
//! `IPC_NOWAIT` does.
//!
//! It watches them through a bell: while it waits it listens on an
//! abstract unix socket named after the group, and every release of a slot
//! rings it (a connection, accepted and dropped), which wakes it to try the
//! slots again. A holder that dies rings nothing, and a bell another
//! program holds (or, for `flock`, a holder in another network namespace)
//! cannot be heard; so the head waiter also tries again after a nap that
//! grows from [`NAP_START`] to [`NAP_CAP`]. Nobody spins, and no waiter is
//! starved while slots keep being freed.

use std::{
    os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd},
    time::Duration,
};

use nix::{
    errno::Errno,
    poll::{poll, PollFd, PollFlags, PollTimeout},
    sys::socket::{accept4, bind, connect, listen, Backlog, SockFlag, UnixAddr},
};

use super::{
    proc_scan,
    wake::{self, peer_is_trusted},
    AtGate, Backend, Context, Holder, Mode, ResourceId,
};
use crate::{
    deadline::{Deadline, Timeout},
    error::Result,
    fork::{self, ForkSafe},
};

const NAP_START: Duration = Duration::from_millis(2);
const NAP_CAP: Duration = Duration::from_millis(50);

pub(crate) struct Slotted {
    context: Context,
    gate: Box<dyn Backend>,
    slots: Vec<Box<dyn Backend>>,
    bell: UnixAddr,
    held: Option<u16>,
}

impl Slotted {
    pub(crate) fn new(gate: Box<dyn Backend>, slots: Vec<Box<dyn Backend>>, bell: &[u8], context: Context) -> Self {
        // Every bell name is short: a prefix and a slug, an address or a hash.
        let bell = UnixAddr::new_abstract(bell).expect("abstract addresses fit");
        Self { context, gate, slots, bell, held: None }
    }

    /// Takes a free slot, waiting until `deadline`; the gate is held.
    fn take_any(&mut self, deadline: &Deadline) -> Result<bool> {
        // Listening before the first try: a release after it rings.
        let bell = if deadline.may_wait() { self.listen_to_bell()? } else { None };
        let count = self.slots.len();
        // Processes start at different slots, so that a try usually
        // succeeds at once when slots are free.
        let start = fork::pid() as usize % count;
        let mut nap = NAP_START;
        let once = Deadline::start(Timeout::NoWait);
        loop {
            for k in (start..count).chain(0..start) {
                if self.slots[k].acquire(&once)? {
                    self.held = Some(u16::try_from(k).expect("at most MAX_SLOTS slots"));
                    return Ok(true);
                }
            }
            if !deadline.may_wait() || deadline.expired() {
                return Ok(false);
            }
            if wait_for_ring(bell.as_deref(), &deadline.within(nap)) {
                nap = NAP_START;
            } else {
                nap = (nap * 2).min(NAP_CAP);
            }
        }
    }

    /// The bell's listener, or `None` when another process has its name
    /// (naps alone then).
    fn listen_to_bell(&self) -> Result<Option<ForkSafe<OwnedFd>>> {
        let bell = wake::unix_socket(&self.context)?;
        if bind(bell.as_raw_fd(), &self.bell).is_err() || listen(&bell, Backlog::MAXCONN).is_err() {
            return Ok(None);
        }
        Ok(Some(ForkSafe::new(bell)))
    }

    /// Tells the head waiter, if one listens, that a slot is free.
    fn ring(&self) {
        let Ok(caller) = wake::unix_socket(&self.context) else { return };
        let _ = connect(caller.as_raw_fd(), &self.bell);
    }
}

/// Sleeps until the bell rings or the deadline; `true` when it rang. Rings
/// of processes we do not trust are taken off the queue and ignored, so
/// another user can neither fill the queue nor keep the waiter busy.
fn wait_for_ring(bell: Option<&OwnedFd>, deadline: &Deadline) -> bool {
    let Some(bell) = bell else {
        std::thread::sleep(deadline.remaining().unwrap_or(NAP_CAP));
        return false;
    };
    let mut fds = [PollFd::new(bell.as_fd(), PollFlags::POLLIN)];
    let timeout = PollTimeout::try_from(deadline.poll_timeout_ms(None)).unwrap_or(PollTimeout::NONE);
    if !matches!(poll(&mut fds, timeout), Ok(n) if n > 0) {
        return false; // time up, or a signal: the caller tries the slots again
    }
    let mut rang = false;
    loop {
        match accept4(bell.as_raw_fd(), SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK) {
            Ok(fd) => {
                // SAFETY: accept4 returned a new descriptor that nothing else owns.
                let caller = unsafe { OwnedFd::from_raw_fd(fd) };
                rang |= peer_is_trusted(&caller);
            }
            Err(Errno::EINTR | Errno::ECONNABORTED) => {}
            Err(_) => return rang,
        }
    }
}

impl Backend for Slotted {
    fn acquire(&mut self, deadline: &Deadline) -> Result<bool> {
        // A single try takes no place in the queue, so it need not pass the
        // gate: it takes a free slot if there is one. Through the gate, a
        // head waiter that cannot run (stopped: Ctrl-Z, a paused
        // container) failed every single try while slots were free, and
        // `holder()` said free. Waiters still cannot be passed by waiters.
        if !deadline.may_wait() {
            return self.take_any(deadline);
        }
        match self.gate.wait_as_gate(deadline)? {
            AtGate::Passed => {}
            AtGate::TimedOut => return Ok(false),
            // Behind a stopped head waiter: its bell is bound, so this
            // waiter naps between its tries.
            AtGate::PastStopped => return self.take_any(deadline),
        }
        let taken = self.take_any(deadline);
        let gate_released = self.gate.release();
        if let (Ok(true), Err(_)) = (&taken, &gate_released) {
            self.release()?;
        }
        gate_released?;
        taken
    }

    fn release(&mut self) -> Result<bool> {
        let Some(slot) = self.held.take() else { return Ok(false) };
        let released = self.slots[usize::from(slot)].release();
        self.ring();
        released
    }

    fn still_held(&mut self) -> Result<bool> {
        match self.held {
            Some(slot) => self.slots[usize::from(slot)].still_held(),
            None => Ok(false),
        }
    }

    fn slot(&self) -> Option<u16> {
        self.held
    }

    /// `None` as soon as one slot is free: then a single try would succeed.
    fn holder(&mut self) -> Result<Option<Holder>> {
        proc_scan::with_one_scan(|| {
            let mut first = None;
            for (slot, lock) in (0..).zip(&mut self.slots) {
                match lock.holder()? {
                    None => return Ok(None),
                    Some(holder) => first = first.or(Some(holder.in_slot(slot))),
                }
            }
            Ok(first)
        })
    }

    /// Every holder of every slot: slot 0 of `flock` may have several, the
    /// readers of the plain lock on the name (`holder()` named one). An
    /// exclusive holder is one: the stress run caught `/proc/locks`, read
    /// while workers came and went, naming one twice.
    fn holders(&mut self) -> Result<Vec<Holder>> {
        proc_scan::with_one_scan(|| {
            let mut holders = Vec::new();
            for (slot, lock) in (0..).zip(&mut self.slots) {
                let mut in_slot = lock.holders()?;
                if in_slot.first().is_some_and(|holder| holder.mode == Mode::Exclusive) {
                    in_slot.truncate(1);
                }
                holders.extend(in_slot.into_iter().map(|holder| holder.in_slot(slot)));
            }
            Ok(holders)
        })
    }

    /// The group is known by its slot 0, which a plain lock on the name
    /// also takes; a member holding another slot, by that slot in it: the
    /// refusal of an endless wait counted it as holding slot 0, and
    /// refused a plain lock's wait with slot 0 free (a review's find).
    fn resource(&mut self) -> Result<ResourceId> {
        let group = self.slots[0].resource()?;
        Ok(match self.held {
            Some(slot) if slot > 0 => ResourceId::Slot(Box::new(group), slot),
            _ => group,
        })
    }
}
