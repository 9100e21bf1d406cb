//! exakat_lock: the PHP binding of exakat-lock-core.
//!
//! The whole PHP surface is here and in four small files: `lock.rs` (the
//! `ExakatLock\Lock` class), `functions.rs` (the `exakat_lock*()`
//! functions), `errors.rs` (exceptions) and `ini.rs` (INI entries). Their
//! helpers:
//! - `args.rs`: PHP's argument coercion and messages;
//! - `null_args.rs`: PHP's own `\TypeError` for `null` where a parameter
//!   has a default;
//! - `fast_calls.rs`: engine handlers for `acquire()`, `release()` and
//!   `isHeld()`;
//! - `constructed.rs`: a `Lock` is constructed once, and used only once
//!   constructed;
//! - `critical.rs`: the lock `synchronized()` holds while its callback
//!   runs, let go when a fatal error jumps over it, in Fibers too;
//! - `handlers.rs`: how those put an engine handler in front of a function
//!   or method;
//! - `exec_hook.rs`: semaphores given back around `pcntl_exec()`;
//! - `sensitive.rs`: `#[\SensitiveParameter]` on `$options`;
//! - `stack_guard.rs`: before PHP 8.3, the engine's stack-size `\Error` for
//!   a `synchronized()` that recurses without end;
//! - `ffi.rs`: the few engine symbols ext-php-rs does not bind.
//!
//! Everything else, backends included, lives in the core crate.

#![cfg_attr(windows, feature(abi_vectorcall))]

mod args;
mod constructed;
mod critical;
mod errors;
mod exec_hook;
mod fast_calls;
mod ffi;
mod functions;
mod handlers;
mod ini;
mod lock;
mod null_args;
mod sensitive;
mod stack_guard;

use ext_php_rs::{info_table_end, info_table_row, info_table_start, prelude::*, zend::ModuleEntry};

/// MINIT: INI entries and exception classes. A failure here makes PHP
/// report "Unable to start exakat_lock module" instead of crashing.
pub fn startup(_type: i32, module_number: i32) -> i32 {
    quiet_panics();
    ini::register(module_number);
    match errors::register() {
        Ok(()) => ffi::SUCCESS,
        Err(_) => ffi::FAILURE,
    }
}

/// A panic in this `.so` (its own copy of std, its own hook) prints
/// nothing: an extension speaks through exceptions, and every panic it
/// catches becomes one that carries the panic's message (`\Error` "Rust
/// panic: ..." for a bug of ours, a `LockException` for one of the mysql
/// client library's). The default hook wrote it on the script's stderr,
/// and a backtrace too wherever `RUST_BACKTRACE` is set.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

/// RINIT: every extension and class is registered by now, so pcntl_exec()
/// can be wrapped and parameters marked, in this thread's function table
/// (each thread of a ZTS PHP has its own); a look-up and no more once done.
unsafe extern "C" fn request_startup(_type: i32, _module_number: i32) -> i32 {
    let _ = std::panic::catch_unwind(|| {
        exec_hook::install();
        sensitive::mark_options_parameters();
        null_args::install();
        constructed::install();
        constructed::forget_constructions();
        fast_calls::install();
    });
    ffi::SUCCESS
}

/// RSHUTDOWN: the locks of `synchronized()` calls in Fibers that a fatal
/// error ended.
unsafe extern "C" fn request_shutdown(_type: i32, _module_number: i32) -> i32 {
    let _ = std::panic::catch_unwind(critical::release_those_left_in_fibers);
    ffi::SUCCESS
}

/// MSHUTDOWN: release what `exakat_lock()` still holds.
unsafe extern "C" fn shutdown(_type: i32, _module_number: i32) -> i32 {
    let _ = std::panic::catch_unwind(functions::release_all);
    ffi::SUCCESS
}

/// `phpinfo()` and `php --ri exakat_lock`.
unsafe extern "C" fn info(module: *mut ModuleEntry) {
    let _ = std::panic::catch_unwind(|| {
        let backends: Vec<&str> =
            exakat_lock_core::usable_backends(&ini::settings()).into_iter().map(|kind| kind.as_str()).collect();
        info_table_start!();
        info_table_row!("exakat_lock support", "enabled");
        info_table_row!("Version", env!("CARGO_PKG_VERSION"));
        info_table_row!("Built for", built_for());
        info_table_row!("Built with", env!("EXAKAT_LOCK_BUILT_WITH"));
        info_table_row!("Backends usable here", backends.join(", "));
        info_table_row!("MySQL backend", if cfg!(feature = "mysql") { "compiled in" } else { "not compiled in" });
        info_table_end!();
    });
    // SAFETY: the engine passes this module's own entry.
    unsafe { ffi::display_ini_entries(module.cast()) };
}

/// The PHP the `.so` was built for (build.rs asked its php-config):
/// "PHP 8.2.32, module API 20220829, NTS".
fn built_for() -> String {
    use ext_php_rs::{PHP_DEBUG, PHP_ZTS};
    format!(
        "PHP {}, module API {}, {}{}",
        env!("EXAKAT_LOCK_BUILT_FOR_PHP"),
        ext_php_rs::ffi::ZEND_MODULE_API_NO,
        if PHP_ZTS { "ZTS" } else { "NTS" },
        if PHP_DEBUG { ", debug" } else { "" }
    )
}

#[php_module]
#[php(startup = "startup")]
pub fn get_module(module: ModuleBuilder) -> ModuleBuilder {
    functions::register(module.class::<lock::Lock>())
        .request_startup_function(request_startup)
        .request_shutdown_function(request_shutdown)
        .shutdown_function(shutdown)
        .info_function(info)
}
