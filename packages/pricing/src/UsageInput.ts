/**
 * Usage counts as a caller gives them to `pricer.price`, in one of two shapes, to Tally's `Usage`:
 *
 * - **Tally's bucket names**: `Usage` itself (`{ tokens: { inputText, cacheRead, ... }, requests? }`)
 *   or the same names flat (`{ inputText: 1000, cacheRead: 200, outputText: 50 }`). Buckets are
 *   disjoint: `inputText` excludes cached input.
 * - **genai-prices' usage** (`@pydantic/genai-prices` `Usage`): `input_tokens` is the whole prompt
 *   and *includes* `cache_read_tokens` and `cache_write_tokens` (and the image, audio and video
 *   input counts); `output_tokens` includes `output_reasoning_tokens` and the other output
 *   modalities. Each part is taken out of its total to get Tally's disjoint buckets, and a part
 *   larger than its total is refused, as genai-prices refuses it.
 *
 * The two shapes' keys are disjoint (camelCase vs snake_case) except `requests`, which means the
 * same in both. Usage that mixes the two is refused (`ambiguous-usage`), never guessed; a caller
 * can also state the shape (`usageFormat`), and usage contradicting it is refused too.
 */
import { Usage } from "@tally/core"
import { Result } from "effect"
import * as PricerError from "./PricerError.ts"

export type UsageFormat = "tally" | "genai-prices"

/** genai-prices' usage shape: its keys, each a count (undefined = not reported). */
export type GenaiUsage = Readonly<Record<string, number | undefined>>

/** Tally's usage: `Usage.UsageEncoded`, or its token buckets and fields flat. */
export type TallyUsage = Usage.UsageEncoded | Readonly<Partial<Record<Usage.TokenBucket, number>> & Omit<Usage.UsageEncoded, "tokens">>

const TALLY_FIELDS: ReadonlySet<string> = new Set([
  "tokens",
  ...Usage.TokenBuckets,
  "requests",
  "imagesGenerated",
  "audioSeconds",
  "videoSeconds",
  "webSearches",
  "toolCalls",
  "promptTokens",
  "batch",
  "fineTuned",
  "serviceTier",
  "region"
])
const TOKEN_BUCKETS: ReadonlySet<string> = new Set(Usage.TokenBuckets)

/** genai-prices keys Tally prices, and the keys it has no bucket for (refused when positive). */
const GENAI_SUPPORTED: ReadonlySet<string> = new Set([
  "input_tokens",
  "input_text_tokens",
  "input_image_tokens",
  "input_audio_tokens",
  "input_video_tokens",
  "cache_read_tokens",
  "cache_text_read_tokens",
  "cache_write_tokens",
  "cache_write_5m_tokens",
  "cache_write_1h_tokens",
  "cache_text_write_tokens",
  "cache_text_write_5m_tokens",
  "cache_text_write_1h_tokens",
  "output_tokens",
  "output_text_tokens",
  "output_reasoning_tokens",
  "output_text_reasoning_tokens",
  "output_image_tokens",
  "output_audio_tokens",
  "output_video_tokens",
  "requests",
  "web_searches",
  "storage_searches",
  "code_executions",
  "social_searches"
])
const GENAI_UNSUPPORTED: ReadonlySet<string> = new Set([
  "audio_seconds",
  "cache_audio_read_tokens",
  "cache_audio_write_1h_tokens",
  "cache_audio_write_5m_tokens",
  "cache_audio_write_tokens",
  "cache_image_read_tokens",
  "cache_image_write_1h_tokens",
  "cache_image_write_5m_tokens",
  "cache_image_write_tokens",
  "cache_video_read_tokens",
  "cache_video_write_1h_tokens",
  "cache_video_write_5m_tokens",
  "cache_video_write_tokens",
  "input_annotated_document_pages",
  "input_audio_seconds",
  "input_audio_tool_tokens",
  "input_characters",
  "input_document_pages",
  "input_image_tool_tokens",
  "input_pixels",
  "input_text_messages",
  "input_text_tool_tokens",
  "input_tool_tokens",
  "input_video_tool_tokens",
  "output_audio_citation_tokens",
  "output_audio_reasoning_tokens",
  "output_audio_seconds",
  "output_citation_tokens",
  "output_image_citation_tokens",
  "output_image_reasoning_tokens",
  "output_text_citation_tokens",
  "output_video_citation_tokens",
  "output_video_reasoning_tokens",
  "rerank_searches"
])
const SHARED: ReadonlySet<string> = new Set(["requests"])

