//! Access tokens (HS256 JWTs carrying `sub` and `sid`) and opaque refresh tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::UserId;
use crate::error::AuthFailure;
use crate::store::TokenHash;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The member id, as a string per RFC 7519.
    pub sub: String,
    /// The session id; checked against the session store on every request.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    /// Token kind; only `access` is accepted as a bearer token.
    pub typ: String,
}

/// A verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub user: UserId,
    pub session: String,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> TokenKeys {
        // One algorithm only: a token claiming `none` or RS256 fails before its claims are read.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn issue(&self, user: UserId, session: &str, now_secs: i64, ttl_secs: i64) -> String {
        let claims = Claims {
            sub: user.to_string(),
            sid: session.to_owned(),
            iat: now_secs,
            exp: now_secs + ttl_secs,
            typ: "access".into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with an HMAC key cannot fail")
    }

    pub fn verify(&self, token: &str) -> Result<AccessClaims, AuthFailure> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthFailure::Expired,
                _ => AuthFailure::Invalid,
            })?;
        let claims = data.claims;
        if claims.typ != "access" {
            return Err(AuthFailure::Invalid);
        }
        let user = claims.sub.parse().map_err(|_| AuthFailure::Invalid)?;
        Ok(AccessClaims {
            user,
            session: claims.sid,
        })
    }
}

/// `n` random bytes, base64url without padding.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Refresh tokens carry 256 random bits, so a plain SHA-256 is a safe way to store them.
pub fn refresh_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_a_tampered_one_fails() {
        let keys = TokenKeys::new(b"secret-secret-secret-secret-1234");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let t = keys.issue(7, "sid1", now, 60);
        assert_eq!(
            keys.verify(&t),
            Ok(AccessClaims {
                user: 7,
                session: "sid1".into()
            })
        );
        let other = TokenKeys::new(b"another-secret-another-secret-12");
        assert_eq!(other.verify(&t), Err(AuthFailure::Invalid));
        let expired = keys.issue(7, "sid1", now - 120, 60);
        assert_eq!(keys.verify(&expired), Err(AuthFailure::Expired));
    }
}
