import { Schema } from "effect"

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
