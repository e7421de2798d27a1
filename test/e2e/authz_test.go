package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// The authorization matrix: every endpoint the server registers, called by
// each kind of caller, must answer exactly the status the role model says.
// The same table is checked against docs/openapi.yaml, so the document and
// the server cannot drift apart without this test failing.

// Roles an operation can require: the least powerful role that may call
// it. They are the x-vigil-role values of docs/openapi.yaml.
const (
	needNone    = "none"    // no credentials at all
	needViewer  = "viewer"  // auth.PermRead: viewer, analyst, admin
	needAnalyst = "analyst" // auth.PermWrite: analyst, admin
	needAdmin   = "admin"   // auth.PermAdmin: admin only
	needIngest  = "ingest"  // auth.PermIngest: ingest, analyst, admin
)

// callers are who the matrix calls each endpoint as: no credentials, an
// expired (admin) token, a revoked (admin) token that was in use, and a
// live token of each role.
var callers = []string{"none", "expired", "revoked", "viewer", "analyst", "admin", "ingest"}

// allowed says which live roles satisfy each requirement. It is written out
// here rather than taken from internal/auth, so that a change to the role
// model shows up as a failing test instead of silently passing.
var allowed = map[string][]string{
	needViewer:  {"viewer", "analyst", "admin"},
	needAnalyst: {"analyst", "admin"},
	needAdmin:   {"admin"},
	needIngest:  {"ingest", "analyst", "admin"},
}

// permOf is the x-vigil-permission of each x-vigil-role: the auth.Perm*
// the server checks.
var permOf = map[string]string{needNone: "", needViewer: "read", needAnalyst: "write", needAdmin: "admin", needIngest: "ingest"}

// wantStatus is the status caller must get from e.
func wantStatus(e endpoint, caller string) int {
	switch {
	case e.role == needNone:
		return e.ok
	case caller == "none" || caller == "expired" || caller == "revoked":
		return http.StatusUnauthorized
	case slices.Contains(allowed[e.role], caller):
		return e.ok
	}
	return http.StatusForbidden
}

// authForm is how a client presents its token.
type authForm int

const (
	authBearer authForm = iota // Authorization: Bearer T
	authSplunk                 // Authorization: Splunk T (HEC clients)
	authBasic                  // Authorization: Basic base64(user:T) (Beats, Logstash)
	authAPIKey                 // Authorization: ApiKey base64(id:T) (Elasticsearch API keys)
)

func setAuth(h http.Header, form authForm, token string) {
	if token == "" {
		return
	}
	switch form {
	case authSplunk:
		h.Set("Authorization", "Splunk "+token)
	case authBasic:
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("elastic:"+token)))
	case authAPIKey:
		h.Set("Authorization", "ApiKey "+base64.StdEncoding.EncodeToString([]byte("vigil-e2e:"+token)))
	default:
		h.Set("Authorization", "Bearer "+token)
	}
}

// call is one concrete request built for a caller.
type call struct {
	path  string // with the path parameters filled in, and any query
	body  string
	ctype string // Content-Type; application/json when body is set and this is empty
}

// endpoint is one registered route.
type endpoint struct {
	method string
	path   string // as in docs/openapi.yaml
	role   string // needNone ... needIngest
	ok     int    // the status an authorised caller gets
	auth   authForm
	// prep builds a valid request for caller (objects the call consumes
	// are made fresh for every caller). nil means path as it is, no body.
	prep func(t *testing.T, f *authzFixture, caller string) call
}

func static(path, body string) func(*testing.T, *authzFixture, string) call {
	return func(*testing.T, *authzFixture, string) call { return call{path: path, body: body} }
}

