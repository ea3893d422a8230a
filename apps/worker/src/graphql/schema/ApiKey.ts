/**
 * API keys of the tenant: listed, issued (the secret is shown once, in the answer) and revoked by
 * admin keys. Keys of other tenants read as not found.
 */
import type { ApiKey, UsageRecord } from "@tally/core"
import { ApiKeys } from "@tally/store"
import * as Redacted from "effect/Redacted"
import { builder, changeErrors, readErrors } from "../builder.ts"
import * as Paging from "../Paging.ts"
import { LabelsRef } from "./Common.ts"

const ScopeEnum = builder.enumType("ApiKeyScope", {
  values: {
    INGEST: { value: "ingest", description: "Send usage." },
    READ: { value: "read", description: "Query usage, records, budgets, models, chargeback." },
    ADMIN: { value: "admin", description: "Everything `read` can, and change budgets, prices, keys and chargeback runs." }
  } as const
})

const ApiKeyRef = builder.objectRef<ApiKey.ApiKey>("ApiKey").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name"),
    prefix: t.exposeString("prefix", { description: "The clear start of the secret, to tell keys apart." }),
    scopes: t.field({ type: [ScopeEnum], resolve: (k) => k.scopes }),
    defaultLabels: t.field({ type: LabelsRef, description: "Labels applied to usage sent with this key unless the event sets them.", resolve: (k) => k.defaultLabels }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    revokedAt: t.expose("revokedAt", { type: "DateTime", nullable: true })
  })
})

const IssuedKeyRef = builder.objectRef<{ readonly key: ApiKey.ApiKey; readonly secret: string }>("IssuedApiKey").implement({
  fields: (t) => ({
    key: t.field({ type: ApiKeyRef, resolve: (i) => i.key }),
    secret: t.exposeString("secret", { description: "Shown this once; only its hash is kept." })
  })
})

const DefaultLabelsInput = builder.inputType("DefaultLabelsInput", {
  fields: (t) => ({
    project: t.string(),
    environment: t.string(),
    feature: t.string(),
    team: t.string(),
    customer: t.string(),
    endUser: t.string(),
    workflow: t.string(),
    costCenter: t.string()
  })
})

builder.queryField("apiKeys", (t) =>
  t.connection({
    type: ApiKeyRef,
    description: "The tenant's API keys, oldest first (admin).",
    authScopes: { admin: true },
    errors: { types: [...readErrors], directResult: true },
    complexity: Paging.complexity(50),
    resolve: async (_root, args, context) => {
      return Paging.fromArray(args, { fallback: 50, max: 200 }, () =>
        context.run(ApiKeys.ApiKeys.use((keys) => keys.list(context.tenantId))))
    }
  },
    { name: "ApiKeyConnection" },
    { name: "ApiKeyEdge" }
  ))

builder.mutationField("issueApiKey", (t) =>
  t.field({
    type: IssuedKeyRef,
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: {
      name: t.arg.string({ required: true }),
      scopes: t.arg({ type: [ScopeEnum], required: true }),
      defaultLabels: t.arg({ type: DefaultLabelsInput })
    },
    resolve: async (_root, args, context) => {
      const labels: { -readonly [K in keyof UsageRecord.Labels]: string } = {}
      for (const [name, value] of Object.entries(args.defaultLabels ?? {})) {
        if (value !== null && value !== undefined) labels[name as keyof UsageRecord.Labels] = value
      }
      const created = await context.run(ApiKeys.ApiKeys.use((keys) =>
        keys.create(context.tenantId, { name: args.name, scopes: args.scopes, defaultLabels: labels })
      ))
      return { key: created.key, secret: Redacted.value(created.secret) }
    }
  }))

builder.mutationField("revokeApiKey", (t) =>
  t.field({
    type: ApiKeyRef,
    description: "Revokes a key at once; revoking again keeps the first time.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => context.run(ApiKeys.ApiKeys.use((keys) => keys.revoke(context.tenantId, String(args.id))))
  }))
