//! The auto-scheduler: a run of kind SCHEDULER with one step per day of its range.
//! Each step plans one day and commits that day's proposals and exceptions with the
//! step, so the run streams its progress like any run and resumes after a crash at
//! the first day not yet stored.
//!
//! A day is planned earliest deadline first: every unstaffed event whose window
//! touches the day and that nobody has proposed yet is offered to the available,
//! qualified person with the least load, at the earliest time their availability and
//! other bookings leave open, each choice checked by the same rules as a manual
//! booking. An event that fits nowhere waits for a later day of its window; on its
//! last day (or the range's) it becomes a coverage exception.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::availability::{DAY_MINUTES, at, local_date};
use super::queries::{self, ScheduleFilter, WorkEventFilter};
use super::rules::{self, Booking, Candidate, Violation};
use super::service::{calendars, check_range};
use super::{
    EventCondition, EventType, ExceptionType, RotationType, ScheduleException, ScheduleProposal,
    SchedulingSettings, Severity, WorkEvent,
};
use crate::audit::{self, Change};
use crate::auth::permissions::{Actor, Permission};
use crate::db::{Conn, Decimal, Id, RawJson, Timestamp};
use crate::error::{AppError, AppResult};
use crate::events::EventBus;
use crate::runs::lifecycle::{append, events_of};
use crate::runs::{
    ExecutionConfig, Run, RunEvent, RunEventKind, RunKind, RunStatus, RunStep, StepStatus,
    queries as run_queries,
};
use crate::tenant_transaction;

/// What a client may tune for one auto-scheduler run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoSchedulerSettings {
    /// Overrides the organization's maximum events per person per day.
    pub max_events_per_employee_per_day: u32,
    /// Juicer events go to the day's Juicer; Setup events prefer the Primary Lead.
    pub respect_rotations: bool,
    /// When false, people lacking a required skill may be proposed (with lower
    /// confidence and a skill_mismatch exception) if nobody qualified is free.
    pub require_skills: bool,
}

/// The run's inputs, stored on the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulerInputs {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub settings: AutoSchedulerSettings,
}

/// The run's result, stored as its `result` once the last day is planned.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulerReport {
    pub events_processed: i64,
    pub events_assigned: i64,
    pub events_failed: i64,
    pub duration_ms: i64,
    pub settings: Option<AutoSchedulerSettings>,
}

/// What one day's step stores as its output.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DayOutcome {
    pub date: Option<NaiveDate>,
    pub events_processed: i64,
    pub events_assigned: i64,
    pub events_failed: i64,
    /// Events left for a later day of their window.
    pub events_deferred: i64,
}

