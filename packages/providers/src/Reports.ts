/**
 * Provider cost and usage reports (admin APIs), for reconciliation against Tally's own ledger:
 * OpenAI `/organization/costs` and `/organization/usage/completions`, Anthropic
 * `/organizations/cost_report` and `/organizations/usage_report/messages`.
 *
 * Units differ and are normalized here: OpenAI reports dollars as a JSON number with a lower-case
 * currency; Anthropic reports CENTS as a decimal string ("123.45" = $1.2345) with "USD". Every
 * amount comes out in major units as an exact decimal.
 */
import { Money, Usage } from "@tally/core"
import { Result, Schema } from "effect"
import * as NormalizeError from "./NormalizeError.ts"
import * as Decode from "./internal/Decode.ts"
import * as Ledger from "./internal/Ledger.ts"
import * as Path from "./internal/Path.ts"
import * as Payload from "./internal/Payload.ts"
import * as UsageParts from "./internal/UsageParts.ts"

export const CostRow = Schema.Struct({
  /** Bucket start and end, ISO 8601 (end exclusive). */
  start: Schema.String,
  end: Schema.String,
  /** In major units (dollars), exact. */
  amount: Money.DecimalFromString,
  currency: Money.CurrencyCode,
  /** Grouping fields that were present and non-null (model, workspace_id, line_item, …), as text. */
  labels: Schema.Record(Schema.String, Schema.String)
})
export type CostRow = typeof CostRow.Type

export const UsageRow = Schema.Struct({
  start: Schema.String,
  end: Schema.String,
  usage: Usage.Usage,
  labels: Schema.Record(Schema.String, Schema.String)
})
export type UsageRow = typeof UsageRow.Type

export const Report = Schema.Union([
  Schema.Struct({ provider: Schema.String, kind: Schema.Literal("costs"), rows: Schema.Array(CostRow), hasMore: Schema.Boolean }),
  Schema.Struct({ provider: Schema.String, kind: Schema.Literal("usage"), rows: Schema.Array(UsageRow), hasMore: Schema.Boolean })
])
export type Report = typeof Report.Type

export const toJson = Schema.encodeSync(Report)

const Label = Schema.optionalKey(Schema.NullOr(Schema.Union([Schema.String, Schema.Finite, Schema.Boolean])))

const Page = <Row extends Schema.Decoder<unknown>, Time extends Schema.Decoder<unknown>>(row: Row, time: Time) =>
  Schema.Struct({
    data: Schema.Array(Schema.Struct({ start_time: Schema.optionalKey(time), end_time: Schema.optionalKey(time), starting_at: Schema.optionalKey(time), ending_at: Schema.optionalKey(time), results: Schema.Array(row) })),
    has_more: Schema.optionalKey(Schema.NullOr(Schema.Boolean))
  })

// --- OpenAI ---------------------------------------------------------------------------------

const OpenAICost = Schema.Struct({
  amount: Schema.Struct({ value: Schema.Finite, currency: Schema.String }),
  line_item: Label,
  project_id: Label,
  api_key_id: Label,
  quantity: Label,
  quantity_unit: Label
})

const OpenAIUsage = Schema.Struct({
  input_tokens: Decode.OptCount,
  input_cached_tokens: Decode.OptCount,
  input_cache_write_tokens: Decode.OptCount,
  input_uncached_tokens: Decode.OptCount,
  output_tokens: Decode.OptCount,
  input_text_tokens: Decode.OptCount,
  output_text_tokens: Decode.OptCount,
  input_cached_text_tokens: Decode.OptCount,
  input_audio_tokens: Decode.OptCount,
  input_cached_audio_tokens: Decode.OptCount,
  output_audio_tokens: Decode.OptCount,
  input_image_tokens: Decode.OptCount,
  input_cached_image_tokens: Decode.OptCount,
  output_image_tokens: Decode.OptCount,
  num_model_requests: Decode.OptCount,
  project_id: Label,
  user_id: Label,
  api_key_id: Label,
  model: Label,
  batch: Label,
  service_tier: Label
})
type OpenAIUsage = typeof OpenAIUsage.Type

const decodeOpenAICosts = Decode.decoder(Page(OpenAICost, Schema.Finite))
const decodeOpenAIUsage = Decode.decoder(Page(OpenAIUsage, Schema.Finite))

// --- Anthropic ------------------------------------------------------------------------------

