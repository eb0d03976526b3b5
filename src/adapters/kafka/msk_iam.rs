//! Amazon MSK's IAM access control over SASL/OAUTHBEARER: the token is a SigV4
//! presigned URL for the `kafka-cluster:Connect` action, base64url-encoded without
//! padding, as AWS's own signers (`aws-msk-iam-sasl-signer-*`) make it. The credentials
//! come from aws-config's default chain (the ECS task role), fetched ahead of need by a
//! task, because librdkafka asks for a token from a thread that must not wait.

use std::{
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use aws_credential_types::{Credentials, provider::ProvideCredentials};
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign},
    sign::v4,
};
use base64::Engine;

/// How long a token is good for; librdkafka asks for a new one at 80% of it.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);

/// How often the task asks the credential chain again (it caches, and renews role
/// credentials before they expire).
const CREDENTIALS_REFRESH: Duration = Duration::from_secs(300);

/// The service name MSK's signature is made for.
const SIGNING_NAME: &str = "kafka-cluster";

/// Sent with each token, as AWS's signers do, so MSK's logs can tell clients apart.
const USER_AGENT: &str = concat!("alerting/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no AWS credentials for AWS_MSK_IAM: {0}")]
    Credentials(String),
    #[error("cannot sign an MSK IAM token: {0}")]
    Signing(String),
}

/// One token and when it stops being accepted (milliseconds since the epoch).
#[derive(Debug, Clone)]
pub struct Token {
    pub value: String,
    pub expires_at_ms: i64,
}

/// The token for `region`, signed at `now` with `credentials`.
pub fn token(
    region: &str,
    credentials: &Credentials,
    now: SystemTime,
) -> Result<Token, TokenError> {
    let signing = |err: &dyn std::fmt::Display| TokenError::Signing(err.to_string());
    let endpoint = format!("https://kafka.{region}.amazonaws.com/?Action=kafka-cluster%3AConnect");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SIGNING_NAME)
        .time(now)
        .settings(settings)
        .build()
        .map_err(|err| signing(&err))?
        .into();
    let request = SignableRequest::new(
        "GET",
        endpoint.as_str(),
        std::iter::empty(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|err| signing(&err))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|err| signing(&err))?
        .into_parts();
    let mut url = url::Url::parse(&endpoint).map_err(|err| signing(&err))?;
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in instructions.params() {
            query.append_pair(name, value);
        }
        query.append_pair("User-Agent", USER_AGENT);
    }
    let signed_at = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|err| signing(&err))?;
    // Never past the credentials' own end (role credentials expire too).
    let credentials_end = credentials
        .expiry()
        .and_then(|end| end.duration_since(SystemTime::UNIX_EPOCH).ok());
    let expires_at = credentials_end.map_or(signed_at + TOKEN_LIFETIME, |end| {
        end.min(signed_at + TOKEN_LIFETIME)
    });
    Ok(Token {
        value: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url.as_str()),
        expires_at_ms: i64::try_from(expires_at.as_millis()).unwrap_or(i64::MAX),
    })
}

/// Signs tokens for one region with credentials a background task keeps fresh.
pub struct Signer {
    region: String,
    credentials: Arc<RwLock<Credentials>>,
}

impl Signer {
    /// Finds credentials once (failing when there are none), then keeps them fresh.
    pub async fn start(region: &str) -> Result<Arc<Self>, TokenError> {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(crate::adapters::cloudwatch::http_client())
            .region(aws_config::Region::new(region.to_owned()))
            .load()
            .await;
        let provider = config
            .credentials_provider()
            .ok_or_else(|| TokenError::Credentials("no credential chain".to_owned()))?;
        let first = provider
            .provide_credentials()
            .await
            .map_err(|err| TokenError::Credentials(err.to_string()))?;
        let credentials = Arc::new(RwLock::new(first));
        let kept = Arc::downgrade(&credentials);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(CREDENTIALS_REFRESH).await;
                let Some(credentials) = kept.upgrade() else {
                    return;
                };
                match provider.provide_credentials().await {
                    Ok(fresh) => *credentials.write().unwrap_or_else(|e| e.into_inner()) = fresh,
                    Err(err) => tracing::warn!(error = %err, "AWS credentials not renewed"),
                }
            }
        });
        Ok(Arc::new(Self {
            region: region.to_owned(),
            credentials,
        }))
    }

    pub fn token(&self) -> Result<Token, TokenError> {
        let credentials = self
            .credentials
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        token(&self.region, &credentials, SystemTime::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(token: &Token) -> url::Url {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&token.value)
            .expect("base64url without padding");
        url::Url::parse(&String::from_utf8(bytes).expect("utf-8")).expect("a URL")
    }

    /// The format AWS's signers document: a presigned GET of
    /// `https://kafka.<region>.amazonaws.com/?Action=kafka-cluster:Connect` for the
    /// `kafka-cluster` service, valid 900 s, the session token signed in, a User-Agent
    /// after the signature, base64url without padding.
    #[test]
    fn a_token_is_the_presigned_connect_url_msk_expects() {
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token".to_owned()),
            None,
            "test",
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let token = token("eu-west-1", &credentials, now).expect("token");
        assert!(!token.value.contains('='), "no padding");
        assert_eq!(token.expires_at_ms, (1_800_000_000 + 900) * 1000);
        let url = decode(&token);
        assert_eq!(url.scheme(), "https");
        assert_eq!(url.host_str(), Some("kafka.eu-west-1.amazonaws.com"));
        assert_eq!(url.path(), "/");
        let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |name: &str| {
            query
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(get("Action"), Some("kafka-cluster:Connect"));
        assert_eq!(get("X-Amz-Algorithm"), Some("AWS4-HMAC-SHA256"));
        assert_eq!(
            get("X-Amz-Credential"),
            Some("AKIDEXAMPLE/20270115/eu-west-1/kafka-cluster/aws4_request")
        );
        assert_eq!(get("X-Amz-Date"), Some("20270115T080000Z"));
        assert_eq!(get("X-Amz-Expires"), Some("900"));
        assert_eq!(get("X-Amz-SignedHeaders"), Some("host"));
        assert_eq!(get("X-Amz-Security-Token"), Some("session-token"));
        let signature = get("X-Amz-Signature").expect("signed");
        assert_eq!(signature.len(), 64);
        assert!(signature.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            query.last().map(|(key, _)| key.as_str()),
            Some("User-Agent")
        );
    }

    #[test]
    fn the_signature_changes_with_the_secret_and_the_time() {
        let credentials = |secret: &str| Credentials::new("AKID", secret, None, None, "test");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let signature = |token: Token| {
            decode(&token)
                .query_pairs()
                .find(|(key, _)| key == "X-Amz-Signature")
                .map(|(_, value)| value.into_owned())
        };
        let one = signature(token("eu-west-1", &credentials("a"), now).expect("token"));
        let same = signature(token("eu-west-1", &credentials("a"), now).expect("token"));
        let other_secret = signature(token("eu-west-1", &credentials("b"), now).expect("token"));
        let later = signature(
            token("eu-west-1", &credentials("a"), now + Duration::from_secs(1)).expect("token"),
        );
        assert_eq!(one, same);
        assert_ne!(one, other_secret);
        assert_ne!(one, later);
    }
}
