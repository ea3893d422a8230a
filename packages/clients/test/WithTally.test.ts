/**
 * The wrapped official clients against a local server that speaks OpenAI's and Anthropic's wire
 * formats (examples/clients/fake-providers.mjs), recording into an embedded engine: every call
 * priced from its real response (streams included), labels, budgets reserved and always settled
 * or released, provider errors and aborts. Everything is read back through the Promise API.
 */
import Anthropic from "@anthropic-ai/sdk"
import OpenAI from "openai"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { type FakeProviders, startFakeProviders } from "../../../examples/clients/fake-providers.mjs"
import { BudgetExceeded, InvalidTallyOptions, type RecordedCall, tallyCall, withTally } from "../src/index.ts"
import { backend, openTestTally, type TestTally } from "./TestTally.ts"

const timeout = 180_000

let fake: FakeProviders
let engine: TestTally
let tenantId: string

beforeAll(async () => {
  fake = await startFakeProviders()
  engine = await openTestTally()
  tenantId = (await engine.tally.createTenant({ name: "Wrapped", currency: "USD" })).tenantId
}, timeout)

afterAll(async () => {
  await engine?.close()
  await fake?.close()
}, timeout)

/** A wrapped client and the calls it reported, each awaited until recorded. */
const wrapped = <C extends object>(client: C, options: Record<string, unknown> = {}) => {
  const records: Array<RecordedCall> = []
  const waiters: Array<(call: RecordedCall) => void> = []
  const errors: Array<Error> = []
  const tallied = withTally(client, {
    tally: engine.tally,
    tenantId,
    ...options,
    onRecord: (call) => {
      records.push(call)
      waiters.shift()?.(call)
    },
    onError: (error) => errors.push(error)
  })
  const next = (): Promise<RecordedCall> => {
    const index = records.length - waiters.length
    return index < records.length ? Promise.resolve(records[index]!) : new Promise((resolve) => waiters.push(resolve))
  }
  return { client: tallied, records, errors, next }
}

const openai = () => new OpenAI({ apiKey: "sk-fake", baseURL: `${fake.url}/v1`, maxRetries: 0 })
const anthropic = () => new Anthropic({ apiKey: "sk-ant-fake", baseURL: fake.url, maxRetries: 0 })

/** What the engine prices this exact response at: the wrapper must record the same. */
const priceOf = async (provider: string, payload: unknown) => (await engine.tally.cost({ provider, payload }, { at: new Date() })).total

const rejection = async (promise: Promise<unknown>): Promise<Error & Record<string, unknown>> => {
  try {
    await promise
  } catch (error) {
    return error as Error & Record<string, unknown>
  }
  throw new Error("expected a rejection")
}

const lastRequest = (path: string) => [...fake.requests].reverse().find((r) => r.path === path)!

