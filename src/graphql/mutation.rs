use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{ContextExt, parse_id};
use super::errors::GqlResult;
use super::scalars::Decimal;
use crate::auth::api_keys::ApiKey;
use crate::auth::permissions::OrgRole;
use crate::auth::service::{self as auth, SignUpInput as SignUp};
use crate::db::Id;
use crate::error::AppError;
use crate::events::{ChangeKind, Event};
use crate::organizations::{Organization, Plan};
use crate::runs::service::{self as run_service, ExecutionConfigInput as RunConfig};
use crate::runs::{QualityPreference, Run};
use crate::teams::{
    Expertise, NewRoleInput, NewTeamInput, Role, RoleChanges, Team, TeamChanges, service,
};
use crate::users::User;
use crate::users::service::{self as user_service, AccessChange};

#[derive(Default)]
pub struct Mutation;

/// Input of `signUp`.
#[derive(InputObject)]
pub struct SignUpInput {
    /// The new organization's display name, 1-255 characters.
    pub organization_name: String,
    /// URL-safe handle: 3-50 lowercase letters, digits and inner hyphens.
    pub slug: String,
    /// The first admin's sign-in address; unique across all organizations.
    pub email: String,
    /// 3-50 letters, digits, '_', '-' or '.'.
    pub username: String,
    /// 8-128 characters.
    pub password: String,
    /// The first admin's display name.
    pub full_name: Option<String>,
}

/// A session token and whom it belongs to.
#[derive(SimpleObject)]
pub struct SignUpPayload {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When the token stops working; sign in again after it.
    pub expires_at: DateTime<Utc>,
    /// The new admin.
    pub user: User,
    /// The new organization.
    pub organization: Organization,
}

/// Input of `login`.
#[derive(InputObject)]
pub struct LoginInput {
    /// The address the account was created with (case-insensitive).
    pub email: String,
    /// The account's password.
    pub password: String,
}

/// A session token and whom it belongs to.
#[derive(SimpleObject)]
pub struct LoginPayload {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When the token stops working; sign in again after it.
    pub expires_at: DateTime<Utc>,
    /// The signed-in user.
    pub user: User,
    /// The user's organization.
    pub organization: Organization,
}

/// A role to create.
#[derive(InputObject)]
pub struct RoleInput {
    /// 1-100 characters, unique within the team.
    pub title: String,
    /// At most 500 characters.
    pub description: Option<String>,
    /// How experienced the agent is; its prompt states it.
    pub expertise: Expertise,
    /// One of the supported models; `gpt-3.5-turbo` when omitted.
    pub llm_model: Option<String>,
    /// Model parameters, a JSON object.
    pub llm_config: Option<Json<serde_json::Value>>,
    /// Agent configuration, a JSON object.
    pub agent_config: Option<Json<serde_json::Value>>,
    /// Active unless `false`.
    pub is_active: Option<bool>,
}

impl From<RoleInput> for NewRoleInput {
    fn from(r: RoleInput) -> Self {
        NewRoleInput {
            title: r.title,
            description: r.description,
            expertise: r.expertise,
            llm_model: r.llm_model,
            llm_config: r.llm_config.map(|j| j.0),
            agent_config: r.agent_config.map(|j| j.0),
            is_active: r.is_active,
        }
    }
}

/// Input of `createTeam`.
#[derive(InputObject)]
pub struct CreateTeamInput {
    /// 1-100 characters after HTML tags are stripped; unique in the organization.
    pub name: String,
    /// At most 1000 characters.
    pub description: Option<String>,
    /// Greater than 0, at most 10000, at most 2 decimals.
    pub monthly_budget: Decimal,
    /// Up to 10 roles to create with the team; at least one active when given.
    pub roles: Option<Vec<RoleInput>>,
    /// The project the team works for.
    pub project_id: Option<ID>,
}

/// The created team.
#[derive(SimpleObject)]
pub struct CreateTeamPayload {
    /// The team with its roles.
    pub team: Team,
}

