//! Managing an organization's users: permission and grant checks, validation, quota,
//! the change and its audit row in one transaction.

use super::queries::{self, UserUpdate};
use super::{NewUser, User, check_password, parse_email, parse_username};
use crate::audit::{self, Change};
use crate::auth::password;
use crate::auth::permissions::{Actor, OrgRole, Permission};
use crate::db::{Conn, Id, Json, Timestamp};
use crate::error::{AppError, AppResult};
use crate::organizations::queries as orgs;
use crate::tenant_transaction;

/// CONFLICT naming the field when an account (of any organization) already uses the
/// email or username.
pub async fn ensure_login_free(conn: &mut Conn<'_>, email: &str, username: &str) -> AppResult<()> {
    let taken = queries::logins_using(conn, email, username).await?;
    if taken.iter().any(|(e, _)| e == email) {
        return Err(AppError::conflict(
            "email",
            "an account with this email already exists",
        ));
    }
    if taken.iter().any(|(_, u)| u == username) {
        return Err(AppError::conflict(
            "username",
            "this username is already taken",
        ));
    }
    Ok(())
}

/// Parses a list of permission names; unknown names are refused, naming the field.
pub fn parse_permissions(field: &str, names: &[String]) -> AppResult<Vec<Permission>> {
    names
        .iter()
        .map(|name| {
            Permission::parse(name.trim()).ok_or_else(|| {
                AppError::bad_input(
                    field,
                    format!(
                        "unknown permission `{name}`; known: {}",
                        Permission::ALL
                            .iter()
                            .map(|p| p.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
        })
        .collect()
}

fn permissions_json(permissions: &[Permission]) -> Json {
    let mut names: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    Json(serde_json::json!(names))
}

/// No one hands out more than they hold: every permission of `role` and of `extra`
/// must be the actor's own, or the grant is FORBIDDEN naming the first missing one.
fn check_grant(actor: &Actor, role: OrgRole, extra: &[Permission]) -> AppResult<()> {
    for permission in Permission::ALL {
        if (role.grants(*permission) || extra.contains(permission)) && !actor.can(*permission) {
            return Err(AppError::forbidden(permission.as_str()));
        }
    }
    Ok(())
}

/// A user to create.
#[derive(Debug)]
pub struct NewUserInput {
    pub email: String,
    pub username: String,
    pub password: String,
    pub full_name: Option<String>,
    pub org_role: OrgRole,
    pub permissions: Vec<String>,
}

/// Adds a user to the actor's organization, within its `max_users`.
pub async fn create_user(
    conn: &mut Conn<'_>,
    actor: &Actor,
    input: NewUserInput,
) -> AppResult<User> {
    actor.require(Permission::UsersManage)?;
    let email = parse_email("email", &input.email)?;
    let username = parse_username("username", &input.username)?;
    check_password("password", &input.password)?;
    let full_name = crate::teams::clean_optional_text("fullName", input.full_name.as_deref(), 255)?;
    let permissions = parse_permissions("permissions", &input.permissions)?;
    check_grant(actor, input.org_role, &permissions)?;
    let password_hash = password::hash(input.password).await?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    let new = NewUser {
        id: Id::new(),
        organization_id: org,
        email,
        username,
        full_name,
        password_hash: Some(password_hash),
        org_role: input.org_role,
        permissions: permissions_json(&permissions),
        preferences: Json(serde_json::json!({})),
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    tenant_transaction!(conn, actor.organization_id, |tx| -> AppResult<User> {
        let organization = orgs::lock(tx, org)
            .await?
            .ok_or(AppError::not_found("organization"))?;
        let members = queries::count_members(tx, org).await?;
        if members >= i64::from(organization.max_users) {
            return Err(AppError::quota(
                "users",
                None,
                format!(
                    "the organization's plan allows {} users (users)",
                    organization.max_users
                ),
            ));
        }
        ensure_login_free(tx, &new.email, &new.username).await?;
        let user = queries::insert(tx, &new).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "user.create",
                resource_type: "user",
                resource_id: Some(user.id),
                new_values: Some(user.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(user)
    })
}

/// Changes to a user; omitted fields stay.
#[derive(Debug, Default)]
pub struct UserChanges {
    pub full_name: Option<Option<String>>,
    pub org_role: Option<OrgRole>,
    pub permissions: Option<Vec<String>>,
    pub preferences: Option<serde_json::Value>,
}

/// Updates a user. Anyone may change their own name and preferences; roles and
/// permissions (and other users) need `users.manage` and stay within the actor's own
/// permissions. The last active admin cannot be demoted.
pub async fn update_user(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
    changes: UserChanges,
) -> AppResult<User> {
    let managing =
        id != actor.user_id || changes.org_role.is_some() || changes.permissions.is_some();
    if managing {
        actor.require(Permission::UsersManage)?;
    }
    let full_name = match &changes.full_name {
        Some(name) => Some(crate::teams::clean_optional_text(
            "fullName",
            name.as_deref(),
            255,
        )?),
        None => None,
    };
    let permissions = changes
        .permissions
        .as_deref()
        .map(|names| parse_permissions("permissions", names))
        .transpose()?;
    if let Some(preferences) = &changes.preferences
        && !preferences.is_object()
    {
        return Err(AppError::bad_input(
            "preferences",
            "preferences must be a JSON object",
        ));
    }
    let org = actor.organization_id;
    let update = UserUpdate {
        full_name,
        org_role: changes.org_role,
        permissions: permissions.as_deref().map(permissions_json),
        preferences: changes.preferences.map(Json),
        updated_at: Some(Timestamp::now()),
        ..UserUpdate::default()
    };
    tenant_transaction!(conn, actor.organization_id, |tx| -> AppResult<User> {
        let before = queries::lock(tx, org, id)
            .await?
            .ok_or(AppError::not_found("user"))?;
        if managing {
            let role = changes.org_role.unwrap_or(before.org_role);
            let extra = permissions
                .clone()
                .unwrap_or_else(|| before.extra_permissions());
            check_grant(actor, role, &extra)?;
            // Changing an admin is itself an admin's act.
            check_grant(actor, before.org_role, &before.extra_permissions())?;
        }
        if before.org_role == OrgRole::Admin
            && changes.org_role.is_some_and(|r| r != OrgRole::Admin)
            && queries::other_active_admins(tx, org, id).await? == 0
        {
            return Err(AppError::conflict(
                "orgRole",
                "the organization's last active admin cannot be demoted",
            ));
        }
        let after = queries::update(tx, org, id, &update)
            .await?
            .ok_or(AppError::not_found("user"))?;
        audit::record(
            tx,
            actor,
            Change {
                action: "user.update",
                resource_type: "user",
                resource_id: Some(id),
                old_values: Some(before.audit_values()),
                new_values: Some(after.audit_values()),
            },
        )
        .await?;
        Ok(after)
    })
}

/// What [`change_access`] does to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessChange {
    Deactivate,
    Activate,
    Delete,
}

/// Deactivates, reactivates or (softly) deletes a user. Their tokens stop working with
/// the next request. Not oneself, and never the last active admin.
pub async fn change_access(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
    change: AccessChange,
) -> AppResult<User> {
    actor.require(Permission::UsersManage)?;
    if id == actor.user_id && change != AccessChange::Activate {
        return Err(AppError::bad_input(
            "id",
            "you cannot deactivate or delete yourself",
        ));
    }
    let org = actor.organization_id;
    let now = Timestamp::now();
    let update = UserUpdate {
        is_active: Some(change == AccessChange::Activate),
        deleted_at: (change == AccessChange::Delete).then_some(Some(now)),
        updated_at: Some(now),
        ..UserUpdate::default()
    };
    let action = match change {
        AccessChange::Deactivate => "user.deactivate",
        AccessChange::Activate => "user.activate",
        AccessChange::Delete => "user.delete",
    };
    tenant_transaction!(conn, actor.organization_id, |tx| -> AppResult<User> {
        let before = queries::lock(tx, org, id)
            .await?
            .ok_or(AppError::not_found("user"))?;
        check_grant(actor, before.org_role, &before.extra_permissions())?;
        if change != AccessChange::Activate
            && before.org_role == OrgRole::Admin
            && before.is_active
            && queries::other_active_admins(tx, org, id).await? == 0
        {
            return Err(AppError::conflict(
                "id",
                "the organization's last active admin cannot be removed",
            ));
        }
        let after = queries::update(tx, org, id, &update)
            .await?
            .ok_or(AppError::not_found("user"))?;
        audit::record(
            tx,
            actor,
            Change {
                action,
                resource_type: "user",
                resource_id: Some(id),
                old_values: Some(before.audit_values()),
                new_values: (change != AccessChange::Delete).then(|| after.audit_values()),
            },
        )
        .await?;
        Ok(after)
    })
}

/// Changes the actor's own password after checking the current one.
pub async fn change_password(
    conn: &mut Conn<'_>,
    actor: &Actor,
    current: String,
    new: String,
) -> AppResult<User> {
    check_password("newPassword", &new)?;
    let org = actor.organization_id;
    let user = queries::lock(conn, org, actor.user_id)
        .await?
        .ok_or(AppError::not_found("user"))?;
    let stored = user.password_hash.clone().unwrap_or_default();
    if stored.is_empty() || !password::verify(current, stored).await {
        return Err(AppError::bad_input(
            "currentPassword",
            "the current password is incorrect",
        ));
    }
    let hash = password::hash(new).await?;
    let now = Timestamp::now();
    let update = UserUpdate {
        password_hash: Some(Some(hash)),
        updated_at: Some(now),
        ..UserUpdate::default()
    };
    tenant_transaction!(conn, actor.organization_id, |tx| -> AppResult<User> {
        let after = queries::update(tx, org, actor.user_id, &update)
            .await?
            .ok_or(AppError::not_found("user"))?;
        audit::record(
            tx,
            actor,
            Change {
                action: "user.change_password",
                resource_type: "user",
                resource_id: Some(actor.user_id),
                ..Change::default()
            },
        )
        .await?;
        Ok(after)
    })
}
