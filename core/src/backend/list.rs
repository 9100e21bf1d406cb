//! Seeing the locks held on this host (`exakat_lock_list()`, `exakat-lock
//! list`), from what the kernel reports and nobody can forge: `sock_diag`
//! (names as counted bytes, never `/proc/net/unix`'s raw text),
//! `/proc/sysvipc/sem` and `/proc/locks` (numbers only), and the entries
//! of the lock directory. Only what this process may see is listed: other
//! users' processes are unnamed without root, and a lock in another
//! namespace or another directory is not on this list.

use std::{fs, os::unix::ffi::OsStrExt, path::Path};

use super::{flock, proc_scan, semaphore, tcp, BackendKind, Context, Holder, HolderValue};
use crate::{error::Result, name, options::Options, LockName, Settings};

/// A lock that has holders.
#[derive(Clone, Debug)]
pub struct Listed {
    /// `None` where only a hashed form of the name is known.
    pub name: Option<LockName>,
    pub backend: BackendKind,
    /// The OS resource, as `var_dump()` and messages show it.
    pub resource: String,
    pub holders: Vec<Holder>,
}

/// The locks held on this host on `backend` (every local backend when
/// `None`), as far as this process can see. `options` gives `dir` for
/// `flock` (else `exakat_lock.dir`, else the temporary directory).
///
/// `None` asks the mysql server too when `options` gives a `dsn` or
/// `dsn_file`.
///
/// # Errors
///
/// Bad options; a `dir` given that cannot be read; a server that cannot be
/// asked; a local source that fails (no descriptor left, say: a listing of
/// nothing would read as "nothing held"). A source that is not there lists
/// nothing: the default directory before any lock made it, a kernel without
/// `sock_diag` or System V IPC.
pub fn list(backend: Option<BackendKind>, options: &Options, settings: &Settings) -> Result<Vec<Listed>> {
    options.check_keys_among(&["dir", "dsn", "dsn_file", "connect_timeout"], "listing locks")?;
    let kinds: Vec<BackendKind> = match backend {
        Some(kind) => vec![kind],
        // A DSN given is a server to ask too: ignored, a malformed one went
        // unnoticed (a review's find).
        None if options.contains("dsn") || options.contains("dsn_file") => {
            let mut kinds = super::usable_local_backends().to_vec();
            kinds.push(BackendKind::Mysql);
            kinds
        }
        None => super::usable_local_backends().to_vec(),
    };
    proc_scan::with_one_scan(|| list_kinds(&kinds, options, settings))
}

fn list_kinds(kinds: &[BackendKind], options: &Options, settings: &Settings) -> Result<Vec<Listed>> {
    let mut found = Vec::new();
    for &kind in kinds {
        match kind {
            BackendKind::Socket => found.extend(sockets().map_err(|e| cannot_list(kind, "the unix sockets", e))?),
            BackendKind::Tcp => found.extend(tcp_ports().map_err(|e| cannot_list(kind, "the tcp listeners", e))?),
            BackendKind::Semaphore => {
                found.extend(semaphore_sets().map_err(|e| cannot_list(kind, "the semaphore sets", e))?);
            }
            BackendKind::Flock => {
                match options.bytes("dir")? {
                    Some(dir) => {
                        // One given must be read: a mistyped one listed no locks.
                        let dir = flock::non_empty_path("dir", dir)?;
                        let listed = fs::read_dir(&dir).and_then(|entries| lock_files(&dir, entries)).map_err(|e| {
                            let context = Context { lock: format!("(every lock in {})", dir.display()), backend: kind };
                            context.os(format!("list the lock files in {}", dir.display()), e)
                        })?;
                        found.extend(listed);
                    }
                    // The default one may not be made yet: no lock files.
                    None => {
                        let dir = flock::default_dir(settings)?;
                        let listed = missing_as_none(fs::read_dir(&dir))
                            .and_then(|entries| entries.map(|entries| lock_files(&dir, entries)).transpose())
                            .map_err(|e| cannot_list(kind, &format!("the lock files in {}", dir.display()), e))?;
                        found.extend(listed.unwrap_or_default());
                    }
                }
            }
            #[cfg(feature = "mysql")]
            BackendKind::Mysql => found.extend(super::mysql::list(options, settings)?),
            #[cfg(not(feature = "mysql"))]
            BackendKind::Mysql => {}
        }
    }
    Ok(found)
}

