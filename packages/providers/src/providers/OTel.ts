/**
 * OpenTelemetry GenAI spans (docs/pricing-semantics.md#otel). Per the semantic conventions,
 * `gen_ai.usage.input_tokens` INCLUDES cached tokens (`gen_ai.usage.cache_read.input_tokens`,
 * `gen_ai.usage.cache_creation.input_tokens`) and `gen_ai.usage.output_tokens` includes reasoning
 * (`gen_ai.usage.reasoning.output_tokens`). Attributes come as a plain object or as OTLP JSON
 * `[{key, value: {intValue | stringValue | …}}]`; a whole OTLP export is accepted when exactly one
 * span in it carries GenAI usage.
 */
import { Result, Schema } from "effect"
import type * as NormalizedCall from "../NormalizedCall.ts"
import * as NormalizeError from "../NormalizeError.ts"
import * as Decode from "../internal/Decode.ts"
import * as Ledger from "../internal/Ledger.ts"
import * as Path from "../internal/Path.ts"
import * as Payload from "../internal/Payload.ts"
import type * as Provider from "../internal/Provider.ts"
import * as UsageParts from "../internal/UsageParts.ts"

interface Attribute {
  readonly value: unknown
  readonly path: Path.Path
}

const AnyValue = Schema.Struct({
  stringValue: Schema.optionalKey(Schema.String),
  intValue: Schema.optionalKey(Schema.Union([Schema.String, Schema.Finite])),
  doubleValue: Schema.optionalKey(Schema.Finite),
  boolValue: Schema.optionalKey(Schema.Boolean)
})
const KeyValue = Schema.Struct({ key: Schema.String, value: Schema.optionalKey(Schema.NullOr(AnyValue)) })
const decodeKeyValues = Decode.decoder(Schema.Array(KeyValue))

const valueOf = (value: typeof AnyValue.Type | null | undefined): { value: unknown; key: string } | undefined => {
  if (value == null) return undefined
  if (value.intValue !== undefined) return { value: value.intValue, key: "intValue" }
  if (value.doubleValue !== undefined) return { value: value.doubleValue, key: "doubleValue" }
  if (value.stringValue !== undefined) return { value: value.stringValue, key: "stringValue" }
  if (value.boolValue !== undefined) return { value: value.boolValue, key: "boolValue" }
  return undefined
}

/** Attributes as a map from key to value and path, from either encoding. */
const attributesOf = (
  raw: unknown,
  path: Path.Path
): Result.Result<Map<string, Attribute>, NormalizeError.NormalizeError> => {
  const out = new Map<string, Attribute>()
  if (Array.isArray(raw)) {
    const decoded = decodeKeyValues("otel", path, raw)
    if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
    for (const [index, kv] of decoded.success.entries()) {
      const found = valueOf(kv.value)
      if (found !== undefined) out.set(kv.key, { value: found.value, path: Path.append(path, index, "value", found.key) })
    }
    return Result.succeed(out)
  }
  if (!Payload.isRecord(raw)) {
    return Result.fail(NormalizeError.make("otel", path, "malformed", `expected span attributes as an object or an OTLP key/value list, got ${Decode.preview(raw)}`))
  }
  for (const [key, value] of Object.entries(raw)) out.set(key, { value, path: Path.append(path, key) })
  return Result.succeed(out)
}

const decodeCount = Decode.decoder(Decode.Count)
const decodeCountString = Decode.decoder(Decode.CountString)

/** A count attribute: a number, or digits as text (OTLP `intValue` is an int64 string). */
const countOf = (attributes: ReadonlyMap<string, Attribute>, key: string): Result.Result<Ledger.Field, NormalizeError.NormalizeError> => {
  const attribute = attributes.get(key)
  if (attribute === undefined || attribute.value === null) return Result.succeed(Ledger.field([key], undefined))
  if (typeof attribute.value === "string") {
    return Result.map(decodeCountString("otel", attribute.path, attribute.value), (text) => Ledger.field(attribute.path, Number(text)))
  }
  return Result.map(decodeCount("otel", attribute.path, attribute.value), (n) => Ledger.field(attribute.path, n))
}

/** The current name and its legacy alias must agree when both are present. */
const countOfEither = (attributes: ReadonlyMap<string, Attribute>, key: string, legacy: string): Result.Result<Ledger.Field, NormalizeError.NormalizeError> => {
  const current = countOf(attributes, key)
  if (Result.isFailure(current)) return current
  const old = countOf(attributes, legacy)
  if (Result.isFailure(old)) return old
  return Ledger.agree("otel", current.success, old.success)
}

const stringOf = (attributes: ReadonlyMap<string, Attribute>, ...keys: ReadonlyArray<string>): string | undefined => {
  for (const key of keys) {
    const value = attributes.get(key)?.value
    if (typeof value === "string" && value !== "") return value
  }
  return undefined
}

const hasUsage = (attributes: ReadonlyMap<string, Attribute>): boolean =>
  [...attributes.keys()].some((key) => key.startsWith("gen_ai.usage."))

/** Each count's current attribute name and its legacy alias, in the order they are read. */
const COUNT_KEYS: ReadonlyArray<readonly [string, string]> = [
  ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"],
  ["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"],
  ["gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"],
  ["gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens"],
  ["gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens"],
  ["gen_ai.usage.total_tokens", "llm.usage.total_tokens"]
]

