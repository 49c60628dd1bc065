//! Employee scheduling: employee profiles, work events, availability and time off,
//! schedules with their rules, rotations, attendance, and the auto-scheduler.
//!
//! Employees are the organization's users. Availability is kept in the organization's
//! local time (`settings.timezone`, UTC by default); schedules are instants.

pub mod autoscheduler;
pub mod availability;
pub mod queries;
pub mod rules;
pub mod service;

use chrono::{NaiveDate, NaiveTime};
use diesel::prelude::*;

use crate::db::schema::{
    attendance, availability_overrides, availability_rules, employee_profiles,
    rotation_assignments, schedule_exceptions, schedule_proposals, schedules, time_off_requests,
    work_events,
};
use crate::db::{Id, Json, Timestamp};
use crate::db_enum;
use crate::error::{AppError, AppResult};

db_enum! {
    /// The kind of work an event is.
    pub enum EventType {
        /// Setting up a site; the auto-scheduler prefers the day's Primary Lead for it.
        Setup => "Setup",
        /// A demonstration; no rotation is preferred.
        Demo => "Demo",
        /// Offered first to the day's Juicer rotation.
        Juicer => "Juicer",
        /// Regular work; no rotation is preferred.
        Core => "Core",
        /// Anything else; the type of events created without one.
        Other => "Other",
    }
}

db_enum! {
    /// Where a work event stands.
    pub enum EventCondition {
        /// Nobody is scheduled yet.
        Unstaffed => "Unstaffed",
        /// Someone is scheduled.
        Scheduled => "Scheduled",
        /// Done and reported.
        Submitted => "Submitted",
        /// On hold: cannot be scheduled.
        Paused => "Paused",
        /// Sent back for rescheduling.
        Reissued => "Reissued",
    }
}

impl EventCondition {
    /// Whether people can be scheduled on an event in this condition.
    pub fn is_schedulable(self) -> bool {
        matches!(
            self,
            EventCondition::Unstaffed | EventCondition::Scheduled | EventCondition::Reissued
        )
    }
}

db_enum! {
    /// Lifecycle of a schedule.
    pub enum ScheduleStatus {
        /// Booked, not yet confirmed (every new booking starts here).
        Pending => "pending",
        /// Confirmed (`updateSchedule`).
        Confirmed => "confirmed",
        /// The work was done.
        Completed => "completed",
        /// Frees the person and the slot.
        Cancelled => "cancelled",
    }
}

db_enum! {
    /// Where a time-off request stands.
    pub enum TimeOffStatus {
        /// Waiting for a manager's decision.
        Pending => "pending",
        /// Granted: the days count as unavailable.
        Approved => "approved",
        /// Refused: availability is unchanged.
        Denied => "denied",
    }
}

db_enum! {
    /// A daily rotation: one person per rotation per day.
    pub enum RotationType {
        /// Takes the day's Juicer events.
        Juicer => "Juicer",
        /// Preferred for the day's Setup events.
        PrimaryLead => "Primary Lead",
    }
}

db_enum! {
    /// What kind of problem a schedule exception reports.
    pub enum ExceptionType {
        /// Clashes with another booking or a limit.
        Conflict => "conflict",
        /// An event could not be staffed.
        Coverage => "coverage",
        /// Nobody (or not the chosen person) is available.
        Availability => "availability",
        /// The person lacks a required skill.
        SkillMismatch => "skill_mismatch",
    }
}

db_enum! {
    /// How serious a schedule exception is.
    pub enum Severity {
        /// For information; nothing to do.
        Info => "info",
        /// Worth a look, e.g. a booking made despite a missing skill.
        Warning => "warning",
        /// Needs a manager, e.g. an event nobody could take.
        Error => "error",
        /// Needs a manager urgently.
        Critical => "critical",
    }
}

