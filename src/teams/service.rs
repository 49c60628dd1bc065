//! Team and role changes: permission check, validation, the change and its audit row
//! in one transaction.

use std::collections::HashSet;

use super::queries::{self, RoleUpdate, TeamUpdate};
use super::roles::{check_config, check_description, check_model, check_title};
use super::{
    MAX_ROLES, NewRoleInput, NewTeam, NewTeamInput, Role, RoleChanges, Team, TeamChanges,
    TeamStatus, check_budget, clean_optional_text, clean_text,
};
use crate::audit::{self, Change};
use crate::auth::permissions::{Actor, Permission};
use crate::db::{Conn, Decimal, Id, Timestamp};
use crate::error::{AppError, AppResult, on_unique};
use crate::tenant_transaction;

const TEAM_NAME_TAKEN: &str = "a team with this name already exists in the organization";
const ROLE_TITLE_TAKEN: &str = "a role with this title already exists in the team";

/// Creates a team, with its roles when given.
pub async fn create_team(
    conn: &mut Conn<'_>,
    actor: &Actor,
    input: NewTeamInput,
) -> AppResult<(Team, Vec<Role>)> {
    actor.require(Permission::TeamsWrite)?;
    let now = Timestamp::now();
    let team = NewTeam {
        id: Id::new(),
        organization_id: actor.organization_id,
        owner_id: Some(actor.user_id),
        name: clean_text("name", &input.name, 100)?,
        description: clean_optional_text("description", input.description.as_deref(), 1000)?,
        monthly_budget: check_budget("monthlyBudget", &input.monthly_budget)?,
        current_spend: Decimal::zero(),
        status: TeamStatus::Idle,
        created_at: now,
        updated_at: now,
        project_id: input.project_id,
    };
    if input.roles.len() > MAX_ROLES {
        return Err(AppError::bad_input(
            "roles",
            format!("a team has at most {MAX_ROLES} roles"),
        ));
    }
    let mut rows = Vec::with_capacity(input.roles.len());
    for (position, role) in input.roles.into_iter().enumerate() {
        let position = position as i32;
        rows.push(role.into_row(
            &format!("roles.{position}"),
            actor.organization_id,
            team.id,
            position,
            now,
        )?);
    }
    let mut titles = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        if !titles.insert(row.title.as_str()) {
            return Err(AppError::bad_input(
                format!("roles.{i}.title"),
                "role titles must be unique within a team",
            ));
        }
    }
    if !rows.is_empty() && !rows.iter().any(|r| r.is_active) {
        return Err(AppError::bad_input(
            "roles",
            "a team must have at least one active role",
        ));
    }

    tenant_transaction!(conn, actor.organization_id, |tx| -> AppResult<(
        Team,
        Vec<Role>
    )> {
        crate::billing::service::check_team_quota(tx, actor.organization_id).await?;
        if let Some(project) = team.project_id {
            crate::projects::service::ensure_project(tx, actor.organization_id, project).await?;
        }
        let team = queries::insert(tx, &team)
            .await
            .map_err(on_unique("name", TEAM_NAME_TAKEN))?;
        let roles = if rows.is_empty() {
            Vec::new()
        } else {
            queries::insert_roles(tx, &rows).await?
        };
        let mut values = team.audit_values();
        values["roles"] = roles.iter().map(Role::audit_values).collect();
        audit::record(
            tx,
            actor,
            Change {
                action: "team.create",
                resource_type: "team",
                resource_id: Some(team.id),
                new_values: Some(values),
                ..Change::default()
            },
        )
        .await?;
        Ok((team, roles))
    })
}

