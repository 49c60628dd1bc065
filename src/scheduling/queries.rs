//! Scheduling data access. Every query filters by organization first.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{
    Attendance, AvailabilityOverride, AvailabilityRule, EmployeeProfile, EventCondition, EventType,
    RotationAssignment, Schedule, ScheduleException, ScheduleProposal, ScheduleStatus,
    TimeOffRequest, TimeOffStatus, WorkEvent,
};
use crate::db::schema::{
    attendance, availability_overrides, availability_rules, employee_profiles,
    rotation_assignments, schedule_exceptions, schedule_proposals, schedules, time_off_requests,
    users, work_events,
};
use crate::db::{Conn, Id, Timestamp};
use crate::pagination::{Window, like_pattern, lower};
use crate::users::User;
use crate::{dispatch, first_for_update, insert_rows};

// ---- employees ---------------------------------------------------------------

/// The organization's users (deleted ones excluded), oldest first: its employees.
pub async fn org_users(conn: &mut Conn<'_>, org: Id) -> QueryResult<Vec<User>> {
    dispatch!(conn, |c| users::table
        .filter(users::organization_id.eq(org))
        .filter(users::deleted_at.is_null())
        .order((users::created_at.asc(), users::id.asc()))
        .select(User::as_select())
        .load(c)
        .await)
}

/// A user of the organization (not deleted), locked until the transaction ends:
/// bookings of one person serialize on it.
pub async fn lock_user(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<Option<User>> {
    let query = users::table
        .filter(users::organization_id.eq(org))
        .filter(users::id.eq(id))
        .filter(users::deleted_at.is_null());
    first_for_update!(conn, query, User)
}

pub async fn profiles_of(
    conn: &mut Conn<'_>,
    org: Id,
    user_ids: &[Id],
) -> QueryResult<Vec<EmployeeProfile>> {
    dispatch!(conn, |c| employee_profiles::table
        .filter(employee_profiles::organization_id.eq(org))
        .filter(employee_profiles::user_id.eq_any(user_ids))
        .select(EmployeeProfile::as_select())
        .load(c)
        .await)
}

pub async fn all_profiles(conn: &mut Conn<'_>, org: Id) -> QueryResult<Vec<EmployeeProfile>> {
    dispatch!(conn, |c| employee_profiles::table
        .filter(employee_profiles::organization_id.eq(org))
        .select(EmployeeProfile::as_select())
        .load(c)
        .await)
}

/// Stores a profile: inserted the first time, updated after.
pub async fn save_profile(
    conn: &mut Conn<'_>,
    profile: &EmployeeProfile,
    exists: bool,
) -> QueryResult<EmployeeProfile> {
    if !exists {
        return dispatch!(conn, |c| diesel::insert_into(employee_profiles::table)
            .values(profile)
            .returning(EmployeeProfile::as_returning())
            .get_result(c)
            .await);
    }
    dispatch!(conn, |c| diesel::update(
        employee_profiles::table
            .filter(employee_profiles::organization_id.eq(profile.organization_id))
            .filter(employee_profiles::user_id.eq(profile.user_id))
    )
    .set((
        employee_profiles::phone.eq(&profile.phone),
        employee_profiles::hire_date.eq(profile.hire_date),
        employee_profiles::termination_date.eq(profile.termination_date),
        employee_profiles::active.eq(profile.active),
        employee_profiles::skills.eq(&profile.skills),
        employee_profiles::notes.eq(&profile.notes),
        employee_profiles::updated_at.eq(profile.updated_at),
    ))
    .returning(EmployeeProfile::as_returning())
    .get_result(c)
    .await)
}

// ---- work events -------------------------------------------------------------

/// Filters of the work events list; all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct WorkEventFilter {
    /// Events whose window ends at or after this instant.
    pub from: Option<Timestamp>,
    /// Events whose window starts before this instant.
    pub to: Option<Timestamp>,
    pub event_type: Option<EventType>,
    pub condition: Option<EventCondition>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
}

