/**
 * `withTally(client, options)`: the official OpenAI (`openai`) or Anthropic (`@anthropic-ai/sdk`)
 * client, with every call priced from its real response and recorded in Tally, and, with a
 * budget, held to it.
 *
 * Covered: OpenAI `chat.completions.create`, `responses.create`, `embeddings.create`; Anthropic
 * `messages.create`; streaming or not. The client is not changed: a proxy answers for it, and
 * every other method passes through untouched.
 *
 * One call:
 * 1. with a budget, estimate the call (see `internal/Estimate.ts`) and reserve that amount on
 *    every covering budget; a denial throws `BudgetExceeded` and nothing is sent;
 * 2. send it with the SDK (OpenAI chat streams ask for `stream_options.include_usage`, and the
 *    usage-only last chunk it adds is hidden from a caller who did not ask for it);
 * 3. record the response (a stream: every event, once it ends, is abandoned or is aborted) as a
 *    usage event; the engine prices it exactly. A stream that ended before its usage arrived is
 *    recorded with the request body, so the engine estimates what it lacks (`costSource:
 *    "estimated"`);
 * 4. settle the reservation with the recorded cost, or release it when the provider answered
 *    with an error, the call was aborted before anything came back, or the call cannot be
 *    priced. A reservation is always settled or released once the call is over; a stream that
 *    is never read nor aborted keeps its hold until the reservation's time-to-live.
 *
 * Provider errors reach the caller unchanged. Failures of Tally after the call never fail the
 * call: they go to `onError` (the hold then lapses at its time-to-live if release failed too).
 */
import { createPricer } from "@tally/pricing"
import { randomUUID } from "node:crypto"
import { type Api, anthropicApis, isUsageOnlyChunk, openaiApis, streamHasUsage } from "./internal/Apis.ts"
import * as Estimate from "./internal/Estimate.ts"
import { BudgetExceeded, InvalidTallyOptions, TallyUnavailable } from "./Errors.ts"
import * as Recorder from "./Recorder.ts"

export interface BudgetOptions {
  /** Seconds a reservation holds when its call never ends (default 600; at most 86400). */
  readonly ttlSeconds?: number | undefined
  /** Output tokens assumed when a call sets no maximum (default 4096). */
  readonly defaultMaxOutputTokens?: number | undefined
}

/** What happened to one call, after it was recorded. */
export interface RecordedCall {
  readonly requestId: string
  readonly provider: string
  readonly api: string
  readonly model: string | null
  /** `completed`; `abandoned` (a stream the caller stopped reading); `aborted`; `error` (the provider failed). */
  readonly outcome: "completed" | "abandoned" | "aborted" | "error"
  readonly stream: boolean
  /** The ingest status (`inserted`, `duplicate`, …), or `not-recorded` (a provider error, nothing to price). */
  readonly status: string
  /** Exact decimal string; null when unpriced or not recorded. */
  readonly total: string | null
  readonly currency: string | null
  /** `computed`, `estimated` (part of the usage counted with a tokenizer), `provider`, `unpriced`. */
  readonly costSource: string | null
  /** True when the cost is an estimate: the stream ended before the provider reported usage. */
  readonly estimated: boolean
  readonly reason: string | null
  readonly reservation: {
    readonly id: string
    readonly estimatedCost: string
    /** `settled` with `actualCost`, or `released`; `failed` when Tally could not be told (see `onError`). */
    readonly state: "settled" | "released" | "failed"
    readonly actualCost: string | null
  } | null
}

/** Per call: give it with the SDK's request options as `tally`, or build them with `tallyCall`. */
export interface CallOptions {
  /** Labels of this call, over the wrapper's. */
  readonly labels?: Recorder.Labels | undefined
  readonly tags?: Readonly<Record<string, string>> | undefined
  /** The idempotency key the call is recorded with (default a new `tly_` id). */
  readonly requestId?: string | undefined
  /** `false` skips the budget for this call. */
  readonly budget?: boolean | undefined
}

