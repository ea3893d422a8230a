/** `tally price --snapshot s.json --usage u.json [--round N]`: prices one usage with one snapshot. */
import { CostBreakdown, CostEngine, PricingSnapshot, Usage } from "@tally/core"
import { Effect, Result } from "effect"
import * as Args from "../Args.ts"
import { CliError, ExitCode } from "../CliError.ts"
import { decodeFile } from "../Input.ts"

export const usage = "tally price --snapshot <snapshot.json> --usage <usage.json|-> [--round <places>]"

export const run = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const { values } = yield* Args.parse("price", args, {
      snapshot: { type: "string" },
      usage: { type: "string" },
      round: { type: "string" }
    })
    const snapshotPath = yield* Args.required("price", "snapshot", values.snapshot)
    const usagePath = yield* Args.required("price", "usage", values.usage)
    const round = yield* Args.nonNegativeInt("price", "round", values.round)
    const snapshot = yield* decodeFile(PricingSnapshot.PricingSnapshot, snapshotPath)
    const usage = yield* decodeFile(Usage.Usage, usagePath)
    const priced = CostEngine.price(usage, snapshot)
    if (Result.isFailure(priced)) {
      return yield* new CliError({ message: priced.failure.message, exitCode: ExitCode.unpriced })
    }
    const breakdown = round === undefined ? priced.success : CostEngine.roundBreakdown(priced.success, round)
    return CostBreakdown.encode(breakdown)
  })
