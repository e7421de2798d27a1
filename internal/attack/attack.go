// Package attack owns Vigil's copy of the MITRE ATT&CK Enterprise matrix
// and reads the ATT&CK tags of Sigma rules.
//
// The matrix (tactics in MITRE's order and the live techniques and
// sub-techniques, reduced to id, name, tactics and parent) is derived from
// MITRE's export by gen.go into data/enterprise.json and embedded. ATT&CK
// is © The MITRE Corporation: data/LICENSE.txt carries MITRE's copyright
// designation and licence, which every copy must reproduce; the console
// shows both (License, Copyright).
//
// Sigma writes ATT&CK references as tags in the attack namespace (the
// specification's tags appendix): attack.t1059 and attack.t1059.001 for a
// technique and a sub-technique, attack.credential-access for a tactic,
// attack.g0032 for a group, attack.s0154 for software, attack.ds0005,
// attack.m1036 and attack.a0004 for a data source, a mitigation and an
// asset. ParseTag is the one reader of those tags; Techniques and Tactics
// gather what a rule's tags name.
package attack

//go:generate go run gen.go

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/vigilsec/vigil/internal/ascii"
)

var (
	//go:embed data/enterprise.json
	matrixJSON []byte

	// License is MITRE's ATT&CK licence and copyright designation, to be
	// reproduced with the data.
	//
	//go:embed data/LICENSE.txt
	License string
)

// Tactic is an ATT&CK tactic.
type Tactic struct {
	// ID is MITRE's id, such as TA0006.
	ID string `json:"id"`
	// Short is the name Sigma tags use, such as credential-access.
	Short string `json:"short"`
	// Name is the display name, such as Credential Access.
	Name string `json:"name"`
}

// Technique is an ATT&CK technique or sub-technique.
type Technique struct {
	// ID is MITRE's id: T1110, or T1110.001 for a sub-technique.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Tactics are the short names of the tactics the technique serves.
	Tactics []string `json:"tactics"`
	// Parent is the technique of a sub-technique, "" for a technique.
	Parent string `json:"parent"`
}

// Matrix is the embedded ATT&CK Enterprise matrix.
type Matrix struct {
	// Source and Version say which MITRE release the data comes from.
	Source  string `json:"source"`
	Version string `json:"version"`
	// Tactics are in MITRE's matrix order.
	Tactics []Tactic `json:"tactics"`
	// Techniques are sorted by id, each sub-technique after its parent.
	Techniques []Technique `json:"techniques"`

	tactics map[string]*Tactic
}

// Load returns the embedded matrix, read once and shared: callers must not
// modify it.
var Load = sync.OnceValues(func() (*Matrix, error) {
	var m Matrix
	if err := json.Unmarshal(matrixJSON, &m); err != nil {
		return nil, fmt.Errorf("reading the embedded ATT&CK matrix: %w", err)
	}
	m.tactics = make(map[string]*Tactic, len(m.Tactics))
	for i := range m.Tactics {
		m.tactics[m.Tactics[i].Short] = &m.Tactics[i]
	}
	return &m, nil
})

// Tactic returns the tactic with the short name Sigma tags use
// (credential-access).
func (m *Matrix) Tactic(short string) (Tactic, bool) {
	if t := m.tactics[short]; t != nil {
		return *t, true
	}
	return Tactic{}, false
}

// Copyright returns MITRE's copyright line from License.
func Copyright() string {
	for line := range strings.SplitSeq(License, "\n") {
		if strings.Contains(line, "©") {
			return strings.Trim(strings.TrimSpace(line), `"`)
		}
	}
	return ""
}

// Kind tells what an ATT&CK tag refers to.
type Kind uint8

// The kinds of ATT&CK tags.
const (
	KindTechnique  Kind = iota + 1 // attack.t1059, attack.t1059.001
	KindTactic                     // attack.credential-access
	KindGroup                      // attack.g0032
	KindSoftware                   // attack.s0154
	KindDataSource                 // attack.ds0005
	KindMitigation                 // attack.m1036
	KindAsset                      // attack.a0004
)

