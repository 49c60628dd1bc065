use async_graphql::{Context, ID, Json, Object};
use chrono::{DateTime, Utc};

use crate::graphql::context::ContextExt;
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders::{RoleKey, RunKey, RunStepsKey, TeamKey, UserKey};
use crate::graphql::scalars::Decimal;
use crate::runs::{Run, RunKind, RunStatus, RunStep, StepStatus};
use crate::teams::{Role, Team};
use crate::users::User;

/// An orchestration run of a team.
#[Object]
impl Run {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    async fn kind(&self) -> RunKind {
        self.kind
    }

    async fn status(&self) -> RunStatus {
        self.status
    }

    /// What the run was asked to work on.
    async fn inputs(&self) -> Json<serde_json::Value> {
        Json(self.inputs.0.clone())
    }

    /// max_iterations, timeout_minutes, quality_preference.
    async fn execution_config(&self) -> Json<serde_json::Value> {
        Json(self.execution_config.0.clone())
    }

    /// Cost estimated when the run started, in USD.
    async fn estimated_cost(&self) -> Decimal {
        Decimal::cost(&self.estimated_cost)
    }

    async fn result(&self) -> Option<&str> {
        self.result.as_deref()
    }

    async fn error_message(&self) -> Option<&str> {
        self.error_message.as_deref()
    }

    async fn total_steps(&self) -> i32 {
        self.total_steps
    }

    async fn completed_steps(&self) -> i32 {
        self.completed_steps
    }

    async fn tokens_used(&self) -> i64 {
        self.tokens_used
    }

    /// Cost so far in USD (4 decimals).
    async fn cost(&self) -> Decimal {
        Decimal::cost(&self.cost)
    }

    async fn duration_ms(&self) -> Option<i64> {
        self.duration_ms
    }

    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.started_at.map(|t| t.0)
    }

    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.completed_at.map(|t| t.0)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// The team the run belongs to (null once the team is deleted).
    async fn team(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Team>> {
        ctx.loaders()?.load_one(TeamKey(self.team_id)).await.gql()
    }

    /// Who started the run.
    async fn triggered_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(user) = self.triggered_by else {
            return Ok(None);
        };
        ctx.loaders()?.load_one(UserKey(user)).await.gql()
    }

    /// The run's steps in order.
    async fn steps(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<RunStep>> {
        Ok(ctx
            .loaders()?
            .load_one(RunStepsKey(self.id))
            .await
            .gql()?
            .unwrap_or_default())
    }
}

/// One step of a run, performed by one role.
#[Object]
impl RunStep {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// Order within the run, from 0.
    async fn position(&self) -> i32 {
        self.position
    }

    async fn name(&self) -> &str {
        &self.name
    }

    async fn status(&self) -> StepStatus {
        self.status
    }

    async fn input(&self) -> Option<Json<serde_json::Value>> {
        self.input.as_ref().map(|j| Json(j.0.clone()))
    }

    async fn output(&self) -> Option<Json<serde_json::Value>> {
        self.output.as_ref().map(|j| Json(j.0.clone()))
    }

    async fn prompt_tokens(&self) -> i64 {
        self.prompt_tokens
    }

    async fn completion_tokens(&self) -> i64 {
        self.completion_tokens
    }

    async fn tokens_used(&self) -> i64 {
        self.tokens_used
    }

    /// Cost in USD (4 decimals).
    async fn cost(&self) -> Decimal {
        Decimal::cost(&self.cost)
    }

    async fn duration_ms(&self) -> Option<i64> {
        self.duration_ms
    }

    async fn error_message(&self) -> Option<&str> {
        self.error_message.as_deref()
    }

    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.started_at.map(|t| t.0)
    }

    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.completed_at.map(|t| t.0)
    }

    /// The role that performs the step (null once the role is removed).
    async fn role(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Role>> {
        let Some(role) = self.role_id else {
            return Ok(None);
        };
        ctx.loaders()?.load_one(RoleKey(role)).await.gql()
    }

    async fn run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Run>> {
        ctx.loaders()?.load_one(RunKey(self.run_id)).await.gql()
    }
}
