//! A GraphQL API gateway for a multi-tenant AI-workforce platform.

pub mod api_usage;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod clock;
pub mod config;
pub mod db;
pub mod documents;
pub mod engine;
pub mod error;
pub mod events;
pub mod graphql;
pub mod organizations;
pub mod pagination;
pub mod projects;
pub mod run_schedules;
pub mod runs;
pub mod scheduling;
pub mod seed;
pub mod server;
pub mod settings;
pub mod state;
pub mod teams;
pub mod templates;
pub mod users;
pub mod webhooks;
