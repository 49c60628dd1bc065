//! Scheduling changes: permission check, validation, the rules, the change and its
//! audit row in one transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use super::autoscheduler::AutoSchedulerSettings;
use super::availability::{Calendar, local_date};
use super::queries::{self, ScheduleFilter};
use super::rules::{self, Booking, Candidate, Violation};
use super::{
    Attendance, AttendanceStatus, AvailabilityOverride, AvailabilityRule, CheckMethod,
    EmployeeProfile, EventCondition, EventType, ExceptionType, RotationAssignment, RotationType,
    Schedule, ScheduleException, ScheduleProposal, ScheduleStatus, SchedulingSettings, Severity,
    TimeOffRequest, TimeOffStatus, WorkEvent, clean_skills,
};
use crate::audit::{self, Change};
use crate::auth::permissions::{Actor, Permission};
use crate::db::{Conn, Id, Json, Timestamp};
use crate::error::{AppError, AppResult, Constraint, constraint_kind};
use crate::teams::{clean_optional_text, clean_text};
use crate::tenant_transaction;
use crate::users::User;

/// The most work events one import may carry.
pub const MAX_IMPORT: usize = 1000;
/// The longest range availability, coverage and the auto-scheduler cover.
pub const MAX_RANGE_DAYS: i64 = 62;

/// Members manage their own availability and time off; anything about someone else
/// needs `schedules.write`.
fn require_self_or_manager(actor: &Actor, user_id: Id) -> AppResult<()> {
    if user_id == actor.user_id {
        Ok(())
    } else {
        actor.require(Permission::SchedulesWrite)
    }
}

/// The dates scheduling accepts: wide enough for any real calendar, narrow enough that
/// date arithmetic on them can never overflow.
pub fn check_date(field: &str, date: NaiveDate) -> AppResult<()> {
    if (1900..=2200).contains(&chrono::Datelike::year(&date)) {
        Ok(())
    } else {
        Err(AppError::bad_input(
            field,
            format!("`{field}` must lie between the years 1900 and 2200"),
        ))
    }
}

pub fn check_instant(field: &str, instant: DateTime<Utc>) -> AppResult<()> {
    check_date(field, instant.date_naive())
}

/// A date range of at most [`MAX_RANGE_DAYS`] days, `from` not after `to`.
pub fn check_range(from: NaiveDate, to: NaiveDate) -> AppResult<()> {
    check_date("from", from)?;
    check_date("to", to)?;
    if to < from {
        return Err(AppError::bad_input("to", "`to` must not be before `from`"));
    }
    if (to - from).num_days() >= MAX_RANGE_DAYS {
        return Err(AppError::bad_input(
            "to",
            format!("a range covers at most {MAX_RANGE_DAYS} days"),
        ));
    }
    Ok(())
}

// ---- calendars -----------------------------------------------------------------

/// The availability data of `people` for `from ..= to`, by user.
pub async fn calendars(
    conn: &mut Conn<'_>,
    org: Id,
    people: &[User],
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<HashMap<Id, Calendar>> {
    let ids: Vec<Id> = people.iter().map(|u| u.id).collect();
    let profiles = queries::profiles_of(conn, org, &ids).await?;
    let rules = queries::rules_of_users(conn, org, &ids).await?;
    let overrides = queries::overrides_of_users(conn, org, &ids, from, to).await?;
    let time_off = queries::approved_time_off(conn, org, &ids, from, to).await?;
    let now = Timestamp::now();
    let mut calendars: HashMap<Id, Calendar> = people
        .iter()
        .map(|u| {
            (
                u.id,
                Calendar {
                    user_active: u.is_active && u.deleted_at.is_none(),
                    profile: EmployeeProfile::default_for(org, u.id, now),
                    rules: Vec::new(),
                    overrides: HashMap::new(),
                    time_off: Vec::new(),
                },
            )
        })
        .collect();
    for p in profiles {
        if let Some(c) = calendars.get_mut(&p.user_id) {
            c.profile = p;
        }
    }
    for r in rules {
        if let Some(c) = calendars.get_mut(&r.user_id) {
            c.rules.push(r);
        }
    }
    for o in overrides {
        if let Some(c) = calendars.get_mut(&o.user_id) {
            c.overrides.insert(o.date, o);
        }
    }
    for t in time_off {
        if let Some(c) = calendars.get_mut(&t.user_id) {
            c.time_off.push(t);
        }
    }
    Ok(calendars)
}

async fn user_of_org(conn: &mut Conn<'_>, org: Id, id: Id) -> AppResult<User> {
    crate::users::queries::by_ids(conn, org, &[id])
        .await?
        .into_iter()
        .find(|u| u.deleted_at.is_none())
        .ok_or(AppError::not_found("user"))
}

// ---- employees -----------------------------------------------------------------

/// Changes to an employee profile; `None` leaves a field unchanged.
#[derive(Debug, Default)]
pub struct EmployeeChanges {
    pub phone: Option<Option<String>>,
    pub hire_date: Option<Option<NaiveDate>>,
    pub termination_date: Option<Option<NaiveDate>>,
    pub active: Option<bool>,
    pub skills: Option<Vec<String>>,
    pub notes: Option<Option<String>>,
}

pub async fn update_employee(
    conn: &mut Conn<'_>,
    actor: &Actor,
    user_id: Id,
    changes: EmployeeChanges,
) -> AppResult<(User, EmployeeProfile)> {
    actor.require(Permission::SchedulesWrite)?;
    let org = actor.organization_id;
    let skills = changes
        .skills
        .as_deref()
        .map(|s| clean_skills("skills", s))
        .transpose()?;
    let phone = match &changes.phone {
        Some(p) => Some(clean_optional_text("phone", p.as_deref(), 40)?),
        None => None,
    };
    let notes = match &changes.notes {
        Some(n) => Some(clean_optional_text("notes", n.as_deref(), 2000)?),
        None => None,
    };
    if let Some(Some(d)) = changes.hire_date {
        check_date("hireDate", d)?;
    }
    if let Some(Some(d)) = changes.termination_date {
        check_date("terminationDate", d)?;
    }
    tenant_transaction!(conn, org, |tx| -> AppResult<(User, EmployeeProfile)> {
        let user = queries::lock_user(tx, org, user_id)
            .await?
            .ok_or(AppError::not_found("user"))?;
        let existing = queries::profiles_of(tx, org, &[user_id]).await?.pop();
        let now = Timestamp::now();
        let before = existing.clone();
        let mut profile = existing
            .clone()
            .unwrap_or_else(|| EmployeeProfile::default_for(org, user_id, now));
        if let Some(phone) = phone {
            profile.phone = phone;
        }
        if let Some(d) = changes.hire_date {
            profile.hire_date = d;
        }
        if let Some(d) = changes.termination_date {
            profile.termination_date = d;
        }
        if let Some(active) = changes.active {
            profile.active = active;
        }
        if let Some(skills) = skills {
            profile.skills = skills;
        }
        if let Some(notes) = notes {
            profile.notes = notes;
        }
        if let (Some(hire), Some(end)) = (profile.hire_date, profile.termination_date)
            && end < hire
        {
            return Err(AppError::bad_input(
                "terminationDate",
                "terminationDate must not be before hireDate",
            ));
        }
        profile.updated_at = now;
        let stored = queries::save_profile(tx, &profile, existing.is_some()).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "employee.update",
                resource_type: "user",
                resource_id: Some(user_id),
                old_values: before.map(|b| b.audit_values()),
                new_values: Some(stored.audit_values()),
            },
        )
        .await?;
        Ok((user, stored))
    })
}

