//! Engine functions this extension calls that ext-php-rs does not bind.
//! All are exported by every PHP 8.1+ binary (`ZEND_API`/`PHPAPI`); the
//! `ZEND_FASTCALL` ones are plain C calls on x86-64 and aarch64.

use std::ffi::{c_char, c_int, c_void};

use ext_php_rs::ffi::{zend_class_entry, zend_module_entry, zend_object, zend_string, zval};

extern "C" {
    /// Throws `\TypeError`: "F(): Argument #N ($name) <format>".
    pub fn zend_argument_type_error(arg_num: u32, format: *const c_char, ...);
    /// Throws `\ValueError`: "F(): Argument #N ($name) <format>".
    pub fn zend_argument_value_error(arg_num: u32, format: *const c_char, ...);
    /// PHP's own coercion of a non-string argument to string; honours
    /// `strict_types` of the caller and emits PHP's deprecations.
    pub fn zend_parse_arg_str_slow(arg: *mut zval, dest: *mut *mut zend_string, arg_num: u32) -> bool;
    /// Converts a non-string zval to string in place, as PHP's internal
    /// functions do with array elements; false (and an exception) if it
    /// cannot be.
    pub fn _try_convert_to_string(op: *mut zval) -> bool;
    /// The same for float arguments.
    pub fn zend_parse_arg_double_slow(arg: *const zval, dest: *mut f64, arg_num: u32) -> bool;
    pub fn zend_is_callable_ex(
        callable: *mut zval,
        object: *mut zend_object,
        check_flags: u32,
        callable_name: *mut *mut zend_string,
        fcc: *mut c_void,
        error: *mut *mut c_char,
    ) -> bool;
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

/// `SUCCESS` and `FAILURE` of the engine's `zend_result`.
pub const SUCCESS: c_int = 0;
pub const FAILURE: c_int = -1;
