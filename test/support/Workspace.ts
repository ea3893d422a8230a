/**
 * The workspace's libraries for root tests. The root package lists only tooling (vitest, eslint,
 * typescript), so bare imports of `effect` or `@effect/sql-pg` do not resolve from `test/`; they are
 * reached through the packages that depend on them. Module paths resolve to the same files the
 * packages load, so there is one copy of each library in the test process.
 */
export { Context, Effect, Exit, Layer, Redacted, Scope } from "../../apps/worker/node_modules/effect/dist/index.js"
export * as Reactivity from "../../apps/worker/node_modules/effect/dist/reactivity/Reactivity.js"
export * as PgClient from "../../packages/store/node_modules/@effect/sql-pg/dist/PgClient.js"
export * as HttpServer from "../../apps/worker/node_modules/effect/dist/http/HttpServer.js"
