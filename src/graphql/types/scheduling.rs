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

pub struct Employee {
    pub user: User,
    pub profile: EmployeeProfile,
}

/// A user of the organization seen as an employee: their profile for scheduling.
#[Object]
impl Employee {
    /// The user's id.
    async fn id(&self) -> ID {
        id(self.user.id)
    }

    /// The user behind the profile.
    async fn user(&self) -> &User {
        &self.user
    }

    /// The user's display name (the same as `user.fullName`).
    async fn full_name(&self) -> Option<&str> {
        self.user.full_name.as_deref()
    }

    /// Contact number; null when not given.
    async fn phone(&self) -> Option<&str> {
        self.profile.phone.as_deref()
    }

    /// First day the person may be scheduled; null means no start limit.
    async fn hire_date(&self) -> Option<NaiveDate> {
        self.profile.hire_date
    }

    /// The day employment ends: the person may be scheduled only before it. Null while employed.
    async fn termination_date(&self) -> Option<NaiveDate> {
        self.profile.termination_date
    }

    /// Whether the person is schedulable at all (also false for a deactivated user).
    async fn active(&self) -> bool {
        self.profile.active && self.user.is_active
    }

    /// Skills the person has; matched case-insensitively against a work event's
    /// `requiredSkills`.
    async fn skills(&self) -> Vec<String> {
        self.profile.skill_list()
    }

    /// Free-form notes for schedulers.
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
    /// Opaque identifier.
    async fn id(&self) -> ID {
        id(self.id)
    }

    /// The outside system's reference; imports upsert by it.
    async fn external_ref(&self) -> Option<&str> {
        self.external_ref.as_deref()
    }

    /// What the job is called.
    async fn name(&self) -> &str {
        &self.name
    }

    /// Where the work happens; null when not given.
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

    /// The kind of work; Juicer and Setup events go to the day's rotation holders first.
    async fn event_type(&self) -> EventType {
        self.event_type
    }

    /// Where the event stands: only unstaffed, scheduled and reissued events can be scheduled.
    async fn condition(&self) -> EventCondition {
        self.condition
    }

    /// Skills a person needs to be scheduled on it (all of them).
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

    /// When the event was created or imported.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// Last change to the event, including its condition.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }
}

/// A person booked on a work event.
#[Object]
impl Schedule {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        id(self.id)
    }

    /// The work event booked.
    async fn work_event_id(&self) -> ID {
        id(self.work_event_id)
    }

    /// The work event booked; null once it is deleted.
    async fn work_event(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<WorkEvent>> {
        ctx.loaders()?
            .load_one(WorkEventKey(self.work_event_id))
            .await
            .gql()
    }

    /// The person booked.
    async fn user_id(&self) -> ID {
        id(self.user_id)
    }

    /// The person booked; null once the user is deleted.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        user(ctx, self.user_id).await
    }

    /// When the work starts.
    async fn scheduled_at(&self) -> DateTime<Utc> {
        self.scheduled_at.0
    }

    /// When the work ends: `scheduledAt` plus the event's estimated minutes.
    async fn ends_at(&self) -> DateTime<Utc> {
        self.ends_at.0
    }

    /// Where the booking stands; cancelled bookings free the person and the slot.
    async fn status(&self) -> ScheduleStatus {
        self.status
    }

    /// Free-form notes for the person booked.
    async fn notes(&self) -> Option<&str> {
        self.notes.as_deref()
    }

    /// Who booked it (for an approved proposal, the manager who approved it); null once
    /// the user is deleted.
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

    /// When the booking was made.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// Last change to the booking.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }
}

/// A weekly availability pattern: on `dayOfWeek`, from `startTime` to `endTime`
/// (organization local time), from `effectiveFrom` on.
#[Object]
impl AvailabilityRule {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        id(self.id)
    }

    /// The person whose pattern it is.
    async fn user_id(&self) -> ID {
        id(self.user_id)
    }

    /// 0 = Monday .. 6 = Sunday.
    async fn day_of_week(&self) -> i32 {
        i32::from(self.day_of_week)
    }

    /// When availability starts, organization local time.
    async fn start_time(&self) -> NaiveTime {
        self.start_time
    }

    /// When availability ends, organization local time (after `startTime`).
    async fn end_time(&self) -> NaiveTime {
        self.end_time
    }

    /// The first day the pattern holds.
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
    /// Opaque identifier.
    async fn id(&self) -> ID {
        id(self.id)
    }

    /// The person whose day it is.
    async fn user_id(&self) -> ID {
        id(self.user_id)
    }

    /// The day, organization local date.
    async fn date(&self) -> NaiveDate {
        self.date
    }

    /// Whether the person can work at all that day.
    async fn available(&self) -> bool {
        self.available
    }

    /// Hours when available; null means the usual hours (or the whole day).
    async fn start_time(&self) -> Option<NaiveTime> {
        self.start_time
    }

    /// End of the hours when available; null when `startTime` is.
    async fn end_time(&self) -> Option<NaiveTime> {
        self.end_time
    }

    /// Why the day differs (e.g. a doctor's appointment); null when not given.
    async fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

/// A request for days off.
#[Object]
impl TimeOffRequest {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        id(self.id)
    }

    /// The person asking.
    async fn user_id(&self) -> ID {
        id(self.user_id)
    }

    /// The person asking; null once the user is deleted.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        user(ctx, self.user_id).await
    }

    /// The first day off.
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

    /// Free-form notes for the manager.
    async fn notes(&self) -> Option<&str> {
        self.notes.as_deref()
    }

    /// Pending until a manager approves or denies it.
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

    /// When it was approved or denied; null while pending.
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.decided_at.map(|t| t.0)
    }

    /// When the request was made.
    async fn requested_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }
}

