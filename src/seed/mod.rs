//! `gateway seed`: data to explore the API with (`--demo`) or to benchmark it on
//! (`--bench`).

pub mod bench;

use bigdecimal::BigDecimal;

use crate::audit::RequestInfo;
use crate::auth::permissions::{Actor, OrgRole};
use crate::auth::{password, service as auth};
use crate::db::{Id, Json, Pool, Timestamp};
use crate::error::{AppError, AppResult};
use crate::teams::{Expertise, NewRoleInput, NewTeamInput, service as teams};
use crate::users::{NewUser, queries as users};

pub const DEMO_PASSWORD: &str = "demo-password";

/// Who can log in to the demo organization.
pub struct DemoLogins {
    pub organization_slug: String,
    pub emails: Vec<(String, OrgRole)>,
}

fn role(title: &str, expertise: Expertise, model: &str) -> NewRoleInput {
    NewRoleInput {
        title: title.into(),
        description: None,
        expertise,
        llm_model: Some(model.into()),
        llm_config: Some(serde_json::json!({ "temperature": 0.7, "max_tokens": 2000 })),
        agent_config: Some(
            serde_json::json!({ "backstory": format!("A dependable {title}."), "goals": [] }),
        ),
        is_active: Some(true),
    }
}

/// Creates the demo organization: an admin, a manager, a viewer and three teams.
pub async fn demo(pool: &Pool, keys: &crate::auth::token::TokenKeys) -> AppResult<DemoLogins> {
    let mut pooled = pool.get().await?;
    let mut conn = pooled.conn();
    let request = RequestInfo {
        request_id: "seed".into(),
        ..RequestInfo::default()
    };
    let session = auth::sign_up(
        &mut conn,
        keys,
        auth::SignUpInput {
            organization_name: "Demo Organization".into(),
            slug: "demo".into(),
            email: "admin@demo.example".into(),
            username: "demo-admin".into(),
            password: DEMO_PASSWORD.into(),
            full_name: Some("Dana Admin".into()),
        },
        request.clone(),
    )
    .await
    .map_err(|e| match e {
        AppError::Conflict { .. } => AppError::Conflict {
            field: None,
            message: "the demo organization already exists (log in as admin@demo.example)".into(),
        },
        other => other,
    })?;
    let org = session.organization.id;
    let mut emails = vec![("admin@demo.example".to_string(), OrgRole::Admin)];
    for (email, username, name, role) in [
        (
            "manager@demo.example",
            "demo-manager",
            "Morgan Manager",
            OrgRole::Manager,
        ),
        (
            "viewer@demo.example",
            "demo-viewer",
            "Val Viewer",
            OrgRole::Viewer,
        ),
    ] {
        let now = Timestamp::now();
        users::insert(
            &mut conn,
            &NewUser {
                id: Id::new(),
                organization_id: org,
                email: email.into(),
                username: username.into(),
                full_name: Some(name.into()),
                password_hash: Some(password::hash(DEMO_PASSWORD.into()).await?),
                org_role: role,
                permissions: Json(serde_json::json!([])),
                preferences: Json(serde_json::json!({})),
                is_active: true,
                created_at: now,
                updated_at: now,
            },
        )
        .await?;
        emails.push((email.to_string(), role));
    }
    let admin = Actor {
        user_id: session.user.id,
        organization_id: org,
        role: OrgRole::Admin,
        extra_permissions: Vec::new(),
        request,
        audit: Default::default(),
        api_key_id: None,
        scopes: None,
        quota: None,
    };
    let demo_teams = [
        (
            "Marketing Team",
            "AI team for marketing campaigns",
            500,
            vec![
                role("Content Strategist", Expertise::Senior, "gpt-4"),
                role("Copywriter", Expertise::Intermediate, "claude-3-sonnet"),
                role("SEO Analyst", Expertise::Junior, "gpt-3.5-turbo"),
            ],
        ),
        (
            "Development Team",
            "AI team for software development",
            800,
            vec![
                role("Lead Developer", Expertise::Expert, "gpt-4-turbo"),
                role("QA Engineer", Expertise::Intermediate, "codellama:13b"),
            ],
        ),
        (
            "Research Team",
            "AI team for market research",
            300,
            vec![
                role("Researcher", Expertise::Senior, "claude-3-opus"),
                role("Summarizer", Expertise::Junior, "claude-3-haiku"),
            ],
        ),
    ];
    for (name, description, budget, roles) in demo_teams {
        teams::create_team(
            &mut conn,
            &admin,
            NewTeamInput {
                name: name.into(),
                description: Some(description.into()),
                monthly_budget: BigDecimal::from(budget),
                roles,
                project_id: None,
            },
        )
        .await?;
    }
    Ok(DemoLogins {
        organization_slug: session.organization.slug,
        emails,
    })
}
