package hunt_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/hunt"
	"github.com/vigilsec/vigil/internal/parse"
	"github.com/vigilsec/vigil/internal/ruleset"
	"github.com/vigilsec/vigil/internal/sharedtest"
)

// BenchmarkHuntJSONL is `vigil hunt` over JSON lines end to end (read,
// split, parse, match with every SigmaHQ rule, render findings as JSON),
// minus loading the rules. The corpus is 200,000 lines: one in ten a
// SigmaHQ regression sample (evtx_dump JSON of an attack, most of which
// fire one or more rules), the others ECS JSON sshd authentication events
// with varying users and addresses. It needs ../shared/sigma (skipped
// without it).
//
//	go test ./internal/hunt -run '^$' -bench HuntJSONL -benchtime 3x
func BenchmarkHuntJSONL(b *testing.B) {
	root := sharedtest.Dir(b, "sigma")
	samples := regressionSamples(b, filepath.Join(root, "regression_data"))
	path := filepath.Join(b.TempDir(), "events.jsonl")
	writeCorpus(b, path, samples, 200_000)
	l, err := ruleset.Load(ruleset.Options{Builtin: true, Dirs: []string{
		filepath.Join(root, "rules"), filepath.Join(root, "rules-emerging-threats"), filepath.Join(root, "rules-threat-hunting"),
	}})
	if err != nil {
		b.Fatal(err)
	}
	opts := hunt.Options{
		Engine: l.Engine,
		Parser: parse.New(parse.Options{ShareData: true}),
		Render: func(f *hunt.Finding, dst []byte) []byte {
			dst = append(dst, f.Rule.ID...)
			dst = append(dst, ' ')
			return append(f.Event.AppendJSON(dst), '\n')
		},
	}
	var events, findings int64
	b.ReportAllocs()
	for b.Loop() {
		sum, err := hunt.Run(context.Background(), []string{path}, opts, func(f hunt.Finding) error {
			if len(f.Line) == 0 {
				return fmt.Errorf("finding of %s not rendered", f.Rule.ID)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		events += sum.Events
		findings += sum.Findings
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(findings)/float64(events), "findings/event")
}

// regressionSamples returns every event of the JSON renderings in dir, one
// compact line each.
func regressionSamples(b *testing.B, dir string) [][]byte {
	var out [][]byte
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		objs, err := sharedtest.SplitJSON(data)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, o := range objs {
			var c bytes.Buffer
			if err := json.Compact(&c, o); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			out = append(out, c.Bytes())
		}
		return nil
	})
	if err != nil || len(out) == 0 {
		b.Fatalf("reading regression samples: %v (%d found)", err, len(out))
	}
	return out
}

func writeCorpus(b *testing.B, path string, samples [][]byte, n int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		if i%10 == 0 {
			w.Write(samples[rng.IntN(len(samples))])
		} else {
			u, ip := rng.IntN(500), rng.IntN(65536)
			outcome, verb := "failure", "Failed password"
			if rng.IntN(4) == 0 {
				outcome, verb = "success", "Accepted password"
			}
			fmt.Fprintf(w, `{"@timestamp":"2026-11-22T04:%02d:%02dZ","host":{"name":"web%d"},"event":{"dataset":"sshd","category":"authentication","outcome":%q},"source":{"ip":"10.%d.%d.1"},"user":{"name":"user%d"},"message":"%s for user%d from 10.%d.%d.1 port 22 ssh2","process":{"name":"sshd"}}`,
				i/60%60, i%60, i%8, outcome, ip>>8, ip&255, u, verb, u, ip>>8, ip&255)
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}
