/**
 * A chargeback run: the lines that charge each owner for a period, the inputs they were computed
 * from, who made the run and who made it final. A showback is the same computation, not stored.
 *
 * Also the one mapping between a run and what is stored of it: the canonical inputs a run hashes
 * and stores (`InputsJson`), and a stored run with its lines and audit trail back as a `Run`.
 */
import { CostAllocation, Money, PricingSnapshot } from "@tally/core"
import type { ChargebackRuns, CostAtRisk } from "@tally/store"
import type * as DateTime from "effect/DateTime"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"

const { Rules } = CostAllocation

export type RunStatus = "draft" | "final"

export interface Line extends CostAllocation.Allocate.Line {
  readonly lineNo: number
  readonly currency: string
}

/** One component the period's calls had no price for, with its quantity and the calls it was missing in. */
export type AtRisk = CostAtRisk.AtRiskComponent

/** `AtRisk` as stored in the inputs: the quantity as exact decimal text. */
export type AtRiskJson = Omit<AtRisk, "quantity"> & { readonly quantity: string }

export interface Inputs {
  /** Exact sum of the period's spend in the run's currency. */
  readonly ledgerTotal: Money.Decimal
  /** `ledgerTotal` rounded to the minor unit; the non-correction lines sum to it. */
  readonly roundedTotal: Money.Decimal
  /** Calls of the period in the run's currency, and calls without a price (no cost, no currency). */
  readonly requestCount: number
  readonly unpricedCount: number
  /** Calls of the period priced in part: their priced lines are in the spend, the usage without a price is not. */
  readonly partialCount: number
  /** The period's usage without a price (partial and unpriced calls), per component: the run's cost at risk. */
  readonly atRisk: ReadonlyArray<AtRisk>
  /** Spend of the period in other currencies: not part of this run (run again with `currency`). */
  readonly otherCurrencies: ReadonlyArray<{ readonly currency: string; readonly amount: Money.Decimal; readonly requestCount: number }>
  /** Pricing snapshots the period's calls were priced with. */
  readonly snapshotIds: ReadonlyArray<string>
  /** Final runs whose periods this run re-checked for late usage (their corrections are in `lines`). */
  readonly checked: ReadonlyArray<string>
  /** sha256 (hex) of the canonical JSON of every input above, the period, dimension, rule and spend per owner. */
  readonly sha256: string
}

export interface Computation {
  readonly tenantId: string
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly dimension: string
  readonly currency: string
  readonly rule: CostAllocation.Rules.RuleInput
  /** `kind@version` of the rule's arithmetic. */
  readonly ruleVersion: string
  readonly shared: ReadonlyArray<string>
  /** Sum of every line, corrections included. */
  readonly total: Money.Decimal
  readonly lines: ReadonlyArray<Line>
  readonly inputs: Inputs
  /** The ledger as of this instant. */
  readonly asOf: DateTime.Utc
}

export interface AuditEntry {
  readonly action: "created" | "finalized"
  readonly actor: string
  readonly at: DateTime.Utc
}

export interface Run extends Computation {
  readonly id: string
  readonly status: RunStatus
  readonly createdBy: string
  readonly createdAt: DateTime.Utc
  readonly finalizedBy: string | null
  readonly finalizedAt: DateTime.Utc | null
  readonly audit: ReadonlyArray<AuditEntry>
}

export interface RunSummary {
  readonly id: string
  readonly status: RunStatus
  readonly from: DateTime.Utc
  readonly to: DateTime.Utc
  readonly dimension: string
  readonly currency: string
  readonly total: Money.Decimal
  readonly ruleVersion: string
  readonly inputsSha256: string
  readonly createdBy: string
  readonly createdAt: DateTime.Utc
  readonly finalizedBy: string | null
  readonly finalizedAt: DateTime.Utc | null
  readonly lineCount: number
}

// Stored form --------------------------------------------------------------------------------

/** The run's inputs as canonical JSON data (decimals as strings); what `sha256` hashes and a run stores. */
export interface InputsJson {
  readonly version: 1
  readonly tenantId: string
  readonly from: string
  readonly to: string
  readonly dimension: string
  readonly currency: string
  readonly rule: CostAllocation.Rules.RuleInputEncoded
  readonly ruleVersion: string
  readonly shared: ReadonlyArray<string>
  readonly ledger: {
    readonly total: string
    readonly roundedTotal: string
    readonly requests: number
    readonly unpriced: number
    /** Absent in runs made before partial calls were counted. */
    readonly partial?: number
    readonly atRisk?: ReadonlyArray<AtRiskJson>
    readonly owners: ReadonlyArray<{ readonly owner: string | null; readonly cost: string; readonly requests: number }>
  }
  readonly otherCurrencies: ReadonlyArray<{ readonly currency: string; readonly amount: string; readonly requests: number }>
  readonly snapshotIds: ReadonlyArray<string>
  readonly checked: ReadonlyArray<string>
  readonly corrections: ReadonlyArray<{ readonly runId: string; readonly owner: string | null; readonly amount: string }>
}

