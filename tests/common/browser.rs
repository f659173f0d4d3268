//! Headless Chromium for the page tests: whether the tools are there, and
//! a driver for a Node Playwright script in tests/browser/ that takes one
//! JSON command per line on stdin and answers one JSON line on stdout
//! (`{"id", "ok", "value" | "error", "page"}`; id 0 when Chromium is up).

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Debian's chromium, or `HOTLINE_CHROMIUM`.
pub fn chromium() -> PathBuf {
    std::env::var_os("HOTLINE_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Are Chromium, node and playwright-core there? Under CI=true their
/// absence fails the test; otherwise it is skipped, loudly.
pub fn have_browser() -> bool {
    let mut missing = Vec::new();
    if !chromium().is_file() {
        missing.push(format!(
            "{} (Debian package chromium)",
            chromium().display()
        ));
    }
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !node {
        missing.push("node (Debian package nodejs)".to_owned());
    }
    if !repo()
        .join("tests/browser/node_modules/playwright-core/package.json")
        .is_file()
    {
        missing.push("tests/browser/node_modules (npm ci --prefix tests/browser)".to_owned());
    }
    if missing.is_empty() {
        return true;
    }
    let what = missing.join(", ");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the browser tests need {what}: scripts/test.sh installs them"
    );
    eprintln!("SKIPPED: the browser tests need {what} (scripts/test.sh installs them)");
    false
}

/// Where screenshots go when `HOTLINE_SCREENSHOTS` asks for them.
pub fn screenshots_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("HOTLINE_SCREENSHOTS")?);
    let dir = if dir.is_absolute() {
        dir
    } else {
        repo().join(dir)
    };
    std::fs::create_dir_all(&dir).unwrap();
    Some(dir)
}

/// The last `n` lines of the server's log, without the database's
/// statements (the test servers log at debug level).
pub fn log_tail(server_log: &Path, n: usize) -> String {
    let log = std::fs::read_to_string(server_log).unwrap_or_default();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| !l.contains(" sqlx::query: "))
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// One driver script and its Chromium.
pub struct Driver {
    script: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    answers: Receiver<Value>,
    stderr: Arc<Mutex<String>>,
    next: u64,
    server_log: PathBuf,
}

impl Driver {
    /// Runs `node tests/browser/SCRIPT ARGS` and waits for Chromium to be
    /// up; `server_log` is shown when a command fails.
    pub fn start(script: &'static str, args: &[OsString], server_log: &Path) -> Driver {
        let mut child = Command::new("node")
            .arg(repo().join("tests/browser").join(script))
            .args(args)
            .current_dir(repo())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("node runs tests/browser/{script}: {e}"));
        let (tx, answers) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) if v.get("id").is_some() => {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    _ => eprintln!("{script}: {line}"),
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let keep = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut k = keep.lock().unwrap_or_else(|e| e.into_inner());
                k.push_str(&line);
                k.push('\n');
            }
        });
        let stdin = child.stdin.take();
        let driver = Driver {
            script,
            child,
            stdin,
            answers,
            stderr,
            next: 1,
            server_log: server_log.to_owned(),
        };
        // The script says when Chromium is up (answer id 0).
        match driver.answers.recv_timeout(Duration::from_secs(60)) {
            Ok(v) if v["ok"] == true => {}
            other => driver.fail("launching Chromium", &format!("{other:?}"), &Value::Null),
        }
        driver
    }

    /// Fails the test with what the page knew, the script's log and the
    /// server's.
    pub fn fail(&self, what: &str, error: &str, state: &Value) -> ! {
        let stderr = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        panic!(
            "page: {what} failed: {error}\n--- what the page knew:\n{state:#}\n\
             --- {} stderr:\n{stderr}\n--- server log (last 120 lines, no SQL):\n{}",
            self.script,
            log_tail(&self.server_log, 120)
        );
    }

    /// Sends `cmd` with its own `timeout` (ms) and waits a little longer
    /// for the answer; fails the test, with what the page knew, on an error.
    pub fn run(&mut self, mut cmd: Value, timeout: Duration) -> Value {
        let id = self.next;
        self.next += 1;
        cmd["id"] = json!(id);
        cmd["timeout"] = json!(u64::try_from(timeout.as_millis()).unwrap());
        let text = cmd.to_string();
        let sent = self
            .stdin
            .as_mut()
            .map(|s| writeln!(s, "{text}").and_then(|()| s.flush()));
        if !matches!(sent, Some(Ok(()))) {
            self.fail(&text, "the driver script is gone", &Value::Null);
        }
        let deadline = Instant::now() + timeout + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.answers.recv_timeout(left) {
                Ok(a) if a["id"] == id => {
                    if a["ok"] == true {
                        return a["value"].clone();
                    }
                    self.fail(&text, a["error"].as_str().unwrap_or("?"), &a["page"]);
                }
                Ok(_) => {}
                Err(e) => self.fail(&text, &format!("no answer ({e})"), &Value::Null),
            }
        }
    }
}

