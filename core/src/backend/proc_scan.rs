//! What the kernel tells about who holds a socket or a file lock: `/proc`
//! where its format cannot be forged, `sock_diag` netlink where it can.
//! Only `holder()` asks, never the lock paths themselves.

use std::{
    cell::RefCell,
    collections::{HashMap, HashSet},
    fs,
    net::{IpAddr, SocketAddr},
    sync::OnceLock,
};

use super::{Holder, HolderValue};

/// This machine's host name, as `holder()` reports it for local backends.
pub(crate) fn hostname() -> Option<String> {
    static HOSTNAME: OnceLock<Option<String>> = OnceLock::new();
    HOSTNAME.get_or_init(|| nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok())).clone()
}

/// The host name of process `pid`, as far as we can tell: ours when it
/// shares our UTS namespace (a container with its own host name does not).
pub(crate) fn host_of(pid: u32) -> Option<String> {
    let ours = fs::read_link("/proc/self/ns/uts").ok()?;
    (fs::read_link(format!("/proc/{pid}/ns/uts")).ok()? == ours).then(hostname).flatten()
}

/// What `/proc` showed of the processes' descriptors, kept while
/// [`with_one_scan`] runs.
#[derive(Default)]
struct Scan {
    /// Socket inode → the processes with a descriptor on it.
    sockets: Option<HashMap<u64, Vec<u32>>>,
    /// Pid → its descriptors and the files `(st_dev, st_ino)` they name.
    files: HashMap<u32, Vec<(String, u64, u64)>>,
}

thread_local! {
    static SCAN: RefCell<Option<Scan>> = const { RefCell::new(None) };
}

/// Whether `pid` cannot run until someone lets it: stopped (`T`: SIGSTOP,
/// Ctrl-Z), stopped by a tracer (`t`), or in a frozen cgroup (`docker
/// pause`, whose processes show as sleeping).
pub(crate) fn is_stopped(pid: u32) -> bool {
    let state_stopped = std::fs::read(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the command name, which may hold ") " itself.
        let after_name = stat.windows(2).rposition(|w| w == b") ").map(|at| &stat[at + 2..]);
        matches!(after_name.and_then(|rest| rest.first()), Some(b'T' | b't'))
    });
    state_stopped || in_frozen_cgroup(pid)
}

/// cgroup v2: the process's group (as our cgroup namespace names it, which
/// is where `/sys/fs/cgroup` is mounted from) says `frozen 1`.
fn in_frozen_cgroup(pid: u32) -> bool {
    let Ok(groups) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else { return false };
    let Some(path) = groups.lines().find_map(|line| line.strip_prefix("0::")) else { return false };
    if path.contains("/../") || path.ends_with("/..") {
        return false; // outside our cgroup namespace: not under our mount
    }
    std::fs::read_to_string(format!("/sys/fs/cgroup{path}/cgroup.events"))
        .is_ok_and(|events| events.lines().any(|line| line == "frozen 1"))
}

/// Runs `look` with one pass over `/proc` serving all its look-ups: a
/// listing or a group of slots asks about many sockets and files, and
/// another user who opens thousands of them would otherwise make each
/// look-up walk every descriptor again.
pub(crate) fn with_one_scan<R>(look: impl FnOnce() -> R) -> R {
    struct Ends;
    impl Drop for Ends {
        fn drop(&mut self) {
            SCAN.with_borrow_mut(|scan| *scan = None);
        }
    }
    let outermost = SCAN.with_borrow_mut(|scan| scan.is_none().then(|| *scan = Some(Scan::default())).is_some());
    let _ends = outermost.then_some(Ends);
    look()
}

fn process_ids() -> Vec<u32> {
    let Ok(processes) = fs::read_dir("/proc") else { return Vec::new() };
    processes.filter_map(Result::ok).filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok()).collect()
}

/// The processes with a descriptor open on socket `inode`. Processes of other
/// users are invisible unless we are root; an empty result means "unknown".
pub(crate) fn pids_with_socket(inode: u64) -> Vec<u32> {
    let scanned = SCAN.with_borrow_mut(|scan| {
        let scan = scan.as_mut()?;
        let owners = scan.sockets.get_or_insert_with(socket_owners);
        Some(owners.get(&inode).cloned().unwrap_or_default())
    });
    let mut pids =
        scanned.unwrap_or_else(|| process_ids().into_iter().filter(|&pid| process_has_socket(pid, inode)).collect());
    pids.sort_unstable();
    pids
}

