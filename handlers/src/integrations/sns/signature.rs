//! Whether an SNS message is Amazon's: the URLs it names (its signing certificate, its
//! subscription's confirmation) must be HTTPS on an SNS host, and its signature must
//! verify with that certificate's key over the fields SNS signs.
//!
//! The certificate is trusted because it came over TLS from an SNS host (as AWS's own
//! SDKs trust it); which hosts count is a setting (`SNS_HOSTS`) so that tests, and
//! LocalStack, can name their own.

use base64::Engine;
use rustls_pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm, alg_id,
    pem::PemObject,
};
use url::Url;

use super::SnsMessage;

/// Why a message is not taken as Amazon's.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unverified {
    #[error("{field} must be an https:// URL on an SNS host ({allowed}): {reason}")]
    Host {
        field: &'static str,
        allowed: String,
        reason: &'static str,
    },
    #[error("SignatureVersion must be 1 or 2 (got {0:?})")]
    Version(String),
    #[error("{0} is required in a {1} message: it is signed")]
    Missing(&'static str, &'static str),
    #[error("Signature is not base64")]
    NotBase64,
    #[error("the signing certificate is not a PEM X.509 certificate")]
    Certificate,
    #[error("the signature does not match the message: not sent by SNS, or changed on the way")]
    Forged,
    #[error("Timestamp {0} is more than an hour old, or ahead of this clock: a message replayed?")]
    Stale(String),
}

/// The hosts an SNS message's URLs may name: patterns where `*` stands for one AWS
/// region's name (`us-east-1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsHosts(Vec<String>);

impl SnsHosts {
    /// Where AWS's SNS answers: `sns.<region>.amazonaws.com`, and in China
    /// `sns.<region>.amazonaws.com.cn`.
    pub const AWS: &'static str = "sns.*.amazonaws.com,sns.*.amazonaws.com.cn";

    /// Comma-separated patterns; an empty one is an error naming it.
    pub fn parse(patterns: &str) -> Result<Self, String> {
        let hosts: Vec<String> = patterns
            .split(',')
            .map(|p| p.trim().to_ascii_lowercase())
            .collect();
        if let Some(bad) = hosts
            .iter()
            .find(|p| p.is_empty() || p.contains(['/', ':']))
        {
            return Err(format!(
                "{bad:?} is not a host pattern (a host name, `*` for an AWS region's name)"
            ));
        }
        Ok(Self(hosts))
    }

    /// `value` (the message's `field`) as a URL it may fetch.
    pub fn check(&self, field: &'static str, value: &str) -> Result<Url, Unverified> {
        let refuse = |reason| Unverified::Host {
            field,
            allowed: self.0.join(", "),
            reason,
        };
        let url = Url::parse(value).map_err(|_| refuse("not a URL"))?;
        if url.scheme() != "https" {
            return Err(refuse("not https"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("credentials in the URL"));
        }
        let Some(url::Host::Domain(host)) = url.host() else {
            return Err(refuse("not a host name"));
        };
        let Some(pattern) = self.0.iter().find(|pattern| matches(pattern, host)) else {
            return Err(refuse("another host"));
        };
        // AWS's hosts answer on 443 only; a port is for a host named exactly (a test's,
        // LocalStack's), never for a pattern.
        if url.port().is_some() && pattern.contains('*') {
            return Err(refuse("a port on an AWS host"));
        }
        Ok(url)
    }
}

impl Default for SnsHosts {
    fn default() -> Self {
        Self(Self::AWS.split(',').map(str::to_owned).collect())
    }
}

fn matches(pattern: &str, host: &str) -> bool {
    let (pattern, host): (Vec<&str>, Vec<&str>) =
        (pattern.split('.').collect(), host.split('.').collect());
    pattern.len() == host.len()
        && pattern.iter().zip(&host).all(|(p, h)| {
            if *p == "*" {
                is_region(h)
            } else {
                p.eq_ignore_ascii_case(h)
            }
        })
}

/// An AWS region's name: `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`.
/// Any label would let `sns.s3.amazonaws.com` (an S3 bucket named `sns`, served with
/// AWS's certificate) pass for SNS.
fn is_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    let letters = |part: &&str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase());
    parts.len() >= 3
        && parts[0].len() == 2
        && letters(&parts[0])
        && parts[1..parts.len() - 1].iter().all(letters)
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What SNS signs: each signed field's name and value on lines of their own, in name
/// order (a notification's `Subject` only when it has one).
pub fn string_to_sign(message: &SnsMessage) -> Result<String, Unverified> {
    let kind = message.kind.as_str();
    let fields: Vec<(&str, Option<&str>)> = if kind == "Notification" {
        vec![
            ("Message", Some(&message.message)),
            ("MessageId", Some(&message.message_id)),
            ("Subject", message.subject.as_deref()),
            ("Timestamp", Some(&message.timestamp)),
            ("TopicArn", Some(&message.topic_arn)),
            ("Type", Some(kind)),
        ]
    } else {
        let kind_name = if kind == "SubscriptionConfirmation" {
            "SubscriptionConfirmation"
        } else {
            "UnsubscribeConfirmation"
        };
        fn required<'a>(
            name: &'static str,
            value: &'a Option<String>,
            kind: &'static str,
        ) -> Result<Option<&'a str>, Unverified> {
            value
                .as_deref()
                .map(Some)
                .ok_or(Unverified::Missing(name, kind))
        }
        vec![
            ("Message", Some(&message.message)),
            ("MessageId", Some(&message.message_id)),
            (
                "SubscribeURL",
                required("SubscribeURL", &message.subscribe_url, kind_name)?,
            ),
            ("Timestamp", Some(&message.timestamp)),
            ("Token", required("Token", &message.token, kind_name)?),
            ("TopicArn", Some(&message.topic_arn)),
            ("Type", Some(kind)),
        ]
    };
    let mut text = String::new();
    for (name, value) in fields {
        if let Some(value) = value {
            text.push_str(name);
            text.push('\n');
            text.push_str(value);
            text.push('\n');
        }
    }
    Ok(text)
}

