//! `semaphore`: SysV semaphores, driven with `semop(2)` directly, so no
//! ext-sysvsem is needed.
//!
//! Every hold is one atomic `semop` with `SEM_UNDO`: the kernel gives it
//! back when the holder dies, however it dies, and never copies it into a
//! forked child. Waiting sleeps in `semtimedop`; the kernel completes a
//! queued waiter's operation itself, in arrival order, the moment it can,
//! so a releaser cannot barge back in ahead of a waiter. A set is laid out
//! for what the lock is, and its size says which (see `Layout`):
//!
//! - one holder (exclusive or shared), 4 semaphores: `WRITER` (0 or 1),
//!   `READERS` (the shared holders), `WRITERS` (writers holding or
//!   waiting). Nothing needs initialising (Linux creates semaphores at 0),
//!   so creators cannot race. An exclusive holder takes
//!   `WRITER == 0, READERS == 0, WRITER += 1, WRITERS += 1` in one step; a
//!   writer that must wait first adds itself to `WRITERS`, which keeps new
//!   readers out (`WRITERS == 0, READERS += 1`): a stream of readers never
//!   starves a writer. Writers go first; readers wait behind a stream of
//!   writers.
//! - N slots, N + 4 semaphores: `FREE` (free slots), `READY`, and one
//!   semaphore per slot. `FREE` must start at N, so the process that
//!   creates the set (`IPC_EXCL`) sets it and `READY` in one operation, and
//!   the others wait for `READY` (a set whose creator died before that is
//!   removed: nobody can hold anything in it). A holder takes
//!   `FREE -= 1`, which sleeps while none is free, then marks one free
//!   slot's semaphore, which says who holds it.
//!
//! One gap remains: `SEM_UNDO` adjustments survive `execve(2)`, so a
//! program that replaces the PHP process (`pcntl_exec()`) would keep its
//! semaphores until it exits. [`give_back_before_exec`] closes it: the
//! binding calls it just before such an exec, and
//! [`take_back_after_failed_exec`] if the exec fails.
//!
//! Sets are created `0600`: other users can neither take nor reset them. An
//! object that held the lock removes the set when it is destroyed, if it can
//! take every hold itself then and sees no waiter, so a set is never removed
//! under a holder; anyone who still had its id gets `EIDRM`/`EINVAL` and
//! starts over on a new set. Only a crash can leave a set behind, never a
//! held one.

use std::{
    io,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, PoisonError,
    },
    time::Duration,
};

use super::{is_trusted_owner, option_error, Backend, Context, Holder, HolderValue, ResourceId};
use crate::{
    deadline::{Deadline, Timeout},
    error::{Cause, Error, Result},
    fork,
    options::Options,
    LockName,
};

const SET_MODE: libc::c_int = 0o600;

extern "C" {
    // In glibc since 2.3.3; the libc crate does not declare it.
    fn semtimedop(
        semid: libc::c_int,
        sops: *mut libc::sembuf,
        nsops: libc::size_t,
        timeout: *const libc::timespec,
    ) -> libc::c_int;
}

#[derive(Clone, Debug)]
pub(crate) struct Config {
    key: libc::key_t,
    slots: u16,
}

impl Config {
    pub(crate) fn new(name: &LockName, options: &Options, slots: u16) -> Result<Self> {
        let key = match options.int("key")? {
            None => key_for(name),
            Some(key) => libc::key_t::try_from(key)
                .ok()
                .filter(|&k| k != libc::IPC_PRIVATE && k != -1)
                .ok_or_else(|| {
                    option_error(
                        "key",
                        format!("must be a 32-bit SysV key other than 0 (IPC_PRIVATE) and -1 (what a failed ftok() returns), {key} given"),
                    )
                })?,
        };
        Ok(Self { key, slots })
    }

    pub(crate) fn describe(&self) -> String {
        format!("SysV semaphore key {:#010x}", self.key)
    }

    /// The lock a set of `semaphores` semaphores found under `key` stands
    /// for, if it has one of our layouts.
    pub(crate) fn for_set(key: i64, semaphores: i64) -> Option<Self> {
        let key = libc::key_t::try_from(key).ok()?;
        let slots = match semaphores {
            4 => 1,
            n => u16::try_from(n - i64::from(HEADER)).ok().filter(|&slots| slots > 1)?,
        };
        Some(Self { key, slots })
    }

    /// The size of this lock's set: it tells the layouts apart.
    fn semaphores(&self) -> libc::c_int {
        libc::c_int::from(if self.slots == 1 { HEADER } else { HEADER + self.slots })
    }
}

/// What the checks read of a set's `IPC_STAT`: a few words that travel in
/// registers, where a whole `semid_ds` (104 bytes) was zeroed and copied
/// on every acquire.
#[derive(Clone, Copy)]
struct SetInfo {
    /// The key the set was made with.
    key: libc::key_t,
    uid: libc::uid_t,
    cuid: libc::uid_t,
    mode: u32,
    semaphores: u64,
    /// The last `semop`, in seconds since the epoch; 0 for never.
    last_op: libc::time_t,
    /// When the set was made (or last reset or re-permissioned, which a
    /// holder must hear of too): with the key, what tells a set from the
    /// one that later gets the same id.
    changed: libc::time_t,
}

impl SetInfo {
    // The field types differ between glibc and musl.
    #[allow(clippy::useless_conversion)]
    fn of(info: &libc::semid_ds) -> Self {
        #[cfg(target_env = "musl")]
        #[allow(deprecated)] // renamed `__key` in a later libc
        let key = info.sem_perm.__ipc_perm_key;
        #[cfg(not(target_env = "musl"))]
        let key = info.sem_perm.__key;
        Self {
            key,
            uid: info.sem_perm.uid,
            cuid: info.sem_perm.cuid,
            mode: u32::from(info.sem_perm.mode),
            semaphores: u64::from(info.sem_nsems),
            last_op: info.sem_otime,
            changed: info.sem_ctime,
        }
    }
}

