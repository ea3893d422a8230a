/**
 * `normalize`: a provider's raw payload → `NormalizedCall`, through a small registry of provider
 * modules. Pure and synchronous; `normalizeEffect` wraps it for Effect code.
 */
import { Usage } from "@tally/core"
import { Effect, Result } from "effect"
import * as CompatibleProviders from "./CompatibleProviders.ts"
import * as NormalizeError from "./NormalizeError.ts"
import * as NormalizedCall from "./NormalizedCall.ts"
import * as Tokenizer from "./Tokenizer.ts"
import * as Path from "./internal/Path.ts"
import * as Payload from "./internal/Payload.ts"
import type * as Provider from "./internal/Provider.ts"
import * as UsageParts from "./internal/UsageParts.ts"
import * as Anthropic from "./providers/Anthropic.ts"
import * as Azure from "./providers/Azure.ts"
import * as Bedrock from "./providers/Bedrock.ts"
import * as Cohere from "./providers/Cohere.ts"
import * as Compatible from "./providers/Compatible.ts"
import * as Gemini from "./providers/Gemini.ts"
import * as LiteLlm from "./providers/LiteLlm.ts"
import * as Mistral from "./providers/Mistral.ts"
import * as OpenAI from "./providers/OpenAI.ts"
import * as OTel from "./providers/OTel.ts"
import * as XAI from "./providers/XAI.ts"

export interface NormalizeInput {
  /** A provider id ("openai", "anthropic", …) or an alias ("gemini", "vertex"). */
  readonly provider: string
  /** The api ("chat.completions", "messages", …); detected from the payload's shape when absent. */
  readonly api?: string | undefined
  /** The response: a JSON value, a chunk/event stream, SSE or NDJSON text, or an HTTP capture. */
  readonly payload: unknown
  /** The request body, when known: for token estimates and for fields responses omit (image size). */
  readonly request?: unknown
  /** The model from the request, for responses that do not name it (Bedrock, Images, Cohere). */
  readonly model?: string | undefined
  /** The call came from a batch job (OpenAI / Anthropic / Gemini batch files): billed at the batch discount. */
  readonly batch?: boolean | undefined
}

const modules: ReadonlyArray<Provider.Module> = [
  OpenAI.module,
  Azure.module,
  Anthropic.module,
  Gemini.module,
  Bedrock.module,
  Mistral.module,
  Cohere.module,
  XAI.module,
  OTel.module,
  LiteLlm.module,
  ...Compatible.modules
]

const registry: ReadonlyMap<NormalizedCall.ProviderId, Provider.Module> = new Map(modules.map((m) => [m.id, m]))

export const aliases: Readonly<Record<string, NormalizedCall.ProviderId>> = {
  gemini: "google",
  vertex: "google",
  "vertex-ai": "google",
  "azure-openai": "azure",
  "amazon-bedrock": "bedrock",
  "aws-bedrock": "bedrock",
  "x-ai": "xai",
  opentelemetry: "otel",
  ...Object.fromEntries(CompatibleProviders.ids.flatMap((id) => CompatibleProviders.providers[id].aliases.map((alias) => [alias, id])))
}

/** The canonical provider id for a name or alias (case-insensitive). */
export const resolveProvider = (name: string): NormalizedCall.ProviderId | undefined => {
  const lower = name.trim().toLowerCase()
  // Own keys only: `__proto__` or `constructor` must not reach the object prototype.
  if (Object.hasOwn(aliases, lower)) return aliases[lower]
  return (NormalizedCall.ProviderIds as ReadonlyArray<string>).includes(lower) ? (lower as NormalizedCall.ProviderId) : undefined
}

/** The apis each provider module understands. */
export const apisOf = (provider: NormalizedCall.ProviderId): ReadonlyArray<NormalizedCall.Api> => registry.get(provider)?.apis ?? []

/** Apis whose usage cannot be estimated from text (audio, images, realtime sessions). */
const NOT_ESTIMABLE: ReadonlySet<NormalizedCall.Api> = new Set(["images", "audio.transcriptions", "realtime", "rerank"])

