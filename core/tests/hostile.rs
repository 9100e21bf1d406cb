//! One holder, whatever other users, administrators and time do: each test
//! here is an attack or an accident that gave two holders, a hang or a
//! wrong answer before it was closed. Tests that need to act as another
//! user do so as root (changing owners), and skip when not root.

mod support;

use std::{
    fs,
    os::unix::fs::{symlink, PermissionsExt},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use exakat_lock_core::{BackendChoice, BackendKind, Lock, LockName, LockSpec, OptionValue, Options, Settings, Timeout};
use support::{options_for, unique_name};

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

fn lock_with(kind: BackendKind, name: &str, options: &[(&str, OptionValue)]) -> exakat_lock_core::Result<Lock> {
    let mut list = Options::new();
    for (key, value) in options {
        list.push(*key, value.clone());
    }
    let name = LockName::new(name.as_bytes()).unwrap();
    LockSpec::new(name, BackendChoice::Kind(kind), &list, &Settings::default()).map(Lock::new)
}

fn text(value: &str) -> OptionValue {
    OptionValue::Str(value.as_bytes().to_vec())
}

/// A fresh directory of our own, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let path = std::env::temp_dir().join(unique_name(test));
        fs::create_dir(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn chown(path: &Path, uid: u32) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::lchown(c.as_ptr(), uid, uid) }, 0, "chown {}", path.display());
}

