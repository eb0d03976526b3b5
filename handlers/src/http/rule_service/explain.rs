//! Explain: what the platform would do with an alert for one client, without doing it.
//! Each of the client's rules, matched or not and why not (the first field that did
//! not match, or that it is disabled); the silences and maintenance windows that would
//! apply now; the open notification it would fold into (or, for a resolved alert,
//! resolve); and the endpoints it would be delivered to. It reads the database, where
//! rules are written, so it answers for a rule changed a moment ago too.

use std::collections::HashSet;

use alerting_entities::{endpoints, notifications, rules};
use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
};
use chrono::Utc;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::{
    domain::{AlertStatus, ClientId, FieldPattern, SeverityPattern, silence::Matchers},
    http::{
        ApiError,
        alert_producer::parse_alerts,
        auth::{Principal, Scope},
        error::FieldContext,
    },
    jobs::silences::from_row,
};

/// One of the client's rules, and whether the alert matches it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleVerdict {
    pub rule_id: Uuid,
    pub severity: String,
    pub source: String,
    pub name: String,
    pub enabled: bool,
    pub matched: bool,
    /// Why not: the first field that did not match ("severity", "source" or "name"),
    /// or "enabled" for a disabled rule.
    pub mismatch: Option<String>,
}

/// A silence or maintenance window that would keep the notification from being
/// delivered.
#[derive(Debug, Serialize, ToSchema)]
pub struct SilenceVerdict {
    pub silence_id: Uuid,
    pub comment: Option<String>,
    /// A maintenance window (open now), not a one-off silence.
    pub recurring: bool,
}

/// An endpoint the notification would be delivered to.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointVerdict {
    pub endpoint_id: Uuid,
    pub rule_id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub target: String,
}

/// What would become of the alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct Explanation {
    /// One of: "no rule matches"; "new notification"; "folds into the open
    /// notification"; "silenced"; "resolves the open notification"; "nothing open to
    /// resolve".
    pub outcome: String,
    pub rules: Vec<RuleVerdict>,
    /// Those that would apply now; the first is the one the record would name.
    pub silences: Vec<SilenceVerdict>,
    /// The client's open notification with the alert's dedup key, if any.
    pub open_notification: Option<Uuid>,
    /// Where it would be delivered (none if it folds, is silenced or matches nothing;
    /// a resolution goes to the endpoints that took the notification).
    pub endpoints: Vec<EndpointVerdict>,
}

/// Explain what an alert would do for this client: rules matched or not (and the first
/// field that did not), silences that would apply, the open notification it would
/// fold into, the endpoints it would reach. Nothing is sent or stored.
#[utoipa::path(post, path = "/api/v1/clients/{client_id}/explain", tag = "clients",
    params(("client_id" = String, Path)),
    request_body(content = crate::http::alert_producer::AlertInput, description = "One alert, as posted to the alert-producer"),
    responses((status = 200, body = Explanation, description = "What the alert would do, rule by rule; nothing was sent")))]