const fromAttributes = (
  attributes: ReadonlyMap<string, Attribute>,
  context: Provider.Context
): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> => {
  const counts: Array<Ledger.Field> = []
  for (const [key, legacy] of COUNT_KEYS) {
    const count = countOfEither(attributes, key, legacy)
    if (Result.isFailure(count)) return Result.fail(count.failure)
    counts.push(count.success)
  }
  const [input, output, cacheRead, cacheWrite, reasoning, total] = counts as [Ledger.Field, Ledger.Field, Ledger.Field, Ledger.Field, Ledger.Field, Ledger.Field]
  const serviceTier = stringOf(attributes, "openai.response.service_tier", "gen_ai.openai.response.service_tier")
  const common = {
    api: "span" as const,
    model: stringOf(attributes, "gen_ai.response.model", "gen_ai.request.model") ?? context.model,
    modelProvider: stringOf(attributes, "gen_ai.provider.name", "gen_ai.system"),
    responseId: stringOf(attributes, "gen_ai.response.id"),
    serviceTier
  }
  if (!input.present && !output.present) return Result.succeed(common)
  const corrections: Array<NormalizedCall.Correction> = []
  let inputText: number
  let promptTokens: number
  if (cacheRead.value + cacheWrite.value > input.value) {
    // Instrumentations that copy Anthropic's usage.input_tokens verbatim emit the provider's
    // exclusive count; the cache children cannot fit inside it, so it is read as exclusive.
    inputText = input.value
    promptTokens = input.value + cacheRead.value + cacheWrite.value
    corrections.push({
      rule: "otel.input-excludes-cache",
      path: Path.format(input.path),
      detail: `cache tokens (${cacheRead.value} read + ${cacheWrite.value} write) exceed gen_ai.usage.input_tokens = ${input.value}; read as excluding them`
    })
    const checked = Ledger.checkTotal("otel", total, [input, cacheRead, cacheWrite, output])
    if (Result.isFailure(checked)) return Result.fail(checked.failure)
  } else {
    const rest = Ledger.remainder("otel", input, [cacheRead, cacheWrite])
    if (Result.isFailure(rest)) return Result.fail(rest.failure)
    inputText = rest.success
    promptTokens = input.value
    const checked = Ledger.checkTotal("otel", total, [input, output])
    if (Result.isFailure(checked)) return Result.fail(checked.failure)
  }
  const outputRest = Ledger.remainder("otel", output, [reasoning])
  if (Result.isFailure(outputRest)) return Result.fail(outputRest.failure)
  const outputText = outputRest.success
  return Result.succeed({
    ...common,
    usage: UsageParts.make({
      tokens: { inputText, cacheRead: cacheRead.value, cacheWrite5m: cacheWrite.value, outputText, reasoning: reasoning.value },
      promptTokens,
      serviceTier
    }),
    corrections
  })
}

/** Every span in an OTLP JSON export, with its path. */
const spansOf = (value: Record<string, unknown>): Array<Attribute> => {
  const out: Array<Attribute> = []
  const resourceSpans = Array.isArray(value["resourceSpans"]) ? value["resourceSpans"] : []
  for (const [r, resource] of resourceSpans.entries()) {
    const scopes = Payload.isRecord(resource) && Array.isArray(resource["scopeSpans"]) ? resource["scopeSpans"] : []
    for (const [s, scope] of scopes.entries()) {
      const spans = Payload.isRecord(scope) && Array.isArray(scope["spans"]) ? scope["spans"] : []
      for (const [i, span] of spans.entries()) out.push({ value: span, path: ["resourceSpans", r, "scopeSpans", s, "spans", i] })
    }
  }
  return out
}

const normalize = (
  payload: Payload.Payload,
  _api: NormalizedCall.Api,
  context: Provider.Context
): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> => {
  if (payload._tag !== "Single") {
    return Result.fail(NormalizeError.make("otel", Path.root, "unsupported", "expected one span (or its attributes), not a stream or HTTP capture"))
  }
  const { value, path } = payload.item
  if (!Payload.isRecord(value)) {
    return Result.fail(NormalizeError.make("otel", path, "malformed", `expected a span object, got ${Decode.preview(value)}`))
  }
  if ("resourceSpans" in value) {
    const candidates: Array<Map<string, Attribute>> = []
    for (const span of spansOf(value)) {
      if (!Payload.isRecord(span.value)) continue
      const attributes = attributesOf(span.value["attributes"] ?? [], Path.append(span.path, "attributes"))
      if (Result.isFailure(attributes)) return Result.fail(attributes.failure)
      if (hasUsage(attributes.success)) candidates.push(attributes.success)
    }
    if (candidates.length !== 1) {
      return Result.fail(NormalizeError.make("otel", ["resourceSpans"], "unsupported",
        `expected exactly one span with gen_ai.usage attributes, found ${candidates.length}; normalize each span on its own`))
    }
    return fromAttributes(candidates[0]!, context)
  }
  const attributes = "attributes" in value
    ? attributesOf(value["attributes"], Path.append(path, "attributes"))
    : attributesOf(value, path)
  if (Result.isFailure(attributes)) return Result.fail(attributes.failure)
  return fromAttributes(attributes.success, context)
}

export const module: Provider.Module = {
  id: "otel",
  apis: ["span"],
  detect: (payload) => (payload._tag === "Single" ? "span" : undefined),
  normalize
}
