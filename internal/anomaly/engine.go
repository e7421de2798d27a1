package anomaly

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sigma"
)

// Recorder takes the engine's detections (*alert.Recorder).
type Recorder interface {
	Record(d detect.Detection)
}

// Locator finds where an address is (GeoIP); ok is false when it does not
// know.
type Locator func(ip netip.Addr) (lat, lon float64, ok bool)

// Options tune an Engine.
type Options struct {
	// MaxEntities bounds the entities each rule holds (default 100000);
	// past it the least recently seen goes (Stats.Evicted).
	MaxEntities int
	// MaxValues bounds the values a first_seen or rare rule keeps per
	// entity (default 1024); past it new values are not learnt
	// (Stats.ValuesDropped).
	MaxValues int
	// Now is the engine's clock, which warm-ups are measured by (default
	// time.Now).
	Now func() time.Time
	// Locate finds an address's place for impossible travel when an event
	// carries no coordinates (nil: coordinates only).
	Locate Locator
	// Country finds an address's ISO country code (GeoIP) for a rule
	// watching source.geo.country_iso_code when an event has none: the
	// country of its source.ip (nil: the event's field only).
	Country func(ip netip.Addr) (string, bool)
}

var (
	kCountry  = event.Intern("source.geo.country_iso_code")
	kSourceIP = event.Intern("source.ip")
)

// country is the GeoIP country of the event's source.ip.
func (e *Engine) country(ev *event.Event) (string, bool) {
	v, ok := ev.Get(kSourceIP)
	if !ok {
		return "", false
	}
	ip, err := netip.ParseAddr(v.Str)
	if err != nil {
		return "", false
	}
	c, ok := e.opts.Country(ip.Unmap())
	// An ISO 3166 code: two letters. Anything else is no country.
	if !ok || len(c) != 2 {
		return "", false
	}
	return c, true
}

// Default bounds.
const (
	DefaultMaxEntities = 100000
	DefaultMaxValues   = 1024
)

// maxGroupValue bounds, in bytes, each entity or value text an alert
// carries (its group).
const maxGroupValue = 256

// maxFuture is how far ahead of the engine's clock an event's time may be;
// later events are not counted (Stats.FutureEvents), so that one record
// with a time years ahead cannot end every spike baseline's hour.
const maxFuture = time.Hour

// Stats are the engine's counters.
type Stats struct {
	Entities      int64 // held now, all rules
	Evicted       int64 // entities dropped at MaxEntities
	ValuesDropped int64 // values not learnt at MaxValues
	FutureEvents  int64 // events ignored for a time too far ahead
	Detections    int64
}

// Engine runs anomaly rules on events. Detect is safe for concurrent use.
type Engine struct {
	rec   Recorder
	opts  Options
	rules atomic.Pointer[[]*ruleState] // replaced whole by Reload

	evicted, dropped, future, detections atomic.Int64
}

