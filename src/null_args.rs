//! `null` passed for a parameter that has a default (`acquire(null)`,
//! `new Lock('x', null)`) is a `\TypeError` (DESIGN, decision 3), with
//! PHP's own message: "ExakatLock\Lock::acquire(): Argument #1 ($timeout)
//! must be of type float, null given". ext-php-rs's handlers refuse such a
//! `null` themselves, before the parsers of `args.rs` see it, with a message
//! of their own ("Argument `$timeout` must not be null"). So the functions
//! and methods with such parameters get a handler in front that throws
//! PHP's error for that case and hands every other call on unchanged.
//! Reflection is untouched: only the handler pointer changes.

use std::{ffi::CString, sync::OnceLock};

use ext_php_rs::{
    boxed::ZBox,
    class::RegisteredClass,
    ffi::{zend_execute_data, zend_string, zend_type, zval},
    types::{ZendHashTable, ZendStr},
    zend::{ExecuteData, ExecutorGlobals},
};

use crate::{
    ffi,
    handlers::{self, Handler},
    lock::Lock,
};

extern "C" {
    // ZEND_API since PHP 8.0: a type as PHP's messages spell it.
    fn zend_type_to_string(type_: zend_type) -> *mut zend_string;
}

/// `MAY_BE_NULL`: bit `IS_NULL` of a type mask.
const MAY_BE_NULL: u32 = 1 << ext_php_rs::ffi::IS_NULL;

const METHODS: [&str; 4] = ["__construct", "acquire", "acquireshared", "synchronized"];
const FUNCTIONS: [&str; 3] = ["exakat_lock", "exakat_lock_holder", "exakat_lock_list"];

/// ext-php-rs's handler of each guarded function, `METHODS` then
/// `FUNCTIONS`: the same for every thread's copy of a function.
static ORIGINALS: [OnceLock<Handler>; 7] = [const { OnceLock::new() }; 7];

/// Guards the methods once per process (a class's methods are shared by
/// every thread) and the functions in the running thread's function table
/// (a ZTS PHP gives each thread its own copies). Runs before
/// `fast_calls::install()`, whose slow path then comes here.
pub fn install() {
    static CLASS: std::sync::Once = std::sync::Once::new();
    CLASS.call_once(|| {
        let methods = &Lock::get_metadata().ce().function_table;
        // SAFETY: a class's method table is a HashTable of IS_PTR zvals.
        let methods = unsafe { &*std::ptr::from_ref(methods).cast::<ZendHashTable>() };
        for (slot, name) in METHODS.iter().enumerate() {
            guard(methods, name, slot);
        }
    });
    if let Some(functions) = ExecutorGlobals::get().function_table() {
        for (at, name) in FUNCTIONS.iter().enumerate() {
            guard(functions, name, METHODS.len() + at);
        }
    }
}

fn guard(table: &ZendHashTable, name: &str, slot: usize) {
    let guards: [Handler; 7] = [
        refuse_null_for_defaults::<0>,
        refuse_null_for_defaults::<1>,
        refuse_null_for_defaults::<2>,
        refuse_null_for_defaults::<3>,
        refuse_null_for_defaults::<4>,
        refuse_null_for_defaults::<5>,
        refuse_null_for_defaults::<6>,
    ];
    handlers::put_in_front(table, name, &ORIGINALS[slot], guards[slot]);
}

unsafe extern "C" fn refuse_null_for_defaults<const SLOT: usize>(
    execute_data: *mut zend_execute_data,
    return_value: *mut zval,
) {
    // SAFETY: the engine's call frame for this function.
    if unsafe { threw_for_null(&mut *execute_data.cast::<ExecuteData>()) } {
        return;
    }
    // SAFETY: the engine's call of the function `ORIGINALS[SLOT]` belongs to.
    unsafe { handlers::hand_on(&ORIGINALS[SLOT], execute_data, return_value) };
}

/// Throws PHP's `\TypeError` for the first `null` passed to a parameter
/// that has a default and does not take `null`; whether it did.
unsafe fn threw_for_null(frame: &mut ExecuteData) -> bool {
    // SAFETY: `func` is the running internal function; num_args is the union
    // member the engine sets for calls; arg_info has one entry per declared
    // parameter.
    unsafe {
        let function = frame.func;
        let declared = (*function).common.num_args;
        let passed = frame.This.u2.num_args.min(declared);
        let infos = (*function).internal_function.arg_info;
        for at in 0..passed {
            let info = &*infos.add(at as usize);
            let is_null = frame.zend_call_arg(at as usize).is_some_and(|arg| arg.is_null());
            if is_null && !info.default_value.is_null() && info.type_.type_mask & MAY_BE_NULL == 0 {
                let spelled = zend_type_to_string(info.type_);
                if spelled.is_null() {
                    return false;
                }
                // Owned: released when dropped.
                let spelled = ZBox::<ZendStr>::from_raw(spelled.cast());
                let Ok(type_name) = CString::new(spelled.as_bytes()) else { return false };
                ffi::zend_argument_type_error(at + 1, c"must be of type %s, null given".as_ptr(), type_name.as_ptr());
                return true;
            }
        }
        false
    }
}
