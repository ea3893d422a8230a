/**
 * Model names as providers report them carry noise: `provider/` prefixes, Bedrock region
 * prefixes and ARNs, Vertex `@version` suffixes, dated snapshots, `:0` version suffixes and
 * fine-tuned `ft:` prefixes. `candidates` turns one reported name into the ordered list of names
 * that matching tries: the raw name first, then each normalization step applied on top of the
 * previous one. Matching prefers earlier candidates, so a rule written for the exact reported
 * name always beats one that only matches a normalized form.
 */

export type StepName =
  | "raw"
  | "fine-tuned"
  | "bedrock-arn"
  | "provider-prefix"
  | "bedrock-region"
  | "bedrock-vendor"
  | "bedrock-version"
  | "vertex-version"
  | "date-format"
  | "dated-snapshot"
  | "latest-alias"

export interface NameCandidate {
  /** The lower-cased, trimmed name matched against rules. */
  readonly name: string
  /** 0 for the raw name; each later candidate has a higher stage. */
  readonly stage: number
  /** The normalization steps applied to reach this name, with what each removed or changed. */
  readonly steps: ReadonlyArray<{ readonly step: StepName; readonly detail: string }>
  /** The reported name designated a fine-tuned (or customized) version of this base model. */
  readonly fineTuned: boolean
}

interface Step {
  readonly step: StepName
  readonly apply: (name: string) => { readonly name: string; readonly detail: string; readonly fineTuned?: boolean } | undefined
}

const replaceWith = (pattern: RegExp, replacement: string, describe: (match: RegExpExecArray) => string) =>
  (name: string) => {
    const m = pattern.exec(name)
    if (m === null) return undefined
    return { name: name.replace(pattern, replacement), detail: describe(m) }
  }

const BEDROCK_REGIONS = "us|eu|apac|ap|global|us-gov|jp|au|ca|in|sa|me|af|mx|regional"
const BEDROCK_VENDORS =
  "anthropic|meta|amazon|mistral|cohere|ai21|deepseek|openai|qwen|writer|google|nvidia|stability|twelvelabs|luma|minimax|moonshot|moonshotai|zai"

const isValidDate = (year: string, month: string, day: string): boolean => {
  const y = Number(year)
  const m = Number(month)
  const d = Number(day)
  const date = new Date(Date.UTC(y, m - 1, d))
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d
}