interface Common {
  /** Labels of every call made through this client (e.g. `{ project: "support-bot", team: "cx" }`). */
  readonly labels?: Recorder.Labels | undefined
  readonly tags?: Readonly<Record<string, string>> | undefined
  /** Reserve before every call, refuse calls that would exceed a blocking budget, settle after. */
  readonly budget?: boolean | BudgetOptions | undefined
  /** `openai` or `anthropic` by default, from the client; e.g. `azure` for an Azure OpenAI client. */
  readonly provider?: string | undefined
  readonly onRecord?: ((call: RecordedCall) => void) | undefined
  /** Failures of Tally after a call (recording, settling): the call itself has succeeded. */
  readonly onError?: ((error: Error, call: { readonly requestId: string }) => void) | undefined
}

export interface EmbeddedOptions extends Common {
  /** A `createTally()` facade: calls are ingested into it. */
  readonly tally: Recorder.EmbeddedTally
  readonly tenantId: string
  /** Prices estimates; the facade's own `cost` by default (it opens no database). */
  readonly pricer?: Recorder.Pricer | undefined
}

export interface HttpOptions extends Common, Recorder.HttpOptions {}

export type WithTallyOptions = EmbeddedOptions | HttpOptions

const CALL_HEADER = "x-tally-call"

/** Request options that carry `CallOptions` through the SDK's types: `create(body, tallyCall({ labels }))`. */
export const tallyCall = (options: CallOptions): { headers: Record<string, string> } => ({
  headers: { [CALL_HEADER]: JSON.stringify(options) }
})

const labelKeys = ["project", "environment", "feature", "team", "customer", "user", "workflow", "costCenter"] as const

const checkLabels = (field: string, labels: unknown): void => {
  if (labels === undefined) return
  if (labels === null || typeof labels !== "object" || Array.isArray(labels)) throw new InvalidTallyOptions(field, "expected an object of label strings")
  for (const [key, value] of Object.entries(labels)) {
    if (!(labelKeys as ReadonlyArray<string>).includes(key)) {
      throw new InvalidTallyOptions(`${field}.${key}`, `unknown label; expected one of ${labelKeys.join(", ")} (free-form keys go in tags)`)
    }
    if (value !== undefined && typeof value !== "string") throw new InvalidTallyOptions(`${field}.${key}`, `expected a string, got ${JSON.stringify(value)}`)
  }
}

/** Splits the wrapper's per-call options off the SDK's request options. */
const splitOptions = (options: unknown): { readonly sdk: unknown; readonly call: CallOptions } => {
  if (options === undefined || options === null || typeof options !== "object") return { sdk: options, call: {} }
  const { tally, ...rest } = options as { tally?: CallOptions; headers?: unknown }
  let call: CallOptions = tally ?? {}
  const headers = rest.headers
  if (headers !== null && typeof headers === "object" && !Array.isArray(headers) && !(headers instanceof Headers) && CALL_HEADER in headers) {
    const { [CALL_HEADER]: encoded, ...others } = headers as Record<string, string>
    call = { ...JSON.parse(encoded!) as CallOptions, ...call }
    return { sdk: { ...rest, headers: others }, call }
  }
  return { sdk: tally === undefined ? options : rest, call }
}

interface Context {
  readonly recorder: Recorder.Recorder
  readonly options: Common
  readonly budget: BudgetOptions | null
  readonly provider: string
}

/** An error's message with its cause's (fetch says only "fetch failed"; the cause says why). */
const describe = (error: unknown): string => {
  const e = error as { message?: string; cause?: { message?: string; code?: string } } | null
  const cause = e?.cause
  return `${e?.message ?? String(error)}${cause?.message !== undefined ? ` (${cause.code ?? cause.message})` : ""}`
}

const report = (ctx: Context, error: unknown, requestId: string) => {
  const e = error instanceof Error ? error : new Error(String(error))
  if (ctx.options.onError !== undefined) ctx.options.onError(e, { requestId })
  else console.warn(`tally: ${e.message} (request ${requestId})`)
}

const isAbort = (error: unknown): boolean => {
  const name = (error as { name?: string; constructor?: { name?: string } } | null)?.constructor?.name ?? (error as Error | null)?.name
  return name === "APIUserAbortError" || name === "AbortError" || (error as Error | null)?.name === "AbortError"
}

interface Hold {
  readonly id: string
  readonly estimatedCost: string
}

