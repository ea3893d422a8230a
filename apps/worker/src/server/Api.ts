/**
 * The REST API described with Effect's HTTP API module, from which `GET /openapi.json` (OpenAPI
 * 3.1, `OpenApi.fromApi`) and the reference page at `GET /docs` (Scalar, bundled in `effect`, so
 * it works offline) are derived.
 *
 * The routes themselves are still the router's handlers in `routes/` (see `Server.table`): this
 * module declares each one's path, method, parameters, body and answers, reusing the Schemas the
 * handlers decode with where they exist (budget and enforcement bodies). A test enumerates
 * `Server.table` and fails when a route is missing here, and validates the document.
 *
 * Every error is an RFC 9457 problem detail (`application/problem+json`, `ApiError.problem`).
 */
import { ModelPolicy } from "@tally/catalog"
import { Budget } from "@tally/core"
import { Enforcement, Governance } from "@tally/engine"
import * as HttpApi from "effect/http-api/HttpApi"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as HttpApiSchema from "effect/http-api/HttpApiSchema"
import * as OpenApi from "effect/http-api/OpenApi"
import * as Schema from "effect/Schema"

const DescribedString = (description: string) => Schema.String.annotate({ description })

/** An RFC 9457 problem detail, with the stable `error.code` older clients read. */
const Problem = (status: number, description: string) =>
  Schema.Struct({
    type: DescribedString("urn:tally:problem:<code>"),
    title: Schema.String,
    status: Schema.Int,
    detail: DescribedString("What is wrong, naming the field or parameter"),
    error: Schema.Struct({ code: Schema.String, message: Schema.String })
  }).pipe(HttpApiSchema.status(status), HttpApiSchema.asJson({ contentType: "application/problem+json" })).annotate({
    identifier: `Problem${status}`,
    description
  })

const Unauthorized = Problem(401, "The Bearer API key is missing, unknown or revoked")
const Forbidden = Problem(403, "The API key lacks the scope this route needs")
const BadRequest = Problem(400, "Malformed body or parameter")
const Invalid = Problem(422, "The body decoded but is not valid (names the field)")
const Unavailable = Problem(503, "The database is unavailable; retrying is safe")
const TooLarge = Problem(413, "The body exceeds the configured limit")
const NotFound = Problem(404, "No such resource for the key's tenant")
const Conflict = Problem(409, "The resource is closed or archived")
const common = [Unauthorized, Forbidden, BadRequest, Unavailable] as const

const Json = Schema.Record(Schema.String, Schema.Unknown)

const IngestItem = Schema.Struct({
  index: Schema.Int,
  requestId: Schema.NullOr(Schema.String),
  status: Schema.Literals(["inserted", "duplicate", "conflict", "rejected"]),
  reason: Schema.optionalKey(Schema.String),
  costSource: Schema.optionalKey(Schema.Literals(["provider", "computed", "estimated", "partial", "unpriced"])),
  total: Schema.optionalKey(Schema.NullOr(DescribedString("Exact decimal"))),
  currency: Schema.optionalKey(Schema.NullOr(Schema.String)),
  model: Schema.optionalKey(Schema.NullOr(Schema.String)),
  definition: Schema.optionalKey(Schema.NullOr(Schema.String)),
  provider: Schema.optionalKey(Schema.String),
  inputTokens: Schema.optionalKey(Schema.Int),
  outputTokens: Schema.optionalKey(Schema.Int)
}).annotate({ identifier: "IngestItem" })

const IngestResult = Schema.Struct({
  items: Schema.Array(IngestItem),
  inserted: Schema.Int,
  duplicates: Schema.Int,
  conflicts: Schema.Int,
  rejected: Schema.Int
}).annotate({ identifier: "IngestResult" })

const IngestBody = Schema.Union([Schema.Array(Json), Schema.Struct({ events: Schema.Array(Json) })]).annotate({
  identifier: "IngestBatch",
  description: "Usage events (raw provider payloads or normalized usage): an array, { events: [...] }, or NDJSON with Content-Type application/x-ndjson"
})

const ingest = HttpApiGroup.make("ingest")
  .add(HttpApiEndpoint.post("ingestUsage", "/api/v1/usage/ingest", {
    payload: IngestBody,
    success: IngestResult,
    error: [...common, TooLarge, Invalid]
  }).annotate(OpenApi.Summary, "Ingest a batch of usage events (idempotent on tenant and request id)"))
  .add(HttpApiEndpoint.post("otlpTraces", "/v1/traces", {
    payload: [
      Json.pipe(HttpApiSchema.asJson()),
      Schema.Uint8Array.pipe(HttpApiSchema.asUint8Array({ contentType: "application/x-protobuf" }))
    ],
    success: Schema.Struct({
      partialSuccess: Schema.optionalKey(Schema.Struct({ rejectedSpans: Schema.String, errorMessage: Schema.String }))
    }).annotate({ identifier: "ExportTraceServiceResponse" })
  }).annotate(OpenApi.Summary, "OTLP/HTTP traces (protobuf or JSON): GenAI spans become usage; errors are google.rpc.Status"))
  .annotate(OpenApi.Description, "Usage in: batches of events and OpenTelemetry GenAI spans. Key scope: ingest.")

