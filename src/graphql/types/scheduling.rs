//! Scheduling types: employees, work events, schedules, availability, time off,
//! rotations, the auto-scheduler's proposals and exceptions, and attendance.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use crate::db::Id;
use crate::graphql::context::ContextExt;
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders::{
    AttendanceKey, EmployeeProfileKey, EventSchedulesKey, RunKey, ScheduleKey, UserKey,
    WorkEventKey,
};
use crate::runs::Run;
use crate::scheduling::availability::{AvailabilitySource, DayAvailability, clock};
use crate::scheduling::{
    Attendance, AttendanceStatus, AvailabilityOverride, AvailabilityRule, CheckMethod,
    EmployeeProfile, EventCondition, EventType, ExceptionType, RotationAssignment, RotationType,
    Schedule, ScheduleException, ScheduleProposal, ScheduleStatus, Severity, TimeOffRequest,
    TimeOffStatus, WorkEvent,
};
use crate::users::User;

fn id(id: Id) -> ID {
    ID(id.to_string())
}

async fn user(ctx: &Context<'_>, user_id: Id) -> async_graphql::Result<Option<User>> {
    ctx.loaders()?.load_one(UserKey(user_id)).await.gql()
}

/// A user of the organization seen as an employee: their profile for scheduling.
pub struct Employee {
    pub user: User,
    pub profile: EmployeeProfile,
}

#[Object]
impl Employee {
    /// The user's id.
    async fn id(&self) -> ID {
        id(self.user.id)
    }

    async fn user(&self) -> &User {
        &self.user
    }

    async fn full_name(&self) -> Option<&str> {
        self.user.full_name.as_deref()
    }

    async fn phone(&self) -> Option<&str> {
        self.profile.phone.as_deref()
    }

    async fn hire_date(&self) -> Option<NaiveDate> {
        self.profile.hire_date
    }

    async fn termination_date(&self) -> Option<NaiveDate> {
        self.profile.termination_date
    }

    /// Whether the person is schedulable at all (also false for a deactivated user).
    async fn active(&self) -> bool {
        self.profile.active && self.user.is_active
    }

    async fn skills(&self) -> Vec<String> {
        self.profile.skill_list()
    }

    async fn notes(&self) -> Option<&str> {
        self.profile.notes.as_deref()
    }
}

/// The employee profile of a user, with defaults until first edited.
pub async fn employee_of(ctx: &Context<'_>, user: User) -> async_graphql::Result<Employee> {
    let profile = ctx
        .loaders()?
        .load_one(EmployeeProfileKey(user.id))
        .await
        .gql()?
        .unwrap_or_else(|| {
            EmployeeProfile::default_for(user.organization_id, user.id, user.created_at)
        });
    Ok(Employee { user, profile })
}

/// A job to staff: a window in which someone must spend the estimated minutes.
#[Object]
impl WorkEvent {
    async fn id(&self) -> ID {
        id(self.id)
    }

    /// The outside system's reference; imports upsert by it.
    async fn external_ref(&self) -> Option<&str> {
        self.external_ref.as_deref()
    }

    async fn name(&self) -> &str {
        &self.name
    }

    async fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// The earliest a schedule may start.
    async fn start_at(&self) -> DateTime<Utc> {
        self.start_at.0
    }

    /// The latest a schedule may end.
    async fn due_at(&self) -> DateTime<Utc> {
        self.due_at.0
    }

    /// How long the work takes; a schedule lasts this long.
    async fn estimated_minutes(&self) -> i32 {
        self.estimated_minutes
    }

    async fn event_type(&self) -> EventType {
        self.event_type
    }

    async fn condition(&self) -> EventCondition {
        self.condition
    }

    async fn required_skills(&self) -> Vec<String> {
        self.required_skill_list()
    }

    /// Who is scheduled on it (cancelled schedules excluded).
    async fn schedules(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Schedule>> {
        Ok(ctx
            .loaders()?
            .load_one(EventSchedulesKey(self.id))
            .await
            .gql()?
            .unwrap_or_default())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }
}

/// A person booked on a work event.
#[Object]
impl Schedule {
    async fn id(&self) -> ID {
        id(self.id)
    }

    async fn work_event_id(&self) -> ID {
        id(self.work_event_id)
    }