func jsonBody(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

const (
	authzPlaybook = "e2e-approval"
	authzRuleID   = "ad2306a2-0c47-419b-882e-77491986837f" // built-in "SSH authentication failure"
	// authzStateRuleID is disabled and enabled by the matrix: a rule the
	// fixture's events do not match.
	authzStateRuleID = "a940e08e-815a-43b7-8919-58c9bf0105b9" // built-in "Local user account created"
	authzAlertIPv4   = "198.51.100.%d"
)

// authzEndpoints is every route of the server, as registered by
// internal/api, internal/notify and internal/ingest/httpin.
func authzEndpoints() []endpoint {
	esKinds := []string{"_index_template", "_template", "_component_template", "_ilm/policy", "_ingest/pipeline", "_data_stream"}
	eps := []endpoint{
		// Health.
		{method: "GET", path: "/healthz", role: needNone, ok: 200},
		{method: "GET", path: "/readyz", role: needNone, ok: 200},
		{method: "GET", path: "/metrics", role: needViewer, ok: 200},

		// Search and status.
		{method: "GET", path: "/api/v1/search", role: needViewer, ok: 200, prep: static("/api/v1/search?q=authz&from=-1h&limit=5", "")},
		{method: "GET", path: "/api/v1/status", role: needViewer, ok: 200},

		// Alerts.
		{method: "GET", path: "/api/v1/alerts", role: needViewer, ok: 200, prep: static("/api/v1/alerts?since=24h&limit=10&min_level=informational", "")},
		{method: "GET", path: "/api/v1/alerts/{id}", role: needViewer, ok: 200, prep: func(t *testing.T, f *authzFixture, _ string) call {
			return call{path: "/api/v1/alerts/" + f.alerts[2]}
		}},
		{method: "GET", path: "/api/v1/alerts/{id}/members", role: needViewer, ok: 200, prep: func(t *testing.T, f *authzFixture, _ string) call {
			return call{path: "/api/v1/alerts/" + f.alerts[2] + "/members?limit=10"}
		}},
		// Triage: each caller assigns the alert to itself, so that every
		// allowed call is a change with its own audit entry.
		{method: "PATCH", path: "/api/v1/alerts/{id}", role: needAnalyst, ok: 200, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/alerts/" + f.alerts[2], body: jsonBody(map[string]any{"assignee": "assigned-by-" + caller})}
		}},
		{method: "POST", path: "/api/v1/alerts/{id}/ack", role: needAnalyst, ok: 200, prep: func(t *testing.T, f *authzFixture, _ string) call {
			return call{path: "/api/v1/alerts/" + f.alerts[2] + "/ack"}
		}},

		// Incidents.
		{method: "GET", path: "/api/v1/incidents", role: needViewer, ok: 200, prep: static("/api/v1/incidents?limit=10", "")},
		{method: "POST", path: "/api/v1/incidents", role: needAnalyst, ok: 201, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/incidents", body: jsonBody(map[string]any{"title": "opened by " + caller, "severity": "low"})}
		}},
		{method: "GET", path: "/api/v1/incidents/metrics", role: needViewer, ok: 200, prep: static("/api/v1/incidents/metrics?since=30d", "")},
		{method: "GET", path: "/api/v1/incidents/{id}", role: needViewer, ok: 200, prep: func(t *testing.T, f *authzFixture, _ string) call {
			return call{path: "/api/v1/incidents/" + f.incident}
		}},
		{method: "PATCH", path: "/api/v1/incidents/{id}", role: needAnalyst, ok: 200, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/incidents/" + f.incident, body: jsonBody(map[string]any{"status": "investigating", "assignee": caller})}
		}},
		{method: "POST", path: "/api/v1/incidents/{id}/comments", role: needAnalyst, ok: 201, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/incidents/" + f.incident + "/comments", body: jsonBody(map[string]any{"text": "comment by " + caller})}
		}},
		{method: "POST", path: "/api/v1/incidents/{id}/tasks", role: needAnalyst, ok: 201, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/incidents/" + f.incident + "/tasks", body: jsonBody(map[string]any{"title": "task by " + caller, "assignee": "alice"})}
		}},
		{method: "PATCH", path: "/api/v1/incidents/{id}/tasks/{task}", role: needAnalyst, ok: 200, prep: func(t *testing.T, f *authzFixture, _ string) call {
			return call{path: "/api/v1/incidents/" + f.incident + "/tasks/" + f.task, body: `{"done":true}`}
		}},
		{method: "POST", path: "/api/v1/incidents/{id}/observables", role: needAnalyst, ok: 200, prep: func(t *testing.T, f *authzFixture, _ string) call {
			return call{path: "/api/v1/incidents/" + f.incident + "/observables", body: jsonBody(map[string]any{"kind": f.obsKind, "value": f.obsValue, "ioc": true})}
		}},
		{method: "POST", path: "/api/v1/incidents/{id}/merge", role: needAnalyst, ok: 200, prep: func(t *testing.T, f *authzFixture, caller string) call {
			into, from := f.newIncident(t, "merge target for "+caller), f.newIncident(t, "merged into another for "+caller)
			return call{path: "/api/v1/incidents/" + into + "/merge", body: jsonBody(map[string]any{"incidents": []string{from}})}
		}},
		{method: "POST", path: "/api/v1/incidents/{id}/split", role: needAnalyst, ok: 201, prep: func(t *testing.T, f *authzFixture, caller string) call {
			// A fresh incident holding the split alert (creating it moves
			// the alert over from wherever an earlier case left it).
			id := f.newIncident(t, "split source for "+caller, f.alerts[1])
			return call{path: "/api/v1/incidents/" + id + "/split", body: jsonBody(map[string]any{"alerts": []string{f.alerts[1]}, "title": "split by " + caller})}
		}},
		{method: "GET", path: "/api/v1/incidents/{id}/report", role: needViewer, ok: 200, prep: func(t *testing.T, f *authzFixture, _ string) call {
			return call{path: "/api/v1/incidents/" + f.incident + "/report?format=html"}
		}},
		{method: "GET", path: "/api/v1/risk", role: needViewer, ok: 200},
		{method: "GET", path: "/api/v1/intel", role: needViewer, ok: 200},

		// Suppressions.
		{method: "GET", path: "/api/v1/suppressions", role: needViewer, ok: 200},
		{method: "POST", path: "/api/v1/suppressions", role: needAnalyst, ok: 201, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/suppressions", body: suppressionBody("created by " + caller)}
		}},
		{method: "DELETE", path: "/api/v1/suppressions/{id}", role: needAnalyst, ok: 204, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/suppressions/" + f.newSuppression(t, caller)}
		}},

		// Playbooks and response actions.
		{method: "GET", path: "/api/v1/playbooks", role: needViewer, ok: 200},
		{method: "POST", path: "/api/v1/playbooks/reload", role: needAdmin, ok: 200},
		{method: "POST", path: "/api/v1/incidents/{id}/playbooks/{name}", role: needAnalyst, ok: 202, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/incidents/" + f.newIncident(t, "playbook run by "+caller) + "/playbooks/" + authzPlaybook}
		}},
		{method: "POST", path: "/api/v1/incidents/{id}/actions", role: needAnalyst, ok: 201, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/incidents/" + f.incident + "/actions", body: jsonBody(map[string]any{"name": "comment", "with": map[string]string{"text": "manual action by " + caller}})}
		}},
		{method: "POST", path: "/api/v1/incidents/{id}/actions/{action}/approve", role: needAnalyst, ok: 200, prep: func(t *testing.T, f *authzFixture, caller string) call {
			inc, act := f.pendingApproval(t, caller)
			return call{path: "/api/v1/incidents/" + inc + "/actions/" + act + "/approve"}
		}},
		{method: "POST", path: "/api/v1/incidents/{id}/actions/{action}/reject", role: needAnalyst, ok: 200, prep: func(t *testing.T, f *authzFixture, caller string) call {
			inc, act := f.pendingApproval(t, caller)
			return call{path: "/api/v1/incidents/" + inc + "/actions/" + act + "/reject"}
		}},

		// Audit and rules.
		{method: "GET", path: "/api/v1/audit", role: needAdmin, ok: 200, prep: static("/api/v1/audit?since=24h&limit=5", "")},
		{method: "GET", path: "/api/v1/audit/verify", role: needAdmin, ok: 200},
		{method: "GET", path: "/api/v1/rules", role: needViewer, ok: 200},
		{method: "POST", path: "/api/v1/rules/reload", role: needAnalyst, ok: 200},
		// The rule is put in the other state first, so that every allowed
		// call changes it (and is audited).
		{method: "POST", path: "/api/v1/rules/{id}/disable", role: needAnalyst, ok: 200, prep: func(t *testing.T, f *authzFixture, _ string) call {
			f.admin(t, "POST", "/api/v1/rules/"+authzStateRuleID+"/enable", nil, nil, 200)
			return call{path: "/api/v1/rules/" + authzStateRuleID + "/disable"}
		}},
		{method: "POST", path: "/api/v1/rules/{id}/enable", role: needAnalyst, ok: 200, prep: func(t *testing.T, f *authzFixture, _ string) call {
			f.admin(t, "POST", "/api/v1/rules/"+authzStateRuleID+"/disable", nil, nil, 200)
			return call{path: "/api/v1/rules/" + authzStateRuleID + "/enable"}
		}},

		// Users and tokens.
		{method: "GET", path: "/api/v1/users", role: needAdmin, ok: 200},
		{method: "POST", path: "/api/v1/users", role: needAdmin, ok: 201, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/users", body: jsonBody(map[string]any{"username": "user-by-" + caller, "password": "correct horse battery staple", "role": "viewer"})}
		}},
		// Each caller disables a user of its own, so that every allowed
		// call is a change with its own audit entry.
		{method: "PATCH", path: "/api/v1/users/{username}", role: needAdmin, ok: 200, prep: func(t *testing.T, f *authzFixture, caller string) call {
			name := f.unique("patched-by-" + caller)
			f.admin(t, "POST", "/api/v1/users", map[string]any{"username": name, "password": "correct horse battery staple", "role": "viewer"}, nil, 201)
			return call{path: "/api/v1/users/" + name, body: `{"disabled":true}`}
		}},
		{method: "GET", path: "/api/v1/tokens", role: needAdmin, ok: 200},
		{method: "POST", path: "/api/v1/tokens", role: needAdmin, ok: 201, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/tokens", body: jsonBody(map[string]any{"name": "token-by-" + caller, "role": "viewer", "expires": "30d", "tags": []string{"authz"}})}
		}},
		{method: "DELETE", path: "/api/v1/tokens/{id}", role: needAdmin, ok: 204, prep: func(t *testing.T, f *authzFixture, caller string) call {
			id, _ := f.newToken(t, "doomed-for-"+caller, "viewer", "")
			return call{path: "/api/v1/tokens/" + id}
		}},

		// Host agents (agent_test.go builds the enrollments).
		{method: "GET", path: "/api/v1/agents", role: needViewer, ok: 200},
		{method: "GET", path: "/api/v1/agents/enrollment-tokens", role: needAdmin, ok: 200},
		{method: "POST", path: "/api/v1/agents/enrollment-tokens", role: needAdmin, ok: 201, prep: static("/api/v1/agents/enrollment-tokens", `{"name":"authz","expires_in":"1h","max_uses":2}`)},
		{method: "POST", path: "/api/v1/agents/enroll", role: needNone, ok: 200, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/agents/enroll", body: authzEnrollBody(t, f, caller)}
		}},
		{method: "POST", path: "/api/v1/agents/{id}/revoke", role: needAdmin, ok: 204, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/agents/" + authzAgent(t, f, caller) + "/revoke"}
		}},
		{method: "GET", path: "/api/v1/agents/{id}/packages", role: needViewer, ok: 200, prep: func(t *testing.T, f *authzFixture, _ string) call {
			return call{path: "/api/v1/agents/" + authzInventoryAgent(t, f) + "/packages"}
		}},
		{method: "GET", path: "/api/v1/agents/{id}/inventory", role: needViewer, ok: 200, prep: func(t *testing.T, f *authzFixture, _ string) call {
			return call{path: "/api/v1/agents/" + authzInventoryAgent(t, f) + "/inventory"}
		}},
		{method: "GET", path: "/api/v1/agents/{id}/inventory/history", role: needViewer, ok: 200, prep: func(t *testing.T, f *authzFixture, _ string) call {
			return call{path: "/api/v1/agents/" + authzInventoryAgent(t, f) + "/inventory/history?limit=5"}
		}},

		// Vulnerability findings (vuln_test.go builds them).
		{method: "GET", path: "/api/v1/vulnerabilities/findings", role: needViewer, ok: 200, prep: static("/api/v1/vulnerabilities/findings?limit=5&state=new,open", "")},
		{method: "GET", path: "/api/v1/vulnerabilities/findings.csv", role: needViewer, ok: 200},
		{method: "GET", path: "/api/v1/vulnerabilities/findings/{id}", role: needViewer, ok: 200, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/vulnerabilities/findings/" + authzVulnFinding(t, f, caller)}
		}},
		{method: "POST", path: "/api/v1/vulnerabilities/findings/{id}/state", role: needAnalyst, ok: 200, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/vulnerabilities/findings/" + authzVulnFinding(t, f, caller) + "/state", body: `{"state":"false_positive","reason":"authz"}`}
		}},
		{method: "POST", path: "/api/v1/vulnerabilities/findings/{id}/accept", role: needAnalyst, ok: 201, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/vulnerabilities/findings/" + authzVulnFinding(t, f, caller) + "/accept", body: `{"reason":"authz","expires_in":"30d"}`}
		}},
		{method: "POST", path: "/api/v1/vulnerabilities/findings/{id}/accept/approve", role: needAdmin, ok: 200, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/vulnerabilities/findings/" + authzPendingAcceptance(t, f, caller) + "/accept/approve"}
		}},
		{method: "POST", path: "/api/v1/vulnerabilities/findings/{id}/accept/reject", role: needAdmin, ok: 200, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/vulnerabilities/findings/" + authzPendingAcceptance(t, f, caller) + "/accept/reject", body: `{"reason":"no"}`}
		}},
		{method: "GET", path: "/api/v1/vulnerabilities/summary", role: needViewer, ok: 200},
		{method: "GET", path: "/api/v1/vulnerabilities/assets", role: needViewer, ok: 200, prep: static("/api/v1/vulnerabilities/assets?limit=5", "")},
		{method: "POST", path: "/api/v1/vulnerabilities/scans", role: needAnalyst, ok: 200, prep: func(t *testing.T, f *authzFixture, caller string) call {
			if _, err := os.Stat(filepath.Join(f.s.data, "vulndb", "vulndb.sqlite")); err != nil {
				vulnImport(t, f.s.data, authzOSV)
			}
			return call{path: "/api/v1/vulnerabilities/scans", body: jsonBody(authzUpload(f.unique("authz-scan-" + caller)))}
		}},

		// Console sessions: each caller ends a session of its own.
		{method: "GET", path: "/api/v1/sessions", role: needAdmin, ok: 200},
		{method: "DELETE", path: "/api/v1/sessions/{id}", role: needAdmin, ok: 204, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/sessions/" + f.newSession(t, caller)}
		}},

		// Sign-in locks.
		{method: "GET", path: "/api/v1/login/locks", role: needAdmin, ok: 200},
		{method: "POST", path: "/api/v1/login/unlock", role: needAdmin, ok: 200, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/login/unlock", body: jsonBody(map[string]any{"user": "unlocked-by-" + caller})}
		}},

		// Notification routes.
		{method: "GET", path: "/api/v1/routes", role: needViewer, ok: 200},
		{method: "POST", path: "/api/v1/routes", role: needAdmin, ok: 201, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/routes", body: f.routeBody("route-by-" + caller)}
		}},
		{method: "GET", path: "/api/v1/routes/{id}", role: needViewer, ok: 200, prep: func(t *testing.T, f *authzFixture, _ string) call {
			return call{path: "/api/v1/routes/" + f.route}
		}},
		{method: "PATCH", path: "/api/v1/routes/{id}", role: needAdmin, ok: 200, prep: func(t *testing.T, f *authzFixture, _ string) call {
			return call{path: "/api/v1/routes/" + f.route, body: `{"min_level":"high","rate_limit":30}`}
		}},
		{method: "DELETE", path: "/api/v1/routes/{id}", role: needAdmin, ok: 204, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/routes/" + f.newRoute(t, "doomed-route-for-"+caller)}
		}},
		{method: "POST", path: "/api/v1/routes/{id}/test", role: needAdmin, ok: 200, prep: func(t *testing.T, f *authzFixture, _ string) call {
			return call{path: "/api/v1/routes/" + f.route + "/test"}
		}},

		// Ingest: native, Splunk HEC, Elasticsearch bulk, OTLP.
		{method: "POST", path: "/api/v1/ingest", role: needIngest, ok: 200, prep: func(t *testing.T, f *authzFixture, caller string) call {
			return call{path: "/api/v1/ingest", body: `{"message":"authz native","caller":"` + caller + `"}` + "\n" + `{"message":"authz native 2","caller":"` + caller + `"}`, ctype: "application/x-ndjson"}
		}},
		{method: "GET", path: "/services/collector/health", role: needNone, ok: 200},
		{method: "GET", path: "/services/collector/health/1.0", role: needNone, ok: 200},
		{method: "POST", path: "/v1/logs", role: needIngest, ok: 200, prep: static("/v1/logs",
			`{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"authz"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","severityText":"INFO","body":{"stringValue":"authz otlp"}}]}]}]}`)},
		{method: "POST", path: "/_bulk", role: needIngest, ok: 200, auth: authBasic, prep: static("/_bulk",
			`{"index":{"_index":"logs-authz"}}`+"\n"+`{"message":"authz bulk"}`+"\n")},
		{method: "PUT", path: "/_bulk", role: needIngest, ok: 200, auth: authAPIKey, prep: static("/_bulk",
			`{"create":{"_index":"logs-authz"}}`+"\n"+`{"message":"authz bulk put"}`+"\n")},
		{method: "POST", path: "/{index}/_bulk", role: needIngest, ok: 200, auth: authBasic, prep: static("/logs-authz/_bulk",
			`{"index":{}}`+"\n"+`{"message":"authz bulk index"}`+"\n")},
		{method: "GET", path: "/", role: needIngest, ok: 200, auth: authBasic},
		{method: "HEAD", path: "/", role: needIngest, ok: 200, auth: authBasic},
		{method: "GET", path: "/_license", role: needIngest, ok: 200, auth: authBasic},
		{method: "GET", path: "/_xpack", role: needIngest, ok: 200, auth: authAPIKey},
		{method: "GET", path: "/_cluster/health", role: needIngest, ok: 200, auth: authBearer},
	}
	for _, p := range []string{"/services/collector", "/services/collector/event", "/services/collector/event/1.0"} {
		eps = append(eps, endpoint{method: "POST", path: p, role: needIngest, ok: 200, auth: authSplunk, prep: static(p+"?sourcetype=authz",
			`{"event":{"message":"authz hec"},"host":"h1"}{"event":"authz hec line","time":1700000000.5}`)})
	}
	for _, p := range []string{"/services/collector/raw", "/services/collector/raw/1.0"} {
		eps = append(eps, endpoint{method: "POST", path: p, role: needIngest, ok: 200, auth: authSplunk, prep: func(*testing.T, *authzFixture, string) call {
			return call{path: p + "?sourcetype=authz&host=h2", body: "authz raw line one\nauthz raw line two\n", ctype: "text/plain"}
		}})
	}
	for _, k := range esKinds {
		p := "/" + k + "/{name}"
		concrete := "/" + k + "/vigil-authz"
		eps = append(eps,
			endpoint{method: "GET", path: p, role: needIngest, ok: 200, auth: authBasic, prep: static(concrete, "")},
			endpoint{method: "HEAD", path: p, role: needIngest, ok: 200, auth: authBasic, prep: static(concrete, "")},
			endpoint{method: "PUT", path: p, role: needIngest, ok: 200, auth: authBasic, prep: static(concrete, `{"index_patterns":["vigil-authz-*"]}`)},
		)
	}
	return eps
}