/// Every socket descriptor of every process we may see, by inode.
fn socket_owners() -> HashMap<u64, Vec<u32>> {
    let mut owners: HashMap<u64, Vec<u32>> = HashMap::new();
    for pid in process_ids() {
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        let mut seen = HashSet::new();
        for fd in fds.filter_map(Result::ok) {
            let Ok(link) = fs::read_link(fd.path()) else { continue };
            let inode = link.to_str().and_then(|l| l.strip_prefix("socket:[")?.strip_suffix(']')?.parse::<u64>().ok());
            if let Some(inode) = inode.filter(|&inode| seen.insert(inode)) {
                owners.entry(inode).or_default().push(pid);
            }
        }
    }
    owners
}

/// The pid `/proc/locks` gives for a `flock()` lock on the file `(dev, ino)`
/// (`st_dev`, `st_ino`), if that process holds it now; else, for an
/// exclusive lock, the one process that does. `/proc/locks` keeps the pid
/// of whoever called `flock()`, which may have handed the descriptor on
/// (the shell idiom `exec 9>file; flock 9`: flock(1) takes it for the
/// shell and ends) or ended, its pid then free for anyone, even for a
/// process that only has the file open. A descriptor's `fdinfo` lists the
/// locks held through it: that is what holding means here. `None` where
/// `/proc` does not let us look (other users' processes, unless root).
fn flock_holder(recorded: Option<u32>, dev: u64, ino: u64, shared: bool) -> Option<u32> {
    if recorded.is_some_and(|pid| holds_flock(pid, dev, ino)) {
        return recorded;
    }
    if shared {
        return None; // several may hold it: none named rather than the wrong one
    }
    let holders: Vec<u32> = process_ids().into_iter().filter(|&pid| holds_flock(pid, dev, ino)).collect();
    match holders.as_slice() {
        [pid] => Some(*pid),
        _ => None,
    }
}

/// Whether a descriptor of `pid` on the file `(dev, ino)` holds a `flock()`
/// lock (its `fdinfo` has a `lock:` line).
fn holds_flock(pid: u32, dev: u64, ino: u64) -> bool {
    let descriptors = || -> Vec<(String, u64, u64)> {
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
        fds.filter_map(Result::ok)
            .filter_map(|fd| {
                let stat = nix::sys::stat::stat(&fd.path()).ok()?;
                Some((fd.file_name().to_string_lossy().into_owned(), stat.st_dev, stat.st_ino))
            })
            .collect()
    };
    let on_the_file = |open: &[(String, u64, u64)]| -> Vec<String> {
        open.iter().filter(|(_, d, i)| (*d, *i) == (dev, ino)).map(|(fd, _, _)| fd.clone()).collect()
    };
    let fds = SCAN
        .with_borrow_mut(|scan| {
            scan.as_mut().map(|scan| on_the_file(scan.files.entry(pid).or_insert_with(descriptors)))
        })
        .unwrap_or_else(|| on_the_file(&descriptors()));
    fds.iter().any(|fd| {
        fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
            .is_ok_and(|info| info.lines().any(|line| line.starts_with("lock:") && line.contains(" FLOCK ")))
    })
}

/// The one process with a descriptor open on socket `inode`; `None` when
/// there is none or several (after a fork, before the child closed its copy).
pub(crate) fn sole_pid_with_socket(inode: u64) -> Option<u32> {
    match pids_with_socket(inode).as_slice() {
        [pid] => Some(*pid),
        _ => None,
    }
}

/// A process with a descriptor open on socket `inode`: `hint` if it has
/// one (no walk of `/proc`), else the one process found by
/// [`sole_pid_with_socket`].
pub(crate) fn pid_with_socket_from(inode: u64, hint: Option<u32>) -> Option<u32> {
    hint.filter(|&pid| process_has_socket(pid, inode)).or_else(|| sole_pid_with_socket(inode))
}

