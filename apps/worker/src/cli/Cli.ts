/**
 * The `tally` command line, on `effect/cli`: a contract for scripts. Results are JSON on stdout;
 * a failure is one line on stderr (`tally: <what is wrong>`) and a meaningful exit code (see
 * CliError.ExitCode). `--help`/`-h` at every level, `--version` and `--completions <shell>` print
 * on stdout and exit 0.
 */
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Path from "effect/Path"
import * as Stdio from "effect/Stdio"
import * as Terminal from "effect/Terminal"
import * as CliConfig from "effect/cli/CliConfig"
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
import * as GlobalFlag from "effect/cli/GlobalFlag"
import type * as EffectCliError from "effect/cli/CliError"
import * as ChildProcessSpawner from "effect/process/ChildProcessSpawner"
import workerPackage from "../../package.json" with { type: "json" }
import { type CliError as CliErrorType, ExitCode, Printed, WithExitCode } from "./CliError.ts"
import * as Commands from "./Commands.ts"
import * as Progress from "./Progress.ts"
import { type Handler, type LeafSpec, toCommand } from "./Spec.ts"

export interface Outcome {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

/** The contract allows one line on stderr: a message that spans several is joined into one. */
const oneLine = (message: string): string =>
  message.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "").join(" ")

export interface Options {
  /** The environment the command reads its settings from (`TALLY_*`); the process' by default. */
  readonly env?: Readonly<Record<string, string>> | undefined
}

/** An implementation, imported when its command runs. */
const lazy = <M>(load: () => Promise<M>, pick: (module: M) => unknown) => async (): Promise<Handler> => pick(await load()) as Handler

/**
 * The command tree; `deliver` receives what the command that ran returns. `paths` collects every
 * command's path (`["catalog", "list"]`), for the reference in docs/cli.md.
 */
