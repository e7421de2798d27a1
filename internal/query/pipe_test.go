package query

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/event"
)

func TestPipeRegistry(t *testing.T) {
	if got, want := pipeList(), "stats, timechart, sort, limit or fields"; got != want {
		t.Errorf("pipeList: got %q, want %q", got, want)
	}
	// Every registered command parses as itself (a query that uses it
	// alone, with the arguments of its canonical form).
	examples := map[string]string{
		"stats":     "| stats count() by host.name",
		"timechart": "| timechart span=5m count()",
		"sort":      "| sort -@timestamp",
		"limit":     "| limit 10",
		"fields":    "| fields host.name, user.name",
	}
	for name := range pipes {
		src, ok := examples[name]
		if !ok {
			t.Errorf("pipe %q has no example here", name)
			continue
		}
		q, err := Parse(src)
		if err != nil {
			t.Errorf("Parse(%q): %v", src, err)
			continue
		}
		if got := q.String(); got != src {
			t.Errorf("Parse(%q).String(): got %q", src, got)
		}
		// The command is case-insensitive.
		up := "| " + strings.ToUpper(name) + src[len("| ")+len(name):]
		if _, err := Parse(up); err != nil {
			t.Errorf("Parse(%q): %v", up, err)
		}
	}
}

func TestRegisterPipeRefused(t *testing.T) {
	parse := func(*parser, int) (Pipe, error) { return &Limit{N: 1}, nil }
	tests := []struct{ name, cmd, want string }{
		{"twice", "limit", `pipe command "limit" registered twice`},
		{"empty", "", "not a lower-case name"},
		{"upper case", "Head", "not a lower-case name"},
		{"space", "a b", "not a lower-case name"},
		{"advice for it", "take", `pipe command "take" has advice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, tt.want) {
					t.Errorf("got panic %q, want one containing %q", msg, tt.want)
				}
			}()
			registerPipe(tt.cmd, 99, parse)
		})
	}
	// One command more than a pipeCheck has room for kinds. (No test of
	// the package runs in parallel: the registry is swapped for a full one.)
	t.Run("too many", func(t *testing.T) {
		saved := pipes
		defer func() { pipes = saved }()
		pipes = map[string]*pipeSpec{}
		for i := range maxPipeKinds {
			pipes[fmt.Sprintf("p%d", i)] = &pipeSpec{}
		}
		defer func() {
			msg, _ := recover().(string)
			if want := "one more than the 16"; !strings.Contains(msg, want) {
				t.Errorf("got panic %q, want one containing %q", msg, want)
			}
		}()
		registerPipe("one", 99, parse)
	})
}

// TestPipeNil: a query built by hand with a nil pipe is refused by Run and
// ignored by the accessors, not a panic.
func TestPipeNil(t *testing.T) {
	q := &Query{Pipes: []Pipe{nil, &Limit{N: 1}}}
	if q.IsAggregate() {
		t.Error("IsAggregate: got true, want false")
	}
	if got := q.OutputColumns(); got != nil {
		t.Errorf("OutputColumns: got %v, want nil", got)
	}
	_, err := Run(q, slices.Values([]*event.Event{}))
	if !errors.Is(err, errNilPipe) {
		t.Errorf("Run: got %v, want errNilPipe", err)
	}
}
