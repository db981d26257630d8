// Browser check of the GraphiQL page in Debian's Chromium: the page loads with no request leaving
// the server, runs the example login, and shows an accessToken. Saves a screenshot.
// Usage: node graphiql.mjs http://127.0.0.1:PORT screenshot.png
import { chromium } from "playwright-core";

const [base, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("request", (request) => {
    if (!request.url().startsWith(base) && !request.url().startsWith("data:")) {
      problems.push(`request left the server: ${request.url()}`);
    }
  });
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`${response.status()} for ${response.url()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });

  await page.goto(`${base}/graphql`, { waitUntil: "load" });
  const run = page.locator(".graphiql-execute-button");
  await run.waitFor({ timeout: 30000 });
  await run.click();
  // GraphiQL asks which operation to run when the document holds several.
  const choice = page.locator(".graphiql-toolbar-menu li, [role=menuitem]").filter({ hasText: "Login" });
  if (await choice.first().isVisible({ timeout: 2000 }).catch(() => false)) {
    await choice.first().click();
  }
  await page.waitForFunction(
    () => (document.querySelector(".result-window")?.textContent ?? "").includes("accessToken"),
    null,
    { timeout: 30000 },
  );
  const result = await page.locator(".result-window").textContent();
  if (!/"accessToken":\s*"ey/.test(result.replace(/\s+/g, " "))) {
    problems.push(`the result pane has no access token: ${result.slice(0, 300)}`);
  }
  await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
if (problems.length > 0) {
  console.error(`GraphiQL browser check failed:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`GraphiQL browser check: ok (screenshot ${screenshot})`);
