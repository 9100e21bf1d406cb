//! Parameter types that behave like a core extension's `zend_parse_parameters`:
//! PHP's own coercion in weak mode, `\TypeError` under `strict_types`, and
//! PHP's own messages ("F(): Argument #2 ($backend) must be of type string,
//! array given"). The const parameter `N` is the argument's position, which
//! those messages need; ext-php-rs still declares the real PHP type, name and
//! default of each parameter, so reflection shows `string $name`.
//!
//! When a conversion fails the wrapper throws the exception itself and
//! returns `None`; ext-php-rs then throws nothing more, because an exception
//! is already pending.
//!
//! `null` is a `\TypeError` for every parameter, as it will be in PHP 9,
//! rather than PHP 8's deprecation and coercion: ext-php-rs already rejects
//! `null` for parameters with a default (`null_args.rs` gives that PHP's
//! message), and one rule for all is clearer.

use std::{
    borrow::Cow,
    ffi::{c_char, CStr, CString},
    mem::ManuallyDrop,
    ptr,
};

use exakat_lock_core::{OptionValue, Options};
use ext_php_rs::{
    convert::{FromZvalMut, IntoZval, StubLiteral},
    flags::DataType,
    types::{ZendStr, Zval},
};

use crate::ffi;

/// The name PHP's messages use for a value's type ("int", "array", "Foo\Bar").
pub fn type_name(zval: &Zval) -> String {
    let zval = zval.dereference();
    if let Some(object) = zval.object() {
        let mut name = object.get_class_name().unwrap_or_else(|_| "object".into());
        // An anonymous class's name is "class@anonymous", a NUL, then where
        // it was declared; PHP's messages stop at the NUL.
        name.truncate(name.find('\0').unwrap_or(name.len()));
        return name;
    }
    match zval.get_type() {
        DataType::Null | DataType::Undef => "null",
        DataType::False | DataType::True | DataType::Bool => "bool",
        DataType::Long => "int",
        DataType::Double => "float",
        DataType::String => "string",
        DataType::Array => "array",
        DataType::Resource => "resource",
        _ => "mixed",
    }
    .to_owned()
}

fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', "\\0")).unwrap_or_default()
}

/// Throws PHP's `\TypeError` for argument `arg_num` of the running function.
pub fn throw_type_error(arg_num: u32, message: &str) {
    if ext_php_rs::zend::ExecutorGlobals::has_exception() {
        return;
    }
    let message = c_string(message);
    // SAFETY: "%s" with a valid C string; the engine formats and throws.
    unsafe { ffi::zend_argument_type_error(arg_num, c"%s".as_ptr(), message.as_ptr()) };
}

/// Throws PHP's `\ValueError` for argument `arg_num` of the running function.
pub fn throw_value_error(arg_num: u32, message: &str) {
    if ext_php_rs::zend::ExecutorGlobals::has_exception() {
        return;
    }
    let message = c_string(message);
    // SAFETY: as above.
    unsafe { ffi::zend_argument_value_error(arg_num, c"%s".as_ptr(), message.as_ptr()) };
}

fn zval_ptr(zval: &mut Zval) -> *mut ext_php_rs::ffi::zval {
    ptr::from_mut(zval).cast()
}

/// A `string` parameter, kept as bytes: lock names may be any bytes.
#[derive(Clone, Debug)]
pub struct Str<const N: u32> {
    bytes: Cow<'static, [u8]>,
    /// How a default value is written in reflection and stubs.
    stub: Option<&'static str>,
}

impl<const N: u32> Str<N> {
    /// A default value, shown in reflection as the PHP expression `stub`
    /// (`ExakatLock\Lock::AUTO` rather than `'auto'`).
    pub const fn default_as(value: &'static str, stub: &'static str) -> Self {
        Self { bytes: Cow::Borrowed(value.as_bytes()), stub: Some(stub) }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn owned(bytes: &[u8]) -> Self {
        Self { bytes: Cow::Owned(bytes.to_vec()), stub: None }
    }
}

impl<const N: u32> StubLiteral for Str<N> {
    fn stub_literal(&self) -> String {
        self.stub.map_or_else(|| format!("'{}'", String::from_utf8_lossy(&self.bytes)), str::to_owned)
    }
}

impl<'a, const N: u32> FromZvalMut<'a> for Str<N> {
    const TYPE: DataType = DataType::String;

