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
//! Waiting sleeps in the kernel in a blocking `flock(2)`, which wakes the
//! moment the holder unlocks, whoever the holder is. A bounded wait arms a
//! POSIX timer aimed at this thread, whose signal interrupts the call at
//! the deadline; see `WakeTimer`.
//!
//! Shared holders take `LOCK_SH` on the same file, so they share with
//! `flock -s` and PHP's `flock(LOCK_SH)`. The kernel grants `LOCK_SH` while
//! a writer waits, so a stream of overlapping readers could starve it; a
//! turnstile prevents that: a writer that has to wait takes a second file,
//! `<lock file>.gate`, for as long as it waits, and readers pass through it
//! (take it, lock the file, let it go). Behind a waiting writer, readers
//! queue at the gate. Only programs that do not know the gate (`flock -s`)
//! can still get ahead of a writer.

use std::{
    ffi::{CStr, CString, OsStr, OsString},
    fs::File,
    io,
    os::{
        fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd},
        unix::ffi::OsStrExt,
    },
    path::{Component, Path, PathBuf},
    time::Duration,
};

use nix::{fcntl::AtFlags, sys::stat};

use super::{
    dir_watch::{self, DirId, Mark, NameWatch, Since},
    is_trusted_owner, option_error, proc_scan, wake, AtGate, Backend, Context, Holder, HolderValue, ResourceId,
};
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
    /// Absolute, so that it means the same file whatever the working
    /// directory is when the lock is used.
    path: PathBuf,
    file_name: CString,
    /// Whether waiting goes through the turnstile (a lock that may be held
    /// shared); not for gates and slot files, which are only ever exclusive.
    turnstile: bool,
}

impl Config {
    pub(crate) fn new(name: &LockName, options: &Options, settings: &Settings) -> Result<Self> {
        let (key, path) = match (options.bytes("path")?, options.bytes("dir")?) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid_argument(
                    "options",
                    "must not give both \"path\" and \"dir\": \"path\" names the lock file itself",
                ))
            }
            (Some(path), None) => ("path", non_empty_path("path", path)?),
            (None, dir) => {
                let dir = match dir {
                    Some(dir) => non_empty_path("dir", dir)?,
                    None => default_dir(settings)?,
                };
                ("dir", lock_file_path(&dir, name))
            }
        };
        let path = absolute(&path).map_err(|e| option_error(key, format!("is relative and {e}")))?;
        let file_name = match path.file_name() {
            // "." and ".." have no file name: they name directories.
            Some(file_name) if !path.as_os_str().as_bytes().ends_with(b"/") => file_name,
            _ => return Err(option_error(key, "must name a file, not a directory")),
        };
        let file_name = CString::new(file_name.as_bytes()).expect("checked for null bytes");
        Ok(Self { path, file_name, turnstile: true })
    }

    pub(crate) fn describe(&self) -> String {
        format!("lock file {}", self.path.display())
    }

    /// A file beside the lock file: `<lock file>.<suffix>`. Derived lock
    /// files end in `.lock`, so these never name another lock's file.
    fn beside(&self, suffix: &str) -> Self {
        let mut file_name = self.file_name.as_bytes().to_vec();
        file_name.extend_from_slice(format!(".{suffix}").as_bytes());
        let file_name = CString::new(file_name).expect("no null bytes were added");
        Self { path: self.dir().join(OsStr::from_bytes(file_name.as_bytes())), file_name, turnstile: false }
    }

    /// The turnstile of shared locks and the gate of slot groups: see
    /// `slotted` and [`Flock::acquire_shared`].
    pub(crate) fn gate(&self) -> Self {
        self.beside("gate")
    }

    /// An abstract socket named after the lock file's path: it reaches the
    /// processes of this network namespace that name the file this way.
    pub(crate) fn bell(&self) -> Vec<u8> {
        format!("exakat_lock/flock-bell/{:016x}", crate::name::fnv1a64(self.path.as_os_str().as_bytes())).into_bytes()
    }

    /// Slot `slot` of this lock's group; slot 0 is the lock file itself.
    pub(crate) fn slot(&self, slot: u16) -> Self {
        match slot {
            0 => Self { turnstile: false, ..self.clone() },
            _ => self.beside(&slot.to_string()),
        }
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("/"))
    }

    fn file_name(&self) -> &CStr {
        &self.file_name
    }
}

