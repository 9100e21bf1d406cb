//! `exakat-lockctl`: takes, waits for and inspects exakat locks from a shell,
//! through the same core the PHP extension uses. The cross-process tests
//! drive it; it is handy for poking at a lock by hand too.
//!
//! ```text
//! exakat-lockctl BACKEND NAME COMMAND [ARG] [--opt KEY=VALUE]...
//!   hold            acquire (waiting forever), print "held PID", keep it until stdin
//!                   closes, release, print "released NS BEFORE" (CLOCK_MONOTONIC
//!                   nanoseconds after and before the release call)
//!   hold-shared     like hold, taking the lock shared
//!   hold-and-exit   like hold, but exit without releasing: the kernel must free it
//!   hold-shared-and-exit  the same, taking the lock shared
//!   fork-and-exit   acquire, fork a child that sleeps 30 s, print "child PID", exit
//!   spawn-and-exit  acquire, start `sleep 30` (fork+exec), print "child PID", exit
//!   try             one attempt: print "true" or "false", release at once
//!   try-shared      the same, shared
//!   wait SECONDS    acquire with a timeout: print "true MS NS" or "false MS NS"
//!                   (milliseconds waited, CLOCK_MONOTONIC nanoseconds at the end)
//!   holder          print the holder's pid, "unknown" or "none"
//!   churn SECONDS   for that long: a new object, one try, release, drop;
//!                   print the number of rounds
//! ```
//! Numeric option values are ints, everything else strings.

use std::{
    io::{self, Read, Write},
    process::ExitCode,
    time::Instant,
};

use exakat_lock_core::{BackendChoice, Lock, LockName, LockSpec, OptionValue, Options, Settings, Timeout};

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("exakat-lockctl: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut positional = Vec::new();
    let mut options = Options::new();
    let mut rest = args.into_iter();
    while let Some(arg) = rest.next() {
        if arg == "--opt" {
            let pair = rest.next().ok_or("--opt needs KEY=VALUE")?;
            let (key, value) = pair.split_once('=').ok_or("--opt needs KEY=VALUE")?;
            let value = value.parse().map_or_else(|_| OptionValue::Str(value.as_bytes().to_vec()), OptionValue::Int);
            options.push(key, value);
        } else {
            positional.push(arg);
        }
    }
    let [backend, name, command, arg @ ..] = positional.as_slice() else {
        return Err("usage: exakat-lockctl BACKEND NAME COMMAND [ARG] [--opt KEY=VALUE]...".into());
    };
    let name = LockName::new(name.as_bytes()).map_err(|e| e.to_string())?;
    let choice = BackendChoice::parse(backend.as_bytes(), "backend").map_err(|e| e.to_string())?;
    let spec = LockSpec::new(name, choice, &options, &Settings::default()).map_err(|e| e.to_string())?;
    let mut lock = Lock::new(spec.clone());
    let mut out = io::stdout().lock();
    let say = |out: &mut io::StdoutLock<'_>, line: String| {
        writeln!(out, "{line}").and_then(|()| out.flush()).map_err(|e| e.to_string())
    };
    match (command.as_str(), arg) {
        ("hold" | "hold-shared" | "hold-and-exit" | "hold-shared-and-exit", []) => {
            if command.starts_with("hold-shared") {
                lock.acquire_shared(Timeout::Forever)
            } else {
                lock.acquire(Timeout::Forever)
            }
            .map_err(|e| e.to_string())?;
            say(&mut out, format!("held {} {}", std::process::id(), lock.slot().unwrap_or(0)))?;
            let _ = io::stdin().read_to_end(&mut Vec::new());
            if command.ends_with("and-exit") {
                std::process::exit(0); // no destructors: the kernel must free it
            }
            let releasing = monotonic_ns();
            lock.release().map_err(|e| e.to_string())?;
            say(&mut out, format!("released {} {releasing}", monotonic_ns()))?;
        }
        ("fork-and-exit", []) => {
            lock.acquire(Timeout::Forever).map_err(|e| e.to_string())?;
            // SAFETY: the child only sleeps and exits.
            match unsafe { libc::fork() } {
                -1 => return Err(io::Error::last_os_error().to_string()),
                0 => {
                    std::thread::sleep(std::time::Duration::from_secs(30));
                    unsafe { libc::_exit(0) };
                }
                child => {
                    say(&mut out, format!("child {child}"))?;
                    std::process::exit(0);
                }
            }
        }
        ("spawn-and-exit", []) => {
            lock.acquire(Timeout::Forever).map_err(|e| e.to_string())?;
            let child = std::process::Command::new("sleep")
                .arg("30")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .spawn()
                .map_err(|e| e.to_string())?;
            say(&mut out, format!("child {}", child.id()))?;
            std::process::exit(0);
        }
        ("try" | "try-shared", []) => {
            let taken =
                if command == "try" { lock.acquire(Timeout::NoWait) } else { lock.acquire_shared(Timeout::NoWait) };
            let taken = taken.map_err(|e| e.to_string())?;
            say(&mut out, taken.to_string())?;
        }
        ("wait", [seconds]) => {
            let seconds: f64 = seconds.parse().map_err(|_| "wait needs SECONDS")?;
            let timeout = Timeout::from_secs_f64(seconds).map_err(|e| e.to_string())?;
            let started = Instant::now();
            let taken = lock.acquire(timeout).map_err(|e| e.to_string())?;
            let now = monotonic_ns();
            say(&mut out, format!("{taken} {} {now}", started.elapsed().as_millis()))?;
        }
        ("holder", []) => {
            let holder = lock.holder().map_err(|e| e.to_string())?;
            let line = match holder {
                None => "none".to_owned(),
                Some(h) => h.pid.map_or_else(|| "unknown".to_owned(), |pid| pid.to_string()),
            };
            say(&mut out, line)?;
        }
        ("churn", [seconds]) => {
            let seconds: f64 = seconds.parse().map_err(|_| "churn needs SECONDS")?;
            let end = Instant::now() + std::time::Duration::from_secs_f64(seconds);
            drop(lock);
            let mut rounds = 0u64;
            while Instant::now() < end {
                let mut lock = Lock::new(spec.clone());
                if lock.acquire(Timeout::NoWait).map_err(|e| e.to_string())? {
                    lock.release().map_err(|e| e.to_string())?;
                }
                rounds += 1;
            }
            say(&mut out, rounds.to_string())?;
        }
        _ => return Err(format!("unknown command {command:?}")),
    }
    Ok(())
}

/// CLOCK_MONOTONIC, comparable between processes on one machine.
fn monotonic_ns() -> u128 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    u128::try_from(now.tv_sec).unwrap_or(0) * 1_000_000_000 + u128::try_from(now.tv_nsec).unwrap_or(0)
}