var kindNames = [...]string{"", "technique", "tactic", "group", "software", "data source", "mitigation", "asset"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Tag is a parsed ATT&CK tag.
type Tag struct {
	Kind Kind
	// ID is the reference in MITRE's spelling: T1059.001, G0032, S0154,
	// DS0005, M1036, A0004; for a tactic, the short name as Sigma writes it
	// (credential-access), whether or not the embedded matrix has it.
	ID string
}

// Parent returns the technique of a sub-technique (T1059 for T1059.001),
// and "" for any other tag.
func (t Tag) Parent() string {
	if t.Kind != KindTechnique {
		return ""
	}
	p, _, _ := strings.Cut(t.ID, ".")
	if p == t.ID {
		return ""
	}
	return p
}

// maxTactic bounds the length of a tactic name (the longest is 20).
const maxTactic = 64

const prefix = "attack."

// ParseTag reads one rule tag, in any case. ok is false for a tag outside
// the attack namespace and for one of no shape the tags appendix gives: a
// technique is t and four digits, a sub-technique adds a dot and three; a
// group, software, data source, mitigation or asset is g, s, ds, m or a
// and four digits; a tactic is words of letters joined by hyphens, at most
// 64 bytes.
func ParseTag(tag string) (t Tag, ok bool) {
	if len(tag) <= len(prefix) || !strings.EqualFold(tag[:len(prefix)], prefix) {
		return Tag{}, false
	}
	v := ascii.Lower(tag[len(prefix):])
	switch {
	case v[0] == 't' && digits(v[1:], 4) && (len(v) == 5 || len(v) == 9 && v[5] == '.' && digits(v[6:], 3)):
		return Tag{KindTechnique, strings.ToUpper(v)}, true
	case len(v) == 5 && digits(v[1:], 4):
		switch v[0] {
		case 'g':
			return Tag{KindGroup, strings.ToUpper(v)}, true
		case 's':
			return Tag{KindSoftware, strings.ToUpper(v)}, true
		case 'm':
			return Tag{KindMitigation, strings.ToUpper(v)}, true
		case 'a':
			return Tag{KindAsset, strings.ToUpper(v)}, true
		}
	case len(v) == 6 && v[:2] == "ds" && digits(v[2:], 4):
		return Tag{KindDataSource, strings.ToUpper(v)}, true
	case isTacticName(v):
		return Tag{KindTactic, v}, true
	}
	return Tag{}, false
}

// digits reports whether s starts with n ASCII digits.
func digits(s string, n int) bool {
	if len(s) < n {
		return false
	}
	for i := range n {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isTacticName reports whether s is lower-case words joined by single
// hyphens.
func isTacticName(s string) bool {
	if len(s) > maxTactic || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' {
			if s[i-1] == '-' {
				return false
			}
			continue
		}
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// Techniques returns the technique ids the tags name, with the parent of
// each sub-technique (attack.t1059.001 gives T1059.001 and T1059), each
// once, in the order of the tags.
func Techniques(tags []string) []string {
	var out []string
	add := func(id string) {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	for _, s := range tags {
		t, ok := ParseTag(s)
		if !ok || t.Kind != KindTechnique {
			continue
		}
		add(t.ID)
		if p := t.Parent(); p != "" {
			add(p)
		}
	}
	return out
}

// Tactics returns the short names of the tactics the tags name
// (attack.credential-access gives credential-access), each once, in the
// order of the tags, whether or not the embedded matrix has them.
func Tactics(tags []string) []string {
	var out []string
	for _, s := range tags {
		t, ok := ParseTag(s)
		if ok && t.Kind == KindTactic && !slices.Contains(out, t.ID) {
			out = append(out, t.ID)
		}
	}
	return out
}