// ---- work events ---------------------------------------------------------------

/// A work event as a client describes it.
#[derive(Debug, Clone)]
pub struct WorkEventFields {
    pub external_ref: Option<String>,
    pub name: String,
    pub location: Option<String>,
    pub start_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub estimated_minutes: Option<i32>,
    pub event_type: Option<EventType>,
    pub condition: Option<EventCondition>,
    pub required_skills: Option<Vec<String>>,
}

/// Validates `fields` (error fields prefixed by `at`) into the event row `base`.
fn apply_fields(at: &str, base: &mut WorkEvent, fields: &WorkEventFields) -> AppResult<()> {
    let field = |name: &str| {
        if at.is_empty() {
            name.to_string()
        } else {
            format!("{at}.{name}")
        }
    };
    base.external_ref = match &fields.external_ref {
        Some(r) => {
            let r = r.trim();
            if r.is_empty() || r.chars().count() > 100 {
                return Err(AppError::bad_input(
                    field("externalRef"),
                    "externalRef is 1-100 characters",
                ));
            }
            Some(r.to_string())
        }
        None => base.external_ref.clone(),
    };
    base.name = clean_text(&field("name"), &fields.name, 200)?;
    check_instant(&field("startAt"), fields.start_at)?;
    check_instant(&field("dueAt"), fields.due_at)?;
    base.location = clean_optional_text(&field("location"), fields.location.as_deref(), 200)?;
    if fields.due_at < fields.start_at {
        return Err(AppError::bad_input(
            field("dueAt"),
            "dueAt must not be before startAt",
        ));
    }
    base.start_at = Timestamp(fields.start_at);
    base.due_at = Timestamp(fields.due_at);
    let minutes = fields.estimated_minutes.unwrap_or(base.estimated_minutes);
    if !(1..=1440).contains(&minutes) {
        return Err(AppError::bad_input(
            field("estimatedMinutes"),
            "estimatedMinutes must be 1-1440",
        ));
    }
    if Duration::minutes(i64::from(minutes)) > fields.due_at - fields.start_at {
        return Err(AppError::bad_input(
            field("estimatedMinutes"),
            "the event's window (startAt .. dueAt) is shorter than its estimated minutes",
        ));
    }
    base.estimated_minutes = minutes;
    if let Some(t) = fields.event_type {
        base.event_type = t;
    }
    if let Some(c) = fields.condition {
        base.condition = c;
    }
    if let Some(skills) = &fields.required_skills {
        base.required_skills = clean_skills(&field("requiredSkills"), skills)?;
    }
    Ok(())
}

fn blank_event(org: Id, now: Timestamp) -> WorkEvent {
    WorkEvent {
        id: Id::new(),
        organization_id: org,
        external_ref: None,
        name: String::new(),
        location: None,
        start_at: now,
        due_at: now,
        estimated_minutes: 60,
        event_type: EventType::Other,
        condition: EventCondition::Unstaffed,
        required_skills: Json(serde_json::json!([])),
        created_at: now,
        updated_at: now,
    }
}

fn ref_taken(e: diesel::result::Error) -> AppError {
    match constraint_kind(&e) {
        Some(Constraint::Unique) => AppError::conflict(
            "externalRef",
            "a work event with this externalRef already exists",
        ),
        _ => AppError::from(e),
    }
}

pub async fn create_work_event(
    conn: &mut Conn<'_>,
    actor: &Actor,
    fields: WorkEventFields,
) -> AppResult<WorkEvent> {
    actor.require(Permission::SchedulesWrite)?;
    let org = actor.organization_id;
    let mut event = blank_event(org, Timestamp::now());
    apply_fields("", &mut event, &fields)?;
    tenant_transaction!(conn, org, |tx| -> AppResult<WorkEvent> {
        queries::insert_events(tx, std::slice::from_ref(&event))
            .await
            .map_err(ref_taken)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "work_event.create",
                resource_type: "work_event",
                resource_id: Some(event.id),
                new_values: Some(event.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(event)
    })
}

/// Changes to a work event; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct WorkEventChanges {
    pub external_ref: Option<String>,
    pub name: Option<String>,
    pub location: Option<Option<String>>,
    pub start_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub estimated_minutes: Option<i32>,
    pub event_type: Option<EventType>,
    pub condition: Option<EventCondition>,
    pub required_skills: Option<Vec<String>>,
}

impl WorkEventChanges {
    fn over(&self, event: &WorkEvent) -> WorkEventFields {
        WorkEventFields {
            external_ref: self.external_ref.clone(),
            name: self.name.clone().unwrap_or_else(|| event.name.clone()),
            location: match &self.location {
                Some(l) => l.clone(),
                None => event.location.clone(),
            },
            start_at: self.start_at.unwrap_or(event.start_at.0),
            due_at: self.due_at.unwrap_or(event.due_at.0),
            estimated_minutes: self.estimated_minutes,
            event_type: self.event_type,
            condition: self.condition,
            required_skills: self.required_skills.clone(),
        }
    }
}

