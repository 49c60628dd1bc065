//! The audit trail: one row per change with its old and new values, refused and failed
//! attempts recorded with `success: false`, read through `auditLogs` and streamed by
//! `auditLogAdded`.

mod common;

use common::ws::{connect, next, send};
use common::{TestApp, error_code};
use gateway::auth::permissions::OrgRole;
use serde_json::{Value, json};

const LOGS: &str = "query($filter: AuditLogFilterInput) { auditLogs(filter: $filter, first: 50) { \
    totalCount nodes { action resourceType resourceId success actorUserId actor { username } \
    oldValues newValues details requestId createdAt } } }";

async fn logs(app: &TestApp, token: &str, filter: Value) -> Vec<Value> {
    let data = app
        .data(Some(token), LOGS, json!({ "filter": filter }))
        .await;
    data["auditLogs"]["nodes"].as_array().unwrap().clone()
}

const CREATE_TEAM: &str =
    "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }";

async fn changes_leave_one_row_each(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let data = app
        .data(
            Some(&admin),
            CREATE_TEAM,
            json!({ "input": { "name": "Ops", "monthlyBudget": "100",
            "roles": [{ "title": "Lead", "expertise": "SENIOR" }] } }),
        )
        .await;
    let team = data["createTeam"]["team"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.data(
        Some(&admin),
        "mutation($input: UpdateTeamInput!) { updateTeam(input: $input) { team { id } } }",
        json!({ "input": { "id": team, "name": "Operations", "monthlyBudget": "250.50" } }),
    )
    .await;
    app.data(
        Some(&admin),
        "mutation($input: DeleteTeamInput!) { deleteTeam(input: $input) { deletedTeamId } }",
        json!({ "input": { "id": team } }),
    )
    .await;

    let rows = logs(
        app,
        &admin,
        json!({ "resourceType": "team", "resourceId": team }),
    )
    .await;
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["team.delete", "team.update", "team.create"],
        "newest first, one each"
    );
    let (delete, update, create) = (&rows[0], &rows[1], &rows[2]);
    assert_eq!(create["newValues"]["name"], "Ops");
    assert_eq!(create["newValues"]["roles"][0]["title"], "Lead");
    assert!(create["oldValues"].is_null());
    assert_eq!(update["oldValues"]["name"], "Ops");
    assert_eq!(update["newValues"]["name"], "Operations");
    assert_eq!(update["newValues"]["monthly_budget"], "250.50");
    assert_eq!(delete["oldValues"]["name"], "Operations");
    for row in &rows {
        assert_eq!(row["success"], true);
        assert_eq!(row["actor"]["username"], "acme-admin");
        assert!(row["requestId"].as_str().is_some_and(|id| !id.is_empty()));
    }
    // Roles: one row per change, with the role's values.
    let data = app
        .data(
            Some(&admin),
            CREATE_TEAM,
            json!({ "input": { "name": "Research", "monthlyBudget": "100",
            "roles": [{ "title": "Lead", "expertise": "SENIOR" }] } }),
        )
        .await;
    let research = data["createTeam"]["team"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let added = app
        .data(
            Some(&admin),
            "mutation($input: AddRoleInput!) { addRole(input: $input) { role { id } } }",
            json!({ "input": { "teamId": research, "role": { "title": "Analyst", "expertise": "JUNIOR" } } }),
        )
        .await;
    let role = added["addRole"]["role"]["id"].as_str().unwrap().to_string();
    app.data(
        Some(&admin),
        "mutation($input: UpdateRoleInput!) { updateRole(input: $input) { role { id } } }",
        json!({ "input": { "id": role, "title": "Senior Analyst", "expertise": "SENIOR" } }),
    )
    .await;
    app.data(
        Some(&admin),
        "mutation($input: RemoveRoleInput!) { removeRole(input: $input) { removedRoleId } }",
        json!({ "input": { "id": role } }),
    )
    .await;
    let rows = logs(
        app,
        &admin,
        json!({ "resourceType": "role", "resourceId": role }),
    )
    .await;
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["role.delete", "role.update", "role.create"]);
    assert_eq!(rows[2]["newValues"]["title"], "Analyst");
    assert_eq!(rows[1]["oldValues"]["title"], "Analyst");
    assert_eq!(rows[1]["newValues"]["title"], "Senior Analyst");
    assert_eq!(rows[1]["newValues"]["expertise"], "senior");
    assert_eq!(rows[0]["oldValues"]["title"], "Senior Analyst");

    // The sign-up is on record too, and nothing in the trail holds a password hash.
    let everything = logs(app, &admin, json!({})).await;
    assert!(
        everything
            .iter()
            .any(|r| r["action"] == "organization.sign_up")
    );
    assert!(
        !serde_json::to_string(&everything)
            .unwrap()
            .contains("argon2")
    );
}

