//! The API tests' own harness: the rule-service started in the test's process on a
//! fresh database (`alerting_test_support::database`) on a loopback port, with a client
//! that talks to it over real HTTP; an alert-producer on an in-process bus; and
//! `on_both_backends!`, which runs a test once on SQLite and once on Postgres.

use std::net::SocketAddr;

use alerting_test_support::{
    ADMIN_TOKEN,
    database::{self, Backend, TestDatabase},
};
use reqwest::Method;
use sea_orm::DatabaseConnection;
use serde_json::Value;
use tokio::{net::TcpListener, sync::oneshot};

/// An alert-producer on an in-process bus, on a loopback port; returns its base URL.
pub async fn spawn_alert_producer(
    settings: alerting_handlers::http::alert_producer::AlertProducerSettings,
) -> String {
    let bus = std::sync::Arc::new(alerting::adapters::in_process_bus::InProcessBus::new(100));
    let router = alerting_handlers::http::alert_producer::router(bus, settings);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(alerting::runners::http::serve(
        listener,
        router,
        std::future::pending(),
    ));
    address
}

pub struct TestApp {
    pub address: SocketAddr,
    pub db: DatabaseConnection,
    /// The schema's owner (on Postgres a superuser; on SQLite the same as `db`), for
    /// what the service's role may not do, such as dropping an index.
    pub owner_db: DatabaseConnection,
    http: reqwest::Client,
    /// Sent as `Authorization: Bearer` with every request (`as_token` changes it).
    token: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    // Last, so the server and pool are gone before the database is dropped.
    _database: TestDatabase,
}

/// A response: status, parsed JSON body (Null when empty) and headers.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The error code of an error response.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// The field an error response names.
    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or_default()
    }

    pub fn str(&self, key: &str) -> String {
        self.body[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} missing in {}", self.body))
            .to_owned()
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, true).await
    }

    /// A rule-service that refuses private endpoint addresses unless `allow_private`.
    pub async fn spawn_with(backend: Backend, allow_private: bool) -> Self {
        Self::spawn_configured(backend, |settings| {
            settings.targets.allow_private = allow_private;
        })
        .await
    }

    /// A rule-service with the test settings as `configure` changes them.
    pub async fn spawn_configured(
        backend: Backend,
        configure: impl FnOnce(&mut alerting_handlers::http::rule_service::RuleServiceSettings),
    ) -> Self {
        let (database, url) = TestDatabase::create(backend).await;
        let db = alerting::db::connect_url(&url, 5).await.expect("connect");
        alerting::db::migrate(&db).await.expect("migrate");
        // On Postgres the service connects as the application's role, as in production:
        // every API test then shows that role's rights are enough.
        let service_db = match backend {
            Backend::Sqlite => db.clone(),
            Backend::Postgres => {
                let app_url = database::app_role_url(&db, &url).await;
                alerting::db::connect_url(&app_url, 5)
                    .await
                    .expect("connect as the application's role")
            }
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("local addr");
        let mut settings =
            alerting_handlers::http::rule_service::RuleServiceSettings::local(ADMIN_TOKEN);
        configure(&mut settings);
        let router = alerting_handlers::http::rule_service::router(service_db.clone(), settings);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(alerting::runners::http::serve(
            listener,
            router,
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            address,
            // What the test reads and writes is what the service does, as its role.
            db: service_db,
            owner_db: db,
            http: alerting::http_client::client(),
            token: Some(ADMIN_TOKEN.to_owned()),
            stop: Some(stop),
            _database: database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The same app, calling with `token` (or with none).
    pub fn as_token(&self, token: Option<&str>) -> TestClient<'_> {
        TestClient {
            app: self,
            token: token.map(str::to_owned),
        }
    }

    fn request(&self, token: Option<&str>, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, self.url(path));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send_with(self.token.as_deref(), method, path, body)
            .await
    }

    async fn send_with(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.request(token, method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::reply(request.send().await.expect("request sent")).await
    }

    pub async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        Reply {
            status,
            body,
            headers,
        }
    }

    /// A raw request, for bodies that are not valid JSON.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut request = self.request(self.token.as_deref(), method, path).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        Self::reply(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    /// Creates a client and returns its id.
    pub async fn client(&self, client_id: &str) -> String {
        let reply = self
            .post(
                "/api/v1/clients",
                serde_json::json!({ "client_id": client_id }),
            )
            .await;
        assert_eq!(reply.status, 201, "{reply:?}");
        reply.str("client_id")
    }

    /// Makes an API key for a client (named, with these scopes) and returns the key.
    pub async fn key(&self, client_id: &str, name: &str, scopes: &[&str]) -> String {
        let reply = self
            .post(
                &format!("/api/v1/clients/{client_id}/keys"),
                serde_json::json!({"name": name, "scopes": scopes}),
            )
            .await;
        assert_eq!(reply.status, 201, "{reply:?}");
        reply.str("key")
    }

    /// Creates a rule and returns it.
    pub async fn rule(&self, client_id: &str, severity: &str, source: &str, name: &str) -> Value {
        let reply = self
            .post(
                "/api/v1/rules",
                serde_json::json!({
                    "client_id": client_id, "severity": severity, "source": source, "name": name
                }),
            )
            .await;
        assert_eq!(reply.status, 201, "{reply:?}");
        reply.body
    }

    /// Creates an endpoint on a rule and returns it.
    pub async fn endpoint(&self, rule_id: &str, kind: &str, value: &str) -> Value {
        let reply = self
            .post(
                &format!("/api/v1/rules/{rule_id}/endpoints"),
                serde_json::json!({ "type": kind, "value": value }),
            )
            .await;
        assert_eq!(reply.status, 201, "{reply:?}");
        reply.body
    }
}

/// A [`TestApp`] called with another token.
pub struct TestClient<'a> {
    app: &'a TestApp,
    token: Option<String>,
}

impl TestClient<'_> {
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.app
            .send_with(self.token.as_deref(), method, path, body)
            .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Runs each named `async fn(TestApp)` once on SQLite and once on Postgres; after
/// `configured by F;`, on a rule-service whose settings F changes.
#[macro_export]
macro_rules! on_both_backends {
    (configured by $configure:expr; $($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::helpers::TestApp::spawn_configured(::alerting_test_support::database::Backend::Sqlite, $configure).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::helpers::TestApp::spawn_configured(::alerting_test_support::database::Backend::Postgres, $configure).await).await;
                }
            )*
        }
    };
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::helpers::TestApp::spawn(::alerting_test_support::database::Backend::Sqlite).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::helpers::TestApp::spawn(::alerting_test_support::database::Backend::Postgres).await).await;
                }
            )*
        }
    };
}

/// A match of the shared feed's alert `alert` (with `dedup_key`, if any) for `client`,
/// as an evaluator publishes it.
pub fn matched(
    client: &str,
    alert: &str,
    dedup_key: Option<&str>,
) -> alerting_handlers::events::AlertMatchedEvent {
    alerting_handlers::events::AlertMatchedEvent {
        schema_version: 1,
        alert: alerting_handlers::events::AlertBody {
            owner: None,
            alert_id: alert.to_owned(),
            event_ts: chrono::Utc::now(),
            severity: "HIGH".to_owned(),
            source: "payments".to_owned(),
            name: "card-declined".to_owned(),
            context: Default::default(),
            dedup_key: dedup_key.map(str::to_owned),
            status: Default::default(),
        },
        client_id: client.to_owned(),
        rule_ids: vec![uuid::Uuid::new_v4()],
    }
}
