use async_graphql::{Context, ID, Object, SimpleObject};
use std::sync::Arc;

use crate::db::Id;
use crate::graphql::context::ContextExt;
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders::{RoleKey, TeamKey};
use crate::graphql::scalars::Decimal;
use crate::runs::analytics::{self, RoleStats, TeamRunStats};
use crate::teams::{Role, Team};

pub struct OrganizationAnalytics {
    pub organization_id: Id,
}

/// Reports over the organization's runs. Visible to the organization's members only.
#[Object]
impl OrganizationAnalytics {
    /// Teams with the most runs, most first.
    async fn top_teams(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = 10,
            validator(minimum = 1, maximum = 100),
            desc = "How many teams, 1-100."
        )]
        limit: i64,
    ) -> async_graphql::Result<Vec<TeamRunReport>> {
        let mut pooled = ctx.db().await?;
        let rows = analytics::top_teams(&mut pooled.conn(), self.organization_id, limit)
            .await
            .map_err(crate::error::AppError::from)
            .gql()?;
        Ok(rows.into_iter().map(TeamRunReport).collect())
    }

    /// Roles by completed steps, most first: how much each agent works and costs.
    async fn role_utilization(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = 20,
            validator(minimum = 1, maximum = 100),
            desc = "How many roles, 1-100."
        )]
        limit: i64,
    ) -> async_graphql::Result<Vec<RoleUtilization>> {
        let mut pooled = ctx.db().await?;
        let rows = analytics::role_utilization(&mut pooled.conn(), self.organization_id, limit)
            .await
            .map_err(crate::error::AppError::from)
            .gql()?;
        Ok(rows.into_iter().map(RoleUtilization).collect())
    }

    /// Teams that have spent anything this month, by share of budget spent, highest first.
    async fn budget_utilization(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<BudgetUtilization>> {
        let mut pooled = ctx.db().await?;
        let teams = analytics::budget_utilization(&mut pooled.conn(), self.organization_id)
            .await
            .map_err(crate::error::AppError::from)
            .gql()?;
        Ok(teams
            .into_iter()
            .map(|team| BudgetUtilization {
                monthly_budget: Decimal::money(&team.monthly_budget),
                current_spend: Decimal::cost(&team.current_spend),
                utilization_percent: team
                    .budget_utilization_percent()
                    .to_string()
                    .parse()
                    .unwrap_or(0.0),
                team,
            })
            .collect())
    }
}

pub struct TeamRunReport(TeamRunStats);

/// A team's runs in total, all time.
#[Object]
impl TeamRunReport {
    /// The team's id, kept after the team is deleted.
    async fn team_id(&self) -> ID {
        ID(self.0.team_id.to_string())
    }

    /// Null once the team is deleted.
    async fn team(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Team>> {
        ctx.loaders()?.load_one(TeamKey(self.0.team_id)).await.gql()
    }

    /// Runs of the team in any status.
    async fn run_count(&self) -> i64 {
        self.0.run_count
    }

    /// Runs that completed successfully.
    async fn completed_run_count(&self) -> i64 {
        self.0.completed_count
    }

    /// USD, 4 decimals.
    async fn average_cost(&self) -> Decimal {
        Decimal::cost(&self.0.average_cost())
    }

    /// USD, 4 decimals.
    async fn total_cost(&self) -> Decimal {
        Decimal::cost(&self.0.total_cost)
    }
}

pub struct RoleUtilization(RoleStats);

/// A role's completed steps in total, all time (steps of removed roles are left out).
#[Object]
impl RoleUtilization {
    /// The role's id.
    async fn role_id(&self) -> ID {
        ID(self.0.role_id.to_string())
    }

    /// The role (its title and model); null once removed.
    async fn role(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Arc<Role>>> {
        ctx.loaders()?.load_one(RoleKey(self.0.role_id)).await.gql()
    }

    /// Completed steps the role ran.
    async fn step_count(&self) -> i64 {
        self.0.step_count
    }

    /// Mean wall-clock time of a completed step, in milliseconds (1 decimal).
    async fn average_duration_ms(&self) -> f64 {
        self.0.average_duration_ms()
    }

    /// Tokens the role's completed steps used, as a decimal string (the sum can exceed 2^53).
    async fn total_tokens(&self) -> String {
        self.0.total_tokens.with_scale(0).to_string()
    }

    /// USD, 4 decimals.
    async fn average_cost(&self) -> Decimal {
        Decimal::cost(&self.0.average_cost())
    }

    /// USD, 4 decimals.
    async fn total_cost(&self) -> Decimal {
        Decimal::cost(&self.0.total_cost)
    }
}

/// How much of its monthly budget a team has spent.
#[derive(SimpleObject)]
pub struct BudgetUtilization {
    /// The team (deleted teams are left out of the list).
    pub team: Team,
    /// The team's monthly budget in USD, 2 decimals.
    pub monthly_budget: Decimal,
    /// USD, 4 decimals.
    pub current_spend: Decimal,
    /// Spend as a percentage of the budget, 2 decimals.
    pub utilization_percent: f64,
}
