//! Statement budgets: a nested query costs one SQL statement per level, whatever the
//! number of rows.

mod common;

use bigdecimal::BigDecimal;
use common::TestApp;
use gateway::db::{Decimal, Id, RawJson, Timestamp};
use gateway::runs::{Run, RunKind, RunStatus, RunStep, StepStatus};
use serde_json::json;

const NESTED: &str = "query($teams: Int!) {
  organization {
    name
    teams(first: $teams) {
      edges { node {
        name monthlyBudget currentSpend status
        owner { username }
        roles { title llmModel expertise }
        runs(first: 10) { edges { node {
          status cost tokensUsed
          steps { name tokensUsed cost role { title } }
        } } }
      } }
    }
  }
}";

/// Creates `teams` teams of 3 roles, each with 12 runs of 3 steps (runs seeded
/// directly: the run engine is not part of this path).
async fn seed(app: &TestApp, token: &str, teams: usize) {
    let org = app.organization_id(token).await;
    let create = "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id roles { id } } } }";
    let mut pooled = app.state.pool.get().await.expect("connection");
    for t in 0..teams {
        let roles: Vec<_> = ["Planner", "Writer", "Reviewer"]
            .iter()
            .map(|title| json!({ "title": title, "expertise": "SENIOR" }))
            .collect();
        let data = app
            .data(Some(token), create, json!({ "input": { "name": format!("Team {t:02}"), "monthlyBudget": "900", "roles": roles } }))
            .await;
        let team_id: Id = data["createTeam"]["team"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let role_ids: Vec<Id> = data["createTeam"]["team"]["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().parse().unwrap())
            .collect();
        for n in 0..12 {
            let created = Timestamp(chrono::Utc::now() - chrono::Duration::minutes(100 - n));
            let run = Run {
                id: Id::new(),
                organization_id: org,
                team_id: Some(team_id),
                triggered_by: None,
                kind: RunKind::Team,
                // Every fourth run failed: a filtered page skips the rest.
                status: if n % 4 == 3 {
                    RunStatus::Failed
                } else {
                    RunStatus::Completed
                },
                inputs: RawJson::new(&json!({ "prompt": format!("run {n}") })),
                execution_config: RawJson::new(&json!({})),
                estimated_cost: Decimal::zero(),
                result: Some(format!("result {n}")),
                error_message: None,
                total_steps: 3,
                completed_steps: 3,
                tokens_used: 300,
                cost: Decimal("0.0450".parse::<BigDecimal>().unwrap()),
                duration_ms: Some(1000),
                claimed_by: None,
                lease_expires_at: None,
                started_at: Some(created),
                completed_at: Some(created),
                created_at: created,
                updated_at: created,
                event_seq: 0,
                project_id: None,
                template_id: None,
                schedule_id: None,
            };
            gateway::runs::queries::insert_run(&mut pooled.conn(), &run)
                .await
                .expect("run inserted");
            let steps: Vec<RunStep> = role_ids
                .iter()
                .enumerate()
                .map(|(position, role_id)| RunStep {
                    id: Id::new(),
                    organization_id: org,
                    run_id: run.id,
                    role_id: Some(*role_id),
                    position: position as i32,
                    name: format!("step {position}"),
                    status: StepStatus::Completed,
                    input: None,
                    output: Some(RawJson::new(&json!({ "text": "done" }))),
                    prompt_tokens: 60,
                    completion_tokens: 40,
                    tokens_used: 100,
                    cost: Decimal("0.0150".parse::<BigDecimal>().unwrap()),
                    duration_ms: Some(300),
                    error_message: None,
                    started_at: Some(created),
                    completed_at: Some(created),
                    created_at: created,
                    updated_at: created,
                })
                .collect();
            gateway::runs::queries::insert_steps(&mut pooled.conn(), &steps)
                .await
                .expect("steps inserted");
        }
    }
}

/// Statements run by one nested query over `teams` teams, and its data.
async fn statements_for(app: &TestApp, token: &str, teams: usize) -> (u64, serde_json::Value) {
    let before = app.state.statements.get();
    let data = app
        .data(Some(token), NESTED, json!({ "teams": teams }))
        .await;
    (app.state.statements.get() - before, data)
}

async fn nested_query_costs_one_statement_per_level(app: &TestApp) {
    let small = app.sign_up("small").await;
    let large = app.sign_up("large").await;
    seed(app, &small, 5).await;
    // 25 teams are beyond the free plan's 10.
    app.data(
        Some(&large),
        "mutation { changePlan(input: { plan: ENTERPRISE }) { organization { plan } } }",
        json!({}),
    )
    .await;
    seed(app, &large, 25).await;

    let (small_count, small_data) = statements_for(app, &small, 5).await;
    let (large_count, large_data) = statements_for(app, &large, 25).await;

    let teams = large_data["organization"]["teams"]["edges"]
        .as_array()
        .unwrap();
    assert_eq!(teams.len(), 25);
    assert_eq!(
        small_data["organization"]["teams"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    for team in teams {
        let runs = team["node"]["runs"]["edges"].as_array().unwrap();
        assert_eq!(runs.len(), 10, "the 10 most recent runs of each team");
        assert_eq!(team["node"]["roles"].as_array().unwrap().len(), 3);
        assert_eq!(team["node"]["owner"]["username"], "large-admin");
        for run in runs {
            let steps = run["node"]["steps"].as_array().unwrap();
            assert_eq!(steps.len(), 3);
            assert_eq!(steps[2]["role"]["title"], "Reviewer");
            assert_eq!(steps[0]["cost"], "0.0150");
        }
        assert_eq!(runs[0]["node"]["cost"], "0.0450");
    }
    // Authentication, teams, owners, roles, runs, steps, step roles (the organization
    // is the one read at authentication).
    assert_eq!(
        small_count, large_count,
        "statement count must not grow with rows"
    );
    assert_eq!(large_count, 7, "one statement per level");
    // On PostgreSQL a warm session token costs no statement: only the six levels.
    if app.db.backend == common::Backend::Postgres {
        app.sessions_settled(&large).await;
        let warm = statements_for(app, &large, 25).await.0;
        assert_eq!(warm, 6, "a repeated request reads no session");
    }
}

async fn newest_runs_come_first_and_page(app: &TestApp) {
    let token = app.sign_up("acme").await;
    seed(app, &token, 2).await;
    // Both teams' windows come from one batched statement; each keeps its own order.
    let query = "{ teams(first: 2) { edges { node { runs(first: 5, after: \"b2Zmc2V0OjQ\") {
        totalCount pageInfo { hasNextPage hasPreviousPage } edges { node { inputs team { name } } } } } } } }";
    let data = app.data(Some(&token), query, json!({})).await;
    for (i, team) in ["Team 00", "Team 01"].iter().enumerate() {
        let runs = &data["teams"]["edges"][i]["node"]["runs"];
        assert_eq!(runs["totalCount"], 12);
        assert_eq!(runs["pageInfo"]["hasNextPage"], true);
        assert_eq!(runs["pageInfo"]["hasPreviousPage"], true);
        let edges = runs["edges"].as_array().unwrap();
        let prompts: Vec<&str> = edges
            .iter()
            .map(|e| e["node"]["inputs"]["prompt"].as_str().unwrap())
            .collect();
        assert_eq!(
            prompts,
            ["run 6", "run 5", "run 4", "run 3", "run 2"],
            "newest first, after the 5th"
        );
        assert!(
            edges.iter().all(|e| e["node"]["team"]["name"] == *team),
            "each team gets its own runs"
        );
    }

    let last =
        "{ teams(first: 1) { edges { node { runs(last: 2) { edges { node { inputs } } } } } } }";
    let data = app.data(Some(&token), last, json!({})).await;
    let prompts: Vec<&str> = data["teams"]["edges"][0]["node"]["runs"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["inputs"]["prompt"].as_str().unwrap())
        .collect();
    assert_eq!(prompts, ["run 1", "run 0"], "the oldest two");

    let failed = "{ teams(first: 2) { nodes { runs(first: 2, filter: { status: FAILED }) {
        totalCount nodes { status inputs team { name } } } } } }";
    let data = app.data(Some(&token), failed, json!({})).await;
    for (i, team) in ["Team 00", "Team 01"].iter().enumerate() {
        let runs = &data["teams"]["nodes"][i]["runs"];
        assert_eq!(runs["totalCount"], 3);
        let nodes = runs["nodes"].as_array().unwrap();
        let prompts: Vec<&str> = nodes
            .iter()
            .map(|r| r["inputs"]["prompt"].as_str().unwrap())
            .collect();
        assert_eq!(prompts, ["run 11", "run 7"], "the newest failed runs");
        assert!(
            nodes
                .iter()
                .all(|r| r["status"] == "FAILED" && r["team"]["name"] == *team),
            "{nodes:?}"
        );
    }
}

