//! One worker: claim a run, execute its remaining steps, repeat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::RunControl;
use super::backend::{AgentBackend, StepRequest};
use super::{pricing, prompt};
use crate::db::{Pool, Timestamp};
use crate::events::EventBus;
use crate::runs::lifecycle::{self, Claim, Committed, StepDone};
use crate::runs::{ExecutionConfig, RunKind, StepInput, StepStatus, queries};

pub(super) struct Shared {
    pub pool: Pool,
    pub bus: EventBus,
    pub backend: Arc<dyn AgentBackend>,
    pub control: RunControl,
    pub lease: Duration,
    pub poll: Duration,
    pub instance: String,
    /// Opens organizations' secret settings (their own `openai` key).
    pub settings: crate::settings::SettingsCipher,
}

pub(super) async fn run(shared: Arc<Shared>, index: usize, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let token = format!(
            "{}-{index}-{}",
            shared.instance,
            uuid::Uuid::new_v4().simple()
        );
        match claim(&shared, &token).await {
            Ok(Some(claim)) => {
                shared.bus.publish_runs(claim.events.clone());
                execute(&shared, claim, &mut stop).await;
                continue;
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "claiming a run failed"),
        }
        tokio::select! {
            _ = shared.control.inner.wake.notified() => {}
            _ = tokio::time::sleep(shared.poll) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn claim(shared: &Shared, token: &str) -> Result<Option<Claim>, crate::error::AppError> {
    let mut pooled = shared.pool.get().await?;
    lifecycle::claim(&mut pooled.conn(), &shared.bus, token, shared.lease).await
}

/// Why execution of a claimed run stopped early.
pub(super) enum Halt {
    /// Cancelled, taken over or ended elsewhere: nothing more to store.
    Lost,
    /// The process is shutting down.
    Shutdown,
}

async fn execute(shared: &Shared, claim: Claim, stop: &mut watch::Receiver<bool>) {
    let run_id = claim.run.id;
    let (switch, mut abandoned) = shared.control.register(run_id);
    let heartbeat = tokio::spawn(heartbeat(
        shared.pool.clone(),
        claim.clone(),
        shared.lease,
        switch,
    ));
    let result = execute_steps(shared, &claim, &mut abandoned, stop).await;
    heartbeat.abort();
    shared.control.unregister(run_id);
    if let Err(Halt::Shutdown) = result {
        match shared.pool.get().await {
            Ok(mut pooled) => {
                if let Err(error) = queries::release_lease(
                    &mut pooled.conn(),
                    run_id,
                    &claim.token,
                    Timestamp::now(),
                )
                .await
                {
                    tracing::warn!(%error, %run_id, "could not release the run's lease");
                }
            }
            Err(error) => tracing::warn!(%error, %run_id, "could not release the run's lease"),
        }
    }
}

/// Renews the claim's lease; flips `switch` once the claim is gone.
/// The organization's `openai.api_key` setting, opened; `None` (the configured key is
/// used) when it has none or it cannot be read.
async fn organization_api_key(shared: &Shared, org: crate::db::Id) -> Option<String> {
    let mut pooled = match shared.pool.get().await {
        Ok(pooled) => pooled,
        Err(error) => {
            tracing::warn!(%error, "no connection to read the organization's API key");
            return None;
        }
    };
    crate::settings::service::secret(
        &mut pooled.conn(),
        &shared.settings,
        org,
        crate::settings::OPENAI_API_KEY,
    )
    .await
    .unwrap_or_else(|error| {
        tracing::warn!(%error, "could not read the organization's API key");
        None
    })
}

async fn heartbeat(pool: Pool, claim: Claim, lease: Duration, switch: watch::Sender<bool>) {
    let period = (lease / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(period).await;
        let until =
            Timestamp(Timestamp::now().0 + chrono::Duration::from_std(lease).unwrap_or_default());
        let renewed = match pool.get().await {
            Ok(mut pooled) => {
                queries::renew_lease(&mut pooled.conn(), claim.run.id, &claim.token, until).await
            }
            Err(error) => {
                tracing::warn!(%error, "lease renewal could not get a connection");
                continue;
            }
        };
        match renewed {
            Ok(true) => {}
            Ok(false) => {
                let _ = switch.send(true);
                return;
            }
            Err(error) => tracing::warn!(%error, "lease renewal failed"),
        }
    }
}

async fn execute_steps(
    shared: &Shared,
    claim: &Claim,
    abandoned: &mut watch::Receiver<bool>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), Halt> {
    if claim.run.kind == RunKind::Scheduler {
        return super::scheduler::execute(shared, claim, abandoned, stop).await;
    }
    let config = ExecutionConfig::of(&claim.run);
    let started = claim.run.started_at.unwrap_or_else(Timestamp::now);
    let timeout = Duration::from_secs(config.timeout_minutes as u64 * 60);
    let deadline_at = started.0 + chrono::Duration::from_std(timeout).unwrap_or_default();
    let mut prior: Vec<prompt::PriorAnswer> = Vec::new();
    for step in &claim.steps {
        if step.status == StepStatus::Completed
            && let Some(input) = step_input(step)
        {
            let content = step
                .output
                .as_ref()
                .and_then(|o| o.field("content"))
                .and_then(|c| c.as_str().map(str::to_owned))
                .unwrap_or_default();
            prior.push(prompt::PriorAnswer {
                agent: input.agent.title,
                content,
            });
        }
    }
    // An organization's own key for the hosted backend, opened once per claim.
    let api_key = if shared.backend.name() == "openai" {
        organization_api_key(shared, claim.run.organization_id).await
    } else {
        None
    };
    let mut current = claim.run.clone();
    let run_inputs = claim.run.inputs.value();
    let pending: Vec<_> = claim
        .steps
        .iter()
        .filter(|s| s.status != StepStatus::Completed)
        .collect();
    for (i, step) in pending.iter().enumerate() {
        let next_position = pending.get(i + 1).map(|s| s.position);
        let Some(input) = step_input(step) else {
            return fail(
                shared,
                claim,
                Some(step.position),
                "the step's stored input is unreadable",
            )
            .await;
        };
        let remaining = (deadline_at - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        if remaining.is_zero() {
            let message = format!(
                "the run exceeded its timeout of {} minutes",
                config.timeout_minutes
            );
            return fail(shared, claim, Some(step.position), &message).await;
        }
        let messages = prompt::messages(&input.agent, &input.task, &run_inputs, &prior);
        let mut request = StepRequest {
            max_tokens: pricing::completion_cap(&input.agent, config.quality_preference),
            agent: input.agent.clone(),
            messages,
            quality: config.quality_preference,
            attempt: 1,
            api_key: api_key.clone(),
        };
        let clock = Instant::now();
        let mut failure = String::new();
        let mut reply = None;
        for attempt in 1..=config.max_iterations {
            request.attempt = attempt;
            let remaining = (deadline_at - chrono::Utc::now())
                .to_std()
                .unwrap_or_default();
            let outcome = tokio::select! {
                outcome = tokio::time::timeout(remaining, shared.backend.execute(&request)) => outcome,
                _ = async { let _ = abandoned.wait_for(|gone| *gone).await; } => return Err(Halt::Lost),
                _ = async { let _ = stop.wait_for(|stopping| *stopping).await; } => return Err(Halt::Shutdown),
            };
            match outcome {
                Err(_) => {
                    let message = format!(
                        "the run exceeded its timeout of {} minutes",
                        config.timeout_minutes
                    );
                    return fail(shared, claim, Some(step.position), &message).await;
                }
                Ok(Ok(answer)) if !answer.content.trim().is_empty() => {
                    reply = Some((answer, attempt));
                    break;
                }
                Ok(Ok(_)) => failure = "the agent returned an empty answer".into(),
                Ok(Err(error)) => failure = error.to_string(),
            }
            tracing::warn!(run_id = %claim.run.id, position = step.position, attempt, %failure, "step attempt failed");
        }
        let Some((answer, attempts)) = reply else {
            let message = format!(
                "step {} ({}) failed after {} attempts: {failure}",
                step.position + 1,
                step.name,
                config.max_iterations
            );
            return fail(shared, claim, Some(step.position), &message).await;
        };
        let cost = pricing::cost(
            &input.agent.llm_model,
            answer.prompt_tokens,
            answer.completion_tokens,
        );
        let done = StepDone {
            position: step.position,
            output: serde_json::json!({
                "content": answer.content,
                "model": answer.model,
                "finishReason": answer.finish_reason,
                "attempts": attempts,
                "backend": shared.backend.name(),
            }),
            content: answer.content.clone(),
            prompt_tokens: answer.prompt_tokens,
            completion_tokens: answer.completion_tokens,
            cost: cost.clone(),
            duration_ms: clock.elapsed().as_millis() as i64,
            // The model the step was priced as, not the provider's name for it.
            model: Some(input.agent.llm_model.chars().take(100).collect()),
            next_position,
            writes: None,
        };
        match commit(shared, claim, &current, &done).await? {
            Committed::Stored { run, events } => {
                current = *run;
                shared.bus.publish_runs(events);
            }
            Committed::ClaimLost => return Err(Halt::Lost),
            Committed::OverBudget { remaining } => {
                let message = format!(
                    "step {} ({}) would cost {} but the team's remaining monthly budget is {}",
                    step.position + 1,
                    step.name,
                    cost.to_string_scaled(4),
                    remaining.to_string_scaled(4)
                );
                return fail(shared, claim, Some(step.position), &message).await;
            }
        }
        prior.push(prompt::PriorAnswer {
            agent: input.agent.title,
            content: answer.content,
        });
    }
    Ok(())
}

fn step_input(step: &crate::runs::RunStep) -> Option<StepInput> {
    step.input.as_ref()?.parse().ok()
}

/// Commits a step, retrying transient database failures; gives the run up (its lease
/// will expire and another worker resumes it) if the database stays unavailable.
pub(super) async fn commit(
    shared: &Shared,
    claim: &Claim,
    current: &crate::runs::Run,
    done: &StepDone,
) -> Result<Committed, Halt> {
    let mut backoff = Duration::from_millis(50);
    for attempt in 1..=5 {
        let result = match shared.pool.get().await {
            Ok(mut pooled) => {
                lifecycle::commit_step(
                    &mut pooled.conn(),
                    &shared.bus,
                    claim,
                    current,
                    done,
                    shared.lease,
                )
                .await
            }
            Err(error) => Err(error.into()),
        };
        match result {
            Ok(committed) => return Ok(committed),
            Err(error) => {
                tracing::warn!(%error, attempt, run_id = %claim.run.id, "committing a step failed");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
    }
    Err(Halt::Lost)
}

pub(super) async fn fail(
    shared: &Shared,
    claim: &Claim,
    position: Option<i32>,
    message: &str,
) -> Result<(), Halt> {
    tracing::info!(run_id = %claim.run.id, %message, "run failed");
    let result = match shared.pool.get().await {
        Ok(mut pooled) => {
            lifecycle::fail(&mut pooled.conn(), &shared.bus, claim, position, message).await
        }
        Err(error) => Err(error.into()),
    };
    match result {
        Ok(Some((_, events))) => {
            shared.bus.publish_runs(events);
            Ok(())
        }
        Ok(None) => Err(Halt::Lost),
        Err(error) => {
            tracing::warn!(%error, run_id = %claim.run.id, "recording a run failure failed");
            Err(Halt::Lost)
        }
    }
}
