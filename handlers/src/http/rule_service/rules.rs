//! Rules over REST: create, list, read, replace, change and delete a client's rules.
//! Every write is conditional on the rule's version and records an outbox row in the
//! same transaction, so that `rule.changed` announces exactly what was written.

use std::collections::BTreeMap;

use alerting_entities::rules;
use axum::{
    Json,
    extract::{Path, State},
    http::{StatusCode, header::LOCATION},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema, openapi::RefOr};
use uuid::Uuid;

use super::{
    AppState, is_foreign_key_violation, is_unique_violation, now, owned::find_owned, quotas,
};
use crate::{
    domain::{ClientId, FieldPattern, Interval, RuleAction, SeverityPattern},
    http::{
        ApiError,
        answers::json_answer,
        auth::{Principal, Scope, Visible},
        error::{ErrorBody, FieldContext},
        extract::{ApiJson, ApiQuery},
        pagination::{Page, Paged},
    },
    jobs::timings::Timing,
    outbox::record as outbox,
};

/// What a client wants to hear about: alerts whose severity, source and name all
/// match, each exactly or by `*`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rule {
    pub rule_id: Uuid,
    pub client_id: String,
    /// LOW, MEDIUM, HIGH, CRITICAL or `*`.
    pub severity: String,
    /// An exact source or `*`.
    pub source: String,
    /// An exact alert name or `*`.
    pub name: String,
    pub enabled: bool,
    /// How often an open, unacknowledged notification of the rule is delivered again
    /// ("4h"); none: once.
    pub repeat_interval: Option<String>,
    /// How long a notification of the rule may go without an occurrence before it
    /// resolves itself ("30m"); none: only a resolved alert or a person resolves it.
    pub auto_resolve_after: Option<String>,
    /// Send it back with every write; a stale one gets 409.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<rules::Model> for Rule {
    fn from(model: rules::Model) -> Self {
        Self {
            rule_id: model.id,
            client_id: model.client_id,
            severity: model.severity,
            source: model.source,
            name: model.name,
            enabled: model.enabled,
            repeat_interval: Interval::stored_text(model.repeat_interval_seconds),
            auto_resolve_after: Interval::stored_text(model.auto_resolve_after_seconds),
            version: model.version,
            created_at: model.created_at,
            updated_at: model.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRule {
    pub client_id: String,
    /// LOW, MEDIUM, HIGH, CRITICAL (any case) or `*`.
    pub severity: String,
    /// 1–255 characters, or `*`.
    pub source: String,
    /// 1–255 characters, or `*`.
    pub name: String,
    /// Default true.
    pub enabled: Option<bool>,
    /// Deliver an open, unacknowledged notification again this often: "30s", "15m",
    /// "4h", "1h30m" (1s–30d). Default none: once.
    pub repeat_interval: Option<String>,
    /// Resolve a notification that has had no occurrence for this long (1s–30d).
    /// Default none.
    pub auto_resolve_after: Option<String>,
}

/// A whole rule, replacing the current one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceRule {
    /// The rule's current version.
    pub version: i32,
    pub severity: String,
    pub source: String,
    pub name: String,
    /// Default true.
    pub enabled: Option<bool>,
    /// Default none.
    pub repeat_interval: Option<String>,
    /// Default none.
    pub auto_resolve_after: Option<String>,
    /// May be sent back as read; a rule cannot move to another client.
    pub client_id: Option<String>,
}

/// The fields to change; the others stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRule {
    /// The rule's current version.
    pub version: i32,
    pub severity: Option<String>,
    pub source: Option<String>,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    /// A new interval, or null for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub repeat_interval: Option<Option<String>>,
    /// A new interval, or null for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub auto_resolve_after: Option<Option<String>>,
}

