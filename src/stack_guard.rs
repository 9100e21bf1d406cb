//! A runaway recursion through `Lock::synchronized()` ends in an `\Error`,
//! not a crash, on every PHP this builds for.
//!
//! PHP 8.3 and newer check the C stack when a function is called and throw
//! "Maximum call stack size of N bytes reached. Infinite recursion?". PHP
//! 8.1 and 8.2 do not: a callback that calls `synchronized()` again, each
//! level some 2 KiB of C stack between the engine's frames and ours, ran
//! out of the 8 MiB main stack at a depth of about 4,000 and took PHP down
//! (SIGSEGV), where plain PHP recursion runs on the VM's own stack. There,
//! this module makes the same check before each `synchronized()`, with the
//! same message. Inside a Fiber, on a stack of its own, nothing is checked.

use ext_php_rs::exception::PhpResult;

/// Stack left for whatever runs after the refusal: unwinding, the
/// exception and its trace, and the user's `catch`. PHP 8.3 keeps 64 KiB
/// (`zend.reserved_stack_size`); one more `synchronized()` level above
/// the line must fit too.
#[cfg(php_without_stack_limit)]
const RESERVED: usize = 128 * 1024;

/// `Err` with the engine's own `\Error` once the C stack is nearly used up.
#[cfg(php_without_stack_limit)]
pub fn check() -> PhpResult<()> {
    use std::cell::Cell;

    use ext_php_rs::{exception::PhpException, zend::ce};

    thread_local! {
        /// This thread's stack as (lowest address, size); (0, 0) when the
        /// system cannot tell, and nothing is checked.
        static STACK: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
    }
    let (lowest, size) = STACK.with(|stack| {
        stack.get().unwrap_or_else(|| {
            let found = this_threads_stack().unwrap_or((0, 0));
            stack.set(Some(found));
            found
        })
    });
    let marker = 0_u8;
    let here = std::hint::black_box(&raw const marker) as usize;
    // A Fiber runs on a stack of its own, which PHP 8.2 guards no more than
    // the thread's (2 MiB by default, `fiber.stack_size`): not checked.
    let on_this_stack = (lowest..lowest + size).contains(&here);
    if !on_this_stack || here - lowest >= RESERVED {
        return Ok(());
    }
    Err(PhpException::new(
        format!("Maximum call stack size of {} bytes reached. Infinite recursion?", size.saturating_sub(RESERVED)),
        0,
        ce::error(),
    ))
}

#[cfg(not(php_without_stack_limit))]
pub fn check() -> PhpResult<()> {
    Ok(())
}

/// The calling thread's stack, from glibc (for the main thread it reads the
/// stack's mapping and `RLIMIT_STACK`).
#[cfg(php_without_stack_limit)]
fn this_threads_stack() -> Option<(usize, usize)> {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: `pthread_getattr_np` initialises `attr` when it returns 0; it
    // is then read once and destroyed.
    unsafe {
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return None;
        }
        let (mut lowest, mut size) = (std::ptr::null_mut(), 0);
        let read = libc::pthread_attr_getstack(attr.as_ptr(), &raw mut lowest, &raw mut size);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        (read == 0 && size > RESERVED).then_some((lowest as usize, size))
    }
}
