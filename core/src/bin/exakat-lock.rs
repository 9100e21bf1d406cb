//! `exakat-lock`: runs a command while holding an exakat lock, so shell
//! scripts, cron lines and container entrypoints share locks with PHP.
//!
//! ```text
//! exakat-lock [-b BACKEND] [-o KEY=VALUE]... [-n | -w SECONDS] [-s] [--slots N] [-E CODE] NAME COMMAND [ARG]...
//! exakat-lock who [-b BACKEND] [-o KEY=VALUE]... NAME
//! exakat-lock list [-b BACKEND] [-o KEY=VALUE]... [--json]
//! ```
//!
//! Flags mean what they mean to util-linux `flock(1)` where the two
//! overlap. Names, backends and options are PHP's: `exakat-lock nightly
//! true` and `exakat_lock('nightly')` exclude each other. The lock's
//! descriptors are close-on-exec and `SEM_UNDO` is not inherited, so
//! COMMAND never holds the lock: it is freed the moment this process ends,
//! however it ends.

use std::{
    ffi::{OsStr, OsString},
    io::Write,
    os::{
        fd::{AsFd, FromRawFd, OwnedFd},
        unix::{
            ffi::OsStrExt,
            process::{CommandExt, ExitStatusExt},
        },
    },
    process::{Command, ExitCode},
    sync::atomic::{AtomicBool, AtomicI32, Ordering},
    time::{Duration, Instant},
};

use nix::{
    errno::Errno,
    poll::{poll, PollFd, PollFlags, PollTimeout},
    sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal},
};

use exakat_lock_core::{
    list, name::Printable, BackendChoice, Holder, HolderValue, Listed, Lock, LockName, LockSpec, OptionValue, Options,
    Settings, Timeout,
};

const USAGE: &str = "\
usage: exakat-lock [-b BACKEND] [-o KEY=VALUE]... [-n | -w SECONDS] [-s] [--slots N] [-E CODE] NAME COMMAND [ARG]...
       exakat-lock who [-b BACKEND] [-o KEY=VALUE]... NAME
       exakat-lock list [-b BACKEND] [-o KEY=VALUE]... [--json]

Runs COMMAND while holding the exakat lock NAME, and exits with its status.
  -b, --backend BACKEND  auto (default), socket, tcp, semaphore, flock or mysql
  -o, --option KEY=VALUE a backend option, as in PHP (port, host, key, dir, path, dsn, dsn_file, ...)
  -n, --nonblock         one try: exit with the -E status if the lock is held
  -w, --wait SECONDS     wait at most SECONDS (default: without limit)
  -s, --shared           hold it shared (semaphore, flock)
      --slots N          at most N holders at once
  -E, --conflict-exit-code CODE  status when the lock could not be taken (default 1)
who prints the holders (exit 1 when the lock is free); list prints the locks held on this host.
Exit status 64 for a usage error, 70 for a lock error, 126/127 when COMMAND cannot be run,
128 + N when COMMAND was killed by signal N.";

/// `sysexits.h`: a usage error, a failure of ours, output that could not
/// be written.
const EX_USAGE: u8 = 64;
const EX_SOFTWARE: u8 = 70;
const EX_IOERR: u8 = 74;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let code = match run(args) {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("exakat-lock: {message}\n{USAGE}");
            EX_USAGE
        }
        Err(Failure::Lock(message)) => {
            eprintln!("exakat-lock: {message}");
            EX_SOFTWARE
        }
        Err(Failure::Spawn(code, message)) => {
            eprintln!("exakat-lock: {message}");
            code
        }
        Err(Failure::Output(e)) => {
            eprintln!("exakat-lock: cannot write the output: {e}");
            EX_IOERR
        }
    };
    ExitCode::from(code)
}

enum Failure {
    Usage(String),
    Lock(String),
    Spawn(u8, String),
    Output(std::io::Error),
}