db_enum! {
    /// Whether a scheduled person showed up.
    pub enum AttendanceStatus {
        /// Checked in (or marked present by a manager).
        Present => "present",
        /// Did not show up, as a manager recorded.
        Absent => "absent",
        /// Did not show up, with a reason a manager accepted.
        Excused => "excused",
        /// Nothing recorded yet.
        Unreported => "unreported",
    }
}

db_enum! {
    /// How attendance was recorded.
    pub enum CheckMethod {
        /// By scanning a QR code.
        QrCode => "qr_code",
        /// By hand, in an app or by a manager (the default).
        Manual => "manual",
        /// Recorded automatically by an integration.
        Auto => "auto",
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = employee_profiles, treat_none_as_default_value = false)]
pub struct EmployeeProfile {
    pub id: Id,
    pub organization_id: Id,
    pub user_id: Id,
    pub phone: Option<String>,
    pub hire_date: Option<NaiveDate>,
    pub termination_date: Option<NaiveDate>,
    pub active: bool,
    pub skills: Json,
    pub notes: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl EmployeeProfile {
    /// The profile a user has before anyone edited it.
    pub fn default_for(organization_id: Id, user_id: Id, now: Timestamp) -> Self {
        EmployeeProfile {
            id: Id::new(),
            organization_id,
            user_id,
            phone: None,
            hire_date: None,
            termination_date: None,
            active: true,
            skills: Json(serde_json::json!([])),
            notes: None,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn skill_list(&self) -> Vec<String> {
        string_list(&self.skills)
    }

    /// Whether the person may work on `date`: active, hired, not yet terminated.
    pub fn employed_on(&self, date: NaiveDate) -> bool {
        self.active
            && self.hire_date.is_none_or(|h| h <= date)
            && self.termination_date.is_none_or(|t| t > date)
    }

    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "user_id": self.user_id,
            "phone": self.phone,
            "hire_date": self.hire_date,
            "termination_date": self.termination_date,
            "active": self.active,
            "skills": self.skills.0,
            "notes": self.notes,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = work_events, treat_none_as_default_value = false)]
pub struct WorkEvent {
    pub id: Id,
    pub organization_id: Id,
    pub external_ref: Option<String>,
    pub name: String,
    pub location: Option<String>,
    pub start_at: Timestamp,
    pub due_at: Timestamp,
    pub estimated_minutes: i32,
    pub event_type: EventType,
    pub condition: EventCondition,
    pub required_skills: Json,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl WorkEvent {
    pub fn required_skill_list(&self) -> Vec<String> {
        string_list(&self.required_skills)
    }

    pub fn duration(&self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.estimated_minutes))
    }

    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "external_ref": self.external_ref,
            "name": self.name,
            "location": self.location,
            "start_at": self.start_at.0,
            "due_at": self.due_at.0,
            "estimated_minutes": self.estimated_minutes,
            "event_type": self.event_type.as_str(),
            "condition": self.condition.as_str(),
            "required_skills": self.required_skills.0,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = schedules, treat_none_as_default_value = false)]
pub struct Schedule {
    pub id: Id,
    pub organization_id: Id,
    pub work_event_id: Id,
    pub user_id: Id,
    pub scheduled_at: Timestamp,
    pub ends_at: Timestamp,
    pub status: ScheduleStatus,
    pub notes: Option<String>,
    pub created_by: Option<Id>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Schedule {
    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "work_event_id": self.work_event_id,
            "user_id": self.user_id,
            "scheduled_at": self.scheduled_at.0,
            "ends_at": self.ends_at.0,
            "status": self.status.as_str(),
            "notes": self.notes,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = availability_rules, treat_none_as_default_value = false)]
pub struct AvailabilityRule {
    pub id: Id,
    pub organization_id: Id,
    pub user_id: Id,
    /// Monday = 0 .. Sunday = 6.
    pub day_of_week: i16,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl AvailabilityRule {
    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "user_id": self.user_id,
            "day_of_week": self.day_of_week,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "effective_from": self.effective_from,
            "effective_to": self.effective_to,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = availability_overrides, treat_none_as_default_value = false)]
