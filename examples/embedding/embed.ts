/**
 * Embedding Tally in a TypeScript service, without Effect: run with
 *
 *   node embed.ts            (in this folder, after npm install)
 *
 * It uses an in-memory PGlite database unless TALLY_DATABASE_URL (PostgreSQL) or TALLY_DATA_DIR
 * (a PGlite directory) is set, and prints one JSON document on stdout.
 */
import { createTally } from "@tally/engine"

const tally = await createTally({
  database: process.env["TALLY_DATABASE_URL"] || undefined,
  dataDir: process.env["TALLY_DATA_DIR"] || undefined
})

try {
  const tenant = await tally.createTenant({ name: "Acme Corp", currency: "USD" })

  const events = [
    // A raw provider response, exactly as the OpenAI SDK returned it.
    {
      requestId: "chatcmpl-embed-0001",
      occurredAt: "2026-01-15T10:00:00Z",
      labels: { feature: "answer", customer: "globex", user: "u-42" },
      provider: "openai",
      payload: {
        id: "chatcmpl-embed-0001",
        object: "chat.completion",
        model: "gpt-4.1-nano-2025-04-14",
        choices: [{ index: 0, message: { role: "assistant", content: "Hello!" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 16, completion_tokens: 363, total_tokens: 379 }
      }
    },
    // Usage you normalized yourself, for a model the catalog does not know: recorded unpriced.
    {
      requestId: "local-embed-0002",
      occurredAt: "2026-01-15T10:01:00Z",
      provider: "openai",
      model: "my-finetune-that-is-not-in-the-catalog",
      usage: { tokens: { inputText: 1200, outputText: 80 } }
    },
    // A bad event: negative tokens. Rejected, kept in dead letters with the reason.
    {
      requestId: "chatcmpl-embed-0003",
      occurredAt: "2026-01-15T10:02:00Z",
      provider: "openai",
      payload: { id: "x", object: "chat.completion", model: "gpt-4.1-nano", choices: [], usage: { prompt_tokens: -5, completion_tokens: 1 } }
    }
  ]

  // The labels of the API key (or service) that sent the events; an event's own labels win.
  const options = { defaultLabels: { project: "support-bot", environment: "prod" } }
  const first = await tally.ingest(tenant.tenantId, events, options)
  const replay = await tally.ingest(tenant.tenantId, events, options)

  // Price one call without recording it, as `tally cost` does.
  const quote = await tally.cost(
    { provider: "openai", payload: events[0]!.payload },
    { at: "2026-01-15T10:00:00Z" }
  )

  // Price usage with a snapshot of your own (USD per million tokens).
  const breakdown = await tally.price(
    { tokens: { inputText: 1000, outputText: 500 } },
    { provider: "openai", modelKey: "gpt-4o", currency: "USD", rates: { inputText: "2.50", outputText: "10.00" } }
  )

  console.log(JSON.stringify(
    {
      tenantId: tenant.tenantId,
      ingest: first,
      replay: { inserted: replay.inserted, duplicates: replay.duplicates, rejected: replay.rejected },
      quote: { model: quote.model, total: quote.total, currency: quote.currency, costSource: quote.costSource },
      price: { total: breakdown.total, currency: breakdown.currency, lines: breakdown.lines.length }
    },
    null,
    2
  ))
} finally {
  await tally.close()
}