fn cannot_list(kind: BackendKind, what: &str, error: std::io::Error) -> crate::Error {
    Context { lock: "(every lock)".into(), backend: kind }.os(format!("list {what}"), error)
}

/// `None` for a source that is not there (a directory not made yet, a
/// kernel without `sock_diag` or System V IPC); other errors stay errors.
fn missing_as_none<T>(read: std::io::Result<T>) -> std::io::Result<Option<T>> {
    match read {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Splits `<base>#<slot>` into the base and the slot; `None` for the gates
/// and bells of slot groups, which are not locks, and for what no lock
/// names (`#0`, `#01`, `#+1`: slot 0 is the base itself).
fn slot_suffix(address: &[u8]) -> Option<(&[u8], Option<u16>)> {
    match address.iter().rposition(|&b| b == b'#') {
        None => Some((address, None)),
        Some(at) => Some((&address[..at], Some(slot_number(&address[at + 1..])?))),
    }
}

/// A slot number as our resource names spell it: 1 to `MAX_SLOTS` - 1, in
/// decimal, nothing more.
pub(crate) fn slot_number(text: &[u8]) -> Option<u16> {
    let slot: u16 = std::str::from_utf8(text).ok()?.parse().ok()?;
    ((1..super::MAX_SLOTS).contains(&slot) && slot.to_string().as_bytes() == text).then_some(slot)
}

/// Adds a holder to the entry for `resource`, making the entry if needed.
fn add(found: &mut Vec<Listed>, entry: Listed) {
    match found.iter_mut().find(|l| l.backend == entry.backend && l.resource == entry.resource) {
        Some(listed) => listed.holders.extend(entry.holders),
        None => found.push(entry),
    }
}

fn sockets() -> std::io::Result<Vec<Listed>> {
    const PREFIX: &[u8] = b"exakat_lock/";
    let mut found = Vec::new();
    for (socket, address) in missing_as_none(proc_scan::abstract_listeners(PREFIX))?.unwrap_or_default() {
        let slug = &address[PREFIX.len()..];
        // tcp's waiters, gates and bells live under the same prefix.
        if slug.contains(&b'/') {
            continue;
        }
        let Some((base, slot)) = slot_suffix(slug) else { continue };
        if !name::is_slug(base) {
            continue;
        }
        let shown = format!("@{}", String::from_utf8_lossy(&address));
        let mut holder = Holder::local(
            proc_scan::sole_pid_with_socket(socket.inode),
            None,
            vec![("address", HolderValue::Str(shown))],
        );
        holder.slot = Some(slot.unwrap_or(0));
        let resource = format!("abstract socket @exakat_lock/{}", String::from_utf8_lossy(base));
        add(
            &mut found,
            Listed {
                name: LockName::from_plain_slug(base),
                backend: BackendKind::Socket,
                resource,
                holders: vec![holder],
            },
        );
    }
    Ok(found)
}

/// A held tcp lock listens with our backlog (see `tcp::LISTEN_BACKLOG`);
/// any other listener on a port could be anyone's server.
fn tcp_ports() -> std::io::Result<Vec<Listed>> {
    let mut found = Vec::new();
    let ours = u32::try_from(tcp::LISTEN_BACKLOG).unwrap_or(0);
    for listener in missing_as_none(proc_scan::tcp_listeners())?.unwrap_or_default() {
        if listener.backlog != ours {
            continue;
        }
        let address = listener.address;
        let holder = Holder::local(
            proc_scan::sole_pid_with_socket(listener.inode),
            None,
            vec![
                ("address", HolderValue::Str(address.ip().to_string())),
                ("port", HolderValue::Int(i64::from(address.port()))),
            ],
        );
        let resource = format!("tcp port {address}");
        add(&mut found, Listed { name: None, backend: BackendKind::Tcp, resource, holders: vec![holder] });
    }
    Ok(found)
}

/// Sets of our layouts (4 semaphores, or N + 4) with holders; the name is
/// only known as its key.
fn semaphore_sets() -> std::io::Result<Vec<Listed>> {
    let Some(table) = missing_as_none(fs::read_to_string("/proc/sysvipc/sem"))? else { return Ok(Vec::new()) };
    let mut found = Vec::new();
    for line in table.lines().skip(1) {
        // "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime"
        let fields: Vec<i64> = line.split_whitespace().filter_map(|f| f.parse().ok()).collect();
        let [key, _, _, semaphores, ..] = fields[..] else { continue };
        let Some(config) = semaphore::Config::for_set(key, semaphores) else { continue };
        let resource = config.describe();
        let context = Context { lock: resource.clone(), backend: BackendKind::Semaphore };
        let mut set = semaphore::Semaphore::new(context, config);
        // Sets of untrusted owners are refused: they could say anything.
        let Ok(mut holders) = super::Backend::holders(&mut set) else { continue };
        for holder in &mut holders {
            holder.slot.get_or_insert(0);
        }
        if !holders.is_empty() {
            found.push(Listed { name: None, backend: BackendKind::Semaphore, resource, holders });
        }
    }
    Ok(found)
}

/// Lock files of the directory (`exakat_lock.<slug>.lock`, and `.<k>` for
/// slot k) that `/proc/locks` says are locked.
fn lock_files(dir: &Path, entries: fs::ReadDir) -> std::io::Result<Vec<Listed>> {
    let locks = proc_scan::all_flocks()?;
    let mut found = Vec::new();
    for entry in entries.filter_map(std::result::Result::ok) {
        let file_name = entry.file_name();
        let Some(rest) = file_name.as_bytes().strip_prefix(b"exakat_lock.") else { continue };
        let Some(at) = rest.windows(5).rposition(|w| w == b".lock") else { continue };
        let (slug, suffix) = (&rest[..at], &rest[at + 5..]);
        if !name::is_slug(slug) {
            continue;
        }
        let slot = match suffix {
            b"" => 0,
            _ => match suffix.strip_prefix(b".").and_then(slot_number) {
                Some(slot) => slot,
                None => continue, // a gate, or not ours
            },
        };
        // lstat: a symbolic link planted here is nobody's lock file.
        let Ok(stat) = nix::sys::stat::lstat(&entry.path()) else { continue };
        if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
            continue;
        }
        let file = (u64::from(libc::major(stat.st_dev)), u64::from(libc::minor(stat.st_dev)), stat.st_ino);
        let path = entry.path().display().to_string();
        let holders: Vec<Holder> = locks
            .get(&file)
            .into_iter()
            .flatten()
            .map(|lock| {
                let mut holder = lock.holder(stat.st_dev, stat.st_ino, path.clone());
                holder.slot = Some(slot);
                holder
            })
            .collect();
        if holders.is_empty() {
            continue;
        }
        let base = dir.join(format!("exakat_lock.{}.lock", String::from_utf8_lossy(slug)));
        let resource = format!("lock file {}", base.display());
        add(
            &mut found,
            Listed { name: LockName::from_plain_slug(slug), backend: BackendKind::Flock, resource, holders },
        );
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_suffixes() {
        assert_eq!(slot_suffix(b"job#3"), Some((&b"job"[..], Some(3))));
        assert_eq!(slot_suffix(b"job"), Some((&b"job"[..], None)));
        assert_eq!(slot_suffix(b"job#gate"), None);
        assert_eq!(slot_suffix(b"job#bell"), None);
        for not_ours in [&b"job#0"[..], b"job#01", b"job#+1", b"job#1024", b"job#65535", b"job# 1"] {
            assert_eq!(slot_suffix(not_ours), None, "{}", String::from_utf8_lossy(not_ours));
        }
        assert_eq!(slot_suffix(b"job#1023"), Some((&b"job"[..], Some(1023))));
    }
}
