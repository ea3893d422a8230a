/** The laws of the money maths, each a fast-check property that fails when the law is broken. */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { Result } from "effect"
import { Allocation, CostBreakdown, CostEngine, Money, PricingSnapshot, Usage } from "../src/index.ts"
import * as Arb from "./Arbitraries.ts"
import { eq, fromDecimalString, referenceTotal } from "./Reference.ts"

const total = (usage: Usage.Usage, snapshot: PricingSnapshot.PricingSnapshot): Money.Decimal =>
  Result.getOrThrow(CostEngine.price(usage, snapshot)).total

const addUsage = (a: Usage.Usage, b: Usage.Usage): Usage.Usage => {
  const tokens: Record<string, number> = {}
  for (const bucket of Usage.TokenBuckets) tokens[bucket] = (a.tokens[bucket] ?? 0) + (b.tokens[bucket] ?? 0)
  const merge = (x: Readonly<Record<string, number>> = {}, y: Readonly<Record<string, number>> = {}) => {
    const out: Record<string, number> = { ...x }
    for (const [k, v] of Object.entries(y)) out[k] = (out[k] ?? 0) + v
    return out
  }
  return {
    ...a,
    tokens,
    requests: (a.requests ?? 0) + (b.requests ?? 0),
    webSearches: (a.webSearches ?? 0) + (b.webSearches ?? 0),
    toolCalls: merge(a.toolCalls, b.toolCalls),
    imagesGenerated: merge(a.imagesGenerated, b.imagesGenerated),
    ...(a.promptTokens !== undefined && b.promptTokens !== undefined ? { promptTokens: a.promptTokens + b.promptTokens } : {})
  }
}

/** The same usage context (batch, tier, region) on both sides, as additivity requires. */
const pairWithSameContext = (options: Parameters<typeof Arb.usage>[0] = {}) =>
  fc.tuple(Arb.usage(options), Arb.usage(options)).map(([a, b]) => [a, { ...b, batch: a.batch ?? false, serviceTier: a.serviceTier ?? "default", region: a.region ?? "us" }] as const)

