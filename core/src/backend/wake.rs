//! Waiting and hand-over for the backends whose lock is a listening socket
//! (`socket`, `tcp`).
//!
//! The kernel keeps no wait queue for "this address becomes free", but a
//! listening socket has one: its accept queue. A waiter connects to the
//! lock socket itself, sends its ticket (when its wait began and when it
//! ends), and sleeps in `poll(2)`. The lock socket of `socket` is a unix
//! listener, so the holder can pass descriptors back over the waiter's own
//! connection. A TCP
//! connection cannot carry them, so a `tcp` waiter first binds its source
//! port, then listens on a unix socket named after that address
//! ([`waiter_listener_address`]), where the holder connects to hand over.
//! A `tcp` holder that waited also listens on a companion unix socket,
//! where waiters queue as on a `socket` lock, in one step.
//!
//! On release the holder accepts every queued connection and passes the
//! lock's socket (`SCM_RIGHTS`) to the waiter with the earliest ticket
//! whose wait has not ended, together with the other accepted waiters: the
//! waiter now holds the very same bound socket, so the lock changes hands
//! without ever being free, in
//! FIFO order, and a releaser that loops back to `acquire()` queues behind
//! the others instead of barging in. Connections of waiters that gave up
//! never pile up in the queue: each release empties it. With nobody
//! waiting, release is one `poll(2)` that finds nothing, then `close`.
//!
//! When the holder dies instead (`exit`, `kill -9`), the kernel closes its
//! sockets and resets every queued connection: waiters wake at once and race
//! for the address. A waiter whose wait ends while a hand-over is in flight
//! reads it before giving up; if it gave up first, closing its connection
//! drops the passed sockets, which frees the lock for the others.
//!
//! Sockets only change hands between processes that trust each other (the
//! same user, or root): a holder skips a waiter of another user (for `tcp`,
//! whoever listens on the unix socket named after the waiter's address), and
//! a waiter drops sockets passed by one (the kernel vouches for both ends'
//! credentials). Such a waiter races for the lock once it is free instead.
//! A `tcp` holder reads nothing but a ticket from a TCP connection, and any
//! client the port accepts (from anywhere, when it is bound to a public
//! address) is at most a waiter with no listener, which is let go.
//!
//! A holder that does not speak this protocol (another program's bind-only
//! socket, or a plain `stream_socket_server()` on a tcp port) hands nothing
//! over: a `tcp` waiter wakes when its connection is reset as that listener
//! closes, and tries the port now and then without leaving the queue
//! ([`PORT_RECHECK`], doubling up to [`PORT_RECHECK_CAP`]: a server may have
//! accepted the connection, which then outlives its listener); with nothing
//! to connect to, a waiter re-checks with an exponential backoff capped at
//! [`BACKOFF_CAP`].

use std::{
    io::{self, IoSlice, IoSliceMut},
    net::{SocketAddr, SocketAddrV4, SocketAddrV6},
    os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd},
    thread,
    time::{Duration, Instant},
};

use nix::{
    cmsg_space,
    errno::Errno,
    poll::{poll, PollFd, PollFlags, PollTimeout},
    sys::socket::{
        accept4, bind, connect, getpeername, getsockname, getsockopt, listen, recvmsg, sendmsg, setsockopt, socket,
        sockopt::{AcceptConn, Linger, PassCred, PeerCredentials, SendTimeout},
        AddressFamily, Backlog, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, SockaddrLike,
        SockaddrStorage, UnixAddr, UnixCredentials,
    },
    sys::time::TimeVal,
};

use super::{is_trusted_owner, Context};
use crate::{
    deadline::{Deadline, Timeout},
    error::Result,
    fork::ForkSafe,
};

const BACKOFF_START: Duration = Duration::from_micros(50);
const BACKOFF_CAP: Duration = Duration::from_millis(10);
const PORT_RECHECK: Duration = Duration::from_millis(100);
const PORT_RECHECK_CAP: Duration = Duration::from_secs(2);

/// The sockets that make up a held lock.
///
/// Field order is drop order: waiters handed on by the previous holder
/// first (they wake and race for the lock), then a companion queue before
/// the lock socket, so whoever binds the lock next finds the companion's
/// name free again.
pub(crate) struct HeldSockets {
    /// Waiters the previous holders accepted and passed on with the lock.
    waiters: Vec<Waiter>,
    /// A unix listener where waiters queue in one step (`tcp`, when the
    /// holder waited: see `tcp`).
    pub channel: Option<ForkSafe<OwnedFd>>,
    /// The socket whose bound address is the lock.
    pub lock: ForkSafe<OwnedFd>,
}

/// A waiter's connection, accepted by a holder, and its ticket.
struct Waiter {
    connection: ForkSafe<OwnedFd>,
    ticket: Ticket,
    reach: Reach,
}

/// When a waiter began waiting, and when its wait ends, in
/// `CLOCK_MONOTONIC` nanoseconds (every process of the machine reads the
/// same clock, outside time namespaces), as the waiter sent them.
///
/// A holder hands the lock to the waiter that began first, but never to one
/// whose wait has ended: such a waiter is gone, or about to give up, or
/// stopped (Ctrl-Z, a debugger, a frozen container). Handed the lock, a
/// stopped waiter held it for as long as it stayed stopped, while the
/// waiters behind it timed out and `acquire(0)` failed on a lock nobody
/// used; and it returned `true` seconds after its own time ran out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Ticket {
    began: u64,
    /// `u64::MAX` for a wait without end.
    until: u64,
}

impl Ticket {
    /// Not arrived yet (a waiter sends it right after connecting), or sent
    /// by a program that sends none: last in line, never expired.
    const UNKNOWN: Self = Self { began: u64::MAX, until: u64::MAX };
    const LEN: usize = 16;

    /// The ticket of a wait that begins now and ends at `deadline`.
    pub(crate) fn now(deadline: &Deadline) -> Self {
        let began = monotonic_ns();
        let until = deadline
            .remaining()
            .map_or(u64::MAX, |left| began.saturating_add(u64::try_from(left.as_nanos()).unwrap_or(u64::MAX)));
        Self { began, until }
    }

