//! Template queries and mutations.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{ContextExt, load_by_id, parse_id};
use super::errors::GqlResult;
use super::loaders::{TemplateKey, UserKey};
use super::mutation::maybe;
use super::scheduling::{Total, page_args, wants_total};
use super::types::{Cursor, page, probe};
use crate::error::AppError;
use crate::teams::Expertise;
use crate::templates::queries::{self, TemplateFilter};
use crate::templates::service::{self, TemplateFields};
use crate::templates::{Phase, Template};
use crate::users::User;

/// One phase of a template.
#[derive(SimpleObject)]
#[graphql(name = "TemplatePhase")]
pub struct PhaseObject {
    /// A short key, unique in the template; a run's `results` are keyed by it.
    pub code: String,
    /// A name for people; a run's steps are named after it.
    pub name: String,
    /// With `{{key}}` placeholders filled from a run's inputs.
    pub prompt: String,
    /// The team's active role with this title performs it...
    pub role_title: Option<String>,
    /// ...or else its first active role of this expertise.
    pub expertise: Option<Expertise>,
}

/// Reusable orchestration: ordered phases a run follows instead of one step per role.
#[Object]
impl Template {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// 1-255 characters, unique in its organization.
    async fn name(&self) -> &str {
        &self.name
    }

    /// What the template is for (at most 5000 characters); null when none.
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// A label for grouping templates (at most 100 characters); null when none.
    async fn category(&self) -> Option<&str> {
        self.category.as_deref()
    }

    /// The phases, in the order a run performs them.
    async fn phases(&self) -> Vec<PhaseObject> {
        self.phase_list()
            .into_iter()
            .map(|p| PhaseObject {
                code: p.code,
                name: p.name,
                prompt: p.prompt,
                role_title: p.role_title,
                expertise: p.expertise,
            })
            .collect()
    }

    /// Every organization can list and use a public template.
    async fn is_public(&self) -> bool {
        self.is_public
    }

    /// Whether the caller's organization owns it (and may change it).
    async fn is_own(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(ctx.actor()?.organization_id == self.organization_id)
    }

    /// Runs started from it, by any organization.
    async fn usage_count(&self) -> i32 {
        self.usage_count
    }

    /// Grows by one each time its phases change.
    async fn version(&self) -> i32 {
        self.version
    }

    /// The author, for the owning organization's members only.
    async fn created_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.created_by {
            Some(u) => ctx.loaders()?.load_one(UserKey(u)).await.gql(),
            None => Ok(None),
        }
    }

    /// When the template was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// Last change to the template.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }
}

/// Filters of `templates`.
#[derive(InputObject, Default)]
pub struct TemplateFilterInput {
    /// Only templates of this category.
    pub category: Option<String>,
    /// Also list other organizations' public templates (true when omitted).
    pub include_public: Option<bool>,
}

#[derive(Default)]
pub struct TemplateQuery;

#[Object]
impl TemplateQuery {
    /// The templates the organization can use: its own and public ones, newest first.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn templates(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Only templates matching every given condition; all of them when omitted."
        )]
        filter: Option<TemplateFilterInput>,
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
    ) -> async_graphql::Result<Connection<Cursor, Template, Total>> {
        let org = ctx.actor()?.organization_id;
        let input = filter.unwrap_or_default();
        let filter = TemplateFilter {
            category: input.category,
            include_public: input.include_public.unwrap_or(true),
        };
        let args = page_args(first, &after, last, &before);
        sql_page!(
            ctx,
            args,
            |conn| queries::count(&mut conn, org, &filter),
            |window| queries::list(&mut conn, org, &filter, window)
        )
    }

    /// One of the organization's templates, or a public one.
    async fn template(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The template's `id`; other organizations' private templates read as NOT_FOUND."
        )]
        id: ID,
    ) -> async_graphql::Result<Template> {
        load_by_id(ctx, &id, "template", TemplateKey).await
    }
}

/// A phase to store in a template.
#[derive(InputObject)]
pub struct PhaseInput {
    /// 1-50 characters, unique in the template.
    pub code: String,
    /// 1-100 characters.
    pub name: String,
    /// 1-10000 characters; `{{key}}` is replaced by the run input `key`.
    pub prompt: String,
    /// Give this or `expertise`.
    pub role_title: Option<String>,
    /// Used when `roleTitle` is not given: the team's first active role of this expertise
    /// performs the phase.
    pub expertise: Option<Expertise>,
}

