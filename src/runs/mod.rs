//! Orchestration runs of a team and their steps.

pub mod analytics;
pub mod lifecycle;
pub mod queries;
pub mod service;

use diesel::prelude::*;

use crate::db::schema::{run_events, run_steps, runs};
use crate::db::{Decimal, Id, Json, RawJson, Timestamp};
use crate::db_enum;

db_enum! {
    /// Lifecycle of a run.
    pub enum RunStatus {
        /// Waiting for a worker.
        Pending => "PENDING",
        /// A worker is performing its steps.
        Running => "RUNNING",
        /// Every step completed; `result` holds the last answer.
        Completed => "COMPLETED",
        /// A step failed (or the run could not go on); `errorMessage` says why.
        Failed => "FAILED",
        /// Cancelled by a user before it ended.
        Cancelled => "CANCELLED",
    }
}

db_enum! {
    /// What started a run.
    pub enum RunKind {
        /// A team run started by a user or client.
        Team => "TEAM",
        /// A run started by the scheduler.
        Scheduler => "SCHEDULER",
    }
}

db_enum! {
    /// Lifecycle of a run step.
    pub enum StepStatus {
        /// Not begun: waiting for a worker or for the steps before it.
        Pending => "PENDING",
        /// An agent is working on it.
        Running => "RUNNING",
        /// Done; its output is stored.
        Completed => "COMPLETED",
        /// The agent gave no usable answer within the run's attempts; the run fails too.
        Failed => "FAILED",
        /// The run was cancelled before the step ended.
        Cancelled => "CANCELLED",
        /// Never performed: an earlier step failed.
        Skipped => "SKIPPED",
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Identifiable, Insertable)]
#[diesel(table_name = runs, treat_none_as_default_value = false)]
pub struct Run {
    pub id: Id,
    pub organization_id: Id,
    pub team_id: Option<Id>,
    pub triggered_by: Option<Id>,
    pub kind: RunKind,
    pub status: RunStatus,
    pub inputs: RawJson,
    pub execution_config: RawJson,
    pub estimated_cost: Decimal,
    pub result: Option<String>,
    pub error_message: Option<String>,
    pub total_steps: i32,
    pub completed_steps: i32,
    pub tokens_used: i64,
    pub cost: Decimal,
    pub duration_ms: Option<i64>,
    pub claimed_by: Option<String>,
    pub lease_expires_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The `seq` of the run's latest event.
    pub event_seq: i64,
    /// The project the run belongs to, if any.
    pub project_id: Option<Id>,
    /// The template whose phases the run follows, if any.
    pub template_id: Option<Id>,
    /// The recurring schedule that started the run, if any.
    pub schedule_id: Option<Id>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = run_steps, treat_none_as_default_value = false)]
pub struct RunStep {
    pub id: Id,
    pub organization_id: Id,
    pub run_id: Id,
    pub role_id: Option<Id>,
    pub position: i32,
    pub name: String,
    pub status: StepStatus,
    pub input: Option<RawJson>,
    pub output: Option<RawJson>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub tokens_used: i64,
    pub cost: Decimal,
    pub duration_ms: Option<i64>,
    pub error_message: Option<String>,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The columns of a step that a listing of steps shows: what `Run.steps` reads when
/// its selection asks for nothing else. A page of runs lists steps by the thousand, and
/// most of decoding a whole row goes to the columns left out here (the payloads, the
/// timestamps).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = run_steps)]
pub struct StepLine {
    pub id: Id,
    pub run_id: Id,
    pub role_id: Option<Id>,
    pub position: i32,
    pub name: String,
    pub status: StepStatus,
    pub tokens_used: i64,
    pub cost: Decimal,
}

/// Filters of a team's runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
}

db_enum! {
    /// What a run event reports.
    pub enum RunEventKind {
        /// The run was planned and waits for a worker.
        Created => "CREATED",
        /// Spend plus the run's estimate passes 90% of the team's monthly budget.
        BudgetWarning => "BUDGET_WARNING",
        /// A worker claimed the run.
        Started => "STARTED",
        /// A worker took over a run whose previous worker stopped renewing its lease.
        Resumed => "RESUMED",
        /// A step finished and its results are stored.
        StepCompleted => "STEP_COMPLETED",
        /// A step failed; the run fails with it.
        StepFailed => "STEP_FAILED",
        /// The run completed; no event follows.
        Completed => "COMPLETED",
        /// The run failed; no event follows.
        Failed => "FAILED",
        /// The run was cancelled; no event follows.
        Cancelled => "CANCELLED",
    }
}

