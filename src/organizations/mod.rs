//! Organizations: the tenants. Every other tenant-owned row names one.

pub mod queries;

use diesel::prelude::*;

use crate::db::schema::organizations;
use crate::db::{Id, Json, Timestamp};
use crate::db_enum;
use crate::error::{AppError, AppResult};

db_enum! {
    /// A subscription plan.
    pub enum Plan {
        Free => "free",
        Pro => "pro",
        Enterprise => "enterprise",
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = organizations)]
pub struct Organization {
    pub id: Id,
    pub name: String,
    pub slug: String,
    pub plan: Plan,
    pub api_quota_limit: i32,
    pub api_quota_used: i32,
    pub max_users: i32,
    pub max_projects: i32,
    pub settings: Json,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = organizations)]
pub struct NewOrganization {
    pub id: Id,
    pub name: String,
    pub slug: String,
    pub plan: Plan,
    pub settings: Json,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A URL-safe organization handle: 3..50 chars of `a-z`, `0-9` and inner `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub fn parse(field: &str, raw: &str) -> AppResult<Slug> {
        let slug = raw.trim().to_ascii_lowercase();
        let valid_chars = slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !(3..=50).contains(&slug.len())
            || !valid_chars
            || slug.starts_with('-')
            || slug.ends_with('-')
        {
            return Err(AppError::bad_input(
                field,
                "slug must be 3 to 50 characters of lowercase letters, digits and inner hyphens",
            ));
        }
        Ok(Slug(slug))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}
