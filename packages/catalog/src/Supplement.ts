/**
 * The cited supplement: prices the generated sources lack (batch discounts, service tiers,
 * audio rates, per-image and per-second prices, tool prices, how provisioned throughput is
 * billed), each entry citing the provider's published page, the date it stated the figure and
 * what it states. `pnpm catalog:build` applies it on top of the converted sources and records,
 * for every history entry, which source each price came from (`provenance`).
 *
 * Rules, so nothing is resolved silently:
 * - an entry names its models explicitly (model keys of the provider) or `"*"` for every model of
 *   the provider; a named model that does not exist is an error, as is an entry matching nothing;
 * - an entry that sets a price the source already has with a different value wins (it cites the
 *   provider) and the difference is recorded under `overridden` in the built file;
 * - a rate set for a bucket removes that bucket's rate fallback;
 * - `effectiveFrom` limits an entry to history entries in force on or after that date;
 * - `define` adds a definition the source lacks, priced by the entry; defining entries apply first,
 *   so provider-wide entries reach their definitions too.
 */
import type { PricingSnapshot } from "@tally/core"
import { Money } from "@tally/core"
import { Result, Schema } from "effect"
import * as MatchRule from "./MatchRule.ts"
import * as ModelDefinition from "./ModelDefinition.ts"

export const FORMAT = "tally.catalog-supplement/v1"

const Decimal = Schema.String.check(Schema.isPattern(/^\d+(?:\.\d+)?$/, { message: "expected a non-negative decimal string such as \"0.5\"" }))
const IsoDate = Schema.String.check(Schema.isPattern(/^\d{4}-\d{2}-\d{2}$/, { message: "expected a date such as \"2025-10-01\"" }))
const DecimalMap = Schema.Record(Schema.String, Decimal)

/** What an entry sets on a snapshot: every field a price sheet can state. */
export const SupplementSet = Schema.Struct({
  rates: Schema.optionalKey(DecimalMap),
  batchDiscountPercent: Schema.optionalKey(Decimal),
  serviceTierMultipliers: Schema.optionalKey(DecimalMap),
  regionMultipliers: Schema.optionalKey(DecimalMap),
  units: Schema.optionalKey(Schema.Struct({
    perRequest: Schema.optionalKey(Decimal),
    perImage: Schema.optionalKey(DecimalMap),
    perAudioSecond: Schema.optionalKey(Decimal),
    perVideoSecond: Schema.optionalKey(Decimal),
    perThousandWebSearches: Schema.optionalKey(Decimal),
    perToolCall: Schema.optionalKey(DecimalMap)
  }))
})
export type SupplementSet = typeof SupplementSet.Type