const AnthropicCost = Schema.Struct({
  amount: Schema.String,
  currency: Schema.String,
  workspace_id: Label,
  description: Label,
  cost_type: Label,
  context_window: Label,
  model: Label,
  service_tier: Label,
  token_type: Label,
  inference_geo: Label
})

const AnthropicUsage = Schema.Struct({
  uncached_input_tokens: Decode.OptCount,
  cache_creation: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    ephemeral_1h_input_tokens: Decode.OptCount,
    ephemeral_5m_input_tokens: Decode.OptCount
  }))),
  cache_read_input_tokens: Decode.OptCount,
  output_tokens: Decode.OptCount,
  server_tool_use: Schema.optionalKey(Schema.NullOr(Schema.Struct({ web_search_requests: Decode.OptCount }))),
  model: Label,
  workspace_id: Label,
  api_key_id: Label,
  service_tier: Label,
  context_window: Label,
  inference_geo: Label
})

const decodeAnthropicCosts = Decode.decoder(Page(AnthropicCost, Schema.String))
const decodeAnthropicUsage = Decode.decoder(Page(AnthropicUsage, Schema.String))

const LABEL_KEYS = ["model", "project_id", "user_id", "api_key_id", "line_item", "quantity", "quantity_unit", "batch", "service_tier",
  "workspace_id", "description", "cost_type", "context_window", "token_type", "inference_geo"] as const

const labelsOf = (row: Readonly<Record<string, unknown>>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const key of LABEL_KEYS) {
    const value = row[key]
    if (value !== null && value !== undefined) out[key] = String(value)
  }
  return out
}

const iso = (time: unknown): string => (typeof time === "number" ? new Date(time * 1000).toISOString() : String(time))

const openAIUsageRow = (base: Path.Path, row: OpenAIUsage): Result.Result<Usage.Usage, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    const p = "openai"
    const input = Ledger.at(base, "input_tokens", row.input_tokens)
    const cached = Ledger.at(base, "input_cached_tokens", row.input_cached_tokens)
    const write = Ledger.at(base, "input_cache_write_tokens", row.input_cache_write_tokens)
    const text = Ledger.at(base, "input_text_tokens", row.input_text_tokens)
    const audio = Ledger.at(base, "input_audio_tokens", row.input_audio_tokens)
    const image = Ledger.at(base, "input_image_tokens", row.input_image_tokens)
    const output = Ledger.at(base, "output_tokens", row.output_tokens)
    const textOut = Ledger.at(base, "output_text_tokens", row.output_text_tokens)
    const audioOut = Ledger.at(base, "output_audio_tokens", row.output_audio_tokens)
    const imageOut = Ledger.at(base, "output_image_tokens", row.output_image_tokens)
    const uncachedValue = yield* Ledger.remainder(p, input, [cached, write])
    const uncached = yield* Ledger.agree(p, Ledger.derived(input.path, uncachedValue), Ledger.at(base, "input_uncached_tokens", row.input_uncached_tokens))
    const cachedSplit = [
      Ledger.at(base, "input_cached_text_tokens", row.input_cached_text_tokens),
      Ledger.at(base, "input_cached_audio_tokens", row.input_cached_audio_tokens),
      Ledger.at(base, "input_cached_image_tokens", row.input_cached_image_tokens)
    ]
    if (cachedSplit.some((f) => f.present)) yield* Ledger.checkTotal(p, cached, cachedSplit)
    let inputText: number
    if (text.present) {
      // Current schema: per-modality counts are uncached and add up to the uncached input.
      yield* Ledger.checkTotal(p, Ledger.derived(uncached.path, uncached.value), [text, audio, image])
      inputText = text.value
    } else {
      inputText = yield* Ledger.remainder(p, Ledger.derived(uncached.path, uncached.value), [audio, image])
    }
    let outputText: number
    if (textOut.present) {
      yield* Ledger.checkTotal(p, output, [textOut, audioOut, imageOut])
      outputText = textOut.value
    } else {
      outputText = yield* Ledger.remainder(p, output, [audioOut, imageOut])
    }
    return UsageParts.make({
      tokens: { inputText, inputAudio: audio.value, inputImage: image.value, cacheRead: cached.value, cacheWrite5m: write.value,
        outputText, outputAudio: audioOut.value, outputImage: imageOut.value },
      requests: row.num_model_requests ?? undefined,
      batch: row.batch === true,
      serviceTier: typeof row.service_tier === "string" ? row.service_tier : undefined
    })
  })

