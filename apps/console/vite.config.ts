/**
 * The console's build: one page (`index.html`) and its hashed assets in `dist/`, which the worker
 * serves at `/`. Nothing is loaded from elsewhere at run time.
 */
import { defineConfig } from "vite"

export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    // The worker serves the files as built; a source map helps a person debug in the browser.
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 400
  },
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" }
  }
})