/// The key derived from a name: 32 bits of its hash, never 0 or -1.
fn key_for(name: &LockName) -> libc::key_t {
    let hash = name.hash64();
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    let key = (hash ^ (hash >> 32)) as u32 as libc::key_t;
    if key == libc::IPC_PRIVATE || key == -1 {
        1
    } else {
        key
    }
}

// The one-holder layout.
const WRITER: u16 = 0;
const READERS: u16 = 1;
/// Writers holding or waiting: while it is not 0, no reader gets in.
const WRITERS: u16 = 2;
// The slots layout.
const FREE: u16 = 0;
const READY: u16 = 1;
/// Semaphores before the slots'; the one-holder layout is only these. A
/// fourth, unused, keeps that layout's size apart from ext-sysvsem's sets
/// of three.
const HEADER: u16 = 4;

const fn op(sem_num: u16, sem_op: libc::c_short, flags: libc::c_int) -> libc::sembuf {
    #[allow(clippy::cast_possible_truncation)]
    libc::sembuf { sem_num, sem_op, sem_flg: flags as libc::c_short }
}

const UNDO: libc::c_int = libc::SEM_UNDO;
const NOWAIT: libc::c_int = libc::IPC_NOWAIT;

/// What one object holds in a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    Exclusive,
    Shared,
    Slot(u16),
}

/// Up to four operations, applied by one `semop` atomically.
struct Ops {
    list: [libc::sembuf; 4],
    len: usize,
}

impl Ops {
    // Inlined, the constant operations of a take or give-back become
    // stores instead of a `memcpy` call (opt-level "z" would not inline).
    #[inline(always)]
    fn of(ops: &[libc::sembuf]) -> Self {
        let mut list = [op(0, 0, 0); 4];
        list[..ops.len()].copy_from_slice(ops);
        Self { list, len: ops.len() }
    }
}

impl Hold {
    /// Takes this hold without waiting.
    #[inline(always)]
    fn take(self) -> Ops {
        match self {
            Self::Exclusive => {
                Ops::of(&[op(WRITER, 0, NOWAIT), op(READERS, 0, NOWAIT), op(WRITER, 1, UNDO), op(WRITERS, 1, UNDO)])
            }
            Self::Shared => Ops::of(&[op(WRITERS, 0, NOWAIT), op(READERS, 1, UNDO)]),
            Self::Slot(k) => {
                Ops::of(&[op(FREE, -1, UNDO | NOWAIT), op(HEADER + k, 0, NOWAIT), op(HEADER + k, 1, UNDO)])
            }
        }
    }

    /// Gives it back; never waits.
    #[inline(always)]
    fn give_back(self) -> Ops {
        match self {
            Self::Exclusive => Ops::of(&[op(WRITER, -1, UNDO | NOWAIT), op(WRITERS, -1, UNDO | NOWAIT)]),
            Self::Shared => Ops::of(&[op(READERS, -1, UNDO | NOWAIT)]),
            Self::Slot(k) => Ops::of(&[op(HEADER + k, -1, UNDO | NOWAIT), op(FREE, 1, UNDO)]),
        }
    }

    /// A semaphore that this hold's give-back changes, and that every take
    /// of a hold it excludes changes too: while its last pid is still ours
    /// after a give-back, nobody took what we gave back.
    fn witness(self) -> u16 {
        match self {
            Self::Exclusive => WRITERS,
            // Readers do not exclude each other: their takes leave `WRITER`
            // alone, every writer's changes it.
            Self::Shared => WRITER,
            Self::Slot(k) => HEADER + k,
        }
    }

    /// Gives it back before an exec, changing the [witness](Self::witness)
    /// (a zero test changes a semaphore's last pid too): a shared give-back
    /// otherwise leaves `WRITER` alone.
    #[inline(always)]
    fn give_back_for_exec(self) -> Ops {
        match self {
            Self::Shared => Ops::of(&[op(READERS, -1, UNDO | NOWAIT), op(WRITER, 0, NOWAIT)]),
            other => other.give_back(),
        }
    }

    /// The semaphore that is 1, and last changed by the holder, while this
    /// hold is held; shared holds have none of their own.
    fn own_semaphore(self) -> Option<u16> {
        match self {
            Self::Exclusive => Some(WRITER),
            Self::Shared => None,
            Self::Slot(k) => Some(HEADER + k),
        }
    }
}

/// Every hold this process has, by fork generation and holding object, for
/// the exec hooks; `lost` marks a hold given back for an exec that then
/// failed, and taken by someone else before it could be taken back.
struct HeldSet {
    generation: u64,
    owner: u64,
    set_id: libc::c_int,
    /// Which set `set_id` named when the hold was taken: after an `ipcrm`,
    /// the id comes round to another set (64 × 65,536 creations here, which
    /// any user can make in seconds), where a give-back would take another
    /// lock's hold.
    set: SetIdentity,
    /// When, on the coarse monotonic clock ([`coarse_now`]).
    taken: Duration,
    hold: Hold,
    lost: bool,
}

/// No id comes round sooner than this after its set was made: Linux (from
/// 4.17) hands an index out again after at least 64 others, each time with
/// a 16-bit sequence number one higher, so 4 million creations and
/// removals come between (65,536 on older kernels), each a system call
/// pair under the namespace's ids lock, a microsecond at least. Only a
/// process with `CAP_CHECKPOINT_RESTORE` (`sem_next_id`) can name the next
/// id, and root can break any lock anyway (no other user can even remove
/// our `0600` sets). A hold younger than this is asked no identity: it
/// costs a release an `IPC_STAT` otherwise (0.92 against 0.74 µs per cycle
/// in the bench run without the floor); nor is a set checked less than
/// this long ago checked again at acquire (0.93 against 0.76 µs per cycle,
/// medians of 5 alternating runs of 300,000). Measured on the coarse
/// clock, a tick (1-4 ms) may be missed: still far below the millions of
/// creations.
const ID_REUSE_FLOOR: Duration = Duration::from_millis(10);

