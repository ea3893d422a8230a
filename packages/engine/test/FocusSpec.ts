/**
 * An independent check of FinOps FOCUS 1.2 and 1.3 conformance for the exports, written from the
 * specification (FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec, `specification/columns/*.md` and
 * `specification/attributes/*.md`, version 1.2), not from the exporter's code: which columns are
 * mandatory, which must not be null, the allowed values, the formats, and the invariants between
 * price, quantity and cost. It parses the CSV as a consumer would.
 */
import { Money } from "@tally/core"

/** Columns whose feature level is Mandatory in FOCUS 1.2. */
export const mandatoryColumns = [
  "BilledCost",
  "BillingAccountId",
  "BillingAccountName",
  "BillingCurrency",
  "BillingPeriodEnd",
  "BillingPeriodStart",
  "ChargeCategory",
  "ChargeClass",
  "ChargeDescription",
  "ChargePeriodEnd",
  "ChargePeriodStart",
  "ContractedCost",
  "EffectiveCost",
  "InvoiceIssuerName",
  "ListCost",
  "PricingQuantity",
  "PricingUnit",
  "ProviderName",
  "PublisherName",
  "ServiceCategory",
  "ServiceName",
  "ServiceSubcategory"
] as const

/** Columns FOCUS 1.3 adds as Mandatory (ProviderName and PublisherName are deprecated, still mandatory). */
const mandatory13 = ["ServiceProviderName", "HostProviderName"] as const

/** Columns that must never be null (Allows nulls: False). */
const nonNull = [
  "BilledCost",
  "BillingAccountId",
  "BillingCurrency",
  "BillingPeriodEnd",
  "BillingPeriodStart",
  "ChargeCategory",
  "ChargePeriodEnd",
  "ChargePeriodStart",
  "ContractedCost",
  "EffectiveCost",
  "ListCost",
  "ServiceCategory",
  "ServiceSubcategory"
] as const

/** Must not be null when ChargeCategory is "Usage" and ChargeClass is not "Correction". */
const usageNonNull = [
  "PricingQuantity",
  "PricingUnit",
  "ListUnitPrice",
  "ContractedUnitPrice",
  "ConsumedQuantity",
  "ConsumedUnit",
  "SkuId",
  "SkuPriceId",
  "PricingCategory"
] as const

const allowed: Record<string, ReadonlyArray<string | null>> = {
  ChargeCategory: ["Usage", "Purchase", "Tax", "Credit", "Adjustment"],
  ChargeClass: [null, "Correction"],
  ChargeFrequency: [null, "One-Time", "Recurring", "Usage-Based"],
  PricingCategory: [null, "Standard", "Dynamic", "Committed", "Other"]
}

/** Service subcategories of the "AI and Machine Learning" category. */
const aiSubcategories = ["Bots", "Generative AI", "Machine Learning", "Natural Language Processing", "Other (AI and Machine Learning)"]

const decimalColumns = [
  "BilledCost",
  "EffectiveCost",
  "ListCost",
  "ListUnitPrice",
  "ContractedCost",
  "ContractedUnitPrice",
  "PricingQuantity",
  "ConsumedQuantity",
  "PricingCurrencyEffectiveCost",
  "PricingCurrencyListUnitPrice",
  "PricingCurrencyContractedUnitPrice"
] as const

const dateColumns = ["BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"] as const

/** Numeric Format: plain decimal, no exponent, no thousands separators. */
const DECIMAL = /^-?\d+(?:\.\d+)?$/
/** Date/Time Format: ISO 8601 in UTC with a Z. */
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/
/** Unit Format: `<plural-units>` or `<unit-quantity> <plural-units>`, capitalized. */
const UNIT = /^(?:[1-9]\d* )?[A-Z][A-Za-z]*s$/
const CURRENCY = /^[A-Z]{3}$/

export type Row = Readonly<Record<string, string | null>>

/** RFC 4180 CSV into header and records; an empty field is null. */
export const parseCsv = (text: string): { readonly header: ReadonlyArray<string>; readonly rows: ReadonlyArray<Row> } => {
  const records: Array<Array<string | null>> = []
  let field = ""
  let quoted = false
  let wasQuoted = false
  let record: Array<string | null> = []
  const endField = () => {
    record.push(field === "" && !wasQuoted ? null : field)
    field = ""
    wasQuoted = false
  }
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === "\"" && text[i + 1] === "\"") {
        field += "\""
        i++
      } else if (c === "\"") quoted = false
      else field += c
    } else if (c === "\"") {
      quoted = true
      wasQuoted = true
    } else if (c === ",") endField()
    else if (c === "\r" && text[i + 1] === "\n") {
      endField()
      records.push(record)
      record = []
      i++
    } else field += c
  }
  if (field !== "" || record.length > 0) {
    endField()
    records.push(record)
  }
  const [header, ...body] = records
  if (header === undefined) throw new Error("no header record")
  return {
    header: header.map((h) => h ?? ""),
    rows: body.map((values) => {
      if (values.length !== header.length) throw new Error(`a record has ${values.length} fields, the header ${header.length}`)
      return Object.fromEntries(header.map((h, i) => [h ?? "", values[i] ?? null]))
    })
  }
}

