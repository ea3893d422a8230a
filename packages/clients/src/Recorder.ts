/**
 * Where a wrapped client's calls go: an embedded engine (`createTally`) or a Tally worker over
 * HTTP (its ingest and budget API). Both answer the same four questions: what would this payload
 * cost (estimates before a call), record this call, and reserve / settle / release a budget hold.
 */
import type { BudgetDecision } from "./Errors.ts"

/** Labels of a usage event (see docs/embedding.md, "Usage events"). */
export interface Labels {
  readonly project?: string | undefined
  readonly environment?: string | undefined
  readonly feature?: string | undefined
  readonly team?: string | undefined
  readonly customer?: string | undefined
  /** Your end user. */
  readonly user?: string | undefined
  readonly workflow?: string | undefined
  readonly costCenter?: string | undefined
}

export interface CostInput {
  readonly provider: string
  readonly payload: unknown
  readonly api?: string | undefined
  readonly model?: string | undefined
  readonly request?: unknown
}

/** The fields of `tally cost` JSON the wrapper reads. */
export interface CostJson {
  readonly total: string | null
  readonly currency: string | null
  readonly costSource: string
  readonly model: string | null
}

/** Anything that prices a raw payload as `tally cost` does: `createPricer()`, or a `createTally()` facade. */
export interface Pricer {
  readonly cost: (input: CostInput) => CostJson | Promise<CostJson>
}

export interface UsageEvent {
  readonly requestId: string
  readonly occurredAt: string
  readonly provider: string
  readonly api?: string | undefined
  readonly payload: unknown
  readonly request?: unknown
  readonly labels?: Labels | undefined
  readonly tags?: Readonly<Record<string, string>> | undefined
}

/** One ingest result item, as the engine and the worker return it. */
export interface IngestItem {
  readonly requestId: string | null
  readonly status: "inserted" | "duplicate" | "conflict" | "rejected"
  readonly costSource?: string
  readonly total?: string | null
  readonly currency?: string | null
  readonly model?: string | null
  readonly reason?: string
}

export interface ReserveRequest {
  readonly labels: Labels & { readonly model?: string | undefined }
  readonly estimatedCost: string
  readonly requestId: string
  readonly ttlSeconds?: number | undefined
}

export interface Recorder {
  /** Null when nothing can price before the call (HTTP without a pricer). */
  readonly pricer: Pricer | null
  readonly record: (event: UsageEvent) => Promise<IngestItem>
  readonly reserve: (request: ReserveRequest) => Promise<BudgetDecision>
  readonly settle: (reservationId: string, actualCost: string, requestId: string) => Promise<void>
  readonly release: (reservationId: string) => Promise<void>
}

/** The part of a `createTally()` facade the wrapper uses (structural, so no engine code is loaded here). */
export interface EmbeddedTally extends Pricer {
  readonly ingest: (tenantId: string, events: ReadonlyArray<unknown>) => Promise<{ readonly items: ReadonlyArray<IngestItem> }>
  readonly budgets: {
    readonly reserve: (tenantId: string, input: {
      readonly labels?: object
      readonly estimatedCost: string
      readonly requestId?: string
      readonly ttlSeconds?: number
    }) => Promise<BudgetDecision>
    readonly settle: (tenantId: string, reservationId: string, input: { readonly actualCost: string; readonly requestId?: string }) => Promise<unknown>
    readonly release: (tenantId: string, reservationId: string) => Promise<unknown>
  }
}

/** Labels a budget check accepts (`user`, `workflow` and `costCenter` do not scope budgets). */
const budgetLabels = (labels: ReserveRequest["labels"]) => {
  const out: Record<string, string> = {}
  for (const key of ["project", "environment", "feature", "team", "customer", "model"] as const) {
    const value = labels[key]
    if (value !== undefined) out[key] = value
  }
  return out
}

export const embedded = (tally: EmbeddedTally, tenantId: string, pricer?: Pricer): Recorder => ({
  pricer: pricer ?? tally,
  record: async (event) => {
    const result = await tally.ingest(tenantId, [event])
    return result.items[0]!
  },
  reserve: (request) =>
    tally.budgets.reserve(tenantId, {
      labels: budgetLabels(request.labels),
      estimatedCost: request.estimatedCost,
      requestId: request.requestId,
      ...(request.ttlSeconds === undefined ? {} : { ttlSeconds: request.ttlSeconds })
    }),
  settle: async (reservationId, actualCost, requestId) => {
    await tally.budgets.settle(tenantId, reservationId, { actualCost, requestId })
  },
  release: async (reservationId) => {
    await tally.budgets.release(tenantId, reservationId)
  }
})

export interface HttpOptions {
  /** The worker's base URL, e.g. `https://tally.internal:8080`. */
  readonly url: string
  /** An API key with the `ingest` scope (it selects the tenant, and its default labels apply). */
  readonly apiKey: string
  /** Prices estimates before a call when `budget` is on; `createPricer()` (built-in catalog) by default. */
  readonly pricer?: Pricer | undefined
  readonly fetch?: typeof globalThis.fetch | undefined
}

/** A worker answered with an error status; `code` is the worker's error code (`unauthorized`, …). */
export class WorkerError extends Error {
  readonly _tag = "WorkerError" as const
  override readonly name = "WorkerError"
  readonly status: number
  readonly code: string
  constructor(status: number, code: string, message: string) {
    super(`tally worker: ${status} ${code}: ${message}`)
    this.status = status
    this.code = code
  }
}

export const http = (options: HttpOptions): Recorder => {
  const base = options.url.replace(/\/+$/, "")
  const doFetch = options.fetch ?? globalThis.fetch
  /**
   * One POST. Idempotent requests (ingest by request id, settle, release) are retried when the
   * connection fails (a kept-alive socket the server closed, a restart): repeating them changes
   * nothing. A reservation is not retried, so a lost answer never holds twice.
   */
  const post = async <A>(path: string, body: unknown, idempotent = true): Promise<A> => {
    let response: Response | undefined
    for (let attempt = 1; response === undefined; attempt++) {
      try {
        response = await doFetch(`${base}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${options.apiKey}` },
          body: JSON.stringify(body)
        })
      } catch (error) {
        if (!idempotent || attempt >= 3) throw error
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt))
      }
    }
    const text = await response.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new WorkerError(response.status, "invalid_response", `expected JSON, got ${JSON.stringify(text.slice(0, 200))}`)
    }
    if (!response.ok) {
      const error = (json as { error?: { code?: string; message?: string } }).error
      throw new WorkerError(response.status, error?.code ?? "error", error?.message ?? text.slice(0, 200))
    }
    return json as A
  }
  return {
    pricer: options.pricer ?? null,
    record: async (event) => {
      const result = await post<{ items: ReadonlyArray<IngestItem> }>("/api/v1/usage/ingest", { events: [event] })
      return result.items[0]!
    },
    reserve: (request) =>
      post<BudgetDecision>("/api/v1/budgets/reserve", {
        labels: budgetLabels(request.labels),
        estimatedCost: request.estimatedCost,
        requestId: request.requestId,
        ...(request.ttlSeconds === undefined ? {} : { ttlSeconds: request.ttlSeconds })
      }, false),
    settle: async (reservationId, actualCost, requestId) => {
      await post("/api/v1/budgets/settle", { reservationId, actualCost, requestId })
    },
    release: async (reservationId) => {
      await post("/api/v1/budgets/release", { reservationId })
    }
  }
}
