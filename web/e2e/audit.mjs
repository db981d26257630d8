// GraphQL-over-HTTP compliance: runs graphql-http's server audits against the running server.
// Every MUST audit has to pass; SHOULD/MAY results are listed (README explains each).
// Usage: node audit.mjs http://127.0.0.1:PORT
import { serverAudits } from "graphql-http";

const base = process.argv[2];
const failures = [];
const warnings = [];
let passed = 0;
for (const audit of serverAudits({ url: `${base}/graphql` })) {
  const result = await audit.fn();
  if (result.status === "ok") {
    passed += 1;
  } else if (audit.name.startsWith("MUST")) {
    failures.push(`${audit.id} ${audit.name}: ${result.reason}`);
  } else {
    warnings.push(`${audit.id} ${audit.name}: ${result.reason}`);
  }
}
for (const warning of warnings) console.log(`warning: ${warning}`);
if (failures.length > 0) {
  console.error(`GraphQL-over-HTTP audit: ${failures.length} MUST audits failed:\n  ${failures.join("\n  ")}`);
  process.exit(1);
}
console.log(`GraphQL-over-HTTP audit: ok (${passed} audits passed, ${warnings.length} SHOULD/MAY warnings)`);
