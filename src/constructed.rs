//! A `Lock` object is constructed once, and used only once constructed.
//!
//! ext-php-rs's constructor replaces the object's lock when called again:
//! `$lock->__construct(...)` on a held lock released it silently, and the
//! object went on as another lock. And user code can reach an object whose
//! constructor then failed (a `__toString()` of an argument that takes
//! `$this` from `debug_backtrace()`): its methods threw ext-php-rs's
//! "Failed to retrieve reference to `$this`" as a plain `\Exception`, and
//! `var_dump()` of it was a fatal error. PHP's own classes throw an `\Error`
//! for both (`SplFileObject`, `DateTime`), and so does `Lock` now: every
//! instance method gets a handler in front that checks, then hands the call
//! on unchanged. Reflection is untouched: only the handler pointer changes.

use std::sync::OnceLock;

use ext_php_rs::{
    class::RegisteredClass,
    exception::PhpException,
    ffi::{zend_execute_data, zend_object, zval},
    types::{ZendClassObject, ZendHashTable, Zval},
    zend::{ce, ExecuteData},
};

use crate::{
    handlers::{self, Handler},
    lock::Lock,
};

/// Every instance method, as the method table keys it and as PHP spells it.
const METHODS: [(&str, &str); 12] = [
    ("__construct", "__construct"),
    ("acquire", "acquire"),
    ("acquireshared", "acquireShared"),
    ("release", "release"),
    ("isheld", "isHeld"),
    ("isshared", "isShared"),
    ("slot", "slot"),
    ("holder", "holder"),
    ("holders", "holders"),
    ("name", "name"),
    ("backend", "backend"),
    ("__debuginfo", "__debugInfo"),
];
const CONSTRUCT: usize = 0;
const DEBUG_INFO: usize = 11;

/// The handler each method had before: ext-php-rs's, or `null_args`'s.
static ORIGINALS: [OnceLock<Handler>; 12] = [const { OnceLock::new() }; 12];

/// The `ZendClassObject<Lock>` around `object`, if it is one: objects with
/// the handlers of `Lock`'s `create_object` are (the check ext-php-rs's own
/// look-up makes first; its second, an `instanceof` walk, a final class
/// needs not). Its `obj` is `None` until the constructor succeeds.
pub fn lock_object(object: &mut zend_object) -> Option<&mut ZendClassObject<Lock>> {
    if !std::ptr::eq(object.handlers, Lock::get_metadata().handlers()) {
        return None;
    }
    let container = std::ptr::from_mut(object)
        .wrapping_byte_sub(std::mem::offset_of!(ZendClassObject<Lock>, std))
        .cast::<ZendClassObject<Lock>>();
    // SAFETY: the handlers say `object` is the `std` field of a live
    // `ZendClassObject<Lock>`; the borrow is the caller's, of the frame's `$this`.
    Some(unsafe { &mut *container })
}

/// Guards the methods, once per process: a class's methods are shared by
/// every thread. Runs after `null_args::install()` and before
/// `fast_calls::install()`, whose slow path then comes here.
pub fn install() {
    static CLASS: std::sync::Once = std::sync::Once::new();
    CLASS.call_once(|| {
        let methods = &Lock::get_metadata().ce().function_table;
        // SAFETY: a class's method table is a HashTable of IS_PTR zvals.
        let methods = unsafe { &*std::ptr::from_ref(methods).cast::<ZendHashTable>() };
        let guards: [Handler; 12] = [
            guarded::<0>,
            guarded::<1>,
            guarded::<2>,
            guarded::<3>,
            guarded::<4>,
            guarded::<5>,
            guarded::<6>,
            guarded::<7>,
            guarded::<8>,
            guarded::<9>,
            guarded::<10>,
            guarded::<11>,
        ];
        for (slot, (key, _)) in METHODS.iter().enumerate() {
            handlers::put_in_front(methods, key, &ORIGINALS[slot], guards[slot]);
        }
    });
}

thread_local! {
    /// The objects whose constructor runs in this thread: an argument's
    /// `__toString()` can reach `$this` and construct it from within
    /// (before its own constructor has set anything), which replaced what
    /// the inner call had taken.
    static CONSTRUCTING: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Forgets constructions a fatal error cut short (a bail-out skips the
/// end of [`guarded`]): their addresses are anyone's in the next request.
pub fn forget_constructions() {
    CONSTRUCTING.with_borrow_mut(Vec::clear);
}

unsafe extern "C" fn guarded<const SLOT: usize>(execute_data: *mut zend_execute_data, return_value: *mut zval) {
    // SAFETY: the engine's call frame for this method.
    let frame = unsafe { &mut *execute_data.cast::<ExecuteData>() };
    let object = frame.get_self().and_then(lock_object);
    let address = object.as_ref().map_or(0, |object| std::ptr::from_ref(&**object) as usize);
    let constructed = object.map(|object| object.obj.is_some());
    let refusal = match (SLOT, constructed) {
        (CONSTRUCT, Some(true)) => {
            "the object is constructed already: a Lock names one lock for its life; make a new Lock"
        }
        (CONSTRUCT, Some(false)) if CONSTRUCTING.with_borrow(|running| running.contains(&address)) => {
            "the object is being constructed: a Lock names one lock for its life; make a new Lock"
        }
        (CONSTRUCT, Some(false)) => {
            CONSTRUCTING.with_borrow_mut(|running| running.push(address));
            // SAFETY: the engine's call of the method `ORIGINALS[SLOT]` belongs to.
            unsafe { handlers::hand_on(&ORIGINALS[SLOT], execute_data, return_value) };
            CONSTRUCTING.with_borrow_mut(|running| running.retain(|&other| other != address));
            return;
        }
        // `var_dump()` shows it empty, where an exception is a fatal error
        // (and `null`, in a debug PHP, fails the declared return type).
        (DEBUG_INFO, Some(false)) => {
            // SAFETY: the engine's return slot for this call.
            unsafe { (*return_value.cast::<Zval>()).set_hashtable(ZendHashTable::new()) };
            return;
        }
        (_, Some(false)) => "the object has not been correctly initialized by its constructor",
        _ => {
            // SAFETY: as above.
            unsafe { handlers::hand_on(&ORIGINALS[SLOT], execute_data, return_value) };
            return;
        }
    };
    let method = METHODS[SLOT].1;
    PhpException::new(format!("ExakatLock\\Lock::{method}(): {refusal}"), 0, ce::error()).throw();
}
