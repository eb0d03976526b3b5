//! The bus of embedded mode, kept on disk: every message published is a row of a log
//! in SQLite (`$DATA_DIR/bus.db`, a file of its own so that its writes do not queue
//! behind the database's) before `publish` returns, so a 202 from the alert-producer
//! means the alert is stored. Each consumer group reads the log from the position it
//! last committed, so after a crash (SIGKILL, an OOM kill, a host restart) `up`
//! resumes where every group was: what was published and not yet committed is handed
//! out again, and the services downstream take it once (one notification per client
//! and alert, one delivery per endpoint under its idempotency key), as with Kafka.
//! Rows every group of their topic has committed are deleted as the groups commit;
//! dead-letter topics, which no group consumes, keep theirs. So that no row is deleted
//! before a group that is still starting has seen it, the groups are registered when
//! the log is opened, before any of them reads.
//!
//! The log also counts what the groups have yet to do (the messages after each group's
//! position, summed): the pipeline's backlog, which ingestion's back-pressure watches.
//!
//! Readers wait on a notification per topic (and look again every second, in case a
//! wake-up was missed), so a message published is read at once. A test's tap gets a
//! copy of what is published from then on, in memory, and holds nothing back.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alerting_handlers::{
    metrics::metrics,
    ports::{Bus, BusError, IncomingMessage, OutgoingMessage, Subscription},
};
use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait, Value,
};
use tokio::sync::{Notify, mpsc, watch};

/// Rows per INSERT (SQLite takes at most 32,766 parameters a statement, four a row).
const INSERT_CHUNK: usize = 1_000;
/// How long a reader waits for a wake-up before it looks again anyway.
const IDLE_LOOK: Duration = Duration::from_secs(1);
/// How often a group's lag is counted (a count of the rows after its position).
const LAG_EVERY: Duration = Duration::from_secs(1);

const SCHEMA: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS bus_messages (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        key BLOB,
        payload BLOB NOT NULL,
        headers TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS bus_messages_by_topic ON bus_messages (topic, position)",
    "CREATE TABLE IF NOT EXISTS bus_groups (
        topic TEXT NOT NULL,
        group_name TEXT NOT NULL,
        committed INTEGER NOT NULL,
        PRIMARY KEY (topic, group_name)
    )",
];

#[derive(Debug, thiserror::Error)]
pub enum DurableBusError {
    #[error("cannot make the bus log {path} private to its owner: {source}")]
    Private {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the bus log {path}: {}", crate::db::explain(.error))]
    Open { path: String, error: DbErr },
    #[error("cannot register the consumer group {group} in the bus log: {}", crate::db::explain(.error))]
    Register { group: String, error: DbErr },
}

#[derive(Clone)]
pub struct DurableBus {
    db: DatabaseConnection,
    wake: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
    /// (topic, group) of every consumer group registered.
    groups: Arc<Mutex<HashSet<(String, String)>>>,
    /// Each topic's taps.
    taps: Arc<Mutex<HashMap<String, Vec<mpsc::UnboundedSender<IncomingMessage>>>>>,
    backlog: Arc<Backlog>,
    /// Held by each write transaction. SQLite has one writer; a second one would sleep
    /// in SQLite's busy handler (1, 2, 5, 10 ms … between looks) while every service
    /// waits on the log, where this queues it and wakes it the moment the first is done.
    write: Arc<tokio::sync::Mutex<()>>,
}

/// Messages after the positions of the registered groups, summed (a message of a topic
/// with two groups counts twice: two services have it to do).
struct Backlog {
    /// Below zero for a moment when a group commits a message before its publisher has
    /// added it (a publish adds once its rows are committed).
    total: Mutex<i64>,
    watch: watch::Sender<u64>,
}

impl Backlog {
    fn add(&self, change: i64) {
        if change == 0 {
            return;
        }
        let mut total = self.total.lock().unwrap_or_else(|e| e.into_inner());
        *total += change;
        self.watch.send_replace(u64::try_from(*total).unwrap_or(0));
    }
}

impl DurableBus {
    /// Opens (or makes) the log at `path`, for its owner only.
    pub async fn open(path: &Path) -> Result<Self, DurableBusError> {
        let shown = path.display().to_string();
        crate::private_files::private_sqlite(path, true).map_err(|source| {
            DurableBusError::Private {
                path: shown.clone(),
                source,
            }
        })?;
        let open = async {
            let db = crate::db::connect_url(&format!("sqlite://{shown}?mode=rwc"), 4).await?;
            for statement in SCHEMA {
                db.execute_unprepared(statement).await?;
            }
            Ok::<_, DbErr>(db)
        };
        let db = open.await.map_err(|error| DurableBusError::Open {
            path: shown.clone(),
            error,
        })?;
        Ok(Self {
            db,
            wake: Arc::default(),
            groups: Arc::default(),
            taps: Arc::default(),
            write: Arc::default(),
            backlog: Arc::new(Backlog {
                total: Mutex::new(0),
                watch: watch::channel(0).0,
            }),
        })
    }

