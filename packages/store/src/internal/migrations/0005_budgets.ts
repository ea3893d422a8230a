/**
 * What budgets need beyond the tables of 0004: an action per budget, reservations that hold an
 * estimate against every covering budget while a gateway's call runs, the tenant's webhook, an
 * outbox written in the same transaction as the event it announces, and a log of every delivery
 * attempt.
 */
import { statements } from "./run.ts"

const tenantTable = (table: string, grants: string) => [
  `ALTER TABLE tally.${table} ENABLE ROW LEVEL SECURITY`,
  `CREATE POLICY tenant_isolation ON tally.${table} FOR ALL TO tally_app
    USING (tenant_id = current_setting('tally.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tally.tenant_id', true))`,
  `GRANT ${grants} ON tally.${table} TO tally_app`
]

export default statements(
  `ALTER TABLE tally.budgets
    ADD COLUMN action text NOT NULL DEFAULT 'alert' CHECK (action IN ('alert', 'block'))`,
  // The FinOps default: warn at 80%, again at 100%.
  `ALTER TABLE tally.budgets ALTER COLUMN thresholds SET DEFAULT '{80,100}'`,
  `CREATE INDEX budgets_active ON tally.budgets (tenant_id, id) WHERE archived_at IS NULL`,
  `CREATE INDEX budget_events_tenant ON tally.budget_events (tenant_id, crossed_at)`,
  // A reservation holds `estimate` (later `actual`) until it is released, expires, or its call's
  // usage lands in the ledger under `request_id`.
  `CREATE TABLE tally.budget_reservations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    request_id text CHECK (request_id IS NULL OR length(request_id) BETWEEN 1 AND 256),
    labels jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
    estimate numeric NOT NULL CHECK (estimate >= 0),
    actual numeric CHECK (actual >= 0),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'settled', 'released')),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL CHECK (expires_at > created_at),
    settled_at timestamptz,
    released_at timestamptz,
    CHECK ((status = 'settled') = (settled_at IS NOT NULL AND actual IS NOT NULL)),
    CHECK ((status = 'released') = (released_at IS NOT NULL)),
    UNIQUE (tenant_id, id)
  )`,
  // Admission reads only reservations that may still count: not released, not expired.
  `CREATE INDEX budget_reservations_live ON tally.budget_reservations (tenant_id, expires_at)
    WHERE status <> 'released'`,
  ...tenantTable("budget_reservations", "SELECT, INSERT, UPDATE, DELETE"),
  `CREATE TABLE tally.budget_holds (
    tenant_id text NOT NULL,
    reservation_id uuid NOT NULL,
    budget_id uuid NOT NULL,
    period_start timestamptz NOT NULL,
    PRIMARY KEY (reservation_id, budget_id),
    FOREIGN KEY (tenant_id, reservation_id) REFERENCES tally.budget_reservations (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, budget_id) REFERENCES tally.budgets (tenant_id, id)
  )`,
  `CREATE INDEX budget_holds_budget ON tally.budget_holds (budget_id, period_start)`,
  ...tenantTable("budget_holds", "SELECT, INSERT, DELETE"),
  `CREATE TABLE tally.tenant_webhooks (
    tenant_id text PRIMARY KEY REFERENCES tally.tenants (id),
    url text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
    secret text NOT NULL CHECK (length(secret) BETWEEN 16 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  )`,
  ...tenantTable("tenant_webhooks", "SELECT, INSERT, UPDATE, DELETE"),
  // One row per message, deduplicated by (tenant, kind, dedupe key) so a producer may enqueue
  // the same finding twice and one message goes out.
  `CREATE TABLE tally.outbox (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tally.tenants (id),
    kind text NOT NULL CHECK (length(kind) BETWEEN 1 AND 100),
    dedupe_key text NOT NULL CHECK (length(dedupe_key) BETWEEN 1 AND 500),
    payload jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    created_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    claimed_until timestamptz,
    delivered_at timestamptz,
    last_error text,
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL)),
    UNIQUE (tenant_id, kind, dedupe_key),
    UNIQUE (tenant_id, id)
  )`,
  `CREATE INDEX outbox_due ON tally.outbox (next_attempt_at) WHERE status = 'pending'`,
  ...tenantTable("outbox", "SELECT, INSERT, UPDATE"),
  `CREATE TABLE tally.outbox_deliveries (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL,
    outbox_id uuid NOT NULL,
    attempt integer NOT NULL CHECK (attempt > 0),
    attempted_at timestamptz NOT NULL,
    url text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('delivered', 'failed')),
    status_code integer,
    error text,
    duration_ms integer NOT NULL CHECK (duration_ms >= 0),
    response_excerpt text,
    FOREIGN KEY (tenant_id, outbox_id) REFERENCES tally.outbox (tenant_id, id),
    UNIQUE (outbox_id, attempt)
  )`,
  ...tenantTable("outbox_deliveries", "SELECT, INSERT")
)
