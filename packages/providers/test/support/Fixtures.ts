/**
 * Fixture files (`fixtures/<provider>/<case>.json`, each `{source, provider, api, payload, notes}`,
 * optionally with the request's `model` and `request` body) and small Result helpers.
 */
import { readdirSync, readFileSync } from "node:fs"
import { Usage } from "@tally/core"
import { Result } from "effect"
import { Normalize, type NormalizedCall, type NormalizeError } from "../../src/index.ts"

export interface Fixture {
  readonly source: string
  readonly provider: string
  readonly api: string
  readonly payload: unknown
  readonly notes: string
  readonly model?: string
  readonly request?: unknown
}

const root = new URL("../fixtures/", import.meta.url)

/** Every fixture name, as "<provider>/<case>". */
export const names = (): ReadonlyArray<string> =>
  readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((dir) => readdirSync(new URL(`${dir.name}/`, root)).filter((f) => f.endsWith(".json")).map((f) => `${dir.name}/${f.slice(0, -5)}`))
    .sort()

export const load = (name: string): Fixture => JSON.parse(readFileSync(new URL(`${name}.json`, root), "utf8")) as Fixture

export const normalize = (
  name: string,
  overrides: Partial<Normalize.NormalizeInput> = {}
): Result.Result<NormalizedCall.NormalizedCall, NormalizeError.NormalizeError> => {
  const fixture = load(name)
  return Normalize.normalize({
    provider: fixture.provider,
    payload: fixture.payload,
    model: fixture.model,
    request: fixture.request,
    ...overrides
  })
}

export const success = <A, E extends { readonly message: string }>(result: Result.Result<A, E>): A => {
  if (Result.isFailure(result)) throw new Error(`expected success, got: ${result.failure.message}`)
  return result.success
}

export const failure = <A, E>(result: Result.Result<A, E>): E => {
  if (Result.isSuccess(result)) throw new Error(`expected a failure, got ${JSON.stringify(result.success, (_k, v: unknown) => (typeof v === "object" && v !== null && "toFixed" in v ? String(v) : v))}`)
  return result.failure
}

/** Usage in its JSON form (decimals as strings), for exact comparisons. */
export const usageJson = (usage: Usage.Usage): Usage.UsageEncoded => Usage.encodeUsage(usage)

/** The normalized usage of a fixture, in JSON form. */
export const usageOf = (name: string, overrides: Partial<Normalize.NormalizeInput> = {}): Usage.UsageEncoded =>
  usageJson(success(normalize(name, overrides)).usage)
