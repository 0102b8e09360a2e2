//! The README's commands, run exactly as written: every `sh` block of its "Two commands" section is read
//! from `README.md` itself, so a command changed there is the command tested here.
//!
//! The first block (`bash .ci/lab-demo`, `bash .ci/run`) is the release build and this very test run;
//! its headless branch is the `serve` line of the second block. Every other line runs in a fresh
//! folder through `sh`, with the three programs first on the `PATH` and the connector's folders,
//! channel and secret store pointed into that folder by their environment variables (never by
//! changing the command). A line ending in `&` is a lab: it is started and waited for (its endpoints
//! file), and stopped with SIGINT at the end. A line whose comment says `exit code N` must end with N;
//! every other line with 0.

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SERVICE: &str = env!("CARGO_BIN_EXE_exchange-connector-service");

/// The `sh` blocks of the README's "Two commands" section, each a list of command lines.
fn readme_blocks() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let start = readme
        .find("## Two commands")
        .expect("the README has a 'Two commands' section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |n| n + 3)];
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in section.lines() {
        match (&mut current, line.trim()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), l) if !l.is_empty() && !l.starts_with('#') => block.push(l.to_string()),
            _ => {}
        }
    }
    blocks
}

/// A command line without its trailing comment, and the exit code the comment announces (0 if none).
fn command_and_exit_code(line: &str) -> (String, i32) {
    let (command, comment) = match line.find("  #") {
        Some(n) => (&line[..n], &line[n..]),
        None => (line, ""),
    };
    let code = comment
        .split("exit code ")
        .nth(1)
        .and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0);
    (command.trim().to_string(), code)
}

/// The folder the README's commands run in, and the labs they started.
struct Session {
    dir: tempfile::TempDir,
    /// Shell variables set by earlier lines (`CB=$(...)`).
    variables: Vec<(String, String)>,
    labs: Vec<Child>,
}

impl Session {
    fn new() -> Session {
        Session {
            dir: tempfile::tempdir().unwrap(),
            variables: Vec::new(),
            labs: Vec::new(),
        }
    }