pub async fn explain(
    State(state): State<AppState>,
    principal: Principal,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Result<Json<Explanation>, ApiError> {
    principal.require(Scope::Manage)?;
    let client = ClientId::parse(&client_id).field("client_id")?;
    if !principal.sees(client.as_str()) {
        return Err(ApiError::not_found("client", client_id));
    }
    let mut alerts = parse_alerts(&body, Utc::now())?;
    if alerts.len() != 1 {
        return Err(ApiError::invalid("body", "explain one alert at a time"));
    }
    let alert = alerts.remove(0).owned_by(Some(client.clone()));
    let client_id = client.into_string();
    let client_rules = rules::Entity::find()
        .filter(rules::Column::ClientId.eq(&client_id))
        .order_by_asc(rules::Column::CreatedAt)
        .all(&state.db)
        .await?;
    if client_rules.is_empty()
        && alerting_entities::clients::Entity::find_by_id(client_id.clone())
            .one(&state.db)
            .await?
            .is_none()
    {
        return Err(ApiError::not_found("client", client_id));
    }
    let verdicts: Vec<RuleVerdict> = client_rules
        .into_iter()
        .map(|rule| {
            let mismatch = if rule.enabled {
                rule_matchers(&rule).and_then(|m| m.mismatch(&alert))
            } else {
                Some("enabled".to_owned())
            };
            RuleVerdict {
                rule_id: rule.id,
                matched: mismatch.is_none(),
                severity: rule.severity,
                source: rule.source,
                name: rule.name,
                enabled: rule.enabled,
                mismatch,
            }
        })
        .collect();
    let matched: Vec<Uuid> = verdicts
        .iter()
        .filter(|v| v.matched)
        .map(|v| v.rule_id)
        .collect();
    let now = Utc::now();
    let silences: Vec<SilenceVerdict> = alerting_entities::silences::Entity::find()
        .filter(alerting_entities::silences::Column::ClientId.eq(&client_id))
        .filter(
            Condition::any()
                .add(alerting_entities::silences::Column::EndsAt.is_null())
                .add(alerting_entities::silences::Column::EndsAt.gt(now)),
        )
        .order_by_asc(alerting_entities::silences::Column::CreatedAt)
        .all(&state.db)
        .await?
        .into_iter()
        .filter(|row| from_row(row).is_some_and(|s| s.silences(&client_id, &alert, now)))
        .map(|row| SilenceVerdict {
            silence_id: row.id,
            comment: row.comment,
            recurring: row.recurrence_days.is_some(),
        })
        .collect();
    let open_notification = match &alert.dedup_key {
        Some(key) => notifications::Entity::find()
            .filter(notifications::Column::ClientId.eq(&client_id))
            .filter(notifications::Column::OpenKey.eq(key))
            .one(&state.db)
            .await?
            .map(|n| n.id),
        None => None,
    };
    let resolving = alert.status == AlertStatus::Resolved;
    let outcome = match (
        resolving,
        open_notification,
        matched.is_empty(),
        silences.is_empty(),
    ) {
        (true, Some(_), _, _) => "resolves the open notification",
        (true, None, _, _) => "nothing open to resolve",
        (false, _, true, _) => "no rule matches",
        (false, Some(_), false, _) => "folds into the open notification",
        (false, None, false, false) => "silenced",
        (false, None, false, true) => "new notification",
    };
    let endpoints = if outcome == "new notification" {
        endpoints_of(&state, &matched).await?
    } else {
        Vec::new()
    };
    Ok(Json(Explanation {
        outcome: outcome.to_owned(),
        rules: verdicts,
        silences,
        open_notification,
        endpoints,
    }))
}

/// A rule's patterns as matchers (a stored rule always parses; one that does not,
/// written by hand, matches nothing).
fn rule_matchers(rule: &rules::Model) -> Option<Matchers> {
    Some(Matchers {
        severity: SeverityPattern::parse(&rule.severity).ok()?,
        source: FieldPattern::parse(&rule.source).ok()?,
        name: FieldPattern::parse(&rule.name).ok()?,
        context: Default::default(),
    })
}

/// The enabled endpoints of these rules, each address once, the oldest first (as the
/// sender picks them).
async fn endpoints_of(
    state: &AppState,
    rule_ids: &[Uuid],
) -> Result<Vec<EndpointVerdict>, ApiError> {
    let rows = endpoints::Entity::find()
        .filter(endpoints::Column::RuleId.is_in(rule_ids.iter().copied()))
        .filter(endpoints::Column::Enabled.eq(true))
        .order_by_asc(endpoints::Column::CreatedAt)
        .order_by_asc(endpoints::Column::Id)
        .all(&state.db)
        .await?;
    let mut seen = HashSet::new();
    Ok(rows
        .into_iter()
        .filter(|row| seen.insert((row.kind.clone(), row.value.clone())))
        .map(|row| EndpointVerdict {
            endpoint_id: row.id,
            rule_id: row.rule_id,
            kind: row.kind,
            target: row.value,
        })
        .collect())
}
