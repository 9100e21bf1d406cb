//! exakat-lock-core: named locks that never outlive their process and never
//! leak into child processes, over several OS and server mechanisms.
//!
//! This crate knows nothing of PHP; the `exakat_lock` extension is a thin
//! binding over it. A [`LockSpec`] validates a name, a backend and its
//! options; a [`Lock`] made from it acquires, releases and reports holders.
//!
//! ```
//! use exakat_lock_core::{BackendChoice, Lock, LockName, LockSpec, Options, Settings, Timeout};
//!
//! let name = LockName::new(b"nightly-import")?;
//! let spec = LockSpec::new(name, BackendChoice::Auto, &Options::new(), &Settings::default())?;
//! let mut lock = Lock::new(spec);
//! if lock.acquire(Timeout::NoWait)? {
//!     // ... the only copy running ...
//!     lock.release()?;
//! } else if let Some(holder) = lock.holder()? {
//!     eprintln!("another process is running (pid {:?})", holder.pid);
//! }
//! # Ok::<(), exakat_lock_core::Error>(())
//! ```

pub mod backend;
pub mod deadline;
pub mod dsn;
pub mod error;
pub mod fork;
mod lock;
pub mod name;
pub mod options;

pub use backend::{
    list, usable_backends, usable_local_backends, BackendChoice, BackendKind, Holder, HolderValue, Listed, LockSpec,
    Mode, MAX_SLOTS,
};
pub use deadline::Timeout;
pub use dsn::Dsn;
pub use error::{panic_message, Cause, Error, Result};
pub use lock::Lock;
pub use name::LockName;
pub use options::{DsnSource, OptionValue, Options, PortRange, Settings};