/// An unbounded wait on a resource this process holds must fail at once,
/// whatever the spelling: (holder's options, waiter's options).
fn assert_unbounded_wait_refused(kind: BackendKind, holder: &[(&str, OptionValue)], waiter: &[(&str, OptionValue)]) {
    let name = unique_name("spelling");
    let mut a = lock_with(kind, &name, holder).unwrap();
    assert!(a.acquire(Timeout::NoWait).unwrap());
    let mut b = lock_with(kind, &name, waiter).unwrap();
    let started = Instant::now();
    let e = b.acquire(Timeout::Forever).expect_err("waiting forever on our own lock");
    assert!(e.to_string().contains("another Lock object of this process holds it"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(a.release().unwrap());
    assert!(b.acquire(Timeout::Forever).unwrap(), "free again: the wait is allowed");
}

#[test]
fn flock_spellings_of_one_directory_are_one_lock() {
    let dir = TempDir::new("spelling");
    let plain = dir.0.to_str().unwrap().to_owned();
    for other in [
        format!("{plain}/."),
        format!("{plain}//"),
        format!("{plain}/../{}", dir.0.file_name().unwrap().to_str().unwrap()),
    ] {
        assert_unbounded_wait_refused(BackendKind::Flock, &[("dir", text(&plain))], &[("dir", text(&other))]);
    }
}

#[test]
fn tcp_addresses_that_share_a_port_are_one_lock() {
    let port = options_for(BackendKind::Tcp).remove(0).1.parse::<i64>().unwrap();
    let with = |host: &str| vec![("port", OptionValue::Int(port)), ("host", text(host))];
    assert_unbounded_wait_refused(BackendKind::Tcp, &with("127.0.0.1"), &with("0.0.0.0"));
    assert_unbounded_wait_refused(BackendKind::Tcp, &with("0.0.0.0"), &with("127.0.0.1"));
}

#[test]
fn relative_lock_paths_are_made_absolute_once() {
    let name = unique_name("relative");
    let lock = lock_with(BackendKind::Flock, &name, &[("dir", text("some/dir"))]).unwrap();
    let cwd = std::env::current_dir().unwrap();
    let expected = format!("lock file {}/some/dir/exakat_lock.", cwd.display());
    assert!(lock.spec().describe().starts_with(&expected), "{}", lock.spec().describe());
    let e = lock_with(BackendKind::Flock, &name, &[("path", text("/tmp/"))]).err().expect("a directory");
    assert!(e.to_string().contains("must name a file"), "{e}");
}

fn flock_pair(dir: &TempDir) -> (Lock, Lock, PathBuf) {
    let name = unique_name("moved");
    let options = [("dir", text(dir.0.to_str().unwrap()))];
    let a = lock_with(BackendKind::Flock, &name, &options).unwrap();
    let b = lock_with(BackendKind::Flock, &name, &options).unwrap();
    let path = PathBuf::from(a.spec().describe().strip_prefix("lock file ").unwrap());
    (a, b, path)
}

/// Starts `program` as the next process at `pid`, by `ns_last_pid` (root);
/// `None` when another process took that pid first.
fn spawn_at(pid: u32, program: &mut std::process::Command) -> Option<std::process::Child> {
    for _ in 0..20 {
        fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).ok()?;
        let mut child = program.spawn().unwrap();
        if child.id() == pid {
            return Some(child);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    None
}

/// `/proc/locks` names the process that called `flock()`: in the shell
/// idiom `exec 9>file; flock 9` that is flock(1), gone at once while the
/// shell holds the lock; its pid then comes round to anyone (here: a
/// process that merely has the file open, as a waiter has). The holder is
/// the process whose descriptor's `fdinfo` lists the lock.
#[test]
fn flock_holder_is_the_process_whose_descriptor_holds_the_lock() {
    let dir = TempDir::new("stale-pid");
    let (mut lock, mut listed, path) = flock_pair(&dir);
    let mut shell = std::process::Command::new("sh")
        .args(["-c", "exec 9>>\"$1\" && flock -x 9 && echo locked && exec sleep 30", "sh"])
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sh and util-linux flock(1)");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(shell.stdout.take().unwrap()), &mut line).unwrap();
    assert_eq!(line, "locked\n");
    // flock(1)'s pid, as /proc/locks keeps it, goes to a process that
    // only opens the file (root only: ns_last_pid).
    let recorded = fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .find(|l| {
            l.contains(&format!(":{} ", fs::metadata(&path).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).unwrap()))
        })
        .and_then(|l| l.split_whitespace().nth(4)?.parse::<u32>().ok())
        .expect("the lock in /proc/locks");
    let mut opener = is_root()
        .then(|| {
            spawn_at(
                recorded,
                std::process::Command::new("sh").args(["-c", "exec 8<\"$1\"; exec sleep 30", "sh"]).arg(&path),
            )
        })
        .flatten();
    let holder = lock.holder().unwrap();
    let dir_text = dir.0.to_str().unwrap().to_owned();
    let options = Options::new().with("dir", text(&dir_text));
    let in_list = exakat_lock_core::list(Some(BackendKind::Flock), &options, &Settings::default()).unwrap();
    let busy = !listed.acquire(Timeout::NoWait).unwrap();
    let _ = shell.kill();
    let _ = shell.wait();
    if let Some(opener) = opener.as_mut() {
        let _ = opener.kill();
        let _ = opener.wait();
    }
    assert!(busy, "the shell's sleep holds it");
    let holder = holder.expect("a holder");
    // flock(1), which /proc/locks names, is gone: the shell's descriptor
    // (now sleep's) holds the lock, as its fdinfo says.
    assert_eq!(holder.pid, Some(shell.id()), "{holder:?}");
    let pids: Vec<Option<u32>> = in_list.iter().flat_map(|l| l.holders.iter().map(|h| h.pid)).collect();
    assert_eq!(pids, [Some(shell.id())], "the listing alike");
}

#[test]
fn flock_lock_file_renamed_away_is_a_lost_lock() {
    let dir = TempDir::new("renamed");
    let (mut a, mut b, path) = flock_pair(&dir);
    assert!(a.acquire(Timeout::NoWait).unwrap());
    fs::rename(&path, path.with_extension("old")).unwrap();
    assert!(!a.is_held().unwrap(), "the path names another file now");
    assert!(b.acquire(Timeout::NoWait).unwrap());
    assert!(!a.release().unwrap());
    assert!(!a.acquire(Timeout::NoWait).unwrap(), "b holds the file at the path");
}

#[test]
fn flock_lock_file_deleted_is_a_lost_lock() {
    let dir = TempDir::new("deleted");
    let (mut a, mut b, path) = flock_pair(&dir);
    assert!(a.acquire(Timeout::NoWait).unwrap());
    assert!(a.is_held().unwrap());
    fs::write(dir.0.join("neighbour"), b"").unwrap();
    fs::remove_file(dir.0.join("neighbour")).unwrap();
    assert!(a.is_held().unwrap(), "another name's change is not ours");
    fs::remove_file(&path).unwrap();
    assert!(!a.is_held().unwrap(), "nothing is at the path any more");
    assert!(b.acquire(Timeout::NoWait).unwrap(), "a new file is made and locked");
    assert!(!a.release().unwrap());
}

/// Renames another name in `dir` back and forth until the inotify queue of
/// this process has overflowed (the events are read by nobody meanwhile).
fn overflow_the_watch_queue(dir: &TempDir) {
    let queue: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .map_or(16_384, |text| text.trim().parse().unwrap());
    let decoy = dir.0.join("decoy");
    fs::write(&decoy, b"").unwrap();
    for _ in 0..=queue / 2 {
        fs::rename(&decoy, dir.0.join("decoy2")).unwrap(); // two events each
        fs::rename(dir.0.join("decoy2"), &decoy).unwrap();
    }
}

/// The directory watch that spares the look-up loses events once its queue
/// is full: a flood of changes to other names must not hide ours.
#[test]
fn flock_lock_file_renamed_away_after_a_flood_of_changes_is_a_lost_lock() {
    let dir = TempDir::new("flood");
    let (mut a, mut b, path) = flock_pair(&dir);
    assert!(a.acquire(Timeout::NoWait).unwrap());
    assert!(a.is_held().unwrap());
    overflow_the_watch_queue(&dir);
    fs::rename(&path, path.with_extension("old")).unwrap();
    assert!(!a.is_held().unwrap(), "the rename came after the queue was full");
    assert!(b.acquire(Timeout::NoWait).unwrap());
    assert!(!a.release().unwrap());
}

/// A busy directory can overflow the watch's queue while a lock is held for
/// long: that says nothing of the lock file, which is looked up then, and
/// the lock is still held.
#[test]
fn flock_lock_held_through_a_flood_of_other_changes_is_still_held() {
    let dir = TempDir::new("flood-only");
    let (mut a, mut b, _) = flock_pair(&dir);
    assert!(a.acquire(Timeout::NoWait).unwrap());
    assert!(a.is_held().unwrap());
    overflow_the_watch_queue(&dir);
    assert!(a.is_held().unwrap(), "the queue overflowed; the file is still the one at the path");
    assert!(!b.acquire(Timeout::NoWait).unwrap());
    assert!(a.release().unwrap());
}

#[test]
fn flock_lock_file_replaced_by_a_rename_is_a_lost_lock() {
    let dir = TempDir::new("replaced");
    let (mut a, mut b, path) = flock_pair(&dir);
    assert!(a.acquire(Timeout::NoWait).unwrap());
    let other = dir.0.join("other");
    fs::write(&other, b"").unwrap();
    fs::rename(&other, &path).unwrap();
    assert!(b.acquire(Timeout::NoWait).unwrap(), "the new file is free");
    assert!(!a.is_held().unwrap());
    assert!(!a.release().unwrap());
    assert!(b.is_held().unwrap());
}

/// Renamed away and back while held: the file is at the path again, but
/// another process may have locked a new file there in between.
#[test]
fn flock_lock_file_renamed_away_and_back_is_a_lost_lock() {
    let dir = TempDir::new("away-and-back");
    let (mut a, mut b, path) = flock_pair(&dir);
    assert!(a.acquire(Timeout::NoWait).unwrap());
    let aside = path.with_extension("aside");
    fs::rename(&path, &aside).unwrap();
    assert!(b.acquire(Timeout::NoWait).unwrap(), "a new file at the path is free");
    assert!(b.release().unwrap());
    fs::rename(&aside, &path).unwrap();
    assert!(!a.is_held().unwrap(), "b held the lock meanwhile");
    assert!(!a.release().unwrap());
    assert!(a.acquire(Timeout::NoWait).unwrap(), "the file at the path can be locked again");
}

/// The lock directory itself renamed and made anew (`mv locks locks.old;
/// mkdir locks`): the path names another directory, whose lock file anyone
/// can lock; the old holder's lock is lost.
#[test]
fn flock_lock_directory_moved_while_held_is_a_lost_lock() {
    let parent = TempDir::new("dir-moved");
    let locks = parent.0.join("locks");
    fs::create_dir(&locks).unwrap();
    let name = unique_name("dir-moved");
    let options = [("dir", text(locks.to_str().unwrap()))];
    let mut a = lock_with(BackendKind::Flock, &name, &options).unwrap();
    assert!(a.acquire(Timeout::NoWait).unwrap());
    fs::rename(&locks, parent.0.join("locks.old")).unwrap();
    fs::create_dir(&locks).unwrap();
    let mut b = lock_with(BackendKind::Flock, &name, &options).unwrap();
    assert!(b.acquire(Timeout::NoWait).unwrap(), "the new directory's lock file is free");
    assert!(!a.is_held().unwrap(), "the path leads to b's file now");
    assert!(!a.release().unwrap());
    assert!(!a.acquire(Timeout::NoWait).unwrap(), "a walks the path again and finds b holding");
}

/// A deploy re-points `current` from one release to the next while an
/// object that used `current/locks` is idle: its next acquire must meet the
/// holder of the lock file the path names now, not lock the old release's.
#[test]
fn flock_link_re_pointed_between_acquires_leads_to_the_new_directory() {
    let base = TempDir::new("re-pointed");
    for release in ["rel1", "rel2"] {
        fs::create_dir_all(base.0.join(release).join("locks")).unwrap();
    }
    let current = base.0.join("current");
    symlink(base.0.join("rel1"), &current).unwrap();
    let name = unique_name("re-pointed");
    let options = [("dir", text(current.join("locks").to_str().unwrap()))];
    let mut old = lock_with(BackendKind::Flock, &name, &options).unwrap();
    assert!(old.acquire(Timeout::NoWait).unwrap());
    assert!(old.release().unwrap());
    let next = base.0.join("current.next");
    symlink(base.0.join("rel2"), &next).unwrap();
    fs::rename(&next, &current).unwrap(); // as `ln -sfn` + `mv -T` do
    let mut new = lock_with(BackendKind::Flock, &name, &options).unwrap();
    assert!(new.acquire(Timeout::NoWait).unwrap());
    assert!(!old.acquire(Timeout::NoWait).unwrap(), "the path names rel2's lock file, which is held");
    assert!(new.release().unwrap());
    assert!(old.acquire(Timeout::NoWait).unwrap());
}

/// Runs the calling test again in a mount namespace of its own (mounts
/// need one, and `unshare(2)` one thread): `true` inside it, `false` in the
/// caller, which has then checked the inner run passed (or skipped: mounting
/// needs root).
fn in_private_mounts(test: &str) -> bool {
    const INNER: &str = "EXAKAT_LOCK_TEST_PRIVATE_MOUNTS";
    if std::env::var_os(INNER).is_some() {
        return true;
    }
    if !is_root() {
        eprintln!("skipped: mounting needs root");
        return false;
    }
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--include-ignored", "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
    false
}

/// Where a step of the path cannot be watched (a ramfs here, which is not on
/// the list of file systems inotify is trusted on; NFS, or no inotify
/// instance or watch left for the user, are the same), every check walks the
/// path again: a moved lock directory is a lost lock still.
#[test]
fn flock_lock_directory_moved_where_it_cannot_be_watched_is_a_lost_lock() {
    if !in_private_mounts("flock_lock_directory_moved_where_it_cannot_be_watched_is_a_lost_lock") {
        return;
    }
    let base = TempDir::new("unwatched");
    let status = std::process::Command::new("mount").args(["-t", "ramfs", "none"]).arg(&base.0).status();
    assert!(status.unwrap().success(), "mount -t ramfs");
    let locks = base.0.join("locks");
    fs::create_dir(&locks).unwrap();
    let name = unique_name("unwatched");
    let options = [("dir", text(locks.to_str().unwrap()))];
    let mut a = lock_with(BackendKind::Flock, &name, &options).unwrap();
    assert!(a.acquire(Timeout::NoWait).unwrap());
    assert!(a.is_held().unwrap());
    fs::rename(&locks, base.0.join("locks.old")).unwrap();
    fs::create_dir(&locks).unwrap();
    let mut b = lock_with(BackendKind::Flock, &name, &options).unwrap();
    assert!(b.acquire(Timeout::NoWait).unwrap(), "the new directory's lock file is free");
    assert!(!a.is_held().unwrap(), "the path leads to b's file now");
    assert!(!a.release().unwrap());
    assert!(!a.acquire(Timeout::NoWait).unwrap(), "a walks the path again and finds b holding");
    drop((a, b));
    let _ = std::process::Command::new("umount").arg(&base.0).status();
}

/// A file system mounted over the lock directory (a `tmp.mount` started
/// after the services, a late bind mount) hides the held file: whoever
/// walks the path now locks a file in the new mount, and the first holder
/// must learn at its next check that its lock is lost. inotify reports no
/// mount (a review's find: two holders, neither told).
#[test]
fn flock_a_file_system_mounted_over_the_lock_directory_is_a_lost_lock() {
    if !in_private_mounts("flock_a_file_system_mounted_over_the_lock_directory_is_a_lost_lock") {
        return;
    }
    let base = TempDir::new("overmount");
    let name = unique_name("overmount");
    let options = [("dir", text(base.0.to_str().unwrap()))];
    let mut a = lock_with(BackendKind::Flock, &name, &options).unwrap();
    assert!(a.acquire(Timeout::NoWait).unwrap());
    assert!(a.is_held().unwrap(), "watched, and unchanged");
    let status =
        std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "mode=755", "none"]).arg(&base.0).status();
    assert!(status.unwrap().success(), "mount -t tmpfs");
    let mut b = lock_with(BackendKind::Flock, &name, &options).unwrap();
    let b_took = b.acquire(Timeout::NoWait).unwrap();
    let a_held = a.is_held().unwrap();
    drop(b); // its file keeps the mount busy
    let unmounted = std::process::Command::new("umount").arg(&base.0).status();
    assert!(unmounted.unwrap().success(), "umount");
    assert!(b_took, "the path leads to the new mount's directory, where the name is free");
    assert!(!a_held, "the first holder's lock is lost: its file is no longer at the path");
}

