/**
 * Every `tally` command's flags, arguments and descriptions: what `--help`, shell completions and
 * parse errors are made of. The implementations in `commands/` receive the parsed values and are
 * imported only when their command runs, so `--help` loads none of them.
 */
import { leaf } from "./Spec.ts"

// ---------------------------------------------------------------------------------------------
// Shared flag groups

export const databaseFlags = {
  "database-url": {
    type: "string",
    metavar: "url",
    description: "PostgreSQL to work on (postgres://…); overrides TALLY_DATABASE_URL"
  },
  "data-dir": {
    type: "string",
    metavar: "dir",
    description: "the embedded PGlite database's directory; overrides TALLY_DATA_DIR (default ./.tally/data)"
  }
} as const

const tenantFlag = { type: "string", metavar: "id", required: true, description: "the tenant" } as const

const formatTable = {
  type: "string",
  metavar: "json|table",
  description: "json (default, for scripts) or table (for people, on stdout)"
} as const

const payloadFlags = {
  provider: {
    type: "string",
    metavar: "id",
    description: "provider id or alias (openai, azure, anthropic, google, bedrock, mistral, cohere, xai, otel, the OpenAI-compatible ids…); may come from an envelope"
  },
  api: { type: "string", metavar: "api", description: "the provider API of the payload (detected from it when absent)" },
  model: { type: "string", metavar: "model", description: "the model the request used, for payloads that name none; a model in the payload wins" },
  request: { type: "string", metavar: "request.json", description: "the request the payload answers (some usage is only in the request)" },
  batch: { type: "boolean", description: "the call ran through the provider's batch API (batch prices)" }
} as const

const bookFlags = {
  catalog: { type: "string", metavar: "custom.json", description: "a custom catalog file (tally.catalog/v1) over the built-in one" },
  "no-builtin": { type: "boolean", description: "use the custom catalog file only" },
  tenant: { type: "string", metavar: "id", description: "scope: the tenant whose custom layers apply" },
  project: { type: "string", metavar: "name", description: "scope: the project whose custom layers apply" },
  team: { type: "string", metavar: "name", description: "scope: the team whose custom layers apply" },
  "api-key": { type: "string", metavar: "id", description: "scope: the API key whose custom layers apply" }
} as const

const budgetScopeFlags = {
  project: { type: "string", metavar: "value", description: "scope the budget to one project" },
  environment: { type: "string", metavar: "value", description: "scope the budget to one environment" },
  feature: { type: "string", metavar: "value", description: "scope the budget to one feature" },
  team: { type: "string", metavar: "value", description: "scope the budget to one team" },
  customer: { type: "string", metavar: "value", description: "scope the budget to one customer" },
  "api-key": { type: "string", metavar: "id", description: "scope the budget to one API key" },
  model: { type: "string", metavar: "value", description: "scope the budget to one model" }
} as const

const at = (what: string) => ({ type: "string", metavar: "ISO time", description: what }) as const
const from = { type: "string", metavar: "ISO time", description: "start of the period (inclusive): 2026-05-01 or 2026-05-01T12:00:00Z" } as const
const to = { type: "string", metavar: "ISO time", description: "end of the period (exclusive)" } as const
const by = { type: "string", metavar: "actor", description: "who does it, for the audit trail (default cli)" } as const
const periodFlag = { type: "string", metavar: "day|week|month", description: "the budget period, in the tenant's time zone" } as const

// ---------------------------------------------------------------------------------------------
// Pricing without a database

export const price = leaf({
  description: "Prices one usage with one pricing snapshot and prints the cost breakdown",
  flags: {
    snapshot: { type: "string", metavar: "snapshot.json", required: true, description: "the pricing snapshot file" },
    usage: { type: "string", metavar: "usage.json|-", required: true, description: "the usage to price (- for stdin)" },
    round: { type: "string", metavar: "places", description: "round for display: total half-even, lines by largest remainder" }
  },
  examples: [{ command: "tally price --snapshot examples/gpt-4o.snapshot.json --usage examples/usage.json", description: "price a usage" }]
})

export const normalize = leaf({
  description: "Turns a raw provider payload into disjoint usage buckets (the NormalizedCall)",
  flags: payloadFlags,
  args: { name: "payload.json|-", description: "a JSON response, a stream (JSON array, SSE or NDJSON), an HTTP capture or an envelope; - for stdin" }
})

export const cost = leaf({
  description:
    "Normalizes a payload, matches its model in the price book at the call's time and prices it exactly. The time is --at, else the event's occurredAt, else now; the output's pricedAt says which",
  flags: {
    ...payloadFlags,
    at: at("when the call happened (2026-05-01 or 2026-05-01T12:00:00Z); wins over the event's occurredAt; default now"),
    catalog: bookFlags.catalog,
    "no-builtin": bookFlags["no-builtin"]
  },
  args: { name: "payload.json|-", description: "the payload, an envelope or event (with occurredAt), or a batch results file; - for stdin" },
  examples: [{ command: "tally cost --provider anthropic --at 2026-05-01 messages.json", description: "price a call as of a date" }]
})

