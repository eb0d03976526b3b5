//! Lists take `limit` (default 50, at most 200) and `offset`, and answer
//! `{"items", "total", "limit", "offset"}`.

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QuerySelect, Select};
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiError;

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u64,
    pub offset: u64,
}

impl Page {
    pub fn new(limit: Option<u64>, offset: Option<u64>) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT} (got {limit})"),
            ));
        }
        let offset = offset.unwrap_or(0);
        // Far beyond any real table; keeps the value inside what SQL engines take.
        if offset > i64::MAX as u64 {
            return Err(ApiError::invalid("offset", "is too large"));
        }
        Ok(Self { limit, offset })
    }

    /// Runs a list query for this page: its rows, each turned into what the API
    /// shows, and the total count.
    pub async fn fetch<E, C, T>(self, db: &C, select: Select<E>) -> Result<Paged<T>, DbErr>
    where
        E: EntityTrait,
        E::Model: Sync,
        C: ConnectionTrait,
        T: From<E::Model>,
    {
        let total = select.clone().count(db).await?;
        let rows = select.offset(self.offset).limit(self.limit).all(db).await?;
        Ok(self.respond(rows.into_iter().map(T::from).collect(), total))
    }

    /// This page of a list that is empty for the caller.
    pub fn empty<T>(self) -> Paged<T> {
        self.respond(Vec::new(), 0)
    }

    fn respond<T>(self, items: Vec<T>, total: u64) -> Paged<T> {
        Paged {
            items,
            total,
            limit: self.limit,
            offset: self.offset,
        }
    }
}

/// One page of a list, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// How many items match the filters in all.
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_to_50_and_stay_within_1_to_200() {
        assert_eq!(
            Page::new(None, None).ok(),
            Some(Page {
                limit: 50,
                offset: 0
            })
        );
        assert_eq!(
            Page::new(Some(200), Some(7)).ok(),
            Some(Page {
                limit: 200,
                offset: 7
            })
        );
        assert!(Page::new(Some(201), None).is_err());
        assert!(Page::new(Some(0), None).is_err());
    }
}
