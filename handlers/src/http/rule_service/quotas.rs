//! Per-client quotas on what a client may own: rules, endpoints (per rule and in all)
//! and API keys. Without them one key could fill the database, or point a thousand
//! endpoints at one outside host and make the platform a request amplifier.
//!
//! A write that adds something first takes its client's row lock (an UPDATE that
//! changes nothing), then counts, then inserts, all in one transaction: two writes of
//! one client cannot both pass the count, and a refused write leaves nothing behind.
//! The lock is the transaction's first statement: SQLite refuses to turn a transaction
//! that has read into one that writes while another connection writes.

use alerting_entities::{api_keys, clients, endpoints, rules};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, JoinType, PaginatorTrait, QueryFilter,
    QuerySelect, RelationTrait, sea_query::Expr,
};
use uuid::Uuid;

use crate::http::ApiError;

/// What one client may own; 0 lifts a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// MAX_RULES_PER_CLIENT
    pub rules_per_client: u32,
    /// MAX_ENDPOINTS_PER_RULE
    pub endpoints_per_rule: u32,
    /// MAX_ENDPOINTS_PER_CLIENT
    pub endpoints_per_client: u32,
    /// MAX_KEYS_PER_CLIENT (keys not revoked)
    pub keys_per_client: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            rules_per_client: 1_000,
            endpoints_per_rule: 10,
            endpoints_per_client: 2_000,
            keys_per_client: 20,
        }
    }
}

/// Takes `client_id`'s row lock for the rest of the transaction `txn`; false when there
/// is no such client.
pub async fn lock_client<C: ConnectionTrait>(txn: &C, client_id: &str) -> Result<bool, DbErr> {
    let touched = clients::Entity::update_many()
        .col_expr(
            clients::Column::UpdatedAt,
            Expr::col(clients::Column::UpdatedAt),
        )
        .filter(clients::Column::Id.eq(client_id))
        .exec(txn)
        .await?;
    Ok(touched.rows_affected == 1)
}

/// Refuses one more when `count` already reached `max` (0: no limit).
fn check(count: u64, max: u32, setting: &'static str, what: String) -> Result<(), ApiError> {
    if max > 0 && count >= u64::from(max) {
        return Err(ApiError::QuotaExceeded { setting, max, what });
    }
    Ok(())
}

impl Quotas {
    /// Room for one more rule of `client_id` (its row locked by the caller).
    pub async fn room_for_rule<C: ConnectionTrait>(
        &self,
        txn: &C,
        client_id: &str,
    ) -> Result<(), ApiError> {
        let count = rules::Entity::find()
            .filter(rules::Column::ClientId.eq(client_id))
            .count(txn)
            .await?;
        check(
            count,
            self.rules_per_client,
            "MAX_RULES_PER_CLIENT",
            format!("client {client_id} has {count} rules"),
        )
    }

    /// Room for one more endpoint on `rule_id` of `client_id` (its row locked).
    pub async fn room_for_endpoint<C: ConnectionTrait>(
        &self,
        txn: &C,
        client_id: &str,
        rule_id: Uuid,
    ) -> Result<(), ApiError> {
        let on_rule = endpoints::Entity::find()
            .filter(endpoints::Column::RuleId.eq(rule_id))
            .count(txn)
            .await?;
        check(
            on_rule,
            self.endpoints_per_rule,
            "MAX_ENDPOINTS_PER_RULE",
            format!("rule {rule_id} has {on_rule} endpoints"),
        )?;
        let of_client = endpoints::Entity::find()
            .join(JoinType::InnerJoin, endpoints::Relation::Rule.def())
            .filter(rules::Column::ClientId.eq(client_id))
            .count(txn)
            .await?;
        check(
            of_client,
            self.endpoints_per_client,
            "MAX_ENDPOINTS_PER_CLIENT",
            format!("client {client_id} has {of_client} endpoints"),
        )
    }

    /// Room for one more key of `client_id` (its row locked); revoked keys do not count.
    pub async fn room_for_key<C: ConnectionTrait>(
        &self,
        txn: &C,
        client_id: &str,
    ) -> Result<(), ApiError> {
        let count = api_keys::Entity::find()
            .filter(api_keys::Column::ClientId.eq(client_id))
            .filter(api_keys::Column::RevokedAt.is_null())
            .count(txn)
            .await?;
        check(
            count,
            self.keys_per_client,
            "MAX_KEYS_PER_CLIENT",
            format!("client {client_id} has {count} API keys"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_refuses_the_one_past_it_and_zero_lifts_it() {
        assert!(check(9, 10, "MAX_RULES_PER_CLIENT", String::new()).is_ok());
        match check(
            10,
            10,
            "MAX_RULES_PER_CLIENT",
            "client a has 10 rules".into(),
        ) {
            Err(err @ ApiError::QuotaExceeded { .. }) => {
                assert_eq!(err.status().as_u16(), 422);
                assert_eq!(
                    err.to_string(),
                    "client a has 10 rules: at most 10 (MAX_RULES_PER_CLIENT); nothing was written"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(check(1_000_000, 0, "MAX_RULES_PER_CLIENT", String::new()).is_ok());
    }
}
