use super::types::audit::{AuditLogFilterInput, AuditLogsTotal, list_audit_logs};
use crate::audit::AuditLog;
use crate::graphql::eager::Eager;
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, SimpleObject};
use std::sync::Arc;

use super::context::{ContextExt, parse_id};
use super::errors::{GqlResult, to_gql};
use super::loaders::{RoleKey, RunKey, TeamKey, UserKey};
use super::types::Cursor;
use super::types::team::{TeamFilterInput, TeamOrderInput, TeamsTotal, list_teams};
use super::types::user::{UserFilterInput, UsersTotal, list_users};
use crate::error::AppError;
use crate::organizations::Organization;
use crate::runs::Run;
use crate::teams::{Role, Team};
use crate::users::User;

#[derive(Default)]
pub struct Query;

/// The caller and what they may do.
#[derive(SimpleObject)]
pub struct Viewer {
    /// The signed-in user (for an API key, the key's owner).
    pub user: User,
    /// The caller's organization.
    pub organization: Organization,
    /// Every permission the caller holds (role and extra grants).
    pub permissions: Vec<String>,
}

#[Object(name = "CoreQuery")]
impl Query {
    /// The authenticated caller.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Viewer> {
        let actor = ctx.actor()?;
        let identity = ctx.identity()?;
        let permissions = crate::auth::permissions::Permission::ALL
            .iter()
            .filter(|p| actor.can(**p))
            .map(|p| p.as_str().to_string())
            .collect();
        Ok(Viewer {
            user: (*identity.user).clone(),
            organization: (*identity.organization).clone(),
            permissions,
        })
    }

    /// The caller's organization.
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Organization> {
        Ok((*ctx.identity()?.organization).clone())
    }

    /// Users of the caller's organization, oldest first.
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

    /// A user of the caller's organization.
    async fn user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's `id`; users of other organizations read as NOT_FOUND.")]
        id: ID,
    ) -> async_graphql::Result<Option<User>> {
        let loaders = ctx.loaders()?;
        let id = parse_id(&id, "user").gql()?;
        found(loaders.load_one(UserKey(id)).await.gql()?, "user")
    }

    /// Teams of the caller's organization (deleted teams excluded), by name unless `orderBy` says otherwise.
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

    /// A team of the caller's organization; NOT_FOUND for a missing or deleted team.
    async fn team(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The team's `id`; teams of other organizations read as NOT_FOUND.")]
        id: ID,
    ) -> async_graphql::Result<Option<Team>> {
        let loaders = ctx.loaders()?;
        let id = parse_id(&id, "team").gql()?;
        found(loaders.load_one(TeamKey(id)).await.gql()?, "team")
    }

    /// A role of a team of the caller's organization.
    async fn role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role's `id`; roles of other organizations read as NOT_FOUND.")]
        id: ID,
    ) -> async_graphql::Result<Option<Arc<Role>>> {
        let loaders = ctx.loaders()?;
        let id = parse_id(&id, "role").gql()?;
        found(loaders.load_one(RoleKey(id)).await.gql()?, "role")
    }

    /// The organization's audit trail, newest first. Needs `audit.read`.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn audit_logs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only entries matching every given condition; all of them when omitted.")]
        filter: Option<AuditLogFilterInput>,
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
    ) -> async_graphql::Result<Connection<Cursor, AuditLog, AuditLogsTotal>> {
        list_audit_logs(ctx, filter, first, after, last, before).await
    }

    /// The organization's API keys, newest first. Needs `api_keys.manage`.
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::auth::api_keys::ApiKey>> {
        let actor = ctx.actor()?;
        let mut pooled = ctx.db().await?;
        crate::auth::api_keys::list(&mut pooled.conn(), actor)
            .await
            .gql()
    }

    /// A run of the caller's organization.
    async fn run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run's `id`; runs of other organizations read as NOT_FOUND.")] id: ID,
    ) -> async_graphql::Result<Option<Run>> {
        let loaders = ctx.loaders()?;
        let id = parse_id(&id, "run").gql()?;
        found(loaders.load_one(RunKey(id)).await.gql()?, "run")
    }
}

/// A missing row is a NOT_FOUND error (with a null field), never a silent null.
fn found<T>(row: Option<T>, resource: &'static str) -> async_graphql::Result<Option<T>> {
    match row {
        Some(row) => Ok(Some(row)),
        None => Err(to_gql(&AppError::not_found(resource))),
    }
}
