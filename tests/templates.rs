//! Orchestration templates: phases planned as steps by the roles they name, prompts
//! filled from the run's inputs, results rolled up per phase, and public templates
//! shared across organizations.

mod common;

use std::time::Duration;

use common::{TestApp, error_code, error_field};
use gateway::auth::permissions::OrgRole;
use serde_json::{Value, json};

const CREATE: &str = "mutation($input: CreateTemplateInput!) { createTemplate(input: $input) { \
    template { id name version isPublic usageCount phases { code name roleTitle expertise } } } }";
const START: &str = "mutation($input: StartRunInput!) { startRun(input: $input) { run { id \
    template { name } steps { position name input role { title } } } } }";

fn phases() -> Value {
    json!([
        { "code": "ideation", "name": "Ideation", "roleTitle": "researcher",
          "prompt": "Brainstorm ideas for {{topic}} within {{weeks}} weeks" },
        { "code": "design", "name": "Design", "expertise": "SENIOR",
          "prompt": "Design the architecture for {{topic}}" },
        { "code": "review", "name": "Review", "roleTitle": "Reviewer",
          "prompt": "Review the plan" }
    ])
}

async fn team(app: &TestApp, token: &str, name: &str, roles: Value) -> Value {
    let data = app
        .data(
            Some(token),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }",
            json!({ "input": { "name": name, "monthlyBudget": "100", "roles": roles } }),
        )
        .await;
    data["createTeam"]["team"]["id"].clone()
}

fn full_team() -> Value {
    json!([
        { "title": "Researcher", "expertise": "JUNIOR" },
        { "title": "Architect", "expertise": "SENIOR" },
        { "title": "Reviewer", "expertise": "INTERMEDIATE" }
    ])
}

