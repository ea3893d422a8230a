/**
 * fast-check generators of consistent provider payloads: each case is one call built from random
 * disjoint leaves, as the provider would report it non-streamed and streamed (the text split into
 * random chunks), with the total the provider reports and the leaves a correct normalizer yields.
 */
import fc from "fast-check"

export type Tokens = Readonly<Record<string, number>>

export interface Case {
  readonly label: string
  readonly provider: string
  readonly api?: string
  readonly model?: string
  /** The non-streamed response. */
  readonly response: unknown
  /** The same call streamed (chunks or events in arrival order), when the provider streams. */
  readonly stream?: ReadonlyArray<unknown>
  /** Tokens the provider accounts for: its reported total, or the sum of its reported counts. */
  readonly total: number
  /** The disjoint leaves a correct normalization yields (zero buckets omitted). */
  readonly tokens: Tokens
  /** The response with its reported total off by `delta` (providers that report a total). */
  readonly breakTotal?: (delta: number) => unknown
}

const count = fc.nat({ max: 200_000 })
const small = fc.nat({ max: 20 })
const pieces = fc.array(fc.string({ maxLength: 12 }), { minLength: 1, maxLength: 6 })

const nonZero = (tokens: Record<string, number>): Tokens =>
  Object.fromEntries(Object.entries(tokens).filter(([, v]) => v > 0))

const sum = (...values: ReadonlyArray<number>): number => values.reduce((a, b) => a + b, 0)

// --- OpenAI-compatible chat ------------------------------------------------------------------

type Dialect = "openai" | "azure" | "openrouter" | "xai" | "deepseek" | "mistral" | "groq" | "together"

const chatCase = (provider: Dialect) =>
  fc.record({ inText: count, cached: count, write: count, audioIn: count, outText: count, reasoning: count, audioOut: count, text: pieces, includeInputs: fc.boolean() })
    .map((g): Case => {
      const openaiLike = provider === "openai" || provider === "azure" || provider === "openrouter"
      const write = openaiLike ? g.write : 0
      const audioIn = provider === "openai" || provider === "azure" ? g.audioIn : 0
      const audioOut = provider === "openai" || provider === "azure" ? g.audioOut : 0
      const reasoning = provider === "mistral" ? 0 : g.reasoning
      const prompt = sum(g.inText, g.cached, write, audioIn)
      const completion = provider === "xai" ? g.outText + audioOut : sum(g.outText, reasoning, audioOut)
      const total = sum(prompt, completion, provider === "xai" ? reasoning : 0)
      const usage: Record<string, unknown> = {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: total,
        prompt_tokens_details: { cached_tokens: g.cached, audio_tokens: audioIn, ...(openaiLike ? { cache_write_tokens: write } : {}) },
        completion_tokens_details: { reasoning_tokens: reasoning, audio_tokens: audioOut, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 }
      }
      if (provider === "deepseek") {
        usage["prompt_cache_hit_tokens"] = g.cached
        usage["prompt_cache_miss_tokens"] = g.inText
      }
      if (provider === "mistral") {
        usage["num_cached_tokens"] = g.cached
        delete usage["completion_tokens_details"]
      }
      if (provider === "openrouter") usage["cost"] = 0.000123
      if (provider === "groq") Object.assign(usage, { queue_time: 0.01, prompt_time: 0.002, completion_time: 0.3, total_time: 0.302 })
      const model = provider === "azure" ? "gpt-4o-2024-08-06" : `${provider}-model`
      const base = { id: `id-${provider}`, object: "chat.completion.chunk", created: 1, model }
      const content = g.text.join("")
      const response = { ...base, object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }], usage }
      const finishOnUsage = provider === "mistral" || provider === "deepseek"
      const stream: Array<unknown> = []
      if (provider === "azure") stream.push({ choices: [], created: 0, id: "", model: "", object: "", prompt_filter_results: [] })
      g.text.forEach((piece, i) => stream.push({ ...base, choices: [{ index: 0, delta: i === 0 ? { role: "assistant", content: piece } : { content: piece }, finish_reason: null }], usage: null }))
      if (finishOnUsage) stream.push({ ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage })
      // Groq streams its usage in x_groq.usage on the finish chunk, with no top-level usage.
      else if (provider === "groq") stream.push({ ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }], x_groq: { id: "req_1", usage } })
      else {
        stream.push({ ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: null })
        stream.push({ ...base, choices: [], usage })
      }
      return {
        label: `${provider} chat`,
        provider,
        response,
        stream,
        total,
        tokens: nonZero({ inputText: g.inText, cacheRead: g.cached, cacheWrite5m: write, inputAudio: audioIn, outputText: g.outText, reasoning, outputAudio: audioOut }),
        breakTotal: (delta) => ({ ...response, usage: { ...usage, total_tokens: total + delta } })
      }
    })

