package scan

import (
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"

	"github.com/vigilsec/vigil/internal/vuln/osv"
)

// cvssScore scores a CVSS vector (v2.0, v3.0, v3.1 or v4.0): the base
// score, or false when the vector does not parse.
func cvssScore(vector string) (float64, bool) {
	switch {
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		c, err := gocvss40.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return c.Score(), true
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		c, err := gocvss31.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return c.BaseScore(), true
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		c, err := gocvss30.ParseVector(vector)
		if err != nil {
			return 0, false
		}
		return c.BaseScore(), true
	}
	c, err := gocvss20.ParseVector(vector)
	if err != nil {
		return 0, false
	}
	return c.BaseScore(), true
}

// rating is the CVSS v3/v4 qualitative rating of a score.
func rating(score float64) string {
	switch {
	case score >= 9:
		return "critical"
	case score >= 7:
		return "high"
	case score >= 4:
		return "medium"
	case score > 0:
		return "low"
	}
	return "none"
}

// severityRank orders the ratings, and the words distributions use
// (Ubuntu's "negligible", Debian's "unimportant").
var severityRank = map[string]int{"": 0, "unknown": 0, "none": 0, "negligible": 1, "unimportant": 1, "low": 2, "medium": 3, "moderate": 3, "high": 4, "important": 4, "critical": 5}

// severityOf is the highest CVSS score among scores, the vector it came
// from, and a rating: from the score, or from a distribution's own rating
// when no vector scores.
func severityOf(scores []osv.Severity) (score float64, vector, label string) {
	for _, s := range scores {
		if !strings.HasPrefix(s.Type, "CVSS_") {
			l := strings.ToLower(s.Score)
			if _, ok := severityRank[l]; ok && severityRank[l] > severityRank[label] && vector == "" {
				label = l
			}
			continue
		}
		if sc, ok := cvssScore(s.Score); ok && (vector == "" || sc > score) {
			score, vector = sc, s.Score
		}
	}
	if vector != "" {
		label = rating(score)
	}
	return score, vector, label
}
