//! The shared integration-test harness: start `peregrine agent`, `server`
//! or `run`, wait for its `ready` line, collect alerts from a JSON-lines
//! file, stop it with SIGTERM and check its exit; plus the small helpers
//! (repository paths, waiting, HTTP GET, free ports) the tests share.
//!
//! Each test file includes it with `mod common;` and uses what it needs.
#![allow(dead_code)]

mod receiver;

#[allow(unused_imports)]
pub use receiver::{http_receiver, Request};

use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a process may take to print its `ready` line.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A path in the repository (`repo("rules/peregrine")`).
pub fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

/// A path in the repository as a string, for command-line arguments.
pub fn repo_str(p: &str) -> String {
    repo(p).display().to_string()
}

/// Falco's stable rules (rules/falco-upstream/falco_rules.yaml).
pub fn falco_rules() -> String {
    repo_str("rules/falco-upstream/falco_rules.yaml")
}

/// A fresh, empty directory `pg-TAG-PID` under the temporary directory.
pub fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pg-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `bash scripts/NAME`, asserting it succeeded; its output.
pub fn script(name: &str) -> Output {
    let out = Command::new("bash").arg(repo(name)).output().unwrap();
    assert!(
        out.status.success(),
        "{name} (dockerd, containerd and the like must be able to run here): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Build the Docker test image (scripts/test-image.sh).
pub fn test_image() {
    script("scripts/test-image.sh");
}

/// A `Command` for the peregrine binary built for these tests.
pub fn peregrine() -> Command {
    Command::new(env!("CARGO_BIN_EXE_peregrine"))
}

/// A peregrine process to start: a builder over its command line.
pub struct Peregrine {
    cmd: Command,
    stdout: Option<Stdio>,
    term_on_drop: bool,
}

impl Peregrine {
    /// `peregrine agent --ready`.
    pub fn agent() -> Peregrine {
        Peregrine::with_args(env!("CARGO_BIN_EXE_peregrine"), &["agent", "--ready"])
    }

    /// `peregrine server --ready`.
    pub fn server() -> Peregrine {
        Peregrine::with_args(env!("CARGO_BIN_EXE_peregrine"), &["server", "--ready"])
    }

    /// `peregrine run --ready` (agent, server and dashboard in one).
    pub fn run() -> Peregrine {
        Peregrine::with_args(env!("CARGO_BIN_EXE_peregrine"), &["run", "--ready"])
    }

    /// `BIN ARGS…` (another copy of the binary, or arguments of its own).
    pub fn with_args(bin: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Peregrine {
        let mut cmd = Command::new(bin);
        cmd.args(args);
        Peregrine {
            cmd,
            stdout: None,
            term_on_drop: false,
        }
    }

    /// `--rules PATH`.
    pub fn rules(self, path: impl AsRef<std::ffi::OsStr>) -> Peregrine {
        self.arg("--rules").arg(path)
    }

    /// `--output SPEC`.
    pub fn output(self, spec: impl AsRef<std::ffi::OsStr>) -> Peregrine {
        self.arg("--output").arg(spec)
    }

    /// `--output file:PATH`.
    pub fn output_file(self, path: &Path) -> Peregrine {
        self.output(format!("file:{}", path.display()))
    }

    /// Metrics on a free port (`--metrics-addr 127.0.0.1:0`).
    pub fn metrics(self) -> Peregrine {
        self.args(["--metrics-addr", "127.0.0.1:0"])
    }

    /// `--no-metrics`.
    pub fn no_metrics(self) -> Peregrine {
        self.arg("--no-metrics")
    }

    /// One more argument.
    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Peregrine {
        self.cmd.arg(a);
        self
    }

    /// More arguments.
    pub fn args<I, S>(mut self, a: I) -> Peregrine
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(a);
        self
    }

    /// An environment variable for the process.
    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Peregrine {
        self.cmd.env(k, v);
        self
    }

    /// Environment variables for the process.
    pub fn envs(mut self, vars: &[(&str, &str)]) -> Peregrine {
        self.cmd.envs(vars.iter().copied());
        self
    }

    /// Remove an inherited environment variable.
    pub fn env_remove(mut self, k: &str) -> Peregrine {
        self.cmd.env_remove(k);
        self
    }

    /// The working directory of the process.
    pub fn current_dir(mut self, d: &Path) -> Peregrine {
        self.cmd.current_dir(d);
        self
    }

    /// Keep stdout: [`Running::stop`] returns it (otherwise it is discarded).
    pub fn capture_stdout(self) -> Peregrine {
        self.stdout(Stdio::piped())
    }

    /// Where its stdout goes (discarded unless set).
    pub fn stdout(mut self, out: Stdio) -> Peregrine {
        self.stdout = Some(out);
        self
    }

    /// When dropped, SIGTERM first and kill only after 10 s (a clean
    /// shutdown for a process a test leaves running to the end).
    pub fn term_on_drop(mut self) -> Peregrine {
        self.term_on_drop = true;
        self
    }

    /// Start it and wait until it has printed its `ready` line on stderr
    /// (stderr is drained from then on so the process never blocks on it).
    pub fn start(mut self) -> Running {
        let out = self.stdout.take().unwrap_or_else(Stdio::null);
        let child = self
            .cmd
            .stdout(out)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{:?}: {e}", self.cmd));
        let mut running = Running {
            child,
            log: String::new(),
            all: Arc::new(Mutex::new(String::new())),
            term_on_drop: self.term_on_drop,
        };
        running.log = running.wait_ready();
        running
    }
}

/// A started peregrine process; killed when dropped (a failed assertion
/// must not leave it running).
pub struct Running {
    child: Child,
    log: String,
    all: Arc<Mutex<String>>,
    term_on_drop: bool,
}

impl Running {
    fn wait_ready(&mut self) -> String {
        let mut err = self.child.stderr.take().unwrap();
        let mut seen = String::new();
        let mut buf = [0u8; 512];
        let deadline = Instant::now() + READY_TIMEOUT;
        while !seen.lines().any(|l| l.starts_with("ready")) || !seen.ends_with('\n') {
            let n = err.read(&mut buf).unwrap();
            assert!(n > 0 && Instant::now() < deadline, "did not start: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        self.all.lock().unwrap().push_str(&seen);
        let all = self.all.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                all.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        seen
    }

    /// What it logged on stderr up to and including its `ready` line.
    pub fn log(&self) -> &str {
        &self.log
    }

    /// Everything it has logged on stderr so far.
    pub fn log_now(&self) -> String {
        self.all.lock().unwrap().clone()
    }

    /// The `ready …` line.
    pub fn ready_line(&self) -> &str {
        self.log.lines().find(|l| l.starts_with("ready")).unwrap()
    }

    /// The metrics address of `ready metrics=ADDR` ("" without one).
    pub fn metrics_addr(&self) -> String {
        self.log
            .lines()
            .find_map(|l| l.strip_prefix("ready metrics="))
            .unwrap_or_default()
            .to_string()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send `sig` to it.
    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// The child itself (to check on it while it runs).
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// SIGTERM, wait, assert a clean exit; what it wrote on stdout.
    pub fn stop(mut self) -> String {
        self.signal(libc::SIGTERM);
        let mut stdout = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            o.read_to_string(&mut stdout).unwrap();
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit: {status:?}");
        stdout
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.term_on_drop {
            terminate(&mut self.child);
        } else {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// SIGTERM `child`, wait up to 10 s for it to exit, then kill it.
fn terminate(child: &mut Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Any child process (prometheus, a helper daemon): SIGTERM when dropped,
/// killed if it has not exited 10 s later.
pub struct Terminated(pub Child);

impl Drop for Terminated {
    fn drop(&mut self) {
        terminate(&mut self.0);
    }
}

/// Every alert in a JSON-lines file (none if it does not exist yet).
pub fn alerts(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect()
}

/// The first alert of `path` that `pred` accepts, waiting 20 s at most.
pub fn wait_for_alert(path: &Path, pred: impl Fn(&Value) -> bool) -> Value {
    wait_for_alert_as(path, "matching", pred)
}

/// [`wait_for_alert`], saying `what` was waited for if none comes.
pub fn wait_for_alert_as(path: &Path, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(a) = alerts(path).into_iter().find(|a| pred(a)) {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "no alert {what} in {}; alerts: {:?}",
            path.display(),
            alerts(path)
                .iter()
                .map(|a| a["rule"].clone())
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The first alert of `rule` in `path`, waiting 20 s at most.
pub fn wait_for_rule(path: &Path, rule: &str) -> Value {
    wait_for_alert(path, |a| a["rule"] == rule)
}

/// Wait until `done` holds (every 100 ms), failing after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Wait until `f` gives a value (every 100 ms), failing after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET PATH` over HTTP/1.0 to `addr`; the whole response, headers included.
pub fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `cat PATH`, its output discarded, run to its end; its pid and status.
fn cat_status(path: &Path) -> (u32, std::process::ExitStatus) {
    let child = Command::new("cat")
        .arg(path)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    (pid, child.wait_with_output().unwrap().status)
}

/// Read `path` with `cat` (an open for the rules to see); its pid.
pub fn cat(path: &Path) -> u32 {
    cat_status(path).0
}

/// Read /etc/shadow with `cat` (asserting it succeeded); its pid.
pub fn cat_shadow() -> u32 {
    let (pid, status) = cat_status(Path::new("/etc/shadow"));
    assert!(status.success(), "cat /etc/shadow: {status}");
    pid
}

/// `peregrine ARGS…` started and ready, stopped by SIGTERM when dropped
/// (killed if it has not exited 10 s later).
pub fn spawn_ready(args: &[&str]) -> Running {
    Peregrine::with_args(env!("CARGO_BIN_EXE_peregrine"), args)
        .term_on_drop()
        .start()
}

/// The default rule files in load order: Falco's stable rules, then
/// rules/peregrine/*.yaml sorted by name.
pub fn default_rule_files() -> Vec<String> {
    let mut own: Vec<String> = std::fs::read_dir(repo("rules/peregrine"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".yaml"))
        .collect();
    own.sort();
    own.insert(0, falco_rules());
    own
}

/// `--rules F` for each of `files`.
pub fn rule_args(files: &[String]) -> Vec<String> {
    files
        .iter()
        .flat_map(|f| ["--rules".to_string(), f.clone()])
        .collect()
}

/// Run `cmd` to its end, asserting it succeeded (its stdout and stderr
/// in the message otherwise); its output.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} does not run: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run `cmd` to its end, asserting it failed; its stderr.
pub fn run_failing(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} does not run: {e}"));
    assert!(!out.status.success(), "{cmd:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}
