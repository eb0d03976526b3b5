//! A rule's endpoints over HTTP: add, list, read, change and delete them. An address is
//! checked against its type (and, unless ALLOW_PRIVATE_ENDPOINTS, against private
//! networks); a secret is write-only.

use alerting_entities::{endpoints, rules as rule_rows};
use axum::{
    Json,
    extract::{Path, State},
    http::{StatusCode, header::LOCATION},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    AppState, is_foreign_key_violation, is_unique_violation, now, owned::find_owned, parse_uuid,
    quotas,
};
use crate::{
    domain::{EndpointKind, EndpointSecret, EndpointTarget},
    http::{
        ApiError,
        auth::{Principal, Scope},
        error::{ErrorBody, FieldContext},
        extract::{ApiJson, ApiQuery, nullable},
        pagination::{Page, Paged},
    },
};

/// Where a rule's notifications go. The secret is never returned.
#[derive(Debug, Serialize, ToSchema)]
pub struct Endpoint {
    pub endpoint_id: Uuid,
    pub rule_id: Uuid,
    /// webhook, slack or email.
    #[serde(rename = "type")]
    pub kind: String,
    /// An http(s) URL for webhook and slack, an address for email.
    pub value: String,
    pub enabled: bool,
    /// Whether webhook deliveries are signed.
    pub has_secret: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<endpoints::Model> for Endpoint {
    fn from(model: endpoints::Model) -> Self {
        Self {
            endpoint_id: model.id,
            rule_id: model.rule_id,
            kind: model.kind,
            value: model.value,
            enabled: model.enabled,
            has_secret: model.secret.is_some(),
            created_at: model.created_at,
            updated_at: model.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// webhook, slack or email.
    #[serde(rename = "type")]
    pub kind: String,
    /// An http(s) URL for webhook and slack (at most 2,048 bytes once normalised and
    /// percent-encoded, as it is stored), an address for email.
    pub value: String,
    /// Webhooks only: the key of the `X-Alerting-Signature` HMAC, at least 16
    /// characters. Write-only.
    pub secret: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// The fields to change; the others stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub value: Option<String>,
    /// A new secret (at least 16 characters); `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub secret: Option<Option<String>>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EndpointFilter {
    /// 1–200, default 50.
    pub limit: Option<u64>,
    /// Default 0.
    pub offset: Option<u64>,
}

/// A validated endpoint: its target fits its kind, and only webhooks carry a secret.
struct ValidEndpoint {
    target: EndpointTarget,
    secret: Option<String>,
}

/// An endpoint's secret: one given in this request, checked, or the one it has kept
/// (stored before the current rules, so a PATCH that leaves it alone is not refused
/// for it).
enum Secret<'a> {
    Given(Option<&'a str>),
    Kept(Option<String>),
}

impl ValidEndpoint {
    fn parse(kind: &str, kind_field: &str, value: &str, secret: Secret) -> Result<Self, ApiError> {
        let kind: EndpointKind = kind.parse().field(kind_field)?;
        let target = EndpointTarget::parse(kind, value).field("value")?;
        let secret = match secret {
            Secret::Given(given) => given
                .map(|secret| EndpointSecret::parse(secret).field("secret"))
                .transpose()?
                .map(EndpointSecret::into_string),
            Secret::Kept(kept) => kept,
        };
        if secret.is_some() && kind != EndpointKind::Webhook {
            return Err(ApiError::invalid(
                "secret",
                format!(
                    "only webhook endpoints are signed; a {} endpoint takes no secret",
                    kind.as_str()
                ),
            ));
        }
        Ok(Self { target, secret })
    }

    fn duplicate(&self, rule_id: Uuid) -> ApiError {
        let target = match self.target.kind() {
            EndpointKind::Email => self.target.value().to_owned(),
            EndpointKind::Webhook | EndpointKind::Slack => crate::redact::url(self.target.value()),
        };
        ApiError::Duplicate(format!(
            "rule {rule_id} already has a {} endpoint {target:?}",
            self.target.kind().as_str(),
        ))
    }
}

/// Add an endpoint to a rule.
#[utoipa::path(post, path = "/api/v1/rules/{rule_id}/endpoints", tag = "endpoints",
    params(("rule_id" = Uuid, Path)), request_body = CreateEndpoint,
    responses(
        (status = 201, body = Endpoint, description = "Created; `Location` names it"),
        (status = 409, body = ErrorBody, description = "The rule has this endpoint already")
    ))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Path(rule_id): Path<String>,
    ApiJson(input): ApiJson<CreateEndpoint>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Scope::Manage)?;
    // A client key may add endpoints to its own rules only (another's is a 404).
    let rule_uuid = match principal {
        Principal::Admin => parse_uuid("rule", &rule_id)?,
        Principal::Client { .. } => {
            find_owned::<rule_rows::Entity>(&state, &principal, &rule_id)
                .await?
                .id
        }
    };
    let valid = ValidEndpoint::parse(
        &input.kind,
        "type",
        &input.value,
        Secret::Given(input.secret.as_deref()),
    )?;
    state.targets.check(&valid.target).await?;
    let at = now();
    let endpoint = endpoints::Model {
        id: Uuid::new_v4(),
        rule_id: rule_uuid,
        kind: valid.target.kind().as_str().to_owned(),
        value: valid.target.value().to_owned(),
        secret: valid.secret.clone(),
        enabled: input.enabled.unwrap_or(true),
        created_at: at,
        updated_at: at,
    };
    // The rule's client is read first: a transaction's first statement must be its
    // write (the client's lock), or SQLite refuses to upgrade it under concurrent writers.
    let client_id = rule_rows::Entity::find_by_id(rule_uuid)
        .select_only()
        .column(rule_rows::Column::ClientId)
        .into_tuple::<String>()
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("rule", &rule_id))?;
    let txn = state.db.begin().await?;
    quotas::lock_client(&txn, &client_id).await?;
    if let Err(err) = state
        .quotas
        .room_for_endpoint(&txn, &client_id, rule_uuid)
        .await
    {
        txn.rollback().await?;
        return Err(err);
    }
    let inserted = endpoints::Entity::insert(endpoint.clone().into_active_model().reset_all())
        .exec_without_returning(&txn)
        .await;
    if let Err(err) = inserted {
        txn.rollback().await?;
        return Err(if is_foreign_key_violation(&err) {
            ApiError::not_found("rule", &rule_id)
        } else if is_unique_violation(&err) {
            valid.duplicate(rule_uuid)
        } else {
            err.into()
        });
    }
    txn.commit().await?;
    let location = format!("/api/v1/endpoints/{}", endpoint.id);
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        Json(Endpoint::from(endpoint)),
    ))
}

