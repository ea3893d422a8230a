/** Who is signed in: the key's tenant (currency, time zone), its scopes, and the API's cost sources. */
import { createContext } from "preact"
import { useContext } from "preact/hooks"
import * as Api from "./Api.ts"

export interface Tenant {
  readonly id: string
  readonly name: string
  readonly currency: string
  readonly timeZone: string
  readonly builtinCatalog: boolean
}

export interface Viewer {
  readonly apiKeyId: string
  readonly scopes: ReadonlyArray<string>
  readonly tenant: Tenant
  readonly isAdmin: boolean
  /**
   * The cost sources the API knows (`__type(name: "CostSource")`): a source the console does not
   * know yet (a later `PARTIAL`) is listed and counted as it appears, with its description.
   */
  readonly costSources: ReadonlyArray<{ readonly name: string; readonly description: string | null }>
}

/** Sources whose calls are not (fully) priced: their cost is at risk. */
export const atRiskSources = (viewer: Viewer): ReadonlyArray<string> =>
  viewer.costSources.map((s) => s.name).filter((name) => !["COMPUTED", "PROVIDER", "ESTIMATED"].includes(name))

const query = `{
  viewer { __typename ... on Viewer { apiKeyId scopes tenant { id name currency timeZone builtinCatalog } } ${Api.errorFields} }
  costSource: __type(name: "CostSource") { enumValues { name description } }
}`

interface Answer {
  readonly viewer: ({ readonly __typename: "Viewer"; readonly apiKeyId: string; readonly scopes: ReadonlyArray<string>; readonly tenant: Tenant }) | Api.ErrorResult
  readonly costSource: { readonly enumValues: ReadonlyArray<{ readonly name: string; readonly description: string | null }> } | null
}

export const load = async (key?: string): Promise<Viewer> => {
  const answer = await Api.request<Answer>(query, {}, key)
  if (answer.viewer.__typename === "Forbidden") {
    throw new Api.ApiFailure("this key may not read (it has the ingest scope only): sign in with a key that has the read or admin scope", "Forbidden")
  }
  const viewer = Api.unwrap(answer.viewer, "Viewer")
  return {
    apiKeyId: viewer.apiKeyId,
    scopes: viewer.scopes,
    tenant: viewer.tenant,
    isAdmin: viewer.scopes.includes("admin"),
    costSources: answer.costSource?.enumValues ?? []
  }
}

export const ViewerContext = createContext<Viewer | null>(null)

export const useViewer = (): Viewer => {
  const viewer = useContext(ViewerContext)
  if (viewer === null) throw new Error("useViewer outside a signed-in console")
  return viewer
}
