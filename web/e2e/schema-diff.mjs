// Contract care for shipped apps: every commit that changed schema.graphql (and the working tree)
// is compared with the schema before it; a breaking change (a removed or renamed field,
// argument, type or enum value, a narrowed type) fails unless that commit's message says
// `[breaking-schema]`. Removals go through @deprecated first.
// Usage: node web/e2e/schema-diff.mjs
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { buildSchema } from "graphql";
import { CriticalityLevel, diff } from "@graphql-inspector/core";

const root = execFileSync("git", ["rev-parse", "--show-toplevel"], { encoding: "utf8" }).trim();
// Always from the repository root, so the result does not depend on where it is run.
const git = (...args) =>
  execFileSync("git", args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
const schemaAt = (rev) => {
  try {
    return git("show", `${rev}:schema.graphql`);
  } catch {
    return null;
  }
};

const steps = git("log", "--format=%H", "--", "schema.graphql")
  .split("\n")
  .filter(Boolean)
  .map((commit) => ({ label: commit.slice(0, 10), before: schemaAt(`${commit}~1`), after: schemaAt(commit), commit }));
steps.unshift({ label: "working tree", before: schemaAt("HEAD"), after: readFileSync(`${root}/schema.graphql`, "utf8") });

let failures = 0;
for (const { label, before, after, commit } of steps) {
  if (before === null || after === null || before === after) continue;
  const changes = await diff(buildSchema(before), buildSchema(after));
  const breaking = changes.filter((c) => c.criticality.level === CriticalityLevel.Breaking);
  if (breaking.length === 0) continue;
  const intended = commit !== undefined && git("log", "-1", "--format=%B", commit).includes("[breaking-schema]");
  for (const change of breaking) console.log(`${label}: BREAKING: ${change.message}${intended ? " (marked intended)" : ""}`);
  if (!intended) failures += 1;
}
if (failures > 0) {
  console.error(
    "schema check: breaking changes to the GraphQL contract. Deprecate first (@deprecated), " +
      "or mark the commit with [breaking-schema] when the break is intended.",
  );
  process.exit(1);
}
console.log(`schema check: ok (${steps.length - 1} schema commits compared)`);
