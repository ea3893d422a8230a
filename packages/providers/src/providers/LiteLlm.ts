/**
 * LiteLLM proxy spend logs (docs/pricing-semantics.md#litellm): one row of LiteLLM's
 * `LiteLLM_SpendLogs` table (BerriAI/litellm, `schema.prisma`, model `LiteLLM_SpendLogs`:
 * `request_id`, `call_type`, `api_key` (hashed), `spend` (Float, USD), `total_tokens`,
 * `prompt_tokens`, `completion_tokens`, `startTime`, `endTime`, `model`, `model_group`,
 * `custom_llm_provider`, `api_base`, `user`, `metadata` (Json), `cache_hit`, `request_tags`,
 * `team_id`, `end_user`, `status`, …), as its export or `/spend/logs` returns it.
 *
 * The call is priced as the provider LiteLLM routed it to (`custom_llm_provider`) would bill it,
 * and LiteLLM's own `spend` is kept as the reported cost: reconciliation then lists every call
 * where LiteLLM's price differs from the catalog's (`reported-cost-variance`).
 *
 * Usage: `metadata.usage_object` when present (LiteLLM's OpenAI-format usage, with
 * `prompt_tokens_details.cached_tokens` and `completion_tokens_details.reasoning_tokens`), read
 * with OpenAI's inclusion rules; else the row's `prompt_tokens` and `completion_tokens`.
 */
import { Result, Schema } from "effect"
import * as NormalizeError from "../NormalizeError.ts"
import * as ChatCompletions from "../internal/ChatCompletions.ts"
import * as Decode from "../internal/Decode.ts"
import * as Path from "../internal/Path.ts"
import * as Payload from "../internal/Payload.ts"
import type * as Provider from "../internal/Provider.ts"
import * as UsageParts from "../internal/UsageParts.ts"

const SpendLog = Schema.Struct({
  request_id: Schema.String,
  call_type: Decode.OptString,
  spend: Decode.NonNegativeNumber,
  prompt_tokens: Decode.OptCount,
  completion_tokens: Decode.OptCount,
  total_tokens: Decode.OptCount,
  model: Decode.OptString,
  model_group: Decode.OptString,
  custom_llm_provider: Decode.OptString,
  status: Decode.OptString,
  metadata: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    usage_object: Schema.optionalKey(Schema.NullOr(ChatCompletions.ChatUsage))
  })))
})
const decodeSpendLog = Decode.decoder(SpendLog)

/**
 * LiteLLM's provider names (`custom_llm_provider`) that differ from Tally's provider ids; others
 * (`openai`, `anthropic`, `azure`, `bedrock`, `mistral`, `groq`, …) are the same.
 */
export const providerOf: Readonly<Record<string, string>> = {
  vertex_ai: "google",
  "vertex_ai-anthropic_models": "anthropic",
  vertex_ai_beta: "google",
  gemini: "google",
  azure_ai: "azure",
  text_completion_openai: "openai",
  together_ai: "together",
  fireworks_ai: "fireworks",
  cohere_chat: "cohere",
  xai: "xai"
}

/** True when a value looks like a SpendLogs row. */
export const looksLikeSpendLog = (value: unknown): boolean =>
  Payload.isRecord(value) && typeof value["request_id"] === "string" && "spend" in value && ("prompt_tokens" in value || "total_tokens" in value)

export const module: Provider.Module = {
  id: "litellm",
  apis: ["spend-log"],
  detect: (payload) => (payload._tag === "Single" && looksLikeSpendLog(payload.item.value) ? "spend-log" : undefined),
  normalize: (payload, api, context) =>
    Result.gen(function*() {
      if (payload._tag !== "Single") {
        return yield* Result.fail(NormalizeError.make("litellm", Path.root, "malformed", "expected one SpendLogs row (a JSON object)"))
      }
      const { path, value } = payload.item
      const row = yield* decodeSpendLog("litellm", path, value)
      if (row.status != null && row.status !== "success") {
        return yield* Result.fail(NormalizeError.make("litellm", Path.append(path, "status"), "failed-response", `the call's status is ${JSON.stringify(row.status)}; nothing is billable`))
      }
      const usageObject = row.metadata?.usage_object
      const usagePath = usageObject == null ? path : Path.append(path, "metadata", "usage_object")
      const usage: ChatCompletions.ChatUsage = usageObject ?? {
        prompt_tokens: row.prompt_tokens ?? 0,
        completion_tokens: row.completion_tokens ?? 0,
        ...(row.total_tokens == null ? {} : { total_tokens: row.total_tokens })
      }
      const result = yield* ChatCompletions.usageOf("litellm", "openai", usagePath, usage)
      const provider = row.custom_llm_provider == null || row.custom_llm_provider === "" ? undefined : (providerOf[row.custom_llm_provider] ?? row.custom_llm_provider)
      const extracted: Provider.Extracted = {
        api,
        model: row.model == null || row.model === "" ? (row.model_group ?? context.model ?? undefined) : row.model,
        modelProvider: provider,
        responseId: row.request_id,
        usage: UsageParts.make(result.parts),
        reportedCost: { amount: ChatCompletions.decimalOf(row.spend), currency: "USD", source: Path.format(Path.append(path, "spend")) }
      }
      return extracted
    })
}
