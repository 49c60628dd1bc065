//! Recurring run schedules: queries and mutations.

use async_graphql::connection::{Connection, ConnectionNameType, EdgeNameType, EmptyFields};
use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{ContextExt, load_by_id, parse_id};
use super::errors::GqlResult;
use super::loaders::{RunKey, RunScheduleKey, TeamKey, TemplateKey, UserKey};
use super::mutation::maybe;
use super::scheduling::{Total, page_args, wants_total};
use super::types::{Cursor, named_page, page, probe};
use crate::error::AppError;
use crate::run_schedules::service::{self, RunScheduleFields, Transition};
use crate::run_schedules::{MissedRunPolicy, RunSchedule, RunScheduleStatus, queries};
use crate::runs::Run;
use crate::teams::Team;
use crate::templates::Template;
use crate::users::User;

/// A team's run started on a cron schedule, in a time zone.
#[Object]
impl RunSchedule {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// A label (at most 255 characters); the cron expression unless one was given.
    async fn name(&self) -> &str {
        &self.name
    }

    /// The team whose runs it starts (null once deleted).
    async fn team(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Team>> {
        ctx.loaders()?.load_one(TeamKey(self.team_id)).await.gql()
    }

    /// The template the runs follow, if any.
    async fn template(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Template>> {
        match self.template_id {
            Some(t) => ctx.loaders()?.load_one(TemplateKey(t)).await.gql(),
            None => Ok(None),
        }
    }

    /// Five fields: minute hour day-of-month month day-of-week.
    async fn cron(&self) -> &str {
        &self.cron
    }

    /// The IANA time zone the cron is read in.
    async fn timezone(&self) -> &str {
        &self.timezone
    }

    /// The inputs every run starts with.
    async fn inputs(&self) -> Json<serde_json::Value> {
        Json(self.inputs.0.clone())
    }

    /// ACTIVE, or PAUSED until resumed.
    async fn status(&self) -> RunScheduleStatus {
        self.status
    }

    /// What happens to occurrences missed while no gateway was running.
    async fn missed_policy(&self) -> MissedRunPolicy {
        self.missed_policy
    }

    /// When the next run starts; null while paused.
    async fn next_run_at(&self) -> Option<DateTime<Utc>> {
        self.next_run_at.map(|t| t.0)
    }

    /// The occurrence last fired.
    async fn last_run_at(&self) -> Option<DateTime<Utc>> {
        self.last_run_at.map(|t| t.0)
    }

    /// The run the last occurrence started.
    async fn last_run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Run>> {
        match self.last_run_id {
            Some(r) => ctx.loaders()?.load_one(RunKey(r)).await.gql(),
            None => Ok(None),
        }
    }

    /// Why the last occurrence started no run (a schedule whose team or owner is
    /// gone is paused).
    async fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Runs started so far.
    async fn run_count(&self) -> i32 {
        self.run_count
    }

    /// Its owner (whoever created, last changed or resumed it): runs start on their
    /// behalf.
    async fn created_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.created_by {
            Some(u) => ctx.loaders()?.load_one(UserKey(u)).await.gql(),
            None => Ok(None),
        }
    }

    /// When the schedule was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// Last change, including each occurrence fired.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }

    /// The runs it started, newest first.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn runs(
        &self,
        ctx: &Context<'_>,
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
    ) -> async_graphql::Result<ScheduleRuns> {
        let (org, id) = (self.organization_id, self.id);
        let args = page_args(first, &after, last, &before);
        sql_page!(
            ctx,
            args,
            |conn| queries::count_runs_of(&mut conn, org, id),
            |window| queries::runs_of(&mut conn, org, id, window),
            named_page
        )
    }
}

/// A schedule's runs: a connection type of its own, as a team's runs count differently.
pub type ScheduleRuns =
    Connection<Cursor, Run, Total, EmptyFields, ScheduleRunsName, ScheduleRunEdgeName>;

pub struct ScheduleRunsName;

impl ConnectionNameType for ScheduleRunsName {
    fn type_name<T: async_graphql::OutputType>() -> String {
        "ScheduleRunConnection".into()
    }
}

pub struct ScheduleRunEdgeName;

impl EdgeNameType for ScheduleRunEdgeName {
    fn type_name<T: async_graphql::OutputType>() -> String {
        "ScheduleRunEdge".into()
    }
}

#[derive(Default)]
pub struct RunScheduleQuery;

#[Object]
impl RunScheduleQuery {
    /// The organization's run schedules (of one team, if given), newest first.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn run_schedules(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this team's schedules; all of the organization's when omitted.")]
        team_id: Option<ID>,
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
    ) -> async_graphql::Result<Connection<Cursor, RunSchedule, Total>> {
        let org = ctx.actor()?.organization_id;
        // A team id that cannot exist matches nothing, like another organization's.
        let team = team_id.map(|t| parse_id(&t, "team").unwrap_or_default());
        let args = page_args(first, &after, last, &before);
        sql_page!(
            ctx,
            args,
            |conn| queries::count(&mut conn, org, team),
            |window| queries::list(&mut conn, org, team, window)
        )
    }

    /// A run schedule of the organization.
    async fn run_schedule(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The schedule's `id`; schedules of other organizations read as NOT_FOUND."
        )]
        id: ID,
    ) -> async_graphql::Result<RunSchedule> {
        load_by_id(ctx, &id, "run schedule", RunScheduleKey).await
    }
}

