//! Users: the member's profile snapshot as Hybris last reported it.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{
    Store, StoreResult,
    entities::{identities, sessions, users},
};
use crate::domain::{Email, EnrolledPhone, LoginSubject, Membership, User, UserId};

impl Store {
    pub async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        Ok(users::Entity::find_by_id(id.0)
            .one(&self.db)
            .await?
            .map(to_user))
    }

    /// The member of a Hybris customer id.
    pub async fn member_with_customer_id(&self, customer_id: &str) -> StoreResult<Option<UserId>> {
        Ok(users::Entity::find()
            .filter(users::Column::UpstreamCustomerId.eq(customer_id))
            .one(&self.db)
            .await?
            .map(|user| UserId(user.id)))
    }

    /// The user view of authenticated requests (`me`), from the read cache when it holds it.
    pub async fn cached_user(&self, id: UserId) -> StoreResult<Option<User>> {
        if let Some(user) = self.cache.user(id.0) {
            return Ok(Some(user));
        }
        let ticket = self.cache.ticket(id.0);
        // Boxed: a cache hit's future stays small (sea-orm's are kilobytes).
        let user = Box::pin(self.user(id)).await?;
        if let Some(user) = &user {
            self.cache.put_user(ticket, user);
        }
        Ok(user)
    }

    /// Whether `device_id` holds, or held, a session of the account this login subject names.
    pub async fn has_device_session(
        &self,
        subject: &LoginSubject,
        device_id: &str,
    ) -> StoreResult<bool> {
        let user_id = match subject {
            LoginSubject::Email(email) => users::Entity::find()
                .filter(users::Column::Email.eq(email.as_str()))
                .one(&self.db)
                .await?
                .map(|user| user.id),
            LoginSubject::Identity { provider, subject } => identities::Entity::find()
                .filter(identities::Column::Provider.eq(provider.as_str()))
                .filter(identities::Column::Subject.eq(subject.as_str()))
                .one(&self.db)
                .await?
                .map(|identity| identity.user_id),
        };
        let Some(user_id) = user_id else {
            return Ok(false);
        };
        Ok(sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user_id))
            .filter(sessions::Column::DeviceId.eq(device_id))
            .one(&self.db)
            .await?
            .is_some())
    }
}

pub(super) fn to_user(user: users::Model) -> User {
    let membership = match (
        user.membership_number,
        user.membership_start_date,
        user.membership_end_date,
    ) {
        (Some(number), Some(start_date), Some(end_date)) => Some(Membership {
            number,
            start_date,
            end_date,
            chapter: user.chapter,
        }),
        _ => None,
    };
    User {
        id: UserId(user.id),
        email: Email::from_stored(user.email),
        first_name: user.first_name,
        last_name: user.last_name,
        membership,
        created_at: user.created_at,
        updated_at: user.updated_at,
        last_login_at: user.last_login_at,
        upstream_roles: user
            .roles
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default(),
        phone: match (user.phone, user.phone_verified_at) {
            (Some(number), Some(verified_at)) => Some(EnrolledPhone {
                number,
                verified_at,
            }),
            _ => None,
        },
    }
}
