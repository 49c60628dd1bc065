//! Process-wide state shared by every request.

use crate::auth::token::TokenKeys;
use crate::db::{Pool, StatementCounter};
use crate::events::EventBus;

#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub keys: TokenKeys,
    pub bus: EventBus,
    /// SQL statements run by this process.
    pub statements: StatementCounter,
}
