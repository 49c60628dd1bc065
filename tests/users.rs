//! Managing users: creating within the organization's quota, roles and permissions
//! handed out only by those who hold them, deactivation and deletion that end access
//! at once, and changing one's password.

mod common;

use common::{TestApp, error_code, error_field};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use gateway::db::schema::organizations;
use serde_json::{Value, json};

const CREATE: &str = "mutation($input: CreateUserInput!) { createUser(input: $input) { user { id username orgRole permissions isActive } } }";
const UPDATE: &str = "mutation($input: UpdateUserInput!) { updateUser(input: $input) { user { id fullName orgRole permissions preferences } } }";
const LOGIN: &str = "mutation($input: LoginInput!) { login(input: $input) { token } }";

async fn create(app: &TestApp, token: &str, name: &str, role: &str, permissions: Value) -> Value {
    app.gql(
        Some(token),
        CREATE,
        json!({ "input": { "email": format!("{name}@acme.example"), "username": name,
            "password": "a long password", "fullName": name, "orgRole": role, "permissions": permissions } }),
    )
    .await
}

async fn login(app: &TestApp, name: &str, password: &str) -> Value {
    app.gql(
        None,
        LOGIN,
        json!({ "input": { "email": format!("{name}@acme.example"), "password": password } }),
    )
    .await
}

async fn token_of(app: &TestApp, name: &str) -> String {
    let body = login(app, name, "a long password").await;
    body["data"]["login"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string()
}

async fn whoami(app: &TestApp, token: &str) -> Value {
    app.gql(Some(token), "{ viewer { user { username } } }", json!({}))
        .await
}

async fn created_users_log_in_within_the_quota(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let body = create(app, &admin, "mia", "MEMBER", json!([])).await;
    assert!(body["errors"].is_null(), "{body:#}");
    let user = &body["data"]["createUser"]["user"];
    assert_eq!(user["orgRole"], "MEMBER");
    assert_eq!(user["isActive"], true);
    let mia = token_of(app, "mia").await;
    assert_eq!(
        whoami(app, &mia).await["data"]["viewer"]["user"]["username"],
        "mia"
    );

    // Taken logins are conflicts naming the field.
    let body = create(app, &admin, "mia", "MEMBER", json!([])).await;
    assert_eq!(error_code(&body), "CONFLICT");
    assert_eq!(error_field(&body), "email");
    let body = create(app, &admin, "bad", "MEMBER", json!(["teams.fly"])).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(error_field(&body), "permissions");

    // max_users counts every undeleted user.
    let org = app.organization_id(&admin).await;
    let mut pooled = app.state.pool.get().await.unwrap();
    gateway::dispatch!(&mut pooled.conn(), |c| diesel::update(
        organizations::table.find(org)
    )
    .set(organizations::max_users.eq(3))
    .execute(c)
    .await)
    .unwrap();
    assert!(create(app, &admin, "noa", "VIEWER", json!([])).await["errors"].is_null());
    let body = create(app, &admin, "ida", "VIEWER", json!([])).await;
    assert_eq!(error_code(&body), "QUOTA_EXCEEDED");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("3 users")
    );
    let users = app
        .data(Some(&admin), "{ users { totalCount } }", json!({}))
        .await;
    assert_eq!(users["users"]["totalCount"], 3);

    // Members cannot manage users.
    let body = create(app, &mia, "eve", "MEMBER", json!([])).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}

async fn grants_stay_within_the_granters_permissions(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    create(app, &admin, "hal", "MANAGER", json!(["users.manage"])).await;
    let manager = token_of(app, "hal").await;
    // A manager who may manage users can add members, but not admins, nor grant
    // permissions they lack.
    assert!(create(app, &manager, "mia", "MEMBER", json!([])).await["errors"].is_null());
    let body = create(app, &manager, "ada", "ADMIN", json!([])).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("audit.read"),
        "{body}"
    );
    let body = create(app, &manager, "leo", "MEMBER", json!(["audit.read"])).await;
    assert_eq!(error_code(&body), "FORBIDDEN");

    // Extra permissions take effect: a member with `audit.read` reads the trail.
    let mia_id = app
        .data(
            Some(&admin),
            "{ users(filter: { search: \"mia\" }) { nodes { id } } }",
            json!({}),
        )
        .await["users"]["nodes"][0]["id"]
        .clone();
    let mia = token_of(app, "mia").await;
    let logs = "{ auditLogs(first: 1) { totalCount } }";
    assert_eq!(
        error_code(&app.gql(Some(&mia), logs, json!({})).await),
        "FORBIDDEN"
    );
    let body = app
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "input": { "id": mia_id, "permissions": ["audit.read"] } }),
        )
        .await;
    assert_eq!(
        body["data"]["updateUser"]["user"]["permissions"],
        json!(["audit.read"]),
        "{body}"
    );
    assert!(app.gql(Some(&mia), logs, json!({})).await["errors"].is_null());

    // Users edit their own profile, not their own role.
    let body = app
        .gql(Some(&mia), UPDATE, json!({ "input": { "id": mia_id, "fullName": "Mia M.", "preferences": { "theme": "dark" } } }))
        .await;
    assert_eq!(
        body["data"]["updateUser"]["user"]["fullName"], "Mia M.",
        "{body}"
    );
    assert_eq!(
        body["data"]["updateUser"]["user"]["preferences"]["theme"],
        "dark"
    );
    let body = app
        .gql(
            Some(&mia),
            UPDATE,
            json!({ "input": { "id": mia_id, "orgRole": "ADMIN" } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");

    // The last active admin stays an admin.
    let admin_id = app.user_id(&admin).await;
    let body = app
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "input": { "id": admin_id, "orgRole": "MEMBER" } }),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT");
}

