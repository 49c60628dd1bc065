//! Roles: the AI agents of a team.

use diesel::prelude::*;

use super::{clean_optional_text, clean_text};
use crate::db::schema::roles;
use crate::db::{Id, Json, RawJson, Timestamp};
use crate::db_enum;
use crate::error::{AppError, AppResult};

db_enum! {
    /// How experienced an agent is.
    pub enum Expertise {
        /// The least experienced level.
        Junior => "junior",
        /// Between junior and senior.
        Intermediate => "intermediate",
        /// Experienced: above intermediate, below expert.
        Senior => "senior",
        /// The most experienced level.
        Expert => "expert",
    }
}

/// The language models a role may use.
pub const LLM_MODELS: &[&str] = &[
    "gpt-4",
    "gpt-4-turbo",
    "gpt-3.5-turbo",
    "claude-3-opus",
    "claude-3-sonnet",
    "claude-3-haiku",
    "deepseek-coder:6.7b",
    "deepseek-coder:33b",
    "deepseek-coder:1.3b",
    "llama2:7b",
    "llama2:13b",
    "llama2:70b",
    "mistral:7b",
    "mistral:13b",
    "codellama:7b",
    "codellama:13b",
    "codellama:34b",
    "neural-chat:7b",
    "neural-chat:13b",
];

pub const DEFAULT_LLM_MODEL: &str = "gpt-3.5-turbo";

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = roles)]
pub struct Role {
    pub id: Id,
    pub organization_id: Id,
    pub team_id: Id,
    pub title: String,
    pub description: Option<String>,
    pub expertise: Expertise,
    pub llm_model: String,
    pub llm_config: Option<RawJson>,
    pub agent_config: Option<RawJson>,
    pub position: i32,
    pub is_active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Role {
    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "title": self.title,
            "description": self.description,
            "expertise": self.expertise.as_str(),
            "llm_model": self.llm_model,
            "position": self.position,
            "is_active": self.is_active,
        })
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = roles, treat_none_as_default_value = false)]
pub struct NewRole {
    pub id: Id,
    pub organization_id: Id,
    pub team_id: Id,
    pub title: String,
    pub description: Option<String>,
    pub expertise: Expertise,
    pub llm_model: String,
    pub llm_config: Option<Json>,
    pub agent_config: Option<Json>,
    pub position: i32,
    pub is_active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A role as a client asks to create it.
#[derive(Debug, Clone)]
pub struct NewRoleInput {
    pub title: String,
    pub description: Option<String>,
    pub expertise: Expertise,
    pub llm_model: Option<String>,
    pub llm_config: Option<serde_json::Value>,
    pub agent_config: Option<serde_json::Value>,
    pub is_active: Option<bool>,
}

/// Changes to a role; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RoleChanges {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub expertise: Option<Expertise>,
    pub llm_model: Option<String>,
    pub llm_config: Option<Option<serde_json::Value>>,
    pub agent_config: Option<Option<serde_json::Value>>,
    pub is_active: Option<bool>,
}

pub fn check_title(field: &str, raw: &str) -> AppResult<String> {
    clean_text(field, raw, 100)
}

pub fn check_description(field: &str, raw: Option<&str>) -> AppResult<Option<String>> {
    clean_optional_text(field, raw, 500)
}

pub fn check_model(field: &str, model: &str) -> AppResult<String> {
    let model = model.trim();
    if LLM_MODELS.contains(&model) {
        Ok(model.to_string())
    } else {
        Err(AppError::bad_input(
            field,
            format!("LLM model must be one of: {}", LLM_MODELS.join(", ")),
        ))
    }
}

/// Configuration documents must be JSON objects.
pub fn check_config(field: &str, value: Option<serde_json::Value>) -> AppResult<Option<Json>> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v @ serde_json::Value::Object(_)) => Ok(Some(Json(v))),
        Some(_) => Err(AppError::bad_input(
            field,
            format!("`{field}` must be a JSON object"),
        )),
    }
}

impl NewRoleInput {
    /// Validates the input into a row for `team` at `position`; `field` prefixes error paths.
    pub fn into_row(
        self,
        field: &str,
        org: Id,
        team: Id,
        position: i32,
        now: Timestamp,
    ) -> AppResult<NewRole> {
        Ok(NewRole {
            id: Id::new(),
            organization_id: org,
            team_id: team,
            title: check_title(&format!("{field}.title"), &self.title)?,
            description: check_description(
                &format!("{field}.description"),
                self.description.as_deref(),
            )?,
            expertise: self.expertise,
            llm_model: check_model(
                &format!("{field}.llmModel"),
                self.llm_model.as_deref().unwrap_or(DEFAULT_LLM_MODEL),
            )?,
            llm_config: check_config(&format!("{field}.llmConfig"), self.llm_config)?,
            agent_config: check_config(&format!("{field}.agentConfig"), self.agent_config)?,
            position,
            is_active: self.is_active.unwrap_or(true),
            created_at: now,
            updated_at: now,
        })
    }
}