/** The decimals of a ContractApplied object, read as written (never through a float). */
export const contractApplied = (text: string): ReadonlyArray<Readonly<Record<string, string>>> => {
  const parsed = JSON.parse(text, (_key, value: unknown, context?: { source?: string }) =>
    typeof value === "number" ? context?.source ?? String(value) : value) as { Elements?: unknown }
  if (typeof parsed !== "object" || parsed === null || !Array.isArray(parsed.Elements)) throw new Error("ContractApplied has no Elements array")
  return parsed.Elements as ReadonlyArray<Readonly<Record<string, string>>>
}

/** Every way the rows break FOCUS 1.2 or 1.3 (empty when they conform). */
export const problems = (header: ReadonlyArray<string>, rows: ReadonlyArray<Row>, version: "1.2" | "1.3" = "1.3"): Array<string> => {
  const out: Array<string> = []
  for (const column of mandatoryColumns) if (!header.includes(column)) out.push(`mandatory column ${column} is missing`)
  if (version === "1.3") {
    for (const column of mandatory13) if (!header.includes(column)) out.push(`mandatory column ${column} is missing`)
  } else {
    for (const column of [...mandatory13, "ContractApplied"]) if (header.includes(column)) out.push(`1.3 column ${column} in a 1.2 export`)
  }
  // Column naming and ordering: FOCUS columns first, custom columns prefixed x_ after them.
  let custom = false
  for (const column of header) {
    if (column.startsWith("x_")) custom = true
    else if (custom) out.push(`FOCUS column ${column} comes after custom columns`)
    if (!/^(?:x_)?[A-Z][A-Za-z0-9]*$/.test(column)) out.push(`column ${column} is not PascalCase or x_-prefixed`)
  }
  rows.forEach((row, i) => {
    const at = `row ${i + 1}`
    for (const column of nonNull) if (row[column] === null || row[column] === undefined) out.push(`${at}: ${column} is null`)
    if (version === "1.3" && (row["ServiceProviderName"] ?? null) === null) out.push(`${at}: ServiceProviderName is null`)
    if (header.includes("PricingCurrency") && (row["PricingCurrency"] ?? null) === null) out.push(`${at}: PricingCurrency is null`)
    // ConsumedQuantity is null unless the charge is usage (tokens of purchases go to x_ columns).
    if (row["ChargeCategory"] !== "Usage" && (row["ConsumedQuantity"] ?? null) !== null) out.push(`${at}: ConsumedQuantity on a ${row["ChargeCategory"]} row`)
    const applied = row["ContractApplied"] ?? null
    if (applied !== null) {
      try {
        for (const element of contractApplied(applied)) {
          if (typeof element["ContractId"] !== "string" || typeof element["ContractCommitmentId"] !== "string") out.push(`${at}: ContractApplied element without ContractId and ContractCommitmentId`)
          const cost = element["ContractCommitmentAppliedCost"]
          const quantity = element["ContractCommitmentAppliedQuantity"]
          if (cost === undefined && quantity === undefined) out.push(`${at}: ContractApplied element with neither cost nor quantity`)
          if (quantity !== undefined && typeof element["ContractCommitmentAppliedUnit"] !== "string") out.push(`${at}: ContractApplied quantity without unit`)
          for (const value of [cost, quantity]) if (value !== undefined && !DECIMAL.test(value)) out.push(`${at}: ContractApplied ${value} is not a decimal`)
        }
      } catch (e) {
        out.push(`${at}: ContractApplied ${String(e)}`)
      }
      if (row["ChargeCategory"] === "Purchase") {
        const ids = contractApplied(applied).map((e) => e["ContractCommitmentId"])
        if (!ids.includes(row["ResourceId"] ?? "")) out.push(`${at}: a purchase's ResourceId is not the commitment it buys`)
      }
    }
    // PricingCurrency amounts: equal when not converted, times the exchange rate when converted.
    const pricingCurrency = row["PricingCurrency"] ?? null
    if (pricingCurrency !== null) {
      const rate = pricingCurrency === row["BillingCurrency"] ? "1" : row["x_ExchangeRate"] ?? null
      if (rate === null) out.push(`${at}: converted from ${pricingCurrency} without x_ExchangeRate`)
      else {
        for (const [original, billing] of [["PricingCurrencyEffectiveCost", "EffectiveCost"], ["PricingCurrencyListUnitPrice", "ListUnitPrice"], ["PricingCurrencyContractedUnitPrice", "ContractedUnitPrice"]] as const) {
          const o = row[original] ?? null
          const b = row[billing] ?? null
          if ((o === null) !== (b === null)) out.push(`${at}: ${original} and ${billing} are not both set`)
          else if (o !== null && b !== null && !new Money.Decimal(o).times(rate).equals(new Money.Decimal(b))) out.push(`${at}: ${original} ${o} x rate ${rate} is not ${billing} ${b}`)
        }
      }
    }
    for (const [column, values] of Object.entries(allowed)) {
      if (!values.includes(row[column] ?? null)) out.push(`${at}: ${column} ${JSON.stringify(row[column])} is not an allowed value`)
    }
    if (row["ServiceCategory"] !== "AI and Machine Learning") out.push(`${at}: ServiceCategory ${row["ServiceCategory"]}`)
    if (!aiSubcategories.includes(row["ServiceSubcategory"] ?? "")) out.push(`${at}: ServiceSubcategory ${row["ServiceSubcategory"]} is not an AI and Machine Learning subcategory`)
    if (!CURRENCY.test(row["BillingCurrency"] ?? "")) out.push(`${at}: BillingCurrency ${row["BillingCurrency"]}`)
    for (const column of decimalColumns) {
      const value = row[column]
      if (value !== null && value !== undefined && !DECIMAL.test(value)) out.push(`${at}: ${column} ${value} is not a decimal`)
    }
    for (const column of dateColumns) {
      const value = row[column]
      if (value !== null && value !== undefined && !DATETIME.test(value)) out.push(`${at}: ${column} ${value} is not an ISO 8601 UTC date-time`)
    }
    for (const column of ["PricingUnit", "ConsumedUnit"]) {
      const value = row[column]
      if (value !== null && value !== undefined && !UNIT.test(value)) out.push(`${at}: ${column} ${value} breaks the unit format`)
    }
    if ((row["ChargePeriodStart"] ?? "") >= (row["ChargePeriodEnd"] ?? "")) out.push(`${at}: ChargePeriodStart is not before ChargePeriodEnd`)
    if ((row["BillingPeriodStart"] ?? "") >= (row["BillingPeriodEnd"] ?? "")) out.push(`${at}: BillingPeriodStart is not before BillingPeriodEnd`)
    const tags = row["Tags"]
    if (tags !== null && tags !== undefined) {
      try {
        const parsed: unknown = JSON.parse(tags)
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) out.push(`${at}: Tags is not a JSON object`)
      } catch {
        out.push(`${at}: Tags is not JSON`)
      }
    }
    const isUsage = row["ChargeCategory"] === "Usage" && row["ChargeClass"] !== "Correction"
    if (isUsage) {
      for (const column of usageNonNull) if (row[column] === null || row[column] === undefined) out.push(`${at}: ${column} is null on a usage row`)
    }
    // ListCost = ListUnitPrice x PricingQuantity and ContractedCost = ContractedUnitPrice x PricingQuantity, exactly.
    const q = row["PricingQuantity"]
    if (q !== null && q !== undefined && DECIMAL.test(q)) {
      for (const [price, cost] of [["ListUnitPrice", "ListCost"], ["ContractedUnitPrice", "ContractedCost"]] as const) {
        const p = row[price]
        const c = row[cost]
        if (p === null || p === undefined || c === null || c === undefined) continue
        if (!new Money.Decimal(p).times(q).equals(new Money.Decimal(c))) out.push(`${at}: ${price} ${p} x PricingQuantity ${q} is not ${cost} ${c}`)
      }
    }
    // EffectiveCost differs from BilledCost only by amortization: a purchase of future charges
    // (EffectiveCost 0) and usage drawn from one (ContractApplied).
    if (row["ChargeCategory"] === "Purchase") {
      if (row["EffectiveCost"] !== "0" && row["EffectiveCost"] !== row["BilledCost"]) out.push(`${at}: a purchase's EffectiveCost is neither 0 nor its BilledCost`)
    } else if (row["BilledCost"] !== row["EffectiveCost"] && applied === null) out.push(`${at}: EffectiveCost differs from BilledCost without any discount or amortization`)
  })
  return out
}

/** Sum of a decimal column. */
export const total = (rows: ReadonlyArray<Row>, column: string): Money.Decimal =>
  Money.sum(rows.map((r) => new Money.Decimal(r[column] ?? "0")))
