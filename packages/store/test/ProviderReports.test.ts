import { assert, describe, layer } from "@effect/vitest"
import type { Reconciliation } from "@tally/core"
import * as Effect from "effect/Effect"
import { ProviderReports } from "../src/ProviderReports.ts"
import { newTenant } from "./StoredTotals.ts"
import { layerOptions, targets } from "./Targets.ts"

const report = (from: string, to: string, name?: string): Reconciliation.ReportInput => ({
  format: "csv",
  ...(name === undefined ? {} : { name }),
  period: { from: new Date(from), to: new Date(to) },
  rowCount: 2,
  content: "day,model,cost\n2025-08-01,gpt-4o,1.5\n2025-08-02,gpt-4o,2\n"
})

for (const target of targets) {
  describe(`ProviderReports (${target.name})`, () => {
    layer(target.layer, layerOptions)((it) => {
      it.effect("a report is kept exactly as uploaded and listed for the periods it overlaps, oldest upload first", () =>
        Effect.gen(function*() {
          const tenantId = yield* newTenant()
          const other = yield* newTenant("Other")
          const reports = yield* ProviderReports
          const august = yield* reports.save(tenantId, report("2025-08-01T00:00:00Z", "2025-09-01T00:00:00Z", "august"))
          const july = yield* reports.save(tenantId, report("2025-07-01T00:00:00Z", "2025-08-01T00:00:00Z"))
          const late = yield* reports.save(tenantId, report("2025-08-20T00:00:00Z", "2025-08-21T00:00:00Z"))
          assert.strictEqual(august.name, "august")
          assert.match(august.uploadedAt, /^\d{4}-\d{2}-\d{2}T/)

          const listed = yield* reports.list(tenantId, { from: new Date("2025-08-01T00:00:00Z"), to: new Date("2025-09-01T00:00:00Z") })
          assert.deepStrictEqual(listed.map((r) => r.id), [august.id, late.id])
          assert.deepStrictEqual(listed[0], august)
          assert.notProperty(listed[1], "name")
          const edge = yield* reports.list(tenantId, { from: new Date("2025-07-31T00:00:00Z"), to: new Date("2025-08-01T00:00:01Z") })
          assert.deepStrictEqual(edge.map((r) => r.id), [august.id, july.id])
          assert.lengthOf(yield* reports.list(other, { from: new Date("2025-01-01T00:00:00Z"), to: new Date("2026-01-01T00:00:00Z") }), 0)
        }))
    })
  })
}