// authzFixture holds the server and the objects the matrix works on.
type authzFixture struct {
	s      *server
	client *http.Client
	tokens map[string]string // caller → secret ("none": "")
	hook   string            // webhook receiver URL for routes
	n      int               // for unique names

	alerts   []string // three alerts: [0] in incident, [1] split around, [2] read
	incident string   // shared incident (holds alerts[0])
	task     string   // a task of incident
	obsKind  string   // an observable of incident
	obsValue string
	route    string // shared route
}

// do sends one request and returns the status and body.
func (f *authzFixture) do(t *testing.T, method, path string, form authForm, token, body, ctype string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+f.s.http+path, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if body != "" {
		if ctype == "" {
			ctype = "application/json"
		}
		req.Header.Set("Content-Type", ctype)
	}
	setAuth(req.Header, form, token)
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b
}

// admin sends in as JSON with the bootstrap admin token, wants status
// want, and decodes the answer into out (if not nil).
func (f *authzFixture) admin(t *testing.T, method, path string, in, out any, want int) {
	t.Helper()
	body := ""
	if in != nil {
		body = jsonBody(in)
	}
	got, b := f.do(t, method, path, authBearer, testToken, body, "")
	if got != want {
		t.Fatalf("setup: %s %s: got HTTP %d, want %d: %s", method, path, got, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("setup: %s %s: %v: %s", method, path, err, b)
		}
	}
}

func (f *authzFixture) unique(prefix string) string {
	f.n++
	return fmt.Sprintf("%s-%d", prefix, f.n)
}

func (f *authzFixture) newToken(t *testing.T, name, role, expires string) (id, secret string) {
	t.Helper()
	var out struct{ ID, Token string }
	in := map[string]any{"name": f.unique(name), "role": role}
	if expires != "" {
		in["expires"] = expires
	}
	f.admin(t, "POST", "/api/v1/tokens", in, &out, 201)
	if out.ID == "" || !strings.HasPrefix(out.Token, "vgl_") {
		t.Fatalf("setup: token %+v: want an id and a vgl_ secret", out)
	}
	return out.ID, out.Token
}

func (f *authzFixture) newIncident(t *testing.T, title string, alerts ...string) string {
	t.Helper()
	var out struct{ ID string }
	f.admin(t, "POST", "/api/v1/incidents", map[string]any{"title": title, "severity": "medium", "alerts": alerts}, &out, 201)
	return out.ID
}

func suppressionBody(reason string) string {
	return jsonBody(map[string]any{"rule_id": authzRuleID, "query": "source.ip:192.0.2.0/24 AND user.name:nobody",
		"reason": reason, "expires": "1h"})
}

func (f *authzFixture) newSuppression(t *testing.T, caller string) string {
	t.Helper()
	var out struct{ ID string }
	body := suppressionBody("to be deleted by " + caller)
	got, b := f.do(t, "POST", "/api/v1/suppressions", authBearer, testToken, body, "")
	if got != 201 || json.Unmarshal(b, &out) != nil || out.ID == "" {
		t.Fatalf("setup: POST /api/v1/suppressions: got HTTP %d, want 201 with an id: %s", got, b)
	}
	return out.ID
}

