import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"

/**
 * A migration is a list of statements run in order, one protocol round trip each: the extended
 * query protocol that prepared statements use takes a single statement at a time, and PL/pgSQL
 * bodies contain semicolons, so statements are never split by text.
 */
export const statements = (...list: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const statement of list) yield* sql.unsafe(statement).unprepared
  })
