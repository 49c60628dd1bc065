//! Projects: organizing teams and runs, validation, the plan's project quota, and what
//! deleting a project leaves behind.

mod common;

use common::{TestApp, error_code, error_field};
use gateway::auth::permissions::OrgRole;
use serde_json::{Value, json};

const CREATE: &str = "mutation($input: CreateProjectInput!) { createProject(input: $input) { \
    project { id name topic status priority metadata completedAt manager { id } createdBy { id } } } }";
const UPDATE: &str = "mutation($input: UpdateProjectInput!) { updateProject(input: $input) { \
    project { id status priority completedAt description } } }";

async fn create(app: &TestApp, token: &str, name: &str, extra: Value) -> Value {
    let mut input = json!({ "name": name, "topic": "Food delivery app" });
    if let (Some(i), Some(x)) = (input.as_object_mut(), extra.as_object()) {
        i.extend(x.clone());
    }
    app.gql(Some(token), CREATE, json!({ "input": input }))
        .await
}

async fn projects_organize_teams_and_runs(app: &TestApp) {
    let admin = app.sign_up("projects").await;
    let org = app.organization_id(&admin).await;
    let manager = app.add_user(org, "mona", OrgRole::Manager).await;
    let member = app.add_user(org, "max", OrgRole::Member).await;
    let mona = app.user_id(&manager).await;

    let body = create(app, &member, "Nope", json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = create(app, &manager, "  ", json!({})).await;
    assert_eq!(error_field(&body), "name");
    let body = create(
        app,
        &manager,
        "Launch",
        json!({ "priority": "HIGH", "managerId": mona,
                "metadata": { "estimated_duration": "3 months", "technologies": ["React"] } }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let launch = body["data"]["createProject"]["project"].clone();
    assert_eq!(launch["status"], "ACTIVE");
    assert_eq!(launch["priority"], "HIGH");
    assert_eq!(launch["manager"]["id"], mona);
    assert_eq!(launch["createdBy"]["id"], mona);
    assert_eq!(launch["metadata"]["technologies"], json!(["React"]));
    let body = create(app, &admin, "Launch", json!({})).await;
    assert_eq!(
        error_code(&body),
        "CONFLICT",
        "names are unique in the organization"
    );
    let body = create(app, &admin, "Bad", json!({ "metadata": [1, 2] })).await;
    assert_eq!(error_field(&body), "metadata");
    let research = create(app, &admin, "Research", json!({ "priority": "LOW" })).await;
    let research = research["data"]["createProject"]["project"]["id"].clone();

    // A team of the project; its runs belong to the project unless a run names another.
    let data = app
        .data(
            Some(&admin),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id project { name } } } }",
            json!({ "input": { "name": "Builders", "monthlyBudget": "100", "projectId": launch["id"],
                               "roles": [{ "title": "Engineer", "expertise": "SENIOR" }] } }),
        )
        .await;
    assert_eq!(data["createTeam"]["team"]["project"]["name"], "Launch");
    let team = data["createTeam"]["team"]["id"].clone();
    let start = "mutation($input: StartRunInput!) { startRun(input: $input) { run { id project { name } } } }";
    let first = app
        .data(
            Some(&admin),
            start,
            json!({ "input": { "teamId": team, "inputs": { "goal": 1 } } }),
        )
        .await;
    assert_eq!(first["startRun"]["run"]["project"]["name"], "Launch");
    let second = app
        .data(
            Some(&admin),
            start,
            json!({ "input": { "teamId": team, "projectId": research, "inputs": { "goal": 2 } } }),
        )
        .await;
    assert_eq!(second["startRun"]["run"]["project"]["name"], "Research");

    let list = "query($f: ProjectFilterInput) { projects(filter: $f) { totalCount \
                edges { node { name teams { id } runs(first: 10) { totalCount edges { node { id } } } } } } }";
    let all = app.data(Some(&member), list, json!({})).await;
    assert_eq!(all["projects"]["totalCount"], 2);
    let high = app
        .data(Some(&member), list, json!({ "f": { "priority": "HIGH" } }))
        .await;
    let node = &high["projects"]["edges"][0]["node"];
    assert_eq!(high["projects"]["totalCount"], 1);
    assert_eq!(node["teams"], json!([{ "id": team }]));
    assert_eq!(node["runs"]["totalCount"], 1);
    assert_eq!(
        node["runs"]["edges"][0]["node"]["id"],
        first["startRun"]["run"]["id"]
    );

    let done = app
        .data(
            Some(&manager),
            UPDATE,
            json!({ "input": { "id": launch["id"], "status": "COMPLETED", "description": "shipped" } }),
        )
        .await;
    assert!(done["updateProject"]["project"]["completedAt"].is_string());
    let completed = app
        .data(
            Some(&admin),
            list,
            json!({ "f": { "status": "COMPLETED" } }),
        )
        .await;
    assert_eq!(completed["projects"]["totalCount"], 1);
    let reopened = app
        .data(
            Some(&manager),
            UPDATE,
            json!({ "input": { "id": launch["id"], "status": "ACTIVE", "description": null } }),
        )
        .await;
    assert!(reopened["updateProject"]["project"]["completedAt"].is_null());
    assert!(reopened["updateProject"]["project"]["description"].is_null());

    // Deleting a project keeps its teams and runs, without the project.
    app.data(
        Some(&admin),
        "mutation($input: DeleteProjectInput!) { deleteProject(input: $input) { deletedProjectId } }",
        json!({ "input": { "id": launch["id"] } }),
    )
    .await;
    let after = app
        .data(
            Some(&admin),
            "query($t: ID!, $r: ID!) { team(id: $t) { project { id } } run(id: $r) { project { id } } }",
            json!({ "t": team, "r": first["startRun"]["run"]["id"] }),
        )
        .await;
    assert!(after["team"]["project"].is_null());
    assert!(after["run"]["project"].is_null());
    let body = app
        .gql(
            Some(&admin),
            "query($id: ID!) { project(id: $id) { id } }",
            json!({ "id": launch["id"] }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let audit = app
        .data(
            Some(&admin),
            "{ auditLogs(filter: { resourceType: \"project\", success: true }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        audit["auditLogs"]["totalCount"], 5,
        "2 creates, 2 updates, 1 delete"
    );
}

async fn the_plan_limits_projects(app: &TestApp) {
    let admin = app.sign_up("quota").await;
    for i in 0..3 {
        let body = create(app, &admin, &format!("P{i}"), json!({})).await;
        assert!(body.get("errors").is_none(), "{body:#}");
    }
    // Four at once with room for two on the free plan's 5: exactly two are created.
    let names: Vec<String> = (0..4).map(|i| format!("Q{i}")).collect();
    let bodies =
        futures_util::future::join_all(names.iter().map(|n| create(app, &admin, n, json!({}))))
            .await;
    let created = bodies.iter().filter(|b| b.get("errors").is_none()).count();
    assert_eq!(created, 2, "{bodies:#?}");
    for body in bodies.iter().filter(|b| b.get("errors").is_some()) {
        assert_eq!(error_code(body), "QUOTA_EXCEEDED");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("5 projects (projects)"),
            "{body:#}"
        );
    }
    app.data(
        Some(&admin),
        "mutation { updateOrganization(input: { plan: PRO }) { organization { maxProjects } } }",
        json!({}),
    )
    .await;
    let body = create(app, &admin, "P5", json!({})).await;
    assert!(body.get("errors").is_none(), "{body:#}");
}

backend_tests! {
    organize => projects_organize_teams_and_runs;
    quota => the_plan_limits_projects;
}
