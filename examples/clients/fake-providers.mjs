/**
 * A local HTTP server that speaks the OpenAI and Anthropic wire formats, for tests and the example:
 * the official SDKs talk to it through their `baseURL`. No dependencies; plain Node.
 *
 *   OpenAI     baseURL `${url}/v1`: POST /chat/completions, /responses, /embeddings
 *   Anthropic  baseURL `${url}`:    POST /v1/messages
 *
 * JSON answers, or Server-Sent Events when the body says `stream: true`; an OpenAI chat stream
 * ends with the usage chunk only when `stream_options.include_usage` is true, as the real API.
 * Usage is fixed per API (see `usage` below) so tests can check exact prices.
 *
 * The request header `x-fake-behavior` picks a failure:
 *   `error`       a 400 in the provider's error format;
 *   `hang`        no answer at all until the client goes away (an abort before any response);
 *   `stall`       a stream that sends its first events, then nothing until the client goes away.
 *
 * `server.requests` lists every request received: `{ path, body, headers }`.
 */
import { Buffer } from "node:buffer"
import { createServer } from "node:http"
import { URL } from "node:url"

export const usage = {
  chat: { prompt_tokens: 1000, cached: 200, completion_tokens: 500 },
  responses: { input_tokens: 2000, cached: 0, output_tokens: 300 },
  embeddings: { prompt_tokens: 8 },
  messages: { input_tokens: 1200, output_tokens: 400 }
}

const sse = (res) => {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" })
}
const send = (res, event, data) => res.write(`${event === undefined ? "" : `event: ${event}\n`}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`)
const json = (res, status, body) => {
  res.writeHead(status, { "content-type": "application/json", "x-request-id": "req_fake" })
  res.end(JSON.stringify(body))
}

const chatUsage = () => ({
  prompt_tokens: usage.chat.prompt_tokens,
  completion_tokens: usage.chat.completion_tokens,
  total_tokens: usage.chat.prompt_tokens + usage.chat.completion_tokens,
  prompt_tokens_details: { cached_tokens: usage.chat.cached, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 }
})

const responsesUsage = () => ({
  input_tokens: usage.responses.input_tokens,
  input_tokens_details: { cached_tokens: usage.responses.cached },
  output_tokens: usage.responses.output_tokens,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: usage.responses.input_tokens + usage.responses.output_tokens
})

const messagesUsage = (output) => ({
  input_tokens: usage.messages.input_tokens,
  output_tokens: output,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0
})

const words = ["Tally ", "prices ", "every ", "call."]

const chat = (req, res, body, behavior, stall) => {
  const base = { id: "chatcmpl-fake", created: 1767225600, model: body.model, system_fingerprint: "fp_fake" }
  if (body.stream !== true) {
    return json(res, 200, {
      ...base,
      object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content: words.join(""), refusal: null }, logprobs: null, finish_reason: "stop" }],
      usage: chatUsage(),
      service_tier: "default"
    })
  }
  const withUsage = body.stream_options?.include_usage === true
  const chunk = (choices, extra = {}) => ({ ...base, object: "chat.completion.chunk", choices, ...(withUsage ? { usage: null } : {}), ...extra })
  sse(res)
  send(res, undefined, chunk([{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]))
  send(res, undefined, chunk([{ index: 0, delta: { content: words[0] }, logprobs: null, finish_reason: null }]))
  if (behavior === "stall") return stall()
  for (const word of words.slice(1)) send(res, undefined, chunk([{ index: 0, delta: { content: word }, logprobs: null, finish_reason: null }]))
  send(res, undefined, chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }]))
  if (withUsage) send(res, undefined, chunk([], { usage: chatUsage() }))
  send(res, undefined, "[DONE]")
  res.end()
}