#[test]
fn flock_refuses_a_directory_reached_through_a_place_another_user_controls() {
    if !is_root() {
        eprintln!("skipped: needs root to make files of another user");
        return;
    }
    let dir = TempDir::new("untrusted");
    let (a, b) = (dir.0.join("a"), dir.0.join("b"));
    fs::create_dir(&a).unwrap();
    fs::create_dir(&b).unwrap();
    // A parent another user owns, holding a link they can re-point at will.
    let theirs = dir.0.join("theirs");
    fs::create_dir(&theirs).unwrap();
    symlink(&a, theirs.join("locks")).unwrap();
    chown(&theirs, NOBODY);
    let name = unique_name("untrusted");
    let mut lock =
        lock_with(BackendKind::Flock, &name, &[("dir", text(theirs.join("locks").to_str().unwrap()))]).unwrap();
    let e = lock.acquire(Timeout::NoWait).unwrap_err().to_string();
    assert!(e.contains(&format!("belongs to uid {NOBODY}")), "{e}");

    // A link of theirs in a directory of ours (a sticky one, where they
    // could have made it).
    let link = dir.0.join("their-link");
    symlink(&b, &link).unwrap();
    chown(&link, NOBODY);
    let mut lock = lock_with(BackendKind::Flock, &name, &[("dir", text(link.to_str().unwrap()))]).unwrap();
    let e = lock.acquire(Timeout::NoWait).unwrap_err().to_string();
    assert!(e.contains(&format!("symbolic link owned by uid {NOBODY}")), "{e}");

    // A link of ours, in a path of ours, is followed (Debian's /var/lock).
    let ours = dir.0.join("our-link");
    symlink(&b, &ours).unwrap();
    let mut lock = lock_with(BackendKind::Flock, &name, &[("dir", text(ours.to_str().unwrap()))]).unwrap();
    assert!(lock.acquire(Timeout::NoWait).unwrap());
    assert!(fs::read_dir(&b).unwrap().count() == 1, "the file is in the link's target");

    // A directory writable by a group, not sticky, half-way down.
    let group = dir.0.join("group");
    fs::create_dir_all(group.join("locks")).unwrap();
    fs::set_permissions(&group, fs::Permissions::from_mode(0o775)).unwrap();
    let mut lock =
        lock_with(BackendKind::Flock, &name, &[("dir", text(group.join("locks").to_str().unwrap()))]).unwrap();
    let e = lock.acquire(Timeout::NoWait).unwrap_err().to_string();
    assert!(e.contains("is writable by other users and not sticky"), "{e}");
}