// New compiles rules into an engine that hands its detections to rec.
// Rules with the same id after the first are an error and left out.
func New(rules []*Rule, rec Recorder, opts Options) (*Engine, error) {
	if opts.MaxEntities <= 0 {
		opts.MaxEntities = DefaultMaxEntities
	}
	if opts.MaxValues <= 0 {
		opts.MaxValues = DefaultMaxValues
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Engine{rec: rec, opts: opts}
	e.rules.Store(&[]*ruleState{})
	return e, e.Reload(rules)
}

// Reload puts rules in force in place of the engine's. A rule whose state
// key (id, kind, entity and watched fields, window) is unchanged keeps its
// baselines, whatever else changed (title, level, selection, warm-up);
// the baselines of the others are dropped from memory, and their rows
// from the database at the next start. Rules with an id already used are
// an error and left out.
func (e *Engine) Reload(rules []*Rule) error {
	rules, err := dedupe(rules)
	old := map[string]*baseline{}
	for _, rs := range e.current() {
		old[rs.key] = rs.baseline
	}
	next := make([]*ruleState, 0, len(rules))
	for _, r := range rules {
		rs := compile(r)
		if b, ok := old[rs.key]; ok {
			rs.baseline = b
		}
		next = append(next, rs)
	}
	e.rules.Store(&next)
	return err
}

func (e *Engine) current() []*ruleState { return *e.rules.Load() }

// Rules returns the engine's rules.
func (e *Engine) Rules() []*Rule {
	cur := e.current()
	out := make([]*Rule, len(cur))
	for i, rs := range cur {
		out[i] = rs.r
	}
	return out
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	s := Stats{Evicted: e.evicted.Load(), ValuesDropped: e.dropped.Load(), FutureEvents: e.future.Load(), Detections: e.detections.Load()}
	for _, rs := range e.current() {
		rs.mu.Lock()
		s.Entities += int64(len(rs.entities))
		rs.mu.Unlock()
	}
	return s
}

type selField struct {
	key  event.Key
	vals []string
}

// ruleState is a compiled rule and its baselines. The compiled part does
// not change; the baselines are shared with the rule's next compilation
// after a reload.
type ruleState struct {
	r      *Rule
	sr     *sigma.Rule
	key    string // the rule's id and a digest of its anomaly section
	sel    []selField
	entity []event.Key
	fields []event.Key
	lat    event.Key
	lon    event.Key
	ip     event.Key

	*baseline
}

// baseline is a rule's state.
type baseline struct {
	mu       sync.Mutex
	started  int64 // engine clock (Unix seconds) of the first event; 0: none yet
	entities map[uint64]*entity
	lru      entity // sentinel of the recency list: lru.next is the newest
	dirty    map[uint64]struct{}
	metaDirt bool
}

func compile(r *Rule) *ruleState {
	rs := &ruleState{r: r, sr: r.sigmaRule(), key: stateKey(r), baseline: &baseline{entities: map[uint64]*entity{}, dirty: map[uint64]struct{}{}}}
	rs.lru.next, rs.lru.prev = &rs.lru, &rs.lru
	names := make([]string, 0, len(r.Selection))
	for f := range r.Selection {
		names = append(names, f)
	}
	slices.Sort(names)
	for _, f := range names {
		rs.sel = append(rs.sel, selField{key: event.Intern(f), vals: r.Selection[f]})
	}
	for _, f := range r.Anomaly.Entity {
		rs.entity = append(rs.entity, event.Intern(f))
	}
	for _, f := range r.Anomaly.Fields {
		rs.fields = append(rs.fields, event.Intern(f))
	}
	if r.Anomaly.Kind == KindImpossibleTravel {
		rs.lat = event.Intern(r.Anomaly.Location + ".lat")
		rs.lon = event.Intern(r.Anomaly.Location + ".lon")
		rs.ip = event.Intern(r.Anomaly.IP)
	}
	return rs
}

// stateKey names a rule's persisted state: its id and a digest of what
// the state means (kind, entity and value fields, window), so that a rule
// whose definition changed starts a new baseline instead of reading one
// that counted something else.
func stateKey(r *Rule) string {
	a := r.Anomaly
	h := sha256.Sum256([]byte(strings.Join([]string{a.Kind, strings.Join(a.Entity, "\x00"), strings.Join(a.Fields, "\x00"),
		strconv.FormatInt(int64(r.window), 10)}, "\x01")))
	return r.ID + ":" + fmt.Sprintf("%x", h[:6])
}

// entity is one entity's baseline in one rule.
type entity struct {
	key        uint64
	prev, next *entity
	first      int64 // engine clock (Unix seconds) when first seen
	seen       int64 // engine clock (Unix seconds) when last seen
	// persisted is set once a flush took the entity: its eviction must
	// then delete its row. (An entity evicted before any flush leaves no
	// trace, so that churn through many entities between two flushes
	// does not grow the dirty set past the rows the database holds.)
	persisted bool

	values []uint64   // first_seen: sorted value hashes
	rare   []rareVal  // rare: sorted by hash
	spike  *spikeBase // spike
	travel *place     // impossible_travel: the last login
}

type rareVal struct {
	h       uint64
	epoch   uint32 // window number of cur
	cur     uint32 // uses in window epoch
	prev    uint32 // uses in window epoch-1
	alerted uint32 // epoch+1 of the window alerted in; 0: never
}

// spikeBase is an entity's hourly counts: the current hour's, and per
// hour of the week the sum and sum of squares of the counts of the
// previous weeks (sparse: hours never seen hold nothing).
type spikeBase struct {
	firstHour int64 // event-time hour of the entity's first event
	hour      int64 // the current hour (Unix hours)
	count     uint32
	alerted   bool
	buckets   []hourBucket // sorted by how
}

type hourBucket struct {
	how     uint8 // hour of the week, 0 = Thursday 00:00 UTC (the Unix epoch's)
	sum, sq float32
}

// place is a login's time and position.
type place struct {
	t        int64 // Unix seconds, event time
	lat, lon float32
}

// Detect implements pipeline.Detector.
func (e *Engine) Detect(ev *event.Event) {
	rules := e.current()
	if len(rules) == 0 {
		return
	}
	now := e.opts.Now()
	t := ev.Timestamp()
	for _, rs := range rules {
		if !rs.matches(ev) {
			continue
		}
		if t.After(now.Add(maxFuture)) {
			e.future.Add(1)
			return
		}
		if d, ok := e.apply(rs, ev, t, now); ok {
			e.detections.Add(1)
			e.rec.Record(d)
		}
	}
}

func (rs *ruleState) matches(ev *event.Event) bool {
	ls := rs.r.Logsource
	if (ls.Product != "" && !strings.EqualFold(ls.Product, ev.Logsource.Product)) ||
		(ls.Category != "" && !strings.EqualFold(ls.Category, ev.Logsource.Category)) ||
		(ls.Service != "" && !strings.EqualFold(ls.Service, ev.Logsource.Service)) {
		return false
	}
	for _, s := range rs.sel {
		if !anyValue(ev, s) {
			return false
		}
	}
	return true
}

func anyValue(ev *event.Event, s selField) bool {
	for i := range ev.Fields {
		if ev.Fields[i].Key != s.key {
			continue
		}
		for _, v := range s.vals {
			if strings.EqualFold(ev.Fields[i].Value.Str, v) {
				return true
			}
		}
	}
	return false
}

// hashValues digests the first value of each key; ok is false when one is
// missing or empty. The digest is cryptographic (SHA-256, cut to 64 bits)
// because the values are the sender's: with a fast hash an attacker could
// craft a value that collides with one already learnt and so pass as
// known.
func (e *Engine) hashValues(ev *event.Event, keys []event.Key) (uint64, bool) {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, k := range keys {
		v, ok := ev.Get(k)
		if (!ok || v.Str == "") && k == kCountry && e.opts.Country != nil {
			v.Str, ok = e.country(ev)
		}
		if !ok || v.Str == "" {
			return 0, false
		}
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(v.Str)))])
		h.Write([]byte(v.Str))
	}
	var sum [sha256.Size]byte
	return binary.LittleEndian.Uint64(h.Sum(sum[:0])), true
}

