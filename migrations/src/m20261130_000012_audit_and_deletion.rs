//! The security audit trail (`auth_events`), the tombstones account deletion leaves
//! (`deleted_accounts`), and which partners ever received a member (`partner_subjects`), so a
//! deletion can tell each of them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuthEvents::Table)
                    .if_not_exists()
                    // UUIDv7: ordered by time, the cursor of `securityActivity`.
                    .col(
                        ColumnDef::new(AuthEvents::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuthEvents::OccurredAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuthEvents::EventType)
                            .string_len(48)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuthEvents::Outcome)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuthEvents::Reason).string_len(64))
                    .col(ColumnDef::new(AuthEvents::Method).string_len(32))
                    // No foreign keys: rows outlive sessions, and deletion pseudonymises them.
                    .col(ColumnDef::new(AuthEvents::UserId).uuid())
                    .col(ColumnDef::new(AuthEvents::SessionId).uuid())
                    .col(ColumnDef::new(AuthEvents::DeviceHash).string_len(64))
                    .col(ColumnDef::new(AuthEvents::ClientIp).string_len(64))
                    .col(ColumnDef::new(AuthEvents::RequestId).string_len(128))
                    // HMAC of the normalised identifier of an unknown account, or the pseudonym
                    // of a deleted one.
                    .col(ColumnDef::new(AuthEvents::SubjectHash).string_len(64))
                    .col(ColumnDef::new(AuthEvents::Details).text())
                    // How many events the row stands for: 1, or a summary's count.
                    .col(
                        ColumnDef::new(AuthEvents::EventCount)
                            .integer()
                            .not_null()
                            .default(1),
                    )
                    // type|ip|minute of a summary row; NULL for every other row.
                    .col(ColumnDef::new(AuthEvents::SummaryKey).string_len(160))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "idx_auth_events_user",
                vec![AuthEvents::UserId, AuthEvents::Id],
            ),
            ("idx_auth_events_time", vec![AuthEvents::OccurredAt]),
            ("idx_auth_events_subject", vec![AuthEvents::SubjectHash]),
        ] {
            let mut index = Index::create();
            index.name(name).table(AuthEvents::Table).if_not_exists();
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_auth_events_summary_key")
                    .table(AuthEvents::Table)
                    .col(AuthEvents::SummaryKey)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DeletedAccounts::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DeletedAccounts::UserId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    // HMAC of the Hybris customer id: no personal data, yet recognisable.
                    .col(
                        ColumnDef::new(DeletedAccounts::UpstreamHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeletedAccounts::DeletedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeletedAccounts::PurgeAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_deleted_accounts_upstream")
                    .table(DeletedAccounts::Table)
                    .col(DeletedAccounts::UpstreamHash)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PartnerSubjects::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(PartnerSubjects::PartnerId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(PartnerSubjects::UserId).uuid().not_null())
                    .col(
                        ColumnDef::new(PartnerSubjects::FirstAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(PartnerSubjects::PartnerId)
                            .col(PartnerSubjects::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PartnerSubjects::Table, PartnerSubjects::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PartnerSubjects::Table.into_iden(),
            DeletedAccounts::Table.into_iden(),
            AuthEvents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum AuthEvents {
    Table,
    Id,
    OccurredAt,
    EventType,
    Outcome,
    Reason,
    Method,
    UserId,
    SessionId,
    DeviceHash,
    ClientIp,
    RequestId,
    SubjectHash,
    Details,
    EventCount,
    SummaryKey,
}

#[derive(DeriveIden)]
enum DeletedAccounts {
    Table,
    UserId,
    UpstreamHash,
    DeletedAt,
    PurgeAt,
}

#[derive(DeriveIden)]
enum PartnerSubjects {
    Table,
    PartnerId,
    UserId,
    FirstAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
