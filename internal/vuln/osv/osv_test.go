package osv

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/sharedtest"
)

func TestParseSamples(t *testing.T) {
	tests := []struct {
		file      string
		id        string
		aliases   int
		affected  int
		withdrawn bool
	}{
		{"GO-2021-0113.json", "GO-2021-0113", 2, 1, false},
		{"GO-2024-2963.json", "GO-2024-2963", 1, 1, false},
		{"GO-2022-0617.json", "GO-2022-0617", 2, 1, true},
		{"DSA-3029-1.json", "DSA-3029-1", 1, 1, false},
		{"UBUNTU-CVE-2025-38094.json", "UBUNTU-CVE-2025-38094", 0, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if r.ID != tt.id || len(r.Aliases) != tt.aliases || len(r.Affected) != tt.affected || (r.Withdrawn != nil) != tt.withdrawn {
				t.Errorf("got id %s, %d aliases, %d affected, withdrawn %v; want %s, %d, %d, %v",
					r.ID, len(r.Aliases), len(r.Affected), r.Withdrawn != nil, tt.id, tt.aliases, tt.affected, tt.withdrawn)
			}
		})
	}
}

// TestParseGoDatabase parses every record of the Go vulnerability
// database in ../shared/vuln.
func TestParseGoDatabase(t *testing.T) {
	dir := sharedtest.Dir(t, "vuln", "osv", "go")
	files, _ := filepath.Glob(filepath.Join(dir, "GO-*.json"))
	if len(files) < 4000 {
		t.Fatalf("got %d records in %s, want the whole database", len(files), dir)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	long := strings.Repeat("x", MaxIDLen+1)
	tests := []struct {
		name, json, want string
	}{
		{"not json", `{`, "unexpected EOF"},
		{"no id", `{"modified":"2024-01-01T00:00:00Z"}`, "id"},
		{"bad id", `{"id":"GO 1"}`, "not allowed"},
		{"long id", `{"id":"` + long + `"}`, "want 1 to"},
		{"bad alias", `{"id":"A","aliases":["CVE\n1"]}`, "aliases[0]"},
		{"two records", `{"id":"A"}{"id":"B"}`, "data after"},
		{"bad time", `{"id":"A","modified":"yesterday"}`, "cannot parse"},
		{"empty package", `{"id":"A","affected":[{"package":{"ecosystem":"Go","name":""}}]}`, "package name"},
		{"control char", `{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"a\u001bb"}}]}`, "package name"},
		{"range type", `{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"a"},"ranges":[{"type":"DATE","events":[{"introduced":"0"}]}]}]}`, "unknown type"},
		{"no events", `{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"a"},"ranges":[{"type":"SEMVER","events":[]}]}]}`, "no events"},
		{"two fields", `{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1"}]}]}]}`, "exactly one"},
		{"no introduced", `{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"a"},"ranges":[{"type":"SEMVER","events":[{"fixed":"1"}]}]}]}`, "no introduced"},
		{"long version", `{"id":"A","affected":[{"package":{"ecosystem":"Go","name":"a"},"versions":["` + strings.Repeat("1", MaxVersionLen+1) + `"]}]}`, "more than"},
		{"wrong type", `{"id":"A","affected":{}}`, "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.json))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one wrapping ErrInvalid and containing %q", err, tt.want)
			}
		})
	}
	t.Run("too big", func(t *testing.T) {
		_, err := Parse(make([]byte, MaxRecordBytes+1))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("got %v, want ErrInvalid", err)
		}
	})
	t.Run("too many aliases", func(t *testing.T) {
		r := Record{ID: "A", Aliases: make([]string, MaxAliases+1)}
		for i := range r.Aliases {
			r.Aliases[i] = "CVE-1"
		}
		data, _ := json.Marshal(r)
		if _, err := Parse(data); err == nil || !strings.Contains(err.Error(), "more than") {
			t.Errorf("got %v, want a bound error", err)
		}
	})
}

func ranges(typ string, events ...Event) Range { return Range{Type: typ, Events: events} }

