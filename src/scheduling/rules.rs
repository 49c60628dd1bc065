//! The rules every schedule obeys, checked the same way for a manager's booking, an
//! approval, and the auto-scheduler's plan.

use chrono::{DateTime, Utc};

use super::availability::{Calendar, clock, local_date};
use super::{ExceptionType, SchedulingSettings, WorkEvent, missing_skills};
use crate::db::Id;
use crate::error::AppError;

/// Another booking of the same person.
#[derive(Debug, Clone, Copy)]
pub struct Booking {
    pub work_event_id: Id,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A rule a booking breaks.
#[derive(Debug, Clone, PartialEq)]
pub enum Violation {
    /// The event is paused or already submitted.
    EventCondition(String),
    /// Outside the event's window.
    Window,
    /// Inactive, not yet hired, terminated or deactivated.
    NotEmployed,
    /// On approved time off.
    TimeOff,
    /// Outside the person's availability.
    Unavailable(String),
    /// Overlaps another booking of the person.
    DoubleBooked(Id),
    /// The person already works the day's maximum of events.
    DailyLimit(u32),
    /// Lacks required skills.
    SkillMismatch(Vec<String>),
}

impl Violation {
    /// The rule's name, given to clients in `extensions.rule`.
    pub fn rule(&self) -> &'static str {
        match self {
            Violation::EventCondition(_) => "event_condition",
            Violation::Window => "event_window",
            Violation::NotEmployed => "employment",
            Violation::TimeOff => "time_off",
            Violation::Unavailable(_) => "availability",
            Violation::DoubleBooked(_) => "double_booking",
            Violation::DailyLimit(_) => "daily_limit",
            Violation::SkillMismatch(_) => "skills",
        }
    }

    pub fn exception_type(&self) -> ExceptionType {
        match self {
            Violation::EventCondition(_) | Violation::Window => ExceptionType::Coverage,
            Violation::NotEmployed | Violation::TimeOff | Violation::Unavailable(_) => {
                ExceptionType::Availability
            }
            Violation::DoubleBooked(_) | Violation::DailyLimit(_) => ExceptionType::Conflict,
            Violation::SkillMismatch(_) => ExceptionType::SkillMismatch,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Violation::EventCondition(c) => {
                format!("the event is {c} and cannot be scheduled")
            }
            Violation::Window => {
                "the schedule must start and end inside the event's window (startAt .. dueAt)"
                    .into()
            }
            Violation::NotEmployed => "the person is not an active employee on that date".into(),
            Violation::TimeOff => "the person has approved time off on that date".into(),
            Violation::Unavailable(when) => {
                format!("the person is not available then (available: {when})")
            }
            Violation::DoubleBooked(event) => {
                format!("the person is already booked at that time (work event {event})")
            }
            Violation::DailyLimit(max) => {
                format!(
                    "the person already works {max} events that day, the organization's maximum"
                )
            }
            Violation::SkillMismatch(missing) => format!(
                "the person lacks required skills: {} (a manager may force the booking)",
                missing.join(", ")
            ),
        }
    }

    /// The error a refused booking answers: CONFLICT when it clashes with what is
    /// already planned, BAD_USER_INPUT when the request itself is out of bounds.
    pub fn into_error(self) -> AppError {
        let (conflict, field) = match &self {
            Violation::EventCondition(_) => (true, "workEventId"),
            Violation::Window => (false, "scheduledAt"),
            Violation::NotEmployed => (false, "userId"),
            Violation::TimeOff | Violation::DoubleBooked(_) | Violation::DailyLimit(_) => {
                (true, "scheduledAt")
            }
            Violation::Unavailable(_) => (true, "scheduledAt"),
            Violation::SkillMismatch(_) => (false, "userId"),
        };
        AppError::Rule {
            rule: self.rule(),
            conflict,
            field,
            message: self.message(),
        }
    }
}

/// A proposed booking of one person on one event.
pub struct Candidate<'a> {
    pub event: &'a WorkEvent,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub calendar: &'a Calendar,
    /// The person's other active bookings (any that matter: same day and overlapping).
    pub bookings: &'a [Booking],
    pub settings: &'a SchedulingSettings,
}

/// Checks every rule but skills; `Ok` carries the required skills the person lacks
/// (a refusal unless the booking is forced).
pub fn check(c: &Candidate<'_>) -> Result<Vec<String>, Violation> {
    if !c.event.condition.is_schedulable() {
        return Err(Violation::EventCondition(
            c.event.condition.as_str().to_lowercase(),
        ));
    }
    if c.start < c.event.start_at.0 || c.end > c.event.due_at.0 || c.end <= c.start {
        return Err(Violation::Window);
    }
    let tz = c.settings.timezone;
    let date = local_date(c.start, tz);
    let day = c.calendar.day(date);
    if !day.available {
        return Err(match day.source {
            super::availability::AvailabilitySource::NotEmployed => Violation::NotEmployed,
            super::availability::AvailabilitySource::TimeOff => Violation::TimeOff,
            _ => Violation::Unavailable(day.reason.unwrap_or_else(|| "not that day".into())),
        });
    }
    if !c.calendar.covers(c.start, c.end, tz) {
        let hours: Vec<String> = day
            .windows
            .iter()
            .map(|w| format!("{}-{}", clock(w.start), clock(w.end)))
            .collect();
        return Err(Violation::Unavailable(format!(
            "{} {}",
            date,
            hours.join(", ")
        )));
    }
    if let Some(clash) = c
        .bookings
        .iter()
        .find(|b| b.start < c.end && c.start < b.end)
    {
        return Err(Violation::DoubleBooked(clash.work_event_id));
    }
    let same_day = c
        .bookings
        .iter()
        .filter(|b| local_date(b.start, tz) == date)
        .count();
    if same_day as u32 >= c.settings.max_events_per_day {
        return Err(Violation::DailyLimit(c.settings.max_events_per_day));
    }
    let have = c.calendar.profile.skill_list();
    Ok(missing_skills(&c.event.required_skill_list(), &have))
}