// --- Responses ---------------------------------------------------------------------------------

const responsesCase = (provider: "openai" | "xai") =>
  fc.record({ inText: count, cached: count, outText: count, reasoning: count, searches: small, text: pieces })
    .map((g): Case => {
      const input = g.inText + g.cached
      const output = g.outText + g.reasoning
      const usage = { input_tokens: input, input_tokens_details: { cached_tokens: g.cached }, output_tokens: output, output_tokens_details: { reasoning_tokens: g.reasoning }, total_tokens: input + output }
      const content = g.text.join("")
      const outputItems = [
        ...Array.from({ length: g.searches }, (_, i) => ({ type: "web_search_call", id: `ws_${i}`, status: "completed" })),
        { type: "message", id: "msg", role: "assistant", status: "completed", content: [{ type: "output_text", text: content, annotations: [] }] }
      ]
      const response = { id: "resp_1", object: "response", status: "completed", model: "o4-mini", service_tier: "default", output: outputItems, usage }
      const stream = [
        { type: "response.created", response: { ...response, status: "in_progress", service_tier: "auto", output: [], usage: null } },
        ...g.text.map((delta) => ({ type: "response.output_text.delta", item_id: "msg", output_index: 0, content_index: 0, delta })),
        { type: "response.completed", response }
      ]
      return {
        label: `${provider} responses`,
        provider,
        response,
        stream,
        total: input + output,
        tokens: nonZero({ inputText: g.inText, cacheRead: g.cached, outputText: g.outText, reasoning: g.reasoning }),
        breakTotal: (delta) => ({ ...response, usage: { ...usage, total_tokens: input + output + delta } })
      }
    })

// --- Anthropic --------------------------------------------------------------------------------

const anthropicUsage = fc.record({ input: count, read: count, write5m: count, write1h: count, output: count, searches: small, text: pieces, repeatInput: fc.boolean() })

const anthropicEvents = (g: typeof anthropicUsage extends fc.Arbitrary<infer T> ? T : never, id: string) => {
  const creation = g.write5m + g.write1h
  const startUsage = {
    input_tokens: g.input, cache_read_input_tokens: g.read, cache_creation_input_tokens: creation,
    cache_creation: { ephemeral_5m_input_tokens: g.write5m, ephemeral_1h_input_tokens: g.write1h },
    output_tokens: Math.min(1, g.output), service_tier: "standard"
  }
  const deltaUsage = {
    ...(g.repeatInput ? { input_tokens: g.input, cache_read_input_tokens: g.read, cache_creation_input_tokens: creation } : {}),
    output_tokens: g.output,
    ...(g.searches > 0 ? { server_tool_use: { web_search_requests: g.searches } } : {})
  }
  return [
    { type: "message_start", message: { id, type: "message", role: "assistant", model: "claude-sonnet-4-5", content: [], usage: startUsage } },
    { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
    ...g.text.map((text) => ({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text } })),
    { type: "content_block_stop", index: 0 },
    { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: deltaUsage },
    { type: "message_stop" }
  ]
}

