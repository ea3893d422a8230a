/**
 * Progress of long commands on stderr, never on stdout (which holds the JSON result). Lines are
 * throttled to one a second and start only after the first second, so a quick command prints
 * none; they are written when stderr is a terminal (or `TALLY_PROGRESS=1`), so scripts and
 * logs keep the one-line stderr contract. A command's closing summary (`done`) is always written.
 */

const interval = 1000

const enabled = (): boolean => process.env["TALLY_PROGRESS"] === "1" || (process.stderr.isTTY === true && process.env["TALLY_PROGRESS"] !== "0")

export interface Progress {
  /** Reports the state so far; printed at most once a second, from the first second on. */
  readonly report: (line: () => string) => void
  /** The closing line, always printed. */
  readonly done: (line: string) => void
  /** Milliseconds since the command started. */
  readonly elapsed: () => number
}

export const make = (label: string, options: { readonly quiet?: boolean | undefined } = {}): Progress => {
  const started = performance.now()
  let last = started
  const show = enabled() && options.quiet !== true
  return {
    report: (line) => {
      if (!show) return
      const now = performance.now()
      if (now - started < interval || now - last < interval) return
      last = now
      process.stderr.write(`tally ${label}: ${line()}\n`)
    },
    done: (line) => void process.stderr.write(`tally ${label}: ${line}\n`),
    elapsed: () => performance.now() - started
  }
}

/**
 * For a command that reports no progress of its own: after the first second, one line every few
 * seconds saying it is still at work. Returns the function that stops it.
 */
export const ticker = (label: string): () => void => {
  if (!enabled()) return () => {}
  const started = performance.now()
  const timer = setInterval(() => {
    process.stderr.write(`tally ${label}: working… ${Math.round((performance.now() - started) / 1000)} s\n`)
  }, 2 * interval)
  timer.unref()
  return () => clearInterval(timer)
}

/** `1234567` as `1,234,567`. */
export const count = (n: number): string => n.toLocaleString("en-US")