impl HeldSet {
    /// Whether `set_id` still names the set the hold was taken in;
    /// `Err(EACCES)` when this process may no longer read it.
    fn in_its_set(&self) -> std::result::Result<bool, i32> {
        if coarse_now().saturating_sub(self.taken) < ID_REUSE_FLOOR {
            return Ok(true);
        }
        self.identity_check()
    }

    /// [`Self::in_its_set`] without the floor. A set we may not read is
    /// still ours only if our key still names that id (`semget` asks no
    /// permission): then this process changed its user. Otherwise the id
    /// came round to another user's set after an `ipcrm`: the hold is lost.
    fn identity_check(&self) -> std::result::Result<bool, i32> {
        match self.set.is_at(self.set_id) {
            // SAFETY: plain syscall; no permission asked.
            Err(errno) if unsafe { libc::semget(self.set.key, 0, 0) } == self.set_id => Err(errno),
            Err(_) => Ok(false),
            checked => checked,
        }
    }
}

/// `CLOCK_MONOTONIC_COARSE`: read from the vDSO without the timestamp
/// counter, cheaper than `Instant::now()`, which two reads per acquire +
/// release would otherwise add (about 200 instructions, callgrind).
fn coarse_now() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &raw mut now) };
    Duration::new(u64::try_from(now.tv_sec).unwrap_or(0), u32::try_from(now.tv_nsec).unwrap_or(0))
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct SetIdentity {
    key: libc::key_t,
    changed: libc::time_t,
}

impl SetIdentity {
    fn of(info: &SetInfo) -> Self {
        Self { key: info.key, changed: info.changed }
    }

    /// Whether `id` still names this set (one `IPC_STAT`).
    fn is_at(self, id: libc::c_int) -> std::result::Result<bool, i32> {
        match set_info(id) {
            Ok(info) => Ok(Self::of(&info) == self),
            Err(libc::EACCES) => Err(libc::EACCES),
            Err(_) => Ok(false), // gone
        }
    }
}

/// A set's `IPC_STAT`, or the error: `EINVAL` or `EIDRM` when it is gone,
/// `EACCES` when this process may not read it (another user's set, or
/// ours after this process changed its user).
fn set_info(id: libc::c_int) -> std::result::Result<SetInfo, i32> {
    let mut info = std::mem::MaybeUninit::<libc::semid_ds>::uninit();
    // SAFETY: IPC_STAT takes a pointer to a semid_ds as its fourth
    // argument, and fills all of it when it succeeds.
    if unsafe { libc::semctl(id, 0, libc::IPC_STAT, info.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL));
    }
    // SAFETY: filled by the successful call above.
    Ok(SetInfo::of(unsafe { info.assume_init_ref() }))
}

/// Tells apart the objects of one process in [`HELD_SETS`].
static NEXT_OWNER: AtomicU64 = AtomicU64::new(0);

static HELD_SETS: Mutex<Vec<HeldSet>> = Mutex::new(Vec::new());

fn held_sets() -> std::sync::MutexGuard<'static, Vec<HeldSet>> {
    HELD_SETS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Gives back every semaphore this process holds: the kernel would carry
/// their `SEM_UNDO` adjustments into the program about to replace this one.
///
/// # Errors
///
/// Gives nothing back, and names the sets, when this process may no
/// longer change one of them (it changed its user since it took the
/// lock): the exec must not happen, or the new program would hold it.
pub fn give_back_before_exec() -> std::result::Result<(), String> {
    let generation = fork::generation();
    let mut held = held_sets();
    let mut ours: Vec<(&mut HeldSet, std::result::Result<bool, i32>)> = held
        .iter_mut()
        .filter(|h| h.generation == generation && !h.lost)
        .map(|h| {
            let in_its_set = h.identity_check();
            (h, in_its_set)
        })
        .collect();
    let unchangeable: Vec<String> = ours
        .iter()
        .filter(|(_, in_its_set)| in_its_set.is_err())
        .map(|(h, _)| format!("{:#010x}", h.set.key))
        .collect();
    if !unchangeable.is_empty() {
        return Err(format!(
            "the semaphore lock with key {} cannot be given back before the exec: this process may no longer change its set (its user changed since it took the lock), and the new program would hold the lock until it exits; release it before changing user",
            unchangeable.join(", ")
        ));
    }
    for (held, in_its_set) in &mut ours {
        if *in_its_set != Ok(true) {
            held.lost = true; // removed: there is nothing of ours to give back
            continue;
        }
        let mut ops = held.hold.give_back_for_exec();
        // SAFETY: plain syscalls; failure means the set is gone already, or
        // (a shared hold's `WRITER` not 0) was reset under us: then the
        // plain give-back, so that nothing reaches the new program.
        unsafe {
            if semtimedop(held.set_id, ops.list.as_mut_ptr(), ops.len, std::ptr::null()) != 0 {
                let mut plain = held.hold.give_back();
                semtimedop(held.set_id, plain.list.as_mut_ptr(), plain.len, std::ptr::null());
            }
        }
    }
    Ok(())
}

/// The exec failed and this process goes on: takes the semaphores back, and
/// marks as lost (held: false) those someone else took in between, even if
/// they gave them back again: our critical section went on meanwhile. A
/// take in the two system calls between the look and our take is not seen.
pub fn take_back_after_failed_exec() {
    let generation = fork::generation();
    for held in held_sets().iter_mut().filter(|h| h.generation == generation && !h.lost) {
        if held.in_its_set() != Ok(true) {
            held.lost = true;
            continue;
        }
        // SAFETY: GETPID takes no fourth argument.
        let witness = unsafe { libc::semctl(held.set_id, libc::c_int::from(held.hold.witness()), libc::GETPID) };
        if u32::try_from(witness).ok() != Some(fork::pid()) {
            held.lost = true;
            continue;
        }
        let mut ops = held.hold.take();
        // SAFETY: plain syscall.
        held.lost = unsafe { semtimedop(held.set_id, ops.list.as_mut_ptr(), ops.len, std::ptr::null()) } != 0;
    }
}

