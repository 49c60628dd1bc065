//! Tenant isolation, for every query and mutation of the schema: the operations are read
//! from introspection (so new ones are covered without touching this file) and called
//! by an admin of one organization with the ids of another's team, role, run, user and
//! API key. The answer must be the one a missing id gets, nothing of the other
//! organization may appear in it, and nothing of the other organization may change.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::TestApp;
use common::ws::{connect, next, send};
use serde_json::{Map, Value, json};

const INTROSPECTION: &str = "{ __schema { \
    queryType { name } mutationType { name } \
    types { name kind \
      fields { name args { name type { ...T } } type { ...T } } \
      inputFields { name type { ...T } } \
      enumValues { name } } } } \
  fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// The other organization's ids, by what they identify.
struct Ids {
    team: String,
    role: String,
    run: String,
    user: String,
    api_key: String,
    work_event: String,
    schedule: String,
    availability_rule: String,
    availability_override: String,
    time_off: String,
    rotation: String,
    proposal: String,
    exception: String,
    scheduler_run: String,
    project: String,
    template: String,
    webhook: String,
    webhook_delivery: String,
    run_schedule: String,
    conversation: String,
    document: String,
}

impl Ids {
    fn missing() -> Ids {
        let new = || uuid::Uuid::now_v7().to_string();
        Ids {
            team: new(),
            role: new(),
            run: new(),
            user: new(),
            api_key: new(),
            work_event: new(),
            schedule: new(),
            availability_rule: new(),
            availability_override: new(),
            time_off: new(),
            rotation: new(),
            proposal: new(),
            exception: new(),
            scheduler_run: new(),
            project: new(),
            template: new(),
            webhook: new(),
            webhook_delivery: new(),
            run_schedule: new(),
            conversation: new(),
            document: new(),
        }
    }

    fn all(&self) -> Vec<&String> {
        vec![
            &self.team,
            &self.role,
            &self.run,
            &self.user,
            &self.api_key,
            &self.work_event,
            &self.schedule,
            &self.availability_rule,
            &self.availability_override,
            &self.time_off,
            &self.rotation,
            &self.proposal,
            &self.exception,
            &self.scheduler_run,
            &self.project,
            &self.template,
            &self.webhook,
            &self.webhook_delivery,
            &self.run_schedule,
            &self.conversation,
            &self.document,
        ]
    }
}

struct Schema {
    types: HashMap<String, Value>,
}

impl Schema {
    fn named(&self, name: &str) -> &Value {
        &self.types[name]
    }
}

/// The named type under NON_NULL/LIST wrappers.
fn base(type_ref: &Value) -> (&str, &str) {
    let mut t = type_ref;
    while t["ofType"].is_object() {
        t = &t["ofType"];
    }
    (t["kind"].as_str().unwrap(), t["name"].as_str().unwrap())
}

fn is_list(type_ref: &Value) -> bool {
    let mut t = type_ref;
    loop {
        match t["kind"].as_str() {
            Some("LIST") => return true,
            Some("NON_NULL") => t = &t["ofType"],
            _ => return false,
        }
    }
}

/// Which of the other organization's ids an ID argument or input field takes.
fn id_for<'a>(ids: &'a Ids, operation: &str, field: &str) -> &'a str {
    let op = operation.to_lowercase();
    match field {
        "teamId" | "resourceId" => &ids.team,
        "roleId" | "roleIds" => &ids.role,
        "runId" if op.contains("proposal") || op.contains("conflict") => &ids.scheduler_run,
        "runId" => &ids.run,
        "workEventId" => &ids.work_event,
        "projectId" => &ids.project,
        "templateId" => &ids.template,
        "id" if op.contains("document") => &ids.document,
        "uploadedBy" => &ids.user,
        "id" if op.contains("template") => &ids.template,
        "conversationId" => &ids.conversation,
        "id" if op.contains("conversation") => &ids.conversation,
        "managerId" => &ids.user,
        "id" if op.contains("project") => &ids.project,
        "scheduleId" => &ids.schedule,
        "id" if op.contains("webhookdelivery") => &ids.webhook_delivery,
        "id" if op.contains("webhook") => &ids.webhook,
        "id" if op.contains("runschedule") => &ids.run_schedule,
        "id" if op.contains("proposal") => &ids.proposal,
        "id" if op.contains("conflict") => &ids.exception,
        "id" if op.contains("availabilityrule") => &ids.availability_rule,
        "id" if op.contains("availabilityoverride") => &ids.availability_override,
        "id" if op.contains("timeoff") => &ids.time_off,
        "id" if op.contains("rotation") => &ids.rotation,
        "id" if op.contains("workevent") => &ids.work_event,
        "id" if op.contains("schedule") => &ids.schedule,
        "userId" | "actorUserId" => &ids.user,
        "id" if op.contains("apikey") => &ids.api_key,
        "id" if op.contains("role") => &ids.role,
        "id" if op.contains("run") => &ids.run,
        "id" if op.contains("user") => &ids.user,
        "id" if op.contains("team") => &ids.team,
        _ => panic!("no rule for the ID `{field}` of `{operation}`: extend id_for"),
    }
}