const responses = (req, res, body, behavior, stall) => {
  const message = (text, status) => ({ type: "message", id: "msg_fake", status, role: "assistant", content: text === undefined ? [] : [{ type: "output_text", text, annotations: [], logprobs: [] }] })
  const response = (status, output, u) => ({
    id: "resp_fake",
    object: "response",
    created_at: 1767225600,
    status,
    model: body.model,
    output,
    usage: u,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    parallel_tool_calls: true,
    tool_choice: "auto",
    tools: []
  })
  if (body.stream !== true) return json(res, 200, response("completed", [message(words.join(""), "completed")], responsesUsage()))
  sse(res)
  let seq = 0
  const event = (type, data) => send(res, type, { type, sequence_number: seq++, ...data })
  event("response.created", { response: response("in_progress", [], null) })
  event("response.output_item.added", { output_index: 0, item: message(undefined, "in_progress") })
  event("response.output_text.delta", { item_id: "msg_fake", output_index: 0, content_index: 0, delta: words[0], logprobs: [] })
  if (behavior === "stall") return stall()
  for (const word of words.slice(1)) event("response.output_text.delta", { item_id: "msg_fake", output_index: 0, content_index: 0, delta: word, logprobs: [] })
  event("response.output_item.done", { output_index: 0, item: message(words.join(""), "completed") })
  event("response.completed", { response: response("completed", [message(words.join(""), "completed")], responsesUsage()) })
  res.end()
}

const embeddings = (req, res, body) => {
  const inputs = Array.isArray(body.input) ? body.input : [body.input]
  const vector = new Float32Array([0.25, -0.5, 0.125])
  const embedding = body.encoding_format === "base64" ? Buffer.from(vector.buffer).toString("base64") : Array.from(vector)
  json(res, 200, {
    object: "list",
    data: inputs.map((_, index) => ({ object: "embedding", index, embedding })),
    model: body.model,
    usage: { prompt_tokens: usage.embeddings.prompt_tokens, total_tokens: usage.embeddings.prompt_tokens }
  })
}

const messages = (req, res, body, behavior, stall) => {
  const base = { id: "msg_fake", type: "message", role: "assistant", model: body.model }
  if (body.stream !== true) {
    return json(res, 200, { ...base, content: [{ type: "text", text: words.join("") }], stop_reason: "end_turn", stop_sequence: null, usage: messagesUsage(usage.messages.output_tokens) })
  }
  sse(res)
  const event = (type, data) => send(res, type, { type, ...data })
  event("message_start", { message: { ...base, content: [], stop_reason: null, stop_sequence: null, usage: messagesUsage(1) } })
  event("content_block_start", { index: 0, content_block: { type: "text", text: "" } })
  event("content_block_delta", { index: 0, delta: { type: "text_delta", text: words[0] } })
  if (behavior === "stall") return stall()
  for (const word of words.slice(1)) event("content_block_delta", { index: 0, delta: { type: "text_delta", text: word } })
  event("content_block_stop", { index: 0 })
  event("message_delta", { delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: usage.messages.output_tokens } })
  event("message_stop", {})
  res.end()
}

const routes = {
  "/v1/chat/completions": chat,
  "/v1/responses": responses,
  "/v1/embeddings": embeddings,
  "/v1/messages": messages
}

const providerError = (path, res) =>
  path === "/v1/messages"
    ? json(res, 400, { type: "error", error: { type: "invalid_request_error", message: "fake: this request is refused" } })
    : json(res, 400, { error: { message: "fake: this request is refused", type: "invalid_request_error", param: null, code: null } })

/** Starts the server on a free loopback port; `close()` ends it and every open connection. */
export const startFakeProviders = () =>
  new Promise((resolve, reject) => {
    const requests = []
    const open = new Set()
    const server = createServer((req, res) => {
      const chunks = []
      req.on("data", (c) => chunks.push(c))
      req.on("end", () => {
        const path = new URL(req.url ?? "/", "http://fake").pathname
        let body
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}")
        } catch {
          return json(res, 400, { error: { message: "fake: body is not JSON", type: "invalid_request_error" } })
        }
        requests.push({ path, body, headers: req.headers })
        const route = routes[path]
        if (route === undefined) return json(res, 404, { error: { message: `fake: no route ${path}`, type: "not_found" } })
        const behavior = req.headers["x-fake-behavior"]
        if (behavior === "error") return providerError(path, res)
        if (behavior === "hang") return undefined // until the client aborts
        return route(req, res, body, behavior, () => undefined)
      })
    })
    // Clients keep connections alive between calls; a short server timeout races their reuse (ECONNRESET).
    server.keepAliveTimeout = 120_000
    server.on("connection", (socket) => {
      open.add(socket)
      socket.on("close", () => open.delete(socket))
    })
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      resolve({
        url: `http://127.0.0.1:${port}`,
        requests,
        close: () =>
          new Promise((done) => {
            for (const socket of open) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })
