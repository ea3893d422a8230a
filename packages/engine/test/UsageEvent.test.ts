import { assert, describe, it } from "@effect/vitest"
import { DateTime, Result } from "effect"
import * as UsageEvent from "../src/UsageEvent.ts"

const raw = { requestId: "r1", occurredAt: "2026-01-15T10:00:00Z", provider: "openai", payload: { id: "x" } }
const normalized = {
  requestId: "n1",
  occurredAt: "2026-01-15T12:00:00.250+02:00",
  provider: "anthropic",
  model: "claude-sonnet-4-5",
  usage: { tokens: { inputText: 10, cacheRead: 5, outputText: 3 } }
}

const rejection = (input: unknown) => {
  const decoded = UsageEvent.decodeEvent(input)
  if (Result.isSuccess(decoded)) throw new Error("expected a rejection")
  return decoded.failure
}

describe("UsageEvent.decodeEvent", () => {
  it("decodes a raw call and a normalized call", () => {
    const a = Result.getOrThrow(UsageEvent.decodeEvent(raw))
    assert.isTrue(UsageEvent.isRaw(a))
    assert.strictEqual(DateTime.formatIso(a.occurredAt), "2026-01-15T10:00:00.000Z")
    const b = Result.getOrThrow(UsageEvent.decodeEvent(normalized))
    assert.isFalse(UsageEvent.isRaw(b))
    assert.strictEqual(DateTime.formatIso(b.occurredAt), "2026-01-15T10:00:00.250Z")
  })

  it("accepts a payload given as text (SSE, NDJSON)", () => {
    const event = Result.getOrThrow(UsageEvent.decodeEvent({ ...raw, payload: "data: {}\n\n" }))
    assert.isTrue(UsageEvent.isRaw(event) && event.payload === "data: {}\n\n")
  })

  it("an unknown key is an error naming its path", () => {
    const top = rejection({ ...raw, projectId: "p" })
    assert.strictEqual(top.path, "projectId")
    assert.strictEqual(top.requestId, "r1")
    const nested = rejection({ ...raw, labels: { enviroment: "prod" } })
    assert.strictEqual(nested.path, "labels.enviroment")
    assert.match(nested.message, /^labels\.enviroment: /)
    const bucket = rejection({ ...normalized, usage: { tokens: { input_tokens: 5 } } })
    assert.strictEqual(bucket.path, "usage.tokens.input_tokens")
  })

  it("names the field of a wrong value", () => {
    assert.strictEqual(rejection({ ...raw, occurredAt: "2026-01-15" }).path, "occurredAt")
    assert.strictEqual(rejection({ ...raw, occurredAt: "2026-01-15T10:00:00" }).path, "occurredAt")
    assert.strictEqual(rejection({ ...raw, requestId: "" }).path, "requestId")
    assert.isNull(rejection({ ...raw, requestId: "" }).requestId)
    assert.strictEqual(rejection({ ...raw, requestId: "x".repeat(257) }).path, "requestId")
    assert.strictEqual(rejection({ ...raw, labels: { team: 7 } }).path, "labels.team")
    assert.strictEqual(rejection({ ...raw, tags: { run: 1 } }).path, "tags.run")
    assert.strictEqual(rejection({ ...normalized, usage: { tokens: { inputText: -1 } } }).path, "usage.tokens.inputText")
    assert.strictEqual(rejection({ ...normalized, model: "" }).path, "model")
    const { provider: _, ...noProvider } = raw
    assert.strictEqual(rejection(noProvider).path, "provider")
  })

  it("an event is either a raw call or normalized usage", () => {
    const both = rejection({ ...raw, usage: normalized.usage })
    assert.strictEqual(both.path, "usage")
    const neither = rejection({ requestId: "z", occurredAt: raw.occurredAt, provider: "openai" })
    assert.strictEqual(neither.path, "(event)")
    assert.strictEqual(neither.requestId, "z")
    assert.strictEqual(rejection([raw]).path, "(event)")
    assert.strictEqual(rejection(null).path, "(event)")
  })

  it("ledger labels: defaults, then the event's labels field by field, user as endUser, the key id", () => {
    assert.deepStrictEqual(
      UsageEvent.ledgerLabels({ user: "u", team: "a" }, { team: "b", project: "p" }, "key_1"),
      { team: "a", project: "p", endUser: "u", apiKeyId: "key_1" }
    )
    assert.deepStrictEqual(UsageEvent.ledgerLabels(undefined, undefined, undefined), {})
  })
})

describe("UsageEvent occurredAt is a real calendar instant", () => {
  const at = (occurredAt: string) =>
    UsageEvent.decodeEvent({ requestId: "r", occurredAt, provider: "openai", model: "gpt-4o", usage: { tokens: { inputText: 1 } } })

  it("refuses days a month does not have and hour 24, instead of rolling them over", () => {
    for (const [text, problem] of [
      ["2026-02-30T00:00:00Z", "2026-02 has no day 30"],
      ["2025-02-29T12:00:00Z", "2025-02 has no day 29"],
      ["2026-04-31T00:00:00+02:00", "2026-04 has no day 31"],
      ["2026-01-15T24:00:00Z", "hour 24 does not exist"],
      ["2026-01-15T10:60:00Z", "minute 60 does not exist"],
      ["2026-01-15T10:00:60Z", "second 60 does not exist"],
      ["2026-13-01T00:00:00Z", "month 13 does not exist"],
      ["2026-01-15T10:00:00+24:00", "the zone offset 24:00 does not exist"]
    ] as const) {
      const decoded = at(text)
      assert.isTrue(Result.isFailure(decoded), text)
      if (Result.isFailure(decoded)) {
        assert.strictEqual(decoded.failure.path, "occurredAt")
        assert.include(decoded.failure.message, problem)
      }
    }
  })

  it("accepts the last day of each month and leap days", () => {
    for (const text of ["2024-02-29T23:59:59Z", "2026-01-31T00:00:00Z", "2026-04-30T12:00:00-05:00", "2026-12-31T23:59:59.999Z"]) {
      assert.isTrue(Result.isSuccess(at(text)), text)
    }
  })
})
