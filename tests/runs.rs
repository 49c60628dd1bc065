//! Orchestration runs end to end: starting, executing through the simulated backend,
//! budgets, cancelling, and streaming progress over WebSocket.

mod common;

use std::time::Duration;

use bigdecimal::BigDecimal;
use common::ws::{Socket, connect, next, send};
use common::{TestApp, error_code, error_field, test_engine};
use gateway::auth::permissions::OrgRole;
use gateway::engine::EngineConfig;
use serde_json::{Value, json};

const CREATE_TEAM: &str =
    "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }";

const START_RUN: &str = "mutation($input: StartRunInput!) { startRun(input: $input) { run { \
    id status totalSteps completedSteps estimatedCost cost executionConfig \
    steps { position name status role { title } } } } }";

const RUN: &str = "query($id: ID!) { run(id: $id) { id status completedSteps totalSteps tokensUsed cost \
    result errorMessage startedAt completedAt durationMs \
    progress { completedSteps totalSteps percent tokensUsed cost } \
    metrics { executionTimeSeconds totalTokensUsed totalCost stepsCompleted agentsInvolved } \
    breakdown { role task tokensUsed cost durationSeconds agent { title } } \
    steps { position name status tokensUsed promptTokens completionTokens cost output errorMessage role { title } } \
    events { seq kind status message progress { completedSteps percent } step { position status } } \
    team { status currentSpend lastExecutedAt } } }";

fn dec(text: &str) -> BigDecimal {
    text.parse()
        .unwrap_or_else(|_| panic!("not a decimal: {text}"))
}

fn slow_engine() -> EngineConfig {
    EngineConfig {
        simulated_step_delay_ms: 400,
        ..test_engine()
    }
}