impl From<exakat_lock_core::Error> for Failure {
    fn from(error: exakat_lock_core::Error) -> Self {
        match error {
            // A name, a backend or an option the command line gave.
            exakat_lock_core::Error::InvalidArgument { .. } | exakat_lock_core::Error::InvalidType { .. } => {
                Self::Usage(error.to_string())
            }
            _ => Self::Lock(error.to_string()),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Self::Output(error)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Subcommand {
    Who,
    List,
}

/// What the command line asks for.
struct Request {
    /// Only ever the first argument: `exakat-lock -- who true` and
    /// `exakat-lock -n who true` take the lock named `who`.
    subcommand: Option<Subcommand>,
    backend: BackendChoice,
    options: Options,
    timeout: Timeout,
    shared: bool,
    conflict_code: u8,
    json: bool,
    /// The flags given that only running COMMAND uses, to refuse them elsewhere.
    run_flags: Vec<String>,
    positional: Vec<OsString>,
}

fn run(args: Vec<OsString>) -> Result<u8, Failure> {
    let request = parse(args)?;
    match request.subcommand {
        Some(Subcommand::Who) => who(&request),
        Some(Subcommand::List) => show_list(&request),
        None => run_locked(&request),
    }
}

fn takes_value(flag: &str) -> bool {
    matches!(
        flag,
        "-b" | "--backend"
            | "-o"
            | "--option"
            | "--slots"
            | "-w"
            | "--wait"
            | "--timeout"
            | "-E"
            | "--conflict-exit-code"
    )
}

/// Splits bundled short flags as getopt does, as `flock(1)` accepts them:
/// `-nw5` is `-n -w 5`, `-E0` is `-E 0`. A value keeps its bytes: a path
/// need not be UTF-8.
fn unbundle(arg: &[u8]) -> Option<Vec<OsString>> {
    const WITHOUT_VALUE: &[u8] = b"nsxehV";
    let letters = arg.strip_prefix(b"-").filter(|rest| rest.len() > 1 && !rest.starts_with(b"-"))?;
    let mut flags = Vec::new();
    for (at, &letter) in letters.iter().enumerate() {
        let flag = format!("-{}", char::from(letter));
        if letter.is_ascii() && takes_value(&flag) {
            flags.push(flag.into());
            let value = &letters[at + 1..];
            if !value.is_empty() {
                flags.push(OsStr::from_bytes(value).to_owned());
            }
            return Some(flags);
        }
        if !WITHOUT_VALUE.contains(&letter) {
            return None;
        }
        flags.push(flag.into());
    }
    Some(flags)
}

fn parse(args: Vec<OsString>) -> Result<Request, Failure> {
    let usage = |message: String| Failure::Usage(message);
    let mut args: std::collections::VecDeque<OsString> = args.into();
    let subcommand = match args.front().and_then(|first| first.to_str()) {
        Some("who") => Some(Subcommand::Who),
        Some("list") => Some(Subcommand::List),
        _ => None,
    };
    if subcommand.is_some() {
        args.pop_front();
    }
    let mut request = Request {
        subcommand,
        backend: BackendChoice::Auto,
        options: Options::new(),
        timeout: Timeout::Forever,
        shared: false,
        conflict_code: 1,
        json: false,
        run_flags: Vec::new(),
        positional: Vec::new(),
    };
    let mut option_keys: Vec<String> = Vec::new();
    let mut slots_flag = false;
    while let Some(arg) = args.pop_front() {
        let text = arg.to_string_lossy().into_owned();
        if text == "-" || !text.starts_with('-') {
            request.positional.push(arg);
            if subcommand.is_some() {
                // `who` takes flags after NAME too.
                continue;
            }
            // Everything from NAME on is the command's: its flags stay its own.
            request.positional.extend(args.drain(..));
            break;
        }
        if text == "--" {
            request.positional.extend(args.drain(..));
            break;
        }
        if let Some(flags) = unbundle(arg.as_bytes()) {
            for flag in flags.into_iter().rev() {
                args.push_front(flag);
            }
            continue;
        }
        let (flag, inline) = match arg.as_bytes().iter().position(|&b| b == b'=') {
            Some(at) if text.starts_with("--") => {
                (String::from_utf8_lossy(&arg.as_bytes()[..at]).into_owned(), Some(&arg.as_bytes()[at + 1..]))
            }
            _ => (text.clone(), None),
        };
        if inline.is_some() && !takes_value(&flag) {
            return Err(usage(format!("{flag} takes no value, {text:?} given")));
        }
        // Its bytes: the lossy `text` rewrote a path that is not UTF-8, so the
        // command and PHP locked two files (a review's find).
        let mut raw_value = |name: &str| {
            inline
                .map(|bytes| OsStr::from_bytes(bytes).to_owned())
                .or_else(|| args.pop_front())
                .ok_or_else(|| usage(format!("{name} needs a value")))
        };
        // Numbers and backend names are text.
        let mut value = |name: &str| {
            let raw = raw_value(name)?;
            raw.into_string().map_err(|raw| usage(format!("{name} needs text, {raw:?} given")))
        };
        match flag.as_str() {
            "-h" | "--help" => {
                writeln!(std::io::stdout(), "{USAGE}")?;
                std::process::exit(0);
            }
            "-V" | "--version" => {
                writeln!(std::io::stdout(), "exakat-lock {}", env!("CARGO_PKG_VERSION"))?;
                std::process::exit(0);
            }
            "-b" | "--backend" => {
                request.backend =
                    BackendChoice::parse(value(&flag)?.as_bytes(), "backend").map_err(|e| usage(e.to_string()))?;
            }
            "-o" | "--option" => {
                let pair = raw_value(&flag)?;
                let (key, value) = pair
                    .as_bytes()
                    .iter()
                    .position(|&b| b == b'=')
                    .and_then(|at| {
                        Some((std::str::from_utf8(&pair.as_bytes()[..at]).ok()?, &pair.as_bytes()[at + 1..]))
                    })
                    .ok_or_else(|| usage(format!("{flag} needs KEY=VALUE, {pair:?} given")))?;
                // `--slots` and `-o slots=M` together: the first won, unsaid.
                if option_keys.iter().any(|k| k == key) || (key == "slots" && slots_flag) {
                    return Err(usage(format!("option {key:?} given twice")));
                }
                option_keys.push(key.to_owned());
                request.options.push(key, option_value(value));
            }
            "--slots" => {
                let slots = value(&flag)?;
                let slots = slots.parse().map_err(|_| usage(format!("--slots needs a number, {slots:?} given")))?;
                if option_keys.iter().any(|k| k == "slots") {
                    return Err(usage("option \"slots\" given twice".into()));
                }
                // A repeated flag: the last wins.
                slots_flag = true;
                request.options.remove("slots");
                request.options.push("slots", OptionValue::Int(slots));
            }
            "-n" | "--nonblock" | "--nb" | "--no-wait" => {
                request.timeout = Timeout::NoWait;
                request.run_flags.push(flag);
            }
            "-w" | "--wait" | "--timeout" => {
                let seconds = value(&flag)?;
                // Without -w the wait has no limit; a negative or endless
                // number is refused, as flock(1) refuses it.
                let seconds =
                    seconds.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).ok_or_else(|| {
                        usage(format!("{flag} needs a number of seconds, 0 or more, {seconds:?} given"))
                    })?;
                request.timeout = Timeout::from_secs_f64(seconds).map_err(|e| usage(e.to_string()))?;
                request.run_flags.push(flag);
            }
            "-s" | "--shared" => {
                request.shared = true;
                request.run_flags.push(flag);
            }
            "-x" | "-e" | "--exclusive" => {
                request.shared = false;
                request.run_flags.push(flag);
            }
            "-E" | "--conflict-exit-code" => {
                let code = value(&flag)?;
                request.conflict_code =
                    code.parse().map_err(|_| usage(format!("{flag} needs a status from 0 to 255, {code:?} given")))?;
                request.run_flags.push(flag);
            }
            "--json" if subcommand == Some(Subcommand::List) => request.json = true,
            "--json" => return Err(usage("--json is for list".into())),
            _ => return Err(usage(format!("unknown flag {flag}"))),
        }
    }
    if let (Some(flag), Some(_)) = (request.run_flags.first(), subcommand) {
        return Err(usage(format!("{flag} is for running COMMAND, not for who or list")));
    }
    Ok(request)
}

/// Numbers are ints (ports, keys, slots), everything else a string, as PHP
/// callers usually write them.
fn option_value(bytes: &[u8]) -> OptionValue {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .map_or_else(|| OptionValue::Str(bytes.to_vec()), OptionValue::Int)
}

fn open(request: &Request, name: &OsString) -> Result<Lock, Failure> {
    let name = LockName::new(name.as_bytes())?;
    Ok(Lock::new(LockSpec::new(name, request.backend, &request.options, &Settings::default())?))
}

/// COMMAND's pid while it runs, for the handler of the signals passed on:
/// 0 before it starts, -1 once it is reaped (its pid may be anyone's then).
static CHILD: AtomicI32 = AtomicI32::new(0);
/// A signal that came before the child was there to receive it.
static PENDING: AtomicI32 = AtomicI32::new(0);
const PASSED_ON: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// Whether this process leads its session: the terminal's hang-up then
/// comes to it alone.
static SESSION_LEADER: AtomicBool = AtomicBool::new(false);

extern "C" fn pass_on(signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // A signal from the terminal (Ctrl-C, a hang-up) went to the whole
    // foreground process group, COMMAND included: passing it on would
    // make it two, and a second Ctrl-C means "abort now" to many tools.
    // Except a hang-up to a session leader, which the kernel sends it alone
    // (COMMAND ran on, holding the lock, after its terminal closed).
    // Nor does it reach a COMMAND that is not there yet (a Ctrl-C between
    // the take and the start was dropped, and COMMAND ran to its end) or
    // that moved to a process group of its own (`timeout` does: Ctrl-C
    // did nothing).
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let from_the_terminal = !info.is_null() && unsafe { (*info).si_code } == libc::SI_KERNEL;
    let child = CHILD.load(Ordering::SeqCst);
    // SAFETY: getpgid and getpgrp are plain system calls.
    let in_our_group = child > 0 && unsafe { libc::getpgid(child) == libc::getpgrp() };
    let alone = signal == libc::SIGHUP && SESSION_LEADER.load(Ordering::SeqCst);
    if from_the_terminal && in_our_group && !alone {
        return;
    }
    send(signal);
}

fn send(signal: libc::c_int) {
    match CHILD.load(Ordering::SeqCst) {
        0 => PENDING.store(signal, Ordering::SeqCst),
        -1 => {}
        // SAFETY: kill is async-signal-safe.
        child => unsafe {
            libc::kill(child, signal);
        },
    }
}

/// Passes INT, TERM and HUP on to COMMAND, except those this process was
/// started with ignored (`nohup`): COMMAND inherits them ignored, as it
/// would under `flock(1)`.
fn pass_signals_on() {
    // SAFETY: plain queries.
    SESSION_LEADER.store(unsafe { libc::getsid(0) == libc::getpid() }, Ordering::SeqCst);
    // The handler only touches atomics and calls kill(), which are
    // async-signal-safe.
    handle_passed_on_signals(SigHandler::SigAction(pass_on));
}

/// Installs `handler` for INT, TERM and HUP, but those ignored at start.
fn handle_passed_on_signals(handler: SigHandler) {
    for signal in PASSED_ON {
        // SAFETY: a query: a null new action changes nothing.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        let queried = unsafe { libc::sigaction(signal as libc::c_int, std::ptr::null(), &raw mut current) };
        if queried == 0 && current.sa_sigaction == libc::SIG_IGN {
            continue;
        }
        let action = SigAction::new(handler, SaFlags::SA_RESTART, SigSet::empty());
        // SAFETY: both handlers given here are async-signal-safe.
        let _ = unsafe { sigaction(signal, &action) };
    }
}

/// The first process of a PID namespace (a container's entrypoint) is
/// sent no signal it has no handler for: `docker stop`'s SIGTERM would not
/// end a wait for the lock, and COMMAND would start after it, to be killed
/// mid-way when the grace period ends. There, INT, TERM and HUP end the
/// wait as they end any other process's: at once, with the status a shell
/// gives a death by signal (128 + its number). What the wait had taken
/// (a queue socket, the gate's lock, a semaphore's `SEM_UNDO` count) goes
/// with the process.
fn end_the_wait_on_signals_as_init() {
    extern "C" fn end_now(signal: libc::c_int) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + signal) }
    }
    if std::process::id() == 1 {
        handle_passed_on_signals(SigHandler::Handler(end_now));
    }
}

