//! The platform under test as separate processes of this same binary, with their
//! resident memory and CPU time read from /proc.

use std::{
    path::Path,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    sync::Notify,
    task::JoinHandle,
};

/// Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// One service process and the log lines it printed.
pub struct Service {
    pub name: String,
    child: Child,
    output: Arc<Output>,
    drains: Vec<JoinHandle<()>>,
}

/// A process's log lines (stdout and stderr), and a signal on each new one.
#[derive(Default)]
struct Output {
    lines: Mutex<Vec<String>>,
    changed: Notify,
}

impl Output {
    fn find(&self, needle: &str) -> Option<String> {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|l| l.contains(needle))
            .cloned()
    }
}

/// What /proc says about a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User + system CPU seconds so far.
    pub cpu_seconds: f64,
    /// Peak resident set (VmHWM), bytes.
    pub peak_rss_bytes: u64,
    /// Resident set now (VmRSS), bytes.
    pub rss_bytes: u64,
}

/// Reads /proc/<pid> (`self` for this process).
pub fn usage(pid: &str) -> Usage {
    let mut usage = Usage::default();
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The command name is in parentheses and may hold spaces: count after it.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the whole line; 12 and 13 here.
            let ticks: f64 = [11, 12]
                .iter()
                .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
                .sum();
            usage.cpu_seconds = ticks / TICKS_PER_SECOND;
        }
    }
    if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        for line in status.lines() {
            let kib = |line: &str| {
                line.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
                    * 1024
            };
            if line.starts_with("VmHWM:") {
                usage.peak_rss_bytes = kib(line);
            } else if line.starts_with("VmRSS:") {
                usage.rss_bytes = kib(line);
            }
        }
    }
    usage
}

fn drain(pipe: impl AsyncRead + Unpin + Send + 'static, output: Arc<Output>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            output
                .lines
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(line);
            output.changed.notify_waiters();
        }
    })
}

impl Service {
    /// Starts `alerting <args>` with `env`; its output is read all along, so it never
    /// blocks on a full pipe.
    pub fn start(
        name: &str,
        args: &[&str],
        env: &[(String, String)],
        dir: &Path,
    ) -> std::io::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        command
            .args(args)
            .current_dir(dir)
            .env_remove("DATABASE_URL")
            .env_remove("KAFKA_BROKERS")
            .env_remove("REDIS_URL")
            .env("RUST_LOG", "info,sqlx=warn")
            .env("LOG_FORMAT", "text")
            // The bench measures the platform, not the ingestion limit or the quotas
            // (`--rules` may give a client more than its default share); its webhook
            // receiver is on loopback.
            .env("ADMIN_TOKEN", super::ADMIN_TOKEN.as_str())
            .env("INGEST_RATE_LIMIT", "0")
            .env("MAX_RULES_PER_CLIENT", "0")
            .env("MAX_ENDPOINTS_PER_CLIENT", "0")
            .env("ALLOW_PRIVATE_ENDPOINTS", "true")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        let output = Arc::new(Output::default());
        let mut drains = Vec::new();
        if let Some(out) = child.stdout.take() {
            drains.push(drain(out, output.clone()));
        }
        if let Some(err) = child.stderr.take() {
            drains.push(drain(err, output.clone()));
        }
        Ok(Self {
            name: name.to_owned(),
            child,
            output,
            drains,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn usage(&self) -> Usage {
        self.pid()
            .map(|pid| usage(&pid.to_string()))
            .unwrap_or_default()
    }

    /// Waits for the process to exit and for its last lines to be read.
    async fn exited(&mut self) -> String {
        let status = self.child.wait().await;
        for drain in self.drains.drain(..) {
            let _ = drain.await;
        }
        match status {
            Ok(status) => status.to_string(),
            Err(err) => err.to_string(),
        }
    }

    /// Waits for a log line containing `needle`; fails if the process exits first or
    /// `patience` passes.
    pub async fn wait_for_line(
        &mut self,
        needle: &str,
        patience: Duration,
    ) -> Result<String, String> {
        let output = self.output.clone();
        let found = tokio::time::timeout(patience, async {
            loop {
                let changed = output.changed.notified();
                if let Some(line) = output.find(needle) {
                    return Ok(line);
                }
                tokio::select! {
                    () = changed => {}
                    status = self.exited() => {
                        return output.find(needle).ok_or_else(|| format!(
                            "{} exited ({status}) before saying {needle:?}:\n{}",
                            self.name,
                            self.tail(30)
                        ));
                    }
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            Err(format!(
                "{} did not say {needle:?} within {patience:?}:\n{}",
                self.name,
                self.tail(30)
            ))
        })
    }

    /// For one-off commands: waits for a successful exit.
    pub async fn wait_for_exit(&mut self, patience: Duration) -> Result<(), String> {
        let exited = tokio::time::timeout(patience, self.child.wait()).await;
        for drain in self.drains.drain(..) {
            let _ = drain.await;
        }
        match exited {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(_) => Err(format!(
                "`alerting {}` failed:\n{}",
                self.name,
                self.tail(30)
            )),
            Err(_) => Err(format!(
                "`alerting {}` did not finish in {patience:?}",
                self.name
            )),
        }
    }

    /// The last `n` log lines.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.output.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the process (SIGKILL: the bench is done with it).
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// The address after `marker` in a startup line such as
/// `rule-service on http://127.0.0.1:41234, database …`.
pub fn address_after(line: &str, marker: &str) -> Option<String> {
    let start = line.find(marker)? + marker.len();
    line[start..]
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .next()
        .map(str::to_owned)
}

/// CPU seconds so far of every process whose command starts with one of `names` (the
/// broker, Postgres and Redis the platform leans on), summed by name.
pub fn cpu_by_command(names: &[&str]) -> Vec<(String, f64)> {
    let mut totals: Vec<(String, f64)> = names.iter().map(|n| ((*n).to_owned(), 0.0)).collect();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return totals;
    };
    for entry in entries.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        // The kernel keeps 15 characters of a command: `tansu-v0.6.0-51`.
        if let Some(total) = totals
            .iter_mut()
            .find(|(name, _)| comm.trim().starts_with(name.as_str()))
        {
            total.1 += usage(&pid).cpu_seconds;
        }
    }
    totals
}
