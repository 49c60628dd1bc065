//! API usage: every GraphQL operation is recorded off the request path (a burst of
//! 10,000 loses none), and `apiUsage` reports counts, failures and latency
//! percentiles per operation, type, day and status.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{TestApp, error_code};
use futures_util::StreamExt;
use gateway::auth::permissions::OrgRole;
use serde_json::{Value, json};

const REPORT: &str = "query Report($from: DateTime!, $to: DateTime!, $by: ApiUsageGroupBy!) { \
    apiUsage(from: $from, to: $to, groupBy: $by) { calls failed \
    groups { key calls failed errors averageMs p50Ms p95Ms p99Ms maxMs } } }";

async fn report(app: &TestApp, token: &str, by: &str) -> Value {
    let now = Utc::now();
    app.data(
        Some(token),
        REPORT,
        json!({
            "from": (now - chrono::Duration::hours(1)).to_rfc3339(),
            "to": (now + chrono::Duration::hours(1)).to_rfc3339(),
            "by": by,
        }),
    )
    .await["apiUsage"]
        .clone()
}

fn group(report: &Value, key: &str) -> Option<Value> {
    report["groups"]
        .as_array()
        .and_then(|groups| groups.iter().find(|g| g["key"] == key).cloned())
}

/// Polls the report until `key`'s group has at least `calls` calls (at most 30 s).
async fn calls_of(app: &TestApp, token: &str, by: &str, key: &str, calls: i64) -> Value {
    for _ in 0..300 {
        let report = report(app, token, by).await;
        if let Some(found) = group(&report, key)
            && found["calls"].as_i64() >= Some(calls)
        {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "fewer than {calls} `{key}` calls recorded: {:#}",
        report(app, token, by).await
    );
}

async fn a_burst_loses_no_call(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    // Beyond the free plan's 1,000 requests a month.
    app.data(
        Some(&admin),
        "mutation { changePlan(input: { plan: PRO }) { organization { plan } } }",
        json!({}),
    )
    .await;
    let burst = futures_util::stream::iter(0..10_000)
        .map(|_| {
            app.gql(
                Some(&admin),
                "query Burst { viewer { user { id } } }",
                json!({}),
            )
        })
        .buffer_unordered(64)
        .collect::<Vec<Value>>()
        .await;
    assert!(burst.iter().all(|body| body.get("errors").is_none()));
    let recorded = calls_of(app, &admin, "OPERATION", "Burst", 10_000).await;
    // Nothing more arrives later: exactly the burst, none twice.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let settled = group(&report(app, &admin, "OPERATION").await, "Burst").expect("Burst");
    assert_eq!(settled["calls"], 10_000, "{recorded:#}");
    assert_eq!(settled["failed"], 0);
    let ms = |k: &str| settled[k].as_f64().expect("latency");
    assert!(ms("p50Ms") > 0.0, "{settled:#}");
    assert!(ms("p50Ms") <= ms("p95Ms") && ms("p95Ms") <= ms("p99Ms") && ms("p99Ms") <= ms("maxMs"));
    assert!(ms("averageMs") <= ms("maxMs"));
}

async fn calls_are_reported_by_type_status_and_organization(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let other = app.sign_up("globex").await;
    let rename = "mutation Rename { updateOrganization(input: { name: \"Acme Corp\" }) { organization { name } } }";
    app.data(Some(&admin), rename, json!({})).await;
    // A document with two operations runs the one named.
    let body = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&admin)
        .json(&json!({
            "query": "query First { viewer { user { id } } } query Second { organization { name } }",
            "operationName": "Second",
        }))
        .send()
        .await
        .expect("sent")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(body["data"]["organization"]["name"], "Acme Corp");
    let missing = app
        .gql(
            Some(&admin),
            "query Missing { team(id: \"00000000-0000-7000-8000-000000000000\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
    app.gql(Some(&admin), "{ nonsense }", json!({})).await;

    let rename_calls = calls_of(app, &admin, "OPERATION", "Rename", 1).await;
    assert_eq!(rename_calls["failed"], 0);
    let second = calls_of(app, &admin, "OPERATION", "Second", 1).await;
    assert_eq!(second["calls"], 1);
    assert!(group(&report(app, &admin, "OPERATION").await, "First").is_none());
    let failed = calls_of(app, &admin, "OPERATION", "Missing", 1).await;
    assert_eq!(failed["failed"], 1);
    assert_eq!(failed["errors"], 1);

    let by_type = report(app, &admin, "TYPE").await;
    assert!(group(&by_type, "mutation").is_some(), "{by_type:#}");
    assert!(group(&by_type, "query").is_some());
    calls_of(app, &admin, "STATUS", "error", 1).await;
    let by_status = report(app, &admin, "STATUS").await;
    assert!(group(&by_status, "ok").is_some(), "{by_status:#}");
    let failures: i64 = ["partial", "error"]
        .iter()
        .filter_map(|k| group(&by_status, k))
        .map(|g| g["calls"].as_i64().unwrap_or(0))
        .sum();
    assert!(
        failures >= 2,
        "the NOT_FOUND and the invalid query: {by_status:#}"
    );
    let today = Utc::now().format("%Y-%m-%d").to_string();
    assert!(group(&report(app, &admin, "DAY").await, &today).is_some());

    // Each organization sees its own calls; members may not read them.
    let theirs = report(app, &other, "OPERATION").await;
    assert!(group(&theirs, "Rename").is_none(), "{theirs:#}");
    let org = app.organization_id(&admin).await;
    let member = app.add_user(org, "mia", OrgRole::Member).await;
    let now = Utc::now();
    let refused = app
        .gql(
            Some(&member),
            REPORT,
            json!({ "from": (now - chrono::Duration::hours(1)).to_rfc3339(),
                    "to": now.to_rfc3339(), "by": "DAY" }),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
}

/// No rate limit: the burst comes from one user at one address.
fn unlimited() -> gateway::config::Limits {
    gateway::config::Limits {
        rate_limit_ip_per_minute: 0,
        rate_limit_user_per_minute: 0,
        ..Default::default()
    }
}

backend_tests! {
    limits = super::unlimited();
    burst => a_burst_loses_no_call;
}

backend_tests! {
    report => calls_are_reported_by_type_status_and_organization;
}
