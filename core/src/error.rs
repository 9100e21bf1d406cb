//! Errors are values with context until a binding turns them into its own
//! error type. Contention is never an error: it is `Ok(false)`.

use std::{fmt, io};

use crate::backend::BackendKind;

#[derive(Debug)]
pub enum Error {
    /// A value the caller chose is out of its domain (PHP: `\ValueError`).
    InvalidArgument { argument: String, problem: String },
    /// A value the caller chose has the wrong type (PHP: `\TypeError`). The
    /// core meets untyped values only in option arrays.
    InvalidType { argument: String, expected: &'static str, given: String },
    /// The backend cannot be used on this system, or with this configuration;
    /// `lock` is the lock being opened, when there is one.
    Unavailable { lock: Option<String>, backend: BackendKind, reason: String },
    /// An operation on a lock failed for a reason other than contention.
    Failed {
        lock: String,
        backend: BackendKind,
        /// What was being done, naming the resource: "bind port 127.0.0.1:61234".
        operation: String,
        cause: Cause,
    },
}

/// Why an operation failed, keeping the original error as the source.
#[derive(Debug)]
pub enum Cause {
    Os(io::Error),
    /// A database server's error, already stripped of credentials.
    Server(String),
    /// A rule of this library rather than of the OS.
    Refused(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The message a panic was raised with, for an error that reports it: a
/// caught panic prints nothing where the bindings silence the panic hook.
#[must_use]
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

impl Error {
    pub fn invalid_argument(argument: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::InvalidArgument { argument: argument.into(), problem: problem.into() }
    }

    pub fn unavailable(backend: BackendKind, reason: impl Into<String>) -> Self {
        Self::Unavailable { lock: None, backend, reason: reason.into() }
    }

    /// Names the lock in an [`Error::Unavailable`] that did not know it.
    #[must_use]
    pub fn for_lock(self, name: &str) -> Self {
        match self {
            Self::Unavailable { lock: None, backend, reason } => {
                Self::Unavailable { lock: Some(name.to_owned()), backend, reason }
            }
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidArgument { argument, problem } => {
                write!(f, "{} {problem}", describe_argument(argument))
            }
            Self::InvalidType { argument, expected, given } => {
                write!(f, "{} must be of type {expected}, {given} given", describe_argument(argument))
            }
            Self::Unavailable { lock: Some(lock), backend, reason } => {
                write!(f, "Lock \"{lock}\" ({backend} backend): the backend cannot be used here: {reason}")
            }
            Self::Unavailable { lock: None, backend, reason } => {
                write!(f, "The {backend} backend cannot be used here: {reason}")
            }
            Self::Failed { lock, backend, operation, cause } => {
                write!(f, "Lock \"{lock}\" ({backend} backend): cannot {operation}: {cause}")
            }
        }
    }
}

/// `name` becomes `Argument $name`; `option "port"` becomes `Option "port"`.
fn describe_argument(argument: &str) -> String {
    match argument.strip_prefix("option ") {
        Some(option) => format!("Option {option}"),
        None => format!("Argument ${argument}"),
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Os(e) => write!(f, "{e}"),
            Self::Server(message) | Self::Refused(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Failed { cause: Cause::Os(e), .. } => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_argument_lock_backend_operation_and_os_error() {
        let e = Error::Failed {
            lock: "import".into(),
            backend: BackendKind::Flock,
            operation: "open lock file /nope/x.lock".into(),
            cause: Cause::Os(io::Error::from_raw_os_error(libc::EACCES)),
        };
        assert_eq!(
            e.to_string(),
            "Lock \"import\" (flock backend): cannot open lock file /nope/x.lock: Permission denied (os error 13)"
        );
        let source = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<io::Error>());
        assert_eq!(source.and_then(io::Error::raw_os_error), Some(libc::EACCES));

        let e = Error::invalid_argument("option \"port\"", "must be between 1 and 65535, 0 given");
        assert_eq!(e.to_string(), "Option \"port\" must be between 1 and 65535, 0 given");
        let e = Error::InvalidType { argument: "option \"key\"".into(), expected: "int", given: "string".into() };
        assert_eq!(e.to_string(), "Option \"key\" must be of type int, string given");
    }
}