type Decoded = Result.Result<Usage.Usage, PricerError.PricerError>

const fail = (reason: PricerError.Reason, path: string, message: string): Decoded => Result.fail(PricerError.make(reason, path, message))

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> => typeof u === "object" && u !== null && !Array.isArray(u)

/** Which shape the keys say, or why they say none or both. */
const formatOf = (usage: Readonly<Record<string, unknown>>): Result.Result<UsageFormat | "either", PricerError.PricerError> => {
  let tally: string | undefined
  let genai: string | undefined
  for (const key in usage) {
    if (SHARED.has(key)) continue
    if (TALLY_FIELDS.has(key)) tally ??= key
    else if (GENAI_SUPPORTED.has(key) || GENAI_UNSUPPORTED.has(key)) genai ??= key
    else {
      return Result.fail(PricerError.make("invalid-usage", `usage.${key}`,
        `usage.${key} is neither one of Tally's bucket names (${Usage.TokenBuckets.join(", ")}, requests, ...) nor a genai-prices usage key (input_tokens, cache_read_tokens, output_tokens, ...)`))
    }
  }
  if (tally !== undefined && genai !== undefined) {
    return Result.fail(PricerError.make("ambiguous-usage", "usage",
      `usage mixes Tally's bucket names (${tally}) with genai-prices keys (${genai}); genai-prices' input_tokens includes cache reads and writes while Tally's inputText excludes them, so which was meant cannot be told: use one shape`))
  }
  return Result.succeed(tally !== undefined ? "tally" : genai !== undefined ? "genai-prices" : "either")
}

/** Thrown inside the conversion and caught once at its edge: plain control flow keeps the hot path cheap. */
class Refused {
  readonly error: PricerError.PricerError
  constructor(error: PricerError.PricerError) {
    this.error = error
  }
}
const refuse = (reason: PricerError.Reason, path: string, message: string): never => {
  throw new Refused(PricerError.make(reason, path, message))
}

const count = (usage: GenaiUsage, key: string): number | undefined => {
  const value = usage[key]
  if (value === undefined) return undefined
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    return refuse("invalid-usage", `usage.${key}`, `usage.${key} must be a non-negative whole number, got ${JSON.stringify(value)}`)
  }
  return value
}

/** Two reports of one quantity (`cache_read_tokens` and `cache_text_read_tokens`, text being the only cache Tally has) must agree. */
const either = (usage: GenaiUsage, key: string, alias: string): number | undefined => {
  const a = count(usage, key)
  const b = count(usage, alias)
  if (a !== undefined && b !== undefined && a !== b) {
    refuse("invalid-usage", `usage.${alias}`, `usage.${alias} (${b}) differs from usage.${key} (${a}); Tally prices text caches only, so they must be equal`)
  }
  return a ?? b
}

/** `total` less its parts; refused when the parts exceed it. */
const remainder = (total: number, totalKey: string, parts: ReadonlyArray<readonly [string, number]>): number => {
  let sum = 0
  for (const [, n] of parts) sum += n
  if (sum <= total) return total - sum
  const named = parts.filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(" + ")
  return refuse("invalid-usage", `usage.${totalKey}`,
    `usage.${totalKey} (${total}) is less than the parts it includes (${named}); in genai-prices' usage ${totalKey} counts them all`)
}