/// A value of `type_ref` for `field` of `operation`: the other organization's ids
/// where ids go, and plausible values elsewhere. Returns whether an id was used.
fn value(
    schema: &Schema,
    ids: &Ids,
    operation: &str,
    field: &str,
    type_ref: &Value,
    used_id: &mut bool,
) -> Value {
    let (kind, name) = base(type_ref);
    if is_list(type_ref) {
        return if name == "ID" {
            *used_id = true;
            json!([id_for(ids, operation, field)])
        } else {
            json!([])
        };
    }
    match (kind, name) {
        ("SCALAR", "ID") => {
            *used_id = true;
            json!(id_for(ids, operation, field))
        }
        ("SCALAR", "String") => json!(match field {
            "email" => "probe@probe.example",
            "username" => "probe-user",
            "slug" => "probe-org",
            "password" | "newPassword" | "currentPassword" => "probe password 123",
            _ => "Probe",
        }),
        ("SCALAR", "Int") => json!(1),
        ("SCALAR", "Float") => json!(1.0),
        ("SCALAR", "Boolean") => json!(false),
        ("SCALAR", "Decimal") => json!("10"),
        ("SCALAR", "JSON") => json!({ "probe": 1 }),
        // Not a file of a multipart request: refused like any invalid value.
        ("SCALAR", "Upload") => json!("probe"),
        ("SCALAR", "DateTime") => json!(match field {
            "to" | "dueAt" => "2099-01-12T00:00:00Z",
            _ => "2099-01-01T00:00:00Z",
        }),
        ("SCALAR", "NaiveDate") => json!(match field {
            "to" | "endDate" => "2099-01-10",
            _ => "2099-01-04",
        }),
        ("SCALAR", "NaiveTime") => json!(match field {
            "endTime" => "17:00:00",
            _ => "09:00:00",
        }),
        ("ENUM", _) => schema.named(name)["enumValues"][0]["name"].clone(),
        ("INPUT_OBJECT", _) => {
            let mut object = Map::new();
            for input in schema.named(name)["inputFields"].as_array().unwrap() {
                let input_name = input["name"].as_str().unwrap();
                let required = input["type"]["kind"] == "NON_NULL";
                let (_, input_base) = base(&input["type"]);
                if required || input_base == "ID" {
                    object.insert(
                        input_name.to_string(),
                        value(schema, ids, operation, input_name, &input["type"], used_id),
                    );
                }
            }
            Value::Object(object)
        }
        other => panic!("no probe value for {other:?} ({operation}.{field})"),
    }
}