pub(crate) struct Semaphore {
    context: Context,
    config: Config,
    /// The id of the set last checked by [`Self::check_set`]; looked at
    /// again (`IPC_STAT`) before use, at acquire only once 10 ms have
    /// passed, and a new id is checked before use.
    set_id: Option<libc::c_int>,
    /// Which set that was, as that check read it.
    set: Option<SetIdentity>,
    /// When that check was made, on the coarse clock: within
    /// [`ID_REUSE_FLOOR`] of it, the id still names that set.
    checked: Duration,
    generation: u64,
    owner: u64,
    /// The slot held, with `slots` > 1.
    slot: Option<u16>,
    /// Only an object that took the lock removes its set when dropped: one
    /// that merely asked (`holder()`) must not take the lock, even briefly,
    /// from under a process trying it at that moment.
    ever_held: bool,
}

/// The outcome of one `semop` call.
enum Outcome {
    Done,
    /// Contention (or, for a timed wait, the time ran out).
    Busy,
    /// The set disappeared; look it up again.
    Gone,
    Interrupted,
}

/// Passes over the slots after `FREE -= 1` before the set is taken for one
/// changed by hand: far more than churn can defeat, far fewer than a spin.
const MARK_PASSES: u32 = 1000;

/// A slots set whose creator has not set its count after this long died
/// before it could: nobody can hold anything in it, so it is removed.
const UNREADY_GRACE: Duration = Duration::from_secs(1);
const READY_NAP: Duration = Duration::from_millis(1);

/// Whether a slots set's count is set (see [`Semaphore::wait_ready`]).
enum Readiness {
    Ready,
    /// Removed, or found abandoned and removed now.
    Gone,
    /// Still being made when the deadline came.
    NotYet,
}

/// Seconds since the epoch, as a set's `sem_ctime` counts them.
fn coarse_wall_clock() -> libc::time_t {
    // SAFETY: time() accepts a null pointer.
    unsafe { libc::time(std::ptr::null_mut()) }
}

impl Semaphore {
    pub(crate) fn new(context: Context, config: Config) -> Self {
        let owner = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
        Self {
            context,
            config,
            set_id: None,
            set: None,
            checked: Duration::ZERO,
            generation: fork::generation(),
            owner,
            slot: None,
            ever_held: false,
        }
    }

    /// The id of our key's set, checked: a remembered id may have been
    /// removed and, after enough creations, reused by another set, even one
    /// another user made with our key. One `IPC_STAT` of the remembered id
    /// tells all that `semget` would, and who owns the set too. `None`:
    /// there is no set (`holder()`: `create` false), or a slots set that is
    /// still being made when `deadline` comes, in which nobody holds a thing.
    fn set_id(&mut self, create: bool, deadline: &Deadline) -> Result<Option<libc::c_int>> {
        if let Some(id) = self.set_id {
            // For an acquire (`create`), a set checked just now: no other set
            // can have its id yet, and only its owner (us) or root can have
            // changed its owner or mode; a removal shows in the `semop`
            // itself (`EIDRM`). `holder()` makes no `semop`: it always looks.
            let now = coarse_now();
            if create && now.saturating_sub(self.checked) < ID_REUSE_FLOOR {
                return Ok(Some(id));
            }
            match set_info(id) {
                Ok(info) if info.key == self.config.key => {
                    self.check_set(id, &info)?;
                    let readiness =
                        if self.config.slots == 1 { Readiness::Ready } else { self.wait_ready(id, deadline) };
                    match readiness {
                        Readiness::Ready => {
                            self.set = Some(SetIdentity::of(&info));
                            self.checked = now;
                            return Ok(Some(id));
                        }
                        Readiness::NotYet => return Ok(None),
                        Readiness::Gone => {}
                    }
                }
                _ => {} // gone, or another key's now
            }
            self.set_id = None;
        }
        self.look_up_set(create, deadline)
    }