const tree = (deliver: (value: unknown) => Effect.Effect<void>, paths: Array<ReadonlyArray<string>> = []) => {
  const cmd = <const N extends string>(name: N, spec: LeafSpec, handle: () => Promise<Handler>) => {
    paths.push([name])
    return toCommand(name, spec, handle, deliver)
  }
  const group = <const N extends string>(name: N, description: string, subcommands: ReadonlyArray<Command.Command.Any>) => {
    const subs = paths.splice(paths.length - subcommands.length, subcommands.length)
    paths.push([name], ...subs.map((sub) => [name, ...sub]))
    return groupCommand(name, description, subcommands)
  }
  const groupCommand = <const N extends string>(name: N, description: string, subcommands: ReadonlyArray<Command.Command.Any>) =>
    Command.make(name).pipe(Command.withDescription(description), Command.withSubcommands(subcommands as [Command.Command.Any])) as unknown as Command.Command<
      N,
      unknown,
      object,
      CliErrorType
    >

  const catalog = () => import("./commands/Catalog.ts")
  const budget = () => import("./commands/Budget.ts")
  const chargeback = () => import("./commands/Chargeback.ts")
  const fx = () => import("./commands/Fx.ts")
  const tenant = () => import("./commands/Tenant.ts")
  const governance = () => import("./commands/Governance.ts")
  const commitments = () => import("./commands/Commitments.ts")
  const credits = () => import("./commands/Credits.ts")
  const resale = () => import("./commands/Resale.ts")
  return Command.make("tally").pipe(
    Command.withDescription(
      "Tally prices LLM usage exactly, per tenant. Results are JSON on stdout; a failure is one line on stderr. Exit codes: 0 success, 2 bad usage or input, 3 unpriced usage, 1 anything unexpected"
    ),
    Command.withSubcommands([
      cmd("price", Commands.price, lazy(() => import("./commands/Price.ts"), (m) => m.run)),
      cmd("normalize", Commands.normalize, lazy(() => import("./commands/Normalize.ts"), (m) => m.run)),
      cmd("cost", Commands.cost, lazy(() => import("./commands/Cost.ts"), (m) => m.run)),
      group("catalog", "Lists, shows, explains and checks the model catalog; imports price lists", [
        cmd("list", Commands.catalogList, lazy(catalog, (m) => m.list)),
        cmd("show", Commands.catalogShow, lazy(catalog, (m) => m.show)),
        cmd("explain", Commands.catalogExplain, lazy(catalog, (m) => m.explain)),
        cmd("coverage", Commands.catalogCoverage, lazy(catalog, (m) => m.coverage)),
        cmd("audit", Commands.catalogAudit, lazy(catalog, (m) => m.audit)),
        cmd("import", Commands.catalogImport, lazy(catalog, (m) => m.importCatalog))
      ]),
      cmd("ingest", Commands.ingest, lazy(() => import("./commands/Ingest.ts"), (m) => m.run)),
      cmd("usage", Commands.usage, lazy(() => import("./commands/Usage.ts"), (m) => m.run)),
      group("import", "Turns another tool's exports into Tally usage", [
        cmd("litellm-spend-logs", Commands.importLitellm, lazy(() => import("./commands/ImportLiteLlm.ts"), (m) => m.run))
      ]),
      group("rollups", "Maintains the hourly rollups", [
        cmd("rebuild", Commands.rollupsRebuild, lazy(() => import("./commands/Rollups.ts"), (m) => m.rebuild))
      ]),
      cmd("serve", Commands.serve, lazy(() => import("./commands/Serve.ts"), (m) => m.run)),
      cmd("demo", Commands.demo, lazy(() => import("./commands/Demo.ts"), (m) => m.run)),
      group("tenant", "Creates and lists tenants", [
        cmd("create", Commands.tenantCreate, lazy(tenant, (m) => m.tenantCreate)),
        cmd("list", Commands.tenantList, lazy(tenant, (m) => m.tenantList))
      ]),
      group("apikey", "Creates, lists and revokes API keys", [
        cmd("create", Commands.apikeyCreate, lazy(tenant, (m) => m.apikeyCreate)),
        cmd("list", Commands.apikeyList, lazy(tenant, (m) => m.apikeyList)),
        cmd("revoke", Commands.apikeyRevoke, lazy(tenant, (m) => m.apikeyRevoke))
      ]),
      cmd("publish", Commands.publish, lazy(() => import("./commands/Publish.ts"), (m) => m.run)),
      group("budget", "Budgets: create, list, status, suggest, update, archive, webhook", [
        cmd("create", Commands.budgetCreate, lazy(budget, (m) => m.create)),
        cmd("list", Commands.budgetList, lazy(budget, (m) => m.list)),
        cmd("status", Commands.budgetStatus, lazy(budget, (m) => m.status)),
        cmd("suggest", Commands.budgetSuggest, lazy(budget, (m) => m.suggest)),
        cmd("update", Commands.budgetUpdate, lazy(budget, (m) => m.update)),
        cmd("archive", Commands.budgetArchive, lazy(budget, (m) => m.archive)),
        cmd("webhook", Commands.budgetWebhook, lazy(budget, (m) => m.webhook))
      ]),
      cmd("decide", Commands.decide, lazy(governance, (m) => m.decideCommand)),
      group("policy", "Model policies: create, list, archive", [
        cmd("create", Commands.policyCreate, lazy(governance, (m) => m.createPolicy)),
        cmd("list", Commands.policyList, lazy(governance, (m) => m.listPolicies)),
        cmd("archive", Commands.policyArchive, lazy(governance, (m) => m.archivePolicy))
      ]),
      group("commitment", "Commitments: create, list, archive, report, focus, break-even", [
        cmd("create", Commands.commitmentCreate, lazy(commitments, (m) => m.create)),
        cmd("list", Commands.commitmentList, lazy(commitments, (m) => m.list)),
        cmd("archive", Commands.commitmentArchive, lazy(commitments, (m) => m.archive)),
        cmd("report", Commands.commitmentReport, lazy(commitments, (m) => m.report)),
        cmd("focus", Commands.commitmentFocus, lazy(commitments, (m) => m.focus)),
        cmd("break-even", Commands.commitmentBreakEven, lazy(commitments, (m) => m.breakEven))
      ]),
      group("credits", "Prepaid credits: grant, list, balance, void", [
        cmd("grant", Commands.creditsGrant, lazy(credits, (m) => m.grant)),
        cmd("list", Commands.creditsList, lazy(credits, (m) => m.list)),
        cmd("balance", Commands.creditsBalance, lazy(credits, (m) => m.balance)),
        cmd("void", Commands.creditsVoid, lazy(credits, (m) => m.voidGrant))
      ]),
      cmd("anomalies", Commands.anomalies, lazy(() => import("./commands/Anomalies.ts"), (m) => m.run)),
      group("chargeback", "Chargeback runs: run, finalize, show, export (CSV, FOCUS)", [
        cmd("run", Commands.chargebackRun, lazy(chargeback, (m) => m.runCommand)),
        cmd("finalize", Commands.chargebackFinalize, lazy(chargeback, (m) => m.finalizeCommand)),
        cmd("show", Commands.chargebackShow, lazy(chargeback, (m) => m.showCommand)),
        cmd("export", Commands.chargebackExport, lazy(chargeback, (m) => m.exportCommand))
      ]),
      group("fx", "Exchange rates: add, import, list, convert", [
        cmd("add", Commands.fxAdd, lazy(fx, (m) => m.add)),
        cmd("import", Commands.fxImport, lazy(fx, (m) => m.importRates)),
        cmd("list", Commands.fxList, lazy(fx, (m) => m.list)),
        cmd("convert", Commands.fxConvert, lazy(fx, (m) => m.convert))
      ]),
      cmd("reconcile", Commands.reconcile, lazy(() => import("./commands/Reconcile.ts"), (m) => m.run)),
      cmd("reprice", Commands.reprice, lazy(() => import("./commands/Reprice.ts"), (m) => m.run)),
      group("sale-price-book", "Sale price rules and customer plans: add, list, archive, assign-plan, price", [
        cmd("add", Commands.salePriceBookAdd, lazy(resale, (m) => m.addRule)),
        cmd("list", Commands.salePriceBookList, lazy(resale, (m) => m.listRules)),
        cmd("archive", Commands.salePriceBookArchive, lazy(resale, (m) => m.archiveRule)),
        cmd("assign-plan", Commands.salePriceBookAssignPlan, lazy(resale, (m) => m.assignPlan)),
        cmd("price", Commands.salePriceBookPrice, lazy(resale, (m) => m.callPrice))
      ]),
      cmd("margin", Commands.margin, lazy(resale, (m) => m.margin)),
      cmd("sold-usage", Commands.soldUsage, lazy(resale, (m) => m.soldUsage)),
      group("statement", "Customer statements: preview, finalize, list, export (JSON, CSV, HTML)", [
        cmd("preview", Commands.statementPreview, lazy(resale, (m) => m.preview)),
        cmd("finalize", Commands.statementFinalize, lazy(resale, (m) => m.finalize)),
        cmd("list", Commands.statementList, lazy(resale, (m) => m.list)),
        cmd("export", Commands.statementExport, lazy(resale, (m) => m.exportStatement))
      ])
    ])
  ) as unknown as Command.Command<"tally", unknown, object, CliErrorType>
}

