// Package loadgen generates realistic log traffic (sshd, nginx access,
// JSON application logs) and sends it to a Vigil server over syslog
// TCP/UDP or HTTP ingest, at a set rate or flat out, then counts how many
// of the events the server stored. It backs `vigil bench ingest`.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes one load run.
type Config struct {
	// Target is tcp://host:port, udp://host:port (syslog) or
	// http://host:port (POST /api/v1/ingest, NDJSON).
	Target string
	// API is the server's base URL for counting stored events; default:
	// the HTTP target, else http://127.0.0.1:8080.
	API string
	// Token authenticates HTTP ingest and the count query.
	Token string
	// Events is how many events to send in all.
	Events int
	// Rate is events per second over all connections; 0 sends flat out.
	Rate int
	// Connections is the number of concurrent senders.
	Connections int
	// Mix lists the kinds of lines: sshd, nginx, json (default all three).
	Mix []string
	// Wait bounds how long to wait for the stored count to reach Events.
	Wait time.Duration
	// Run names the run; its events carry host.name "bench-<Run>".
	Run string
	// Attackers, when positive, mixes an SSH brute-force wave into the
	// traffic: that many distinct source addresses (from the RFC 2544
	// benchmarking range 198.18.0.0/15, so at most 131,072), each failing
	// to log in Attempts times, their attempts spread evenly over the run
	// so that every attacker is active at once.
	Attackers int
	// Attempts is the failed logins per attacker (default 10).
	Attempts int
}

// MaxAttackers is how many distinct attacking addresses fit in
// 198.18.0.0/15.
const MaxAttackers = 1 << 17

// attack reports whether the i-th of n events is an attack line, and
// which attack event it is. Attack events are spread evenly: the i-th
// event is one when the running share of attacks steps over an integer.
func attack(i, n, attacks int) (int, bool) {
	if attacks <= 0 {
		return 0, false
	}
	a, b := i*attacks/n, (i+1)*attacks/n
	return a, b > a
}

// appendAttack writes the j-th attack line: attacker j%attackers fails
// to log in as an invalid user.
func appendAttack(b []byte, j, attackers int, h *header) []byte {
	k := j % attackers
	b = append(b, "<38>"...)
	b = append(b, h.stamp...)
	b = append(b, h.host...)
	b = append(b, " sshd["...)
	b = strconv.AppendInt(b, int64(2000+j%30000), 10)
	b = append(b, "]: Failed password for invalid user u"...)
	b = strconv.AppendInt(b, int64(j%1000), 10)
	b = append(b, " from "...)
	b = AppendAttacker(b, k)
	b = append(b, " port "...)
	b = strconv.AppendInt(b, int64(1024+j%60000), 10)
	return append(b, " ssh2"...)
}

// AppendAttacker appends the address of attacker k (k < MaxAttackers).
func AppendAttacker(b []byte, k int) []byte {
	b = append(b, "198."...)
	b = strconv.AppendInt(b, int64(18+(k>>16)&1), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64((k>>8)&255), 10)
	b = append(b, '.')
	return strconv.AppendInt(b, int64(k&255), 10)
}

// Report is the outcome of a run.
type Report struct {
	Run      string
	Sent     int64
	Errors   int64
	Stored   int64 // -1 when not counted
	SendTime time.Duration
	// StoreTime is from the first send until the stored count reached
	// Sent (or the wait ran out).
	StoreTime time.Duration
}

// SendRate is events sent per second.
func (r Report) SendRate() float64 { return float64(r.Sent) / r.SendTime.Seconds() }

// StoreRate is events stored per second, end to end.
func (r Report) StoreRate() float64 { return float64(r.Stored) / r.StoreTime.Seconds() }

// Lines produces the i-th line of a run for a kind.
type line func(b []byte, i int, h *header) []byte

// header is what every line of a run shares: the time the run started, in
// the syslog header (RFC 3164, UTC) and in nginx's log format, so that a
// store that refuses events older than its retention takes them; and
// the run's host name.
type header struct {
	stamp string // "Jan _2 15:04:05 "
	clf   string // "02/Jan/2006:15:04:05 +0000"
	host  string
}

