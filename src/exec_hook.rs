//! `pcntl_exec()` replaces the PHP process with another program without
//! ending it. Descriptors are `O_CLOEXEC`, so socket, tcp, flock and mysql
//! locks end with the exec; but the kernel carries SysV `SEM_UNDO`
//! adjustments across `execve(2)`, so the new program would keep every
//! semaphore lock until it exits. This wraps `pcntl_exec()` to give them
//! back first, and to take them back if the exec fails.
//!
//! A process that changed its user since it took a semaphore lock may no
//! longer change the set: then nothing is given back, and `pcntl_exec()`
//! throws `LockException` instead of executing.
//!
//! A give-back is visible: a queued waiter takes the lock at once. So it
//! happens only once PHP can no longer refuse the call: the wrapper first
//! does the argument conversions `pcntl_exec()` would do, in place and once
//! (a `__toString()` runs once, as without the wrapper), and a call PHP
//! would reject (an object that is not Stringable in `$args`, a path with a
//! null byte, a wrong type) reaches the original untouched, which throws.

use std::sync::OnceLock;

use ext_php_rs::{
    exception::PhpException,
    ffi::{zend_execute_data, zval},
    zend::{ExecuteData, ExecutorGlobals},
};

use crate::{ffi, handlers};

static ORIGINAL: OnceLock<handlers::Handler> = OnceLock::new();

unsafe extern "C" fn pcntl_exec_giving_back_semaphores(execute_data: *mut zend_execute_data, return_value: *mut zval) {
    let Some(original) = ORIGINAL.get() else { return };
    // SAFETY: the engine's own call frame for this internal function.
    match unsafe { prepare_arguments(&mut *execute_data) } {
        Prepared::Exec => {}
        // PHP will refuse the call before any exec: nothing to give back.
        Prepared::Refused => return unsafe { original(execute_data, return_value) },
        // A conversion threw: the exception is pending, as in pcntl_exec().
        Prepared::Threw => return,
    }
    // No panic may unwind into the engine; these only make system calls.
    if let Ok(Err(why)) = std::panic::catch_unwind(exakat_lock_core::backend::give_back_before_exec) {
        // Nothing was given back, and the exec does not happen: the new
        // program would hold the lock.
        let exception = PhpException::new(format!("pcntl_exec(): {why}"), 0, crate::errors::lock_exception());
        exception.throw();
        return;
    }
    // SAFETY: the engine's own arguments, passed on to the handler we replaced.
    unsafe { original(execute_data, return_value) };
    // Only reached when the exec failed: this process goes on.
    let _ = std::panic::catch_unwind(exakat_lock_core::backend::take_back_after_failed_exec);
}

enum Prepared {
    /// Every argument is what `pcntl_exec()` accepts as is: it will exec.
    Exec,
    /// `pcntl_exec()` will throw for these arguments.
    Refused,
    /// Converting an element threw.
    Threw,
}

/// Does `pcntl_exec(string $path, array $args = [], array $env_vars = [])`'s
/// conversions in its call frame: the path as its parameter parsing would
/// (honouring `strict_types`), then every element of the arrays to string,
/// on separated copies, as it does itself.
unsafe fn prepare_arguments(frame: &mut ExecuteData) -> Prepared {
    // SAFETY: num_args is the union member the engine sets for calls.
    let count = unsafe { frame.This.u2.num_args } as usize;
    if !(1..=3).contains(&count) {
        return Prepared::Refused;
    }
    // SAFETY: arguments 0..count are initialised zvals of this frame.
    let Some(path) = (unsafe { frame.zend_call_arg(0) }) else { return Prepared::Refused };
    if !path.is_string() {
        // SAFETY: converts the argument in place, as parameter parsing does.
        if unsafe { ffi::parse_arg_str_slow(path, 1) }.is_none() {
            return Prepared::Refused;
        }
    }
    if path.zend_str().is_none_or(|p| p.as_bytes().contains(&0)) {
        return Prepared::Refused;
    }
    for at in 1..count {
        // SAFETY: as above.
        let Some(array) = (unsafe { frame.zend_call_arg(at) }).filter(|a| a.is_array()) else {
            return Prepared::Refused;
        };
        let Some(table) = array.array_mut() else { return Prepared::Refused };
        for (_, element) in table.iter() {
            let element = std::ptr::from_ref(element).cast_mut().cast::<zval>();
            // SAFETY: the table is this frame's own separated copy; the
            // conversion replaces the element with a string, or throws.
            if unsafe { (*element).u1.type_info & 0xff } != ext_php_rs::ffi::IS_STRING
                && !unsafe { ffi::_try_convert_to_string(element) }
            {
                return Prepared::Threw;
            }
        }
    }
    Prepared::Exec
}

/// Wraps `pcntl_exec()`, if pcntl is loaded, in the running thread's
/// function table. Called at each request start-up, when every extension
/// has registered its functions; a no-op where it is wrapped already. A ZTS
/// PHP gives each thread its own copy of every internal function (see
/// `sensitive.rs`), so wrapping once per process would cover one thread.
pub fn install() {
    if let Some(functions) = ExecutorGlobals::get().function_table() {
        handlers::put_in_front(functions, "pcntl_exec", &ORIGINAL, pcntl_exec_giving_back_semaphores);
    }
}
