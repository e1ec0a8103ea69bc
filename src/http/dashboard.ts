// The dashboard's routes: the page and its script and style sheet, served from the executable
// itself (imported as text, so `bun build --compile` embeds them; no CDN, works offline). Open
// routes: the files hold no data; everything they show comes from the API with the user's key.

import type { Route } from "./route.ts";
import appJs from "./dashboard/app.js" with { type: "text" };
import styleCss from "./dashboard/style.css" with { type: "text" };

/**
 * The page runs only its own script and style from this origin and talks only to this origin: an
 * injected value cannot load or send anything elsewhere, and the key in sessionStorage stays here.
 * No framing (clickjacking of the action buttons).
 */
const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

function file(path: string, operationId: string, summary: string, body: string, contentType: string): Route {
  return {
    method: "GET",
    path,
    operation: null,
    operationId,
    summary,
    tag: "meta",
    responses: [{ status: 200, description: summary, contentType, schema: { type: "string" } }],
    errors: [],
    handle() {
      return new Response(body, { headers: { "content-type": `${contentType}; charset=utf-8`, "cache-control": "no-cache", ...SECURITY_HEADERS } });
    },
  };
}

/** The page: a frame the script fills (style and script are separate files, as the CSP requires). */
const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tq-broker</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/style.css">
<script src="/dashboard/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
  <h1><a href="#/">tq-broker</a></h1>
  <nav aria-label="Pages">
    <a href="#/" data-page="overview">Overview</a>
    <a href="#/tasks" data-page="tasks">Tasks</a>
    <a href="#/queues" data-page="queues">Queues</a>
    <a href="#/workers" data-page="workers">Workers</a>
  </nav>
  <span id="live" class="live off" role="status" aria-live="polite">connecting</span>
  <button id="logout" type="button" hidden>Forget key</button>
</header>
<div id="banner" role="alert" hidden></div>
<form id="login" hidden>
  <h2>API key</h2>
  <p>Auth is on: paste a key from <code>auth.api_keys</code>. It is kept in this tab only (sessionStorage) and sent as an <code>Authorization</code> header.</p>
  <p id="login-error" class="error" role="alert" hidden></p>
  <label for="key">Key</label>
  <input id="key" type="password" autocomplete="off" required>
  <button type="submit">Use key</button>
</form>
<main id="main" tabindex="-1"></main>
<dialog id="confirm" aria-labelledby="confirm-title">
  <form method="dialog">
    <h2 id="confirm-title"></h2>
    <p id="confirm-text"></p>
    <div class="row">
      <button value="cancel" type="submit">Cancel</button>
      <button value="ok" type="submit" id="confirm-ok" class="danger"></button>
    </div>
  </form>
</dialog>
</body>
</html>
`;

export const DASHBOARD_ROUTES: readonly Route[] = [
  file("/", "dashboard", "The dashboard page: overview, tasks, a task's page, queues and workers, live; it reads this API with the key typed into it.", INDEX_HTML, "text/html"),
  file("/dashboard/app.js", "dashboardScript", "The dashboard's script.", appJs, "text/javascript"),
  file("/dashboard/style.css", "dashboardStyle", "The dashboard's style sheet.", styleCss, "text/css"),
];
