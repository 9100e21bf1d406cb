//! `exakat-lock`: runs a command while holding an exakat lock, so shell
//! scripts, cron lines and container entrypoints share locks with PHP.
//!
//! ```text
//! exakat-lock [-b BACKEND] [-o KEY=VALUE]... [-n | -w SECONDS] [-s] [--slots N] [-E CODE] NAME COMMAND [ARG]...
//! exakat-lock who [-b BACKEND] [-o KEY=VALUE]... NAME
//! exakat-lock list [--json]
//! ```
//!
//! Flags mean what they mean to util-linux `flock(1)` where the two
//! overlap. Names, backends and options are PHP's: `exakat-lock nightly
//! true` and `exakat_lock('nightly')` exclude each other. The lock's
//! descriptors are close-on-exec and `SEM_UNDO` is not inherited, so
//! COMMAND never holds the lock: it is freed the moment this process ends,
//! however it ends.

use std::{
    ffi::OsString,
    io::Write,
    os::unix::{ffi::OsStrExt, process::ExitStatusExt},
    process::{Command, ExitCode},
    sync::atomic::{AtomicI32, Ordering},
};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

use exakat_lock_core::{
    list, name::Printable, BackendChoice, Holder, HolderValue, Listed, Lock, LockName, LockSpec, OptionValue, Options,
    Settings, Timeout,
};

const USAGE: &str = "\
usage: exakat-lock [-b BACKEND] [-o KEY=VALUE]... [-n | -w SECONDS] [-s] [--slots N] [-E CODE] NAME COMMAND [ARG]...
       exakat-lock who [-b BACKEND] [-o KEY=VALUE]... NAME
       exakat-lock list [--json]

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

/// `sysexits.h`: a usage error, a failure of ours, a COMMAND that cannot run.
const EX_USAGE: u8 = 64;
const EX_SOFTWARE: u8 = 70;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(Failure::Usage(message)) => {
            eprintln!("exakat-lock: {message}\n{USAGE}");
            ExitCode::from(EX_USAGE)
        }
        Err(Failure::Lock(message)) => {
            eprintln!("exakat-lock: {message}");
            ExitCode::from(EX_SOFTWARE)
        }
        Err(Failure::Spawn(code, message)) => {
            eprintln!("exakat-lock: {message}");
            ExitCode::from(code)
        }
    }
}

enum Failure {
    Usage(String),
    Lock(String),
    Spawn(u8, String),
}

impl From<exakat_lock_core::Error> for Failure {
    fn from(error: exakat_lock_core::Error) -> Self {
        Self::Lock(error.to_string())
    }
}

/// What the command line asks for.
struct Request {
    backend: BackendChoice,
    options: Options,
    timeout: Timeout,
    shared: bool,
    conflict_code: u8,
    json: bool,
    positional: Vec<OsString>,
}

fn run(args: Vec<OsString>) -> Result<u8, Failure> {
    let request = parse(args)?;
    let subcommand = request.positional.first().and_then(|first| first.to_str());
    match subcommand {
        Some("who") => who(&request),
        Some("list") => show_list(&request),
        _ => run_locked(&request),
    }
}

fn parse(args: Vec<OsString>) -> Result<Request, Failure> {
    let mut request = Request {
        backend: BackendChoice::Auto,
        options: Options::new(),
        timeout: Timeout::Forever,
        shared: false,
        conflict_code: 1,
        json: false,
        positional: Vec::new(),
    };
    let mut args = args.into_iter();
    let usage = |message: String| Failure::Usage(message);
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        let is_subcommand = |first: &OsString| matches!(first.to_str(), Some("who" | "list"));
        let subcommand = request.positional.first().is_some_and(is_subcommand);
        if text == "-" || !text.starts_with('-') {
            if (request.positional.is_empty() && is_subcommand(&arg)) || subcommand {
                // `who` and `list` take flags after them too.
                request.positional.push(arg);
                continue;
            }
            // Everything from NAME on is the command's: its flags stay its own.
            request.positional.push(arg);
            request.positional.extend(args.by_ref());
            break;
        }
        if text == "--" {
            request.positional.extend(args.by_ref());
            break;
        }
        let (flag, inline) = match text.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.to_owned())),
            _ => (text.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next().map(|v| v.to_string_lossy().into_owned()))
                .ok_or_else(|| usage(format!("{name} needs a value")))
        };
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "-V" | "--version" => {
                println!("exakat-lock {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            "-b" | "--backend" => {
                request.backend =
                    BackendChoice::parse(value(&flag)?.as_bytes(), "backend").map_err(|e| usage(e.to_string()))?;
            }
            "-o" | "--option" => {
                let pair = value(&flag)?;
                let (key, value) =
                    pair.split_once('=').ok_or_else(|| usage(format!("{flag} needs KEY=VALUE, {pair:?} given")))?;
                request.options.push(key, option_value(value));
            }
            "--slots" => {
                let slots = value(&flag)?;
                let slots = slots.parse().map_err(|_| usage(format!("--slots needs a number, {slots:?} given")))?;
                request.options.push("slots", OptionValue::Int(slots));
            }
            "-n" | "--nonblock" | "--nb" | "--no-wait" => request.timeout = Timeout::NoWait,
            "-w" | "--wait" | "--timeout" => {
                let seconds = value(&flag)?;
                let seconds: f64 =
                    seconds.parse().map_err(|_| usage(format!("{flag} needs seconds, {seconds:?} given")))?;
                request.timeout = Timeout::from_secs_f64(seconds).map_err(|e| usage(e.to_string()))?;
            }
            "-s" | "--shared" => request.shared = true,
            "-x" | "-e" | "--exclusive" => request.shared = false,
            "-E" | "--conflict-exit-code" => {
                let code = value(&flag)?;
                request.conflict_code =
                    code.parse().map_err(|_| usage(format!("{flag} needs a status from 0 to 255, {code:?} given")))?;
            }
            "--json" => request.json = true,
            _ => return Err(usage(format!("unknown flag {flag}"))),
        }
    }
    Ok(request)
}