    async fn work_event(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<WorkEvent>> {
        ctx.loaders()?
            .load_one(WorkEventKey(self.work_event_id))
            .await
            .gql()
    }

    async fn user_id(&self) -> ID {
        id(self.user_id)
    }

    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        user(ctx, self.user_id).await
    }

    async fn scheduled_at(&self) -> DateTime<Utc> {
        self.scheduled_at.0
    }

    async fn ends_at(&self) -> DateTime<Utc> {
        self.ends_at.0
    }

    async fn status(&self) -> ScheduleStatus {
        self.status
    }

    async fn notes(&self) -> Option<&str> {
        self.notes.as_deref()
    }

    async fn created_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.created_by {
            Some(u) => user(ctx, u).await,
            None => Ok(None),
        }
    }

    /// Check-in, check-out and status; null until something is recorded.
    async fn attendance(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Attendance>> {
        ctx.loaders()?.load_one(AttendanceKey(self.id)).await.gql()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }
}

/// A weekly availability pattern: on `dayOfWeek`, from `startTime` to `endTime`
/// (organization local time), from `effectiveFrom` on.
#[Object]
impl AvailabilityRule {
    async fn id(&self) -> ID {
        id(self.id)
    }

    async fn user_id(&self) -> ID {
        id(self.user_id)
    }

    /// 0 = Monday .. 6 = Sunday.
    async fn day_of_week(&self) -> i32 {
        i32::from(self.day_of_week)
    }

    async fn start_time(&self) -> NaiveTime {
        self.start_time
    }

    async fn end_time(&self) -> NaiveTime {
        self.end_time
    }

    async fn effective_from(&self) -> NaiveDate {
        self.effective_from
    }

    /// The last day the pattern holds; open-ended when null.
    async fn effective_to(&self) -> Option<NaiveDate> {
        self.effective_to
    }
}

/// A date on which someone's availability differs from their weekly pattern.
#[Object]
impl AvailabilityOverride {
    async fn id(&self) -> ID {
        id(self.id)
    }

    async fn user_id(&self) -> ID {
        id(self.user_id)
    }

    async fn date(&self) -> NaiveDate {
        self.date
    }

    async fn available(&self) -> bool {
        self.available
    }

    /// Hours when available; null means the usual hours (or the whole day).
    async fn start_time(&self) -> Option<NaiveTime> {
        self.start_time
    }

    async fn end_time(&self) -> Option<NaiveTime> {
        self.end_time
    }

    async fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

/// A request for days off.
#[Object]
impl TimeOffRequest {
    async fn id(&self) -> ID {
        id(self.id)
    }

    async fn user_id(&self) -> ID {
        id(self.user_id)
    }

    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        user(ctx, self.user_id).await
    }

    async fn start_date(&self) -> NaiveDate {
        self.start_date
    }

    /// Inclusive.
    async fn end_date(&self) -> NaiveDate {
        self.end_date
    }

    /// E.g. Vacation, Sick, Personal.
    async fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    async fn notes(&self) -> Option<&str> {
        self.notes.as_deref()
    }

    async fn status(&self) -> TimeOffStatus {
        self.status
    }

    /// The manager who approved or denied it.
    async fn decided_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.decided_by {
            Some(u) => user(ctx, u).await,
            None => Ok(None),
        }
    }

    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.decided_at.map(|t| t.0)
    }

    async fn requested_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }
}

/// Who holds a daily rotation.
#[Object]
impl RotationAssignment {
    async fn id(&self) -> ID {
        id(self.id)
    }

    async fn date(&self) -> NaiveDate {
        self.date
    }

    async fn rotation_type(&self) -> RotationType {
        self.rotation_type
    }

    async fn user_id(&self) -> ID {
        id(self.user_id)
    }

    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        user(ctx, self.user_id).await
    }
}

/// An assignment the auto-scheduler proposes, for a manager to approve or reject.
#[Object]
impl ScheduleProposal {
    async fn id(&self) -> ID {
        id(self.id)
    }

    /// The auto-scheduler run that proposed it.
    async fn run_id(&self) -> ID {
        id(self.run_id)
    }

    async fn run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Run>> {
        ctx.loaders()?.load_one(RunKey(self.run_id)).await.gql()
    }

    async fn work_event_id(&self) -> ID {
        id(self.work_event_id)
    }

    async fn work_event(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<WorkEvent>> {
        ctx.loaders()?
            .load_one(WorkEventKey(self.work_event_id))
            .await
            .gql()
    }

    async fn user_id(&self) -> ID {
        id(self.user_id)
    }

    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        user(ctx, self.user_id).await
    }