describe(`withTally on ${backend}`, () => {
  it("OpenAI chat completion: priced from the real response and recorded with labels", async () => {
    const { client, next } = wrapped(openai(), { labels: { project: "bot", team: "search" } })
    const completion = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
    assert.strictEqual(completion.choices[0]!.message.content, "Tally prices every call.")
    const call = await next()
    // 800 input at $0.15/M + 200 cache reads at $0.075/M + 500 output at $0.60/M.
    assert.strictEqual(call.total, "0.000435")
    assert.strictEqual(call.total, await priceOf("openai", completion))
    assert.deepStrictEqual([call.status, call.costSource, call.outcome, call.stream, call.estimated], ["inserted", "computed", "completed", false, false])
    assert.match(call.requestId, /^tly_/)
  }, timeout)

  it("OpenAI chat stream: asks for usage, hides the usage chunk it added, prices the final usage", async () => {
    const { client, next } = wrapped(openai())
    const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], stream: true })
    const seen: Array<OpenAI.ChatCompletionChunk> = []
    for await (const chunk of stream) seen.push(chunk)
    assert.deepStrictEqual(lastRequest("/v1/chat/completions").body["stream_options"], { include_usage: true })
    assert.isTrue(seen.every((c) => c.choices.length === 1), "the caller never sees the usage-only chunk")
    assert.strictEqual(seen.map((c) => c.choices[0]!.delta.content ?? "").join(""), "Tally prices every call.")
    const call = await next()
    assert.deepStrictEqual([call.total, call.costSource, call.outcome, call.stream, call.estimated], ["0.000435", "computed", "completed", true, false])
  }, timeout)

  it("OpenAI chat stream where the caller asked for usage itself: the usage chunk reaches the caller", async () => {
    const { client, next } = wrapped(openai())
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
      stream_options: { include_usage: true }
    })
    const seen: Array<OpenAI.ChatCompletionChunk> = []
    for await (const chunk of stream) seen.push(chunk)
    assert.strictEqual(seen.at(-1)!.usage!.completion_tokens, 500)
    assert.strictEqual((await next()).total, "0.000435")
  }, timeout)

  it("OpenAI responses, streamed and not, and embeddings: each priced as the engine prices its response", async () => {
    const { client, next } = wrapped(openai())
    const response = await client.responses.create({ model: "gpt-4o-mini", input: "Hi" })
    assert.strictEqual(response.output_text, "Tally prices every call.")
    const plain = await next()
    assert.strictEqual(plain.total, await priceOf("openai", response))
    // 2000 input at $0.15/M + 300 output at $0.60/M.
    assert.strictEqual(plain.total, "0.00048")

    const stream = await client.responses.create({ model: "gpt-4o-mini", input: "Hi", stream: true })
    const events: Array<string> = []
    for await (const event of stream) events.push(event.type)
    assert.strictEqual(events.at(-1), "response.completed")
    const streamed = await next()
    assert.deepStrictEqual([streamed.total, streamed.costSource, streamed.stream], ["0.00048", "computed", true])

    const embedding = await client.embeddings.create({ model: "text-embedding-3-small", input: "Tally" })
    assert.deepStrictEqual(embedding.data[0]!.embedding, [0.25, -0.5, 0.125])
    const embedded = await next()
    assert.strictEqual(embedded.total, await priceOf("openai", { object: "list", model: "text-embedding-3-small", data: [], usage: { prompt_tokens: 8, total_tokens: 8 } }))
    assert.isNotNull(embedded.total)
    assert.strictEqual(embedded.api, "embeddings")
  }, timeout)

  it("Anthropic messages, streamed and not: priced from message_start and message_delta usage", async () => {
    const { client, next } = wrapped(anthropic(), { labels: { team: "support" } })
    const message = await client.messages.create({ model: "claude-sonnet-4-6", max_tokens: 1024, messages: [{ role: "user", content: "Hi" }] })
    const plain = await next()
    assert.strictEqual(plain.total, await priceOf("anthropic", message))
    assert.isNotNull(plain.total)
    assert.strictEqual(plain.provider, "anthropic")

    const stream = await client.messages.create({ model: "claude-sonnet-4-6", max_tokens: 1024, messages: [{ role: "user", content: "Hi" }], stream: true })
    let text = ""
    for await (const event of stream) if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text
    assert.strictEqual(text, "Tally prices every call.")
    const streamed = await next()
    assert.deepStrictEqual([streamed.total, streamed.costSource, streamed.estimated], [plain.total, "computed", false])
  }, timeout)

  it("labels from options and per call land on the recorded calls", async () => {
    const { client, next } = wrapped(openai(), { labels: { project: "labels-test", team: "core" } })
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "a" }] }, tallyCall({ labels: { user: "alice" } }))
    await next()
    // The `tally` key works too (plain JavaScript callers); per-call labels win over the wrapper's.
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "b" }] }, { tally: { labels: { team: "edge", user: "bob" }, requestId: "labels-req-2" } } as never)
    const second = await next()
    assert.strictEqual(second.requestId, "labels-req-2")
    // The header that carried the call options never reaches the provider.
    assert.isUndefined(lastRequest("/v1/chat/completions").headers["x-tally-call"])
    const report = await engine.tally.usage(tenantId, {
      from: "2020-01-01T00:00:00Z",
      to: "2100-01-01T00:00:00Z",
      groupBy: ["team", "endUser"],
      filter: { project: ["labels-test"] }
    })
    const groups = report.buckets.map((b) => [b.group.team, b.group.endUser, b.requests]).sort()
    assert.deepStrictEqual(groups, [["core", "alice", 1], ["edge", "bob", 1]])
  }, timeout)

  it("bad options are refused when wrapping, naming the field", () => {
    const bad = (f: () => unknown) => {
      try {
        f()
      } catch (error) {
        assert.instanceOf(error, InvalidTallyOptions)
        return (error as InvalidTallyOptions).field
      }
      throw new Error("expected InvalidTallyOptions")
    }
    assert.strictEqual(bad(() => withTally({}, { tally: engine.tally, tenantId })), "client")
    assert.strictEqual(bad(() => withTally(openai(), { tally: engine.tally, tenantId: "" })), "tenantId")
    assert.strictEqual(bad(() => withTally(openai(), { url: "not a url", apiKey: "k" })), "url")
    assert.strictEqual(bad(() => withTally(openai(), { url: "http://127.0.0.1:1", apiKey: "" })), "apiKey")
    assert.strictEqual(bad(() => withTally(openai(), { tally: engine.tally, tenantId, labels: { colour: "red" } as never })), "labels.colour")
  })
})

