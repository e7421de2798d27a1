package intel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/egress"
	"github.com/vigilsec/vigil/internal/event"
)

// maxProblems bounds the parse problems kept per feed for Status.
const maxProblems = 10

// retryAfterFailure is how soon a feed whose load failed is tried again,
// when its refresh interval is longer.
const retryAfterFailure = 5 * time.Minute

// Options configures a Manager.
type Options struct {
	// Logger receives reload reports; nil discards them.
	Logger *slog.Logger
	// Egress is the policy feed downloads go through, redirects included
	// (nil: the default policy, which refuses internal addresses). Each
	// fetch is bounded by its feed's Timeout.
	Egress *egress.Policy
	// Fields maps event fields to the kind of indicator they hold; nil
	// means DefaultFields().
	Fields map[string]Kind
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// FeedStatus reports the state of one feed.
type FeedStatus struct {
	Name    string `json:"name"`
	Source  string `json:"source"` // path, or URL without credentials and query
	Format  Format `json:"format"`
	Enabled bool   `json:"enabled"`
	// Indicators is how many indicators the feed holds now.
	Indicators int `json:"indicators"`
	// Skipped and Errors count the entries of the last parse that were
	// skipped as unsupported and that were bad.
	Skipped int `json:"skipped"`
	Errors  int `json:"errors"`
	// Problems are the first few parse errors of the last parse.
	Problems []string `json:"problems,omitempty"`
	// LastLoad is when the feed was last loaded or found unchanged.
	LastLoad time.Time `json:"last_load"`
	// LastAttempt is when a load was last tried.
	LastAttempt time.Time `json:"last_attempt"`
	// LastError is why the last attempt failed, "" if it did not. A failed
	// attempt keeps the previous indicators.
	LastError string `json:"last_error,omitempty"`
	// Duration is how long the last attempt took.
	Duration time.Duration `json:"duration"`
}

type feedState struct {
	cfg    FeedConfig
	mu     sync.Mutex // serializes loads of this feed
	inds   []Indicator
	val    validator
	status FeedStatus
}

// Manager loads threat-intel feeds, keeps them fresh and matches events
// against the indicators of all of them. Match is safe for concurrent use
// and never waits for a reload.
type Manager struct {
	opts    Options
	client  *http.Client
	now     func() time.Time
	feeds   []*feedState
	idx     atomic.Pointer[Index]
	mu      sync.Mutex // guards the inds, val and status of feeds
	buildMu sync.Mutex // serializes index builds
	dirty   chan struct{}
	running atomic.Bool
}

// New validates the feed configurations and returns a Manager with an empty
// index. Call Load or Run to load the feeds.
func New(feeds []FeedConfig, opts Options) (*Manager, error) {
	m := &Manager{opts: opts, client: feedClient(opts.Egress), now: opts.Now, dirty: make(chan struct{}, 1)}
	if m.now == nil {
		m.now = time.Now
	}
	if m.opts.Logger == nil {
		m.opts.Logger = slog.New(slog.DiscardHandler)
	}
	names := map[string]bool{}
	var errs []error
	for _, c := range feeds {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if names[c.Name] {
			errs = append(errs, fmt.Errorf("intel feed %q: name used twice", c.Name))
			continue
		}
		names[c.Name] = true
		if c.Format == "" {
			c.Format = FormatList
		}
		m.feeds = append(m.feeds, &feedState{cfg: c, status: FeedStatus{
			Name: c.Name, Source: c.source(), Format: c.Format, Enabled: c.IsEnabled(),
		}})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m.idx.Store(NewIndex(nil, IndexOptions{Fields: opts.Fields}))
	return m, nil
}

// Match calls fn for every indicator that matches a field of ev; see
// (*Index).Match.
func (m *Manager) Match(ev *event.Event, fn func(Hit)) {
	m.idx.Load().Match(ev, fn)
}

// Index returns the current index.
func (m *Manager) Index() *Index { return m.idx.Load() }

// Status returns the state of every feed, in configuration order.
func (m *Manager) Status() []FeedStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]FeedStatus, len(m.feeds))
	for i, f := range m.feeds {
		out[i] = f.status
		out[i].Problems = append([]string(nil), f.status.Problems...)
	}
	return out
}

