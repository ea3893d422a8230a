/**
 * `pnpm bench pricer`: the pricer against its peer and its own start-up, in one run.
 *
 * 1. `pricer.price` by model name vs `@pydantic/genai-prices` `calcPrice` on the same generated
 *    calls (OpenAI, Anthropic and Gemini models, cache reads and writes, reasoning, Gemini's
 *    long-context tier), both given the same genai-prices usage objects and the same `Date`.
 *    First every call is priced by both and compared to the cent; then both are timed in
 *    alternating rounds and the best round of each is reported.
 * 2. Cold start: a fresh `node` process imports the built pricer (`dist/`, what `npm install`
 *    gives a user; `pnpm build` runs first), creates it and prices one call; wall time and peak
 *    RSS, median of several runs, next to an empty `node` process from the same run.
 *
 *   node --conditions=source packages/pricing/bench/pricer.bench.ts [calls]
 */
import { calcPrice } from "@pydantic/genai-prices"
import { execFileSync, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { createPricer } from "../src/index.ts"

const calls = Number(process.argv[2] ?? 200_000)
const root = fileURLToPath(new URL("../../../", import.meta.url))
const packageDir = fileURLToPath(new URL("..", import.meta.url))

let seed = 7
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const int = (max: number) => Math.floor(random() * max)

interface Model {
  readonly provider: "openai" | "anthropic" | "google"
  readonly model: string
  readonly cacheWrites?: boolean
  readonly reasoning?: boolean
  readonly longContext?: boolean
}
const models: ReadonlyArray<Model> = [
  { provider: "openai", model: "gpt-4o" },
  { provider: "openai", model: "gpt-4o-mini" },
  { provider: "openai", model: "gpt-4.1" },
  { provider: "openai", model: "o4-mini", reasoning: true },
  { provider: "openai", model: "o3", reasoning: true },
  { provider: "anthropic", model: "claude-sonnet-4-5", cacheWrites: true },
  { provider: "anthropic", model: "claude-3-5-haiku-latest", cacheWrites: true },
  { provider: "anthropic", model: "claude-opus-4-1", cacheWrites: true },
  { provider: "google", model: "gemini-2.5-pro", longContext: true, reasoning: true },
  { provider: "google", model: "gemini-2.5-flash", reasoning: true }
]

interface Call {
  readonly provider: string
  readonly model: string
  readonly usage: Record<string, number>
  readonly at: Date
}

const at = new Date("2026-05-01T12:00:00Z")
const generated: Array<Call> = []
for (let i = 0; i < calls; i++) {
  const m = models[int(models.length)]!
  const long = m.longContext === true && random() < 0.15
  const prompt = long ? 200_001 + int(300_000) : 200 + int(12_000)
  const cacheRead = random() < 0.5 ? int(Math.floor(prompt / 2)) : 0
  const cacheWrite = m.cacheWrites === true && random() < 0.3 ? int(Math.floor((prompt - cacheRead) / 2)) : 0
  const reasoning = m.reasoning === true && random() < 0.5 ? int(3000) : 0
  const usage: Record<string, number> = { input_tokens: prompt, output_tokens: 20 + int(2000) + reasoning }
  if (cacheRead > 0) usage["cache_read_tokens"] = cacheRead
  if (cacheWrite > 0) usage["cache_write_tokens"] = cacheWrite
  if (reasoning > 0) usage["output_reasoning_tokens"] = reasoning
  generated.push({ provider: m.provider, model: m.model, usage, at })
}

const pricer = createPricer()
const peer = (call: Call) => calcPrice(call.usage, call.model, { providerId: call.provider as never, timestamp: call.at })

// Agreement first: every call, to the cent.
let disagreements = 0
let maxDifference = 0
const examples: Array<string> = []
for (const call of generated) {
  const ours = pricer.price(call)
  const theirs = peer(call)
  const theirTotal = theirs?.total_price
  if (ours.total === null || theirTotal === undefined) {
    disagreements++
    if (examples.length < 5) examples.push(`${call.model}: tally ${ours.total ?? ours.unpricedDetail}, genai-prices ${theirTotal ?? "no price"}`)
    continue
  }
  const difference = Math.abs(Number(ours.total) - theirTotal)
  maxDifference = Math.max(maxDifference, difference)
  if (Math.round(Number(ours.total) * 100) !== Math.round(theirTotal * 100) && difference >= 0.005) {
    disagreements++
    if (examples.length < 5) examples.push(`${call.model} ${JSON.stringify(call.usage)}: tally ${ours.total}, genai-prices ${theirTotal}`)
  }
}
console.log(JSON.stringify({ bench: "pricer-agreement", calls, disagreements, maxAbsDifferenceUsd: maxDifference, examples }))
if (disagreements > 0) process.exitCode = 1

// Timing: alternating rounds, best of each.
let sink = 0
const timeTally = () => {
  const started = performance.now()
  for (const call of generated) sink += pricer.price(call).total?.length ?? 0
  return performance.now() - started
}
const timePeer = () => {
  const started = performance.now()
  for (const call of generated) sink += peer(call)?.total_price ?? 0
  return performance.now() - started
}
let tallyBest = Infinity
let peerBest = Infinity
for (let round = 0; round < 5; round++) {
  tallyBest = Math.min(tallyBest, timeTally())
  peerBest = Math.min(peerBest, timePeer())
}
const tallyRate = calls / (tallyBest / 1000)
const peerRate = calls / (peerBest / 1000)
console.log(JSON.stringify({
  bench: "pricer-vs-genai-prices",
  calls,
  tallyCallsPerSecond: Math.round(tallyRate),
  genaiPricesCallsPerSecond: Math.round(peerRate),
  ratio: Number((tallyRate / peerRate).toFixed(2)),
  goal: ">= 2",
  load: loadavg().map((l) => Number(l.toFixed(2))),
  sink: sink > 0
}))

// Cold start of the built package.
execFileSync(process.platform === "win32" ? "pnpm.cmd" : "pnpm", ["build"], { cwd: root, stdio: "ignore" })
const coldScript = `
  const t0 = performance.now()
  const { createPricer } = await import("@tally/pricing")
  const t1 = performance.now()
  const pricer = createPricer()
  const t2 = performance.now()
  const priced = pricer.price({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 1000, output_tokens: 200 }, at: "2026-05-01" })
  const t3 = performance.now()
  process.stdout.write(JSON.stringify({ total: priced.total, maxRssKb: process.resourceUsage().maxRSS, importMs: t1 - t0, createMs: t2 - t1, priceMs: t3 - t2 }))
`
const emptyScript = `process.stdout.write(JSON.stringify({ total: null, maxRssKb: process.resourceUsage().maxRSS, importMs: 0, createMs: 0, priceMs: 0 }))`
const compileCache = mkdtempSync(join(tmpdir(), "tally-bench-cache-"))
const measure = (script: string, env: Record<string, string> = {}) => {
  const started = performance.now()
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: packageDir, encoding: "utf8", env: { ...process.env, ...env } })
  const ms = performance.now() - started
  if (result.status !== 0) throw new Error(`cold start failed: ${result.stderr}`)
  const out = JSON.parse(result.stdout) as { total: string | null; maxRssKb: number; importMs: number; createMs: number; priceMs: number }
  return { ms, rssMb: out.maxRssKb / 1024, total: out.total, importMs: out.importMs, createMs: out.createMs, priceMs: out.priceMs }
}
const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const runs = 7
const cold = Array.from({ length: runs }, () => measure(coldScript))
const empty = Array.from({ length: runs }, () => measure(emptyScript))
// The same with Node's on-disk compile cache (NODE_COMPILE_CACHE, a setting of the user's process):
// the first run fills it, the others read it.
measure(coldScript, { NODE_COMPILE_CACHE: compileCache })
const cached = Array.from({ length: runs }, () => measure(coldScript, { NODE_COMPILE_CACHE: compileCache }))
rmSync(compileCache, { recursive: true, force: true })
console.log(JSON.stringify({
  bench: "pricer-cold-start",
  runs,
  total: cold[0]!.total,
  wallMs: Math.round(median(cold.map((c) => c.ms))),
  peakRssMb: Math.round(median(cold.map((c) => c.rssMb))),
  importMs: Math.round(median(cold.map((c) => c.importMs))),
  createPricerMs: Math.round(median(cold.map((c) => c.createMs))),
  firstPriceMs: Math.round(median(cold.map((c) => c.priceMs))),
  withCompileCacheWallMs: Math.round(median(cached.map((c) => c.ms))),
  emptyNodeWallMs: Math.round(median(empty.map((c) => c.ms))),
  emptyNodePeakRssMb: Math.round(median(empty.map((c) => c.rssMb))),
  goal: "< 300 ms, < 150 MB",
  load: loadavg().map((l) => Number(l.toFixed(2)))
}))