/// `path` made absolute against the working directory, now: a lock must not
/// change files when the script calls `chdir()`.
fn absolute(path: &Path) -> io::Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .map_err(|e| io::Error::new(e.kind(), format!("the working directory cannot be read: {e}")))
}

/// Where the lock file of `name` lives in `dir`.
#[must_use]
pub fn lock_file_path(dir: &Path, name: &LockName) -> PathBuf {
    dir.join(format!("exakat_lock.{}.lock", name.slug()))
}

/// `exakat_lock.dir`, else the temporary directory. The PHP binding refuses
/// a NUL byte in the setting; a `Settings` made elsewhere is checked here.
pub(crate) fn default_dir(settings: &Settings) -> Result<PathBuf> {
    let (setting, dir) = match &settings.lock_dir {
        Some(dir) => ("exakat_lock.dir", dir),
        None => ("the temporary directory", &settings.temp_dir),
    };
    if dir.as_os_str().as_bytes().contains(&0) {
        return Err(Error::invalid_argument(setting, "must not contain any null bytes"));
    }
    Ok(dir.clone())
}

pub(crate) fn non_empty_path(key: &str, bytes: &[u8]) -> Result<PathBuf> {
    if bytes.is_empty() {
        return Err(option_error(key, "must not be empty"));
    }
    if bytes.contains(&0) {
        return Err(option_error(key, "must not contain any null bytes"));
    }
    Ok(PathBuf::from(OsStr::from_bytes(bytes)))
}

enum DirError {
    Os(PathBuf, io::Error),
    Untrusted(String),
}

/// Symbolic links followed in one directory path before giving up, as the
/// kernel's own limit.
const MAX_LINKS: u32 = 40;

/// Opens the lock directory `path` (absolute) one component at a time,
/// never through a place another user could change: every directory on the
/// way must belong to us or root and be writable by nobody else unless it
/// is sticky, and a symbolic link is followed only when it belongs to us or
/// root (its directory having passed the same test, nobody else can
/// re-point it). Each step is checked on the descriptor it opened, so a
/// swap between the check and the use changes nothing. Debian's
/// `/var/lock -> /run/lock` passes; a link in a directory another user owns
/// does not.
fn open_trusted_dir(path: &Path) -> std::result::Result<TrustedDir, DirError> {
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, path);
    let mut shown = PathBuf::from("/");
    let mut current = open_dir_at(libc::AT_FDCWD, c"/").map_err(|e| DirError::Os(shown.clone(), e))?;
    let mut stat = check_dir(&current, &shown)?;
    let mut links = 0;
    let mut steps: Option<(NameWatch, Mark)> = None;
    let mut every_step_watched = true;
    while let Some(part) = pending.pop() {
        let c_part = CString::new(part.as_bytes()).expect("paths are checked for null bytes");
        if part != ".." {
            every_step_watched &= watch_step(&mut steps, &current, &stat, &c_part);
        }
        let entry = fstatat(&current, c_part.as_c_str()).map_err(|e| DirError::Os(shown.join(&part), e))?;
        if entry.st_mode & libc::S_IFMT == libc::S_IFLNK {
            links += 1;
            if links > MAX_LINKS {
                return Err(DirError::Os(path.to_path_buf(), io::Error::from_raw_os_error(libc::ELOOP)));
            }
            if !is_trusted_owner(entry.st_uid) {
                return Err(DirError::Untrusted(format!(
                    "{} is a symbolic link owned by uid {}, who could re-point it",
                    shown.join(&part).display(),
                    entry.st_uid
                )));
            }
            let target = PathBuf::from(
                nix::fcntl::readlinkat(&current, c_part.as_c_str())
                    .map_err(|e| DirError::Os(shown.join(&part), e.into()))?,
            );
            if target.is_absolute() {
                shown = PathBuf::from("/");
                current = open_dir_at(libc::AT_FDCWD, c"/").map_err(|e| DirError::Os(shown.clone(), e))?;
                stat = check_dir(&current, &shown)?;
            }
            push_components(&mut pending, &target);
            continue;
        }
        let next = open_dir_at(current.as_raw_fd(), &c_part).map_err(|e| DirError::Os(shown.join(&part), e))?;
        if part == ".." {
            shown.pop();
        } else {
            shown.push(&part);
        }
        stat = check_dir(&next, &shown)?;
        current = next;
    }
    let shared = stat.st_mode & 0o022 != 0;
    let steps = steps.filter(|_| every_step_watched);
    Ok(TrustedDir { fd: ForkSafe::new(current), id: DirId::of(&stat), shared, steps })
}

