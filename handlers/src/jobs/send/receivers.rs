//! What the sender knows across batches: each receiver's slots and health, the slots of
//! each client and of the whole process, and which notifications are being delivered.
//!
//! A receiver is one client's deliveries to one scheme, host and port: sixteen URLs on
//! one host that differ in their path or query are one receiver, with one set of slots
//! and one circuit breaker, so they cannot take sixteen times the share of one. The
//! client is part of the key so that a receiver one client has broken (a host that
//! hangs, a shared service it misuses) never opens the breaker for another client's
//! deliveries to the same host.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::policy::CircuitBreaker;
use crate::{
    domain::EndpointKind,
    metrics::metrics,
    ports::{Attempt, Target},
};

/// Who a delivery goes to, as slots and the breaker count it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ReceiverKey {
    client_id: String,
    origin: String,
}

/// The scheme, host and port a target is delivered to; every email goes through the
/// one SMTP server. Never a path or a query: they may carry secrets, and this is
/// logged.
fn origin(target: &Target) -> String {
    if target.kind == EndpointKind::Email {
        return "smtp".to_owned();
    }
    match url::Url::parse(&target.value) {
        Ok(url) => format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default()
        ),
        Err(_) => "unparsable address".to_owned(),
    }
}

/// One receiver: its slots, whether it is down, and when its attempts in flight began.
pub struct Receiver {
    origin: String,
    slots: Arc<Semaphore>,
    breaker: CircuitBreaker,
    health: Mutex<Health>,
    attempts: Mutex<HashMap<u64, tokio::time::Instant>>,
    next_attempt: AtomicU64,
}

/// An attempt in flight; it ends when dropped.
pub struct InFlight<'a> {
    receiver: &'a Receiver,
    id: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.receiver
            .attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

#[derive(Default)]
struct Health {
    failures_in_a_row: u32,
    down_until: Option<tokio::time::Instant>,
}

impl Receiver {
    /// Marks an attempt in flight, until the guard is dropped.
    pub fn attempt(&self) -> InFlight<'_> {
        let id = self.next_attempt.fetch_add(1, Ordering::Relaxed);
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tokio::time::Instant::now());
        InFlight { receiver: self, id }
    }

    /// Whether an attempt in flight has been waiting for its answer longer than
    /// `longer_than`: a slow or hanging receiver, which a batch does not wait for.
    pub fn is_slow(&self, longer_than: Duration) -> bool {
        let now = tokio::time::Instant::now();
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .any(|started| now.saturating_duration_since(*started) > longer_than)
    }

    pub fn is_down(&self) -> bool {
        let health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        health
            .down_until
            .is_some_and(|until| tokio::time::Instant::now() < until)
    }

    /// Counts an attempt's outcome. Once the receiver is down, one more failure after
    /// the cooldown puts it down again at once.
    pub fn observe(&self, outcome: &Attempt) {
        let breaker = self.breaker;
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Attempt::Retryable { error, .. } => {
                health.failures_in_a_row = health.failures_in_a_row.saturating_add(1);
                let now = tokio::time::Instant::now();
                let down = health.down_until.is_some_and(|until| now < until);
                if breaker.failures > 0 && health.failures_in_a_row >= breaker.failures && !down {
                    health.down_until = Some(now + breaker.cooldown);
                    metrics().endpoints_marked_down.inc();
                    tracing::warn!(receiver = %self.origin, failures_in_a_row = health.failures_in_a_row, cooldown_ms = breaker.cooldown.as_millis() as u64, %error, "receiver failing: its deliveries are deferred to the next redrive");
                }
            }
            // It answered: whatever it said, it is up.
            Attempt::Delivered { .. } | Attempt::Permanent { .. } => {
                *health = Health::default();
            }
        }
    }
}

/// The permits one attempt holds: its receiver's, its client's, and the process's.
pub struct Slots {
    _receiver: OwnedSemaphorePermit,
    _client: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
}

/// How many attempts may be in flight, and what is being delivered.
pub struct DeliveryLimits {
    global: Arc<Semaphore>,
    per_receiver: usize,
    per_client: usize,
    breaker: CircuitBreaker,
    receivers: Mutex<HashMap<ReceiverKey, Arc<Receiver>>>,
    clients: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Notifications being delivered by this process, in a batch or after it.
    in_flight: Arc<Claimed>,
    /// How long a batch waits for its deliveries before it lets the slow ones go on
    /// without it (SENDER_BATCH_WAIT).
    pub(super) batch_wait: Duration,
    /// Notifications that may go on after their batch, at most.
    pub(super) backlog: Arc<Semaphore>,
}

/// The most notifications delivered after their batch at once; past it, batches wait.
const BACKLOG: usize = 10_000;

