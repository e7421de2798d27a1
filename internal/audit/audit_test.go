package audit

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "modernc.org/sqlite"
)

// openDB opens a meta database file the way internal/store/sqlite opens
// meta.db: WAL, a busy timeout, and write transactions that begin
// IMMEDIATE, which is what serialises appends.
func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=page_size(65536)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=temp_store(memory)&_pragma=cache_size(-4096)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newLog(t testing.TB) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "meta.db")
	db := openDB(t, path)
	if onPostgres(t) {
		db = engineHooks.openPath(t, path)
	}
	l, err := Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return l, path
}

func record(t testing.TB, l *Log, n int) {
	t.Helper()
	for i := range n {
		if err := l.Record(context.Background(), "admin", "incident.update", fmt.Sprintf("inc-%d", i), map[string]int{"n": i}, map[string]int{"n": i + 1}); err != nil {
			t.Fatal(err)
		}
	}
}

func verifyOK(t *testing.T, l *Log, want int64) Report {
	t.Helper()
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Break != nil || rep.Entries != want || rep.HeadSeq != want {
		t.Fatalf("Verify: got %+v (break %+v), want OK with %d entries", rep, rep.Break, want)
	}
	return rep
}

// chain reads (seq, prev, hash) of every entry in seq order.
func chain(t *testing.T, db *sql.DB) [][3]string {
	t.Helper()
	rows, err := db.Query(`SELECT seq, prev, hash FROM audit_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][3]string
	for rows.Next() {
		var seq int64
		var prev, h string
		if err := rows.Scan(&seq, &prev, &h); err != nil {
			t.Fatal(err)
		}
		out = append(out, [3]string{fmt.Sprint(seq), prev, h})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRecordChains(t *testing.T) { engines(t, testRecordChains) }

func testRecordChains(t *testing.T) {
	l, _ := newLog(t)
	record(t, l, 3)
	rep := verifyOK(t, l, 3)
	c := chain(t, l.db)
	if got, want := c[0][1], strings.Repeat("0", 64); got != want {
		t.Errorf("seq 1 prev: got %s, want the genesis hash %s", got, want)
	}
	for i := 1; i < len(c); i++ {
		if c[i][1] != c[i-1][2] {
			t.Errorf("seq %s prev: got %s, want seq %s's hash %s", c[i][0], c[i][1], c[i-1][0], c[i-1][2])
		}
	}
	if rep.HeadHash != c[2][2] {
		t.Errorf("head hash: got %s, want %s", rep.HeadHash, c[2][2])
	}
	es, err := l.List(context.Background(), Filter{Target: "inc-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Seq != 2 || es[0].Hash != c[1][2] || string(es[0].After) != `{"n":2}` {
		t.Errorf("List: got %+v, want seq 2 with hash %s and after {\"n\":2}", es, c[1][2])
	}
}

func TestRecordTx(t *testing.T) { engines(t, testRecordTx) }

func testRecordTx(t *testing.T) {
	ctx := context.Background()
	l, _ := newLog(t)
	record(t, l, 1)

	// A rolled-back transaction leaves no entry and no hole in the chain.
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.RecordTx(ctx, tx, Entry{Actor: "vigil", Action: "action.block_ip", Target: "a1"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	// Several entries in one call, with the caller's own write in the
	// same transaction.
	tx, err = l.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE actions (id TEXT)`); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	es := []Entry{
		{ID: "given-id", Time: at, Actor: "vigil", Action: "action.intent", Target: "a2", After: json.RawMessage(`{"x":1}`)},
		{Actor: "vigil", Action: "action.result", Target: "a2", Seq: 99, Hash: "ignored"},
	}
	if err := l.RecordTx(ctx, tx, es...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, l, 3)
	got, err := l.List(ctx, Filter{Target: "a2"})
	if err != nil {
		t.Fatal(err)
	}
	type short struct {
		ID, Action string
		Seq        int64
		Time       time.Time
	}
	var gotShort []short
	for _, e := range got {
		s := short{Action: e.Action, Seq: e.Seq}
		if e.ID == "given-id" {
			s.ID, s.Time = e.ID, e.Time
		}
		gotShort = append(gotShort, s)
	}
	sort.Slice(gotShort, func(i, j int) bool { return gotShort[i].Seq < gotShort[j].Seq })
	want := []short{{ID: "given-id", Action: "action.intent", Seq: 2, Time: at}, {Action: "action.result", Seq: 3}}
	if d := cmp.Diff(want, gotShort); d != "" {
		t.Errorf("entries of the transaction (-want +got):\n%s", d)
	}
	if err := l.RecordTx(ctx, nil); err != nil {
		t.Errorf("RecordTx with no entries: got %v, want nil", err)
	}
}