// ---------------------------------------------------------------------------------------------
// Catalog

export const catalogList = leaf({
  description: "Definitions the scope sees, sorted by provider then id",
  flags: {
    ...bookFlags,
    provider: { type: "string", metavar: "id", description: "only this provider (aliases accepted: bedrock → aws)" },
    search: { type: "string", metavar: "text", description: "match id, model key or display name, case-insensitive" },
    maintainer: { type: "string", metavar: "built-in|custom", description: "only built-in or only custom definitions" },
    at: at("the instant whose snapshot (and $/1M prices in the table) to show"),
    format: formatTable
  }
})

export const catalogShow = leaf({
  description: "One definition with its price history, overrides applied",
  flags: { ...bookFlags, at: at("also say which history entry is in force at this instant") },
  args: { name: "definition-id", description: "the definition, e.g. openai/gpt-4o" }
})

export const catalogExplain = leaf({
  description: "Explains how a model name matches (or fails to match) the catalog; exit 3 when nothing matches",
  flags: {
    ...bookFlags,
    model: { type: "string", metavar: "model", required: true, description: "the model name as a call reports it" },
    provider: { type: "string", metavar: "id", description: "the provider the call went to" },
    at: at("the instant to match at (default now)")
  }
})

export const catalogCoverage = leaf({
  description: "Which observed model names the catalog prices, and the cost at risk of the others",
  flags: {
    ...bookFlags,
    at: at("the instant for items without their own at (default now)"),
    reference: { type: "string", metavar: "definition-id", description: "estimate unmatched usage at this definition's prices" },
    strict: { type: "boolean", description: "exit 3 when a name is unmatched or has unpriced buckets" }
  },
  args: { name: "models.json|-", description: "a JSON array (or {models: [...]}) of model names or {model, provider?, count?, usage?, at?}" }
})

export const catalogAudit = leaf({
  description: "Every rate derived from another rate or standing in for a missing one; with --tenant, the ledger's calls priced so",
  flags: {
    ...bookFlags,
    ...databaseFlags,
    at: at("the instant whose rates to audit (default now)"),
    provider: { type: "string", metavar: "id", description: "only this provider" },
    kind: {
      type: "string",
      multiple: true,
      metavar: "kind",
      description: "keep rate-fallback, reasoning-at-output, cache-read-discount or batch-at-list (repeatable)"
    },
    from: { ...from, description: "with --tenant: start of the ledger period" },
    to: { ...to, description: "with --tenant: end of the ledger period (exclusive)" }
  }
})

export const catalogImport = leaf({
  description: "Turns a LiteLLM price map, a CSV or a JSON list of custom models into a custom catalog file",
  flags: {
    format: { type: "string", metavar: "litellm|csv|json", required: true, description: "the input's format" },
    out: { type: "string", metavar: "file|-", description: "write the custom catalog here (- for stdout: the catalog alone); default: in the report" },
    "id-prefix": { type: "string", metavar: "prefix", description: "LiteLLM only: prefix of the definition ids (default litellm:)" },
    "effective-from": { type: "string", metavar: "ISO time", description: "LiteLLM only: when the imported prices start" },
    "no-builtin": { type: "boolean", description: "check the output without the built-in catalog" }
  },
  args: { name: "file|-", description: "the price list (- for stdin)" }
})

// ---------------------------------------------------------------------------------------------
// Data in and out

export const ingest = leaf({
  description:
    "Loads usage events into the ledger: NDJSON or a JSON array of ingest events (raw payloads), streamed in batches, with progress and a summary on stderr. Idempotent on (tenant, requestId): rerun it after an interruption",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    "batch-size": { type: "string", metavar: "n", description: "events per transaction (default 500, at most 5000)" },
    quiet: { type: "boolean", description: "no progress on stderr (the summary line stays)" }
  },
  args: { name: "events.ndjson|events.json|-", description: "the events (- for stdin); the format is told by the first character ([ for an array)" },
  examples: [{ command: "tally ingest --tenant acme events.ndjson", description: "load a file of events" }]
})

export const usage = leaf({
  description: "Spend and tokens of a period from the hourly rollups, grouped and bucketed",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    from: { ...from, required: true },
    to: { ...to, required: true },
    "group-by": {
      type: "string",
      multiple: true,
      metavar: "dimension",
      description: "provider, model, project, environment, feature, team, customer or apiKey (repeatable, or comma-separated)"
    },
    granularity: { type: "string", metavar: "hour|day|month|total", description: "one row per bucket of this size (default total), in UTC" },
    format: { type: "string", metavar: "json|table|csv", description: "json (default), table (for people) or csv" },
    out: { type: "string", metavar: "file|-", description: "write the result there instead of stdout (- is stdout)" }
  },
  examples: [{
    command: "tally usage --tenant acme --from 2026-11-01 --to 2026-12-01 --group-by model --granularity day --format table",
    description: "daily spend per model"
  }]
})