// apply updates rs's baseline of ev's entity and reports a detection.
func (e *Engine) apply(rs *ruleState, ev *event.Event, t, now time.Time) (detect.Detection, bool) {
	// The watched values first: most events a rule selects lack them
	// (a login without a country), and then the entity is not hashed.
	var vk uint64
	var ok bool
	a := &rs.r.Anomaly
	if a.Kind == KindFirstSeen || a.Kind == KindRare {
		if vk, ok = e.hashValues(ev, rs.fields); !ok {
			return detect.Detection{}, false
		}
	}
	var loc place
	if a.Kind == KindImpossibleTravel {
		if loc, ok = e.locate(rs, ev); !ok {
			return detect.Detection{}, false
		}
		loc.t = t.Unix()
	}
	ek, ok := e.hashValues(ev, rs.entity)
	if !ok {
		return detect.Detection{}, false
	}
	nowSec := now.Unix()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.started == 0 {
		rs.started, rs.metaDirt = nowSec, true
	}
	en := rs.touch(e, ek, nowSec)
	rs.dirty[ek] = struct{}{}
	warm := time.Duration(nowSec-rs.started)*time.Second >= rs.r.warmup &&
		time.Duration(nowSec-en.first)*time.Second >= rs.r.warmup
	var value float64
	var fire bool
	switch a.Kind {
	case KindFirstSeen:
		i, found := slices.BinarySearch(en.values, vk)
		if found {
			return detect.Detection{}, false
		}
		// An entity's first value is its baseline, not news: only an
		// entity already known can see a new value.
		fire = warm && len(en.values) > 0 || warm && len(rs.entity) == 0
		if len(en.values) < e.opts.MaxValues {
			en.values = slices.Insert(en.values, i, vk)
		} else {
			e.dropped.Add(1)
		}
		value = 1
	case KindRare:
		fire, value = e.rare(rs, en, vk, t, warm)
	case KindSpike:
		fire, value = spike(rs, en, t, warm)
	case KindImpossibleTravel:
		fire, value = travel(rs, en, loc, warm)
	}
	if !fire {
		return detect.Detection{}, false
	}
	return detect.Detection{Rule: rs.sr, Event: ev, Time: t, Count: 1, Value: value, Group: rs.group(ev)}, true
}