const collected: Array<ReadonlyArray<string>> = []
tree(() => Effect.void, collected)

/** Every command's path, in the order `tally --help` lists them, groups before their subcommands. */
export const commandPaths: ReadonlyArray<ReadonlyArray<string>> = collected

export const version: string = workerPackage.version

const didYouMean = (suggestions: ReadonlyArray<string>) => suggestions.length === 0 ? "" : `; did you mean ${suggestions.join(" or ")}?`

/** A parse error in the CLI's words: a missing flag is `--name is required`, as commands say it. */
const describe = (error: EffectCliError.NonShowHelpErrors): string => {
  switch (error._tag) {
    case "MissingOption":
      return `--${error.option} is required`
    case "UnknownSubcommand":
      return `unknown ${error.parent === undefined || error.parent.length <= 1 ? "command" : "subcommand"} "${error.subcommand}"${didYouMean(error.suggestions)} (tally ${
        (error.parent ?? []).slice(1).concat("--help").join(" ")
      } lists them)`
    case "UnrecognizedOption":
      return `unknown flag ${error.option}${didYouMean(error.suggestions)}`
    case "UnexpectedArgument":
      return `unexpected argument${error.arguments.length === 1 ? "" : "s"} ${error.arguments.map((a) => JSON.stringify(a)).join(" ")}`
    default:
      return oneLine(error.message)
  }
}

/**
 * The services `effect/cli` asks for. Tally's flags are plain strings and the CLI never prompts,
 * spawns or reads files through them, so these only answer what the parser may ask: the terminal's
 * width for help, the process' arguments.
 */
const environment = Layer.mergeAll(
  FileSystem.layerNoop({}),
  Path.layer,
  Stdio.layerTest({}),
  Layer.succeed(
    Terminal.Terminal,
    Terminal.make({
      columns: Effect.sync(() => process.stdout.columns ?? 100),
      rows: Effect.sync(() => process.stdout.rows ?? 24),
      size: Effect.die("tally does not follow the terminal size"),
      readInput: Effect.die("tally does not prompt"),
      readLine: Effect.die("tally does not prompt"),
      display: (text) => Effect.sync(() => void process.stderr.write(text))
    })
  ),
  Layer.succeed(ChildProcessSpawner.ChildProcessSpawner, ChildProcessSpawner.make(() => Effect.die("tally does not spawn")))
)