    fn from_zval_mut(zval: &'a mut Zval) -> Option<Self> {
        if let Some(s) = zval.zend_str() {
            return Some(Self::owned(s.as_bytes()));
        }
        if zval.is_null() {
            throw_type_error(N, "must be of type string, null given");
            return None;
        }
        // SAFETY: `zval` is this call's argument slot, which the engine lets
        // coercion overwrite; `coerced` then points into it.
        if let Some(coerced) = unsafe { ffi::parse_arg_str_slow(zval_ptr(zval), N) } {
            // SAFETY: non-null, owned by the argument slot for the whole call.
            let s: &ZendStr = unsafe { &*coerced.cast::<ZendStr>() };
            return Some(Self::owned(s.as_bytes()));
        }
        throw_type_error(N, &format!("must be of type string, {} given", type_name(zval)));
        None
    }
}

/// A `?string` parameter, `null` when omitted; coerced as `string` is
/// (`Stringable`, and scalars without `strict_types`), as PHP's own
/// functions do.
#[derive(Clone, Debug, Default)]
pub struct NullableStr<const N: u32>(pub Option<Vec<u8>>);

impl<const N: u32> StubLiteral for NullableStr<N> {
    fn stub_literal(&self) -> String {
        "null".into()
    }
}

impl<'a, const N: u32> FromZvalMut<'a> for NullableStr<N> {
    const TYPE: DataType = DataType::String;
    const NULLABLE: bool = true;

    fn from_zval_mut(zval: &'a mut Zval) -> Option<Self> {
        if zval.is_null() {
            return Some(Self(None));
        }
        if let Some(s) = zval.zend_str() {
            return Some(Self(Some(s.as_bytes().to_vec())));
        }
        // SAFETY: as for `Str`.
        if let Some(coerced) = unsafe { ffi::parse_arg_str_slow(zval_ptr(zval), N) } {
            // SAFETY: as for `Str`.
            let s: &ZendStr = unsafe { &*coerced.cast::<ZendStr>() };
            return Some(Self(Some(s.as_bytes().to_vec())));
        }
        throw_type_error(N, &format!("must be of type ?string, {} given", type_name(zval)));
        None
    }

    fn from_missing() -> Option<Self> {
        Some(Self(None))
    }
}

/// A `float` parameter.
#[derive(Clone, Copy, Debug)]
pub struct Float<const N: u32>(pub f64);

impl<const N: u32> StubLiteral for Float<N> {
    fn stub_literal(&self) -> String {
        format!("{:?}", self.0)
    }
}

impl<'a, const N: u32> FromZvalMut<'a> for Float<N> {
    const TYPE: DataType = DataType::Double;

    fn from_zval_mut(zval: &'a mut Zval) -> Option<Self> {
        if let Some(value) = zval.double() {
            return Some(Self(value));
        }
        if zval.is_null() {
            throw_type_error(N, "must be of type float, null given");
            return None;
        }
        // SAFETY: as for strings; ints are widened in both modes.
        if let Some(value) = unsafe { ffi::parse_arg_double_slow(zval_ptr(zval), N) } {
            return Some(Self(value));
        }
        throw_type_error(N, &format!("must be of type float, {} given", type_name(zval)));
        None
    }
}

/// An `array $options = []` parameter, read into the core's untyped options.
#[derive(Clone, Debug, Default)]
pub struct OptionsArg<const N: u32>(pub Options);

impl<const N: u32> StubLiteral for OptionsArg<N> {
    fn stub_literal(&self) -> String {
        "[]".into()
    }
}

impl<'a, const N: u32> FromZvalMut<'a> for OptionsArg<N> {
    const TYPE: DataType = DataType::Array;

    fn from_zval_mut(zval: &'a mut Zval) -> Option<Self> {
        let Some(array) = zval.array() else {
            throw_type_error(N, &format!("must be of type array, {} given", type_name(zval)));
            return None;
        };
        let mut options = Options::new();
        // Raw keys: ext-php-rs's iterator panics on a key that is not UTF-8,
        // and an unknown key must be a \ValueError like any other.
        let mut entries = array.iter();
        while let Some((key, value)) = entries.next_zval() {
            let key = match key.zend_str() {
                Some(bytes) => String::from_utf8_lossy(bytes.as_bytes()).into_owned(),
                None => key.long().unwrap_or_default().to_string(),
            };
            let value = match option_value(value) {
                OptionValue::Str(path) if PATH_OPTIONS.contains(&key.as_str()) => {
                    OptionValue::Str(in_php_cwd(&path).into_owned())
                }
                value => value,
            };
            options.push(key, value);
        }
        Some(Self(options))
    }
}

/// Options whose value is a file or directory.
const PATH_OPTIONS: [&str; 3] = ["dir", "path", "dsn_file"];

/// A relative path made absolute against PHP's working directory, which
/// the core (reading the process's with getcwd(2)) cannot see in a ZTS PHP:
/// there `chdir()` moves a per-thread virtual directory and leaves the
/// process's alone. In NTS they are one, and the path is left as given.
pub fn in_php_cwd(path: &[u8]) -> Cow<'_, [u8]> {
    if !ext_php_rs::PHP_ZTS || path.is_empty() || path.starts_with(b"/") || path.contains(&0) {
        return Cow::Borrowed(path);
    }
    let mut cwd = vec![0_u8; libc::PATH_MAX as usize];
    // SAFETY: the engine writes at most `len` bytes, NUL included.
    if unsafe { ffi::virtual_getcwd(cwd.as_mut_ptr().cast(), cwd.len()) }.is_null() {
        return Cow::Borrowed(path);
    }
    let Some(end) = cwd.iter().position(|&b| b == 0) else { return Cow::Borrowed(path) };
    cwd.truncate(end);
    if !cwd.ends_with(b"/") {
        cwd.push(b'/');
    }
    cwd.extend_from_slice(path);
    Cow::Owned(cwd)
}

