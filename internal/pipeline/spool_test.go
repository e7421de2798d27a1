package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
)

// sampleRecords are spool records with every field set in some of them.
func sampleRecords() []spoolRecord {
	at := time.Date(2025, 11, 22, 4, 16, 49, 123456789, time.UTC)
	return []spoolRecord{
		{Data: []byte("<38>Nov 22 04:16:49 web-1 sshd[42]: Failed password for root from 10.0.0.1 port 22 ssh2"), Format: ingest.FormatSyslog,
			Input: "syslog-tcp", Received: at, Peer: "10.0.0.9:51234", Tags: []string{"edge"}},
		{Data: []byte(`{"message":"hello","user":{"name":"alice"}}`), Format: ingest.FormatJSON, Input: "hec", Received: at.Add(time.Second),
			Fields: map[string]string{"host.name": "h1", "log.file.path": "/var/log/x"}, Detected: true},
		{Data: []byte("binary \x00\xff\xfe and a newline\n"), Format: ingest.FormatText, Input: "file", Received: at, Truncated: true},
		{Data: []byte{}, Input: "http", Received: at},
	}
}

func encodeSpool(t testing.TB, recs []spoolRecord) ([]byte, []int) {
	t.Helper()
	buf := []byte(spoolMagic)
	ends := []int{len(buf)}
	for i := range recs {
		var err error
		if buf, err = appendRecord(buf, &recs[i]); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, len(buf))
	}
	return buf, ends
}

func readAll(data []byte) ([]spoolRecord, error) {
	var got []spoolRecord
	_, err := readSpool(bytes.NewReader(data), func(rec *spoolRecord) error {
		got = append(got, *rec)
		return nil
	})
	return got, err
}

// normalize makes an empty Data and a nil one compare equal (JSON
// round-trips an empty byte slice as empty, not nil).
var normalize = cmp.Transformer("data", func(b []byte) string { return string(b) })

func TestSpoolRoundTrip(t *testing.T) {
	recs := sampleRecords()
	data, _ := encodeSpool(t, recs)
	got, err := readAll(data)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(recs, got, normalize); d != "" {
		t.Errorf("records differ (-want +got):\n%s", d)
	}
}

// TestSpoolTruncatedAnywhere cuts a valid spool at every byte: the reader
// delivers exactly the records wholly before the cut, and reports damage
// unless the cut falls on a record boundary.
func TestSpoolTruncatedAnywhere(t *testing.T) {
	recs := sampleRecords()
	data, ends := encodeSpool(t, recs)
	for cut := 0; cut <= len(data); cut++ {
		got, err := readAll(data[:cut])
		whole := 0
		for i, e := range ends[1:] {
			if e <= cut {
				whole = i + 1
			}
		}
		if len(got) != whole {
			t.Fatalf("cut at %d: got %d records, want %d", cut, len(got), whole)
		}
		boundary := cut == 0
		for _, e := range ends {
			boundary = boundary || e == cut
		}
		if boundary && err != nil {
			t.Fatalf("cut at record boundary %d: got %v, want no error", cut, err)
		}
		if !boundary && !errors.Is(err, ErrCorruptSpool) {
			t.Fatalf("cut at %d: got %v, want ErrCorruptSpool", cut, err)
		}
	}
}

func TestSpoolDamage(t *testing.T) {
	recs := sampleRecords()
	data, ends := encodeSpool(t, recs)
	tests := []struct {
		name    string
		mod     func([]byte) []byte
		want    int
		wantErr string
	}{
		{"flipped payload byte in record 3", func(b []byte) []byte { b[ends[2]+10] ^= 0x40; return b }, 2, "record 3 at byte"},
		{"bad checksum in record 1", func(b []byte) []byte { b[ends[0]+4] ^= 1; return b }, 0, "checksum mismatch"},
		{"huge length in record 2", func(b []byte) []byte { copy(b[ends[1]:], []byte{0xff, 0xff, 0xff, 0xff}); return b }, 1, "over the limit"},
		{"garbage appended", func(b []byte) []byte { return append(b, "garbage"...) }, len(recs), "record header"},
		{"not a spool", func([]byte) []byte { return []byte("hello world, not a spool") }, 0, "not a Vigil spool"},
		{"short header", func(b []byte) []byte { return b[:5] }, 0, "not a Vigil spool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(tt.mod(bytes.Clone(data)))
			if len(got) != tt.want {
				t.Errorf("got %d records, want %d", len(got), tt.want)
			}
			if !errors.Is(err, ErrCorruptSpool) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %v, want ErrCorruptSpool containing %q", err, tt.wantErr)
			}
			if len(got) > 0 {
				if d := cmp.Diff(recs[:len(got)], got, normalize); d != "" {
					t.Errorf("good records differ (-want +got):\n%s", d)
				}
			}
		})
	}
}