pub async fn update_work_event(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
    changes: WorkEventChanges,
) -> AppResult<WorkEvent> {
    actor.require(Permission::SchedulesWrite)?;
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<WorkEvent> {
        let before = queries::lock_event(tx, org, id)
            .await?
            .ok_or(AppError::not_found("work event"))?;
        let mut event = before.clone();
        apply_fields("", &mut event, &changes.over(&before))?;
        keeps_schedules(tx, &before, &event, "startAt").await?;
        event.updated_at = Timestamp::now();
        let after = queries::save_event(tx, &event).await.map_err(ref_taken)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "work_event.update",
                resource_type: "work_event",
                resource_id: Some(id),
                old_values: Some(before.audit_values()),
                new_values: Some(after.audit_values()),
            },
        )
        .await?;
        Ok(after)
    })
}

/// Deletes a work event that nobody is scheduled on.
pub async fn delete_work_event(conn: &mut Conn<'_>, actor: &Actor, id: Id) -> AppResult<WorkEvent> {
    actor.require(Permission::SchedulesWrite)?;
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<WorkEvent> {
        let event = queries::lock_event(tx, org, id)
            .await?
            .ok_or(AppError::not_found("work event"))?;
        let active = queries::active_schedule_counts(tx, org, &[id]).await?;
        if active.iter().any(|(_, n)| *n > 0) {
            return Err(AppError::conflict(
                "id",
                "people are scheduled on this event: cancel their schedules first",
            ));
        }
        queries::delete_event(tx, org, id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "work_event.delete",
                resource_type: "work_event",
                resource_id: Some(id),
                old_values: Some(event.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(event)
    })
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportOutcome {
    pub created: i32,
    pub updated: i32,
    pub unchanged: i32,
    /// The imported events, in input order.
    pub events: Vec<WorkEvent>,
}

/// Upserts events by `externalRef`: new references are created, known ones updated
/// when a field differs. One transaction, one audit row.
pub async fn import_work_events(
    conn: &mut Conn<'_>,
    actor: &Actor,
    items: Vec<WorkEventFields>,
) -> AppResult<ImportOutcome> {
    actor.require(Permission::SchedulesWrite)?;
    let org = actor.organization_id;
    if items.is_empty() || items.len() > MAX_IMPORT {
        return Err(AppError::bad_input(
            "events",
            format!("an import carries 1-{MAX_IMPORT} events"),
        ));
    }
    let mut refs = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let Some(r) = item.external_ref.as_deref().map(str::trim) else {
            return Err(AppError::bad_input(
                format!("events.{i}.externalRef"),
                "every imported event needs an externalRef",
            ));
        };
        if !seen.insert(r.to_string()) {
            return Err(AppError::bad_input(
                format!("events.{i}.externalRef"),
                format!("externalRef `{r}` appears twice in the import"),
            ));
        }
        refs.push(r.to_string());
    }
    let now = Timestamp::now();
    tenant_transaction!(conn, org, |tx| -> AppResult<ImportOutcome> {
        let existing: HashMap<String, WorkEvent> = queries::events_by_refs(tx, org, &refs)
            .await?
            .into_iter()
            .filter_map(|e| e.external_ref.clone().map(|r| (r, e)))
            .collect();
        let mut outcome = ImportOutcome::default();
        let mut inserts = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = format!("events.{i}");
            match existing.get(&refs[i]) {
                Some(old) => {
                    let mut event = old.clone();
                    apply_fields(&at, &mut event, item)?;
                    keeps_schedules(tx, old, &event, &format!("{at}.startAt")).await?;
                    if same_fields(old, &event) {
                        outcome.unchanged += 1;
                        outcome.events.push(old.clone());
                    } else {
                        event.updated_at = now;
                        outcome.updated += 1;
                        outcome.events.push(queries::save_event(tx, &event).await?);
                    }
                }
                None => {
                    let mut event = blank_event(org, now);
                    apply_fields(&at, &mut event, item)?;
                    outcome.created += 1;
                    inserts.push(event.clone());
                    outcome.events.push(event);
                }
            }
        }
        queries::insert_events(tx, &inserts)
            .await
            .map_err(ref_taken)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "work_event.import",
                resource_type: "work_event",
                resource_id: None,
                new_values: Some(serde_json::json!({
                    "created": outcome.created,
                    "updated": outcome.updated,
                    "unchanged": outcome.unchanged,
                    "external_refs": refs,
                })),
                ..Change::default()
            },
        )
        .await?;
        Ok(outcome)
    })
}

/// A change of an event's window or duration must leave its active schedules valid:
/// each still inside the window and as long as the work takes. Otherwise the change is
/// a CONFLICT until those schedules are moved or cancelled.
async fn keeps_schedules(
    tx: &mut Conn<'_>,
    before: &WorkEvent,
    after: &WorkEvent,
    field: &str,
) -> AppResult<()> {
    if (before.start_at, before.due_at, before.estimated_minutes)
        == (after.start_at, after.due_at, after.estimated_minutes)
    {
        return Ok(());
    }
    let schedules = queries::schedules_matching(
        tx,
        after.organization_id,
        &ScheduleFilter {
            work_event_ids: Some(vec![after.id]),
            ..ScheduleFilter::default()
        },
    )
    .await?;
    let broken = schedules.iter().filter(|s| {
        s.scheduled_at < after.start_at
            || s.ends_at > after.due_at
            || s.ends_at.0 - s.scheduled_at.0 != after.duration()
    });
    let count = broken.count();
    if count > 0 {
        return Err(AppError::Conflict {
            field: Some(field.to_string()),
            message: format!(
                "{count} schedule(s) of the event would no longer fit its window or duration: move or cancel them first"
            ),
        });
    }
    Ok(())
}

fn same_fields(a: &WorkEvent, b: &WorkEvent) -> bool {
    a.audit_values() == b.audit_values()
}

// ---- availability and time off ---------------------------------------------------

/// A weekly availability rule as a client describes it.
#[derive(Debug, Clone)]
pub struct RuleFields {
    pub user_id: Id,
    pub day_of_week: i32,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    pub effective_from: Option<NaiveDate>,
    pub effective_to: Option<NaiveDate>,
}

