/**
 * The owner dimension of a run: who a call belongs to. An attribution label (`team`,
 * `costCenter`, ...), the `model`, the `provider`, or a tag of the calls (`tag:<key>`). A call
 * without a value for the dimension (or with an empty one) has no owner.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as UsageRecord from "../UsageRecord.ts"

/** A field of the usage record that names an owner. */
export type Field = keyof UsageRecord.Labels | "model" | "provider"

export type Dimension =
  | { readonly kind: "field"; readonly name: Field }
  | { readonly kind: "tag"; readonly name: string; readonly key: string }

/** Every dimension a run can use besides `tag:<key>`. */
export const names: ReadonlyArray<Field> = [...UsageRecord.labelNames, "model", "provider"]

export class InvalidDimension extends Schema.TaggedError<InvalidDimension>()("InvalidDimension", {
  dimension: Schema.String,
  message: Schema.String
}) {}

const TAG_KEY = /^[A-Za-z0-9_.:/-]{1,100}$/

const isField = (name: string): name is Field => (names as ReadonlyArray<string>).includes(name)

/** `team`, `costCenter`, `model`, `provider`, ... or `tag:<key>` for a tag of the calls. */
export const parse = (name: string): Result.Result<Dimension, InvalidDimension> => {
  if (name.startsWith("tag:")) {
    const key = name.slice(4)
    return TAG_KEY.test(key)
      ? Result.succeed({ kind: "tag", name, key })
      : Result.fail(
        new InvalidDimension({
          dimension: name,
          message: `expected a tag key of 1 to 100 letters, digits or "_.:/-" after "tag:", got ${JSON.stringify(key)}`
        })
      )
  }
  return isField(name)
    ? Result.succeed({ kind: "field", name })
    : Result.fail(
      new InvalidDimension({
        dimension: name,
        message: `expected one of ${names.join(", ")} or tag:<key>, got ${JSON.stringify(name)}`
      })
    )
}
