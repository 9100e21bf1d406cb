//! Timeouts as users give them, and deadlines as waits use them.
//!
//! A deadline is fixed once, on the monotonic clock, when a wait starts: a
//! wait interrupted by a signal resumes with whatever time is left, so
//! signals neither shorten nor lengthen it, and wall-clock jumps do not move it.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long `acquire` may wait.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Timeout {
    /// One attempt, no waiting (a timeout of `0`).
    NoWait,
    /// Wait at most this long.
    For(Duration),
    /// Wait without limit (a negative or infinite timeout).
    Forever,
}

impl Timeout {
    /// Reads a PHP-style timeout in seconds: `0` one try, `> 0` a limit,
    /// negative or `INF` no limit. A finite timeout too large to represent
    /// (about 584 billion years) also means no limit.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming `timeout` when `seconds` is NaN.
    pub fn from_secs_f64(seconds: f64) -> Result<Self> {
        if seconds.is_nan() {
            return Err(Error::invalid_argument("timeout", "must not be NAN"));
        }
        if seconds == 0.0 {
            return Ok(Self::NoWait);
        }
        if seconds < 0.0 {
            return Ok(Self::Forever);
        }
        Ok(Duration::try_from_secs_f64(seconds).map_or(Self::Forever, Self::For))
    }
}

/// When a wait ends.
#[derive(Clone, Copy, Debug)]
enum End {
    /// A single try: over once tried, so the clock is never read (the
    /// uncontended acquire, the common call, pays no `clock_gettime`).
    AfterOneTry,
    At(Instant),
    Never,
}

/// The point in time a wait ends, or none.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    end: End,
}

impl Deadline {
    #[must_use]
    pub fn start(timeout: Timeout) -> Self {
        let end = match timeout {
            Timeout::NoWait => End::AfterOneTry,
            // An Instant that would overflow is as good as forever.
            Timeout::For(d) => Instant::now().checked_add(d).map_or(End::Never, End::At),
            Timeout::Forever => End::Never,
        };
        Self { end }
    }

    /// Whether this wait may block at all (false for a single try).
    #[must_use]
    pub fn may_wait(&self) -> bool {
        !matches!(self.end, End::AfterOneTry)
    }

    #[must_use]
    pub fn is_forever(&self) -> bool {
        matches!(self.end, End::Never)
    }

    /// Time left: `None` when unbounded, `Some(ZERO)` once expired.
    #[must_use]
    pub fn remaining(&self) -> Option<Duration> {
        match self.end {
            End::AfterOneTry => Some(Duration::ZERO),
            End::At(at) => Some(at.saturating_duration_since(Instant::now())),
            End::Never => None,
        }
    }

    /// This deadline or `cap` from now, whichever comes first.
    #[must_use]
    pub fn within(&self, cap: Duration) -> Self {
        let capped = Instant::now().checked_add(cap);
        let end = match (self.end, capped) {
            (End::AfterOneTry, _) => End::AfterOneTry,
            (End::At(at), Some(capped)) => End::At(at.min(capped)),
            (End::At(at), None) => End::At(at),
            (End::Never, Some(capped)) => End::At(capped),
            (End::Never, None) => End::Never,
        };
        Self { end }
    }

    #[must_use]
    pub fn expired(&self) -> bool {
        self.remaining() == Some(Duration::ZERO)
    }

    /// The deadline as the absolute `CLOCK_MONOTONIC` time that Rust's
    /// `Instant` is built on, for kernel timers; `None` when unbounded.
    #[must_use]
    pub fn monotonic_timespec(&self) -> Option<libc::timespec> {
        let remaining = self.remaining()?;
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `now` is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        let nanos = i128::from(now.tv_nsec) + i128::from(remaining.subsec_nanos());
        let secs = i128::from(now.tv_sec) + i128::from(remaining.as_secs()) + nanos / 1_000_000_000;
        Some(libc::timespec {
            tv_sec: libc::time_t::try_from(secs).unwrap_or(libc::time_t::MAX),
            tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
        })
    }

