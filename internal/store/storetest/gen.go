package storetest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// Gen makes realistic events: a mix of sshd, nginx access and JSON
// application events with about 15 fields each (the same mix as the SQLite
// store's own benchmarks), so that engines are compared on equal events.
type Gen struct {
	r     *rand.Rand
	start time.Time
	step  time.Duration
	n     int
}

// NewGen returns a generator of events from start, step apart, seeded.
func NewGen(seed uint64, start time.Time, step time.Duration) *Gen {
	return &Gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), start: start, step: step}
}

var (
	genUsers   = []string{"alice", "bob", "carol", "dave", "eve", "mallory", "root", "admin", "oracle", "postgres", "deploy", "test"}
	genHosts   = []string{"web-01", "web-02", "db-01", "bastion", "mail", "vpn-gw", "k8s-node-1", "k8s-node-2"}
	genPaths   = []string{"/", "/login", "/api/v1/items", "/wp-login.php", "/static/app.js", "/admin", "/.env", "/search?q=x"}
	genAgents  = []string{"Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", "python-requests/2.31", "Go-http-client/1.1"}
	genActions = []string{"create", "delete", "update", "read", "login", "logout"}
)

// ip draws from 16,384 addresses: a mid-size network's worth of sources.
func (g *Gen) ip() string {
	return fmt.Sprintf("10.%d.%d.%d", g.r.IntN(4), g.r.IntN(16), g.r.IntN(256))
}

// Next returns the next event.
func (g *Gen) Next() *event.Event {
	t := g.start.Add(time.Duration(g.n) * g.step)
	g.n++
	ev := &event.Event{Time: t, Received: t.Add(time.Millisecond), Input: "syslog-tcp"}
	host := genHosts[g.r.IntN(len(genHosts))]
	user := genUsers[g.r.IntN(len(genUsers))]
	ip := g.ip()
	port := 1024 + g.r.IntN(60000)
	ev.Set(event.FieldHostName, event.String(host))
	switch g.r.IntN(3) {
	case 0:
		ok := g.r.IntN(4) == 0
		outcome, verb := "failure", "Failed"
		if ok {
			outcome, verb = "success", "Accepted"
		}
		pid := 1000 + g.r.IntN(30000)
		msg := fmt.Sprintf("%s password for %s from %s port %d ssh2", verb, user, ip, port)
		ev.Raw = fmt.Sprintf("<38>%s %s sshd[%d]: %s", t.Format(time.Stamp), host, pid, msg)
		ev.Logsource = event.Logsource{Product: "linux", Service: "sshd"}
		ev.Set(event.FieldMessage, event.String(msg))
		ev.Set(event.FieldDataset, event.String("sshd"))
		ev.Set(event.FieldCategory, event.String("authentication"))
		ev.Set(event.FieldAction, event.String("ssh_login"))
		ev.Set(event.FieldOutcome, event.String(outcome))
		ev.Set(event.FieldUserName, event.String(user))
		ev.Set(event.FieldSourceIP, event.String(ip))
		ev.Set(event.FieldSourcePort, event.Int(int64(port)))
		ev.Set(event.FieldProcessName, event.String("sshd"))
		ev.Set(event.FieldProcessPID, event.Int(int64(pid)))
		ev.Set("log.syslog.facility.code", event.Int(4))
		ev.Set("log.syslog.severity.code", event.Int(6))
		ev.Set(event.FieldKind, event.String("event"))
	case 1:
		status := []int{200, 200, 200, 301, 404, 403, 500}[g.r.IntN(7)]
		path := genPaths[g.r.IntN(len(genPaths))]
		size := g.r.IntN(50000)
		agent := genAgents[g.r.IntN(len(genAgents))]
		ev.Raw = fmt.Sprintf(`%s - - [%s] "GET %s HTTP/1.1" %d %d "-" "%s"`, ip, t.Format("02/Jan/2006:15:04:05 -0700"), path, status, size, agent)
		ev.Logsource = event.Logsource{Product: "nginx", Category: "webserver"}
		ev.Set(event.FieldDataset, event.String("nginx.access"))
		ev.Set(event.FieldCategory, event.String("web"))
		ev.Set(event.FieldAction, event.String("GET"))
		ev.Set(event.FieldSourceIP, event.String(ip))
		ev.Set("url.original", event.String(path))
		ev.Set("http.request.method", event.String("GET"))
		ev.Set("http.response.status_code", event.Int(int64(status)))
		ev.Set("http.response.body.bytes", event.Int(int64(size)))
		ev.Set("user_agent.original", event.String(agent))
		ev.Set("http.version", event.String("1.1"))
		ev.Set(event.FieldKind, event.String("event"))
		if status >= 400 {
			ev.Set(event.FieldOutcome, event.String("failure"))
		} else {
			ev.Set(event.FieldOutcome, event.String("success"))
		}
	default:
		act := genActions[g.r.IntN(len(genActions))]
		msg := fmt.Sprintf("user %s performed %s on resource %d", user, act, g.r.IntN(5000))
		ev.Raw = fmt.Sprintf(`{"ts":%q,"level":"info","msg":%q,"user":%q,"src":%q}`, t.Format(time.RFC3339Nano), msg, user, ip)
		ev.Set(event.FieldMessage, event.String(msg))
		ev.Set(event.FieldDataset, event.String("app.audit"))
		ev.Set(event.FieldAction, event.String(act))
		ev.Set(event.FieldUserName, event.String(user))
		ev.Set(event.FieldSourceIP, event.String(ip))
		ev.Set("destination.ip", event.String(g.ip()))
		ev.Set("destination.port", event.Int(443))
		ev.Set("level", event.String("info"))
		ev.Set("trace.id", event.String(fmt.Sprintf("%016x", g.r.Uint64())))
		ev.Set("duration_ms", event.Float(float64(g.r.IntN(100000))/100))
		ev.Set("success", event.Bool(g.r.IntN(2) == 0))
		ev.Set(event.FieldTags, event.String("audit"))
		ev.Set(event.FieldTags, event.String("app"))
		ev.Tags = []string{"prod"}
	}
	return ev
}

// Batch returns the next n events.
func (g *Gen) Batch(n int) []*event.Event {
	out := make([]*event.Event, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}