    /// The pipeline's backlog: messages published and not yet committed by each group
    /// that has them to do, kept current as the log changes.
    pub fn backlog(&self) -> watch::Receiver<u64> {
        self.backlog.watch.subscribe()
    }

    /// Registers the consumer groups of each topic (a group new to the log starts at
    /// its beginning), before any of them reads: rows are deleted only once every
    /// registered group of their topic has committed them.
    pub async fn register(&self, groups: &[(&str, &str)]) -> Result<(), DurableBusError> {
        for (topic, group) in groups {
            let register = async {
                let _writing = self.write.lock().await;
                self.db
                    .execute_raw(Statement::from_sql_and_values(
                        DbBackend::Sqlite,
                        "INSERT OR IGNORE INTO bus_groups (topic, group_name, committed) VALUES (?, ?, 0)",
                        [(*topic).into(), (*group).into()],
                    ))
                    .await?;
                // What it left to do when the log was last open.
                count_rows(
                    &self.db,
                    "SELECT count(*) AS n FROM bus_messages WHERE topic = ? AND position > \
                     (SELECT committed FROM bus_groups WHERE topic = ? AND group_name = ?)",
                    [(*topic).into(), (*topic).into(), (*group).into()],
                )
                .await
            };
            let behind = register.await.map_err(|error| DurableBusError::Register {
                group: (*group).to_owned(),
                error,
            })?;
            let mut known = self.groups.lock().unwrap_or_else(|e| e.into_inner());
            if known.insert(((*topic).to_owned(), (*group).to_owned())) {
                self.backlog.add(behind);
            }
        }
        Ok(())
    }

    /// How many registered groups read `topic`.
    fn readers(&self, topic: &str) -> i64 {
        let known = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        known.iter().filter(|(t, _)| t == topic).count() as i64
    }

    fn wake(&self, topic: &str) -> Arc<Notify> {
        let mut wake = self.wake.lock().unwrap_or_else(|e| e.into_inner());
        wake.entry(topic.to_owned()).or_default().clone()
    }

    /// A consumer of `topic` in `group` (registered): it resumes after the position the
    /// group last committed.
    pub fn subscribe(&self, topic: &str, group: &str) -> DurableSubscription {
        let known = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        debug_assert!(
            known.contains(&(topic.to_owned(), group.to_owned())),
            "the group {group} of {topic} was not registered when the log was opened"
        );
        drop(known);
        DurableSubscription {
            bus: self.clone(),
            topic: topic.to_owned(),
            group: group.to_owned(),
            position: None,
            lag_counted: None,
        }
    }

    /// A copy of what is published on `topic` from now on, for a test to watch: it
    /// commits nothing and holds nothing back.
    pub fn tap(&self, topic: &str) -> Tap {
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut taps = self.taps.lock().unwrap_or_else(|e| e.into_inner());
        taps.entry(topic.to_owned()).or_default().push(sender);
        Tap { receiver }
    }

