//! Who is calling. Every `/api/v1` route takes `Authorization: Bearer <token>`: the
//! admin token (everything), or one of a client's API keys (that client's own data,
//! within the key's scopes). Health, readiness and metrics stay open.
//!
//! Keys carry 244 random bits, so a SHA-256 of the key is all that is stored and a
//! lookup is one indexed read; the admin token is compared by its digest in constant
//! time.

use std::{fmt, sync::Arc};

use alerting_entities::api_keys;
use axum::{
    extract::{FromRef, FromRequestParts},
    http::{Method, header::AUTHORIZATION, request::Parts},
};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{ApiError, rate_limit::RateLimiter};
use crate::domain::ClientId;

/// How an admin token starts (a generated one; any token of 32+ characters works).
pub const ADMIN_TOKEN_PREFIX: &str = "alerting_admin_";
/// How a client API key starts.
pub const API_KEY_PREFIX: &str = "alerting_key_";
/// Shorter admin tokens are refused at start: they could be guessed.
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;

/// What a client key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read and change the client's own rules and endpoints, read its notifications.
    Manage,
    /// Post alerts (and start load generation): a producer's key, which reads nothing.
    Ingest,
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::Manage, Scope::Ingest];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manage => "manage",
            Self::Ingest => "ingest",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == value)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Scopes as stored: comma-separated.
pub fn scopes_to_column(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn scopes_from_column(column: &str) -> Vec<Scope> {
    column.split(',').filter_map(Scope::parse).collect()
}

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Admin,
    Client {
        client_id: String,
        key_id: Uuid,
        scopes: Vec<Scope>,
        /// An ingest key the admin marked as the shared feed's: its alerts belong to no
        /// client and are matched against every client's rules.
        shared: bool,
    },
}

/// Which clients' data a list may show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visible {
    /// Everyone's, or the one client asked for (the admin token).
    As(Option<String>),
    /// A client key asking for another client's data: nothing, as if it had none.
    Nothing,
}

impl Principal {
    /// A short name for rate limits and logs: `admin` or the key's id.
    pub fn identity(&self) -> String {
        match self {
            Self::Admin => "admin".to_owned(),
            Self::Client { key_id, .. } => key_id.to_string(),
        }
    }

    /// Who an alert posted by this caller belongs to: the client of an ordinary key;
    /// nobody (the shared feed) for the admin token and a key marked shared.
    pub fn alert_owner(&self) -> Result<Option<ClientId>, ApiError> {
        match self {
            Self::Admin | Self::Client { shared: true, .. } => Ok(None),
            // Stored through the same parser: only a row written behind the API's back
            // can fail here, and it must not fall back to the shared feed.
            Self::Client { client_id, .. } => ClientId::parse(client_id)
                .map(Some)
                .map_err(|err| ApiError::invalid("client_id", err.0)),
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self {
            Self::Admin => Ok(()),
            Self::Client { .. } => Err(ApiError::Forbidden(
                "only the admin token manages clients and API keys",
            )),
        }
    }

    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        match self {
            Self::Admin => Ok(()),
            Self::Client { scopes, .. } if scopes.contains(&scope) => Ok(()),
            Self::Client { .. } => Err(match scope {
                Scope::Manage => ApiError::Forbidden(
                    "this API key has no `manage` scope: it cannot read or change rules, endpoints or notifications",
                ),
                Scope::Ingest => {
                    ApiError::Forbidden("this API key has no `ingest` scope: it cannot post alerts")
                }
            }),
        }
    }

    /// Whether the caller may see `client_id`'s data. A caller that may not gets a 404
    /// for it, exactly as for something that does not exist.
    pub fn sees(&self, client_id: &str) -> bool {
        match self {
            Self::Admin => true,
            Self::Client { client_id: own, .. } => own == client_id,
        }
    }

    /// A list's client filter, narrowed to what the caller may see.
    pub fn visible(&self, requested: Option<String>) -> Visible {
        match (self, requested) {
            (Self::Admin, requested) => Visible::As(requested),
            (Self::Client { client_id, .. }, None) => Visible::As(Some(client_id.clone())),
            (Self::Client { client_id, .. }, Some(requested)) if requested == *client_id => {
                Visible::As(Some(requested))
            }
            (Self::Client { .. }, Some(_)) => Visible::Nothing,
        }
    }
}

/// Checks tokens: the admin token, and client keys in the database (when there is one:
/// an alert-producer run without DATABASE_URL takes the admin token only).
#[derive(Clone)]
pub struct Authenticator {
    admin_digest: Arc<[u8; 32]>,
    keys: Option<DatabaseConnection>,
    /// Writes per second per client key, where the service limits them.
    writes: Option<Arc<RateLimiter>>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("client_keys", &self.keys.is_some())
            .finish_non_exhaustive()
    }
}