/// Input of `updateTeam`; omitted fields are left unchanged.
#[derive(InputObject)]
pub struct UpdateTeamInput {
    /// The team to change.
    pub id: ID,
    /// 1-100 characters after HTML tags are stripped; unique in the organization.
    pub name: Option<String>,
    /// `null` clears the description.
    pub description: MaybeUndefined<String>,
    /// Greater than 0, at most 10000, at most 2 decimals.
    pub monthly_budget: Option<Decimal>,
    /// Moves the team to this project; `null` takes it out of its project.
    pub project_id: MaybeUndefined<ID>,
}

/// The changed team.
#[derive(SimpleObject)]
pub struct UpdateTeamPayload {
    /// The team as it is now.
    pub team: Team,
}

/// Input of `deleteTeam`.
#[derive(InputObject)]
pub struct DeleteTeamInput {
    /// The team to delete.
    pub id: ID,
}

/// The deleted team.
#[derive(SimpleObject)]
pub struct DeleteTeamPayload {
    /// The id of the deleted team.
    pub deleted_team_id: ID,
}

/// Input of `addRole`.
#[derive(InputObject)]
pub struct AddRoleInput {
    /// The team to add the role to (at most 10 roles per team).
    pub team_id: ID,
    /// The role to create.
    pub role: RoleInput,
}

/// The added role.
#[derive(SimpleObject)]
pub struct AddRolePayload {
    /// The role, placed after the team's other roles.
    pub role: Role,
}

/// Input of `updateRole`; omitted fields are left unchanged.
#[derive(InputObject)]
pub struct UpdateRoleInput {
    /// The role to change.
    pub id: ID,
    /// 1-100 characters, unique within the team.
    pub title: Option<String>,
    /// `null` clears the description.
    pub description: MaybeUndefined<String>,
    /// How experienced the agent is.
    pub expertise: Option<Expertise>,
    /// One of the supported models.
    pub llm_model: Option<String>,
    /// `null` clears it.
    pub llm_config: MaybeUndefined<Json<serde_json::Value>>,
    /// `null` clears it.
    pub agent_config: MaybeUndefined<Json<serde_json::Value>>,
    /// Inactive roles take no part in new runs (a team needs one active role to start a run).
    pub is_active: Option<bool>,
}

/// The changed role.
#[derive(SimpleObject)]
pub struct UpdateRolePayload {
    /// The role as it is now.
    pub role: Role,
}

/// Input of `removeRole`.
#[derive(InputObject)]
pub struct RemoveRoleInput {
    /// The role to remove.
    pub id: ID,
}

/// The removed role.
#[derive(SimpleObject)]
pub struct RemoveRolePayload {
    /// The id of the removed role.
    pub removed_role_id: ID,
    /// The team the role was removed from.
    pub team: Option<Team>,
}

/// Input of `reorderRoles`.
#[derive(InputObject)]
pub struct ReorderRolesInput {
    /// The team whose roles to order.
    pub team_id: ID,
    /// Every role of the team, each once, in the new order.
    pub role_ids: Vec<ID>,
}

/// The reordered team.
#[derive(SimpleObject)]
pub struct ReorderRolesPayload {
    /// The team, its roles in the new order.
    pub team: Team,
}

/// Input of `createUser`.
#[derive(InputObject)]
pub struct CreateUserInput {
    /// The new user's sign-in address; unique across all organizations.
    pub email: String,
    /// 3-50 letters, digits, '_', '-' or '.'.
    pub username: String,
    /// The initial password, 8-128 characters.
    pub password: String,
    /// Display name.
    pub full_name: Option<String>,
    /// MEMBER when omitted.
    pub org_role: Option<OrgRole>,
    /// Extra permissions beyond the role, e.g. `audit.read`.
    pub permissions: Option<Vec<String>>,
}

/// The added user.
#[derive(SimpleObject)]
pub struct CreateUserPayload {
    /// The user, active at once.
    pub user: User,
}

