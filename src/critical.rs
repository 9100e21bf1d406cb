//! The lock `Lock::synchronized()` holds while its callback runs, and how it
//! is let go when a fatal error (a `longjmp` to the engine's catch point)
//! jumps over the Rust frame that owns it.
//!
//! In the main code, ext-php-rs's `BailoutGuard` drops it at the catch point,
//! before the shutdown functions run. Its cleanup entries sit on one stack
//! per thread, which assumes that frames end in the order they began; a
//! Fiber breaks that: a fatal error in the main code, caught there, dropped
//! the lock of a Fiber suspended inside its own `synchronized()` callback
//! (the critical section still running, another process took the lock),
//! and when the Fiber resumed, it used the freed lock: PHP crashed (a
//! review's find). So inside a Fiber the lock lives in this thread's list
//! below instead, which a frame that completes takes it back from, and
//! the request's end empties: after a fatal error in a Fiber's callback,
//! the lock is held until the request ends (the shutdown functions run
//! before), not longer.

use std::cell::{Cell, RefCell};

use exakat_lock_core as core;
use ext_php_rs::zend::{BailoutGuard, ExecutorGlobals};

thread_local! {
    /// Locks of `synchronized()` calls running in Fibers, by call.
    static IN_FIBERS: RefCell<Vec<(u64, core::Lock)>> = const { RefCell::new(Vec::new()) };
    static NEXT_CALL: Cell<u64> = const { Cell::new(0) };
}

pub enum CriticalLock {
    /// In the main code.
    Guarded(BailoutGuard<core::Lock>),
    /// In a Fiber: the call's entry in [`IN_FIBERS`].
    InFiber(u64),
}

impl CriticalLock {
    pub fn new(lock: core::Lock) -> Self {
        if ExecutorGlobals::get().active_fiber.is_null() {
            return Self::Guarded(BailoutGuard::new(lock));
        }
        let call = NEXT_CALL.with(|next| next.replace(next.get() + 1));
        IN_FIBERS.with(|locks| locks.borrow_mut().push((call, lock)));
        Self::InFiber(call)
    }

    /// Runs `use_it` on the lock; `None` when the request's end has let it
    /// go already (a Fiber that is resumed after it). `use_it` must not
    /// call PHP code.
    pub fn with<R>(&mut self, use_it: impl FnOnce(&mut core::Lock) -> R) -> Option<R> {
        match self {
            Self::Guarded(lock) => Some(use_it(lock)),
            Self::InFiber(call) => IN_FIBERS.with(|locks| {
                let mut locks = locks.borrow_mut();
                locks.iter_mut().find(|(id, _)| id == call).map(|(_, lock)| use_it(lock))
            }),
        }
    }

    /// Releases the lock, as [`core::Lock::release`]; `Ok(false)` when the
    /// request's end let it go already.
    pub fn release(&mut self) -> core::Result<bool> {
        match self {
            Self::Guarded(lock) => lock.release(),
            Self::InFiber(call) => take(*call).map_or(Ok(false), |mut lock| lock.release()),
        }
    }
}

impl Drop for CriticalLock {
    /// A call that returns early (its time ran out, an error) leaves no
    /// entry behind: a Fiber-based server that lives for one request would
    /// gather one lock and its descriptors per call.
    fn drop(&mut self) {
        if let Self::InFiber(call) = self {
            drop(take(*call)); // dropping a core::Lock releases it
        }
    }
}

/// Takes the lock of `call` out of [`IN_FIBERS`].
fn take(call: u64) -> Option<core::Lock> {
    IN_FIBERS.with(|locks| {
        let mut locks = locks.borrow_mut();
        let at = locks.iter().position(|(id, _)| *id == call)?;
        Some(locks.swap_remove(at).1)
    })
}

/// RSHUTDOWN: lets go the locks of `synchronized()` calls in Fibers that a
/// fatal error ended (their frames will never run again).
pub fn release_those_left_in_fibers() {
    let left = IN_FIBERS.with(|locks| std::mem::take(&mut *locks.borrow_mut()));
    drop(left); // dropping a core::Lock releases it
}
