/**
 * What a call may cost before it is sent, for a budget reservation: the prompt counted with the
 * tokenizer (`@tally/providers` Tokenizer), the output at the call's own maximum
 * (`max_tokens`, `max_completion_tokens`, `max_output_tokens`) or the configured default, priced
 * as the provider's own response with that usage would be. An upper bound for the output, an
 * approximation for the prompt (tools, images and files are counted roughly or not at all).
 */
import { Tokenizer } from "@tally/providers"
import type { Api } from "./Apis.ts"

export interface Tokens {
  readonly input: number
  readonly output: number
}

const positiveInt = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isInteger(value) && value > 0 ? value : undefined

export const tokens = (api: Api, body: Record<string, unknown>, defaultMaxOutput: number): Tokens => {
  const model = typeof body["model"] === "string" ? body["model"] : undefined
  const { encoding } = Tokenizer.encodingForModel(model)
  const input = Tokenizer.estimateRequest(body, encoding, api.normalizerApi)?.input ?? 0
  if (api.name === "openai.embeddings") return { input, output: 0 }
  const declared = positiveInt(body["max_completion_tokens"]) ?? positiveInt(body["max_tokens"]) ?? positiveInt(body["max_output_tokens"])
  return { input, output: declared ?? defaultMaxOutput }
}

/** The response the provider would send with this usage, in its own wire format. */
export const payload = (api: Api, model: string, usage: Tokens): unknown => {
  switch (api.name) {
    case "openai.chat":
      return {
        id: "tally-estimate",
        object: "chat.completion",
        created: 0,
        model,
        choices: [],
        usage: { prompt_tokens: usage.input, completion_tokens: usage.output, total_tokens: usage.input + usage.output }
      }
    case "openai.responses":
      return {
        id: "tally-estimate",
        object: "response",
        created_at: 0,
        model,
        status: "completed",
        output: [],
        usage: {
          input_tokens: usage.input,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: usage.output,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: usage.input + usage.output
        }
      }
    case "openai.embeddings":
      return { object: "list", model, data: [], usage: { prompt_tokens: usage.input, total_tokens: usage.input } }
    case "anthropic.messages":
      return {
        id: "tally-estimate",
        type: "message",
        role: "assistant",
        model,
        content: [],
        stop_reason: "end_turn",
        usage: { input_tokens: usage.input, output_tokens: usage.output }
      }
  }
}
