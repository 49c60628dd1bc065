//! Signing up (a new organization and its first admin) and logging in.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::password;
use super::permissions::{Actor, OrgRole};
use super::token::TokenKeys;
use crate::audit::{self, AuditSink, Change, Failure, RequestInfo};
use crate::db::schema::organizations;
use crate::db::{Conn, Id, Json, Timestamp};
use crate::error::{AppError, AppResult, Constraint, constraint_kind};
use crate::organizations::{NewOrganization, Organization, Plan, Slug, queries as orgs};
use crate::teams::clean_text;
use crate::users::{
    NewUser, User, check_password, parse_email, parse_username, queries as user_queries,
};
use crate::{dispatch, transaction};

pub struct SignUpInput {
    pub organization_name: String,
    pub slug: String,
    pub email: String,
    pub username: String,
    pub password: String,
    pub full_name: Option<String>,
}

/// A new session: the token and whom it is for.
pub struct Session {
    pub token: String,
    pub user: User,
    pub organization: Organization,
}

/// Creates an organization with `input`'s user as its admin, and logs them in.
pub async fn sign_up(
    conn: &mut Conn<'_>,
    keys: &TokenKeys,
    input: SignUpInput,
    request: RequestInfo,
) -> AppResult<Session> {
    let name = clean_text("organizationName", &input.organization_name, 255)?;
    let slug = Slug::parse("slug", &input.slug)?.into_inner();
    let email = parse_email("email", &input.email)?;
    let username = parse_username("username", &input.username)?;
    check_password("password", &input.password)?;
    let full_name = crate::teams::clean_optional_text("fullName", input.full_name.as_deref(), 255)?;
    let password_hash = password::hash(input.password).await?;

    let now = Timestamp::now();
    let organization = NewOrganization {
        id: Id::new(),
        name,
        slug,
        plan: Plan::Free,
        settings: Json(serde_json::json!({})),
        created_at: now,
        updated_at: now,
    };
    let user = NewUser {
        id: Id::new(),
        organization_id: organization.id,
        email,
        username,
        full_name,
        password_hash: Some(password_hash),
        org_role: OrgRole::Admin,
        permissions: Json(serde_json::json!([])),
        preferences: Json(serde_json::json!({})),
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    let (user, organization) = transaction!(conn, |tx| -> AppResult<(User, Organization)> {
        ensure_identity_free(tx, &organization.slug, &user.email, &user.username).await?;
        let organization = orgs::insert(tx, &organization)
            .await
            .map_err(identity_taken)?;
        let organization = crate::billing::service::open_account(tx, organization, now).await?;
        let user = user_queries::insert(tx, &user)
            .await
            .map_err(identity_taken)?;
        let actor = Actor {
            user_id: user.id,
            organization_id: organization.id,
            role: user.org_role,
            extra_permissions: Vec::new(),
            request,
            audit: Default::default(),
            api_key_id: None,
            scopes: None,
            quota: None,
        };
        audit::record(
            tx,
            &actor,
            Change {
                action: "organization.sign_up",
                resource_type: "organization",
                resource_id: Some(organization.id),
                new_values: Some(serde_json::json!({
                    "name": organization.name,
                    "slug": organization.slug,
                    "admin_email": user.email,
                })),
                ..Change::default()
            },
        )
        .await?;
        Ok((user, organization))
    })?;
    let token = keys.issue(user.id, organization.id)?;
    Ok(Session {
        token,
        user,
        organization,
    })
}

/// Each of slug, email and username is checked so the CONFLICT names the taken one.
async fn ensure_identity_free(
    conn: &mut Conn<'_>,
    slug: &str,
    email: &str,
    username: &str,
) -> AppResult<()> {
    let slug_taken: i64 = dispatch!(conn, |c| organizations::table
        .filter(organizations::slug.eq(slug))
        .count()
        .get_result(c)
        .await)?;
    if slug_taken > 0 {
        return Err(AppError::conflict("slug", "this slug is already taken"));
    }
    crate::users::service::ensure_login_free(conn, email, username).await
}

fn identity_taken(e: diesel::result::Error) -> AppError {
    match constraint_kind(&e) {
        Some(Constraint::Unique) => AppError::Conflict {
            field: None,
            message: "the organization slug, email or username is already taken".into(),
        },
        _ => AppError::from(e),
    }
}

/// Logs in by email. Unknown users and wrong passwords answer alike. A failed login of
/// an existing account is audited (into `failures`), as is a login of a deactivated one.
pub async fn login(
    conn: &mut Conn<'_>,
    keys: &TokenKeys,
    email: &str,
    password: &str,
    request: &RequestInfo,
    failures: &AuditSink,
) -> AppResult<Session> {
    let denied = || AppError::Unauthenticated("invalid email or password".into());
    let user = user_queries::by_email(conn, &email.trim().to_lowercase()).await?;
    // Unknown users and users without a password cost a full check too, so timing
    // does not tell which accounts exist.
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let checked_against = stored.clone().unwrap_or_else(|| DUMMY_HASH.to_owned());
    let matches = password::verify(password.to_owned(), checked_against).await;
    let (Some(user), Some(_), true) = (user.clone(), stored, matches) else {
        if let Some(user) = user {
            audit_login_failure(conn, &user, "wrong password", request, failures).await?;
        }
        return Err(denied());
    };
    let Some((user, organization)) = user_queries::active_with_organization(conn, user.id).await?
    else {
        audit_login_failure(conn, &user, "account inactive", request, failures).await?;
        return Err(AppError::Unauthenticated(
            "this account is deactivated or its organization is closed".into(),
        ));
    };
    user_queries::touch_last_login(conn, user.id, Timestamp::now()).await?;
    let token = keys.issue(user.id, organization.id)?;
    Ok(Session {
        token,
        user,
        organization,
    })
}

/// A session token for the user with this email, issued by an operator from the command
/// line (`gateway token --user`): no password, so it is only reachable by whoever holds
/// the token secret and the database.
pub async fn operator_token(
    conn: &mut Conn<'_>,
    keys: &TokenKeys,
    email: &str,
) -> AppResult<String> {
    let user = user_queries::by_email(conn, &email.trim().to_lowercase())
        .await?
        .ok_or(AppError::NotFound { resource: "user" })?;
    let (user, organization) = user_queries::active_with_organization(conn, user.id)
        .await?
        .ok_or_else(|| {
            AppError::Unauthenticated(
                "this account is deactivated or its organization is closed".into(),
            )
        })?;
    keys.issue(user.id, organization.id)
}

async fn audit_login_failure(
    conn: &mut Conn<'_>,
    user: &crate::users::User,
    reason: &str,
    request: &RequestInfo,
    failures: &AuditSink,
) -> AppResult<()> {
    let row = audit::record_failure(
        conn,
        Failure {
            organization_id: user.organization_id,
            actor_user_id: Some(user.id),
            action: "user.login",
            resource_type: "user",
            details: serde_json::json!({ "code": "UNAUTHENTICATED", "reason": reason }),
            request,
        },
    )
    .await?;
    failures.push(row);
    Ok(())
}

/// An argon2 hash of a random string, verified against when the user does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3gRRLAUqPyvYDbpE1S42pAzwZSxQ+e8bRYX1tpxk8wQ";
