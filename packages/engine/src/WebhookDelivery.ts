/**
 * Delivers outbox messages to each tenant's webhook: claims due messages (a lease, so several
 * workers share the work), POSTs each signed per the Standard Webhooks specification (with the
 * `standardwebhooks` library), logs every attempt, and on failure schedules the next one with
 * exponential backoff until `maxAttempts`, then gives up (`dead`). Delivery is at least once;
 * receivers deduplicate by `webhook-id`.
 *
 * Headers of every request:
 *   Content-Type: application/json
 *   webhook-id: <outbox message id>          (also as Tally-Event-Id)
 *   webhook-timestamp: <unix seconds>
 *   webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>
 *   Tally-Event-Kind: <kind, e.g. budget.threshold_crossed>
 * The key is the tenant's webhook secret as UTF-8 bytes: a receiver verifies with
 * `new Webhook(secret, { format: "raw" })` (Node) or `Webhook(secret.encode())` (Python), or any
 * Standard Webhooks library given `whsec_` + base64 of the secret (`receiverSecret`).
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
import { Webhook } from "standardwebhooks"

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

/** The signer of a tenant's messages: the webhook secret's UTF-8 bytes are the HMAC key. */
export const signer = (secret: string): Webhook => new Webhook(secret, { format: "raw" })

/** The same key in the `whsec_<base64>` form Standard Webhooks libraries take by default. */
export const receiverSecret = (secret: string): string => `whsec_${Buffer.from(secret, "utf8").toString("base64")}`

/** The Standard Webhooks headers of one attempt at `timestampSeconds`. */
export const signatureHeaders = (
  secret: string,
  message: { readonly id: string; readonly body: string },
  timestampSeconds: number
): { readonly "webhook-id": string; readonly "webhook-timestamp": string; readonly "webhook-signature": string } => ({
  "webhook-id": message.id,
  "webhook-timestamp": String(timestampSeconds),
  "webhook-signature": signer(secret).sign(message.id, new Date(timestampSeconds * 1000), message.body)
})

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
              ...signatureHeaders(message.secret, { id: message.id, body }, Math.floor(startedMillis / 1000)),
              "Tally-Event-Id": message.id,
              "Tally-Event-Kind": message.kind,
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