func (f *authzFixture) routeBody(name string) string {
	return jsonBody(map[string]any{"name": f.unique(name), "type": "webhook", "url": f.hook, "secret": "authz-secret", "min_level": "critical"})
}

func (f *authzFixture) newRoute(t *testing.T, name string) string {
	t.Helper()
	var out struct{ ID string }
	got, b := f.do(t, "POST", "/api/v1/routes", authBearer, testToken, f.routeBody(name), "")
	if got != 201 || json.Unmarshal(b, &out) != nil || out.ID == "" {
		t.Fatalf("setup: POST /api/v1/routes: got HTTP %d, want 201 with an id: %s", got, b)
	}
	return out.ID
}

type authzIncident struct {
	ID      string
	Actions []struct{ ID, Name, Status string }
	Tasks   []struct{ ID string }
	// Observables are the incident's entities.
	Observables []struct{ Kind, Value string }
}

// pendingApproval runs the approval playbook on a fresh incident and
// returns the incident and the action waiting for a decision.
func (f *authzFixture) pendingApproval(t *testing.T, caller string) (inc, action string) {
	t.Helper()
	inc = f.newIncident(t, "approval for "+caller)
	f.admin(t, "POST", "/api/v1/incidents/"+inc+"/playbooks/"+authzPlaybook, nil, nil, 202)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got authzIncident
		f.admin(t, "GET", "/api/v1/incidents/"+inc, nil, &got, 200)
		for _, a := range got.Actions {
			if a.Status == "pending_approval" {
				return inc, a.ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("setup: playbook %s on incident %s: no pending approval after 10s (actions %+v)", authzPlaybook, inc, got.Actions)
		}
		time.Sleep(50 * time.Millisecond) // polling the vigil serve process: its runner works in the background
	}
}

// authzPlaybookYAML pauses for approval, then comments: an approval that
// changes nothing outside Vigil.
const authzPlaybookYAML = `name: ` + authzPlaybook + `
description: Wait for a person, then note the decision.
trigger:
  on: manual
steps:
  - name: confirm
    action: approval
  - name: note
    action: comment
    with:
      text: "Approved in the authorization test ({{.Incident}})."
`