    fn look_up_set(&mut self, create: bool, deadline: &Deadline) -> Result<Option<libc::c_int>> {
        let semaphores = self.config.semaphores();
        loop {
            // Asking for our permissions when about to use the set: another
            // user's set is then EACCES, refused below with its reason.
            let wanted = if create { SET_MODE } else { 0 };
            // SAFETY: plain syscall wrapper.
            let mut id = unsafe { libc::semget(self.config.key, 0, wanted) };
            let mut created = false;
            if id < 0 && create && io::Error::last_os_error().raw_os_error() == Some(libc::ENOENT) {
                // Exclusive creation, so that exactly one process sets a
                // slots set's count (the one-holder layout needs nothing).
                // SAFETY: as above.
                id = unsafe { libc::semget(self.config.key, semaphores, libc::IPC_CREAT | libc::IPC_EXCL | SET_MODE) };
                created = id >= 0;
                if id < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EEXIST) {
                    continue; // made by another process just now
                }
            }
            if id < 0 {
                let error = io::Error::last_os_error();
                return match error.raw_os_error() {
                    Some(libc::ENOENT) if !create => Ok(None),
                    Some(libc::EACCES) => Err(self.another_users_set()),
                    _ => Err(self.context.os(format!("create {}", self.config.describe()), error)),
                };
            }
            if created && self.config.slots > 1 {
                let mut ready =
                    [op(FREE, i16::try_from(self.config.slots).expect("at most MAX_SLOTS"), 0), op(READY, 1, 0)];
                if !matches!(self.semop(id, &mut ready, None)?, Outcome::Done) {
                    continue; // removed at once by someone else
                }
            }
            let info = match set_info(id) {
                Ok(info) => info,
                // Asked without permissions (`holder()`): another user's set.
                Err(libc::EACCES) => return Err(self.another_users_set()),
                Err(_) => continue, // removed meanwhile
            };
            self.check_set(id, &info)?;
            if self.config.slots > 1 {
                match self.wait_ready(id, deadline) {
                    Readiness::Ready => {}
                    Readiness::NotYet => return Ok(None),
                    Readiness::Gone => continue,
                }
            }
            self.set_id = Some(id);
            self.set = Some(SetIdentity::of(&info));
            self.checked = coarse_now();
            return Ok(Some(id));
        }
    }

    /// Waits, until `deadline` at most (creation and setting the count are
    /// two system calls in a row), for a slots set to be ready. A set that
    /// has stayed unready for [`UNREADY_GRACE`] (waited here, or by its age)
    /// lost its creator before it could set the count: it is removed. The
    /// wait once took the whole grace whatever the deadline: `acquire(0)`
    /// and `holder()` blocked a second behind a creator a debugger held
    /// between the two calls (a review's find).
    fn wait_ready(&self, id: libc::c_int, deadline: &Deadline) -> Readiness {
        let started = std::time::Instant::now();
        loop {
            match self.stat(id, READY, libc::GETVAL) {
                1 => return Readiness::Ready,
                0 => {}
                _ => return Readiness::Gone,
            }
            let info = set_info(id);
            let never_operated = info.as_ref().is_ok_and(|info| info.last_op == 0);
            let old = info.as_ref().is_ok_and(|info| {
                let age = coarse_wall_clock().saturating_sub(info.changed);
                u64::try_from(age).is_ok_and(|age| age > UNREADY_GRACE.as_secs())
            });
            if started.elapsed() >= UNREADY_GRACE || old {
                if never_operated {
                    // SAFETY: IPC_RMID takes no fourth argument.
                    unsafe { libc::semctl(id, 0, libc::IPC_RMID) };
                }
                return Readiness::Gone;
            }
            if deadline.expired() {
                return Readiness::NotYet;
            }
            std::thread::sleep(deadline.remaining().map_or(READY_NAP, |left| left.min(READY_NAP)));
        }
    }

    /// Refuses a set that another user made or may write: its owner could
    /// reset it (`SETVAL`, `IPC_RMID`) under a holder and so make two; and a
    /// set of another layout, which would read our operations its own way.
    fn check_set(&self, id: libc::c_int, info: &SetInfo) -> Result<()> {
        let refuse =
            |why: String| Err(self.context.failed(format!("open {}", self.config.describe()), Cause::Refused(why)));
        // Checked at every look at the set: a set we made has the same
        // owner and creator, so a non-root user asks its euid once, not twice.
        let owner_trusted = is_trusted_owner(info.uid);
        let creator_trusted = if info.cuid == info.uid { owner_trusted } else { is_trusted_owner(info.cuid) };
        for (role, uid, trusted) in
            [("belongs to", info.uid, owner_trusted), ("was created by", info.cuid, creator_trusted)]
        {
            if !trusted {
                return refuse(format!(
                    "the set {role} uid {uid}, who could reset or remove it under a holder; choose another key or remove the set (ipcrm -s {id})"
                ));
            }
        }
        if info.mode & 0o022 != 0 {
            return refuse(format!(
                "the set's mode is {:o}: other users may change it; choose another key or remove the set (ipcrm -s {id})",
                info.mode & 0o777
            ));
        }
        let count = info.semaphores;
        let wanted = u64::try_from(self.config.semaphores()).unwrap_or(0);
        if count == wanted {
            return Ok(());
        }
        let asked = match self.config.slots {
            1 => "this lock has one holder".to_owned(),
            n => format!("this lock asks for {n} slots"),
        };
        refuse(match count {
            // ext-sysvsem's sem_get() makes sets of three, whose first
            // semaphore counts free slots: sharing one would let both
            // sides hold the lock.
            3 => format!("the set has 3 semaphores, so another program (ext-sysvsem's sem_get()?) made it, and {asked}: choose another key"),
            1 => format!("the set has one semaphore: exakat_lock 0.1 made it, and reads it another way; stop the 0.1 processes or remove the set (ipcrm -s {id})"),
            4 => format!("the set was made for a lock with one holder, and {asked}: every object of one name must agree on \"slots\""),
            n if n > 5 => format!("the set was made for {} slots, and {asked}: every object of one name must agree on \"slots\"", n - 4),
            n => format!("the set has {n} semaphores, so another program made it: choose another key"),
        })
    }

    /// Whether the kernel agrees that this process holds `hold` in set
    /// `id` now. An `ipcrm` (the id is gone, or names another set), a
    /// `SETVAL` or another process's take since all change the set's
    /// identity or the hold's semaphore and its last pid;
    /// `unshare(CLONE_SYSVSEM)` (which gives back every `SEM_UNDO`
    /// adjustment) leaves it 0.
    fn kernel_says_held(&self, held: &HeldSet) -> Result<bool> {
        if !held.in_its_set().map_err(|_| self.no_longer_ours())? {
            return Ok(false);
        }
        let (id, hold) = (held.set_id, held.hold);
        Ok(match hold.own_semaphore() {
            Some(own) => self.last_changed_by_us(id, own)? && self.read_held(id, own, libc::GETVAL)? == 1,
            None => self.read_held(id, READERS, libc::GETVAL)? >= 1,
        })
    }

    fn last_changed_by_us(&self, id: libc::c_int, semaphore: u16) -> Result<bool> {
        let pid = self.read_held(id, semaphore, libc::GETPID)?;
        Ok(u32::try_from(pid).is_ok_and(|pid| pid == fork::pid()))
    }

    /// A `GETVAL`, `GETPID`...: -1 when the set is gone, `None` when this
    /// process may not read it (`EACCES`).
    fn readable(&self, id: libc::c_int, semaphore: u16, command: libc::c_int) -> Option<libc::c_int> {
        let value = self.stat(id, semaphore, command);
        (value >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EACCES)).then_some(value)
    }

    /// [`Self::readable`], of a semaphore this process holds.
    fn read_held(&self, id: libc::c_int, semaphore: u16, command: libc::c_int) -> Result<libc::c_int> {
        self.readable(id, semaphore, command).ok_or_else(|| self.no_longer_ours())
    }

    /// [`Self::readable`], for `holder()`: a set this process may not read
    /// is another user's (or its own, before it changed its user).
    fn peek(&self, id: libc::c_int, semaphore: u16, command: libc::c_int) -> Result<libc::c_int> {
        self.readable(id, semaphore, command).ok_or_else(|| self.another_users_set())
    }

    /// A set this process may not use (`EACCES`).
    fn another_users_set(&self) -> Error {
        let error = io::Error::from_raw_os_error(libc::EACCES);
        self.context.failed(
            format!("open {}", self.config.describe()),
            Cause::Refused(format!(
                "{error}: the set belongs to another user, who holds or shares this lock name (or to this process before it changed its user)"
            )),
        )
    }

    /// A hold in a set this process may no longer read or change.
    fn no_longer_ours(&self) -> Error {
        self.context.failed(
            format!("check the hold in {}", self.config.describe()),
            Cause::Refused(
                "this process may no longer read or change the set (EACCES): its user changed since it took the lock (posix_setuid()?), or an administrator changed the set; the hold ends when the process exits, or by a release() once the user is back"
                    .into(),
            ),
        )
    }

    fn semop(&self, id: libc::c_int, ops: &mut [libc::sembuf], wait: Option<Duration>) -> Result<Outcome> {
        let timeout = wait.map(|d| libc::timespec {
            tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(d.subsec_nanos()),
        });
        let timeout_ptr = timeout.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
        // SAFETY: `ops` and `timeout` outlive the call; a null timeout means no limit.
        let rc = unsafe { semtimedop(id, ops.as_mut_ptr(), ops.len(), timeout_ptr) };
        if rc == 0 {
            return Ok(Outcome::Done);
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EAGAIN) => Ok(Outcome::Busy),
            Some(libc::EIDRM | libc::EINVAL) => Ok(Outcome::Gone),
            Some(libc::EINTR) => Ok(Outcome::Interrupted),
            _ => Err(self.context.os(format!("operate on {}", self.config.describe()), error)),
        }
    }

    fn run(&self, id: libc::c_int, mut ops: Ops, wait: Option<Duration>) -> Result<Outcome> {
        self.semop(id, &mut ops.list[..ops.len], wait)
    }

    /// Waits until `deadline` for `ops` (which must not carry `IPC_NOWAIT`
    /// where they may wait), resuming after signals with the time left.
    fn wait_for(&self, id: libc::c_int, ops: &[libc::sembuf], deadline: &Deadline) -> Result<Outcome> {
        loop {
            // semtimedop's timeout is relative: recomputed after every interruption.
            match self.run(id, Ops::of(ops), deadline.remaining())? {
                Outcome::Interrupted if !deadline.expired() => {}
                Outcome::Interrupted => return Ok(Outcome::Busy),
                other => return Ok(other),
            }
        }
    }

    /// Records a hold this object just took in set `id`, once sure the take
    /// went to the set [`Self::set_id`] checked; `None` when it did not (it
    /// is given back, and the key must be looked up again). A take 10 ms or
    /// more after that check (a wait, or a process stopped between the two)
    /// may have gone to another lock's set that got the id meanwhile: a
    /// review froze a process there, and it held another lock until it
    /// ended, beside its own lock's holder.
    fn landed(&mut self, id: libc::c_int, hold: Hold) -> Result<Option<bool>> {
        let now = coarse_now();
        if now.saturating_sub(self.checked) >= ID_REUSE_FLOOR {
            if !matches!(self.set.map(|set| set.is_at(id)), Some(Ok(true))) {
                let _ = self.run(id, hold.give_back(), None);
                return Ok(None);
            }
            self.checked = now;
        }
        Ok(Some(self.took(id, hold, now)))
    }

    /// Records a hold this object just took, at `now` on the coarse clock.
    fn took(&mut self, id: libc::c_int, hold: Hold, now: Duration) -> bool {
        let mut held = held_sets();
        // A lost entry of an earlier take goes; another object of this
        // process that thought it held this very hold (before an unshare, a
        // SETVAL, or under a reused id) lost it: only one can hold it now.
        held.retain(|h| h.owner != self.owner);
        for other in held.iter_mut().filter(|h| h.set_id == id && h.generation == self.generation) {
            if other.hold == hold && hold != Hold::Shared {
                other.lost = true;
            }
        }
        // `set` is the identity `set_id()` read for this id just before.
        let set = self.set.unwrap_or(SetIdentity { key: self.config.key, changed: 0 });
        held.push(HeldSet {
            generation: self.generation,
            owner: self.owner,
            set_id: id,
            set,
            taken: now,
            hold,
            lost: false,
        });
        self.ever_held = true;
        self.slot = match hold {
            Hold::Slot(k) => Some(k),
            _ => None,
        };
        true
    }

    /// Drops this object's entry from the held sets; the set and hold if it
    /// still held it as far as this process knows (not if it was given
    /// back for an exec, then lost).
    fn forget_held(&mut self) -> Option<HeldSet> {
        self.slot = None;
        let mut held = held_sets();
        let at = held.iter().position(|h| h.owner == self.owner)?;
        let entry = held.swap_remove(at);
        (!entry.lost).then_some(entry)
    }

    /// Gives `held` back; `Ok(false)` when it was no longer ours to give.
    fn give_back(&self, held: &HeldSet) -> Result<bool> {
        let (id, hold) = (held.set_id, held.hold);
        // Giving back a hold we no longer have would take one from whoever
        // has it now: in another set at our old id, after an `ipcrm`; and,
        // after a `SETVAL` or another process's take, the last pid is
        // theirs. Its value needs no question of its own: at 0 (given back
        // by `unshare`, which leaves our pid), the non-waiting give-back
        // below fails and says so.
        if !held.in_its_set().map_err(|_| self.no_longer_ours())? {
            return Ok(false);
        }
        if let Some(own) = hold.own_semaphore() {
            if !self.last_changed_by_us(id, own)? {
                return Ok(false);
            }
        }
        match self.run(id, hold.give_back(), None) {
            Ok(outcome) => Ok(matches!(outcome, Outcome::Done)),
            Err(Error::Failed { cause: Cause::Os(e), .. }) if e.raw_os_error() == Some(libc::EACCES) => {
                Err(self.no_longer_ours())
            }
            Err(error) => Err(error),
        }
    }

    /// Puts back what [`Self::forget_held`] took: a give-back failed.
    fn keep_held(&mut self, held: HeldSet) {
        self.slot = match held.hold {
            Hold::Slot(k) => Some(k),
            _ => None,
        };
        held_sets().push(held);
    }

    fn stat(&self, id: libc::c_int, semaphore: u16, command: libc::c_int) -> libc::c_int {
        // SAFETY: GETVAL/GETPID/GETZCNT/GETNCNT take no fourth argument.
        unsafe { libc::semctl(id, libc::c_int::from(semaphore), command) }
    }

    fn acquire_exclusive(&mut self, id: libc::c_int, deadline: &Deadline) -> Result<Option<bool>> {
        match self.run(id, Hold::Exclusive.take(), None)? {
            Outcome::Done => return self.landed(id, Hold::Exclusive),
            Outcome::Busy if !deadline.may_wait() => return Ok(Some(false)),
            Outcome::Busy | Outcome::Interrupted => {}
            Outcome::Gone => return Ok(None),
        }
        // Queue as a writer first: from now on no new reader gets in.
        if let Outcome::Gone = self.wait_for(id, &[op(WRITERS, 1, UNDO)], deadline)? {
            return Ok(None);
        }
        let take = [op(WRITER, 0, 0), op(READERS, 0, 0), op(WRITER, 1, UNDO)];
        match self.wait_for(id, &take, deadline)? {
            Outcome::Done => self.landed(id, Hold::Exclusive),
            Outcome::Gone => Ok(None),
            _ => {
                let _ = self.run(id, Ops::of(&[op(WRITERS, -1, UNDO | NOWAIT)]), None);
                Ok(Some(false))
            }
        }
    }

    fn acquire_slot(&mut self, id: libc::c_int, deadline: &Deadline) -> Result<Option<bool>> {
        let flags = if deadline.may_wait() { UNDO } else { UNDO | NOWAIT };
        match self.wait_for(id, &[op(FREE, -1, flags)], deadline)? {
            Outcome::Done => {}
            Outcome::Gone => return Ok(None),
            _ => return Ok(Some(false)),
        }
        // With our reservation, at most N - 1 others hold or are about to
        // mark a slot: at every moment one slot at least is unmarked. One
        // pass can still miss it (a slot freed behind the pass while
        // another newcomer marks the one ahead), so passes go on; a few
        // are the most that churn needs. Processes start at different
        // slots so that they rarely collide on one.
        let slots = self.config.slots;
        let start = u16::try_from(fork::pid() % u32::from(slots)).unwrap_or(0);
        for _ in 0..MARK_PASSES {
            for k in (start..slots).chain(0..start) {
                let mark = [op(HEADER + k, 0, NOWAIT), op(HEADER + k, 1, UNDO)];
                match self.run(id, Ops::of(&mark), None)? {
                    Outcome::Done => return self.landed(id, Hold::Slot(k)),
                    Outcome::Gone => return Ok(None),
                    _ => {}
                }
            }
        }
        let _ = self.run(id, Ops::of(&[op(FREE, 1, UNDO)]), None);
        Err(self.context.failed(
            format!("take a slot of {}", self.config.describe()),
            Cause::Refused("the set's free count says a slot is free, and none is: it was changed by hand (semctl SETVAL?); remove it (ipcrm) when nobody holds it".into()),
        ))
    }

    fn holder_at(&self, id: libc::c_int, semaphore: u16) -> Holder {
        let pid = u32::try_from(self.stat(id, semaphore, libc::GETPID)).ok().filter(|&p| p > 0);
        Holder::local(pid, None, vec![("key", HolderValue::Int(i64::from(self.config.key)))])
    }
}

