/**
 * The contract between the registry and each provider module.
 */
import type { Usage } from "@tally/core"
import type { Result } from "effect"
import type * as NormalizeError from "../NormalizeError.ts"
import type * as NormalizedCall from "../NormalizedCall.ts"
import type * as Path from "./Path.ts"
import type * as Payload from "./Payload.ts"

export interface Context {
  /** The canonical provider id (aliases resolved). */
  readonly provider: NormalizedCall.ProviderId
  /** The model from the request, for payloads that do not name it (Bedrock, Images, Cohere). */
  readonly model?: string | undefined
  /** The request body, when the caller has it (images size/quality; token estimates). */
  readonly request?: unknown
}

/** What a provider module reads out of a payload. */
export interface Extracted {
  readonly api: NormalizedCall.Api
  readonly model?: string | undefined
  readonly modelProvider?: string | undefined
  readonly responseId?: string | undefined
  /** Undefined when the payload reports no usage at all: the registry then estimates it. */
  readonly usage?: Usage.Usage | undefined
  /**
   * The usage reports input only (a stream cut before its final usage event): the output side is
   * estimated from `outputText`.
   */
  readonly outputMissing?: boolean | undefined
  /** The generated text, for estimating output tokens when they were not reported. */
  readonly outputText?: string | undefined
  readonly serviceTier?: string | undefined
  readonly batch?: boolean | undefined
  readonly reportedCost?: NormalizedCall.ReportedCost | undefined
  readonly corrections?: ReadonlyArray<NormalizedCall.Correction> | undefined
  readonly subCalls?: ReadonlyArray<NormalizedCall.SubCall> | undefined
  readonly unbilledTokens?: Readonly<Record<string, number>> | undefined
}

/** A payload whose shape fits more than one api (a usage object without its envelope). */
export interface Ambiguous {
  readonly _tag: "Ambiguous"
  readonly apis: ReadonlyArray<NormalizedCall.Api>
  readonly path: Path.Path
  /** What the shape has in common, e.g. "usage has input_tokens and output_tokens only". */
  readonly why: string
}

export type Detected = NormalizedCall.Api | Ambiguous | undefined

export interface Module {
  readonly id: NormalizedCall.ProviderId
  readonly apis: ReadonlyArray<NormalizedCall.Api>
  /** The api the payload's shape shows (or the apis it fits), when the caller did not say. */
  readonly detect: (payload: Payload.Payload) => Detected
  readonly normalize: (
    payload: Payload.Payload,
    api: NormalizedCall.Api,
    context: Context
  ) => Result.Result<Extracted, NormalizeError.NormalizeError>
}
