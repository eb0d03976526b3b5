//! `Kafka`, the one way in: the security settings are checked against each other, the
//! MSK IAM signer finds its credentials, and the brokers are asked for their metadata
//! before anything else, so a wrong password, a certificate nobody vouches for or a
//! mechanism the listener does not offer stops the process at start with one line that
//! names the setting to fix, instead of a client that retries and logs forever. Every
//! producer, consumer and admin client is made from it.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use rdkafka::{
    ClientConfig,
    consumer::{BaseConsumer, Consumer},
    error::RDKafkaErrorCode,
};

use super::{KafkaSetupError, context::KafkaContext, msk_iam};
use crate::config::{KafkaConfig, KafkaSecurity, SaslMechanism, SecurityProtocol};

/// How long the check waits for the brokers' answer. Well inside the 30 s an operator
/// (and ECS's start-up health) should wait for a refusal.
const PATIENCE: Duration = Duration::from_secs(15);

/// The settings, and the token signer when MSK IAM is used.
#[derive(Clone)]
pub struct Kafka {
    pub(super) config: KafkaConfig,
    signer: Option<Arc<msk_iam::Signer>>,
}

impl Kafka {
    /// Checks the settings and the brokers' answer; see the module's header.
    pub async fn connect(config: &KafkaConfig) -> Result<Self, KafkaSetupError> {
        let brokers = config.brokers.clone().ok_or(KafkaSetupError::NoBrokers)?;
        config.security.check()?;
        let signer = match (config.security.mechanism, &config.security.aws_region) {
            (Some(SaslMechanism::AwsMskIam), Some(region)) => {
                Some(msk_iam::Signer::start(region).await.map_err(|err| {
                    KafkaSetupError::Refused {
                        brokers: brokers.clone(),
                        explanation: err.to_string(),
                    }
                })?)
            }
            _ => None,
        };
        let kafka = Self {
            config: config.clone(),
            signer,
        };
        let probe: BaseConsumer<KafkaContext> = kafka.create(
            &kafka.client_config(),
            KafkaContext {
                quiet: true,
                ..kafka.context(None)
            },
        )?;
        let security = config.security.clone();
        let asked = {
            let brokers = brokers.clone();
            tokio::task::spawn_blocking(move || ask_for_metadata(&probe, &brokers, &security))
        };
        asked.await.map_err(|err| KafkaSetupError::Refused {
            brokers,
            explanation: format!("the connection check stopped: {err}"),
        })??;
        Ok(kafka)
    }

    /// Without the check, for tests on a broker they started themselves: no signer,
    /// so not for AWS_MSK_IAM.
    pub fn unchecked(config: &KafkaConfig) -> Self {
        Self {
            config: config.clone(),
            signer: None,
        }
    }

    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// "SASL_SSL, SCRAM-SHA-512", "PLAINTEXT": how the start-up line says it connects.
    pub fn describe_security(&self) -> String {
        let security = &self.config.security;
        match security.mechanism {
            Some(mechanism) => format!("{}, {}", security.protocol.name(), mechanism.name()),
            None => security.protocol.name().to_owned(),
        }
    }

    /// Where and how: the brokers' settings, with the security settings applied.
    pub(super) fn client_config(&self) -> ClientConfig {
        let mut client = ClientConfig::new();
        let security = &self.config.security;
        client
            .set(
                "bootstrap.servers",
                self.config.brokers.clone().unwrap_or_default(),
            )
            .set("client.id", "alerting")
            .set("socket.keepalive.enable", "true")
            .set("security.protocol", security.protocol.name());
        match (&security.ca_location, security.protocol) {
            (_, SecurityProtocol::Plaintext) => &mut client,
            (Some(path), _) => client.set("ssl.ca.location", path.display().to_string()),
            // The system's roots, wherever this system keeps them.
            (None, _) => client.set("ssl.ca.location", "probe"),
        };
        match security.mechanism {
            Some(mechanism @ (SaslMechanism::ScramSha512 | SaslMechanism::ScramSha256)) => {
                client
                    .set("sasl.mechanism", mechanism.name())
                    .set(
                        "sasl.username",
                        security.username.clone().unwrap_or_default(),
                    )
                    .set(
                        "sasl.password",
                        security
                            .password
                            .as_ref()
                            .map(|p| p.expose().to_owned())
                            .unwrap_or_default(),
                    );
            }
            Some(SaslMechanism::AwsMskIam) => {
                client.set("sasl.mechanism", "OAUTHBEARER");
            }
            None => {}
        }
        client
    }

    /// A context for one client: reports lag for `lag_of`, signs tokens when needed.
    pub(super) fn context(&self, lag_of: Option<&str>) -> KafkaContext {
        KafkaContext {
            lag_of: lag_of.map(str::to_owned),
            signer: self.signer.clone(),
            reported: Arc::default(),
            quiet: false,
        }
    }

    /// A client on these brokers with no settings of its own (admin, metadata).
    pub(super) fn client<C: rdkafka::config::FromClientConfigAndContext<KafkaContext>>(
        &self,
        lag_of: Option<&str>,
    ) -> Result<C, KafkaSetupError> {
        self.create(&self.client_config(), self.context(lag_of))
    }

    /// A client of `settings` (this connection's, with any of its own on top) carrying
    /// `context`.
    pub(super) fn create<C: rdkafka::config::FromClientConfigAndContext<KafkaContext>>(
        &self,
        settings: &ClientConfig,
        context: KafkaContext,
    ) -> Result<C, KafkaSetupError> {
        settings
            .create_with_context(context)
            .map_err(|source| KafkaSetupError::Client {
                brokers: self.config.brokers.clone().unwrap_or_default(),
                source,
            })
    }

