//! `gateway seed --demo`: the demo organization is usable as printed.

mod common;

use common::TestApp;
use gateway::seed::{DEMO_PASSWORD, demo};
use serde_json::json;

async fn demo_organization_can_be_explored(app: &TestApp) {
    let logins = demo(&app.state.pool, &app.state.keys)
        .await
        .expect("demo seeded");
    assert_eq!(logins.organization_slug, "demo");
    assert_eq!(logins.emails.len(), 3);

    let login = "mutation($input: LoginInput!) { login(input: $input) { token user { orgRole } } }";
    let data = app
        .data(
            None,
            login,
            json!({ "input": { "email": "viewer@demo.example", "password": DEMO_PASSWORD } }),
        )
        .await;
    assert_eq!(data["login"]["user"]["orgRole"], "VIEWER");
    let token = data["login"]["token"].as_str().unwrap();
    let teams = app
        .data(
            Some(token),
            "{ teams { totalCount edges { node { name roleCount } } } users { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(teams["teams"]["totalCount"], 3);
    assert_eq!(teams["users"]["totalCount"], 3);
    assert_eq!(
        teams["teams"]["edges"][0]["node"]["name"],
        "Development Team"
    );
    assert_eq!(teams["teams"]["edges"][0]["node"]["roleCount"], 2);

    let again = demo(&app.state.pool, &app.state.keys).await;
    assert!(
        matches!(again, Err(gateway::error::AppError::Conflict { .. })),
        "seeding twice is refused"
    );
}

backend_tests! {
    demo_seed => demo_organization_can_be_explored;
}