pub async fn update_team(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
    changes: TeamChanges,
) -> AppResult<Team> {
    actor.require(Permission::TeamsWrite)?;
    let update = TeamUpdate {
        name: changes
            .name
            .as_deref()
            .map(|n| clean_text("name", n, 100))
            .transpose()?,
        description: match changes.description {
            Some(d) => Some(clean_optional_text("description", d.as_deref(), 1000)?),
            None => None,
        },
        monthly_budget: changes
            .monthly_budget
            .as_ref()
            .map(|b| check_budget("monthlyBudget", b))
            .transpose()?,
        deleted_at: None,
        updated_at: Some(Timestamp::now()),
        project_id: changes.project_id,
    };
    let org = actor.organization_id;
    tenant_transaction!(conn, actor.organization_id, |tx| -> AppResult<Team> {
        if let Some(Some(project)) = update.project_id {
            crate::projects::service::ensure_project(tx, org, project).await?;
        }
        let before = queries::lock(tx, org, id)
            .await?
            .ok_or(AppError::not_found("team"))?;
        let after = queries::update(tx, org, id, &update)
            .await
            .map_err(on_unique("name", TEAM_NAME_TAKEN))?
            .ok_or(AppError::not_found("team"))?;
        audit::record(
            tx,
            actor,
            Change {
                action: "team.update",
                resource_type: "team",
                resource_id: Some(id),
                old_values: Some(before.audit_values()),
                new_values: Some(after.audit_values()),
            },
        )
        .await?;
        Ok(after)
    })
}

