package web

import (
	"fmt"
	"net/url"
	"strconv"
)

// pager is the paging of a long list: where the page starts, how many it
// shows of how many there are, and the links to the other pages. Every
// list that can outgrow a page (search results, alerts, incidents) shows
// one, so that nothing is cut off without notice.
type pager struct {
	// Path and Params make the page links (Params without offset).
	Path   string
	Params url.Values
	// Offset is the index of the first item shown; Size the page size.
	Offset, Size int
	// Shown is how many items this page shows.
	Shown int
	// Total is how many items there are; Exact is false when it is a
	// lower bound (an aggregate that hit its row bound).
	Total int64
	Exact bool
	// MaxOffset is the deepest page a link may lead to (the store's
	// bound on offset+limit): past it, Beyond says how to see the rest.
	MaxOffset int
	// Noun names the items ("events", "alerts").
	Noun string
	// Beyond says what to do when Total is past what paging reaches.
	Beyond string
}

func (p pager) link(off int) string {
	v := url.Values{}
	for k, vs := range p.Params {
		if k != "offset" {
			v[k] = vs
		}
	}
	if off > 0 {
		v.Set("offset", strconv.Itoa(off))
	}
	if len(v) == 0 {
		return p.Path
	}
	return p.Path + "?" + v.Encode()
}

// reach is how many items paging can show: Total, or up to MaxOffset's
// page.
func (p pager) reach() int64 {
	if p.MaxOffset > 0 && p.Total > int64(p.MaxOffset+p.Size) {
		return int64(p.MaxOffset + p.Size)
	}
	return p.Total
}

// Summary says which items the page shows: "1–100 of 1,000 events".
func (p pager) Summary() string {
	total := fmtNum(p.Total)
	if !p.Exact {
		total = "at least " + total
	}
	if p.Shown == 0 {
		if p.Offset > 0 {
			return fmt.Sprintf("No %s on this page (%s in all)", p.Noun, total)
		}
		return fmt.Sprintf("No %s", p.Noun)
	}
	return fmt.Sprintf("%s–%s of %s %s", fmtNum(p.Offset+1), fmtNum(p.Offset+p.Shown), total, p.Noun)
}

// Prev, Next, First and Last return the links to those pages, or "" where
// there is no such page.
func (p pager) Prev() string {
	if p.Offset <= 0 {
		return ""
	}
	// From past the end, back to the last page there is.
	prev := min(max(0, p.Offset-p.Size), p.lastOffset())
	return p.link(prev)
}

// lastOffset is where the last page paging reaches starts.
func (p pager) lastOffset() int {
	n := p.reach()
	if n <= 0 || p.Size <= 0 {
		return 0
	}
	last := int((n - 1) / int64(p.Size) * int64(p.Size))
	if p.MaxOffset > 0 {
		last = min(last, p.MaxOffset)
	}
	return last
}

func (p pager) Next() string {
	next := p.Offset + p.Size
	if int64(next) >= p.reach() || p.MaxOffset > 0 && next > p.MaxOffset {
		return ""
	}
	return p.link(next)
}

func (p pager) First() string {
	if p.Offset <= 0 {
		return ""
	}
	return p.link(0)
}

func (p pager) Last() string {
	n := p.reach()
	if n <= int64(p.Size) || !p.Exact && p.MaxOffset == 0 {
		return ""
	}
	last := p.lastOffset()
	if last <= p.Offset {
		return ""
	}
	return p.link(last)
}

// Cut says, when paging cannot reach every item, how many it reaches and
// what to do about the rest.
func (p pager) Cut() string {
	if p.reach() >= p.Total {
		return ""
	}
	return fmt.Sprintf("Pages reach the first %s of them; %s", fmtNum(p.reach()), p.Beyond)
}

// pageOffset reads the offset parameter: a whole number from 0 to max.
func pageOffset(v url.Values, maxOffset int) (int, error) {
	s := v.Get("offset")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("offset: want a whole number from 0 to %s", fmtNum(maxOffset))
	}
	if n > maxOffset {
		return 0, fmt.Errorf("offset %s is past the last page this list reaches (at most %s)", fmtNum(n), fmtNum(maxOffset))
	}
	return n, nil
}