/// Starts an auto-scheduler run over `from ..= to` (organization local dates).
pub async fn start(
    conn: &mut Conn<'_>,
    bus: &EventBus,
    actor: &Actor,
    from: NaiveDate,
    to: NaiveDate,
    overrides: PartialSettings,
) -> AppResult<(Run, Vec<RunEvent>)> {
    actor.require(Permission::SchedulesWrite)?;
    check_range(from, to)?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    tenant_transaction!(conn, org, |tx| -> AppResult<(Run, Vec<RunEvent>)> {
        let org_settings = queries::settings_of(tx, org).await?;
        let settings = overrides.resolve(&org_settings)?;
        let inputs = SchedulerInputs { from, to, settings };
        let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
        let run = Run {
            id: Id::new(),
            organization_id: org,
            team_id: None,
            triggered_by: Some(actor.user_id),
            kind: RunKind::Scheduler,
            status: RunStatus::Pending,
            inputs: RawJson::new(&inputs),
            execution_config: RawJson::new(&ExecutionConfig::default()),
            estimated_cost: Decimal::zero(),
            result: None,
            error_message: None,
            total_steps: days.len() as i32,
            completed_steps: 0,
            tokens_used: 0,
            cost: Decimal::zero(),
            duration_ms: None,
            claimed_by: None,
            lease_expires_at: None,
            started_at: None,
            completed_at: None,
            created_at: now,
            updated_at: now,
            event_seq: 1,
            project_id: None,
            template_id: None,
            schedule_id: None,
        };
        let steps: Vec<RunStep> = days
            .iter()
            .enumerate()
            .map(|(position, day)| RunStep {
                id: Id::new(),
                organization_id: org,
                run_id: run.id,
                role_id: None,
                position: position as i32,
                name: day.to_string(),
                status: StepStatus::Pending,
                input: Some(RawJson::new(&serde_json::json!({ "date": day }))),
                output: None,
                prompt_tokens: 0,
                completion_tokens: 0,
                tokens_used: 0,
                cost: Decimal::zero(),
                duration_ms: None,
                error_message: None,
                started_at: None,
                completed_at: None,
                created_at: now,
                updated_at: now,
            })
            .collect();
        run_queries::insert_run(tx, &run).await?;
        run_queries::insert_steps(tx, &steps).await?;
        let events = events_of(&run, &[(RunEventKind::Created, None, None)], now);
        append(tx, bus, &run, &events).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "scheduler.run",
                resource_type: "run",
                resource_id: Some(run.id),
                new_values: Some(run.inputs.value()),
                ..Change::default()
            },
        )
        .await?;
        Ok((run, events))
    })
}

/// Settings a client gave; the rest come from the organization.
#[derive(Debug, Clone, Copy, Default)]
pub struct PartialSettings {
    pub max_events_per_employee_per_day: Option<i32>,
    pub respect_rotations: Option<bool>,
    pub require_skills: Option<bool>,
}

impl PartialSettings {
    fn resolve(self, org: &SchedulingSettings) -> AppResult<AutoSchedulerSettings> {
        let max = match self.max_events_per_employee_per_day {
            Some(n) if (1..=24).contains(&n) => n as u32,
            Some(_) => {
                return Err(AppError::bad_input(
                    "settings.maxEventsPerEmployeePerDay",
                    "maxEventsPerEmployeePerDay must be 1-24",
                ));
            }
            None => org.max_events_per_day,
        };
        Ok(AutoSchedulerSettings {
            max_events_per_employee_per_day: max,
            respect_rotations: self.respect_rotations.unwrap_or(true),
            require_skills: self.require_skills.unwrap_or(true),
        })
    }
}

/// One day's plan, to be stored with the day's step.
#[derive(Debug, Default)]
pub struct DayPlan {
    pub proposals: Vec<ScheduleProposal>,
    pub exceptions: Vec<ScheduleException>,
    pub outcome: DayOutcome,
}

