/**
 * Matching for `pricer.price`, memoized per price book by (provider, model, scope) with the
 * matched snapshot's validity interval: a repeated model at a time inside the interval costs one
 * map lookup and two comparisons. Outside the interval, or for a definition whose history has
 * time-of-day windows (the interval alone does not say which entry is in force), it defers to
 * `MatchMemo`, which gives exactly `Match.match`'s answer.
 *
 * The interval is only trusted when it is exact: the winner was the best-ranked candidate (no
 * better candidate was skipped for lack of a price then), so while its entry is in force it wins.
 * The returned match keeps the explanation of the query that first matched it (its `query.at` is
 * that query's time); the pricer reads only its definition, snapshot and summary.
 */
import { type Match, ModelDefinition, type PriceBook } from "@tally/catalog"
import { Result } from "effect"
import * as MatchMemo from "./MatchMemo.ts"

type Outcome = Result.Result<Match.Match, Match.ModelNotMatched>

interface Entry {
  readonly outcome: Outcome
  /** The winner's entry is in force on [from, to); NaN when it cannot be told by dates alone. */
  readonly from: number
  readonly to: number
}

const MAX_ENTRIES = 20_000
const TIME_FREE_FAILURES: ReadonlySet<string> = new Set(["unknown-provider", "no-rule-matched", "empty-model"])

const memos = new WeakMap<PriceBook.PriceBook, Map<string, Entry>>()

const entryOf = (outcome: Outcome): Entry | undefined => {
  if (Result.isFailure(outcome)) return TIME_FREE_FAILURES.has(outcome.failure.reason) ? { outcome, from: -Infinity, to: Infinity } : undefined
  const match = outcome.success
  const explanation = match.explanation
  if (explanation.snapshot === null || explanation.candidates[0] === undefined || explanation.candidates[0].lostOn !== undefined) return undefined
  const history = match.definition.history
  if (history.some((entry) => entry.timeOfDay !== undefined)) return undefined
  const entry = history[explanation.snapshot.historyIndex]
  if (entry === undefined) return undefined
  const { from, to } = ModelDefinition.intervalOf(entry)
  return Number.isNaN(from) || Number.isNaN(to) ? undefined : { outcome, from, to }
}

/** The definition and snapshot that price the query at `at` (epoch ms), or why there is none. */
export const match = (book: PriceBook.PriceBook, provider: string, model: string, scope: PriceBook.Scope | undefined, scopeKey: string, at: number): Outcome => {
  let memo = memos.get(book)
  if (memo === undefined) {
    memo = new Map()
    memos.set(book, memo)
  }
  const key = `${provider}\u0000${model}\u0000${scopeKey}`
  const known = memo.get(key)
  if (known !== undefined && at >= known.from && at < known.to) return known.outcome
  const outcome = MatchMemo.match(book, { provider, model, at, scope })
  const entry = entryOf(outcome)
  if (entry !== undefined) {
    if (memo.size >= MAX_ENTRIES) memo.clear()
    memo.set(key, entry)
  }
  return outcome
}

/** The memo key of a scope. */
export const scopeKeyOf = (scope: PriceBook.Scope | undefined): string =>
  scope === undefined ? "" : `${scope.tenant ?? ""}\u0000${scope.project ?? ""}\u0000${scope.team ?? ""}\u0000${scope.apiKey ?? ""}`
