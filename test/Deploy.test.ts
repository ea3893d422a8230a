/**
 * The container files say what docs/deploy.md says: `compose.yaml` parses (a YAML parser) into the
 * services, profile, images and variables the page names, and the `Dockerfile`'s instructions
 * have the base image, the non-root user, the port and the health check on `/readyz`.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import { root } from "./support/Worker.ts"

const docs = readFileSync(join(root, "docs/deploy.md"), "utf8")

interface Instruction {
  readonly keyword: string
  readonly args: string
}

/** A Dockerfile's instructions: comments dropped, continuation lines joined. */
const instructions = (text: string): ReadonlyArray<Instruction> => {
  const joined = text.split("\n").filter((line) => !line.trimStart().startsWith("#")).join("\n").replace(/\\\n/g, " ")
  return joined.split("\n").filter((line) => line.trim() !== "").map((line) => {
    const [keyword, ...rest] = line.trim().split(/\s+/)
    return { keyword: keyword!.toUpperCase(), args: rest.join(" ") }
  })
}

describe("deploying with Docker", () => {
  it("the Dockerfile: slim Node 24, a non-root user, port 8787, a health check on /readyz, tally serve", () => {
    const all = instructions(readFileSync(join(root, "Dockerfile"), "utf8"))
    const from = all.filter((i) => i.keyword === "FROM").map((i) => i.args.split(" ")[0])
    expect(from.length).toBeGreaterThanOrEqual(1)
    expect(from.every((image) => image === "node:24-slim")).toBe(true)
    // The last stage is the image: its USER is set and is not root.
    const lastFrom = all.map((i) => i.keyword).lastIndexOf("FROM")
    const final = all.slice(lastFrom)
    const user = final.filter((i) => i.keyword === "USER").at(-1)?.args
    expect(user).toBeDefined()
    expect(["root", "0", "0:0"]).not.toContain(user)
    expect(final.find((i) => i.keyword === "EXPOSE")?.args).toBe("8787")
    const healthcheck = final.find((i) => i.keyword === "HEALTHCHECK")?.args ?? ""
    expect(healthcheck).toContain("/readyz")
    expect(healthcheck).toContain("8787")
    const cmd = JSON.parse(final.find((i) => i.keyword === "CMD")!.args) as Array<string>
    expect(cmd.slice(-2)).toEqual(["apps/worker/src/bin.ts", "serve"])
    const env = final.filter((i) => i.keyword === "ENV").map((i) => i.args).join(" ")
    expect(env).toContain("TALLY_DATA_DIR=/var/lib/tally/data")
    expect(final.find((i) => i.keyword === "VOLUME")?.args).toBe("/var/lib/tally")
    // What the page says of it.
    for (const fact of ["node:24-slim", "`node` user", "8787", "/readyz", "/var/lib/tally/data", "TALLY_LOG_FORMAT=json"]) {
      expect(docs).toContain(fact)
    }
  })

  it("compose.yaml: Tally and PostgreSQL, NATS only in the nats profile, as docs/deploy.md says", () => {
    const compose = parse(readFileSync(join(root, "compose.yaml"), "utf8")) as {
      services: Record<string, { image?: string; build?: string; profiles?: Array<string>; environment?: Record<string, string>; depends_on?: Record<string, unknown>; ports?: Array<string>; healthcheck?: unknown }>
      volumes: Record<string, unknown>
    }
    expect(Object.keys(compose.services).sort()).toEqual(["nats", "postgres", "tally"])
    const { tally, postgres, nats } = compose.services as Required<typeof compose.services>
    expect(tally!.build).toBe(".")
    expect(tally!.profiles).toBeUndefined()
    expect(postgres!.profiles).toBeUndefined()
    expect(nats!.profiles).toEqual(["nats"])
    expect(tally!.ports).toEqual(["8787:8787"])
    expect(tally!.depends_on).toEqual({ postgres: { condition: "service_healthy" } })
    expect(postgres!.healthcheck).toBeDefined()
    // The database URL names the compose database, with its user and password.
    const url = new URL(tally!.environment!["TALLY_DATABASE_URL"]!)
    expect([url.hostname, url.username, url.password, url.pathname]).toEqual([
      "postgres",
      postgres!.environment!["POSTGRES_USER"],
      postgres!.environment!["POSTGRES_PASSWORD"],
      `/${postgres!.environment!["POSTGRES_DB"]}`
    ])
    // The page names every service with its image, the profile, the volumes and every variable.
    for (const [name, service] of Object.entries(compose.services)) {
      expect(docs).toContain(`| \`${name}\` |`)
      if (service.image !== undefined) expect(docs).toContain(`\`${service.image}\``)
    }
    for (const volume of Object.keys(compose.volumes)) expect(docs).toContain(`\`${volume}\``)
    for (const variable of Object.keys(tally!.environment!)) expect(docs).toContain(variable)
    expect(docs).toContain("docker compose up")
    expect(docs).toContain("docker compose --profile nats up")
    expect(docs).toContain(tally!.environment!["TALLY_DATABASE_URL"])
  })
})
