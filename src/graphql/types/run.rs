use crate::graphql::eager::Eager;
use crate::scheduling::autoscheduler::{SchedulerInputs, SchedulerReport};
use async_graphql::{Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use std::sync::Arc;

use crate::db::Id;
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders::{
    LoadError, RoleKey, RunEventsKey, RunKey, RunStepLinesKey, RunStepsKey, TeamKey, UserKey,
};
use crate::graphql::scalars::Decimal;
use crate::runs::{
    Progress, Run, RunEventKind, RunKind, RunStatus, RunStep, StepLine, StepStatus, StepSummary,
};
use crate::teams::{Role, Team};
use crate::users::User;

/// An orchestration run of a team.
#[Object]
impl Run {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// What started the run: a team run, or the auto-scheduler.
    async fn kind(&self) -> RunKind {
        self.kind
    }

    /// Where the run is in its lifecycle; see `RunStatus`.
    async fn status(&self) -> RunStatus {
        self.status
    }

    /// What the run was asked to work on.
    async fn inputs(&self) -> Json<serde_json::Value> {
        Json(self.inputs.value())
    }

    /// max_iterations, timeout_minutes, quality_preference.
    async fn execution_config(&self) -> Json<serde_json::Value> {
        Json(self.execution_config.value())
    }

    /// Cost estimated when the run started, in USD.
    async fn estimated_cost(&self) -> Decimal {
        Decimal::cost(&self.estimated_cost)
    }

    /// For an auto-scheduler run: the settings it used and, once it completed, what
    /// it did (its steps show each day's counts as they commit).
    async fn scheduler_report(&self) -> Option<SchedulerReportObject> {
        if self.kind != RunKind::Scheduler {
            return None;
        }
        let report = self
            .result
            .as_deref()
            .and_then(|r| serde_json::from_str::<SchedulerReport>(r).ok())
            .unwrap_or_default();
        let inputs = self.inputs.parse::<SchedulerInputs>().ok();
        Some(SchedulerReportObject {
            from: inputs.as_ref().map(|i| i.from),
            to: inputs.as_ref().map(|i| i.to),
            events_processed: report.events_processed,
            events_assigned: report.events_assigned,
            events_failed: report.events_failed,
            duration_ms: self
                .duration_ms
                .or(Some(report.duration_ms).filter(|d| *d > 0)),
            settings: inputs
                .map(|i| async_graphql::Json(serde_json::to_value(i.settings).unwrap_or_default())),
        })
    }

    /// The last step's answer, once the run completed; null before, and for failed or
    /// cancelled runs.
    async fn result(&self) -> Option<&str> {
        self.result.as_deref()
    }

    /// Why the run failed or was cancelled; null otherwise.
    async fn error_message(&self) -> Option<&str> {
        self.error_message.as_deref()
    }

    /// Steps planned for the run (fixed when it starts).
    async fn total_steps(&self) -> i32 {
        self.total_steps
    }

    /// Steps completed so far.
    async fn completed_steps(&self) -> i32 {
        self.completed_steps
    }

    /// Prompt plus completion tokens of the steps so far.
    async fn tokens_used(&self) -> i64 {
        self.tokens_used
    }

    /// Cost so far in USD (4 decimals).
    async fn cost(&self) -> Decimal {
        Decimal::cost(&self.cost)
    }

    /// Wall-clock milliseconds from start to end; null until the run ends.
    async fn duration_ms(&self) -> Option<i64> {
        self.duration_ms
    }

    /// When a worker first claimed the run; null while pending.
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.started_at.map(|t| t.0)
    }

    /// When the run ended (completed, failed or cancelled); null while unfinished.
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.completed_at.map(|t| t.0)
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

    /// When the run was started (by a user, a run schedule or `runAutoScheduler`).
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// The team the run belongs to: null for auto-scheduler runs, and once the team
    /// is deleted.
    async fn team(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Team>> {
        let Some(team) = self.team_id else {
            return Ok(None);
        };
        ctx.loaders()?.load_one(TeamKey(team)).await.gql()
    }

    /// Who started the run.
    async fn triggered_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(user) = self.triggered_by else {
            return Ok(None);
        };
        ctx.loaders()?.load_one(UserKey(user)).await.gql()
    }

    /// The recurring schedule that started the run, if any (null once deleted).
    async fn schedule(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::run_schedules::RunSchedule>> {
        match self.schedule_id {
            Some(s) => ctx
                .loaders()?
                .load_one(crate::graphql::loaders::RunScheduleKey(s))
                .await
                .gql(),
            None => Ok(None),
        }
    }

    /// The template the run follows, if any (null once deleted).
    async fn template(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::templates::Template>> {
        match self.template_id {
            Some(t) => ctx
                .loaders()?
                .load_one(crate::graphql::loaders::TemplateKey(t))
                .await
                .gql(),
            None => Ok(None),
        }
    }

    /// The phases' results rolled up: per phase (its template code, or `Phase <n>`)
    /// the phase name, status, response and time, then the totals and success rate:
    /// `{"phases": {...}, "metadata": {"total_phases", "successful_phases", "success_rate"}}`.
    async fn results(&self, ctx: &Context<'_>) -> async_graphql::Result<Json<serde_json::Value>> {
        let steps = ctx
            .loaders()?
            .load_one(RunStepsKey(self.id))
            .await
            .gql()?
            .unwrap_or_default();
        Ok(Json(crate::runs::phase_results(&steps)))
    }

    /// The run's steps in order.
    async fn steps(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Eager<StepNode>>> {
        let loaders = ctx.loaders()?;
        let listed_only = ctx
            .field()
            .selection_set()
            .all(|field| StepNode::LISTED.contains(&field.name()));
        let steps: Vec<StepRow> = if listed_only {
            let lines = loaders.load_one(RunStepLinesKey(self.id)).await.gql()?;
            lines
                .unwrap_or_default()
                .into_iter()
                .map(StepRow::Line)
                .collect()
        } else {
            let steps = loaders.load_one(RunStepsKey(self.id)).await.gql()?;
            steps
                .unwrap_or_default()
                .into_iter()
                .map(StepRow::Full)
                .collect()
        };
        let role_keys: Vec<RoleKey> = steps
            .iter()
            .filter_map(|s| s.role_id())
            .map(RoleKey)
            .collect();
        if role_keys.is_empty() || !ctx.look_ahead().field("role").exists() {
            return Ok(steps
                .into_iter()
                .map(|row| Eager(StepNode { row, role: None }))
                .collect());
        }
        // The steps' roles are read here, one batch for the run, rather than by each step:
        // a page of runs holds a thousand steps, and each would wait on the loader as a
        // future holding its whole resolution.
        let roles = loaders.load_many(role_keys).await;
        Ok(steps
            .into_iter()
            .map(|row| {
                let role = match &roles {
                    Ok(roles) => Ok(row
                        .role_id()
                        .and_then(|id| roles.get(&RoleKey(id)).cloned())),
                    Err(error) => Err(error.clone()),
                };
                Eager(StepNode {
                    row,
                    role: Some(role),
                })
            })
            .collect())
    }

    /// How far the run has got.
    async fn progress(&self) -> RunProgress {
        RunProgress(Progress::of(self))
    }

    /// The run's figures: execution time, tokens, cost, steps and agents.
    async fn metrics(&self, ctx: &Context<'_>) -> async_graphql::Result<RunMetrics> {
        let steps = ctx
            .loaders()?
            .load_one(RunStepsKey(self.id))
            .await
            .gql()?
            .unwrap_or_default();
        let agents: std::collections::HashSet<_> = steps
            .iter()
            .filter(|s| s.status == StepStatus::Completed)
            .map(|s| {
                s.role_id
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| s.name.clone())
            })
            .collect();
        let execution_ms = self.duration_ms.or_else(|| {
            self.started_at
                .map(|s| (chrono::Utc::now() - s.0).num_milliseconds().max(0))
        });
        Ok(RunMetrics {
            execution_time_seconds: execution_ms.map(|ms| ms as f64 / 1000.0),
            total_tokens_used: self.tokens_used,
            total_cost: Decimal::cost(&self.cost),
            steps_completed: self.completed_steps,
            agents_involved: agents.len() as i32,
        })
    }

    /// Per-step contribution of each role, in step order (completed steps).
    async fn breakdown(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<RoleBreakdown>> {
        let steps = ctx
            .loaders()?
            .load_one(RunStepsKey(self.id))
            .await
            .gql()?
            .unwrap_or_default();
        Ok(steps
            .into_iter()
            .filter(|s| s.status == StepStatus::Completed)
            .map(|s| RoleBreakdown {
                role_id: s.role_id,
                role: s.name.clone(),
                task: s
                    .input
                    .as_ref()
                    .and_then(|i| i.field("task"))
                    .and_then(|t| t.as_str().map(str::to_owned))
                    .unwrap_or_else(|| s.name.clone()),
                tokens_used: s.tokens_used,
                cost: Decimal::cost(&s.cost),
                duration_seconds: s.duration_ms.map(|ms| ms as f64 / 1000.0),
            })
            .collect())
    }

    /// The run's event log, oldest first: the same events `runUpdates` streams.
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 0, desc = "Only events with a larger `seq`.")] after_seq: i64,
        #[graphql(
            default = 100,
            validator(minimum = 1, maximum = 500),
            desc = "At most this many events, 1-500."
        )]
        first: usize,
    ) -> async_graphql::Result<Vec<RunEventObject>> {
        let events = ctx
            .loaders()?
            .load_one(RunEventsKey(self.id))
            .await
            .gql()?
            .unwrap_or_default();
        Ok(events
            .into_iter()
            .filter(|e| e.seq > after_seq)
            .take(first)
            .map(|e| RunEventObject(std::sync::Arc::new(e.into())))
            .collect())
    }
}

