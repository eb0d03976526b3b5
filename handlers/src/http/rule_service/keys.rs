//! A client's API keys, managed with the admin token only. A key is shown once, when
//! it is made; the database keeps its SHA-256. Revoking keeps the row (who had which
//! key, and when it stopped working) and refuses the key from then on.

use alerting_entities::{api_keys, clients};
use axum::{
    Json,
    extract::{FromRequest, Path, Request, State},
    http::{StatusCode, header::LOCATION},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{AppState, now, parse_uuid, quotas};
use crate::http::{
    ApiError,
    auth::{
        API_KEY_PREFIX, Principal, Scope, key_hash, new_secret, scopes_from_column,
        scopes_to_column,
    },
    extract::{ApiJson, ApiQuery},
    pagination::{Page, Paged},
};

/// Characters of a key kept to tell keys apart in a list (the prefix and 3 more).
const SHOWN_CHARS: usize = API_KEY_PREFIX.len() + 3;

/// An API key as listed: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    pub key_id: Uuid,
    pub client_id: String,
    pub name: Option<String>,
    /// `manage`: the client's rules, endpoints and notifications; `ingest`: posting
    /// alerts.
    pub scopes: Vec<String>,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    /// An ingest key of the shared feed: the alerts it posts belong to no client and
    /// are matched against every client's rules. An ordinary key's alerts belong to its
    /// client, and only that client's rules see them.
    pub shared: bool,
    pub created_at: DateTime<Utc>,
    /// When it was revoked; a revoked key is refused.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_keys::Model> for ApiKey {
    fn from(model: api_keys::Model) -> Self {
        Self {
            key_id: model.id,
            client_id: model.client_id,
            name: model.name,
            scopes: scopes_from_column(&model.scopes)
                .into_iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            prefix: model.key_prefix,
            shared: model.shared,
            created_at: model.created_at,
            revoked_at: model.revoked_at,
        }
    }
}

/// A new key: the listed fields and, this once, the key.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key_info: ApiKey,
    /// The key, for `Authorization: Bearer <key>`. Shown only now: store it safely.
    pub key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// What the key is for, 1–100 characters.
    pub name: Option<String>,
    /// `manage` and/or `ingest`; default `["manage"]`.
    pub scopes: Option<Vec<String>>,
    /// Make an ingest key of the shared feed (scopes must be `["ingest"]`): its alerts
    /// are seen by every client's rules. Default false: the alerts belong to the key's
    /// client alone.
    pub shared: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KeyFilter {
    /// 1–200, default 50.
    pub limit: Option<u64>,
    /// Default 0.
    pub offset: Option<u64>,
}

fn parse_scopes(scopes: Option<Vec<String>>) -> Result<Vec<Scope>, ApiError> {
    let Some(names) = scopes else {
        return Ok(vec![Scope::Manage]);
    };
    if names.is_empty() {
        return Err(ApiError::invalid(
            "scopes",
            "name at least one scope: manage, ingest",
        ));
    }
    let mut scopes = Vec::new();
    for name in names {
        let scope = Scope::parse(&name).ok_or_else(|| {
            ApiError::invalid(
                "scopes",
                format!("unknown scope {name:?}: use manage or ingest"),
            )
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes.sort();
    Ok(scopes)
}

/// A shared key posts to the feed every client sees, and does nothing else.
fn check_shared(shared: bool, scopes: &[Scope]) -> Result<(), ApiError> {
    if shared && scopes != [Scope::Ingest] {
        return Err(ApiError::invalid(
            "shared",
            "a shared key posts alerts to the shared feed and does nothing else: its scopes must be [\"ingest\"]",
        ));
    }
    Ok(())
}

fn parse_key_name(name: Option<String>) -> Result<Option<String>, ApiError> {
    match name {
        Some(name) if name.trim().is_empty() || name.chars().count() > 100 => Err(
            ApiError::invalid("name", "must be 1–100 characters, not only spaces"),
        ),
        Some(name) if name.chars().any(char::is_control) => Err(ApiError::invalid(
            "name",
            "must not contain control characters",
        )),
        other => Ok(other),
    }
}

async fn require_client(state: &AppState, client_id: &str) -> Result<(), ApiError> {
    clients::Entity::find_by_id(client_id.to_owned())
        .one(&state.db)
        .await?
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found("client", client_id))
}

/// Make an API key for a client (admin token only). The key is in this answer only.
#[utoipa::path(post, path = "/api/v1/clients/{client_id}/keys", tag = "keys",
    params(("client_id" = String, Path)), request_body = CreateApiKey,
    responses((status = 201, body = CreatedApiKey, description = "Created: the key itself, shown this once")))]
