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
    /// Only events of this type.
    pub event_type: Option<EventType>,
    /// Only events in this condition.
    pub condition: Option<EventCondition>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
}

/// Filters of `timeOffRequests`.
#[derive(InputObject, Default)]
pub struct TimeOffFilterInput {
    /// Only this person's requests.
    pub user_id: Option<ID>,
    /// Only requests in this status.
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
    /// Only resolved (or only unresolved) exceptions.
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
        #[graphql(
            desc = "Only employees matching every given condition; all of them when omitted."
        )]
        filter: Option<EmployeeFilterInput>,
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
    async fn employee(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's `id`.")] user_id: ID,
    ) -> async_graphql::Result<Employee> {
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
        #[graphql(desc = "Only events matching every given condition; all of them when omitted.")]
        filter: Option<WorkEventFilterInput>,
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

    /// A work event of the organization.
    async fn work_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event's `id`; other organizations' events read as NOT_FOUND.")]
        id: ID,
    ) -> async_graphql::Result<WorkEvent> {
        super::context::load_by_id(ctx, &id, "work event", WorkEventKey).await
    }

    /// Whether and when a person can work, per day from `from` to `to` (inclusive,
    /// organization local dates, at most 62 days), combining weekly rules, date
    /// overrides and approved time off.
    async fn availability(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The person.")] user_id: ID,
        #[graphql(desc = "The first day (organization local date).")] from: NaiveDate,
        #[graphql(desc = "The last day (inclusive; at most 62 days in all).")] to: NaiveDate,
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
        #[graphql(desc = "The person.")] user_id: ID,
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
        #[graphql(desc = "The person.")] user_id: ID,
        #[graphql(desc = "The first day (organization local date).")] from: NaiveDate,
        #[graphql(desc = "The last day (inclusive; at most 62 days in all).")] to: NaiveDate,
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
        #[graphql(
            desc = "Only requests matching every given condition; all of them when omitted."
        )]
        filter: Option<TimeOffFilterInput>,
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
        #[graphql(desc = "The first day (organization local date).")] from: NaiveDate,
        #[graphql(desc = "The last day (inclusive; at most 62 days in all).")] to: NaiveDate,
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
        #[graphql(desc = "Start of the range.")] from: DateTime<Utc>,
        #[graphql(desc = "End of the range: after `from`, within 62 days.")] to: DateTime<Utc>,
        #[graphql(desc = "Only this person's schedules.")] user_id: Option<ID>,
        #[graphql(desc = "Only this event's schedules.")] work_event_id: Option<ID>,
        #[graphql(desc = "Also return cancelled schedules; false when omitted.")]
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
        #[graphql(desc = "The first day (organization local date).")] from: NaiveDate,
        #[graphql(desc = "The last day (inclusive; at most 62 days in all).")] to: NaiveDate,
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
        #[graphql(
            desc = "Only exceptions matching every given condition; all of them when omitted."
        )]
        filter: Option<ScheduleConflictFilterInput>,
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
        #[graphql(desc = "The auto-scheduler run.")] run_id: ID,
        #[graphql(desc = "Only proposals not yet approved or rejected; false when omitted.")]
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
    /// The person whose profile to change.
    pub user_id: ID,
    /// Contact number; `null` clears it.
    pub phone: MaybeUndefined<String>,
    /// First day the person may be scheduled; `null` removes the limit.
    pub hire_date: MaybeUndefined<NaiveDate>,
    /// The day employment ends (the person may be scheduled only before it); `null` clears it.
    pub termination_date: MaybeUndefined<NaiveDate>,
    /// False takes the person out of scheduling.
    pub active: Option<bool>,
    /// Replaces the skills.
    pub skills: Option<Vec<String>>,
    /// Notes for schedulers; `null` clears them.
    pub notes: MaybeUndefined<String>,
}