export const importLitellm = leaf({
  description:
    "Turns a LiteLLM SpendLogs export into ingest events (LiteLLM's spend kept as the reported cost) and ingests them, so reconcile shows where LiteLLM's cost differs",
  flags: {
    ...databaseFlags,
    tenant: { type: "string", metavar: "id", description: "the tenant to ingest for (required unless --out)" },
    out: { type: "string", metavar: "file|-", description: "write the events as NDJSON instead of ingesting them (- for stdout)" },
    quiet: { type: "boolean", description: "no progress on stderr" }
  },
  args: { name: "spend-logs.json|-", description: "the export: a JSON array of SpendLogs rows, or NDJSON (- for stdin)" }
})

export const reprice = leaf({
  description:
    "Prices a tenant's recorded calls of [from, to) again with the price book in force at each call's time: unpriced and partial calls become priced where a price now exists, a changed price becomes a correction. A second run changes nothing",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    from: { ...from, required: true },
    to: { ...to, required: true },
    "only-unpriced": { type: "boolean", description: "only calls that are unpriced or partial" },
    "dry-run": { type: "boolean", description: "print the same summary and write nothing" },
    by
  }
})

// ---------------------------------------------------------------------------------------------
// One decision and model policies (a gateway's hot path, from scripts)

/** The labels of a call (decide) or the scope of a policy, as the budget scope flags name them. */
const labelFlagsFor = (describe: (label: string) => string) => ({
  project: { type: "string", metavar: "value", description: describe("project") },
  environment: { type: "string", metavar: "value", description: describe("environment") },
  feature: { type: "string", metavar: "value", description: describe("feature") },
  team: { type: "string", metavar: "value", description: describe("team") },
  customer: { type: "string", metavar: "value", description: describe("customer") },
  "api-key": { type: "string", metavar: "id", description: describe("API key") }
}) as const

export const decide = leaf({
  description:
    "Decides whether a call may go ahead: allow or deny with every reason (each refusing policy, each block budget it would overspend and what remains). A denial is an answer (allowed false, exit 0)",
  flags: {
    ...databaseFlags,
    ...labelFlagsFor((label) => `the call's ${label}`),
    tenant: tenantFlag,
    model: { type: "string", metavar: "model", required: true, description: "the model the call asks for" },
    provider: { type: "string", metavar: "provider", description: "the provider (helps the catalog match the model)" },
    cost: { type: "string", metavar: "decimal", description: "the estimated cost (default: priced from the token estimates)" },
    "input-tokens": { type: "string", metavar: "n", description: "estimated input tokens" },
    "output-tokens": { type: "string", metavar: "n", description: "estimated output tokens" },
    reserve: { type: "boolean", description: "hold the estimate on every covering budget when allowed (as reserve does)" },
    "request-id": { type: "string", metavar: "id", description: "the hold's request id (with --reserve)" },
    "ttl-seconds": { type: "string", metavar: "n", description: "how long the hold lives before it is released (with --reserve)" }
  }
})

export const policyCreate = leaf({
  description: "Creates a model policy for the tenant or one scope: allow/deny lists, priced models only, per-call limits",
  flags: {
    ...databaseFlags,
    ...labelFlagsFor((label) => `scope the policy to one ${label}`),
    tenant: tenantFlag,
    name: { type: "string", metavar: "name", required: true, description: "the policy's name" },
    "allow-provider": { type: "string", metavar: "provider", multiple: true, description: "only these providers (repeatable)" },
    "deny-provider": { type: "string", metavar: "provider", multiple: true, description: "never these providers (repeatable)" },
    "allow-model": { type: "string", metavar: "rule", multiple: true, description: "only models matching a rule: an exact name, startsWith:x or regex:x (repeatable)" },
    "deny-model": { type: "string", metavar: "rule", multiple: true, description: "never models matching a rule (repeatable)" },
    "priced-only": { type: "boolean", description: "refuse a model the tenant's price book cannot price" },
    "max-output-tokens": { type: "string", metavar: "n", description: "refuse a call estimating more output tokens" },
    "max-cost-per-call": { type: "string", metavar: "decimal", description: "refuse a call estimated to cost more" }
  }
})

export const policyList = leaf({
  description: "Active model policies in creation order",
  flags: { ...databaseFlags, tenant: tenantFlag, all: { type: "boolean", description: "also archived policies" } }
})

export const policyArchive = leaf({
  description: "Archives a model policy (policies are not edited: archive and create another)",
  flags: { ...databaseFlags, tenant: tenantFlag, policy: { type: "string", metavar: "id", required: true, description: "the policy" } }
})

// ---------------------------------------------------------------------------------------------
// Commitments and prepaid credits

