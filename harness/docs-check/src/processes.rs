//! The processes a file's blocks started, found by the session they share (`procfs`) and
//! stopped with signals (`nix`).

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use procfs::process::{all_processes, Process};

/// Whether `pid` still runs: a zombie its shell has not reaped yet has stopped.
pub fn running(pid: i32) -> bool {
    Process::new(pid)
        .and_then(|process| process.stat())
        .is_ok_and(|stat| stat.state != 'Z')
}

/// The processes of session `session`, zombies aside: everything a file's blocks started,
/// whatever process group it moved to.
fn in_session(session: i32) -> Vec<i32> {
    all_processes()
        .into_iter()
        .flatten()
        .filter_map(|process| process.ok()?.stat().ok())
        .filter(|stat| stat.session == session && stat.state != 'Z')
        .map(|stat| stat.pid)
        .collect()
}

/// Asks the process group `group` to stop (SIGTERM), as Ctrl-C in its terminal would.
pub fn terminate_group(group: i32) {
    // Already gone is as good as stopped.
    let _ = killpg(Pid::from_raw(group), Signal::SIGTERM);
}

/// Waits up to `grace` for every process of session `session` to stop, then kills what is left.
pub fn stop_session(session: i32, grace: Duration) {
    let deadline = Instant::now() + grace;
    while !in_session(session).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    for pid in in_session(session) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_runs_and_is_in_its_own_session() {
        let pid = i32::try_from(std::process::id()).unwrap();
        assert!(running(pid));
        let session = Process::myself().unwrap().stat().unwrap().session;
        assert!(in_session(session).contains(&pid));
    }

    #[test]
    fn a_session_is_stopped_with_what_moved_to_a_group_of_its_own() {
        // `setsid` makes the shell a session's leader, as `Session::start` does; the `sleep`s
        // it starts in a group of their own (`set -m`) are still in its session.
        let mut shell = std::process::Command::new("setsid")
            .args(["bash", "-c", "set -m; sleep 60 & sleep 60 & wait"])
            .spawn()
            .unwrap();
        let session = i32::try_from(shell.id()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while in_session(session).len() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(in_session(session).len(), 3, "the shell and its two sleeps");
        terminate_group(session);
        let _ = shell.wait();
        stop_session(session, Duration::from_secs(1));
        // SIGKILL is delivered, not waited for.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !in_session(session).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(in_session(session).is_empty());
    }
}
