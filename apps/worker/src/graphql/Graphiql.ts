/**
 * GraphiQL at `GET /graphql` (in a browser), served entirely by the worker: yoga's default page
 * loads GraphiQL from a CDN and is blank offline. The page here loads the same GraphiQL build
 * (`@graphql-yoga/render-graphiql`, the yoga team's bundle of GraphiQL, its styles and its editor
 * workers) from `/graphiql/…`, and fills the `Authorization` header with the API key the console
 * signed in with (kept in the browser tab's sessionStorage, never sent in a URL).
 */
import type { GraphiQLOptions } from "graphql-yoga"

/** Where the page's files are served. */
export const assetPath = "/graphiql"

/** The sessionStorage key under which the console keeps the signed-in API key. */
export const sessionKey = "tally.apiKey"

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

/** JSON inside a `<script type="application/json">`: `<` escaped so no text can close the element. */
const jsonInHtml = (value: unknown) => JSON.stringify(value).replace(/</g, "\\u003c")

const icon = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='7' fill='%231f4f8a'/%3E%3Cpath d='M8 23V9m5 14V9m5 14V9m5 14V9M5 20L27 12' stroke='%23fff' stroke-width='2.4' stroke-linecap='round'/%3E%3C/svg%3E"

/** Yoga calls this for a browser's GET /graphql (its `renderGraphiQL` option). */
export const page = (options?: GraphiQLOptions): string => `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="referrer" content="no-referrer" />
    <title>${escapeHtml(options?.title ?? "Tally GraphQL")}</title>
    <link rel="icon" href="${icon}" />
    <link rel="stylesheet" href="${assetPath}/graphiql.css" />
  </head>
  <body class="no-focus-outline">
    <noscript>GraphiQL needs JavaScript; POST queries to /graphql with any client.</noscript>
    <div id="root" style="height:100vh"></div>
    <script type="application/json" id="graphiql-options">${jsonInHtml(options ?? {})}</script>
    <script src="${assetPath}/start.js"></script>
    <script src="${assetPath}/graphiql.js"></script>
    <script src="${assetPath}/render.js"></script>
  </body>
</html>
`

/** Monaco's workers by label, then the key from the console's session as the default header. */
const start = `(function () {
  var base = ${JSON.stringify(assetPath)};
  var workers = { editorWorkerService: base + "/editor.worker.js", json: base + "/json.worker.js", graphql: base + "/graphql.worker.js" };
  self.MonacoEnvironment = { globalAPI: false, getWorkerUrl: function (_id, label) { return workers[label] || workers.editorWorkerService; } };
})();
`

const render = `(function () {
  var options = JSON.parse(document.getElementById("graphiql-options").textContent || "{}");
  var key = null;
  try { key = window.sessionStorage.getItem(${JSON.stringify(sessionKey)}); } catch (e) { key = null; }
  options.headers = JSON.stringify({ Authorization: "Bearer " + (key || "<your API key: sign in to the console at / or paste it here>") }, null, 2);
  options.shouldPersistHeaders = false;
  YogaGraphiQL.renderYogaGraphiQL(document.getElementById("root"), options);
})();
`

export interface Asset {
  readonly body: string
  readonly contentType: string
}

const js = "text/javascript; charset=utf-8"

let bundle: Promise<ReadonlyMap<string, Asset>> | undefined

/** The bundle is ~9 MB of text: read on the first GraphiQL request, not when the worker starts. */
const load = () =>
  (bundle ??= import("@graphql-yoga/render-graphiql/graphiql").then((g) =>
    new Map<string, Asset>([
      ["graphiql.js", { body: g.js, contentType: js }],
      ["graphiql.css", { body: g.css, contentType: "text/css; charset=utf-8" }],
      ["editor.worker.js", { body: g.editorWorkerService, contentType: js }],
      ["json.worker.js", { body: g.jsonWorker, contentType: js }],
      ["graphql.worker.js", { body: g.graphqlWorker, contentType: js }],
      ["start.js", { body: start, contentType: js }],
      ["render.js", { body: render, contentType: js }]
    ])
  ))

/** One of the page's files by name; undefined for any other name. */
export const asset = async (name: string): Promise<Asset | undefined> => (await load()).get(name)
