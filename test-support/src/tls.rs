//! TLS for the tests, with a certificate authority each test makes itself: servers
//! that present a certificate it signed, so that the platform's checks of a
//! certificate are exercised for real (a trusted one accepted, any other refused).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio::process::{Child, Command};

use crate::process::free_port;

/// How long a server of a test's own may take to listen.
const PATIENCE: Duration = Duration::from_secs(30);

/// A certificate authority of the test's own.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let pem = params.self_signed(&key).expect("CA signed").pem();
        Self {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// The CA's certificate, written to `dir`; its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.pem).expect("CA written");
        path
    }

    /// A server certificate for `names` (host names or IP addresses) and its key, PEM.
    pub fn server(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().expect("server key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "alerting test server");
        let cert = params.signed_by(&key, &self.issuer).expect("server signed");
        (cert.pem(), key.serialize_pem())
    }
}

impl TestCa {
    /// A certificate for `name` of the key `key_pem` (PKCS#8; RSA, which an SNS
    /// signing certificate is), PEM.
    pub fn signed_for_key(&self, key_pem: &str, name: &str) -> String {
        let key =
            KeyPair::from_pem_and_sign_algo(key_pem, &rcgen::PKCS_RSA_SHA256).expect("an RSA key");
        let mut params = CertificateParams::new(vec![name.to_owned()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.signed_by(&key, &self.issuer).expect("signed").pem()
    }
}

/// An HTTPS server of the test's own on a free loopback port, presenting a certificate
/// from a [`TestCa`] for `localhost`; stopped when dropped.
pub struct HttpsServer {
    /// `https://localhost:<port>`.
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl HttpsServer {
    pub async fn start(ca: &TestCa, app: axum::Router) -> Self {
        use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
        alerting::http_client::install_crypto();
        let (cert, key) = ca.server(&["localhost"]);
        let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("server certificate");
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("server key");
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("TLS server config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let listener = TlsListener {
            listener,
            acceptor: tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)),
        };
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base: format!("https://localhost:{port}"),
            task,
        }
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// TCP connections, each past its TLS handshake (one that fails is dropped).
struct TlsListener {
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, address)) = self.listener.accept().await else {
                continue;
            };
            if let Ok(stream) = self.acceptor.accept(stream).await {
                return (stream, address);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// A PostgreSQL server of the test's own on a free loopback port, with `ssl = on` and a
/// certificate from `ca` for `localhost` only; trust authentication, nothing synced to
/// disk. Stopped when dropped.
pub struct TlsPostgres {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TlsPostgres {
    pub async fn start(ca: &TestCa) -> Self {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().expect("dir");
        let data = dir.path().join("data");
        // PostgreSQL refuses to run as root: as root, it runs as `postgres`.
        let as_root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout == b"0\n");
        let run_as = |program: PathBuf| {
            let mut command = if as_root {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(program);
                command
            } else {
                Command::new(program)
            };
            command.kill_on_drop(true);
            command
        };
        if as_root {
            chown_to_postgres(dir.path());
        }
        let init = run_as(bin.join("initdb"))
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .output()
            .await
            .expect("initdb runs");
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let (cert, key) = ca.server(&["localhost"]);
        let (cert_file, key_file) = (data.join("server.crt"), data.join("server.key"));
        std::fs::write(&cert_file, cert).expect("cert written");
        std::fs::write(&key_file, key).expect("key written");
        restrict(&key_file);
        if as_root {
            chown_to_postgres(&cert_file);
            chown_to_postgres(&key_file);
        }
        let port = free_port();
        let mut child = run_as(bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            .args(["-c", "ssl=on", "-c", "fsync=off"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("postgres runs");
        wait_until_listening(&mut child, port, "postgres").await;
        Self {
            port,
            child,
            _dir: dir,
        }
    }

    /// A URL to its `postgres` database by `host`, with `params`.
    pub fn url(&self, host: &str, params: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&format!(
            "postgres://postgres@{host}:{}/postgres",
            self.port
        ))
        .expect("url");
        for (name, value) in params {
            url.query_pairs_mut().append_pair(name, value);
        }
        url.to_string()
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Waits until `child` (called `name`) listens on loopback `port`; fails the test when
/// it exits first or takes longer than a healthy start.
pub async fn wait_until_listening(child: &mut Child, port: u16, name: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{name} exited: {status}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The newest PostgreSQL's programs (Debian keeps each major version apart).
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL installed (scripts/dev-services start)")
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("postgres").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("a PostgreSQL server in /usr/lib/postgresql")
}

fn chown_to_postgres(path: &Path) {
    let status = std::process::Command::new("chown")
        .args(["-R", "postgres:"])
        .arg(path)
        .status()
        .expect("chown runs");
    assert!(status.success(), "chown postgres {}", path.display());
}

fn restrict(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}