const anthropicMessage = (g: typeof anthropicUsage extends fc.Arbitrary<infer T> ? T : never, id: string) => ({
  id, type: "message", role: "assistant", model: "claude-sonnet-4-5", content: [{ type: "text", text: g.text.join("") }], stop_reason: "end_turn",
  usage: {
    input_tokens: g.input, cache_read_input_tokens: g.read, cache_creation_input_tokens: g.write5m + g.write1h,
    cache_creation: { ephemeral_5m_input_tokens: g.write5m, ephemeral_1h_input_tokens: g.write1h },
    output_tokens: g.output, service_tier: "standard",
    ...(g.searches > 0 ? { server_tool_use: { web_search_requests: g.searches } } : {})
  }
})

const anthropicCase = anthropicUsage.map((g): Case => ({
  label: "anthropic messages",
  provider: "anthropic",
  response: anthropicMessage(g, "msg_1"),
  stream: anthropicEvents(g, "msg_1"),
  total: sum(g.input, g.read, g.write5m, g.write1h, g.output),
  tokens: nonZero({ inputText: g.input, cacheRead: g.read, cacheWrite5m: g.write5m, cacheWrite1h: g.write1h, outputText: g.output })
}))

/** Claude on Bedrock InvokeModel: headers + Anthropic body, or Anthropic events + invocation metrics. */
const bedrockInvokeCase = anthropicUsage.map((g): Case => {
  const headers = {
    "x-amzn-requestid": "req-1",
    "x-amzn-bedrock-input-token-count": String(g.input),
    "x-amzn-bedrock-output-token-count": String(g.output),
    "x-amzn-bedrock-cache-read-input-token-count": String(g.read),
    "x-amzn-bedrock-cache-write-input-token-count": String(g.write5m + g.write1h)
  }
  const events = anthropicEvents(g, "msg_b") as Array<Record<string, unknown>>
  const last = events.at(-1)!
  const stream = [...events.slice(0, -1), { ...last, "amazon-bedrock-invocationMetrics": { inputTokenCount: g.input, outputTokenCount: g.output, cacheReadInputTokenCount: g.read, cacheWriteInputTokenCount: g.write5m + g.write1h, invocationLatency: 10, firstByteLatency: 5 } }]
  return {
    label: "bedrock invokeModel (Claude)",
    provider: "bedrock",
    api: "invokeModel",
    response: { status: 200, headers, body: anthropicMessage(g, "msg_b") },
    stream,
    total: sum(g.input, g.read, g.write5m, g.write1h, g.output),
    tokens: nonZero({ inputText: g.input, cacheRead: g.read, cacheWrite5m: g.write5m, cacheWrite1h: g.write1h, outputText: g.output })
  }
})

// --- Gemini -----------------------------------------------------------------------------------

const geminiCase = fc.record({ textIn: count, imageIn: count, cachedText: count, cachedImage: count, toolUse: count, candidates: count, thoughts: count, text: pieces, vertex: fc.boolean(), trafficOnly: fc.boolean() })
  .map((g): Case => {
    const prompt = g.textIn + g.cachedText + g.imageIn + g.cachedImage
    const cached = g.cachedText + g.cachedImage
    const total = sum(prompt, g.toolUse, g.candidates, g.thoughts)
    const usageMetadata = (candidates: number) => ({
      promptTokenCount: prompt,
      ...(cached > 0 ? { cachedContentTokenCount: cached } : {}),
      candidatesTokenCount: candidates,
      ...(g.toolUse > 0 ? { toolUsePromptTokenCount: g.toolUse } : {}),
      ...(g.thoughts > 0 ? { thoughtsTokenCount: g.thoughts } : {}),
      totalTokenCount: sum(prompt, g.toolUse, candidates, g.thoughts),
      promptTokensDetails: [{ modality: "TEXT", tokenCount: g.textIn + g.cachedText }, { modality: "IMAGE", tokenCount: g.imageIn + g.cachedImage }],
      // Cached image tokens are reported by modality (without a split every cached token would be text).
      ...(g.cachedImage > 0 ? { cacheTokensDetails: [{ modality: "TEXT", tokenCount: g.cachedText }, { modality: "IMAGE", tokenCount: g.cachedImage }] } : {}),
      ...(g.vertex ? { trafficType: "ON_DEMAND" } : {})
    })
    const chunk = (text: string, usage: unknown, finish: boolean) => ({
      candidates: [{ content: { role: "model", parts: [{ text }] }, ...(finish ? { finishReason: "STOP" } : {}), index: 0 }],
      usageMetadata: usage, modelVersion: "gemini-2.5-flash", responseId: "g1"
    })
    const response = chunk(g.text.join(""), usageMetadata(g.candidates), true)
    const stream = g.text.map((text, i) => {
      const last = i === g.text.length - 1
      const partial = Math.floor((g.candidates * (i + 1)) / g.text.length)
      const usage = last ? usageMetadata(g.candidates) : g.vertex && g.trafficOnly ? { trafficType: "ON_DEMAND" } : usageMetadata(partial)
      return chunk(text, usage, last)
    })
    return {
      label: "google generateContent",
      provider: "google",
      response,
      stream,
      total,
      tokens: nonZero({ inputText: g.textIn + g.toolUse, inputImage: g.imageIn, cacheRead: g.cachedText, cacheReadImage: g.cachedImage, outputText: g.candidates, reasoning: g.thoughts }),
      breakTotal: (delta) => ({ ...response, usageMetadata: { ...usageMetadata(g.candidates), totalTokenCount: total + delta } })
    }
  })