/** sha256 (hex) of the canonical JSON of the inputs. */
export const sha256 = (inputs: InputsJson): string =>
  createHash("sha256").update(PricingSnapshot.canonicalJson(inputs)).digest("hex")

/** What a run reads back of its stored `InputsJson`. */
const StoredInputs = Schema.Struct({
  ledger: Schema.Struct({
    total: Money.DecimalFromString,
    roundedTotal: Money.DecimalFromString,
    requests: Schema.Number,
    unpriced: Schema.Number,
    partial: Schema.optionalKey(Schema.Number),
    atRisk: Schema.optionalKey(Schema.Array(Schema.Struct({
      component: Schema.String,
      unit: Schema.String,
      quantity: Money.DecimalFromString,
      calls: Schema.Number,
      partialCalls: Schema.Number,
      unpricedCalls: Schema.Number
    })))
  }),
  otherCurrencies: Schema.Array(
    Schema.Struct({ currency: Schema.String, amount: Money.DecimalFromString, requests: Schema.Number })
  ),
  snapshotIds: Schema.Array(Schema.String),
  checked: Schema.Array(Schema.String)
})
const decodeStoredInputs = Schema.decodeUnknownSync(StoredInputs)

/** A stored rule as the input it was; a stored run always holds a rule that decoded when it was made. */
export const storedRule = (rule: unknown): CostAllocation.Rules.RuleInput => {
  const decoded = Rules.decodeUnknownResult(rule)
  if (Result.isFailure(decoded)) throw new Error(`a stored chargeback rule no longer decodes: ${decoded.failure.message}`)
  return decoded.success
}

/** A stored run with its lines and audit trail. */
export const fromStored = (
  run: ChargebackRuns.StoredRun,
  lines: ReadonlyArray<ChargebackRuns.StoredLine>,
  audit: ReadonlyArray<ChargebackRuns.AuditEntry>
): Run => {
  const inputs = decodeStoredInputs(run.inputs)
  return {
    id: run.id,
    status: run.status,
    tenantId: run.tenantId,
    from: run.from,
    to: run.to,
    dimension: run.dimension,
    currency: run.currency,
    rule: storedRule(run.rule),
    ruleVersion: run.ruleVersion,
    shared: run.shared,
    total: run.total,
    lines: lines.map((l) => ({
      lineNo: l.lineNo,
      kind: l.kind,
      owner: l.owner,
      direct: l.direct,
      allocated: l.allocated,
      amount: l.amount,
      currency: l.currency,
      requestCount: l.requestCount,
      correctsRunId: l.correctsRunId
    })),
    inputs: {
      ledgerTotal: inputs.ledger.total,
      roundedTotal: inputs.ledger.roundedTotal,
      requestCount: inputs.ledger.requests,
      unpricedCount: inputs.ledger.unpriced,
      partialCount: inputs.ledger.partial ?? 0,
      atRisk: inputs.ledger.atRisk ?? [],
      otherCurrencies: inputs.otherCurrencies.map((o) => ({ currency: o.currency, amount: o.amount, requestCount: o.requests })),
      snapshotIds: inputs.snapshotIds,
      checked: inputs.checked,
      sha256: run.inputsSha256
    },
    asOf: run.asOf,
    createdBy: run.createdBy,
    createdAt: run.createdAt,
    finalizedBy: run.finalizedBy,
    finalizedAt: run.finalizedAt,
    audit: audit.map((a) => ({ action: a.action, actor: a.actor, at: a.at }))
  }
}

/** A stored run as a line of a list. */
export const summaryOf = (r: ChargebackRuns.StoredRun): RunSummary => ({
  id: r.id,
  status: r.status,
  from: r.from,
  to: r.to,
  dimension: r.dimension,
  currency: r.currency,
  total: r.total,
  ruleVersion: r.ruleVersion,
  inputsSha256: r.inputsSha256,
  createdBy: r.createdBy,
  createdAt: r.createdAt,
  finalizedBy: r.finalizedBy,
  finalizedAt: r.finalizedAt,
  lineCount: r.lineCount
})

/** A computed run as stored, with its canonical inputs. */
export const toStored = (computation: Computation, inputs: InputsJson, createdBy: string): ChargebackRuns.NewRun => ({
  from: computation.from,
  to: computation.to,
  dimension: computation.dimension,
  shared: computation.shared,
  rule: Rules.encode(computation.rule),
  ruleVersion: computation.ruleVersion,
  currency: computation.currency,
  total: computation.total,
  ledgerTotal: computation.inputs.ledgerTotal,
  asOf: computation.asOf,
  inputs,
  inputsSha256: computation.inputs.sha256,
  createdBy,
  lines: computation.lines
})
