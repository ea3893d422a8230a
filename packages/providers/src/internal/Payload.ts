/**
 * The shapes a payload arrives in: one response object, a stream of chunks or events (JSON array,
 * `{chunks}`, `{events}`, SSE text or NDJSON text), or an HTTP capture `{status, headers, body}`.
 */
import { Predicate, Result } from "effect"
import * as NormalizeError from "../NormalizeError.ts"
import * as Path from "./Path.ts"

export interface Item {
  readonly value: unknown
  readonly path: Path.Path
}

export interface Single {
  readonly _tag: "Single"
  readonly item: Item
}

export interface Stream {
  readonly _tag: "Stream"
  readonly items: ReadonlyArray<Item>
}

export interface Header {
  readonly value: string
  readonly path: Path.Path
}

export interface Http {
  readonly _tag: "Http"
  readonly status: number | undefined
  /** Lower-cased header names. */
  readonly headers: ReadonlyMap<string, Header>
  readonly body: Single | Stream | undefined
}

export type Payload = Single | Stream | Http

export const single = (value: unknown, path: Path.Path = Path.root): Single => ({ _tag: "Single", item: { value, path } })

/**
 * Whether text can be one JSON document by its first character after JSON whitespace: SSE
 * (`data:`, `event:`) and other text is known not to be without a failed parse, which costs a
 * thrown exception.
 */
const mayBeJson = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue
    // { [ " - 0-9 t f n
    return c === 0x7b || c === 0x5b || c === 0x22 || c === 0x2d || (c >= 0x30 && c <= 0x39) || c === 0x74 || c === 0x66 || c === 0x6e
  }
  return false
}

