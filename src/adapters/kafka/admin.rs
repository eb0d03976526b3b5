//! Topic administration: every topic (and its dead-letter topic) created with the
//! configured partitions, and the check a service makes that its topics exist.

use std::{ffi::CString, time::Duration};

use alerting_handlers::events::topics;
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::Client,
    consumer::{BaseConsumer, Consumer},
    error::{KafkaError, RDKafkaErrorCode},
};

use super::{Kafka, KafkaSetupError, context::KafkaContext, physical};

/// Bounds each admin request, so a broker that stops answering fails the command
/// instead of holding it for librdkafka's minute.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

impl Kafka {
    /// Creates every topic (and its dead-letter topic) with the configured partitions;
    /// topics that exist already are left as they are. Returns the topics created.
    pub async fn create_topics(&self) -> Result<Vec<String>, KafkaSetupError> {
        let config = &self.config;
        let brokers = config.brokers.clone().unwrap_or_default();
        let admin: AdminClient<KafkaContext> = self.client(None)?;
        self.give_token(admin.inner())?;
        let names: Vec<String> = topics::all_with_dead_letters()
            .iter()
            .map(|topic| physical(config, topic))
            .collect();
        let new_topics: Vec<NewTopic<'_>> = names
            .iter()
            .map(|name| {
                NewTopic::new(
                    name,
                    config.flow.topic_partitions,
                    TopicReplication::Fixed(config.replication_factor),
                )
            })
            .collect();
        let options = AdminOptions::new()
            .operation_timeout(Some(REQUEST_TIMEOUT))
            .request_timeout(Some(REQUEST_TIMEOUT));
        let results = admin
            .create_topics(&new_topics, &options)
            .await
            .map_err(|source| KafkaSetupError::Unreachable { brokers, source })?;
        let mut created = Vec::new();
        for result in results {
            match result {
                Ok(topic) => created.push(topic),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => return Err(KafkaSetupError::CreateTopic { topic, code }),
            }
        }
        Ok(created)
    }

    /// Fails with the list of missing topics unless every one of `needed` exists.
    pub async fn require_topics(&self, needed: &[String]) -> Result<(), KafkaSetupError> {
        let brokers = self.config.brokers.clone().unwrap_or_default();
        let consumer: BaseConsumer<KafkaContext> = self.client(None)?;
        // Nothing polls this client's events: it needs its token handed over too.
        self.give_token(consumer.client())?;
        let metadata = tokio::task::spawn_blocking(move || {
            consumer.fetch_metadata(None, Duration::from_secs(10))
        })
        .await
        .map_err(|_| KafkaSetupError::Unreachable {
            brokers: brokers.clone(),
            source: KafkaError::Canceled,
        })
        .and_then(|result| {
            result.map_err(|source| KafkaSetupError::Unreachable {
                brokers: brokers.clone(),
                source,
            })
        })?;
        let existing: Vec<&str> = metadata.topics().iter().map(|t| t.name()).collect();
        let missing: Vec<String> = needed
            .iter()
            .map(|topic| physical(&self.config, topic))
            .filter(|topic| !existing.contains(&topic.as_str()))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(KafkaSetupError::MissingTopics(missing))
        }
    }

    /// Hands a short-lived client whose events nobody polls (an admin client, a
    /// metadata request) its MSK IAM token; it lives well inside the token's lifetime.
    fn give_token(&self, client: &Client<KafkaContext>) -> Result<(), KafkaSetupError> {
        let Some(token) = self.token() else {
            return Ok(());
        };
        let refused = |explanation: String| KafkaSetupError::Refused {
            brokers: self.config.brokers.clone().unwrap_or_default(),
            explanation,
        };
        let token = token.map_err(|err| refused(err.to_string()))?;
        let value = CString::new(token.value).map_err(|err| refused(err.to_string()))?;
        let principal = CString::new("alerting").map_err(|err| refused(err.to_string()))?;
        let mut error = [0 as std::ffi::c_char; 512];
        // SAFETY: the client pointer is live for the call (borrowed from `client`); the
        // strings are NUL-terminated and outlive it; no extensions are passed (null, 0);
        // `error` is a writable buffer of the length given.
        let code = unsafe {
            rdkafka::bindings::rd_kafka_oauthbearer_set_token(
                client.native_ptr(),
                value.as_ptr(),
                token.expires_at_ms,
                principal.as_ptr(),
                std::ptr::null_mut(),
                0,
                error.as_mut_ptr(),
                error.len(),
            )
        };
        if code == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Ok(());
        }
        // SAFETY: librdkafka writes a NUL-terminated message into `error` on failure.
        let message = unsafe { std::ffi::CStr::from_ptr(error.as_ptr()) };
        Err(refused(format!(
            "the MSK IAM token was not accepted: {}",
            message.to_string_lossy()
        )))
    }
}
