//! Webhooks: signed deliveries from a durable outbox to a real local endpoint, retried
//! with backoff, surviving a restart, shown attempt by attempt; targets guarded.

mod common;

use std::time::Duration;

use common::receiver::{Answer, Receiver};
use common::{Backend, TestApp, error_code, error_field};
use gateway::auth::permissions::OrgRole;
use gateway::webhooks::WebhookConfig;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

const SECRET: &str = "whsec_test_secret_0123456789";

const CREATE: &str = "mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { \
    secret webhook { id url events active secretHint lastTriggeredAt } } }";

const DELIVERIES: &str = "query($id: ID!) { webhook(id: $id) { lastTriggeredAt \
    deliveries(first: 50) { totalCount nodes { id event status attemptCount nextAttemptAt \
    responseStatus lastError payload completedAt attempts { attempt statusCode durationMs error } } } } }";

/// Fast retries, so backoff is observable in a test without long waits.
fn fast_retries() -> WebhookConfig {
    retrying_after(300)
}

/// Retries `base_ms` (then doubling, capped at 1 s) after a failure, with jitter.
fn retrying_after(base_ms: u64) -> WebhookConfig {
    WebhookConfig {
        webhook_allow_private_targets: true,
        webhook_retry_base_ms: base_ms,
        webhook_retry_max_ms: 1_000,
        webhook_max_attempts: 4,
        webhook_poll_ms: 50,
        webhook_timeout_ms: 500,
        ..WebhookConfig::default()
    }
}

/// What a receiver computes to verify a delivery: HMAC-SHA256 of "{timestamp}.{body}".
fn expected_signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

async fn team(app: &TestApp, token: &str) -> Value {
    let data = app
        .data(
            Some(token),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }",
            json!({ "input": { "name": "Hooked", "monthlyBudget": "100",
                "roles": [{ "title": "Writer", "expertise": "SENIOR" }] } }),
        )
        .await;
    data["createTeam"]["team"]["id"].clone()
}

async fn start_run(app: &TestApp, token: &str, team: &Value) -> String {
    let data = app
        .data(
            Some(token),
            "mutation($input: StartRunInput!) { startRun(input: $input) { run { id } } }",
            json!({ "input": { "teamId": team, "inputs": { "topic": "hooks" } } }),
        )
        .await;
    data["startRun"]["run"]["id"]
        .as_str()
        .expect("run id")
        .to_string()
}

async fn create(app: &TestApp, token: &str, url: &str, events: Value) -> Value {
    let data = app
        .data(
            Some(token),
            CREATE,
            json!({ "input": { "url": url, "events": events, "secret": SECRET } }),
        )
        .await;
    data["createWebhook"].clone()
}

async fn deliveries(app: &TestApp, token: &str, webhook: &Value) -> Value {
    app.data(Some(token), DELIVERIES, json!({ "id": webhook }))
        .await["webhook"]
        .clone()
}

/// Waits until every delivery of `webhook` is finished, and returns them.
async fn settled(app: &TestApp, token: &str, webhook: &Value, count: usize) -> Value {
    for _ in 0..600 {
        let hook = deliveries(app, token, webhook).await;
        let nodes = hook["deliveries"]["nodes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if nodes.len() == count && nodes.iter().all(|d| d["status"] != "PENDING") {
            return hook;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "deliveries of {webhook} did not settle: {:#}",
        deliveries(app, token, webhook).await
    );
}

fn delivery<'a>(hook: &'a Value, event: &str) -> &'a Value {
    hook["deliveries"]["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|d| d["event"] == event))
        .unwrap_or_else(|| panic!("no {event} delivery in {hook:#}"))
}