// --- Bedrock Converse -------------------------------------------------------------------------

const converseCase = fc.record({ input: count, read: count, write5m: count, write1h: count, output: count, text: pieces })
  .map((g): Case => {
    const write = g.write5m + g.write1h
    const total = sum(g.input, g.read, write, g.output)
    const usage = {
      inputTokens: g.input, outputTokens: g.output, totalTokens: total, cacheReadInputTokens: g.read, cacheWriteInputTokens: write,
      ...(write > 0 ? { cacheDetails: [{ ttl: "1h", inputTokens: g.write1h }, { ttl: "5m", inputTokens: g.write5m }] } : {})
    }
    const response = { output: { message: { role: "assistant", content: [{ text: g.text.join("") }] } }, stopReason: "end_turn", usage, metrics: { latencyMs: 10 } }
    const stream = [
      { messageStart: { role: "assistant" } },
      ...g.text.map((text) => ({ contentBlockDelta: { contentBlockIndex: 0, delta: { text } } })),
      { contentBlockStop: { contentBlockIndex: 0 } },
      { messageStop: { stopReason: "end_turn" } },
      { metadata: { usage, metrics: { latencyMs: 10 } } }
    ]
    return {
      label: "bedrock converse",
      provider: "bedrock",
      model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
      response,
      stream,
      total,
      tokens: nonZero({ inputText: g.input, cacheRead: g.read, cacheWrite5m: g.write5m, cacheWrite1h: g.write1h, outputText: g.output }),
      breakTotal: (delta) => ({ ...response, usage: { ...usage, totalTokens: total + delta } })
    }
  })

// --- Cohere -----------------------------------------------------------------------------------

const cohereCase = fc.record({ input: count, output: count, text: pieces })
  .map((g): Case => {
    const usage = { billed_units: { input_tokens: g.input, output_tokens: g.output }, tokens: { input_tokens: g.input + 495, output_tokens: g.output + 3 }, cached_tokens: 0 }
    const response = { id: "co-1", message: { role: "assistant", content: [{ type: "text", text: g.text.join("") }] }, finish_reason: "COMPLETE", usage }
    const stream = [
      { type: "message-start", id: "co-1", delta: { message: { role: "assistant", content: [] } } },
      { type: "content-start", index: 0, delta: { message: { content: { type: "text", text: "" } } } },
      ...g.text.map((text) => ({ type: "content-delta", index: 0, delta: { message: { content: { text } } } })),
      { type: "content-end", index: 0 },
      { type: "message-end", delta: { finish_reason: "COMPLETE", usage } }
    ]
    return { label: "cohere chat", provider: "cohere", model: "command-a-03-2025", response, stream, total: g.input + g.output, tokens: nonZero({ inputText: g.input, outputText: g.output }) }
  })

// --- OpenAI transcription ----------------------------------------------------------------------