pub struct RunProgress(pub Progress);

/// How far a run has got.
#[Object]
impl RunProgress {
    /// Steps completed so far.
    async fn completed_steps(&self) -> i32 {
        self.0.completed_steps
    }

    /// Steps planned for the run.
    async fn total_steps(&self) -> i32 {
        self.0.total_steps
    }

    /// Completed steps as a percentage of all steps, one decimal.
    async fn percent(&self) -> f64 {
        self.0.percent()
    }

    /// Prompt plus completion tokens so far.
    async fn tokens_used(&self) -> i64 {
        self.0.tokens_used
    }

    /// Cost so far in USD (4 decimals).
    async fn cost(&self) -> Decimal {
        Decimal {
            value: self.0.cost.parse().unwrap_or_default(),
            scale: 4,
        }
    }
}

/// A run's figures, as the execution response of the platform reports them.
#[derive(SimpleObject)]
pub struct RunMetrics {
    /// Wall-clock time from start to end (or to now while running); null before start.
    pub execution_time_seconds: Option<f64>,
    /// Prompt plus completion tokens of all steps.
    pub total_tokens_used: i64,
    /// USD, 4 decimals.
    pub total_cost: Decimal,
    /// Steps completed so far.
    pub steps_completed: i32,
    /// Distinct roles that completed a step.
    pub agents_involved: i32,
}

