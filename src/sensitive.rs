//! `$options` can carry a MySQL DSN with its password. PHP keeps every
//! call's arguments in exception traces and `debug_backtrace()`, so the
//! parameters get the `#[\SensitiveParameter]` attribute, as PDO's
//! `$password` has: from PHP 8.2 on, traces show a `SensitiveParameterValue`
//! instead. PHP 8.1 has no such attribute, so nothing is marked there:
//! without the class, the attribute's name would be a request-scoped
//! interned string, freed at the end of the first request while the
//! persistent functions still point at it.
//!
//! Where the marks go depends on the build. Methods live in the class entry,
//! which every thread shares: they are marked once per process. Functions
//! do not: a ZTS PHP gives each thread its own copy of every internal
//! function (`compiler_globals_ctor()` copies the process-wide table with
//! `function_copy_ctor()`), so the functions are marked in the function
//! table of the running thread, at each request start-up unless already
//! marked there. Each copy then owns its attribute table, which
//! `zend_function_dtor()` frees with the thread's table.

use std::{ffi::c_void, sync::Once};

use ext_php_rs::{
    class::RegisteredClass,
    ffi::{zend_function, HashTable},
    types::{ZendHashTable, ZendStr},
    zend::ExecutorGlobals,
};

use crate::lock::Lock;

extern "C" {
    // ZEND_API since PHP 8.1; what the inline zend_add_parameter_attribute() calls.
    fn zend_add_attribute(
        attributes: *mut *mut HashTable,
        name: *mut ext_php_rs::ffi::zend_string,
        argc: u32,
        flags: u32,
        offset: u32,
        lineno: u32,
    ) -> *mut c_void;
    // ZEND_API since PHP 8.0: the attribute named `name` (lower case) of
    // parameter `offset` (0-based), or null.
    fn zend_get_parameter_attribute_str(
        attributes: *mut HashTable,
        name: *const std::ffi::c_char,
        len: usize,
        offset: u32,
    ) -> *mut c_void;
}

/// Attributes of internal functions live in persistent memory.
const ZEND_ATTRIBUTE_PERSISTENT: u32 = 1 << 0;

/// PHP 8.2's module API number, the first with `SensitiveParameter`.
const PHP_8_2_API: u32 = 20220829;

/// Marks the parameters: the methods once per process, the functions once
/// per function table (once per process in NTS, once per thread in ZTS).
pub fn mark_options_parameters() {
    static METHODS: Once = Once::new();
    if ext_php_rs::ffi::ZEND_MODULE_API_NO < PHP_8_2_API {
        return;
    }
    let globals = ExecutorGlobals::get();
    let Some(functions) = globals.function_table() else { return };
    mark(functions.get("exakat_lock"), 3);
    mark(functions.get("exakat_lock_holder"), 2);
    mark(functions.get("exakat_lock_list"), 1);
    METHODS.call_once(|| {
        let methods = &Lock::get_metadata().ce().function_table;
        // SAFETY: a class's method table is a HashTable of IS_PTR zvals.
        let methods = unsafe { &*std::ptr::from_ref(methods).cast::<ZendHashTable>() };
        mark(methods.get("__construct"), 2);
        mark(methods.get("synchronized"), 4);
    });
}

/// Adds `#[\SensitiveParameter]` to parameter `offset` (0-based) of the
/// function in `entry`, unless it is there already.
fn mark(entry: Option<&ext_php_rs::types::Zval>, offset: u32) {
    const LOWER: &[u8] = b"sensitiveparameter";
    // SAFETY: entries of function tables point to persistent zend_function
    // structs of this module, owned by the running thread's table (functions)
    // or by the class (methods); the engine counts parameters from 1.
    unsafe {
        let Some(function) = entry.and_then(|zv| zv.ptr::<zend_function>()) else { return };
        let attributes = &mut (*function).common.attributes;
        if !attributes.is_null()
            && !zend_get_parameter_attribute_str(*attributes, LOWER.as_ptr().cast(), LOWER.len(), offset).is_null()
        {
            return;
        }
        // The class name, interned for the whole process since start-up;
        // this returns that string.
        let name = ZendStr::new_interned("SensitiveParameter", true).into_raw();
        zend_add_attribute(attributes, name.cast(), 0, ZEND_ATTRIBUTE_PERSISTENT, offset + 1, 0);
    }
}