/// Input of `updateUser`; omitted fields are left unchanged.
#[derive(InputObject)]
pub struct UpdateUserInput {
    /// The user to change.
    pub id: ID,
    /// `null` clears the name.
    pub full_name: MaybeUndefined<String>,
    /// Needs `users.manage`.
    pub org_role: Option<OrgRole>,
    /// Replaces the extra permissions. Needs `users.manage`.
    pub permissions: Option<Vec<String>>,
    /// Replaces the preferences (a JSON object).
    pub preferences: Option<Json<serde_json::Value>>,
}

/// The changed user.
#[derive(SimpleObject)]
pub struct UpdateUserPayload {
    /// The user as it is now.
    pub user: User,
}

/// Input of `deactivateUser`, `activateUser` and `deleteUser`.
#[derive(InputObject)]
pub struct UserIdInput {
    /// The user.
    pub id: ID,
}

/// A user after access was granted or withdrawn.
#[derive(SimpleObject)]
pub struct UserAccessPayload {
    /// The user as it is now (see `isActive`).
    pub user: User,
}

/// The deleted user.
#[derive(SimpleObject)]
pub struct DeleteUserPayload {
    /// The id of the deleted user.
    pub deleted_user_id: ID,
}

/// Input of `changePassword`.
#[derive(InputObject)]
pub struct ChangePasswordInput {
    /// Your password now.
    pub current_password: String,
    /// 8-128 characters.
    pub new_password: String,
}

/// The account whose password changed.
#[derive(SimpleObject)]
pub struct ChangePasswordPayload {
    /// You; your existing sessions keep working.
    pub user: User,
}

/// Input of `createApiKey`.
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// 1-100 characters.
    pub name: String,
    /// Permissions the key may use, among your own (e.g. `runs.start`). A key with no
    /// scopes can only read.
    pub scopes: Vec<String>,
    /// When the key stops working; never when omitted.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new API key and its secret.
#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    /// The key's details (without the secret).
    pub api_key: ApiKey,
    /// The key itself: shown this once, store it now. Send it as
    /// `Authorization: Bearer <key>` or `X-Api-Key: <key>`.
    pub secret: String,
}

/// Input of `revokeApiKey`.
#[derive(InputObject)]
pub struct RevokeApiKeyInput {
    /// The key to revoke.
    pub id: ID,
}

/// The revoked key.
#[derive(SimpleObject)]
pub struct RevokeApiKeyPayload {
    /// The key, with `revokedAt` set.
    pub api_key: ApiKey,
}

/// Input of `updateOrganization`; omitted fields are left unchanged.
#[derive(InputObject)]
pub struct UpdateOrganizationInput {
    /// 1-255 characters.
    pub name: Option<String>,
    /// Replaces the settings (a JSON object, at most 64 KiB).
    pub settings: Option<Json<serde_json::Value>>,
    /// A new plan sets its limits and starts a new billing period, as `changePlan` does.
    pub plan: Option<Plan>,
}

/// The changed organization.
#[derive(SimpleObject)]
pub struct UpdateOrganizationPayload {
    /// The organization as it is now.
    pub organization: Organization,
}

/// Execution settings of a run; omitted fields take the defaults.
#[derive(InputObject, Default)]
pub struct ExecutionConfigInput {
    /// Agent attempts a step may take before it fails (1-20, default 5).
    pub max_iterations: Option<i32>,
    /// Wall-clock limit of the run in minutes (1-1440, default 30).
    pub timeout_minutes: Option<i32>,
    /// Length of the agents' answers (default BALANCED).
    pub quality_preference: Option<QualityPreference>,
}

/// Input of `startRun`.
#[derive(InputObject)]
pub struct StartRunInput {
    /// The team to run; it needs an active role, and budget left for the estimate.
    pub team_id: ID,
    /// The project the run is for; the team's project when omitted.
    pub project_id: Option<ID>,
    /// Follow this template (the organization's own or a public one): one step per
    /// phase, each by the team's role the phase names, its prompt filled from `inputs`.
    pub template_id: Option<ID>,
    /// What the team works on: a non-empty JSON object (at most 64 KiB).
    pub inputs: Json<serde_json::Value>,
    /// Attempts, time limit and answer length; defaults when omitted.
    pub execution_config: Option<ExecutionConfigInput>,
}