impl RunEventKind {
    /// Whether no event follows this one.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunEventKind::Completed | RunEventKind::Failed | RunEventKind::Cancelled
        )
    }
}

impl RunStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

/// One entry of a run's durable event log.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = run_events)]
pub struct RunEventRow {
    pub id: Id,
    pub organization_id: Id,
    pub run_id: Id,
    pub seq: i64,
    pub kind: String,
    pub payload: Json,
    pub created_at: Timestamp,
}

/// A run event as subscribers see it.
#[derive(Debug, Clone)]
pub struct RunEvent {
    pub organization_id: Id,
    pub run_id: Id,
    pub seq: i64,
    pub kind: RunEventKind,
    pub payload: EventPayload,
    pub created_at: Timestamp,
}

impl RunEvent {
    pub fn to_row(&self) -> RunEventRow {
        RunEventRow {
            id: Id::new(),
            organization_id: self.organization_id,
            run_id: self.run_id,
            seq: self.seq,
            kind: self.kind.as_str().to_string(),
            payload: Json(serde_json::to_value(&self.payload).unwrap_or_default()),
            created_at: self.created_at,
        }
    }

    /// Reads a stored event; rows written by this code always parse, anything else
    /// is reported rather than guessed at.
    pub fn from_row(row: RunEventRow) -> Result<RunEvent, String> {
        let kind = RunEventKind::parse(&row.kind)
            .ok_or_else(|| format!("unknown run event kind `{}`", row.kind))?;
        let payload = serde_json::from_value(row.payload.0)
            .map_err(|e| format!("malformed payload of run event {}: {e}", row.seq))?;
        Ok(RunEvent {
            organization_id: row.organization_id,
            run_id: row.run_id,
            seq: row.seq,
            kind,
            payload,
            created_at: row.created_at,
        })
    }
}

/// Reads stored events, in order.
pub fn events_from_rows(rows: Vec<RunEventRow>) -> Result<Vec<RunEvent>, String> {
    rows.into_iter().map(RunEvent::from_row).collect()
}

/// What every run event carries: the run's state right after it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventPayload {
    pub team_id: Option<Id>,
    pub status: RunStatus,
    pub progress: Progress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<StepSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How far a run has got.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub completed_steps: i32,
    pub total_steps: i32,
    pub tokens_used: i64,
    /// USD, 4 decimals.
    pub cost: String,
}

impl Progress {
    pub fn of(run: &Run) -> Progress {
        Progress {
            completed_steps: run.completed_steps,
            total_steps: run.total_steps,
            tokens_used: run.tokens_used,
            cost: run.cost.to_string_scaled(4),
        }
    }

    pub fn percent(&self) -> f64 {
        if self.total_steps <= 0 {
            return 0.0;
        }
        let percent = f64::from(self.completed_steps) * 100.0 / f64::from(self.total_steps);
        (percent * 10.0).round() / 10.0
    }
}

/// The step an event is about.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepSummary {
    pub id: Id,
    pub position: i32,
    pub name: String,
    pub role_id: Option<Id>,
    pub status: StepStatus,
    pub tokens_used: i64,
    /// USD, 4 decimals.
    pub cost: String,
    pub duration_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

impl StepSummary {
    pub fn of(step: &RunStep) -> StepSummary {
        StepSummary {
            id: step.id,
            position: step.position,
            name: step.name.clone(),
            role_id: step.role_id,
            status: step.status,
            tokens_used: step.tokens_used,
            cost: step.cost.to_string_scaled(4),
            duration_ms: step.duration_ms,
            error_message: step.error_message.clone(),
        }
    }
}

db_enum! {
    /// How much effort agents put into a run: scales the length of their answers.
    pub enum QualityPreference {
        /// Short answers: at most 400 completion tokens per step (unless the role's
        /// `llm_config.max_tokens` says otherwise).
        Fast => "fast",
        /// The default: at most 800 completion tokens per step (unless the role says otherwise).
        Balanced => "balanced",
        /// Long answers: at most 1200 completion tokens per step (unless the role says otherwise).
        Quality => "quality",
    }
}

