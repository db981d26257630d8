use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Side effects (search index updates, analytics events) written in the same transaction as the
/// data they describe, and delivered later by the relay. `message_key` orders deliveries per
/// entity (one user's index updates go out oldest first); `claimed_until` is the lease of the
/// relay working on a row, so a crashed relay's rows become claimable again.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .if_not_exists()
                    .col(uuid(Outbox::Id).primary_key())
                    .col(string_len(Outbox::Sink, 32))
                    .col(string_len(Outbox::MessageKey, 255))
                    .col(text(Outbox::Payload))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone(Outbox::AvailableAt))
                    .col(integer(Outbox::Attempts).default(0))
                    .col(text_null(Outbox::LastError))
                    .col(timestamp_with_time_zone_null(Outbox::ClaimedUntil))
                    .col(string_len_null(Outbox::ClaimedBy, 64))
                    .col(timestamp_with_time_zone_null(Outbox::DeliveredAt))
                    .col(timestamp_with_time_zone_null(Outbox::DeadAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_pending")
                    .table(Outbox::Table)
                    .col(Outbox::Sink)
                    .col(Outbox::DeliveredAt)
                    .col(Outbox::DeadAt)
                    .col(Outbox::AvailableAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_key")
                    .table(Outbox::Table)
                    .col(Outbox::Sink)
                    .col(Outbox::MessageKey)
                    .col(Outbox::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Outbox::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Outbox {
    Table,
    Id,
    Sink,
    MessageKey,
    Payload,
    CreatedAt,
    AvailableAt,
    Attempts,
    LastError,
    ClaimedUntil,
    ClaimedBy,
    DeliveredAt,
    DeadAt,
}
