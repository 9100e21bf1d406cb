//! Engine functions this extension calls that ext-php-rs does not bind.
//! All are exported by every PHP 8.1+ binary (`ZEND_API`/`PHPAPI`); the
//! `ZEND_FASTCALL` ones are plain C calls on x86-64 and aarch64. Where a
//! signature changed between versions, a wrapper picks the one of the PHP
//! the extension is built for (ext-php-rs's `ZEND_MODULE_API_NO`).

use std::ffi::{c_char, c_int, c_void};

pub use ext_php_rs::ffi::zend_fcall_info_cache;
use ext_php_rs::ffi::{zend_class_entry, zend_module_entry, zend_object, zend_string, zval, HashTable};

/// `zend_fcall_info`, which ext-php-rs binds for some PHP versions only.
/// Its layout is the same on every PHP 8: PHP 8.6 put `consumed_args` (a
/// bitmask of the arguments the callee may move from; 0, none) where the
/// earlier versions pad.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct zend_fcall_info {
    pub size: usize,
    pub function_name: zval,
    pub retval: *mut zval,
    pub params: *mut zval,
    pub object: *mut zend_object,
    pub param_count: u32,
    pub consumed_args: u32,
    pub named_params: *mut HashTable,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<zend_fcall_info>() == 64, "sizeof(zend_fcall_info) in PHP 8.0 to 8.6");

extern "C" {
    /// Throws `\TypeError`: "F(): Argument #N ($name) <format>".
    pub fn zend_argument_type_error(arg_num: u32, format: *const c_char, ...);
    /// Throws `\ValueError`: "F(): Argument #N ($name) <format>".
    pub fn zend_argument_value_error(arg_num: u32, format: *const c_char, ...);
    /// Converts a non-string zval to string in place, as PHP's internal
    /// functions do with array elements; false (and an exception) if it
    /// cannot be.
    pub fn _try_convert_to_string(op: *mut zval) -> bool;
    pub fn zend_is_callable_ex(
        callable: *mut zval,
        object: *mut zend_object,
        check_flags: u32,
        callable_name: *mut *mut zend_string,
        fcc: *mut c_void,
        error: *mut *mut c_char,
    ) -> bool;
    /// Drops what a check put in `fcc` that is not the engine's to keep (a
    /// `__call()` trampoline), as the engine's own parsers do.
    pub fn zend_release_fcall_info_cache(fcc: *mut zend_fcall_info_cache);
    /// Calls a callback resolved by `zend_is_callable_ex()`; 0 (`SUCCESS`)
    /// when it was called, an exception possibly pending.
    pub fn zend_call_function(fci: *mut zend_fcall_info, fcc: *mut zend_fcall_info_cache) -> c_int;
    /// PHP's working directory (what `getcwd()` returns) copied into `buf`;
    /// null if it does not fit. Exported by NTS builds too, where it is
    /// stale: only a ZTS PHP moves it on `chdir()`.
    pub fn virtual_getcwd(buf: *mut c_char, size: usize) -> *mut c_char;
    /// What `sys_get_temp_dir()` returns.
    pub fn php_get_temporary_directory() -> *const c_char;
    /// Prints a module's INI table in `phpinfo()` / `php --ri`.
    pub fn display_ini_entries(module: *mut zend_module_entry);
    pub static mut spl_ce_RuntimeException: *mut zend_class_entry;
}

/// PHP's own coercion of a non-string argument to string, in place in the
/// argument slot; honours `strict_types` of the caller and emits PHP's
/// deprecations. `None` when PHP refuses the value (no exception thrown).
///
/// # Safety
/// `arg` is an argument slot of the running call.
pub unsafe fn parse_arg_str_slow(arg: *mut zval, arg_num: u32) -> Option<*mut zend_string> {
    let string = if cfg!(php_slow_parsers_return_value) {
        // SAFETY: PHP 8.6's signature.
        unsafe { slow86::zend_parse_arg_str_slow(arg, arg_num) }
    } else {
        let mut string = std::ptr::null_mut();
        // SAFETY: the signature of PHP 8.1 to 8.5.
        if !unsafe { slow81::zend_parse_arg_str_slow(arg, &mut string, arg_num) } {
            return None;
        }
        string
    };
    (!string.is_null()).then_some(string)
}

/// The same for float arguments (ints are widened in both modes).
///
/// # Safety
/// As for [`parse_arg_str_slow`].
pub unsafe fn parse_arg_double_slow(arg: *const zval, arg_num: u32) -> Option<f64> {
    if cfg!(php_slow_parsers_return_value) {
        // SAFETY: PHP 8.6's signature; NaN means refused (a NAN argument is
        // a double already and never reaches the slow path).
        let value = unsafe { slow86::zend_parse_arg_double_slow(arg, arg_num) };
        (!value.is_nan()).then_some(value)
    } else {
        let mut value = 0.0;
        // SAFETY: the signature of PHP 8.1 to 8.5.
        unsafe { slow81::zend_parse_arg_double_slow(arg, &mut value, arg_num) }.then_some(value)
    }
}

// PHP 8.6 returns the value from the slow argument parsers instead of a
// bool, with one parameter less; calling one with the other's signature
// passes a pointer as the argument number. build.rs reads which signature
// the PHP being built for declares (php_slow_parsers_return_value).

#[allow(clashing_extern_declarations)]
mod slow81 {
    use ext_php_rs::ffi::{zend_string, zval};
    extern "C" {
        pub fn zend_parse_arg_str_slow(arg: *mut zval, dest: *mut *mut zend_string, arg_num: u32) -> bool;
        pub fn zend_parse_arg_double_slow(arg: *const zval, dest: *mut f64, arg_num: u32) -> bool;
    }
}

#[allow(clashing_extern_declarations)]
mod slow86 {
    use ext_php_rs::ffi::{zend_string, zval};
    extern "C" {
        pub fn zend_parse_arg_str_slow(arg: *mut zval, arg_num: u32) -> *mut zend_string;
        pub fn zend_parse_arg_double_slow(arg: *const zval, arg_num: u32) -> f64;
    }
}

/// `SUCCESS` and `FAILURE` of the engine's `zend_result`.
pub const SUCCESS: c_int = 0;
pub const FAILURE: c_int = -1;