/** Everything one call needs once its response (or failure) is known. */
const finish = async (
  ctx: Context,
  api: Api,
  call: {
    readonly requestId: string
    readonly startedAt: string
    readonly body: Record<string, unknown>
    readonly labels: Recorder.Labels
    readonly tags: Readonly<Record<string, string>> | undefined
    readonly hold: Hold | null
    readonly stream: boolean
  },
  outcome: RecordedCall["outcome"],
  payload: unknown
): Promise<void> => {
  const { requestId, hold } = call
  const model = typeof call.body["model"] === "string" ? call.body["model"] : null
  const chunks = Array.isArray(payload) ? payload : null
  // Nothing came back (a provider error, or aborted before the first event): nothing to price.
  const nothing = payload === undefined || (chunks !== null && chunks.length === 0)
  let item: Recorder.IngestItem | null = null
  if (!nothing) {
    const complete = chunks === null || streamHasUsage(api, chunks)
    const event: Recorder.UsageEvent = {
      requestId,
      occurredAt: call.startedAt,
      provider: ctx.provider,
      api: api.normalizerApi,
      payload,
      ...(complete ? {} : { request: call.body }),
      labels: call.labels,
      ...(call.tags === undefined ? {} : { tags: call.tags })
    }
    try {
      item = await ctx.recorder.record(event)
    } catch (error) {
      report(ctx, new TallyUnavailable("record", describe(error), { cause: error }), requestId)
    }
  }
  let reservation: RecordedCall["reservation"] = null
  if (hold !== null) {
    const actual = item !== null && (item.status === "inserted" || item.status === "duplicate") ? item.total ?? null : null
    try {
      if (actual !== null) await ctx.recorder.settle(hold.id, actual, requestId)
      else await ctx.recorder.release(hold.id)
      reservation = { id: hold.id, estimatedCost: hold.estimatedCost, state: actual !== null ? "settled" : "released", actualCost: actual }
    } catch (error) {
      report(ctx, new TallyUnavailable(actual !== null ? "settle" : "release", describe(error), { cause: error }), requestId)
      reservation = { id: hold.id, estimatedCost: hold.estimatedCost, state: "failed", actualCost: actual }
    }
  }
  ctx.options.onRecord?.({
    requestId,
    provider: ctx.provider,
    api: api.normalizerApi,
    model: item?.model ?? model,
    outcome,
    stream: call.stream,
    status: item?.status ?? "not-recorded",
    total: item?.total ?? null,
    currency: item?.currency ?? null,
    costSource: item?.costSource ?? null,
    estimated: item?.costSource === "estimated",
    reason: item?.reason ?? null,
    reservation
  })
}

interface SdkStream {
  readonly controller: AbortController
  [Symbol.asyncIterator](): AsyncIterator<unknown>
}

const isSdkStream = (value: unknown): value is SdkStream =>
  value !== null && typeof value === "object" && Symbol.asyncIterator in value && (value as { controller?: unknown }).controller instanceof AbortController

/**
 * The SDK's own stream class around an iterator that keeps every event and finishes the call
 * when the stream ends, throws, is left (`break`) or is aborted.
 */
const wrapStream = (stream: SdkStream, hideUsageChunk: boolean, done: (outcome: RecordedCall["outcome"], chunks: ReadonlyArray<unknown>) => void) => {
  const chunks: Array<unknown> = []
  let finished = false
  const end = (outcome: RecordedCall["outcome"]) => {
    if (finished) return
    finished = true
    done(outcome, chunks)
  }
  stream.controller.signal.addEventListener("abort", () => end("aborted"), { once: true })
  let iterated = false
  const iterator = (): AsyncIterator<unknown> => {
    if (iterated) return stream[Symbol.asyncIterator]() // the SDK refuses a second iteration with its own error
    iterated = true
    const inner = stream[Symbol.asyncIterator]()
    return {
      next: async () => {
        try {
          for (;;) {
            const result = await inner.next()
            if (result.done === true) {
              end("completed")
              return result
            }
            chunks.push(result.value)
            if (hideUsageChunk && isUsageOnlyChunk(result.value)) continue
            return result
          }
        } catch (error) {
          end(isAbort(error) || stream.controller.signal.aborted ? "aborted" : "error")
          throw error
        }
      },
      return: async (value?: unknown) => {
        end("abandoned")
        await inner.return?.(value)
        return { done: true, value }
      }
    }
  }
  const Ctor = stream.constructor as new(iterator: () => AsyncIterator<unknown>, controller: AbortController) => SdkStream
  return new Ctor(iterator, stream.controller)
}