const commitmentFlag = { type: "string", metavar: "id", required: true, description: "the commitment" } as const
const feePeriod = { type: "string", metavar: "hour|month", description: "what the fee is per (a month fee is prorated by calendar month)" } as const
const scopeFlags = {
  provider: { type: "string", metavar: "provider", description: "only calls of this provider" },
  model: { type: "string", metavar: "model", description: "only calls of this model (a prefix when it ends in *)" },
  deployment: { type: "string", metavar: "name|arn", description: "only calls with this deployment (tag deployment) or Bedrock provisioned-model ARN" }
} as const

export const commitmentCreate = leaf({
  description:
    "Creates a commitment: a committed-use discount (--kind spend) or provisioned throughput (--kind provisioned: calls served on it cost 0 at the margin, spillover is priced on demand)",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    name: { type: "string", metavar: "name", required: true, description: "the commitment's name (shown in the calls' cost conditions)" },
    kind: { type: "string", metavar: "spend|provisioned", required: true, description: "a committed-use discount or provisioned throughput" },
    ...scopeFlags,
    currency: { type: "string", metavar: "XXX", required: true, description: "the currency of the fee and of the calls it covers" },
    "discount-percent": { type: "string", metavar: "percent", description: "spend: the percentage taken off covered calls" },
    amount: { type: "string", metavar: "decimal", description: "spend: the committed spend per calendar month" },
    fee: { type: "string", metavar: "decimal", description: "provisioned: the capacity's fee per --fee-period" },
    "fee-period": feePeriod,
    "starts-at": { ...at("when it starts applying"), required: true },
    "ends-at": at("when it stops applying (exclusive; default open-ended)")
  }
})

export const commitmentList = leaf({
  description: "Commitments in creation order",
  flags: { ...databaseFlags, tenant: tenantFlag, all: { type: "boolean", description: "also archived commitments" } }
})

export const commitmentArchive = leaf({
  description: "Archives a commitment: it stops applying to calls ingested from now on; its reports stay",
  flags: { ...databaseFlags, tenant: tenantFlag, commitment: commitmentFlag }
})

export const commitmentReport = leaf({
  description: "A commitment over a period: its fee, the usage it covered, spillover, utilisation, what on demand would have cost, savings",
  flags: { ...databaseFlags, tenant: tenantFlag, commitment: commitmentFlag, from: { ...from, required: true }, to: { ...to, required: true } }
})

export const commitmentFocus = leaf({
  description:
    "FOCUS 1.3 of a period's commitments and credit packs: the Contract Commitment dataset (commitments and currency credit grants active in it) and the Purchase rows (provisioned-throughput fees, packs granted in it)",
  flags: { ...databaseFlags, tenant: tenantFlag, from: { ...from, required: true }, to: { ...to, required: true } }
})

export const commitmentBreakEven = leaf({
  description: "Whether provisioned capacity at a fee would have paid for itself on the scope's last 30 days of usage",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    ...scopeFlags,
    currency: { type: "string", metavar: "XXX", required: true, description: "the currency of the fee and of the usage" },
    fee: { type: "string", metavar: "decimal", required: true, description: "the capacity's fee per --fee-period" },
    "fee-period": { ...feePeriod, required: true },
    at: at("end of the 30-day window (default now)")
  }
})

const accountFlags = {
  customer: { type: "string", metavar: "id", description: "the customer (label customer)" },
  team: { type: "string", metavar: "id", description: "the team (label team)" }
} as const

export const creditsGrant = leaf({
  description: "Grants a credit pack to a customer or a team: recorded calls draw it down by their sale price (or cost), or by tokens",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    ...accountFlags,
    unit: { type: "string", metavar: "XXX|tokens", required: true, description: "a currency code, or tokens" },
    amount: { type: "string", metavar: "decimal", required: true, description: "what the pack holds" },
    priority: { type: "string", metavar: "n", description: "lower is drawn first (default 0)" },
    "effective-at": at("calls from this instant draw it (default now)"),
    "expires-at": at("calls from this instant no longer draw it"),
    "alert-at": { type: "string", metavar: "decimal", multiple: true, description: "a balance whose crossing downwards sends credit.balance_low (repeatable)" },
    enforce: { type: "boolean", description: "refuse reservations that would overdraw the account's balance" },
    note: { type: "string", metavar: "text", description: "a note kept with the grant" }
  }
})

export const creditsList = leaf({
  description: "Credit grants in grant order, of one customer or team when given",
  flags: { ...databaseFlags, tenant: tenantFlag, ...accountFlags, all: { type: "boolean", description: "also voided grants" } }
})

export const creditsBalance = leaf({
  description: "A customer's or team's credit balance per unit, with the grants in draw order",
  flags: { ...databaseFlags, tenant: tenantFlag, ...accountFlags, at: at("the instant (default now)") }
})

