import { availableParallelism } from "node:os"
import { defineConfig } from "vitest/config"

// `@tally/*` packages export their TypeScript sources under the `source` condition (and built
// `dist/` otherwise): tests run from sources with no build step. Vite's defaults follow it.
const sourceFirst = (defaults: ReadonlyArray<string>) => ["source", ...defaults]

export default defineConfig({
  resolve: { conditions: sourceFirst(["module", "browser", "development|production"]) },
  ssr: { resolve: { conditions: sourceFirst(["module", "node", "development|production"]), externalConditions: ["source"] } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "apps/*/test/**/*.test.ts", "test/**/*.test.ts"],
    // One migrated PGlite cluster for the run; test databases start from it (seconds each saved).
    globalSetup: ["packages/store/test/PgliteTemplate.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Most test files wait on PostgreSQL, NATS or a spawned `tally`, not on their own CPU: at least
    // two files at a time even where vitest's default (one less than the cores) would give one.
    maxWorkers: Math.max(2, availableParallelism() - 1)
  }
})
