//! `flock`: `flock(2)` on a lock file, the lock PHP's `flock()` and
//! util-linux `flock(1)` take, so all three exclude each other on one path.
//!
//! The kernel drops a `flock` lock when the last descriptor of its open file
//! closes, so a dead process never holds one. The file is opened
//! `O_CLOEXEC` (no `exec()`ed child keeps it) and registered for closing in
//! forked children (see `fork`). Lock files are never deleted: deleting a
//! lock file while another process has it open is exactly how two processes
//! end up "holding" two different files.
//!
//! Safety of the path: names map to file names that cannot leave their
//! directory; the directory must not be writable by other users unless it
//! is sticky (as `/tmp` is); the file is opened without following a symlink
//! and without blocking on a planted FIFO, and must be a regular file.
//!
//! Waiting sleeps in the kernel in a blocking `flock(LOCK_EX)`, which wakes
//! the moment the holder unlocks, whoever the holder is. A bounded wait arms
//! a POSIX timer aimed at this thread, whose signal interrupts the call at
//! the deadline; see `WakeTimer`.

use std::{
    ffi::OsStr,
    fs::{self, File},
    io,
    os::{
        fd::{AsRawFd, FromRawFd},
        unix::{ffi::OsStrExt, fs::MetadataExt},
    },
    path::{Path, PathBuf},
    time::Duration,
};

use super::{option_error, proc_scan, Backend, Context, Holder, HolderValue};
use crate::{
    deadline::Deadline,
    error::{Cause, Error, Result},
    fork::ForkSafe,
    options::Options,
    LockName, Settings,
};

const FILE_MODE: libc::mode_t = 0o644;

#[derive(Clone, Debug)]
pub(crate) struct Config {
    path: PathBuf,
}

impl Config {
    pub(crate) fn new(name: &LockName, options: &Options, settings: &Settings) -> Result<Self> {
        let path = match (options.bytes("path")?, options.bytes("dir")?) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid_argument(
                    "options",
                    "must not give both \"path\" and \"dir\": \"path\" names the lock file itself",
                ))
            }
            (Some(path), None) => non_empty_path("path", path)?,
            (None, dir) => {
                let dir = match dir {
                    Some(dir) => non_empty_path("dir", dir)?,
                    None => settings.lock_dir.clone().unwrap_or_else(|| settings.temp_dir.clone()),
                };
                lock_file_path(&dir, name)
            }
        };
        Ok(Self { path })
    }

    pub(crate) fn describe(&self) -> String {
        format!("lock file {}", self.path.display())
    }
}

/// Where the lock file of `name` lives in `dir`.
#[must_use]
pub fn lock_file_path(dir: &Path, name: &LockName) -> PathBuf {
    dir.join(format!("exakat_lock.{}.lock", name.slug()))
}

fn non_empty_path(key: &str, bytes: &[u8]) -> Result<PathBuf> {
    if bytes.is_empty() {
        return Err(option_error(key, "must not be empty"));
    }
    if bytes.contains(&0) {
        return Err(option_error(key, "must not contain any null bytes"));
    }
    Ok(PathBuf::from(OsStr::from_bytes(bytes)))
}

pub(crate) struct Flock {
    context: Context,
    config: Config,
    /// Kept open between acquisitions: one `flock` call per acquire.
    file: Option<ForkSafe<File>>,
}

impl Flock {
    pub(crate) fn new(context: Context, config: Config) -> Self {
        Self { context, config, file: None }
    }

    fn refuse(&self, operation: &str, why: String) -> Error {
        self.context.failed(format!("{operation} {}", self.config.describe()), Cause::Refused(why))
    }

    fn file(&mut self) -> Result<&File> {
        if self.file.is_none() {
            let shared_directory = self.check_directory()?;
            let file = self.open()?;
            if shared_directory {
                self.refuse_foreign_file(&file)?;
            }
            self.file = Some(ForkSafe::new(file));
        }
        Ok(self.file.as_deref().expect("opened above"))
    }

