//! SysV semaphore sets do not pile up: the last object using a set removes it.

mod support;

use exakat_lock_core::{BackendKind, Timeout};
use support::Target;

fn set_exists(key: i32) -> bool {
    unsafe { libc::semget(key, 1, 0) >= 0 }
}

fn explicit_key_target(test: &str, key: i32) -> Target {
    let mut target = Target::new(BackendKind::Semaphore, test);
    target.options = vec![("key".into(), key.to_string())];
    target
}

fn fresh_key(salt: i32) -> i32 {
    0x4c00_0000 | ((std::process::id() as i32 & 0xffff) << 8) | salt
}

#[test]
fn the_last_user_removes_the_set() {
    let key = fresh_key(1);
    let target = explicit_key_target("sets", key);
    let (mut a, mut b) = (target.lock(), target.lock());
    assert!(!set_exists(key));
    assert!(a.acquire(Timeout::NoWait).unwrap());
    assert!(set_exists(key));
    assert!(a.release().unwrap());
    assert!(!b.acquire(Timeout::NoWait).unwrap() || b.release().unwrap());
    drop(a);
    assert!(!set_exists(key), "no waiter and nobody holding: the dropping object removes the set");
    drop(b);
    assert!(!set_exists(key));
}

#[test]
fn a_set_is_never_removed_under_its_holder() {
    let key = fresh_key(2);
    let target = explicit_key_target("held-set", key);
    let mut holder = target.spawn("hold", &[]);
    holder.wait_held();
    let mut other = target.lock();
    assert!(!other.acquire(Timeout::NoWait).unwrap());
    drop(other);
    assert!(set_exists(key), "the holder's set survives another object's drop");
    assert_eq!(target.spawn("try", &[]).line(), ["false"]);
    assert!(holder.finish().success());
    // lockctl released and dropped: the set is gone, and using the name again works.
    assert!(!set_exists(key));
    let mut again = target.lock();
    assert!(again.acquire(Timeout::NoWait).unwrap());
}

#[test]
fn many_names_leave_no_sets_behind() {
    let keys: Vec<i32> = (10..60).map(fresh_key).collect();
    for &key in &keys {
        let mut lock = explicit_key_target("many", key).lock();
        assert!(lock.acquire(Timeout::NoWait).unwrap());
    }
    assert!(keys.iter().all(|&key| !set_exists(key)));
}

#[test]
fn asking_who_holds_neither_takes_the_lock_nor_removes_the_set() {
    let key = fresh_key(3);
    let target = explicit_key_target("asking", key);
    let mut user = target.lock();
    assert!(user.acquire(Timeout::NoWait).unwrap());
    assert!(user.release().unwrap());
    let mut asker = target.lock();
    assert!(asker.holder().unwrap().is_none());
    drop(asker);
    assert!(set_exists(key), "only an object that held the lock removes its set");
    drop(user);
    assert!(!set_exists(key));
}

#[test]
fn a_set_made_by_another_program_is_refused() {
    let key = fresh_key(4);
    // The shape of ext-sysvsem's sem_get() sets: three semaphores.
    let id = unsafe { libc::semget(key, 3, libc::IPC_CREAT | 0o600) };
    assert!(id >= 0);
    let error = explicit_key_target("foreign", key).lock().acquire(Timeout::NoWait).unwrap_err().to_string();
    unsafe { libc::semctl(id, 0, libc::IPC_RMID) };
    assert!(error.contains("the set has 3 semaphores, so another program"), "{error}");
}

/// An object that held the lock removes the set when it goes, taking it
/// first as a holder would. A reader that came in between that take and the
/// removal used to get in (the take left `WRITERS` at 0) and then lose its
/// set under it: ~300 times a second with one process churning objects.
#[test]
fn a_shared_holder_never_loses_its_set_to_another_objects_removal() {
    let key = fresh_key(5);
    let target = explicit_key_target("churned", key);
    let mut churner = target.spawn("churn", &["1.5"]);
    let mut reader = target.lock();
    let (mut held, mut lost) = (0u32, 0u32);
    let end = std::time::Instant::now() + std::time::Duration::from_millis(1500);
    while std::time::Instant::now() < end {
        if reader.acquire_shared(Timeout::NoWait).unwrap() {
            held += 1;
            // Lost if the set went: is_held() says so, or release() finds nothing to give back.
            if !(reader.is_held().unwrap() && reader.release().unwrap()) {
                lost += 1;
            }
        }
    }
    let rounds: u64 = churner.line()[0].parse().unwrap();
    assert!(held > 1000 && rounds > 1000, "both sides ran: {held} shared holds, {rounds} churned objects");
    assert_eq!(lost, 0, "shared holds lost to a removal, of {held}");
}

/// A slots set whose creator has not set its count yet (a debugger holds it
/// between the two system calls, or it died there): a single try and
/// `holder()` answer at once, where they waited out a second's grace (a
/// review's find); once the set is older than that, the next look removes
/// it as abandoned and the lock works again.
#[test]
fn a_slots_set_not_ready_yet_holds_no_single_try_up() {
    let key = fresh_key(9);
    let mut target = explicit_key_target("unready", key);
    target.options.push(("slots".into(), "3".into()));
    // The creator's first step alone: 3 slots and 4 more, mode 0600.
    let id = unsafe { libc::semget(key, 7, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) };
    assert!(id >= 0, "a fresh key");
    let mut lock = target.lock();
    let started = std::time::Instant::now();
    assert!(!lock.acquire(Timeout::NoWait).unwrap(), "nothing can be taken in a set not ready");
    assert!(lock.holder().unwrap().is_none(), "nothing is held in it either");
    assert!(started.elapsed() < std::time::Duration::from_millis(300), "answered in {:?}", started.elapsed());
    std::thread::sleep(std::time::Duration::from_millis(2100)); // older than the grace, in whole seconds
    assert!(lock.acquire(Timeout::NoWait).unwrap(), "the abandoned set was removed and a new one made");
    assert!(lock.release().unwrap());
}
