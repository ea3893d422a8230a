/**
 * `tally reprice --tenant T --from ISO --to ISO [--only-unpriced] [--dry-run] [--by actor]`: price
 * a tenant's recorded calls of `[from, to)` again with the price book in force at each call's
 * time, in the configured database (`TALLY_DATABASE_URL` / `TALLY_DATA_DIR`, or `--database-url` /
 * `--data-dir`). Unpriced and partial calls become priced where a price now exists; a changed
 * price is recorded as a correction entry that keeps the price before; final chargeback periods
 * receive the difference as corrections in the next run. A second run changes nothing.
 * `--dry-run` prints the same summary and writes nothing.
 *
 * The JSON summary on stdout: run id (null when nothing was written), calls scanned, repriced,
 * newly priced, corrected, unchanged and skipped, the totals before and after per currency, the
 * snapshots before and after. Exit 2 for bad input or an unknown tenant, 1 for a database failure.
 */
import { Catalog } from "@tally/catalog"
import { Reprice } from "@tally/engine"
import { Store } from "@tally/store"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { CliError, ExitCode, invalidInput } from "../CliError.ts"
import type * as Commands from "../Commands.ts"
import { type DatabaseFlags, invalid, requireTenant, withDatabase } from "../CommandDatabase.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { parseAt } from "./Cost.ts"

const command = "reprice"

/** The built-in catalog, as the worker prices with it; one that cannot load exits 1 naming it. */
const catalog = Catalog.Catalog.layer.pipe(
  Layer.catchTag("CatalogLoadError", (error) =>
    Layer.effect(
      Catalog.Catalog,
      Effect.fail(new CliError({ message: `${command}: catalog: ${error.message}`, exitCode: ExitCode.unexpected }))
    ))
)

/** What the command was asked, checked; the database flags say where. */
export interface RepriceRequest extends DatabaseFlags {
  readonly tenantId: string
  readonly from: Date
  readonly to: Date
  readonly onlyUnpriced: boolean
  readonly dryRun: boolean
  readonly actor: string
}

/** Runs a checked request against the configured database; the JSON summary. */
export const reprice = (request: RepriceRequest) =>
  withDatabase(
    command,
    request,
    (database) => Reprice.Repricing.layer.pipe(Layer.provideMerge(Layer.merge(Store.layerWith(database), catalog))),
    Effect.andThen(
      requireTenant(command, request.tenantId),
      Reprice.Repricing.use((service) =>
        service.reprice(request.tenantId, {
          from: DateTime.fromDateUnsafe(request.from),
          to: DateTime.fromDateUnsafe(request.to),
          onlyUnpriced: request.onlyUnpriced,
          dryRun: request.dryRun,
          actor: request.actor
        })
      ).pipe(
        Effect.map((summary) => ({ tenant: request.tenantId, ...Reprice.summaryJson(summary) })),
        Effect.catchTag(["InvalidReprice", "TenantNotFound", "CatalogInvalid"], invalid(command))
      )
    )
  )

export const run = ({ positionals, values }: Parsed<typeof Commands.reprice.flags>) =>
  Effect.gen(function*() {
    if (positionals.length > 0) return yield* invalidInput(`${command}: unexpected argument "${positionals[0]}"`)
    // Everything typed is checked before the database is opened.
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const from = yield* parseAt(command, yield* Spec.required(command, "from", values.from), "--from")
    const to = yield* parseAt(command, yield* Spec.required(command, "to", values.to), "--to")
    if (to.getTime() <= from.getTime()) {
      return yield* invalidInput(`${command}: --to (${to.toISOString()}) must be after --from (${from.toISOString()})`)
    }
    if (values.by !== undefined && values.by.trim() === "") return yield* invalidInput(`${command}: --by must not be empty`)
    return yield* reprice({
      tenantId,
      from,
      to,
      onlyUnpriced: values["only-unpriced"] === true,
      dryRun: values["dry-run"] === true,
      actor: values.by ?? "cli",
      "database-url": values["database-url"],
      "data-dir": values["data-dir"]
    })
  })