    /// The token an admin client needs at once (its own poll thread never serves the
    /// refresh event that would ask for one).
    pub(super) fn token(&self) -> Option<Result<msk_iam::Token, msk_iam::TokenError>> {
        self.signer.as_ref().map(|signer| signer.token())
    }
}

/// Asks for the cluster's metadata until it comes, a refusal is reported, or
/// `PATIENCE` runs out; polls the client meanwhile, which serves librdkafka's events
/// (its errors, a token refresh).
fn ask_for_metadata(
    probe: &BaseConsumer<KafkaContext>,
    brokers: &str,
    security: &KafkaSecurity,
) -> Result<(), KafkaSetupError> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let _ = probe.poll(Duration::from_millis(100));
        if let Some(explanation) = refusal(&probe.context().reported.all(), security) {
            return Err(KafkaSetupError::Refused {
                brokers: brokers.to_owned(),
                explanation,
            });
        }
        match probe.fetch_metadata(None, Duration::from_millis(500)) {
            Ok(_) => return Ok(()),
            Err(_) if Instant::now() < deadline => {}
            Err(err) => {
                let last = probe
                    .context()
                    .reported
                    .all()
                    .pop()
                    .map_or_else(|| err.to_string(), |(_, reason)| reason);
                return Err(KafkaSetupError::Refused {
                    brokers: brokers.to_owned(),
                    explanation: format!(
                        "no answer within {}s ({last}): check KAFKA_BROKERS and KAFKA_SECURITY_PROTOCOL (is the listener {}?)",
                        PATIENCE.as_secs(),
                        security.protocol.name()
                    ),
                });
            }
        }
    }
}

/// The setting to fix, when what librdkafka reported is a refusal rather than a broker
/// that is not there yet.
pub fn refusal(
    reported: &[(Option<RDKafkaErrorCode>, String)],
    security: &KafkaSecurity,
) -> Option<String> {
    let mechanism = security.mechanism.map_or("none", SaslMechanism::name);
    let roots = match &security.ca_location {
        Some(path) => format!("KAFKA_SSL_CA_LOCATION ({})", path.display()),
        None => {
            "the system's CA roots (set KAFKA_SSL_CA_LOCATION to the CA that signed it)".to_owned()
        }
    };
    reported.iter().find_map(|(code, reason)| {
        let lower = reason.to_lowercase();
        if lower.contains("unsupported sasl mechanism")
            || lower.contains("not supported by broker")
            || code == &Some(RDKafkaErrorCode::UnsupportedSASLMechanism)
        {
            Some(format!(
                "the brokers do not offer the SASL mechanism {mechanism}: set KAFKA_SASL_MECHANISM to one the listener enables ({reason})"
            ))
        } else if lower.contains("failed to acquire") && lower.contains("oauthbearer") {
            Some(format!(
                "no MSK IAM token could be made here: check the task role's credentials and AWS_REGION ({reason})"
            ))
        } else if code == &Some(RDKafkaErrorCode::Authentication)
            || code == &Some(RDKafkaErrorCode::SaslAuthenticationFailed)
        {
            Some(match security.mechanism {
                Some(SaslMechanism::AwsMskIam) => format!(
                    "the brokers refused the MSK IAM token: check the task role's kafka-cluster:Connect permission and AWS_REGION ({reason})"
                ),
                _ => format!(
                    "the brokers refused the {mechanism} credentials: check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD ({reason})"
                ),
            })
        } else if lower.contains("certificate verify failed")
            || lower.contains("could not be verified")
        {
            Some(format!(
                "the brokers' certificate is not vouched for by {roots} ({reason})"
            ))
        } else if code == &Some(RDKafkaErrorCode::SSL) {
            Some(format!(
                "TLS with the brokers failed: is KAFKA_SECURITY_PROTOCOL ({}) what the listener speaks? ({reason})",
                security.protocol.name()
            ))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, SecurityProtocol};

    fn scram() -> KafkaSecurity {
        KafkaSecurity {
            protocol: SecurityProtocol::SaslSsl,
            mechanism: Some(SaslMechanism::ScramSha512),
            username: Some("alerting".to_owned()),
            password: Secret::parse("s3cret").ok(),
            ..KafkaSecurity::default()
        }
    }

    #[test]
    fn a_refusal_names_the_setting_to_fix_and_a_broker_not_there_yet_is_none() {
        let reported = |code, reason: &str| vec![(Some(code), reason.to_owned())];
        let wrong_password = refusal(
            &reported(
                RDKafkaErrorCode::Authentication,
                "SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512",
            ),
            &scram(),
        )
        .expect("a refusal");
        assert!(
            wrong_password.contains("KAFKA_SASL_PASSWORD"),
            "{wrong_password}"
        );
        let untrusted = refusal(
            &reported(
                RDKafkaErrorCode::SSL,
                "SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified",
            ),
            &scram(),
        )
        .expect("a refusal");
        assert!(untrusted.contains("KAFKA_SSL_CA_LOCATION"), "{untrusted}");
        let mechanism = refusal(
            &reported(
                RDKafkaErrorCode::UnsupportedSASLMechanism,
                "Broker: Unsupported SASL mechanism",
            ),
            &scram(),
        )
        .expect("a refusal");
        assert!(mechanism.contains("KAFKA_SASL_MECHANISM"), "{mechanism}");
        assert_eq!(
            refusal(
                &reported(RDKafkaErrorCode::AllBrokersDown, "1/1 brokers are down"),
                &scram()
            ),
            None
        );
    }
}
