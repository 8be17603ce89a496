//! Members and sessions (SPEC §1): registration, login with one live session per member,
//! refresh rotation with reuse detection, logout, and the check every authenticated request
//! makes. Revocations are announced on a broadcast so open WebSockets can be closed at once.

pub mod password;
pub mod tokens;

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use tokio::sync::{broadcast, mpsc, watch};

use crate::config::Config;
use crate::domain::{Email, Password, UserId, Username};
use crate::error::{ApiError, AuthFailure, FieldError};
use crate::ratelimit::RateLimiter;
use crate::store::{
    Millis, NewMember, NewSession, NextRefresh, RefreshOutcome, SessionState, Store, StoreError,
};
use password::Hasher;
use tokens::{AccessClaims, TokenKeys, random_token, refresh_hash};

/// Bytes of randomness in a refresh token and in a session id.
const REFRESH_TOKEN_BYTES: usize = 32;
const SESSION_ID_BYTES: usize = 16;
/// Revocations buffered for slow listeners; a listener that lags re-checks its session instead.
const REVOCATION_BUFFER: usize = 1024;

/// A session that stopped being valid, for whoever holds a connection on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub member: UserId,
    pub session: String,
    pub reason: SessionState,
}

/// A freshly issued token pair.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub user: UserId,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

#[derive(Clone)]
pub struct AuthService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    hasher: Hasher,
    keys: TokenKeys,
    limiter: Arc<dyn RateLimiter>,
    config: Arc<Config>,
    revocations: broadcast::Sender<Revocation>,
    /// Cluster mode: this node's revocations, to be announced to the other nodes.
    remote: OnceLock<mpsc::UnboundedSender<Revocation>>,
    /// Bumped when open sockets should re-check their sessions in the store (a node that lost
    /// its Redis subscription may have missed revocations).
    recheck: watch::Sender<u64>,
}

pub fn now_millis() -> Millis {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as Millis
}

impl AuthService {
    pub fn new(
        store: Arc<dyn Store>,
        limiter: Arc<dyn RateLimiter>,
        config: Arc<Config>,
        jwt_secret: &[u8],
    ) -> anyhow::Result<AuthService> {
        let hasher = Hasher::new(config.password_hash, config.password_hash_concurrency)?;
        let (revocations, _) = broadcast::channel(REVOCATION_BUFFER);
        Ok(AuthService {
            inner: Arc::new(Inner {
                store,
                hasher,
                keys: TokenKeys::new(jwt_secret),
                limiter,
                config,
                revocations,
                remote: OnceLock::new(),
                recheck: watch::channel(0).0,
            }),
        })
    }

    /// The password hasher (rooms hash their passwords with it too).
    pub fn hasher(&self) -> &Hasher {
        &self.inner.hasher
    }

    /// Listens for revoked sessions (replaced, logged out, reused), of this node and (cluster
    /// mode) of the others.
    pub fn revocations(&self) -> broadcast::Receiver<Revocation> {
        self.inner.revocations.subscribe()
    }

    /// Ticks when every open socket should re-check its session in the store.
    pub fn rechecks(&self) -> watch::Receiver<u64> {
        self.inner.recheck.subscribe()
    }

    /// Cluster mode: where this node's revocations go to reach the other nodes.
    pub fn set_remote_revocations(&self, tx: mpsc::UnboundedSender<Revocation>) {
        let _ = self.inner.remote.set(tx);
    }

    /// A revocation announced by another node: told to this node's sockets only.
    pub fn deliver_revocation(&self, revocation: Revocation) {
        let _ = self.inner.revocations.send(revocation);
    }

    /// Asks every open socket to re-check its session.
    pub fn recheck_sessions(&self) {
        self.inner.recheck.send_modify(|n| *n += 1);
    }

    /// A session ended here: this node's sockets are told at once, the other nodes through
    /// Redis (cluster mode).
    fn revoke(&self, revocation: Revocation) {
        if let Some(remote) = self.inner.remote.get() {
            let _ = remote.send(revocation.clone());
        }
        let _ = self.inner.revocations.send(revocation);
    }