    /// Refuses directories that another user could use to swap lock files.
    /// `Ok(true)` for a shared (sticky, writable by others) directory.
    fn check_directory(&self) -> Result<bool> {
        let dir = match self.config.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let meta =
            fs::metadata(dir).map_err(|e| self.context.os(format!("use lock directory {}", dir.display()), e))?;
        if !meta.is_dir() {
            return Err(self.refuse("use", format!("{} is not a directory", dir.display())));
        }
        // SAFETY: geteuid cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me && meta.uid() != 0 {
            return Err(self.refuse(
                "use",
                format!(
                    "its directory {} belongs to uid {}, who could replace the lock file",
                    dir.display(),
                    meta.uid()
                ),
            ));
        }
        let writable_by_others = meta.mode() & 0o022 != 0;
        let sticky = meta.mode() & libc::S_ISVTX != 0;
        if writable_by_others && !sticky {
            return Err(self.refuse(
                "use",
                format!(
                    "its directory {} is writable by other users and not sticky (chmod +t it, or choose another)",
                    dir.display()
                ),
            ));
        }
        Ok(writable_by_others)
    }

    /// In a shared directory, the owner of a file may delete it at any time;
    /// the next process would then lock a new file while we still hold the
    /// old one. So there, only our own files and root's are lock files.
    fn refuse_foreign_file(&self, file: &File) -> Result<()> {
        let meta = file.metadata().map_err(|e| self.context.os(format!("stat {}", self.config.describe()), e))?;
        // SAFETY: geteuid cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() == me || meta.uid() == 0 {
            return Ok(());
        }
        Err(self.refuse(
            "use",
            format!(
                "it belongs to uid {}, who can delete it from this shared directory and so break the lock; \
                 use a directory of your own (the \"dir\" option or exakat_lock.dir)",
                meta.uid()
            ),
        ))
    }

    fn open(&self) -> Result<File> {
        let path = std::ffi::CString::new(self.config.path.as_os_str().as_bytes())
            .map_err(|_| self.refuse("open", "the path contains a null byte".into()))?;
        // Read-only is enough for flock(2), and lets other users lock a file
        // they cannot write. O_NONBLOCK: a FIFO planted under the name must
        // not block the open.
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;
        // SAFETY: `path` is a valid C string; the mode is read only with O_CREAT.
        let mut fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CREAT, libc::c_uint::from(FILE_MODE)) };
        if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EACCES) {
            // Another user's file in a sticky directory: fs.protected_regular
            // refuses O_CREAT on it, a plain open may still be allowed.
            fd = unsafe { libc::open(path.as_ptr(), flags) };
        }
        if fd < 0 {
            let error = io::Error::last_os_error();
            return Err(if error.raw_os_error() == Some(libc::ELOOP) {
                self.refuse("open", "it is a symbolic link, which is never followed".into())
            } else {
                self.context.os(format!("open {}", self.config.describe()), error)
            });
        }
        // SAFETY: `fd` was just opened and is owned by nobody else.
        let file = unsafe { File::from_raw_fd(fd) };
        let meta = file.metadata().map_err(|e| self.context.os(format!("stat {}", self.config.describe()), e))?;
        if !meta.is_file() {
            return Err(self.refuse("open", "it is not a regular file".into()));
        }
        Ok(file)
    }
}

impl Flock {
    /// One non-blocking try on a separate open of the file, undone at once.
    fn held_elsewhere(&self) -> Result<bool> {
        let probe = match self.open() {
            Ok(file) => file,
            Err(_) => return Ok(false), // gone or unreadable: nothing to report
        };
        let free = flock(&probe, libc::LOCK_EX | libc::LOCK_NB)
            .map_err(|e| self.context.os(format!("test {}", self.config.describe()), e))?;
        Ok(!free)
    }
}

/// Whether the file we locked is still in the file system: someone may have
/// deleted it, or renamed another file over it, and a lock on an unlinked
/// file excludes nobody. One `fstat(2)`, no path lookup: on the hot path,
/// and cheaper than `File::metadata()`, which asks `statx(2)` for every field.
fn still_linked(file: &File) -> bool {
    nix::sys::stat::fstat(file).is_ok_and(|stat| stat.st_nlink > 0)
}

