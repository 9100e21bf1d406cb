//! Per-lock options (an untyped key/value list, as PHP arrays are) and
//! process-wide settings (what PHP's INI entries hold).

use std::{fmt, path::PathBuf};

use crate::{
    backend::{expect_option_type, BackendKind, COMMON_OPTION_KEYS},
    error::{Error, Result},
};

/// An option value as the caller gave it, before validation.
#[derive(Clone, Debug, PartialEq)]
pub enum OptionValue {
    /// Treated as "not given": `['dir' => $config['dir'] ?? null]` means the default.
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Vec<u8>),
    /// Any other value; the string is its type name for messages.
    Other(String),
}

impl OptionValue {
    /// PHP's name for the value's type, for `TypeError` messages.
    #[must_use]
    pub fn type_name(&self) -> &str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "bool",
            Self::Int(_) => "int",
            Self::Float(_) => "float",
            Self::Str(_) => "string",
            Self::Other(name) => name,
        }
    }
}

/// The options of one lock, in the order given.
#[derive(Clone, Debug, Default)]
pub struct Options(Vec<(String, OptionValue)>);

impl Options {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, key: impl Into<String>, value: OptionValue) {
        self.0.push((key.into(), value));
    }

    #[must_use]
    pub fn with(mut self, key: &str, value: OptionValue) -> Self {
        self.push(key, value);
        self
    }

    /// Takes `key` out (every entry of it), returning the last value given.
    pub fn remove(&mut self, key: &str) -> Option<OptionValue> {
        let mut last = None;
        self.0.retain(|(k, v)| {
            let keep = k != key;
            if !keep {
                last = Some(v.clone());
            }
            keep
        });
        last
    }

    #[must_use]
    pub fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// Rejects keys the backend does not know, naming the valid ones.
    pub(crate) fn check_keys(&self, kind: BackendKind) -> Result<()> {
        let valid = || kind.option_keys().iter().chain(&COMMON_OPTION_KEYS);
        match self.0.iter().find(|(key, _)| !valid().any(|k| k == key)) {
            None => Ok(()),
            Some((key, _)) => {
                let quoted: Vec<String> = valid().map(|k| format!("\"{k}\"")).collect();
                let expected = format!("valid options are {}", quoted.join(", "));
                Err(Error::invalid_argument(
                    "options",
                    format!("contains unknown option \"{}\" for the {kind} backend; {expected}", key.escape_debug()),
                ))
            }
        }
    }

    /// Rejects keys outside `valid`, naming them; `what` says what for.
    pub(crate) fn check_keys_among(&self, valid: &[&str], what: &str) -> Result<()> {
        match self.0.iter().find(|(key, _)| !valid.contains(&key.as_str())) {
            None => Ok(()),
            Some((key, _)) => {
                let quoted: Vec<String> = valid.iter().map(|k| format!("\"{k}\"")).collect();
                Err(Error::invalid_argument(
                    "options",
                    format!(
                        "contains unknown option \"{}\" for {what}; valid options are {}",
                        key.escape_debug(),
                        quoted.join(", ")
                    ),
                ))
            }
        }
    }

    fn get(&self, key: &str) -> Option<&OptionValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v).filter(|v| **v != OptionValue::Null)
    }

    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(OptionValue::Int(i)) => Ok(Some(*i)),
            Some(other) => Err(expect_option_type(key, "int", other)),
        }
    }

    pub(crate) fn bytes(&self, key: &str) -> Result<Option<&[u8]>> {
        match self.get(key) {
            None => Ok(None),
            Some(OptionValue::Str(s)) => Ok(Some(s)),
            Some(other) => Err(expect_option_type(key, "string", other)),
        }
    }

    /// A duration in seconds, given as an int or a float.
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    pub(crate) fn seconds(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            #[allow(clippy::cast_precision_loss)]
            Some(OptionValue::Int(i)) => Ok(Some(*i as f64)),
            Some(OptionValue::Float(f)) => Ok(Some(*f)),
            Some(other) => Err(expect_option_type(key, "int|float", other)),
        }
    }
}