impl DeliveryLimits {
    /// `global` attempts in flight in all, `per_receiver` to one receiver; a client
    /// gets at most half of the process's slots, so that one client's receivers, however
    /// many, always leave the other half to the others.
    pub fn new(global: usize, per_receiver: usize) -> Self {
        let global = global.max(1);
        Self {
            global: Arc::new(Semaphore::new(global)),
            per_receiver: per_receiver.max(1),
            per_client: global.div_ceil(2),
            breaker: CircuitBreaker::default(),
            receivers: Mutex::default(),
            clients: Mutex::default(),
            in_flight: Arc::default(),
            batch_wait: Duration::from_millis(500),
            backlog: Arc::new(Semaphore::new(BACKLOG)),
        }
    }

    pub fn with_breaker(self, breaker: CircuitBreaker) -> Self {
        Self { breaker, ..self }
    }

    pub fn with_batch_wait(self, batch_wait: Duration) -> Self {
        Self { batch_wait, ..self }
    }

    pub fn receiver(&self, client_id: &str, target: &Target) -> Arc<Receiver> {
        let key = ReceiverKey {
            client_id: client_id.to_owned(),
            origin: origin(target),
        };
        self.receivers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert_with_key(|key| {
                Arc::new(Receiver {
                    origin: key.origin.clone(),
                    slots: Arc::new(Semaphore::new(self.per_receiver)),
                    breaker: self.breaker,
                    health: Mutex::default(),
                    attempts: Mutex::default(),
                    next_attempt: AtomicU64::new(0),
                })
            })
            .clone()
    }

    fn client(&self, client_id: &str) -> Arc<Semaphore> {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(client_id.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_client)))
            .clone()
    }

    /// Waits for a slot: the receiver's first, then the client's, then the process's,
    /// so that a delivery queued behind a slow receiver holds nobody else's slot.
    pub async fn acquire(&self, client_id: &str, receiver: &Receiver) -> Slots {
        // The semaphores are never closed, so acquiring cannot fail.
        let acquire = |semaphore: Arc<Semaphore>| async move {
            semaphore
                .acquire_owned()
                .await
                .unwrap_or_else(|_| unreachable!("never closed"))
        };
        let receiver = acquire(receiver.slots.clone()).await;
        let client = acquire(self.client(client_id)).await;
        let global = acquire(self.global.clone()).await;
        Slots {
            _receiver: receiver,
            _client: client,
            _global: global,
        }
    }

    /// Claims the notifications of `ids` that this process is not delivering already;
    /// each claim ends when its guard is dropped.
    pub fn claim(&self, ids: &[Uuid]) -> Vec<Claim> {
        let mut in_flight = self.in_flight.ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.iter()
            .filter(|id| in_flight.insert(**id))
            .map(|id| Claim {
                id: *id,
                in_flight: self.in_flight.clone(),
            })
            .collect()
    }

    /// Claims what it can of `ids` as their claims are released, for at most
    /// `patience`. A notification announced again while it is being delivered (its
    /// resolution, a moment after it fired) is done by this second announcement once the
    /// first is written, rather than by the redrive minutes later.
    pub async fn claim_within(&self, ids: &[Uuid], patience: Duration) -> Vec<Claim> {
        let deadline = tokio::time::Instant::now() + patience;
        let mut waiting: Vec<Uuid> = ids.to_vec();
        let mut claims = Vec::new();
        loop {
            // Registered before looking, so a release in between is not missed.
            let released = self.in_flight.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let got = self.claim(&waiting);
            waiting.retain(|id| !got.iter().any(|claim| claim.id == *id));
            claims.extend(got);
            if waiting.is_empty() || tokio::time::timeout_at(deadline, released).await.is_err() {
                return claims;
            }
        }
    }
}

/// The notifications this process is delivering, and a signal when one is done.
#[derive(Default)]
struct Claimed {
    ids: Mutex<HashSet<Uuid>>,
    released: tokio::sync::Notify,
}

/// This process delivers notification `id`; another announcement of it meanwhile waits
/// for it (see [`DeliveryLimits::claim_within`]). Dropped when the delivery is written
/// (or abandoned), whichever task holds it.
pub struct Claim {
    pub id: Uuid,
    in_flight: Arc<Claimed>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.in_flight
            .ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
        self.in_flight.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure() -> Attempt {
        Attempt::Retryable {
            error: "timed out".to_owned(),
            http_status: None,
            retry_after: None,
        }
    }

    fn limits_with(failures: u32) -> DeliveryLimits {
        DeliveryLimits::new(4, 2).with_breaker(CircuitBreaker {
            failures,
            cooldown: Duration::from_secs(30),
        })
    }

