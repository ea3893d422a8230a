/**
 * The compiled Schema fast path (`FastDecode`, used by every provider decoder) changes no result:
 * every fixture, and thousands of broken variants of them, normalize to the same call or fail
 * with the same error (provider, path, reason, message) with the fast path on and off.
 */
import { FastDecode } from "@tally/core"
import { Result } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { Normalize, NormalizedCall } from "../src/index.ts"
import * as Fixtures from "./support/Fixtures.ts"

afterEach(() => FastDecode.setEnabled(true))

/** A normalize result as comparable JSON text: the call's encoded form, or the error's fields. */
const outcome = (input: Normalize.NormalizeInput): string => {
  const result = Normalize.normalize(input)
  if (Result.isFailure(result)) {
    const { provider, path, reason, message } = result.failure
    return JSON.stringify({ error: { provider, path, reason, message } })
  }
  return JSON.stringify({ call: NormalizedCall.toJson(result.success) })
}

const bothPaths = (input: Normalize.NormalizeInput): { readonly fast: string; readonly slow: string } => {
  FastDecode.setEnabled(true)
  const fast = outcome(input)
  FastDecode.setEnabled(false)
  const slow = outcome(input)
  FastDecode.setEnabled(true)
  return { fast, slow }
}

const inputOf = (fixture: Fixtures.Fixture, payload: unknown): Normalize.NormalizeInput => ({
  provider: fixture.provider,
  payload,
  model: fixture.model,
  request: fixture.request
})

/** Replacements for a leaf that break a rule the decoders check (or should pass untouched). */
const BROKEN: ReadonlyArray<unknown> = [-1, 1.5, "12", null, true, {}, [], 1e16, Number.NaN, "x"]

/** Every variant of `value` with one leaf (or one key) replaced or removed. */
function* variants(value: unknown): Generator<unknown> {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      for (const inner of variants(value[i])) yield value.map((v, j) => (j === i ? inner : v))
    }
    return
  }
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>
    for (const key of Object.keys(record)) {
      const { [key]: _removed, ...rest } = record
      yield rest
      for (const inner of variants(record[key])) yield { ...record, [key]: inner }
    }
    yield { ...record, unexpected_key: 1 }
    return
  }
  // Counts that still decode but break an inclusion rule (a child larger than its parent, a
  // total that no longer adds up), so the ledger checks' messages are compared too.
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) {
    yield value * 2 + 3
    yield Math.floor(value / 2)
  }
  for (const replacement of BROKEN) if (replacement !== value) yield replacement
}

describe("the compiled Schema fast path", () => {
  it("normalizes every fixture to the same call or error as the full Schema decoders", () => {
    const names = Fixtures.names()
    expect(names.length).toBeGreaterThan(70)
    for (const name of names) {
      const fixture = Fixtures.load(name)
      const { fast, slow } = bothPaths(inputOf(fixture, fixture.payload))
      expect(fast, name).toBe(slow)
    }
  })

  it("gives the same error for every broken variant of every fixture", () => {
    let compared = 0
    let failures = 0
    for (const name of Fixtures.names()) {
      const fixture = Fixtures.load(name)
      if (typeof fixture.payload !== "object" || fixture.payload === null) continue
      let n = 0
      for (const payload of variants(fixture.payload)) {
        // Bounded per fixture so that large streams do not dominate the run.
        if (n++ >= 150) break
        const { fast, slow } = bothPaths(inputOf(fixture, payload))
        expect(fast, `${name} variant ${n}`).toBe(slow)
        compared++
        if (slow.startsWith("{\"error\"")) failures++
      }
    }
    // The variants exercise both outcomes, many of them errors.
    expect(compared).toBeGreaterThan(4_000)
    expect(failures).toBeGreaterThan(1_000)
  })
})
