//! Recurring runs: a team's run started on a cron schedule in a time zone. Each
//! occurrence is claimed in the database by moving `next_run_at` on in the same
//! transaction that starts its run, so however many processes look, it fires once.

pub mod queries;
pub mod service;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::run_schedules;
use crate::db::{Id, Json, Timestamp};
use crate::db_enum;
use crate::error::{AppError, AppResult};

db_enum! {
    /// Whether a schedule starts runs.
    pub enum RunScheduleStatus {
        /// Starts a run at each occurrence (`nextRunAt` says when).
        Active => "ACTIVE",
        /// Starts nothing until resumed (`nextRunAt` is null).
        Paused => "PAUSED",
    }
}

db_enum! {
    /// What happens to occurrences that passed while no gateway was running.
    pub enum MissedRunPolicy {
        /// One run starts for the latest missed occurrence, then the schedule goes on.
        FireOnce => "FIRE_ONCE",
        /// Missed occurrences start nothing; the schedule goes on from the next one.
        Skip => "SKIP",
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = run_schedules, treat_none_as_default_value = false)]
pub struct RunSchedule {
    pub id: Id,
    pub organization_id: Id,
    pub team_id: Id,
    pub template_id: Option<Id>,
    pub created_by: Option<Id>,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub inputs: Json,
    pub status: RunScheduleStatus,
    pub missed_policy: MissedRunPolicy,
    pub next_run_at: Option<Timestamp>,
    pub last_run_at: Option<Timestamp>,
    pub last_run_id: Option<Id>,
    pub last_error: Option<String>,
    pub run_count: i32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl RunSchedule {
    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "team_id": self.team_id,
            "template_id": self.template_id,
            "cron": self.cron,
            "timezone": self.timezone,
            "inputs": self.inputs.0,
            "status": self.status.as_str(),
            "missed_policy": self.missed_policy.as_str(),
            "next_run_at": self.next_run_at.map(|t| t.0),
        })
    }

    pub fn recurrence(&self) -> AppResult<Recurrence> {
        Recurrence::parse(&self.cron, &self.timezone)
    }
}

/// A cron expression (five fields: minute, hour, day of month, month, day of week)
/// read in a time zone, so `0 9 * * 1-5` is 09:00 local time across DST changes.
#[derive(Debug, Clone)]
pub struct Recurrence {
    cron: croner::Cron,
    zone: chrono_tz::Tz,
}

impl Recurrence {
    pub fn parse(cron: &str, timezone: &str) -> AppResult<Recurrence> {
        let zone: chrono_tz::Tz = timezone.parse().map_err(|_| {
            AppError::bad_input(
                "timezone",
                format!("`{timezone}` is not an IANA time zone (e.g. Europe/Berlin)"),
            )
        })?;
        let fields = cron.split_whitespace().count();
        if fields != 5 || cron.len() > 120 {
            return Err(AppError::bad_input(
                "cron",
                "`cron` needs five fields: minute hour day-of-month month day-of-week",
            ));
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .build()
            .parse(cron)
            .map_err(|e| AppError::bad_input("cron", format!("`cron` is not valid: {e}")))?;
        let recurrence = Recurrence { cron, zone };
        // A pattern that never matches (e.g. 30 February) would never fire.
        if recurrence.next_after(Utc::now()).is_none() {
            return Err(AppError::bad_input("cron", "`cron` never matches a date"));
        }
        Ok(recurrence)
    }

    /// The first occurrence strictly after `time`.
    pub fn next_after(&self, time: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&time.with_timezone(&self.zone), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The last occurrence at or before `time`.
    pub fn latest_at_or_before(&self, time: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&time.with_timezone(&self.zone), true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// What a due schedule does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    /// The occurrence a run starts for; `None` when missed occurrences are skipped.
    pub occurrence: Option<DateTime<Utc>>,
    /// The next occurrence to wait for.
    pub next: Option<DateTime<Utc>>,
}

/// Decides what a schedule due at `due` does at `now`: an occurrence within `grace`
/// of now is on time and always fires; older ones were missed (the gateway was down)
/// and follow `policy`.
pub fn decide(
    recurrence: &Recurrence,
    policy: MissedRunPolicy,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    grace: chrono::Duration,
) -> Firing {
    let latest = recurrence
        .latest_at_or_before(now)
        .filter(|t| *t >= due)
        .unwrap_or(due);
    let on_time = now - latest <= grace;
    let occurrence = match policy {
        _ if on_time => Some(latest),
        MissedRunPolicy::FireOnce => Some(latest),
        MissedRunPolicy::Skip => None,
    };
    Firing {
        occurrence,
        next: recurrence.next_after(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn cron_is_read_in_the_time_zone_across_dst() {
        let weekday_nine = Recurrence::parse("0 9 * * 1-5", "Europe/Berlin").expect("valid");
        // Friday 27 March 2026, 08:00 UTC = 09:00 CET: next is Monday 30 March, 09:00 CEST.
        assert_eq!(
            weekday_nine.next_after(at(2026, 3, 27, 8, 0)),
            Some(at(2026, 3, 30, 7, 0))
        );
        assert_eq!(
            weekday_nine.latest_at_or_before(at(2026, 3, 30, 7, 0)),
            Some(at(2026, 3, 30, 7, 0))
        );
    }

    #[test]
    fn bad_patterns_and_zones_are_refused() {
        for (cron, zone) in [
            ("* * * *", "UTC"),
            ("0 0 * * * *", "UTC"),
            ("61 * * * *", "UTC"),
            ("0 9 * * 1", "Mars/Olympus"),
        ] {
            assert!(Recurrence::parse(cron, zone).is_err(), "{cron} {zone}");
        }
    }

    #[test]
    fn missed_occurrences_follow_the_policy() {
        let hourly = Recurrence::parse("0 * * * *", "UTC").expect("valid");
        let grace = chrono::Duration::seconds(60);
        let due = at(2026, 1, 1, 10, 0);
        // On time (within the grace): fires under either policy.
        let now = at(2026, 1, 1, 10, 0) + chrono::Duration::seconds(20);
        for policy in [MissedRunPolicy::FireOnce, MissedRunPolicy::Skip] {
            assert_eq!(
                decide(&hourly, policy, due, now, grace),
                Firing {
                    occurrence: Some(due),
                    next: Some(at(2026, 1, 1, 11, 0))
                }
            );
        }
        // Down from 09:30 to 13:30: 10, 11, 12 and 13 o'clock were missed.
        let now = at(2026, 1, 1, 13, 30);
        assert_eq!(
            decide(&hourly, MissedRunPolicy::FireOnce, due, now, grace),
            Firing {
                occurrence: Some(at(2026, 1, 1, 13, 0)),
                next: Some(at(2026, 1, 1, 14, 0))
            }
        );
        assert_eq!(
            decide(&hourly, MissedRunPolicy::Skip, due, now, grace),
            Firing {
                occurrence: None,
                next: Some(at(2026, 1, 1, 14, 0))
            }
        );
    }
}
