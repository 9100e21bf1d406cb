//! Fork safety, designed in.
//!
//! `exec()` is covered by `O_CLOEXEC`/`SOCK_CLOEXEC` on every descriptor. A
//! plain `fork()` (`pcntl_fork()`) copies descriptors into the child, and a
//! lock held through a descriptor (socket, tcp, flock, a MySQL connection)
//! would then stay held for as long as the child lives, even after the
//! parent has exited. So every descriptor that backs a lock is registered
//! here, and a `pthread_atfork` child handler closes them all in the child
//! before it runs any PHP code. The parent's copies are untouched, and so is
//! the lock.
//!
//! The child handler also bumps a fork generation. Objects remember the
//! generation they were made in; in a later generation they are inert: they
//! never release, never touch the closed descriptor numbers (which the child
//! may reuse), and never run destructors that talk to a server over a socket
//! the parent still uses.
//!
//! SysV semaphores need none of this: the kernel does not copy `SEM_UNDO`
//! adjustments into a child, which therefore never holds the semaphore.

use std::{
    mem::ManuallyDrop,
    ops::{Deref, DerefMut},
    os::fd::{AsRawFd, RawFd},
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering},
        Mutex, Once, PoisonError,
    },
};

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Descriptors to close in a forked child. Only the PHP thread ever locks
/// this mutex, and never across a call that could fork, so the child always
/// finds it unlocked.
static CHILD_CLOSES: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

static INSTALL: Once = Once::new();

/// The fork generation of this process: 0 in the process that loaded the
/// library, incremented in each forked child.
#[must_use]
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// This process's id, 0 until asked. glibc no longer caches `getpid()`,
/// and the semaphore backend asks on every release.
static PID: AtomicU32 = AtomicU32::new(0);

/// This process's id without a system call once known; a forked child
/// asks again (the child handler forgets the parent's).
#[must_use]
pub fn pid() -> u32 {
    match PID.load(Ordering::Relaxed) {
        0 => {
            watch_forks();
            let pid = std::process::id();
            PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// Makes sure forks are noticed: installs the child handler once per process.
pub(crate) fn watch_forks() {
    INSTALL.call_once(|| {
        // glibc's pthread_atfork records the calling library, so the handler
        // is unregistered if PHP ever unloads the extension; nothing dangles.
        // SAFETY: `in_child_after_fork` is a plain extern "C" fn that lives as
        // long as this library is loaded.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(in_child_after_fork)) };
        // ENOMEM is the only documented failure; without the handler no lock
        // could be kept fork-safe, so refuse to go on silently.
        assert_eq!(rc, 0, "pthread_atfork failed: {}", std::io::Error::from_raw_os_error(rc));
    });
}

/// Runs in the child between `fork()` and its return. Only async-signal-safe
/// work: `close(2)` and atomics. The vector's memory is not touched beyond
/// reading it; `set_len` frees nothing.
extern "C" fn in_child_after_fork() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
    PID.store(0, Ordering::Relaxed);
    let mut fds = match CHILD_CLOSES.try_lock() {
        Ok(guard) => guard,
        Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        // Unreachable by the invariant above; leaving descriptors open is the
        // only safe choice in a child that cannot block.
        Err(std::sync::TryLockError::WouldBlock) => return,
    };
    for &fd in fds.iter() {
        // SAFETY: closing a descriptor number the parent registered; the
        // child's copy is what we must drop. Errors are meaningless here.
        unsafe { libc::close(fd) };
    }
    // SAFETY: RawFd is Copy, so shortening the vector drops nothing.
    unsafe { fds.set_len(0) };
}

fn register(fd: RawFd) {
    watch_forks();
    CHILD_CLOSES.lock().unwrap_or_else(PoisonError::into_inner).push(fd);
}

fn unregister(fd: RawFd) {
    let mut fds = CHILD_CLOSES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(at) = fds.iter().rposition(|&f| f == fd) {
        fds.swap_remove(at);
    }
}

/// Owns a descriptor-backed value (a socket, a file, a database connection)
/// so that a forked child never keeps it open and never drops it.
///
/// In the generation that made it, dropping it drops the value. In a forked
/// child the descriptor is already closed, so the value is leaked instead:
/// its destructor would close a number the child may have reused, or tell a
/// server to end the parent's session.
#[derive(Debug)]
pub struct ForkSafe<T: AsRawFd> {
    value: ManuallyDrop<T>,
    generation: u64,
}

impl<T: AsRawFd> ForkSafe<T> {
    pub fn new(value: T) -> Self {
        register(value.as_raw_fd());
        Self { value: ManuallyDrop::new(value), generation: generation() }
    }

    /// Whether the value is usable: false in a forked child.
    #[must_use]
    pub fn is_ours(&self) -> bool {
        self.generation == generation()
    }

    /// The value, no longer closed in forked children; `None` in a forked
    /// child, where it was closed already.
    pub fn into_inner(self) -> Option<T> {
        let mut this = ManuallyDrop::new(self);
        if !this.is_ours() {
            return None;
        }
        unregister(this.value.as_raw_fd());
        // SAFETY: `this` is never dropped, so the value is taken exactly once.
        Some(unsafe { ManuallyDrop::take(&mut this.value) })
    }
}

impl<T: AsRawFd> Deref for ForkSafe<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: AsRawFd> DerefMut for ForkSafe<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: AsRawFd> Drop for ForkSafe<T> {
    fn drop(&mut self) {
        if self.is_ours() {
            unregister(self.value.as_raw_fd());
            // SAFETY: dropped exactly once, here; `value` is never used again.
            unsafe { ManuallyDrop::drop(&mut self.value) };
        }
    }
}