macro_rules! filtered_events {
    ($org:expr, $filter:expr) => {{
        let mut query = work_events::table
            .filter(work_events::organization_id.eq($org))
            .into_boxed();
        if let Some(from) = $filter.from {
            query = query.filter(work_events::due_at.ge(from));
        }
        if let Some(to) = $filter.to {
            query = query.filter(work_events::start_at.lt(to));
        }
        if let Some(event_type) = $filter.event_type {
            query = query.filter(work_events::event_type.eq(event_type));
        }
        if let Some(condition) = $filter.condition {
            query = query.filter(work_events::condition.eq(condition));
        }
        if let Some(name) = &$filter.name_contains {
            query = query.filter(
                lower(work_events::name.nullable())
                    .like(like_pattern(name))
                    .escape('\\'),
            );
        }
        query
    }};
}

/// One page of work events, by window start.
pub async fn list_events(
    conn: &mut Conn<'_>,
    org: Id,
    filter: &WorkEventFilter,
    window: Window,
) -> QueryResult<Vec<WorkEvent>> {
    dispatch!(conn, |c| filtered_events!(org, filter)
        .order((work_events::start_at.asc(), work_events::id.asc()))
        .offset(window.offset)
        .limit(window.limit)
        .select(WorkEvent::as_select())
        .load(c)
        .await)
}

pub async fn count_events(
    conn: &mut Conn<'_>,
    org: Id,
    filter: &WorkEventFilter,
) -> QueryResult<i64> {
    dispatch!(conn, |c| filtered_events!(org, filter)
        .count()
        .get_result(c)
        .await)
}

/// Every work event matching `filter`, by window start.
pub async fn all_events(
    conn: &mut Conn<'_>,
    org: Id,
    filter: &WorkEventFilter,
) -> QueryResult<Vec<WorkEvent>> {
    dispatch!(conn, |c| filtered_events!(org, filter)
        .order((work_events::start_at.asc(), work_events::id.asc()))
        .select(WorkEvent::as_select())
        .load(c)
        .await)
}

pub async fn events_by_ids(
    conn: &mut Conn<'_>,
    org: Id,
    ids: &[Id],
) -> QueryResult<Vec<WorkEvent>> {
    dispatch!(conn, |c| work_events::table
        .filter(work_events::organization_id.eq(org))
        .filter(work_events::id.eq_any(ids))
        .select(WorkEvent::as_select())
        .load(c)
        .await)
}

pub async fn events_by_refs(
    conn: &mut Conn<'_>,
    org: Id,
    refs: &[String],
) -> QueryResult<Vec<WorkEvent>> {
    dispatch!(conn, |c| work_events::table
        .filter(work_events::organization_id.eq(org))
        .filter(work_events::external_ref.eq_any(refs))
        .select(WorkEvent::as_select())
        .load(c)
        .await)
}