/// Soft-deletes a team; its roles become unreachable with it, while past runs keep
/// their history.
pub async fn delete_team(conn: &mut Conn<'_>, actor: &Actor, id: Id) -> AppResult<Team> {
    actor.require(Permission::TeamsWrite)?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    let update = TeamUpdate {
        deleted_at: Some(Some(now)),
        updated_at: Some(now),
        ..TeamUpdate::default()
    };
    tenant_transaction!(conn, actor.organization_id, |tx| -> AppResult<Team> {
        let deleted = queries::update(tx, org, id, &update)
            .await?
            .ok_or(AppError::not_found("team"))?;
        audit::record(
            tx,
            actor,
            Change {
                action: "team.delete",
                resource_type: "team",
                resource_id: Some(id),
                old_values: Some(deleted.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(deleted)
    })
}

/// Adds a role at the end of a team's roles.
pub async fn add_role(
    conn: &mut Conn<'_>,
    actor: &Actor,
    team_id: Id,
    input: NewRoleInput,
) -> AppResult<Role> {
    actor.require(Permission::RolesWrite)?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    // Validate before touching the database; the position is set under the team lock.
    let mut row = input.into_row("role", org, team_id, 0, now)?;
    tenant_transaction!(conn, actor.organization_id, |tx| -> AppResult<Role> {
        queries::lock(tx, org, team_id)
            .await?
            .ok_or(AppError::not_found("team"))?;
        let existing = queries::roles_of_teams(tx, org, &[team_id]).await?;
        if existing.len() >= MAX_ROLES {
            return Err(AppError::bad_input(
                "teamId",
                format!("a team has at most {MAX_ROLES} roles"),
            ));
        }
        if existing.iter().any(|r| r.title == row.title) {
            return Err(AppError::conflict("role.title", ROLE_TITLE_TAKEN));
        }
        row.position = existing.iter().map(|r| r.position + 1).max().unwrap_or(0);
        let role = queries::insert_roles(tx, std::slice::from_ref(&row))
            .await
            .map_err(on_unique("role.title", ROLE_TITLE_TAKEN))?
            .pop()
            .ok_or_else(|| AppError::Internal("role insert returned no row".into()))?;
        ensure_active_role(tx, org, team_id, "role.isActive").await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "role.create",
                resource_type: "role",
                resource_id: Some(role.id),
                new_values: Some(role.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(role)
    })
}

pub async fn update_role(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
    changes: RoleChanges,
) -> AppResult<Role> {
    actor.require(Permission::RolesWrite)?;
    let org = actor.organization_id;
    let update = RoleUpdate {
        title: changes
            .title
            .as_deref()
            .map(|t| check_title("title", t))
            .transpose()?,
        description: match changes.description {
            Some(d) => Some(check_description("description", d.as_deref())?),
            None => None,
        },
        expertise: changes.expertise,
        llm_model: changes
            .llm_model
            .as_deref()
            .map(|m| check_model("llmModel", m))
            .transpose()?,
        llm_config: changes
            .llm_config
            .map(|c| check_config("llmConfig", c))
            .transpose()?,
        agent_config: changes
            .agent_config
            .map(|c| check_config("agentConfig", c))
            .transpose()?,
        position: None,
        is_active: changes.is_active,
        updated_at: Some(Timestamp::now()),
    };
    tenant_transaction!(conn, actor.organization_id, |tx| -> AppResult<Role> {
        let before = queries::roles_by_ids(tx, org, &[id])
            .await?
            .pop()
            .ok_or(AppError::not_found("role"))?;
        queries::lock(tx, org, before.team_id)
            .await?
            .ok_or(AppError::not_found("role"))?;
        let after = queries::update_role(tx, org, id, &update)
            .await
            .map_err(on_unique("title", ROLE_TITLE_TAKEN))?;
        ensure_active_role(tx, org, after.team_id, "isActive").await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "role.update",
                resource_type: "role",
                resource_id: Some(id),
                old_values: Some(before.audit_values()),
                new_values: Some(after.audit_values()),
            },
        )
        .await?;
        Ok(after)
    })
}

/// Removes a role; runs that used it keep their steps, without the role.
pub async fn remove_role(conn: &mut Conn<'_>, actor: &Actor, id: Id) -> AppResult<Role> {
    actor.require(Permission::RolesWrite)?;
    let org = actor.organization_id;
    tenant_transaction!(conn, actor.organization_id, |tx| -> AppResult<Role> {
        let role = queries::roles_by_ids(tx, org, &[id])
            .await?
            .pop()
            .ok_or(AppError::not_found("role"))?;
        queries::lock(tx, org, role.team_id)
            .await?
            .ok_or(AppError::not_found("role"))?;
        queries::delete_role(tx, org, id).await?;
        ensure_active_role(tx, org, role.team_id, "id").await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "role.delete",
                resource_type: "role",
                resource_id: Some(id),
                old_values: Some(role.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(role)
    })
}

/// A team with roles keeps at least one of them active (checked after a change, under
/// the team lock, so the transaction rolls the change back).
async fn ensure_active_role(
    conn: &mut Conn<'_>,
    org: Id,
    team_id: Id,
    field: &str,
) -> AppResult<()> {
    let roles = queries::roles_of_teams(conn, org, &[team_id]).await?;
    if roles.is_empty() || roles.iter().any(|r| r.is_active) {
        Ok(())
    } else {
        Err(AppError::bad_input(
            field,
            "a team with roles must keep at least one active role",
        ))
    }
}

/// Sets a team's role order; `role_ids` must list each of the team's roles once.
pub async fn reorder_roles(
    conn: &mut Conn<'_>,
    actor: &Actor,
    team_id: Id,
    role_ids: Vec<Id>,
) -> AppResult<Team> {
    actor.require(Permission::RolesWrite)?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    tenant_transaction!(conn, actor.organization_id, |tx| -> AppResult<Team> {
        let team = queries::lock(tx, org, team_id)
            .await?
            .ok_or(AppError::not_found("team"))?;
        let existing = queries::roles_of_teams(tx, org, &[team_id]).await?;
        let current: HashSet<Id> = existing.iter().map(|r| r.id).collect();
        let requested: HashSet<Id> = role_ids.iter().copied().collect();
        if requested.len() != role_ids.len() || requested != current {
            return Err(AppError::bad_input(
                "roleIds",
                "roleIds must list each of the team's roles exactly once",
            ));
        }
        for (position, id) in role_ids.iter().enumerate() {
            let update = RoleUpdate {
                position: Some(position as i32),
                updated_at: Some(now),
                ..RoleUpdate::default()
            };
            queries::update_role(tx, org, *id, &update).await?;
        }
        audit::record(
            tx,
            actor,
            Change {
                action: "team.reorder_roles",
                resource_type: "team",
                resource_id: Some(team_id),
                old_values: Some(existing.iter().map(|r| r.id.to_string()).collect()),
                new_values: Some(role_ids.iter().map(|id| id.to_string()).collect()),
            },
        )
        .await?;
        Ok(team)
    })
}
