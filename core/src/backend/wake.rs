//! Waiting and hand-over for the backends whose lock is a listening socket
//! (`socket`, `tcp`).
//!
//! The kernel keeps no wait queue for "this address becomes free", so the
//! holder keeps one: it listens on a unix socket (for `socket` the lock
//! socket itself, for `tcp` a companion in the abstract namespace), and a
//! waiter connects to it, sends its ticket (when its wait began), and
//! sleeps in `poll(2)` on the connection.
//!
//! On release the holder accepts every queued connection and passes the
//! lock's sockets (`SCM_RIGHTS`) to the waiter with the earliest ticket,
//! together with the other accepted waiters: the waiter now holds the very
//! same bound socket, so the lock changes hands without ever being free, in
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
//! same user, or root): a holder skips a waiter of another user, and a
//! waiter drops sockets passed by one (the kernel vouches for both ends'
//! credentials). Such a waiter races for the lock once it is free instead.
//!
//! Only a holder that does not speak this protocol (another program's
//! bind-only socket, or a plain `stream_socket_server()` on a tcp port)
//! cannot be queued on; then the waiter watches the port itself if it can
//! (re-checking at least every [`PORT_RECHECK`]: under heavy churn on
//! loopback, a connection to a listener that is closing can be left
//! half-open, with no reset ever coming), or re-checks with an exponential
//! backoff capped at [`BACKOFF_CAP`].

use std::{
    io::{self, IoSlice, IoSliceMut},
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
    thread,
    time::{Duration, Instant},
};

use nix::{
    cmsg_space,
    errno::Errno,
    poll::{poll, PollFd, PollFlags, PollTimeout},
    sys::socket::{
        accept4, connect, getsockopt, recvmsg, sendmsg, setsockopt, socket,
        sockopt::{AcceptConn, PassCred, PeerCredentials, SendTimeout},
        AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr, UnixCredentials,
    },
    sys::time::TimeVal,
};

use super::{is_trusted_owner, Context};
use crate::{deadline::Deadline, error::Result, fork::ForkSafe};

const BACKOFF_START: Duration = Duration::from_micros(50);
const BACKOFF_CAP: Duration = Duration::from_millis(10);
const PORT_RECHECK: Duration = Duration::from_millis(100);

/// The sockets that make up a held lock.
///
/// Field order is drop order: waiters handed on by the previous holder
/// first (they wake and race for the lock), then a companion channel before
/// the lock socket, so whoever binds the lock next always finds the
/// channel's name free again, and its waiters can queue.
pub(crate) struct HeldSockets {
    /// Waiters the previous holders accepted and passed on with the lock.
    waiters: Vec<Waiter>,
    /// The unix listener waiters queue on, when it is not `lock` itself.
    pub channel: Option<ForkSafe<OwnedFd>>,
    /// The socket whose bound address is the lock.
    pub lock: ForkSafe<OwnedFd>,
}

/// A waiter's connection, accepted by a holder, and when it began waiting.
struct Waiter {
    connection: ForkSafe<OwnedFd>,
    /// `CLOCK_MONOTONIC` nanoseconds, as the waiter sent them; `u64::MAX`
    /// until they arrive.
    ticket: u64,
}

/// At most this many waiters are passed on with a lock; the others are let
/// go, wake, and queue again.
const MAX_PASSED_WAITERS: usize = 32;
/// The lock's own descriptors in a hand-over: the socket, and a companion.
const MAX_LOCK_FDS: usize = 2;

/// A waiter as a release handles it: a plain descriptor, since nothing can
/// fork in the middle of a release, and registering thousands of them for
/// closing in children would cost more than the release itself.
struct Candidate {
    connection: OwnedFd,
    ticket: u64,
}

impl Candidate {
    /// Reads the ticket if it has arrived (a waiter sends it right after
    /// connecting, so a fast holder may accept before it comes).
    fn read_ticket(&mut self) {
        if self.ticket != u64::MAX {
            return;
        }
        let mut bytes = [0u8; 8];
        if nix::sys::socket::recv(self.connection.as_raw_fd(), &mut bytes, MsgFlags::MSG_DONTWAIT) == Ok(8) {
            self.ticket = u64::from_ne_bytes(bytes);
        }
    }
}

impl HeldSockets {
    pub fn new(channel: Option<ForkSafe<OwnedFd>>, lock: ForkSafe<OwnedFd>) -> Self {
        Self { waiters: Vec::new(), channel, lock }
    }

