//! `/metrics`: what a Prometheus scrape of the gateway reads.

mod common;

use std::time::Duration;

use common::{Backend, TestApp, TestDatabase, sample, scrape, test_engine};
use gateway::config::Limits;
use serde_json::json;

async fn metrics_count_what_was_served(app: &TestApp) {
    let token = app.sign_up("metrics").await;
    let team = app.team_of_agents(&token, "Counted", "100", 2).await;
    app.data(
        Some(&token),
        "mutation($input: StartRunInput!) { startRun(input: $input) { run { id } } }",
        json!({ "input": { "teamId": team, "inputs": { "task": "count" } } }),
    )
    .await;
    for _ in 0..2 {
        app.data(
            Some(&token),
            "query Dash { viewer { user { id } } }",
            json!({}),
        )
        .await;
    }
    let body = app.gql(Some(&token), "{ nope }", json!({})).await;
    assert_eq!(common::error_code(&body), "GRAPHQL_VALIDATION_FAILED");
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 400);

    // Runs are read from the database at each scrape; wait for this one to end.
    let mut text = String::new();
    for _ in 0..200 {
        text = scrape(app).await;
        if sample(&text, "gateway_runs{status=\"COMPLETED\"}") == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sample(&text, "gateway_runs{status=\"COMPLETED\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "gateway_runs{status=\"RUNNING\"}"), Some(0.0));
    assert_eq!(
        sample(
            &text,
            "gateway_operations_total{type=\"query\",operation=\"Dash\",outcome=\"ok\"}"
        ),
        Some(2.0),
        "{text}"
    );
    // signUp, createTeam, startRun.
    assert_eq!(
        sample(
            &text,
            "gateway_operation_duration_seconds_count{type=\"mutation\"}"
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            "gateway_operation_duration_seconds_bucket{type=\"mutation\",le=\"+Inf\"}"
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            "gateway_operations_total{type=\"unknown\",operation=\"\",outcome=\"error\"}"
        ),
        None,
        "a document that fails validation still has its type"
    );
    assert_eq!(
        sample(
            &text,
            "gateway_operations_total{type=\"query\",operation=\"\",outcome=\"error\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "gateway_errors_total{code=\"GRAPHQL_VALIDATION_FAILED\"}"
        ),
        Some(1.0)
    );
    for (series, expected) in [
        ("gateway_errors_total{code=\"BAD_REQUEST\"}", 1.0),
        ("gateway_http_responses_total{status=\"400\"}", 1.0),
        ("gateway_run_steps_total{outcome=\"completed\"}", 2.0),
        ("gateway_run_steps_total{outcome=\"failed\"}", 0.0),
        ("gateway_run_events_total{kind=\"COMPLETED\"}", 1.0),
        ("gateway_db_pool_max_connections{pool=\"requests\"}", 4.0),
    ] {
        assert_eq!(sample(&text, series), Some(expected), "{series}\n{text}");
    }
    assert!(
        sample(
            &text,
            "gateway_db_pool_connections{pool=\"requests\",state=\"idle\"}"
        )
        .is_some()
    );
    assert!(sample(&text, "gateway_db_pool_waiting{pool=\"background\"}").is_some());
    assert_eq!(
        sample(
            &text,
            "gateway_webhook_deliveries_total{outcome=\"succeeded\"}"
        ),
        Some(0.0)
    );
    assert!(sample(&text, "process_resident_memory_bytes").unwrap_or(0.0) > 1e6);

    // Open WebSocket connections and subscriptions are gauges.
    assert_eq!(sample(&text, "gateway_websocket_connections"), Some(0.0));
    // Held open until the gauges are read.
    let _socket =
        common::ws::subscribed(app, &token, "subscription { teamsChanged { kind } }").await;
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(app).await;
        // The gauge rises as the subscription is admitted, the counter just after.
        if sample(&text, "gateway_subscriptions") == Some(1.0)
            && sample(&text, SUBSCRIPTIONS_STARTED) == Some(1.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sample(&text, "gateway_subscriptions"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "gateway_websocket_connections"), Some(1.0));
    assert_eq!(sample(&text, SUBSCRIPTIONS_STARTED), Some(1.0));
}

const SUBSCRIPTIONS_STARTED: &str =
    "gateway_operations_total{type=\"subscription\",operation=\"\",outcome=\"ok\"}";

backend_tests! {
    counts => metrics_count_what_was_served;
}

/// With METRICS_TOKEN set, a scrape needs it.
async fn metrics_token_guards_the_page(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let mut config = db.config(Limits::default(), test_engine());
    config.observability.metrics_token = Some("scrape-secret".into());
    let app = TestApp::spawn_on(db, config, gateway::clock::Clock::system())
        .await
        .expect("started");
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 401);
    let response = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 401);
    let response = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scrape-secret")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .expect("text")
            .contains("# TYPE gateway_operations_total counter")
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_token_sqlite() {
    metrics_token_guards_the_page(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_token_postgres() {
    metrics_token_guards_the_page(Backend::Postgres).await;
}
