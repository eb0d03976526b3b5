//! The CloudWatch metrics sink: each interval, one `PutMetricData` call with what
//! happened since the last one (counters as deltas, gauges as they are, the delivery
//! latency as per-bucket counts so CloudWatch can compute percentiles), under the
//! dimensions Service and Environment.
//!
//! A metric is sent from its first non-zero value on: every process has every counter,
//! but each service moves only its own few, and each name and dimension set that
//! CloudWatch sees is billed as a custom metric.

use std::{collections::HashSet, sync::Mutex};

use alerting_handlers::{
    metrics::{LATENCY_BOUNDS, Reading},
    ports::{MetricsError, MetricsSink},
};
use async_trait::async_trait;
use aws_sdk_cloudwatch::{
    Client,
    primitives::DateTime,
    types::{Dimension, MetricDatum, StandardUnit},
};

use crate::config::MetricsConfig;

/// PutMetricData takes at most 1,000 data per call.
const DATA_PER_CALL: usize = 1_000;

/// The SDK's HTTP client with rustls on ring (its default feature would bring aws-lc).
pub(crate) fn http_client() -> aws_sdk_cloudwatch::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

pub struct CloudWatchSink {
    client: Client,
    namespace: String,
    dimensions: Vec<Dimension>,
    sent: Mutex<Sent>,
}

#[derive(Default)]
struct Sent {
    /// The reading of the last successful call; deltas are taken from it, so what a
    /// failed call carried goes with the next one.
    last: Option<Reading>,
    /// The metrics that have been non-zero: sent on every call from then on.
    active: HashSet<String>,
}

impl CloudWatchSink {
    /// A sink for `service`, with credentials and region from the environment (an ECS
    /// task role and AWS_REGION in production).
    pub async fn from_config(config: &MetricsConfig, service: &str) -> Self {
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http_client());
        if let Some(url) = &config.cloudwatch_endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let shared = loader.load().await;
        let client = Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(&shared)
                // A call carries a few hundred bytes; compressing is not worth it.
                .disable_request_compression(true)
                .build(),
        );
        Self::new(
            client,
            &config.cloudwatch_namespace,
            service,
            &config.environment,
        )
    }

    pub fn new(client: Client, namespace: &str, service: &str, environment: &str) -> Self {
        let dimension =
            |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
        Self {
            client,
            namespace: namespace.to_owned(),
            dimensions: vec![
                dimension("Service", service),
                dimension("Environment", environment),
            ],
            sent: Mutex::default(),
        }
    }

    fn datum(
        &self,
        name: &str,
        unit: StandardUnit,
        now: DateTime,
    ) -> aws_sdk_cloudwatch::types::builders::MetricDatumBuilder {
        self.dimensions.iter().fold(
            MetricDatum::builder()
                .metric_name(name)
                .unit(unit)
                .timestamp(now),
            |datum, dimension| datum.dimensions(dimension.clone()),
        )
    }

    /// The data of `reading`, as changes since the last call; marks what became active.
    fn data(&self, reading: &Reading, sent: &mut Sent, now: DateTime) -> Vec<MetricDatum> {
        let previous = sent.last.as_ref();
        let mut data = Vec::new();
        for (i, counter) in reading.counters.iter().enumerate() {
            let before = previous
                .and_then(|p| p.counters.get(i))
                .filter(|p| p.name == counter.name && p.label == counter.label)
                .map_or(0, |p| p.value);
            let name = match counter.label {
                Some((_, value)) => format!("{}{value}", counter.cloudwatch_name),
                None => counter.cloudwatch_name.to_owned(),
            };
            if !active(&mut sent.active, &name, counter.value != 0) {
                continue;
            }
            data.push(
                self.datum(&name, StandardUnit::Count, now)
                    .value(counter.value.saturating_sub(before) as f64)
                    .build(),
            );
        }
        // Gauges of the same name (the lag of each consumer) add up: a process is
        // one service, and a service one consumer.
        let mut gauges: Vec<(&str, i64)> = Vec::new();
        for gauge in &reading.gauges {
            match gauges
                .iter_mut()
                .find(|(name, _)| *name == gauge.cloudwatch_name)
            {
                Some((_, total)) => *total += gauge.value,
                None => gauges.push((gauge.cloudwatch_name, gauge.value)),
            }
        }
        for (name, value) in gauges {
            if !active(&mut sent.active, name, value != 0) {
                continue;
            }
            data.push(
                self.datum(name, StandardUnit::Count, now)
                    .value(value as f64)
                    .build(),
            );
        }
        let latency = &reading.delivery_latency;
        let mut datum = self.datum("DeliveryLatency", StandardUnit::Seconds, now);
        let mut observed = false;
        for (i, count) in latency.bucket_counts.iter().enumerate() {
            let before = previous
                .and_then(|p| p.delivery_latency.bucket_counts.get(i))
                .copied()
                .unwrap_or(0);
            let new = count.saturating_sub(before);
            if new > 0 {
                // Each bucket stands for its upper bound (the unbounded one for the
                // last bound): percentiles err on the slow side.
                let value = LATENCY_BOUNDS
                    .get(i)
                    .or(LATENCY_BOUNDS.last())
                    .copied()
                    .unwrap_or_default();
                datum = datum.values(value).counts(new as f64);
                observed = true;
            }
        }
        if observed {
            data.push(datum.build());
        }
        data
    }
}

