//! Scheduling queries and mutations.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use super::context::{ContextExt, parse_id};
use super::errors::{GqlResult, to_gql};
use super::loaders::{UserKey, WorkEventKey};
use super::mutation::maybe;
use super::types::scheduling::{AvailabilityDay, CoverageDay, Employee, employee_of};
use super::types::{Cursor, page, probe};
use crate::db::{Id, Timestamp};
use crate::error::AppError;
use crate::events::{ChangeKind, Event};
use crate::pagination::PageArgs;
use crate::runs::Run;
use crate::scheduling::autoscheduler::{self, PartialSettings};
use crate::scheduling::availability::{at, local_date};
use crate::scheduling::queries::{
    self, ExceptionFilter, ScheduleFilter, TimeOffFilter, WorkEventFilter,
};
use crate::scheduling::service::{
    self, AttendanceChange, Booked, BookingRequest, EmployeeChanges, OverrideFields, RuleFields,
    ScheduleChanges, TimeOffFields, WorkEventChanges, WorkEventFields, check_range,
};
use crate::scheduling::{
    Attendance, AttendanceStatus, AvailabilityOverride, AvailabilityRule, CheckMethod,
    EmployeeProfile, EventCondition, EventType, RotationAssignment, RotationType, Schedule,
    ScheduleException, ScheduleProposal, ScheduleStatus, TimeOffRequest, TimeOffStatus, WorkEvent,
};

/// Totals of a connection; computed only when `totalCount` is asked for.
#[derive(SimpleObject)]
pub struct Total {
    /// How many items match, across all pages.
    pub total_count: i64,
}

pub(crate) fn wants_total(ctx: &Context<'_>, args: &PageArgs<'_>) -> bool {
    args.needs_total() || ctx.look_ahead().field("totalCount").exists()
}

/// One page of a list paged in SQL, as a connection: the total is counted only when
/// asked for (or needed to place `last`), and one row more than the page is fetched to
/// learn whether another page follows.
macro_rules! sql_page {
    ($ctx:expr, $args:expr, |$conn:ident| $count:expr, |$window:ident| $list:expr) => {
        sql_page!($ctx, $args, |$conn| $count, |$window| $list, page)
    };
    // `$build` makes the connection: `page`, or `named_page` for a renamed type.
    ($ctx:expr, $args:expr, |$conn:ident| $count:expr, |$window:ident| $list:expr, $build:ident) => {{
        let mut pooled = $ctx.db().await?;
        let mut $conn = pooled.conn();
        let total = if wants_total($ctx, &$args) {
            Some($count.await.map_err(AppError::from).gql()?)
        } else {
            None
        };
        let window = $args.window(total).gql()?;
        let $window = probe(window);
        let rows = $list.await.map_err(AppError::from).gql()?;
        Ok($build(
            rows,
            window,
            Total {
                total_count: total.unwrap_or_default(),
            },
        ))
    }};
}

pub(crate) fn page_args<'a>(
    first: Option<i32>,
    after: &'a Option<String>,
    last: Option<i32>,
    before: &'a Option<String>,
) -> PageArgs<'a> {
    PageArgs {
        first,
        after: after.as_deref(),
        last,
        before: before.as_deref(),
    }
}

fn ids_of(list: &[ID], resource: &'static str) -> Vec<Id> {
    // An id that cannot exist matches nothing, like another organization's.
    list.iter()
        .map(|id| parse_id(id, resource).unwrap_or_default())
        .collect()
}

fn publish_schedule(ctx: &Context<'_>, schedule: &Schedule, kind: ChangeKind) {
    ctx.state().bus.publish(Event::ScheduleChanged {
        organization_id: schedule.organization_id,
        schedule: Arc::new(schedule.clone()),
        kind,
    });
}

/// Filters of `employees`.
#[derive(InputObject, Default)]
pub struct EmployeeFilterInput {
    /// Schedulable (active profile and active user) or not.
    pub active: Option<bool>,
    /// Has this skill (case-insensitive).
    pub skill: Option<String>,
    /// Can work at some time on this date (organization local time).
    pub available_on: Option<NaiveDate>,
}

/// Filters of `workEvents`; all given ones must hold.
#[derive(InputObject, Default)]
pub struct WorkEventFilterInput {
    /// Events whose window ends at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Events whose window starts before this instant.
    pub to: Option<DateTime<Utc>>,
    pub event_type: Option<EventType>,
    pub condition: Option<EventCondition>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
}

/// Filters of `timeOffRequests`.
#[derive(InputObject, Default)]
pub struct TimeOffFilterInput {
    pub user_id: Option<ID>,
    pub status: Option<TimeOffStatus>,
    /// Requests ending on or after this date.
    pub from: Option<NaiveDate>,
    /// Requests starting on or before this date.
    pub to: Option<NaiveDate>,
}