interface SdkPromise extends Promise<unknown> {
  withResponse?: () => Promise<{ data: unknown; response: Response; request_id?: string | null }>
  asResponse?: () => Promise<Response>
}

/** One priced call through `create`. */
const invoke = (ctx: Context, api: Api, create: (body: unknown, options: unknown) => SdkPromise, rawBody: unknown, rawOptions: unknown) => {
  const { sdk, call: callOptions } = splitOptions(rawOptions)
  const body = { ...(rawBody as Record<string, unknown>) }
  const stream = body["stream"] === true
  let hideUsageChunk = false
  if (api.name === "openai.chat" && stream) {
    const streamOptions = (body["stream_options"] ?? {}) as Record<string, unknown>
    if (streamOptions["include_usage"] === undefined) {
      body["stream_options"] = { ...streamOptions, include_usage: true }
      hideUsageChunk = true
    }
  }
  const labels: Recorder.Labels = { ...ctx.options.labels, ...callOptions.labels }
  const tags = ctx.options.tags === undefined && callOptions.tags === undefined ? undefined : { ...ctx.options.tags, ...callOptions.tags }
  const requestId = callOptions.requestId ?? `tly_${randomUUID()}`

  const started = (async () => {
    checkLabels("labels", callOptions.labels)
    let hold: Hold | null = null
    if (ctx.budget !== null && callOptions.budget !== false) {
      const model = typeof body["model"] === "string" ? body["model"] : ""
      const pricer = ctx.recorder.pricer!
      let estimatedCost: string
      try {
        const tokens = Estimate.tokens(api, body, ctx.budget.defaultMaxOutputTokens ?? 4096)
        const quote = await pricer.cost({ provider: ctx.provider, api: api.normalizerApi, payload: Estimate.payload(api, model, tokens) })
        // A model without a price reserves nothing, but is still refused by a budget already spent.
        estimatedCost = quote.total ?? "0"
      } catch (error) {
        throw new TallyUnavailable("estimate", describe(error), { cause: error })
      }
      let decision
      try {
        decision = await ctx.recorder.reserve({ labels: { ...labels, model }, estimatedCost, requestId, ttlSeconds: ctx.budget.ttlSeconds })
      } catch (error) {
        throw new TallyUnavailable("reserve", `${describe(error)}; the call was not sent`, { cause: error })
      }
      if (!decision.allowed) throw new BudgetExceeded(estimatedCost, decision)
      hold = decision.reservation === undefined ? null : { id: decision.reservation.id, estimatedCost }
    }
    const state = { requestId, startedAt: new Date().toISOString(), body, labels, tags, hold, stream }
    let sent: SdkPromise
    try {
      sent = create(body, sdk)
    } catch (error) {
      void finish(ctx, api, state, "error", undefined)
      throw error
    }
    return { sent, state }
  })()

  let processed: Promise<unknown> | undefined
  const data = (): Promise<unknown> =>
    (processed ??= started.then(({ sent, state }) =>
      sent.then(
        (result) => {
          if (stream && isSdkStream(result)) {
            return wrapStream(result, hideUsageChunk, (outcome, chunks) => void finish(ctx, api, state, outcome, chunks))
          }
          void finish(ctx, api, state, "completed", result)
          return result
        },
        (error: unknown) => {
          void finish(ctx, api, state, isAbort(error) ? "aborted" : "error", undefined)
          throw error
        }
      )
    ))
  const result = data()
  result.catch(() => undefined) // the caller sees the rejection; this branch only keeps Node quiet
  return Object.assign(result, {
    withResponse: async () => {
      const { sent } = await started
      const [value, response] = await Promise.all([data(), sent.asResponse!()])
      return { data: value, response, request_id: response.headers.get("request-id") ?? response.headers.get("x-request-id") }
    },
    asResponse: async () => {
      await data()
      const { sent } = await started
      return sent.asResponse!()
    }
  })
}

const WRAPPED = Symbol.for("@tally/clients/wrapped")