/// Whether process `pid` has a descriptor open on socket `inode`.
fn process_has_socket(pid: u32, inode: u64) -> bool {
    let target = format!("socket:[{inode}]");
    fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
        fds.filter_map(Result::ok)
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|link| link.as_os_str() == target.as_str()))
    })
}

/// A unix socket bound to an abstract address, as the kernel reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BoundSocket {
    pub inode: u64,
    pub listening: bool,
    /// Who created the socket (kernels from 5.3 on say).
    pub uid: Option<u32>,
}

/// The socket bound to abstract address `name` (without its leading NUL),
/// listening or merely bound, asked of the kernel through `sock_diag`
/// netlink. `Err` when the kernel does not offer it (no `unix_diag`).
///
/// Never `/proc/net/unix`: it prints socket names raw, so a name with a
/// newline in it can forge whole lines, naming any inode as the holder.
pub(crate) fn abstract_socket(name: &[u8]) -> std::io::Result<Option<BoundSocket>> {
    let mut wanted = Vec::with_capacity(name.len() + 1);
    wanted.push(0);
    wanted.extend_from_slice(name);
    let mut found = None;
    unix_diag_dump(|socket, socket_name| {
        if found.is_none() && socket_name == wanted.as_slice() {
            found = Some(socket);
        }
    })?;
    Ok(found)
}

/// Every listening socket bound to an abstract address starting with
/// `prefix`, with its address (without the leading NUL).
pub(crate) fn abstract_listeners(prefix: &[u8]) -> std::io::Result<Vec<(BoundSocket, Vec<u8>)>> {
    let mut found = Vec::new();
    unix_diag_dump(|socket, name| {
        if let Some(address) = name.strip_prefix(&[0u8][..]).filter(|a| a.starts_with(prefix)) {
            if socket.listening {
                found.push((socket, address.to_vec()));
            }
        }
    })?;
    Ok(found)
}

/// Every granted `FLOCK` lock, by file `(major, minor, inode)`.
pub(crate) fn all_flocks() -> std::io::Result<HashMap<(u64, u64, u64), Vec<FileLock>>> {
    let mut locks: HashMap<(u64, u64, u64), Vec<FileLock>> = HashMap::new();
    for (file, lock) in parse_flocks(&fs::read_to_string("/proc/locks")?) {
        locks.entry(file).or_default().push(lock);
    }
    Ok(locks)
}

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const UDIAG_SHOW_NAME: u32 = 0x01;
const UDIAG_SHOW_UID: u32 = 0x40;
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_UID: u16 = 7;
/// Socket states as `sock_diag` numbers them (those of TCP).
const STATE_LISTEN: u8 = 10;
const STATE_CLOSE: u8 = 7;

/// Lists the unix sockets that are listening or bound without a peer (an
/// accepted or queued connection also carries its listener's name), with
/// their names, to `each`.
fn unix_diag_dump(mut each: impl FnMut(BoundSocket, &[u8])) -> std::io::Result<()> {
    // unix_diag_req: family, protocol, pad, states, inode, show, cookie.
    let mut request = Vec::with_capacity(24);
    request.push(libc::AF_UNIX as u8);
    request.push(0);
    request.extend_from_slice(&0u16.to_ne_bytes());
    let states = (1u32 << STATE_LISTEN) | (1u32 << STATE_CLOSE);
    request.extend_from_slice(&states.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes()); // any inode
    request.extend_from_slice(&(UDIAG_SHOW_NAME | UDIAG_SHOW_UID).to_ne_bytes());
    request.extend_from_slice(&[0xff; 8]); // no cookie
    sock_diag_dump(&request, |payload| {
        if let Some((socket, name)) = parse_unix_diag(payload) {
            each(socket, name);
        }
    })
}

/// A listening TCP socket, as `sock_diag` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TcpListener {
    pub address: SocketAddr,
    pub inode: u64,
    /// The backlog it listens with (as capped by `net.core.somaxconn`).
    pub backlog: u32,
    /// Connections waiting in its accept queue.
    pub queued: u32,
}

