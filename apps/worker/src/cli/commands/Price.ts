/** `tally price --snapshot s.json --usage u.json [--round N]`: prices one usage with one snapshot. */
import { CostBreakdown, CostEngine, PricingSnapshot, Usage } from "@tally/core"
import { Effect, Result } from "effect"
import type * as Commands from "../Commands.ts"
import * as Spec from "../Spec.ts"
import type { Parsed } from "../Spec.ts"
import { CliError, ExitCode } from "../CliError.ts"
import { decodeFile } from "../Input.ts"

export const run = ({ values }: Parsed<typeof Commands.price.flags>) =>
  Effect.gen(function*() {
    const snapshotPath = yield* Spec.required("price", "snapshot", values.snapshot)
    const usagePath = yield* Spec.required("price", "usage", values.usage)
    const round = yield* Spec.nonNegativeInt("price", "round", values.round)
    const snapshot = yield* decodeFile(PricingSnapshot.PricingSnapshot, snapshotPath)
    const usage = yield* decodeFile(Usage.Usage, usagePath)
    const priced = CostEngine.price(usage, snapshot)
    if (Result.isFailure(priced)) {
      return yield* new CliError({ message: priced.failure.message, exitCode: ExitCode.unpriced })
    }
    const breakdown = round === undefined ? priced.success : CostEngine.roundBreakdown(priced.success, round)
    return CostBreakdown.encode(breakdown)
  })
