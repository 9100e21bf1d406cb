//! `pcntl_exec()` replaces the PHP process with another program without
//! ending it. Descriptors are `O_CLOEXEC`, so socket, tcp, flock and mysql
//! locks end with the exec; but the kernel carries SysV `SEM_UNDO`
//! adjustments across `execve(2)`, so the new program would keep every
//! semaphore lock until it exits. This wraps `pcntl_exec()` to give them
//! back first, and to take them back if the exec fails.

use std::sync::OnceLock;

use ext_php_rs::{
    ffi::{zend_execute_data, zend_function, zval},
    zend::ExecutorGlobals,
};

type Handler = unsafe extern "C" fn(*mut zend_execute_data, *mut zval);

static ORIGINAL: OnceLock<Handler> = OnceLock::new();

unsafe extern "C" fn pcntl_exec_giving_back_semaphores(execute_data: *mut zend_execute_data, return_value: *mut zval) {
    // No panic may unwind into the engine; these only make system calls.
    let _ = std::panic::catch_unwind(exakat_lock_core::backend::give_back_before_exec);
    if let Some(original) = ORIGINAL.get() {
        // SAFETY: the engine's own arguments, passed on to the handler we replaced.
        unsafe { original(execute_data, return_value) };
    }
    // Only reached when the exec failed: this process goes on.
    let _ = std::panic::catch_unwind(exakat_lock_core::backend::take_back_after_failed_exec);
}

/// Wraps `pcntl_exec()` once per process, if pcntl is loaded. Called at
/// request start-up, when every extension has registered its functions.
pub fn install() {
    if ORIGINAL.get().is_some() {
        return;
    }
    let globals = ExecutorGlobals::get();
    let Some(function) = globals.function_table().and_then(|table| table.get("pcntl_exec")) else { return };
    // SAFETY: function-table entries are IS_PTR zvals to persistent
    // zend_function structs of internal functions, which live for the process.
    unsafe {
        let Some(function) = function.ptr::<zend_function>() else { return };
        let internal = &mut (*function).internal_function;
        if let Some(original) = internal.handler {
            if ORIGINAL.set(original).is_ok() {
                internal.handler = Some(pcntl_exec_giving_back_semaphores);
            }
        }
    }
}
