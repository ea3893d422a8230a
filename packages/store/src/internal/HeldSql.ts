/**
 * What live reservations hold against (budget, hold key) pairs, as SQL: the one rule that
 * `Reservations.held` and `BudgetSpend.standing` both read with. A hold counts its amount in its
 * budget's unit (the actual once settled); holds written before migration 0020 count their
 * reservation's cost. A reservation stops counting when released, when expired, or when the
 * ledger has its request id (the recorded usage counts instead).
 *
 * `holds` is the parameter of the pairs (`jsonb`: budget_id, period_start), `tenant` and `now` the
 * parameters of the tenant id and the instant.
 */
export const heldByBudget = (params: { readonly tenant: string; readonly holds: string; readonly now: string }) =>
  `SELECT h.budget_id, sum(coalesce(h.actual, h.amount, r.actual, r.estimate))::text AS held
    FROM tally.budget_reservations r
    JOIN tally.budget_holds h ON h.reservation_id = r.id
    JOIN jsonb_to_recordset(${params.holds}::jsonb) AS b(budget_id uuid, period_start timestamptz)
      ON b.budget_id = h.budget_id AND b.period_start = h.period_start
    WHERE r.tenant_id = ${params.tenant} AND r.status <> 'released' AND r.expires_at > ${params.now}
      AND NOT (r.request_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM tally.usage_request_ids u WHERE u.tenant_id = r.tenant_id AND u.request_id = r.request_id))
    GROUP BY h.budget_id`
