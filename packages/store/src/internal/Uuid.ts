/** Ids the database generates are uuids; anything else cannot name a row and is simply not found. */
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Whether `id` can be a uuid at all (checked before it reaches a `uuid` column, which would reject it). */
export const isUuid = (id: string): boolean => uuidPattern.test(id)
