//! The `ExakatLock\Lock` class.

use exakat_lock_core::{
    self as core, BackendChoice, Holder, HolderValue, LockName, LockSpec, OptionValue, Options, Timeout,
};
use ext_php_rs::{
    boxed::ZBox,
    exception::{PhpException, PhpResult},
    flags::ClassFlags,
    prelude::*,
    types::{ZendHashTable, Zval},
};

use crate::{
    args::{Bytes, Callback, Float, OptionsArg, Str},
    critical::CriticalLock,
    errors::{self, to_php, Signature},
    ini, stack_guard,
};

/// A named lock held by at most one process at a time, released on
/// `release()`, on destruction, and when the process dies in any way.
/// Children (`exec()`, `proc_open()`, `pcntl_fork()`...) never inherit it.
///
/// Final, and refuses dynamic properties (`$lock->foo = 1` throws `Error`):
/// a typo'd property on a lock would otherwise pass silently, and nothing
/// of the lock's state is a property that could be set.
#[php_class]
#[php(name = "ExakatLock\\Lock")]
#[php(flags = ClassFlags::Final.union(ClassFlags::NoDynamicProperties))]
pub struct Lock {
    inner: core::Lock,
}

const CONSTRUCT: Signature = &["name", "backend", "options"];
const ACQUIRE: Signature = &["timeout"];
const SYNCHRONIZED: Signature = &["name", "callback", "timeout", "backend", "options"];
const NO_ARGUMENTS: Signature = &[];

impl Lock {
    /// `acquire()` once its argument is a number; also the fast path's.
    pub fn acquire_for(&mut self, seconds: f64) -> PhpResult<bool> {
        let timeout = self::timeout(seconds, ACQUIRE)?;
        self.inner.acquire(timeout).map_err(|e| to_php(e, ACQUIRE))
    }
}

/// Takes a lock in the mode asked for.
pub fn acquire_in(lock: &mut core::Lock, shared: bool, wait: Timeout) -> core::Result<bool> {
    if shared {
        lock.acquire_shared(wait)
    } else {
        lock.acquire(wait)
    }
}

/// The `shared` option of `exakat_lock()` and `Lock::synchronized()`: taken
/// out of the options, which then describe the lock alone.
pub fn take_shared_option(options: &mut Options, signature: Signature) -> PhpResult<bool> {
    match options.remove("shared") {
        None | Some(OptionValue::Null) => Ok(false),
        Some(OptionValue::Bool(shared)) => Ok(shared),
        Some(other) => Err(to_php(
            core::Error::InvalidType {
                argument: "option \"shared\"".into(),
                expected: "bool",
                given: other.type_name().to_owned(),
            },
            signature,
        )),
    }
}

/// Validates everything a lock needs; shared by the class and the functions.
pub fn spec(name: &[u8], backend: &[u8], options: &Options, signature: Signature) -> PhpResult<LockSpec> {
    let checked = LockName::new(name)
        .and_then(|name| Ok((name, BackendChoice::parse(backend, "backend")?)))
        .and_then(|(name, choice)| LockSpec::new(name, choice, options, &ini::settings()));
    checked.map_err(|e| to_php(e, signature))
}

pub fn timeout(seconds: f64, signature: Signature) -> PhpResult<Timeout> {
    Timeout::from_secs_f64(seconds).map_err(|e| to_php(e, signature))
}

#[php_impl]
impl Lock {
    pub const AUTO: &'static str = "auto";
    pub const SOCKET: &'static str = "socket";
    pub const TCP: &'static str = "tcp";
    pub const SEMAPHORE: &'static str = "semaphore";
    pub const FLOCK: &'static str = "flock";
    pub const MYSQL: &'static str = "mysql";
    pub const WAIT_FOREVER: f64 = -1.0;

    /// Validates the name, backend and options; takes nothing yet.
    #[php(defaults(backend = Str::default_as("auto", "ExakatLock\\Lock::AUTO"), options = OptionsArg::default()))]
    pub fn __construct(name: Str<1>, backend: Str<2>, options: OptionsArg<3>) -> PhpResult<Self> {
        if options.0.contains("shared") {
            return Err(to_php(
                core::Error::invalid_argument(
                    "option \"shared\"",
                    "is for exakat_lock() and Lock::synchronized(); a Lock object is held shared with acquireShared()",
                ),
                CONSTRUCT,
            ));
        }
        let spec = spec(name.bytes(), backend.bytes(), &options.0, CONSTRUCT)?;
        Ok(Self { inner: core::Lock::new(spec) })
    }

