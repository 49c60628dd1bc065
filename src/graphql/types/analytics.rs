use async_graphql::{Context, ID, Object, SimpleObject};

use crate::db::Id;
use crate::graphql::context::ContextExt;
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders::{RoleKey, TeamKey};
use crate::graphql::scalars::Decimal;
use crate::runs::analytics::{self, RoleStats, TeamRunStats};
use crate::teams::{Role, Team};

/// Reports over the organization's runs.
pub struct OrganizationAnalytics {
    pub organization_id: Id,
}

#[Object]
impl OrganizationAnalytics {
    /// Teams with the most runs, most first.
    async fn top_teams(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10, validator(minimum = 1, maximum = 100))] limit: i64,
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
        #[graphql(default = 20, validator(minimum = 1, maximum = 100))] limit: i64,
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

/// A team's runs in total.
pub struct TeamRunReport(TeamRunStats);

#[Object]
impl TeamRunReport {
    async fn team_id(&self) -> ID {
        ID(self.0.team_id.to_string())
    }

    /// Null once the team is deleted.
    async fn team(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Team>> {
        ctx.loaders()?.load_one(TeamKey(self.0.team_id)).await.gql()
    }

    async fn run_count(&self) -> i64 {
        self.0.run_count
    }

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

/// A role's completed steps in total.
pub struct RoleUtilization(RoleStats);

#[Object]
impl RoleUtilization {
    async fn role_id(&self) -> ID {
        ID(self.0.role_id.to_string())
    }

    /// The role (its title and model); null once removed.
    async fn role(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Role>> {
        ctx.loaders()?.load_one(RoleKey(self.0.role_id)).await.gql()
    }

    async fn step_count(&self) -> i64 {
        self.0.step_count
    }

    async fn average_duration_ms(&self) -> f64 {
        self.0.average_duration_ms()
    }

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
    pub team: Team,
    pub monthly_budget: Decimal,
    /// USD, 4 decimals.
    pub current_spend: Decimal,
    /// Spend as a percentage of the budget, 2 decimals.
    pub utilization_percent: f64,
}
