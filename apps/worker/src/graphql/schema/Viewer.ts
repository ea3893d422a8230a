/** `viewer`: who the API key is: its tenant (currency, time zone) and its own id and scopes. */
import type { Tenant } from "@tally/core"
import { Tenants } from "@tally/store"
import { builder, readErrors } from "../builder.ts"
import type { GraphqlContext } from "../Context.ts"

const TenantRef = builder.objectRef<Tenant.Tenant>("Tenant").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name"),
    currency: t.exposeString("currency", { description: "What budgets and chargeback are in." }),
    timeZone: t.exposeString("timeZone", { description: "Cuts days and months of usage, budgets and chargeback." }),
    builtinCatalog: t.exposeBoolean("builtinCatalog", { description: "Whether the built-in model catalog prices this tenant's calls." })
  })
})

const ViewerRef = builder.objectRef<GraphqlContext>("Viewer").implement({
  fields: (t) => ({
    tenant: t.field({ type: TenantRef, resolve: (context) => context.run(Tenants.Tenants.use((tenants) => tenants.get(context.tenantId))) }),
    apiKeyId: t.id({ resolve: (context) => context.key.keyId }),
    scopes: t.stringList({ resolve: (context) => context.key.scopes })
  })
})

builder.queryField("viewer", (t) =>
  t.field({
    type: ViewerRef,
    authScopes: { read: true },
    errors: { types: [...readErrors], directResult: true },
    resolve: (_root, _args, context) => context
  }))
