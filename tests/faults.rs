//! Faults: PostgreSQL restarts while requests and runs are in flight.
//!
//! The test starts a private PostgreSQL cluster (the installed server binaries, its own
//! data directory and port) so it can stop and start it without disturbing the shared
//! database other tests use. In CI (`CI` set) missing binaries fail the test.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Backend, TestApp, TestDatabase, error_code};
use gateway::config::Limits;
use gateway::engine::EngineConfig;
use serde_json::{Value, json};

/// A PostgreSQL cluster of this test's own.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Whether commands run as the `postgres` user (the server refuses to run as root).
    as_postgres: bool,
}

impl Cluster {
    /// Creates and starts a cluster; `None` (outside CI) when PostgreSQL is not installed.
    async fn start() -> Option<Cluster> {
        let Some(bin) = server_binaries() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "the PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are needed in CI"
            );
            eprintln!("skipping: no PostgreSQL server binaries");
            return None;
        };
        let as_postgres = run_output("id", &["-u"]).trim() == "0";
        let dir = tempfile::tempdir().expect("temp dir");
        if as_postgres {
            run_output(
                "chown",
                &["-R", "postgres", dir.path().to_str().expect("utf-8 path")],
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = Cluster {
            bin,
            dir,
            port,
            as_postgres,
        };
        let data = cluster.data();
        cluster
            .command(
                "initdb",
                &[
                    "-D",
                    &data,
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ],
            )
            .await;
        cluster.up().await;
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    async fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        let data = self.data();
        self.command(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-l",
                log.to_str().expect("utf-8"),
                "-o",
                &options,
                "-w",
                "start",
            ],
        )
        .await;
    }

    /// A fast shutdown: sessions are terminated, as on a restart or failover.
    async fn down(&self) {
        let data = self.data();
        self.command("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"])
            .await;
    }

    async fn command(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = tokio::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            tokio::process::Command::new(&program)
        };
        let output = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .await
            .expect("PostgreSQL command runs");
        assert!(
            output.status.success(),
            "{} {args:?} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "stop"];
        let _ = if self.as_postgres {
            std::process::Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .output()
        } else {
            std::process::Command::new(&program).args(args).output()
        };
    }
}

/// The newest installed PostgreSQL's server binaries.
fn server_binaries() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    found.sort_by_key(|bin| {
        bin.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    found.pop()
}

fn run_output(program: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(output.status.success(), "{program} {args:?} failed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const RUN: &str = "query($id: ID!) { run(id: $id) { id status completedSteps totalSteps \
    steps { position status output } events { seq kind step { position } } } }";

const TEAMS: &str = "{ teams(first: 5) { nodes { id name } } }";

/// What one request saw: how long it took and the error codes it carried.
struct Outcome {
    took: Duration,
    codes: Vec<String>,
}

async fn timed(app: &TestApp, token: &str, query: &str, variables: Value) -> Outcome {
    let started = Instant::now();
    let body = app.gql(Some(token), query, variables).await;
    let codes = body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("-").to_string())
                .collect()
        })
        .unwrap_or_default();
    Outcome {
        took: started.elapsed(),
        codes,
    }
}

