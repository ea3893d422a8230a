/**
 * Exchange rates (dated data, only ever added) and conversions of a period's spend into the
 * tenant's reporting currency at each call's day's rate, recorded with the rates they used.
 */
import type { Fx} from "@tally/core";
import { Money } from "@tally/core"
import { Currencies } from "@tally/engine"
import type { ExchangeRates } from "@tally/store"
import { builder, changeErrors, readErrors } from "../builder.ts"
import { MoneyRef } from "./Common.ts"

const ExchangeRateRef = builder.objectRef<Fx.Rate>("ExchangeRate").implement({
  description: "`rate` units of `quote` per unit of `base` for one (UTC) day.",
  fields: (t) => ({
    id: t.exposeID("id"),
    base: t.exposeString("base"),
    quote: t.exposeString("quote"),
    date: t.exposeString("date", { description: "YYYY-MM-DD" }),
    rate: t.expose("rate", { type: "Decimal" }),
    source: t.exposeString("source"),
    observedAt: t.exposeString("observedAt", { description: "When the source published it." }),
    recordedAt: t.exposeString("recordedAt", { description: "When Tally recorded it: a later rate for the same day supersedes it for later conversions only." }),
    recordedBy: t.exposeString("recordedBy")
  })
})

const ConversionDayRef = builder.objectRef<ExchangeRates.ConversionDay>("CurrencyConversionDay").implement({
  fields: (t) => ({
    date: t.exposeString("date"),
    currency: t.exposeString("currency", { description: "The original currency." }),
    owner: t.exposeString("owner", { nullable: true }),
    amount: t.field({ type: "Decimal", resolve: (d) => new Money.Decimal(d.amount) }),
    rateId: t.exposeString("rateId", { nullable: true, description: "Null when already in the reporting currency." }),
    rate: t.field({ type: "Decimal", nullable: true, resolve: (d) => (d.rate === null ? null : new Money.Decimal(d.rate)) }),
    converted: t.field({ type: "Decimal", resolve: (d) => new Money.Decimal(d.converted) })
  })
})

const ConversionRef = builder.objectRef<ExchangeRates.Conversion>("CurrencyConversion").implement({
  description: "A recorded conversion: kept as made, whatever rates are added later.",
  fields: (t) => ({
    id: t.exposeID("id"),
    subject: t.exposeString("subject"),
    reportingCurrency: t.exposeString("reportingCurrency"),
    asOf: t.exposeString("asOf"),
    total: t.expose("total", { type: "Decimal", description: "Exact (not rounded), in the reporting currency." }),
    rateIds: t.exposeStringList("rateIds"),
    days: t.field({ type: [ConversionDayRef], resolve: (c) => c.days }),
    createdAt: t.exposeString("createdAt"),
    createdBy: t.exposeString("createdBy")
  })
})

const OwnerConversionRef = builder.objectRef<Currencies.OwnerConversion & { readonly currency: string }>("OwnerConversion").implement({
  fields: (t) => ({
    owner: t.exposeString("owner", { nullable: true }),
    original: t.field({ type: [MoneyRef], description: "What the owner spent, by original currency.", resolve: (o) => o.original }),
    converted: t.field({ type: MoneyRef, resolve: (o) => ({ amount: o.converted, currency: o.currency }) })
  })
})

const SpendConversionRef = builder.objectRef<Currencies.SpendConversion>("SpendConversion").implement({
  fields: (t) => ({
    conversion: t.field({ type: ConversionRef, resolve: (s) => s.conversion }),
    owners: t.field({
      type: [OwnerConversionRef],
      resolve: (s) => s.owners.map((o) => ({ ...o, currency: s.conversion.reportingCurrency }))
    })
  })
})

const ExchangeRateInput = builder.inputType("ExchangeRateInput", {
  fields: (t) => ({
    base: t.string({ required: true }),
    quote: t.string({ required: true }),
    date: t.string({ required: true, description: "YYYY-MM-DD" }),
    rate: t.string({ required: true, description: "A decimal string above 0." }),
    source: t.string({ required: true }),
    observedAt: t.string()
  })
})

const RateFileFormatEnum = builder.enumType("ExchangeRateFileFormat", {
  values: { CSV: { value: "csv" }, JSON: { value: "json" } } as const
})

builder.queryField("exchangeRates", (t) =>
  t.field({
    type: [ExchangeRateRef],
    description: "Recorded exchange rates, oldest day first.",
    authScopes: { read: true },
    errors: { types: [...readErrors] },
    args: { base: t.arg.string(), quote: t.arg.string(), from: t.arg.string(), to: t.arg.string() },
    resolve: (_root, args, context) =>
      context.run(Currencies.Currencies.use((fx) =>
        fx.rates(context.tenantId, { base: args.base ?? undefined, quote: args.quote ?? undefined, from: args.from ?? undefined, to: args.to ?? undefined })
      ))
  }))

builder.queryField("currencyConversions", (t) =>
  t.field({
    type: [ConversionRef],
    description: "Recorded conversions (of one subject when given), oldest first.",
    authScopes: { read: true },
    errors: { types: [...readErrors] },
    args: { subject: t.arg.string() },
    resolve: (_root, args, context) => context.run(Currencies.Currencies.use((fx) => fx.conversions(context.tenantId, args.subject ?? undefined)))
  }))

builder.mutationField("addExchangeRates", (t) =>
  t.field({
    type: [ExchangeRateRef],
    description: "Records rates (all or none). A rate is never changed: a corrected rate is a new one.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors] },
    args: { rates: t.arg({ type: [ExchangeRateInput], required: true }) },
    resolve: (_root, args, context) =>
      context.run(Currencies.Currencies.use((fx) =>
        fx.add(
          context.tenantId,
          args.rates.map((r) => ({ base: r.base, quote: r.quote, date: r.date, rate: r.rate, source: r.source, ...(r.observedAt == null ? {} : { observedAt: r.observedAt }) })),
          context.key.keyId
        )
      ))
  }))

builder.mutationField("importExchangeRates", (t) =>
  t.field({
    type: [ExchangeRateRef],
    description: "Imports a rate file (CSV with header base,quote,date,rate[,source][,observedAt], or JSON), all or nothing.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors] },
    args: { format: t.arg({ type: RateFileFormatEnum, required: true }), text: t.arg.string({ required: true }), source: t.arg.string() },
    resolve: (_root, args, context) =>
      context.run(Currencies.Currencies.use((fx) =>
        fx.import(context.tenantId, args.text, args.format, { source: args.source ?? undefined, by: context.key.keyId })
      ))
  }))

builder.mutationField("convertSpend", (t) =>
  t.field({
    type: SpendConversionRef,
    description: "Converts a period's spend into the reporting currency at each call's day's rate and records the conversion.",
    authScopes: { admin: true },
    errors: { types: [...changeErrors], directResult: true },
    args: {
      from: t.arg({ type: "DateTime", required: true }),
      to: t.arg({ type: "DateTime", required: true }),
      dimension: t.arg.string(),
      asOf: t.arg({ type: "DateTime" })
    },
    resolve: (_root, args, context) =>
      context.run(Currencies.Currencies.use((fx) =>
        fx.convert(context.tenantId, {
          from: args.from,
          to: args.to,
          asOf: args.asOf ?? undefined,
          dimension: args.dimension ?? undefined,
          by: context.key.keyId
        })
      ))
  }))