/// The changed employee.
#[derive(SimpleObject)]
pub struct UpdateEmployeePayload {
    /// The employee as they are now.
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
    /// Where the work happens, at most 200 characters.
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
    /// Skills a person needs to be scheduled on it; none when omitted.
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

/// Input of `createWorkEvent`.
#[derive(InputObject)]
pub struct CreateWorkEventInput {
    /// The event to create.
    pub event: WorkEventInput,
}

/// The created event.
#[derive(SimpleObject)]
pub struct CreateWorkEventPayload {
    /// The new event.
    pub work_event: WorkEvent,
}

/// Input of `updateWorkEvent`; omitted fields are left unchanged.
#[derive(InputObject)]
pub struct UpdateWorkEventInput {
    /// The event to change.
    pub id: ID,
    /// The outside system's reference, unique in the organization.
    pub external_ref: Option<String>,
    /// 1-200 characters.
    pub name: Option<String>,
    /// `null` clears it.
    pub location: MaybeUndefined<String>,
    /// The earliest a schedule may start.
    pub start_at: Option<DateTime<Utc>>,
    /// The latest a schedule may end.
    pub due_at: Option<DateTime<Utc>>,
    /// 1-1440, and it must fit in the window.
    pub estimated_minutes: Option<i32>,
    /// The kind of work.
    pub event_type: Option<EventType>,
    /// Where the event stands.
    pub condition: Option<EventCondition>,
    /// Replaces the required skills.
    pub required_skills: Option<Vec<String>>,
}

/// The changed event.
#[derive(SimpleObject)]
pub struct UpdateWorkEventPayload {
    /// The event as it is now.
    pub work_event: WorkEvent,
}

/// Input of `deleteWorkEvent`.
#[derive(InputObject)]
pub struct DeleteWorkEventInput {
    /// The event to delete.
    pub id: ID,
}

/// The deleted event.
#[derive(SimpleObject)]
pub struct DeleteWorkEventPayload {
    /// The id of the deleted event.
    pub deleted_work_event_id: ID,
}

/// Input of `importWorkEvents`: 1-1000 events, each with an `externalRef`.
#[derive(InputObject)]
pub struct ImportWorkEventsInput {
    /// The events, 1-1000, each with an `externalRef`; all are stored or none.
    pub events: Vec<WorkEventInput>,
}

/// What an import changed.
#[derive(SimpleObject)]
pub struct ImportWorkEventsPayload {
    /// Events that were new.
    pub created: i32,
    /// Known events that changed.
    pub updated: i32,
    /// Known events that were already as given.
    pub unchanged: i32,
    /// The imported events, in input order.
    pub work_events: Vec<WorkEvent>,
}

/// Input of `addAvailabilityRule`. Members add their own; managers anyone's.
#[derive(InputObject)]
pub struct AddAvailabilityRuleInput {
    /// The person whose pattern it is.
    pub user_id: ID,
    /// 0 = Monday .. 6 = Sunday.
    pub day_of_week: i32,
    /// Organization local time, e.g. `09:00:00`.
    pub start_time: NaiveTime,
    /// Organization local time, after `startTime`.
    pub end_time: NaiveTime,
    /// Today when omitted.
    pub effective_from: Option<NaiveDate>,
    /// The last day the pattern holds; open-ended when omitted.
    pub effective_to: Option<NaiveDate>,
}

/// The added rule.
#[derive(SimpleObject)]
pub struct AddAvailabilityRulePayload {
    /// The new rule.
    pub availability_rule: AvailabilityRule,
}

/// Input of `deleteAvailabilityRule`.
#[derive(InputObject)]
pub struct DeleteAvailabilityRuleInput {
    /// The rule to delete.
    pub id: ID,
}

/// The deleted rule.
#[derive(SimpleObject)]
pub struct DeleteAvailabilityRulePayload {
    /// The id of the deleted rule.
    pub deleted_availability_rule_id: ID,
}

/// Input of `setAvailabilityOverride`: replaces the person's override of that date.
#[derive(InputObject)]
pub struct SetAvailabilityOverrideInput {
    /// The person whose day it is.
    pub user_id: ID,
    /// The day, organization local date.
    pub date: NaiveDate,
    /// Whether the person can work at all that day.
    pub available: bool,
    /// Hours when available (both or neither); the usual hours when omitted.
    pub start_time: Option<NaiveTime>,
    /// End of the hours when available; give it with `startTime`.
    pub end_time: Option<NaiveTime>,
    /// Why the day differs, at most 500 characters.
    pub reason: Option<String>,
}

/// The stored override.
#[derive(SimpleObject)]
pub struct SetAvailabilityOverridePayload {
    /// The override, new or replaced.
    pub availability_override: AvailabilityOverride,
}

/// Input of `deleteAvailabilityOverride`.
#[derive(InputObject)]
pub struct DeleteAvailabilityOverrideInput {
    /// The override to delete.
    pub id: ID,
}

/// The deleted override.
#[derive(SimpleObject)]
pub struct DeleteAvailabilityOverridePayload {
    /// The id of the deleted override.
    pub deleted_availability_override_id: ID,
}

/// Input of `requestTimeOff`: members request their own; managers anyone's.
#[derive(InputObject)]
pub struct RequestTimeOffInput {
    /// The caller when omitted.
    pub user_id: Option<ID>,
    /// The first day off.
    pub start_date: NaiveDate,
    /// Inclusive.
    pub end_date: NaiveDate,
    /// E.g. Vacation, Sick, Personal.
    pub reason: Option<String>,
    /// Notes for the manager, at most 2000 characters.
    pub notes: Option<String>,
}

/// The stored request.
#[derive(SimpleObject)]
pub struct RequestTimeOffPayload {
    /// The new request, PENDING.
    pub time_off_request: TimeOffRequest,
}

/// Input of `decideTimeOff`. Needs `schedules.write`.
#[derive(InputObject)]
pub struct DecideTimeOffInput {
    /// The request to decide; it must be PENDING.
    pub id: ID,
    /// True approves, false denies.
    pub approve: bool,
    /// Notes for the requester, at most 2000 characters; they replace the request's notes.
    pub notes: Option<String>,
}

/// The decided request.
#[derive(SimpleObject)]
pub struct DecideTimeOffPayload {
    /// The request, APPROVED or DENIED.
    pub time_off_request: TimeOffRequest,
    /// Schedules the approved time off now overlaps, flagged for a manager.
    pub exceptions: Vec<ScheduleException>,
}

/// Input of `scheduleEmployee`.
#[derive(InputObject)]
pub struct ScheduleEmployeeInput {
    /// The event to book.
    pub work_event_id: ID,
    /// The person to book.
    pub user_id: ID,
    /// The start; the schedule lasts the event's estimated minutes.
    pub scheduled_at: DateTime<Utc>,
    /// Notes for the person booked, at most 2000 characters.
    pub notes: Option<String>,
    /// Book even though the person lacks required skills (recorded as a warning).
    pub force: Option<bool>,
}

/// The booking made.
#[derive(SimpleObject)]
pub struct ScheduleEmployeePayload {
    /// The new schedule, PENDING.
    pub schedule: Schedule,
    /// The event, SCHEDULED.
    pub work_event: WorkEvent,
    /// Warnings recorded with the booking.
    pub exceptions: Vec<ScheduleException>,
}

/// Input of `updateSchedule`; omitted fields are left unchanged.
#[derive(InputObject)]
pub struct UpdateScheduleInput {
    /// The schedule to change.
    pub id: ID,
    /// Reassign to this person (every rule is checked again).
    pub user_id: Option<ID>,
    /// Move to this start (every rule is checked again).
    pub scheduled_at: Option<DateTime<Utc>>,
    /// The new status; CANCELLED frees the person and the slot.
    pub status: Option<ScheduleStatus>,
    /// `null` clears them.
    pub notes: MaybeUndefined<String>,
    /// Keep a reassignment or move even though the person lacks required skills.
    pub force: Option<bool>,
}

/// The changed booking.
#[derive(SimpleObject)]
pub struct UpdateSchedulePayload {
    /// The schedule as it is now.
    pub schedule: Schedule,
    /// The event booked.
    pub work_event: WorkEvent,
    /// Warnings recorded with the change.
    pub exceptions: Vec<ScheduleException>,
}

/// Input of `cancelSchedule`.
#[derive(InputObject)]
pub struct CancelScheduleInput {
    /// The schedule to cancel.
    pub id: ID,
}

/// The cancelled booking.
#[derive(SimpleObject)]
pub struct CancelSchedulePayload {
    /// The schedule, CANCELLED.
    pub schedule: Schedule,
    /// The event, unstaffed again when nobody else is on it.
    pub work_event: WorkEvent,
}

/// Input of `assignRotation`: one person per rotation per day.
#[derive(InputObject)]
pub struct AssignRotationInput {
    /// The day, organization local date.
    pub date: NaiveDate,
    /// Which rotation.
    pub rotation_type: RotationType,
    /// The person to hold it; replaces whoever held it that day.
    pub user_id: ID,
}

/// The stored assignment.
#[derive(SimpleObject)]
pub struct AssignRotationPayload {
    /// The assignment, new or replaced.
    pub rotation_assignment: RotationAssignment,
}

/// Input of `unassignRotation`.
#[derive(InputObject)]
pub struct UnassignRotationInput {
    /// The assignment to remove.
    pub id: ID,
}

/// The removed assignment.
#[derive(SimpleObject)]
pub struct UnassignRotationPayload {
    /// The id of the removed assignment.
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
    /// Limits for this run; the organization's settings when omitted.
    pub settings: Option<AutoSchedulerSettingsInput>,
}

/// The started auto-scheduler run.
#[derive(SimpleObject)]
pub struct RunAutoSchedulerPayload {
    /// The PENDING run of kind SCHEDULER; watch it with `runUpdates`.
    pub run: Run,
}

/// Input of `approveProposal`.
#[derive(InputObject)]
pub struct ApproveProposalInput {
    /// The proposal to approve; it is booked like `scheduleEmployee`.
    pub id: ID,
    /// Approve even though the person lacks required skills.
    pub force: Option<bool>,
}

/// An approved proposal and its booking.
#[derive(SimpleObject)]
pub struct ApproveProposalPayload {
    /// The proposal, reviewed and approved.
    pub proposal: ScheduleProposal,
    /// The schedule it created.
    pub schedule: Schedule,
}

/// Input of `rejectProposal`.
#[derive(InputObject)]
pub struct RejectProposalInput {
    /// The proposal to reject.
    pub id: ID,
}

/// A rejected proposal.
#[derive(SimpleObject)]
pub struct RejectProposalPayload {
    /// The proposal, reviewed and not approved.
    pub proposal: ScheduleProposal,
}

/// Input of `approveAllProposals`.
#[derive(InputObject)]
pub struct ApproveAllProposalsInput {
    /// The auto-scheduler run whose unreviewed proposals to approve.
    pub run_id: ID,
}

/// A proposal that a rule refuses now.
#[derive(SimpleObject)]
pub struct RefusedProposal {
    /// The proposal, still unreviewed.
    pub proposal: ScheduleProposal,
    /// The rule, as in `extensions.rule` of a refused booking.
    pub rule: Option<String>,
    /// Why the rule refuses it, for people.
    pub message: String,
}

/// What approving a run's proposals did.
#[derive(SimpleObject)]
pub struct ApproveAllProposalsPayload {
    /// The proposals approved.
    pub approved: Vec<ScheduleProposal>,
    /// The schedules they created.
    pub schedules: Vec<Schedule>,
    /// Proposals the rules refuse now (left unreviewed).
    pub refused: Vec<RefusedProposal>,
}

/// Input of `checkIn` and `checkOut`: the scheduled person for themselves, or a
/// manager.
#[derive(InputObject)]
pub struct CheckInInput {
    /// The schedule to check in to.
    pub schedule_id: ID,
    /// MANUAL when omitted.
    pub method: Option<CheckMethod>,
}

/// Input of `checkOut`.
#[derive(InputObject)]
pub struct CheckOutInput {
    /// The schedule to check out of (after checking in).
    pub schedule_id: ID,
    /// MANUAL when omitted.
    pub method: Option<CheckMethod>,
}

/// Input of `recordAttendance` (managers): e.g. ABSENT or EXCUSED.
#[derive(InputObject)]
pub struct RecordAttendanceInput {
    /// The schedule to record for.
    pub schedule_id: ID,
    /// The person's attendance: PRESENT, ABSENT, EXCUSED or UNREPORTED.
    pub status: AttendanceStatus,
    /// Notes with the status, at most 2000 characters.
    pub notes: Option<String>,
}

/// The attendance after the change.
#[derive(SimpleObject)]
pub struct AttendancePayload {
    /// The schedule's attendance as it is now.
    pub attendance: Attendance,
}

/// Input of `resolveScheduleConflict`.
#[derive(InputObject)]
pub struct ResolveScheduleConflictInput {
    /// The exception to mark resolved.
    pub id: ID,
}

/// The resolved exception.
#[derive(SimpleObject)]
pub struct ResolveScheduleConflictPayload {
    /// The exception, resolved.
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
        #[graphql(desc = "The person and the profile fields to change.")]
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
        #[graphql(desc = "The event to create.")] input: CreateWorkEventInput,
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
        #[graphql(desc = "The event and the fields to change.")] input: UpdateWorkEventInput,
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
        #[graphql(desc = "The event to delete.")] input: DeleteWorkEventInput,
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
        #[graphql(desc = "The events to upsert by `externalRef`.")] input: ImportWorkEventsInput,
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
        #[graphql(desc = "The person, the weekday and the hours.")] input: AddAvailabilityRuleInput,
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

