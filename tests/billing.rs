//! Billing: the usage ledger reconciling with run costs to the cent, plan limits
//! enforced where work starts (teams, runs and tokens a month), plan changes, and
//! subscriptions renewing and expiring on a manual clock.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bigdecimal::BigDecimal;
use chrono::{Datelike, TimeZone, Utc};
use common::{Backend, TestApp, error_code, test_engine};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use gateway::auth::permissions::OrgRole;
use gateway::clock::Clock;
use gateway::db::Json;
use gateway::db::schema::plans;
use gateway::engine::EngineConfig;
use gateway::engine::recurring::Recurring;
use serde_json::{Value, json};

const CREATE_TEAM: &str =
    "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }";

const START_RUN: &str =
    "mutation($input: StartRunInput!) { startRun(input: $input) { run { id } } }";

const RUN: &str = "query($id: ID!) { run(id: $id) { status cost tokensUsed completedSteps \
    team { id } } }";

const USAGE: &str = "query($from: DateTime!, $to: DateTime!, $by: UsageGroupBy!) { \
    usage(from: $from, to: $to, groupBy: $by) { tokens agentRuns totalCost \
    groups { key tokens agentRuns totalCost records team { id name } } } }";

const CHANGE_PLAN: &str = "mutation($input: ChangePlanInput!) { changePlan(input: $input) { \
    organization { plan maxUsers maxProjects apiQuotaLimit } \
    subscription { id status billingCycle currentPeriodStart currentPeriodEnd plan { planType } } } }";

const SUBSCRIPTION: &str = "{ organization { plan maxUsers subscription { status billingCycle \
    currentPeriodStart currentPeriodEnd cancelledAt externalCustomerId plan { planType name } } } }";

fn dec(value: &Value) -> BigDecimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a decimal string: {value}"))
        .parse()
        .expect("decimal")
}

async fn create_team(app: &TestApp, token: &str, name: &str, model: &str) -> Value {
    app.gql(
        Some(token),
        CREATE_TEAM,
        json!({ "input": { "name": name, "monthlyBudget": "500.00", "roles": [
            { "title": "Researcher", "expertise": "SENIOR", "llmModel": model, "description": "Research the market" },
            { "title": "Writer", "expertise": "EXPERT", "llmModel": model }
        ] } }),
    )
    .await
}

async fn team(app: &TestApp, token: &str, name: &str, model: &str) -> String {
    let body = create_team(app, token, name, model).await;
    body["data"]["createTeam"]["team"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("team not created: {body:#}"))
        .to_string()
}

async fn start_run(app: &TestApp, token: &str, team_id: &str) -> Value {
    app.gql(
        Some(token),
        START_RUN,
        json!({ "input": { "teamId": team_id, "inputs": { "topic": "pricing" } } }),
    )
    .await
}

fn run_id(body: &Value) -> String {
    body["data"]["startRun"]["run"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("run not started: {body:#}"))
        .to_string()
}

