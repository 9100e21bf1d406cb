//! `semaphore`: a SysV semaphore, driven with `semop(2)` directly, so no
//! ext-sysvsem is needed.
//!
//! The semaphore counts holders: 0 is free, 1 is held. Taking it is one
//! atomic `semop` of two operations, "wait until zero" then "add one" with
//! `SEM_UNDO`. That protocol needs no initialisation (Linux creates
//! semaphores at 0), so many processes creating the set at once cannot race,
//! and `SEM_UNDO` makes the kernel subtract the one again when the holder
//! dies, however it dies. The kernel also runs a queued waiter's operation
//! itself when the value drops to zero, in arrival order: the lock is handed
//! over, and the releaser cannot barge back in ahead of a waiter.
//!
//! A forked child never holds the lock: the kernel does not copy `SEM_UNDO`
//! adjustments into children.
//!
//! One gap remains: `SEM_UNDO` adjustments survive `execve(2)`, so a
//! program that replaces the PHP process (`pcntl_exec()`) would keep its
//! semaphores until it exits. [`give_back_before_exec`] closes it: the
//! binding calls it just before such an exec, and
//! [`take_back_after_failed_exec`] if the exec fails.
//!
//! Sets are created `0600`: other users can neither take nor reset them. An
//! object that held the lock removes the set when it is destroyed, if it can
//! take the lock then and sees no waiter, so a set is never removed under a
//! holder; anyone who still had its id gets `EIDRM`/`EINVAL` and starts over
//! on a new set. Only a crash can leave a set behind, never a held one.

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
    deadline::Deadline,
    error::{Cause, Result},
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
}

impl Config {
    pub(crate) fn new(name: &LockName, options: &Options) -> Result<Self> {
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
        Ok(Self { key })
    }

