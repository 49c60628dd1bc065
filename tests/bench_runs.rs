//! Run engine benchmarks (ignored by `cargo test`; run on a release build):
//!
//! ```sh
//! cargo test --release --test bench_runs -- --ignored --nocapture --test-threads 1
//! ```
//!
//! With `TEST_DATABASE_URL` set, each benchmark also runs on PostgreSQL.
//! - `step_throughput`: runs executed with zero step delay; steps committed per second.
//! - `fanout_latency`: 1,000 WebSocket subscribers (`BENCH_SUBSCRIBERS`), half on
//!   `runUpdates` of one ten-step run and half on `runsChanged`, in place before the
//!   run starts with zero step delay (`BENCH_STEP_DELAY_MS`); time from each event's
//!   commit to its arrival at each subscriber, p50 and p99, and the server's resident
//!   memory per idle subscription. The subscribers live in a child process (this
//!   binary's `fanout_subscribers`), so the server's process holds only the server:
//!   each process needs a descriptor per subscriber.
//! - `fanout_floor_websocket`: the floor under `fanout_latency`: the same subscribers
//!   and events, served by a bare WebSocket server without GraphQL or database
//!   (`BENCH_FLOOR_SPACING_MS` apart).

mod common;

// The gateway binary's allocator, so that memory and speed are the server's own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use common::ws::{Socket, connect_url, next, send};
use common::{Backend, TestApp, test_engine};
use gateway::config::Limits;
use gateway::engine::EngineConfig;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Signs up an organization on the enterprise plan, whose API quota a benchmark's
/// thousands of requests stay within.
async fn sign_up(app: &TestApp) -> String {
    let token = app.sign_up("bench").await;
    app.data(
        Some(&token),
        "mutation { updateOrganization(input: { plan: ENTERPRISE }) { organization { plan } } }",
        json!({}),
    )
    .await;
    token
}

