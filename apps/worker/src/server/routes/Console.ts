/**
 * The web console (`apps/console`, built to its `dist/`) at `/`, served from this process with
 * nothing fetched from elsewhere:
 *
 *   GET /assets/<file>     the console's hashed scripts and styles (cached for a year)
 *   GET /graphiql/<file>   GraphiQL's script, styles and editor workers (see graphql/Graphiql.ts)
 *   GET <any other path>   the console's page for a browser (`Accept: text/html`), so its own
 *                          paths (`/overview`, `/calls?id=…`) load on refresh; the API's JSON 404
 *                          for any other request no route takes (`fallback`, added last)
 *
 * The files are read once, when the worker starts. A worker started before the console was built
 * answers its pages with a 503 page that says how to build it.
 */
import { buildCommand, distDir } from "@tally/console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import { readdir, readFile } from "node:fs/promises"
import { extname, join, relative, sep } from "node:path"
import * as Graphiql from "../../graphql/Graphiql.ts"
import * as ApiError from "../ApiError.ts"

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
  ".json": "application/json"
}

/**
 * The console's page may load only what this server serves; a stray external URL is refused by
 * the browser (and logged in its console), which keeps the console working offline honest.
 */
const pageHeaders = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "cache-control": "no-cache"
}

interface Asset {
  readonly body: Uint8Array
  readonly contentType: string
}

export class ConsoleAssets extends Context.Service<ConsoleAssets, {
  /** The built files by URL path (`/assets/index-abc.js`); empty when the console is not built. */
  readonly files: ReadonlyMap<string, Asset>
}>()("@tally/worker/server/ConsoleAssets") {
  static readonly layer: Layer.Layer<ConsoleAssets> = Layer.effect(
    ConsoleAssets,
    Effect.tryPromise(async () => {
      const files = new Map<string, Asset>()
      for (const entry of await readdir(distDir, { recursive: true, withFileTypes: true })) {
        if (!entry.isFile() || entry.name.startsWith(".")) continue
        const path = join(entry.parentPath, entry.name)
        const url = `/${relative(distDir, path).split(sep).join("/")}`
        files.set(url, { body: await readFile(path), contentType: contentTypes[extname(path)] ?? "application/octet-stream" })
      }
      return files
    }).pipe(
      Effect.catch(() => Effect.succeed(new Map<string, Asset>())),
      Effect.map((files) => ConsoleAssets.of({ files }))
    )
  )
}

const notBuilt = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Tally console not built</title>
<body style="font:16px system-ui;max-width:40rem;margin:4rem auto;padding:0 1rem">
<h1>The console is not built yet</h1>
<p>Build it with <code>${buildCommand}</code> (<code>pnpm install</code> does it too), then restart the worker.
The GraphQL API at <a href="/graphql">/graphql</a> and the HTTP API work without it.</p></body></html>`

const notFound = ApiError.toResponse(ApiError.make("not_found", "no such route; see docs/worker.md for the API"))

const wantsHtml = (request: HttpServerRequest.HttpServerRequest) => (request.headers["accept"] ?? "").includes("text/html")

/** A console asset by its hashed name: immutable, so cached for a year. */
export const asset = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const { files } = yield* ConsoleAssets
  const file = files.get(new URL(request.url, "http://console").pathname)
  if (file === undefined) return notFound
  return HttpServerResponse.uint8Array(file.body, {
    contentType: file.contentType,
    headers: { "cache-control": "public, max-age=31536000, immutable", "x-content-type-options": "nosniff" }
  })
})

/**
 * Every request no other route takes: the console's page for a browser's GET (the page routes
 * itself), the API's JSON 404 for anything else.
 */
export const fallback = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  if (request.method !== "GET" || !wantsHtml(request) || request.url.startsWith("/api/")) return notFound
  const { files } = yield* ConsoleAssets
  const index = files.get("/index.html")
  if (index === undefined) return HttpServerResponse.text(notBuilt, { status: 503, contentType: contentTypes[".html"]!, headers: { "cache-control": "no-store" } })
  return HttpServerResponse.uint8Array(index.body, { contentType: index.contentType, headers: pageHeaders })
})

/** GraphiQL's own files, from the package that bundles it (loaded on the first request). */
export const graphiqlAsset = Effect.gen(function*() {
  const name = (yield* HttpRouter.params).file ?? ""
  const file = yield* Effect.promise(() => Graphiql.asset(name))
  if (file === undefined) return notFound
  return HttpServerResponse.text(file.body, {
    contentType: file.contentType,
    headers: { "cache-control": "public, max-age=3600", "x-content-type-options": "nosniff" }
  })
})

export const routes = [
  HttpRouter.route("GET", "/assets/*", asset),
  HttpRouter.route("GET", `${Graphiql.assetPath}/:file`, graphiqlAsset),
  HttpRouter.route("*", "*", fallback)
]