/// A field that was sent, null or not: `Some`; one that was not stays `None`.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// A rule's repeat and auto-resolve intervals as the API gives them, each error naming
/// its field.
fn parse_timing(repeat: Option<&str>, auto_resolve: Option<&str>) -> Result<Timing, ApiError> {
    Ok(Timing {
        repeat: repeat
            .map(Interval::parse)
            .transpose()
            .field("repeat_interval")?,
        auto_resolve: auto_resolve
            .map(Interval::parse)
            .transpose()
            .field("auto_resolve_after")?,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RuleFilter {
    /// 1–200, default 50.
    pub limit: Option<u64>,
    /// Default 0.
    pub offset: Option<u64>,
    /// Only this client's rules.
    pub client_id: Option<String>,
    /// Only enabled (true) or disabled (false) rules.
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteRuleParams {
    /// The rule's current version.
    pub version: i32,
}

/// The three fields that decide what a rule matches, validated.
struct Matching {
    severity: SeverityPattern,
    source: FieldPattern,
    name: FieldPattern,
}

impl Matching {
    fn parse(severity: &str, source: &str, name: &str) -> Result<Self, ApiError> {
        Ok(Self {
            severity: SeverityPattern::parse(severity).field("severity")?,
            source: FieldPattern::parse(source).field("source")?,
            name: FieldPattern::parse(name).field("name")?,
        })
    }

    fn differs_from(&self, rule: &rules::Model) -> bool {
        self.severity.as_str() != rule.severity
            || self.source.as_str() != rule.source
            || self.name.as_str() != rule.name
    }

    fn duplicate(&self, client_id: &str) -> ApiError {
        ApiError::Duplicate(format!(
            "client {client_id:?} already has a rule with severity {:?}, source {:?} and name {:?}",
            self.severity.as_str(),
            self.source.as_str(),
            self.name.as_str()
        ))
    }
}

fn check_version(version: i32) -> Result<i32, ApiError> {
    if version < 1 {
        return Err(ApiError::invalid(
            "version",
            format!("must be 1 or more (got {version})"),
        ));
    }
    Ok(version)
}

/// Create a rule.
#[utoipa::path(post, path = "/api/v1/rules", tag = "rules", request_body = CreateRule,
    responses(
        (status = 201, body = Rule, description = "Created; `Location` names it"),
        (status = 404, body = ErrorBody, description = "Unknown client"),
        (status = 409, body = ErrorBody, description = "The client has this rule already")
    ))]
pub async fn create_rule(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<CreateRule>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Scope::Manage)?;
    let client_id = ClientId::parse(&input.client_id).field("client_id")?;
    if !principal.sees(client_id.as_str()) {
        return Err(ApiError::not_found("client", client_id.as_str()));
    }
    let matching = Matching::parse(&input.severity, &input.source, &input.name)?;
    let timing = parse_timing(
        input.repeat_interval.as_deref(),
        input.auto_resolve_after.as_deref(),
    )?;
    let at = now();
    let rule = rules::Model {
        id: Uuid::new_v4(),
        client_id: client_id.into_string(),
        severity: matching.severity.as_str().to_owned(),
        source: matching.source.as_str().to_owned(),
        name: matching.name.as_str().to_owned(),
        enabled: input.enabled.unwrap_or(true),
        version: 1,
        created_at: at,
        updated_at: at,
        repeat_interval_seconds: timing.repeat.map(Interval::seconds),
        auto_resolve_after_seconds: timing.auto_resolve.map(Interval::seconds),
    };
    let txn = state.db.begin().await?;
    if !quotas::lock_client(&txn, &rule.client_id).await? {
        txn.rollback().await?;
        return Err(ApiError::not_found("client", &rule.client_id));
    }
    if let Err(err) = state.quotas.room_for_rule(&txn, &rule.client_id).await {
        txn.rollback().await?;
        return Err(err);
    }
    let inserted = rules::Entity::insert(rule.clone().into_active_model().reset_all())
        .exec_without_returning(&txn)
        .await;
    if let Err(err) = inserted {
        txn.rollback().await?;
        return Err(if is_foreign_key_violation(&err) {
            ApiError::not_found("client", &rule.client_id)
        } else if is_unique_violation(&err) {
            matching.duplicate(&rule.client_id)
        } else {
            err.into()
        });
    }
    outbox::record(&txn, rule.id, &rule.client_id, RuleAction::Created, 1, at).await?;
    txn.commit().await?;
    let location = format!("/api/v1/rules/{}", rule.id);
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        Json(Rule::from(rule)),
    ))
}

/// List rules, newest first.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules", params(RuleFilter),
    responses((status = 200, body = Paged<Rule>, description = "A page of rules, newest first")))]
pub async fn list_rules(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<RuleFilter>,
) -> Result<Json<Paged<Rule>>, ApiError> {
    principal.require(Scope::Manage)?;
    let page = Page::new(filter.limit, filter.offset)?;
    let Visible::As(client_id) = principal.visible(filter.client_id) else {
        return Ok(Json(page.empty()));
    };
    let mut select = rules::Entity::find();
    if let Some(client_id) = client_id {
        select = select.filter(rules::Column::ClientId.eq(client_id));
    }
    if let Some(enabled) = filter.enabled {
        select = select.filter(rules::Column::Enabled.eq(enabled));
    }
    let select = select
        .order_by_desc(rules::Column::CreatedAt)
        .order_by_desc(rules::Column::Id);
    Ok(Json(page.fetch(&state.db, select).await?))
}

