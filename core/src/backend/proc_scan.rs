//! What `/proc` tells about who holds a socket or a file lock. Only
//! `holder()` reads these files, never the lock paths themselves.

use std::{
    fs,
    net::{IpAddr, SocketAddr},
    sync::OnceLock,
};

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

/// The processes with a descriptor open on socket `inode`. Processes of other
/// users are invisible unless we are root; an empty result means "unknown".
pub(crate) fn pids_with_socket(inode: u64) -> Vec<u32> {
    let Ok(processes) = fs::read_dir("/proc") else { return Vec::new() };
    let mut pids: Vec<u32> = processes
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| process_has_socket(pid, inode))
        .collect();
    pids.sort_unstable();
    pids
}

/// The one process with a descriptor open on socket `inode`; `None` when
/// there is none or several (after a fork, before the child closed its copy).
pub(crate) fn sole_pid_with_socket(inode: u64) -> Option<u32> {
    match pids_with_socket(inode).as_slice() {
        [pid] => Some(*pid),
        _ => None,
    }
}

/// Whether process `pid` has a descriptor open on socket `inode`.
pub(crate) fn process_has_socket(pid: u32, inode: u64) -> bool {
    let target = format!("socket:[{inode}]");
    fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
        fds.filter_map(Result::ok)
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|link| link.as_os_str() == target.as_str()))
    })
}

/// The inode of the unix socket bound to abstract address `name` (without
/// its leading NUL), from `/proc/net/unix`, which lists it as `@name`.
pub(crate) fn abstract_socket_inode(name: &[u8]) -> Option<u64> {
    let listing = fs::read("/proc/net/unix").ok()?;
    find_unix_inode(&listing, name)
}

/// Connections accepted from (or queued on) a listener are listed under its
/// name too; the bound socket itself is the one not connected (state 01).
fn find_unix_inode(listing: &[u8], name: &[u8]) -> Option<u64> {
    const UNCONNECTED: &[u8] = b"01";
    let mut wanted = Vec::with_capacity(name.len() + 1);
    wanted.push(b'@');
    wanted.extend_from_slice(name);
    listing.split(|&b| b == b'\n').skip(1).find_map(|line| {
        // Num RefCount Protocol Flags Type St Inode Path
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').filter(|f| !f.is_empty()).collect();
        (fields.get(7) == Some(&wanted.as_slice()) && fields.get(5) == Some(&UNCONNECTED))
            .then(|| std::str::from_utf8(fields.get(6)?).ok()?.parse().ok())?
    })
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
}

/// The granted (not waiting) `FLOCK` lock on the file `(major, minor, inode)`.
pub(crate) fn flock_on(major: u64, minor: u64, inode: u64) -> Option<FileLock> {
    let listing = fs::read_to_string("/proc/locks").ok()?;
    find_flock(&listing, major, minor, inode)
}

fn find_flock(listing: &str, major: u64, minor: u64, inode: u64) -> Option<FileLock> {
    listing.lines().find_map(|line| {
        // "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF"; waiters read "1: -> FLOCK ..."
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") {
            return None;
        }
        let mut id = fields.get(5)?.split(':');
        let (maj, min, ino) = (id.next()?, id.next()?, id.next()?);
        let same_file = u64::from_str_radix(maj, 16).ok()? == major
            && u64::from_str_radix(min, 16).ok()? == minor
            && ino.parse::<u64>().ok()? == inode;
        let pid = fields.get(4).and_then(|pid| pid.parse::<u32>().ok()).filter(|&pid| pid > 0);
        same_file.then_some(FileLock { pid })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_abstract_sockets_by_name() {
        let listing = b"Num       RefCount Protocol Flags    Type St Inode Path\n\
            0000000000000000: 00000002 00000000 00000000 0001 03 4141 @exakat_lock/job\n\
            0000000000000000: 00000002 00000000 00010000 0001 01 4242 @exakat_lock/job\n\
            0000000000000000: 00000002 00000000 00010000 0001 01 4343 @exakat_lock/job2\n\
            0000000000000000: 00000003 00000000 00000000 0001 03 99 /run/x.sock\n";
        assert_eq!(find_unix_inode(listing, b"exakat_lock/job"), Some(4242));
        assert_eq!(find_unix_inode(listing, b"exakat_lock/job2"), Some(4343));
        assert_eq!(find_unix_inode(listing, b"exakat_lock/jo"), None);
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
                       3: FLOCK  ADVISORY  WRITE 0 fd:11:5678 0 EOF\n";
        assert_eq!(find_flock(listing, 8, 1, 1234), Some(FileLock { pid: Some(4242) }));
        assert_eq!(find_flock(listing, 0xfd, 0x11, 5678), Some(FileLock { pid: None }));
        assert_eq!(find_flock(listing, 8, 1, 5678), None);
    }

    #[test]
    fn finds_our_own_socket_descriptor() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = tcp_listener_inode(listener.local_addr().unwrap()).expect("listed");
        assert!(pids_with_socket(inode).contains(&std::process::id()));
    }
}