#[test]
fn flock_never_opens_anything_but_a_regular_file() {
    let dir = TempDir::new("special");
    let fifo = dir.0.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for path in [fifo.to_str().unwrap(), "/dev/null"] {
        let mut lock = lock_with(BackendKind::Flock, &unique_name("special"), &[("path", text(path))]).unwrap();
        let e = lock.acquire(Timeout::NoWait).unwrap_err().to_string();
        assert!(e.contains("it is not a regular file"), "{path}: {e}");
    }
}

fn semaphore(key: i32) -> Lock {
    lock_with(BackendKind::Semaphore, &unique_name("sem"), &[("key", OptionValue::Int(i64::from(key)))]).unwrap()
}

fn fresh_key(salt: i32) -> i32 {
    0x4d00_0000 | ((std::process::id() as i32 & 0xffff) << 8) | salt
}

fn set_id(key: i32) -> i32 {
    unsafe { libc::semget(key, 1, 0) }
}

fn remove_set(key: i32) {
    let id = set_id(key);
    if id >= 0 {
        unsafe { libc::semctl(id, 0, libc::IPC_RMID) };
    }
}

#[test]
fn semaphore_sets_that_another_user_could_reset_are_refused() {
    let key = fresh_key(1);
    let id = unsafe { libc::semget(key, 1, libc::IPC_CREAT | 0o666) };
    assert!(id >= 0);
    let e = semaphore(key).acquire(Timeout::NoWait).unwrap_err().to_string();
    assert!(e.contains("the set's mode is 666: other users may change it"), "{e}");
    if is_root() {
        let mut info: libc::semid_ds = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::semctl(id, 0, libc::IPC_STAT, &mut info as *mut libc::semid_ds) }, 0);
        info.sem_perm.uid = NOBODY;
        info.sem_perm.mode = 0o600;
        assert_eq!(unsafe { libc::semctl(id, 0, libc::IPC_SET, &mut info as *mut libc::semid_ds) }, 0);
        let e = semaphore(key).acquire(Timeout::NoWait).unwrap_err().to_string();
        assert!(e.contains(&format!("the set belongs to uid {NOBODY}")), "{e}");
        let e = semaphore(key).holder().unwrap_err().to_string();
        assert!(e.contains(&format!("the set belongs to uid {NOBODY}")), "{e}");
    }
    remove_set(key);
}