/** `--help`, `--version`, `--completions` and `--log-level`; not the interactive `--wizard`. */
const config = CliConfig.layer({ builtIns: [GlobalFlag.Help, GlobalFlag.Version, GlobalFlag.Completions, GlobalFlag.LogLevel] })

export const run = async (argv: ReadonlyArray<string>, options: Options = {}): Promise<Outcome> => {
  // `tally help <command…>` is `tally <command…> --help`.
  const args = argv[0] === "help" ? [...argv.slice(1), "--help"] : argv
  let result: { readonly value: unknown } | undefined
  let printed = ""
  let invalid: { readonly path: ReadonlyArray<string>; readonly errors: ReadonlyArray<EffectCliError.NonShowHelpErrors> } | undefined
  const colors = process.stdout.isTTY === true && process.env["NO_COLOR"] === undefined && options.env === undefined
  const formatter = CliOutput.defaultFormatter({ colors })
  const presenter: CliOutput.Presenter = {
    present: (event) =>
      Effect.sync(() => {
        if (event._tag === "Help") printed += `${formatter.formatHelpDoc(event.helpDoc)}\n`
        else if (event._tag === "Version") printed += `${event.name} ${event.version}\n`
        else invalid = { path: event.commandPath, errors: event.errors }
      })
  }
  const console: Console.Console = { ...globalThis.console, log: (...text: ReadonlyArray<unknown>) => void (printed += `${text.join(" ")}\n`) }
  const program = Command.runWith(tree((value) => Effect.sync(() => void (result = { value }))), { version, renderErrors: false })(args).pipe(
    Effect.provide(Layer.mergeAll(environment, CliOutput.layerPresenter(presenter), config)),
    Effect.provideService(Console.Console, console)
  )
  // Commands that report their own progress, or serve until stopped, get no "working…" lines.
  const path = args.slice(0, 2).filter((arg) => !arg.startsWith("-")).join(" ")
  const stop = ["serve", "demo", "ingest", "import"].includes(args[0] ?? "") || args.includes("--help") || args.includes("-h")
    ? () => {}
    : Progress.ticker(path === "" ? "tally" : path)
  const exit = await Effect.runPromiseExit(
    options.env === undefined ? program : Effect.provideService(program, ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: options.env }))
  ).finally(stop)
  if (Exit.isSuccess(exit)) {
    if (result === undefined) return { exitCode: ExitCode.ok, stdout: printed, stderr: "" }
    if (result.value instanceof WithExitCode) {
      const value = result.value
      return { exitCode: value.exitCode, stdout: value.value === undefined ? "" : stringify(value.value), stderr: `tally: ${oneLine(value.stderr)}\n` }
    }
    return { exitCode: ExitCode.ok, stdout: result.value === undefined ? "" : stringify(result.value), stderr: "" }
  }
  const failure = Cause.findErrorOption(exit.cause)
  if (failure._tag === "Some") {
    const error = failure.value
    if (error._tag === "CliError") return { exitCode: error.exitCode, stdout: "", stderr: `tally: ${oneLine(error.message)}\n` }
    if (error._tag === "ShowHelp") {
      const errors = invalid?.errors ?? error.errors
      // A group named without its subcommand: its help, as `--help` prints it.
      if (errors.length === 0) return { exitCode: ExitCode.ok, stdout: printed, stderr: "" }
      const path = (invalid?.path ?? error.commandPath).slice(1).join(" ")
      return { exitCode: ExitCode.invalidInput, stdout: "", stderr: `tally: ${path === "" ? "" : `${path}: `}${describe(errors[0]!)}\n` }
    }
    return { exitCode: ExitCode.invalidInput, stdout: "", stderr: `tally: ${oneLine(error.message)}\n` }
  }
  return { exitCode: ExitCode.unexpected, stdout: "", stderr: `tally: unexpected error: ${Cause.pretty(exit.cause).split("\n")[0]}\n` }
}

/** A result as printed: indented JSON, or text a command formatted itself (`--format table`, `--out -`). */
const stringify = (value: unknown): string =>
  value instanceof Printed ? value.text : `${JSON.stringify(value, null, 2)}\n`
