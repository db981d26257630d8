//! API output and input types, built from domain types (never from store records).

use async_graphql::{Enum, ID, InputObject, SimpleObject};
use chrono::NaiveDate;

use super::scalars::{Date, DateTime};
use crate::auth::Issued;
use crate::domain::{self, device::DeviceFields};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum DeviceType {
    Ios,
    Android,
    Web,
    Other,
}

impl From<DeviceType> for domain::DeviceType {
    fn from(t: DeviceType) -> Self {
        match t {
            DeviceType::Ios => Self::Ios,
            DeviceType::Android => Self::Android,
            DeviceType::Web => Self::Web,
            DeviceType::Other => Self::Other,
        }
    }
}

impl From<domain::DeviceType> for DeviceType {
    fn from(t: domain::DeviceType) -> Self {
        match t {
            domain::DeviceType::Ios => Self::Ios,
            domain::DeviceType::Android => Self::Android,
            domain::DeviceType::Web => Self::Web,
            domain::DeviceType::Other => Self::Other,
        }
    }
}

/// The device the app runs on; every field optional, each bounded in length.
#[derive(InputObject, Default)]
pub struct DeviceInput {
    /// A stable id of the app installation; one live session is kept per device id.
    pub device_id: Option<String>,
    pub device_type: Option<DeviceType>,
    pub device_name: Option<String>,
    pub platform: Option<String>,
    pub platform_version: Option<String>,
    pub app_version: Option<String>,
    pub push_token: Option<String>,
}

impl From<DeviceInput> for DeviceFields {
    fn from(d: DeviceInput) -> Self {
        DeviceFields {
            device_id: d.device_id,
            device_type: d.device_type.map(Into::into),
            device_name: d.device_name,
            platform: d.platform,
            platform_version: d.platform_version,
            app_version: d.app_version,
            push_token: d.push_token,
        }
    }
}

#[derive(InputObject)]
pub struct LoginInput {
    /// The member's email address at the club shop (Hybris).
    pub email: String,
    pub password: String,
    pub device: Option<DeviceInput>,
    /// From `SOCIAL_ACCOUNT_NOT_LINKED`: a successful login also links that Google or
    /// Facebook account to the member.
    pub link_token: Option<String>,
}

/// A club member.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct User {
    pub id: ID,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub membership: Option<Membership>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    pub last_login_at: Option<DateTime>,
    /// `member` while the membership is active, then the roles Hybris reports for the member.
    /// Informative: what a member may do is still decided by the session and the membership.
    pub roles: Vec<String>,
    /// The phone enrolled for sign-in by code, in E.164. Only ever shown to its owner: a user
    /// is returned only to its own session.
    pub phone: Option<String>,
    /// When the phone was proved with a code.
    pub phone_verified_at: Option<DateTime>,
}

impl User {
    pub fn new(user: domain::User, today: NaiveDate) -> Self {
        let roles = user.roles(today);
        let (phone, phone_verified_at) = match user.phone {
            Some(phone) => (Some(phone.number), Some(DateTime(phone.verified_at))),
            None => (None, None),
        };
        Self {
            roles,
            phone,
            phone_verified_at,
            id: ID(user.id.to_string()),
            email: user.email.as_str().to_owned(),
            first_name: user.first_name,
            last_name: user.last_name,
            membership: user.membership.map(|m| Membership {
                active: m.is_active(today),
                number: m.number,
                start_date: Date(m.start_date),
                end_date: Date(m.end_date),
                chapter: m.chapter,
            }),
            created_at: DateTime(user.created_at),
            updated_at: DateTime(user.updated_at),
            last_login_at: user.last_login_at.map(DateTime),
        }
    }
}

/// Club membership as last reported by Hybris.
#[derive(SimpleObject)]
pub struct Membership {
    pub number: String,
    /// First day of the membership, inclusive.
    pub start_date: Date,
    /// Last day of the membership, inclusive, in the club's timezone.
    pub end_date: Date,
    pub chapter: Option<String>,
    /// Whether today (in the club's timezone) lies within the membership.
    pub active: bool,
}

/// How a session was opened. New values may be added: clients should accept unknown ones.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum AuthMethod {
    /// The club shop's email and password.
    Password,
    /// A one-time code sent by SMS to the member's enrolled phone.
    PhoneCode,
    /// A linked Google account.
    Google,
    /// A linked Facebook account.
    Facebook,
}

impl From<domain::AuthMethod> for AuthMethod {
    fn from(method: domain::AuthMethod) -> Self {
        match method {
            domain::AuthMethod::Password => Self::Password,
            domain::AuthMethod::PhoneCode => Self::PhoneCode,
            domain::AuthMethod::Google => Self::Google,
            domain::AuthMethod::Facebook => Self::Facebook,
        }
    }
}