describe("cost engine laws", () => {
  it("agrees exactly with an independent BigInt-rational reference", () => {
    fc.assert(
      fc.property(Arb.usage(), Arb.snapshotEncoded({ tiers: true }), fc.option(fc.integer({ min: 0, max: 4_000_000 }), { nil: undefined }), (usage, encoded, promptTokens) => {
        const u = promptTokens === undefined ? usage : { ...usage, promptTokens }
        const engine = Result.getOrThrow(CostEngine.price(u, PricingSnapshot.decodeSnapshot(encoded))).total
        const reference = referenceTotal(u, encoded)
        expect(reference).not.toBe("missing")
        expect(eq(fromDecimalString(Money.format(engine)), reference as Exclude<typeof reference, "missing">)).toBe(true)
      }),
      { numRuns: 500 }
    )
  })

  it("is additive without tiers: price(a + b) = price(a) + price(b)", () => {
    fc.assert(
      fc.property(pairWithSameContext(), Arb.snapshot(), ([a, b], s) => {
        expect(total(addUsage(a, b), s).equals(total(a, s).plus(total(b, s)))).toBe(true)
      }),
      { numRuns: 300 }
    )
  })

  it("is additive within one tier", () => {
    fc.assert(
      fc.property(pairWithSameContext(), Arb.snapshot({ tiers: true }), fc.integer({ min: 0, max: 1000 }), ([a, b], s, extra) => {
        // Both calls and their sum sit above every threshold, so one tier prices all three.
        const top = Math.max(0, ...(s.tiers ?? []).map((t) => t.aboveTokens)) + 1 + extra
        const ua = { ...a, promptTokens: top }
        const ub = { ...b, promptTokens: top }
        expect(total(addUsage(ua, ub), s).equals(total(ua, s).plus(total(ub, s)))).toBe(true)
      }),
      { numRuns: 200 }
    )
  })

  it("is monotone in every count", () => {
    fc.assert(
      fc.property(Arb.usage(), Arb.snapshot(), fc.constantFrom(...Usage.TokenBuckets), fc.integer({ min: 1, max: 1_000_000 }), (u, s, bucket, more) => {
        const bigger = { ...u, tokens: { ...u.tokens, [bucket]: (u.tokens[bucket] ?? 0) + more } }
        expect(total(bigger, s).greaterThanOrEqualTo(total(u, s))).toBe(true)
        const moreSearches = { ...u, webSearches: (u.webSearches ?? 0) + 1 }
        expect(total(moreSearches, s).greaterThanOrEqualTo(total(u, s))).toBe(true)
      }),
      { numRuns: 300 }
    )
  })

  it("is monotone in every rate", () => {
    fc.assert(
      fc.property(Arb.usage(), Arb.snapshotEncoded(), fc.constantFrom(...Usage.TokenBuckets), Arb.decimalString(10), (u, encoded, bucket, raise) => {
        const before = PricingSnapshot.decodeSnapshot(encoded)
        const after = PricingSnapshot.decodeSnapshot({
          ...encoded,
          rates: { ...encoded.rates, [bucket]: Money.format(new Money.Decimal(encoded.rates[bucket] ?? "0").plus(raise)) }
        })
        expect(total(u, after).greaterThanOrEqualTo(total(u, before))).toBe(true)
      }),
      { numRuns: 300 }
    )
  })

  it("zero usage costs zero", () => {
    fc.assert(
      fc.property(Arb.snapshot({ tiers: true }), fc.boolean(), (s, batch) => {
        expect(total({ tokens: {}, batch }, s).isZero()).toBe(true)
      }),
      { numRuns: 100 }
    )
  })

  describe("cached input", () => {
    const cachedSnapshot = (encoded: PricingSnapshot.PricingSnapshotEncoded, discount: string) => {
      const { cacheRead: _dropped, ...rates } = encoded.rates
      return PricingSnapshot.decodeSnapshot({ ...encoded, rates, cachedInputDiscountPercent: discount, tiers: [] })
    }

    it("a 0% discount equals pricing the cached tokens as plain input", () => {
      fc.assert(
        fc.property(Arb.usage(), Arb.snapshotEncoded(), (u, encoded) => {
          const s = cachedSnapshot(encoded, "0")
          const cached = u.tokens.cacheRead ?? 0
          const asInput = { ...u, tokens: { ...u.tokens, cacheRead: 0, inputText: (u.tokens.inputText ?? 0) + cached } }
          expect(total(u, s).equals(total(asInput, s))).toBe(true)
        }),
        { numRuns: 200 }
      )
    })

    it("a 100% discount makes cached tokens free", () => {
      fc.assert(
        fc.property(Arb.usage(), Arb.snapshotEncoded(), (u, encoded) => {
          const s = cachedSnapshot(encoded, "100")
          const withoutCached = { ...u, tokens: { ...u.tokens, cacheRead: 0 } }
          expect(total(u, s).equals(total(withoutCached, s))).toBe(true)
        }),
        { numRuns: 200 }
      )
    })

    it("caching never raises cost: moving input tokens into the cache never costs more", () => {
      fc.assert(
        fc.property(Arb.usage(), Arb.snapshotEncoded(), Arb.percentString, fc.integer({ min: 0, max: 100 }), (u, encoded, discount, share) => {
          const s = cachedSnapshot(encoded, discount)
          const input = u.tokens.inputText ?? 0
          const moved = Math.floor((input * share) / 100)
          const cachedUsage = { ...u, tokens: { ...u.tokens, inputText: input - moved, cacheRead: (u.tokens.cacheRead ?? 0) + moved } }
          expect(total(cachedUsage, s).lessThanOrEqualTo(total(u, s))).toBe(true)
        }),
        { numRuns: 200 }
      )
    })
  })

  it("batch discount and service-tier multipliers apply exactly", () => {
    fc.assert(
      fc.property(Arb.usage({ units: false, context: false }), Arb.snapshotEncoded({ conditions: false }), Arb.percentString, Arb.decimalString(3, 3), (u, encoded, pct, m) => {
        const plain = PricingSnapshot.decodeSnapshot(encoded)
        const conditioned = PricingSnapshot.decodeSnapshot({ ...encoded, batchDiscountPercent: pct, serviceTierMultipliers: { priority: m } })
        const tokensOnly = { ...u, requests: 0 }
        const base = total(tokensOnly, plain)
        const expected = base.times(new Money.Decimal(100).minus(pct)).div(100).times(m)
        expect(total({ ...tokensOnly, batch: true, serviceTier: "priority" }, conditioned).equals(expected)).toBe(true)
      }),
      { numRuns: 200 }
    )
  })

  it("tier rates apply exactly: above a cliff every bucket is priced at the tier's rates", () => {
    fc.assert(
      fc.property(Arb.usage({ units: false, context: false }), Arb.snapshotEncoded({ conditions: false }), Arb.fullRates, fc.integer({ min: 0, max: 100_000 }), (u, encoded, tierRates, threshold) => {
        const tiered = PricingSnapshot.decodeSnapshot({ ...encoded, tiers: [{ aboveTokens: threshold, rates: tierRates }] })
        const tierOnly = PricingSnapshot.decodeSnapshot({ ...encoded, rates: tierRates, tiers: [] })
        const above = { ...u, requests: 0, promptTokens: threshold + 1 }
        expect(total(above, tiered).equals(total(above, tierOnly))).toBe(true)
      }),
      { numRuns: 200 }
    )
  })

  it("lines sum exactly to the total", () => {
    fc.assert(
      fc.property(Arb.usage(), Arb.snapshot({ tiers: true }), (u, s) => {
        const b = Result.getOrThrow(CostEngine.price(u, s))
        expect(Money.sum(b.lines.map((l) => l.amount)).equals(b.total)).toBe(true)
        for (const l of b.lines) expect(l.quantity.times(l.unitPrice).equals(l.amount)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })

  it("rounded lines sum to the rounded total and each stays within one minor unit", () => {
    fc.assert(
      fc.property(Arb.usage(), Arb.snapshot({ tiers: true }), fc.integer({ min: 0, max: 8 }), (u, s, scale) => {
        const exact = Result.getOrThrow(CostEngine.price(u, s))
        const rounded = CostEngine.roundBreakdown(exact, scale)
        const unit = new Money.Decimal(10).pow(-scale)
        expect(rounded.total.equals(exact.total.toDecimalPlaces(scale, Money.Decimal.ROUND_HALF_EVEN))).toBe(true)
        expect(Money.sum(rounded.lines.map((l) => l.amount)).equals(rounded.total)).toBe(true)
        rounded.lines.forEach((l, i) => {
          expect(l.amount.decimalPlaces()).toBeLessThanOrEqual(scale)
          expect(l.amount.minus(exact.lines[i]!.amount).abs().lessThan(unit)).toBe(true)
        })
      }),
      { numRuns: 300 }
    )
  })

  it("largest remainder keeps sums for any amounts, including credits", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: -1_000_000, max: 1_000_000 }), fc.integer({ min: 0, max: 9 })), { maxLength: 30 }), fc.integer({ min: 0, max: 4 }), (raw, scale) => {
        const amounts = raw.map(([n, s]) => new Money.Decimal(n).div(new Money.Decimal(10).pow(s)))
        const { parts, total: t } = Allocation.largestRemainder(amounts, scale)
        expect(Money.sum(parts).equals(t)).toBe(true)
        parts.forEach((p, i) => expect(p.minus(amounts[i]!).abs().lessThan(new Money.Decimal(10).pow(-scale))).toBe(true))
      }),
      { numRuns: 300 }
    )
  })
})