func newHeader(host string, now time.Time) *header {
	now = now.UTC()
	return &header{stamp: now.Format(time.Stamp) + " ", clf: now.Format("02/Jan/2006:15:04:05 -0700"), host: host}
}

var kinds = map[string]line{
	"sshd": func(b []byte, i int, h *header) []byte {
		b = append(b, "<38>"...)
		b = append(b, h.stamp...)
		b = append(b, h.host...)
		b = append(b, " sshd["...)
		b = strconv.AppendInt(b, int64(1000+i%30000), 10)
		switch i % 4 {
		case 0, 1:
			b = append(b, "]: Failed password for invalid user user"...)
		case 2:
			b = append(b, "]: Failed password for user"...)
		default:
			b = append(b, "]: Accepted publickey for user"...)
		}
		b = strconv.AppendInt(b, int64(i%500), 10)
		b = append(b, " from "...)
		b = appendIP(b, i)
		b = append(b, " port "...)
		b = strconv.AppendInt(b, int64(1024+i%60000), 10)
		return append(b, " ssh2"...)
	},
	"nginx": func(b []byte, i int, h *header) []byte {
		b = append(b, "<190>"...)
		b = append(b, h.stamp...)
		b = append(b, h.host...)
		b = append(b, " nginx: "...)
		b = appendIP(b, i)
		b = append(b, ` - - [`...)
		b = append(b, h.clf...)
		b = append(b, `] "GET /app/item/`...)
		b = strconv.AppendInt(b, int64(i%10000), 10)
		b = append(b, `?q=`...)
		b = strconv.AppendInt(b, int64(i), 36)
		b = append(b, ` HTTP/1.1" `...)
		b = strconv.AppendInt(b, int64([]int{200, 200, 200, 404, 302, 500}[i%6]), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(200+i%5000), 10)
		return append(b, ` "-" "Mozilla/5.0 (X11; Linux x86_64) bench"`...)
	},
	"json": func(b []byte, i int, h *header) []byte {
		b = append(b, "<134>"...)
		b = append(b, h.stamp...)
		b = append(b, h.host...)
		b = append(b, ` payments: {"level":"info","service":"payments","msg":"charge processed","user":{"name":"user`...)
		b = strconv.AppendInt(b, int64(i%500), 10)
		b = append(b, `"},"amount":`...)
		b = strconv.AppendInt(b, int64(i%100000), 10)
		b = append(b, `,"source":{"ip":"`...)
		b = appendIP(b, i)
		return append(b, `"},"duration_ms":12.5}`...)
	},
}

func appendIP(b []byte, i int) []byte {
	b = append(b, "10."...)
	b = strconv.AppendInt(b, int64((i>>16)&255), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64((i>>8)&255), 10)
	b = append(b, '.')
	return strconv.AppendInt(b, int64(i&255), 10)
}