pub async fn add_availability_rule(
    conn: &mut Conn<'_>,
    actor: &Actor,
    fields: RuleFields,
) -> AppResult<AvailabilityRule> {
    require_self_or_manager(actor, fields.user_id)?;
    let org = actor.organization_id;
    if !(0..=6).contains(&fields.day_of_week) {
        return Err(AppError::bad_input(
            "dayOfWeek",
            "dayOfWeek is 0 (Monday) to 6 (Sunday)",
        ));
    }
    if fields.end_time <= fields.start_time {
        return Err(AppError::bad_input(
            "endTime",
            "endTime must be after startTime",
        ));
    }
    let now = Timestamp::now();
    let effective_from = fields.effective_from.unwrap_or_else(|| now.0.date_naive());
    check_date("effectiveFrom", effective_from)?;
    if let Some(to) = fields.effective_to {
        check_date("effectiveTo", to)?;
    }
    if fields.effective_to.is_some_and(|to| to < effective_from) {
        return Err(AppError::bad_input(
            "effectiveTo",
            "effectiveTo must not be before effectiveFrom",
        ));
    }
    let row = AvailabilityRule {
        id: Id::new(),
        organization_id: org,
        user_id: fields.user_id,
        day_of_week: fields.day_of_week as i16,
        start_time: trim_seconds(fields.start_time),
        end_time: trim_seconds(fields.end_time),
        effective_from,
        effective_to: fields.effective_to,
        created_at: now,
        updated_at: now,
    };
    tenant_transaction!(conn, org, |tx| -> AppResult<AvailabilityRule> {
        user_of_org(tx, org, fields.user_id).await?;
        let rule = queries::insert_rule(tx, &row).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "availability_rule.create",
                resource_type: "availability_rule",
                resource_id: Some(rule.id),
                new_values: Some(rule.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(rule)
    })
}

pub async fn delete_availability_rule(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
) -> AppResult<AvailabilityRule> {
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<AvailabilityRule> {
        let rule = queries::delete_rule(tx, org, id)
            .await?
            .ok_or(AppError::not_found("availability rule"))?;
        require_self_or_manager(actor, rule.user_id)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "availability_rule.delete",
                resource_type: "availability_rule",
                resource_id: Some(id),
                old_values: Some(rule.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(rule)
    })
}

/// Times are kept to the minute.
fn trim_seconds(t: NaiveTime) -> NaiveTime {
    NaiveTime::from_hms_opt(chrono::Timelike::hour(&t), chrono::Timelike::minute(&t), 0)
        .unwrap_or(t)
}

/// A date override as a client describes it.
#[derive(Debug, Clone)]
pub struct OverrideFields {
    pub user_id: Id,
    pub date: NaiveDate,
    pub available: bool,
    pub start_time: Option<NaiveTime>,
    pub end_time: Option<NaiveTime>,
    pub reason: Option<String>,
}

/// Sets the override of a person's date, replacing an earlier one.
pub async fn set_availability_override(
    conn: &mut Conn<'_>,
    actor: &Actor,
    fields: OverrideFields,
) -> AppResult<AvailabilityOverride> {
    require_self_or_manager(actor, fields.user_id)?;
    let org = actor.organization_id;
    let (start_time, end_time) = match (fields.start_time, fields.end_time) {
        (None, None) => (None, None),
        (Some(start), Some(end)) if end > start => {
            (Some(trim_seconds(start)), Some(trim_seconds(end)))
        }
        (Some(_), Some(_)) => {
            return Err(AppError::bad_input(
                "endTime",
                "endTime must be after startTime",
            ));
        }
        _ => {
            return Err(AppError::bad_input(
                "endTime",
                "give both startTime and endTime, or neither",
            ));
        }
    };
    check_date("date", fields.date)?;
    if !fields.available && start_time.is_some() {
        return Err(AppError::bad_input(
            "startTime",
            "hours apply only to an available day",
        ));
    }
    let now = Timestamp::now();
    let row = AvailabilityOverride {
        id: Id::new(),
        organization_id: org,
        user_id: fields.user_id,
        date: fields.date,
        available: fields.available,
        start_time,
        end_time,
        reason: clean_optional_text("reason", fields.reason.as_deref(), 500)?,
        created_at: now,
        updated_at: now,
    };
    tenant_transaction!(conn, org, |tx| -> AppResult<AvailabilityOverride> {
        user_of_org(tx, org, fields.user_id).await?;
        let (before, after) = queries::upsert_override(tx, &row).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "availability_override.set",
                resource_type: "availability_override",
                resource_id: Some(after.id),
                old_values: before.map(|b| b.audit_values()),
                new_values: Some(after.audit_values()),
            },
        )
        .await?;
        Ok(after)
    })
}

pub async fn delete_availability_override(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
) -> AppResult<AvailabilityOverride> {
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<AvailabilityOverride> {
        let row = queries::delete_override(tx, org, id)
            .await?
            .ok_or(AppError::not_found("availability override"))?;
        require_self_or_manager(actor, row.user_id)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "availability_override.delete",
                resource_type: "availability_override",
                resource_id: Some(id),
                old_values: Some(row.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(row)
    })
}

/// A time-off request as a client describes it.
#[derive(Debug, Clone)]
pub struct TimeOffFields {
    pub user_id: Id,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub reason: Option<String>,
    pub notes: Option<String>,
}

