//! The mysql backend against faults around the server: a unix socket whose
//! accept queue is full, a TCP peer that answers a byte at a time, a CA path
//! that is not a file, a connection cut in the middle of taking a slot. No
//! mock of the server: a socket nobody accepts on, a tarpit, a FIFO, and a
//! relay in front of the test MariaDB.

mod support;

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    os::fd::{AsRawFd, OwnedFd},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use exakat_lock_core::{BackendChoice, BackendKind, Lock, LockName, LockSpec, OptionValue, Options, Settings, Timeout};
use support::{test_mysql_dsn, unique_name};

fn mysql_lock(name: &str, dsn: &str, extra: &[(&str, OptionValue)]) -> Lock {
    let mut options = Options::new();
    options.push("dsn", OptionValue::Str(dsn.as_bytes().to_vec()));
    for (key, value) in extra {
        options.push(*key, value.clone());
    }
    let name = LockName::new(name.as_bytes()).unwrap();
    Lock::new(LockSpec::new(name, BackendChoice::Kind(BackendKind::Mysql), &options, &Settings::default()).unwrap())
}

/// One try at `lock` on another thread; its outcome as text, or `None` if
/// it has not come back after 10 seconds (a hang).
fn try_within_10s(lock: Lock) -> Option<Result<bool, String>> {
    acquire_within_10s(lock, Timeout::NoWait)
}

/// `acquire(timeout)` on another thread, as [`try_within_10s`].
fn acquire_within_10s(mut lock: Lock, timeout: Timeout) -> Option<Result<bool, String>> {
    let (done, outcome) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(lock.acquire(timeout).map_err(|e| e.to_string()));
        std::mem::forget(lock); // a hung connect may still own it
    });
    outcome.recv_timeout(Duration::from_secs(10)).ok()
}