/// List a rule's endpoints, newest first.
#[utoipa::path(get, path = "/api/v1/rules/{rule_id}/endpoints", tag = "endpoints",
    params(("rule_id" = Uuid, Path), EndpointFilter),
    responses((status = 200, body = Paged<Endpoint>, description = "A page of the rule's endpoints")))]
pub async fn list_endpoints(
    State(state): State<AppState>,
    principal: Principal,
    Path(rule_id): Path<String>,
    ApiQuery(filter): ApiQuery<EndpointFilter>,
) -> Result<Json<Paged<Endpoint>>, ApiError> {
    principal.require(Scope::Manage)?;
    let page = Page::new(filter.limit, filter.offset)?;
    let rule = find_owned::<rule_rows::Entity>(&state, &principal, &rule_id).await?;
    let select = endpoints::Entity::find()
        .filter(endpoints::Column::RuleId.eq(rule.id))
        .order_by_desc(endpoints::Column::CreatedAt)
        .order_by_desc(endpoints::Column::Id);
    Ok(Json(page.fetch(&state.db, select).await?))
}

/// The endpoint, if the caller may see its rule's client (if not, it is as unknown as
/// a missing one).
async fn find_endpoint(
    state: &AppState,
    principal: &Principal,
    endpoint_id: &str,
) -> Result<endpoints::Model, ApiError> {
    Ok(find_endpoint_and_rule(state, principal, endpoint_id)
        .await?
        .0)
}

