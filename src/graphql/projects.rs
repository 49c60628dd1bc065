//! Project queries and mutations.

use async_graphql::connection::{Connection, ConnectionNameType, EdgeNameType, EmptyFields};
use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{ContextExt, load_by_id, parse_id};
use super::errors::GqlResult;
use super::loaders::{ProjectKey, ProjectTeamsKey, UserKey};
use super::mutation::maybe;
use super::scheduling::{Total, page_args, wants_total};
use super::types::{Cursor, named_page, page, probe};
use crate::error::AppError;
use crate::projects::queries::{self, ProjectFilter};
use crate::projects::service::{self, ProjectFields};
use crate::projects::{Project, ProjectPriority, ProjectStatus};
use crate::runs::Run;
use crate::teams::Team;
use crate::users::User;

/// A container for an organization's teams and runs.
#[Object]
impl Project {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// 1-255 characters, unique in the organization.
    async fn name(&self) -> &str {
        &self.name
    }

    /// Longer text about the project (at most 5000 characters); null when none.
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// What the project is about.
    async fn topic(&self) -> &str {
        &self.topic
    }

    /// Where the project stands.
    async fn status(&self) -> ProjectStatus {
        self.status
    }

    /// How urgent it is.
    async fn priority(&self) -> ProjectPriority {
        self.priority
    }

    /// The user who manages it.
    async fn manager(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.manager_id {
            Some(u) => ctx.loaders()?.load_one(UserKey(u)).await.gql(),
            None => Ok(None),
        }
    }

    /// Who created it; null once that user is deleted.
    async fn created_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.created_by {
            Some(u) => ctx.loaders()?.load_one(UserKey(u)).await.gql(),
            None => Ok(None),
        }
    }

    /// Free-form details, e.g. estimated duration, technologies, budget.
    async fn metadata(&self) -> Json<serde_json::Value> {
        Json(self.metadata.0.clone())
    }

    /// Free-form settings (a JSON object) for clients' own use.
    async fn settings(&self) -> Json<serde_json::Value> {
        Json(self.settings.0.clone())
    }

    /// The project's live teams, by name.
    async fn teams(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Team>> {
        Ok(ctx
            .loaders()?
            .load_one(ProjectTeamsKey(self.id))
            .await
            .gql()?
            .unwrap_or_default())
    }

    /// The project's runs, newest first.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page forward: up to this many items (0-100) after `after`; 20 by default."
        )]
        first: Option<i32>,
        #[graphql(desc = "Page forward from this cursor: a page's `pageInfo.endCursor`.")]
        after: Option<String>,
        #[graphql(
            desc = "Page backward: up to this many items (0-100) before `before`; not with `first`."
        )]
        last: Option<i32>,
        #[graphql(desc = "Page backward from this cursor: a page's `pageInfo.startCursor`.")]
        before: Option<String>,
    ) -> async_graphql::Result<ProjectRuns> {
        let (org, id) = (self.organization_id, self.id);
        let args = page_args(first, &after, last, &before);
        sql_page!(
            ctx,
            args,
            |conn| queries::count_runs_of(&mut conn, org, id),
            |window| queries::runs_of(&mut conn, org, id, window),
            named_page
        )
    }

    /// When the project was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// Last change to the project.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }

    /// When the project was marked COMPLETED.
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.completed_at.map(|t| t.0)
    }
}

/// A project's runs: a connection type of its own, as a team's runs count differently.
pub type ProjectRuns =
    Connection<Cursor, Run, Total, EmptyFields, ProjectRunsName, ProjectRunEdgeName>;

pub struct ProjectRunsName;

impl ConnectionNameType for ProjectRunsName {
    fn type_name<T: async_graphql::OutputType>() -> String {
        "ProjectRunConnection".into()
    }
}

pub struct ProjectRunEdgeName;

impl EdgeNameType for ProjectRunEdgeName {
    fn type_name<T: async_graphql::OutputType>() -> String {
        "ProjectRunEdge".into()
    }
}

/// Filters of `projects`; all given ones must hold.
#[derive(InputObject, Default)]
pub struct ProjectFilterInput {
    /// Only projects in this status.
    pub status: Option<ProjectStatus>,
    /// Only projects of this priority.
    pub priority: Option<ProjectPriority>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
}

#[derive(Default)]
pub struct ProjectQuery;

#[Object]
impl ProjectQuery {
    /// The organization's projects, newest first.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Only projects matching every given condition; all of them when omitted."
        )]
        filter: Option<ProjectFilterInput>,
        #[graphql(
            desc = "Page forward: up to this many items (0-100) after `after`; 20 by default."
        )]
        first: Option<i32>,
        #[graphql(desc = "Page forward from this cursor: a page's `pageInfo.endCursor`.")]
        after: Option<String>,
        #[graphql(
            desc = "Page backward: up to this many items (0-100) before `before`; not with `first`."
        )]
        last: Option<i32>,
        #[graphql(desc = "Page backward from this cursor: a page's `pageInfo.startCursor`.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, Project, Total>> {
        let org = ctx.actor()?.organization_id;
        let input = filter.unwrap_or_default();
        let filter = ProjectFilter {
            status: input.status,
            priority: input.priority,
            name_contains: input.name_contains,
        };
        let args = page_args(first, &after, last, &before);
        sql_page!(
            ctx,
            args,
            |conn| queries::count(&mut conn, org, &filter),
            |window| queries::list(&mut conn, org, &filter, window)
        )
    }

    /// A project of the organization.
    async fn project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project's `id`; projects of other organizations read as NOT_FOUND.")]
        id: ID,
    ) -> async_graphql::Result<Project> {
        load_by_id(ctx, &id, "project", ProjectKey).await
    }
}