/// `flock(2)`; `Ok(false)` on contention. `EINTR` is the caller's to retry.
fn flock(file: &File, operation: libc::c_int) -> io::Result<bool> {
    // SAFETY: plain syscall on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        // Some file systems report EACCES for a lock held elsewhere.
        Some(libc::EWOULDBLOCK | libc::EACCES) if operation & libc::LOCK_NB != 0 => Ok(false),
        _ => Err(error),
    }
}

impl Backend for Flock {
    fn acquire(&mut self, deadline: &Deadline) -> Result<bool> {
        loop {
            let file = self.file()?;
            let outcome = match flock(file, libc::LOCK_EX | libc::LOCK_NB) {
                Ok(true) => Ok(true),
                Ok(false) if !deadline.may_wait() => return Ok(false),
                Ok(false) => wait_for_flock(file, deadline).map_err(|e| ("wait for", e)),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => Err(("lock", e)),
            };
            // Messages are formatted only on failure: this is the hot path.
            let taken = outcome
                .map_err(|(operation, e)| self.context.os(format!("{operation} {}", self.config.describe()), e))?;
            if !taken {
                return Ok(false);
            }
            if still_linked(self.file()?) {
                return Ok(true);
            }
            // Locked a file that is no longer at the path: drop it and lock
            // the one that is.
            self.file = None;
        }
    }

    /// A lock file deleted while held no longer excludes anyone: the lock
    /// is lost, and closing the file frees whoever still waits on it.
    fn still_held(&mut self) -> Result<bool> {
        let linked = self.file.as_deref().is_some_and(still_linked);
        if !linked {
            self.file = None;
        }
        Ok(linked)
    }

    /// `false` for a lock lost with its deleted file, as for any lost lock.
    fn release(&mut self) -> Result<bool> {
        let Some(file) = self.file.as_deref() else { return Ok(false) };
        if !still_linked(file) {
            self.file = None;
            return Ok(false);
        }
        loop {
            match flock(file, libc::LOCK_UN) {
                Ok(_) => return Ok(true),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return Err(self.context.os(format!("unlock {}", self.config.describe()), e)),
            }
        }
    }

    fn holder(&mut self) -> Result<Option<Holder>> {
        let meta = match fs::symlink_metadata(&self.config.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.context.os(format!("stat {}", self.config.describe()), e)),
        };
        let (major, minor) = (u64::from(libc::major(meta.dev())), u64::from(libc::minor(meta.dev())));
        let pid = match proc_scan::flock_on(major, minor, meta.ino()) {
            Some(lock) => lock.pid,
            // /proc/locks lists only locks of our PID namespace: a holder in
            // another container (a shared volume) is found by trying.
            None if self.held_elsewhere()? => None,
            None => return Ok(None),
        };
        Ok(Some(Holder::local(pid, None, vec![("path", HolderValue::Str(self.config.path.display().to_string()))])))
    }
}

