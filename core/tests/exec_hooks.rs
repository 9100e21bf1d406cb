//! The pcntl_exec() hooks of the semaphore backend. They act on every
//! semaphore the process holds, so this file holds one test and runs in a
//! process of its own.

mod support;

use exakat_lock_core::{
    backend::{give_back_before_exec, take_back_after_failed_exec},
    BackendKind, Timeout,
};
use support::Target;

#[test]
fn a_lock_lost_around_a_failed_exec_and_taken_again_is_released_for_real() {
    let mut target = Target::new(BackendKind::Semaphore, "lost");
    target.options = vec![("key".into(), (0x4d00_0000 | (std::process::id() as i32 & 0xffff)).to_string())];
    let mut lock = target.lock();
    assert!(lock.acquire(Timeout::NoWait).unwrap());
    give_back_before_exec().unwrap();
    let mut other = target.spawn("hold", &[]);
    other.wait_held(); // took it while it was given back
    take_back_after_failed_exec();
    assert!(!lock.is_held().unwrap(), "taken by another process before the exec failed: lost");
    assert!(other.finish().success());
    assert!(lock.acquire(Timeout::NoWait).unwrap());
    assert!(lock.release().unwrap());
    assert_eq!(target.spawn("try", &[]).line(), ["true"], "the second take was given back, not only forgotten");
}
