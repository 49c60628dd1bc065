//! Projects: containers for an organization's teams and runs.

pub mod queries;
pub mod service;

use diesel::prelude::*;

use crate::db::schema::projects;
use crate::db::{Id, Json, Timestamp};
use crate::db_enum;

db_enum! {
    /// Where a project stands.
    pub enum ProjectStatus {
        /// Being worked on.
        Active => "active",
        /// Finished successfully (`completedAt` is set).
        Completed => "completed",
        /// Kept for reference.
        Archived => "archived",
        /// Stopped because of errors.
        Failed => "failed",
    }
}

db_enum! {
    /// How urgent a project is.
    pub enum ProjectPriority {
        /// Can wait.
        Low => "low",
        /// The default.
        Medium => "medium",
        /// Before medium and low ones.
        High => "high",
        /// Before everything else.
        Urgent => "urgent",
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = projects, treat_none_as_default_value = false)]
pub struct Project {
    pub id: Id,
    pub organization_id: Id,
    pub created_by: Option<Id>,
    pub manager_id: Option<Id>,
    pub name: String,
    pub description: Option<String>,
    pub topic: String,
    pub status: ProjectStatus,
    pub priority: ProjectPriority,
    pub metadata: Json,
    pub settings: Json,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

impl Project {
    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "description": self.description,
            "topic": self.topic,
            "status": self.status.as_str(),
            "priority": self.priority.as_str(),
            "manager_id": self.manager_id,
            "metadata": self.metadata.0,
            "settings": self.settings.0,
            "completed_at": self.completed_at.map(|t| t.0),
        })
    }
}