/// The teams, runs, steps and roles of a nested read resolve their fields without a
/// future each (`graphql::eager`); whatever the selection's shape, the answer is the
/// one GraphQL defines: fields in selection order, aliases, named and inline
/// fragments, skipped ones left out, `__typename`, a field selected twice merged.
async fn selection_shapes_answer_alike(app: &TestApp) {
    let token = app.sign_up("shapes").await;
    seed(app, &token, 2).await;
    let query = r#"query {
      teams(first: 2) { nodes {
        __typename
        ...TeamFields
        runs(first: 2) { nodes {
          ... on Run { total: tokensUsed }
          steps { name }
          steps { label: name cost role { __typename ...RoleFields } }
          ... { id }
          ... @skip(if: true) { result }
        } }
      } }
    }
    fragment TeamFields on Team { name budget: monthlyBudget }
    fragment RoleFields on Role { title }"#;
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("request is sent");
    let text = response.text().await.expect("body");
    assert!(
        text.contains(r#"{"__typename":"Team","name":"Team 00","budget":"900.00","runs":{"nodes":[{"total":300,"steps":[{"name":"step 0","label":"step 0","cost":"0.0150","role":{"__typename":"Role","title":"Planner"}},"#),
        "fields in selection order, the twice-selected `steps` merged: {text}"
    );
    let body: serde_json::Value = serde_json::from_str(&text).expect("JSON body");
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
    let teams = body["data"]["teams"]["nodes"].as_array().unwrap();
    assert_eq!(teams.len(), 2);
    assert_eq!(teams[1]["name"], "Team 01");
    for team in teams {
        let runs = team["runs"]["nodes"].as_array().unwrap();
        assert_eq!(runs.len(), 2);
        for run in runs {
            assert!(run["id"].as_str().is_some_and(|id| !id.is_empty()), "{run}");
            assert!(
                run.get("result").is_none(),
                "a skipped fragment is left out: {run}"
            );
            let steps = run["steps"].as_array().unwrap();
            let roles: Vec<&str> = steps
                .iter()
                .map(|s| s["role"]["title"].as_str().unwrap())
                .collect();
            assert_eq!(roles, ["Planner", "Writer", "Reviewer"]);
            assert!(
                steps
                    .iter()
                    .all(|s| s["name"] == s["label"] && s["cost"] == "0.0150")
            );
        }
    }
}

