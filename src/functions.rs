//! `exakat_lock()`, `exakat_unlock()`, `exakat_lock_holder()` and
//! `exakat_lock_backends()`: for scripts that hold a lock for their whole run.
//!
//! Locks taken with `exakat_lock()` live in a per-process registry, keyed by
//! name, until `exakat_unlock()` or the end of the process (MSHUTDOWN, or
//! the kernel if the process dies first); discarding the return value never
//! releases them.
//!
//! The registry is per thread: in a ZTS PHP each thread runs its own
//! requests, one after another, as each process of an NTS server does, so a
//! thread is what "the process" means here. Two threads asking for one name
//! are two holders competing, as two processes are; a thread's locks are
//! released when it ends (or at MSHUTDOWN for the main thread).

use std::cell::RefCell;

use exakat_lock_core::{self as core, usable_backends};
use ext_php_rs::{boxed::ZBox, exception::PhpResult, prelude::*, types::ZendHashTable};

use crate::{
    args::{Bytes, Float, NullableStr, OptionsArg, Str},
    errors::{to_php, Signature},
    ini,
    lock::{acquire_in, holder_array, holders_list, spec, take_shared_option, timeout},
};

thread_local! {
    /// One entry per name; the lock object remembers the backend it was taken with.
    static REGISTRY: RefCell<Vec<core::Lock>> = const { RefCell::new(Vec::new()) };
}

const EXAKAT_LOCK: Signature = &["name", "timeout", "backend", "options"];
const EXAKAT_LOCK_HOLDER: Signature = &["name", "backend", "options"];
const EXAKAT_LOCK_LIST: Signature = &["backend", "options"];

/// Takes the lock `$name` for the rest of the process. `true` once held (also
/// when this process already holds it this way), `false` when the time ran out.
#[php_function]
#[php(defaults(timeout = Float(0.0), backend = Str::default_as("auto", "'auto'"), options = OptionsArg::default()))]
pub fn exakat_lock(name: Str<1>, timeout: Float<2>, backend: Str<3>, mut options: OptionsArg<4>) -> PhpResult<bool> {
    let shared = take_shared_option(&mut options.0, EXAKAT_LOCK)?;
    let spec = spec(name.bytes(), backend.bytes(), &options.0, EXAKAT_LOCK)?;
    let wait = self::timeout(timeout.0, EXAKAT_LOCK)?;
    REGISTRY.with_borrow_mut(|registry| lock_in(registry, spec, shared, wait))
}

fn lock_in(registry: &mut Vec<core::Lock>, spec: core::LockSpec, shared: bool, wait: core::Timeout) -> PhpResult<bool> {
    if let Some(at) = registry.iter().position(|held| held.name() == &spec.name) {
        let held = &mut registry[at];
        let same_lock =
            held.kind() == spec.kind && held.spec().describe() == spec.describe() && held.spec().slots == spec.slots;
        // is_held() asks a server whether the lock is still ours; a forked
        // child's copy of the parent's entry reads as not held.
        if same_lock && held.is_held().map_err(|e| to_php(e, EXAKAT_LOCK))? {
            if held.is_shared() == shared {
                return acquire_in(held, shared, wait).map_err(|e| to_php(e, EXAKAT_LOCK));
            }
            // Said here: the core's refusal speaks of an object and its
            // release(), which this caller has neither of.
            let [wanted, holding] = if shared { ["shared", "exclusive"] } else { ["exclusive", "shared"] };
            return Err(to_php(
                core::Error::Failed {
                    lock: spec.name.to_string(),
                    backend: spec.kind,
                    operation: format!("take it {wanted} with exakat_lock()"),
                    cause: core::Cause::Refused(format!(
                        "this process holds it {holding} through exakat_lock(); call exakat_unlock() first"
                    )),
                },
                EXAKAT_LOCK,
            ));
        }
        if held.is_held_locally() {
            return Err(to_php(
                core::Error::Failed {
                    lock: spec.name.to_string(),
                    backend: spec.kind,
                    operation: "take it with exakat_lock()".into(),
                    cause: core::Cause::Refused(format!(
                        "this process already holds it through exakat_lock() on {} ({} backend); call exakat_unlock() first",
                        held.spec().describe(),
                        held.kind()
                    )),
                },
                EXAKAT_LOCK,
            ));
        }
        registry.swap_remove(at);
    }
    let mut lock = core::Lock::new(spec);
    // The registry stays borrowed while waiting: it is this thread's, and
    // the lock must be registered the moment it is taken.
    let taken = acquire_in(&mut lock, shared, wait).map_err(|e| to_php(e, EXAKAT_LOCK))?;
    if taken {
        registry.push(lock);
    }
    Ok(taken)
}

