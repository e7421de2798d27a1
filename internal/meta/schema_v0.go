package meta

// schemaV0 is the schema Vigil created before migrations (commit
// cc4d348), table by table as its packages created it. Every statement is
// idempotent, so migration 1 adopts a database that already has them.
var schemaV0 = []string{
	// users
	`CREATE TABLE IF NOT EXISTS users (
		id TEXT PRIMARY KEY,
		username TEXT NOT NULL UNIQUE,
		hash TEXT NOT NULL,
		role TEXT NOT NULL,
		created INTEGER NOT NULL,
		disabled INTEGER NOT NULL DEFAULT 0
		)`,
	// api_tokens
	`CREATE TABLE IF NOT EXISTS api_tokens (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		hash BLOB NOT NULL UNIQUE,
		role TEXT NOT NULL,
		tags TEXT NOT NULL DEFAULT '[]',
		created INTEGER NOT NULL,
		expires INTEGER NOT NULL DEFAULT 0,
		last_used INTEGER NOT NULL DEFAULT 0
		)`,
	// alerts
	`CREATE TABLE IF NOT EXISTS alerts (
		id TEXT PRIMARY KEY,
		rule_id TEXT NOT NULL,
		rule_title TEXT NOT NULL,
		level TEXT NOT NULL,
		level_rank INTEGER NOT NULL,
		tags TEXT NOT NULL,
		count INTEGER NOT NULL,
		first_seen INTEGER NOT NULL,
		last_seen INTEGER NOT NULL,
		entities TEXT NOT NULL,
		grp TEXT NOT NULL DEFAULT '{}',
		event TEXT NOT NULL,
		incident_id TEXT NOT NULL DEFAULT '',
		status TEXT NOT NULL DEFAULT 'open',
		dedup_key TEXT NOT NULL DEFAULT ''
		);
		CREATE INDEX IF NOT EXISTS alerts_last_seen ON alerts(last_seen);
		CREATE INDEX IF NOT EXISTS alerts_rule ON alerts(rule_id, last_seen);
		CREATE INDEX IF NOT EXISTS alerts_dedup ON alerts(dedup_key, last_seen);
		CREATE INDEX IF NOT EXISTS alerts_incident ON alerts(incident_id);
		CREATE TABLE IF NOT EXISTS suppressions (
		id TEXT PRIMARY KEY,
		rule_id TEXT NOT NULL,
		query TEXT NOT NULL,
		reason TEXT NOT NULL,
		author TEXT NOT NULL,
		created INTEGER NOT NULL,
		expires INTEGER NOT NULL DEFAULT 0,
		hits INTEGER NOT NULL DEFAULT 0,
		last_hit INTEGER NOT NULL DEFAULT 0
		);`,
	// incidents
	`CREATE TABLE IF NOT EXISTS incidents (
		id TEXT PRIMARY KEY,
		title TEXT NOT NULL,
		status TEXT NOT NULL,
		severity TEXT NOT NULL,
		assignee TEXT NOT NULL DEFAULT '',
		source TEXT NOT NULL,
		created INTEGER NOT NULL,
		updated INTEGER NOT NULL,
		acknowledged_at INTEGER NOT NULL DEFAULT 0,
		contained_at INTEGER NOT NULL DEFAULT 0,
		resolved_at INTEGER NOT NULL DEFAULT 0,
		entities TEXT NOT NULL DEFAULT '{}',
		tags TEXT NOT NULL DEFAULT '[]',
		summary TEXT NOT NULL DEFAULT '',
		root_cause TEXT NOT NULL DEFAULT '',
		impact TEXT NOT NULL DEFAULT '',
		lessons_learned TEXT NOT NULL DEFAULT ''
		);
		CREATE INDEX IF NOT EXISTS incidents_status ON incidents(status, updated);
		CREATE TABLE IF NOT EXISTS incident_entities (
		incident_id TEXT NOT NULL,
		kind TEXT NOT NULL,
		value TEXT NOT NULL,
		ioc INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (incident_id, kind, value)
		);
		CREATE INDEX IF NOT EXISTS incident_entities_value ON incident_entities(kind, value);
		CREATE TABLE IF NOT EXISTS incident_timeline (
		id TEXT PRIMARY KEY,
		incident_id TEXT NOT NULL,
		time INTEGER NOT NULL,
		kind TEXT NOT NULL,
		actor TEXT NOT NULL,
		text TEXT NOT NULL,
		data TEXT NOT NULL DEFAULT ''
		);
		CREATE INDEX IF NOT EXISTS incident_timeline_inc ON incident_timeline(incident_id, time);
		CREATE TABLE IF NOT EXISTS incident_actions (
		id TEXT PRIMARY KEY,
		incident_id TEXT NOT NULL,
		time INTEGER NOT NULL,
		name TEXT NOT NULL,
		target TEXT NOT NULL,
		status TEXT NOT NULL,
		result TEXT NOT NULL,
		actor TEXT NOT NULL,
		playbook TEXT NOT NULL DEFAULT ''
		);
		CREATE INDEX IF NOT EXISTS incident_actions_inc ON incident_actions(incident_id, time);
		CREATE TABLE IF NOT EXISTS incident_tasks (
		id TEXT PRIMARY KEY,
		incident_id TEXT NOT NULL,
		title TEXT NOT NULL,
		done INTEGER NOT NULL DEFAULT 0,
		assignee TEXT NOT NULL DEFAULT '',
		created INTEGER NOT NULL,
		done_at INTEGER NOT NULL DEFAULT 0
		);
		CREATE INDEX IF NOT EXISTS incident_tasks_inc ON incident_tasks(incident_id);
		CREATE TABLE IF NOT EXISTS entity_risk (
		kind TEXT NOT NULL,
		value TEXT NOT NULL,
		score REAL NOT NULL,
		updated INTEGER NOT NULL,
		over INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (kind, value)
		);`,
	// audit
	`CREATE TABLE IF NOT EXISTS audit_log (
		id TEXT PRIMARY KEY,
		time INTEGER NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		target TEXT NOT NULL,
		before TEXT NOT NULL DEFAULT '',
		after TEXT NOT NULL DEFAULT ''
		);
		CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log(time);
		CREATE INDEX IF NOT EXISTS audit_log_target ON audit_log(target, time);`,
	// response
	`CREATE TABLE IF NOT EXISTS response_blocks (
		ip TEXT PRIMARY KEY,
		until INTEGER NOT NULL,
		incident_id TEXT NOT NULL,
		playbook TEXT NOT NULL
		);
		CREATE TABLE IF NOT EXISTS response_pending (
		action_id TEXT PRIMARY KEY,
		incident_id TEXT NOT NULL,
		playbook TEXT NOT NULL,
		step INTEGER NOT NULL,
		trigger TEXT NOT NULL
		);`,
	// notify
	`CREATE TABLE IF NOT EXISTS notify_routes (
		id TEXT PRIMARY KEY,
		config TEXT NOT NULL,
		created INTEGER NOT NULL,
		updated INTEGER NOT NULL
		);
		CREATE TABLE IF NOT EXISTS notify_outbox (
		route_id TEXT NOT NULL,
		notification_id TEXT NOT NULL,
		kind TEXT NOT NULL,
		level TEXT NOT NULL,
		payload TEXT NOT NULL,
		state TEXT NOT NULL DEFAULT 'pending',
		mode TEXT NOT NULL DEFAULT 'single',
		digest_id TEXT NOT NULL DEFAULT '',
		attempts INTEGER NOT NULL DEFAULT 0,
		created INTEGER NOT NULL,
		next_attempt INTEGER NOT NULL,
		done INTEGER NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (route_id, notification_id)
		);
		CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox (route_id, state, next_attempt);
		CREATE INDEX IF NOT EXISTS notify_outbox_done ON notify_outbox (state, done);`,
	// console
	`CREATE TABLE IF NOT EXISTS console_sessions (
		id_hash BLOB PRIMARY KEY,
		username TEXT NOT NULL,
		csrf TEXT NOT NULL,
		created INTEGER NOT NULL,
		last_seen INTEGER NOT NULL
		);
		CREATE INDEX IF NOT EXISTS console_sessions_user ON console_sessions(username);
		CREATE TABLE IF NOT EXISTS console_disabled_rules (
		rule_id TEXT PRIMARY KEY,
		actor TEXT NOT NULL,
		at INTEGER NOT NULL
		);
		CREATE TABLE IF NOT EXISTS console_alert_triage (
		alert_id TEXT PRIMARY KEY,
		assignee TEXT NOT NULL DEFAULT '',
		acked_by TEXT NOT NULL DEFAULT '',
		acked_at INTEGER NOT NULL DEFAULT 0
		);`,
	// console_index
	`CREATE INDEX IF NOT EXISTS console_alerts_status ON alerts(status, last_seen)`,
}