    fn to_bytes(self) -> [u8; Self::LEN] {
        let mut bytes = [0; Self::LEN];
        bytes[..8].copy_from_slice(&self.began.to_ne_bytes());
        bytes[8..].copy_from_slice(&self.until.to_ne_bytes());
        bytes
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        let word =
            |at: usize| bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map_or(u64::MAX, u64::from_ne_bytes);
        Self { began: word(0), until: word(8) }
    }

    fn ended_before(self, now: u64) -> bool {
        self.until < now
    }
}

/// At most this many waiters are passed on with a lock; the others are let
/// go, wake, and queue again.
const MAX_PASSED_WAITERS: usize = 32;

/// How a releasing holder reaches the waiter it hands the lock to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Over the waiter's own connection, a unix one (`socket`, and a `tcp`
    /// companion).
    ByItsConnection,
    /// At the unix listener named after the address the waiter's TCP
    /// connection comes from (`tcp`, queued on the port).
    AtItsListener,
}

impl Reach {
    /// How to reach a waiter whose connection was passed on with the lock.
    fn of(connection: &OwnedFd) -> Self {
        let family = getsockname::<SockaddrStorage>(connection.as_raw_fd()).ok().and_then(|a| SockaddrLike::family(&a));
        if family == Some(AddressFamily::Unix) {
            Reach::ByItsConnection
        } else {
            Reach::AtItsListener
        }
    }
}

/// A waiter as a release handles it: a plain descriptor, since nothing can
/// fork in the middle of a release, and registering thousands of them for
/// closing in children would cost more than the release itself.
struct Candidate {
    connection: OwnedFd,
    ticket: Ticket,
    reach: Reach,
}

impl Candidate {
    /// Reads the ticket if it has arrived (a waiter sends it right after
    /// connecting, so a fast holder may accept before it comes).
    fn read_ticket(&mut self) {
        if self.ticket != Ticket::UNKNOWN {
            return;
        }
        let mut bytes = [0u8; Ticket::LEN];
        if nix::sys::socket::recv(self.connection.as_raw_fd(), &mut bytes, MsgFlags::MSG_DONTWAIT) == Ok(Ticket::LEN) {
            self.ticket = Ticket::from_bytes(&bytes);
        }
    }

    /// A connection to the unix listener named after this tcp waiter's
    /// address, if one we trust listens there.
    fn connect_to_its_listener(&self) -> Option<OwnedFd> {
        let from = getpeername::<SockaddrStorage>(self.connection.as_raw_fd()).ok()?;
        let address = waiter_listener_address(&from)?;
        let channel = new_unix_socket().ok()?;
        // Non-blocking: a listener whose queue another user filled is
        // skipped, never waited on.
        connect(channel.as_raw_fd(), &address).ok()?;
        peer_is_trusted(&channel).then_some(channel)
    }
}

impl HeldSockets {
    pub fn new(lock: ForkSafe<OwnedFd>, channel: Option<OwnedFd>) -> Self {
        Self { waiters: Vec::new(), channel: channel.map(ForkSafe::new), lock }
    }

    /// Hands the lock to the longest-waiting waiter, or, with nobody
    /// waiting, lets it go. Either way this process holds nothing after.
    ///
    /// Every connection waiting in the queue is accepted, and the lock goes
    /// to the one that began waiting first, by the ticket it sent; the
    /// others are passed on with the lock, so the next release chooses among
    /// them too. Waiters that gave up are found by one `poll(2)` (or, if
    /// they give up meanwhile, when a hand-over to them fails) and dropped,
    /// and so are those whose wait ended by their ticket (a stopped process
    /// gives up only once it runs again).
    /// So connections left by waiters that gave up never
    /// pile up in the queue, and waiters that had to wait for room in a full
    /// queue (woken all at once when it empties) still get the lock in the
    /// order they began waiting.
    pub fn release(mut self, lock_reach: Reach) {
        let queue = self.lock.as_raw_fd();
        let companion = self.channel.as_ref().map(|c| c.as_raw_fd());
        if self.waiters.is_empty() && !has_pending_connection(queue, companion) {
            return; // nobody waits; dropping self closes
        }
        let mut waiters: Vec<Candidate> = std::mem::take(&mut self.waiters)
            .into_iter()
            .filter_map(|w| {
                Some(Candidate { connection: w.connection.into_inner()?, ticket: w.ticket, reach: w.reach })
            })
            .collect();
        drop_given_up(&mut waiters);
        accept_all(queue, lock_reach, &mut waiters);
        if let Some(companion) = companion {
            accept_all(companion, Reach::ByItsConnection, &mut waiters);
        }
        if waiters.is_empty() {
            return; // nobody waits; dropping self closes
        }
        for waiter in &mut waiters {
            waiter.read_ticket();
        }
        let now = monotonic_ns();
        waiters.retain(|w| !w.ticket.ended_before(now));
        // Stable: equal (missing) tickets keep their queue order.
        waiters.sort_by_key(|w| w.ticket.began);
        // Earliest first, and popped from the end.
        waiters.reverse();
        while let Some(next) = waiters.pop() {
            let mut listener_channel = None;
            let channel = match next.reach {
                // Checked for every candidate before the tickets were sorted.
                Reach::ByItsConnection => next.connection.as_raw_fd(),
                Reach::AtItsListener => match next.connect_to_its_listener() {
                    Some(fd) => listener_channel.insert(fd).as_raw_fd(),
                    None => continue, // it wakes when its connection closes
                },
            };
            let passed = &waiters[waiters.len().saturating_sub(MAX_PASSED_WAITERS)..];
            let mut fds = vec![self.lock.as_raw_fd()];
            fds.extend(companion);
            fds.extend(passed.iter().map(|w| w.connection.as_raw_fd()));
            let mut message = vec![if companion.is_some() { WITH_COMPANION } else { LOCK_ONLY }];
            for waiter in passed {
                message.extend_from_slice(&waiter.ticket.to_bytes());
            }
            let data = [IoSlice::new(&message)];
            let rights = [ControlMessage::ScmRights(&fds)];
            // MSG_NOSIGNAL: a waiter that just gave up must not SIGPIPE us.
            let sent = sendmsg::<()>(channel, &data, &rights, MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT, None);
            if sent.is_ok() {
                return; // the waiter holds the sockets now; our copies close
            }
        }
    }
}