/// Every listening TCP socket of this network namespace, IPv4 and IPv6.
/// `Err` when the kernel does not offer `inet_diag`.
pub(crate) fn tcp_listeners() -> std::io::Result<Vec<TcpListener>> {
    let mut found = Vec::new();
    for family in [libc::AF_INET, libc::AF_INET6] {
        // inet_diag_req_v2: family, protocol, extensions, pad, states, then
        // an inet_diag_sockid that a dump without a filter ignores.
        let mut request = Vec::with_capacity(56);
        request.extend_from_slice(&[family as u8, libc::IPPROTO_TCP as u8, 0, 0]);
        request.extend_from_slice(&(1u32 << STATE_LISTEN).to_ne_bytes());
        request.extend_from_slice(&[0; 48]);
        let dumped = sock_diag_dump(&request, |payload| found.extend(parse_inet_diag(payload)));
        // A kernel without IPv6 still lists the IPv4 listeners found.
        if dumped.is_err() && family == libc::AF_INET {
            dumped?;
        }
    }
    Ok(found)
}

/// One `inet_diag_msg`: family, state, timer, retransmits, then the socket
/// id (ports and addresses in network order), expires, the queues, uid and
/// inode. A listener's read queue is its accept queue, its write queue its
/// backlog.
fn parse_inet_diag(payload: &[u8]) -> Option<TcpListener> {
    if payload.len() < 72 || payload[1] != STATE_LISTEN {
        return None;
    }
    let port = u16::from_be_bytes([payload[4], payload[5]]);
    let ip = match i32::from(payload[0]) {
        libc::AF_INET => IpAddr::from(<[u8; 4]>::try_from(&payload[8..12]).ok()?),
        libc::AF_INET6 => IpAddr::from(<[u8; 16]>::try_from(&payload[8..24]).ok()?),
        _ => return None,
    };
    Some(TcpListener {
        address: SocketAddr::new(ip, port),
        inode: u64::from(u32_at(payload, 68)),
        backlog: u32_at(payload, 60),
        queued: u32_at(payload, 56),
    })
}

/// Sends one `sock_diag` dump request (`request`: the family's request,
/// after the netlink header) and passes each reply's payload to `each`.
fn sock_diag_dump(request: &[u8], mut each: impl FnMut(&[u8])) -> std::io::Result<()> {
    use std::{io, os::fd::FromRawFd};
    // SAFETY: plain syscall; the descriptor is owned right after.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, libc::NETLINK_SOCK_DIAG) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: just created, owned by nobody else.
    let netlink = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&netlink);

    // nlmsghdr (16 bytes), native byte order, then the request.
    let length = u32::try_from(16 + request.len()).unwrap_or(u32::MAX);
    let mut message = Vec::with_capacity(16 + request.len());
    message.extend_from_slice(&length.to_ne_bytes());
    message.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    message.extend_from_slice(&flags.to_ne_bytes());
    message.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    message.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    message.extend_from_slice(request);
    // SAFETY: the buffer is valid for its length.
    if unsafe { libc::send(fd, message.as_ptr().cast(), message.len(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }

    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: the buffer is writable for its length.
        let received = unsafe { libc::recv(fd, buffer.as_mut_ptr().cast(), buffer.len(), 0) };
        let received = match usize::try_from(received) {
            Ok(n) => n,
            Err(_) if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => continue,
            Err(_) => return Err(io::Error::last_os_error()),
        };
        let mut messages = &buffer[..received];
        while messages.len() >= 16 {
            let length = u32_at(messages, 0) as usize;
            let kind = u16_at(messages, 4);
            if length < 16 || length > messages.len() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "truncated sock_diag message"));
            }
            match i32::from(kind) {
                libc::NLMSG_DONE => return Ok(()),
                libc::NLMSG_ERROR => {
                    let errno = messages.get(16..20).map_or(0, |e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]));
                    return Err(io::Error::from_raw_os_error(-errno));
                }
                _ => each(&messages[16..length]),
            }
            messages = &messages[align4(length).min(messages.len())..];
        }
        if received == 0 {
            return Ok(());
        }
    }
}

