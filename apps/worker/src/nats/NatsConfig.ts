/**
 * How the worker meets NATS JetStream: which server, which stream and subjects, which durable
 * consumer, and the delivery limits. `TALLY_NATS_URL` switches the consumer on (see `tally serve`);
 * everything else has a default and an environment variable (`TALLY_NATS_*`).
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

export interface NatsConfig {
  /** One server URL or several, comma-separated (`nats://a:4222,nats://b:4222`). */
  readonly servers: ReadonlyArray<string>
  /** The stream that captures usage messages; created when missing. */
  readonly stream: string
  /** Usage is published on `<subjectPrefix>.<tenantId>`; the stream captures `<subjectPrefix>.>`. */
  readonly subjectPrefix: string
  /** The durable pull consumer every worker shares. */
  readonly consumer: string
  /** Deliveries of a failing message before it is dead-lettered and terminated. */
  readonly maxDeliver: number
  /** How long the server waits for an ack before it redelivers (in-flight messages are kept alive). */
  readonly ackWait: Duration.Duration
  /** The first redelivery delay after a failure; it doubles per delivery up to `maxRetryDelay`. */
  readonly retryDelay: Duration.Duration
  readonly maxRetryDelay: Duration.Duration
  /** Messages one worker holds at once (fetched, being ingested, not yet acked). */
  readonly maxInFlight: number
  /** How long one pull request waits for messages; bounds how long a graceful stop waits for it. */
  readonly fetchExpires: Duration.Duration
  /** How often the consumer's pending count (lag) is read. */
  readonly lagInterval: Duration.Duration
  /** The longest a graceful stop waits for in-flight messages before giving up on them. */
  readonly shutdownTimeout: Duration.Duration
  /**
   * Messages that name no existing tenant cannot be dead-lettered in the database (a dead letter
   * belongs to a tenant), so they are republished here, on `<deadLetterPrefix>.<subject rest>`.
   */
  readonly deadLetterStream: string
  readonly deadLetterPrefix: string
}

/** Stream and consumer names: no whitespace, `.`, `*`, `>`, path separators. */
const Name = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/, { message: "expected 1 to 64 letters, digits, `_` or `-`" })
)

/** Literal subject tokens joined by `.`, no wildcards or whitespace. */
const SubjectPrefix = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, {
    message: "expected subject tokens of letters, digits, `_` or `-` joined by `.`, without wildcards"
  })
)

export const expectedServers = "expected a NATS URL such as nats://127.0.0.1:4222, or several separated by commas"

/** One NATS URL or several, comma-separated. */
export const Servers = Schema.String.check(
  Schema.isPattern(/^\s*(nats|tls|wss?):\/\/[^\s,]+(\s*,\s*(nats|tls|wss?):\/\/[^\s,]+)*\s*$/, { message: expectedServers })
)

const positiveInt = (name: string, max: number) =>
  Config.schema(Schema.NumberFromString.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: max })), name)

const duration = (name: string, fallback: Duration.Input) =>
  Config.Duration(name).pipe(Config.withDefault(Duration.fromInputUnsafe(fallback)))

export const defaults = {
  stream: "TALLY_USAGE",
  subjectPrefix: "tally.usage",
  consumer: "tally-worker",
  maxDeliver: 5,
  maxInFlight: 64
} as const

/** The servers of a URL list as the client takes them. */
export const parseServers = (url: string): ReadonlyArray<string> =>
  url.split(",").map((s) => s.trim()).filter((s) => s !== "")

/**
 * The configuration for the servers at `url` (from `TALLY_NATS_URL` or a flag; checked with
 * `Servers` when connecting), the rest from
 * `TALLY_NATS_STREAM`, `TALLY_NATS_SUBJECT_PREFIX`, `TALLY_NATS_CONSUMER`, `TALLY_NATS_MAX_DELIVER`,
 * `TALLY_NATS_ACK_WAIT`, `TALLY_NATS_RETRY_DELAY`, `TALLY_NATS_MAX_RETRY_DELAY`,
 * `TALLY_NATS_MAX_IN_FLIGHT`, `TALLY_NATS_FETCH_EXPIRES`, `TALLY_NATS_LAG_INTERVAL`,
 * `TALLY_NATS_SHUTDOWN_TIMEOUT`, `TALLY_NATS_DEAD_LETTER_STREAM`, `TALLY_NATS_DEAD_LETTER_PREFIX`.
 * Durations are written like `30 seconds` or `500 millis`.
 */
