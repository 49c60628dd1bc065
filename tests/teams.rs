//! Teams and roles through the GraphQL API: creation, validation, changes, tenancy.

mod common;

use common::{TestApp, error_code, error_field};
use gateway::auth::permissions::OrgRole;
use serde_json::{Value, json};

const CREATE: &str = "mutation($input: CreateTeamInput!) {
  createTeam(input: $input) {
    team { id name description monthlyBudget currentSpend remainingBudget budgetUtilization status
           roleCount activeRoleCount owner { username }
           roles { id title description expertise llmModel llmConfig agentConfig position isActive } }
  }
}";

fn team_input(name: &str) -> Value {
    json!({ "input": {
        "name": name,
        "description": "AI team for marketing campaigns",
        "monthlyBudget": "500.00",
        "roles": [
            { "title": "Content Strategist", "expertise": "SENIOR", "llmModel": "gpt-4",
              "llmConfig": { "temperature": 0.7, "max_tokens": 2000 },
              "agentConfig": { "backstory": "Expert strategist", "goals": ["Create content"] } },
            { "title": "Copywriter", "expertise": "JUNIOR" }
        ]
    }})
}

async fn create(app: &TestApp, token: &str, input: Value) -> Value {
    app.data(Some(token), CREATE, input).await["createTeam"]["team"].clone()
}

async fn create_team_with_roles(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let team = create(app, &token, team_input("  <b>Marketing</b> Team ")).await;
    assert_eq!(team["name"], "Marketing Team", "tags stripped and trimmed");
    assert_eq!(team["monthlyBudget"], "500.00");
    assert_eq!(team["currentSpend"], "0.0000");
    assert_eq!(team["remainingBudget"], "500.0000");
    assert_eq!(team["budgetUtilization"], 0.0);
    assert_eq!(team["status"], "IDLE");
    assert_eq!(team["roleCount"], 2);
    assert_eq!(team["activeRoleCount"], 2);
    assert_eq!(team["owner"]["username"], "acme-admin");
    let roles = team["roles"].as_array().unwrap();
    assert_eq!(roles[0]["title"], "Content Strategist");
    assert_eq!(roles[0]["llmConfig"]["max_tokens"], 2000);
    assert_eq!(roles[0]["agentConfig"]["goals"][0], "Create content");
    assert_eq!(roles[1]["llmModel"], "gpt-3.5-turbo", "default model");
    assert_eq!(
        (roles[0]["position"].clone(), roles[1]["position"].clone()),
        (json!(0), json!(1))
    );

    // Text is stored as typed apart from tags: no HTML escaping.
    let team = create(
        app,
        &token,
        json!({ "input": { "name": "R&D <i>\"Labs\"</i>", "monthlyBudget": 10000 } }),
    )
    .await;
    assert_eq!(team["name"], "R&D \"Labs\"");
    assert_eq!(team["monthlyBudget"], "10000.00");
    assert_eq!(team["roleCount"], 0);

    let fetched = app
        .data(
            Some(&token),
            "query($id: ID!) { team(id: $id) { name roles(orderBy: {field: TITLE}) { title } } }",
            json!({ "id": team["id"] }),
        )
        .await;
    assert_eq!(fetched["team"]["name"], "R&D \"Labs\"");
}