/// One `unix_diag_msg` and its attributes: the socket and its name.
fn parse_unix_diag(payload: &[u8]) -> Option<(BoundSocket, &[u8])> {
    // udiag_family, udiag_type, udiag_state, pad, udiag_ino, udiag_cookie[2]
    let state = *payload.get(2)?;
    let inode = u64::from(u32_at(payload, 4));
    let mut attributes = payload.get(16..)?;
    let (mut name, mut uid) = (None, None);
    while attributes.len() >= 4 {
        let length = usize::from(u16_at(attributes, 0));
        let kind = u16_at(attributes, 2);
        if length < 4 || length > attributes.len() {
            break;
        }
        let value = &attributes[4..length];
        match kind {
            UNIX_DIAG_NAME => name = Some(value),
            UNIX_DIAG_UID if value.len() == 4 => uid = Some(u32_at(value, 0)),
            _ => {}
        }
        attributes = &attributes[align4(length).min(attributes.len())..];
    }
    Some((BoundSocket { inode, listening: state == STATE_LISTEN, uid }, name?))
}

fn align4(length: usize) -> usize {
    (length + 3) & !3
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The inode of the TCP socket listening on `address`, from
/// `/proc/net/tcp` or `/proc/net/tcp6`.
pub(crate) fn tcp_listener_inode(address: SocketAddr) -> Option<u64> {
    let table = if address.is_ipv4() { "/proc/net/tcp" } else { "/proc/net/tcp6" };
    let listing = fs::read_to_string(table).ok()?;
    find_tcp_listener(&listing, address)
}

fn find_tcp_listener(listing: &str, address: SocketAddr) -> Option<u64> {
    const LISTEN: &str = "0A";
    let wanted = format!("{}:{:04X}", kernel_hex(address.ip()), address.port());
    find_tcp(listing, |local, _, state| local == wanted && state == LISTEN)
}

/// The inode of this host's TCP connection from `local` to some address on
/// `remote_port`: how a database server's view of a client ("10.0.0.5:41234")
/// leads back to a local process.
#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
pub(crate) fn tcp_connection_inode(local: SocketAddr, remote_port: u16) -> Option<u64> {
    const ESTABLISHED: &str = "01";
    let wanted = format!("{}:{:04X}", kernel_hex(local.ip()), local.port());
    let remote_suffix = format!(":{remote_port:04X}");
    let table = if local.is_ipv4() { "/proc/net/tcp" } else { "/proc/net/tcp6" };
    let listing = fs::read_to_string(table).ok()?;
    find_tcp(&listing, |l, r, state| l == wanted && r.ends_with(&remote_suffix) && state == ESTABLISHED)
}

fn find_tcp(listing: &str, matches: impl Fn(&str, &str, &str) -> bool) -> Option<u64> {
    listing.lines().skip(1).find_map(|line| {
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
        let fields: Vec<&str> = line.split_whitespace().collect();
        matches(fields.get(1)?, fields.get(2)?, fields.get(3)?).then(|| fields.get(9)?.parse().ok())?
    })
}

/// An address as the kernel prints it in `/proc/net/tcp*`: each 32-bit word
/// in host byte order, as hex.
fn kernel_hex(ip: IpAddr) -> String {
    let octets: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    octets.chunks(4).map(|word| format!("{:08X}", u32::from_ne_bytes([word[0], word[1], word[2], word[3]]))).collect()
}

/// A `flock(2)` lock from `/proc/locks`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FileLock {
    /// 0 or absent when the holder is in another PID namespace.
    pub pid: Option<u32>,
    /// `LOCK_SH` ("READ"), rather than `LOCK_EX`.
    pub shared: bool,
}

impl FileLock {
    /// Who holds this lock on the file `(dev, ino)` found at `path`.
    pub(crate) fn holder(&self, dev: u64, ino: u64, path: String) -> Holder {
        let pid = flock_holder(self.pid, dev, ino, self.shared);
        let holder = Holder::local(pid, None, vec![("path", HolderValue::Str(path))]);
        if self.shared {
            holder.shared()
        } else {
            holder
        }
    }
}

/// The granted (not waiting) `FLOCK` locks on the file `(major, minor, inode)`.
pub(crate) fn flocks_on(major: u64, minor: u64, inode: u64) -> Vec<FileLock> {
    let Ok(listing) = fs::read_to_string("/proc/locks") else { return Vec::new() };
    find_flocks(&listing, major, minor, inode)
}