/// Filters of `scheduleConflicts`.
#[derive(InputObject, Default)]
pub struct ScheduleConflictFilterInput {
    /// Exceptions found by this auto-scheduler run.
    pub run_id: Option<ID>,
    pub resolved: Option<bool>,
    /// Found at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Found before this instant.
    pub to: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct SchedulingQuery;

#[Object]
impl SchedulingQuery {
    /// The organization's employees (its users, deleted ones excluded), oldest first.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn employees(
        &self,
        ctx: &Context<'_>,
        filter: Option<EmployeeFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, Employee, Total>> {
        let actor = ctx.actor()?;
        let org = actor.organization_id;
        let filter = filter.unwrap_or_default();
        let mut pooled = ctx.db().await?;
        let mut conn = pooled.conn();
        let users = queries::org_users(&mut conn, org)
            .await
            .map_err(AppError::from)
            .gql()?;
        let mut profiles: HashMap<Id, EmployeeProfile> = queries::all_profiles(&mut conn, org)
            .await
            .map_err(AppError::from)
            .gql()?
            .into_iter()
            .map(|p| (p.user_id, p))
            .collect();
        let available: Option<HashSet<Id>> = match filter.available_on {
            Some(date) => {
                service::check_date("filter.availableOn", date).gql()?;
                let calendars = service::calendars(&mut conn, org, &users, date, date)
                    .await
                    .gql()?;
                Some(
                    calendars
                        .into_iter()
                        .filter(|(_, c)| c.day(date).available)
                        .map(|(id, _)| id)
                        .collect(),
                )
            }
            None => None,
        };
        let employees: Vec<Employee> = users
            .into_iter()
            .map(|user| {
                let profile = profiles
                    .remove(&user.id)
                    .unwrap_or_else(|| EmployeeProfile::default_for(org, user.id, user.created_at));
                Employee { user, profile }
            })
            .filter(|e| {
                filter
                    .active
                    .is_none_or(|a| a == (e.profile.active && e.user.is_active))
                    && filter.skill.as_deref().is_none_or(|s| {
                        e.profile
                            .skill_list()
                            .iter()
                            .any(|k| k.eq_ignore_ascii_case(s.trim()))
                    })
                    && available.as_ref().is_none_or(|a| a.contains(&e.user.id))
            })
            .collect();
        let args = page_args(first, &after, last, &before);
        let total = employees.len() as i64;
        let window = args.window(Some(total)).gql()?;
        let rows: Vec<Employee> = employees
            .into_iter()
            .skip(window.offset as usize)
            .take(window.limit as usize + 1)
            .collect();
        Ok(page(rows, window, Total { total_count: total }))
    }

    /// One employee by user id.
    async fn employee(&self, ctx: &Context<'_>, user_id: ID) -> async_graphql::Result<Employee> {
        let id = parse_id(&user_id, "user").gql()?;
        let user = ctx
            .loaders()?
            .load_one(UserKey(id))
            .await
            .gql()?
            .filter(|u| u.deleted_at.is_none())
            .ok_or_else(|| to_gql(&AppError::not_found("user")))?;
        employee_of(ctx, user).await
    }

    /// Work events by window start.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn work_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<WorkEventFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, WorkEvent, Total>> {
        let org = ctx.actor()?.organization_id;
        let input = filter.unwrap_or_default();
        let filter = WorkEventFilter {
            from: input.from.map(Timestamp),
            to: input.to.map(Timestamp),
            event_type: input.event_type,
            condition: input.condition,
            name_contains: input.name_contains,
        };
        let args = page_args(first, &after, last, &before);
        sql_page!(
            ctx,
            args,
            |conn| queries::count_events(&mut conn, org, &filter),
            |window| queries::list_events(&mut conn, org, &filter, window)
        )
    }

