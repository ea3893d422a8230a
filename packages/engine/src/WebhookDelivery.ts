/**
 * Delivers outbox messages to each tenant's webhook: claims due messages (a lease, so several
 * workers share the work), POSTs each with an HMAC-SHA256 signature, logs every attempt, and on
 * failure schedules the next one with exponential backoff until `maxAttempts`, then gives up
 * (`dead`). Delivery is at least once; receivers deduplicate by `Tally-Event-Id`.
 *
 * Headers of every request:
 *   Content-Type: application/json
 *   Tally-Event-Id: <outbox message id>
 *   Tally-Event-Kind: <kind, e.g. budget.threshold_crossed>
 *   Tally-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 * A receiver recomputes v1 over the raw body and rejects timestamps too far from its clock.
 */
import { Outbox } from "@tally/store"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import type { SqlError } from "effect/sql/SqlError"
import { createHmac, timingSafeEqual } from "node:crypto"

export interface DeliveryConfig {
  /** Messages claimed per pass. Default 50. */
  readonly batchSize?: number | undefined
  /** How long a claim keeps other workers off a message. Default 60 s; must exceed the timeout. */
  readonly leaseMs?: number | undefined
  /** Per request. Default 10 s. */
  readonly timeoutMs?: number | undefined
  /** Delay after the first failure; doubles each time. Default 10 s. */
  readonly baseDelayMs?: number | undefined
  /** Ceiling of the delay. Default 1 hour. */
  readonly maxDelayMs?: number | undefined
  /** Attempts before a message is given up. Default 12 (about 3.4 hours of retrying). */
  readonly maxAttempts?: number | undefined
}

export const defaults = {
  batchSize: 50,
  leaseMs: 60_000,
  timeoutMs: 10_000,
  baseDelayMs: 10_000,
  maxDelayMs: 3_600_000,
  maxAttempts: 12
} as const

export const signatureHeader = "Tally-Signature"

/** Hex HMAC-SHA256 of `<t>.<body>` under `secret`. */
export const sign = (secret: string, timestampSeconds: number, body: string): string =>
  createHmac("sha256", secret).update(`${timestampSeconds}.${body}`).digest("hex")

/** The `Tally-Signature` value: `t=<unix seconds>,v1=<hex>`. */
export const signature = (secret: string, timestampSeconds: number, body: string): string =>
  `t=${timestampSeconds},v1=${sign(secret, timestampSeconds, body)}`

/**
 * Checks a `Tally-Signature` header against the raw body, for receivers (and tests): the v1 MAC
 * must match in constant time and `t` lie within `toleranceSeconds` of `nowSeconds`.
 */
export const verify = (
  secret: string,
  header: string,
  body: string,
  options: { readonly nowSeconds: number; readonly toleranceSeconds?: number | undefined }
): boolean => {
  const parts = new Map(header.split(",").map((part) => {
    const i = part.indexOf("=")
    return [part.slice(0, i).trim(), part.slice(i + 1).trim()] as const
  }))
  const t = Number(parts.get("t"))
  const v1 = parts.get("v1")
  if (!Number.isInteger(t) || v1 === undefined || !/^[0-9a-f]{64}$/.test(v1)) return false
  if (Math.abs(options.nowSeconds - t) > (options.toleranceSeconds ?? 300)) return false
  return timingSafeEqual(Buffer.from(v1, "hex"), Buffer.from(sign(secret, t, body), "hex"))
}

/** Delay before attempt `attempt + 1` after `attempt` failed: base × 2^(attempt−1), capped. */
export const backoffMs = (attempt: number, config: { readonly baseDelayMs: number; readonly maxDelayMs: number }) =>
  Math.min(config.maxDelayMs, config.baseDelayMs * 2 ** Math.max(0, attempt - 1))

export interface DeliveryOutcome {
  readonly outboxId: string
  readonly tenantId: string
  readonly attempt: number
  readonly outcome: "delivered" | "failed"
  readonly statusCode: number | null
  readonly error: string | null
  /** When it is tried again; null when delivered or given up. */
  readonly nextAttemptAt: DateTime.Utc | null
}

/**
 * Attempts by outcome (`delivered`, `failed`), in Effect's metric registry: a worker renders it at
 * `/metrics` as `tally_webhook_deliveries_total{outcome}`.
 */
export const deliveries = Metric.counter("tally_webhook_deliveries_total", {
  description: "Webhook delivery attempts by outcome: delivered, failed",
  incremental: true
})

export interface WebhookDeliveryService {
  /** One pass: claims due messages and attempts each once. */
  readonly deliverDue: Effect.Effect<ReadonlyArray<DeliveryOutcome>, SqlError>
}

const excerptLength = 1000