async fn deactivation_and_deletion_end_access_at_once(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let body = create(app, &admin, "mia", "MEMBER", json!([])).await;
    let mia_id = body["data"]["createUser"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mia = token_of(app, "mia").await;
    let access = |m: &str| {
        format!("mutation($input: UserIdInput!) {{ {m}(input: $input) {{ user {{ isActive }} }} }}")
    };

    let body = app
        .gql(
            Some(&admin),
            &access("deactivateUser"),
            json!({ "input": { "id": mia_id } }),
        )
        .await;
    assert_eq!(
        body["data"]["deactivateUser"]["user"]["isActive"], false,
        "{body}"
    );
    assert_eq!(
        error_code(&whoami(app, &mia).await),
        "UNAUTHENTICATED",
        "the live token stops working"
    );
    assert_eq!(
        error_code(&login(app, "mia", "a long password").await),
        "UNAUTHENTICATED"
    );
    let inactive = app
        .data(
            Some(&admin),
            "{ users(filter: { isActive: false }) { nodes { username } } }",
            json!({}),
        )
        .await;
    assert_eq!(inactive["users"]["nodes"], json!([{ "username": "mia" }]));

    app.data(
        Some(&admin),
        &access("activateUser"),
        json!({ "input": { "id": mia_id } }),
    )
    .await;
    assert!(whoami(app, &mia).await["errors"].is_null(), "reactivated");

    let body = app
        .gql(
            Some(&admin),
            "mutation($input: UserIdInput!) { deleteUser(input: $input) { deletedUserId } }",
            json!({ "input": { "id": mia_id } }),
        )
        .await;
    assert_eq!(body["data"]["deleteUser"]["deletedUserId"], mia_id.as_str());
    assert_eq!(error_code(&whoami(app, &mia).await), "UNAUTHENTICATED");
    let body = app
        .gql(
            Some(&admin),
            "query($id: ID!) { user(id: $id) { id } }",
            json!({ "id": mia_id }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    // One cannot remove oneself, and every change is on record.
    let admin_id = app.user_id(&admin).await;
    let body = app
        .gql(
            Some(&admin),
            &access("deactivateUser"),
            json!({ "input": { "id": admin_id } }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let logs = app
        .data(Some(&admin), "query($id: ID!) { auditLogs(filter: { resourceId: $id }) { nodes { action success } } }", json!({ "id": mia_id }))
        .await;
    let actions: Vec<_> = logs["auditLogs"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "user.delete",
            "user.activate",
            "user.deactivate",
            "user.create"
        ]
    );
}

async fn users_change_their_password(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    create(app, &admin, "mia", "MEMBER", json!([])).await;
    let mia = token_of(app, "mia").await;
    let change = "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { user { username } } }";
    let body = app
        .gql(Some(&mia), change, json!({ "input": { "currentPassword": "not my password", "newPassword": "brand new secret" } }))
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(error_field(&body), "currentPassword");
    let body = app
        .gql(Some(&mia), change, json!({ "input": { "currentPassword": "a long password", "newPassword": "brand new secret" } }))
        .await;
    assert!(body["errors"].is_null(), "{body:#}");
    assert_eq!(
        error_code(&login(app, "mia", "a long password").await),
        "UNAUTHENTICATED"
    );
    assert!(login(app, "mia", "brand new secret").await["errors"].is_null());
}

backend_tests! {
    create_and_quota => created_users_log_in_within_the_quota;
    grants => grants_stay_within_the_granters_permissions;
    access => deactivation_and_deletion_end_access_at_once;
    passwords => users_change_their_password;
}