/// SHA-256 of a token.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// SHA-256 of a key, in hex: what `api_keys.key_hash` holds.
pub fn key_hash(key: &str) -> String {
    hex::encode(digest(key))
}

/// A new secret: `prefix` and 64 hex digits from the operating system's random
/// source (two version-4 UUIDs' worth, 244 random bits).
pub fn new_secret(prefix: &str) -> String {
    format!(
        "{prefix}{}{}",
        Uuid::new_v4().simple(),
        Uuid::new_v4().simple()
    )
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

const MISSING: &str =
    "this route needs `Authorization: Bearer <token>` (the admin token or a client's API key)";
const REFUSED: &str = "the bearer token is not valid (unknown, or a revoked API key)";

impl Authenticator {
    pub fn new(admin_token: &str, keys: Option<DatabaseConnection>) -> Self {
        Self {
            admin_digest: Arc::new(digest(admin_token)),
            keys,
            writes: None,
        }
    }

    /// Limits each client key to `per_second` writes (POST, PUT, PATCH, DELETE): 429
    /// naming WRITE_RATE_LIMIT past it. 0: no limit. The admin token is not limited.
    pub fn with_write_limit(self, per_second: u32) -> Self {
        Self {
            writes: (per_second > 0)
                .then(|| Arc::new(RateLimiter::new("WRITE_RATE_LIMIT", per_second))),
            ..self
        }
    }

    /// Takes one write from a client key's allowance.
    fn check_write(&self, principal: &Principal, method: &Method) -> Result<(), ApiError> {
        let is_write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        match (&self.writes, principal) {
            (Some(limiter), Principal::Client { key_id, .. }) if is_write => {
                limiter.check(&key_id.to_string())
            }
            _ => Ok(()),
        }
    }

    pub async fn authenticate(&self, token: &str) -> Result<Principal, ApiError> {
        if constant_time_eq(&digest(token), &self.admin_digest) {
            return Ok(Principal::Admin);
        }
        let (true, Some(db)) = (token.starts_with(API_KEY_PREFIX), &self.keys) else {
            return Err(ApiError::Unauthorized(REFUSED));
        };
        let key = api_keys::Entity::find()
            .filter(api_keys::Column::KeyHash.eq(key_hash(token)))
            .one(db)
            .await?;
        match key {
            Some(key) if key.revoked_at.is_none() => Ok(Principal::Client {
                client_id: key.client_id,
                key_id: key.id,
                scopes: scopes_from_column(&key.scopes),
                shared: key.shared,
            }),
            _ => Err(ApiError::Unauthorized(REFUSED)),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::Unauthorized(MISSING))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized(MISSING))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(ApiError::Unauthorized(MISSING))?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::Unauthorized(MISSING));
    }
    Ok(token)
}

impl<S> FromRequestParts<S> for Principal
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        let auth = Authenticator::from_ref(state);
        let principal = auth.authenticate(token).await?;
        auth.check_write(&principal, &parts.method)?;
        Ok(principal)
    }
}

/// The caller of a route whose sender cannot set a header (SNS): a client's key in the
/// URL's `key` parameter, else the `Authorization` header as everywhere. The key is
/// hashed and looked up like any other and never written anywhere (the request log
/// shows the URL with `key=…`); only an ingest-only key is taken from a URL, where
/// proxies and the sender's own configuration keep it, never the admin token.
pub struct KeyInUrl(pub Principal);

/// The `key` parameter of a query, if there is one.
pub fn key_in_query(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(name, _)| name == URL_KEY)
        .map(|(_, value)| value.into_owned())
}

/// The query parameter [`KeyInUrl`] reads.
pub const URL_KEY: &str = "key";

impl<S> FromRequestParts<S> for KeyInUrl
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(key) = key_in_query(parts.uri.query()) else {
            return Principal::from_request_parts(parts, state).await.map(Self);
        };
        if !key.starts_with(API_KEY_PREFIX) {
            return Err(ApiError::Unauthorized(
                "the `key` in the URL must be a client's API key (alerting_key_…): the admin token is never taken in a URL",
            ));
        }
        let auth = Authenticator::from_ref(state);
        let principal = auth.authenticate(&key).await?;
        // A URL is seen by more than its sender (the SNS subscription's list, proxies):
        // a key that can do more than post alerts does not belong there.
        match &principal {
            Principal::Client { scopes, .. } if scopes == &[Scope::Ingest] => {}
            _ => {
                return Err(ApiError::Forbidden(
                    "a key in a URL must be an ingest-only key (scopes [\"ingest\"]): make one for this sender",
                ));
            }
        }
        auth.check_write(&principal, &parts.method)?;
        Ok(Self(principal))
    }
}

