package meta

import (
	"context"
	"database/sql"

	"github.com/vigilsec/vigil/internal/audit"
)

// migrations are the schema steps, oldest first. Never edit a step that
// has shipped: add one.
var migrations = []Migration{
	{Version: 1, Name: "adopt the schema of Vigil before migrations", Up: func(ctx context.Context, tx *sql.Tx) error {
		return execAll(ctx, tx, schemaV0...)
	}},
	{Version: 2, Name: "alert path at line rate: campaigns, action intents, due-block index", Up: func(ctx context.Context, tx *sql.Tx) error {
		// A campaign alert stands for one rule firing on many entities;
		// entity_count is how many, alert_members lists every one.
		if err := addColumn(ctx, tx, "alerts", "campaign", "INTEGER NOT NULL DEFAULT 0"); err != nil {
			return err
		}
		if err := addColumn(ctx, tx, "alerts", "entity_count", "INTEGER NOT NULL DEFAULT 0"); err != nil {
			return err
		}
		return execAll(ctx, tx,
			`CREATE TABLE IF NOT EXISTS alert_members (
				alert_id TEXT NOT NULL,
				kind TEXT NOT NULL,
				value TEXT NOT NULL,
				first_seen INTEGER NOT NULL,
				last_seen INTEGER NOT NULL,
				count INTEGER NOT NULL,
				PRIMARY KEY (alert_id, kind, value)
			) WITHOUT ROWID`,
			// An action is written as "running" before it runs; at start,
			// actions a crash left running get their (unknown) result.
			`CREATE INDEX IF NOT EXISTS incident_actions_status ON incident_actions(status)`,
			// The unblocker asks every second which blocks are due.
			`CREATE INDEX IF NOT EXISTS response_blocks_until ON response_blocks(until)`,
		)
	}},
	{Version: 3, Name: "audit log: sequence numbers, hash chain, append-only triggers", Up: audit.Migrate},
	{Version: 4, Name: "response queue: playbook runs survive a crash", Up: func(ctx context.Context, tx *sql.Tx) error {
		// A playbook run is saved when it is queued and deleted when it
		// has run, so that a run queued behind a slow command when the
		// process dies runs at the next start instead of never.
		return execAll(ctx, tx, `CREATE TABLE IF NOT EXISTS response_queue (
			id TEXT PRIMARY KEY,
			created INTEGER NOT NULL,
			playbook TEXT NOT NULL,
			step INTEGER NOT NULL,
			trigger TEXT NOT NULL
		)`)
	}},
	{Version: 5, Name: "console sessions: short id, source address, user agent", Up: func(ctx context.Context, tx *sql.Tx) error {
		// Sessions are listed and revoked by a short id derived from the
		// hash the table keys them by (never the secret, nor the whole
		// hash), with where they signed in from.
		for _, c := range [][2]string{
			{"short_id", "TEXT NOT NULL DEFAULT ''"},
			{"source", "TEXT NOT NULL DEFAULT ''"},
			{"user_agent", "TEXT NOT NULL DEFAULT ''"},
		} {
			if err := addColumn(ctx, tx, "console_sessions", c[0], c[1]); err != nil {
				return err
			}
		}
		return execAll(ctx, tx,
			`UPDATE console_sessions SET short_id = lower(hex(substr(id_hash, 1, 8))) WHERE short_id = ''`,
			`CREATE INDEX IF NOT EXISTS console_sessions_short_id ON console_sessions(short_id)`,
		)
	}},
	{Version: 6, Name: "users of single sign-on: the provider's issuer and subject", Up: func(ctx context.Context, tx *sql.Tx) error {
		// A user made by a single sign-on is linked to the provider's
		// (issuer, subject), never to a name a person may choose at the
		// provider; they have no password (hash '').
		for _, c := range []string{"sso_issuer", "sso_subject"} {
			if err := addColumn(ctx, tx, "users", c, "TEXT NOT NULL DEFAULT ''"); err != nil {
				return err
			}
		}
		return execAll(ctx, tx,
			`CREATE UNIQUE INDEX IF NOT EXISTS users_sso ON users(sso_issuer, sso_subject) WHERE sso_issuer != ''`)
	}},
	{Version: 7, Name: "durable alert hand-off: the last journal record committed", Up: func(ctx context.Context, tx *sql.Tx) error {
		// Detections cross a journal on disk to the alert writer, which
		// commits here, with the alerts, the number of the last record
		// they hold (internal/alert/handoff.go).
		return execAll(ctx, tx, `CREATE TABLE IF NOT EXISTS alert_handoff (
			journal TEXT PRIMARY KEY,
			seq INTEGER NOT NULL
		)`)
	}},
	{Version: 8, Name: "host agents: enrollment tokens and enrolled agents", Up: func(ctx context.Context, tx *sql.Tx) error {
		// Enrollment tokens are kept as the SHA-256 of their secret, with
		// an expiry and a use count; an agent's id is derived from its
		// machine-id and its key (internal/agentwire), never its hostname,
		// and its current certificate's serial is what the agent listener
		// accepts (internal/agents).
		return execAll(ctx, tx,
			`CREATE TABLE IF NOT EXISTS agent_enrollment_tokens (
				id TEXT PRIMARY KEY,
				name TEXT NOT NULL,
				hash TEXT NOT NULL UNIQUE,
				created INTEGER NOT NULL,
				expires INTEGER NOT NULL,
				max_uses INTEGER NOT NULL,
				uses INTEGER NOT NULL DEFAULT 0
			)`,
			`CREATE TABLE IF NOT EXISTS agents (
				id TEXT PRIMARY KEY,
				machine_id TEXT NOT NULL,
				hostname TEXT NOT NULL,
				os TEXT NOT NULL DEFAULT '',
				version TEXT NOT NULL DEFAULT '',
				cert_serial TEXT NOT NULL,
				enrolled INTEGER NOT NULL,
				last_seen INTEGER NOT NULL DEFAULT 0,
				revoked INTEGER NOT NULL DEFAULT 0
			)`,
		)
	}},
	{Version: 9, Name: "anomaly baselines: per rule and entity", Up: func(ctx context.Context, tx *sql.Tx) error {
		// Anomaly rules (internal/anomaly) keep a compact baseline per
		// rule and entity (value hashes, hour-of-week counts, the last
		// login's place), written in batches and read back at start, the
		// most recently seen entities first.
		return execAll(ctx, tx,
			`CREATE TABLE IF NOT EXISTS anomaly_rules (
				rule TEXT PRIMARY KEY,
				started INTEGER NOT NULL
			)`,
			`CREATE TABLE IF NOT EXISTS anomaly_state (
				rule TEXT NOT NULL,
				entity INTEGER NOT NULL,
				updated INTEGER NOT NULL,
				state BLOB NOT NULL,
				PRIMARY KEY (rule, entity)
			) WITHOUT ROWID`,
			`CREATE INDEX IF NOT EXISTS anomaly_state_updated ON anomaly_state(rule, updated)`,
		)
	}},
	{Version: 10, Name: "host agents: the last log record stored per agent", Up: func(ctx context.Context, tx *sql.Tx) error {
		// An agent numbers its log records; the server keeps the highest
		// number it stored, written once the batch is durable, and drops
		// records at or below it (a resend after a lost acknowledgement)
		// so that each record is stored once (internal/agents).
		return execAll(ctx, tx, `CREATE TABLE IF NOT EXISTS agent_log_seq (
			agent TEXT PRIMARY KEY,
			seq INTEGER NOT NULL
		)`)
	}},
	{Version: 11, Name: "host agents: inventories and their history", Up: func(ctx context.Context, tx *sql.Tx) error {
		// An agent's current inventory: its OS packages in columns (the
		// vulnerability side queries them), the other sections as one
		// JSON item per key; the digest of what is held, which a diff
		// must start from; and an append-only log of every change
		// (internal/agents/inventory.go).
		return execAll(ctx, tx,
			`CREATE TABLE IF NOT EXISTS agent_packages (
				agent TEXT NOT NULL,
				name TEXT NOT NULL,
				arch TEXT NOT NULL,
				version TEXT NOT NULL,
				ecosystem TEXT NOT NULL,
				source TEXT NOT NULL,
				source_version TEXT NOT NULL,
				kind TEXT NOT NULL,
				state TEXT NOT NULL,
				PRIMARY KEY (agent, name, arch, version)
			)`,
			`CREATE TABLE IF NOT EXISTS agent_inventory (
				agent TEXT NOT NULL,
				section TEXT NOT NULL,
				item_key TEXT NOT NULL,
				item TEXT NOT NULL,
				PRIMARY KEY (agent, section, item_key)
			)`,
			`CREATE TABLE IF NOT EXISTS agent_inventory_state (
				agent TEXT PRIMARY KEY,
				digest TEXT NOT NULL,
				collected INTEGER NOT NULL,
				updated INTEGER NOT NULL
			)`,
			`CREATE TABLE IF NOT EXISTS agent_inventory_history (
				id INTEGER PRIMARY KEY,
				agent TEXT NOT NULL,
				time INTEGER NOT NULL,
				section TEXT NOT NULL,
				change TEXT NOT NULL,
				item_key TEXT NOT NULL,
				item TEXT NOT NULL
			)`,
			`CREATE INDEX IF NOT EXISTS agent_inventory_history_agent ON agent_inventory_history(agent, id)`,
		)
	}},
	{Version: 12, Name: "vulnerability findings: assets, findings, history, risk acceptances", Up: func(ctx context.Context, tx *sql.Tx) error {
		// One finding per asset, package and vulnerability
		// (internal/vuln/findings); its history is append-only, and a
		// risk acceptance is requested by one person and decided by
		// another. Times are Unix nanoseconds.
		return execAll(ctx, tx,
			`CREATE TABLE IF NOT EXISTS vuln_assets (
				id TEXT PRIMARY KEY,
				kind TEXT NOT NULL,
				name TEXT NOT NULL,
				criticality TEXT NOT NULL,
				tags TEXT NOT NULL,
				created INTEGER NOT NULL,
				reconciled INTEGER NOT NULL,
				packages INTEGER NOT NULL
			)`,
			`CREATE TABLE IF NOT EXISTS vuln_findings (
				id TEXT PRIMARY KEY,
				asset TEXT NOT NULL,
				ecosystem TEXT NOT NULL,
				package TEXT NOT NULL,
				vuln_id TEXT NOT NULL,
				aliases TEXT NOT NULL,
				version TEXT NOT NULL,
				fixed_version TEXT NOT NULL,
				fixed_by TEXT NOT NULL,
				state TEXT NOT NULL,
				priority TEXT NOT NULL,
				decision TEXT NOT NULL,
				severity TEXT NOT NULL,
				kev INTEGER NOT NULL,
				detail TEXT NOT NULL,
				first_seen INTEGER NOT NULL,
				last_seen INTEGER NOT NULL,
				due INTEGER NOT NULL,
				closed INTEGER NOT NULL,
				reason TEXT NOT NULL,
				accepted_until INTEGER NOT NULL,
				sla_alerted INTEGER NOT NULL,
				history_seq INTEGER NOT NULL,
				UNIQUE (asset, ecosystem, package, vuln_id)
			)`,
			`CREATE INDEX IF NOT EXISTS vuln_findings_state ON vuln_findings(state, due)`,
			`CREATE INDEX IF NOT EXISTS vuln_findings_priority ON vuln_findings(priority, due)`,
			`CREATE TABLE IF NOT EXISTS vuln_finding_history (
				finding TEXT NOT NULL,
				seq INTEGER NOT NULL,
				at INTEGER NOT NULL,
				actor TEXT NOT NULL,
				action TEXT NOT NULL,
				from_state TEXT NOT NULL,
				to_state TEXT NOT NULL,
				reason TEXT NOT NULL,
				PRIMARY KEY (finding, seq)
			)`,
			`CREATE TRIGGER IF NOT EXISTS vuln_finding_history_no_update BEFORE UPDATE ON vuln_finding_history
			BEGIN SELECT RAISE(ABORT, 'vuln_finding_history is append-only'); END`,
			`CREATE TRIGGER IF NOT EXISTS vuln_finding_history_no_delete BEFORE DELETE ON vuln_finding_history
			BEGIN SELECT RAISE(ABORT, 'vuln_finding_history is append-only'); END`,
			`CREATE TABLE IF NOT EXISTS vuln_acceptances (
				id TEXT PRIMARY KEY,
				finding TEXT NOT NULL,
				status TEXT NOT NULL,
				reason TEXT NOT NULL,
				expires INTEGER NOT NULL,
				requested_by TEXT NOT NULL,
				requested INTEGER NOT NULL,
				decided_by TEXT NOT NULL,
				decided INTEGER NOT NULL,
				decision_reason TEXT NOT NULL
			)`,
			`CREATE INDEX IF NOT EXISTS vuln_acceptances_finding ON vuln_acceptances(finding, status)`,
		)
	}},
}
