//! The snapshot in Redis. The snapshot (which carries its version) is one key. A writer
//! stages it in pieces under a key of its own, then a Lua script checks the writer's
//! lease and that the version moves forward, moves the staged bytes into place and
//! publishes the new version: all atomically.
//!
//! Pieces keep memory flat: sent as one argument, a 3.3 MB snapshot (100,000 rules) was
//! copied three more times by the client on its way out, and read with one GET it grew
//! the reader's receive buffer to its size. Readers read it in pieces too.

use std::{sync::LazyLock, time::Duration};

use alerting_handlers::{
    ports::{SnapshotError, SnapshotStore, StoreOutcome},
    snapshot_format::EncodedSnapshot,
};
use async_trait::async_trait;
use futures_util::StreamExt;
use redis::{
    Client, ConnectionAddr, ErrorKind, IntoConnectionInfo, Script, TlsCertificates,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use tokio::sync::mpsc;

use crate::config::RedisConfig;

/// KEYS: lease, version, snapshot, announce channel, staged snapshot. ARGV: holder,
/// version, the staged snapshot's length (a piece lost on the way leaves it short).
const STORE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  redis.call('DEL', KEYS[5])
  return -1
end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[2]) <= current then
  redis.call('DEL', KEYS[5])
  return current
end
if redis.call('STRLEN', KEYS[5]) ~= tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[5])
  return -3
end
redis.call('RENAME', KEYS[5], KEYS[3])
redis.call('PERSIST', KEYS[3])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('PUBLISH', KEYS[4], ARGV[2])
return -2
";

/// Bytes per APPEND while staging a snapshot, and per GETRANGE while reading one.
pub const PIECE: usize = 256 * 1024;

/// A staged snapshot whose writer died before moving it into place expires.
const STAGE_TTL_MS: u64 = 60_000;

/// Reads of a snapshot that keeps being replaced under the reader before it gives up
/// (until the next announcement or poll).
const LOAD_ATTEMPTS: usize = 5;

const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Scripts are hashed once: every call after the first goes by EVALSHA.
fn store_script() -> &'static Script {
    static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(STORE));
    &SCRIPT
}

fn renew_script() -> &'static Script {
    static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RENEW));
    &SCRIPT
}

fn release_script() -> &'static Script {
    static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE));
    &SCRIPT
}

pub struct RedisSnapshotStore {
    client: Client,
    connection: ConnectionManager,
    lease_key: String,
    version_key: String,
    snapshot_key: String,
    channel: String,
}

fn unavailable(err: redis::RedisError) -> SnapshotError {
    SnapshotError::Unavailable(err.to_string())
}

/// Why the service cannot use Redis: a setting to fix, not a server that is down.
#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    #[error("REDIS_URL is not a Redis URL: {0}")]
    Url(String),
    #[error("REDIS_CA_FILE {path} cannot be read: {reason}")]
    UnreadableCa { path: String, reason: String },
    #[error("REDIS_CA_FILE is set but REDIS_URL is redis://: use rediss:// for TLS")]
    CaWithoutTls,
    #[error("Redis refused the password: check REDIS_PASSWORD (or the one in REDIS_URL) ({0})")]
    Refused(String),
    #[error("Redis's certificate is not vouched for by {roots} ({reason})")]
    Untrusted { roots: String, reason: String },
}

impl RedisSnapshotStore {
    /// Connects, and asks Redis once: a refused password or a certificate nobody
    /// vouches for stops the service at start. A Redis that is down (or not up yet) does
    /// not: the connection is lazy, and reconnects.
    pub async fn connect(config: &RedisConfig) -> Result<Self, RedisSetupError> {
        let store = Self::lazy(config)?;
        let answer: Result<String, _> = redis::cmd("PING")
            .query_async(&mut store.connection.clone())
            .await;
        if let Err(err) = answer {
            refusal(&err, config)?;
            tracing::warn!(error = %err, "Redis does not answer yet; carrying on, it reconnects");
        }
        Ok(store)
    }