async fn signed_deliveries_are_retried_until_they_succeed(app: &TestApp) {
    let receiver = Receiver::start().await;
    let admin = app.sign_up("hooks").await;
    let org = app.organization_id(&admin).await;
    let team = team(app, &admin).await;

    // The first completion request fails, the second times out; the third succeeds.
    receiver.script(
        "ok:run.completed",
        &[
            Answer::Status(500),
            Answer::Hang(Duration::from_millis(1_500)),
        ],
    );
    let created = create(
        app,
        &admin,
        &receiver.url("ok"),
        json!(["RUN_STARTED", "RUN_COMPLETED"]),
    )
    .await;
    assert_eq!(
        created["secret"], SECRET,
        "the secret is shown once, on creation"
    );
    assert_eq!(created["webhook"]["secretHint"], "****6789");
    assert_eq!(
        created["webhook"]["events"],
        json!(["RUN_COMPLETED", "RUN_STARTED"])
    );
    let hook = created["webhook"]["id"].clone();
    // A second endpoint never succeeds: its delivery is given up after 4 attempts.
    receiver.script("down", &[Answer::Status(503); 10]);
    let down = create(app, &admin, &receiver.url("down"), json!(["RUN_COMPLETED"])).await;
    let down = down["webhook"]["id"].clone();

    let run = start_run(app, &admin, &team).await;
    let received = receiver
        .wait_for("run.started and a successful run.completed", |all| {
            all.iter()
                .any(|r| r.path == "ok" && r.json["event"] == "run.started")
                && all.iter().any(|r| {
                    r.path == "ok"
                        && r.json["event"] == "run.completed"
                        && r.header("x-webhook-attempt") == "3"
                })
        })
        .await;

    for request in received.iter().filter(|r| r.path == "ok") {
        let timestamp = request.header("x-webhook-timestamp");
        assert_eq!(
            request.header("x-webhook-signature"),
            expected_signature(SECRET, timestamp, &request.body),
            "every request is signed over its timestamp and body"
        );
        let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().expect("unix seconds");
        assert!((0..60).contains(&age), "the timestamp is current: {age}");
        assert_eq!(request.header("content-type"), "application/json");
        assert_eq!(request.json["organizationId"], org.to_string());
        assert_eq!(request.json["webhookId"], hook);
        assert_eq!(request.json["data"]["run"]["id"], run);
        assert_eq!(request.header("x-webhook-event"), request.json["event"]);
        assert_eq!(request.header("x-webhook-id"), request.json["id"]);
    }
    let completions: Vec<_> = received
        .iter()
        .filter(|r| r.path == "ok" && r.json["event"] == "run.completed")
        .collect();
    assert_eq!(
        completions.len(),
        3,
        "one request per attempt: {completions:#?}"
    );
    let attempts: Vec<_> = completions
        .iter()
        .map(|r| r.header("x-webhook-attempt"))
        .collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    assert!(
        completions.iter().all(|r| r.body == completions[0].body),
        "a retry sends the same body (receivers de-duplicate by id)"
    );
    assert_eq!(completions[0].json["data"]["run"]["status"], "COMPLETED");
    assert_eq!(completions[0].json["data"]["run"]["completedSteps"], 1);
    // Backoff: at least half the base before the first retry, then at least the base.
    let first_wait = completions[1].at - completions[0].at;
    assert!(first_wait >= Duration::from_millis(150), "{first_wait:?}");
    let second_wait = completions[2].at - completions[1].at;
    assert!(second_wait >= Duration::from_millis(300), "{second_wait:?}");

    let shown = settled(app, &admin, &hook, 2).await;
    assert!(shown["lastTriggeredAt"].is_string());
    let started = delivery(&shown, "run.started");
    assert_eq!(started["status"], "SUCCEEDED");
    assert_eq!(started["attemptCount"], 1);
    assert_eq!(started["payload"]["run"]["id"], run);
    let completed = delivery(&shown, "run.completed");
    assert_eq!(completed["status"], "SUCCEEDED");
    assert_eq!(completed["attemptCount"], 3);
    assert_eq!(completed["responseStatus"], 200);
    assert!(completed["nextAttemptAt"].is_null());
    assert!(completed["completedAt"].is_string());
    let tries = completed["attempts"].as_array().expect("attempts");
    assert_eq!(tries.len(), 3);
    assert_eq!(tries[0]["statusCode"], 500);
    assert!(
        tries[0]["error"]
            .as_str()
            .expect("error")
            .starts_with("HTTP 500")
    );
    assert!(tries[1]["statusCode"].is_null(), "a timeout has no status");
    assert!(
        tries[1]["error"]
            .as_str()
            .expect("error")
            .contains("timed out"),
        "{tries:#?}"
    );
    assert!(tries[1]["durationMs"].as_i64().expect("ms") >= 450);
    assert_eq!(tries[2]["statusCode"], 200);
    assert!(tries[2]["error"].is_null());

    let given_up = settled(app, &admin, &down, 1).await;
    let failed = delivery(&given_up, "run.completed");
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(
        failed["attemptCount"], 4,
        "given up after WEBHOOK_MAX_ATTEMPTS"
    );
    assert_eq!(failed["responseStatus"], 503);
    assert!(failed["nextAttemptAt"].is_null());
    assert_eq!(receiver.at("down").len(), 4);

    // testWebhook: one ping, answered with its outcome.
    let ping = app
        .data(
            Some(&admin),
            "mutation($id: ID!) { testWebhook(input: { id: $id }) { delivery { event status \
             attemptCount attempts { statusCode } } } }",
            json!({ "id": hook }),
        )
        .await;
    let ping = &ping["testWebhook"]["delivery"];
    assert_eq!(ping["event"], "ping");
    assert_eq!(ping["status"], "SUCCEEDED");
    assert_eq!(ping["attempts"], json!([{ "statusCode": 200 }]));
    let pings: Vec<_> = receiver
        .at("ok")
        .into_iter()
        .filter(|r| r.json["event"] == "ping")
        .collect();
    assert_eq!(pings.len(), 1, "the ping is sent once, by the request");
    let failing_ping = app
        .data(
            Some(&admin),
            "mutation($id: ID!) { testWebhook(input: { id: $id }) { delivery { status attemptCount lastError } } }",
            json!({ "id": down }),
        )
        .await;
    assert_eq!(
        failing_ping["testWebhook"]["delivery"],
        json!({ "status": "FAILED", "attemptCount": 1, "lastError": "HTTP 503" }),
        "a failed ping is not retried"
    );

    // Every change is audited.
    let actions = app.audit_actions(&admin, "webhook").await;
    assert_eq!(
        actions,
        [
            "webhook.create",
            "webhook.create",
            "webhook.test",
            "webhook.test"
        ]
    );
}

