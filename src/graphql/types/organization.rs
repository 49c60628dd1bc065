use crate::graphql::eager::Eager;
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Json, Object};
use chrono::{DateTime, Utc};

use super::Cursor;
use super::analytics::OrganizationAnalytics;
use super::team::{TeamFilterInput, TeamOrderInput, TeamsTotal, list_teams};
use super::user::{UserFilterInput, UsersTotal, list_users};
use crate::graphql::context::ContextExt;
use crate::organizations::{Organization, Plan};
use crate::teams::Team;
use crate::users::User;

/// An organization: the tenant that owns users, teams and runs.
#[Object]
impl Organization {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.name
    }

    /// Unique URL-safe handle.
    async fn slug(&self) -> &str {
        &self.slug
    }

    /// The billing plan, which sets `maxUsers`, `maxProjects` and `apiQuotaLimit`.
    async fn plan(&self) -> Plan {
        self.plan
    }

    /// API requests allowed per period.
    async fn api_quota_limit(&self) -> i32 {
        self.api_quota_limit
    }

    /// API requests made this month (recorded about once a second).
    async fn api_quota_used(&self) -> i32 {
        crate::organizations::quota::QuotaState::of(self, Utc::now()).used
    }

    /// When this month's API quota resets.
    async fn api_quota_resets_at(&self) -> DateTime<Utc> {
        crate::organizations::quota::period_end(Utc::now())
    }

    /// Most users (deleted ones excluded) the organization may have; `createUser` refuses
    /// beyond it.
    async fn max_users(&self) -> i32 {
        self.max_users
    }

    /// Most projects the organization may have; `createProject` refuses beyond it.
    async fn max_projects(&self) -> i32 {
        self.max_projects
    }

    /// Free-form organization settings.
    async fn settings(&self) -> Json<serde_json::Value> {
        Json(self.settings.0.clone())
    }

    /// When the organization was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// Last change to the organization's name, plan, limits or settings.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }

    /// The organization's teams (deleted teams excluded), by name unless `orderBy` says otherwise.
    #[expect(
        clippy::too_many_arguments,
        reason = "Relay pagination arguments plus filter and order"
    )]
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn teams(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only teams matching every given condition; all of them when omitted.")]
        filter: Option<TeamFilterInput>,
        #[graphql(desc = "The order of the list; by name, ascending, when omitted.")]
        order_by: Option<TeamOrderInput>,
        #[graphql(
            desc = "Page forward: up to this many items (0-100) after `after`; 20 by default."
        )]
        first: Option<i32>,
        #[graphql(desc = "Page forward from this cursor: a page's `pageInfo.endCursor`.")]
        after: Option<String>,
        #[graphql(
            desc = "Page backward: up to this many items (0-100) before `before`; not with `first`."
        )]
        last: Option<i32>,
        #[graphql(desc = "Page backward from this cursor: a page's `pageInfo.startCursor`.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, Eager<Team>, TeamsTotal>> {
        list_teams(ctx, filter, order_by, first, after, last, before).await
    }

    /// How the plan is billed (`null` for an organization loaded straight into the
    /// database, until its plan is first changed). Needs `billing.read`.
    async fn subscription(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::billing::Subscription>> {
        crate::graphql::billing::subscription_of(ctx, self).await
    }

    /// Where the organization stands against each of its plan's limits.
    async fn quotas(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::graphql::billing::Quota>> {
        crate::graphql::billing::quotas_of(ctx, self).await
    }

    /// Reports over the organization's runs: top teams, role utilization, budgets.
    async fn analytics(&self, ctx: &Context<'_>) -> async_graphql::Result<OrganizationAnalytics> {
        // Only members of the organization see its reports.
        let actor = ctx.actor()?;
        if actor.organization_id != self.id {
            return Err(super::super::errors::to_gql(
                &crate::error::AppError::not_found("organization"),
            ));
        }
        Ok(OrganizationAnalytics {
            organization_id: self.id,
        })
    }

    /// The organization's users, oldest first.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only users matching every given condition; all of them when omitted.")]
        filter: Option<UserFilterInput>,
        #[graphql(
            desc = "Page forward: up to this many items (0-100) after `after`; 20 by default."
        )]
        first: Option<i32>,
        #[graphql(desc = "Page forward from this cursor: a page's `pageInfo.endCursor`.")]
        after: Option<String>,
        #[graphql(
            desc = "Page backward: up to this many items (0-100) before `before`; not with `first`."
        )]
        last: Option<i32>,
        #[graphql(desc = "Page backward from this cursor: a page's `pageInfo.startCursor`.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, User, UsersTotal>> {
        list_users(ctx, filter, first, after, last, before).await
    }
}