    fn webhook(url: &str) -> Target {
        Target {
            endpoint_id: Uuid::nil(),
            kind: EndpointKind::Webhook,
            value: url.to_owned(),
            secret: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_receiver_is_down_after_failures_in_a_row_until_it_answers() {
        let limits = limits_with(3);
        let hook = limits.receiver("acme", &webhook("https://hooks.example/a"));
        let other = limits.receiver("acme", &webhook("https://other.example/b"));
        hook.observe(&failure());
        hook.observe(&failure());
        assert!(!hook.is_down(), "two failures are not yet three");
        hook.observe(&failure());
        assert!(hook.is_down());
        assert!(!other.is_down(), "one receiver's failures are its own");
        assert!(
            limits
                .receiver("acme", &webhook("https://hooks.example/a?token=2"))
                .is_down(),
            "the state is kept per scheme, host and port, whatever the path and query"
        );
        assert!(
            !limits
                .receiver("globex", &webhook("https://hooks.example/a"))
                .is_down(),
            "another client's deliveries to the same host are not held"
        );
        // Any answer, even a refusal, shows it is up.
        hook.observe(&Attempt::Permanent {
            error: "410".to_owned(),
            http_status: Some(410),
        });
        assert!(!hook.is_down());
        hook.observe(&failure());
        assert!(!hook.is_down(), "the count starts over after an answer");
    }

    #[tokio::test(start_paused = true)]
    async fn a_receiver_is_tried_again_after_the_cooldown_and_down_at_its_next_failure() {
        let limits = limits_with(2);
        let hook = limits.receiver("acme", &webhook("https://hooks.example/a"));
        hook.observe(&failure());
        hook.observe(&failure());
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(hook.is_down(), "down for the whole cooldown");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!hook.is_down(), "tried again once the cooldown is over");
        hook.observe(&failure());
        assert!(hook.is_down(), "one failure after the cooldown is enough");
    }

    #[tokio::test(start_paused = true)]
    async fn a_breaker_of_zero_failures_never_opens() {
        let limits = limits_with(0);
        let hook = limits.receiver("acme", &webhook("https://hooks.example/a"));
        for _ in 0..100 {
            hook.observe(&failure());
        }
        assert!(!hook.is_down());
    }

    #[tokio::test(start_paused = true)]
    async fn a_receiver_is_slow_while_an_attempt_waits_longer_than_asked() {
        let limits = limits_with(10);
        let hook = limits.receiver("acme", &webhook("https://hooks.example/a"));
        let attempt = hook.attempt();
        tokio::time::advance(Duration::from_millis(400)).await;
        assert!(!hook.is_slow(Duration::from_millis(500)));
        tokio::time::advance(Duration::from_millis(200)).await;
        assert!(hook.is_slow(Duration::from_millis(500)));
        drop(attempt);
        assert!(
            !hook.is_slow(Duration::from_millis(500)),
            "answered at last"
        );
    }

    #[test]
    fn an_origin_is_scheme_host_and_port_and_never_the_path() {
        assert_eq!(
            origin(&webhook("https://hooks.slack.com/services/T0/B0/secret")),
            "https://hooks.slack.com:443"
        );
        assert_eq!(
            origin(&webhook("http://127.0.0.1:9000/hook?token=s3cret")),
            "http://127.0.0.1:9000"
        );
        let mail = Target {
            kind: EndpointKind::Email,
            ..webhook("oncall@example.com")
        };
        assert_eq!(origin(&mail), "smtp");
    }

    #[tokio::test]
    async fn one_client_takes_at_most_half_of_the_slots_and_claims_are_single() {
        let limits = DeliveryLimits::new(4, 4);
        let mut held = Vec::new();
        for n in 0..2 {
            let receiver = limits.receiver("noisy", &webhook(&format!("http://h{n}.example/")));
            held.push(limits.acquire("noisy", &receiver).await);
        }
        let third = limits.receiver("noisy", &webhook("http://h3.example/"));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), limits.acquire("noisy", &third))
                .await
                .is_err(),
            "a third slot for the same client"
        );
        let quiet = limits.receiver("quiet", &webhook("http://h0.example/"));
        let _ = limits.acquire("quiet", &quiet).await;

        let id = Uuid::new_v4();
        let first = limits.claim(&[id]);
        assert_eq!(first.len(), 1);
        assert!(limits.claim(&[id]).is_empty(), "claimed twice");
        drop(first);
        assert_eq!(limits.claim(&[id]).len(), 1, "a dropped claim frees it");
    }

    #[tokio::test]
    async fn a_second_announcement_claims_the_notification_once_the_first_lets_go() {
        let limits = Arc::new(DeliveryLimits::new(4, 4));
        let id = Uuid::new_v4();
        let first = limits.claim(&[id]);
        let waiting = {
            let limits = limits.clone();
            tokio::spawn(async move { limits.claim_within(&[id], Duration::from_secs(30)).await })
        };
        tokio::task::yield_now().await;
        drop(first);
        let second = waiting.await.expect("task");
        assert_eq!(second.len(), 1, "claimed once released");
        // Held for good: given up after the patience, unclaimed.
        assert!(
            limits
                .claim_within(&[id], Duration::from_millis(20))
                .await
                .is_empty()
        );
    }
}
