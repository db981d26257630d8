//! Sign-in by SMS code: the code challenges (each code stored only as an HMAC), and the phone
//! a member enrolled, shown on the user (the `phone` identity is what signs in).

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
                    .table(PhoneChallenges::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(PhoneChallenges::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(PhoneChallenges::Purpose)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PhoneChallenges::Phone)
                            .string_len(20)
                            .not_null(),
                    )
                    // The member the code is for: the number's owner when it was sent (login),
                    // or the enrolling member; none for a number nobody enrolled.
                    .col(ColumnDef::new(PhoneChallenges::UserId).uuid())
                    .col(
                        ColumnDef::new(PhoneChallenges::CodeHmac)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PhoneChallenges::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(PhoneChallenges::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PhoneChallenges::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(PhoneChallenges::ConsumedAt).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_phone_challenges_phone_created")
                    .table(PhoneChallenges::Table)
                    .col(PhoneChallenges::Phone)
                    .col(PhoneChallenges::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_phone_challenges_expires")
                    .table(PhoneChallenges::Table)
                    .col(PhoneChallenges::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        // SQLite takes one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(ColumnDef::new(Users::Phone).string_len(20))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(ColumnDef::new(Users::PhoneVerifiedAt).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await?;
        // One member per number: concurrent enrolments of one number meet here.
        manager
            .create_index(
                Index::create()
                    .name("ux_users_phone")
                    .table(Users::Table)
                    .col(Users::Phone)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_users_phone")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Users::Phone, Users::PhoneVerifiedAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(PhoneChallenges::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum PhoneChallenges {
    Table,
    Id,
    Purpose,
    Phone,
    UserId,
    CodeHmac,
    Attempts,
    CreatedAt,
    ExpiresAt,
    ConsumedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Phone,
    PhoneVerifiedAt,
}
