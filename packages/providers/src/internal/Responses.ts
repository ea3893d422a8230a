/**
 * The OpenAI Responses API format (also Azure OpenAI and xAI). `input_tokens` includes cached and
 * cache-write tokens; `output_tokens` includes reasoning tokens; web search is billed per
 * `web_search_call` output item.
 */
import { Money } from "@tally/core"
import { Result, Schema } from "effect"
import type * as NormalizedCall from "../NormalizedCall.ts"
import * as NormalizeError from "../NormalizeError.ts"
import * as Decode from "./Decode.ts"
import * as Ledger from "./Ledger.ts"
import * as Path from "./Path.ts"
import * as Payload from "./Payload.ts"
import type * as Provider from "./Provider.ts"
import * as Text from "./Text.ts"
import * as UsageParts from "./UsageParts.ts"

const ResponsesUsage = Schema.Struct({
  input_tokens: Decode.OptCount,
  input_tokens_details: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    cached_tokens: Decode.OptCount,
    cache_write_tokens: Decode.OptCount
  }))),
  output_tokens: Decode.OptCount,
  output_tokens_details: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    reasoning_tokens: Decode.OptCount
  }))),
  total_tokens: Decode.OptCount,
  /** xAI: server-side tool invocations by kind (`web_search_calls`, `x_search_calls`, …). */
  server_side_tool_usage_details: Schema.optionalKey(Schema.NullOr(Schema.Record(Schema.String, Schema.NullOr(Decode.Count)))),
  num_sources_used: Decode.OptCount,
  cost_in_usd_ticks: Decode.OptCount
})
type ResponsesUsage = typeof ResponsesUsage.Type

const OutputItem = Schema.Struct({ type: Decode.OptString, container_id: Decode.OptString })

const ResponseObject = Schema.Struct({
  id: Decode.OptString,
  model: Decode.OptString,
  object: Decode.OptString,
  status: Decode.OptString,
  service_tier: Decode.OptString,
  output: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.Unknown))),
  usage: Schema.optionalKey(Schema.NullOr(ResponsesUsage)),
  error: Schema.optionalKey(Schema.Unknown)
})
type ResponseObject = typeof ResponseObject.Type

const Event = Schema.Struct({
  type: Decode.OptString,
  response: Schema.optionalKey(Schema.Unknown),
  delta: Schema.optionalKey(Schema.Unknown)
})

const decodeResponse = Decode.decoder(ResponseObject)
const decodeEvent = Decode.decoder(Event)
const decodeOutputItem = Decode.decoder(OutputItem)

const TICKS_PER_USD = new Money.Decimal("10000000000")

/** Output item types billed per call, by the tool kind they are counted under. */
const PER_CALL_ITEMS: Readonly<Record<string, string>> = {
  file_search_call: "file_search"
}

const usageOf = (
  provider: string,
  base: Path.Path,
  usage: ResponsesUsage,
  output: ReadonlyArray<unknown>,
  outputPath: Path.Path
): Result.Result<{ parts: UsageParts.Parts; reportedCost: NormalizedCall.ReportedCost | undefined }, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    const input = Ledger.at(base, "input_tokens", usage.input_tokens)
    const inputDetails = Path.append(base, "input_tokens_details")
    const cached = Ledger.at(inputDetails, "cached_tokens", usage.input_tokens_details?.cached_tokens)
    const write = Ledger.at(inputDetails, "cache_write_tokens", usage.input_tokens_details?.cache_write_tokens)
    const outputTokens = Ledger.at(base, "output_tokens", usage.output_tokens)
    const reasoning = Ledger.at(Path.append(base, "output_tokens_details"), "reasoning_tokens", usage.output_tokens_details?.reasoning_tokens)
    const total = Ledger.at(base, "total_tokens", usage.total_tokens)
    const inputText = yield* Ledger.remainder(provider, input, [cached, write])
    const outputText = yield* Ledger.remainder(provider, outputTokens, [reasoning])
    yield* Ledger.checkTotal(provider, total, [input, outputTokens])

    let webSearches = 0
    const toolCalls: Record<string, number> = {}
    const details = usage.server_side_tool_usage_details
    if (details != null) {
      for (const [key, value] of Object.entries(details)) {
        if (value == null) continue
        const kind = key.replace(/_calls$/, "")
        if (kind === "web_search") webSearches += value
        else toolCalls[kind] = (toolCalls[kind] ?? 0) + value
      }
    } else {
      // Code interpreter is billed per container (session), not per call: calls sharing a
      // container_id are one session; a call without one counts as its own.
      const containers = new Set<string>()
      let unnamedSessions = 0
      for (const [index, raw] of output.entries()) {
        const item = yield* decodeOutputItem(provider, Path.append(outputPath, index), raw)
        if (item.type === "web_search_call") webSearches += 1
        if (item.type === "code_interpreter_call") {
          if (item.container_id != null && item.container_id !== "") containers.add(item.container_id)
          else unnamedSessions += 1
        }
        const kind = item.type != null ? PER_CALL_ITEMS[item.type] : undefined
        if (kind !== undefined) toolCalls[kind] = (toolCalls[kind] ?? 0) + 1
      }
      const sessions = containers.size + unnamedSessions
      if (sessions > 0) toolCalls["code_interpreter_session"] = sessions
    }
    if (usage.num_sources_used != null) toolCalls["live_search_sources"] = usage.num_sources_used

    const reportedCost = usage.cost_in_usd_ticks != null
      ? {
        amount: new Money.Decimal(usage.cost_in_usd_ticks).div(TICKS_PER_USD),
        currency: "USD",
        source: Path.format(Path.append(base, "cost_in_usd_ticks"))
      }
      : undefined
    return {
      parts: {
        tokens: { inputText, cacheRead: cached.value, cacheWrite5m: write.value, outputText, reasoning: reasoning.value },
        promptTokens: input.value,
        webSearches,
        toolCalls
      },
      reportedCost
    }
  })

