/**
 * The raw event's compiled fast path (`UsageEvent.decodeEvent` through `FastDecode`) changes no
 * result: valid events decode to the same value, and every broken variant of them is refused with
 * the same path and message as the full `Schema` decoder gives, with the fast path on and off.
 */
import { assert, describe, it } from "@effect/vitest"
import { FastDecode } from "@tally/core"
import { DateTime, Result } from "effect"
import { afterEach } from "vitest"
import * as UsageEvent from "../src/UsageEvent.ts"

afterEach(() => FastDecode.setEnabled(true))

const outcome = (input: unknown): string => {
  const decoded = UsageEvent.decodeEvent(input)
  if (Result.isFailure(decoded)) {
    const { requestId, path, message } = decoded.failure
    return JSON.stringify({ error: { requestId, path, message } })
  }
  const at = decoded.success.occurredAt
  const zone = DateTime.isUtc(at) ? "Utc" : "not Utc"
  return JSON.stringify({ ...decoded.success, occurredAt: `DateTime ${zone} ${DateTime.formatIso(at)}` })
}

const bothPaths = (input: unknown) => {
  FastDecode.setEnabled(true)
  const fast = outcome(input)
  FastDecode.setEnabled(false)
  const slow = outcome(input)
  FastDecode.setEnabled(true)
  return { fast, slow }
}

const events: ReadonlyArray<Record<string, unknown>> = [
  { requestId: "r1", occurredAt: "2026-01-15T10:00:00Z", provider: "openai", payload: { id: "x" } },
  {
    requestId: "r2",
    occurredAt: "2026-01-15T12:00:00.250+02:00",
    provider: "anthropic",
    api: "messages",
    model: "claude-sonnet-4-5",
    batch: true,
    request: { messages: [] },
    labels: { project: "search", environment: "prod", feature: "f", team: "t", customer: "c", user: "u", workflow: "w", costCenter: "cc" },
    tags: { region: "eu", tier: "gold" },
    payload: "data: {}\n\n"
  },
  { labels: { team: "t" }, payload: [1, 2], provider: "google", occurredAt: "2026-02-28T23:59:59.999999999-05:30", requestId: "r3" }
]

const BROKEN: ReadonlyArray<unknown> = [
  "", "x".repeat(300), "x".repeat(2_000), 5, -1, null, true, {}, [], "2026-02-30T10:00:00Z", "2026-01-15T24:00:00Z",
  "2026-01-15 10:00:00", "2026-01-15T10:00:00", "bad\u0000text", "\ud800"
]

function* variants(value: Record<string, unknown>): Generator<unknown> {
  for (const key of Object.keys(value)) {
    const { [key]: _removed, ...rest } = value
    yield rest
    for (const replacement of BROKEN) yield { ...value, [key]: replacement }
    const inner = value[key]
    if (typeof inner === "object" && inner !== null && !Array.isArray(inner)) {
      for (const nested of variants(inner as Record<string, unknown>)) yield { ...value, [key]: nested }
    }
  }
  yield { ...value, projectId: "p" }
  yield { ...value, usage: {} }
}

describe("UsageEvent.decodeEvent fast path", () => {
  it("decodes valid raw events to the same value as the Schema decoder, key order included", () => {
    for (const event of events) {
      const { fast, slow } = bothPaths(event)
      assert.strictEqual(fast, slow)
      assert.isTrue(fast.includes("DateTime Utc"))
    }
  })

  it("refuses every broken variant with the Schema decoder's path and message", () => {
    let compared = 0
    let refused = 0
    for (const event of events) {
      for (const variant of variants(event)) {
        const { fast, slow } = bothPaths(variant)
        assert.strictEqual(fast, slow, JSON.stringify(variant))
        compared++
        if (slow.startsWith("{\"error\"")) refused++
      }
    }
    assert.isAbove(compared, 500)
    assert.isAbove(refused, 300)
  })
})