/** Where an error response says what went wrong, and its code and message when it has them. */
const topLevelError = (payload: Payload.Payload): { path: Path.Path; detail: string } | undefined => {
  const describe = (error: unknown): string => {
    const fields = Payload.isRecord(error) ? [error["code"], error["type"], error["message"]].filter((v) => typeof v === "string") : []
    return fields.length > 0 ? ` (${fields.join(": ")})` : ""
  }
  if (payload._tag === "Http") {
    if (payload.status === undefined || payload.status < 400) return undefined
    const body = payload.body?._tag === "Single" ? payload.body.item.value : undefined
    return { path: ["status"], detail: `HTTP status ${payload.status}${describe(Payload.isRecord(body) ? body["error"] : undefined)}` }
  }
  const first = Payload.items(payload)[0]
  if (first === undefined || !Payload.isRecord(first.value)) return undefined
  if (!("error" in first.value) && first.value["type"] !== "error") return undefined
  return { path: Path.append(first.path, "error"), detail: `an error response${describe(first.value["error"])}` }
}

const safe = (provider: string, usage: Usage.Usage): Result.Result<Usage.Usage, NormalizeError.NormalizeError> => {
  let total = 0
  for (const bucket of Usage.TokenBuckets) total += usage.tokens[bucket] ?? 0
  return Number.isSafeInteger(total)
    ? Result.succeed(usage)
    : Result.fail(NormalizeError.make(provider, Path.root, "malformed", `token counts add up to ${total}, beyond exact integer range`))
}

interface Estimate {
  readonly usage: Usage.Usage
  readonly encoding: NormalizedCall.Encoding
}

const estimate = (
  provider: NormalizedCall.ProviderId,
  api: NormalizedCall.Api,
  extracted: Provider.Extracted,
  input: NormalizeInput
): Result.Result<Estimate, NormalizeError.NormalizeError> => {
  if (NOT_ESTIMABLE.has(api)) {
    return Result.fail(NormalizeError.make(provider, Path.root, "missing-usage", `the ${api} payload reports no usage, and ${api} usage cannot be estimated from text`))
  }
  if (input.request === undefined) {
    return Result.fail(NormalizeError.make(provider, Path.root, "missing-usage",
      "the payload reports no usage (e.g. a stream without include_usage, or cut short); pass the request body to estimate it"))
  }
  const model = extracted.model ?? input.model
  const { encoding } = Tokenizer.encodingForModel(model)
  const request = Tokenizer.estimateRequest(input.request, encoding, api)
  if (request === undefined) {
    return Result.fail(NormalizeError.make(provider, ["request"], "missing-usage", "the request body holds no prompt text to estimate from"))
  }
  const output = Tokenizer.count(extracted.outputText ?? "", encoding)
  const tokens = request.embedding ? { embedding: request.input } : { inputText: request.input, outputText: output }
  return Result.succeed({ usage: UsageParts.make({ tokens, promptTokens: request.input }), encoding })
}

/**
 * Normalizes one call. Fails with a `NormalizeError` naming the provider, the JSON path and the
 * broken rule; never throws on any JSON input.
 */