async fn wait_completed(app: &TestApp, token: &str, run: &Value) -> Value {
    for _ in 0..400 {
        let data = app
            .data(
                Some(token),
                "query($id: ID!) { run(id: $id) { status results } }",
                json!({ "id": run }),
            )
            .await;
        if data["run"]["status"] == "COMPLETED" {
            return data["run"].clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("run {run} did not complete");
}

async fn templates_plan_runs_by_phase(app: &TestApp) {
    let admin = app.sign_up("tmpl").await;
    let org = app.organization_id(&admin).await;
    let member = app.add_user(org, "mel", OrgRole::Member).await;
    let body = app
        .gql(
            Some(&member),
            CREATE,
            json!({ "input": { "name": "X", "phases": phases() } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app
        .gql(
            Some(&admin),
            CREATE,
            json!({ "input": { "name": "X", "phases": [] } }),
        )
        .await;
    assert_eq!(error_field(&body), "phases");
    let body = app
        .gql(
            Some(&admin),
            CREATE,
            json!({ "input": { "name": "X", "phases": [
                { "code": "a", "name": "A", "prompt": "p", "roleTitle": "R", "expertise": "SENIOR" }] } }),
        )
        .await;
    assert_eq!(error_field(&body), "phases.0.roleTitle");
    let body = app
        .gql(
            Some(&admin),
            CREATE,
            json!({ "input": { "name": "X", "phases": [
                { "code": "a", "name": "A", "prompt": "p", "expertise": "SENIOR" },
                { "code": "A", "name": "B", "prompt": "q", "expertise": "SENIOR" }] } }),
        )
        .await;
    assert_eq!(error_field(&body), "phases.1.code");

    let data = app
        .data(
            Some(&admin),
            CREATE,
            json!({ "input": { "name": "Product launch", "category": "product", "phases": phases() } }),
        )
        .await;
    let template = data["createTemplate"]["template"].clone();
    assert_eq!(template["version"], 1);
    assert_eq!(template["phases"][1]["expertise"], "SENIOR");
    let builders = team(app, &admin, "Builders", full_team()).await;

    let body = app
        .gql(
            Some(&admin),
            START,
            json!({ "input": { "teamId": builders, "templateId": template["id"], "inputs": { "topic": "x" } } }),
        )
        .await;
    assert_eq!(error_field(&body), "inputs");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`weeks`")
    );
    let partial = team(
        app,
        &admin,
        "Partial",
        json!([{ "title": "Researcher", "expertise": "SENIOR" }]),
    )
    .await;
    let body = app
        .gql(
            Some(&admin),
            START,
            json!({ "input": { "teamId": partial, "templateId": template["id"],
                               "inputs": { "topic": "x", "weeks": 2 } } }),
        )
        .await;
    assert_eq!(error_field(&body), "templateId");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("phase `review`"),
        "{body:#}"
    );

    let data = app
        .data(
            Some(&admin),
            START,
            json!({ "input": { "teamId": builders, "templateId": template["id"],
                               "inputs": { "topic": "food delivery", "weeks": 12 } } }),
        )
        .await;
    let run = &data["startRun"]["run"];
    assert_eq!(run["template"]["name"], "Product launch");
    let steps = run["steps"].as_array().expect("steps");
    let names: Vec<_> = steps
        .iter()
        .map(|s| (s["name"].clone(), s["role"]["title"].clone()))
        .collect();
    assert_eq!(
        names,
        vec![
            (json!("Ideation"), json!("Researcher")),
            (json!("Design"), json!("Architect")),
            (json!("Review"), json!("Reviewer")),
        ],
        "one step per phase, by the role it names"
    );
    assert_eq!(
        steps[0]["input"]["task"],
        "Brainstorm ideas for food delivery within 12 weeks"
    );
    let done = wait_completed(app, &admin, &run["id"]).await;
    let results = &done["results"];
    assert_eq!(results["metadata"]["total_phases"], 3);
    assert_eq!(results["metadata"]["successful_phases"], 3);
    assert_eq!(results["metadata"]["success_rate"], "100.0%");
    assert_eq!(results["phases"]["design"]["phase"], "Design");
    assert_eq!(results["phases"]["design"]["status"], "completed");
    assert!(
        results["phases"]["review"]["response"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    assert!(results["phases"]["ideation"]["execution_time_ms"].is_number());

    let updated = app
        .data(
            Some(&admin),
            "mutation($input: UpdateTemplateInput!) { updateTemplate(input: $input) { template { version usageCount } } }",
            json!({ "input": { "id": template["id"], "phases": [
                { "code": "only", "name": "Only", "prompt": "Do {{topic}}", "expertise": "JUNIOR" }] } }),
        )
        .await;
    assert_eq!(updated["updateTemplate"]["template"]["version"], 2);
    assert_eq!(updated["updateTemplate"]["template"]["usageCount"], 1);
}

async fn public_templates_are_shared(app: &TestApp) {
    let author = app.sign_up("author").await;
    let other = app.sign_up("other").await;
    let shared = app
        .data(
            Some(&author),
            CREATE,
            json!({ "input": { "name": "Shared", "phases": phases(), "isPublic": true } }),
        )
        .await["createTemplate"]["template"]["id"]
        .clone();
    let private = app
        .data(
            Some(&author),
            CREATE,
            json!({ "input": { "name": "Private", "phases": phases() } }),
        )
        .await["createTemplate"]["template"]["id"]
        .clone();
    let listed = app
        .data(
            Some(&other),
            "{ templates { totalCount edges { node { id name isPublic isOwn createdBy { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["templates"]["totalCount"], 1,
        "only the public one: {listed:#}"
    );
    let node = &listed["templates"]["edges"][0]["node"];
    assert_eq!(node["id"], shared);
    assert_eq!(node["isOwn"], false);
    assert!(
        node["createdBy"].is_null(),
        "another organization's author stays hidden"
    );
    let own_only = app
        .data(
            Some(&other),
            "{ templates(filter: { includePublic: false }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(own_only["templates"]["totalCount"], 0);
    let body = app
        .gql(
            Some(&other),
            "query($id: ID!) { template(id: $id) { id } }",
            json!({ "id": private }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let body = app
        .gql(
            Some(&other),
            "mutation($input: UpdateTemplateInput!) { updateTemplate(input: $input) { template { id } } }",
            json!({ "input": { "id": shared, "name": "Mine now" } }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "only the owner changes it");

    let builders = team(app, &other, "Builders", full_team()).await;
    let data = app
        .data(
            Some(&other),
            START,
            json!({ "input": { "teamId": builders, "templateId": shared,
                               "inputs": { "topic": "shared", "weeks": 1 } } }),
        )
        .await;
    assert_eq!(
        data["startRun"]["run"]["steps"].as_array().map(Vec::len),
        Some(3)
    );
    let body = app
        .gql(
            Some(&other),
            START,
            json!({ "input": { "teamId": builders, "templateId": private,
                               "inputs": { "topic": "x", "weeks": 1 } } }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let usage = app
        .data(
            Some(&author),
            "query($id: ID!) { template(id: $id) { usageCount isOwn } }",
            json!({ "id": shared }),
        )
        .await;
    assert_eq!(usage["template"]["usageCount"], 1);
    assert_eq!(usage["template"]["isOwn"], true);
}

backend_tests! {
    by_phase => templates_plan_runs_by_phase;
    public => public_templates_are_shared;
}