/// A logged-in device.
#[derive(SimpleObject)]
pub struct Session {
    pub id: ID,
    pub device_type: Option<DeviceType>,
    pub device_name: Option<String>,
    pub app_version: Option<String>,
    pub created_at: DateTime,
    /// When the session last logged in or refreshed.
    pub last_accessed_at: DateTime,
    /// The session's absolute end (login + maximum lifetime, capped by the membership end).
    pub expires_at: DateTime,
    /// Whether this is the session of the token making the request.
    pub current: bool,
    /// How the session was opened; refreshes keep it. Access tokens carry it as `amr`.
    pub auth_method: AuthMethod,
    pub platform: Option<String>,
    pub platform_version: Option<String>,
    /// Whether the device registered a push token (the token itself is never shown).
    pub has_push_token: bool,
    /// When the app last reported the member active (`touchSession`).
    pub last_active_at: Option<DateTime>,
}

impl Session {
    pub fn new(session: domain::Session, current: bool) -> Self {
        Self {
            id: ID(session.id.to_string()),
            device_type: session.device.device_type.map(Into::into),
            device_name: session.device.device_name,
            app_version: session.device.app_version,
            created_at: DateTime(session.created_at),
            last_accessed_at: DateTime(session.last_accessed_at),
            expires_at: DateTime(session.expires_at),
            current,
            auth_method: session.auth_method.into(),
            has_push_token: session.device.push_token.is_some(),
            platform: session.device.platform,
            platform_version: session.device.platform_version,
            last_active_at: session.last_active_at.map(DateTime),
        }
    }
}

/// Why a session ended. New values may be added: clients should accept unknown ones.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum SessionEndReason {
    /// The member logged out on this device.
    Logout,
    /// Ended from another of the member's sessions.
    Revoked,
    /// A new login on the same device replaced it.
    ReplacedByNewLogin,
    /// Neither refreshed nor active for the idle timeout.
    IdleTimeout,
    /// Past its maximum lifetime.
    MaxLifetime,
    /// The club membership ended.
    MembershipEnded,
    /// A used refresh token came back: the session was ended to protect the member.
    RefreshTokenReused,
    /// The member deleted their account.
    AccountDeleted,
}

impl From<domain::EndReason> for SessionEndReason {
    fn from(reason: domain::EndReason) -> Self {
        use domain::EndReason as R;
        match reason {
            R::Logout => Self::Logout,
            R::Revoked => Self::Revoked,
            R::ReplacedByNewLogin => Self::ReplacedByNewLogin,
            R::IdleTimeout => Self::IdleTimeout,
            R::MaxLifetime => Self::MaxLifetime,
            R::MembershipEnded => Self::MembershipEnded,
            R::RefreshTokenReused => Self::RefreshTokenReused,
            R::AccountDeleted => Self::AccountDeleted,
        }
    }
}

/// One of the caller's sessions, live or ended in the last 7 days: whether it still works,
/// and if not, when and why it ended.
#[derive(SimpleObject)]
pub struct SessionStatus {
    pub id: ID,
    pub is_active: bool,
    /// When the session last logged in or refreshed.
    pub last_accessed_at: DateTime,
    /// When the app last reported the member active.
    pub last_active_at: Option<DateTime>,
    pub ended_at: Option<DateTime>,
    /// The same value the session's tokens get in `extensions.reason` of their 401.
    pub end_reason: Option<SessionEndReason>,
}

impl From<crate::auth::SessionStatus> for SessionStatus {
    fn from(status: crate::auth::SessionStatus) -> Self {
        let session = status.session;
        Self {
            id: ID(session.id.to_string()),
            is_active: status.ended.is_none(),
            last_accessed_at: DateTime(session.last_accessed_at),
            last_active_at: session.last_active_at.map(DateTime),
            ended_at: status.ended.map(|(at, _)| DateTime(at)),
            end_reason: status.ended.map(|(_, reason)| reason.into()),
        }
    }
}

/// Tokens for a new or refreshed session. Store the refresh token securely; it is shown once.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// A JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i32,
    /// An opaque token for `refreshSession`; each use returns a new one.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_token_expires_in: i32,
    pub session: Session,
    pub user: User,
}

impl AuthPayload {
    pub fn new(issued: Issued, today: NaiveDate) -> Self {
        let seconds = |until: chrono::DateTime<chrono::Utc>| {
            (until - issued.now).num_seconds().clamp(0, i32::MAX as i64) as i32
        };
        Self {
            access_token: issued.access_token.clone(),
            token_type: "Bearer".into(),
            expires_in: seconds(issued.access_token_expires_at),
            refresh_token: issued.refresh_token.expose().to_owned(),
            refresh_token_expires_in: seconds(issued.refresh_token_expires_at),
            session: Session::new(issued.session, true),
            user: User::new(issued.user, today),
        }
    }
}
