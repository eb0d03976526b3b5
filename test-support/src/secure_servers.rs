//! Redis and Apache Kafka as production runs them, with certificates from a CA the
//! test makes ([`TestCa`]): Redis over TLS only, with a password (as ElastiCache with
//! in-transit encryption and an auth token), and a Kafka broker with a SASL_SSL
//! listener and a SCRAM user (as Amazon MSK with SASL/SCRAM). Each is the test's own,
//! on free ports, stopped when dropped.

use std::path::PathBuf;

use tokio::process::{Child, Command};

use crate::{
    process::{free_port, free_ports, test_broker_script_with},
    tls::{TestCa, wait_until_listening},
};

/// `redis-server` listening with TLS only (no plain port), requiring `password`.
pub struct TlsRedis {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    pub async fn start(ca: &TestCa, password: &str) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let (cert, key) = ca.server(&["localhost"]);
        let (cert_file, key_file) = (dir.path().join("redis.crt"), dir.path().join("redis.key"));
        std::fs::write(&cert_file, cert).expect("cert written");
        std::fs::write(&key_file, key).expect("key written");
        let ca_file = ca.write(dir.path());
        let port = free_port();
        let mut child = Command::new("redis-server")
            .args(["--port", "0", "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--tls-auth-clients", "no"])
            .args(["--tls-port", &port.to_string()])
            .arg("--tls-cert-file")
            .arg(&cert_file)
            .arg("--tls-key-file")
            .arg(&key_file)
            .arg("--tls-ca-cert-file")
            .arg(&ca_file)
            .args(["--requirepass", password])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server runs (scripts/dev-services start installs it)");
        wait_until_listening(&mut child, port, "redis-server (built with TLS?)").await;
        Self {
            port,
            child,
            _dir: dir,
        }
    }

    /// `rediss://localhost:<port>`: the name its certificate is for.
    pub fn url(&self) -> String {
        format!("rediss://localhost:{}", self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// An Apache Kafka broker (`scripts/test-broker`) with a SASL_SSL listener for
/// `localhost` (SCRAM-SHA-512 and -256) beside its PLAINTEXT one, and one SCRAM user.
pub struct SaslBroker {
    /// `localhost:<port>` of the SASL_SSL listener.
    pub address: String,
    plain_port: u16,
    _dir: tempfile::TempDir,
}

impl SaslBroker {
    pub fn start(ca: &TestCa, user: &str, password: &str) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let (cert, key) = ca.server(&["localhost"]);
        // One PEM file, key first: what Kafka's PEM key store reads.
        let keystore: PathBuf = dir.path().join("broker.pem");
        std::fs::write(&keystore, format!("{key}{cert}")).expect("key store written");
        let [plain_port, secure_port, controller] = free_ports();
        test_broker_script_with(
            "start",
            Some(plain_port),
            &[
                // Not the script's default (the next port up): that may be any
                // connection's ephemeral port.
                ("KAFKA_CONTROLLER_PORT", controller.to_string()),
                ("KAFKA_SASL_SSL_PORT", secure_port.to_string()),
                ("KAFKA_SSL_KEYSTORE_PEM", keystore.display().to_string()),
                ("KAFKA_SCRAM_USERS", format!("{user}:{password}")),
            ],
        );
        Self {
            address: format!("localhost:{secure_port}"),
            plain_port,
            _dir: dir,
        }
    }
}

impl Drop for SaslBroker {
    fn drop(&mut self) {
        test_broker_script_with("stop", Some(self.plain_port), &[]);
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(format!("alerting-test-broker-{}", self.plain_port)),
        );
    }
}
