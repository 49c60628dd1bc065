//! Organizations: the tenants. Every other tenant-owned row names one.

pub mod queries;
pub mod quota;

use diesel::prelude::*;

use crate::db::schema::organizations;
use crate::db::{Id, Json, Timestamp};
use crate::db_enum;
use crate::error::{AppError, AppResult};

db_enum! {
    /// A subscription plan.
    pub enum Plan {
        /// Where every organization starts: the smallest limits, no charge.
        Free => "free",
        /// Higher limits, billed monthly or yearly.
        Pro => "pro",
        /// The highest limits; most are unlimited.
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
    /// The month `api_quota_used` counts.
    pub api_quota_period_start: Option<Timestamp>,
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

impl Organization {
    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "plan": self.plan.as_str(),
            "settings": self.settings.0,
            "max_users": self.max_users,
            "max_projects": self.max_projects,
            "api_quota_limit": self.api_quota_limit,
        })
    }
}

/// Changes to an organization; omitted fields stay.
#[derive(Debug, Default)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub settings: Option<serde_json::Value>,
    pub plan: Option<Plan>,
}

/// Updates the actor's organization (needs `organization.manage`). A new plan also
/// sets its limits and starts a new billing period, as `billing::service::change_plan`
/// does.
pub async fn update(
    conn: &mut crate::db::Conn<'_>,
    actor: &crate::auth::permissions::Actor,
    changes: OrganizationChanges,
) -> AppResult<Organization> {
    use crate::audit::{self, Change};
    actor.require(crate::auth::permissions::Permission::OrganizationManage)?;
    let name = changes
        .name
        .as_deref()
        .map(|n| crate::teams::clean_text("name", n, 255))
        .transpose()?;
    if let Some(settings) = &changes.settings {
        crate::scheduling::SchedulingSettings::validate(settings)?;
    }
    if let Some(settings) = &changes.settings
        && (!settings.is_object() || settings.to_string().len() > 64 * 1024)
    {
        return Err(AppError::bad_input(
            "settings",
            "settings must be a JSON object of at most 64 KiB",
        ));
    }
    let now = Timestamp::now();
    let org = actor.organization_id;
    crate::tenant_transaction!(
        conn,
        actor.organization_id,
        |tx| -> AppResult<Organization> {
            let before = queries::lock(tx, org)
                .await?
                .ok_or(AppError::not_found("organization"))?;
            let mut update = queries::OrganizationUpdate::default();
            if let Some(plan) = changes.plan
                && plan != before.plan
            {
                let chosen = crate::billing::service::offered(tx, plan).await?;
                crate::billing::service::subscribe(tx, org, &chosen, None, now).await?;
                update = crate::billing::service::plan_columns(&chosen, now);
            }
            update.name = name;
            update.settings = changes.settings.map(Json);
            update.updated_at = Some(now);
            let after = queries::update(tx, org, &update)
                .await?
                .ok_or(AppError::not_found("organization"))?;
            audit::record(
                tx,
                actor,
                Change {
                    action: "organization.update",
                    resource_type: "organization",
                    resource_id: Some(org),
                    old_values: Some(before.audit_values()),
                    new_values: Some(after.audit_values()),
                },
            )
            .await?;
            Ok(after)
        }
    )
}
