//! Bearer tokens: see the `identity` crate. The server turns a verified caller into the tenant
//! every service call is scoped to.

pub use identity::{AuthError, Caller, Claims, Keys};
use service::Tenant;

/// The tenant of an `Authorization` header value.
pub fn tenant(keys: &Keys, header: Option<&str>) -> Result<Tenant, AuthError> {
    let caller = keys.authenticate(header)?;
    Ok(Tenant::new(caller.organization_id, caller.user_id))
}