/// Makes a set with `key` that gets the id `id` (root may choose the next
/// id; an attacker gets it by making sets until the id comes round).
fn make_set_at(id: i32, key: i32) -> bool {
    for _ in 0..20 {
        if std::fs::write("/proc/sys/kernel/sem_next_id", id.to_string()).is_err() {
            return false;
        }
        let made = unsafe { libc::semget(key, 4, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) };
        if made == id {
            return true;
        }
        if made >= 0 {
            unsafe { libc::semctl(made, 0, libc::IPC_RMID) }; // another test made a set first
        }
    }
    false
}

/// The id an object remembers can come back as another set after a
/// removal, even one with our key that another user owns: the object
/// looks at the set behind the id at every acquire more than 10 ms after
/// its last look, and refuses this one. (Sooner, no id comes round but by
/// root's `sem_next_id`: see `ID_REUSE_FLOOR`.)
#[test]
fn semaphore_id_that_comes_back_as_another_users_set_is_refused() {
    if !is_root() {
        eprintln!("skipped: choosing a set's id needs root");
        return;
    }
    let key = fresh_key(4);
    let mut a = semaphore(key);
    assert!(a.acquire(Timeout::NoWait).unwrap());
    assert!(a.release().unwrap());
    std::thread::sleep(Duration::from_millis(20));
    let id = set_id(key);
    remove_set(key);
    assert!(make_set_at(id, key), "could not make a set at id {id}");
    let mut info: libc::semid_ds = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::semctl(id, 0, libc::IPC_STAT, &mut info as *mut libc::semid_ds) }, 0);
    info.sem_perm.uid = NOBODY;
    assert_eq!(unsafe { libc::semctl(id, 0, libc::IPC_SET, &mut info as *mut libc::semid_ds) }, 0);
    let e = a.acquire(Timeout::NoWait).unwrap_err().to_string();
    assert!(e.contains(&format!("the set belongs to uid {NOBODY}")), "{e}");
    remove_set(key);
    // And as another key's set, it is simply not ours: the key is looked up again.
    assert!(make_set_at(id, fresh_key(5)));
    assert!(a.acquire(Timeout::NoWait).unwrap());
    assert_ne!(set_id(key), id);
    assert!(a.release().unwrap());
    remove_set(fresh_key(5));
    drop(a);
    remove_set(key);
}

