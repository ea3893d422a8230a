/**
 * `GET /healthz` (the process answers), `GET /readyz` (the database answers and every migration
 * this build knows is applied), `GET /metrics` (Prometheus text), `GET /openapi.json` (the REST
 * API's OpenAPI 3.1 document, `Api.document`).
 */
import { Database, Migrations } from "@tally/store"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Api from "../Api.ts"
import { Metrics } from "../Metrics.ts"

export const healthz = Effect.succeed(HttpServerResponse.jsonUnsafe({ status: "ok" }))

/** How long a readiness probe waits for the database before calling it unavailable. */
const probeTimeout = Duration.seconds(2)

export const readyz = Effect.gen(function*() {
  const db = yield* Database.Database
  const known = yield* Migrations.loader.pipe(Effect.map((all) => Math.max(0, ...all.map(([id]) => id))), Effect.orDie)
  const applied = yield* db.sql<{ id: number | null }>`SELECT max(migration_id) AS id FROM ${db.sql(Migrations.table)}`.pipe(
    Effect.map((rows) => rows[0]?.id ?? 0),
    Effect.timeoutOrElse({ duration: probeTimeout, orElse: () => Effect.fail("the database did not answer within 2 seconds") }),
    Effect.result
  )
  if (applied._tag === "Failure") {
    const reason = typeof applied.failure === "string" ? applied.failure : applied.failure.message
    return HttpServerResponse.jsonUnsafe({ status: "unavailable", database: "unreachable", reason }, { status: 503 })
  }
  if (applied.success < known) {
    return HttpServerResponse.jsonUnsafe(
      { status: "unavailable", database: "migrations pending", applied: applied.success, expected: known },
      { status: 503 }
    )
  }
  return HttpServerResponse.jsonUnsafe({ status: "ready", database: db.backend, migration: applied.success })
})

export const metrics = Effect.gen(function*() {
  const text = yield* (yield* Metrics).render
  return HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
})

export const openapi = Effect.sync(() => HttpServerResponse.jsonUnsafe(Api.document, { headers: { "access-control-allow-origin": "*" } }))
