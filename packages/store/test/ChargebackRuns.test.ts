import { assert, describe, layer } from "@effect/vitest"
import { Money } from "@tally/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { ChargebackRuns, isRunId, type NewRun, type StoredLine } from "../src/ChargebackRuns.ts"
import { Database } from "../src/Database.ts"
import { newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const utc = (text: string) => DateTime.makeUnsafe(text)
const dec = (text: string) => new Money.Decimal(text)
const march = { from: utc("2025-03-01T00:00:00Z"), to: utc("2025-04-01T00:00:00Z") }
const april = { from: utc("2025-04-01T00:00:00Z"), to: utc("2025-05-01T00:00:00Z") }

const line = (lineNo: number, owner: string | null, amount: string, extra: Partial<Omit<StoredLine, "currency">> = {}): Omit<StoredLine, "currency"> => ({
  lineNo,
  kind: owner === null ? "unallocated" : "owner",
  owner,
  direct: dec(amount),
  allocated: Money.ZERO,
  amount: dec(amount),
  requestCount: 3,
  correctsRunId: null,
  ...extra
})

const newRun = (period: { readonly from: DateTime.Utc; readonly to: DateTime.Utc }, overrides: Partial<NewRun> = {}): NewRun => ({
  ...period,
  dimension: "team",
  shared: ["platform"],
  rule: { kind: "proportional" },
  ruleVersion: "proportional@1",
  currency: "USD",
  total: dec("12.34"),
  ledgerTotal: dec("12.3401"),
  asOf: utc("2025-04-02T08:00:00.123Z"),
  inputs: { version: 1, checked: [] },
  inputsSha256: "ab".repeat(32),
  createdBy: "alice",
  lines: [line(0, "alpha", "10.00"), line(1, null, "2.34")],
  ...overrides
})

const plainLine = (l: StoredLine) => ({ ...l, direct: Money.format(l.direct), allocated: Money.format(l.allocated), amount: Money.format(l.amount) })

for (const target of targets) {
  describe(`ChargebackRuns (${target.name})`, () => {
    layer(ChargebackRuns.layer.pipe(Layer.provideMerge(target.layer)), layerOptions)((it) => {
      it.effect("a run is stored as a draft with its lines and a created audit entry, and read back as stored", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const runs = yield* ChargebackRuns
          const stored = yield* runs.insert(tenantId, newRun(march))
          assert.isTrue(isRunId(stored.id))
          assert.include(stored, {
            tenantId,
            status: "draft",
            dimension: "team",
            ruleVersion: "proportional@1",
            currency: "USD",
            inputsSha256: "ab".repeat(32),
            createdBy: "alice",
            finalizedBy: null,
            finalizedAt: null,
            lineCount: 2
          })
          assert.deepStrictEqual(stored.rule, { kind: "proportional" })
          assert.deepStrictEqual(stored.inputs, { version: 1, checked: [] })
          assert.deepStrictEqual(stored.shared, ["platform"])
          assert.deepStrictEqual([Money.format(stored.total), Money.format(stored.ledgerTotal)], ["12.34", "12.3401"])
          assert.strictEqual(DateTime.formatIso(stored.asOf), "2025-04-02T08:00:00.123Z")
          assert.deepStrictEqual(yield* runs.get(tenantId, stored.id), stored)

          const lines = (yield* runs.lines(tenantId, [stored.id])).get(stored.id)!
          assert.deepStrictEqual(lines.map(plainLine), [
            { ...plainLine({ ...line(0, "alpha", "10.00"), currency: "USD" }), amount: "10", direct: "10", runId: stored.id },
            { ...plainLine({ ...line(1, null, "2.34"), currency: "USD" }), runId: stored.id }
          ])
          const audit = yield* runs.audit(tenantId, stored.id)
          assert.deepStrictEqual(audit.map((a) => [a.action, a.actor, a.detail]), [["created", "alice", { inputsSha256: "ab".repeat(32) }]])
          assert.strictEqual((yield* runs.lines(tenantId, [])).size, 0)
        }))

      it.effect("an id that is not a run's, another tenant's run, or no uuid at all: no run", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const other = yield* newTenant("Other")
          const runs = yield* ChargebackRuns
          const stored = yield* runs.insert(tenantId, newRun(march))
          assert.isUndefined(yield* runs.get(other, stored.id))
          assert.isUndefined(yield* runs.get(tenantId, "not-a-uuid"))
          assert.isUndefined(yield* runs.get(tenantId, "00000000-0000-4000-8000-000000000000"))
          assert.lengthOf(yield* runs.list(other, { limit: 10, after: null, status: null }), 0)
        }))

      it.effect("finalizing records who did it; the database refuses any change to a final run afterwards", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const runs = yield* ChargebackRuns
          const stored = yield* runs.insert(tenantId, newRun(march))
          yield* runs.finalize(tenantId, stored.id, "bob")
          const final = (yield* runs.get(tenantId, stored.id, { lock: true }))!
          assert.include(final, { status: "final", finalizedBy: "bob" })
          assert.isNotNull(final.finalizedAt)
          assert.deepStrictEqual((yield* runs.audit(tenantId, stored.id)).map((a) => [a.action, a.actor]), [["created", "alice"], ["finalized", "bob"]])
          const { sql, withTenant } = yield* Database
          const change = yield* Effect.exit(withTenant(tenantId, sql`UPDATE tally.chargeback_lines SET amount = 0 WHERE run_id = ${stored.id}`))
          assert.isTrue(Exit.isFailure(change))
        }))

      it.effect("finalized runs by dimension and currency, ending by or overlapping a period, checked through later re-checks", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const runs = yield* ChargebackRuns
          const first = yield* runs.insert(tenantId, newRun(march))
          yield* runs.finalize(tenantId, first.id, "bob")
          yield* runs.insert(tenantId, newRun(april))
          const euros = yield* runs.insert(tenantId, newRun(march, { currency: "EUR" }))
          yield* runs.finalize(tenantId, euros.id, "bob")

          const byEnd = yield* runs.finalized(tenantId, { dimension: "team", currency: "USD", endingBy: april.from })
          assert.deepStrictEqual(byEnd.map((r) => r.id), [first.id])
          assert.strictEqual(DateTime.formatIso(byEnd[0]!.checkedThrough), DateTime.formatIso(first.asOf))
          assert.lengthOf(yield* runs.finalized(tenantId, { dimension: "team", currency: "USD", overlapping: april }), 0)
          assert.lengthOf(yield* runs.finalized(tenantId, { dimension: "project", currency: "USD" }), 0)
          assert.deepStrictEqual(
            (yield* runs.finalized(tenantId, { dimension: "team", currency: "EUR", overlapping: { from: utc("2025-03-31T00:00:00Z"), to: april.to } })).map((r) => r.id),
            [euros.id]
          )

          // A later final run that re-checked March, with a correction line for it.
          const recheck = yield* runs.insert(tenantId, newRun(april, {
            asOf: utc("2025-05-02T00:00:00Z"),
            inputs: { version: 1, checked: [first.id] },
            lines: [line(0, "alpha", "5"), line(1, "alpha", "0.50", { kind: "correction", correctsRunId: first.id })]
          }))
          assert.deepStrictEqual(yield* runs.finalizedSince(tenantId, { dimension: "team", currency: "USD", since: first.asOf, except: recheck.id }), [first.id])
          assert.lengthOf(yield* runs.corrections(tenantId, [first.id]), 0)
          yield* runs.finalize(tenantId, recheck.id, "bob")
          const [march2] = yield* runs.finalized(tenantId, { dimension: "team", currency: "USD", endingBy: april.from })
          assert.strictEqual(DateTime.formatIso(march2!.checkedThrough), "2025-05-02T00:00:00.000Z")
          const corrections = yield* runs.corrections(tenantId, [first.id])
          assert.deepStrictEqual(corrections.map((l) => [l.kind, l.owner, Money.format(l.amount), l.correctsRunId]), [["correction", "alpha", "0.5", first.id]])
          assert.lengthOf(yield* runs.corrections(tenantId, []), 0)
        }))

      it.effect("runs list newest first, a page at a time after a run, by status", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const runs = yield* ChargebackRuns
          const ids: Array<string> = []
          for (let i = 0; i < 5; i++) ids.push((yield* runs.insert(tenantId, newRun(march))).id)
          yield* runs.finalize(tenantId, ids[1]!, "bob")
          const all = yield* runs.list(tenantId, { limit: 10, after: null, status: null })
          assert.deepStrictEqual(all.map((r) => r.id), [...ids].reverse())
          const page = yield* runs.list(tenantId, { limit: 2, after: ids[3]!, status: null })
          assert.deepStrictEqual(page.map((r) => r.id), [ids[2], ids[1]])
          assert.deepStrictEqual((yield* runs.list(tenantId, { limit: 10, after: null, status: "final" })).map((r) => r.id), [ids[1]])
          assert.lengthOf(yield* runs.list(tenantId, { limit: 10, after: null, status: "draft" }), 4)
        }))
    })
  })
}
