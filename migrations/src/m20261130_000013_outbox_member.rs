//! The member an outbox row carries data of (`outbox.member_id`), indexed, so an account
//! deletion and the purge find that member's rows without reading every payload; and the
//! partners that had already redeemed a member's token before `partner_subjects` existed.

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
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .add_column(ColumnDef::new(Outbox::MemberId).uuid())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_member")
                    .table(Outbox::Table)
                    .col(Outbox::MemberId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // Every partner that received a member so far: each redeemed token says so.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO partner_subjects (partner_id, user_id, first_at) \
                 SELECT partner_id, user_id, MIN(redeemed_at) FROM partner_tokens \
                 WHERE redeemed_at IS NOT NULL GROUP BY partner_id, user_id",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_outbox_member")
                    .table(Outbox::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .drop_column(Outbox::MemberId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    MemberId,
}