#[async_trait]
impl MetricsSink for CloudWatchSink {
    async fn send(&self, reading: &Reading) -> Result<(), MetricsError> {
        let data = {
            let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
            self.data(
                reading,
                &mut sent,
                DateTime::from(std::time::SystemTime::now()),
            )
        };
        for chunk in data.chunks(DATA_PER_CALL) {
            self.client
                .put_metric_data()
                .namespace(&self.namespace)
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|err| {
                    MetricsError(aws_sdk_cloudwatch::error::DisplayErrorContext(err).to_string())
                })?;
        }
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).last = Some(reading.clone());
        Ok(())
    }
}

/// Whether `name` is sent: once it has been non-zero, always.
fn active(active: &mut HashSet<String>, name: &str, non_zero: bool) -> bool {
    if non_zero && !active.contains(name) {
        active.insert(name.to_owned());
    }
    active.contains(name)
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use alerting_handlers::metrics::Metrics;
    use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    use axum::{
        Router,
        body::Bytes,
        http::{HeaderMap, StatusCode, Uri},
        response::IntoResponse,
        routing::post,
    };
    use ciborium::Value;
    use tokio::sync::mpsc;

    use super::*;

    /// One request as the fake CloudWatch received it.
    struct Received {
        path: String,
        headers: HeaderMap,
        body: Value,
    }

    /// A CloudWatch on loopback that decodes each request (Smithy RPC v2 CBOR, as the
    /// SDK speaks it) and answers with `status`.
    async fn fake_cloudwatch(
        statuses: Vec<StatusCode>,
    ) -> (String, mpsc::UnboundedReceiver<Received>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let statuses = Arc::new(std::sync::Mutex::new(statuses.into_iter()));
        let handler = move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let sender = sender.clone();
            let statuses = statuses.clone();
            async move {
                let body: Value = ciborium::de::from_reader(body.as_ref()).expect("a CBOR body");
                let _ = sender.send(Received {
                    path: uri.path().to_owned(),
                    headers,
                    body,
                });
                let status = statuses
                    .lock()
                    .expect("statuses")
                    .next()
                    .unwrap_or(StatusCode::OK);
                (
                    status,
                    [
                        ("smithy-protocol", "rpc-v2-cbor"),
                        ("content-type", "application/cbor"),
                    ],
                    vec![0xa0_u8], // an empty map
                )
                    .into_response()
            }
        };
        let router = Router::new().route("/{*path}", post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bound");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, router).await });
        (format!("http://{addr}"), receiver)
    }

    fn sink(endpoint: &str) -> CloudWatchSink {
        let config = aws_sdk_cloudwatch::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .http_client(http_client())
            .disable_request_compression(true)
            .build();
        CloudWatchSink::new(
            Client::from_conf(config),
            "Test/Alerting",
            "sender",
            "staging",
        )
    }

    fn field<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
        map.as_map()?
            .iter()
            .find(|(k, _)| k.as_text() == Some(key))
            .map(|(_, v)| v)
    }

    fn text<'a>(map: &'a Value, key: &str) -> &'a str {
        field(map, key)
            .and_then(Value::as_text)
            .unwrap_or_else(|| panic!("no text {key} in {map:?}"))
    }

    fn number(value: &Value) -> f64 {
        match value {
            Value::Float(f) => *f,
            Value::Integer(i) => i128::from(*i) as f64,
            other => panic!("not a number: {other:?}"),
        }
    }

    fn numbers(map: &Value, key: &str) -> Vec<f64> {
        field(map, key)
            .and_then(Value::as_array)
            .map(|values| values.iter().map(number).collect())
            .unwrap_or_default()
    }

    /// The datum named `name` of a PutMetricData body.
    fn datum<'a>(body: &'a Value, name: &str) -> &'a Value {
        field(body, "MetricData")
            .and_then(Value::as_array)
            .expect("MetricData")
            .iter()
            .find(|d| text(d, "MetricName") == name)
            .unwrap_or_else(|| panic!("no datum {name}"))
    }

    async fn next(requests: &mut mpsc::UnboundedReceiver<Received>) -> Received {
        tokio::time::timeout(Duration::from_secs(10), requests.recv())
            .await
            .expect("a request within 10 s")
            .expect("the server is up")
    }

    #[tokio::test]
    async fn each_push_is_one_signed_put_metric_data_with_the_changes_since_the_last() {
        let (endpoint, mut requests) = fake_cloudwatch(vec![]).await;
        let sink = sink(&endpoint);
        let metrics = Metrics::default();
        metrics.deliveries_delivered.add(7);
        metrics.http_response(503);
        metrics.set_consumer_lag("sender", 40);
        metrics.delivery_latency.observe(Duration::from_millis(20));
        metrics.delivery_latency.observe(Duration::from_millis(22));
        metrics.delivery_latency.observe(Duration::from_millis(700));

        sink.send(&metrics.read()).await.expect("first push");
        let first = next(&mut requests).await;
        assert_eq!(
            first.path,
            "/service/GraniteServiceVersion20100801/operation/PutMetricData"
        );
        assert_eq!(first.headers["content-type"], "application/cbor");
        let authorization = first.headers["authorization"].to_str().expect("ascii");
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
                && authorization.contains("/eu-west-1/monitoring/aws4_request"),
            "{authorization}"
        );
        assert_eq!(text(&first.body, "Namespace"), "Test/Alerting");

        let delivered = datum(&first.body, "DeliveriesDelivered");
        assert_eq!(number(field(delivered, "Value").expect("Value")), 7.0);
        assert_eq!(text(delivered, "Unit"), "Count");
        let dimensions: Vec<(String, String)> = field(delivered, "Dimensions")
            .and_then(Value::as_array)
            .expect("Dimensions")
            .iter()
            .map(|d| (text(d, "Name").to_owned(), text(d, "Value").to_owned()))
            .collect();
        assert_eq!(
            dimensions,
            [
                ("Service".to_owned(), "sender".to_owned()),
                ("Environment".to_owned(), "staging".to_owned())
            ]
        );
        assert!(field(delivered, "Timestamp").is_some());
        assert_eq!(
            number(field(datum(&first.body, "HttpResponses5xx"), "Value").expect("Value")),
            1.0
        );
        assert_eq!(
            number(field(datum(&first.body, "ConsumerLag"), "Value").expect("Value")),
            40.0
        );
        let latency = datum(&first.body, "DeliveryLatency");
        assert_eq!(text(latency, "Unit"), "Seconds");
        assert_eq!(numbers(latency, "Values"), [0.025, 1.0]);
        assert_eq!(numbers(latency, "Counts"), [2.0, 1.0]);

        // The second push carries what happened since the first, not the totals.
        metrics.deliveries_delivered.add(3);
        sink.send(&metrics.read()).await.expect("second push");
        let second = next(&mut requests).await;
        assert_eq!(
            number(field(datum(&second.body, "DeliveriesDelivered"), "Value").expect("Value")),
            3.0
        );
        assert_eq!(
            number(field(datum(&second.body, "HttpResponses5xx"), "Value").expect("Value")),
            0.0,
            "once sent, a metric is sent every time"
        );
        let names: Vec<&str> = field(&second.body, "MetricData")
            .and_then(Value::as_array)
            .expect("MetricData")
            .iter()
            .map(|d| text(d, "MetricName"))
            .collect();
        assert!(
            !names.contains(&"DeliveryLatency"),
            "no deliveries, no latency datum: {names:?}"
        );
        assert!(
            !names.contains(&"DeliveriesFailed") && !names.contains(&"AlertsReceived"),
            "what never moved in this process is not sent (each is a billed metric): {names:?}"
        );
    }

    #[tokio::test]
    async fn what_a_failed_push_carried_goes_with_the_next_one() {
        let (endpoint, mut requests) =
            fake_cloudwatch(vec![StatusCode::INTERNAL_SERVER_ERROR]).await;
        let sink = sink(&endpoint);
        let metrics = Metrics::default();
        metrics.alerts_received.add(5);
        let failed = sink.send(&metrics.read()).await;
        assert!(failed.is_err(), "a 500 is an error");
        next(&mut requests).await;

        metrics.alerts_received.add(2);
        sink.send(&metrics.read()).await.expect("second push");
        let second = next(&mut requests).await;
        assert_eq!(
            number(field(datum(&second.body, "AlertsReceived"), "Value").expect("Value")),
            7.0
        );
    }
}