    async fn work_event(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<WorkEvent> {
        super::context::load_by_id(ctx, &id, "work event", WorkEventKey).await
    }

    /// Whether and when a person can work, per day from `from` to `to` (inclusive,
    /// organization local dates, at most 62 days), combining weekly rules, date
    /// overrides and approved time off.
    async fn availability(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        from: NaiveDate,
        to: NaiveDate,
    ) -> async_graphql::Result<Vec<AvailabilityDay>> {
        let org = ctx.actor()?.organization_id;
        let id = parse_id(&user_id, "user").gql()?;
        check_range(from, to).gql()?;
        let user = ctx
            .loaders()?
            .load_one(UserKey(id))
            .await
            .gql()?
            .filter(|u| u.deleted_at.is_none())
            .ok_or_else(|| to_gql(&AppError::not_found("user")))?;
        let mut pooled = ctx.db().await?;
        let calendar = service::calendars(&mut pooled.conn(), org, &[user], from, to)
            .await
            .gql()?
            .remove(&id)
            .ok_or_else(|| to_gql(&AppError::not_found("user")))?;
        Ok(from
            .iter_days()
            .take_while(|d| *d <= to)
            .map(|d| calendar.day(d).into())
            .collect())
    }

    /// A person's weekly availability rules.
    async fn availability_rules(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
    ) -> async_graphql::Result<Vec<AvailabilityRule>> {
        let org = ctx.actor()?.organization_id;
        let id = parse_id(&user_id, "user").unwrap_or_default();
        let mut pooled = ctx.db().await?;
        queries::rules_of_users(&mut pooled.conn(), org, &[id])
            .await
            .map_err(AppError::from)
            .gql()
    }

    /// A person's date overrides from `from` to `to` (inclusive).
    async fn availability_overrides(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        from: NaiveDate,
        to: NaiveDate,
    ) -> async_graphql::Result<Vec<AvailabilityOverride>> {
        let org = ctx.actor()?.organization_id;
        check_range(from, to).gql()?;
        let id = parse_id(&user_id, "user").unwrap_or_default();
        let mut pooled = ctx.db().await?;
        queries::overrides_of_users(&mut pooled.conn(), org, &[id], from, to)
            .await
            .map_err(AppError::from)
            .gql()
    }

    /// Time-off requests, newest first.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn time_off_requests(
        &self,
        ctx: &Context<'_>,
        filter: Option<TimeOffFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, TimeOffRequest, Total>> {
        let org = ctx.actor()?.organization_id;
        let input = filter.unwrap_or_default();
        let filter = TimeOffFilter {
            user_id: input
                .user_id
                .map(|id| parse_id(&id, "user").unwrap_or_default()),
            status: input.status,
            from: input.from,
            to: input.to,
        };
        let args = page_args(first, &after, last, &before);
        sql_page!(
            ctx,
            args,
            |conn| queries::count_time_off(&mut conn, org, &filter),
            |window| queries::list_time_off(&mut conn, org, &filter, window)
        )
    }

    /// Rotation assignments from `from` to `to` (inclusive).
    async fn rotations(
        &self,
        ctx: &Context<'_>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> async_graphql::Result<Vec<RotationAssignment>> {
        let org = ctx.actor()?.organization_id;
        check_range(from, to).gql()?;
        let mut pooled = ctx.db().await?;
        queries::rotations_between(&mut pooled.conn(), org, from, to)
            .await
            .map_err(AppError::from)
            .gql()
    }

    /// The calendar: schedules overlapping `from .. to` (at most 62 days), by start,
    /// optionally of given people or events. Cancelled ones only when asked.
    async fn schedule(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        user_id: Option<ID>,
        work_event_id: Option<ID>,
        include_cancelled: Option<bool>,
    ) -> async_graphql::Result<Vec<Schedule>> {
        let org = ctx.actor()?.organization_id;
        check_instants(from, to).gql()?;
        let filter = ScheduleFilter {
            from: Some(Timestamp(from)),
            to: Some(Timestamp(to)),
            user_ids: user_id.map(|id| ids_of(&[id], "user")),
            work_event_ids: work_event_id.map(|id| ids_of(&[id], "work event")),
            include_cancelled: include_cancelled.unwrap_or(false),
        };
        let mut pooled = ctx.db().await?;
        queries::schedules_matching(&mut pooled.conn(), org, &filter)
            .await
            .map_err(AppError::from)
            .gql()
    }

    /// Per day from `from` to `to` (organization local dates): how many work events
    /// touch the day and which of them nobody is scheduled on yet.
    async fn coverage(
        &self,
        ctx: &Context<'_>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> async_graphql::Result<Vec<CoverageDay>> {
        let org = ctx.actor()?.organization_id;
        check_range(from, to).gql()?;
        let mut pooled = ctx.db().await?;
        let mut conn = pooled.conn();
        let tz = service::settings(&mut conn, org).await.gql()?.timezone;
        let (start, end) = (at(from, 0, tz), at(to + Duration::days(1), 0, tz));
        let events: Vec<WorkEvent> = queries::all_events(
            &mut conn,
            org,
            &WorkEventFilter {
                from: Some(Timestamp(start)),
                to: Some(Timestamp(end)),
                ..WorkEventFilter::default()
            },
        )
        .await
        .map_err(AppError::from)
        .gql()?
        .into_iter()
        .filter(|e| e.condition.is_schedulable())
        .collect();
        let ids: Vec<Id> = events.iter().map(|e| e.id).collect();
        let staffed: HashSet<Id> = queries::active_schedule_counts(&mut conn, org, &ids)
            .await
            .map_err(AppError::from)
            .gql()?
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(id, _)| id)
            .collect();
        Ok(from
            .iter_days()
            .take_while(|d| *d <= to)
            .map(|date| {
                let touching: Vec<&WorkEvent> = events
                    .iter()
                    .filter(|e| {
                        local_date(e.start_at.0, tz) <= date && date <= local_date(e.due_at.0, tz)
                    })
                    .collect();
                let unstaffed: Vec<WorkEvent> = touching
                    .iter()
                    .filter(|e| !staffed.contains(&e.id))
                    .map(|e| (*e).clone())
                    .collect();
                CoverageDay {
                    date,
                    total_events: touching.len() as i32,
                    staffed_events: (touching.len() - unstaffed.len()) as i32,
                    unstaffed_events: unstaffed,
                }
            })
            .collect())
    }

    /// Scheduling exceptions (conflicts, coverage gaps, availability problems, skill
    /// mismatches), newest first.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn schedule_conflicts(
        &self,
        ctx: &Context<'_>,
        filter: Option<ScheduleConflictFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, ScheduleException, Total>> {
        let org = ctx.actor()?.organization_id;
        let input = filter.unwrap_or_default();
        let filter = ExceptionFilter {
            run_id: input
                .run_id
                .map(|id| parse_id(&id, "run").unwrap_or_default()),
            resolved: input.resolved,
            from: input.from.map(Timestamp),
            to: input.to.map(Timestamp),
        };
        let args = page_args(first, &after, last, &before);
        sql_page!(
            ctx,
            args,
            |conn| queries::count_exceptions(&mut conn, org, &filter),
            |window| queries::list_exceptions(&mut conn, org, &filter, window)
        )
    }

    /// The proposals of an auto-scheduler run, by time; only unreviewed ones when
    /// `pendingOnly`.
    async fn schedule_proposals(
        &self,
        ctx: &Context<'_>,
        run_id: ID,
        pending_only: Option<bool>,
    ) -> async_graphql::Result<Vec<ScheduleProposal>> {
        let org = ctx.actor()?.organization_id;
        let id = parse_id(&run_id, "run").unwrap_or_default();
        let mut pooled = ctx.db().await?;
        queries::proposals_of_run(&mut pooled.conn(), org, id, pending_only.unwrap_or(false))
            .await
            .map_err(AppError::from)
            .gql()
    }
}

/// A calendar range of at most 62 days.
fn check_instants(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), AppError> {
    service::check_instant("from", from)?;
    service::check_instant("to", to)?;
    if to <= from {
        return Err(AppError::bad_input("to", "`to` must be after `from`"));
    }
    if to - from > Duration::days(service::MAX_RANGE_DAYS) {
        return Err(AppError::bad_input(
            "to",
            format!("a range covers at most {} days", service::MAX_RANGE_DAYS),
        ));
    }
    Ok(())
}

// ---- mutations -------------------------------------------------------------------

