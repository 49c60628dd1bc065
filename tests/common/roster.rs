//! An independent check of the auto-scheduler's proposals against what a test itself
//! set up: nothing here reuses the gateway's own rules.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde_json::Value;

/// What the test knows about a person.
pub struct Person {
    pub id: String,
    pub skills: Vec<String>,
    /// Weekday (0 = Monday) -> (start hour, end hour), UTC.
    pub hours: HashMap<u32, (u32, u32)>,
    /// Days of approved time off.
    pub off: Vec<NaiveDate>,
}

pub type Slot = (DateTime<Utc>, DateTime<Utc>);

pub fn parse(t: &Value) -> DateTime<Utc> {
    t.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a timestamp: {t}"))
}

/// Panics unless every proposal keeps every rule: one per event, inside the event's
/// window, for its estimated minutes, by an active person with the required skills,
/// inside their hours, not on time off, never overlapping another booking of theirs
/// (`booked` holds the bookings made before the run), at most `max_per_day` a day.
/// `events` are the work events by id, as `workEvents` returns them.
pub fn check(
    people: &[Person],
    events: &HashMap<String, Value>,
    proposals: &[Value],
    booked: &[(String, Slot)],
    max_per_day: usize,
) {
    let person: HashMap<&str, &Person> = people.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut per_person: HashMap<String, Vec<Slot>> = HashMap::new();
    for (user, slot) in booked {
        per_person.entry(user.clone()).or_default().push(*slot);
    }
    let mut proposed_events = HashSet::new();
    for p in proposals {
        let event_id = p["workEventId"].as_str().expect("event id");
        let event = &events[event_id];
        assert!(
            proposed_events.insert(event_id),
            "one proposal per event: {p}"
        );
        let (start, end) = (parse(&p["scheduledAt"]), parse(&p["endsAt"]));
        assert!(
            start >= parse(&event["startAt"]) && end <= parse(&event["dueAt"]),
            "outside the event's window: {p}"
        );
        assert_eq!(
            end - start,
            Duration::minutes(event["estimatedMinutes"].as_i64().unwrap_or(0)),
            "{p}"
        );
        let user = p["user"]["id"].as_str().expect("user");
        let who = person
            .get(user)
            .unwrap_or_else(|| panic!("proposed someone not schedulable: {p}"));
        let date = start.date_naive();
        assert!(!who.off.contains(&date), "during approved time off: {p}");
        let (from, to) = who
            .hours
            .get(&date.weekday().num_days_from_monday())
            .copied()
            .unwrap_or_else(|| panic!("on a day without availability: {p}"));
        let midnight = date.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        assert!(
            start >= midnight + Duration::hours(i64::from(from))
                && end <= midnight + Duration::hours(i64::from(to)),
            "outside availability: {p}"
        );
        for skill in event["requiredSkills"].as_array().expect("skills") {
            let skill = skill.as_str().unwrap_or_default();
            assert!(
                who.skills.iter().any(|s| s.eq_ignore_ascii_case(skill)),
                "lacks {skill}: {p}"
            );
        }
        let c = p["confidence"].as_f64().expect("confidence");
        assert!((0.0..=1.0).contains(&c), "{p}");
        assert!(!p["reason"].as_str().unwrap_or_default().is_empty(), "{p}");
        per_person
            .entry(user.to_string())
            .or_default()
            .push((start, end));
    }
    for (user, mut slots) in per_person {
        slots.sort();
        for pair in slots.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "{user} is double-booked: {pair:?}");
        }
        let mut per_day: HashMap<NaiveDate, usize> = HashMap::new();
        for (start, _) in &slots {
            *per_day.entry(start.date_naive()).or_default() += 1;
        }
        assert!(
            per_day.values().all(|n| *n <= max_per_day),
            "{user} works more than {max_per_day} events a day: {per_day:?}"
        );
    }
}
