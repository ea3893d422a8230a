/**
 * One provider module per row of CompatibleProviders: the OpenAI chat / responses / embeddings
 * formats, read in the row's dialect, limited to the apis the row lists.
 */
import { Result } from "effect"
import * as CompatibleProviders from "../CompatibleProviders.ts"
import type * as NormalizedCall from "../NormalizedCall.ts"
import * as NormalizeError from "../NormalizeError.ts"
import * as Path from "../internal/Path.ts"
import type * as Provider from "../internal/Provider.ts"
import * as OpenAI from "./OpenAI.ts"

export const moduleOf = (id: CompatibleProviders.CompatibleId): Provider.Module => {
  const row: CompatibleProviders.CompatibleProvider = CompatibleProviders.providers[id]
  const apis: ReadonlyArray<NormalizedCall.Api> = row.apis
  return {
    id,
    apis,
    detect: (payload) => {
      const detected = OpenAI.detect(payload)
      if (detected === undefined || typeof detected !== "string") return detected
      return apis.includes(detected) ? detected : undefined
    },
    normalize: (payload, api, context) =>
      apis.includes(api)
        ? OpenAI.normalizeApi(id, payload, api, context, row.dialect)
        : Result.fail(NormalizeError.make(id, Path.root, "unsupported", `api ${api} is not one of ${id}'s: ${apis.join(", ")}`))
  }
}

export const modules: ReadonlyArray<Provider.Module> = CompatibleProviders.ids.map(moduleOf)
