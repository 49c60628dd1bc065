//! `gateway seed`: the demo organization is usable as printed; the benchmark data set
//! answers the peer benchmark's query with the values its SQL seed computes.

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

/// The benchmark's request, as committed for the comparison script.
const BENCH_QUERY: &str = include_str!("bench/gateway.graphql");

async fn bench_data_set_answers_the_benchmark_query(app: &TestApp) {
    let seeded = gateway::seed::bench::bench(&app.state.pool)
        .await
        .expect("bench data seeded");
    assert_eq!(seeded.steps, 50_000);
    let again = gateway::seed::bench::bench(&app.state.pool).await;
    assert!(
        matches!(again, Err(gateway::error::AppError::Conflict { .. })),
        "a second seed is refused"
    );

    let mut pooled = app.state.pool.get().await.expect("connection");
    let token = gateway::auth::service::operator_token(
        &mut pooled.conn(),
        &app.state.keys,
        "user1@org7.example",
    )
    .await
    .expect("token for org-7's admin");
    drop(pooled);
    let unknown = {
        let mut pooled = app.state.pool.get().await.expect("connection");
        gateway::auth::service::operator_token(
            &mut pooled.conn(),
            &app.state.keys,
            "nobody@x.example",
        )
        .await
    };
    assert!(matches!(
        unknown,
        Err(gateway::error::AppError::NotFound { .. })
    ));

    let before = app.state.statements.get();
    let data = app.data(Some(&token), BENCH_QUERY, json!({})).await;
    let statements = app.state.statements.get() - before;
    let org = &data["organization"];
    assert_eq!(org["name"], "Organization 7");
    let teams = org["teams"]["nodes"].as_array().expect("teams");
    assert_eq!(teams.len(), 25);
    // Values as db/seed.sql computes them for org 7, team 1.
    let first = &teams[0];
    assert_eq!(first["name"], "Team 01");
    assert_eq!(first["monthlyBudget"], "370.50");
    assert_eq!(first["currentSpend"], "98.2500");
    assert_eq!(first["status"], "IDLE");
    let titles: Vec<_> = first["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .map(|r| r["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        titles,
        ["Planner", "Publisher", "Researcher", "Reviewer", "Writer"]
    );
    assert_eq!(first["roles"][0]["expertise"], "SENIOR");
    assert_eq!(first["roles"][0]["llmModel"], "gpt-4-turbo");
    let runs = first["runs"]["nodes"].as_array().expect("runs");
    assert_eq!(runs.len(), 10);
    // The newest run of team 1 is n = 20: status index (7 + 1 + 20) % 5 = 3.
    assert_eq!(runs[0]["status"], "FAILED");
    // (o * 131 + t * 17 + n * 7) % 5000 for o = 7, t = 1, n = 20.
    let spread = 7 * 131 + 17 + 20 * 7;
    assert_eq!(runs[0]["tokensUsed"], 1000 + spread);
    // cost = spread / 1000 + 0.0123, in ten-thousandths.
    let cost = spread * 10 + 123;
    assert_eq!(
        runs[0]["cost"],
        format!("{}.{:04}", cost / 10_000, cost % 10_000)
    );
    assert_eq!(runs[0]["cost"], "1.0863");
    let steps = runs[0]["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 5);
    assert_eq!(steps[4]["name"], "publish");
    assert_eq!(steps[4]["role"]["title"], "Publisher");
    // (o * 53 + t * 29 + n * 11 + s * 3) % 900 for s = 5.
    let step_spread = 7 * 53 + 29 + 20 * 11 + 5 * 3;
    assert_eq!(steps[4]["tokensUsed"], 100 + step_spread);
    // Authentication, teams, roles, runs, steps, step roles: one statement per level.
    assert!(statements <= 7, "{statements} statements");
}

backend_tests! {
    demo_seed => demo_organization_can_be_explored;
    bench_seed => bench_data_set_answers_the_benchmark_query;
}