/// The endpoint and its rule, if the caller may see the rule's client.
pub(super) async fn find_endpoint_and_rule(
    state: &AppState,
    principal: &Principal,
    endpoint_id: &str,
) -> Result<(endpoints::Model, rule_rows::Model), ApiError> {
    principal.require(Scope::Manage)?;
    let id = parse_uuid("endpoint", endpoint_id)?;
    let found = endpoints::Entity::find_by_id(id)
        .find_also_related(rule_rows::Entity)
        .one(&state.db)
        .await?;
    match found {
        Some((endpoint, Some(rule))) if principal.sees(&rule.client_id) => Ok((endpoint, rule)),
        _ => Err(ApiError::not_found("endpoint", endpoint_id)),
    }
}

/// Get an endpoint.
#[utoipa::path(get, path = "/api/v1/endpoints/{endpoint_id}", tag = "endpoints",
    params(("endpoint_id" = Uuid, Path)),
    responses((status = 200, body = Endpoint, description = "The endpoint")))]
pub async fn get_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Path(endpoint_id): Path<String>,
) -> Result<Json<Endpoint>, ApiError> {
    Ok(Json(
        find_endpoint(&state, &principal, &endpoint_id)
            .await?
            .into(),
    ))
}

/// Change an endpoint: its type, address, secret or whether it is enabled.
#[utoipa::path(patch, path = "/api/v1/endpoints/{endpoint_id}", tag = "endpoints",
    params(("endpoint_id" = Uuid, Path)), request_body = UpdateEndpoint,
    responses(
        (status = 200, body = Endpoint, description = "The endpoint as changed"),
        (status = 409, body = ErrorBody, description = "The rule has this endpoint already")
    ))]
pub async fn update_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Path(endpoint_id): Path<String>,
    ApiJson(input): ApiJson<UpdateEndpoint>,
) -> Result<Json<Endpoint>, ApiError> {
    let existing = find_endpoint(&state, &principal, &endpoint_id).await?;
    let secret = match &input.secret {
        Some(secret) => Secret::Given(secret.as_deref()),
        None => Secret::Kept(existing.secret.clone()),
    };
    let valid = ValidEndpoint::parse(
        input.kind.as_deref().unwrap_or(&existing.kind),
        "type",
        input.value.as_deref().unwrap_or(&existing.value),
        secret,
    )?;
    if valid.target.value() != existing.value || valid.target.kind().as_str() != existing.kind {
        state.targets.check(&valid.target).await?;
    }
    let rule_id = existing.rule_id;
    let mut model = existing.clone().into_active_model();
    model.kind = Set(valid.target.kind().as_str().to_owned());
    model.value = Set(valid.target.value().to_owned());
    model.secret = Set(valid.secret.clone());
    model.enabled = Set(input.enabled.unwrap_or(existing.enabled));
    model.updated_at = Set(now());
    let updated = model.update(&state.db).await.map_err(|err| {
        if is_unique_violation(&err) {
            valid.duplicate(rule_id)
        } else if matches!(err, sea_orm::DbErr::RecordNotUpdated) {
            ApiError::not_found("endpoint", &endpoint_id)
        } else {
            err.into()
        }
    })?;
    Ok(Json(updated.into()))
}

/// Delete an endpoint.
#[utoipa::path(delete, path = "/api/v1/endpoints/{endpoint_id}", tag = "endpoints",
    params(("endpoint_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Path(endpoint_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = find_endpoint(&state, &principal, &endpoint_id).await?.id;
    let deleted = endpoints::Entity::delete_by_id(id)
        .exec(&state.db)
        .await?
        .rows_affected;
    if deleted == 0 {
        return Err(ApiError::not_found("endpoint", endpoint_id));
    }
    Ok(StatusCode::NO_CONTENT)
}
