use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000002_create_sessions::Sessions;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Only the SHA-256 of a refresh token is stored. `rotation_nonce` is written when the token is
/// used: with the presented token it re-derives the one successor, so a retry inside the grace
/// window gets the same new token without the plaintext ever being stored.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .if_not_exists()
                    .col(uuid(RefreshTokens::Id).primary_key())
                    .col(string_len_uniq(RefreshTokens::TokenHash, 64))
                    .col(uuid(RefreshTokens::SessionId))
                    .col(uuid_null(RefreshTokens::ParentId))
                    .col(timestamp_with_time_zone(RefreshTokens::IssuedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::UsedAt))
                    .col(string_len_null(RefreshTokens::RotationNonce, 64))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_refresh_tokens_session")
                            .from(RefreshTokens::Table, RefreshTokens::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_session")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::SessionId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RefreshTokens::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum RefreshTokens {
    Table,
    Id,
    TokenHash,
    SessionId,
    ParentId,
    IssuedAt,
    UsedAt,
    RotationNonce,
    ExpiresAt,
}
