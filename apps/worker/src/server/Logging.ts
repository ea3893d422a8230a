/**
 * The worker's logs: every line on stderr (stdout is the CLI's JSON), at or above
 * `TALLY_LOG_LEVEL` (`trace`, `debug`, `info` by default, `warn`, `error`, `fatal`, `none`), as
 * Effect's readable text or, with `TALLY_LOG_FORMAT=json`, one JSON object per line
 * (`message`, `logLevel`, `timestamp`, `annotations`, `spans`, `fiberId`, `cause` when there is one).
 */
import * as Config from "effect/Config"
import * as Layer from "effect/Layer"
import type * as LogLevel from "effect/LogLevel"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as Schema from "effect/Schema"

export interface LoggingConfig {
  readonly level: LogLevel.LogLevel
  readonly format: "text" | "json"
}

const levels: Record<string, LogLevel.LogLevel> = {
  trace: "Trace",
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  warning: "Warn",
  error: "Error",
  fatal: "Fatal",
  none: "None"
}

const Level = Schema.Literals(Object.keys(levels)).annotate({ message: `expected one of ${Object.keys(levels).join(", ")}` })
const Format = Schema.Literals(["text", "json"]).annotate({ message: "expected text or json" })

/** `TALLY_LOG_LEVEL` and `TALLY_LOG_FORMAT`, in lower case. */
export const fromEnv: Config.Config<LoggingConfig> = Config.all({
  level: Config.schema(Level, "TALLY_LOG_LEVEL").pipe(
    Config.withDefault("info" as const),
    Config.map((level) => levels[level]!)
  ),
  format: Config.schema(Format, "TALLY_LOG_FORMAT").pipe(Config.withDefault("text" as const))
})

/** Applies a logging configuration to everything run under it. */
export const layer = (config: LoggingConfig): Layer.Layer<never> =>
  Layer.mergeAll(
    config.format === "json"
      ? Logger.layer([Logger.withConsoleError(Logger.formatJson)])
      : Layer.succeed(Logger.LogToStderr, true),
    Layer.succeed(References.MinimumLogLevel, config.level)
  )