const Decision = Json.annotate({ identifier: "BudgetDecision", description: "allow or deny, with the budgets that decided" })
const Reservation = Json.annotate({ identifier: "Reservation" })
const BudgetJson = Json.annotate({ identifier: "Budget" })

const budgets = HttpApiGroup.make("budgets")
  .add(HttpApiEndpoint.post("checkBudget", "/api/v1/budgets/check", {
    payload: Enforcement.CheckBody,
    success: Decision,
    error: [...common, Invalid]
  }).annotate(OpenApi.Summary, "May a call of this estimated cost run? (scope ingest)"))
  .add(HttpApiEndpoint.post("reserveBudget", "/api/v1/budgets/reserve", {
    payload: Enforcement.ReserveBody,
    success: Decision,
    error: [...common, Invalid]
  }).annotate(OpenApi.Summary, "Check and hold the estimated cost until settled or released (scope ingest)"))
  .add(HttpApiEndpoint.post("settleReservation", "/api/v1/budgets/settle", {
    payload: Enforcement.SettleBody,
    success: Reservation,
    error: [...common, Invalid, NotFound, Conflict]
  }).annotate(OpenApi.Summary, "Settle a reservation at the actual cost (scope ingest)"))
  .add(HttpApiEndpoint.post("releaseReservation", "/api/v1/budgets/release", {
    payload: Enforcement.ReleaseBody,
    success: Reservation,
    error: [...common, Invalid, NotFound, Conflict]
  }).annotate(OpenApi.Summary, "Release a reservation unused (scope ingest)"))
  .add(HttpApiEndpoint.get("listBudgets", "/api/v1/budgets", {
    success: Schema.Struct({ budgets: Schema.Array(Json) }),
    error: common
  }).annotate(OpenApi.Summary, "Every active budget with its current period's status (scope read)"))
  .add(HttpApiEndpoint.post("createBudget", "/api/v1/budgets", {
    payload: Budget.BudgetInput,
    success: BudgetJson.pipe(HttpApiSchema.status(201)),
    error: [...common, Invalid]
  }).annotate(OpenApi.Summary, "Create a budget (scope admin)"))
  .add(HttpApiEndpoint.patch("updateBudget", "/api/v1/budgets/:id", {
    params: { id: Schema.String },
    payload: Budget.BudgetPatchInput,
    success: BudgetJson,
    error: [...common, Invalid, NotFound, Conflict]
  }).annotate(OpenApi.Summary, "Change a budget's name, amount, thresholds or action (scope admin)"))
  .add(HttpApiEndpoint.post("decide", "/api/v1/decide", {
    payload: Governance.DecideBody,
    success: Json.annotate({ identifier: "GovernanceDecision", description: "allow or deny with every reason (policy rule or budget)" }),
    error: [...common, Invalid]
  }).annotate(OpenApi.Summary, "One decision: model policies and every budget (cost, tokens, requests); reserve: true holds (scope ingest)"))
  .add(HttpApiEndpoint.get("listModelPolicies", "/api/v1/policies", {
    success: Schema.Struct({ policies: Schema.Array(Json) }),
    error: common
  }).annotate(OpenApi.Summary, "The tenant's active model policies (scope read)"))
  .add(HttpApiEndpoint.post("createModelPolicy", "/api/v1/policies", {
    payload: ModelPolicy.PolicyInput,
    success: Json.annotate({ identifier: "ModelPolicy" }).pipe(HttpApiSchema.status(201)),
    error: [...common, Invalid]
  }).annotate(OpenApi.Summary, "Create a model policy (scope admin)"))
  .add(HttpApiEndpoint.delete("archiveModelPolicy", "/api/v1/policies/:id", {
    params: { id: Schema.String },
    success: Json.annotate({ identifier: "ArchivedModelPolicy" }),
    error: [...common, NotFound]
  }).annotate(OpenApi.Summary, "Archive a model policy: it stops applying (scope admin)"))
  .annotate(OpenApi.Description, "Budgets for gateways (check, reserve, settle, release, decide), model policies, and budgets for people (list, create, change).")

const Csv = Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/csv" }))