    async fn scheduled_at(&self) -> DateTime<Utc> {
        self.scheduled_at.0
    }

    async fn ends_at(&self) -> DateTime<Utc> {
        self.ends_at.0
    }

    /// 0..1: how well the choice fits (skills, load, rotations, slack in the window).
    async fn confidence(&self) -> f64 {
        self.confidence
    }

    /// Why this person and time were chosen.
    async fn reason(&self) -> &str {
        &self.reason
    }

    async fn reviewed(&self) -> bool {
        self.reviewed
    }

    /// Null until reviewed.
    async fn approved(&self) -> Option<bool> {
        self.approved
    }

    /// The schedule an approval created.
    async fn schedule(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Schedule>> {
        match self.schedule_id {
            Some(s) => ctx.loaders()?.load_one(ScheduleKey(s)).await.gql(),
            None => Ok(None),
        }
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }
}

/// A problem found while scheduling: an event nobody could take, a forced skill
/// mismatch, a schedule that time off now overlaps.
#[Object]
impl ScheduleException {
    async fn id(&self) -> ID {
        id(self.id)
    }

    /// The auto-scheduler run that found it, if any.
    async fn run_id(&self) -> Option<ID> {
        self.run_id.map(id)
    }

    async fn work_event(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<WorkEvent>> {
        match self.work_event_id {
            Some(e) => ctx.loaders()?.load_one(WorkEventKey(e)).await.gql(),
            None => Ok(None),
        }
    }

    async fn schedule(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Schedule>> {
        match self.schedule_id {
            Some(s) => ctx.loaders()?.load_one(ScheduleKey(s)).await.gql(),
            None => Ok(None),
        }
    }

    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.user_id {
            Some(u) => user(ctx, u).await,
            None => Ok(None),
        }
    }

    async fn exception_type(&self) -> ExceptionType {
        self.exception_type
    }

    async fn severity(&self) -> Severity {
        self.severity
    }

    async fn message(&self) -> &str {
        &self.message
    }

    async fn resolved(&self) -> bool {
        self.resolved
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }
}

/// Whether the scheduled person showed up.
#[Object]
impl Attendance {
    async fn id(&self) -> ID {
        id(self.id)
    }

    async fn schedule_id(&self) -> ID {
        id(self.schedule_id)
    }

    async fn user_id(&self) -> ID {
        id(self.user_id)
    }

    async fn status(&self) -> AttendanceStatus {
        self.status
    }

    async fn check_in_at(&self) -> Option<DateTime<Utc>> {
        self.check_in_at.map(|t| t.0)
    }

    async fn check_out_at(&self) -> Option<DateTime<Utc>> {
        self.check_out_at.map(|t| t.0)
    }

    async fn method(&self) -> Option<CheckMethod> {
        self.method
    }

    async fn notes(&self) -> Option<&str> {
        self.notes.as_deref()
    }

    async fn recorded_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.recorded_by {
            Some(u) => user(ctx, u).await,
            None => Ok(None),
        }
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }
}

/// Hours of a local day, `HH:MM` (`24:00` ends a whole open day).
#[derive(SimpleObject)]
pub struct TimeWindow {
    pub start: String,
    pub end: String,
}

/// Whether and when someone can work on one day (organization local time).
#[derive(SimpleObject)]
pub struct AvailabilityDay {
    pub date: NaiveDate,
    pub available: bool,
    pub windows: Vec<TimeWindow>,
    /// What decided the day.
    pub source: AvailabilitySource,
    pub reason: Option<String>,
}

impl From<DayAvailability> for AvailabilityDay {
    fn from(d: DayAvailability) -> Self {
        AvailabilityDay {
            date: d.date,
            available: d.available,
            windows: d
                .windows
                .iter()
                .map(|w| TimeWindow {
                    start: clock(w.start),
                    end: clock(w.end),
                })
                .collect(),
            source: d.source,
            reason: d.reason,
        }
    }
}

/// How well one day's work events are staffed.
#[derive(SimpleObject)]
pub struct CoverageDay {
    pub date: NaiveDate,
    /// Events whose window touches the day (paused and submitted ones excluded).
    pub total_events: i32,
    pub staffed_events: i32,
    /// Events touching the day that nobody is scheduled on yet.
    pub unstaffed_events: Vec<WorkEvent>,
}
