//! Template changes: permission check, validation, the change and its audit row in one
//! transaction.

use super::{Phase, Template, check_phases, queries};
use crate::audit::{self, Change};
use crate::auth::permissions::{Actor, Permission};
use crate::db::{Conn, Id, Timestamp};
use crate::error::{AppError, AppResult, on_unique};
use crate::teams::{clean_optional_text, clean_text};
use crate::tenant_transaction;

const NAME_TAKEN: &str = "a template with this name already exists in the organization";

/// A template as a client describes it (on update, `None` leaves a field unchanged).
#[derive(Debug, Clone, Default)]
pub struct TemplateFields {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub category: Option<Option<String>>,
    pub phases: Option<Vec<Phase>>,
    pub is_public: Option<bool>,
}

fn apply(template: &mut Template, fields: TemplateFields, now: Timestamp) -> AppResult<()> {
    if let Some(name) = &fields.name {
        template.name = clean_text("name", name, 255)?;
    }
    if let Some(description) = &fields.description {
        template.description = clean_optional_text("description", description.as_deref(), 5000)?;
    }
    if let Some(category) = &fields.category {
        template.category = clean_optional_text("category", category.as_deref(), 100)?;
    }
    if let Some(phases) = &fields.phases {
        let phases = check_phases(phases)?;
        if phases != template.phases {
            // A changed sequence of phases is a new version of the template.
            template.version += i32::from(!template.phase_list().is_empty());
            template.phases = phases;
        }
    }
    if let Some(public) = fields.is_public {
        template.is_public = public;
    }
    template.updated_at = now;
    Ok(())
}

pub async fn create_template(
    conn: &mut Conn<'_>,
    actor: &Actor,
    fields: TemplateFields,
) -> AppResult<Template> {
    actor.require(Permission::TemplatesWrite)?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    let mut template = Template {
        id: Id::new(),
        organization_id: org,
        created_by: Some(actor.user_id),
        name: String::new(),
        description: None,
        category: None,
        phases: crate::db::Json(serde_json::json!([])),
        is_public: false,
        usage_count: 0,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    if fields.name.is_none() || fields.phases.is_none() {
        return Err(AppError::bad_input(
            "phases",
            "a template needs a name and phases",
        ));
    }
    apply(&mut template, fields, now)?;
    tenant_transaction!(conn, org, |tx| -> AppResult<Template> {
        let stored = queries::insert(tx, &template)
            .await
            .map_err(on_unique("name", NAME_TAKEN))?;
        audit::record(
            tx,
            actor,
            Change {
                action: "template.create",
                resource_type: "template",
                resource_id: Some(stored.id),
                new_values: Some(stored.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(stored)
    })
}

pub async fn update_template(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
    fields: TemplateFields,
) -> AppResult<Template> {
    actor.require(Permission::TemplatesWrite)?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    tenant_transaction!(conn, org, |tx| -> AppResult<Template> {
        let before = queries::lock_own(tx, org, id)
            .await?
            .ok_or(AppError::not_found("template"))?;
        let mut template = before.clone();
        apply(&mut template, fields, now)?;
        let after = queries::save(tx, &template)
            .await
            .map_err(on_unique("name", NAME_TAKEN))?;
        audit::record(
            tx,
            actor,
            Change {
                action: "template.update",
                resource_type: "template",
                resource_id: Some(id),
                old_values: Some(before.audit_values()),
                new_values: Some(after.audit_values()),
            },
        )
        .await?;
        Ok(after)
    })
}

/// Deletes one of the organization's templates; runs that used it keep their steps.
pub async fn delete_template(conn: &mut Conn<'_>, actor: &Actor, id: Id) -> AppResult<Template> {
    actor.require(Permission::TemplatesWrite)?;
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<Template> {
        let template = queries::lock_own(tx, org, id)
            .await?
            .ok_or(AppError::not_found("template"))?;
        queries::delete(tx, org, id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "template.delete",
                resource_type: "template",
                resource_id: Some(id),
                old_values: Some(template.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(template)
    })
}
