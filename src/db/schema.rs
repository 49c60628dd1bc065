// @generated automatically by Diesel CLI, then with the portable SQL types swapped in
// (see diesel.toml).

diesel::table! {
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableJson, PortableNumeric, PortableTimestamp, PortableUuid};

    api_keys (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        user_id -> PortableUuid,
        #[max_length = 100]
        name -> Varchar,
        #[max_length = 32]
        key_prefix -> Varchar,
        #[max_length = 128]
        key_hash -> Varchar,
        scopes -> PortableJson,
        last_used_at -> Nullable<PortableTimestamp>,
        expires_at -> Nullable<PortableTimestamp>,
        revoked_at -> Nullable<PortableTimestamp>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableJson, PortableNumeric, PortableTimestamp, PortableUuid};

    audit_logs (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        actor_user_id -> Nullable<PortableUuid>,
        actor_api_key_id -> Nullable<PortableUuid>,
        #[max_length = 100]
        action -> Varchar,
        #[max_length = 50]
        resource_type -> Varchar,
        resource_id -> Nullable<PortableUuid>,
        success -> Bool,
        old_values -> Nullable<PortableJson>,
        new_values -> Nullable<PortableJson>,
        details -> Nullable<PortableJson>,
        #[max_length = 64]
        ip_address -> Nullable<Varchar>,
        user_agent -> Nullable<Text>,
        #[max_length = 64]
        request_id -> Nullable<Varchar>,
        created_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableJson, PortableNumeric, PortableTimestamp, PortableUuid};

    organizations (id) {
        id -> PortableUuid,
        #[max_length = 255]
        name -> Varchar,
        #[max_length = 100]
        slug -> Varchar,
        #[max_length = 20]
        plan -> Varchar,
        api_quota_limit -> Integer,
        api_quota_used -> Integer,
        max_users -> Integer,
        max_projects -> Integer,
        settings -> PortableJson,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
        deleted_at -> Nullable<PortableTimestamp>,
        api_quota_period_start -> Nullable<PortableTimestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableJson, PortableNumeric, PortableTimestamp, PortableUuid};

    roles (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        team_id -> PortableUuid,
        #[max_length = 100]
        title -> Varchar,
        description -> Nullable<Text>,
        #[max_length = 20]
        expertise -> Varchar,
        #[max_length = 50]
        llm_model -> Varchar,
        llm_config -> Nullable<PortableJson>,
        agent_config -> Nullable<PortableJson>,
        position -> Integer,
        is_active -> Bool,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableJson, PortableNumeric, PortableTimestamp, PortableUuid};

    run_events (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        run_id -> PortableUuid,
        seq -> BigInt,
        #[max_length = 50]
        kind -> Varchar,
        payload -> PortableJson,
        created_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableJson, PortableNumeric, PortableTimestamp, PortableUuid};

    run_steps (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        run_id -> PortableUuid,
        role_id -> Nullable<PortableUuid>,
        position -> Integer,
        #[max_length = 100]
        name -> Varchar,
        #[max_length = 20]
        status -> Varchar,
        input -> Nullable<PortableJson>,
        output -> Nullable<PortableJson>,
        prompt_tokens -> BigInt,
        completion_tokens -> BigInt,
        tokens_used -> BigInt,
        cost -> PortableNumeric,
        duration_ms -> Nullable<BigInt>,
        error_message -> Nullable<Text>,
        started_at -> Nullable<PortableTimestamp>,
        completed_at -> Nullable<PortableTimestamp>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableJson, PortableNumeric, PortableTimestamp, PortableUuid};

    runs (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        team_id -> PortableUuid,
        triggered_by -> Nullable<PortableUuid>,
        #[max_length = 20]
        kind -> Varchar,
        #[max_length = 20]
        status -> Varchar,
        inputs -> PortableJson,
        execution_config -> PortableJson,
        estimated_cost -> PortableNumeric,
        result -> Nullable<Text>,
        error_message -> Nullable<Text>,
        total_steps -> Integer,
        completed_steps -> Integer,
        tokens_used -> BigInt,
        cost -> PortableNumeric,
        duration_ms -> Nullable<BigInt>,
        #[max_length = 100]
        claimed_by -> Nullable<Varchar>,
        lease_expires_at -> Nullable<PortableTimestamp>,
        started_at -> Nullable<PortableTimestamp>,
        completed_at -> Nullable<PortableTimestamp>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
        event_seq -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableJson, PortableNumeric, PortableTimestamp, PortableUuid};

    teams (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        owner_id -> Nullable<PortableUuid>,
        #[max_length = 100]
        name -> Varchar,
        description -> Nullable<Text>,
        monthly_budget -> PortableNumeric,
        current_spend -> PortableNumeric,
        #[max_length = 20]
        status -> Varchar,
        last_executed_at -> Nullable<PortableTimestamp>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
        deleted_at -> Nullable<PortableTimestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableJson, PortableNumeric, PortableTimestamp, PortableUuid};

    users (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        #[max_length = 255]
        email -> Varchar,
        #[max_length = 100]
        username -> Varchar,
        #[max_length = 255]
        full_name -> Nullable<Varchar>,
        password_hash -> Nullable<Text>,
        #[max_length = 20]
        org_role -> Varchar,
        permissions -> PortableJson,
        preferences -> PortableJson,
        is_active -> Bool,
        email_verified_at -> Nullable<PortableTimestamp>,
        last_login_at -> Nullable<PortableTimestamp>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
        deleted_at -> Nullable<PortableTimestamp>,
    }
}

diesel::joinable!(api_keys -> organizations (organization_id));
diesel::joinable!(audit_logs -> organizations (organization_id));
diesel::joinable!(run_steps -> roles (role_id));
diesel::joinable!(teams -> organizations (organization_id));
diesel::joinable!(users -> organizations (organization_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    audit_logs,
    organizations,
    roles,
    run_events,
    run_steps,
    runs,
    teams,
    users,
);
