//! When someone can work: weekly rules, date overrides and approved time off,
//! combined per day in the organization's local time.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};

use super::{AvailabilityOverride, AvailabilityRule, EmployeeProfile, TimeOffRequest};
use crate::db_enum;

/// Minutes in a day: a window may end at 24:00.
pub const DAY_MINUTES: u32 = 24 * 60;

/// A stretch of a local day, in minutes since midnight (`end` may be 1440).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: u32,
    pub end: u32,
}

impl Window {
    pub const WHOLE_DAY: Window = Window {
        start: 0,
        end: DAY_MINUTES,
    };

    pub fn of_times(start: NaiveTime, end: NaiveTime) -> Window {
        Window {
            start: minutes(start),
            end: minutes(end),
        }
    }

    /// The window as UTC instants on `date` in `tz`.
    pub fn instants(&self, date: NaiveDate, tz: chrono_tz::Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        (at(date, self.start, tz), at(date, self.end, tz))
    }
}

pub fn minutes(time: NaiveTime) -> u32 {
    time.hour() * 60 + time.minute()
}

/// Formats minutes since midnight as `HH:MM` (`24:00` for the end of the day).
pub fn clock(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The instant `minutes` after local midnight of `date`. In a daylight-saving gap the
/// earliest valid instant after it is taken.
pub fn at(date: NaiveDate, minutes: u32, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    let local = midnight + Duration::minutes(i64::from(minutes));
    for shift in [0, 60, 120] {
        if let Some(t) = tz
            .from_local_datetime(&(local + Duration::minutes(shift)))
            .earliest()
        {
            return t.with_timezone(&Utc);
        }
    }
    Utc.from_utc_datetime(&local)
}

/// The local date of an instant.
pub fn local_date(instant: DateTime<Utc>, tz: chrono_tz::Tz) -> NaiveDate {
    instant.with_timezone(&tz).date_naive()
}

db_enum! {
    /// What decided a day's availability.
    pub enum AvailabilitySource {
        /// The weekly availability rules.
        Weekly => "weekly",
        /// A date-specific override.
        Override => "override",
        /// Approved time off.
        TimeOff => "time_off",
        /// No weekly rules are set: the whole day is open.
        Default => "default",
        /// Inactive, not yet hired, terminated or deactivated.
        NotEmployed => "not_employed",
    }
}

/// Whether and when someone can work on one local day.
#[derive(Debug, Clone, PartialEq)]
pub struct DayAvailability {
    pub date: NaiveDate,
    pub available: bool,
    pub windows: Vec<Window>,
    pub source: AvailabilitySource,
    pub reason: Option<String>,
}

/// One person's availability data, for computing any day.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub user_active: bool,
    pub profile: EmployeeProfile,
    pub rules: Vec<AvailabilityRule>,
    pub overrides: HashMap<NaiveDate, AvailabilityOverride>,
    /// Approved time off only.
    pub time_off: Vec<TimeOffRequest>,
}

impl Calendar {
    pub fn day(&self, date: NaiveDate) -> DayAvailability {
        let closed = |source, reason: Option<String>| DayAvailability {
            date,
            available: false,
            windows: Vec::new(),
            source,
            reason,
        };
        if !self.user_active || !self.profile.employed_on(date) {
            return closed(
                AvailabilitySource::NotEmployed,
                Some("not employed on this date".into()),
            );
        }
        if let Some(off) = self.time_off.iter().find(|t| t.covers(date)) {
            return closed(
                AvailabilitySource::TimeOff,
                Some(off.reason.clone().unwrap_or_else(|| "time off".into())),
            );
        }
        let weekly = self.weekly(date);
        if let Some(o) = self.overrides.get(&date) {
            if !o.available {
                return closed(AvailabilitySource::Override, o.reason.clone());
            }
            let windows = match (o.start_time, o.end_time) {
                (Some(start), Some(end)) => vec![Window::of_times(start, end)],
                _ => weekly
                    .filter(|w| !w.is_empty())
                    .unwrap_or_else(|| vec![Window::WHOLE_DAY]),
            };
            return DayAvailability {
                date,
                available: true,
                windows,
                source: AvailabilitySource::Override,
                reason: o.reason.clone(),
            };
        }
        match weekly {
            None => DayAvailability {
                date,
                available: true,
                windows: vec![Window::WHOLE_DAY],
                source: AvailabilitySource::Default,
                reason: None,
            },
            Some(windows) if windows.is_empty() => closed(
                AvailabilitySource::Weekly,
                Some("outside weekly availability".into()),
            ),
            Some(windows) => DayAvailability {
                date,
                available: true,
                windows,
                source: AvailabilitySource::Weekly,
                reason: None,
            },
        }
    }