const transcriptionCase = fc.record({ textIn: count, audioIn: count, output: count, text: pieces })
  .map((g): Case => {
    const input = g.textIn + g.audioIn
    const usage = { type: "tokens", input_tokens: input, input_token_details: { text_tokens: g.textIn, audio_tokens: g.audioIn }, output_tokens: g.output, total_tokens: input + g.output }
    const response = { text: g.text.join(""), usage }
    const stream = [...g.text.map((delta) => ({ type: "transcript.text.delta", delta })), { type: "transcript.text.done", text: g.text.join(""), usage }]
    return {
      label: "openai audio.transcriptions", provider: "openai", model: "gpt-4o-transcribe", response, stream, total: input + g.output,
      tokens: nonZero({ inputText: g.textIn, inputAudio: g.audioIn, outputText: g.output }),
      breakTotal: (delta) => ({ ...response, usage: { ...usage, total_tokens: input + g.output + delta } })
    }
  })

// --- Calls with a total but no stream ----------------------------------------------------------

const embeddingsCase = count.map((prompt): Case => {
  const response = { object: "list", data: [{ object: "embedding", index: 0, embedding: [0.1] }], model: "text-embedding-3-small", usage: { prompt_tokens: prompt, total_tokens: prompt } }
  return {
    label: "openai embeddings", provider: "openai", response, total: prompt, tokens: nonZero({ embedding: prompt }),
    breakTotal: (delta) => ({ ...response, usage: { prompt_tokens: prompt, total_tokens: prompt + delta } })
  }
})

const imagesCase = fc.record({ textIn: count, imageIn: count, imageOut: count })
  .map((g): Case => {
    const input = g.textIn + g.imageIn
    const usage = { input_tokens: input, input_tokens_details: { text_tokens: g.textIn, image_tokens: g.imageIn }, output_tokens: g.imageOut, total_tokens: input + g.imageOut }
    const response = { created: 1, data: [{ b64_json: "..." }], usage }
    return {
      label: "openai images", provider: "openai", model: "gpt-image-1", response, total: input + g.imageOut,
      tokens: nonZero({ inputText: g.textIn, inputImage: g.imageIn, outputImage: g.imageOut }),
      breakTotal: (delta) => ({ ...response, usage: { ...usage, total_tokens: input + g.imageOut + delta } })
    }
  })

const realtimeCase = fc.record({ text: count, audio: count, cText: count, cAudio: count, outText: count, outAudio: count })
  .map((g): Case => {
    const input = sum(g.text, g.audio, g.cText, g.cAudio)
    const output = g.outText + g.outAudio
    const usage = {
      total_tokens: input + output, input_tokens: input, output_tokens: output,
      input_token_details: { text_tokens: g.text + g.cText, audio_tokens: g.audio + g.cAudio, image_tokens: 0, cached_tokens: g.cText + g.cAudio, cached_tokens_details: { text_tokens: g.cText, audio_tokens: g.cAudio, image_tokens: 0 } },
      output_token_details: { text_tokens: g.outText, audio_tokens: g.outAudio }
    }
    const response = { type: "response.done", event_id: "e", response: { object: "realtime.response", id: "r", status: "completed", usage } }
    return {
      label: "openai realtime", provider: "openai", model: "gpt-realtime", response, total: input + output,
      tokens: nonZero({ inputText: g.text, inputAudio: g.audio, cacheRead: g.cText, cacheReadAudio: g.cAudio, outputText: g.outText, outputAudio: g.outAudio }),
      breakTotal: (delta) => ({ ...response, response: { ...response.response, usage: { ...usage, total_tokens: input + output + delta } } })
    }
  })

