//! Engine handlers this extension puts in front of functions and methods
//! (its own, and pcntl's `pcntl_exec()`): only the handler pointer of the
//! `zend_function` changes, so reflection, arginfo and stubs see what they
//! saw. The handler put in front hands every call it does not take on to
//! the one it replaced.

use std::sync::OnceLock;

use ext_php_rs::{
    ffi::{zend_execute_data, zend_function, zval},
    types::ZendHashTable,
};

/// An internal function's handler, as the engine calls it.
pub type Handler = unsafe extern "C" fn(*mut zend_execute_data, *mut zval);

/// Puts `wrapper` in front of the function `name` of `table` (a class's
/// method table, or a thread's function table), keeping the handler it
/// replaces in `original`; a no-op where `wrapper` is there already. A ZTS
/// PHP gives each thread its own copy of an internal function, each with
/// the same handler at first; a copy whose handler another extension
/// replaced is left alone.
pub fn put_in_front(table: &ZendHashTable, name: &str, original: &OnceLock<Handler>, wrapper: Handler) {
    // SAFETY: function-table entries are IS_PTR zvals to persistent
    // zend_function structs of internal functions, owned by the class or by
    // this thread's table for as long as it runs PHP; they are changed
    // before any script calls them.
    unsafe {
        let Some(function) = table.get(name).and_then(|f| f.ptr::<zend_function>()) else { return };
        let internal = &mut (*function).internal_function;
        let Some(current) = internal.handler else { return };
        if std::ptr::fn_addr_eq(current, wrapper) {
            return;
        }
        if std::ptr::fn_addr_eq(*original.get_or_init(|| current), current) {
            internal.handler = Some(wrapper);
        }
    }
}

/// Passes the engine's call on to the handler [`put_in_front`] replaced.
///
/// # Safety
///
/// `execute_data` and `return_value` are the engine's, for a call of the
/// function whose handler `original` holds.
pub unsafe fn hand_on(original: &OnceLock<Handler>, execute_data: *mut zend_execute_data, return_value: *mut zval) {
    if let Some(original) = original.get() {
        // SAFETY: the engine's own call, passed on to the handler replaced.
        unsafe { original(execute_data, return_value) };
    }
}
