package postgres

import (
	"context"
	"database/sql"
	"strings"

	"github.com/vigilsec/vigil/internal/meta"
)

// Schema is the metadata schema in PostgreSQL: the same versions as
// meta.SQLite, each leaving the same tables, columns, keys and indexes,
// in PostgreSQL's types. Every integer is a BIGINT (times are Unix
// nanoseconds or milliseconds, counts grow without bound; SQLite's
// INTEGER is 64-bit too), a blob is a BYTEA, a REAL a DOUBLE PRECISION,
// and text compares byte by byte (COLLATE "C", SQLite's BINARY), so that
// ORDER BY and range scans agree with SQLite whatever the database's
// locale. The tables whose rows the domain packages list in insertion
// order (ORDER BY rowid, SQLite's implicit key) get an explicit rowid
// column. A PostgreSQL database is always created by a version that has
// every step, so no step adopts an older shape.
var Schema = &meta.Schema{
	Engine: "postgres",
	VersionTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY,
		name TEXT NOT NULL,
		applied BIGINT NOT NULL
	)`,
	Steps: []meta.Migration{
		{Version: 1, Name: "the schema of Vigil before migrations", Up: ddl(v1...)},
		{Version: 2, Name: "alert path at line rate: campaigns, action intents, due-block index", Up: ddl(v2...)},
		{Version: 3, Name: "audit log: sequence numbers, hash chain, append-only triggers", Up: ddl(v3...)},
		{Version: 4, Name: "response queue: playbook runs survive a crash", Up: ddl(v4...)},
		{Version: 5, Name: "console sessions: short id, source address, user agent", Up: ddl(v5...)},
		{Version: 6, Name: "users of single sign-on: the provider's issuer and subject", Up: ddl(v6...)},
		{Version: 7, Name: "durable alert hand-off: the last journal record committed", Up: ddl(v7...)},
		{Version: 8, Name: "host agents: enrollment tokens and enrolled agents", Up: ddl(v8...)},
		{Version: 9, Name: "anomaly baselines: per rule and entity", Up: ddl(v9...)},
		{Version: 10, Name: "host agents: the last log record stored per agent", Up: ddl(v10...)},
		{Version: 11, Name: "host agents: inventories and their history", Up: ddl(v11...)},
		{Version: 12, Name: "vulnerability findings: assets, findings, history, risk acceptances", Up: ddl(v12...)},
	},
}

// text is the column type of every text column.
var text = strings.NewReplacer(" TEXT", ` TEXT COLLATE "C"`)

// ddl returns a step that runs the statements in order, with each TEXT
// column collated "C", in one round trip (a query without parameters
// may hold several statements; they run in the step's transaction).
func ddl(stmts ...string) func(context.Context, *sql.Tx) error {
	script := text.Replace(strings.Join(stmts, ";\n"))
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, script)
		return err
	}
}

var v1 = []string{
	`CREATE TABLE users (
		id TEXT PRIMARY KEY,
		username TEXT NOT NULL UNIQUE,
		hash TEXT NOT NULL,
		role TEXT NOT NULL,
		created BIGINT NOT NULL,
		disabled BIGINT NOT NULL DEFAULT 0
	)`,
	`CREATE TABLE api_tokens (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		hash BYTEA NOT NULL UNIQUE,
		role TEXT NOT NULL,
		tags TEXT NOT NULL DEFAULT '[]',
		created BIGINT NOT NULL,
		expires BIGINT NOT NULL DEFAULT 0,
		last_used BIGINT NOT NULL DEFAULT 0
	)`,
	`CREATE TABLE alerts (
		id TEXT PRIMARY KEY,
		rule_id TEXT NOT NULL,
		rule_title TEXT NOT NULL,
		level TEXT NOT NULL,
		level_rank BIGINT NOT NULL,
		tags TEXT NOT NULL,
		count BIGINT NOT NULL,
		first_seen BIGINT NOT NULL,
		last_seen BIGINT NOT NULL,
		entities TEXT NOT NULL,
		grp TEXT NOT NULL DEFAULT '{}',
		event TEXT NOT NULL,
		incident_id TEXT NOT NULL DEFAULT '',
		status TEXT NOT NULL DEFAULT 'open',
		dedup_key TEXT NOT NULL DEFAULT ''
	)`,
	`CREATE INDEX alerts_last_seen ON alerts(last_seen)`,
	`CREATE INDEX alerts_rule ON alerts(rule_id, last_seen)`,
	`CREATE INDEX alerts_dedup ON alerts(dedup_key, last_seen)`,
	`CREATE INDEX alerts_incident ON alerts(incident_id)`,
	`CREATE INDEX console_alerts_status ON alerts(status, last_seen)`,
	`CREATE TABLE suppressions (
		id TEXT PRIMARY KEY,
		rule_id TEXT NOT NULL,
		query TEXT NOT NULL,
		reason TEXT NOT NULL,
		author TEXT NOT NULL,
		created BIGINT NOT NULL,
		expires BIGINT NOT NULL DEFAULT 0,
		hits BIGINT NOT NULL DEFAULT 0,
		last_hit BIGINT NOT NULL DEFAULT 0
	)`,
	`CREATE TABLE incidents (
		id TEXT PRIMARY KEY,
		title TEXT NOT NULL,
		status TEXT NOT NULL,
		severity TEXT NOT NULL,
		assignee TEXT NOT NULL DEFAULT '',
		source TEXT NOT NULL,
		created BIGINT NOT NULL,
		updated BIGINT NOT NULL,
		acknowledged_at BIGINT NOT NULL DEFAULT 0,
		contained_at BIGINT NOT NULL DEFAULT 0,
		resolved_at BIGINT NOT NULL DEFAULT 0,
		entities TEXT NOT NULL DEFAULT '{}',
		tags TEXT NOT NULL DEFAULT '[]',
		summary TEXT NOT NULL DEFAULT '',
		root_cause TEXT NOT NULL DEFAULT '',
		impact TEXT NOT NULL DEFAULT '',
		lessons_learned TEXT NOT NULL DEFAULT ''
	)`,
	`CREATE INDEX incidents_status ON incidents(status, updated)`,
	`CREATE TABLE incident_entities (
		incident_id TEXT NOT NULL,
		kind TEXT NOT NULL,
		value TEXT NOT NULL,
		ioc BIGINT NOT NULL DEFAULT 0,
		PRIMARY KEY (incident_id, kind, value)
	)`,
	`CREATE INDEX incident_entities_value ON incident_entities(kind, value)`,
	`CREATE TABLE incident_timeline (
		rowid BIGINT GENERATED ALWAYS AS IDENTITY,
		id TEXT PRIMARY KEY,
		incident_id TEXT NOT NULL,
		time BIGINT NOT NULL,
		kind TEXT NOT NULL,
		actor TEXT NOT NULL,
		text TEXT NOT NULL,
		data TEXT NOT NULL DEFAULT ''
	)`,
	`CREATE INDEX incident_timeline_inc ON incident_timeline(incident_id, time)`,
	`CREATE TABLE incident_actions (
		rowid BIGINT GENERATED ALWAYS AS IDENTITY,
		id TEXT PRIMARY KEY,
		incident_id TEXT NOT NULL,
		time BIGINT NOT NULL,
		name TEXT NOT NULL,
		target TEXT NOT NULL,
		status TEXT NOT NULL,
		result TEXT NOT NULL,
		actor TEXT NOT NULL,
		playbook TEXT NOT NULL DEFAULT ''
	)`,
	`CREATE INDEX incident_actions_inc ON incident_actions(incident_id, time)`,
	`CREATE TABLE incident_tasks (
		rowid BIGINT GENERATED ALWAYS AS IDENTITY,
		id TEXT PRIMARY KEY,
		incident_id TEXT NOT NULL,
		title TEXT NOT NULL,
		done BIGINT NOT NULL DEFAULT 0,
		assignee TEXT NOT NULL DEFAULT '',
		created BIGINT NOT NULL,
		done_at BIGINT NOT NULL DEFAULT 0
	)`,
	`CREATE INDEX incident_tasks_inc ON incident_tasks(incident_id)`,
	`CREATE TABLE entity_risk (
		kind TEXT NOT NULL,
		value TEXT NOT NULL,
		score DOUBLE PRECISION NOT NULL,
		updated BIGINT NOT NULL,
		over BIGINT NOT NULL DEFAULT 0,
		PRIMARY KEY (kind, value)
	)`,
	`CREATE TABLE audit_log (
		id TEXT PRIMARY KEY,
		time BIGINT NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		target TEXT NOT NULL,
		before TEXT NOT NULL DEFAULT '',
		after TEXT NOT NULL DEFAULT ''
	)`,
	`CREATE INDEX audit_log_time ON audit_log(time)`,
	`CREATE INDEX audit_log_target ON audit_log(target, time)`,
	`CREATE TABLE response_blocks (
		ip TEXT PRIMARY KEY,
		until BIGINT NOT NULL,
		incident_id TEXT NOT NULL,
		playbook TEXT NOT NULL
	)`,
	`CREATE TABLE response_pending (
		action_id TEXT PRIMARY KEY,
		incident_id TEXT NOT NULL,
		playbook TEXT NOT NULL,
		step BIGINT NOT NULL,
		trigger TEXT NOT NULL
	)`,
	`CREATE TABLE notify_routes (
		id TEXT PRIMARY KEY,
		config TEXT NOT NULL,
		created BIGINT NOT NULL,
		updated BIGINT NOT NULL
	)`,
	`CREATE TABLE notify_outbox (
		rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
		route_id TEXT NOT NULL,
		notification_id TEXT NOT NULL,
		kind TEXT NOT NULL,
		level TEXT NOT NULL,
		payload TEXT NOT NULL,
		state TEXT NOT NULL DEFAULT 'pending',
		mode TEXT NOT NULL DEFAULT 'single',
		digest_id TEXT NOT NULL DEFAULT '',
		attempts BIGINT NOT NULL DEFAULT 0,
		created BIGINT NOT NULL,
		next_attempt BIGINT NOT NULL,
		done BIGINT NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (route_id, notification_id)
	)`,
	`CREATE INDEX notify_outbox_due ON notify_outbox (route_id, state, next_attempt)`,
	`CREATE INDEX notify_outbox_done ON notify_outbox (state, done)`,
	`CREATE TABLE console_sessions (
		id_hash BYTEA PRIMARY KEY,
		username TEXT NOT NULL,
		csrf TEXT NOT NULL,
		created BIGINT NOT NULL,
		last_seen BIGINT NOT NULL
	)`,
	`CREATE INDEX console_sessions_user ON console_sessions(username)`,
	`CREATE TABLE console_disabled_rules (
		rule_id TEXT PRIMARY KEY,
		actor TEXT NOT NULL,
		at BIGINT NOT NULL
	)`,
	`CREATE TABLE console_alert_triage (
		alert_id TEXT PRIMARY KEY,
		assignee TEXT NOT NULL DEFAULT '',
		acked_by TEXT NOT NULL DEFAULT '',
		acked_at BIGINT NOT NULL DEFAULT 0
	)`,
	// The audit log reads its columns as SQLite lists them
	// (pragma_table_info); here the same query reads information_schema.
	// (Its types are written in lower case: a function's are not
	// collated.)
	`CREATE FUNCTION pragma_table_info(tbl text) RETURNS TABLE (name text)
		LANGUAGE sql STABLE AS $$
			SELECT column_name::text FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = tbl
			ORDER BY ordinal_position
		$$`,
}

var v2 = []string{
	`ALTER TABLE alerts ADD COLUMN campaign BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE alerts ADD COLUMN entity_count BIGINT NOT NULL DEFAULT 0`,
	`CREATE TABLE alert_members (
		alert_id TEXT NOT NULL,
		kind TEXT NOT NULL,
		value TEXT NOT NULL,
		first_seen BIGINT NOT NULL,
		last_seen BIGINT NOT NULL,
		count BIGINT NOT NULL,
		PRIMARY KEY (alert_id, kind, value)
	)`,
	`CREATE INDEX incident_actions_status ON incident_actions(status)`,
	`CREATE INDEX response_blocks_until ON response_blocks(until)`,
}

// v3 chains the audit log. The table is empty when it runs (every
// PostgreSQL database is created by a version with the chain), so seq,
// prev and hash are NOT NULL from the start: no entry can be written
// around the chain. The triggers refuse UPDATE, DELETE and TRUNCATE with
// the messages SQLite's give.
var v3 = []string{
	`ALTER TABLE audit_log ADD COLUMN seq BIGINT NOT NULL`,
	`ALTER TABLE audit_log ADD COLUMN prev TEXT NOT NULL`,
	`ALTER TABLE audit_log ADD COLUMN hash TEXT NOT NULL`,
	`CREATE UNIQUE INDEX audit_log_seq ON audit_log(seq)`,
	`CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF TG_OP = 'UPDATE' THEN
			RAISE EXCEPTION 'audit_log is append-only: entries cannot be changed';
		END IF;
		RAISE EXCEPTION 'audit_log is append-only: entries cannot be deleted';
	END
	$$`,
	`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`,
	`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`,
	`CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()`,
}

var v4 = []string{
	`CREATE TABLE response_queue (
		id TEXT PRIMARY KEY,
		created BIGINT NOT NULL,
		playbook TEXT NOT NULL,
		step BIGINT NOT NULL,
		trigger TEXT NOT NULL
	)`,
}

var v5 = []string{
	`ALTER TABLE console_sessions ADD COLUMN short_id TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE console_sessions ADD COLUMN source TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE console_sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT ''`,
	`UPDATE console_sessions SET short_id = encode(substring(id_hash FROM 1 FOR 8), 'hex') WHERE short_id = ''`,
	`CREATE INDEX console_sessions_short_id ON console_sessions(short_id)`,
}

var v6 = []string{
	`ALTER TABLE users ADD COLUMN sso_issuer TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE users ADD COLUMN sso_subject TEXT NOT NULL DEFAULT ''`,
	`CREATE UNIQUE INDEX users_sso ON users(sso_issuer, sso_subject) WHERE sso_issuer != ''`,
}

var v7 = []string{
	`CREATE TABLE alert_handoff (
		journal TEXT PRIMARY KEY,
		seq BIGINT NOT NULL
	)`,
}

var v8 = []string{
	`CREATE TABLE agent_enrollment_tokens (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		hash TEXT NOT NULL UNIQUE,
		created BIGINT NOT NULL,
		expires BIGINT NOT NULL,
		max_uses BIGINT NOT NULL,
		uses BIGINT NOT NULL DEFAULT 0
	)`,
	`CREATE TABLE agents (
		id TEXT PRIMARY KEY,
		machine_id TEXT NOT NULL,
		hostname TEXT NOT NULL,
		os TEXT NOT NULL DEFAULT '',
		version TEXT NOT NULL DEFAULT '',
		cert_serial TEXT NOT NULL,
		enrolled BIGINT NOT NULL,
		last_seen BIGINT NOT NULL DEFAULT 0,
		revoked BIGINT NOT NULL DEFAULT 0
	)`,
}

var v9 = []string{
	`CREATE TABLE anomaly_rules (
		rule TEXT PRIMARY KEY,
		started BIGINT NOT NULL
	)`,
	`CREATE TABLE anomaly_state (
		rule TEXT NOT NULL,
		entity BIGINT NOT NULL,
		updated BIGINT NOT NULL,
		state BYTEA NOT NULL,
		PRIMARY KEY (rule, entity)
	)`,
	`CREATE INDEX anomaly_state_updated ON anomaly_state(rule, updated)`,
}

var v10 = []string{
	`CREATE TABLE agent_log_seq (
		agent TEXT PRIMARY KEY,
		seq BIGINT NOT NULL
	)`,
}

var v11 = []string{
	`CREATE TABLE agent_packages (
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
	`CREATE TABLE agent_inventory (
		agent TEXT NOT NULL,
		section TEXT NOT NULL,
		item_key TEXT NOT NULL,
		item TEXT NOT NULL,
		PRIMARY KEY (agent, section, item_key)
	)`,
	`CREATE TABLE agent_inventory_state (
		agent TEXT PRIMARY KEY,
		digest TEXT NOT NULL,
		collected BIGINT NOT NULL,
		updated BIGINT NOT NULL
	)`,
	`CREATE TABLE agent_inventory_history (
		id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		agent TEXT NOT NULL,
		time BIGINT NOT NULL,
		section TEXT NOT NULL,
		change TEXT NOT NULL,
		item_key TEXT NOT NULL,
		item TEXT NOT NULL
	)`,
	`CREATE INDEX agent_inventory_history_agent ON agent_inventory_history(agent, id)`,
}

