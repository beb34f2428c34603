//! Cross-origin requests from browser apps: which origins may call the API
//! (`CORS_ALLOWED_ORIGINS`), answered by poem's CORS middleware (preflight, `Vary: Origin`).

use std::sync::Arc;

use poem::http::Method;
use poem::middleware::Cors;

/// Headers a browser app may send: the token, the body type, a request id, and those of
/// Apollo's clients (CSRF prevention, operation name, client identification).
const ALLOWED_HEADERS: [&str; 7] = [
    "authorization",
    "content-type",
    "x-request-id",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "apollographql-client-name",
    "apollographql-client-version",
];

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: i32 = 600;

/// The origins allowed: exact (`https://app.example.com`) or any port of a host
/// (`http://localhost:*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsOrigins(Vec<String>);

impl CorsOrigins {
    /// The embedded default's: a frontend on this machine, on any port.
    pub fn local() -> Self {
        Self(vec![
            "http://localhost:*".into(),
            "http://127.0.0.1:*".into(),
        ])
    }

    /// Parses `CORS_ALLOWED_ORIGINS` (comma-separated; empty: none).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut origins = Vec::new();
        for origin in list
            .split(',')
            .map(|o| o.trim().trim_end_matches('/'))
            .filter(|o| !o.is_empty())
        {
            let (scheme, rest) = origin.split_once("://").ok_or_else(|| {
                format!("`{origin}` is not an origin like https://app.example.com")
            })?;
            if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains('/') {
                return Err(format!(
                    "`{origin}` is not an origin like https://app.example.com (scheme, host and port only)"
                ));
            }
            origins.push(origin.to_ascii_lowercase());
        }
        Ok(Self(origins))
    }

    /// Whether a request from `origin` may be answered.
    pub fn allows(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.0
            .iter()
            .any(|allowed| match allowed.strip_suffix(":*") {
                Some(host) => origin
                    .strip_prefix(host)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .is_some_and(|port| {
                        !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                    }),
                None => *allowed == origin,
            })
    }

    /// The middleware, or none when no origin is allowed (then no CORS header is sent, and
    /// browsers keep other origins out).
    pub fn middleware(&self) -> Option<Cors> {
        if self.0.is_empty() {
            return None;
        }
        let origins = Arc::new(self.clone());
        Some(
            Cors::new()
                .allow_origins_fn(move |origin| origins.allows(origin))
                .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
                .allow_headers(ALLOWED_HEADERS)
                .expose_header("x-request-id")
                .max_age(PREFLIGHT_MAX_AGE),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_exactly_or_on_any_port() {
        let local = CorsOrigins::local();
        assert!(local.allows("http://localhost:3000"));
        assert!(local.allows("http://127.0.0.1:5173"));
        assert!(!local.allows("http://localhost"));
        assert!(!local.allows("http://localhost:3000.evil.example"));
        assert!(!local.allows("https://localhost:3000"));
        assert!(!local.allows("http://evil.example"));
        let listed =
            CorsOrigins::parse("https://app.example.com, https://admin.example.com/").unwrap();
        assert!(listed.allows("https://app.example.com"));
        assert!(listed.allows("https://ADMIN.example.com"));
        assert!(!listed.allows("https://app.example.com:8443"));
        assert!(CorsOrigins::parse("app.example.com").is_err());
        assert!(CorsOrigins::parse("https://app.example.com/path").is_err());
        assert_eq!(CorsOrigins::parse(" , ").unwrap(), CorsOrigins::default());
    }
}
