//! The real `gateway` binary: runs survive a SIGKILL of the process executing them,
//! and on PostgreSQL two processes on one database share runs and their live events.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bigdecimal::BigDecimal;
use common::ws::{connect_url, next, send};
use common::{Backend, JWT_SECRET, TestDatabase};
use serde_json::{Value, json};

/// A `gateway serve` process, killed when dropped.
struct Gateway {
    child: Child,
    base: String,
    client: reqwest::Client,
}

impl Gateway {
    async fn start(db: &TestDatabase, data_dir: &std::path::Path, workers: usize) -> Gateway {
        Gateway::start_with(db, data_dir, workers, &[], None).await
    }

    /// A gateway with `env` over the defaults, logging to `log` if given.
    async fn start_with(
        db: &TestDatabase,
        data_dir: &std::path::Path,
        workers: usize,
        env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Gateway {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_gateway"))
            .arg("serve")
            .env("DATABASE_URL", &db.url)
            .env("DATA_DIR", data_dir)
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("JWT_SECRET", JWT_SECRET)
            .env("RUN_WORKERS", workers.to_string())
            .env("RUN_LEASE_SECONDS", "2")
            .env("RUN_POLL_MS", "100")
            .env("SIMULATED_STEP_DELAY_MS", "250")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(match log {
                Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
                None => Stdio::null(),
            })
            .spawn()
            .expect("the gateway binary starts");
        let gateway = Gateway {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        };
        for _ in 0..300 {
            if let Ok(response) = gateway
                .client
                .get(format!("{}/readyz", gateway.base))
                .send()
                .await
                && response.status() == 200
            {
                return gateway;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the gateway did not become ready");
    }

    /// POSTs `query` as `token` with one more header; the response body.
    async fn post_with_header(&self, token: &str, header: (&str, &str), query: &str) -> Value {
        self.client
            .post(format!("{}/graphql", self.base))
            .bearer_auth(token)
            .header(header.0, header.1)
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json")
    }

    async fn data(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let body: Value = request
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        assert!(body["errors"].is_null(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// Sends SIGTERM and waits for the process to exit; its exit status.
    async fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        for _ in 0..400 {
            if let Some(status) = self.child.try_wait().expect("waits") {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the gateway did not exit within 10 s of SIGTERM");
    }

    fn kill(&mut self) {
        // `Child::kill` sends SIGKILL: no shutdown code runs.
        self.child.kill().expect("killed");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn sign_up_with_team(gateway: &Gateway) -> (String, String) {
    let data = gateway
        .data(
            None,
            "mutation($input: SignUpInput!) { signUp(input: $input) { token } }",
            json!({ "input": { "organizationName": "Acme", "slug": "acme", "email": "admin@acme.example",
                "username": "acme-admin", "password": "correct horse battery" } }),
        )
        .await;
    let token = data["signUp"]["token"].as_str().unwrap().to_string();
    let roles: Vec<Value> = (1..=4)
        .map(|i| json!({ "title": format!("Agent {i}"), "expertise": "SENIOR" }))
        .collect();
    let data = gateway
        .data(
            Some(&token),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }",
            json!({ "input": { "name": "Crash crew", "monthlyBudget": "1000", "roles": roles } }),
        )
        .await;
    let team = data["createTeam"]["team"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    (token, team)
}

async fn start_run(gateway: &Gateway, token: &str, team: &str, n: usize) -> String {
    let data = gateway
        .data(
            Some(token),
            "mutation($input: StartRunInput!) { startRun(input: $input) { run { id } } }",
            json!({ "input": { "teamId": team, "inputs": { "job": n } } }),
        )
        .await;
    data["startRun"]["run"]["id"].as_str().unwrap().to_string()
}

const RUNS: &str = "query($id: ID!) { team(id: $id) { currentSpend runs(first: 50) { nodes { \
    id status totalSteps completedSteps cost \
    steps { position status cost } events { seq kind step { position } } } } } }";

async fn team_runs(gateway: &Gateway, token: &str, team: &str) -> Value {
    gateway.data(Some(token), RUNS, json!({ "id": team })).await["team"].clone()
}

fn dec(value: &Value) -> BigDecimal {
    value
        .as_str()
        .expect("a decimal string")
        .parse()
        .expect("decimal")
}

async fn runs_survive_sigkill(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let data_dir = tempfile::tempdir().expect("data dir");
    let mut first = Gateway::start(&db, data_dir.path(), 2).await;
    let (token, team) = sign_up_with_team(&first).await;
    for n in 0..4 {
        start_run(&first, &token, &team, n).await;
    }
    // Kill the process once some steps are committed and others are in flight.
    for _ in 0..200 {
        let state = team_runs(&first, &token, &team).await;
        let done: i64 = state["runs"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["completedSteps"].as_i64().unwrap())
            .sum();
        if done >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();

    let second = Gateway::start(&db, data_dir.path(), 2).await;
    for _ in 0..600 {
        let state = team_runs(&second, &token, &team).await;
        let runs = state["runs"]["nodes"].as_array().unwrap();
        if runs.len() == 4 && runs.iter().all(|r| r["status"] == "COMPLETED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The request that saw the last run complete may have read the team's spend
    // before that run's last step committed (its statements are not one snapshot):
    // read once more, now that nothing is left to run.
    let state = team_runs(&second, &token, &team).await;
    let runs = state["runs"]["nodes"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    let mut spent = BigDecimal::from(0);
    let mut resumed = 0;
    for run in runs {
        assert_eq!(run["status"], "COMPLETED", "every run finishes: {state:#}");
        assert_eq!(run["completedSteps"], 4);
        let mut run_cost = BigDecimal::from(0);
        for step in run["steps"].as_array().unwrap() {
            assert_eq!(step["status"], "COMPLETED");
            run_cost += dec(&step["cost"]);
        }
        assert_eq!(
            dec(&run["cost"]),
            run_cost,
            "the run's cost counts each step once"
        );
        spent += run_cost;
        let events = run["events"].as_array().unwrap();
        assert_eq!(
            common::completed_positions(run),
            [0, 1, 2, 3],
            "each step completed exactly once: {run:#}"
        );
        assert_eq!(events.last().unwrap()["kind"], "COMPLETED");
        resumed += events.iter().filter(|e| e["kind"] == "RESUMED").count();
    }
    assert!(
        resumed >= 1,
        "a run interrupted by the kill was resumed: {state:#}"
    );
    assert_eq!(
        dec(&state["currentSpend"]),
        spent,
        "the team paid for each step once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_runs_survive_sigkill() {
    runs_survive_sigkill(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_runs_survive_sigkill() {
    runs_survive_sigkill(Backend::Postgres).await;
}

/// A run started through one process and executed there streams, complete and in
/// order, to a subscriber on another process that executes nothing itself: the
/// events can only have arrived through LISTEN/NOTIFY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_events_cross_processes() {
    let Some(db) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let data_dir = tempfile::tempdir().expect("data dir");
    let executor = Gateway::start(&db, data_dir.path(), 1).await;
    let viewer = Gateway::start(&db, data_dir.path(), 0).await;
    let (token, team) = sign_up_with_team(&executor).await;

    let mut socket = connect_url(&format!("{}/graphql", viewer.base), "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    let mut feed = connect_url(&format!("{}/graphql", viewer.base), "graphql-transport-ws").await;
    send(&mut feed, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
    assert_eq!(next(&mut feed).await["type"], "connection_ack");
    send(
        &mut feed,
        json!({ "id": "f", "type": "subscribe", "payload": {
        "query": "subscription { runsChanged { runId kind } }" } }),
    )
    .await;
    // Let the feed's subscription register before the run starts.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let run = start_run(&executor, &token, &team, 1).await;
    send(&mut socket, json!({ "id": "r", "type": "subscribe", "payload": {
        "query": "subscription($id: ID!) { runUpdates(runId: $id) { seq kind progress { completedSteps } } }",
        "variables": { "id": run } } }))
    .await;
    let mut events = Vec::new();
    loop {
        let message = next(&mut socket).await;
        if message["type"] == "complete" {
            break;
        }
        assert!(message["payload"]["errors"].is_null(), "{message}");
        events.push(message["payload"]["data"]["runUpdates"].clone());
    }
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "STEP_COMPLETED").count(), 4);
    assert_eq!(kinds.last(), Some(&"COMPLETED"));
    // The whole log arrived (replayed or live: this alone cannot tell; the feed below,
    // which has no replay, shows the notifications crossing processes).
    assert!(events.len() >= 7, "{events:#?}");

    // The organization feed on the viewer saw the run from start to end.
    let mut feed_kinds = Vec::new();
    while feed_kinds.last().map(String::as_str) != Some("COMPLETED") {
        let message = next(&mut feed).await;
        let event = &message["payload"]["data"]["runsChanged"];
        assert_eq!(event["runId"], run.as_str());
        feed_kinds.push(event["kind"].as_str().unwrap().to_string());
    }
    assert_eq!(feed_kinds, ["CREATED", "STARTED", "COMPLETED"]);
}

/// SIGTERM: subscriptions are closed with "going away", the process exits cleanly,
/// and its runs' leases are released, so another process resumes them at once (the
/// 60 s lease never has to run out).
async fn sigterm_drains_and_hands_runs_over(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let data_dir = tempfile::tempdir().expect("data dir");
    let env = [
        ("RUN_LEASE_SECONDS", "60"),
        ("SIMULATED_STEP_DELAY_MS", "400"),
    ];
    let mut first = Gateway::start_with(&db, data_dir.path(), 2, &env, None).await;
    let (token, team) = sign_up_with_team(&first).await;
    let mut socket = connect_url(&format!("{}/graphql", first.base), "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { runsChanged { kind } }" } }),
    )
    .await;
    for n in 0..2 {
        start_run(&first, &token, &team, n).await;
    }
    for _ in 0..200 {
        let state = team_runs(&first, &token, &team).await;
        let started = state["runs"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["completedSteps"].as_i64().unwrap() >= 1)
            .count();
        if started == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let terminated = std::time::Instant::now();
    let status = first.terminate().await;
    assert!(status.success(), "exits cleanly on SIGTERM: {status:?}");
    let close = loop {
        match tokio::time::timeout(
            Duration::from_secs(5),
            futures_util::StreamExt::next(&mut socket),
        )
        .await
        .expect("the socket hears from the server")
        {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => {
                break frame.expect("a close code");
            }
            Some(Ok(_)) => continue,
            other => panic!("no close frame before the end: {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1001, "going away");

    let second = Gateway::start_with(&db, data_dir.path(), 2, &env, None).await;
    let mut state = Value::Null;
    for _ in 0..300 {
        state = team_runs(&second, &token, &team).await;
        let runs = state["runs"]["nodes"].as_array().unwrap();
        if runs.iter().all(|r| r["status"] == "COMPLETED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = terminated.elapsed();
    for run in state["runs"]["nodes"].as_array().unwrap() {
        assert_eq!(run["status"], "COMPLETED", "{state:#}");
        let mut completed: Vec<i64> = run["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "STEP_COMPLETED")
            .map(|e| e["step"]["position"].as_i64().unwrap())
            .collect();
        completed.sort();
        assert_eq!(completed, [0, 1, 2, 3], "no step lost or repeated: {run:#}");
    }
    assert!(
        took < Duration::from_secs(30),
        "the runs were taken over without waiting for their 60 s leases ({took:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sigterm_drains_and_hands_runs_over() {
    sigterm_drains_and_hands_runs_over(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sigterm_drains_and_hands_runs_over() {
    sigterm_drains_and_hands_runs_over(Backend::Postgres).await;
}

/// JSON logs: every line of a request carries its id (the access line, and the
/// slow-operation line with the operation and its document, string values hidden).
async fn request_lines_carry_the_request_id(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let data_dir = tempfile::tempdir().expect("data dir");
    let log = data_dir.path().join("gateway.log");
    let env = [
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "info"),
        ("SLOW_OPERATION_MS", "0"),
    ];
    let mut gateway = Gateway::start_with(&db, data_dir.path(), 1, &env, Some(&log)).await;
    let (token, _) = sign_up_with_team(&gateway).await;
    let body = gateway
        .post_with_header(
            &token,
            ("x-request-id", "req-logged-1"),
            "query Whoami { viewer { user { email } } team(id: \"00000000-0000-0000-0000-000000000000\") { name } }",
        )
        .await;
    assert_eq!(
        body["data"]["viewer"]["user"]["email"],
        "admin@acme.example"
    );
    assert!(gateway.terminate().await.success());

    let text = std::fs::read_to_string(&log).expect("log written");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("a JSON line: {line}")))
        .collect();
    let of_request: Vec<&Value> = lines
        .iter()
        .filter(|line| line.to_string().contains("req-logged-1"))
        .collect();
    for line in &of_request {
        assert_eq!(line["span"]["request_id"], "req-logged-1", "{line}");
    }
    let slow = of_request
        .iter()
        .find(|line| line["fields"]["message"] == "slow operation")
        .unwrap_or_else(|| panic!("a slow-operation line for the request: {text}"));
    assert_eq!(slow["fields"]["operation"], "Whoami");
    assert_eq!(slow["fields"]["kind"], "query");
    let document = slow["fields"]["document"].as_str().expect("document");
    assert!(document.starts_with("query Whoami { viewer"), "{document}");
    assert!(
        !document.contains("00000000-0000"),
        "string values are not logged: {document}"
    );
    assert!(
        of_request
            .iter()
            .any(|line| line["fields"]["message"] == "finished processing request"),
        "the access line carries the id: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_request_lines_carry_the_request_id() {
    request_lines_carry_the_request_id(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_request_lines_carry_the_request_id() {
    request_lines_carry_the_request_id(Backend::Postgres).await;
}

/// An OTLP/HTTP (JSON) receiver: what the gateway exports lands in `batches`.
struct Collector {
    url: String,
    batches: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl Collector {
    async fn start() -> Collector {
        let batches = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = batches.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    let batch: Value = serde_json::from_slice(&body).expect("OTLP JSON");
                    kept.lock().expect("lock").push(batch);
                    axum::Json(json!({}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Collector { url, batches }
    }

    /// Every exported span, with its resource's `service.name` beside it.
    fn spans(&self) -> Vec<(String, Value)> {
        let batches = self.batches.lock().expect("lock");
        let mut spans = Vec::new();
        for batch in batches.iter() {
            for resource in batch["resourceSpans"].as_array().into_iter().flatten() {
                let service = attribute(&resource["resource"], "service.name");
                for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                    for span in scope["spans"].as_array().into_iter().flatten() {
                        spans.push((service.clone(), span.clone()));
                    }
                }
            }
        }
        spans
    }
}

fn attribute(holder: &Value, key: &str) -> String {
    holder["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["key"] == key)
        .and_then(|a| a["value"]["stringValue"].as_str())
        .unwrap_or_default()
        .to_string()
}

async fn traces_are_exported_over_otlp(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let collector = Collector::start().await;
    let data_dir = tempfile::tempdir().expect("data dir");
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_SERVICE_NAME", "gateway-under-test"),
        ("RUST_LOG", "info"),
    ];
    let mut gateway = Gateway::start_with(&db, data_dir.path(), 1, &env, None).await;
    let (token, _) = sign_up_with_team(&gateway).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let body = gateway
        .post_with_header(
            &token,
            ("traceparent", &traceparent),
            "query Traced { viewer { user { email } } }",
        )
        .await;
    assert_eq!(
        body["data"]["viewer"]["user"]["email"],
        "admin@acme.example"
    );

    // The caller's trace continues: its span is the parent of the request's, which is
    // the parent of the operation's.
    let mut spans = Vec::new();
    for _ in 0..100 {
        spans = collector.spans();
        if spans.iter().any(|(_, s)| s["name"] == "query Traced") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let find = |name: &str| {
        spans
            .iter()
            .find(|(_, s)| s["name"] == name && s["traceId"] == trace_id)
            .unwrap_or_else(|| panic!("no span `{name}` in trace {trace_id}: {spans:#?}"))
            .clone()
    };
    let (service, request) = find("POST /graphql");
    assert_eq!(service, "gateway-under-test");
    assert_eq!(request["parentSpanId"], caller_span);
    let (_, operation) = find("query Traced");
    assert_eq!(operation["parentSpanId"], request["spanId"]);
    assert_eq!(attribute(&operation, "graphql.operation.name"), "Traced");
    assert_eq!(attribute(&operation, "graphql.operation.type"), "query");
    // Requests without a caller's trace start their own.
    assert!(
        spans
            .iter()
            .any(|(_, s)| s["name"] == "POST /graphql" && s["traceId"] != trace_id),
        "{spans:#?}"
    );
    assert!(gateway.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_traces_are_exported_over_otlp() {
    traces_are_exported_over_otlp(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_traces_are_exported_over_otlp() {
    traces_are_exported_over_otlp(Backend::Postgres).await;
}