// newAuthzFixture starts the server, makes a token per role and the
// objects the endpoints work on.
func newAuthzFixture(t *testing.T) *authzFixture {
	t.Helper()
	data := t.TempDir()
	if err := os.MkdirAll(filepath.Join(data, "playbooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "playbooks", "e2e.yml"), []byte(authzPlaybookYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	// The fixture's alerts come from single failed logins, which the
	// informational rule reports; let those raise alerts here.
	cfg := filepath.Join(data, "vigil.yml")
	// The webhook receiver of routes is on loopback, which the egress
	// policy refuses unless an admin allows it: allowed the documented way.
	if err := os.WriteFile(cfg, []byte("alerts:\n  min_level: informational\negress:\n  allow: [127.0.0.1/32]\nagents:\n  listen: 127.0.0.1:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &authzFixture{
		s:      startServer(t, serverOpts{data: data, extra: []string{"--config", cfg}}),
		client: &http.Client{Timeout: 30 * time.Second},
		tokens: map[string]string{"none": ""},
		hook:   hook.URL,
	}

	// The expired token first, so it has expired by the time the rest is
	// ready.
	_, expired := f.newToken(t, "authz-expired", "admin", "1s")
	for _, role := range []string{"viewer", "analyst", "admin", "ingest"} {
		_, f.tokens[role] = f.newToken(t, "authz-"+role, role, "")
	}

	// Three alerts: one failed SSH login from each of three addresses, over
	// syslog TCP.
	conn, err := net.Dial("tcp", f.s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	now := time.Now().UTC()
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&buf, "<38>%s bastion sshd[%d]: Failed password for root from "+authzAlertIPv4+" port %d ssh2\n",
			now.Add(-time.Duration(10-i)*time.Second).Format(time.Stamp), 3000+i, i, 50000+i)
	}
	conn.Write(buf.Bytes())
	conn.Close()
	deadline := time.Now().Add(20 * time.Second)
	for len(f.alerts) < 3 {
		var list struct {
			Alerts []struct {
				ID       string
				Entities map[string][]string
			}
		}
		f.admin(t, "GET", "/api/v1/alerts?limit=100&rule_id="+authzRuleID, nil, &list, 200)
		f.alerts = f.alerts[:0]
		for _, a := range list.Alerts {
			for _, ip := range a.Entities["source.ip"] {
				if strings.HasPrefix(ip, "198.51.100.") {
					f.alerts = append(f.alerts, a.ID)
				}
			}
		}
		if len(f.alerts) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("setup: %d alerts for 198.51.100.1-3 after 20s, want 3 (%+v)", len(f.alerts), list.Alerts)
		}
		time.Sleep(100 * time.Millisecond) // polling the vigil serve process
	}

	f.incident = f.newIncident(t, "authorization matrix", f.alerts[0])
	var task struct{ ID string }
	f.admin(t, "POST", "/api/v1/incidents/"+f.incident+"/tasks", map[string]any{"title": "shared task"}, &task, 201)
	f.task = task.ID
	var inc authzIncident
	f.admin(t, "GET", "/api/v1/incidents/"+f.incident, nil, &inc, 200)
	if len(inc.Observables) == 0 {
		t.Fatalf("setup: incident %s has no observables; want the entities of alert %s", f.incident, f.alerts[0])
	}
	f.obsKind, f.obsValue = inc.Observables[0].Kind, inc.Observables[0].Value
	f.route = f.newRoute(t, "authz-shared")

	// A token in use, then revoked: it must stop working at once, though
	// the server caches tokens it has seen.
	revokedID, revoked := f.newToken(t, "authz-revoked", "admin", "")
	if got, b := f.do(t, "GET", "/api/v1/status", authBearer, revoked, "", ""); got != http.StatusOK {
		t.Fatalf("setup: GET /api/v1/status with a new admin token: got HTTP %d, want 200: %s", got, b)
	}
	f.admin(t, "DELETE", "/api/v1/tokens/"+revokedID, nil, nil, http.StatusNoContent)
	f.tokens["revoked"] = revoked

	// Wait for the expired token to be refused.
	f.tokens["expired"] = expired
	deadline = time.Now().Add(10 * time.Second)
	for {
		got, b := f.do(t, "GET", "/api/v1/status", authBearer, expired, "", "")
		if got == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("setup: token created with expires 1s still answered HTTP %d after 10s: %s", got, b)
		}
		time.Sleep(100 * time.Millisecond) // polling the vigil serve process
	}
	return f
}

// TestAuthzMatrix calls every endpoint as no one, with an expired token,
// with a revoked token, and as viewer, analyst, admin and ingest, and
// checks each answer against the role model (2xx for an allowed role, 403
// for a role without the permission, 401 without valid credentials, except
// for the health probes) and against its schema in docs/openapi.yaml.
func TestAuthzMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	doc := loadOpenAPI(t)
	f := newAuthzFixture(t)
	for _, e := range authzEndpoints() {
		t.Run(e.method+" "+e.path, func(t *testing.T) {
			for _, caller := range callers {
				c := call{path: e.path}
				if e.prep != nil {
					c = e.prep(t, f, caller)
				}
				want := wantStatus(e, caller)
				got, body := f.do(t, e.method, c.path, e.auth, f.tokens[caller], c.body, c.ctype)
				if got != want {
					t.Errorf("%s %s as %s: got HTTP %d, want %d: %s", e.method, c.path, caller, got, want, tail(string(body), 300))
					continue
				}
				// Answers match the schemas docs/openapi.yaml gives them.
				if schema := responseSchema(doc, e.method, e.path, got); schema != nil && e.method != "HEAD" {
					var v any
					if err := json.Unmarshal(body, &v); err != nil {
						t.Errorf("%s %s as %s: HTTP %d answer is not JSON: %v: %s", e.method, c.path, caller, got, err, tail(string(body), 300))
					}
					for _, msg := range checkSchema(doc, schema, v, "body") {
						t.Errorf("%s %s as %s: HTTP %d answer does not match docs/openapi.yaml: %s", e.method, c.path, caller, got, msg)
					}
				}
				// A refusal must say why in the endpoint's own error shape,
				// and a 401 must name the scheme to use.
				if got == http.StatusUnauthorized && e.method != "HEAD" {
					if len(bytes.TrimSpace(body)) == 0 {
						t.Errorf("%s %s as %s: 401 with an empty body", e.method, c.path, caller)
					}
				}
			}
		})
	}
	t.Run("refused calls change nothing", func(t *testing.T) { checkNoSideEffects(t, f) })
}