/// Input of `updateEmployee`; omitted fields are left unchanged, `null` clears.
#[derive(InputObject)]
pub struct UpdateEmployeeInput {
    pub user_id: ID,
    pub phone: MaybeUndefined<String>,
    pub hire_date: MaybeUndefined<NaiveDate>,
    pub termination_date: MaybeUndefined<NaiveDate>,
    /// False takes the person out of scheduling.
    pub active: Option<bool>,
    /// Replaces the skills.
    pub skills: Option<Vec<String>>,
    pub notes: MaybeUndefined<String>,
}

#[derive(SimpleObject)]
pub struct UpdateEmployeePayload {
    pub employee: Employee,
}

/// A work event to create or import.
#[derive(InputObject)]
pub struct WorkEventInput {
    /// The outside system's reference, unique in the organization; required by
    /// `importWorkEvents`, which upserts by it.
    pub external_ref: Option<String>,
    /// 1-200 characters.
    pub name: String,
    pub location: Option<String>,
    /// The earliest a schedule may start.
    pub start_at: DateTime<Utc>,
    /// The latest a schedule may end.
    pub due_at: DateTime<Utc>,
    /// 1-1440; 60 when omitted. Must fit in the window.
    pub estimated_minutes: Option<i32>,
    /// OTHER when omitted.
    pub event_type: Option<EventType>,
    /// UNSTAFFED when omitted (on import: left as it is for known events).
    pub condition: Option<EventCondition>,
    pub required_skills: Option<Vec<String>>,
}

impl From<WorkEventInput> for WorkEventFields {
    fn from(i: WorkEventInput) -> Self {
        WorkEventFields {
            external_ref: i.external_ref,
            name: i.name,
            location: i.location,
            start_at: i.start_at,
            due_at: i.due_at,
            estimated_minutes: i.estimated_minutes,
            event_type: i.event_type,
            condition: i.condition,
            required_skills: i.required_skills,
        }
    }
}

#[derive(InputObject)]
pub struct CreateWorkEventInput {
    pub event: WorkEventInput,
}

#[derive(SimpleObject)]
pub struct CreateWorkEventPayload {
    pub work_event: WorkEvent,
}

/// Input of `updateWorkEvent`; omitted fields are left unchanged.
#[derive(InputObject)]
pub struct UpdateWorkEventInput {
    pub id: ID,
    pub external_ref: Option<String>,
    pub name: Option<String>,
    /// `null` clears it.
    pub location: MaybeUndefined<String>,
    pub start_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub estimated_minutes: Option<i32>,
    pub event_type: Option<EventType>,
    pub condition: Option<EventCondition>,
    pub required_skills: Option<Vec<String>>,
}

#[derive(SimpleObject)]
pub struct UpdateWorkEventPayload {
    pub work_event: WorkEvent,
}

#[derive(InputObject)]
pub struct DeleteWorkEventInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct DeleteWorkEventPayload {
    pub deleted_work_event_id: ID,
}

/// Input of `importWorkEvents`: 1-1000 events, each with an `externalRef`.
#[derive(InputObject)]
pub struct ImportWorkEventsInput {
    pub events: Vec<WorkEventInput>,
}

#[derive(SimpleObject)]
pub struct ImportWorkEventsPayload {
    pub created: i32,
    pub updated: i32,
    pub unchanged: i32,
    /// The imported events, in input order.
    pub work_events: Vec<WorkEvent>,
}

/// Input of `addAvailabilityRule`. Members add their own; managers anyone's.
#[derive(InputObject)]
pub struct AddAvailabilityRuleInput {
    pub user_id: ID,
    /// 0 = Monday .. 6 = Sunday.
    pub day_of_week: i32,
    /// Organization local time, e.g. `09:00:00`.
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    /// Today when omitted.
    pub effective_from: Option<NaiveDate>,
    pub effective_to: Option<NaiveDate>,
}

#[derive(SimpleObject)]
pub struct AddAvailabilityRulePayload {
    pub availability_rule: AvailabilityRule,
}

#[derive(InputObject)]
pub struct DeleteAvailabilityRuleInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct DeleteAvailabilityRulePayload {
    pub deleted_availability_rule_id: ID,
}

/// Input of `setAvailabilityOverride`: replaces the person's override of that date.
#[derive(InputObject)]
pub struct SetAvailabilityOverrideInput {
    pub user_id: ID,
    pub date: NaiveDate,
    pub available: bool,
    /// Hours when available (both or neither); the usual hours when omitted.
    pub start_time: Option<NaiveTime>,
    pub end_time: Option<NaiveTime>,
    pub reason: Option<String>,
}

#[derive(SimpleObject)]
pub struct SetAvailabilityOverridePayload {
    pub availability_override: AvailabilityOverride,
}

#[derive(InputObject)]
pub struct DeleteAvailabilityOverrideInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct DeleteAvailabilityOverridePayload {
    pub deleted_availability_override_id: ID,
}

/// Input of `requestTimeOff`: members request their own; managers anyone's.
#[derive(InputObject)]
pub struct RequestTimeOffInput {
    /// The caller when omitted.
    pub user_id: Option<ID>,
    pub start_date: NaiveDate,
    /// Inclusive.
    pub end_date: NaiveDate,
    /// E.g. Vacation, Sick, Personal.
    pub reason: Option<String>,
    pub notes: Option<String>,
}

#[derive(SimpleObject)]
pub struct RequestTimeOffPayload {
    pub time_off_request: TimeOffRequest,
}

/// Input of `decideTimeOff`. Needs `schedules.write`.
#[derive(InputObject)]
pub struct DecideTimeOffInput {
    pub id: ID,
    pub approve: bool,
    pub notes: Option<String>,
}

#[derive(SimpleObject)]
pub struct DecideTimeOffPayload {
    pub time_off_request: TimeOffRequest,
    /// Schedules the approved time off now overlaps, flagged for a manager.
    pub exceptions: Vec<ScheduleException>,
}

