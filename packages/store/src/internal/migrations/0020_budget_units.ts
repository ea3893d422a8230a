/**
 * Budgets in any unit: a budget counts `cost` (as before), `tokens` (all, input or output) or
 * `requests`, over a calendar period or a rolling window of `window_seconds`. A hold keeps what it
 * holds in its budget's unit (`amount`, then `actual` once settled); holds written before this
 * migration have neither and keep counting their reservation's cost.
 */
import { statements } from "./run.ts"

export default statements(
  `ALTER TABLE tally.budgets
    ADD COLUMN unit text NOT NULL DEFAULT 'cost' CHECK (unit IN ('cost', 'tokens', 'requests')),
    ADD COLUMN token_kind text CHECK (token_kind IN ('total', 'input', 'output')),
    ADD COLUMN window_seconds integer CHECK (window_seconds BETWEEN 1 AND 2678400)`,
  `ALTER TABLE tally.budgets DROP CONSTRAINT budgets_period_check`,
  `ALTER TABLE tally.budgets ADD CONSTRAINT budgets_period_check
    CHECK (period IN ('day', 'week', 'month', 'quarter', 'year', 'rolling'))`,
  `ALTER TABLE tally.budgets ADD CONSTRAINT budgets_rolling_window
    CHECK ((period = 'rolling') = (window_seconds IS NOT NULL))`,
  `ALTER TABLE tally.budgets ADD CONSTRAINT budgets_token_kind_given
    CHECK ((unit = 'tokens') = (token_kind IS NOT NULL))`,
  `ALTER TABLE tally.budget_holds
    ADD COLUMN amount numeric CHECK (amount >= 0),
    ADD COLUMN actual numeric CHECK (actual >= 0)`,
  `GRANT UPDATE ON tally.budget_holds TO tally_app`
)
