package db

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

var cveRE = regexp.MustCompile(`^CVE-[0-9]{4}-[0-9]{4,12}$`)

// kevCatalog is the CISA KEV JSON feed, as far as Vigil reads it.
type kevCatalog struct {
	CatalogVersion  string `json:"catalogVersion"`
	DateReleased    string `json:"dateReleased"`
	Count           *int   `json:"count"`
	Vulnerabilities []struct {
		CVEID             string `json:"cveID"`
		VendorProject     string `json:"vendorProject"`
		Product           string `json:"product"`
		VulnerabilityName string `json:"vulnerabilityName"`
		DateAdded         string `json:"dateAdded"`
		DueDate           string `json:"dueDate"`
		Ransomware        string `json:"knownRansomwareCampaignUse"`
	} `json:"vulnerabilities"`
}

// plainText refuses control characters and overlong text from a feed.
func plainText(field, s string, max int) error {
	if len(s) > max || !utf8.ValidString(s) {
		return fmt.Errorf("%s: not text of at most %d bytes", field, max)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || 0x80 <= r && r < 0xa0 {
			return fmt.Errorf("%s: control character %U", field, r)
		}
	}
	return nil
}

// parseKEV reads and checks a KEV catalog.
func parseKEV(data []byte) (*kevCatalog, time.Time, error) {
	var c kevCatalog
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&c); err != nil {
		return nil, time.Time{}, fmt.Errorf("KEV catalog: %w", err)
	}
	if c.Count != nil && *c.Count != len(c.Vulnerabilities) {
		return nil, time.Time{}, fmt.Errorf("KEV catalog: count says %d entries, the file has %d", *c.Count, len(c.Vulnerabilities))
	}
	if len(c.Vulnerabilities) == 0 {
		return nil, time.Time{}, errors.New("KEV catalog: no vulnerabilities")
	}
	released, err := time.Parse(time.RFC3339Nano, c.DateReleased)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("KEV catalog: dateReleased: %w", err)
	}
	if err := plainText("catalogVersion", c.CatalogVersion, 64); err != nil {
		return nil, time.Time{}, fmt.Errorf("KEV catalog: %w", err)
	}
	for i, v := range c.Vulnerabilities {
		if !cveRE.MatchString(v.CVEID) {
			return nil, time.Time{}, fmt.Errorf("KEV catalog: vulnerabilities[%d]: cveID %q is not a CVE id", i, v.CVEID)
		}
		for name, d := range map[string]string{"dateAdded": v.DateAdded, "dueDate": v.DueDate} {
			if _, err := time.Parse(time.DateOnly, d); err != nil {
				return nil, time.Time{}, fmt.Errorf("KEV catalog: %s: %s %q: want YYYY-MM-DD", v.CVEID, name, d)
			}
		}
		for name, s := range map[string]string{"knownRansomwareCampaignUse": v.Ransomware, "vendorProject": v.VendorProject, "product": v.Product, "vulnerabilityName": v.VulnerabilityName} {
			if err := plainText(name, s, 512); err != nil {
				return nil, time.Time{}, fmt.Errorf("KEV catalog: %s: %w", v.CVEID, err)
			}
		}
	}
	return &c, released, nil
}

// kev replaces the stored catalog with this one (the feed is always the
// whole catalog).
func (im *importer) kev(ctx context.Context, data []byte) error {
	c, released, err := parseKEV(data)
	if err != nil {
		return err
	}
	if _, err := im.tx.ExecContext(ctx, `DELETE FROM kev`); err != nil {
		return fmt.Errorf("KEV catalog: %w", err)
	}
	st, err := im.tx.PrepareContext(ctx, `INSERT INTO kev (cve, date_added, due_date, ransomware, vendor, product, name) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (cve) DO UPDATE SET date_added = excluded.date_added, due_date = excluded.due_date, ransomware = excluded.ransomware`)
	if err != nil {
		return fmt.Errorf("KEV catalog: %w", err)
	}
	defer st.Close()
	for _, v := range c.Vulnerabilities {
		if _, err := st.ExecContext(ctx, v.CVEID, v.DateAdded, v.DueDate, v.Ransomware, v.VendorProject, v.Product, v.VulnerabilityName); err != nil {
			return fmt.Errorf("KEV catalog: %w", err)
		}
	}
	im.stats.KEV += len(c.Vulnerabilities)
	return im.source(ctx, "kev", formatTime(released), fmt.Sprintf("catalog %s, %d entries", c.CatalogVersion, len(c.Vulnerabilities)))
}