interface Wrapped {
  readonly client: object
  readonly options: WithTallyOptions
}

const resourceAt = (client: object, path: ReadonlyArray<string>): Record<string, unknown> | undefined => {
  let at: unknown = client
  for (const key of path) at = (at as Record<string, unknown> | undefined)?.[key]
  return at !== null && typeof at === "object" ? at as Record<string, unknown> : undefined
}

/** A proxy of `target` where `path` leads to `create` replaced by `replacement`. */
type AnyFunction = (...args: ReadonlyArray<unknown>) => unknown

const proxyPath = (target: object, path: ReadonlyArray<string>, replacement: (original: AnyFunction, self: object) => AnyFunction): object =>
  new Proxy(target, {
    get(obj, key, receiver) {
      const value = Reflect.get(obj, key, receiver)
      if (path.length === 0) {
        if (key === "create" && typeof value === "function") return replacement(value as AnyFunction, obj)
        return value
      }
      if (key === path[0] && value !== null && typeof value === "object") return proxyPath(value, path.slice(1), replacement)
      return value
    }
  })

/**
 * The client with every call priced, recorded and (with `budget`) held to the tenant's budgets.
 * Wrapping a wrapped client again adds its labels and tags to the first wrapper's.
 */
export const withTally = <C extends object>(client: C, options: WithTallyOptions): C => {
  const inner = (client as { [WRAPPED]?: Wrapped })[WRAPPED]
  if (inner !== undefined) {
    const merged = {
      ...inner.options,
      ...options,
      labels: { ...inner.options.labels, ...options.labels },
      tags: inner.options.tags === undefined && options.tags === undefined ? undefined : { ...inner.options.tags, ...options.tags }
    } as WithTallyOptions
    return withTally(inner.client as C, merged)
  }
  checkLabels("labels", options.labels)
  const apis = resourceAt(client, ["chat", "completions"]) !== undefined && typeof resourceAt(client, ["chat", "completions"])!["create"] === "function"
    ? openaiApis
    : typeof resourceAt(client, ["messages"])?.["create"] === "function"
    ? anthropicApis
    : undefined
  if (apis === undefined) {
    throw new InvalidTallyOptions("client", "expected an OpenAI client (openai) or an Anthropic client (@anthropic-ai/sdk)")
  }
  let recorder: Recorder.Recorder
  if ("tally" in options && options.tally !== undefined) {
    if (typeof options.tenantId !== "string" || options.tenantId === "") throw new InvalidTallyOptions("tenantId", "required with `tally`: the tenant the calls are recorded for")
    recorder = Recorder.embedded(options.tally, options.tenantId, options.pricer)
  } else if ("url" in options && typeof options.url === "string") {
    try {
      new URL(options.url)
    } catch {
      throw new InvalidTallyOptions("url", `expected the worker's base URL, got ${JSON.stringify(options.url)}`)
    }
    if (typeof options.apiKey !== "string" || options.apiKey === "") throw new InvalidTallyOptions("apiKey", "required with `url`: a worker API key with the ingest scope")
    recorder = Recorder.http(options)
  } else {
    throw new InvalidTallyOptions("tally", "give `tally` (a createTally() facade) and `tenantId`, or `url` and `apiKey` of a Tally worker")
  }
  const budget = options.budget === undefined || options.budget === false ? null : options.budget === true ? {} : options.budget
  if (budget !== null && recorder.pricer === null) {
    // Over HTTP, estimates come from the built-in catalog (no database); pass `pricer` for a custom one.
    recorder = { ...recorder, pricer: createPricer() }
  }
  const ctx: Context = { recorder, options, budget, provider: options.provider ?? apis[0]!.provider }
  let proxied: object = client
  for (const api of apis) {
    proxied = proxyPath(proxied, api.path, (original, self) => (body: unknown, requestOptions?: unknown) =>
      invoke(ctx, api, (b, o) => original.call(self, b, o) as SdkPromise, body, requestOptions))
  }
  const wrapped: Wrapped = { client, options }
  return new Proxy(proxied, {
    get(obj, key, receiver) {
      if (key === WRAPPED) return wrapped
      return Reflect.get(obj, key, receiver)
    }
  }) as C
}