/// Requests time off: members for themselves, managers for anyone. A request that
/// overlaps another pending or approved one of the same person is a CONFLICT.
pub async fn request_time_off(
    conn: &mut Conn<'_>,
    actor: &Actor,
    fields: TimeOffFields,
) -> AppResult<TimeOffRequest> {
    require_self_or_manager(actor, fields.user_id)?;
    let org = actor.organization_id;
    check_date("startDate", fields.start_date)?;
    check_date("endDate", fields.end_date)?;
    if fields.end_date < fields.start_date {
        return Err(AppError::bad_input(
            "endDate",
            "endDate must not be before startDate",
        ));
    }
    if (fields.end_date - fields.start_date).num_days() > 366 {
        return Err(AppError::bad_input(
            "endDate",
            "a request covers at most a year",
        ));
    }
    let now = Timestamp::now();
    let row = TimeOffRequest {
        id: Id::new(),
        organization_id: org,
        user_id: fields.user_id,
        start_date: fields.start_date,
        end_date: fields.end_date,
        reason: clean_optional_text("reason", fields.reason.as_deref(), 100)?,
        notes: clean_optional_text("notes", fields.notes.as_deref(), 2000)?,
        status: TimeOffStatus::Pending,
        decided_by: None,
        decided_at: None,
        created_at: now,
        updated_at: now,
    };
    tenant_transaction!(conn, org, |tx| -> AppResult<TimeOffRequest> {
        // Requests of one person serialize on the person.
        queries::lock_user(tx, org, fields.user_id)
            .await?
            .ok_or(AppError::not_found("user"))?;
        let filter = queries::TimeOffFilter {
            user_id: Some(fields.user_id),
            status: None,
            from: Some(fields.start_date),
            to: Some(fields.end_date),
        };
        let overlapping = queries::list_time_off(
            tx,
            org,
            &filter,
            crate::pagination::Window {
                offset: 0,
                limit: 100,
            },
        )
        .await?;
        if overlapping
            .iter()
            .any(|r| r.status != TimeOffStatus::Denied)
        {
            return Err(AppError::conflict(
                "startDate",
                "another pending or approved request covers some of these dates",
            ));
        }
        let stored = queries::insert_time_off(tx, &row).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "time_off.request",
                resource_type: "time_off_request",
                resource_id: Some(stored.id),
                new_values: Some(stored.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(stored)
    })
}

/// Approves or denies a pending request. Approving flags the person's schedules in
/// those days as availability exceptions for a manager to resolve.
pub async fn decide_time_off(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
    approve: bool,
    notes: Option<String>,
) -> AppResult<(TimeOffRequest, Vec<ScheduleException>)> {
    actor.require(Permission::SchedulesWrite)?;
    let org = actor.organization_id;
    let notes = clean_optional_text("notes", notes.as_deref(), 2000)?;
    tenant_transaction!(conn, org, |tx| -> AppResult<(
        TimeOffRequest,
        Vec<ScheduleException>
    )> {
        let before = queries::lock_time_off(tx, org, id)
            .await?
            .ok_or(AppError::not_found("time off request"))?;
        if before.status != TimeOffStatus::Pending {
            return Err(AppError::conflict(
                "id",
                format!("the request is already {}", before.status.as_str()),
            ));
        }
        // Bookings of the person serialize on their row: none slips in between the
        // approval and the check of their schedules below.
        queries::lock_user(tx, org, before.user_id).await?;
        let now = Timestamp::now();
        let mut row = before.clone();
        row.status = if approve {
            TimeOffStatus::Approved
        } else {
            TimeOffStatus::Denied
        };
        if notes.is_some() {
            row.notes = notes;
        }
        row.decided_by = Some(actor.user_id);
        row.decided_at = Some(now);
        row.updated_at = now;
        let after = queries::decide_time_off(tx, &row).await?;
        let mut exceptions = Vec::new();
        if approve {
            let tz = queries::settings_of(tx, org).await?.timezone;
            let from = super::availability::at(after.start_date, 0, tz);
            let to = super::availability::at(after.end_date, super::availability::DAY_MINUTES, tz);
            let affected = queries::schedules_matching(
                tx,
                org,
                &ScheduleFilter {
                    from: Some(Timestamp(from)),
                    to: Some(Timestamp(to)),
                    user_ids: Some(vec![after.user_id]),
                    ..ScheduleFilter::default()
                },
            )
            .await?;
            for s in affected {
                let mut e = ScheduleException::new(
                    org,
                    ExceptionType::Availability,
                    Severity::Error,
                    format!(
                        "time off from {} to {} was approved while this person is scheduled",
                        after.start_date, after.end_date
                    ),
                    now,
                );
                e.schedule_id = Some(s.id);
                e.work_event_id = Some(s.work_event_id);
                e.user_id = Some(s.user_id);
                exceptions.push(e);
            }
            queries::insert_exceptions(tx, &exceptions).await?;
        }
        audit::record(
            tx,
            actor,
            Change {
                action: if approve {
                    "time_off.approve"
                } else {
                    "time_off.deny"
                },
                resource_type: "time_off_request",
                resource_id: Some(id),
                old_values: Some(before.audit_values()),
                new_values: Some(after.audit_values()),
            },
        )
        .await?;
        Ok((after, exceptions))
    })
}

// ---- schedules -----------------------------------------------------------------

/// A booking to make (or, with `replacing`, to move a schedule to).
#[derive(Debug, Clone)]
pub struct BookingRequest {
    pub work_event_id: Id,
    pub user_id: Id,
    pub scheduled_at: DateTime<Utc>,
    pub notes: Option<String>,
    /// Book despite missing skills, recording a warning exception.
    pub force: bool,
    /// The most events per person per day, when not the organization's (an
    /// auto-scheduler run's own setting).
    pub max_per_day: Option<u32>,
    /// Refuse when someone is already scheduled on the event (an approval).
    pub sole: bool,
}

/// What a booking produced.
#[derive(Debug, Clone)]
pub struct Booked {
    pub schedule: Schedule,
    /// Warnings recorded with it (a forced skill mismatch).
    pub exceptions: Vec<ScheduleException>,
    pub event: WorkEvent,
}

/// Books a person on an event inside the caller's transaction, enforcing every rule.
/// The event's row and then the person's row are locked first, so two bookings of one
/// event or of one person serialize and the second sees the first.
async fn book(
    tx: &mut Conn<'_>,
    actor: &Actor,
    request: &BookingRequest,
    replacing: Option<&Schedule>,
) -> AppResult<Booked> {
    let org = actor.organization_id;
    let event = queries::lock_event(tx, org, request.work_event_id)
        .await?
        .ok_or(AppError::not_found("work event"))?;
    if request.sole
        && queries::active_schedule_counts(tx, org, &[event.id])
            .await?
            .iter()
            .any(|(_, n)| *n > 0)
    {
        return Err(AppError::Rule {
            rule: "event_staffed",
            conflict: true,
            field: "workEventId",
            message: "someone is already scheduled on the event".into(),
        });
    }
    let user = queries::lock_user(tx, org, request.user_id)
        .await?
        .ok_or(AppError::not_found("user"))?;
    let mut settings = queries::settings_of(tx, org).await?;
    if let Some(max) = request.max_per_day {
        settings.max_events_per_day = max;
    }
    let start = request.scheduled_at;
    check_instant("scheduledAt", start)?;
    let end = start + event.duration();
    let date = local_date(start, settings.timezone);
    let calendar = calendars(
        tx,
        org,
        std::slice::from_ref(&user),
        date - Duration::days(1),
        date + Duration::days(1),
    )
    .await?
    .remove(&user.id)
    .ok_or_else(|| AppError::Internal("calendar of the booked person is missing".into()))?;
    let bookings: Vec<Booking> = queries::schedules_matching(
        tx,
        org,
        &ScheduleFilter {
            from: Some(Timestamp(start - Duration::days(2))),
            to: Some(Timestamp(end + Duration::days(2))),
            user_ids: Some(vec![user.id]),
            ..ScheduleFilter::default()
        },
    )
    .await?
    .into_iter()
    .filter(|s| replacing.is_none_or(|r| r.id != s.id))
    .map(|s| Booking {
        work_event_id: s.work_event_id,
        start: s.scheduled_at.0,
        end: s.ends_at.0,
    })
    .collect();
    let candidate = Candidate {
        event: &event,
        start,
        end,
        calendar: &calendar,
        bookings: &bookings,
        settings: &settings,
    };
    let missing = rules::check(&candidate).map_err(Violation::into_error)?;
    if !missing.is_empty() && !request.force {
        return Err(Violation::SkillMismatch(missing).into_error());
    }
    let now = Timestamp::now();
    let notes = clean_optional_text("notes", request.notes.as_deref(), 2000)?;
    let schedule = match replacing {
        None => Schedule {
            id: Id::new(),
            organization_id: org,
            work_event_id: event.id,
            user_id: user.id,
            scheduled_at: Timestamp(start),
            ends_at: Timestamp(end),
            status: ScheduleStatus::Pending,
            notes,
            created_by: Some(actor.user_id),
            created_at: now,
            updated_at: now,
        },
        Some(old) => Schedule {
            user_id: user.id,
            scheduled_at: Timestamp(start),
            ends_at: Timestamp(end),
            notes: notes.or_else(|| old.notes.clone()),
            updated_at: now,
            ..old.clone()
        },
    };
    let stored = match replacing {
        None => queries::insert_schedule(tx, &schedule).await,
        Some(_) => queries::save_schedule(tx, &schedule).await,
    }
    .map_err(|e| match constraint_kind(&e) {
        Some(Constraint::Unique) => AppError::Rule {
            rule: "event_slot",
            conflict: true,
            field: "scheduledAt",
            message: "the event already has a schedule at that time".into(),
        },
        _ => AppError::from(e),
    })?;
    if replacing.is_none() {
        crate::webhooks::enqueue(
            tx,
            stored.organization_id,
            &[(
                crate::webhooks::WebhookEvent::ScheduleCreated,
                crate::webhooks::schedule_data(&stored),
            )],
            now,
        )
        .await?;
    }
    let mut event = event;
    if matches!(
        event.condition,
        EventCondition::Unstaffed | EventCondition::Reissued
    ) {
        queries::set_condition(tx, org, event.id, EventCondition::Scheduled, now).await?;
        event.condition = EventCondition::Scheduled;
    }
    let mut exceptions = Vec::new();
    if !missing.is_empty() {
        let mut e = ScheduleException::new(
            org,
            ExceptionType::SkillMismatch,
            Severity::Warning,
            format!(
                "booked without required skills: {} (forced by a manager)",
                missing.join(", ")
            ),
            now,
        );
        e.schedule_id = Some(stored.id);
        e.work_event_id = Some(event.id);
        e.user_id = Some(user.id);
        exceptions.push(e);
        queries::insert_exceptions(tx, &exceptions).await?;
    }
    Ok(Booked {
        schedule: stored,
        exceptions,
        event,
    })
}

/// Schedules a person on a work event.
pub async fn schedule_employee(
    conn: &mut Conn<'_>,
    actor: &Actor,
    request: BookingRequest,
) -> AppResult<Booked> {
    actor.require(Permission::SchedulesWrite)?;
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<Booked> {
        let booked = book(tx, actor, &request, None).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "schedule.create",
                resource_type: "schedule",
                resource_id: Some(booked.schedule.id),
                new_values: Some(booked.schedule.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(booked)
    })
}

/// Changes to a schedule; `None` leaves a field unchanged.
#[derive(Debug, Default)]
pub struct ScheduleChanges {
    pub user_id: Option<Id>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub status: Option<ScheduleStatus>,
    pub notes: Option<Option<String>>,
    pub force: bool,
}

/// Moves, reassigns or re-states a schedule; a new person or time passes every rule
/// again. Cancelling frees the slot and, when nobody else is scheduled, the event.
pub async fn update_schedule(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
    changes: ScheduleChanges,
) -> AppResult<Booked> {
    actor.require(Permission::SchedulesWrite)?;
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<Booked> {
        let found = queries::schedules_by_ids(tx, org, &[id])
            .await?
            .pop()
            .ok_or(AppError::not_found("schedule"))?;
        // The event's lock first, as every booking takes it; then the schedule's own,
        // so a concurrent cancel or move is seen, not overwritten.
        queries::lock_event(tx, org, found.work_event_id).await?;
        let before = queries::lock_schedule(tx, org, id)
            .await?
            .ok_or(AppError::not_found("schedule"))?;
        if before.status == ScheduleStatus::Cancelled {
            return Err(AppError::conflict(
                "id",
                "the schedule is cancelled; schedule the person again instead",
            ));
        }
        let moved = changes.user_id.is_some_and(|u| u != before.user_id)
            || changes
                .scheduled_at
                .is_some_and(|t| t != before.scheduled_at.0);
        let mut booked = if moved {
            let request = BookingRequest {
                work_event_id: before.work_event_id,
                user_id: changes.user_id.unwrap_or(before.user_id),
                scheduled_at: changes.scheduled_at.unwrap_or(before.scheduled_at.0),
                notes: None,
                force: changes.force,
                max_per_day: None,
                sole: false,
            };
            book(tx, actor, &request, Some(&before)).await?
        } else {
            let event = queries::lock_event(tx, org, before.work_event_id)
                .await?
                .ok_or(AppError::not_found("work event"))?;
            Booked {
                schedule: before.clone(),
                exceptions: Vec::new(),
                event,
            }
        };
        let mut schedule = booked.schedule.clone();
        if let Some(notes) = &changes.notes {
            schedule.notes = clean_optional_text("notes", notes.as_deref(), 2000)?;
        }
        if let Some(status) = changes.status {
            schedule.status = status;
        }
        let now = Timestamp::now();
        schedule.updated_at = now;
        booked.schedule = queries::save_schedule(tx, &schedule).await?;
        if booked.schedule.status == ScheduleStatus::Cancelled {
            booked.event = release_event(tx, org, booked.event, now).await?;
        }
        audit::record(
            tx,
            actor,
            Change {
                action: if booked.schedule.status == ScheduleStatus::Cancelled {
                    "schedule.cancel"
                } else {
                    "schedule.update"
                },
                resource_type: "schedule",
                resource_id: Some(id),
                old_values: Some(before.audit_values()),
                new_values: Some(booked.schedule.audit_values()),
            },
        )
        .await?;
        Ok(booked)
    })
}

