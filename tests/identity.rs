//! Signing up, logging in, and what a token does and does not open.

mod common;

use common::{JWT_SECRET, TestApp, error_code, error_field};
use gateway::auth::token::TokenKeys;
use serde_json::json;

const SIGN_UP: &str = "mutation($input: SignUpInput!) {
  signUp(input: $input) { token expiresAt user { email username orgRole fullName } organization { name slug plan } }
}";

fn sign_up_input(slug: &str, email: &str, username: &str) -> serde_json::Value {
    json!({ "input": {
        "organizationName": "Acme Inc",
        "slug": slug,
        "email": email,
        "username": username,
        "password": "correct horse battery",
        "fullName": "Alice Admin"
    }})
}

async fn sign_up_creates_an_organization_and_its_admin(app: &TestApp) {
    let data = app
        .data(
            None,
            SIGN_UP,
            sign_up_input("acme", "Alice@Acme.io", "alice"),
        )
        .await;
    let payload = &data["signUp"];
    assert_eq!(
        payload["user"]["email"], "alice@acme.io",
        "emails are stored lowercased"
    );
    assert_eq!(payload["user"]["orgRole"], "ADMIN");
    assert_eq!(payload["organization"]["slug"], "acme");
    assert_eq!(payload["organization"]["plan"], "FREE");
    let token = payload["token"].as_str().unwrap();

    let viewer = app
        .data(
            Some(token),
            "{ viewer { user { username } organization { name } permissions } }",
            json!({}),
        )
        .await;
    assert_eq!(viewer["viewer"]["user"]["username"], "alice");
    assert_eq!(viewer["viewer"]["organization"]["name"], "Acme Inc");
    assert!(
        viewer["viewer"]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("teams.write"))
    );
}

async fn sign_up_refuses_taken_and_invalid_identities(app: &TestApp) {
    app.data(
        None,
        SIGN_UP,
        sign_up_input("acme", "alice@acme.io", "alice"),
    )
    .await;

    let body = app
        .gql(None, SIGN_UP, sign_up_input("acme", "bob@acme.io", "bob"))
        .await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("CONFLICT", "slug")
    );
    let body = app
        .gql(
            None,
            SIGN_UP,
            sign_up_input("other", "ALICE@acme.io", "bob"),
        )
        .await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("CONFLICT", "email")
    );
    let body = app
        .gql(
            None,
            SIGN_UP,
            sign_up_input("other", "bob@acme.io", "alice"),
        )
        .await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("CONFLICT", "username")
    );

    let body = app
        .gql(
            None,
            SIGN_UP,
            sign_up_input("Not A Slug!", "bob@acme.io", "bob"),
        )
        .await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("BAD_USER_INPUT", "slug")
    );
    let body = app
        .gql(None, SIGN_UP, sign_up_input("other", "not-an-email", "bob"))
        .await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("BAD_USER_INPUT", "email")
    );
    let mut short_password = sign_up_input("other", "bob@acme.io", "bob");
    short_password["input"]["password"] = json!("short");
    let body = app.gql(None, SIGN_UP, short_password).await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("BAD_USER_INPUT", "password")
    );

    // Nothing of the refused attempts was written: their identities are still free.
    let data = app
        .data(None, SIGN_UP, sign_up_input("other", "bob@acme.io", "bob"))
        .await;
    assert_eq!(data["signUp"]["organization"]["slug"], "other");
}

async fn login_returns_a_working_token(app: &TestApp) {
    app.data(
        None,
        SIGN_UP,
        sign_up_input("acme", "alice@acme.io", "alice"),
    )
    .await;
    let login = "mutation($input: LoginInput!) { login(input: $input) { token user { username lastLoginAt } } }";

    let data = app
        .data(
            None,
            login,
            json!({ "input": { "email": "ALICE@acme.io", "password": "correct horse battery" } }),
        )
        .await;
    assert_eq!(data["login"]["user"]["username"], "alice");
    let token = data["login"]["token"].as_str().unwrap();
    let viewer = app
        .data(
            Some(token),
            "{ viewer { user { email lastLoginAt } } }",
            json!({}),
        )
        .await;
    assert_eq!(viewer["viewer"]["user"]["email"], "alice@acme.io");
    assert!(
        viewer["viewer"]["user"]["lastLoginAt"].is_string(),
        "login is recorded"
    );

    let wrong = app
        .gql(
            None,
            login,
            json!({ "input": { "email": "alice@acme.io", "password": "wrong password" } }),
        )
        .await;
    assert_eq!(error_code(&wrong), "UNAUTHENTICATED");
    let unknown = app
        .gql(
            None,
            login,
            json!({ "input": { "email": "nobody@acme.io", "password": "whatever1" } }),
        )
        .await;
    assert_eq!(error_code(&unknown), "UNAUTHENTICATED");
    assert_eq!(
        wrong["errors"][0]["message"], unknown["errors"][0]["message"],
        "no account enumeration"
    );
}

async fn protected_operations_need_a_valid_token(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let org = app.organization_id(&token).await;

    let anonymous = app.gql(None, "{ teams { totalCount } }", json!({})).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
    let garbage = app
        .gql(Some("not.a.jwt"), "{ teams { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&garbage), "UNAUTHENTICATED");

    // Signed with the right secret but already expired.
    let viewer = app
        .data(Some(&token), "{ viewer { user { id } } }", json!({}))
        .await;
    let user_id = viewer["viewer"]["user"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let expired = TokenKeys::new(JWT_SECRET.as_bytes(), -120)
        .issue(user_id, org)
        .unwrap();
    let body = app
        .gql(Some(&expired), "{ teams { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // Signed with another secret.
    let forged = TokenKeys::new(b"another-secret-another-secret-another-secret", 3600)
        .issue(user_id, org)
        .unwrap();
    let body = app
        .gql(Some(&forged), "{ teams { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
}

backend_tests! {
    sign_up_works => sign_up_creates_an_organization_and_its_admin;
    sign_up_conflicts => sign_up_refuses_taken_and_invalid_identities;
    login => login_returns_a_working_token;
    tokens => protected_operations_need_a_valid_token;
}