export const creditsVoid = leaf({
  description: "Voids a grant: it stops paying for calls; what it paid stays drawn",
  flags: { ...databaseFlags, tenant: tenantFlag, grant: { type: "string", metavar: "id", required: true, description: "the grant" } }
})

// ---------------------------------------------------------------------------------------------
// The worker

const serveFlagsBase = {
  port: { type: "string", metavar: "n", description: "the HTTP port (TALLY_PORT; 0 picks a free one)" },
  host: { type: "string", metavar: "addr", description: "the address to listen on (TALLY_HOST)" },
  ...databaseFlags
} as const

export const serve = leaf({
  description: "The worker: HTTP and OTLP ingest, NATS consumer, GraphQL, health, metrics and the background jobs, until SIGTERM or SIGINT",
  flags: {
    ...serveFlagsBase,
    "nats-url": { type: "string", metavar: "nats://…", description: "consume usage from NATS JetStream (TALLY_NATS_URL)" },
    "max-body-bytes": { type: "string", metavar: "n", description: "largest request body accepted (TALLY_MAX_BODY_BYTES)" },
    "max-batch-events": { type: "string", metavar: "n", description: "most events in one ingest request (TALLY_MAX_BATCH_EVENTS)" }
  }
})

export const demo = leaf({
  description: "What pnpm start runs: tally serve on 127.0.0.1 with a demo tenant, a curl to try and a console link",
  // Every flag of serve, as before the port.
  flags: serve.flags
})

export const publish = leaf({
  description: "Puts usage events on NATS JetStream for the workers to ingest",
  flags: {
    tenant: tenantFlag,
    "nats-url": { type: "string", metavar: "nats://…", description: "the NATS server (TALLY_NATS_URL)" },
    "per-message": { type: "string", metavar: "n", description: "events per message (default 100)" }
  },
  args: { name: "events.json|-", description: "a JSON array of ingest events (- for stdin)" }
})

export const rollupsRebuild = leaf({
  description: "Recomputes the hourly rollups of a period from the usage ledger",
  flags: {
    from: { ...from, required: true },
    to: { ...to, required: true },
    tenant: { type: "string", metavar: "id", description: "only this tenant (default every tenant)" },
    ...databaseFlags
  }
})

// ---------------------------------------------------------------------------------------------
// Tenants and keys

export const tenantCreate = leaf({
  description: "Creates a tenant and its first API key (every scope); the key's secret is shown only here",
  flags: {
    ...databaseFlags,
    name: { type: "string", metavar: "name", required: true, description: "the tenant's name" },
    id: { type: "string", metavar: "id", description: "1 to 128 letters, digits or _.:- (default a generated tnt_…)" },
    currency: { type: "string", metavar: "XXX", description: "ISO 4217 currency of its budgets and chargeback (default USD)" },
    "time-zone": { type: "string", metavar: "zone", description: "IANA time zone that cuts its days, weeks and months (default UTC)" }
  }
})

export const tenantList = leaf({ description: "Lists the tenants", flags: databaseFlags })

export const apikeyCreate = leaf({
  description: "Issues an API key; its secret is shown only here",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    scopes: { type: "string", metavar: "ingest,read,admin", required: true, description: "comma-separated scopes" },
    label: { type: "string", multiple: true, metavar: "name=value", description: "a default label for every event sent with the key (repeatable)" },
    name: { type: "string", metavar: "name", description: "the key's name (default cli)" }
  }
})

export const apikeyList = leaf({ description: "Lists a tenant's API keys", flags: { ...databaseFlags, tenant: tenantFlag } })

export const apikeyRevoke = leaf({
  description: "Revokes an API key from the next request on",
  flags: { ...databaseFlags, tenant: tenantFlag, key: { type: "string", metavar: "key id", required: true, description: "the key to revoke" } }
})

// ---------------------------------------------------------------------------------------------
// Budgets

const thresholdFlag = { type: "string", multiple: true, metavar: "percent", description: "alert at this percentage of the amount (repeatable)" } as const
const actionFlag = { type: "string", metavar: "alert|block", description: "what crossing 100% does (default alert)" } as const

export const budgetCreate = leaf({
  description: "Creates a budget for the tenant or one scope",
  flags: {
    ...databaseFlags,
    ...budgetScopeFlags,
    tenant: tenantFlag,
    name: { type: "string", metavar: "name", required: true, description: "the budget's name" },
    period: {
      type: "string",
      metavar: "day|week|month|rolling",
      required: true,
      description: "the budget period, in the tenant's time zone, or rolling (a window of --window-seconds ending now)"
    },
    amount: { type: "string", metavar: "decimal", required: true, description: "the amount per period, in the budget's unit (the tenant's currency for cost)" },
    unit: { type: "string", metavar: "cost|tokens|requests", description: "what the budget counts (default cost)" },
    "token-kind": { type: "string", metavar: "total|input|output", description: "which tokens a tokens budget counts (default total)" },
    "window-seconds": { type: "string", metavar: "n", description: "the rolling window's length in seconds (1 s to 31 days; period rolling only)" },
    threshold: thresholdFlag,
    action: actionFlag
  }
})

