/** Reading the CLI's input files: JSON from a path or stdin ("-"), decoded with a Schema. */
import { readFile } from "node:fs/promises"
import { Effect, Schema } from "effect"
import { invalidInput, type CliError } from "./CliError.ts"

const readStdin = Effect.tryPromise({
  try: async () => {
    const chunks: Array<Buffer> = []
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks).toString("utf8")
  },
  catch: (cause) => invalidInput(`stdin: cannot read: ${String(cause)}`)
})

/** The text of a file, or of stdin for "-". */
export const readText = (path: string): Effect.Effect<string, CliError> =>
  path === "-"
    ? readStdin
    : Effect.tryPromise({
      try: () => readFile(path, "utf8"),
      catch: (cause) => invalidInput(`${path}: cannot read: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`)
    })

export const parseJson = (path: string, text: string): Effect.Effect<unknown, CliError> =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (cause) => invalidInput(`${path}: not valid JSON: ${(cause as Error).message}`)
  })

/** Schema issues as one line: `message at ["a"]["b"]; message at ["c"]`, at most five of them. */
export const oneLine = (message: string): string => {
  const issues: Array<string> = []
  for (const raw of message.split("\n")) {
    const line = raw.trim()
    if (line === "") continue
    if (line.startsWith("at ") && issues.length > 0) issues[issues.length - 1] += ` ${line}`
    else issues.push(line)
  }
  const shown = issues.slice(0, 5).join("; ")
  return issues.length > 5 ? `${shown}; (+${issues.length - 5} more)` : shown
}

export const decodeFile = <S extends Schema.Decoder<unknown>>(schema: S, path: string): Effect.Effect<S["Type"], CliError> =>
  readText(path).pipe(
    Effect.flatMap((text) => parseJson(path, text)),
    Effect.flatMap((json) =>
      Schema.decodeUnknownEffect(schema)(json, { onExcessProperty: "error", errors: "all" }).pipe(
        Effect.mapError((error) => invalidInput(`${path}: ${oneLine(error.message)}`))
      )
    )
  ) as Effect.Effect<S["Type"], CliError>

/**
 * A provider payload file: JSON when it parses, else the raw text (an SSE or NDJSON stream).
 * An envelope `{ provider, api?, model?, request?, payload }` (the shape ingest events and the
 * fixtures use) is unwrapped, its fields filling in flags the caller left out.
 */
export interface PayloadInput {
  readonly payload: unknown
  readonly provider?: string | undefined
  readonly api?: string | undefined
  readonly model?: string | undefined
  readonly request?: unknown
  /** The event's `occurredAt`, when the file is an ingest event: when the call happened. */
  readonly occurredAt?: string | undefined
}

export const readPayload = (path: string): Effect.Effect<PayloadInput, CliError> =>
  readText(path).pipe(Effect.map((text): PayloadInput => {
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      return { payload: text }
    }
    if (json !== null && typeof json === "object" && !Array.isArray(json) && "payload" in json && typeof (json as { provider?: unknown }).provider === "string") {
      const envelope = json as { provider: string; api?: unknown; model?: unknown; request?: unknown; payload: unknown; occurredAt?: unknown }
      return {
        payload: envelope.payload,
        provider: envelope.provider,
        api: typeof envelope.api === "string" ? envelope.api : undefined,
        model: typeof envelope.model === "string" ? envelope.model : undefined,
        request: envelope.request,
        occurredAt: typeof envelope.occurredAt === "string" ? envelope.occurredAt : undefined
      }
    }
    return { payload: json }
  }))