/// Plans day `date` of an auto-scheduler run (reads only; the caller stores the plan).
pub async fn plan_day(conn: &mut Conn<'_>, run: &Run, date: NaiveDate) -> AppResult<DayPlan> {
    let org = run.organization_id;
    let inputs: SchedulerInputs = run
        .inputs
        .parse()
        .map_err(|e| AppError::Internal(format!("unreadable scheduler inputs: {e}")))?;
    let org_settings = queries::settings_of(conn, org).await?;
    let settings = SchedulingSettings {
        timezone: org_settings.timezone,
        max_events_per_day: inputs.settings.max_events_per_employee_per_day,
    };
    let tz = settings.timezone;
    let day_start = at(date, 0, tz);
    let day_end = at(date, DAY_MINUTES, tz);
    let people: Vec<_> = queries::org_users(conn, org)
        .await?
        .into_iter()
        .filter(|u| u.is_active)
        .collect();
    let calendars = calendars(
        conn,
        org,
        &people,
        date - Duration::days(1),
        date + Duration::days(1),
    )
    .await?;
    let events = queries::all_events(
        conn,
        org,
        &WorkEventFilter {
            from: Some(Timestamp(day_start)),
            to: Some(Timestamp(day_end)),
            ..WorkEventFilter::default()
        },
    )
    .await?;
    let candidates: Vec<WorkEvent> = events
        .into_iter()
        .filter(|e| {
            matches!(
                e.condition,
                EventCondition::Unstaffed | EventCondition::Reissued
            )
        })
        .collect();
    let ids: Vec<Id> = candidates.iter().map(|e| e.id).collect();
    let staffed: HashSet<Id> = queries::active_schedule_counts(conn, org, &ids)
        .await?
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(id, _)| id)
        .collect();
    let window_from = day_start - Duration::days(1);
    let window_to = day_end + Duration::days(1);
    // This run's proposals of earlier days: events already taken, and each person's
    // load so far (for balancing).
    let mut proposed: HashSet<Id> = HashSet::new();
    let mut run_load: HashMap<Id, i64> = HashMap::new();
    for p in queries::proposals_of_run(conn, org, run.id, false).await? {
        proposed.insert(p.work_event_id);
        *run_load.entry(p.user_id).or_default() += 1;
    }
    let pending = queries::pending_proposals_between(conn, org, window_from, window_to).await?;
    // Events another run proposed and nobody reviewed yet are left to that run.
    let mut others_pending: HashSet<Id> = HashSet::new();
    let mut bookings: HashMap<Id, Vec<Booking>> = HashMap::new();
    for p in &pending {
        if p.run_id != run.id {
            others_pending.insert(p.work_event_id);
        }
        bookings.entry(p.user_id).or_default().push(Booking {
            work_event_id: p.work_event_id,
            start: p.scheduled_at.0,
            end: p.ends_at.0,
        });
    }
    let schedules = queries::schedules_matching(
        conn,
        org,
        &ScheduleFilter {
            from: Some(Timestamp(window_from)),
            to: Some(Timestamp(window_to)),
            ..ScheduleFilter::default()
        },
    )
    .await?;
    for s in &schedules {
        bookings.entry(s.user_id).or_default().push(Booking {
            work_event_id: s.work_event_id,
            start: s.scheduled_at.0,
            end: s.ends_at.0,
        });
    }
    let rotations: HashMap<RotationType, Id> = if inputs.settings.respect_rotations {
        queries::rotations_between(conn, org, date, date)
            .await?
            .into_iter()
            .map(|r| (r.rotation_type, r.user_id))
            .collect()
    } else {
        HashMap::new()
    };

    let mut todo: Vec<WorkEvent> = candidates
        .into_iter()
        .filter(|e| {
            !staffed.contains(&e.id) && !proposed.contains(&e.id) && !others_pending.contains(&e.id)
        })
        .collect();
    todo.sort_by_key(|e| (e.due_at, e.start_at, e.id));

    let now = Timestamp::now();
    let mut plan = DayPlan {
        outcome: DayOutcome {
            date: Some(date),
            ..DayOutcome::default()
        },
        ..DayPlan::default()
    };
    for event in &todo {
        let last_chance = local_date(event.due_at.0, tz) <= date || date >= inputs.to;
        let rotation_holder = match event.event_type {
            EventType::Juicer => rotations.get(&RotationType::Juicer).copied(),
            _ => None,
        };
        let preferred = match event.event_type {
            EventType::Setup => rotations.get(&RotationType::PrimaryLead).copied(),
            _ => None,
        };
        let mut best: Option<Choice> = None;
        let mut feasible = 0usize;
        // Why qualified people (those with the skills, when skills are required)
        // could not take it; an event nobody is qualified for is a skill mismatch.
        let mut refusals: Refusals = HashMap::new();
        let required = event.required_skill_list();
        for person in &people {
            if rotation_holder.is_some_and(|holder| holder != person.id) {
                continue;
            }
            let Some(calendar) = calendars.get(&person.id) else {
                continue;
            };
            if inputs.settings.require_skills
                && !super::missing_skills(&required, &calendar.profile.skill_list()).is_empty()
            {
                continue;
            }
            let theirs = bookings.get(&person.id).map(Vec::as_slice).unwrap_or(&[]);
            match earliest_slot(event, calendar, theirs, &settings, date) {
                Err(violation) => {
                    refusals
                        .entry(violation.rule())
                        .or_insert((0, violation.exception_type()))
                        .0 += 1
                }
                Ok((start, missing)) => {
                    feasible += 1;
                    let day_load = theirs
                        .iter()
                        .filter(|b| local_date(b.start, tz) == date)
                        .count() as i64;
                    let choice = Choice {
                        user_id: person.id,
                        start,
                        missing,
                        preferred: preferred == Some(person.id),
                        day_load,
                        run_load: run_load.get(&person.id).copied().unwrap_or(0),
                    };
                    if best.as_ref().is_none_or(|b| choice.better_than(b)) {
                        best = Some(choice);
                    }
                }
            }
        }
        match best {
            Some(choice) => {
                let end = choice.start + event.duration();
                let confidence = choice.confidence(feasible, rotation_holder.is_some());
                let reason = choice.reason(rotation_holder.is_some(), feasible);
                if !choice.missing.is_empty() {
                    let mut e = ScheduleException::new(
                        org,
                        ExceptionType::SkillMismatch,
                        Severity::Warning,
                        format!(
                            "proposed without required skills: {}",
                            choice.missing.join(", ")
                        ),
                        now,
                    );
                    e.run_id = Some(run.id);
                    e.work_event_id = Some(event.id);
                    e.user_id = Some(choice.user_id);
                    plan.exceptions.push(e);
                }
                plan.proposals.push(ScheduleProposal {
                    id: Id::new(),
                    organization_id: org,
                    run_id: run.id,
                    work_event_id: event.id,
                    user_id: choice.user_id,
                    scheduled_at: Timestamp(choice.start),
                    ends_at: Timestamp(end),
                    confidence,
                    reason,
                    reviewed: false,
                    approved: None,
                    schedule_id: None,
                    created_at: now,
                    updated_at: now,
                });
                bookings.entry(choice.user_id).or_default().push(Booking {
                    work_event_id: event.id,
                    start: choice.start,
                    end,
                });
                *run_load.entry(choice.user_id).or_default() += 1;
                proposed.insert(event.id);
                plan.outcome.events_processed += 1;
                plan.outcome.events_assigned += 1;
            }
            None if last_chance => {
                let (exception_type, message) =
                    unstaffed(event, &required, &refusals, rotation_holder);
                let mut e =
                    ScheduleException::new(org, exception_type, Severity::Error, message, now);
                e.run_id = Some(run.id);
                e.work_event_id = Some(event.id);
                plan.exceptions.push(e);
                plan.outcome.events_processed += 1;
                plan.outcome.events_failed += 1;
            }
            None => plan.outcome.events_deferred += 1,
        }
    }
    Ok(plan)
}

