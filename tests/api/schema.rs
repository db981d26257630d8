//! The committed `schema.graphql` is the schema the code serves.

#[test]
fn schema_graphql_is_up_to_date() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql exists at the repository root");
    let generated = login_api::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql is stale: run `cargo run -- print-schema > schema.graphql`"
    );
}

#[test]
fn the_contract_names_are_in_the_schema() {
    let sdl = login_api::graphql::sdl();
    for name in [
        "scalar Date",
        "scalar DateTime",
        "login(input: LoginInput!): AuthPayload!",
        "refreshSession(refreshToken: String!): AuthPayload!",
        "logout(scope: LogoutScope = CURRENT): Boolean!",
        "revokeSession(id: ID!): Boolean!",
        "me: User!",
        "currentSession: Session!",
        "sessions: [Session!]!",
        "enum DeviceType",
        "enum LogoutScope",
    ] {
        assert!(sdl.contains(name), "the schema lacks {name:?}:\n{sdl}");
    }
}
