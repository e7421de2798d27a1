// Package findings tracks vulnerabilities over time: one finding per asset,
// package and vulnerability (aliases merged), reconciled against each new
// inventory of the asset, with a lifecycle (new, open, fixed, reopened,
// risk_accepted, false_positive), an append-only history, SLA due dates by
// priority with one alert per breach, and a two-person risk-acceptance
// workflow. Matching and prioritisation are internal/vuln/scan's; the
// state lives in the metadata database (migration 12).
package findings

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/vuln/db"
)

// States of a finding.
const (
	// StateNew is a finding its asset's latest reconcile found for the
	// first time.
	StateNew = "new"
	// StateOpen is a finding seen again by a later reconcile, or
	// triaged by hand.
	StateOpen = "open"
	// StateFixed is closed: the package is gone or at a version outside
	// the advisory's ranges.
	StateFixed = "fixed"
	// StateReopened is a fixed finding matched again (a downgrade), or
	// one whose risk acceptance lapsed, or reopened by hand.
	StateReopened = "reopened"
	// StateRiskAccepted is closed by an approved risk acceptance until
	// its expiry.
	StateRiskAccepted = "risk_accepted"
	// StateFalsePositive is closed by hand with a reason; reconciles
	// leave it closed.
	StateFalsePositive = "false_positive"
)

// States lists every state.
var States = []string{StateNew, StateOpen, StateFixed, StateReopened, StateRiskAccepted, StateFalsePositive}

// active are the states whose findings need work (and whose SLA runs).
var active = []string{StateNew, StateOpen, StateReopened}

// IsActive reports whether a finding in state needs work.
func IsActive(state string) bool { return slices.Contains(active, state) }

// Asset kinds.
const (
	KindAgent = "agent"
	KindSBOM  = "sbom"
	KindScan  = "scan"
)

// Criticalities of an asset, least first.
var Criticalities = []string{"low", "medium", "high", "critical"}

// Bounds.
const (
	// MaxNameLen bounds an asset's name and id.
	MaxNameLen = 256
	// MaxTags bounds an asset's tags, MaxTagLen each tag.
	MaxTags   = 32
	MaxTagLen = 64
	// MaxReasonLen bounds a reason given by a person.
	MaxReasonLen = 2000
	// MaxAcceptance bounds a risk acceptance's life.
	MaxAcceptance = 366 * 24 * time.Hour
	// MaxPageSize bounds a page of findings; DefaultPageSize is a page
	// when none is asked.
	MaxPageSize     = 1000
	DefaultPageSize = 100
	// MaxOffset bounds the offset of a page.
	MaxOffset = 1_000_000
	// MaxExportRows bounds a CSV export.
	MaxExportRows = 100_000
)

// Errors.
var (
	// ErrNotFound means no finding (or acceptance) has the id.
	ErrNotFound = errors.New("no such finding")
	// ErrInvalid means a request's values are out of bounds or malformed.
	ErrInvalid = errors.New("invalid request")
	// ErrConflict means the finding's state does not allow the change.
	ErrConflict = errors.New("conflicts with the finding's state")
	// ErrSamePerson means the approver of a risk acceptance is its
	// requester.
	ErrSamePerson = errors.New("a risk acceptance must be approved by someone other than its requester")
	// ErrNoAdvisories means the advisory database is missing.
	ErrNoAdvisories = db.ErrNoDatabase
)

// Asset is what has an inventory: an agent's host, an uploaded SBOM, a
// `vigil scan --server` upload.
type Asset struct {
	// ID is unique: the kind, ':' and the name for uploads; the agent id
	// for agents.
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Criticality is low, medium (the default), high or critical.
	Criticality string `json:"criticality"`
	// Tags describe exposure and ownership (internet-facing, team:web).
	Tags []string `json:"tags"`
}

var tagRE = regexp.MustCompile(`^[A-Za-z0-9._:/=-]+$`)