const exportsGroup = HttpApiGroup.make("exports")
  .add(HttpApiEndpoint.get("exportChargeback", "/api/v1/exports/chargeback/:run", {
    params: { run: Schema.String },
    query: { format: Schema.optionalKey(Schema.Literals(["csv", "focus"])), version: Schema.optionalKey(Schema.Literals(["1.3", "1.2"])) },
    success: Csv,
    error: [...common, NotFound]
  }).annotate(OpenApi.Summary, "A chargeback run's lines as CSV, or FinOps FOCUS rows (scope read)"))
  .add(HttpApiEndpoint.get("exportUsage", "/api/v1/exports/usage", {
    query: {
      from: DescribedString("ISO 8601 instant, inclusive"),
      to: DescribedString("ISO 8601 instant, exclusive"),
      format: Schema.Literal("focus"),
      side: Schema.optionalKey(Schema.Literals(["cost", "sold"]).annotate({
        description: "cost (default): what the providers charge the tenant; sold: what the tenant charges its customers (sale prices, credit packs)"
      })),
      customer: Schema.optionalKey(Schema.Union([Schema.String, Schema.Array(Schema.String)]).annotate({ description: "side=sold only: these customers' calls and packs" })),
      asOf: Schema.optionalKey(Schema.String),
      dimension: Schema.optionalKey(Schema.String),
      owner: Schema.optionalKey(Schema.Union([Schema.String, Schema.Array(Schema.String)])),
      unowned: Schema.optionalKey(Schema.Literals(["true", "false"])),
      version: Schema.optionalKey(Schema.Literals(["1.3", "1.2"])),
      convert: Schema.optionalKey(Schema.Literals(["true", "false"]))
    },
    success: Csv,
    error: common
  }).annotate(OpenApi.Summary, "FOCUS rows of every priced call of a period, at cost or (side=sold) as sold to customers, streamed (scope read)"))
  .add(HttpApiEndpoint.get("exportCommitments", "/api/v1/exports/commitments", {
    query: {
      from: DescribedString("ISO 8601 instant, inclusive"),
      to: DescribedString("ISO 8601 instant, exclusive"),
      format: Schema.optionalKey(Schema.Literals(["dataset", "purchases"])),
      version: Schema.optionalKey(Schema.Literals(["1.3", "1.2"]))
    },
    success: Csv,
    error: common
  }).annotate(
    OpenApi.Summary,
    "FOCUS 1.3 Contract Commitment dataset of the commitments and credit grants active in a period, or their Purchase rows (format=purchases) (scope read)"
  ))

const reconcile = HttpApiGroup.make("reconcile")
  .add(HttpApiEndpoint.post("uploadProviderReport", "/api/v1/reconcile/reports", {
    query: {
      format: DescribedString("The report's format (openai-costs, anthropic-cost-report, csv, ...)"),
      name: Schema.optionalKey(Schema.String)
    },
    payload: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/plain" })),
    success: Json.annotate({ identifier: "ProviderReport" }),
    error: [...common, Invalid, TooLarge]
  }).annotate(OpenApi.Summary, "Upload a provider's cost report to reconcile against (scope admin)"))

const operations = HttpApiGroup.make("operations")
  .add(HttpApiEndpoint.get("healthz", "/healthz", { success: Schema.Struct({ status: Schema.Literal("ok") }) })
    .annotate(OpenApi.Summary, "The process answers"))
  .add(HttpApiEndpoint.get("readyz", "/readyz", {
    success: Schema.Struct({ status: Schema.Literal("ready"), database: Schema.String, migration: Schema.Int }),
    error: Json.pipe(HttpApiSchema.status(503))
  }).annotate(OpenApi.Summary, "The database answers and every migration is applied"))
  .add(HttpApiEndpoint.get("metrics", "/metrics", {
    success: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/plain" }))
  }).annotate(OpenApi.Summary, "Prometheus metrics (text exposition format)"))
  .add(HttpApiEndpoint.get("openapi", "/openapi.json", { success: Json })
    .annotate(OpenApi.Summary, "This document"))
  .add(HttpApiEndpoint.get("graphqlGet", "/graphql", {
    query: { query: Schema.optionalKey(Schema.String) },
    success: Json
  }).annotate(OpenApi.Summary, "GraphQL over GET (queries), GraphiQL for a browser"))
  .add(HttpApiEndpoint.post("graphqlPost", "/graphql", { payload: Json, success: Json })
    .annotate(OpenApi.Summary, "GraphQL over POST (queries and mutations); subscriptions over SSE"))

/** Routes anyone may call. */
const public_ = new Set(["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])

export const api = HttpApi.make("tally")
  .add(ingest)
  .add(budgets)
  .add(exportsGroup)
  .add(reconcile)
  .add(operations)
  .annotate(OpenApi.Title, "Tally worker API")
  .annotate(OpenApi.Description, "Usage in, budgets, exports and reconciliation of the Tally worker. Authenticate with `Authorization: Bearer tly_…`. Errors are RFC 9457 problem details.")
  .annotate(OpenApi.Version, "0.1.0")
  // The routes authenticate in their handlers (`Auth.authenticate`), not through HttpApi middleware,
  // so the scheme is added to the document here; the health, metrics and document routes need none.
  .annotate(OpenApi.Transform, (spec) => ({
    ...spec,
    components: { ...spec["components"], securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "A Tally API key, tly_…" } } },
    paths: Object.fromEntries(Object.entries(spec["paths"] as Record<string, Record<string, Record<string, unknown>>>).map(([path, operations]) => [
      path,
      public_.has(path) ? operations : Object.fromEntries(Object.entries(operations).map(([method, operation]) => [method, { ...operation, security: [{ bearer: [] }] }]))
    ]))
  }))

/** The OpenAPI 3.1 document. */
export const document = OpenApi.fromApi(api)

