//! The benchmark's data set: its size, and ids that both the seed (in SQL) and the load
//! generator (in Rust) derive from a row's kind and number, so nothing has to be looked up.

use clap::Args;

/// How big the data set is.
#[derive(Args, Debug, Clone, Copy)]
pub struct Size {
    /// Organizations.
    #[arg(long, default_value_t = 50)]
    pub orgs: u32,
    /// Digital assets per organization.
    #[arg(long, default_value_t = 2000)]
    pub assets: u32,
    /// Processing locations per asset (one in ten of all locations is inactive).
    #[arg(long, default_value_t = 3)]
    pub locations: u32,
    /// Data-processing activities per organization.
    #[arg(long, default_value_t = 20)]
    pub activities: u32,
    /// Average activity links per asset (each asset gets 0 to twice this many).
    #[arg(long, default_value_t = 5)]
    pub links: u32,
}

impl Size {
    pub fn describe(&self) -> String {
        format!(
            "{} organizations × {} assets × {} locations, {} activities per organization, {} links per asset on average",
            self.orgs, self.assets, self.locations, self.activities, self.links
        )
    }
}

/// Users per organization (owners of its assets).
pub const USERS_PER_ORG: u32 = 10;

/// Purposes per organization (every other location names one).
pub const PURPOSES_PER_ORG: u32 = 5;

/// The countries locations are spread over: EU, EEA, adequate and third countries, so that
/// `by-country` and transfer mechanisms see every case.
pub const COUNTRIES: &[&str] = &[
    "DE", "FR", "IE", "NL", "SE", "ES", "IT", "PL", "FI", "DK", "NO", "IS", "CH", "GB", "US", "CA",
    "JP", "KR", "IL", "NZ", "AR", "UY", "IN", "SG", "BR", "AU", "ZA", "AE", "MX", "CN",
];

/// Kinds of rows, the first group of their ids.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum Kind {
    Organization = 1,
    User = 2,
    Activity = 3,
    Asset = 4,
    Location = 5,
    Link = 6,
    Created = 7,
    Purpose = 8,
    /// Rows `bench abuse` adds for its attacks, and removes again.
    Abuse = 9,
}

/// The id of row `n` of `kind`: UUID-shaped like the service's own (`0000000k-0000-7000-8000-nnnn…`).
pub fn id(kind: Kind, n: u64) -> String {
    format!("{:08x}-0000-7000-8000-{n:012x}", kind as u32)
}

/// The same id in SQL, for `n` an SQL integer expression.
pub fn id_sql(kind: Kind, n: &str) -> String {
    format!(
        "('{:08x}-0000-7000-8000-' || lpad(to_hex(({n})::bigint), 12, '0'))",
        kind as u32
    )
}

/// Organization `o` (0-based).
pub fn org(o: u32) -> String {
    id(Kind::Organization, u64::from(o))
}

/// Asset `a` (0-based) of organization `o`.
pub fn asset(size: &Size, o: u32, a: u32) -> String {
    id(
        Kind::Asset,
        u64::from(o) * u64::from(size.assets) + u64::from(a),
    )
}

/// Purpose `p` of organization `o`.
pub fn purpose(o: u32, p: u32) -> String {
    id(
        Kind::Purpose,
        u64::from(o) * u64::from(PURPOSES_PER_ORG) + u64::from(p),
    )
}

/// User `u` of organization `o`.
pub fn user(o: u32, u: u32) -> String {
    id(
        Kind::User,
        u64::from(o) * u64::from(USERS_PER_ORG) + u64::from(u),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_shaped_and_distinct_per_kind() {
        assert_eq!(org(3), "00000001-0000-7000-8000-000000000003");
        assert_ne!(id(Kind::Asset, 3), id(Kind::User, 3));
        assert_eq!(id(Kind::Asset, 0x1234).len(), 36);
    }
}
