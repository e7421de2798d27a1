// Package sharedtest finds the project's shared test data — the SigmaHQ
// rules and regression suite, the Sigma specification, ATT&CK — in the
// shared/ folder beside the repository root. Tests that need it skip where
// it is absent (a user's own clone) and fail under CI, which always has it,
// so a conformance suite can never be skipped there unnoticed. It also
// holds small helpers that several packages' tests share: ProcessCPU, and
// the real servers some tests start (StartVictoriaLogs, StartNATS).
package sharedtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/jsonscan"
)

// Find returns the path of shared/ (joined with sub) beside the repository
// root that holds the working directory, or "" when there is none. Fuzz
// tests use it to seed their corpus optionally.
func Find(sub ...string) string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(append([]string{filepath.Dir(dir), "shared"}, sub...)...)
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				return p
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Dir is Find for tests that need the data: where it is absent the test
// skips, or fails when the CI environment variable is set.
func Dir(tb testing.TB, sub ...string) string {
	tb.Helper()
	p := Find(sub...)
	if p == "" {
		where := filepath.Join(append([]string{"shared"}, sub...)...)
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s beside the repository root is missing; CI must provide it", where)
		}
		tb.Skipf("%s beside the repository root is absent: skipping (it holds the shared test data)", where)
	}
	return p
}

// SplitJSON splits concatenated JSON documents (objects or arrays, as
// the JSON renderings in SigmaHQ's regression_data are laid out) with
// jsonscan, and checks that each is valid JSON.
func SplitJSON(data []byte) ([]json.RawMessage, error) {
	var out []json.RawMessage
	var sc jsonscan.Scanner
	for i := 0; ; {
		for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
			i++
		}
		if i == len(data) {
			return out, nil
		}
		if c := data[i]; c != '{' && c != '[' {
			return out, fmt.Errorf("offset %d: %q between JSON documents", i, c)
		}
		n, err := sc.End(data[i:])
		if err != nil {
			return out, fmt.Errorf("offset %d: %w", i, err)
		}
		if n == 0 {
			return out, fmt.Errorf("offset %d: unterminated JSON document", i)
		}
		doc := data[i : i+n]
		if !json.Valid(doc) {
			return out, fmt.Errorf("offset %d: invalid JSON document", i)
		}
		out = append(out, bytes.Clone(doc))
		i += n
	}
}