fn run_locked(request: &Request) -> Result<u8, Failure> {
    let [name, command, args @ ..] = request.positional.as_slice() else {
        return Err(Failure::Usage("NAME and COMMAND are needed".into()));
    };
    let mut lock = open(request, name)?;
    if request.shared && !lock.kind().has_shared_mode() {
        return Err(Failure::Usage(format!(
            "-s: the {} backend has no shared mode (semaphore and flock have one)",
            lock.kind()
        )));
    }
    // Started with SIGCHLD ignored, COMMAND would be reaped unseen: its
    // status lost (we exited 70), and it would inherit the setting.
    // `flock(1)` resets it too.
    // SAFETY: setting a default disposition.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    end_the_wait_on_signals_as_init();
    let taken = if request.shared { lock.acquire_shared(request.timeout)? } else { lock.acquire(request.timeout)? };
    if !taken {
        return Ok(request.conflict_code);
    }
    // From here a signal must reach COMMAND, not end us under it.
    pass_signals_on();
    let parent = std::process::id();
    let mut command_line = Command::new(command);
    command_line.args(args);
    // SAFETY: only async-signal-safe calls (prctl, getppid, kill) between
    // fork and exec.
    unsafe {
        command_line.pre_exec(move || {
            // The lock ends with this process, however it ends (kill -9, the
            // OOM killer): COMMAND must not run on without it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // Gone already, before the line above: nobody would send it.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            Ok(())
        });
    }
    let mut child = command_line.spawn().map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
        Failure::Spawn(code, format!("cannot run {}: {e}", command.to_string_lossy()))
    })?;
    CHILD.store(i32::try_from(child.id()).unwrap_or(0), Ordering::SeqCst);
    let early = PENDING.swap(0, Ordering::SeqCst);
    if early != 0 {
        send(early);
    }
    let lost = watch_the_hold(&mut lock, child.id(), name, command);
    // Waited for without reaping first: once reaped, its pid is anyone's,
    // and a signal passed on in between would reach that process.
    loop {
        // SAFETY: siginfo_t is plain data; WNOWAIT leaves the child unreaped.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let waited = unsafe { libc::waitid(libc::P_PID, child.id(), &raw mut info, libc::WEXITED | libc::WNOWAIT) };
        if waited == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    CHILD.store(-1, Ordering::SeqCst);
    let status = child.wait();
    let status = status.map_err(|e| Failure::Lock(format!("cannot wait for {}: {e}", command.to_string_lossy())))?;
    if lost {
        let _ = lock.release();
        return Ok(EX_SOFTWARE);
    }
    // The watch asks once a second: a loss in COMMAND's last second, or in
    // a COMMAND shorter than that, is told here (it went unsaid, exit 0).
    if !lock.release()? {
        report_lost(name, command, "it is no longer held", "");
        return Ok(EX_SOFTWARE);
    }
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(255),
        (None, None) => 1,
    })
}