/// The first byte of a hand-over: the lock's socket alone, or followed by
/// its companion queue; then the tickets of the waiters passed on.
const LOCK_ONLY: u8 = b'L';
const WITH_COMPANION: u8 = b'C';

/// Connections are accepted in batches of this many, the gone and the
/// untrusted among them closed before the next batch; and at most
/// [`MAX_LIVE_WAITERS`] live ones are kept. A full queue of a tcp port
/// (4,094 connections, anyone's) would otherwise take more descriptors than
/// PHP's usual limit of 1,024, and with none left no hand-over could be made.
const ACCEPT_BATCH: usize = 128;
const MAX_LIVE_WAITERS: usize = 256;

/// Accepts the connections queued on `listener`, as waiters reached by
/// `reach`, keeping the live ones we may hand the lock to: all of them,
/// unless more than [`MAX_LIVE_WAITERS`] are (the rest stay queued on the
/// socket, which the next holder inherits).
fn accept_all(listener: RawFd, reach: Reach, waiters: &mut Vec<Candidate>) {
    let mut queue_empty = false;
    while !queue_empty && waiters.len() < MAX_LIVE_WAITERS {
        let mut batch = Vec::new();
        while batch.len() < ACCEPT_BATCH {
            match accept4(listener, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK) {
                Ok(fd) => {
                    // SAFETY: accept4 returned a new descriptor that nothing else owns.
                    let connection = unsafe { OwnedFd::from_raw_fd(fd) };
                    if reach == Reach::AtItsListener {
                        // Whoever closes it (we, a later holder, the kernel
                        // at exit) resets it: a reset is how a tcp waiter
                        // tells a lock let go from a server's polite close.
                        let _ = setsockopt(&connection, Linger, &libc::linger { l_onoff: 1, l_linger: 0 });
                    }
                    batch.push(Candidate { connection, ticket: Ticket::UNKNOWN, reach });
                }
                Err(Errno::EINTR | Errno::ECONNABORTED) => {}
                Err(_) => {
                    queue_empty = true; // EAGAIN (or no descriptor left)
                    break;
                }
            }
        }
        drop_given_up(&mut batch);
        // Our socket goes only to processes we trust: one of another user
        // could keep it listening after giving up the lock, and waiters
        // would wait on it forever. It races for the lock instead. (A tcp
        // waiter on the port is checked where it listens, at the hand-over.)
        batch.retain(|w| w.reach == Reach::AtItsListener || peer_is_trusted(&w.connection));
        waiters.append(&mut batch);
    }
}

/// Whether a listener (or its companion) has a connection to accept.
/// `poll(2)` tells for a seventh of the price of an `accept4` that finds
/// nothing (0.2 against 1.4 µs on the bench host: the kernel allocates the
/// new socket before it looks at the queue). A waiter that connects after
/// the look is reset when the listener closes, and races for the lock, as
/// one that connected after an empty `accept4` did.
fn has_pending_connection(listener: RawFd, companion: Option<RawFd>) -> bool {
    let mut fds = [libc::pollfd { fd: listener, events: libc::POLLIN, revents: 0 }; 2];
    let count = match companion {
        Some(companion) => {
            fds[1].fd = companion;
            2
        }
        None => 1,
    };
    // SAFETY: `count` valid pollfds; a zero timeout never blocks.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), count, 0) };
    // An error cannot say the queue is empty: accept4 then finds out.
    ready != 0
}

/// Drops the waiters that gave up (closed their end), found with one
/// `poll(2)` for all: after a long hold there can be thousands, and a failed
/// hand-over to each would cost far more.
fn drop_given_up(waiters: &mut Vec<Candidate>) {
    if waiters.is_empty() {
        return;
    }
    let mut fds: Vec<libc::pollfd> = waiters
        .iter()
        .map(|w| libc::pollfd { fd: w.connection.as_raw_fd(), events: libc::POLLRDHUP, revents: 0 })
        .collect();
    let count = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: `fds` is valid for `count` entries; a zero timeout never blocks.
    if unsafe { libc::poll(fds.as_mut_ptr(), count, 0) } < 0 {
        return; // every hand-over is still tried, and fails on the gone
    }
    let hung_up = libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR;
    let mut gone = fds.iter().map(|fd| fd.revents & hung_up != 0);
    waiters.retain(|_| !gone.next().unwrap_or(false));
}

/// What a waiter can wait on.
pub(crate) enum Watch {
    /// A unix connection in the holder's queue, over which the lock comes.
    Queued(OwnedFd),
    /// A TCP connection in the holder's queue, which is reset when the
    /// holder's listener closes; the lock comes through `hand_over`, the
    /// listener named after the connection's address (`None` when another
    /// process had taken that name: the waiter then only wakes on the reset).
    OnPort { connection: OwnedFd, hand_over: Option<OwnedFd> },
    /// Nothing to wait on: re-check now and then.
    Unwatchable,
}

/// A lock that is a listening socket.
pub(crate) trait SocketLock {
    /// One attempt to take the lock; `None` is contention.
    fn try_take(&mut self) -> Result<Option<HeldSockets>>;
    /// Joins the holder's queue; `None` when nothing listens to be queued on.
    fn queue(&self, deadline: &Deadline, ticket: Ticket) -> Result<Option<Watch>>;
    /// Checks that the socket (and companion queue) a holder passed over
    /// really are this lock's.
    fn adopt(&self, lock: OwnedFd, channel: Option<OwnedFd>) -> Option<HeldSockets>;
    /// Called when the lock was taken after a wait: others want it too.
    fn contended(&self, _held: &mut HeldSockets) {}
    /// Whether the holder is a process that cannot run; asked only of the
    /// locks that are gates (see [`acquire_as_gate`]).
    fn holder_is_stopped(&mut self) -> bool {
        false
    }
}