/// A feasible person for an event.
struct Choice {
    user_id: Id,
    start: DateTime<Utc>,
    missing: Vec<String>,
    preferred: bool,
    day_load: i64,
    run_load: i64,
}

impl Choice {
    /// Preferred rotation holder first, then full skills, then the least loaded that
    /// day and over the run, then the earliest start; ties by id for determinism.
    fn better_than(&self, other: &Choice) -> bool {
        let key = |c: &Choice| {
            (
                !c.preferred,
                c.missing.len(),
                c.day_load,
                c.run_load,
                c.start,
                c.user_id,
            )
        };
        key(self) < key(other)
    }

    fn confidence(&self, feasible: usize, rotation: bool) -> f64 {
        let choice = if rotation {
            1.0
        } else {
            0.6 + 0.4 * (feasible.min(5) as f64 / 5.0)
        };
        let penalty = 0.15 * self.missing.len() as f64 + 0.05 * self.day_load as f64;
        ((choice - penalty) * 100.0).round().clamp(5.0, 100.0) / 100.0
    }

    fn reason(&self, rotation: bool, feasible: usize) -> String {
        let mut reason = if rotation {
            "holds the day's Juicer rotation".to_string()
        } else if self.preferred {
            "the day's Primary Lead, preferred for setups".to_string()
        } else if feasible == 1 {
            format!(
                "the only qualified person free then ({} other events that day, {} in this run)",
                self.day_load, self.run_load
            )
        } else {
            format!(
                "least loaded of {feasible} qualified people free then ({} other events that day, {} in this run)",
                self.day_load, self.run_load
            )
        };
        if !self.missing.is_empty() {
            reason.push_str(&format!("; lacks {}", self.missing.join(", ")));
        }
        reason
    }
}