impl Backend for Semaphore {
    fn acquire(&mut self, deadline: &Deadline) -> Result<bool> {
        loop {
            // Still being made: nobody holds anything in it yet, and this
            // wait's time ran out before it was ready.
            let Some(id) = self.set_id(true, deadline)? else { return Ok(false) };
            let taken = if self.config.slots == 1 {
                self.acquire_exclusive(id, deadline)?
            } else {
                self.acquire_slot(id, deadline)?
            };
            if let Some(taken) = taken {
                return Ok(taken);
            }
            self.set_id = None; // removed: look the key up again
        }
    }

    fn acquire_shared(&mut self, deadline: &Deadline, beside_our_reader: bool) -> Result<bool> {
        loop {
            let Some(id) = self.set_id(true, deadline)? else { return Ok(false) };
            // Past the writers that wait, not past one that holds.
            let join = [op(WRITER, 0, NOWAIT), op(READERS, 1, UNDO)];
            let outcome = match beside_our_reader {
                true if matches!(self.run(id, Ops::of(&join), None)?, Outcome::Done) => Outcome::Done,
                _ => {
                    let flags = if deadline.may_wait() { 0 } else { NOWAIT };
                    self.wait_for(id, &[op(WRITERS, 0, flags), op(READERS, 1, UNDO)], deadline)?
                }
            };
            match outcome {
                Outcome::Done => match self.landed(id, Hold::Shared)? {
                    Some(taken) => return Ok(taken),
                    None => self.set_id = None,
                },
                Outcome::Gone => self.set_id = None,
                _ => return Ok(false),
            }
        }
    }

