/**
 * Chargeback from scripts, against the configured database (`TALLY_DATABASE_URL` / `TALLY_DATA_DIR`,
 * or `--database-url` / `--data-dir`):
 *
 *   tally chargeback run --tenant T (--month 2026-03 | --from ISO --to ISO) --dimension team
 *       [--rule proportional|even|fixed|none] [--share owner=percent]... [--among owner]...
 *       [--shared owner]... [--currency USD] [--by actor] [--showback]
 *   tally chargeback finalize --tenant T --run R [--by actor]
 *   tally chargeback show --tenant T [--run R] [--status draft|final] [--limit N] [--after cursor]
 *   tally chargeback export --tenant T --run R [--format csv|focus] [--focus-version 1.3|1.2] --out FILE
 *
 * `run` stores a draft (with `--showback`, computes the same lines and stores nothing); `finalize`
 * makes a draft final, after which neither it nor its lines can change; `show` prints a run with
 * its lines and audit trail, or lists runs; `export` writes the run's CSV lines or FOCUS rows (1.3 by default, 1.2 selectable)
 * to a file. Results are JSON on stdout, money as exact decimal strings.
 */
import { CostAllocation, Money } from "@tally/core"
import { Chargeback } from "@tally/engine"
import { Tenants } from "@tally/store"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { writeFile } from "node:fs/promises"
import type * as Commands from "../Commands.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { type DatabaseFlags, type Failure, invalid, requireTenant, withDatabase } from "../CommandDatabase.ts"
import { invalidInput, Printed } from "../CliError.ts"
import * as Table from "../Table.ts"

/**
 * Runs `effect` for `tenantId` with the chargeback service over the configured database; a
 * database failure exits 1. An unknown tenant exits 2 (`tenant "…" does not exist`) for every
 * subcommand, rather than listing no runs as if the tenant had none.
 */
const withChargeback = <A>(command: string, tenantId: string, values: DatabaseFlags, effect: Effect.Effect<A, Failure, Chargeback.Chargeback>) =>
  withDatabase(
    command,
    values,
    (database) => Layer.merge(Chargeback.Chargeback.layer, Tenants.Tenants.layer).pipe(Layer.provide(database)),
    Effect.andThen(requireTenant(command, tenantId), effect)
  )

const fmt = (value: Money.Decimal) => Money.format(value)
const { computationToJson: computationJson, pageToJson, runToJson: runJson } = Chargeback.Json

const list = (value: string | Array<string> | undefined): Array<string> => (value === undefined ? [] : Array.isArray(value) ? value : [value])

export const runCommand = ({ positionals, values }: Parsed<typeof Commands.chargebackRun.flags>) =>
  Effect.gen(function*() {
    const command = "chargeback run"
    if (positionals.length > 0) return yield* invalidInput(`${command}: unexpected argument "${positionals[0]}"`)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const dimension = yield* Spec.required(command, "dimension", values.dimension)
    const kind = values.rule ?? "proportional"
    const shares = list(values.share)
    const among = list(values.among)
    if (kind !== "fixed" && shares.length > 0) return yield* invalidInput(`${command}: --share needs --rule fixed`)
    if (kind !== "even" && among.length > 0) return yield* invalidInput(`${command}: --among needs --rule even`)
    const shareRecord: Record<string, string> = {}
    for (const share of shares) {
      const at = share.lastIndexOf("=")
      if (at <= 0) return yield* invalidInput(`${command}: --share must read owner=percent, got "${share}"`)
      shareRecord[share.slice(0, at)] = share.slice(at + 1)
    }
    const rule = kind === "fixed"
      ? { kind, shares: shareRecord }
      : kind === "even" && among.length > 0
      ? { kind, among }
      : { kind }
    // Everything typed is decoded before the database is opened; errors name the flag's field.
    const decoded = CostAllocation.Input.decodeRunInput({
      ...(values.month === undefined ? {} : { month: values.month }),
      ...(values.from === undefined ? {} : { from: values.from }),
      ...(values.to === undefined ? {} : { to: values.to }),
      dimension,
      rule,
      ...(values.shared === undefined ? {} : { shared: list(values.shared) }),
      ...(values.currency === undefined ? {} : { currency: values.currency })
    })
    if (Result.isFailure(decoded)) return yield* invalidInput(`${command}: ${decoded.failure.message}`)
    const input = decoded.success
    return yield* withChargeback(
      command,
      tenantId,
      values,
      Effect.gen(function*() {
        const service = yield* Chargeback.Chargeback
        if (values.showback === true) {
          return { showback: true, ...computationJson(yield* service.showback(tenantId, input)) }
        }
        return runJson(yield* service.run(tenantId, { ...input, createdBy: values.by ?? "cli" }))
      }).pipe(Effect.catchTag(["InvalidChargeback", "PeriodFinalized", "TenantNotFound"], invalid(command)))
    )
  })

