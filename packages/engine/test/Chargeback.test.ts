import { assert, describe, layer } from "@effect/vitest"
import { CostAllocation, Money } from "@tally/core"
import { CostAtRisk, Database } from "@tally/store"
import { Cause, Effect, Exit } from "effect"
import * as DateTime from "effect/DateTime"
import * as Chargeback from "../src/chargeback/index.ts"
import { backend } from "./TestStore.ts"
import { call, claude, costOf, dec, euroModel, insert, layer as chargebackLayer, layerOptions, newTenant, sum, utc } from "./ChargebackSupport.ts"

const march = { from: utc("2025-03-01T00:00:00Z"), to: utc("2025-04-01T00:00:00Z") }
const april = { from: utc("2025-04-01T00:00:00Z"), to: utc("2025-05-01T00:00:00Z") }

/** Three teams, one shared team, unowned calls, another currency and an unpriced call in March. */
const marchCalls = [
  call({ requestId: "a1", at: "2025-03-02T10:00:00Z", labels: { team: "search", costCenter: "cc-1" }, tokens: { inputText: 120_000, outputText: 3_000 } }),
  call({ requestId: "a2", at: "2025-03-05T11:00:00Z", labels: { team: "search", costCenter: "cc-1" }, snapshot: claude, tokens: { inputText: 10_000, cacheRead: 5_000, outputText: 2_000 } }),
  call({ requestId: "b1", at: "2025-03-07T12:00:00Z", labels: { team: "chat", costCenter: "cc-2" }, tokens: { inputText: 40_000, outputText: 1_000 } }),
  call({ requestId: "c1", at: "2025-03-09T13:00:00Z", labels: { team: "ads" }, tokens: { inputText: 7_777, outputText: 333 }, webSearches: 3 }),
  call({ requestId: "p1", at: "2025-03-10T14:00:00Z", labels: { team: "platform" }, tokens: { inputText: 55_555, outputText: 4_444 } }),
  call({ requestId: "u1", at: "2025-03-11T15:00:00Z", tokens: { inputText: 33_333, outputText: 1_111 } }),
  call({ requestId: "u2", at: "2025-03-12T16:00:00Z", labels: { team: "" }, tokens: { inputText: 1_001, outputText: 7 } }),
  call({ requestId: "r1", at: "2025-03-13T17:00:00Z", labels: { team: "chat" }, costSource: "provider", reportedCost: "0.123456" }),
  call({ requestId: "e1", at: "2025-03-14T18:00:00Z", labels: { team: "search" }, snapshot: euroModel }),
  call({ requestId: "x1", at: "2025-03-15T19:00:00Z", labels: { team: "search" }, costSource: "unpriced" }),
  // Outside March: must not count.
  call({ requestId: "feb", at: "2025-02-28T23:59:59Z", labels: { team: "search" } }),
  call({ requestId: "apr", at: "2025-04-01T00:00:00Z", labels: { team: "search" } })
]

const usdMarch = marchCalls.filter((c) => c.requestId !== "feb" && c.requestId !== "apr" && c.requestId !== "e1")
const ledgerTotal = sum(usdMarch.map(costOf))
const cost = (...ids: Array<string>) => sum(marchCalls.filter((c) => ids.includes(c.requestId)).map(costOf))

const linesByOwner = (lines: ReadonlyArray<Chargeback.Line>) =>
  Object.fromEntries(lines.map((l) => [l.owner ?? `(${l.kind})`, l]))

const amounts = (lines: ReadonlyArray<Chargeback.Line>) =>
  Object.fromEntries(lines.map((l) => [`${l.kind}:${l.owner ?? "-"}`, Money.format(l.amount)]))