    fn release(&mut self) -> Result<bool> {
        let Some(held) = self.forget_held() else { return Ok(false) };
        let released = self.give_back(&held);
        if released.is_err() {
            self.keep_held(held); // the kernel still has it, until the process ends
        }
        released
    }

    fn still_held(&mut self) -> Result<bool> {
        let owner = self.owner;
        let mut held = held_sets();
        let Some(at) = held.iter().position(|h| h.owner == owner) else { return Ok(false) };
        if held[at].lost || !self.kernel_says_held(&held[at])? {
            held.swap_remove(at);
            drop(held);
            self.slot = None;
            return Ok(false);
        }
        Ok(true)
    }

    fn slot(&self) -> Option<u16> {
        self.slot
    }

    fn holder(&mut self) -> Result<Option<Holder>> {
        let Some(id) = self.set_id(false, &Deadline::start(Timeout::NoWait))? else { return Ok(None) };
        if self.config.slots > 1 && self.peek(id, FREE, libc::GETVAL)? != 0 {
            return Ok(None);
        }
        Ok(self.holders()?.into_iter().next())
    }

    /// The last process to change a hold's own semaphore is its holder
    /// (unless an administrator reset the set since: advisory, as the README
    /// says). Shared holders have no semaphore of their own: they are
    /// counted, and their pids are unknown.
    fn holders(&mut self) -> Result<Vec<Holder>> {
        let Some(id) = self.set_id(false, &Deadline::start(Timeout::NoWait))? else { return Ok(Vec::new()) };
        if self.config.slots > 1 {
            let mut holders = Vec::new();
            for k in 0..self.config.slots {
                if self.peek(id, HEADER + k, libc::GETVAL)? == 1 {
                    holders.push(self.holder_at(id, HEADER + k).in_slot(k));
                }
            }
            return Ok(holders);
        }
        if self.peek(id, WRITER, libc::GETVAL)? == 1 {
            // No `since`: the set's last-operation time moves whenever a
            // writer queues or gives up, so it is not when this one took it.
            return Ok(vec![self.holder_at(id, WRITER)]);
        }
        let readers = usize::try_from(self.peek(id, READERS, libc::GETVAL)?).unwrap_or(0);
        let key = vec![("key", HolderValue::Int(i64::from(self.config.key)))];
        let reader = Holder::local(None, None, key).shared();
        Ok(vec![reader; readers])
    }

