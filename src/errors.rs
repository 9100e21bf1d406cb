//! `ExakatLock\LockException`, `ExakatLock\LockTimeoutException`, and the
//! one place where a core error becomes a PHP exception.
//!
//! The classes are registered with `ClassBuilder` at start-up rather than as
//! `#[php_class]` structs: that keeps `\RuntimeException`'s own constructor,
//! so `new LockException('message')` works in user code as for any exception.

use std::sync::atomic::{AtomicPtr, Ordering};

use exakat_lock_core::Error;
use ext_php_rs::{builders::ClassBuilder, exception::PhpException, zend::ClassEntry};

use crate::{
    args::{throw_type_error, throw_value_error},
    ffi,
};

static LOCK_EXCEPTION: AtomicPtr<ClassEntry> = AtomicPtr::new(std::ptr::null_mut());
static LOCK_TIMEOUT_EXCEPTION: AtomicPtr<ClassEntry> = AtomicPtr::new(std::ptr::null_mut());

fn runtime_exception() -> &'static ClassEntry {
    // SAFETY: SPL registers RuntimeException during engine start-up, before
    // any extension's MINIT; the class entry lives for the whole process.
    unsafe { &*ffi::spl_ce_RuntimeException.cast::<ClassEntry>() }
}

pub fn lock_exception() -> &'static ClassEntry {
    // SAFETY: set once in MINIT (`register`) before any PHP code runs.
    unsafe { &*LOCK_EXCEPTION.load(Ordering::Acquire) }
}

pub fn lock_timeout_exception() -> &'static ClassEntry {
    // SAFETY: as above.
    unsafe { &*LOCK_TIMEOUT_EXCEPTION.load(Ordering::Acquire) }
}

/// Registers both exception classes; called from MINIT.
pub fn register() -> ext_php_rs::error::Result<()> {
    ClassBuilder::new("ExakatLock\\LockException")
        .extends((runtime_exception, "\\RuntimeException"))
        .registration(|ce, _| LOCK_EXCEPTION.store(ce, Ordering::Release))
        .register()?;
    ClassBuilder::new("ExakatLock\\LockTimeoutException")
        .extends((lock_exception, "\\ExakatLock\\LockException"))
        .registration(|ce, _| LOCK_TIMEOUT_EXCEPTION.store(ce, Ordering::Release))
        .register()
}

/// The parameter names of the running function, in order, so an error about
/// `timeout` or `option "port"` lands on the right `Argument #N ($...)`.
pub type Signature = &'static [&'static str];

/// Throws a core error as the PHP exception the contract promises:
/// `\ValueError` and `\TypeError` for bad arguments, `LockException` for the rest.
pub fn to_php(error: Error, signature: Signature) -> PhpException {
    match error {
        Error::InvalidArgument { argument, problem } => {
            let (position, subject) = locate(&argument, signature);
            throw_value_error(position, &format!("{subject}{problem}"));
            already_thrown()
        }
        Error::InvalidType { argument, expected, given } => {
            let (position, subject) = locate(&argument, signature);
            throw_type_error(position, &format!("{subject}must be of type {expected}, {given} given"));
            already_thrown()
        }
        other => PhpException::new(without_nul(other.to_string()), 0, lock_exception()),
    }
}

/// PHP messages are C strings here: a NUL byte (from a server's error
/// echoing input, say) would make the exception impossible to build.
fn without_nul(message: String) -> String {
    if message.contains('\0') {
        message.replace('\0', "\\0")
    } else {
        message
    }
}

/// Maps `name` to its position, and `option "port"` to the position of
/// `$options` with the option named in the message.
fn locate(argument: &str, signature: Signature) -> (u32, String) {
    let (parameter, subject) = match argument.strip_prefix("option ") {
        Some(option) => ("options", format!("option {option} ")),
        None => (argument, String::new()),
    };
    let position = signature.iter().position(|p| *p == parameter).map_or(0, |i| i + 1);
    (u32::try_from(position).unwrap_or(0), subject)
}

/// The value ext-php-rs gets back once an exception is already pending: it
/// throws nothing over it, and PHP sees the pending one.
pub fn already_thrown() -> PhpException {
    PhpException::new(String::new(), 0, lock_exception())
}