// Load loads every enabled feed once and swaps in a new index. It returns
// the feeds' failures joined; a feed that fails keeps its previous
// indicators.
func (m *Manager) Load(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 4)
		emu  sync.Mutex
		errs []error
	)
	for _, f := range m.feeds {
		if !f.cfg.IsEnabled() {
			continue
		}
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if _, err := m.loadFeed(ctx, f); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		})
	}
	wg.Wait()
	m.build()
	return errors.Join(errs...)
}

// Run loads every enabled feed, then reloads each on its refresh interval
// until ctx is done, swapping in a new index after each change. It returns
// nil when ctx is done. Run may be called once.
func (m *Manager) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("intel: manager already running")
	}
	// Failures are logged per feed and kept in Status.
	_ = m.Load(ctx)
	var wg sync.WaitGroup
	for _, f := range m.feeds {
		if !f.cfg.IsEnabled() {
			continue
		}
		wg.Go(func() { m.refreshLoop(ctx, f) })
	}
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-m.dirty:
			m.build()
		}
	}
}

func (m *Manager) refreshLoop(ctx context.Context, f *feedState) {
	every := f.cfg.refresh()
	wait := every
	m.mu.Lock()
	if f.status.LastError != "" {
		wait = min(every, retryAfterFailure) // the first load failed
	}
	m.mu.Unlock()
	for {
		// Up to 10% of jitter keeps feeds that share a server apart.
		wait += time.Duration(rand.Int64N(int64(wait)/10 + 1))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		changed, err := m.loadFeed(ctx, f)
		if ctx.Err() != nil {
			return
		}
		// A failed load is retried sooner, for network blips.
		wait = every
		if err != nil {
			wait = min(every, retryAfterFailure)
		}
		if changed {
			select {
			case m.dirty <- struct{}{}:
			default:
			}
		}
	}
}

// loadFeed loads one feed and records the outcome in its status. changed
// reports new indicators.
func (m *Manager) loadFeed(ctx context.Context, f *feedState) (changed bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m.mu.Lock()
	prev := f.val
	m.mu.Unlock()
	start := m.now()
	res, err := fetch(ctx, m.client, f.cfg, prev)
	took := m.now().Sub(start)

	m.mu.Lock()
	defer m.mu.Unlock()
	st := &f.status
	st.LastAttempt, st.Duration = start, took
	if err != nil {
		st.LastError = err.Error()
		m.opts.Logger.Warn("intel feed not reloaded, keeping previous indicators",
			"feed", f.cfg.Name, "indicators", len(f.inds), "err", egress.Detail(err))
		return false, fmt.Errorf("intel feed %q: %w", f.cfg.Name, err)
	}
	st.LastError = ""
	st.LastLoad = start
	f.val = res.val
	if res.notModified {
		return false, nil
	}
	f.inds = res.inds
	st.Indicators = len(res.inds)
	st.Skipped, st.Errors = CountErrors(res.errs)
	st.Problems = st.Problems[:0]
	for _, e := range res.errs {
		if len(st.Problems) == maxProblems {
			break
		}
		if !errors.Is(e, ErrUnsupported) {
			st.Problems = append(st.Problems, e.Error())
		}
	}
	m.opts.Logger.Info("intel feed loaded", "feed", f.cfg.Name, "indicators", len(res.inds),
		"skipped", st.Skipped, "errors", st.Errors, "took", took)
	return true, nil
}

// build makes a new index of every feed's current indicators and swaps it
// in.
func (m *Manager) build() {
	m.buildMu.Lock()
	defer m.buildMu.Unlock()
	m.mu.Lock()
	sets := make([][]Indicator, 0, len(m.feeds))
	for _, f := range m.feeds {
		if len(f.inds) > 0 {
			sets = append(sets, f.inds)
		}
	}
	m.mu.Unlock()
	m.idx.Store(NewIndex(sets, IndexOptions{Now: m.now(), Fields: m.opts.Fields}))
}