/// Whether a process waits for `LOCK_EX` on the file: `/proc/locks` lists a
/// blocked request under the lock that blocks it, "1: -> FLOCK ...".
pub(crate) fn writer_waits_on(major: u64, minor: u64, inode: u64) -> bool {
    fs::read_to_string("/proc/locks").is_ok_and(|listing| writer_waits_in(&listing, major, minor, inode))
}

fn writer_waits_in(listing: &str, major: u64, minor: u64, inode: u64) -> bool {
    listing.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        matches!(fields[..], [_, "->", "FLOCK", _, "WRITE", _, id, ..] if file_id(id) == Some((major, minor, inode)))
    })
}

/// `08:01:1234`: the device's major and minor numbers in hex, the inode.
fn file_id(id: &str) -> Option<(u64, u64, u64)> {
    let mut id = id.split(':');
    let (major, minor, inode) = (id.next()?, id.next()?, id.next()?);
    Some((u64::from_str_radix(major, 16).ok()?, u64::from_str_radix(minor, 16).ok()?, inode.parse().ok()?))
}

fn find_flocks(listing: &str, major: u64, minor: u64, inode: u64) -> Vec<FileLock> {
    parse_flocks(listing).filter(|(file, _)| *file == (major, minor, inode)).map(|(_, lock)| lock).collect()
}