/// Who did something, as records say it: "admin", or the API key's name (its prefix
/// when it has none).
pub async fn who(db: &DatabaseConnection, principal: &Principal) -> Result<String, ApiError> {
    use alerting_entities::api_keys;
    use sea_orm::EntityTrait;
    Ok(match principal {
        Principal::Admin => "admin".to_owned(),
        Principal::Client { key_id, .. } => api_keys::Entity::find_by_id(*key_id)
            .one(db)
            .await?
            .map_or_else(
                || format!("key {key_id}"),
                |key| {
                    key.name
                        .unwrap_or_else(|| format!("key {}", key.key_prefix))
                },
            ),
    })
}

/// Describes the bearer authentication scheme in an OpenAPI document; `answers`
/// requires it on every `/api/v1` operation.
pub fn document(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
    api.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The admin token (ADMIN_TOKEN), or a client's API key from POST /api/v1/clients/{client_id}/keys",
                    ))
                    .build(),
            ),
        );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(scopes: &[Scope]) -> Principal {
        Principal::Client {
            client_id: "acme".to_owned(),
            key_id: Uuid::nil(),
            scopes: scopes.to_vec(),
            shared: false,
        }
    }

    #[test]
    fn a_clients_key_owns_its_alerts_and_the_admin_and_shared_keys_post_to_the_feed() {
        let own = client(&[Scope::Ingest]);
        assert_eq!(
            own.alert_owner().ok().flatten().map(ClientId::into_string),
            Some("acme".to_owned())
        );
        let Principal::Client {
            client_id,
            key_id,
            scopes,
            ..
        } = own
        else {
            unreachable!("a client")
        };
        let feed = Principal::Client {
            client_id,
            key_id,
            scopes,
            shared: true,
        };
        assert_eq!(feed.alert_owner().ok(), Some(None));
        assert_eq!(Principal::Admin.alert_owner().ok(), Some(None));
    }

    #[test]
    fn a_client_key_sees_its_own_client_only() {
        let key = client(&[Scope::Manage]);
        assert!(key.sees("acme"));
        assert!(!key.sees("globex"));
        assert_eq!(key.visible(None), Visible::As(Some("acme".to_owned())));
        assert_eq!(
            key.visible(Some("acme".to_owned())),
            Visible::As(Some("acme".to_owned()))
        );
        assert_eq!(key.visible(Some("globex".to_owned())), Visible::Nothing);
        assert!(Principal::Admin.sees("globex"));
        assert_eq!(Principal::Admin.visible(None), Visible::As(None));
    }

    #[test]
    fn scopes_gate_what_a_key_does_and_the_admin_does_everything() {
        let producer = client(&[Scope::Ingest]);
        assert!(producer.require(Scope::Ingest).is_ok());
        assert!(matches!(
            producer.require(Scope::Manage),
            Err(ApiError::Forbidden(_))
        ));
        assert!(matches!(
            producer.require_admin(),
            Err(ApiError::Forbidden(_))
        ));
        for scope in Scope::ALL {
            assert!(Principal::Admin.require(scope).is_ok());
        }
        assert!(Principal::Admin.require_admin().is_ok());
    }

    #[test]
    fn scopes_survive_the_column_and_unknown_ones_are_dropped() {
        let column = scopes_to_column(&[Scope::Manage, Scope::Ingest]);
        assert_eq!(column, "manage,ingest");
        assert_eq!(scopes_from_column(&column), [Scope::Manage, Scope::Ingest]);
        assert_eq!(scopes_from_column("ingest,root"), [Scope::Ingest]);
    }

    #[test]
    fn secrets_are_long_random_and_prefixed() {
        let a = new_secret(API_KEY_PREFIX);
        let b = new_secret(API_KEY_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with(API_KEY_PREFIX));
        assert_eq!(a.len(), API_KEY_PREFIX.len() + 64);
        assert_eq!(key_hash(&a).len(), 64);
        assert_ne!(key_hash(&a), a);
    }

    #[tokio::test]
    async fn only_the_admin_token_is_taken_without_a_key_database() {
        let auth = Authenticator::new("alerting_admin_0123456789abcdef0123456789", None);
        assert_eq!(
            auth.authenticate("alerting_admin_0123456789abcdef0123456789")
                .await
                .ok(),
            Some(Principal::Admin)
        );
        assert!(matches!(
            auth.authenticate("alerting_admin_0123456789abcdef012345678")
                .await,
            Err(ApiError::Unauthorized(_))
        ));
        assert!(matches!(
            auth.authenticate(&new_secret(API_KEY_PREFIX)).await,
            Err(ApiError::Unauthorized(_))
        ));
    }
}
