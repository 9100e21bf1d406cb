//! `$options` can carry a MySQL DSN with its password. PHP keeps every
//! call's arguments in exception traces and `debug_backtrace()`, so the
//! parameters get the `#[\SensitiveParameter]` attribute, as PDO's
//! `$password` has: from PHP 8.2 on, traces show a `SensitiveParameterValue`
//! instead. PHP 8.1 has no such attribute, so nothing is marked there:
//! without the class, the attribute's name would be a request-scoped
//! interned string, freed at the end of the first request while the
//! persistent functions still point at it.

use std::{ffi::c_void, sync::Once};

use ext_php_rs::{class::RegisteredClass, ffi::zend_function, types::ZendStr, zend::ExecutorGlobals};

use crate::lock::Lock;

extern "C" {
    // ZEND_API since PHP 8.1; what the inline zend_add_parameter_attribute() calls.
    fn zend_add_attribute(
        attributes: *mut *mut ext_php_rs::ffi::HashTable,
        name: *mut ext_php_rs::ffi::zend_string,
        argc: u32,
        flags: u32,
        offset: u32,
        lineno: u32,
    ) -> *mut c_void;
}

/// Attributes of internal functions live in persistent memory.
const ZEND_ATTRIBUTE_PERSISTENT: u32 = 1 << 0;

/// Marks the parameters once per process.
pub fn mark_options_parameters() {
    /// PHP 8.2's module API number, the first with `SensitiveParameter`.
    const PHP_8_2_API: u32 = 20220829;
    static ONCE: Once = Once::new();
    if ext_php_rs::ffi::ZEND_MODULE_API_NO < PHP_8_2_API {
        return;
    }
    ONCE.call_once(|| {
        let globals = ExecutorGlobals::get();
        let Some(functions) = globals.function_table() else { return };
        let methods = &Lock::get_metadata().ce().function_table;
        // SAFETY: a class's method table is a HashTable of IS_PTR zvals.
        let methods = unsafe { &*std::ptr::from_ref(methods).cast::<ext_php_rs::types::ZendHashTable>() };
        let name = ZendStr::new_interned("SensitiveParameter", true).into_raw();
        let targets = [
            (functions.get("exakat_lock"), 3),
            (functions.get("exakat_lock_holder"), 2),
            (methods.get("__construct"), 2),
            (methods.get("synchronized"), 4),
        ];
        for (function, offset) in targets {
            // SAFETY: entries of function tables point to persistent
            // zend_function structs registered by this module; the offset is
            // the parameter's, plus one as the engine counts them.
            unsafe {
                let Some(function) = function.and_then(|zv| zv.ptr::<zend_function>()) else { continue };
                zend_add_attribute(
                    &mut (*function).common.attributes,
                    name.cast(),
                    0,
                    ZEND_ATTRIBUTE_PERSISTENT,
                    offset + 1,
                    0,
                );
            }
        }
    });
}
