/** The files under `fixtures/`, read as text or JSON. */
import { readFileSync } from "node:fs"

export const fixture = (name: string): string => readFileSync(new URL(`fixtures/${name}`, import.meta.url), "utf8")
export const fixtureJson = <A = unknown>(name: string): A => JSON.parse(fixture(name)) as A
