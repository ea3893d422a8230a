/**
 * Token estimates for calls whose provider reported no usage, with js-tiktoken.
 *
 * Encoding by model family: `o200k_base` for gpt-4o, gpt-4.1, gpt-4.5, gpt-5, the o-series,
 * gpt-oss and the realtime/audio models; `cl100k_base` for gpt-4, gpt-3.5 and the embedding
 * models. Every other family (Claude, Gemini, Llama, Mistral, …) uses `cl100k_base` as a
 * documented approximation: their tokenizers are not public in this form, so the estimate is
 * marked `approximate`.
 *
 * Chat requests add the OpenAI cookbook overheads: 3 tokens per message, 1 per `name`, and 3 to
 * prime the reply. Tool definitions are counted as their JSON text (an approximation).
 *
 * The ranks (1–2 MB each) load on first use of an encoding, once, synchronously, so that
 * `normalize` stays a pure synchronous function.
 */
import { createRequire } from "node:module"
import { Tiktoken, type TiktokenBPE } from "js-tiktoken/lite"
import { Predicate } from "effect"
import type * as NormalizedCall from "./NormalizedCall.ts"
import * as Text from "./internal/Text.ts"

export type Encoding = NormalizedCall.Encoding

export const TOKENS_PER_MESSAGE = 3
export const TOKENS_PER_NAME = 1
export const REPLY_PRIMING_TOKENS = 3

const O200K = /^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o|gpt-oss|gpt-realtime|gpt-audio|gpt-image|codex|computer-use)/
const CL100K = /^(gpt-4|gpt-3\.5|gpt-35|text-embedding-3|text-embedding-ada-002)/

export interface EncodingChoice {
  readonly encoding: Encoding
  /** True when the model is not an OpenAI model and the count approximates its own tokenizer. */
  readonly approximate: boolean
}

/** The model name without a router or region prefix (`openai/gpt-4o`, `us.openai.gpt-oss-…`). */
const bareModel = (model: string): string => {
  const lower = model.toLowerCase()
  const slash = lower.lastIndexOf("/")
  const afterSlash = slash >= 0 ? lower.slice(slash + 1) : lower
  const openai = afterSlash.indexOf("openai.")
  return openai >= 0 ? afterSlash.slice(openai + "openai.".length) : afterSlash
}

export const encodingForModel = (model: string | undefined): EncodingChoice => {
  if (model === undefined) return { encoding: "cl100k_base", approximate: true }
  const bare = bareModel(model)
  if (O200K.test(bare)) return { encoding: "o200k_base", approximate: false }
  if (CL100K.test(bare)) return { encoding: "cl100k_base", approximate: false }
  return { encoding: "cl100k_base", approximate: true }
}

const require = createRequire(import.meta.url)
const loaded = new Map<Encoding, Tiktoken>()

/** The encodings whose ranks have been loaded so far (each at most once). */
export const loadedEncodings = (): ReadonlyArray<Encoding> => [...loaded.keys()]

const tokenizer = (encoding: Encoding): Tiktoken => {
  let instance = loaded.get(encoding)
  if (instance === undefined) {
    const ranks = require(`js-tiktoken/ranks/${encoding}`) as TiktokenBPE
    instance = new Tiktoken(ranks)
    loaded.set(encoding, instance)
  }
  return instance
}

/** Tokens in `text`; special-token markers in user text are counted as ordinary text. */
export const count = (text: string, encoding: Encoding): number =>
  text === "" ? 0 : tokenizer(encoding).encode(text, [], []).length

export interface Message {
  readonly role: string
  readonly content: string
  readonly name?: string | undefined
}

/** A chat prompt: per-message overheads, names, and the reply priming. */
export const countChat = (messages: ReadonlyArray<Message>, encoding: Encoding): number => {
  let total = REPLY_PRIMING_TOKENS
  for (const message of messages) {
    total += TOKENS_PER_MESSAGE + count(message.role, encoding) + count(message.content, encoding)
    if (message.name !== undefined && message.name !== "") total += TOKENS_PER_NAME + count(message.name, encoding)
  }
  return total
}

const asRecord = (u: unknown): Record<string, unknown> | undefined =>
  Predicate.isObject(u) && !Array.isArray(u) ? (u as Record<string, unknown>) : undefined

const messageOf = (u: unknown, defaultRole: string): Message => {
  const record = asRecord(u)
  if (record === undefined) return { role: defaultRole, content: Text.collect(u) }
  const role = typeof record["role"] === "string" ? record["role"] : defaultRole
  const name = typeof record["name"] === "string" ? record["name"] : undefined
  const content = Text.collect(record["content"] ?? record["parts"] ?? record["message"] ?? record["text"]) +
    Text.collect(record["tool_calls"] ?? record["function_call"])
  return { role, content, name }
}

const listOf = (u: unknown): ReadonlyArray<unknown> => (Array.isArray(u) ? u : u === undefined || u === null ? [] : [u])

export interface RequestEstimate {
  /** Prompt tokens, overheads included. */
  readonly input: number
  /** The request is an embeddings request: its tokens are `embedding` tokens. */
  readonly embedding: boolean
}

/**
 * Prompt tokens of a request body in any of the common formats: OpenAI/Mistral/DeepSeek/xAI
 * `messages`, Anthropic `system` + `messages`, Bedrock Converse `system` + `messages`, Gemini
 * `systemInstruction` + `contents`, Responses `instructions` + `input`, embeddings `input`, legacy
 * `prompt`. Undefined when the body holds no prompt text at all.
 */
export const estimateRequest = (request: unknown, encoding: Encoding, api: NormalizedCall.Api): RequestEstimate | undefined => {
  const body = asRecord(request)
  if (body === undefined) return undefined
  if (api === "embeddings" || api === "embed") {
    const texts = listOf(body["input"] ?? body["texts"] ?? body["inputs"])
    if (texts.length === 0) return undefined
    return { input: texts.reduce<number>((total, text) => total + count(Text.collect(text), encoding), 0), embedding: true }
  }
  const messages: Array<Message> = []
  for (const system of listOf(body["system"] ?? body["systemInstruction"] ?? body["instructions"] ?? body["preamble"])) {
    messages.push(messageOf(typeof system === "string" ? { role: "system", content: system } : { role: "system", content: Text.collect(system) }, "system"))
  }
  const conversation = body["messages"] ?? body["contents"] ?? body["input"]
  if (typeof conversation === "string") messages.push({ role: "user", content: conversation })
  else for (const message of listOf(conversation)) messages.push(messageOf(message, "user"))
  if (typeof body["prompt"] === "string") messages.push({ role: "user", content: body["prompt"] })
  if (messages.length === 0) return undefined
  const tools = body["tools"] ?? body["functions"] ?? body["toolConfig"]
  const toolTokens = tools === undefined ? 0 : count(JSON.stringify(tools), encoding)
  return { input: countChat(messages, encoding) + toolTokens, embedding: false }
}