    fn resource(&mut self) -> Result<ResourceId> {
        Ok(ResourceId::Semaphore(self.config.key))
    }
}

impl Drop for Semaphore {
    /// Removes the set if this object held the lock and, taking it itself
    /// once more, sees no waiter: the last user of a name leaves nothing
    /// behind.
    fn drop(&mut self) {
        if !self.ever_held || self.generation != fork::generation() {
            return;
        }
        // Looked up again: the cached id may name another key's set by now.
        let Ok(Some(id)) = self.set_id(false, &Deadline::start(Timeout::NoWait)) else { return };
        // Taken as an exclusive holder takes it, `WRITERS` included: a
        // reader that came between this take and the removal would
        // otherwise get in, and lose its set to the removal while it held it.
        let all = i16::try_from(self.config.slots).expect("at most MAX_SLOTS");
        let (take, give_back) = if self.config.slots == 1 {
            (Hold::Exclusive.take(), Hold::Exclusive.give_back())
        } else {
            (Ops::of(&[op(FREE, -all, UNDO | NOWAIT)]), Ops::of(&[op(FREE, all, UNDO)]))
        };
        if !matches!(self.run(id, take, None), Ok(Outcome::Done)) {
            return; // held by someone else, who will clean up in turn
        }
        // SAFETY: IPC_RMID takes no fourth argument. EPERM (another user's set) leaves it be.
        if !(self.nobody_waits(id) && unsafe { libc::semctl(id, 0, libc::IPC_RMID) } == 0) {
            let _ = self.run(id, give_back, None);
        }
    }
}

impl Semaphore {
    /// Whether no process sleeps in a `semop` on the set. The kernel counts
    /// a sleeper on the semaphore of the operation that stopped it, and the
    /// only operations here that sleep are the waits for `WRITER`,
    /// `READERS` or `WRITERS` to be 0 (one holder) and the take from `FREE`
    /// (slots): three questions, or one, instead of two per semaphore.
    fn nobody_waits(&self, id: libc::c_int) -> bool {
        if self.config.slots == 1 {
            [WRITER, READERS, WRITERS].into_iter().all(|semaphore| self.stat(id, semaphore, libc::GETZCNT) == 0)
        } else {
            self.stat(id, FREE, libc::GETNCNT) == 0
        }
    }
}

pub(crate) fn probe() -> io::Result<()> {
    // SAFETY: plain syscalls on a private set that is removed at once.
    let id = unsafe { libc::semget(libc::IPC_PRIVATE, 1, libc::IPC_CREAT | SET_MODE) };
    if id < 0 {
        return Err(io::Error::last_os_error());
    }
    unsafe { libc::semctl(id, 0, libc::IPC_RMID) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::OptionValue;

    #[test]
    fn derived_keys_are_stable_and_never_special() {
        let name = LockName::new(b"job").unwrap();
        let hash = crate::name::fnv1a64(b"job");
        assert_eq!(key_for(&name), (hash ^ (hash >> 32)) as u32 as i32);
        assert_eq!(Config::new(&name, &Options::new(), 1).unwrap().key, key_for(&name));
    }

    #[test]
    fn explicit_keys_are_checked() {
        let name = LockName::new(b"job").unwrap();
        let with = |v| Config::new(&name, &Options::new().with("key", OptionValue::Int(v)), 1);
        assert_eq!(with(0x1234).unwrap().key, 0x1234);
        assert_eq!(with(-5).unwrap().key, -5);
        for bad in [0, -1, 1 << 40] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.starts_with("Option \"key\" must be a 32-bit SysV key"), "{e}");
        }
    }
}