/** The total, or 0 when neither it nor any part was reported; refused when parts came without it. */
const totalOf = (usage: GenaiUsage, totalKey: string, parts: ReadonlyArray<readonly [string, number]>, includes: string): number => {
  const total = count(usage, totalKey)
  if (total !== undefined) return remainder(total, totalKey, parts)
  for (const [key, n] of parts) {
    if (n > 0) refuse("invalid-usage", `usage.${totalKey}`, `usage.${totalKey} is missing but ${key} is ${n}; genai-prices' ${totalKey} includes ${includes}`)
  }
  return 0
}

const TOOL_KEYS = [["storage_searches", "file_search"], ["code_executions", "code_execution"], ["social_searches", "x_search"]] as const

const convertGenai = (usage: GenaiUsage): Usage.Usage => {
  for (const key in usage) {
    if (!GENAI_UNSUPPORTED.has(key)) continue
    const n = count(usage, key)
    if (n !== undefined && n > 0) {
      refuse("unsupported-usage", `usage.${key}`, `usage.${key} (${n}) has no Tally usage bucket, so this call cannot be priced exactly; leave it out or 0 if it is not billed`)
    }
  }
  const cacheRead = either(usage, "cache_read_tokens", "cache_text_read_tokens") ?? 0
  const write1h = either(usage, "cache_write_1h_tokens", "cache_text_write_1h_tokens") ?? 0
  const write5mGiven = either(usage, "cache_write_5m_tokens", "cache_text_write_5m_tokens")
  const writeTotal = either(usage, "cache_write_tokens", "cache_text_write_tokens")
  // Writes not split by lifetime are 5-minute writes: genai-prices prices them at cache_write_mtok,
  // which is Tally's cacheWrite5m rate in the converted catalog.
  const write5m = writeTotal === undefined
    ? write5mGiven ?? 0
    : (write5mGiven ?? 0) + remainder(writeTotal, "cache_write_tokens", [["cache_write_5m_tokens", write5mGiven ?? 0], ["cache_write_1h_tokens", write1h]])
  const inputImage = count(usage, "input_image_tokens") ?? 0
  const inputAudio = count(usage, "input_audio_tokens") ?? 0
  const inputVideo = count(usage, "input_video_tokens") ?? 0
  const inputText = totalOf(usage, "input_tokens", [
    ["cache_read_tokens", cacheRead],
    ["cache_write_5m_tokens", write5m],
    ["cache_write_1h_tokens", write1h],
    ["input_image_tokens", inputImage],
    ["input_audio_tokens", inputAudio],
    ["input_video_tokens", inputVideo]
  ], "the whole prompt: cache reads and writes, image, audio and video input")
  const inputTextTotal = count(usage, "input_text_tokens")
  if (inputTextTotal !== undefined && inputTextTotal !== inputText + cacheRead + write5m + write1h) {
    refuse("invalid-usage", "usage.input_text_tokens",
      `usage.input_text_tokens (${inputTextTotal}) disagrees with input_tokens less its image, audio and video parts (${inputText + cacheRead + write5m + write1h})`)
  }

  const reasoning = either(usage, "output_reasoning_tokens", "output_text_reasoning_tokens") ?? 0
  const outputImage = count(usage, "output_image_tokens") ?? 0
  const outputAudio = count(usage, "output_audio_tokens") ?? 0
  const outputVideo = count(usage, "output_video_tokens") ?? 0
  const outputText = totalOf(usage, "output_tokens", [
    ["output_reasoning_tokens", reasoning],
    ["output_image_tokens", outputImage],
    ["output_audio_tokens", outputAudio],
    ["output_video_tokens", outputVideo]
  ], "reasoning and every output modality")
  const outputTextTotal = count(usage, "output_text_tokens")
  if (outputTextTotal !== undefined && outputTextTotal !== outputText + reasoning) {
    refuse("invalid-usage", "usage.output_text_tokens",
      `usage.output_text_tokens (${outputTextTotal}) disagrees with output_tokens less its image, audio and video parts (${outputText + reasoning})`)
  }

  const tokens: { -readonly [K in Usage.TokenBucket]?: number } = {}
  if (inputText > 0) tokens.inputText = inputText
  if (cacheRead > 0) tokens.cacheRead = cacheRead
  if (write5m > 0) tokens.cacheWrite5m = write5m
  if (write1h > 0) tokens.cacheWrite1h = write1h
  if (inputImage > 0) tokens.inputImage = inputImage
  if (inputAudio > 0) tokens.inputAudio = inputAudio
  if (inputVideo > 0) tokens.inputVideo = inputVideo
  if (outputText > 0) tokens.outputText = outputText
  if (reasoning > 0) tokens.reasoning = reasoning
  if (outputImage > 0) tokens.outputImage = outputImage
  if (outputAudio > 0) tokens.outputAudio = outputAudio
  if (outputVideo > 0) tokens.outputVideo = outputVideo
  const result: { -readonly [K in keyof Usage.Usage]: Usage.Usage[K] } = { tokens }
  const requests = count(usage, "requests")
  if (requests !== undefined) result.requests = requests
  const webSearches = count(usage, "web_searches")
  if (webSearches !== undefined && webSearches > 0) result.webSearches = webSearches
  let toolCalls: Record<string, number> | undefined
  for (const [key, kind] of TOOL_KEYS) {
    const n = count(usage, key)
    if (n !== undefined && n > 0) (toolCalls ??= {})[kind] = n
  }
  if (toolCalls !== undefined) result.toolCalls = toolCalls
  return result
}

