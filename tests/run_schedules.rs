//! Recurring run schedules: occurrences computed in the schedule's time zone, each
//! fired exactly once however many gateways look, missed occurrences handled by
//! policy, pause/resume/delete, all driven by a manual clock instead of waiting.

mod common;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::{Backend, TestApp, error_code, error_field, test_engine};
use gateway::auth::permissions::OrgRole;
use gateway::clock::Clock;
use gateway::engine::EngineConfig;
use gateway::engine::recurring::Recurring;
use gateway::state::AppState;
use serde_json::{Value, json};

const CREATE: &str = "mutation($input: CreateRunScheduleInput!) { createRunSchedule(input: $input) { \
    runSchedule { id name cron timezone status missedPolicy nextRunAt runCount inputs } } }";

const SHOW: &str = "query($id: ID!) { runSchedule(id: $id) { status nextRunAt lastRunAt runCount \
    lastError runs(first: 20) { totalCount nodes { id status inputs triggeredBy { id } \
    schedule { id } } } } }";

fn inputs() -> Value {
    json!({ "topic": "the weekly mail" })
}

fn utc(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    // Monday 5 January 2026.
    Utc.with_ymd_and_hms(2026, 1, 5, h, m, s)
        .single()
        .expect("time")
}

fn iso(time: DateTime<Utc>) -> String {
    time.to_rfc3339()
}

/// No background look: the test fires due schedules itself, from two gateways at once.
fn ticking_by_hand() -> EngineConfig {
    EngineConfig {
        run_schedule_poll_ms: 0,
        ..test_engine()
    }
}

fn recurring(state: &AppState) -> Recurring {
    Recurring {
        pool: state.pool.clone(),
        bus: state.bus.clone(),
        control: state.runs.clone(),
        clock: state.clock.clone(),
        grace: chrono::Duration::seconds(60),
    }
}

/// Eight concurrent looks, four from each gateway; returns how many runs they started.
async fn tick_everywhere(gateways: &[Recurring]) -> usize {
    let looks = gateways
        .iter()
        .flat_map(|g| std::iter::repeat_n(g.clone(), 4))
        .map(|g| tokio::spawn(async move { g.tick().await.expect("tick") }));
    let mut started = 0;
    for look in looks.collect::<Vec<_>>() {
        started += look.await.expect("look");
    }
    started
}

async fn team(app: &TestApp, token: &str) -> Value {
    let data = app
        .data(
            Some(token),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }",
            json!({ "input": { "name": "Nightly", "monthlyBudget": "500",
                "roles": [{ "title": "Analyst", "expertise": "SENIOR" }] } }),
        )
        .await;
    data["createTeam"]["team"]["id"].clone()
}

async fn show(app: &TestApp, token: &str, id: &Value) -> Value {
    app.data(Some(token), SHOW, json!({ "id": id })).await["runSchedule"].clone()
}

async fn change(app: &TestApp, token: &str, mutation: &str, id: &Value) -> Value {
    let query = format!(
        "mutation($id: ID!) {{ {mutation}(input: {{ id: $id }}) {{ runSchedule {{ status nextRunAt }} }} }}"
    );
    app.data(Some(token), &query, json!({ "id": id })).await[mutation]["runSchedule"].clone()
}