async fn restart_mid_retry_loses_nothing(app: &mut TestApp) {
    let receiver = Receiver::start().await;
    let admin = app.sign_up("restart").await;
    let team = team(app, &admin).await;
    receiver.script("hook", &[Answer::Status(500), Answer::Status(502)]);
    let hook = create(app, &admin, &receiver.url("hook"), json!(["RUN_COMPLETED"])).await;
    let hook = hook["webhook"]["id"].clone();
    let run = start_run(app, &admin, &team).await;
    receiver
        .wait_for("the first attempt", |all| !all.is_empty())
        .await;
    // The retry is due 0.5-1 s later: this process stops before it, another starts.
    app.restart().await;
    let received = receiver
        .wait_for("a successful attempt", |all| {
            all.iter().any(|r| r.status == 200)
        })
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let received_after = receiver.received();
    assert_eq!(
        received_after.len(),
        received.len(),
        "nothing is sent twice"
    );
    let ids: Vec<_> = received
        .iter()
        .map(|r| r.header("x-webhook-id").to_string())
        .collect();
    assert_eq!(ids.len(), 3, "{received:#?}");
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one delivery, three attempts"
    );
    assert!(received.iter().all(|r| r.json["data"]["run"]["id"] == run));
    let shown = settled(app, &admin, &hook, 1).await;
    let completed = delivery(&shown, "run.completed");
    assert_eq!(completed["status"], "SUCCEEDED");
    assert_eq!(completed["attemptCount"], 3);
    let codes: Vec<_> = completed["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["statusCode"].clone())
        .collect();
    assert_eq!(codes, [json!(500), json!(502), json!(200)]);
}