export const finalizeCommand = ({ positionals, values }: Parsed<typeof Commands.chargebackFinalize.flags>) =>
  Effect.gen(function*() {
    const command = "chargeback finalize"
    if (positionals.length > 0) return yield* invalidInput(`${command}: unexpected argument "${positionals[0]}"`)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const runId = yield* Spec.required(command, "run", values.run)
    return yield* withChargeback(
      command,
      tenantId,
      values,
      Chargeback.Chargeback.use((s) => s.finalize(tenantId, runId, { finalizedBy: values.by ?? "cli" })).pipe(
        Effect.map(runJson),
        Effect.catchTag(["InvalidChargeback", "RunNotFound", "RunAlreadyFinal", "RunStale", "PeriodFinalized"], invalid(command))
      )
    )
  })

export const showCommand = ({ positionals, values }: Parsed<typeof Commands.chargebackShow.flags>) =>
  Effect.gen(function*() {
    const command = "chargeback show"
    if (positionals.length > 0) return yield* invalidInput(`${command}: unexpected argument "${positionals[0]}"`)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const status = values.status
    if (status !== undefined && status !== "draft" && status !== "final") {
      return yield* invalidInput(`${command}: --status must be draft or final, got "${status}"`)
    }
    const limit = yield* Spec.nonNegativeInt(command, "limit", values.limit)
    const runId = values.run
    if (values.format !== undefined && values.format !== "json" && values.format !== "table") {
      return yield* invalidInput(`${command}: --format must be json or table, got "${values.format}"`)
    }
    const shown = yield* withChargeback(
      command,
      tenantId,
      values,
      Effect.gen(function*() {
        const service = yield* Chargeback.Chargeback
        if (runId !== undefined) return runJson(yield* service.get(tenantId, runId))
        const page = yield* service.list(tenantId, { limit, after: values.after, status })
        return pageToJson(page)
      }).pipe(Effect.catchTag(["InvalidChargeback", "RunNotFound"], invalid(command)))
    )
    if (values.format !== "table") return shown
    return new Printed("runs" in shown ? runsTable(shown) : linesTable(shown))
  })

/** A run's lines for people: who pays what, direct and allocated. */
const linesTable = (run: ReturnType<typeof runJson>): string =>
  `run ${run.runId} (${run.status}), ${run.dimension}, ${run.from} to ${run.to}\n` +
  Table.render(
    [{ header: "#", align: "right" }, { header: "kind" }, { header: "owner" }, { header: "direct", align: "right" }, { header: "allocated", align: "right" }, {
      header: "amount",
      align: "right"
    }, { header: "requests", align: "right" }],
    run.lines.map((l) => [String(l.lineNo), l.kind, l.owner ?? "", l.direct, l.allocated, `${l.amount} ${l.currency}`, String(l.requestCount)])
  ) + `total ${run.total} ${run.currency}\n`

/** A page of runs for people, newest first. */
const runsTable = (page: ReturnType<typeof pageToJson>): string =>
  Table.render(
    [{ header: "run" }, { header: "status" }, { header: "dimension" }, { header: "from" }, { header: "to" }, { header: "total", align: "right" }, {
      header: "lines",
      align: "right"
    }],
    page.runs.map((r) => [r.runId, r.status, r.dimension, r.from, r.to, `${r.total} ${r.currency}`, String(r.lineCount)])
  ) + (page.hasMore ? `more after --after ${page.endCursor}\n` : "")

export const exportCommand = ({ positionals, values }: Parsed<typeof Commands.chargebackExport.flags>) =>
  Effect.gen(function*() {
    const command = "chargeback export"
    if (positionals.length > 0) return yield* invalidInput(`${command}: unexpected argument "${positionals[0]}"`)
    const tenantId = yield* Spec.required(command, "tenant", values.tenant)
    const runId = yield* Spec.required(command, "run", values.run)
    const out = yield* Spec.required(command, "out", values.out)
    const format = values.format ?? "csv"
    if (format !== "csv" && format !== "focus") return yield* invalidInput(`${command}: --format must be csv or focus, got "${format}"`)
    const version = values["focus-version"] ?? CostAllocation.Focus.defaultVersion
    if (!CostAllocation.Focus.isVersion(version)) {
      return yield* invalidInput(`${command}: --focus-version must be ${CostAllocation.Focus.versions.join(" or ")}, got "${version}"`)
    }
    const written = yield* withChargeback(
      command,
      tenantId,
      values,
      Effect.gen(function*() {
        const service = yield* Chargeback.Chargeback
        if (format === "csv") {
          const run = yield* service.get(tenantId, runId)
          return { text: CostAllocation.Csv.lines(run), records: run.lines.length, run }
        }
        const { rows, run } = yield* service.focus(tenantId, runId, { version })
        return { text: CostAllocation.Csv.focus(rows, version), records: rows.length, run }
      }).pipe(Effect.catchTag(["RunNotFound"], invalid(command)))
    )
    // `--out -`: the file's content on stdout, as a pipe expects it.
    if (out === "-") return new Printed(written.text)
    yield* Effect.tryPromise({
      try: () => writeFile(out, written.text),
      catch: (cause) => invalidInput(`${command}: cannot write ${out}: ${(cause as Error).message}`)
    })
    return {
      runId: written.run.id,
      status: written.run.status,
      format,
      ...(format === "focus" ? { focusVersion: version } : {}),
      file: out,
      records: written.records,
      total: fmt(written.run.total),
      currency: written.run.currency
    }
  })
