//! API keys: shown once, usable over HTTP (`Authorization` or `X-Api-Key`) and
//! WebSocket, limited to their scopes and to their owner's permissions, and dead once
//! revoked, expired, or their owner deactivated.

mod common;

use std::time::Duration;

use common::ws::{connect, next, send};
use common::{TestApp, error_code};
use serde_json::{Value, json};

const CREATE_KEY: &str = "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id name prefix scopes isActive expiresAt } } }";

async fn create_key(
    app: &TestApp,
    token: &str,
    scopes: Value,
    expires_at: Option<String>,
) -> Value {
    app.gql(
        Some(token),
        CREATE_KEY,
        json!({ "input": { "name": "CI pipeline", "scopes": scopes, "expiresAt": expires_at } }),
    )
    .await
}

/// A request authenticated with `X-Api-Key`.
async fn with_header_key(app: &TestApp, key: &str, query: &str, variables: Value) -> Value {
    app.client
        .post(app.url("/graphql"))
        .header("x-api-key", key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn team_with_role(app: &TestApp, token: &str) -> String {
    let data = app
        .data(
            Some(token),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }",
            json!({ "input": { "name": "Ops", "monthlyBudget": "100", "roles": [{ "title": "Lead", "expertise": "SENIOR" }] } }),
        )
        .await;
    data["createTeam"]["team"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

const START_RUN: &str =
    "mutation($input: StartRunInput!) { startRun(input: $input) { run { id } } }";

async fn keys_act_within_their_scopes(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let team = team_with_role(app, &admin).await;
    let body = create_key(app, &admin, json!(["runs.start"]), None).await;
    assert!(body["errors"].is_null(), "{body:#}");
    let created = &body["data"]["createApiKey"];
    let secret = created["secret"].as_str().unwrap().to_string();
    let key_id = created["apiKey"]["id"].as_str().unwrap().to_string();
    assert!(secret.starts_with(created["apiKey"]["prefix"].as_str().unwrap()));
    assert!(secret.starts_with("gwk_") && secret.len() > 40);
    assert_eq!(created["apiKey"]["scopes"], json!(["runs.start"]));

    // The list shows the key but never its secret.
    let listed = app
        .data(
            Some(&admin),
            "{ apiKeys { id prefix scopes lastUsedAt isActive owner { username } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["apiKeys"][0]["id"], key_id.as_str());
    assert_eq!(listed["apiKeys"][0]["owner"]["username"], "acme-admin");
    assert!(!listed.to_string().contains(&secret));

    // Reads work; the scope allows starting runs and nothing else, admin or not.
    let viewer = app
        .gql(Some(&secret), "{ viewer { user { username } } }", json!({}))
        .await;
    assert_eq!(
        viewer["data"]["viewer"]["user"]["username"], "acme-admin",
        "{viewer}"
    );
    let started = app
        .gql(
            Some(&secret),
            START_RUN,
            json!({ "input": { "teamId": team, "inputs": { "via": "key" } } }),
        )
        .await;
    assert!(started["errors"].is_null(), "{started:#}");
    let body = with_header_key(
        app,
        &secret,
        "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }",
        json!({ "input": { "name": "Sneaky", "monthlyBudget": "1" } }),
    )
    .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("teams.write")
    );

    // What a key does is attributed to it in the audit trail.
    let logs = app
        .data(Some(&admin), "{ auditLogs(filter: { action: \"run.start\" }) { nodes { actorApiKeyId actor { username } } } }", json!({}))
        .await;
    assert_eq!(
        logs["auditLogs"]["nodes"][0]["actorApiKeyId"],
        key_id.as_str()
    );
    let used = app
        .data(Some(&admin), "{ apiKeys { lastUsedAt } }", json!({}))
        .await;
    assert!(used["apiKeys"][0]["lastUsedAt"].is_string());

    // Keys authenticate WebSocket connections too.
    let mut socket = connect(app, "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "apiKey": secret } }),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    let run = started["data"]["startRun"]["run"]["id"].as_str().unwrap();
    send(&mut socket, json!({ "id": "1", "type": "subscribe", "payload": {
        "query": "subscription($id: ID!) { runUpdates(runId: $id) { seq } }", "variables": { "id": run } } }))
    .await;
    assert_eq!(
        next(&mut socket).await["payload"]["data"]["runUpdates"]["seq"],
        1
    );

    // Revoked: refused at once.
    let revoke = "mutation($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) { apiKey { isActive revokedAt } } }";
    let body = app
        .data(Some(&admin), revoke, json!({ "input": { "id": key_id } }))
        .await;
    assert_eq!(body["revokeApiKey"]["apiKey"]["isActive"], false);
    let body = app
        .gql(Some(&secret), "{ viewer { user { username } } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
}

async fn keys_never_exceed_their_owner(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let team = team_with_role(app, &admin).await;
    // A member allowed to manage keys.
    let body = app
        .gql(
            Some(&admin),
            "mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }",
            json!({ "input": { "email": "mia@acme.example", "username": "mia", "password": "a long password",
                "orgRole": "MEMBER", "permissions": ["api_keys.manage"] } }),
        )
        .await;
    let mia_id = body["data"]["createUser"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let login = app
        .data(None, "mutation { login(input: { email: \"mia@acme.example\", password: \"a long password\" }) { token } }", json!({}))
        .await;
    let mia = login["login"]["token"].as_str().unwrap().to_string();

    // Scopes beyond the owner's permissions are refused.
    let body = create_key(app, &mia, json!(["teams.write"]), None).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = create_key(app, &mia, json!(["runs.start"]), None).await;
    let secret = body["data"]["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let start = json!({ "input": { "teamId": team, "inputs": { "n": 1 } } });
    assert!(app.gql(Some(&secret), START_RUN, start.clone()).await["errors"].is_null());

    // When the owner loses a permission, so does the key.
    app.data(
        Some(&admin),
        "mutation($input: UpdateUserInput!) { updateUser(input: $input) { user { id } } }",
        json!({ "input": { "id": mia_id, "orgRole": "VIEWER" } }),
    )
    .await;
    assert_eq!(
        error_code(&app.gql(Some(&secret), START_RUN, start).await),
        "FORBIDDEN"
    );
    // And when the owner is deactivated, the key stops working.
    app.data(
        Some(&admin),
        "mutation($input: UserIdInput!) { deactivateUser(input: $input) { user { id } } }",
        json!({ "input": { "id": mia_id } }),
    )
    .await;
    let body = app
        .gql(Some(&secret), "{ viewer { user { id } } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
}

async fn expired_keys_are_refused(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let body = create_key(app, &admin, json!([]), Some(past)).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    let body = create_key(app, &admin, json!([]), Some(soon)).await;
    let secret = body["data"]["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        app.gql(Some(&secret), "{ viewer { user { id } } }", json!({}))
            .await["errors"]
            .is_null()
    );
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let body = app
        .gql(Some(&secret), "{ viewer { user { id } } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    // A made-up key is refused the same way.
    let body = app
        .gql(
            Some("gwk_notakey_at-all"),
            "{ viewer { user { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
}

backend_tests! {
    scopes => keys_act_within_their_scopes;
    owner_limits => keys_never_exceed_their_owner;
    expiry => expired_keys_are_refused;
}
