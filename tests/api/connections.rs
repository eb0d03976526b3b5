//! What the HTTP services do with a connection itself, over raw TCP: one that sends
//! its headers too slowly, or sits idle between requests, is closed after its bound;
//! an answer given before the request's body was read says `Connection: close`.

use std::{sync::Arc, time::Duration};

use alerting::{
    adapters::in_process_bus::InProcessBus,
    runners::http::{ConnectionLimits, serve_with},
};
use alerting_handlers::http::alert_producer::{self, AlertProducerSettings};
use alerting_test_support::ADMIN_TOKEN;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    time::Instant,
};

/// Far beyond any bound set here; only a connection left open reaches it.
const PATIENCE: Duration = Duration::from_secs(20);

/// An alert-producer taking `rate` ingestions a second, with `limits`; its address.
async fn producer(limits: ConnectionLimits, rate: u32) -> String {
    let router = alert_producer::router(
        Arc::new(InProcessBus::new(100)),
        AlertProducerSettings {
            admin_token: ADMIN_TOKEN.to_owned(),
            keys: None,
            ingest_rate_limit: rate,
            sns: None,
            backpressure: None,
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    tokio::spawn(serve_with(listener, router, std::future::pending(), limits));
    address
}

/// Reads until the server closes the connection; returns what it sent and when it
/// closed. A reset counts as closed too.
async fn until_closed(stream: &mut TcpStream) -> (Vec<u8>, Instant) {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(PATIENCE, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(read) => received.extend_from_slice(&buffer[..read]),
            }
        }
    })
    .await
    .expect("the server closed the connection");
    (received, closed)
}

/// Reads one response's head: its status and headers, names in lower case.
async fn response_head(stream: &mut TcpStream) -> (u16, Vec<(String, String)>) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = tokio::time::timeout(PATIENCE, stream.read_u8())
            .await
            .expect("an answer in time")
            .expect("a byte of the answer");
        head.push(byte);
    }
    let head = String::from_utf8(head).expect("an ASCII head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    (status, headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(known, _)| known == name)
        .map(|(_, value)| value.as_str())
}

const SHORT: ConnectionLimits = ConnectionLimits {
    header_read: Duration::from_millis(300),
    idle: Duration::from_millis(1200),
};

#[tokio::test]
async fn unfinished_headers_are_cut_off_after_the_header_read_timeout() {
    let address = producer(SHORT, 0).await;

    // Half a request, then nothing.
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let sent = Instant::now();
    stream
        .write_all(b"POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .await
        .expect("sent");
    let (_, closed) = until_closed(&mut stream).await;
    assert!(closed - sent >= SHORT.header_read, "{:?}", closed - sent);

    // Trickled a byte at a time, for longer than the bound: the bound runs from the
    // first byte, not the last.
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let (mut reader, mut writer) = stream.split();
    let trickle = async {
        for byte in b"GET /health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let mut rest = Vec::new();
    tokio::select! {
        () = trickle => panic!("the server waited for the whole trickle"),
        _ = reader.read_to_end(&mut rest) => {}
    }

    // Connected and silent: the first request's headers are due from the start.
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let connected = Instant::now();
    let (_, closed) = until_closed(&mut stream).await;
    assert!(closed - connected >= SHORT.header_read);
    assert!(closed - connected < SHORT.idle, "{:?}", closed - connected);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let address = producer(SHORT, 0).await;
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    for _ in 0..2 {
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("sent");
        let (status, headers) = response_head(&mut stream).await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "connection"), None, "kept alive");
        let length: usize = header(&headers, "content-length")
            .and_then(|length| length.parse().ok())
            .expect("a length");
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.expect("the body");
    }
    let answered = Instant::now();
    let (rest, closed) = until_closed(&mut stream).await;
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    // The idle bound, not the shorter header bound, applies between requests.
    assert!(closed - answered >= SHORT.idle, "{:?}", closed - answered);
}

/// Sends a POST's headers and the first bytes of its 10,000-byte body, with `token`.
async fn post_half_a_body(address: &str, path: &str, token: &str, length: usize) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n[{{\"severity\""
    );
    stream.write_all(head.as_bytes()).await.expect("sent");
    stream
}

#[tokio::test]
async fn an_answer_before_the_body_is_read_says_connection_close() {
    let address = producer(ConnectionLimits::default(), 0).await;
    let unknown = "alerting_admin_not-the-right-one-0123456789abcdef";
    let early = [
        (unknown, 10_000, 401),
        // Over the 1 MiB limit by its length alone.
        (ADMIN_TOKEN, 2 * 1024 * 1024, 413),
    ];
    for (token, length, expected) in early {
        let mut stream = post_half_a_body(&address, "/api/v1/alerts", token, length).await;
        let (status, headers) = response_head(&mut stream).await;
        assert_eq!(status, expected);
        assert_eq!(header(&headers, "connection"), Some("close"), "{status}");
        until_closed(&mut stream).await;
    }

    // A whole request is answered and the connection kept; the next one, over the
    // rate, is refused before its body is read and closed.
    let address = producer(ConnectionLimits::default(), 1).await;
    let alert = br#"{"severity": "HIGH", "source": "db", "name": "down"}"#;
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let whole = format!(
        "POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        alert.len()
    );
    stream.write_all(whole.as_bytes()).await.expect("sent");
    stream.write_all(alert).await.expect("sent");
    let (status, headers) = response_head(&mut stream).await;
    assert_eq!(status, 202);
    assert_eq!(header(&headers, "connection"), None, "kept alive");
    let length: usize = header(&headers, "content-length")
        .and_then(|length| length.parse().ok())
        .expect("a length");
    stream
        .read_exact(&mut vec![0; length])
        .await
        .expect("the body");
    let head = format!(
        "POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n[{{\"severity\""
    );
    stream.write_all(head.as_bytes()).await.expect("sent");
    let (status, headers) = response_head(&mut stream).await;
    assert_eq!(status, 429);
    assert_eq!(header(&headers, "connection"), Some("close"));
    until_closed(&mut stream).await;
}