    /// Remaining time as a `poll(2)` timeout in milliseconds, rounded up so a
    /// wait never wakes before its deadline only to wait again; `-1` when
    /// unbounded.
    #[must_use]
    pub fn poll_timeout_ms(&self, cap: Option<Duration>) -> i32 {
        let limit = match (self.remaining(), cap) {
            (None, None) => return -1,
            (Some(r), None) => r,
            (None, Some(c)) => c,
            (Some(r), Some(c)) => r.min(c),
        };
        let ms = limit.as_nanos().div_ceil(1_000_000);
        i32::try_from(ms).unwrap_or(i32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_php_timeouts() {
        assert_eq!(Timeout::from_secs_f64(0.0).unwrap(), Timeout::NoWait);
        assert_eq!(Timeout::from_secs_f64(-0.0).unwrap(), Timeout::NoWait);
        assert_eq!(Timeout::from_secs_f64(-1.0).unwrap(), Timeout::Forever);
        assert_eq!(Timeout::from_secs_f64(f64::INFINITY).unwrap(), Timeout::Forever);
        assert_eq!(Timeout::from_secs_f64(f64::NEG_INFINITY).unwrap(), Timeout::Forever);
        assert_eq!(Timeout::from_secs_f64(1e300).unwrap(), Timeout::Forever);
        assert_eq!(Timeout::from_secs_f64(0.25).unwrap(), Timeout::For(Duration::from_millis(250)));
        assert_eq!(Timeout::from_secs_f64(5e-324).unwrap(), Timeout::For(Duration::ZERO));
        let nan = Timeout::from_secs_f64(f64::NAN).unwrap_err().to_string();
        assert!(nan.contains("$timeout") && nan.contains("NAN"), "{nan}");
    }

    #[test]
    fn a_single_try_is_expired_at_once() {
        let d = Deadline::start(Timeout::NoWait);
        assert!(!d.may_wait());
        assert!(d.expired());
        assert_eq!(d.poll_timeout_ms(None), 0);
        assert!(!d.within(Duration::from_secs(1)).may_wait());
    }

    #[test]
    fn a_cap_shortens_a_wait_and_bounds_forever() {
        let long = Deadline::start(Timeout::For(Duration::from_secs(60)));
        let capped = long.within(Duration::from_millis(10)).remaining().unwrap();
        assert!(capped <= Duration::from_millis(10), "{capped:?}");
        let short = Deadline::start(Timeout::For(Duration::from_millis(10)));
        assert!(short.within(Duration::from_secs(60)).remaining().unwrap() <= Duration::from_millis(10));
        let forever = Deadline::start(Timeout::Forever).within(Duration::from_millis(10));
        assert!(forever.may_wait() && !forever.is_forever());
        assert!(forever.remaining().unwrap() <= Duration::from_millis(10));
    }

    #[test]
    fn forever_never_expires() {
        let d = Deadline::start(Timeout::Forever);
        assert!(d.may_wait() && d.is_forever() && !d.expired());
        assert_eq!(d.remaining(), None);
        assert_eq!(d.monotonic_timespec().map(|t| t.tv_sec), None);
        assert_eq!(d.poll_timeout_ms(None), -1);
        assert_eq!(d.poll_timeout_ms(Some(Duration::from_millis(7))), 7);
    }

    #[test]
    fn huge_finite_timeouts_do_not_overflow() {
        let d = Deadline::start(Timeout::For(Duration::from_secs(u64::MAX / 2)));
        assert!(d.is_forever());
    }

    #[test]
    fn poll_timeouts_round_up() {
        let d = Deadline::start(Timeout::For(Duration::from_micros(1500)));
        let ms = d.poll_timeout_ms(None);
        assert!(ms == 1 || ms == 2, "{ms}");
        assert_eq!(d.poll_timeout_ms(Some(Duration::from_nanos(1))), 1);
    }

    #[test]
    fn the_monotonic_deadline_is_in_the_future() {
        let d = Deadline::start(Timeout::For(Duration::from_secs(10)));
        let at = d.monotonic_timespec().unwrap();
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        let delta = (at.tv_sec - now.tv_sec) as f64 + (at.tv_nsec - now.tv_nsec) as f64 / 1e9;
        assert!((9.9..=10.0).contains(&delta), "{delta}");
    }
}