    /// The weekly windows in effect on `date`, merged and sorted; `None` when the
    /// person has no weekly rules at all.
    fn weekly(&self, date: NaiveDate) -> Option<Vec<Window>> {
        if self.rules.is_empty() {
            return None;
        }
        let weekday = date.weekday().num_days_from_monday() as i16;
        let mut windows: Vec<Window> = self
            .rules
            .iter()
            .filter(|r| {
                r.day_of_week == weekday
                    && r.effective_from <= date
                    && r.effective_to.is_none_or(|to| date <= to)
            })
            .map(|r| Window::of_times(r.start_time, r.end_time))
            .collect();
        windows.sort_by_key(|w| w.start);
        let mut merged: Vec<Window> = Vec::with_capacity(windows.len());
        for w in windows {
            match merged.last_mut() {
                Some(last) if w.start <= last.end => last.end = last.end.max(w.end),
                _ => merged.push(w),
            }
        }
        Some(merged)
    }

    /// Whether `[start, end)` lies inside one of the windows of its local day.
    pub fn covers(&self, start: DateTime<Utc>, end: DateTime<Utc>, tz: chrono_tz::Tz) -> bool {
        let date = local_date(start, tz);
        let day = self.day(date);
        day.available
            && day.windows.iter().any(|w| {
                let (from, to) = w.instants(date, tz);
                from <= start && end <= to
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Id, Timestamp};
    use crate::scheduling::TimeOffStatus;

    fn date(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn time(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").expect("time")
    }

    fn calendar() -> Calendar {
        let now = Timestamp::now();
        let org = Id::new();
        let user = Id::new();
        let rule = |day, start, end| AvailabilityRule {
            id: Id::new(),
            organization_id: org,
            user_id: user,
            day_of_week: day,
            start_time: time(start),
            end_time: time(end),
            effective_from: date("2026-01-01"),
            effective_to: None,
            created_at: now,
            updated_at: now,
        };
        Calendar {
            user_active: true,
            profile: EmployeeProfile::default_for(org, user, now),
            // Mondays 09:00-12:00 and 13:00-17:00; Tuesdays 10:00-14:00.
            rules: vec![
                rule(0, "13:00", "17:00"),
                rule(0, "09:00", "12:00"),
                rule(1, "10:00", "14:00"),
            ],
            overrides: HashMap::from([(
                date("2026-11-24"),
                AvailabilityOverride {
                    id: Id::new(),
                    organization_id: org,
                    user_id: user,
                    date: date("2026-11-24"),
                    available: false,
                    start_time: None,
                    end_time: None,
                    reason: Some("dentist".into()),
                    created_at: now,
                    updated_at: now,
                },
            )]),
            time_off: vec![TimeOffRequest {
                id: Id::new(),
                organization_id: org,
                user_id: user,
                start_date: date("2026-11-30"),
                end_date: date("2026-12-01"),
                reason: Some("Vacation".into()),
                notes: None,
                status: TimeOffStatus::Approved,
                decided_by: None,
                decided_at: None,
                created_at: now,
                updated_at: now,
            }],
        }
    }

    #[test]
    fn rules_overrides_and_time_off_combine() {
        let cal = calendar();
        let monday = cal.day(date("2026-11-23"));
        assert!(monday.available);
        assert_eq!(monday.source, AvailabilitySource::Weekly);
        assert_eq!(
            monday.windows,
            vec![
                Window::of_times(time("09:00"), time("12:00")),
                Window::of_times(time("13:00"), time("17:00"))
            ]
        );
        let tuesday = cal.day(date("2026-11-24"));
        assert!(!tuesday.available, "override closes the day");
        assert_eq!(tuesday.reason.as_deref(), Some("dentist"));
        let wednesday = cal.day(date("2026-11-25"));
        assert!(!wednesday.available, "no rule on Wednesdays");
        let vacation = cal.day(date("2026-11-30"));
        assert_eq!(vacation.source, AvailabilitySource::TimeOff);
        assert!(!vacation.available);
    }

    #[test]
    fn covers_checks_windows_in_local_time() {
        let cal = calendar();
        let tz: chrono_tz::Tz = "America/New_York".parse().expect("tz");
        let utc = |hour| {
            Utc.with_ymd_and_hms(2026, 11, 23, hour, 0, 0)
                .single()
                .expect("instant")
        };
        // Monday 2026-11-23 14:00 in New York is 19:00 UTC: inside 13:00-17:00 there,
        // outside every window in UTC.
        assert!(cal.covers(utc(19), utc(21), tz));
        assert!(!cal.covers(utc(19), utc(21), chrono_tz::UTC));
        // 11:00-13:00 in New York spans the lunch gap.
        assert!(!cal.covers(utc(16), utc(18), tz), "spans the lunch gap");
    }
}
