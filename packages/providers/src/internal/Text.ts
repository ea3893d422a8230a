/**
 * Text pulled out of request and response bodies, for token estimates when a provider reported
 * no usage. Only the fields a model reads or writes are collected.
 */
import { Predicate } from "effect"

/** Keys whose string values are model-visible text in the common message formats. */
const TEXT_KEYS = new Set(["text", "content", "arguments", "partial_json", "thinking", "reasoning_content", "refusal", "input_text", "output_text", "delta", "query"])

/**
 * Concatenates the text found under text-bearing keys, depth-first, in document order. Strings
 * directly inside arrays of content parts count too.
 */
export const collect = (value: unknown, depth = 0): string => {
  if (depth > 32) return ""
  if (typeof value === "string") return value
  if (Array.isArray(value)) return value.map((v) => collect(v, depth + 1)).filter((s) => s !== "").join("")
  if (!Predicate.isObject(value)) return ""
  let out = ""
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    if (TEXT_KEYS.has(key)) {
      if (typeof child === "string") out += child
      else out += collect(child, depth + 1)
    } else if (key === "function" || key === "tool_calls" || key === "parts" || key === "message" || key === "function_call" || key === "input" || key === "output") {
      out += typeof child === "string" ? child : collect(child, depth + 1)
    }
  }
  return out
}