/// Input of `scheduleEmployee`.
#[derive(InputObject)]
pub struct ScheduleEmployeeInput {
    pub work_event_id: ID,
    pub user_id: ID,
    /// The start; the schedule lasts the event's estimated minutes.
    pub scheduled_at: DateTime<Utc>,
    pub notes: Option<String>,
    /// Book even though the person lacks required skills (recorded as a warning).
    pub force: Option<bool>,
}

#[derive(SimpleObject)]
pub struct ScheduleEmployeePayload {
    pub schedule: Schedule,
    pub work_event: WorkEvent,
    /// Warnings recorded with the booking.
    pub exceptions: Vec<ScheduleException>,
}

/// Input of `updateSchedule`; omitted fields are left unchanged.
#[derive(InputObject)]
pub struct UpdateScheduleInput {
    pub id: ID,
    /// Reassign to this person (every rule is checked again).
    pub user_id: Option<ID>,
    /// Move to this start (every rule is checked again).
    pub scheduled_at: Option<DateTime<Utc>>,
    pub status: Option<ScheduleStatus>,
    /// `null` clears them.
    pub notes: MaybeUndefined<String>,
    pub force: Option<bool>,
}

#[derive(SimpleObject)]
pub struct UpdateSchedulePayload {
    pub schedule: Schedule,
    pub work_event: WorkEvent,
    pub exceptions: Vec<ScheduleException>,
}

#[derive(InputObject)]
pub struct CancelScheduleInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct CancelSchedulePayload {
    pub schedule: Schedule,
    /// The event, unstaffed again when nobody else is on it.
    pub work_event: WorkEvent,
}

/// Input of `assignRotation`: one person per rotation per day.
#[derive(InputObject)]
pub struct AssignRotationInput {
    pub date: NaiveDate,
    pub rotation_type: RotationType,
    pub user_id: ID,
}

#[derive(SimpleObject)]
pub struct AssignRotationPayload {
    pub rotation_assignment: RotationAssignment,
}

#[derive(InputObject)]
pub struct UnassignRotationInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct UnassignRotationPayload {
    pub deleted_rotation_assignment_id: ID,
}

/// What the auto-scheduler may be told for one run.
#[derive(InputObject, Default)]
pub struct AutoSchedulerSettingsInput {
    /// The organization's setting (or 2) when omitted.
    pub max_events_per_employee_per_day: Option<i32>,
    /// True when omitted.
    pub respect_rotations: Option<bool>,
    /// True when omitted: nobody is proposed without an event's required skills.
    pub require_skills: Option<bool>,
}

/// Input of `runAutoScheduler`.
#[derive(InputObject)]
pub struct RunAutoSchedulerInput {
    /// First day (organization local date).
    pub from: NaiveDate,
    /// Last day, inclusive; at most 62 days after `from`.
    pub to: NaiveDate,
    pub settings: Option<AutoSchedulerSettingsInput>,
}

#[derive(SimpleObject)]
pub struct RunAutoSchedulerPayload {
    /// The PENDING run of kind SCHEDULER; watch it with `runUpdates`.
    pub run: Run,
}

#[derive(InputObject)]
pub struct ApproveProposalInput {
    pub id: ID,
    /// Approve even though the person lacks required skills.
    pub force: Option<bool>,
}

#[derive(SimpleObject)]
pub struct ApproveProposalPayload {
    pub proposal: ScheduleProposal,
    pub schedule: Schedule,
}

#[derive(InputObject)]
pub struct RejectProposalInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct RejectProposalPayload {
    pub proposal: ScheduleProposal,
}

#[derive(InputObject)]
pub struct ApproveAllProposalsInput {
    pub run_id: ID,
}

/// A proposal that a rule refuses now.
#[derive(SimpleObject)]
pub struct RefusedProposal {
    pub proposal: ScheduleProposal,
    /// The rule, as in `extensions.rule` of a refused booking.
    pub rule: Option<String>,
    pub message: String,
}

#[derive(SimpleObject)]
pub struct ApproveAllProposalsPayload {
    pub approved: Vec<ScheduleProposal>,
    pub schedules: Vec<Schedule>,
    /// Proposals the rules refuse now (left unreviewed).
    pub refused: Vec<RefusedProposal>,
}

/// Input of `checkIn` and `checkOut`: the scheduled person for themselves, or a
/// manager.
#[derive(InputObject)]
pub struct CheckInInput {
    pub schedule_id: ID,
    /// MANUAL when omitted.
    pub method: Option<CheckMethod>,
}

#[derive(InputObject)]
pub struct CheckOutInput {
    pub schedule_id: ID,
    pub method: Option<CheckMethod>,
}

/// Input of `recordAttendance` (managers): e.g. ABSENT or EXCUSED.
#[derive(InputObject)]
pub struct RecordAttendanceInput {
    pub schedule_id: ID,
    pub status: AttendanceStatus,
    pub notes: Option<String>,
}

#[derive(SimpleObject)]
pub struct AttendancePayload {
    pub attendance: Attendance,
}

#[derive(InputObject)]
pub struct ResolveScheduleConflictInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct ResolveScheduleConflictPayload {
    pub exception: ScheduleException,
}

#[derive(Default)]
pub struct SchedulingMutation;

#[Object]
impl SchedulingMutation {
    /// Edits a user's employee profile. Needs `schedules.write`.
    async fn update_employee(
        &self,
        ctx: &Context<'_>,
        input: UpdateEmployeeInput,
    ) -> async_graphql::Result<UpdateEmployeePayload> {
        let actor = ctx.actor()?;
        let user_id = parse_id(&input.user_id, "user").gql()?;
        let changes = EmployeeChanges {
            phone: maybe(input.phone, |v| v),
            hire_date: maybe(input.hire_date, |v| v),
            termination_date: maybe(input.termination_date, |v| v),
            active: input.active,
            skills: input.skills,
            notes: maybe(input.notes, |v| v),
        };
        let mut pooled = ctx.db().await?;
        let (user, profile) = service::update_employee(&mut pooled.conn(), actor, user_id, changes)
            .await
            .gql()?;
        Ok(UpdateEmployeePayload {
            employee: Employee { user, profile },
        })
    }