    pub(crate) fn describe(&self) -> String {
        format!("SysV semaphore key {:#010x}", self.key)
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

/// Every set this process holds, by fork generation and holding object, for
/// the exec hooks; `lost` marks a lock given back for an exec that then
/// failed, and taken by someone else before it could be taken back.
struct HeldSet {
    generation: u64,
    owner: u64,
    set_id: libc::c_int,
    lost: bool,
}

/// Tells apart the objects of one process in [`HELD_SETS`].
static NEXT_OWNER: AtomicU64 = AtomicU64::new(0);

static HELD_SETS: Mutex<Vec<HeldSet>> = Mutex::new(Vec::new());

fn held_sets() -> std::sync::MutexGuard<'static, Vec<HeldSet>> {
    HELD_SETS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Gives back every semaphore this process holds: the kernel would carry
/// their `SEM_UNDO` adjustments into the program about to replace this one.
pub fn give_back_before_exec() {
    let generation = fork::generation();
    for held in held_sets().iter().filter(|h| h.generation == generation && !h.lost) {
        let mut give_back = [GIVE_BACK];
        // SAFETY: plain syscall; failure means the set is gone already.
        unsafe { semtimedop(held.set_id, give_back.as_mut_ptr(), 1, std::ptr::null()) };
    }
}

/// The exec failed and this process goes on: takes the semaphores back, and
/// marks as lost (held: false) those someone else took in between.
pub fn take_back_after_failed_exec() {
    let generation = fork::generation();
    for held in held_sets().iter_mut().filter(|h| h.generation == generation && !h.lost) {
        let mut take = TRY_TAKE;
        // SAFETY: plain syscall.
        held.lost = unsafe { semtimedop(held.set_id, take.as_mut_ptr(), 2, std::ptr::null()) } != 0;
    }
}

pub(crate) struct Semaphore {
    context: Context,
    config: Config,
    /// The id of the set last checked by [`Self::check_set`]; `semget`
    /// is asked every time, and a new id is checked before use.
    set_id: Option<libc::c_int>,
    generation: u64,
    owner: u64,
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

impl Semaphore {
    pub(crate) fn new(context: Context, config: Config) -> Self {
        let owner = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
        Self { context, config, set_id: None, generation: fork::generation(), owner, ever_held: false }
    }

    /// The id of our key's set, asked of the kernel every time: a cached id
    /// may have been removed and, after enough creations, reused by another
    /// key's set. A set not seen before is checked before it is used.
    fn set_id(&mut self, create: bool) -> Result<Option<libc::c_int>> {
        let flags = if create { libc::IPC_CREAT | SET_MODE } else { 0 };
        // SAFETY: plain syscall wrapper.
        let id = unsafe { libc::semget(self.config.key, 1, flags) };
        if id < 0 {
            let error = io::Error::last_os_error();
            return match error.raw_os_error() {
                Some(libc::ENOENT) if !create => Ok(None),
                Some(libc::EACCES) => Err(self.context.failed(
                    format!("open {}", self.config.describe()),
                    Cause::Refused(format!(
                        "{error}: the set belongs to another user, who holds or shares this lock name"
                    )),
                )),
                _ => Err(self.context.os(format!("create {}", self.config.describe()), error)),
            };
        }
        if self.set_id != Some(id) {
            self.check_set(id)?;
            self.set_id = Some(id);
        }
        Ok(Some(id))
    }

    /// Refuses a set that another user made or may write: its owner could
    /// reset it (`SETVAL`, `IPC_RMID`) under a holder and so make two.
    fn check_set(&self, id: libc::c_int) -> Result<()> {
        let refuse =
            |why: String| Err(self.context.failed(format!("open {}", self.config.describe()), Cause::Refused(why)));
        let Some(info) = self.set_info(id) else { return Ok(()) }; // removed meanwhile: the next semop says so
        let perm = &info.sem_perm;
        for (role, uid) in [("belongs to", perm.uid), ("was created by", perm.cuid)] {
            if !is_trusted_owner(uid) {
                return refuse(format!(
                    "the set {role} uid {uid}, who could reset or remove it under a holder; choose another key or remove the set (ipcrm -s {id})"
                ));
            }
        }
        if perm.mode & 0o022 != 0 {
            return refuse(format!(
                "the set's mode is {:o}: other users may change it; choose another key or remove the set (ipcrm -s {id})",
                perm.mode & 0o777
            ));
        }
        // semget() accepts any existing set of at least one semaphore. A set
        // of another size is someone else's (ext-sysvsem's sem_get() makes
        // sets of three, whose first semaphore counts free slots: the
        // opposite of ours), and sharing it would let both sides hold the lock.
        // The field's type differs between glibc and musl.
        #[allow(clippy::useless_conversion)]
        let count = u64::from(info.sem_nsems);
        if count != 1 {
            return refuse(format!(
                "the set has {count} semaphores, so another program (ext-sysvsem's sem_get()?) made it; exakat_lock's sets have one: choose another key"
            ));
        }
        Ok(())
    }

    /// Whether the kernel agrees that this process may still hold set `id`:
    /// we were the last to change it. An `ipcrm` (the id is gone, or reused
    /// by a set we never touched), a `SETVAL` or another process's take
    /// since all change that; `unshare(CLONE_SYSVSEM)` (which gives back
    /// every `SEM_UNDO` adjustment) leaves us the last to change it, but at
    /// 0, which `semop` and [`Self::kernel_says_held`] see. A reused id
    /// that another object of this process took marked our entry lost.
    fn last_changed_by_us(&self, id: libc::c_int) -> bool {
        u32::try_from(self.stat(id, libc::GETPID)).is_ok_and(|pid| pid == std::process::id())
    }

    /// Whether the kernel agrees that this process holds set `id` now.
    fn kernel_says_held(&self, id: libc::c_int) -> bool {
        self.last_changed_by_us(id) && self.stat(id, libc::GETVAL) == 1
    }

    fn set_info(&self, id: libc::c_int) -> Option<libc::semid_ds> {
        // SAFETY: all-zero is a valid semid_ds; IPC_STAT fills it.
        let mut info: libc::semid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: IPC_STAT takes a pointer to a semid_ds as its fourth argument.
        (unsafe { libc::semctl(id, 0, libc::IPC_STAT, &mut info as *mut libc::semid_ds) } == 0).then_some(info)
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

    /// Drops this object's entry from the held sets; the set's id if it
    /// still held the semaphore as far as this process knows (not if it was
    /// given back for an exec, then lost).
    fn forget_held(&self) -> Option<libc::c_int> {
        let mut held = held_sets();
        let at = held.iter().position(|h| h.owner == self.owner)?;
        let entry = held.swap_remove(at);
        (!entry.lost).then_some(entry.set_id)
    }

    /// Gives the semaphore back; false if the set was removed or reset meanwhile.
    fn give_back(&mut self, id: libc::c_int) -> Result<bool> {
        loop {
            return match self.semop(id, &mut [GIVE_BACK], None)? {
                Outcome::Done => Ok(true),
                Outcome::Busy | Outcome::Gone => Ok(false),
                Outcome::Interrupted => continue,
            };
        }
    }

    fn stat(&self, id: libc::c_int, command: libc::c_int) -> libc::c_int {
        // SAFETY: GETVAL/GETPID/GETZCNT take no fourth argument.
        unsafe { libc::semctl(id, 0, command) }
    }
}

const fn op(sem_op: libc::c_short, flags: libc::c_int) -> libc::sembuf {
    #[allow(clippy::cast_possible_truncation)]
    libc::sembuf { sem_num: 0, sem_op, sem_flg: flags as libc::c_short }
}

/// Taking without waiting: "wait until zero" then "add one", atomically.
const TRY_TAKE: [libc::sembuf; 2] = [op(0, libc::IPC_NOWAIT), op(1, libc::SEM_UNDO)];
/// Giving back never waits: the value is 1 while we hold it.
const GIVE_BACK: libc::sembuf = op(-1, libc::SEM_UNDO | libc::IPC_NOWAIT);

impl Backend for Semaphore {
    fn acquire(&mut self, deadline: &Deadline) -> Result<bool> {
        loop {
            let Some(id) = self.set_id(true)? else { unreachable!("semget with IPC_CREAT never reports ENOENT") };
            let wait_flag = if deadline.may_wait() { 0 } else { libc::IPC_NOWAIT };
            let mut take = [op(0, wait_flag), op(1, libc::SEM_UNDO)];
            // semtimedop's timeout is relative: recomputed after every interruption.
            let limit = if deadline.may_wait() { deadline.remaining() } else { None };
            match self.semop(id, &mut take, limit)? {
                Outcome::Done => {
                    let mut held = held_sets();
                    // A lost entry of an earlier take goes; another object of
                    // this process that thought it held this set (before an
                    // unshare, a SETVAL, or under a reused id) lost it: only
                    // one can hold it now.
                    held.retain(|h| h.owner != self.owner);
                    for other in held.iter_mut().filter(|h| h.set_id == id && h.generation == self.generation) {
                        other.lost = true;
                    }
                    held.push(HeldSet { generation: self.generation, owner: self.owner, set_id: id, lost: false });
                    self.ever_held = true;
                    return Ok(true);
                }
                Outcome::Busy => return Ok(false),
                Outcome::Gone => {}
                Outcome::Interrupted if deadline.expired() => return Ok(false),
                Outcome::Interrupted => {}
            }
        }
    }

    fn release(&mut self) -> Result<bool> {
        let Some(id) = self.forget_held() else { return Ok(false) };
        // Giving back a semaphore we no longer hold would take one from
        // whoever holds it now. At 0 (given back by `unshare`), the
        // non-waiting give-back below fails and says so.
        if !self.last_changed_by_us(id) {
            return Ok(false);
        }
        self.give_back(id)
    }

    fn still_held(&mut self) -> Result<bool> {
        let owner = self.owner;
        let mut held = held_sets();
        let Some(at) = held.iter().position(|h| h.owner == owner) else { return Ok(false) };
        if held[at].lost || !self.kernel_says_held(held[at].set_id) {
            held.swap_remove(at);
            return Ok(false);
        }
        Ok(true)
    }

    fn holder(&mut self) -> Result<Option<Holder>> {
        let Some(id) = self.set_id(false)? else { return Ok(None) };
        if self.stat(id, libc::GETVAL) != 1 {
            return Ok(None);
        }
        // The last process to operate on the set: the holder, unless an
        // administrator reset it since (advisory, as the README says).
        let pid = u32::try_from(self.stat(id, libc::GETPID)).ok().filter(|&p| p > 0);
        let since = self.set_info(id).filter(|info| info.sem_otime > 0).map(|info| info.sem_otime as f64);
        Ok(Some(Holder::local(pid, since, vec![("key", HolderValue::Int(i64::from(self.config.key)))])))
    }

    fn resource(&mut self) -> Result<ResourceId> {
        Ok(ResourceId::Semaphore(self.config.key))
    }
}

impl Drop for Semaphore {
    /// Removes the set if this object held the lock and, taking it once
    /// more, sees no waiter: the last user of a name leaves nothing behind.
    fn drop(&mut self) {
        if !self.ever_held || self.generation != fork::generation() {
            return;
        }
        // Looked up again: the cached id may name another key's set by now.
        let Ok(Some(id)) = self.set_id(false) else { return };
        let mut take = TRY_TAKE;
        if !matches!(self.semop(id, &mut take, None), Ok(Outcome::Done)) {
            return; // held by someone else, who will clean up in turn
        }
        let nobody_waits = self.stat(id, libc::GETZCNT) == 0;
        // SAFETY: IPC_RMID takes no fourth argument. EPERM (another user's set) leaves it be.
        if !(nobody_waits && unsafe { libc::semctl(id, 0, libc::IPC_RMID) } == 0) {
            let _ = self.give_back(id);
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
        assert_eq!(Config::new(&name, &Options::new()).unwrap().key, key_for(&name));
    }

    #[test]
    fn explicit_keys_are_checked() {
        let name = LockName::new(b"job").unwrap();
        let with = |v| Config::new(&name, &Options::new().with("key", OptionValue::Int(v)));
        assert_eq!(with(0x1234).unwrap().key, 0x1234);
        assert_eq!(with(-5).unwrap().key, -5);
        for bad in [0, -1, 1 << 40] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.starts_with("Option \"key\" must be a 32-bit SysV key"), "{e}");
        }
    }
}