export const fromEnv = (url: string): Config.Config<NatsConfig> =>
  Config.all({
    servers: Config.succeed(parseServers(url)),
    stream: Config.schema(Name, "TALLY_NATS_STREAM").pipe(Config.withDefault(defaults.stream)),
    subjectPrefix: Config.schema(SubjectPrefix, "TALLY_NATS_SUBJECT_PREFIX").pipe(
      Config.withDefault(defaults.subjectPrefix)
    ),
    consumer: Config.schema(Name, "TALLY_NATS_CONSUMER").pipe(Config.withDefault(defaults.consumer)),
    maxDeliver: positiveInt("TALLY_NATS_MAX_DELIVER", 1000).pipe(Config.withDefault(defaults.maxDeliver)),
    ackWait: duration("TALLY_NATS_ACK_WAIT", "30 seconds"),
    retryDelay: duration("TALLY_NATS_RETRY_DELAY", "1 second"),
    maxRetryDelay: duration("TALLY_NATS_MAX_RETRY_DELAY", "1 minute"),
    maxInFlight: positiveInt("TALLY_NATS_MAX_IN_FLIGHT", 10_000).pipe(Config.withDefault(defaults.maxInFlight)),
    fetchExpires: duration("TALLY_NATS_FETCH_EXPIRES", "5 seconds"),
    lagInterval: duration("TALLY_NATS_LAG_INTERVAL", "5 seconds"),
    shutdownTimeout: duration("TALLY_NATS_SHUTDOWN_TIMEOUT", "30 seconds"),
    deadLetterStream: Config.schema(Name, "TALLY_NATS_DEAD_LETTER_STREAM").pipe(Config.withDefault("")),
    deadLetterPrefix: Config.schema(SubjectPrefix, "TALLY_NATS_DEAD_LETTER_PREFIX").pipe(Config.withDefault(""))
  }).pipe(
    Config.map((config): NatsConfig => ({
      ...config,
      // Derived from the usage stream and prefix, so a test's unique names give unique dead letters.
      deadLetterStream: config.deadLetterStream === "" ? `${config.stream}_DEAD_LETTERS` : config.deadLetterStream,
      deadLetterPrefix: config.deadLetterPrefix === "" ? `${config.subjectPrefix}-dead-letters` : config.deadLetterPrefix
    }))
  )

/** A configuration with the defaults for everything but the servers, for tests and embedding. */
export const make = (url: string, overrides: Partial<NatsConfig> = {}): NatsConfig => {
  const stream = overrides.stream ?? defaults.stream
  const subjectPrefix = overrides.subjectPrefix ?? defaults.subjectPrefix
  return {
    servers: parseServers(url),
    stream,
    subjectPrefix,
    consumer: defaults.consumer,
    maxDeliver: defaults.maxDeliver,
    ackWait: Duration.seconds(30),
    retryDelay: Duration.seconds(1),
    maxRetryDelay: Duration.minutes(1),
    maxInFlight: defaults.maxInFlight,
    fetchExpires: Duration.seconds(5),
    lagInterval: Duration.seconds(5),
    shutdownTimeout: Duration.seconds(30),
    deadLetterStream: `${stream}_DEAD_LETTERS`,
    deadLetterPrefix: `${subjectPrefix}-dead-letters`,
    ...overrides
  }
}

/** The delay before the next delivery of a message that failed on its `deliveryCount`-th delivery. */
export const retryDelayFor = (config: NatsConfig, deliveryCount: number): Duration.Duration => {
  const base = Duration.toMillis(config.retryDelay)
  const cap = Duration.toMillis(config.maxRetryDelay)
  const exponent = Math.min(Math.max(deliveryCount - 1, 0), 30)
  return Duration.millis(Math.min(base * 2 ** exponent, cap))
}