// FuzzReadSpool: whatever the bytes, reading a spool never panics, every
// record it delivers came before the error it reports, and a damaged file
// is reported as ErrCorruptSpool.
func FuzzReadSpool(f *testing.F) {
	data, ends := encodeSpool(f, sampleRecords())
	f.Add(data)
	f.Add(data[:ends[2]+3])
	f.Add([]byte(spoolMagic))
	f.Add([]byte{})
	bad := bytes.Clone(data)
	bad[ends[1]+9] ^= 0xff
	f.Add(bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		calls := 0
		n, err := readSpool(bytes.NewReader(b), func(rec *spoolRecord) error {
			calls++
			return nil
		})
		if n != calls {
			t.Fatalf("readSpool returned %d, delivered %d", n, calls)
		}
		if err != nil && !errors.Is(err, ErrCorruptSpool) {
			t.Fatalf("got %v, want nil or ErrCorruptSpool", err)
		}
		// Good records survive damage after them.
		if err == nil && len(b) > 0 {
			m, err := readSpool(bytes.NewReader(append(bytes.Clone(b), 0xde, 0xad)), func(*spoolRecord) error { return nil })
			if m != n || !errors.Is(err, ErrCorruptSpool) {
				t.Fatalf("with a torn tail: got %d records, %v; want %d and ErrCorruptSpool", m, err, n)
			}
		}
	})
}

// recordingDetector counts the events it sees by raw text.
type recordingDetector struct {
	mu   sync.Mutex
	seen map[string]int
}

func (d *recordingDetector) Detect(ev *event.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil {
		d.seen = map[string]int{}
	}
	d.seen[ev.Raw]++
}