/// What one role contributed to a run.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct RoleBreakdown {
    #[graphql(skip)]
    pub role_id: Option<crate::db::Id>,
    /// The role's title when the step was planned.
    pub role: String,
    /// The step's task: its template phase's prompt, or its role's description.
    pub task: String,
    /// Prompt plus completion tokens of the step.
    pub tokens_used: i64,
    /// USD, 4 decimals.
    pub cost: Decimal,
    /// Wall-clock seconds the step took; null if not recorded.
    pub duration_seconds: Option<f64>,
}

#[async_graphql::ComplexObject]
impl RoleBreakdown {
    /// The role as it is now (null once removed).
    async fn agent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Arc<Role>>> {
        let Some(role) = self.role_id else {
            return Ok(None);
        };
        ctx.loaders()?.load_one(RoleKey(role)).await.gql()
    }
}

#[derive(Clone)]
pub struct RunEventObject(pub std::sync::Arc<crate::events::SharedRunEvent>);

/// One entry of a run's event log.
#[Object(name = "RunEvent")]
impl RunEventObject {
    /// Position in the run's log: 1, 2, 3, ... without gaps.
    async fn seq(&self) -> i64 {
        self.0.seq
    }

    /// What happened; see `RunEventKind`.
    async fn kind(&self) -> RunEventKind {
        self.0.kind
    }

