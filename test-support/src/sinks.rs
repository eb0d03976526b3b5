//! Test receivers on loopback: an HTTP sink for webhooks and Slack that records every
//! request and answers as scripted, and an SMTP server that records every message.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

/// Far beyond any healthy wait; only a broken pipeline reaches it.
const PATIENCE: Duration = Duration::from_secs(90);

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16),
    /// 429 with `Retry-After: <seconds>`.
    TooManyRequests(u64),
    /// Answers only after this long (past the sender's timeout).
    Hang(Duration),
    /// Answers 200 once the test opens the gate (sends `true`).
    Wait(tokio::sync::watch::Receiver<bool>),
}

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct SinkState {
    received: Vec<Received>,
    scripts: HashMap<String, VecDeque<Answer>>,
}

/// Listens on two ports with one record: to the sender, whose receivers are a scheme,
/// host and port, `url` and `url_apart` are two receivers.
#[derive(Clone)]
pub struct HttpSink {
    pub address: SocketAddr,
    apart: SocketAddr,
    state: Arc<Mutex<SinkState>>,
}

async fn receive(
    State(state): State<Arc<Mutex<SinkState>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = {
        let mut state = state.lock().expect("sink lock");
        state.received.push(Received {
            path: path.clone(),
            headers,
            body: body.to_vec(),
            at: Instant::now(),
        });
        state.scripts.get_mut(&path).and_then(VecDeque::pop_front)
    };
    match answer {
        None => StatusCode::OK.into_response(),
        Some(Answer::Status(code)) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::OK)
            .into_response(),
        Some(Answer::TooManyRequests(seconds)) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", seconds.to_string())],
        )
            .into_response(),
        Some(Answer::Hang(duration)) => {
            tokio::time::sleep(duration).await;
            StatusCode::OK.into_response()
        }
        Some(Answer::Wait(mut gate)) => {
            // A gate dropped unopened lets the request go too: the test is over.
            let _ = gate.wait_for(|open| *open).await;
            StatusCode::OK.into_response()
        }
    }
}

impl HttpSink {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(SinkState::default()));
        let app = Router::new()
            .route("/{path}", post(receive))
            .with_state(state.clone());
        let mut addresses = Vec::new();
        for _ in 0..2 {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            addresses.push(listener.local_addr().expect("addr"));
            let app = app.clone();
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
        }
        Self {
            address: addresses[0],
            apart: addresses[1],
            state,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.address)
    }

    /// `path` on the sink's second port: a receiver apart from those of `url`.
    pub fn url_apart(&self, path: &str) -> String {
        format!("http://{}/{path}", self.apart)
    }

    /// The next answers for `path`; after them, 200.
    pub fn script(&self, path: &str, answers: Vec<Answer>) {
        self.state
            .lock()
            .expect("lock")
            .scripts
            .insert(path.to_owned(), answers.into());
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        self.state
            .lock()
            .expect("lock")
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// The idempotency keys each notification was delivered to `path` with: one per
    /// notification, however often it was delivered.
    pub fn keys_by_notification(&self, path: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for request in self.received(path) {
            keys.entry(
                request.json()["notification_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
            .or_default()
            .insert(
                request
                    .header("idempotency-key")
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        keys
    }

    pub fn all(&self) -> Vec<Received> {
        self.state.lock().expect("lock").received.clone()
    }

    /// Waits until `path` has received at least `count` requests.
    pub async fn wait_for(&self, path: &str, count: usize) -> Vec<Received> {
        let waited = tokio::time::timeout(PATIENCE, async {
            loop {
                let received = self.received(path);
                if received.len() >= count {
                    return received;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        waited.unwrap_or_else(|_| {
            panic!(
                "{path} never received {count} requests: {:#?}",
                self.received(path).len()
            )
        })
    }
}

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

#[derive(Clone)]
pub struct SmtpSink {
    pub address: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("addr");
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let store = mails.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = session(stream, store).await;
                });
            }
        });
        Self { address, mails }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.address)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().expect("lock").clone()
    }
}

/// The server side of RFC 5321, as much as a client sending mail needs.
async fn session(
    stream: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            write
                .write_all(b"250-sink.test\r\n250 8BITMIME\r\n")
                .await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().to_owned();
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(line[8..].trim().to_owned());
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = String::new();
            while let Some(line) = lines.next_line().await? {
                if line == "." {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push('\n');
            }
            store.lock().expect("lock").push(Mail {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
            });
            write.write_all(b"250 OK queued\r\n").await?;
        } else if upper == "QUIT" {
            write.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            write.write_all(b"250 OK\r\n").await?;
        } else {
            write.write_all(b"502 Command not implemented\r\n").await?;
        }
    }
    Ok(())
}