/// How a wait ended: [`acquire`]'s, and [`acquire_as_gate`]'s.
enum GateWait {
    Taken(HeldSockets),
    TimedOut,
    HolderStopped,
}

/// [`acquire`] for a lock that is the gate of a slot group: its holder is
/// the waiter at the head of the line, which watches the slots. A head
/// waiter that cannot run (Ctrl-Z, a debugger, `docker pause`) moves the
/// line no more, and every waiter behind it waited out its time while
/// slots were free (a review's find). So the wait looks at the holder
/// after [`GATE_LOOK_START`], doubling up to [`GATE_LOOK_CAP`], without
/// leaving its place in the queue, and ends when the holder is stopped.
pub(crate) fn acquire_as_gate(
    lock: &mut impl SocketLock,
    deadline: &Deadline,
) -> Result<(Option<HeldSockets>, super::AtGate)> {
    Ok(match waiting(lock, deadline, true)? {
        GateWait::Taken(held) => (Some(held), super::AtGate::Passed),
        GateWait::TimedOut => (None, super::AtGate::TimedOut),
        GateWait::HolderStopped => (None, super::AtGate::PastStopped),
    })
}

/// How long a waiter at a gate waits before it first looks whether the
/// gate's holder is stopped, doubling up to [`GATE_LOOK_CAP`]: a look asks
/// `sock_diag` or reads `/proc/locks`, and the holder's `/proc` entries.
pub(crate) const GATE_LOOK_START: Duration = Duration::from_millis(100);
pub(crate) const GATE_LOOK_CAP: Duration = Duration::from_secs(1);

/// Takes the lock, waiting until `deadline` if it allows. The lock is tried
/// once more after the deadline, so a release at the last moment counts.
pub(crate) fn acquire(lock: &mut impl SocketLock, deadline: &Deadline) -> Result<Option<HeldSockets>> {
    Ok(match waiting(lock, deadline, false)? {
        GateWait::Taken(held) => Some(held),
        GateWait::TimedOut | GateWait::HolderStopped => None,
    })
}

/// [`acquire`], and with `as_gate`, [`acquire_as_gate`].
fn waiting(lock: &mut impl SocketLock, deadline: &Deadline, as_gate: bool) -> Result<GateWait> {
    if let Some(held) = lock.try_take()? {
        return Ok(GateWait::Taken(held));
    }
    let mut backoff = BACKOFF_START;
    // Our place in line: holders hand the lock to the waiter that began
    // first, and whose wait has not ended.
    let ticket = Ticket::now(deadline);
    let mut refusals = 0;
    let mut hang_ups = 0;
    let mut look_after = GATE_LOOK_START;
    loop {
        if !deadline.may_wait() || deadline.expired() {
            return Ok(GateWait::TimedOut);
        }
        let watch = match lock.queue(deadline, ticket)? {
            Some(watch) => {
                refusals = 0;
                watch
            }
            None => {
                refusals += 1;
                Watch::Unwatchable
            }
        };
        let mut recheck = PORT_RECHECK;
        let outcome = loop {
            let slice = if as_gate { deadline.within(look_after) } else { *deadline };
            let outcome = match &watch {
                Watch::Queued(connection) => wait_in_queue(connection, &slice),
                Watch::OnPort { connection, hand_over } => {
                    wait_on_port(connection, hand_over.as_ref(), &slice, recheck)
                }
                Watch::Unwatchable => Outcome::NothingToWaitOn,
            };
            if as_gate && matches!(outcome, Outcome::TimeUp) && !deadline.expired() {
                // Looked at without leaving the queue: its place in line is kept.
                if lock.holder_is_stopped() {
                    return Ok(GateWait::HolderStopped);
                }
                look_after = (look_after * 2).min(GATE_LOOK_CAP);
                continue;
            }
            if !matches!(outcome, Outcome::RecheckDue) {
                break outcome;
            }
            recheck = (recheck * 2).min(PORT_RECHECK_CAP);
            // Tried without leaving the queue: its place in line is kept.
            if let Some(held) = take_after_waiting(lock)? {
                return Ok(GateWait::Taken(held));
            }
        };
        hang_ups = if matches!(outcome, Outcome::HolderGone) { hang_ups + 1 } else { 0 };
        match outcome {
            Outcome::HandedOver(mut fds, with_companion, tickets) => {
                let passed = fds.split_off(fds.len().min(1 + usize::from(with_companion)));
                let mut lock_fds = fds.into_iter().map(non_blocking);
                let adopted = match lock_fds.next() {
                    Some(socket) => lock.adopt(socket, lock_fds.next()),
                    None => None,
                };
                if let Some(mut held) = adopted {
                    held.waiters = passed
                        .into_iter()
                        .zip(tickets.into_iter().chain(std::iter::repeat(Ticket::UNKNOWN)))
                        .map(|(connection, ticket)| {
                            let connection = non_blocking(connection);
                            Waiter { reach: Reach::of(&connection), connection: ForkSafe::new(connection), ticket }
                        })
                        .collect();
                    return Ok(GateWait::Taken(held));
                }
                backoff = BACKOFF_START;
            }
            // The holder went without handing the lock over: it is free,
            // raced for at once.
            Outcome::HolderGone if hang_ups == 1 => backoff = BACKOFF_START,
            // Hung up on again, with no wait between: a listener that
            // accepts and closes every connection (another user's) would
            // otherwise keep us connecting 100,000 times a second.
            Outcome::HolderGone => {
                sleep_at_most(backoff, deadline);
                backoff = (backoff * 2).min(BACKOFF_CAP);
            }
            Outcome::TimeUp | Outcome::RecheckDue => {}
            // A first refusal mostly means the lock just became free: try
            // again at once. Sleeping here would let a releaser that loops
            // take it again and again while this waiter is away.
            Outcome::NothingToWaitOn if refusals == 1 => {}
            // Untrusted: another user's process passed us sockets; it may
            // have passed the same ones to others too, so they are dropped
            // and the lock is raced for (if it kept a copy, it still holds
            // the lock). The pause keeps such a peer from making us spin.
            Outcome::NothingToWaitOn | Outcome::Untrusted => {
                sleep_at_most(backoff, deadline);
                backoff = (backoff * 2).min(BACKOFF_CAP);
            }
        }
        if let Some(held) = take_after_waiting(lock)? {
            return Ok(GateWait::Taken(held));
        }
    }
}

