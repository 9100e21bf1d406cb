//! Drives `exakat-lockctl` processes for the cross-process tests.

#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use exakat_lock_core::{BackendChoice, BackendKind, Lock, LockName, LockSpec, OptionValue, Options, Settings, Timeout};

/// A lock name unique to this test run and call site.
pub fn unique_name(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!("core-{test}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Options that keep concurrent tests apart: tcp gets a port the OS just
/// handed out, instead of one hashed into a range others may share.
pub fn options_for(kind: BackendKind) -> Vec<(String, String)> {
    match kind {
        BackendKind::Tcp => {
            // Above the ephemeral range (32768-60999), where a kernel-chosen
            // port could meet the source port of an outgoing connection.
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let port = (0..4536)
                .map(|_| 61000 + (std::process::id() * 31 + NEXT.fetch_add(97, Ordering::Relaxed)) % 4536)
                .find(|&port| port_is_free(port as u16))
                .expect("a free port in 61000-65535");
            vec![("port".into(), port.to_string())]
        }
        BackendKind::Mysql => vec![("dsn".into(), test_mysql_dsn())],
        _ => Vec::new(),
    }
}

/// Whether a tcp lock could bind `port` now: probed as the backend binds,
/// without `SO_REUSEADDR` (std's `TcpListener` sets it, and then takes a
/// port whose old connections linger in TIME_WAIT, which the lock cannot).
pub fn port_is_free(port: u16) -> bool {
    use nix::sys::socket::{bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, SockaddrIn};
    let Ok(probe) = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None) else { return false };
    let address = SockaddrIn::new(127, 0, 0, 1, port);
    bind(std::os::fd::AsRawFd::as_raw_fd(&probe), &address).is_ok() && listen(&probe, Backlog::MAXCONN).is_ok()
}

/// The test server's DSN; the mysql tests are `#[ignore]`d unless asked
/// for, and then they need one (scripts/test.sh starts a MariaDB).
pub fn test_mysql_dsn() -> String {
    std::env::var("EXAKAT_LOCK_TEST_MYSQL_DSN")
        .expect("set EXAKAT_LOCK_TEST_MYSQL_DSN to a MySQL/MariaDB server (scripts/test.sh starts one)")
}

pub struct Target {
    pub kind: BackendKind,
    pub name: String,
    pub options: Vec<(String, String)>,
}

impl Target {
    pub fn new(kind: BackendKind, test: &str) -> Self {
        Self { kind, name: unique_name(test), options: options_for(kind) }
    }

    pub fn lock(&self) -> Lock {
        let mut options = Options::new();
        for (key, value) in &self.options {
            let value = value.parse().map_or_else(|_| OptionValue::Str(value.as_bytes().to_vec()), OptionValue::Int);
            options.push(key.clone(), value);
        }
        let name = LockName::new(self.name.as_bytes()).unwrap();
        Lock::new(LockSpec::new(name, BackendChoice::Kind(self.kind), &options, &Settings::default()).unwrap())
    }

    /// Starts `exakat-lockctl KIND NAME COMMAND ARGS...`.
    pub fn spawn(&self, command: &str, args: &[&str]) -> Ctl {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_exakat-lockctl"));
        cmd.args([self.kind.as_str(), &self.name, command]).args(args);
        for (key, value) in &self.options {
            cmd.arg("--opt").arg(format!("{key}={value}"));
        }
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Ctl { child, stdin, stdout }
    }
}

pub struct Ctl {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Ctl {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line the process prints, split into words.
    pub fn line(&mut self) -> Vec<String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "exakat-lockctl ended without answering");
        line.split_whitespace().map(str::to_owned).collect()
    }

    /// Expects "held PID" and returns once the lock is held.
    pub fn wait_held(&mut self) {
        let words = self.line();
        assert_eq!(words[0], "held", "{words:?}");
    }

    /// Closes stdin: `hold` releases, `hold-and-exit` exits holding.
    pub fn let_go(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
    }

    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn finish(mut self) -> std::process::ExitStatus {
        self.let_go();
        self.child.wait().unwrap()
    }
}

impl Drop for Ctl {
    /// Lets a holder release and exit as it would; kills only one that
    /// does not: a killed holder would leave its semaphore set behind.
    fn drop(&mut self) {
        self.let_go();
        for _ in 0..500 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CLOCK_MONOTONIC in nanoseconds, comparable with `exakat-lockctl`'s stamps.
pub fn monotonic_ns() -> u128 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u128 * 1_000_000_000 + now.tv_nsec as u128
}

/// CPU time this thread has used.
pub fn thread_cpu() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Whether `pid` runs: not gone, and not a zombie waiting to be reaped (an
/// orphan in a container whose first process reaps nothing stays one).
pub fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

pub fn kill9(pid: u32) {
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

/// How a waiter fares behind another that stopped in line: starts a waiter
/// (`wait 0.3`), stops it (SIGSTOP) once it has queued, lets its time run
/// out, then waits for the lock here (5 s at most) while `release` frees
/// it, 200 ms in. Returns whether it got it, after how long, and what the
/// stopped waiter said once continued (while the lock is still held here).
pub fn wait_behind_a_stopped_waiter(target: &Target, release: impl FnOnce()) -> (bool, Duration, Vec<String>) {
    let mut stopped = target.spawn("wait", &["0.3"]);
    let signal = |signal| {
        // SAFETY: plain syscall on our own child.
        unsafe { libc::kill(i32::try_from(stopped.pid()).unwrap(), signal) };
    };
    std::thread::sleep(Duration::from_millis(100)); // let it queue
    signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(400)); // its time runs out, stopped
    let mut lock = target.lock();
    let waiter = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let taken = lock.acquire(Timeout::For(Duration::from_secs(5))).unwrap();
        (taken, started.elapsed(), lock)
    });
    std::thread::sleep(Duration::from_millis(200)); // let it queue behind
    release();
    let (taken, waited, lock) = waiter.join().unwrap();
    signal(libc::SIGCONT);
    let said = stopped.line();
    drop(lock);
    (taken, waited, said)
}