/// Input of `createProject`.
#[derive(InputObject)]
pub struct CreateProjectInput {
    /// 1-255 characters, unique in the organization.
    pub name: String,
    /// 1-1000 characters.
    pub topic: String,
    /// Longer text about the project, at most 5000 characters.
    pub description: Option<String>,
    /// MEDIUM when omitted.
    pub priority: Option<ProjectPriority>,
    /// The user who manages it, a member of the organization.
    pub manager_id: Option<ID>,
    /// A JSON object.
    pub metadata: Option<Json<serde_json::Value>>,
    /// A JSON object.
    pub settings: Option<Json<serde_json::Value>>,
}

/// The created project.
#[derive(SimpleObject)]
pub struct CreateProjectPayload {
    /// The new project, ACTIVE.
    pub project: Project,
}

/// Input of `updateProject`; omitted fields are left unchanged.
#[derive(InputObject)]
pub struct UpdateProjectInput {
    /// The project to change.
    pub id: ID,
    /// 1-255 characters, unique in the organization.
    pub name: Option<String>,
    /// 1-1000 characters.
    pub topic: Option<String>,
    /// `null` clears it.
    pub description: MaybeUndefined<String>,
    /// COMPLETED sets `completedAt`; any other status clears it.
    pub status: Option<ProjectStatus>,
    /// How urgent it is.
    pub priority: Option<ProjectPriority>,
    /// `null` clears it.
    pub manager_id: MaybeUndefined<ID>,
    /// Replaces the metadata (a JSON object).
    pub metadata: Option<Json<serde_json::Value>>,
    /// Replaces the settings (a JSON object).
    pub settings: Option<Json<serde_json::Value>>,
}

/// The changed project.
#[derive(SimpleObject)]
pub struct UpdateProjectPayload {
    /// The project as it is now.
    pub project: Project,
}

/// Input of `deleteProject`.
#[derive(InputObject)]
pub struct DeleteProjectInput {
    /// The project to delete.
    pub id: ID,
}

/// The deleted project.
#[derive(SimpleObject)]
pub struct DeleteProjectPayload {
    /// The id of the deleted project.
    pub deleted_project_id: ID,
}

/// A manager id that cannot exist fails the organization check like a foreign one.
fn manager(id: &ID) -> crate::db::Id {
    parse_id(id, "user").unwrap_or_default()
}

#[derive(Default)]
pub struct ProjectMutation;

#[Object]
impl ProjectMutation {
    /// Creates a project. Needs `projects.write`; QUOTA_EXCEEDED beyond the plan's
    /// `maxProjects`.
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project's name, topic, priority and manager.")]
        input: CreateProjectInput,
    ) -> async_graphql::Result<CreateProjectPayload> {
        let actor = ctx.actor()?;
        let fields = ProjectFields {
            name: Some(input.name),
            description: Some(input.description),
            topic: Some(input.topic),
            status: None,
            priority: input.priority,
            manager_id: Some(input.manager_id.as_ref().map(manager)),
            metadata: input.metadata.map(|j| j.0),
            settings: input.settings.map(|j| j.0),
        };
        let mut pooled = ctx.db().await?;
        let project = service::create_project(&mut pooled.conn(), actor, fields)
            .await
            .gql()?;
        Ok(CreateProjectPayload { project })
    }

    /// Changes a project. Needs `projects.write`.
    async fn update_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project and the fields to change.")] input: UpdateProjectInput,
    ) -> async_graphql::Result<UpdateProjectPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "project").gql()?;
        let fields = ProjectFields {
            name: input.name,
            description: maybe(input.description, |d| d),
            topic: input.topic,
            status: input.status,
            priority: input.priority,
            manager_id: maybe(input.manager_id, |m| manager(&m)),
            metadata: input.metadata.map(|j| j.0),
            settings: input.settings.map(|j| j.0),
        };
        let mut pooled = ctx.db().await?;
        let project = service::update_project(&mut pooled.conn(), actor, id, fields)
            .await
            .gql()?;
        Ok(UpdateProjectPayload { project })
    }

    /// Deletes a project; its teams and runs stay, without a project. Needs
    /// `projects.write`.
    async fn delete_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project to delete.")] input: DeleteProjectInput,
    ) -> async_graphql::Result<DeleteProjectPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "project").gql()?;
        let mut pooled = ctx.db().await?;
        service::delete_project(&mut pooled.conn(), actor, id)
            .await
            .gql()?;
        Ok(DeleteProjectPayload {
            deleted_project_id: input.id,
        })
    }
}
