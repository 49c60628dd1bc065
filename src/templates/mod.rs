//! Orchestration templates: ordered phases a run follows instead of one step per role.

pub mod queries;
pub mod service;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::schema::orchestration_templates;
use crate::db::{Id, Json, Timestamp};
use crate::error::{AppError, AppResult};
use crate::teams::{Expertise, Role};

/// The most phases a template has.
pub const MAX_PHASES: usize = 20;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = orchestration_templates, treat_none_as_default_value = false)]
pub struct Template {
    pub id: Id,
    pub organization_id: Id,
    pub created_by: Option<Id>,
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub phases: Json,
    pub is_public: bool,
    pub usage_count: i32,
    pub version: i32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One phase of a template: what to ask, and which of the team's roles answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Phase {
    /// Short identifier, unique in the template (e.g. `ideation`).
    pub code: String,
    pub name: String,
    /// The prompt, with `{{key}}` placeholders filled from the run's inputs.
    pub prompt: String,
    /// The active role with this title (case-insensitive) performs the phase...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_title: Option<String>,
    /// ...or else the first active role (in position order) of this expertise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expertise: Option<Expertise>,
}

impl Template {
    pub fn phase_list(&self) -> Vec<Phase> {
        serde_json::from_value(self.phases.0.clone()).unwrap_or_default()
    }

    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "phases": self.phases.0,
            "is_public": self.is_public,
            "version": self.version,
        })
    }
}

/// Validates phases: 1-20, codes unique, every phase with a prompt and exactly one
/// way to pick its role.
pub fn check_phases(phases: &[Phase]) -> AppResult<Json> {
    if phases.is_empty() || phases.len() > MAX_PHASES {
        return Err(AppError::bad_input(
            "phases",
            format!("a template has 1-{MAX_PHASES} phases"),
        ));
    }
    let mut codes = std::collections::HashSet::new();
    let mut clean = Vec::with_capacity(phases.len());
    for (i, p) in phases.iter().enumerate() {
        let field = |name: &str| format!("phases.{i}.{name}");
        let code = p.code.trim();
        if code.is_empty() || code.chars().count() > 50 {
            return Err(AppError::bad_input(
                field("code"),
                "a code is 1-50 characters",
            ));
        }
        if !codes.insert(code.to_lowercase()) {
            return Err(AppError::bad_input(
                field("code"),
                format!("phase code `{code}` appears twice"),
            ));
        }
        let name = crate::teams::clean_text(&field("name"), &p.name, 100)?;
        let prompt = p.prompt.trim();
        if prompt.is_empty() || prompt.chars().count() > 10_000 {
            return Err(AppError::bad_input(
                field("prompt"),
                "a prompt is 1-10000 characters",
            ));
        }
        let role_title = p
            .role_title
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        if role_title.is_some() == p.expertise.is_some() {
            return Err(AppError::bad_input(
                field("roleTitle"),
                "give either roleTitle or expertise",
            ));
        }
        clean.push(Phase {
            code: code.to_string(),
            name,
            prompt: prompt.to_string(),
            role_title: role_title.map(str::to_string),
            expertise: p.expertise,
        });
    }
    Ok(Json(serde_json::to_value(clean).unwrap_or_default()))
}

/// The active role of `roles` (in position order) that performs `phase`.
pub fn role_for<'a>(phase: &Phase, roles: &'a [Role]) -> Option<&'a Role> {
    roles
        .iter()
        .filter(|r| r.is_active)
        .find(|r| match (&phase.role_title, phase.expertise) {
            (Some(title), _) => r.title.eq_ignore_ascii_case(title),
            (None, Some(expertise)) => r.expertise == expertise,
            (None, None) => false,
        })
}

/// `prompt` with every `{{key}}` replaced by the run input `key` (strings as they are,
/// other values as JSON); a placeholder the inputs lack is named in the error.
pub fn fill(prompt: &str, inputs: &serde_json::Value, field: &str) -> AppResult<String> {
    let mut out = String::with_capacity(prompt.len());
    let mut rest = prompt;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let key = after[..end].trim();
        match inputs.get(key) {
            Some(serde_json::Value::String(s)) => out.push_str(s),
            Some(other) => out.push_str(&other.to_string()),
            None => {
                return Err(AppError::bad_input(
                    field,
                    format!("the template needs the input `{key}`"),
                ));
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_from_inputs() {
        let inputs = serde_json::json!({ "topic": "food delivery", "weeks": 12 });
        assert_eq!(
            fill("Plan {{topic}} in {{ weeks }} weeks", &inputs, "inputs").ok(),
            Some("Plan food delivery in 12 weeks".to_string())
        );
        assert!(fill("Needs {{budget}}", &inputs, "inputs").is_err());
        assert_eq!(
            fill("Unclosed {{topic", &inputs, "inputs").ok(),
            Some("Unclosed {{topic".to_string())
        );
    }
}
