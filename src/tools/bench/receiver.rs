//! The bench's webhook receiver: records when each delivery arrived, with the
//! timestamps its body carries (the alert's `event_ts`, set when the bench sent it,
//! and the notification's `created_at`, set when the aggregator stored it).

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::{net::TcpListener, sync::Notify};

#[derive(Debug, Clone)]
pub struct Arrival {
    pub client_id: String,
    pub alert_id: String,
    pub event_ts: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub arrived_at: DateTime<Utc>,
    /// A notification's resolution, not the notification.
    pub resolution: bool,
}

#[derive(Deserialize)]
struct Body {
    client_id: String,
    alert: AlertPart,
    created_at: DateTime<Utc>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct AlertPart {
    alert_id: String,
    event_ts: DateTime<Utc>,
}

#[derive(Default)]
pub struct Arrivals {
    list: Mutex<Vec<Arrival>>,
    /// Woken on every arrival, for waits on a condition.
    pub changed: Notify,
}

impl Arrivals {
    pub fn count(&self) -> usize {
        self.list.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Arrivals whose alert id starts with `prefix`.
    pub fn with_prefix(&self, prefix: &str) -> Vec<Arrival> {
        self.list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|a| a.alert_id.starts_with(prefix))
            .cloned()
            .collect()
    }
}

async fn receive(State(arrivals): State<Arc<Arrivals>>, body: Bytes) -> StatusCode {
    let arrived_at = Utc::now();
    let Ok(body) = serde_json::from_slice::<Body>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    arrivals
        .list
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Arrival {
            client_id: body.client_id,
            alert_id: body.alert.alert_id,
            event_ts: body.alert.event_ts,
            created_at: body.created_at,
            arrived_at,
            resolution: body.status.as_deref() == Some("resolved"),
        });
    arrivals.changed.notify_waiters();
    StatusCode::OK
}

/// Starts the receiver on a loopback port; it runs until the process ends.
pub async fn start() -> std::io::Result<(SocketAddr, Arc<Arrivals>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let arrivals = Arc::new(Arrivals::default());
    let router = Router::new()
        .route("/{*client}", post(receive))
        .with_state(arrivals.clone());
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            eprintln!("bench receiver stopped: {err}");
        }
    });
    Ok((address, arrivals))
}
