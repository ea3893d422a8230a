/**
 * A real GraphQL client (graphql-request) against a worker listening on a random port, and what
 * the GraphQL tests set up: tenants with keys of every scope, usage ingested over HTTP.
 */
import type { Tenant } from "../../packages/core/src/index.ts"
import { GraphQLClient, ClientError } from "../../apps/worker/node_modules/graphql-request/build/entrypoints/main.js"
import { createClient as createSseClient } from "../../apps/worker/node_modules/graphql-sse/lib/index.mjs"
import { ApiKeys, Tenants } from "../../packages/store/src/index.ts"
import { type InProcess, postJson } from "./Worker.ts"
import { Effect, Redacted } from "./Workspace.ts"

export { ClientError, GraphQLClient }

/** A graphql-sse client ("distinct connections" mode: one SSE stream per subscription) with `key`. */
export const sseClient = (server: InProcess, key: string) =>
  createSseClient({ url: `${server.url}/graphql`, headers: { authorization: `Bearer ${key}` }, retryAttempts: 0 })

/** A client whose every request carries `key` (or no Authorization header at all). */
export const client = (server: InProcess, key: string | undefined) =>
  new GraphQLClient(`${server.url}/graphql`, key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } })

export interface TestTenant {
  readonly id: string
  readonly admin: string
  readonly read: string
  readonly ingest: string
  readonly readKeyId: string
}

/** A tenant with an admin, a read and an ingest-only key. */
export const newTenant = (server: InProcess, input: Tenant.CreateTenant): Promise<TestTenant> =>
  server.run(Effect.gen(function*() {
    const tenant = yield* (yield* Tenants.Tenants).create(input)
    const keys = yield* ApiKeys.ApiKeys
    const admin = yield* keys.create(tenant.id, { name: "admin", scopes: ["admin"] })
    const read = yield* keys.create(tenant.id, { name: "read", scopes: ["read"] })
    const ingest = yield* keys.create(tenant.id, { name: "ingest", scopes: ["ingest"] })
    return {
      id: tenant.id,
      admin: Redacted.value(admin.secret),
      read: Redacted.value(read.secret),
      ingest: Redacted.value(ingest.secret),
      readKeyId: read.key.id
    }
  }))

/** Ingests usage events over HTTP with the tenant's ingest key; fails unless every event was inserted. */
export const ingest = async (server: InProcess, tenant: TestTenant, events: ReadonlyArray<unknown>) => {
  for (let i = 0; i < events.length; i += 1000) {
    const reply = await postJson(`${server.url}/api/v1/usage/ingest`, tenant.ingest, events.slice(i, i + 1000))
    if (reply.status !== 200 || reply.json.inserted !== Math.min(1000, events.length - i)) {
      throw new Error(`ingest failed: ${reply.status} ${reply.text.slice(0, 500)}`)
    }
  }
}

/** A normalized usage event (provider, model and token counts), priced by the built-in catalog. */
export const usageEvent = (
  requestId: string,
  occurredAt: string,
  options: {
    readonly model?: string
    readonly provider?: string
    readonly labels?: Record<string, string>
    readonly tags?: Record<string, string>
    readonly inputText?: number
    readonly outputText?: number
  } = {}
) => ({
  requestId,
  occurredAt,
  provider: options.provider ?? "openai",
  model: options.model ?? "gpt-4o",
  ...(options.labels === undefined ? {} : { labels: options.labels }),
  ...(options.tags === undefined ? {} : { tags: options.tags }),
  usage: { tokens: { inputText: options.inputText ?? 1000, outputText: options.outputText ?? 200 } }
})
