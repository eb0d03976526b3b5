//! Clients (tenants) over HTTP: the admin creates and deletes them; a client key reads
//! and renames its own client only.

use alerting_entities::clients;
use axum::{
    Json,
    extract::{FromRequest, Path, Request, State},
    http::{StatusCode, header::LOCATION},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{AppState, is_unique_violation, now};
use crate::outbox::record as outbox;
use crate::{
    domain::{ClientId, ClientName, LabelMapping},
    http::{
        ApiError,
        auth::{Principal, Scope, Visible},
        error::{ErrorBody, FieldContext},
        extract::{ApiJson, ApiQuery, nullable},
        pagination::{Page, Paged},
    },
};

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct Client {
    /// 1–64 characters of `[A-Za-z0-9._-]`.
    pub client_id: String,
    pub name: Option<String>,
    /// Which labels of the alerts Prometheus, Alertmanager and Grafana send give their
    /// severity, source and name.
    pub label_mapping: LabelMapping,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<clients::Model> for Client {
    fn from(model: clients::Model) -> Self {
        Self {
            label_mapping: LabelMapping::stored(&model.id, model.label_mapping.as_deref()),
            client_id: model.id,
            name: model.name,
            created_at: model.created_at,
            updated_at: model.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    /// Optional: a UUID is generated when absent. 1–64 characters of `[A-Za-z0-9._-]`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub client_id: Option<String>,
    /// A display name, 1–255 characters.
    pub name: Option<String>,
    /// Which labels give the severity, source and name of the alerts Prometheus,
    /// Alertmanager and Grafana send for this client; a field left out keeps its
    /// default.
    pub label_mapping: Option<LabelMapping>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClient {
    /// A new display name; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// A new label mapping (a field left out: its default); `null` restores the
    /// defaults.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<LabelMapping>)]
    pub label_mapping: Option<Option<LabelMapping>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClientFilter {
    /// 1–200, default 50.
    pub limit: Option<u64>,
    /// Default 0.
    pub offset: Option<u64>,
}

/// A label mapping as stored: checked, as JSON.
fn mapping_column(mapping: Option<LabelMapping>) -> Result<Option<String>, ApiError> {
    mapping
        .map(|mapping| {
            let mapping = mapping.validate().map_err(|(field, err)| {
                ApiError::invalid(format!("label_mapping.{field}"), err.0)
            })?;
            serde_json::to_string(&mapping)
                .map_err(|err| ApiError::invalid("label_mapping", err.to_string()))
        })
        .transpose()
}

pub(crate) fn parse_name(name: Option<&str>) -> Result<Option<String>, ApiError> {
    name.map(|name| {
        ClientName::parse(name)
            .field("name")
            .map(ClientName::into_string)
    })
    .transpose()
}

/// Create a client.
#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", request_body = CreateClient,
    responses(
        (status = 201, body = Client, description = "Created; `Location` names it"),
        (status = 409, body = ErrorBody, description = "A client with this id exists")
    ))]
pub async fn create_client(
    State(state): State<AppState>,
    principal: Principal,
    request: Request,
) -> Result<impl IntoResponse, ApiError> {
    // The right comes first: a key learns nothing from how its body would be judged.
    principal.require_admin()?;
    let ApiJson(input) = ApiJson::<CreateClient>::from_request(request, &state).await?;
    let client_id = match input.client_id.as_deref() {
        Some(id) => ClientId::parse(id).field("client_id")?,
        None => ClientId::generate(),
    };
    let name = parse_name(input.name.as_deref())?;
    let label_mapping = mapping_column(input.label_mapping)?;
    let at = now();
    let model = clients::ActiveModel {
        id: Set(client_id.to_string()),
        name: Set(name),
        label_mapping: Set(label_mapping),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&state.db)
    .await
    .map_err(|err| {
        if is_unique_violation(&err) {
            ApiError::Duplicate(format!("client {client_id:?} already exists"))
        } else {
            err.into()
        }
    })?;
    let location = format!("/api/v1/clients/{client_id}");
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        Json(Client::from(model)),
    ))
}

/// List clients, newest first (a client key sees its own).
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", params(ClientFilter),
    responses((status = 200, body = Paged<Client>, description = "A page of clients, newest first")))]
pub async fn list_clients(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<ClientFilter>,
) -> Result<Json<Paged<Client>>, ApiError> {
    principal.require(Scope::Manage)?;
    let page = Page::new(filter.limit, filter.offset)?;
    let mut select = clients::Entity::find()
        .order_by_desc(clients::Column::CreatedAt)
        .order_by_desc(clients::Column::Id);
    if let Visible::As(Some(own)) = principal.visible(None) {
        select = select.filter(clients::Column::Id.eq(own));
    }
    Ok(Json(page.fetch(&state.db, select).await?))
}

/// The client, if the caller may see it (if not, it is as unknown as a missing one).
async fn find_client(
    state: &AppState,
    principal: &Principal,
    client_id: &str,
) -> Result<clients::Model, ApiError> {
    principal.require(Scope::Manage)?;
    if !principal.sees(client_id) {
        return Err(ApiError::not_found("client", client_id));
    }
    clients::Entity::find_by_id(client_id.to_owned())
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("client", client_id))
}

/// Get a client.
#[utoipa::path(get, path = "/api/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path)),
    responses((status = 200, body = Client, description = "The client")))]
pub async fn get_client(
    State(state): State<AppState>,
    principal: Principal,
    Path(client_id): Path<String>,
) -> Result<Json<Client>, ApiError> {
    Ok(Json(
        find_client(&state, &principal, &client_id).await?.into(),
    ))
}

/// Change a client's name or label mapping.
#[utoipa::path(patch, path = "/api/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path)), request_body = UpdateClient,
    responses((status = 200, body = Client, description = "The client as changed")))]
pub async fn update_client(
    State(state): State<AppState>,
    principal: Principal,
    Path(client_id): Path<String>,
    ApiJson(input): ApiJson<UpdateClient>,
) -> Result<Json<Client>, ApiError> {
    let existing = find_client(&state, &principal, &client_id).await?;
    let mut model: clients::ActiveModel = existing.into();
    if let Some(name) = input.name {
        model.name = Set(parse_name(name.as_deref())?);
    }
    if let Some(mapping) = input.label_mapping {
        model.label_mapping = Set(mapping_column(mapping)?);
    }
    model.updated_at = Set(now());
    let updated = model.update(&state.db).await.map_err(|err| match err {
        sea_orm::DbErr::RecordNotUpdated => ApiError::not_found("client", &client_id),
        other => other.into(),
    })?;
    Ok(Json(updated.into()))
}

/// Delete a client with its rules, endpoints and notifications.
#[utoipa::path(delete, path = "/api/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_client(
    State(state): State<AppState>,
    principal: Principal,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_admin()?;
    let txn = state.db.begin().await?;
    // Announce the rules' deletion before the cascade removes them.
    outbox::record_client_deletion(&txn, &client_id, now()).await?;
    let deleted = clients::Entity::delete_by_id(client_id.clone())
        .exec(&txn)
        .await?
        .rows_affected;
    if deleted == 0 {
        txn.rollback().await?;
        return Err(ApiError::not_found("client", client_id));
    }
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