    /// Stores `messages`; returns the position of each (the rows of one INSERT take
    /// consecutive positions, the transaction holding SQLite's only write lock).
    async fn insert(&self, messages: &[OutgoingMessage]) -> Result<Vec<i64>, DbErr> {
        let _writing = self.write.lock().await;
        let transaction = self.db.begin().await?;
        let mut positions = Vec::with_capacity(messages.len());
        for chunk in messages.chunks(INSERT_CHUNK) {
            let rows = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
            let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 4);
            for message in chunk {
                let headers = serde_json::to_string(&message.headers)
                    .map_err(|err| DbErr::Custom(err.to_string()))?;
                values.push(message.topic.clone().into());
                values.push(message.key.clone().into_bytes().into());
                values.push(message.payload.clone().into());
                values.push(headers.into());
            }
            let inserted = transaction
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    format!(
                        "INSERT INTO bus_messages (topic, key, payload, headers) VALUES {rows}"
                    ),
                    values,
                ))
                .await?;
            let last = i64::try_from(inserted.last_insert_id()).unwrap_or(i64::MAX);
            let rows = i64::try_from(chunk.len()).unwrap_or(i64::MAX);
            positions.extend(last - rows + 1..=last);
        }
        transaction.commit().await?;
        Ok(positions)
    }

    /// Hands the taps of each message's topic a copy; a tap dropped is forgotten.
    fn copy_to_taps(&self, messages: &[OutgoingMessage], positions: &[i64]) {
        let mut taps = self.taps.lock().unwrap_or_else(|e| e.into_inner());
        if taps.is_empty() {
            return;
        }
        for (message, position) in messages.iter().zip(positions) {
            if let Some(senders) = taps.get_mut(&message.topic) {
                let copy = IncomingMessage {
                    topic: message.topic.clone(),
                    partition: 0,
                    offset: *position,
                    key: Some(message.key.clone().into_bytes()),
                    payload: message.payload.clone(),
                    headers: message.headers.clone(),
                };
                senders.retain(|sender| sender.send(copy.clone()).is_ok());
            }
        }
    }
}

#[async_trait]
impl Bus for DurableBus {
    async fn publish(&self, messages: Vec<OutgoingMessage>) -> Result<(), BusError> {
        let Some(topic) = messages.first().map(|first| first.topic.clone()) else {
            return Ok(());
        };
        // Stored and counted in a task of its own: a caller that goes away (a client
        // that hangs up) cannot stop it between the commit and the count.
        let bus = self.clone();
        tokio::spawn(async move { bus.store(messages).await })
            .await
            .map_err(|err| BusError::Publish {
                topic,
                reason: err.to_string(),
            })?
    }
}

impl DurableBus {
    /// [`Bus::publish`]'s work: the rows, the taps, the count, the readers woken.
    async fn store(&self, messages: Vec<OutgoingMessage>) -> Result<(), BusError> {
        let Some(first) = messages.first() else {
            return Ok(());
        };
        let positions = self
            .insert(&messages)
            .await
            .map_err(|err| BusError::Publish {
                topic: first.topic.clone(),
                reason: err.to_string(),
            })?;
        self.copy_to_taps(&messages, &positions);
        let mut topics: Vec<&str> = messages.iter().map(|m| m.topic.as_str()).collect();
        topics.sort_unstable();
        let mut added = 0;
        for run in topics.chunk_by(|a, b| a == b) {
            added += run.len() as i64 * self.readers(run[0]);
        }
        self.backlog.add(added);
        topics.dedup();
        for topic in topics {
            self.wake(topic).notify_waiters();
        }
        Ok(())
    }
}

/// A test's view of a topic: what was published since the tap was made.
pub struct Tap {
    receiver: mpsc::UnboundedReceiver<IncomingMessage>,
}

