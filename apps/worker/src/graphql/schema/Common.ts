/**
 * Types several parts of the schema share: money, token counts, tags, labels, the usage filter and
 * the dimensions usage is grouped by. How lists page is `../Paging.ts`.
 */
import { type Money, Usage, type UsageQuery, UsageRecord } from "@tally/core"
import { builder } from "../builder.ts"
import { InvalidInput } from "../Errors.ts"

export interface MoneyShape {
  readonly amount: Money.Decimal
  readonly currency: string
}

export const MoneyRef = builder.objectRef<MoneyShape>("Money").implement({
  description: "An exact amount in one currency. Amounts in different currencies are never added together.",
  fields: (t) => ({
    amount: t.expose("amount", { type: "Decimal" }),
    currency: t.exposeString("currency", { description: "ISO 4217 code." })
  })
})

export const TokenCountsRef = builder.objectRef<UsageQuery.TokenCounts>("TokenCounts").implement({
  description: "Tokens per usage bucket. Buckets are disjoint: no token is counted in two of them.",
  fields: (t) => ({
    // One Long per bucket, in core's order; typed as nothing extra, since the keys are computed.
    ...(Object.fromEntries(Usage.TokenBuckets.map((bucket) => [bucket, t.expose(bucket, { type: "Long" })])) as object),
    total: t.field({
      type: "Long",
      description: "Every bucket together.",
      resolve: (tokens) => Object.values(tokens).reduce((sum: number, n) => sum + (n as number), 0)
    })
  })
})

export interface TagShape {
  readonly key: string
  readonly value: string | null
}

export const TagRef = builder.objectRef<TagShape>("Tag").implement({
  fields: (t) => ({
    key: t.exposeString("key"),
    value: t.exposeString("value", { nullable: true })
  })
})

export const tagsOf = (record: Readonly<Record<string, string | null>>): ReadonlyArray<TagShape> =>
  Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, value]) => ({ key, value }))

export const LabelsRef = builder.objectRef<UsageRecord.Labels>("Labels").implement({
  description: "Attribution labels of a call; null where the call had none.",
  fields: (t) => ({
    project: t.exposeString("project", { nullable: true }),
    environment: t.exposeString("environment", { nullable: true }),
    feature: t.exposeString("feature", { nullable: true }),
    team: t.exposeString("team", { nullable: true }),
    customer: t.exposeString("customer", { nullable: true }),
    endUser: t.exposeString("endUser", { nullable: true }),
    workflow: t.exposeString("workflow", { nullable: true, description: "Workflow or trace id grouping the calls of one task." }),
    costCenter: t.exposeString("costCenter", { nullable: true }),
    apiKeyId: t.exposeString("apiKeyId", { nullable: true })
  })
})

/** GraphQL names of the usage dimensions, and core's. */
export const dimensionValues = {
  PROVIDER: { value: "provider" },
  MODEL: { value: "model" },
  PROJECT: { value: "project" },
  ENVIRONMENT: { value: "environment" },
  FEATURE: { value: "feature" },
  TEAM: { value: "team" },
  CUSTOMER: { value: "customer" },
  COST_CENTER: { value: "costCenter" },
  API_KEY: { value: "apiKeyId" },
  END_USER: { value: "endUser", description: "Read from the ledger: slower over long ranges." },
  WORKFLOW: { value: "workflow", description: "Read from the ledger: slower over long ranges." },
  CURRENCY: { value: "currency" }
} as const satisfies Record<string, { value: UsageQuery.Dimension; description?: string }>

export const DimensionEnum = builder.enumType("UsageDimension", {
  description: "What usage can be grouped and filtered by: any label, the model, the provider or the currency.",
  values: dimensionValues
})

export const TagInput = builder.inputType("TagInput", {
  fields: (t) => ({
    key: t.string({ required: true }),
    value: t.string({ required: true })
  })
})

const filterFields = {
  provider: "provider",
  model: "model",
  project: "project",
  environment: "environment",
  feature: "feature",
  team: "team",
  customer: "customer",
  costCenter: "costCenter",
  apiKeyId: "apiKeyId",
  endUser: "endUser",
  workflow: "workflow",
  currency: "currency"
} as const satisfies Record<string, UsageQuery.Dimension>

export const UsageFilterInput = builder.inputType("UsageFilter", {
  description: "Keeps calls whose value is one of those listed, for every dimension given. `\"\"` selects calls without that label. Tags must all match.",
  fields: (t) => ({
    provider: t.stringList(),
    model: t.stringList(),
    project: t.stringList(),
    environment: t.stringList(),
    feature: t.stringList(),
    team: t.stringList(),
    customer: t.stringList(),
    costCenter: t.stringList(),
    apiKeyId: t.stringList(),
    endUser: t.stringList({ description: "Read from the ledger." }),
    workflow: t.stringList({ description: "Read from the ledger." }),
    currency: t.stringList({ description: "`\"\"` selects unpriced calls." }),
    tags: t.field({ type: [TagInput], description: "Read from the ledger." })
  })
})

export type UsageFilterShape = typeof UsageFilterInput.$inferInput

/** The filter as a usage query takes it. */
export const toFilter = (input: UsageFilterShape | null | undefined): UsageQuery.UsageFilter | undefined => {
  if (input === null || input === undefined) return undefined
  const filter: { -readonly [K in UsageQuery.Dimension]?: ReadonlyArray<string> } & { tags?: Record<string, string> } = {}
  for (const [field, dimension] of Object.entries(filterFields) as ReadonlyArray<[keyof typeof filterFields, UsageQuery.Dimension]>) {
    const values = input[field]
    if (values !== null && values !== undefined) filter[dimension] = values
  }
  if (input.tags !== null && input.tags !== undefined) {
    const tags: Record<string, string> = {}
    for (const [i, tag] of input.tags.entries()) {
      if (tag.key in tags) throw new InvalidInput(`filter.tags[${i}]: the tag ${JSON.stringify(tag.key)} is given twice`, `filter.tags[${i}]`)
      tags[tag.key] = tag.value
    }
    filter.tags = tags
  }
  return filter
}

export const labelNames = UsageRecord.labelNames