    pub async fn register(
        &self,
        ip: IpAddr,
        email: Option<&str>,
        username: Option<&str>,
        password: Option<&str>,
    ) -> Result<UserId, ApiError> {
        let this = &self.inner;
        this.limiter
            .hit(&format!("register:ip:{ip}"), this.config.register_per_ip)
            .await
            .map_err(ApiError::from)?;
        let mut errors = Vec::new();
        let email = collect(&mut errors, required("email", email).and_then(Email::parse));
        let username = collect(
            &mut errors,
            required("username", username).and_then(Username::parse),
        );
        let password = collect(
            &mut errors,
            required("password", password).and_then(Password::parse),
        );
        let (Some(email), Some(username), Some(password)) = (email, username, password) else {
            return Err(ApiError::Validation(errors));
        };
        // A cheap early answer for the common case; the unique constraint still decides races.
        if this.store.email_registered(&email).await? {
            return Err(email_taken());
        }
        let password_hash = this.hasher.hash(password).await?;
        let created = this
            .store
            .create_member(NewMember {
                email,
                username,
                password_hash,
                now: now_millis(),
            })
            .await;
        match created {
            Ok(id) => Ok(id),
            Err(StoreError::EmailTaken) => Err(email_taken()),
            Err(StoreError::UsernameTaken) => Err(username_taken()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn login(
        &self,
        ip: IpAddr,
        email: Option<&str>,
        password: Option<&str>,
    ) -> Result<TokenPair, ApiError> {
        let this = &self.inner;
        this.limiter
            .hit(&format!("login:ip:{ip}"), this.config.login_per_ip)
            .await
            .map_err(ApiError::from)?;
        let mut errors = Vec::new();
        let email = collect(&mut errors, required("email", email).and_then(Email::parse));
        let password = collect(
            &mut errors,
            required("password", password).and_then(Password::for_login),
        );
        let (Some(email), Some(password)) = (email, password) else {
            return Err(ApiError::Validation(errors));
        };
        // The account's failure budget is reserved before the hash check, so however many
        // attempts race, at most `limit` of them are ever checked (SPEC §1.3). A request
        // cancelled mid-check keeps its slot: it counts as a failure.
        let account_key = format!("login:account:{}", email.as_str());
        let budget = this.config.login_failures_per_account;
        this.limiter
            .reserve(&account_key, budget)
            .await
            .map_err(ApiError::from)?;
        match self.check_password(&email, password).await {
            Ok(Some(user)) => {
                this.limiter.release(&account_key, budget).await;
                self.open_session(user).await
            }
            Ok(None) => {
                this.limiter.fail(&account_key, budget).await;
                Err(ApiError::BadCredentials)
            }
            Err(e) => {
                this.limiter.release(&account_key, budget).await;
                Err(e)
            }
        }
    }

    /// The member whose password this is, or `None` (same cost for an unknown email).
    async fn check_password(
        &self,
        email: &Email,
        password: Password,
    ) -> Result<Option<UserId>, ApiError> {
        let this = &self.inner;
        let (id, stored) = match this.store.credentials(email).await? {
            Some(c) => (Some(c.id), Some(c.password_hash)),
            None => (None, None),
        };
        let verified = this.hasher.verify(password, stored).await?;
        Ok(id.filter(|_| verified))
    }

    async fn open_session(&self, user: UserId) -> Result<TokenPair, ApiError> {
        let this = &self.inner;
        let now = now_millis();
        let session = random_token(SESSION_ID_BYTES);
        let refresh = random_token(REFRESH_TOKEN_BYTES);
        let replaced = this
            .store
            .open_session(NewSession {
                id: session.clone(),
                member: user,
                refresh_hash: refresh_hash(&refresh),
                now,
                expires_at: now + secs_to_millis(this.config.refresh_token_ttl_secs),
            })
            .await?;
        for old in replaced {
            self.revoke(Revocation {
                member: user,
                session: old,
                reason: SessionState::Replaced,
            });
        }
        Ok(self.pair(user, &session, refresh, now))
    }

    fn pair(&self, user: UserId, session: &str, refresh: String, now: Millis) -> TokenPair {
        let ttl = self.inner.config.access_token_ttl_secs;
        TokenPair {
            user,
            access_token: self.inner.keys.issue(user, session, now / 1000, ttl as i64),
            refresh_token: refresh,
            expires_in: ttl,
        }
    }

    pub async fn refresh(&self, token: Option<&str>) -> Result<TokenPair, ApiError> {
        let this = &self.inner;
        let token = required("refreshToken", token).map_err(|e| ApiError::Validation(vec![e]))?;
        let now = now_millis();
        let next = random_token(REFRESH_TOKEN_BYTES);
        let outcome = this
            .store
            .rotate_refresh(
                &refresh_hash(token),
                NextRefresh {
                    hash: refresh_hash(&next),
                    now,
                    expires_at: now + secs_to_millis(this.config.refresh_token_ttl_secs),
                },
            )
            .await?;
        match outcome {
            RefreshOutcome::Rotated { member, session } => {
                Ok(self.pair(member, &session, next, now))
            }
            RefreshOutcome::Reused { member, session } => {
                self.revoke(Revocation {
                    member,
                    session,
                    reason: SessionState::Reused,
                });
                Err(ApiError::Unauthorized(AuthFailure::RefreshReused))
            }
            RefreshOutcome::Dead(state) => Err(ApiError::Unauthorized(failure_for(state))),
            RefreshOutcome::Unknown => Err(ApiError::Unauthorized(AuthFailure::Invalid)),
        }
    }

    pub async fn logout(&self, claims: &AccessClaims) -> Result<(), ApiError> {
        let this = &self.inner;
        this.store
            .end_session(&claims.session, claims.user, now_millis())
            .await?;
        self.revoke(Revocation {
            member: claims.user,
            session: claims.session.clone(),
            reason: SessionState::LoggedOut,
        });
        Ok(())
    }

    /// Verifies an access token and that its session is still the member's live one.
    pub async fn authenticate(&self, token: &str) -> Result<AccessClaims, ApiError> {
        let claims = self
            .inner
            .keys
            .verify(token)
            .map_err(ApiError::Unauthorized)?;
        let state = self
            .inner
            .store
            .session_state(&claims.session, claims.user, now_millis())
            .await?;
        match state {
            SessionState::Live => Ok(claims),
            other => Err(ApiError::Unauthorized(failure_for(other))),
        }
    }
}

fn failure_for(state: SessionState) -> AuthFailure {
    match state {
        SessionState::Replaced => AuthFailure::SessionReplaced,
        SessionState::Reused => AuthFailure::RefreshReused,
        SessionState::LoggedOut => AuthFailure::SessionRevoked,
        SessionState::Expired => AuthFailure::Expired,
        SessionState::Live | SessionState::Unknown => AuthFailure::Invalid,
    }
}

fn secs_to_millis(secs: u64) -> Millis {
    (secs as Millis).saturating_mul(1000)
}

fn email_taken() -> ApiError {
    ApiError::conflict("EMAIL_TAKEN", "this email is already registered")
}

pub fn username_taken() -> ApiError {
    ApiError::conflict("USERNAME_TAKEN", "this username is already taken")
}

/// A required string field of a request body.
pub fn required<'a>(field: &'static str, value: Option<&'a str>) -> Result<&'a str, FieldError> {
    value.ok_or_else(|| FieldError::new(field, "REQUIRED", format!("{field} is required")))
}

/// Keeps a parsed value or records its error, so every bad field is reported at once.
pub fn collect<T>(errors: &mut Vec<FieldError>, r: Result<T, FieldError>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}