export const budgetList = leaf({
  description: "Active budgets in creation order",
  flags: { ...databaseFlags, tenant: tenantFlag, all: { type: "boolean", description: "also archived budgets" } }
})

export const budgetStatus = leaf({
  description: "Spend, utilisation and forecast of the budgets' current periods",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    budget: { type: "string", metavar: "id", description: "only this budget" },
    at: at("the instant whose period to show (default now)"),
    format: { ...formatTable, description: "json (default) or table (a bar and the forecast per budget)" }
  }
})

export const budgetSuggest = leaf({
  description: "Suggests a budget for a scope from its daily spend",
  flags: {
    ...databaseFlags,
    ...budgetScopeFlags,
    tenant: tenantFlag,
    period: { ...periodFlag, required: true },
    "lookback-days": { type: "string", metavar: "30..60", description: "whole local days of history to use (default 30)" }
  }
})

export const budgetUpdate = leaf({
  description: "Changes a budget's name, amount, thresholds, action or period",
  flags: {
    ...databaseFlags,
    ...budgetScopeFlags,
    tenant: tenantFlag,
    budget: { type: "string", metavar: "id", required: true, description: "the budget" },
    name: { type: "string", metavar: "name", description: "a new name for the budget" },
    amount: { type: "string", metavar: "decimal", description: "a new amount per period" },
    threshold: thresholdFlag,
    action: actionFlag,
    period: periodFlag,
    by
  }
})

export const budgetArchive = leaf({
  description: "Archives a budget: it stops being evaluated",
  flags: { ...databaseFlags, tenant: tenantFlag, budget: { type: "string", metavar: "id", required: true, description: "the budget" }, by }
})

export const budgetWebhook = leaf({
  description: "Sets where the tenant's alerts are posted and the secret that signs them, or removes it",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    url: { type: "string", metavar: "url", description: "the receiver's URL" },
    secret: { type: "string", metavar: "secret", description: "16 to 200 characters that sign the messages" },
    remove: { type: "boolean", description: "remove the webhook" }
  }
})

// ---------------------------------------------------------------------------------------------
// Anomalies, chargeback, reconcile

export const anomalies = leaf({
  description: "Anomaly findings whose window overlaps [from, to) (default the last 7 days); --detect runs detection first",
  flags: {
    tenant: tenantFlag,
    from: { ...from, description: "start of the window (default 7 days before now)" },
    to: { ...to, description: "end of the window (default now)" },
    detect: { type: "boolean", description: "run detection first (a backfill over every hour when --from or --to is given)" },
    kind: {
      type: "string",
      multiple: true,
      metavar: "kind",
      description: "keep spend_spike, token_rate_spike, model_mix_shift or cost_per_request_jump (repeatable)"
    },
    scope: {
      type: "string",
      multiple: true,
      metavar: "scope",
      description: "keep tenant, project, feature, team, customer, apiKey or model findings (repeatable)"
    },
    limit: { type: "string", metavar: "n", description: "at most this many findings" },
    format: formatTable,
    ...databaseFlags
  }
})

export const chargebackRun = leaf({
  description: "Splits a period's spend among the owners of a dimension and stores a draft run",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    month: { type: "string", metavar: "YYYY-MM", description: "a calendar month of the tenant's time zone" },
    from: { ...from, description: "start of the period, instead of --month" },
    to: { ...to, description: "end of the period (at most 367 days after --from)" },
    dimension: {
      type: "string",
      metavar: "dimension",
      required: true,
      description: "team, costCenter, a label name (project, customer…), model, provider or tag:<key>"
    },
    rule: { type: "string", metavar: "proportional|even|fixed|none", description: "how the shared pool is split (default proportional)" },
    share: { type: "string", multiple: true, metavar: "owner=percent", description: "fixed rule: an owner's share, summing to 100 (repeatable)" },
    among: { type: "string", multiple: true, metavar: "owner", description: "even rule: the owners sharing (default all; repeatable)" },
    shared: { type: "string", multiple: true, metavar: "owner", description: "an owner whose cost joins the shared pool (repeatable)" },
    currency: { type: "string", metavar: "XXX", description: "the run's currency (default the tenant's)" },
    by,
    showback: { type: "boolean", description: "compute the lines and store nothing" }
  }
})

export const chargebackFinalize = leaf({
  description: "Makes a draft run final: it can no longer change",
  flags: { ...databaseFlags, tenant: tenantFlag, run: { type: "string", metavar: "id", required: true, description: "the run" }, by }
})