async fn targets_are_checked(app: &TestApp) {
    let admin = app.sign_up("guard").await;
    let org = app.organization_id(&admin).await;
    let member = app.add_user(org, "mo", OrgRole::Member).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.0.0.7/hook",
        "http://192.168.1.1/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/",
        "ftp://example.com/hook",
        "not a url",
    ] {
        let body = app
            .gql(
                Some(&admin),
                CREATE,
                json!({ "input": { "url": url, "events": ["RUN_COMPLETED"] } }),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{url}: {body:#}");
        assert_eq!(error_field(&body), "url");
    }
    let body = app
        .gql(
            Some(&admin),
            CREATE,
            json!({ "input": { "url": "http://127.0.0.1/x", "events": ["RUN_COMPLETED"] } }),
        )
        .await;
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains("internal address"), "{message}");
    for (input, field) in [
        (
            json!({ "url": "https://93.184.216.34/hook", "events": [] }),
            "events",
        ),
        (
            json!({ "url": "https://93.184.216.34/hook", "events": ["RUN_FAILED"], "secret": "short" }),
            "secret",
        ),
    ] {
        let body = app
            .gql(Some(&admin), CREATE, json!({ "input": input }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body:#}");
        assert_eq!(error_field(&body), field);
    }
    // A public address literal is accepted (nothing is sent until an event happens).
    let created = app
        .data(
            Some(&admin),
            CREATE,
            json!({ "input": { "url": "https://93.184.216.34/hook", "events": ["RUN_FAILED"] } }),
        )
        .await;
    let secret = created["createWebhook"]["secret"].as_str().expect("secret");
    assert!(
        secret.starts_with("whsec_") && secret.len() >= 40,
        "a secret is generated"
    );
    let id = created["createWebhook"]["webhook"]["id"].clone();
    let body = app
        .gql(
            Some(&admin),
            "mutation($input: UpdateWebhookInput!) { updateWebhook(input: $input) { webhook { url } } }",
            json!({ "input": { "id": id, "url": "http://127.0.0.1:8000/" } }),
        )
        .await;
    assert_eq!(
        error_code(&body),
        "BAD_USER_INPUT",
        "an update is checked too"
    );

    // Only webhooks.manage (admins) sees or changes webhooks.
    let body = app
        .gql(
            Some(&member),
            CREATE,
            json!({ "input": { "url": "https://93.184.216.34/x", "events": ["RUN_FAILED"] } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app
        .gql(Some(&member), "{ webhooks { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let listed = app
        .data(
            Some(&admin),
            "{ webhooks { totalCount nodes { url active } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["webhooks"],
        json!({ "totalCount": 1, "nodes": [{ "url": "https://93.184.216.34/hook", "active": true }] })
    );
    let deleted = app
        .data(
            Some(&admin),
            "mutation($id: ID!) { deleteWebhook(input: { id: $id }) { deletedWebhookId } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(deleted["deleteWebhook"]["deletedWebhookId"], id);
    let body = app
        .gql(
            Some(&admin),
            "query($id: ID!) { webhook(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
}

async fn scheduling_and_budget_events_are_announced(app: &mut TestApp) {
    let receiver = Receiver::start().await;
    let admin = app.sign_up("events").await;
    let org = app.organization_id(&admin).await;
    create(
        app,
        &admin,
        &receiver.url("events"),
        json!(["SCHEDULE_CREATED", "PROPOSAL_CREATED", "BUDGET_WARNING"]),
    )
    .await;

    // A manual booking announces schedule.created.
    let ann = app.add_user(org, "ann", OrgRole::Member).await;
    let ann = app.user_id(&ann).await;
    app.data(
        Some(&admin),
        "mutation($input: AddAvailabilityRuleInput!) { addAvailabilityRule(input: $input) { availabilityRule { id } } }",
        json!({ "input": { "userId": ann, "dayOfWeek": 0, "startTime": "08:00:00",
                           "endTime": "16:00:00", "effectiveFrom": "2029-12-01" } }),
    )
    .await;
    let mut events = Vec::new();
    for name in ["Booked by hand", "Left to the auto-scheduler"] {
        let data = app
            .data(
                Some(&admin),
                "mutation($input: CreateWorkEventInput!) { createWorkEvent(input: $input) { workEvent { id } } }",
                json!({ "input": { "event": { "name": name, "startAt": "2030-01-07T08:00:00+00:00",
                    "dueAt": "2030-01-07T16:00:00+00:00", "estimatedMinutes": 60 } } }),
            )
            .await;
        events.push(data["createWorkEvent"]["workEvent"]["id"].clone());
    }
    let booked = app
        .data(
            Some(&admin),
            "mutation($input: ScheduleEmployeeInput!) { scheduleEmployee(input: $input) { schedule { id } } }",
            json!({ "input": { "workEventId": events[0], "userId": ann,
                               "scheduledAt": "2030-01-07T09:00:00+00:00" } }),
        )
        .await;
    let schedule = booked["scheduleEmployee"]["schedule"]["id"].clone();

    // The auto-scheduler's proposal announces proposal.created.
    let data = app
        .data(
            Some(&admin),
            "mutation($input: RunAutoSchedulerInput!) { runAutoScheduler(input: $input) { run { id } } }",
            json!({ "input": { "from": "2030-01-07", "to": "2030-01-07" } }),
        )
        .await;
    let scheduler_run = data["runAutoScheduler"]["run"]["id"].clone();

    // A run whose estimate passes 90% of its team's budget announces budget.warning.
    let gpt4_roles = json!([
        { "title": "Researcher", "expertise": "SENIOR", "llmModel": "gpt-4" },
        { "title": "Writer", "expertise": "EXPERT", "llmModel": "gpt-4" },
        { "title": "Reviewer", "expertise": "INTERMEDIATE", "llmModel": "gpt-4" }
    ]);
    let probe = app
        .data(
            Some(&admin),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }",
            json!({ "input": { "name": "Roomy", "monthlyBudget": "1000", "roles": gpt4_roles } }),
        )
        .await;
    let probe = probe["createTeam"]["team"]["id"].clone();
    let started = app
        .data(
            Some(&admin),
            "mutation($input: StartRunInput!) { startRun(input: $input) { run { estimatedCost } } }",
            json!({ "input": { "teamId": probe, "inputs": { "topic": "hooks" } } }),
        )
        .await;
    let estimate: f64 = started["startRun"]["run"]["estimatedCost"]
        .as_str()
        .expect("estimate")
        .parse()
        .expect("decimal");
    // Rounded up to the cent, the budget stays within 10% of an estimate this large.
    assert!(
        estimate > 0.1,
        "three gpt-4 steps cost more than $0.10: {estimate}"
    );
    let budget = format!("{:.2}", (estimate * 100.0).ceil() / 100.0);
    let tight = app
        .data(
            Some(&admin),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }",
            json!({ "input": { "name": "Tight", "monthlyBudget": budget, "roles": gpt4_roles } }),
        )
        .await;
    let tight = tight["createTeam"]["team"]["id"].clone();
    let warned = start_run(app, &admin, &tight).await;

    let received = receiver
        .wait_for(
            "schedule.created, proposal.created and budget.warning",
            |all| {
                ["schedule.created", "proposal.created", "budget.warning"]
                    .iter()
                    .all(|event| all.iter().any(|r| r.json["event"] == *event))
            },
        )
        .await;
    let of = |event: &str| {
        received
            .iter()
            .find(|r| r.json["event"] == event)
            .map(|r| r.json["data"].clone())
            .expect("received")
    };
    let created = of("schedule.created");
    assert_eq!(created["schedule"]["id"], schedule);
    assert_eq!(created["schedule"]["userId"], ann);
    assert_eq!(created["schedule"]["workEventId"], events[0]);
    let proposed = of("proposal.created");
    assert_eq!(proposed["proposal"]["runId"], scheduler_run);
    assert_eq!(proposed["proposal"]["workEventId"], events[1]);
    // The least-loaded available employee: the admin, as Ann is already booked that day.
    assert_eq!(proposed["proposal"]["userId"], app.user_id(&admin).await);
    assert!(
        proposed["proposal"]["scheduledAt"]
            .as_str()
            .expect("time")
            .starts_with("2030-01-07T"),
        "{proposed:#}"
    );
    let warning = of("budget.warning");
    assert_eq!(warning["run"]["id"], warned);
    assert_eq!(warning["run"]["teamId"], tight);
    assert!(
        warning["message"]
            .as_str()
            .expect("message")
            .contains("of the monthly budget"),
        "{warning:#}"
    );
    assert_eq!(
        received
            .iter()
            .filter(|r| r.json["event"] == "budget.warning")
            .count(),
        1,
        "the probe run stayed under 90% of its budget"
    );
}

macro_rules! webhook_tests {
    ($($name:ident => $body:ident, $config:expr;)+) => {
        $(
            mod $name {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(mut app) = TestApp::spawn_with_webhooks(Backend::Sqlite, $config).await {
                        super::$body(&mut app).await;
                        app.finish().await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(mut app) = TestApp::spawn_with_webhooks(Backend::Postgres, $config).await {
                        super::$body(&mut app).await;
                        app.finish().await;
                    }
                }
            }
        )+
    };
}

async fn signed(app: &mut TestApp) {
    signed_deliveries_are_retried_until_they_succeed(app).await;
}

webhook_tests! {
    signed_retried_and_given_up => signed, fast_retries();
    restart_mid_retry => restart_mid_retry_loses_nothing, retrying_after(1_000);
    scheduling_and_budget_events => scheduling_and_budget_events_are_announced, fast_retries();
}

backend_tests! {
    targets_guarded => targets_are_checked;
}