/// The granted `FLOCK` lines of `/proc/locks`, by file `(major, minor, inode)`.
fn parse_flocks(listing: &str) -> impl Iterator<Item = ((u64, u64, u64), FileLock)> + '_ {
    listing.lines().filter_map(|line| {
        // "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF"; waiters read "1: -> FLOCK ..."
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") {
            return None;
        }
        let file = file_id(fields.get(5)?)?;
        let pid = fields.get(4).and_then(|pid| pid.parse::<u32>().ok()).filter(|&pid| pid > 0);
        Some((file, FileLock { pid, shared: fields.get(3) == Some(&"READ") }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_exclusive_request_is_a_waiting_writer() {
        let listing = "1: FLOCK  ADVISORY  READ  4242 fd:01:1234 0 EOF\n\
                       1: -> FLOCK  ADVISORY  READ  4243 fd:01:1234 0 EOF\n\
                       2: FLOCK  ADVISORY  WRITE 4244 08:01:99 0 EOF\n\
                       2: -> FLOCK  ADVISORY  WRITE 4245 08:01:99 0 EOF\n";
        assert!(writer_waits_in(listing, 8, 1, 99));
        assert!(!writer_waits_in(listing, 0xfd, 1, 1234), "a blocked reader is no writer");
        assert!(!writer_waits_in(listing, 8, 1, 98));
        assert_eq!(find_flocks(listing, 8, 1, 99).len(), 1, "a blocked request holds nothing");
    }

    #[test]
    fn lists_tcp_listeners_with_their_backlog() {
        use nix::sys::socket::{bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage};
        use std::os::fd::AsRawFd;
        for (family, ip) in [(AddressFamily::Inet, "127.0.0.1"), (AddressFamily::Inet6, "::1")] {
            let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
            bind(fd.as_raw_fd(), &SockaddrStorage::from(SocketAddr::new(ip.parse().unwrap(), 0))).unwrap();
            let address: SocketAddr = {
                let bound = nix::sys::socket::getsockname::<SockaddrStorage>(fd.as_raw_fd()).unwrap();
                let port = bound.as_sockaddr_in().map_or_else(|| bound.as_sockaddr_in6().unwrap().port(), |a| a.port());
                SocketAddr::new(ip.parse().unwrap(), port)
            };
            let listed = || tcp_listeners().unwrap().into_iter().find(|l| l.address == address);
            assert_eq!(listed(), None, "bound, not listening");
            listen(&fd, Backlog::new(77).unwrap()).unwrap();
            let found = listed().expect("listed");
            assert_eq!(found.backlog, 77);
            assert!(pids_with_socket(found.inode).contains(&std::process::id()));
        }
    }

    #[test]
    fn finds_abstract_sockets_by_their_exact_name_only() {
        use nix::sys::socket::{bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
        use std::os::fd::AsRawFd;
        let name = format!("exakat_lock-test/diag/{}", std::process::id());
        let bind_to = |name: &[u8], listening: bool| {
            let fd = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
            bind(fd.as_raw_fd(), &UnixAddr::new_abstract(name).unwrap()).unwrap();
            if listening {
                listen(&fd, Backlog::new(4).unwrap()).unwrap();
            }
            fd
        };
        assert_eq!(abstract_socket(name.as_bytes()).unwrap(), None);
        // A name that carries a forged /proc/net/unix line for ours.
        let forged = format!("x\n0000000000000000: 00000002 00000000 00010000 0001 01 4242 @{name}");
        let _forger = bind_to(forged.as_bytes(), true);
        assert_eq!(abstract_socket(name.as_bytes()).unwrap(), None);
        let listener = bind_to(name.as_bytes(), true);
        let found = abstract_socket(name.as_bytes()).unwrap().expect("listed");
        assert!(found.listening);
        assert_eq!(found.uid, Some(unsafe { libc::geteuid() }));
        assert!(pids_with_socket(found.inode).contains(&std::process::id()));
        drop(listener);
        let _bound = bind_to(name.as_bytes(), false);
        assert!(!abstract_socket(name.as_bytes()).unwrap().expect("bound, not listening").listening);
        assert_eq!(abstract_socket(&name.as_bytes()[..name.len() - 1]).unwrap(), None);
    }

    #[test]
    fn finds_tcp_listeners_only() {
        let listing =
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            \x20  0: 0100007F:EE48 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1\n\
            \x20  1: 0100007F:EE49 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 888 1\n";
        let listening: SocketAddr = "127.0.0.1:61000".parse().unwrap();
        assert_eq!(find_tcp_listener(listing, listening), Some(777));
        let established: SocketAddr = "127.0.0.1:61001".parse().unwrap();
        assert_eq!(find_tcp_listener(listing, established), None);
    }

    #[test]
    fn finds_established_connections_by_both_ends() {
        let listing =
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            \x20  0: 0100007F:D431 0100007F:0CEA 01 00000000:00000000 00:00000000 00000000  1000        0 999 1\n";
        let local: SocketAddr = "127.0.0.1:54321".parse().unwrap();
        let wanted = format!("{}:{:04X}", kernel_hex(local.ip()), local.port());
        assert_eq!(find_tcp(listing, |l, r, st| l == wanted && r.ends_with(":0CEA") && st == "01"), Some(999));
        assert_eq!(find_tcp(listing, |l, r, st| l == wanted && r.ends_with(":0CEB") && st == "01"), None);
    }

    #[test]
    fn kernel_hex_matches_proc_net_tcp_on_little_endian() {
        if cfg!(target_endian = "little") {
            assert_eq!(kernel_hex("127.0.0.1".parse().unwrap()), "0100007F");
            assert_eq!(kernel_hex("::1".parse().unwrap()), "000000000000000000000000".to_owned() + "01000000");
        }
    }

    #[test]
    fn finds_granted_flocks_and_skips_waiters() {
        let listing = "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF\n\
                       1: -> FLOCK  ADVISORY  WRITE 4343 08:01:1234 0 EOF\n\
                       2: POSIX  ADVISORY  WRITE 99 08:01:5678 0 EOF\n\
                       3: FLOCK  ADVISORY  WRITE 0 fd:11:5678 0 EOF\n\
                       4: FLOCK  ADVISORY  READ 51 08:01:77 0 EOF\n\
                       5: FLOCK  ADVISORY  READ 52 08:01:77 0 EOF\n";
        assert_eq!(find_flocks(listing, 8, 1, 1234), [FileLock { pid: Some(4242), shared: false }]);
        assert_eq!(find_flocks(listing, 0xfd, 0x11, 5678), [FileLock { pid: None, shared: false }]);
        assert_eq!(find_flocks(listing, 8, 1, 5678), []);
        let readers = [FileLock { pid: Some(51), shared: true }, FileLock { pid: Some(52), shared: true }];
        assert_eq!(find_flocks(listing, 8, 1, 77), readers);
    }

    #[test]
    fn finds_our_own_socket_descriptor() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = tcp_listener_inode(listener.local_addr().unwrap()).expect("listed");
        assert!(pids_with_socket(inode).contains(&std::process::id()));
    }
}