/// A process frozen between the check of its set and its take (SIGSTOP, a
/// paused container; here strace(1) holds the take's system call for two
/// seconds) while its set is removed and the id given to another lock's
/// set: the take lands in that set. It must be given back, and the key
/// looked up again; before, the process held the other lock until it
/// ended, beside that lock's own holder.
#[test]
fn semaphore_take_that_lands_in_another_locks_set_is_given_back() {
    use std::process::{Command, Stdio};
    if !is_root() || Command::new("strace").arg("-V").stdout(Stdio::null()).status().is_err() {
        eprintln!("skipped: needs root (to choose a set's id) and strace(1)");
        return;
    }
    let (key, other_key) = (fresh_key(9), fresh_key(10));
    let started = Instant::now();
    let mut frozen = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=semtimedop"])
        .args(["-e", "inject=semtimedop:delay_enter=2000000:when=1", env!("CARGO_BIN_EXE_exakat-lock")])
        .args(["-b", "semaphore", "-o", &format!("key={key}"), "-n", "frozen", "sleep", "4"])
        .spawn()
        .unwrap();
    let id = loop {
        let id = set_id(key);
        if id >= 0 {
            break id;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "the command made no set");
        std::thread::sleep(Duration::from_millis(1));
    };
    // Its set is made and checked within microseconds; the take then waits.
    std::thread::sleep(Duration::from_millis(200));
    remove_set(key);
    assert!(make_set_at(id, other_key), "could not make a set at id {id}");
    std::thread::sleep((started + Duration::from_millis(2800)).saturating_duration_since(Instant::now()));
    let values: Vec<i32> = (0..4).map(|n| unsafe { libc::semctl(id, n, libc::GETVAL) }).collect();
    let own = set_id(key);
    assert!(frozen.wait().unwrap().success());
    remove_set(other_key);
    remove_set(key);
    assert_eq!(values, [0, 0, 0, 0], "the frozen process holds the other lock's set");
    assert!(own >= 0 && own != id, "it took its own lock, in a new set");
}

