/**
 * The REST API described: `/openapi.json` is a valid OpenAPI 3.1 document naming every REST route
 * the server has, `/docs` renders it with no script from elsewhere, and errors are RFC 9457
 * problem details that still carry `error.code`.
 */
import SwaggerParser from "@apidevtools/swagger-parser"
import { connect } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Graphiql from "../apps/worker/src/graphql/Graphiql.ts"
import * as Server from "../apps/worker/src/server/Server.ts"
import { type InProcess, makeDatabase, postJson, request, startInProcess, type TestDatabase, testConfig } from "./support/Worker.ts"

/** Routes that serve the console and GraphiQL's files, not the API. */
const notRest = new Set(["/assets/*", "*"])

describe("the REST API's description", () => {
  let database: TestDatabase
  let server: InProcess

  beforeAll(async () => {
    database = await makeDatabase("pglite")
    server = await startInProcess(testConfig(database))
  })

  afterAll(async () => {
    await server?.close()
    await database?.drop()
  })

  it("GET /openapi.json is an OpenAPI 3.1 document that validates", async () => {
    const reply = await request(`${server.url}/openapi.json`)
    expect(reply.status).toBe(200)
    expect(reply.json.openapi).toBe("3.1.0")
    // The validator dereferences in place: give it a copy.
    await expect(SwaggerParser.validate(structuredClone(reply.json))).resolves.toBeDefined()
    expect(reply.json.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" })
  })

  it("every REST route of the server is in the document, with its method", async () => {
    const paths = (await request(`${server.url}/openapi.json`)).json.paths as Record<string, Record<string, unknown>>
    const rest = Server.table.filter((route) => !notRest.has(String(route.path)) && !String(route.path).startsWith(`${Graphiql.assetPath}/`))
    expect(rest.length).toBeGreaterThanOrEqual(15)
    const missing = rest.flatMap((route) => {
      const path = String(route.path).replace(/:(\w+)/g, "{$1}")
      const methods = route.method === "*" ? ["get", "post"] : [route.method.toLowerCase()]
      return methods.filter((method) => paths[path]?.[method] === undefined).map((method) => `${method.toUpperCase()} ${path}`)
    })
    expect(missing).toEqual([])
    // And nothing is described that the server does not route.
    const routed = new Set(rest.map((route) => String(route.path).replace(/:(\w+)/g, "{$1}")))
    expect(Object.keys(paths).filter((path) => !routed.has(path))).toEqual([])
  })

  it("GET /docs is the reference page, with every script inline (works offline)", async () => {
    const reply = await request(`${server.url}/docs`)
    expect(reply.status).toBe(200)
    expect(reply.headers.get("content-type")).toContain("text/html")
    expect(reply.text).toContain("Tally worker API")
    expect(reply.text).not.toMatch(/<script[^>]+src=/)
    expect(reply.text).not.toMatch(/<link[^>]+href="https?:/)
  })

  it("errors are RFC 9457 problem details that keep error.code", async () => {
    const reply = await postJson(`${server.url}/api/v1/usage/ingest`, undefined, [])
    expect(reply.status).toBe(401)
    expect(reply.headers.get("content-type")).toBe("application/problem+json")
    expect(reply.json).toEqual({
      type: "urn:tally:problem:unauthorized",
      title: "Unauthorized",
      status: 401,
      detail: reply.json.error.message,
      error: { code: "unauthorized", message: expect.stringContaining("Bearer") }
    })
    const missing = await request(`${server.url}/api/v1/no-such-route`)
    expect(missing.status).toBe(404)
    expect(missing.json).toMatchObject({ type: "urn:tally:problem:not_found", status: 404, error: { code: "not_found" } })
  })

  it("what Node's HTTP parser refuses before any route is a problem detail too", async () => {
    // A URL over Node's 16 KiB header limit: found by the hostile-input suite, which got a bare 431.
    const long = "l".repeat(10_000)
    const tooLong = await request(`${server.url}/api/v1/exports/usage?from=${long}&to=${long}`)
    expect(tooLong.status).toBe(431)
    expect(tooLong.headers.get("content-type")).toBe("application/problem+json")
    expect(tooLong.json).toEqual({
      type: "urn:tally:problem:headers_too_large",
      title: "Request Header Fields Too Large",
      status: 431,
      detail: tooLong.json.error.message,
      error: { code: "headers_too_large", message: expect.stringContaining("16 KiB") }
    })
    // Not HTTP at all, over a raw socket.
    const { hostname, port } = new URL(server.url)
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: hostname.replace(/^\[|\]$/g, ""), port: Number(port) }, () => socket.end("HELLO\r\n\r\n"))
      let text = ""
      socket.on("data", (chunk) => (text += chunk.toString("utf8")))
      socket.on("end", () => resolve(text))
      socket.on("error", reject)
    })
    expect(raw).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/)
    const body = JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4))
    expect(body).toMatchObject({ type: "urn:tally:problem:malformed_request", status: 400, error: { code: "malformed_request" } })
    expect(body.error.message).toContain("not valid HTTP/1.1")
  })
})