/// One attempt after a wait began: a lock taken then is contended.
fn take_after_waiting(lock: &mut impl SocketLock) -> Result<Option<HeldSockets>> {
    let mut held = lock.try_take()?;
    if let Some(held) = held.as_mut() {
        lock.contended(held);
    }
    Ok(held)
}

/// A unix stream socket, close-on-exec and non-blocking, as every socket of
/// the socket-based backends is.
pub(crate) fn unix_socket(context: &Context) -> Result<OwnedFd> {
    new_unix_socket().map_err(|e| context.os("create a unix socket", e))
}

fn new_unix_socket() -> nix::Result<OwnedFd> {
    socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)
}

/// Joins the queue of a unix listener that is the lock (`socket`).
/// With `trusted_only`, a listener another user made is not queued on
/// (`None`): it could keep its waiters waiting forever. Nor is a full one
/// waited on then: whose it is cannot be told before connecting, and
/// another user can fill a listener of their own.
pub(crate) fn queue_on_unix(
    context: &Context,
    address: &UnixAddr,
    deadline: &Deadline,
    ticket: Ticket,
    trusted_only: bool,
) -> Result<Option<Watch>> {
    let connection = unix_socket(context)?;
    // Every message then carries its sender's credentials, checked by the
    // kernel: how a waiter knows who hands it the lock.
    setsockopt(&connection, PassCred, &true).map_err(|e| context.os("queue for the lock", e))?;
    let connected = match connect(connection.as_raw_fd(), address) {
        // A queue full of connections that will never be accepted (waiters
        // that gave up): wait in the kernel for room, instead of polling.
        Err(Errno::EAGAIN) if !trusted_only => connect_when_room(&connection, address, deadline),
        other => other,
    };
    match connected {
        Ok(()) if trusted_only && !peer_is_trusted(&connection) => Ok(None),
        Ok(()) => {
            send_ticket(&connection, ticket);
            Ok(Some(Watch::Queued(connection)))
        }
        Err(e) if is_unwatchable(&io::Error::from(e)) => Ok(None),
        Err(e) => Err(context.os("queue for the lock", e)),
    }
}

/// Sixteen bytes always fit in a new connection's buffer; a holder that
/// reads no ticket (another program) ignores it.
pub(crate) fn send_ticket(connection: &OwnedFd, ticket: Ticket) {
    let _ = nix::sys::socket::send(
        connection.as_raw_fd(),
        &ticket.to_bytes(),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
    );
}

/// Where the holder of a tcp lock hands it to the waiter whose connection
/// comes from `from`: an abstract unix address, so it lives in the network
/// namespace the TCP ports live in. The waiter binds it before it connects,
/// so the name is there before any holder can look for it.
pub(crate) fn waiter_listener_address(from: &SockaddrStorage) -> Option<UnixAddr> {
    let from = if let Some(v4) = from.as_sockaddr_in() {
        SocketAddr::from(SocketAddrV4::from(*v4))
    } else {
        SocketAddr::from(SocketAddrV6::from(*from.as_sockaddr_in6()?))
    };
    UnixAddr::new_abstract(format!("exakat_lock/tcp-waiter/{from}").as_bytes()).ok()
}

/// The listener a tcp waiter whose connection comes from `from` is handed
/// the lock on; `None` when another process has the name (it is then
/// handed nothing, and wakes on its connection's reset).
pub(crate) fn listen_for_hand_over(context: &Context, from: &SockaddrStorage) -> Result<Option<OwnedFd>> {
    let Some(address) = waiter_listener_address(from) else { return Ok(None) };
    let listener = unix_socket(context)?;
    // Inherited by every accepted connection: each message then carries
    // its sender's credentials.
    setsockopt(&listener, PassCred, &true).map_err(|e| context.os("queue for the lock", e))?;
    if bind(listener.as_raw_fd(), &address).is_err() || listen(&listener, Backlog::MAXCONN).is_err() {
        return Ok(None);
    }
    Ok(Some(listener))
}

/// `CLOCK_MONOTONIC`, which every process of the machine shares (unlike
/// `Instant`'s origin), in nanoseconds.
fn monotonic_ns() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills the struct; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let (seconds, nanos) = (u64::try_from(now.tv_sec).unwrap_or(0), u64::try_from(now.tv_nsec).unwrap_or(0));
    seconds.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// The longest single blocking `connect(2)` on a full queue: the loop
/// around it re-checks the lock at least this often.
const FULL_QUEUE_WAIT: Duration = Duration::from_secs(1);

/// `connect(2)` on a full unix listener sleeps until the listener accepts a
/// connection (which every release does) or closes; non-blocking, it fails
/// at once. So this one blocks, for at most the time left.
fn connect_when_room(connection: &OwnedFd, address: &UnixAddr, deadline: &Deadline) -> nix::Result<()> {
    let wait = deadline.remaining().unwrap_or(FULL_QUEUE_WAIT).min(FULL_QUEUE_WAIT);
    if wait.is_zero() {
        return Err(Errno::EAGAIN);
    }
    let started = Instant::now();
    set_non_blocking(connection, false);
    let connected = loop {
        // Recomputed after a signal, so that it never lengthens the wait.
        let left = wait.saturating_sub(started.elapsed());
        let timeout = TimeVal::new(
            libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX),
            libc::suseconds_t::from(left.subsec_micros().max(1)),
        );
        if let Err(e) = setsockopt(connection, SendTimeout, &timeout) {
            break Err(e);
        }
        match connect(connection.as_raw_fd(), address) {
            Err(Errno::EINTR) if !deadline.expired() && started.elapsed() < wait => {}
            other => break other,
        }
    };
    set_non_blocking(connection, true);
    connected
}

