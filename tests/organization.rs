//! Organization settings and plans, and what a closed organization means for its users.

mod common;

use common::{TestApp, error_code, error_field};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use gateway::auth::permissions::OrgRole;
use gateway::db::Timestamp;
use gateway::db::schema::organizations;
use serde_json::json;

const UPDATE: &str = "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { \
    organization { name plan settings maxUsers maxProjects apiQuotaLimit } } }";

async fn admins_update_the_organization(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let body = app
        .gql(Some(&admin), UPDATE, json!({ "input": { "name": "Acme Corp", "settings": { "timezone": "UTC" }, "plan": "PRO" } }))
        .await;
    assert!(body["errors"].is_null(), "{body:#}");
    let org = &body["data"]["updateOrganization"]["organization"];
    assert_eq!(org["name"], "Acme Corp");
    assert_eq!(org["plan"], "PRO");
    assert_eq!(org["settings"]["timezone"], "UTC");
    assert_eq!(org["maxUsers"], 50, "the plan sets its limits");
    assert_eq!(org["apiQuotaLimit"], 100_000);

    let body = app
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "input": { "settings": [1, 2] } }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(error_field(&body), "settings");

    let org_id = app.organization_id(&admin).await;
    let manager = app.add_user(org_id, "hal", OrgRole::Manager).await;
    let body = app
        .gql(
            Some(&manager),
            UPDATE,
            json!({ "input": { "name": "Hal's" } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("organization.manage")
    );

    let logs = app
        .data(Some(&admin), "{ auditLogs(filter: { action: \"organization.update\" }) { nodes { success oldValues newValues } } }", json!({}))
        .await;
    let rows = logs["auditLogs"]["nodes"].as_array().unwrap();
    let succeeded: Vec<_> = rows.iter().filter(|r| r["success"] == true).collect();
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0]["oldValues"]["plan"], "free");
    assert_eq!(succeeded[0]["newValues"]["plan"], "pro");
    assert_eq!(rows.len(), 3, "the two failed attempts are on record too");
}

async fn a_closed_organization_locks_out_its_users(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let other = app.sign_up("globex").await;
    let org = app.organization_id(&admin).await;
    let mut pooled = app.state.pool.get().await.unwrap();
    let now = Timestamp::now();
    gateway::dispatch!(&mut pooled.conn(), |c| diesel::update(
        organizations::table.find(org)
    )
    .set(organizations::deleted_at.eq(now))
    .execute(c)
    .await)
    .unwrap();
    // A change made outside the gateway reaches a cached session when the database
    // announces it (PostgreSQL), within moments.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let body = loop {
        let body = app
            .gql(Some(&admin), "{ viewer { user { id } } }", json!({}))
            .await;
        if !body["errors"].is_null() || std::time::Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let body = app
        .gql(None, "mutation { login(input: { email: \"admin@acme.example\", password: \"correct horse battery\" }) { token } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    // Other organizations are unaffected.
    assert!(
        app.gql(Some(&other), "{ viewer { user { id } } }", json!({}))
            .await["errors"]
            .is_null()
    );
}

backend_tests! {
    update => admins_update_the_organization;
    closed => a_closed_organization_locks_out_its_users;
}

async fn the_api_quota_is_counted_and_enforced(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let other = app.sign_up("globex").await;
    let org = app.organization_id(&admin).await; // request 1
    let mut pooled = app.state.pool.get().await.unwrap();
    gateway::dispatch!(&mut pooled.conn(), |c| diesel::update(
        organizations::table.find(org)
    )
    .set(organizations::api_quota_limit.eq(5))
    .execute(c)
    .await)
    .unwrap();
    for _ in 0..2 {
        app.data(Some(&admin), "{ viewer { user { id } } }", json!({}))
            .await; // 2, 3
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let data = app
        .data(
            Some(&admin),
            "{ organization { apiQuotaUsed apiQuotaLimit apiQuotaResetsAt } }",
            json!({}),
        )
        .await; // 4
    assert_eq!(data["organization"]["apiQuotaUsed"], 3, "{data}");
    assert_eq!(data["organization"]["apiQuotaLimit"], 5);
    app.data(Some(&admin), "{ viewer { user { id } } }", json!({}))
        .await; // 5
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&admin)
        .json(&json!({ "query": "{ viewer { user { id } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "QUOTA_EXCEEDED");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("5 requests") && message.contains("resets at"),
        "{message}"
    );
    // Other organizations have their own quota.
    assert!(
        app.gql(Some(&other), "{ viewer { user { id } } }", json!({}))
            .await["errors"]
            .is_null()
    );
}

backend_tests! {
    quota => the_api_quota_is_counted_and_enforced;
}
