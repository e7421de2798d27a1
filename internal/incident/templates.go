package incident

import (
	"context"
	"time"

	"github.com/vigilsec/vigil/internal/attack"
	"github.com/vigilsec/vigil/internal/ids"
)

// taskTemplates are the tasks an incident starts with, by ATT&CK tactic of
// the alert that opened it. They are the first moves a responder makes for
// that kind of attack.
var taskTemplates = map[string][]string{
	"credential-access": {
		"Identify every account the source tried and whether any login succeeded",
		"Reset credentials of affected accounts and revoke their sessions and keys",
		"Block or rate-limit the source at the perimeter",
	},
	"initial-access": {
		"Confirm whether the access was legitimate with the account owner",
		"Review what the session did after login (commands, files, connections)",
		"Isolate the host if the access was not legitimate",
	},
	"privilege-escalation": {
		"Review the commands run with elevated rights",
		"Check sudoers, group memberships and setuid files for changes",
	},
	"persistence": {
		"List new accounts, keys, services, scheduled tasks and startup items",
		"Remove the persistence once evidence is preserved",
	},
	"execution": {
		"Collect the command line, parent process and binary hash",
		"Check the binary and any downloaded content against threat intel",
	},
	"defense-evasion": {
		"Check for disabled logging, cleared logs or tampered security tools",
	},
	"reconnaissance": {
		"Check whether the scanning source also appears in other alerts",
	},
	"command-and-control": {
		"Identify the remote endpoints and block them",
		"Search for other hosts talking to the same endpoints",
	},
	"lateral-movement": {
		"Map the hosts reached from the source host",
	},
	"exfiltration": {
		"Estimate what data left and through which channel",
		"Assess notification duties (GDPR art. 33: 72 hours)",
	},
	"impact": {
		"Assess affected systems and data, start recovery from backups if needed",
	},
}

// TemplateTasks returns the template tasks for a set of rule tags.
func TemplateTasks(tags []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, tactic := range attack.Tactics(tags) {
		for _, task := range taskTemplates[tactic] {
			if !seen[task] {
				seen[task] = true
				out = append(out, task)
			}
		}
	}
	return out
}

func (m *Manager) addTemplateTasks(ctx context.Context, x execer, incID string, tags []string, now time.Time) error {
	for i, title := range TemplateTasks(tags) {
		_, err := x.ExecContext(ctx, `INSERT INTO incident_tasks (id, incident_id, title, created) VALUES (?, ?, ?, ?)`,
			ids.New(), incID, title, now.Add(time.Duration(i)).UnixNano())
		if err != nil {
			return err
		}
	}
	return nil
}
