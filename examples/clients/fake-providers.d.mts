export declare const usage: {
  readonly chat: { prompt_tokens: number; cached: number; completion_tokens: number }
  readonly responses: { input_tokens: number; cached: number; output_tokens: number }
  readonly embeddings: { prompt_tokens: number }
  readonly messages: { input_tokens: number; output_tokens: number }
}
export interface FakeRequest {
  readonly path: string
  readonly body: Record<string, unknown>
  readonly headers: Record<string, string | Array<string> | undefined>
}
export interface FakeProviders {
  readonly url: string
  readonly requests: Array<FakeRequest>
  readonly close: () => Promise<void>
}
export declare const startFakeProviders: () => Promise<FakeProviders>