const otelCase = fc.record({ inText: count, read: count, write: count, outText: count, reasoning: count, withTotal: fc.boolean() })
  .map((g): Case => {
    const input = sum(g.inText, g.read, g.write)
    const output = g.outText + g.reasoning
    const attributes = {
      "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4.1",
      "gen_ai.usage.input_tokens": input, "gen_ai.usage.output_tokens": output,
      "gen_ai.usage.cache_read.input_tokens": g.read, "gen_ai.usage.cache_creation.input_tokens": g.write,
      "gen_ai.usage.reasoning.output_tokens": g.reasoning,
      ...(g.withTotal ? { "gen_ai.usage.total_tokens": input + output } : {})
    }
    return {
      label: "otel span", provider: "otel", response: { name: "chat gpt-4.1", attributes }, total: input + output,
      tokens: nonZero({ inputText: g.inText, cacheRead: g.read, cacheWrite5m: g.write, outputText: g.outText, reasoning: g.reasoning }),
      breakTotal: (delta) => ({ name: "chat gpt-4.1", attributes: { ...attributes, "gen_ai.usage.total_tokens": input + output + delta } })
    }
  })

// --- Shapes added for providers everywhere ---------------------------------------------------------

/** Perplexity: reasoning and citation tokens outside completion_tokens; usage on the last chunk. */
const perplexityCase = fc.record({ inText: count, outText: count, citations: count, reasoning: count, searches: small, text: pieces })
  .map((g): Case => {
    const usage = {
      prompt_tokens: g.inText, completion_tokens: g.outText, total_tokens: g.inText + g.outText,
      citation_tokens: g.citations, reasoning_tokens: g.reasoning, num_search_queries: g.searches, search_context_size: "low"
    }
    const base = { id: "pplx-1", object: "chat.completion.chunk", created: 1, model: "sonar-deep-research" }
    const response = { ...base, object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: g.text.join("") }, finish_reason: "stop" }], usage }
    const stream = [
      ...g.text.map((piece) => ({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: piece }, finish_reason: null }] })),
      { ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage }
    ]
    return {
      label: "perplexity chat", provider: "perplexity", response, stream,
      total: sum(g.inText, g.outText, g.citations, g.reasoning),
      tokens: nonZero({ inputText: g.inText + g.citations, outputText: g.outText, reasoning: g.reasoning }),
      breakTotal: (delta) => ({ ...response, usage: { ...usage, total_tokens: g.inText + g.outText + Math.abs(delta) } })
    }
  })

/** Claude on Bedrock, streamed: the whole stream, and its final chunk alone (metrics carry no TTL split, so 5m writes only). */
const bedrockFinalChunkCase = anthropicUsage.map((g): Case => {
  const u = { ...g, write1h: 0, searches: 0 }
  const metrics = { inputTokenCount: u.input, outputTokenCount: u.output, cacheReadInputTokenCount: u.read, cacheWriteInputTokenCount: u.write5m, invocationLatency: 10, firstByteLatency: 5 }
  // Bedrock's Claude events carry no service_tier (the final chunk alone could not repeat it).
  const events = (anthropicEvents(u, "msg_f") as Array<Record<string, unknown>>).map((event) =>
    event["type"] === "message_start" ? JSON.parse(JSON.stringify(event).replace(',"service_tier":"standard"', "")) as Record<string, unknown> : event)
  const final = { ...events.at(-1)!, "amazon-bedrock-invocationMetrics": metrics }
  return {
    label: "bedrock invokeModel stream (final chunk alone)",
    provider: "bedrock",
    api: "invokeModel",
    model: "anthropic.claude-3-5-haiku-20241022-v1:0",
    response: final,
    stream: [...events.slice(0, -1), final],
    total: sum(u.input, u.read, u.write5m, u.output),
    tokens: nonZero({ inputText: u.input, cacheRead: u.read, cacheWrite5m: u.write5m, outputText: u.output })
  }
})

/** A Responses usage kept without its envelope. */
const responsesUsageOnlyCase = fc.record({ inText: count, cached: count, outText: count, reasoning: count })
  .map((g): Case => {
    const input = g.inText + g.cached
    const output = g.outText + g.reasoning
    const usage = { input_tokens: input, input_tokens_details: { cached_tokens: g.cached }, output_tokens: output, output_tokens_details: { reasoning_tokens: g.reasoning }, total_tokens: input + output }
    const response = { model: "gpt-4.1", usage }
    return {
      label: "openai responses (usage only)", provider: "openai", response, total: input + output,
      tokens: nonZero({ inputText: g.inText, cacheRead: g.cached, outputText: g.outText, reasoning: g.reasoning }),
      breakTotal: (delta) => ({ ...response, usage: { ...usage, total_tokens: input + output + delta } })
    }
  })

