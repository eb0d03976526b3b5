//! Runs the `alerting` binary as a user would, reading its log lines; runs one-off
//! commands to completion; and finds the Kafka-protocol broker the tests share.

use std::{path::Path, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    sync::mpsc,
};

/// Far longer than any healthy start takes; only a hung process reaches it.
const PATIENCE: Duration = Duration::from_secs(60);

/// The root package's `alerting` binary as a user runs it in `data_dir`, with the test
/// admin token and its output piped ([`alerting_at`](crate::process::alerting_at)).
///
/// A macro because cargo says where that binary is only to the root package's own
/// integration tests (`CARGO_BIN_EXE_alerting`, read where the macro is used).
#[macro_export]
macro_rules! alerting_command {
    ($data_dir:expr) => {
        $crate::process::alerting_at(env!("CARGO_BIN_EXE_alerting"), $data_dir)
    };
}

/// The binary at `binary` as a user runs it in `data_dir`; see [`crate::alerting_command!`].
pub fn alerting_at(binary: &str, data_dir: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .current_dir(data_dir)
        .env_remove("DATABASE_URL")
        .env("DATA_DIR", data_dir.join("data"))
        .env("RULE_SERVICE_ADDR", "127.0.0.1:0")
        .env("ALERT_PRODUCER_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "text")
        .env("ADMIN_TOKEN", crate::ADMIN_TOKEN)
        .env("ALERTING_TOKEN", crate::ADMIN_TOKEN)
        .env("ALLOW_PRIVATE_ENDPOINTS", "true")
        .env("INGEST_RATE_LIMIT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

pub struct Running {
    pub child: Child,
    /// Every line the process writes, stdout and stderr, in the order read.
    lines: mpsc::UnboundedReceiver<String>,
    pub seen: Vec<String>,
}

/// Reads a pipe to its end, line by line. The pipes are always drained, read or not:
/// a process whose pipe buffer fills blocks on its next log line and stalls.
fn drain(pipe: impl AsyncRead + Unpin + Send + 'static, lines: mpsc::UnboundedSender<String>) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if lines.send(line).is_err() {
                // Nobody reads any more; keep draining so the process never blocks.
                while let Ok(Some(_)) = reader.next_line().await {}
                return;
            }
        }
    });
}

impl Running {
    pub fn start(mut command: Command) -> Self {
        let mut child = command.spawn().expect("alerting starts");
        let (sender, lines) = mpsc::unbounded_channel();
        drain(child.stdout.take().expect("stdout"), sender.clone());
        drain(child.stderr.take().expect("stderr"), sender);
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads log lines until one contains `needle`; returns it.
    pub async fn wait_for_line(&mut self, needle: &str) -> String {
        let found = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = self.lines.recv().await {
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!("no line with {needle:?}; output so far: {:#?}", self.seen),
        }
    }

    /// The rule-service's address, from the startup line.
    pub async fn address(&mut self) -> String {
        let line = self.wait_for_line("rule-service on http://").await;
        address_after(&line, "rule-service on http://")
    }

    /// Both addresses of `up`: (rule-service, alert-producer).
    pub async fn addresses(&mut self) -> (String, String) {
        let line = self.wait_for_line("alert-producer on http://").await;
        (
            address_after(&line, "rule-service on http://"),
            address_after(&line, "alert-producer on http://"),
        )
    }

    /// Stops the process as its ECS task is stopped (SIGTERM), and waits for it to
    /// exit.
    pub async fn terminate(self) -> (std::process::ExitStatus, Vec<String>) {
        self.stop_with("-TERM").await
    }

    /// Kills the process as an OOM kill does (SIGKILL): no shutdown at all. Returns
    /// what it had printed.
    pub async fn kill(self) -> Vec<String> {
        self.stop_with("-KILL").await.1
    }

    /// Stops the process as Ctrl-C in its terminal does (SIGINT).
    pub async fn interrupt(self) -> (std::process::ExitStatus, Vec<String>) {
        self.stop_with("-INT").await
    }

    async fn stop_with(mut self, signal: &str) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().expect("running").to_string();
        let killed = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("exits after {signal}"))
            .expect("exit status");
        while let Some(line) = self.lines.recv().await {
            self.seen.push(line);
        }
        (status, self.seen)
    }
}

fn address_after(line: &str, marker: &str) -> String {
    let start = line
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} in {line:?}"))
        + marker.len();
    line[start..]
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .next()
        .expect("an address")
        .to_owned()
}

/// A loopback port nothing listens on now, for a server of a test's own.
pub fn free_port() -> u16 {
    let [port] = free_ports();
    port
}

/// `N` different loopback ports nothing listens on now (held together while chosen,
/// so no two are the same).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: [std::net::TcpListener; N] =
        std::array::from_fn(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"));
    listeners.map(|l| l.local_addr().expect("its address").port())
}

/// Runs a command to completion: (exit code, stdout + stderr).
pub async fn run(command: Command) -> (Option<i32>, String) {
    run_within(command, PATIENCE).await
}

/// `run`, for a command that takes longer than most.
///
/// A command still running after `patience` is killed, and the test fails with what it
/// had printed: a hung command is a finding, and its output says where it hung.
pub async fn run_within(mut command: Command, patience: Duration) -> (Option<i32>, String) {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("runs");
    let stdout = tokio::spawn(read_all(child.stdout.take().expect("piped stdout")));
    let stderr = tokio::spawn(read_all(child.stderr.take().expect("piped stderr")));
    let status = tokio::time::timeout(patience, child.wait()).await;
    if status.is_err() {
        let _ = child.kill().await;
    }
    let mut text = stdout.await.expect("stdout read");
    text.push_str(&stderr.await.expect("stderr read"));
    match status {
        Ok(status) => (status.expect("waits").code(), text),
        Err(_) => panic!(
            "{:?} was still running after {patience:?}; it printed:\n{text}",
            command.as_std()
        ),
    }
}

async fn read_all(mut stream: impl AsyncRead + Unpin) -> String {
    let mut bytes = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut bytes).await;
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Runs `scripts/test-broker <action>`, on `port` when given (else its default);
/// returns what it prints.
pub fn test_broker_script(action: &str, port: Option<u16>) -> String {
    test_broker_script_with(action, port, &[])
}

/// `test_broker_script` with more of the script's settings (`scripts/kafka/broker`).
pub fn test_broker_script_with(
    action: &str,
    port: Option<u16>,
    settings: &[(&str, String)],
) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/test-broker");
    let mut command = std::process::Command::new("bash");
    command.args([script, action]);
    command.envs(settings.iter().map(|(name, value)| (name, value)));
    if let Some(port) = port {
        command.env("TEST_KAFKA_PORT", port.to_string());
    }
    let output = command.output().expect("scripts/test-broker runs");
    assert!(
        output.status.success(),
        "scripts/test-broker {action} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The Kafka-protocol test broker: TEST_KAFKA_BROKERS, or the one `scripts/test-broker`
/// starts (installing Tansu if needed).
pub fn test_broker() -> String {
    static BROKER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BROKER
        .get_or_init(|| {
            std::env::var("TEST_KAFKA_BROKERS")
                .unwrap_or_else(|_| test_broker_script("start", None))
        })
        .clone()
}