export const SupplementEntry = Schema.Struct({
  id: Schema.NonEmptyString,
  provider: Schema.NonEmptyString,
  /** Model keys of the provider's definitions, or "*" for all of them. */
  models: Schema.optionalKey(Schema.Union([Schema.Literal("*"), Schema.Array(Schema.NonEmptyString)])),
  /** A definition the sources lack; its snapshot holds only what `set` gives. */
  define: Schema.optionalKey(Schema.Struct({
    modelKey: Schema.NonEmptyString,
    displayName: Schema.optionalKey(Schema.String),
    match: MatchRule.MatchRule
  })),
  effectiveFrom: Schema.optionalKey(IsoDate),
  set: SupplementSet,
  reference: Schema.String.check(Schema.isPattern(/^https:\/\//, { message: "expected the https address of the provider's published page" })),
  asOf: IsoDate,
  states: Schema.NonEmptyString
})
export type SupplementEntry = typeof SupplementEntry.Type

/** A published price Tally cannot express yet: kept in the built file so the gap is visible. */
export const Unexpressed = Schema.Struct({
  id: Schema.NonEmptyString,
  provider: Schema.NonEmptyString,
  model: Schema.NonEmptyString,
  price: Schema.NonEmptyString,
  reason: Schema.NonEmptyString,
  reference: Schema.NonEmptyString,
  asOf: IsoDate
})
export type Unexpressed = typeof Unexpressed.Type

/**
 * A reviewed confirmation that the catalog's value of one field is the provider's published price,
 * where a cross-check source says otherwise (docs/catalog-agreement.md). It resolves the difference
 * only while the catalog still has `value`.
 */
export const Confirmed = Schema.Struct({
  id: Schema.NonEmptyString,
  provider: Schema.NonEmptyString,
  /** The definition's model key. */
  model: Schema.NonEmptyString,
  /** A snapshot path, e.g. "rates.cacheRead". */
  field: Schema.String.check(Schema.isPattern(/^rates\.[A-Za-z0-9]+$/, { message: "expected a rate path such as \"rates.inputText\"" })),
  value: Decimal,
  reference: Schema.String.check(Schema.isPattern(/^https:\/\//, { message: "expected the https address of the provider's published page" })),
  asOf: IsoDate,
  states: Schema.NonEmptyString
})
export type Confirmed = typeof Confirmed.Type

export const SupplementFile = Schema.Struct({
  format: Schema.Literal(FORMAT),
  about: Schema.optionalKey(Schema.String),
  entries: Schema.Array(SupplementEntry),
  unexpressed: Schema.Array(Unexpressed),
  /** Catalog values confirmed against the provider's page where a cross-check differs. */
  confirmed: Schema.optionalKey(Schema.Array(Confirmed))
})
export type SupplementFile = typeof SupplementFile.Type

/** A supplement price that replaced a different source price: recorded, never silent. */
export const Overridden = Schema.Struct({
  definitionId: Schema.String,
  version: Schema.Int,
  field: Schema.String,
  source: Schema.String,
  supplement: Schema.String,
  entry: Schema.String
})
export type Overridden = typeof Overridden.Type

export class SupplementInvalid extends Schema.TaggedError<SupplementInvalid>()("SupplementInvalid", {
  entry: Schema.String,
  message: Schema.String
}) {}

const decodeFile = Schema.decodeUnknownResult(SupplementFile, { onExcessProperty: "error" })

export const decode = (json: unknown): Result.Result<SupplementFile, SupplementInvalid> =>
  Result.mapError(decodeFile(json), (error) => new SupplementInvalid({ entry: "<file>", message: error.message }))

/** The snapshot paths an entry sets, e.g. ["rates.inputAudio", "serviceTierMultipliers.flex"]. */
export const fieldsOf = (set: SupplementSet): ReadonlyArray<string> => {
  const fields: Array<string> = []
  for (const bucket of Object.keys(set.rates ?? {})) fields.push(`rates.${bucket}`)
  if (set.batchDiscountPercent !== undefined) fields.push("batchDiscountPercent")
  for (const tier of Object.keys(set.serviceTierMultipliers ?? {})) fields.push(`serviceTierMultipliers.${tier}`)
  for (const region of Object.keys(set.regionMultipliers ?? {})) fields.push(`regionMultipliers.${region}`)
  for (const [unit, value] of Object.entries(set.units ?? {})) {
    if (typeof value === "string") fields.push(`units.${unit}`)
    else for (const key of Object.keys(value as Record<string, string>)) fields.push(`units.${unit}.${key}`)
  }
  return fields
}

type SnapshotEncoded = PricingSnapshot.PricingSnapshotEncoded
type Mutable<T> = { -readonly [K in keyof T]: T[K] }

const same = (a: string, b: string): boolean => new Money.Decimal(a).equals(new Money.Decimal(b))

/** Applies `set` to one snapshot; returns the new snapshot and every source value it replaced. */
const applySet = (
  snapshot: SnapshotEncoded,
  set: SupplementSet
): { readonly snapshot: SnapshotEncoded; readonly replaced: ReadonlyArray<{ field: string; source: string; supplement: string }> } => {
  const next: Mutable<SnapshotEncoded> = { ...snapshot }
  const replaced: Array<{ field: string; source: string; supplement: string }> = []
  const merge = (field: string, current: Readonly<Record<string, string>> | undefined, add: Readonly<Record<string, string>>) => {
    const out: Record<string, string> = { ...current }
    for (const [key, value] of Object.entries(add)) {
      const old = out[key]
      if (old !== undefined && !same(old, value)) replaced.push({ field: `${field}.${key}`, source: old, supplement: value })
      out[key] = value
    }
    return out
  }
  if (set.rates !== undefined) {
    const rates = snapshot.rates as Readonly<Record<string, string>>
    for (const [bucket, value] of Object.entries(set.rates)) {
      // A rate the source priced by fallback (audio at the text rate) that the provider prices apart.
      const from = (snapshot.rateFallbacks as Readonly<Record<string, string>> | undefined)?.[bucket]
      const fallbackRate = from === undefined ? undefined : rates[from]
      if (rates[bucket] === undefined && from !== undefined && fallbackRate !== undefined && !same(fallbackRate, value)) {
        replaced.push({ field: `rates.${bucket}`, source: `${fallbackRate} (rateFallbacks: priced at ${from})`, supplement: value })
      }
    }
    next.rates = merge("rates", rates, set.rates) as SnapshotEncoded["rates"]
    if (snapshot.rateFallbacks !== undefined) {
      const fallbacks: Record<string, string> = { ...snapshot.rateFallbacks }
      for (const bucket of Object.keys(set.rates)) delete fallbacks[bucket]
      if (Object.keys(fallbacks).length === 0) delete next.rateFallbacks
      else next.rateFallbacks = fallbacks as NonNullable<SnapshotEncoded["rateFallbacks"]>
    }
  }
  if (set.batchDiscountPercent !== undefined) {
    const old = snapshot.batchDiscountPercent
    if (old !== undefined && !same(old, set.batchDiscountPercent)) replaced.push({ field: "batchDiscountPercent", source: old, supplement: set.batchDiscountPercent })
    next.batchDiscountPercent = set.batchDiscountPercent
  }
  if (set.serviceTierMultipliers !== undefined) next.serviceTierMultipliers = merge("serviceTierMultipliers", snapshot.serviceTierMultipliers, set.serviceTierMultipliers)
  if (set.regionMultipliers !== undefined) next.regionMultipliers = merge("regionMultipliers", snapshot.regionMultipliers, set.regionMultipliers)
  if (set.units !== undefined) {
    const units: Record<string, unknown> = { ...snapshot.units }
    for (const [unit, value] of Object.entries(set.units)) {
      if (typeof value === "string") {
        const old = units[unit] as string | undefined
        if (old !== undefined && !same(old, value)) replaced.push({ field: `units.${unit}`, source: old, supplement: value })
        units[unit] = value
      } else {
        units[unit] = merge(`units.${unit}`, units[unit] as Record<string, string> | undefined, value as Record<string, string>)
      }
    }
    next.units = units as NonNullable<SnapshotEncoded["units"]>
  }
  return { snapshot: next, replaced }
}

export interface Applied {
  readonly definitions: ReadonlyArray<ModelDefinition.ModelDefinitionEncoded>
  readonly overridden: ReadonlyArray<Overridden>
  /** How many history entries each supplement entry changed. */
  readonly applied: ReadonlyArray<{ readonly id: string; readonly entries: number }>
}

export interface ApplyOptions {
  /** Provenance for prices the converted source gave: source name and reference per provider. */
  readonly source: string
  readonly referenceOf: (provider: string) => string
}

const overlaps = (snapshot: SnapshotEncoded, from: string | undefined): boolean =>
  from === undefined || snapshot.effectiveTo === undefined || snapshot.effectiveTo.slice(0, 10) > from

/**
 * Applies the supplement to converted definitions and sets every history entry's provenance.
 * Fails on an entry naming a model the provider does not have, an entry that matches nothing, a
 * `define` whose id already exists, or a result that does not decode as a definition.
 */
export const apply = (
  definitions: ReadonlyArray<ModelDefinition.ModelDefinitionEncoded>,
  supplement: SupplementFile,
  options: ApplyOptions
): Result.Result<Applied, SupplementInvalid> => {
  const out = definitions.map((d) => ({
    ...d,
    history: d.history.map((h) => ({
      ...h,
      provenance: [{ fields: ["*"], source: options.source, reference: options.referenceOf(d.provider) }] as Array<ModelDefinition.Provenance>
    }))
  }))
  const overridden: Array<Overridden> = []
  const applied: Array<{ id: string; entries: number }> = []
  const ids = new Set(out.map((d) => d.id))
  // Definitions first, so provider-wide entries ("*") reach them whatever the file order.
  const ordered = [...supplement.entries.filter((e) => e.define !== undefined), ...supplement.entries.filter((e) => e.define === undefined)]
  for (const entry of ordered) {
    const fail = (message: string) => Result.fail(new SupplementInvalid({ entry: entry.id, message: `supplement entry ${entry.id}: ${message}` }))
    const provenance: ModelDefinition.Provenance = {
      fields: fieldsOf(entry.set),
      source: `supplement:${entry.id}`,
      reference: entry.reference,
      asOf: entry.asOf
    }
    if (provenance.fields.length === 0) return fail("sets no price")
    if (entry.define !== undefined) {
      if (entry.models !== undefined) return fail("gives both define and models")
      const id = `${entry.provider}/${entry.define.modelKey}`
      if (ids.has(id)) return fail(`defines ${id}, which the source already has; use models: ["${entry.define.modelKey}"]`)
      const base: SnapshotEncoded = {
        provider: entry.provider,
        modelKey: entry.define.modelKey,
        currency: "USD",
        ...(entry.effectiveFrom === undefined ? {} : { effectiveFrom: entry.effectiveFrom }),
        rates: {}
      }
      const definition = {
        id,
        provider: entry.provider,
        modelKey: entry.define.modelKey,
        ...(entry.define.displayName === undefined ? {} : { displayName: entry.define.displayName }),
        match: entry.define.match,
        maintainer: "built-in" as const,
        history: [{ version: 1, snapshot: applySet(base, entry.set).snapshot, provenance: [provenance] }]
      }
      const decoded = ModelDefinition.decodeResult(definition)
      if (Result.isFailure(decoded)) return fail(decoded.failure.message)
      out.push(definition as (typeof out)[number])
      ids.add(id)
      applied.push({ id: entry.id, entries: 1 })
      continue
    }
    if (entry.models === undefined) return fail("names no models (give a list of model keys or \"*\") and defines none")
    const wanted = entry.models === "*" ? undefined : new Set(entry.models)
    const found = new Set<string>()
    let count = 0
    for (const [index, definition] of out.entries()) {
      if (definition.provider !== entry.provider) continue
      if (wanted !== undefined && !wanted.has(definition.modelKey)) continue
      found.add(definition.modelKey)
      const history = definition.history.map((h) => {
        if (!overlaps(h.snapshot, entry.effectiveFrom)) return h
        count++
        const { snapshot, replaced } = applySet(h.snapshot, entry.set)
        for (const r of replaced) overridden.push({ definitionId: definition.id, version: h.version, ...r, entry: entry.id })
        return { ...h, snapshot, provenance: [...h.provenance, provenance] }
      })
      out[index] = { ...definition, history }
    }
    if (wanted !== undefined) {
      const missing = [...wanted].filter((m) => !found.has(m))
      if (missing.length > 0) return fail(`provider ${entry.provider} has no model ${missing.join(", ")}`)
    }
    if (count === 0) return fail("matches no history entry")
    applied.push({ id: entry.id, entries: count })
  }
  for (const definition of out) {
    const decoded = ModelDefinition.decodeResult(definition)
    if (Result.isFailure(decoded)) return Result.fail(new SupplementInvalid({ entry: definition.id, message: decoded.failure.message }))
  }
  return Result.succeed({ definitions: out, overridden, applied })
}

/**
 * The provenance entry that gave a snapshot field: the last entry naming the field or one of
 * its parents ("units.perImage" covers "units.perImage.1024x1024"), else the "*" entry.
 */
export const sourceOf = (provenance: ReadonlyArray<ModelDefinition.Provenance>, field: string): ModelDefinition.Provenance | undefined => {
  for (let i = provenance.length - 1; i >= 0; i--) {
    const p = provenance[i]!
    if (p.fields.some((f) => f === field || field.startsWith(`${f}.`))) return p
  }
  return provenance.find((p) => p.fields.includes("*"))
}