async fn refusals_and_failures_are_recorded(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let org = app.organization_id(&admin).await;
    let viewer = app.add_user(org, "vera", OrgRole::Viewer).await;
    let member = app.add_user(org, "max", OrgRole::Member).await;
    let data = app
        .data(
            Some(&admin),
            CREATE_TEAM,
            json!({ "input": { "name": "Ops", "monthlyBudget": "100" } }),
        )
        .await;
    let team = data["createTeam"]["team"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // A viewer cannot change anything; a member cannot do what only a manager may.
    let body = app
        .gql(
            Some(&viewer),
            CREATE_TEAM,
            json!({ "input": { "name": "Mine", "monthlyBudget": "10" } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app
        .gql(
            Some(&member),
            "mutation($input: UpdateTeamInput!) { updateTeam(input: $input) { team { id } } }",
            json!({ "input": { "id": team, "name": "Taken over" } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    // A failed change (a duplicate name) changes nothing and is recorded.
    let body = app
        .gql(
            Some(&admin),
            CREATE_TEAM,
            json!({ "input": { "name": "Ops", "monthlyBudget": "100" } }),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT");
    let teams = app
        .data(Some(&admin), "{ teams { totalCount } }", json!({}))
        .await;
    assert_eq!(teams["teams"]["totalCount"], 1);

    let failures = logs(app, &admin, json!({ "success": false })).await;
    assert_eq!(failures.len(), 3, "{failures:#?}");
    let (conflict, member_refusal, viewer_refusal) = (&failures[0], &failures[1], &failures[2]);
    assert_eq!(viewer_refusal["action"], "team.create");
    assert_eq!(
        viewer_refusal["actorUserId"],
        app.user_id(&viewer).await.as_str()
    );
    assert_eq!(viewer_refusal["details"]["code"], "FORBIDDEN");
    assert!(
        viewer_refusal["details"]["message"]
            .as_str()
            .unwrap()
            .contains("teams.write")
    );
    assert_eq!(member_refusal["action"], "team.update");
    assert_eq!(member_refusal["actor"]["username"], "max");
    assert_eq!(conflict["action"], "team.create");
    assert_eq!(conflict["details"]["code"], "CONFLICT");
    for row in &failures {
        assert_eq!(row["success"], false);
        assert!(row["newValues"].is_null());
    }
    // Only one successful team.create: the failed one left no row claiming success.
    let created = logs(
        app,
        &admin,
        json!({ "action": "team.create", "success": true }),
    )
    .await;
    assert_eq!(created.len(), 1);

    // Reading the trail needs `audit.read`, which only admins hold by default.
    let body = app.gql(Some(&member), LOGS, json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}

async fn failed_logins_are_recorded_without_revealing_accounts(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let login = "mutation($input: LoginInput!) { login(input: $input) { token } }";
    let wrong = app
        .gql(
            None,
            login,
            json!({ "input": { "email": "admin@acme.example", "password": "not it at all" } }),
        )
        .await;
    let unknown = app
        .gql(
            None,
            login,
            json!({ "input": { "email": "nobody@acme.example", "password": "not it at all" } }),
        )
        .await;
    assert_eq!(error_code(&wrong), "UNAUTHENTICATED");
    assert_eq!(
        wrong["errors"][0]["message"], unknown["errors"][0]["message"],
        "same answer"
    );
    let rows = logs(app, &admin, json!({ "action": "user.login" })).await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["success"], false);
    assert_eq!(rows[0]["actor"]["username"], "acme-admin");
    assert_eq!(rows[0]["details"]["reason"], "wrong password");
}

async fn new_rows_stream_to_the_organization(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let other = app.sign_up("globex").await;
    let mut socket = connect(app, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {admin}") } })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({ "id": "a", "type": "subscribe", "payload": {
        "query": "subscription { auditLogAdded { action success newValues actor { username } } }" } }))
    .await;
    // Subscriptions are not acknowledged: change things until a row arrives.
    let mut received = None;
    for n in 0..50 {
        app.data(
            Some(&other),
            CREATE_TEAM,
            json!({ "input": { "name": format!("Theirs {n}"), "monthlyBudget": "10" } }),
        )
        .await;
        app.data(
            Some(&admin),
            CREATE_TEAM,
            json!({ "input": { "name": format!("Ours {n}"), "monthlyBudget": "10" } }),
        )
        .await;
        if let Some(message) =
            common::ws::next_within(&mut socket, std::time::Duration::from_millis(200)).await
        {
            received = Some(message);
            break;
        }
    }
    let message = received.expect("an audit row arrived");
    let row = &message["payload"]["data"]["auditLogAdded"];
    assert_eq!(row["action"], "team.create");
    assert!(
        row["newValues"]["name"]
            .as_str()
            .unwrap()
            .starts_with("Ours"),
        "only the caller's organization: {row}"
    );
    assert_eq!(row["actor"]["username"], "acme-admin");
}

backend_tests! {
    changes => changes_leave_one_row_each;
    refusals => refusals_and_failures_are_recorded;
    logins => failed_logins_are_recorded_without_revealing_accounts;
    streaming => new_rows_stream_to_the_organization;
}