/// A scheduled event with nobody left on it is unstaffed again.
async fn release_event(
    tx: &mut Conn<'_>,
    org: Id,
    mut event: WorkEvent,
    now: Timestamp,
) -> AppResult<WorkEvent> {
    let active = queries::active_schedule_counts(tx, org, &[event.id]).await?;
    if event.condition == EventCondition::Scheduled && active.iter().all(|(_, n)| *n == 0) {
        queries::set_condition(tx, org, event.id, EventCondition::Unstaffed, now).await?;
        event.condition = EventCondition::Unstaffed;
    }
    Ok(event)
}

// ---- rotations -----------------------------------------------------------------

/// Gives the day's rotation to a person, replacing whoever had it.
pub async fn assign_rotation(
    conn: &mut Conn<'_>,
    actor: &Actor,
    date: NaiveDate,
    rotation_type: RotationType,
    user_id: Id,
) -> AppResult<RotationAssignment> {
    actor.require(Permission::SchedulesWrite)?;
    check_date("date", date)?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    let row = RotationAssignment {
        id: Id::new(),
        organization_id: org,
        date,
        rotation_type,
        user_id,
        created_at: now,
        updated_at: now,
    };
    tenant_transaction!(conn, org, |tx| -> AppResult<RotationAssignment> {
        user_of_org(tx, org, user_id).await?;
        let (before, after) =
            queries::upsert_rotation(tx, &row)
                .await
                .map_err(|e| match constraint_kind(&e) {
                    Some(Constraint::Unique) => {
                        AppError::conflict("date", "the rotation was assigned meanwhile; try again")
                    }
                    _ => AppError::from(e),
                })?;
        audit::record(
            tx,
            actor,
            Change {
                action: "rotation.assign",
                resource_type: "rotation_assignment",
                resource_id: Some(after.id),
                old_values: before.map(|b| b.audit_values()),
                new_values: Some(after.audit_values()),
            },
        )
        .await?;
        Ok(after)
    })
}

