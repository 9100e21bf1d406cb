//! The process-level rules every backend shares: holding once, belonging to
//! the process that acquired, never acting in a forked child, and refusing a
//! wait that could never end.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Mutex, MutexGuard, PoisonError,
};

use crate::{
    backend::{Backend, BackendKind, Holder, LockSpec, ResourceId},
    deadline::{Deadline, Timeout},
    error::{Cause, Result},
    fork, LockName,
};

/// Resources held by `Lock` objects of this process. Two objects of one
/// process contend like two processes would, which is right for bounded
/// waits; an unbounded wait for a resource this process holds could never
/// end, so it is refused instead of hanging. Resources are compared by
/// what they are, not how they were spelled (see [`ResourceId`]).
struct HeldHere {
    generation: u64,
    owner: u64,
    resource: ResourceId,
}

static HELD_HERE: Mutex<Vec<HeldHere>> = Mutex::new(Vec::new());

/// Tells apart the objects of this process in [`HELD_HERE`].
static NEXT_OWNER: AtomicU64 = AtomicU64::new(0);

fn held_here() -> MutexGuard<'static, Vec<HeldHere>> {
    let mut held = HELD_HERE.lock().unwrap_or_else(PoisonError::into_inner);
    // Entries of earlier generations belong to a parent process.
    let generation = fork::generation();
    held.retain(|h| h.generation == generation);
    held
}

fn held_by_another_object(owner: u64, resource: &ResourceId) -> bool {
    held_here().iter().any(|h| h.owner != owner && h.resource.conflicts_with(resource))
}

fn note_held(owner: u64, resource: ResourceId) {
    held_here().push(HeldHere { generation: fork::generation(), owner, resource });
}

fn note_released(owner: u64) {
    let mut held = held_here();
    if let Some(at) = held.iter().position(|h| h.owner == owner) {
        held.swap_remove(at);
    }
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
    /// Identifies this object in [`HELD_HERE`].
    owner: u64,
    held: bool,
}

impl Lock {
    /// Opens a lock object; takes nothing yet.
    #[must_use]
    pub fn new(spec: LockSpec) -> Self {
        fork::watch_forks();
        let backend = spec.open();
        let owner = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
        Self { spec, backend, generation: fork::generation(), owner, held: false }
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
        if deadline.is_forever() && held_by_another_object(self.owner, &self.backend.resource()?) {
            return Err(self.spec.context().failed(
                format!("wait for {}", self.spec.describe()),
                Cause::Refused(
                    "another Lock object of this process holds it, so waiting without a timeout would never end".into(),
                ),
            ));
        }
        let taken = self.backend.acquire(&deadline)?;
        if taken {
            self.held = true;
            note_held(self.owner, self.backend.resource()?);
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
        note_released(self.owner);
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
        note_released(self.owner);
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