    /// A store on `url` that connects when first used (tests that start Redis later).
    pub fn new(url: &str, key_prefix: &str) -> Result<Self, RedisSetupError> {
        Self::lazy(&RedisConfig {
            redis_url: Some(url.to_owned()),
            redis_key_prefix: key_prefix.to_owned(),
            ..RedisConfig::none()
        })
    }

    fn lazy(config: &RedisConfig) -> Result<Self, RedisSetupError> {
        let client = client(config)?;
        let connection_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_max_delay(Duration::from_secs(2));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), connection_config)
            .map_err(|err| RedisSetupError::Url(err.to_string()))?;
        let prefix = &config.redis_key_prefix;
        Ok(Self {
            client,
            connection,
            lease_key: format!("{prefix}:rule-updater:lease"),
            version_key: format!("{prefix}:snapshot:version"),
            snapshot_key: format!("{prefix}:snapshot"),
            channel: format!("{prefix}:snapshot:announce"),
        })
    }
}

/// The client for REDIS_URL, with REDIS_PASSWORD and REDIS_CA_FILE applied.
fn client(config: &RedisConfig) -> Result<Client, RedisSetupError> {
    let url = config.redis_url.as_deref().unwrap_or_default();
    // The URL may carry a password: its error names the scheme, never the URL.
    let mut info = url
        .into_connection_info()
        .map_err(|err| RedisSetupError::Url(format!("{:?}", err.kind())))?;
    if let Some(password) = &config.redis_password {
        let settings = info
            .redis_settings()
            .clone()
            .set_password(password.expose());
        info = info.set_redis_settings(settings);
    }
    let tls = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
    let client = match (&config.redis_ca_file, tls) {
        (Some(_), false) => return Err(RedisSetupError::CaWithoutTls),
        (Some(path), true) => {
            let root_cert = std::fs::read(path).map_err(|err| RedisSetupError::UnreadableCa {
                path: path.display().to_string(),
                reason: err.to_string(),
            })?;
            Client::build_with_tls(
                info,
                TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                },
            )
        }
        (None, _) => Client::open(info),
    };
    client.map_err(|err| RedisSetupError::Url(err.to_string()))
}

/// The setting to fix, when Redis's answer is a refusal rather than its absence.
fn refusal(err: &redis::RedisError, config: &RedisConfig) -> Result<(), RedisSetupError> {
    let text = err.to_string();
    let lower = text.to_lowercase();
    if err.kind() == ErrorKind::AuthenticationFailed
        || lower.contains("wrongpass")
        || lower.contains("noauth")
        || lower.contains("invalid password")
    {
        return Err(RedisSetupError::Refused(text));
    }
    if lower.contains("certificate") || lower.contains("unknownissuer") {
        let roots = match &config.redis_ca_file {
            Some(path) => format!("REDIS_CA_FILE ({})", path.display()),
            None => "the system's CA roots (set REDIS_CA_FILE to the CA that signed it)".to_owned(),
        };
        return Err(RedisSetupError::Untrusted {
            roots,
            reason: text,
        });
    }
    Ok(())
}