/// How often the lock of a running COMMAND is asked whether it is held.
const HOLD_CHECK_MS: u16 = 1000;

/// Waits until COMMAND (`pid`) has ended, asking every second whether the
/// lock is still held; `true` when it was lost (a mysql server restarted,
/// an administrator removed the set or the lock file): COMMAND is then told
/// with SIGTERM, as `consul lock` does, since it must not run on without
/// the lock, and has no `isHeld()` to ask. The child stays unreaped.
fn watch_the_hold(lock: &mut Lock, pid: u32, name: &OsString, command: &OsString) -> bool {
    // SAFETY: pidfd_open takes a pid and flags; the descriptor it returns
    // is new, ours, and close-on-exec.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let Ok(raw) = i32::try_from(raw) else { return false };
    if raw < 0 {
        return false; // Linux before 5.3: not watched
    }
    // SAFETY: see above.
    let ended = unsafe { OwnedFd::from_raw_fd(raw) };
    let every = Duration::from_millis(u64::from(HOLD_CHECK_MS));
    let mut next_check = Instant::now() + every;
    loop {
        // The time left to the next check: signals passed on every half
        // second restarted a whole second each, and the check never came.
        let left = next_check.saturating_duration_since(Instant::now());
        let left = PollTimeout::try_from(left).unwrap_or(PollTimeout::from(HOLD_CHECK_MS));
        let mut fds = [PollFd::new(ended.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, left) {
            Ok(0) => {}
            Err(Errno::EINTR) if Instant::now() < next_check => continue,
            Err(Errno::EINTR) => {}
            _ => return false, // ended
        }
        next_check = Instant::now() + every;
        let lost = match lock.is_held() {
            Ok(true) => continue,
            Ok(false) => "it is no longer held".to_owned(),
            Err(e) => e.to_string(),
        };
        report_lost(name, command, &lost, ": sending it SIGTERM");
        send(libc::SIGTERM);
        return true;
    }
}

fn report_lost(name: &OsString, command: &OsString, why: &str, then: &str) {
    eprintln!(
        "exakat-lock: lost the lock {} while {} ran ({why}){then}",
        Printable(&name.to_string_lossy()),
        command.to_string_lossy()
    );
}

fn who(request: &Request) -> Result<u8, Failure> {
    let [name] = request.positional.as_slice() else {
        return Err(Failure::Usage("who needs NAME".into()));
    };
    let holders = open(request, name)?.holders()?;
    let mut out = std::io::stdout().lock();
    for holder in &holders {
        writeln!(out, "{}", describe(holder))?;
    }
    out.flush()?;
    Ok(u8::from(holders.is_empty()))
}

fn show_list(request: &Request) -> Result<u8, Failure> {
    if !request.positional.is_empty() {
        return Err(Failure::Usage("list takes no NAME".into()));
    }
    let backend = match request.backend {
        BackendChoice::Auto => None,
        BackendChoice::Kind(kind) => Some(kind),
    };
    let locks = list(backend, &request.options, &Settings::default())?;
    let mut out = std::io::stdout().lock();
    if request.json {
        writeln!(out, "[{}]", locks.iter().map(json).collect::<Vec<_>>().join(","))?;
    } else {
        for lock in &locks {
            let name = lock.name.as_ref().map_or_else(|| "-".to_owned(), |n| n.to_string());
            for holder in &lock.holders {
                writeln!(out, "{}\t{name}\t{}\t{}", lock.backend, Printable(&lock.resource), describe(holder))?;
            }
        }
    }
    out.flush()?;
    Ok(0)
}

/// `pid=123 host=web1 mode=exclusive slot=0 since=1764520000.5 key=...`.
fn describe(holder: &Holder) -> String {
    let unknown = || "-".to_owned();
    let mut words = vec![
        format!("pid={}", holder.pid.map_or_else(unknown, |p| p.to_string())),
        format!("host={}", holder.host.as_deref().map_or_else(unknown, |host| Printable(host).to_string())),
        format!("mode={}", holder.mode.as_str()),
        format!("slot={}", holder.slot.map_or_else(unknown, |s| s.to_string())),
        format!("since={}", holder.since.map_or_else(unknown, |s| format!("{s:.3}"))),
    ];
    for (key, value) in &holder.extra {
        let value = match value {
            HolderValue::Int(i) => i.to_string(),
            HolderValue::Str(s) => Printable(s).to_string(),
        };
        words.push(format!("{key}={value}"));
    }
    words.join(" ")
}

fn json(lock: &Listed) -> String {
    let holders: Vec<String> = lock
        .holders
        .iter()
        .map(|h| {
            let mut fields = vec![
                format!("\"pid\":{}", h.pid.map_or_else(|| "null".to_owned(), |p| p.to_string())),
                format!("\"host\":{}", h.host.as_deref().map_or_else(|| "null".to_owned(), json_string)),
                format!("\"since\":{}", h.since.map_or_else(|| "null".to_owned(), |s| s.to_string())),
                format!("\"mode\":\"{}\"", h.mode.as_str()),
                format!("\"slot\":{}", h.slot.map_or_else(|| "null".to_owned(), |s| s.to_string())),
            ];
            for (key, value) in &h.extra {
                let value = match value {
                    HolderValue::Int(i) => i.to_string(),
                    HolderValue::Str(s) => json_string(s),
                };
                fields.push(format!("{}:{value}", json_string(key)));
            }
            format!("{{{}}}", fields.join(","))
        })
        .collect();
    format!(
        "{{\"name\":{},\"backend\":\"{}\",\"resource\":{},\"holders\":[{}]}}",
        lock.name.as_ref().map_or_else(|| "null".to_owned(), |n| json_string(&String::from_utf8_lossy(n.as_bytes()))),
        lock.backend,
        json_string(&lock.resource),
        holders.join(",")
    )
}

/// A JSON string: quotes, backslashes and control characters escaped.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