// Run sends the load and counts what was stored.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Events <= 0 {
		return Report{}, errors.New("events must be positive")
	}
	if cfg.Connections <= 0 {
		cfg.Connections = 1
	}
	if cfg.Attackers > 0 {
		if cfg.Attempts <= 0 {
			cfg.Attempts = 10
		}
		if cfg.Attackers > MaxAttackers {
			return Report{}, fmt.Errorf("attackers %d: at most %d fit in 198.18.0.0/15", cfg.Attackers, MaxAttackers)
		}
		if cfg.Attackers*cfg.Attempts > cfg.Events {
			return Report{}, fmt.Errorf("%d attackers × %d attempts is more than the %d events of the run", cfg.Attackers, cfg.Attempts, cfg.Events)
		}
	}
	if len(cfg.Mix) == 0 {
		cfg.Mix = []string{"sshd", "nginx", "json"}
	}
	gens := make([]line, 0, len(cfg.Mix))
	for _, k := range cfg.Mix {
		g, ok := kinds[strings.TrimSpace(k)]
		if !ok {
			return Report{}, fmt.Errorf("unknown line kind %q (want sshd, nginx or json)", k)
		}
		gens = append(gens, g)
	}
	if cfg.Run == "" {
		cfg.Run = strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	}
	u, err := url.Parse(cfg.Target)
	if err != nil || u.Host == "" {
		return Report{}, fmt.Errorf("target %q: want tcp://host:port, udp://host:port or http://host:port", cfg.Target)
	}
	if cfg.API == "" {
		if u.Scheme == "http" || u.Scheme == "https" {
			cfg.API = u.Scheme + "://" + u.Host
		} else {
			cfg.API = "http://127.0.0.1:8080"
		}
	}
	host := "bench-" + cfg.Run
	hdr := newHeader(host, time.Now())
	rep := Report{Run: cfg.Run, Stored: -1}
	// The server's count of committed events, if it can be read, tells
	// cheaply when to search: a count by search scans every stored event
	// of the run and takes CPU from the server being measured.
	base, baseOK := storedTotal(ctx, cfg)
	var sent, failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, cfg.Connections)
	for c := range cfg.Connections {
		n := cfg.Events / cfg.Connections
		if c < cfg.Events%cfg.Connections {
			n++
		}
		rate := 0.0
		if cfg.Rate > 0 {
			rate = float64(cfg.Rate) / float64(cfg.Connections)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := sender{cfg: cfg, u: u, gens: gens, host: host, hdr: hdr, first: c, step: cfg.Connections, n: n, rate: rate, sent: &sent, failed: &failed}
			if err := s.run(ctx); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	rep.SendTime = time.Since(start)
	rep.Sent, rep.Errors = sent.Load(), failed.Load()
	if err := <-errc; err != nil {
		return rep, err
	}
	if cfg.Wait > 0 {
		if baseOK {
			waitCommitted(ctx, cfg, base+float64(rep.Sent))
		}
		stored, err := waitStored(ctx, cfg, host, rep.Sent)
		rep.StoreTime = time.Since(start)
		rep.Stored = stored
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

type sender struct {
	cfg          Config
	u            *url.URL
	gens         []line
	host         string
	hdr          *header
	first, step  int
	n            int
	rate         float64
	sent, failed *atomic.Int64
}

// line produces the i-th line of the run: an attack line where the wave
// puts one, else the next line of the mix.
func (s *sender) line(b []byte, i int) []byte {
	if j, ok := attack(i, s.cfg.Events, s.cfg.Attackers*s.cfg.Attempts); ok {
		return appendAttack(b, j, s.cfg.Attackers, s.hdr)
	}
	return s.gens[i%len(s.gens)](b, i, s.hdr)
}

func (s *sender) pace(start time.Time, done int) {
	if s.rate <= 0 {
		return
	}
	due := start.Add(time.Duration(float64(done) / s.rate * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		time.Sleep(d)
	}
}

func (s *sender) run(ctx context.Context) error {
	switch s.u.Scheme {
	case "tcp", "udp":
		conn, err := net.Dial(s.u.Scheme, s.u.Host)
		if err != nil {
			return fmt.Errorf("connecting to %s: %w", s.cfg.Target, err)
		}
		defer conn.Close()
		var w *bufio.Writer
		if s.u.Scheme == "tcp" {
			w = bufio.NewWriterSize(conn, 256<<10)
		}
		buf := make([]byte, 0, 512)
		start := time.Now()
		for k := 0; k < s.n; k++ {
			if k&1023 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			buf = s.line(buf[:0], s.first+k*s.step)
			if w != nil {
				buf = append(buf, '\n')
				if _, err := w.Write(buf); err != nil {
					return fmt.Errorf("sending: %w", err)
				}
			} else if _, err := conn.Write(buf); err != nil {
				s.failed.Add(1)
				continue
			}
			s.sent.Add(1)
			if s.rate > 0 && k%64 == 63 {
				if w != nil {
					w.Flush()
				}
				s.pace(start, k+1)
			}
		}
		if w != nil {
			return w.Flush()
		}
		return nil
	case "http", "https":
		const batch = 500
		client := &http.Client{Timeout: time.Minute}
		var body bytes.Buffer
		buf := make([]byte, 0, 512)
		start := time.Now()
		for k := 0; k < s.n; {
			body.Reset()
			m := min(batch, s.n-k)
			for j := 0; j < m; j++ {
				buf = s.line(buf[:0], s.first+(k+j)*s.step)
				// Send each line as a JSON event with its raw text as message.
				body.WriteString(`{"host":{"name":"`)
				body.WriteString(s.host)
				body.WriteString(`"},"message":`)
				mj, _ := json.Marshal(string(buf))
				body.Write(mj)
				body.WriteString("}\n")
			}
			ok, err := s.post(ctx, client, body.Bytes())
			if err != nil {
				return err
			}
			if !ok {
				continue // 429/503: retry the same batch after the pause
			}
			s.sent.Add(int64(m))
			k += m
			s.pace(start, k)
		}
		return nil
	}
	return fmt.Errorf("target scheme %q: want tcp, udp or http", s.u.Scheme)
}

// post sends one NDJSON batch; ok is false when the server asked to retry.
func (s *sender) post(ctx context.Context, client *http.Client, body []byte) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(s.cfg.Target, "/")+"/api/v1/ingest", bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if s.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("posting: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		return true, nil
	case resp.StatusCode == 429 || resp.StatusCode == 503:
		s.failed.Add(1)
		time.Sleep(200 * time.Millisecond)
		return false, nil
	}
	return false, fmt.Errorf("server answered HTTP %d", resp.StatusCode)
}

// waitStored polls the search API until host.name:HOST counts want events,
// the count stops growing for a while, or cfg.Wait passes. A count scans
// every stored event of the run, which takes CPU from the server being
// measured, so it polls sparingly while far from done: it sleeps for most
// of the time the remaining events should take at the rate seen so far,
// and every 100 ms near the end.
func waitStored(ctx context.Context, cfg Config, host string, want int64) (int64, error) {
	deadline := time.Now().Add(cfg.Wait)
	var last int64 = -1
	lastChange := time.Now()
	for {
		n, err := count(ctx, cfg, "host.name:"+host+" | stats count()")
		if err != nil {
			return last, err
		}
		now := time.Now()
		wait := 100 * time.Millisecond
		if last >= 0 && n > last {
			rate := float64(n-last) / now.Sub(lastChange).Seconds()
			wait = min(max(time.Duration(0.7*float64(want-n)/rate*float64(time.Second)), wait), 2*time.Second)
		}
		if n != last {
			last, lastChange = n, now
		}
		if n >= want || now.After(deadline) || now.Sub(lastChange) > 15*time.Second {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// waitCommitted polls the server's vigil_events_stored_total until it
// reaches want, stops growing for a while, or cfg.Wait passes. It only
// decides when to start searching: waitStored's search is the proof.
func waitCommitted(ctx context.Context, cfg Config, want float64) {
	deadline := time.Now().Add(cfg.Wait)
	last, lastChange := -1.0, time.Now()
	for time.Now().Before(deadline) && time.Since(lastChange) < 15*time.Second {
		n, ok := storedTotal(ctx, cfg)
		if !ok || n >= want {
			return
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// storedTotal reads vigil_events_stored_total from the server's /metrics.
func storedTotal(ctx context.Context, cfg Config) (float64, bool) {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(cfg.API, "/")+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	if cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "vigil_events_stored_total "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return n, err == nil
		}
	}
	return 0, false
}

func count(ctx context.Context, cfg Config, q string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(cfg.API, "/")+"/api/v1/search?q="+url.QueryEscape(q), nil)
	if err != nil {
		return 0, err
	}
	if cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("counting stored events: %w", err)
	}
	defer resp.Body.Close()
	var r struct {
		Rows  [][]json.Number `json:"rows"`
		Error string          `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, fmt.Errorf("counting stored events: %w", err)
	}
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("counting stored events: HTTP %d: %s", resp.StatusCode, r.Error)
	}
	if len(r.Rows) == 0 {
		return 0, nil // nothing stored yet
	}
	if len(r.Rows) != 1 || len(r.Rows[0]) != 1 {
		return 0, fmt.Errorf("counting stored events: unexpected answer %v", r.Rows)
	}
	return r.Rows[0][0].Int64()
}
