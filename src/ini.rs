//! The `exakat_lock.*` INI entries (all `PHP_INI_ALL`).
//!
//! Each entry validates its value when set, as core extensions do:
//! `ini_set()` returns `false` for a bad value and the old value stays. The
//! validated values live in `CURRENT`, so reading a setting is a clone, not
//! an INI lookup. `CURRENT` is per thread, as PHP's INI values are: in a ZTS
//! PHP each thread has its own copy of every entry, and the engine calls
//! `on_modify` in that thread (at thread start, `ini_set()`, request end).

use std::{
    cell::RefCell,
    ffi::{c_int, c_void, CStr, OsStr},
    os::unix::ffi::OsStrExt,
    path::PathBuf,
};

use exakat_lock_core::{dsn, BackendChoice, BackendKind, DsnSource, PortRange, Settings};
use ext_php_rs::{
    ffi::{zend_ini_entry, zend_string},
    flags::IniEntryPermission,
    types::ZendStr,
    zend::{IniEntryDef, IniEntryDefs, SapiModule},
};

use crate::{
    args,
    ffi::{self, FAILURE, SUCCESS},
};

/// A relative path setting, made absolute against PHP's working directory
/// (see `args::in_php_cwd`).
fn in_php_cwd(path: &std::path::Path) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(&args::in_php_cwd(path.as_os_str().as_bytes())))
}

struct Current {
    default_backend: Option<BackendKind>,
    dir: Option<PathBuf>,
    tcp_port_range: PortRange,
    mysql_dsn: Option<String>,
    mysql_dsn_file: Option<PathBuf>,
}

thread_local! {
    static CURRENT: RefCell<Current> = const {
        RefCell::new(Current {
            default_backend: None,
            dir: None,
            tcp_port_range: PortRange::DEFAULT,
            mysql_dsn: None,
            mysql_dsn_file: None,
        })
    };
}

/// The settings locks are made with now: INI values, PHP's temporary
/// directory, and the environment's mysql server when no INI entry names one.
/// The INI entries come before the environment, as a php.ini's setting is
/// more specific than a container's environment; within each, the DSN
/// before the DSN file.
pub fn settings() -> Settings {
    CURRENT.with_borrow(settings_from)
}

fn settings_from(current: &Current) -> Settings {
    let mysql_dsn = current
        .mysql_dsn
        .clone()
        .and_then(|dsn| DsnSource::text(dsn, "exakat_lock.mysql_dsn"))
        .or_else(|| {
            current
                .mysql_dsn_file
                .as_deref()
                .and_then(|path| DsnSource::file(in_php_cwd(path), "exakat_lock.mysql_dsn_file"))
        })
        .or_else(Settings::mysql_dsn_from_env);
    Settings {
        default_backend: current.default_backend,
        lock_dir: current.dir.as_deref().map(in_php_cwd),
        temp_dir: temp_dir(),
        tcp_port_range: current.tcp_port_range,
        mysql_dsn,
    }
}

fn temp_dir() -> PathBuf {
    // SAFETY: PHP returns a pointer to its own process-lifetime copy.
    let dir = unsafe { ffi::php_get_temporary_directory() };
    if dir.is_null() {
        return std::env::temp_dir();
    }
    PathBuf::from(OsStr::from_bytes(unsafe { CStr::from_ptr(dir) }.to_bytes()))
}

/// Reads a new INI value; `None` (reject) when it is invalid. Values are
/// bytes, as paths are; text settings refuse what is not UTF-8.
type Apply = fn(&mut Current, &[u8]) -> Option<()>;

fn apply_default_backend(current: &mut Current, value: &[u8]) -> Option<()> {
    let value = std::str::from_utf8(value).ok()?;
    current.default_backend = match BackendChoice::parse(value.trim().as_bytes(), "exakat_lock.default_backend") {
        Ok(BackendChoice::Auto) => None,
        Ok(BackendChoice::Kind(kind)) => Some(kind),
        Err(_) if value.trim().is_empty() => None,
        Err(_) => return None,
    };
    Some(())
}

fn apply_dir(current: &mut Current, value: &[u8]) -> Option<()> {
    current.dir = path_setting(value)?;
    Some(())
}

/// Empty: not set. A NUL byte would cut the path short in every system
/// call, so the value is refused.
fn path_setting(value: &[u8]) -> Option<Option<PathBuf>> {
    if value.contains(&0) {
        return None;
    }
    Some((!value.is_empty()).then(|| PathBuf::from(OsStr::from_bytes(value))))
}