    /// Deletes a weekly availability rule. Members delete their own; managers
    /// (`schedules.write`) anyone's.
    async fn delete_availability_rule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule to delete.")] input: DeleteAvailabilityRuleInput,
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
        #[graphql(desc = "The person, the date and that day's availability.")]
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

    /// Deletes a date override: the day follows the weekly rules again. Members delete
    /// their own; managers (`schedules.write`) anyone's.
    async fn delete_availability_override(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The override to delete.")] input: DeleteAvailabilityOverrideInput,
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
        #[graphql(desc = "Whose time off, which days, and why.")] input: RequestTimeOffInput,
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
        #[graphql(desc = "The request and the decision.")] input: DecideTimeOffInput,
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
        #[graphql(desc = "The event, the person and the start.")] input: ScheduleEmployeeInput,
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
        #[graphql(desc = "The schedule and the fields to change.")] input: UpdateScheduleInput,
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
        #[graphql(desc = "The schedule to cancel.")] input: CancelScheduleInput,
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
        #[graphql(desc = "The day, the rotation and the person.")] input: AssignRotationInput,
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

    /// Removes a rotation assignment: nobody holds that rotation that day. Needs `schedules.write`.
    async fn unassign_rotation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The assignment to remove.")] input: UnassignRotationInput,
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
        #[graphql(desc = "The days to plan and the run's settings.")] input: RunAutoSchedulerInput,
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
        #[graphql(desc = "The proposal to approve.")] input: ApproveProposalInput,
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

    /// Rejects a proposal: it is marked reviewed and books nobody. Needs `schedules.write`.
    async fn reject_proposal(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The proposal to reject.")] input: RejectProposalInput,
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
        #[graphql(desc = "The auto-scheduler run whose proposals to approve.")]
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
        #[graphql(desc = "The schedule and how the check-in was made.")] input: CheckInInput,
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
        #[graphql(desc = "The schedule and how the check-out was made.")] input: CheckOutInput,
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
        #[graphql(desc = "The schedule and the attendance status.")] input: RecordAttendanceInput,
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
        #[graphql(desc = "The exception to mark resolved.")] input: ResolveScheduleConflictInput,
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
