/**
 * Where a text stops being JSON. `JSON.parse` does not always say (V8 reports "Unexpected token"
 * without a position), so a rejected body is scanned once more to name the line and column. Only
 * the error path runs this; valid bodies never do.
 */

export interface SyntaxProblem {
  /** Offset in UTF-16 code units, 0-based. */
  readonly position: number
  /** 1-based. */
  readonly line: number
  /** 1-based, in characters of that line. */
  readonly column: number
  /** What was found and what was expected there. */
  readonly message: string
}

type State = "value" | "valueOrClose" | "key" | "keyOrClose" | "colon" | "afterValue"

const expectation: Record<State, string> = {
  value: "a value",
  valueOrClose: "a value or ']'",
  key: "a string key",
  keyOrClose: "a string key or '}'",
  colon: "':'",
  afterValue: "',' or a closing bracket"
}

const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
const hex4 = /[0-9a-fA-F]{4}/y

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d

/** The end of the string starting at `start` (a quote), or the negated offset of its first fault minus one. */
const scanString = (text: string, start: number): number => {
  let i = start + 1
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (c === 0x22) return i + 1
    if (c < 0x20) return -i - 1
    if (c === 0x5c) {
      const next = text[i + 1]
      if (next === "u") {
        hex4.lastIndex = i + 2
        if (!hex4.test(text)) return -(i + 2) - 1
        i += 6
        continue
      }
      if (next === undefined || !"\"\\/bfnrt".includes(next)) return -(i + 1) - 1
      i += 2
      continue
    }
    i++
  }
  return -text.length - 1
}

const locate = (text: string, position: number) => {
  let line = 1
  let lineStart = 0
  for (let i = 0; i < position; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++
      lineStart = i + 1
    }
  }
  return { line, column: position - lineStart + 1 }
}

const problem = (text: string, position: number, what: string): SyntaxProblem => {
  const found = position >= text.length ? "unexpected end of input" : `unexpected ${JSON.stringify(text[position])}`
  return { position, ...locate(text, position), message: `${found}, expected ${what}` }
}

/** The first syntax fault of `text`, or undefined when it is one valid JSON value. Iterative, so deep nesting cannot overflow the stack. */
export const check = (text: string): SyntaxProblem | undefined => {
  const stack: Array<"array" | "object"> = []
  let state: State = "value"
  let i = 0
  const n = text.length
  while (true) {
    while (i < n && isSpace(text.charCodeAt(i))) i++
    if (i >= n) return state === "afterValue" && stack.length === 0 ? undefined : problem(text, i, expectation[state])
    const c = text[i]!
    switch (state) {
      case "value":
      case "valueOrClose": {
        if (state === "valueOrClose" && c === "]") {
          stack.pop()
          i++
          state = "afterValue"
        } else if (c === "{") {
          stack.push("object")
          i++
          state = "keyOrClose"
        } else if (c === "[") {
          stack.push("array")
          i++
          state = "valueOrClose"
        } else if (c === "\"") {
          const end = scanString(text, i)
          if (end < 0) return problem(text, -end - 1, "a valid string character or escape")
          i = end
          state = "afterValue"
        } else if (text.startsWith("true", i) || text.startsWith("null", i)) {
          i += 4
          state = "afterValue"
        } else if (text.startsWith("false", i)) {
          i += 5
          state = "afterValue"
        } else {
          number.lastIndex = i
          if (!number.test(text)) return problem(text, i, expectation[state])
          i = number.lastIndex
          state = "afterValue"
        }
        break
      }
      case "key":
      case "keyOrClose": {
        if (state === "keyOrClose" && c === "}") {
          stack.pop()
          i++
          state = "afterValue"
          break
        }
        if (c !== "\"") return problem(text, i, expectation[state])
        const end = scanString(text, i)
        if (end < 0) return problem(text, -end - 1, "a valid string character or escape")
        i = end
        state = "colon"
        break
      }
      case "colon": {
        if (c !== ":") return problem(text, i, expectation.colon)
        i++
        state = "value"
        break
      }
      case "afterValue": {
        const top = stack[stack.length - 1]
        if (top === undefined) return problem(text, i, "the end of input after the JSON value")
        if (c === ",") {
          i++
          state = top === "array" ? "value" : "key"
        } else if (c === (top === "array" ? "]" : "}")) {
          stack.pop()
          i++
        } else {
          return problem(text, i, top === "array" ? "',' or ']'" : "',' or '}'")
        }
        break
      }
    }
  }
}