/// The earliest start on `date` at which the person can take the event, with the
/// required skills they lack; the rule that refuses them otherwise.
fn earliest_slot(
    event: &WorkEvent,
    calendar: &super::availability::Calendar,
    bookings: &[Booking],
    settings: &SchedulingSettings,
    date: NaiveDate,
) -> Result<(DateTime<Utc>, Vec<String>), Violation> {
    let tz = settings.timezone;
    let day = calendar.day(date);
    let duration = event.duration();
    let mut last_violation = Violation::Unavailable(
        day.reason
            .clone()
            .unwrap_or_else(|| "no hours that day".into()),
    );
    if !day.available {
        // Let the rules name why (time off, employment, override).
        let probe = event.start_at.0.max(at(date, 0, tz));
        let candidate = Candidate {
            event,
            start: probe,
            end: probe + duration,
            calendar,
            bookings,
            settings,
        };
        return Err(rules::check(&candidate).err().unwrap_or(last_violation));
    }
    for window in &day.windows {
        let (from, to) = window.instants(date, tz);
        let lo = from.max(event.start_at.0);
        let hi = to.min(event.due_at.0);
        if hi - lo < duration {
            last_violation = Violation::Window;
            continue;
        }
        let mut starts = vec![lo];
        starts.extend(
            bookings
                .iter()
                .map(|b| b.end)
                .filter(|end| *end > lo && *end + duration <= hi),
        );
        starts.sort();
        for start in starts {
            let candidate = Candidate {
                event,
                start,
                end: start + duration,
                calendar,
                bookings,
                settings,
            };
            match rules::check(&candidate) {
                Ok(missing) => return Ok((start, missing)),
                Err(v @ Violation::DailyLimit(_)) => return Err(v),
                Err(v) => last_violation = v,
            }
        }
    }
    Err(last_violation)
}

/// How many people each rule refused, with the kind of exception that rule makes.
type Refusals = HashMap<&'static str, (usize, ExceptionType)>;

/// Why nobody could take an event: the exception type and message.
fn unstaffed(
    event: &WorkEvent,
    required: &[String],
    refusals: &Refusals,
    rotation_holder: Option<Id>,
) -> (ExceptionType, String) {
    if refusals.is_empty() && !required.is_empty() && rotation_holder.is_none() {
        return (
            ExceptionType::SkillMismatch,
            format!(
                "nobody has the skills `{}` needs: {}",
                event.name,
                required.join(", ")
            ),
        );
    }
    if refusals.is_empty() {
        return (
            ExceptionType::Coverage,
            format!(
                "nobody could be scheduled on `{}`: no qualified employee",
                event.name
            ),
        );
    }
    let mut counts: Vec<(&&str, &(usize, ExceptionType))> = refusals.iter().collect();
    counts.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
    let summary: Vec<String> = counts
        .iter()
        .map(|(rule, (n, _))| format!("{rule}: {n}"))
        .collect();
    // The most common refusal decides what kind of exception it is.
    let exception_type = counts[0].1.1;
    let who = if rotation_holder.is_some() {
        "the day's Juicer"
    } else {
        "nobody"
    };
    (
        exception_type,
        format!(
            "{who} could take `{}` within its window (people refused by rule: {})",
            event.name,
            summary.join(", ")
        ),
    )
}
