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
    let status = ends_within_10s(&mut child, |_| {});
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

/// The watch asks once a second: a lock lost in COMMAND's last second, or
/// during a COMMAND shorter than that, went unsaid, exit 0 (a review's
/// find, with a second holder run meanwhile).
#[test]
fn a_lock_lost_just_before_command_ends_is_told() {
    let path = std::env::temp_dir().join(support::unique_name("cmd-lost-late"));
    let output = Command::new(env!("CARGO_BIN_EXE_exakat-lock"))
        .args(["-b", "flock", "-o", &format!("path={}", path.display()), "-n", "late"])
        .args(["sh", "-c", &format!("rm {}; sleep 0.2", path.display())])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(70), "{errors}");
    assert!(errors.contains("lost the lock late while sh ran (it is no longer held)"), "{errors}");
}

/// `-o` values keep their bytes: a path that is not UTF-8 was rewritten
/// (U+FFFD), so the command and `flock(1)` (or PHP) on that path locked
/// two files.
#[test]
fn option_values_that_are_not_utf8_are_kept_as_they_are() {
    use std::os::unix::ffi::OsStrExt;
    let dir = std::env::temp_dir().join(support::unique_name("cmd-bytes"));
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join(std::ffi::OsStr::from_bytes(b"\xff.lock"));
    let mut option = std::ffi::OsString::from("path=");
    option.push(&path);
    let status = Command::new(env!("CARGO_BIN_EXE_exakat-lock"))
        .args(["-b", "flock", "-o"])
        .arg(&option)
        .args(["bytes", "flock", "-n", "-E", "42"])
        .arg(&path)
        .arg("true")
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(42), "flock(1) on the same path must find it held");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `--slots N` and `-o slots=M` together: the first won, unsaid. (A
/// repeated `--slots` is a repeated flag: the last wins.)
#[test]
fn slots_given_twice_is_a_usage_error() {
    for flags in [
        &["--slots", "3", "-o", "slots=2"][..],
        &["-o", "slots=2", "--slots", "3"],
        &["-o", "slots=2", "-o", "slots=3"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_exakat-lock")).args(flags).args(["s", "true"]).output().unwrap();
        assert_eq!(output.status.code(), Some(64), "{flags:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("option \"slots\" given twice"), "{flags:?}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_exakat-lock"))
        .args(["--slots", "2", "--slots", "3", &support::unique_name("slots-last"), "true"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
}

/// An empty `TMPDIR` is no `TMPDIR`, as for PHP's `sys_get_temp_dir()`:
/// the command locked a file in the current directory, and excluded
/// neither PHP nor itself run from elsewhere.
#[test]
fn an_empty_tmpdir_means_tmp_as_for_php() {
    let dir = std::env::temp_dir().join(support::unique_name("cmd-tmpdir"));
    std::fs::create_dir(&dir).unwrap();
    let name = support::unique_name("empty-tmpdir");
    let file = format!("exakat_lock.{name}.lock");
    let status = Command::new(env!("CARGO_BIN_EXE_exakat-lock"))
        .current_dir(&dir)
        .env("TMPDIR", "")
        .args(["-b", "flock", &name, "sh", "-c", &format!("test -e /tmp/{file} && test ! -e {file}")])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0), "the lock file is /tmp's");
    let _ = std::fs::remove_file(format!("/tmp/{file}"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// `exakat-lock ARGS...` leading a session of its own whose controlling
/// terminal is a new pty; the pty's master.
fn in_a_terminal(args: &[&str]) -> (Child, std::os::fd::OwnedFd) {
    let (mut command, master) = terminal_command(args);
    (command.stdout(Stdio::null()).spawn().unwrap(), master)
}

/// [`in_a_terminal`]'s command, not started yet.
fn terminal_command(args: &[&str]) -> (Command, std::os::fd::OwnedFd) {
    use std::os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::process::CommandExt,
    };
    // Close-on-exec from the start: the other tests' children, forked
    // meanwhile, would keep a copy of the master, and the terminal open.
    // SAFETY: plain calls; each descriptor is checked and owned at once.
    let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    assert!(master >= 0);
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    assert_eq!(unsafe { libc::grantpt(master.as_raw_fd()) }, 0);
    assert_eq!(unsafe { libc::unlockpt(master.as_raw_fd()) }, 0);
    let mut name = [0 as libc::c_char; 128];
    assert_eq!(unsafe { libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()) }, 0);
    let slave = unsafe { libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    assert!(slave >= 0);
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    let mut command = Command::new(env!("CARGO_BIN_EXE_exakat-lock"));
    command.args(args).stdin(Stdio::from(slave)).stderr(Stdio::null());
    // SAFETY: setsid and ioctl are async-signal-safe: a new session whose
    // controlling terminal is the pty, its stdin by now.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    (command, master)
}

/// A COMMAND script that, on `signal`, writes its name to a marker file
/// and exits; it touches a ready file once its trap is set. The script,
/// the marker, the ready file.
fn trapping(signal: &str) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let marker = std::env::temp_dir().join(support::unique_name(&format!("cmd-{signal}")));
    let ready = marker.with_extension("ready");
    let script = format!(
        "trap 'echo {signal} > {}; exit 3' {signal}; touch {}; while :; do sleep 0.05; done",
        marker.display(),
        ready.display()
    );
    (script, marker, ready)
}

/// Waits up to 5 s for COMMAND to say it is ready (its trap set), in `ready`.
fn wait_ready(ready: &std::path::Path) {
    let started = Instant::now();
    while !ready.exists() {
        assert!(started.elapsed() < Duration::from_secs(5), "COMMAND never got ready");
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = std::fs::remove_file(ready);
}

/// Waits up to 10 s for `child` to end, calling `meanwhile` with its pid
/// every 10 ms; past that, kills it and fails: COMMAND ran on.
fn ends_within_10s(child: &mut Child, mut meanwhile: impl FnMut(u32)) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            kill9(child.id());
            let _ = child.wait();
            panic!("COMMAND ran on for 10 s");
        }
        meanwhile(child.id());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for `child` to end ([`ends_within_10s`]); what `marker` then says.
fn ends_having_written(mut child: Child, marker: &std::path::Path) -> String {
    ends_within_10s(&mut child, |_| {});
    let said = std::fs::read_to_string(marker).unwrap_or_default();
    let _ = std::fs::remove_file(marker);
    said
}

/// A session leader alone gets its terminal's hang-up: the command took it
/// for one its whole process group had, and COMMAND ran on, holding the
/// lock, after the terminal closed (a review's find, in a pty).
#[test]
fn a_hang_up_of_the_terminal_reaches_command_when_the_command_leads_the_session() {
    let (script, marker, ready) = trapping("HUP");
    let (child, master) = in_a_terminal(&["-b", "socket", &support::unique_name("hup"), "sh", "-c", &script]);
    wait_ready(&ready);
    drop(master); // the terminal hangs up
    assert_eq!(ends_having_written(child, &marker), "HUP\n", "COMMAND got SIGHUP");
}

/// Ctrl-C goes to the terminal's foreground process group: a COMMAND that
/// moved to a group of its own (`timeout` does) never had it, and Ctrl-C
/// did nothing (a review's find).
#[test]
fn a_ctrl_c_reaches_a_command_in_a_process_group_of_its_own() {
    let (script, marker, ready) = trapping("INT");
    let (child, master) =
        in_a_terminal(&["-b", "socket", &support::unique_name("int"), "timeout", "30", "sh", "-c", &script]);
    wait_ready(&ready);
    let mut terminal = std::fs::File::from(master);
    std::io::Write::write_all(&mut terminal, b"\x03").unwrap(); // ^C
    assert_eq!(ends_having_written(child, &marker), "INT\n", "COMMAND got SIGINT");
}

/// Signals passed on more often than the watch asks restarted its wait
/// each time, and the lost lock went unseen while they came.
#[test]
fn signals_passed_on_do_not_keep_the_watch_from_asking() {
    let path = std::env::temp_dir().join(support::unique_name("cmd-lost-signals"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_exakat-lock"))
        .args(["-b", "flock", "-o", &format!("path={}", path.display()), "-n", "busy"])
        .args(["sh", "-c", &format!("trap : HUP; rm {}; echo in; while :; do sleep 0.05; done", path.display())])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "in\n", "the command runs once the lock is held");
    let started = Instant::now();
    let mut signalled: Option<Instant> = None;
    let status = ends_within_10s(&mut child, |pid| {
        if signalled.is_none_or(|at| at.elapsed() >= Duration::from_millis(300)) {
            // SAFETY: a signal to our own child.
            unsafe { libc::kill(i32::try_from(pid).unwrap(), libc::SIGHUP) };
            signalled = Some(Instant::now());
        }
    });
    let ended = started.elapsed();
    let mut errors = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut errors).unwrap();
    // Told by the watch, while COMMAND ran (not by the release after it).
    assert!(errors.contains("lost the lock busy while sh ran (it is no longer held): sending it SIGTERM"), "{errors}");
    assert_eq!(status.code(), Some(70), "{errors}");
    assert!(ended < Duration::from_secs(3), "seen after {ended:?}");
}

/// Started with SIGCHLD ignored, COMMAND was reaped unseen: "cannot wait",
/// exit 70 instead of its status. `flock(1)` resets it.
#[test]
fn sigchld_ignored_at_start_does_not_lose_command_status() {
    let name = support::unique_name("chld");
    let script = format!("trap '' CHLD; exec {} -b socket {name} sh -c 'exit 3'", env!("CARGO_BIN_EXE_exakat-lock"));
    // bash passes an ignored SIGCHLD on to what it runs; dash does not.
    assert_eq!(Command::new("bash").args(["-c", &script]).status().unwrap().code(), Some(3));
}

/// `-s` where the backend has no shared mode is a usage error (64), as
/// the docs say of a flag that does not apply; it was a lock error (70).
#[test]
fn shared_on_a_backend_without_a_shared_mode_is_a_usage_error() {
    for backend in ["socket", "tcp"] {
        let output = Command::new(env!("CARGO_BIN_EXE_exakat-lock"))
            .args(["-b", backend, "-s", &support::unique_name("no-shared"), "true"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(64), "{backend}: {}", String::from_utf8_lossy(&output.stderr));
    }
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
    let target = Target::new(BackendKind::Socket, "cmd-ctrl-c");
    let script = "trap 'echo INT' INT; echo in; sleep 2 & wait; sleep 0.3 & wait; echo done";
    let (mut started, master) = terminal_command(&["-b", "socket", &target.name, "sh", "-c", script]);
    let mut child = started.stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "in\n");
    // The terminal's interrupt character: the kernel signals the whole
    // foreground process group, exakat-lock and COMMAND alike.
    // Kept open until COMMAND ends: closed, the terminal hangs up.
    let mut terminal = std::fs::File::from(master);
    std::io::Write::write_all(&mut terminal, b"\x03").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    child.wait().unwrap();
    drop(terminal);
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
    // Something to list: with nothing held anywhere, list writes nothing.
    let target = Target::new(BackendKind::Socket, "cmd-full");
    let mut holder = target.spawn("hold", &[]);
    holder.wait_held();
    for args in [&["list"][..], &["--help"]] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_exakat-lock")).args(args).stdout(full).output().unwrap();
        assert_eq!(output.status.code(), Some(74), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

/// As the first process of a PID namespace (a container's entrypoint),
/// `exakat-lock` is sent no signal it has no handler for: `docker stop`'s
/// SIGTERM was dropped while it waited for the lock, and COMMAND started
/// after it (a review's find).
#[test]
fn as_a_containers_first_process_a_sigterm_ends_the_wait() {
    let target = Target::new(BackendKind::Socket, "cmd-init");
    let mut holder = target.spawn("hold", &[]);
    holder.wait_held();
    let waiting = command(&target, &[], &["sh", "-c", "echo COMMAND started"]);
    let mut contained = Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child"])
        .arg(waiting.get_program())
        .args(waiting.get_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The waiting `exakat-lock`, pid 1 inside: unshare's child, once it
    // catches SIGTERM (`SigCgt`), or half a second after it started (a
    // build without the handler).
    let started = Instant::now();
    let mut seen_at = None;
    let first_process = loop {
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", contained.id()));
        let child = children.ok().and_then(|c| c.split_whitespace().next().map(str::to_owned));
        let status = child.as_ref().and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok());
        if let (Some(pid), Some(status)) = (child, status.filter(|s| s.starts_with("Name:\texakat-lock"))) {
            let caught = status.lines().find_map(|l| l.strip_prefix("SigCgt:")).unwrap_or("0").trim().to_owned();
            let catching_term = u64::from_str_radix(&caught, 16).is_ok_and(|mask| mask & 1 << (libc::SIGTERM - 1) != 0);
            if catching_term || seen_at.get_or_insert_with(Instant::now).elapsed() > Duration::from_millis(500) {
                break pid.parse::<i32>().unwrap();
            }
        }
        if let Ok(Some(status)) = contained.try_wait() {
            eprintln!("skipped: no PID namespace here (unshare: {status})");
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "exakat-lock never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    // SAFETY: plain syscall on our own grandchild.
    unsafe { libc::kill(first_process, libc::SIGTERM) };
    let status = ends_within_10s(&mut contained, |_| {});
    let mut said = String::new();
    std::io::Read::read_to_string(&mut contained.stdout.take().unwrap(), &mut said).unwrap();
    assert_eq!(said, "", "COMMAND must not start after the SIGTERM");
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "a death by SIGTERM, as a shell says it");
    holder.finish();
}