export const chargebackShow = leaf({
  description: "Prints one run, or lists runs newest first",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    run: { type: "string", metavar: "id", description: "the run to print (default: list runs)" },
    status: { type: "string", metavar: "draft|final", description: "list only runs in this status" },
    limit: { type: "string", metavar: "n", description: "runs per page" },
    after: { type: "string", metavar: "cursor", description: "the page after this cursor (endCursor of the previous page)" },
    format: formatTable
  }
})

export const chargebackExport = leaf({
  description: "Writes a run's lines as CSV or its FOCUS rows (1.3, or 1.2 with --focus-version 1.2)",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    run: { type: "string", metavar: "id", required: true, description: "the run" },
    format: { type: "string", metavar: "csv|focus", description: "the run's lines (csv, default) or FOCUS rows (focus)" },
    "focus-version": { type: "string", metavar: "1.3|1.2", description: "FOCUS version of --format focus (default 1.3)" },
    out: { type: "string", metavar: "file|-", required: true, description: "the file to write (- for stdout: the CSV alone)" }
  }
})

export const fxAdd = leaf({
  description: "Records an exchange rate for a day (rates are only added, never changed)",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    base: { type: "string", metavar: "CUR", required: true, description: "the currency converted from (ISO 4217)" },
    quote: { type: "string", metavar: "CUR", required: true, description: "the currency converted into, usually the tenant's" },
    date: { type: "string", metavar: "YYYY-MM-DD", required: true, description: "the (UTC) day the rate is for" },
    rate: { type: "string", metavar: "decimal", required: true, description: "units of quote per unit of base, e.g. 1.0825" },
    source: { type: "string", metavar: "text", required: true, description: "where the rate comes from (e.g. ECB reference rates)" },
    "observed-at": { type: "string", metavar: "ISO time", description: "when the source published it (default the day's start)" },
    by
  }
})

export const fxImport = leaf({
  description: "Imports exchange rates from a CSV or JSON file (all or nothing)",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    file: { type: "string", metavar: "file", required: true, description: "CSV with header base,quote,date,rate[,source][,observedAt], or JSON [{...}]" },
    format: { type: "string", metavar: "csv|json", description: "the file's format (default from its extension)" },
    source: { type: "string", metavar: "text", description: "source of rows that name none" },
    by
  }
})

export const fxList = leaf({
  description: "Lists recorded exchange rates, oldest day first",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    base: { type: "string", metavar: "CUR", description: "only rates from this currency" },
    quote: { type: "string", metavar: "CUR", description: "only rates into this currency" },
    from: { type: "string", metavar: "YYYY-MM-DD", description: "first day" },
    to: { type: "string", metavar: "YYYY-MM-DD", description: "last day (inclusive)" }
  }
})

export const fxConvert = leaf({
  description: "Converts a period's spend into the tenant's currency at each call's day's rate, and records the conversion",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    from: { ...from, required: true },
    to: { ...to, required: true },
    dimension: { type: "string", metavar: "name", description: "also by owner: team, customer, project, ... or tag:<key>" },
    "as-of": { type: "string", metavar: "ISO time", description: "the ledger and rates as they were then (default now)" },
    by
  }
})

export const reconcile = leaf({
  description: "Re-derives the ledger of a period from its raw payloads and compares provider reports",
  flags: {
    tenant: tenantFlag,
    from: { ...from, required: true },
    to: { ...to, required: true },
    report: { type: "string", multiple: true, metavar: "file", description: "a provider report (repeatable; pairs with --format in order)" },
    format: {
      type: "string",
      multiple: true,
      metavar: "format",
      description: "each report's format: openai-costs, openai-usage, anthropic-cost, anthropic-usage or csv"
    },
    "what-if-at": at("also price every call as of this instant"),
    catalog: { type: "string", metavar: "file", description: "also price every call with this custom catalog" },
    tolerance: { type: "string", metavar: "amount", description: "absolute tolerance of cost comparisons (default 0.01)" },
    out: { type: "string", metavar: "file|-", description: "write the full report there (- for stdout: the report alone)" },
    ...databaseFlags
  }
})

// ---------------------------------------------------------------------------------------------
// Resale: sale price books, margin, customer statements

const customerFlag = { type: "string", metavar: "name", description: "the customer (the calls' customer label)" } as const