async fn create_team_validates_like_the_seed(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({ "name": "<b></b>  ", "monthlyBudget": "10" }),
            "name",
        ),
        (
            json!({ "name": "x".repeat(101), "monthlyBudget": "10" }),
            "name",
        ),
        (
            json!({ "name": "T", "description": "d".repeat(1001), "monthlyBudget": "10" }),
            "description",
        ),
        (
            json!({ "name": "T", "monthlyBudget": "-5" }),
            "monthlyBudget",
        ),
        (
            json!({ "name": "T", "monthlyBudget": "0" }),
            "monthlyBudget",
        ),
        (
            json!({ "name": "T", "monthlyBudget": "10000.01" }),
            "monthlyBudget",
        ),
        (
            json!({ "name": "T", "monthlyBudget": "10.123" }),
            "monthlyBudget",
        ),
        (
            json!({ "name": "T", "monthlyBudget": "10", "roles": [{ "title": "A", "expertise": "SENIOR", "llmModel": "gpt-5" }] }),
            "roles.0.llmModel",
        ),
        (
            json!({ "name": "T", "monthlyBudget": "10", "roles": [
                { "title": "A", "expertise": "SENIOR" }, { "title": "A", "expertise": "JUNIOR" }] }),
            "roles.1.title",
        ),
        (
            json!({ "name": "T", "monthlyBudget": "10", "roles": [{ "title": "A", "expertise": "SENIOR", "isActive": false }] }),
            "roles",
        ),
        (
            json!({ "name": "T", "monthlyBudget": "10", "roles": (0..11).map(|i| json!({ "title": format!("R{i}"), "expertise": "JUNIOR" })).collect::<Vec<_>>() }),
            "roles",
        ),
        (
            json!({ "name": "T", "monthlyBudget": "10", "roles": [{ "title": "A", "expertise": "SENIOR", "llmConfig": [1, 2] }] }),
            "roles.0.llmConfig",
        ),
    ];
    for (input, field) in cases {
        let body = app
            .gql(Some(&token), CREATE, json!({ "input": input }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "input {input}");
        assert_eq!(error_field(&body), field, "input {input}");
    }
    // Type errors are refused by the schema, with a code.
    let body = app
        .gql(
            Some(&token),
            CREATE,
            json!({ "input": { "name": "T", "monthlyBudget": "lots" } }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    let body = app
        .gql(
            Some(&token),
            CREATE,
            json!({ "input": { "name": "T", "monthlyBudget": true } }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    let body = app
        .gql(Some(&token), CREATE, json!({ "input": { "name": "T" } }))
        .await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("BAD_USER_INPUT", "monthlyBudget")
    );
    let body = app
        .gql(
            Some(&token),
            CREATE,
            json!({ "input": { "name": "T", "monthlyBudget": "1", "roles": [{ "title": "A", "expertise": "GURU" }] } }),
        )
        .await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("BAD_USER_INPUT", "roles.0.expertise")
    );

    // Nothing was half-written.
    let teams = app
        .data(Some(&token), "{ teams { totalCount } }", json!({}))
        .await;
    assert_eq!(teams["teams"]["totalCount"], 0);

    create(app, &token, team_input("Marketing")).await;
    let body = app.gql(Some(&token), CREATE, team_input("Marketing")).await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("CONFLICT", "name")
    );
}

async fn update_and_delete_teams(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let team = create(app, &token, team_input("Marketing")).await;
    create(app, &token, team_input("Sales")).await;
    let update = "mutation($input: UpdateTeamInput!) { updateTeam(input: $input) { team { name description monthlyBudget } } }";

    let data = app
        .data(
            Some(&token),
            update,
            json!({ "input": { "id": team["id"], "name": "Growth", "monthlyBudget": "750.5" } }),
        )
        .await;
    assert_eq!(data["updateTeam"]["team"]["name"], "Growth");
    assert_eq!(data["updateTeam"]["team"]["monthlyBudget"], "750.50");
    assert_eq!(
        data["updateTeam"]["team"]["description"], "AI team for marketing campaigns",
        "untouched"
    );
    let data = app
        .data(
            Some(&token),
            update,
            json!({ "input": { "id": team["id"], "description": null } }),
        )
        .await;
    assert_eq!(
        data["updateTeam"]["team"]["description"],
        Value::Null,
        "null clears"
    );

    let body = app
        .gql(
            Some(&token),
            update,
            json!({ "input": { "id": team["id"], "name": "Sales" } }),
        )
        .await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("CONFLICT", "name")
    );
    let body = app
        .gql(
            Some(&token),
            update,
            json!({ "input": { "id": team["id"], "monthlyBudget": "20000" } }),
        )
        .await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("BAD_USER_INPUT", "monthlyBudget")
    );

    let role_id = team["roles"][0]["id"].clone();
    let delete =
        "mutation($input: DeleteTeamInput!) { deleteTeam(input: $input) { deletedTeamId } }";
    let data = app
        .data(
            Some(&token),
            delete,
            json!({ "input": { "id": team["id"] } }),
        )
        .await;
    assert_eq!(data["deleteTeam"]["deletedTeamId"], team["id"]);

    let body = app
        .gql(
            Some(&token),
            "query($id: ID!) { team(id: $id) { id } }",
            json!({ "id": team["id"] }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let body = app
        .gql(
            Some(&token),
            "query($id: ID!) { role(id: $id) { id } }",
            json!({ "id": role_id }),
        )
        .await;
    assert_eq!(
        error_code(&body),
        "NOT_FOUND",
        "a deleted team's roles go with it"
    );
    let body = app
        .gql(
            Some(&token),
            delete,
            json!({ "input": { "id": team["id"] } }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let teams = app
        .data(
            Some(&token),
            "{ teams { totalCount edges { node { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(teams["teams"]["totalCount"], 1);
    // The deleted team's name is free again.
    create(app, &token, team_input("Growth")).await;
}

async fn manage_roles(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let team = create(app, &token, team_input("Marketing")).await;
    let add = "mutation($input: AddRoleInput!) { addRole(input: $input) { role { id title position llmModel team { roleCount } } } }";

    let data = app
        .data(
            Some(&token),
            add,
            json!({ "input": { "teamId": team["id"], "role": { "title": "SEO Analyst", "expertise": "EXPERT", "llmModel": "mistral:7b" } } }),
        )
        .await;
    let seo = data["addRole"]["role"].clone();
    assert_eq!(seo["position"], 2);
    assert_eq!(seo["llmModel"], "mistral:7b");
    assert_eq!(seo["team"]["roleCount"], 3);

    let dup = app
        .gql(Some(&token), add, json!({ "input": { "teamId": team["id"], "role": { "title": "SEO Analyst", "expertise": "JUNIOR" } } }))
        .await;
    assert_eq!(
        (error_code(&dup), error_field(&dup)),
        ("CONFLICT", "role.title")
    );

    let update = "mutation($input: UpdateRoleInput!) { updateRole(input: $input) { role { title isActive expertise llmConfig } } }";
    let data = app
        .data(
            Some(&token),
            update,
            json!({ "input": { "id": seo["id"], "title": "SEO Lead", "isActive": false, "expertise": "SENIOR", "llmConfig": { "temperature": 0.2 } } }),
        )
        .await;
    assert_eq!(
        data["updateRole"]["role"],
        json!({ "title": "SEO Lead", "isActive": false, "expertise": "SENIOR", "llmConfig": { "temperature": 0.2 } })
    );
    let body = app
        .gql(
            Some(&token),
            update,
            json!({ "input": { "id": seo["id"], "llmModel": "gpt-5" } }),
        )
        .await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("BAD_USER_INPUT", "llmModel")
    );
    let body = app
        .gql(
            Some(&token),
            update,
            json!({ "input": { "id": seo["id"], "title": "Copywriter" } }),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT");

    let ids: Vec<Value> = vec![
        seo["id"].clone(),
        team["roles"][1]["id"].clone(),
        team["roles"][0]["id"].clone(),
    ];
    let reorder = "mutation($input: ReorderRolesInput!) { reorderRoles(input: $input) { team { roles { title position } activeRoleCount } } }";
    let data = app
        .data(
            Some(&token),
            reorder,
            json!({ "input": { "teamId": team["id"], "roleIds": ids } }),
        )
        .await;
    let titles: Vec<&str> = data["reorderRoles"]["team"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["SEO Lead", "Copywriter", "Content Strategist"]);
    assert_eq!(data["reorderRoles"]["team"]["activeRoleCount"], 2);
    let body = app
        .gql(
            Some(&token),
            reorder,
            json!({ "input": { "teamId": team["id"], "roleIds": [seo["id"]] } }),
        )
        .await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("BAD_USER_INPUT", "roleIds")
    );

    // A team with roles keeps one active: the last active role can be neither
    // deactivated nor removed while inactive ones remain.
    let copywriter = team["roles"][1]["id"].clone();
    let strategist = team["roles"][0]["id"].clone();
    app.data(
        Some(&token),
        update,
        json!({ "input": { "id": copywriter, "isActive": false } }),
    )
    .await;
    let body = app
        .gql(
            Some(&token),
            update,
            json!({ "input": { "id": strategist, "isActive": false } }),
        )
        .await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("BAD_USER_INPUT", "isActive")
    );
    app.data(
        Some(&token),
        update,
        json!({ "input": { "id": copywriter, "isActive": true } }),
    )
    .await;

    let remove = "mutation($input: RemoveRoleInput!) { removeRole(input: $input) { removedRoleId team { roleCount } } }";
    let data = app
        .data(
            Some(&token),
            remove,
            json!({ "input": { "id": seo["id"] } }),
        )
        .await;
    assert_eq!(data["removeRole"]["team"]["roleCount"], 2);
    let body = app
        .gql(
            Some(&token),
            remove,
            json!({ "input": { "id": seo["id"] } }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");

    // At most 10 roles.
    for i in 0..8 {
        app.data(Some(&token), add, json!({ "input": { "teamId": team["id"], "role": { "title": format!("Extra {i}"), "expertise": "JUNIOR" } } }))
            .await;
    }
    let body = app
        .gql(Some(&token), add, json!({ "input": { "teamId": team["id"], "role": { "title": "Eleventh", "expertise": "JUNIOR" } } }))
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
}

async fn permissions_follow_the_org_role(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let org = app.organization_id(&admin).await;
    let team = create(app, &admin, team_input("Marketing")).await;
    let viewer = app.add_user(org, "vera", OrgRole::Viewer).await;
    let manager = app.add_user(org, "manny", OrgRole::Manager).await;

    let body = app
        .gql(Some(&viewer), CREATE, team_input("Viewer Team"))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert_eq!(body["errors"][0]["extensions"]["permission"], "teams.write");
    let body = app
        .gql(
            Some(&viewer),
            "mutation($id: ID!) { deleteTeam(input: {id: $id}) { deletedTeamId } }",
            json!({ "id": team["id"] }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    // Viewers read.
    let data = app
        .data(Some(&viewer), "{ teams { totalCount } }", json!({}))
        .await;
    assert_eq!(data["teams"]["totalCount"], 1);
    // Managers write teams.
    create(app, &manager, team_input("Manager Team")).await;
}

async fn another_organizations_data_is_not_found(app: &TestApp) {
    let alice = app.sign_up("acme").await;
    let bob = app.sign_up("globex").await;
    let team = create(app, &alice, team_input("Secret Team")).await;
    let role_id = &team["roles"][0]["id"];

    let body = app
        .gql(
            Some(&bob),
            "query($id: ID!) { team(id: $id) { name } }",
            json!({ "id": team["id"] }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let missing = app
        .gql(
            Some(&bob),
            "query($id: ID!) { team(id: $id) { name } }",
            json!({ "id": "01920000-0000-7000-8000-000000000000" }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["message"], missing["errors"][0]["message"],
        "identical to a missing id"
    );
    let body = app
        .gql(
            Some(&bob),
            "query($id: ID!) { role(id: $id) { title } }",
            json!({ "id": role_id }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let data = app
        .data(
            Some(&bob),
            "{ teams { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["teams"]["totalCount"], 0);
    let data = app
        .data(Some(&bob), "{ users { totalCount } }", json!({}))
        .await;
    assert_eq!(data["users"]["totalCount"], 1, "only Bob's own user");
    let viewer = app
        .data(Some(&alice), "{ viewer { user { id } } }", json!({}))
        .await;
    let body = app
        .gql(
            Some(&bob),
            "query($id: ID!) { user(id: $id) { email } }",
            json!({ "id": viewer["viewer"]["user"]["id"] }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");

    let attempts = [
        (
            "mutation($id: ID!) { updateTeam(input: {id: $id, name: \"Pwned\"}) { team { id } } }",
            team["id"].clone(),
        ),
        (
            "mutation($id: ID!) { deleteTeam(input: {id: $id}) { deletedTeamId } }",
            team["id"].clone(),
        ),
        (
            "mutation($id: ID!) { addRole(input: {teamId: $id, role: {title: \"Mole\", expertise: JUNIOR}}) { role { id } } }",
            team["id"].clone(),
        ),
        (
            "mutation($id: ID!) { updateRole(input: {id: $id, title: \"Pwned\"}) { role { id } } }",
            role_id.clone(),
        ),
        (
            "mutation($id: ID!) { removeRole(input: {id: $id}) { removedRoleId } }",
            role_id.clone(),
        ),
        (
            "mutation($id: ID!) { reorderRoles(input: {teamId: $id, roleIds: []}) { team { id } } }",
            team["id"].clone(),
        ),
    ];
    for (mutation, id) in attempts {
        let body = app.gql(Some(&bob), mutation, json!({ "id": id })).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{mutation}");
    }
    let data = app
        .data(
            Some(&alice),
            "query($id: ID!) { team(id: $id) { name roleCount roles { title } } }",
            json!({ "id": team["id"] }),
        )
        .await;
    assert_eq!(data["team"]["name"], "Secret Team", "nothing changed");
    assert_eq!(data["team"]["roleCount"], 2);
}

async fn teams_paginate_filter_and_sort(app: &TestApp) {
    let token = app.sign_up("acme").await;
    for (name, budget) in [
        ("Delta", "40"),
        ("alpha", "10"),
        ("Charlie", "30"),
        ("Bravo", "20"),
        ("Echo", "50"),
    ] {
        create(
            app,
            &token,
            json!({ "input": { "name": name, "monthlyBudget": budget } }),
        )
        .await;
    }
    let query = "query($first: Int, $after: String, $last: Int, $before: String, $order: TeamOrderInput, $filter: TeamFilterInput) {
      teams(first: $first, after: $after, last: $last, before: $before, orderBy: $order, filter: $filter) {
        totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { name } } } }";
    let names = |data: &Value| -> Vec<String> {
        data["teams"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap().to_string())
            .collect()
    };

    let page1 = app
        .data(
            Some(&token),
            query,
            json!({ "first": 2, "order": { "field": "MONTHLY_BUDGET" } }),
        )
        .await;
    assert_eq!(names(&page1), ["alpha", "Bravo"]);
    assert_eq!(page1["teams"]["totalCount"], 5);
    assert_eq!(page1["teams"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(page1["teams"]["pageInfo"]["hasPreviousPage"], false);
    let after = page1["teams"]["pageInfo"]["endCursor"].clone();
    let page2 = app
        .data(
            Some(&token),
            query,
            json!({ "first": 2, "after": after, "order": { "field": "MONTHLY_BUDGET" } }),
        )
        .await;
    assert_eq!(names(&page2), ["Charlie", "Delta"]);
    assert_eq!(page2["teams"]["pageInfo"]["hasPreviousPage"], true);

    let last = app
        .data(
            Some(&token),
            query,
            json!({ "last": 2, "order": { "field": "MONTHLY_BUDGET", "direction": "DESC" } }),
        )
        .await;
    assert_eq!(names(&last), ["Bravo", "alpha"]);
    let before = page2["teams"]["edges"][0]["cursor"].clone();
    let back = app
        .data(
            Some(&token),
            query,
            json!({ "last": 1, "before": before, "order": { "field": "MONTHLY_BUDGET" } }),
        )
        .await;
    assert_eq!(names(&back), ["Bravo"]);

    let filtered = app
        .data(
            Some(&token),
            query,
            json!({ "filter": { "nameContains": "HA" } }),
        )
        .await;
    assert_eq!(
        names(&filtered),
        ["alpha", "Charlie"],
        "case-insensitive, by name by default"
    );
    assert_eq!(filtered["teams"]["totalCount"], 2);

    let body = app.gql(Some(&token), query, json!({ "first": 101 })).await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("BAD_USER_INPUT", "first")
    );
    let body = app
        .gql(Some(&token), query, json!({ "after": "garbage" }))
        .await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("BAD_USER_INPUT", "after")
    );
}

async fn concurrent_changes_keep_the_rules(app: &TestApp) {
    let token = app.sign_up("acme").await;
    // Twenty teams are beyond the free plan's 10.
    app.data(
        Some(&token),
        "mutation { changePlan(input: { plan: PRO }) { organization { plan } } }",
        json!({}),
    )
    .await;
    // Twenty teams at once: every write lands (SQLite writers queue, none fail).
    let creates = (0..20).map(|i| {
        app.gql(
            Some(&token),
            CREATE,
            json!({ "input": { "name": format!("Team {i}"), "monthlyBudget": "10" } }),
        )
    });
    for body in futures_util::future::join_all(creates).await {
        assert!(body.get("errors").is_none(), "{body}");
    }
    let data = app
        .data(Some(&token), "{ teams { totalCount } }", json!({}))
        .await;
    assert_eq!(data["teams"]["totalCount"], 20);

    // Fifteen roles at once into an empty team: exactly ten fit.
    let team = create(
        app,
        &token,
        json!({ "input": { "name": "Crowded", "monthlyBudget": "10" } }),
    )
    .await;
    let add = "mutation($input: AddRoleInput!) { addRole(input: $input) { role { id } } }";
    let adds = (0..15).map(|i| {
        app.gql(
            Some(&token),
            add,
            json!({ "input": { "teamId": team["id"], "role": { "title": format!("Agent {i}"), "expertise": "JUNIOR" } } }),
        )
    });
    let results = futures_util::future::join_all(adds).await;
    let added = results
        .iter()
        .filter(|body| body.get("errors").is_none())
        .count();
    assert_eq!(added, 10, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|body| body.get("errors").is_some())
            .all(|body| error_code(body) == "BAD_USER_INPUT")
    );
    let data = app
        .data(
            Some(&token),
            "query($id: ID!) { team(id: $id) { roleCount } }",
            json!({ "id": team["id"] }),
        )
        .await;
    assert_eq!(data["team"]["roleCount"], 10);
}

backend_tests! {
    concurrency => concurrent_changes_keep_the_rules;
    create_with_roles => create_team_with_roles;
    create_validation => create_team_validates_like_the_seed;
    update_and_delete => update_and_delete_teams;
    roles => manage_roles;
    permissions => permissions_follow_the_org_role;
    tenant_isolation => another_organizations_data_is_not_found;
    pagination => teams_paginate_filter_and_sort;
}
