//! Orchestration runs of a team and their steps.

pub mod queries;

use diesel::prelude::*;

use crate::db::schema::{run_steps, runs};
use crate::db::{Decimal, Id, Json, Timestamp};
use crate::db_enum;

db_enum! {
    /// Lifecycle of a run.
    pub enum RunStatus {
        /// Waiting for a worker.
        Pending => "PENDING",
        Running => "RUNNING",
        Completed => "COMPLETED",
        Failed => "FAILED",
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
        Pending => "PENDING",
        Running => "RUNNING",
        Completed => "COMPLETED",
        Failed => "FAILED",
        Cancelled => "CANCELLED",
        Skipped => "SKIPPED",
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Identifiable, Insertable)]
#[diesel(table_name = runs, treat_none_as_default_value = false)]
pub struct Run {
    pub id: Id,
    pub organization_id: Id,
    pub team_id: Id,
    pub triggered_by: Option<Id>,
    pub kind: RunKind,
    pub status: RunStatus,
    pub inputs: Json,
    pub execution_config: Json,
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
    pub input: Option<Json>,
    pub output: Option<Json>,
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

/// Filters of a team's runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
}
