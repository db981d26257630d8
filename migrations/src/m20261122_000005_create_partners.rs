use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000001_create_users::Users;
use crate::m20261122_000002_create_sessions::Sessions;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Registered partner web apps, and the one-time tokens members mint for them. Secrets and
/// tokens are stored only as SHA-256 hashes. `subject_salt` makes each partner's subject for a
/// member different, so partners cannot join their data on our user id.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Partners::Table)
                    .if_not_exists()
                    .col(string_len(Partners::Id, 64).primary_key())
                    .col(string_len(Partners::DisplayName, 255))
                    .col(string_len(Partners::SecretHash, 64))
                    .col(string_len(Partners::SubjectSalt, 64))
                    .col(string_len(Partners::AllowedClaims, 255))
                    .col(integer(Partners::TokenTtlSecs))
                    .col(boolean(Partners::Active))
                    .col(timestamp_with_time_zone(Partners::CreatedAt))
                    .col(timestamp_with_time_zone(Partners::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PartnerTokens::Table)
                    .if_not_exists()
                    .col(uuid(PartnerTokens::Id).primary_key())
                    .col(string_len_uniq(PartnerTokens::TokenHash, 64))
                    .col(string_len(PartnerTokens::PartnerId, 64))
                    .col(uuid(PartnerTokens::UserId))
                    .col(uuid(PartnerTokens::SessionId))
                    .col(timestamp_with_time_zone(PartnerTokens::IssuedAt))
                    .col(timestamp_with_time_zone(PartnerTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PartnerTokens::RedeemedAt))
                    .col(integer(PartnerTokens::Replays).default(0))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_partner_tokens_partner")
                            .from(PartnerTokens::Table, PartnerTokens::PartnerId)
                            .to(Partners::Table, Partners::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_partner_tokens_user")
                            .from(PartnerTokens::Table, PartnerTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_partner_tokens_session")
                            .from(PartnerTokens::Table, PartnerTokens::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_partner_tokens_session")
                    .table(PartnerTokens::Table)
                    .col(PartnerTokens::SessionId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PartnerTokens::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Partners::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Partners {
    Table,
    Id,
    DisplayName,
    SecretHash,
    SubjectSalt,
    AllowedClaims,
    TokenTtlSecs,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum PartnerTokens {
    Table,
    Id,
    TokenHash,
    PartnerId,
    UserId,
    SessionId,
    IssuedAt,
    ExpiresAt,
    RedeemedAt,
    Replays,
}