const TERMINAL = new Set(["response.completed", "response.incomplete", "response.failed"])

const errorText = (error: unknown): string =>
  Payload.isRecord(error) ? [error["code"], error["message"]].filter((v) => typeof v === "string").join(": ") : ""

const fromResponse = (
  provider: string,
  api: NormalizedCall.Api,
  response: ResponseObject,
  path: Path.Path,
  context: Provider.Context
): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    const output = response.output ?? []
    const common = {
      api,
      model: response.model ?? context.model,
      responseId: response.id ?? undefined,
      serviceTier: response.service_tier ?? undefined,
      outputText: Text.collect(output)
    }
    if (response.usage == null) {
      if (response.status === "failed" || (response.error != null && output.length === 0)) {
        const text = errorText(response.error)
        return yield* Result.fail(NormalizeError.make(provider, Path.append(path, "error"), "failed-response",
          `the response failed${text === "" ? "" : ` (${text})`} and reports no usage; nothing is billable`))
      }
      return common
    }
    const { parts, reportedCost } = yield* usageOf(provider, Path.append(path, "usage"), response.usage, output, Path.append(path, "output"))
    return { ...common, usage: UsageParts.make({ ...parts, serviceTier: common.serviceTier }), reportedCost }
  })

/**
 * A response object, or a stream of Responses events: the terminal event's `response` carries the
 * usage and the tier actually used. A stream cut before it reports no usage (estimated instead).
 */
export const normalize = (
  provider: string,
  payload: Payload.Single | Payload.Stream,
  api: NormalizedCall.Api,
  context: Provider.Context
): Result.Result<Provider.Extracted, NormalizeError.NormalizeError> =>
  Result.gen(function*() {
    if (payload._tag === "Single" && Payload.isRecord(payload.item.value) && payload.item.value["type"] === undefined) {
      const response = yield* decodeResponse(provider, payload.item.path, payload.item.value)
      return yield* fromResponse(provider, api, response, payload.item.path, context)
    }
    let started: ResponseObject | undefined
    let text = ""
    for (const item of Payload.items(payload)) {
      const event = yield* decodeEvent(provider, item.path, item.value)
      if (event.type === "error") {
        return yield* Result.fail(NormalizeError.make(provider, item.path, "failed-response",
          `the stream ended with an error event (${errorText(item.value)}); nothing is billable`))
      }
      if (event.type === "response.output_text.delta" && typeof event.delta === "string") text += event.delta
      if (event.response === undefined) continue
      const responsePath = Path.append(item.path, "response")
      const response = yield* decodeResponse(provider, responsePath, event.response)
      if (event.type !== undefined && event.type !== null && TERMINAL.has(event.type)) {
        return yield* fromResponse(provider, api, response, responsePath, context)
      }
      started = response
    }
    return {
      api,
      model: started?.model ?? context.model,
      responseId: started?.id ?? undefined,
      outputText: text
    }
  })

export const looksLikeResponses = (value: unknown): boolean =>
  Payload.isRecord(value) &&
  (value["object"] === "response" ||
    (typeof value["type"] === "string" && value["type"].startsWith("response.") && value["type"] !== "response.done" &&
      !(Payload.isRecord(value["response"]) && value["response"]["object"] === "realtime.response")))
