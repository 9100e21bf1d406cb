//! The process-level rules every backend shares: holding once, belonging to
//! the process that acquired, never acting in a forked child, and refusing a
//! wait that could never end.

use std::sync::{Mutex, PoisonError};

use crate::{
    backend::{Backend, BackendKind, Holder, LockSpec},
    deadline::{Deadline, Timeout},
    error::{Cause, Result},
    fork, LockName,
};

/// Resources held by `Lock` objects of this process, by fork generation and
/// resource key. Two objects of one process contend like two processes
/// would, which is right for bounded waits; an unbounded wait for a lock the
/// same single-threaded process holds could never end, so it is refused
/// instead of hanging.
static HELD_HERE: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());

fn held_here(key: u64) -> bool {
    let generation = fork::generation();
    HELD_HERE.lock().unwrap_or_else(PoisonError::into_inner).iter().any(|&(g, k)| g == generation && k == key)
}

fn note_held(key: u64) {
    HELD_HERE.lock().unwrap_or_else(PoisonError::into_inner).push((fork::generation(), key));
}

fn note_released(key: u64) {
    let generation = fork::generation();
    let mut held = HELD_HERE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(at) = held.iter().position(|&(g, k)| g == generation && k == key) {
        held.swap_remove(at);
    }
    // Entries of earlier generations belong to a parent process.
    held.retain(|&(g, _)| g == generation);
}

/// One number per backend resource, computed once per object.
fn resource_key(kind: BackendKind, resource: &str) -> u64 {
    crate::name::fnv1a64(format!("{kind}\0{resource}").as_bytes())
}

/// A named lock on one backend, owned by one object.
///
/// Dropping it releases the lock if this process acquired it. In a forked
/// child it never releases (the lock is the parent's) and reports not held.
pub struct Lock {
    spec: LockSpec,
    backend: Box<dyn Backend>,
    /// The fork generation the backend was opened in.
    generation: u64,
    /// Identifies the backend resource among those this process holds.
    key: u64,
    held: bool,
}

impl Lock {
    /// Opens a lock object; takes nothing yet.
    #[must_use]
    pub fn new(spec: LockSpec) -> Self {
        fork::watch_forks();
        let backend = spec.open();
        let key = resource_key(spec.kind, &spec.describe());
        Self { spec, backend, generation: fork::generation(), key, held: false }
    }

    #[must_use]
    pub fn name(&self) -> &LockName {
        &self.spec.name
    }

    #[must_use]
    pub fn kind(&self) -> BackendKind {
        self.spec.kind
    }

    #[must_use]
    pub fn spec(&self) -> &LockSpec {
        &self.spec
    }

    /// In a forked child, forgets the parent's lock and reopens the backend:
    /// the old one's descriptors were closed by the fork handler, and
    /// dropping it touches nothing.
    fn adopt_process(&mut self) {
        if self.generation != fork::generation() {
            self.held = false;
            self.backend = self.spec.open();
            self.generation = fork::generation();
        }
    }

    /// Whether this object holds the lock, as far as this process knows
    /// without asking anyone (a server may have dropped it since).
    #[must_use]
    pub fn is_held_locally(&self) -> bool {
        self.held && self.generation == fork::generation()
    }

    /// Takes the lock. `Ok(true)` once held (holding already counts, once),
    /// `Ok(false)` when the time ran out.
    ///
    /// # Errors
    ///
    /// Failures that are not contention; and an unbounded wait for a lock
    /// another object of this process holds, which could never end.
    pub fn acquire(&mut self, timeout: Timeout) -> Result<bool> {
        // A server may have dropped a lock this object took: asking it here
        // keeps `true` meaning "held now".
        if self.is_held()? {
            return Ok(true);
        }
        let deadline = Deadline::start(timeout);
        if deadline.is_forever() && held_here(self.key) {
            return Err(self.spec.context().failed(
                format!("wait for {}", self.spec.describe()),
                Cause::Refused(
                    "another Lock object of this process holds it, so waiting without a timeout would never end".into(),
                ),
            ));
        }
        let taken = self.backend.acquire(&deadline)?;
        if taken {
            note_held(self.key);
            self.held = true;
        }
        Ok(taken)
    }

    /// Gives the lock up. `Ok(true)` if this object held it and now does
    /// not; `Ok(false)` if it did not hold it (never, no more, lost, or this
    /// is a forked child).
    ///
    /// # Errors
    ///
    /// Only when the OS or server refuses the release itself.
    pub fn release(&mut self) -> Result<bool> {
        self.adopt_process();
        if !std::mem::take(&mut self.held) {
            return Ok(false);
        }
        note_released(self.key);
        self.backend.release()
    }

    /// Whether this object holds the lock now. For server-side locks this
    /// asks the server, and a lost lock reads as not held from then on.
    ///
    /// # Errors
    ///
    /// When the question cannot be asked (local backends never fail here).
    pub fn is_held(&mut self) -> Result<bool> {
        self.adopt_process();
        if !self.held {
            return Ok(false);
        }
        if self.backend.still_held()? {
            return Ok(true);
        }
        note_released(self.key);
        self.held = false;
        Ok(false)
    }

    /// Who holds the lock now, if anyone.
    ///
    /// # Errors
    ///
    /// When the system cannot be asked.
    pub fn holder(&mut self) -> Result<Option<Holder>> {
        self.adopt_process();
        self.backend.holder()
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if self.is_held_locally() {
            // Nobody is left to tell; the kernel or server frees the lock
            // anyway when the descriptor or connection closes just after.
            let _ = self.release();
        }
    }
}