/// The commands every page script answers (tests/browser/driver.mjs),
/// for the tests of single pages (QA, campaigns).
impl Driver {
    /// A page script (`qa.mjs`, `campaigns.mjs`) against `server`, in
    /// English, the browser in time zone `tz` (the hotline's, so the
    /// page's days are the server's), screenshots into `shots`.
    pub fn open_page(
        script: &'static str,
        server: &super::Server,
        tz: &str,
        shots: Option<&Path>,
    ) -> Driver {
        let mut args: Vec<OsString> = vec![
            "--base".into(),
            format!("http://{}", server.http).into(),
            "--lang".into(),
            "en".into(),
            "--tz".into(),
            tz.into(),
            "--chromium".into(),
            chromium().into(),
        ];
        if let Some(dir) = shots {
            args.extend(["--shots".into(), dir.into()]);
        }
        Driver::start(script, &args, &server.data.join("server.log"))
    }

    pub fn goto(&mut self, path: &str) {
        self.run(
            json!({"cmd": "goto", "path": path}),
            Duration::from_secs(20),
        );
    }

    /// Signs in with the form; `expect` is `app` or `denied`. Returns the
    /// page's state.
    pub fn login(&mut self, user: &str, password: &str, expect: &str) -> Value {
        self.run(
            json!({"cmd": "login", "user": user, "pass": password, "expect": expect}),
            Duration::from_secs(15),
        )
    }

    /// Polls the page-side expression `expr` until it is truthy; its value.
    pub fn wait_fn(&mut self, expr: &str, within: Duration) -> Value {
        self.run(json!({"cmd": "wait_fn", "expr": expr}), within)
    }

    pub fn click(&mut self, selector: &str) {
        self.run(
            json!({"cmd": "click", "selector": selector}),
            Duration::from_secs(10),
        );
    }

    pub fn fill(&mut self, selector: &str, value: &str) {
        self.run(
            json!({"cmd": "fill", "selector": selector, "value": value}),
            Duration::from_secs(10),
        );
    }

    pub fn text(&mut self, selector: &str) -> String {
        self.run(
            json!({"cmd": "text", "selector": selector}),
            Duration::from_secs(10),
        )
        .as_str()
        .unwrap()
        .to_owned()
    }

    pub fn visible(&mut self, selector: &str) -> bool {
        self.run(
            json!({"cmd": "visible", "selector": selector}),
            Duration::from_secs(5),
        ) == true
    }

    /// Screenshots `name`.png (and `name`-zh.png) when asked for.
    pub fn shot(&mut self, name: &str) {
        let written = self.run(
            json!({"cmd": "shot", "name": name}),
            Duration::from_secs(30),
        );
        if written.as_array().is_some_and(|w| !w.is_empty()) {
            eprintln!("screenshots: {written}");
        }
    }

    /// Fails the test on any console or page error the page had.
    pub fn assert_no_errors(&mut self) {
        let errors = self.run(json!({"cmd": "errors"}), Duration::from_secs(5));
        if errors.as_array().is_some_and(|e| !e.is_empty()) {
            self.fail("the console", &format!("{errors:#}"), &Value::Null);
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Closing stdin makes the script close Chromium and exit.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SIGTERM: playwright kills its Chromium on the way out.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
