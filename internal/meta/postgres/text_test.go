package postgres

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vigilsec/vigil/internal/meta"
)

func TestText(t *testing.T) {
	tests := []struct{ in, stored string }{
		{"", ""},
		{"alice", "alice"},
		{"héllo ✓", "héllo ✓"},
		{"a\x00b", "a\uE000\uE100b"},
		{"\xff", "\uE000\uE1ff"},
		{"\xc3", "\uE000\uE1c3"},
		{"x\uE000y", "x\uE000\uE000y"},
		{"\uE100", "\uE100"},
		{"\x00\xfe\uE000", "\uE000\uE100\uE000\uE1fe\uE000\uE000"},
	}
	for _, tt := range tests {
		got := encodeText(tt.in)
		if got != tt.stored {
			t.Errorf("encodeText(%q): got %q, want %q", tt.in, got, tt.stored)
		}
		if back := decodeText(got); back != tt.in {
			t.Errorf("decodeText(%q): got %q, want %q", got, back, tt.in)
		}
	}
	// Text another client wrote with a bare escape rune reads as written.
	for _, s := range []string{"\uE000", "a\uE000b", "\uE000\uE200"} {
		if got := decodeText(s); got != s {
			t.Errorf("decodeText(%q): got %q, want it unchanged", s, got)
		}
	}
}

// FuzzText: any string is stored as valid UTF-8 without NUL and reads
// back exactly; text that needs no encoding is stored as it is.
func FuzzText(f *testing.F) {
	for _, s := range []string{"", "alice", "a\x00b", "\xff\xfe", "\uE000", "\uE000\uE1ff", "Failed password for \x1b[31mroot\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := encodeText(s)
		if !utf8.ValidString(enc) || strings.IndexByte(enc, 0) >= 0 {
			t.Fatalf("encodeText(%q) = %q: not storable as text", s, enc)
		}
		if !needsEncoding(s) && enc != s {
			t.Fatalf("encodeText(%q) = %q: changed text that needs no encoding", s, enc)
		}
		if got := decodeText(enc); got != s {
			t.Fatalf("decodeText(encodeText(%q)) = %q", s, got)
		}
	})
}

type role string

type valuer struct{}

func (valuer) Value() (driver.Value, error) { return "v\x00", nil }

func TestCheckValue(t *testing.T) {
	tests := []struct {
		in, want any
	}{
		{nil, nil},
		{"a\x00", "a\uE000\uE100"},
		{true, int64(1)},
		{false, int64(0)},
		{7, int64(7)},
		{int64(-3), int64(-3)},
		{int32(5), int64(5)},
		{role("admin"), "admin"},
		{role("\xff"), "\uE000\uE1ff"},
		{[]byte{0, 0xff}, []byte{0, 0xff}},
		{1.5, 1.5},
		{valuer{}, "v\uE000\uE100"},
	}
	for _, tt := range tests {
		nv := driver.NamedValue{Ordinal: 1, Value: tt.in}
		if err := checkValue(&nv); err != nil {
			t.Fatalf("checkValue(%#v): %v", tt.in, err)
		}
		if fmt.Sprintf("%#v", nv.Value) != fmt.Sprintf("%#v", tt.want) {
			t.Errorf("checkValue(%#v): got %#v, want %#v", tt.in, nv.Value, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		code              string
		unique, retryable bool
	}{
		{"23505", true, false},
		{"40001", false, true},
		{"40P01", false, true},
		{"23503", false, false},
		{"42P01", false, false},
	}
	for _, tt := range tests {
		err := fmt.Errorf("writing: %w", classify(&pgconn.PgError{Code: tt.code, Message: "m"}))
		if got := meta.IsUniqueViolation(err); got != tt.unique {
			t.Errorf("%s: IsUniqueViolation got %v, want %v", tt.code, got, tt.unique)
		}
		if got := meta.IsRetryable(err); got != tt.retryable {
			t.Errorf("%s: IsRetryable got %v, want %v", tt.code, got, tt.retryable)
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != tt.code {
			t.Errorf("%s: the PostgreSQL error is not reachable through errors.As", tt.code)
		}
	}
	if err := classify(driver.ErrBadConn); err != driver.ErrBadConn {
		t.Errorf("classify(ErrBadConn): got %v, want it unchanged", err)
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://vigil:s3cret@db:5432/vigil?sslmode=require", "postgres://vigil:xxxxx@db:5432/vigil?sslmode=require"},
		{"postgresql://vigil@db/vigil?password=s3cret&sslmode=disable", "postgresql://vigil@db/vigil?password=xxxxx&sslmode=disable"},
		{"postgres://db/vigil", "postgres://db/vigil"},
		{"host=db user=vigil password=s3cret dbname=vigil", "host=db user=vigil password=xxxxx dbname=vigil"},
		{"host=db password = 'a s3cret' dbname=vigil", "host=db password = xxxxx dbname=vigil"},
		{`host=db PASSWORD=a\ s3cret`, `host=db PASSWORD=xxxxx`},
		{"host=db dbname=vigil", "host=db dbname=vigil"},
		{"postgres://vigil:s3cret@db:bad port/x", "(a PostgreSQL URL that does not parse)"},
	}
	for _, tt := range tests {
		got := Redact(tt.in)
		if got != tt.want {
			t.Errorf("Redact(%q): got %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%q) = %q: the password shows", tt.in, got)
		}
	}
}

// TestOpenDBErrorRedacted: a DSN that does not parse is reported without
// its password.
func TestOpenDBErrorRedacted(t *testing.T) {
	for _, dsn := range []string{
		"postgres://vigil:s3cret@db:99999999/vigil",
		"host=db password=s3cret port=notaport",
	} {
		_, err := OpenDB(dsn)
		if err == nil {
			t.Fatalf("OpenDB(%q): got nil error, want a parse error", Redact(dsn))
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("OpenDB error shows the password: %v", err)
		}
	}
}