/// Whether the process at the other end of a unix connection (for a
/// listener: the one that called `listen()`; for an accepted connection:
/// the one that connected) is one we trust (see [`is_trusted_owner`]).
/// Sockets move only between processes that trust each other both ways, so
/// a listener made by a trusted process is still held by one.
pub(crate) fn peer_is_trusted(connection: &OwnedFd) -> bool {
    getsockopt(connection, PeerCredentials).is_ok_and(|credentials| is_trusted_owner(credentials.uid()))
}

fn set_non_blocking(fd: &OwnedFd, on: bool) {
    // SAFETY: plain fcntl calls on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags >= 0 {
            let wanted = if on { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
            if wanted != flags {
                libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, wanted);
            }
        }
    }
}

/// A received socket, made non-blocking: a peer may have passed a blocking
/// one, on which `accept4` at release would wait forever.
fn non_blocking(fd: OwnedFd) -> OwnedFd {
    set_non_blocking(&fd, true);
    fd
}

enum Outcome {
    /// The holder passed us the lock's socket, its companion queue if the
    /// flag says so, then the waiters it passes on; and those waiters' tickets.
    HandedOver(Vec<OwnedFd>, bool, Vec<Ticket>),
    /// The holder let go without passing the lock (it died, or does not
    /// queue): try to take it.
    HolderGone,
    /// The deadline passed.
    TimeUp,
    /// No way to wait (or a peer that sends data we do not expect): back off.
    NothingToWaitOn,
    /// A process we do not trust passed us sockets: they were dropped.
    Untrusted,
    /// Still queued, but time to try the lock (see [`wait_on_port`]).
    RecheckDue,
}

/// Sleeps until the holder passes the lock, goes away, or the time is up.
/// Signals are absorbed: the wait resumes with the time left.
fn wait_in_queue(connection: &OwnedFd, deadline: &Deadline) -> Outcome {
    loop {
        match poll_readable_within(connection, deadline) {
            Ok(true) | Err(Errno::EINTR) if !deadline.expired() => {}
            _ => return read_hand_over(connection).unwrap_or(Outcome::TimeUp),
        }
        if let Some(outcome) = read_hand_over(connection) {
            return outcome;
        }
    }
}

/// Reads what the holder sent, if anything: `None` when nothing is there yet.
fn read_hand_over(connection: &OwnedFd) -> Option<Outcome> {
    let mut payload = [0u8; 1 + Ticket::LEN * MAX_PASSED_WAITERS];
    let mut buffers = [IoSliceMut::new(&mut payload)];
    let mut space = cmsg_space!([RawFd; 2 + MAX_PASSED_WAITERS], UnixCredentials);
    let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC;
    match recvmsg::<()>(connection.as_raw_fd(), &mut buffers, Some(&mut space), flags) {
        Ok(message) if message.bytes == 0 => Some(Outcome::HolderGone),
        Ok(message) => {
            let mut fds = Vec::new();
            let mut sender_trusted = false;
            for control in message.cmsgs().into_iter().flatten() {
                match control {
                    // SAFETY: SCM_RIGHTS installed these descriptors for us alone.
                    ControlMessageOwned::ScmRights(received) => {
                        fds.extend(received.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
                    }
                    // Filled in by the kernel (SO_PASSCRED): the sender's own.
                    ControlMessageOwned::ScmCredentials(sender) => sender_trusted = is_trusted_owner(sender.uid()),
                    _ => {}
                }
            }
            let received = message.bytes;
            let tickets: Vec<Ticket> = payload[1..received].chunks_exact(Ticket::LEN).map(Ticket::from_bytes).collect();
            Some(match (fds.is_empty(), sender_trusted) {
                (true, _) => Outcome::NothingToWaitOn,
                (false, true) => Outcome::HandedOver(fds, payload[0] == WITH_COMPANION, tickets),
                (false, false) => Outcome::Untrusted, // dropping `fds` closes them
            })
        }
        Err(Errno::EAGAIN | Errno::EINTR) => None,
        Err(_) => Some(Outcome::HolderGone), // ECONNRESET: the holder's socket closed
    }
}

/// Sleeps until the holder of a tcp port hands the lock over (connects to
/// `hand_over` and passes it), or its listener closes (our connection is
/// reset), or `recheck` passes.
///
/// A connection whose handshake raced the listener's close can be left
/// established on our side only: the kernel dropped it on the holder's
/// side without a reset, and no release will ever find it. Its ticket then
/// stays unacknowledged, where a queued connection's is acknowledged at
/// once (by the kernel, before any `accept`): such a connection is given
/// [`QUEUE_CONFIRMATION`], then left, and the lock tried and queued for
/// again.
fn wait_on_port(connection: &OwnedFd, hand_over: Option<&OwnedFd>, deadline: &Deadline, recheck: Duration) -> Outcome {
    let unconfirmed = unacknowledged_bytes(connection) > 0;
    let cap = if unconfirmed { QUEUE_CONFIRMATION } else { recheck };
    let recheck_due = Deadline::start(Timeout::For(cap));
    loop {
        let left = recheck_due.remaining().unwrap_or(Duration::ZERO);
        let timeout = PollTimeout::try_from(deadline.poll_timeout_ms(Some(left))).unwrap_or(PollTimeout::NONE);
        let mut fds = vec![PollFd::new(connection.as_fd(), PollFlags::POLLIN)];
        fds.extend(hand_over.map(|listener| PollFd::new(listener.as_fd(), PollFlags::POLLIN)));
        let ready = poll(&mut fds, timeout);
        let connection_events = fds[0].revents().unwrap_or(PollFlags::empty());
        // A hand-over comes first: the holder resets our connection right after.
        if let Some(outcome) = hand_over.and_then(|listener| take_hand_over(listener, deadline)) {
            return outcome;
        }
        return match ready {
            Ok(0) if deadline.expired() => Outcome::TimeUp,
            Ok(0) if unconfirmed && unacknowledged_bytes(connection) > 0 => Outcome::HolderGone,
            Ok(0) => Outcome::RecheckDue,
            // A reset is a hang-up; data or a polite close is a holder that
            // is a real server, not a lock: back off instead.
            Ok(_) if connection_events.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) => Outcome::HolderGone,
            // Only the listener woke (another user connecting to it, dropped
            // unread) or a signal: sleep on, so that nobody can make us spin.
            Ok(_) | Err(Errno::EINTR) if connection_events.is_empty() => {
                if deadline.expired() {
                    Outcome::TimeUp
                } else if recheck_due.expired() {
                    Outcome::RecheckDue
                } else {
                    continue;
                }
            }
            Ok(_) | Err(_) => Outcome::NothingToWaitOn,
        };
    }
}

