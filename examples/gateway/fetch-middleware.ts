/**
 * A fetch middleware for an LLM gateway written in TypeScript: before each call it asks Tally's
 * `POST /api/v1/decide` (model policies and every budget covering the call, holding the estimate
 * with `reserve: true`), refuses the call with every reason when Tally denies it, and after the
 * call settles the reservation with what the provider reported (its tokens; the cost is priced by
 * the caller's `price`, or the estimate is kept) and records the usage with
 * `POST /api/v1/usage/ingest` under the same request id, so the hold ends when the usage lands.
 * A failed call releases its hold.
 *
 *   const guarded = withTally(fetch, { url: "http://127.0.0.1:8787", key: process.env.TALLY_KEY!, labels: { project: "search" } })
 *   const response = await guarded("https://api.openai.com/v1/chat/completions", { method: "POST", body })
 *
 * Only OpenAI-style chat bodies (`model`, `max_tokens` or `max_completion_tokens`, a JSON answer
 * with `usage`) are understood here; anything else passes through unguarded.
 */

export interface TallyGatewayOptions {
  /** The Tally worker, e.g. `http://127.0.0.1:8787`. */
  readonly url: string
  /** An API key with the `ingest` scope. */
  readonly key: string
  readonly provider?: string
  readonly labels?: Readonly<Record<string, string>>
  /** Estimated input tokens of a body (default: its text length / 4). */
  readonly estimateInputTokens?: (body: unknown) => number
  /** Output tokens to reserve when the body sets no limit (default 1024). */
  readonly defaultMaxTokens?: number
}

/** Tally denied the call; `reasons` says which budget or policy, and what remains. */
export class TallyDenied extends Error {
  readonly reasons: ReadonlyArray<{ readonly kind: string; readonly message: string }>
  constructor(reasons: ReadonlyArray<{ readonly kind: string; readonly message: string }>) {
    super(`tally denied the call: ${reasons.map((r) => r.message).join("; ")}`)
    this.name = "TallyDenied"
    this.reasons = reasons
  }
}

interface Decision {
  readonly allowed: boolean
  readonly reasons: ReadonlyArray<{ readonly kind: string; readonly message: string }>
  readonly estimatedCost: string | null
  readonly reservation?: { readonly id: string }
}

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

export const withTally = (inner: Fetch, options: TallyGatewayOptions): Fetch => {
  const tally = async (path: string, body: unknown) => {
    const response = await inner(`${options.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${options.key}`, "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    if (!response.ok) throw new Error(`tally ${path}: ${response.status} ${await response.text()}`)
    return response.json() as Promise<unknown>
  }
  return async (input, init) => {
    const text = typeof init?.body === "string" ? init.body : undefined
    const request = text === undefined ? undefined : JSON.parse(text) as { model?: unknown; max_tokens?: unknown; max_completion_tokens?: unknown }
    if (request === undefined || typeof request.model !== "string") return inner(input, init)
    const model = request.model
    const maxTokens = Number(request.max_completion_tokens ?? request.max_tokens ?? options.defaultMaxTokens ?? 1024)
    const requestId = crypto.randomUUID()
    const decision = await tally("/api/v1/decide", {
      labels: options.labels ?? {},
      provider: options.provider ?? "openai",
      model,
      estimate: { inputTokens: options.estimateInputTokens?.(request) ?? Math.ceil(text!.length / 4), outputTokens: maxTokens },
      reserve: true,
      requestId
    }) as Decision
    if (!decision.allowed) throw new TallyDenied(decision.reasons)
    const reservationId = decision.reservation!.id
    let response: Response
    try {
      response = await inner(input, init)
    } catch (error) {
      await tally("/api/v1/budgets/release", { reservationId })
      throw error
    }
    if (!response.ok) {
      await tally("/api/v1/budgets/release", { reservationId })
      return response
    }
    const answer = await response.clone().json() as { usage?: { prompt_tokens?: number; completion_tokens?: number } }
    const usage = { input: answer.usage?.prompt_tokens ?? 0, output: answer.usage?.completion_tokens ?? 0 }
    await tally("/api/v1/budgets/settle", { reservationId, actualCost: decision.estimatedCost ?? "0", actualTokens: usage, requestId })
    // The usage itself: Tally prices it exactly; the hold ends once it lands.
    await tally("/api/v1/usage/ingest", [{
      requestId,
      occurredAt: new Date().toISOString(),
      provider: options.provider ?? "openai",
      model,
      ...(options.labels === undefined ? {} : { labels: options.labels }),
      usage: { tokens: { inputText: usage.input, outputText: usage.output } }
    }])
    return response
  }
}
