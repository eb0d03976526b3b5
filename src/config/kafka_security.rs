//! How the services prove who they are to Kafka and check who they talk to: the
//! security protocol, the SASL mechanism and its credentials, the CA that vouches for
//! the brokers. Amazon MSK offers TLS with SASL/SCRAM or with IAM; the self-hosted
//! broker of a laptop speaks PLAINTEXT.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::secret::Secret;

/// How bytes travel to the brokers (Kafka's `security.protocol`). SASL over plain TCP
/// is left out on purpose: it would send a password in the clear.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum SecurityProtocol {
    /// Plain TCP, no authentication (a broker on loopback or in a private test network).
    #[default]
    #[value(name = "PLAINTEXT")]
    Plaintext,
    /// TLS; the brokers' certificate is checked, no SASL.
    #[value(name = "SSL")]
    Ssl,
    /// TLS, then SASL (KAFKA_SASL_MECHANISM).
    #[value(name = "SASL_SSL")]
    SaslSsl,
}

impl SecurityProtocol {
    /// The name librdkafka and the brokers use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslSsl => "SASL_SSL",
        }
    }
}

/// Who the services say they are, over SASL_SSL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaslMechanism {
    /// SCRAM with SHA-512 (MSK's SCRAM), KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD.
    #[value(name = "SCRAM-SHA-512")]
    ScramSha512,
    /// SCRAM with SHA-256, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD.
    #[value(name = "SCRAM-SHA-256")]
    ScramSha256,
    /// MSK's IAM access control: OAUTHBEARER tokens signed with the task role's
    /// credentials (AWS_REGION names the cluster's region), renewed before they expire.
    #[value(name = "AWS_MSK_IAM")]
    AwsMskIam,
}

impl SaslMechanism {
    /// The name the setting takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::AwsMskIam => "AWS_MSK_IAM",
        }
    }
}

#[derive(Debug, Clone, Default, Args)]
pub struct KafkaSecurity {
    /// How the services reach the brokers: PLAINTEXT, SSL, or SASL_SSL (with
    /// KAFKA_SASL_MECHANISM). Amazon MSK: SASL_SSL.
    #[arg(long = "kafka-security-protocol", env = "KAFKA_SECURITY_PROTOCOL",
          value_enum, ignore_case = true, default_value_t = SecurityProtocol::Plaintext)]
    pub protocol: SecurityProtocol,

    /// SASL mechanism with SASL_SSL: SCRAM-SHA-512, SCRAM-SHA-256 or AWS_MSK_IAM.
    #[arg(
        long = "kafka-sasl-mechanism",
        env = "KAFKA_SASL_MECHANISM",
        value_enum,
        ignore_case = true
    )]
    pub mechanism: Option<SaslMechanism>,

    /// SCRAM user name.
    #[arg(long = "kafka-sasl-username", env = "KAFKA_SASL_USERNAME")]
    pub username: Option<String>,

    /// SCRAM password (in ECS, from Secrets Manager: the task definition's `secrets`).
    #[arg(long = "kafka-sasl-password", env = "KAFKA_SASL_PASSWORD", hide_env_values = true,
          value_parser = Secret::parse)]
    pub password: Option<Secret>,

    /// PEM file of the CA certificates that vouch for the brokers. Unset: the system's
    /// roots (which vouch for Amazon MSK's brokers).
    #[arg(long = "kafka-ssl-ca-location", env = "KAFKA_SSL_CA_LOCATION")]
    pub ca_location: Option<PathBuf>,

    /// The AWS region of the MSK cluster, for AWS_MSK_IAM tokens (ECS sets it).
    #[arg(long = "aws-region", env = "AWS_REGION")]
    pub aws_region: Option<String>,
}