    /// `0`: one try; `> 0`: wait up to that many seconds; negative or `INF`:
    /// wait without limit. `true` once held, `false` when the time ran out.
    #[php(defaults(timeout = Float(0.0)))]
    pub fn acquire(&mut self, timeout: Float<1>) -> PhpResult<bool> {
        self.acquire_for(timeout.0)
    }

    /// Takes the lock shared: with other shared holders, never with an
    /// exclusive one. Timeouts as for `acquire()`.
    #[php(defaults(timeout = Float(0.0)))]
    pub fn acquire_shared(&mut self, timeout: Float<1>) -> PhpResult<bool> {
        let slots = self.inner.spec().slots;
        if slots > 1 {
            // Said here: the core names the option, which this call has not.
            return Err(PhpException::new(
                format!(
                    "ExakatLock\\Lock::acquireShared(): lock \"{}\" has {slots} slots, and a lock with slots cannot be held shared",
                    self.inner.name()
                ),
                0,
                ext_php_rs::zend::ce::value_error(),
            ));
        }
        let timeout = self::timeout(timeout.0, ACQUIRE)?;
        self.inner.acquire_shared(timeout).map_err(|e| to_php(e, ACQUIRE))
    }

    /// Whether this object holds the lock shared.
    pub fn is_shared(&self) -> bool {
        self.inner.is_shared()
    }

    /// The slot this object holds (0 to slots - 1), `null` when it holds none.
    pub fn slot(&self) -> Option<i64> {
        self.inner.slot().map(i64::from)
    }

    /// `true` if this object held the lock and now does not.
    pub fn release(&mut self) -> PhpResult<bool> {
        self.inner.release().map_err(|e| to_php(e, NO_ARGUMENTS))
    }

    /// Whether this object holds the lock now (for mysql, asks the server).
    pub fn is_held(&mut self) -> PhpResult<bool> {
        self.inner.is_held().map_err(|e| to_php(e, NO_ARGUMENTS))
    }

    /// `null` when free, else `['pid' => ?int, 'host' => ?string, 'since' => ?float, ...]`.
    pub fn holder(&mut self) -> PhpResult<Option<ZBox<ZendHashTable>>> {
        let holder = self.inner.holder().map_err(|e| to_php(e, NO_ARGUMENTS))?;
        holder.map(holder_array).transpose()
    }

    /// Every holder: `holder()`'s arrays plus `'mode'` and `'slot'`; `[]` when free.
    pub fn holders(&mut self) -> PhpResult<Vec<ZBox<ZendHashTable>>> {
        holders_list(self.inner.holders().map_err(|e| to_php(e, NO_ARGUMENTS))?)
    }

    pub fn name(&self) -> Bytes {
        Bytes(self.inner.name().as_bytes().to_vec())
    }

