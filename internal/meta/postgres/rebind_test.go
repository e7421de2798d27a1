package postgres

import (
	"strconv"
	"strings"
	"testing"
)

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, ``},
		{`SELECT 1`, `SELECT 1`},
		{`SELECT ? , ?`, `SELECT $1 , $2`},
		{`a = ? AND b IN (?, ?, ?)`, `a = $1 AND b IN ($2, $3, $4)`},
		{`x = '?' AND y = ?`, `x = '?' AND y = $1`},
		{`x = 'it''s ?' AND y = ?`, `x = 'it''s ?' AND y = $1`},
		{`x = E'\'?' AND y = ?`, `x = E'\'?' AND y = $1`},
		{`x = e'a\\' AND y = ?`, `x = e'a\\' AND y = $1`},
		// Without E a backslash is a character: the literal ends at the
		// second quote.
		{`x = '\' AND y = ?`, `x = '\' AND y = $1`},
		{`"a?b" = ?`, `"a?b" = $1`},
		{`"a""?" = ?`, `"a""?" = $1`},
		{`-- what?` + "\n" + `SELECT ?`, `-- what?` + "\n" + `SELECT $1`},
		{`/* ? /* ? */ ? */ SELECT ?`, `/* ? /* ? */ ? */ SELECT $1`},
		{`$$ ? $$ || ?`, `$$ ? $$ || $1`},
		{`$fn$ ? $$ ? $fn$ || ?`, `$fn$ ? $$ ? $fn$ || $1`},
		{`a$b = ?`, `a$b = $1`},
		{`$1 = ?`, `$1 = $1`},
		{`'unterminated ?`, `'unterminated ?`},
		{`? -`, `$1 -`},
		{`?/?`, `$1/$2`},
		{`CASE WHEN last_hit > ? THEN last_hit ELSE ? END`, `CASE WHEN last_hit > $1 THEN last_hit ELSE $2 END`},
		{`entities LIKE lower(?) ESCAPE '\'`, `entities LIKE lower($1) ESCAPE '\'`},
	}
	for _, tt := range tests {
		if got := Rebind(tt.in); got != tt.want {
			t.Errorf("Rebind(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRebindMany(t *testing.T) {
	q := strings.Repeat("?,", 1000) + "?"
	got, n := rebind(q)
	if n != 1001 || !strings.HasSuffix(got, ",$1001") || !strings.HasPrefix(got, "$1,$2,") {
		t.Errorf("1001 placeholders: got %d, ...%q, want 1001 ending in $1001", n, got[len(got)-12:])
	}
}

// FuzzRebind checks Rebind against its contract on any text: only ?
// characters change, each becomes $n with n counting from 1, and text
// without ? is returned as it is.
func FuzzRebind(f *testing.F) {
	for _, s := range []string{
		`SELECT ` + "`" + `x` + "`" + ` FROM t WHERE a = ? AND b = 'x?' AND "c?" = ?`,
		`INSERT INTO alert_members (alert_id, kind, value, first_seen, last_seen, count) VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT(alert_id, kind, value) DO UPDATE SET count = alert_members.count + excluded.count RETURNING kind`,
		`E'\'' ?`, `$a$ ? $a$ ?`, `/* /* */ ? */ ?`, `-- ?` + "\n?", `'' ? ''''`, `"" ? """"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got, n := rebind(q)
		if !strings.Contains(q, "?") {
			if got != q || n != 0 {
				t.Fatalf("Rebind(%q) = %q, %d: want it unchanged", q, got, n)
			}
			return
		}
		// Walk both: equal except where a ? became $k.
		i, j, k := 0, 0, 0
		for i < len(q) {
			if q[i] == got[j] {
				i++
				j++
				continue
			}
			if q[i] != '?' {
				t.Fatalf("Rebind(%q) = %q: byte %d %q changed", q, got, i, q[i])
			}
			k++
			want := "$" + strconv.Itoa(k)
			if !strings.HasPrefix(got[j:], want) {
				t.Fatalf("Rebind(%q) = %q: placeholder %d at %d is not %s", q, got, k, i, want)
			}
			i++
			j += len(want)
		}
		if j != len(got) || k != n {
			t.Fatalf("Rebind(%q) = %q, %d: %d placeholders walked, %d bytes of %d", q, got, n, k, j, len(got))
		}
		if again, m := rebind(got); m > 0 && strings.Count(q, "?") == n {
			t.Fatalf("Rebind of its own output %q numbered %d more: %q", got, m, again)
		}
	})
}