/// Input of `createRunSchedule`.
#[derive(InputObject)]
pub struct CreateRunScheduleInput {
    /// The team whose runs to start.
    pub team_id: ID,
    /// Five fields: minute hour day-of-month month day-of-week, e.g. `0 9 * * 1-5`.
    pub cron: String,
    /// IANA name; UTC when omitted.
    pub timezone: Option<String>,
    /// The cron expression when omitted.
    pub name: Option<String>,
    /// A non-empty JSON object every run starts with.
    pub inputs: Json<serde_json::Value>,
    /// Runs follow this template's phases.
    pub template_id: Option<ID>,
    /// FIRE_ONCE when omitted.
    pub missed_policy: Option<MissedRunPolicy>,
}

/// Input of `updateRunSchedule`; omitted fields are left unchanged.
#[derive(InputObject)]
pub struct UpdateRunScheduleInput {
    /// The schedule to change.
    pub id: ID,
    /// A new label, at most 255 characters.
    pub name: Option<String>,
    /// Five fields: minute hour day-of-month month day-of-week.
    pub cron: Option<String>,
    /// IANA time zone name.
    pub timezone: Option<String>,
    /// Replaces the inputs (a non-empty JSON object).
    pub inputs: Option<Json<serde_json::Value>>,
    /// `null` clears it.
    pub template_id: MaybeUndefined<ID>,
    /// What to do with missed occurrences.
    pub missed_policy: Option<MissedRunPolicy>,
}

/// Input of `pauseRunSchedule`, `resumeRunSchedule` and `deleteRunSchedule`.
#[derive(InputObject)]
pub struct RunScheduleIdInput {
    /// The schedule.
    pub id: ID,
}

/// A run schedule after a change.
#[derive(SimpleObject)]
pub struct RunSchedulePayload {
    /// The schedule as it is now.
    pub run_schedule: RunSchedule,
}

/// The deleted schedule.
#[derive(SimpleObject)]
pub struct DeleteRunSchedulePayload {
    /// The id of the deleted schedule; its runs stay.
    pub deleted_run_schedule_id: ID,
}

/// An id that cannot exist fails the organization check like a foreign one.
fn template(id: &ID) -> crate::db::Id {
    parse_id(id, "template").unwrap_or_default()
}

#[derive(Default)]
pub struct RunScheduleMutation;

impl RunScheduleMutation {
    async fn change(
        ctx: &Context<'_>,
        id: &ID,
        fields: RunScheduleFields,
        transition: Transition,
    ) -> async_graphql::Result<RunSchedulePayload> {
        let actor = ctx.actor()?;
        let id = parse_id(id, "run schedule").gql()?;
        let now = ctx.state().clock.now();
        let mut pooled = ctx.db().await?;
        let run_schedule =
            service::change_schedule(&mut pooled.conn(), actor, now, id, fields, transition)
                .await
                .gql()?;
        Ok(RunSchedulePayload { run_schedule })
    }
}

#[Object]
impl RunScheduleMutation {
    /// Starts a team's run on every occurrence of `cron` in `timezone`. Needs
    /// `runs.start`; runs start on the creator's behalf.
    async fn create_run_schedule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The team, its cron and time zone, and the runs' inputs.")]
        input: CreateRunScheduleInput,
    ) -> async_graphql::Result<RunSchedulePayload> {
        let actor = ctx.actor()?;
        let team = parse_id(&input.team_id, "team").unwrap_or_default();
        let fields = RunScheduleFields {
            name: Some(input.name.unwrap_or_else(|| input.cron.trim().to_string())),
            team_id: Some(team),
            template_id: Some(input.template_id.as_ref().map(template)),
            cron: Some(input.cron),
            timezone: Some(input.timezone.unwrap_or_else(|| "UTC".into())),
            inputs: Some(input.inputs.0),
            missed_policy: input.missed_policy,
        };
        let now = ctx.state().clock.now();
        let mut pooled = ctx.db().await?;
        let run_schedule = service::create_schedule(&mut pooled.conn(), actor, now, fields)
            .await
            .gql()?;
        Ok(RunSchedulePayload { run_schedule })
    }

    /// Changes a schedule; a new cron or time zone recomputes `nextRunAt`. Needs
    /// `runs.start`.
    async fn update_run_schedule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The schedule and the fields to change.")] input: UpdateRunScheduleInput,
    ) -> async_graphql::Result<RunSchedulePayload> {
        let fields = RunScheduleFields {
            name: input.name,
            team_id: None,
            template_id: maybe(input.template_id, |t| template(&t)),
            cron: input.cron,
            timezone: input.timezone,
            inputs: input.inputs.map(|j| j.0),
            missed_policy: input.missed_policy,
        };
        Self::change(ctx, &input.id, fields, Transition::Edit).await
    }

    /// Stops a schedule until resumed. Needs `runs.start`.
    async fn pause_run_schedule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The schedule to pause.")] input: RunScheduleIdInput,
    ) -> async_graphql::Result<RunSchedulePayload> {
        Self::change(
            ctx,
            &input.id,
            RunScheduleFields::default(),
            Transition::Pause,
        )
        .await
    }

    /// Resumes a schedule from its next occurrence (occurrences while paused are not
    /// fired). Needs `runs.start`.
    async fn resume_run_schedule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The schedule to resume.")] input: RunScheduleIdInput,
    ) -> async_graphql::Result<RunSchedulePayload> {
        Self::change(
            ctx,
            &input.id,
            RunScheduleFields::default(),
            Transition::Resume,
        )
        .await
    }

    /// Deletes a schedule; the runs it started stay. Needs `runs.start`.
    async fn delete_run_schedule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The schedule to delete.")] input: RunScheduleIdInput,
    ) -> async_graphql::Result<DeleteRunSchedulePayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "run schedule").gql()?;
        let mut pooled = ctx.db().await?;
        service::delete_schedule(&mut pooled.conn(), actor, id)
            .await
            .gql()?;
        Ok(DeleteRunSchedulePayload {
            deleted_run_schedule_id: input.id,
        })
    }
}
