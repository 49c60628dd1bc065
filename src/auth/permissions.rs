//! Organization roles and the permissions they grant, checked in one place.

use crate::db_enum;
use crate::error::{AppError, AppResult};

db_enum! {
    /// A user's role in their organization.
    pub enum OrgRole {
        /// Everything, including user, key and organization management.
        Admin => "admin",
        /// Projects, teams, roles, runs and schedules.
        Manager => "manager",
        /// Read everything; start runs; own availability and time off.
        Member => "member",
        /// Read-only.
        Viewer => "viewer",
    }
}

/// A capability checked before a mutation or a sensitive read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    TeamsWrite,
    RolesWrite,
    RunsStart,
    RunsCancel,
    SchedulesWrite,
    ProjectsWrite,
    TemplatesWrite,
    UsersManage,
    AuditRead,
    ApiKeysManage,
    OrganizationManage,
    WebhooksManage,
    BillingRead,
    /// Talk to a team's agents (conversations cost tokens, like runs).
    ConversationsUse,
    /// Upload and delete the organization's documents.
    DocumentsWrite,
}

impl Permission {
    pub const ALL: &'static [Permission] = &[
        Permission::TeamsWrite,
        Permission::RolesWrite,
        Permission::RunsStart,
        Permission::RunsCancel,
        Permission::SchedulesWrite,
        Permission::ProjectsWrite,
        Permission::TemplatesWrite,
        Permission::UsersManage,
        Permission::AuditRead,
        Permission::ApiKeysManage,
        Permission::OrganizationManage,
        Permission::WebhooksManage,
        Permission::BillingRead,
        Permission::ConversationsUse,
        Permission::DocumentsWrite,
    ];

    /// The name used in error messages and in users' extra-permission lists.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::TeamsWrite => "teams.write",
            Permission::RolesWrite => "roles.write",
            Permission::RunsStart => "runs.start",
            Permission::RunsCancel => "runs.cancel",
            Permission::SchedulesWrite => "schedules.write",
            Permission::ProjectsWrite => "projects.write",
            Permission::TemplatesWrite => "templates.write",
            Permission::UsersManage => "users.manage",
            Permission::AuditRead => "audit.read",
            Permission::ApiKeysManage => "api_keys.manage",
            Permission::OrganizationManage => "organization.manage",
            Permission::WebhooksManage => "webhooks.manage",
            Permission::BillingRead => "billing.read",
            Permission::ConversationsUse => "conversations.use",
            Permission::DocumentsWrite => "documents.write",
        }
    }

    pub fn parse(name: &str) -> Option<Permission> {
        Permission::ALL.iter().copied().find(|p| p.as_str() == name)
    }
}

impl OrgRole {
    /// Whether this role grants `permission` on its own.
    pub fn grants(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            OrgRole::Admin => true,
            OrgRole::Manager => matches!(
                permission,
                TeamsWrite
                    | RolesWrite
                    | RunsStart
                    | RunsCancel
                    | SchedulesWrite
                    | ProjectsWrite
                    | TemplatesWrite
                    | BillingRead
                    | ConversationsUse
                    | DocumentsWrite
            ),
            OrgRole::Member => matches!(permission, RunsStart | ConversationsUse | DocumentsWrite),
            OrgRole::Viewer => false,
        }
    }
}

/// Who is making a request, as established by authentication.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: crate::db::Id,
    pub organization_id: crate::db::Id,
    pub role: OrgRole,
    /// Extra permissions granted to this user beyond their role.
    pub extra_permissions: Vec<Permission>,
    /// Where the request came from, for the audit trail.
    pub request: crate::audit::RequestInfo,
    /// Audit rows this request wrote, published once it succeeds.
    pub audit: crate::audit::AuditSink,
    /// The API key the request authenticated with, if any.
    pub api_key_id: Option<crate::db::Id>,
    /// An API key's scopes: the actor may do only what these list (and the owner may).
    pub scopes: Option<Vec<Permission>>,
    /// The organization's API quota as of this request's authentication.
    pub quota: Option<crate::organizations::quota::QuotaState>,
}

impl Actor {
    pub fn can(&self, permission: Permission) -> bool {
        (self.role.grants(permission) || self.extra_permissions.contains(&permission))
            && self
                .scopes
                .as_ref()
                .is_none_or(|scopes| scopes.contains(&permission))
    }

    /// FORBIDDEN naming the permission, unless the actor holds it.
    pub fn require(&self, permission: Permission) -> AppResult<()> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(AppError::forbidden(permission.as_str()))
        }
    }
}