    /// The backend in use, never `auto`.
    pub fn backend(&self) -> &'static str {
        self.inner.kind().as_str()
    }

    /// Acquires the lock or throws `LockTimeoutException`, calls `$callback`,
    /// releases whatever happens, and returns the callback's result (or
    /// rethrows its exception unchanged).
    #[php(defaults(
        timeout = Float(0.0),
        backend = Str::default_as("auto", "ExakatLock\\Lock::AUTO"),
        options = OptionsArg::default()
    ))]
    pub fn synchronized(
        name: Str<1>,
        mut callback: Callback<2>,
        timeout: Float<3>,
        backend: Str<4>,
        mut options: OptionsArg<5>,
    ) -> PhpResult<Zval> {
        stack_guard::check()?;
        let shared = take_shared_option(&mut options.0, SYNCHRONIZED)?;
        let spec = spec(name.bytes(), backend.bytes(), &options.0, SYNCHRONIZED)?;
        let wait = self::timeout(timeout.0, SYNCHRONIZED)?;
        // A fatal error in the callback longjmps past this frame: see
        // `critical.rs` for how the lock is let go then.
        let mut lock = CriticalLock::new(core::Lock::new(spec));
        const RUNNING: &str = "only the request's end lets it go";
        let taken = lock.with(|lock| acquire_in(lock, shared, wait)).expect(RUNNING);
        if !taken.map_err(|e| to_php(e, SYNCHRONIZED))? {
            return Err(lock.with(|lock| timed_out(lock, timeout.0)).expect(RUNNING));
        }
        let result = callback.call();
        let released = lock.release();
        // An exception from the callback is pending in the engine: returning
        // any error lets it propagate unchanged.
        let value = result.ok_or_else(errors::already_thrown)?;
        released.map_err(|e| to_php(e, NO_ARGUMENTS))?;
        // A callback declared `function &()` returns a reference; like
        // `call_user_func()`, hand back the value, never an alias of the
        // callback's variable (a debug PHP asserts on a returned reference).
        Ok(match value.reference() {
            Some(target) => target.shallow_clone(),
            None => value,
        })
    }

    /// What `var_dump()` shows: never a password.
    #[php(name = "__debugInfo")]
    pub fn debug_info(&self) -> PhpResult<ZBox<ZendHashTable>> {
        let mut info = ZendHashTable::new();
        info.insert("name", Bytes(self.inner.name().as_bytes().to_vec()))?;
        info.insert("backend", self.inner.kind().as_str())?;
        info.insert("held", self.inner.is_held_locally())?;
        info.insert("shared", self.inner.is_shared())?;
        info.insert("slots", i64::from(self.inner.spec().slots))?;
        info.insert("resource", self.inner.spec().describe())?;
        Ok(info)
    }
}

fn timed_out(lock: &mut core::Lock, seconds: f64) -> PhpException {
    let holder = match lock.holder() {
        Ok(Some(Holder { pid: Some(pid), host: Some(host), .. })) => format!("; it is held by pid {pid} on {host}"),
        Ok(Some(Holder { pid: Some(pid), .. })) => format!("; it is held by pid {pid}"),
        Ok(Some(_)) => "; it is held by a process that cannot be identified".to_owned(),
        _ => String::new(),
    };
    let waited = if seconds == 0.0 { "without waiting".to_owned() } else { format!("within {} s", php_float(seconds)) };
    PhpException::new(
        format!("Could not acquire lock \"{}\" ({} backend) {waited}{holder}", lock.name(), lock.kind()),
        0,
        errors::lock_timeout_exception(),
    )
}

/// A float as `var_dump()` writes it: `0.25`, `1.0E-300`, `1.0E+20`, where Rust's
/// `Display` wrote 1e-300 with its 300 zeros.
fn php_float(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude == 0.0 || (1e-4..1e15).contains(&magnitude) || !value.is_finite() {
        return value.to_string();
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let point = if mantissa.contains('.') { "" } else { ".0" };
    let sign = if exponent.starts_with('-') { "" } else { "+" };
    format!("{mantissa}{point}E{sign}{exponent}")
}

/// `holders()`'s arrays: `holder()`'s, plus `'mode'` and `'slot'`.
pub fn holders_list(holders: Vec<Holder>) -> PhpResult<Vec<ZBox<ZendHashTable>>> {
    holders
        .into_iter()
        .map(|holder| {
            let (mode, slot) = (holder.mode, holder.slot);
            let mut array = holder_array(holder)?;
            array.insert("mode", mode.as_str())?;
            array.insert("slot", slot.map(i64::from))?;
            Ok(array)
        })
        .collect()
}

/// `['pid' => ?int, 'host' => ?string, 'since' => ?float]` plus the
/// backend's own keys; unknown values are `null`, the keys always present.
pub fn holder_array(holder: Holder) -> PhpResult<ZBox<ZendHashTable>> {
    let mut array = ZendHashTable::new();
    array.insert("pid", holder.pid.map(i64::from))?;
    array.insert("host", holder.host)?;
    array.insert("since", holder.since)?;
    for (key, value) in holder.extra {
        match value {
            HolderValue::Int(i) => array.insert(key, i)?,
            HolderValue::Str(s) => array.insert(key, s)?,
        }
    }
    Ok(array)
}
