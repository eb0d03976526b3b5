//! The snapshot in Redis. The snapshot (which carries its version) is one key, written
//! by a Lua script that checks the writer's lease and that the version moves forward,
//! then publishes the new version: all atomically.

use std::{sync::LazyLock, time::Duration};

use alerting_handlers::{
    ports::{SnapshotError, SnapshotStore, StoreOutcome},
    snapshot_format::EncodedSnapshot,
};
use async_trait::async_trait;
use futures_util::StreamExt;
use redis::{
    Client, Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use tokio::sync::mpsc;

const STORE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[2]) <= current then return current end
redis.call('SET', KEYS[3], ARGV[3])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('PUBLISH', KEYS[4], ARGV[2])
return -2
";

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

impl RedisSnapshotStore {
    /// Connects lazily: a service starts even while Redis is down, and reconnects.
    pub fn new(url: &str, key_prefix: &str) -> Result<Self, SnapshotError> {
        let client = Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_max_delay(Duration::from_secs(2));
        let connection =
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(unavailable)?;
        Ok(Self {
            client,
            connection,
            lease_key: format!("{key_prefix}:rule-updater:lease"),
            version_key: format!("{key_prefix}:snapshot:version"),
            snapshot_key: format!("{key_prefix}:snapshot"),
            channel: format!("{key_prefix}:snapshot:announce"),
        })
    }
}

#[async_trait]
impl SnapshotStore for RedisSnapshotStore {
    async fn load(&self) -> Result<Option<EncodedSnapshot>, SnapshotError> {
        let mut connection = self.connection.clone();
        let bytes: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&self.snapshot_key)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        bytes
            .map(|bytes| {
                EncodedSnapshot::from_bytes(bytes)
                    .map_err(|err| SnapshotError::Corrupt(err.to_string()))
            })
            .transpose()
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
        let outcome: i64 = store_script()
            .key(&self.lease_key)
            .key(&self.version_key)
            .key(&self.snapshot_key)
            .key(&self.channel)
            .arg(holder)
            .arg(snapshot.version())
            .arg(snapshot.as_bytes())
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(match outcome {
            -2 => StoreOutcome::Written,
            -1 => StoreOutcome::NotLeaseHolder,
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
