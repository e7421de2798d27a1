package db

import (
	"net/url"
	"slices"
	"strings"
)

// Feeds are where vigil vulndb update fetches data from.
type Feeds struct {
	// OSV is the base of OSV's per-ecosystem exports: OSV/<Ecosystem>/all.zip.
	OSV string
	// KEV is the CISA KEV catalog's JSON feed.
	KEV string
	// EPSS is FIRST EPSS's current scores (CSV, gzip).
	EPSS string
}

// DefaultFeeds are the publishers' own addresses.
var DefaultFeeds = Feeds{
	OSV:  "https://osv-vulnerabilities.storage.googleapis.com",
	KEV:  "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json",
	EPSS: "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz",
}

// exportName is the OSV export an ecosystem's records are published in:
// "Debian:12" and "Debian:13" are both in Debian/all.zip.
func exportName(ecosystem string) string {
	base, _, _ := strings.Cut(ecosystem, ":")
	return base
}

// UpdateURLs returns the URLs that refresh the database's content: the
// OSV export of every ecosystem it holds and of the extra ones, and the
// KEV and EPSS feeds when it holds them or kev / epss ask for them.
func (s *Status) UpdateURLs(f Feeds, extra []string, kev, epss bool) []string {
	var exports []string
	for _, e := range s.Ecosystems {
		exports = append(exports, exportName(e.Ecosystem))
	}
	for _, src := range s.Sources {
		switch {
		case src.Name == "kev":
			kev = true
		case src.Name == "epss":
			epss = true
		case strings.HasPrefix(src.Name, "osv:"):
			exports = append(exports, exportName(strings.TrimPrefix(src.Name, "osv:")))
		}
	}
	for _, e := range extra {
		exports = append(exports, exportName(e))
	}
	slices.Sort(exports)
	exports = slices.Compact(exports)
	var urls []string
	for _, e := range exports {
		if e == "" {
			continue
		}
		urls = append(urls, strings.TrimSuffix(f.OSV, "/")+"/"+url.PathEscape(e)+"/all.zip")
	}
	if kev {
		urls = append(urls, f.KEV)
	}
	if epss {
		urls = append(urls, f.EPSS)
	}
	return urls
}
