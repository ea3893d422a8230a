/** The price-book scope of a recorded call: its tenant, and the API key, project and team it is labelled with. */
import type { PriceBook } from "@tally/catalog"
import type { UsageRecord } from "@tally/core"

export const ofLabels = (tenantId: string, labels: UsageRecord.Labels): PriceBook.Scope => {
  const scope: { -readonly [K in keyof PriceBook.Scope]: string } = { tenant: tenantId }
  if (labels.apiKeyId !== undefined && labels.apiKeyId !== "") scope.apiKey = labels.apiKeyId
  if (labels.project !== undefined && labels.project !== "") scope.project = labels.project
  if (labels.team !== undefined && labels.team !== "") scope.team = labels.team
  return scope
}
