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

#[test]
fn killing_the_command_frees_the_lock_at_once_and_its_child_never_holds_it() {
    for kind in LOCAL {
        let target = Target::new(kind, "cmd-kill");
        let (child, mut out) = holding(&target, &[], "echo in; sleep 30 & echo $!; wait");
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let sleeper: u32 = line.trim().parse().unwrap();
        kill9(child.id());
        let started = Instant::now();
        let free = target.lock().acquire(Timeout::For(Duration::from_secs(5))).unwrap();
        let alive = process_alive(sleeper);
        kill9(sleeper);
        assert!(free && started.elapsed() < Duration::from_millis(100), "{kind}: free after {:?}", started.elapsed());
        assert!(alive, "{kind}: COMMAND's child outlived the command, without the lock");
    }
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
        let ours: Vec<&str> = listing.lines().filter(|l| l.contains("mode=shared")).collect();
        assert!(ours.len() >= 2, "{kind}: {listing}");
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
    for args in
        [&["-b", "nope", "x", "true"][..], &["-w"], &["--bogus", "x", "true"], &["x"], &["--slots", "0", "x", "true"]]
    {
        let output = run(args);
        let code = output.status.code();
        assert!(code == Some(64) || code == Some(70), "{args:?}: {code:?}");
        assert!(!output.stderr.is_empty(), "{args:?} says why");
    }
    assert_eq!(run(&["x-cmd-missing", "/nonexistent/program"]).status.code(), Some(127));
}