/// Who holds a daily rotation.
#[Object]
impl RotationAssignment {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        id(self.id)
    }

    /// The day, organization local date.
    async fn date(&self) -> NaiveDate {
        self.date
    }

    /// Which rotation the person holds that day.
    async fn rotation_type(&self) -> RotationType {
        self.rotation_type
    }

    /// The person holding the rotation.
    async fn user_id(&self) -> ID {
        id(self.user_id)
    }

    /// The person holding the rotation; null once the user is deleted.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        user(ctx, self.user_id).await
    }
}

/// An assignment the auto-scheduler proposes, for a manager to approve or reject.
#[Object]
impl ScheduleProposal {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        id(self.id)
    }

    /// The auto-scheduler run that proposed it.
    async fn run_id(&self) -> ID {
        id(self.run_id)
    }

    /// The auto-scheduler run that proposed it; null once the run is deleted.
    async fn run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Run>> {
        ctx.loaders()?.load_one(RunKey(self.run_id)).await.gql()
    }

    /// The work event to staff.
    async fn work_event_id(&self) -> ID {
        id(self.work_event_id)
    }

    /// The work event to staff; null once it is deleted.
    async fn work_event(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<WorkEvent>> {
        ctx.loaders()?
            .load_one(WorkEventKey(self.work_event_id))
            .await
            .gql()
    }

    /// The person proposed.
    async fn user_id(&self) -> ID {
        id(self.user_id)
    }

    /// The person proposed; null once the user is deleted.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        user(ctx, self.user_id).await
    }

    /// When the proposed work starts.
    async fn scheduled_at(&self) -> DateTime<Utc> {
        self.scheduled_at.0
    }

    /// When the proposed work ends.
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

    /// Whether a manager approved or rejected it.
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

    /// When the auto-scheduler proposed it.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }
}

/// A problem found while scheduling: an event nobody could take, a forced skill
/// mismatch, a schedule that time off now overlaps.
#[Object]
impl ScheduleException {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        id(self.id)
    }

    /// The auto-scheduler run that found it, if any.
    async fn run_id(&self) -> Option<ID> {
        self.run_id.map(id)
    }

    /// The work event concerned, if any.
    async fn work_event(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<WorkEvent>> {
        match self.work_event_id {
            Some(e) => ctx.loaders()?.load_one(WorkEventKey(e)).await.gql(),
            None => Ok(None),
        }
    }

    /// The booking concerned, if any.
    async fn schedule(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Schedule>> {
        match self.schedule_id {
            Some(s) => ctx.loaders()?.load_one(ScheduleKey(s)).await.gql(),
            None => Ok(None),
        }
    }

    /// The person concerned, if any.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.user_id {
            Some(u) => user(ctx, u).await,
            None => Ok(None),
        }
    }

    /// What kind of problem it is.
    async fn exception_type(&self) -> ExceptionType {
        self.exception_type
    }

    /// How serious it is.
    async fn severity(&self) -> Severity {
        self.severity
    }

    /// What is wrong, for people.
    async fn message(&self) -> &str {
        &self.message
    }

    /// Whether a manager marked it resolved (`resolveScheduleConflict`).
    async fn resolved(&self) -> bool {
        self.resolved
    }

    /// When it was found.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }
}

/// Whether the scheduled person showed up.
#[Object]
impl Attendance {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        id(self.id)
    }

    /// The booking it records.
    async fn schedule_id(&self) -> ID {
        id(self.schedule_id)
    }

    /// The person booked.
    async fn user_id(&self) -> ID {
        id(self.user_id)
    }

    /// Present once checked in; absent and excused are set by managers.
    async fn status(&self) -> AttendanceStatus {
        self.status
    }

    /// When the person checked in; null until then.
    async fn check_in_at(&self) -> Option<DateTime<Utc>> {
        self.check_in_at.map(|t| t.0)
    }

    /// When the person checked out; null until then.
    async fn check_out_at(&self) -> Option<DateTime<Utc>> {
        self.check_out_at.map(|t| t.0)
    }

    /// How the last check-in or check-out was made; null before either.
    async fn method(&self) -> Option<CheckMethod> {
        self.method
    }

    /// Notes a manager left with the status.
    async fn notes(&self) -> Option<&str> {
        self.notes.as_deref()
    }

    /// Who last recorded anything (the person or a manager).
    async fn recorded_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.recorded_by {
            Some(u) => user(ctx, u).await,
            None => Ok(None),
        }
    }

    /// Last change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }
}

/// Hours of a local day, `HH:MM` (`24:00` ends a whole open day).
#[derive(SimpleObject)]
pub struct TimeWindow {
    /// Start, `HH:MM`.
    pub start: String,
    /// End, `HH:MM` (after `start`; `24:00` for the end of the day).
    pub end: String,
}

/// Whether and when someone can work on one day (organization local time).
#[derive(SimpleObject)]
pub struct AvailabilityDay {
    /// The local day.
    pub date: NaiveDate,
    /// Whether the person can work at all that day.
    pub available: bool,
    /// The hours when they can, in order; empty when unavailable.
    pub windows: Vec<TimeWindow>,
    /// What decided the day.
    pub source: AvailabilitySource,
    /// Why, when an override or time off decided the day.
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
    /// The local day.
    pub date: NaiveDate,
    /// Events whose window touches the day (paused and submitted ones excluded).
    pub total_events: i32,
    /// Events touching the day with someone scheduled.
    pub staffed_events: i32,
    /// Events touching the day that nobody is scheduled on yet.
    pub unstaffed_events: Vec<WorkEvent>,
}
