//! The platform on production transports, each server with a certificate from a CA
//! the test makes: Apache Kafka over SASL_SSL with a SCRAM user, Redis over TLS with a
//! password, Postgres with `sslmode=verify-full`. An alert goes all the way through to
//! a webhook; and a wrong Kafka password, a Kafka CA that does not vouch for the broker,
//! a mechanism the brokers do not offer (MSK IAM, signed as far as the handshake), a
//! wrong Redis password and a Redis CA that does not vouch for it each stop a service at
//! start, within 30 s, with one line naming the setting to fix. (A wrong Postgres CA:
//! tests/api/database_tls.rs.)

use std::time::Duration;

use alerting::config::{
    KafkaConfig, KafkaSecurity, RedisConfig, SaslMechanism, Secret, SecurityProtocol,
};
use alerting_test_support::{
    alerting_command,
    database::{Backend, TestDatabase},
    process::{run_within, test_broker},
    secure_servers::{SaslBroker, TlsRedis},
    sinks::HttpSink,
    tls::{TestCa, TlsPostgres},
};
use serde_json::json;

use super::{Backing, Isolation, Mode, Pipeline, fast_delivery};

const USER: &str = "alerting";
const PASSWORD: &str = "scram-test-password";
const REDIS_PASSWORD: &str = "redis-test-auth-token";

/// Refused at once: no retry loop.
const REFUSED_WITHIN: Duration = Duration::from_secs(30);

/// The SASL_SSL broker exists only with Apache Kafka (Tansu has no TLS listener).
fn on_tansu() -> bool {
    std::env::var("TEST_BROKER").is_ok_and(|broker| broker == "tansu")
}

