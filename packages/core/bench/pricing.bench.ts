/**
 * Priced usage records per second over 1M records of a realistic mix (text, cache read,
 * reasoning, some long-context tiers, some batch), exact engine next to a plain-float
 * implementation of the same formulas, in the same run. Prints one JSON line per result.
 *
 *   node packages/core/bench/pricing.bench.ts [records]
 */
import { Result } from "effect"
import { CostEngine, PricingSnapshot, type Usage } from "../src/index.ts"

const records = Number(process.argv[2] ?? 1_000_000)

// Deterministic generator (mulberry32) so every run prices the same mix.
let seed = 42
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const int = (max: number) => Math.floor(random() * max)

const snapshots = [
  PricingSnapshot.decodeSnapshot({
    provider: "openai", modelKey: "gpt-4o",
    rates: { inputText: "2.50", cacheRead: "1.25", outputText: "10" },
    batchDiscountPercent: "50"
  }),
  PricingSnapshot.decodeSnapshot({
    provider: "openai", modelKey: "o4-mini",
    rates: { inputText: "1.10", cacheRead: "0.275", outputText: "4.40" },
    batchDiscountPercent: "50", serviceTierMultipliers: { flex: "0.5" }
  }),
  PricingSnapshot.decodeSnapshot({
    provider: "google", modelKey: "gemini-2.5-pro",
    rates: { inputText: "1.25", cacheRead: "0.31", outputText: "10" },
    tiers: [{ aboveTokens: 200_000, rates: { inputText: "2.50", cacheRead: "0.625", outputText: "15" } }]
  }),
  PricingSnapshot.decodeSnapshot({
    provider: "anthropic", modelKey: "claude-sonnet-4",
    rates: { inputText: "3", cacheRead: "0.30", cacheWrite5m: "3.75", cacheWrite1h: "6", outputText: "15" }
  })
]

interface Job {
  readonly usage: Usage.Usage
  readonly snapshot: PricingSnapshot.PricingSnapshot
}

const jobs: Array<Job> = []
for (let i = 0; i < records; i++) {
  const which = int(snapshots.length)
  const longContext = which === 2 && random() < 0.1
  const inputText = longContext ? 150_000 + int(200_000) : 200 + int(8000)
  const cacheRead = random() < 0.5 ? int(20_000) : 0
  const tokens: Record<string, number> = { inputText, outputText: 50 + int(2000) }
  if (cacheRead > 0) tokens.cacheRead = cacheRead
  if (which !== 0 && random() < 0.4) tokens.reasoning = int(4000)
  if (which === 3 && random() < 0.2) tokens.cacheWrite5m = int(5000)
  jobs.push({
    usage: { tokens, requests: 1, ...(random() < 0.1 && which < 2 ? { batch: true } : {}), ...(which === 1 && random() < 0.2 ? { serviceTier: "flex" } : {}) },
    snapshot: snapshots[which]!
  })
}

// The same formulas on JS floats: what a naive billing engine does.
interface FloatRates { [bucket: string]: number | undefined }
interface FloatSnapshot {
  readonly rates: FloatRates
  readonly tiers: ReadonlyArray<{ readonly aboveTokens: number; readonly rates: FloatRates }>
  readonly batchDiscountPercent: number | undefined
  readonly serviceTierMultipliers: Record<string, number>
}
const toFloat = (s: PricingSnapshot.PricingSnapshot): FloatSnapshot => ({
  rates: Object.fromEntries(Object.entries(s.rates).map(([k, v]) => [k, v.toNumber()])),
  tiers: (s.tiers ?? []).map((t) => ({ aboveTokens: t.aboveTokens, rates: Object.fromEntries(Object.entries(t.rates).map(([k, v]) => [k, v.toNumber()])) })),
  batchDiscountPercent: s.batchDiscountPercent?.toNumber(),
  serviceTierMultipliers: Object.fromEntries(Object.entries(s.serviceTierMultipliers ?? {}).map(([k, v]) => [k, v.toNumber()]))
})
const floatSnapshots = new Map(snapshots.map((s) => [s, toFloat(s)]))
const floatPrice = (usage: Usage.Usage, s: FloatSnapshot) => {
  let prompt = 0
  for (const b of ["inputText", "cacheRead", "cacheWrite5m", "cacheWrite1h"]) prompt += usage.tokens[b as Usage.TokenBucket] ?? 0
  let rates = s.rates
  for (const tier of s.tiers) if (prompt > tier.aboveTokens) rates = { ...rates, ...tier.rates }
  let factor = 1
  if (usage.serviceTier !== undefined && s.serviceTierMultipliers[usage.serviceTier] !== undefined) factor *= s.serviceTierMultipliers[usage.serviceTier]!
  if (usage.batch === true && s.batchDiscountPercent !== undefined) factor *= (100 - s.batchDiscountPercent) / 100
  const lines: Array<{ component: string; quantity: number; unitPrice: number; amount: number }> = []
  let total = 0
  for (const [bucket, quantity] of Object.entries(usage.tokens)) {
    if (quantity === 0) continue
    const rate = rates[bucket] ?? (bucket === "reasoning" ? rates.outputText : undefined)
    if (rate === undefined) throw new Error(`no rate for ${bucket}`)
    const unitPrice = (rate / 1_000_000) * factor
    const amount = quantity * unitPrice
    lines.push({ component: bucket, quantity, unitPrice, amount })
    total += amount
  }
  return { lines, total }
}

const timed = (run: () => number) => {
  const started = process.hrtime.bigint()
  const checksum = run()
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, checksum }
}

const runFloat = () => {
  let lines = 0
  for (const job of jobs) lines += floatPrice(job.usage, floatSnapshots.get(job.snapshot)!).lines.length
  return lines
}
const runExact = () => {
  let lines = 0
  for (const job of jobs) lines += Result.getOrThrow(CostEngine.price(job.usage, job.snapshot)).lines.length
  return lines
}

// Interleaved rounds after a warm-up pass, median of each: these machines are noisy.
runFloat()
runExact()
const rounds = 5
const samples = { float: [] as Array<number>, exact: [] as Array<number> }
for (let round = 0; round < rounds; round++) {
  const f = timed(runFloat)
  const e = timed(runExact)
  if (f.checksum !== e.checksum) throw new Error(`line counts differ: ${f.checksum} vs ${e.checksum}`)
  samples.float.push(f.seconds)
  samples.exact.push(e.seconds)
}
const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const report = (name: string, seconds: number) => ({ bench: "pricing", name, records, rounds, medianSeconds: Number(seconds.toFixed(3)), recordsPerSecond: Math.round(records / seconds) })
const float = report("float-baseline", median(samples.float))
const exact = report("exact-engine", median(samples.exact))
console.log(JSON.stringify(float))
console.log(JSON.stringify(exact))
console.log(JSON.stringify({ bench: "pricing", ratio: Number((exact.recordsPerSecond / float.recordsPerSecond).toFixed(3)), goal: 0.25 }))
