//! Bearer-token authentication.
//!
//! A token is `<user>.<key>`: the user's name, a dot, and the app's [`AuthKey`]. (A real crate
//! would check a signature; the shape of the dependencies is the point here.) The app gives
//! its key with `App::provide(auth_key, AuthKey::new("..."))`; without it, the app does not
//! start.

use mydi::prelude::*;
use mydi::{HttpBearer, http};

/// The key tokens are checked with: an `app`-scoped value the app provides.
#[derive(Clone)]
pub struct AuthKey(String);

impl AuthKey {
    /// A key; tokens end with `.{key}`.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }
}

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthKey(..)")
    }
}

/// The app's [`AuthKey`]. It has no default: an app that uses [`current_user()`] gives one with
/// `App::provide(auth_key, AuthKey::new(..))`, or the app refuses to start, saying so.
#[depends(scope = "app", crate = "mydi")]
pub async fn auth_key() -> Result<AuthKey, HttpError> {
    Err(HttpError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "di_walk_lib::auth::auth_key is not configured: give it with `App::provide(auth_key, AuthKey::new(..))`",
    ))
}

/// Which users may sign in: the app's own type, behind a trait object, since a `#[depends]`
/// function cannot be generic. Give yours with
/// `App::provide(directory, Box::new(MyUsers) as Box<dyn Directory>)`.
pub trait Directory: Send + Sync + 'static {
    /// Whether `name` may sign in.
    fn allows(&self, name: &str) -> bool;
}

/// Lets everyone in.
struct Everyone;

impl Directory for Everyone {
    fn allows(&self, _name: &str) -> bool {
        true
    }
}

/// The app's [`Directory`]: everyone, unless the app provides its own.
#[depends(scope = "app", crate = "mydi")]
pub async fn directory() -> Box<dyn Directory> {
    Box::new(Everyone)
}

/// The user a request is made by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentUser {
    /// The user's name, from the token.
    pub name: String,
}

/// The request's user, from `Authorization: Bearer <user>.<key>`.
///
/// Missing credentials are a 401 (`WWW-Authenticate: Bearer`) before anything is set up; a
/// token that does not end with the app's key is a 401 with `error="invalid_token"`, and a user
/// the app's [`Directory`] refuses a 403. Every route that takes it documents both.
#[depends(
    crate = "mydi",
    responses(401 = "Not authenticated, or an invalid token", 403 = "This user may not sign in")
)]
pub async fn current_user(
    bearer: HttpBearer,
    #[dep(auth_key)] key: &AuthKey,
    #[dep(directory)] users: &Box<dyn Directory>,
) -> Result<CurrentUser, HttpError> {
    let user = check(bearer.token(), key).ok_or_else(invalid_token)?;
    if users.allows(&user.name) {
        Ok(user)
    } else {
        Err(HttpError::new(
            StatusCode::FORBIDDEN,
            "This user may not sign in",
        ))
    }
}

/// The user named by `token`, if it carries `key`.
pub(crate) fn check(token: &str, key: &AuthKey) -> Option<CurrentUser> {
    let (name, given) = token.rsplit_once('.')?;
    (given == key.0 && !name.is_empty()).then(|| CurrentUser {
        name: name.to_owned(),
    })
}

fn invalid_token() -> HttpError {
    HttpError::new(StatusCode::UNAUTHORIZED, "Invalid token").with_header(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
    )
}

/// The request's user, under the name of version 0.1.
#[depends(crate = "mydi")]
#[deprecated(since = "0.2.0", note = "take `current_user` instead")]
pub async fn user(#[dep(current_user)] user: &CurrentUser) -> CurrentUser {
    user.clone()
}
