package notify

import (
	"fmt"
	"sort"
	"time"

	"github.com/vigilsec/vigil/internal/sigma"
)

// Digest is one message summarising several notifications of a route: sent
// by digest routes once per interval, and by rate-limited routes for what
// exceeded the limit.
type Digest struct {
	// ID is stable across retries: "digest-<hex>".
	ID    string `json:"id"`
	Kind  string `json:"kind"` // always "digest"
	Route string `json:"route"`
	// Level is the highest level among the items.
	Level   string    `json:"level"`
	Title   string    `json:"title"`
	Summary string    `json:"summary"`
	Time    time.Time `json:"time"`
	Count   int       `json:"count"`
	// ByLevel and ByRule count the items.
	ByLevel map[string]int `json:"by_level"`
	ByRule  map[string]int `json:"by_rule"`
	// First and Last are the times of the oldest and newest item.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Titles are the first few item titles, for humans.
	Titles []string `json:"titles"`
	// Items lists every summarised notification (without its Data), so a
	// receiver can account for each one.
	Items []DigestItem `json:"items"`
}

// DigestItem is one notification inside a digest.
type DigestItem struct {
	ID     string    `json:"id"`
	Kind   string    `json:"kind"`
	Level  string    `json:"level"`
	Title  string    `json:"title"`
	RuleID string    `json:"rule_id,omitempty"`
	Time   time.Time `json:"time"`
	Link   string    `json:"link,omitempty"`
}

// digestTitles is how many titles a digest quotes.
const digestTitles = 5

func buildDigest(id string, r *Route, items []*Notification, now time.Time) *Digest {
	d := &Digest{
		ID: id, Kind: KindDigest, Route: r.Name, Time: now, Count: len(items),
		ByLevel: map[string]int{}, ByRule: map[string]int{},
		Items: make([]DigestItem, 0, len(items)),
	}
	top := sigma.NoLevel
	for _, nt := range items {
		lvl := nt.Level
		if lvl == "" {
			lvl = "unknown"
		}
		d.ByLevel[lvl]++
		rule := nt.RuleID
		if rule == "" {
			rule = "(none)"
		}
		d.ByRule[rule]++
		if l := levelOf(nt.Level); l > top {
			top, d.Level = l, l.String()
		}
		if d.First.IsZero() || nt.Time.Before(d.First) {
			d.First = nt.Time
		}
		if nt.Time.After(d.Last) {
			d.Last = nt.Time
		}
		if len(d.Titles) < digestTitles {
			d.Titles = append(d.Titles, nt.Title)
		}
		d.Items = append(d.Items, DigestItem{ID: nt.ID, Kind: nt.Kind, Level: nt.Level, Title: nt.Title, RuleID: nt.RuleID, Time: nt.Time, Link: nt.Link})
	}
	if d.Level == "" {
		d.Level = "informational"
	}
	d.Title = fmt.Sprintf("%d notifications", len(items))
	if len(items) == 1 {
		d.Title = "1 notification"
	}
	d.Summary = d.Title + " (" + countsText(d.ByLevel, levelOrder) + ")"
	return d
}

// levelOrder sorts level names by severity, highest first.
func levelOrder(a, b string) bool {
	ra, rb := levelOf(a), levelOf(b)
	if ra != rb {
		return ra > rb
	}
	return a < b
}

// countsText renders counts as "3 high, 1 low".
func countsText(m map[string]int, less func(a, b string) bool) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return less(keys[i], keys[j]) })
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d %s", m[k], k)
	}
	return s
}

// topRules returns the rules with the most items, most first, at most n.
func topRules(m map[string]int, n int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if len(keys) > n {
		keys = keys[:n]
	}
	return keys
}