#[async_trait]
impl Subscription for Tap {
    async fn next_batch(&mut self, max: usize) -> Result<Vec<IncomingMessage>, BusError> {
        let mut batch = vec![self.receiver.recv().await.ok_or(BusError::Closed)?];
        while batch.len() < max {
            match self.receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        Ok(batch)
    }

    async fn commit(&mut self, _batch: &[IncomingMessage]) -> Result<(), BusError> {
        Ok(())
    }
}

pub struct DurableSubscription {
    bus: DurableBus,
    topic: String,
    group: String,
    /// The last position handed out; None until the first batch looks it up.
    position: Option<i64>,
    lag_counted: Option<Instant>,
}

impl DurableSubscription {
    async fn position(&mut self) -> Result<i64, DbErr> {
        if let Some(position) = self.position {
            return Ok(position);
        }
        // Registered when the log was opened; registered here for a group that was not
        // (a release build without the debug check), starting at the log's beginning.
        self.bus
            .register(&[(&self.topic, &self.group)])
            .await
            .map_err(|err| DbErr::Custom(err.to_string()))?;
        let row = self
            .bus
            .db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "SELECT committed FROM bus_groups WHERE topic = ? AND group_name = ?",
                [self.topic.clone().into(), self.group.clone().into()],
            ))
            .await?;
        let position = row
            .and_then(|row| row.try_get::<i64>("", "committed").ok())
            .unwrap_or(0);
        self.position = Some(position);
        Ok(position)
    }

    async fn read(&self, after: i64, max: usize) -> Result<Vec<IncomingMessage>, DbErr> {
        let rows = self
            .bus
            .db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "SELECT position, key, payload, headers FROM bus_messages \
                 WHERE topic = ? AND position > ? ORDER BY position LIMIT ?",
                [
                    self.topic.clone().into(),
                    after.into(),
                    i64::try_from(max).unwrap_or(i64::MAX).into(),
                ],
            ))
            .await?;
        rows.iter()
            .map(|row| {
                let headers: String = row.try_get("", "headers")?;
                Ok(IncomingMessage {
                    topic: self.topic.clone(),
                    partition: 0,
                    offset: row.try_get("", "position")?,
                    key: row.try_get("", "key")?,
                    payload: row.try_get("", "payload")?,
                    headers: serde_json::from_str(&headers)
                        .map_err(|err| DbErr::Custom(format!("bus headers: {err}")))?,
                })
            })
            .collect()
    }

    /// Counts what is behind the group, at most once a second.
    async fn count_lag(&mut self, after: i64, drained: bool) {
        if drained {
            metrics().set_consumer_lag(&self.group, 0);
            return;
        }
        if self.lag_counted.is_some_and(|at| at.elapsed() < LAG_EVERY) {
            return;
        }
        self.lag_counted = Some(Instant::now());
        let counted = count_rows(
            &self.bus.db,
            "SELECT count(*) AS n FROM bus_messages WHERE topic = ? AND position > ?",
            [self.topic.clone().into(), after.into()],
        )
        .await;
        if let Ok(lag) = counted {
            metrics().set_consumer_lag(&self.group, u64::try_from(lag).unwrap_or(0));
        }
    }
}

#[async_trait]
impl Subscription for DurableSubscription {
    async fn next_batch(&mut self, max: usize) -> Result<Vec<IncomingMessage>, BusError> {
        let consume = |err: DbErr| BusError::Consume(format!("bus log: {err}"));
        let wake = self.bus.wake(&self.topic);
        let after = self.position().await.map_err(consume)?;
        loop {
            // Listening before looking: a publish between the two is not missed.
            let woken = wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let batch = self.read(after, max.max(1)).await.map_err(consume)?;
            if let Some(last) = batch.last().map(|message| message.offset) {
                self.count_lag(last, batch.len() < max).await;
                // Cancel-safe (the consumer runner selects on this future): the position
                // moves only here, after the last await, so a batch dropped half-way is
                // read again rather than lost.
                self.position = Some(last);
                return Ok(batch);
            }
            let _ = tokio::time::timeout(IDLE_LOOK, woken).await;
        }
    }