/// Releases a lock taken with `exakat_lock()`: `true` if it did, `false` otherwise.
#[php_function]
pub fn exakat_unlock(name: Str<1>) -> PhpResult<bool> {
    let taken = REGISTRY.with_borrow_mut(|registry| {
        let at = registry.iter().position(|held| held.name().as_bytes() == name.bytes())?;
        Some(registry.swap_remove(at))
    });
    let Some(mut lock) = taken else { return Ok(false) };
    match lock.release() {
        Ok(released) => Ok(released),
        Err(error) => {
            // Still held (a semaphore set this process may no longer
            // change): kept, so that a later exakat_unlock() can free it.
            REGISTRY.with_borrow_mut(|registry| registry.push(lock));
            Err(to_php(error, &["name"]))
        }
    }
}

/// What is known of the holder of `$name`, or `null` when it is free.
#[php_function]
#[php(defaults(backend = Str::default_as("auto", "'auto'"), options = OptionsArg::default()))]
pub fn exakat_lock_holder(
    name: Str<1>,
    backend: Str<2>,
    options: OptionsArg<3>,
) -> PhpResult<Option<ZBox<ZendHashTable>>> {
    let spec = spec(name.bytes(), backend.bytes(), &options.0, EXAKAT_LOCK_HOLDER)?;
    let holder = core::Lock::new(spec).holder().map_err(|e| to_php(e, EXAKAT_LOCK_HOLDER))?;
    holder.map(holder_array).transpose()
}

/// The locks held on this host that this process can see: each
/// `['name' => ?string, 'backend' => string, 'resource' => string,
/// 'holders' => array]`, the holders as `Lock::holders()` gives them.
/// `$backend` null: every local backend, and the server too when a `dsn`
/// or `dsn_file` is given.
#[php_function]
#[php(defaults(backend = NullableStr::default(), options = OptionsArg::default()))]
pub fn exakat_lock_list(backend: NullableStr<1>, options: OptionsArg<2>) -> PhpResult<Vec<ZBox<ZendHashTable>>> {
    let kind = match backend.0 {
        None => None,
        Some(name) => match core::BackendChoice::parse(&name, "backend") {
            Ok(core::BackendChoice::Auto) => None,
            Ok(core::BackendChoice::Kind(kind)) => Some(kind),
            Err(e) => return Err(to_php(e, EXAKAT_LOCK_LIST)),
        },
    };
    let locks = core::list(kind, &options.0, &ini::settings()).map_err(|e| to_php(e, EXAKAT_LOCK_LIST))?;
    locks
        .into_iter()
        .map(|lock| {
            let mut entry = ZendHashTable::new();
            entry.insert("name", lock.name.map(|name| Bytes(name.as_bytes().to_vec())))?;
            entry.insert("backend", lock.backend.as_str())?;
            entry.insert("resource", lock.resource)?;
            entry.insert("holders", holders_list(lock.holders)?)?;
            Ok(entry)
        })
        .collect()
}

/// The backends usable on this system, best first; `auto` means the first.
#[php_function]
pub fn exakat_lock_backends() -> Vec<&'static str> {
    usable_backends(&ini::settings()).into_iter().map(|kind| kind.as_str()).collect()
}

pub fn register(module: ModuleBuilder) -> ModuleBuilder {
    module
        .function(wrap_function!(exakat_lock))
        .function(wrap_function!(exakat_unlock))
        .function(wrap_function!(exakat_lock_holder))
        .function(wrap_function!(exakat_lock_backends))
        .function(wrap_function!(exakat_lock_list))
}

/// Releases every registry lock of this thread at module shutdown, so
/// semaphore sets are removed and servers are told, rather than leaving it
/// all to the kernel. Other threads' locks went when those threads ended.
pub fn release_all() {
    let locks = REGISTRY.with_borrow_mut(std::mem::take);
    drop(locks);
}
