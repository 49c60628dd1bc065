//! Executes auto-scheduler runs: one step per day, each day's plan committed with
//! its step.

use std::time::Instant;

use tokio::sync::watch;

use super::worker::{Halt, Shared, commit, fail};
use crate::db::Timestamp;
use crate::runs::lifecycle::{Claim, Committed, StepDone, StepWrites};
use crate::runs::{RunStep, StepStatus};
use crate::scheduling::autoscheduler::{self, DayOutcome, SchedulerInputs, SchedulerReport};

pub(super) async fn execute(
    shared: &Shared,
    claim: &Claim,
    abandoned: &mut watch::Receiver<bool>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), Halt> {
    let settings = claim
        .run
        .inputs
        .parse::<SchedulerInputs>()
        .ok()
        .map(|i| i.settings);
    let mut report = SchedulerReport {
        settings,
        ..SchedulerReport::default()
    };
    for step in claim
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Completed)
    {
        if let Some(done) = outcome_of(step) {
            add(&mut report, &done);
        }
    }
    let mut current = claim.run.clone();
    let pending: Vec<&RunStep> = claim
        .steps
        .iter()
        .filter(|s| s.status != StepStatus::Completed)
        .collect();
    for (i, step) in pending.iter().enumerate() {
        if *abandoned.borrow() {
            return Err(Halt::Lost);
        }
        if *stop.borrow() {
            return Err(Halt::Shutdown);
        }
        let Some(date) = step
            .input
            .as_ref()
            .and_then(|i| i.field("date"))
            .and_then(|d| d.as_str()?.parse().ok())
        else {
            return fail(
                shared,
                claim,
                Some(step.position),
                "the step's stored date is unreadable",
            )
            .await;
        };
        let clock = Instant::now();
        let planned = match shared.pool.get().await {
            Ok(mut pooled) => autoscheduler::plan_day(&mut pooled.conn(), &claim.run, date).await,
            Err(error) => Err(error.into()),
        };
        let plan = match planned {
            Ok(plan) => plan,
            Err(error) => {
                tracing::warn!(%error, run_id = %claim.run.id, %date, "planning a day failed");
                let message = format!("planning {date} failed: {}", error.public_message());
                return fail(shared, claim, Some(step.position), &message).await;
            }
        };
        add(&mut report, &plan.outcome);
        let next_position = pending.get(i + 1).map(|s| s.position);
        let started = claim.run.started_at.unwrap_or_else(Timestamp::now);
        report.duration_ms = (Timestamp::now().0 - started.0).num_milliseconds().max(0);
        let done = StepDone {
            position: step.position,
            output: serde_json::to_value(&plan.outcome).unwrap_or_default(),
            content: serde_json::to_string(&report).unwrap_or_default(),
            prompt_tokens: 0,
            completion_tokens: 0,
            cost: crate::db::Decimal::zero(),
            duration_ms: clock.elapsed().as_millis() as i64,
            model: None,
            next_position,
            writes: Some(StepWrites {
                proposals: plan.proposals,
                exceptions: plan.exceptions,
            }),
        };
        match commit(shared, claim, &current, &done).await? {
            Committed::Stored { run, events } => {
                current = *run;
                shared.bus.publish_runs(events);
            }
            Committed::ClaimLost | Committed::OverBudget { .. } => return Err(Halt::Lost),
        }
    }
    Ok(())
}

fn outcome_of(step: &RunStep) -> Option<DayOutcome> {
    step.output.as_ref()?.parse().ok()
}

fn add(report: &mut SchedulerReport, day: &DayOutcome) {
    report.events_processed += day.events_processed;
    report.events_assigned += day.events_assigned;
    report.events_failed += day.events_failed;
}
