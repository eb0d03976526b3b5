//! What the integrations' tests share: the platform with one client whose catch-all
//! rule delivers to a webhook sink, and real tools other people wrote (Prometheus,
//! Alertmanager), each started on a free loopback port with its files in a folder of
//! its own, stopped when dropped, and read through its own metrics.

use std::{net::TcpListener, path::Path, process::Stdio};

use alerting_test_support::sinks::HttpSink;
use serde_json::json;
use tokio::process::{Child, Command};

use super::{Mode, Pipeline, tenancy::tenant};

/// The platform in `mode` with client "acme", whose catch-all rule delivers to the
/// sink's "hook"; the client's ingest key, and the alert-producer's host:port.
pub async fn hooked(mode: Mode) -> (Pipeline, HttpSink, String, String) {
    let sink = HttpSink::start().await;
    let p = Pipeline::start(mode).await;
    let (rule, key) = tenant(&p, "acme", false).await;
    p.endpoint(&rule, json!({"type": "webhook", "value": sink.url("hook")}))
        .await;
    p.wait_for_rules(1).await;
    let producer = p
        .alert_producer
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    (p, sink, key, producer)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

pub struct Tool {
    child: Child,
    /// host:port of its HTTP API.
    pub address: String,
    _dir: tempfile::TempDir,
}

impl Tool {
    /// Writes `files` into a new folder and starts `program` with the arguments `args`
    /// gives for that folder and a free address.
    pub fn start(
        program: &str,
        files: &[(&str, &str)],
        args: impl FnOnce(&Path, &str) -> Vec<String>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("a file of the tool's");
        }
        let address = format!("127.0.0.1:{}", free_port());
        let child = Command::new(program)
            .args(args(dir.path(), &address))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| {
                panic!("{program} ({err}): Debian's package, which scripts/dev-services installs")
            });
        Self {
            child,
            address,
            _dir: dir,
        }
    }

    /// Panics if the tool has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the tool at {} exited: {status}", self.address);
        }
    }

    /// The sum of the tool's own counter `metric` over the series whose line contains
    /// `filter`; 0 while it does not answer.
    pub async fn counter(&self, metric: &str, filter: &str) -> u64 {
        let url = format!("http://{}/metrics", self.address);
        let text = match reqwest::get(url).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        text.lines()
            .filter(|line| line.starts_with(metric) && line.contains(filter))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|n| n as u64)
            .sum()
    }
}