/// How long a tcp waiter's ticket may stay unacknowledged before its
/// connection is taken for one no holder will see (see [`wait_on_port`]).
/// Loopback acknowledges within microseconds.
const QUEUE_CONFIRMATION: Duration = Duration::from_millis(2);

/// Bytes sent on a TCP connection and not yet acknowledged (`SIOCOUTQ`).
fn unacknowledged_bytes(connection: &OwnedFd) -> libc::c_int {
    let mut pending: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one int; the descriptor is ours.
    if unsafe { libc::ioctl(connection.as_raw_fd(), libc::TIOCOUTQ, &mut pending) } < 0 {
        return 0;
    }
    pending
}

/// How long a waiter whose listener a holder connected to gives it to send
/// the lock: it sends right after connecting, so this is only ever a
/// scheduler's delay; past it the holder's send fails and the lock goes to
/// the next in line.
const HAND_OVER_GRACE: Duration = Duration::from_millis(100);

/// Accepts what connected to a tcp waiter's listener: a holder handing the
/// lock over, or processes of other users, which are dropped. `None` when
/// no hand-over came.
fn take_hand_over(listener: &OwnedFd, deadline: &Deadline) -> Option<Outcome> {
    loop {
        let fd = match accept4(listener.as_raw_fd(), SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK) {
            Ok(fd) => fd,
            Err(Errno::EINTR | Errno::ECONNABORTED) => continue,
            Err(_) => return None,
        };
        // SAFETY: accept4 returned a new descriptor that nothing else owns.
        let channel = unsafe { OwnedFd::from_raw_fd(fd) };
        if !peer_is_trusted(&channel) {
            continue;
        }
        // Within the wait's own time, unless that is up: a hand-over in
        // flight at the deadline is still read.
        let left = deadline.remaining().unwrap_or(HAND_OVER_GRACE);
        let grace =
            Deadline::start(Timeout::For(if left.is_zero() { HAND_OVER_GRACE } else { left.min(HAND_OVER_GRACE) }));
        loop {
            if let Some(outcome) = read_hand_over(&channel) {
                match outcome {
                    Outcome::HandedOver(..) | Outcome::Untrusted => return Some(outcome),
                    _ => break, // closed without sending: look for another
                }
            }
            if !matches!(poll_readable_within(&channel, &grace), Ok(true) | Err(Errno::EINTR)) {
                break;
            }
        }
    }
}

/// `Ok(true)` when readable (or hung up), `Ok(false)` when `deadline` passed.
fn poll_readable_within(connection: &OwnedFd, deadline: &Deadline) -> nix::Result<bool> {
    let mut fds = [PollFd::new(connection.as_fd(), PollFlags::POLLIN)];
    let timeout = PollTimeout::try_from(deadline.poll_timeout_ms(None)).unwrap_or(PollTimeout::NONE);
    poll(&mut fds, timeout).map(|ready| ready > 0)
}

fn sleep_at_most(duration: Duration, deadline: &Deadline) {
    let duration = deadline.remaining().map_or(duration, |left| left.min(duration));
    // thread::sleep resumes after signals, so the pause is never cut short.
    thread::sleep(duration);
}

/// Errors of `connect(2)` that mean "nobody is listening to be queued on".
pub(crate) fn is_unwatchable(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::ECONNREFUSED | libc::EAGAIN | libc::ETIMEDOUT | libc::ECONNRESET | libc::ENOENT)
    )
}

