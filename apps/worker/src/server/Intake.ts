/**
 * Handing a request's events to the one ingest pipeline, for the HTTP and OTLP routes alike:
 * the API key's tenant and default labels apply, the outcome is counted in the metrics, and a
 * batch whose transaction failed becomes a 503 the client retries. The database can fail while
 * committing, so the answer never says nothing was stored: it says the batch may have been, and
 * that retrying is safe (the ledger is idempotent). Counting the outcome never fails the answer
 * of work that was committed.
 */
import type { ApiKey } from "@tally/core"
import { IngestPipeline, type Ingest } from "@tally/engine"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as ApiError from "./ApiError.ts"
import * as Guard from "./Guard.ts"
import { Metrics } from "./Metrics.ts"

const empty: Ingest.IngestResult = { items: [], inserted: 0, duplicates: 0, conflicts: 0, rejected: 0 }

export const submit = Effect.fnUntraced(function*(
  key: ApiKey.VerifiedKey,
  events: ReadonlyArray<unknown>
): Effect.fn.Return<Ingest.IngestResult, ApiError.ApiError, IngestPipeline | Metrics> {
  if (events.length === 0) return empty
  const pipeline = yield* IngestPipeline
  const metrics = yield* Metrics
  const started = yield* Clock.currentTimeNanos
  const result = yield* pipeline.submit(key.tenantId, events, { defaultLabels: key.defaultLabels, apiKeyId: key.keyId }).pipe(
    Effect.catchTag("IngestFailure", (failure) =>
      failure.reason === "unknown-tenant"
        ? Effect.fail(ApiError.make("unauthorized", "the API key's tenant does not exist"))
        : Effect.logError(`ingest batch not committed: ${failure.message}`).pipe(
          Effect.andThen(Effect.fail(ApiError.make("unavailable", Guard.unavailableMessage)))
        ))
  )
  const finished = yield* Clock.currentTimeNanos
  yield* metrics.recordBatch(result, Number(finished - started) / 1e9).pipe(
    Effect.catchCause((cause) => Effect.logWarning("ingest metrics not recorded", cause))
  )
  return result
})
