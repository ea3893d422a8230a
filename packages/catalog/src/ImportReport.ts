/**
 * What an importer produced: the definitions it could build and every issue it met. An issue
 * names the model and the key or column; nothing in the input is dropped without one.
 */
import type * as ModelDefinition from "./ModelDefinition.ts"

export type IssueKind =
  /** A key or column the importer does not know. */
  | "unknown-key"
  /** A known price that Tally's pricing model cannot express. */
  | "unsupported-price"
  /** A value that is not what its key requires. */
  | "invalid-value"
  /** An entry that produced no definition. */
  | "skipped-model"

export interface Issue {
  readonly model: string | null
  readonly key: string | null
  readonly kind: IssueKind
  readonly detail: string
}

export interface ImportReport {
  readonly definitions: ReadonlyArray<ModelDefinition.ModelDefinition>
  readonly issues: ReadonlyArray<Issue>
}

export const issue = (model: string | null, key: string | null, kind: IssueKind, detail: string): Issue => ({ model, key, kind, detail })
