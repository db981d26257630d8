use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(uuid(Users::Id).primary_key())
                    .col(string_len_uniq(Users::UpstreamCustomerId, 255))
                    .col(string_len_uniq(Users::Email, 254))
                    .col(string_len_null(Users::FirstName, 255))
                    .col(string_len_null(Users::LastName, 255))
                    .col(string_len_null(Users::MembershipNumber, 64))
                    .col(date_null(Users::MembershipStartDate))
                    .col(date_null(Users::MembershipEndDate))
                    .col(string_len_null(Users::Chapter, 255))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Users::LastLoginAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Users {
    Table,
    Id,
    UpstreamCustomerId,
    Email,
    FirstName,
    LastName,
    MembershipNumber,
    MembershipStartDate,
    MembershipEndDate,
    Chapter,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}