    /// The unix listener waiters queue on: the lock socket itself when it
    /// is one (the socket backend), else the companion, if it could be bound.
    fn queue(&self, lock_is_unix: bool) -> Option<BorrowedFd<'_>> {
        match &self.channel {
            Some(channel) => Some(channel.as_fd()),
            None => lock_is_unix.then(|| self.lock.as_fd()),
        }
    }

    /// Hands the lock to the longest-waiting waiter, or, with nobody
    /// waiting, lets it go. Either way this process holds nothing after.
    /// `lock_is_unix`: whether waiters queue on the lock socket itself.
    ///
    /// Every connection waiting in the queue is accepted, and the lock goes
    /// to the one that began waiting first, by the ticket it sent; the
    /// others are passed on with the lock, so the next release chooses among
    /// them too. Waiters that gave up are found by one `poll(2)` (or, if
    /// they give up meanwhile, when a hand-over to them fails) and dropped.
    /// So connections left by waiters that gave up never
    /// pile up in the queue, and waiters that had to wait for room in a full
    /// queue (woken all at once when it empties) still get the lock in the
    /// order they began waiting.
    pub fn release(mut self, lock_is_unix: bool) {
        let Some(queue) = self.queue(lock_is_unix).map(|q| q.as_raw_fd()) else { return };
        if self.waiters.is_empty() && !has_pending_connection(queue) {
            return; // nobody waits; dropping self closes
        }
        let mut waiters: Vec<Candidate> = std::mem::take(&mut self.waiters)
            .into_iter()
            .filter_map(|w| Some(Candidate { connection: w.connection.into_inner()?, ticket: w.ticket }))
            .collect();
        loop {
            match accept4(queue, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK) {
                // SAFETY: accept4 returned a new descriptor that nothing else owns.
                Ok(fd) => waiters.push(Candidate { connection: unsafe { OwnedFd::from_raw_fd(fd) }, ticket: u64::MAX }),
                Err(Errno::EINTR | Errno::ECONNABORTED) => {}
                Err(_) => break, // EAGAIN: the queue is empty
            }
        }
        drop_given_up(&mut waiters);
        // Our sockets go only to processes we trust: one of another user
        // could keep the queue listening after giving up the lock, and
        // waiters would wait on it forever. It races for the lock instead.
        waiters.retain(|w| peer_is_trusted(&w.connection));
        if waiters.is_empty() {
            return; // nobody waits; dropping self closes
        }
        for waiter in &mut waiters {
            waiter.read_ticket();
        }
        // Stable: equal (missing) tickets keep their queue order.
        waiters.sort_by_key(|w| w.ticket);
        let mut lock_fds: Vec<RawFd> = vec![self.lock.as_raw_fd()];
        lock_fds.extend(self.channel.as_ref().map(|c| c.as_raw_fd()));
        // Earliest first, and popped from the end.
        waiters.reverse();
        while let Some(next) = waiters.pop() {
            let passed = &waiters[waiters.len().saturating_sub(MAX_PASSED_WAITERS)..];
            let mut fds = lock_fds.clone();
            fds.extend(passed.iter().map(|w| w.connection.as_raw_fd()));
            let mut message = vec![b'L'];
            for waiter in passed {
                message.extend_from_slice(&waiter.ticket.to_ne_bytes());
            }
            let data = [IoSlice::new(&message)];
            let rights = [ControlMessage::ScmRights(&fds)];
            // MSG_NOSIGNAL: a waiter that just gave up must not SIGPIPE us.
            let sent = sendmsg::<()>(
                next.connection.as_raw_fd(),
                &data,
                &rights,
                MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
                None,
            );
            if sent.is_ok() {
                return; // the waiter holds the sockets now; our copies close
            }
        }
    }
}

/// Whether a listener has a connection to accept. `poll(2)` tells for a
/// seventh of the price of an `accept4` that finds nothing (0.2 against 1.4
/// µs on the bench host: the kernel allocates the new socket before it
/// looks at the queue). A waiter that connects after the look is reset when
/// the listener closes, and races for the lock, as one that connected after
/// an empty `accept4` did.
fn has_pending_connection(listener: RawFd) -> bool {
    let mut fds = [libc::pollfd { fd: listener, events: libc::POLLIN, revents: 0 }];
    // SAFETY: one valid pollfd; a zero timeout never blocks.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) };
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
    /// A connection in the holder's queue (see the module documentation).
    Queued(OwnedFd),
    /// A TCP connection to a holder that does not queue: it is reset when
    /// that holder's listening socket closes.
    Port(OwnedFd),
    /// Nothing to wait on: re-check now and then.
    Unwatchable,
}

