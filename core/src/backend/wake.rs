//! Prompt waiting for the socket-based backends.
//!
//! The kernel keeps no wait queue for "this address becomes free". But a
//! holder listens on its address, and a waiter can connect to it: the
//! connection sits in the holder's accept queue, never accepted, and when the
//! holder's listening socket closes (release, exit, `kill -9`) the kernel
//! resets every queued connection at once. The waiter sleeps in `poll(2)`
//! on that connection and wakes within microseconds of the release, using
//! no CPU meanwhile.
//!
//! Only a holder that is not listening (another program's bind-only socket,
//! or the instant between a holder's `bind` and `listen`) cannot be watched;
//! then, and only then, the waiter re-checks with an exponential backoff
//! capped at [`BACKOFF_CAP`].

use std::{
    io,
    os::fd::{AsFd, OwnedFd},
    thread,
    time::Duration,
};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::{deadline::Deadline, error::Result};

const BACKOFF_START: Duration = Duration::from_micros(50);
pub(crate) const BACKOFF_CAP: Duration = Duration::from_millis(10);

/// What connecting to the holder's address gave.
pub(crate) enum Watch {
    /// A connection in the holder's accept queue: it ends when the holder lets go.
    Connected(OwnedFd),
    /// Nothing listens there (a bind-only holder, or a holder between `bind`
    /// and `listen`), or its queue is full.
    Unwatchable,
}

/// A lock whose holder listens on an address.
pub(crate) trait Watchable {
    /// One attempt to take the lock; `Ok(false)` is contention.
    fn try_take(&mut self) -> Result<bool>;
    /// Connects to the current holder, to be told when it lets go.
    fn watch(&self) -> Result<Watch>;
}

/// Runs the take / watch / sleep cycle until the lock is taken or the
/// deadline passes. The lock is tried once more after the deadline, so a
/// release at the last moment still counts.
pub(crate) fn wait_until_taken(lock: &mut impl Watchable, deadline: &Deadline) -> Result<bool> {
    let mut backoff = BACKOFF_START;
    loop {
        if lock.try_take()? {
            return Ok(true);
        }
        if !deadline.may_wait() || deadline.expired() {
            return Ok(false);
        }
        let holder_went_away = match lock.watch()? {
            Watch::Connected(connection) => until_hangup(&connection, deadline),
            Watch::Unwatchable => false,
        };
        if holder_went_away {
            backoff = BACKOFF_START;
        } else if !deadline.expired() {
            // Either nothing could be watched, or the peer sent data or
            // closed politely instead of vanishing: it is not one of our
            // holders, so fall back to re-checking now and then.
            sleep_at_most(backoff, deadline);
            backoff = (backoff * 2).min(BACKOFF_CAP);
        }
    }
}

/// Sleeps in `poll(2)` until the holder's end of `connection` is gone (true),
/// or something else happens: data, a polite close, the deadline (false).
/// Signals are absorbed: the wait resumes with the time left.
fn until_hangup(connection: &OwnedFd, deadline: &Deadline) -> bool {
    loop {
        let mut fds = [PollFd::new(connection.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(deadline.poll_timeout_ms(None)).unwrap_or(PollTimeout::NONE);
        match poll(&mut fds, timeout) {
            Ok(0) => return false,
            Ok(_) => {
                let events = fds[0].revents().unwrap_or(PollFlags::empty());
                return events.intersects(PollFlags::POLLHUP | PollFlags::POLLERR);
            }
            Err(nix::errno::Errno::EINTR) if !deadline.expired() => {}
            Err(_) => return false,
        }
    }
}

fn sleep_at_most(duration: Duration, deadline: &Deadline) {
    let duration = deadline.remaining().map_or(duration, |left| left.min(duration));
    // thread::sleep resumes after signals, so the pause is never cut short.
    thread::sleep(duration);
}

/// Errors of `connect(2)` that mean "nobody is listening to be watched".
pub(crate) fn is_unwatchable(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::ECONNREFUSED | libc::EAGAIN | libc::ETIMEDOUT | libc::ECONNRESET | libc::ENOENT)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline::Timeout;
    use std::{cell::Cell, time::Instant};

    /// Taken on attempt `taken_on`; hands out `watches` in turn, then nothing.
    struct Scripted {
        attempts: u32,
        taken_on: u32,
        watches: Cell<Vec<OwnedFd>>,
    }

    impl Watchable for Scripted {
        fn try_take(&mut self) -> Result<bool> {
            self.attempts += 1;
            Ok(self.attempts == self.taken_on)
        }
        fn watch(&self) -> Result<Watch> {
            let mut watches = self.watches.take();
            let next = watches.pop();
            self.watches.set(watches);
            Ok(next.map_or(Watch::Unwatchable, Watch::Connected))
        }
    }

    #[test]
    fn a_single_try_never_watches() {
        let mut lock = Scripted { attempts: 0, taken_on: 0, watches: Cell::default() };
        assert!(!wait_until_taken(&mut lock, &Deadline::start(Timeout::NoWait)).unwrap());
        assert_eq!(lock.attempts, 1);
    }

    #[test]
    fn an_unwatchable_holder_is_rechecked_until_the_deadline() {
        let mut lock = Scripted { attempts: 0, taken_on: 0, watches: Cell::default() };
        let started = Instant::now();
        let taken = wait_until_taken(&mut lock, &Deadline::start(Timeout::For(Duration::from_millis(60)))).unwrap();
        let waited = started.elapsed();
        assert!(!taken);
        assert!(waited >= Duration::from_millis(60) && waited < Duration::from_millis(90), "{waited:?}");
        // 50µs doubling to a 10ms cap: a handful of checks, not a spin.
        assert!((4..=20).contains(&lock.attempts), "{} attempts", lock.attempts);
    }

    #[test]
    fn a_hang_up_wakes_the_waiter_at_once() {
        let (holder_end, waiter_end) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut lock = Scripted { attempts: 0, taken_on: 2, watches: Cell::new(vec![OwnedFd::from(waiter_end)]) };
        let dropper = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            drop(holder_end);
        });
        let started = Instant::now();
        let taken = wait_until_taken(&mut lock, &Deadline::start(Timeout::For(Duration::from_secs(5)))).unwrap();
        let waited = started.elapsed();
        dropper.join().unwrap();
        assert!(taken);
        assert!(waited >= Duration::from_millis(20) && waited < Duration::from_millis(200), "{waited:?}");
    }

    #[test]
    fn data_from_a_foreign_peer_is_not_mistaken_for_a_release() {
        use std::io::Write;
        let (mut peer, waiter_end) = std::os::unix::net::UnixStream::pair().unwrap();
        peer.write_all(b"220 welcome\n").unwrap();
        let mut lock = Scripted { attempts: 0, taken_on: 0, watches: Cell::new(vec![OwnedFd::from(waiter_end)]) };
        let deadline = Deadline::start(Timeout::For(Duration::from_millis(30)));
        assert!(!wait_until_taken(&mut lock, &deadline).unwrap());
        // Woken by the data once, then backed off instead of spinning.
        assert!(lock.attempts < 15, "{} attempts", lock.attempts);
        drop(peer);
    }
}
