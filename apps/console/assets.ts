/**
 * Where the built console lives, for the worker that serves it. `pnpm install` builds it (this
 * package's `postinstall`); `pnpm --filter @tally/console build` rebuilds it by hand.
 */
import { fileURLToPath } from "node:url"

/** The directory `vite build` writes: `index.html` and `assets/`. */
export const distDir: string = fileURLToPath(new URL("./dist/", import.meta.url))

/** The command that builds it, for messages to a person. */
export const buildCommand = "pnpm --filter @tally/console build"