fn option_value(value: &Zval) -> OptionValue {
    let value = value.dereference();
    if value.is_null() {
        OptionValue::Null
    } else if let Some(b) = value.bool() {
        OptionValue::Bool(b)
    } else if let Some(i) = value.long() {
        OptionValue::Int(i)
    } else if let Some(f) = value.double() {
        OptionValue::Float(f)
    } else if let Some(s) = value.zend_str() {
        OptionValue::Str(s.as_bytes().to_vec())
    } else {
        OptionValue::Other(type_name(value))
    }
}

/// A `callable` parameter, checked and resolved once, the way PHP's own
/// `Z_PARAM_FUNC` does: the engine's cache of what to call is kept for
/// [`Callback::call`], so a deprecated form (`'self::m'`) warns once, as
/// with `call_user_func()`, not at every look the call would otherwise take.
pub struct Callback<const N: u32> {
    callable: Zval,
    resolved: ffi::zend_fcall_info_cache,
}

impl<'a, const N: u32> FromZvalMut<'a> for Callback<N> {
    const TYPE: DataType = DataType::Callable;

    fn from_zval_mut(zval: &'a mut Zval) -> Option<Self> {
        let mut error: *mut c_char = ptr::null_mut();
        // SAFETY: all zeros is the empty cache the engine fills.
        let mut resolved: ffi::zend_fcall_info_cache = unsafe { std::mem::zeroed() };
        // SAFETY: checks and resolves only; `error` is allocated by the
        // engine and freed here.
        let callable = unsafe {
            ffi::zend_is_callable_ex(
                zval_ptr(zval),
                ptr::null_mut(),
                0,
                ptr::null_mut(),
                (&raw mut resolved).cast(),
                &mut error,
            )
        };
        let reason = (!error.is_null()).then(|| {
            // SAFETY: a NUL-terminated string from the engine's allocator.
            let reason = unsafe { CStr::from_ptr(error) }.to_string_lossy().into_owned();
            // alloc::efree, not ffi::_efree: in a debug PHP the latter takes
            // four more arguments (file and line, twice) and does not compile.
            unsafe { ext_php_rs::alloc::efree(error.cast()) };
            reason
        });
        // As `Z_PARAM_FUNC`: a `__call()` trampoline would leak if the
        // callback is never called (the lock not taken), so it is dropped
        // here and resolved again, by the engine, at the call.
        // SAFETY: a cache the call above filled (or left empty).
        unsafe { ffi::zend_release_fcall_info_cache(&mut resolved) };
        if callable {
            return Some(Self { callable: zval.shallow_clone(), resolved });
        }
        let message = match reason {
            Some(reason) => format!("must be a valid callback, {reason}"),
            None => format!("must be a valid callback, {} given", type_name(zval)),
        };
        throw_type_error(N, &message);
        None
    }
}

impl<const N: u32> Callback<N> {
    /// Calls it without arguments; `None` when it threw (the exception is
    /// left pending in the engine) or could not be called.
    ///
    /// The cache holds the object and scope the check found, without
    /// references of its own: `self` keeps the callable, and with it that
    /// object, alive, whatever PHP code runs in between (a later
    /// argument's `__toString()`).
    pub fn call(&mut self) -> Option<Zval> {
        let mut retval = Zval::new();
        // Dropping it would drop `function_name`, a copy without a
        // reference of its own.
        let mut call = ManuallyDrop::new(ffi::zend_fcall_info {
            size: std::mem::size_of::<ffi::zend_fcall_info>(),
            // SAFETY: a bitwise copy, which the engine only reads;
            // `self.callable` holds the reference for the call.
            function_name: unsafe { ptr::read(&self.callable) },
            retval: zval_ptr(&mut retval),
            params: ptr::null_mut(),
            object: self.resolved.object,
            param_count: 0,
            consumed_args: 0,
            named_params: ptr::null_mut(),
        });
        // SAFETY: an info and cache filled as the engine's own parsers do.
        let called = unsafe { ffi::zend_call_function(&mut *call, &mut self.resolved) } == ffi::SUCCESS;
        (called && !ext_php_rs::zend::ExecutorGlobals::has_exception()).then_some(retval)
    }
}

/// A PHP string return value made of raw bytes.
pub struct Bytes(pub Vec<u8>);

impl IntoZval for Bytes {
    const TYPE: DataType = DataType::String;
    const NULLABLE: bool = false;

    fn set_zval(self, zv: &mut Zval, persistent: bool) -> ext_php_rs::error::Result<()> {
        zv.set_zend_string(ZendStr::new(&self.0, persistent));
        Ok(())
    }
}
