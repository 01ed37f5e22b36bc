//! The README's commands stay true: the test command works on a fresh Debian machine as root (no sudo)
//! and as a user with sudo, `.ci/run` runs the same line, and the "A first mail" block works when
//! pasted in one go (here with the freshly built binary in place of `cargo run --release --`).

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

mod common;

const README: &str = include_str!("../README.md");
const CI_RUN: &str = include_str!("../.ci/run");

/// The lines of the fenced ```sh blocks, with the heading each block follows.
fn sh_blocks() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut block: Option<Vec<String>> = None;
    for line in README.lines() {
        match &mut block {
            Some(b) if line.starts_with("```") => {
                out.push((heading.clone(), std::mem::take(b)));
                block = None;
            }
            Some(b) => b.push(line.to_string()),
            None if line.starts_with("```sh") => block = Some(Vec::new()),
            None if line.starts_with('#') => heading = line.to_string(),
            None => {}
        }
    }
    out
}

fn test_command() -> String {
    let lines: Vec<String> = sh_blocks()
        .into_iter()
        .flat_map(|(_, b)| b)
        .filter(|l| l.contains("cargo test --workspace"))
        .collect();
    assert_eq!(lines.len(), 1, "one test command in the README: {lines:?}");
    lines[0].clone()
}

#[test]
fn no_readme_command_starts_with_sudo() {
    for (heading, block) in sh_blocks() {
        for l in block {
            assert!(
                !l.trim_start().starts_with("sudo"),
                "{heading}: `{l}` fails where sudo is missing (a fresh root Debian machine)"
            );
        }
    }
}

#[test]
fn the_test_command_updates_apt_first_and_works_with_and_without_sudo() {
    let cmd = test_command();
    let update = cmd.find("apt-get update").expect("apt-get update");
    let install = cmd.find("apt-get install").expect("apt-get install");
    assert!(update < install, "{cmd}");
    // Every apt-get runs through `$(command -v sudo)`: sudo when present, nothing as root without it.
    assert_eq!(
        cmd.matches("apt-get").count(),
        cmd.matches("$(command -v sudo) apt-get").count(),
        "{cmd}"
    );
    // What the shell makes of it with no sudo on the PATH: apt-get runs directly.
    let dir = tempfile::tempdir().unwrap();
    let echo_cmd = cmd
        .replace("apt-get", "echo apt-get")
        .replace("cargo test", "echo cargo test");
    let o = Command::new("/bin/bash")
        .arg("-c")
        .arg(&echo_cmd)
        // `echo` is a builtin: a PATH with nothing on it still runs the line.
        .env("PATH", dir.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(out.starts_with("apt-get update\napt-get install"), "{out}");
    // With a sudo on the PATH, apt-get goes through it.
    let fake_sudo = dir.path().join("sudo");
    std::fs::write(&fake_sudo, "#!/bin/sh\necho sudo \"$@\"\n").unwrap();
    std::fs::set_permissions(
        &fake_sudo,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let o = Command::new("/bin/bash")
        .arg("-c")
        .arg(&echo_cmd)
        .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with("sudo echo apt-get update\nsudo echo apt-get install"),
        "{out}"
    );
}

#[test]
fn ci_runs_the_readme_test_command_verbatim() {
    let cmd = test_command();
    assert!(
        CI_RUN.lines().any(|l| l == cmd),
        ".ci/run must contain the README's test command `{cmd}`"
    );
}

/// The "A first mail" block pasted as one piece into bash: it must wait for the server before swaks.
/// Uses the default ports (2525, 9025, IMAP 2143), as the README does.
#[test]
fn a_first_mail_works_when_pasted_in_one_go() {
    for port in [2525, 9025, 2143] {
        // A connect, not a bind: the last run's connections in TIME-WAIT make a plain bind fail.
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} is in use: this test runs the README's block on the default ports"
        );
    }
    let (_, block) = sh_blocks()
        .into_iter()
        .find(|(h, _)| h == "## A first mail")
        .expect("an \"A first mail\" section");
    let bin = common::BIN;
    // The binary is built already; `cargo run --release --` would build a release one first. A slow
    // start is simulated so a block that does not wait for the port fails here too.
    let script = block
        .join("\n")
        .replace(
            "cargo run --release -- serve &",
            &format!("(sleep 2; exec {bin} serve) &"),
        )
        .replace("cargo run --release --", bin);
    let script = format!("{script}\nstatus=$?\nkill $! 2>/dev/null; wait\nexit $status\n");
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new("/bin/bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        // Its own process group, so a timeout can stop the server it started too.
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(120) {
            // SAFETY: kill(2) on the process group this test created.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            panic!("the block did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(
        out.lines().filter(|l| l.trim_end() == "Subject: hello").count(),
        2,
        "mailbox cat and the IMAP fetch (curl) each print the message; stdout:\n{out}\nstderr:\n{err}"
    );
}