/// A combination of settings that cannot work, named by the setting to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KafkaSecurityError {
    #[error(
        "KAFKA_SASL_MECHANISM is {0} but KAFKA_SECURITY_PROTOCOL is {1}: SASL needs KAFKA_SECURITY_PROTOCOL=SASL_SSL"
    )]
    MechanismWithoutSasl(&'static str, &'static str),
    #[error(
        "KAFKA_SECURITY_PROTOCOL is SASL_SSL but KAFKA_SASL_MECHANISM is not set: set SCRAM-SHA-512, SCRAM-SHA-256 or AWS_MSK_IAM"
    )]
    NoMechanism,
    #[error("KAFKA_SASL_MECHANISM is {0}: set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")]
    NoCredentials(&'static str),
    #[error("KAFKA_SASL_MECHANISM is AWS_MSK_IAM: set AWS_REGION to the cluster's region")]
    NoRegion,
    #[error("KAFKA_SSL_CA_LOCATION {path} cannot be read: {reason}")]
    UnreadableCa { path: String, reason: String },
    #[error(
        "KAFKA_SSL_CA_LOCATION is set but KAFKA_SECURITY_PROTOCOL is PLAINTEXT: use SSL or SASL_SSL"
    )]
    CaWithoutTls,
}

impl KafkaSecurity {
    /// Checks the settings against each other before any connection is tried.
    pub fn check(&self) -> Result<(), KafkaSecurityError> {
        use KafkaSecurityError as E;
        match (self.protocol, self.mechanism) {
            (SecurityProtocol::SaslSsl, None) => return Err(E::NoMechanism),
            (protocol @ (SecurityProtocol::Plaintext | SecurityProtocol::Ssl), Some(m)) => {
                return Err(E::MechanismWithoutSasl(m.name(), protocol.name()));
            }
            (_, Some(m @ (SaslMechanism::ScramSha512 | SaslMechanism::ScramSha256)))
                if self.username.as_deref().is_none_or(str::is_empty)
                    || self.password.is_none() =>
            {
                return Err(E::NoCredentials(m.name()));
            }
            (_, Some(SaslMechanism::AwsMskIam))
                if self.aws_region.as_deref().is_none_or(str::is_empty) =>
            {
                return Err(E::NoRegion);
            }
            _ => {}
        }
        if let Some(path) = &self.ca_location {
            if self.protocol == SecurityProtocol::Plaintext {
                return Err(E::CaWithoutTls);
            }
            std::fs::File::open(path).map_err(|err| E::UnreadableCa {
                path: path.display().to_string(),
                reason: err.to_string(),
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security(protocol: SecurityProtocol, mechanism: Option<SaslMechanism>) -> KafkaSecurity {
        KafkaSecurity {
            protocol,
            mechanism,
            ..KafkaSecurity::default()
        }
    }

    #[test]
    fn settings_that_cannot_work_together_name_the_one_to_change() {
        use {KafkaSecurityError as E, SaslMechanism as M, SecurityProtocol as P};
        assert_eq!(security(P::Plaintext, None).check(), Ok(()));
        assert_eq!(security(P::SaslSsl, None).check(), Err(E::NoMechanism));
        assert_eq!(
            security(P::Ssl, Some(M::ScramSha512)).check(),
            Err(E::MechanismWithoutSasl("SCRAM-SHA-512", "SSL"))
        );
        assert_eq!(
            security(P::SaslSsl, Some(M::ScramSha256)).check(),
            Err(E::NoCredentials("SCRAM-SHA-256"))
        );
        let scram = KafkaSecurity {
            username: Some("alerting".to_owned()),
            password: Secret::parse("s3cret").ok(),
            ..security(P::SaslSsl, Some(M::ScramSha512))
        };
        assert_eq!(scram.check(), Ok(()));
        assert_eq!(
            security(P::SaslSsl, Some(M::AwsMskIam)).check(),
            Err(E::NoRegion)
        );
        let iam = KafkaSecurity {
            aws_region: Some("eu-west-1".to_owned()),
            ..security(P::SaslSsl, Some(M::AwsMskIam))
        };
        assert_eq!(iam.check(), Ok(()));
        let missing_ca = KafkaSecurity {
            ca_location: Some("/nonexistent/ca.pem".into()),
            ..security(P::Ssl, None)
        };
        assert!(matches!(
            missing_ca.check(),
            Err(E::UnreadableCa { path, .. }) if path == "/nonexistent/ca.pem"
        ));
    }

    #[test]
    fn a_password_never_prints() {
        let security = KafkaSecurity {
            password: Secret::parse("hunter2").ok(),
            ..KafkaSecurity::default()
        };
        assert!(!format!("{security:?}").contains("hunter2"));
    }
}
