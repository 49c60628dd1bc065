use crate::graphql::eager::Eager;
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Json, Object};
use chrono::{DateTime, Utc};
use std::sync::Arc;

use super::{Cursor, page, probe};
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders::{TeamKey, TeamRolesKey, TeamRunCountKey, TeamRunsKey, UserKey};
use crate::graphql::scalars::Decimal;
use crate::pagination::PageArgs;
use crate::runs::{Run, RunFilter, RunStatus};
use crate::teams::queries::{self, SortDirection, TeamFilter, TeamOrder, TeamOrderField};
use crate::teams::{Expertise, Role, Team, TeamStatus};
use crate::users::User;

/// A team of AI agents (roles) with a monthly budget.
#[Object]
impl Team {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// 1-100 characters, unique among the organization's teams (a deleted team's name is
    /// free again).
    async fn name(&self) -> &str {
        &self.name
    }

    /// What the team is for (at most 1000 characters); null when none was given.
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Monthly budget in USD (2 decimals).
    async fn monthly_budget(&self) -> Decimal {
        Decimal::money(&self.monthly_budget)
    }

    /// Spent this month in USD, at the 4 decimals step costs are charged in: exactly
    /// the sum of the costs of the team's run steps.
    async fn current_spend(&self) -> Decimal {
        Decimal::cost(&self.current_spend)
    }

    /// Budget left this month: `monthlyBudget - currentSpend` (negative once
    /// overspent), 4 decimals.
    async fn remaining_budget(&self) -> Decimal {
        Decimal {
            value: self.remaining_budget_amount(),
            scale: 4,
        }
    }

    /// Spend as a percentage of the budget (0-100, more when overspent), 2 decimals.
    async fn budget_utilization(&self) -> f64 {
        self.budget_utilization_percent()
            .to_string()
            .parse()
            .unwrap_or(0.0)
    }

    /// What the team is doing: running while any of its runs is unfinished, else the
    /// outcome of its last run.
    async fn status(&self) -> TeamStatus {
        self.status
    }

    /// When the team's last run ended; null before its first run ends.
    async fn last_executed_at(&self) -> Option<DateTime<Utc>> {
        self.last_executed_at.map(|t| t.0)
    }

    /// The project it belongs to, if any.
    async fn project(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::projects::Project>> {
        match self.project_id {
            Some(p) => ctx
                .loaders()?
                .load_one(crate::graphql::loaders::ProjectKey(p))
                .await
                .gql(),
            None => Ok(None),
        }
    }

    /// When the team was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// Last change to the team, including its status and spend.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }

    /// Who created the team.
    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(owner) = self.owner_id else {
            return Ok(None);
        };
        ctx.loaders()?.load_one(UserKey(owner)).await.gql()
    }

    /// The team's roles (at most 10), in position order unless `orderBy` says otherwise.
    async fn roles(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only roles matching every given condition; all of them when omitted.")]
        filter: Option<RoleFilterInput>,
        #[graphql(desc = "The order of the list; by position, ascending, when omitted.")]
        order_by: Option<RoleOrderInput>,
    ) -> async_graphql::Result<Vec<Eager<Arc<Role>>>> {
        let mut roles = self.all_roles(ctx).await?;
        if let Some(filter) = filter {
            roles.retain(|r| {
                filter.is_active.is_none_or(|a| r.is_active == a)
                    && filter.expertise.is_none_or(|e| r.expertise == e)
                    && filter.llm_model.as_ref().is_none_or(|m| &r.llm_model == m)
            });
        }
        let order = order_by.unwrap_or(RoleOrderInput {
            field: RoleOrderField::Position,
            direction: None,
        });
        match order.field {
            RoleOrderField::Position => {
                roles.sort_by(|a, b| (a.position, &a.title).cmp(&(b.position, &b.title)))
            }
            RoleOrderField::Title => roles.sort_by(|a, b| a.title.cmp(&b.title)),
            RoleOrderField::CreatedAt => roles.sort_by_key(|r| (r.created_at, r.id)),
        }
        if order.direction == Some(SortDirection::Desc) {
            roles.reverse();
        }
        Ok(Eager::all(roles))
    }

    /// Number of roles.
    async fn role_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        Ok(self.all_roles(ctx).await?.len() as i32)
    }

    /// Number of active roles.
    async fn active_role_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        Ok(self
            .all_roles(ctx)
            .await?
            .iter()
            .filter(|r| r.is_active)
            .count() as i32)
    }

    /// The team's runs, newest first.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only runs matching every given condition; all of them when omitted.")]
        filter: Option<RunFilterInput>,
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
    ) -> async_graphql::Result<Connection<Cursor, Eager<Arc<Run>>, TeamRunsTotal>> {
        let loaders = ctx.loaders()?;
        let filter = RunFilter {
            status: filter.and_then(|f| f.status),
        };
        let args = PageArgs {
            first,
            after: after.as_deref(),
            last,
            before: before.as_deref(),
        };
        let count_key = TeamRunCountKey {
            team_id: self.id,
            filter,
        };
        let total = if args.needs_total() {
            Some(loaders.load_one(count_key).await.gql()?.unwrap_or(0))
        } else {
            None
        };
        let window = args.window(total).gql()?;
        let key = TeamRunsKey {
            team_id: self.id,
            filter,
            window: probe(window),
        };
        let rows = loaders.load_one(key).await.gql()?.unwrap_or_default();
        Ok(page(
            Eager::all(rows),
            window,
            TeamRunsTotal {
                key: count_key,
                total,
            },
        ))
    }
}

