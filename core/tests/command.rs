//! The `exakat-lock` command against the same locks taken through the core
//! (`exakat-lockctl`, which is what PHP's extension runs), on every local
//! backend; PHP itself is in php-tests/command_*.phpt.

mod support;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use exakat_lock_core::{BackendKind, Timeout};
use support::{kill9, process_alive, Target};

const LOCAL: [BackendKind; 4] = [BackendKind::Socket, BackendKind::Tcp, BackendKind::Semaphore, BackendKind::Flock];

/// `exakat-lock -b BACKEND -o KEY=VALUE... FLAGS... NAME COMMAND...`, for `target`.
fn command(target: &Target, flags: &[&str], run: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_exakat-lock"));
    command.args(["-b", target.kind.as_str()]);
    for (key, value) in &target.options {
        command.arg("-o").arg(format!("{key}={value}"));
    }
    command.args(flags).arg(&target.name).args(run);
    command
}

/// Starts `exakat-lock ... NAME sh -c SCRIPT`, and waits for SCRIPT's first line.
fn holding(target: &Target, flags: &[&str], script: &str) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child =
        command(target, flags, &["sh", "-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "in\n", "the command runs once the lock is held");
    (child, out)
}

fn status(mut command: Command) -> i32 {
    command.status().unwrap().code().expect("exited")
}

#[test]
fn the_command_and_the_core_exclude_each_other_both_ways() {
    for kind in LOCAL {
        let target = Target::new(kind, "cmd-excl");
        let (mut child, _out) = holding(&target, &[], "echo in; read line");
        assert_eq!(target.spawn("try", &[]).line(), ["false"], "{kind}: the core cannot take what the command holds");
        assert_eq!(status(command(&target, &["-n"], &["true"])), 1, "{kind}: -n fails with 1");
        assert_eq!(status(command(&target, &["-n", "-E", "9"], &["true"])), 9, "{kind}: -E sets the status");
        drop(child.stdin.take());
        kill9(child.id());
        let _ = child.wait();
        let mut holder = target.spawn("hold", &[]);
        holder.wait_held();
        assert_eq!(
            status(command(&target, &["-n"], &["true"])),
            1,
            "{kind}: the command cannot take what the core holds"
        );
        let who = command_output(&target, &["who"]);
        assert!(who.contains(&format!("pid={}", holder.pid())), "{kind}: who names the holder: {who}");
        drop(holder);
        assert_eq!(status(command(&target, &["-n"], &["sh", "-c", "exit 7"])), 7, "{kind}: COMMAND's status");
    }
}

fn command_output(target: &Target, subcommand: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_exakat-lock"));
    command.args(subcommand).args(["-b", target.kind.as_str()]);
    for (key, value) in &target.options {
        command.arg("-o").arg(format!("{key}={value}"));
    }
    let output = command.arg(&target.name).output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn who_exits_1_when_the_lock_is_free() {
    let target = Target::new(BackendKind::Socket, "cmd-who");
    let mut command = Command::new(env!("CARGO_BIN_EXE_exakat-lock"));
    assert_eq!(
        status({
            command.args(["who", "-b", "socket", &target.name]);
            command
        }),
        1
    );
}

#[test]
fn a_wait_is_bounded_by_w() {
    let target = Target::new(BackendKind::Flock, "cmd-wait");
    let mut holder = target.spawn("hold", &[]);
    holder.wait_held();
    let started = Instant::now();
    assert_eq!(status(command(&target, &["-w", "0.3"], &["true"])), 1);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(2), "{waited:?}");
}

fn next_pid(out: &mut BufReader<std::process::ChildStdout>) -> u32 {
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    line.trim().parse().unwrap()
}

#[test]
fn killing_the_command_frees_the_lock_at_once_and_ends_command_whose_children_never_hold_it() {
    for kind in LOCAL {
        let target = Target::new(kind, "cmd-kill");
        let (child, mut out) = holding(&target, &[], "echo in; echo $$; sleep 30 & echo $!; wait");
        let (command, sleeper) = (next_pid(&mut out), next_pid(&mut out));
        kill9(child.id());
        let started = Instant::now();
        let free = target.lock().acquire(Timeout::For(Duration::from_secs(5))).unwrap();
        let freed_after = started.elapsed();
        // COMMAND would otherwise run on without the lock, beside the next holder.
        while process_alive(command) && started.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let command_ran_on = process_alive(command);
        let alive = process_alive(sleeper);
        kill9(sleeper);
        kill9(command);
        assert!(free && freed_after < Duration::from_millis(100), "{kind}: free after {freed_after:?}");
        assert!(!command_ran_on, "{kind}: COMMAND outlived the lock");
        assert!(alive, "{kind}: COMMAND's child outlived the command, without the lock");
    }
}

/// COMMAND must not run on without the lock: one lost while it runs (here
/// its lock file deleted, as a tidy-up of /tmp does) ends it with SIGTERM
/// within about a second, and the command exits 70, saying why.
#[test]
fn a_lock_lost_while_command_runs_stops_command() {
    let path = std::env::temp_dir().join(support::unique_name("cmd-lost"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_exakat-lock"))
        .args(["-b", "flock", "-o", &format!("path={}", path.display()), "-n", "lost"])
        .args(["sh", "-c", "trap 'echo stopped; exit 0' TERM; echo in; while :; do sleep 0.05; done"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "in\n");
    std::fs::remove_file(&path).unwrap();
    let removed = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if removed.elapsed() > Duration::from_secs(10) {
            kill9(child.id());
            let _ = child.wait();
            panic!("COMMAND ran on for 10 s without the lock");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stopped = removed.elapsed();
    line.clear();
    out.read_line(&mut line).unwrap();
    let mut errors = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut errors).unwrap();
    assert_eq!(line, "stopped\n", "COMMAND got SIGTERM");
    assert!(stopped < Duration::from_secs(3), "{stopped:?}");
    assert_eq!(status.code(), Some(70), "{errors}");
    assert!(errors.contains("lost the lock lost while sh ran"), "{errors}");
}

#[test]
fn who_and_list_are_subcommands_only_as_the_first_argument() {
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_exakat-lock")).args(args).output().unwrap();
    for args in [
        &["-b", "socket", "--", "who", "sh", "-c", "echo ran"][..],
        &["-b", "socket", "-n", "list", "sh", "-c", "echo ran"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(output.stdout, b"ran\n", "{args:?} runs COMMAND under the lock named who or list");
    }
}

#[test]
fn signals_ignored_at_start_stay_ignored_for_command() {
    use std::os::unix::process::CommandExt;
    let target = Target::new(BackendKind::Socket, "cmd-nohup");
    let mut started = command(&target, &[], &["sh", "-c", "echo $$; exec sleep 30"]);
    // As nohup(1) starts it.
    // SAFETY: signal() is async-signal-safe.
    unsafe {
        started.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = started.stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let sleeper = next_pid(&mut out);
    // Wait for the exec, then read what the program starts with.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(format!("/proc/{sleeper}/comm")).unwrap_or_default().starts_with("sleep")
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = std::fs::read_to_string(format!("/proc/{sleeper}/status")).unwrap();
    let ignored = status.lines().find_map(|l| l.strip_prefix("SigIgn:")).map(str::trim).unwrap().to_owned();
    // SAFETY: plain syscall on our own child.
    unsafe { libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(100));
    let survived = process_alive(sleeper) && child.try_wait().unwrap().is_none();
    kill9(sleeper);
    child.wait().unwrap();
    assert_eq!(u64::from_str_radix(&ignored, 16).unwrap() & 1, 1, "COMMAND starts with HUP ignored: SigIgn {ignored}");
    assert!(survived, "a HUP neither ends exakat-lock nor reaches COMMAND");
}

#[test]
fn a_ctrl_c_at_the_terminal_reaches_command_once() {
    use std::os::unix::process::CommandExt;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors; no name, settings or size asked.
    let opened = unsafe {
        libc::openpty(&raw mut master, &raw mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null())
    };
    assert_eq!(opened, 0, "a pseudo-terminal");
    let target = Target::new(BackendKind::Socket, "cmd-ctrl-c");
    let script = "trap 'echo INT' INT; echo in; sleep 2 & wait; sleep 0.3 & wait; echo done";
    let mut started = command(&target, &[], &["sh", "-c", script]);
    // SAFETY: only async-signal-safe calls between fork and exec: a new
    // session whose terminal is the pty's slave, as a login shell's job.
    unsafe {
        started.pre_exec(move || {
            libc::setsid();
            libc::ioctl(slave, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = started.stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "in\n");
    // The terminal's interrupt character: the kernel signals the whole
    // foreground process group, exakat-lock and COMMAND alike.
    // SAFETY: one byte from a valid buffer to our own descriptor.
    assert_eq!(unsafe { libc::write(master, [3u8].as_ptr().cast(), 1) }, 1);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    child.wait().unwrap();
    // SAFETY: our own descriptors, closed once.
    unsafe {
        libc::close(master);
        libc::close(slave);
    }
    assert_eq!(rest.matches("INT").count(), 1, "one Ctrl-C, one SIGINT: {rest:?}");
}

#[test]
fn int_term_and_hup_are_passed_on_to_the_command() {
    let target = Target::new(BackendKind::Socket, "cmd-signal");
    for (signal, name) in [(libc::SIGTERM, "TERM"), (libc::SIGINT, "INT"), (libc::SIGHUP, "HUP")] {
        let script = format!("trap 'echo got {name}; exit 5' {name}; echo in; sleep 30 & wait");
        let (mut child, mut out) = holding(&target, &[], &script);
        // SAFETY: plain syscall on our own child.
        unsafe { libc::kill(i32::try_from(child.id()).unwrap(), signal) };
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, format!("got {name}\n"));
        assert_eq!(child.wait().unwrap().code(), Some(5), "the command's status after {name}");
    }
}

#[test]
fn shared_holders_share_and_list_shows_them() {
    for kind in [BackendKind::Flock, BackendKind::Semaphore] {
        let target = Target::new(kind, "cmd-shared");
        let (mut first, _a) = holding(&target, &["-s"], "echo in; read line");
        let (mut second, _b) = holding(&target, &["-s", "-n"], "echo in; read line");
        assert_eq!(status(command(&target, &["-n"], &["true"])), 1, "{kind}: readers exclude a writer");
        let listing = String::from_utf8_lossy(
            &Command::new(env!("CARGO_BIN_EXE_exakat-lock"))
                .args(["list", "-b", kind.as_str()])
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned();
        let resource = format!("\t{}\t", target.lock().spec().describe());
        let ours: Vec<&str> = listing.lines().filter(|l| l.contains(&resource) && l.contains("mode=shared")).collect();
        assert_eq!(ours.len(), 2, "{kind}: two readers of {resource}: {listing}");
        if kind == BackendKind::Flock {
            for child in [&first, &second] {
                assert!(listing.contains(&format!("pid={}", child.id())), "{kind}: list names each reader: {listing}");
            }
            assert!(listing.contains(&format!("\t{}\t", target.name)), "the name is shown: {listing}");
        }
        // Ended as commands end, not killed: the last one out removes the
        // semaphore set, which a killed holder would leave behind.
        for child in [&mut first, &mut second] {
            drop(child.stdin.take());
            assert!(child.wait().unwrap().code().is_some());
        }
    }
}

#[test]
fn usage_errors_exit_64() {
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_exakat-lock")).args(args).output().unwrap();
    for args in [
        &["-b", "nope", "x", "true"][..],
        &["-w"],
        &["--bogus", "x", "true"],
        &["x"],
        &["--slots", "0", "x", "true"],
        &["--slots", "65536", "x", "true"],
        &["-o", "bogus=1", "x", "true"],
        &["-o", "=1", "x", "true"],
        &["-o", "dir=/tmp", "-o", "dir=/var/tmp", "-b", "flock", "x", "true"],
        &["", "true"],
        &["--shared=no", "x", "true"],
        &["--json", "x", "true"],
        &["who", "-w", "5", "x"],
        &["list", "-n"],
        &["-w", "-1", "x", "true"],
        &["-w", "inf", "x", "true"],
        &["-w", "1e309", "x", "true"],
        &["-E", "256", "x", "true"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(64), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(!output.stderr.is_empty(), "{args:?} says why");
    }
    assert_eq!(run(&["x-cmd-missing", "/nonexistent/program"]).status.code(), Some(127));
    // Bundled short flags, as getopt reads them.
    assert_eq!(run(&["-b", "socket", "-nE7", "-w5", "x-cmd-bundled", "sh", "-c", "exit 3"]).status.code(), Some(3));
}

#[test]
fn output_that_cannot_be_written_is_a_failure() {
    for args in [&["list"][..], &["--help"]] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_exakat-lock")).args(args).stdout(full).output().unwrap();
        assert_eq!(output.status.code(), Some(74), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
}
