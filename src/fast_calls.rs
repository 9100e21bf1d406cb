//! `acquire()`, `release()` and `isHeld()` are the calls a lock makes in a
//! loop. ext-php-rs dispatches every method through a `zend_try` (a
//! `setjmp`) and a generic argument parser, which costs about as much as
//! the whole lock on the fast backends (callgrind: ~580 of ~1,270
//! instructions of a semaphore cycle). These three get engine handlers of
//! their own, as an internal function has: the common calls (no argument,
//! or a timeout that is already a float or an int) go straight to the lock;
//! every other call (a string timeout, `null`, too many arguments) goes to
//! ext-php-rs's handler, which coerces and reports exactly as before.
//! Reflection is untouched: only the handler pointer changes. No panic
//! crosses into the engine, and nothing here can bail out (the core never
//! calls PHP), so no `zend_try` is needed.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    sync::OnceLock,
};

use exakat_lock_core::panic_message;
use ext_php_rs::{
    class::RegisteredClass,
    exception::{PhpException, PhpResult},
    ffi::{zend_execute_data, zval},
    types::Zval,
    zend::{ce, ExecuteData},
};

use crate::{
    handlers::{self, Handler},
    lock::Lock,
};

/// ext-php-rs's handlers (or those put in front of them), for the calls
/// the fast ones hand on.
static ORIGINALS: [OnceLock<Handler>; 3] = [const { OnceLock::new() }; 3];

const ACQUIRE: usize = 0;
const RELEASE: usize = 1;
const IS_HELD: usize = 2;

/// Puts the fast handlers in `ExakatLock\Lock`'s method table, once per
/// process: an internal class's methods are shared by every thread.
pub fn install() {
    static CLASS: std::sync::Once = std::sync::Once::new();
    CLASS.call_once(|| {
        let table = &Lock::get_metadata().ce().function_table;
        let fast: [(&str, Handler); 3] = [("acquire", acquire), ("release", release), ("isheld", is_held)];
        for (which, (name, handler)) in fast.into_iter().enumerate() {
            handlers::put_in_front(table, name, &ORIGINALS[which], handler);
        }
    });
}

/// The `Lock` behind `$this`, if the call is one the fast path takes:
/// at most `max_args` arguments.
unsafe fn this_lock(frame: &mut ExecuteData, max_args: u32) -> Option<&mut Lock> {
    // SAFETY: num_args is the union member the engine sets for calls.
    if unsafe { frame.This.u2.num_args } > max_args {
        return None;
    }
    crate::constructed::lock_object(frame.get_self()?)?.obj.as_mut()
}

/// Runs `call`, sets its boolean result or throws its exception; a panic
/// becomes the `\Error` ext-php-rs would have thrown.
unsafe fn finish(return_value: *mut zval, call: impl FnOnce() -> PhpResult<bool>) {
    let outcome = catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|payload| {
        Err(PhpException::new(format!("Rust panic: {}", panic_message(payload.as_ref())), 0, ce::error()))
    });
    match outcome {
        // SAFETY: the engine's return slot for this call.
        Ok(held) => unsafe { (*return_value.cast::<Zval>()).set_bool(held) },
        Err(exception) => {
            exception.throw();
        }
    }
}

unsafe fn hand_on(which: usize, execute_data: *mut zend_execute_data, return_value: *mut zval) {
    // SAFETY: the engine's call of the method `ORIGINALS[which]` belongs to.
    unsafe { handlers::hand_on(&ORIGINALS[which], execute_data, return_value) };
}

unsafe extern "C" fn acquire(execute_data: *mut zend_execute_data, return_value: *mut zval) {
    // SAFETY: the engine's call frame for this method.
    let frame = unsafe { &mut *execute_data.cast::<ExecuteData>() };
    // The timeout as PHP would pass it without coercion: absent, float or int.
    // SAFETY: num_args is the union member the engine sets for calls, and
    // argument 0 exists when it is at least 1.
    let seconds = match unsafe { frame.This.u2.num_args } {
        0 => Some(0.0),
        _ => match unsafe { frame.zend_call_arg(0) } {
            Some(arg) if arg.is_double() => arg.double(),
            #[allow(clippy::cast_precision_loss)]
            Some(arg) if arg.is_long() => arg.long().map(|l| l as f64),
            _ => None,
        },
    };
    match (seconds, unsafe { this_lock(frame, 1) }) {
        (Some(seconds), Some(lock)) => unsafe { finish(return_value, || lock.acquire_for(seconds)) },
        _ => unsafe { hand_on(ACQUIRE, execute_data, return_value) },
    }
}

unsafe extern "C" fn release(execute_data: *mut zend_execute_data, return_value: *mut zval) {
    // SAFETY: as in `acquire`.
    let frame = unsafe { &mut *execute_data.cast::<ExecuteData>() };
    match unsafe { this_lock(frame, 0) } {
        Some(lock) => unsafe { finish(return_value, || lock.release()) },
        None => unsafe { hand_on(RELEASE, execute_data, return_value) },
    }
}

unsafe extern "C" fn is_held(execute_data: *mut zend_execute_data, return_value: *mut zval) {
    // SAFETY: as in `acquire`.
    let frame = unsafe { &mut *execute_data.cast::<ExecuteData>() };
    match unsafe { this_lock(frame, 0) } {
        Some(lock) => unsafe { finish(return_value, || lock.is_held()) },
        None => unsafe { hand_on(IS_HELD, execute_data, return_value) },
    }
}