async fn create_team(app: &TestApp, token: &str, name: &str, budget: &str, roles: Value) -> String {
    let data = app
        .data(
            Some(token),
            CREATE_TEAM,
            json!({ "input": { "name": name, "monthlyBudget": budget, "roles": roles } }),
        )
        .await;
    data["createTeam"]["team"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn three_roles(model: &str) -> Value {
    json!([
        { "title": "Researcher", "expertise": "SENIOR", "llmModel": model, "description": "Research the market" },
        { "title": "Dormant", "expertise": "JUNIOR", "llmModel": model, "isActive": false },
        { "title": "Writer", "expertise": "EXPERT", "llmModel": model,
          "agentConfig": { "backstory": "Wrote for a decade", "goals": ["clarity"] } },
        { "title": "Reviewer", "expertise": "INTERMEDIATE", "llmModel": model }
    ])
}

async fn start_run(app: &TestApp, token: &str, team_id: &str, inputs: Value) -> Value {
    app.gql(
        Some(token),
        START_RUN,
        json!({ "input": { "teamId": team_id, "inputs": inputs } }),
    )
    .await
}

async fn run(app: &TestApp, token: &str, id: &str) -> Value {
    app.data(Some(token), RUN, json!({ "id": id })).await["run"].clone()
}

/// Polls a run until `done` holds of it (at most 20 s).
async fn wait_for(app: &TestApp, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..400 {
        let current = run(app, token, id).await;
        if done(&current) {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "run {id} never reached the expected state: {:#}",
        run(app, token, id).await
    );
}

fn ended(run: &Value) -> bool {
    matches!(
        run["status"].as_str(),
        Some("COMPLETED" | "FAILED" | "CANCELLED")
    )
}

/// Subscribes to a run's updates over `graphql-transport-ws` and returns every
/// event until the server completes the subscription.
async fn watch(app: &TestApp, token: &str, run_id: &str, after_seq: i64) -> Vec<Value> {
    let mut socket = connect(app, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({ "id": "r", "type": "subscribe", "payload": {
        "query": "subscription($id: ID!, $after: Int) { runUpdates(runId: $id, afterSeq: $after) { \
                  seq kind status runId message createdAt progress { completedSteps totalSteps percent cost tokensUsed } \
                  step { position name status cost } } }",
        "variables": { "id": run_id, "after": after_seq } } }))
    .await;
    collect(&mut socket, "r", "next", "complete", "runUpdates").await
}

async fn collect(socket: &mut Socket, id: &str, data: &str, done: &str, field: &str) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let message = next(socket).await;
        assert_eq!(message["id"], id, "{message}");
        if message["type"] == done {
            return events;
        }
        assert_eq!(message["type"], data, "{message}");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        events.push(message["payload"]["data"][field].clone());
    }
}

fn seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

async fn run_executes_and_streams_its_progress(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let team = create_team(app, &token, "Launch", "500", three_roles("gpt-4")).await;

    let body = start_run(
        app,
        &token,
        &team,
        json!({ "project": "food delivery app", "budget": 50000 }),
    )
    .await;
    assert!(body["errors"].is_null(), "{body:#}");
    let started = &body["data"]["startRun"]["run"];
    assert_eq!(started["status"], "PENDING");
    assert_eq!(started["totalSteps"], 3, "one step per active role");
    assert_eq!(
        started["executionConfig"],
        json!({
            "max_iterations": 5, "timeout_minutes": 30, "quality_preference": "balanced"
        })
    );
    let names: Vec<_> = started["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Researcher", "Writer", "Reviewer"],
        "active roles in position order"
    );
    assert!(dec(started["estimatedCost"].as_str().unwrap()) > dec("0"));
    let id = started["id"].as_str().unwrap().to_string();

    // Subscribing from the start replays what is stored and streams the rest.
    let events = watch(app, &token, &id, 0).await;
    let n = events.len() as i64;
    assert_eq!(
        seqs(&events),
        (1..=n).collect::<Vec<_>>(),
        "gapless, in order, no duplicates"
    );
    assert_eq!(
        kinds(&events),
        [
            "CREATED",
            "STARTED",
            "STEP_COMPLETED",
            "STEP_COMPLETED",
            "STEP_COMPLETED",
            "COMPLETED"
        ]
    );
    let last = events.last().unwrap();
    assert_eq!(last["status"], "COMPLETED");
    assert_eq!(last["progress"]["percent"], 100.0);
    assert_eq!(last["progress"]["completedSteps"], 3);
    assert_eq!(events[3]["progress"]["completedSteps"], 2);
    assert_eq!(events[3]["step"]["name"], "Writer");
    assert_eq!(events[3]["step"]["status"], "COMPLETED");

    let done = run(app, &token, &id).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["completedSteps"], 3);
    assert!(
        done["result"].as_str().unwrap().contains("Reviewer"),
        "the last step's answer is the result"
    );
    assert!(done["startedAt"].is_string() && done["completedAt"].is_string());
    let steps = done["steps"].as_array().unwrap();
    let mut step_total = dec("0");
    let mut tokens = 0;
    for step in steps {
        assert_eq!(step["status"], "COMPLETED");
        assert!(step["output"]["content"].as_str().unwrap().len() > 10);
        assert_eq!(
            step["tokensUsed"].as_i64().unwrap(),
            step["promptTokens"].as_i64().unwrap() + step["completionTokens"].as_i64().unwrap()
        );
        step_total += dec(step["cost"].as_str().unwrap());
        tokens += step["tokensUsed"].as_i64().unwrap();
    }
    assert_eq!(
        dec(done["cost"].as_str().unwrap()),
        step_total,
        "run cost is the sum of its steps"
    );
    assert_eq!(done["tokensUsed"].as_i64().unwrap(), tokens);
    assert_eq!(dec(last["progress"]["cost"].as_str().unwrap()), step_total);
    assert_eq!(done["metrics"]["stepsCompleted"], 3);
    assert_eq!(done["metrics"]["agentsInvolved"], 3);
    assert_eq!(done["metrics"]["totalTokensUsed"].as_i64().unwrap(), tokens);
    assert_eq!(done["breakdown"].as_array().unwrap().len(), 3);
    assert_eq!(done["breakdown"][0]["task"], "Research the market");
    assert_eq!(done["breakdown"][1]["agent"]["title"], "Writer");
    // The team was charged exactly and records the run's end.
    assert_eq!(
        dec(done["team"]["currentSpend"].as_str().unwrap()),
        step_total
    );
    assert_eq!(done["team"]["status"], "COMPLETED");
    assert!(done["team"]["lastExecutedAt"].is_string());
    // The stored log is what was streamed.
    assert_eq!(seqs(done["events"].as_array().unwrap()), seqs(&events));

    // Resuming after seq 2 replays the rest, then completes at once.
    let tail = watch(app, &token, &id, 2).await;
    assert_eq!(seqs(&tail), (3..=n).collect::<Vec<_>>());
    // A finished run with nothing new completes immediately.
    assert!(watch(app, &token, &id, n).await.is_empty());
}

