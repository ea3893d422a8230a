/** `tally normalize --provider <id> <payload.json|->`: a raw provider payload as a NormalizedCall. */
import { Normalize, NormalizedCall } from "@tally/providers"
import { Effect, Result } from "effect"
import type * as Commands from "../Commands.ts"
import type { Parsed } from "../Spec.ts"
import { CliError, ExitCode, invalidInput } from "../CliError.ts"
import { parseJson, readPayload, readText, type PayloadInput } from "../Input.ts"

/** Reads the payload argument and the flags into what `Normalize.normalize` takes. */
export const readNormalizeInput = (command: string, values: { provider?: string | undefined; api?: string | undefined; model?: string | undefined; request?: string | undefined; batch?: boolean | undefined }, positionals: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    if (positionals.length !== 1) return yield* Effect.fail(invalidInput(`${command}: expected one payload file (or - for stdin), got ${positionals.length}`))
    const file: PayloadInput = yield* readPayload(positionals[0]!)
    const provider = values.provider ?? file.provider
    if (provider === undefined) return yield* Effect.fail(invalidInput(`${command}: --provider is required (one of ${Object.keys(Normalize.aliases).concat(NormalizedCall.ProviderIds).join(", ")})`))
    const request = values.request === undefined
      ? file.request
      : yield* readText(values.request).pipe(Effect.flatMap((text) => parseJson(values.request!, text)))
    const input: Normalize.NormalizeInput & { readonly occurredAt?: string | undefined } = {
      provider,
      // Envelopes may describe the api in prose (the shared fixtures do); only a known api id is used.
      api: values.api ?? (NormalizedCall.Apis.some((api) => api === file.api) ? file.api : undefined),
      model: values.model ?? file.model,
      payload: file.payload,
      request,
      batch: values.batch,
      occurredAt: file.occurredAt
    }
    return input
  })

export const normalizeOrFail = (input: Normalize.NormalizeInput) => {
  const result = Normalize.normalize(input)
  return Result.isSuccess(result)
    ? Effect.succeed(result.success)
    : Effect.fail(new CliError({ message: result.failure.message, exitCode: ExitCode.invalidInput }))
}

export const run = ({ values, positionals }: Parsed<typeof Commands.normalize.flags>) =>
  Effect.gen(function*() {
    const input = yield* readNormalizeInput("normalize", values, positionals)
    const call = yield* normalizeOrFail(input)
    return NormalizedCall.toJson(call)
  })