fn scram(password: &str, ca_file: &std::path::Path) -> KafkaSecurity {
    KafkaSecurity {
        protocol: SecurityProtocol::SaslSsl,
        mechanism: Some(SaslMechanism::ScramSha512),
        username: Some(USER.to_owned()),
        password: Secret::parse(password).ok(),
        ca_location: Some(ca_file.to_owned()),
        aws_region: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_is_delivered_over_sasl_ssl_kafka_tls_redis_and_verified_postgres() {
    if on_tansu() {
        eprintln!("skipped: the SASL_SSL broker is Apache Kafka's");
        return;
    }
    let ca = TestCa::new("transports test CA");
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = ca.write(dir.path());
    let postgres = TlsPostgres::start(&ca).await;
    let redis = TlsRedis::start(&ca, REDIS_PASSWORD).await;
    let broker = SaslBroker::start(&ca, USER, PASSWORD);
    let isolation = Isolation::new();
    let ca_path = ca_file.display().to_string();
    let backing = Backing {
        database_url: postgres.url(
            "localhost",
            &[("sslmode", "verify-full"), ("sslrootcert", &ca_path)],
        ),
        kafka: KafkaConfig {
            brokers: Some(broker.address.clone()),
            security: scram(PASSWORD, &ca_file),
            ..isolation.kafka()
        },
        redis: RedisConfig {
            redis_url: Some(redis.url()),
            redis_password: Secret::parse(REDIS_PASSWORD).ok(),
            redis_ca_file: Some(ca_file.clone()),
            ..isolation.redis()
        },
        servers: Box::new((postgres, redis, broker, dir)),
    };
    let sink = HttpSink::start().await;
    let p = Pipeline::start_on(Mode::Distributed, isolation, backing, fast_delivery(None)).await;
    p.client("acme").await;
    let rule = p.rule("acme", "HIGH", "billing", "*").await;
    p.endpoint(&rule, json!({"type": "webhook", "value": sink.url("hook")}))
        .await;
    // Written to Redis over TLS by the rule-updater, read back by the evaluator.
    p.wait_for_rules(1).await;
    p.send(
        json!({"alert_id": "tls-1", "severity": "HIGH", "source": "billing", "name": "disk full"}),
    )
    .await;
    let received = sink.wait_for("hook", 1).await;
    assert_eq!(received.len(), 1);
    let body: serde_json::Value =
        serde_json::from_slice(&received[0].body).expect("a JSON webhook body");
    assert_eq!(body["alert"]["alert_id"], "tls-1");
    let settled = p.settled_notifications("acme", 1).await;
    assert_eq!(settled[0]["status"], "SENT", "{settled:?}");
}

/// `alerting run evaluator` with `env` exits 1 within `REFUSED_WITHIN`, with one ERROR
/// line that names `setting`, and no password or secret of `env` in its output.
async fn refused_naming(case: &str, env: &[(String, String)], setting: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let mut command = alerting_command!(dir.path());
    command
        .envs(env.iter().map(|(name, value)| (name, value)))
        .args(["run", "evaluator"]);
    let (code, output) = run_within(command, REFUSED_WITHIN).await;
    let errors: Vec<&str> = output.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(code, Some(1), "{case}: {output}");
    assert_eq!(errors.len(), 1, "{case}: one line: {output}");
    assert!(errors[0].contains(setting), "{case}: {}", errors[0]);
    for (name, secret) in env {
        if name.ends_with("PASSWORD") || name.ends_with("SECRET_ACCESS_KEY") {
            assert!(
                !output.contains(secret.as_str()),
                "{case}: {name} in the log: {output}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_kafka_login_or_certificate_stops_a_service_with_the_setting_to_fix() {
    if on_tansu() {
        eprintln!("skipped: the SASL_SSL broker is Apache Kafka's");
        return;
    }
    let ca = TestCa::new("transports test CA");
    let other = TestCa::new("a CA that vouches for nobody here");
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = ca.write(dir.path());
    let other_dir = tempfile::tempdir().expect("dir");
    let other_file = other.write(other_dir.path());
    let broker = SaslBroker::start(&ca, USER, PASSWORD);
    let kafka = |password: &str, ca: &std::path::Path| {
        [
            ("KAFKA_BROKERS", broker.address.clone()),
            ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL".to_owned()),
            ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512".to_owned()),
            ("KAFKA_SASL_USERNAME", USER.to_owned()),
            ("KAFKA_SASL_PASSWORD", password.to_owned()),
            ("KAFKA_SSL_CA_LOCATION", ca.display().to_string()),
            ("REDIS_URL", super::redis_url()),
        ]
        .map(|(name, value)| (name.to_owned(), value))
        .to_vec()
    };
    let msk_iam = |ca: &std::path::Path| {
        [
            ("KAFKA_BROKERS", broker.address.clone()),
            ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL".to_owned()),
            ("KAFKA_SASL_MECHANISM", "AWS_MSK_IAM".to_owned()),
            ("KAFKA_SSL_CA_LOCATION", ca.display().to_string()),
            ("AWS_REGION", "eu-west-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "not-a-real-secret".to_owned()),
            ("REDIS_URL", super::redis_url()),
        ]
        .map(|(name, value)| (name.to_owned(), value))
        .to_vec()
    };
    for (case, env, names) in [
        (
            "a wrong password",
            kafka("not-the-password", &ca_file),
            "KAFKA_SASL_PASSWORD",
        ),
        (
            "a CA that did not sign the broker's certificate",
            kafka(PASSWORD, &other_file),
            "KAFKA_SSL_CA_LOCATION",
        ),
        (
            // MSK IAM as far as it goes here: librdkafka connects only once it holds a
            // token, so reaching the mechanism handshake means one was signed.
            "MSK IAM against brokers that offer SCRAM only",
            msk_iam(&ca_file),
            "KAFKA_SASL_MECHANISM",
        ),
    ] {
        refused_naming(case, &env, names).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_redis_password_or_certificate_stops_a_service_with_the_setting_to_fix() {
    let ca = TestCa::new("transports test CA");
    let other = TestCa::new("a CA that vouches for nobody here");
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = ca.write(dir.path());
    let other_dir = tempfile::tempdir().expect("dir");
    let other_file = other.write(other_dir.path());
    let redis = TlsRedis::start(&ca, REDIS_PASSWORD).await;
    // Kafka that works, with the evaluator's topics, so that only Redis can refuse.
    let isolation = Isolation::new();
    alerting::adapters::kafka::Kafka::unchecked(&isolation.kafka())
        .create_topics()
        .await
        .expect("topics");
    let (_database, database_url) = TestDatabase::create(Backend::Postgres).await;
    let env = |password: &str, ca: &std::path::Path| {
        let mut env: Vec<(String, String)> = isolation
            .env(&database_url)
            .into_iter()
            .filter(|(name, _)| name.starts_with("KAFKA_"))
            .collect();
        env.extend(
            [
                ("KAFKA_BROKERS", test_broker()),
                ("REDIS_URL", redis.url()),
                ("REDIS_PASSWORD", password.to_owned()),
                ("REDIS_CA_FILE", ca.display().to_string()),
            ]
            .map(|(name, value)| (name.to_owned(), value)),
        );
        env
    };
    for (case, env, names) in [
        (
            "a wrong password",
            env("not-the-token", &ca_file),
            "REDIS_PASSWORD",
        ),
        (
            "a CA that did not sign Redis's certificate",
            env(REDIS_PASSWORD, &other_file),
            "REDIS_CA_FILE",
        ),
    ] {
        refused_naming(case, &env, names).await;
    }
}