const STEPS: ReadonlyArray<Step> = [
  {
    // OpenAI `ft:gpt-4o-mini-2024-07-18:org:name:id`; Azure `gpt-4o-mini-2024-07-18.ft-0123abcd`.
    step: "fine-tuned",
    apply: (name) => {
      const openai = /^ft:([^:]+)(?::.*)?$/.exec(name)
      if (openai !== null) return { name: openai[1]!, detail: `removed fine-tune prefix "ft:" and suffix`, fineTuned: true }
      const azure = /^(.+)\.ft-[0-9a-z]+(?:-[0-9a-z]+)*$/.exec(name)
      if (azure !== null) return { name: azure[1]!, detail: `removed Azure fine-tune suffix`, fineTuned: true }
      return undefined
    }
  },
  {
    // arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0
    step: "bedrock-arn",
    apply: (name) => {
      const m = /^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:([a-z-]+)\/(.+)$/.exec(name)
      if (m === null) return undefined
      const kind = m[1]!
      const rest = m[2]!
      if (kind === "custom-model" || kind === "imported-model") {
        const base = rest.split("/")[0]!
        return { name: base, detail: `took the base model of the Bedrock ${kind} ARN`, fineTuned: true }
      }
      return { name: rest, detail: `took the model id of the Bedrock ${kind} ARN` }
    }
  },
  {
    step: "provider-prefix",
    apply: (name) => {
      const slash = name.lastIndexOf("/")
      if (slash < 0 || slash === name.length - 1) return undefined
      return { name: name.slice(slash + 1), detail: `removed prefix "${name.slice(0, slash + 1)}"` }
    }
  },
  {
    step: "bedrock-region",
    apply: replaceWith(new RegExp(`^(${BEDROCK_REGIONS})\\.(?=[a-z0-9-]+\\.)`), "", (m) => `removed Bedrock region prefix "${m[0]}"`)
  },
  {
    step: "bedrock-vendor",
    apply: replaceWith(new RegExp(`^(${BEDROCK_VENDORS})\\.`), "", (m) => `removed Bedrock vendor prefix "${m[0]}"`)
  },
  {
    step: "bedrock-version",
    apply: (name) => {
      const m = /-v\d+:\d+$/.exec(name) ?? /:\d+$/.exec(name)
      if (m === null) return undefined
      return { name: name.slice(0, m.index), detail: `removed version suffix "${m[0]}"` }
    }
  },
  {
    step: "vertex-version",
    apply: replaceWith(/@[^@]*$/, "", (m) => `removed Vertex version suffix "${m[0]}"`)
  },
  {
    // genai-prices writes some dates with dashes; try `-20241022` as `-2024-10-22` before dropping it.
    step: "date-format",
    apply: (name) => {
      const m = /-(20\d{2})(\d{2})(\d{2})$/.exec(name)
      if (m === null || !isValidDate(m[1]!, m[2]!, m[3]!)) return undefined
      return { name: `${name.slice(0, m.index)}-${m[1]}-${m[2]}-${m[3]}`, detail: `rewrote date "${m[0]}" as "-${m[1]}-${m[2]}-${m[3]}"` }
    }
  },
  {
    step: "dated-snapshot",
    apply: (name) => {
      const full = /-(20\d{2})-(\d{2})-(\d{2})$/.exec(name)
      if (full !== null && isValidDate(full[1]!, full[2]!, full[3]!)) {
        return { name: name.slice(0, full.index), detail: `removed snapshot date "${full[0]}"` }
      }
      const monthYear = /-(0[1-9]|1[0-2])-20\d{2}$/.exec(name)
      if (monthYear !== null) return { name: name.slice(0, monthYear.index), detail: `removed snapshot date "${monthYear[0]}"` }
      // gpt-4-0613 (MMDD), mistral-large-2407 / grok-2-1212 (YYMM or MMDD).
      const short = /-(\d{2})(\d{2})$/.exec(name)
      if (short !== null) {
        const a = Number(short[1])
        const b = Number(short[2])
        const mmdd = a >= 1 && a <= 12 && b >= 1 && b <= 31
        const yymm = a >= 23 && a <= 39 && b >= 1 && b <= 12
        if (mmdd || yymm) return { name: name.slice(0, short.index), detail: `removed snapshot date "${short[0]}"` }
      }
      return undefined
    }
  },
  {
    step: "latest-alias",
    apply: replaceWith(/-latest$/, "", () => `removed alias suffix "-latest"`)
  }
]

/** Lower-cased, trimmed: the form every rule is evaluated against. */
export const canonical = (name: string): string => name.trim().toLowerCase()

/** The names matching tries for one reported model name, most faithful first. */
export const candidates = (model: string): ReadonlyArray<NameCandidate> => {
  let name = canonical(model)
  let fineTuned = false
  const steps: Array<{ step: StepName; detail: string }> = []
  const out: Array<NameCandidate> = [{ name, stage: 0, steps: [], fineTuned: false }]
  const seen = new Set([name])
  for (const step of STEPS) {
    const result = step.apply(name)
    if (result === undefined || result.name.length === 0 || result.name === name) continue
    name = result.name
    fineTuned = fineTuned || result.fineTuned === true
    steps.push({ step: step.step, detail: result.detail })
    if (seen.has(name)) continue
    seen.add(name)
    out.push({ name, stage: out.length, steps: [...steps], fineTuned })
  }
  return out
}