/** An OpenAI Batch object's batch-level usage. */
const batchObjectCase = fc.record({ inText: count, cached: count, outText: count, reasoning: count })
  .map((g): Case => {
    const input = g.inText + g.cached
    const output = g.outText + g.reasoning
    const usage = { input_tokens: input, input_tokens_details: { cached_tokens: g.cached }, output_tokens: output, output_tokens_details: { reasoning_tokens: g.reasoning }, total_tokens: input + output }
    const response = { id: "batch_1", object: "batch", endpoint: "/v1/responses", model: "gpt-5", status: "completed", request_counts: { total: 3, completed: 3, failed: 0 }, usage }
    return {
      label: "openai batch object", provider: "openai", response, total: input + output,
      tokens: nonZero({ inputText: g.inText, cacheRead: g.cached, outputText: g.outText, reasoning: g.reasoning }),
      breakTotal: (delta) => ({ ...response, usage: { ...usage, total_tokens: input + output + delta } })
    }
  })

/** An Anthropic Message Batches result line (no total: Anthropic reports none). */
const anthropicBatchCase = anthropicUsage.map((g): Case => ({
  label: "anthropic batch result line",
  provider: "anthropic",
  response: { custom_id: "req-1", result: { type: "succeeded", message: anthropicMessage(g, "msg_batch") } },
  total: sum(g.input, g.read, g.write5m, g.write1h, g.output),
  tokens: nonZero({ inputText: g.input, cacheRead: g.read, cacheWrite5m: g.write5m, cacheWrite1h: g.write1h, outputText: g.output })
}))

/** Vertex AI predict for text embeddings: one token count per prediction, no total. */
const vertexPredictCase = fc.array(count, { minLength: 1, maxLength: 5 }).map((counts): Case => ({
  label: "vertex predict embeddings",
  provider: "google",
  model: "gemini-embedding-001",
  response: { predictions: counts.map((n) => ({ embeddings: { statistics: { truncated: false, token_count: n }, values: [0.1] } })), metadata: { billableCharacterCount: 1 } },
  total: sum(...counts),
  tokens: nonZero({ embedding: sum(...counts) })
}))

/** A Gemini image model whose candidatesTokensDetails list only the image (the text part is the unlisted rest). */
const geminiImageCase = fc.record({ prompt: count, image: count, text: count })
  .map((g): Case => {
    const usageMetadata = {
      promptTokenCount: g.prompt, candidatesTokenCount: g.image + g.text, totalTokenCount: g.prompt + g.image + g.text,
      candidatesTokensDetails: [{ modality: "IMAGE", tokenCount: g.image }]
    }
    const response = { candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }], usageMetadata, modelVersion: "gemini-3-pro-image" }
    return {
      label: "gemini image (details list only IMAGE)", provider: "google", response, total: g.prompt + g.image + g.text,
      tokens: nonZero({ inputText: g.prompt, outputImage: g.image, outputText: g.text }),
      breakTotal: (delta) => ({ ...response, usageMetadata: { ...usageMetadata, totalTokenCount: g.prompt + g.image + g.text + delta } })
    }
  })

/** Every provider and api whose calls stream. */
export const streaming: ReadonlyArray<fc.Arbitrary<Case>> = [
  chatCase("openai"), chatCase("azure"), chatCase("openrouter"), chatCase("xai"), chatCase("deepseek"), chatCase("mistral"),
  chatCase("groq"), chatCase("together"), perplexityCase,
  responsesCase("openai"), responsesCase("xai"), anthropicCase, bedrockInvokeCase, bedrockFinalChunkCase, geminiCase, converseCase, cohereCase, transcriptionCase
]

/** Every generator, streaming or not. */
export const all: ReadonlyArray<fc.Arbitrary<Case>> = [
  ...streaming, embeddingsCase, imagesCase, realtimeCase, otelCase,
  responsesUsageOnlyCase, batchObjectCase, anthropicBatchCase, vertexPredictCase, geminiImageCase
]