/** Parses text as one JSON document; undefined when it is not one. */
export const json = (text: string): unknown | undefined => {
  if (!mayBeJson(text)) return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

const isSse = (lines: ReadonlyArray<string>): boolean =>
  lines.some((line) => /^(data|event|id|retry):/.test(line))

/**
 * Server-sent events: each event's `data:` lines joined with "\n" and parsed as JSON.
 * `[DONE]` sentinels and comments are skipped; `event:` names are not needed because every
 * provider repeats the type inside the data.
 */
const parseSse = (provider: string, lines: ReadonlyArray<string>, base: Path.Path): Result.Result<Stream, NormalizeError.NormalizeError> => {
  const items: Array<Item> = []
  let data: Array<string> = []
  const flush = (): NormalizeError.NormalizeError | undefined => {
    if (data.length === 0) return undefined
    const text = data.join("\n")
    data = []
    if (text.trim() === "[DONE]") return undefined
    const path = Path.append(base, items.length)
    const value = json(text)
    if (value === undefined) return NormalizeError.make(provider, path, "malformed", "SSE data is not JSON")
    items.push({ value, path })
    return undefined
  }
  for (const line of lines) {
    if (line === "") {
      const error = flush()
      if (error !== undefined) return Result.fail(error)
    } else if (line.startsWith("data:")) {
      data.push(line.slice(5).replace(/^ /, ""))
    }
  }
  const error = flush()
  return error !== undefined ? Result.fail(error) : Result.succeed({ _tag: "Stream", items })
}

const parseNdjson = (provider: string, lines: ReadonlyArray<string>, base: Path.Path): Result.Result<Stream, NormalizeError.NormalizeError> => {
  const items: Array<Item> = []
  for (const line of lines) {
    if (line.trim() === "") continue
    const path = Path.append(base, items.length)
    const value = json(line)
    if (value === undefined) {
      return Result.fail(NormalizeError.make(provider, path, "malformed", "line is neither JSON nor an SSE field"))
    }
    items.push({ value, path })
  }
  return Result.succeed({ _tag: "Stream", items })
}

const STREAM_BASE: Path.Path = ["stream"]

/** Text: one JSON document, else SSE, else NDJSON. */
export const fromText = (provider: string, text: string, base: Path.Path = STREAM_BASE): Result.Result<Single | Stream, NormalizeError.NormalizeError> => {
  const whole = json(text)
  if (whole !== undefined) return Result.succeed(fromJsonValue(whole, base === STREAM_BASE ? Path.root : base))
  const lines = text.split(/\r\n|\r|\n/)
  return isSse(lines) ? parseSse(provider, lines, base) : parseNdjson(provider, lines, base)
}

const streamKey = (value: Record<string, unknown>): "chunks" | "events" | undefined => {
  const keys = Object.keys(value)
  if (keys.length !== 1) return undefined
  const key = keys[0]
  return (key === "chunks" || key === "events") && Array.isArray(value[key]) ? key : undefined
}

const fromJsonValue = (value: unknown, base: Path.Path): Single | Stream => {
  if (Array.isArray(value)) {
    return { _tag: "Stream", items: value.map((v, i) => ({ value: v, path: Path.append(base, i) })) }
  }
  if (Predicate.isObject(value)) {
    const record = value as Record<string, unknown>
    const key = streamKey(record)
    if (key !== undefined) {
      const list = record[key] as ReadonlyArray<unknown>
      return { _tag: "Stream", items: list.map((v, i) => ({ value: v, path: Path.append(base, key, i) })) }
    }
  }
  return single(value, base)
}

const isHttpCapture = (value: Record<string, unknown>): boolean =>
  "headers" in value && ("status" in value || "body" in value) &&
  Object.keys(value).every((key) => key === "status" || key === "headers" || key === "body" || key === "statusText")

const headerText = (value: unknown): string | undefined =>
  typeof value === "string" ? value : typeof value === "number" ? String(value) :
  Array.isArray(value) && typeof value[0] === "string" ? value[0] : undefined

const readHeaders = (provider: string, raw: unknown): Result.Result<Map<string, Header>, NormalizeError.NormalizeError> => {
  const headers = new Map<string, Header>()
  if (raw === undefined || raw === null) return Result.succeed(headers)
  if (Array.isArray(raw)) {
    for (const [index, pair] of raw.entries()) {
      const text = Array.isArray(pair) && typeof pair[0] === "string" ? headerText(pair[1]) : undefined
      if (text === undefined) {
        return Result.fail(NormalizeError.make(provider, ["headers", index], "malformed", "expected a [name, value] pair of strings"))
      }
      headers.set((pair as Array<string>)[0]!.toLowerCase(), { value: text, path: ["headers", index, 1] })
    }
    return Result.succeed(headers)
  }
  if (!Predicate.isObject(raw)) {
    return Result.fail(NormalizeError.make(provider, ["headers"], "malformed", "expected an object of header names to values"))
  }
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    const text = headerText(value)
    if (text === undefined) {
      return Result.fail(NormalizeError.make(provider, ["headers", name], "malformed", `expected a string header value, got ${typeof value}`))
    }
    headers.set(name.toLowerCase(), { value: text, path: ["headers", name] })
  }
  return Result.succeed(headers)
}

/** Classifies a raw payload (any JSON value or text) into one of the three shapes. */
export const parse = (provider: string, raw: unknown): Result.Result<Payload, NormalizeError.NormalizeError> => {
  if (typeof raw === "string") return fromText(provider, raw)
  if (Predicate.isObject(raw) && !Array.isArray(raw) && isHttpCapture(raw as Record<string, unknown>)) {
    const record = raw as Record<string, unknown>
    const status = record["status"]
    if (status !== undefined && (typeof status !== "number" || !Number.isInteger(status))) {
      return Result.fail(NormalizeError.make(provider, ["status"], "malformed", "expected an integer HTTP status"))
    }
    return Result.flatMap(readHeaders(provider, record["headers"]), (headers) => {
      const body = record["body"]
      const parsedBody: Result.Result<Single | Stream | undefined, NormalizeError.NormalizeError> =
        body === undefined || body === null || body === "" ? Result.succeed(undefined) :
        typeof body === "string" ? fromText(provider, body, ["body"]) :
        Result.succeed(fromJsonValue(body, ["body"]))
      return Result.map(parsedBody, (b): Http => ({ _tag: "Http", status, headers, body: b }))
    })
  }
  return Result.succeed(fromJsonValue(raw, Path.root))
}

/** The items of a payload body: one for a single object, every chunk for a stream. */
export const items = (payload: Single | Stream): ReadonlyArray<Item> =>
  payload._tag === "Single" ? [payload.item] : payload.items

export const isRecord = (u: unknown): u is Record<string, unknown> => Predicate.isObject(u) && !Array.isArray(u)
