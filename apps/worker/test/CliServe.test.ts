/**
 * `tally serve` and `tally demo` refuse a bad setting, from the environment or a flag, with exit 2
 * and one `tally:` line that names the variable (or flag) and what it expects, before the database
 * is opened. In-process through `Cli.run`: a refused configuration starts nothing. The same
 * refusal in a real process is in test/WorkerProcess.test.ts.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Cli from "../src/cli/Cli.ts"

const nats = { TALLY_NATS_URL: "nats://127.0.0.1:4222" }

/** [environment, the one stderr line `tally serve` prints]; `<cmd>` stands for serve or demo. */
const environment: ReadonlyArray<readonly [Readonly<Record<string, string>>, string]> = [
  [{ TALLY_MAX_BODY_BYTES: "lots" }, `tally: <cmd>: TALLY_MAX_BODY_BYTES: expected a non-negative integer, got "lots"`],
  [{ TALLY_MAX_BATCH_EVENTS: "-1" }, `tally: <cmd>: TALLY_MAX_BATCH_EVENTS: expected a non-negative integer, got "-1"`],
  [{ TALLY_PORT: "http" }, `tally: <cmd>: TALLY_PORT: expected an integer from 0 to 65535, got "http"`],
  [{ TALLY_PORT: "70000" }, `tally: <cmd>: TALLY_PORT: expected an integer from 0 to 65535, got "70000"`],
  // The value is not repeated: a database URL may hold a password.
  [{ TALLY_DATABASE_URL: "mysql://app:s3cret@db/app" }, `tally: <cmd>: TALLY_DATABASE_URL: expected a PostgreSQL URL such as postgres://user@host:5432/database`],
  [{ TALLY_DATABASE_URL: "not a url" }, `tally: <cmd>: TALLY_DATABASE_URL: expected a PostgreSQL URL such as postgres://user@host:5432/database`],
  [{ TALLY_GRAPHIQL: "maybe" }, `tally: <cmd>: TALLY_GRAPHIQL: expected "true" | "yes" | "on" | "1" | "y" | "false" | "no" | "off" | "0" | "n", got "maybe"`],
  [{ TALLY_GRAPHQL_POLL_MS: "fast" }, `tally: <cmd>: TALLY_GRAPHQL_POLL_MS: expected milliseconds from 1 to 300000, got "fast"`],
  [{ TALLY_GRAPHQL_POLL_MS: "0" }, `tally: <cmd>: TALLY_GRAPHQL_POLL_MS: expected milliseconds from 1 to 300000, got "0"`],
  [{ TALLY_GRAPHQL_CACHE_BYTES: "64MB" }, `tally: <cmd>: TALLY_GRAPHQL_CACHE_BYTES: expected bytes, an integer from 0 to 4294967296, got "64MB"`],
  [{ TALLY_GRAPHQL_CACHE_BYTES: "-1" }, `tally: <cmd>: TALLY_GRAPHQL_CACHE_BYTES: expected bytes, an integer from 0 to 4294967296, got "-1"`],
  [{ TALLY_NATS_URL: "localhost:4222" }, `tally: <cmd>: TALLY_NATS_URL: expected a NATS URL such as nats://127.0.0.1:4222, or several separated by commas, got "localhost:4222"`],
  [{ ...nats, TALLY_NATS_STREAM: "usage.stream" }, `tally: <cmd>: TALLY_NATS_STREAM: expected 1 to 64 letters, digits, \`_\` or \`-\`, got "usage.stream"`],
  [{ ...nats, TALLY_NATS_SUBJECT_PREFIX: "tally.>" }, `tally: <cmd>: TALLY_NATS_SUBJECT_PREFIX: expected subject tokens of letters, digits, \`_\` or \`-\` joined by \`.\`, without wildcards, got "tally.>"`],
  [{ ...nats, TALLY_NATS_CONSUMER: "a b" }, `tally: <cmd>: TALLY_NATS_CONSUMER: expected 1 to 64 letters, digits, \`_\` or \`-\`, got "a b"`],
  [{ ...nats, TALLY_NATS_MAX_DELIVER: "0" }, `tally: <cmd>: TALLY_NATS_MAX_DELIVER: expected a value between 1 and 1000, got "0"`],
  [{ ...nats, TALLY_NATS_MAX_IN_FLIGHT: "many" }, `tally: <cmd>: TALLY_NATS_MAX_IN_FLIGHT: expected an integer, got "many"`],
  [{ ...nats, TALLY_NATS_ACK_WAIT: "soon" }, `tally: <cmd>: TALLY_NATS_ACK_WAIT: expected a valid Duration string, got "soon"`],
  [{ ...nats, TALLY_NATS_RETRY_DELAY: "1 fortnight" }, `tally: <cmd>: TALLY_NATS_RETRY_DELAY: expected a valid Duration string, got "1 fortnight"`],
  [{ ...nats, TALLY_NATS_MAX_RETRY_DELAY: "later" }, `tally: <cmd>: TALLY_NATS_MAX_RETRY_DELAY: expected a valid Duration string, got "later"`],
  [{ ...nats, TALLY_NATS_FETCH_EXPIRES: "5" }, `tally: <cmd>: TALLY_NATS_FETCH_EXPIRES: expected a valid Duration string, got "5"`],
  [{ ...nats, TALLY_NATS_LAG_INTERVAL: "often" }, `tally: <cmd>: TALLY_NATS_LAG_INTERVAL: expected a valid Duration string, got "often"`],
  [{ ...nats, TALLY_NATS_SHUTDOWN_TIMEOUT: "-" }, `tally: <cmd>: TALLY_NATS_SHUTDOWN_TIMEOUT: expected a valid Duration string, got "-"`],
  [{ ...nats, TALLY_NATS_DEAD_LETTER_STREAM: "dead/letters" }, `tally: <cmd>: TALLY_NATS_DEAD_LETTER_STREAM: expected 1 to 64 letters, digits, \`_\` or \`-\`, got "dead/letters"`],
  [{ ...nats, TALLY_NATS_DEAD_LETTER_PREFIX: "dead.*" }, `tally: <cmd>: TALLY_NATS_DEAD_LETTER_PREFIX: expected subject tokens of letters, digits, \`_\` or \`-\` joined by \`.\`, without wildcards, got "dead.*"`]
]

