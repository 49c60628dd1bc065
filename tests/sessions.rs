//! Session tokens of busy clients: on PostgreSQL the user and organization behind a
//! token are cached, yet a change to either, made through this gateway, by another
//! process or by plain SQL, applies to the next request.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, TestApp, error_code};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use gateway::auth::permissions::OrgRole;
use gateway::db::schema::{organizations, users};
use gateway::db::{Id, Timestamp};
use gateway::dispatch;
use serde_json::{Value, json};

const WHOAMI: &str = "{ viewer { user { username orgRole } } }";

/// SQL statements one request of `token` costs this gateway.
async fn statements_of(app: &TestApp, token: &str) -> u64 {
    let before = app.state.statements.get();
    app.data(Some(token), "{ __typename }", json!({})).await;
    app.state.statements.get() - before
}

/// Whether `token`'s session comes to cost no statement within a few seconds (the
/// event listener connects in the background after start-up).
async fn becomes_free(app: &TestApp, token: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if statements_of(app, token).await == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Polls `token`'s view of itself until `done` holds, for at most two seconds; returns
/// the last answer.
async fn until(app: &TestApp, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let body = app.gql(Some(token), WHOAMI, json!({})).await;
        if done(&body) || Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn refused(body: &Value) -> bool {
    body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
}

async fn set_user(app: &TestApp, id: Id, role: OrgRole, active: bool) {
    let mut pooled = app.state.pool.get().await.expect("connection");
    dispatch!(&mut pooled.conn(), |c| diesel::update(
        users::table.find(id)
    )
    .set((users::org_role.eq(role), users::is_active.eq(active)))
    .execute(c)
    .await)
    .expect("user updated");
}

async fn warm_sessions_cost_no_statement(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    match app.db.backend {
        Backend::Postgres => assert!(
            becomes_free(app, &admin).await,
            "a repeated request's session is cached on PostgreSQL"
        ),
        // One process owns a SQLite file: the user is read on every request.
        Backend::Sqlite => assert_eq!(statements_of(app, &admin).await, 1),
    }
}

async fn changes_made_elsewhere_apply_at_once(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let org = app.organization_id(&admin).await;
    let mia = app.add_user(org, "mia", OrgRole::Member).await;
    let mia_id: Id = app.user_id(&mia).await.parse().expect("uuid");
    if app.db.backend == Backend::Postgres {
        assert!(becomes_free(app, &mia).await);
    }

    // Plain SQL, as another process or an operator would change the rows.
    set_user(app, mia_id, OrgRole::Manager, true).await;
    let body = until(app, &mia, |b| {
        b["data"]["viewer"]["user"]["orgRole"] == "MANAGER"
    })
    .await;
    assert_eq!(
        body["data"]["viewer"]["user"]["orgRole"], "MANAGER",
        "{body}"
    );

    if app.db.backend == Backend::Postgres {
        assert!(becomes_free(app, &mia).await);
    }
    set_user(app, mia_id, OrgRole::Manager, false).await;
    let body = until(app, &mia, refused).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");

    set_user(app, mia_id, OrgRole::Manager, true).await;
    let body = until(app, &mia, |b| b["errors"].is_null()).await;
    assert!(body["errors"].is_null(), "reactivated: {body}");
    if app.db.backend == Backend::Postgres {
        assert!(becomes_free(app, &mia).await);
    }
    {
        let mut pooled = app.state.pool.get().await.expect("connection");
        let now = Timestamp::now();
        dispatch!(&mut pooled.conn(), |c| diesel::update(
            organizations::table.find(org)
        )
        .set(organizations::deleted_at.eq(now))
        .execute(c)
        .await)
        .expect("organization deleted");
    }
    let body = until(app, &admin, refused).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
}

async fn mutations_apply_to_the_next_request(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let org = app.organization_id(&admin).await;
    let mia = app.add_user(org, "mia", OrgRole::Member).await;
    let mia_id = app.user_id(&mia).await;
    if app.db.backend == Backend::Postgres {
        assert!(becomes_free(app, &mia).await);
    }
    app.data(
        Some(&admin),
        "mutation($input: UpdateUserInput!) { updateUser(input: $input) { user { orgRole } } }",
        json!({ "input": { "id": mia_id, "orgRole": "MANAGER" } }),
    )
    .await;
    let body = app.gql(Some(&mia), WHOAMI, json!({})).await;
    assert_eq!(
        body["data"]["viewer"]["user"]["orgRole"], "MANAGER",
        "{body}"
    );

    if app.db.backend == Backend::Postgres {
        assert!(becomes_free(app, &mia).await);
    }
    app.data(
        Some(&admin),
        "mutation($input: UserIdInput!) { deactivateUser(input: $input) { user { isActive } } }",
        json!({ "input": { "id": mia_id } }),
    )
    .await;
    let body = app.gql(Some(&mia), WHOAMI, json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
}

backend_tests! {
    warm => warm_sessions_cost_no_statement;
    elsewhere => changes_made_elsewhere_apply_at_once;
    mutations => mutations_apply_to_the_next_request;
}