fn apply_tcp_port_range(current: &mut Current, value: &[u8]) -> Option<()> {
    current.tcp_port_range = PortRange::parse(std::str::from_utf8(value).ok()?).ok()?;
    Some(())
}

fn apply_mysql_dsn(current: &mut Current, value: &[u8]) -> Option<()> {
    let value = std::str::from_utf8(value).ok()?;
    if !value.is_empty() {
        dsn::Dsn::parse(value).ok()?;
    }
    current.mysql_dsn = (!value.is_empty()).then(|| value.to_owned());
    Some(())
}

/// The file is read when a lock is made, not here: a secret may be mounted
/// after PHP starts, and may change.
fn apply_mysql_dsn_file(current: &mut Current, value: &[u8]) -> Option<()> {
    current.mysql_dsn_file = path_setting(value)?;
    Some(())
}

/// Picks the apply function from the entry's `mh_arg1`, set per entry below.
unsafe extern "C" fn on_modify(
    _entry: *mut zend_ini_entry,
    new_value: *mut zend_string,
    apply: *mut c_void,
    _: *mut c_void,
    _: *mut c_void,
    _stage: c_int,
) -> c_int {
    // A panic must not unwind into the engine; an invalid value is refused.
    std::panic::catch_unwind(|| {
        // SAFETY: `apply` is one of the `Apply` fns stored in INI_ENTRIES.
        let apply: Apply = unsafe { std::mem::transmute::<*mut c_void, Apply>(apply) };
        let value: &[u8] = if new_value.is_null() {
            &[]
        } else {
            // SAFETY: the engine passes a valid zend_string.
            unsafe { &*new_value.cast::<ZendStr>() }.as_bytes()
        };
        if CURRENT.with_borrow_mut(|current| apply(current, value)).is_some() {
            SUCCESS
        } else {
            FAILURE
        }
    })
    .unwrap_or(FAILURE)
}

/// `zend_ini_entry.modified` is a `uint8_t` up to PHP 8.5 and a `bool` from
/// 8.6 on; this reads either.
trait Flag {
    fn into_bool(self) -> bool;
}

impl Flag for u8 {
    fn into_bool(self) -> bool {
        self != 0
    }
}

impl Flag for bool {
    fn into_bool(self) -> bool {
        self
    }
}

/// Shows the DSN with its password masked in `phpinfo()` and `php --ri`.
unsafe extern "C" fn display_masked_dsn(entry: *mut zend_ini_entry, display_type: c_int) {
    const ZEND_INI_DISPLAY_ORIG: c_int = 1;
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: the engine passes its own entry.
        let entry = unsafe { &*entry };
        let value = if display_type == ZEND_INI_DISPLAY_ORIG && entry.modified.into_bool() {
            entry.orig_value
        } else {
            entry.value
        };
        let text = if value.is_null() {
            String::new()
        } else {
            String::from_utf8_lossy(unsafe { &*value.cast::<ZendStr>() }.as_bytes()).into_owned()
        };
        let as_text = SapiModule::get().phpinfo_as_text != 0;
        let shown = match (text.is_empty(), as_text) {
            (true, true) => "no value".to_owned(),
            (true, false) => "<i>no value</i>".to_owned(),
            (false, true) => dsn::redact(&text),
            (false, false) => html_escape(&dsn::redact(&text)),
        };
        let shown = std::ffi::CString::new(shown).unwrap_or_default();
        // SAFETY: "%s" with a valid C string.
        unsafe { ext_php_rs::ffi::php_printf(c"%s".as_ptr(), shown.as_ptr()) };
    });
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const fn entry(name: &'static CStr, default: &'static CStr, apply: Apply) -> IniEntryDef {
    let mut def = IniEntryDef::new(name, default, IniEntryPermission::All);
    def.on_modify = Some(on_modify);
    def.mh_arg1 = apply as *mut c_void;
    def
}

static INI_ENTRIES: IniEntryDefs<6> = IniEntryDefs::new([
    entry(c"exakat_lock.default_backend", c"auto", apply_default_backend),
    entry(c"exakat_lock.dir", c"", apply_dir),
    entry(c"exakat_lock.tcp_port_range", c"61000-65535", apply_tcp_port_range),
    {
        let mut def = entry(c"exakat_lock.mysql_dsn", c"", apply_mysql_dsn);
        def.displayer = Some(display_masked_dsn);
        def
    },
    entry(c"exakat_lock.mysql_dsn_file", c"", apply_mysql_dsn_file),
    IniEntryDef::end(),
]);

/// Registers the entries; called from MINIT.
pub fn register(module_number: i32) {
    IniEntryDef::register(INI_ENTRIES.as_slice(), module_number);
}
