//! The process-level rules every backend shares: holding once, belonging to
//! the process that acquired, never acting in a forked child, and refusing a
//! wait that could never end.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Mutex, MutexGuard, PoisonError,
};

use crate::{
    backend::{Backend, BackendKind, Holder, LockSpec, Mode, ResourceId},
    deadline::{Deadline, Timeout},
    error::{Cause, Error, Result},
    fork, LockName,
};

/// Resources held by `Lock` objects of this process. Two objects of one
/// process contend like two processes would, which is right for bounded
/// waits; an unbounded wait for a resource this process holds could never
/// end, so it is refused instead of hanging. Resources are compared by
/// what they are, not how they were spelled (see [`ResourceId`]).
struct HeldHere {
    owner: u64,
    resource: ResourceId,
    mode: Mode,
}

static NEXT_THREAD: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static THIS_THREAD: u64 = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

/// Owners carry their thread in their top bits (objects never move between
/// PHP's threads): an entry needs no field of its own for it, which the
/// bookkeeping of every acquire and release would copy.
const THREAD_SHIFT: u32 = 40;

fn this_thread() -> u64 {
    THIS_THREAD.with(|id| *id)
}

/// What [`HELD_HERE`] guards: its entries and the fork generation they
/// belong to.
struct HeldInProcess {
    generation: u64,
    entries: Vec<HeldHere>,
}

static HELD_HERE: Mutex<HeldInProcess> = Mutex::new(HeldInProcess { generation: 0, entries: Vec::new() });

/// Tells apart the objects of this process in [`HELD_HERE`].
static NEXT_OWNER: AtomicU64 = AtomicU64::new(0);

fn held_here() -> MutexGuard<'static, HeldInProcess> {
    let mut held = HELD_HERE.lock().unwrap_or_else(PoisonError::into_inner);
    // The entries of an earlier generation are a parent process's holds,
    // all of them: one comparison per call, not one per entry.
    let generation = fork::generation();
    if held.generation != generation {
        held.entries.clear();
        held.generation = generation;
    }
    held
}

/// Whether the other objects of this process that hold `resource` (for a
/// group, `slots` > 1: any slot of it) leave no room for one more holder in
/// `mode` among `slots`.
fn shut_out_by_other_objects(owner: u64, resource: &ResourceId, mode: Mode, slots: u16) -> bool {
    let held = held_here();
    let mut others = held.entries.iter().filter(|h| h.owner != owner);
    match (mode, slots) {
        (Mode::Shared, _) => others.filter(|h| h.resource.conflicts_with(resource)).any(|h| h.mode == Mode::Exclusive),
        (Mode::Exclusive, 1) => others.any(|h| h.resource.conflicts_with(resource)),
        (Mode::Exclusive, _) => {
            others.filter(|h| h.resource.group().conflicts_with(resource.group())).count() >= usize::from(slots)
        }
    }
}

/// Whether another object holds `resource` shared in this thread: a writer
/// that waits then waits for that reader too, and a new reader that queued
/// behind the writer would wait for itself. Readers of other threads (ZTS)
/// are let go in their time, so a reader here queues as any other.
fn read_by_this_thread(owner: u64, resource: &ResourceId) -> bool {
    let thread = owner >> THREAD_SHIFT;
    held_here().entries.iter().any(|h| {
        h.owner != owner
            && h.owner >> THREAD_SHIFT == thread
            && h.mode == Mode::Shared
            && h.resource.conflicts_with(resource)
    })
}

fn note_held(owner: u64, resource: ResourceId, mode: Mode) {
    held_here().entries.push(HeldHere { owner, resource, mode });
}