#[async_trait]
impl SnapshotStore for RedisSnapshotStore {
    /// Reads the snapshot in pieces too, into one buffer of its size (a single GET grew
    /// the client's receive buffer to the whole snapshot, then copied it out). The
    /// version key moves with every write, in the same script: if it still names the
    /// version the first piece carried, no write came between the pieces.
    async fn load(&self) -> Result<Option<EncodedSnapshot>, SnapshotError> {
        let mut connection = self.connection.clone();
        for _ in 0..LOAD_ATTEMPTS {
            let length: usize = redis::cmd("STRLEN")
                .arg(&self.snapshot_key)
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            if length == 0 {
                return Ok(None);
            }
            let mut bytes = Vec::with_capacity(length);
            loop {
                let piece: Vec<u8> = redis::cmd("GETRANGE")
                    .arg(&self.snapshot_key)
                    .arg(bytes.len())
                    .arg(bytes.len() + PIECE - 1)
                    .query_async(&mut connection)
                    .await
                    .map_err(unavailable)?;
                bytes.extend_from_slice(&piece);
                if piece.len() < PIECE {
                    break;
                }
            }
            if bytes.is_empty() {
                return Ok(None);
            }
            let snapshot = EncodedSnapshot::from_bytes(bytes)
                .map_err(|err| SnapshotError::Corrupt(err.to_string()))?;
            if self.version().await? == Some(snapshot.version()) {
                return Ok(Some(snapshot));
            }
            tracing::debug!("the snapshot was replaced while being read; reading it again");
        }
        Err(SnapshotError::Unavailable(format!(
            "the snapshot changed during each of {LOAD_ATTEMPTS} reads"
        )))
    }

    async fn version(&self) -> Result<Option<u64>, SnapshotError> {
        let mut connection = self.connection.clone();
        redis::cmd("GET")
            .arg(&self.version_key)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)
    }

    async fn store(
        &self,
        holder: &str,
        snapshot: &EncodedSnapshot,
    ) -> Result<StoreOutcome, SnapshotError> {
        let mut connection = self.connection.clone();
        // The holder's own key: a writer that lost the lease cannot mix its pieces in.
        let staged = format!("{}:staging:{holder}", self.snapshot_key);
        let bytes = snapshot.as_bytes();
        // SET replaces whatever an earlier, unfinished attempt left under the key.
        let () = redis::cmd("SET")
            .arg(&staged)
            .arg(&bytes[..bytes.len().min(PIECE)])
            .arg("PX")
            .arg(STAGE_TTL_MS)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        for piece in bytes.chunks(PIECE).skip(1) {
            let _: i64 = redis::cmd("APPEND")
                .arg(&staged)
                .arg(piece)
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
        }
        let outcome: i64 = store_script()
            .key(&self.lease_key)
            .key(&self.version_key)
            .key(&self.snapshot_key)
            .key(&self.channel)
            .key(&staged)
            .arg(holder)
            .arg(snapshot.version())
            .arg(bytes.len())
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(match outcome {
            -2 => StoreOutcome::Written,
            -1 => StoreOutcome::NotLeaseHolder,
            -3 => {
                return Err(SnapshotError::Unavailable(
                    "the staged snapshot lost a piece on its way to Redis".to_owned(),
                ));
            }
            current => StoreOutcome::NotNewer {
                current: current.max(0) as u64,
            },
        })
    }

    async fn try_acquire_lease(&self, holder: &str, ttl: Duration) -> Result<bool, SnapshotError> {
        let mut connection = self.connection.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(&self.lease_key)
            .arg(holder)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        if set.is_some() {
            return Ok(true);
        }
        // Ours already (a restart within the lease's life, with the same holder id)?
        self.renew_lease(holder, ttl).await
    }

    async fn renew_lease(&self, holder: &str, ttl: Duration) -> Result<bool, SnapshotError> {
        let mut connection = self.connection.clone();
        let renewed: i64 = renew_script()
            .key(&self.lease_key)
            .arg(holder)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(renewed == 1)
    }

    async fn release_lease(&self, holder: &str) -> Result<(), SnapshotError> {
        let mut connection = self.connection.clone();
        let _: i64 = release_script()
            .key(&self.lease_key)
            .arg(holder)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn subscribe(&self) -> Result<mpsc::Receiver<u64>, SnapshotError> {
        let mut pubsub = self.client.get_async_pubsub().await.map_err(unavailable)?;
        pubsub.subscribe(&self.channel).await.map_err(unavailable)?;
        let (sender, receiver) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                if let Ok(version) = message.get_payload::<u64>()
                    && sender.send(version).await.is_err()
                {
                    break;
                }
            }
        });
        Ok(receiver)
    }
}