pub async fn unassign_rotation(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
) -> AppResult<RotationAssignment> {
    actor.require(Permission::SchedulesWrite)?;
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<RotationAssignment> {
        let row = queries::delete_rotation(tx, org, id)
            .await?
            .ok_or(AppError::not_found("rotation assignment"))?;
        audit::record(
            tx,
            actor,
            Change {
                action: "rotation.unassign",
                resource_type: "rotation_assignment",
                resource_id: Some(id),
                old_values: Some(row.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(row)
    })
}

// ---- proposals -----------------------------------------------------------------

/// The settings an auto-scheduler run planned with.
fn run_settings(run: crate::runs::Run) -> Option<AutoSchedulerSettings> {
    run.inputs
        .parse::<super::autoscheduler::SchedulerInputs>()
        .ok()
        .map(|inputs| inputs.settings)
}

/// Turns a proposal into a schedule, checking every rule again now.
pub async fn approve_proposal(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
    force: bool,
) -> AppResult<(ScheduleProposal, Booked)> {
    approve(conn, actor, id, force, None).await
}

/// [`approve_proposal`]; `known` carries the run's settings when the caller has them.
async fn approve(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
    force: bool,
    known: Option<Option<AutoSchedulerSettings>>,
) -> AppResult<(ScheduleProposal, Booked)> {
    actor.require(Permission::SchedulesWrite)?;
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<(ScheduleProposal, Booked)> {
        let before = lock_unreviewed(tx, org, id).await?;
        // The run's own settings hold: its daily maximum, and, when it was allowed to
        // propose people without a required skill, the booking keeps that warning.
        let settings = match known {
            Some(settings) => settings,
            None => crate::runs::queries::by_ids(tx, org, &[before.run_id])
                .await?
                .pop()
                .and_then(run_settings),
        };
        let request = BookingRequest {
            work_event_id: before.work_event_id,
            user_id: before.user_id,
            scheduled_at: before.scheduled_at.0,
            notes: Some(before.reason.clone()),
            force: force || settings.is_some_and(|s| !s.require_skills),
            max_per_day: settings.map(|s| s.max_events_per_employee_per_day),
            sole: true,
        };
        let booked = book(tx, actor, &request, None).await?;
        let mut row = before.clone();
        row.reviewed = true;
        row.approved = Some(true);
        row.schedule_id = Some(booked.schedule.id);
        row.updated_at = Timestamp::now();
        let after = queries::review_proposal(tx, &row).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "proposal.approve",
                resource_type: "schedule_proposal",
                resource_id: Some(id),
                old_values: Some(before.audit_values()),
                new_values: Some(serde_json::json!({
                    "proposal": after.audit_values(),
                    "schedule": booked.schedule.audit_values(),
                })),
            },
        )
        .await?;
        Ok((after, booked))
    })
}