    fn sh(&self, script: &str) -> Command {
        let programs = Path::new(SERVICE).parent().unwrap();
        let path = std::env::join_paths(std::iter::once(programs.to_path_buf()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(script)
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env(
                "EXCHANGE_CONNECTOR_CONFIG_DIR",
                self.dir.path().join("config"),
            )
            .env(
                "EXCHANGE_CONNECTOR_CHANNEL",
                self.dir.path().join("cli.sock"),
            )
            .env("EXCHANGE_CONNECTOR_SECRET_STORE", "file")
            .env_remove("EXCHANGE_CONNECTOR_INSTANCE")
            .envs(self.variables.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        c
    }

    /// Runs one README line; returns its output (stdout then stderr).
    fn run(&mut self, line: &str) -> String {
        let (command, expected) = command_and_exit_code(line);
        if let Some(lab) = command.strip_suffix('&') {
            self.start_lab(lab.trim());
            return String::new();
        }
        // `NAME=$(...)`: keep the value for the next lines, as the shell would.
        if let Some((name, _)) = command.split_once('=')
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        {
            let out = self
                .sh(&format!("{command}\nprintf %s \"${name}\""))
                .output()
                .unwrap();
            assert!(out.status.success(), "{line}: {}", text(&out));
            let value = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(!value.is_empty(), "{line} set nothing");
            self.variables.push((name.to_string(), value));
            return String::new();
        }
        let out = self.sh(&command).output().unwrap();
        let printed = text(&out);
        assert_eq!(
            out.status.code(),
            Some(expected),
            "`{line}` ended with {:?}, the README says {expected}:\n{printed}",
            out.status
        );
        printed
    }

    /// Starts a `serve` line and waits until its endpoints file is written (the lab listens then).
    fn start_lab(&mut self, command: &str) {
        let endpoints = self.endpoints_file(command);
        let _ = std::fs::remove_file(&endpoints);
        let lab = self
            .sh(&format!("exec {command}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.labs.push(lab);
        let deadline = Instant::now() + Duration::from_secs(120);
        while !endpoints.exists() {
            assert!(
                Instant::now() < deadline,
                "`{command}` wrote no {}",
                endpoints.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Written, then renamed into place or still being written: wait until it parses.
        while std::fs::read_to_string(&endpoints)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_none()
        {
            assert!(
                Instant::now() < deadline,
                "{} is not JSON",
                endpoints.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn endpoints_file(&self, command: &str) -> PathBuf {
        let words: Vec<&str> = command.split_whitespace().collect();
        let at = words
            .iter()
            .position(|w| *w == "--endpoints-file")
            .unwrap_or_else(|| panic!("`{command}` names no --endpoints-file"));
        self.dir.path().join(words[at + 1])
    }

    /// Stops every lab with SIGINT (Ctrl-C) and checks it ended cleanly.
    fn stop_labs(&mut self) {
        for mut lab in self.labs.drain(..) {
            let killed = Command::new("kill")
                .args(["-INT", &lab.id().to_string()])
                .status()
                .unwrap();
            assert!(killed.success());
            let exit = lab.wait().unwrap();
            assert!(exit.success(), "the lab ended with {exit:?}");
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for lab in &mut self.labs {
            let _ = lab.kill();
            let _ = lab.wait();
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn readme_comment_parsing() {
    assert_eq!(
        command_and_exit_code("a sync --full            # held (exit code 2): a third"),
        ("a sync --full".to_string(), 2)
    );
    assert_eq!(
        command_and_exit_code("a status"),
        ("a status".to_string(), 0)
    );
}

/// The headless path as the README writes it: the lab, `configure --lab-endpoints` (with the lab's
/// PowerShell stand-in), a full sync the guard holds, the confirmed one that succeeds, `status`; then
/// the control API, and a scenario file served.
#[test]
fn the_readme_commands_work_as_written() {
    let blocks = readme_blocks();
    assert_eq!(
        blocks.first().map(Vec::as_slice),
        Some(["bash .ci/lab-demo".to_string(), "bash .ci/run".to_string()].as_slice()),
        "the first block is the release build and the test run; a new command there needs a test here"
    );
    assert_eq!(
        blocks.len(),
        4,
        "every sh block of the README's commands section is run here: {blocks:?}"
    );
    let [_, headless, control, scenario] = &blocks[..] else {
        unreachable!()
    };
    let mut session = Session::new();

    let mut outputs = Vec::new();
    for line in headless {
        outputs.push((line.clone(), session.run(line)));
    }
    let printed = |needle: &str| -> &str {
        &outputs
            .iter()
            .find(|(line, _)| command_and_exit_code(line).0.ends_with(needle))
            .unwrap_or_else(|| panic!("the README has no `{needle}` command"))
            .1
    };
    let configured = printed("configure --lab-endpoints lab/endpoints.json");
    assert!(
        configured.contains("through the lab's stand-in"),
        "{configured}"
    );
    assert!(session.dir.path().join("lab/lab-pwsh").is_file());
    let held = printed("sync --full");
    assert!(held.contains("full sync HeldByGuard"), "{held}");
    let confirmed = printed("sync --full --confirm");
    assert!(confirmed.contains("full sync Succeeded"), "{confirmed}");
    assert!(!confirmed.contains("cannot start"), "{confirmed}");
    let status = printed("status");
    let last_full = status
        .lines()
        .find(|l| l.starts_with("last full sync:"))
        .unwrap_or_else(|| panic!("no last full sync in:\n{status}"));
    assert!(
        last_full.contains("succeeded") && !last_full.contains("never"),
        "{status}"
    );

    let mut status_line = None;
    for line in control {
        let out = session.run(line);
        let command = command_and_exit_code(line).0;
        if command.starts_with("CB=") {
            continue;
        }
        if command.contains("-X POST") {
            // 204 No Content: a refusal would answer a JSON error.
            assert!(out.trim().is_empty(), "`{line}` was refused: {out}");
            continue;
        }
        let answer: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|_| panic!("`{line}` answered no JSON: {out}"));
        if command.ends_with("$CB/status") {
            assert_eq!(answer["devices"], 500, "{out}");
            status_line = Some(line);
        } else {
            assert!(
                answer.as_array().is_some_and(|a| !a.is_empty()),
                "`{line}` listed no device: {out}"
            );
        }
    }
    // The POST took effect: the lab's status shows CAS01 stopped.
    let status_line = status_line.expect("the control block reads $CB/status");
    let answer: serde_json::Value = serde_json::from_str(&session.run(status_line)).unwrap();
    let cas01 = answer["casServers"]
        .as_array()
        .and_then(|servers| servers.iter().find(|c| c["name"] == "CAS01"))
        .unwrap_or_else(|| panic!("no CAS01 in {answer}"));
    assert_eq!(cas01["running"], false, "{answer}");

    session.stop_labs();
    for line in scenario {
        session.run(line);
    }
    assert!(session.dir.path().join("my-org.json").is_file());
    session.stop_labs();
}