/// Process-wide defaults, as the `exakat_lock.*` INI entries set them.
#[derive(Clone, Debug)]
pub struct Settings {
    /// What `auto` means when set (`exakat_lock.default_backend`).
    pub default_backend: Option<BackendKind>,
    /// Lock file directory (`exakat_lock.dir`); else `temp_dir`.
    pub lock_dir: Option<PathBuf>,
    /// The system temporary directory (PHP's `sys_get_temp_dir()`).
    pub temp_dir: PathBuf,
    /// Where tcp ports derived from names fall (`exakat_lock.tcp_port_range`).
    pub tcp_port_range: PortRange,
    /// The default mysql server: the first of `exakat_lock.mysql_dsn`,
    /// `exakat_lock.mysql_dsn_file`, `EXAKAT_LOCK_MYSQL_DSN` and
    /// `EXAKAT_LOCK_MYSQL_DSN_FILE` that is set.
    pub mysql_dsn: Option<DsnSource>,
}

/// Where a DSN comes from: given as text, or read from a file when a lock is
/// made (the Docker secrets convention), so that the password is in neither
/// the configuration nor the environment.
#[derive(Clone, PartialEq, Eq)]
pub enum DsnSource {
    /// `origin` names the setting for messages: "exakat_lock.mysql_dsn".
    Text {
        dsn: String,
        origin: &'static str,
    },
    File {
        path: PathBuf,
        origin: &'static str,
    },
}

impl DsnSource {
    pub const ENV: &'static str = "EXAKAT_LOCK_MYSQL_DSN";
    pub const ENV_FILE: &'static str = "EXAKAT_LOCK_MYSQL_DSN_FILE";

    /// A DSN set as text, `None` when empty.
    #[must_use]
    pub fn text(dsn: impl Into<String>, origin: &'static str) -> Option<Self> {
        let dsn = dsn.into();
        (!dsn.is_empty()).then_some(Self::Text { dsn, origin })
    }

    /// A DSN file, `None` when the path is empty.
    #[must_use]
    pub fn file(path: impl Into<PathBuf>, origin: &'static str) -> Option<Self> {
        let path = path.into();
        (!path.as_os_str().is_empty()).then_some(Self::File { path, origin })
    }
}

/// Never shows the password: a DSN given as text is shown masked.
impl fmt::Debug for DsnSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text { dsn, origin } => write!(f, "{origin}={}", crate::dsn::redact(dsn)),
            Self::File { path, origin } => write!(f, "{origin}={}", path.display()),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_backend: None,
            lock_dir: None,
            temp_dir: temp_dir_as_php_sees_it(),
            tcp_port_range: PortRange::DEFAULT,
            mysql_dsn: Self::mysql_dsn_from_env(),
        }
    }
}

/// PHP's `sys_get_temp_dir()` without an INI entry: `TMPDIR` when it is
/// set and not empty, else `/tmp`. `std::env::temp_dir()` takes an empty
/// `TMPDIR` as is, the current directory: the command then locked a file
/// there, and excluded neither PHP nor itself run from elsewhere.
fn temp_dir_as_php_sees_it() -> PathBuf {
    match std::env::var_os("TMPDIR") {
        Some(dir) if !dir.is_empty() => dir.into(),
        _ => PathBuf::from("/tmp"),
    }
}

impl Settings {
    /// The server named by the environment, used when no INI entry names
    /// one: `EXAKAT_LOCK_MYSQL_DSN`, else `EXAKAT_LOCK_MYSQL_DSN_FILE`;
    /// empty means unset.
    #[must_use]
    pub fn mysql_dsn_from_env() -> Option<DsnSource> {
        std::env::var(DsnSource::ENV).ok().and_then(|dsn| DsnSource::text(dsn, DsnSource::ENV)).or_else(|| {
            std::env::var_os(DsnSource::ENV_FILE).and_then(|path| DsnSource::file(path, DsnSource::ENV_FILE))
        })
    }
}