describe(`withTally budgets on ${backend}`, () => {
  let budgetId: string
  beforeAll(async () => {
    // $0.01 a month for project "capped"; one gpt-4o-mini call estimates well below it.
    const budget = await engine.tally.budgets.create(tenantId, { name: "capped", scope: { project: "capped" }, period: "month", amount: "0.01", action: "block" })
    budgetId = budget.id
  }, timeout)

  const capped = <C extends object>(client: C) => wrapped(client, { labels: { project: "capped" }, budget: { defaultMaxOutputTokens: 1000 } })

  const reservationOf = async (call: RecordedCall) => engine.tally.budgets.reservation(tenantId, call.reservation!.id)

  it("reserves before the call and settles with the real cost after", async () => {
    const { client, next } = capped(openai())
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
    const call = await next()
    assert.strictEqual(call.reservation!.state, "settled")
    assert.strictEqual(call.reservation!.actualCost, "0.000435")
    const stored = await reservationOf(call)
    assert.deepStrictEqual([stored.status, stored.actual, stored.requestId], ["settled", "0.000435", call.requestId])
    // The estimate held the prompt plus 1000 output tokens: more than the call cost.
    assert.isTrue(Number(call.reservation!.estimatedCost) > 0.0006)
  }, timeout)

  it("refuses a call that would exceed a blocking budget, without sending it", async () => {
    const { client, records } = capped(openai())
    const before = fake.requests.length
    const refused = await rejection(client.chat.completions.create({ model: "gpt-4o", max_tokens: 100_000, messages: [{ role: "user", content: "write a book" }] }))
    assert.instanceOf(refused, BudgetExceeded)
    assert.strictEqual(refused["_tag"], "BudgetExceeded")
    assert.deepStrictEqual((refused as unknown as BudgetExceeded).decision.deniedBy, [budgetId])
    assert.strictEqual(fake.requests.length, before, "the provider never saw the call")
    assert.strictEqual(records.length, 0)
  }, timeout)

  it("a provider error releases the reservation and reaches the caller unchanged", async () => {
    const { client, next } = capped(openai())
    const error = await rejection(client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] }, { headers: { "x-fake-behavior": "error" } }))
    assert.instanceOf(error, OpenAI.BadRequestError)
    const call = await next()
    assert.deepStrictEqual([call.outcome, call.status, call.reservation!.state], ["error", "not-recorded", "released"])
    assert.strictEqual((await reservationOf(call)).status, "released")

    const wrappedAnthropic = capped(anthropic())
    const anthropicError = await rejection(wrappedAnthropic.client.messages.create(
      { model: "claude-sonnet-4-6", max_tokens: 100, messages: [{ role: "user", content: "Hi" }] },
      { headers: { "x-fake-behavior": "error" } }
    ))
    assert.instanceOf(anthropicError, Anthropic.BadRequestError)
    assert.strictEqual((await wrappedAnthropic.next()).reservation!.state, "released")
  }, timeout)

  it("a call aborted before any response releases the reservation", async () => {
    const { client, next } = capped(openai())
    const controller = new AbortController()
    const pending = client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] }, { signal: controller.signal, headers: { "x-fake-behavior": "hang" } })
    // Abort once the request reached the server.
    const count = fake.requests.length
    while (fake.requests.length === count) await new Promise((r) => setTimeout(r, 10))
    controller.abort()
    const error = await rejection(pending)
    assert.instanceOf(error, OpenAI.APIUserAbortError)
    const call = await next()
    assert.deepStrictEqual([call.outcome, call.status, call.reservation!.state], ["aborted", "not-recorded", "released"])
    assert.strictEqual((await reservationOf(call)).status, "released")
  }, timeout)

  it("a stream abandoned mid-way is recorded as estimated and its reservation settled", async () => {
    const { client, next } = capped(openai())
    const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], stream: true })
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content === "Tally ") break
    }
    const call = await next()
    assert.deepStrictEqual([call.outcome, call.status, call.costSource, call.estimated], ["abandoned", "inserted", "estimated", true])
    assert.strictEqual(call.reservation!.state, "settled")
    assert.strictEqual((await reservationOf(call)).actual, call.total)
  }, timeout)

  it("a stalled stream aborted by the caller is recorded as estimated and settled", async () => {
    for (const [name, make] of [["openai", () => capped(openai())], ["anthropic", () => capped(anthropic())]] as const) {
      const { client, next } = make()
      const stream = name === "openai"
        ? await (client as OpenAI).chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], stream: true }, { headers: { "x-fake-behavior": "stall" } })
        : await (client as Anthropic).messages.create({ model: "claude-sonnet-4-6", max_tokens: 200, messages: [{ role: "user", content: "Hi" }], stream: true }, { headers: { "x-fake-behavior": "stall" } })
      const iterator = (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]()
      await iterator.next()
      const waiting = iterator.next()
      stream.controller.abort()
      await waiting.catch(() => undefined)
      const call = await next()
      assert.strictEqual(call.outcome, "aborted", name)
      assert.strictEqual(call.status, "inserted", name)
      assert.strictEqual(call.reservation!.state, "settled", name)
      assert.isNotNull(call.total, name)
    }
  }, timeout)

  it("a stream that is never read but aborted releases or settles its hold", async () => {
    const { client, next } = capped(openai())
    const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], stream: true }, { headers: { "x-fake-behavior": "stall" } })
    stream.controller.abort()
    const call = await next()
    assert.strictEqual(call.outcome, "aborted")
    assert.include(["settled", "released"], call.reservation!.state)
    const stored = await reservationOf(call)
    assert.include(["settled", "released"], stored.status)
  }, timeout)
})