/// `holder()` makes no `semop` that would fail on a removed id: it looks at
/// the set behind its id every time, even one it checked a moment ago.
#[test]
fn semaphore_holder_of_a_set_made_again_a_moment_ago_names_its_holder() {
    let key = fresh_key(8);
    let mut a = semaphore(key);
    assert!(a.acquire(Timeout::NoWait).unwrap());
    assert!(a.release().unwrap());
    {
        let mut b = semaphore(key);
        assert!(b.acquire(Timeout::NoWait).unwrap());
        assert!(b.release().unwrap());
    } // the last user of the set removes it
    let mut c = semaphore(key);
    assert!(c.acquire(Timeout::NoWait).unwrap());
    assert_ne!(set_id(key), -1);
    assert!(a.holder().unwrap().is_some(), "c holds the lock, in a new set");
    assert_eq!(a.holders().unwrap().len(), 1);
    assert!(c.release().unwrap());
}

#[test]
fn semaphore_set_removed_under_its_holder_is_a_lost_lock() {
    let key = fresh_key(2);
    let (mut a, mut b) = (semaphore(key), semaphore(key));
    assert!(a.acquire(Timeout::NoWait).unwrap());
    remove_set(key); // ipcrm -s
    assert!(!a.is_held().unwrap(), "the kernel no longer has our semaphore");
    assert!(b.acquire(Timeout::NoWait).unwrap());
    assert!(!a.release().unwrap());
    assert!(b.is_held().unwrap());
    assert!(b.release().unwrap());
}

