/** fast-check generators of spend, allocation rules and shared owners, for the chargeback allocation laws. */
import fc from "fast-check"
import { type CostAllocation, Money } from "../src/index.ts"

const owners = ["alpha", "beta", "gamma", "delta", "platform"] as const

/** A cost as the ledger holds one: up to 15 decimals, up to a few hundred currency units. */
const costArb = fc.tuple(fc.bigInt({ min: 0n, max: 500_000_000_000_000_000n }), fc.integer({ min: 9, max: 15 }))
  .map(([mantissa, scale]) => new Money.Decimal(mantissa.toString()).div(new Money.Decimal(10).pow(scale)))

export const spendArb = fc.array(
  fc.record({
    owner: fc.option(fc.constantFrom(...owners), { nil: null }),
    cost: costArb,
    requests: fc.integer({ min: 0, max: 1000 })
  }),
  { maxLength: 40 }
)

/** Percentages in hundredths that sum to exactly 100 over a random set of owners. */
const fixedArb: fc.Arbitrary<CostAllocation.Rules.RuleInput> = fc.uniqueArray(fc.constantFrom("alpha", "beta", "gamma", "zeta"), { minLength: 1, maxLength: 4 })
  .chain((names) =>
    fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: names.length - 1, maxLength: names.length - 1 }).map((cuts) => {
      const points = [0, ...[...cuts].sort((a, b) => a - b), 10_000]
      const shares: Record<string, Money.Decimal> = {}
      names.forEach((name, i) => (shares[name] = new Money.Decimal(points[i + 1]! - points[i]!).div(100)))
      return { kind: "fixed", shares } as const
    })
  )

export const ruleArb: fc.Arbitrary<CostAllocation.Rules.RuleInput> = fc.oneof(
  fc.constant<CostAllocation.Rules.RuleInput>({ kind: "proportional" }),
  fc.constant<CostAllocation.Rules.RuleInput>({ kind: "even" }),
  fc.constant<CostAllocation.Rules.RuleInput>({ kind: "even", among: ["alpha", "zeta"] }),
  fc.constant<CostAllocation.Rules.RuleInput>({ kind: "none" }),
  fixedArb
)

export const sharedArb = fc.oneof(fc.constant<ReadonlyArray<string>>([]), fc.constant<ReadonlyArray<string>>(["platform"]))