/// Watches the name `part` in `dir`, a step of the walk, before it is looked
/// up: a directory renamed, deleted or replaced, or a link re-pointed, after
/// the walk is then heard. `false` when it cannot be watched (NFS, no
/// inotify instance or watch left).
fn watch_step(steps: &mut Option<(NameWatch, Mark)>, dir: &OwnedFd, stat: &libc::stat, part: &CStr) -> bool {
    match steps {
        Some((watch, mark)) => watch.add_to(mark, dir, DirId::of(stat), part),
        None => {
            *steps = NameWatch::new_marked(dir, DirId::of(stat), part);
            steps.is_some()
        }
    }
}

/// Pushes the components of `path` so that the first is popped first;
/// "." and the root are no steps at all.
fn push_components(pending: &mut Vec<OsString>, path: &Path) {
    let parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_os_string()),
            Component::ParentDir => Some("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    pending.extend(parts.into_iter().rev());
}

fn open_dir_at(dir: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a valid C string; the result is checked.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: just opened, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Refuses a directory that another user could use to swap lock files.
fn check_dir(dir: &OwnedFd, shown: &Path) -> std::result::Result<libc::stat, DirError> {
    let stat = stat::fstat(dir).map_err(|e| DirError::Os(shown.to_path_buf(), e.into()))?;
    if !is_trusted_owner(stat.st_uid) {
        return Err(DirError::Untrusted(format!(
            "the directory {} belongs to uid {}, who could replace the lock file",
            shown.display(),
            stat.st_uid
        )));
    }
    let writable_by_others = stat.st_mode & 0o022 != 0;
    let sticky = stat.st_mode & libc::S_ISVTX != 0;
    if writable_by_others && !sticky {
        return Err(DirError::Untrusted(format!(
            "the directory {} is writable by other users and not sticky (chmod +t it, or choose another)",
            shown.display()
        )));
    }
    Ok(stat)
}

/// `lstat` of `name` relative to `dir`.
fn fstatat(dir: impl AsFd, name: &CStr) -> io::Result<libc::stat> {
    stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(io::Error::from)
}

pub(crate) struct Flock {
    context: Context,
    config: Config,
    /// The lock directory, resolved once and never through a path another
    /// user could re-point; the file is always reached relative to it.
    dir: Option<TrustedDir>,
    /// Kept open between acquisitions: one `flock` call per acquire.
    file: Option<OpenLockFile>,
    /// The turnstile, opened when first needed.
    gate: Option<Box<Flock>>,
}

struct TrustedDir {
    fd: ForkSafe<OwnedFd>,
    id: DirId,
    /// The names walked to reach it, watched from before each was looked
    /// up: the path may come to name another directory (`mv dir dir.old`,
    /// a deploy re-pointing a `current` link), and a lock in this one would
    /// then exclude nobody who walks the path anew. `None` unless every
    /// step could be watched: then each check walks the path again.
    steps: Option<(NameWatch, Mark)>,
    /// Sticky and writable by others, as `/tmp` is.
    shared: bool,
}

struct OpenLockFile {
    file: ForkSafe<File>,
    /// What the file was when opened: the lock is only worth something
    /// while the path still names this very file.
    identity: FileIdentity,
    /// Hears of the name changing, so that a look-up is needed only then.
    watch: Option<NameWatch>,
    /// Taken before the last look-up that found this file at the path.
    seen_at_path: Option<Mark>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    fn of(stat: &libc::stat) -> Self {
        Self { dev: stat.st_dev, ino: stat.st_ino }
    }
}

impl Flock {
    pub(crate) fn new(context: Context, config: Config) -> Self {
        Self { context, config, dir: None, file: None, gate: None }
    }

    fn refuse(&self, operation: &str, why: String) -> Error {
        self.context.failed(format!("{operation} {}", self.config.describe()), Cause::Refused(why))
    }

    fn dir(&mut self) -> Result<&TrustedDir> {
        if self.dir.is_none() {
            let dir = match open_trusted_dir(self.config.dir()) {
                Ok(dir) => dir,
                Err(DirError::Os(at, e)) => {
                    let wanted = self.config.dir();
                    let operation = if at == wanted {
                        format!("use lock directory {}", at.display())
                    } else {
                        // Where the walk to it stopped: a missing step, or
                        // no descriptor left to open one.
                        format!("use lock directory {} (at {})", wanted.display(), at.display())
                    };
                    return Err(self.context.os(operation, e));
                }
                Err(DirError::Untrusted(why)) => return Err(self.refuse("use", why)),
            };
            self.dir = Some(dir);
        }
        Ok(self.dir.as_ref().expect("resolved above"))
    }

    fn file(&mut self) -> Result<&OpenLockFile> {
        if self.file.is_none() {
            let shared_directory = self.dir()?.shared;
            let (file, stat) = self.open()?;
            if shared_directory {
                self.refuse_foreign_file(&stat)?;
            }
            let dir = self.dir.as_ref().expect("resolved by open");
            let watch = NameWatch::new(&dir.fd, dir.id, self.config.file_name());
            self.file = Some(OpenLockFile {
                file: ForkSafe::new(file),
                identity: FileIdentity::of(&stat),
                watch,
                seen_at_path: None,
            });
        }
        Ok(self.file.as_ref().expect("opened above"))
    }

    /// In a shared directory, the owner of a file may delete it at any time;
    /// the next process would then lock a new file while we still hold the
    /// old one. So there, only our own files and root's are lock files.
    fn refuse_foreign_file(&self, stat: &libc::stat) -> Result<()> {
        if is_trusted_owner(stat.st_uid) {
            return Ok(());
        }
        Err(self.refuse(
            "use",
            format!(
                "it belongs to uid {}, who can delete it from this shared directory and so break the lock; \
                 use a directory of your own (the \"dir\" option or exakat_lock.dir)",
                stat.st_uid
            ),
        ))
    }

    /// What is at the lock file's name now, without following a link.
    fn stat_at_path(&mut self) -> Result<Option<libc::stat>> {
        self.dir()?;
        let dir = &self.dir.as_ref().expect("resolved above").fd;
        match fstatat(&**dir, self.config.file_name()) {
            Ok(stat) => Ok(Some(stat)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(self.context.os(format!("stat {}", self.config.describe()), e)),
        }
    }

    fn open(&mut self) -> Result<(File, libc::stat)> {
        // A device, FIFO or socket planted under the name is refused before
        // it is opened: opening some devices has effects of its own.
        if let Some(stat) = self.stat_at_path()? {
            self.refuse_non_regular(&stat)?;
        }
        let dir = self.dir()?.fd.as_raw_fd();
        let name = self.config.file_name();
        // Read-only is enough for flock(2), and lets other users lock a file
        // they cannot write. O_NONBLOCK: a FIFO planted between the check
        // above and this open must not block it.
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;
        // SAFETY: `name` is a valid C string; the mode is read only with O_CREAT.
        let mut fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CREAT, libc::c_uint::from(FILE_MODE)) };
        if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EACCES) {
            // Another user's file in a sticky directory: fs.protected_regular
            // refuses O_CREAT on it, a plain open may still be allowed.
            fd = unsafe { libc::openat(dir, name.as_ptr(), flags) };
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
        let stat = stat::fstat(&file).map_err(|e| self.context.os(format!("stat {}", self.config.describe()), e))?;
        self.refuse_non_regular(&stat)?;
        Ok((file, stat))
    }

    fn refuse_non_regular(&self, stat: &libc::stat) -> Result<()> {
        match stat.st_mode & libc::S_IFMT {
            libc::S_IFREG => Ok(()),
            libc::S_IFLNK => Err(self.refuse("open", "it is a symbolic link, which is never followed".into())),
            _ => Err(self.refuse("open", "it is not a regular file".into())),
        }
    }

    /// Whether the path still names the file this object has open: the file
    /// may have been deleted, renamed away or replaced by a rename, or the
    /// path may lead to another directory now, and a lock on a file that is
    /// no longer at the path excludes nobody. `holding`: asked of a held
    /// lock, where a name that changed at all since it was locked is a lost
    /// lock even if the file is back (`mv lock x; mv x lock`: someone else
    /// may have locked a new file in between). Just after locking, a change
    /// only calls for a look-up. A directory that may have moved is walked
    /// to again at the next acquire.
    fn still_at_path(&mut self, holding: bool) -> bool {
        let (Some(open), Some(dir)) = (self.file.as_mut(), self.dir.as_mut()) else { return false };
        let name = open.watch.as_ref().zip(open.seen_at_path.as_mut());
        let (dir_since, name_since) = match (dir.steps.as_mut(), name) {
            (Some((steps, walked)), Some((watch, seen))) => {
                let [dir_since, name_since] = dir_watch::since_marks([(&*steps, walked), (watch, seen)]);
                (dir_since, name_since)
            }
            (Some((steps, walked)), None) => (steps.since(walked), Since::Unknown),
            (None, Some((watch, seen))) => (Since::Unknown, watch.since(seen)),
            (None, None) => (Since::Unknown, Since::Unknown),
        };
        // Where the watches cannot tell (no watch on every step, a lost
        // event queue), the path is walked again.
        let same_dir = match dir_since {
            Since::Unchanged => true,
            Since::Changed => false,
            Since::Unknown => self.walks_to_the_same_dir(),
        };
        if !same_dir {
            self.dir = None;
            return false;
        }
        let (Some(open), Some(dir)) = (self.file.as_mut(), self.dir.as_ref()) else { return false };
        match name_since {
            Since::Unchanged => return true,
            Since::Changed if holding => return false,
            _ => {}
        }
        // Marked before the look-up: a change just after it is heard next time.
        let watch = open.watch.as_ref();
        let mark = watch.and_then(NameWatch::mark);
        let here =
            fstatat(&*dir.fd, self.config.file_name()).is_ok_and(|stat| FileIdentity::of(&stat) == open.identity);
        open.seen_at_path = if here { mark } else { None };
        here
    }

    /// Without watches of every step of the path (NFS, no inotify instance
    /// or watch left for this user), whether walking the path again leads
    /// to the same directory; the new walk, which may have got its watches
    /// this time, serves the next checks.
    fn walks_to_the_same_dir(&mut self) -> bool {
        let Ok(walked) = open_trusted_dir(self.config.dir()) else { return false };
        if self.dir.as_ref().is_none_or(|dir| dir.id != walked.id) {
            return false;
        }
        self.dir = Some(walked);
        true
    }

    /// One non-blocking try on a separate open of the file, undone at once.
    fn held_elsewhere(&mut self) -> Result<bool> {
        let probe = match self.open() {
            Ok((file, _)) => file,
            Err(_) => return Ok(false), // gone or unreadable: nothing to report
        };
        let free = flock(&probe, libc::LOCK_EX | libc::LOCK_NB)
            .map_err(|e| self.context.os(format!("test {}", self.config.describe()), e))?;
        Ok(!free)
    }
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

impl Flock {
    /// Locks the file with `operation` (`LOCK_EX` or `LOCK_SH`), waiting
    /// until `deadline` if it allows.
    fn lock_file(&mut self, operation: libc::c_int, deadline: &Deadline) -> Result<bool> {
        loop {
            let file = &self.file()?.file;
            let outcome = match flock(file, operation | libc::LOCK_NB) {
                Ok(true) => Ok(true),
                Ok(false) if !deadline.may_wait() => return Ok(false),
                Ok(false) => wait_for_flock(file, operation, deadline).map_err(|e| ("wait for", e)),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => Err(("lock", e)),
            };
            // Messages are formatted only on failure: this is the hot path.
            let taken = outcome
                .map_err(|(operation, e)| self.context.os(format!("{operation} {}", self.config.describe()), e))?;
            if !taken {
                return Ok(false);
            }
            if self.still_at_path(false) {
                return Ok(true);
            }
            // Locked a file that is no longer at the path: drop it (which
            // frees whoever waits on it too) and lock the one that is.
            self.file = None;
        }
    }

    /// A reader's single try: `false` only while a writer holds the file or
    /// waits for it. A waiting writer holds the gate; so does, for a few
    /// microseconds, every reader passing through it, and four readers
    /// that only read failed one try in thirteen (a review's find). A busy
    /// gate is a `false` only when a writer is blocked on the file (its
    /// `->` line in `/proc/locks`); a writer that took the gate an instant
    /// ago and is not blocked yet is passed, as if this reader had come
    /// first.
    fn try_shared(&mut self, once: &Deadline) -> Result<bool> {
        match self.gate().acquire(once) {
            Ok(true) => {
                let taken = self.lock_file(libc::LOCK_SH, once);
                self.gate().release()?;
                return taken;
            }
            Ok(false) => {}
            Err(e) => return Err(e),
        }
        let FileIdentity { dev, ino } = self.file()?.identity;
        if proc_scan::writer_waits_on(u64::from(libc::major(dev)), u64::from(libc::minor(dev)), ino) {
            return Ok(false);
        }
        self.lock_file(libc::LOCK_SH, once)
    }

    fn gate(&mut self) -> &mut Flock {
        let (context, config) = (&self.context, &self.config);
        self.gate.get_or_insert_with(|| Box::new(Flock::new(context.clone(), config.gate())))
    }

    /// Takes the gate, locks the file, lets the gate go. `Ok(None)` when the
    /// gate cannot be used (a directory we may not create it in).
    fn lock_through_gate(&mut self, operation: libc::c_int, deadline: &Deadline) -> Result<Option<bool>> {
        match self.gate().wait_as_gate(deadline) {
            Ok(AtGate::Passed) => {}
            Ok(AtGate::TimedOut) => return Ok(Some(false)),
            Ok(AtGate::PastStopped) => return self.lock_file(operation, deadline).map(Some),
            Err(e) => return if operation == libc::LOCK_SH { Err(e) } else { Ok(None) },
        }
        let taken = self.lock_file(operation, deadline);
        self.gate().release()?;
        taken.map(Some)
    }
}

impl Backend for Flock {
    fn acquire(&mut self, deadline: &Deadline) -> Result<bool> {
        if !self.config.turnstile || !deadline.may_wait() {
            return self.lock_file(libc::LOCK_EX, deadline);
        }
        if self.lock_file(libc::LOCK_EX, &Deadline::start(crate::Timeout::NoWait))? {
            return Ok(true);
        }
        // Without a gate (only the lock file may be created there), wait as
        // before shared locks existed: readers may then get ahead.
        match self.lock_through_gate(libc::LOCK_EX, deadline)? {
            Some(taken) => Ok(taken),
            None => self.lock_file(libc::LOCK_EX, deadline),
        }
    }

    fn acquire_shared(&mut self, deadline: &Deadline, beside_our_reader: bool) -> Result<bool> {
        let once = Deadline::start(crate::Timeout::NoWait);
        // Not through the gate, which a waiting writer holds: the file
        // itself is shared already, and flock(2) lets one more reader in.
        if beside_our_reader && self.lock_file(libc::LOCK_SH, &once)? {
            return Ok(true);
        }
        if !deadline.may_wait() {
            return self.try_shared(&once);
        }
        Ok(self.lock_through_gate(libc::LOCK_SH, deadline)?.unwrap_or(false))
    }

    /// A lock file deleted, renamed away or replaced while held no longer
    /// excludes anyone: the lock is lost, and closing the file frees
    /// whoever still waits on it.
    fn still_held(&mut self) -> Result<bool> {
        let here = self.still_at_path(true);
        if !here {
            self.file = None;
        }
        Ok(here)
    }

    /// `false` for a lock lost with its file, as for any lost lock.
    fn release(&mut self) -> Result<bool> {
        if !self.still_at_path(true) {
            self.file = None;
            return Ok(false);
        }
        let Some(open) = self.file.as_ref() else { return Ok(false) };
        loop {
            match flock(&open.file, libc::LOCK_UN) {
                Ok(_) => return Ok(true),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return Err(self.context.os(format!("unlock {}", self.config.describe()), e)),
            }
        }
    }

    /// A shared holder counts: a single exclusive try would fail.
    fn holder(&mut self) -> Result<Option<Holder>> {
        Ok(self.holders()?.into_iter().next())
    }

    fn holders(&mut self) -> Result<Vec<Holder>> {
        let Some(stat) = self.stat_at_path()? else { return Ok(Vec::new()) };
        let (major, minor) = (u64::from(libc::major(stat.st_dev)), u64::from(libc::minor(stat.st_dev)));
        let shown = self.config.path.display().to_string();
        let path = || vec![("path", HolderValue::Str(shown.clone()))];
        let locks = proc_scan::flocks_on(major, minor, stat.st_ino);
        if locks.is_empty() {
            // /proc/locks lists only locks of our PID namespace: a holder in
            // another container (a shared volume) is found by trying.
            return Ok(if self.held_elsewhere()? { vec![Holder::local(None, None, path())] } else { Vec::new() });
        }
        Ok(proc_scan::with_one_scan(|| {
            locks.iter().map(|lock| lock.holder(stat.st_dev, stat.st_ino, shown.clone())).collect()
        }))
    }

    fn resource(&mut self) -> Result<ResourceId> {
        let FileIdentity { dev, ino } = self.file()?.identity;
        Ok(ResourceId::File { dev, ino })
    }

    /// Waits in slices, and looks at the gate's holders after each: a
    /// writer stopped while it waited (Ctrl-Z, `docker pause`) kept the
    /// gate, and every writer and reader behind it waited out its time on
    /// a lock file nobody held (a review's find). Re-waiting loses no
    /// place: the kernel's `flock` queue keeps no order.
    fn wait_as_gate(&mut self, deadline: &Deadline) -> Result<AtGate> {
        let mut look_after = wake::GATE_LOOK_START;
        loop {
            if self.acquire(&deadline.within(look_after))? {
                return Ok(AtGate::Passed);
            }
            if deadline.expired() {
                return Ok(AtGate::TimedOut);
            }
            let holders = self.holders()?;
            let stopped = |holder: &Holder| holder.pid.is_some_and(proc_scan::is_stopped);
            if !holders.is_empty() && holders.iter().all(stopped) {
                return Ok(AtGate::PastStopped);
            }
            look_after = (look_after * 2).min(wake::GATE_LOOK_CAP);
        }
    }
}

/// Blocks in `flock(operation)` until the lock is ours or the deadline passes.
fn wait_for_flock(file: &File, operation: libc::c_int, deadline: &Deadline) -> io::Result<bool> {
    let _timer = match deadline.monotonic_timespec().map(WakeTimer::arm) {
        Some(Err(e)) if e.raw_os_error() == Some(libc::EAGAIN) => return try_for_flock(file, operation, deadline),
        armed => armed.transpose()?,
    };
    loop {
        match flock(file, operation) {
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

/// Without a timer (`timer_create` is refused once the user's queued
/// signals reach `RLIMIT_SIGPENDING`): tries again and again until the
/// deadline, after 1 ms, doubling up to 20 ms. A wait failed at once there
/// with `EAGAIN` (a review's find, with `ulimit -i 0`).
fn try_for_flock(file: &File, operation: libc::c_int, deadline: &Deadline) -> io::Result<bool> {
    let mut nap = Duration::from_millis(1);
    loop {
        match flock(file, operation | libc::LOCK_NB) {
            Ok(true) => return Ok(true),
            Ok(false) if deadline.expired() => return Ok(false),
            Ok(false) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
        std::thread::sleep(deadline.remaining().map_or(nap, |left| left.min(nap)));
        nap = (nap * 2).min(Duration::from_millis(20));
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
/// The handler is installed before a wait and stays: restoring the
/// previous one after each wait would race with a wait in another thread
/// (ZTS builds, test harnesses), and a real-time signal left at its default
/// action terminates the process. It is checked before each wait, and put
/// back if the script changed it since (`pcntl_signal()`): ignored, the
/// wait ran to the holder's release; at its default, it killed PHP; under
/// PHP's restarting handler, the wait ran on (a review's find). The
/// signal is unblocked for this thread for the duration of the wait only.
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
    let handler: extern "C" fn(libc::c_int) = do_nothing;
    // SAFETY: a zeroed sigaction is valid; the first call only asks, and
    // the handler the second installs is async-signal-safe.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(wake_signal(), std::ptr::null(), &mut current);
        if current.sa_sigaction == handler as usize && current.sa_flags & libc::SA_RESTART == 0 {
            return Ok(());
        }
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as usize;
        libc::sigemptyset(&mut action.sa_mask);
        check(libc::sigaction(wake_signal(), &action, std::ptr::null_mut()))
    }
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

    /// An error on the way to the directory names the directory, and where
    /// the walk stopped: it named only the step (`/tmp` for a process out
    /// of descriptors, a review saw), not the directory the lock wanted.
    #[test]
    fn a_directory_error_names_the_directory_and_the_step() {
        let missing = format!("/tmp/exakat_lock-no-such-{}/locks", std::process::id());
        let c = config(Options::new().with("dir", OptionValue::Str(missing.clone().into_bytes()))).unwrap();
        let context = Context { lock: "x".into(), backend: crate::BackendKind::Flock };
        let mut lock = Flock::new(context, c);
        let e = lock.acquire(&Deadline::start(crate::Timeout::NoWait)).unwrap_err().to_string();
        let step = missing.trim_end_matches("/locks");
        assert!(e.contains(&format!("use lock directory {missing} (at {step})")), "{e}");
    }
}