export const salePriceBookAdd = leaf({
  description: "Adds a sale price rule: a markup in percent or per unit, or a list price, for a customer, a plan or everyone",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    name: { type: "string", metavar: "text", required: true, description: "what the rule is, for people" },
    kind: { type: "string", metavar: "markup-percent|markup-per-unit|list-price", required: true, description: "how the rule prices a call" },
    percent: { type: "string", metavar: "decimal", description: "markup-percent: the markup in percent (25 = cost x 1.25)" },
    "per-unit": { type: "string", metavar: "decimal", description: "markup-per-unit: added per 1M tokens (token lines) or per unit" },
    rate: { type: "string", multiple: true, metavar: "component=decimal", description: "list-price: a rate per 1M tokens or per unit (repeatable)" },
    currency: { type: "string", metavar: "XXX", description: "markup-per-unit and list-price: the currency of the amounts" },
    customer: customerFlag,
    plan: { type: "string", metavar: "name", description: "only calls of customers on this plan" },
    provider: { type: "string", metavar: "id", description: "only calls of this provider" },
    model: { type: "string", metavar: "name", description: "only calls of this model (a trailing * matches by prefix)" },
    from: { ...from, required: true, description: "effective from (inclusive)" },
    until: { type: "string", metavar: "ISO time", description: "effective until (exclusive; open when absent)" }
  },
  examples: [
    { command: "tally sale-price-book add --tenant acme --name 'globex +25%' --kind markup-percent --percent 25 --customer globex --from 2026-01-01", description: "a markup for one customer" },
    { command: "tally sale-price-book add --tenant acme --name 'pro list' --kind list-price --rate inputText=2 --rate outputText=8 --currency USD --plan pro --from 2026-01-01", description: "a list price for a plan" }
  ]
})

export const salePriceBookList = leaf({
  description: "Lists the tenant's sale price rules, newest first",
  flags: { ...databaseFlags, tenant: tenantFlag, archived: { type: "boolean", description: "include archived rules" } }
})

export const salePriceBookArchive = leaf({
  description: "Archives a sale price rule: it prices no new call; recorded prices keep naming it",
  flags: { ...databaseFlags, tenant: tenantFlag, rule: { type: "string", metavar: "id", required: true, description: "the rule" } }
})

export const salePriceBookAssignPlan = leaf({
  description: "Puts a customer on a plan from a point in time (the latest assignment in effect wins)",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    customer: { ...customerFlag, required: true },
    plan: { type: "string", metavar: "name", required: true, description: "the plan" },
    from: { ...from, required: true, description: "on the plan from (inclusive)" }
  }
})

export const salePriceBookPrice = leaf({
  description: "Prints the sale price recorded for a call, beside its cost",
  flags: { ...databaseFlags, tenant: tenantFlag, request: { type: "string", metavar: "id", required: true, description: "the call's request id" } }
})

export const margin = leaf({
  description: "Price, cost and margin of a tenant's calls of [from, to), grouped by customer, plan, model, provider, feature, day or month",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    from: { ...from, required: true },
    to: { ...to, required: true },
    "group-by": { type: "string", metavar: "dims", description: "comma-separated: customer, plan, model, provider, feature, day, month (default customer)" },
    customer: customerFlag
  }
})

export const soldUsage = leaf({
  description:
    "Writes the resale side's FOCUS rows of [from, to): what the tenant charges its customers (each priced call's sale price, credit-pack drawdowns in ContractApplied, the packs' Purchase rows), streamed page by page",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    from: { ...from, required: true },
    to: { ...to, required: true },
    customer: { ...customerFlag, multiple: true, description: "only this customer's calls and packs (repeatable)" },
    "focus-version": { type: "string", metavar: "1.3|1.2", description: "FOCUS version (default 1.3)" },
    convert: { type: "boolean", description: "convert amounts in other currencies into the tenant's at the rate of their day" },
    out: { type: "string", metavar: "file|-", required: true, description: "the file to write (- for stdout: the CSV alone)" }
  },
  examples: [{
    command: "tally sold-usage --tenant acme --from 2026-03-01 --to 2026-04-01 --convert --out sold-march.csv",
    description: "what acme's customers are charged in March, in acme's currency"
  }]
})

const statementFlags = {
  ...databaseFlags,
  tenant: tenantFlag,
  customer: { ...customerFlag, required: true },
  from: { ...from, required: true },
  to: { ...to, required: true },
  currency: { type: "string", metavar: "XXX", required: true, description: "the statement's currency" },
  "group-by": { type: "string", metavar: "model|feature", description: "lines by model (default) or by feature" }
} as const

const statementFormat = { type: "string", metavar: "json|csv|html", description: "json (default), csv or html (print-ready)" } as const

export const statementPreview = leaf({
  description: "What finalizing a customer's statement would keep now (a statement, or the correction since the last); writes nothing",
  flags: { ...statementFlags, format: statementFormat }
})

export const statementFinalize = leaf({
  description: "Keeps a customer's statement of a period as final (immutable), or the correction since the last final one",
  flags: { ...statementFlags, by }
})

export const statementList = leaf({
  description: "Lists final statements and corrections, newest period first",
  flags: { ...databaseFlags, tenant: tenantFlag, customer: customerFlag }
})

export const statementExport = leaf({
  description: "Writes a final statement as JSON, CSV or print-ready HTML",
  flags: {
    ...databaseFlags,
    tenant: tenantFlag,
    id: { type: "string", metavar: "id", required: true, description: "the statement" },
    format: statementFormat,
    out: { type: "string", metavar: "file|-", required: true, description: "the file to write (- for stdout: the document alone)" }
  }
})