    /// Creates a work event. Needs `schedules.write`.
    async fn create_work_event(
        &self,
        ctx: &Context<'_>,
        input: CreateWorkEventInput,
    ) -> async_graphql::Result<CreateWorkEventPayload> {
        let actor = ctx.actor()?;
        let mut pooled = ctx.db().await?;
        let work_event = service::create_work_event(&mut pooled.conn(), actor, input.event.into())
            .await
            .gql()?;
        Ok(CreateWorkEventPayload { work_event })
    }

    /// Changes a work event (its condition too). Needs `schedules.write`.
    async fn update_work_event(
        &self,
        ctx: &Context<'_>,
        input: UpdateWorkEventInput,
    ) -> async_graphql::Result<UpdateWorkEventPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "work event").gql()?;
        let changes = WorkEventChanges {
            external_ref: input.external_ref,
            name: input.name,
            location: maybe(input.location, |v| v),
            start_at: input.start_at,
            due_at: input.due_at,
            estimated_minutes: input.estimated_minutes,
            event_type: input.event_type,
            condition: input.condition,
            required_skills: input.required_skills,
        };
        let mut pooled = ctx.db().await?;
        let work_event = service::update_work_event(&mut pooled.conn(), actor, id, changes)
            .await
            .gql()?;
        Ok(UpdateWorkEventPayload { work_event })
    }

    /// Deletes a work event nobody is scheduled on (CONFLICT otherwise). Needs
    /// `schedules.write`.
    async fn delete_work_event(
        &self,
        ctx: &Context<'_>,
        input: DeleteWorkEventInput,
    ) -> async_graphql::Result<DeleteWorkEventPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "work event").gql()?;
        let mut pooled = ctx.db().await?;
        service::delete_work_event(&mut pooled.conn(), actor, id)
            .await
            .gql()?;
        Ok(DeleteWorkEventPayload {
            deleted_work_event_id: input.id,
        })
    }

    /// Upserts work events by `externalRef`, all or nothing, and reports what changed.
    /// Needs `schedules.write`.
    async fn import_work_events(
        &self,
        ctx: &Context<'_>,
        input: ImportWorkEventsInput,
    ) -> async_graphql::Result<ImportWorkEventsPayload> {
        let actor = ctx.actor()?;
        let items = input.events.into_iter().map(Into::into).collect();
        let mut pooled = ctx.db().await?;
        let outcome = service::import_work_events(&mut pooled.conn(), actor, items)
            .await
            .gql()?;
        Ok(ImportWorkEventsPayload {
            created: outcome.created,
            updated: outcome.updated,
            unchanged: outcome.unchanged,
            work_events: outcome.events,
        })
    }

    /// Adds a weekly availability rule.
    async fn add_availability_rule(
        &self,
        ctx: &Context<'_>,
        input: AddAvailabilityRuleInput,
    ) -> async_graphql::Result<AddAvailabilityRulePayload> {
        let actor = ctx.actor()?;
        let fields = RuleFields {
            user_id: parse_id(&input.user_id, "user").gql()?,
            day_of_week: input.day_of_week,
            start_time: input.start_time,
            end_time: input.end_time,
            effective_from: input.effective_from,
            effective_to: input.effective_to,
        };
        let mut pooled = ctx.db().await?;
        let availability_rule = service::add_availability_rule(&mut pooled.conn(), actor, fields)
            .await
            .gql()?;
        Ok(AddAvailabilityRulePayload { availability_rule })
    }

    async fn delete_availability_rule(
        &self,
        ctx: &Context<'_>,
        input: DeleteAvailabilityRuleInput,
    ) -> async_graphql::Result<DeleteAvailabilityRulePayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "availability rule").gql()?;
        let mut pooled = ctx.db().await?;
        service::delete_availability_rule(&mut pooled.conn(), actor, id)
            .await
            .gql()?;
        Ok(DeleteAvailabilityRulePayload {
            deleted_availability_rule_id: input.id,
        })
    }

    /// Sets a date's availability for a person, replacing an earlier override.
    async fn set_availability_override(
        &self,
        ctx: &Context<'_>,
        input: SetAvailabilityOverrideInput,
    ) -> async_graphql::Result<SetAvailabilityOverridePayload> {
        let actor = ctx.actor()?;
        let fields = OverrideFields {
            user_id: parse_id(&input.user_id, "user").gql()?,
            date: input.date,
            available: input.available,
            start_time: input.start_time,
            end_time: input.end_time,
            reason: input.reason,
        };
        let mut pooled = ctx.db().await?;
        let availability_override =
            service::set_availability_override(&mut pooled.conn(), actor, fields)
                .await
                .gql()?;
        Ok(SetAvailabilityOverridePayload {
            availability_override,
        })
    }

    async fn delete_availability_override(
        &self,
        ctx: &Context<'_>,
        input: DeleteAvailabilityOverrideInput,
    ) -> async_graphql::Result<DeleteAvailabilityOverridePayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "availability override").gql()?;
        let mut pooled = ctx.db().await?;
        service::delete_availability_override(&mut pooled.conn(), actor, id)
            .await
            .gql()?;
        Ok(DeleteAvailabilityOverridePayload {
            deleted_availability_override_id: input.id,
        })
    }

    /// Requests time off (pending until a manager decides). CONFLICT when another
    /// pending or approved request of the person overlaps.
    async fn request_time_off(
        &self,
        ctx: &Context<'_>,
        input: RequestTimeOffInput,
    ) -> async_graphql::Result<RequestTimeOffPayload> {
        let actor = ctx.actor()?;
        let user_id = match &input.user_id {
            Some(id) => parse_id(id, "user").gql()?,
            None => actor.user_id,
        };
        let fields = TimeOffFields {
            user_id,
            start_date: input.start_date,
            end_date: input.end_date,
            reason: input.reason,
            notes: input.notes,
        };
        let mut pooled = ctx.db().await?;
        let time_off_request = service::request_time_off(&mut pooled.conn(), actor, fields)
            .await
            .gql()?;
        Ok(RequestTimeOffPayload { time_off_request })
    }

    /// Approves or denies a pending time-off request (CONFLICT once decided).
    async fn decide_time_off(
        &self,
        ctx: &Context<'_>,
        input: DecideTimeOffInput,
    ) -> async_graphql::Result<DecideTimeOffPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "time off request").gql()?;
        let mut pooled = ctx.db().await?;
        let (time_off_request, exceptions) =
            service::decide_time_off(&mut pooled.conn(), actor, id, input.approve, input.notes)
                .await
                .gql()?;
        Ok(DecideTimeOffPayload {
            time_off_request,
            exceptions,
        })
    }

    /// Books a person on a work event. Refusals name the rule in `extensions.rule`:
    /// `event_window` and `skills` (BAD_USER_INPUT); `event_condition`, `time_off`,
    /// `availability`, `double_booking`, `daily_limit` and `event_slot` (CONFLICT);
    /// `employment` (BAD_USER_INPUT). Needs `schedules.write`.
    async fn schedule_employee(
        &self,
        ctx: &Context<'_>,
        input: ScheduleEmployeeInput,
    ) -> async_graphql::Result<ScheduleEmployeePayload> {
        let actor = ctx.actor()?;
        let request = BookingRequest {
            work_event_id: parse_id(&input.work_event_id, "work event").gql()?,
            user_id: parse_id(&input.user_id, "user").gql()?,
            scheduled_at: input.scheduled_at,
            notes: input.notes,
            force: input.force.unwrap_or(false),
            max_per_day: None,
            sole: false,
        };
        let mut pooled = ctx.db().await?;
        let booked = service::schedule_employee(&mut pooled.conn(), actor, request)
            .await
            .gql()?;
        publish_schedule(ctx, &booked.schedule, ChangeKind::Created);
        let Booked {
            schedule,
            exceptions,
            event,
        } = booked;
        Ok(ScheduleEmployeePayload {
            schedule,
            work_event: event,
            exceptions,
        })
    }

    /// Moves, reassigns or re-states a schedule. Needs `schedules.write`.
    async fn update_schedule(
        &self,
        ctx: &Context<'_>,
        input: UpdateScheduleInput,
    ) -> async_graphql::Result<UpdateSchedulePayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "schedule").gql()?;
        let changes = ScheduleChanges {
            user_id: input
                .user_id
                .as_ref()
                .map(|u| parse_id(u, "user"))
                .transpose()
                .gql()?,
            scheduled_at: input.scheduled_at,
            status: input.status,
            notes: maybe(input.notes, |v| v),
            force: input.force.unwrap_or(false),
        };
        let mut pooled = ctx.db().await?;
        let booked = service::update_schedule(&mut pooled.conn(), actor, id, changes)
            .await
            .gql()?;
        publish_schedule(ctx, &booked.schedule, ChangeKind::Updated);
        Ok(UpdateSchedulePayload {
            schedule: booked.schedule,
            work_event: booked.event,
            exceptions: booked.exceptions,
        })
    }

    /// Cancels a schedule, freeing the person and the slot. Needs `schedules.write`.
    async fn cancel_schedule(
        &self,
        ctx: &Context<'_>,
        input: CancelScheduleInput,
    ) -> async_graphql::Result<CancelSchedulePayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "schedule").gql()?;
        let changes = ScheduleChanges {
            status: Some(ScheduleStatus::Cancelled),
            ..ScheduleChanges::default()
        };
        let mut pooled = ctx.db().await?;
        let booked = service::update_schedule(&mut pooled.conn(), actor, id, changes)
            .await
            .gql()?;
        publish_schedule(ctx, &booked.schedule, ChangeKind::Deleted);
        Ok(CancelSchedulePayload {
            schedule: booked.schedule,
            work_event: booked.event,
        })
    }

    /// Gives a day's rotation to a person, replacing whoever had it. Needs
    /// `schedules.write`.
    async fn assign_rotation(
        &self,
        ctx: &Context<'_>,
        input: AssignRotationInput,
    ) -> async_graphql::Result<AssignRotationPayload> {
        let actor = ctx.actor()?;
        let user_id = parse_id(&input.user_id, "user").gql()?;
        let mut pooled = ctx.db().await?;
        let rotation_assignment = service::assign_rotation(
            &mut pooled.conn(),
            actor,
            input.date,
            input.rotation_type,
            user_id,
        )
        .await
        .gql()?;
        Ok(AssignRotationPayload {
            rotation_assignment,
        })
    }

    async fn unassign_rotation(
        &self,
        ctx: &Context<'_>,
        input: UnassignRotationInput,
    ) -> async_graphql::Result<UnassignRotationPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "rotation assignment").gql()?;
        let mut pooled = ctx.db().await?;
        service::unassign_rotation(&mut pooled.conn(), actor, id)
            .await
            .gql()?;
        Ok(UnassignRotationPayload {
            deleted_rotation_assignment_id: input.id,
        })
    }

    /// Starts the auto-scheduler over a range of days: a run of kind SCHEDULER, one
    /// step per day, streamed on `runUpdates` like any run. It writes proposals for
    /// unstaffed events and exceptions for those it cannot staff. Needs
    /// `schedules.write`.
    async fn run_auto_scheduler(
        &self,
        ctx: &Context<'_>,
        input: RunAutoSchedulerInput,
    ) -> async_graphql::Result<RunAutoSchedulerPayload> {
        let actor = ctx.actor()?;
        let settings = input.settings.unwrap_or_default();
        let overrides = PartialSettings {
            max_events_per_employee_per_day: settings.max_events_per_employee_per_day,
            respect_rotations: settings.respect_rotations,
            require_skills: settings.require_skills,
        };
        let mut pooled = ctx.db().await?;
        let state = ctx.state();
        let (run, events) = autoscheduler::start(
            &mut pooled.conn(),
            &state.bus,
            actor,
            input.from,
            input.to,
            overrides,
        )
        .await
        .gql()?;
        state.bus.publish_runs(events);
        state.runs.wake();
        Ok(RunAutoSchedulerPayload { run })
    }

    /// Turns a proposal into a schedule, checking every rule again now. Needs
    /// `schedules.write`.
    async fn approve_proposal(
        &self,
        ctx: &Context<'_>,
        input: ApproveProposalInput,
    ) -> async_graphql::Result<ApproveProposalPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "schedule proposal").gql()?;
        let mut pooled = ctx.db().await?;
        let (proposal, booked) =
            service::approve_proposal(&mut pooled.conn(), actor, id, input.force.unwrap_or(false))
                .await
                .gql()?;
        publish_schedule(ctx, &booked.schedule, ChangeKind::Created);
        Ok(ApproveProposalPayload {
            proposal,
            schedule: booked.schedule,
        })
    }

    async fn reject_proposal(
        &self,
        ctx: &Context<'_>,
        input: RejectProposalInput,
    ) -> async_graphql::Result<RejectProposalPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "schedule proposal").gql()?;
        let mut pooled = ctx.db().await?;
        let proposal = service::reject_proposal(&mut pooled.conn(), actor, id)
            .await
            .gql()?;
        Ok(RejectProposalPayload { proposal })
    }

    /// Approves every unreviewed proposal of an auto-scheduler run, each checked
    /// again; the ones a rule refuses now are listed and left unreviewed.
    async fn approve_all_proposals(
        &self,
        ctx: &Context<'_>,
        input: ApproveAllProposalsInput,
    ) -> async_graphql::Result<ApproveAllProposalsPayload> {
        let actor = ctx.actor()?;
        let run_id = parse_id(&input.run_id, "run").gql()?;
        let mut pooled = ctx.db().await?;
        let (approved, refused) = service::approve_all_proposals(&mut pooled.conn(), actor, run_id)
            .await
            .gql()?;
        let mut payload = ApproveAllProposalsPayload {
            approved: Vec::with_capacity(approved.len()),
            schedules: Vec::with_capacity(approved.len()),
            refused: Vec::with_capacity(refused.len()),
        };
        for (proposal, booked) in approved {
            publish_schedule(ctx, &booked.schedule, ChangeKind::Created);
            payload.approved.push(proposal);
            payload.schedules.push(booked.schedule);
        }
        for r in refused {
            let rule = match &r.error {
                AppError::Rule { rule, .. } => Some(rule.to_string()),
                _ => None,
            };
            payload.refused.push(RefusedProposal {
                proposal: r.proposal,
                rule,
                message: r.error.public_message(),
            });
        }
        Ok(payload)
    }

    /// Checks in to a schedule (sets PRESENT).
    async fn check_in(
        &self,
        ctx: &Context<'_>,
        input: CheckInInput,
    ) -> async_graphql::Result<AttendancePayload> {
        let method = input.method.unwrap_or(CheckMethod::Manual);
        attendance(
            ctx,
            &input.schedule_id,
            AttendanceChange::CheckIn { method },
        )
        .await
    }

    /// Checks out of a schedule (after checking in).
    async fn check_out(
        &self,
        ctx: &Context<'_>,
        input: CheckOutInput,
    ) -> async_graphql::Result<AttendancePayload> {
        let method = input.method.unwrap_or(CheckMethod::Manual);
        attendance(
            ctx,
            &input.schedule_id,
            AttendanceChange::CheckOut { method },
        )
        .await
    }

    /// Records a schedule's attendance status. Needs `schedules.write`.
    async fn record_attendance(
        &self,
        ctx: &Context<'_>,
        input: RecordAttendanceInput,
    ) -> async_graphql::Result<AttendancePayload> {
        let change = AttendanceChange::Status {
            status: input.status,
            notes: input.notes,
        };
        attendance(ctx, &input.schedule_id, change).await
    }

    /// Marks a scheduling exception resolved. Needs `schedules.write`.
    async fn resolve_schedule_conflict(
        &self,
        ctx: &Context<'_>,
        input: ResolveScheduleConflictInput,
    ) -> async_graphql::Result<ResolveScheduleConflictPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "schedule exception").gql()?;
        let mut pooled = ctx.db().await?;
        let exception = service::resolve_exception(&mut pooled.conn(), actor, id)
            .await
            .gql()?;
        Ok(ResolveScheduleConflictPayload { exception })
    }
}

async fn attendance(
    ctx: &Context<'_>,
    schedule_id: &ID,
    change: AttendanceChange,
) -> async_graphql::Result<AttendancePayload> {
    let actor = ctx.actor()?;
    let id = parse_id(schedule_id, "schedule").gql()?;
    let mut pooled = ctx.db().await?;
    let attendance = service::record_attendance(&mut pooled.conn(), actor, id, change)
        .await
        .gql()?;
    Ok(AttendancePayload { attendance })
}