/// The started run.
#[derive(SimpleObject)]
pub struct StartRunPayload {
    /// The run, PENDING until a worker picks it up.
    pub run: Run,
}

/// Input of `cancelRun`.
#[derive(InputObject)]
pub struct CancelRunInput {
    /// The run to cancel.
    pub id: ID,
    /// Why, kept as the run's error message (at most 500 characters).
    pub reason: Option<String>,
}

/// The cancelled run.
#[derive(SimpleObject)]
pub struct CancelRunPayload {
    /// The run, CANCELLED, with its open steps cancelled.
    pub run: Run,
}

/// A field that may be omitted (unchanged), `null` (cleared) or given.
pub(crate) fn maybe<T, U>(value: MaybeUndefined<T>, f: impl FnOnce(T) -> U) -> Option<Option<U>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(f(v))),
    }
}

fn team_changed(ctx: &Context<'_>, organization_id: Id, team_id: Id, kind: ChangeKind) {
    ctx.state()
        .bus
        .publish(Event::team_changed(organization_id, team_id, kind));
}

async fn change_access(
    ctx: &Context<'_>,
    id: &ID,
    change: AccessChange,
) -> async_graphql::Result<User> {
    let actor = ctx.actor()?;
    let id = parse_id(id, "user").gql()?;
    let mut pooled = ctx.db().await?;
    user_service::change_access(&mut pooled.conn(), actor, id, change)
        .await
        .gql()
}

fn expires_at(ctx: &Context<'_>) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(ctx.state().keys.ttl_seconds())
}

#[Object(name = "CoreMutation")]
impl Mutation {
    /// Creates an organization and its first admin, and returns a session token.
    async fn sign_up(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organization, its handle, and the first admin's account.")]
        input: SignUpInput,
    ) -> async_graphql::Result<SignUpPayload> {
        let mut pooled = ctx.db().await?;
        let request = ctx.request_context().request.clone();
        let input = SignUp {
            organization_name: input.organization_name,
            slug: input.slug,
            email: input.email,
            username: input.username,
            password: input.password,
            full_name: input.full_name,
        };
        let session = auth::sign_up(&mut pooled.conn(), &ctx.state().keys, input, request)
            .await
            .gql()?;
        Ok(SignUpPayload {
            token: session.token,
            expires_at: expires_at(ctx),
            user: session.user,
            organization: session.organization,
        })
    }

