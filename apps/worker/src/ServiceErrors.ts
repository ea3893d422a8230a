/**
 * The one table of how the API answers the services' typed errors. Each error's `_tag` maps to
 * its HTTP answer (status, the body's `code`, the message) and to the GraphQL error it becomes
 * (`NotFound`, `Conflict`, `InvalidInput`, `UNAVAILABLE`). The table is typed by the error
 * classes themselves, so a tag that is renamed or a field that moves fails to compile here
 * rather than falling through at run time. An error with a tagged `reason` (`SqlError`: a
 * connection, deadlock or constraint failure) is answered by its tag alone: every reason of it
 * is "the database failed".
 *
 * HTTP routes answer through `respond`; GraphQL resolvers' failures go through `toGraphql`
 * (see `graphql/Context.ts`).
 */
import type { ApiKey, Budget, Commitment, CostAllocation, Credit, Fx, Reservation, SalePrice, Tenant, TenantPriceBook, UsageQuery } from "@tally/core"
import type { ModelPolicy } from "@tally/catalog"
import type { Chargeback, Enforcement, Reconcile, Reprice, TenantPricing } from "@tally/engine"
import type { CustomerStatements, Outbox, SalePrices } from "@tally/store"
import * as Effect from "effect/Effect"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"
import { Conflict, InvalidInput, NotFound, unavailable } from "./graphql/Errors.ts"
import { GraphQLError } from "./graphql/internal/Graphql.ts"
import * as ApiError from "./server/ApiError.ts"

/** A request an HTTP route cannot answer as asked, e.g. a bad query parameter: 400 `invalid_request`. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", { message: Schema.String }) {}

/** Every typed error the API answers. */
export type ServiceError =
  | SqlError
  | ApiError.ApiError
  | InvalidRequest
  | Tenant.TenantNotFound
  | Tenant.TenantAlreadyExists
  | Tenant.InvalidTenant
  | ApiKey.ApiKeyNotFound
  | ApiKey.InvalidApiKey
  | Budget.BudgetNotFound
  | Budget.BudgetArchived
  | Budget.InvalidBudget
  | Reservation.ReservationNotFound
  | TenantPriceBook.DefinitionExists
  | TenantPriceBook.CustomDefinitionNotFound
  | TenantPriceBook.MultiplierNotFound
  | TenantPriceBook.InvalidPriceBookEntry
  | Outbox.InvalidWebhook
  | UsageQuery.InvalidQuery
  | Enforcement.InvalidEnforcementRequest
  | Reservation.ReservationClosed
  | CostAllocation.InvalidChargeback
  | Chargeback.RunNotFound
  | Chargeback.RunAlreadyFinal
  | Chargeback.PeriodFinalized
  | Chargeback.RunStale
  | TenantPricing.InvalidPricing
  | TenantPricing.DefinitionNotFound
  | Reconcile.Compare.ReportInvalid
  | ModelPolicy.InvalidPolicy
  | ModelPolicy.PolicyNotFound
  | Reprice.InvalidReprice
  | Commitment.InvalidCommitment
  | Commitment.CommitmentNotFound
  | Credit.InvalidCredit
  | Credit.GrantNotFound
  | Fx.InvalidRate
  | Fx.RateMissing
  | SalePrice.InvalidSaleRule
  | SalePrice.SaleRuleNotFound
  | SalePrices.CallPriceNotFound
  | CustomerStatements.InvalidStatement
  | CustomerStatements.StatementOverlap
  | CustomerStatements.StatementNotFound

export interface HttpAnswer {
  readonly status: number
  readonly code: string
  readonly message: string
}

export interface Answer<E> {
  readonly http: (error: E) => HttpAnswer
  readonly graphql: (error: E) => Error
}

type Tag = ServiceError["_tag"]
type ErrorOf<K extends Tag> = Extract<ServiceError, { readonly _tag: K }>

const own = (status: number, code: string) => (error: { readonly message: string }): HttpAnswer => ({ status, code, message: error.message })

const notFound = <E extends { readonly message: string }>(resource: string, id: (error: E) => string): Answer<E> => ({
  http: own(404, "not_found"),
  graphql: (error) => new NotFound(error.message, resource, id(error))
})

const conflict = <E extends { readonly message: string }>(code: string): Answer<E> => ({
  http: own(409, code),
  graphql: (error) => new Conflict(error.message)
})

/** An input error naming its field; `status` is 422 for bodies, 400 for query parameters. */
const invalidInput = <E extends { readonly message: string; readonly field: string }>(status: 400 | 422 = 422): Answer<E> => ({
  http: own(status, "invalid_request"),
  graphql: (error) => new InvalidInput(error.message, error.field)
})

/** GraphQL passes these on as they are (an internal error to the client); no resolver raises them. */
const asIs = (error: Error): Error => error