// epssFile is a parsed EPSS CSV file.
type epssFile struct {
	model   string
	scoreAt time.Time // zero when the file does not say
	cves    []string
	scores  []EPSS
}

// parseEPSS reads an EPSS CSV file: an optional
// "#model_version:...,score_date:..." line, the header cve,epss,percentile,
// then one row per CVE.
func parseEPSS(data []byte, maxRows int) (*epssFile, error) {
	var f epssFile
	line := 1
	if bytes.HasPrefix(data, []byte("#")) {
		first, rest, _ := bytes.Cut(data, []byte("\n"))
		data = rest
		line++
		var scoreDate string
		for _, kv := range strings.Split(strings.TrimSpace(strings.TrimPrefix(string(first), "#")), ",") {
			k, v, _ := strings.Cut(kv, ":")
			switch k {
			case "model_version":
				f.model = v
			case "score_date":
				scoreDate = v
			}
		}
		if err := plainText("model_version", f.model, 64); err != nil {
			return nil, fmt.Errorf("EPSS line 1: %w", err)
		}
		if scoreDate != "" {
			t, err := time.Parse("2006-01-02T15:04:05Z0700", scoreDate)
			if err != nil {
				if t, err = time.Parse(time.RFC3339, scoreDate); err != nil {
					return nil, fmt.Errorf("EPSS line 1: score_date %q: %w", scoreDate, err)
				}
			}
			f.scoreAt = t
		}
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = 3
	r.ReuseRecord = true
	hdr, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("EPSS line %d: %w", line, err)
	}
	if hdr[0] != "cve" || hdr[1] != "epss" || hdr[2] != "percentile" {
		return nil, fmt.Errorf("EPSS line %d: header %q, want cve,epss,percentile", line, strings.Join(hdr, ","))
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("EPSS: %w", err)
		}
		ln, _ := r.FieldPos(0)
		ln += line - 1
		if len(f.cves) >= maxRows {
			return nil, fmt.Errorf("EPSS: %w: more than %d rows", ErrLimit, maxRows)
		}
		if !cveRE.MatchString(rec[0]) {
			return nil, fmt.Errorf("EPSS line %d: %q is not a CVE id", ln, rec[0])
		}
		var p [2]float64
		for i, s := range rec[1:] {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(v) || v < 0 || v > 1 {
				return nil, fmt.Errorf("EPSS line %d: %q is not a probability between 0 and 1", ln, s)
			}
			p[i] = v
		}
		f.cves = append(f.cves, rec[0])
		f.scores = append(f.scores, EPSS{Score: p[0], Percentile: p[1]})
	}
	if len(f.cves) == 0 {
		return nil, errors.New("EPSS: no scores")
	}
	return &f, nil
}

// epss replaces the stored scores with this file's.
func (im *importer) epss(ctx context.Context, data []byte) error {
	f, err := parseEPSS(data, im.db.Limits.MaxEPSSRows)
	if err != nil {
		return err
	}
	if _, err := im.tx.ExecContext(ctx, `DELETE FROM epss`); err != nil {
		return fmt.Errorf("EPSS: %w", err)
	}
	st, err := im.tx.PrepareContext(ctx, `INSERT INTO epss (cve, score, percentile) VALUES (?, ?, ?)
		ON CONFLICT (cve) DO UPDATE SET score = excluded.score, percentile = excluded.percentile`)
	if err != nil {
		return fmt.Errorf("EPSS: %w", err)
	}
	defer st.Close()
	for i, cve := range f.cves {
		if _, err := st.ExecContext(ctx, cve, f.scores[i].Score, f.scores[i].Percentile); err != nil {
			return fmt.Errorf("EPSS: %w", err)
		}
	}
	im.stats.EPSS += len(f.cves)
	dataTime := im.now
	if !f.scoreAt.IsZero() {
		dataTime = formatTime(f.scoreAt)
	}
	return im.source(ctx, "epss", dataTime, fmt.Sprintf("model %s, %d scores", f.model, len(f.cves)))
}
