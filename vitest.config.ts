import { availableParallelism } from "node:os"
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "apps/*/test/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Most test files wait on PostgreSQL, NATS or a spawned `tally`, not on their own CPU: at least
    // two files at a time even where vitest's default (one less than the cores) would give one.
    maxWorkers: Math.max(2, availableParallelism() - 1)
  }
})