/// `Run.steps` reads only a listing's columns when its selection stays among the fields
/// they answer, and whole rows otherwise. Every field of a step, selected alone (also
/// through a fragment), answers what it answers beside a field only whole rows hold,
/// in as many statements: a field answered from columns the listing lacks would differ,
/// and one read again after the listing would cost a statement more.
async fn step_fields_answer_alike_from_either_read(app: &TestApp) {
    let token = app.sign_up("columns").await;
    seed(app, &token, 1).await;
    app.sessions_settled(&token).await;
    let fields = app
        .data(
            Some(&token),
            "{ __type(name: \"RunStep\") { fields { name args { name } type { kind ofType { kind ofType { kind } } } } } }",
            json!({}),
        )
        .await;
    let fields = fields["__type"]["fields"].as_array().unwrap();
    assert!(fields.len() >= 16, "the step's fields: {fields:?}");
    let read = async |steps: String| {
        let query = format!(
            "{{ teams(first: 1) {{ nodes {{ runs(first: 3) {{ nodes {{ steps {{ {steps} }} }} }} }} }} }}"
        );
        let before = app.state.statements.get();
        let data = app.data(Some(&token), &query, json!({})).await;
        let count = app.state.statements.get() - before;
        let steps: Vec<serde_json::Value> = data["teams"]["nodes"][0]["runs"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|run| run["steps"].as_array().unwrap().clone())
            .collect();
        assert_eq!(steps.len(), 9, "{data:#}");
        (count, steps)
    };
    for field in fields {
        assert!(field["args"].as_array().unwrap().is_empty(), "{field}");
        let name = field["name"].as_str().unwrap();
        let mut kind = &field["type"];
        while kind["kind"] == "NON_NULL" || kind["kind"] == "LIST" {
            kind = &kind["ofType"];
        }
        let selection = if kind["kind"] == "OBJECT" {
            format!("{name} {{ __typename id }}")
        } else {
            name.to_string()
        };
        let (whole_count, whole) = read(format!("id {selection} output")).await;
        assert!(
            whole.iter().all(|s| s["output"]["text"] == "done"),
            "{whole:?}"
        );
        for alone in [
            format!("id {selection}"),
            format!("id ... on RunStep {{ {selection} }}"),
        ] {
            let (count, steps) = read(alone.clone()).await;
            assert_eq!(count, whole_count, "`{alone}` reads the steps once");
            for (step, full) in steps.iter().zip(&whole) {
                assert_eq!(step["id"], full["id"]);
                assert_eq!(step[name], full[name], "`{alone}`");
            }
        }
    }
}

backend_tests! {
    statement_budget => nested_query_costs_one_statement_per_level;
    step_columns => step_fields_answer_alike_from_either_read;
    team_runs => newest_runs_come_first_and_page;
    selection_shapes => selection_shapes_answer_alike;
}