/// Numbers are ints (ports, keys, slots), everything else a string, as PHP
/// callers usually write them.
fn option_value(text: &str) -> OptionValue {
    text.parse().map_or_else(|_| OptionValue::Str(text.as_bytes().to_vec()), OptionValue::Int)
}

fn open(request: &Request, name: &OsString) -> Result<Lock, Failure> {
    let name = LockName::new(name.as_bytes())?;
    Ok(Lock::new(LockSpec::new(name, request.backend, &request.options, &Settings::default())?))
}

/// The child's pid once it runs, for the handler of the signals passed on.
static CHILD: AtomicI32 = AtomicI32::new(0);
/// A signal that came before the child was there to receive it.
static PENDING: AtomicI32 = AtomicI32::new(0);
const PASSED_ON: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn pass_on(signal: libc::c_int) {
    match CHILD.load(Ordering::SeqCst) {
        // SAFETY: kill is async-signal-safe.
        0 => PENDING.store(signal, Ordering::SeqCst),
        child => unsafe {
            libc::kill(child, signal);
        },
    }
}

fn run_locked(request: &Request) -> Result<u8, Failure> {
    let [name, command, args @ ..] = request.positional.as_slice() else {
        return Err(Failure::Usage("NAME and COMMAND are needed".into()));
    };
    let mut lock = open(request, name)?;
    let taken = if request.shared { lock.acquire_shared(request.timeout)? } else { lock.acquire(request.timeout)? };
    if !taken {
        return Ok(request.conflict_code);
    }
    // From here a signal must reach COMMAND, not end us under it.
    for signal in PASSED_ON {
        let action = SigAction::new(SigHandler::Handler(pass_on), SaFlags::SA_RESTART, SigSet::empty());
        // SAFETY: the handler only touches atomics and calls kill(), which
        // are async-signal-safe.
        let _ = unsafe { sigaction(Signal::try_from(signal).expect("a valid signal"), &action) };
    }
    let mut child = Command::new(command).args(args).spawn().map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
        Failure::Spawn(code, format!("cannot run {}: {e}", command.to_string_lossy()))
    })?;
    CHILD.store(i32::try_from(child.id()).unwrap_or(0), Ordering::SeqCst);
    let early = PENDING.swap(0, Ordering::SeqCst);
    if early != 0 {
        pass_on(early);
    }
    let status =
        child.wait().map_err(|e| Failure::Lock(format!("cannot wait for {}: {e}", command.to_string_lossy())))?;
    lock.release()?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(255),
        (None, None) => 1,
    })
}

fn who(request: &Request) -> Result<u8, Failure> {
    let [_, name] = request.positional.as_slice() else {
        return Err(Failure::Usage("who needs NAME".into()));
    };
    let holders = open(request, name)?.holders()?;
    let mut out = std::io::stdout().lock();
    for holder in &holders {
        let _ = writeln!(out, "{}", describe(holder));
    }
    Ok(u8::from(holders.is_empty()))
}

fn show_list(request: &Request) -> Result<u8, Failure> {
    if request.positional.len() != 1 {
        return Err(Failure::Usage("list takes no NAME".into()));
    }
    let backend = match request.backend {
        BackendChoice::Auto => None,
        BackendChoice::Kind(kind) => Some(kind),
    };
    let locks = list(backend, &request.options, &Settings::default())?;
    let mut out = std::io::stdout().lock();
    if request.json {
        let _ = writeln!(out, "[{}]", locks.iter().map(json).collect::<Vec<_>>().join(","));
    } else {
        for lock in &locks {
            let name = lock.name.as_ref().map_or_else(|| "-".to_owned(), |n| n.to_string());
            for holder in &lock.holders {
                let _ = writeln!(out, "{}\t{name}\t{}\t{}", lock.backend, Printable(&lock.resource), describe(holder));
            }
        }
    }
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