/// A lock that is a listening socket.
pub(crate) trait SocketLock {
    /// One attempt to take the lock; `None` is contention.
    fn try_take(&mut self) -> Result<Option<HeldSockets>>;
    /// Where this lock's holders queue waiters.
    fn channel_address(&self) -> &UnixAddr;
    /// How to wait on a holder that does not queue waiters.
    fn watch_without_queue(&self) -> Result<Watch> {
        Ok(Watch::Unwatchable)
    }
    /// Whether waiters queue on the lock socket itself (`socket`) rather
    /// than on a companion (`tcp`), which anyone could bind first.
    fn queue_is_the_lock(&self) -> bool;
    /// Checks that the sockets a holder passed over really are this lock.
    fn adopt(&self, fds: Vec<OwnedFd>) -> Option<HeldSockets>;
    /// Names the lock in errors.
    fn context(&self) -> &Context;
}

/// Takes the lock, waiting until `deadline` if it allows. The lock is tried
/// once more after the deadline, so a release at the last moment counts.
pub(crate) fn acquire(lock: &mut impl SocketLock, deadline: &Deadline) -> Result<Option<HeldSockets>> {
    let mut backoff = BACKOFF_START;
    // Our place in line: holders hand the lock to the waiter that began first.
    let ticket = monotonic_ns();
    let mut refusals = 0;
    loop {
        if let Some(held) = lock.try_take()? {
            return Ok(Some(held));
        }
        if !deadline.may_wait() || deadline.expired() {
            return Ok(None);
        }
        let outcome = match queue_on(lock, &mut refusals, deadline, ticket)? {
            Watch::Queued(connection) => wait_in_queue(&connection, deadline),
            Watch::Port(connection) => until_reset(&connection, deadline),
            Watch::Unwatchable => Outcome::NothingToWaitOn,
        };
        match outcome {
            Outcome::HandedOver(mut fds, tickets) => {
                let lock_fds = if lock.queue_is_the_lock() { 1 } else { 2 };
                let passed = fds.split_off(fds.len().min(lock_fds));
                if let Some(mut held) = lock.adopt(fds.into_iter().map(non_blocking).collect()) {
                    held.waiters = passed
                        .into_iter()
                        .zip(tickets.into_iter().chain(std::iter::repeat(u64::MAX)))
                        .map(|(connection, ticket)| Waiter {
                            connection: ForkSafe::new(non_blocking(connection)),
                            ticket,
                        })
                        .collect();
                    return Ok(Some(held));
                }
                backoff = BACKOFF_START;
            }
            Outcome::HolderGone => backoff = BACKOFF_START,
            Outcome::TimeUp => {}
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
    }
}

/// A refused queue is most often one of ours between two holders: a few
/// microseconds, or a scheduler time slice on a busy machine. Only after this
/// many refusals in a row (about 3 ms of backoff) is the holder taken for
/// one that does not queue.
const REFUSALS_BEFORE_WATCHING_THE_PORT: u32 = 8;

/// A unix stream socket, close-on-exec and non-blocking, as every socket of
/// the socket-based backends is.
pub(crate) fn unix_socket(context: &Context) -> Result<OwnedFd> {
    socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)
        .map_err(|e| context.os("create a unix socket", e))
}

fn queue_on(lock: &impl SocketLock, refusals: &mut u32, deadline: &Deadline, ticket: u64) -> Result<Watch> {
    let connection = unix_socket(lock.context())?;
    // Every message then carries its sender's credentials, checked by the
    // kernel: how a waiter knows who hands it the lock.
    setsockopt(&connection, PassCred, &true).map_err(|e| lock.context().os("queue for the lock", e))?;
    let connected = match connect(connection.as_raw_fd(), lock.channel_address()) {
        // A queue full of connections that will never be accepted (waiters
        // that gave up): wait in the kernel for room, instead of polling.
        Err(Errno::EAGAIN) => connect_when_room(&connection, lock.channel_address(), deadline),
        other => other,
    };
    match connected {
        Ok(()) => {
            *refusals = 0;
            // A companion bound by another user is not a holder's queue: it
            // would keep waiters waiting forever. Watch the lock itself.
            if !lock.queue_is_the_lock() && !peer_is_trusted(&connection) {
                return lock.watch_without_queue();
            }
            // Eight bytes always fit in a new connection's buffer; a holder
            // that reads no ticket (an older version) ignores it.
            let _ = nix::sys::socket::send(
                connection.as_raw_fd(),
                &ticket.to_ne_bytes(),
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            );
            Ok(Watch::Queued(connection))
        }
        Err(e) if is_unwatchable(&io::Error::from(e)) => {
            *refusals += 1;
            if *refusals < REFUSALS_BEFORE_WATCHING_THE_PORT {
                Ok(Watch::Unwatchable)
            } else {
                lock.watch_without_queue()
            }
        }
        Err(e) => Err(lock.context().os("queue for the lock", e)),
    }
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
    /// The holder passed us the lock's sockets, then the waiters it passes
    /// on; and those waiters' tickets.
    HandedOver(Vec<OwnedFd>, Vec<u64>),
    /// The holder let go without passing the lock (it died, or does not
    /// queue): try to take it.
    HolderGone,
    /// The deadline passed.
    TimeUp,
    /// No way to wait (or a peer that sends data we do not expect): back off.
    NothingToWaitOn,
    /// A process we do not trust passed us sockets: they were dropped.
    Untrusted,
}

