//! A sipp desk phone for an agent: one sipp process waiting for the call
//! on a port of its own, registered with digest authentication.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Server, free_port};

/// One phone, good for one call.
pub struct DeskPhone {
    answer: Child,
}

impl DeskPhone {
    /// Starts `scenario` (tests/sipp, e.g. `agent_phone_tone.xml`: 1 kHz to
    /// the server) as `user`'s phone and registers it; `echo`: sipp sends
    /// back what it hears.
    pub fn register(
        server: &Server,
        user: &str,
        password: &str,
        scenario: &str,
        echo: bool,
    ) -> DeskPhone {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let port = free_port();
        let mut answer = Command::new("timeout");
        answer
            .arg("120")
            .arg("sipp")
            .arg("-sf")
            .arg(root.join("tests/sipp").join(scenario))
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin", "-m", "1"])
            .args(["-p", &port.to_string(), "-mp", &free_port().to_string()])
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if echo {
            answer.arg("-rtp_echo");
        }
        let answer = answer.spawn().expect("sipp runs");
        let port = port.to_string();
        let (ok, out) = super::sipp(
            "agent_register.xml",
            server.sip,
            &[
                "-m",
                "1",
                "-au",
                user,
                "-ap",
                password,
                "-s",
                user,
                "-key",
                "contact_port",
                &port,
            ],
        );
        assert!(ok, "{user}'s phone registers:\n{out}\n{}", server.log());
        DeskPhone { answer }
    }

    /// Whether the phone's call ended well (it saw the BYE) within `within`.
    pub fn finished(mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.answer.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.answer.kill();
        false
    }
}