/// An inclusive range of TCP ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    /// Above Linux's default ephemeral range (32768-60999), so a derived port
    /// never collides with the local end of an outgoing loopback connection.
    pub const DEFAULT: Self = Self { low: 61000, high: 65535 };

    /// Reads `"LOW-HIGH"`, with `1 <= LOW <= HIGH <= 65535`.
    ///
    /// # Errors
    ///
    /// A message saying what is wrong, for the INI layer to report.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let invalid = || format!("\"{}\" is not a port range like \"61000-65535\"", text.escape_debug());
        let (low, high) = text.trim().split_once('-').ok_or_else(invalid)?;
        let low: u16 = low.trim().parse().map_err(|_| invalid())?;
        let high: u16 = high.trim().parse().map_err(|_| invalid())?;
        if low == 0 || low > high {
            return Err(invalid());
        }
        Ok(Self { low, high })
    }

    /// The port for a name hash: uniform over the range.
    #[must_use]
    pub fn pick(self, hash: u64) -> u16 {
        let span = u64::from(self.high - self.low) + 1;
        // The remainder is below `span`, which fits the range.
        self.low + u16::try_from(hash % span).unwrap_or(0)
    }

    /// The port `steps` after `port` (a port of the range), coming round
    /// to `low` after `high`.
    #[must_use]
    pub fn after(self, port: u16, steps: u16) -> u16 {
        let span = u32::from(self.high - self.low) + 1;
        let offset = (u32::from(port - self.low) + u32::from(steps)) % span;
        // The remainder is below `span`, which fits the range.
        self.low + u16::try_from(offset).unwrap_or(0)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.low, self.high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_name_the_key_and_the_valid_ones() {
        let options = Options::new().with("prot", OptionValue::Int(1));
        let e = options.check_keys(BackendKind::Tcp).unwrap_err().to_string();
        assert_eq!(
            e,
            "Argument $options contains unknown option \"prot\" for the tcp backend; valid options are \"port\", \"host\", \"slots\""
        );
        let e = Options::new().with("dir", OptionValue::Null).check_keys(BackendKind::Socket).unwrap_err();
        assert!(e.to_string().ends_with("valid options are \"slots\""), "{e}");
        assert!(Options::new().with("slots", OptionValue::Int(2)).check_keys(BackendKind::Mysql).is_ok());
        assert!(Options::new().with("port", OptionValue::Int(1)).check_keys(BackendKind::Tcp).is_ok());
    }

    #[test]
    fn typed_getters_reject_other_types_and_treat_null_as_absent() {
        let options = Options::new()
            .with("port", OptionValue::Str(b"80".to_vec()))
            .with("dir", OptionValue::Null)
            .with("connect_timeout", OptionValue::Int(2));
        assert_eq!(options.int("port").unwrap_err().to_string(), "Option \"port\" must be of type int, string given");
        assert_eq!(options.bytes("dir").unwrap(), None);
        assert_eq!(options.seconds("connect_timeout").unwrap(), Some(2.0));
        assert_eq!(options.int("absent").unwrap(), None);
        let e = Options::new().with("key", OptionValue::Other("array".into())).int("key").unwrap_err();
        assert_eq!(e.to_string(), "Option \"key\" must be of type int, array given");
    }

    #[test]
    fn port_ranges_parse_strictly() {
        assert_eq!(PortRange::parse("61000-65535").unwrap(), PortRange::DEFAULT);
        assert_eq!(PortRange::parse(" 5 - 5 ").unwrap(), PortRange { low: 5, high: 5 });
        for bad in ["", "61000", "0-10", "10-5", "1-65536", "a-b", "1-2-3"] {
            assert!(PortRange::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn picked_ports_stay_in_range() {
        let range = PortRange { low: 61000, high: 61009 };
        for hash in [0, 9, 10, u64::MAX] {
            assert!((61000..=61009).contains(&range.pick(hash)));
        }
        assert_eq!(PortRange { low: 7, high: 7 }.pick(u64::MAX), 7);
        assert_eq!(PortRange { low: 1, high: 65535 }.pick(65534), 65535);
    }

    #[test]
    fn ports_after_come_round_inside_the_range() {
        let range = PortRange { low: 61000, high: 61009 };
        assert_eq!(range.after(61000, 0), 61000);
        assert_eq!(range.after(61007, 2), 61009);
        assert_eq!(range.after(61008, 3), 61001);
        assert_eq!(PortRange { low: 1, high: 65535 }.after(65535, 1), 1);
        assert_eq!(PortRange { low: 7, high: 7 }.after(7, 0), 7);
    }
}