async fn readiness(app: &TestApp) -> u16 {
    app.client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz answers")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_under_load() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let db = TestDatabase::external(cluster.url(), Backend::Postgres);
    let engine = EngineConfig {
        run_workers: 2,
        run_poll_ms: 100,
        simulated_step_delay_ms: 120,
        // Short, so a run whose worker gave up during the outage is resumed quickly.
        run_lease_seconds: 2,
        ..EngineConfig::default()
    };
    let config = db.config(Limits::default(), engine);
    let app = TestApp::spawn_on(db, config, gateway::clock::Clock::system())
        .await
        .expect("gateway starts");
    let token = app.sign_up("faults").await;
    let team = app.team_of_agents(&token, "Resilient", "1000", 5).await;
    let mut runs = Vec::new();
    for i in 0..4 {
        let data = app
            .data(
                Some(&token),
                "mutation($input: StartRunInput!) { startRun(input: $input) { run { id } } }",
                json!({ "input": { "teamId": team, "inputs": { "task": format!("task {i}") } } }),
            )
            .await;
        runs.push(
            data["startRun"]["run"]["id"]
                .as_str()
                .expect("run id")
                .to_string(),
        );
    }
    // Wait until runs are mid-flight: a step committed, more to come.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let run = app.data(Some(&token), RUN, json!({ "id": runs[0] })).await["run"].clone();
        if run["status"] == "RUNNING" && run["completedSteps"].as_i64() >= Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "no run got going: {run:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(readiness(&app).await, 200);

    // Requests keep coming throughout the outage.
    let (stop_load, load_stopped) = tokio::sync::watch::channel(false);
    let load = {
        let app_client = app.client.clone();
        let url = app.url("/graphql");
        let token = token.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !*load_stopped.borrow() {
                let started = Instant::now();
                let body: Value = app_client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({ "query": TEAMS }))
                    .send()
                    .await
                    .expect("the gateway answers during the outage")
                    .json()
                    .await
                    .expect("a JSON body");
                seen.push((started.elapsed(), body));
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            seen
        })
    };

    cluster.down().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while readiness(&app).await != 503 {
        assert!(
            Instant::now() < deadline,
            "/readyz stayed ready with the database down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A read fails at once, with a code a client can act on.
    let outcome = timed(&app, &token, RUN, json!({ "id": runs[1] })).await;
    assert!(
        outcome.took < Duration::from_secs(3),
        "took {:?}",
        outcome.took
    );
    assert_eq!(outcome.codes, ["SERVICE_UNAVAILABLE"]);
    let body = app.gql(Some(&token), TEAMS, json!({})).await;
    assert_eq!(error_code(&body), "SERVICE_UNAVAILABLE", "{body:#}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unavailable")),
        "{body:#}"
    );
    // Long enough for the run workers' commit retries to give up.
    tokio::time::sleep(Duration::from_secs(2)).await;

    cluster.up().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while readiness(&app).await != 200 {
        assert!(Instant::now() < deadline, "/readyz never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_load.send(true);
    let seen = load.await.expect("load task");
    assert!(seen.len() > 10, "the load ran: {} requests", seen.len());
    let mut failed = 0;
    for (took, body) in &seen {
        assert!(
            *took < Duration::from_secs(5),
            "a request hung for {took:?}"
        );
        if let Some(errors) = body["errors"].as_array() {
            failed += 1;
            for error in errors {
                assert_eq!(
                    error["extensions"]["code"], "SERVICE_UNAVAILABLE",
                    "every failure during the outage says so: {body:#}"
                );
            }
        }
    }
    assert!(failed > 0, "the load saw the outage");
    // Requests succeed again without a restart.
    let body = app.gql(Some(&token), TEAMS, json!({})).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    assert_eq!(body["data"]["teams"]["nodes"][0]["name"], "Resilient");

    // Every run finishes, every step committed exactly once.
    for id in &runs {
        let deadline = Instant::now() + Duration::from_secs(60);
        let run = loop {
            let run = app.data(Some(&token), RUN, json!({ "id": id })).await["run"].clone();
            if run["status"] != "RUNNING" && run["status"] != "QUEUED" && run["status"] != "PENDING"
            {
                break run;
            }
            assert!(Instant::now() < deadline, "run never finished: {run:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(run["status"], "COMPLETED", "{run:#}");
        assert_eq!(run["completedSteps"], 5, "{run:#}");
        assert_eq!(run["totalSteps"], 5, "{run:#}");
        let steps = run["steps"].as_array().expect("steps");
        assert_eq!(steps.len(), 5);
        for step in steps {
            assert_eq!(step["status"], "COMPLETED", "{run:#}");
            assert!(step["output"]["content"].is_string(), "{run:#}");
        }
        let completed = common::completed_positions(&run);
        let positions: Vec<i64> = steps
            .iter()
            .filter_map(|s| s["position"].as_i64())
            .collect();
        assert_eq!(completed, positions, "one STEP_COMPLETED per step: {run:#}");
    }
    app.finish().await;
    drop(cluster);
}