// TestCloseSpoolsAndReplayStores: a store that refuses everything until
// the shutdown deadline leaves its messages in the spool; producers are
// told they are durable; the next pipeline replays them into a working
// store, every message once, and removes the spool file once they are
// stored. Detection sees each message once across both runs. The offered
// batch is either withdrawn (the store refused it: its producer is told,
// and none of it is stored) or spooled with the rest (done(nil), stored
// once).
func TestCloseSpoolsAndReplayStores(t *testing.T) {
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	down := &gatedStore{ok: make(chan struct{}), refused: make(chan struct{})}
	det1 := &recordingDetector{}
	p := New(Config{QueueSize: 2000, Workers: 2, Writers: 2, BatchSize: 100, FlushInterval: time.Millisecond, SpoolDir: spoolDir}, lineParser{}, down, nil, nil)
	p.SetDetector(det1)
	const total = 1000
	// Offered first: once the store has refused a batch, Offer refuses.
	done := make(chan error, 1)
	if err := p.Offer(raws("offered-", 10), func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < total-10; i += 90 {
		if err := p.Enqueue(context.Background(), raws(fmt.Sprintf("e%04d-", i), 90)); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until the store has refused a batch, so the spool holds both
	// parsed (detected) and unparsed messages.
	select {
	case <-down.refused:
	case <-time.After(10 * time.Second):
		t.Fatal("the store was never asked to store")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	offeredErr := <-done
	if offeredErr != nil && !errors.Is(offeredErr, ingest.ErrUnavailable) {
		t.Fatalf("done for the offered batch: %v, want nil (spooled) or ErrUnavailable (withdrawn)", offeredErr)
	}
	want := total
	if offeredErr != nil {
		want = total - 10
	}
	files, err := spoolFiles(spoolDir)
	if err != nil || len(files) != 1 {
		t.Fatalf("spool files %v, %v; want one", files, err)
	}

	up := &memStore{}
	det2 := &recordingDetector{}
	p2 := New(Config{QueueSize: 100, BatchSize: 64, FlushInterval: time.Millisecond, SpoolDir: spoolDir}, lineParser{}, up, nil, nil)
	p2.SetDetector(det2)
	nf, nm, err := p2.Replay(context.Background())
	if err != nil || nf != 1 || nm != want {
		t.Fatalf("Replay: %d files, %d messages, %v; want 1, %d, nil", nf, nm, err, want)
	}
	if err := p2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range up.msgs {
		got[m]++
	}
	if len(got) != want || len(up.msgs) != want {
		t.Fatalf("stored %d messages (%d distinct), want %d once each", len(up.msgs), len(got), want)
	}
	for m := range got {
		if n := det1.seen[m] + det2.seen[m]; n != 1 {
			t.Errorf("%q detected %d times across the restart, want 1", m, n)
		}
	}
	if files, _ := spoolFiles(spoolDir); len(files) != 0 {
		t.Errorf("spool files left after replay: %v", files)
	}
}

// TestReplayKeepsGoodRecordsOfDamagedSpool: the readable records of a
// spool with a torn tail are stored, and the file is set aside, not
// replayed again.
func TestReplayKeepsGoodRecordsOfDamagedSpool(t *testing.T) {
	dir := t.TempDir()
	recs := sampleRecords()
	data, ends := encodeSpool(t, recs)
	path := filepath.Join(dir, "20250101T000000.000000000Z-1"+spoolExt)
	if err := os.WriteFile(path, data[:ends[3]-2], 0o600); err != nil {
		t.Fatal(err)
	}
	st := &memStore{}
	p := New(Config{FlushInterval: time.Millisecond, SpoolDir: dir}, lineParser{}, st, nil, nil)
	if _, n, err := p.Replay(context.Background()); err != nil || n != 2 {
		t.Fatalf("Replay: %d messages, %v; want 2, nil", n, err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{string(recs[0].Data), string(recs[1].Data)}
	got := append([]string(nil), st.msgs...)
	sort.Strings(got)
	sort.Strings(want)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stored (-want +got):\n%s", d)
	}
	if _, err := os.Stat(path + spoolCorruptExt); err != nil {
		t.Errorf("damaged spool not set aside: %v", err)
	}
	if files, _ := spoolFiles(dir); len(files) != 0 {
		t.Errorf("spool files left to replay: %v", files)
	}
}

// TestBeginShutdownSpillsWhatDoesNotFit: from BeginShutdown's spill time
// on, an Enqueue that finds the queue full, or was waiting for room,
// returns at once with its messages in the spool, so a draining input does
// not wait for the store.
func TestBeginShutdownSpillsWhatDoesNotFit(t *testing.T) {
	dir := t.TempDir()
	st := &gatedStore{ok: make(chan struct{})}
	p := New(Config{QueueSize: 4, Workers: 1, Writers: 1, BatchSize: 4, FlushInterval: time.Millisecond, SpoolDir: dir}, lineParser{}, st, nil, nil)
	if err := p.Enqueue(context.Background(), raws("a", 4)); err != nil {
		t.Fatal(err)
	}
	waiter := make(chan error, 1)
	go func() { waiter <- p.Enqueue(context.Background(), raws("b", 2)) }()
	p.BeginShutdown(time.Now())
	late := make(chan error, 1)
	go func() { late <- p.Enqueue(context.Background(), raws("c", 2)) }()
	for name, ch := range map[string]chan error{"waiting Enqueue": waiter, "Enqueue after BeginShutdown": late} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s still blocked on a full queue after BeginShutdown", name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	files, _ := spoolFiles(dir)
	if len(files) != 1 {
		t.Fatalf("spool files: %v, want one", files)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	if _, err := readSpool(f, func(rec *spoolRecord) error { got = append(got, string(rec.Data)); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if want := []string{"a0", "a1", "a2", "a3", "b0", "b1", "c0", "c1"}; !cmp.Equal(got, want) {
		t.Errorf("spooled %v, want %v", got, want)
	}
}
