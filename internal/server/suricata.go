package server

import (
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sigma"
)

// recorder is what the sensor detectors hand detections to
// (*alert.Recorder).
type recorder interface {
	Record(d detect.Detection)
}

// suricataDetector turns Suricata's own alerts (EVE records with
// event_type alert, which the parser marks event.module suricata and
// event.kind alert) into Vigil alerts. Each signature is a synthetic rule
// with the id "suricata:<signature_id>", the signature as its title and a
// level from Suricata's severity (1 high, 2 medium, 3 low, any other
// value informational), so that Suricata alerts list, filter, suppress
// and fold into incidents like Sigma detections.
type suricataDetector struct {
	rec recorder

	mu    sync.Mutex
	rules map[suricataRuleKey]*sigma.Rule
}

// suricataRuleKey identifies one synthetic rule: the title, level and
// tags are part of it, since a record may name the same signature_id with
// another text, severity or metadata (a rule update, or a sender that
// lies).
type suricataRuleKey struct {
	sid, title, level, tags string
}

// maxSuricataTechniques bounds the ATT&CK tags taken from one record's
// metadata.
const maxSuricataTechniques = 4

// maxSuricataRules bounds the cached synthetic rules. Signature ids and
// texts come from the records, so a hostile sender could otherwise grow
// the cache without bound; past it, each alert gets a rule of its own.
const maxSuricataRules = 10000

// maxSuricataTitle bounds a rule title taken from a record's signature, in
// bytes.
const maxSuricataTitle = 512

func newSuricataDetector(rec recorder) *suricataDetector {
	return &suricataDetector{rec: rec, rules: map[suricataRuleKey]*sigma.Rule{}}
}

var (
	kSuricataSID      = event.Intern("alert.signature_id")
	kSuricataSig      = event.Intern("alert.signature")
	kSuricataSeverity = event.Intern("alert.severity")
	kSuricataCategory = event.Intern("alert.category")
	// Emerging Threats rules name ATT&CK techniques in their metadata
	// (mitre_technique_id T1071), which EVE writes as a list.
	kSuricataTechnique = event.Intern("alert.metadata.mitre_technique_id")
	kEventModule       = event.Intern("event.module")
	kEventKind         = event.Intern(event.FieldKind)
)

// Detect implements pipeline.Detector.
func (d *suricataDetector) Detect(ev *event.Event) {
	if ev.Logsource.Product != "suricata" {
		return // every other event: one comparison
	}
	if m, _ := ev.Get(kEventModule); m.Str != "suricata" {
		return
	}
	if k, _ := ev.Get(kEventKind); k.Str != "alert" {
		return
	}
	sid, ok := ev.Get(kSuricataSID)
	if !ok || !signatureID(sid.Str) {
		return
	}
	sig, _ := ev.Get(kSuricataSig)
	sev, _ := ev.Get(kSuricataSeverity)
	cat, _ := ev.Get(kSuricataCategory)
	var tags []string
	for _, v := range ev.Values(nil, kSuricataTechnique) {
		if t, ok := attackTag(v.Str); ok && len(tags) < maxSuricataTechniques && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	r := d.rule(sid.Str, sig.Str, suricataLevel(sev.Str), cat.Str, tags)
	d.rec.Record(detect.Detection{Rule: r, Event: ev, Time: ev.Timestamp(), Count: 1, Value: 1})
}

// signatureID reports whether s is a Suricata signature id: an unsigned
// 32-bit decimal number.
func signatureID(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n <= 1<<32-1
}

// attackTag turns an ATT&CK technique id (T1071, T1059.001) into the
// Sigma tag attack.t1071; ok is false for anything else.
func attackTag(id string) (string, bool) {
	if (len(id) != 5 && len(id) != 9) || (id[0] != 'T' && id[0] != 't') {
		return "", false
	}
	for i := 1; i < len(id); i++ {
		if i == 5 {
			if id[i] != '.' {
				return "", false
			}
			continue
		}
		if id[i] < '0' || id[i] > '9' {
			return "", false
		}
	}
	return "attack.t" + id[1:], true
}

// suricataLevel maps Suricata's alert severity (1 is the most severe; the
// classification file's priorities) to a Sigma level.
func suricataLevel(severity string) string {
	switch severity {
	case "1":
		return "high"
	case "2":
		return "medium"
	case "3":
		return "low"
	}
	return "informational"
}

// rule returns the synthetic rule of a signature, building it on first
// use.
func (d *suricataDetector) rule(sid, signature, level, category string, techniques []string) *sigma.Rule {
	title := suricataTitle(sid, signature)
	key := suricataRuleKey{sid: sid, title: title, level: level, tags: strings.Join(techniques, " ")}
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := d.rules[key]; ok {
		return r
	}
	desc := "Suricata signature " + sid + " fired."
	if category = clipUTF8(category, maxSuricataTitle); category != "" {
		desc = "Suricata signature " + sid + " (" + category + ") fired."
	}
	r := &sigma.Rule{
		ID: "suricata:" + sid, Name: "suricata_" + sid, Title: title, Level: level, Status: "stable",
		Description: desc,
		Tags:        append([]string{"suricata"}, techniques...),
		Logsource:   sigma.Logsource{Product: "suricata", Service: "alert"},
	}
	if len(d.rules) < maxSuricataRules {
		d.rules[key] = r
	}
	return r
}

// suricataTitle is the signature text, cut to maxSuricataTitle bytes, or a
// title naming the id when the record has no text.
func suricataTitle(sid, signature string) string {
	if t := strings.TrimSpace(clipUTF8(signature, maxSuricataTitle)); t != "" {
		return t
	}
	return "Suricata signature " + sid
}

// clipUTF8 cuts s to at most n bytes without splitting a character, and
// replaces invalid UTF-8.
func clipUTF8(s string, n int) string {
	if len(s) > n {
		s = s[:n]
		for len(s) > 0 && !utf8.ValidString(s) {
			r, size := utf8.DecodeLastRuneInString(s)
			if r != utf8.RuneError || size != 1 {
				break
			}
			s = s[:len(s)-1]
		}
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