/// Blocks in `flock(LOCK_EX)` until the lock is ours or the deadline passes.
fn wait_for_flock(file: &File, deadline: &Deadline) -> io::Result<bool> {
    let _timer = deadline.monotonic_timespec().map(WakeTimer::arm).transpose()?;
    loop {
        match flock(file, libc::LOCK_EX) {
            Ok(_) => return Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {
                if deadline.expired() {
                    return Ok(false);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Interrupts this thread's blocking system call at a deadline.
///
/// `flock(2)` has no timeout. A POSIX timer on `CLOCK_MONOTONIC` (the clock
/// of `Instant`), aimed at this thread only (`SIGEV_THREAD_ID`), sends a
/// real-time signal at the deadline; its handler does nothing and is
/// installed without `SA_RESTART`, so the call returns `EINTR`. After the
/// first expiry the timer repeats every millisecond: a signal that lands
/// just before the call starts cannot leave it blocked.
///
/// The handler is installed once per process and stays: restoring the
/// previous one after each wait would race with a wait in another thread
/// (ZTS builds, test harnesses), and a real-time signal left at its default
/// action terminates the process. The signal is unblocked for this thread
/// for the duration of the wait only.
struct WakeTimer {
    timer: libc::timer_t,
    previous_mask: libc::sigset_t,
}

/// One real-time signal that neither PHP nor its usual extensions use.
fn wake_signal() -> libc::c_int {
    libc::SIGRTMAX() - 7
}

extern "C" fn do_nothing(_: libc::c_int) {}

fn install_wake_handler() -> io::Result<()> {
    static INSTALLED: std::sync::OnceLock<Result<(), i32>> = std::sync::OnceLock::new();
    let installed = INSTALLED.get_or_init(|| {
        // SAFETY: a zeroed sigaction is valid; the handler is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            let handler: extern "C" fn(libc::c_int) = do_nothing;
            action.sa_sigaction = handler as usize;
            libc::sigemptyset(&mut action.sa_mask);
            check(libc::sigaction(wake_signal(), &action, std::ptr::null_mut()))
                .map_err(|e| e.raw_os_error().unwrap_or(0))
        }
    });
    installed.map_err(io::Error::from_raw_os_error)
}

impl WakeTimer {
    fn arm(at: libc::timespec) -> io::Result<Self> {
        install_wake_handler()?;
        let signal = wake_signal();
        // SAFETY: every struct is initialised before use and every call checked.
        unsafe {
            let mut unblock: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut unblock);
            libc::sigaddset(&mut unblock, signal);
            let mut previous_mask: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &unblock, &mut previous_mask);

            let mut event: libc::sigevent = std::mem::zeroed();
            event.sigev_notify = libc::SIGEV_THREAD_ID;
            event.sigev_signo = signal;
            event.sigev_notify_thread_id = libc::gettid();
            let mut timer: libc::timer_t = std::mem::zeroed();
            if let Err(e) = check(libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut timer)) {
                libc::pthread_sigmask(libc::SIG_SETMASK, &previous_mask, std::ptr::null_mut());
                return Err(e);
            }
            let this = Self { timer, previous_mask };
            let repeat = Duration::from_millis(1);
            let spec = libc::itimerspec {
                it_interval: libc::timespec { tv_sec: 0, tv_nsec: repeat.subsec_nanos().into() },
                it_value: at,
            };
            check(libc::timer_settime(timer, libc::TIMER_ABSTIME, &spec, std::ptr::null_mut()))?;
            Ok(this)
        }
    }
}

impl Drop for WakeTimer {
    fn drop(&mut self) {
        // SAFETY: deletes the timer `arm` created and restores the mask it saved.
        // A signal already posted is delivered on timer_delete's return, to
        // the (permanent) no-op handler.
        unsafe {
            libc::timer_delete(self.timer);
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous_mask, std::ptr::null_mut());
        }
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::OptionValue;

    fn config(options: Options) -> Result<Config> {
        let settings = Settings { temp_dir: "/tmp".into(), ..Settings::default() };
        Config::new(&LockName::new(b"../../etc/passwd").unwrap(), &options, &settings)
    }

    #[test]
    fn names_never_leave_the_lock_directory() {
        let c = config(Options::new()).unwrap();
        assert_eq!(c.path.parent(), Some(Path::new("/tmp")));
        let file = c.path.file_name().unwrap().to_str().unwrap();
        assert!(file.starts_with("exakat_lock.______etc_passwd.") && file.ends_with(".lock"), "{file}");
    }

    #[test]
    fn dir_and_path_options_are_checked() {
        let c = config(Options::new().with("dir", OptionValue::Str(b"/var/lock".to_vec()))).unwrap();
        assert!(c.path.starts_with("/var/lock"));
        let c = config(Options::new().with("path", OptionValue::Str(b"/srv/app.lock".to_vec()))).unwrap();
        assert_eq!(c.path, Path::new("/srv/app.lock"));
        let both =
            Options::new().with("path", OptionValue::Str(b"/a".to_vec())).with("dir", OptionValue::Str(b"/b".to_vec()));
        assert!(config(both).unwrap_err().to_string().contains("not give both"));
        let e = config(Options::new().with("dir", OptionValue::Str(Vec::new()))).unwrap_err().to_string();
        assert_eq!(e, "Option \"dir\" must not be empty");
        let e = config(Options::new().with("path", OptionValue::Str(b"a\0b".to_vec()))).unwrap_err().to_string();
        assert_eq!(e, "Option \"path\" must not contain any null bytes");
    }
}