async fn start_run_is_validated(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let other = app.sign_up("globex").await;
    let team = create_team(app, &token, "Launch", "500", three_roles("gpt-3.5-turbo")).await;
    let foreign = create_team(app, &other, "Theirs", "500", three_roles("gpt-3.5-turbo")).await;

    let body = start_run(app, &token, &team, json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(error_field(&body), "inputs");
    let body = start_run(app, &token, &team, json!(["not", "an", "object"])).await;
    assert_eq!(error_field(&body), "inputs");

    let body = app
        .gql(
            Some(&token),
            START_RUN,
            json!({ "input": { "teamId": team, "inputs": { "a": 1 },
            "executionConfig": { "maxIterations": 0 } } }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(error_field(&body), "executionConfig.maxIterations");
    let body = app
        .gql(
            Some(&token),
            START_RUN,
            json!({ "input": { "teamId": team, "inputs": { "a": 1 },
            "executionConfig": { "timeoutMinutes": 2000 } } }),
        )
        .await;
    assert_eq!(error_field(&body), "executionConfig.timeoutMinutes");

    // Another organization's team reads as missing, and nothing starts there.
    let body = start_run(app, &token, &foreign, json!({ "a": 1 })).await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let theirs = app
        .data(
            Some(&other),
            "query($id: ID!) { team(id: $id) { status runs { totalCount } } }",
            json!({ "id": foreign }),
        )
        .await;
    assert_eq!(theirs["team"]["runs"]["totalCount"], 0);
    assert_eq!(theirs["team"]["status"], "IDLE");

    let idle = create_team(app, &token, "Empty", "500", json!([])).await;
    let body = start_run(app, &token, &idle, json!({ "a": 1 })).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(error_field(&body), "teamId");

    // A viewer may not start runs; a member may.
    let org = app.organization_id(&token).await;
    let viewer = app.add_user(org, "vera", OrgRole::Viewer).await;
    let body = start_run(app, &viewer, &team, json!({ "a": 1 })).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("runs.start")
    );
    let member = app.add_user(org, "max", OrgRole::Member).await;
    let body = start_run(app, &member, &team, json!({ "a": 1 })).await;
    assert!(body["errors"].is_null(), "{body:#}");
    let id = body["data"]["startRun"]["run"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // ... but cancelling needs `runs.cancel`, which members lack.
    let body = app
        .gql(
            Some(&member),
            "mutation($input: CancelRunInput!) { cancelRun(input: $input) { run { status } } }",
            json!({ "input": { "id": id } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}

async fn budgets_are_enforced(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let inputs = json!({ "project": "a budget test" });

    // The estimate of three gpt-4 steps, from a team with room to spare.
    let roomy = create_team(app, &token, "Roomy", "1000", three_roles("gpt-4")).await;
    let body = start_run(app, &token, &roomy, inputs.clone()).await;
    let estimate = dec(body["data"]["startRun"]["run"]["estimatedCost"]
        .as_str()
        .unwrap());
    assert!(
        estimate > dec("0.05"),
        "three gpt-4 steps cost cents: {estimate}"
    );

    // An estimate above the remaining budget is refused with both figures.
    let tight = create_team(app, &token, "Tight", "0.01", three_roles("gpt-4")).await;
    let body = start_run(app, &token, &tight, inputs.clone()).await;
    assert_eq!(error_code(&body), "BUDGET_EXCEEDED");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("exceeds the remaining budget $0.01"),
        "{message}"
    );
    assert!(
        message.contains(&estimate.with_scale(4).to_string()),
        "{message}"
    );

    // Past 90% of the budget the run starts with a warning.
    let budget = estimate.with_scale_round(2, bigdecimal::RoundingMode::Up);
    let near = create_team(
        app,
        &token,
        "Near",
        &budget.to_string(),
        three_roles("gpt-4"),
    )
    .await;
    let body = start_run(app, &token, &near, inputs.clone()).await;
    assert!(body["errors"].is_null(), "{body:#}");
    let id = body["data"]["startRun"]["run"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let warned = run(app, &token, &id).await;
    assert_eq!(warned["events"][1]["kind"], "BUDGET_WARNING", "{warned:#}");
    assert!(
        warned["events"][1]["message"]
            .as_str()
            .unwrap()
            .contains("% of the monthly budget")
    );

    // A budget cut below a step's cost fails the run at that step, charging nothing.
    let cut = create_team(app, &token, "Cut", "1000", three_roles("gpt-4")).await;
    let body = start_run(app, &token, &cut, inputs.clone()).await;
    let id = body["data"]["startRun"]["run"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.data(
        Some(&token),
        "mutation($input: UpdateTeamInput!) { updateTeam(input: $input) { team { id } } }",
        json!({ "input": { "id": cut, "monthlyBudget": "0.01" } }),
    )
    .await;
    let failed = wait_for(app, &token, &id, ended).await;
    assert_eq!(failed["status"], "FAILED", "{failed:#}");
    let error = failed["errorMessage"].as_str().unwrap();
    assert!(
        error.contains("remaining monthly budget is 0.0100"),
        "{error}"
    );
    let statuses: Vec<_> = failed["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["FAILED", "SKIPPED", "SKIPPED"]);
    assert_eq!(failed["team"]["currentSpend"], "0.0000");
    assert_eq!(failed["team"]["status"], "FAILED");
    let kinds: Vec<_> = failed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["CREATED", "STARTED", "STEP_FAILED", "FAILED"]);

    // With the budget used up, nothing more starts.
    let spent = create_team(app, &token, "Spent", "1000", three_roles("gpt-4")).await;
    let body = start_run(app, &token, &spent, inputs.clone()).await;
    let id = body["data"]["startRun"]["run"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = wait_for(app, &token, &id, ended).await;
    assert_eq!(done["status"], "COMPLETED");
    let spend = done["team"]["currentSpend"].as_str().unwrap().to_string();
    app.data(
        Some(&token),
        "mutation($input: UpdateTeamInput!) { updateTeam(input: $input) { team { id } } }",
        json!({ "input": { "id": spent, "monthlyBudget": dec(&spend).with_scale_round(2, bigdecimal::RoundingMode::Down).to_string() } }),
    )
    .await;
    let body = start_run(app, &token, &spent, inputs).await;
    assert_eq!(error_code(&body), "BUDGET_EXCEEDED");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("used up"),
        "{body}"
    );
}

async fn cancel_stops_a_run_between_steps(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let team = create_team(app, &token, "Launch", "500", three_roles("gpt-3.5-turbo")).await;
    let body = start_run(app, &token, &team, json!({ "topic": "cancel me" })).await;
    let id = body["data"]["startRun"]["run"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for(app, &token, &id, |r| r["status"] == "RUNNING").await;

    let cancel = "mutation($input: CancelRunInput!) { cancelRun(input: $input) { run { status errorMessage completedSteps } } }";
    let cancelled = app
        .data(
            Some(&token),
            cancel,
            json!({ "input": { "id": id, "reason": "changed my mind" } }),
        )
        .await;
    let payload = &cancelled["cancelRun"]["run"];
    assert_eq!(payload["status"], "CANCELLED");
    assert_eq!(payload["errorMessage"], "changed my mind");
    let completed_at_cancel = payload["completedSteps"].as_i64().unwrap();

    // Cancelling again is a conflict; the run stays as it was.
    let body = app
        .gql(Some(&token), cancel, json!({ "input": { "id": id } }))
        .await;
    assert_eq!(error_code(&body), "CONFLICT");

    // Nothing is committed after the cancel, even by the step that was in flight.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let after = run(app, &token, &id).await;
    assert_eq!(after["status"], "CANCELLED");
    assert_eq!(
        after["completedSteps"].as_i64().unwrap(),
        completed_at_cancel
    );
    let steps = after["steps"].as_array().unwrap();
    let mut charged = dec("0");
    for step in steps {
        match step["status"].as_str().unwrap() {
            "COMPLETED" => charged += dec(step["cost"].as_str().unwrap()),
            status => assert_eq!(status, "CANCELLED", "{after:#}"),
        }
    }
    assert!(steps.iter().any(|s| s["status"] == "CANCELLED"));
    assert_eq!(
        dec(after["team"]["currentSpend"].as_str().unwrap()),
        charged
    );
    assert_eq!(after["team"]["status"], "IDLE");
    let events = after["events"].as_array().unwrap();
    let last = events.last().unwrap();
    assert_eq!(last["kind"], "CANCELLED");
    assert_eq!(last["message"], "changed my mind");
    assert_eq!(seqs(events), (1..=events.len() as i64).collect::<Vec<_>>());
    // A subscriber arriving now gets the log up to CANCELLED, then completion.
    let streamed = watch(app, &token, &id, 0).await;
    assert_eq!(kinds(&streamed).last(), Some(&"CANCELLED"));
}

async fn subscriptions_are_tenant_scoped(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let other = app.sign_up("globex").await;
    let team = create_team(app, &token, "Launch", "500", three_roles("gpt-3.5-turbo")).await;
    let body = start_run(app, &token, &team, json!({ "topic": "secret" })).await;
    let id = body["data"]["startRun"]["run"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Another organization's run: an error, never its events.
    let mut socket = connect(app, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {other}") } })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({ "id": "x", "type": "subscribe", "payload": {
        "query": "subscription($id: ID!) { runUpdates(runId: $id) { seq kind } }", "variables": { "id": id } } }))
    .await;
    let message = next(&mut socket).await;
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{message}"
    );
    assert!(
        message["payload"]["data"].is_null() || message["payload"]["data"]["runUpdates"].is_null(),
        "{message}"
    );
    let body = app.gql(Some(&other), RUN, json!({ "id": id })).await;
    assert_eq!(error_code(&body), "NOT_FOUND");

    // The owner's legacy `graphql-ws` client gets the whole run.
    let mut socket = connect(app, "graphql-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "token": token } }),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({ "id": "l", "type": "start", "payload": {
        "query": "subscription($id: ID!) { runUpdates(runId: $id) { seq kind } }", "variables": { "id": id } } }))
    .await;
    let events = collect(&mut socket, "l", "data", "complete", "runUpdates").await;
    assert_eq!(kinds(&events).first(), Some(&"CREATED"));
    assert_eq!(kinds(&events).last(), Some(&"COMPLETED"));
    assert_eq!(seqs(&events), (1..=events.len() as i64).collect::<Vec<_>>());
}

async fn runs_changed_feeds_dashboards(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let other = app.sign_up("globex").await;
    let team = create_team(app, &token, "Launch", "500", three_roles("gpt-3.5-turbo")).await;
    let theirs = create_team(app, &other, "Theirs", "500", three_roles("gpt-3.5-turbo")).await;

    let mut socket = connect(app, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({ "id": "d", "type": "subscribe", "payload": {
        "query": "subscription { runsChanged { runId kind status teamId run { team { name } } } }" } }))
    .await;
    // The protocol does not acknowledge a subscription: start runs until one shows.
    let mut first = None;
    for _ in 0..50 {
        start_run(app, &other, &theirs, json!({ "n": 1 })).await;
        let body = start_run(app, &token, &team, json!({ "n": 1 })).await;
        let id = body["data"]["startRun"]["run"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        if let Some(message) =
            common::ws::next_within(&mut socket, Duration::from_millis(300)).await
        {
            first = Some((id, message));
            break;
        }
    }
    let (_, message) = first.expect("the feed delivered an event");
    let event = &message["payload"]["data"]["runsChanged"];
    assert_eq!(
        event["teamId"],
        team.as_str(),
        "only the caller's organization: {event}"
    );
    assert_eq!(event["run"]["team"]["name"], "Launch");
    // Status changes only (no step progress without `includeProgress`), in order.
    let body = start_run(app, &token, &team, json!({ "n": 2 })).await;
    let second = body["data"]["startRun"]["run"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("COMPLETED") {
        let message = next(&mut socket).await;
        let event = &message["payload"]["data"]["runsChanged"];
        assert_eq!(event["teamId"], team.as_str(), "{event}");
        let kind = event["kind"].as_str().unwrap().to_string();
        assert!(
            ["CREATED", "STARTED", "COMPLETED"].contains(&kind.as_str()),
            "{event}"
        );
        if event["runId"] == second.as_str() {
            seen.push(kind);
        }
    }
    assert_eq!(seen, ["CREATED", "STARTED", "COMPLETED"]);
}

async fn analytics_report_runs_roles_and_budgets(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let busy = create_team(app, &token, "Busy", "10", three_roles("gpt-4")).await;
    let calm = create_team(
        app,
        &token,
        "Calm",
        "1000",
        json!([{ "title": "Solo", "expertise": "SENIOR" }]),
    )
    .await;
    let mut ids = Vec::new();
    for (team, n) in [(&busy, 1), (&busy, 2), (&calm, 3)] {
        let body = start_run(app, &token, team, json!({ "n": n })).await;
        ids.push(
            body["data"]["startRun"]["run"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut runs = Vec::new();
    for id in &ids {
        runs.push(wait_for(app, &token, id, ended).await);
    }
    let cost = |r: &Value| dec(r["cost"].as_str().unwrap());

    let data = app
        .data(Some(&token), "{ viewer { organization { analytics {             topTeams { team { name } runCount completedRunCount averageCost totalCost }             roleUtilization { role { title llmModel } stepCount averageDurationMs totalCost }             budgetUtilization { team { name } monthlyBudget currentSpend utilizationPercent } } } } }", json!({}))
        .await;
    let analytics = &data["viewer"]["organization"]["analytics"];
    let top = analytics["topTeams"].as_array().unwrap();
    assert_eq!(top.len(), 2);
    assert_eq!(top[0]["team"]["name"], "Busy");
    assert_eq!(top[0]["runCount"], 2);
    assert_eq!(top[0]["completedRunCount"], 2);
    let busy_total = cost(&runs[0]) + cost(&runs[1]);
    assert_eq!(dec(top[0]["totalCost"].as_str().unwrap()), busy_total);
    assert_eq!(
        dec(top[0]["averageCost"].as_str().unwrap()),
        (busy_total.clone() / dec("2")).with_scale_round(4, bigdecimal::RoundingMode::HalfEven)
    );
    assert_eq!(top[1]["team"]["name"], "Calm");
    assert_eq!(dec(top[1]["totalCost"].as_str().unwrap()), cost(&runs[2]));

    let roles = analytics["roleUtilization"].as_array().unwrap();
    assert_eq!(
        roles.len(),
        4,
        "three active Busy roles and Solo: {roles:#?}"
    );
    for role in &roles[..3] {
        assert_eq!(role["stepCount"], 2, "{role}");
        assert_eq!(role["role"]["llmModel"], "gpt-4");
    }
    assert_eq!(roles[3]["role"]["title"], "Solo");
    assert_eq!(roles[3]["stepCount"], 1);
    let role_total: BigDecimal = roles
        .iter()
        .map(|r| dec(r["totalCost"].as_str().unwrap()))
        .sum();
    assert_eq!(
        role_total,
        busy_total.clone() + cost(&runs[2]),
        "every step's cost is attributed once"
    );

    let budgets = analytics["budgetUtilization"].as_array().unwrap();
    assert_eq!(budgets[0]["team"]["name"], "Busy", "highest share first");
    assert_eq!(
        dec(budgets[0]["currentSpend"].as_str().unwrap()),
        busy_total
    );
    let percent = (busy_total * dec("10")).with_scale_round(2, bigdecimal::RoundingMode::HalfEven);
    assert_eq!(
        budgets[0]["utilizationPercent"].as_f64().unwrap(),
        percent.to_string().parse::<f64>().unwrap()
    );
    assert_eq!(budgets[1]["team"]["name"], "Calm");
}

backend_tests! {
    analytics => analytics_report_runs_roles_and_budgets;
    execute_and_stream => run_executes_and_streams_its_progress;
    validation => start_run_is_validated;
    budgets => budgets_are_enforced;
    tenant_scoped_subscriptions => subscriptions_are_tenant_scoped;
    runs_changed => runs_changed_feeds_dashboards;
}

backend_tests! {
    engine = super::slow_engine();
    cancel => cancel_stops_a_run_between_steps;
}
