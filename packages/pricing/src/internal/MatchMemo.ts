/**
 * `Match.match` with a memo, giving the same answers: matching scans every definition of the
 * provider for every event, and a stream of events asks about the same few models all day.
 *
 * Which definition and snapshot win depends on the event time only through the candidates'
 * histories: the winner is the best-ranked candidate with an entry in force. So a remembered
 * match is reused only when it is exactly right for the new time:
 * - the winner was the best-ranked candidate (no better one was skipped for lack of a price
 *   then, which might be in force now), and
 * - the winner's history puts the same entry in force at the new time (`entryAt`: dates and
 *   time-of-day windows), hence the same snapshot, multipliers and id.
 * Otherwise the query runs in full. Failures that do not depend on the time (unknown provider,
 * no rule matched, empty name) are remembered too. The explanation is returned with the query's
 * own time.
 */
import { Match, ModelDefinition, type PriceBook } from "@tally/catalog"
import { Result } from "effect"

type Outcome = Result.Result<Match.Match, Match.ModelNotMatched>

/** Entries per book before the memo starts over (scopes × models seen; a bound, not a working set). */
const MAX_ENTRIES = 20_000

const memos = new WeakMap<PriceBook.PriceBook, Map<string, Outcome>>()

const TIME_FREE_FAILURES: ReadonlySet<string> = new Set(["unknown-provider", "no-rule-matched", "empty-model"])

const keyOf = (query: Match.MatchQuery): string => {
  const scope = query.scope ?? {}
  return `${query.provider ?? ""}\u0000${query.model}\u0000${scope.tenant ?? ""}\u0000${scope.project ?? ""}\u0000${scope.team ?? ""}\u0000${scope.apiKey ?? ""}`
}

const reusable = (outcome: Outcome): boolean => {
  if (Result.isFailure(outcome)) return TIME_FREE_FAILURES.has(outcome.failure.reason)
  const explanation = outcome.success.explanation
  return explanation.snapshot !== null && explanation.candidates[0] !== undefined && explanation.candidates[0].lostOn === undefined
}

const atTime = (match: Match.Match, at: number): Match.Match => {
  const iso = new Date(at).toISOString()
  return match.explanation.query.at === iso
    ? match
    : { ...match, explanation: { ...match.explanation, query: { ...match.explanation.query, at: iso } } }
}

/** The definition and snapshot that price `query`, or why there is none: exactly `Match.match`. */
export const match = (book: PriceBook.PriceBook, query: Match.MatchQuery): Outcome => {
  const at = Match.instantOf(query.at)
  if (at === undefined) return Match.match(book, query)
  let memo = memos.get(book)
  if (memo === undefined) {
    memo = new Map()
    memos.set(book, memo)
  }
  const key = keyOf(query)
  const known = memo.get(key)
  if (known !== undefined) {
    if (Result.isFailure(known)) return known
    const inForce = ModelDefinition.entryAt(known.success.definition.history, at)
    if (inForce !== undefined && inForce.index === known.success.explanation.snapshot!.historyIndex) {
      return Result.succeed(atTime(known.success, at))
    }
  }
  const outcome = Match.match(book, query)
  if (reusable(outcome)) {
    if (memo.size >= MAX_ENTRIES) memo.clear()
    memo.set(key, outcome)
  }
  return outcome
}
