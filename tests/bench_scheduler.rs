//! Auto-scheduler benchmark (ignored by `cargo test`; run on a release build):
//!
//! ```sh
//! cargo test --release --test bench_scheduler -- --ignored --nocapture --test-threads 1
//! ```
//!
//! One week, 1,000 work events and 100 employees with weekly shifts, weekend
//! availability for half of them, approved time off and closed days: the wall time
//! from `runAutoScheduler` to the run's completion, the run's own duration, and the
//! share of events assigned. Every proposal is then verified by the independent
//! checker. With `TEST_DATABASE_URL` set it also runs on PostgreSQL.

mod common;

use std::collections::HashMap;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, NaiveDate};
use common::roster::{self, Person};
use common::{Backend, TestApp};
use gateway::auth::permissions::OrgRole;
use serde_json::{Value, json};

const PEOPLE: usize = 100;
const EVENTS: usize = 1000;
const MAX_PER_DAY: usize = 3;

fn monday() -> NaiveDate {
    NaiveDate::from_ymd_opt(2030, 1, 7).expect("date")
}

fn instant(day: NaiveDate, hour: u32) -> String {
    day.and_hms_opt(hour, 0, 0)
        .expect("time")
        .and_utc()
        .to_rfc3339()
}

async fn setup(app: &TestApp) -> (String, Vec<Person>, HashMap<String, Value>) {
    let admin = app.sign_up("bench").await;
    app.data(
        Some(&admin),
        "mutation { updateOrganization(input: { plan: ENTERPRISE }) { organization { plan } } }",
        json!({}),
    )
    .await;
    let org = app.organization_id(&admin).await;
    let admin_id = app.user_id(&admin).await;
    app.data(
        Some(&admin),
        "mutation($u: ID!) { updateEmployee(input: { userId: $u, active: false }) { employee { id } } }",
        json!({ "u": admin_id }),
    )
    .await;
    let day = monday();
    let mut people = Vec::with_capacity(PEOPLE);
    for i in 0..PEOPLE {
        let token = app
            .add_user(org, &format!("e{i:03}"), OrgRole::Member)
            .await;
        let id = app.user_id(&token).await;
        let mut skills = Vec::new();
        if i % 3 == 0 {
            skills.push("demo".to_string());
        }
        if i % 4 == 0 {
            skills.push("forklift".to_string());
        }
        if i % 10 == 0 {
            skills.push("juicer".to_string());
        }
        app.data(
            Some(&admin),
            "mutation($u: ID!, $s: [String!]) { updateEmployee(input: { userId: $u, skills: $s }) { employee { id } } }",
            json!({ "u": id, "s": skills }),
        )
        .await;
        let shift = [(6, 14), (8, 16), (10, 18), (12, 20)][i % 4];
        let days: Vec<u32> = if i % 2 == 0 {
            (0..7).collect()
        } else {
            (0..5).collect()
        };
        let mut hours = HashMap::new();
        for weekday in days {
            app.data(
                Some(&admin),
                "mutation($input: AddAvailabilityRuleInput!) { addAvailabilityRule(input: $input) { availabilityRule { id } } }",
                json!({ "input": { "userId": id, "dayOfWeek": weekday, "startTime": format!("{:02}:00:00", shift.0),
                                   "endTime": format!("{:02}:00:00", shift.1), "effectiveFrom": "2029-12-01" } }),
            )
            .await;
            hours.insert(weekday, shift);
        }
        let mut off = Vec::new();
        if i % 10 == 5 {
            let wednesday = day + Duration::days(2);
            let data = app
                .data(
                    Some(&token),
                    "mutation($d: NaiveDate!) { requestTimeOff(input: { startDate: $d, endDate: $d }) { timeOffRequest { id } } }",
                    json!({ "d": wednesday }),
                )
                .await;
            app.data(
                Some(&admin),
                "mutation($id: ID!) { decideTimeOff(input: { id: $id, approve: true }) { timeOffRequest { id } } }",
                json!({ "id": data["requestTimeOff"]["timeOffRequest"]["id"] }),
            )
            .await;
            off.push(wednesday);
        }
        if i % 10 == 7 {
            let thursday = day + Duration::days(3);
            app.data(
                Some(&admin),
                "mutation($u: ID!, $d: NaiveDate!) { setAvailabilityOverride(input: { userId: $u, date: $d, available: false, reason: \"appointment\" }) { availabilityOverride { id } } }",
                json!({ "u": id, "d": thursday }),
            )
            .await;
            off.push(thursday);
        }
        people.push(Person {
            id,
            skills,
            hours,
            off,
        });
    }
    for d in 0..7 {
        let holder = &people[(d * 10) % PEOPLE].id;
        app.data(
            Some(&admin),
            "mutation($d: NaiveDate!, $u: ID!) { assignRotation(input: { date: $d, rotationType: JUICER, userId: $u }) { rotationAssignment { id } } }",
            json!({ "d": day + Duration::days(d as i64), "u": holder }),
        )
        .await;
    }
    let kinds = [
        ("DEMO", json!(["demo"])),
        ("SETUP", json!([])),
        ("CORE", json!(["forklift"])),
        ("OTHER", json!([])),
    ];
    let events: Vec<Value> = (0..EVENTS)
        .map(|k| {
            let date = day + Duration::days((k % 7) as i64);
            let (kind, skills) = if k < 7 {
                ("JUICER", json!(["juicer"]))
            } else {
                kinds[k % kinds.len()].clone()
            };
            let minutes = [60, 90, 120, 180, 240][k % 5];
            json!({
                "externalRef": format!("EV-{k:04}"), "name": format!("{kind} {k}"),
                "startAt": instant(date, 7), "dueAt": instant(date, 21),
                "estimatedMinutes": minutes,
                "eventType": kind, "requiredSkills": skills
            })
        })
        .collect();
    let imported = app
        .data(
            Some(&admin),
            "mutation($input: ImportWorkEventsInput!) { importWorkEvents(input: $input) { created \
             workEvents { id startAt dueAt estimatedMinutes eventType requiredSkills } } }",
            json!({ "input": { "events": events } }),
        )
        .await;
    assert_eq!(imported["importWorkEvents"]["created"], EVENTS);
    let by_id = imported["importWorkEvents"]["workEvents"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| (e["id"].as_str().unwrap_or_default().to_string(), e.clone()))
        .collect();
    (admin, people, by_id)
}

