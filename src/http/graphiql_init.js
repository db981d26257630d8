// Starts GraphiQL against this server, with a ready login for the built-in simulator's example
// member. Served as a file (not inline) so the page's Content-Security-Policy needs no
// 'unsafe-inline' for scripts.
(function () {
  var example = [
    "# Logs in the example member of the built-in Hybris simulator.",
    "# Copy accessToken into the Headers tab as",
    "#   {\"Authorization\": \"Bearer <accessToken>\"}",
    "# to run `me` and `sessions`.",
    "mutation Login {",
    "  login(input: {",
    "    email: \"anna.rider@example.org\"",
    "    password: \"Ride-2026!\"",
    "    device: { deviceId: \"graphiql\", deviceType: WEB, deviceName: \"GraphiQL\" }",
    "  }) {",
    "    accessToken",
    "    expiresIn",
    "    refreshToken",
    "    user { id email firstName membership { number endDate active } }",
    "    session { id expiresAt }",
    "  }",
    "}",
    "",
    "query Me {",
    "  me { id email firstName lastName }",
    "  sessions { id deviceName current lastAccessedAt }",
    "}",
    ""
  ].join("\n");
  var fetcher = GraphiQL.createFetcher({ url: window.location.origin + "/graphql" });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: example,
      defaultEditorToolsVisibility: true
    })
  );
})();