export const normalize = (input: NormalizeInput): Result.Result<NormalizedCall.NormalizedCall, NormalizeError.NormalizeError> => {
  // Plain early returns rather than `Result.gen`: this runs once per ingested event, and a
  // generator per call showed in the ingest profile.
  const provider = resolveProvider(input.provider)
  if (provider === undefined) {
    return Result.fail(NormalizeError.make(input.provider, Path.root, "unsupported",
      `unknown provider ${JSON.stringify(input.provider)}; expected one of ${NormalizedCall.ProviderIds.join(", ")} (or an alias: ${Object.keys(aliases).join(", ")})`))
  }
  const module = registry.get(provider)!
  const parsed = Payload.parse(provider, input.payload)
  if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
  const payload = parsed.success
  let api: NormalizedCall.Api | undefined
  if (input.api !== undefined) {
    api = module.apis.find((a) => a === input.api)
    if (api === undefined) {
      return Result.fail(NormalizeError.make(provider, Path.root, "unsupported",
        `api ${JSON.stringify(input.api)} is not one of ${provider}'s: ${module.apis.join(", ")}`))
    }
  } else {
    const detected = module.detect(payload)
    if (detected !== undefined && typeof detected !== "string") {
      return Result.fail(NormalizeError.make(provider, detected.path, "ambiguous",
        `${detected.why}, which fits both ${detected.apis.join(" and ")}; pass api (${detected.apis.join(" or ")})`))
    }
    api = detected
    if (api === undefined) {
      const error = topLevelError(payload)
      if (error !== undefined) {
        return Result.fail(NormalizeError.make(provider, error.path, "failed-response", `${error.detail}; nothing is billable`))
      }
      return Result.fail(NormalizeError.make(provider, Path.root, "unsupported",
        `cannot tell which ${provider} api produced this payload; pass api (one of ${module.apis.join(", ")})`))
    }
  }
  const context: Provider.Context = { provider, model: input.model, request: input.request }
  const normalized = module.normalize(payload, api, context)
  if (Result.isFailure(normalized)) return Result.fail(normalized.failure)
  const extracted = normalized.success

  let usage = extracted.usage
  let encoding: NormalizedCall.Encoding | undefined
  if (usage === undefined) {
    const estimated = estimate(provider, extracted.api, extracted, input)
    if (Result.isFailure(estimated)) return Result.fail(estimated.failure)
    usage = estimated.success.usage
    encoding = estimated.success.encoding
  } else if (extracted.outputMissing === true) {
    encoding = Tokenizer.encodingForModel(extracted.model ?? input.model).encoding
    const output = Tokenizer.count(extracted.outputText ?? "", encoding)
    usage = UsageParts.make({ ...usage, tokens: { ...usage.tokens, outputText: output } })
  }
  const batch = input.batch ?? extracted.batch ?? false
  // The call's batch flag and its usage's always agree (the caller's flag wins over the payload's).
  const checked = safe(provider, UsageParts.withContext(usage, { batch }))
  if (Result.isFailure(checked)) return Result.fail(checked.failure)
  usage = checked.success
  const model = extracted.model ?? input.model
  return Result.succeed({
    provider,
    api: extracted.api,
    ...(model !== undefined ? { model } : {}),
    ...(extracted.modelProvider !== undefined ? { modelProvider: extracted.modelProvider } : {}),
    ...(extracted.responseId !== undefined ? { responseId: extracted.responseId } : {}),
    usage,
    ...(extracted.reportedCost !== undefined ? { reportedCost: extracted.reportedCost } : {}),
    ...(extracted.serviceTier !== undefined ? { serviceTier: extracted.serviceTier } : {}),
    batch,
    estimated: encoding !== undefined,
    ...(encoding !== undefined ? { encoding } : {}),
    corrections: extracted.corrections ?? [],
    subCalls: extracted.subCalls ?? [],
    ...(extracted.unbilledTokens !== undefined && Object.keys(extracted.unbilledTokens).length > 0 ? { unbilledTokens: extracted.unbilledTokens } : {}),
    raw: input.payload
  })
}

/** `normalize` as an Effect, for Effect pipelines (the worker's ingest, the CLI). */
export const normalizeEffect = (input: NormalizeInput): Effect.Effect<NormalizedCall.NormalizedCall, NormalizeError.NormalizeError> =>
  Effect.suspend(() => Effect.fromResult(normalize(input)))

export interface BatchLineResult {
  /** 1-based line number in the output file. */
  readonly line: number
  readonly customId: string | undefined
  readonly result: Result.Result<NormalizedCall.NormalizedCall, NormalizeError.NormalizeError>
}

/**
 * A whole Batch API output file (`.jsonl`): one result per non-empty line, each billed as a batch
 * call. A failed line is a `failed-response` error in its place; the other lines are unaffected.
 */
export const normalizeBatchOutput = (input: { readonly provider: string; readonly text: string; readonly model?: string | undefined }): ReadonlyArray<BatchLineResult> => {
  const out: Array<BatchLineResult> = []
  for (const [index, line] of input.text.split(/\r?\n/).entries()) {
    if (line.trim() === "") continue
    const value = Payload.json(line)
    const customId = Payload.isRecord(value) && typeof value["custom_id"] === "string" ? value["custom_id"] : undefined
    const result = value === undefined
      ? Result.fail(NormalizeError.make(input.provider, [index], "malformed", "the line is not JSON"))
      : normalize({ provider: input.provider, api: "batch", payload: value, model: input.model, batch: true })
    out.push({ line: index + 1, customId, result })
  }
  return out
}