async fn occurrences_fire_once_across_gateways(app: &TestApp) {
    app.clock.set(utc(8, 58, 0));
    let second = gateway::server::start_with_clock(&app.config, app.clock.clone())
        .await
        .expect("a second gateway on the same database");
    let gateways = [recurring(&app.state), recurring(&second.state)];

    let admin = app.sign_up("cron").await;
    let admin_id = app.user_id(&admin).await;
    let team = team(app, &admin).await;
    // Every half hour from 09:00 to 17:30 Berlin time (UTC+1 in January) on weekdays.
    let mut ids = Vec::new();
    for policy in ["FIRE_ONCE", "SKIP"] {
        let created = app
            .data(
                Some(&admin),
                CREATE,
                json!({ "input": { "teamId": team, "cron": "*/30 9-17 * * 1-5",
                    "timezone": "Europe/Berlin", "name": format!("report {policy}"),
                    "inputs": { "topic": "daily report" }, "missedPolicy": policy } }),
            )
            .await;
        let schedule = &created["createRunSchedule"]["runSchedule"];
        assert_eq!(schedule["status"], "ACTIVE");
        assert_eq!(schedule["missedPolicy"], policy);
        assert_eq!(schedule["runCount"], 0);
        // 08:58 UTC is 09:58 in Berlin: the next occurrence is 10:00 Berlin, 09:00 UTC.
        assert_eq!(schedule["nextRunAt"], iso(utc(9, 0, 0)));
        ids.push(schedule["id"].clone());
    }
    let (fire_once, skip) = (&ids[0], &ids[1]);

    assert_eq!(tick_everywhere(&gateways).await, 0, "nothing is due yet");

    // Each occurrence starts one run, though eight looks race for it from two gateways.
    app.clock.set(utc(9, 0, 5));
    assert_eq!(tick_everywhere(&gateways).await, 2);
    app.clock.set(utc(9, 30, 1));
    assert_eq!(tick_everywhere(&gateways).await, 2);
    assert_eq!(
        tick_everywhere(&gateways).await,
        0,
        "an occurrence fires once"
    );
    for id in [fire_once, skip] {
        let shown = show(app, &admin, id).await;
        assert_eq!(shown["runCount"], 2);
        assert_eq!(shown["runs"]["totalCount"], 2);
        assert_eq!(shown["lastRunAt"], iso(utc(9, 30, 0)));
        assert_eq!(shown["nextRunAt"], iso(utc(10, 0, 0)));
        for run in shown["runs"]["nodes"].as_array().expect("runs") {
            assert_eq!(run["schedule"]["id"], *id);
            assert_eq!(run["inputs"], json!({ "topic": "daily report" }));
            assert_eq!(
                run["triggeredBy"]["id"], admin_id,
                "runs start for the owner"
            );
        }
    }

    // Down from 09:31 to 12:10 UTC: 10:00 ... 12:00 were missed.
    app.clock.set(utc(12, 10, 0));
    assert_eq!(
        tick_everywhere(&gateways).await,
        1,
        "FIRE_ONCE fires one run, SKIP none"
    );
    let once = show(app, &admin, fire_once).await;
    assert_eq!(once["runCount"], 3);
    assert_eq!(
        once["lastRunAt"],
        iso(utc(12, 0, 0)),
        "the latest missed occurrence"
    );
    assert_eq!(once["nextRunAt"], iso(utc(12, 30, 0)));
    let skipped = show(app, &admin, skip).await;
    assert_eq!(skipped["runCount"], 2);
    assert_eq!(skipped["lastRunAt"], iso(utc(9, 30, 0)));
    assert_eq!(skipped["nextRunAt"], iso(utc(12, 30, 0)));

    // Paused, a schedule starts nothing; resumed, it waits for its next occurrence.
    let paused = change(app, &admin, "pauseRunSchedule", fire_once).await;
    assert_eq!(paused, json!({ "status": "PAUSED", "nextRunAt": null }));
    app.clock.set(utc(12, 30, 10));
    assert_eq!(
        tick_everywhere(&gateways).await,
        1,
        "only the active schedule fires"
    );
    app.clock.set(utc(12, 40, 0));
    let resumed = change(app, &admin, "resumeRunSchedule", fire_once).await;
    assert_eq!(
        resumed,
        json!({ "status": "ACTIVE", "nextRunAt": iso(utc(13, 0, 0)) })
    );
    assert_eq!(show(app, &admin, fire_once).await["runCount"], 3);

    // Changing the cron recomputes the next occurrence.
    let updated = app
        .data(
            Some(&admin),
            "mutation($input: UpdateRunScheduleInput!) { updateRunSchedule(input: $input) { \
             runSchedule { cron timezone nextRunAt } } }",
            json!({ "input": { "id": fire_once, "cron": "15 14 * * *", "timezone": "UTC" } }),
        )
        .await;
    assert_eq!(
        updated["updateRunSchedule"]["runSchedule"],
        json!({ "cron": "15 14 * * *", "timezone": "UTC", "nextRunAt": iso(utc(14, 15, 0)) })
    );

    // A schedule whose template is deleted is paused when it next comes due.
    let template = app
        .data(
            Some(&admin),
            "mutation { createTemplate(input: { name: \"Report\", phases: [\
               { code: \"report\", name: \"Report\", expertise: SENIOR, prompt: \"Report on {{topic}}\" }] }) \
               { template { id } } }",
            json!({}),
        )
        .await["createTemplate"]["template"]["id"]
        .clone();
    app.data(
        Some(&admin),
        "mutation($input: UpdateRunScheduleInput!) { updateRunSchedule(input: $input) { runSchedule { id } } }",
        json!({ "input": { "id": fire_once, "templateId": template } }),
    )
    .await;
    app.data(
        Some(&admin),
        "mutation($id: ID!) { deleteTemplate(input: { id: $id }) { deletedTemplateId } }",
        json!({ "id": template }),
    )
    .await;
    app.clock.set(utc(14, 15, 5));
    assert_eq!(tick_everywhere(&gateways).await, 0);
    let orphaned = show(app, &admin, fire_once).await;
    assert_eq!(orphaned["status"], "PAUSED");
    assert!(orphaned["nextRunAt"].is_null());
    assert_eq!(orphaned["lastError"], "template not found");
    assert_eq!(orphaned["runCount"], 3);

    // Every started run executes to the end.
    for id in [fire_once, skip] {
        for _ in 0..400 {
            let shown = show(app, &admin, id).await;
            let runs = shown["runs"]["nodes"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if runs.iter().all(|r| r["status"] == "COMPLETED") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let shown = show(app, &admin, id).await;
        assert!(
            shown["runs"]["nodes"]
                .as_array()
                .expect("runs")
                .iter()
                .all(|r| r["status"] == "COMPLETED"),
            "{shown:#}"
        );
    }

    // Deleting a schedule keeps its runs.
    let deleted = app
        .data(
            Some(&admin),
            "mutation($id: ID!) { deleteRunSchedule(input: { id: $id }) { deletedRunScheduleId } }",
            json!({ "id": skip }),
        )
        .await;
    assert_eq!(deleted["deleteRunSchedule"]["deletedRunScheduleId"], *skip);
    let body = app.gql(Some(&admin), SHOW, json!({ "id": skip })).await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let runs = app
        .data(
            Some(&admin),
            "query($id: ID!) { team(id: $id) { runs(first: 50) { totalCount nodes { schedule { id } } } } }",
            json!({ "id": team }),
        )
        .await;
    let runs = &runs["team"]["runs"];
    assert_eq!(runs["totalCount"], 6);
    let orphaned = runs["nodes"]
        .as_array()
        .expect("runs")
        .iter()
        .filter(|r| r["schedule"].is_null())
        .count();
    assert_eq!(orphaned, 3);

    let actions = app.audit_actions(&admin, "run_schedule").await;
    assert_eq!(
        actions,
        [
            "run_schedule.create",
            "run_schedule.create",
            "run_schedule.delete",
            "run_schedule.pause",
            "run_schedule.resume",
            "run_schedule.update",
            "run_schedule.update"
        ]
    );
    second.stop().await.expect("second gateway stops");
}

async fn the_background_look_fires_and_inputs_are_checked(app: &TestApp) {
    app.clock.set(utc(8, 59, 50));
    let admin = app.sign_up("tick").await;
    let org = app.organization_id(&admin).await;
    let viewer = app.add_user(org, "vic", OrgRole::Viewer).await;
    let team = team(app, &admin).await;

    for (input, field) in [
        (
            json!({ "teamId": team, "cron": "0 9 * *", "inputs": inputs() }),
            "cron",
        ),
        (
            json!({ "teamId": team, "cron": "0 25 * * *", "inputs": inputs() }),
            "cron",
        ),
        (
            json!({ "teamId": team, "cron": "0 9 30 2 *", "inputs": inputs() }),
            "cron",
        ),
        (
            json!({ "teamId": team, "cron": "0 9 * * *", "timezone": "Moon/Base", "inputs": inputs() }),
            "timezone",
        ),
        (
            json!({ "teamId": team, "cron": "0 9 * * *", "inputs": [1, 2] }),
            "inputs",
        ),
        (
            json!({ "teamId": team, "cron": "0 9 * * *", "inputs": {} }),
            "inputs",
        ),
    ] {
        let body = app
            .gql(Some(&admin), CREATE, json!({ "input": input }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{input}: {body:#}");
        assert_eq!(error_field(&body), field, "{body:#}");
    }
    let body = app
        .gql(
            Some(&admin),
            CREATE,
            json!({ "input": { "teamId": uuid::Uuid::now_v7().to_string(), "cron": "0 9 * * *", "inputs": inputs() } }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let body = app
        .gql(
            Some(&viewer),
            CREATE,
            json!({ "input": { "teamId": team, "cron": "0 9 * * *", "inputs": inputs() } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");

    let created = app
        .data(
            Some(&admin),
            CREATE,
            json!({ "input": { "teamId": team, "cron": "0 9 * * *", "inputs": inputs() } }),
        )
        .await;
    let schedule = &created["createRunSchedule"]["runSchedule"];
    assert_eq!(
        schedule["name"], "0 9 * * *",
        "named after its cron by default"
    );
    assert_eq!(schedule["timezone"], "UTC");
    assert_eq!(schedule["missedPolicy"], "FIRE_ONCE");
    let id = schedule["id"].clone();

    // The gateway's own look (every 20 ms here) fires the occurrence once it comes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(show(app, &admin, &id).await["runCount"], 0);
    app.clock.set(utc(9, 0, 0));
    for _ in 0..400 {
        let shown = show(app, &admin, &id).await;
        if shown["runs"]["nodes"][0]["status"] == "COMPLETED" {
            assert_eq!(shown["runCount"], 1);
            assert_eq!(shown["nextRunAt"], "2026-01-06T09:00:00+00:00");
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "the scheduled run did not complete: {:#}",
        show(app, &admin, &id).await
    );
}

macro_rules! clock_tests {
    ($($name:ident => $body:ident, $engine:expr;)+) => {
        $(
            mod $name {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let clock = Clock::manual(utc(0, 0, 0));
                    if let Some(app) = TestApp::spawn_with_clock(Backend::Sqlite, $engine, clock).await {
                        super::$body(&app).await;
                        app.finish().await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let clock = Clock::manual(utc(0, 0, 0));
                    if let Some(app) = TestApp::spawn_with_clock(Backend::Postgres, $engine, clock).await {
                        super::$body(&app).await;
                        app.finish().await;
                    }
                }
            }
        )+
    };
}

clock_tests! {
    fire_once_across_gateways => occurrences_fire_once_across_gateways, ticking_by_hand();
    background_look => the_background_look_fires_and_inputs_are_checked, EngineConfig {
        run_schedule_poll_ms: 20,
        ..test_engine()
    };
}