    /// The run the event belongs to.
    async fn run_id(&self) -> ID {
        ID(self.0.run_id.to_string())
    }

    /// The run's team; null for auto-scheduler runs.
    async fn team_id(&self) -> Option<ID> {
        self.0.payload.team_id.map(|t| ID(t.to_string()))
    }

    /// The run's status right after the event.
    async fn status(&self) -> RunStatus {
        self.0.payload.status
    }

    /// The run's progress right after the event.
    async fn progress(&self) -> RunProgress {
        RunProgress(self.0.payload.progress.clone())
    }

    /// The step the event is about, if any.
    async fn step(&self) -> Option<RunEventStep> {
        self.0.payload.step.clone().map(RunEventStep)
    }

    /// A human-readable detail (an error, a budget warning, a cancel reason).
    async fn message(&self) -> Option<&str> {
        self.0.payload.message.as_deref()
    }

    /// When the event was committed.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.0
    }

    /// The run as it is after the event. A live event's run is read once for all of
    /// the event's subscribers (one that falls hundreds of events behind the others
    /// reads it again, as it is then).
    async fn run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Run>> {
        let loaders = ctx.loaders()?;
        self.0
            .run
            .get_or_read(|| loaders.load_one(RunKey(self.0.run_id)))
            .await
            .gql()
    }
}

pub struct RunEventStep(pub StepSummary);

/// The step a run event is about, as it was at the event.
#[Object]
impl RunEventStep {
    /// The step's id (the same as `RunStep.id`).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Order within the run, from 0.
    async fn position(&self) -> i32 {
        self.0.position
    }

    /// The step's name: its template phase's name, or its role's title.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The role that performs the step; null once the role is removed.
    async fn role_id(&self) -> Option<ID> {
        self.0.role_id.map(|r| ID(r.to_string()))
    }

    /// The step's status right after the event.
    async fn status(&self) -> StepStatus {
        self.0.status
    }

    /// Prompt plus completion tokens of the step.
    async fn tokens_used(&self) -> i64 {
        self.0.tokens_used
    }

    /// USD, 4 decimals.
    async fn cost(&self) -> Decimal {
        Decimal {
            value: self.0.cost.parse().unwrap_or_default(),
            scale: 4,
        }
    }

    /// Wall-clock milliseconds the step took; null until it ended.
    async fn duration_ms(&self) -> Option<i64> {
        self.0.duration_ms
    }

    /// Why the step failed; null otherwise.
    async fn error_message(&self) -> Option<&str> {
        self.0.error_message.as_deref()
    }
}

/// A step's row as `Run.steps` read it: whole, or only a listing's columns.
enum StepRow {
    Full(Arc<RunStep>),
    Line(Arc<StepLine>),
}

/// A column that both row types hold.
macro_rules! listed {
    ($row:expr, $column:ident) => {
        match $row {
            StepRow::Full(step) => &step.$column,
            StepRow::Line(step) => &step.$column,
        }
    };
}

impl StepRow {
    fn role_id(&self) -> Option<Id> {
        *listed!(self, role_id)
    }
}

/// A step as a response shows it: its row and, when its run's `steps` read the steps'
/// roles for it, the outcome of that read.
pub struct StepNode {
    row: StepRow,
    role: Option<Result<Option<Arc<Role>>, LoadError>>,
}

impl StepNode {
    /// The fields a [`StepLine`] answers (with the relations, read by their own keys):
    /// `Run.steps` reads only those columns when its selection stays among these.
    const LISTED: &'static [&'static str] = &[
        "__typename",
        "id",
        "position",
        "name",
        "status",
        "tokensUsed",
        "cost",
        "role",
        "run",
    ];

    /// The whole row. A listing asked for another field only if `LISTED` and the
    /// fields below disagree; the row is then read again (whole rows of every run's
    /// steps at that level, one batch for each such field, since the request's loader
    /// keeps no cache) rather than answered from columns it does not hold.
    async fn full(&self, ctx: &Context<'_>) -> async_graphql::Result<Arc<RunStep>> {
        let line = match &self.row {
            StepRow::Full(step) => return Ok(step.clone()),
            StepRow::Line(line) => line,
        };
        let steps = ctx
            .loaders()?
            .load_one(RunStepsKey(line.run_id))
            .await
            .gql()?
            .unwrap_or_default();
        steps
            .into_iter()
            .find(|step| step.id == line.id)
            .ok_or(AppError::NotFound { resource: "step" })
            .gql()
    }
}

