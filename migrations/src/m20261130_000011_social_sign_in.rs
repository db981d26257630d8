//! Sign-in with Google and Facebook: the login nonces we issue (stored hashed, consumed by the
//! sign-in they bind), the link tokens that remember a verified identity until the member's
//! password login, and what an identity records of its account (email, how it was linked).

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
                    .table(LoginNonces::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(LoginNonces::Hash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(LoginNonces::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LoginNonces::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(LoginNonces::ConsumedAt).timestamp_with_time_zone())
                    // The sign-in it bound: its session, device and refresh-token derivation
                    // nonce, so a retry from that device within the grace gets the same tokens.
                    .col(ColumnDef::new(LoginNonces::SessionId).uuid())
                    .col(ColumnDef::new(LoginNonces::DeviceId).string_len(255))
                    .col(ColumnDef::new(LoginNonces::RotationNonce).string_len(64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LinkTokens::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(LinkTokens::Hash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(LinkTokens::Provider)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LinkTokens::Subject)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(ColumnDef::new(LinkTokens::Email).string_len(320))
                    .col(
                        ColumnDef::new(LinkTokens::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LinkTokens::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(LinkTokens::ConsumedAt).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UnlinkedIdentities::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(UnlinkedIdentities::Provider)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UnlinkedIdentities::Subject)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(ColumnDef::new(UnlinkedIdentities::UserId).uuid().not_null())
                    .col(
                        ColumnDef::new(UnlinkedIdentities::UnlinkedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(UnlinkedIdentities::Provider)
                            .col(UnlinkedIdentities::Subject),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, table) in [
            ("ix_login_nonces_expires", LoginNonces::Table.into_iden()),
            ("ix_link_tokens_expires", LinkTokens::Table.into_iden()),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table)
                        .col(Alias::new("expires_at"))
                        .to_owned(),
                )
                .await?;
        }
        // SQLite takes one column per ALTER TABLE.
        for column in [
            ColumnDef::new(Identities::Email).string_len(320).to_owned(),
            ColumnDef::new(Identities::LinkedBy)
                .string_len(16)
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Identities::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Identities::Email, Identities::LinkedBy] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Identities::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(UnlinkedIdentities::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(LinkTokens::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(LoginNonces::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum LoginNonces {
    Table,
    Hash,
    CreatedAt,
    ExpiresAt,
    ConsumedAt,
    SessionId,
    DeviceId,
    RotationNonce,
}

#[derive(DeriveIden)]
enum LinkTokens {
    Table,
    Hash,
    Provider,
    Subject,
    Email,
    CreatedAt,
    ExpiresAt,
    ConsumedAt,
}

/// Accounts a member unlinked: never linked to a member by email again.
#[derive(DeriveIden)]
enum UnlinkedIdentities {
    Table,
    Provider,
    Subject,
    UserId,
    UnlinkedAt,
}

#[derive(DeriveIden)]
enum Identities {
    Table,
    Email,
    LinkedBy,
}