// Normalize fills the defaults and checks the bounds.
func (a *Asset) Normalize() error {
	if a.Criticality == "" {
		a.Criticality = "medium"
	}
	if !slices.Contains(Criticalities, a.Criticality) {
		return fmt.Errorf("%w: criticality %q: want low, medium, high or critical", ErrInvalid, a.Criticality)
	}
	switch a.Kind {
	case KindAgent, KindSBOM, KindScan:
	default:
		return fmt.Errorf("%w: asset kind %q: want agent, sbom or scan", ErrInvalid, a.Kind)
	}
	if err := checkText("asset name", a.Name, MaxNameLen); err != nil {
		return err
	}
	if a.Name == "" {
		return fmt.Errorf("%w: asset name is empty", ErrInvalid)
	}
	if a.ID == "" {
		a.ID = a.Kind + ":" + a.Name
	}
	if err := checkText("asset id", a.ID, MaxNameLen+16); err != nil {
		return err
	}
	if len(a.Tags) > MaxTags {
		return fmt.Errorf("%w: %d tags, at most %d", ErrInvalid, len(a.Tags), MaxTags)
	}
	if a.Tags == nil {
		a.Tags = []string{}
	}
	for _, t := range a.Tags {
		if len(t) > MaxTagLen || !tagRE.MatchString(t) {
			return fmt.Errorf("%w: tag %q: want at most %d of A-Z a-z 0-9 . _ : / = -", ErrInvalid, truncate(t, 80), MaxTagLen)
		}
	}
	slices.Sort(a.Tags)
	a.Tags = slices.Compact(a.Tags)
	return nil
}

// checkText refuses invalid UTF-8, control characters and text past max
// bytes.
func checkText(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, what, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return fmt.Errorf("%w: %s holds a control character", ErrInvalid, what)
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Raiser raises alerts (*alert.Recorder).
type Raiser interface {
	Raise(alert.Alert)
}

// Options configure a Service.
type Options struct {
	// DB is the metadata database (migration 12 applied).
	DB *sql.DB
	// VulnDB is the advisory database's folder (DATA/vulndb), opened
	// read-only for each reconcile.
	VulnDB string
	// SLA gives due dates (zero: the defaults).
	SLA SLA
	// Alerts raises SLA breaches (nil: none raised).
	Alerts Raiser
	Log    *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// WriteLock, if set, is held around each write transaction, so that
	// the alert path's writes go first (meta.WriteLock.Background).
	WriteLock sync.Locker
}

// Service is the findings' state.
type Service struct {
	o  Options
	db *sql.DB
	// reconcileMu runs one reconcile at a time: each reads the asset's
	// findings and writes them back in one transaction, and the advisory
	// database is opened once per run.
	reconcileMu sync.Mutex
	// uploadStarted, if set, is called once a scan upload holds its
	// slot (tests).
	uploadStarted func()
}

// Open returns a service over o.DB.
func Open(o Options) (*Service, error) {
	if o.DB == nil {
		return nil, errors.New("findings: no metadata database")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.SLA == (SLA{}) {
		o.SLA = DefaultSLA()
	}
	if err := o.SLA.Validate(); err != nil {
		return nil, fmt.Errorf("findings: sla: %w", err)
	}
	return &Service{o: o, db: o.DB}, nil
}

func (s *Service) now() time.Time { return s.o.Now().UTC() }

// openAdvisories opens the advisory database read-only.
func (s *Service) openAdvisories(ctx context.Context) (*db.DB, error) {
	if s.o.VulnDB == "" {
		return nil, fmt.Errorf("%w: no advisory database folder configured", ErrNoAdvisories)
	}
	return db.Open(ctx, s.o.VulnDB, db.Options{ReadOnly: true})
}

// beginWrite begins a write transaction under the write lock; done rolls
// back what was not committed and releases the lock.
func (s *Service) beginWrite(ctx context.Context) (*sql.Tx, func(), error) {
	unlock := func() {}
	if l := s.o.WriteLock; l != nil {
		l.Lock()
		unlock = l.Unlock
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return tx, func() { tx.Rollback(); unlock() }, nil
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