fn note_released(owner: u64) {
    let mut held = held_here();
    if let Some(at) = held.entries.iter().position(|h| h.owner == owner) {
        held.entries.swap_remove(at);
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
    mode: Mode,
}

impl Lock {
    /// Opens a lock object; takes nothing yet.
    #[must_use]
    pub fn new(spec: LockSpec) -> Self {
        fork::watch_forks();
        let backend = spec.open();
        let owner = this_thread() << THREAD_SHIFT | NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
        Self { spec, backend, generation: fork::generation(), owner, held: false, mode: Mode::Exclusive }
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

    /// Takes the lock (with `slots` > 1, one of its slots). `Ok(true)` once
    /// held (holding already counts, once), `Ok(false)` when the time ran out.
    ///
    /// # Errors
    ///
    /// Failures that are not contention; holding it shared already; and an
    /// unbounded wait that other objects of this process shut out, which
    /// could never end.
    pub fn acquire(&mut self, timeout: Timeout) -> Result<bool> {
        self.acquire_as(Mode::Exclusive, timeout)
    }

    /// Takes the lock shared: together with other shared holders, never
    /// with an exclusive one.
    ///
    /// # Errors
    ///
    /// As [`Self::acquire`]; also [`Error::InvalidArgument`] for a lock with
    /// `slots` > 1, and a refusal from backends without a shared mode.
    pub fn acquire_shared(&mut self, timeout: Timeout) -> Result<bool> {
        if self.spec.slots > 1 {
            return Err(Error::invalid_argument(
                "option \"slots\"",
                format!("must be 1 for a lock held shared (a lock is counted or shared), {} given", self.spec.slots),
            ));
        }
        if !self.spec.kind.has_shared_mode() {
            return Err(self.spec.context().failed(
                "take it shared",
                Cause::Refused(format!(
                    "the {} backend has no shared mode (semaphore and flock have one)",
                    self.spec.kind
                )),
            ));
        }
        self.acquire_as(Mode::Shared, timeout)
    }

    fn acquire_as(&mut self, mode: Mode, timeout: Timeout) -> Result<bool> {
        // A server may have dropped a lock this object took: asking it here
        // keeps `true` meaning "held now".
        if self.is_held()? {
            if self.mode == mode {
                return Ok(true);
            }
            return Err(self.spec.context().failed(
                format!("take it {}", mode.as_str()),
                Cause::Refused(format!("this object holds it {}; release it first", self.mode.as_str())),
            ));
        }
        let deadline = Deadline::start(timeout);
        if deadline.is_forever()
            && shut_out_by_other_objects(self.owner, &self.backend.resource()?, mode, self.spec.slots)
        {
            let holders = match self.spec.slots {
                1 => "another Lock object of this process holds it".to_owned(),
                n => format!("Lock objects of this process hold all its {n} slots"),
            };
            return Err(self.spec.context().failed(
                format!("wait for {}", self.spec.describe()),
                Cause::Refused(format!("{holders}, so waiting without a timeout would never end")),
            ));
        }
        let taken = match mode {
            Mode::Exclusive => self.backend.acquire(&deadline)?,
            Mode::Shared => {
                let beside_our_reader = read_by_this_thread(self.owner, &self.backend.resource()?);
                self.backend.acquire_shared(&deadline, beside_our_reader)?
            }
        };
        if taken {
            self.held = true;
            self.mode = mode;
            note_held(self.owner, self.backend.resource()?, mode);
        }
        Ok(taken)
    }

    /// Whether this object holds the lock shared.
    #[must_use]
    pub fn is_shared(&self) -> bool {
        self.is_held_locally() && self.mode == Mode::Shared
    }

    /// The slot this object holds (0 for a lock with one slot), if any.
    #[must_use]
    pub fn slot(&self) -> Option<u16> {
        self.is_held_locally().then(|| self.backend.slot().unwrap_or(0))
    }

    /// Gives the lock up. `Ok(true)` if this object held it and now does
    /// not; `Ok(false)` if it did not hold it (never, no more, lost, or this
    /// is a forked child).
    ///
    /// # Errors
    ///
    /// Only when the OS or server refuses the release itself; the lock is
    /// then still held.
    pub fn release(&mut self) -> Result<bool> {
        self.adopt_process();
        if !std::mem::take(&mut self.held) {
            return Ok(false);
        }
        note_released(self.owner);
        match self.backend.release() {
            // Rebuilt rather than passed on: moving the whole `Result` (an
            // `Error` wide) cost every release a copy, 116 instructions.
            Ok(released) => Ok(released),
            Err(error) => {
                // Refused (a semaphore set this process may no longer
                // change): still held, until the process ends or a release
                // succeeds.
                self.held = true;
                note_held(self.owner, self.backend.resource()?, self.mode);
                Err(error)
            }
        }
    }

    /// Whether this object holds the lock now. For server-side locks this
    /// asks the server, and a lost lock reads as not held from then on.
    ///
    /// # Errors
    ///
    /// When the question cannot be asked (a server, or a semaphore set this
    /// process may no longer read, its user having changed).
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

    /// Every current holder, with its mode and slot.
    ///
    /// # Errors
    ///
    /// When the system cannot be asked.
    pub fn holders(&mut self) -> Result<Vec<Holder>> {
        self.adopt_process();
        let slots = self.spec.slots;
        let mut holders = self.backend.holders()?;
        if slots == 1 {
            for holder in &mut holders {
                holder.slot.get_or_insert(0);
            }
        }
        Ok(holders)
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