// checkNoSideEffects checks that the objects the matrix's callers created
// exist exactly for the callers allowed to create them: a refused request
// must be refused before it changes anything.
func checkNoSideEffects(t *testing.T, f *authzFixture) {
	var incs struct{ Incidents []struct{ Title string } }
	f.admin(t, "GET", "/api/v1/incidents?limit=10000", nil, &incs, 200)
	var inc struct {
		Comments []struct{ Text string }
		Tasks    []struct{ Title string }
	}
	f.admin(t, "GET", "/api/v1/incidents/"+f.incident, nil, &inc, 200)
	var sups struct{ Suppressions []struct{ Reason string } }
	f.admin(t, "GET", "/api/v1/suppressions", nil, &sups, 200)
	var users struct{ Users []struct{ Username string } }
	f.admin(t, "GET", "/api/v1/users", nil, &users, 200)
	var toks struct{ Tokens []struct{ Name string } }
	f.admin(t, "GET", "/api/v1/tokens", nil, &toks, 200)
	var routes struct{ Routes []struct{ Name string } }
	f.admin(t, "GET", "/api/v1/routes", nil, &routes, 200)

	count := func(n int, match func(i int) bool) int {
		c := 0
		for i := range n {
			if match(i) {
				c++
			}
		}
		return c
	}
	// Triage and rule-state changes are audited by their services, one
	// entry per change, under the caller's token name (authz-ROLE-N).
	audited := map[string][]string{}
	for _, action := range []string{"alert.assign", "alert.ack", "rule.disable", "rule.enable", "login.unlock", "user.update", "session.revoke"} {
		var log struct{ Entries []struct{ Actor string } }
		f.admin(t, "GET", "/api/v1/audit?limit=1000&action="+action, nil, &log, 200)
		for _, e := range log.Entries {
			audited[action] = append(audited[action], e.Actor)
		}
	}
	byCaller := func(action, caller string) int {
		return count(len(audited[action]), func(i int) bool { return strings.HasPrefix(audited[action][i], "authz-"+caller+"-") })
	}
	for _, caller := range callers {
		checks := []struct {
			what string
			role string
			got  int
		}{
			{"incidents opened", needAnalyst, count(len(incs.Incidents), func(i int) bool { return incs.Incidents[i].Title == "opened by "+caller })},
			{"comments", needAnalyst, count(len(inc.Comments), func(i int) bool { return inc.Comments[i].Text == "comment by "+caller })},
			{"tasks", needAnalyst, count(len(inc.Tasks), func(i int) bool { return inc.Tasks[i].Title == "task by "+caller })},
			{"suppressions", needAnalyst, count(len(sups.Suppressions), func(i int) bool { return sups.Suppressions[i].Reason == "created by "+caller })},
			{"users", needAdmin, count(len(users.Users), func(i int) bool { return users.Users[i].Username == "user-by-"+caller })},
			{"tokens", needAdmin, count(len(toks.Tokens), func(i int) bool { return toks.Tokens[i].Name == "token-by-"+caller })},
			{"routes", needAdmin, count(len(routes.Routes), func(i int) bool { return strings.HasPrefix(routes.Routes[i].Name, "route-by-"+caller+"-") })},
			{"alerts assigned", needAnalyst, byCaller("alert.assign", caller)},
			{"alerts acknowledged", needAnalyst, byCaller("alert.ack", caller)},
			{"rules disabled", needAnalyst, byCaller("rule.disable", caller)},
			{"rules enabled", needAnalyst, byCaller("rule.enable", caller)},
			{"sign-in unlocks", needAdmin, byCaller("login.unlock", caller)},
			{"users disabled", needAdmin, byCaller("user.update", caller)},
			{"sessions revoked", needAdmin, byCaller("session.revoke", caller)},
		}
		for _, c := range checks {
			want := 0
			if slices.Contains(allowed[c.role], caller) {
				want = 1
			}
			if c.got != want {
				t.Errorf("%s as %s: got %d, want %d", c.what, caller, c.got, want)
			}
		}
	}

	// Events sent with POST /api/v1/ingest are stored for the callers that
	// may ingest, and only for them. Wait for the allowed ones first, so
	// that the refused ones had the same time to show up.
	deadline := time.Now().Add(15 * time.Second)
	order := slices.Clone(callers)
	slices.SortStableFunc(order, func(a, b string) int {
		return cmpBool(slices.Contains(allowed[needIngest], b), slices.Contains(allowed[needIngest], a))
	})
	for _, caller := range order {
		want := 0
		if slices.Contains(allowed[needIngest], caller) {
			want = 2
		}
		for {
			var res struct{ Total int }
			f.admin(t, "GET", "/api/v1/search?limit=1&q="+url.QueryEscape("caller:"+caller), nil, &res, 200)
			if res.Total == want || (want > 0 && res.Total > want) || time.Now().After(deadline) {
				if res.Total != want {
					t.Errorf("events ingested as %s: got %d, want %d", caller, res.Total, want)
				}
				break
			}
			time.Sleep(100 * time.Millisecond) // polling the vigil serve process
		}
	}
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// loadOpenAPI reads docs/openapi.yaml (relative to this package's
// directory) as a generic document.
func loadOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatalf("reading docs/openapi.yaml: %v", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml is not valid YAML: %v", err)
	}
	return doc
}

// responseSchema returns the JSON schema docs/openapi.yaml gives for the
// status answer of an operation, or nil when it documents none.
func responseSchema(doc map[string]any, method, path string, status int) any {
	op := dig(doc, "paths", path, strings.ToLower(method))
	resp := deref(doc, dig(op, "responses", strconv.Itoa(status)))
	return dig(resp, "content", "application/json", "schema")
}

// dig walks nested maps by key.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// deref follows a $ref, if v is one.
func deref(doc map[string]any, v any) any {
	for range 10 {
		ref, ok := dig(v, "$ref").(string)
		if !ok {
			return v
		}
		v = resolve(doc, ref)
	}
	return v
}

// checkSchema reports where v does not conform to schema: the subset of
// JSON Schema docs/openapi.yaml uses (type, required, properties,
// additionalProperties, items, enum, const, oneOf, allOf, $ref), enough
// to catch a field the document misnames or misses, or a type it gets
// wrong. An object schema with properties is closed unless it sets
// additionalProperties.
func checkSchema(doc map[string]any, schema, v any, at string) []string {
	s, _ := deref(doc, schema).(map[string]any)
	if s == nil {
		return nil
	}
	var errs []string
	if types := schemaTypes(s["type"]); len(types) > 0 && !slices.Contains(types, jsonType(v)) &&
		!(jsonType(v) == "integer" && slices.Contains(types, "number")) {
		return []string{fmt.Sprintf("%s: got %s, want %v", at, jsonType(v), types)}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		errs = append(errs, fmt.Sprintf("%s: %v is not one of %v", at, v, enum))
	}
	if c, ok := s["const"]; ok && fmt.Sprint(c) != fmt.Sprint(v) {
		errs = append(errs, fmt.Sprintf("%s: got %v, want %v", at, v, c))
	}
	for _, sub := range asList(s["allOf"]) {
		errs = append(errs, checkSchema(doc, sub, v, at)...)
	}
	if alts := asList(s["oneOf"]); len(alts) > 0 {
		n := 0
		for _, sub := range alts {
			if len(checkSchema(doc, sub, v, at)) == 0 {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, fmt.Sprintf("%s: matches %d of the oneOf schemas, want exactly 1", at, n))
		}
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := x[fmt.Sprint(r)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required field %q missing", at, r))
			}
		}
		for k, fv := range x {
			if ps, ok := props[k]; ok {
				errs = append(errs, checkSchema(doc, ps, fv, at+"."+k)...)
			} else if apm, ok := s["additionalProperties"].(map[string]any); ok {
				errs = append(errs, checkSchema(doc, apm, fv, at+"."+k)...)
			} else if s["additionalProperties"] != true && (props != nil || s["additionalProperties"] == false) {
				// Strict unless the schema says otherwise: a field the
				// server sends must be documented.
				errs = append(errs, fmt.Sprintf("%s: field %q is not documented", at, k))
			}
		}
	case []any:
		if items, ok := s["items"]; ok {
			for i, e := range x {
				errs = append(errs, checkSchema(doc, items, e, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	}
	return errs
}

func asList(v any) []any { l, _ := v.([]any); return l }

func schemaTypes(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = fmt.Sprint(e)
		}
		return out
	}
	return nil
}

// jsonType names the JSON Schema type of a decoded JSON value.
func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

var httpMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true, "trace": true}

