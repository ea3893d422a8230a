import { describe, expect, it } from "@effect/vitest"
import { Duration, Result } from "effect"
import { covers } from "../src/nats/internal/Subjects.ts"
import * as NatsConfig from "../src/nats/NatsConfig.ts"
import { bodyText, eventsOf, tenantOf } from "../src/nats/UsageMessage.ts"

const bytes = (text: string) => new TextEncoder().encode(text)
const events = (text: string) => Result.getOrThrow(eventsOf(bytes(text)))
const rejection = (text: string | Uint8Array) => {
  const result = eventsOf(typeof text === "string" ? bytes(text) : text)
  if (Result.isSuccess(result)) throw new Error(`expected a rejection, got ${JSON.stringify(result.success)}`)
  return result.failure
}

describe("the tenant of a subject", () => {
  it("is everything after the prefix, dots included", () => {
    expect(Result.getOrThrow(tenantOf("tally.usage", "tally.usage.acme"))).toBe("acme")
    expect(Result.getOrThrow(tenantOf("tally.usage", "tally.usage.org.acme:prod_1"))).toBe("org.acme:prod_1")
  })

  it("is refused, naming the subject, when it is not a tenant id", () => {
    const failure = tenantOf("tally.usage", "tally.usage.-acme")
    expect(Result.isFailure(failure) && failure.failure.part).toBe("subject")
    expect(Result.isFailure(failure) && failure.failure.message).toContain(`"tally.usage.-acme"`)
    expect(Result.isFailure(tenantOf("tally.usage", `tally.usage.${"a".repeat(129)}`))).toBe(true)
    expect(Result.isFailure(tenantOf("tally.usage", "other.acme"))).toBe(true)
  })
})

describe("the events of a body", () => {
  const a = { requestId: "a" }
  const b = { requestId: "b" }

  it("takes one event, an array, { events } and NDJSON, in order", () => {
    expect(events(JSON.stringify(a))).toEqual([a])
    expect(events(JSON.stringify([a, b]))).toEqual([a, b])
    expect(events(JSON.stringify({ events: [a, b] }))).toEqual([a, b])
    expect(events(`${JSON.stringify(a)}\n\n${JSON.stringify(b)}\n`)).toEqual([a, b])
    expect(events("[]")).toEqual([])
  })

  it("leaves deciding whether each item is an event to the pipeline", () => {
    expect(events(`[1, ${JSON.stringify(a)}]`)).toEqual([1, a])
    // An object with more keys than `events` is an event (which the pipeline will judge).
    expect(events(JSON.stringify({ events: [a], requestId: "x" }))).toEqual([{ events: [a], requestId: "x" }])
  })

  it("refuses what is not events, saying what is wrong", () => {
    expect(rejection("").message).toContain("the body is empty")
    expect(rejection("   \n").message).toContain("the body is empty")
    expect(rejection("{\"requestId\": ").message).toMatch(/^invalid JSON: /)
    expect(rejection(`${JSON.stringify(a)}\n{oops`).message).toMatch(/^line 2: invalid JSON: /)
    expect(rejection("42").message).toBe("expected an event object, an array of events or NDJSON, got number")
    expect(rejection("null").message).toContain("got null")
    expect(rejection(JSON.stringify({ events: "x" })).message).toBe(`"events" must be an array of events, got string`)
    expect(rejection(new Uint8Array([0xff, 0xfe, 0x00])).message).toBe("the body is not UTF-8 text")
    expect(rejection("").part).toBe("body")
  })

  it("keeps a body for a dead letter as text, or as marked base64 when it is not UTF-8", () => {
    expect(bodyText(bytes("{oops"))).toBe("{oops")
    expect(bodyText(new Uint8Array([0xff, 0x00]))).toBe("base64:/wA=")
  })
})

describe("subject coverage", () => {
  it("matches NATS wildcards", () => {
    expect(covers("tally.usage.>", "tally.usage.>")).toBe(true)
    expect(covers("tally.>", "tally.usage.>")).toBe(true)
    expect(covers(">", "tally.usage.>")).toBe(true)
    expect(covers("tally.*.>", "tally.usage.>")).toBe(true)
    expect(covers("tally.usage.*", "tally.usage.>")).toBe(false)
    expect(covers("tally.usage", "tally.usage.>")).toBe(false)
    expect(covers("tally.other.>", "tally.usage.>")).toBe(false)
    expect(covers("tally.usage.>", "tally.usage")).toBe(false)
  })
})

describe("redelivery delays", () => {
  it("double per failed delivery up to the cap", () => {
    const config = NatsConfig.make("nats://127.0.0.1:4222", {
      retryDelay: Duration.millis(100),
      maxRetryDelay: Duration.millis(1000)
    })
    expect([1, 2, 3, 4, 5, 50].map((n) => Duration.toMillis(NatsConfig.retryDelayFor(config, n)))).toEqual([
      100,
      200,
      400,
      800,
      1000,
      1000
    ])
  })

  it("dead-letter names follow the stream and prefix unless set", () => {
    const config = NatsConfig.make("nats://a:4222, nats://b:4222", { stream: "S1", subjectPrefix: "t1.usage" })
    expect(config.servers).toEqual(["nats://a:4222", "nats://b:4222"])
    expect(config.deadLetterStream).toBe("S1_DEAD_LETTERS")
    expect(config.deadLetterPrefix).toBe("t1.usage-dead-letters")
  })
})
