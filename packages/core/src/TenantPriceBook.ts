/**
 * A tenant's own price book as it is kept: custom model definitions, price overrides and
 * multipliers, each scoped to the whole tenant or to a project, team or API key. Definitions and
 * price histories stay the JSON the catalog encodes; `@tally/engine` TenantPricing decodes them
 * into price book layers.
 */
import type * as DateTime from "effect/DateTime"
import * as Schema from "effect/Schema"
import type * as Money from "./Money.ts"

/** Where an override or multiplier applies inside the tenant; nothing named is the whole tenant. */
export interface ScopeSelector {
  readonly project?: string | undefined
  readonly team?: string | undefined
  readonly apiKey?: string | undefined
}

const scopeKeys = ["apiKey", "project", "team"] as const

export const normalizeScope = (scope: ScopeSelector | undefined): ScopeSelector => {
  const out: { -readonly [K in keyof ScopeSelector]: string } = {}
  for (const key of scopeKeys) {
    const value = scope?.[key]
    if (value !== undefined && value !== "") out[key] = value
  }
  return out
}

/** The scope's canonical key: "" for the whole tenant. */
export const scopeKey = (scope: ScopeSelector | undefined): string => {
  const normal = normalizeScope(scope)
  return scopeKeys.filter((k) => normal[k] !== undefined).map((k) => `${k}=${encodeURIComponent(normal[k]!)}`).join("&")
}

export interface StoredDefinition {
  readonly id: string
  readonly provider: string
  readonly modelKey: string
  readonly displayName: string | null
  /** The encoded model definition (catalog JSON), history included. */
  readonly definition: unknown
  readonly createdAt: DateTime.Utc
  readonly updatedAt: DateTime.Utc
}

export interface DefinitionInput {
  readonly id: string
  readonly provider: string
  readonly modelKey: string
  readonly displayName?: string | null | undefined
  /** The encoded match rule, also kept apart for people reading the table. */
  readonly match: unknown
  readonly definition: unknown
}

export interface StoredOverride {
  readonly scope: ScopeSelector
  readonly definitionId: string
  /** The encoded price history that replaces the definition's within the scope. */
  readonly history: unknown
  readonly reason: string | null
  readonly createdAt: DateTime.Utc
  readonly updatedAt: DateTime.Utc
}

export interface OverrideInput {
  readonly scope?: ScopeSelector | undefined
  readonly definitionId: string
  readonly history: unknown
  readonly reason?: string | null | undefined
}

export interface StoredMultiplier {
  readonly id: string
  readonly scope: ScopeSelector
  readonly factor: Money.Decimal
  readonly reason: string
  readonly providers: ReadonlyArray<string> | null
  readonly definitionIds: ReadonlyArray<string> | null
  /** An encoded match rule on model keys, or null. */
  readonly models: unknown
  readonly createdAt: DateTime.Utc
}

export interface MultiplierInput {
  readonly scope?: ScopeSelector | undefined
  readonly factor: Money.Decimal
  readonly reason: string
  readonly providers?: ReadonlyArray<string> | null | undefined
  readonly definitionIds?: ReadonlyArray<string> | null | undefined
  readonly models?: unknown
}

export interface StoredPriceBook {
  /** 0 until the first change. */
  readonly version: number
  readonly definitions: ReadonlyArray<StoredDefinition>
  readonly overrides: ReadonlyArray<StoredOverride>
  readonly multipliers: ReadonlyArray<StoredMultiplier>
}

export class DefinitionExists extends Schema.TaggedError<DefinitionExists>()("DefinitionExists", {
  definitionId: Schema.String,
  message: Schema.String
}) {}

export class CustomDefinitionNotFound extends Schema.TaggedError<CustomDefinitionNotFound>()("CustomDefinitionNotFound", {
  definitionId: Schema.String,
  message: Schema.String
}) {}

export class MultiplierNotFound extends Schema.TaggedError<MultiplierNotFound>()("MultiplierNotFound", {
  multiplierId: Schema.String,
  message: Schema.String
}) {}

export class InvalidPriceBookEntry extends Schema.TaggedError<InvalidPriceBookEntry>()("InvalidPriceBookEntry", {
  field: Schema.String,
  message: Schema.String
}) {}
