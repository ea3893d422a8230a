/**
 * `tally publish --tenant <id> <events.json|->`: put usage events on NATS for the workers to ingest,
 * in messages of `--per-message` events on `<TALLY_NATS_SUBJECT_PREFIX>.<tenant>`. The input takes
 * the formats a message body does (one event, an array, `{ "events": [...] }`, NDJSON).
 *
 * The stream is created first if no worker has created it yet, so events published before any
 * worker ran wait in it. Prints `{ "messages", "events", "subject", "stream" }` once every message
 * is stored by JetStream (its publish acknowledged).
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Commands from "../Commands.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { CliError, ExitCode, invalidConfiguration, invalidInput } from "../CliError.ts"
import { readText } from "../Input.ts"
import * as NatsConfig from "../../nats/NatsConfig.ts"
import * as Streams from "../../nats/Streams.ts"
import { eventsOf, tenantOf } from "../../nats/UsageMessage.ts"

const unexpected = (message: string) => new CliError({ message, exitCode: ExitCode.unexpected })

export const run = ({ values, positionals }: Parsed<typeof Commands.publish.flags>) =>
  Effect.gen(function*() {
    const tenant = yield* Spec.required("publish", "tenant", values.tenant)
    const url = values["nats-url"] ?? process.env["TALLY_NATS_URL"]
    if (url === undefined || url === "") return yield* invalidInput("publish: set TALLY_NATS_URL or --nats-url")
    const perMessage = (yield* Spec.nonNegativeInt("publish", "per-message", values["per-message"])) ?? 100
    if (perMessage === 0) return yield* invalidInput("publish: --per-message must be at least 1")
    if (positionals.length !== 1) return yield* invalidInput("publish: expected one events file, or - for stdin")
    const config = yield* Effect.catch(NatsConfig.fromEnv(url), invalidConfiguration("publish"))
    const subject = `${config.subjectPrefix}.${tenant}`
    const checked = tenantOf(config.subjectPrefix, subject)
    if (Result.isFailure(checked)) return yield* invalidInput(`publish: --tenant: ${checked.failure.message}`)

    const path = positionals[0]!
    const parsed = eventsOf(Buffer.from(yield* readText(path), "utf8"))
    if (Result.isFailure(parsed)) return yield* invalidInput(`${path}: ${parsed.failure.message}`)
    const events = parsed.success

    return yield* Effect.scoped(Effect.gen(function*() {
      const nc = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () => connect({ servers: [...config.servers] }),
          catch: (cause) => unexpected(`publish: cannot connect to NATS at ${url}: ${String(cause)}`)
        }),
        (nc) => Effect.promise(() => nc.drain().catch(() => nc.close()))
      )
      const jsm = yield* Effect.tryPromise({
        try: () => jetstreamManager(nc),
        catch: (cause) => unexpected(`publish: JetStream is not available: ${String(cause)}`)
      })
      yield* Effect.mapError(Streams.ensureUsageStream(jsm, config), (error) => unexpected(`publish: ${error.message}`))
      const js = jetstream(nc)
      const chunks: Array<ReadonlyArray<unknown>> = []
      for (let i = 0; i < events.length; i += perMessage) chunks.push(events.slice(i, i + perMessage))
      yield* Effect.forEach(
        chunks,
        (chunk) =>
          Effect.tryPromise({
            try: () => js.publish(subject, JSON.stringify(chunk)),
            catch: (cause) => unexpected(`publish: ${subject}: ${String(cause)}`)
          }),
        { concurrency: 64, discard: true }
      )
      return { messages: chunks.length, events: events.length, subject, stream: config.stream }
    }))
  })
