-- The metadata schema (meta.db) exactly as Vigil created it at commit
-- cc4d348, the last version before numbered migrations: the upgrade test
-- (upgrade_test.go) builds an old data directory from it. Made once, from
-- that version's own binary, and never edited:
--
--   git archive cc4d348 | tar -x -C /tmp/v0 && (cd /tmp/v0 && go build -o /tmp/vigil-v0 ./cmd/vigil)
--   /tmp/vigil-v0 serve --data /tmp/v0data --http 127.0.0.1:18931 --syslog-tcp 127.0.0.1:18932 \
--       --syslog-udp 127.0.0.1:18933 --bootstrap-token v0-bootstrap-token-0123456789   # until /readyz, then SIGTERM
--   sqlite3 /tmp/v0data/meta.db .schema > test/e2e/testdata/meta_v0.sql   # then this header
--
-- internal/meta's schemaV0 (migration 1) creates the same tables and
-- indexes, up to whitespace.

CREATE TABLE api_tokens (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		hash BLOB NOT NULL UNIQUE,
		role TEXT NOT NULL,
		tags TEXT NOT NULL DEFAULT '[]',
		created INTEGER NOT NULL,
		expires INTEGER NOT NULL DEFAULT 0,
		last_used INTEGER NOT NULL DEFAULT 0
	);
CREATE TABLE users (
		id TEXT PRIMARY KEY,
		username TEXT NOT NULL UNIQUE,
		hash TEXT NOT NULL,
		role TEXT NOT NULL,
		created INTEGER NOT NULL,
		disabled INTEGER NOT NULL DEFAULT 0
	);
CREATE TABLE alerts (
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
CREATE INDEX alerts_last_seen ON alerts(last_seen);
CREATE INDEX alerts_rule ON alerts(rule_id, last_seen);
CREATE INDEX alerts_dedup ON alerts(dedup_key, last_seen);
CREATE INDEX alerts_incident ON alerts(incident_id);
CREATE TABLE suppressions (
		id TEXT PRIMARY KEY,
		rule_id TEXT NOT NULL,
		query TEXT NOT NULL,
		reason TEXT NOT NULL,
		author TEXT NOT NULL,
		created INTEGER NOT NULL,
		expires INTEGER NOT NULL DEFAULT 0,
		hits INTEGER NOT NULL DEFAULT 0,
		last_hit INTEGER NOT NULL DEFAULT 0
	);
CREATE TABLE incidents (
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
CREATE INDEX incidents_status ON incidents(status, updated);
CREATE TABLE incident_entities (
		incident_id TEXT NOT NULL,
		kind TEXT NOT NULL,
		value TEXT NOT NULL,
		ioc INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (incident_id, kind, value)
	);
CREATE INDEX incident_entities_value ON incident_entities(kind, value);
CREATE TABLE incident_timeline (
		id TEXT PRIMARY KEY,
		incident_id TEXT NOT NULL,
		time INTEGER NOT NULL,
		kind TEXT NOT NULL,
		actor TEXT NOT NULL,
		text TEXT NOT NULL,
		data TEXT NOT NULL DEFAULT ''
	);
CREATE INDEX incident_timeline_inc ON incident_timeline(incident_id, time);
CREATE TABLE incident_actions (
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
CREATE INDEX incident_actions_inc ON incident_actions(incident_id, time);
CREATE TABLE incident_tasks (
		id TEXT PRIMARY KEY,
		incident_id TEXT NOT NULL,
		title TEXT NOT NULL,
		done INTEGER NOT NULL DEFAULT 0,
		assignee TEXT NOT NULL DEFAULT '',
		created INTEGER NOT NULL,
		done_at INTEGER NOT NULL DEFAULT 0
	);
CREATE INDEX incident_tasks_inc ON incident_tasks(incident_id);
CREATE TABLE entity_risk (
		kind TEXT NOT NULL,
		value TEXT NOT NULL,
		score REAL NOT NULL,
		updated INTEGER NOT NULL,
		over INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (kind, value)
	);
CREATE TABLE audit_log (
		id TEXT PRIMARY KEY,
		time INTEGER NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		target TEXT NOT NULL,
		before TEXT NOT NULL DEFAULT '',
		after TEXT NOT NULL DEFAULT ''
	);
CREATE INDEX audit_log_time ON audit_log(time);
CREATE INDEX audit_log_target ON audit_log(target, time);
CREATE TABLE notify_routes (
	id TEXT PRIMARY KEY,
	config TEXT NOT NULL,
	created INTEGER NOT NULL,
	updated INTEGER NOT NULL
);
CREATE TABLE notify_outbox (
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
CREATE INDEX notify_outbox_due ON notify_outbox (route_id, state, next_attempt);
CREATE INDEX notify_outbox_done ON notify_outbox (state, done);
CREATE TABLE response_blocks (
		ip TEXT PRIMARY KEY,
		until INTEGER NOT NULL,
		incident_id TEXT NOT NULL,
		playbook TEXT NOT NULL
	);
CREATE TABLE response_pending (
		action_id TEXT PRIMARY KEY,
		incident_id TEXT NOT NULL,
		playbook TEXT NOT NULL,
		step INTEGER NOT NULL,
		trigger TEXT NOT NULL
	);
CREATE TABLE console_sessions (
	id_hash BLOB PRIMARY KEY,
	username TEXT NOT NULL,
	csrf TEXT NOT NULL,
	created INTEGER NOT NULL,
	last_seen INTEGER NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions(username);
CREATE TABLE console_disabled_rules (
	rule_id TEXT PRIMARY KEY,
	actor TEXT NOT NULL,
	at INTEGER NOT NULL
);
CREATE TABLE console_alert_triage (
	alert_id TEXT PRIMARY KEY,
	assignee TEXT NOT NULL DEFAULT '',
	acked_by TEXT NOT NULL DEFAULT '',
	acked_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX console_alerts_status ON alerts(status, last_seen);
