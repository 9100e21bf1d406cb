//! The pcntl_exec() hooks of the semaphore backend, when another process
//! takes the lock and gives it back while ours is given back for an exec
//! that then fails: our critical section went on meanwhile, so the lock
//! reads as lost. The hooks act on every semaphore the process holds, so
//! this file holds one test and runs in a process of its own.

mod support;

use exakat_lock_core::{
    backend::{give_back_before_exec, take_back_after_failed_exec},
    BackendKind, Timeout,
};
use support::Target;

#[test]
fn a_lock_taken_and_given_back_by_another_process_around_a_failed_exec_is_lost() {
    let mut target = Target::new(BackendKind::Semaphore, "gap");
    target.options = vec![("key".into(), (0x4e00_0000 | (std::process::id() as i32 & 0xffff)).to_string())];
    let mut lock = target.lock();
    // (how this process holds it, what the other process does in the gap,
    // lost?). The other process exits without destructors: one would
    // remove the set, and the take back would fail for that reason alone.
    let cases = [
        (false, None, false),
        (false, Some("hold-and-exit"), true),
        (false, Some("hold-shared-and-exit"), true),
        (true, None, false),
        (true, Some("hold-and-exit"), true),
        (true, Some("hold-shared-and-exit"), false),
    ];
    for (shared, competitor, lost) in cases {
        let taken = if shared { lock.acquire_shared(Timeout::NoWait) } else { lock.acquire(Timeout::NoWait) };
        assert!(taken.unwrap());
        give_back_before_exec().unwrap();
        if let Some(command) = competitor {
            let mut other = target.spawn(command, &[]);
            other.wait_held();
            assert!(other.finish().success(), "{command} in the gap");
        }
        take_back_after_failed_exec();
        let case = format!("held shared: {shared}, {competitor:?} in the gap");
        assert_eq!(lock.is_held().unwrap(), !lost, "{case}");
        assert_eq!(lock.release().unwrap(), !lost, "{case}");
        assert_eq!(target.spawn("try", &[]).line(), ["true"], "{case}: nothing is left held");
    }
}