/// One step of a run, performed by one role.
#[Object(name = "RunStep")]
impl StepNode {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(listed!(&self.row, id).to_string())
    }

    /// Order within the run, from 0.
    async fn position(&self) -> i32 {
        *listed!(&self.row, position)
    }

    /// The step's name: its template phase's name, or its role's title.
    async fn name(&self) -> &str {
        listed!(&self.row, name)
    }

    /// Where the step is in its lifecycle; see `StepStatus`.
    async fn status(&self) -> StepStatus {
        *listed!(&self.row, status)
    }

    /// What the step was given: `task`, the agent as planned (`agent`) and, for a
    /// template run, the phase code (`phase`).
    async fn input(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Json<serde_json::Value>>> {
        Ok(self
            .full(ctx)
            .await?
            .input
            .as_ref()
            .map(|j| Json(j.value())))
    }

    /// The agent's answer (`content`, `model`, `finishReason`, `attempts`, `backend`); null
    /// until the step completed.
    async fn output(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Json<serde_json::Value>>> {
        Ok(self
            .full(ctx)
            .await?
            .output
            .as_ref()
            .map(|j| Json(j.value())))
    }

    /// Tokens of the prompt sent to the model.
    async fn prompt_tokens(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        Ok(self.full(ctx).await?.prompt_tokens)
    }

    /// Tokens of the model's answer.
    async fn completion_tokens(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        Ok(self.full(ctx).await?.completion_tokens)
    }

    /// `promptTokens + completionTokens`.
    async fn tokens_used(&self) -> i64 {
        *listed!(&self.row, tokens_used)
    }

    /// Cost in USD (4 decimals).
    async fn cost(&self) -> Decimal {
        Decimal::cost(listed!(&self.row, cost))
    }

    /// Wall-clock milliseconds the step took; null until it ended.
    async fn duration_ms(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<i64>> {
        Ok(self.full(ctx).await?.duration_ms)
    }

    /// Why the step failed (or was cancelled); null otherwise.
    async fn error_message(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(self.full(ctx).await?.error_message.clone())
    }

    /// When a worker began the step; null while pending.
    async fn started_at(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DateTime<Utc>>> {
        Ok(self.full(ctx).await?.started_at.map(|t| t.0))
    }

    /// When the step ended; null while pending or running.
    async fn completed_at(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<DateTime<Utc>>> {
        Ok(self.full(ctx).await?.completed_at.map(|t| t.0))
    }

    /// The role that performs the step (null once the role is removed).
    async fn role(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Eager<Arc<Role>>>> {
        if let Some(read) = &self.role {
            return Ok(read.clone().gql()?.map(Eager));
        }
        let Some(role) = self.row.role_id() else {
            return Ok(None);
        };
        Ok(ctx
            .loaders()?
            .load_one(RoleKey(role))
            .await
            .gql()?
            .map(Eager))
    }

    /// The run the step belongs to.
    async fn run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Run>> {
        let run = *listed!(&self.row, run_id);
        ctx.loaders()?.load_one(RunKey(run)).await.gql()
    }
}

/// What an auto-scheduler run did.
#[derive(async_graphql::SimpleObject)]
#[graphql(name = "SchedulerReport")]
pub struct SchedulerReportObject {
    /// The first day planned.
    pub from: Option<chrono::NaiveDate>,
    /// The last day planned.
    pub to: Option<chrono::NaiveDate>,
    /// Events assigned or given up on.
    pub events_processed: i64,
    /// Events with a proposal.
    pub events_assigned: i64,
    /// Events nobody could take (each has a coverage, availability, conflict or
    /// skill_mismatch exception).
    pub events_failed: i64,
    /// Wall-clock milliseconds the run took; null until it ended.
    pub duration_ms: Option<i64>,
    /// The settings the run used.
    pub settings: Option<async_graphql::Json<serde_json::Value>>,
}