export const table: { readonly [K in Tag]: Answer<ErrorOf<K>> } = {
  SqlError: {
    http: () => ({ status: 503, code: "unavailable", message: "the database is unavailable; retry later" }),
    graphql: unavailable
  },
  ApiError: { http: (error) => ({ status: error.status, code: error.code, message: error.message }), graphql: asIs },
  InvalidRequest: { http: own(400, "invalid_request"), graphql: asIs },
  TenantNotFound: {
    // Over HTTP the tenant is the API key's: a key whose tenant is gone is no key.
    http: () => ({ status: 401, code: "unauthorized", message: "the API key's tenant does not exist" }),
    graphql: (error) => new NotFound(error.message, "tenant", error.tenantId)
  },
  TenantAlreadyExists: conflict("tenant_already_exists"),
  InvalidTenant: invalidInput(),
  ApiKeyNotFound: notFound("apiKey", (error) => error.keyId),
  InvalidApiKey: invalidInput(),
  BudgetNotFound: notFound("budget", (error) => error.budgetId),
  BudgetArchived: conflict("budget_archived"),
  InvalidBudget: invalidInput(),
  ReservationNotFound: notFound("reservation", (error) => error.reservationId),
  DefinitionExists: conflict("definition_exists"),
  CustomDefinitionNotFound: notFound("model", (error) => error.definitionId),
  MultiplierNotFound: notFound("priceMultiplier", (error) => error.multiplierId),
  InvalidPriceBookEntry: invalidInput(),
  InvalidWebhook: invalidInput(),
  InvalidQuery: invalidInput(),
  InvalidEnforcementRequest: invalidInput(),
  ReservationClosed: conflict("reservation_closed"),
  InvalidChargeback: invalidInput(400),
  RunNotFound: notFound("chargebackRun", (error) => error.runId),
  RunAlreadyFinal: conflict("run_already_final"),
  PeriodFinalized: conflict("period_finalized"),
  RunStale: conflict("run_stale"),
  InvalidPricing: invalidInput(),
  DefinitionNotFound: notFound("model", (error) => error.definitionId),
  ReportInvalid: { http: own(422, "invalid_report"), graphql: asIs },
  InvalidPolicy: invalidInput(),
  PolicyNotFound: notFound("modelPolicy", (error) => error.policyId),
  InvalidReprice: invalidInput(),
  InvalidCommitment: invalidInput(),
  CommitmentNotFound: notFound("commitment", (error) => error.commitmentId),
  InvalidCredit: invalidInput(),
  GrantNotFound: notFound("creditGrant", (error) => error.grantId),
  InvalidRate: invalidInput(),
  // A conversion that needs a rate nobody recorded: the input (the period) cannot be converted yet.
  RateMissing: {
    http: own(422, "rate_missing"),
    graphql: (error) => new InvalidInput(error.message, "rates")
  },
  InvalidSaleRule: invalidInput(),
  SaleRuleNotFound: notFound("salePriceRule", (error) => error.ruleId),
  CallPriceNotFound: notFound("callPrice", (error) => error.requestId),
  InvalidStatement: invalidInput(),
  StatementOverlap: conflict("statement_overlap"),
  StatementNotFound: notFound("customerStatement", (error) => error.statementId)
}

const answerOf = <E extends ServiceError>(error: E): Answer<E> => table[error._tag] as unknown as Answer<E>

/** The HTTP answer to an error. */
export const toHttp = (error: ServiceError): HttpAnswer => answerOf(error).http(error)

/**
 * Answers a route's typed failures from the table, in the worker's error body. Failures of the
 * server's own (5xx) are logged as `<what> failed: <message>`.
 */
export const respond = (what: string) =>
<R>(
  effect: Effect.Effect<HttpServerResponse.HttpServerResponse, ServiceError, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  Effect.catch(effect, (error) => {
    const answer = toHttp(error)
    const response = ApiError.respond(answer.status, answer.code, answer.message)
    return answer.status >= 500
      ? Effect.as(Effect.logError(`${what} failed: ${error.message}`), response)
      : Effect.succeed(response)
  })

const isTagged = (u: unknown): u is { readonly _tag: string; readonly message: string; readonly field?: unknown } =>
  typeof u === "object" && u !== null && typeof (u as { _tag?: unknown })._tag === "string" &&
  typeof (u as { message?: unknown }).message === "string"

/**
 * A resolver's failure as what the API returns: the API's own errors as they are, a service error
 * from the table, any other error that names a `field` as invalid input (the convention of every
 * service), and the rest as they are (an internal error whose details stay in the log).
 */
export const toGraphql = (error: unknown): Error => {
  if (error instanceof GraphQLError) return error
  if (!isTagged(error)) return new Error(String(error))
  if (Object.hasOwn(table, error._tag)) return answerOf(error as ServiceError).graphql(error as ServiceError)
  if (typeof error.field === "string") return new InvalidInput(error.message, error.field)
  return error as unknown as Error
}
