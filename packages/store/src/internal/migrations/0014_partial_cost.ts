/**
 * A call can be priced in part: some usage priced, some without a rate. It is recorded with cost
 * source `partial`: `total` is the priced part (not null), `unpriced_reason` says what is missing
 * and the breakdown names each missing component with its quantity (`cost_breakdown -> 'missing'`).
 * The cost-source checks of the ledger are replaced to allow it.
 */
import { statements } from "./run.ts"

export default statements(
  `DO $$
  DECLARE c record;
  BEGIN
    FOR c IN
      SELECT conname FROM pg_constraint
      WHERE conrelid = 'tally.usage_ledger'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%cost_source%'
    LOOP
      EXECUTE format('ALTER TABLE tally.usage_ledger DROP CONSTRAINT %I', c.conname);
    END LOOP;
  END $$`,
  `ALTER TABLE tally.usage_ledger ADD CONSTRAINT usage_ledger_cost_source
    CHECK (cost_source IN ('provider', 'computed', 'estimated', 'partial', 'unpriced'))`,
  `ALTER TABLE tally.usage_ledger ADD CONSTRAINT usage_ledger_unpriced_total
    CHECK ((cost_source = 'unpriced') = (total IS NULL))`,
  `ALTER TABLE tally.usage_ledger ADD CONSTRAINT usage_ledger_unpriced_reason
    CHECK ((cost_source IN ('unpriced', 'partial')) = (unpriced_reason IS NOT NULL))`,
  `ALTER TABLE tally.usage_ledger ADD CONSTRAINT usage_ledger_partial_missing
    CHECK (cost_source <> 'partial' OR jsonb_typeof(cost_breakdown -> 'missing') = 'array')`
)