/// Sleeps until the holder passes the lock, goes away, or the time is up.
/// Signals are absorbed: the wait resumes with the time left.
fn wait_in_queue(connection: &OwnedFd, deadline: &Deadline) -> Outcome {
    loop {
        match poll_readable_within(connection, deadline, None) {
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
    let mut payload = [0u8; 1 + 8 * MAX_PASSED_WAITERS];
    let mut buffers = [IoSliceMut::new(&mut payload)];
    let mut space = cmsg_space!([RawFd; MAX_LOCK_FDS + MAX_PASSED_WAITERS], UnixCredentials);
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
            let tickets: Vec<u64> = payload[1..received]
                .chunks_exact(8)
                .map(|b| u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .collect();
            Some(match (fds.is_empty(), sender_trusted) {
                (true, _) => Outcome::NothingToWaitOn,
                (false, true) => Outcome::HandedOver(fds, tickets),
                (false, false) => Outcome::Untrusted, // dropping `fds` closes them
            })
        }
        Err(Errno::EAGAIN | Errno::EINTR) => None,
        Err(_) => Some(Outcome::HolderGone), // ECONNRESET: the holder's socket closed
    }
}

/// Sleeps until a TCP connection to a holder is reset (its listener closed),
/// or [`PORT_RECHECK`] passes.
fn until_reset(connection: &OwnedFd, deadline: &Deadline) -> Outcome {
    loop {
        match poll_readable_within(connection, deadline, Some(PORT_RECHECK)) {
            Ok(true) => {
                let mut probe = [PollFd::new(connection.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut probe, PollTimeout::ZERO);
                let events = probe[0].revents().unwrap_or(PollFlags::empty());
                // A reset is a hang-up; data or a polite close is a holder
                // that is a real server, not a lock: back off instead.
                return if events.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                    Outcome::HolderGone
                } else {
                    Outcome::NothingToWaitOn
                };
            }
            Err(Errno::EINTR) if !deadline.expired() => {}
            // The re-check is due (or the deadline passed): try again.
            _ => return Outcome::HolderGone,
        }
    }
}

/// `Ok(true)` when readable (or hung up), `Ok(false)` when `deadline` or
/// `cap` (whichever is sooner) passed.
fn poll_readable_within(connection: &OwnedFd, deadline: &Deadline, cap: Option<Duration>) -> nix::Result<bool> {
    let mut fds = [PollFd::new(connection.as_fd(), PollFlags::POLLIN)];
    let timeout = PollTimeout::try_from(deadline.poll_timeout_ms(cap)).unwrap_or(PollTimeout::NONE);
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
            Ok(Some(HeldSockets::new(None, ForkSafe::new(fd))))
        }
        fn channel_address(&self) -> &UnixAddr {
            &self.address
        }
        fn queue_is_the_lock(&self) -> bool {
            true
        }
        fn adopt(&self, mut fds: Vec<OwnedFd>) -> Option<HeldSockets> {
            (fds.len() == 1 && is_listening(&fds[0])).then(|| HeldSockets::new(None, ForkSafe::new(fds.remove(0))))
        }
        fn context(&self) -> &Context {
            &self.context
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
        held.release(true);
        let (received, tries) = waiter.join().unwrap();
        assert_eq!(received, original, "the lock socket itself moved");
        assert_eq!(tries, 1, "handed over, not raced for");
    }

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
        assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
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
}
