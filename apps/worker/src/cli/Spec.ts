/**
 * A command's flags and arguments as data, turned into an `effect/cli` command. The specs live in
 * `Commands.ts`, apart from the implementations in `commands/`: `--help`, completions and parse
 * errors need every flag of every command, and must not load the database, the server or the
 * catalog to print them. An implementation receives `{ values, positionals }`, the values typed
 * from its spec (`Values<typeof spec.flags>`).
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import { type CliError, invalidInput } from "./CliError.ts"

export interface FlagSpec {
  readonly type: "string" | "boolean"
  /** What the flag means, shown by `--help` (and compared with docs/cli.md by a test). */
  readonly description: string
  /** Shown as `--name <metavar>`; defaults to `value`. */
  readonly metavar?: string
  /** A flag the command cannot run without: its absence exits 2 with `<command>: --<name> is required`. */
  readonly required?: boolean
  /** May be given more than once; the values arrive as an array, in order. */
  readonly multiple?: boolean
  /** A one-letter alias (`-t`). */
  readonly alias?: string
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>

/** The positional arguments: none, one optional, or any number. */
export interface ArgsSpec {
  readonly name: string
  readonly description: string
  readonly many?: boolean
}

export type Values<F extends FlagSpecs> = {
  readonly [K in keyof F]?: F[K] extends { readonly type: "boolean" } ? boolean
    : F[K] extends { readonly multiple: true } ? Array<string>
    : string
}

export interface Parsed<F extends FlagSpecs> {
  readonly values: Values<F>
  readonly positionals: ReadonlyArray<string>
}

export interface LeafSpec<F extends FlagSpecs = FlagSpecs> {
  readonly description: string
  readonly flags: F
  readonly args?: ArgsSpec | undefined
  readonly examples?: ReadonlyArray<{ readonly command: string; readonly description: string }>
}

export const leaf = <const F extends FlagSpecs>(spec: LeafSpec<F>): LeafSpec<F> => spec

const toFlag = (name: string, spec: FlagSpec): Flag.Flag<unknown> => {
  const description = spec.required === true ? `${spec.description} (required)` : spec.description
  if (spec.type === "boolean") {
    const base = Flag.Boolean(name).pipe(Flag.withDescription(description), Flag.withDefault(false))
    // `--no-builtin` is a flag of its own, not the negation of a `--builtin`. Absent is `undefined`
    // (as for the other flags): `--batch` absent lets the payload say whether it is a batch call.
    return (name.startsWith("no-") ? Flag.withoutNegation(base) : base).pipe(Flag.map((on) => on ? true : undefined))
  }
  let flag = Flag.String(name).pipe(Flag.withDescription(description), Flag.withMetavar(`<${spec.metavar ?? "value"}>`))
  if (spec.alias !== undefined) flag = Flag.withAlias(flag, spec.alias)
  // Absent is `undefined`, not `[]`: implementations tell "not given" from "given" (defaults apply to the first).
  if (spec.multiple === true) return Flag.atLeast(flag, spec.required === true ? 1 : 0).pipe(Flag.map((values) => values.length === 0 ? undefined : [...values]))
  if (spec.required === true) return flag
  return Flag.optional(flag).pipe(Flag.map(Option.getOrUndefined))
}

const toArgument = (spec: ArgsSpec): Argument.Argument<ReadonlyArray<string>> => {
  const base = Argument.String(spec.name).pipe(Argument.withDescription(spec.description))
  return spec.many === true
    ? Argument.variadic(base)
    : Argument.optional(base).pipe(Argument.map(Option.match({ onNone: () => [], onSome: (value) => [value] })))
}

/** Where an implementation's result goes: `Cli.run` prints it. */
export type Handler = (parsed: Parsed<FlagSpecs>) => Effect.Effect<unknown, CliError>

/**
 * The `effect/cli` command of a spec. `handle` loads the implementation when the command runs and
 * passes what it returns to `deliver`.
 */
export const toCommand = <const Name extends string>(
  name: Name,
  spec: LeafSpec,
  handle: () => Promise<Handler>,
  deliver: (value: unknown) => Effect.Effect<void>
) => {
  const config: Record<string, Flag.Flag<unknown> | Argument.Argument<ReadonlyArray<string>>> = {}
  for (const [flagName, flagSpec] of Object.entries(spec.flags)) config[flagName] = toFlag(flagName, flagSpec)
  if (spec.args !== undefined) config["__positionals"] = toArgument(spec.args)
  return Command.make(name, config, (input: Record<string, unknown>) =>
    Effect.gen(function*() {
      const { __positionals, ...values } = input
      const run = yield* Effect.promise(handle)
      const value = yield* run({ values: values as Values<FlagSpecs>, positionals: (__positionals ?? []) as ReadonlyArray<string> })
      yield* deliver(value)
    })).pipe(
      Command.withDescription(spec.description),
      Command.withExamples(spec.examples ?? [])
    ) as unknown as Command.Command<Name, unknown, object, CliError>
}

// ---------------------------------------------------------------------------------------------
// Checks the implementations share, with the CLI's one-line messages.

export const required = (command: string, name: string, value: string | undefined): Effect.Effect<string, CliError> =>
  value === undefined || value === "" ? Effect.fail(invalidInput(`${command}: --${name} is required`)) : Effect.succeed(value)

export const nonNegativeInt = (command: string, name: string, value: string | undefined): Effect.Effect<number | undefined, CliError> => {
  if (value === undefined) return Effect.succeed(undefined)
  const n = Number(value)
  return /^\d+$/.test(value) && Number.isSafeInteger(n)
    ? Effect.succeed(n)
    : Effect.fail(invalidInput(`${command}: --${name} must be a non-negative integer, got "${value}"`))
}
