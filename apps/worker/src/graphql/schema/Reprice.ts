/**
 * Repricing: a tenant's recorded calls of a period priced again with the price book in force at
 * each call's time. Unpriced and partial calls become priced where a price now exists; a changed
 * price is recorded as a correction entry that keeps the price before, with the API key as the
 * actor; a final chargeback period gets the difference as corrections in its next run. The work
 * is the engine's (`Reprice.Repricing`); the resolver only calls it.
 */
import { type Money } from "@tally/core"
import { Reprice } from "@tally/engine"
import { builder, changeErrors } from "../builder.ts"

const TotalRef = builder.objectRef<Reprice.CurrencyDelta>("RepriceTotal").implement({
  description: "What the changed calls cost in one currency before and after, exactly.",
  fields: (t) => ({
    currency: t.exposeString("currency"),
    before: t.field({ type: "Decimal", resolve: (d): Money.Decimal => d.before }),
    after: t.field({ type: "Decimal", resolve: (d): Money.Decimal => d.after }),
    delta: t.field({ type: "Decimal", description: "after - before.", resolve: (d): Money.Decimal => d.delta })
  })
})

const SummaryRef = builder.objectRef<Reprice.RepriceSummary>("RepriceSummary").implement({
  description: "What a reprice read and changed (or, in a dry run, would change).",
  fields: (t) => ({
    runId: t.exposeID("runId", { nullable: true, description: "The audit record's id; null for a dry run or a run that changed nothing." }),
    dryRun: t.exposeBoolean("dryRun"),
    actor: t.exposeString("actor"),
    from: t.field({ type: "DateTime", resolve: (s) => s.from }),
    to: t.field({ type: "DateTime", resolve: (s) => s.to }),
    onlyUnpriced: t.exposeBoolean("onlyUnpriced"),
    priceBookVersion: t.exposeInt("priceBookVersion", { description: "The tenant's price-book version it priced with." }),
    scanned: t.exposeInt("scanned", { description: "Calls read." }),
    repriced: t.exposeInt("repriced", { description: "Calls whose price changed." }),
    newlyPriced: t.exposeInt("newlyPriced", { description: "Of those, unpriced or partial calls that gained priced lines." }),
    corrections: t.exposeInt("corrections", { description: "Of those, priced calls whose price changed." }),
    unchanged: t.exposeInt("unchanged"),
    skipped: t.exposeInt("skipped", { description: "Calls another writer repriced between read and write: left alone." }),
    totals: t.field({ type: [TotalRef], description: "Per currency, sorted by code.", resolve: (s) => s.totals }),
    snapshotsBefore: t.exposeStringList("snapshotsBefore", { description: "Snapshots the changed calls were priced with before." }),
    snapshotsAfter: t.exposeStringList("snapshotsAfter", { description: "Snapshots they are priced with now." })
  })
})

const RepriceInput = builder.inputType("RepriceInput", {
  fields: (t) => ({
    from: t.field({ type: "DateTime", required: true }),
    to: t.field({ type: "DateTime", required: true, description: "Exclusive." }),
    onlyUnpriced: t.boolean({ defaultValue: false, description: "Only calls recorded unpriced or partial." }),
    dryRun: t.boolean({ defaultValue: false, description: "Compute the summary, write nothing." })
  })
})

builder.mutationField("reprice", (t) =>
  t.field({
    type: SummaryRef,
    description:
      "Prices the tenant's calls of `[from, to)` again with the price book in force at each call's time. Idempotent: a second run changes nothing.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { input: t.arg({ type: RepriceInput, required: true }) },
    resolve: (_root, { input }, context) =>
      context.run(Reprice.Repricing.use((r) =>
        r.reprice(context.tenantId, {
          from: input.from,
          to: input.to,
          onlyUnpriced: input.onlyUnpriced ?? false,
          dryRun: input.dryRun ?? false,
          actor: context.key.keyId
        })
      ))
  }))