// touch returns ek's entity, made most recent, creating it (and evicting
// the least recent past the bound) when new.
func (rs *ruleState) touch(e *Engine, ek uint64, nowSec int64) *entity {
	if en, ok := rs.entities[ek]; ok {
		en.unlink()
		rs.pushFront(en)
		en.seen = nowSec
		return en
	}
	if len(rs.entities) >= e.opts.MaxEntities {
		old := rs.lru.prev
		old.unlink()
		delete(rs.entities, old.key)
		if old.persisted {
			rs.dirty[old.key] = struct{}{} // flushed as a delete
		} else {
			delete(rs.dirty, old.key)
		}
		e.evicted.Add(1)
	}
	en := &entity{key: ek, first: nowSec, seen: nowSec}
	rs.entities[ek] = en
	rs.pushFront(en)
	return en
}

func (rs *ruleState) pushFront(en *entity) {
	en.prev, en.next = &rs.lru, rs.lru.next
	rs.lru.next.prev = en
	rs.lru.next = en
}

func (en *entity) unlink() {
	en.prev.next, en.next.prev = en.next, en.prev
	en.prev, en.next = nil, nil
}

// rare counts a use of vk and reports whether the entity used it fewer
// than Below times in the window before (once per value and window).
// Windows are fixed (event time divided by the window); the count is of
// the current and the previous one, so it covers one to two windows.
func (e *Engine) rare(rs *ruleState, en *entity, vk uint64, t time.Time, warm bool) (bool, float64) {
	ep := uint32(max(t.Unix(), 0) / int64(rs.r.window/time.Second))
	i, found := slices.BinarySearchFunc(en.rare, vk, func(v rareVal, k uint64) int {
		switch {
		case v.h < k:
			return -1
		case v.h > k:
			return 1
		}
		return 0
	})
	if !found {
		if len(en.rare) >= e.opts.MaxValues {
			e.dropped.Add(1)
			return warm && len(en.rare) > 0, 0
		}
		en.rare = slices.Insert(en.rare, i, rareVal{h: vk, epoch: ep})
	}
	v := &en.rare[i]
	switch {
	case ep == v.epoch+1:
		v.prev, v.cur, v.epoch = v.cur, 0, ep
	case ep > v.epoch+1:
		v.prev, v.cur, v.epoch = 0, 0, ep
	}
	seen := v.cur + v.prev
	v.cur = min(v.cur+1, math.MaxUint32-1)
	if !warm || seen >= uint32(rs.r.Anomaly.Below) || v.alerted == v.epoch+1 {
		return false, float64(seen)
	}
	// A value new to a new entity is its baseline, as for first_seen.
	if !found && len(en.rare) == 1 && len(rs.entity) > 0 {
		return false, 0
	}
	v.alerted = v.epoch + 1
	return true, float64(seen)
}

const hoursPerWeek = 7 * 24

// spike counts the event in its hour and reports whether the hour's count
// went over the entity's threshold for that hour of the week (once per
// hour).
func spike(rs *ruleState, en *entity, t time.Time, warm bool) (bool, float64) {
	a := &rs.r.Anomaly
	h := t.Unix() / 3600
	if t.Unix() < 0 {
		return false, 0
	}
	b := en.spike
	if b == nil {
		b = &spikeBase{firstHour: h, hour: h}
		en.spike = b
	}
	switch {
	case h < b.hour:
		return false, 0 // late: its hour is already in the baseline
	case h > b.hour:
		b.fold()
		b.hour, b.count, b.alerted = h, 0, false
	}
	b.count = min(b.count+1, math.MaxUint32-1)
	weeks := (h - b.firstHour) / hoursPerWeek
	if !warm || b.alerted || weeks < int64(a.MinWeeks) {
		return false, float64(b.count)
	}
	var sum, sq float64
	if i, ok := b.find(uint8(h % hoursPerWeek)); ok {
		sum, sq = float64(b.buckets[i].sum), float64(b.buckets[i].sq)
	}
	mean := sum / float64(weeks)
	sd := math.Sqrt(max(sq/float64(weeks)-mean*mean, 0))
	if float64(b.count) <= max(float64(a.Floor), mean+a.K*sd) {
		return false, float64(b.count)
	}
	b.alerted = true
	return true, float64(b.count)
}