/// Checks `message`'s signature with the key of `certificate` (PEM, as SNS serves it).
pub fn verify(message: &SnsMessage, certificate: &[u8]) -> Result<(), Unverified> {
    let algorithm: &dyn SignatureVerificationAlgorithm = match message.signature_version.as_str() {
        "1" => &RsaSha1,
        "2" => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        other => return Err(Unverified::Version(other.to_owned())),
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(message.signature.trim())
        .map_err(|_| Unverified::NotBase64)?;
    let der = self::certificate(certificate)?;
    let certificate = webpki::EndEntityCert::try_from(&der).map_err(|_| Unverified::Certificate)?;
    certificate
        .verify_signature(algorithm, string_to_sign(message)?.as_bytes(), &signature)
        .map_err(|_| Unverified::Forged)
}

/// The first certificate of a PEM body.
pub fn certificate(pem: &[u8]) -> Result<CertificateDer<'static>, Unverified> {
    let der = CertificateDer::from_pem_slice(pem).map_err(|_| Unverified::Certificate)?;
    webpki::EndEntityCert::try_from(&der).map_err(|_| Unverified::Certificate)?;
    Ok(der)
}

/// RSA PKCS#1 v1.5 with SHA-1, SNS's signature version 1 (the default of a topic):
/// webpki verifies no SHA-1, so ring's verifier for legacy signatures does.
#[derive(Debug)]
struct RsaSha1;

/// sha1WithRSAEncryption (1.2.840.113549.1.1.5), with its NULL parameters.
const RSA_PKCS1_SHA1: AlgorithmIdentifier = AlgorithmIdentifier::from_slice(&[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
]);

impl SignatureVerificationAlgorithm for RsaSha1 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            public_key,
        )
        .verify(message, signature)
        .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        RSA_PKCS1_SHA1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> SnsHosts {
        SnsHosts::parse(SnsHosts::AWS).expect("patterns")
    }

    #[test]
    fn only_https_urls_on_an_sns_host_of_aws_are_fetched() {
        for ok in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://SNS.eu-west-1.amazonaws.com/x.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/x.pem",
            "https://sns.us-gov-west-1.amazonaws.com/x.pem",
        ] {
            assert!(hosts().check("SigningCertURL", ok).is_ok(), "{ok}");
        }
        for (bad, reason) in [
            ("http://sns.us-east-1.amazonaws.com/x.pem", "not https"),
            (
                "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
                "another host",
            ),
            (
                "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
                "another host",
            ),
            ("https://sns.amazonaws.com/x.pem", "another host"),
            ("https://s3.us-east-1.amazonaws.com/x.pem", "another host"),
            ("https://sns.a.b.amazonaws.com/x.pem", "another host"),
            // S3 answers on these with AWS's certificate: a bucket named `sns`.
            ("https://sns.s3.amazonaws.com/x.pem", "another host"),
            (
                "https://sns.s3-external-1.amazonaws.com/x.pem",
                "another host",
            ),
            (
                "https://sns.s3-accelerate.amazonaws.com/x.pem",
                "another host",
            ),
            (
                "https://sns.us-east-1.amazonaws.com:8443/x.pem",
                "a port on an AWS host",
            ),
            (
                "https://u:p@sns.us-east-1.amazonaws.com/x.pem",
                "credentials in the URL",
            ),
            ("https://52.94.0.1/x.pem", "not a host name"),
            ("sns.us-east-1.amazonaws.com/x.pem", "not a URL"),
        ] {
            match hosts().check("SigningCertURL", bad) {
                Err(Unverified::Host { reason: got, .. }) => assert_eq!(got, reason, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_host_pattern_is_a_host() {
        assert!(SnsHosts::parse("localhost, sns.*.example").is_ok());
        assert!(SnsHosts::parse("localhost,").is_err());
        assert!(SnsHosts::parse("https://sns.example").is_err());
    }
}