const currencyOf = (provider: string, path: Path.Path, currency: string): Result.Result<string, NormalizeError.NormalizeError> => {
  const upper = currency.toUpperCase()
  return /^[A-Z]{3}$/.test(upper) ? Result.succeed(upper) : Result.fail(NormalizeError.make(provider, path, "malformed", `expected an ISO 4217 currency, got ${JSON.stringify(currency)}`))
}

const first = (value: unknown): Record<string, unknown> | undefined => {
  if (!Payload.isRecord(value) || !Array.isArray(value["data"])) return undefined
  for (const bucket of value["data"]) {
    if (Payload.isRecord(bucket) && Array.isArray(bucket["results"]) && Payload.isRecord(bucket["results"][0])) return bucket["results"][0]
  }
  return undefined
}

/**
 * One page of a cost or usage report. `provider` is "openai" or "anthropic"; the kind (costs or
 * usage) is read from the rows.
 */
export const normalize = (input: { readonly provider: string; readonly payload: unknown }): Result.Result<Report, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    const provider = input.provider.trim().toLowerCase()
    const row = first(input.payload)
    const hasMore = Payload.isRecord(input.payload) && input.payload["has_more"] === true
    if (provider === "openai") {
      if (row !== undefined && "amount" in row) {
        const page = yield* decodeOpenAICosts(provider, Path.root, input.payload)
        const rows: Array<CostRow> = []
        for (const [b, bucket] of page.data.entries()) {
          for (const [r, result] of bucket.results.entries()) {
            const currency = yield* currencyOf(provider, ["data", b, "results", r, "amount", "currency"], result.amount.currency)
            rows.push({ start: iso(bucket.start_time), end: iso(bucket.end_time), amount: new Money.Decimal(String(result.amount.value)), currency, labels: labelsOf(result) })
          }
        }
        return { provider, kind: "costs" as const, rows, hasMore }
      }
      const page = yield* decodeOpenAIUsage(provider, Path.root, input.payload)
      const rows: Array<UsageRow> = []
      for (const [b, bucket] of page.data.entries()) {
        for (const [r, result] of bucket.results.entries()) {
          const usage = yield* openAIUsageRow(["data", b, "results", r], result)
          rows.push({ start: iso(bucket.start_time), end: iso(bucket.end_time), usage, labels: labelsOf(result) })
        }
      }
      return { provider, kind: "usage" as const, rows, hasMore }
    }
    if (provider === "anthropic") {
      if (row !== undefined && "amount" in row) {
        const page = yield* decodeAnthropicCosts(provider, Path.root, input.payload)
        const rows: Array<CostRow> = []
        for (const [b, bucket] of page.data.entries()) {
          for (const [r, result] of bucket.results.entries()) {
            const path: Path.Path = ["data", b, "results", r, "amount"]
            const cents = Money.parse(result.amount)
            if (cents === undefined) return yield* Result.fail(NormalizeError.make(provider, path, "malformed", `expected a decimal string of cents, got ${JSON.stringify(result.amount)}`))
            const currency = yield* currencyOf(provider, ["data", b, "results", r, "currency"], result.currency)
            rows.push({ start: iso(bucket.starting_at), end: iso(bucket.ending_at), amount: cents.div(Money.HUNDRED), currency, labels: labelsOf(result) })
          }
        }
        return { provider, kind: "costs" as const, rows, hasMore }
      }
      const page = yield* decodeAnthropicUsage(provider, Path.root, input.payload)
      const rows: Array<UsageRow> = []
      for (const bucket of page.data) {
        for (const result of bucket.results) {
          const usage = UsageParts.make({
            tokens: {
              inputText: result.uncached_input_tokens ?? 0,
              cacheRead: result.cache_read_input_tokens ?? 0,
              cacheWrite5m: result.cache_creation?.ephemeral_5m_input_tokens ?? 0,
              cacheWrite1h: result.cache_creation?.ephemeral_1h_input_tokens ?? 0,
              outputText: result.output_tokens ?? 0
            },
            webSearches: result.server_tool_use?.web_search_requests ?? 0,
            batch: result.service_tier === "batch",
            serviceTier: typeof result.service_tier === "string" && result.service_tier !== "batch" ? result.service_tier : undefined
          })
          rows.push({ start: iso(bucket.starting_at), end: iso(bucket.ending_at), usage, labels: labelsOf(result) })
        }
      }
      return { provider, kind: "usage" as const, rows, hasMore }
    }
    return yield* Result.fail(NormalizeError.make(input.provider, Path.root, "unsupported", "cost and usage reports are read for openai and anthropic"))
  })