pub struct AvailabilityOverride {
    pub id: Id,
    pub organization_id: Id,
    pub user_id: Id,
    pub date: NaiveDate,
    pub available: bool,
    pub start_time: Option<NaiveTime>,
    pub end_time: Option<NaiveTime>,
    pub reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl AvailabilityOverride {
    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "user_id": self.user_id,
            "date": self.date,
            "available": self.available,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "reason": self.reason,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = time_off_requests, treat_none_as_default_value = false)]
pub struct TimeOffRequest {
    pub id: Id,
    pub organization_id: Id,
    pub user_id: Id,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub reason: Option<String>,
    pub notes: Option<String>,
    pub status: TimeOffStatus,
    pub decided_by: Option<Id>,
    pub decided_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl TimeOffRequest {
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.start_date <= date && date <= self.end_date
    }

    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "user_id": self.user_id,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "reason": self.reason,
            "notes": self.notes,
            "status": self.status.as_str(),
            "decided_by": self.decided_by,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = rotation_assignments, treat_none_as_default_value = false)]
pub struct RotationAssignment {
    pub id: Id,
    pub organization_id: Id,
    pub date: NaiveDate,
    pub rotation_type: RotationType,
    pub user_id: Id,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl RotationAssignment {
    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "date": self.date,
            "rotation_type": self.rotation_type.as_str(),
            "user_id": self.user_id,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = schedule_proposals, treat_none_as_default_value = false)]
pub struct ScheduleProposal {
    pub id: Id,
    pub organization_id: Id,
    pub run_id: Id,
    pub work_event_id: Id,
    pub user_id: Id,
    pub scheduled_at: Timestamp,
    pub ends_at: Timestamp,
    pub confidence: f64,
    pub reason: String,
    pub reviewed: bool,
    pub approved: Option<bool>,
    pub schedule_id: Option<Id>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ScheduleProposal {
    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "run_id": self.run_id,
            "work_event_id": self.work_event_id,
            "user_id": self.user_id,
            "scheduled_at": self.scheduled_at.0,
            "reviewed": self.reviewed,
            "approved": self.approved,
            "schedule_id": self.schedule_id,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = schedule_exceptions, treat_none_as_default_value = false)]
pub struct ScheduleException {
    pub id: Id,
    pub organization_id: Id,
    pub run_id: Option<Id>,
    pub work_event_id: Option<Id>,
    pub schedule_id: Option<Id>,
    pub user_id: Option<Id>,
    pub exception_type: ExceptionType,
    pub severity: Severity,
    pub message: String,
    pub resolved: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ScheduleException {
    pub fn new(
        organization_id: Id,
        exception_type: ExceptionType,
        severity: Severity,
        message: String,
        now: Timestamp,
    ) -> Self {
        ScheduleException {
            id: Id::new(),
            organization_id,
            run_id: None,
            work_event_id: None,
            schedule_id: None,
            user_id: None,
            exception_type,
            severity,
            message,
            resolved: false,
            created_at: now,
            updated_at: now,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = attendance, treat_none_as_default_value = false)]
pub struct Attendance {
    pub id: Id,
    pub organization_id: Id,
    pub schedule_id: Id,
    pub user_id: Id,
    pub status: AttendanceStatus,
    pub check_in_at: Option<Timestamp>,
    pub check_out_at: Option<Timestamp>,
    pub method: Option<CheckMethod>,
    pub notes: Option<String>,
    pub recorded_by: Option<Id>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Attendance {
    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "schedule_id": self.schedule_id,
            "user_id": self.user_id,
            "status": self.status.as_str(),
            "check_in_at": self.check_in_at.map(|t| t.0),
            "check_out_at": self.check_out_at.map(|t| t.0),
            "method": self.method.map(CheckMethod::as_str),
            "notes": self.notes,
            "recorded_by": self.recorded_by,
        })
    }
}

