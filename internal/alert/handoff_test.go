package alert

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/journal"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

func openJournal(t *testing.T, dir string) *journal.Journal {
	t.Helper()
	j, err := journal.Open(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// TestHandoffSurvivesAFailedShutdown: detections handed over (and synced,
// as the pipeline does before it stores their events) whose alerts the
// writer could not commit before the process ended are committed at the
// next start, once, with hooks told, and a third start replays nothing.
func TestHandoffSurvivesAFailedShutdown(t *testing.T) {
	metatest.Engines(t, testHandoffSurvivesAFailedShutdown)
}

func testHandoffSurvivesAFailedShutdown(t *testing.T) {
	dir := t.TempDir()
	dbPath, jdir := filepath.Join(dir, "meta.db"), filepath.Join(dir, "journal")
	ctx := context.Background()

	// First run: the writer is held, the database goes away, and the
	// recorder closes: its commit fails and it gives up.
	db1 := metatest.OpenPath(t, dbPath)
	j1 := openJournal(t, jdir)
	var hold sync.Mutex
	hold.Lock()
	s1, err := Open(ctx, db1)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := NewRecorder(ctx, s1, nil, Options{Journal: j1, WriteLock: &hold, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r1.ReplayJournal(ctx); err != nil || n != 0 {
		t.Fatalf("replay of an empty journal: %d, %v", n, err)
	}
	ruleA, ruleB := testRule("a"), testRule("b")
	r1.Record(from(ruleA, "192.0.2.1", t0))
	r1.Record(from(ruleA, "192.0.2.2", t0.Add(time.Second)))
	r1.Record(from(ruleB, "192.0.2.3", t0.Add(2*time.Second)))
	if err := r1.SyncDetections(); err != nil {
		t.Fatal(err)
	}
	db1.Close()
	hold.Unlock()
	r1.Close()
	if err := j1.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countAlerts(t, metatest.OpenPath(t, dbPath)); n != 0 {
		t.Fatalf("first run stored %d alerts; the test needs it to store none", n)
	}

	// Second run: the journal's detections become alerts.
	db2 := metatest.OpenPath(t, dbPath)
	hook := &recordingHook{}
	r2, s2 := newRecorder(t, db2, Options{Journal: openJournal(t, jdir), Now: func() time.Time { return t0 }})
	r2.AddHook(hook)
	n, err := r2.ReplayJournal(ctx)
	if err != nil || n != 3 {
		t.Fatalf("replay: %d detections, %v; want 3", n, err)
	}
	r2.Flush()
	if got := len(ruleAlerts(t, s2, "a")) + len(ruleAlerts(t, s2, "b")); got != 3 {
		t.Fatalf("after replay: %d alerts, want 3", got)
	}
	news := 0
	for _, c := range hook.all() {
		if c.New {
			news++
			if c.Event == nil || c.Event.Str("source.ip") == "" {
				t.Errorf("replayed change of %s carries no event with its source", c.Alert.RuleID)
			}
		}
	}
	if news != 3 {
		t.Fatalf("hooks told of %d new alerts, want 3", news)
	}
	r2.Close()

	// Third run: nothing left to replay.
	db3 := metatest.OpenPath(t, dbPath)
	r3, s3 := newRecorder(t, db3, Options{Journal: openJournal(t, jdir), Now: func() time.Time { return t0 }})
	if n, err := r3.ReplayJournal(ctx); err != nil || n != 0 {
		t.Fatalf("second replay: %d, %v; want 0", n, err)
	}
	r3.Flush()
	if got := len(ruleAlerts(t, s3, "a")); got != 2 {
		t.Fatalf("after the second restart: %d alerts of rule a, want 2", got)
	}
}

// TestHandoffCommittedIsNotReplayed: detections committed normally are
// released and never come back, and numbering goes on after them.
func TestHandoffCommittedIsNotReplayed(t *testing.T) {
	metatest.Engines(t, testHandoffCommittedIsNotReplayed)
}

func testHandoffCommittedIsNotReplayed(t *testing.T) {
	dir := t.TempDir()
	dbPath, jdir := filepath.Join(dir, "meta.db"), filepath.Join(dir, "journal")
	ctx := context.Background()
	j := openJournal(t, jdir)
	r, _ := newRecorder(t, metatest.OpenPath(t, dbPath), Options{Journal: j, Now: func() time.Time { return t0 }})
	for i := range 4 { // below the campaign threshold: one alert each
		r.Record(from(testRule("c"), ipOf(i), t0))
	}
	if err := r.SyncDetections(); err != nil {
		t.Fatal(err)
	}
	r.Flush()
	r.Close()
	next := j.Next()
	j.Close()

	j2 := openJournal(t, jdir)
	r2, s2 := newRecorder(t, metatest.OpenPath(t, dbPath), Options{Journal: j2, Now: func() time.Time { return t0 }})
	if n, err := r2.ReplayJournal(ctx); err != nil || n != 0 {
		t.Fatalf("replay after a clean stop: %d, %v; want 0", n, err)
	}
	if got := j2.Next(); got != next {
		t.Fatalf("numbering after restart: got %d, want %d", got, next)
	}
	r2.Flush()
	if got := len(ruleAlerts(t, s2, "c")); got != 4 {
		t.Fatalf("%d alerts, want 4", got)
	}
}

// TestHandoffShedIsNotJournaled: past the queue's bound a detection is
// shed and counted, and not written to the journal (it would be replayed
// as if it had been queued).
func TestHandoffShedIsNotJournaled(t *testing.T) { metatest.Engines(t, testHandoffShedIsNotJournaled) }

func testHandoffShedIsNotJournaled(t *testing.T) {
	dir := t.TempDir()
	j := openJournal(t, filepath.Join(dir, "journal"))
	hold := &signalLock{entered: make(chan struct{}, 1)}
	hold.Lock()
	<-hold.entered
	r, _ := newRecorder(t, metatest.OpenPath(t, filepath.Join(dir, "meta.db")), Options{Journal: j, QueueSize: 2, WriteLock: hold, Now: func() time.Time { return t0 }})
	t.Cleanup(hold.Unlock)
	// The writer takes the first detection and waits on the lock to
	// commit it; the queue then holds two more, and the rest are shed.
	r.Record(from(testRule("d"), ipOf(0), t0))
	<-hold.entered
	for i := 1; i < 10; i++ {
		r.Record(from(testRule("d"), ipOf(i), t0))
	}
	if got := r.Shed(); got != 7 {
		t.Fatalf("shed %d, want 7", got)
	}
	if got := j.Next() - 1; got != 3 {
		t.Fatalf("journal numbered %d records for 3 queued detections", got)
	}
}

// signalLock is a mutex that tells when someone starts to take it.
type signalLock struct {
	sync.Mutex
	entered chan struct{}
}

func (l *signalLock) Lock() {
	select {
	case l.entered <- struct{}{}:
	default:
	}
	l.Mutex.Lock()
}

func TestPendingRecordRoundTrip(t *testing.T) {
	d := from(testRule("e"), "198.51.100.7", t0)
	d.Event.SetString("user.name", "root")
	p := &pending{a: fromDetection(d), ev: d.Event}
	p.a.Group = map[string]string{"source.ip": "198.51.100.7"}
	p.a.Campaign, p.a.EntityCount, p.a.IncidentID = true, 12, "inc-1"
	b := appendPending(nil, p)
	back, err := decodePending(b)
	if err != nil {
		t.Fatal(err)
	}
	want := p.a
	want.DedupKey = DedupKey(want.RuleID, want.Group, want.Entities)
	if !reflect.DeepEqual(back.a, want) {
		t.Fatalf("alert changed:\ngot  %+v\nwant %+v", back.a, want)
	}
	if g, w := string(back.ev.AppendJSON(nil)), string(p.ev.AppendJSON(nil)); g != w {
		t.Fatalf("event changed:\n%s\nwant\n%s", g, w)
	}
	// No event: the record still decodes.
	p.ev = nil
	b = appendPending(nil, p)
	if back, err := decodePending(b); err != nil || back.ev != nil {
		t.Fatalf("without an event: %v, %v", back, err)
	}
}

// FuzzDecodePending: a journal record read from disk may be damaged in
// ways its checksum does not catch (a bug, a hand edit); decoding must
// not panic, and an accepted record has what the writer needs.
func FuzzDecodePending(f *testing.F) {
	d := from(testRule("f"), "203.0.113.9", t0)
	f.Add(appendPending(nil, &pending{a: fromDetection(d), ev: d.Event}))
	f.Add([]byte{0})
	f.Add([]byte{1, 1, 'a', 1, 'r'})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePending(b)
		if err != nil {
			return
		}
		if p.a.ID == "" || p.a.RuleID == "" || p.a.Entities == nil {
			t.Fatalf("accepted a record without id, rule or entities: %+v", p.a)
		}
		if p.ev != nil {
			_ = p.ev.AppendJSON(nil)
		}
	})
}

func countAlerts(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM alerts`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// BenchmarkHandoffRecord encodes the journal record of a brute-force
// detection, as the alert path does once per detection under a wave.
func BenchmarkHandoffRecord(b *testing.B) {
	d := from(testRule("g"), "203.0.113.9", t0)
	d.Event.SetString("user.name", "root")
	d.Event.SetString("message", "Failed password for invalid user root from 203.0.113.9 port 4242 ssh2")
	p := &pending{a: fromDetection(d), ev: d.Event}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendPending(buf[:0], p)
	}
	b.SetBytes(int64(len(buf)))
}