/// One try at a lock on `dsn`, where no server answers (`why`), with
/// `connect_timeout` 0.5 s: it fails within 3 s, saying the server did not
/// answer in time.
fn gives_up_after_connect_timeout(test: &str, dsn: &str, why: &str) {
    let lock = mysql_lock(&unique_name(test), dsn, &[("connect_timeout", OptionValue::Float(0.5))]);
    let started = Instant::now();
    let outcome = try_within_10s(lock).expect("the connect must give up after connect_timeout, not hang");
    let error = outcome.expect_err(why);
    assert!(error.contains("did not answer in time"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

fn scratch_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique_name(test));
    std::fs::create_dir(&dir).unwrap();
    dir
}

#[test]
fn a_unix_socket_whose_accept_queue_is_full_times_out() {
    use nix::sys::socket::{bind, connect, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
    let dir = scratch_dir("full-queue");
    let path = dir.join("mysqld.sock");
    let address = UnixAddr::new(&path).unwrap();
    let unix_socket = |flags| socket(AddressFamily::Unix, SockType::Stream, flags, None).unwrap();
    let listener = unix_socket(SockFlag::SOCK_CLOEXEC);
    bind(listener.as_raw_fd(), &address).unwrap();
    listen(&listener, Backlog::new(0).unwrap()).unwrap();
    // Nobody accepts: a frozen server. Queue connections until it refuses.
    let mut queued: Vec<OwnedFd> = Vec::new();
    loop {
        let client = unix_socket(SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK);
        if connect(client.as_raw_fd(), &address).is_err() {
            break;
        }
        queued.push(client);
        assert!(queued.len() < 100, "the queue never filled");
    }

    let dsn = format!("mysql://user:secret@localhost/?socket={}", path.display());
    gives_up_after_connect_timeout("full-queue", &dsn, "nobody accepted the connection");
    // A process that keeps trying gathers no more than a few connects
    // still waiting on their threads.
    for _ in 0..12 {
        let lock = mysql_lock(&unique_name("full-queue"), &dsn, &[("connect_timeout", OptionValue::Float(0.1))]);
        assert!(try_within_10s(lock).expect("no hang").is_err());
    }
    // Threads in connect(2) (its number leads /proc's `syscall`): exactly the
    // 8 given up on, once each has entered it. The other tests' connect
    // threads read or poll.
    let in_connect = || {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter(|task| {
                let syscall =
                    std::fs::read_to_string(task.as_ref().unwrap().path().join("syscall")).unwrap_or_default();
                syscall.split(' ').next() == Some(&libc::SYS_connect.to_string())
            })
            .count()
    };
    let waiting = Instant::now();
    let mut connecting = in_connect();
    while connecting < 8 && waiting.elapsed() < Duration::from_secs(2) {
        thread::sleep(Duration::from_millis(10));
        connecting = in_connect();
    }
    assert_eq!(connecting, 8, "threads waiting in connect(2)");
    // Another server's socket is not held up by them.
    let elsewhere = format!("mysql://user:secret@localhost/?socket={}", dir.join("absent.sock").display());
    let error = try_within_10s(mysql_lock(&unique_name("full-queue"), &elsewhere, &[])).unwrap().unwrap_err();
    assert!(!error.contains("earlier connects"), "{error}");
    drop(listener);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A TCP server on 127.0.0.1 that runs `serve` on each connection, on a
/// thread of its own; its port.
fn fake_server(serve: fn(TcpStream)) -> u16 {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    thread::spawn(move || {
        for client in server.incoming().flatten() {
            thread::spawn(move || serve(client));
        }
    });
    port
}

#[test]
fn a_tcp_peer_that_sends_a_byte_at_a_time_times_out() {
    // A tarpit at the DSN's port: it accepts, then sends a packet header
    // announcing a long handshake and the rest a byte every 200 ms, each
    // within the read timeout the client library applies to every read.
    let port = fake_server(|mut client| {
        if client.write_all(&[0xff, 0xff, 0x00, 0x00]).is_err() {
            return;
        }
        while client.write_all(b"a").is_ok() {
            thread::sleep(Duration::from_millis(200));
        }
    });
    let dsn = format!("mysql://user:secret@127.0.0.1:{port}/?ssl-mode=DISABLED");
    gives_up_after_connect_timeout("tarpit", &dsn, "a tarpit is no server");
}

/// A server that lets anyone in, answers the client library's own
/// `SELECT @@max_allowed_packet`, then sends its answer to our session's
/// set-up (`SELECT VERSION()...`) a byte every 200 ms: the set-up ran on
/// the PHP thread after the connect, each read with the whole
/// `connect_timeout`, and held a one-try acquire for as long as the server
/// liked (KB28).
#[test]
fn a_server_that_drips_its_answer_to_the_session_set_up_times_out() {
    let port = fake_server(|mut client| {
        if client.write_all(&greeting(b"mysql_native_password")).is_err() || read_packet(&mut client).is_none() {
            return;
        }
        let _ = client.write_all(&packet(2, b"\x00\x00\x00\x02\x00\x00\x00")); // OK: logged in
        while let Some(query) = read_packet(&mut client) {
            let query = String::from_utf8_lossy(&query);
            if !query.contains("max_allowed_packet") {
                let _ = client.write_all(&packet(1, &[0x02])); // two columns follow...
                while client.write_all(b"x").is_ok() {
                    thread::sleep(Duration::from_millis(200));
                }
                return;
            }
            // One text column, one row, each part closed by an EOF packet.
            let mut column = Vec::new();
            for part in [&b"def"[..], b"", b"", b"", b"@@max_allowed_packet", b""] {
                column.push(u8::try_from(part.len()).unwrap());
                column.extend_from_slice(part);
            }
            column.extend_from_slice(b"\x0c\x21\x00\xff\x00\x00\x00\xfd\x00\x00\x00\x00\x00");
            let eof = b"\xfe\x00\x00\x02\x00";
            let answer =
                [packet(1, b"\x01"), packet(2, &column), packet(3, eof), packet(4, b"\x0816777216"), packet(5, eof)];
            let _ = client.write_all(&answer.concat());
        }
    });
    let dsn = format!("mysql://user:secret@127.0.0.1:{port}/?ssl-mode=DISABLED");
    gives_up_after_connect_timeout("dripped-set-up", &dsn, "a server that never finishes its answer");
}

/// A server's greeting (protocol 10) offering the authentication `plugin`.
fn greeting(plugin: &[u8]) -> Vec<u8> {
    let capabilities: u32 = 0x01 | 0x08 | 0x200 | 0x2000 | 0x8000 | 0x8_0000 | 0x20_0000;
    let mut greeting = b"\x0a8.0.30\x00".to_vec();
    greeting.extend_from_slice(&7u32.to_le_bytes());
    greeting.extend_from_slice(b"abcdefgh\x00");
    greeting.extend_from_slice(&capabilities.to_le_bytes()[..2]);
    greeting.push(0x21);
    greeting.extend_from_slice(&2u16.to_le_bytes());
    greeting.extend_from_slice(&capabilities.to_le_bytes()[2..]);
    greeting.push(21);
    greeting.extend_from_slice(&[0; 10]);
    greeting.extend_from_slice(b"ijklmnopqrst\x00");
    greeting.extend_from_slice(plugin);
    greeting.push(0);
    packet(0, &greeting)
}

/// The payload of the next packet the client sends; `None` at its end.
fn read_packet(client: &mut TcpStream) -> Option<Vec<u8>> {
    let mut header = [0; 4];
    client.read_exact(&mut header).ok()?;
    let mut payload = vec![0; usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16];
    client.read_exact(&mut payload).ok()?;
    Some(payload)
}

/// A MySQL packet: 3 bytes of length, a sequence number, the payload.
fn packet(sequence: u8, payload: &[u8]) -> Vec<u8> {
    let mut packet = u32::try_from(payload.len()).unwrap().to_le_bytes()[..3].to_vec();
    packet.push(sequence);
    packet.extend_from_slice(payload);
    packet
}

/// A connect given up on whose thread then panics (mysql 28 indexes a
/// one-byte `caching_sha2_password` answer out of bounds) takes its count
/// back as it ends: before, 8 of them refused every later connect to that
/// server for the process's life.
#[test]
fn connects_given_up_on_that_then_panic_are_not_counted_for_ever() {
    let port = fake_server(|mut client| {
        let greeting = greeting(b"caching_sha2_password");
        // Slowly: the client gives up meanwhile, its thread reads on.
        let (head, tail) = greeting.split_at(greeting.len() - 8);
        let _ = client.write_all(head);
        for byte in tail {
            thread::sleep(Duration::from_millis(50));
            let _ = client.write_all(&[*byte]);
        }
        let _ = client.read(&mut [0; 4096]);
        let _ = client.write_all(&packet(2, b"\x01"));
        thread::sleep(Duration::from_secs(1));
    });
    let dsn = format!("mysql://user:secret@127.0.0.1:{port}/?ssl-mode=DISABLED");
    let attempt = || {
        let lock = mysql_lock(&unique_name("panics"), &dsn, &[("connect_timeout", OptionValue::Float(0.1))]);
        try_within_10s(lock).expect("no hang").expect_err("no server")
    };
    for _ in 0..8 {
        let error = attempt();
        assert!(error.contains("did not answer in time"), "{error}");
    }
    thread::sleep(Duration::from_secs(2)); // their threads read on, panic and end
    let error = attempt();
    assert!(!error.contains("earlier connects"), "{error}");
}

/// Only connects given up on are capped: the threads of a ZTS process may
/// all connect to one healthy server at once.
#[test]
#[ignore = "needs a MySQL/MariaDB server: scripts/test.sh starts one and runs these"]
fn sixteen_threads_connect_to_one_server_at_once() {
    let dsn = test_mysql_dsn();
    let start = std::sync::Arc::new(std::sync::Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let (dsn, start) = (dsn.clone(), std::sync::Arc::clone(&start));
            thread::spawn(move || {
                let mut lock = mysql_lock(&unique_name(&format!("burst-{i}")), &dsn, &[]);
                start.wait();
                let taken = lock.acquire(Timeout::NoWait).map_err(|e| e.to_string());
                let _ = lock.release();
                taken
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), Ok(true));
    }
}

#[test]
fn a_ca_path_that_is_not_a_regular_file_is_refused_at_once() {
    let dir = scratch_dir("ca-fifo");
    let fifo = dir.join("ca.pem");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    for ca in [fifo.to_str().unwrap(), "/dev/zero"] {
        // Port 1: nothing listens; the CA is looked at before connecting.
        let dsn = format!("mysql://user:secret@127.0.0.1:1/?ssl-mode=VERIFY_CA&ssl-ca={ca}");
        let outcome =
            try_within_10s(mysql_lock(&unique_name("ca-fifo"), &dsn, &[])).expect("a FIFO for a CA must not hang");
        let error = outcome.expect_err("not a CA file");
        assert!(error.contains("not a regular file"), "{ca}: {error}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Forwards connections to `upstream`, and cuts both sides as the client
/// sends a statement that contains `cut_at`; its port, and the number of
/// connections it took so far.
fn relay(upstream: String, cut_at: &'static [u8]) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let relay = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = relay.local_addr().unwrap().port();
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&taken);
    thread::spawn(move || {
        for client in relay.incoming() {
            let Ok(mut client) = client else { continue };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let Ok(mut server) = TcpStream::connect(&upstream) else { continue };
            let (mut from_server, mut to_client) = (server.try_clone().unwrap(), client.try_clone().unwrap());
            thread::spawn(move || std::io::copy(&mut from_server, &mut to_client));
            thread::spawn(move || {
                let mut buffer = [0u8; 65536];
                while let Ok(read @ 1..) = client.read(&mut buffer) {
                    if buffer[..read].windows(cut_at.len()).any(|w| w == cut_at) {
                        break;
                    }
                    if server.write_all(&buffer[..read]).is_err() {
                        break;
                    }
                }
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
            });
        }
    });
    (port, taken)
}

/// The test server's DSN through a [`relay`] (in plaintext, so that the
/// relay can read the statements), and its connection count.
fn relayed_dsn(cut_at: &'static [u8]) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    // mysql://user:password@host:port/...: the relay goes where host:port was.
    let dsn = test_mysql_dsn();
    let (scheme_and_user, rest) = dsn.split_once('@').unwrap();
    let authority = rest.split(['/', '?']).next().unwrap();
    let (port, connections) = relay(authority.to_owned(), cut_at);
    (format!("{scheme_and_user}@127.0.0.1:{port}/?ssl-mode=DISABLED"), connections)
}

#[test]
#[ignore = "needs a MySQL/MariaDB server: scripts/test.sh starts one and runs these"]
fn a_slot_lost_with_its_session_as_the_gate_opens_is_an_error_not_a_hold() {
    let dsn = test_mysql_dsn();
    let (relayed, _) = relayed_dsn(b"RELEASE_LOCK");

    let slots = [("slots", OptionValue::Int(2))];
    let name = unique_name("gate-cut");
    // A wait passes the gate (a single try takes a free slot without it).
    let outcome =
        acquire_within_10s(mysql_lock(&name, &relayed, &slots), Timeout::For(Duration::from_secs(1))).expect("no hang");
    // The session ended as the gate opened, and the server freed the slot
    // with it: reporting a hold would let a third holder in.
    assert!(outcome.is_err(), "acquire() said {outcome:?} for a slot its session lost");
    let mut others: Vec<Lock> = (0..2).map(|_| mysql_lock(&name, &dsn, &slots)).collect();
    for other in &mut others {
        assert!(other.acquire(Timeout::NoWait).unwrap(), "both slots are free");
    }
}

/// A holder in a PID namespace of its own (a container's client of a
/// shared server) is pid 1 there, and tells the server so (the `_pid`
/// connection attribute, which any client sets as it likes). On the
/// server's unix socket, which /proc cannot trace to a process from here,
/// `holder()` named pid 1, this system's init, as the holder, wherever
/// `performance_schema` shows connection attributes (MySQL's default; the
/// matrix's `mysql-9.7` entry). The claim is `claimed_pid` now.
#[test]
#[ignore = "needs a MySQL/MariaDB server: scripts/test.sh starts one and runs these"]
fn mysql_a_pid_a_client_claims_is_never_the_holders_pid() {
    let dsn = test_mysql_dsn();
    let socket = std::path::Path::new(&std::env::var("EXAKAT_LOCK_TEST_MARIADB_DIR").unwrap()).join("mysqld.sock");
    let credentials = dsn.trim_start_matches("mysql://").split_once('@').unwrap().0;
    let over_socket = format!("dsn=mysql://{credentials}@localhost/?socket={}", socket.display());
    let name = unique_name("claimed-pid");
    let mut contained = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", env!("CARGO_BIN_EXE_exakat-lock"), "-b", "mysql", "-o"])
        .args([over_socket.as_str(), name.as_str(), "sleep", "60"])
        .spawn()
        .unwrap();
    let mut lock = mysql_lock(&name, &dsn, &[]);
    let started = Instant::now();
    let holder = loop {
        if let Some(holder) = lock.holder().unwrap() {
            break holder;
        }
        if let Ok(Some(status)) = contained.try_wait() {
            eprintln!("skipped: no PID namespace here (unshare: {status})");
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the contained holder never took the lock");
        thread::sleep(Duration::from_millis(20));
    };
    contained.kill().unwrap();
    contained.wait().unwrap();
    assert_ne!(holder.pid, Some(1), "{holder:?}");
    // Where the server shows the attribute, it reached us: as a claim.
    if let Some((_, claimed)) = holder.extra.iter().find(|(key, _)| *key == "claimed_pid") {
        assert_eq!(*claimed, exakat_lock_core::HolderValue::Int(1), "{holder:?}");
    }
}

/// A listing asks the server on one session: it made one per lock name,
/// so a client holding a thousand names made every listing a thousand
/// connects (a review's find).
#[test]
#[ignore = "needs a MySQL/MariaDB server: scripts/test.sh starts one and runs these"]
fn mysql_a_listing_asks_on_one_session_whatever_the_number_of_locks() {
    let dsn = test_mysql_dsn();
    let mut names: Vec<String> = (0..20).map(|_| unique_name("listed")).collect();
    let mut held: Vec<Lock> = names.iter().map(|name| mysql_lock(name, &dsn, &[])).collect();
    for lock in &mut held {
        assert!(lock.acquire(Timeout::NoWait).unwrap());
    }
    // MariaDB lists both emoji names as the third: it was listed with its
    // holder three times. (MySQL refuses four-byte characters in a lock
    // name over our connection: ERROR 3057.)
    let base = unique_name("emoji");
    let emoji = [format!("{base}-\u{1f512}"), format!("{base}-\u{1f511}"), format!("{base}-????")];
    let mut first = mysql_lock(&emoji[0], &dsn, &[]);
    match first.acquire(Timeout::NoWait) {
        Err(e) => assert!(e.to_string().contains("3057"), "{e}"),
        Ok(taken) => {
            assert!(taken);
            held.push(first);
            for name in &emoji[1..] {
                let mut lock = mysql_lock(name, &dsn, &[]);
                assert!(lock.acquire(Timeout::NoWait).unwrap());
                held.push(lock);
            }
            names.extend(emoji);
        }
    }
    let (relayed, connections) = relayed_dsn(b"never cut");
    let mut options = Options::new();
    options.push("dsn", OptionValue::Str(relayed.into_bytes()));
    let listed = exakat_lock_core::list(Some(BackendKind::Mysql), &options, &Settings::default()).unwrap();
    for name in names.iter().filter(|name| !name.contains('\u{1f512}') && !name.contains('\u{1f511}')) {
        let found = listed.iter().find(|l| l.name.as_ref().map(LockName::as_bytes) == Some(name.as_bytes()));
        assert_eq!(found.map(|l| l.holders.len()), Some(1), "{name}");
    }
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1, "connections made by one listing");
}
