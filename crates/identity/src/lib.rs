//! Identity: bearer tokens, HS256 JWTs carrying `sub` (user), `org_id` (organization) and `exp`;
//! signing them (the `api token` command, the benchmarks, tests) and verifying them (the server).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub organization_id: String,
    /// The token's `sub`.
    pub user_id: String,
}

/// The claims a token must carry.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub org_id: String,
    pub exp: u64,
}

/// Signs and checks tokens with one secret.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<secret>)")
    }
}

/// Why a request is not authenticated (said to the client as is).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("invalid bearer token: {0}")]
    Invalid(String),
}

impl Keys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 30;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A token for `org_id` and `sub`, valid for `ttl`.
    pub fn sign(
        &self,
        org_id: &str,
        sub: &str,
        ttl: std::time::Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + ttl.as_secs();
        let claims = Claims {
            sub: sub.to_owned(),
            org_id: org_id.to_owned(),
            exp,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The caller of an `Authorization` header value.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Caller, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AuthError::Missing)?
            .trim();
        // Decoded as a map, so that a missing or mistyped claim is named in the answer.
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &self.decoding,
            &self.validation,
        )
        .map_err(|e| AuthError::Invalid(describe(&e)))?;
        let org_id = text_claim(&data.claims, "org_id")?;
        let sub = text_claim(&data.claims, "sub")?;
        Ok(Caller {
            organization_id: org_id,
            user_id: sub,
        })
    }
}

/// The longest `sub` or `org_id` accepted.
const MAX_CLAIM_BYTES: usize = 255;

/// A claim that must be a non-empty string.
fn text_claim(
    claims: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Result<String, AuthError> {
    match claims.get(name) {
        None => Err(AuthError::Invalid(format!(
            "the token lacks the `{name}` claim"
        ))),
        // Both are stored (the `sub` as the actor of every change): text a database column and
        // an index entry can hold.
        Some(serde_json::Value::String(s)) if s.len() > MAX_CLAIM_BYTES => Err(AuthError::Invalid(
            format!("the `{name}` claim must be at most {MAX_CLAIM_BYTES} bytes"),
        )),
        Some(serde_json::Value::String(s)) if s.chars().any(char::is_control) => {
            Err(AuthError::Invalid(format!(
                "the `{name}` claim must not hold control characters"
            )))
        }
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(serde_json::Value::String(_)) => Err(AuthError::Invalid(format!(
            "the `{name}` claim must not be empty"
        ))),
        Some(_) => Err(AuthError::Invalid(format!(
            "the `{name}` claim must be a string"
        ))),
    }
}

fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::InvalidSignature => "the signature does not match".into(),
        ErrorKind::InvalidAlgorithm => "only HS256 tokens are accepted".into(),
        ErrorKind::MissingRequiredClaim(c) => format!("the token lacks the `{c}` claim"),
        ErrorKind::InvalidToken => {
            "not a JWT: a token is three base64url parts separated by dots".into()
        }
        ErrorKind::Base64(_) => "a part of the token is not valid base64url".into(),
        ErrorKind::Json(e) => format!("the token's header or claims are not valid JSON: {e}"),
        ErrorKind::Utf8(_) => "a part of the token is not UTF-8".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (`nbf`)".into(),
        other => format!("the token is malformed ({other:?})"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_signed_token_authenticates_its_tenant() {
        let keys = Keys::new(b"secret");
        let token = keys
            .sign("org-1", "user-1", Duration::from_secs(60))
            .unwrap();
        let caller = keys.authenticate(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(
            caller,
            Caller {
                organization_id: "org-1".into(),
                user_id: "user-1".into()
            }
        );
    }

    #[test]
    fn another_secret_is_refused() {
        let token = Keys::new(b"a")
            .sign("o", "u", Duration::from_secs(60))
            .unwrap();
        let err = Keys::new(b"b")
            .authenticate(Some(&format!("Bearer {token}")))
            .unwrap_err();
        assert!(err.to_string().contains("signature"), "{err}");
    }

    #[test]
    fn a_missing_header_is_refused() {
        assert!(matches!(
            Keys::new(b"a").authenticate(None),
            Err(AuthError::Missing)
        ));
        assert!(matches!(
            Keys::new(b"a").authenticate(Some("Basic x")),
            Err(AuthError::Missing)
        ));
    }
}
