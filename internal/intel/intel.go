// Package intel loads threat-intelligence feeds (plain lists, CSV, STIX 2.1
// bundles, MISP events) into an immutable in-memory index and matches the
// normalized fields of events against it as they are ingested.
//
// Indicators are IP addresses and CIDR ranges, domain names (which also
// match every subdomain), URLs (normalized), file hashes (MD5, SHA-1,
// SHA-256) and e-mail addresses. A Manager owns a set of feeds, reloads each
// on its schedule and swaps in a freshly built Index atomically, so matching
// never waits for a reload.
package intel

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind is the type of an indicator.
type Kind uint8

// Indicator kinds. The zero Kind means "unknown": a list feed without a
// forced kind guesses the kind of each line.
const (
	KindUnknown Kind = iota
	// KindIP is an IPv4 or IPv6 address or a CIDR range.
	KindIP
	// KindDomain is a domain name; it matches the name and its subdomains.
	KindDomain
	// KindURL is an absolute URL in normalized form.
	KindURL
	// KindHash is an MD5, SHA-1 or SHA-256 digest in lower-case hex.
	KindHash
	// KindEmail is an e-mail address in lower case.
	KindEmail
)

var kindNames = [...]string{"", "ip", "domain", "url", "hash", "email"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		if k == KindUnknown {
			return "unknown"
		}
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind returns the Kind named by s. Besides the canonical names (ip,
// domain, url, hash, email) it accepts common aliases used by feeds: ipv4,
// ipv6, cidr, ip-src, ip-dst, hostname, fqdn, uri, md5, sha1, sha256,
// email-src and friends. The empty string is KindUnknown.
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto", "unknown":
		return KindUnknown, nil
	case "ip", "ipv4", "ipv6", "ip-src", "ip-dst", "ipv4-addr", "ipv6-addr", "cidr", "net", "network", "ip address", "ipaddress":
		return KindIP, nil
	case "domain", "hostname", "host", "fqdn", "domain-name", "dns":
		return KindDomain, nil
	case "url", "uri", "link":
		return KindURL, nil
	case "hash", "md5", "sha1", "sha-1", "sha256", "sha-256", "filehash", "file-hash", "file_hash":
		return KindHash, nil
	case "email", "e-mail", "mail", "email-src", "email-dst", "email-addr", "email-address":
		return KindEmail, nil
	}
	return KindUnknown, fmt.Errorf("unknown indicator kind %q", s)
}

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) {
	if k == KindUnknown {
		return []byte{}, nil
	}
	if int(k) >= len(kindNames) {
		return nil, fmt.Errorf("invalid indicator kind %d", uint8(k))
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler, so that a Kind can be
// read from configuration.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Context is what a feed says about an indicator besides its value. Parsers
// intern contexts, so that the many indicators of a list feed, or of one
// MISP event, share one Context instead of carrying copies of the same
// description and tags. A Context is immutable once built.
type Context struct {
	// Feed is the name of the feed the indicator came from.
	Feed string
	// Description says what the indicator is about (STIX name and
	// description, MISP event info and attribute comment, a CSV column).
	Description string
	// Tags are labels from the feed (STIX labels and indicator_types,
	// MISP tags, a CSV column).
	Tags []string
	// Source is a reference to the indicator in its source: the STIX
	// indicator id, the MISP event id, empty for lists.
	Source string
	// FirstSeen and LastSeen are when the source first and last saw the
	// indicator, zero when it does not say.
	FirstSeen, LastSeen time.Time
	// ValidUntil is when the indicator expires; zero means never. Expired
	// indicators are left out of an Index and never reported.
	ValidUntil time.Time
}

// Indicator is one normalized indicator of compromise.
type Indicator struct {
	// Value is the normalized value: an address or CIDR in canonical form
	// (netip), a lower-case domain without trailing dot, a normalized URL,
	// lower-case hex for hashes, a lower-case e-mail address.
	Value string
	// Kind is the kind of Value.
	Kind Kind
	// Confidence is the feed's confidence in the indicator, 0-100.
	Confidence uint8
	// Context is the indicator's shared context. Parsers never leave it
	// nil; an Index treats a nil Context as empty.
	Context *Context
}

// Expired reports whether the indicator has a ValidUntil at or before now.
func (in *Indicator) Expired(now time.Time) bool {
	return in.Context != nil && !in.Context.ValidUntil.IsZero() && !now.Before(in.Context.ValidUntil)
}

// Hit is one match of an indicator against a field of an event.
type Hit struct {
	// Indicator is the matched indicator; it is shared and must not be
	// modified.
	Indicator *Indicator
	// Field is the event field that matched.
	Field string
	// Value is the matched text: the field's value, or for a field that
	// lists several hashes (Windows Hashes) the one hash that matched.
	Value string
}

// Sentinel errors.
var (
	// ErrUnsupported marks an entry a parser skipped on purpose: a STIX
	// pattern it cannot turn into indicators, a non-STIX pattern type, a
	// MISP attribute type that is not an indicator kind, a MISP attribute
	// not flagged for detection. Count them with errors.Is; they are not
	// failures of the feed.
	ErrUnsupported = errors.New("unsupported")
	// ErrTooLarge is returned when a feed exceeds its size bound.
	ErrTooLarge = errors.New("feed too large")
	// ErrTooMany is returned when a feed exceeds its indicator bound.
	ErrTooMany = errors.New("too many indicators")
	// ErrLineTooLong is returned for a line longer than the line bound.
	ErrLineTooLong = errors.New("line too long")
)

// ParseError is a problem with one line or entry of a feed.
type ParseError struct {
	// Line is the 1-based line where the entry starts; 0 when unknown.
	Line int
	// Err is what was wrong.
	Err error
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }

// OmittedErrors stands for the errors a parser counted but did not keep once
// it had MaxErrors of them; it is the last element of the error list.
type OmittedErrors struct {
	// Count is how many errors were left out, Unsupported of them being
	// ErrUnsupported skips.
	Count, Unsupported int
}

func (e *OmittedErrors) Error() string {
	return fmt.Sprintf("%d more errors omitted (%d of them unsupported entries)", e.Count, e.Unsupported)
}

// CountErrors splits a parser's error list into skipped entries
// (ErrUnsupported) and real errors, counting those an OmittedErrors stands
// for.
func CountErrors(errs []error) (skipped, failed int) {
	for _, err := range errs {
		var om *OmittedErrors
		switch {
		case errors.As(err, &om):
			skipped += om.Unsupported
			failed += om.Count - om.Unsupported
		case errors.Is(err, ErrUnsupported):
			skipped++
		default:
			failed++
		}
	}
	return skipped, failed
}