describe("schemas", () => {
  it("Usage round-trips through its encoding", () => {
    fc.assert(
      fc.property(Arb.usage(), fc.option(Arb.decimalString(3600, 3), { nil: undefined }), (u, seconds) => {
        const usage: Usage.Usage = seconds === undefined ? u : { ...u, audioSeconds: new Money.Decimal(seconds) }
        const encoded = Usage.encodeUsage(usage)
        expect(Usage.encodeUsage(Usage.decodeUsage(JSON.parse(JSON.stringify(encoded))))).toEqual(encoded)
      }),
      { numRuns: 200 }
    )
  })

  it("PricingSnapshot round-trips through its encoding and keeps its id", () => {
    fc.assert(
      fc.property(Arb.snapshot({ tiers: true }), (s) => {
        const encoded = PricingSnapshot.encodeSnapshot(s)
        const again = PricingSnapshot.decodeSnapshot(JSON.parse(JSON.stringify(encoded)))
        expect(PricingSnapshot.encodeSnapshot(again)).toEqual(encoded)
        expect(PricingSnapshot.snapshotId(again)).toBe(PricingSnapshot.snapshotId(s))
      }),
      { numRuns: 200 }
    )
  })

  it("CostBreakdown round-trips through its encoding", () => {
    fc.assert(
      fc.property(Arb.usage(), Arb.snapshot({ tiers: true }), (u, s) => {
        const encoded = CostBreakdown.encode(Result.getOrThrow(CostEngine.price(u, s)))
        expect(CostBreakdown.encode(CostBreakdown.decode(JSON.parse(JSON.stringify(encoded))))).toEqual(encoded)
      }),
      { numRuns: 100 }
    )
  })

  it("the content hash is stable under key order and decimal spelling", () => {
    const shuffle = (value: unknown, seed: number): unknown => {
      if (Array.isArray(value)) return value.map((v) => shuffle(v, seed))
      if (value !== null && typeof value === "object") {
        const keys = Object.keys(value)
        const rotated = keys.slice(seed % Math.max(1, keys.length)).concat(keys.slice(0, seed % Math.max(1, keys.length))).reverse()
        return Object.fromEntries(rotated.map((k) => [k, shuffle((value as Record<string, unknown>)[k], seed)]))
      }
      return value
    }
    fc.assert(
      fc.property(Arb.snapshotEncoded({ tiers: true }), fc.nat(), (encoded, seed) => {
        const a = PricingSnapshot.snapshotId(PricingSnapshot.decodeSnapshot(encoded))
        const b = PricingSnapshot.snapshotId(PricingSnapshot.decodeSnapshot(shuffle(encoded, seed)))
        expect(b).toBe(a)
      }),
      { numRuns: 200 }
    )
    const base = { provider: "p", modelKey: "m", rates: { inputText: "30" } }
    expect(PricingSnapshot.snapshotId(PricingSnapshot.decodeSnapshot({ ...base, rates: { inputText: "30.00" } })))
      .toBe(PricingSnapshot.snapshotId(PricingSnapshot.decodeSnapshot(base)))
    expect(PricingSnapshot.snapshotId(PricingSnapshot.decodeSnapshot({ ...base, rates: { inputText: "30.01" } })))
      .not.toBe(PricingSnapshot.snapshotId(PricingSnapshot.decodeSnapshot(base)))
  })
})