var v12 = []string{
	`CREATE TABLE vuln_assets (
		id TEXT PRIMARY KEY,
		kind TEXT NOT NULL,
		name TEXT NOT NULL,
		criticality TEXT NOT NULL,
		tags TEXT NOT NULL,
		created BIGINT NOT NULL,
		reconciled BIGINT NOT NULL,
		packages BIGINT NOT NULL
	)`,
	`CREATE TABLE vuln_findings (
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
		kev BIGINT NOT NULL,
		detail TEXT NOT NULL,
		first_seen BIGINT NOT NULL,
		last_seen BIGINT NOT NULL,
		due BIGINT NOT NULL,
		closed BIGINT NOT NULL,
		reason TEXT NOT NULL,
		accepted_until BIGINT NOT NULL,
		sla_alerted BIGINT NOT NULL,
		history_seq BIGINT NOT NULL,
		UNIQUE (asset, ecosystem, package, vuln_id)
	)`,
	`CREATE INDEX vuln_findings_state ON vuln_findings(state, due)`,
	`CREATE INDEX vuln_findings_priority ON vuln_findings(priority, due)`,
	`CREATE TABLE vuln_finding_history (
		finding TEXT NOT NULL,
		seq BIGINT NOT NULL,
		at BIGINT NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		from_state TEXT NOT NULL,
		to_state TEXT NOT NULL,
		reason TEXT NOT NULL,
		PRIMARY KEY (finding, seq)
	)`,
	`CREATE FUNCTION vuln_finding_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		RAISE EXCEPTION 'vuln_finding_history is append-only';
	END
	$$`,
	`CREATE TRIGGER vuln_finding_history_no_update BEFORE UPDATE ON vuln_finding_history FOR EACH ROW EXECUTE FUNCTION vuln_finding_history_append_only()`,
	`CREATE TRIGGER vuln_finding_history_no_delete BEFORE DELETE ON vuln_finding_history FOR EACH ROW EXECUTE FUNCTION vuln_finding_history_append_only()`,
	`CREATE TABLE vuln_acceptances (
		id TEXT PRIMARY KEY,
		finding TEXT NOT NULL,
		status TEXT NOT NULL,
		reason TEXT NOT NULL,
		expires BIGINT NOT NULL,
		requested_by TEXT NOT NULL,
		requested BIGINT NOT NULL,
		decided_by TEXT NOT NULL,
		decided BIGINT NOT NULL,
		decision_reason TEXT NOT NULL
	)`,
	`CREATE INDEX vuln_acceptances_finding ON vuln_acceptances(finding, status)`,
}