/// Whether `fd` is a listening socket: the state a handed-over lock must be in.
pub(crate) fn is_listening(fd: &OwnedFd) -> bool {
    getsockopt(fd, AcceptConn).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{backend::Context, deadline::Timeout, BackendKind};
    use nix::sys::socket::{bind, listen, Backlog};
    use std::time::Instant;

    /// A lock that is an abstract unix listener, as the socket backend's.
    struct TestLock {
        address: UnixAddr,
        context: Context,
        tries: u32,
    }

    impl TestLock {
        fn new(tag: &str) -> Self {
            let name = format!("exakat_lock-test/{tag}/{}", std::process::id());
            Self {
                address: UnixAddr::new_abstract(name.as_bytes()).unwrap(),
                context: Context { lock: tag.into(), backend: BackendKind::Socket },
                tries: 0,
            }
        }
    }

    impl SocketLock for TestLock {
        fn try_take(&mut self) -> Result<Option<HeldSockets>> {
            self.tries += 1;
            // Non-blocking, as every lock socket of the backends is.
            let fd =
                socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)
                    .unwrap();
            if bind(fd.as_raw_fd(), &self.address).is_err() {
                return Ok(None);
            }
            listen(&fd, Backlog::MAXCONN).unwrap();
            Ok(Some(HeldSockets::new(ForkSafe::new(fd), None)))
        }
        fn queue(&self, deadline: &Deadline, ticket: Ticket) -> Result<Option<Watch>> {
            queue_on_unix(&self.context, &self.address, deadline, ticket, false)
        }
        fn adopt(&self, lock: OwnedFd, channel: Option<OwnedFd>) -> Option<HeldSockets> {
            (channel.is_none() && is_listening(&lock)).then(|| HeldSockets::new(ForkSafe::new(lock), None))
        }
    }

    #[test]
    fn a_single_try_never_waits() {
        let mut holder = TestLock::new("single");
        let _held = holder.try_take().unwrap().unwrap();
        let mut waiter = TestLock::new("single");
        assert!(acquire(&mut waiter, &Deadline::start(Timeout::NoWait)).unwrap().is_none());
        assert_eq!(waiter.tries, 1);
    }

    #[test]
    fn release_hands_the_very_same_socket_to_the_waiter() {
        let mut holder = TestLock::new("handover");
        let held = holder.try_take().unwrap().unwrap();
        let inode = |fd: &OwnedFd| nix::sys::stat::fstat(fd.as_fd()).unwrap().st_ino;
        let original = inode(&held.lock);
        let waiter = thread::spawn(|| {
            let mut waiter = TestLock::new("handover");
            let held = acquire(&mut waiter, &Deadline::start(Timeout::For(Duration::from_secs(5)))).unwrap().unwrap();
            (nix::sys::stat::fstat(held.lock.as_fd()).unwrap().st_ino, waiter.tries)
        });
        thread::sleep(Duration::from_millis(50)); // let the waiter queue
        held.release(Reach::ByItsConnection);
        let (received, tries) = waiter.join().unwrap();
        assert_eq!(received, original, "the lock socket itself moved");
        assert_eq!(tries, 1, "handed over, not raced for");
    }

    /// A waiter first in line whose wait has ended (stopped, say: it gives
    /// up only once it runs again) is passed over: the lock goes to the
    /// waiter behind it, which would otherwise time out while the stopped
    /// one held the lock (a review's find, with `kill -STOP`).
    #[test]
    fn a_waiter_whose_wait_has_ended_is_never_handed_the_lock() {
        let mut holder = TestLock::new("ended");
        let held = holder.try_take().unwrap().unwrap();
        // The stopped waiter: queued first, its 1 ms wait long over.
        let stopped = unix_socket(&holder.context).unwrap();
        connect(stopped.as_raw_fd(), &holder.address).unwrap();
        let began = monotonic_ns() - 2_000_000_000;
        send_ticket(&stopped, Ticket { began, until: began + 1_000_000 });
        let waiter = thread::spawn(|| {
            let mut waiter = TestLock::new("ended");
            let taken = acquire(&mut waiter, &Deadline::start(Timeout::For(Duration::from_secs(5)))).unwrap();
            (taken.is_some(), waiter.tries)
        });
        thread::sleep(Duration::from_millis(50)); // let the waiter queue
        held.release(Reach::ByItsConnection);
        assert_eq!(waiter.join().unwrap(), (true, 1), "handed over to the waiter whose wait goes on");
        let mut none = [0u8; 1];
        assert!(
            matches!(nix::sys::socket::recv(stopped.as_raw_fd(), &mut none, MsgFlags::MSG_DONTWAIT), Ok(0) | Err(_)),
            "nothing was sent to the waiter whose wait had ended"
        );
    }

    /// A wake-up takes microseconds; this leaves room for a loaded machine
    /// (the try count is what tells a wake-up from a re-check).
    const PROMPT_AFTER_DROP: Duration = Duration::from_millis(200);

    #[test]
    fn a_dead_holder_wakes_the_queue_at_once() {
        let mut holder = TestLock::new("dead");
        let held = holder.try_take().unwrap().unwrap();
        let dropper = thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            drop(held); // closing without a hand-over, as an exiting process does
        });
        let mut waiter = TestLock::new("dead");
        let started = Instant::now();
        assert!(acquire(&mut waiter, &Deadline::start(Timeout::For(Duration::from_secs(5)))).unwrap().is_some());
        dropper.join().unwrap();
        // Woken by the reset of its queued connection: its first try, and
        // the one after the wake-up; a re-check on a timer would be later.
        assert!(started.elapsed() < Duration::from_millis(30) + PROMPT_AFTER_DROP, "{:?}", started.elapsed());
        assert!(waiter.tries <= 2, "{} tries", waiter.tries);
    }

    #[test]
    fn an_unwatchable_holder_is_rechecked_with_backoff_until_the_deadline() {
        // Bound but not listening: nothing to queue on.
        let address = TestLock::new("unwatchable").address;
        let squatter = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
        bind(squatter.as_raw_fd(), &address).unwrap();
        let mut waiter = TestLock::new("unwatchable");
        let started = Instant::now();
        assert!(acquire(&mut waiter, &Deadline::start(Timeout::For(Duration::from_millis(60)))).unwrap().is_none());
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(60) && waited < Duration::from_millis(90), "{waited:?}");
        // 50µs doubling to a 10ms cap: a handful of checks, not a spin.
        assert!((4..=20).contains(&waiter.tries), "{} tries", waiter.tries);
    }

    #[test]
    fn a_listener_that_hangs_up_on_every_waiter_is_rechecked_with_backoff() {
        // Listening, and closing every connection it accepts.
        let address = TestLock::new("hangs-up").address;
        let squatter = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
        bind(squatter.as_raw_fd(), &address).unwrap();
        listen(&squatter, Backlog::MAXCONN).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let hanging_up = {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut accepted = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut ready = [PollFd::new(squatter.as_fd(), PollFlags::POLLIN)];
                    if poll(&mut ready, PollTimeout::from(10u8)).unwrap_or(0) > 0 {
                        let connection = accept4(squatter.as_raw_fd(), SockFlag::SOCK_CLOEXEC).unwrap();
                        // SAFETY: a descriptor accept4 just opened, closed here at once.
                        drop(unsafe { OwnedFd::from_raw_fd(connection) });
                        accepted += 1;
                    }
                }
                accepted
            })
        };
        let mut waiter = TestLock::new("hangs-up");
        assert!(acquire(&mut waiter, &Deadline::start(Timeout::For(Duration::from_millis(60)))).unwrap().is_none());
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let accepted = hanging_up.join().unwrap();
        // Without the backoff: thousands of rounds in 60 ms.
        assert!(accepted <= 20, "{accepted} connections, {} tries", waiter.tries);
    }
}