func TestMatch(t *testing.T) {
	goPkg := Package{Ecosystem: "Go", Name: "golang.org/x/text"}
	debPkg := Package{Ecosystem: "Debian:12", Name: "openssl"}
	stdlib := Affected{Package: Package{Ecosystem: "Go", Name: "stdlib"}, Ranges: []Range{ranges(SemVer,
		Event{Introduced: "0"}, Event{Fixed: "1.21.12"}, Event{Introduced: "1.22.0-0"}, Event{Fixed: "1.22.5"})}}
	tests := []struct {
		name    string
		aff     Affected
		version string
		want    bool
		fixed   string
		intro   string
	}{
		{"introduced 0 below fix", Affected{Package: goPkg, Ranges: []Range{ranges(SemVer, Event{Introduced: "0"}, Event{Fixed: "0.3.7"})}}, "v0.3.5", true, "0.3.7", "0"},
		{"at the fix", Affected{Package: goPkg, Ranges: []Range{ranges(SemVer, Event{Introduced: "0"}, Event{Fixed: "0.3.7"})}}, "v0.3.7", false, "", ""},
		{"pseudo-version below fix", Affected{Package: goPkg, Ranges: []Range{ranges(SemVer, Event{Introduced: "0"}, Event{Fixed: "0.3.7"})}}, "v0.0.0-20170915032832-14c0d48ead0c", true, "0.3.7", "0"},
		{"below introduced", Affected{Package: goPkg, Ranges: []Range{ranges(SemVer, Event{Introduced: "0.2.0"}, Event{Fixed: "0.3.7"})}}, "v0.1.9", false, "", ""},
		{"at introduced", Affected{Package: goPkg, Ranges: []Range{ranges(SemVer, Event{Introduced: "0.2.0"}, Event{Fixed: "0.3.7"})}}, "v0.2.0", true, "0.3.7", "0.2.0"},
		{"no fix", Affected{Package: goPkg, Ranges: []Range{ranges(SemVer, Event{Introduced: "0.2.0"})}}, "v9.0.0", true, "", "0.2.0"},
		{"stdlib first interval", stdlib, "go1.21.11", false, "", ""}, // not semver: the caller converts toolchain names
		{"stdlib 1.21.11", stdlib, "v1.21.11", true, "1.21.12", "0"},
		{"stdlib between intervals", stdlib, "v1.21.12", false, "", ""},
		{"stdlib 1.22 prerelease", stdlib, "v1.22.0-rc.1", true, "1.22.5", "1.22.0-0"},
		{"stdlib 1.22.4", stdlib, "v1.22.4", true, "1.22.5", "1.22.0-0"},
		{"stdlib 1.22.5", stdlib, "v1.22.5", false, "", ""},
		{"events out of order", Affected{Package: goPkg, Ranges: []Range{ranges(SemVer, Event{Fixed: "2.0.0"}, Event{Introduced: "1.0.0"})}}, "1.5.0", true, "2.0.0", "1.0.0"},
		{"last_affected inclusive", Affected{Package: goPkg, Ranges: []Range{ranges(SemVer, Event{Introduced: "1.0.0"}, Event{LastAffected: "1.4.0"})}}, "1.4.0", true, "", "1.0.0"},
		{"past last_affected", Affected{Package: goPkg, Ranges: []Range{ranges(SemVer, Event{Introduced: "1.0.0"}, Event{LastAffected: "1.4.0"})}}, "1.4.1", false, "", ""},
		{"limit", Affected{Package: goPkg, Ranges: []Range{ranges(SemVer, Event{Introduced: "0"}, Event{Limit: "1.0.0"})}}, "1.0.0", false, "", ""},
		{"below limit", Affected{Package: goPkg, Ranges: []Range{ranges(SemVer, Event{Introduced: "0"}, Event{Limit: "1.0.0"})}}, "0.9.0", true, "", "0"},
		{"second range", Affected{Package: goPkg, Ranges: []Range{ranges(SemVer, Event{Introduced: "0"}, Event{Fixed: "1.0.0"}), ranges(SemVer, Event{Introduced: "2.0.0"}, Event{Fixed: "2.1.0"})}}, "2.0.5", true, "2.1.0", "2.0.0"},
		{"dpkg epoch", Affected{Package: debPkg, Ranges: []Range{ranges(Ecosystem, Event{Introduced: "0"}, Event{Fixed: "1:3.0.11-1~deb12u2"})}}, "3.0.15-1~deb12u1", true, "1:3.0.11-1~deb12u2", "0"},
		{"dpkg fixed tilde", Affected{Package: debPkg, Ranges: []Range{ranges(Ecosystem, Event{Introduced: "0"}, Event{Fixed: "3.0.11-1~deb12u2"})}}, "3.0.11-1", false, "", ""},
		{"dpkg below tilde fix", Affected{Package: debPkg, Ranges: []Range{ranges(Ecosystem, Event{Introduced: "0"}, Event{Fixed: "3.0.11-1~deb12u2"})}}, "3.0.11-1~deb12u1", true, "3.0.11-1~deb12u2", "0"},
		{"explicit versions", Affected{Package: debPkg, Versions: []string{"1.0-1", "1.0-2"}}, "1.0-2", true, "", ""},
		{"not in versions", Affected{Package: debPkg, Versions: []string{"1.0-1", "1.0-2"}}, "1.0-3", false, "", ""},
		{"git range ignored", Affected{Package: goPkg, Ranges: []Range{ranges(Git, Event{Introduced: "0"})}}, "1.0.0", false, "", ""},
		{"unknown ecosystem", Affected{Package: Package{Ecosystem: "PyPI", Name: "x"}, Ranges: []Range{ranges(Ecosystem, Event{Introduced: "0"})}}, "1.0", false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, got := tt.aff.Includes(tt.version)
			if got != tt.want || m.Fixed != tt.fixed || m.Introduced != tt.intro {
				t.Errorf("Includes(%q) = %+v, %v; want fixed %q, introduced %q, %v", tt.version, m, got, tt.fixed, tt.intro, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "1.2.3")
	}
	f.Add([]byte(`{"id":"A","affected":[{"package":{"ecosystem":"Alpine:v3.19","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"1.0-r0"},{"limit":"2"}]}]}]}`), "1.5-r1")
	f.Fuzz(func(t *testing.T, data []byte, v string) {
		r, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		for i := range r.Affected {
			r.Affected[i].Includes(v)
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(again); err != nil {
			t.Fatalf("a parsed record does not parse again: %v", err)
		}
	})
}

// TestParseBounds builds a record one past each bound.
func TestParseBounds(t *testing.T) {
	pkg := Package{Ecosystem: "Go", Name: "m"}
	rng := func(events int) Range {
		r := Range{Type: SemVer, Events: []Event{{Introduced: "0"}}}
		for i := 1; i < events; i++ {
			r.Events = append(r.Events, Event{Fixed: "1.0.0"})
		}
		return r
	}
	many := func(n int, v string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	tests := []struct {
		name string
		r    Record
		want string
	}{
		{"affected", Record{ID: "A", Affected: make([]Affected, MaxAffected+1)}, fmt.Sprintf("%d affected packages, more than %d", MaxAffected+1, MaxAffected)},
		{"ranges", Record{ID: "A", Affected: []Affected{{Package: pkg, Ranges: make([]Range, MaxRanges+1)}}}, fmt.Sprintf("%d ranges, more than %d", MaxRanges+1, MaxRanges)},
		{"events", Record{ID: "A", Affected: []Affected{{Package: pkg, Ranges: []Range{rng(MaxEvents + 1)}}}}, fmt.Sprintf("%d events, more than %d", MaxEvents+1, MaxEvents)},
		{"versions", Record{ID: "A", Affected: []Affected{{Package: pkg, Versions: many(MaxVersions+1, "1")}}}, fmt.Sprintf("%d versions, more than %d", MaxVersions+1, MaxVersions)},
		{"severities", Record{ID: "A", Severity: make([]Severity, MaxSeverities+1)}, fmt.Sprintf("%d scores, more than %d", MaxSeverities+1, MaxSeverities)},
		{"name", Record{ID: "A", Affected: []Affected{{Package: Package{Ecosystem: "Go", Name: strings.Repeat("n", MaxNameLen+1)}}}}, "package name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(tt.r)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(data); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	// At each bound the record parses.
	at := Record{ID: "A", Affected: []Affected{{Package: pkg, Ranges: []Range{rng(MaxEvents)}, Versions: many(MaxVersions, "1")}}}
	data, _ := json.Marshal(at)
	if _, err := Parse(data); err != nil {
		t.Errorf("at the bounds: %v", err)
	}
}
