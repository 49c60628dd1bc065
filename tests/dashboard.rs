//! The live dashboard at `/dashboard`, driven in headless Chromium over the Chrome
//! DevTools Protocol: a refused token shows its error, a good one signs in, a team's
//! "Start run" button starts a run, and the page follows it to COMPLETED with every
//! step, each brought by a live event of the run's subscription.
//!
//! Chromium is Debian's `chromium` (`.ci/run` installs it). Without it the test is
//! skipped locally and fails in CI (`CI` set), like the PostgreSQL variants.

mod common;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestApp, test_engine};
use futures_util::{SinkExt, StreamExt};
use gateway::engine::EngineConfig;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Debian's Chromium; `CHROMIUM` names another binary.
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long the page may take to show the started run completed.
const RUN_DEADLINE: Duration = Duration::from_secs(30);
/// How long any other step (start-up, navigation, sign-in, a DevTools answer) may take.
const STEP_DEADLINE: Duration = Duration::from_secs(30);

/// Steps slow enough to be seen arriving one by one, fast enough for a short test.
fn dashboard_engine() -> EngineConfig {
    EngineConfig {
        simulated_step_delay_ms: 300,
        ..test_engine()
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A headless Chromium with one page, spoken to over the DevTools Protocol.
struct Browser {
    /// Killed when dropped, so a failing test leaves no browser behind.
    child: tokio::process::Child,
    socket: Socket,
    /// The page's session (`Target.attachToTarget` with `flatten`).
    session: String,
    next_id: u64,
    /// Uncaught exceptions of the page.
    exceptions: Vec<String>,
    /// Console errors of the page, for diagnostics.
    console: Vec<String>,
    /// Chromium's last lines of stderr, for diagnostics.
    stderr: Arc<Mutex<VecDeque<String>>>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// The Chromium binary, or `None` (outside CI) when it is not installed.
    fn binary() -> Option<PathBuf> {
        let path =
            std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from(CHROMIUM), PathBuf::from);
        if path.exists() {
            return Some(path);
        }
        if std::env::var_os("CI").is_some() {
            panic!(
                "{} is missing: CI needs Chromium for the dashboard test (.ci/run installs Debian's `chromium`)",
                path.display()
            );
        }
        eprintln!(
            "skipping the dashboard browser test: {} is not installed (apt-get install chromium)",
            path.display()
        );
        None
    }

    async fn launch(binary: &Path) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = tokio::process::Command::new(binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--mute-audio",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));

        // The browser's DevTools endpoint: printed on stderr, and written to
        // DevToolsActivePort (port, then path) in the profile.
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let active_port = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + STEP_DEADLINE;
        let mut stderr_open = true;
        let url = loop {
            if let Ok(text) = std::fs::read_to_string(&active_port)
                && let Some((port, path)) = text.trim().split_once('\n')
            {
                break format!("ws://127.0.0.1:{}{}", port.trim(), path.trim());
            }
            assert!(
                Instant::now() < deadline,
                "Chromium did not open its DevTools endpoint within {STEP_DEADLINE:?}: {:?}",
                stderr.lock().unwrap()
            );
            if !stderr_open {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "Chromium exited ({status}) before opening DevTools: {:?}",
                        stderr.lock().unwrap()
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            match tokio::time::timeout(Duration::from_millis(100), lines.next_line()).await {
                Ok(Ok(Some(line))) => {
                    if let Some(url) = line
                        .split_once("DevTools listening on ")
                        .map(|(_, url)| url.trim().to_string())
                    {
                        break url;
                    }
                    remember(&stderr, line);
                }
                Ok(_) => stderr_open = false,
                Err(_) => {}
            }
        };
        // Keep reading, so Chromium never blocks on a full pipe.
        let tail = Arc::clone(&stderr);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                remember(&tail, line);
            }
        });

        let (socket, _) =
            tokio::time::timeout(STEP_DEADLINE, tokio_tungstenite::connect_async(&url))
                .await
                .expect("DevTools answers in time")
                .unwrap_or_else(|e| panic!("connecting to DevTools at {url}: {e}"));
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            exceptions: Vec::new(),
            console: Vec::new(),
            stderr,
            _profile: profile,
        };
        let target = browser
            .send(None, "Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let target_id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = browser
            .send(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await;
        browser.session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string();
        browser.call("Runtime.enable", json!({})).await;
        browser.call("Page.enable", json!({})).await;
        browser
    }

    /// Sends a command (to the page's session, or to the browser with `None`) and
    /// returns its result; events arriving meanwhile are recorded.
    async fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::Text(command.to_string().into()))
            .await
            .unwrap_or_else(|e| panic!("sending {method}: {e}"));
        let deadline = Instant::now() + STEP_DEADLINE;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => panic!("no answer to {method} within {STEP_DEADLINE:?}"),
                Ok(None) => panic!("DevTools closed the connection during {method}"),
                Ok(Some(Err(e))) => panic!("reading the answer to {method}: {e}"),
                Ok(Some(Ok(frame))) => frame,
            };
            let Message::Text(text) = frame else { continue };
            let message: Value = serde_json::from_str(&text).expect("DevTools sends JSON");
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    panic!("{method} failed: {error}");
                }
                return message["result"].clone();
            }
            self.observe(&message);
        }
    }

    /// A command to the page.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(Some(&session), method, params).await
    }

    fn observe(&mut self, event: &Value) {
        let params = &event["params"];
        match event["method"].as_str() {
            Some("Runtime.exceptionThrown") => {
                let details = &params["exceptionDetails"];
                let text = details["exception"]["description"]
                    .as_str()
                    .or(details["text"].as_str())
                    .unwrap_or("an exception");
                self.exceptions.push(text.to_string());
            }
            Some("Runtime.consoleAPICalled") if params["type"] == "error" => {
                self.console.push(params["args"].to_string());
            }
            _ => {}
        }
    }

    /// The value of a JavaScript expression in the page (JSON-serialisable).
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("evaluating `{expression}` threw: {exception:#}");
        }
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it yields something other than null or false.
    async fn wait_for(&mut self, what: &str, expression: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let value = self.eval(expression).await;
            if !value.is_null() && value != json!(false) {
                return value;
            }
            if Instant::now() >= deadline {
                let page = self.eval(SNAPSHOT_PAGE).await;
                panic!(
                    "the page did not show {what} within {within:?}\npage: {page:#}\n{}",
                    self.diagnostics()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn diagnostics(&self) -> String {
        format!(
            "page exceptions: {:?}\nconsole errors: {:?}\nChromium stderr (last lines): {:?}",
            self.exceptions,
            self.console,
            self.stderr.lock().unwrap()
        )
    }

    /// Closes the browser, and kills it if it lingers.
    async fn close(mut self) {
        let id = self.next_id + 1;
        let close = json!({ "id": id, "method": "Browser.close" });
        let _ = self
            .socket
            .send(Message::Text(close.to_string().into()))
            .await;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

fn remember(tail: &Mutex<VecDeque<String>>, line: String) {
    let mut tail = tail.lock().unwrap();
    if tail.len() == 40 {
        tail.pop_front();
    }
    tail.push_back(line);
}

/// A JSON string literal of `text`, to put into JavaScript.
fn js(text: &str) -> String {
    Value::from(text).to_string()
}

/// What the page shows, for failure messages.
const SNAPSHOT_PAGE: &str = "({
    state: document.body.dataset.state,
    connection: document.getElementById('connection').dataset.state,
    errors: [...document.querySelectorAll('#errors li')].map(li => li.textContent),
    teams: [...document.querySelectorAll('#teams tr')].map(tr => tr.dataset.teamName),
    runs: [...document.querySelectorAll('#runs tr')].map(tr => [tr.dataset.runId, tr.dataset.status]),
    detail: document.getElementById('run-detail').dataset.status || null,
    steps: [...document.querySelectorAll('#steps li')].map(li => [li.dataset.stepPosition, li.dataset.status, li.dataset.seq]),
})";

/// The started run as the page shows it: its row in the list, the detail pane,
/// its steps and its event log.
fn run_snapshot(run_id: &str) -> String {
    format!(
        "(() => {{
            const id = {id};
            const detail = document.getElementById('run-detail');
            const row = [...document.querySelectorAll('#runs tr[data-run-id]')].find(tr => tr.dataset.runId === id);
            return {{
                detailRunId: detail.dataset.runId || null,
                detailStatus: detail.dataset.status || null,
                rowStatus: row ? row.dataset.status : null,
                rowCompleted: row ? Number(row.dataset.completedSteps) : null,
                rowTotal: row ? Number(row.dataset.totalSteps) : null,
                steps: [...document.querySelectorAll('#steps li')].map(li => ({{
                    position: Number(li.dataset.stepPosition),
                    status: li.dataset.status,
                    seq: Number(li.dataset.seq),
                    name: li.querySelector('.name').textContent,
                }})),
                events: [...document.querySelectorAll('#events li')].map(li => ({{
                    seq: Number(li.dataset.seq), kind: li.dataset.kind,
                }})),
                errors: [...document.querySelectorAll('#errors li')].map(li => li.textContent),
            }};
        }})()",
        id = js(run_id)
    )
}

