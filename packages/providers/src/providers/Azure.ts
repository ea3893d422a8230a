/**
 * Azure OpenAI: the OpenAI formats with content-filter annotations. `model` is the underlying
 * model, not the deployment name. The first stream chunk carries an empty id and model, so both
 * are taken from the first chunk that has them. A request blocked by the prompt filter is an
 * HTTP 400 with no usage: a `failed-response`.
 */
import type * as Provider from "../internal/Provider.ts"
import * as OpenAI from "./OpenAI.ts"

export const module: Provider.Module = {
  id: "azure",
  apis: OpenAI.apis,
  detect: OpenAI.detect,
  normalize: (payload, api, context) => OpenAI.normalizeApi("azure", payload, api, context)
}