func (b *spikeBase) find(how uint8) (int, bool) {
	return slices.BinarySearchFunc(b.buckets, how, func(x hourBucket, k uint8) int { return int(x.how) - int(k) })
}

// fold adds the current hour's count to its hour of the week.
func (b *spikeBase) fold() {
	if b.count == 0 {
		return
	}
	how := uint8(b.hour % hoursPerWeek)
	i, ok := b.find(how)
	if !ok {
		b.buckets = slices.Insert(b.buckets, i, hourBucket{how: how})
	}
	c := float32(b.count)
	b.buckets[i].sum += c
	b.buckets[i].sq += c * c
}

// earthRadiusKM is the mean radius of the Earth.
const earthRadiusKM = 6371.0

// distanceKM is the great-circle distance (haversine).
func distanceKM(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	x := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * earthRadiusKM * math.Asin(math.Min(1, math.Sqrt(x)))
}

// travel compares a login with the entity's last and reports the speed
// between them when it is over the bound.
func travel(rs *ruleState, en *entity, p place, warm bool) (bool, float64) {
	a := &rs.r.Anomaly
	last := en.travel
	if last == nil || p.t >= last.t {
		en.travel = &p
	}
	if last == nil || !warm {
		return false, 0
	}
	d := distanceKM(float64(last.lat), float64(last.lon), float64(p.lat), float64(p.lon))
	if d < a.MinDistanceKM {
		return false, 0
	}
	hours := math.Abs(float64(p.t-last.t)) / 3600
	speed := math.Inf(1)
	if hours > 0 {
		speed = d / hours
	}
	if speed <= a.MaxSpeedKMH {
		return false, 0
	}
	return true, math.Min(speed, math.MaxFloat32)
}

// locate reads the event's coordinates, or looks its address up.
func (e *Engine) locate(rs *ruleState, ev *event.Event) (place, bool) {
	lat, okLat := coord(ev, rs.lat, 90)
	lon, okLon := coord(ev, rs.lon, 180)
	if okLat && okLon {
		return place{lat: float32(lat), lon: float32(lon)}, true
	}
	if e.opts.Locate == nil {
		return place{}, false
	}
	v, ok := ev.Get(rs.ip)
	if !ok {
		return place{}, false
	}
	ip, err := netip.ParseAddr(v.Str)
	if err != nil {
		return place{}, false
	}
	lat, lon, ok = e.opts.Locate(ip.Unmap())
	if !ok || math.IsNaN(lat) || math.IsNaN(lon) || math.Abs(lat) > 90 || math.Abs(lon) > 180 {
		return place{}, false
	}
	return place{lat: float32(lat), lon: float32(lon)}, true
}

func coord(ev *event.Event, k event.Key, bound float64) (float64, bool) {
	v, ok := ev.Get(k)
	if !ok {
		return 0, false
	}
	f := v.Num
	if !v.IsNumber() {
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(v.Str), 64); err != nil {
			return 0, false
		}
	}
	if math.IsNaN(f) || math.Abs(f) > bound {
		return 0, false
	}
	return f, true
}

// group is what the alert shows and folds repeats by: the entity's and
// the watched fields' values.
func (rs *ruleState) group(ev *event.Event) []detect.GroupValue {
	var g []detect.GroupValue
	add := func(names []string, keys []event.Key) {
		for i, k := range keys {
			v, _ := ev.Get(k)
			g = append(g, detect.GroupValue{Field: names[i], Value: clip(v.Str, maxGroupValue)})
		}
	}
	add(rs.r.Anomaly.Entity, rs.entity)
	add(rs.r.Anomaly.Fields, rs.fields)
	return g
}

// clip cuts s to at most n bytes without splitting a character, and
// replaces invalid UTF-8.
func clip(s string, n int) string {
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