const flags: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
  [["--database-url", "localhost:5432"], "tally: <cmd>: --database-url: expected a PostgreSQL URL such as postgres://user@host:5432/database"],
  [["--nats-url", "127.0.0.1:4222"], `tally: <cmd>: --nats-url: expected a NATS URL such as nats://127.0.0.1:4222, or several separated by commas, got "127.0.0.1:4222"`],
  [["--max-body-bytes", "10MB"], `tally: <cmd>: --max-body-bytes must be a non-negative integer, got "10MB"`]
]

describe("tally serve and tally demo: a bad setting exits 2 with one line, before anything starts", { timeout: 60_000 }, () => {
  let dir: string
  let neverCreated: string

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "tally-cli-serve-"))
    neverCreated = join(dir, "data")
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  /** `env` is all the command sees: no database or NATS server unless a case names one. */
  const refuses = async (command: "serve" | "demo", env: Readonly<Record<string, string>>, args: ReadonlyArray<string>, expected: string) => {
    const outcome = await Cli.run([command, "--port", "0", "--data-dir", neverCreated, ...args], { env })
    expect(outcome).toEqual({ exitCode: 2, stdout: "", stderr: `${expected.replace("<cmd>", command)}\n` })
    expect(existsSync(neverCreated)).toBe(false)
  }

  it.each(environment)("serve with %j", (env, expected) => refuses("serve", env, [], expected))

  it.each(flags)("serve %j", (args, expected) => refuses("serve", {}, args, expected))

  it.each([environment[0]!, environment[6]!, environment[10]!])("demo (pnpm start) with %j, as serve", (env, expected) => refuses("demo", env, [], expected))

  it.each([flags[0]!, flags[1]!])("demo (pnpm start) %j, as serve", (args, expected) => refuses("demo", {}, args, expected))

  it("an empty variable is unset: TALLY_PORT= beside a bad TALLY_MAX_BODY_BYTES names only the latter", () =>
    refuses("serve", { TALLY_PORT: "", TALLY_MAX_BODY_BYTES: "1.5" }, [], `tally: <cmd>: TALLY_MAX_BODY_BYTES: expected a non-negative integer, got "1.5"`))
})