describe(`Chargeback on ${backend}`, () => {
  layer(chargebackLayer, layerOptions)((it) => {
    it.effect("proportional: shared and unowned cost follows attributed spend, lines sum to the rounded ledger total", () =>
      Effect.gen(function*() {
        const service = yield* Chargeback.Chargeback
        const tenantId = yield* newTenant()
        yield* insert(tenantId, marchCalls)
        const result = yield* service.showback(tenantId, { ...march, dimension: "team", shared: ["platform"] })
        assert.strictEqual(result.currency, "USD")
        assert.strictEqual(result.ruleVersion, "proportional@1")
        assert.isTrue(result.inputs.ledgerTotal.equals(ledgerTotal))
        assert.isTrue(result.inputs.roundedTotal.equals(ledgerTotal.toDecimalPlaces(2, Money.Decimal.ROUND_HALF_EVEN)))
        assert.isTrue(sum(result.lines.map((l) => l.amount)).equals(result.inputs.roundedTotal))
        assert.isTrue(result.total.equals(result.inputs.roundedTotal))
        assert.deepStrictEqual(result.lines.map((l) => [l.kind, l.owner]), [
          ["owner", "ads"],
          ["owner", "chat"],
          ["owner", "search"]
        ])
        const pool = cost("p1", "u1", "u2")
        const direct = { ads: cost("c1"), chat: cost("b1", "r1"), search: cost("a1", "a2") }
        const attributed = direct.ads.plus(direct.chat).plus(direct.search)
        const byOwner = linesByOwner(result.lines)
        for (const [owner, d] of Object.entries(direct)) {
          const line = byOwner[owner]!
          assert.isTrue(line.direct.equals(d), owner)
          // The exact share, split at 14 decimals (largest remainder) so the shares sum to the pool.
          assert.isTrue(line.allocated.minus(pool.times(d).div(attributed)).abs().lt("1e-14"), owner)
          assert.isTrue(line.amount.minus(line.direct.plus(line.allocated)).abs().lt("0.01"), owner)
        }
        assert.isTrue(sum(result.lines.map((l) => l.allocated)).equals(pool))
        assert.strictEqual(result.inputs.requestCount, 8)
        assert.strictEqual(result.inputs.unpricedCount, 1)
        assert.deepStrictEqual(result.inputs.otherCurrencies.map((o) => [o.currency, Money.format(o.amount)]), [
          ["EUR", Money.format(cost("e1"))]
        ])
        assert.deepStrictEqual(result.inputs.snapshotIds, [...new Set(usdMarch.flatMap((c) => (c.snapshotId === null ? [] : [c.snapshotId])).concat(marchCalls.find((c) => c.requestId === "e1")!.snapshotId!))].sort())
        assert.match(result.inputs.sha256, /^[0-9a-f]{64}$/)
        // The cost at risk (the unpriced call's usage), read from the at-risk summary: the ledger's report.
        const fromLedger = yield* CostAtRisk.CostAtRisk.use((atRisk) => atRisk.report(tenantId, { ...march, source: "ledger" }))
        const plain = (components: ReadonlyArray<CostAtRisk.AtRiskComponent>) =>
          components.map((c) => [c.component, c.unit, Money.format(c.quantity), c.calls, c.unpricedCalls])
        assert.deepStrictEqual(fromLedger.unpricedCalls, 1)
        assert.deepStrictEqual(plain(result.inputs.atRisk), plain(fromLedger.components))
      }))

    it.effect("even split, fixed shares and no rule", () =>
      Effect.gen(function*() {
        const service = yield* Chargeback.Chargeback
        const tenantId = yield* newTenant()
        yield* insert(tenantId, marchCalls)
        const pool = cost("u1", "u2")

        const even = yield* service.showback(tenantId, { ...march, dimension: "team", rule: { kind: "even" } })
        const evenLines = linesByOwner(even.lines)
        assert.deepStrictEqual(Object.keys(evenLines), ["ads", "chat", "platform", "search"])
        for (const line of even.lines) assert.isTrue(line.allocated.minus(pool.div(4)).abs().lt("1e-14"))
        assert.isTrue(sum(even.lines.map((l) => l.allocated)).equals(pool))

        const among = yield* service.showback(tenantId, { ...march, dimension: "team", rule: { kind: "even", among: ["chat", "finance"] } })
        const amongLines = linesByOwner(among.lines)
        assert.isTrue(amongLines["finance"]!.direct.isZero())
        assert.isTrue(amongLines["finance"]!.allocated.plus(amongLines["chat"]!.allocated).equals(pool))
        assert.isTrue(amongLines["search"]!.allocated.isZero())

        const fixed = yield* service.showback(tenantId, {
          ...march,
          dimension: "team",
          rule: { kind: "fixed", shares: { search: dec("33.33"), chat: dec("33.33"), finance: dec("33.34") } }
        })
        const fixedLines = linesByOwner(fixed.lines)
        assert.isTrue(fixedLines["finance"]!.allocated.equals(pool.times("0.3334")))
        assert.isTrue(fixedLines["search"]!.allocated.equals(pool.times("0.3333")))
        assert.isTrue(sum(fixed.lines.map((l) => l.amount)).equals(fixed.inputs.roundedTotal))

        const none = yield* service.showback(tenantId, { ...march, dimension: "team", rule: { kind: "none" } })
        const unallocated = none.lines.filter((l) => l.kind === "unallocated")
        assert.strictEqual(unallocated.length, 1)
        assert.isTrue(unallocated[0]!.direct.equals(pool))
        assert.strictEqual(none.lines[none.lines.length - 1]!.kind, "unallocated")
        assert.isTrue(sum(none.lines.map((l) => l.amount)).equals(none.inputs.roundedTotal))

        // Proportional with nothing attributed: the rule cannot apply, the cost stays unallocated.
        const noOwners = yield* service.showback(tenantId, { ...march, dimension: "customer" })
        assert.deepStrictEqual(noOwners.lines.map((l) => [l.kind, l.owner]), [["unallocated", null]])
        assert.isTrue(noOwners.lines[0]!.amount.equals(noOwners.inputs.roundedTotal))
      }))

    it.effect("invalid input is a typed error naming the field", () =>
      Effect.gen(function*() {
        const service = yield* Chargeback.Chargeback
        const tenantId = yield* newTenant()
        const fail = (input: CostAllocation.Input.RunInput) =>
          Effect.flip(service.showback(tenantId, input)).pipe(Effect.map((e) => e._tag === "InvalidChargeback" ? [e._tag, e.field] : [e._tag]))
        assert.deepStrictEqual(
          yield* fail({ ...march, dimension: "team", rule: { kind: "fixed", shares: { a: dec("50"), b: dec("49.99") } } }),
          ["InvalidChargeback", "rule.shares"]
        )
        const message = yield* Effect.flip(service.showback(tenantId, { ...march, dimension: "team", rule: { kind: "fixed", shares: { a: dec("60"), b: dec("60") } } }))
        assert.include(message.message, "sum to exactly 100")
        assert.deepStrictEqual(yield* fail({ ...march, dimension: "colour" }), ["InvalidChargeback", "dimension"])
        assert.deepStrictEqual(yield* fail({ ...march, dimension: "tag:" }), ["InvalidChargeback", "dimension"])
        assert.deepStrictEqual(yield* fail({ from: march.to, to: march.from, dimension: "team" }), ["InvalidChargeback", "to"])
        assert.deepStrictEqual(yield* fail({ dimension: "team" }), ["InvalidChargeback", "from"])
        assert.deepStrictEqual(yield* fail({ ...march, month: "2025-03", dimension: "team" }), ["InvalidChargeback", "month"])
        assert.deepStrictEqual(
          yield* fail({ ...march, dimension: "team", shared: ["chat"], rule: { kind: "even", among: ["chat"] } }),
          ["InvalidChargeback", "rule.among[0]"]
        )
        assert.deepStrictEqual(
          yield* Effect.flip(service.showback("no-such-tenant", { ...march, dimension: "team" })).pipe(Effect.map((e) => e._tag)),
          "TenantNotFound"
        )
        const decoded = CostAllocation.Input.decodeRunInput({ month: "2025-3", dimension: "team" })
        assert.strictEqual(decoded._tag, "Failure")
        if (decoded._tag === "Failure") assert.strictEqual(decoded.failure.field, "month")
        const unknownKey = CostAllocation.Input.decodeRunInput({ month: "2025-03", dimension: "team", rule: { kind: "fixed", shares: {}, extra: 1 } })
        assert.strictEqual(unknownKey._tag, "Failure")
        const ok = CostAllocation.Input.decodeRunInput({ from: "2025-03-01T00:00:00Z", to: "2025-04-01T00:00:00Z", dimension: "tag:owner", rule: { kind: "fixed", shares: { a: "40", b: "60" } } })
        assert.strictEqual(ok._tag, "Success")
      }))

    it.effect("a month is cut in the tenant's time zone; dimensions can be any label or a tag", () =>
      Effect.gen(function*() {
        const service = yield* Chargeback.Chargeback
        const tenantId = yield* newTenant({ timeZone: "Europe/Berlin" })
        yield* insert(tenantId, [
          // 2025-02-28T23:30Z is 00:30 on March 1st in Berlin: March there.
          call({ requestId: "t1", at: "2025-02-28T23:30:00Z", labels: { costCenter: "cc-9" }, tags: { owner: "alice" } }),
          // 2025-03-31T22:30Z is 00:30 on April 1st in Berlin (summer time): April there.
          call({ requestId: "t2", at: "2025-03-31T22:30:00Z", labels: { costCenter: "cc-9" }, tags: { owner: "bob" } }),
          call({ requestId: "t3", at: "2025-03-15T12:00:00Z", labels: { costCenter: "cc-1" }, tags: { owner: "bob" } })
        ])
        const run = yield* service.showback(tenantId, { month: "2025-03", dimension: "tag:owner" })
        assert.strictEqual(DateTime.formatIso(run.from), "2025-02-28T23:00:00.000Z")
        assert.strictEqual(DateTime.formatIso(run.to), "2025-03-31T22:00:00.000Z")
        assert.deepStrictEqual(run.lines.map((l) => [l.owner, l.requestCount]), [["alice", 1], ["bob", 1]])
        const byCostCenter = yield* service.showback(tenantId, { month: "2025-03", dimension: "costCenter" })
        assert.deepStrictEqual(byCostCenter.lines.map((l) => [l.owner, l.requestCount]), [["cc-1", 1], ["cc-9", 1]])
        const byModel = yield* service.showback(tenantId, { month: "2025-03", dimension: "model" })
        assert.deepStrictEqual(byModel.lines.map((l) => [l.owner, l.requestCount]), [["gpt-4o", 2]])
      }))

    it.effect("a run stores its lines, inputs and audit; showback of the same ledger has the same inputs hash", () =>
      Effect.gen(function*() {
        const service = yield* Chargeback.Chargeback
        const tenantId = yield* newTenant()
        yield* insert(tenantId, marchCalls)
        const input = { ...march, dimension: "team", shared: ["platform"], rule: { kind: "even" } as const }
        const preview = yield* service.showback(tenantId, input)
        const run = yield* service.run(tenantId, { ...input, createdBy: "key_admin" })
        assert.strictEqual(run.status, "draft")
        assert.strictEqual(run.inputs.sha256, preview.inputs.sha256)
        assert.deepStrictEqual(amounts(run.lines), amounts(preview.lines))
        assert.deepStrictEqual(run.audit.map((a) => [a.action, a.actor]), [["created", "key_admin"]])
        const again = yield* service.get(tenantId, run.id)
        assert.deepStrictEqual(amounts(again.lines), amounts(run.lines))
        assert.isTrue(again.inputs.ledgerTotal.equals(ledgerTotal))
        assert.deepStrictEqual(again.rule, { kind: "even" })
        assert.deepStrictEqual(again.shared, ["platform"])
        assert.deepStrictEqual(again.inputs.snapshotIds, preview.inputs.snapshotIds)

        const final = yield* service.finalize(tenantId, run.id, { finalizedBy: "key_cfo" })
        assert.strictEqual(final.status, "final")
        assert.strictEqual(final.finalizedBy, "key_cfo")
        assert.deepStrictEqual(final.audit.map((a) => [a.action, a.actor]), [["created", "key_admin"], ["finalized", "key_cfo"]])
        const twice = yield* Effect.flip(service.finalize(tenantId, run.id))
        assert.strictEqual(twice._tag, "RunAlreadyFinal")
        const overlap = yield* Effect.flip(service.run(tenantId, { from: utc("2025-03-31T00:00:00Z"), to: april.to, dimension: "team" }))
        assert.strictEqual(overlap._tag, "PeriodFinalized")
        // Another dimension is another chargeback: its March is open.
        const byCostCenter = yield* service.run(tenantId, { ...march, dimension: "costCenter" })
        assert.strictEqual(byCostCenter.status, "draft")
        // Showback of a final period is fine: nothing is stored.
        yield* service.showback(tenantId, { ...march, dimension: "team" })
      }))

    it.effect("the database rejects any change to a final run, its lines and the audit trail, for every role", () =>
      Effect.gen(function*() {
        const service = yield* Chargeback.Chargeback
        const { sql, withTenant } = yield* Database.Database
        const tenantId = yield* newTenant()
        yield* insert(tenantId, marchCalls)
        const run = yield* service.run(tenantId, { ...march, dimension: "team" })
        // A draft's lines can still be corrected by the owner (not by the application role).
        yield* sql`UPDATE tally.chargeback_lines SET request_count = request_count WHERE run_id = ${run.id}`
        yield* service.finalize(tenantId, run.id)
        const owner = [
          sql`UPDATE tally.chargeback_lines SET amount = 0 WHERE run_id = ${run.id}`,
          sql`DELETE FROM tally.chargeback_lines WHERE run_id = ${run.id}`,
          sql`INSERT INTO tally.chargeback_lines (tenant_id, run_id, line_no, dimension, amount, currency)
            VALUES (${tenantId}, ${run.id}, 99, '{}', 1, 'USD')`,
          sql`UPDATE tally.chargeback_runs SET total = 0 WHERE id = ${run.id}`,
          sql`UPDATE tally.chargeback_runs SET status = 'draft', frozen_at = NULL, frozen_by = NULL WHERE id = ${run.id}`,
          sql`DELETE FROM tally.chargeback_runs WHERE id = ${run.id}`,
          sql`UPDATE tally.chargeback_audit SET actor = 'someone else' WHERE run_id = ${run.id}`,
          sql`DELETE FROM tally.chargeback_audit WHERE run_id = ${run.id}`,
          sql`TRUNCATE tally.chargeback_audit`
        ]
        const reason = (exit: Exit.Exit<unknown, { readonly message: string; readonly reason?: { readonly cause?: unknown } }>) => {
          if (Exit.isSuccess(exit)) return "succeeded"
          const error = Cause.squash(exit.cause) as { message?: string; reason?: { cause?: { message?: string } } }
          return `${error.reason?.cause?.message ?? ""} ${error.message ?? ""}`
        }
        for (const [i, attempt] of owner.entries()) {
          const why = reason(yield* Effect.exit(sql.withTransaction(attempt)))
          assert.match(why, /finalized|append-only/, `owner attempt ${i}: ${why}`)
        }
        // The application role has no UPDATE or DELETE on lines at all, and the trigger guards the run.
        const app = [
          [withTenant(tenantId, sql`UPDATE tally.chargeback_lines SET amount = 0 WHERE run_id = ${run.id}`), /permission denied/],
          [withTenant(tenantId, sql`UPDATE tally.chargeback_runs SET total = 0 WHERE id = ${run.id}`), /finalized/]
        ] as const
        for (const [i, [attempt, expected]] of app.entries()) {
          const why = reason(yield* Effect.exit(attempt))
          assert.match(why, expected, `app attempt ${i}: ${why}`)
        }
        const after = yield* service.get(tenantId, run.id)
        assert.deepStrictEqual(amounts(after.lines), amounts(run.lines))
        assert.isTrue(after.total.equals(run.total))
        assert.strictEqual(after.audit.length, 2)
      }))

    it.effect("usage arriving late for a final period becomes a correction line in the next run, once", () =>
      Effect.gen(function*() {
        const service = yield* Chargeback.Chargeback
        const tenantId = yield* newTenant()
        yield* insert(tenantId, marchCalls)
        const input = { dimension: "team", shared: ["platform"] }
        const marchRun = yield* service.run(tenantId, { ...march, ...input })
        yield* service.finalize(tenantId, marchRun.id)

        yield* insert(tenantId, [
          call({ requestId: "april-1", at: "2025-04-03T09:00:00Z", labels: { team: "chat" } }),
          // Late for March: recorded after March was final.
          call({ requestId: "late-1", at: "2025-03-20T09:00:00Z", labels: { team: "search" }, tokens: { inputText: 250_000, outputText: 10_000 } }),
          call({ requestId: "late-2", at: "2025-03-21T09:00:00Z", tokens: { inputText: 99_999, outputText: 999 } })
        ])
        const late = sum([
          call({ requestId: "late-1", at: "2025-03-20T09:00:00Z", tokens: { inputText: 250_000, outputText: 10_000 } }),
          call({ requestId: "late-2", at: "2025-03-21T09:00:00Z", tokens: { inputText: 99_999, outputText: 999 } })
        ].map(costOf))

        // March itself never changes.
        const marchAgain = yield* service.get(tenantId, marchRun.id)
        assert.deepStrictEqual(amounts(marchAgain.lines), amounts(marchRun.lines))

        const aprilRun = yield* service.run(tenantId, { ...april, ...input })
        const corrections = aprilRun.lines.filter((l) => l.kind === "correction")
        assert.isAbove(corrections.length, 0)
        for (const c of corrections) assert.strictEqual(c.correctsRunId, marchRun.id)
        assert.deepStrictEqual(aprilRun.inputs.checked, [marchRun.id])
        // What March costs now, by its own rule, is what it was charged plus the corrections.
        const marchNow = yield* service.showback(tenantId, { ...march, ...input })
        const correctionTotal = sum(corrections.map((c) => c.amount))
        assert.isTrue(marchRun.total.plus(correctionTotal).equals(marchNow.total))
        assert.isTrue(marchNow.inputs.ledgerTotal.minus(marchRun.inputs.ledgerTotal).equals(late))
        for (const line of marchNow.lines) {
          const was = marchRun.lines.find((l) => l.owner === line.owner)?.amount ?? Money.ZERO
          const corrected = sum(corrections.filter((c) => c.owner === line.owner).map((c) => c.amount))
          assert.isTrue(was.plus(corrected).equals(line.amount), String(line.owner))
        }
        // The run's total is April's ledger plus the corrections.
        const aprilOwn = aprilRun.lines.filter((l) => l.kind !== "correction")
        assert.isTrue(sum(aprilOwn.map((l) => l.amount)).equals(aprilRun.inputs.roundedTotal))
        assert.isTrue(aprilRun.total.equals(aprilRun.inputs.roundedTotal.plus(correctionTotal)))

        // Two drafts carrying the same correction: the second to be finalized is stale.
        const mayDraft = yield* service.run(tenantId, { from: april.to, to: utc("2025-06-01T00:00:00Z"), ...input })
        assert.isAbove(mayDraft.lines.filter((l) => l.kind === "correction").length, 0)
        yield* service.finalize(tenantId, aprilRun.id)
        const stale = yield* Effect.flip(service.finalize(tenantId, mayDraft.id))
        assert.strictEqual(stale._tag, "RunStale")

        // Once carried into a final run, a correction is not carried again.
        const may = yield* service.run(tenantId, { from: april.to, to: utc("2025-06-01T00:00:00Z"), ...input })
        assert.deepStrictEqual(may.lines.filter((l) => l.kind === "correction"), [])
        yield* service.finalize(tenantId, may.id)

        // More late usage for March after April is final: corrected again, by the difference only.
        yield* insert(tenantId, [call({ requestId: "late-3", at: "2025-03-22T09:00:00Z", labels: { team: "ads" } })])
        const june = yield* service.run(tenantId, { month: "2025-06", ...input })
        const juneCorrections = june.lines.filter((l) => l.kind === "correction")
        const marchLater = yield* service.showback(tenantId, { ...march, ...input })
        assert.isTrue(sum(juneCorrections.map((l) => l.amount)).equals(marchLater.total.minus(marchNow.total)))
        assert.isTrue(juneCorrections.every((l) => l.correctsRunId === marchRun.id))
      }))

    it.effect("runs are tenant-scoped: another tenant's run id reads as not found and lists are separate", () =>
      Effect.gen(function*() {
        const service = yield* Chargeback.Chargeback
        const a = yield* newTenant()
        const b = yield* newTenant()
        yield* insert(a, marchCalls)
        const run = yield* service.run(a, { ...march, dimension: "team" })
        assert.strictEqual((yield* Effect.flip(service.get(b, run.id)))._tag, "RunNotFound")
        assert.strictEqual((yield* Effect.flip(service.finalize(b, run.id)))._tag, "RunNotFound")
        assert.strictEqual((yield* Effect.flip(service.get(a, "not-a-uuid")))._tag, "RunNotFound")
        assert.strictEqual((yield* service.list(b)).runs.length, 0)
        const empty = yield* service.showback(b, { ...march, dimension: "team" })
        assert.deepStrictEqual(empty.lines, [])
        assert.isTrue(empty.total.isZero())
      }))

    it.effect("runs list newest first, a page at a time", () =>
      Effect.gen(function*() {
        const service = yield* Chargeback.Chargeback
        const tenantId = yield* newTenant()
        yield* insert(tenantId, marchCalls)
        const ids: Array<string> = []
        for (const dimension of ["team", "costCenter", "project", "customer", "model"]) {
          ids.push((yield* service.run(tenantId, { ...march, dimension })).id)
        }
        yield* service.finalize(tenantId, ids[1]!)
        const seen: Array<string> = []
        let after: string | undefined
        for (let page = 0; page < 5; page++) {
          const result = yield* service.list(tenantId, { limit: 2, after })
          seen.push(...result.runs.map((r) => r.id))
          if (!result.hasMore) break
          after = result.endCursor!
        }
        assert.deepStrictEqual(seen, [...ids].reverse())
        const finals = yield* service.list(tenantId, { status: "final" })
        assert.deepStrictEqual(finals.runs.map((r) => [r.id, r.status]), [[ids[1]!, "final"]])
        assert.strictEqual((yield* Effect.flip(service.list(tenantId, { limit: 0 })))._tag, "InvalidChargeback")
        assert.strictEqual((yield* Effect.flip(service.list(tenantId, { after: "nope" })))._tag, "InvalidChargeback")
      }))
  })
})
