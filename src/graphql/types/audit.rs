use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Json, Object};
use chrono::{DateTime, Utc};

use super::{Cursor, page, probe};
use crate::audit::{self, AuditFilter, AuditLog};
use crate::auth::permissions::Permission;
use crate::db::Timestamp;
use crate::error::AppError;
use crate::graphql::context::{ContextExt, parse_id};
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders::UserKey;
use crate::pagination::PageArgs;
use crate::users::User;

/// One entry of the organization's append-only audit trail.
#[Object(name = "AuditLog")]
impl AuditLog {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// What was done, e.g. `team.create`, `run.cancel`, `user.login`.
    async fn action(&self) -> &str {
        &self.action
    }

    /// The kind of thing acted on, e.g. `team`, `run`, `user`.
    async fn resource_type(&self) -> &str {
        &self.resource_type
    }

    /// The thing acted on; null when the action concerns no single resource.
    async fn resource_id(&self) -> Option<ID> {
        self.resource_id.map(|id| ID(id.to_string()))
    }

    /// False for refused or failed attempts (their `details` say why).
    async fn success(&self) -> bool {
        self.success
    }

    /// The acting user's id (kept after the user is deleted); null when no user acted.
    async fn actor_user_id(&self) -> Option<ID> {
        self.actor_user_id.map(|id| ID(id.to_string()))
    }

    /// The API key the request used; null for session (or unauthenticated) requests.
    async fn actor_api_key_id(&self) -> Option<ID> {
        self.actor_api_key_id.map(|id| ID(id.to_string()))
    }

    /// The acting user (null once deleted).
    async fn actor(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(user) = self.actor_user_id else {
            return Ok(None);
        };
        ctx.loaders()?.load_one(UserKey(user)).await.gql()
    }

    /// The resource before the change (secrets never recorded).
    async fn old_values(&self) -> Option<Json<serde_json::Value>> {
        self.old_values.as_ref().map(|j| Json(j.0.clone()))
    }

    /// The resource after the change.
    async fn new_values(&self) -> Option<Json<serde_json::Value>> {
        self.new_values.as_ref().map(|j| Json(j.0.clone()))
    }

    /// For failures: the mutation, the error code and message.
    async fn details(&self) -> Option<Json<serde_json::Value>> {
        self.details.as_ref().map(|j| Json(j.0.clone()))
    }

    /// The client's address as the gateway saw it.
    async fn ip_address(&self) -> Option<&str> {
        self.ip_address.as_deref()
    }

    /// The client's `User-Agent` header.
    async fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// The request that made the change (also in the server log).
    async fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// When it happened.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }
}

/// Filters of the audit trail; all given ones must hold.
#[derive(InputObject, Default)]
pub struct AuditLogFilterInput {
    /// Only entries by this user.
    pub actor_user_id: Option<ID>,
    /// Exact action, e.g. `team.update`.
    pub action: Option<String>,
    /// Exact resource type, e.g. `team`.
    pub resource_type: Option<String>,
    /// Only entries about this resource.
    pub resource_id: Option<ID>,
    /// Only successful (true) or only refused and failed (false) entries.
    pub success: Option<bool>,
    /// From this time on (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Before this time.
    pub to: Option<DateTime<Utc>>,
}

/// Totals of an audit trail page.
pub struct AuditLogsTotal {
    total: Option<i64>,
    filter: AuditFilter,
}

#[Object]
impl AuditLogsTotal {
    /// How many entries match the filter, across all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        if let Some(total) = self.total {
            return Ok(total);
        }
        let actor = ctx.actor()?;
        let mut pooled = ctx.db().await?;
        audit::count(&mut pooled.conn(), actor.organization_id, &self.filter)
            .await
            .map_err(AppError::from)
            .gql()
    }
}

pub async fn list_audit_logs(
    ctx: &Context<'_>,
    filter: Option<AuditLogFilterInput>,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> async_graphql::Result<Connection<Cursor, AuditLog, AuditLogsTotal>> {
    let actor = ctx.actor()?;
    actor.require(Permission::AuditRead).gql()?;
    let org = actor.organization_id;
    let input = filter.unwrap_or_default();
    // An id that cannot exist matches nothing, like an id of another organization.
    let id = |id: Option<ID>| id.map(|id| parse_id(&id, "audit log").unwrap_or_default());
    let filter = AuditFilter {
        actor_user_id: id(input.actor_user_id),
        action: input.action,
        resource_type: input.resource_type,
        resource_id: id(input.resource_id),
        success: input.success,
        from: input.from.map(Timestamp),
        to: input.to.map(Timestamp),
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
            audit::count(&mut conn, org, &filter)
                .await
                .map_err(AppError::from)
                .gql()?,
        )
    } else {
        None
    };
    let window = args.window(total).gql()?;
    let rows = audit::list(&mut conn, org, &filter, probe(window))
        .await
        .map_err(AppError::from)
        .gql()?;
    Ok(page(rows, window, AuditLogsTotal { total, filter }))
}