/// A work event, locked until the transaction ends: bookings of one event serialize.
pub async fn lock_event(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<Option<WorkEvent>> {
    let query = work_events::table
        .filter(work_events::organization_id.eq(org))
        .filter(work_events::id.eq(id));
    first_for_update!(conn, query, WorkEvent)
}

pub async fn insert_events(conn: &mut Conn<'_>, rows: &[WorkEvent]) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    insert_rows!(conn, work_events::table, rows)
}

/// Stores every field of a work event but its identity.
pub async fn save_event(conn: &mut Conn<'_>, event: &WorkEvent) -> QueryResult<WorkEvent> {
    dispatch!(conn, |c| diesel::update(
        work_events::table
            .filter(work_events::organization_id.eq(event.organization_id))
            .filter(work_events::id.eq(event.id))
    )
    .set((
        work_events::external_ref.eq(&event.external_ref),
        work_events::name.eq(&event.name),
        work_events::location.eq(&event.location),
        work_events::start_at.eq(event.start_at),
        work_events::due_at.eq(event.due_at),
        work_events::estimated_minutes.eq(event.estimated_minutes),
        work_events::event_type.eq(event.event_type),
        work_events::condition.eq(event.condition),
        work_events::required_skills.eq(&event.required_skills),
        work_events::updated_at.eq(event.updated_at),
    ))
    .returning(WorkEvent::as_returning())
    .get_result(c)
    .await)
}

pub async fn set_condition(
    conn: &mut Conn<'_>,
    org: Id,
    id: Id,
    condition: EventCondition,
    now: Timestamp,
) -> QueryResult<usize> {
    dispatch!(conn, |c| diesel::update(
        work_events::table
            .filter(work_events::organization_id.eq(org))
            .filter(work_events::id.eq(id))
    )
    .set((
        work_events::condition.eq(condition),
        work_events::updated_at.eq(now),
    ))
    .execute(c)
    .await)
}

pub async fn delete_event(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<usize> {
    dispatch!(conn, |c| diesel::delete(
        work_events::table
            .filter(work_events::organization_id.eq(org))
            .filter(work_events::id.eq(id))
    )
    .execute(c)
    .await)
}

// ---- schedules ---------------------------------------------------------------

pub async fn insert_schedule(conn: &mut Conn<'_>, row: &Schedule) -> QueryResult<Schedule> {
    dispatch!(conn, |c| diesel::insert_into(schedules::table)
        .values(row)
        .returning(Schedule::as_returning())
        .get_result(c)
        .await)
}

pub async fn save_schedule(conn: &mut Conn<'_>, row: &Schedule) -> QueryResult<Schedule> {
    dispatch!(conn, |c| diesel::update(
        schedules::table
            .filter(schedules::organization_id.eq(row.organization_id))
            .filter(schedules::id.eq(row.id))
    )
    .set((
        schedules::user_id.eq(row.user_id),
        schedules::scheduled_at.eq(row.scheduled_at),
        schedules::ends_at.eq(row.ends_at),
        schedules::status.eq(row.status),
        schedules::notes.eq(&row.notes),
        schedules::updated_at.eq(row.updated_at),
    ))
    .returning(Schedule::as_returning())
    .get_result(c)
    .await)
}

/// A schedule, locked until the transaction ends.
pub async fn lock_schedule(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<Option<Schedule>> {
    let query = schedules::table
        .filter(schedules::organization_id.eq(org))
        .filter(schedules::id.eq(id));
    first_for_update!(conn, query, Schedule)
}

pub async fn schedules_by_ids(
    conn: &mut Conn<'_>,
    org: Id,
    ids: &[Id],
) -> QueryResult<Vec<Schedule>> {
    dispatch!(conn, |c| schedules::table
        .filter(schedules::organization_id.eq(org))
        .filter(schedules::id.eq_any(ids))
        .select(Schedule::as_select())
        .load(c)
        .await)
}

/// Filters of the schedule (calendar) view.
#[derive(Debug, Clone, Default)]
pub struct ScheduleFilter {
    /// Schedules ending after this instant.
    pub from: Option<Timestamp>,
    /// Schedules starting before this instant.
    pub to: Option<Timestamp>,
    pub user_ids: Option<Vec<Id>>,
    pub work_event_ids: Option<Vec<Id>>,
    pub include_cancelled: bool,
}

/// Schedules matching `filter`, by start time.
pub async fn schedules_matching(
    conn: &mut Conn<'_>,
    org: Id,
    filter: &ScheduleFilter,
) -> QueryResult<Vec<Schedule>> {
    dispatch!(conn, |c| {
        let mut query = schedules::table
            .filter(schedules::organization_id.eq(org))
            .into_boxed();
        if let Some(from) = filter.from {
            query = query.filter(schedules::ends_at.gt(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(schedules::scheduled_at.lt(to));
        }
        if let Some(ids) = &filter.user_ids {
            query = query.filter(schedules::user_id.eq_any(ids));
        }
        if let Some(ids) = &filter.work_event_ids {
            query = query.filter(schedules::work_event_id.eq_any(ids));
        }
        if !filter.include_cancelled {
            query = query.filter(schedules::status.ne(ScheduleStatus::Cancelled));
        }
        query
            .order((schedules::scheduled_at.asc(), schedules::id.asc()))
            .select(Schedule::as_select())
            .load(c)
            .await
    })
}

/// Active (not cancelled) schedules of the given events.
pub async fn active_schedule_counts(
    conn: &mut Conn<'_>,
    org: Id,
    event_ids: &[Id],
) -> QueryResult<Vec<(Id, i64)>> {
    dispatch!(conn, |c| schedules::table
        .filter(schedules::organization_id.eq(org))
        .filter(schedules::work_event_id.eq_any(event_ids))
        .filter(schedules::status.ne(ScheduleStatus::Cancelled))
        .group_by(schedules::work_event_id)
        .select((schedules::work_event_id, diesel::dsl::count_star()))
        .load(c)
        .await)
}

// ---- availability ------------------------------------------------------------

pub async fn rules_of_users(
    conn: &mut Conn<'_>,
    org: Id,
    user_ids: &[Id],
) -> QueryResult<Vec<AvailabilityRule>> {
    dispatch!(conn, |c| availability_rules::table
        .filter(availability_rules::organization_id.eq(org))
        .filter(availability_rules::user_id.eq_any(user_ids))
        .order((
            availability_rules::user_id.asc(),
            availability_rules::day_of_week.asc(),
            availability_rules::start_time.asc(),
        ))
        .select(AvailabilityRule::as_select())
        .load(c)
        .await)
}

pub async fn insert_rule(
    conn: &mut Conn<'_>,
    row: &AvailabilityRule,
) -> QueryResult<AvailabilityRule> {
    dispatch!(conn, |c| diesel::insert_into(availability_rules::table)
        .values(row)
        .returning(AvailabilityRule::as_returning())
        .get_result(c)
        .await)
}

pub async fn delete_rule(
    conn: &mut Conn<'_>,
    org: Id,
    id: Id,
) -> QueryResult<Option<AvailabilityRule>> {
    dispatch!(conn, |c| diesel::delete(
        availability_rules::table
            .filter(availability_rules::organization_id.eq(org))
            .filter(availability_rules::id.eq(id))
    )
    .returning(AvailabilityRule::as_returning())
    .get_result(c)
    .await
    .optional())
}

pub async fn overrides_of_users(
    conn: &mut Conn<'_>,
    org: Id,
    user_ids: &[Id],
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<Vec<AvailabilityOverride>> {
    dispatch!(conn, |c| availability_overrides::table
        .filter(availability_overrides::organization_id.eq(org))
        .filter(availability_overrides::user_id.eq_any(user_ids))
        .filter(availability_overrides::date.ge(from))
        .filter(availability_overrides::date.le(to))
        .order(availability_overrides::date.asc())
        .select(AvailabilityOverride::as_select())
        .load(c)
        .await)
}

/// Stores the override of `row`'s person and date, replacing an earlier one.
pub async fn upsert_override(
    conn: &mut Conn<'_>,
    row: &AvailabilityOverride,
) -> QueryResult<(Option<AvailabilityOverride>, AvailabilityOverride)> {
    let existing = overrides_of_users(
        conn,
        row.organization_id,
        &[row.user_id],
        row.date,
        row.date,
    )
    .await?
    .pop();
    let stored = match &existing {
        None => dispatch!(conn, |c| diesel::insert_into(availability_overrides::table)
            .values(row)
            .returning(AvailabilityOverride::as_returning())
            .get_result(c)
            .await)?,
        Some(old) => dispatch!(conn, |c| diesel::update(
            availability_overrides::table
                .filter(availability_overrides::organization_id.eq(old.organization_id))
                .filter(availability_overrides::id.eq(old.id))
        )
        .set((
            availability_overrides::available.eq(row.available),
            availability_overrides::start_time.eq(row.start_time),
            availability_overrides::end_time.eq(row.end_time),
            availability_overrides::reason.eq(&row.reason),
            availability_overrides::updated_at.eq(row.updated_at),
        ))
        .returning(AvailabilityOverride::as_returning())
        .get_result(c)
        .await)?,
    };
    Ok((existing, stored))
}

pub async fn delete_override(
    conn: &mut Conn<'_>,
    org: Id,
    id: Id,
) -> QueryResult<Option<AvailabilityOverride>> {
    dispatch!(conn, |c| diesel::delete(
        availability_overrides::table
            .filter(availability_overrides::organization_id.eq(org))
            .filter(availability_overrides::id.eq(id))
    )
    .returning(AvailabilityOverride::as_returning())
    .get_result(c)
    .await
    .optional())
}

// ---- time off ----------------------------------------------------------------

/// Filters of the time-off list.
#[derive(Debug, Clone, Default)]
pub struct TimeOffFilter {
    pub user_id: Option<Id>,
    pub status: Option<TimeOffStatus>,
    /// Requests ending on or after this date.
    pub from: Option<NaiveDate>,
    /// Requests starting on or before this date.
    pub to: Option<NaiveDate>,
}

macro_rules! filtered_time_off {
    ($org:expr, $filter:expr) => {{
        let mut query = time_off_requests::table
            .filter(time_off_requests::organization_id.eq($org))
            .into_boxed();
        if let Some(user) = $filter.user_id {
            query = query.filter(time_off_requests::user_id.eq(user));
        }
        if let Some(status) = $filter.status {
            query = query.filter(time_off_requests::status.eq(status));
        }
        if let Some(from) = $filter.from {
            query = query.filter(time_off_requests::end_date.ge(from));
        }
        if let Some(to) = $filter.to {
            query = query.filter(time_off_requests::start_date.le(to));
        }
        query
    }};
}

/// One page of time-off requests, newest first.
pub async fn list_time_off(
    conn: &mut Conn<'_>,
    org: Id,
    filter: &TimeOffFilter,
    window: Window,
) -> QueryResult<Vec<TimeOffRequest>> {
    dispatch!(conn, |c| filtered_time_off!(org, filter)
        .order((
            time_off_requests::created_at.desc(),
            time_off_requests::id.desc()
        ))
        .offset(window.offset)
        .limit(window.limit)
        .select(TimeOffRequest::as_select())
        .load(c)
        .await)
}

pub async fn count_time_off(
    conn: &mut Conn<'_>,
    org: Id,
    filter: &TimeOffFilter,
) -> QueryResult<i64> {
    dispatch!(conn, |c| filtered_time_off!(org, filter)
        .count()
        .get_result(c)
        .await)
}

/// Approved time off of the given people overlapping `from ..= to`.
pub async fn approved_time_off(
    conn: &mut Conn<'_>,
    org: Id,
    user_ids: &[Id],
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<Vec<TimeOffRequest>> {
    dispatch!(conn, |c| time_off_requests::table
        .filter(time_off_requests::organization_id.eq(org))
        .filter(time_off_requests::user_id.eq_any(user_ids))
        .filter(time_off_requests::status.eq(TimeOffStatus::Approved))
        .filter(time_off_requests::end_date.ge(from))
        .filter(time_off_requests::start_date.le(to))
        .select(TimeOffRequest::as_select())
        .load(c)
        .await)
}

pub async fn insert_time_off(
    conn: &mut Conn<'_>,
    row: &TimeOffRequest,
) -> QueryResult<TimeOffRequest> {
    dispatch!(conn, |c| diesel::insert_into(time_off_requests::table)
        .values(row)
        .returning(TimeOffRequest::as_returning())
        .get_result(c)
        .await)
}

pub async fn lock_time_off(
    conn: &mut Conn<'_>,
    org: Id,
    id: Id,
) -> QueryResult<Option<TimeOffRequest>> {
    let query = time_off_requests::table
        .filter(time_off_requests::organization_id.eq(org))
        .filter(time_off_requests::id.eq(id));
    first_for_update!(conn, query, TimeOffRequest)
}

pub async fn decide_time_off(
    conn: &mut Conn<'_>,
    row: &TimeOffRequest,
) -> QueryResult<TimeOffRequest> {
    dispatch!(conn, |c| diesel::update(
        time_off_requests::table
            .filter(time_off_requests::organization_id.eq(row.organization_id))
            .filter(time_off_requests::id.eq(row.id))
    )
    .set((
        time_off_requests::status.eq(row.status),
        time_off_requests::notes.eq(&row.notes),
        time_off_requests::decided_by.eq(row.decided_by),
        time_off_requests::decided_at.eq(row.decided_at),
        time_off_requests::updated_at.eq(row.updated_at),
    ))
    .returning(TimeOffRequest::as_returning())
    .get_result(c)
    .await)
}

// ---- rotations ---------------------------------------------------------------

pub async fn rotations_between(
    conn: &mut Conn<'_>,
    org: Id,
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<Vec<RotationAssignment>> {
    dispatch!(conn, |c| rotation_assignments::table
        .filter(rotation_assignments::organization_id.eq(org))
        .filter(rotation_assignments::date.ge(from))
        .filter(rotation_assignments::date.le(to))
        .order((
            rotation_assignments::date.asc(),
            rotation_assignments::rotation_type.asc(),
        ))
        .select(RotationAssignment::as_select())
        .load(c)
        .await)
}

/// Assigns the day's rotation to `row`'s person, replacing whoever had it.
pub async fn upsert_rotation(
    conn: &mut Conn<'_>,
    row: &RotationAssignment,
) -> QueryResult<(Option<RotationAssignment>, RotationAssignment)> {
    let existing = rotations_between(conn, row.organization_id, row.date, row.date)
        .await?
        .into_iter()
        .find(|r| r.rotation_type == row.rotation_type);
    let stored = match &existing {
        None => dispatch!(conn, |c| diesel::insert_into(rotation_assignments::table)
            .values(row)
            .returning(RotationAssignment::as_returning())
            .get_result(c)
            .await)?,
        Some(old) => dispatch!(conn, |c| diesel::update(
            rotation_assignments::table
                .filter(rotation_assignments::organization_id.eq(old.organization_id))
                .filter(rotation_assignments::id.eq(old.id))
        )
        .set((
            rotation_assignments::user_id.eq(row.user_id),
            rotation_assignments::updated_at.eq(row.updated_at),
        ))
        .returning(RotationAssignment::as_returning())
        .get_result(c)
        .await)?,
    };
    Ok((existing, stored))
}

pub async fn delete_rotation(
    conn: &mut Conn<'_>,
    org: Id,
    id: Id,
) -> QueryResult<Option<RotationAssignment>> {
    dispatch!(conn, |c| diesel::delete(
        rotation_assignments::table
            .filter(rotation_assignments::organization_id.eq(org))
            .filter(rotation_assignments::id.eq(id))
    )
    .returning(RotationAssignment::as_returning())
    .get_result(c)
    .await
    .optional())
}

// ---- proposals and exceptions ------------------------------------------------

pub async fn insert_proposals(
    conn: &mut Conn<'_>,
    rows: &[ScheduleProposal],
) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    insert_rows!(conn, schedule_proposals::table, rows)
}

/// Proposals of a run (all of them when `pending_only` is false), by time.
pub async fn proposals_of_run(
    conn: &mut Conn<'_>,
    org: Id,
    run_id: Id,
    pending_only: bool,
) -> QueryResult<Vec<ScheduleProposal>> {
    dispatch!(conn, |c| {
        let mut query = schedule_proposals::table
            .filter(schedule_proposals::organization_id.eq(org))
            .filter(schedule_proposals::run_id.eq(run_id))
            .into_boxed();
        if pending_only {
            query = query.filter(schedule_proposals::reviewed.eq(false));
        }
        query
            .order((
                schedule_proposals::scheduled_at.asc(),
                schedule_proposals::id.asc(),
            ))
            .select(ScheduleProposal::as_select())
            .load(c)
            .await
    })
}

/// Unreviewed proposals (of any run) overlapping `from .. to`: the auto-scheduler
/// treats them as bookings, so two runs do not propose one person's time twice.
pub async fn pending_proposals_between(
    conn: &mut Conn<'_>,
    org: Id,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> QueryResult<Vec<ScheduleProposal>> {
    dispatch!(conn, |c| schedule_proposals::table
        .filter(schedule_proposals::organization_id.eq(org))
        .filter(schedule_proposals::reviewed.eq(false))
        .filter(schedule_proposals::ends_at.gt(Timestamp(from)))
        .filter(schedule_proposals::scheduled_at.lt(Timestamp(to)))
        .select(ScheduleProposal::as_select())
        .load(c)
        .await)
}

pub async fn lock_proposal(
    conn: &mut Conn<'_>,
    org: Id,
    id: Id,
) -> QueryResult<Option<ScheduleProposal>> {
    let query = schedule_proposals::table
        .filter(schedule_proposals::organization_id.eq(org))
        .filter(schedule_proposals::id.eq(id));
    first_for_update!(conn, query, ScheduleProposal)
}

pub async fn review_proposal(
    conn: &mut Conn<'_>,
    row: &ScheduleProposal,
) -> QueryResult<ScheduleProposal> {
    dispatch!(conn, |c| diesel::update(
        schedule_proposals::table
            .filter(schedule_proposals::organization_id.eq(row.organization_id))
            .filter(schedule_proposals::id.eq(row.id))
    )
    .set((
        schedule_proposals::reviewed.eq(row.reviewed),
        schedule_proposals::approved.eq(row.approved),
        schedule_proposals::schedule_id.eq(row.schedule_id),
        schedule_proposals::updated_at.eq(row.updated_at),
    ))
    .returning(ScheduleProposal::as_returning())
    .get_result(c)
    .await)
}

pub async fn insert_exceptions(
    conn: &mut Conn<'_>,
    rows: &[ScheduleException],
) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    insert_rows!(conn, schedule_exceptions::table, rows)
}

/// Filters of the exceptions list.
#[derive(Debug, Clone, Default)]
pub struct ExceptionFilter {
    pub run_id: Option<Id>,
    pub resolved: Option<bool>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

macro_rules! filtered_exceptions {
    ($org:expr, $filter:expr) => {{
        let mut query = schedule_exceptions::table
            .filter(schedule_exceptions::organization_id.eq($org))
            .into_boxed();
        if let Some(run) = $filter.run_id {
            query = query.filter(schedule_exceptions::run_id.eq(run));
        }
        if let Some(resolved) = $filter.resolved {
            query = query.filter(schedule_exceptions::resolved.eq(resolved));
        }
        if let Some(from) = $filter.from {
            query = query.filter(schedule_exceptions::created_at.ge(from));
        }
        if let Some(to) = $filter.to {
            query = query.filter(schedule_exceptions::created_at.lt(to));
        }
        query
    }};
}

/// One page of exceptions, newest first.
pub async fn list_exceptions(
    conn: &mut Conn<'_>,
    org: Id,
    filter: &ExceptionFilter,
    window: Window,
) -> QueryResult<Vec<ScheduleException>> {
    dispatch!(conn, |c| filtered_exceptions!(org, filter)
        .order((
            schedule_exceptions::created_at.desc(),
            schedule_exceptions::id.desc(),
        ))
        .offset(window.offset)
        .limit(window.limit)
        .select(ScheduleException::as_select())
        .load(c)
        .await)
}

pub async fn count_exceptions(
    conn: &mut Conn<'_>,
    org: Id,
    filter: &ExceptionFilter,
) -> QueryResult<i64> {
    dispatch!(conn, |c| filtered_exceptions!(org, filter)
        .count()
        .get_result(c)
        .await)
}

pub async fn resolve_exception(
    conn: &mut Conn<'_>,
    org: Id,
    id: Id,
    now: Timestamp,
) -> QueryResult<Option<ScheduleException>> {
    dispatch!(conn, |c| diesel::update(
        schedule_exceptions::table
            .filter(schedule_exceptions::organization_id.eq(org))
            .filter(schedule_exceptions::id.eq(id))
    )
    .set((
        schedule_exceptions::resolved.eq(true),
        schedule_exceptions::updated_at.eq(now),
    ))
    .returning(ScheduleException::as_returning())
    .get_result(c)
    .await
    .optional())
}

// ---- attendance --------------------------------------------------------------

pub async fn attendance_of(
    conn: &mut Conn<'_>,
    org: Id,
    schedule_ids: &[Id],
) -> QueryResult<Vec<Attendance>> {
    dispatch!(conn, |c| attendance::table
        .filter(attendance::organization_id.eq(org))
        .filter(attendance::schedule_id.eq_any(schedule_ids))
        .select(Attendance::as_select())
        .load(c)
        .await)
}

/// Stores a schedule's attendance: inserted the first time, updated after.
pub async fn save_attendance(
    conn: &mut Conn<'_>,
    row: &Attendance,
    exists: bool,
) -> QueryResult<Attendance> {
    if !exists {
        return dispatch!(conn, |c| diesel::insert_into(attendance::table)
            .values(row)
            .returning(Attendance::as_returning())
            .get_result(c)
            .await);
    }
    dispatch!(conn, |c| diesel::update(
        attendance::table
            .filter(attendance::organization_id.eq(row.organization_id))
            .filter(attendance::schedule_id.eq(row.schedule_id))
    )
    .set((
        attendance::status.eq(row.status),
        attendance::check_in_at.eq(row.check_in_at),
        attendance::check_out_at.eq(row.check_out_at),
        attendance::method.eq(row.method),
        attendance::notes.eq(&row.notes),
        attendance::recorded_by.eq(row.recorded_by),
        attendance::updated_at.eq(row.updated_at),
    ))
    .returning(Attendance::as_returning())
    .get_result(c)
    .await)
}

// ---- settings ----------------------------------------------------------------

/// The organization's scheduling settings.
pub async fn settings_of(conn: &mut Conn<'_>, org: Id) -> QueryResult<super::SchedulingSettings> {
    use crate::db::schema::organizations;
    let settings: Option<crate::db::Json> = dispatch!(conn, |c| organizations::table
        .filter(organizations::id.eq(org))
        .select(organizations::settings)
        .first(c)
        .await
        .optional())?;
    Ok(settings
        .map(|s| super::SchedulingSettings::of(&s.0))
        .unwrap_or_default())
}