    async fn commit(&mut self, batch: &[IncomingMessage]) -> Result<(), BusError> {
        let Some(last) = batch.iter().map(|message| message.offset).max() else {
            return Ok(());
        };
        let commit = async {
            let _writing = self.bus.write.lock().await;
            let transaction = self.bus.db.begin().await?;
            // Still in the log: no other group can delete what this one has not committed.
            let done = count_rows(
                &transaction,
                "SELECT count(*) AS n FROM bus_messages WHERE topic = ? AND position <= ? AND \
                 position > (SELECT committed FROM bus_groups WHERE topic = ? AND group_name = ?)",
                [
                    self.topic.clone().into(),
                    last.into(),
                    self.topic.clone().into(),
                    self.group.clone().into(),
                ],
            )
            .await?;
            transaction
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "UPDATE bus_groups SET committed = max(committed, ?) WHERE topic = ? AND group_name = ?",
                    [last.into(), self.topic.clone().into(), self.group.clone().into()],
                ))
                .await?;
            // What every group of the topic has committed is no longer needed.
            transaction
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "DELETE FROM bus_messages WHERE topic = ? AND position <= \
                     (SELECT min(committed) FROM bus_groups WHERE topic = ?)",
                    [self.topic.clone().into(), self.topic.clone().into()],
                ))
                .await?;
            transaction.commit().await?;
            Ok::<_, DbErr>(done)
        };
        let done = commit
            .await
            .map_err(|err| BusError::Consume(format!("bus log: committing: {err}")))?;
        self.bus.backlog.add(-done);
        Ok(())
    }
}