/// `id`s and scalar fields of the result, one level into lists of nodes.
fn selection(schema: &Schema, type_ref: &Value, depth: usize) -> String {
    let (kind, name) = base(type_ref);
    if kind != "OBJECT" {
        return String::new();
    }
    let mut fields = vec!["__typename".to_string()];
    for field in schema.named(name)["fields"].as_array().unwrap() {
        let field_name = field["name"].as_str().unwrap();
        let required_args = field["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["type"]["kind"] == "NON_NULL");
        if required_args {
            continue;
        }
        let (field_kind, _) = base(&field["type"]);
        match field_kind {
            "SCALAR" | "ENUM" => fields.push(field_name.to_string()),
            "OBJECT" if depth < 2 => {
                let inner = selection(schema, &field["type"], depth + 1);
                if !inner.is_empty() {
                    fields.push(format!("{field_name} {{ {inner} }}"));
                }
            }
            _ => {}
        }
    }
    fields.join(" ")
}

/// The other organization as its admin sees it.
async fn snapshot(app: &TestApp, token: &str) -> Value {
    app.data(
        Some(token),
        "{ organization { name plan settings maxUsers } \
           teams { nodes { id name description monthlyBudget currentSpend status \
             roles { id title description isActive position llmModel } \
             runs { nodes { id status completedSteps cost } } } } \
           users { nodes { id email orgRole isActive fullName permissions } } \
           apiKeys { id name revokedAt } \
           employees { edges { node { id active skills phone } } } \
           workEvents { edges { node { id name condition location \
             schedules { id status scheduledAt userId attendance { status checkInAt } } } } } \
           timeOffRequests { edges { node { id status decidedAt } } } \
           rotations(from: \"2099-01-04\", to: \"2099-01-10\") { id userId rotationType } \
           scheduleConflicts { edges { node { id resolved } } } \
           projects { edges { node { id name status priority teams { id } runs { totalCount } } } } \
           templates { edges { node { id name version usageCount phases { code } } } } \
           webhooks { nodes { id url active events deliveries { totalCount } } } \
           runSchedules { nodes { id name status cron nextRunAt runCount } } \
           conversations { nodes { id title messageCount tokensUsed \
             messages { nodes { id content status } } } } \
           documents { edges { node { id filename isSearchable metadata processingStatus } } } }",
        json!({}),
    )
    .await
}

fn errors_of(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    (
                        e["extensions"]["code"].as_str().unwrap_or("").to_string(),
                        e["message"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn every_operation_is_tenant_scoped(app: &TestApp) {
    // The victim: a team with roles and a finished run, a second user and an API key.
    let victim = app.sign_up("victim").await;
    let data = app
        .data(
            Some(&victim),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id roles { id } } } }",
            json!({ "input": { "name": "Secret Team", "monthlyBudget": "100", "roles": [
                { "title": "Secret Agent", "expertise": "SENIOR" }, { "title": "Second Agent", "expertise": "JUNIOR" }] } }),
        )
        .await;
    let team = data["createTeam"]["team"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let role = data["createTeam"]["team"]["roles"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let data = app
        .data(
            Some(&victim),
            "mutation($input: StartRunInput!) { startRun(input: $input) { run { id } } }",
            json!({ "input": { "teamId": team, "inputs": { "secret": true } } }),
        )
        .await;
    let run = data["startRun"]["run"]["id"].as_str().unwrap().to_string();
    let data = app
        .data(
            Some(&victim),
            "mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }",
            json!({ "input": { "email": "bob@victim.example", "username": "victim-bob", "password": "bob's password" } }),
        )
        .await;
    let user = data["createUser"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let data = app
        .data(
            Some(&victim),
            "mutation { createApiKey(input: { name: \"victim key\", scopes: [] }) { apiKey { id } } }",
            json!({}),
        )
        .await;
    let api_key = data["createApiKey"]["apiKey"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..200 {
        let data = app
            .data(
                Some(&victim),
                "query($id: ID!) { run(id: $id) { status } }",
                json!({ "id": run }),
            )
            .await;
        if data["run"]["status"] == "COMPLETED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let scheduling = victim_schedule(app, &victim, &user).await;
    let data = app
        .data(
            Some(&victim),
            "mutation { createProject(input: { name: \"Secret Project\", topic: \"Secret\" }) { project { id } } }",
            json!({}),
        )
        .await;
    let project = data["createProject"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let data = app
        .data(
            Some(&victim),
            "mutation { createTemplate(input: { name: \"Secret Template\", phases: [\
               { code: \"secret\", name: \"Secret\", prompt: \"Secret\", expertise: SENIOR }] }) { template { id } } }",
            json!({}),
        )
        .await;
    let template = data["createTemplate"]["template"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.data(
        Some(&victim),
        "mutation($input: UpdateTeamInput!) { updateTeam(input: $input) { team { id } } }",
        json!({ "input": { "id": team, "projectId": project } }),
    )
    .await;
    // An inactive webhook: its test delivery fails at once, without leaving the machine.
    let data = app
        .data(
            Some(&victim),
            "mutation { createWebhook(input: { url: \"https://93.184.216.34/secret\", \
               events: [RUN_CANCELLED], active: false }) { webhook { id } } }",
            json!({}),
        )
        .await;
    let webhook = data["createWebhook"]["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let data = app
        .data(
            Some(&victim),
            "mutation($id: ID!) { testWebhook(input: { id: $id }) { delivery { id status } } }",
            json!({ "id": webhook }),
        )
        .await;
    assert_eq!(data["testWebhook"]["delivery"]["status"], "FAILED");
    let webhook_delivery = data["testWebhook"]["delivery"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let data = app
        .data(
            Some(&victim),
            "mutation($input: CreateRunScheduleInput!) { createRunSchedule(input: $input) { \
               runSchedule { id } } }",
            json!({ "input": { "teamId": team, "cron": "0 0 1 1 *", "name": "Secret schedule",
                "inputs": { "topic": "secret" } } }),
        )
        .await;
    let run_schedule = data["createRunSchedule"]["runSchedule"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let data = app
        .data(
            Some(&victim),
            "mutation($input: StartConversationInput!) { startConversation(input: $input) { \
               conversation { id } } }",
            json!({ "input": { "roleId": role, "title": "Secret conversation" } }),
        )
        .await;
    let conversation = data["startConversation"]["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.data(
        Some(&victim),
        "mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { status } } }",
        json!({ "input": { "conversationId": conversation, "content": "Secret question" } }),
    )
    .await;
    // A document whose text holds the word the probes search for.
    let data = app
        .data(
            Some(&victim),
            "mutation { createDocument(input: { filename: \"Secret plans.md\", \
               content: \"# Secret\\n\\nThe probe lands at dawn.\" }) { document { id } } }",
            json!({}),
        )
        .await;
    let document = data["createDocument"]["document"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ids = Ids {
        team,
        role,
        run,
        user,
        api_key,
        work_event: scheduling[0].clone(),
        schedule: scheduling[1].clone(),
        availability_rule: scheduling[2].clone(),
        availability_override: scheduling[3].clone(),
        time_off: scheduling[4].clone(),
        rotation: scheduling[5].clone(),
        proposal: scheduling[6].clone(),
        exception: scheduling[7].clone(),
        scheduler_run: scheduling[8].clone(),
        project,
        template,
        webhook,
        webhook_delivery,
        run_schedule,
        conversation,
        document,
    };
    let missing = Ids::missing();
    let secrets = ids.all();
    let before = snapshot(app, &victim).await;

    // The attacker: an admin, so that no permission check hides a missing tenant check.
    let attacker = app.sign_up("attacker").await;
    let introspection = app.data(Some(&attacker), INTROSPECTION, json!({})).await;
    let schema = Schema {
        types: introspection["__schema"]["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_string(), t.clone()))
            .collect(),
    };
    let mut probed = 0;
    for (root, keyword) in [("Query", "query"), ("Mutation", "mutation")] {
        for field in schema.named(root)["fields"].as_array().unwrap() {
            let name = field["name"].as_str().unwrap();
            let call = |ids: &Ids| build_call(&schema, ids, field, keyword);
            let (query, variables, used_id) = call(&ids);
            let foreign = app.gql(Some(&attacker), &query, variables).await;
            let text = foreign.to_string();
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "`{name}` leaked another organization's id: {foreign:#}"
                );
            }
            assert!(
                !text.contains("Secret"),
                "`{name}` leaked another organization's data: {foreign:#}"
            );
            if used_id {
                let (query, variables, _) = call(&missing);
                let absent = app.gql(Some(&attacker), &query, variables).await;
                assert_eq!(
                    errors_of(&foreign),
                    errors_of(&absent),
                    "`{name}` answers another organization's ids unlike missing ones"
                );
                if root == "Mutation" || foreign["data"][name].is_null() {
                    let codes: Vec<_> = errors_of(&foreign).into_iter().map(|(c, _)| c).collect();
                    assert_eq!(
                        codes,
                        ["NOT_FOUND"],
                        "`{name}` with a foreign id: {foreign:#}"
                    );
                }
                probed += 1;
            }
        }
    }
    assert!(probed >= 72, "only {probed} operations took ids");

    // Subscriptions that take ids: refused like a missing id, before any event.
    let mut subscriptions = 0;
    for field in schema.named("Subscription")["fields"].as_array().unwrap() {
        let name = field["name"].as_str().unwrap();
        let (query, variables, used_id) = build_call(&schema, &ids, field, "subscription");
        if !used_id {
            continue;
        }
        let foreign = first_answer(app, &attacker, &query, variables).await;
        let (query, variables, _) = build_call(&schema, &missing, field, "subscription");
        let absent = first_answer(app, &attacker, &query, variables).await;
        for secret in &secrets {
            assert!(
                !foreign.to_string().contains(secret.as_str()),
                "`{name}` leaked: {foreign:#}"
            );
        }
        assert_eq!(
            errors_of(&foreign),
            errors_of(&absent),
            "`{name}` answers foreign ids unlike missing ones"
        );
        let codes: Vec<_> = errors_of(&foreign).into_iter().map(|(c, _)| c).collect();
        assert_eq!(
            codes,
            ["NOT_FOUND"],
            "`{name}` with a foreign id: {foreign:#}"
        );
        subscriptions += 1;
    }
    assert!(subscriptions >= 1, "no subscription took an id");
    assert_eq!(
        snapshot(app, &victim).await,
        before,
        "the victim's organization changed"
    );
}

/// The victim's scheduling data: a booked event with attendance, availability, time
/// off, a rotation, and an auto-scheduler run with a proposal and an exception.
/// Returns the ids of the event, schedule, rule, override, time-off request,
/// rotation, proposal, exception and run.
async fn victim_schedule(app: &TestApp, victim: &str, user: &str) -> Vec<String> {
    let id = |v: &Value| v.as_str().expect("id").to_string();
    let event = |name: &str, skills: Value| {
        json!({ "input": { "event": { "name": name, "startAt": "2099-01-05T08:00:00Z",
                "dueAt": "2099-01-05T18:00:00Z", "location": "Secret Store", "requiredSkills": skills } } })
    };
    let create = "mutation($input: CreateWorkEventInput!) { createWorkEvent(input: $input) { workEvent { id } } }";
    let booked = app
        .data(Some(victim), create, event("Secret Event", json!([])))
        .await;
    let work_event = id(&booked["createWorkEvent"]["workEvent"]["id"]);
    app.data(Some(victim), create, event("Secret Open", json!([])))
        .await;
    app.data(
        Some(victim),
        create,
        event("Secret Weld", json!(["welding"])),
    )
    .await;
    let data = app
        .data(
            Some(victim),
            "mutation($input: ScheduleEmployeeInput!) { scheduleEmployee(input: $input) { schedule { id } } }",
            json!({ "input": { "workEventId": work_event, "userId": user, "scheduledAt": "2099-01-05T09:00:00Z" } }),
        )
        .await;
    let schedule = id(&data["scheduleEmployee"]["schedule"]["id"]);
    app.data(
        Some(victim),
        "mutation($input: CheckInInput!) { checkIn(input: $input) { attendance { id } } }",
        json!({ "input": { "scheduleId": schedule } }),
    )
    .await;
    let data = app
        .data(
            Some(victim),
            "mutation($input: AddAvailabilityRuleInput!) { addAvailabilityRule(input: $input) { availabilityRule { id } } }",
            json!({ "input": { "userId": user, "dayOfWeek": 0, "startTime": "06:00:00", "endTime": "22:00:00",
                               "effectiveFrom": "2098-01-01" } }),
        )
        .await;
    let rule = id(&data["addAvailabilityRule"]["availabilityRule"]["id"]);
    let data = app
        .data(
            Some(victim),
            "mutation($input: SetAvailabilityOverrideInput!) { setAvailabilityOverride(input: $input) { availabilityOverride { id } } }",
            json!({ "input": { "userId": user, "date": "2099-01-07", "available": false, "reason": "Secret" } }),
        )
        .await;
    let availability_override = id(&data["setAvailabilityOverride"]["availabilityOverride"]["id"]);
    let data = app
        .data(
            Some(victim),
            "mutation($input: RequestTimeOffInput!) { requestTimeOff(input: $input) { timeOffRequest { id } } }",
            json!({ "input": { "userId": user, "startDate": "2099-01-08", "endDate": "2099-01-09", "reason": "Secret" } }),
        )
        .await;
    let time_off = id(&data["requestTimeOff"]["timeOffRequest"]["id"]);
    let data = app
        .data(
            Some(victim),
            "mutation($input: AssignRotationInput!) { assignRotation(input: $input) { rotationAssignment { id } } }",
            json!({ "input": { "date": "2099-01-05", "rotationType": "JUICER", "userId": user } }),
        )
        .await;
    let rotation = id(&data["assignRotation"]["rotationAssignment"]["id"]);
    let data = app
        .data(
            Some(victim),
            "mutation($input: RunAutoSchedulerInput!) { runAutoScheduler(input: $input) { run { id } } }",
            json!({ "input": { "from": "2099-01-05", "to": "2099-01-05" } }),
        )
        .await;
    let run = id(&data["runAutoScheduler"]["run"]["id"]);
    for _ in 0..200 {
        let data = app
            .data(
                Some(victim),
                "query($id: ID!) { run(id: $id) { status } scheduleProposals(runId: $id) { id } \
                 scheduleConflicts(filter: { runId: $id }) { edges { node { id } } } }",
                json!({ "id": run }),
            )
            .await;
        if data["run"]["status"] == "COMPLETED" {
            let proposal = id(&data["scheduleProposals"][0]["id"]);
            let exception = id(&data["scheduleConflicts"]["edges"][0]["node"]["id"]);
            return vec![
                work_event,
                schedule,
                rule,
                availability_override,
                time_off,
                rotation,
                proposal,
                exception,
                run,
            ];
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the victim's auto-scheduler run did not complete");
}

/// The operation `field` of the root `keyword`, its variables, and whether it takes
/// one of `ids`.
fn build_call(schema: &Schema, ids: &Ids, field: &Value, keyword: &str) -> (String, Value, bool) {
    let name = field["name"].as_str().unwrap();
    let mut used_id = false;
    let mut args = Vec::new();
    let mut variables = Map::new();
    let mut declarations = Vec::new();
    for (i, arg) in field["args"].as_array().unwrap().iter().enumerate() {
        let arg_name = arg["name"].as_str().unwrap();
        let (arg_kind, arg_base) = base(&arg["type"]);
        let required = arg["type"]["kind"] == "NON_NULL";
        if !required && arg_base != "ID" && !(arg_kind == "INPUT_OBJECT" && arg_name == "filter") {
            continue;
        }
        let v = value(schema, ids, name, arg_name, &arg["type"], &mut used_id);
        declarations.push(format!("$a{i}: {}", type_text(&arg["type"])));
        args.push(format!("{arg_name}: $a{i}"));
        variables.insert(format!("a{i}"), v);
    }
    let select = selection(schema, &field["type"], 0);
    let query = format!(
        "{keyword}{} {{ {name}{} {} }}",
        if declarations.is_empty() {
            String::new()
        } else {
            format!("({})", declarations.join(", "))
        },
        if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        },
        if select.is_empty() {
            String::new()
        } else {
            format!("{{ {select} }}")
        },
    );
    (query, Value::Object(variables), used_id)
}

/// The first answer to a subscription over `graphql-transport-ws`.
async fn first_answer(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let mut socket = connect(app, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({ "id": "s", "type": "subscribe", "payload": { "query": query, "variables": variables } })).await;
    next(&mut socket).await["payload"].clone()
}

fn type_text(type_ref: &Value) -> String {
    match type_ref["kind"].as_str().unwrap() {
        "NON_NULL" => format!("{}!", type_text(&type_ref["ofType"])),
        "LIST" => format!("[{}]", type_text(&type_ref["ofType"])),
        _ => type_ref["name"].as_str().unwrap().to_string(),
    }
}

backend_tests! {
    every_operation => every_operation_is_tenant_scoped;
}

/// On PostgreSQL, changes run inside a transaction scoped to the caller's organization
/// (`tenant_transaction!`): even a statement without its tenant filter reaches only
/// that organization's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_row_level_security_hides_other_tenants() {
    use diesel::sql_types::BigInt;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    let Some(app) = TestApp::spawn(common::Backend::Postgres).await else {
        return;
    };
    let acme = app.sign_up("acme").await;
    let globex = app.sign_up("globex").await;
    for (token, name) in [
        (&acme, "Acme team"),
        (&acme, "Acme team 2"),
        (&globex, "Globex team"),
    ] {
        app.data(
            Some(token),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }",
            json!({ "input": { "name": name, "monthlyBudget": "10" } }),
        )
        .await;
    }
    let acme_org = app.organization_id(&acme).await;
    let mut conn = AsyncPgConnection::establish(&app.db.url)
        .await
        .expect("connects");
    conn.transaction::<_, diesel::result::Error, _>(async |c| {
        c.batch_execute(&gateway::db::tenant_scope_sql(acme_org))
            .await?;
        // No tenant filter in any of these statements.
        let teams: Count = diesel::sql_query("SELECT count(*) AS n FROM teams")
            .get_result(c)
            .await?;
        assert_eq!(teams.n, 2, "only the organization's own teams are visible");
        let orgs: Count = diesel::sql_query("SELECT count(*) AS n FROM organizations")
            .get_result(c)
            .await?;
        assert_eq!(orgs.n, 1);
        // Billing rows too: each organization has its own subscription.
        let subscriptions: Count = diesel::sql_query("SELECT count(*) AS n FROM subscriptions")
            .get_result(c)
            .await?;
        assert_eq!(subscriptions.n, 1);
        let renamed = diesel::sql_query("UPDATE teams SET description = 'touched'")
            .execute(c)
            .await?;
        assert_eq!(
            renamed, 2,
            "an unfiltered update reaches only the organization's rows"
        );
        Ok(())
    })
    .await
    .expect("the scoped statements run");
    // Every table that holds tenant rows has row-level security.
    let unguarded: Vec<(String,)> = {
        #[derive(diesel::QueryableByName)]
        struct Table {
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
        }
        diesel::sql_query(
            "SELECT c.table_name::text AS name FROM information_schema.columns c \
             JOIN pg_class k ON k.relname = c.table_name AND k.relkind = 'r' \
             JOIN pg_namespace n ON n.oid = k.relnamespace AND n.nspname = c.table_schema \
             WHERE c.table_schema = 'public' AND c.column_name = 'organization_id' \
               AND NOT k.relrowsecurity ORDER BY 1",
        )
        .load::<Table>(&mut conn)
        .await
        .expect("tables listed")
        .into_iter()
        .map(|t| (t.name,))
        .collect()
    };
    assert_eq!(
        unguarded,
        Vec::<(String,)>::new(),
        "tenant tables without row-level security"
    );
    let deleted = conn
        .transaction::<_, diesel::result::Error, _>(async |c| {
            c.batch_execute(&gateway::db::tenant_scope_sql(acme_org))
                .await?;
            diesel::sql_query("DELETE FROM audit_logs").execute(c).await
        })
        .await;
    assert!(deleted.is_err(), "the audit trail stays append-only");
    // Outside such a transaction nothing of the above leaked: globex is untouched.
    let data = app
        .data(
            Some(&globex),
            "{ teams { nodes { name description } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["teams"]["nodes"][0]["description"], Value::Null);
    // And a row of another organization cannot be written into the scoped one.
    let globex_org = app.organization_id(&globex).await;
    let mut conn = AsyncPgConnection::establish(&app.db.url)
        .await
        .expect("connects");
    let insert = conn
        .transaction::<_, diesel::result::Error, _>(async |c| {
            c.batch_execute(&gateway::db::tenant_scope_sql(acme_org)).await?;
            diesel::sql_query(format!(
                "INSERT INTO teams (id, organization_id, name, monthly_budget) VALUES (gen_random_uuid(), '{globex_org}', 'Planted', 10)"
            ))
            .execute(c)
            .await
        })
        .await;
    assert!(insert.is_err(), "RLS refuses rows of another organization");
    app.finish().await;
}
