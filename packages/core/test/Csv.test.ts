import { describe, expect, it } from "vitest"
import * as fc from "fast-check"
import * as Result from "effect/Result"
import { Csv } from "../src/index.ts"

describe("Csv", () => {
  it("reads quoted fields, doubled quotes, CRLF, a byte-order mark, and skips blank lines", () => {
    expect(Csv.parse("\uFEFFdate,model\r\n\"2026-11-01\",\"gpt-4o, \"\"mini\"\"\"\r\n\r\nx,\"a\nb\"\n")).toEqual(
      Result.succeed([["date", "model"], ["2026-11-01", "gpt-4o, \"mini\""], ["x", "a\nb"]])
    )
  })

  it("an unterminated quote is a CsvSyntaxError naming its line", () => {
    const parsed = Csv.parse("date,cost\n2026-11-01,1\n\"2026-11-02,2\n")
    if (Result.isSuccess(parsed)) throw new Error("expected a syntax error")
    expect(parsed.failure).toBeInstanceOf(Csv.CsvSyntaxError)
    expect(parsed.failure.line).toBe(3)
    expect(parsed.failure.message).toBe("line 3: unterminated quoted field")
  })

  it("a cell starting like a formula is written with a leading quote; numbers are not", () => {
    expect(Csv.stringify([["owner", "amount"], ["=HYPERLINK(\"http://x\")", "-1.25"], ["+1 team", "+3"], ["@SUM(A1)", "-"], ["\tx", "\rb"], ["-team", "12"]]))
      .toBe("owner,amount\r\n\"'=HYPERLINK(\"\"http://x\"\")\",-1.25\r\n'+1 team,+3\r\n'@SUM(A1),'-\r\n'\tx,\"'\rb\"\r\n'-team,12\r\n")
    expect(Csv.stringify([["@cf/meta/llama"]], { newline: "\n", protectFormulas: false })).toBe("@cf/meta/llama\n")
  })

  it("what it writes it reads back (without formula protection)", () => {
    fc.assert(fc.property(
      fc.array(fc.array(fc.string({ unit: "grapheme" }), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 8 })
        .filter((rows) => rows.every((row) => row.some((cell) => cell.trim() !== ""))),
      (rows) => {
        expect(Csv.parse(Csv.stringify(rows, { protectFormulas: false }))).toEqual(Result.succeed(rows))
      }
    ))
  })
})