pub async fn create_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(client_id): Path<String>,
    request: Request,
) -> Result<impl IntoResponse, ApiError> {
    // The right comes first: a key learns nothing from how its body would be judged.
    principal.require_admin()?;
    let ApiJson(input) = ApiJson::<CreateApiKey>::from_request(request, &state).await?;
    let name = parse_key_name(input.name)?;
    let scopes = parse_scopes(input.scopes)?;
    let shared = input.shared.unwrap_or(false);
    check_shared(shared, &scopes)?;
    let txn = state.db.begin().await?;
    if !quotas::lock_client(&txn, &client_id).await? {
        txn.rollback().await?;
        return Err(ApiError::not_found("client", &client_id));
    }
    if let Err(err) = state.quotas.room_for_key(&txn, &client_id).await {
        txn.rollback().await?;
        return Err(err);
    }
    let key = new_secret(API_KEY_PREFIX);
    let model = api_keys::Model {
        id: Uuid::new_v4(),
        client_id: client_id.clone(),
        name,
        scopes: scopes_to_column(&scopes),
        key_hash: key_hash(&key),
        key_prefix: key.chars().take(SHOWN_CHARS).collect(),
        shared,
        created_at: now(),
        revoked_at: None,
    };
    api_keys::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(client_id = %client_id, key_id = %model.id, scopes = %model.scopes, shared, "API key created");
    let location = format!("/api/v1/clients/{client_id}/keys/{}", model.id);
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        Json(CreatedApiKey {
            key_info: model.into(),
            key,
        }),
    ))
}

/// List a client's API keys, newest first, revoked ones included (admin token only).
#[utoipa::path(get, path = "/api/v1/clients/{client_id}/keys", tag = "keys",
    params(("client_id" = String, Path), KeyFilter),
    responses((status = 200, body = Paged<ApiKey>, description = "A page of the client's keys (never the keys themselves)")))]
pub async fn list_keys(
    State(state): State<AppState>,
    principal: Principal,
    Path(client_id): Path<String>,
    ApiQuery(filter): ApiQuery<KeyFilter>,
) -> Result<Json<Paged<ApiKey>>, ApiError> {
    principal.require_admin()?;
    let page = Page::new(filter.limit, filter.offset)?;
    require_client(&state, &client_id).await?;
    let select = api_keys::Entity::find()
        .filter(api_keys::Column::ClientId.eq(&client_id))
        .order_by_desc(api_keys::Column::CreatedAt)
        .order_by_desc(api_keys::Column::Id);
    Ok(Json(page.fetch(&state.db, select).await?))
}

/// Revoke an API key: it is refused from now on (admin token only). Revoking a revoked
/// key changes nothing.
#[utoipa::path(delete, path = "/api/v1/clients/{client_id}/keys/{key_id}", tag = "keys",
    params(("client_id" = String, Path), ("key_id" = Uuid, Path)),
    responses((status = 204, description = "Revoked")))]
pub async fn revoke_key(
    State(state): State<AppState>,
    principal: Principal,
    Path((client_id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    principal.require_admin()?;
    let id = parse_uuid("API key", &key_id)?;
    let key = api_keys::Entity::find_by_id(id)
        .filter(api_keys::Column::ClientId.eq(&client_id))
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("API key", &key_id))?;
    if key.revoked_at.is_none() {
        let mut model = key.into_active_model();
        model.revoked_at = Set(Some(now()));
        api_keys::Entity::update(model).exec(&state.db).await?;
        tracing::info!(client_id = %client_id, key_id = %id, "API key revoked");
    }
    Ok(StatusCode::NO_CONTENT)
}
