//! GraphQL: types, loaders, errors and schema assembly.

pub mod audit;
pub mod billing;
pub mod context;
pub mod document_cache;
pub mod eager;
pub mod errors;
pub mod executor;
pub mod limits;
pub mod loaders;
pub mod mutation;
pub mod persisted;
pub mod query;
pub mod scalars;
pub mod settings;
#[macro_use]
pub mod scheduling;
pub mod conversations;
pub mod documents;
pub mod projects;
pub mod run_schedules;
pub mod subscription;
pub mod templates;
pub mod types;
pub mod webhooks;

use async_graphql::connection::Connection;
use async_graphql::{SDLExportOptions, Schema, SchemaBuilder};

use crate::config::Limits;
use crate::state::AppState;

/// Every query, by area.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    query::Query,
    conversations::ConversationQuery,
    projects::ProjectQuery,
    templates::TemplateQuery,
    webhooks::WebhookQuery,
    billing::BillingQuery,
    billing::ApiUsageQuery,
    settings::SettingsQuery,
    run_schedules::RunScheduleQuery,
    scheduling::SchedulingQuery,
    documents::DocumentQuery,
);

/// Every mutation, by area.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    mutation::Mutation,
    conversations::ConversationMutation,
    projects::ProjectMutation,
    templates::TemplateMutation,
    webhooks::WebhookMutation,
    billing::BillingMutation,
    settings::SettingsMutation,
    run_schedules::RunScheduleMutation,
    scheduling::SchedulingMutation,
    documents::DocumentMutation,
);

pub type AppSchema = Schema<Query, audit::AuditedMutation, subscription::Subscription>;

/// Builds the schema once; per-request data is attached to each request.
pub fn build(state: Option<AppState>, limits: &Limits) -> AppSchema {
    let mut builder = Schema::build(
        Query::default(),
        audit::AuditedMutation::default(),
        subscription::Subscription,
    )
    // No extensions: with one, every field of every response passes through them
    // (see `executor`, which does their work around the schema), and `eager` objects
    // would bypass them.
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .limit_recursive_depth(limits.max_recursive_depth)
    .limit_directives(limits.max_directives)
    // Resolvers read the limits they enforce (the document size).
    .data(limits.clone());
    builder = describe_generated_types(builder);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder.finish()
}

/// Descriptions for the connection types async-graphql derives from `Connection<..>`,
/// which no doc comment reaches. Set on the builder, so introspection and the SDL agree.
fn describe_generated_types(
    builder: SchemaBuilder<Query, audit::AuditedMutation, subscription::Subscription>,
) -> SchemaBuilder<Query, audit::AuditedMutation, subscription::Subscription> {
    use crate::graphql::scheduling::Total;
    use crate::graphql::types::Cursor;
    use crate::graphql::types::audit::AuditLogsTotal;
    use crate::graphql::types::team::{TeamRunsTotal, TeamsTotal};
    use crate::graphql::types::user::UsersTotal;

    macro_rules! page_of {
        ($items:literal) => {
            concat!(
                "A page of ",
                $items,
                ": `edges` (each with its cursor) or just `nodes`, `pageInfo` to fetch the \
                 next or previous page, and `totalCount` across all pages."
            )
        };
    }
    // Only the type's name matters to the override, so each connection is named by
    // the type its resolver returns.
    type Page<Node, Fields = Total> = Connection<Cursor, Node, Fields>;
    builder
        .override_output_type_description::<Page<crate::audit::AuditLog, AuditLogsTotal>>(page_of!(
            "audit trail entries"
        ))
        .override_output_type_description::<Page<crate::conversations::Conversation>>(page_of!(
            "conversations"
        ))
        .override_output_type_description::<Page<crate::documents::Document>>(page_of!("documents"))
        .override_output_type_description::<Page<types::scheduling::Employee>>(page_of!(
            "employees"
        ))
        .override_output_type_description::<Page<crate::conversations::Message>>(page_of!(
            "a conversation's messages"
        ))
        .override_output_type_description::<Page<crate::projects::Project>>(page_of!("projects"))
        .override_output_type_description::<projects::ProjectRuns>(page_of!("a project's runs"))
        .override_output_type_description::<Page<crate::runs::Run, TeamRunsTotal>>(page_of!(
            "a team's runs"
        ))
        .override_output_type_description::<Page<crate::run_schedules::RunSchedule>>(page_of!(
            "run schedules"
        ))
        .override_output_type_description::<Page<crate::scheduling::ScheduleException>>(page_of!(
            "scheduling exceptions"
        ))
        .override_output_type_description::<run_schedules::ScheduleRuns>(page_of!(
            "the runs a run schedule started"
        ))
        .override_output_type_description::<Page<crate::teams::Team, TeamsTotal>>(page_of!("teams"))
        .override_output_type_description::<Page<crate::templates::Template>>(page_of!("templates"))
        .override_output_type_description::<Page<crate::scheduling::TimeOffRequest>>(page_of!(
            "time-off requests"
        ))
        .override_output_type_description::<Page<crate::users::User, UsersTotal>>(page_of!("users"))
        .override_output_type_description::<Page<crate::webhooks::Webhook>>(page_of!("webhooks"))
        .override_output_type_description::<Page<crate::webhooks::WebhookDelivery>>(page_of!(
            "a webhook's deliveries"
        ))
        .override_output_type_description::<Page<crate::scheduling::WorkEvent>>(page_of!(
            "work events"
        ))
}

/// The complexity of a connection field: its page's complexity times the page size
/// asked for (`first` or `last`, else the default), so nested pages multiply.
pub fn page_complexity(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    use crate::pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
    let size = first
        .or(last)
        .map_or(DEFAULT_PAGE_SIZE, i64::from)
        .clamp(1, MAX_PAGE_SIZE);
    usize::try_from(size)
        .unwrap_or(1)
        .saturating_mul(child_complexity)
}

/// The SDL clients generate code from, with sorted fields so diffs stay stable.
pub fn sdl() -> String {
    build(None, &Limits::default()).sdl_with_options(
        SDLExportOptions::new()
            .sorted_fields()
            .sorted_arguments()
            .sorted_enum_items(),
    )
}