/// Polls a run until it has ended (at most 30 s).
async fn finished(app: &TestApp, token: &str, id: &str) -> Value {
    for _ in 0..600 {
        let run = app.data(Some(token), RUN, json!({ "id": id })).await["run"].clone();
        if run["status"] != "PENDING" && run["status"] != "RUNNING" {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {id} did not finish");
}

fn window() -> Value {
    let now = Utc::now();
    json!({
        "from": (now - chrono::Duration::days(1)).to_rfc3339(),
        "to": (now + chrono::Duration::days(1)).to_rfc3339(),
    })
}

async fn usage(app: &TestApp, token: &str, by: &str) -> Value {
    let mut vars = window();
    vars["by"] = json!(by);
    app.data(Some(token), USAGE, vars).await["usage"].clone()
}

fn group<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .and_then(|groups| groups.iter().find(|g| g["key"] == key))
        .unwrap_or_else(|| panic!("no group {key} in {report:#}"))
}

async fn set_plan_limits(app: &TestApp, plan: &str, limits: Value) {
    let mut pooled = app.state.pool.get().await.expect("connection");
    gateway::dispatch!(&mut pooled.conn(), |c| diesel::update(
        plans::table.filter(plans::plan_type.eq(plan))
    )
    .set(plans::limits.eq(Json(limits.clone())))
    .execute(c)
    .await)
    .expect("plan limits set");
}

async fn usage_reconciles_with_run_costs(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let other = app.sign_up("globex").await;
    let teams = [
        (team(app, &admin, "Research", "gpt-4").await, "gpt-4"),
        (
            team(app, &admin, "Support", "claude-3-haiku").await,
            "claude-3-haiku",
        ),
    ];
    // Twelve runs at once, six per team, all committing steps concurrently.
    let starts = (0..12).map(|i| start_run(app, &admin, &teams[i % 2].0));
    let ids: Vec<String> = futures_util::future::join_all(starts)
        .await
        .iter()
        .map(run_id)
        .collect();
    let mut cost_by_team: HashMap<String, BigDecimal> = HashMap::new();
    let (mut cost, mut tokens, mut steps) = (BigDecimal::from(0), 0, 0);
    for id in &ids {
        let run = finished(app, &admin, id).await;
        assert_eq!(run["status"], "COMPLETED", "{run:#}");
        let team_id = run["team"]["id"].as_str().expect("team").to_string();
        *cost_by_team.entry(team_id.clone()).or_default() += dec(&run["cost"]);
        cost += dec(&run["cost"]);
        tokens += run["tokensUsed"].as_i64().expect("tokens");
        steps += run["completedSteps"].as_i64().expect("steps");
    }
    assert!(cost > 0, "the runs cost something");
    assert_eq!(steps, 24);

    let by_unit = usage(app, &admin, "UNIT").await;
    assert_eq!(dec(&by_unit["totalCost"]), cost, "{by_unit:#}");
    assert_eq!(by_unit["tokens"], tokens);
    assert_eq!(by_unit["agentRuns"], steps);
    let token_line = group(&by_unit, "token");
    assert_eq!(dec(&token_line["totalCost"]), cost);
    assert_eq!(token_line["tokens"], tokens);
    assert_eq!(token_line["records"], steps, "one token line per step");
    let agent_line = group(&by_unit, "agent_run");
    assert_eq!(agent_line["agentRuns"], steps);
    assert_eq!(dec(&agent_line["totalCost"]), BigDecimal::from(0));

    let by_team = usage(app, &admin, "TEAM").await;
    assert_eq!(by_team["groups"].as_array().map(Vec::len), Some(2));
    for (team_id, team_cost) in &cost_by_team {
        let line = group(&by_team, team_id);
        assert_eq!(&dec(&line["totalCost"]), team_cost, "{by_team:#}");
        assert_eq!(line["team"]["id"], team_id.as_str());
        assert_eq!(line["agentRuns"], 12, "six runs of two steps");
    }

    let by_model = usage(app, &admin, "MODEL").await;
    let expensive = group(&by_model, teams[0].1);
    let cheap = group(&by_model, teams[1].1);
    assert_eq!(&dec(&expensive["totalCost"]), &cost_by_team[&teams[0].0]);
    assert_eq!(&dec(&cheap["totalCost"]), &cost_by_team[&teams[1].0]);
    assert!(
        dec(&expensive["totalCost"]) > dec(&cheap["totalCost"]),
        "gpt-4 costs more than claude-3-haiku"
    );

    let by_day = usage(app, &admin, "DAY").await;
    let today = Utc::now().format("%Y-%m-%d").to_string();
    let days = by_day["groups"].as_array().expect("groups");
    let summed: BigDecimal = days.iter().map(|d| dec(&d["totalCost"])).sum();
    assert_eq!(summed, cost);
    assert!(
        days.iter().any(|d| d["key"] == today.as_str()),
        "{by_day:#}"
    );

    // Another organization's ledger is its own; a range elsewhere is empty.
    let theirs = usage(app, &other, "UNIT").await;
    assert_eq!(theirs["groups"], json!([]));
    assert_eq!(dec(&theirs["totalCost"]), BigDecimal::from(0));
    let long_ago = app
        .data(
            Some(&admin),
            USAGE,
            json!({ "from": "2020-01-01T00:00:00Z", "to": "2020-02-01T00:00:00Z", "by": "UNIT" }),
        )
        .await;
    assert_eq!(long_ago["usage"]["tokens"], 0);

    // Members may not read billing; ranges are bounded.
    let org = app.organization_id(&admin).await;
    let member = app.add_user(org, "mia", OrgRole::Member).await;
    let mut vars = window();
    vars["by"] = json!("UNIT");
    let refused = app.gql(Some(&member), USAGE, vars).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    let backwards = app
        .gql(
            Some(&admin),
            USAGE,
            json!({ "from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "by": "DAY" }),
        )
        .await;
    assert_eq!(error_code(&backwards), "BAD_USER_INPUT");
}

async fn plan_limits_are_enforced_where_work_starts(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    set_plan_limits(
        app,
        "free",
        json!({ "users": 10, "projects": 5, "teams": 2, "apiRequestsPerMonth": 1000,
                "runsPerMonth": 3, "tokensPerMonth": null }),
    )
    .await;
    let first = team(app, &admin, "One", "gpt-4").await;
    team(app, &admin, "Two", "gpt-4").await;
    let third = create_team(app, &admin, "Three", "gpt-4").await;
    assert_eq!(error_code(&third), "QUOTA_EXCEEDED", "{third:#}");
    assert_eq!(third["errors"][0]["extensions"]["limit"], "teams");

    let started = run_id(&start_run(app, &admin, &first).await);
    // Four starts at once with room for two: exactly two are taken.
    let racing =
        futures_util::future::join_all((0..4).map(|_| start_run(app, &admin, &first))).await;
    let refused: Vec<&Value> = racing
        .iter()
        .filter(|body| body.get("errors").is_some())
        .collect();
    assert_eq!(refused.len(), 2, "{racing:#?}");
    let now = Utc::now();
    let next_month = if now.month() == 12 {
        Utc.with_ymd_and_hms(now.year() + 1, 1, 1, 0, 0, 0)
    } else {
        Utc.with_ymd_and_hms(now.year(), now.month() + 1, 1, 0, 0, 0)
    }
    .unwrap();
    for body in &refused {
        assert_eq!(error_code(body), "QUOTA_EXCEEDED");
        let ext = &body["errors"][0]["extensions"];
        assert_eq!(ext["limit"], "runsPerMonth");
        assert_eq!(ext["resetsAt"], next_month.to_rfc3339());
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("3 runs a month"), "{message}");
    }
    let quotas = app
        .data(
            Some(&admin),
            "{ organization { quotas { limit used allowed resetsAt } } }",
            json!({}),
        )
        .await;
    let quotas = quotas["organization"]["quotas"]
        .as_array()
        .expect("quotas")
        .clone();
    let quota = |name: &str| {
        quotas
            .iter()
            .find(|q| q["limit"] == name)
            .unwrap_or_else(|| panic!("no quota {name}"))
            .clone()
    };
    assert_eq!(quota("runsPerMonth")["used"], 3);
    assert_eq!(quota("runsPerMonth")["allowed"], 3);
    assert_eq!(quota("teams")["used"], 2);
    assert_eq!(quota("tokensPerMonth")["allowed"], Value::Null);

    // Another plan lifts the limits at once.
    let changed = app
        .data(
            Some(&admin),
            CHANGE_PLAN,
            json!({ "input": { "plan": "PRO", "billingCycle": "YEARLY" } }),
        )
        .await["changePlan"]
        .clone();
    assert_eq!(changed["organization"]["plan"], "PRO");
    assert_eq!(changed["organization"]["maxUsers"], 50);
    assert_eq!(changed["organization"]["apiQuotaLimit"], 100000);
    let subscription = &changed["subscription"];
    assert_eq!(subscription["plan"]["planType"], "PRO");
    assert_eq!(subscription["status"], "ACTIVE");
    assert_eq!(subscription["billingCycle"], "YEARLY");
    let start = chrono::DateTime::parse_from_rfc3339(
        subscription["currentPeriodStart"].as_str().expect("start"),
    )
    .expect("start");
    let end = chrono::DateTime::parse_from_rfc3339(
        subscription["currentPeriodEnd"].as_str().expect("end"),
    )
    .expect("end");
    assert!((365..=366).contains(&(end - start).num_days()));
    let fourth = run_id(&start_run(app, &admin, &first).await);
    finished(app, &admin, &started).await;
    finished(app, &admin, &fourth).await;
    assert!(
        team(app, &admin, "Three", "gpt-4").await.len() > 10,
        "the pro plan allows a third team"
    );

    // Once the month's tokens reach the plan's, no run starts.
    set_plan_limits(app, "pro", json!({ "tokensPerMonth": 100 })).await;
    let over = start_run(app, &admin, &first).await;
    assert_eq!(error_code(&over), "QUOTA_EXCEEDED", "{over:#}");
    assert_eq!(over["errors"][0]["extensions"]["limit"], "tokensPerMonth");

    // Plan changes need organization.manage and are audited.
    let org = app.organization_id(&admin).await;
    let manager = app.add_user(org, "max", OrgRole::Manager).await;
    let denied = app
        .gql(
            Some(&manager),
            CHANGE_PLAN,
            json!({ "input": { "plan": "ENTERPRISE" } }),
        )
        .await;
    assert_eq!(error_code(&denied), "FORBIDDEN");
    let actions = app.audit_actions(&admin, "subscription").await;
    assert!(
        actions.contains(&"subscription.change_plan".to_string()),
        "{actions:?}"
    );
}

fn by_hand() -> EngineConfig {
    EngineConfig {
        run_schedule_poll_ms: 0,
        ..test_engine()
    }
}

async fn subscriptions_renew_and_expire(backend: Backend) {
    let clock = Clock::manual(Utc::now());
    let Some(app) = TestApp::spawn_with_clock(backend, by_hand(), clock.clone()).await else {
        return;
    };
    let admin = app.sign_up("acme").await;
    let look = Recurring {
        pool: app.state.pool.clone(),
        bus: app.state.bus.clone(),
        control: app.state.runs.clone(),
        clock: clock.clone(),
        grace: chrono::Duration::seconds(60),
    };
    let signed_up = app.data(Some(&admin), SUBSCRIPTION, json!({})).await;
    let first = &signed_up["organization"]["subscription"];
    assert_eq!(first["status"], "ACTIVE", "{signed_up:#}");
    assert_eq!(first["plan"]["planType"], "FREE");
    assert_eq!(first["billingCycle"], "MONTHLY");

    let changed = app
        .data(
            Some(&admin),
            CHANGE_PLAN,
            json!({ "input": { "plan": "PRO" } }),
        )
        .await;
    let end = changed["changePlan"]["subscription"]["currentPeriodEnd"]
        .as_str()
        .expect("end")
        .to_string();
    let details = app
        .data(
            Some(&admin),
            "mutation($input: UpdateSubscriptionInput!) { updateSubscription(input: $input) { \
             subscription { billingCycle externalCustomerId externalSubscriptionId currentPeriodEnd } } }",
            json!({ "input": { "billingCycle": "YEARLY", "externalCustomerId": "cus_123",
                               "externalSubscriptionId": "sub_456" } }),
        )
        .await;
    let updated = &details["updateSubscription"]["subscription"];
    assert_eq!(updated["externalCustomerId"], "cus_123");
    assert_eq!(
        updated["currentPeriodEnd"],
        end.as_str(),
        "the cycle changes at renewal"
    );

    // Forty days on, the period has renewed for a year from where the last one ended.
    clock.advance(chrono::Duration::days(40));
    look.tick().await.expect("look");
    let renewed = app.data(Some(&admin), SUBSCRIPTION, json!({})).await;
    let renewed = &renewed["organization"]["subscription"];
    assert_eq!(renewed["status"], "ACTIVE");
    assert_eq!(renewed["currentPeriodStart"], end.as_str(), "{renewed:#}");
    let old_end = chrono::DateTime::parse_from_rfc3339(&end).expect("end");
    let new_end =
        chrono::DateTime::parse_from_rfc3339(renewed["currentPeriodEnd"].as_str().expect("end"))
            .expect("end");
    assert!((365..=366).contains(&(new_end - old_end).num_days()));

    // Cancelled, the plan holds to the period's end, then the organization is free.
    let cancel =
        "mutation { cancelSubscription { subscription { status cancelledAt currentPeriodEnd } } }";
    let cancelled = app.data(Some(&admin), cancel, json!({})).await;
    assert_eq!(
        cancelled["cancelSubscription"]["subscription"]["status"],
        "CANCELLED"
    );
    let again = app.gql(Some(&admin), cancel, json!({})).await;
    assert_eq!(error_code(&again), "CONFLICT");
    look.tick().await.expect("look");
    let still = app.data(Some(&admin), SUBSCRIPTION, json!({})).await;
    assert_eq!(
        still["organization"]["plan"], "PRO",
        "in force until the period ends"
    );
    clock.advance(chrono::Duration::days(400));
    look.tick().await.expect("look");
    let expired = app.data(Some(&admin), SUBSCRIPTION, json!({})).await;
    assert_eq!(expired["organization"]["plan"], "FREE", "{expired:#}");
    assert_eq!(expired["organization"]["maxUsers"], 10);
    assert_eq!(expired["organization"]["subscription"]["status"], "EXPIRED");
    assert_eq!(
        expired["organization"]["subscription"]["plan"]["planType"],
        "FREE"
    );

    let actions = app.audit_actions(&admin, "subscription").await;
    for action in [
        "subscription.change_plan",
        "subscription.update",
        "subscription.cancel",
    ] {
        assert!(
            actions.contains(&action.to_string()),
            "{action} in {actions:?}"
        );
    }
    let plans = app
        .data(
            Some(&admin),
            "{ plans { planType priceMonthly priceYearly currency limits { runsPerMonth teams } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        plans["plans"],
        json!([
            { "planType": "FREE", "priceMonthly": "0.00", "priceYearly": "0.00", "currency": "USD",
              "limits": { "runsPerMonth": 200, "teams": 10 } },
            { "planType": "PRO", "priceMonthly": "49.00", "priceYearly": "490.00", "currency": "USD",
              "limits": { "runsPerMonth": 10000, "teams": 100 } },
            { "planType": "ENTERPRISE", "priceMonthly": "499.00", "priceYearly": "4990.00", "currency": "USD",
              "limits": { "runsPerMonth": null, "teams": null } },
        ])
    );
    app.finish().await;
}

backend_tests! {
    reconcile => usage_reconciles_with_run_costs;
    limits => plan_limits_are_enforced_where_work_starts;
}

mod renewal {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::subscriptions_renew_and_expire(super::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::subscriptions_renew_and_expire(super::Backend::Postgres).await;
    }
}