/// A run's execution settings, stored as the seed's `execution_config` JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecutionConfig {
    /// Agent attempts a step may take before the step (and the run) fails.
    pub max_iterations: i32,
    /// Wall-clock limit of the run from its start.
    pub timeout_minutes: i32,
    pub quality_preference: QualityPreference,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        ExecutionConfig {
            max_iterations: 5,
            timeout_minutes: 30,
            quality_preference: QualityPreference::Balanced,
        }
    }
}

impl ExecutionConfig {
    pub const MAX_ITERATIONS: std::ops::RangeInclusive<i32> = 1..=20;
    pub const TIMEOUT_MINUTES: std::ops::RangeInclusive<i32> = 1..=1440;

    /// The stored config of a run; a config this code did not write falls back to
    /// the defaults field by field.
    pub fn of(run: &Run) -> ExecutionConfig {
        let defaults = ExecutionConfig::default();
        let value = run.execution_config.value();
        let int = |key: &str, range: std::ops::RangeInclusive<i32>, default: i32| {
            value
                .get(key)
                .and_then(serde_json::Value::as_i64)
                .and_then(|n| i32::try_from(n).ok())
                .filter(|n| range.contains(n))
                .unwrap_or(default)
        };
        ExecutionConfig {
            max_iterations: int(
                "max_iterations",
                Self::MAX_ITERATIONS,
                defaults.max_iterations,
            ),
            timeout_minutes: int(
                "timeout_minutes",
                Self::TIMEOUT_MINUTES,
                defaults.timeout_minutes,
            ),
            quality_preference: value
                .get("quality_preference")
                .and_then(serde_json::Value::as_str)
                .and_then(QualityPreference::parse)
                .unwrap_or(defaults.quality_preference),
        }
    }
}

/// What a step's agent is: a snapshot of its role taken when the run was planned, so
/// a run resumes with the agent it started with even if the role changes meanwhile.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AgentSnapshot {
    pub title: String,
    pub description: Option<String>,
    pub expertise: String,
    pub llm_model: String,
    #[serde(default)]
    pub llm_config: serde_json::Value,
    #[serde(default)]
    pub agent_config: serde_json::Value,
}

impl AgentSnapshot {
    /// `role` as it is now.
    pub fn of(role: &crate::teams::Role) -> AgentSnapshot {
        AgentSnapshot {
            title: role.title.clone(),
            description: role.description.clone(),
            expertise: role.expertise.as_str().to_string(),
            llm_model: role.llm_model.clone(),
            llm_config: role
                .llm_config
                .as_ref()
                .map(RawJson::value)
                .unwrap_or_default(),
            agent_config: role
                .agent_config
                .as_ref()
                .map(RawJson::value)
                .unwrap_or_default(),
        }
    }
}

/// A step's stored `input`: the task and the agent that performs it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StepInput {
    pub task: String,
    pub agent: AgentSnapshot,
    /// The template phase the step performs, if the run follows a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}

/// A run's steps rolled up as phase results: per phase (its template code, or
/// `Phase <n>`) its name, status, response and time, then the totals and success rate.
pub fn phase_results<S: std::ops::Deref<Target = RunStep>>(steps: &[S]) -> serde_json::Value {
    let mut phases = serde_json::Map::new();
    for step in steps {
        let input: Option<StepInput> = step.input.as_ref().and_then(|i| i.parse().ok());
        let key = input
            .and_then(|i| i.phase)
            .unwrap_or_else(|| format!("Phase {}", step.position));
        let response = step
            .output
            .as_ref()
            .and_then(|o| o.field("content"))
            .unwrap_or(serde_json::Value::Null);
        phases.insert(
            key,
            serde_json::json!({
                "phase": step.name,
                "status": step.status.as_str().to_lowercase(),
                "response": response,
                "execution_time_ms": step.duration_ms,
            }),
        );
    }
    let total = steps.len();
    let successful = steps
        .iter()
        .filter(|s| s.status == StepStatus::Completed)
        .count();
    let rate = if total == 0 {
        0.0
    } else {
        successful as f64 * 100.0 / total as f64
    };
    serde_json::json!({
        "phases": phases,
        "metadata": {
            "total_phases": total,
            "successful_phases": successful,
            "success_rate": format!("{rate:.1}%"),
        }
    })
}
