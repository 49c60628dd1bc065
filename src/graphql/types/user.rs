use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Json, Object};
use chrono::{DateTime, Utc};

use super::{Cursor, page, probe};
use crate::auth::permissions::OrgRole;
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders::OrganizationKey;
use crate::organizations::Organization;
use crate::pagination::PageArgs;
use crate::users::{User, UserFilter, queries};

/// A person in an organization.
#[Object]
impl User {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// Sign-in address, unique across all organizations.
    async fn email(&self) -> &str {
        &self.email
    }

    /// Unique handle across all organizations.
    async fn username(&self) -> &str {
        &self.username
    }

    /// Display name; null when the user gave none.
    async fn full_name(&self) -> Option<&str> {
        self.full_name.as_deref()
    }

    /// The user's role in the organization.
    async fn org_role(&self) -> OrgRole {
        self.org_role
    }

    /// Permissions granted beyond the role.
    async fn permissions(&self) -> Vec<String> {
        self.extra_permissions()
            .iter()
            .map(|p| p.as_str().to_string())
            .collect()
    }

    /// The user's own preferences.
    async fn preferences(&self) -> Json<serde_json::Value> {
        Json(self.preferences.0.clone())
    }

    /// False once deactivated: the user can no longer sign in, and their sessions and API keys
    /// stop working at once.
    async fn is_active(&self) -> bool {
        self.is_active
    }

    /// When the email address was confirmed; null while unverified.
    async fn email_verified_at(&self) -> Option<DateTime<Utc>> {
        self.email_verified_at.map(|t| t.0)
    }

    /// Last successful sign-in; null if the user never signed in.
    async fn last_login_at(&self) -> Option<DateTime<Utc>> {
        self.last_login_at.map(|t| t.0)
    }

    /// When the user was added.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// Last change to the user's profile, role or permissions.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }

    /// The user's employee profile for scheduling.
    async fn employee(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<crate::graphql::types::scheduling::Employee> {
        crate::graphql::types::scheduling::employee_of(ctx, self.clone()).await
    }

    /// The organization the user belongs to.
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Organization> {
        let loaders = ctx.loaders()?;
        loaders
            .load_one(OrganizationKey(self.organization_id))
            .await
            .gql()?
            .ok_or_else(|| crate::graphql::errors::to_gql(&AppError::not_found("organization")))
    }
}

/// Filters of the users list.
#[derive(InputObject, Default)]
pub struct UserFilterInput {
    /// Only users with this role.
    pub role: Option<OrgRole>,
    /// Only active (or only inactive) users.
    pub is_active: Option<bool>,
    /// Case-insensitive text found in the name, username or email.
    pub search: Option<String>,
}

/// Totals of a users list.
pub struct UsersTotal {
    filter: UserFilter,
    total: Option<i64>,
}

#[Object]
impl UsersTotal {
    /// How many users match the filter, across all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        if let Some(total) = self.total {
            return Ok(total);
        }
        let actor = ctx.actor()?;
        let mut pooled = ctx.db().await?;
        queries::count(&mut pooled.conn(), actor.organization_id, &self.filter)
            .await
            .map_err(AppError::from)
            .gql()
    }
}

pub async fn list_users(
    ctx: &Context<'_>,
    filter: Option<UserFilterInput>,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> async_graphql::Result<Connection<Cursor, User, UsersTotal>> {
    let actor = ctx.actor()?;
    let org = actor.organization_id;
    let filter = filter.unwrap_or_default();
    let filter = UserFilter {
        role: filter.role,
        is_active: filter.is_active,
        search: filter.search,
    };
    let args = PageArgs {
        first,
        after: after.as_deref(),
        last,
        before: before.as_deref(),
    };
    let mut pooled = ctx.db().await?;
    let mut conn = pooled.conn();
    let total = if args.needs_total() {
        Some(
            queries::count(&mut conn, org, &filter)
                .await
                .map_err(AppError::from)
                .gql()?,
        )
    } else {
        None
    };
    let window = args.window(total).gql()?;
    let rows = queries::list(&mut conn, org, &filter, probe(window))
        .await
        .map_err(AppError::from)
        .gql()?;
    Ok(page(rows, window, UsersTotal { filter, total }))
}