/** genai-prices' usage to Tally's disjoint buckets. */
export const fromGenai = (usage: GenaiUsage): Decoded => {
  try {
    return Result.succeed(convertGenai(usage))
  } catch (error) {
    if (error instanceof Refused) return Result.fail(error.error)
    throw error
  }
}

const decodeTally = (usage: Readonly<Record<string, unknown>>): Decoded => {
  let encoded: unknown = usage
  if (!("tokens" in usage)) {
    const tokens: Record<string, unknown> = {}
    const rest: Record<string, unknown> = {}
    for (const key in usage) {
      if (TOKEN_BUCKETS.has(key)) tokens[key] = usage[key]
      else rest[key] = usage[key]
    }
    encoded = { ...rest, tokens }
  } else {
    for (const key in usage) {
      if (TOKEN_BUCKETS.has(key)) {
        return fail("ambiguous-usage", `usage.${key}`, `usage has both tokens and a flat bucket (${key}); give the buckets one way`)
      }
    }
  }
  try {
    return Result.succeed(Usage.decodeUsage(encoded))
  } catch (error) {
    return fail("invalid-usage", "usage", `usage in Tally's bucket names is invalid: ${error instanceof Error ? error.message : String(error)}`)
  }
}

/**
 * The usage a caller passed, in whichever shape its keys (or `format`) say; refused when they say
 * both, or something else.
 */
export const decode = (usage: unknown, format?: UsageFormat): Decoded => {
  if (!isRecord(usage)) return fail("invalid-usage", "usage", `usage must be an object of counts, got ${usage === null ? "null" : Array.isArray(usage) ? "an array" : typeof usage}`)
  const keys = formatOf(usage)
  if (Result.isFailure(keys)) return Result.fail(keys.failure)
  const said = keys.success
  if (format !== undefined && said !== "either" && said !== format) {
    return fail("ambiguous-usage", "usageFormat", `usageFormat is ${JSON.stringify(format)} but the usage keys are ${said === "tally" ? "Tally's bucket names" : "genai-prices keys"}`)
  }
  const shape = format ?? (said === "either" ? "tally" : said)
  return shape === "tally" ? decodeTally(usage) : fromGenai(usage as GenaiUsage)
}
