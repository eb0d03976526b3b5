//! The SNS integration's HTTPS client: gets a message's signing certificate and visits
//! a subscription's confirmation URL, for `alerting_handlers::integrations::sns`, which
//! has checked each URL's host first. HTTPS only, no redirects (a redirect could lead
//! off the SNS host), short timeouts, and a small body: a certificate, or SNS's answer
//! to a confirmation.

use std::{path::Path, time::Duration};

use alerting_handlers::{integrations::sns::Fetch, redact};
use async_trait::async_trait;
use url::Url;

/// The most a certificate or a confirmation's answer may be.
const MAX_BODY_BYTES: usize = 64 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct HttpsFetch {
    client: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum SnsFetchSetupError {
    #[error("SNS_CA_FILE {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("the SNS HTTPS client: {0}")]
    Client(String),
}

impl HttpsFetch {
    /// A client trusting the system's certificate authorities, and those in `ca_file`.
    pub fn new(ca_file: Option<&Path>) -> Result<Self, SnsFetchSetupError> {
        let mut builder = crate::http_client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(TIMEOUT)
            .timeout(TIMEOUT);
        if let Some(path) = ca_file {
            let ca_error = |reason: String| SnsFetchSetupError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|err| ca_error(err.to_string()))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|err| ca_error(format!("not PEM certificates ({err})")))?;
            if certificates.is_empty() {
                return Err(ca_error("holds no certificate".to_owned()));
            }
            builder = builder.tls_certs_merge(certificates);
        }
        let client = builder
            .build()
            .map_err(|err| SnsFetchSetupError::Client(err.to_string()))?;
        Ok(Self { client })
    }
}

#[async_trait]
impl Fetch for HttpsFetch {
    async fn get(&self, url: &Url) -> Result<Vec<u8>, String> {
        // reqwest's errors name the URL, whose query may hold a confirmation token.
        let place = redact::url(url.as_str());
        let mut response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|err| format!("{place}: {}", err.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("{place} answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| format!("{place}: {}", err.without_url()))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(format!("{place} sent more than {MAX_BODY_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}