    /// Exchanges an email and password for a session token.
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's email address and password.")] input: LoginInput,
    ) -> async_graphql::Result<LoginPayload> {
        let request = &ctx.request_context().request;
        let account = input.email.trim().to_lowercase();
        let throttle = &ctx.state().logins;
        throttle
            .before_attempt(&account, request.ip_address.as_deref())
            .await
            .gql()?;
        let mut pooled = ctx.db().await?;
        let failures = crate::audit::AuditSink::default();
        let session = auth::login(
            &mut pooled.conn(),
            &ctx.state().keys,
            &input.email,
            &input.password,
            &ctx.request_context().request,
            &failures,
        )
        .await;
        for row in failures.take() {
            ctx.state()
                .bus
                .publish(Event::Audit(std::sync::Arc::new(row)));
        }
        match &session {
            Ok(_) => throttle.succeeded(&account),
            Err(e) if e.code() == "UNAUTHENTICATED" => {
                throttle.failed(&account, request.ip_address.as_deref())
            }
            Err(_) => {}
        }
        let session = session.gql()?;
        Ok(LoginPayload {
            token: session.token,
            expires_at: expires_at(ctx),
            user: session.user,
            organization: session.organization,
        })
    }

    /// Creates a team, optionally with its roles. Needs `teams.write`.
    async fn create_team(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The team's name, budget, project and first roles.")]
        input: CreateTeamInput,
    ) -> async_graphql::Result<CreateTeamPayload> {
        let actor = ctx.actor()?;
        let mut pooled = ctx.db().await?;
        let input = NewTeamInput {
            name: input.name,
            description: input.description,
            monthly_budget: input.monthly_budget.value,
            roles: input
                .roles
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            project_id: input
                .project_id
                .as_ref()
                .map(|p| parse_id(p, "project"))
                .transpose()
                .gql()?,
        };
        let (team, _) = service::create_team(&mut pooled.conn(), actor, input)
            .await
            .gql()?;
        team_changed(ctx, team.organization_id, team.id, ChangeKind::Created);
        Ok(CreateTeamPayload { team })
    }

    /// Changes a team's name, description or budget. Needs `teams.write`.
    async fn update_team(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The team and the fields to change.")] input: UpdateTeamInput,
    ) -> async_graphql::Result<UpdateTeamPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "team").gql()?;
        let changes = TeamChanges {
            name: input.name,
            description: maybe(input.description, |d| d),
            monthly_budget: input.monthly_budget.map(|b| b.value),
            project_id: match input.project_id {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(p) => Some(Some(parse_id(&p, "project").gql()?)),
            },
        };
        let mut pooled = ctx.db().await?;
        let team = service::update_team(&mut pooled.conn(), actor, id, changes)
            .await
            .gql()?;
        team_changed(ctx, team.organization_id, team.id, ChangeKind::Updated);
        Ok(UpdateTeamPayload { team })
    }

    /// Deletes a team (softly: its runs keep their history). Needs `teams.write`.
    async fn delete_team(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The team to delete.")] input: DeleteTeamInput,
    ) -> async_graphql::Result<DeleteTeamPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "team").gql()?;
        let mut pooled = ctx.db().await?;
        let team = service::delete_team(&mut pooled.conn(), actor, id)
            .await
            .gql()?;
        team_changed(ctx, team.organization_id, team.id, ChangeKind::Deleted);
        Ok(DeleteTeamPayload {
            deleted_team_id: input.id,
        })
    }

    /// Adds a role at the end of a team's roles. Needs `roles.write`.
    async fn add_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The team and the role to add.")] input: AddRoleInput,
    ) -> async_graphql::Result<AddRolePayload> {
        let actor = ctx.actor()?;
        let team_id = parse_id(&input.team_id, "team").gql()?;
        let mut pooled = ctx.db().await?;
        let role = service::add_role(&mut pooled.conn(), actor, team_id, input.role.into())
            .await
            .gql()?;
        team_changed(ctx, role.organization_id, role.team_id, ChangeKind::Updated);
        Ok(AddRolePayload { role })
    }

    /// Changes a role. Needs `roles.write`.
    async fn update_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role and the fields to change.")] input: UpdateRoleInput,
    ) -> async_graphql::Result<UpdateRolePayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "role").gql()?;
        let changes = RoleChanges {
            title: input.title,
            description: maybe(input.description, |d| d),
            expertise: input.expertise,
            llm_model: input.llm_model,
            llm_config: maybe(input.llm_config, |j| j.0),
            agent_config: maybe(input.agent_config, |j| j.0),
            is_active: input.is_active,
        };
        let mut pooled = ctx.db().await?;
        let role = service::update_role(&mut pooled.conn(), actor, id, changes)
            .await
            .gql()?;
        team_changed(ctx, role.organization_id, role.team_id, ChangeKind::Updated);
        Ok(UpdateRolePayload { role })
    }

    /// Removes a role from its team. Needs `roles.write`.
    async fn remove_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role to remove.")] input: RemoveRoleInput,
    ) -> async_graphql::Result<RemoveRolePayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "role").gql()?;
        let mut pooled = ctx.db().await?;
        let mut conn = pooled.conn();
        let role = service::remove_role(&mut conn, actor, id).await.gql()?;
        let team = crate::teams::queries::find(&mut conn, actor.organization_id, role.team_id)
            .await
            .map_err(AppError::from)
            .gql()?;
        team_changed(ctx, role.organization_id, role.team_id, ChangeKind::Updated);
        Ok(RemoveRolePayload {
            removed_role_id: input.id,
            team,
        })
    }

    /// Sets the order of a team's roles. Needs `roles.write`.
    async fn reorder_roles(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The team and all of its role ids in the new order.")]
        input: ReorderRolesInput,
    ) -> async_graphql::Result<ReorderRolesPayload> {
        let actor = ctx.actor()?;
        let team_id = parse_id(&input.team_id, "team").gql()?;
        let role_ids = input
            .role_ids
            .iter()
            .map(|id| parse_id(id, "role"))
            .collect::<Result<Vec<_>, _>>()
            .gql()?;
        let mut pooled = ctx.db().await?;
        let team = service::reorder_roles(&mut pooled.conn(), actor, team_id, role_ids)
            .await
            .gql()?;
        team_changed(ctx, team.organization_id, team.id, ChangeKind::Updated);
        Ok(ReorderRolesPayload { team })
    }

    /// Adds a user to the caller's organization, within its `maxUsers`. Needs
    /// `users.manage`, and only hands out permissions the caller holds.
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new user's account, role and extra permissions.")]
        input: CreateUserInput,
    ) -> async_graphql::Result<CreateUserPayload> {
        let actor = ctx.actor()?;
        let mut pooled = ctx.db().await?;
        let user = user_service::create_user(
            &mut pooled.conn(),
            actor,
            user_service::NewUserInput {
                email: input.email,
                username: input.username,
                password: input.password,
                full_name: input.full_name,
                org_role: input.org_role.unwrap_or(OrgRole::Member),
                permissions: input.permissions.unwrap_or_default(),
            },
        )
        .await
        .gql()?;
        Ok(CreateUserPayload { user })
    }

    /// Updates a user. Your own name and preferences are yours to change; roles,
    /// permissions and other users need `users.manage`. The last active admin stays one.
    async fn update_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user and the fields to change.")] input: UpdateUserInput,
    ) -> async_graphql::Result<UpdateUserPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "user").gql()?;
        let changes = user_service::UserChanges {
            full_name: maybe(input.full_name, |n| n),
            org_role: input.org_role,
            permissions: input.permissions,
            preferences: input.preferences.map(|j| j.0),
        };
        let mut pooled = ctx.db().await?;
        let user = user_service::update_user(&mut pooled.conn(), actor, id, changes)
            .await
            .gql()?;
        Ok(UpdateUserPayload { user })
    }

    /// Deactivates a user: their sessions stop working at once. Needs `users.manage`.
    async fn deactivate_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user to deactivate.")] input: UserIdInput,
    ) -> async_graphql::Result<UserAccessPayload> {
        let user = change_access(ctx, &input.id, AccessChange::Deactivate).await?;
        Ok(UserAccessPayload { user })
    }

    /// Reactivates a deactivated user. Needs `users.manage`.
    async fn activate_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user to reactivate.")] input: UserIdInput,
    ) -> async_graphql::Result<UserAccessPayload> {
        let user = change_access(ctx, &input.id, AccessChange::Activate).await?;
        Ok(UserAccessPayload { user })
    }

    /// Deletes a user (softly: the audit trail keeps naming them). Needs `users.manage`.
    async fn delete_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user to delete.")] input: UserIdInput,
    ) -> async_graphql::Result<DeleteUserPayload> {
        change_access(ctx, &input.id, AccessChange::Delete).await?;
        Ok(DeleteUserPayload {
            deleted_user_id: input.id,
        })
    }

    /// Changes your own password.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Your current password and the new one.")] input: ChangePasswordInput,
    ) -> async_graphql::Result<ChangePasswordPayload> {
        let actor = ctx.actor()?;
        let mut pooled = ctx.db().await?;
        let user = user_service::change_password(
            &mut pooled.conn(),
            actor,
            input.current_password,
            input.new_password,
        )
        .await
        .gql()?;
        Ok(ChangePasswordPayload { user })
    }

    /// Updates your organization's name, settings or plan. Needs `organization.manage`.
    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The fields to change.")] input: UpdateOrganizationInput,
    ) -> async_graphql::Result<UpdateOrganizationPayload> {
        let actor = ctx.actor()?;
        let mut pooled = ctx.db().await?;
        let organization = crate::organizations::update(
            &mut pooled.conn(),
            actor,
            crate::organizations::OrganizationChanges {
                name: input.name,
                settings: input.settings.map(|j| j.0),
                plan: input.plan,
            },
        )
        .await
        .gql()?;
        Ok(UpdateOrganizationPayload { organization })
    }

    /// Creates an API key for yourself. Needs `api_keys.manage`.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key's name, scopes and expiry.")] input: CreateApiKeyInput,
    ) -> async_graphql::Result<CreateApiKeyPayload> {
        let actor = ctx.actor()?;
        let mut pooled = ctx.db().await?;
        let (api_key, secret) = crate::auth::api_keys::create(
            &mut pooled.conn(),
            actor,
            &input.name,
            &input.scopes,
            input.expires_at.map(crate::db::Timestamp),
        )
        .await
        .gql()?;
        Ok(CreateApiKeyPayload { api_key, secret })
    }

    /// Revokes an API key of the organization: it stops working at once. Needs
    /// `api_keys.manage`.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to revoke.")] input: RevokeApiKeyInput,
    ) -> async_graphql::Result<RevokeApiKeyPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "API key").gql()?;
        let mut pooled = ctx.db().await?;
        let api_key = crate::auth::api_keys::revoke(&mut pooled.conn(), actor, id)
            .await
            .gql()?;
        Ok(RevokeApiKeyPayload { api_key })
    }

    /// Starts a run of a team: one step per active role, in order. Returns at once
    /// with the PENDING run; watch it with the `runUpdates` subscription. Needs
    /// `runs.start`. BUDGET_EXCEEDED when the estimated cost does not fit the team's
    /// remaining monthly budget.
    async fn start_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The team, what it works on, and how.")] input: StartRunInput,
    ) -> async_graphql::Result<StartRunPayload> {
        let actor = ctx.actor()?;
        let team_id = parse_id(&input.team_id, "team").gql()?;
        let config = input.execution_config.unwrap_or_default();
        let config = RunConfig {
            max_iterations: config.max_iterations,
            timeout_minutes: config.timeout_minutes,
            quality_preference: config.quality_preference,
        };
        let mut pooled = ctx.db().await?;
        let state = ctx.state();
        let template_id = input
            .template_id
            .as_ref()
            .map(|t| parse_id(t, "template"))
            .transpose()
            .gql()?;
        let request = run_service::RunRequest {
            team_id,
            project_id: input
                .project_id
                .as_ref()
                .map(|p| parse_id(p, "project"))
                .transpose()
                .gql()?,
            template_id,
            schedule_id: None,
            inputs: input.inputs.0,
            config,
        };
        let (run, events) = run_service::start_run(&mut pooled.conn(), &state.bus, actor, request)
            .await
            .gql()?;
        state.bus.publish_runs(events);
        state.runs.wake();
        if let Some(template) = template_id
            && let Err(error) =
                crate::templates::queries::count_use(&mut pooled.conn(), template).await
        {
            // A statistic: the run is started either way.
            tracing::warn!(%error, %template, "counting a template's use failed");
        }
        Ok(StartRunPayload { run })
    }

    /// Cancels a pending or running run before its next step; a step in flight is
    /// abandoned (its answer is neither stored nor charged). Needs `runs.cancel`.
    /// CONFLICT when the run already ended.
    async fn cancel_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run and, optionally, why.")] input: CancelRunInput,
    ) -> async_graphql::Result<CancelRunPayload> {
        let actor = ctx.actor()?;
        let run_id = parse_id(&input.id, "run").gql()?;
        let mut pooled = ctx.db().await?;
        let state = ctx.state();
        let (run, events) =
            run_service::cancel_run(&mut pooled.conn(), &state.bus, actor, run_id, input.reason)
                .await
                .gql()?;
        state.runs.abandon(run.id);
        state.bus.publish_runs(events);
        Ok(CancelRunPayload { run })
    }
}