#[test]
fn semaphore_reset_under_its_holder_is_a_lost_lock_and_release_takes_nothing() {
    let key = fresh_key(3);
    let (mut a, mut b) = (semaphore(key), semaphore(key));
    assert!(a.acquire(Timeout::NoWait).unwrap());
    assert_eq!(unsafe { libc::semctl(set_id(key), 0, libc::SETVAL, 0) }, 0);
    assert!(b.acquire(Timeout::NoWait).unwrap());
    assert!(!a.is_held().unwrap());
    assert!(!a.release().unwrap(), "giving back would take b's hold");
    assert_eq!(unsafe { libc::semctl(set_id(key), 0, libc::GETVAL) }, 1, "b still holds");
    assert!(!a.acquire(Timeout::NoWait).unwrap());
    assert!(b.release().unwrap());
    // The reset left `a`'s count of waiting writers in the set until this
    // process ends, so no object can see the set unused and remove it.
    drop((a, b));
    remove_set(key);
}

#[test]
fn socket_holder_queries_leave_the_holders_queue_empty() {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    use std::os::fd::AsRawFd;
    let name = unique_name("queue");
    let mut holder = lock_with(BackendKind::Socket, &name, &[]).unwrap();
    let mut asker = lock_with(BackendKind::Socket, &name, &[]).unwrap();
    assert!(holder.acquire(Timeout::NoWait).unwrap());
    let backlog: usize = fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap().trim().parse().unwrap();
    for _ in 0..=backlog {
        assert_eq!(asker.holder().unwrap().and_then(|h| h.pid), Some(std::process::id()));
    }
    // A waiter can still queue: the queue has room.
    let address = format!("exakat_lock/{name}");
    let waiter =
        socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None).unwrap();
    connect(waiter.as_raw_fd(), &UnixAddr::new_abstract(address.as_bytes()).unwrap()).expect("room in the queue");
    drop(waiter);
    assert!(holder.release().unwrap());
}

#[test]
fn socket_waiter_facing_a_full_queue_still_wakes_at_the_release() {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    use std::os::fd::AsRawFd;
    let name = unique_name("full");
    let mut holder = lock_with(BackendKind::Socket, &name, &[]).unwrap();
    assert!(holder.acquire(Timeout::NoWait).unwrap());
    // Waiters that gave up: their connections stay queued until accepted.
    let address = UnixAddr::new_abstract(format!("exakat_lock/{name}").as_bytes()).unwrap();
    let mut dead = 0;
    loop {
        let s = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)
            .unwrap();
        if connect(s.as_raw_fd(), &address).is_err() {
            break;
        }
        dead += 1;
    }
    assert!(dead > 100, "{dead}");
    let waiter = std::thread::spawn(move || {
        let mut waiter = lock_with(BackendKind::Socket, &name, &[]).unwrap();
        let started = support::thread_cpu();
        let taken = waiter.acquire(Timeout::For(Duration::from_secs(5))).unwrap();
        (taken, Instant::now(), support::thread_cpu() - started, waiter)
    });
    std::thread::sleep(Duration::from_millis(500));
    let released = Instant::now();
    assert!(holder.release().unwrap());
    let (taken, at, cpu, _waiter) = waiter.join().unwrap();
    assert!(taken);
    // Woken by the release, not by its blocking connect's one-second cap:
    // the release first clears the connections left by the waiters that gave
    // up (4,096 took 30-160 ms here, in a debug build among other tests).
    let prompt = Duration::from_millis(500);
    assert!(at >= released, "taken before the holder let go");
    assert!(at.duration_since(released) < prompt, "{:?} for {dead} given-up connections", at.duration_since(released));
    assert!(cpu < Duration::from_millis(5), "waiting on a full queue must not spin: {cpu:?}");
}
