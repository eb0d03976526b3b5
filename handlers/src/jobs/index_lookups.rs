//! Lookups by lists of keys on Postgres.
//!
//! The sender and the aggregator look rows up by a few hundred keys at a time
//! (`IN (…)`). Postgres's planner estimates such a list from the table's statistics,
//! and gives a table without them (young: autovacuum analyzes a table only after it has
//! grown by a tenth, at most once a minute) or a still small one a sequential scan: in
//! the 100,000-alert bench, 170 whole-table scans of `notifications` and 118 of
//! `deliveries`, each for a lookup of up to 500 rows. Every such lookup is by key into
//! a table that only grows, so an index is always the right plan. SQLite's planner
//! takes the index without statistics.

use std::collections::BTreeSet;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, Select, Value,
};

use super::ROWS_PER_STATEMENT;

/// The rows of `query` whose `column` is one of `keys`, a statement per
/// [`ROWS_PER_STATEMENT`] keys.
pub async fn all_with_keys<E, K, C>(
    db: &C,
    query: Select<E>,
    column: E::Column,
    keys: &[K],
) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    K: Clone + Into<Value>,
    C: ConnectionTrait,
{
    let mut rows = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        rows.extend(
            query
                .clone()
                .filter(column.is_in(chunk.iter().cloned()))
                .all(db)
                .await?,
        );
    }
    Ok(rows)
}

/// Which of these (client, alert) pairs the table of `E` holds a row for, where its
/// rows are keyed by (client, alert): the clients' rows with one of the alert ids,
/// `pair` telling each row's pair.
pub async fn stored_pairs<'a, E, C>(
    db: &C,
    client: E::Column,
    alert: E::Column,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    pair: impl Fn(E::Model) -> (String, String),
) -> Result<std::collections::HashSet<(String, String)>, DbErr>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let (clients, alert_ids): (BTreeSet<&str>, BTreeSet<&str>) = pairs.unzip();
    if clients.is_empty() {
        return Ok(Default::default());
    }
    let alert_ids: Vec<String> = alert_ids.into_iter().map(str::to_owned).collect();
    Ok(all_with_keys(
        db,
        E::find().filter(client.is_in(clients)),
        alert,
        &alert_ids,
    )
    .await?
    .into_iter()
    .map(pair)
    .collect())
}

/// Turns sequential scans off for the rest of the transaction (`SET LOCAL`; a no-op
/// outside Postgres). Call it inside a transaction: outside one, Postgres ignores it.
/// Inside a caller's transaction (where `begin` makes a savepoint) it holds until that
/// transaction ends; the services call the sender and the aggregator on their pool.
pub async fn prefer_index_lookups<C: ConnectionTrait>(transaction: &C) -> Result<(), DbErr> {
    if transaction.get_database_backend() == DbBackend::Postgres {
        transaction
            .execute_unprepared("SET LOCAL enable_seqscan = off")
            .await?;
    }
    Ok(())
}
