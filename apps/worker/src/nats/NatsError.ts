import * as Schema from "effect/Schema"

/**
 * NATS could not be used: the server is unreachable, JetStream is off, or an existing stream or
 * consumer does not fit. `operation` names what was being done (connect, stream, consumer, ...).
 */
export class NatsError extends Schema.TaggedError<NatsError>()("NatsError", {
  operation: Schema.String,
  message: Schema.String
}) {}

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** A NatsError for a failed client call; the client's own message is kept in ours. */
export const fromCause = (operation: string, what: string) => (cause: unknown): NatsError =>
  new NatsError({ operation, message: `${what}: ${describe(cause)}` })
