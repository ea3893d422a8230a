import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createTally, type Tally } from "../src/Tally.ts"
import { fixtureJson } from "./FixtureFiles.ts"
import { backend, layerOptions, postgresOnlyLayer, testDatabaseUrl } from "./TestStore.ts"

const openai = fixtureJson<{ payload: Record<string, unknown> }>("openai-chat-completion.json").payload
const event = (requestId: string) => ({ requestId, occurredAt: "2026-01-15T10:00:00Z", provider: "openai", payload: openai })

const snapshot = { provider: "openai", modelKey: "gpt-4o", currency: "USD", rates: { inputText: "2.50", outputText: "10.00" } }

/** Each test opens its own databases (PGlite start, migrations, catalog load): allow for a busy machine. */
const timeout = 180_000

/** Runs `use` with a facade, always closing it. */
const withTally = <A>(options: Parameters<typeof createTally>[0], use: (tally: Tally) => Promise<A>) =>
  Effect.promise(async () => {
    const tally = await createTally(options)
    try {
      return await use(tally)
    } finally {
      await tally.close()
    }
  })

const rejection = async (promise: Promise<unknown>) => {
  try {
    await promise
  } catch (error) {
    return error as { readonly _tag?: string; readonly message: string; readonly field?: string; readonly reason?: string }
  }
  throw new Error("expected a rejection")
}

/** Every facade method rejects with a typed error naming what is wrong; closing twice is fine. */
const typedErrors = async (tally: Tally) => {
  const badUsage = await rejection(tally.price({ tokens: { inputText: -1 } }, snapshot))
  assert.strictEqual(badUsage._tag, "InvalidInput")
  assert.strictEqual(badUsage.field, "usage.tokens.inputText")
  const typo = await rejection(tally.price({ tokens: { input_tokens: 1 } }, snapshot))
  assert.strictEqual(typo.field, "usage.tokens.input_tokens")
  const badAt = await rejection(tally.cost({ provider: "openai", payload: openai }, { at: "last tuesday" }))
  assert.strictEqual(badAt.field, "at")
  const provider = await rejection(tally.cost({ provider: "acme", payload: {} }))
  assert.strictEqual(provider._tag, "NormalizeError")
  const currency = await rejection(tally.createTenant({ name: "X", currency: "dollars" }))
  assert.strictEqual(currency._tag, "InvalidTenant")
  const tenant = await rejection(tally.ingest("nobody", [event("n1")]))
  assert.strictEqual(tenant._tag, "IngestFailure")
  assert.strictEqual(tenant.reason, "unknown-tenant")
  await tally.close()
  await tally.close()
  assert.match((await rejection(tally.createTenant({ name: "late" }))).message, /closed/)
}

describe(`createTally on ${backend}`, () => {
  layer(postgresOnlyLayer, layerOptions)((it) => {
    it.effect("round trip: create a tenant, ingest, replay, cost and price, close", () =>
      Effect.gen(function*() {
        const database = yield* testDatabaseUrl
        const out = yield* withTally({ database }, async (tally) => {
          const tenant = await tally.createTenant({ name: "Facade Inc", currency: "USD", timeZone: "Europe/Berlin" })
          const first = await tally.ingest(tenant.tenantId, [event("f1"), event("f2")], { defaultLabels: { project: "p" } })
          const replay = await tally.ingest(tenant.tenantId, [event("f1"), event("f2")], { defaultLabels: { project: "p" } })
          const quote = await tally.cost({ provider: "openai", payload: openai }, { at: "2026-01-15T10:00:00Z" })
          const priced = await tally.price({ tokens: { inputText: 1000, outputText: 500 } }, snapshot)
          return { tenant, first, replay, quote, priced }
        })
        assert.strictEqual(out.tenant.timeZone, "Europe/Berlin")
        assert.match(out.tenant.tenantId, /^tnt_/)
        assert.deepStrictEqual(out.first.items.map((i) => i.status), ["inserted", "inserted"])
        assert.deepStrictEqual(out.replay.items.map((i) => i.status), ["duplicate", "duplicate"])
        // gpt-4.1-nano: 16 input at $0.10/M + 363 output at $0.40/M.
        assert.strictEqual(out.first.items[0]!.total, "0.0001468")
        assert.strictEqual(out.quote.total, "0.0001468")
        assert.strictEqual(out.quote.costSource, "computed")
        assert.strictEqual(out.priced.total, "0.0075")
      }), timeout)

    it.effect("typed errors reject, naming what is wrong; a closed facade refuses work", () =>
      Effect.gen(function*() {
        const database = yield* testDatabaseUrl
        const tally = yield* Effect.promise(() => createTally({ database }))
        yield* Effect.promise(() => typedErrors(tally))
      }), timeout)

    it.effect("close records every ingest already started; a PGlite data dir keeps them for the next open", () =>
      Effect.promise(async () => {
        const dataDir = mkdtempSync(join(tmpdir(), "tally-facade-"))
        try {
          const tally = await createTally({ dataDir, pipeline: { maxWait: "1 hour", maxBatch: 1_000_000 } })
          const { tenantId } = await tally.createTenant({ name: "Persisted" })
          // Batches never fill and never time out: only the drain on close records them.
          const pending = Array.from({ length: 10 }, (_, i) => tally.ingest(tenantId, [event(`p${i}`)]))
          await tally.close()
          const results = await Promise.all(pending)
          assert.strictEqual(results.reduce((n, r) => n + r.inserted, 0), 10)

          const reopened = await createTally({ dataDir })
          try {
            const replay = await reopened.ingest(tenantId, Array.from({ length: 10 }, (_, i) => event(`p${i}`)))
            assert.strictEqual(replay.duplicates, 10)
          } finally {
            await reopened.close()
          }
        } finally {
          rmSync(dataDir, { recursive: true, force: true })
        }
      }), timeout)
  })
})