async fn create_team(app: &TestApp, token: &str, name: &str, roles: Value) -> String {
    let data = app
        .data(
            Some(token),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }",
            json!({ "input": { "name": name, "monthlyBudget": "500", "roles": roles } }),
        )
        .await;
    data["createTeam"]["team"]["id"]
        .as_str()
        .expect("team id")
        .to_string()
}

async fn dashboard_follows_a_started_run(app: &TestApp) {
    let Some(binary) = Browser::binary() else {
        return;
    };
    let token = app.sign_up("acme").await;
    // Three active roles (the inactive one gets no step), and a second team whose
    // button must not be the one pressed.
    let team = create_team(
        app,
        &token,
        "Launch",
        json!([
            { "title": "Researcher", "expertise": "SENIOR", "llmModel": "gpt-4" },
            { "title": "Dormant", "expertise": "JUNIOR", "isActive": false },
            { "title": "Writer", "expertise": "EXPERT", "llmModel": "claude-3-sonnet" },
            { "title": "Reviewer", "expertise": "INTERMEDIATE" }
        ]),
    )
    .await;
    create_team(
        app,
        &token,
        "Archive",
        json!([{ "title": "Clerk", "expertise": "JUNIOR" }]),
    )
    .await;

    let started = std::time::Instant::now();
    let mut browser = Browser::launch(&binary).await;
    browser
        .call("Page.navigate", json!({ "url": app.url("/dashboard") }))
        .await;
    browser
        .wait_for(
            "the sign-in form",
            "document.readyState === 'complete' && document.body.dataset.state === 'login' \
             && !!document.getElementById('token-input')",
            STEP_DEADLINE,
        )
        .await;

    // A refused token: the error shows with its code, and the page stays at sign-in.
    browser
        .eval(
            "document.getElementById('token-input').value = 'not-a-token'; \
             document.getElementById('token-login').click(); true",
        )
        .await;
    let refused = browser
        .wait_for(
            "the refused token's error",
            "(() => { const li = document.querySelector('#errors li[data-code]'); \
             return li && document.body.dataset.state === 'login' \
             ? { code: li.dataset.code, text: li.textContent } : null; })()",
            STEP_DEADLINE,
        )
        .await;
    assert_eq!(refused["code"], "UNAUTHENTICATED", "{refused}");
    assert_eq!(
        browser
            .eval("sessionStorage.getItem('gateway.dashboard.token')")
            .await,
        Value::Null,
        "a refused token is not kept"
    );

    // Sign in: the teams are listed, and the live connection is up.
    browser
        .eval(&format!(
            "document.getElementById('token-input').value = {}; \
             document.getElementById('token-login').click(); true",
            js(&token)
        ))
        .await;
    let ready = browser
        .wait_for(
            "the signed-in dashboard",
            &format!(
                "document.body.dataset.state === 'ready' && \
                 document.getElementById('connection').dataset.state === 'live' && {{ \
                 teams: [...document.querySelectorAll('#teams tr[data-team-id]')].map(tr => tr.dataset.teamName), \
                 errors: document.querySelectorAll('#errors li').length, \
                 stored: sessionStorage.getItem('gateway.dashboard.token') === {}, \
                 url: location.href }}",
                js(&token)
            ),
            STEP_DEADLINE,
        )
        .await;
    assert_eq!(ready["teams"], json!(["Archive", "Launch"]), "{ready}");
    assert_eq!(
        ready["errors"], 0,
        "signing in clears the old error: {ready}"
    );
    assert_eq!(ready["stored"], true, "the token is kept in sessionStorage");
    assert!(
        !ready["url"].as_str().unwrap_or_default().contains(&token),
        "the token never goes into the URL: {ready}"
    );

    // Start a run of "Launch" with its button.
    let clicked = browser
        .eval(&format!(
            "(() => {{ const row = [...document.querySelectorAll('#teams tr[data-team-id]')]\
             .find(tr => tr.dataset.teamId === {}); \
             const button = row && row.querySelector('button[data-action=\"start-run\"]'); \
             if (!button || button.disabled) return false; button.click(); return true; }})()",
            js(&team)
        ))
        .await;
    assert_eq!(
        clicked, true,
        "the team's Start run button is there and enabled"
    );
    let run_id = browser
        .wait_for(
            "the started run",
            "document.getElementById('run-detail').dataset.runId || null",
            STEP_DEADLINE,
        )
        .await;
    let run_id = run_id.as_str().expect("run id").to_string();

    // What the API says of that run: it is the team's, with one step per active role.
    let planned = app
        .data(
            Some(&token),
            "query($id: ID!) { run(id: $id) { team { id } totalSteps steps { position name } } }",
            json!({ "id": run_id }),
        )
        .await;
    assert_eq!(planned["run"]["team"]["id"], team.as_str(), "{planned}");
    let total = planned["run"]["totalSteps"].as_u64().expect("totalSteps");
    assert_eq!(total, 3, "one step per active role: {planned}");

    // Follow the page until it shows the run COMPLETED with all its steps.
    let snapshot = run_snapshot(&run_id);
    let deadline = Instant::now() + RUN_DEADLINE;
    let mut seen: Vec<String> = Vec::new();
    let shown = loop {
        let page = browser.eval(&snapshot).await;
        let steps = page["steps"].as_array().cloned().unwrap_or_default();
        let progress = format!(
            "{} [{}]",
            page["detailStatus"].as_str().unwrap_or("-"),
            steps
                .iter()
                .map(|s| s["status"].as_str().unwrap_or("-"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        if seen.last() != Some(&progress) {
            seen.push(progress);
        }
        assert_eq!(
            page["detailRunId"],
            run_id.as_str(),
            "the detail stays on the started run"
        );
        // The last step's event already carries the run's COMPLETED status; the
        // run's own COMPLETED event, the last of its log, follows it.
        let ended = page["events"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| e["kind"] == "COMPLETED"));
        let done = ended
            && page["detailStatus"] == "COMPLETED"
            && page["rowStatus"] == "COMPLETED"
            && steps.len() as u64 == total
            && steps.iter().all(|s| s["status"] == "COMPLETED");
        if done {
            break page;
        }
        if Instant::now() >= deadline {
            panic!(
                "the page did not show run {run_id} COMPLETED with {total} completed steps \
                 within {RUN_DEADLINE:?}\nlast: {page:#}\nseen: {seen:#?}\n{}",
                browser.diagnostics()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "the page showed: {seen:#?} ({:.1} s since Chromium started)",
        started.elapsed().as_secs_f64()
    );

    // The run as the API tells it, against the page.
    let api = app
        .data(
            Some(&token),
            "query($id: ID!) { run(id: $id) { status completedSteps totalSteps \
             steps { position name status } events { seq kind } } }",
            json!({ "id": run_id }),
        )
        .await;
    let api = &api["run"];
    assert_eq!(api["status"], "COMPLETED", "{api}");
    assert_eq!(api["completedSteps"].as_u64(), Some(total), "{api}");
    let api_steps: Vec<(u64, &str)> = api["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| (s["position"].as_u64().unwrap(), s["name"].as_str().unwrap()))
        .collect();
    let page_steps: Vec<(u64, &str)> = shown["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| (s["position"].as_u64().unwrap(), s["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        page_steps, api_steps,
        "the page lists the run's steps in order"
    );
    assert_eq!(
        page_steps.iter().map(|(_, name)| *name).collect::<Vec<_>>(),
        ["Researcher", "Writer", "Reviewer"]
    );
    for step in shown["steps"].as_array().unwrap() {
        assert!(
            step["seq"].as_u64().unwrap_or(0) > 0,
            "each step's state came from a live event of runUpdates: {step}"
        );
    }
    assert_eq!(
        (shown["rowCompleted"].as_u64(), shown["rowTotal"].as_u64()),
        (Some(total), Some(total)),
        "the run's row in the list is complete too: {shown}"
    );
    // The event log: every event of the run, in order, none missing.
    let mut page_events: Vec<(u64, String)> = shown["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    page_events.sort();
    let api_events: Vec<(u64, String)> = api["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(page_events, api_events, "the page's event log is the run's");
    let step_events = api_events
        .iter()
        .filter(|(_, kind)| kind == "STEP_COMPLETED")
        .count() as u64;
    assert_eq!(step_events, total, "{api_events:?}");
    assert_eq!(
        shown["errors"],
        json!([]),
        "no error shown: {}",
        browser.diagnostics()
    );
    assert!(
        browser.exceptions.is_empty(),
        "the page threw: {}",
        browser.diagnostics()
    );
    browser.close().await;
    eprintln!(
        "dashboard test: {:.1} s with Chromium",
        started.elapsed().as_secs_f64()
    );
}

backend_tests! {
    engine = super::dashboard_engine();
    dashboard => dashboard_follows_a_started_run;
}
