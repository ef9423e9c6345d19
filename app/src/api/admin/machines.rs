//! A machine's actions on its page: what its drivers can run, the history with outputs, and
//! asking for one (the same request `loaner action` makes).

use leptos::prelude::*;

use crate::error::AppError;
use crate::types::{ActionId, MachineActions, MachineId};

#[cfg(feature = "ssr")]
impl From<crate::server::machine_actions::ActionError> for AppError {
    fn from(err: crate::server::machine_actions::ActionError) -> Self {
        use crate::server::machine_actions::ActionError;
        match err {
            ActionError::NoMachine(what) => AppError::NotFound(format!("Machine {what}")),
            ActionError::Refused(field, message) => AppError::field(field, message),
            ActionError::Db(err) => err.into(),
        }
    }
}

/// What the machine can run now, whose loan an action would disturb, and its latest actions.
#[server(prefix = "/api/admin", endpoint = "get_machine_actions")]
pub async fn get_machine_actions(id: MachineId) -> Result<MachineActions, AppError> {
    use crate::server::{context, machine_actions};
    let (state, _) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    machine_actions::overview(&mut conn, id)
        .await
        .map_err(context::fail)
}

/// Asks for `action` on machine `id` (a reason is required when it disturbs a borrower).
#[server(prefix = "/api/admin", endpoint = "run_machine_action")]
pub async fn run_machine_action(
    id: MachineId,
    action: String,
    reason: String,
) -> Result<ActionId, AppError> {
    use crate::server::context;
    use crate::server::machine_actions::{self, Requester};
    use crate::types::Action;
    let (state, admin) = context::require_admin().await?;
    let action = Action::parse(&action)
        .ok_or_else(|| context::fail(AppError::field("action", "Choose an action.")))?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    machine_actions::request(
        &mut conn,
        Requester::Admin(&admin),
        id,
        action,
        &reason,
        state.clock.now(),
    )
    .await
    .map_err(context::fail)
}
