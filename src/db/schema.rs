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
        team_id -> Nullable<PortableUuid>,
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
        project_id -> Nullable<PortableUuid>,
        template_id -> Nullable<PortableUuid>,
        schedule_id -> Nullable<PortableUuid>,
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
        project_id -> Nullable<PortableUuid>,
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

diesel::table! {
    use diesel::sql_types::{Bool, Date, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableJson, PortableTimestamp, PortableUuid};

    employee_profiles (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        user_id -> PortableUuid,
        #[max_length = 40]
        phone -> Nullable<Varchar>,
        hire_date -> Nullable<Date>,
        termination_date -> Nullable<Date>,
        active -> Bool,
        skills -> PortableJson,
        notes -> Nullable<Text>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Integer, Nullable, Varchar};
    use crate::db::sql_types::{PortableJson, PortableTimestamp, PortableUuid};

    work_events (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        #[max_length = 100]
        external_ref -> Nullable<Varchar>,
        #[max_length = 200]
        name -> Varchar,
        #[max_length = 200]
        location -> Nullable<Varchar>,
        start_at -> PortableTimestamp,
        due_at -> PortableTimestamp,
        estimated_minutes -> Integer,
        #[max_length = 20]
        event_type -> Varchar,
        #[max_length = 20]
        condition -> Varchar,
        required_skills -> PortableJson,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableTimestamp, PortableUuid};

    schedules (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        work_event_id -> PortableUuid,
        user_id -> PortableUuid,
        scheduled_at -> PortableTimestamp,
        ends_at -> PortableTimestamp,
        #[max_length = 20]
        status -> Varchar,
        notes -> Nullable<Text>,
        created_by -> Nullable<PortableUuid>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Date, Nullable, SmallInt, Time};
    use crate::db::sql_types::{PortableTimestamp, PortableUuid};

    availability_rules (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        user_id -> PortableUuid,
        day_of_week -> SmallInt,
        start_time -> Time,
        end_time -> Time,
        effective_from -> Date,
        effective_to -> Nullable<Date>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Bool, Date, Nullable, Text, Time};
    use crate::db::sql_types::{PortableTimestamp, PortableUuid};

    availability_overrides (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        user_id -> PortableUuid,
        date -> Date,
        available -> Bool,
        start_time -> Nullable<Time>,
        end_time -> Nullable<Time>,
        reason -> Nullable<Text>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Date, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableTimestamp, PortableUuid};

    time_off_requests (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        user_id -> PortableUuid,
        start_date -> Date,
        end_date -> Date,
        #[max_length = 100]
        reason -> Nullable<Varchar>,
        notes -> Nullable<Text>,
        #[max_length = 20]
        status -> Varchar,
        decided_by -> Nullable<PortableUuid>,
        decided_at -> Nullable<PortableTimestamp>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Date, Varchar};
    use crate::db::sql_types::{PortableTimestamp, PortableUuid};

    rotation_assignments (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        date -> Date,
        #[max_length = 30]
        rotation_type -> Varchar,
        user_id -> PortableUuid,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Bool, Double, Nullable, Text};
    use crate::db::sql_types::{PortableTimestamp, PortableUuid};

    schedule_proposals (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        run_id -> PortableUuid,
        work_event_id -> PortableUuid,
        user_id -> PortableUuid,
        scheduled_at -> PortableTimestamp,
        ends_at -> PortableTimestamp,
        confidence -> Double,
        reason -> Text,
        reviewed -> Bool,
        approved -> Nullable<Bool>,
        schedule_id -> Nullable<PortableUuid>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Bool, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableTimestamp, PortableUuid};

    schedule_exceptions (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        run_id -> Nullable<PortableUuid>,
        work_event_id -> Nullable<PortableUuid>,
        schedule_id -> Nullable<PortableUuid>,
        user_id -> Nullable<PortableUuid>,
        #[max_length = 20]
        exception_type -> Varchar,
        #[max_length = 10]
        severity -> Varchar,
        message -> Text,
        resolved -> Bool,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableTimestamp, PortableUuid};

    attendance (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        schedule_id -> PortableUuid,
        user_id -> PortableUuid,
        #[max_length = 20]
        status -> Varchar,
        check_in_at -> Nullable<PortableTimestamp>,
        check_out_at -> Nullable<PortableTimestamp>,
        #[max_length = 20]
        method -> Nullable<Varchar>,
        notes -> Nullable<Text>,
        recorded_by -> Nullable<PortableUuid>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableJson, PortableTimestamp, PortableUuid};

    projects (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        created_by -> Nullable<PortableUuid>,
        manager_id -> Nullable<PortableUuid>,
        #[max_length = 255]
        name -> Varchar,
        description -> Nullable<Text>,
        topic -> Text,
        #[max_length = 20]
        status -> Varchar,
        #[max_length = 20]
        priority -> Varchar,
        metadata -> PortableJson,
        settings -> PortableJson,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
        completed_at -> Nullable<PortableTimestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::{Bool, Integer, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableJson, PortableTimestamp, PortableUuid};

    orchestration_templates (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        created_by -> Nullable<PortableUuid>,
        #[max_length = 255]
        name -> Varchar,
        description -> Nullable<Text>,
        #[max_length = 100]
        category -> Nullable<Varchar>,
        phases -> PortableJson,
        is_public -> Bool,
        usage_count -> Integer,
        version -> Integer,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Bool, Nullable, Text};
    use crate::db::sql_types::{PortableJson, PortableTimestamp, PortableUuid};

    webhooks (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        created_by -> Nullable<PortableUuid>,
        url -> Text,
        description -> Nullable<Text>,
        events -> PortableJson,
        secret -> Text,
        is_active -> Bool,
        last_triggered_at -> Nullable<PortableTimestamp>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Integer, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableJson, PortableTimestamp, PortableUuid};

    webhook_deliveries (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        webhook_id -> PortableUuid,
        #[max_length = 50]
        event -> Varchar,
        payload -> PortableJson,
        #[max_length = 20]
        status -> Varchar,
        attempts -> Integer,
        next_attempt_at -> Nullable<PortableTimestamp>,
        #[max_length = 64]
        locked_by -> Nullable<Varchar>,
        locked_until -> Nullable<PortableTimestamp>,
        response_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
        completed_at -> Nullable<PortableTimestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Integer, Nullable, Text};
    use crate::db::sql_types::{PortableTimestamp, PortableUuid};

    webhook_attempts (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        delivery_id -> PortableUuid,
        attempt -> Integer,
        status_code -> Nullable<Integer>,
        duration_ms -> BigInt,
        error -> Nullable<Text>,
        created_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Integer, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableJson, PortableTimestamp, PortableUuid};

    run_schedules (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        team_id -> PortableUuid,
        template_id -> Nullable<PortableUuid>,
        created_by -> Nullable<PortableUuid>,
        #[max_length = 255]
        name -> Varchar,
        #[max_length = 120]
        cron -> Varchar,
        #[max_length = 64]
        timezone -> Varchar,
        inputs -> PortableJson,
        #[max_length = 20]
        status -> Varchar,
        #[max_length = 20]
        missed_policy -> Varchar,
        next_run_at -> Nullable<PortableTimestamp>,
        last_run_at -> Nullable<PortableTimestamp>,
        last_run_id -> Nullable<PortableUuid>,
        last_error -> Nullable<Text>,
        run_count -> Integer,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Bool, Varchar};
    use crate::db::sql_types::{PortableJson, PortableNumeric, PortableTimestamp, PortableUuid};

    plans (id) {
        id -> PortableUuid,
        #[max_length = 20]
        plan_type -> Varchar,
        #[max_length = 100]
        name -> Varchar,
        price_monthly -> PortableNumeric,
        price_yearly -> PortableNumeric,
        #[max_length = 3]
        currency -> Varchar,
        features -> PortableJson,
        limits -> PortableJson,
        is_active -> Bool,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Nullable, Varchar};
    use crate::db::sql_types::{PortableTimestamp, PortableUuid};

    subscriptions (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        plan_id -> PortableUuid,
        #[max_length = 20]
        status -> Varchar,
        #[max_length = 20]
        billing_cycle -> Varchar,
        current_period_start -> PortableTimestamp,
        current_period_end -> PortableTimestamp,
        cancelled_at -> Nullable<PortableTimestamp>,
        #[max_length = 255]
        external_customer_id -> Nullable<Varchar>,
        #[max_length = 255]
        external_subscription_id -> Nullable<Varchar>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Nullable, Varchar};
    use crate::db::sql_types::{PortableNumeric, PortableTimestamp, PortableUuid};

    usage_records (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        subscription_id -> Nullable<PortableUuid>,
        team_id -> Nullable<PortableUuid>,
        run_id -> Nullable<PortableUuid>,
        step_id -> Nullable<PortableUuid>,
        #[max_length = 100]
        model -> Nullable<Varchar>,
        #[max_length = 20]
        billing_unit -> Varchar,
        quantity -> BigInt,
        unit_price -> PortableNumeric,
        total_cost -> PortableNumeric,
        #[max_length = 3]
        currency -> Varchar,
        #[max_length = 10]
        usage_day -> Varchar,
        period_start -> PortableTimestamp,
        period_end -> PortableTimestamp,
        created_at -> PortableTimestamp,
        conversation_id -> Nullable<PortableUuid>,
        message_id -> Nullable<PortableUuid>,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Integer, Nullable, Varchar};
    use crate::db::sql_types::{PortableTimestamp, PortableUuid};

    api_usage (id) {
        id -> PortableUuid,
        organization_id -> Nullable<PortableUuid>,
        user_id -> Nullable<PortableUuid>,
        api_key_id -> Nullable<PortableUuid>,
        #[max_length = 255]
        operation_name -> Nullable<Varchar>,
        #[max_length = 20]
        operation_type -> Varchar,
        #[max_length = 20]
        status -> Varchar,
        errors_count -> Integer,
        duration_us -> BigInt,
        #[max_length = 10]
        usage_day -> Varchar,
        #[max_length = 100]
        request_id -> Nullable<Varchar>,
        created_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableTimestamp, PortableUuid};

    organization_settings (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        #[max_length = 100]
        key -> Varchar,
        value -> Text,
        #[max_length = 20]
        data_type -> Varchar,
        description -> Nullable<Text>,
        #[max_length = 50]
        category -> Varchar,
        updated_by -> Nullable<PortableUuid>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Integer, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableNumeric, PortableTimestamp, PortableUuid};

    conversations (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        user_id -> PortableUuid,
        role_id -> Nullable<PortableUuid>,
        team_id -> PortableUuid,
        project_id -> Nullable<PortableUuid>,
        #[max_length = 255]
        title -> Nullable<Varchar>,
        message_count -> Integer,
        tokens_used -> BigInt,
        cost -> PortableNumeric,
        last_message_at -> Nullable<PortableTimestamp>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableJson, PortableNumeric, PortableTimestamp, PortableUuid};

    /// Also has `search_vector` (PostgreSQL, generated tsvector) and `seq` (SQLite, the
    /// rowid of the FTS5 index): neither is read through diesel's DSL, see
    /// `crate::documents::queries::search`.
    documents (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        uploaded_by -> Nullable<PortableUuid>,
        #[max_length = 255]
        filename -> Varchar,
        #[max_length = 10]
        file_type -> Varchar,
        #[max_length = 100]
        mime_type -> Varchar,
        file_size -> BigInt,
        #[max_length = 64]
        content_sha256 -> Varchar,
        content -> Nullable<Text>,
        metadata -> PortableJson,
        #[max_length = 20]
        processing_status -> Varchar,
        processing_error -> Nullable<Text>,
        is_searchable -> Bool,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Integer, Nullable, Text, Varchar};
    use crate::db::sql_types::{PortableNumeric, PortableTimestamp, PortableUuid};

    messages (id) {
        id -> PortableUuid,
        organization_id -> PortableUuid,
        conversation_id -> PortableUuid,
        position -> Integer,
        #[max_length = 20]
        role -> Varchar,
        content -> Text,
        #[max_length = 20]
        status -> Varchar,
        #[max_length = 100]
        model -> Nullable<Varchar>,
        prompt_tokens -> Integer,
        completion_tokens -> Integer,
        tokens_used -> Integer,
        cost -> PortableNumeric,
        #[max_length = 50]
        finish_reason -> Nullable<Varchar>,
        error_message -> Nullable<Text>,
        duration_ms -> Nullable<BigInt>,
        created_by -> Nullable<PortableUuid>,
        created_at -> PortableTimestamp,
    }
}

diesel::joinable!(api_keys -> organizations (organization_id));
diesel::joinable!(audit_logs -> organizations (organization_id));
diesel::joinable!(run_steps -> roles (role_id));
diesel::joinable!(subscriptions -> plans (plan_id));
diesel::joinable!(teams -> organizations (organization_id));
diesel::joinable!(users -> organizations (organization_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    api_usage,
    attendance,
    audit_logs,
    availability_overrides,
    availability_rules,
    conversations,
    documents,
    employee_profiles,
    messages,
    orchestration_templates,
    organization_settings,
    organizations,
    plans,
    projects,
    roles,
    rotation_assignments,
    run_events,
    run_schedules,
    run_steps,
    runs,
    schedule_exceptions,
    schedule_proposals,
    schedules,
    subscriptions,
    teams,
    time_off_requests,
    usage_records,
    users,
    webhook_attempts,
    webhook_deliveries,
    webhooks,
    work_events,
);
