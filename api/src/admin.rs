//! `api admin`: organizations, users, purposes and data-processing activities, created or
//! updated idempotently, one at a time by flags or in bulk from a file.

use clap::Args;

use crate::StartupError;
use crate::config::Config;

/// `api admin …` (placeholder: being built).
#[derive(Debug, Args)]
pub struct AdminArgs {}

/// Runs an admin command.
pub async fn run(_config: &Config, _args: AdminArgs) -> Result<(), StartupError> {
    Err(StartupError::Config("`api admin` is not built yet".into()))
}
