/**
 * Ingest: decode, normalize, match, price and store one batch of usage events for one tenant.
 */
import type { Catalog } from "@tally/catalog"
import type { DeadLetters, PricedCall, Tenants, UsageLedger } from "@tally/store"
import { Context, Effect, Layer, Schema } from "effect"

export interface IngestOptions {
  /** Labels from the API key; an event's own labels win field by field. */
  readonly defaultLabels?: Partial<PricedCall.Labels> | undefined
  readonly apiKeyId?: string | undefined
}

export type ItemStatus = "inserted" | "duplicate" | "conflict" | "rejected"

export interface IngestItem {
  readonly index: number
  readonly requestId: string | null
  readonly status: ItemStatus
  /** rejected / conflict: what is wrong, naming the field. */
  readonly reason?: string
  readonly costSource?: "provider" | "computed" | "estimated" | "unpriced"
  /** Exact decimal string. */
  readonly total?: string | null
  readonly currency?: string | null
  readonly model?: string | null
  readonly definition?: string | null
}

export interface IngestResult {
  readonly items: ReadonlyArray<IngestItem>
  readonly inserted: number
  readonly duplicates: number
  readonly conflicts: number
  readonly rejected: number
}

/**
 * The batch was not committed: nothing of it was written and the caller must retry (or not ack).
 * `unavailable`: the database failed; `unknown-tenant`: no such tenant.
 */
export class IngestFailure extends Schema.TaggedError<IngestFailure>()("IngestFailure", {
  reason: Schema.Literals(["unavailable", "unknown-tenant"]),
  tenantId: Schema.String,
  message: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {}

export interface IngestService {
  /** Decode, normalize, match, price and store one batch for one tenant; one result per event, in order. */
  readonly ingest: (
    tenantId: string,
    events: ReadonlyArray<unknown>,
    options?: IngestOptions
  ) => Effect.Effect<IngestResult, IngestFailure>
}

export class Ingest extends Context.Service<Ingest, IngestService>()("@tally/engine/Ingest") {
  static readonly layer: Layer.Layer<Ingest, never, Catalog.Catalog | Tenants.Tenants | UsageLedger.UsageLedger | DeadLetters.DeadLetters> =
    Layer.succeed(Ingest, {
      ingest: (tenantId) =>
        Effect.fail(new IngestFailure({ reason: "unavailable", tenantId, message: "not implemented yet" }))
    })
}
