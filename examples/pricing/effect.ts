// The pricer as an Effect service: `node effect.ts` (docs/embedding.md).
import { Pricer } from "@tally/pricing"
import { Effect } from "effect"

const program = Effect.gen(function*() {
  const pricer = yield* Pricer.Pricer
  return yield* pricer.price({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 1000, output_tokens: 200 }, at: "2026-05-01T12:00:00Z" })
}).pipe(Effect.provide(Pricer.Pricer.layer({ builtIn: true })))

const priced = await Effect.runPromise(program)
console.log(JSON.stringify({ effect: { total: priced.total, currency: priced.currency } }))