fn phases(list: Vec<PhaseInput>) -> Vec<Phase> {
    list.into_iter()
        .map(|p| Phase {
            code: p.code,
            name: p.name,
            prompt: p.prompt,
            role_title: p.role_title,
            expertise: p.expertise,
        })
        .collect()
}

/// Input of `createTemplate`.
#[derive(InputObject)]
pub struct CreateTemplateInput {
    /// 1-255 characters, unique in the organization.
    pub name: String,
    /// What the template is for, at most 5000 characters.
    pub description: Option<String>,
    /// A label for grouping templates, at most 100 characters.
    pub category: Option<String>,
    /// 1-20 phases, in order.
    pub phases: Vec<PhaseInput>,
    /// False when omitted.
    pub is_public: Option<bool>,
}

/// The created template.
#[derive(SimpleObject)]
pub struct CreateTemplatePayload {
    /// The new template, version 1.
    pub template: Template,
}

/// Input of `updateTemplate`; omitted fields are left unchanged.
#[derive(InputObject)]
pub struct UpdateTemplateInput {
    /// The template to change (one of the organization's own).
    pub id: ID,
    /// 1-255 characters, unique in the organization.
    pub name: Option<String>,
    /// At most 5000 characters; `null` clears it.
    pub description: MaybeUndefined<String>,
    /// At most 100 characters; `null` clears it.
    pub category: MaybeUndefined<String>,
    /// Replaces the phases (a new version when they differ).
    pub phases: Option<Vec<PhaseInput>>,
    /// Whether every organization can list and use it.
    pub is_public: Option<bool>,
}

/// The changed template.
#[derive(SimpleObject)]
pub struct UpdateTemplatePayload {
    /// The template as it is now.
    pub template: Template,
}

/// Input of `deleteTemplate`.
#[derive(InputObject)]
pub struct DeleteTemplateInput {
    /// The template to delete (one of the organization's own).
    pub id: ID,
}

/// The deleted template.
#[derive(SimpleObject)]
pub struct DeleteTemplatePayload {
    /// The id of the deleted template; runs that followed it keep their steps.
    pub deleted_template_id: ID,
}

#[derive(Default)]
pub struct TemplateMutation;

#[Object]
impl TemplateMutation {
    /// Creates a template. Needs `templates.write`.
    async fn create_template(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The template's name, phases and visibility.")] input: CreateTemplateInput,
    ) -> async_graphql::Result<CreateTemplatePayload> {
        let actor = ctx.actor()?;
        let fields = TemplateFields {
            name: Some(input.name),
            description: Some(input.description),
            category: Some(input.category),
            phases: Some(phases(input.phases)),
            is_public: input.is_public,
        };
        let mut pooled = ctx.db().await?;
        let template = service::create_template(&mut pooled.conn(), actor, fields)
            .await
            .gql()?;
        Ok(CreateTemplatePayload { template })
    }

    /// Changes one of the organization's templates. Needs `templates.write`.
    async fn update_template(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The template and the fields to change.")] input: UpdateTemplateInput,
    ) -> async_graphql::Result<UpdateTemplatePayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "template").gql()?;
        let fields = TemplateFields {
            name: input.name,
            description: maybe(input.description, |v| v),
            category: maybe(input.category, |v| v),
            phases: input.phases.map(phases),
            is_public: input.is_public,
        };
        let mut pooled = ctx.db().await?;
        let template = service::update_template(&mut pooled.conn(), actor, id, fields)
            .await
            .gql()?;
        Ok(UpdateTemplatePayload { template })
    }

    /// Deletes one of the organization's templates. Needs `templates.write`.
    async fn delete_template(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The template to delete.")] input: DeleteTemplateInput,
    ) -> async_graphql::Result<DeleteTemplatePayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "template").gql()?;
        let mut pooled = ctx.db().await?;
        service::delete_template(&mut pooled.conn(), actor, id)
            .await
            .gql()?;
        Ok(DeleteTemplatePayload {
            deleted_template_id: input.id,
        })
    }
}