/// Get a rule.
#[utoipa::path(get, path = "/api/v1/rules/{rule_id}", tag = "rules",
    params(("rule_id" = Uuid, Path)),
    responses((status = 200, body = Rule, description = "The rule")))]
pub async fn get_rule(
    State(state): State<AppState>,
    principal: Principal,
    Path(rule_id): Path<String>,
) -> Result<Json<Rule>, ApiError> {
    Ok(Json(
        find_owned::<rules::Entity>(&state, &principal, &rule_id)
            .await?
            .into(),
    ))
}

/// What a rule write (PUT or PATCH) answers.
struct RuleWritten;

impl utoipa::IntoResponses for RuleWritten {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        [
            (
                "200",
                json_answer("The rule as written, at its new version", "Rule"),
            ),
            (
                "409",
                json_answer("Stale version, or a duplicate rule", "ErrorBody"),
            ),
        ]
        .into_iter()
        .map(|(status, answer)| (status.to_owned(), RefOr::T(answer)))
        .collect()
    }
}

/// Replace a rule (all fields).
#[utoipa::path(put, path = "/api/v1/rules/{rule_id}", tag = "rules",
    params(("rule_id" = Uuid, Path)), request_body = ReplaceRule, responses(RuleWritten))]
pub async fn replace_rule(
    State(state): State<AppState>,
    principal: Principal,
    Path(rule_id): Path<String>,
    ApiJson(input): ApiJson<ReplaceRule>,
) -> Result<Json<Rule>, ApiError> {
    principal.require(Scope::Manage)?;
    let version = check_version(input.version)?;
    let matching = Matching::parse(&input.severity, &input.source, &input.name)?;
    let existing = find_owned::<rules::Entity>(&state, &principal, &rule_id).await?;
    if let Some(client_id) = input.client_id
        && client_id != existing.client_id
    {
        return Err(ApiError::invalid(
            "client_id",
            "a rule cannot move to another client; create a new rule instead",
        ));
    }
    let enabled = input.enabled.unwrap_or(true);
    let timing = parse_timing(
        input.repeat_interval.as_deref(),
        input.auto_resolve_after.as_deref(),
    )?;
    Ok(Json(
        write_rule(&state, existing, version, matching, enabled, timing)
            .await?
            .into(),
    ))
}

/// Change some fields of a rule.
#[utoipa::path(patch, path = "/api/v1/rules/{rule_id}", tag = "rules",
    params(("rule_id" = Uuid, Path)), request_body = UpdateRule, responses(RuleWritten))]
pub async fn update_rule(
    State(state): State<AppState>,
    principal: Principal,
    Path(rule_id): Path<String>,
    ApiJson(input): ApiJson<UpdateRule>,
) -> Result<Json<Rule>, ApiError> {
    principal.require(Scope::Manage)?;
    let version = check_version(input.version)?;
    let existing = find_owned::<rules::Entity>(&state, &principal, &rule_id).await?;
    let matching = Matching::parse(
        input.severity.as_deref().unwrap_or(&existing.severity),
        input.source.as_deref().unwrap_or(&existing.source),
        input.name.as_deref().unwrap_or(&existing.name),
    )?;
    let enabled = input.enabled.unwrap_or(existing.enabled);
    let current = Timing::of(&existing);
    let given = parse_timing(
        input.repeat_interval.as_ref().and_then(Option::as_deref),
        input.auto_resolve_after.as_ref().and_then(Option::as_deref),
    )?;
    let timing = Timing {
        repeat: match input.repeat_interval {
            Some(_) => given.repeat,
            None => current.repeat,
        },
        auto_resolve: match input.auto_resolve_after {
            Some(_) => given.auto_resolve,
            None => current.auto_resolve,
        },
    };
    Ok(Json(
        write_rule(&state, existing, version, matching, enabled, timing)
            .await?
            .into(),
    ))
}

