package vlstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/store"
)

var t0 = time.Now().UTC().Add(-time.Hour).Truncate(time.Second)

func genEvents(n, start int) []*event.Event {
	evs := make([]*event.Event, n)
	for i := range evs {
		k := start + i
		ev := &event.Event{Time: t0.Add(time.Duration(k) * time.Millisecond), Input: "test", Raw: "line " + strconv.Itoa(k)}
		ev.Set("host.name", event.String("web-"+strconv.Itoa(k%3)))
		ev.Set("event.dataset", event.String("sshd"))
		ev.Set("user.name", event.String("u"+strconv.Itoa(k)))
		ev.Set("seq", event.Int(int64(k)))
		evs[i] = ev
	}
	return evs
}

func count(t testing.TB, db *DB) int64 {
	t.Helper()
	res, err := db.Search(context.Background(), store.SearchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Total
}

// TestReopen: events acknowledged before Close are there after reopening,
// with their fields and types.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Append(ctx, genEvents(500, 0)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Search(ctx, store.SearchRequest{}); err != store.ErrClosed {
		t.Errorf("Search after Close: got %v, want ErrClosed", err)
	}
	if !Holds(dir) {
		t.Errorf("Holds(%q) = false after Open", dir)
	}
	db = openTest(t, dir, Options{})
	if got := count(t, db); got != 500 {
		t.Errorf("events after reopen: got %d, want 500", got)
	}
	res, err := db.Search(ctx, store.SearchRequest{Query: mustParse(t, "seq:42")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 1 {
		t.Fatalf("seq:42: got %d events, want 1", len(res.Events))
	}
	v, _ := res.Events[0].Event.GetName("seq")
	if v.Kind != event.KindInt || v.Num != 42 || res.Events[0].Event.Raw != "line 42" {
		t.Errorf("seq:42: got %+v raw %q, want int 42 and raw %q", v, res.Events[0].Event.Raw, "line 42")
	}
	st, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != 500 || st.Partitions < 1 || st.Bytes <= 0 {
		t.Errorf("Stats: got %+v, want 500 events in at least one partition", st)
	}
}

// TestKill9 appends from a child process and kills it with SIGKILL: every
// event whose Append returned before the kill is there after reopening.
func TestKill9(t *testing.T) {
	if dir := os.Getenv("VLSTORE_KILL9_DIR"); dir != "" {
		kill9Child(dir)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
	cmd.Env = append(os.Environ(), "VLSTORE_KILL9_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	acked := 0
	// Wait for the child (a real process) to acknowledge some batches,
	// then kill it while it is appending the next ones.
	for sc.Scan() {
		n, ok := strings.CutPrefix(sc.Text(), "acked ")
		if !ok {
			continue
		}
		acked, _ = strconv.Atoi(n)
		if acked >= 2000 {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if acked < 2000 {
		t.Fatalf("child acknowledged %d events before it ended, want 2000", acked)
	}
	db := openTest(t, dir, Options{})
	if got := count(t, db); got < int64(acked) {
		t.Errorf("after kill -9: got %d events, want at least the %d acknowledged", got, acked)
	}
	noDuplicates(t, db)
}

// noDuplicates checks that no seq value is stored twice.
func noDuplicates(t *testing.T, db *DB) {
	t.Helper()
	res, err := db.Search(context.Background(), store.SearchRequest{Query: mustParse(t, "| stats count() as n by seq | sort -n | limit 1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 || res.Rows[0][1] != int64(1) {
		t.Errorf("most frequent seq: got %v, want a count of 1", res.Rows)
	}
}

// TestReplayNoDuplicates: a write-ahead log whose rows the engine already
// made durable (a crash between the engine's flush and the checkpoint's
// deletion of the log) is replayed without storing any event twice.
func TestReplayNoDuplicates(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := Open(ctx, dir, Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Append(ctx, genEvents(300, 0)); err != nil {
		t.Fatal(err)
	}
	// The engine's rows reach its files; the log is kept aside as a crash
	// would leave it, and put back after Close deleted it.
	db.appendMu.Lock()
	err = db.sync(db.days)
	db.appendMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	walDir := filepath.Join(dir, walDirName)
	kept := t.TempDir()
	if err := os.CopyFS(kept, os.DirFS(walDir)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if seqs, _ := segments(walDir); len(seqs) != 0 {
		t.Fatalf("segments after Close: got %d, want 0", len(seqs))
	}
	if err := os.CopyFS(walDir, os.DirFS(kept)); err != nil {
		t.Fatal(err)
	}
	db = openTest(t, dir, Options{})
	if got := count(t, db); got != 300 {
		t.Errorf("after replay: got %d events, want 300", got)
	}
	noDuplicates(t, db)
}

// TestReplayTorn: a record cut short by a crash ends its segment; the
// complete records before it are replayed.
func TestReplayTorn(t *testing.T) {
	dir := t.TempDir()
	walDir := filepath.Join(dir, walDirName)
	w, err := openWAL(walDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range genEvents(3, 0) {
		w.add("id"+strconv.Itoa(i), event.AppendBinary(nil, ev, ev.Timestamp()))
	}
	if err := w.commit(); err != nil {
		t.Fatal(err)
	}
	// Half a fourth record, as a crash in the middle of a write leaves it.
	ev := genEvents(1, 3)[0]
	w.add("id3", event.AppendBinary(nil, ev, ev.Timestamp()))
	if _, err := w.f.Write(w.buf[:len(w.buf)/2]); err != nil {
		t.Fatal(err)
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	db := openTest(t, dir, Options{})
	if got := count(t, db); got != 3 {
		t.Errorf("after replaying a torn log: got %d events, want 3", got)
	}
}

func kill9Child(dir string) {
	ctx := context.Background()
	db, err := Open(ctx, dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for n := 0; ; n += 250 {
		if err := db.Append(ctx, genEvents(250, n)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Printf("acked %d\n", n+250)
	}
}