// tamperDB opens a second connection to the log's file, as someone with
// write access to the data directory would, with the triggers that keep
// the log append-only dropped.
func tamperDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, on := openDB(t, path), ""
	if onPostgres(t) {
		db, on = engineHooks.openPath(t, path), " ON audit_log"
	}
	for _, tr := range []string{"audit_log_no_update", "audit_log_no_delete"} {
		if _, err := db.Exec(`DROP TRIGGER ` + tr + on); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestAppendOnly(t *testing.T) { engines(t, testAppendOnly) }

func testAppendOnly(t *testing.T) {
	l, _ := newLog(t)
	record(t, l, 2)
	tests := []struct{ name, stmt string }{
		{"update", `UPDATE audit_log SET actor = 'mallory' WHERE seq = 1`},
		{"update chain columns", `UPDATE audit_log SET seq = 5 WHERE seq = 2`},
		{"delete one", `DELETE FROM audit_log WHERE seq = 1`},
		{"delete all", `DELETE FROM audit_log`},
		{"upsert", `INSERT INTO audit_log (id, time, actor, action, target, seq, prev, hash) SELECT id, time, actor, action, target, seq, prev, hash FROM audit_log WHERE seq = 1
			ON CONFLICT (id) DO UPDATE SET actor = 'mallory'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.db.Exec(tt.stmt)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("got error %v, want the append-only trigger's", err)
			}
		})
	}
	verifyOK(t, l, 2)
}

func TestVerifyTamper(t *testing.T) { engines(t, testVerifyTamper) }

func testVerifyTamper(t *testing.T) {
	tests := []struct {
		name   string
		stmts  []string
		seq    int64
		reason string
		// entries: how many verify before the break.
		entries int64
		// rehash > 0: store the true hash of that seq after stmts.
		rehash int64
		// keepTriggers tampers through the log's own connection.
		keepTriggers bool
		// sqlite marks a tampering PostgreSQL refuses outright (it has
		// no REPLACE; seq is NOT NULL there): no case for that engine.
		sqlite bool
	}{
		{name: "actor changed", stmts: []string{`UPDATE audit_log SET actor = 'mallory' WHERE seq = 5`}, seq: 5, reason: BreakHash, entries: 4},
		{name: "after changed", stmts: []string{`UPDATE audit_log SET after = '{"n":0}' WHERE seq = 5`}, seq: 5, reason: BreakHash, entries: 4},
		{name: "time changed", stmts: []string{`UPDATE audit_log SET time = time + 1 WHERE seq = 1`}, seq: 1, reason: BreakHash, entries: 0},
		{name: "hash malformed", stmts: []string{`UPDATE audit_log SET hash = 'zz' WHERE seq = 5`}, seq: 5, reason: BreakHash, entries: 4},
		{name: "middle deleted", stmts: []string{`DELETE FROM audit_log WHERE seq = 5`}, seq: 5, reason: BreakGap, entries: 4},
		{name: "first deleted", stmts: []string{`DELETE FROM audit_log WHERE seq = 1`}, seq: 1, reason: BreakGap, entries: 0},
		{
			name:  "deleted and renumbered",
			stmts: []string{`DELETE FROM audit_log WHERE seq = 5`, `UPDATE audit_log SET seq = seq - 1 WHERE seq > 5`},
			seq:   5, reason: BreakPrev, entries: 4,
		},
		{
			name:  "prev rewritten",
			stmts: []string{`UPDATE audit_log SET prev = (SELECT hash FROM audit_log WHERE seq = 3) WHERE seq = 5`},
			seq:   5, reason: BreakPrev, entries: 4,
		},
		{
			name:  "hash replaced by another entry's",
			stmts: []string{`UPDATE audit_log SET actor = 'mallory', hash = (SELECT hash FROM audit_log WHERE seq = 4) WHERE seq = 5`},
			seq:   5, reason: BreakHash, entries: 4,
		},
		{
			// Changing an entry and storing its true new hash moves the
			// break to the next entry, whose prev no longer matches.
			name:   "changed and rehashed",
			stmts:  []string{`UPDATE audit_log SET actor = 'mallory' WHERE seq = 5`},
			rehash: 5,
			seq:    6, reason: BreakPrev, entries: 5,
		},
		{
			// REPLACE gets past the delete trigger without dropping it.
			name: "replaced without dropping the triggers",
			stmts: []string{`INSERT OR REPLACE INTO audit_log (id, time, actor, action, target, before, after, seq, prev, hash)
				SELECT id, time, 'mallory', action, target, before, after, seq, prev, hash FROM audit_log WHERE seq = 3`},
			keepTriggers: true,
			seq:          3, reason: BreakHash, entries: 2, sqlite: true,
		},
		{
			name:  "row inserted without seq",
			stmts: []string{`INSERT INTO audit_log (id, time, actor, action, target) VALUES ('x', 1, 'mallory', 'user.create', 'u')`},
			seq:   11, reason: BreakUnchained, entries: 10, sqlite: true,
		},
		{
			name:  "seq below 1",
			stmts: []string{`UPDATE audit_log SET seq = 0 WHERE seq = 1`},
			seq:   0, reason: BreakGap, entries: 0,
		},
	}
	for _, tt := range tests {
		if tt.sqlite && onPostgres(t) {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			l, path := newLog(t)
			record(t, l, 10)
			db := l.db
			if !tt.keepTriggers {
				db = tamperDB(t, path)
			}
			for _, s := range tt.stmts {
				if _, err := db.Exec(s); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}
			if tt.rehash > 0 {
				rehash(t, db, tt.rehash, false)
			}
			rep, err := l.Verify(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.Break == nil {
				t.Fatalf("got OK %+v, want a break at seq %d", rep, tt.seq)
			}
			if rep.Break.Seq != tt.seq || rep.Break.Reason != tt.reason || rep.Entries != tt.entries {
				t.Errorf("got break at seq %d (%s) after %d entries, want seq %d (%s) after %d: %s",
					rep.Break.Seq, rep.Break.Reason, rep.Entries, tt.seq, tt.reason, tt.entries, rep.Break.Message)
			}
			if !strings.Contains(rep.Break.Message, fmt.Sprintf("seq %d", tt.seq)) && tt.reason != BreakUnchained {
				t.Errorf("message %q does not name seq %d", rep.Break.Message, tt.seq)
			}
		})
	}
}

// rehash stores the true hash of entry seq as it now reads, as an attacker
// who knows the encoding would; with rest, it also rewrites every later
// entry's prev and hash so that the chain holds again.
func rehash(t *testing.T, db *sql.DB, seq int64, rest bool) {
	t.Helper()
	var prevHex string
	if err := db.QueryRow(`SELECT prev FROM audit_log WHERE seq = ?`, seq).Scan(&prevHex); err != nil {
		t.Fatal(err)
	}
	prev := mustHash(t, prevHex)
	for ; ; seq++ {
		var r row
		var before, after string
		err := db.QueryRow(`SELECT seq, id, time, actor, action, target, before, after FROM audit_log WHERE seq = ?`, seq).
			Scan(&r.seq, &r.id, &r.time, &r.actor, &r.action, &r.target, &before, &after)
		if err == sql.ErrNoRows {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		r.before, r.after = []byte(before), []byte(after)
		h, _ := r.hash(prev, nil)
		if _, err := db.Exec(`UPDATE audit_log SET prev = ?, hash = ? WHERE seq = ?`, hex.EncodeToString(prev[:]), hex.EncodeToString(h[:]), seq); err != nil {
			t.Fatal(err)
		}
		prev = h
		if !rest {
			return
		}
	}
}

// TestVerifyNeedsAnchor records what the chain alone cannot show, and what
// an anchor (an earlier report's head, kept elsewhere) does: dropping the
// newest entries, or rewriting an entry and every one after it, leaves a
// chain that verifies, but not through the anchor.
func TestVerifyNeedsAnchor(t *testing.T) { engines(t, testVerifyNeedsAnchor) }

func testVerifyNeedsAnchor(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(t *testing.T, db *sql.DB)
		entries int64 // that verify without the anchor
		msg     string
	}{
		{"truncated", func(t *testing.T, db *sql.DB) {
			if _, err := db.Exec(`DELETE FROM audit_log WHERE seq > 8`); err != nil {
				t.Fatal(err)
			}
		}, 8, "seq 10: missing, but the anchor recorded it"},
		{"rewritten to the end", func(t *testing.T, db *sql.DB) {
			if _, err := db.Exec(`UPDATE audit_log SET actor = 'mallory' WHERE seq = 8`); err != nil {
				t.Fatal(err)
			}
			rehash(t, db, 8, true)
		}, 10, "but the anchor recorded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			l, path := newLog(t)
			record(t, l, 10)
			head := verifyOK(t, l, 10)
			anchor := Anchor{Seq: head.HeadSeq, Hash: head.HeadHash}
			// Untouched, the chain passes through its anchors.
			if rep, err := l.Verify(ctx, anchor, Anchor{Seq: 3, Hash: chain(t, l.db)[2][2]}); err != nil || !rep.OK {
				t.Fatalf("Verify with anchors before tampering: got %+v, %v, want OK", rep, err)
			}
			tt.tamper(t, tamperDB(t, path))
			verifyOK(t, l, tt.entries)
			rep, err := l.Verify(ctx, anchor)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.Break == nil || rep.Break.Seq != 10 || rep.Break.Reason != BreakAnchor || !strings.Contains(rep.Break.Message, tt.msg) {
				t.Errorf("Verify with the anchor: got %+v (break %+v), want an anchor break at seq 10 saying %q", rep, rep.Break, tt.msg)
			}
		})
	}
}

func TestParseAnchor(t *testing.T) {
	h := strings.Repeat("ab", 32)
	tests := []struct {
		in      string
		want    Anchor
		wantErr bool
	}{
		{in: "12:" + h, want: Anchor{Seq: 12, Hash: h}},
		{in: "12:" + strings.ToUpper(h), want: Anchor{Seq: 12, Hash: h}},
		{in: "0:" + h, wantErr: true},
		{in: "x:" + h, wantErr: true},
		{in: h, wantErr: true},
		{in: "12:" + h[:62], wantErr: true},
		{in: "12:" + h[:62] + "zz", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAnchor(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// oldSchema is audit_log as main created it at cc4d348, before the chain.
const oldSchema = `CREATE TABLE IF NOT EXISTS audit_log (
		id TEXT PRIMARY KEY,
		time INTEGER NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		target TEXT NOT NULL,
		before TEXT NOT NULL DEFAULT '',
		after TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log(time);
	CREATE INDEX IF NOT EXISTS audit_log_target ON audit_log(target, time);`

// insertOld writes n rows as the old Record did, with times that repeat
// (three rows a time, so that pages of adoption end inside a run of equal
// times) and ids in no particular order. It returns the ids in (time, id)
// order, the order adoption numbers them in.
func insertOld(t *testing.T, db *sql.DB, n, from int) []string {
	t.Helper()
	type key struct {
		t  int64
		id string
	}
	var keys []key
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < from+n; i++ {
		k := key{int64(1_700_000_000_000_000_000 + (i/3)*1000), fmt.Sprintf("%08x", uint32(i)*2654435761)}
		keys = append(keys, k)
		if _, err := tx.Exec(`INSERT INTO audit_log (id, time, actor, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			k.id, k.t, "admin", "token.create", fmt.Sprint("tok-", i), "", fmt.Sprintf(`{"i":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].t != keys[j].t {
			return keys[i].t < keys[j].t
		}
		return keys[i].id < keys[j].id
	})
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.id
	}
	return ids
}

func idsBySeq(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT id FROM audit_log WHERE seq IS NOT NULL ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestMigrateUpgrade(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "meta.db"))
	if _, err := db.Exec(oldSchema); err != nil {
		t.Fatal(err)
	}
	// More than a page of adoption.
	want := insertOld(t, db, 2*adoptPage+500, 0)

	// Verify says what is wrong with a log that has no chain yet.
	if _, err := Verify(ctx, db); err != ErrNotChained {
		t.Errorf("Verify before migrating: got %v, want ErrNotChained", err)
	}

	// The metadata store's path: Migrate in its transaction.
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, idsBySeq(t, db)); d != "" {
		t.Errorf("adopted order is not (time, id) (-want +got):\n%s", d)
	}
	l, err := Open(ctx, db) // Migrate again: nothing changes
	if err != nil {
		t.Fatal(err)
	}
	before := chain(t, db)
	verifyOK(t, l, int64(len(want)))

	// Open again, append, and the old entries keep their place.
	if l, err = Open(ctx, db); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(before, chain(t, db)); d != "" {
		t.Errorf("a second Migrate changed the chain (-want +got):\n%s", d)
	}
	record(t, l, 2)
	n := int64(len(want)) + 2
	verifyOK(t, l, n)

	// An older binary writing to the upgraded data directory leaves rows
	// without seq: Verify reports them, the next Open chains them after
	// the tail.
	more := insertOld(t, db, 5, 100_000)
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Break == nil || rep.Break.Reason != BreakUnchained || rep.Break.Seq != n+1 || rep.Entries != n {
		t.Fatalf("Verify with unchained rows: got %+v, want an unchained break at seq %d", rep, n+1)
	}
	if l, err = Open(ctx, db); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, l, n+5)
	if d := cmp.Diff(more, idsBySeq(t, db)[n:]); d != "" {
		t.Errorf("rows adopted later (-want +got):\n%s", d)
	}
	if _, err := db.Exec(`UPDATE audit_log SET actor = 'x' WHERE seq = 1`); err == nil {
		t.Error("update after adoption: got nil, want the append-only trigger's error")
	}
}

func TestMigrateFresh(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "meta.db"))
	if _, err := Verify(ctx, db); err != ErrNoLog {
		t.Errorf("Verify of an empty database: got %v, want ErrNoLog", err)
	}
	for range 2 {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if err := Migrate(ctx, tx); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Verify(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Report{OK: true}); rep != want {
		t.Errorf("Verify of an empty log: got %+v, want %+v", rep, want)
	}
}

// TestQueryPlans checks that the tail lookup of every append and the walk
// of Verify go through the seq index rather than scanning or sorting the
// log.
func TestQueryPlans(t *testing.T) {
	l, _ := newLog(t)
	record(t, l, 3)
	tests := []struct{ name, query, want string }{
		{"tail", `SELECT seq, hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1`, "USING INDEX audit_log_seq"},
		{"verify", `SELECT seq, id, time, actor, action, target, before, after, prev, hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq`, "USING INDEX audit_log_seq"},
		{"unchained", `SELECT count(*) FROM audit_log WHERE seq IS NULL`, "USING COVERING INDEX audit_log_seq"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := l.db.Query(`EXPLAIN QUERY PLAN ` + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			got := strings.Join(plan, "; ")
			if !strings.Contains(got, tt.want) || strings.Contains(got, "TEMP B-TREE") {
				t.Errorf("plan: got %q, want %q and no sort", got, tt.want)
			}
		})
	}
}

func TestRecordConcurrent(t *testing.T) { engines(t, testRecordConcurrent) }

func testRecordConcurrent(t *testing.T) {
	ctx := context.Background()
	l, _ := newLog(t)
	const workers, each = 16, 25
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				var err error
				if i%5 == 0 {
					// Some appends of two entries within a transaction
					// of the caller's, beside single Records.
					var tx *sql.Tx
					if tx, err = l.db.BeginTx(ctx, nil); err == nil {
						err = l.RecordTx(ctx, tx, Entry{Actor: fmt.Sprint("w", w), Action: "action.intent", Target: fmt.Sprint(i)},
							Entry{Actor: fmt.Sprint("w", w), Action: "action.result", Target: fmt.Sprint(i)})
						if err == nil {
							err = tx.Commit()
						} else {
							tx.Rollback()
						}
					}
				} else {
					err = l.Record(ctx, fmt.Sprint("w", w), "incident.update", fmt.Sprint(i), nil, map[string]int{"i": i})
				}
				if err != nil {
					failed.Add(1)
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
	verifyOK(t, l, workers*(each+each/5))
}

// TestVerifyLarge verifies 100,000 entries and checks that the heap stays
// small while it does: Verify streams, so its memory does not grow with the
// log (kept in full, these entries would take more than 60 MB).
func TestVerifyLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 entries")
	}
	ctx := context.Background()
	l, _ := newLog(t)
	const n, batch = 100_000, 5000
	after := json.RawMessage(`{"note":"` + strings.Repeat("x", 300) + `"}`)
	es := make([]Entry, batch)
	for i := 0; i < n; i += batch {
		for j := range es {
			es[j] = Entry{Actor: "vigil", Action: "action.block_ip", Target: fmt.Sprint("198.51.100.", (i+j)%256), After: after}
		}
		tx, err := l.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.RecordTx(ctx, tx, es...); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	es = nil
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	// Sample the heap while Verify runs.
	done := make(chan struct{})
	var peak atomic.Uint64
	var sampler sync.WaitGroup
	sampler.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	verifyOK(t, l, n)
	close(done)
	sampler.Wait()
	const bound = 24 << 20
	grew := peak.Load() - min(peak.Load(), base.HeapAlloc)
	t.Logf("heap grew by %.1f MiB while verifying %d entries", float64(grew)/(1<<20), n)
	if grew > bound {
		t.Errorf("heap grew by %d MiB while verifying, want at most %d MiB", grew>>20, bound>>20)
	}
}

func BenchmarkRecord(b *testing.B) {
	l, _ := newLog(b)
	ctx := context.Background()
	after := map[string]string{"status": "investigating", "assignee": "alice"}
	for b.Loop() {
		if err := l.Record(ctx, "alice", "incident.update", "inc-1", nil, after); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordTx appends 100 entries a transaction, as a caller that
// records a batch of actions does: the tail is read once a batch.
func BenchmarkRecordTx(b *testing.B) {
	l, _ := newLog(b)
	ctx := context.Background()
	es := make([]Entry, 100)
	for i := range es {
		es[i] = Entry{Actor: "vigil", Action: "action.block_ip", Target: fmt.Sprint("198.51.100.", i), After: json.RawMessage(`{"status":"done"}`)}
	}
	for b.Loop() {
		tx, err := l.db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.RecordTx(ctx, tx, es...); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(es)), "ns/entry")
}