async fn team_with_roles(app: &TestApp, token: &str, roles: usize, name: &str) -> String {
    let roles: Vec<Value> = (0..roles)
        .map(|i| json!({ "title": format!("Agent {i}"), "expertise": "SENIOR", "llmModel": "gpt-3.5-turbo" }))
        .collect();
    let data = app
        .data(
            Some(token),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }",
            json!({ "input": { "name": name, "monthlyBudget": "10000", "roles": roles } }),
        )
        .await;
    data["createTeam"]["team"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn start_run(app: &TestApp, token: &str, team: &str, n: usize) -> String {
    let data = app
        .data(
            Some(token),
            "mutation($input: StartRunInput!) { startRun(input: $input) { run { id } } }",
            json!({ "input": { "teamId": team, "inputs": { "job": n } } }),
        )
        .await;
    data["startRun"]["run"]["id"].as_str().unwrap().to_string()
}

async fn completed_runs(app: &TestApp, token: &str) -> i64 {
    let data = app
        .data(
            Some(token),
            "{ teams(first: 100) { nodes { runs(filter: { status: COMPLETED }) { totalCount } } } }",
            json!({}),
        )
        .await;
    data["teams"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["runs"]["totalCount"].as_i64().unwrap())
        .sum()
}

async fn step_throughput(backend: Backend) {
    let runs = env_usize("BENCH_RUNS", 400);
    let steps_per_run = 5;
    let workers = env_usize("BENCH_WORKERS", 4);
    // Plan the runs with no workers, then measure a gateway that executes them.
    let idle = EngineConfig {
        run_workers: 0,
        ..test_engine()
    };
    let Some(app) = TestApp::spawn_with_engine(backend, idle).await else {
        return;
    };
    let token = sign_up(&app).await;
    let team_count = env_usize("BENCH_TEAMS", 1);
    let mut teams = Vec::new();
    for i in 0..team_count {
        teams.push(team_with_roles(&app, &token, steps_per_run, &format!("Bench {i}")).await);
    }
    for n in 0..runs {
        start_run(&app, &token, &teams[n % team_count], n).await;
    }
    let config = app.db.config(
        Limits::default(),
        EngineConfig {
            run_workers: workers,
            simulated_step_delay_ms: 0,
            run_poll_ms: 50,
            ..test_engine()
        },
    );
    let clock = Instant::now();
    let executor = gateway::server::start(&config).await.expect("starts");
    loop {
        if completed_runs(&app, &token).await == runs as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = clock.elapsed();
    executor.stop().await.expect("stops");
    let steps = (runs * steps_per_run) as f64;
    println!(
        "step_throughput {backend:?}: {steps} steps of {runs} runs of {team_count} teams in {:.2} s with {workers} workers = {:.0} steps/s",
        elapsed.as_secs_f64(),
        steps / elapsed.as_secs_f64()
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark"]
async fn step_throughput_sqlite() {
    step_throughput(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark"]
async fn step_throughput_postgres() {
    step_throughput(Backend::Postgres).await;
}

/// What a subscriber watches.
#[derive(Clone, Copy)]
enum Watch {
    /// `runUpdates` of the run: its stored log first, then live events; completes.
    RunUpdates,
    /// `runsChanged` with progress: the organization's live events; never completes.
    RunsChanged,
}

/// One subscriber: everything it received until the run's COMPLETED event, with
/// arrival times.
async fn subscribe(
    mut socket: Socket,
    token: String,
    run: String,
    watch: Watch,
) -> Vec<(Value, chrono::DateTime<chrono::Utc>)> {
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    let (query, field) = match watch {
        Watch::RunUpdates => (
            "subscription($id: ID!) { runUpdates(runId: $id) { seq kind createdAt } }",
            "runUpdates",
        ),
        Watch::RunsChanged => (
            "subscription { runsChanged(includeProgress: true) { runId seq kind createdAt } }",
            "runsChanged",
        ),
    };
    send(
        &mut socket,
        json!({ "id": "r", "type": "subscribe", "payload": { "query": query, "variables": { "id": run } } }),
    )
    .await;
    let mut received = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(300), next(&mut socket))
            .await
            .expect("the run ends within 5 minutes");
        if message["type"] == "complete" {
            return received;
        }
        let event = message["payload"]["data"][field].clone();
        let done = event["kind"] == "COMPLETED";
        received.push((event, chrono::Utc::now()));
        if done {
            return received;
        }
    }
}

/// The number in column `column` (from 0) of the line of `/proc/self/<file>` that
/// starts with `label`.
fn proc_self_number(file: &str, label: &str, column: usize) -> Option<usize> {
    let text = std::fs::read_to_string(format!("/proc/self/{file}")).ok()?;
    let line = text.lines().find(|l| l.starts_with(label))?;
    line.split_whitespace().nth(column)?.parse().ok()
}

/// This process's resident memory, in KiB.
fn rss_kib() -> usize {
    proc_self_number("status", "VmRSS:", 1).unwrap_or(0)
}

/// This process's limit on open file descriptors.
fn open_files_limit() -> usize {
    proc_self_number("limits", "Max open files", 3).unwrap_or(usize::MAX)
}

/// Each process of a fan-out bench holds a descriptor per subscriber.
fn assert_open_files(subscribers: usize) {
    assert!(
        open_files_limit() > subscribers + 512,
        "{subscribers} subscribers need more open files: raise `ulimit -n` above {}",
        subscribers + 512
    );
}

/// How the subscribers' process reports: this prefix, then JSON.
const REPORT: &str = "fanout report: ";

/// The subscribers of `fanout_latency`, in their own process: it starts this binary
/// with `BENCH_FANOUT_URL`, `_TOKEN` and `_RUN` set, and reads the report line.
/// Every subscriber must see the run's events in order, without a gap, up to
/// COMPLETED; the report gives the delay from each live event's commit to its arrival.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: the subscribers' process of fanout_latency"]
async fn fanout_subscribers() {
    let Ok(url) = std::env::var("BENCH_FANOUT_URL") else {
        println!("fanout_subscribers runs only as fanout_latency's child process");
        return;
    };
    let var = |name: &str| std::env::var(name).expect(name);
    let (token, run) = (var("BENCH_FANOUT_TOKEN"), var("BENCH_FANOUT_RUN"));
    let subscribers = env_usize("BENCH_SUBSCRIBERS", 1000);
    let mut tasks = Vec::new();
    for i in 0..subscribers {
        let socket = connect_url(&url, "graphql-transport-ws").await;
        let watch = if i % 2 == 0 {
            Watch::RunUpdates
        } else {
            Watch::RunsChanged
        };
        tasks.push(tokio::spawn(subscribe(
            socket,
            token.clone(),
            run.clone(),
            watch,
        )));
    }
    let mut latencies = Vec::new();
    // The first and last live event's commit: over how long the events came.
    let mut committed: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> =
        None;
    for task in tasks {
        let received = task.await.expect("subscriber");
        let seqs: Vec<i64> = received
            .iter()
            .map(|(e, _)| e["seq"].as_i64().unwrap())
            .collect();
        let first = seqs.first().copied().unwrap_or(1);
        assert_eq!(
            seqs,
            (first..first + seqs.len() as i64).collect::<Vec<_>>(),
            "every subscriber sees the events in order, without a gap"
        );
        assert_eq!(
            received.last().map(|(e, _)| e["kind"].clone()),
            Some(json!("COMPLETED")),
            "every subscriber sees the run complete"
        );
        // The run's first event (CREATED) was stored before anyone subscribed.
        for (event, arrived) in received.into_iter().filter(|(e, _)| e["seq"] != 1) {
            let created: chrono::DateTime<chrono::Utc> =
                event["createdAt"].as_str().unwrap().parse().unwrap();
            latencies.push((arrived - created).num_microseconds().unwrap() as f64 / 1000.0);
            committed = Some(match committed {
                Some((first, last)) => (first.min(created), last.max(created)),
                None => (created, created),
            });
        }
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{REPORT}{}",
        json!({
            "deliveries": latencies.len(),
            "p50": pick(0.5),
            "p99": pick(0.99),
            "max": latencies.last().copied().unwrap_or_default(),
            "commit_span": committed
                .map(|(first, last)| (last - first).num_microseconds().unwrap() as f64 / 1000.0)
                .unwrap_or_default(),
        })
    );
}

async fn fanout_latency(backend: Backend) {
    let subscribers = env_usize("BENCH_SUBSCRIBERS", 1000);
    assert_open_files(subscribers);
    let delay = env_usize("BENCH_STEP_DELAY_MS", 0) as u64;
    // No workers yet: the run waits until every subscriber is in place.
    let engine = EngineConfig {
        run_workers: 0,
        simulated_step_delay_ms: delay,
        ..test_engine()
    };
    let Some(app) = TestApp::spawn_with_engine(backend, engine.clone()).await else {
        return;
    };
    let token = sign_up(&app).await;
    let team = team_with_roles(&app, &token, 10, "Bench").await;
    let run = start_run(&app, &token, &team, 0).await;

    let before = rss_kib();
    let child = spawn_subscribers(&app.url("/graphql"), &token, &run, subscribers);
    let (in_place, per_subscription) =
        in_place_and_idle_memory(before, subscribers, || app.state.live.subscriptions.get()).await;

    let workers = gateway::engine::Engine::start(
        &EngineConfig {
            run_workers: 1,
            ..engine
        },
        app.state.pool.clone(),
        app.state.bus.clone(),
        app.state.runs.clone(),
        app.state.settings.clone(),
    )
    .expect("workers start");
    app.state.runs.wake();
    let report = subscribers_report(child).await;
    workers.stop().await;
    println!(
        "fanout_latency {backend:?}: {subscribers} subscribers (half runUpdates, half runsChanged) \
         in place after {:.1} s, step delay {delay} ms, {}; {:.1} KiB of server resident memory \
         per idle subscription",
        in_place.as_secs_f64(),
        described(&report),
        per_subscription
    );
    app.finish().await;
}

/// Starts the subscribers' process (`fanout_subscribers`) against `url`.
fn spawn_subscribers(
    url: &str,
    token: &str,
    run: &str,
    subscribers: usize,
) -> tokio::process::Child {
    tokio::process::Command::new(std::env::current_exe().expect("this binary"))
        .args(["fanout_subscribers", "--exact", "--ignored", "--nocapture"])
        .env("BENCH_FANOUT_URL", url)
        .env("BENCH_FANOUT_TOKEN", token)
        .env("BENCH_FANOUT_RUN", run)
        .env("BENCH_SUBSCRIBERS", subscribers.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the subscribers' process starts")
}

/// Waits until `in_place` counts every subscriber, then a second for the server to
/// settle. How long the subscribers took to be in place, and this process's resident
/// memory gained since `before` (KiB) per subscriber.
async fn in_place_and_idle_memory(
    before: usize,
    subscribers: usize,
    in_place: impl Fn() -> usize,
) -> (Duration, f64) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    while in_place() < subscribers && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(in_place(), subscribers);
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let per_subscriber = (rss_kib().saturating_sub(before)) as f64 / subscribers as f64;
    (took, per_subscriber)
}

/// The report of the subscribers' process, once every subscriber has seen the run end.
async fn subscribers_report(child: tokio::process::Child) -> Value {
    let output = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .expect("the subscribers finish within 5 minutes")
        .expect("the subscribers' output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the subscribers failed: {stdout}");
    stdout
        .lines()
        .find_map(|line| line.split_once(REPORT))
        .map(|(_, json)| serde_json::from_str(json).expect("a JSON report"))
        .expect("the subscribers report")
}

fn described(report: &Value) -> String {
    let ms = |key: &str| report[key].as_f64().unwrap_or_default();
    format!(
        "{} live deliveries of events committed over {:.1} ms: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        report["deliveries"],
        ms("commit_span"),
        ms("p50"),
        ms("p99"),
        ms("max")
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark"]
async fn fanout_latency_sqlite() {
    fanout_latency(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark"]
async fn fanout_latency_postgres() {
    fanout_latency(Backend::Postgres).await;
}

/// The run's events as `fanout_floor` publishes them: each already written as the
/// `next` message of either subscription (subscription id `r`, as the subscribers send).
#[derive(Clone, Debug)]
struct FloorEvent {
    seq: i64,
    terminal: bool,
    run_updates: Utf8Bytes,
    runs_changed: Utf8Bytes,
}

impl FloorEvent {
    fn new(seq: i64, kind: &str) -> FloorEvent {
        let created_at = chrono::Utc::now().to_rfc3339();
        let message = |field: &str, event: Value| {
            Utf8Bytes::from(
                json!({ "type": "next", "id": "r", "payload": { "data": { field: event } } })
                    .to_string(),
            )
        };
        FloorEvent {
            seq,
            terminal: kind == "COMPLETED",
            run_updates: message(
                "runUpdates",
                json!({ "seq": seq, "kind": kind, "createdAt": created_at }),
            ),
            runs_changed: message(
                "runsChanged",
                json!({ "runId": "1", "seq": seq, "kind": kind, "createdAt": created_at }),
            ),
        }
    }
}

/// What a floor connection gathers into one write: the gateway's bound
/// (`WRITE_BATCH_BYTES` in src/server/websocket.rs).
const FLOOR_WRITE_BATCH_BYTES: usize = 1024;

/// One connection of `fanout_floor`'s server: just enough graphql-transport-ws for the
/// subscribers (init, ack, one subscription), then every event written as it comes,
/// with those already waiting behind it in the same write.
async fn floor_connection(
    stream: tokio::net::TcpStream,
    bus: tokio::sync::broadcast::Sender<FloorEvent>,
    created: FloorEvent,
    subscribed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

    // The handshake's callback type is tungstenite's, large error and all.
    #[allow(clippy::result_large_err)]
    fn protocol(_: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
        response.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().expect("a header value"),
        );
        Ok(response)
    }

    stream.set_nodelay(true).expect("TCP_NODELAY");
    let config = WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(FLOOR_WRITE_BATCH_BYTES);
    let socket = tokio_tungstenite::accept_hdr_async_with_config(stream, protocol, Some(config))
        .await
        .expect("the WebSocket handshake");
    let (mut sink, mut incoming) = socket.split();
    let mut next_text = async || -> Value {
        loop {
            match incoming.next().await.expect("a message").expect("a frame") {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
                _ => continue,
            }
        }
    };
    assert_eq!(next_text().await["type"], "connection_init");
    sink.send(Message::text(r#"{"type":"connection_ack"}"#))
        .await
        .expect("ack");
    let subscribe = next_text().await;
    assert_eq!(subscribe["id"], "r");
    let run_updates = subscribe["payload"]["query"]
        .as_str()
        .expect("a query")
        .contains("runUpdates");
    let text = move |event: &FloorEvent| {
        Message::Text(if run_updates {
            event.run_updates.clone()
        } else {
            event.runs_changed.clone()
        })
    };
    let mut receiver = bus.subscribe();
    if run_updates {
        // `runUpdates` replays the stored log first: the run's CREATED event.
        sink.send(text(&created)).await.expect("replay");
    }
    subscribed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut last = created.seq;
    let mut ended = false;
    while !ended {
        let mut event = receiver.recv().await.expect("no event is missed");
        let mut gathered = 0;
        loop {
            assert_eq!(event.seq, last + 1, "events in order");
            last = event.seq;
            ended = event.terminal;
            let message = text(&event);
            gathered += message.len();
            sink.feed(message).await.expect("write");
            if ended || gathered >= FLOOR_WRITE_BATCH_BYTES {
                break;
            }
            match receiver.try_recv() {
                Ok(ready) => event = ready,
                Err(_) => break,
            }
        }
        sink.flush().await.expect("write");
    }
    // The subscriber closes once it has seen the run complete.
    while let Some(Ok(_)) = incoming.next().await {}
}

/// The floor under `fanout_latency`: the same subscribers' process and the same twelve
/// live events of a ten-step run (STARTED, ten STEP_COMPLETED, COMPLETED), published
/// `BENCH_FLOOR_SPACING_MS` apart (0: back to back) by a bare WebSocket server that has
/// every message written once for all subscribers. No GraphQL and no database: what
/// the machine's cores, the loopback and the subscribers' own reading cost.
async fn fanout_floor() {
    let subscribers = env_usize("BENCH_SUBSCRIBERS", 1000);
    assert_open_files(subscribers);
    let spacing = Duration::from_millis(env_usize("BENCH_FLOOR_SPACING_MS", 0) as u64);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}/graphql", listener.local_addr().expect("address"));
    let (bus, _) = tokio::sync::broadcast::channel::<FloorEvent>(64);
    let subscribed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let created = FloorEvent::new(1, "CREATED");
    let accepting = {
        let (bus, subscribed) = (bus.clone(), subscribed.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.expect("accept");
                tokio::spawn(floor_connection(
                    stream,
                    bus.clone(),
                    created.clone(),
                    subscribed.clone(),
                ));
            }
        })
    };
    let before = rss_kib();
    let child = spawn_subscribers(&url, "floor", "1", subscribers);
    let (_, per_subscription) = in_place_and_idle_memory(before, subscribers, || {
        subscribed.load(std::sync::atomic::Ordering::Relaxed)
    })
    .await;
    let kinds = std::iter::once("STARTED")
        .chain(std::iter::repeat_n("STEP_COMPLETED", 10))
        .chain(std::iter::once("COMPLETED"));
    for (seq, kind) in (2..).zip(kinds) {
        if seq > 2 && !spacing.is_zero() {
            tokio::time::sleep(spacing).await;
        }
        bus.send(FloorEvent::new(seq, kind))
            .expect("the subscribers listen");
    }
    let report = subscribers_report(child).await;
    accepting.abort();
    println!(
        "fanout_floor: {subscribers} subscribers (half runUpdates, half runsChanged), events \
         {} ms apart, {}; {:.1} KiB of resident memory per idle connection",
        spacing.as_millis(),
        described(&report),
        per_subscription
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark"]
async fn fanout_floor_websocket() {
    fanout_floor().await;
}