pub async fn reject_proposal(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
) -> AppResult<ScheduleProposal> {
    actor.require(Permission::SchedulesWrite)?;
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<ScheduleProposal> {
        let before = lock_unreviewed(tx, org, id).await?;
        let mut row = before.clone();
        row.reviewed = true;
        row.approved = Some(false);
        row.updated_at = Timestamp::now();
        let after = queries::review_proposal(tx, &row).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "proposal.reject",
                resource_type: "schedule_proposal",
                resource_id: Some(id),
                old_values: Some(before.audit_values()),
                new_values: Some(after.audit_values()),
            },
        )
        .await?;
        Ok(after)
    })
}

/// A proposal nobody reviewed yet, locked; CONFLICT once reviewed.
async fn lock_unreviewed(tx: &mut Conn<'_>, org: Id, id: Id) -> AppResult<ScheduleProposal> {
    let proposal = queries::lock_proposal(tx, org, id)
        .await?
        .ok_or(AppError::not_found("schedule proposal"))?;
    if proposal.reviewed {
        return Err(AppError::conflict(
            "id",
            "the proposal was already reviewed",
        ));
    }
    Ok(proposal)
}

/// One proposal an approve-all could not turn into a schedule.
#[derive(Debug)]
pub struct Refusal {
    pub proposal: ScheduleProposal,
    pub error: AppError,
}

/// Approves every unreviewed proposal of a run, each in its own transaction so one
/// that a rule now refuses leaves the others standing.
pub async fn approve_all_proposals(
    conn: &mut Conn<'_>,
    actor: &Actor,
    run_id: Id,
) -> AppResult<(Vec<(ScheduleProposal, Booked)>, Vec<Refusal>)> {
    actor.require(Permission::SchedulesWrite)?;
    let org = actor.organization_id;
    let run = crate::runs::queries::by_ids(conn, org, &[run_id])
        .await?
        .pop()
        .filter(|r| r.kind == crate::runs::RunKind::Scheduler)
        .ok_or(AppError::not_found("run"))?;
    let pending = queries::proposals_of_run(conn, org, run.id, true).await?;
    let settings = run_settings(run);
    let mut approved = Vec::new();
    let mut refused = Vec::new();
    for proposal in pending {
        match approve(conn, actor, proposal.id, false, Some(settings)).await {
            Ok(done) => approved.push(done),
            Err(error @ (AppError::Rule { .. } | AppError::Conflict { .. })) => {
                refused.push(Refusal { proposal, error })
            }
            Err(other) => return Err(other),
        }
    }
    Ok((approved, refused))
}

pub async fn resolve_exception(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
) -> AppResult<ScheduleException> {
    actor.require(Permission::SchedulesWrite)?;
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<ScheduleException> {
        let row = queries::resolve_exception(tx, org, id, Timestamp::now())
            .await?
            .ok_or(AppError::not_found("schedule exception"))?;
        audit::record(
            tx,
            actor,
            Change {
                action: "schedule_exception.resolve",
                resource_type: "schedule_exception",
                resource_id: Some(id),
                new_values: Some(serde_json::json!({ "resolved": true })),
                ..Change::default()
            },
        )
        .await?;
        Ok(row)
    })
}

// ---- attendance ----------------------------------------------------------------

/// What is being recorded about a schedule's attendance.
#[derive(Debug, Clone)]
pub enum AttendanceChange {
    CheckIn {
        method: CheckMethod,
    },
    CheckOut {
        method: CheckMethod,
    },
    Status {
        status: AttendanceStatus,
        notes: Option<String>,
    },
}

/// Records attendance: the scheduled person checks in and out of their own schedule;
/// managers record for anyone and set absent/excused.
pub async fn record_attendance(
    conn: &mut Conn<'_>,
    actor: &Actor,
    schedule_id: Id,
    change: AttendanceChange,
) -> AppResult<Attendance> {
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<Attendance> {
        let schedule = queries::schedules_by_ids(tx, org, &[schedule_id])
            .await?
            .pop()
            .ok_or(AppError::not_found("schedule"))?;
        match &change {
            AttendanceChange::Status { .. } => actor.require(Permission::SchedulesWrite)?,
            _ => require_self_or_manager(actor, schedule.user_id)?,
        }
        if schedule.status == ScheduleStatus::Cancelled {
            return Err(AppError::conflict(
                "scheduleId",
                "the schedule is cancelled",
            ));
        }
        let existing = queries::attendance_of(tx, org, &[schedule_id]).await?.pop();
        let now = Timestamp::now();
        let mut row = existing.clone().unwrap_or(Attendance {
            id: Id::new(),
            organization_id: org,
            schedule_id,
            user_id: schedule.user_id,
            status: AttendanceStatus::Unreported,
            check_in_at: None,
            check_out_at: None,
            method: None,
            notes: None,
            recorded_by: None,
            created_at: now,
            updated_at: now,
        });
        let action = match change {
            AttendanceChange::CheckIn { method } => {
                if row.check_in_at.is_some() {
                    return Err(AppError::conflict("scheduleId", "already checked in"));
                }
                row.check_in_at = Some(now);
                row.status = AttendanceStatus::Present;
                row.method = Some(method);
                "attendance.check_in"
            }
            AttendanceChange::CheckOut { method } => {
                if row.check_in_at.is_none() {
                    return Err(AppError::conflict(
                        "scheduleId",
                        "check in before checking out",
                    ));
                }
                if row.check_out_at.is_some() {
                    return Err(AppError::conflict("scheduleId", "already checked out"));
                }
                row.check_out_at = Some(now);
                row.method = Some(method);
                "attendance.check_out"
            }
            AttendanceChange::Status { status, notes } => {
                row.status = status;
                row.notes = clean_optional_text("notes", notes.as_deref(), 2000)?;
                "attendance.record"
            }
        };
        row.recorded_by = Some(actor.user_id);
        row.updated_at = now;
        let stored = queries::save_attendance(tx, &row, existing.is_some()).await?;
        audit::record(
            tx,
            actor,
            Change {
                action,
                resource_type: "attendance",
                resource_id: Some(stored.id),
                old_values: existing.map(|e| e.audit_values()),
                new_values: Some(stored.audit_values()),
            },
        )
        .await?;
        Ok(stored)
    })
}

/// The settings the auto-scheduler and views use, for callers outside a transaction.
pub async fn settings(conn: &mut Conn<'_>, org: Id) -> AppResult<SchedulingSettings> {
    Ok(queries::settings_of(conn, org).await?)
}
