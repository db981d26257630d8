use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    .col(uuid(Sessions::Id).primary_key())
                    .col(uuid(Sessions::UserId))
                    .col(string_len_null(Sessions::DeviceId, 255))
                    .col(string_len_null(Sessions::DeviceType, 16))
                    .col(string_len_null(Sessions::DeviceName, 255))
                    .col(string_len_null(Sessions::Platform, 64))
                    .col(string_len_null(Sessions::PlatformVersion, 64))
                    .col(string_len_null(Sessions::AppVersion, 64))
                    .col(string_len_null(Sessions::PushToken, 4096))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::LastAccessedAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Sessions::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_user")
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_user_device")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .col(Sessions::DeviceId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_expires_at")
                    .table(Sessions::Table)
                    .col(Sessions::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Sessions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Sessions {
    Table,
    Id,
    UserId,
    DeviceId,
    DeviceType,
    DeviceName,
    Platform,
    PlatformVersion,
    AppVersion,
    PushToken,
    CreatedAt,
    LastAccessedAt,
    ExpiresAt,
    RevokedAt,
}
