import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"

/**
 * Exit codes are part of the CLI contract (docs/cli.md):
 * 2 = bad usage or invalid input, 3 = usage that could not be priced, 1 = anything unexpected.
 */
export const ExitCode = { ok: 0, unexpected: 1, invalidInput: 2, unpriced: 3 } as const

export class CliError extends Schema.TaggedError<CliError>()("CliError", {
  message: Schema.String,
  exitCode: Schema.Int
}) {}

export const invalidInput = (message: string) => new CliError({ message, exitCode: ExitCode.invalidInput })

/** Settings whose value may carry a password: never repeated in a message. */
const isSecret = (name: string) => /DATABASE_URL$/.test(name)

/**
 * A bad setting as one line, `TALLY_PORT: expected an integer from 0 to 65535`, and the name of the
 * variable at fault (the first one, when several are).
 */
export const describeConfigError = (error: Config.ConfigError): { readonly name: string | undefined; readonly message: string } => {
  const cause = error.cause
  const flat = (text: string) => text.replace(/\s*\n\s*/g, " ")
  if (!Schema.isSchemaError(cause)) return { name: undefined, message: `cannot read the configuration: ${flat(cause.message)}` }
  const [first, ...more] = SchemaIssue.makeFormatterStandardSchemaV1()(cause.issue).issues
  if (first === undefined) return { name: undefined, message: "invalid configuration" }
  const name = (first.path ?? []).map((segment) => String(typeof segment === "object" ? segment.key : segment)).join("_")
  const expected = flat(first.message).replace(/^Expected\b/, "expected")
  return {
    name: name === "" ? undefined : name,
    message: `${name === "" ? "configuration" : name}: ${expected}${more.length === 0 ? "" : ` (and ${more.length} more)`}`
  }
}

/**
 * A bad setting: exit 2 with `<command>: <variable>: <what it expects>, got "<its value>"`, the
 * value read from the same configuration (a database URL's is left out: it may hold a password).
 */
export const invalidConfiguration = (command: string) => (error: Config.ConfigError): Effect.Effect<never, CliError> =>
  Effect.gen(function*() {
    const { message, name } = describeConfigError(error)
    const value = name === undefined || isSecret(name)
      ? Option.none<string>()
      : yield* Config.option(Config.String(name)).pipe(Effect.orElseSucceed(() => Option.none<string>()))
    return yield* invalidInput(`${command}: ${message}${Option.match(value, { onNone: () => "", onSome: (v) => `, got ${JSON.stringify(v)}` })}`)
  })

/** A result printed on stdout with a non-zero exit code and one line on stderr (e.g. an unpriced call). */
export class WithExitCode {
  readonly value: unknown
  readonly exitCode: number
  readonly stderr: string
  constructor(options: { readonly value: unknown; readonly exitCode: number; readonly stderr: string }) {
    this.value = options.value
    this.exitCode = options.exitCode
    this.stderr = options.stderr
  }
}

/** Text a command prints as it is instead of JSON: a table for people, a CSV or a report on `--out -`. */
export class Printed {
  readonly text: string
  constructor(text: string) {
    this.text = text.endsWith("\n") || text === "" ? text : `${text}\n`
  }
}
