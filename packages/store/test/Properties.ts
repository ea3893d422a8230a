/** Fast-check runs for store tests: properties whose body is an Effect, seeded shuffles and chunks. */
import * as Effect from "effect/Effect"
import fc from "fast-check"

/**
 * Runs a fast-check property whose body is an Effect, in the current context: every run sees the
 * same database as the test.
 */
export const property = <A, R>(
  arbitrary: fc.Arbitrary<A>,
  body: (value: A) => Effect.Effect<unknown, unknown, R>,
  parameters: fc.Parameters<[A]>
): Effect.Effect<void, never, R> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<R>()
    const run = Effect.runPromiseWith(context)
    yield* Effect.promise(() => fc.assert(fc.asyncProperty(arbitrary, (value) => run(Effect.asVoid(body(value)))), parameters))
  })

/** A reproducible shuffle driven by fast-check's generator. */
export const shuffled = <A>(items: ReadonlyArray<A>, seed: number): Array<A> =>
  fc.sample(fc.shuffledSubarray([...items], { minLength: items.length, maxLength: items.length }), { numRuns: 1, seed })[0]!

/** Cuts `items` into consecutive chunks of random sizes in [1, max]. */
export const chunks = <A>(items: ReadonlyArray<A>, max: number, seed: number): Array<Array<A>> => {
  const sizes = fc.sample(fc.integer({ min: 1, max }), { numRuns: items.length, seed })
  const out: Array<Array<A>> = []
  let i = 0
  for (const size of sizes) {
    if (i >= items.length) break
    out.push(items.slice(i, i + size))
    i += size
  }
  return out
}