export class WebhookDelivery extends Context.Service<WebhookDelivery, WebhookDeliveryService>()(
  "@tally/engine/WebhookDelivery"
) {
  static readonly layerConfig = (
    options: DeliveryConfig = {}
  ): Layer.Layer<WebhookDelivery, never, Outbox.Outbox | HttpClient.HttpClient> =>
    Layer.effect(
      WebhookDelivery,
      Effect.gen(function*() {
        const outbox = yield* Outbox.Outbox
        const client = yield* HttpClient.HttpClient
        const config = { ...defaults, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) }

        const attempt = Effect.fnUntraced(function*(message: Outbox.ClaimedMessage) {
          const started = yield* DateTime.now
          const startedMillis = DateTime.toEpochMillis(started)
          const body = Outbox.body(message)
          const number = message.attempts + 1
          const request = HttpClientRequest.post(message.url).pipe(
            HttpClientRequest.setHeaders({
              "Tally-Event-Id": message.id,
              "Tally-Event-Kind": message.kind,
              [signatureHeader]: signature(message.secret, Math.floor(startedMillis / 1000), body),
              "User-Agent": "tally-webhooks/1"
            }),
            HttpClientRequest.bodyText(body, "application/json")
          )
          const sent = yield* client.execute(request).pipe(
            Effect.flatMap((response) =>
              Effect.map(
                response.text.pipe(Effect.catch(() => Effect.succeed(""))),
                (text) => ({ status: response.status, text, error: null as string | null })
              )
            ),
            Effect.timeoutOrElse({
              duration: Duration.millis(config.timeoutMs),
              orElse: () => Effect.succeed({ status: null as number | null, text: "", error: `timed out after ${config.timeoutMs} ms` })
            }),
            Effect.catch((error) =>
              Effect.succeed({ status: null as number | null, text: "", error: describe(error) })
            )
          )
          const finished = yield* DateTime.now
          const delivered = sent.status !== null && sent.status >= 200 && sent.status < 300
          const nextAttemptAt = delivered || number >= config.maxAttempts
            ? null
            : DateTime.makeUnsafe(DateTime.toEpochMillis(finished) + backoffMs(number, config))
          const error = delivered ? null : sent.error ?? `HTTP ${sent.status}`
          yield* outbox.recordAttempt(message.tenantId, {
            outboxId: message.id,
            attempt: number,
            attemptedAt: started,
            url: message.url,
            outcome: delivered ? "delivered" : "failed",
            statusCode: sent.status,
            error,
            durationMs: DateTime.toEpochMillis(finished) - startedMillis,
            responseExcerpt: sent.text === "" ? null : sent.text.slice(0, excerptLength),
            nextAttemptAt
          })
          yield* Metric.update(Metric.withAttributes(deliveries, { outcome: delivered ? "delivered" : "failed" }), 1)
          return {
            outboxId: message.id,
            tenantId: message.tenantId,
            attempt: number,
            outcome: delivered ? "delivered" : "failed",
            statusCode: sent.status,
            error,
            nextAttemptAt
          } satisfies DeliveryOutcome
        })

        const deliverDue = Effect.gen(function*() {
          const now = yield* DateTime.now
          const claimed = yield* outbox.claimDue({ now, limit: config.batchSize, leaseMs: config.leaseMs })
          // One tenant's slow endpoint must not hold up the others: attempts run side by side.
          return yield* Effect.forEach(claimed, attempt, { concurrency: 8 })
        }).pipe(Effect.withSpan("WebhookDelivery.deliverDue"))

        return WebhookDelivery.of({ deliverDue })
      })
    )

  static readonly layer = WebhookDelivery.layerConfig()
}

const describe = (error: unknown): string => {
  if (typeof error === "object" && error !== null) {
    const message = (error as { message?: unknown }).message
    const reason = (error as { reason?: { _tag?: unknown; description?: unknown } }).reason
    const parts = [
      typeof reason?._tag === "string" ? reason._tag : undefined,
      typeof message === "string" && message !== "" ? message : undefined
    ].filter((p) => p !== undefined)
    if (parts.length > 0) return parts.join(": ").slice(0, 500)
  }
  return String(error).slice(0, 500)
}

/**
 * Runs delivery passes in the background for the layer's lifetime, every `interval` (default
 * 5 s); a failing pass is logged and the next one runs on time.
 */
export const layerWorker = (
  options: { readonly interval?: Duration.Input | undefined } = {}
): Layer.Layer<never, never, WebhookDelivery> =>
  Layer.effectDiscard(
    Effect.gen(function*() {
      const delivery = yield* WebhookDelivery
      yield* delivery.deliverDue.pipe(
        Effect.catch((error) => Effect.logWarning("webhook delivery pass failed", error)),
        Effect.repeat(Schedule.spaced(options.interval ?? "5 seconds")),
        Effect.forkScoped
      )
    })
  )
