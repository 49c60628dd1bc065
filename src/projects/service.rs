//! Project changes: permission check, validation, the change and its audit row in one
//! transaction.

use super::queries;
use super::{Project, ProjectPriority, ProjectStatus};
use crate::audit::{self, Change};
use crate::auth::permissions::{Actor, Permission};
use crate::db::{Conn, Id, Json, Timestamp};
use crate::error::{AppError, AppResult, on_unique};
use crate::teams::{clean_optional_text, clean_text};
use crate::tenant_transaction;

const NAME_TAKEN: &str = "a project with this name already exists in the organization";

/// A project as a client describes it (on update, `None` leaves a field unchanged).
#[derive(Debug, Clone, Default)]
pub struct ProjectFields {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub topic: Option<String>,
    pub status: Option<ProjectStatus>,
    pub priority: Option<ProjectPriority>,
    pub manager_id: Option<Option<Id>>,
    pub metadata: Option<serde_json::Value>,
    pub settings: Option<serde_json::Value>,
}

fn json_object(field: &str, value: serde_json::Value) -> AppResult<Json> {
    if !value.is_object() || value.to_string().len() > 64 * 1024 {
        return Err(AppError::bad_input(
            field,
            format!("`{field}` must be a JSON object of at most 64 KiB"),
        ));
    }
    Ok(Json(value))
}

/// Applies validated `fields` to `project`.
async fn apply(
    tx: &mut Conn<'_>,
    project: &mut Project,
    fields: ProjectFields,
    now: Timestamp,
) -> AppResult<()> {
    if let Some(name) = &fields.name {
        project.name = clean_text("name", name, 255)?;
    }
    if let Some(description) = &fields.description {
        project.description = clean_optional_text("description", description.as_deref(), 5000)?;
    }
    if let Some(topic) = &fields.topic {
        project.topic = clean_text("topic", topic, 1000)?;
    }
    if let Some(priority) = fields.priority {
        project.priority = priority;
    }
    if let Some(status) = fields.status {
        if status != project.status {
            project.completed_at = (status == ProjectStatus::Completed).then_some(now);
        }
        project.status = status;
    }
    if let Some(manager) = fields.manager_id {
        if let Some(manager) = manager {
            let found = crate::users::queries::by_ids(tx, project.organization_id, &[manager])
                .await?
                .into_iter()
                .any(|u| u.deleted_at.is_none());
            if !found {
                // Another organization's user reads as a missing one.
                return Err(AppError::not_found("user"));
            }
        }
        project.manager_id = manager;
    }
    if let Some(metadata) = fields.metadata {
        project.metadata = json_object("metadata", metadata)?;
    }
    if let Some(settings) = fields.settings {
        project.settings = json_object("settings", settings)?;
    }
    project.updated_at = now;
    Ok(())
}

/// Creates a project within the organization's `max_projects`.
pub async fn create_project(
    conn: &mut Conn<'_>,
    actor: &Actor,
    fields: ProjectFields,
) -> AppResult<Project> {
    actor.require(Permission::ProjectsWrite)?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    let mut project = Project {
        id: Id::new(),
        organization_id: org,
        created_by: Some(actor.user_id),
        manager_id: None,
        name: String::new(),
        description: None,
        topic: String::new(),
        status: ProjectStatus::Active,
        priority: ProjectPriority::Medium,
        metadata: Json(serde_json::json!({})),
        settings: Json(serde_json::json!({})),
        created_at: now,
        updated_at: now,
        completed_at: None,
    };
    if fields.name.is_none() || fields.topic.is_none() {
        return Err(AppError::bad_input(
            "name",
            "a project needs a name and a topic",
        ));
    }
    tenant_transaction!(conn, org, |tx| -> AppResult<Project> {
        // Creations serialize on the organization, so the quota holds under concurrency.
        let organization = crate::organizations::queries::lock(tx, org)
            .await?
            .ok_or(AppError::not_found("organization"))?;
        let existing = queries::count(tx, org, &queries::ProjectFilter::default()).await?;
        if existing >= i64::from(organization.max_projects) {
            return Err(AppError::quota(
                "projects",
                None,
                format!(
                    "the organization's plan allows {} projects (projects); delete one or change the plan",
                    organization.max_projects
                ),
            ));
        }
        apply(tx, &mut project, fields, now).await?;
        let stored = queries::insert(tx, &project)
            .await
            .map_err(on_unique("name", NAME_TAKEN))?;
        audit::record(
            tx,
            actor,
            Change {
                action: "project.create",
                resource_type: "project",
                resource_id: Some(stored.id),
                new_values: Some(stored.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(stored)
    })
}

pub async fn update_project(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
    fields: ProjectFields,
) -> AppResult<Project> {
    actor.require(Permission::ProjectsWrite)?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    tenant_transaction!(conn, org, |tx| -> AppResult<Project> {
        let before = queries::lock(tx, org, id)
            .await?
            .ok_or(AppError::not_found("project"))?;
        let mut project = before.clone();
        apply(tx, &mut project, fields, now).await?;
        let after = queries::save(tx, &project)
            .await
            .map_err(on_unique("name", NAME_TAKEN))?;
        audit::record(
            tx,
            actor,
            Change {
                action: "project.update",
                resource_type: "project",
                resource_id: Some(id),
                old_values: Some(before.audit_values()),
                new_values: Some(after.audit_values()),
            },
        )
        .await?;
        Ok(after)
    })
}

/// Deletes a project; its teams and runs stay, without a project.
pub async fn delete_project(conn: &mut Conn<'_>, actor: &Actor, id: Id) -> AppResult<Project> {
    actor.require(Permission::ProjectsWrite)?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    tenant_transaction!(conn, org, |tx| -> AppResult<Project> {
        let project = queries::lock(tx, org, id)
            .await?
            .ok_or(AppError::not_found("project"))?;
        queries::delete(tx, org, id, now).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "project.delete",
                resource_type: "project",
                resource_id: Some(id),
                old_values: Some(project.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(project)
    })
}

/// Checks that `project` is one of the organization's projects (inside the caller's
/// transaction), for teams and runs that name it.
pub async fn ensure_project(tx: &mut Conn<'_>, org: Id, project: Id) -> AppResult<()> {
    // Another organization's project reads as a missing one.
    if queries::by_ids(tx, org, &[project]).await?.is_empty() {
        return Err(AppError::not_found("project"));
    }
    Ok(())
}