async fn week_of_events(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (admin, people, events) = setup(&app).await;
    let clock = Instant::now();
    let data = app
        .data(
            Some(&admin),
            "mutation($input: RunAutoSchedulerInput!) { runAutoScheduler(input: $input) { run { id } } }",
            json!({ "input": { "from": monday(), "to": monday() + Duration::days(6),
                               "settings": { "maxEventsPerEmployeePerDay": MAX_PER_DAY } } }),
        )
        .await;
    let run = data["runAutoScheduler"]["run"]["id"].clone();
    let report = loop {
        let data = app
            .data(
                Some(&admin),
                "query($id: ID!) { run(id: $id) { status durationMs schedulerReport { eventsProcessed eventsAssigned eventsFailed } } }",
                json!({ "id": run }),
            )
            .await;
        if data["run"]["status"] != "PENDING" && data["run"]["status"] != "RUNNING" {
            assert_eq!(data["run"]["status"], "COMPLETED", "{data:#}");
            break data["run"].clone();
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    };
    let wall = clock.elapsed();
    let proposals = app
        .data(
            Some(&admin),
            "query($id: ID!) { scheduleProposals(runId: $id) { workEventId scheduledAt endsAt confidence reason user { id } } }",
            json!({ "id": run }),
        )
        .await["scheduleProposals"]
        .as_array()
        .expect("proposals")
        .clone();
    roster::check(&people, &events, &proposals, &[], MAX_PER_DAY);
    let assigned = report["schedulerReport"]["eventsAssigned"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(assigned as usize, proposals.len());
    println!(
        "auto-scheduler {backend:?}: {EVENTS} events, {PEOPLE} employees, 7 days: wall {:.0} ms (run {} ms), \
         assigned {assigned} ({:.1}%), failed {}; every proposal verified",
        wall.as_secs_f64() * 1000.0,
        report["durationMs"],
        assigned as f64 * 100.0 / EVENTS as f64,
        report["schedulerReport"]["eventsFailed"],
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
async fn auto_scheduler_week_sqlite() {
    week_of_events(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
async fn auto_scheduler_week_postgres() {
    week_of_events(Backend::Postgres).await;
}