impl Team {
    async fn all_roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Arc<Role>>> {
        Ok(ctx
            .loaders()?
            .load_one(TeamRolesKey(self.id))
            .await
            .gql()?
            .unwrap_or_default())
    }
}

/// Totals of a team's runs.
pub struct TeamRunsTotal {
    key: TeamRunCountKey,
    total: Option<i64>,
}

#[Object]
impl TeamRunsTotal {
    /// How many runs match the filter, across all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        match self.total {
            Some(total) => Ok(total),
            None => Ok(ctx.loaders()?.load_one(self.key).await.gql()?.unwrap_or(0)),
        }
    }
}

/// Filters of a team's runs.
#[derive(InputObject)]
pub struct RunFilterInput {
    /// Only runs in this status.
    pub status: Option<RunStatus>,
}

/// Filters of a team's roles.
#[derive(InputObject)]
pub struct RoleFilterInput {
    /// Only active (or only inactive) roles.
    pub is_active: Option<bool>,
    /// Only roles of this expertise.
    pub expertise: Option<Expertise>,
    /// Only roles on this model, e.g. `gpt-4`.
    pub llm_model: Option<String>,
}

/// What to sort roles by.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum RoleOrderField {
    /// The team's own order (see `reorderRoles`).
    Position,
    /// Alphabetically by title.
    Title,
    /// When the role was added.
    CreatedAt,
}

/// Sort order of roles.
#[derive(InputObject)]
pub struct RoleOrderInput {
    /// What to sort by.
    pub field: RoleOrderField,
    /// Ascending unless given.
    pub direction: Option<SortDirection>,
}

/// Filters of the teams list.
#[derive(InputObject, Default)]
pub struct TeamFilterInput {
    /// Only teams in this status.
    pub status: Option<TeamStatus>,
    /// Case-insensitive text found in the name.
    pub name_contains: Option<String>,
}

/// Sort order of teams.
#[derive(InputObject)]
pub struct TeamOrderInput {
    /// What to sort by.
    pub field: TeamOrderField,
    /// Ascending unless given.
    pub direction: Option<SortDirection>,
}

/// Totals of a teams list.
pub struct TeamsTotal {
    filter: TeamFilter,
    total: Option<i64>,
}

#[Object]
impl TeamsTotal {
    /// How many teams match the filter, across all pages.
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

pub async fn list_teams(
    ctx: &Context<'_>,
    filter: Option<TeamFilterInput>,
    order_by: Option<TeamOrderInput>,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> async_graphql::Result<Connection<Cursor, Eager<Team>, TeamsTotal>> {
    let actor = ctx.actor()?;
    let org = actor.organization_id;
    let filter = filter.unwrap_or_default();
    let filter = TeamFilter {
        status: filter.status,
        name_contains: filter.name_contains,
    };
    let order = order_by
        .map(|o| TeamOrder {
            field: o.field,
            direction: o.direction.unwrap_or(SortDirection::Asc),
        })
        .unwrap_or_default();
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
    let rows = queries::list(&mut conn, org, &filter, order, probe(window))
        .await
        .map_err(AppError::from)
        .gql()?;
    Ok(page(Eager::all(rows), window, TeamsTotal { filter, total }))
}

/// An AI agent of a team.
#[Object]
impl Role {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// 1-100 characters, unique within the team, e.g. `Researcher`.
    async fn title(&self) -> &str {
        &self.title
    }

    /// What the agent does (at most 500 characters); null when none was given.
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// How experienced the agent is; its prompt states it.
    async fn expertise(&self) -> Expertise {
        self.expertise
    }

    /// The language model the agent runs on.
    async fn llm_model(&self) -> &str {
        &self.llm_model
    }

    /// Model parameters (temperature, max_tokens, ...).
    async fn llm_config(&self) -> Option<Json<serde_json::Value>> {
        self.llm_config.as_ref().map(|j| Json(j.value()))
    }

    /// Agent configuration (system_prompt, backstory, goals, tools, ...).
    async fn agent_config(&self) -> Option<Json<serde_json::Value>> {
        self.agent_config.as_ref().map(|j| Json(j.value()))
    }

    /// Place in the team's order, from 0.
    async fn position(&self) -> i32 {
        self.position
    }

    /// Whether runs use the agent: a run has one step per active role (unless its template
    /// says otherwise).
    async fn is_active(&self) -> bool {
        self.is_active
    }

    /// When the role was added.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// Last change to the role.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }

    /// The team the role belongs to.
    async fn team(&self, ctx: &Context<'_>) -> async_graphql::Result<Team> {
        ctx.loaders()?
            .load_one(TeamKey(self.team_id))
            .await
            .gql()?
            .ok_or_else(|| crate::graphql::errors::to_gql(&AppError::not_found("team")))
    }
}