/// The organization's scheduling settings, from its `settings` JSON:
/// `timezone` (IANA name) and `scheduling.maxEventsPerEmployeePerDay`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SchedulingSettings {
    pub timezone: chrono_tz::Tz,
    pub max_events_per_day: u32,
}

/// How many events one person works per day unless the organization says otherwise.
pub const DEFAULT_MAX_EVENTS_PER_DAY: u32 = 2;
const MAX_EVENTS_PER_DAY_LIMIT: u64 = 24;

impl Default for SchedulingSettings {
    fn default() -> Self {
        SchedulingSettings {
            timezone: chrono_tz::UTC,
            max_events_per_day: DEFAULT_MAX_EVENTS_PER_DAY,
        }
    }
}

impl SchedulingSettings {
    /// The settings an organization's `settings` JSON holds (validated when stored).
    pub fn of(settings: &serde_json::Value) -> Self {
        let defaults = SchedulingSettings::default();
        SchedulingSettings {
            timezone: settings
                .get("timezone")
                .and_then(serde_json::Value::as_str)
                .and_then(|tz| tz.parse().ok())
                .unwrap_or(defaults.timezone),
            max_events_per_day: settings
                .pointer("/scheduling/maxEventsPerEmployeePerDay")
                .and_then(serde_json::Value::as_u64)
                .map(|n| n as u32)
                .unwrap_or(defaults.max_events_per_day),
        }
    }

    /// Checks the scheduling keys of an organization's new `settings`.
    pub fn validate(settings: &serde_json::Value) -> AppResult<()> {
        if let Some(tz) = settings.get("timezone")
            && tz
                .as_str()
                .and_then(|t| t.parse::<chrono_tz::Tz>().ok())
                .is_none()
        {
            return Err(AppError::bad_input(
                "settings.timezone",
                "timezone must be an IANA time zone name such as `America/Indiana/Indianapolis`",
            ));
        }
        if let Some(max) = settings.pointer("/scheduling/maxEventsPerEmployeePerDay")
            && !max
                .as_u64()
                .is_some_and(|n| (1..=MAX_EVENTS_PER_DAY_LIMIT).contains(&n))
        {
            return Err(AppError::bad_input(
                "settings.scheduling.maxEventsPerEmployeePerDay",
                format!("maxEventsPerEmployeePerDay must be 1-{MAX_EVENTS_PER_DAY_LIMIT}"),
            ));
        }
        Ok(())
    }
}

/// The strings of a JSON list (skills), ignoring anything else.
pub fn string_list(value: &Json) -> Vec<String> {
    value
        .0
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Cleans a list of skills: trimmed, 1-50 characters each, at most 50, without
/// duplicates (compared case-insensitively).
pub fn clean_skills(field: &str, skills: &[String]) -> AppResult<Json> {
    if skills.len() > 50 {
        return Err(AppError::bad_input(field, "at most 50 skills"));
    }
    let mut seen = std::collections::HashSet::new();
    let mut clean = Vec::with_capacity(skills.len());
    for (i, skill) in skills.iter().enumerate() {
        let skill = skill.trim();
        if skill.is_empty() || skill.chars().count() > 50 {
            return Err(AppError::bad_input(
                format!("{field}.{i}"),
                "a skill is 1-50 characters",
            ));
        }
        if seen.insert(skill.to_lowercase()) {
            clean.push(serde_json::Value::String(skill.to_string()));
        }
    }
    Ok(Json(serde_json::Value::Array(clean)))
}

/// The required skills `have` lacks, compared case-insensitively.
pub fn missing_skills(required: &[String], have: &[String]) -> Vec<String> {
    required
        .iter()
        .filter(|r| !have.iter().any(|h| h.eq_ignore_ascii_case(r)))
        .cloned()
        .collect()
}