// TestAuthzOpenAPI checks docs/openapi.yaml: it is valid YAML
// and structurally valid OpenAPI 3.1 (operation ids, responses, path
// parameters, security schemes, every $ref resolvable), and its operations
// are exactly the endpoints of the authorization matrix, with the same role
// and success status.
func TestAuthzOpenAPI(t *testing.T) {
	doc := loadOpenAPI(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi: got %q, want 3.1.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Errorf("info: got %v, want a title and a version", info)
	}
	components, _ := doc["components"].(map[string]any)
	schemes, _ := components["securitySchemes"].(map[string]any)
	for _, name := range []string{"bearer", "splunk", "basic", "apiKey"} {
		if schemes[name] == nil {
			t.Errorf("components.securitySchemes.%s is missing", name)
		}
	}

	// Every $ref resolves.
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if resolve(doc, ref) == nil {
					t.Errorf("%s: $ref %q does not resolve", at, ref)
				}
			}
			for k, c := range x {
				walk(c, at+"."+k)
			}
		case []any:
			for i, c := range x {
				walk(c, fmt.Sprintf("%s[%d]", at, i))
			}
		}
	}
	walk(doc, "$")

	type opInfo struct {
		role      string
		responses map[string]bool
	}
	documented := map[string]opInfo{}
	opIDs := map[string]string{}
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatal("paths: none documented")
	}
	paramRe := regexp.MustCompile(`\{([^}]+)\}`)
	for path, pv := range paths {
		item, _ := pv.(map[string]any)
		if !strings.HasPrefix(path, "/") {
			t.Errorf("path %q does not start with /", path)
		}
		pathParams := paramNames(doc, item["parameters"])
		for method, ov := range item {
			if !httpMethods[method] {
				continue
			}
			key := strings.ToUpper(method) + " " + path
			op, _ := ov.(map[string]any)
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s: no operationId", key)
			} else if prev, dup := opIDs[id]; dup {
				t.Errorf("%s: operationId %q also used by %s", key, id, prev)
			}
			opIDs[id] = key
			role, _ := op["x-vigil-role"].(string)
			perm, _ := op["x-vigil-permission"].(string)
			if _, ok := permOf[role]; !ok {
				t.Errorf("%s: x-vigil-role %q is not none, viewer, analyst, admin or ingest", key, role)
			} else if want := permOf[role]; perm != want {
				t.Errorf("%s: x-vigil-permission got %q, want %q for role %q", key, perm, want, role)
			}
			desc, _ := op["description"].(string)
			if !strings.Contains(desc, "Role: `"+role+"`") {
				t.Errorf("%s: description does not state \"Role: `%s`\"", key, role)
			}
			params := paramNames(doc, op["parameters"])
			for k := range pathParams {
				params[k] = true
			}
			for _, m := range paramRe.FindAllStringSubmatch(path, -1) {
				if !params["path:"+m[1]] {
					t.Errorf("%s: path parameter %q is not declared (in: path, required: true)", key, m[1])
				}
			}
			responses, _ := op["responses"].(map[string]any)
			codes := map[string]bool{}
			for code, rv := range responses {
				c := fmt.Sprint(code)
				codes[c] = true
				if c != "default" && !regexp.MustCompile(`^[1-5][0-9][0-9]$`).MatchString(c) {
					t.Errorf("%s: response key %q is not a status code", key, c)
				}
				r, _ := rv.(map[string]any)
				if _, ok := r["$ref"]; !ok && r["description"] == nil {
					t.Errorf("%s: response %s has no description", key, c)
				}
			}
			sec, hasSec := op["security"].([]any)
			if role == needNone {
				if !hasSec || len(sec) != 0 {
					t.Errorf("%s: role none but security is not an explicit empty list", key)
				}
			} else {
				if len(sec) == 0 && doc["security"] == nil {
					t.Errorf("%s: role %s but no security requirement", key, role)
				}
				for _, want := range []string{"401", "403"} {
					if !codes[want] {
						t.Errorf("%s: role %s but no %s response documented", key, role, want)
					}
				}
			}
			for _, s := range sec {
				for name := range s.(map[string]any) {
					if schemes[name] == nil {
						t.Errorf("%s: security scheme %q is not in components.securitySchemes", key, name)
					}
				}
			}
			documented[key] = opInfo{role: role, responses: codes}
		}
	}

	inTable := map[string]bool{}
	for _, e := range authzEndpoints() {
		key := e.method + " " + e.path
		if inTable[key] {
			t.Errorf("%s: twice in the matrix", key)
		}
		inTable[key] = true
		d, ok := documented[key]
		if !ok {
			t.Errorf("%s: served but not in docs/openapi.yaml", key)
			continue
		}
		if d.role != e.role {
			t.Errorf("%s: x-vigil-role got %q, want %q", key, d.role, e.role)
		}
		if !d.responses[fmt.Sprint(e.ok)] {
			t.Errorf("%s: success status %d not documented", key, e.ok)
		}
	}
	var extra []string
	for key := range documented {
		if !inTable[key] {
			extra = append(extra, key)
		}
	}
	sort.Strings(extra)
	for _, key := range extra {
		t.Errorf("%s: in docs/openapi.yaml but not in the authorization matrix", key)
	}
}

// resolve follows a local JSON pointer ("#/components/schemas/Alert").
func resolve(doc map[string]any, ref string) any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = doc
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[part]; !ok {
			return nil
		}
	}
	return cur
}

// paramNames returns "in:name" of a parameter list, following $refs, with
// path parameters only when required.
func paramNames(doc map[string]any, v any) map[string]bool {
	out := map[string]bool{}
	list, _ := v.([]any)
	for _, p := range list {
		m, _ := p.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			m, _ = resolve(doc, ref).(map[string]any)
		}
		in, _ := m["in"].(string)
		name, _ := m["name"].(string)
		if in == "path" && m["required"] != true {
			continue
		}
		out[in+":"+name] = true
	}
	return out
}