/// Writes a rule if `given_version` is still its version: the update is conditional on
/// the version in SQL, so two concurrent writers cannot both win.
async fn write_rule(
    state: &AppState,
    existing: rules::Model,
    given_version: i32,
    matching: Matching,
    enabled: bool,
    timing: Timing,
) -> Result<rules::Model, ApiError> {
    if given_version != existing.version {
        return Err(stale(&existing, given_version));
    }
    let action = RuleAction::of_write(matching.differs_from(&existing), existing.enabled, enabled);
    let at = now();
    let rule = rules::Model {
        severity: matching.severity.as_str().to_owned(),
        source: matching.source.as_str().to_owned(),
        name: matching.name.as_str().to_owned(),
        enabled,
        version: existing.version + 1,
        updated_at: at,
        repeat_interval_seconds: timing.repeat.map(Interval::seconds),
        auto_resolve_after_seconds: timing.auto_resolve.map(Interval::seconds),
        ..existing.clone()
    };
    let txn = state.db.begin().await?;
    let updated = rules::Entity::update_many()
        .col_expr(rules::Column::Severity, Expr::value(rule.severity.clone()))
        .col_expr(rules::Column::Source, Expr::value(rule.source.clone()))
        .col_expr(rules::Column::Name, Expr::value(rule.name.clone()))
        .col_expr(rules::Column::Enabled, Expr::value(rule.enabled))
        .col_expr(
            rules::Column::RepeatIntervalSeconds,
            Expr::value(rule.repeat_interval_seconds),
        )
        .col_expr(
            rules::Column::AutoResolveAfterSeconds,
            Expr::value(rule.auto_resolve_after_seconds),
        )
        .col_expr(rules::Column::Version, Expr::value(rule.version))
        .col_expr(rules::Column::UpdatedAt, Expr::value(at))
        .filter(rules::Column::Id.eq(rule.id))
        .filter(rules::Column::Version.eq(existing.version))
        .exec(&txn)
        .await;
    let rows = match updated {
        Ok(result) => result.rows_affected,
        Err(err) => {
            txn.rollback().await?;
            return Err(if is_unique_violation(&err) {
                matching.duplicate(&rule.client_id)
            } else {
                err.into()
            });
        }
    };
    if rows == 0 {
        txn.rollback().await?;
        return Err(lost_race(state, rule.id, given_version).await);
    }
    outbox::record(&txn, rule.id, &rule.client_id, action, rule.version, at).await?;
    txn.commit().await?;
    Ok(rule)
}

fn stale(rule: &rules::Model, given: i32) -> ApiError {
    ApiError::StaleVersion {
        resource: "rule",
        id: rule.id.to_string(),
        current: rule.version,
        given,
    }
}

/// Another write got in between our read and our conditional write: say what the
/// rule is now (gone, or at which version).
async fn lost_race(state: &AppState, rule_id: Uuid, given: i32) -> ApiError {
    match rules::Entity::find_by_id(rule_id).one(&state.db).await {
        Ok(Some(rule)) => stale(&rule, given),
        Ok(None) => ApiError::not_found("rule", rule_id.to_string()),
        Err(err) => err.into(),
    }
}

/// Delete a rule and its endpoints.
#[utoipa::path(delete, path = "/api/v1/rules/{rule_id}", tag = "rules",
    params(("rule_id" = Uuid, Path), DeleteRuleParams),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, body = ErrorBody, description = "Stale version"),
        (status = 422, body = ErrorBody, description = "Missing or invalid version")
    ))]
pub async fn delete_rule(
    State(state): State<AppState>,
    principal: Principal,
    Path(rule_id): Path<String>,
    ApiQuery(params): ApiQuery<DeleteRuleParams>,
) -> Result<StatusCode, ApiError> {
    principal.require(Scope::Manage)?;
    let version = check_version(params.version)?;
    let existing = find_owned::<rules::Entity>(&state, &principal, &rule_id).await?;
    if version != existing.version {
        return Err(stale(&existing, version));
    }
    let txn = state.db.begin().await?;
    let deleted = rules::Entity::delete_many()
        .filter(rules::Column::Id.eq(existing.id))
        .filter(rules::Column::Version.eq(existing.version))
        .exec(&txn)
        .await?
        .rows_affected;
    if deleted == 0 {
        txn.rollback().await?;
        return Err(lost_race(&state, existing.id, version).await);
    }
    // The deletion is a write like any other: its event carries the next version,
    // so a snapshot that only moves forward takes it over the last update.
    outbox::record(
        &txn,
        existing.id,
        &existing.client_id,
        RuleAction::Deleted,
        existing.version + 1,
        now(),
    )
    .await?;
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