/// The `n` of a `SELECT count(*) AS n`, on the log or in one of its transactions.
async fn count_rows<const N: usize>(
    db: &impl ConnectionTrait,
    sql: &str,
    values: [Value; N],
) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sql,
            values,
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("a count returned no row".to_owned()))?;
    row.try_get::<i64>("", "n")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn bus(dir: &tempfile::TempDir) -> DurableBus {
        let bus = DurableBus::open(&dir.path().join("bus.db"))
            .await
            .expect("bus opens");
        bus.register(&[
            ("t", "a"),
            ("t", "b"),
            ("t", "g"),
            ("two", "a"),
            ("two", "b"),
        ])
        .await
        .expect("groups registered");
        bus
    }

    fn messages(topic: &str, range: std::ops::Range<u8>) -> Vec<OutgoingMessage> {
        range
            .map(|i| OutgoingMessage::new(topic, &i.to_string(), vec![i]))
            .collect()
    }

    fn payloads(batch: &[IncomingMessage]) -> Vec<u8> {
        batch.iter().map(|message| message.payload[0]).collect()
    }

    #[tokio::test]
    async fn every_group_gets_every_message_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        let bus = bus(&dir).await;
        let (mut a, mut b) = (bus.subscribe("t", "a"), bus.subscribe("t", "b"));
        bus.publish(messages("t", 0..5)).await.expect("published");
        bus.publish(messages("other", 9..10))
            .await
            .expect("published");
        for subscription in [&mut a, &mut b] {
            let batch = subscription.next_batch(100).await.expect("batch");
            assert_eq!(payloads(&batch), [0, 1, 2, 3, 4]);
        }
    }

    #[tokio::test]
    async fn a_reopened_log_resumes_each_group_after_what_it_committed() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let bus = bus(&dir).await;
            let mut group = bus.subscribe("t", "g");
            bus.publish(messages("t", 0..6)).await.expect("published");
            let batch = group.next_batch(4).await.expect("batch");
            assert_eq!(payloads(&batch), [0, 1, 2, 3]);
            group.commit(&batch[..2]).await.expect("committed");
            // The process dies here: 2 and 3 were handed out, not committed.
        }
        let bus = bus(&dir).await;
        let mut group = bus.subscribe("t", "g");
        let batch = group.next_batch(100).await.expect("batch");
        assert_eq!(payloads(&batch), [2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn a_batch_dropped_half_way_is_read_again_not_lost() {
        // The consumer runner selects on next_batch: dropped at any of its awaits, it
        // must not have moved past what it did not hand out.
        let dir = tempfile::tempdir().expect("dir");
        let bus = bus(&dir).await;
        let mut group = bus.subscribe("t", "g");
        let all: Vec<OutgoingMessage> = (0..500u32)
            .map(|i| OutgoingMessage::new("t", "k", i.to_be_bytes().to_vec()))
            .collect();
        bus.publish(all).await.expect("published");
        let mut seen = Vec::new();
        for _ in 0..100_000 {
            if seen.len() == 500 {
                break;
            }
            tokio::select! {
                biased;
                batch = group.next_batch(7) => seen.extend(
                    batch.expect("batch").iter().map(|m| u32::from_be_bytes([m.payload[0], m.payload[1], m.payload[2], m.payload[3]])),
                ),
                () = tokio::task::yield_now() => {}
            }
        }
        assert_eq!(seen, (0..500).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn the_backlog_counts_what_each_group_has_yet_to_do_and_is_recounted_on_open() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let bus = bus(&dir).await;
            let backlog = bus.backlog();
            // Three groups read `t`: each message is three services' work.
            bus.publish(messages("t", 0..4)).await.expect("published");
            bus.publish(messages("unread", 0..2))
                .await
                .expect("published");
            assert_eq!(*backlog.borrow(), 12);
            let mut a = bus.subscribe("t", "a");
            let batch = a.next_batch(3).await.expect("batch");
            a.commit(&batch).await.expect("committed");
            assert_eq!(*backlog.borrow(), 9);
            a.commit(&batch).await.expect("committed again");
            assert_eq!(*backlog.borrow(), 9, "a batch committed twice counts once");
        }
        let bus = bus(&dir).await;
        assert_eq!(*bus.backlog().borrow(), 9, "recounted from the log");
    }

    #[tokio::test]
    async fn a_reader_waiting_is_woken_by_a_publish() {
        let dir = tempfile::tempdir().expect("dir");
        let bus = bus(&dir).await;
        let mut group = bus.subscribe("t", "g");
        let reader = tokio::spawn(async move { group.next_batch(10).await });
        // The reader is waiting on an empty log before anything is published.
        tokio::task::yield_now().await;
        bus.publish(messages("t", 7..8)).await.expect("published");
        let batch = reader.await.expect("joined").expect("batch");
        assert_eq!(payloads(&batch), [7]);
    }

    #[tokio::test]
    async fn what_every_group_committed_is_deleted_and_a_tap_holds_nothing_back() {
        let dir = tempfile::tempdir().expect("dir");
        let bus = bus(&dir).await;
        let (mut a, mut b) = (bus.subscribe("two", "a"), bus.subscribe("two", "b"));
        let mut tap = bus.tap("two");
        bus.publish(messages("two", 0..4)).await.expect("published");
        assert_eq!(
            payloads(&tap.next_batch(10).await.expect("tap")),
            [0, 1, 2, 3]
        );
        let stored = || async {
            let row = bus
                .db
                .query_one_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "SELECT count(*) AS n FROM bus_messages",
                ))
                .await
                .expect("count")
                .expect("row");
            row.try_get::<i64>("", "n").expect("n")
        };
        // b registered, not reading yet: nothing a commits is deleted under it.
        let first = a.next_batch(10).await.expect("a");
        a.commit(&first).await.expect("a commits");
        assert_eq!(stored().await, 4, "b has not read them yet");
        let second = b.next_batch(2).await.expect("b");
        b.commit(&second).await.expect("b commits");
        assert_eq!(stored().await, 2, "both committed the first two");
    }
}
