/**
 * The benchmark's load generator, a process of its own: posts batches of raw provider payloads to
 * `POST /api/v1/usage/ingest` over loopback with keep-alive connections, a fixed number of
 * requests in flight, and prints one JSON line with what it measured.
 *
 * Bodies are generated and serialized before the clock starts; the timer covers sending them,
 * the worker's work, and reading every answer. Each answer is checked: every event inserted.
 *
 * Environment: BENCH_URL, BENCH_KEY, BENCH_EVENTS, BENCH_BATCH, BENCH_CONCURRENCY, BENCH_WARMUP
 * (batches sent before timing).
 */
import { Agent, request } from "node:http"
import { events } from "./Events.ts"

const url = new URL("/api/v1/usage/ingest", process.env["BENCH_URL"])
const key = process.env["BENCH_KEY"] ?? ""
const total = Number(process.env["BENCH_EVENTS"] ?? 50_000)
const batch = Number(process.env["BENCH_BATCH"] ?? 500)
const concurrency = Number(process.env["BENCH_CONCURRENCY"] ?? 4)
const warmup = Number(process.env["BENCH_WARMUP"] ?? 4)

const agent = new Agent({ keepAlive: true, maxSockets: concurrency })

const post = (body: Buffer) =>
  new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(url, {
      method: "POST",
      agent,
      headers: { "content-type": "application/json", "content-length": body.length, authorization: `Bearer ${key}` }
    }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }))
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end(body)
  })

const bodies = (from: number, count: number) =>
  Array.from({ length: Math.ceil(count / batch) }, (_, b) =>
    Buffer.from(JSON.stringify(events(from + b * batch, Math.min(batch, count - b * batch)))))

const send = async (list: ReadonlyArray<Buffer>) => {
  let next = 0
  let inserted = 0
  let bytes = 0
  const worker = async () => {
    while (next < list.length) {
      const body = list[next++]!
      bytes += body.length
      const reply = await post(body)
      if (reply.status !== 200) throw new Error(`HTTP ${reply.status}: ${reply.text.slice(0, 500)}`)
      inserted += (JSON.parse(reply.text) as { inserted: number }).inserted
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { inserted, bytes }
}

// Warm-up events come after the measured ones in the id space, so the measured ids are the
// same 0 .. total-1 as the store path's.
const warm = bodies(total, warmup * batch)
const measured = bodies(0, total)
await send(warm)
// Tells the bench the measured part starts (it samples the server's CPU time now).
process.stdout.write(`${JSON.stringify({ phase: "measuring" })}\n`)
const started = process.hrtime.bigint()
const cpu = process.cpuUsage()
const { inserted, bytes } = await send(measured)
const seconds = Number(process.hrtime.bigint() - started) / 1e9
const used = process.cpuUsage(cpu)
agent.destroy()
if (inserted !== total) throw new Error(`expected ${total} inserted, got ${inserted}`)
const cpuSeconds = (used.user + used.system) / 1e6
process.stdout.write(`${JSON.stringify({ events: total, batch, concurrency, seconds, bytes, eventsPerSecond: total / seconds, cpuSeconds })}\n`)
