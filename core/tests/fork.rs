//! A forked child can neither release nor keep its parent's lock. Each test
//! forks the test process itself, so they run one at a time.

mod support;

use std::sync::Mutex;

use exakat_lock_core::{BackendKind, Timeout};
use support::Target;

static ONE_FORK_AT_A_TIME: Mutex<()> = Mutex::new(());

fn a_forked_child_can_neither_release_nor_take_the_parents_lock(kind: BackendKind) {
    let _serial = ONE_FORK_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let target = Target::new(kind, "forked");
    let mut lock = target.lock();
    assert!(lock.acquire(Timeout::NoWait).unwrap());
    match unsafe { libc::fork() } {
        0 => {
            // In the child: report through the exit code, never unwind into the harness.
            let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let not_held = !lock.is_held().unwrap();
                let cannot_release = !lock.release().unwrap();
                let cannot_take = !lock.acquire(Timeout::NoWait).unwrap();
                drop(lock);
                u8::from(not_held) | u8::from(cannot_release) << 1 | u8::from(cannot_take) << 2
            }));
            unsafe { libc::_exit(verdict.map_or(99, i32::from)) };
        }
        child => {
            let mut status = 0;
            unsafe { libc::waitpid(child, &mut status, 0) };
            assert!(libc::WIFEXITED(status), "child died: {status}");
            assert_eq!(libc::WEXITSTATUS(status), 0b111, "bits: not held, cannot release, cannot take");
        }
    }
    assert!(lock.is_held().unwrap(), "the parent still holds after the child exited");
    assert_eq!(target.spawn("try", &[]).line(), ["false"]);
    assert!(lock.release().unwrap());
    assert_eq!(target.spawn("try", &[]).line(), ["true"]);
}

/// The objects of the parent that hold a lock are not the child's: a child
/// may wait without a timeout for what its parent holds, and gets it once
/// the parent lets go (the refusal "another Lock object of this process
/// holds it" would be wrong there: the wait can end).
fn a_forked_child_may_wait_forever_for_its_parents_lock(kind: BackendKind) {
    let _serial = ONE_FORK_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let target = Target::new(kind, "forked-wait");
    let mut lock = target.lock();
    assert!(lock.acquire(Timeout::NoWait).unwrap());
    match unsafe { libc::fork() } {
        0 => {
            let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut own = target.lock();
                match own.acquire(Timeout::Forever) {
                    Ok(true) => 0,
                    Ok(false) => 1,
                    Err(_) => 2,
                }
            }));
            unsafe { libc::_exit(verdict.unwrap_or(99)) };
        }
        child => {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let mut status = 0;
            assert_eq!(unsafe { libc::waitpid(child, &mut status, libc::WNOHANG) }, 0, "the child did not wait");
            assert!(lock.release().unwrap());
            unsafe { libc::waitpid(child, &mut status, 0) };
            assert!(libc::WIFEXITED(status), "child died: {status}");
            assert_eq!(libc::WEXITSTATUS(status), 0, "1: not taken, 2: refused");
        }
    }
}

#[test]
fn a_child_waits_for_its_parents_semaphore() {
    a_forked_child_may_wait_forever_for_its_parents_lock(BackendKind::Semaphore);
}

#[test]
fn a_child_waits_for_its_parents_flock() {
    a_forked_child_may_wait_forever_for_its_parents_lock(BackendKind::Flock);
}

#[test]
fn socket() {
    a_forked_child_can_neither_release_nor_take_the_parents_lock(BackendKind::Socket);
}

#[test]
fn tcp() {
    a_forked_child_can_neither_release_nor_take_the_parents_lock(BackendKind::Tcp);
}

#[test]
fn semaphore() {
    a_forked_child_can_neither_release_nor_take_the_parents_lock(BackendKind::Semaphore);
}

#[test]
fn flock() {
    a_forked_child_can_neither_release_nor_take_the_parents_lock(BackendKind::Flock);
}

/// The case that breaks naive code: a child that drops an inherited MySQL
/// connection sends COM_QUIT on the parent's session and frees its lock.
#[test]
#[ignore = "needs a MySQL/MariaDB server: scripts/test.sh starts one and runs these"]
fn mysql() {
    a_forked_child_can_neither_release_nor_take_the_parents_lock(BackendKind::Mysql);
}
