/**
 * withTally on the official SDKs, end to end, with no network: a local server that speaks the
 * OpenAI and Anthropic wire formats (fake-providers.mjs) stands in for the providers, and an
 * embedded engine (PGlite in memory; TALLY_DATABASE_URL for PostgreSQL) records every call.
 *
 *   node wrap.mjs
 *
 * It makes a chat completion, a streamed chat completion, a Responses call, an embedding, a
 * streamed Anthropic message, a call refused by a budget, a call the provider refuses and a stream
 * abandoned mid-way, then prints one JSON document: what each call recorded, and the tenant's usage.
 */
/* global console, process, setTimeout */
import Anthropic from "@anthropic-ai/sdk"
import { BudgetExceeded, tallyCall, withTally } from "@tally/clients"
import { createTally } from "@tally/engine"
import OpenAI from "openai"
import { startFakeProviders } from "./fake-providers.mjs"

const fake = await startFakeProviders()
const tally = createTally({ database: process.env.TALLY_DATABASE_URL || undefined })
try {
  const { tenantId } = await tally.createTenant({ name: "Example" })
  await tally.budgets.create(tenantId, { name: "capped", scope: { project: "capped" }, period: "month", amount: "0.001", action: "block" })

  const recorded = []
  const options = {
    tally,
    tenantId,
    labels: { project: "example", environment: "dev" },
    onRecord: (call) => recorded.push(call),
    onError: (error) => console.error(`tally: ${error.message}`)
  }
  const openai = withTally(new OpenAI({ apiKey: "sk-example", baseURL: `${fake.url}/v1`, maxRetries: 0 }), options)
  const anthropic = withTally(new Anthropic({ apiKey: "sk-ant-example", baseURL: fake.url, maxRetries: 0 }), options)
  const capped = withTally(openai, { labels: { project: "capped" }, budget: { defaultMaxOutputTokens: 1000 } })

  /** Waits until `count` calls were recorded (recording happens just after each call returns). */
  const recordedCount = async (count) => {
    while (recorded.length < count) await new Promise((resolve) => setTimeout(resolve, 5))
  }

  const completion = await openai.chat.completions.create(
    { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }] },
    tallyCall({ labels: { user: "alice" } })
  )
  await recordedCount(1)

  let streamed = ""
  const stream = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }], stream: true })
  for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? ""
  await recordedCount(2)

  await openai.responses.create({ model: "gpt-4o-mini", input: "Hello" })
  await recordedCount(3)
  await openai.embeddings.create({ model: "text-embedding-3-small", input: "Hello" })
  await recordedCount(4)

  let claude = ""
  const messages = await anthropic.messages.create({ model: "claude-haiku-4-5", max_tokens: 512, messages: [{ role: "user", content: "Hello" }], stream: true })
  for await (const event of messages) if (event.type === "content_block_delta" && event.delta.type === "text_delta") claude += event.delta.text
  await recordedCount(5)

  let refused = null
  try {
    await capped.chat.completions.create({ model: "gpt-4o", max_tokens: 50_000, messages: [{ role: "user", content: "A long essay" }] })
  } catch (error) {
    if (!(error instanceof BudgetExceeded)) throw error
    refused = { tag: error._tag, estimatedCost: error.estimatedCost, deniedBy: error.decision.deniedBy.length }
  }

  let providerError = null
  try {
    await capped.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }] }, { headers: { "x-fake-behavior": "error" } })
  } catch (error) {
    providerError = { status: error.status, type: error.constructor.name }
  }
  await recordedCount(6)

  const abandoned = await capped.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }], stream: true })
  for await (const _chunk of abandoned) break
  await recordedCount(7)

  const usage = await tally.usage(tenantId, { from: "2000-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z", groupBy: ["project", "provider"] })
  console.log(JSON.stringify({
    completion: completion.choices[0].message.content,
    streamed,
    claude,
    refused,
    providerError,
    calls: recorded.map((c) => ({
      api: c.api,
      provider: c.provider,
      outcome: c.outcome,
      stream: c.stream,
      status: c.status,
      total: c.total,
      costSource: c.costSource,
      reservation: c.reservation === null ? null : c.reservation.state
    })),
    usage: usage.buckets.map((b) => ({ project: b.group.project, provider: b.group.provider, requests: b.requests, spend: b.spend })),
    total: usage.totals.spend
  }, null, 2))
} finally {
  await tally.close()
  await fake.close()
}
